/* Task execution: the life cycle of an attempt.
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
 * another member. The start does not wait for the exec: it is seen done
 * (started()) or failed once the child settled, and a child that has not
 * within start_timeout_ms is killed and its start failed. Without a
 * cgroup, a process that left the group before any scan saw it (a
 * double-forked daemon of a task that ran under a scan interval) is found
 * by the next periodic scan, by its session or CAIRN_ATTEMPT_ID, and
 * killed then.
 *
 * The attempt queued behind a running one can be prepared ahead, its
 * process waiting at a gate ("gated starts" below, exec_spawn.c).
 *
 * Callbacks are made last in each libuv callback, after every state change,
 * so they may call any worker_exec_* function, worker_exec_destroy() too.
 * No callback is made after worker_exec_destroy(). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/grow.h"
#include "common/search.h"
#include "worker/exec_private.h"

extern char **environ;

/* CLOCK_BOOTTIME in clock ticks: the unit and clock of a process's start
 * time in /proc/PID/stat (the kernel takes it while forking); 0 when the
 * tick is not a whole number of nanoseconds. */
static uint64_t boot_ticks(void)
{
    static long hz;
    struct timespec ts;
    if (!hz)
        hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0 || 1000000000L % hz != 0 || clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
        return 0;
    return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) /
           (uint64_t)(1000000000L / hz);
}

/* ---- the attempt table -------------------------------------------------- */

/* The key of an element of the table (an exec_attempt_t *): its id. */
static uint64_t att_key(const void *elem)
{
    return (*(exec_attempt_t *const *)elem)->id;
}

static size_t lower_bound(const worker_exec_t *x, uint64_t id)
{
    return cairn_lower_bound(x->att, x->natt, sizeof(*x->att), id, att_key);
}

exec_attempt_t *exec_find(const worker_exec_t *x, uint64_t id)
{
    exec_attempt_t **a = cairn_find_sorted(x->att, x->natt, sizeof(*x->att), id, att_key);
    return a ? *a : NULL;
}

static int table_insert(worker_exec_t *x, exec_attempt_t *a)
{
    size_t i = lower_bound(x, a->id);
    if (CAIRN_GROW(x->att, x->capatt, x->natt + 1) < 0)
        return -ENOMEM;
    memmove(x->att + i + 1, x->att + i, (x->natt - i) * sizeof(*x->att));
    x->att[i] = a;
    x->natt++;
    return 0;
}

static void table_remove(worker_exec_t *x, exec_attempt_t *a)
{
    size_t i = lower_bound(x, a->id);
    if (i < x->natt && x->att[i] == a) {
        memmove(x->att + i, x->att + i + 1, (x->natt - i - 1) * sizeof(*x->att));
        x->natt--;
    }
}

/* ---- handles ------------------------------------------------------------ */

/* Free what a start used, once its child no longer reads it (it exec'd
 * or exited); never before (leaked then: only when the worker gives up on
 * a child that would not die). */
static void launch_free(exec_spawner_t *s, exec_prepared_t *p)
{
    if (!p || !exec_spawn_settled(&p->child))
        return;
    exec_spawn_stack_put(s, &p->child);
    exec_prep_fini(p);
    free(p);
}

static void attempt_free(exec_attempt_t *a)
{
    launch_free(NULL, a->launch);
    exec_cgroup_give(NULL, a->cg); /* given back in finish(): only at destroy */
    free(a->task_name);
    free(a->members);
    free(a);
}

static void handle_closed_cb(uv_handle_t *h)
{
    exec_attempt_t *a = h->data;
    if (--a->open_handles == 0)
        attempt_free(a);
}

static void close_handle(exec_attempt_t *a, uv_handle_t *h)
{
    if (h->data == a && !uv_is_closing(h))
        uv_close(h, handle_closed_cb);
}

/* Close every handle; the attempt is freed when the last one has closed. */
static void attempt_close(exec_attempt_t *a)
{
    close_handle(a, (uv_handle_t *)&a->timer);
}

/* An attempt whose memory limit only sampling enforces. */
static bool needs_fast_sampling(const worker_exec_t *x)
{
    for (size_t i = 0; i < x->natt; i++) {
        const exec_attempt_t *a = x->att[i];
        if (a->memory_limit && !(a->cg && a->cg->memory) && a->phase < EXEC_DRAINING)
            return true;
    }
    return false;
}

/* Milliseconds until the sampler is next due: every EXEC_SAMPLE_MS while
 * a memory limit is enforced by sampling or processes linger, else at the
 * next periodic scan, or when the last recent attempt expires if that
 * comes first and nothing runs (the sampler then stops). A worker whose
 * tasks run without sampled limits wakes for nothing in between. */
static uint64_t sampler_due_in(worker_exec_t *x, uint64_t now)
{
    if (needs_fast_sampling(x) || x->nlinger)
        return EXEC_SAMPLE_MS;
    uint64_t due = x->last_scan + EXEC_SCAN_MS;
    if (x->natt == 0) {
        uint64_t last = 0;
        for (size_t i = 0; i < x->nrecent; i++)
            last = x->recent[i].until_ms > last ? x->recent[i].until_ms : last;
        due = last < due ? last : due;
    }
    return due > now ? due - now : 1;
}

