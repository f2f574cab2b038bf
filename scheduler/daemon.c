/* The scheduler daemon: creation, journal replay, the per-iteration
 * pass-commit-send cycle, and timers. See daemon.h for the loop phases. */
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proto/sign.h"
#include "scheduler/daemon_private.h"
#include "scheduler/journal_pack.h"

int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sched_daemon_config_init(sched_daemon_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->heartbeat_interval_ms = 1000;
    cfg->heartbeat_timeout_ms = 10000;
    cfg->restart_grace_ms = 30000;
    cfg->register_timeout_ms = 30000;
    cfg->kill_grace_ms = 10000;
    cfg->log_timeout_ms = 5000;
    cfg->max_msg = CAIRN_MSG_MAX_DEFAULT;
    cfg->max_reservations = 1;
    cfg->max_jobs_listed = 1000;
    cfg->limits = jobspec_default_limits;
    cfg->sample_interval_ms = USAGE_SAMPLE_DEFAULT_MS;
    cfg->usage_retention_ms = USAGE_RETENTION_DEFAULT_MS;
}

/* Every sample interval: the census (usage.h); every 120th, compaction. */
static void census_cb(uv_timer_t *t)
{
    sched_daemon_t *d = t->data;
    sched_census_t c;
    cairn_error_t err = {{0}};
    int64_t now = wall_ms();
    if (usage_flush(d->usage, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_WARN, "%s", err.text);
    if (d->cfg.sample_interval_ms > 0 && sched_census(d->core, &c) == 0) {
        if (usage_put_census(d->usage, now, d->cfg.sample_interval_ms, &c, &err) < 0)
            cairn_log(d->log, CAIRN_LOG_WARN, "%s", err.text);
        sched_census_fini(&c);
    }
    if (++d->census_ticks % 120 == 1 &&
        usage_compact(d->usage, now, d->cfg.usage_retention_ms, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_WARN, "%s", err.text);
}

int u64vec_push(u64vec_t *v, uint64_t x)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        uint64_t *nv = realloc(v->v, cap * sizeof(uint64_t));
        if (!nv)
            return -ENOMEM;
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = x;
    return 0;
}

int deliveries_push(deliveries_t *v, uint64_t attempt, uint32_t node)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        delivery_t *nv = realloc(v->v, cap * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = (delivery_t){attempt, node};
    return 0;
}

node_link_t *d_link(sched_daemon_t *d, uint32_t node)
{
    if (node >= d->nlinks) {
        size_t n = sched_node_count(d->core);
        if (node >= n)
            return NULL;
        node_link_t *nl = realloc(d->links, n * sizeof(*nl));
        if (!nl)
            return NULL;
        memset(nl + d->nlinks, 0, (n - d->nlinks) * sizeof(*nl));
        for (size_t i = d->nlinks; i < n; i++)
            nl[i].last_heard_ms = d_listen_now(d);
        d->links = nl;
        d->nlinks = n;
    }
    return &d->links[node];
}

static void idle_cb(uv_idle_t *h)
{
    (void)h; /* only keeps the poll phase from blocking while work waits */
}

void d_mark_dirty(sched_daemon_t *d)
{
    d->dirty = true;
    if (!d->busy) {
        d->busy = true;
        uv_idle_start(&d->idle, idle_cb);
    }
}

void d_audit(sched_daemon_t *d, const char *user, const char *action, const char *target,
             const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    cairn_error_t err = {{0}};
    if (audit_append(d->audit, wall_ms(), user, action, target, detail, &err) < 0) {
        cairn_log(d->log, CAIRN_LOG_ERROR, "audit append failed: %s", err.text);
        d->degraded = d->batch_failed = true;
        snprintf(d->degraded_why, sizeof(d->degraded_why), "state storage failed: %.200s",
                 err.text);
    }
    d_mark_dirty(d);
}

/* The configuration as one line, for the audit trail. */
static void config_line(const sched_daemon_t *d, char *buf, size_t n)
{
    const sched_daemon_config_t *c = &d->cfg;
    sched_config_t core = sched_daemon_core_config(c);
    char prefetch[48] = "0";
    if (core.prefetch)
        snprintf(prefetch, sizeof(prefetch), "%u..%u/%ums", core.prefetch, core.prefetch_max,
                 core.prefetch_window_ms);
    snprintf(buf, n,
             "workers=%s clients=%s heartbeat_interval_ms=%lld heartbeat_timeout_ms=%lld "
             "restart_grace_ms=%lld register_timeout_ms=%lld kill_grace_ms=%lld "
             "max_reservations=%u prefetch=%s "
             "join_key=%s tls_cert=%s tls_ca=%s admins=%s allow_anonymous_writes=%d "
             "secret_pattern=%s "
             "max_tasks=%u max_argv=%u max_env=%u max_needs=%u max_string=%zu",
             d->worker_url, d->client_url, (long long)c->heartbeat_interval_ms,
             (long long)c->heartbeat_timeout_ms, (long long)c->restart_grace_ms,
             (long long)c->register_timeout_ms, (long long)c->kill_grace_ms, c->max_reservations,
             prefetch, c->join_key_file ? c->join_key_file : "-", c->tls_cert ? c->tls_cert : "-",
             c->tls_ca ? c->tls_ca : "-", c->admins && *c->admins ? c->admins : "-",
             c->allow_anonymous_writes,
             c->secret_pattern ? c->secret_pattern : PROV_SECRET_PATTERN_DEFAULT,
             c->limits.max_tasks, c->limits.max_argv, c->limits.max_env, c->limits.max_needs,
             c->limits.max_string);
}

typedef struct last_config {
    char detail[2048];
    bool found;
} last_config_t;

static int last_config_cb(const audit_entry_t *e, void *arg)
{
    last_config_t *lc = arg;
    if (!strcmp(e->action, "config")) {
        snprintf(lc->detail, sizeof(lc->detail), "%s", e->detail);
        lc->found = true;
    }
    return 0;
}

/* A configuration that differs from the last one recorded is audited,
 * by the user the scheduler runs as. */
static int audit_config(sched_daemon_t *d, cairn_error_t *err)
{
    char line[2048];
    config_line(d, line, sizeof(line));
    last_config_t lc = {.found = false};
    int rc = audit_list(d->audit, 0, NULL, 0, last_config_cb, &lc, err);
    if (rc < 0 || (lc.found && !strcmp(lc.detail, line)))
        return rc;
    struct passwd pw, *res = NULL;
    char buf[4096], who[64];
    if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &res) == 0 && res)
        snprintf(who, sizeof(who), "%s", res->pw_name);
    else
        snprintf(who, sizeof(who), "uid %u", (unsigned)geteuid());
    if ((rc = audit_append(d->audit, wall_ms(), who, "config", "scheduler", line, err)) < 0)
        return rc;
    return journal_commit(d->journal, err);
}

