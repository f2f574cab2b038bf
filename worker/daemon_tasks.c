/* The worker daemon's attempts: the table, task events, assignments,
 * queued attempts (prepared ahead, started the moment the one before them
 * ends), cancels, output hashing and cache checks. See daemon.c. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/grow.h"
#include "common/search.h"
#include "worker/assign.h"
#include "worker/daemon_private.h"

/* ---- the attempt table --------------------------------------------------- */

/* The key of an entry of the table: its attempt id. */
static uint64_t att_key(const void *elem)
{
    return ((const daemon_attempt_t *)elem)->id;
}

daemon_attempt_t *daemon_att_find(worker_daemon_t *d, uint64_t id)
{
    return cairn_find_sorted(d->att, d->natt, sizeof(*d->att), id, att_key);
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
void daemon_att_fini(worker_daemon_t *d, daemon_attempt_t *a)
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
    daemon_ckpt_fini(a);
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
    if (CAIRN_GROW(d->att, d->att_cap, d->natt + 1) < 0)
        return NULL;
    char *name = strdup(task_name);
    if (!name)
        return NULL;
    size_t i = cairn_lower_bound(d->att, d->natt, sizeof(*d->att), id, att_key);
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
    daemon_attempt_t *a = daemon_att_find(d, id);
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
            daemon_att_fini(d, &d->att[i]);
            d->nended--;
        } else {
            d->att[kept++] = d->att[i];
        }
    }
    d->natt = kept;
}