static void sampler_cb(uv_timer_t *t)
{
    worker_exec_t *x = t->data;
    uint64_t now = uv_now(x->loop);
    if (needs_fast_sampling(x) || now - x->last_scan >= EXEC_SCAN_MS ||
        (x->nlinger && now - x->last_scan >= EXEC_SAMPLE_MS)) {
        exec_track_scan(x);
        x->last_scan = now;
    }
    if (x->natt == 0 && x->nlinger == 0 && exec_track_recent_expire(x) == 0) {
        x->sampler_active = false;
        return;
    }
    uv_timer_start(&x->sampler, sampler_cb, sampler_due_in(x, now), 0);
}

/* Start the sampler, or bring it forward when it is due sooner now. */
static void sampler_ensure(worker_exec_t *x)
{
    uint64_t now = uv_now(x->loop), due;
    if (!x->sampler_active) {
        x->last_scan = now;
        x->sampler_active = true;
        due = sampler_due_in(x, now);
    } else if ((due = sampler_due_in(x, now)) >= uv_timer_get_due_in(&x->sampler)) {
        return;
    }
    uv_timer_start(&x->sampler, sampler_cb, due, 0);
}

/* ---- ending ------------------------------------------------------------- */

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
    table_remove(x, a);
    /* a cgroup holds every process of its task: nothing can have escaped */
    if (a->pid > 0 && !a->cg)
        exec_track_recent_add(x, a);
    exec_cgroup_give(x, a->cg); /* back to the pool when empty */
    a->cg = NULL;
    if (x->nlinger)
        sampler_ensure(x); /* lingering processes are sampled often */
    a->x = NULL;
    a->phase = EXEC_DONE;
    if (++x->running_stale >= EXEC_RUNNING_STALE_MAX)
        exec_running_changed(x);
    attempt_close(a);
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

/* The main process is gone (or never came): end the rest of the tree. */
static void start_draining(worker_exec_t *x, exec_attempt_t *a)
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

static void kill_cb(uv_timer_t *t)
{
    exec_attempt_t *a = t->data;
    exec_signal_tree(a->x, a, SIGKILL);
}

/* SIGTERM the tree now, SIGKILL after grace_ms. */
static void terminate(worker_exec_t *x, exec_attempt_t *a, int64_t grace_ms)
{
    a->phase = EXEC_TERMINATING;
    exec_signal_tree(x, a, SIGTERM);
    uv_timer_start(&a->timer, kill_cb, (uint64_t)(grace_ms > 0 ? grace_ms : 0), 0);
}

static void time_limit_cb(uv_timer_t *t)
{
    exec_attempt_t *a = t->data;
    if (a->phase != EXEC_RUNNING)
        return;
    a->res.timed_out = true;
    terminate(a->x, a, a->grace_ms);
}

void exec_memory_exceeded(worker_exec_t *x, exec_attempt_t *a)
{
    if (a->phase >= EXEC_DRAINING || a->res.memory_exceeded)
        return;
    /* the first reason is the one reported; the kill is immediate anyway */
    a->res.memory_exceeded = !a->res.timed_out && !a->res.cancelled;
    a->phase = EXEC_TERMINATING;
    uv_timer_stop(&a->timer);
    exec_signal_tree(x, a, SIGKILL);
}

/* ---- the main process ends ------------------------------------------- */

static void report_started(worker_exec_t *x, exec_attempt_t *a)
{
    exec_callbacks_t cb = x->cb;
    if (a->started_reported || a->res.start_failed)
        return;
    a->started_reported = true;
    if (cb.started)
        cb.started(a->id, a->rank, a->pid, a->res.start_ms, cb.arg);
}

static void flush_cb(uv_prepare_t *h);
static void notify_cb(uv_timer_t *t);

/* A gated start's child settled: what it used goes. */
static void launch_done(worker_exec_t *x, exec_attempt_t *a)
{
    launch_free(&x->spawner, a->launch);
    a->launch = NULL;
}

/* The process of a did not exec in time: the start fails, the process
 * is killed (its end is then reported as the start's failure). */
static void start_hung(worker_exec_t *x, exec_attempt_t *a)
{
    a->res.start_failed = true;
    a->res.exit_code = -1;
    a->res.signal = 0;
    a->res.end_ms = cairn_wall_ms();
    snprintf(a->res.error, sizeof(a->res.error),
             "the task did not start within %" PRIu64
             " ms: its process never got to run its program (a program or working directory "
             "on a file system that does not answer, or the process was stopped); killed",
             x->start_timeout_ms);
    kill(-a->pid, SIGKILL);
    kill(a->pid, SIGKILL);
    start_draining(x, a);
}

/* Report the starts not reported yet; by_timer: from the notify timer
 * (else from flush_cb, in a loop iteration that runs anyway). */
