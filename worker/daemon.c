/* The worker daemon; see daemon.h.
 *
 * Design note: loop phases and threading rules.
 *
 * Everything runs on one libuv loop thread; no lock is taken anywhere in
 * the worker. nng's own threads only touch the cairn_net bridge (a locked
 * pipe-event queue drained by a uv_async_t); messages are read from nng's
 * receive fd by a uv_poll_t, so every message and connection event is
 * handled on the loop. In one loop iteration:
 *
 *   timers   heartbeat (link.c) -> every few beats a resource report;
 *            registration reply timeout / backoff (link.c); the executor's
 *            sampling, grace and time-limit timers (exec*.c)
 *   poll     scheduler messages (cairn_net): AssignTask spawns the task
 *            right here, synchronously, so there is no polling delay;
 *            CancelTask signals it; ReadLog reads the log file (bounded,
 *            1 MiB) and answers; RegisterReply, HeartbeatReply, Ack drive
 *            the link; the executor's process exits, start-status pipes
 *            and drain timers call started() / exited(): task events
 *   async    connection added / lost (cairn_net): (re)register with the
 *            attempts still running
 *   signal   SIGTERM / SIGINT: kill every task, report nothing, close
 *            every handle; uv_run() then returns
 *
 * Attempts are named by id (one replica per node), never by pointer,
 * across the executor, the link and the scheduler. The daemon keeps its
 * own table of attempts (job, task name, rank, running, stale) because the
 * protocol's ReadLog and the executor's log paths need them after an
 * attempt ended; ended attempts are forgotten oldest first beyond
 * DAEMON_ENDED_KEEP.
 *
 * An attempt that declared outputs is reported once they are hashed
 * (outputs.c): the hashing runs on libuv's thread pool (uv_queue_work;
 * only an atomic cancel flag is shared with it) and its EXITED event is
 * queued from the work's completion callback, on the loop. Until then the
 * attempt counts as running here (a CancelTask is ignored, an attempt
 * queued behind it waits) and Register lists it in ended_unacked.
 *
 * Blocking work on the loop thread is bounded: NVML queries (every few
 * heartbeats, only with NVIDIA GPUs), /proc reads, one log read of at most
 * 1 MiB per ReadLog, and the executor's waits at create (leftovers) and
 * destroy (reaping), each at most 2 s.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "assign.h"
#include "discover.h"
#include "exec.h"
#include "net.h"
#include "outputs.h"
#include "register_msg.h"
#include "report.h"
#include "resources.h"

#define DAEMON_REPORT_EVERY 3
#define DAEMON_LOG_READ_MAX (1u << 20)
#define DAEMON_ENDED_KEEP 1024
#define DAEMON_ENDED_SWEEP 256
/* worker_exec_cancel() takes <= 0 as "the spec's grace": 1 ms is at once */
#define DAEMON_STALE_GRACE_MS 1

typedef struct daemon_attempt {
    uint64_t id, job_id;
    uint32_t rank;
    char *task_name;
    bool running;              /* its final event is not queued yet */
    bool stale;                /* not adopted by the scheduler: killed, never reported */
    uint64_t after;            /* queued: started when this attempt ends */
    uint64_t next;             /* the attempt queued behind this one, 0: none */
    Cairn__AssignTask *queued; /* the assignment, until then */
    exec_prepared_t *prepared; /* queued right behind a started one: its start, prepared */
    bool gpus;                 /* it has GPUs */
    uint64_t ended;            /* order of ending, for forgetting the oldest */
    char **outputs;            /* declared outputs, hashed when it ends */
    uint32_t noutputs;
    worker_outputs_t *hashing;   /* ended: hashing its outputs (or checking a cache hit) */
    Cairn__AssignTask *checking; /* a cache hit being checked: run this if it misses */
    exec_result_t *result;       /* while hashing: how it ended */
} daemon_attempt_t;

struct worker_daemon {
    uv_loop_t *loop;
    FILE *log;
    worker_log_level_t log_level;
    worker_resources_t *res;
    worker_register_msg_t *reg;
    worker_report_t *report;
    worker_exec_t *exec;
    worker_link_t *link;
    uv_signal_t sigterm, sigint;
    int handles_open;
    bool stopped, destroyed;
    uint32_t report_every;
    uint64_t heartbeats;
    daemon_attempt_t *att; /* ascending id */
    size_t natt, att_cap, nended;
    size_t nrunning, nqueued; /* entries running, and of those queued behind another */
    uint64_t end_counter;
    cairn_join_key_t *join_key;
};

/* ---- logging ------------------------------------------------------------- */

static const char *const level_names[] = {
    [WORKER_LOG_DEBUG] = "debug",
    [WORKER_LOG_INFO] = "info",
    [WORKER_LOG_WARN] = "warn",
    [WORKER_LOG_ERROR] = "error",
};

int worker_log_level_parse(const char *s, worker_log_level_t *level)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *level = (worker_log_level_t)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* One line: UTC timestamp with milliseconds, level, text. */
static void log_line(worker_daemon_t *d, worker_log_level_t level, const char *text)
{
    struct timespec ts;
    struct tm tm;
    char when[32];

    if (level < d->log_level)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(d->log, "%s.%03ldZ %-5s %s\n", when, ts.tv_nsec / 1000000, level_names[level], text);
    fflush(d->log);
}