void daemon_att_forget_ended(worker_daemon_t *d)
{
    size_t kept = 0;
    for (size_t i = 0; i < d->natt; i++) {
        if (!d->att[i].running) {
            daemon_att_fini(d, &d->att[i]);
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
        cairn_log(d->log, CAIRN_LOG_ERROR, "attempt %" PRIu64 ": event lost: %s", id, err.text);
    else
        cairn_log(d->log, CAIRN_LOG_DEBUG, "attempt %" PRIu64 ": event seq %" PRIu64 " queued", id,
                  seq);
}

void daemon_exec_started(uint64_t id, uint32_t rank, int pid, int64_t start_ms, void *arg)
{
    worker_daemon_t *d = arg;
    daemon_attempt_t *a = daemon_att_find(d, id);
    Cairn__TaskEvent ev = CAIRN__TASK_EVENT__INIT;

    if (d->stopped || !a || a->stale)
        return;
    cairn_log(d->log, CAIRN_LOG_INFO,
              "task %s attempt %" PRIu64 ".%" PRIu32 " (job %" PRIu64 ") started: pid %d",
              a->task_name, id, rank, a->job_id, pid);
    ev.kind = CAIRN__TASK_EVENT__KIND__STARTED;
    ev.pid = pid;
    ev.start_time_ms = start_ms;
    void *mem;
    daemon_ckpt_to_event(a->ckpt_start, a->nckpt_start, &ev, &mem);
    emit(d, id, a->job_id, a->task_name, a->rank, &ev);
    free(mem);
}

static void log_exit(worker_daemon_t *d, const daemon_attempt_t *a, const exec_result_t *r)
{
    const char *why = r->cancelled         ? " (cancelled)"
                      : r->timed_out       ? " (time limit)"
                      : r->memory_exceeded ? " (memory limit)"
                                           : "";
    if (r->start_failed)
        cairn_log(d->log, CAIRN_LOG_WARN,
                  "task %s attempt %" PRIu64 ".%" PRIu32 " failed to start: %s", a->task_name,
                  a->id, a->rank, r->error);
    else if (r->signal)
        cairn_log(d->log, CAIRN_LOG_INFO,
                  "task %s attempt %" PRIu64 ".%" PRIu32 " exited: signal %d%s", a->task_name,
                  a->id, a->rank, r->signal, why);
    else
        cairn_log(d->log, CAIRN_LOG_INFO,
                  "task %s attempt %" PRIu64 ".%" PRIu32 " exited: code %d%s", a->task_name, a->id,
                  a->rank, r->exit_code, why);
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
        a = daemon_att_find(d, id); /* the table may have changed */
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
    ev.end_class = (char *)worker_exec_end_class(r);
    ev.start_time_ms = r->start_ms;
    ev.end_time_ms = r->end_ms;
    if (nouts > 0) {
        oh = calloc(nouts, sizeof(*oh));
        ohp = calloc(nouts, sizeof(*ohp));
        if (!oh || !ohp) {
            cairn_log(d->log, CAIRN_LOG_ERROR,
                      "attempt %" PRIu64 ": out of memory: outputs not reported", id);
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
                cairn_log(d->log, CAIRN_LOG_INFO, "attempt %" PRIu64 ": output %s: %s", id,
                          outs[i].path, outs[i].error);
        }
        ev.n_outputs = nouts;
        ev.outputs = ohp;
    }
    void *mem;
    daemon_ckpt_to_event(a->ckpt_end, a->nckpt_end, &ev, &mem);
    emit(d, id, a->job_id, a->task_name, a->rank, &ev);
    free(mem);
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
    cairn_log(d->log, CAIRN_LOG_INFO, "stale attempt %" PRIu64 " ended; not reported", id);
    att_ended(d, id);
    start_queued_after(d, id);
}

/* The outputs of an ended attempt are hashed: report it now. */
static void outputs_hashed_cb(uint64_t id, const worker_output_t *outs, size_t n, void *arg)
{
    worker_daemon_t *d = arg;
    daemon_attempt_t *a = daemon_att_find(d, id);
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
        cairn_log(d->log, CAIRN_LOG_ERROR, "attempt %" PRIu64 ": out of memory: outputs not hashed",
                  a->id);
        return false;
    }
    *a->result = *r;
    worker_outputs_opts_t opts = {
        .as = &r->as, .max_bytes = d->hash_max_bytes, .timeout_ms = d->hash_timeout_ms};
    int rc = worker_outputs_start(d->loop, a->id, r->workdir, (const char *const *)a->outputs,
                                  a->noutputs, &opts, outputs_hashed_cb, d, &a->hashing, &err);
    if (rc < 0) {
        cairn_log(d->log, CAIRN_LOG_ERROR, "attempt %" PRIu64 ": outputs not hashed: %s", a->id,
                  err.text);
        free(a->result);
        a->result = NULL;
        return false;
    }
    cairn_log(d->log, CAIRN_LOG_DEBUG, "attempt %" PRIu64 ": hashing %" PRIu32 " output%s in %s",
              a->id, a->noutputs, a->noutputs == 1 ? "" : "s", r->workdir);
    return true;
}

/* After the end listing (if any): hash the outputs, or report at once. */
static void outputs_then_report(worker_daemon_t *d, daemon_attempt_t *a, const exec_result_t *r)
{
    /* the EXITED event waits for the hashes; the attempt counts as running */
    if (!r->start_failed && a->noutputs > 0 && start_hashing(d, a, r))
        return;
    report_exit(d, a, r, NULL, 0, false);
}

/* The checkpoint directory of an ended attempt is listed. */
static void end_listed_cb(uint64_t id, const worker_output_t *v, size_t n, void *arg)
{
    worker_daemon_t *d = arg;
    daemon_attempt_t *a = daemon_att_find(d, id);
    if (d->stopped || !a || !a->result)
        return;
    exec_result_t *r = a->result;
    a->result = NULL;
    a->listing = NULL; /* freed by outputs.c after this returns */
    if (a->stale) {
        drop_stale(d, id);
    } else {
        daemon_ckpt_keep(d, id, v, n, &a->ckpt_end, &a->nckpt_end);
        outputs_then_report(d, a, r);
    }
    free(r);
}

void daemon_exec_exited(const exec_result_t *r, void *arg)
{
    worker_daemon_t *d = arg;
    daemon_attempt_t *a = daemon_att_find(d, r->attempt_id);

    if (d->stopped || !a)
        return;
    if (a->stale) {
        drop_stale(d, r->attempt_id);
        return;
    }
    if (r->checkpoint_dir[0] && !r->start_failed && (a->result = malloc(sizeof(*r)))) {
        *a->result = *r;
        if (daemon_ckpt_list_end(d, a, r, end_listed_cb))
            return;
        free(a->result);
        a->result = NULL;
    }
    outputs_then_report(d, a, r);
}

/* ---- commands from the scheduler ----------------------------------------- */

static void run_assigned(worker_daemon_t *d, const Cairn__AssignTask *m);
static void started_or_failed(worker_daemon_t *d, const Cairn__AssignTask *m, int rc,
                              const cairn_error_t *err);
static void prepare_successor(worker_daemon_t *d, uint64_t id);
static uint64_t line_head(worker_daemon_t *d, uint64_t id);
static void start_assigned(worker_daemon_t *d, const Cairn__AssignTask *m);
static Cairn__AssignTask *assign_copy(const Cairn__AssignTask *m);

/* A cache hit checked: the outputs are what the scheduler recorded (report
 * the attempt ended, cached, without running it) or not (run it). */
static void cache_checked_cb(uint64_t id, const worker_output_t *outs, size_t n, void *arg)
{
    worker_daemon_t *d = arg;
    daemon_attempt_t *a = daemon_att_find(d, id);
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
        cairn_log(d->log, CAIRN_LOG_INFO,
                  "task %s attempt %" PRIu64
                  ": its outputs are those of the cached result: not run",
                  a->task_name, id);
        exec_result_t r;
        memset(&r, 0, sizeof(r));
        r.attempt_id = id;
        r.start_ms = r.end_ms = cairn_wall_ms();
        report_exit(d, a, &r, outs, n, true);
    } else {
        cairn_log(d->log, CAIRN_LOG_INFO,
                  "task %s attempt %" PRIu64 ": outputs differ from the cached result: running it",
                  a->task_name, id);
        run_assigned(d, m);
    }
    cairn__assign_task__free_unpacked(m, NULL);
}

