/* Messages from workers: registration with adoption of running attempts,
 * heartbeats, resource reports (task events: workers_events.c); node loss
 * by silence. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "proto/sign.h"
#include "proto/validate.h"
#include "scheduler/daemon_private.h"
#include "worker/node_desc.h"

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
    int64_t now = cairn_wall_ms();
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
            batch_apply(d, &ev, NULL, 0, NULL);
        }
        if (ai.preempted) /* preempted while its node was away: told again */
            outbox_cancel(d->out, ra->attempt_id);
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
                batch_apply(d, &ev, NULL, 0, NULL);
                outbox_cancel(d->out, ids[i]); /* other replicas of a gang */
            } else if (ai.preempted) {
                /* never reached it, and now not to run: it ends as it is */
                sched_event_t ev = {.type = SCHED_EV_FINISH, .time_ms = now};
                ev.u.finish.attempt = ids[i];
                ev.u.finish.end = SCHED_END_PREEMPTED;
                batch_apply(d, &ev, NULL, 0, NULL);
            } else {
                outbox_assign(d->out, ids[i], node); /* never reached it */
            }
        }
    }
    free(ids);
    free(seen);
}

/* Whether a node is down or removed: no worker is it now. */
static bool node_gone(const sched_daemon_t *d, uint32_t node)
{
    sched_node_state_t st = sched_node_state(d->core, node);
    return st == SCHED_NODE_DOWN || st == SCHED_NODE_REMOVED;
}

/* A node's identity when it proved a certificate: this, then the CN. */
#define CERT_IDENT "certificate CN="

/* Whether workers prove their certificate: the worker endpoint is TLS
 * and the scheduler verifies peers against --tls-ca. */
static bool certs_required(const sched_daemon_t *d)
{
    return d->verifier && !strncmp(d->workers.url, "tls+", 4);
}

/* Whether workers must answer a challenge on each connection. */
static bool auth_required(const sched_daemon_t *d)
{
    return d->join_key || certs_required(d);
}

/* What a worker that has not answered is told it needs. */
static const char *auth_needed_text(const sched_daemon_t *d)
{
    if (d->join_key && certs_required(d))
        return "authentication required: the cluster's --join-key, and the registration "
               "signed with the worker's certificate (--tls-cert)";
    if (d->join_key)
        return "authentication required: start the worker with the cluster's --join-key";
    return "authentication required: the registration signed with the worker's certificate "
           "(--tls-cert)";
}

/* The worker's certificate, proven on this connection (its answer a to
 * challenge c): its identity "certificate CN=..." into ident; the node name
 * must be one of the certificate's names unless --allow-any-node-name. */
static int cert_check(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__Register *reg,
                      const uint8_t *c, size_t clen, char *ident, size_t identsz,
                      cairn_error_t *err)
{
    bool verified = false, named = false;
    char cn[256];
    if (nng_pipe_get_bool(from->pipe, NNG_OPT_TLS_VERIFIED, &verified) != 0 || !verified)
        return errcode(err, -EACCES, "its TLS connection has no verified client certificate");
    int rc = cairn_verifier_check_register(d->verifier, reg->auth, c, clen, reg->node_name, cn,
                                           sizeof(cn), &named, err);
    if (rc < 0)
        return rc;
    if (!named && !d->cfg.allow_any_node_name)
        return errcode(err, -EACCES,
                       "node name %.64s is not its certificate's (CN=%.64s): name the worker "
                       "after its certificate's CN or a DNS name in it, or start the scheduler "
                       "with --allow-any-node-name",
                       reg->node_name, cn);
    snprintf(ident, identsz, CERT_IDENT "%s", cn);
    return 0;
}

/* Where authentication is required (a join key, or certificates on a TLS
 * endpoint that verifies them): 1 if reg answers the challenge sent on
 * this connection with everything required; then
 * proof gets the scheduler's own join-key proof for the reply and, with a
 * certificate, ident its identity. Else 0: a refusal with a new challenge
 * went back, after a warning when a wrong answer came. */
