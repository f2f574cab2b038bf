/* Snapshots: the preemptions in progress (format 3; the layout:
 * snapshot_save.c). The victims' attempts and the nodes must be loaded
 * already; a hold's task must be there, and ready. */
#include <stdlib.h>

#include "scheduling/snapshot_rd.h"

/* The preemptions in progress (3): each of a task that is there and
 * ready, its victims attempts given already, its nodes nodes, both
 * ascending; one per task. */
void snap_load_holds(rd_t *r, sched_t *s)
{
    size_t n = gcount(r, 8, 28, UINT32_MAX);
    if (CAIRN_GROW(s->holds, s->holds_cap, n) < 0) {
        fail(r, "out of memory");
        return;
    }
    for (size_t i = 0; i < n && !r->bad; i++) {
        preempt_hold_t h = {.job = g32(r), .task = g32(r), .grace_end_ms = gi64(r)};
        h.nvictims = (uint32_t)gcount(r, 4, 8, SCHED_MAX_VICTIMS);
        h.victims = malloc((h.nvictims ? h.nvictims : 1) * sizeof(uint64_t));
        bool ok = h.victims != NULL;
        for (uint32_t k = 0; ok && k < h.nvictims; k++) {
            h.victims[k] = g64(r);
            ok = h.victims[k] < win_next_id(&s->attempts) &&
                 (k == 0 || h.victims[k] > h.victims[k - 1]);
        }
        if (ok && !r->bad) {
            h.nnodes = (uint32_t)gcount(r, 4, 4, s->nnodes);
            h.nodes = malloc((h.nnodes ? h.nnodes : 1) * sizeof(uint32_t));
            ok = h.nodes != NULL;
            for (uint32_t k = 0; ok && k < h.nnodes; k++) {
                h.nodes[k] = g32(r);
                ok = h.nodes[k] < s->nnodes && (k == 0 || h.nodes[k] > h.nodes[k - 1]);
            }
        }
        const sched_job_t *j = job_at(s, h.job);
        const sched_task_t *t = j && h.task < j->ntasks ? &j->tasks[h.task] : NULL;
        task_ref_t tr = {.job = h.job, .task = h.task};
        if (r->bad || !ok || h.nvictims == 0 || h.nnodes == 0 || !t ||
            (t->state != SCHED_TASK_READY && t->state != SCHED_TASK_RETRYING) ||
            preempt_hold_of(s, tr)) {
            free(h.victims);
            free(h.nodes);
            fail(r, h.victims ? "a preemption names what is not there" : "out of memory");
            return;
        }
        s->holds[s->nholds++] = h;
    }
}
