/* Task execution (worker/exec.h) with real processes: what the task sees
 * (environment, CPU binding, working directory), what is reported (exit
 * codes, signals, start failures, limits, usage) and what is left behind
 * (nothing: forked and daemonized children, leftovers of a dead worker).
 *
 * Every test runs its own loop and waits for conditions by running it,
 * with a deadline; every test ends with uv_loop_close() == 0. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "leak_check.h"
#include "proc_check.h"
#include "self_user.h"
#include "worker/exec.h"
#include "worker/exec_private.h"

#define MAXR 8

struct fx {
    uv_loop_t loop;
    worker_exec_t *x;
    char dir[64];
    int nstarted, nexited;
    uint64_t started[MAXR];
    exec_result_t res[MAXR];
    uint64_t start_timeout_ms; /* exec_config_t's, set before fx_create */
    cairn_log_t *log;          /* exec_config_t's, set before fx_create */
};

TestSuite(exec, .timeout = 60);

/* ---- fixture ------------------------------------------------------------ */

static void started_cb(uint64_t id, uint32_t rank, int pid, int64_t start_ms, void *arg)
{
    struct fx *f = arg;
    cr_assert_gt(pid, 0);
    cr_assert_gt(start_ms, 0);
    if (f->nstarted < MAXR)
        f->started[f->nstarted] = id;
    f->nstarted++;
}

static void exited_cb(const exec_result_t *r, void *arg)
{
    struct fx *f = arg;
    if (f->nexited < MAXR)
        f->res[f->nexited] = *r;
    f->nexited++;
}

/* The suite runs as root with $CAIRN_ALLOW_ROOT_TASKS=1 (its tasks are
 * root's): the executor here is made as cairn-worker would make it. */
static void fx_create(struct fx *f, const char *cgroup_dir)
{
    exec_config_t cfg = {.state_dir = f->dir,
                         .cgroup_dir = cgroup_dir,
                         .allow_root_tasks = true,
                         .start_timeout_ms = f->start_timeout_ms,
                         .log = f->log};
    exec_callbacks_t cb = {started_cb, exited_cb, f};
    cairn_error_t err = {{0}};
    int r = worker_exec_create(&f->loop, &cfg, &cb, &f->x, &err);
    cr_assert_eq(r, 0, "worker_exec_create: %d %s", r, err.text);
}

/* A fresh executor on a new state directory, starts bounded by
 * start_timeout_ms (0: the default). */
static void fx_init_timeout(struct fx *f, const char *cgroup_dir, uint64_t start_timeout_ms)
{
    memset(f, 0, sizeof(*f));
    f->start_timeout_ms = start_timeout_ms;
    umask(022);
    strcpy(f->dir, "/tmp/cairn-exec-XXXXXX");
    cr_assert_not_null(mkdtemp(f->dir));
    cr_assert_eq(uv_loop_init(&f->loop), 0);
    fx_create(f, cgroup_dir);
}

static void fx_init_cg(struct fx *f, const char *cgroup_dir)
{
    fx_init_timeout(f, cgroup_dir, 0);
}

/* Memory limits by sampling unless a test asks for cgroups. */
static void fx_init(struct fx *f)
{
    fx_init_cg(f, "");
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void fx_fini(struct fx *f)
{
    worker_exec_destroy(f->x);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&f->loop), 0, "a handle was left open");
    nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void tick_cb(uv_timer_t *t)
{
}

/* Run the loop until cond holds or ms pass; whether it holds. */
static bool run_until(struct fx *f, bool (*cond)(struct fx *, const void *), const void *arg,
                      uint64_t ms)
{
    uv_timer_t tick;
    uint64_t end;
    bool ok;
    uv_update_time(&f->loop);
    end = uv_now(&f->loop) + ms;
    uv_timer_init(&f->loop, &tick);
    uv_timer_start(&tick, tick_cb, 5, 5);
    while (!(ok = cond(f, arg)) && uv_now(&f->loop) < end)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    return ok;
}

static bool exited_n(struct fx *f, const void *n)
{
    return f->nexited >= *(const int *)n;
}

static bool started_n(struct fx *f, const void *n)
{
    return f->nstarted >= *(const int *)n;
}

static void wait_exited(struct fx *f, int n, uint64_t ms)
{
    cr_assert(run_until(f, exited_n, &n, ms), "%d of %d attempts exited in %" PRIu64 " ms",
              f->nexited, n, ms);
}

static void wait_started(struct fx *f, int n)
{
    cr_assert(run_until(f, started_n, &n, 5000), "attempt did not start");
}

static const exec_result_t *result_of(struct fx *f, uint64_t id)
{
    for (int i = 0; i < f->nexited && i < MAXR; i++)
        if (f->res[i].attempt_id == id)
            return &f->res[i];
    cr_assert_fail("no result for attempt %" PRIu64, id);
    return NULL;
}

static exec_spec_t spec_of(uint64_t id, uint32_t argc, const char *const *argv, bool shell)
{
    return (exec_spec_t){
        .user = self_user(),
        .attempt_id = id,
        .job_id = 7,
        .task_name = "train",
        .attempt_number = 1,
        .argc = argc,
        .argv = argv,
        .shell = shell,
        .seed = 42,
        .kill_grace_ms = 200,
    };
}

static void start_ok(struct fx *f, const exec_spec_t *s)
{
    cairn_error_t err = {{0}};
    int r = worker_exec_start(f->x, s, &err);
    cr_assert_eq(r, 0, "worker_exec_start: %d %s", r, err.text);
}

/* Run a shell script as attempt id and wait until it is reported. */
static const exec_result_t *run_sh(struct fx *f, uint64_t id, const char *script)
{
    const char *argv[] = {script};
    exec_spec_t s = spec_of(id, 1, argv, true);
    int n = f->nexited + 1;
    start_ok(f, &s);
    wait_exited(f, n, 10000);
    return result_of(f, id);
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    char *buf = calloc(1, 65536);
    size_t n;
    cr_assert_not_null(fp, "cannot open %s", path);
    n = fread(buf, 1, 65535, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

/* The contents of an attempt's log read as ReadLog reads it (wherever it
 * is, named or not yet); a log that is not there reads as empty, as
 * ReadLog answers it. */
static char *read_log(struct fx *f, uint64_t id, int stream)
{
    int fd = worker_exec_log_open(f->x, 7, "train", id, 0, stream);
    cr_assert(fd >= 0 || fd == -ENOENT, "worker_exec_log_open: %s", strerror(-fd));
    char *buf = calloc(1, 65536);
    size_t n = 0;
    ssize_t r = 1;
    while (fd >= 0 && n < 65535 && (r = read(fd, buf + n, 65535 - n)) > 0)
        n += (size_t)r;
    cr_assert_geq(r, 0);
    if (fd >= 0)
        close(fd);
    return buf;
}

/* Whether a newline-separated text holds this exact line. */
static bool has_line(const char *text, const char *line)
{
    size_t len = strlen(line);
    for (const char *s = text; s && *s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL)
        if (strncmp(s, line, len) == 0 && (s[len] == '\n' || s[len] == '\0'))
            return true;
    return false;
}

static bool pid_gone(pid_t pid)
{
    return kill(pid, 0) < 0 && errno == ESRCH;
}

static bool pids_gone(struct fx *f, const void *arg)
{
    const pid_t *pids = arg;
    for (size_t i = 0; pids[i]; i++)
        if (!pid_gone(pids[i]))
            return false;
    return true;
}

/* Up to 15 pids, one per line, 0-terminated. */
static void read_pids(const char *path, pid_t *pids)
{
    char *text = slurp(path);
    size_t n = 0;
    for (char *s = strtok(text, "\n"); s && n < 15; s = strtok(NULL, "\n"))
        pids[n++] = (pid_t)atoi(s);
    pids[n] = 0;
    free(text);
}

static bool file_exists(struct fx *f, const void *path)
{
    return access(path, F_OK) == 0;
}

/* ---- environment, without processes ------------------------------------ */

static const char *env_get(const exec_strv_t *e, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < e->n; i++)
        if (strncmp(e->v[i], name, len) == 0 && e->v[i][len] == '=')
            return e->v[i] + len + 1;
    return NULL;
}

static char *const base_env[] = {
    "PATH=/usr/bin:/bin", "HOME=/root", "CUDA_VISIBLE_DEVICES=0,1,2,3", "ROCR_VISIBLE_DEVICES=0",
    "CAIRN_SEED=1",       "RANK=5",     "OMP_NUM_THREADS=64",           NULL,
};

static void build(const exec_spec_t *s, exec_strv_t *e)
{
    cairn_error_t err = {{0}};
    int r = exec_env_build(s, base_env, NULL, e, &err);
    cr_assert_eq(r, 0, "exec_env_build: %s", err.text);
}

static void expect_env(const exec_strv_t *e, const char *name, const char *want)
{
    const char *got = env_get(e, name);
    if (!want)
        cr_assert_null(got, "%s should be unset, is \"%s\"", name, got);
    else
        cr_assert(got && strcmp(got, want) == 0, "%s = \"%s\", want \"%s\"", name,
                  got ? got : "(unset)", want);
}

LEAK_TEST(exec, env_single_task_nvidia)
{
    const char *argv[] = {"true"};
    const char *env[] = {"FOO=bar", "CAIRN_SEED=666", "CUDA_VISIBLE_DEVICES=7", "PATH=/opt/bin"};
    exec_gpu_t gpus[] = {{0, "GPU-aaaa", "nvidia"}, {3, "GPU-bbbb", "nvidia"}};
    exec_spec_t s = spec_of(99, 1, argv, false);
    exec_strv_t e;
    s.nenv = 4;
    s.env = env;
    s.ngpus = 2;
    s.gpus = gpus;
    s.ncores = 6;
    s.attempt_number = 2;
    build(&s, &e);
    expect_env(&e, "CAIRN_JOB_ID", "7");
    expect_env(&e, "CAIRN_TASK", "train");
    expect_env(&e, "CAIRN_ATTEMPT", "2");
    expect_env(&e, "CAIRN_ATTEMPT_ID", "99");
    expect_env(&e, "CAIRN_SEED", "42");
    expect_env(&e, "FOO", "bar");
    expect_env(&e, "PATH", "/opt/bin");
    expect_env(&e, "HOME", "/root");
    expect_env(&e, "CUDA_VISIBLE_DEVICES", "GPU-aaaa,GPU-bbbb");
    expect_env(&e, "CUDA_DEVICE_ORDER", "PCI_BUS_ID");
    expect_env(&e, "ROCR_VISIBLE_DEVICES", NULL);
    expect_env(&e, "OMP_NUM_THREADS", "6");
    expect_env(&e, "RANK", NULL);
    expect_env(&e, "CAIRN_RANK", NULL);
    exec_strv_fini(&e);
}

LEAK_TEST(exec, env_gpu_vendors_and_indexes)
{
    const char *argv[] = {"true"};
    exec_gpu_t nv[] = {{0, "GPU-aaaa", "nvidia"}, {3, NULL, "nvidia"}};
    exec_gpu_t amd[] = {{1, "7e21", "amd"}, {3, "", "amd"}};
    exec_gpu_t intel[] = {{2, NULL, "intel"}};
    exec_spec_t s = spec_of(1, 1, argv, false);
    exec_strv_t e;
    s.ngpus = 2;
    s.gpus = nv; /* one UUID unknown: indexes for all */
    build(&s, &e);
    expect_env(&e, "CUDA_VISIBLE_DEVICES", "0,3");
    exec_strv_fini(&e);
    s.gpus = amd;
    build(&s, &e);
    expect_env(&e, "ROCR_VISIBLE_DEVICES", "1,3");
    expect_env(&e, "HIP_VISIBLE_DEVICES", "1,3");
    expect_env(&e, "CUDA_VISIBLE_DEVICES", "");
    exec_strv_fini(&e);
    s.ngpus = 1;
    s.gpus = intel;
    build(&s, &e);
    expect_env(&e, "ZE_AFFINITY_MASK", "2");
    expect_env(&e, "CUDA_VISIBLE_DEVICES", "");
    exec_strv_fini(&e);
    s.ngpus = 0; /* a CPU task sees no GPU; no cores: the worker's OMP stays */
    build(&s, &e);
    expect_env(&e, "CUDA_VISIBLE_DEVICES", "");
    expect_env(&e, "ROCR_VISIBLE_DEVICES", NULL);
    expect_env(&e, "OMP_NUM_THREADS", "64");
    exec_strv_fini(&e);
}

LEAK_TEST(exec, env_gang_replica)
{
    const char *argv[] = {"true"};
    const char *env[] = {"RANK=9", "OMP_NUM_THREADS=1", "MASTER_PORT=1"};
    exec_spec_t s = spec_of(1, 1, argv, false);
    exec_strv_t e;
    s.rank = 2;
    s.world_size = 4;
    s.master_addr = "10.0.0.1";
    s.master_port = 29500;
    s.ncores = 8;
    s.nenv = 3;
    s.env = env;
    build(&s, &e);
    expect_env(&e, "CAIRN_RANK", "2");
    expect_env(&e, "CAIRN_WORLD_SIZE", "4");
    expect_env(&e, "CAIRN_MASTER_ADDR", "10.0.0.1");
    expect_env(&e, "CAIRN_MASTER_PORT", "29500");
    expect_env(&e, "RANK", "2");
    expect_env(&e, "WORLD_SIZE", "4");
    expect_env(&e, "LOCAL_RANK", "0");
    expect_env(&e, "MASTER_ADDR", "10.0.0.1");
    expect_env(&e, "MASTER_PORT", "29500");
    expect_env(&e, "OMP_NUM_THREADS", "1"); /* the spec may lower it */
    exec_strv_fini(&e);
}

LEAK_TEST(exec, env_invalid_entry)
{
    const char *argv[] = {"true"};
    const char *env[] = {"NOEQUALS"};
    exec_spec_t s = spec_of(1, 1, argv, false);
    exec_strv_t e = {0};
    cairn_error_t err = {{0}};
    s.nenv = 1;
    s.env = env;
    cr_assert_eq(exec_env_build(&s, base_env, NULL, &e, &err), -EINVAL);
    cr_assert(strstr(err.text, "NAME=value"), "%s", err.text);
}

/* ---- what the task sees ------------------------------------------------- */

LEAK_TEST(exec, child_environment_and_logs)
{
    struct fx f;
    const char *argv[] = {"env"};
    const char *env[] = {"FOO=bar baz", "CAIRN_SEED=1"};
    exec_gpu_t gpus[] = {{1, "GPU-8a0f1942-32ad-c09c-c55a-fe8eb8f8c0ab", "nvidia"}};
    exec_spec_t s = spec_of(11, 1, argv, false);
    char path[4096], want[4200];
    struct stat st;
    char *out;
    fx_init(&f);
    s.nenv = 2;
    s.env = env;
    s.ngpus = 1;
    s.gpus = gpus;
    s.ncores = 2;
    start_ok(&f, &s);
    wait_exited(&f, 1, 10000);
    cr_assert_eq(f.nstarted, 1);
    cr_assert_eq(f.started[0], 11);
    cr_assert_eq(result_of(&f, 11)->exit_code, 0);
    out = read_log(&f, 11, 1);
    cr_assert(has_line(out, "CAIRN_SEED=42"), "%s", out);
    cr_assert(has_line(out, "CAIRN_JOB_ID=7"), "%s", out);
    cr_assert(has_line(out, "CAIRN_TASK=train"), "%s", out);
    cr_assert(has_line(out, "CAIRN_ATTEMPT=1"), "%s", out);
    cr_assert(has_line(out, "CAIRN_ATTEMPT_ID=11"), "%s", out);
    cr_assert(has_line(out, "FOO=bar baz"), "%s", out);
    cr_assert(has_line(out, "CUDA_VISIBLE_DEVICES=GPU-8a0f1942-32ad-c09c-c55a-fe8eb8f8c0ab"), "%s",
              out);
    cr_assert(has_line(out, "CUDA_DEVICE_ORDER=PCI_BUS_ID"), "%s", out);
    cr_assert(has_line(out, "OMP_NUM_THREADS=2"), "%s", out);
    cr_assert(strstr(out, "\nPATH=") || strncmp(out, "PATH=", 5) == 0, "no PATH: %s", out);
    free(out);
    /* the log's place and modes (stdout: stderr had nothing, and an empty
     * stream is no file) */
    cr_assert_gt(worker_exec_log_path(f.x, 7, "train", 11, 0, 2, path, sizeof(path)), 0);
    snprintf(want, sizeof(want), "%s/logs/7/train.11.0.err", f.dir);
    cr_assert_str_eq(path, want);
    cr_assert_gt(worker_exec_log_path(f.x, 7, "train", 11, 0, 1, path, sizeof(path)), 0);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    *strrchr(path, '/') = '\0';
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700);
    fx_fini(&f);
}