static int auth_check(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__Register *reg,
                      uint8_t proof[CAIRN_JOIN_HMAC_LEN], char *ident, size_t identsz)
{
    uint8_t c[CAIRN_JOIN_CHALLENGE_LEN];
    const Cairn__Auth *a = reg->auth;
    bool had = nodes_challenge_get(d->nodes, from->pipe.id, c);
    cairn_error_t err = {{0}};
    const char *why = NULL; /* logged */
    const char *tell = auth_needed_text(d);
    if (!a || !had) {
        if (a)
            why = "answer to no challenge";
        else if (had) /* challenged on this connection before, and no answer */
            why = d->join_key ? "it does not hold the join key" : "it did not sign the challenge";
    } else if (d->join_key && !a->hmac.len) {
        why = "it does not hold the join key";
    } else if (d->join_key &&
               !cairn_join_check(d->join_key, c, sizeof(c), a->nonce.data, a->nonce.len,
                                 reg->node_name, a->hmac.data, a->hmac.len)) {
        why = "wrong join key";
        tell = "authentication failed: this scheduler's join key differs";
    } else if (certs_required(d) &&
               cert_check(d, from, reg, c, sizeof(c), ident, identsz, &err) < 0) {
        why = tell = err.text;
    } else {
        if (d->join_key)
            cairn_join_prove(d->join_key, c, sizeof(c), a->nonce.data, a->nonce.len, reg->node_name,
                             proof);
        return 1;
    }
    char addr[64], esc[200];
    remote_addr(from->pipe, addr, sizeof(addr));
    cairn_log_escape(reg->node_name, esc, 100);
    if (why && !strcmp(why, "wrong join key"))
        cairn_log(d->log, CAIRN_LOG_WARN,
                  "worker %s (%s) refused: wrong join key (its key %s, ours %s)", esc,
                  addr[0] ? addr : "local", a->key_id && a->key_id[0] ? a->key_id : "?",
                  d->join_key->id);
    else if (why)
        cairn_log(d->log, CAIRN_LOG_WARN, "worker %s (%s) refused: %s", esc,
                  addr[0] ? addr : "local", why);
    Cairn__RegisterReply rep = CAIRN__REGISTER_REPLY__INIT;
    rep.accepted = false;
    rep.error = (char *)tell;
    if (nodes_challenge_new(d->nodes, from->pipe, c) == 0) {
        rep.challenge.data = c;
        rep.challenge.len = sizeof(c);
    }
    outbox_to_worker(d->out, from, CAIRN_MSG_REGISTER_REPLY, &rep.base, false);
    return 0;
}

/* A node's name is bound to the identity it registered with; while the
 * node is not down (away, or returning after a restart) another identity
 * cannot take it. A name bound to the connection's own address or uid
 * (peer) may be bound to a certificate proven from there: the step from
 * address to certificate when a cluster turns certificates on. Returns
 * false (err says why) for a takeover. */
static bool ident_may_take(sched_daemon_t *d, const char *name, const char *ident, const char *peer,
                           cairn_error_t *err)
{
    uint32_t node;
    node_link_t *l;
    if (sched_node_find(d->core, name, &node) < 0 || !(l = nodes_link(d->nodes, d->core, node)) ||
        !l->ident[0] || !strcmp(l->ident, ident) || (peer[0] && !strcmp(l->ident, peer)) ||
        node_gone(d, node))
        return true;
    errcode(err, -EEXIST,
            "node %.64s is the worker at %.80s, not down yet: one at %.80s may take the name "
            "once it is down (--heartbeat-timeout; --restart-grace after a restart), or use "
            "another --name",
            name, l->ident, ident[0] ? ident : "an unknown peer");
    return false;
}