static void report_starts(worker_exec_t *x, bool by_timer)
{
    bool waiting = false;
    for (bool again = true; again;) {
        again = false;
        for (size_t i = 0; i < x->natt; i++) {
            exec_attempt_t *a = x->att[i];
            if (a->started_reported || a->res.start_failed || a->pid <= 0)
                continue;
            if (a->launch) { /* started once it exec'd */
                if (!exec_spawn_settled(&a->launch->child)) {
                    if (uv_now(x->loop) >= a->start_deadline) {
                        start_hung(x, a);
                        continue;
                    }
                    waiting = true;
                    continue;
                }
                if (a->launch->child.err ||
                    !__atomic_load_n(&a->launch->child.started, __ATOMIC_ACQUIRE))
                    continue; /* it could not, or died at its gate: its exit says so */
                if (a->launch->self_start)
                    a->res.start_ms = a->launch->child.start_ms; /* when it woke */
                launch_done(x, a);
            }
            report_started(x, a);
            again = true; /* the callback may have changed the table */
            break;
        }
    }
    /* looked at again in every loop iteration (flush_cb), at the latest
     * after EXEC_GATE_POLL_MS */
    x->gate_waiting = waiting;
    if (!waiting || uv_is_closing((uv_handle_t *)&x->notify))
        return;
    uv_prepare_start(&x->flush, flush_cb);
    if (by_timer) {
        /* a child that waits for a CPU long is looked at less and less often */
        uv_timer_start(&x->notify, notify_cb, x->gate_poll_ms, 0);
        x->gate_poll_ms = x->gate_poll_ms * 2 < EXEC_GATE_POLL_MAX_MS ? x->gate_poll_ms * 2
                                                                      : EXEC_GATE_POLL_MAX_MS;
    } else if (!uv_is_active((uv_handle_t *)&x->notify)) {
        uv_timer_start(&x->notify, notify_cb, x->gate_poll_ms, 0);
    }
}

static void notify_cb(uv_timer_t *t)
{
    report_starts(t->data, true);
}

/* The main process of a was reaped with status st and usage ru. */
static void main_exited(worker_exec_t *x, exec_attempt_t *a, int st, const struct rusage *ru)
{
    a->reaped = true;
    if (a->res.start_failed)
        ; /* it did not exec in time (start_hung): that is what is reported */
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
        launch_done(x, a);
    }
    a->res.end_ms = cairn_wall_ms();
    /* exact: the main process and every descendant it waited for */
    exec_track_main_reaped(x, a,
                           (uint64_t)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000000u +
                               (uint64_t)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec),
                           (uint64_t)ru->ru_maxrss * 1024u);
    report_started(x, a); /* before its end, if the notify timer has not run yet */
    if (a->phase != EXEC_RUNNING || !tree_surely_gone(a)) {
        start_draining(x, a);
        return;
    }
    a->phase = EXEC_DRAINING;
    uv_timer_stop(&a->timer);
    finish(a);
}

/* Reap the attempts' main processes that exited. */
static void reap_mains(worker_exec_t *x)
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

static void sigchld_cb(uv_signal_t *h, int signum)
{
    (void)signum;
    exec_guard_check(h->data);
    reap_mains(h->data);
}

/* ---- starting ----------------------------------------------------------- */

static bool task_name_ok(const char *name)
{
    return name && name[0] && !strchr(name, '/') && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0 && strlen(name) <= 255;
}

static int validate(const exec_spec_t *s, cairn_error_t *err)
{
    if (!task_name_ok(s->task_name))
        return errcode(err, -EINVAL, "invalid task name");
    if (s->argc < 1 || !s->argv || !s->argv[0] || !s->argv[0][0])
        return errcode(err, -EINVAL, "task %s: empty argv", s->task_name);
    for (uint32_t i = 0; i < s->argc; i++)
        if (!s->argv[i])
            return errcode(err, -EINVAL, "task %s: argv[%" PRIu32 "] is NULL", s->task_name, i);
    for (uint32_t i = 0; i < s->nenv; i++)
        if (!s->env || !s->env[i] || !strchr(s->env[i], '=') || s->env[i][0] == '=')
            return errcode(err, -EINVAL, "task %s: environment entry %" PRIu32 " is not NAME=value",
                           s->task_name, i);
    if ((s->npus && !s->pus) || (s->nnuma && !s->numa) || (s->ngpus && !s->gpus))
        return errcode(err, -EINVAL, "task %s: missing PU, NUMA or GPU list", s->task_name);
    if (s->world_size > 1 && s->rank >= s->world_size)
        return errcode(err, -EINVAL, "task %s: rank %" PRIu32 " >= world size %" PRIu32,
                       s->task_name, s->rank, s->world_size);
    if (s->time_limit_ms < 0 || s->kill_grace_ms < 0)
        return errcode(err, -EINVAL, "task %s: negative time limit or grace", s->task_name);
    return 0;
}

/* The attempt's cgroup: its own with a memory limit where the limit is
 * the kernel's to enforce, else one from the pool where the worker has a
 * cgroup (none otherwise, quietly). */
static int make_cgroup(worker_exec_t *x, exec_attempt_t *a, cairn_error_t *err)
{
    char name[96];
    if (!x->cgroup_root || a->memory_limit == 0) {
        a->cg = exec_cgroup_take(x);
        return 0;
    }
    snprintf(name, sizeof(name), "m%" PRIu64 ".%" PRIu32, a->id, a->rank);
    return exec_cgroup_memory(x, name, a->memory_limit, &a->cg, err);
}

