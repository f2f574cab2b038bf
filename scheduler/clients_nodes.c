/* Node requests: the nodes with their state, cores, GPUs and what runs
 * on them; drains and removals by administrators. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "scheduler/clients_private.h"

static Cairn__NodeState node_state(sched_daemon_t *d, uint32_t n, uint32_t running)
{
    sched_node_state_t st = sched_node_state(d->core, n);
    if (st == SCHED_NODE_DRAINING && !running)
        return CAIRN__NODE_STATE__NODE_STATE_DRAINED;
    return timeline_wire_state(st);
}

static int cmp_names(const void *a, const void *b, void *arg)
{
    const sched_t *s = arg;
    return strcmp(sched_node_name(s, *(const uint32_t *)a),
                  sched_node_name(s, *(const uint32_t *)b));
}

/* The attempts running on node n (holding their cores and GPUs, placed
 * ones about to start included), ascending ids, into *ids (kept in f; NULL
 * when out of memory); *queued gets how many are queued behind them
 * (prefetch), which hold nothing yet. */
static size_t node_running(sched_daemon_t *d, uint32_t n, uint64_t **ids, uint32_t *queued,
                           frees_t *f)
{
    size_t na = sched_node_attempts(d->core, n, NULL, 0), nrun = 0;
    uint64_t *v = clients_keep(f, calloc(na + 1, sizeof(uint64_t)));
    if (v)
        sched_node_attempts(d->core, n, v, na);
    for (size_t k = 0; v && k < na; k++) {
        sched_attempt_info_t ai;
        if (sched_attempt_get(d->core, v[k], &ai) == 0 && !ai.queued)
            v[nrun++] = v[k];
    }
    *ids = v;
    *queued = v ? (uint32_t)(na - nrun) : 0;
    return v ? nrun : na;
}

static Cairn__NodeInfo *node_msg(sched_daemon_t *d, uint32_t n, frees_t *f)
{
    Cairn__NodeInfo *ni = clients_keep(f, calloc(1, sizeof(*ni)));
    sched_node_usage_t u;
    if (!ni || sched_node_usage(d->core, n, &u) < 0)
        return NULL;
    cairn__node_info__init(ni);
    ni->name = (char *)sched_node_name(d->core, n);
    ni->node_id = n + 1;
    uint64_t *ids;
    size_t nrun = node_running(d, n, &ids, &ni->queued_attempts, f);
    ni->running_attempts = (uint32_t)nrun;
    ni->state = node_state(d, n, ni->running_attempts + ni->queued_attempts);
    const char *why = "";
    ni->drained = sched_node_drained(d->core, n, &why);
    ni->drain_reason = (char *)why;
    uint32_t nl = sched_node_label_count(d->core, n);
    Cairn__KeyValue *kv = clients_keep(f, calloc(nl + 1, sizeof(*kv)));
    ni->labels = clients_keep(f, calloc(nl + 1, sizeof(*ni->labels)));
    for (uint32_t i = 0; kv && ni->labels && i < nl; i++) {
        char *l = clients_keep(f, strdup(sched_node_label(d->core, n, i)));
        char *eq = l ? strchr(l, '=') : NULL;
        if (!eq)
            continue;
        *eq = '\0';
        cairn__key_value__init(&kv[i]);
        kv[i].key = l;
        kv[i].value = eq + 1;
        ni->labels[ni->n_labels++] = &kv[i];
    }
    ni->cores_total = u.ncores;
    ni->cores_free = u.free_cores;
    ni->memory_total_bytes = u.mem_total;
    ni->memory_free_bytes = u.mem_free;
    node_link_t *l = nodes_link(d->nodes, d->core, n);
    if (l) {
        ni->worker_version = l->worker_version ? l->worker_version : "";
        ni->last_heartbeat_ms = cairn_wall_ms() - (nodes_listen_now(d->nodes) - l->last_heard_ms);
    }
    Cairn__NodeGpu *g = clients_keep(f, calloc(u.ngpus + 1, sizeof(*g)));
    ni->gpus = clients_keep(f, calloc(u.ngpus + 1, sizeof(*ni->gpus)));
    for (uint32_t i = 0; g && ni->gpus && i < u.ngpus; i++) {
        sched_gpu_desc_t gd;
        cairn__node_gpu__init(&g[i]);
        g[i].index = i;
        if (sched_node_gpu(d->core, n, i, &gd)) {
            g[i].model = (char *)gd.model;
            g[i].memory_bytes = gd.memory_bytes;
            g[i].uuid = (char *)gd.uuid;
            g[i].mig = gd.mig_profile != NULL;
            g[i].unhealthy = gd.unhealthy != NULL;
            g[i].unhealthy_reason = (char *)(gd.unhealthy ? gd.unhealthy : "");
        }
        if (g[i].mig && l && i < l->nmig_parent && l->mig_parent[i])
            g[i].mig_parent_uuid = l->mig_parent[i];
        g[i].used = !(u.gpu_free_mask >> i & 1);
        for (size_t k = 0; g[i].used && ids && k < nrun; k++) {
            sched_attempt_info_t ai;
            if (sched_attempt_get(d->core, ids[k], &ai) < 0)
                continue;
            for (uint32_t r = 0; r < ai.nreplicas; r++)
                if (ai.allocs[r].node == n && (ai.allocs[r].gpu_mask >> i & 1)) {
                    g[i].attempt_id = ai.id;
                    g[i].job_id = ai.job;
                    g[i].task_name = (char *)sched_task_name(d->core, ai.job, ai.task);
                    sched_job_info_t ji;
                    if (sched_job_meta(d->core, ai.job, &ji) == 0 && ji.user)
                        g[i].user = (char *)ji.user;
                }
        }
        if (l && i < 64 && (l->gpu_reported >> i & 1)) {
            g[i].utilization_reported = true;
            g[i].utilization_percent = l->gpu_util[i];
            g[i].memory_used_bytes = l->gpu_mem_used[i];
        }
        ni->gpus[ni->n_gpus++] = &g[i];
    }
    return ni;
}