/* A node's name is on another connection (l->pipe): the registration on
 * from takes it over only when it is the same identity and the old
 * connection has been silent for three heartbeat intervals (a worker that
 * died without its close reaching the scheduler, which nng's TLS can
 * lose); a live duplicate keeps being refused, so two workers of the same
 * name never take turns. Returns false (err says why) to refuse. */
static bool takes_over(sched_daemon_t *d, node_link_t *l, const cairn_peer_t *from,
                       const char *name, const char *ident, cairn_error_t *err)
{
    if (!l || !l->pipe || l->pipe == from->pipe.id)
        return true;
    int64_t every = d->cfg.heartbeat_interval_ms > 0 ? d->cfg.heartbeat_interval_ms : 1000;
    every = l->every_ms > every ? l->every_ms : every;
    int64_t silent = nodes_listen_now(d->nodes) - l->last_heard_ms;
    if (silent <= 3 * every || strcmp(l->ident, ident) != 0) {
        errcode(err, -EEXIST, "node name %.64s is already connected (heard from %lld ms ago)", name,
                (long long)silent);
        return false;
    }
    uint32_t old = l->pipe;
    cairn_log(d->log, CAIRN_LOG_WARN,
              "node %s: its connection (pipe %u) has been silent for %lld ms; the new one "
              "(pipe %u) of the same identity replaces it",
              name, old, (long long)silent, from->pipe.id);
    dispatch_unbind(d, l, "the node reconnected");
    nng_pipe_close((nng_pipe){.id = old});
    return true;
}

/* Each GPU's whole GPU when it is a MIG instance, for `cairn nodes`; a
 * list that cannot be kept (out of memory) is left out. */
static void keep_mig_parents(node_link_t *l, const Cairn__NodeResources *res)
{
    nodes_link_mig_fini(l);
    size_t n = res ? res->n_gpus : 0;
    if (!n || !(l->mig_parent = calloc(n, sizeof(char *))))
        return;
    l->nmig_parent = n;
    for (size_t i = 0; i < n; i++) {
        const Cairn__Gpu *g = res->gpus[i];
        if (g->mig && g->mig_parent_uuid && !(l->mig_parent[i] = strdup(g->mig_parent_uuid))) {
            nodes_link_mig_fini(l);
            return;
        }
    }
}

