/* Harness for tests against a real PostgreSQL server (the scheduler's shared
 * store, issue 23): a throwaway server per test, on a Unix socket in a
 * directory of its own (/dev/shm or /tmp: tests/cli/lib/pg.sh says which),
 * started from a template made once (flock) by tests/cli/lib/pg.sh, which
 * the shell tests use too. Libc only: no
 * criterion, so a benchmark may use it as well.
 *
 *   h_pg_t pg;
 *   if (!h_pg_available())
 *       cr_skip_test("no PostgreSQL");
 *   cr_assert_eq(h_pg_start(&pg), 0);
 *   ... connect to pg.url, h_pg_psql(&pg, "SELECT ...", out, sizeof(out)) ...
 *   h_pg_stop(&pg);
 *
 * The server is a child of the test process and gets SIGQUIT (immediate
 * shutdown) if the process dies; an exit() stops it too (atexit). Still, a
 * criterion test that starts one must call h_pg_stop() in its fini (or at
 * its end): only h_pg_stop removes the directory in every case. Every wait
 * has a deadline. */
#ifndef CAIRN_TEST_PG_HARNESS_H
#define CAIRN_TEST_PG_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"

#ifndef CAIRN_PG_LIB
#error "CAIRN_PG_LIB (the path of tests/cli/lib/pg.sh) must be defined"
#endif

typedef struct h_pg {
    char dir[256];      /* its directory: data/, the socket, pg.log */
    char url[512];      /* postgresql://cairn@/cairn?host=DIR */
    char conninfo[512]; /* host=DIR user=cairn dbname=cairn */
    pid_t pid;          /* the postmaster: a child of this process; 0 while down */
} h_pg_t;

/* The servers started and not stopped, copied (a test's h_pg_t may be
 * gone by then), for the atexit clean-up. */
#define H_PG_MAX 16
static h_pg_t h_pg_live[H_PG_MAX];

/* Note pg as running (its pid) or, live false, stopped for good. */
static inline void h_pg_note(const h_pg_t *pg, bool live)
{
    int slot = -1;
    if (!pg->dir[0])
        return;
    for (int i = 0; i < H_PG_MAX && slot < 0; i++)
        if (strcmp(h_pg_live[i].dir, pg->dir) == 0)
            slot = i;
    for (int i = 0; i < H_PG_MAX && slot < 0 && live; i++)
        if (!h_pg_live[i].dir[0])
            slot = i;
    if (slot < 0)
        return;
    if (live)
        h_pg_live[slot] = *pg;
    else
        memset(&h_pg_live[slot], 0, sizeof(h_pg_live[slot]));
}

/* The environment of the harness's children, set before fork (a forked
 * child of a threaded process must not allocate). */
static inline void h_pg_env(void)
{
#ifdef CAIRN_PG_BINDIR
    if (!getenv("CAIRN_PG_BINDIR"))
        setenv("CAIRN_PG_BINDIR", CAIRN_PG_BINDIR, 1);
#endif
}

/* Run `. pg.sh; script` in sh with arguments a1, a2 ($1, $2), its stdout and
 * stderr into out (NUL-terminated, truncated to n), killing it (its process
 * group) after timeout_ms. Returns its exit code, or -1 (a message in out). */
static inline int h_pg_sh(const char *script, const char *a1, const char *a2, char *out, size_t n,
                          int64_t timeout_ms)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), ". '%s' && %s", CAIRN_PG_LIB, script);
    int fds[2];
    if (n)
        out[0] = '\0';
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    h_pg_env();
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        closefrom(3);
        execl("/bin/sh", "sh", "-c", cmd, "sh", a1 ? a1 : "", a2 ? a2 : "", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    int64_t deadline = cairn_mono_ms() + timeout_ms;
    size_t len = 0;
    bool timed_out = false;
    for (;;) {
        int64_t left = deadline - cairn_mono_ms();
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) == 0) {
            timed_out = true;
            break;
        }
        char buf[4096];
        ssize_t r = read(fds[0], buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        size_t take = n > len + 1 ? n - len - 1 : 0;
        take = take < (size_t)r ? take : (size_t)r;
        memcpy(out + len, buf, take);
        len += take;
        if (n)
            out[len] = '\0';
    }
    close(fds[0]);
    if (timed_out)
        kill(-pid, SIGKILL);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (timed_out) {
        snprintf(out, n, "timed out after %lld ms: %s", (long long)timeout_ms, script);
        return -1;
    }
    while (len > 0 && out[len - 1] == '\n') /* as $(...) does */
        out[--len] = '\0';
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Whether a PostgreSQL server can be started here; if not, says why on
 * stderr (the test then skips). */
static inline bool h_pg_available(void)
{
    char why[512];
    int rc = h_pg_sh("pg_available || { echo \"$pg_why\"; exit 1; }", NULL, NULL, why, sizeof(why),
                     10000);
    if (rc != 0)
        fprintf(stderr, "PostgreSQL tests skipped: %s\n", why);
    return rc == 0;
}

/* The postmaster of pg is up: postmaster.pid names it and says "ready" (as
 * pg_ctl -w checks). */
