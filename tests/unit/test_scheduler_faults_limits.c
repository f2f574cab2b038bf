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

#include "faults_harness.h"

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
    Cairn__TaskSpec t = h_shell_task(name, script, a, &rr);
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
    int64_t deadline = cairn_mono_ms() + 5000;
    int n;
    while ((n = fd_count(r->w.pid)) > r->fds && cairn_mono_ms() < deadline) {
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
    int64_t t0 = cairn_mono_ms();
    Cairn__JobStatusReply *st = run_one(&r, "slow", script, 700, 20000);
    int64_t took = cairn_mono_ms() - t0;
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
    int64_t t0 = cairn_mono_ms();
    Cairn__JobStatusReply *st = run_one(&r, "flood", script, 0, 40000);
    fprintf(stderr, "faults: 50 MB of output in %lld ms\n", (long long)(cairn_mono_ms() - t0));
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