static void on_register(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__Register *reg)
{
    Cairn__RegisterReply rep = CAIRN__REGISTER_REPLY__INIT;
    cairn_error_t err = {{0}};
    node_desc_t *cn = NULL;
    uint32_t node;
    char esc[200], ident[NODE_IDENT_MAX], peer[64];
    uint8_t proof[CAIRN_JOIN_HMAC_LEN];
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
    /* who it is: where it connects from, or the certificate it proves */
    nodes_pipe_ident(from->pipe, peer, sizeof(peer), &network);
    snprintf(ident, sizeof(ident), "%s", peer);
    if (auth_required(d) && auth_check(d, from, reg, proof, ident, sizeof(ident)) != 1)
        return;
    if (d->join_key)
        rep.proof = (ProtobufCBinaryData){.len = sizeof(proof), .data = proof};
    if (!ident_may_take(d, reg->node_name, ident, peer, &err))
        goto refuse;
    if (node_desc_build(reg, &cn, &err) < 0)
        goto refuse;
    if (sched_node_find(d->core, reg->node_name, &node) == 0 &&
        !takes_over(d, nodes_link(d->nodes, d->core, node), from, reg->node_name, ident, &err))
        goto refuse;
    /* a node that is new, or was down or removed, joins (audited); one
     * that reconnects while up (a scheduler restart, a blip) does not */
    uint32_t known;
    bool joins = sched_node_find(d->core, reg->node_name, &known) != 0 || node_gone(d, known);
    sched_event_t ev = {.type = SCHED_EV_NODE_ADD, .time_ms = cairn_wall_ms()};
    ev.u.node_add = *node_desc_core(cn);
    if (batch_apply(d, &ev, NULL, 0, &err) < 0)
        goto refuse;
    sched_node_find(d->core, reg->node_name, &node);
    node_link_t *l = nodes_link(d->nodes, d->core, node);
    if (!l) {
        snprintf(err.text, sizeof(err.text), "out of memory");
        goto refuse;
    }
    uint32_t old;
    if (nodes_of_pipe(d->nodes, from->pipe.id, &old) == 0 && old != node)
        dispatch_unbind(d, nodes_link(d->nodes, d->core, old), "the node's connection was lost");
    dispatch_unbind(d, l, "the node's connection was lost");
    if (nodes_bind(d->nodes, node, l, from->pipe.id) < 0) {
        snprintf(err.text, sizeof(err.text), "out of memory");
        goto refuse;
    }
    l->last_heard_ms = nodes_listen_now(d->nodes);
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
    keep_mig_parents(l, reg->resources);
    remote_addr(from->pipe, l->addr, sizeof(l->addr));
    nodes_pending_remove(d->nodes, from->pipe.id);
    if (l->incarnation != reg->incarnation) { /* a new worker process: new seqs */
        l->incarnation = reg->incarnation;
        l->last_seq = 0;
        nodes_seq_dirty(d->nodes, l);
    }
    if (strcmp(l->ident, ident)) { /* the name is bound to it from now on */
        snprintf(l->ident, sizeof(l->ident), "%s", ident);
        nodes_seq_dirty(d->nodes, l);
    }
    uint64_t *stale = calloc(reg->n_running + 1, sizeof(uint64_t));
    if (!stale) {
        snprintf(err.text, sizeof(err.text), "out of memory");
        goto refuse;
    }
    rep.accepted = true;
    rep.node_id = node + 1;
    rep.scheduler_id = journal_ident(d->st->journal);
    l->every_ms =
        nodes_heartbeat_every(d->nodes, d->cfg.heartbeat_interval_ms, d->cfg.heartbeat_rate);
    rep.heartbeat_interval_ms = (uint32_t)l->every_ms;
    reconcile(d, node, reg, &rep, stale);
    /* attempts placed here while it was away follow the reply */
    for (size_t i = 0; i < l->npending; i++)
        outbox_assign(d->out, l->pending[i], node);
    l->npending = 0;
    cairn_log(d->log, CAIRN_LOG_INFO,
              "node %s registered (%u cores, %d GPUs, %zu running, %zu stale)", reg->node_name,
              (unsigned)node_desc_core(cn)->ncores, node_desc_core(cn)->ngpus, reg->n_running,
              rep.n_stale_attempt_ids);
    if (joins) {
        char who[300], target[300];
        snprintf(who, sizeof(who), "node:%.255s", reg->node_name);
        snprintf(target, sizeof(target), "node %.255s", reg->node_name);
        batch_audit(d, who, "node_join", target,
                    "address=%s cores=%u gpus=%d worker_version=%s topology=%s join_key=%s "
                    "certificate=%s",
                    l->addr[0] ? l->addr : "local", (unsigned)node_desc_core(cn)->ncores,
                    node_desc_core(cn)->ngpus, reg->worker_version ? reg->worker_version : "",
                    reg->topology_fingerprint ? reg->topology_fingerprint : "",
                    d->join_key ? "verified" : "none",
                    strncmp(ident, CERT_IDENT, strlen(CERT_IDENT)) ? "none"
                                                                   : ident + strlen(CERT_IDENT));
    }
    cairn_net_pipe_authenticate(d->workers.net, from->pipe, NULL); /* its full message limit */
    outbox_to_worker(d->out, from, CAIRN_MSG_REGISTER_REPLY, &rep.base, false);
    free(stale);
    node_desc_destroy(cn);
    return;
refuse:
    cairn_log(d->log, CAIRN_LOG_WARN, "registration of %s refused: %s",
              cairn_log_escape(reg->node_name, esc, 100), err.text);
    nodes_pending_add(d->nodes, from->pipe); /* not registered: bounded and expires */
    rep.accepted = false;
    rep.error = err.text;
    rep.proof = (ProtobufCBinaryData){0};
    outbox_to_worker(d->out, from, CAIRN_MSG_REGISTER_REPLY, &rep.base, false);
    node_desc_destroy(cn);
}

