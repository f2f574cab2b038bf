/* Messages from workers: registration with adoption of running attempts,
 * heartbeats, resource reports, task events; node loss by silence. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/validate.h"
#include "scheduler/daemon_private.h"
#include "worker/node_desc.h"

/* --- pipe -> node map ---------------------------------------------------- */

static size_t pm_slot(const sched_daemon_t *d, uint32_t key)
{
    return (size_t)(key * 2654435761u) & (d->pm_cap - 1);
}

static int pm_put(sched_daemon_t *d, uint32_t key, uint32_t node)
{
    if ((d->pm_n + 1) * 2 > d->pm_cap) {
        size_t cap = d->pm_cap ? d->pm_cap * 2 : 64;
        uint32_t *k = calloc(cap, sizeof(uint32_t)), *v = calloc(cap, sizeof(uint32_t));
        if (!k || !v) {
            free(k);
            free(v);
            return -ENOMEM;
        }
        uint32_t *ok = d->pm_keys, *ov = d->pm_vals;
        size_t ocap = d->pm_cap;
        d->pm_keys = k;
        d->pm_vals = v;
        d->pm_cap = cap;
        d->pm_n = 0;
        for (size_t i = 0; i < ocap; i++)
            if (ok[i])
                pm_put(d, ok[i], ov[i] - 1);
        free(ok);
        free(ov);
    }
    size_t i = pm_slot(d, key);
    while (d->pm_keys[i] && d->pm_keys[i] != key)
        i = (i + 1) & (d->pm_cap - 1);
    if (!d->pm_keys[i])
        d->pm_n++;
    d->pm_keys[i] = key;
    d->pm_vals[i] = node + 1;
    return 0;
}

int workers_node_of_pipe(sched_daemon_t *d, uint32_t pipe, uint32_t *node)
{
    if (!d->pm_cap || !pipe)
        return -ENOENT;
    for (size_t i = pm_slot(d, pipe); d->pm_keys[i]; i = (i + 1) & (d->pm_cap - 1))
        if (d->pm_keys[i] == pipe) {
            *node = d->pm_vals[i] - 1;
            return 0;
        }
    return -ENOENT;
}

static void pm_del(sched_daemon_t *d, uint32_t key)
{
    if (!d->pm_cap)
        return;
    size_t i = pm_slot(d, key);
    while (d->pm_keys[i] && d->pm_keys[i] != key)
        i = (i + 1) & (d->pm_cap - 1);
    if (!d->pm_keys[i])
        return;
    d->pm_keys[i] = 0;
    d->pm_n--;
    /* re-insert the rest of the cluster */
    for (size_t j = (i + 1) & (d->pm_cap - 1); d->pm_keys[j]; j = (j + 1) & (d->pm_cap - 1)) {
        uint32_t k = d->pm_keys[j], v = d->pm_vals[j];
        d->pm_keys[j] = 0;
        d->pm_n--;
        pm_put(d, k, v - 1);
    }
}

/* The node has no connection any more (its log reads are answered). */
static void unbind(sched_daemon_t *d, uint32_t node)
{
    node_link_t *l = d_link(d, node);
    if (l && l->pipe) {
        pm_del(d, l->pipe);
        dispatch_fail_waits(d, l->pipe, "the node's connection was lost");
        l->pipe = 0;
    }
}

/* --- registration -------------------------------------------------------- */

static void remote_addr(nng_pipe p, char *buf, size_t n)
{
    nng_sockaddr sa;
    snprintf(buf, n, "127.0.0.1");
    if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
        return;
    if (sa.s_family == NNG_AF_INET) {
        const uint8_t *a = (const uint8_t *)&sa.s_in.sa_addr;
        snprintf(buf, n, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
    }
}

static bool listed(const uint64_t *v, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == id)
            return true;
    return false;
}

/* Which of the worker's running attempts are adopted, which are stale, and
 * what the scheduler expected there that the worker no longer runs. */
static void reconcile(sched_daemon_t *d, uint32_t node, const Cairn__Register *reg,
                      Cairn__RegisterReply *rep, uint64_t *stale)
{
    int64_t now = wall_ms();
    uint64_t *seen = calloc(reg->n_running + 1, sizeof(uint64_t));
    size_t nstale = 0;
    for (size_t i = 0; i < reg->n_running; i++) {
        const Cairn__RunningAttempt *ra = reg->running[i];
        sched_attempt_info_t ai;
        bool ours = sched_attempt_get(d->core, ra->attempt_id, &ai) == 0 &&
                    ai.end == SCHED_END_NONE && ra->rank < ai.nreplicas &&
                    ai.allocs[ra->rank].node == node;
        if (!ours) {
            stale[nstale++] = ra->attempt_id;
            continue;
        }
        if (seen)
            seen[i] = ra->attempt_id;
        if (!ai.started_ms) {
            sched_event_t ev = {.type = SCHED_EV_START, .time_ms = ra->start_time_ms};
            ev.u.start.attempt = ra->attempt_id;
            d_apply(d, &ev, NULL, 0, NULL);
        }
    }
    rep->n_stale_attempt_ids = nstale;
    rep->stale_attempt_ids = stale;
    /* what the core runs here that the worker did not list */
    size_t n = sched_node_attempts(d->core, node, NULL, 0);
    uint64_t *ids = calloc(n + 1, sizeof(uint64_t));
    if (ids && seen) {
        sched_node_attempts(d->core, node, ids, n);
        for (size_t i = 0; i < n; i++) {
            sched_attempt_info_t ai;
            if (listed(seen, reg->n_running, ids[i]) ||
                listed(reg->ended_unacked, reg->n_ended_unacked, ids[i]) ||
                sched_attempt_get(d->core, ids[i], &ai) < 0)
                continue;
            if (ai.started_ms) {
                /* it ran here and is gone: the worker restarted */
                cairn_log(d->log, CAIRN_LOG_WARN, "node %s lost attempt %llu", reg->node_name,
                          (unsigned long long)ids[i]);
                sched_event_t ev = {.type = SCHED_EV_FINISH, .time_ms = now};
                ev.u.finish.attempt = ids[i];
                ev.u.finish.end = SCHED_END_NODE_LOST;
                d_apply(d, &ev, NULL, 0, NULL);
                u64vec_push(&d->cancel, ids[i]); /* other replicas of a gang */
            } else {
                deliveries_push(&d->assign, ids[i], node); /* never reached it */
            }
        }
    }
    free(ids);
    free(seen);
}