/* Where c starts: in cg (created there, or joining it), if any. */
static void child_cgroup(exec_child_t *c, exec_prepared_t *p, const exec_cg_t *cg)
{
    if (!cg)
        return;
    snprintf(p->cgroup_procs, sizeof(p->cgroup_procs), "%s/cgroup.procs", cg->path);
    c->cgroup_procs = p->cgroup_procs;
    c->cgroup_fd = cg->dirfd;
}

/* What the child of prepared attempt p needs. */
static void child_fill(exec_child_t *c, const exec_prepared_t *p)
{
    *c = (exec_child_t){
        .argv = p->argv.v,
        .envp = p->env.v,
        .cwd = p->cwd,
        .fd_out = p->fd_out,
        .fd_err = p->fd_err,
        .cpus = p->bind.cpus,
        .cpus_size = p->bind.cpus_size,
        .nodemask = p->bind.nodes,
        .first_node = p->bind.first,
        .maxnode = p->bind.maxnode,
        .setid = p->ra.set,
        .uid = p->ra.uid,
        .gid = p->ra.gid,
        .groups = p->ra.groups,
        .ngroups = (size_t)(p->ra.set ? p->ra.ngroups : 0),
        .cgroup_fd = -1,
        .after_fd = -1,
    };
}

/* The start time (ticks after boot) of the process pid created between
 * boot ticks t0 and t1: read in /proc only when a tick passed. */
static uint64_t spawn_ticks(pid_t pid, uint64_t t0, uint64_t t1)
{
    exec_proc_t pp;
    if (t0 == t1 && t0 != 0)
        return t0;
    return exec_proc_read(pid, &pp) == 0 ? pp.start : 0;
}

/* Free a preparation with no process (or whose process settled). */
static void prep_free(exec_spawner_t *s, exec_prepared_t *p)
{
    if (!p)
        return;
    exec_spawn_stack_put(s, &p->child);
    exec_prep_fini(p);
    free(p);
}

/* Create the process of prepared attempt a (p), which a then owns
 * (a->launch) until the child settled; the start is reported once it
 * exec'd (report_starts). A failure here is the attempt's start failure
 * (p stays the caller's then). */
static int spawn_prepared(worker_exec_t *x, exec_attempt_t *a, exec_prepared_t *p,
                          cairn_error_t *err)
{
    snprintf(a->res.workdir, sizeof(a->res.workdir), "%s", p->cwd);
    int r = make_cgroup(x, a, err);
    if (r < 0)
        return r;
    exec_child_t *c = &p->child;
    child_fill(c, p);
    child_cgroup(c, p, a->cg);
    pid_t pid = 0;
    uint64_t t0 = boot_ticks();
    r = exec_spawn(&x->spawner, c, &pid);
    uint64_t t1 = boot_ticks();
    if (r < 0)
        return errcode(err, r, "%s", c->msg[0] ? c->msg : strerror(-r));
    a->pid = pid;
    a->res.pid = pid;
    a->start = spawn_ticks(pid, t0, t1);
    a->launch = p;
    a->start_deadline = uv_now(x->loop) + x->start_timeout_ms;
    /* the child has its own copies */
    close(p->fd_out);
    close(p->fd_err);
    p->fd_out = p->fd_err = -1;
    x->gate_poll_ms = EXEC_GATE_POLL_MS;
    uv_timer_start(&x->notify, notify_cb, 0, 0);
    return 0;
}

static exec_attempt_t *attempt_new(worker_exec_t *x, const exec_prepared_t *p)
{
    exec_attempt_t *a = calloc(1, sizeof(*a));
    if (!a || !(a->task_name = strdup(p->task_name))) {
        free(a);
        return NULL;
    }
    a->x = x;
    a->id = p->attempt_id;
    a->job_id = p->job_id;
    a->rank = p->rank;
    a->time_limit_ms = p->time_limit_ms;
    a->grace_ms = p->grace_ms;
    a->memory_limit = p->memory_limit;
    a->res.attempt_id = p->attempt_id;
    a->res.rank = p->rank;
    a->res.start_ms = cairn_wall_ms();
    exec_prep_identity(p, &a->res.as);
    uv_timer_init(x->loop, &a->timer);
    a->timer.data = a;
    a->open_handles = 1;
    return a;
}

/* An attempt's process runs: its time limit, the leftovers file (unless
 * its line is there already: recorded), the sampler. */
static void attempt_running(worker_exec_t *x, exec_attempt_t *a, bool recorded)
{
    if (a->time_limit_ms > 0)
        uv_timer_start(&a->timer, time_limit_cb, (uint64_t)a->time_limit_ms, 0);
    if (!recorded && exec_running_append(x, a) < 0)
        exec_running_changed(x);
    sampler_ensure(x);
}

/* A new attempt for p in the table (*out); -EEXIST or -ENOMEM. */
static int attempt_add(worker_exec_t *x, const exec_prepared_t *p, exec_attempt_t **out,
                       cairn_error_t *err)
{
    if (exec_find(x, p->attempt_id))
        return errcode(err, -EEXIST, "attempt %" PRIu64 " is already running", p->attempt_id);
    exec_attempt_t *a = attempt_new(x, p);
    if (!a || table_insert(x, a) < 0) {
        if (a) {
            a->x = NULL;
            attempt_close(a);
        }
        return errcode(err, -ENOMEM, "out of memory");
    }
    *out = a;
    return 0;
}

