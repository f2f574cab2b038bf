/* Fault injection at the task level, with a real scheduler and a real
 * worker: a task over its time limit (ignoring SIGTERM) is killed within
 * the limit and the grace; a task that forks children (one of them in a new
 * session) and dies leaves none of them behind; a task that writes 50 MB
 * to its log as fast as it can is served in bounded pieces. After each the
 * worker is alive, serves the next task, and holds no more descriptors
 * than before. */
#include "leak_check.h"
#include "sched_harness.h"

#include <dirent.h>

/* --- helpers shared by the fault tests (copied in each file) -------------- */
#define FX_UNUSED __attribute__((unused))

typedef struct fx_proc {
    pid_t pid;
    char name[32], dir[300];
} fx_proc_t;

/* Start a real cairn-worker; prefix (NULL-terminated, may be NULL) runs it
 * through a wrapper (ip netns exec NS). */
static FX_UNUSED void fx_worker_start(const char *url, const char *base, fx_proc_t *w,
                                      const char *name, const char *topo,
                                      const char *const *prefix)
{
    snprintf(w->name, sizeof(w->name), "%s", name);
    snprintf(w->dir, sizeof(w->dir), "%s/%s", base, name);
    static char bin[512], topo_path[512], log[400];
    snprintf(bin, sizeof(bin), "%s/cairn-worker", CAIRN_BIN_DIR);
    snprintf(topo_path, sizeof(topo_path), "%s/%s", CAIRN_TOPO_DIR, topo);
    snprintf(log, sizeof(log), "%s.log", w->dir);
    const char *argv[32];
    int n = 0;
    for (int i = 0; prefix && prefix[i]; i++)
        argv[n++] = prefix[i];
    const char *rest[] = {bin, "--scheduler", url, "--state-dir", w->dir, "--name", name,
                          "--topology", topo_path, "--log-file", log, "--log-level", "debug",
                          NULL};
    for (int i = 0; rest[i]; i++)
        argv[n++] = rest[i];
    argv[n] = NULL;
    w->pid = fork();
    cr_assert_geq(w->pid, 0);
    if (w->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
}

static FX_UNUSED void fx_proc_kill(fx_proc_t *w, int sig)
{
    if (w->pid <= 0)
        return;
    kill(w->pid, sig);
    int64_t deadline = h_now_ms() + 10000;
    while (waitpid(w->pid, NULL, WNOHANG) == 0) {
        if (h_now_ms() > deadline) {
            kill(w->pid, SIGKILL);
            waitpid(w->pid, NULL, 0);
            break;
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL); /* polling a child's exit */
    }
    w->pid = 0;
}

static FX_UNUSED bool fx_alive(pid_t pid)
{
    return pid > 0 && waitpid(pid, NULL, WNOHANG) == 0;
}

static FX_UNUSED int fx_node_state(h_sched_t *s, const char *name, size_t *up)
{
    Cairn__NodesRequest req = CAIRN__NODES_REQUEST__INIT;
    cairn_error_t err = {{0}};
    Cairn__NodesReply *rep =
        (Cairn__NodesReply *)h_call(s, CAIRN_MSG_NODES, &req.base, CAIRN_MSG_NODES_REPLY, &err);
    cr_assert_not_null(rep, "%s", err.text);
    int state = -1;
    size_t n = 0;
    for (size_t i = 0; i < rep->n_nodes; i++) {
        n += rep->nodes[i]->state == CAIRN__NODE_STATE__NODE_STATE_UP;
        if (name && strcmp(rep->nodes[i]->name, name) == 0)
            state = rep->nodes[i]->state;
    }
    cairn_msg_free(&rep->base);
    if (up)
        *up = n;
    return state;
}

static FX_UNUSED void fx_wait_nodes(h_sched_t *s, size_t n, int64_t timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    size_t up = 0;
    for (;;) {
        fx_node_state(s, NULL, &up);
        if (up == n)
            return;
        cr_assert_lt(h_now_ms(), deadline, "%zu nodes up, not %zu", up, n);
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL); /* polling the condition */
    }
}