/* d->serr is sorted by attempt id (lookups come for every attempt of a
 * status reply); when full, the lowest (oldest) id goes. */
static size_t serr_lower(const sched_daemon_t *d, uint64_t attempt)
{
    size_t lo = 0, hi = d->nserr;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->serr[mid].attempt < attempt)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void start_error_put(sched_daemon_t *d, uint64_t attempt, const char *text)
{
    if (!text || !text[0] || start_error_get(d, attempt))
        return;
    if (!d->serr && !(d->serr = calloc(START_ERRORS_MAX, sizeof(*d->serr))))
        return;
    if (d->nserr == START_ERRORS_MAX) { /* forget the oldest */
        free(d->serr[0].text);
        memmove(d->serr, d->serr + 1, --d->nserr * sizeof(*d->serr));
    }
    char *t = strndup(text, 1024);
    if (!t)
        return;
    size_t i = serr_lower(d, attempt);
    memmove(d->serr + i + 1, d->serr + i, (d->nserr - i) * sizeof(*d->serr));
    d->serr[i] = (start_error_t){attempt, t};
    d->nserr++;
}

const char *start_error_get(const sched_daemon_t *d, uint64_t attempt)
{
    size_t i = serr_lower(d, attempt);
    return i < d->nserr && d->serr[i].attempt == attempt ? d->serr[i].text : NULL;
}

/* --- connections not registered yet ---------------------------------------- */

/* Who is at the other end, for the per-address bound and for binding a
 * node's name: "address A" over a network, "uid N" on ipc:// (the kernel
 * says), "" when unknown. */
static void pipe_ident(nng_pipe p, char *buf, size_t n, bool *network)
{
    nng_sockaddr sa;
    uint64_t uid;
    char a[INET6_ADDRSTRLEN] = "";
    buf[0] = '\0';
    *network = false;
    if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_UID, &uid) == 0) {
        snprintf(buf, n, "uid %llu", (unsigned long long)uid);
        return;
    }
    if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
        return;
    if (sa.s_family == NNG_AF_INET)
        inet_ntop(AF_INET, &sa.s_in.sa_addr, a, sizeof(a));
    else if (sa.s_family == NNG_AF_INET6)
        inet_ntop(AF_INET6, sa.s_in6.sa_addr, a, sizeof(a));
    if (a[0]) {
        snprintf(buf, n, "address %s", a);
        *network = true;
    }
}

static pending_pipe_t *pending_find(sched_daemon_t *d, uint32_t pipe)
{
    for (size_t i = 0; i < d->npend; i++)
        if (d->pend[i].pipe == pipe)
            return &d->pend[i];
    return NULL;
}

static void pending_remove(sched_daemon_t *d, uint32_t pipe)
{
    pending_pipe_t *x = pending_find(d, pipe);
    if (x)
        *x = d->pend[--d->npend];
}

/* Track a connection that is not (or no longer) a registered node's;
 * refuses (closing it) past the bounds. NULL when refused. */
static pending_pipe_t *pending_add(sched_daemon_t *d, nng_pipe p)
{
    pending_pipe_t *x = pending_find(d, p.id);
    if (x)
        return x;
    char id[48];
    bool network;
    pipe_ident(p, id, sizeof(id), &network);
    size_t same = 0;
    for (size_t i = 0; network && i < d->npend; i++)
        same += !strcmp(d->pend[i].addr, id);
    if (same >= PENDING_PER_ADDR || d->npend >= PENDING_MAX) {
        cairn_log(d->log, CAIRN_LOG_WARN,
                  "worker connection from %s closed: %zu connections wait to register%s",
                  id[0] ? id : "an unknown peer", same >= PENDING_PER_ADDR ? same : d->npend,
                  same >= PENDING_PER_ADDR ? " from there" : "");
        nng_pipe_close(p);
        return NULL;
    }
    if (!(d->npend & (d->npend + 1)) || !d->pend) { /* grow at 0, 1, 3, 7, ... */
        pending_pipe_t *np = realloc(d->pend, (2 * d->npend + 2) * sizeof(*np));
        if (!np) {
            nng_pipe_close(p);
            return NULL;
        }
        d->pend = np;
    }
    x = &d->pend[d->npend++];
    memset(x, 0, sizeof(*x));
    x->pipe = p.id;
    x->since_ms = d_listen_now(d);
    snprintf(x->addr, sizeof(x->addr), "%s", id);
    return x;
}