/* --- heartbeats and reports ---------------------------------------------- */

static void on_heartbeat(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__Heartbeat *hb)
{
    Cairn__HeartbeatReply rep = CAIRN__HEARTBEAT_REPLY__INIT;
    uint32_t node;
    rep.seq = hb->seq;
    if (nodes_of_pipe(d->nodes, from->pipe.id, &node) == 0 &&
        sched_node_state(d->core, node) != SCHED_NODE_DOWN) {
        /* a known node's heartbeat needs no answer: with hundreds of
         * workers, answers (and their confirmations) would be most of the
         * idle scheduler's work */
        node_link_t *l = nodes_link(d->nodes, d->core, node);
        l->last_heard_ms = nodes_listen_now(d->nodes);
        /* ... unless the interval it beats at is no longer the one to
         * keep the heartbeats of all nodes within --heartbeat-rate */
        int64_t every =
            nodes_heartbeat_every(d->nodes, d->cfg.heartbeat_interval_ms, d->cfg.heartbeat_rate);
        if (every == l->every_ms)
            return;
        l->every_ms = every;
        rep.heartbeat_interval_ms = (uint32_t)every;
        outbox_to_worker(d->out, from, CAIRN_MSG_HEARTBEAT_REPLY, &rep.base, false);
        return;
    }
    rep.reregister = true;
    outbox_to_worker(d->out, from, CAIRN_MSG_HEARTBEAT_REPLY, &rep.base, false);
}