static FX_UNUSED bool fx_job_ended(const Cairn__JobStatusReply *st)
{
    return st->job->state >= CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED;
}

/* Poll job status until pred holds or the deadline passes (fails then). */
static FX_UNUSED Cairn__JobStatusReply *fx_wait_status(h_sched_t *s, uint64_t job,
                                                       bool (*pred)(const Cairn__JobStatusReply *),
                                                       int64_t timeout_ms, const char *what)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    for (;;) {
        Cairn__JobStatusReply *st = h_status(s, job);
        if (pred(st))
            return st;
        cairn_msg_free(&st->base);
        cr_assert_lt(h_now_ms(), deadline, "job %llu: %s not reached in time",
                     (unsigned long long)job, what);
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL); /* polling the condition */
    }
}

static FX_UNUSED Cairn__TaskSpec fx_shell_task(const char *name, const char *script,
                                               char **argv_store, Cairn__ResourceRequest *rr)
{
    Cairn__TaskSpec t = CAIRN__TASK_SPEC__INIT;
    argv_store[0] = (char *)script;
    t.name = (char *)name;
    t.shell = 1;
    t.n_argv = 1;
    t.argv = argv_store;
    t.resources = rr;
    return t;
}

/* Is a process whose command line matches the pgrep -f pattern alive?
 * Patterns use a [x] class so that they do not match the shell running pgrep. */
static FX_UNUSED bool fx_pgrep(const char *pattern)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "pgrep -f '%s' >/dev/null", pattern);
    return system(cmd) == 0;
}

static FX_UNUSED void fx_wait_gone(const char *pattern, int64_t timeout_ms, const char *what)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    while (fx_pgrep(pattern)) {
        if (h_now_ms() > deadline)
            cr_assert_fail("%s: a process matching %s is still alive", what, pattern);
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL); /* polling the condition */
    }
}

static FX_UNUSED void fx_wait_file(const char *path, int64_t timeout_ms, const char *what)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    while (access(path, F_OK) != 0) {
        cr_assert_lt(h_now_ms(), deadline, "%s: %s never appeared", what, path);
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL); /* polling the condition */
    }
}

static FX_UNUSED void fx_touch(const char *path)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fclose(f);
}

static FX_UNUSED void fx_rmrf(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", dir);
}
/* --- end of shared helpers ------------------------------------------------ */

static int fd_count(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

typedef struct rig {
    h_sched_t s;
    fx_proc_t w;
    int fds; /* the worker's descriptors after a first task */
} rig_t;

static uint64_t submit_one(rig_t *r, const char *name, const char *script, uint64_t limit_ms)
{
    Cairn__ResourceRequest rr = CAIRN__RESOURCE_REQUEST__INIT;
    rr.cpus = 1;
    Cairn__RetryPolicy retry = CAIRN__RETRY_POLICY__INIT;
    retry.max_attempts = 1;
    char *a[1];
    Cairn__TaskSpec t = fx_shell_task(name, script, a, &rr);
    t.time_limit_ms = limit_ms;
    t.retry = &retry;
    Cairn__TaskSpec *tp[] = {&t};
    return h_submit_tasks(&r->s, name, tp, 1);
}

static Cairn__JobStatusReply *run_one(rig_t *r, const char *name, const char *script,
                                      uint64_t limit_ms, int64_t timeout_ms)
{
    uint64_t job = submit_one(r, name, script, limit_ms);
    return fx_wait_status(&r->s, job, fx_job_ended, timeout_ms, name);
}

/* The worker still serves: a next task succeeds; its descriptors are back
 * to what they were after the first task. */
static void still_serving(rig_t *r)
{
    Cairn__JobStatusReply *st = run_one(r, "next", "echo next", 0, 15000);
    cr_expect_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED,
                 "the worker no longer serves tasks");
    cairn_msg_free(&st->base);
    cr_assert(fx_alive(r->w.pid), "the worker died");
    int64_t deadline = h_now_ms() + 5000;
    int n;
    while ((n = fd_count(r->w.pid)) > r->fds && h_now_ms() < deadline) {
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL); /* polling the condition */
    }
    cr_expect_leq(n, r->fds, "the worker holds %d descriptors, %d before", n, r->fds);
}