/* Check the cache hit offered with m (attempt a): its outputs are hashed
 * with the rights of the user the task would run as (one that may not run
 * here is not checked: its start says why). Whether the check started. */
static bool check_cache(worker_daemon_t *d, daemon_attempt_t *a, const Cairn__AssignTask *m)
{
    cairn_error_t err = {{0}};
    worker_identity_t as;
    if (worker_exec_identity(d->exec, m->user, &as, &err) < 0 || !(a->checking = assign_copy(m)))
        return false;
    worker_outputs_opts_t opts = {
        .as = &as, .max_bytes = d->hash_max_bytes, .timeout_ms = d->hash_timeout_ms};
    if (worker_outputs_start(d->loop, m->attempt_id, m->workdir, (const char *const *)m->outputs,
                             m->n_outputs, &opts, cache_checked_cb, d, &a->hashing, &err) == 0)
        return true;
    cairn_log(d->log, CAIRN_LOG_WARN, "attempt %" PRIu64 ": cache not checked: %s", m->attempt_id,
              err.text);
    cairn__assign_task__free_unpacked(a->checking, NULL);
    a->checking = NULL;
    return false;
}

/* The checkpoint directory of an attempt not started yet is listed: it
 * starts now if its turn came meanwhile (listed_then), else its start
 * (queued) may now be prepared. */
static void start_listed_cb(uint64_t id, const worker_output_t *v, size_t n, void *arg)
{
    worker_daemon_t *d = arg;
    daemon_attempt_t *a = daemon_att_find(d, id);
    if (d->stopped || !a || !a->listing)
        return;
    a->listing = NULL; /* freed by outputs.c after this returns */
    daemon_ckpt_keep(d, id, v, n, &a->ckpt_start, &a->nckpt_start);
    Cairn__AssignTask *m = a->listed_then;
    a->listed_then = NULL;
    if (!m) {
        if (a->queued)
            prepare_successor(d, line_head(d, id));
        return;
    }
    if (a->stale) {
        drop_stale(d, id);
    } else {
        start_assigned(d, m);
        prepare_successor(d, id);
    }
    cairn__assign_task__free_unpacked(m, NULL);
}

/* Start an assigned attempt (already in the table); a cache hit offered
 * with it is checked first. */