LEAK_TEST(exec, stdout_and_stderr_go_to_their_files)
{
    struct fx f;
    char *out, *err;
    fx_init(&f);
    cr_assert_eq(run_sh(&f, 3, "echo to-out; echo to-err >&2")->exit_code, 0);
    out = read_log(&f, 3, 1);
    err = read_log(&f, 3, 2);
    cr_assert_str_eq(out, "to-out\n");
    cr_assert_str_eq(err, "to-err\n");
    free(out);
    free(err);
    fx_fini(&f);
}

/* Bound to one PU: PU 0, or the first this test may use. */
LEAK_TEST(exec, bound_to_one_pu)
{
    struct fx f;
    const char *argv[] = {"grep Cpus_allowed_list /proc/self/status"};
    uint32_t pus[] = {0}, numa[] = {0};
    exec_spec_t s = spec_of(4, 1, argv, true);
    char *out, *err, want[64];
    cpu_set_t set;
    cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
    while (!CPU_ISSET(pus[0], &set))
        pus[0]++;
    snprintf(want, sizeof(want), "Cpus_allowed_list:\t%u\n", pus[0]);
    fx_init(&f);
    s.npus = 1;
    s.pus = pus;
    s.nnuma = 1;
    s.numa = numa;
    start_ok(&f, &s);
    wait_exited(&f, 1, 10000);
    out = read_log(&f, 4, 1);
    err = read_log(&f, 4, 2);
    cr_assert_str_eq(out, want, "stderr: %s", err);
    free(out);
    free(err);
    fx_fini(&f);
}

LEAK_TEST(exec, working_directory)
{
    struct fx f;
    const char *argv[] = {"pwd"};
    exec_spec_t s = spec_of(5, 1, argv, false);
    char *out, want[128];
    fx_init(&f);
    s.workdir = f.dir;
    start_ok(&f, &s);
    wait_exited(&f, 1, 10000);
    out = read_log(&f, 5, 1);
    snprintf(want, sizeof(want), "%s\n", f.dir);
    cr_assert_str_eq(out, want);
    free(out);
    fx_fini(&f);
}

/* ---- what is reported --------------------------------------------------- */

LEAK_TEST(exec, exit_codes_and_signals)
{
    struct fx f;
    const exec_result_t *r;
    fx_init(&f);
    r = run_sh(&f, 1, "exit 0");
    cr_assert(!r->start_failed && r->exit_code == 0 && r->signal == 0);
    r = run_sh(&f, 2, "exit 3");
    cr_assert(!r->start_failed && r->exit_code == 3 && r->signal == 0, "%d", r->exit_code);
    r = run_sh(&f, 3, "kill -USR1 $$");
    cr_assert_eq(r->signal, SIGUSR1);
    cr_assert(!r->timed_out && !r->cancelled && !r->memory_exceeded);
    r = run_sh(&f, 4, "exit 127"); /* a command's 127 is not a start failure */
    cr_assert(!r->start_failed && r->exit_code == 127);
    cr_assert_gt(r->pid, 0);
    cr_assert_geq(r->end_ms, r->start_ms);
    cr_assert_eq(f.nstarted, 4);
    fx_fini(&f);
}

LEAK_TEST(exec, command_not_found_is_a_start_failure)
{
    struct fx f;
    const char *argv[] = {"cairn-no-such-command", "arg"};
    exec_spec_t s = spec_of(6, 2, argv, false);
    const exec_result_t *r;
    fx_init(&f);
    start_ok(&f, &s);
    cr_assert_eq(f.nexited, 0, "reported from inside worker_exec_start");
    wait_exited(&f, 1, 10000);
    r = result_of(&f, 6);
    cr_assert(r->start_failed);
    cr_assert(strstr(r->error, "cairn-no-such-command") && strstr(r->error, "No such file"), "%s",
              r->error);
    cr_assert_eq(f.nstarted, 0);
    fx_fini(&f);
}

LEAK_TEST(exec, missing_workdir_is_a_start_failure)
{
    struct fx f;
    const char *argv[] = {"true"};
    exec_spec_t s = spec_of(7, 1, argv, false);
    const exec_result_t *r;
    fx_init(&f);
    s.workdir = "/nonexistent/cairn/dir";
    start_ok(&f, &s);
    cr_assert_eq(f.nexited, 0);
    wait_exited(&f, 1, 10000);
    r = result_of(&f, 7);
    cr_assert(r->start_failed);
    cr_assert(strstr(r->error, "working directory /nonexistent/cairn/dir"), "%s", r->error);
    cr_assert_eq(f.nstarted, 0);
    fx_fini(&f);
}

LEAK_TEST(exec, invalid_specs_and_duplicates_fail_without_callback)
{
    struct fx f;
    const char *argv[] = {"sleep 30"};
    exec_spec_t s = spec_of(8, 1, argv, true);
    cairn_error_t err = {{0}};
    fx_init(&f);
    start_ok(&f, &s);
    cr_assert_eq(worker_exec_start(f.x, &s, &err), -EEXIST);
    s.attempt_id = 9;
    s.task_name = "a/b";
    cr_assert_eq(worker_exec_start(f.x, &s, &err), -EINVAL);
    s.task_name = "ok";
    s.argc = 0;
    cr_assert_eq(worker_exec_start(f.x, &s, &err), -EINVAL);
    s.argc = 1;
    s.world_size = 2;
    s.rank = 2;
    cr_assert_eq(worker_exec_start(f.x, &s, &err), -EINVAL);
    cr_assert_eq(worker_exec_cancel(f.x, 12345, 0), -ENOENT);
    wait_started(&f, 1);
    cr_assert_eq(worker_exec_cancel(f.x, 8, 100), 0);
    wait_exited(&f, 1, 5000);
    cr_assert_eq(f.nexited, 1);
    cr_assert(result_of(&f, 8)->cancelled);
    fx_fini(&f);
}

LEAK_TEST(exec, time_limit_sends_sigterm)
{
    struct fx f;
    const char *argv[] = {"sleep 30"};
    exec_spec_t s = spec_of(10, 1, argv, true);
    const exec_result_t *r;
    fx_init(&f);
    s.time_limit_ms = 300;
    start_ok(&f, &s);
    wait_exited(&f, 1, 5000);
    r = result_of(&f, 10);
    cr_assert(r->timed_out && !r->cancelled);
    cr_assert_eq(r->signal, SIGTERM);
    cr_assert_geq(r->end_ms - r->start_ms, 250);
    fx_fini(&f);
}

LEAK_TEST(exec, time_limit_sigkill_after_grace)
{
    struct fx f;
    const char *argv[] = {"trap '' TERM; sleep 30"};
    exec_spec_t s = spec_of(12, 1, argv, true);
    const exec_result_t *r;
    fx_init(&f);
    /* long enough for the shell to set its trap even on a loaded machine */
    s.time_limit_ms = 2000;
    s.kill_grace_ms = 200;
    start_ok(&f, &s);
    wait_exited(&f, 1, 8000);
    r = result_of(&f, 12);
    cr_assert(r->timed_out);
    /* as in cancel_and_kill_all: the shell may see its sleep die first */
    cr_assert(r->signal == SIGKILL || r->exit_code == 137, "signal %d exit %d", r->signal,
              r->exit_code);
    cr_assert_geq(r->end_ms - r->start_ms, 2150);
    fx_fini(&f);
}

/* An attempt's stdout holds a text (the file exists already). */
struct log_text {
    uint64_t id;
    const char *text;
};

static bool log_holds(struct fx *f, const void *arg)
{
    const struct log_text *w = arg;
    char *out = read_log(f, w->id, 1);
    bool ok = out && strstr(out, w->text);
    free(out);
    return ok;
}

LEAK_TEST(exec, cancel_and_kill_all)
{
    struct fx f;
    const char *a1[] = {"sleep 30"}, *a2[] = {"trap '' TERM; echo trapped; sleep 30"};
    exec_spec_t s1 = spec_of(13, 1, a1, true), s2 = spec_of(14, 1, a2, true);
    uint64_t ids[4];
    fx_init(&f);
    start_ok(&f, &s1);
    start_ok(&f, &s2);
    wait_started(&f, 2);
    cr_assert(run_until(&f, log_holds, &(struct log_text){14, "trapped"}, 5000),
              "task 14 never set its trap");
    cr_assert_eq(worker_exec_list(f.x, ids, NULL, NULL, NULL, 4), 2);
    cr_assert(ids[0] == 13 && ids[1] == 14);
    cr_assert_eq(worker_exec_cancel(f.x, 13, 0), 0);
    wait_exited(&f, 1, 5000);
    cr_assert(result_of(&f, 13)->cancelled);
    cr_assert_eq(result_of(&f, 13)->signal, SIGTERM);
    worker_exec_kill_all(f.x);
    wait_exited(&f, 2, 5000);
    cr_assert(result_of(&f, 14)->cancelled);
    /* the group's SIGKILL may reach the shell's sleep first: the shell can
     * then exit 137 before its own SIGKILL lands */
    cr_assert(result_of(&f, 14)->signal == SIGKILL || result_of(&f, 14)->exit_code == 137,
              "signal %d exit %d", result_of(&f, 14)->signal, result_of(&f, 14)->exit_code);
    cr_assert_eq(worker_exec_list(f.x, ids, NULL, NULL, NULL, 4), 0);
    fx_fini(&f);
}

LEAK_TEST(exec, usage_list_and_cpu_time)
{
    struct fx f;
    const char *argv[] = {"\"$1\" spin 600; sleep 0.6", CAIRN_EXEC_HELPER};
    exec_spec_t s = spec_of(15, 2, argv, true);
    uint64_t cpu = 0, rss = 0, peak = 0, ids[2];
    int pids[2];
    const exec_result_t *r;
    fx_init(&f);
    start_ok(&f, &s);
    wait_started(&f, 1);
    cr_assert_eq(worker_exec_list(f.x, ids, NULL, pids, NULL, 2), 1);
    cr_assert(ids[0] == 15 && pids[0] > 0);
    cr_assert_eq(worker_exec_usage(f.x, 15, &cpu, &rss, &peak), 0);
    cr_assert_eq(worker_exec_usage(f.x, 16, &cpu, &rss, &peak), -ENOENT);
    wait_exited(&f, 1, 10000);
    r = result_of(&f, 15);
    cr_assert_eq(r->exit_code, 0);
    cr_assert_geq(r->cpu_usec, 500000, "cpu %" PRIu64 " us", r->cpu_usec);
    cr_assert_lt(r->cpu_usec, 5000000, "cpu %" PRIu64 " us", r->cpu_usec);
    cr_assert_gt(r->peak_rss_bytes, 0);
    fx_fini(&f);
}

LEAK_TEST(exec, memory_limit_by_sampling)
{
    struct fx f;
    const char *argv[] = {CAIRN_EXEC_HELPER, "alloc", "300"};
    exec_spec_t s = spec_of(16, 3, argv, false);
    const exec_result_t *r;
    fx_init(&f);
    cr_assert_null(f.x->cgroup_root);
    s.memory_limit_bytes = 100u << 20;
    start_ok(&f, &s);
    wait_exited(&f, 1, 10000);
    r = result_of(&f, 16);
    cr_assert(r->memory_exceeded);
    cr_assert_eq(r->signal, SIGKILL);
    cr_assert_gt(r->peak_rss_bytes, 100u << 20);
    cr_assert_str_eq(worker_exec_end_class(r), "oom");
    fx_fini(&f);
}

LEAK_TEST(exec, memory_limit_by_cgroup)
{
    struct fx f;
    const char *argv[] = {CAIRN_EXEC_HELPER, "alloc", "300"};
    exec_spec_t s = spec_of(17, 3, argv, false);
    const exec_result_t *r;
    bool have;
    fx_init_cg(&f, NULL);
    have = f.x->cgroup_root != NULL;
    if (have) {
        s.memory_limit_bytes = 100u << 20;
        start_ok(&f, &s);
        wait_exited(&f, 1, 10000);
        r = result_of(&f, 17);
        cr_assert(r->memory_exceeded, "signal %d exit %d", r->signal, r->exit_code);
        cr_assert_eq(r->signal, SIGKILL);
        cr_assert_str_eq(worker_exec_end_class(r), "oom"); /* the cgroup's OOM kill */
    }
    fx_fini(&f);
    if (!have)
        cr_skip_test("no cgroup v2 memory controller to delegate here");
}

/* ---- retry.on's log pattern ---------------------------------------------- */