static void send_x(sched_daemon_t *d, cairn_net_t *net, const cairn_peer_t *to,
                   cairn_msg_type_t type, const ProtobufCMessage *msg, bool lazy)
{
    cairn_error_t err = {{0}};
    if (!journal_pending(d->journal)) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if (cairn_msg_encode(type, msg, &buf, &len, &err) < 0 ||
            cairn_net_send_raw_lazy(net, to, buf, len, lazy, &err) < 0)
            cairn_log(d->log, CAIRN_LOG_WARN, "send %s: %s", cairn_msg_type_name(type), err.text);
        free(buf);
        return;
    }
    if (net == d->cnet && to) { /* told if the commit fails */
        if (d->nbatch_peers == d->batch_peers_cap) {
            size_t cap = d->batch_peers_cap ? d->batch_peers_cap * 2 : 16;
            cairn_peer_t *np = realloc(d->batch_peers, cap * sizeof(*np));
            if (np) {
                d->batch_peers = np;
                d->batch_peers_cap = cap;
            }
        }
        if (d->nbatch_peers < d->batch_peers_cap)
            d->batch_peers[d->nbatch_peers++] = *to;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    if (cairn_msg_encode(type, msg, &buf, &len, &err) < 0) {
        cairn_log(d->log, CAIRN_LOG_ERROR, "encode %s: %s", cairn_msg_type_name(type), err.text);
        return;
    }
    if (d->nout == d->out_cap) {
        size_t cap = d->out_cap ? d->out_cap * 2 : 64;
        outmsg_t *nq = realloc(d->outq, cap * sizeof(*nq));
        if (!nq) {
            free(buf);
            return;
        }
        d->outq = nq;
        d->out_cap = cap;
    }
    outmsg_t *m = &d->outq[d->nout++];
    memset(m, 0, sizeof(*m));
    m->net = net;
    if (to)
        m->peer = *to;
    m->buf = buf;
    m->len = len;
    m->lazy = lazy;
}

