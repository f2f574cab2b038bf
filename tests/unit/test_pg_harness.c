/* The PostgreSQL test servers of pg_harness.h: a server starts from the
 * template and answers on its URL, keeps committed data across a fast
 * restart (a new postmaster on the same socket) and an immediate shutdown,
 * refuses connections while down, and h_pg_stop ends it and removes its
 * directory; a server left running is stopped when the test process exits. */
#include <criterion/criterion.h>
#include <sys/stat.h>

#include "pg_harness.h"

static h_pg_t pg;

static void fini(void)
{
    h_pg_stop(&pg);
}

static void need_pg(void)
{
    if (!h_pg_available())
        cr_skip_test("no PostgreSQL here");
}

/* psql's output for sql, which must succeed */
static const char *q(const char *sql)
{
    static char out[4096];
    int rc = h_pg_psql(&pg, sql, out, sizeof(out));
    cr_assert_eq(rc, 0, "psql: %s: exit %d: %s", sql, rc, out);
    return out;
}

static bool running(pid_t pid)
{
    char path[64], stat[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool alive = fgets(stat, sizeof(stat), f) && !strstr(stat, ") Z ");
    fclose(f);
    return alive;
}

Test(pg_harness, start_restart_stop, .fini = fini)
{
    need_pg();
    cr_assert_eq(h_pg_start(&pg), 0);
    cr_assert_str_eq(q("SELECT current_user || '/' || current_database()"), "cairn/cairn");
    char want[600];
    snprintf(want, sizeof(want), "postgresql://cairn@/cairn?host=%s", pg.dir);
    cr_assert_str_eq(pg.url, want);
    cr_assert_str_eq(q("SHOW unix_socket_directories"), pg.dir);
    cr_assert_str_eq(q("SHOW listen_addresses"), "", "no TCP listener");
    cr_assert_str_eq(q("SELECT pg_backend_pid() <> 0 AND "
                       "(SELECT count(*) FROM pg_stat_activity) > 0"),
                     "t");
    cr_assert(running(pg.pid));

    q("CREATE TABLE t (k int PRIMARY KEY, v text)");
    q("INSERT INTO t VALUES (1, 'one'), (2, 'two')");
    cr_assert_str_eq(q("SELECT string_agg(v, ',' ORDER BY k) FROM t"), "one,two");

    pid_t first = pg.pid;
    char dir[256];
    snprintf(dir, sizeof(dir), "%s", pg.dir);
    cr_assert_eq(h_pg_restart(&pg), 0);
    cr_assert_neq(pg.pid, first, "a new postmaster");
    cr_assert_not(running(first));
    cr_assert_str_eq(pg.dir, dir, "the same socket directory");
    cr_assert_str_eq(q("SELECT v FROM t WHERE k = 2"), "two");

    /* an immediate shutdown (as a crash) keeps what was committed */
    q("INSERT INTO t VALUES (3, 'three')");
    h_pg_halt(&pg, SIGQUIT);
    char out[512];
    cr_assert_neq(h_pg_psql(&pg, "SELECT 1", out, sizeof(out)), 0, "a stopped server answered");
    cr_assert(strstr(out, "connection") != NULL, "%s", out);
    cr_assert_eq(h_pg_resume(&pg), 0);
    cr_assert_str_eq(q("SELECT count(*) FROM t"), "3");

    /* an error is reported, with PostgreSQL's message */
    cr_assert_neq(h_pg_psql(&pg, "SELECT * FROM nosuchtable", out, sizeof(out)), 0);
    cr_assert(strstr(out, "nosuchtable") != NULL, "%s", out);

    pid_t last = pg.pid;
    h_pg_stop(&pg);
    struct stat st;
    cr_assert_neq(stat(dir, &st), 0, "%s removed", dir);
    cr_assert_not(running(last));
    cr_assert_eq(pg.pid, 0);
}

Test(pg_harness, two_servers_apart, .fini = fini)
{
    need_pg();
    static h_pg_t other;
    cr_assert_eq(h_pg_start(&pg), 0);
    cr_assert_eq(h_pg_start(&other), 0);
    cr_assert_str_neq(pg.dir, other.dir);
    q("CREATE TABLE mine (x int)");
    char out[256];
    cr_assert_eq(h_pg_psql(&other, "SELECT count(*) FROM pg_tables WHERE tablename = 'mine'", out,
                           sizeof(out)),
                 0, "%s", out);
    cr_assert_str_eq(out, "0");
    h_pg_stop(&other);
    cr_assert_str_eq(q("SELECT count(*) FROM mine"), "0", "the first one still answers");
}

/* A server the test never stops is stopped (and its directory removed) when
 * the process exits: a child process starts one and exits. */
Test(pg_harness, stopped_at_exit, .fini = fini)
{
    need_pg();
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        close(fds[0]);
        static h_pg_t left;
        char line[300] = "";
        if (h_pg_start(&left) == 0)
            snprintf(line, sizeof(line), "%d %s\n", (int)left.pid, left.dir);
        if (write(fds[1], line, strlen(line)) < 0)
            _exit(2);
        exit(0); /* atexit: the harness stops it */
    }
    close(fds[1]);
    char line[300] = "";
    ssize_t r = read(fds[0], line, sizeof(line) - 1);
    close(fds[0]);
    int st = 0;
    cr_assert_eq(waitpid(child, &st, 0), child);
    cr_assert_gt(r, 0, "the child started no server");
    int pid = 0;
    char dir[256] = "";
    cr_assert_eq(sscanf(line, "%d %255s", &pid, dir), 2, "%s", line);
    cr_assert_not(running(pid), "the postmaster outlived its test process");
    struct stat sb;
    cr_assert_neq(stat(dir, &sb), 0, "%s left behind", dir);
}

/* A test process killed outright (no atexit) takes its server with it: the
 * postmaster gets SIGQUIT when its parent dies. */
Test(pg_harness, dies_with_a_killed_test, .fini = fini)
{
    need_pg();
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        close(fds[0]);
        static h_pg_t left;
        char line[300] = "";
        if (h_pg_start(&left) == 0)
            snprintf(line, sizeof(line), "%d %s\n", (int)left.pid, left.dir);
        if (write(fds[1], line, strlen(line)) < 0)
            _exit(2);
        raise(SIGKILL);
    }
    close(fds[1]);
    char line[300] = "";
    ssize_t r = read(fds[0], line, sizeof(line) - 1);
    close(fds[0]);
    cr_assert_eq(waitpid(child, NULL, 0), child);
    cr_assert_gt(r, 0, "the child started no server");
    int pid = 0;
    cr_assert_eq(sscanf(line, "%d %255s", &pid, pg.dir), 2, "%s", line); /* fini removes it */
    int64_t deadline = cairn_mono_ms() + 30000;
    while (running(pid)) {
        cr_assert_lt(cairn_mono_ms(), deadline, "the postmaster outlived its killed test");
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL); /* polling a process's end, with a deadline */
    }
}
