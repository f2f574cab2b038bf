/* Simulated nodes for bench_nodes; see bench_nodes_sim.h. */
#include "bench_nodes_sim.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/clock.h"
#include "common/grow.h"
#include "proto/net.h"
#include "worker/daemon.h"
#include "worker/discover.h"
#include "worker/link.h"
#include "worker/register_msg.h"

#define SIM_REPORT_EVERY 3 /* the worker's DAEMON_REPORT_EVERY */

/* An attempt on a simulated node: running, or queued behind one. */
typedef struct sim_att {
    uint64_t id, job, after;
    uint32_t rank;
    char *task;
    int64_t start_ms;
    bool running;
} sim_att_t;

typedef struct sim_shard sim_shard_t;

typedef struct sim_node {
    sim_shard_t *sh;
    uint32_t topo;
    char name[32];
    char *url; /* the scheduler's URL, from the node's own loopback address over TCP */
    worker_link_t *link;
    sim_att_t *att;
    size_t natt, att_cap, nqueued;
    uint64_t heartbeats;
    bool was_registered;
} sim_node_t;

/* An end that falls due: tasks all run as long, so the queue is in order. */
typedef struct sim_end {
    uint32_t node;
    uint64_t attempt;
    int64_t due_ns;
} sim_end_t;

struct sim_shard {
    const sim_shard_config_t *cfg;
    uv_loop_t loop;
    uv_timer_t end_timer;
    uv_signal_t term;
    cairn_log_t log;
    cairn_log_t *lg; /* &log, or NULL: nothing is logged */
    cairn_join_key_t key;
    worker_resources_t **res;
    worker_register_msg_t **tmpl;
    sim_node_t *nodes;
    sim_end_t *ends;
    size_t ends_head, nends, ends_cap;
    bool end_armed;
    /* what one registration or report points to (read during the call) */
    Cairn__Register reg;
    Cairn__RunningAttempt *ra, **rap;
    size_t ra_cap, rap_cap;
    uint64_t *ended;
    size_t ended_cap;
    Cairn__TaskUsage *tu, **tup;
    size_t tu_cap, tup_cap;
    Cairn__GpuUsage *gu, **gup;
    size_t gu_cap, gup_cap;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- attempts -------------------------------------------------------------- */

static sim_att_t *att_find(sim_node_t *n, uint64_t id)
{
    for (size_t i = 0; i < n->natt; i++)
        if (n->att[i].id == id)
            return &n->att[i];
    return NULL;
}

static void att_remove(sim_node_t *n, sim_att_t *a)
{
    if (!a->running)
        n->nqueued--;
    free(a->task);
    *a = n->att[--n->natt];
}

/* The worker's update_hold: routine events wait while the attempts queued
 * here keep its busy slots busy for another round. */
static void update_hold(sim_node_t *n)
{
    size_t busy = n->natt - n->nqueued;
    worker_link_hold(n->link, busy > 0 && n->nqueued >= busy);
}

static void emit(sim_node_t *n, const sim_att_t *a, Cairn__TaskEvent *ev)
{
    cairn_error_t err = {{0}};
    ev->attempt_id = a->id;
    ev->job_id = a->job;
    ev->task_name = a->task;
    ev->rank = a->rank;
    if (worker_link_event(n->link, ev, NULL, &err) < 0)
        cairn_log(n->sh->lg, CAIRN_LOG_ERROR, "%s: event lost: %s", n->name, err.text);
}

static void end_arm(sim_shard_t *sh);

static void att_start(sim_node_t *n, sim_att_t *a)
{
    sim_shard_t *sh = n->sh;
    if (!a->running)
        n->nqueued--;
    a->running = true;
    a->start_ms = cairn_wall_ms();
    Cairn__TaskEvent ev = CAIRN__TASK_EVENT__INIT;
    ev.kind = CAIRN__TASK_EVENT__KIND__STARTED;
    ev.pid = (int32_t)getpid();
    ev.start_time_ms = a->start_ms;
    emit(n, a, &ev);
    if (CAIRN_GROW(sh->ends, sh->ends_cap, sh->ends_head + sh->nends + 1) < 0) {
        cairn_log(sh->lg, CAIRN_LOG_ERROR, "out of memory: attempt %llu never ends",
                  (unsigned long long)a->id);
        return;
    }
    sh->ends[sh->ends_head + sh->nends++] = (sim_end_t){
        (uint32_t)(n - sh->nodes), a->id, mono_ns() + (int64_t)sh->cfg->duration_ms * 1000000LL};
    end_arm(sh);
}

/* Start what was queued behind attempt id. */
static void start_after(sim_node_t *n, uint64_t id)
{
    for (size_t i = 0; i < n->natt; i++)
        if (!n->att[i].running && n->att[i].after == id)
            att_start(n, &n->att[i]);
}

/* An attempt ends (cancelled: by a CancelTask): EXITED, then what waited
 * behind it starts, as the worker does. */
static void att_end(sim_node_t *n, sim_att_t *a, bool cancelled)
{
    Cairn__TaskEvent ev = CAIRN__TASK_EVENT__INIT;
    ev.kind = CAIRN__TASK_EVENT__KIND__EXITED;
    ev.pid = (int32_t)getpid();
    ev.cancelled = cancelled;
    ev.signal = cancelled && a->running ? SIGTERM : 0;
    ev.start_time_ms = a->start_ms;
    ev.end_time_ms = cairn_wall_ms();
    emit(n, a, &ev);
    atomic_fetch_add(&n->sh->cfg->counts->ended, 1);
    uint64_t id = a->id;
    att_remove(n, a);
    start_after(n, id);
    update_hold(n);
}

static void end_timer_cb(uv_timer_t *t)
{
    sim_shard_t *sh = t->data;
    sh->end_armed = false;
    int64_t now = mono_ns();
    while (sh->nends > 0 && sh->ends[sh->ends_head].due_ns <= now + 500000) {
        sim_end_t e = sh->ends[sh->ends_head++];
        sh->nends--;
        sim_node_t *n = &sh->nodes[e.node];
        sim_att_t *a = att_find(n, e.attempt);
        if (a && a->running)
            att_end(n, a, false);
    }
    if (sh->nends == 0 || sh->ends_head > sh->ends_cap / 2) {
        memmove(sh->ends, sh->ends + sh->ends_head, sh->nends * sizeof(*sh->ends));
        sh->ends_head = 0;
    }
    end_arm(sh);
}

static void end_arm(sim_shard_t *sh)
{
    if (sh->end_armed || sh->nends == 0)
        return;
    int64_t wait = sh->ends[sh->ends_head].due_ns - mono_ns();
    sh->end_armed = true;
    uv_timer_start(&sh->end_timer, end_timer_cb, wait > 0 ? (uint64_t)(wait + 999999) / 1000000 : 0,
                   0);
}

/* ---- commands ---------------------------------------------------------------- */

static void on_assign(sim_node_t *n, const Cairn__AssignTask *m)
{
    sim_shard_t *sh = n->sh;
    if (atomic_load(&sh->cfg->counts->stamping)) {
        sim_stamp_t s = {m->job_id, mono_ns()};
        if (write(sh->cfg->stamp_fd, &s, sizeof(s)) != (ssize_t)sizeof(s))
            cairn_log(sh->lg, CAIRN_LOG_WARN, "stamp of job %llu lost",
                      (unsigned long long)m->job_id);
    }
    atomic_fetch_add(&sh->cfg->counts->assigned, 1);
    if (att_find(n, m->attempt_id)) /* a duplicate: ignored, as the worker does */
        return;
    char *task = strdup(m->task_name ? m->task_name : "");
    if (!task || CAIRN_GROW(n->att, n->att_cap, n->natt + 1) < 0) {
        free(task);
        cairn_log(sh->lg, CAIRN_LOG_ERROR, "out of memory: attempt dropped");
        return;
    }
    sim_att_t *a = &n->att[n->natt++];
    *a = (sim_att_t){.id = m->attempt_id,
                     .job = m->job_id,
                     .after = m->after_attempt_id,
                     .rank = m->rank,
                     .task = task};
    n->nqueued++;
    sim_att_t *before = a->after ? att_find(n, a->after) : NULL;
    if (!before || !before->running)
        att_start(n, a);
    update_hold(n);
}

static void on_cancel(sim_node_t *n, const Cairn__CancelTask *m)
{
    sim_att_t *a = att_find(n, m->attempt_id);
    if (a)
        att_end(n, a, true);
}

static void on_read_log(sim_node_t *n, const Cairn__ReadLog *m)
{
    Cairn__LogChunk c = CAIRN__LOG_CHUNK__INIT;
    c.attempt_id = m->attempt_id;
    c.stream = m->stream;
    c.offset = m->offset;
    c.rank = m->rank;
    c.request_id = m->request_id;
    c.eof = att_find(n, m->attempt_id) == NULL;
    worker_link_send(n->link, CAIRN_MSG_LOG_CHUNK, &c.base, NULL);
}

static void command_cb(worker_link_t *l, cairn_msg_type_t type, const ProtobufCMessage *msg,
                       void *arg)
{
    (void)l;
    if (type == CAIRN_MSG_ASSIGN_TASK)
        on_assign(arg, (const Cairn__AssignTask *)msg);
    else if (type == CAIRN_MSG_CANCEL_TASK)
        on_cancel(arg, (const Cairn__CancelTask *)msg);
    else if (type == CAIRN_MSG_READ_LOG)
        on_read_log(arg, (const Cairn__ReadLog *)msg);
}

/* ---- registration and reports --------------------------------------------------- */

static const Cairn__Register *registration_cb(worker_link_t *l, void *arg)
{
    sim_node_t *n = arg;
    sim_shard_t *sh = n->sh;
    sh->reg = *worker_register_msg_get(sh->tmpl[n->topo]);
    sh->reg.node_name = n->name;
    sh->reg.n_running = sh->reg.n_ended_unacked = 0;
    if (CAIRN_GROW(sh->ra, sh->ra_cap, n->natt + 1) == 0 &&
        CAIRN_GROW(sh->rap, sh->rap_cap, n->natt + 1) == 0) {
        for (size_t i = 0; i < n->natt; i++) {
            if (!n->att[i].running)
                continue;
            Cairn__RunningAttempt *r = &sh->ra[sh->reg.n_running];
            cairn__running_attempt__init(r);
            r->attempt_id = n->att[i].id;
            r->job_id = n->att[i].job;
            r->task_name = n->att[i].task;
            r->rank = n->att[i].rank;
            r->pid = (int32_t)getpid();
            r->start_time_ms = n->att[i].start_ms;
            sh->rap[sh->reg.n_running++] = r;
        }
        sh->reg.running = sh->rap;
    }
    size_t ne = worker_link_ended_unacked(l, NULL, 0);
    if (CAIRN_GROW(sh->ended, sh->ended_cap, ne + 1) == 0)
        sh->reg.n_ended_unacked = worker_link_ended_unacked(l, sh->ended, ne);
    sh->reg.ended_unacked = sh->ended;
    return &sh->reg;
}

static void registered_cb(worker_link_t *l, uint64_t node_id, const uint64_t *stale, size_t nstale,
                          void *arg)
{
    sim_node_t *n = arg;
    (void)l;
    (void)node_id;
    sim_counts_t *c = n->sh->cfg->counts;
    atomic_fetch_add(&c->registered, 1);
    if (n->was_registered)
        atomic_fetch_add(&c->reregistered, 1);
    n->was_registered = true;
    /* stale attempts are dropped unreported, as the worker kills them */
    for (size_t i = 0; i < nstale; i++) {
        sim_att_t *a = att_find(n, stale[i]);
        if (a) {
            uint64_t id = a->id;
            att_remove(n, a);
            start_after(n, id);
        }
    }
    update_hold(n);
}

/* Every third heartbeat, as the worker: load, memory, each running
 * attempt's usage and each NVIDIA GPU's (figures made up). */
static void heartbeat_cb(worker_link_t *l, uint64_t seq, void *arg)
{
    sim_node_t *n = arg;
    sim_shard_t *sh = n->sh;
    (void)seq;
    if (++n->heartbeats % SIM_REPORT_EVERY != 0)
        return;
    const worker_resources_t *res = sh->res[n->topo];
    size_t ng = worker_resources_gpu_count(res);
    if (CAIRN_GROW(sh->tu, sh->tu_cap, n->natt + 1) < 0 ||
        CAIRN_GROW(sh->tup, sh->tup_cap, n->natt + 1) < 0 ||
        CAIRN_GROW(sh->gu, sh->gu_cap, ng + 1) < 0 || CAIRN_GROW(sh->gup, sh->gup_cap, ng + 1) < 0)
        return;
    Cairn__ResourceReport r = CAIRN__RESOURCE_REPORT__INIT;
    r.node_name = n->name;
    r.node_id = worker_link_node_id(l);
    r.time_ms = cairn_wall_ms();
    size_t busy = n->natt - n->nqueued;
    r.load_avg_1_milli = r.load_avg_5_milli = r.load_avg_15_milli = (uint32_t)busy * 1000;
    r.memory_total_bytes = worker_resources_memory_bytes(res);
    r.memory_used_bytes = r.memory_total_bytes / 8 + busy * (64u << 20);
    for (size_t i = 0; i < n->natt; i++) {
        if (!n->att[i].running)
            continue;
        Cairn__TaskUsage *t = &sh->tu[r.n_tasks];
        cairn__task_usage__init(t);
        t->attempt_id = n->att[i].id;
        t->cpu_time_usec = (uint64_t)(r.time_ms - n->att[i].start_ms) * 1000;
        t->rss_bytes = t->peak_rss_bytes = 64u << 20;
        sh->tup[r.n_tasks++] = t;
    }
    r.tasks = sh->tup;
    for (size_t i = 0; i < ng; i++) {
        if (worker_resources_gpu(res, i)->vendor != WORKER_GPU_VENDOR_NVIDIA)
            continue;
        Cairn__GpuUsage *g = &sh->gu[r.n_gpus];
        cairn__gpu_usage__init(g);
        g->index = (uint32_t)i;
        sh->gup[r.n_gpus++] = g;
    }
    r.gpus = sh->gup;
    if (worker_link_send(l, CAIRN_MSG_RESOURCE_REPORT, &r.base, NULL) == 0)
        atomic_fetch_add(&sh->cfg->counts->reports, 1);
}

/* ---- the shard ------------------------------------------------------------------- */

static void term_cb(uv_signal_t *s, int signum)
{
    (void)s;
    (void)signum;
    _exit(0); /* the kernel closes every connection at once */
}

static int shard_fail(const sim_shard_config_t *cfg, const char *what, const char *why)
{
    fprintf(stderr, "bench_nodes: shard at sim%u: %s: %s\n", cfg->first, what, why);
    atomic_store(&cfg->counts->failed, 1);
    return 1;
}

/* Over TCP each node dials from an address of its own, 127.x.y.z (all of
 * 127/8 is loopback), as nodes of a real cluster do: the scheduler bounds
 * the connections waiting to register from one address (nodes.h). nng
 * takes the source before a ';' (tcp://SRC;HOST:PORT). */
static int node_url(sim_node_t *n, const char *url, uint32_t index)
{
    uint32_t a = index + 1;
    if (strncmp(url, "tcp://", 6) != 0)
        return (n->url = strdup(url)) ? 0 : -ENOMEM;
    return asprintf(&n->url, "tcp://127.%u.%u.%u;%s", 1 + (a >> 16), (a >> 8) & 255, a & 255,
                    url + 6) < 0
               ? -ENOMEM
               : 0;
}

int sim_shard_run(const sim_shard_config_t *cfg)
{
    static sim_shard_t shard;
    sim_shard_t *sh = &shard;
    cairn_error_t err = {{0}};
    sh->cfg = cfg;
    /* five descriptors a node: its connection, and nng's two pollable pipes */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)cfg->count * 5 + 64)
        return shard_fail(cfg, "too many nodes for the open file limit", "use --per-shard");
    if (cfg->log_path) {
        if (cairn_log_open(&sh->log, "bench_nodes", cfg->log_path, CAIRN_LOG_WARN, &err) < 0)
            return shard_fail(cfg, cfg->log_path, err.text);
        sh->lg = &sh->log;
    }
    if (cfg->join_key && cairn_join_key_load(cfg->join_key, &sh->key, &err) < 0)
        return shard_fail(cfg, cfg->join_key, err.text);
    sh->res = calloc(cfg->ntopos, sizeof(*sh->res));
    sh->tmpl = calloc(cfg->ntopos, sizeof(*sh->tmpl));
    sh->nodes = calloc(cfg->count, sizeof(*sh->nodes));
    if (!sh->res || !sh->tmpl || !sh->nodes)
        return shard_fail(cfg, "setup", "out of memory");
    for (size_t i = 0; i < cfg->ntopos; i++)
        if (worker_discover(cfg->topos[i], "sim", &sh->res[i], &err) < 0 ||
            worker_register_msg_create(sh->res[i], &sh->tmpl[i], &err) < 0)
            return shard_fail(cfg, cfg->topos[i], err.text);
    if (uv_loop_init(&sh->loop) < 0)
        return shard_fail(cfg, "setup", "no loop");
    uv_timer_init(&sh->loop, &sh->end_timer);
    sh->end_timer.data = sh;
    uv_signal_init(&sh->loop, &sh->term);
    uv_signal_start(&sh->term, term_cb, SIGTERM);
    cairn_nng_threads_start();
    worker_link_callbacks_t cb = {.registration = registration_cb,
                                  .registered = registered_cb,
                                  .command = command_cb,
                                  .heartbeat = heartbeat_cb};
    for (uint32_t i = 0; i < cfg->count; i++) {
        sim_node_t *n = &sh->nodes[i];
        n->sh = sh;
        n->topo = (cfg->first + i) % (uint32_t)cfg->ntopos;
        snprintf(n->name, sizeof(n->name), "sim%05u", cfg->first + i);
        if (node_url(n, cfg->url, cfg->first + i) < 0)
            return shard_fail(cfg, n->name, "out of memory");
        worker_link_config_t lc = {.url = n->url,
                                   .node_name = n->name,
                                   .log = sh->lg,
                                   .join_key = cfg->join_key ? &sh->key : NULL,
                                   .hold_ms = WORKER_REPORT_HOLD_MS};
        cb.arg = n;
        if (worker_link_create(&sh->loop, &lc, &cb, &n->link, &err) < 0)
            return shard_fail(cfg, n->name, err.text);
    }
    uv_run(&sh->loop, UV_RUN_DEFAULT);
    return 0;
}