static void rig_start(rig_t *r)
{
    static const char *const args[] = {"--heartbeat-interval", "200ms", "--kill-grace", "300ms",
                                       NULL};
    memset(r, 0, sizeof(*r));
    h_sched_init(&r->s);
    h_sched_start(&r->s, args);
    fx_worker_start(r->s.workers, r->s.dir, &r->w, "lim", "cpu-only-1s.xml", NULL);
    fx_wait_nodes(&r->s, 1, 15000);
    Cairn__JobStatusReply *st = run_one(r, "warmup", "echo warm", 0, 15000);
    cr_assert_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED);
    cairn_msg_free(&st->base);
    r->fds = fd_count(r->w.pid);
    cr_assert_gt(r->fds, 0);
}

static void rig_stop(rig_t *r)
{
    fx_proc_kill(&r->w, SIGTERM);
    h_sched_stop(&r->s, SIGTERM);
    h_sched_fini(&r->s);
}

Test(faults, time_limit_kills_a_task_ignoring_sigterm, .timeout = 60)
{
    rig_t r;
    rig_start(&r);
    char marker[64], pat[64], script[300];
    snprintf(marker, sizeof(marker), "51.%d", (int)getpid());
    snprintf(pat, sizeof(pat), "sleep 51[.]%d", (int)getpid());
    /* ignores SIGTERM, so only the SIGKILL after the grace ends it */
    snprintf(script, sizeof(script), "trap '' TERM; sleep %s & sleep %s; wait", marker, marker);
    int64_t t0 = h_now_ms();
    Cairn__JobStatusReply *st = run_one(&r, "slow", script, 700, 20000);
    int64_t took = h_now_ms() - t0;
    cr_expect_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_FAILED);
    cr_assert_eq(st->tasks[0]->n_attempts, 1, "no retry: max_attempts 1");
    const Cairn__AttemptInfo *a = st->tasks[0]->attempts[0];
    cr_expect_eq(a->end_reason, CAIRN__END_REASON__END_REASON_TIMED_OUT, "end reason %d",
                 a->end_reason);
    int64_t ran = a->end_time_ms - a->start_time_ms;
    cr_expect_geq(ran, 650, "killed before its limit: %lld ms", (long long)ran);
    cr_expect_leq(ran, 700 + 300 + 2000, "limit 700 ms + grace 300 ms, ran %lld ms",
                  (long long)ran);
    fprintf(stderr, "faults: time-limited attempt ran %lld ms (job ended in %lld ms)\n",
            (long long)ran, (long long)took);
    cairn_msg_free(&st->base);
    fx_wait_gone(pat, 5000, "time limit");
    still_serving(&r);
    rig_stop(&r);
}

Test(faults, forking_task_dies_and_leaves_no_children, .timeout = 60)
{
    rig_t r;
    rig_start(&r);
    char pat[64], script[600];
    int me = (int)getpid();
    snprintf(pat, sizeof(pat), "sleep 52[.]%d", me);
    /* a child in its process group, a double-forked one, one in a new
     * session: all must die with the task */
    snprintf(script, sizeof(script),
             "sleep 52.%d1 & (sleep 52.%d2 &); setsid sleep 52.%d3 & "
             "sh -c 'trap \"\" TERM HUP; exec sleep 52.%d4' & sleep 0.2; exit 3",
             me, me, me, me);
    Cairn__JobStatusReply *st = run_one(&r, "forker", script, 0, 20000);
    cr_expect_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_FAILED);
    const Cairn__AttemptInfo *a = st->tasks[0]->attempts[0];
    cr_expect_eq(a->end_reason, CAIRN__END_REASON__END_REASON_EXIT_NONZERO);
    cr_expect_eq(a->exit_code, 3);
    cairn_msg_free(&st->base);
    /* the task is reported ended once its tree is gone (a setsid child may
     * need the next periodic scan) */
    fx_wait_gone(pat, 5000, "forking task");
    still_serving(&r);
    rig_stop(&r);
}