static void start_assigned(worker_daemon_t *d, const Cairn__AssignTask *m)
{
    daemon_attempt_t *a = daemon_att_find(d, m->attempt_id);
    if (a && m->n_cache_outputs > 0 && m->n_outputs == m->n_cache_outputs && m->workdir &&
        m->workdir[0] == '/' && check_cache(d, a, m))
        return;
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
    daemon_attempt_t *a = rc == 0 ? daemon_att_find(d, m->attempt_id) : NULL;
    if (a && att_set_outputs(a, b.outputs, b.noutputs) < 0)
        cairn_log(d->log, CAIRN_LOG_ERROR, "attempt %" PRIu64 ": out of memory: outputs not hashed",
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
        cairn_log(d->log, CAIRN_LOG_DEBUG, "attempt %" PRIu64 ".%" PRIu32 " of task %s started",
                  m->attempt_id, m->rank, m->task_name);
        return;
    }
    cairn_log(d->log, CAIRN_LOG_WARN, "task %s attempt %" PRIu64 ".%" PRIu32 " cannot start: %s",
              m->task_name, m->attempt_id, m->rank, err->text);
    Cairn__TaskEvent ev = CAIRN__TASK_EVENT__INIT;
    ev.kind = CAIRN__TASK_EVENT__KIND__FAILED_TO_START;
    ev.error = (char *)err->text;
    emit(d, m->attempt_id, m->job_id, m->task_name, m->rank, &ev);
    att_ended(d, m->attempt_id);
    start_queued_after(d, m->attempt_id);
}

/* Prepare q's start, queued right behind pred; self: it starts by itself
 * when pred's (main, or parked) process exits. A preparation that fails is
 * simply not kept: the start then reports what is wrong. */
static void prepare_one(worker_daemon_t *d, const daemon_attempt_t *pred, daemon_attempt_t *q,
                        bool self)
{
    worker_assign_buf_t b = {0};
    cairn_error_t err = {{0}};
    exec_prepared_t *p = NULL;
    if (worker_assign_spec(d->res, q->queued, &b, &err) == 0 &&
        worker_exec_prepare(d->exec, &b.spec, self ? pred->id : 0, &p, &err) == 0) {
        if (att_set_outputs(q, b.outputs, b.noutputs) == 0)
            q->prepared = p;
        else
            worker_exec_prepared_free(d->exec, p);
    }
    worker_assign_buf_fini(&b);
}

/* Prepare the starts of the attempts queued behind attempt id, which runs
 * (its process started or its cache hit being checked), up to
 * DAEMON_PREPARED_DEPTH of them, so that when one ends only the next one's
 * process is left to create. Not for an attempt that may be a cache hit
 * (checked when its turn comes). Where neither has GPUs (memory a leftover
 * of the one before could still hold) and the one before declares no
 * outputs (hashed before anything else may touch them), the prepared
 * process starts by itself the moment the one before's process exits; the
 * rest of that one's end (leftovers killed, the report) follows as before.
 * Deeper than the first, only such self-starting ones are prepared. */
static void prepare_successor(worker_daemon_t *d, uint64_t id)
{
    daemon_attempt_t *a = daemon_att_find(d, id);
    if (!a || !a->running || a->queued)
        return;
    for (int depth = 0; depth < DAEMON_PREPARED_DEPTH; depth++) {
        daemon_attempt_t *q = a->next ? daemon_att_find(d, a->next) : NULL;
        if (!q || !q->queued || q->after != a->id || q->stale || q->queued->n_cache_outputs > 0 ||
            q->listing)
            return;
        bool self = !a->gpus && !q->gpus && a->noutputs == 0;
        if (!q->prepared) {
            if (depth > 0 && !self)
                return;
            prepare_one(d, a, q, self);
            if (!q->prepared)
                return;
        }
        a = q;
    }
}

/* The running attempt at the head of the line attempt id waits in. */
static uint64_t line_head(worker_daemon_t *d, uint64_t id)
{
    daemon_attempt_t *a = daemon_att_find(d, id);
    for (size_t n = 0; a && a->queued && a->after && n < d->natt; n++)
        a = daemon_att_find(d, id = a->after);
    return id;
}

