/* Hashing of tasks' declared outputs (worker/outputs.c) and the streaming
 * SHA-256 it uses (proto/sha256.c): files against sha256sum, the directory
 * digest against the shell pipeline PROTOCOL.md gives, refusals of paths
 * that leave the working directory and of special files, the size and
 * time budgets, the task user's rights, and the thread-pool variant on a
 * loop, cancelled or out of time while its thread is stuck. */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "leak_check.h"
#include "pool_block.h"
#include "proto/sha256.h"
#include "worker/outputs.h"

#define DEADLINE_MS 15000

TestSuite(outputs, .timeout = 60);

/* ---- fixtures --------------------------------------------------------------- */

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_file(const char *dir, const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    FILE *fp = fopen(path, "w");
    cr_assert_not_null(fp, "%s: %s", path, strerror(errno));
    fputs(text, fp);
    fclose(fp);
}

static void make_dir(const char *dir, const char *rel)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    cr_assert_eq(mkdir(path, 0755), 0, "%s: %s", path, strerror(errno));
}

/* The first line of a shell command's output, trimmed at the first blank. */
static void shell_word(const char *cmd, char *out, size_t len)
{
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    cr_assert_not_null(fgets(out, (int)len, p), "no output from: %s", cmd);
    pclose(p);
    out[strcspn(out, " \n")] = '\0';
}

static void hash1(const char *wd, const char *path, worker_output_t *o)
{
    const char *paths[] = {path};
    worker_outputs_hash(wd, paths, 1, o, NULL, NULL);
}