void workers_expire_pending(sched_daemon_t *d)
{
    int64_t now = d_listen_now(d);
    for (size_t i = 0; i < d->npend;) {
        pending_pipe_t x = d->pend[i];
        if (now - x.since_ms < d->cfg.register_timeout_ms) {
            i++;
            continue;
        }
        d->pend[i] = d->pend[--d->npend];
        cairn_log(d->log, CAIRN_LOG_INFO,
                  "worker connection from %s closed: not registered after %lld ms",
                  x.addr[0] ? x.addr : "an unknown peer", (long long)d->cfg.register_timeout_ms);
        nng_pipe_close((nng_pipe){.id = x.pipe});
    }
}

/* The challenge sent on pipe, taken out of the table (answered once). */
static bool challenge_take(sched_daemon_t *d, uint32_t pipe, uint8_t out[CAIRN_JOIN_CHALLENGE_LEN])
{
    pending_pipe_t *x = pending_find(d, pipe);
    if (!x || !x->challenged)
        return false;
    memcpy(out, x->c, CAIRN_JOIN_CHALLENGE_LEN);
    x->challenged = false;
    return true;
}

static int challenge_new(sched_daemon_t *d, nng_pipe p, uint8_t out[CAIRN_JOIN_CHALLENGE_LEN])
{
    pending_pipe_t *x = pending_add(d, p);
    if (!x)
        return -EBUSY;
    int rc = cairn_join_random(out, CAIRN_JOIN_CHALLENGE_LEN);
    if (rc < 0)
        return rc;
    memcpy(x->c, out, CAIRN_JOIN_CHALLENGE_LEN);
    x->challenged = true;
    return 0;
}

/* With a join key: 1 if reg proves the worker holds it (answering the
 * challenge sent on this connection), and proof gets the scheduler's own
 * proof for the reply; else 0 and a new challenge goes back, after a
 * warning when a wrong answer came. */
static int join_check(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__Register *reg,
                      uint8_t proof[CAIRN_JOIN_HMAC_LEN])
{
    uint8_t c[CAIRN_JOIN_CHALLENGE_LEN];
    const Cairn__Auth *a = reg->auth;
    bool had = challenge_take(d, from->pipe.id, c);
    if (a && had &&
        cairn_join_check(d->join_key, c, sizeof(c), a->nonce.data, a->nonce.len, reg->node_name,
                         a->hmac.data, a->hmac.len)) {
        cairn_join_prove(d->join_key, c, sizeof(c), a->nonce.data, a->nonce.len, reg->node_name,
                         proof);
        return 1;
    }
    char addr[64];
    remote_addr(from->pipe, addr, sizeof(addr));
    if (a)
        cairn_log(d->log, CAIRN_LOG_WARN, "worker %s (%s) refused: %s (its key %s, ours %s)",
                  reg->node_name, addr[0] ? addr : "local",
                  had ? "wrong join key" : "answer to no challenge",
                  a->key_id && a->key_id[0] ? a->key_id : "?", d->join_key->id);
    else if (had) /* challenged on this connection before, and no answer */
        cairn_log(d->log, CAIRN_LOG_WARN, "worker %s (%s) refused: it does not hold the join key",
                  reg->node_name, addr[0] ? addr : "local");
    Cairn__RegisterReply rep = CAIRN__REGISTER_REPLY__INIT;
    rep.accepted = false;
    rep.error = a ? "authentication failed: this scheduler's join key differs"
                  : "authentication required: start the worker with the cluster's --join-key";
    if (challenge_new(d, from->pipe, c) == 0) {
        rep.challenge.data = c;
        rep.challenge.len = sizeof(c);
    }
    d_send(d, d->wnet, from, CAIRN_MSG_REGISTER_REPLY, &rep.base);
    return 0;
}

/* A node's name is bound to the identity it registered with; while the
 * node is not down (away, or returning after a restart) another identity
 * cannot take it. Returns false (err says why) for such a takeover. */
static bool ident_may_take(sched_daemon_t *d, const char *name, const char *ident,
                           cairn_error_t *err)
{
    uint32_t node;
    node_link_t *l;
    if (sched_node_find(d->core, name, &node) < 0 || !(l = d_link(d, node)) || !l->ident[0] ||
        !strcmp(l->ident, ident) || sched_node_state(d->core, node) == SCHED_NODE_DOWN)
        return true;
    errcode(err, -EEXIST,
            "node %.64s is the worker at %s, not down yet: one at %s may take the name once "
            "it is down (--heartbeat-timeout; --restart-grace after a restart), or use another "
            "--name",
            name, l->ident, ident[0] ? ident : "an unknown peer");
    return false;
}

