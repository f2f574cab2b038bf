/* Task execution: the executor, its life and its parts.
 *
 * An attempt is started by exec_start.c (prepared by exec_prep.c, its
 * process made by exec_spawn.c), runs until exec_end.c has seen its whole
 * process tree end, and is reported then; exec_attempt.c keeps the table
 * of attempts. Its processes are found and measured by exec_track.c, in
 * the leftovers file (exec_leftovers.c) from their start, and ended by
 * the guard (exec_guard.c) if the worker dies. exec_private.h lists what
 * each part offers.
 *
 * Everything runs on the loop thread. Here: the executor's creation and
 * destruction, SIGCHLD (the main processes are reaped, the guard checked)
 * and what the attempts use. Callbacks are made last in each libuv
 * callback, after every state change, so they may call any worker_exec_*
 * function, worker_exec_destroy() too. No callback is made after
 * worker_exec_destroy(). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "worker/exec_private.h"

extern char **environ;

static void sigchld_cb(uv_signal_t *h, int signum)
{
    (void)signum;
    exec_guard_check(h->data);
    exec_reap_mains(h->data);
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
    exec_logs_close(x);
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
    x->log = cfg->log;
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
    snprintf(name, sizeof(name), "w%d.%" PRIu64, (int)x->self, exec_boot_ticks());
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
    /* after the kill: a dead worker's tasks no longer hold their logs */
    if ((r = exec_logs_open(x, err)) < 0) {
        exec_free(x);
        return r;
    }
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
    uv_prepare_init(loop, &x->running_flush);
    uv_signal_init(loop, &x->sigchld);
    x->sampler.data = x->notify.data = x->flush.data = x->running_flush.data = x;
    x->sigchld.data = x;
    x->open_handles = 5;
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
    exec_gates_abort(x);
    worker_exec_kill_all(x);
    reap_after_kill(x);
    for (size_t i = 0; i < x->natt; i++) {
        exec_attempt_t *a = x->att[i];
        exec_cgroup_give(x, a->cg);
        a->cg = NULL;
        for (int k = 0; k < 2; k++)
            exec_log_give(x, a->log_no[k]);
        a->x = NULL;
        a->phase = EXEC_DONE;
        exec_attempt_destroy(a);
    }
    x->natt = 0;
    (void)exec_running_write(x);
    exec_guard_stop(x); /* nothing is left to end */
    uv_close((uv_handle_t *)&x->sampler, handle_closed);
    uv_close((uv_handle_t *)&x->notify, handle_closed);
    uv_close((uv_handle_t *)&x->flush, handle_closed);
    uv_close((uv_handle_t *)&x->running_flush, handle_closed);
    uv_close((uv_handle_t *)&x->sigchld, handle_closed);
}
