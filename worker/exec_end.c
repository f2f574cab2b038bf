/* A started attempt until its end (exec_start.c starts it):
 *
 *   start ─ exec_spawn() ─▶ RUNNING ─ time limit / cancel ─▶ TERMINATING
 *                              │  SIGTERM to the tree, SIGKILL after the grace
 *     main process exits ◀─────┘  (SIGCHLD, wait4: exact CPU time and peak RSS)
 *              ▼
 *           DRAINING  SIGKILL what is left of the tree, poll /proc until
 *              │      nothing is left (reaping orphans), at most EXEC_DRAIN_MAX_MS
 *              ▼
 *            DONE     exited() is called, handles close
 *
 * The task's main process leads its own session and process group (see
 * exec_spawn.c) and, where the worker has cgroups, its own cgroup
 * (exec_cgroup.c); exec_track.c finds the processes that left both.
 * exited() is called once the tree is gone, so the attempt's resources
 * (GPU memory above all) are free by then. The common case is settled
 * without reading /proc: the main process was reaped and its cgroup is
 * empty, or, without one, its process group is empty and no scan ever saw
 * another member. Without a cgroup, a process that left the group before
 * any scan saw it (a double-forked daemon of a task that ran under a scan
 * interval) is found by the next periodic scan, by its session or
 * CAIRN_ATTEMPT_ID, and killed then.
 *
 * Callbacks are made last in each libuv callback, after every state
 * change (exec.c). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "common/clock.h"
#include "common/logmatch.h"
#include "worker/exec_private.h"

void exec_report_started(worker_exec_t *x, exec_attempt_t *a)
{
    exec_callbacks_t cb = x->cb;
    if (a->started_reported || a->res.start_failed)
        return;
    a->started_reported = true;
    if (cb.started)
        cb.started(a->id, a->rank, a->pid, a->res.start_ms, cb.arg);
}

void exec_launch_done(worker_exec_t *x, exec_attempt_t *a)
{
    exec_launch_free(&x->spawner, a->launch);
    a->launch = NULL;
}

/* ---- ending ------------------------------------------------------------- */

/* A failed attempt with a retry log pattern: does the tail of its stderr
 * match? Read before its logs are given back (they may move). */
static bool log_matches(worker_exec_t *x, const exec_attempt_t *a, const exec_result_t *res)
{
    bool failed = !res->cancelled && (res->exit_code != 0 || res->signal != 0 || res->timed_out ||
                                      res->memory_exceeded);
    if (!a->retry_log || !failed || !a->log_no[1])
        return false;
    regex_t re;
    cairn_error_t err = {{0}};
    if (cairn_log_pattern_compile(&re, a->retry_log, &err) < 0) {
        cairn_log(x->log, CAIRN_LOG_WARN, "attempt %" PRIu64 ": %s", a->id, err.text);
        return false;
    }
    bool hit = false;
    char *buf = malloc(CAIRN_LOG_MATCH_TAIL);
    ssize_t n = buf ? exec_log_tail(x, a->log_no[1], buf, CAIRN_LOG_MATCH_TAIL) : -ENOMEM;
    if (n >= 0)
        hit = cairn_log_pattern_match(&re, buf, (size_t)n);
    else
        cairn_log(x->log, CAIRN_LOG_WARN, "attempt %" PRIu64 ": stderr not read: %s", a->id,
                  strerror((int)-n));
    free(buf);
    cairn_log_pattern_free(&re);
    return hit;
}

const char *worker_exec_end_class(const exec_result_t *r)
{
    if (r->cancelled || r->start_failed)
        return "";
    if (r->gpu_failed) /* first: the task dies of it, however it ends */
        return "gpu-error";
    if (r->memory_exceeded) /* first: its stderr may say anything then */
        return "oom";
    if (r->log_matched)
        return "log";
    return "";
}