/* Run script as attempt id with the retry log pattern; whether it matched. */
static bool log_matched(struct fx *f, uint64_t id, const char *script)
{
    const char *argv[] = {script};
    exec_spec_t s = spec_of(id, 1, argv, true);
    s.retry_log = "NCCL.*(timeout|unhandled system error)";
    int n = f->nexited + 1;
    start_ok(f, &s);
    wait_exited(f, n, 10000);
    const exec_result_t *r = result_of(f, id);
    cr_expect_str_eq(worker_exec_end_class(r), r->log_matched ? "log" : "");
    return r->log_matched;
}

/* A failed attempt's stderr is matched, its last 64 KiB only; a success,
 * stdout, and another text are not. */
LEAK_TEST(exec, retry_log_pattern_matches_the_tail_of_stderr)
{
    struct fx f;
    fx_init(&f);
    cr_expect(log_matched(&f, 90, "echo x >&2; echo 'NCCL WARN timeout' >&2; exit 1"));
    cr_expect(log_matched(&f, 91, "echo 'NCCL: unhandled system error' >&2; kill -9 $$"),
              "killed by a signal is a failure too");
    cr_expect_not(log_matched(&f, 92, "echo 'Segmentation fault' >&2; exit 1"));
    cr_expect_not(log_matched(&f, 93, "echo 'NCCL WARN timeout' >&2; exit 0"), "a success");
    cr_expect_not(log_matched(&f, 94, "echo 'NCCL WARN timeout'; exit 1"), "stdout");
    /* the match, then 70 KB more: out of the tail */
    cr_expect_not(log_matched(&f, 95,
                              "echo 'NCCL timeout' >&2; head -c 70000 /dev/zero | tr '\\0' y >&2;"
                              " exit 1"));
    fx_fini(&f);
}

/* ---- what is left behind ------------------------------------------------ */

/* The script writes the pids of a background child, a child that left the
 * session with setsid, and a double-forked daemon (adopted by the worker),
 * then exits or waits. */
#define TREE_SCRIPT                                                                                \
    "sleep 1000 & echo $! > pids; "                                                                \
    "setsid sleep 1000 & echo $! >> pids; "                                                        \
    "(setsid sh -c 'echo $$ >> pids; exec sleep 1000' &); "                                        \
    "while [ $(wc -l < pids) -lt 3 ]; do sleep 0.01; done; "

static void check_tree_gone(struct fx *f)
{
    char path[128];
    pid_t pids[16];
    snprintf(path, sizeof(path), "%s/pids", f->dir);
    read_pids(path, pids);
    cr_assert_eq(pids[3], 0);
    for (int i = 0; i < 3; i++)
        cr_assert_gt(pids[i], 1);
    cr_assert(run_until(f, pids_gone, pids, 5000), "a process of the tree survived");
    for (int i = 0; i < 3; i++)
        cr_assert(pid_gone(pids[i]), "pid %d survived", pids[i]);
}

LEAK_TEST(exec, forked_and_daemonized_children_end_with_the_task)
{
    struct fx f;
    const char *argv[] = {TREE_SCRIPT "exit 0"};
    exec_spec_t s = spec_of(20, 1, argv, true);
    fx_init(&f);
    s.workdir = f.dir;
    start_ok(&f, &s);
    wait_exited(&f, 1, 10000);
    cr_assert_eq(result_of(&f, 20)->exit_code, 0);
    check_tree_gone(&f);
    fx_fini(&f);
}

/* A task that ends at once, leaving only a daemon in a session of its own:
 * nothing is left in its process group, so exited() comes without a scan,
 * and the next periodic scan finds the daemon (adopted, with the task's
 * CAIRN_ATTEMPT_ID) and kills it. */
LEAK_TEST(exec, a_daemon_that_escaped_a_short_task_is_killed)
{
    struct fx f;
    const char *argv[] = {
        "(setsid sh -c 'echo $$ > pids.tmp; mv pids.tmp pids; exec sleep 1000' &); "
        "while [ ! -e pids ]; do sleep 0.01; done; exit 0"};
    exec_spec_t s = spec_of(24, 1, argv, true);
    char path[128];
    pid_t pids[16];
    fx_init(&f);
    s.workdir = f.dir;
    start_ok(&f, &s);
    wait_exited(&f, 1, 10000);
    cr_assert_eq(result_of(&f, 24)->exit_code, 0);
    snprintf(path, sizeof(path), "%s/pids", f.dir);
    read_pids(path, pids);
    cr_assert_gt(pids[0], 1);
    cr_assert(run_until(&f, pids_gone, pids, 10000), "the escaped daemon %d survived", pids[0]);
    fx_fini(&f);
}

LEAK_TEST(exec, cancel_ends_the_whole_tree)
{
    struct fx f;
    char path[128];
    const char *argv[] = {TREE_SCRIPT "touch ready; wait"};
    exec_spec_t s = spec_of(21, 1, argv, true);
    fx_init(&f);
    s.workdir = f.dir;
    start_ok(&f, &s);
    snprintf(path, sizeof(path), "%s/ready", f.dir);
    cr_assert(run_until(&f, file_exists, path, 5000), "the task did not get ready");
    cr_assert_eq(worker_exec_cancel(f.x, 21, 200), 0);
    wait_exited(&f, 1, 5000);
    cr_assert(result_of(&f, 21)->cancelled);
    check_tree_gone(&f);
    fx_fini(&f);
}

LEAK_TEST(exec, destroy_kills_running_tasks)
{
    struct fx f;
    const char *argv[] = {"sleep 30"};
    exec_spec_t s = spec_of(22, 1, argv, true);
    int pids[1];
    fx_init(&f);
    start_ok(&f, &s);
    wait_started(&f, 1);
    cr_assert_eq(worker_exec_list(f.x, NULL, NULL, pids, NULL, 1), 1);
    fx_fini(&f);
    cr_assert(pid_gone(pids[0]));
    cr_assert_eq(f.nexited, 0, "no callback after destroy");
}

/* A process group a dead worker left: started here, recorded in the
 * leftovers file, then a new executor must kill it. */
static pid_t start_group(const char *child_file)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        char script[512];
        int null = open("/dev/null", O_RDWR);
        /* nothing of the test's: a test runner waits on its output */
        dup2(null, 0), dup2(null, 1), dup2(null, 2);
        syscall(SYS_close_range, 3, ~0U, 0);
        setsid();
        snprintf(script, sizeof(script),
                 "sleep 1000 & echo $! > %s.tmp; mv %s.tmp %s; exec sleep 1000", child_file,
                 child_file, child_file);
        execl("/bin/sh", "sh", "-c", script, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static bool reaped(struct fx *f, const void *arg)
{
    const pid_t *pids = arg;
    for (size_t i = 0; pids[i]; i++)
        waitpid(pids[i], NULL, WNOHANG);
    return pids_gone(f, arg);
}

/* A dead worker's leftovers file (header: its first line, or none) names
 * a process group started here, with its start time, and another with a
 * wrong start time (a recycled pid); a new executor on the state kills the
 * first (killed) or leaves both alone, and lists none of them after. */
static void leftovers_case(const char *header, bool killed)
{
    struct fx f;
    char path[128], running[128];
    pid_t leader, other, pids[4];
    exec_proc_t lp, op;
    FILE *fp;
    fx_init(&f);
    worker_exec_destroy(f.x); /* the "dead" worker; a new one is made below */
    uv_run(&f.loop, UV_RUN_DEFAULT);
    snprintf(path, sizeof(path), "%s/other", f.dir);
    other = start_group(path);
    cr_assert(run_until(&f, file_exists, path, 5000));
    snprintf(path, sizeof(path), "%s/child", f.dir);
    leader = start_group(path);
    cr_assert(run_until(&f, file_exists, path, 5000));
    read_pids(path, pids);
    cr_assert_gt(pids[0], 1);
    cr_assert_eq(exec_proc_read(leader, &lp), 0);
    cr_assert_eq(exec_proc_read(other, &op), 0);
    snprintf(running, sizeof(running), "%s/running", f.dir);
    fp = fopen(running, "w");
    cr_assert_not_null(fp);
    if (header)
        fprintf(fp, "%s\n", header);
    fprintf(fp, "5 0 %d %" PRIu64 " -\n9 0 %d %" PRIu64 " -\n", (int)leader, lp.start, (int)other,
            op.start + 1);
    fclose(fp);
    fx_create(&f, "");
    pids[1] = leader;
    pids[2] = 0;
    if (killed) {
        cr_assert(run_until(&f, reaped, pids, 5000), "the leftover group survived");
    } else {
        /* worker_exec_create() kills leftovers before it returns */
        cr_assert(!gone_or_zombie(leader) && !gone_or_zombie(pids[0]),
                  "another boot's leftover was killed");
        kill(-leader, SIGKILL);
        waitpid(leader, NULL, 0);
    }
    cr_assert(!gone_or_zombie(other), "an unrelated process was killed");
    kill(-other, SIGKILL);
    waitpid(other, NULL, 0);
    char line[PATH_MAX + 256];
    fp = fopen(running, "r");
    cr_assert_not_null(fp);
    cr_assert(fgets(line, sizeof(line), fp) && line[0] == '#');
    cr_assert_null(fgets(line, sizeof(line), fp), "leftovers still listed: %s", line);
    fclose(fp);
    fx_fini(&f);
}

LEAK_TEST(exec, leftovers_of_a_dead_worker_are_killed)
{
    char boot[64], header[160];
    cr_assert_eq(exec_boot_id(boot, sizeof(boot)), 0);
    snprintf(header, sizeof(header), "# cairn-worker 123 boot %s: attempt rank pid ...", boot);
    leftovers_case(header, true);
}

/* An older worker's file, without a boot id, written since the boot. */
LEAK_TEST(exec, leftovers_without_a_boot_id_are_killed_when_written_in_this_boot)
{
    leftovers_case(NULL, true);
}

/* After a reboot pids and start times name other processes: the lines of
 * another boot's file are dropped, nothing is killed. */
LEAK_TEST(exec, leftovers_of_another_boot_are_dropped_not_killed)
{
    leftovers_case("# cairn-worker 123 boot 00000000-0000-4000-8000-000000000000: attempt rank pid",
                   false);
}

LEAK_TEST(exec, running_file_lists_attempts)
{
    struct fx f;
    const char *argv[] = {"sleep 1000 & wait"};
    exec_spec_t s = spec_of(23, 1, argv, true);
    char path[128], *text, want[64];
    int pids[1];
    fx_init(&f);
    start_ok(&f, &s);
    wait_started(&f, 1);
    cr_assert_eq(worker_exec_list(f.x, NULL, NULL, pids, NULL, 1), 1);
    snprintf(path, sizeof(path), "%s/running", f.dir);
    text = slurp(path);
    snprintf(want, sizeof(want), "\n23 0 %d ", pids[0]);
    char *line = strstr(text, want);
    cr_assert(line, "%s", text);
    /* with the start time /proc gives (the worker takes it from the clock) */
    exec_proc_t p;
    cr_assert_eq(exec_proc_read(pids[0], &p), 0);
    cr_expect_eq(strtoull(line + strlen(want), NULL, 10), p.start, "%s", text);
    free(text);
    cr_assert_eq(worker_exec_cancel(f.x, 23, 100), 0);
    wait_exited(&f, 1, 5000);
    /* an ended attempt's line may stay until the next rewrite: it names a
     * process that is gone, so a new executor on this state kills nothing */
    cr_assert(pid_gone(pids[0]));
    fx_fini(&f);
}

LEAK_TEST(exec, log_path_errors)
{
    struct fx f;
    char buf[16];
    fx_init(&f);
    cr_assert_eq(worker_exec_log_path(f.x, 1, "t", 1, 0, 3, buf, sizeof(buf)), -EINVAL);
    cr_assert_eq(worker_exec_log_path(f.x, 1, "../t", 1, 0, 1, buf, sizeof(buf)), -EINVAL);
    cr_assert_eq(worker_exec_log_path(f.x, 1, "t", 1, 0, 1, buf, sizeof(buf)), -ENAMETOOLONG);
    fx_fini(&f);
}

/* ---- on a GPU machine (CAIRN_TEST_GPU=1, with nvidia-smi and PyTorch) ---- */

LEAK_TEST(exec, cuda_sees_only_the_given_gpus)
{
    struct fx f;
    const char *argv[] = {"python3 -c 'import torch; print(torch.cuda.device_count())'"};
    exec_spec_t with = spec_of(30, 1, argv, true), without = spec_of(31, 1, argv, true);
    char uuid[128] = "";
    exec_gpu_t gpu = {0, uuid, "nvidia"};
    char *out1, *out0;
    int two = 2;
    FILE *p;
    if (!getenv("CAIRN_TEST_GPU") || strcmp(getenv("CAIRN_TEST_GPU"), "1") != 0)
        cr_skip_test("set CAIRN_TEST_GPU=1 on a machine with an NVIDIA GPU and PyTorch");
    p = popen("nvidia-smi --query-gpu=uuid --format=csv,noheader", "r");
    cr_assert_not_null(p);
    cr_assert_not_null(fgets(uuid, sizeof(uuid), p));
    pclose(p);
    uuid[strcspn(uuid, "\n")] = '\0';
    fx_init(&f);
    with.ngpus = 1;
    with.gpus = &gpu;
    start_ok(&f, &with);
    start_ok(&f, &without);
    cr_assert(run_until(&f, exited_n, &two, 60000));
    out1 = read_log(&f, 30, 1);
    out0 = read_log(&f, 31, 1);
    cr_assert_str_eq(out1, "1\n", "with %s: %s", uuid, out1);
    cr_assert_str_eq(out0, "0\n", "without GPUs: %s", out0);
    free(out1);
    free(out0);
    fx_fini(&f);
}

/* ---- starts prepared ahead (worker_exec_prepare) -------------------------- */

static exec_prepared_t *prepare_ok(struct fx *f, const exec_spec_t *s)
{
    exec_prepared_t *p = NULL;
    cairn_error_t err = {{0}};
    int r = worker_exec_prepare(f->x, s, 0, &p, &err);
    cr_assert_eq(r, 0, "worker_exec_prepare: %d %s", r, err.text);
    cr_assert_not_null(p);
    return p;
}

/* Start prepared p (attempt id) and wait for its end: a start failure,
 * without a started(), whose message holds what. */
static void expect_prepared_start_fails(struct fx *f, exec_prepared_t *p, uint64_t id,
                                        const char *what)
{
    cairn_error_t err = {{0}};
    int started = f->nstarted, n = f->nexited + 1;
    cr_assert_eq(worker_exec_start_prepared(f->x, p, &err), 0, "%s", err.text);
    wait_exited(f, n, 10000);
    const exec_result_t *r = result_of(f, id);
    cr_assert_eq(f->nstarted, started, "a failed start was reported started");
    cr_assert(r->start_failed);
    cr_assert_eq(r->exit_code, -1);
    cr_assert(strstr(r->error, what), "error: %s", r->error);
}

/* Whether the prepared process is ready at its gate: named and in its own session. */
static bool proc_comm_is(struct fx *f, const void *arg)
{
    const exec_prepared_t *p = arg;
    char path[64], *text;
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)p->pid);
    if (access(path, R_OK) < 0)
        return false;
    text = slurp(path);
    bool ok = strcmp(text, "cairn-queued\n") == 0 && getsid(p->pid) == p->pid;
    free(text);
    return ok;
}

