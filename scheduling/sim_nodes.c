/* What-if simulation: nodes that come and go (sched_sim_node_state), as
 * the scheduler's node timeline recorded them. */
#include <stdlib.h>
#include <string.h>

#include "scheduling/sched_private.h"
#include "scheduling/sim_private.h"

bool sim_change_there(const sim_change_t *c)
{
    return c->st != SCHED_NODE_DOWN;
}

int sim_nodes_there_ms(const sim_cluster_t *cl, int64_t a, int64_t b, int64_t *there)
{
    /* since[i]: when node i came, -1 while it is not there; every node is
     * there until its first change */
    int64_t *since = malloc(((size_t)cl->nnodes + 1) * sizeof(int64_t));
    if (!since)
        return SCHED_ENOMEM;
    for (uint32_t i = 0; i < cl->nnodes; i++) {
        since[i] = a;
        there[i] = 0;
    }
    for (size_t i = 0; i < cl->nchanges && b > a; i++) {
        const sim_change_t *c = &cl->changes[i];
        int64_t t = c->t < a ? a : c->t > b ? b : c->t;
        bool now = sim_change_there(c);
        if (since[c->node] >= 0 && !now) {
            there[c->node] += t - since[c->node];
            since[c->node] = -1;
        } else if (since[c->node] < 0 && now)
            since[c->node] = t;
    }
    for (uint32_t i = 0; i < cl->nnodes; i++)
        if (since[i] >= 0 && b > since[i])
            there[i] += b - since[i];
    free(since);
    return 0;
}

static int state_event(sched_t *s, uint32_t node, sched_node_state_t st, int64_t t,
                       cairn_error_t *err)
{
    sched_event_t ev = {.type = SCHED_EV_NODE_STATE, .time_ms = t};
    ev.u.node_state.node = node;
    ev.u.node_state.state = st;
    return sched_apply(s, &ev, err);
}

int sim_node_apply(sched_t *s, uint32_t node, sched_node_state_t st, int64_t t, cairn_error_t *err)
{
    if (node >= s->nnodes)
        return errcode(err, SCHED_ENOENT, "simulation: no node %u", node);
    sched_node_state_t cur = sched_node_state(s, node);
    bool drained = sched_node_drained(s, node, NULL);
    if (st == SCHED_NODE_DOWN)
        return cur == SCHED_NODE_DOWN ? 0 : state_event(s, node, st, t, err);
    int rc = 0;
    /* back (registered again): up, its drain as it was */
    if (cur == SCHED_NODE_DOWN || (cur == SCHED_NODE_RETURNING && st != SCHED_NODE_RETURNING))
        rc = cluster_node_back(s, node, err);
    if (rc == 0 && st == SCHED_NODE_RETURNING && cur != SCHED_NODE_RETURNING)
        rc = state_event(s, node, st, t, err);
    if (rc == 0 && st == SCHED_NODE_DRAINING && !drained)
        rc = state_event(s, node, st, t, err);
    if (rc == 0 && st == SCHED_NODE_UP && drained)
        rc = state_event(s, node, st, t, err);
    return rc;
}