/* Report the attempt and let go of it. */
static void finish(exec_attempt_t *a)
{
    worker_exec_t *x = a->x;
    exec_callbacks_t cb = x->cb;
    exec_result_t res = a->res;
    res.cpu_usec = exec_track_cpu_usec(a);
    if (a->cg && a->cg->memory) {
        uint64_t peak = exec_cgroup_peak(a->cg->path);
        if (peak > res.peak_rss_bytes)
            res.peak_rss_bytes = peak;
        /* the kernel's OOM kill may end the task before a scan sees it */
        if (!res.timed_out && !res.cancelled && exec_cgroup_oom_killed(a->cg->path))
            res.memory_exceeded = true;
    }
    if (res.end_ms == 0)
        res.end_ms = cairn_wall_ms();
    res.log_matched = log_matches(x, a, &res);
    /* its tree is gone: its logs are named (or back in the pool) before
     * anyone hears it ended */
    for (int i = 0; i < 2; i++)
        exec_log_give(x, a->log_no[i]);
    exec_attempt_remove(x, a);
    /* a cgroup holds every process of its task: nothing can have escaped */
    if (a->pid > 0 && !a->cg)
        exec_track_recent_add(x, a);
    exec_cgroup_give(x, a->cg); /* back to the pool when empty */
    a->cg = NULL;
    if (x->nlinger)
        exec_sampler_ensure(x); /* lingering processes are sampled often */
    a->x = NULL;
    a->phase = EXEC_DONE;
    if (++x->running_stale >= EXEC_RUNNING_STALE_MAX)
        exec_running_changed(x);
    exec_attempt_destroy(a);
    if (cb.exited)
        cb.exited(&res, cb.arg);
}

static void drain_cb(uv_timer_t *t)
{
    exec_attempt_t *a = t->data;
    worker_exec_t *x = a->x;
    exec_track_scan(x);
    if (exec_track_empty(a) || uv_now(x->loop) >= a->drain_until) {
        exec_track_linger(x, a);
        finish(a);
        return;
    }
    exec_signal_tree(x, a, SIGKILL);
    uv_timer_start(&a->timer, drain_cb, EXEC_DRAIN_POLL_MS, 0);
}

void exec_attempt_drain(worker_exec_t *x, exec_attempt_t *a)
{
    a->phase = EXEC_DRAINING;
    a->drain_until = uv_now(x->loop) + EXEC_DRAIN_MAX_MS;
    uv_timer_stop(&a->timer);
    if (a->pid > 0) {
        exec_track_scan(x);
        exec_signal_tree(x, a, SIGKILL);
    }
    uv_timer_start(&a->timer, drain_cb, 0, 0);
}

/* ---- running: the time limit and cancels ------------------------------- */

static void kill_cb(uv_timer_t *t)
{
    exec_attempt_t *a = t->data;
    exec_signal_tree(a->x, a, SIGKILL);
}

/* Send sig (SIGTERM, or a checkpoint signal) to the tree now, SIGKILL
 * after grace_ms. */
static void terminate(worker_exec_t *x, exec_attempt_t *a, int sig, int64_t grace_ms)
{
    a->phase = EXEC_TERMINATING;
    exec_signal_tree(x, a, sig);
    uv_timer_start(&a->timer, kill_cb, (uint64_t)(grace_ms > 0 ? grace_ms : 0), 0);
}

static void time_limit_cb(uv_timer_t *t)
{
    exec_attempt_t *a = t->data;
    if (a->phase != EXEC_RUNNING)
        return;
    a->res.timed_out = true;
    terminate(a->x, a, SIGTERM, a->grace_ms);
}

/* signal_before_limit: the checkpoint signal goes out, the time limit
 * follows sbl_ms later (the one timer serves both). */
static void before_limit_cb(uv_timer_t *t)
{
    exec_attempt_t *a = t->data;
    if (a->phase != EXEC_RUNNING)
        return;
    exec_signal_tree(a->x, a, a->ckpt_signal ? a->ckpt_signal : SIGTERM);
    uv_timer_start(&a->timer, time_limit_cb, (uint64_t)a->sbl_ms, 0);
}

void exec_attempt_running(worker_exec_t *x, exec_attempt_t *a, bool recorded)
{
    if (a->time_limit_ms > 0 && a->sbl_ms > 0 && a->sbl_ms < a->time_limit_ms)
        uv_timer_start(&a->timer, before_limit_cb, (uint64_t)(a->time_limit_ms - a->sbl_ms), 0);
    else if (a->time_limit_ms > 0)
        uv_timer_start(&a->timer, time_limit_cb, (uint64_t)a->time_limit_ms, 0);
    if (!recorded && exec_running_append(x, a) < 0)
        exec_running_changed(x);
    exec_sampler_ensure(x);
}

int worker_exec_cancel(worker_exec_t *x, uint64_t attempt_id, int64_t grace_ms)
{
    return worker_exec_cancel_signal(x, attempt_id, SIGTERM, grace_ms);
}