/* Start the attempt p (heap, consumed) describes; prep_rc < 0 (why) is a
 * preparation that failed, reported as the start failure. */
static int start_attempt(worker_exec_t *x, exec_prepared_t *p, int prep_rc,
                         const cairn_error_t *why_prep, cairn_error_t *err)
{
    cairn_error_t why = {{0}};
    exec_attempt_t *a = NULL;
    int r = attempt_add(x, p, &a, err);
    if (r < 0) {
        prep_free(&x->spawner, p);
        return r;
    }
    if (prep_rc < 0)
        why = *why_prep;
    if (prep_rc < 0 || spawn_prepared(x, a, p, &why) < 0) {
        prep_free(&x->spawner, p);
        a->res.start_failed = true;
        a->res.exit_code = -1;
        a->res.end_ms = cairn_wall_ms();
        snprintf(a->res.error, sizeof(a->res.error), "%s", why.text);
        start_draining(x, a); /* reports from the next loop iteration */
        return 0;
    }
    attempt_running(x, a, false);
    return 0;
}

/* ---- gated starts --------------------------------------------------------
 *
 * The attempt queued behind a running one gets its process ahead, gated
 * (exec_spawn_gated): it makes itself ready and waits, in its own session,
 * logs open, with the worker as its death signal, not yet an attempt. Its
 * start binds it and releases it: only the exec is left between the
 * predecessor's end and the task running. Self-starting (after_id): it
 * waits on the predecessor's (main) process, a pidfd, instead and goes the
 * moment that one exits, without waiting for the worker to wake, reap and
 * report; the worker binds it once it is asleep (bind_parked), else it
 * binds itself; a line of such processes can wait one behind the other,
 * and one whose predecessor is dropped gives up. Its start then only
 * records it (its start time is when it woke), and it may even have run
 * and exited by then (reaped before the loop next blocks: reap_check).
 * Until its start it is no attempt, left alone by scans; but it is in the
 * leftovers file from when it is made, in its task cgroup where there are
 * cgroups, so that the guard ends it, and what it started by itself, with
 * the worker. Not for a task with a memory limit in a cgroup (made at the
 * start). */

static void gated_remove(worker_exec_t *x, const exec_prepared_t *p)
{
    for (size_t i = 0; x && i < x->ngated; i++)
        if (x->gated[i] == p) {
            x->gated[i] = x->gated[--x->ngated];
            return;
        }
}

/* Give p a gated process when this build and the task allow; quietly none
 * otherwise (the start then creates it). With after_id, a running
 * attempt, the process waits on that one's main process (a pidfd) and
 * starts by itself when it exits. */
static void gate_start(worker_exec_t *x, exec_prepared_t *p, uint64_t after_id)
{
    if (!EXEC_CAN_GATE || (x->cgroup_root && p->memory_limit) || x->spawner.stack == NULL)
        return;
    if (CAIRN_GROW(x->gated, x->capgated, x->ngated + 1) < 0)
        return;
    pid_t pid = 0;
    child_fill(&p->child, p);
    p->cg = exec_cgroup_take(x);
    child_cgroup(&p->child, p, p->cg);
    p->after_pid = 0;
    const exec_attempt_t *pred = after_id ? exec_find(x, after_id) : NULL;
    if (pred && pred->pid > 0 && !pred->reaped && pred->phase == EXEC_RUNNING)
        p->after_pid = pred->pid;
    for (size_t i = 0; after_id && !pred && i < x->ngated; i++) /* parked itself */
        if (x->gated[i]->attempt_id == after_id && x->gated[i]->pid > 0)
            p->after_pid = x->gated[i]->pid;
    if (p->after_pid > 0)
        p->child.after_fd = (int)syscall(SYS_pidfd_open, p->after_pid, 0);
    uint64_t t0 = boot_ticks();
    p->child.gated = true;
    int r = exec_spawn(&x->spawner, &p->child, &pid);
    uint64_t t1 = boot_ticks();
    if (p->child.after_fd >= 0)
        close(p->child.after_fd); /* the child has its own */
    p->self_start = r == 0 && p->child.after_fd >= 0;
    if (r < 0) {
        exec_cgroup_give(x, p->cg);
        p->cg = NULL;
        return;
    }
    p->pid = pid;
    p->start = spawn_ticks(pid, t0, t1);
    x->gated[x->ngated++] = p;
    /* it may start by itself while the worker sleeps: it must die with the
     * worker's other tasks (the guard) */
    if (exec_running_append_gated(x, p) < 0)
        exec_running_changed(x);
    if (p->self_start) {
        x->bind_parked = true;
        uv_prepare_start(&x->flush, flush_cb);
    }
}

/* End p's gated process (not released), if it has one. A process parked
 * behind it gives up when it wakes: its predecessor never ran. */
static void gate_abort(worker_exec_t *x, exec_prepared_t *p)
{
    if (p->pid <= 0)
        return;
    for (size_t i = 0; x && i < x->ngated; i++)
        if (x->gated[i]->self_start && x->gated[i]->after_pid == p->pid)
            __atomic_store_n(&x->gated[i]->child.gate, 2, __ATOMIC_RELEASE);
    gated_remove(x, p);
    exec_spawn_abort(&p->child, p->pid);
    exec_spawn_stack_put(x ? &x->spawner : NULL, &p->child);
    exec_cgroup_give(x, p->cg);
    p->cg = NULL;
    p->pid = 0;
}