static bool proc_zombie(struct fx *f, const void *arg)
{
    const exec_prepared_t *p = arg;
    char path[64], *text;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)p->pid);
    text = slurp(path);
    const char *rp = strrchr(text, ')');
    bool z = rp && rp[1] == ' ' && rp[2] == 'Z';
    free(text);
    return z;
}

/* Prepared with its process waiting at the gate (in its own session, named
 * cairn-queued); started, it runs bound to its PU, and started() comes
 * once, before the end. */
LEAK_TEST(exec, prepared_start_waits_ready_then_runs_bound)
{
    struct fx f;
    const char *argv[] = {"grep Cpus_allowed_list /proc/self/status"};
    uint32_t pus[] = {0};
    exec_spec_t s = spec_of(41, 1, argv, true);
    char *out, want[64];
    cairn_error_t err = {{0}};
    cpu_set_t set;
    cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
    while (!CPU_ISSET(pus[0], &set))
        pus[0]++;
    snprintf(want, sizeof(want), "Cpus_allowed_list:\t%u\n", pus[0]);
    fx_init(&f);
    s.npus = 1;
    s.pus = pus;
    exec_prepared_t *p = prepare_ok(&f, &s);
    if (EXEC_CAN_GATE) {
        cr_assert_gt(p->pid, 0, "no process made ready ahead");
        cr_assert(run_until(&f, proc_comm_is, p, 5000), "the waiting process is not ready");
    }
    cr_assert_eq(f.nstarted, 0);
    cr_assert_eq(worker_exec_start_prepared(f.x, p, &err), 0, "%s", err.text);
    wait_exited(&f, 1, 10000);
    cr_assert_eq(f.nstarted, 1);
    cr_assert_eq(f.started[0], 41);
    cr_assert(!f.res[0].start_failed, "%s", f.res[0].error);
    cr_assert_eq(f.res[0].exit_code, 0);
    out = read_log(&f, 41, 1);
    cr_assert_str_eq(out, want);
    free(out);
    fx_fini(&f);
}

/* Dropped before its start: the waiting process is gone at once and so
 * are its empty log files. */
LEAK_TEST(exec, prepared_free_ends_the_waiting_process_and_empty_logs)
{
    struct fx f;
    const char *argv[] = {"true"};
    exec_spec_t s = spec_of(42, 1, argv, false);
    char out[4096], errp[4096];
    fx_init(&f);
    exec_prepared_t *p = prepare_ok(&f, &s);
    pid_t pid = p->pid;
    cr_assert_gt(worker_exec_log_path(f.x, 7, "train", 42, 0, 1, out, sizeof(out)), 0);
    cr_assert_gt(worker_exec_log_path(f.x, 7, "train", 42, 0, 2, errp, sizeof(errp)), 0);
    int fd = worker_exec_log_open(f.x, 7, "train", 42, 0, 1);
    cr_assert_geq(fd, 0, "the preparation holds no log: %s", strerror(-fd));
    close(fd);
    worker_exec_prepared_free(f.x, p);
    if (EXEC_CAN_GATE)
        cr_assert(pid > 0 && pid_gone(pid), "the waiting process %d is still there", (int)pid);
    cr_assert_neq(access(out, F_OK), 0, "empty stdout log left");
    cr_assert_neq(access(errp, F_OK), 0, "empty stderr log left");
    cr_assert_eq(worker_exec_log_open(f.x, 7, "train", 42, 0, 1), -ENOENT);
    cr_assert_eq(f.nstarted + f.nexited, 0);
    fx_fini(&f);
}

/* A prepared command that cannot be executed fails to start, without a
 * started(), with the reason. */
LEAK_TEST(exec, prepared_start_of_a_missing_command_fails_to_start)
{
    struct fx f;
    const char *argv[] = {"/nonexistent/cairn-no-such-command"};
    exec_spec_t s = spec_of(43, 1, argv, false);
    fx_init(&f);
    exec_prepared_t *p = prepare_ok(&f, &s);
    expect_prepared_start_fails(&f, p, 43, "cannot execute /nonexistent/cairn-no-such-command");
    fx_fini(&f);
}

/* A waiting process killed from outside before its start: the start
 * fails, saying so. */
LEAK_TEST(exec, prepared_process_killed_at_the_gate_fails_to_start)
{
    struct fx f;
    const char *argv[] = {"true"};
    exec_spec_t s = spec_of(44, 1, argv, false);
    fx_init(&f);
    exec_prepared_t *p = prepare_ok(&f, &s);
    if (!EXEC_CAN_GATE) {
        worker_exec_prepared_free(f.x, p);
        fx_fini(&f);
        cr_skip_test("no gated starts in this build");
    }
    cr_assert_eq(kill(p->pid, SIGKILL), 0);
    cr_assert(run_until(&f, proc_zombie, p, 5000), "the killed process did not die");
    expect_prepared_start_fails(&f, p, 44, "died before it could start (signal 9)");
    fx_fini(&f);
}

/* What the start would refuse is refused by the preparation too, and it
 * leaves nothing. */
LEAK_TEST(exec, prepare_of_a_missing_workdir_keeps_nothing)
{
    struct fx f;
    const char *argv[] = {"true"};
    exec_spec_t s = spec_of(45, 1, argv, false);
    exec_prepared_t *p = (exec_prepared_t *)1;
    cairn_error_t err = {{0}};
    char out[4096];
    s.workdir = "/nonexistent/cairn-workdir";
    fx_init(&f);
    cr_assert_lt(worker_exec_prepare(f.x, &s, 0, &p, &err), 0);
    cr_assert_null(p);
    cr_assert(strstr(err.text, "/nonexistent/cairn-workdir"), "error: %s", err.text);
    cr_assert_gt(worker_exec_log_path(f.x, 7, "train", 45, 0, 1, out, sizeof(out)), 0);
    cr_assert_neq(access(out, F_OK), 0, "a log was left");
    fx_fini(&f);
}

/* A worker that dies (killed, no clean-up) takes its waiting processes
 * with it: they never start a task nobody watches. */
Test(exec, prepared_process_dies_with_the_worker)
{
    int fds[2];
    pid_t gated = 0;
    cr_assert_eq(pipe(fds), 0);
    pid_t worker = fork();
    cr_assert_geq(worker, 0);
    if (worker == 0) {
        struct fx f;
        const char *argv[] = {"true"};
        exec_spec_t s = spec_of(46, 1, argv, false);
        close(fds[0]);
        fx_init(&f);
        exec_prepared_t *p = prepare_ok(&f, &s);
        pid_t pid = p->pid;
        (void)!write(fds[1], &pid, sizeof(pid));
        for (;;)
            pause(); /* killed below */
    }
    close(fds[1]);
    cr_assert_eq(read(fds[0], &gated, sizeof(gated)), (ssize_t)sizeof(gated));
    close(fds[0]);
    if (gated <= 0) {
        kill(worker, SIGKILL);
        waitpid(worker, NULL, 0);
        cr_skip_test("no gated starts in this build");
    }
    cr_assert(!gone_or_zombie(gated), "the waiting process is not there");
    kill(worker, SIGKILL);
    cr_assert_eq(waitpid(worker, NULL, 0), worker);
    struct timespec step = {0, 5 * 1000000L};
    for (int i = 0; i < 1000 && !gone_or_zombie(gated); i++)
        nanosleep(&step, NULL); /* polls a condition, 5 s deadline */
    cr_assert(gone_or_zombie(gated), "waiting process %d outlived its worker", (int)gated);
}

/* The effective uid of process pid, or -1. */
static int proc_euid(pid_t pid)
{
    char path[64], line[256];
    int ruid = -1, euid = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *fp = fopen(path, "r");
    while (fp && fgets(line, sizeof(line), fp))
        if (sscanf(line, "Uid: %d %d", &ruid, &euid) == 2)
            break;
    if (fp)
        fclose(fp);
    return euid;
}

/* A root worker runs a prepared task as its submitter; the waiting process
 * takes that identity only once released (until then it shares the
 * worker's memory as root, as the worker). */
LEAK_TEST(exec, prepared_start_takes_the_submitters_identity_when_released)
{
    struct fx f;
    const char *argv[] = {"id -u"};
    exec_spec_t s = spec_of(47, 1, argv, true);
    cairn_error_t err = {{0}};
    struct passwd *pw = getpwnam("nobody");
    char want[32], *out;
    if (geteuid() != 0 || !pw)
        cr_skip_test("needs root and a nobody account");
    snprintf(want, sizeof(want), "%d\n", (int)pw->pw_uid);
    s.user = "nobody";
    fx_init(&f);
    exec_prepared_t *p = prepare_ok(&f, &s);
    if (EXEC_CAN_GATE) {
        cr_assert(run_until(&f, proc_comm_is, p, 5000), "the waiting process is not ready");
        cr_assert_eq(proc_euid(p->pid), 0, "the waiting process took the identity early");
    }
    cr_assert_eq(worker_exec_start_prepared(f.x, p, &err), 0, "%s", err.text);
    wait_exited(&f, 1, 10000);
    cr_assert(!f.res[0].start_failed, "%s", f.res[0].error);
    out = read_log(&f, 47, 1);
    cr_assert_str_eq(out, want);
    free(out);
    fx_fini(&f);
}

/* Attempt id runs "sleep 30"; id + 1 ("echo ran") is prepared to start
 * by itself when it exits. The test is skipped where that cannot be. */
static exec_prepared_t *self_start_pair(struct fx *f, uint64_t id)
{
    static const char *first[] = {"sleep 30"}, *second[] = {"echo ran"};
    exec_spec_t a = spec_of(id, 1, first, true), c = spec_of(id + 1, 1, second, true);
    exec_prepared_t *p = NULL;
    cairn_error_t err = {{0}};
    start_ok(f, &a);
    wait_started(f, 1);
    cr_assert_eq(worker_exec_prepare(f->x, &c, id, &p, &err), 0, "%s", err.text);
    if (!EXEC_CAN_GATE || !p->self_start) {
        worker_exec_prepared_free(f->x, p);
        worker_exec_cancel(f->x, id, 1);
        wait_exited(f, 1, 10000);
        fx_fini(f);
        cr_skip_test("no self-starting gated starts here");
    }
    return p;
}

/* Prepared behind a running attempt, the process starts by itself when
 * that one's main process exits (here: killed by a cancel), before the
 * worker starts it; the start then only records it (started, its exit,
 * its own start time). */
LEAK_TEST(exec, prepared_behind_a_running_attempt_starts_when_it_exits)
{
    struct fx f;
    cairn_error_t err = {{0}};
    struct log_text ran = {52, "ran"}; /* the log is made by the preparation */
    fx_init(&f);
    exec_prepared_t *p = self_start_pair(&f, 51);
    cr_assert(run_until(&f, proc_comm_is, p, 5000), "52's process is not ready");
    cr_assert(!log_holds(&f, &ran), "52 ran before 51 ended");
    cr_assert_eq(worker_exec_cancel(f.x, 51, 1), 0); /* 51's end, now */
    wait_exited(&f, 1, 10000);
    cr_assert(run_until(&f, log_holds, &ran, 5000), "52 did not run by itself");
    cr_assert_eq(f.nstarted, 1, "52 reported before its start");
    int64_t before = cairn_wall_ms();
    cr_assert_eq(worker_exec_start_prepared(f.x, p, &err), 0, "%s", err.text);
    wait_exited(&f, 2, 10000);
    const exec_result_t *r = result_of(&f, 52);
    cr_assert_eq(f.nstarted, 2);
    cr_assert(!r->start_failed, "%s", r->error);
    cr_assert_eq(r->exit_code, 0);
    cr_assert_leq(r->start_ms, before, "start time %" PRId64 " is the worker's, not its own",
                  r->start_ms);
    cr_assert_geq(r->start_ms, result_of(&f, 51)->start_ms);
    fx_fini(&f);
}

/* Killed while it waits for its predecessor: its start fails, saying so. */
LEAK_TEST(exec, self_starting_process_killed_at_the_gate_fails_to_start)
{
    struct fx f;
    fx_init(&f);
    exec_prepared_t *p = self_start_pair(&f, 53);
    cr_assert_eq(kill(p->pid, SIGKILL), 0);
    cr_assert(run_until(&f, proc_zombie, p, 5000), "the killed process did not die");
    cr_assert_eq(worker_exec_cancel(f.x, 53, 1), 0);
    wait_exited(&f, 1, 10000);
    expect_prepared_start_fails(&f, p, 54, "died before it could start (signal 9)");
    fx_fini(&f);
}

/* Two deep: the second, parked behind the first parked one, starts by
 * itself when that one has run; dropped before, the first takes the
 * second's start along (it gives up instead of starting early). */
LEAK_TEST(exec, a_line_of_parked_processes_runs_in_order_or_gives_up_together)
{
    struct fx f;
    const char *second[] = {"echo ran"};
    exec_spec_t d = spec_of(57, 1, second, true), e = spec_of(58, 1, second, true);
    exec_prepared_t *pd = NULL, *pe = NULL;
    cairn_error_t err = {{0}};
    struct log_text d_ran = {57, "ran"}, e_ran = {58, "ran"};
    fx_init(&f);
    exec_prepared_t *pc = self_start_pair(&f, 55); /* 55 runs, 56 parked behind it */
    cr_assert_eq(worker_exec_prepare(f.x, &d, 56, &pd, &err), 0, "%s", err.text);
    cr_assert(pd->self_start, "57 is not parked behind 56");
    /* 56 dropped: 57, parked behind it, gives up and never runs */
    worker_exec_prepared_free(f.x, pc);
    cr_assert(run_until(&f, proc_zombie, pd, 5000), "57 did not give up");
    cr_assert(!log_holds(&f, &d_ran), "57 ran although 56 never did");
    worker_exec_prepared_free(f.x, pd);
    /* again, run through: 57 behind 55, 58 behind 57; 55 ends, both run */
    cr_assert_eq(worker_exec_prepare(f.x, &d, 55, &pd, &err), 0, "%s", err.text);
    cr_assert_eq(worker_exec_prepare(f.x, &e, 57, &pe, &err), 0, "%s", err.text);
    cr_assert(pd->self_start && pe->self_start);
    cr_assert_eq(worker_exec_cancel(f.x, 55, 1), 0);
    wait_exited(&f, 1, 10000);
    cr_assert(run_until(&f, log_holds, &e_ran, 5000), "58 did not run by itself");
    cr_assert(log_holds(&f, &d_ran), "58 ran but 57 did not");
    cr_assert_eq(worker_exec_start_prepared(f.x, pd, &err), 0, "%s", err.text);
    cr_assert_eq(worker_exec_start_prepared(f.x, pe, &err), 0, "%s", err.text);
    wait_exited(&f, 3, 10000);
    cr_assert_eq(f.nstarted, 3);
    cr_assert(!result_of(&f, 57)->start_failed && !result_of(&f, 58)->start_failed);
    cr_assert_leq(result_of(&f, 57)->start_ms, result_of(&f, 58)->start_ms);
    fx_fini(&f);
}

