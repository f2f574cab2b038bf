/* Task execution: the life cycle of an attempt.
 *
 *   start ─ uv_spawn(cairn-task-shim) ─▶ RUNNING ─ time limit / cancel ─▶ TERMINATING
 *                                          │  SIGTERM to the tree, SIGKILL after the grace
 *                 main process exits ◀─────┘
 *                          ▼
 *                       DRAINING  SIGKILL what is left of the tree, poll /proc until
 *                          │      nothing is left (reaping orphans), at most EXEC_DRAIN_MAX_MS
 *                          ▼
 *                        DONE     exited() is called, handles close
 *
 * The shim (worker/shim/shim.c) leads its own session, so the task's main
 * process is also its process group and session; exec_track.c finds the
 * processes that left both. exited() is called only when the tree is gone,
 * so the attempt's resources (GPU memory above all) are free by then.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec_private.h"

extern char **environ;

int64_t exec_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, len + 1);
    for (char *s = buf + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* ---- the attempt table -------------------------------------------------- */

static size_t lower_bound(const worker_exec_t *x, uint64_t id)
{
    size_t lo = 0, hi = x->natt;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x->att[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

exec_attempt_t *exec_find(const worker_exec_t *x, uint64_t id)
{
    size_t i = lower_bound(x, id);
    return i < x->natt && x->att[i]->id == id ? x->att[i] : NULL;
}

static int table_insert(worker_exec_t *x, exec_attempt_t *a)
{
    size_t i = lower_bound(x, a->id);
    if (x->natt == x->capatt) {
        size_t ncap = x->capatt ? x->capatt * 2 : 16;
        exec_attempt_t **nv = realloc(x->att, ncap * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        x->att = nv;
        x->capatt = ncap;
    }
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

static void attempt_free(exec_attempt_t *a)
{
    free(a->task_name);
    free(a->cgroup);
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
    a->status_open = false;
    close_handle(a, (uv_handle_t *)&a->timer);
    close_handle(a, (uv_handle_t *)&a->status);
    close_handle(a, (uv_handle_t *)&a->proc);
}

static void sampler_cb(uv_timer_t *t)
{
    worker_exec_t *x = t->data;
    exec_track_scan(x);
    if (x->natt == 0 && x->nlinger == 0) {
        uv_timer_stop(&x->sampler);
        x->sampler_active = false;
    }
}

static void sampler_ensure(worker_exec_t *x)
{
    if (!x->sampler_active) {
        uv_timer_start(&x->sampler, sampler_cb, EXEC_SAMPLE_MS, EXEC_SAMPLE_MS);
        x->sampler_active = true;
    }
}

/* ---- ending ------------------------------------------------------------- */

/* Report the attempt and let go of it. */
static void finish(exec_attempt_t *a)
{
    worker_exec_t *x = a->x;
    exec_callbacks_t cb = x->cb;
    exec_result_t res = a->res;
    res.cpu_usec = exec_track_cpu_usec(a);
    if (a->cgroup) {
        uint64_t peak = exec_cgroup_peak(a->cgroup);
        if (peak > res.peak_rss_bytes)
            res.peak_rss_bytes = peak;
        /* the kernel's OOM kill may end the task before a scan sees it */
        if (!res.timed_out && !res.cancelled && exec_cgroup_oom_killed(a->cgroup))
            res.memory_exceeded = true;
        (void)exec_cgroup_remove(a->cgroup); /* busy only if something lingers */
    }
    if (res.end_ms == 0)
        res.end_ms = exec_wall_ms();
    table_remove(x, a);
    a->x = NULL;
    a->phase = EXEC_DONE;
    (void)exec_running_write(x);
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

/* ---- the shim's status pipe -------------------------------------------- */

static void status_close(exec_attempt_t *a)
{
    if (!a->status_open)
        return;
    uv_read_stop((uv_stream_t *)&a->status);
    close_handle(a, (uv_handle_t *)&a->status);
    a->status_open = false;
}

/* The shim's report, once the pipe is closed: true if exec failed. */
static bool status_failed(exec_attempt_t *a)
{
    int32_t code = 0;
    if (a->status_len == 0)
        return false;
    a->res.start_failed = true;
    a->res.exit_code = -1;
    a->res.signal = 0;
    if (a->status_len > sizeof(code)) {
        memcpy(&code, a->status_buf, sizeof(code));
        snprintf(a->res.error, sizeof(a->res.error), "%.*s", (int)(a->status_len - sizeof(code)),
                 a->status_buf + sizeof(code));
    } else {
        snprintf(a->res.error, sizeof(a->res.error), "the task could not start");
    }
    return true;
}

static void report_started(worker_exec_t *x, exec_attempt_t *a)
{
    exec_callbacks_t cb = x->cb;
    if (a->started_reported || a->res.start_failed)
        return;
    a->started_reported = true;
    if (cb.started)
        cb.started(a->id, a->rank, a->pid, a->res.start_ms, cb.arg);
}

static void status_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    exec_attempt_t *a = h->data;
    /* no room left (a record is shorter): UV_ENOBUFS ends the reading */
    *buf = uv_buf_init(a->status_buf + a->status_len,
                       (unsigned)(sizeof(a->status_buf) - a->status_len));
}

static void status_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    exec_attempt_t *a = s->data;
    if (nread > 0 && buf->base == a->status_buf + a->status_len)
        a->status_len += (size_t)nread;
    if (nread >= 0)
        return;
    /* EOF: exec succeeded (nothing written) or the shim gave up */
    status_close(a);
    if (a->status_len == 0)
        report_started(a->x, a);
}

/* Read what the shim left in the pipe, without waiting: it has exited. */
static void status_read_now(exec_attempt_t *a)
{
    uv_os_fd_t fd;
    if (!a->status_open || uv_fileno((uv_handle_t *)&a->status, &fd) < 0)
        return;
    while (a->status_len < sizeof(a->status_buf)) {
        ssize_t r = read(fd, a->status_buf + a->status_len, sizeof(a->status_buf) - a->status_len);
        if (r > 0)
            a->status_len += (size_t)r;
        else if (!(r < 0 && errno == EINTR))
            break;
    }
    status_close(a);
}

static void exit_cb(uv_process_t *p, int64_t exit_status, int term_signal)
{
    exec_attempt_t *a = p->data;
    worker_exec_t *x = a->x;
    a->res.exit_code = (int)exit_status;
    a->res.signal = term_signal;
    a->res.end_ms = exec_wall_ms();
    status_read_now(a);
    (void)status_failed(a);
    start_draining(x, a);
    report_started(x, a); /* exec succeeded but its EOF was not read yet */
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

/* Open the attempt's stdout (stream 1) or stderr (stream 2) log. */
static int open_log(worker_exec_t *x, const exec_spec_t *s, int stream, cairn_error_t *err)
{
    char path[PATH_MAX];
    int fd, r = worker_exec_log_path(x, s->job_id, s->task_name, s->attempt_id, s->rank, stream,
                                     path, sizeof(path));
    if (r < 0)
        return errcode(err, r, "log path too long");
    *strrchr(path, '/') = '\0';
    r = mkdir_p(path, 0755);
    if (r < 0)
        return errcode(err, r, "cannot make log directory %s: %s", path, strerror(-r));
    path[strlen(path)] = '/';
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0)
        return errcode(err, -errno, "cannot open log %s: %s", path, strerror(errno));
    return fd;
}

static int check_workdir(const char *dir, cairn_error_t *err)
{
    struct stat st;
    if (stat(dir, &st) < 0)
        return errcode(err, -errno, "working directory %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return errcode(err, -ENOTDIR, "working directory %s: not a directory", dir);
    return 0;
}

struct spawn_fds {
    int out, err, status[2];
};

static void spawn_fds_close(struct spawn_fds *f)
{
    int *v[] = {&f->out, &f->err, &f->status[0], &f->status[1]};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        if (*v[i] >= 0)
            close(*v[i]);
        *v[i] = -1;
    }
}

static int make_cgroup(worker_exec_t *x, exec_attempt_t *a, cairn_error_t *err)
{
    char name[96];
    if (!x->cgroup_root || a->memory_limit == 0)
        return 0;
    snprintf(name, sizeof(name), "w%d-%" PRIu64 ".%" PRIu32, (int)x->self, a->id, a->rank);
    return exec_cgroup_create(x->cgroup_root, name, a->memory_limit, &a->cgroup, err);
}

/* uv_spawn with argv, env and fds ready. */
static int spawn(worker_exec_t *x, exec_attempt_t *a, const char *cwd, exec_strv_t *argv,
                 exec_strv_t *env, struct spawn_fds *f, cairn_error_t *err)
{
    uv_stdio_container_t stdio[4] = {
        {.flags = UV_IGNORE},
        {.flags = UV_INHERIT_FD, .data.fd = f->out},
        {.flags = UV_INHERIT_FD, .data.fd = f->err},
        {.flags = UV_INHERIT_FD, .data.fd = f->status[1]},
    };
    uv_process_options_t o = {
        .exit_cb = exit_cb,
        .file = x->shim_path,
        .args = argv->v,
        .env = env->v,
        .cwd = cwd,
        .flags = UV_PROCESS_DETACHED,
        .stdio_count = 4,
        .stdio = stdio,
    };
    exec_proc_t p;
    int r = uv_spawn(x->loop, &a->proc, &o);
    a->proc.data = a; /* initialized even when it fails: it must be closed */
    a->open_handles++;
    if (r < 0)
        return errcode(err, r, "cannot start %s: %s", x->shim_path, uv_strerror(r));
    a->pid = a->proc.pid;
    a->res.pid = a->pid;
    if (exec_proc_read(a->pid, &p) == 0)
        a->start = p.start;
    r = uv_pipe_open(&a->status, f->status[0]);
    if (r < 0)
        return 0; /* then exec is taken as done: we only lose its error text */
    f->status[0] = -1;
    a->status_open = true;
    uv_read_start((uv_stream_t *)&a->status, status_alloc_cb, status_read_cb);
    return 0;
}

/* Everything between a valid spec and a running process. A failure here
 * is the attempt's start failure. */
static int prepare_and_spawn(worker_exec_t *x, exec_attempt_t *a, const exec_spec_t *s,
                             cairn_error_t *err)
{
    const char *cwd = s->workdir && s->workdir[0] ? s->workdir : x->default_workdir;
    struct spawn_fds f = {-1, -1, {-1, -1}};
    exec_strv_t argv = {0}, env = {0};
    int r = check_workdir(cwd, err);
    if (r == 0 && (r = f.out = open_log(x, s, 1, err)) >= 0)
        r = f.err = open_log(x, s, 2, err);
    if (r >= 0)
        r = make_cgroup(x, a, err);
    if (r >= 0)
        r = exec_env_build(s, environ, &env, err);
    if (r >= 0 && (r = exec_shim_argv(s, x->shim_path, x->self, a->cgroup, &argv)) < 0)
        errcode(err, r, "out of memory");
    if (r >= 0 && pipe2(f.status, O_CLOEXEC) < 0)
        r = errcode(err, -errno, "pipe: %s", strerror(errno));
    if (r >= 0)
        r = spawn(x, a, cwd, &argv, &env, &f, err);
    spawn_fds_close(&f);
    exec_strv_fini(&argv);
    exec_strv_fini(&env);
    return r < 0 ? r : 0;
}

static exec_attempt_t *attempt_new(worker_exec_t *x, const exec_spec_t *s)
{
    exec_attempt_t *a = calloc(1, sizeof(*a));
    if (!a || !(a->task_name = strdup(s->task_name))) {
        free(a);
        return NULL;
    }
    a->x = x;
    a->id = s->attempt_id;
    a->job_id = s->job_id;
    a->rank = s->rank;
    a->time_limit_ms = s->time_limit_ms;
    a->grace_ms = s->kill_grace_ms > 0 ? s->kill_grace_ms : EXEC_DEFAULT_GRACE_MS;
    a->memory_limit = s->memory_limit_bytes;
    a->res.attempt_id = s->attempt_id;
    a->res.rank = s->rank;
    a->res.start_ms = exec_wall_ms();
    uv_timer_init(x->loop, &a->timer);
    uv_pipe_init(x->loop, &a->status, 0);
    a->timer.data = a;
    a->status.data = a;
    a->open_handles = 2;
    return a;
}

int worker_exec_start(worker_exec_t *x, const exec_spec_t *spec, cairn_error_t *err)
{
    cairn_error_t why = {{0}};
    exec_attempt_t *a;
    int r;
    if (!x || !spec)
        return errcode(err, -EINVAL, "no executor or spec");
    r = validate(spec, err);
    if (r < 0)
        return r;
    if (exec_find(x, spec->attempt_id))
        return errcode(err, -EEXIST, "attempt %" PRIu64 " is already running", spec->attempt_id);
    a = attempt_new(x, spec);
    if (!a || table_insert(x, a) < 0) {
        if (a) {
            a->x = NULL;
            attempt_close(a);
        }
        return errcode(err, -ENOMEM, "out of memory");
    }
    if (prepare_and_spawn(x, a, spec, &why) < 0) {
        a->res.start_failed = true;
        a->res.exit_code = -1;
        a->res.end_ms = exec_wall_ms();
        snprintf(a->res.error, sizeof(a->res.error), "%s", why.text);
        start_draining(x, a); /* reports from the next loop iteration */
        return 0;
    }
    if (a->time_limit_ms > 0)
        uv_timer_start(&a->timer, time_limit_cb, (uint64_t)a->time_limit_ms, 0);
    x->running_dirty = true;
    (void)exec_running_write(x);
    sampler_ensure(x);
    return 0;
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
    n = snprintf(buf, len, "%s/logs/%" PRIu64 "/%s/%" PRIu64 ".%" PRIu32 ".%s", x->state_dir,
                 job_id, task_name, attempt_id, rank, stream == 1 ? "out" : "err");
    if (n < 0 || (size_t)n >= len)
        return -ENAMETOOLONG;
    return n;
}

/* ---- create / destroy --------------------------------------------------- */

static char *shim_next_to_self(void)
{
    char self[PATH_MAX], *slash, *path = NULL;
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return NULL;
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    if (asprintf(&path, "%s/%s", self, EXEC_SHIM_NAME) < 0)
        return NULL;
    return path;
}

static void exec_free(worker_exec_t *x)
{
    free(x->state_dir);
    free(x->shim_path);
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
    x->clk_tck = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
    x->page_size = sysconf(_SC_PAGESIZE) > 0 ? sysconf(_SC_PAGESIZE) : 4096;
    x->state_dir = strdup(cfg->state_dir);
    x->shim_path = cfg->shim_path ? strdup(cfg->shim_path) : shim_next_to_self();
    x->default_workdir = cfg->default_workdir ? strdup(cfg->default_workdir) : getcwd(NULL, 0);
    if (asprintf(&x->running_path, "%s/running", cfg->state_dir) < 0)
        x->running_path = NULL;
    x->marker = outer ? strdup(outer) : NULL;
    if (!x->state_dir || !x->shim_path || !x->default_workdir || !x->running_path ||
        (outer && !x->marker))
        return errcode(err, -ENOMEM, "out of memory");
    r = mkdir_p(x->state_dir, 0755);
    if (r < 0)
        return errcode(err, r, "cannot make state directory %s: %s", x->state_dir, strerror(-r));
    if (access(x->shim_path, X_OK) < 0)
        return errcode(err, -errno, "task shim %s: %s", x->shim_path, strerror(errno));
    r = exec_cgroup_setup(cfg->cgroup_dir, &x->cgroup_root, err);
    if (r < 0)
        return r;
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
    uv_timer_init(loop, &x->sampler);
    uv_unref((uv_handle_t *)&x->sampler);
    x->sampler.data = x;
    *out = x;
    return 0;
}

static void sampler_closed_cb(uv_handle_t *h)
{
    exec_free(h->data);
}

/* Wait up to ~2 s for the killed main processes (no longer libuv's once
 * their handles close) and our orphans, so none is left a zombie. */
static void reap_after_kill(worker_exec_t *x)
{
    for (int round = 0; round < 2000; round++) {
        bool left = false;
        for (size_t i = 0; i < x->natt; i++) {
            exec_attempt_t *a = x->att[i];
            if (a->pid > 0 && a->phase < EXEC_DRAINING) {
                if (waitpid(a->pid, NULL, WNOHANG) == 0)
                    left = true;
                else
                    a->phase = EXEC_DRAINING;
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
    worker_exec_kill_all(x);
    for (size_t i = 0; i < x->natt; i++)
        close_handle(x->att[i], (uv_handle_t *)&x->att[i]->proc);
    reap_after_kill(x);
    for (size_t i = 0; i < x->natt; i++) {
        exec_attempt_t *a = x->att[i];
        if (a->cgroup)
            (void)exec_cgroup_remove(a->cgroup);
        a->x = NULL;
        a->phase = EXEC_DONE;
        attempt_close(a);
    }
    x->natt = 0;
    (void)exec_running_write(x);
    uv_close((uv_handle_t *)&x->sampler, sampler_closed_cb);
}