/* worker_exec_start_prepared() of a gated preparation. */
static int start_gated(worker_exec_t *x, exec_prepared_t *p, cairn_error_t *err)
{
    exec_attempt_t *a = NULL;
    int r = attempt_add(x, p, &a, err);
    if (r < 0) {
        worker_exec_prepared_free(x, p);
        return r;
    }
    gated_remove(x, p);
    snprintf(a->res.workdir, sizeof(a->res.workdir), "%s", p->cwd);
    a->pid = a->res.pid = p->pid;
    a->start = p->start;
    a->cg = p->cg;
    p->cg = NULL;
    a->launch = p;
    /* it may have died already (killed at its gate, or, starting by
     * itself, run and exited) while it was no attempt: its SIGCHLD went
     * by; looked at before the loop next blocks */
    x->reap_check = true;
    uv_prepare_start(&x->flush, flush_cb);
    if (!p->self_start && exec_spawn_release(&p->child, p->pid) < 0) {
        static const char w[] = "cairn-worker: warning: cannot bind to the allocated PUs; the task "
                                "runs unbound\n";
        (void)!write(p->fd_err, w, sizeof(w) - 1);
    }
    /* the child has its own copies */
    close(p->fd_out);
    close(p->fd_err);
    p->fd_out = p->fd_err = -1;
    a->start_deadline = uv_now(x->loop) + x->start_timeout_ms;
    attempt_running(x, a, true); /* its line was written when it was made */
    x->gate_poll_ms = EXEC_GATE_POLL_MS;
    uv_timer_start(&x->notify, notify_cb, 0, 0);
    return 0;
}

int worker_exec_start(worker_exec_t *x, const exec_spec_t *spec, cairn_error_t *err)
{
    cairn_error_t why = {{0}};
    int r;
    if (!x || !spec)
        return errcode(err, -EINVAL, "no executor or spec");
    if ((r = validate(spec, err)) < 0)
        return r;
    if (exec_find(x, spec->attempt_id))
        return errcode(err, -EEXIST, "attempt %" PRIu64 " is already running", spec->attempt_id);
    exec_prepared_t *p = malloc(sizeof(*p));
    if (!p)
        return errcode(err, -ENOMEM, "out of memory");
    r = exec_prep_init(x, spec, p, &why);
    if (!p->task_name) {
        prep_free(&x->spawner, p);
        return errcode(err, -ENOMEM, "out of memory");
    }
    return start_attempt(x, p, r, &why, err);
}

int worker_exec_prepare(worker_exec_t *x, const exec_spec_t *spec, uint64_t after_id,
                        exec_prepared_t **out, cairn_error_t *err)
{
    int r;
    *out = NULL;
    if (!x || !spec)
        return errcode(err, -EINVAL, "no executor or spec");
    if ((r = validate(spec, err)) < 0)
        return r;
    exec_prepared_t *p = malloc(sizeof(*p));
    if (!p)
        return errcode(err, -ENOMEM, "out of memory");
    if ((r = exec_prep_init(x, spec, p, err)) < 0) {
        exec_prep_discard_logs(x, p);
        exec_prep_fini(p);
        free(p);
        return r;
    }
    gate_start(x, p, after_id);
    *out = p;
    return 0;
}

int worker_exec_start_prepared(worker_exec_t *x, exec_prepared_t *p, cairn_error_t *err)
{
    if (!p)
        return errcode(err, -EINVAL, "no preparation");
    if (!x) {
        worker_exec_prepared_free(NULL, p);
        return errcode(err, -EINVAL, "no executor");
    }
    if (p->pid > 0)
        return start_gated(x, p, err);
    return start_attempt(x, p, 0, NULL, err);
}

void worker_exec_prepared_free(worker_exec_t *x, exec_prepared_t *p)
{
    if (!p)
        return;
    gate_abort(x, p);
    if (x)
        exec_prep_discard_logs(x, p);
    exec_prep_fini(p);
    free(p);
}

/* ---- control ------------------------------------------------------------ */

int worker_exec_cancel(worker_exec_t *x, uint64_t attempt_id, int64_t grace_ms)
{
    exec_attempt_t *a = x ? exec_find(x, attempt_id) : NULL;
    int64_t grace;
    if (!a)
        return -ENOENT;
    grace = grace_ms > 0 ? grace_ms : a->grace_ms;
    if (a->phase == EXEC_RUNNING) {
        a->res.cancelled = true;
        terminate(x, a, grace);
    } else if (a->phase == EXEC_TERMINATING && !a->res.memory_exceeded &&
               uv_timer_get_due_in(&a->timer) > (uint64_t)grace) {
        uv_timer_start(&a->timer, kill_cb, (uint64_t)grace, 0); /* a shorter grace */
    }
    return 0;
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

size_t worker_exec_list(const worker_exec_t *x, uint64_t *ids, uint32_t *ranks, int *pids,
                        int64_t *start_ms, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; x && i < x->natt; i++) {
        const exec_attempt_t *a = x->att[i];
        if (a->pid <= 0 || a->res.start_failed)
            continue;
        if (n < max) {
            if (ids)
                ids[n] = a->id;
            if (ranks)
                ranks[n] = a->rank;
            if (pids)
                pids[n] = a->pid;
            if (start_ms)
                start_ms[n] = a->res.start_ms;
        }
        n++;
    }
    return n;
}

