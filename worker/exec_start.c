/* Starting attempts: a start checks the spec, prepares what the process
 * needs (exec_prep.c), creates the process (exec_spawn.c) and hands the
 * attempt to exec_end.c. The start does not wait for the exec: it is seen
 * done (started()) or failed once the child settled, and a child that has
 * not within start_timeout_ms is killed and its start failed.
 *
 * The attempt queued behind a running one can be prepared ahead, its
 * process waiting at a gate ("gated starts" below, exec_spawn.c). What the
 * gated starts leave to do (a reap, a binding, a start to report) is done
 * before the loop next blocks (flush_cb). */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/grow.h"
#include "worker/exec_private.h"

static void flush_cb(uv_prepare_t *h);
static void notify_cb(uv_timer_t *t);

/* ---- a start ------------------------------------------------------------ */

static int validate(const exec_spec_t *s, cairn_error_t *err)
{
    if (!exec_task_name_ok(s->task_name))
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
    if (s->time_limit_ms < 0 || s->kill_grace_ms < 0 || s->signal_before_limit_ms < 0)
        return errcode(err, -EINVAL, "task %s: negative time limit or grace", s->task_name);
    if (s->checkpoint_signal < 0 || s->checkpoint_signal > 64)
        return errcode(err, -EINVAL, "task %s: checkpoint signal %d out of range (0..64)",
                       s->task_name, s->checkpoint_signal);
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
        .ckpt_dir = p->ckpt_dir[0] ? p->ckpt_dir : NULL,
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

/* ---- reporting starts --------------------------------------------------- */

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
    exec_attempt_drain(x, a);
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
                exec_launch_done(x, a);
            }
            exec_report_started(x, a);
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

/* Create the process of prepared attempt a (p), which a then owns
 * (a->launch) until the child settled; the start is reported once it
 * exec'd (report_starts). A failure here is the attempt's start failure
 * (p stays the caller's then). */
static int spawn_prepared(worker_exec_t *x, exec_attempt_t *a, exec_prepared_t *p,
                          cairn_error_t *err)
{
    snprintf(a->res.workdir, sizeof(a->res.workdir), "%s", p->cwd);
    snprintf(a->res.checkpoint_dir, sizeof(a->res.checkpoint_dir), "%s", p->ckpt_dir);
    int r = make_cgroup(x, a, err);
    if (r < 0)
        return r;
    exec_child_t *c = &p->child;
    child_fill(c, p);
    child_cgroup(c, p, a->cg);
    pid_t pid = 0;
    uint64_t t0 = exec_boot_ticks();
    r = exec_spawn(&x->spawner, c, &pid);
    uint64_t t1 = exec_boot_ticks();
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

/* The attempt a started from p owns p's logs from now on: they are given
 * back when it ends (exec_end.c). */
static void logs_to(exec_attempt_t *a, exec_prepared_t *p)
{
    memcpy(a->log_no, p->log_no, sizeof(a->log_no));
    memset(p->log_no, 0, sizeof(p->log_no));
}

/* Start the attempt p (heap, consumed) describes; prep_rc < 0 (why) is a
 * preparation that failed, reported as the start failure. */
static int start_attempt(worker_exec_t *x, exec_prepared_t *p, int prep_rc,
                         const cairn_error_t *why_prep, cairn_error_t *err)
{
    cairn_error_t why = {{0}};
    exec_attempt_t *a = NULL;
    int r = exec_attempt_add(x, p, &a, err);
    if (r < 0) {
        exec_prep_discard_logs(x, p);
        exec_prep_free(&x->spawner, p);
        return r;
    }
    logs_to(a, p);
    if (prep_rc < 0)
        why = *why_prep;
    if (prep_rc < 0 || spawn_prepared(x, a, p, &why) < 0) {
        exec_prep_free(&x->spawner, p);
        a->res.start_failed = true;
        a->res.exit_code = -1;
        a->res.end_ms = cairn_wall_ms();
        snprintf(a->res.error, sizeof(a->res.error), "%s", why.text);
        exec_attempt_drain(x, a); /* reports from the next loop iteration */
        return 0;
    }
    exec_attempt_running(x, a, false);
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
    uint64_t t0 = exec_boot_ticks();
    p->child.gated = true;
    int r = exec_spawn(&x->spawner, &p->child, &pid);
    uint64_t t1 = exec_boot_ticks();
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
    int r = exec_attempt_add(x, p, &a, err);
    if (r < 0) {
        worker_exec_prepared_free(x, p);
        return r;
    }
    gated_remove(x, p);
    logs_to(a, p);
    snprintf(a->res.workdir, sizeof(a->res.workdir), "%s", p->cwd);
    snprintf(a->res.checkpoint_dir, sizeof(a->res.checkpoint_dir), "%s", p->ckpt_dir);
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
    exec_attempt_running(x, a, true); /* its line was written when it was made */
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
        exec_prep_free(&x->spawner, p);
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
    if (x->reap_check) {
        x->reap_check = false;
        exec_reap_mains(x);
    }
    if (x->bind_parked)
        bind_parked(x);
    if (x->gate_waiting)
        report_starts(x, false);
}

void exec_gates_abort(worker_exec_t *x)
{
    while (x->ngated > 0)
        gate_abort(x, x->gated[x->ngated - 1]);
}