static void on_register(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__Register *reg)
{
    Cairn__RegisterReply rep = CAIRN__REGISTER_REPLY__INIT;
    cairn_error_t err = {{0}};
    node_desc_t *cn = NULL;
    uint32_t node;
    char esc[200], ident[64];
    bool network;
    const char *bad = cairn_name_problem(reg->node_name, 255, true);
    if (bad) {
        snprintf(err.text, sizeof(err.text), "node name '%s' %s",
                 cairn_log_escape(reg->node_name, esc, 100), bad);
        goto refuse;
    }
    if (reg->protocol_version != CAIRN_PROTO_VERSION) {
        snprintf(err.text, sizeof(err.text), "protocol version %u, this scheduler speaks %u",
                 reg->protocol_version, CAIRN_PROTO_VERSION);
        goto refuse;
    }
    pipe_ident(from->pipe, ident, sizeof(ident), &network);
    if (!ident_may_take(d, reg->node_name, ident, &err))
        goto refuse;
    uint8_t proof[CAIRN_JOIN_HMAC_LEN];
    if (d->join_key && join_check(d, from, reg, proof) != 1)
        return;
    if (d->join_key)
        rep.proof = (ProtobufCBinaryData){.len = sizeof(proof), .data = proof};
    if (node_desc_build(reg, &cn, &err) < 0)
        goto refuse;
    if (sched_node_find(d->core, reg->node_name, &node) == 0) {
        node_link_t *l = d_link(d, node);
        if (l && l->pipe && l->pipe != from->pipe.id) {
            snprintf(err.text, sizeof(err.text), "node name %s is already connected",
                     reg->node_name);
            goto refuse;
        }
    }
    /* a node that is new, or was down, joins (audited); one that
     * reconnects while up (a scheduler restart, a blip) does not */
    uint32_t known;
    bool joins = sched_node_find(d->core, reg->node_name, &known) != 0 ||
                 sched_node_state(d->core, known) == SCHED_NODE_DOWN;
    sched_event_t ev = {.type = SCHED_EV_NODE_ADD, .time_ms = wall_ms()};
    ev.u.node_add = *node_desc_core(cn);
    if (d_apply(d, &ev, NULL, 0, &err) < 0)
        goto refuse;
    sched_node_find(d->core, reg->node_name, &node);
    node_link_t *l = d_link(d, node);
    if (!l) {
        snprintf(err.text, sizeof(err.text), "out of memory");
        goto refuse;
    }
    uint32_t old;
    if (workers_node_of_pipe(d, from->pipe.id, &old) == 0 && old != node)
        unbind(d, old);
    unbind(d, node);
    l->pipe = from->pipe.id;
    pm_put(d, l->pipe, node);
    l->last_heard_ms = d_listen_now(d);
    free(l->worker_version);
    l->worker_version = strdup(reg->worker_version ? reg->worker_version : "");
    free(l->fingerprint);
    l->fingerprint = strdup(reg->topology_fingerprint ? reg->topology_fingerprint : "");
    const char *drv = "", *cuda = "";
    for (size_t g = 0; reg->resources && g < reg->resources->n_gpus; g++) {
        const Cairn__Gpu *gpu = reg->resources->gpus[g];
        if (!*drv && gpu->driver_version)
            drv = gpu->driver_version;
        if (!*cuda && gpu->cuda_version)
            cuda = gpu->cuda_version;
    }
    free(l->driver);
    free(l->cuda);
    l->driver = strdup(drv);
    l->cuda = strdup(cuda);
    remote_addr(from->pipe, l->addr, sizeof(l->addr));
    pending_remove(d, from->pipe.id);
    if (l->incarnation != reg->incarnation) { /* a new worker process: new seqs */
        l->incarnation = reg->incarnation;
        l->last_seq = 0;
        l->seq_dirty = true;
    }
    if (strcmp(l->ident, ident)) { /* the name is bound to it from now on */
        snprintf(l->ident, sizeof(l->ident), "%s", ident);
        l->seq_dirty = true;
    }
    uint64_t *stale = calloc(reg->n_running + 1, sizeof(uint64_t));
    if (!stale) {
        snprintf(err.text, sizeof(err.text), "out of memory");
        goto refuse;
    }
    rep.accepted = true;
    rep.node_id = node + 1;
    rep.heartbeat_interval_ms = (uint32_t)d->cfg.heartbeat_interval_ms;
    reconcile(d, node, reg, &rep, stale);
    /* attempts placed here while it was away follow the reply */
    for (size_t i = 0; i < l->npending; i++)
        deliveries_push(&d->assign, l->pending[i], node);
    l->npending = 0;
    cairn_log(d->log, CAIRN_LOG_INFO,
              "node %s registered (%u cores, %d GPUs, %zu running, %zu stale)", reg->node_name,
              (unsigned)node_desc_core(cn)->ncores, node_desc_core(cn)->ngpus, reg->n_running,
              rep.n_stale_attempt_ids);
    if (joins) {
        char who[300], target[300];
        snprintf(who, sizeof(who), "node:%.255s", reg->node_name);
        snprintf(target, sizeof(target), "node %.255s", reg->node_name);
        d_audit(d, who, "node_join", target,
                "address=%s cores=%u gpus=%d worker_version=%s topology=%s join_key=%s",
                l->addr[0] ? l->addr : "local", (unsigned)node_desc_core(cn)->ncores,
                node_desc_core(cn)->ngpus, reg->worker_version ? reg->worker_version : "",
                reg->topology_fingerprint ? reg->topology_fingerprint : "",
                d->join_key ? "verified" : "none");
    }
    cairn_net_pipe_authenticate(d->wnet, from->pipe, NULL); /* its full message limit */
    d_send(d, d->wnet, from, CAIRN_MSG_REGISTER_REPLY, &rep.base);
    free(stale);
    node_desc_destroy(cn);
    return;
refuse:
    cairn_log(d->log, CAIRN_LOG_WARN, "registration of %s refused: %s",
              cairn_log_escape(reg->node_name, esc, 100), err.text);
    pending_add(d, from->pipe); /* not registered: bounded and expires */
    rep.accepted = false;
    rep.error = err.text;
    d_send(d, d->wnet, from, CAIRN_MSG_REGISTER_REPLY, &rep.base);
    node_desc_destroy(cn);
}