int worker_exec_usage(worker_exec_t *x, uint64_t attempt_id, uint64_t *cpu_usec,
                      uint64_t *rss_bytes, uint64_t *peak_rss_bytes)
{
    exec_attempt_t *a = x ? exec_find(x, attempt_id) : NULL;
    if (!a || a->pid <= 0)
        return -ENOENT;
    if (cpu_usec)
        *cpu_usec = exec_track_cpu_usec(a);
    if (rss_bytes)
        *rss_bytes = a->rss_bytes;
    if (peak_rss_bytes)
        *peak_rss_bytes = a->res.peak_rss_bytes;
    return 0;
}

int worker_exec_log_path(const worker_exec_t *x, uint64_t job_id, const char *task_name,
                         uint64_t attempt_id, uint32_t rank, int stream, char *buf, size_t len)
{
    int n;
    if (!x || !buf || (stream != 1 && stream != 2) || !task_name_ok(task_name))
        return -EINVAL;
    n = snprintf(buf, len, "%s/logs/%" PRIu64 "/%s.%" PRIu64 ".%" PRIu32 ".%s", x->state_dir,
                 job_id, task_name, attempt_id, rank, stream == 1 ? "out" : "err");
    if (n < 0 || (size_t)n >= len)
        return -ENAMETOOLONG;
    return n;
}

/* ---- create / destroy --------------------------------------------------- */

static void exec_free(worker_exec_t *x)
{
    exec_guard_stop(x);
    while (x->ncg_pool > 0) {
        exec_cg_t *cg = x->cg_pool[--x->ncg_pool];
        (void)exec_cgroup_remove(cg->path);
        exec_cgroup_free(cg);
    }
    if (x->worker_cg)
        exec_cgroup_worker_remove(x->worker_cg);
    free(x->worker_cg);
    free(x->gated);
    exec_spawner_fini(&x->spawner);
    free(x->users);
    exec_strv_fini(&x->env_base);
    if (x->running_fd >= 0)
        close(x->running_fd);
    free(x->state_dir);
    free(x->default_workdir);
    free(x->running_path);
    free(x->cgroup_root);
    free(x->marker);
    free(x->att);
    free(x->linger);
    free(x);
}