void clients_nodes(sched_daemon_t *d, const client_req_t *rq, const Cairn__NodesRequest *r)
{
    uint32_t n = sched_node_count(d->core);
    frees_t f = {0};
    uint32_t *order = clients_keep(&f, calloc(n + 1, sizeof(uint32_t)));
    Cairn__NodesReply rep = CAIRN__NODES_REPLY__INIT;
    rep.nodes = clients_keep(&f, calloc(n + 1, sizeof(*rep.nodes)));
    if (order && rep.nodes) {
        for (uint32_t i = 0; i < n; i++)
            order[i] = i;
        qsort_r(order, n, sizeof(uint32_t), cmp_names, d->core);
        for (uint32_t i = 0; i < n; i++) {
            bool want = r->n_names == 0;
            for (size_t k = 0; k < r->n_names && !want; k++)
                want = strcmp(r->names[k], sched_node_name(d->core, order[i])) == 0;
            /* a removed node only when asked for them */
            if (sched_node_state(d->core, order[i]) == SCHED_NODE_REMOVED && !r->removed)
                want = false;
            Cairn__NodeInfo *ni = want ? node_msg(d, order[i], &f) : NULL;
            if (ni)
                rep.nodes[rep.n_nodes++] = ni;
        }
    }
    clients_reply(d, rq->from, CAIRN_MSG_NODES_REPLY, &rep.base);
    clients_frees_fini(&f);
}

/* The node named name, not removed; when there is none the client was
 * told. */
static bool node_find(sched_daemon_t *d, const client_req_t *rq, const char *name, uint32_t *node)
{
    if (!name || sched_node_find(d->core, name, node) < 0) {
        clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND, "no node '%s'",
                      name ? name : "");
        return false;
    }
    if (sched_node_state(d->core, *node) == SCHED_NODE_REMOVED) {
        clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND,
                      "no node '%s': it was removed (a worker registering under that name "
                      "joins as a new node)",
                      name);
        return false;
    }
    return true;
}

/* May the client manage nodes (verb: "drain")? Answers the refusal
 * itself when not. */
static bool may_manage(sched_daemon_t *d, const client_req_t *rq, const char *verb,
                       const char *node)
{
    const client_id_t *id = &rq->id;
    if (access_is_admin(d->cfg.admins, id))
        return true;
    cairn_log(d->log, CAIRN_LOG_INFO, "refused: %s %s may not %s node %s",
              id->anonymous ? "anonymous client" : "user", id->name, verb, node ? node : "");
    clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED,
                  "%s %s may not %s node %s: only administrators may",
                  id->anonymous ? "anonymous client" : "user", id->name, verb, node ? node : "");
    return false;
}

void clients_drain(sched_daemon_t *d, const client_req_t *rq, const Cairn__DrainRequest *r)
{
    const cairn_peer_t *from = rq->from;
    const client_id_t *id = &rq->id;
    uint32_t node;
    if (!may_manage(d, rq, r->drain ? "drain" : "undrain", r->node))
        return;
    if (!node_find(d, rq, r->node, &node))
        return;
    /* a drain holds whatever the node's presence (a node drained while
     * down or away takes nothing when it comes back); draining again with
     * another reason records the new reason */
    const char *had = "", *reason = r->reason ? r->reason : "";
    bool drained = sched_node_drained(d->core, node, &had);
    if (drained != r->drain || (r->drain && strcmp(had, reason))) {
        sched_event_t ev = {.type = SCHED_EV_NODE_STATE, .time_ms = cairn_wall_ms()};
        ev.u.node_state.node = node;
        ev.u.node_state.state = r->drain ? SCHED_NODE_DRAINING : SCHED_NODE_UP;
        ev.u.node_state.reason = reason;
        batch_apply(d, &ev, NULL, 0, NULL);
        cairn_log(d->log, CAIRN_LOG_INFO, "node %s %s%s%s", r->node,
                  r->drain ? "draining" : "undrained", r->reason && *r->reason ? ": " : "",
                  r->reason ? r->reason : "");
        char target[300];
        snprintf(target, sizeof(target), "node %.255s", r->node);
        batch_audit(d, id->name, r->drain ? "drain" : "undrain", target, "reason=%s",
                    r->reason ? r->reason : "");
    }
    Cairn__DrainReply rep = CAIRN__DRAIN_REPLY__INIT;
    frees_t f = {0};
    uint64_t *ids;
    rep.running_attempts = (uint32_t)node_running(d, node, &ids, &rep.queued_attempts, &f);
    rep.state = node_state(d, node, rep.running_attempts + rep.queued_attempts);
    clients_reply(d, from, CAIRN_MSG_DRAIN_REPLY, &rep.base);
    clients_frees_fini(&f);
}

