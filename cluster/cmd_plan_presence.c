/* cairn plan --cluster current on a recorded trace: the nodes' presence
 * over the trace, from the scheduler's node timeline (presence.h), so that
 * a node counts, and takes work, only while it was there. */
#include <stdlib.h>
#include <string.h>

#include "cluster/plan_private.h"
#include "cluster/presence.h"
#include "common/grow.h"

int plan_presence_fetch(cli_t *c, const plan_trace_t *t, Cairn__UsageReply **out, int64_t *from_ms)
{
    *out = NULL;
    if (!t->n)
        return CLI_OK;
    int64_t from = t->v[0].submit_ms;
    for (size_t i = 1; i < t->n; i++)
        if (t->v[i].submit_ms < from)
            from = t->v[i].submit_ms;
    *from_ms = from;
    Cairn__UsageRequest req = CAIRN__USAGE_REQUEST__INIT;
    req.since_ms = from;
    req.timeline_only = true;
    return cli_call(c, CAIRN_MSG_USAGE, &req.base, CAIRN_MSG_USAGE_REPLY, (ProtobufCMessage **)out);
}

/* One node's change, and its order among those at the same time. */
typedef struct change {
    int64_t t;
    uint32_t node;
    size_t seq;
    sched_node_state_t st;
} change_t;

typedef struct collect {
    change_t *v;
    size_t n, cap;
    uint32_t node;
    bool oom;
} collect_t;

static sched_node_state_t core_state(Cairn__NodeState st)
{
    switch (st) {
    case CAIRN__NODE_STATE__NODE_STATE_UP:
        return SCHED_NODE_UP;
    case CAIRN__NODE_STATE__NODE_STATE_DRAINING:
    case CAIRN__NODE_STATE__NODE_STATE_DRAINED:
        return SCHED_NODE_DRAINING;
    case CAIRN__NODE_STATE__NODE_STATE_RETURNING:
        return SCHED_NODE_RETURNING;
    default: /* down, removed */
        return SCHED_NODE_DOWN;
    }
}

static void collect_cb(int64_t at_ms, Cairn__NodeState st, void *arg)
{
    collect_t *c = arg;
    if (CAIRN_GROW(c->v, c->cap, c->n + 1) < 0) {
        c->oom = true;
        return;
    }
    c->v[c->n] = (change_t){.t = at_ms, .node = c->node, .seq = c->n, .st = core_state(st)};
    c->n++;
}

static int cmp_change(const void *a, const void *b)
{
    const change_t *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int plan_presence_apply(sched_sim_t *sim, const plan_cluster_t *cl, const Cairn__UsageReply *tl,
                        int64_t from_ms)
{
    if (!tl || !tl->n_node_events)
        return CLI_OK;
    collect_t c = {0};
    presence_t *p =
        presence_create((const Cairn__NodeEvent *const *)tl->node_events, tl->n_node_events);
    c.oom = !p;
    for (size_t i = 0; i < cl->n && !c.oom; i++) {
        if (!presence_knows(p, cl->v[i].name))
            continue; /* not the scheduler's (--add): there throughout */
        c.node = (uint32_t)i;
        presence_states(p, cl->v[i].name, from_ms, INT64_MAX, collect_cb, &c);
    }
    presence_destroy(p);
    if (c.oom) {
        free(c.v);
        fprintf(stderr, "cairn plan: out of memory\n");
        return CLI_FAIL;
    }
    if (c.n > 1)
        qsort(c.v, c.n, sizeof(*c.v), cmp_change);
    cairn_error_t err = {{0}};
    int rc = CLI_OK;
    for (size_t i = 0; i < c.n && rc == CLI_OK; i++)
        if (sched_sim_node_state(sim, c.v[i].node, c.v[i].t, c.v[i].st, &err) < 0) {
            fprintf(stderr, "cairn plan: node %s: %s\n", cl->v[c.v[i].node].name, err.text);
            rc = CLI_FAIL;
        }
    free(c.v);
    return rc;
}
