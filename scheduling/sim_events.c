/* The simulation's pending starts and ends (a min-heap by time, attempt,
 * kind) and its preemptions (sim.h, sim_private.h). */
#include "scheduling/sched_private.h"
#include "scheduling/sim_private.h"

static bool end_before(const end_ev_t *a, const end_ev_t *b)
{
    if (a->t != b->t)
        return a->t < b->t;
    return a->attempt != b->attempt ? a->attempt < b->attempt : a->kind < b->kind;
}

int sim_heap_push(sched_sim_t *sim, end_ev_t e)
{
    if (CAIRN_GROW(sim->heap, sim->heap_cap, sim->nheap + 1) < 0)
        return SCHED_ENOMEM;
    end_ev_t *h = sim->heap;
    size_t i = sim->nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!end_before(&e, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
    return 0;
}

end_ev_t sim_heap_pop(sched_sim_t *sim)
{
    end_ev_t *h = sim->heap, top = h[0], last = h[--sim->nheap];
    size_t i = 0, n = sim->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && end_before(&h[c + 1], &h[c]))
            c++;
        if (!end_before(&h[c], &last))
            break;
        h[i] = h[c];
        i = c;
    }
    if (n)
        h[i] = last;
    return top;
}

void sim_on_preempt(sched_sim_t *sim, const sched_event_t *ev)
{
    /* the victims stop at the end of their grace at the latest, as the
     * worker kills them (sched_sim_stats_t .preemptions) */
    sim->st.preemptions++;
    for (uint32_t i = 0; i < ev->u.preempt.nvictims; i++)
        if (sim_heap_push(
                sim, (end_ev_t){ev->u.preempt.grace_end_ms, ev->u.preempt.victims[i], EV_KILL}) < 0)
            sim->st.events = UINT64_MAX; /* reported after the pass */
}

void sim_count_preempted(sched_sim_t *sim, const sched_attempt_info_t *ai,
                         const sched_sim_span_t *spans, int64_t t, int64_t kept_ms)
{
    sim->st.preempted_attempts++;
    for (uint32_t r = 0; r < ai->nreplicas; r++) {
        int64_t from = spans[r].alloc_ms + (kept_ms > 0 ? kept_ms : 0);
        if (t > from)
            sim->st.preempted_gpu_s +=
                (double)__builtin_popcountll(spans[r].gpu_mask) * (double)(t - from) / 1000.0;
    }
}