void clients_gpu_enable(sched_daemon_t *d, const client_req_t *rq, const Cairn__GpuEnableRequest *r)
{
    uint32_t node;
    sched_gpu_desc_t gd;
    if (!may_manage(d, rq, "enable a GPU of", r->node) || !node_find(d, rq, r->node, &node))
        return;
    if (!sched_node_gpu(d->core, node, r->gpu, &gd)) {
        clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND,
                      "node %s has no GPU %u (cairn nodes lists its GPUs)", r->node, r->gpu);
        return;
    }
    if (!gd.unhealthy) {
        clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_FAILED_PRECONDITION,
                      "GPU %u of node %s is not marked unhealthy", r->gpu, r->node);
        return;
    }
    char was[160];
    snprintf(was, sizeof(was), "%s", gd.unhealthy);
    sched_event_t ev = {.type = SCHED_EV_GPU_HEALTH, .time_ms = cairn_wall_ms()};
    ev.u.gpu_health.node = node;
    ev.u.gpu_health.gpu = r->gpu;
    cairn_error_t err = {{0}};
    if (batch_apply(d, &ev, NULL, 0, &err) < 0) {
        clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_FAILED_PRECONDITION, "%s",
                      err.text);
        return;
    }
    cairn_log(d->log, CAIRN_LOG_INFO, "node %s: GPU %u back in service (it had: %s)", r->node,
              r->gpu, was);
    char target[300];
    snprintf(target, sizeof(target), "node %.255s gpu %u", r->node, r->gpu);
    batch_audit(d, rq->id.name, "gpu_enable", target, "was=%s", was);
    Cairn__GpuEnableReply rep = CAIRN__GPU_ENABLE_REPLY__INIT;
    rep.was = was;
    clients_reply(d, rq->from, CAIRN_MSG_GPU_ENABLE_REPLY, &rep.base);
}

void clients_node_remove(sched_daemon_t *d, const client_req_t *rq,
                         const Cairn__NodeRemoveRequest *r)
{
    uint32_t node;
    if (!may_manage(d, rq, "remove", r->node) || !node_find(d, rq, r->node, &node))
        return;
    frees_t f = {0};
    uint64_t *ids;
    uint32_t queued;
    size_t running = node_running(d, node, &ids, &queued, &f);
    clients_frees_fini(&f);
    if (running || queued) {
        clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_FAILED_PRECONDITION,
                      "node %s has %zu attempt%s running and %u queued: drain it (cairn drain "
                      "%s) and wait for them to end, or cancel them; then remove it",
                      r->node, running, running == 1 ? "" : "s", queued, r->node);
        return;
    }
    node_link_t *l = nodes_link(d->nodes, d->core, node);
    if (l && l->pipe) {
        clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_FAILED_PRECONDITION,
                      "node %s is connected: stop its worker first (a worker that is still "
                      "connected would join again at once)",
                      r->node);
        return;
    }
    char was[32];
    snprintf(was, sizeof(was), "%s", sched_node_state_name(sched_node_state(d->core, node)));
    sched_event_t ev = {.type = SCHED_EV_NODE_REMOVE, .time_ms = cairn_wall_ms()};
    ev.u.node_remove.node = node;
    cairn_error_t err = {{0}};
    if (batch_apply(d, &ev, NULL, 0, &err) < 0) {
        clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_FAILED_PRECONDITION, "%s",
                      err.text);
        return;
    }
    if (l)
        l->npending = 0;
    cairn_log(d->log, CAIRN_LOG_INFO, "node %s removed (it was %s)", r->node, was);
    char target[300];
    snprintf(target, sizeof(target), "node %.255s", r->node);
    batch_audit(d, rq->id.name, "node_remove", target, "was=%s", was);
    Cairn__NodeRemoveReply rep = CAIRN__NODE_REMOVE_REPLY__INIT;
    rep.node_id = node + 1;
    clients_reply(d, rq->from, CAIRN_MSG_NODE_RM_REPLY, &rep.base);
}