static inline bool h_pg_ready(const h_pg_t *pg)
{
    char path[300], line[64];
    snprintf(path, sizeof(path), "%s/data/postmaster.pid", pg->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ours = false, ready = false;
    for (int i = 1; fgets(line, sizeof(line), f); i++) {
        if (i == 1)
            ours = strtol(line, NULL, 10) == pg->pid;
        if (i == 8)
            ready = strncmp(line, "ready", 5) == 0;
    }
    fclose(f);
    return ours && ready;
}

/* Reap the postmaster within timeout_ms (then SIGKILL). */
static inline void h_pg_reap(h_pg_t *pg, int64_t timeout_ms)
{
    int64_t deadline = cairn_mono_ms() + timeout_ms;
    while (waitpid(pg->pid, NULL, WNOHANG) == 0) {
        if (cairn_mono_ms() > deadline) {
            fprintf(stderr, "PostgreSQL %d did not stop in time: killed\n", (int)pg->pid);
            kill(pg->pid, SIGKILL);
            waitpid(pg->pid, NULL, 0);
            break;
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL); /* polling a child's exit, with a deadline */
    }
    pg->pid = 0;
}

/* Start the server of pg->dir (its data kept) and wait, up to 30 s, until
 * it is ready. 0, or -1 with the reason on stderr. */
static inline int h_pg_resume(h_pg_t *pg)
{
    char log[300];
    snprintf(log, sizeof(log), "%s/pg.log", pg->dir);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "%s: %s\n", log, strerror(errno));
        return -1;
    }
    h_pg_env();
    pid_t pid = fork();
    if (pid < 0) {
        close(fd);
        return -1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        closefrom(3); /* criterion's pipes must not outlive the test in it */
        /* sh execs setpriv, setpriv postgres: the pid stays ours */
        execl("/bin/sh", "sh", "-c", ". \"$0\" && pg_exec_server \"$1\"", CAIRN_PG_LIB, pg->dir,
              (char *)NULL);
        _exit(127);
    }
    close(fd);
    pg->pid = pid;
    h_pg_note(pg, true);
    int64_t deadline = cairn_mono_ms() + 30000;
    while (!h_pg_ready(pg)) {
        bool ended = waitpid(pid, NULL, WNOHANG) == pid;
        if (ended || cairn_mono_ms() > deadline) {
            if (!ended) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
            }
            pg->pid = 0;
            h_pg_note(pg, true);
            char tail[2048];
            h_pg_sh("tail -5 \"$1\"", log, NULL, tail, sizeof(tail), 5000);
            fprintf(stderr, "PostgreSQL in %s did not start:\n%s\n", pg->dir, tail);
            return -1;
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL); /* polling postmaster.pid, with a deadline */
    }
    return 0;
}

/* Stop the server with sig (SIGINT: fast shutdown, SIGQUIT: immediate,
 * SIGKILL: a crash), keeping its data; h_pg_resume starts it again. */
static inline void h_pg_halt(h_pg_t *pg, int sig)
{
    if (pg->pid <= 0)
        return;
    kill(pg->pid, sig);
    h_pg_reap(pg, 30000);
    h_pg_note(pg, true);
}

/* Stop the server now (immediate shutdown) and remove its directory. Safe
 * on a pg never started, stopped or zeroed. */
static inline void h_pg_stop(h_pg_t *pg)
{
    h_pg_halt(pg, SIGQUIT);
    h_pg_note(pg, false);
    if (pg->dir[0]) {
        char out[512];
        if (h_pg_sh("rm -rf \"$1\"", pg->dir, NULL, out, sizeof(out), 60000) != 0)
            fprintf(stderr, "removing %s failed: %s\n", pg->dir, out);
        pg->dir[0] = '\0';
    }
}

static inline void h_pg_atexit(void)
{
    for (int i = 0; i < H_PG_MAX; i++)
        if (h_pg_live[i].dir[0]) {
            h_pg_t pg = h_pg_live[i];
            h_pg_stop(&pg);
        }
}

/* Start a new server (a copy of the template, made first if need be) and
 * wait until it is ready: fills pg. 0, or -1 with the reason on stderr. */
static inline int h_pg_start(h_pg_t *pg)
{
    static bool registered;
    memset(pg, 0, sizeof(*pg));
    char out[2048];
    if (h_pg_sh("pg_newdir", NULL, NULL, out, sizeof(out), 300000) != 0) {
        fprintf(stderr, "no PostgreSQL server directory: %s\n", out);
        return -1;
    }
    if (out[0] != '/' || !strstr(out, "/cairn-pg-") || strlen(out) >= sizeof(pg->dir)) {
        fprintf(stderr, "pg_newdir said: %s\n", out);
        return -1;
    }
    memcpy(pg->dir, out, strlen(out) + 1); /* fits: checked above */
    snprintf(pg->url, sizeof(pg->url), "postgresql://cairn@/cairn?host=%s", pg->dir);
    snprintf(pg->conninfo, sizeof(pg->conninfo), "host=%s user=cairn dbname=cairn", pg->dir);
    if (!registered)
        registered = atexit(h_pg_atexit) == 0;
    if (h_pg_resume(pg) != 0) {
        h_pg_stop(pg);
        return -1;
    }
    return 0;
}

/* Fast shutdown, then start again on the same socket and data: the
 * postmaster is a new process (pg->pid changes). 0, or -1 as h_pg_start. */
static inline int h_pg_restart(h_pg_t *pg)
{
    h_pg_halt(pg, SIGINT);
    return h_pg_resume(pg);
}

/* Run sql with psql -XAtq on pg's database (stops at the first error; no
 * notices): its output into out (the error message on failure). Returns
 * psql's exit code (0: done), -1 on a timeout (60 s). */
static inline int h_pg_psql(const h_pg_t *pg, const char *sql, char *out, size_t n)
{
    return h_pg_sh("pg_psql_url \"$1\" \"$2\"", pg->url, sql, out, n, 60000);
}

#endif