static int exec_init(worker_exec_t *x, const exec_config_t *cfg, cairn_error_t *err)
{
    const char *outer = getenv("CAIRN_ATTEMPT_ID");
    int r;
    x->self = getpid();
    x->allow_root_tasks = cfg->allow_root_tasks;
    x->gate_poll_ms = EXEC_GATE_POLL_MS;
    x->start_timeout_ms = cfg->start_timeout_ms ? cfg->start_timeout_ms : EXEC_START_TIMEOUT_MS;
    x->clk_tck = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
    x->page_size = sysconf(_SC_PAGESIZE) > 0 ? sysconf(_SC_PAGESIZE) : 4096;
    x->state_dir = strdup(cfg->state_dir);
    x->default_workdir = cfg->default_workdir ? strdup(cfg->default_workdir) : getcwd(NULL, 0);
    if (asprintf(&x->running_path, "%s/running", cfg->state_dir) < 0)
        x->running_path = NULL;
    x->marker = outer ? strdup(outer) : NULL;
    if (!x->state_dir || !x->default_workdir || !x->running_path || (outer && !x->marker))
        return errcode(err, -ENOMEM, "out of memory");
    if ((r = exec_files_init(x, err)) < 0)
        return r;
    exec_prep_self(&x->self_ra);
    if ((r = exec_env_base(environ, cfg->pass_env, cfg->npass_env, &x->self_ra, &x->env_base)) < 0)
        return errcode(err, r, "out of memory");
    if ((r = exec_spawner_init(&x->spawner)) < 0)
        return errcode(err, r, "cannot map a stack for starting tasks: %s", strerror(-r));
    r = exec_cgroup_setup(cfg->cgroup_dir, &x->cgroup_root, err);
    if (r < 0)
        return r;
    char name[64]; /* unique in this boot */
    snprintf(name, sizeof(name), "w%d.%" PRIu64, (int)x->self, boot_ticks());
    r = exec_cgroup_worker_setup(cfg->cgroup_dir, x->cgroup_root, name, &x->worker_cg, err);
    if (r < 0)
        return r;
    exec_cg_t *probe = exec_cgroup_take(x);
    if (probe) {
        exec_spawn_probe_cgroup(&x->spawner, probe->dirfd);
        exec_cgroup_give(x, probe);
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        return errcode(err, -errno, "prctl(PR_SET_CHILD_SUBREAPER): %s", strerror(errno));
    return 0;
}

int worker_exec_create(uv_loop_t *loop, const exec_config_t *cfg, const exec_callbacks_t *cb,
                       worker_exec_t **out, cairn_error_t *err)
{
    worker_exec_t *x;
    int r;
    if (!loop || !cfg || !cfg->state_dir || !cfg->state_dir[0] || !cb || !out)
        return errcode(err, -EINVAL, "worker_exec_create: missing loop, state_dir or callbacks");
    x = calloc(1, sizeof(*x));
    if (!x)
        return errcode(err, -ENOMEM, "out of memory");
    x->loop = loop;
    x->cb = *cb;
    x->running_fd = -1;
    x->guard_fd = -1;
    r = exec_init(x, cfg, err);
    if (r < 0) {
        exec_free(x);
        return r;
    }
    exec_leftovers_kill(x);
    r = exec_running_write(x);
    if (r < 0) {
        r = errcode(err, r, "cannot write %s: %s", x->running_path, strerror(-r));
        exec_free(x);
        return r;
    }
    if ((r = exec_guard_start(x, err)) < 0) {
        exec_free(x);
        return r;
    }
    uv_timer_init(loop, &x->sampler);
    uv_unref((uv_handle_t *)&x->sampler);
    uv_timer_init(loop, &x->notify);
    uv_prepare_init(loop, &x->flush);
    uv_signal_init(loop, &x->sigchld);
    x->sampler.data = x->notify.data = x->flush.data = x->sigchld.data = x;
    x->open_handles = 4;
    r = uv_signal_start(&x->sigchld, sigchld_cb, SIGCHLD);
    if (r < 0) {
        /* the handles are closed and x freed by the loop */
        errcode(err, r, "cannot watch SIGCHLD: %s", uv_strerror(r));
        worker_exec_destroy(x);
        return r;
    }
    uv_unref((uv_handle_t *)&x->sigchld);
    *out = x;
    return 0;
}

/* Bind the self-starting processes that are asleep at their gate (a
 * sleeping process moves nothing): woken, each is queued on its own cores
 * at once. One not yet asleep is looked at in the next loop iteration; one
 * that wakes unbound binds itself. */
static void bind_parked(worker_exec_t *x)
{
    bool left = false;
    for (size_t i = 0; i < x->ngated; i++) {
        exec_child_t *c = &x->gated[i]->child;
        if (!x->gated[i]->self_start || !c->cpus || __atomic_load_n(&c->bound, __ATOMIC_ACQUIRE))
            continue;
        if (!__atomic_load_n(&c->parked, __ATOMIC_ACQUIRE)) {
            left = true;
            continue;
        }
        if (sched_setaffinity(x->gated[i]->pid, c->cpus_size, (const cpu_set_t *)c->cpus) == 0)
            __atomic_store_n(&c->bound, 1, __ATOMIC_RELEASE);
    }
    x->bind_parked = left;
    if (left)
        uv_prepare_start(&x->flush, flush_cb);
}

static void flush_cb(uv_prepare_t *h)
{
    worker_exec_t *x = h->data;
    uv_prepare_stop(h);
    if (x->running_dirty)
        (void)exec_running_write(x);
    if (x->reap_check) {
        x->reap_check = false;
        reap_mains(x);
    }
    if (x->bind_parked)
        bind_parked(x);
    if (x->gate_waiting)
        report_starts(x, false);
}

void exec_running_changed(worker_exec_t *x)
{
    x->running_dirty = true;
    uv_prepare_start(&x->flush, flush_cb);
}

static void handle_closed(uv_handle_t *h)
{
    worker_exec_t *x = h->data;
    if (--x->open_handles == 0)
        exec_free(x);
}

/* Wait up to ~2 s for the killed main processes (no longer libuv's once
 * their handles close) and our orphans, so none is left a zombie. */
static void reap_after_kill(worker_exec_t *x)
{
    for (int round = 0; round < 2000; round++) {
        bool left = false;
        for (size_t i = 0; i < x->natt; i++) {
            exec_attempt_t *a = x->att[i];
            if (a->pid > 0 && !a->reaped) {
                if (waitpid(a->pid, NULL, WNOHANG) == 0)
                    left = true;
                else
                    a->reaped = true;
            }
        }
        exec_track_scan(x); /* reaps orphans, finds members to kill */
        for (size_t i = 0; i < x->natt; i++) {
            exec_signal_tree(x, x->att[i], SIGKILL);
            left = left || !exec_track_empty(x->att[i]);
        }
        if (!left)
            return;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
}

void worker_exec_destroy(worker_exec_t *x)
{
    if (!x)
        return;
    /* preparations stay their owner's to free; their processes go now */
    while (x->ngated > 0)
        gate_abort(x, x->gated[x->ngated - 1]);
    worker_exec_kill_all(x);
    reap_after_kill(x);
    for (size_t i = 0; i < x->natt; i++) {
        exec_attempt_t *a = x->att[i];
        exec_cgroup_give(x, a->cg);
        a->cg = NULL;
        a->x = NULL;
        a->phase = EXEC_DONE;
        attempt_close(a);
    }
    x->natt = 0;
    (void)exec_running_write(x);
    exec_guard_stop(x); /* nothing is left to end */
    uv_close((uv_handle_t *)&x->sampler, handle_closed);
    uv_close((uv_handle_t *)&x->notify, handle_closed);
    uv_close((uv_handle_t *)&x->flush, handle_closed);
    uv_close((uv_handle_t *)&x->sigchld, handle_closed);
}