/* ---- what a task may not reach ------------------------------------------ */

/* Make the executor again on f's state directory with cfg (its state_dir
 * set here). */
static void fx_recreate(struct fx *f, exec_config_t cfg)
{
    exec_callbacks_t cb = {started_cb, exited_cb, f};
    cairn_error_t err = {{0}};
    worker_exec_destroy(f->x);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    cfg.state_dir = f->dir;
    int r = worker_exec_create(&f->loop, &cfg, &cb, &f->x, &err);
    cr_assert_eq(r, 0, "worker_exec_create: %d %s", r, err.text);
}

/* A task that names no submitter is refused: a root worker would run it as
 * root (past --allow-root-tasks), any other as itself. Its start fails
 * saying so; nothing runs and no log is made; a preparation is refused
 * alike. */
LEAK_TEST(exec, a_task_without_submitter_is_refused)
{
    struct fx f;
    const char *argv[] = {"touch ran"};
    const char *users[] = {NULL, ""};
    char path[4200];
    fx_init(&f);
    for (int i = 0; i < 2; i++) {
        exec_spec_t s = spec_of(60 + (uint64_t)i, 1, argv, true);
        cairn_error_t err = {{0}};
        s.user = users[i];
        s.workdir = f.dir;
        start_ok(&f, &s);
        wait_exited(&f, i + 1, 10000);
        const exec_result_t *r = result_of(&f, s.attempt_id);
        cr_assert(r->start_failed);
        cr_assert(strstr(r->error, "names no submitter"), "error: %s", r->error);
        cr_assert_gt(worker_exec_log_path(f.x, 7, "train", s.attempt_id, 0, 1, path, sizeof(path)),
                     0);
        cr_assert_neq(access(path, F_OK), 0, "a log was made for %s", path);
        exec_prepared_t *p = (exec_prepared_t *)1;
        s.attempt_id += 10;
        cr_assert_eq(worker_exec_prepare(f.x, &s, 0, &p, &err), -EPERM);
        cr_assert_null(p);
        cr_assert(strstr(err.text, "names no submitter"), "error: %s", err.text);
        worker_identity_t as;
        cr_assert_eq(worker_exec_identity(f.x, users[i], &as, &err), -EPERM);
    }
    cr_assert_eq(f.nstarted, 0);
    snprintf(path, sizeof(path), "%s/ran", f.dir);
    cr_assert_neq(access(path, F_OK), 0, "the task ran");
    fx_fini(&f);
}

static void expect_mode_owner(const char *path, mode_t mode, uid_t uid)
{
    struct stat st;
    cr_assert_eq(lstat(path, &st), 0, "%s: %s", path, strerror(errno));
    cr_expect_eq(st.st_mode & 07777, mode, "%s: mode %04o, want %04o", path,
                 (unsigned)(st.st_mode & 07777), (unsigned)mode);
    cr_expect_eq(st.st_uid, uid, "%s: owner %u, want %u", path, (unsigned)st.st_uid, (unsigned)uid);
}

/* A root worker gives the job's log directory and the log files to the
 * submitter, private (0700, 0600), and keeps logs/ to itself (0700): no
 * one else reaches them, the worker still reads them (ReadLog). A start
 * prepared ahead makes its logs the same way. The task's HOME, USER,
 * LOGNAME and SHELL are the submitter's. */
LEAK_TEST(exec, logs_are_private_and_the_submitters)
{
    struct fx f;
    const char *argv[] = {"env; echo to-err >&2"};
    struct passwd *pw = getpwnam("nobody");
    char path[4200], want[4400];
    if (geteuid() != 0 || !pw)
        cr_skip_test("needs root and a nobody account");
    uid_t nobody = pw->pw_uid;
    char shell[256], home[256];
    snprintf(shell, sizeof(shell), "SHELL=%s",
             pw->pw_shell && pw->pw_shell[0] ? pw->pw_shell : "/bin/sh");
    snprintf(home, sizeof(home), "HOME=%s", pw->pw_dir);
    fx_init(&f);
    exec_spec_t s = spec_of(64, 1, argv, true);
    s.user = "nobody";
    start_ok(&f, &s);
    wait_exited(&f, 1, 10000);
    cr_assert(!result_of(&f, 64)->start_failed, "%s", result_of(&f, 64)->error);
    snprintf(path, sizeof(path), "%s", f.dir);
    expect_mode_owner(path, 0700, 0);
    snprintf(path, sizeof(path), "%s/logs", f.dir);
    expect_mode_owner(path, 0700, 0);
    snprintf(path, sizeof(path), "%s/logs/7", f.dir);
    expect_mode_owner(path, 0700, nobody);
    for (int stream = 1; stream <= 2; stream++) {
        cr_assert_gt(worker_exec_log_path(f.x, 7, "train", 64, 0, stream, path, sizeof(path)), 0);
        expect_mode_owner(path, 0600, nobody);
    }
    snprintf(path, sizeof(path), "%s/running", f.dir);
    expect_mode_owner(path, 0600, 0);
    char *out = read_log(&f, 64, 1), *err = read_log(&f, 64, 2);
    cr_expect(has_line(out, "USER=nobody"), "%s", out);
    cr_expect(has_line(out, "LOGNAME=nobody"), "%s", out);
    cr_expect(has_line(out, home), "%s", out);
    cr_expect(has_line(out, shell), "%s", out);
    cr_expect_str_eq(err, "to-err\n");
    free(out);
    free(err);
    /* prepared ahead: the files it will write are the submitter's and
     * private before it runs (in the worker's pool, closed to others) */
    exec_spec_t q = spec_of(65, 1, argv, true);
    cairn_error_t e = {{0}};
    q.user = "nobody";
    exec_prepared_t *p = prepare_ok(&f, &q);
    for (int stream = 1; stream <= 2; stream++) {
        struct stat st;
        int fd = worker_exec_log_open(f.x, 7, "train", 65, 0, stream);
        cr_assert_geq(fd, 0, "no log prepared: %s", strerror(-fd));
        cr_assert_eq(fstat(fd, &st), 0);
        close(fd);
        cr_expect_eq(st.st_mode & 07777, 0600, "mode %04o", (unsigned)(st.st_mode & 07777));
        cr_expect_eq(st.st_uid, nobody, "owner %u", (unsigned)st.st_uid);
    }
    snprintf(path, sizeof(path), "%s/logs/.pool", f.dir);
    expect_mode_owner(path, 0700, 0);
    snprintf(path, sizeof(path), "%s/logs/.pool/index", f.dir);
    expect_mode_owner(path, 0600, 0);
    cr_assert_eq(worker_exec_start_prepared(f.x, p, &e), 0, "%s", e.text);
    wait_exited(&f, 2, 10000);
    out = read_log(&f, 65, 1);
    snprintf(want, sizeof(want), "CAIRN_ATTEMPT_ID=65");
    cr_expect(has_line(out, want), "%s", out);
    free(out);
    fx_fini(&f);
}

/* ---- starts that hang (exec.h, start_timeout_ms) ---------------------------- */

static void count_tick_cb(uv_timer_t *t)
{
    (*(int *)t->data)++;
}

/* A copy of /bin/true in f's directory whose open blocks: the test holds a
 * write lease on it, and the kernel makes whoever opens it (the child's
 * execve) wait until the holder lets go (45 s by default), as a program on
 * a file system that does not answer would. The lease's fd, or -1 (then
 * the test is skipped). */
static int hung_program(struct fx *f, char *path, size_t len)
{
    char cmd[300];
    snprintf(path, len, "%s/hung-true", f->dir);
    snprintf(cmd, sizeof(cmd), "cp /bin/true '%s'", path);
    cr_assert_eq(system(cmd), 0);
    signal(SIGIO, SIG_IGN); /* the lease holder is told of the break with SIGIO */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    if (fcntl(fd, F_SETLEASE, F_WRLCK) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Wait for the end of attempt id, whose exec hangs: the loop runs on (a
 * timer ticks) meanwhile, no started() comes, the start fails after the
 * bound with a message that says so, and its process is gone. */
static void expect_hung_start_fails(struct fx *f, uint64_t id, int *ticks, uv_timer_t *tick)
{
    wait_exited(f, 1, 10000);
    int seen = *ticks;
    uv_close((uv_handle_t *)tick, NULL);
    const exec_result_t *r = result_of(f, id);
    cr_assert(r->start_failed, "exit %d signal %d", r->exit_code, r->signal);
    cr_assert_eq(f->nstarted, 0, "a hung start was reported started");
    cr_assert(strstr(r->error, "did not start within 300 ms"), "error: %s", r->error);
    cr_assert_gt(seen, 0, "the loop did not run while the start hung");
    cr_assert(pid_gone(r->pid), "the hung process %d is still there", r->pid);
}

/* A start (prepared ahead: released) whose exec hangs: started, the loop
 * runs on, and the start fails after the bound (300 ms). */
static void hung_start_case(uint64_t id, bool prepared)
{
    struct fx f;
    char prog[128];
    cairn_error_t err = {{0}};
    fx_init_timeout(&f, "", 300);
    int lease = hung_program(&f, prog, sizeof(prog));
    if (lease < 0) {
        fx_fini(&f);
        cr_skip_test("no write lease on a file here");
    }
    const char *argv[] = {prog};
    exec_spec_t s = spec_of(id, 1, argv, false);
    exec_prepared_t *p = prepared ? prepare_ok(&f, &s) : NULL;
    int ticks = 0;
    uv_timer_t tick;
    uv_timer_init(&f.loop, &tick);
    tick.data = &ticks;
    uv_timer_start(&tick, count_tick_cb, 10, 10);
    if (p) /* returns at once either way: the child execs on its own */
        cr_assert_eq(worker_exec_start_prepared(f.x, p, &err), 0, "%s", err.text);
    else
        start_ok(&f, &s);
    expect_hung_start_fails(&f, id, &ticks, &tick);
    close(lease);
    fx_fini(&f);
}

LEAK_TEST(exec, a_start_whose_exec_hangs_fails_after_the_bound)
{
    hung_start_case(60, false);
}

LEAK_TEST(exec, a_prepared_start_whose_exec_hangs_fails_after_the_bound)
{
    hung_start_case(61, true);
}

/* ---- dying with the worker ------------------------------------------------ */

/* A copy of exec_helper where the user nobody can run it (the build tree
 * may not be reachable): dir/exec_helper. */
static void helper_for_nobody(const char *dir, char *path, size_t len)
{
    char cmd[600];
    snprintf(path, len, "%s/exec_helper", dir);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 755 '%s' '%s'", CAIRN_EXEC_HELPER, path, dir,
             path);
    cr_assert_eq(system(cmd), 0);
}

/* Taking the submitter's uid clears the death signal; the child sets it
 * again, so a task run as another user still dies with the worker. */
LEAK_TEST(exec, a_task_run_as_its_submitter_keeps_its_death_signal)
{
    struct fx f;
    char helper[160];
    if (geteuid() != 0 || !getpwnam("nobody"))
        cr_skip_test("needs root and a nobody account");
    fx_init(&f);
    helper_for_nobody(f.dir, helper, sizeof(helper));
    const char *argv[] = {helper, "pdeathsig"};
    exec_spec_t s = spec_of(62, 2, argv, false);
    s.user = "nobody";
    start_ok(&f, &s);
    wait_exited(&f, 1, 10000);
    const exec_result_t *r = result_of(&f, 62);
    cr_assert(!r->start_failed, "%s", r->error);
    cr_assert_eq(r->exit_code, 0);
    char *out = read_log(&f, 62, 1), want[32];
    snprintf(want, sizeof(want), "uid %d pdeathsig %d\n", (int)getpwnam("nobody")->pw_uid, SIGKILL);
    cr_assert_str_eq(out, want);
    free(out);
    fx_fini(&f);
}

/* The worker writes logs as root: it never follows a symbolic link there
 * (a link planted at a log's name is replaced by the log, and its target
 * is untouched), and reads only a plain log file (no link, one name). */
LEAK_TEST(exec, a_log_that_is_a_link_is_neither_written_nor_read)
{
    struct fx f;
    const char *argv[] = {"echo written"};
    char victim[4200], dir[4200], log[4200];
    struct stat st;
    fx_init(&f);
    snprintf(victim, sizeof(victim), "%s/victim", f.dir);
    FILE *fp = fopen(victim, "w");
    cr_assert_not_null(fp);
    fputs("precious\n", fp);
    fclose(fp);
    snprintf(dir, sizeof(dir), "%s/logs/7", f.dir);
    cr_assert_eq(mkdir(dir, 0700), 0);
    cr_assert_gt(worker_exec_log_path(f.x, 7, "train", 66, 0, 1, log, sizeof(log)), 0);
    cr_assert_eq(symlink(victim, log), 0);
    const exec_result_t *r = run_sh(&f, 66, argv[0]);
    cr_assert(!r->start_failed, "%s", r->error);
    char *text = slurp(victim);
    cr_assert_str_eq(text, "precious\n");
    free(text);
    cr_assert_eq(lstat(log, &st), 0);
    cr_assert(S_ISREG(st.st_mode), "the link is still there");
    text = read_log(&f, 66, 1);
    cr_assert_str_eq(text, "written\n");
    free(text);
    /* a link where no attempt wrote */
    cr_assert_gt(worker_exec_log_path(f.x, 7, "train", 69, 0, 1, log, sizeof(log)), 0);
    cr_assert_eq(symlink(victim, log), 0);
    cr_assert_eq(worker_exec_log_open(f.x, 7, "train", 69, 0, 1), -ELOOP);
    /* a second name of another file */
    cr_assert_gt(worker_exec_log_path(f.x, 7, "train", 67, 0, 1, log, sizeof(log)), 0);
    cr_assert_eq(link(victim, log), 0);
    cr_assert_eq(worker_exec_log_open(f.x, 7, "train", 67, 0, 1), -EPERM);
    cr_assert_eq(worker_exec_log_open(f.x, 7, "train", 68, 0, 1), -ENOENT);
    fx_fini(&f);
}

/* worker_exec_create on dir: its result, err filled. */
static int create_on(const char *dir, cairn_error_t *err)
{
    uv_loop_t loop;
    worker_exec_t *x = NULL;
    exec_config_t cfg = {.state_dir = dir, .cgroup_dir = ""};
    exec_callbacks_t cb = {started_cb, exited_cb, NULL};
    cr_assert_eq(uv_loop_init(&loop), 0);
    int r = worker_exec_create(&loop, &cfg, &cb, &x, err);
    if (r == 0)
        worker_exec_destroy(x);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0);
    return r;
}