void d_send(sched_daemon_t *d, cairn_net_t *net, const cairn_peer_t *to, cairn_msg_type_t type,
            const ProtobufCMessage *msg)
{
    send_x(d, net, to, type, msg, false);
}

void d_send_lazy(sched_daemon_t *d, cairn_net_t *net, const cairn_peer_t *to, cairn_msg_type_t type,
                 const ProtobufCMessage *msg)
{
    send_x(d, net, to, type, msg, true);
}

int d_apply(sched_daemon_t *d, const sched_event_t *ev, const Cairn__JobSpec *js, uint64_t seed,
            cairn_error_t *err)
{
    /* what may wait for the next commit (COMMIT_DELAY_MS): a start, and
     * an end whose allocation an attempt queued behind it takes over (the
     * worker started that one already; nothing waits for this commit) */
    bool lazy = ev->type == SCHED_EV_START;
    sched_attempt_info_t ai;
    if (ev->type == SCHED_EV_FINISH && sched_attempt_get(d->core, ev->u.finish.attempt, &ai) == 0)
        lazy = ai.next != 0;
    int rc = sched_apply(d->core, ev, err);
    if (rc < 0)
        return rc;
    d->events_applied++;
    if (!lazy)
        d->commit_urgent = true;
    uint8_t *buf = NULL;
    size_t len = 0;
    cairn_error_t jerr = {{0}};
    if (journal_event_pack(ev, js, seed, &buf, &len) < 0 ||
        journal_append(d->journal, buf, len, &jerr) < 0) {
        /* the commit below will fail and the state be reloaded */
        cairn_log(d->log, CAIRN_LOG_ERROR, "journal append failed: %s", jerr.text);
        d->degraded = d->batch_failed = true;
        snprintf(d->degraded_why, sizeof(d->degraded_why), "state storage failed: %.200s",
                 jerr.text);
    }
    free(buf);
    d_mark_dirty(d);
    return 0;
}

/* --- journal replay ----------------------------------------------------- */

static int replay_cb(uint64_t seq, const uint8_t *buf, size_t len, void *arg)
{
    sched_daemon_t *d = arg;
    sched_event_t ev;
    journal_hold_t hold;
    cairn_error_t err = {{0}};
    int rc = journal_event_unpack(buf, len, &ev, &hold, NULL, &err);
    if (rc == 0 && (rc = sched_apply(d->core, &ev, &err)) < 0)
        cairn_log(d->log, CAIRN_LOG_ERROR, "journal entry %llu (%s) does not apply: %s",
                  (unsigned long long)seq, sched_event_type_name(ev.type), err.text);
    else if (rc < 0)
        cairn_log(d->log, CAIRN_LOG_ERROR, "journal entry %llu: %s", (unsigned long long)seq,
                  err.text);
    journal_hold_fini(&hold);
    return rc < 0 ? rc : 0;
}

sched_config_t sched_daemon_core_config(const sched_daemon_config_t *c)
{
    bool on = !c || !c->no_prefetch;
    return (sched_config_t){.max_reservations = c ? c->max_reservations : 1,
                            .prefetch = on ? SCHED_DAEMON_PREFETCH : 0,
                            .prefetch_max = on ? SCHED_DAEMON_PREFETCH_MAX : 0,
                            .prefetch_window_ms = SCHED_DAEMON_PREFETCH_WINDOW_MS};
}

/* (Re)build the core from the journal. */
static int load_state(sched_daemon_t *d, cairn_error_t *err)
{
    sched_config_t sc = sched_daemon_core_config(&d->cfg);
    sched_t *core = sched_create(&sc);
    if (!core)
        return errcode(err, -ENOMEM, "out of memory");
    sched_t *old = d->core;
    d->core = core;
    int rc = journal_replay(d->journal, replay_cb, d, err);
    if (rc < 0) {
        sched_destroy(core);
        d->core = old;
        return rc ? rc : errcode(err, -EIO, "journal replay failed");
    }
    sched_destroy(old);
    return 0;
}

/* --- the check phase: pass, commit, send -------------------------------- */