/* --- heartbeats and reports ---------------------------------------------- */

static void on_heartbeat(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__Heartbeat *hb)
{
    Cairn__HeartbeatReply rep = CAIRN__HEARTBEAT_REPLY__INIT;
    uint32_t node;
    rep.seq = hb->seq;
    if (workers_node_of_pipe(d, from->pipe.id, &node) == 0 &&
        sched_node_state(d->core, node) != SCHED_NODE_DOWN) {
        /* a known node's heartbeat needs no answer: with hundreds of
         * workers, answers (and their confirmations) would be most of the
         * idle scheduler's work */
        d_link(d, node)->last_heard_ms = d_listen_now(d);
        return;
    }
    rep.reregister = true;
    d_send(d, d->wnet, from, CAIRN_MSG_HEARTBEAT_REPLY, &rep.base);
}

static void on_report(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__ResourceReport *r)
{
    uint32_t node;
    if (workers_node_of_pipe(d, from->pipe.id, &node) < 0)
        return;
    node_link_t *l = d_link(d, node);
    l->last_heard_ms = d_listen_now(d);
    /* the sample covers the time since its previous report (at most a
     * minute; the first: three heartbeats, the workers' report period) */
    int64_t span = l->report_ms > 0 ? r->time_ms - l->report_ms : 3 * d->cfg.heartbeat_interval_ms;
    if (span <= 0 || span > 60000)
        span = span <= 0 ? 3 * d->cfg.heartbeat_interval_ms : 60000;
    cairn_error_t err = {{0}};
    if (usage_put_report(d->usage, sched_node_name(d->core, node), span, r, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_WARN, "%s", err.text);
    l->report_ms = r->time_ms;
    l->load1_milli = r->load_avg_1_milli;
    l->mem_used = r->memory_used_bytes;
    l->mem_total = r->memory_total_bytes;
}

/* --- task events ----------------------------------------------------------- */

static void finish(sched_daemon_t *d, uint64_t attempt, sched_end_t end, int code, int sig,
                   int64_t t)
{
    sched_event_t ev = {.type = SCHED_EV_FINISH, .time_ms = t};
    ev.u.finish.attempt = attempt;
    ev.u.finish.end = end;
    ev.u.finish.exit_code = code;
    ev.u.finish.signal = sig;
    cairn_error_t err = {{0}};
    sched_attempt_info_t ai;
    if (d_apply(d, &ev, NULL, 0, &err) < 0) {
        cairn_log(d->log, CAIRN_LOG_WARN, "finish of attempt %llu: %s", (unsigned long long)attempt,
                  err.text);
    } else if (sched_attempt_get(d->core, attempt, &ai) == 0 &&
               sched_task_state(d->core, ai.job, ai.task) == SCHED_TASK_RETRYING) {
        d->retries[end & 7]++;
        cairn_log(d->log, CAIRN_LOG_INFO, "job %u task %s attempt %u ended (%s): retrying", ai.job,
                  sched_task_name(d->core, ai.job, ai.task), ai.number, sched_end_name(end));
    }
}

static int rexit_push(sched_daemon_t *d, replica_exit_t x)
{
    if (d->nrexits == d->rexits_cap) {
        size_t cap = d->rexits_cap ? d->rexits_cap * 2 : 16;
        replica_exit_t *n = realloc(d->rexits, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        d->rexits = n;
        d->rexits_cap = cap;
    }
    d->rexits[d->nrexits++] = x;
    return 0;
}

/* A gang attempt ends when one replica fails (the others are cancelled) or
 * when every replica has succeeded. */
static void gang_exit(sched_daemon_t *d, const sched_attempt_info_t *ai, uint32_t rank,
                      sched_end_t end, int code, int sig, int64_t t)
{
    bool ok = end == SCHED_END_EXIT && code == 0;
    for (size_t i = 0; i < d->nrexits; i++)
        if (d->rexits[i].attempt == ai->id && d->rexits[i].rank == rank)
            return; /* this replica's exit counts once */
    if (!ok) {
        finish(d, ai->id, end, code, sig, t);
        u64vec_push(&d->cancel, ai->id);
        return;
    }
    uint32_t done = 1;
    for (size_t i = 0; i < d->nrexits; i++)
        if (d->rexits[i].attempt == ai->id)
            done++;
    if (done == ai->nreplicas) {
        size_t k = 0;
        for (size_t i = 0; i < d->nrexits; i++)
            if (d->rexits[i].attempt != ai->id)
                d->rexits[k++] = d->rexits[i];
        d->nrexits = k;
        finish(d, ai->id, SCHED_END_EXIT, 0, 0, t);
        return;
    }
    if (rexit_push(d, (replica_exit_t){ai->id, rank, end, code, sig}) < 0)
        return;
    cairn_error_t err = {{0}};
    d->commit_urgent = true;
    if (journal_put_replica_exit(d->journal, ai->id, rank, (int)end, code, sig, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_ERROR, "replica exit not saved: %s", err.text);
}

/* After a restart: the exits of replicas whose gang still runs. */
void workers_rexit_loaded(uint64_t attempt, uint32_t rank, int end, int code, int sig, void *arg)
{
    sched_daemon_t *d = arg;
    sched_attempt_info_t ai;
    if (sched_attempt_get(d->core, attempt, &ai) < 0 || ai.end != SCHED_END_NONE)
        return;
    rexit_push(d, (replica_exit_t){attempt, rank, (sched_end_t)end, code, sig});
}

static void seq_loaded(const char *node, uint64_t incarnation, uint64_t seq, const char *ident,
                       void *arg)
{
    sched_daemon_t *d = arg;
    uint32_t id;
    node_link_t *l;
    if (sched_node_find(d->core, node, &id) < 0 || !(l = d_link(d, id)))
        return;
    l->incarnation = incarnation;
    l->last_seq = seq;
    snprintf(l->ident, sizeof(l->ident), "%s", ident ? ident : "");
}

int workers_load_seqs(sched_daemon_t *d, cairn_error_t *err)
{
    for (size_t i = 0; i < d->nlinks; i++) {
        d->links[i].incarnation = d->links[i].last_seq = 0;
        d->links[i].seq_dirty = false;
        d->links[i].ident[0] = '\0';
    }
    return journal_load_workers(d->journal, seq_loaded, d, err);
}

void workers_save_seqs(sched_daemon_t *d)
{
    for (size_t i = 0; i < d->nlinks; i++) {
        node_link_t *l = &d->links[i];
        if (!l->seq_dirty)
            continue;
        l->seq_dirty = false;
        cairn_error_t err = {{0}};
        if (journal_put_worker(d->journal, sched_node_name(d->core, (uint32_t)i), l->incarnation,
                               l->last_seq, l->ident, &err) < 0) {
            cairn_log(d->log, CAIRN_LOG_ERROR, "%s", err.text);
            d->degraded = d->batch_failed = true;
            snprintf(d->degraded_why, sizeof(d->degraded_why), "state storage failed: %.200s",
                     err.text);
        }
    }
}

/* Provenance of a replica that started: its node as it is now. */
static void prov_started(sched_daemon_t *d, const sched_attempt_info_t *ai, uint32_t rank,
                         uint32_t node)
{
    node_link_t *l = d_link(d, node);
    Cairn__AttemptProvenance m = CAIRN__ATTEMPT_PROVENANCE__INIT;
    Cairn__GpuProvenance g[64], *gp[64];
    m.node = (char *)sched_node_name(d->core, node);
    if (l) {
        m.node_fingerprint = l->fingerprint ? l->fingerprint : "";
        m.worker_version = l->worker_version ? l->worker_version : "";
        m.driver_version = l->driver ? l->driver : "";
        m.cuda_version = l->cuda ? l->cuda : "";
    }
    size_t ng = 0;
    for (uint32_t i = 0; i < 64; i++) {
        sched_gpu_desc_t gd;
        if (!(ai->allocs[rank].gpu_mask >> i & 1) || !sched_node_gpu(d->core, node, i, &gd))
            continue;
        cairn__gpu_provenance__init(&g[ng]);
        g[ng].index = i;
        g[ng].uuid = (char *)(gd.uuid ? gd.uuid : "");
        g[ng].model = (char *)(gd.model ? gd.model : "");
        g[ng].pci_bus_id = (char *)(gd.pci_bus_id ? gd.pci_bus_id : "");
        g[ng].vendor = (char *)(gd.vendor ? gd.vendor : "");
        gp[ng] = &g[ng];
        ng++;
    }
    m.n_gpus = ng;
    m.gpus = gp;
    cairn_error_t err = {{0}};
    if (prov_put_start(d->prov, ai->id, rank, &m, &err) < 0) {
        cairn_log(d->log, CAIRN_LOG_ERROR, "%s", err.text);
        d->degraded = d->batch_failed = true;
        snprintf(d->degraded_why, sizeof(d->degraded_why), "state storage failed: %.200s",
                 err.text);
    }
}

/* Whether an EXITED attempt succeeded with every declared output hashed:
 * a result worth keeping for its cache key. */
static bool cacheable(const sched_task_info_t *ti, const Cairn__TaskEvent *te)
{
    if (te->exit_code != 0 || te->signal || te->cancelled || te->timed_out || te->memory_exceeded ||
        te->n_outputs != ti->noutputs || te->n_outputs == 0)
        return false;
    for (size_t i = 0; i < te->n_outputs; i++)
        if ((te->outputs[i]->error && te->outputs[i]->error[0]) || !te->outputs[i]->sha256 ||
            strlen(te->outputs[i]->sha256) != 64)
            return false;
    return true;
}

static bool same_outputs(const Cairn__AttemptProvenance *a, const Cairn__TaskEvent *te)
{
    if (a->n_outputs != te->n_outputs)
        return false;
    for (size_t i = 0; i < te->n_outputs; i++)
        if (strcmp(a->outputs[i]->path, te->outputs[i]->path) ||
            strcmp(a->outputs[i]->sha256, te->outputs[i]->sha256))
            return false;
    return true;
}

/* Provenance of a replica that ended: what it used and left; for a cached
 * task, its result recorded under its key, or the reuse of one. */
static void prov_ended(sched_daemon_t *d, const sched_attempt_info_t *ai,
                       const Cairn__TaskEvent *te)
{
    Cairn__AttemptProvenance m = CAIRN__ATTEMPT_PROVENANCE__INIT;
    m.peak_rss_bytes = te->peak_rss_bytes;
    m.cpu_time_usec = te->cpu_time_usec;
    m.error = te->error ? te->error : "";
    m.n_outputs = te->n_outputs;
    m.outputs = te->outputs;
    cairn_error_t err = {{0}};
    char key[CACHE_KEY_HEX];
    cache_entry_t hit = {0};
    sched_task_info_t ti;
    if (te->kind == CAIRN__TASK_EVENT__KIND__EXITED && ai->nreplicas == 1 &&
        sched_task_info(d->core, ai->job, ai->task, &ti) == 0 &&
        cache_key(d->core, d->prov, ai->job, ai->task, key)) {
        m.cache_key = key;
        int rc = 0;
        if (te->cached) {
            rc = cache_lookup(d->cache, key, &hit, &err);
            /* whose results these are (a newer run may have replaced the
             * entry meanwhile: then it is not named) */
            if (rc > 0 && same_outputs(hit.outputs, te)) {
                m.cached_from_job = hit.job;
                m.cached_from_task = hit.task;
                rc = cache_hit_put(d->cache, ai->id, hit.job, hit.task, &err);
            } else if (rc >= 0) {
                rc = cache_hit_put(d->cache, ai->id, 0, "?", &err);
            }
        } else if (cacheable(&ti, te)) {
            rc = cache_put(d->cache, key, ai->job, ti.name, ai->id, te->n_outputs, te->outputs,
                           &err);
        }
        if (rc < 0) {
            cairn_log(d->log, CAIRN_LOG_ERROR, "%s", err.text);
            d->degraded = d->batch_failed = true;
        }
    }
    if (prov_put_end(d->prov, te->attempt_id, te->rank, &m, &err) < 0) {
        cairn_log(d->log, CAIRN_LOG_ERROR, "%s", err.text);
        d->degraded = d->batch_failed = true;
        snprintf(d->degraded_why, sizeof(d->degraded_why), "state storage failed: %.200s",
                 err.text);
    }
    if (hit.outputs)
        cairn__attempt_provenance__free_unpacked(hit.outputs, NULL);
}

static void on_task_event(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__TaskEvent *te)
{
    uint32_t node;
    if (workers_node_of_pipe(d, from->pipe.id, &node) < 0) {
        cairn_log(d->log, CAIRN_LOG_WARN, "task event from an unregistered pipe ignored");
        return; /* not acknowledged: it comes again after registration */
    }
    node_link_t *l = d_link(d, node);
    Cairn__Ack ack = CAIRN__ACK__INIT;
    ack.seq = te->seq;
    if (l && l->incarnation && te->seq <= l->last_seq) {
        /* applied already; its Ack was lost with a connection */
        cairn_log(d->log, CAIRN_LOG_DEBUG,
                  "task event %llu from %s applied already: acknowledged again",
                  (unsigned long long)te->seq, sched_node_name(d->core, node));
        d_send_lazy(d, d->wnet, from, CAIRN_MSG_ACK, &ack.base);
        return;
    }
    if (l && l->incarnation) {
        l->last_seq = te->seq;
        l->seq_dirty = true;
    }
    sched_attempt_info_t ai;
    bool current = sched_attempt_get(d->core, te->attempt_id, &ai) == 0 &&
                   ai.end == SCHED_END_NONE && te->rank < ai.nreplicas &&
                   ai.allocs[te->rank].node == node;
    if (!current) {
        cairn_log(d->log, CAIRN_LOG_INFO, "stale report for attempt %llu from %s ignored",
                  (unsigned long long)te->attempt_id, sched_node_name(d->core, node));
    } else if (te->kind == CAIRN__TASK_EVENT__KIND__STARTED) {
        prov_started(d, &ai, te->rank, node);
        if (!ai.started_ms) {
            sched_event_t ev = {.type = SCHED_EV_START, .time_ms = te->start_time_ms};
            ev.u.start.attempt = te->attempt_id;
            d_apply(d, &ev, NULL, 0, NULL);
            if (te->start_time_ms >= ai.placed_ms)
                histogram_observe(&d->start_latency,
                                  (double)(te->start_time_ms - ai.placed_ms) / 1e3);
        }
    } else if (te->kind == CAIRN__TASK_EVENT__KIND__EXITED ||
               te->kind == CAIRN__TASK_EVENT__KIND__FAILED_TO_START) {
        sched_end_t end = SCHED_END_EXIT;
        int code = te->exit_code, sig = te->signal;
        if (te->kind == CAIRN__TASK_EVENT__KIND__FAILED_TO_START) {
            end = SCHED_END_START_FAILED;
            start_error_put(d, te->attempt_id, te->error);
            cairn_log(d->log, CAIRN_LOG_WARN, "attempt %llu of task %s failed to start: %s",
                      (unsigned long long)te->attempt_id, te->task_name ? te->task_name : "?",
                      te->error && te->error[0] ? te->error : "no reason given");
        } else if (te->cancelled)
            end = SCHED_END_CANCELLED;
        else if (te->timed_out)
            end = SCHED_END_TIMEOUT;
        else if (te->memory_exceeded)
            end = SCHED_END_SIGNAL, sig = 9;
        else if (te->signal)
            end = SCHED_END_SIGNAL;
        int64_t t = te->end_time_ms ? te->end_time_ms : wall_ms();
        if (te->cached) /* never started: the node it was checked on */
            prov_started(d, &ai, te->rank, node);
        prov_ended(d, &ai, te);
        if (ai.nreplicas > 1)
            gang_exit(d, &ai, te->rank, end, code, sig, t);
        else
            finish(d, te->attempt_id, end, code, sig, t);
    }
    /* the worker only drops the event when acknowledged (else resends it
     * after registering again, a duplicate dropped by seq): no hurry */
    d_send_lazy(d, d->wnet, from, CAIRN_MSG_ACK, &ack.base);
}

/* --- dispatch ------------------------------------------------------------ */

void workers_recv(cairn_net_t *n, const cairn_peer_t *from, cairn_msg_type_t type,
                  ProtobufCMessage *msg, void *arg)
{
    sched_daemon_t *d = arg;
    (void)n;
    switch (type) {
    case CAIRN_MSG_REGISTER:
        on_register(d, from, (const Cairn__Register *)msg);
        break;
    case CAIRN_MSG_HEARTBEAT:
        on_heartbeat(d, from, (const Cairn__Heartbeat *)msg);
        break;
    case CAIRN_MSG_RESOURCE_REPORT:
        on_report(d, from, (const Cairn__ResourceReport *)msg);
        break;
    case CAIRN_MSG_TASK_EVENT:
        on_task_event(d, from, (const Cairn__TaskEvent *)msg);
        break;
    case CAIRN_MSG_LOG_CHUNK:
        dispatch_log_chunk(d, from, (const Cairn__LogChunk *)msg);
        break;
    default:
        d->bad_messages++;
        cairn_log(d->log, CAIRN_LOG_WARN, "unexpected %s from a worker ignored",
                  cairn_msg_type_name(type));
        break;
    }
}

void workers_bad(cairn_net_t *n, const cairn_peer_t *from, int code, const char *why, void *arg)
{
    sched_daemon_t *d = arg;
    (void)n;
    (void)code;
    d->bad_messages++;
    cairn_log(d->log, CAIRN_LOG_WARN, "refused a message on worker pipe %u: %s", from->pipe.id,
              why);
}

void workers_pipe(cairn_net_t *n, nng_pipe p, bool added, void *arg)
{
    sched_daemon_t *d = arg;
    (void)n;
    uint32_t node;
    if (added) {
        pending_add(d, p); /* bounded: may close it at once */
        return;
    }
    pending_remove(d, p.id); /* and its unanswered challenge */
    if (workers_node_of_pipe(d, p.id, &node) < 0)
        return;
    /* a lost connection is not a lost node: heartbeats decide that */
    cairn_log(d->log, CAIRN_LOG_INFO, "node %s disconnected", sched_node_name(d->core, node));
    unbind(d, node);
}

/* Nodes silent past the timeout (or not back within the grace period after
 * a restart) go down; their running attempts become node-lost. */
void workers_check_heartbeats(sched_daemon_t *d)
{
    int64_t now = d_listen_now(d);
    uint32_t n = sched_node_count(d->core);
    for (uint32_t i = 0; i < n; i++) {
        if (sched_node_state(d->core, i) == SCHED_NODE_DOWN)
            continue;
        node_link_t *l = d_link(d, i);
        if (!l)
            return;
        int64_t limit = d->cfg.heartbeat_timeout_ms;
        /* after a restart, nodes get the grace period to come back */
        bool returning = sched_node_state(d->core, i) == SCHED_NODE_RETURNING;
        if (returning ? now - d->started_ms < d->cfg.restart_grace_ms
                      : now - l->last_heard_ms <= limit)
            continue;
        if (returning)
            cairn_log(d->log, CAIRN_LOG_WARN,
                      "node %s not back within the restart grace (%lld ms): down",
                      sched_node_name(d->core, i), (long long)d->cfg.restart_grace_ms);
        else
            cairn_log(d->log, CAIRN_LOG_WARN, "node %s silent for %lld ms: down",
                      sched_node_name(d->core, i), (long long)(now - l->last_heard_ms));
        char target[300];
        snprintf(target, sizeof(target), "node %.255s", sched_node_name(d->core, i));
        d_audit(d, "scheduler", "node_loss", target, "silent_ms=%lld running=%zu",
                (long long)(now - l->last_heard_ms), sched_node_attempts(d->core, i, NULL, 0));
        size_t na = sched_node_attempts(d->core, i, NULL, 0);
        uint64_t *lost = calloc(na + 1, sizeof(uint64_t));
        if (lost)
            sched_node_attempts(d->core, i, lost, na);
        sched_event_t ev = {.type = SCHED_EV_NODE_STATE, .time_ms = wall_ms()};
        ev.u.node_state.node = i;
        ev.u.node_state.state = SCHED_NODE_DOWN;
        cairn_error_t err = {{0}};
        if (d_apply(d, &ev, NULL, 0, &err) < 0)
            cairn_log(d->log, CAIRN_LOG_ERROR, "node down: %s", err.text);
        for (size_t k = 0; lost && k < na; k++) {
            u64vec_push(&d->cancel, lost[k]); /* gang replicas elsewhere */
            sched_attempt_info_t ai;
            if (sched_attempt_get(d->core, lost[k], &ai) == 0 &&
                sched_task_state(d->core, ai.job, ai.task) == SCHED_TASK_RETRYING)
                d->retries[SCHED_END_NODE_LOST]++;
        }
        free(lost);
        uint32_t pipe = l->pipe;
        unbind(d, i);
        if (pipe) /* still connected, no longer a node's: bounded and expires */
            pending_add(d, (nng_pipe){.id = pipe});
        l->npending = 0;
    }
}