static void expect_refused(const char *dir, const char *why)
{
    cairn_error_t err = {{0}};
    cr_assert_eq(create_on(dir, &err), -EPERM, "%s accepted", dir);
    cr_assert(strstr(err.text, why), "error: %s", err.text);
}

static void expect_accepted(const char *dir)
{
    cairn_error_t err = {{0}};
    cr_assert_eq(create_on(dir, &err), 0, "%s", err.text);
}

/* The state directory (whose leftovers file says whom the worker kills,
 * whose logs are the tasks') is made private, and an existing one that
 * others can write to, or another user's, is refused with the reason; so
 * are logs/ and the leftovers file; a logs/ open to reading is closed. */
LEAK_TEST(exec, a_state_directory_open_to_others_is_refused)
{
    char dir[64], path[256];
    umask(022);
    strcpy(dir, "/tmp/cairn-state-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    /* missing: made 0700, parents too */
    snprintf(path, sizeof(path), "%s/new/state", dir);
    expect_accepted(path);
    expect_mode_owner(path, 0700, geteuid());
    snprintf(path, sizeof(path), "%s/new", dir);
    expect_mode_owner(path, 0700, geteuid());
    cr_assert_eq(chmod(dir, 0777), 0);
    expect_refused(dir, "writable by");
    cr_assert_eq(chmod(dir, 0770), 0);
    expect_refused(dir, "writable by");
    cr_assert_eq(chmod(dir, 0755), 0);
    expect_accepted(dir);
    snprintf(path, sizeof(path), "%s/logs", dir);
    expect_mode_owner(path, 0700, geteuid());
    cr_assert_eq(chmod(path, 0757), 0);
    expect_refused(dir, "log directory");
    cr_assert_eq(chmod(path, 0755), 0);
    expect_accepted(dir);
    expect_mode_owner(path, 0700, geteuid());
    /* a rewrite of the leftovers file cut short is not taken up */
    snprintf(path, sizeof(path), "%s/running.tmp", dir);
    FILE *fp = fopen(path, "w");
    cr_assert_not_null(fp);
    fclose(fp);
    cr_assert_eq(chmod(path, 0666), 0);
    struct fx f = {0};
    snprintf(f.dir, sizeof(f.dir), "%s", dir);
    cr_assert_eq(uv_loop_init(&f.loop), 0);
    fx_create(&f, "");
    snprintf(path, sizeof(path), "%s/running", dir);
    expect_mode_owner(path, 0600, geteuid());
    worker_exec_destroy(f.x);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&f.loop), 0);
    cr_assert_eq(chmod(path, 0666), 0);
    expect_refused(dir, "leftovers file");
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(symlink("/etc/passwd", path), 0);
    expect_refused(dir, "not a regular file");
    cr_assert_eq(unlink(path), 0);
    struct passwd *pw = getpwnam("nobody");
    if (geteuid() == 0 && pw) {
        cr_assert_eq(chown(dir, pw->pw_uid, pw->pw_gid), 0);
        expect_refused(dir, "belongs to uid");
    }
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Of the worker's environment tasks get PATH and LANG, what --pass-env
 * names, and the HOME, USER, LOGNAME and SHELL of the account they run as;
 * never the worker's other variables, nor its own (CAIRN_*, GPU). */
LEAK_TEST(exec, env_base_is_minimal)
{
    char *const worker_env[] = {
        "PATH=/w/bin",
        "LANG=C.UTF-8",
        "LC_ALL=C",
        "TZ=UTC",
        "HOME=/w",
        "USER=w",
        "AWS_SECRET_ACCESS_KEY=s",
        "CAIRN_ALLOW_ROOT_TASKS=1",
        "CUDA_VISIBLE_DEVICES=0",
        "MY_VAR=1",
        "MY_OTHER=2",
        "SSH_AUTH_SOCK=/tmp/a",
        "=odd",
        "NOEQUALS",
        NULL,
    };
    run_as_t self;
    memset(&self, 0, sizeof(self));
    strcpy(self.home, "/home/me");
    strcpy(self.name, "me");
    strcpy(self.shell, "/bin/zsh");
    const char *globs[] = {"MY_*"};
    exec_strv_t e;
    cr_assert_eq(exec_env_base(worker_env, globs, 1, &self, &e), 0);
    const char *want[][2] = {{"PATH", "/w/bin"}, {"LANG", "C.UTF-8"},  {"MY_VAR", "1"},
                             {"MY_OTHER", "2"},  {"HOME", "/home/me"}, {"USER", "me"},
                             {"LOGNAME", "me"},  {"SHELL", "/bin/zsh"}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        expect_env(&e, want[i][0], want[i][1]);
    cr_expect_eq(e.n, sizeof(want) / sizeof(want[0]), "%zu variables", e.n);
    exec_strv_fini(&e);
    /* "*": everything of the worker's but what the worker sets itself */
    const char *all[] = {"*"};
    cr_assert_eq(exec_env_base(worker_env, all, 1, &self, &e), 0);
    expect_env(&e, "AWS_SECRET_ACCESS_KEY", "s");
    expect_env(&e, "TZ", "UTC");
    expect_env(&e, "HOME", "/home/me");
    expect_env(&e, "CAIRN_ALLOW_ROOT_TASKS", NULL);
    expect_env(&e, "CUDA_VISIBLE_DEVICES", NULL);
    exec_strv_fini(&e);
    /* a worker without an account or a PATH: its own HOME, a default PATH */
    char *const bare[] = {"HOME=/w", "FOO=1", NULL};
    self.name[0] = '\0';
    cr_assert_eq(exec_env_base(bare, NULL, 0, &self, &e), 0);
    expect_env(&e, "PATH", "/usr/local/bin:/usr/bin:/bin");
    expect_env(&e, "HOME", "/w");
    expect_env(&e, "FOO", NULL);
    exec_strv_fini(&e);
}

/* A task started by the worker gets none of the worker's variables but
 * those it passes; the spec's env still goes in. */
LEAK_TEST(exec, a_task_does_not_get_the_workers_environment)
{
    struct fx f;
    const char *argv[] = {"env"};
    const char *env[] = {"FROM_SPEC=1"};
    const char *globs[] = {"PASSED_*", "OTHER"};
    struct passwd *pw = getpwuid(geteuid());
    char home[300];
    setenv("LEAKY_SECRET_TOKEN", "s3cret", 1);
    setenv("PASSED_ONE", "yes", 1);
    fx_init(&f);
    fx_recreate(&f,
                (exec_config_t){
                    .cgroup_dir = "", .allow_root_tasks = true, .pass_env = globs, .npass_env = 2});
    unsetenv("LEAKY_SECRET_TOKEN");
    unsetenv("PASSED_ONE");
    exec_spec_t s = spec_of(69, 1, argv, false);
    s.nenv = 1;
    s.env = env;
    start_ok(&f, &s);
    wait_exited(&f, 1, 10000);
    cr_assert_eq(result_of(&f, 69)->exit_code, 0, "%s", result_of(&f, 69)->error);
    char *out = read_log(&f, 69, 1);
    cr_expect(!strstr(out, "LEAKY_SECRET_TOKEN"), "the worker's secret leaked: %s", out);
    cr_expect(has_line(out, "PASSED_ONE=yes"), "%s", out);
    cr_expect(has_line(out, "FROM_SPEC=1"), "%s", out);
    cr_expect(strstr(out, "\nPATH=") || strncmp(out, "PATH=", 5) == 0, "no PATH: %s", out);
    snprintf(home, sizeof(home), "HOME=%s", pw->pw_dir);
    cr_expect(has_line(out, home), "%s", out);
    free(out);
    fx_fini(&f);
}

/* Run the loop of an executor in this (forked) process until it is killed. */
__attribute__((noreturn)) static void run_forever(struct fx *f)
{
    for (;;)
        uv_run(&f->loop, UV_RUN_DEFAULT);
}

static bool all_gone_or_zombies(const pid_t *pids)
{
    for (size_t i = 0; pids[i]; i++)
        if (!gone_or_zombie(pids[i]))
            return false;
    return true;
}

/* A worker killed with -9 takes every process of its tasks with it, the
 * whole tree, within a second: a task run as another user (whose main
 * process lost its death signal with the uid change before it was set
 * again), its shell's child, a child that left the session and a
 * double-forked daemon. The guard ends them (by their cgroup where the
 * worker has one: cgroup_dir NULL); nothing waits for a restart. */
static void killed_worker_case(const char *cgroup_dir)
{
    struct passwd *pw = getpwnam("nobody");
    if (geteuid() != 0 || !pw)
        cr_skip_test("needs root and a nobody account: the task runs as nobody");
    char dir[] = "/tmp/cairn-tree-XXXXXX", ready[64], pidfile[64], nocg[64];
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(chmod(dir, 0777), 0);
    snprintf(ready, sizeof(ready), "%s/ready", dir);
    snprintf(pidfile, sizeof(pidfile), "%s/pids", dir);
    snprintf(nocg, sizeof(nocg), "%s/no-cgroup", dir);
    pid_t worker = fork();
    cr_assert_geq(worker, 0);
    if (worker == 0) {
        struct fx f;
        const char *argv[] = {"echo start; " TREE_SCRIPT "echo $$ >> pids; touch ready; wait"};
        exec_spec_t s = spec_of(63, 1, argv, true);
        fx_init_cg(&f, cgroup_dir);
        if (!cgroup_dir && !f.x->worker_cg) {
            fclose(fopen(nocg, "w"));
            _exit(0);
        }
        s.workdir = dir;
        s.user = "nobody";
        start_ok(&f, &s);
        run_forever(&f);
    }
    int64_t deadline = (int64_t)time(NULL) + 20;
    while (access(ready, F_OK) != 0 && time(NULL) < deadline && !gone_or_zombie(worker))
        nanosleep(&(struct timespec){0, 5000000}, NULL); /* polls a condition */
    if (access(nocg, F_OK) == 0) {
        waitpid(worker, NULL, 0);
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        cr_expect_eq(system(cmd), 0);
        cr_skip_test("no cgroup v2 hierarchy the worker may write to here");
    }
    cr_assert_eq(access(ready, F_OK), 0, "the task did not get ready");
    pid_t pids[16];
    read_pids(pidfile, pids);
    cr_assert_gt(pids[3], 1, "four processes: child, setsid child, daemon, shell");
    for (int i = 0; pids[i]; i++)
        cr_assert_eq(proc_euid(pids[i]), (int)pw->pw_uid, "pid %d is not nobody's", pids[i]);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kill(worker, SIGKILL);
    cr_assert_eq(waitpid(worker, NULL, 0), worker);
    int64_t ms = 0;
    do {
        nanosleep(&(struct timespec){0, 2000000}, NULL); /* polls a condition, 1 s deadline */
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    } while (!all_gone_or_zombies(pids) && ms < 1000);
    for (int i = 0; pids[i]; i++) {
        if (!gone_or_zombie(pids[i]))
            kill(pids[i], SIGKILL); /* the test's own clean-up */
        cr_expect(gone_or_zombie(pids[i]), "pid %d outlived its worker by 1 s", pids[i]);
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}

Test(exec, a_killed_worker_takes_its_tasks_whole_trees_within_a_second)
{
    killed_worker_case("");
}

Test(exec, a_killed_worker_takes_its_tasks_whole_cgroups_within_a_second)
{
    killed_worker_case(NULL);
}

/* ---- who belongs to a task: its cgroup ------------------------------------ */

/* With task cgroups, a task's processes are those in its cgroup: a daemon
 * that leaves the session and claims another attempt (CAIRN_ATTEMPT_ID of
 * a running one, which the worker reads only without cgroups) still ends
 * with its own task, before that task is reported. */
LEAK_TEST(exec, a_daemon_claiming_another_attempt_still_ends_with_its_own)
{
    struct fx f;
    const char *long_argv[] = {"sleep 1000"};
    const char *argv[] = {
        "(CAIRN_ATTEMPT_ID=70 setsid sh -c 'echo $$ > pids.tmp; mv pids.tmp pids; exec sleep "
        "1000' &); while [ ! -e pids ]; do sleep 0.01; done; exit 0"};
    exec_spec_t other = spec_of(70, 1, long_argv, true), s = spec_of(71, 1, argv, true);
    char path[128];
    pid_t pids[16];
    fx_init_cg(&f, NULL);
    if (!f.x->worker_cg) {
        fx_fini(&f);
        cr_skip_test("no cgroup v2 hierarchy the worker may write to here");
    }
    s.workdir = f.dir;
    start_ok(&f, &other);
    start_ok(&f, &s);
    wait_exited(&f, 1, 10000);
    cr_assert_eq(result_of(&f, 71)->exit_code, 0);
    snprintf(path, sizeof(path), "%s/pids", f.dir);
    read_pids(path, pids);
    cr_assert_gt(pids[0], 1);
    cr_assert(gone_or_zombie(pids[0]), "the daemon %d outlived its task", pids[0]);
    cr_assert_eq(worker_exec_cancel(f.x, 70, 100), 0);
    wait_exited(&f, 2, 5000);
    fx_fini(&f);
}

/* Task cgroups are used again: after a task whose leftover child was
 * killed, and after a cancelled one, the next tasks (in the same cgroups)
 * run. Some kernels kill at birth a process created (CLONE_INTO_CGROUP) in
 * a cgroup that cgroup.kill was once written to. */
LEAK_TEST(exec, task_cgroups_are_used_again_after_a_kill)
{
    struct fx f;
    fx_init_cg(&f, NULL);
    if (!f.x->worker_cg) {
        fx_fini(&f);
        cr_skip_test("no cgroup v2 hierarchy the worker may write to here");
    }
    cr_assert_eq(run_sh(&f, 80, "sleep 1000 & exit 0")->exit_code, 0);
    const char *argv[] = {"trap '' TERM; sleep 1000 & wait"};
    exec_spec_t s = spec_of(81, 1, argv, true);
    start_ok(&f, &s);
    wait_started(&f, 2);
    cr_assert_eq(worker_exec_cancel(f.x, 81, 50), 0);
    wait_exited(&f, 2, 5000);
    cr_assert(result_of(&f, 81)->cancelled);
    for (uint64_t id = 82; id < 85; id++) {
        const exec_result_t *r = run_sh(&f, id, "echo again");
        cr_assert(!r->start_failed && r->exit_code == 0, "attempt %" PRIu64 ": %s (signal %d)", id,
                  r->error, r->signal);
    }
    /* one task at a time: one cgroup, used again by every task */
    cr_assert_eq(f.x->cg_seq, 1, "%u task cgroups made for one task at a time", f.x->cg_seq);
    fx_fini(&f);
}

/* ---- task logs kept cheaply (exec_logs.c) -------------------------------- */

/* The numbered files of the log pool (logs/.pool, its index aside). */
static int pool_files(struct fx *f)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/logs/.pool", f->dir);
    DIR *d = opendir(path);
    cr_assert_not_null(d, "%s: %s", path, strerror(errno));
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += de->d_name[0] >= '1' && de->d_name[0] <= '9';
    closedir(d);
    return n;
}

/* A task that writes nothing makes no file and no job directory: its log
 * reads as empty, and the files it was given serve the next task. */
LEAK_TEST(exec, a_task_without_output_makes_no_file)
{
    struct fx f;
    char path[4200];
    fx_init(&f);
    for (uint64_t id = 70; id < 74; id++) {
        const exec_result_t *r = run_sh(&f, id, "true");
        cr_assert(!r->start_failed, "%s", r->error);
        for (int stream = 1; stream <= 2; stream++) {
            char *text = read_log(&f, id, stream);
            cr_assert_str_eq(text, "");
            free(text);
            cr_assert_eq(worker_exec_log_open(f.x, 7, "train", id, 0, stream), -ENOENT);
        }
        cr_assert_leq(pool_files(&f), 2, "the pool grows: %d files", pool_files(&f));
    }
    snprintf(path, sizeof(path), "%s/logs/7", f.dir);
    cr_assert_neq(access(path, F_OK), 0, "a job directory was made for no output");
    /* stderr only: that stream alone gets its name */
    const exec_result_t *r = run_sh(&f, 74, "echo to-err >&2");
    cr_assert(!r->start_failed, "%s", r->error);
    cr_assert_eq(worker_exec_log_open(f.x, 7, "train", 74, 0, 1), -ENOENT);
    cr_assert_gt(worker_exec_log_path(f.x, 7, "train", 74, 0, 2, path, sizeof(path)), 0);
    expect_mode_owner(path, 0600, geteuid());
    char *text = read_log(&f, 74, 2);
    cr_assert_str_eq(text, "to-err\n");
    free(text);
    fx_fini(&f);
}

/* A free file of the pool that was changed while free (here a hard link
 * to it, as a process of its user that kept an O_PATH descriptor could
 * make) is never handed to a task again: the next task's output does not
 * reach the link. */
LEAK_TEST(exec, a_pool_file_linked_while_free_is_not_reused)
{
    struct fx f;
    char pool[4200], from[4600], kept[4200];
    fx_init(&f);
    const exec_result_t *r = run_sh(&f, 80, "true"); /* both files back in the pool */
    cr_assert(!r->start_failed, "%s", r->error);
    snprintf(pool, sizeof(pool), "%s/logs/.pool", f.dir);
    DIR *d = opendir(pool);
    cr_assert_not_null(d);
    int linked = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        snprintf(from, sizeof(from), "%s/%s", pool, de->d_name);
        snprintf(kept, sizeof(kept), "%s/kept-%d", f.dir, linked++);
        cr_assert_eq(link(from, kept), 0, "%s: %s", from, strerror(errno));
    }
    closedir(d);
    cr_assert_eq(linked, 2, "two free files in the pool");
    r = run_sh(&f, 81, "echo out; echo err >&2");
    cr_assert(!r->start_failed, "%s", r->error);
    for (int i = 0; i < linked; i++) {
        struct stat st;
        snprintf(kept, sizeof(kept), "%s/kept-%d", f.dir, i);
        cr_assert_eq(stat(kept, &st), 0);
        cr_expect_eq(st.st_size, 0, "the task wrote into a file linked from %s", kept);
    }
    char *text = read_log(&f, 81, 1);
    cr_expect_str_eq(text, "out\n");
    free(text);
    fx_fini(&f);
}