static void dlog(worker_daemon_t *d, worker_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void dlog(worker_daemon_t *d, worker_log_level_t level, const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    if (level < d->log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    log_line(d, level, text);
}

static void link_log_cb(worker_log_level_t level, const char *text, void *arg)
{
    log_line(arg, level, text);
}

/* ---- the attempt table --------------------------------------------------- */

static size_t att_lower_bound(const worker_daemon_t *d, uint64_t id)
{
    size_t lo = 0, hi = d->natt;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->att[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static daemon_attempt_t *att_find(worker_daemon_t *d, uint64_t id)
{
    size_t i = att_lower_bound(d, id);
    return i < d->natt && d->att[i].id == id ? &d->att[i] : NULL;
}

static void att_outputs_free(daemon_attempt_t *a)
{
    for (uint32_t i = 0; i < a->noutputs; i++)
        free(a->outputs[i]);
    free(a->outputs);
    a->outputs = NULL;
    a->noutputs = 0;
}

/* Free what the entry owns; a hashing job is abandoned. */
static void att_fini(worker_daemon_t *d, daemon_attempt_t *a)
{
    free(a->task_name);
    if (a->queued)
        cairn__assign_task__free_unpacked(a->queued, NULL);
    worker_exec_prepared_free(d->exec, a->prepared);
    att_outputs_free(a);
    worker_outputs_abandon(a->hashing);
    free(a->result);
    if (a->checking)
        cairn__assign_task__free_unpacked(a->checking, NULL);
}

/* Keep a copy of the declared outputs of attempt a. */
static int att_set_outputs(daemon_attempt_t *a, const char *const *outputs, uint32_t n)
{
    att_outputs_free(a);
    if (n == 0)
        return 0;
    if (!(a->outputs = calloc(n, sizeof(*a->outputs))))
        return -ENOMEM;
    for (; a->noutputs < n; a->noutputs++)
        if (!(a->outputs[a->noutputs] = strdup(outputs[a->noutputs]))) {
            att_outputs_free(a);
            return -ENOMEM;
        }
    return 0;
}

/* A new running attempt; NULL when out of memory. Pointers into the table
 * are valid until the next insertion or removal. */
static daemon_attempt_t *att_insert(worker_daemon_t *d, uint64_t id, uint64_t job_id,
                                    const char *task_name, uint32_t rank)
{
    if (d->natt == d->att_cap) {
        size_t cap = d->att_cap ? d->att_cap * 2 : 16;
        daemon_attempt_t *a = realloc(d->att, cap * sizeof(*a));
        if (!a)
            return NULL;
        d->att = a;
        d->att_cap = cap;
    }
    char *name = strdup(task_name);
    if (!name)
        return NULL;
    size_t i = att_lower_bound(d, id);
    memmove(d->att + i + 1, d->att + i, (d->natt - i) * sizeof(*d->att));
    d->att[i] = (daemon_attempt_t){
        .id = id, .job_id = job_id, .rank = rank, .task_name = name, .running = true};
    d->natt++;
    d->nrunning++;
    return &d->att[i];
}

/* Mark an attempt ended. Beyond DAEMON_ENDED_KEEP ended ones, the oldest
 * are forgotten, DAEMON_ENDED_SWEEP at a time in one pass over the table
 * (the end counter orders them). */
static void att_ended(worker_daemon_t *d, uint64_t id)
{
    daemon_attempt_t *a = att_find(d, id);
    if (!a || !a->running)
        return;
    a->running = false;
    d->nrunning--;
    a->ended = ++d->end_counter;
    d->nended++;
    if (d->nended < DAEMON_ENDED_KEEP + DAEMON_ENDED_SWEEP)
        return;
    uint64_t cutoff = d->end_counter - DAEMON_ENDED_KEEP;
    size_t kept = 0;
    for (size_t i = 0; i < d->natt; i++) {
        if (!d->att[i].running && d->att[i].ended <= cutoff) {
            att_fini(d, &d->att[i]);
            d->nended--;
        } else {
            d->att[kept++] = d->att[i];
        }
    }
    d->natt = kept;
}

/* ---- task events --------------------------------------------------------- */

/* Queue ev (kind and details set) about attempt id for the scheduler. */
static void emit(worker_daemon_t *d, uint64_t id, uint64_t job_id, const char *task_name,
                 uint32_t rank, Cairn__TaskEvent *ev)
{
    cairn_error_t err;
    uint64_t seq;

    ev->attempt_id = id;
    ev->job_id = job_id;
    ev->task_name = (char *)task_name;
    ev->rank = rank;
    if (worker_link_event(d->link, ev, &seq, &err) < 0)
        dlog(d, WORKER_LOG_ERROR, "attempt %" PRIu64 ": event lost: %s", id, err.text);
    else
        dlog(d, WORKER_LOG_DEBUG, "attempt %" PRIu64 ": event seq %" PRIu64 " queued", id, seq);
}

static void exec_started_cb(uint64_t id, uint32_t rank, int pid, int64_t start_ms, void *arg)
{
    worker_daemon_t *d = arg;
    daemon_attempt_t *a = att_find(d, id);
    Cairn__TaskEvent ev = CAIRN__TASK_EVENT__INIT;

    if (d->stopped || !a || a->stale)
        return;
    dlog(d, WORKER_LOG_INFO,
         "task %s attempt %" PRIu64 ".%" PRIu32 " (job %" PRIu64 ") started: pid %d", a->task_name,
         id, rank, a->job_id, pid);
    ev.kind = CAIRN__TASK_EVENT__KIND__STARTED;
    ev.pid = pid;
    ev.start_time_ms = start_ms;
    emit(d, id, a->job_id, a->task_name, a->rank, &ev);
}

static void log_exit(worker_daemon_t *d, const daemon_attempt_t *a, const exec_result_t *r)
{
    const char *why = r->cancelled         ? " (cancelled)"
                      : r->timed_out       ? " (time limit)"
                      : r->memory_exceeded ? " (memory limit)"
                                           : "";
    if (r->start_failed)
        dlog(d, WORKER_LOG_WARN, "task %s attempt %" PRIu64 ".%" PRIu32 " failed to start: %s",
             a->task_name, a->id, a->rank, r->error);
    else if (r->signal)
        dlog(d, WORKER_LOG_INFO, "task %s attempt %" PRIu64 ".%" PRIu32 " exited: signal %d%s",
             a->task_name, a->id, a->rank, r->signal, why);
    else
        dlog(d, WORKER_LOG_INFO, "task %s attempt %" PRIu64 ".%" PRIu32 " exited: code %d%s",
             a->task_name, a->id, a->rank, r->exit_code, why);
}

static void start_queued_after(worker_daemon_t *d, uint64_t id);
static bool successor_prepared(worker_daemon_t *d, uint64_t id);

/* Reports may wait a little (worker_link_hold) while the attempts queued
 * here could keep every busy slot busy for another round: the scheduler
 * needs them only to send more, and fewer, bigger messages cost it less
 * per task. Below that they go at once, so it refills the queue while the
 * last round runs. */
static void update_hold(worker_daemon_t *d)
{
    size_t busy = d->nrunning - d->nqueued;
    worker_link_hold(d->link, busy > 0 && d->nqueued >= busy);
}

/* Queue the attempt's final event (outs: its hashed outputs) and hand its
 * cores and GPUs to the attempt queued behind it. */
static void report_exit(worker_daemon_t *d, daemon_attempt_t *a, const exec_result_t *r,
                        const worker_output_t *outs, size_t nouts, bool cached)
{
    Cairn__TaskEvent ev = CAIRN__TASK_EVENT__INIT;
    Cairn__OutputHash *oh = NULL, **ohp = NULL;
    uint64_t id = a->id;
    /* A prepared successor starts first: its cores idle until it does, and
     * only the process is left to create. Its STARTED still follows this
     * EXITED (worker_exec reports starts from the next loop iteration). */
    bool early = successor_prepared(d, id);
    if (early) {
        start_queued_after(d, id);
        a = att_find(d, id); /* the table may have changed */
    }

    log_exit(d, a, r);
    if (r->start_failed) {
        ev.kind = CAIRN__TASK_EVENT__KIND__FAILED_TO_START;
        ev.error = (char *)r->error;
    } else {
        ev.kind = CAIRN__TASK_EVENT__KIND__EXITED;
        ev.pid = r->pid;
        ev.exit_code = r->signal ? 0 : r->exit_code;
        ev.signal = r->signal;
        ev.timed_out = r->timed_out;
        ev.cancelled = r->cancelled;
        ev.memory_exceeded = r->memory_exceeded;
        ev.cpu_time_usec = r->cpu_usec;
        ev.peak_rss_bytes = r->peak_rss_bytes;
        ev.cached = cached;
    }
    ev.start_time_ms = r->start_ms;
    ev.end_time_ms = r->end_ms;
    if (nouts > 0) {
        oh = calloc(nouts, sizeof(*oh));
        ohp = calloc(nouts, sizeof(*ohp));
        if (!oh || !ohp) {
            dlog(d, WORKER_LOG_ERROR, "attempt %" PRIu64 ": out of memory: outputs not reported",
                 id);
            nouts = 0;
        }
        for (size_t i = 0; i < nouts; i++) {
            cairn__output_hash__init(&oh[i]);
            oh[i].path = (char *)outs[i].path;
            oh[i].sha256 = (char *)outs[i].sha256;
            oh[i].size = outs[i].size;
            oh[i].error = (char *)outs[i].error;
            ohp[i] = &oh[i];
            if (outs[i].error[0])
                dlog(d, WORKER_LOG_INFO, "attempt %" PRIu64 ": output %s: %s", id, outs[i].path,
                     outs[i].error);
        }
        ev.n_outputs = nouts;
        ev.outputs = ohp;
    }
    emit(d, id, a->job_id, a->task_name, a->rank, &ev);
    free(oh);
    free(ohp);
    att_ended(d, id);
    /* its cores and GPUs go to the attempt queued behind it, now: no round
     * trip to the scheduler (whose state already says so) */
    if (!early)
        start_queued_after(d, id);
}

/* A stale attempt (not adopted) ended: forget it unreported and hand its
 * cores and GPUs to the attempt queued behind it. */
static void drop_stale(worker_daemon_t *d, uint64_t id)
{
    dlog(d, WORKER_LOG_INFO, "stale attempt %" PRIu64 " ended; not reported", id);
    att_ended(d, id);
    start_queued_after(d, id);
}

/* The outputs of an ended attempt are hashed: report it now. */
static void outputs_hashed_cb(uint64_t id, const worker_output_t *outs, size_t n, void *arg)
{
    worker_daemon_t *d = arg;
    daemon_attempt_t *a = att_find(d, id);
    if (d->stopped || !a || !a->result)
        return;
    exec_result_t *r = a->result;
    a->result = NULL;
    a->hashing = NULL; /* freed by outputs.c after this returns */
    if (a->stale)
        drop_stale(d, id);
    else
        report_exit(d, a, r, outs, n, false);
    free(r);
}

/* Start hashing the outputs of ended attempt a; false if that failed. */
static bool start_hashing(worker_daemon_t *d, daemon_attempt_t *a, const exec_result_t *r)
{
    cairn_error_t err = {{0}};
    if (!(a->result = malloc(sizeof(*r)))) {
        dlog(d, WORKER_LOG_ERROR, "attempt %" PRIu64 ": out of memory: outputs not hashed", a->id);
        return false;
    }
    *a->result = *r;
    int rc = worker_outputs_start(d->loop, a->id, r->workdir, (const char *const *)a->outputs,
                                  a->noutputs, outputs_hashed_cb, d, &a->hashing, &err);
    if (rc < 0) {
        dlog(d, WORKER_LOG_ERROR, "attempt %" PRIu64 ": outputs not hashed: %s", a->id, err.text);
        free(a->result);
        a->result = NULL;
        return false;
    }
    dlog(d, WORKER_LOG_DEBUG, "attempt %" PRIu64 ": hashing %" PRIu32 " output%s in %s", a->id,
         a->noutputs, a->noutputs == 1 ? "" : "s", r->workdir);
    return true;
}

static void exec_exited_cb(const exec_result_t *r, void *arg)
{
    worker_daemon_t *d = arg;
    daemon_attempt_t *a = att_find(d, r->attempt_id);

    if (d->stopped || !a)
        return;
    if (a->stale) {
        drop_stale(d, r->attempt_id);
        return;
    }
    /* the EXITED event waits for the hashes; the attempt counts as running */
    if (!r->start_failed && a->noutputs > 0 && start_hashing(d, a, r))
        return;
    report_exit(d, a, r, NULL, 0, false);
}

/* ---- commands from the scheduler ----------------------------------------- */

static void run_assigned(worker_daemon_t *d, const Cairn__AssignTask *m);
static void started_or_failed(worker_daemon_t *d, const Cairn__AssignTask *m, int rc,
                              const cairn_error_t *err);
static void prepare_successor(worker_daemon_t *d, uint64_t id);
static Cairn__AssignTask *assign_copy(const Cairn__AssignTask *m);
static int64_t wall_ms(void);

/* A cache hit checked: the outputs are what the scheduler recorded (report
 * the attempt ended, cached, without running it) or not (run it). */
static void cache_checked_cb(uint64_t id, const worker_output_t *outs, size_t n, void *arg)
{
    worker_daemon_t *d = arg;
    daemon_attempt_t *a = att_find(d, id);
    if (d->stopped || !a || !a->checking)
        return;
    Cairn__AssignTask *m = a->checking;
    a->checking = NULL;
    a->hashing = NULL; /* freed by outputs.c after this returns */
    if (a->stale) {
        drop_stale(d, id);
        cairn__assign_task__free_unpacked(m, NULL);
        return;
    }
    bool same = n == m->n_cache_outputs && n > 0;
    for (size_t i = 0; same && i < n; i++)
        same = !outs[i].error[0] && !strcmp(outs[i].path, m->cache_outputs[i]->path) &&
               !strcmp(outs[i].sha256, m->cache_outputs[i]->sha256);
    if (same) {
        dlog(d, WORKER_LOG_INFO,
             "task %s attempt %" PRIu64 ": its outputs are those of the cached result: not run",
             a->task_name, id);
        exec_result_t r;
        memset(&r, 0, sizeof(r));
        r.attempt_id = id;
        r.start_ms = r.end_ms = wall_ms();
        report_exit(d, a, &r, outs, n, true);
    } else {
        dlog(d, WORKER_LOG_INFO,
             "task %s attempt %" PRIu64 ": outputs differ from the cached result: running it",
             a->task_name, id);
        run_assigned(d, m);
    }
    cairn__assign_task__free_unpacked(m, NULL);
}

/* Start an assigned attempt (already in the table); a cache hit offered
 * with it is checked first. */
static void start_assigned(worker_daemon_t *d, const Cairn__AssignTask *m)
{
    daemon_attempt_t *a = att_find(d, m->attempt_id);
    if (a && m->n_cache_outputs > 0 && m->n_outputs == m->n_cache_outputs && m->workdir &&
        m->workdir[0] == '/' && (a->checking = assign_copy(m))) {
        cairn_error_t err = {{0}};
        if (worker_outputs_start(d->loop, m->attempt_id, m->workdir,
                                 (const char *const *)m->outputs, m->n_outputs, cache_checked_cb, d,
                                 &a->hashing, &err) == 0)
            return;
        dlog(d, WORKER_LOG_WARN, "attempt %" PRIu64 ": cache not checked: %s", m->attempt_id,
             err.text);
        cairn__assign_task__free_unpacked(a->checking, NULL);
        a->checking = NULL;
    }
    run_assigned(d, m);
}

/* Start an assigned attempt (already in the table); a failure is reported. */
static void run_assigned(worker_daemon_t *d, const Cairn__AssignTask *m)
{
    worker_assign_buf_t b = {0};
    cairn_error_t err = {{0}};
    int rc = worker_assign_spec(d->res, m, &b, &err);
    if (rc == 0)
        rc = worker_exec_start(d->exec, &b.spec, &err);
    daemon_attempt_t *a = rc == 0 ? att_find(d, m->attempt_id) : NULL;
    if (a && att_set_outputs(a, b.outputs, b.noutputs) < 0)
        dlog(d, WORKER_LOG_ERROR, "attempt %" PRIu64 ": out of memory: outputs not hashed",
             m->attempt_id);
    worker_assign_buf_fini(&b);
    started_or_failed(d, m, rc, &err);
}

/* After the start of m: a failure is reported and the attempt queued
 * behind it takes its place. */
static void started_or_failed(worker_daemon_t *d, const Cairn__AssignTask *m, int rc,
                              const cairn_error_t *err)
{
    if (rc == 0) {
        dlog(d, WORKER_LOG_DEBUG, "attempt %" PRIu64 ".%" PRIu32 " of task %s started",
             m->attempt_id, m->rank, m->task_name);
        return;
    }
    dlog(d, WORKER_LOG_WARN, "task %s attempt %" PRIu64 ".%" PRIu32 " cannot start: %s",
         m->task_name, m->attempt_id, m->rank, err->text);
    Cairn__TaskEvent ev = CAIRN__TASK_EVENT__INIT;
    ev.kind = CAIRN__TASK_EVENT__KIND__FAILED_TO_START;
    ev.error = (char *)err->text;
    emit(d, m->attempt_id, m->job_id, m->task_name, m->rank, &ev);
    att_ended(d, m->attempt_id);
    start_queued_after(d, m->attempt_id);
}

/* Prepare the start of the attempt queued right behind attempt id, which
 * runs (its process started or its cache hit being checked), so that when
 * id ends only the process is left to create. Not for an attempt that may
 * be a cache hit (checked when its turn comes). A preparation that fails
 * is simply not kept: the start then reports what is wrong. Where neither
 * has GPUs (memory a leftover of id could still hold) and id declares no
 * outputs (hashed before anything else may touch them), the prepared
 * process starts by itself the moment id's main process exits; the rest
 * of id's end (leftovers killed, the report) follows as before. */
static void prepare_successor(worker_daemon_t *d, uint64_t id)
{
    daemon_attempt_t *a = att_find(d, id);
    daemon_attempt_t *q = a && a->running && !a->queued && a->next ? att_find(d, a->next) : NULL;
    if (!q || !q->queued || q->prepared || q->after != id || q->stale ||
        q->queued->n_cache_outputs > 0)
        return;
    worker_assign_buf_t b = {0};
    cairn_error_t err = {{0}};
    exec_prepared_t *p = NULL;
    uint64_t self_start = !a->gpus && !q->gpus && a->noutputs == 0 ? id : 0;
    if (worker_assign_spec(d->res, q->queued, &b, &err) == 0 &&
        worker_exec_prepare(d->exec, &b.spec, self_start, &p, &err) == 0) {
        if (att_set_outputs(q, b.outputs, b.noutputs) == 0)
            q->prepared = p;
        else
            worker_exec_prepared_free(d->exec, p);
    }
    worker_assign_buf_fini(&b);
}

/* Whether the attempt queued behind attempt id is prepared. */
static bool successor_prepared(worker_daemon_t *d, uint64_t id)
{
    daemon_attempt_t *a = att_find(d, id);
    daemon_attempt_t *q = a && a->next ? att_find(d, a->next) : NULL;
    return q && q->prepared && q->queued && q->after == id;
}

/* Start the attempt queued behind attempt id, if there is one. */
static void start_queued_after(worker_daemon_t *d, uint64_t id)
{
    daemon_attempt_t *a = att_find(d, id);
    daemon_attempt_t *q = a && a->next ? att_find(d, a->next) : NULL;
    if (a)
        a->next = 0;
    if (q && q->running && q->queued && q->after == id) {
        Cairn__AssignTask *m = q->queued;
        exec_prepared_t *p = q->prepared;
        uint64_t qid = q->id;
        q->queued = NULL;
        q->prepared = NULL;
        d->nqueued--;
        if (p) {
            cairn_error_t err = {{0}};
            started_or_failed(d, m, worker_exec_start_prepared(d->exec, p, &err), &err);
        } else {
            start_assigned(d, m);
        }
        cairn__assign_task__free_unpacked(m, NULL);
        prepare_successor(d, qid);
    }
    update_hold(d);
}

/* A copy of m that owns its strings. */
static Cairn__AssignTask *assign_copy(const Cairn__AssignTask *m)
{
    size_t len = cairn__assign_task__get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return NULL;
    cairn__assign_task__pack(m, buf);
    Cairn__AssignTask *c = cairn__assign_task__unpack(NULL, len, buf);
    free(buf);
    return c;
}

static void on_assign(worker_daemon_t *d, const Cairn__AssignTask *m)
{
    if (m->attempt_id == 0) {
        dlog(d, WORKER_LOG_WARN, "refused an AssignTask without attempt id");
        return;
    }
    if (att_find(d, m->attempt_id)) {
        dlog(d, WORKER_LOG_INFO, "attempt %" PRIu64 " assigned again: ignored (duplicate)",
             m->attempt_id);
        return;
    }
    daemon_attempt_t *a = att_insert(d, m->attempt_id, m->job_id, m->task_name, m->rank);
    if (!a) {
        dlog(d, WORKER_LOG_ERROR, "attempt %" PRIu64 ": out of memory", m->attempt_id);
        return;
    }
    a->gpus = m->n_gpus > 0;
    daemon_attempt_t *pred = m->after_attempt_id ? att_find(d, m->after_attempt_id) : NULL;
    if (pred && pred->running && !pred->next) {
        /* queued behind an attempt still running here: it takes over that
         * attempt's cores and GPUs when it ends */
        pred->next = m->attempt_id;
        a = att_find(d, m->attempt_id);
        a->after = m->after_attempt_id;
        a->queued = assign_copy(m);
        if (!a->queued)
            att_find(d, m->after_attempt_id)->next = 0;
        else {
            d->nqueued++;
            dlog(d, WORKER_LOG_DEBUG, "attempt %" PRIu64 " of task %s queued behind %" PRIu64,
                 m->attempt_id, m->task_name, m->after_attempt_id);
            prepare_successor(d, m->after_attempt_id);
            update_hold(d);
            return;
        }
    }
    start_assigned(d, m);
    update_hold(d);
}

static const char *cancel_reason(Cairn__CancelTask__Reason r)
{
    switch (r) {
    case CAIRN__CANCEL_TASK__REASON__USER:
        return "user";
    case CAIRN__CANCEL_TASK__REASON__JOB_FAILED:
        return "job failed";
    case CAIRN__CANCEL_TASK__REASON__GANG_FAILED:
        return "gang failed";
    case CAIRN__CANCEL_TASK__REASON__STALE:
        return "stale";
    case CAIRN__CANCEL_TASK__REASON__SHUTDOWN:
        return "shutdown";
    default:
        return "unspecified";
    }
}

static void on_cancel(worker_daemon_t *d, const Cairn__CancelTask *m)
{
    daemon_attempt_t *a = att_find(d, m->attempt_id);
    if (!a || !a->running) {
        dlog(d, WORKER_LOG_INFO, "cancel of attempt %" PRIu64 ", which is not running: ignored",
             m->attempt_id);
        return;
    }
    if (a->queued) { /* never started: it ends here; the one behind it moves up */
        dlog(d, WORKER_LOG_INFO, "cancelling task %s attempt %" PRIu64 " before it started",
             a->task_name, a->id);
        cairn__assign_task__free_unpacked(a->queued, NULL);
        a->queued = NULL;
        worker_exec_prepared_free(d->exec, a->prepared);
        a->prepared = NULL;
        d->nqueued--;
        /* the line closes up: a's predecessor hands over to a's successor */
        uint64_t id = a->id, after = a->after, next = a->next;
        daemon_attempt_t *p = att_find(d, after), *q = next ? att_find(d, next) : NULL;
        if (p && p->next == id)
            p->next = next;
        if (q)
            q->after = after;
        a->next = 0;
        Cairn__TaskEvent ev = CAIRN__TASK_EVENT__INIT;
        ev.kind = CAIRN__TASK_EVENT__KIND__EXITED;
        ev.cancelled = true;
        ev.signal = SIGTERM;
        emit(d, a->id, a->job_id, a->task_name, a->rank, &ev);
        att_ended(d, a->id);
        prepare_successor(d, after);
        update_hold(d);
        return;
    }
    if (a->checking) { /* checking a cache hit: it ends here, not run */
        dlog(d, WORKER_LOG_INFO, "cancelling task %s attempt %" PRIu64 " before it started",
             a->task_name, a->id);
        worker_outputs_abandon(a->hashing);
        a->hashing = NULL;
        cairn__assign_task__free_unpacked(a->checking, NULL);
        a->checking = NULL;
        Cairn__TaskEvent ev = CAIRN__TASK_EVENT__INIT;
        ev.kind = CAIRN__TASK_EVENT__KIND__EXITED;
        ev.cancelled = true;
        ev.signal = SIGTERM;
        emit(d, a->id, a->job_id, a->task_name, a->rank, &ev);
        att_ended(d, a->id);
        start_queued_after(d, a->id);
        return;
    }
    if (a->hashing) {
        dlog(d, WORKER_LOG_INFO,
             "cancel of attempt %" PRIu64 ", which has ended (hashing its outputs): ignored",
             a->id);
        return;
    }
    dlog(d, WORKER_LOG_INFO,
         "cancelling task %s attempt %" PRIu64 " (%s%s%s), grace %" PRIu32 " ms", a->task_name,
         a->id, cancel_reason(m->reason), m->message[0] ? ": " : "", m->message, m->grace_ms);
    int rc = worker_exec_cancel(d->exec, m->attempt_id, m->grace_ms);
    if (rc < 0)
        dlog(d, WORKER_LOG_WARN, "cannot cancel attempt %" PRIu64 ": %s", a->id, strerror(-rc));
}

/* Read up to max bytes of a log at offset into chunk (data is malloc'd). */
static int read_log(const char *path, uint64_t offset, uint32_t max, Cairn__LogChunk *c)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;

    if (fd < 0)
        return errno == ENOENT ? 0 : -errno; /* nothing written yet */
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    c->size = (uint64_t)st.st_size;
    if (offset < c->size) {
        uint64_t want = c->size - offset < max ? c->size - offset : max;
        if (!(c->data.data = malloc(want))) {
            close(fd);
            return -ENOMEM;
        }
        ssize_t n = pread(fd, c->data.data, want, (off_t)offset);
        if (n < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        c->data.len = (size_t)n;
    }
    close(fd);
    return 0;
}

static void on_read_log(worker_daemon_t *d, const Cairn__ReadLog *m)
{
    Cairn__LogChunk c = CAIRN__LOG_CHUNK__INIT;
    daemon_attempt_t *a = att_find(d, m->attempt_id);
    char path[PATH_MAX], error[256] = "";
    uint32_t max =
        m->max_bytes && m->max_bytes < DAEMON_LOG_READ_MAX ? m->max_bytes : DAEMON_LOG_READ_MAX;
    int rc;

    c.attempt_id = m->attempt_id;
    c.stream = m->stream;
    c.offset = m->offset;
    c.rank = m->rank;
    c.request_id = m->request_id;
    /* an attempt of an earlier run of this worker is found by its names */
    bool known = a && a->rank == m->rank;
    uint64_t job = known ? a->job_id : m->job_id;
    const char *task = known ? a->task_name : m->task_name;
    if (!known && (!task || !*task || !job))
        snprintf(error, sizeof(error), "attempt %" PRIu64 " rank %" PRIu32 " is not known here",
                 m->attempt_id, m->rank);
    else if ((rc = worker_exec_log_path(d->exec, job, task, m->attempt_id, m->rank, (int)m->stream,
                                        path, sizeof(path))) < 0)
        snprintf(error, sizeof(error), "no log for stream %d: %s", (int)m->stream, strerror(-rc));
    else if ((rc = read_log(path, m->offset, max, &c)) < 0)
        snprintf(error, sizeof(error), "cannot read the log: %s", strerror(-rc));
    else
        c.eof = !(known && a->running && !a->hashing) && m->offset + c.data.len >= c.size;
    c.error = error;
    cairn_error_t err;
    if (worker_link_send(d->link, CAIRN_MSG_LOG_CHUNK, &c.base, &err) < 0)
        dlog(d, WORKER_LOG_WARN, "cannot answer ReadLog %" PRIu64 ": %s", m->request_id, err.text);
    free(c.data.data);
}

static void command_cb(worker_link_t *l, cairn_msg_type_t type, const ProtobufCMessage *msg,
                       void *arg)
{
    worker_daemon_t *d = arg;
    switch (type) {
    case CAIRN_MSG_ASSIGN_TASK:
        on_assign(d, (const Cairn__AssignTask *)msg);
        break;
    case CAIRN_MSG_CANCEL_TASK:
        on_cancel(d, (const Cairn__CancelTask *)msg);
        break;
    case CAIRN_MSG_READ_LOG:
        on_read_log(d, (const Cairn__ReadLog *)msg);
        break;
    default:
        break;
    }
}

/* ---- registration, heartbeats, reports ----------------------------------- */

static const Cairn__Register *registration_cb(worker_link_t *l, void *arg)
{
    worker_daemon_t *d = arg;
    size_t n = worker_exec_list(d->exec, NULL, NULL, NULL, NULL, 0);
    uint64_t *ids = calloc(n + 1, sizeof(*ids));
    uint32_t *ranks = calloc(n + 1, sizeof(*ranks));
    int *pids = calloc(n + 1, sizeof(*pids));
    int64_t *starts = calloc(n + 1, sizeof(*starts));

    worker_register_msg_clear_running(d->reg);
    if (!ids || !ranks || !pids || !starts) {
        dlog(d, WORKER_LOG_ERROR, "out of memory: registering without the running attempts");
        n = 0;
    }
    n = worker_exec_list(d->exec, ids, ranks, pids, starts, n);
    for (size_t i = 0; i < n; i++) {
        const daemon_attempt_t *a = att_find(d, ids[i]);
        if (!a || a->stale)
            continue;
        if (worker_register_msg_add_running(d->reg, a->id, a->job_id, a->task_name, ranks[i],
                                            pids[i], starts[i]) < 0)
            dlog(d, WORKER_LOG_ERROR, "out of memory: attempt %" PRIu64 " not offered", a->id);
    }
    free(ids);
    free(ranks);
    free(pids);
    free(starts);
    /* ended attempts whose final event is still on its way */
    worker_register_msg_clear_ended(d->reg);
    n = worker_link_ended_unacked(l, NULL, 0);
    ids = calloc(n + 1, sizeof(*ids));
    n = ids ? worker_link_ended_unacked(l, ids, n) : 0;
    for (size_t i = 0; i < n; i++)
        if (worker_register_msg_add_ended(d->reg, ids[i]) < 0)
            dlog(d, WORKER_LOG_ERROR, "out of memory: ended attempt %" PRIu64 " not listed",
                 ids[i]);
    free(ids);
    /* ended, their outputs being hashed: the EXITED event follows */
    for (size_t i = 0; i < d->natt; i++)
        if (d->att[i].hashing && !d->att[i].stale &&
            worker_register_msg_add_ended(d->reg, d->att[i].id) < 0)
            dlog(d, WORKER_LOG_ERROR, "out of memory: ended attempt %" PRIu64 " not listed",
                 d->att[i].id);
    return worker_register_msg_get(d->reg);
}

static void registered_cb(worker_link_t *l, uint64_t node_id, const uint64_t *stale, size_t nstale,
                          void *arg)
{
    worker_daemon_t *d = arg;
    for (size_t i = 0; i < nstale; i++) {
        daemon_attempt_t *a = att_find(d, stale[i]);
        if (!a || !a->running)
            continue;
        dlog(d, WORKER_LOG_WARN, "attempt %" PRIu64 " of task %s is stale: killing it", a->id,
             a->task_name);
        a->stale = true;
        worker_exec_cancel(d->exec, a->id, DAEMON_STALE_GRACE_MS);
    }
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void heartbeat_cb(worker_link_t *l, uint64_t seq, void *arg)
{
    worker_daemon_t *d = arg;
    cairn_error_t err;

    if (++d->heartbeats % d->report_every != 0)
        return;
    const Cairn__ResourceReport *r = worker_report_collect(
        d->report, d->exec, worker_resources_node(d->res), worker_link_node_id(l), wall_ms());
    if (!r)
        dlog(d, WORKER_LOG_ERROR, "out of memory: no resource report");
    else if (worker_link_send(l, CAIRN_MSG_RESOURCE_REPORT, &r->base, &err) < 0)
        dlog(d, WORKER_LOG_DEBUG, "resource report not sent: %s", err.text);
}

/* ---- defaults ------------------------------------------------------------ */

/* $XDG_STATE_HOME, else ~/.local/state. */
static int state_home(char *buf, size_t len)
{
    const char *xdg = getenv("XDG_STATE_HOME");
    int n;

    if (xdg && xdg[0] == '/') {
        n = snprintf(buf, len, "%s", xdg);
    } else {
        const char *home = getenv("HOME");
        if (!home || home[0] != '/') {
            struct passwd *pw = getpwuid(getuid());
            home = pw ? pw->pw_dir : NULL;
        }
        if (!home)
            return -ENOENT;
        n = snprintf(buf, len, "%s/.local/state", home);
    }
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int worker_daemon_default_url(char *buf, size_t len)
{
    const char *env = getenv("CAIRN_WORKER_SCHEDULER");
    char home[PATH_MAX];
    int n, rc;

    if (env && env[0]) {
        n = snprintf(buf, len, "%s", env);
    } else {
        if ((rc = state_home(home, sizeof(home))) < 0)
            return rc;
        n = snprintf(buf, len, "ipc://%s/cairn/workers.sock", home);
    }
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int default_state_dir(const char *node, char *buf, size_t len)
{
    char home[PATH_MAX];
    int rc = state_home(home, sizeof(home));
    if (rc < 0)
        return rc;
    int n = snprintf(buf, len, "%s/cairn/worker-%s", home, node);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* ---- create / stop / destroy --------------------------------------------- */

static void close_cb(uv_handle_t *h)
{
    worker_daemon_t *d = h->data;
    if (--d->handles_open == 0 && d->destroyed)
        free(d);
}

#define DAEMON_STOP_DEADLINE_S 5

static void signal_cb(uv_signal_t *h, int signum)
{
    worker_daemon_t *d = h->data;
    dlog(d, WORKER_LOG_INFO, "%s: stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    /* nng 1.5.2's nng_close() can deadlock (nng issues #1543 and later);
     * a stop must end the process all the same: SIGALRM's handler in main
     * exits after this deadline */
    alarm(DAEMON_STOP_DEADLINE_S);
    worker_daemon_stop(d);
}

static int start_signals(worker_daemon_t *d, cairn_error_t *err)
{
    uv_signal_t *hs[2] = {&d->sigterm, &d->sigint};
    int signums[2] = {SIGTERM, SIGINT};
    for (int i = 0; i < 2; i++) {
        int rc = uv_signal_init(d->loop, hs[i]);
        if (rc < 0)
            return errcode(err, rc, "cannot watch signals: %s", uv_strerror(rc));
        hs[i]->data = d;
        d->handles_open++;
        if ((rc = uv_signal_start(hs[i], signal_cb, signums[i])) < 0)
            return errcode(err, rc, "cannot watch signals: %s", uv_strerror(rc));
    }
    return 0;
}

static int discover(worker_daemon_t *d, const worker_daemon_config_t *cfg, cairn_error_t *err)
{
    int rc = worker_discover(cfg->topology, cfg->node_name, &d->res, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < cfg->nlabels; i++)
        if ((rc = worker_resources_label_add(d->res, cfg->labels[i], err)) < 0)
            return rc;
    if ((rc = worker_report_create(d->res, cfg->nvml_lib, &d->report, err)) < 0)
        return rc;
    /* on the live machine, NVML knows UUIDs, models and versions hwloc may not */
    if (!cfg->topology && worker_report_fill_gpus(d->report, d->res) > 0)
        dlog(d, WORKER_LOG_INFO, "GPU UUIDs, models or versions taken from NVML");
    if ((rc = worker_register_msg_create(d->res, &d->reg, err)) < 0)
        return rc;
    dlog(d, WORKER_LOG_INFO,
         "cairn-worker %s: node %s, %zu cores, %u PUs, %zu NUMA domains, %zu GPUs%s", CAIRN_VERSION,
         worker_resources_node(d->res), worker_resources_core_count(d->res),
         worker_resources_pu_count(d->res), worker_resources_numa_count(d->res),
         worker_resources_gpu_count(d->res),
         worker_report_has_nvml(d->report) ? " (NVML loaded)" : "");
    return 0;
}

static int start_exec(worker_daemon_t *d, const worker_daemon_config_t *cfg, cairn_error_t *err)
{
    char dir[PATH_MAX];
    const char *state_dir = cfg->state_dir;
    int rc;

    if (!state_dir) {
        if ((rc = default_state_dir(worker_resources_node(d->res), dir, sizeof(dir))) < 0)
            return errcode(err, rc, "no state directory: %s", strerror(-rc));
        state_dir = dir;
    }
    exec_config_t ecfg = {.state_dir = state_dir,
                          .cgroup_dir = cfg->cgroup_dir,
                          .allow_root_tasks = cfg->allow_root_tasks};
    exec_callbacks_t ecb = {.started = exec_started_cb, .exited = exec_exited_cb, .arg = d};
    if ((rc = worker_exec_create(d->loop, &ecfg, &ecb, &d->exec, err)) < 0)
        return rc;
    dlog(d, WORKER_LOG_INFO, "state directory %s", state_dir);
    return 0;
}

static int start_link(worker_daemon_t *d, const worker_daemon_config_t *cfg, cairn_error_t *err)
{
    char url[PATH_MAX + 16];
    int rc;

    if (cfg->scheduler_url) {
        snprintf(url, sizeof(url), "%s", cfg->scheduler_url);
    } else if ((rc = worker_daemon_default_url(url, sizeof(url))) < 0) {
        return errcode(err, rc, "no scheduler URL: %s", strerror(-rc));
    }
    if (cfg->join_key_file) {
        if (!(d->join_key = calloc(1, sizeof(*d->join_key))))
            return errcode(err, -ENOMEM, "out of memory");
        if ((rc = cairn_join_key_load(cfg->join_key_file, d->join_key, err)) < 0)
            return rc;
    }
    worker_link_config_t lcfg = {.url = url,
                                 .node_name = worker_resources_node(d->res),
                                 .retry_min_ms = cfg->retry_min_ms,
                                 .retry_max_ms = cfg->retry_max_ms,
                                 .hold_ms = cfg->report_hold_ms == 0 ? WORKER_REPORT_HOLD_MS
                                            : cfg->report_hold_ms == UINT32_MAX
                                                ? 0
                                                : cfg->report_hold_ms,
                                 .join_key = d->join_key,
                                 .tls_cert = cfg->tls_cert,
                                 .tls_ca = cfg->tls_ca};
    worker_link_callbacks_t lcb = {.registration = registration_cb,
                                   .registered = registered_cb,
                                   .command = command_cb,
                                   .heartbeat = heartbeat_cb,
                                   .log = link_log_cb,
                                   .arg = d};
    cairn_nng_threads_start(); /* a task's SIGCHLD goes to the loop's thread */
    if ((rc = worker_link_create(d->loop, &lcfg, &lcb, &d->link, err)) < 0)
        return rc;
    dlog(d, WORKER_LOG_INFO, "dialing the scheduler at %s", url);
    return 0;
}

int worker_daemon_create(uv_loop_t *loop, const worker_daemon_config_t *cfg, worker_daemon_t **out,
                         cairn_error_t *err)
{
    worker_daemon_t *d = calloc(1, sizeof(*d));
    int rc;

    if (!d)
        return errcode(err, -ENOMEM, "out of memory");
    d->loop = loop;
    d->log = cfg->log ? cfg->log : stderr;
    d->log_level = cfg->log_level;
    d->report_every = cfg->report_every ? cfg->report_every : DAEMON_REPORT_EVERY;
    if ((rc = discover(d, cfg, err)) < 0 || (rc = start_exec(d, cfg, err)) < 0 ||
        (rc = start_link(d, cfg, err)) < 0 ||
        (cfg->handle_signals && (rc = start_signals(d, err)) < 0))
        goto error;
    *out = d;
    return 0;
error:
    worker_daemon_destroy(d);
    return rc;
}

void worker_daemon_stop(worker_daemon_t *d)
{
    if (!d || d->stopped)
        return;
    d->stopped = true;
    if (d->exec) {
        for (size_t i = 0; i < d->natt; i++) {
            worker_exec_prepared_free(d->exec, d->att[i].prepared);
            d->att[i].prepared = NULL;
        }
        size_t n = worker_exec_list(d->exec, NULL, NULL, NULL, NULL, 0);
        if (n > 0)
            dlog(d, WORKER_LOG_INFO, "killing %zu running task%s", n, n == 1 ? "" : "s");
        worker_exec_kill_all(d->exec);
        worker_exec_destroy(d->exec);
        d->exec = NULL;
    }
    worker_link_destroy(d->link);
    d->link = NULL;
    if (d->sigterm.loop)
        uv_close((uv_handle_t *)&d->sigterm, close_cb);
    if (d->sigint.loop)
        uv_close((uv_handle_t *)&d->sigint, close_cb);
    worker_report_destroy(d->report);
    worker_register_msg_destroy(d->reg);
    worker_resources_destroy(d->res);
    d->report = NULL;
    d->reg = NULL;
    d->res = NULL;
    for (size_t i = 0; i < d->natt; i++)
        att_fini(d, &d->att[i]);
    free(d->att);
    if (d->join_key)
        explicit_bzero(d->join_key, sizeof(*d->join_key));
    free(d->join_key);
    d->join_key = NULL;
    d->att = NULL;
    d->natt = d->att_cap = d->nended = 0;
    dlog(d, WORKER_LOG_INFO, "stopped");
}

bool worker_daemon_stopped(const worker_daemon_t *d)
{
    return d->stopped;
}

bool worker_daemon_registered(const worker_daemon_t *d)
{
    return d->link && worker_link_registered(d->link);
}

size_t worker_daemon_pending_events(const worker_daemon_t *d)
{
    return d->link ? worker_link_pending(d->link) : 0;
}

void worker_daemon_destroy(worker_daemon_t *d)
{
    if (!d)
        return;
    worker_daemon_stop(d);
    d->destroyed = true;
    if (d->handles_open == 0)
        free(d);
}