static void on_report(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__ResourceReport *r)
{
    uint32_t node;
    if (nodes_of_pipe(d->nodes, from->pipe.id, &node) < 0)
        return;
    node_link_t *l = nodes_link(d->nodes, d->core, node);
    l->last_heard_ms = nodes_listen_now(d->nodes);
    /* the sample covers the time since its previous report (at most a
     * minute; the first: three heartbeats, the workers' report period) */
    int64_t span = l->report_ms > 0 ? r->time_ms - l->report_ms : 3 * l->every_ms;
    if (span <= 0 || span > 60000)
        span = span <= 0 ? 3 * l->every_ms : 60000;
    cairn_error_t err = {{0}};
    if (usage_put_report(d->st->usage, sched_node_name(d->core, node), span, r, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_WARN, "%s", err.text);
    l->report_ms = r->time_ms;
    l->load1_milli = r->load_avg_1_milli;
    l->mem_used = r->memory_used_bytes;
    l->mem_total = r->memory_total_bytes;
    l->gpu_reported = 0;
    for (size_t i = 0; i < r->n_gpus; i++) {
        uint32_t g = r->gpus[i]->index;
        if (g >= 64)
            continue;
        l->gpu_reported |= 1ull << g;
        l->gpu_util[g] =
            (uint8_t)(r->gpus[i]->utilization_percent > 100 ? 100
                                                            : r->gpus[i]->utilization_percent);
        l->gpu_mem_used[g] = r->gpus[i]->memory_used_bytes;
    }
}

#define GPU_REASON_MAX 128

/* The worker's operator health check (--health-check) failed: the node is
 * drained with its output as the reason (audited as the node's), as
 * `cairn drain` would; an operator undrains it. A drain already there
 * with the same reason is left alone. (Also a sick GPU's node, with
 * --gpu-error-drains-node.) */
static void node_drain_for(sched_daemon_t *d, uint32_t node, const char *name, const char *prefix,
                           const char *why)
{
    char reason[GPU_REASON_MAX * 2 + 32];
    int n = snprintf(reason, sizeof(reason), "%s", prefix);
    for (const char *p = why ? why : ""; *p && (size_t)n + 1 < sizeof(reason); p++)
        reason[n++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
    reason[n] = '\0';
    const char *had = "";
    if (sched_node_drained(d->core, node, &had) && strcmp(had, reason) == 0)
        return;
    sched_event_t ev = {.type = SCHED_EV_NODE_STATE, .time_ms = cairn_wall_ms()};
    ev.u.node_state.node = node;
    ev.u.node_state.state = SCHED_NODE_DRAINING;
    ev.u.node_state.reason = reason;
    if (batch_apply(d, &ev, NULL, 0, NULL) < 0)
        return;
    cairn_log(d->log, CAIRN_LOG_WARN, "node %s draining: %s", name, reason);
    char target[300];
    snprintf(target, sizeof(target), "node %.255s", name);
    batch_audit(d, name, "drain", target, "reason=%s", reason);
}

/* A worker saw a critical error on one of its GPUs: the core marks it
 * unhealthy (journaled), and nothing new is placed on it until an
 * operator's `cairn gpu enable`. What runs there goes on. */
static void on_gpu_health(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__GpuHealth *m)
{
    uint32_t node;
    sched_gpu_desc_t gd;
    char reason[GPU_REASON_MAX + 1];
    if (nodes_of_pipe(d->nodes, from->pipe.id, &node) < 0) {
        cairn_log(d->log, CAIRN_LOG_WARN, "GPU health from an unregistered pipe ignored");
        return;
    }
    const char *name = sched_node_name(d->core, node);
    if (m->node_check) {
        node_drain_for(d, node, name, "health check: ", m->reason);
        return;
    }
    if (m->healthy) /* only an operator returns a GPU to service */
        return;
    if (!sched_node_gpu(d->core, node, m->gpu, &gd)) {
        d->stats.bad_messages++;
        cairn_log(d->log, CAIRN_LOG_WARN, "node %s: GPU health for GPU %u, which it has not", name,
                  m->gpu);
        return;
    }
    /* the worker's text, printable and bounded, for logs and `cairn nodes` */
    size_t k = 0;
    for (const char *p = m->reason ? m->reason : ""; *p && k < GPU_REASON_MAX; p++)
        reason[k++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
    reason[k] = '\0';
    if (!k)
        snprintf(reason, sizeof(reason), "a critical error");
    if (gd.unhealthy && strcmp(gd.unhealthy, reason) == 0)
        return;
    sched_event_t ev = {.type = SCHED_EV_GPU_HEALTH, .time_ms = cairn_wall_ms()};
    ev.u.gpu_health.node = node;
    ev.u.gpu_health.gpu = m->gpu;
    ev.u.gpu_health.reason = reason;
    if (batch_apply(d, &ev, NULL, 0, NULL) < 0)
        return;
    cairn_log(d->log, CAIRN_LOG_WARN,
              "node %s: GPU %u (%s) marked unhealthy: %s; nothing new is placed on it until "
              "'cairn gpu enable %s %u'",
              name, m->gpu, gd.uuid && gd.uuid[0] ? gd.uuid : "no UUID", reason, name, m->gpu);
    if (d->cfg.gpu_error_drains_node) { /* the operator's policy: avoid the node too */
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "GPU %u unhealthy: ", m->gpu);
        node_drain_for(d, node, name, prefix, reason);
    }
}

/* --- dispatch ------------------------------------------------------------ */

void workers_recv(cairn_net_t *n, const cairn_peer_t *from, cairn_msg_type_t type,
                  ProtobufCMessage *msg, void *arg)
{
    sched_daemon_t *d = arg;
    uint32_t node;
    (void)n;
    if (daemon_standby(d)) {
        daemon_standby_worker(d, from, type);
        return;
    }
    if (!daemon_may_speak(d))
        return;
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
        if (nodes_of_pipe(d->nodes, from->pipe.id, &node) == 0)
            workers_task_event(d, from, node, (const Cairn__TaskEvent *)msg);
        else /* not acknowledged: it comes again after registration */
            cairn_log(d->log, CAIRN_LOG_WARN, "task event from an unregistered pipe ignored");
        break;
    case CAIRN_MSG_LOG_CHUNK:
        dispatch_log_chunk(d, from, (const Cairn__LogChunk *)msg);
        break;
    case CAIRN_MSG_GPU_HEALTH:
        on_gpu_health(d, from, (const Cairn__GpuHealth *)msg);
        break;
    default:
        d->stats.bad_messages++;
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
    d->stats.bad_messages++;
    cairn_log(d->log, CAIRN_LOG_WARN, "refused a message on worker pipe %u: %s", from->pipe.id,
              why);
}

void workers_pipe(cairn_net_t *n, nng_pipe p, bool added, void *arg)
{
    sched_daemon_t *d = arg;
    (void)n;
    uint32_t node;
    if (added) {
        nodes_pending_add(d->nodes, p); /* bounded: may close it at once */
        return;
    }
    nodes_pending_remove(d->nodes, p.id); /* and its unanswered challenge */
    if (nodes_of_pipe(d->nodes, p.id, &node) < 0)
        return;
    /* a lost connection is not a lost node: heartbeats decide that */
    cairn_log(d->log, CAIRN_LOG_INFO, "node %s disconnected", sched_node_name(d->core, node));
    dispatch_unbind(d, nodes_link(d->nodes, d->core, node), "the node's connection was lost");
}

/* Nodes silent past the timeout (or not back within the grace period after
 * a restart) go down; their running attempts become node-lost. */
void workers_check_silence(sched_daemon_t *d)
{
    int64_t now = nodes_listen_now(d->nodes);
    uint32_t n = sched_node_count(d->core);
    for (uint32_t i = 0; i < n; i++) {
        if (node_gone(d, i))
            continue;
        node_link_t *l = nodes_link(d->nodes, d->core, i);
        if (!l)
            return;
        int64_t limit =
            nodes_silence_limit(l, d->cfg.heartbeat_interval_ms, d->cfg.heartbeat_timeout_ms);
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
        batch_audit(d, "scheduler", "node_loss", target, "silent_ms=%lld running=%zu",
                    (long long)(now - l->last_heard_ms), sched_node_attempts(d->core, i, NULL, 0));
        size_t na = sched_node_attempts(d->core, i, NULL, 0);
        uint64_t *lost = calloc(na + 1, sizeof(uint64_t));
        if (lost)
            sched_node_attempts(d->core, i, lost, na);
        sched_event_t ev = {.type = SCHED_EV_NODE_STATE, .time_ms = cairn_wall_ms()};
        ev.u.node_state.node = i;
        ev.u.node_state.state = SCHED_NODE_DOWN;
        cairn_error_t err = {{0}};
        if (batch_apply(d, &ev, NULL, 0, &err) < 0)
            cairn_log(d->log, CAIRN_LOG_ERROR, "node down: %s", err.text);
        for (size_t k = 0; lost && k < na; k++) {
            outbox_cancel(d->out, lost[k]); /* gang replicas elsewhere */
            sched_attempt_info_t ai;
            if (sched_attempt_get(d->core, lost[k], &ai) == 0 &&
                sched_task_state(d->core, ai.job, ai.task) == SCHED_TASK_RETRYING)
                d->stats.retries[SCHED_END_NODE_LOST]++;
        }
        free(lost);
        uint32_t pipe = l->pipe;
        dispatch_unbind(d, l, "the node's connection was lost");
        if (pipe) /* still connected, no longer a node's: bounded and expires */
            nodes_pending_add(d->nodes, (nng_pipe){.id = pipe});
        l->npending = 0;
    }
}