/* A reader (`cairn logs --follow`) that opened a running task's log
 * before it wrote anything reads what it writes later, and the log
 * keeps its content when it gets its name at the end. */
LEAK_TEST(exec, a_log_opened_before_the_output_reads_it)
{
    struct fx f;
    char script[512], gate[128], path[4200];
    struct stat held, named;
    fx_init(&f);
    snprintf(gate, sizeof(gate), "%s/gate", f.dir);
    snprintf(script, sizeof(script),
             "while [ ! -e %s ]; do sleep 0.01; done; echo late; touch %s.done; sleep 0.2", gate,
             gate);
    const char *argv[] = {script};
    exec_spec_t s = spec_of(75, 1, argv, true);
    start_ok(&f, &s);
    wait_started(&f, 1);
    int fd = worker_exec_log_open(f.x, 7, "train", 75, 0, 1);
    cr_assert_geq(fd, 0, "a running task's log: %s", strerror(-fd));
    char buf[64] = {0};
    cr_assert_eq(read(fd, buf, sizeof(buf) - 1), 0, "output before the gate: %s", buf);
    close(open(gate, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    char done[160];
    snprintf(done, sizeof(done), "%s.done", gate);
    cr_assert(run_until(&f, file_exists, done, 5000), "the task did not write");
    cr_assert_eq(pread(fd, buf, sizeof(buf) - 1, 0), 5);
    cr_assert_str_eq(buf, "late\n");
    wait_exited(&f, 1, 10000);
    cr_assert_gt(worker_exec_log_path(f.x, 7, "train", 75, 0, 1, path, sizeof(path)), 0);
    cr_assert_eq(fstat(fd, &held), 0);
    cr_assert_eq(stat(path, &named), 0, "%s: %s", path, strerror(errno));
    cr_assert(held.st_ino == named.st_ino && held.st_dev == named.st_dev,
              "the named log is another file");
    close(fd);
    char *text = read_log(&f, 75, 1);
    cr_assert_str_eq(text, "late\n");
    free(text);
    fx_fini(&f);
}

/* A worker killed while its task wrote leaves the task's log unnamed; the
 * next worker on its state directory gives it its name (the pool's index
 * says whose it is), so `cairn logs` still reads it. */
Test(exec, the_log_of_a_task_of_a_dead_worker_is_named_by_the_next)
{
    int fds[2];
    char dir[64] = {0};
    cr_assert_eq(pipe(fds), 0);
    pid_t worker = fork();
    cr_assert_geq(worker, 0);
    if (worker == 0) {
        struct fx f;
        const char *argv[] = {"echo before the kill; echo on stderr >&2; exec sleep 1000"};
        exec_spec_t s = spec_of(76, 1, argv, true);
        close(fds[0]);
        fx_init(&f);
        start_ok(&f, &s);
        struct log_text wrote = {76, "before the kill"};
        if (!run_until(&f, log_holds, &wrote, 5000))
            _exit(1);
        (void)!write(fds[1], f.dir, sizeof(f.dir));
        for (;;)
            pause(); /* killed below */
    }
    close(fds[1]);
    ssize_t n = read(fds[0], dir, sizeof(dir));
    close(fds[0]);
    kill(worker, SIGKILL);
    cr_assert_eq(waitpid(worker, NULL, 0), worker);
    cr_assert_eq(n, (ssize_t)sizeof(dir), "the first worker's task never wrote");
    struct fx f;
    memset(&f, 0, sizeof(f));
    snprintf(f.dir, sizeof(f.dir), "%s", dir);
    cr_assert_eq(uv_loop_init(&f.loop), 0);
    fx_create(&f, "");
    char path[4200];
    cr_assert_gt(worker_exec_log_path(f.x, 7, "train", 76, 0, 1, path, sizeof(path)), 0);
    char *text = slurp(path);
    cr_assert_str_eq(text, "before the kill\n");
    free(text);
    text = read_log(&f, 76, 2);
    cr_assert_str_eq(text, "on stderr\n");
    free(text);
    fx_fini(&f);
}

/* A log someone still holds open when its task ended (a reader here, an
 * escaped process elsewhere) never goes back to the pool, even empty: it
 * gets its name, and no later task writes into what they hold. */
LEAK_TEST(exec, a_held_log_is_named_even_empty)
{
    struct fx f;
    char script[256], gate[128], path[4200];
    struct stat held, named;
    fx_init(&f);
    snprintf(gate, sizeof(gate), "%s/gate", f.dir);
    snprintf(script, sizeof(script), "while [ ! -e %s ]; do sleep 0.01; done", gate);
    const char *argv[] = {script};
    exec_spec_t s = spec_of(77, 1, argv, true);
    start_ok(&f, &s);
    wait_started(&f, 1);
    int fd = worker_exec_log_open(f.x, 7, "train", 77, 0, 1);
    cr_assert_geq(fd, 0, "a running task's log: %s", strerror(-fd));
    close(open(gate, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    wait_exited(&f, 1, 10000);
    cr_assert_gt(worker_exec_log_path(f.x, 7, "train", 77, 0, 1, path, sizeof(path)), 0);
    cr_assert_eq(stat(path, &named), 0, "a held log went back to the pool");
    cr_assert_eq(fstat(fd, &held), 0);
    cr_assert(held.st_ino == named.st_ino && named.st_size == 0);
    close(fd);
    /* the stream no one held went back, and serves the next task */
    cr_assert_gt(worker_exec_log_path(f.x, 7, "train", 77, 0, 2, path, sizeof(path)), 0);
    cr_assert_neq(access(path, F_OK), 0, "an empty log no one held was named");
    const exec_result_t *r = run_sh(&f, 78, "echo next");
    cr_assert(!r->start_failed, "%s", r->error);
    cr_assert_gt(worker_exec_log_path(f.x, 7, "train", 78, 0, 1, path, sizeof(path)), 0);
    cr_assert_eq(stat(path, &named), 0);
    cr_assert(named.st_ino != held.st_ino, "the next task wrote into the held file");
    char *text = read_log(&f, 78, 1);
    cr_assert_str_eq(text, "next\n");
    free(text);
    fx_fini(&f);
}

/* ---- what the log pool says, and whose logs it serves --------------------- */

/* The executor's log, kept in memory for the test to read. */
struct logbuf {
    cairn_log_t log;
    char *text;
    size_t len;
};

static void logbuf_open(struct logbuf *b)
{
    memset(b, 0, sizeof(*b));
    b->log.f = open_memstream(&b->text, &b->len);
    cr_assert_not_null(b->log.f);
    b->log.min = CAIRN_LOG_INFO;
    b->log.prog = "test";
}

/* How many times the log says what. */
static int logbuf_count(struct logbuf *b, const char *what)
{
    fflush(b->log.f);
    int n = 0;
    for (const char *p = b->text; p && (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

static void logbuf_close(struct logbuf *b)
{
    fclose(b->log.f);
    free(b->text);
}

/* A fresh executor on a new state directory, logging into b (opened). */
static void fx_init_logged(struct fx *f, struct logbuf *b)
{
    logbuf_open(b);
    memset(f, 0, sizeof(*f));
    strcpy(f->dir, "/tmp/cairn-exec-XXXXXX");
    cr_assert_not_null(mkdtemp(f->dir));
    cr_assert_eq(uv_loop_init(&f->loop), 0);
    f->log = &b->log;
    fx_create(f, "");
}

/* The executor stopped and made again on its state directory, as a worker
 * that stopped and started again. */
static void fx_restart(struct fx *f)
{
    worker_exec_destroy(f->x);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&f->loop), 0, "a handle was left open");
    cr_assert_eq(uv_loop_init(&f->loop), 0);
    f->nstarted = f->nexited = 0;
    fx_create(f, "");
}

/* How many entries of the log pool's directory begin with prefix. */
static int pool_names(struct fx *f, const char *prefix)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/logs/.pool", f->dir);
    DIR *d = opendir(path);
    cr_assert_not_null(d, "%s: %s", path, strerror(errno));
    int n = 0;
    for (struct dirent *de; (de = readdir(d));)
        n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

/* F_SETLEASE fails for this process and its children, as on a file system
 * without leases (NFS) or without CAP_LEASE: a seccomp filter answers
 * EINVAL. Whether it could be installed. */
static bool no_leases(void)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_fcntl, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, F_SETLEASE, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EINVAL & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
           prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

/* Without leases the pool cannot tell that no process holds a file: it
 * reuses none (every log is named, empty ones too), and says so once,
 * with what it costs. */
Test(exec, a_pool_without_leases_says_so_once)
{
    struct fx f;
    struct logbuf b;
    if (!no_leases())
        cr_skip_test("no seccomp filter here: %s", strerror(errno));
    int probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cr_assert_eq(fcntl(probe, F_SETLEASE, F_RDLCK), -1, "the filter lets leases through");
    close(probe);
    fx_init_logged(&f, &b);
    for (uint64_t id = 95; id < 98; id++) {
        const exec_result_t *r = run_sh(&f, id, "true");
        cr_assert(!r->start_failed, "%s", r->error);
        int fd = worker_exec_log_open(f.x, 7, "train", id, 0, 1);
        cr_assert_geq(fd, 0, "the empty log of %" PRIu64 " is not kept: %s", id, strerror(-fd));
        close(fd);
    }
    cr_assert_eq(logbuf_count(&b, "no file lease can be taken"), 1, "said %d times:\n%s",
                 logbuf_count(&b, "no file lease can be taken"), b.text ? b.text : "");
    cr_assert_eq(logbuf_count(&b, "it reuses none"), 1, "what it costs is not said");
    fx_fini(&f);
    logbuf_close(&b);
}

/* After a machine crash the pool's index may hold the record of an earlier
 * file of a number (records are not synced): the file there now, with
 * another task's output, is not the one its record names. It is not named
 * as that record's log (which keeps its content), but moved out of the
 * pool's numbering and said. */
Test(exec, a_pool_file_that_is_not_its_records_is_not_named)
{
    struct fx f;
    struct logbuf b;
    char path[4300];
    logbuf_open(&b);
    fx_init(&f);
    const exec_result_t *r = run_sh(&f, 92, "echo the-first-users-log");
    cr_assert(!r->start_failed, "%s", r->error);
    char *text = read_log(&f, 92, 1);
    cr_assert_str_eq(text, "the-first-users-log\n");
    free(text);
    /* file 1 was named; its record stays in the index. The crash: file 1
     * made again for another user's task, which wrote, and its record
     * never reached the disk */
    worker_exec_destroy(f.x);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&f.loop), 0);
    snprintf(path, sizeof(path), "%s/logs/.pool/1", f.dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, "another-users-output\n", 21), 21);
    cr_assert_eq(fchown(fd, 65534, 65534), 0);
    close(fd);
    cr_assert_eq(uv_loop_init(&f.loop), 0);
    f.log = &b.log;
    fx_create(&f, "");
    text = read_log(&f, 92, 1);
    cr_expect_str_eq(text, "the-first-users-log\n", "another file was named as the log");
    free(text);
    cr_expect_eq(pool_names(&f, "unmatched.1."), 1, "the file is not set aside");
    cr_expect_eq(logbuf_count(&b, "is not the file its index record was written for"), 1,
                 "not said:\n%s", b.text ? b.text : "");
    fx_fini(&f);
    logbuf_close(&b);
}

/* Logs are kept per scheduler (its journal's identity): after the worker
 * registers with another one (the scheduler's state was lost: ids start
 * again), no log of the first is served, neither a named one nor one of an
 * attempt still running then, which is named aside when it ends; the new
 * identity is kept across a restart of the worker. */
Test(exec, logs_of_another_scheduler_are_not_served)
{
    struct fx f;
    struct logbuf b;
    char script[256], gate[128], path[4300];
    cairn_error_t err = {{0}};
    fx_init_logged(&f, &b);
    cr_assert_eq(worker_exec_logs_scheduler(f.x, 0xa, &err), 0, "%s", err.text);
    const exec_result_t *r = run_sh(&f, 93, "echo under-the-first");
    cr_assert(!r->start_failed, "%s", r->error);
    char *text = read_log(&f, 93, 1);
    cr_assert_str_eq(text, "under-the-first\n");
    free(text);
    /* a restart of the same scheduler: nothing moves */
    cr_assert_eq(worker_exec_logs_scheduler(f.x, 0xa, &err), 0, "%s", err.text);
    snprintf(gate, sizeof(gate), "%s/gate", f.dir);
    snprintf(script, sizeof(script),
             "echo running-under-the-first; while [ ! -e %s ]; do sleep 0.01; done", gate);
    const char *argv[] = {script};
    exec_spec_t s = spec_of(94, 1, argv, true);
    start_ok(&f, &s);
    struct log_text wrote = {94, "running-under-the-first"};
    cr_assert(run_until(&f, log_holds, &wrote, 5000), "the task did not write");
    /* another scheduler */
    cr_assert_eq(worker_exec_logs_scheduler(f.x, 0xb, &err), 1, "%s", err.text);
    cr_assert_eq(logbuf_count(&b, "moved aside"), 1, "not said:\n%s", b.text ? b.text : "");
    cr_assert_eq(worker_exec_log_open(f.x, 7, "train", 93, 0, 1), -ENOENT,
                 "a named log of the first scheduler is served");
    cr_assert_eq(worker_exec_log_open(f.x, 7, "train", 94, 0, 1), -ENOENT,
                 "a running attempt's log of the first scheduler is served");
    close(open(gate, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    wait_exited(&f, 2, 10000);
    cr_assert_eq(worker_exec_log_open(f.x, 7, "train", 94, 0, 1), -ENOENT,
                 "the first scheduler's attempt was named as the new one's");
    snprintf(path, sizeof(path), "%s/logs/.old-000000000000000a/7/train.94.0.out", f.dir);
    text = slurp(path);
    cr_assert_str_eq(text, "running-under-the-first\n");
    free(text);
    snprintf(path, sizeof(path), "%s/logs/.old-000000000000000a/7/train.93.0.out", f.dir);
    text = slurp(path);
    cr_assert_str_eq(text, "under-the-first\n");
    free(text);
    /* the worker started again: the new identity is the one recorded */
    fx_restart(&f);
    cr_assert_eq(worker_exec_log_open(f.x, 7, "train", 93, 0, 1), -ENOENT);
    cr_assert_eq(worker_exec_logs_scheduler(f.x, 0xb, &err), 0, "%s", err.text);
    r = run_sh(&f, 93, "echo under-the-second");
    cr_assert(!r->start_failed, "%s", r->error);
    text = read_log(&f, 93, 1);
    cr_assert_str_eq(text, "under-the-second\n");
    free(text);
    fx_fini(&f);
    logbuf_close(&b);
}

/* ---- checkpoints (issue 22) ---------------------------------------------- */

/* A directory dir/name made for user uid (mode). */
static void mkdir_for(const char *dir, const char *name, uid_t uid, mode_t mode, char *out,
                      size_t len)
{
    snprintf(out, len, "%s/%s", dir, name);
    cr_assert_eq(mkdir(out, mode), 0, "mkdir %s: %s", out, strerror(errno));
    cr_assert_eq(chown(out, uid, (gid_t)-1), 0);
    cr_assert_eq(chmod(out, mode), 0);
}

/* CAIRN_CHECKPOINT_DIR is the directory the spec names, relative to the
 * workdir, made (with its parents) by and for the task's user, private,
 * and the same on a second attempt, which finds what the first left. */
LEAK_TEST(exec, checkpoint_dir_is_the_tasks_and_the_same_on_every_attempt)
{
    struct fx f;
    struct passwd *pw = getpwnam("nobody");
    if (geteuid() != 0 || !pw)
        cr_skip_test("needs root and a nobody account: the task runs as nobody");
    uid_t nobody = pw->pw_uid;
    fx_init(&f);
    cr_assert_eq(chmod(f.dir, 0711), 0); /* nobody passes through to its workdir */
    char wd[256], got[2][4200], want[4200], path[4300];
    mkdir_for(f.dir, "wd", nobody, 0755, wd, sizeof(wd));
    const char *argv[] = {"printf %s \"$CAIRN_CHECKPOINT_DIR\" > dir.$CAIRN_ATTEMPT && "
                          "cat \"$CAIRN_CHECKPOINT_DIR/state\" 2>/dev/null >> dir.$CAIRN_ATTEMPT; "
                          "echo $CAIRN_ATTEMPT > \"$CAIRN_CHECKPOINT_DIR/state\""};
    for (uint32_t i = 0; i < 2; i++) {
        exec_spec_t s = spec_of(300 + i, 1, argv, true);
        s.user = "nobody";
        s.workdir = wd;
        s.attempt_number = i + 1;
        s.checkpoint_dir = "./.cairn-checkpoints//job-7/0-train/";
        start_ok(&f, &s);
        wait_exited(&f, (int)i + 1, 10000);
        const exec_result_t *r = result_of(&f, 300 + i);
        if (r->start_failed) {
            char *e = read_log(&f, 300 + i, 2);
            cr_assert_fail("%s: %s", r->error, e);
        }
        cr_expect_eq(r->exit_code, 0);
        snprintf(want, sizeof(want), "%s/.cairn-checkpoints/job-7/0-train", wd);
        cr_expect_str_eq(r->checkpoint_dir, want);
        snprintf(path, sizeof(path), "%s/dir.%u", wd, i + 1);
        char *text = slurp(path);
        snprintf(got[i], sizeof(got[i]), "%s", text);
        free(text);
    }
    snprintf(want, sizeof(want), "%s/.cairn-checkpoints/job-7/0-train", wd);
    cr_expect_str_eq(got[0], want); /* fresh: nothing there */
    cr_expect(strncmp(got[1], want, strlen(want)) == 0, "%s", got[1]);
    cr_expect_str_eq(got[1] + strlen(want), "1\n"); /* what attempt 1 left */
    expect_mode_owner(want, 0700, nobody);
    snprintf(path, sizeof(path), "%s/.cairn-checkpoints", wd);
    expect_mode_owner(path, 0700, nobody);
    fx_fini(&f);
}

/* A checkpoint directory the task's user may not make, or that is not
 * theirs, or that climbs out with "..", fails the start with a message
 * naming it; nothing is made for the task elsewhere. */
LEAK_TEST(exec, checkpoint_dir_elsewhere_is_refused)
{
    struct fx f;
    struct passwd *pw = getpwnam("nobody");
    if (geteuid() != 0 || !pw)
        cr_skip_test("needs root and a nobody account: the task runs as nobody");
    uid_t nobody = pw->pw_uid;
    fx_init(&f);
    cr_assert_eq(chmod(f.dir, 0711), 0);
    char wd[256], rootdir[256], shared[256], path[512];
    mkdir_for(f.dir, "wd", nobody, 0755, wd, sizeof(wd));
    mkdir_for(f.dir, "root", 0, 0755, rootdir, sizeof(rootdir));
    mkdir_for(f.dir, "shared", 0, 0777, shared, sizeof(shared));
    const char *argv[] = {"touch ran"};
    cairn_error_t err = {{0}};
    exec_spec_t s = spec_of(310, 1, argv, true);
    s.user = "nobody";
    s.workdir = wd;
    /* "..": refused before anything is made */
    s.checkpoint_dir = "../../etc";
    cr_assert_eq(worker_exec_start(f.x, &s, &err), 0);
    wait_exited(&f, 1, 10000);
    cr_expect(result_of(&f, 310)->start_failed);
    cr_expect(strstr(result_of(&f, 310)->error, "checkpoint directory ../../etc: '..' in path"),
              "%s", result_of(&f, 310)->error);
    /* root's directory: nobody cannot make anything there */
    snprintf(path, sizeof(path), "%s/ckpt", rootdir);
    s.attempt_id = 311;
    s.checkpoint_dir = path;
    start_ok(&f, &s);
    wait_exited(&f, 2, 10000);
    cr_expect(result_of(&f, 311)->start_failed);
    cr_expect(strstr(result_of(&f, 311)->error, "cannot make the checkpoint directory"), "%s",
              result_of(&f, 311)->error);
    cr_expect(strstr(result_of(&f, 311)->error, "Permission denied"), "%s",
              result_of(&f, 311)->error);
    cr_expect_neq(access(path, F_OK), 0);
    /* a directory nobody may write to but that is root's: not its own */
    s.attempt_id = 312;
    s.checkpoint_dir = shared;
    start_ok(&f, &s);
    wait_exited(&f, 3, 10000);
    cr_expect(result_of(&f, 312)->start_failed);
    cr_expect(strstr(result_of(&f, 312)->error, "not the task's user's"), "%s",
              result_of(&f, 312)->error);
    snprintf(path, sizeof(path), "%s/ran", wd);
    cr_expect_neq(access(path, F_OK), 0, "a refused task ran");
    /* out of range signals */
    s.attempt_id = 313;
    s.checkpoint_dir = NULL;
    s.checkpoint_signal = 65;
    cr_expect_eq(worker_exec_start(f.x, &s, &err), -EINVAL);
    cr_expect(strstr(err.text, "checkpoint signal 65 out of range"), "%s", err.text);
    cr_expect_eq(worker_exec_cancel_signal(f.x, 313, 99, 10), -EINVAL);
    fx_fini(&f);
}

/* A preemption: the task gets its checkpoint signal (not SIGTERM), writes
 * its checkpoint and exits within the grace; one that ignores the signal
 * is killed when the grace ends. Both end cancelled. */
LEAK_TEST(exec, preemption_signal_then_kill_after_the_grace)
{
    struct fx f;
    fx_init(&f);
    char ready[2][256], ckpt[256];
    snprintf(ready[0], sizeof(ready[0]), "%s/ready0", f.dir);
    snprintf(ready[1], sizeof(ready[1]), "%s/ready1", f.dir);
    snprintf(ckpt, sizeof(ckpt), "%s/ckpt", f.dir);
    char script[2][1024];
    /* TERM would end it with no checkpoint: only USR1 writes one */
    snprintf(script[0], sizeof(script[0]),
             "trap 'printf state > \"$CAIRN_CHECKPOINT_DIR/w.ckpt\"; exit 0' USR1; "
             "trap 'exit 9' TERM; touch %s; while :; do sleep 0.05; done",
             ready[0]);
    snprintf(script[1], sizeof(script[1]), "trap '' USR1; touch %s; exec sleep 30", ready[1]);
    for (int i = 0; i < 2; i++) {
        const char *argv[] = {script[i]};
        exec_spec_t s = spec_of(320 + (uint64_t)i, 1, argv, true);
        s.checkpoint_dir = ckpt;
        start_ok(&f, &s);
        cr_assert(run_until(&f, file_exists, ready[i], 10000), "task %d not ready", i);
        cr_assert_eq(worker_exec_cancel_signal(f.x, 320 + (uint64_t)i, SIGUSR1, i ? 300 : 20000),
                     0);
        wait_exited(&f, i + 1, 20000);
    }
    const exec_result_t *r = result_of(&f, 320);
    cr_expect(r->cancelled);
    cr_expect_eq(r->signal, 0);
    cr_expect_eq(r->exit_code, 0, "exit %d: not the checkpoint signal's handler", r->exit_code);
    char path[512];
    snprintf(path, sizeof(path), "%s/w.ckpt", ckpt);
    char *text = slurp(path);
    cr_expect_str_eq(text, "state");
    free(text);
    r = result_of(&f, 321);
    cr_expect(r->cancelled);
    cr_expect_eq(r->signal, SIGKILL, "ended by signal %d", r->signal);
    cr_expect_geq(r->end_ms - r->start_ms, 300, "killed before its grace ended");
    fx_fini(&f);
}

/* signal_before_limit: the checkpoint signal arrives that long before the
 * time limit, which then ends the attempt as timed out. */
LEAK_TEST(exec, signal_before_limit_then_the_time_limit)
{
    struct fx f;
    fx_init(&f);
    char got[256], script[1024];
    snprintf(got, sizeof(got), "%s/got", f.dir);
    snprintf(script, sizeof(script), "trap 'date +%%s%%3N > %s' USR2; while :; do sleep 0.05; done",
             got);
    const char *argv[] = {script};
    exec_spec_t s = spec_of(330, 1, argv, true);
    s.time_limit_ms = 1500;
    s.signal_before_limit_ms = 1000;
    s.checkpoint_signal = SIGUSR2;
    start_ok(&f, &s);
    wait_exited(&f, 1, 20000);
    const exec_result_t *r = result_of(&f, 330);
    cr_expect(r->timed_out);
    cr_expect_not(r->cancelled);
    char *text = slurp(got);
    long long at = atoll(text);
    free(text);
    cr_assert_gt(at, 0, "the signal never came");
    /* after the start plus (limit - before), before the end */
    cr_expect_geq(at, r->start_ms + 500 - 10, "signalled %lld ms after the start",
                  at - r->start_ms);
    cr_expect_lt(at, r->end_ms, "signalled after the end");
    fx_fini(&f);
}
