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
 *   poll     scheduler messages (cairn_net): AssignTask starts the task's
 *            process right here, so there is no polling delay (the loop
 *            does not wait for its exec: exec_spawn.c);
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
 * own table of attempts (job, task name, rank, running, stale; in
 * daemon_tasks.c, with the task life cycle) because the protocol's ReadLog
 * and the executor's log paths need them after an attempt ended; ended attempts are forgotten
 * oldest first beyond DAEMON_ENDED_KEEP.
 *
 * An attempt that declared outputs is reported once they are hashed
 * (outputs.c): the hashing runs on libuv's thread pool (uv_queue_work;
 * only an atomic cancel flag and a count of the outputs done are shared
 * with it), with the task user's rights and within a size and time
 * budget, and its EXITED event is queued from the job's callback, on the
 * loop: when the work is done, or at once when the time budget runs out or
 * a CancelTask comes (with what is done by then). Until then the attempt
 * counts as running here (an attempt queued behind it waits) and Register
 * lists it in ended_unacked.
 *
 * Blocking work on the loop thread is bounded: NVML queries (every few
 * heartbeats, only with NVIDIA GPUs), /proc reads, one log read of at most
 * 1 MiB per ReadLog, and the executor's waits at create (leftovers) and
 * destroy (reaping), each at most 2 s. A task's start never waits for its
 * exec; one that does not exec within --start-timeout fails.
 *
 * Besides the loop, the worker has a guard process (exec_guard.c) that
 * ends every task's process tree when the worker dies.
 */
#include "worker/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "proto/net.h"
#include "worker/assign.h"
#include "worker/daemon_private.h"
#include "worker/discover.h"
#include "worker/exec.h"
#include "worker/outputs.h"
#include "worker/register_msg.h"
#include "worker/report.h"
#include "worker/resources.h"

/* ---- commands from the scheduler ---------------------------------------- */

/* Read up to max bytes of a log (open as fd, or fd a negative errno) at
 * offset into chunk (data is malloc'd); closes fd. */