int worker_exec_cancel_signal(worker_exec_t *x, uint64_t attempt_id, int sig, int64_t grace_ms)
{
    exec_attempt_t *a = x ? exec_find(x, attempt_id) : NULL;
    int64_t grace;
    if (sig < 0 || sig > 64)
        return -EINVAL;
    if (!a)
        return -ENOENT;
    grace = grace_ms > 0 ? grace_ms : a->grace_ms;
    if (a->phase == EXEC_RUNNING) {
        a->res.cancelled = true;
        terminate(x, a, sig ? sig : SIGTERM, grace);
    } else if (a->phase == EXEC_TERMINATING && !a->res.memory_exceeded &&
               uv_timer_get_due_in(&a->timer) > (uint64_t)grace) {
        uv_timer_start(&a->timer, kill_cb, (uint64_t)grace, 0); /* a shorter grace */
    }
    return 0;
}

unsigned worker_exec_gpu_failed(worker_exec_t *x, uint32_t gpu)
{
    unsigned n = 0;
    for (size_t i = 0; x && gpu < 64 && i < x->natt; i++) {
        exec_attempt_t *a = x->att[i];
        if (a->phase != EXEC_RUNNING || !(a->gpu_mask >> gpu & 1))
            continue;
        a->res.gpu_failed = true;
        terminate(x, a, SIGTERM, a->grace_ms);
        n++;
    }
    return n;
}

void worker_exec_kill_all(worker_exec_t *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->natt; i++) {
        exec_attempt_t *a = x->att[i];
        if (a->pid <= 0)
            continue;
        if (a->phase < EXEC_DRAINING) {
            if (!a->res.timed_out && !a->res.memory_exceeded)
                a->res.cancelled = true;
            a->phase = EXEC_TERMINATING;
            uv_timer_stop(&a->timer);
        }
        exec_signal_tree(x, a, SIGKILL);
    }
}

/* ---- the main process ends ---------------------------------------------- */

/* Nothing of the tree can be left: the main process was reaped, and its
 * cgroup is empty, or, without one, no scan saw another member and
 * nothing is in its process group any more. */
static bool tree_surely_gone(const exec_attempt_t *a)
{
    if (!a->reaped)
        return false;
    if (a->cg)
        return !exec_cgroup_populated(a->cg);
    if (a->nmembers > 0)
        return false;
    return kill(-a->pid, 0) < 0 && errno == ESRCH;
}

/* The main process of a was reaped with status st and usage ru. */
static void main_exited(worker_exec_t *x, exec_attempt_t *a, int st, const struct rusage *ru)
{
    a->reaped = true;
    if (a->res.start_failed)
        ; /* it did not exec in time (exec_start.c): that is what is reported */
    else if (WIFEXITED(st))
        a->res.exit_code = WEXITSTATUS(st);
    else if (WIFSIGNALED(st))
        a->res.signal = WTERMSIG(st);
    if (a->launch) {
        /* a child that could not exec says why; one that never got through
         * its gate (or to its exec) was killed there */
        const exec_child_t *c = &a->launch->child;
        bool through = __atomic_load_n(&c->started, __ATOMIC_ACQUIRE);
        if (a->res.start_failed) {
            ;
        } else if (!a->started_reported && (c->err || !through)) {
            a->res.start_failed = true;
            a->res.exit_code = -1;
            a->res.signal = 0;
            if (c->err)
                snprintf(a->res.error, sizeof(a->res.error), "%s",
                         c->msg[0] ? c->msg : strerror(c->err));
            else
                snprintf(a->res.error, sizeof(a->res.error),
                         "its process died before it could start (%s %d)",
                         WIFSIGNALED(st) ? "signal" : "exit code",
                         WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
        } else if (a->launch->self_start && through) {
            a->res.start_ms = c->start_ms;
        }
        exec_launch_done(x, a);
    }
    a->res.end_ms = cairn_wall_ms();
    /* exact: the main process and every descendant it waited for */
    exec_track_main_reaped(x, a,
                           (uint64_t)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000000u +
                               (uint64_t)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec),
                           (uint64_t)ru->ru_maxrss * 1024u);
    exec_report_started(x, a); /* before its end, if the notify timer has not run yet */
    if (a->phase != EXEC_RUNNING || !tree_surely_gone(a)) {
        exec_attempt_drain(x, a);
        return;
    }
    a->phase = EXEC_DRAINING;
    uv_timer_stop(&a->timer);
    finish(a);
}

void exec_reap_mains(worker_exec_t *x)
{
    for (size_t i = 0; i < x->natt;) {
        exec_attempt_t *a = x->att[i];
        struct rusage ru;
        int st = 0;
        if (a->pid <= 0 || a->reaped || wait4(a->pid, &st, WNOHANG, &ru) != a->pid) {
            i++;
            continue;
        }
        uint64_t id = a->id;
        main_exited(x, a, st, &ru);
        /* finish() may have removed it and callbacks changed the table */
        i = 0;
        while (i < x->natt && x->att[i]->id <= id)
            i++;
    }
}