static void place_cb(const sched_event_t *ev, void *arg)
{
    sched_daemon_t *d = arg;
    uint8_t *buf = NULL;
    size_t len = 0;
    cairn_error_t err = {{0}};
    d->placements++;
    d->commit_urgent = true; /* queued ones too: the line must not run dry */
    if (journal_event_pack(ev, NULL, 0, &buf, &len) < 0 ||
        journal_append(d->journal, buf, len, &err) < 0) {
        d->degraded = d->batch_failed = true;
        snprintf(d->degraded_why, sizeof(d->degraded_why), "state storage failed: %.200s",
                 err.text);
    }
    free(buf);
    deliveries_push(&d->assign, ev->u.place.attempt, UINT32_MAX);
}

static void drop_pending_output(sched_daemon_t *d)
{
    for (size_t i = 0; i < d->nout; i++)
        free(d->outq[i].buf);
    d->nout = 0;
    d->assign.n = 0;
    d->cancel.n = 0;
}

static void flush_output(sched_daemon_t *d)
{
    cairn_error_t err = {{0}};
    for (size_t i = 0; i < d->nout; i++) {
        outmsg_t *m = &d->outq[i];
        if (cairn_net_send_raw_lazy(m->net, &m->peer, m->buf, m->len, m->lazy, &err) < 0)
            cairn_log(d->log, CAIRN_LOG_WARN, "send: %s", err.text);
        free(m->buf);
    }
    d->nout = 0;
    for (size_t i = 0; i < d->assign.n; i++)
        dispatch_assign(d, d->assign.v[i].attempt, d->assign.v[i].node);
    d->assign.n = 0;
    for (size_t i = 0; i < d->cancel.n; i++)
        dispatch_cancel(d, d->cancel.v[i], (uint32_t)d->cfg.kill_grace_ms);
    d->cancel.n = 0;
}

static void arm_wakeup(sched_daemon_t *d);

static void commit_timer_cb(uv_timer_t *t)
{
    sched_daemon_t *d = t->data;
    d->commit_urgent = true;
    d_mark_dirty(d);
}

/* Whether the pending journal entries may wait for a later commit. */
static bool commit_can_wait(sched_daemon_t *d)
{
    if (d->commit_urgent || d->degraded || !journal_pending(d->journal))
        return false;
    if (!uv_is_active((uv_handle_t *)&d->commit_timer))
        uv_timer_start(&d->commit_timer, commit_timer_cb, COMMIT_DELAY_MS, 0);
    return true;
}

static void check_cb(uv_check_t *h)
{
    sched_daemon_t *d = h->data;
    if (d->dirty) {
        d->dirty = false;
        uint64_t t0 = uv_hrtime();
        int n = sched_place(d->core, wall_ms(), place_cb, d);
        histogram_observe(&d->pass_latency, (double)(uv_hrtime() - t0) / 1e9);
        if (n < 0)
            cairn_log(d->log, CAIRN_LOG_ERROR, "placement pass failed: %d", n);
        arm_wakeup(d);
    }
    workers_save_seqs(d);
    clients_history_flush(d);
    if ((journal_pending(d->journal) || d->degraded) && !commit_can_wait(d)) {
        d->commit_urgent = false;
        uv_timer_stop(&d->commit_timer);
        cairn_error_t err = {{0}};
        bool pending = journal_pending(d->journal);
        if (pending && (d->batch_failed || journal_commit(d->journal, &err) < 0)) {
            journal_rollback(d->journal);
            cairn_log(d->log, CAIRN_LOG_ERROR,
                      "commit failed (%s): reloading the state; "
                      "new submissions are refused until a write succeeds",
                      err.text[0] ? err.text : d->degraded_why);
            if (err.text[0]) /* else an append failed and said why already */
                snprintf(d->degraded_why, sizeof(d->degraded_why), "state storage failed: %.200s",
                         err.text);
            d->degraded = true;
            d->batch_failed = false;
            drop_pending_output(d);
            /* the clients of the batch get an answer: nothing of it was kept */
            for (size_t i = 0; i < d->nbatch_peers; i++)
                clients_error(d, &d->batch_peers[i], CAIRN__ERROR_CODE__ERROR_CODE_UNAVAILABLE,
                              "%s; nothing was changed, try again later", d->degraded_why);
            d->nbatch_peers = 0;
            cairn_error_t lerr = {{0}};
            if (audit_reload(d->audit, &lerr) < 0 || cache_reload(d->cache, &lerr) < 0 ||
                load_state(d, &lerr) < 0 || workers_load_seqs(d, &lerr) < 0 ||
                clients_history_loaded(d, &lerr) < 0)
                cairn_log(d->log, CAIRN_LOG_ERROR, "reload failed: %s", lerr.text);
            d_mark_dirty(d);
        } else if (pending && d->degraded) { /* a commit went through */
            d->degraded = false;
            cairn_log(d->log, CAIRN_LOG_INFO, "state storage works again");
        }
        d->nbatch_peers = 0;
    }
    if (!journal_pending(d->journal)) {
        if (d->njwaits)
            clients_answer_waits(d, false);
        flush_output(d);
    }
    if (!d->dirty && d->busy) {
        d->busy = false;
        uv_idle_stop(&d->idle);
    }
}

