/* The join secret (proto/join.h) with real processes: a worker holding the
 * cluster's key joins; one without it, or with another key, is refused and
 * the scheduler logs why; a key file others can read is refused at start.
 * The HMAC itself is checked against RFC 4231's test vector. */
#include <sys/stat.h>

#include "leak_check.h"
#include "proto/join.h"
#include "proto/sha256.h"
#include "sched_harness.h"

static void write_key(const char *path, const char *key, mode_t mode)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(key, f);
    fclose(f);
    cr_assert_eq(chmod(path, mode), 0);
}

static pid_t worker(h_sched_t *s, const char *name, const char *key)
{
    static char bin[512], dir[400], log[400];
    snprintf(bin, sizeof(bin), "%s/cairn-worker", CAIRN_BIN_DIR);
    snprintf(dir, sizeof(dir), "%s/%s", s->dir, name);
    snprintf(log, sizeof(log), "%s/%s.log", s->dir, name);
    char topo[512];
    snprintf(topo, sizeof(topo), "%s/cpu-only-1s.xml", CAIRN_TOPO_DIR);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (key)
            execl(bin, bin, "--scheduler", s->workers, "--state-dir", dir, "--name", name,
                  "--topology", topo, "--log-file", log, "--join-key", key, (char *)NULL);
        else
            execl(bin, bin, "--scheduler", s->workers, "--state-dir", dir, "--name", name,
                  "--topology", topo, "--log-file", log, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void stop(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

static Cairn__NodesReply *nodes(h_sched_t *s)
{
    Cairn__NodesRequest req = CAIRN__NODES_REQUEST__INIT;
    cairn_error_t err = {{0}};
    Cairn__NodesReply *r =
        (Cairn__NodesReply *)h_call(s, CAIRN_MSG_NODES, &req.base, CAIRN_MSG_NODES_REPLY, &err);
    cr_assert_not_null(r, "%s", err.text);
    return r;
}

static bool node_known(h_sched_t *s, const char *name)
{
    Cairn__NodesReply *r = nodes(s);
    bool found = false;
    for (size_t i = 0; i < r->n_nodes; i++)
        found = found || strcmp(r->nodes[i]->name, name) == 0;
    cairn_msg_free(&r->base);
    return found;
}

static bool file_has(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f))
        found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}

/* Wait (deadline) for text in a file. */
static void wait_text(const char *path, const char *text, int64_t ms)
{
    int64_t deadline = cairn_mono_ms() + ms;
    while (!file_has(path, text))
        cr_assert_lt(cairn_mono_ms(), deadline, "no '%s' in %s", text, path);
}

Test(join, only_workers_with_the_key_join)
{
    h_sched_t s;
    h_sched_init(&s);
    char key[400], other[400], slog[400], blog[400], clog[400];
    snprintf(key, sizeof(key), "%s/join.key", s.dir);
    snprintf(other, sizeof(other), "%s/other.key", s.dir);
    write_key(key, "correct horse battery staple\n", 0600);
    write_key(other, "another cluster's secret key\n", 0600);
    const char *args[] = {"--join-key", key, NULL};
    h_sched_start(&s, args);
    pid_t a = worker(&s, "with-key", key);
    pid_t b = worker(&s, "no-key", NULL);
    pid_t c = worker(&s, "wrong-key", other);
    int64_t deadline = cairn_mono_ms() + 15000;
    while (!node_known(&s, "with-key"))
        cr_assert_lt(cairn_mono_ms(), deadline, "the worker with the key did not join");
    snprintf(slog, sizeof(slog), "%s/scheduler.log", s.dir);
    wait_text(slog, "refused: wrong join key", 15000);
    wait_text(slog, "refused: it does not hold the join key", 15000);
    snprintf(blog, sizeof(blog), "%s/no-key.log", s.dir);
    snprintf(clog, sizeof(clog), "%s/wrong-key.log", s.dir);
    wait_text(blog, "which this worker was not given (--join-key)", 15000);
    wait_text(clog, "the scheduler refused this worker's join key", 15000);
    cr_expect(!node_known(&s, "no-key"));
    cr_expect(!node_known(&s, "wrong-key"));
    /* the secret itself never crossed: only its id is in the logs */
    cr_expect(!file_has(slog, "battery"));
    stop(a);
    stop(b);
    stop(c);
    cr_expect_eq(WEXITSTATUS(h_sched_stop(&s, SIGTERM)), 0);
    h_sched_fini(&s);
}

/* The key is mutual: a worker that holds it does not take work from a
 * scheduler that cannot prove it holds the same key. */
Test(join, a_worker_with_the_key_does_not_trust_a_scheduler_without_it)
{
    h_sched_t s;
    h_sched_init(&s);
    char key[400], wlog[400];
    snprintf(key, sizeof(key), "%s/join.key", s.dir);
    write_key(key, "correct horse battery staple\n", 0600);
    h_sched_start(&s, NULL);
    pid_t a = worker(&s, "keyed", key);
    snprintf(wlog, sizeof(wlog), "%s/keyed.log", s.dir);
    wait_text(wlog, "without proving that it holds the join key", 15000);
    cr_expect(!file_has(wlog, "registered as node"), "it registered with an unproven scheduler");
    stop(a);
    cr_expect_eq(WEXITSTATUS(h_sched_stop(&s, SIGTERM)), 0);
    h_sched_fini(&s);
}

Test(join, a_key_others_can_read_is_refused)
{
    h_sched_t s;
    h_sched_init(&s);
    char key[400], cmd[3000], err[400];
    snprintf(key, sizeof(key), "%s/open.key", s.dir);
    write_key(key, "correct horse battery staple\n", 0644);
    snprintf(err, sizeof(err), "%s/err.txt", s.dir);
    snprintf(cmd, sizeof(cmd), "'%s/cairn-scheduler' --state-dir '%s' --join-key '%s' 2>'%s'",
             CAIRN_BIN_DIR, s.dir, key, err);
    int rc = system(cmd);
    cr_expect_neq(WEXITSTATUS(rc), 0);
    cr_expect(file_has(err, "is accessible to others (mode 0644)"), "see %s", err);
    snprintf(cmd, sizeof(cmd),
             "'%s/cairn-worker' --scheduler ipc://%s/x.sock --state-dir '%s/w' "
             "--join-key '%s' 2>'%s'",
             CAIRN_BIN_DIR, s.dir, s.dir, key, err);
    rc = system(cmd);
    cr_expect_neq(WEXITSTATUS(rc), 0);
    cr_expect(file_has(err, "is accessible to others (mode 0644)"), "see %s", err);
    write_key(key, "short\n", 0600);
    snprintf(cmd, sizeof(cmd), "'%s/cairn-scheduler' --state-dir '%s' --join-key '%s' 2>'%s'",
             CAIRN_BIN_DIR, s.dir, key, err);
    cr_expect_neq(WEXITSTATUS(system(cmd)), 0);
    cr_expect(file_has(err, "at least 16 needed"), "see %s", err);
    h_sched_fini(&s);
}

LEAK_TEST(join, hmac_sha256_matches_rfc4231)
{
    /* RFC 4231 test case 2 */
    static const uint8_t want[32] = {0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e,
                                     0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75, 0xc7,
                                     0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83,
                                     0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
    uint8_t out[32];
    const char *data = "what do ya want for nothing?";
    cairn_hmac_sha256("Jefe", 4, data, strlen(data), out);
    cr_expect_eq(memcmp(out, want, 32), 0);
    /* a 131-byte key is hashed first (test case 6) */
    static const uint8_t want6[32] = {0x60, 0xe4, 0x31, 0x59, 0x1e, 0xe0, 0xb6, 0x7f,
                                      0x0d, 0x8a, 0x26, 0xaa, 0xcb, 0xf5, 0xb7, 0x7f,
                                      0x8e, 0x0b, 0xc6, 0x21, 0x37, 0x28, 0xc5, 0x14,
                                      0x05, 0x46, 0x04, 0x0f, 0x0e, 0xe3, 0x7f, 0x54};
    uint8_t k6[131];
    memset(k6, 0xaa, sizeof(k6));
    const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    cairn_hmac_sha256(k6, sizeof(k6), d6, strlen(d6), out);
    cr_expect_eq(memcmp(out, want6, 32), 0);
}