static void tmpdir(char *dir)
{
    strcpy(dir, "/tmp/cairn-outputs-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

/* ---- SHA-256 streaming ------------------------------------------------------- */

LEAK_TEST(outputs, sha256_stream_matches_known_vectors)
{
    static const char two[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    struct {
        const char *data;
        const char *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {two, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        size_t len = strlen(v[i].data);
        /* every split point gives the one-shot digest */
        for (size_t cut = 0; cut <= len; cut++) {
            cairn_sha256_ctx_t c;
            uint8_t d[CAIRN_SHA256_LEN];
            char hex[65];
            cairn_sha256_init(&c);
            cairn_sha256_update(&c, v[i].data, cut);
            cairn_sha256_update(&c, v[i].data + cut, len - cut);
            cairn_sha256_final(&c, d);
            cairn_sha256_to_hex(d, hex);
            cr_expect_str_eq(hex, v[i].hex, "vector %zu cut %zu", i, cut);
        }
    }
    /* one million 'a' in pieces of 7 bytes (FIPS 180-2 appendix B.3) */
    cairn_sha256_ctx_t c;
    uint8_t d[CAIRN_SHA256_LEN];
    char hex[65];
    cairn_sha256_init(&c);
    size_t left = 1000000;
    while (left) {
        size_t n = left < 7 ? left : 7;
        cairn_sha256_update(&c, "aaaaaaa", n);
        left -= n;
    }
    cairn_sha256_final(&c, d);
    cairn_sha256_to_hex(d, hex);
    cr_expect_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* ---- files and directories --------------------------------------------------- */

LEAK_TEST(outputs, file_hash_matches_sha256sum)
{
    char wd[64], cmd[256], want[128];
    tmpdir(wd);
    make_dir(wd, "sub");
    /* more than one read chunk (1 MiB): 3 MiB + 5 bytes of a pattern */
    snprintf(cmd, sizeof(cmd), "head -c 3145733 /dev/urandom > %s/sub/model.bin", wd);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "sha256sum %s/sub/model.bin", wd);
    shell_word(cmd, want, sizeof(want));
    worker_output_t o;
    hash1(wd, "sub/model.bin", &o);
    cr_expect_str_empty(o.error);
    cr_expect_str_eq(o.sha256, want);
    cr_expect_eq(o.size, 3145733);
    cr_expect_str_eq(o.path, "sub/model.bin");
    /* "./x" and "sub//x" name the same file */
    hash1(wd, "./sub//model.bin", &o);
    cr_expect_str_eq(o.sha256, want);
    rm_rf(wd);
}

LEAK_TEST(outputs, directory_digest_is_the_documented_scheme)
{
    char wd[64], cmd[512], want[128];
    tmpdir(wd);
    make_dir(wd, "ckpt");
    make_dir(wd, "ckpt/b");
    make_dir(wd, "ckpt/empty");
    write_file(wd, "ckpt/b/z", "zz");
    write_file(wd, "ckpt/a-1", "one");
    write_file(wd, "ckpt/a", "");
    write_file(wd, "ckpt/b/a", "hello\n");
    /* a link inside is not part of it, even one that stays inside */
    char link[256];
    snprintf(link, sizeof(link), "%s/ckpt/alias", wd);
    cr_assert_eq(symlink("a-1", link), 0);
    snprintf(cmd, sizeof(cmd),
             "cd %s/ckpt && find . -type f -printf '%%P\\0' | LC_ALL=C sort -z | "
             "xargs -0 -r sha256sum | sha256sum",
             wd);
    shell_word(cmd, want, sizeof(want));
    worker_output_t o;
    hash1(wd, "ckpt", &o);
    cr_expect_str_empty(o.error);
    cr_expect_str_eq(o.sha256, want);
    cr_expect_eq(o.size, 2 + 3 + 0 + 6);
    /* the same content made in another order, elsewhere: the same digest */
    char wd2[64];
    tmpdir(wd2);
    make_dir(wd2, "ckpt");
    write_file(wd2, "ckpt/a", "");
    make_dir(wd2, "ckpt/b");
    write_file(wd2, "ckpt/b/a", "hello\n");
    write_file(wd2, "ckpt/a-1", "one");
    write_file(wd2, "ckpt/b/z", "zz");
    worker_output_t o2;
    hash1(wd2, "ckpt", &o2);
    cr_expect_str_eq(o2.sha256, o.sha256);
    /* an empty directory: the digest of nothing */
    hash1(wd, "ckpt/empty", &o);
    cr_expect_str_eq(o.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    cr_expect_eq(o.size, 0);
    /* any change shows */
    write_file(wd2, "ckpt/b/z", "zZ");
    hash1(wd2, "ckpt", &o2);
    cr_expect_str_neq(o2.sha256, want);
    rm_rf(wd);
    rm_rf(wd2);
}

LEAK_TEST(outputs, escaping_paths_are_refused_and_missing_reported)
{
    char wd[64], outside[64], path[256];
    tmpdir(wd);
    tmpdir(outside);
    write_file(outside, "secret", "s3cret");
    write_file(wd, "ok", "abc");
    make_dir(wd, "d");
    snprintf(path, sizeof(path), "%s/secret", outside);
    char l1[256], l2[256], l3[256];
    snprintf(l1, sizeof(l1), "%s/escape", wd);
    cr_assert_eq(symlink(path, l1), 0); /* a link to a file outside */
    snprintf(l2, sizeof(l2), "%s/d/up", wd);
    cr_assert_eq(symlink(outside, l2), 0); /* a link to a directory outside */
    snprintf(l3, sizeof(l3), "%s/inside", wd);
    cr_assert_eq(symlink("ok", l3), 0); /* a link that stays inside */
    const char *paths[] = {"../x",    "/etc/passwd", "d/../ok", "escape", "d/up/secret", "d/up",
                           "nothing", "d/nothing/x", "",        "inside", "..",          "ok/x"};
    const char *want[] = {"'..' in path",
                          "absolute path",
                          "'..' in path",
                          "outside the working directory",
                          "outside the working directory",
                          "outside the working directory",
                          "missing",
                          "missing",
                          "empty path",
                          "",
                          "'..' in path",
                          "missing"};
    size_t n = sizeof(paths) / sizeof(paths[0]);
    worker_output_t o[12];
    worker_outputs_hash(wd, paths, n, o, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        cr_expect_str_eq(o[i].path, paths[i]);
        cr_expect_str_eq(o[i].error, want[i], "%s: '%s'", paths[i], o[i].error);
        if (want[i][0]) {
            cr_expect_str_empty(o[i].sha256, "%s has a hash", paths[i]);
            cr_expect_eq(o[i].size, 0);
        }
    }
    cr_expect_str_eq(o[9].sha256,
                     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* a missing working directory: every output says so */
    char gone[128];
    snprintf(gone, sizeof(gone), "%s/gone", wd);
    hash1(gone, "ok", &o[0]);
    cr_expect(strstr(o[0].error, "working directory") != NULL, "%s", o[0].error);
    rm_rf(wd);
    rm_rf(outside);
}

LEAK_TEST(outputs, cancelled_hashing_reports_cancelled)
{
    char wd[64];
    tmpdir(wd);
    write_file(wd, "f", "data");
    atomic_bool cancel;
    atomic_init(&cancel, true);
    const char *paths[] = {"f"};
    worker_output_t o;
    worker_outputs_hash(wd, paths, 1, &o, NULL, &cancel);
    cr_expect_str_eq(o.error, "not hashed: cancelled");
    cr_expect_str_empty(o.sha256);
    rm_rf(wd);
}

/* ---- off the loop thread ------------------------------------------------------- */

typedef struct seen {
    int calls;
    uint64_t id;
    size_t n;
    char sha[2][65], error[2][160];
} seen_t;

static void done_cb(uint64_t id, const worker_output_t *out, size_t n, void *arg)
{
    seen_t *s = arg;
    s->calls++;
    s->id = id;
    s->n = n;
    for (size_t i = 0; i < n && i < 2; i++) {
        strcpy(s->sha[i], out[i].sha256);
        strcpy(s->error[i], out[i].error);
    }
}

LEAK_TEST(outputs, thread_pool_job_calls_back_on_the_loop)
{
    char wd[64];
    tmpdir(wd);
    write_file(wd, "f", "abc");
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    seen_t s = {0};
    const char *paths[] = {"f", "g"};
    worker_outputs_t *job = NULL;
    cairn_error_t err;
    cr_assert_eq(worker_outputs_start(&loop, 99, wd, paths, 2, NULL, done_cb, &s, &job, &err), 0,
                 "%s", err.text);
    cr_assert_not_null(job);
    uint64_t deadline = uv_hrtime() + (uint64_t)DEADLINE_MS * 1000000;
    while (s.calls == 0 && uv_hrtime() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert_eq(s.calls, 1);
    cr_expect_eq(s.id, 99);
    cr_assert_eq(s.n, 2);
    cr_expect_str_eq(s.sha[0], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cr_expect_str_eq(s.error[1], "missing");
    /* an abandoned job never calls back; the loop still closes */
    cr_assert_eq(worker_outputs_start(&loop, 100, wd, paths, 2, NULL, done_cb, &s, &job, &err), 0);
    worker_outputs_abandon(job);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(s.calls, 1);
    cr_expect_eq(uv_loop_close(&loop), 0, "a request was left");
    rm_rf(wd);
}

/* ---- budget, special files, rights ------------------------------------------- */

static const char ABC[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

/* Over the byte budget an output is "not hashed: too large" (a file is not
 * even read); what it read does not count, so a later one that fits is
 * hashed; a directory counts its files together. */
LEAK_TEST(outputs, outputs_over_the_size_budget_are_not_hashed)
{
    char wd[64];
    tmpdir(wd);
    write_file(wd, "big", "0123456789");
    write_file(wd, "small", "abc");
    make_dir(wd, "d");
    write_file(wd, "d/a", "12345");
    write_file(wd, "d/b", "67890");
    const char *paths[] = {"big", "small", "d"};
    worker_output_t o[3];
    worker_outputs_opts_t opts = {.max_bytes = 8};
    worker_outputs_hash(wd, paths, 3, o, &opts, NULL);
    cr_expect_str_eq(o[0].error, "not hashed: too large");
    cr_expect_str_empty(o[0].sha256);
    cr_expect_str_empty(o[1].error);
    cr_expect_str_eq(o[1].sha256, ABC);
    cr_expect_str_eq(o[2].error, "not hashed: too large");
    /* within the budget: the same digests as without one */
    worker_output_t u[3];
    opts.max_bytes = 23;
    worker_outputs_hash(wd, paths, 3, o, &opts, NULL);
    worker_outputs_hash(wd, paths, 3, u, NULL, NULL);
    for (int i = 0; i < 3; i++) {
        cr_expect_str_empty(o[i].error, "%s: %s", paths[i], o[i].error);
        cr_expect_str_eq(o[i].sha256, u[i].sha256);
    }
    rm_rf(wd);
}

/* Devices, FIFOs and files of kernel file systems are refused, never read
 * (inside a directory, FIFOs and devices are not part of it). */
LEAK_TEST(outputs, special_files_are_refused)
{
    char wd[64], path[256];
    tmpdir(wd);
    snprintf(path, sizeof(path), "%s/fifo", wd);
    cr_assert_eq(mkfifo(path, 0600), 0);
    make_dir(wd, "d");
    write_file(wd, "d/f", "abc");
    snprintf(path, sizeof(path), "%s/d/fifo", wd);
    cr_assert_eq(mkfifo(path, 0600), 0);
    worker_output_t o[2];
    const char *p1[] = {"fifo", "d"};
    worker_outputs_hash(wd, p1, 2, o, NULL, NULL);
    cr_expect_str_eq(o[0].error, "not a regular file or directory");
    cr_expect_str_empty(o[1].error);
    hash1("/dev", "null", &o[0]);
    cr_expect_str_eq(o[0].error, "not a regular file or directory");
    /* a task whose working directory is in /proc: its files are made up */
    hash1("/proc/self", "status", &o[0]);
    cr_expect_str_eq(o[0].error, "on a kernel file system: refused");
    hash1("/proc/self", "net", &o[0]);
    cr_expect(strstr(o[0].error, "kernel file system") != NULL, "%s", o[0].error);
    rm_rf(wd);
}

/* With a task user's identity, a file that user may not read is not read
 * (the worker, root, could); the thread has its own identity back after. */
LEAK_TEST(outputs, outputs_are_hashed_with_the_tasks_rights)
{
    struct passwd *pw = getpwnam("nobody");
    if (geteuid() != 0 || !pw)
        cr_skip_test("needs root and a nobody account");
    char wd[64], path[256];
    tmpdir(wd);
    cr_assert_eq(chmod(wd, 0755), 0);
    write_file(wd, "shadow", "abc");
    write_file(wd, "open", "abc");
    snprintf(path, sizeof(path), "%s/shadow", wd);
    cr_assert_eq(chmod(path, 0600), 0);
    snprintf(path, sizeof(path), "%s/open", wd);
    cr_assert_eq(chmod(path, 0644), 0);
    worker_identity_t as = {.set = true, .uid = pw->pw_uid, .gid = pw->pw_gid, .ngroups = 0};
    worker_outputs_opts_t opts = {.as = &as};
    const char *paths[] = {"shadow", "open"};
    worker_output_t o[2];
    worker_outputs_hash(wd, paths, 2, o, &opts, NULL);
    cr_expect_str_eq(o[0].error, "cannot open: Permission denied");
    cr_expect_str_empty(o[0].sha256);
    cr_expect_str_eq(o[1].sha256, ABC);
    cr_expect_eq(setfsuid((uid_t)-1), 0, "the thread kept the task's file system uid");
    cr_expect_eq(setfsgid((gid_t)-1), 0, "the thread kept the task's file system gid");
    /* the worker's own rights: both */
    worker_outputs_hash(wd, paths, 2, o, NULL, NULL);
    cr_expect_str_eq(o[0].sha256, ABC);
    cr_expect_str_eq(o[1].sha256, ABC);
    rm_rf(wd);
}

static void tick_cb(uv_timer_t *t)
{
    (void)t;
}

/* Run loop until the callback was made calls times (DEADLINE_MS). */
static void run_until_called(uv_loop_t *loop, const seen_t *s, int calls)
{
    uv_timer_t tick; /* the loop wakes to look at the deadline */
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, tick_cb, 10, 10);
    uint64_t deadline = uv_hrtime() + (uint64_t)DEADLINE_MS * 1000000;
    while (s->calls < calls && uv_hrtime() < deadline)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT); /* closes it */
    cr_assert_eq(s->calls, calls, "%d callbacks in %d ms", s->calls, DEADLINE_MS);
}

/* A hashing job of "f" (there) and "g" (not) started on a loop whose pool
 * is held: it cannot run until the pool is let go (held_end). */
typedef struct held {
    char wd[64];
    uv_loop_t loop;
    pool_block_t b;
    seen_t s;
    worker_outputs_t *job;
} held_t;

static void held_start(held_t *h, uint64_t id, const worker_outputs_opts_t *opts)
{
    memset(h, 0, sizeof(*h));
    tmpdir(h->wd);
    write_file(h->wd, "f", "abc");
    cr_assert_eq(uv_loop_init(&h->loop), 0);
    pool_block(&h->loop, &h->b);
    const char *paths[] = {"f", "g"};
    cairn_error_t err;
    cr_assert_eq(
        worker_outputs_start(&h->loop, id, h->wd, paths, 2, opts, done_cb, &h->s, &h->job, &err), 0,
        "%s", err.text);
}

/* Let the pool go: the job's own work then ends without a second callback. */
static void held_end(held_t *h)
{
    pool_unblock(&h->loop, &h->b, DEADLINE_MS);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    cr_expect_eq(h->s.calls, 1);
    cr_expect_eq(uv_loop_close(&h->loop), 0, "a handle or request was left");
    rm_rf(h->wd);
}

/* Out of time, the callback comes anyway: what is not done is "not
 * hashed: took too long", whatever the pool thread is stuck in. */
LEAK_TEST(outputs, hashing_past_its_time_budget_reports_at_once)
{
    held_t h;
    worker_outputs_opts_t opts = {.timeout_ms = 50};
    held_start(&h, 7, &opts);
    run_until_called(&h.loop, &h.s, 1);
    cr_expect_eq(h.s.id, 7);
    cr_assert_eq(h.s.n, 2);
    cr_expect_str_eq(h.s.error[0], "not hashed: took too long");
    cr_expect_str_eq(h.s.error[1], "not hashed: took too long");
    cr_expect_str_empty(h.s.sha[0]);
    held_end(&h);
}

/* A cancel stops the hashing: the callback follows from the loop (not
 * from inside the cancel), the outputs not done "not hashed: cancelled". */
LEAK_TEST(outputs, a_cancel_interrupts_hashing)
{
    held_t h;
    held_start(&h, 8, NULL);
    worker_outputs_cancel(h.job);
    cr_expect_eq(h.s.calls, 0, "called back from inside the cancel");
    run_until_called(&h.loop, &h.s, 1);
    cr_assert_eq(h.s.n, 2);
    cr_expect_str_eq(h.s.error[0], "not hashed: cancelled");
    cr_expect_str_eq(h.s.error[1], "not hashed: cancelled");
    held_end(&h);
}

/* ---- checkpoint listings (worker_outputs_list) ---------------------------------- */

/* The regular files under the directory, recursively, sorted by relative
 * path, each with size, SHA-256 and mtime; symbolic links (to files or
 * directories, in or out) and FIFOs are not part of it. A missing
 * directory lists nothing. */
LEAK_TEST(outputs, checkpoint_listing_is_sorted_recursive_and_skips_links)
{
    char wd[64], path[256];
    tmpdir(wd);
    make_dir(wd, "b");
    make_dir(wd, "b/c");
    write_file(wd, "z.bin", "abc");
    write_file(wd, "b/c/deep", "");
    write_file(wd, "b/a", "0123456789");
    write_file(wd, "a.txt", "abc");
    snprintf(path, sizeof(path), "%s/passwd", wd);
    cr_assert_eq(symlink("/etc/passwd", path), 0);
    snprintf(path, sizeof(path), "%s/etc", wd);
    cr_assert_eq(symlink("/etc", path), 0);
    snprintf(path, sizeof(path), "%s/fifo", wd);
    cr_assert_eq(mkfifo(path, 0600), 0);
    snprintf(path, sizeof(path), "%s/a.txt", wd);
    struct timespec ts[2] = {{1700000000, 123000000}, {1700000000, 123456789}};
    cr_assert_eq(utimensat(AT_FDCWD, path, ts, 0), 0);

    worker_output_t *v = NULL;
    size_t n = 0;
    cr_assert_eq(worker_outputs_list(wd, NULL, NULL, &v, &n), 0);
    cr_assert_eq(n, 4);
    const char *want[] = {"a.txt", "b/a", "b/c/deep", "z.bin"};
    for (size_t i = 0; i < n; i++) {
        cr_expect_str_eq(v[i].path, want[i]);
        cr_expect_str_empty(v[i].error, "%s: %s", v[i].path, v[i].error);
    }
    cr_expect_str_eq(v[0].sha256, ABC);
    cr_expect_eq(v[0].size, 3);
    cr_expect_eq(v[0].mtime_ms, 1700000000123);
    cr_expect_eq(v[1].size, 10);
    cr_expect_str_eq(v[2].sha256,
                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    cr_expect_gt(v[3].mtime_ms, 0);
    worker_outputs_list_free(v, n);

    snprintf(path, sizeof(path), "%s/none", wd);
    cr_assert_eq(worker_outputs_list(path, NULL, NULL, &v, &n), 0);
    cr_expect_eq(n, 0);
    worker_outputs_list_free(v, n);
    rm_rf(wd);
}

/* The byte budget as for outputs: hashed in path order, a file that would
 * go over it is "not hashed: too large" (its size still given), the later
 * ones that fit are hashed; a file the task's user cannot read says so. */
LEAK_TEST(outputs, checkpoint_listing_budget_and_rights)
{
    char wd[64], path[256];
    tmpdir(wd);
    write_file(wd, "1", "abc");
    write_file(wd, "2", "0123456789");
    write_file(wd, "3", "abc");
    worker_outputs_opts_t opts = {.max_bytes = 8};
    worker_output_t *v = NULL;
    size_t n = 0;
    cr_assert_eq(worker_outputs_list(wd, &opts, NULL, &v, &n), 0);
    cr_assert_eq(n, 3);
    cr_expect_str_eq(v[0].sha256, ABC);
    cr_expect_str_eq(v[1].error, "not hashed: too large");
    cr_expect_str_empty(v[1].sha256);
    cr_expect_eq(v[1].size, 10);
    cr_expect_str_eq(v[2].sha256, ABC);
    worker_outputs_list_free(v, n);

    struct passwd *pw = getpwnam("nobody");
    if (geteuid() == 0 && pw) {
        cr_assert_eq(chmod(wd, 0755), 0);
        snprintf(path, sizeof(path), "%s/2", wd);
        cr_assert_eq(chmod(path, 0600), 0);
        worker_identity_t as = {.set = true, .uid = pw->pw_uid, .gid = pw->pw_gid};
        worker_outputs_opts_t o2 = {.as = &as};
        cr_assert_eq(worker_outputs_list(wd, &o2, NULL, &v, &n), 0);
        cr_assert_eq(n, 3);
        cr_expect_str_eq(v[1].path, "2");
        cr_expect_str_eq(v[1].error, "cannot open: Permission denied");
        cr_expect_str_eq(v[2].sha256, ABC);
        worker_outputs_list_free(v, n);
        cr_expect_eq(setfsuid((uid_t)-1), 0, "the thread kept the task's file system uid");
        /* a directory it cannot read: one entry says so */
        cr_assert_eq(chmod(wd, 0700), 0);
        cr_assert_eq(worker_outputs_list(wd, &o2, NULL, &v, &n), 0);
        cr_assert_eq(n, 1);
        cr_expect_str_eq(v[0].path, ".");
        cr_expect_str_eq(v[0].error, "cannot open the directory: Permission denied");
        worker_outputs_list_free(v, n);
    }
    rm_rf(wd);
}

/* Off the loop: the listing comes back on the loop thread. */
LEAK_TEST(outputs, checkpoint_listing_on_the_thread_pool)
{
    char wd[64];
    tmpdir(wd);
    write_file(wd, "f", "abc");
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    seen_t s = {0};
    worker_outputs_t *job = NULL;
    cairn_error_t err;
    cr_assert_eq(worker_outputs_list_start(&loop, 7, wd, NULL, done_cb, &s, &job, &err), 0, "%s",
                 err.text);
    run_until_called(&loop, &s, 1);
    cr_expect_eq(s.id, 7);
    cr_assert_eq(s.n, 1);
    cr_expect_str_eq(s.sha[0], ABC);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&loop), 0, "a request was left");
    rm_rf(wd);
}

/* A listing past its time budget or cancelled (its pool thread held) calls
 * back at once with one entry saying why. */
LEAK_TEST(outputs, checkpoint_listing_cancelled_or_out_of_time)
{
    for (int i = 0; i < 2; i++) {
        held_t h;
        worker_outputs_opts_t opts = {.timeout_ms = i ? 50 : 0};
        memset(&h, 0, sizeof(h));
        tmpdir(h.wd);
        write_file(h.wd, "f", "abc");
        cr_assert_eq(uv_loop_init(&h.loop), 0);
        pool_block(&h.loop, &h.b);
        cairn_error_t err;
        cr_assert_eq(
            worker_outputs_list_start(&h.loop, 9, h.wd, &opts, done_cb, &h.s, &h.job, &err), 0,
            "%s", err.text);
        if (!i)
            worker_outputs_cancel(h.job);
        run_until_called(&h.loop, &h.s, 1);
        cr_assert_eq(h.s.n, 1);
        cr_expect_str_eq(h.s.error[0], i ? "not hashed: took too long" : "not hashed: cancelled");
        held_end(&h);
    }
}