static void wake_cb(uv_timer_t *t)
{
    d_mark_dirty(t->data);
}

/* Wake the loop when the earliest backoff ends. */
static void arm_wakeup(sched_daemon_t *d)
{
    int64_t at = sched_next_wakeup(d->core);
    if (at == INT64_MAX) {
        uv_timer_stop(&d->wake_timer);
        return;
    }
    int64_t delay = at - wall_ms();
    uv_timer_start(&d->wake_timer, wake_cb, (uint64_t)(delay > 0 ? delay : 0), 0);
}

static void metrics_cb(uv_timer_t *t)
{
    sched_daemon_t *d = t->data;
    char *prom = NULL, *json = NULL;
    status_render(d, &prom, &json);
    if (prom && json)
        metrics_publish(d->metrics, prom, json);
    free(prom);
    free(json);
}

static int open_endpoints(sched_daemon_t *d, cairn_error_t *err);

/* Close both endpoints and open them again (see watchdog.h). Workers and
 * clients reconnect by themselves; workers re-register. */
static void reopen_endpoints(sched_daemon_t *d, const char *why)
{
    cairn_log(d->log, CAIRN_LOG_WARN, "%s stopped answering: reopening the endpoints", why);
    cairn_net_destroy(d->wnet);
    cairn_net_destroy(d->cnet);
    d->wnet = d->cnet = NULL;
    nng_close(d->wsock);
    nng_close(d->csock);
    for (size_t i = 0; i < d->nlinks; i++) /* every worker pipe is gone */
        d->links[i].pipe = 0;
    d->pm_n = 0;
    if (d->pm_keys)
        memset(d->pm_keys, 0, d->pm_cap * sizeof(uint32_t));
    d->nwaits = 0;
    d->njwaits = 0;
    for (size_t i = 0; i < d->nout; i++) /* addressed to the old sockets */
        free(d->outq[i].buf);
    d->nout = 0;
    cairn_error_t err = {{0}};
    if (open_endpoints(d, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_ERROR, "reopening the endpoints failed: %s", err.text);
}

/* nng 1.5.2 sockets can wedge after a peer drops during the handshake:
 * probe each endpoint end to end and reopen them when one stops answering. */
static void watch_cb(uv_timer_t *t)
{
    sched_daemon_t *d = t->data;
    if (watchdog_tick(d->wwatch))
        reopen_endpoints(d, d->worker_url);
    else if (watchdog_tick(d->cwatch))
        reopen_endpoints(d, d->client_url);
}

int64_t d_listen_now(const sched_daemon_t *d)
{
    return (int64_t)uv_now(d->loop) - d->unheard_ms;
}

/* A heartbeat tick later than two intervals means the loop could not run
 * (nor hear workers) meanwhile: the excess is not counted as silence. */
static void note_stall(sched_daemon_t *d)
{
    uint64_t now = uv_now(d->loop);
    int64_t every = d->cfg.heartbeat_interval_ms > 0 ? d->cfg.heartbeat_interval_ms : 1000;
    int64_t dt = (int64_t)(now - d->last_tick_ms);
    d->last_tick_ms = now;
    if (dt > 2 * every) {
        d->unheard_ms += dt - every;
        cairn_log(d->log, CAIRN_LOG_WARN,
                  "the scheduler could not run for %lld ms: that time does not count as any "
                  "node's silence",
                  (long long)(dt - every));
    }
}

static void hb_cb(uv_timer_t *t)
{
    sched_daemon_t *d = t->data;
    note_stall(d);
    if (d->degraded && !journal_pending(d->journal)) {
        cairn_error_t err = {{0}};
        if (journal_probe(d->journal, &err) == 0) {
            d->degraded = false;
            cairn_log(d->log, CAIRN_LOG_INFO,
                      "state storage works again: submissions are accepted");
        }
    }
    workers_check_heartbeats(d);
    workers_expire_pending(d);
    dispatch_expire_waits(d);
}

/* --- creation ----------------------------------------------------------- */

static int mkdir_p(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0700) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* prefix + dir + suffix, malloc'd */
static char *path_join(const char *prefix, const char *dir, const char *suffix)
{
    size_t n = strlen(prefix) + strlen(dir) + strlen(suffix) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s", prefix, dir, suffix);
    return s;
}

int clients_listen(nng_socket s, const char *url, const cairn_tls_t *tls,
                   cairn_error_t *err); /* clients.c */

static int open_endpoints(sched_daemon_t *d, cairn_error_t *err)
{
    int rv;
    cairn_nng_threads_start(); /* SIGTERM goes to the loop's thread */
    if ((rv = nng_pair1_open_poly(&d->wsock)) != 0 || (rv = nng_rep0_open_raw(&d->csock)) != 0)
        return errcode(err, -EIO, "cannot open sockets: %s", nng_strerror(rv));
    nng_socket_set_int(d->wsock, NNG_OPT_SENDBUF, 1024);
    nng_socket_set_int(d->wsock, NNG_OPT_RECVBUF, 1024);
    nng_socket_set_int(d->csock, NNG_OPT_SENDBUF, 256);
    nng_socket_set_int(d->csock, NNG_OPT_RECVBUF, 256);
    cairn_net_callbacks_t wcb = {
        .recv = workers_recv, .bad = workers_bad, .pipe = workers_pipe, .arg = d};
    cairn_net_callbacks_t ccb = {.recv = clients_recv, .bad = clients_bad, .arg = d};
    if (cairn_net_create(d->loop, d->wsock, d->cfg.max_msg, &wcb, &d->wnet, err) < 0 ||
        cairn_net_create(d->loop, d->csock, d->cfg.max_msg, &ccb, &d->cnet, err) < 0)
        return -EIO;
    cairn_net_set_flow(d->wnet, CAIRN_NET_FLOW_SENDER);
    cairn_net_set_auth(d->wnet, CAIRN_NET_AUTH_EXPLICIT, 0);  /* until a Register is accepted */
    cairn_net_set_auth(d->cnet, CAIRN_NET_AUTH_TRANSPORT, 0); /* anonymous tcp:// clients */
    cairn_tls_t tls = {.cert_key = d->cfg.tls_cert, .ca = d->cfg.tls_ca};
    nng_listener wl;
    cairn_error_t terr = {{0}};
    if ((rv = nng_listener_create(&wl, d->wsock, d->worker_url)) != 0 ||
        (rv = cairn_tls_listener(wl, d->worker_url, &tls, &terr)) != 0 ||
        (rv = nng_listener_start(wl, 0)) != 0)
        return errcode(err, -EADDRINUSE, "cannot listen for workers on %s: %s", d->worker_url,
                       terr.text[0] ? terr.text : nng_strerror(rv));
    if ((rv = clients_listen(d->csock, d->client_url, &tls, &terr)) != 0)
        return errcode(err, -EADDRINUSE, "cannot listen for clients on %s: %s", d->client_url,
                       terr.text[0] ? terr.text : nng_strerror(rv));
    if (d->cfg.tls_ca && !d->verifier &&
        cairn_verifier_open(d->cfg.tls_ca, d->cfg.tls_cert, 0, &d->verifier, err) < 0)
        return -EINVAL;
    if (!d->wwatch)
        d->wwatch = watchdog_create(d->worker_url, true, &tls);
    if (!d->cwatch)
        d->cwatch = watchdog_create(d->client_url, false, &tls);
    if (!d->wwatch || !d->cwatch)
        return errcode(err, -ENOMEM, "out of memory");
    return 0;
}

/* After a restart no node has registered with this scheduler yet: every
 * node that was up (or draining) is returning. It keeps its attempts and
 * takes nothing new until it registers again, or goes down when
 * --restart-grace runs out (workers_check_heartbeats). Journaled, so a
 * replay places exactly as this run does. */
static void mark_returning(sched_daemon_t *d)
{
    uint32_t n = sched_node_count(d->core);
    for (uint32_t i = 0; i < n; i++) {
        sched_node_state_t st = sched_node_state(d->core, i);
        if (st != SCHED_NODE_UP && st != SCHED_NODE_DRAINING)
            continue;
        sched_event_t ev = {.type = SCHED_EV_NODE_STATE, .time_ms = wall_ms()};
        ev.u.node_state.node = i;
        ev.u.node_state.state = SCHED_NODE_RETURNING;
        cairn_error_t err = {{0}};
        if (d_apply(d, &ev, NULL, 0, &err) < 0)
            cairn_log(d->log, CAIRN_LOG_ERROR, "node %s: %s", sched_node_name(d->core, i),
                      err.text);
    }
}

static void handle_closed(uv_handle_t *h)
{
    sched_daemon_t *d = h->data;
    if (--d->handles_open == 0) {
        free(d);
    }
}

int sched_daemon_create(uv_loop_t *loop, const sched_daemon_config_t *cfg, cairn_log_t *log,
                        sched_daemon_t **out, cairn_error_t *err)
{
    if (!cfg->state_dir || !*cfg->state_dir)
        return errcode(err, -EINVAL, "no state directory");
    sched_daemon_t *d = calloc(1, sizeof(*d));
    if (!d)
        return errcode(err, -ENOMEM, "out of memory");
    d->loop = loop;
    d->cfg = *cfg;
    d->log = log;
    int rc = mkdir_p(cfg->state_dir);
    if (rc < 0) {
        free(d);
        return errcode(err, rc, "cannot create state directory %s: %s", cfg->state_dir,
                       strerror(-rc));
    }
    d->state_dir = strdup(cfg->state_dir);
    d->journal_path = path_join("", cfg->state_dir, "/journal.db");
    d->worker_url = cfg->worker_url ? strdup(cfg->worker_url)
                                    : path_join("ipc://", cfg->state_dir, "/workers.sock");
    d->client_url = cfg->client_url ? strdup(cfg->client_url)
                                    : path_join("ipc://", cfg->state_dir, "/clients.sock");
    uv_check_init(loop, &d->check);
    uv_idle_init(loop, &d->idle);
    uv_timer_init(loop, &d->hb_timer);
    uv_timer_init(loop, &d->wake_timer);
    uv_timer_init(loop, &d->metrics_timer);
    uv_timer_init(loop, &d->watch_timer);
    uv_timer_init(loop, &d->jwait_timer);
    uv_timer_init(loop, &d->commit_timer);
    uv_timer_init(loop, &d->census_timer);
    d->jwait_timer.data = d->commit_timer.data = d->census_timer.data = d;
    d->check.data = d->idle.data = d->hb_timer.data = d->wake_timer.data = d;
    d->metrics_timer.data = d->watch_timer.data = d;
    d->handles_open = 9;
    if (!d->state_dir || !d->journal_path || !d->worker_url || !d->client_url) {
        rc = errcode(err, -ENOMEM, "out of memory");
        goto fail;
    }
    if (cfg->join_key_file) {
        d->join_key = calloc(1, sizeof(*d->join_key));
        if (!d->join_key) {
            rc = errcode(err, -ENOMEM, "out of memory");
            goto fail;
        }
        if ((rc = cairn_join_key_load(cfg->join_key_file, d->join_key, err)) < 0)
            goto fail;
    }
    if ((rc = journal_open(d->journal_path, &d->journal, err)) < 0 ||
        (rc = audit_open(d->journal, &d->audit, err)) < 0 ||
        (rc = prov_open(d->journal, &d->prov, err)) < 0 ||
        (rc = cache_open(d->journal, &d->cache, err)) < 0 ||
        (rc = usage_open(d->journal, &d->usage, err)) < 0 ||
        (rc = history_open(d->journal, &d->history, err)) < 0 || (rc = load_state(d, err)) < 0 ||
        (rc = clients_history_loaded(d, err)) < 0 ||
        (rc = journal_load_replica_exits(d->journal, workers_rexit_loaded, d, err)) < 0)
        goto fail;
    d_link(d, sched_node_count(d->core) ? sched_node_count(d->core) - 1 : 0);
    if ((rc = workers_load_seqs(d, err)) < 0)
        goto fail;
    /* its stores open on tables that exist now */
    if ((rc = reader_create(loop, d->journal_path, &d->reader, err)) < 0)
        goto fail;
    d->last_tick_ms = uv_now(loop);
    d->started_ms = d_listen_now(d);
    mark_returning(d);
    if ((rc = open_endpoints(d, err)) < 0 || (rc = audit_config(d, err)) < 0)
        goto fail;
    if (cfg->http_addr && (rc = metrics_start(cfg->http_addr, &d->metrics, err)) < 0)
        goto fail;
    if (d->metrics) {
        metrics_cb(&d->metrics_timer);
        uv_timer_start(&d->metrics_timer, metrics_cb, 1000, 1000);
    }
    uv_check_start(&d->check, check_cb);
    uv_timer_start(&d->watch_timer, watch_cb, 100, 1000);
    uint64_t every = (uint64_t)(cfg->heartbeat_interval_ms > 0 ? cfg->heartbeat_interval_ms : 1000);
    uv_timer_start(&d->hb_timer, hb_cb, every, every);
    /* without a census, the timer still writes the usage reports out */
    uint64_t sample =
        (uint64_t)(cfg->sample_interval_ms > 0 ? cfg->sample_interval_ms : USAGE_SAMPLE_DEFAULT_MS);
    uv_timer_start(&d->census_timer, census_cb, sample, sample);
    cairn_log(log, CAIRN_LOG_INFO,
              "state %s: %llu journal entries, %u nodes, %u jobs; workers on %s, "
              "clients on %s",
              d->journal_path, (unsigned long long)journal_count(d->journal),
              sched_node_count(d->core), sched_job_count(d->core), d->worker_url, d->client_url);
    d_mark_dirty(d);
    *out = d;
    return 0;
fail:
    sched_daemon_destroy(d);
    return rc;
}

void sched_daemon_destroy(sched_daemon_t *d)
{
    if (!d)
        return;
    if (d->journal && journal_pending(d->journal)) {
        cairn_error_t err = {{0}};
        /* committing is safe: nothing acknowledged depends on rolling back */
        journal_commit(d->journal, &err);
    }
    reader_destroy(d->reader); /* before the stores: it may hold a read open */
    d->reader = NULL;
    metrics_stop(d->metrics);
    d->metrics = NULL;
    watchdog_destroy(d->wwatch);
    watchdog_destroy(d->cwatch);
    d->wwatch = d->cwatch = NULL;
    cairn_verifier_close(d->verifier);
    d->verifier = NULL;
    cairn_net_destroy(d->wnet);
    cairn_net_destroy(d->cnet);
    if (d->wsock.id)
        nng_close(d->wsock);
    if (d->csock.id)
        nng_close(d->csock);
    drop_pending_output(d);
    audit_close(d->audit);
    prov_close(d->prov);
    cache_close(d->cache);
    usage_close(d->usage);
    history_close(d->history);
    journal_close(d->journal);
    sched_destroy(d->core);
    for (size_t i = 0; i < d->nlinks; i++) {
        free(d->links[i].worker_version);
        free(d->links[i].fingerprint);
        free(d->links[i].driver);
        free(d->links[i].cuda);
        free(d->links[i].pending);
    }
    free(d->links);
    free(d->outq);
    free(d->assign.v);
    free(d->cancel.v);
    free(d->waits);
    free(d->jwaits);
    free(d->batch_peers);
    for (size_t i = 0; i < d->nserr; i++)
        free(d->serr[i].text);
    free(d->serr);
    if (d->join_key)
        explicit_bzero(d->join_key, sizeof(*d->join_key));
    free(d->join_key);
    free(d->pend);
    free(d->pm_keys);
    free(d->pm_vals);
    free(d->rexits);
    free(d->state_dir);
    free(d->journal_path);
    free(d->worker_url);
    free(d->client_url);
    uv_close((uv_handle_t *)&d->check, handle_closed);
    uv_close((uv_handle_t *)&d->idle, handle_closed);
    uv_close((uv_handle_t *)&d->hb_timer, handle_closed);
    uv_close((uv_handle_t *)&d->wake_timer, handle_closed);
    uv_close((uv_handle_t *)&d->metrics_timer, handle_closed);
    uv_close((uv_handle_t *)&d->watch_timer, handle_closed);
    uv_close((uv_handle_t *)&d->jwait_timer, handle_closed);
    uv_close((uv_handle_t *)&d->commit_timer, handle_closed);
    uv_close((uv_handle_t *)&d->census_timer, handle_closed);
}