static int read_log(int fd, uint64_t offset, uint32_t max, Cairn__LogChunk *c)
{
    struct stat st;

    if (fd < 0)
        return fd == -ENOENT ? 0 : fd; /* nothing written yet */
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
    daemon_attempt_t *a = daemon_att_find(d, m->attempt_id);
    char error[256] = "";
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
    else if (m->stream != 1 && m->stream != 2)
        snprintf(error, sizeof(error), "no log for stream %d", (int)m->stream);
    else if ((rc = read_log(
                  worker_exec_log_open(d->exec, job, task, m->attempt_id, m->rank, (int)m->stream),
                  m->offset, max, &c)) < 0)
        snprintf(error, sizeof(error), "cannot read the log: %s",
                 rc == -EPERM || rc == -ELOOP ? "not a plain file: refused"
                 : rc == -ESTALE ? "the logs of an earlier scheduler could not be moved aside "
                                   "(see the worker's log): none is served"
                                 : strerror(-rc));
    else
        c.eof = !(known && a->running && !a->hashing) && m->offset + c.data.len >= c.size;
    c.error = error;
    cairn_error_t err;
    if (worker_link_send(d->link, CAIRN_MSG_LOG_CHUNK, &c.base, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_WARN, "cannot answer ReadLog %" PRIu64 ": %s", m->request_id,
                  err.text);
    free(c.data.data);
}

static void command_cb(worker_link_t *l, cairn_msg_type_t type, const ProtobufCMessage *msg,
                       void *arg)
{
    worker_daemon_t *d = arg;
    switch (type) {
    case CAIRN_MSG_ASSIGN_TASK:
        daemon_on_assign(d, (const Cairn__AssignTask *)msg);
        break;
    case CAIRN_MSG_CANCEL_TASK:
        daemon_on_cancel(d, (const Cairn__CancelTask *)msg);
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
        cairn_log(d->log, CAIRN_LOG_ERROR,
                  "out of memory: registering without the running attempts");
        n = 0;
    }
    n = worker_exec_list(d->exec, ids, ranks, pids, starts, n);
    for (size_t i = 0; i < n; i++) {
        const daemon_attempt_t *a = daemon_att_find(d, ids[i]);
        if (!a || a->stale)
            continue;
        if (worker_register_msg_add_running(d->reg, a->id, a->job_id, a->task_name, ranks[i],
                                            pids[i], starts[i]) < 0)
            cairn_log(d->log, CAIRN_LOG_ERROR, "out of memory: attempt %" PRIu64 " not offered",
                      a->id);
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
            cairn_log(d->log, CAIRN_LOG_ERROR,
                      "out of memory: ended attempt %" PRIu64 " not listed", ids[i]);
    free(ids);
    /* ended, their outputs being hashed: the EXITED event follows */
    for (size_t i = 0; i < d->natt; i++)
        if (d->att[i].hashing && !d->att[i].stale &&
            worker_register_msg_add_ended(d->reg, d->att[i].id) < 0)
            cairn_log(d->log, CAIRN_LOG_ERROR,
                      "out of memory: ended attempt %" PRIu64 " not listed", d->att[i].id);
    return worker_register_msg_get(d->reg);
}

/* The scheduler is another one than the one the attempts that ended here
 * were of (its state was lost: its ids start again): they are forgotten,
 * and so are their events still unacknowledged, so that none is ever
 * taken for an attempt of the new scheduler with the same id. */
static void forget_other_scheduler(worker_daemon_t *d, worker_link_t *l)
{
    size_t n = worker_link_ended_unacked(l, NULL, 0);
    uint64_t *ids = calloc(n + 1, sizeof(*ids));
    if (!ids) {
        cairn_log(d->log, CAIRN_LOG_ERROR, "out of memory: events of the old scheduler kept");
        n = 0;
    }
    n = worker_link_ended_unacked(l, ids, n);
    for (size_t i = 0; i < n; i++)
        worker_link_forget(l, ids[i]);
    free(ids);
    daemon_att_forget_ended(d);
}

static void registered_cb(worker_link_t *l, uint64_t node_id, const uint64_t *stale, size_t nstale,
                          void *arg)
{
    worker_daemon_t *d = arg;
    cairn_error_t err = {{0}};
    /* before any command of this scheduler: logs of another are not its */
    int moved = worker_exec_logs_scheduler(d->exec, worker_link_scheduler_id(l), &err);
    if (moved < 0)
        cairn_log(d->log, CAIRN_LOG_ERROR, "no task log is served until this is fixed: %s",
                  err.text);
    else if (moved > 0)
        forget_other_scheduler(d, l);
    for (size_t i = 0; i < nstale; i++) {
        daemon_attempt_t *a = daemon_att_find(d, stale[i]);
        if (!a || !a->running)
            continue;
        cairn_log(d->log, CAIRN_LOG_WARN, "attempt %" PRIu64 " of task %s is stale: killing it",
                  a->id, a->task_name);
        a->stale = true;
        worker_exec_cancel(d->exec, a->id, DAEMON_STALE_GRACE_MS);
        worker_outputs_cancel(a->hashing); /* ended: forgotten once stopped */
    }
}

static void heartbeat_cb(worker_link_t *l, uint64_t seq, void *arg)
{
    worker_daemon_t *d = arg;
    cairn_error_t err;

    if (++d->heartbeats % d->report_every != 0)
        return;
    const Cairn__ResourceReport *r = worker_report_collect(
        d->report, d->exec, worker_resources_node(d->res), worker_link_node_id(l), cairn_wall_ms());
    if (!r)
        cairn_log(d->log, CAIRN_LOG_ERROR, "out of memory: no resource report");
    else if (worker_link_send(l, CAIRN_MSG_RESOURCE_REPORT, &r->base, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_DEBUG, "resource report not sent: %s", err.text);
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
    cairn_log(d->log, CAIRN_LOG_INFO, "%s: stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
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

/* A GPU had a critical error (gpu_health.h). */
static void gpu_health_cb(void *arg, unsigned gpu, const char *reason)
{
    worker_daemon_t *d = arg;
    const worker_gpu_t *g = worker_resources_gpu(d->res, gpu);
    cairn_error_t err = {{0}};
    cairn_log(d->log, CAIRN_LOG_WARN, "GPU %u (%s%s%s): %s", gpu, g ? g->pci_bus_id : "?",
              g && g->uuid ? " " : "", g && g->uuid ? g->uuid : "", reason);
    unsigned ended = worker_exec_gpu_failed(d->exec, gpu);
    if (ended)
        cairn_log(d->log, CAIRN_LOG_WARN, "GPU %u: ending %u attempt%s that held it (gpu-error)",
                  gpu, ended, ended == 1 ? "" : "s");
    Cairn__GpuHealth m = CAIRN__GPU_HEALTH__INIT;
    m.node = (char *)worker_resources_node(d->res);
    m.gpu = gpu;
    m.healthy = false;
    m.reason = (char *)reason;
    /* not acknowledged: one lost while the scheduler is away is lost (the
     * worker's log keeps it; the task on that GPU fails meanwhile) */
    if (!d->link || worker_link_send(d->link, CAIRN_MSG_GPU_HEALTH, &m.base, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_WARN, "GPU %u: the scheduler was not told (%s)", gpu,
                  d->link ? err.text : "not connected");
}

/* The operator's health check failed: the scheduler drains the node. */
static void health_check_failed(void *arg, const char *why)
{
    worker_daemon_t *d = arg;
    cairn_error_t err = {{0}};
    cairn_log(d->log, CAIRN_LOG_WARN, "health check failed: %s", why);
    Cairn__GpuHealth m = CAIRN__GPU_HEALTH__INIT;
    m.node = (char *)worker_resources_node(d->res);
    m.node_check = true;
    m.reason = (char *)why;
    /* sent again at the next failed check if the scheduler is away now */
    if (!d->link || worker_link_send(d->link, CAIRN_MSG_GPU_HEALTH, &m.base, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_WARN, "health check: the scheduler was not told (%s)",
                  d->link ? err.text : "not connected");
}

/* Watch the GPUs' critical events where NVML reports them. */
static void start_health(worker_daemon_t *d)
{
    cairn_error_t err;
    worker_nvml_t *nvml = worker_report_nvml(d->report);
    if (!nvml)
        return;
    if (worker_gpu_health_start(d->loop, nvml, d->res, gpu_health_cb, d, &d->health, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_INFO, "GPU health: not watched (%s)", err.text);
    else
        cairn_log(d->log, CAIRN_LOG_INFO, "GPU health: watching NVML's critical events");
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
        cairn_log(d->log, CAIRN_LOG_INFO, "GPU UUIDs, models or versions taken from NVML");
    if ((rc = worker_report_apply_mig(d->report, d->res, err)) < 0)
        return rc;
    if (rc > 0)
        cairn_log(d->log, CAIRN_LOG_INFO, "%d GPUs in MIG mode: their MIG instances are offered",
                  rc);
    if ((rc = worker_register_msg_create(d->res, &d->reg, err)) < 0)
        return rc;
    start_health(d);
    cairn_error_t herr = {{0}};
    if (cfg->health_cmd &&
        worker_health_check_start(d->loop, cfg->health_cmd, cfg->health_interval_ms,
                                  health_check_failed, d, &d->check, &herr) < 0)
        cairn_log(d->log, CAIRN_LOG_WARN, "health check: %s", herr.text);
    cairn_log(d->log, CAIRN_LOG_INFO,
              "cairn-worker %s: node %s, %zu cores, %u PUs, %zu NUMA domains, %zu GPUs%s",
              CAIRN_VERSION, worker_resources_node(d->res), worker_resources_core_count(d->res),
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
                          .allow_root_tasks = cfg->allow_root_tasks,
                          .pass_env = cfg->pass_env,
                          .npass_env = cfg->npass_env,
                          .start_timeout_ms = cfg->start_timeout_ms,
                          .log = d->log};
    exec_callbacks_t ecb = {.started = daemon_exec_started, .exited = daemon_exec_exited, .arg = d};
    if ((rc = worker_exec_create(d->loop, &ecfg, &ecb, &d->exec, err)) < 0)
        return rc;
    cairn_log(d->log, CAIRN_LOG_INFO, "state directory %s", state_dir);
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
                                 .log = d->log,
                                 .retry_min_ms = cfg->retry_min_ms,
                                 .retry_max_ms = cfg->retry_max_ms,
                                 .hold_ms = cfg->report_hold_ms == 0 ? WORKER_REPORT_HOLD_MS
                                            : cfg->report_hold_ms == UINT32_MAX
                                                ? 0
                                                : cfg->report_hold_ms,
                                 .join_key = d->join_key,
                                 .tls_cert = cfg->tls_cert,
                                 .tls_ca = cfg->tls_ca,
                                 .insecure = cfg->insecure};
    worker_link_callbacks_t lcb = {.registration = registration_cb,
                                   .registered = registered_cb,
                                   .command = command_cb,
                                   .heartbeat = heartbeat_cb,
                                   .arg = d};
    cairn_nng_threads_start(); /* a task's SIGCHLD goes to the loop's thread */
    if ((rc = worker_link_create(d->loop, &lcfg, &lcb, &d->link, err)) < 0)
        return rc;
    cairn_log(d->log, CAIRN_LOG_INFO, "dialing the scheduler at %s", url);
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
    d->log = cfg->log;
    d->report_every = cfg->report_every ? cfg->report_every : DAEMON_REPORT_EVERY;
    d->hash_max_bytes = cfg->hash_max_bytes == 0            ? WORKER_HASH_MAX_BYTES
                        : cfg->hash_max_bytes == UINT64_MAX ? 0
                                                            : cfg->hash_max_bytes;
    d->hash_timeout_ms = cfg->hash_timeout_ms == 0            ? WORKER_HASH_TIMEOUT_MS
                         : cfg->hash_timeout_ms == UINT64_MAX ? 0
                                                              : cfg->hash_timeout_ms;
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
            cairn_log(d->log, CAIRN_LOG_INFO, "killing %zu running task%s", n, n == 1 ? "" : "s");
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
    worker_health_check_stop(d->check);
    d->check = NULL;
    worker_gpu_health_stop(d->health); /* before the NVML it waits in goes */
    d->health = NULL;
    worker_report_destroy(d->report);
    worker_register_msg_destroy(d->reg);
    worker_resources_destroy(d->res);
    d->report = NULL;
    d->reg = NULL;
    d->res = NULL;
    for (size_t i = 0; i < d->natt; i++)
        daemon_att_fini(d, &d->att[i]);
    free(d->att);
    if (d->join_key)
        explicit_bzero(d->join_key, sizeof(*d->join_key));
    free(d->join_key);
    d->join_key = NULL;
    d->att = NULL;
    d->natt = d->att_cap = d->nended = 0;
    cairn_log(d->log, CAIRN_LOG_INFO, "stopped");
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