#define FLOOD_BYTES 50000000ull

Test(faults, log_flood_is_served_in_bounded_pieces, .timeout = 60)
{
    rig_t r;
    rig_start(&r);
    char script[200];
    snprintf(script, sizeof(script), "yes | head -c %llu; echo bye >&2", FLOOD_BYTES);
    int64_t t0 = h_now_ms();
    Cairn__JobStatusReply *st = run_one(&r, "flood", script, 0, 40000);
    fprintf(stderr, "faults: 50 MB of output in %lld ms\n", (long long)(h_now_ms() - t0));
    cr_expect_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED);
    cairn_msg_free(&st->base);
    uint64_t job = 0;
    {
        Cairn__ListJobsRequest lr = CAIRN__LIST_JOBS_REQUEST__INIT;
        cairn_error_t err = {{0}};
        Cairn__ListJobsReply *jr = (Cairn__ListJobsReply *)h_call(
            &r.s, CAIRN_MSG_LIST_JOBS, &lr.base, CAIRN_MSG_LIST_JOBS_REPLY, &err);
        cr_assert_not_null(jr, "%s", err.text);
        for (size_t i = 0; i < jr->n_jobs; i++)
            if (strcmp(jr->jobs[i]->name, "flood") == 0)
                job = jr->jobs[i]->job_id;
        cairn_msg_free(&jr->base);
    }
    cr_assert_neq(job, 0);
    /* a read with the default size: a bounded piece, never the whole log */
    Cairn__LogsRequest req = CAIRN__LOGS_REQUEST__INIT;
    req.job_id = job;
    req.task = "flood";
    req.stream = CAIRN__LOG_STREAM__LOG_STREAM_STDOUT;
    cairn_error_t err = {{0}};
    Cairn__LogsReply *lg =
        (Cairn__LogsReply *)h_call(&r.s, CAIRN_MSG_LOGS, &req.base, CAIRN_MSG_LOGS_REPLY, &err);
    cr_assert_not_null(lg, "%s", err.text);
    cr_expect(!lg->error || !*lg->error, "%s", lg->error);
    cr_expect_gt(lg->data.len, 0);
    cr_expect_lt(lg->data.len, 16u << 20, "one reply of %zu bytes", lg->data.len);
    cr_expect_eq(lg->next_offset, lg->data.len);
    cr_expect(lg->data.len >= 2 && memcmp(lg->data.data, "y\n", 2) == 0);
    cr_expect(!lg->eof);
    cairn_msg_free(&lg->base);
    /* the end of the log: every byte was kept */
    req.offset = FLOOD_BYTES - 1000;
    req.max_bytes = 4096;
    lg = (Cairn__LogsReply *)h_call(&r.s, CAIRN_MSG_LOGS, &req.base, CAIRN_MSG_LOGS_REPLY, &err);
    cr_assert_not_null(lg, "%s", err.text);
    cr_expect(!lg->error || !*lg->error, "%s", lg->error);
    cr_expect_eq(lg->data.len, 1000);
    cr_expect_eq(lg->next_offset, FLOOD_BYTES);
    cr_expect(lg->eof, "the whole log was read");
    cairn_msg_free(&lg->base);
    req.stream = CAIRN__LOG_STREAM__LOG_STREAM_STDERR;
    req.offset = 0;
    lg = (Cairn__LogsReply *)h_call(&r.s, CAIRN_MSG_LOGS, &req.base, CAIRN_MSG_LOGS_REPLY, &err);
    cr_assert_not_null(lg, "%s", err.text);
    cr_expect(lg->data.len == 4 && memcmp(lg->data.data, "bye\n", 4) == 0);
    cairn_msg_free(&lg->base);
    still_serving(&r);
    rig_stop(&r);
}