/* Drop the preparations of the attempts queued behind attempt id (their
 * parked processes killed; exec makes one parked behind a killed one give
 * up rather than start). */
static void unprepare_after(worker_daemon_t *d, uint64_t id)
{
    daemon_attempt_t *a = daemon_att_find(d, id);
    for (size_t n = 0; a && a->next && n < d->natt; n++) {
        daemon_attempt_t *q = daemon_att_find(d, a->next);
        if (!q || q->after != a->id)
            return;
        worker_exec_prepared_free(d->exec, q->prepared);
        q->prepared = NULL;
        a = q;
    }
}

/* Whether the attempt queued behind attempt id is prepared. */
static bool successor_prepared(worker_daemon_t *d, uint64_t id)
{
    daemon_attempt_t *a = daemon_att_find(d, id);
    daemon_attempt_t *q = a && a->next ? daemon_att_find(d, a->next) : NULL;
    return q && q->prepared && q->queued && q->after == id;
}

/* Start the attempt queued behind attempt id, if there is one. */
static void start_queued_after(worker_daemon_t *d, uint64_t id)
{
    daemon_attempt_t *a = daemon_att_find(d, id);
    daemon_attempt_t *q = a && a->next ? daemon_att_find(d, a->next) : NULL;
    if (a)
        a->next = 0;
    if (q && q->running && q->queued && q->after == id) {
        Cairn__AssignTask *m = q->queued;
        exec_prepared_t *p = q->prepared;
        uint64_t qid = q->id;
        q->queued = NULL;
        q->prepared = NULL;
        d->nqueued--;
        if (q->listing) { /* it starts once its checkpoint directory is listed */
            q->listed_then = m;
            update_hold(d);
            return;
        }
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

void daemon_on_assign(worker_daemon_t *d, const Cairn__AssignTask *m)
{
    if (m->attempt_id == 0) {
        cairn_log(d->log, CAIRN_LOG_WARN, "refused an AssignTask without attempt id");
        return;
    }
    if (daemon_att_find(d, m->attempt_id)) {
        cairn_log(d->log, CAIRN_LOG_INFO, "attempt %" PRIu64 " assigned again: ignored (duplicate)",
                  m->attempt_id);
        return;
    }
    daemon_attempt_t *a = att_insert(d, m->attempt_id, m->job_id, m->task_name, m->rank);
    if (!a) {
        cairn_log(d->log, CAIRN_LOG_ERROR, "attempt %" PRIu64 ": out of memory", m->attempt_id);
        return;
    }
    a->gpus = m->n_gpus > 0;
    /* its checkpoint directory is listed before it runs, queued or not */
    bool listing = daemon_ckpt_list_start(d, a, m, start_listed_cb);
    daemon_attempt_t *pred = m->after_attempt_id ? daemon_att_find(d, m->after_attempt_id) : NULL;
    if (pred && pred->running && !pred->next) {
        /* queued behind an attempt still running here: it takes over that
         * attempt's cores and GPUs when it ends */
        pred->next = m->attempt_id;
        a = daemon_att_find(d, m->attempt_id);
        a->after = m->after_attempt_id;
        a->queued = assign_copy(m);
        if (!a->queued)
            daemon_att_find(d, m->after_attempt_id)->next = 0;
        else {
            d->nqueued++;
            cairn_log(d->log, CAIRN_LOG_DEBUG,
                      "attempt %" PRIu64 " of task %s queued behind %" PRIu64, m->attempt_id,
                      m->task_name, m->after_attempt_id);
            prepare_successor(d, line_head(d, m->after_attempt_id));
            update_hold(d);
            return;
        }
    }
    a = daemon_att_find(d, m->attempt_id);
    if (listing && (a->listed_then = assign_copy(m))) {
        update_hold(d); /* it starts once listed (start_listed_cb) */
        return;
    }
    if (listing) { /* out of memory: it starts unlisted */
        worker_outputs_abandon(a->listing);
        a->listing = NULL;
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
    case CAIRN__CANCEL_TASK__REASON__PREEMPTED:
        return "preempted";
    default:
        return "unspecified";
    }
}

/* Cancelled before it started: it ends here, reported as cancelled. */
static void end_unstarted(worker_daemon_t *d, daemon_attempt_t *a)
{
    cairn_log(d->log, CAIRN_LOG_INFO, "cancelling task %s attempt %" PRIu64 " before it started",
              a->task_name, a->id);
    Cairn__TaskEvent ev = CAIRN__TASK_EVENT__INIT;
    ev.kind = CAIRN__TASK_EVENT__KIND__EXITED;
    ev.cancelled = true;
    ev.signal = SIGTERM;
    emit(d, a->id, a->job_id, a->task_name, a->rank, &ev);
    att_ended(d, a->id);
}

void daemon_on_cancel(worker_daemon_t *d, const Cairn__CancelTask *m)
{
    daemon_attempt_t *a = daemon_att_find(d, m->attempt_id);
    if (!a || !a->running) {
        cairn_log(d->log, CAIRN_LOG_INFO,
                  "cancel of attempt %" PRIu64 ", which is not running: ignored", m->attempt_id);
        return;
    }
    if (a->queued) { /* never started: it ends here; the one behind it moves up */
        worker_outputs_abandon(a->listing);
        a->listing = NULL;
        unprepare_after(d, a->id); /* parked behind a: made again behind its predecessor */
        cairn__assign_task__free_unpacked(a->queued, NULL);
        a->queued = NULL;
        worker_exec_prepared_free(d->exec, a->prepared);
        a->prepared = NULL;
        d->nqueued--;
        /* the line closes up: a's predecessor hands over to a's successor */
        uint64_t id = a->id, after = a->after, next = a->next;
        daemon_attempt_t *p = daemon_att_find(d, after),
                         *q = next ? daemon_att_find(d, next) : NULL;
        if (p && p->next == id)
            p->next = next;
        if (q)
            q->after = after;
        a->next = 0;
        end_unstarted(d, a);
        prepare_successor(d, line_head(d, after));
        update_hold(d);
        return;
    }
    /* a cache hit being checked, or its checkpoints listed: it ends here */
    if (a->checking || a->listed_then) {
        uint64_t id = a->id;
        worker_outputs_abandon(a->hashing);
        a->hashing = NULL;
        if (a->checking)
            cairn__assign_task__free_unpacked(a->checking, NULL);
        a->checking = NULL;
        daemon_ckpt_fini(a);
        end_unstarted(d, a);
        start_queued_after(d, id);
        return;
    }
    if (a->hashing || (a->result && a->listing)) {
        /* ended: its report follows at once, without the hashes not done */
        cairn_log(d->log, CAIRN_LOG_INFO,
                  "cancel of attempt %" PRIu64 ", which has ended: hashing its outputs stopped",
                  a->id);
        worker_outputs_cancel(a->hashing ? a->hashing : a->listing);
        return;
    }
    /* a preemption's first signal is the task's checkpoint signal */
    int sig = m->reason == CAIRN__CANCEL_TASK__REASON__PREEMPTED ? m->signal : 0;
    if (sig < 0 || sig > WORKER_SIGNAL_MAX) {
        cairn_log(d->log, CAIRN_LOG_WARN,
                  "cancel of attempt %" PRIu64 ": signal %" PRId32 " out of range: SIGTERM instead",
                  a->id, m->signal);
        sig = 0;
    }
    cairn_log(d->log, CAIRN_LOG_INFO,
              "cancelling task %s attempt %" PRIu64 " (%s%s%s), signal %d, grace %" PRIu32 " ms",
              a->task_name, a->id, cancel_reason(m->reason), m->message[0] ? ": " : "", m->message,
              sig ? sig : SIGTERM, m->grace_ms);
    int rc = worker_exec_cancel_signal(d->exec, m->attempt_id, sig, m->grace_ms);
    if (rc < 0)
        cairn_log(d->log, CAIRN_LOG_WARN, "cannot cancel attempt %" PRIu64 ": %s", a->id,
                  strerror(-rc));
}
