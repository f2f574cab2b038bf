/* Preemption: a ready task that fits nowhere may stop preemptible running
 * attempts to make room (sched_config_t, docs/algorithms.md).
 *
 * A pass decides (preempt_try) and applies its decision as one
 * SCHED_EV_PREEMPT, as it applies placements, so a replay re-applies it.
 * The victims keep what they hold until their FINISH (the worker signals
 * them, waits the grace, kills); attempts queued behind them (prefetch)
 * end preempted at once. While one of them still runs, every pass
 * reserves their nodes for the preemptor (a hold: the reservation
 * mechanism of place.c), so nothing else takes what the first of them
 * free; when the last has ended the preemptor is placed in the next pass
 * in priority order (only a task that would have gone before it anyway
 * can take the room first). The hold is forgotten when the preemptor is
 * placed or ends.
 *
 * Victims, in order: the fewest attempts that free a place the preemptor
 * fits, then the lowest priority, then the furthest above its fair share,
 * then the youngest (least work lost), then by id. Whole attempts only
 * (a gang goes whole). A pass searches at most once per blocked class and
 * SCHED_PREEMPT_SEARCHES_PER_PASS times in all; a pass with no candidate
 * victim does no work here at all. */
#include <stdlib.h>
#include <string.h>

#include "scheduling/sched_private.h"

/* --- candidate victims: running attempts of preemptible tasks ----------- */

/* The count of candidates of priority prio, made when missing (NULL
 * without room). Priorities are few: a sorted array. */
static prio_count_t *prio_slot(sched_t *s, int32_t prio, bool make)
{
    size_t i = 0;
    while (i < s->npre_prio && s->pre_prio[i].prio < prio)
        i++;
    if (i < s->npre_prio && s->pre_prio[i].prio == prio)
        return &s->pre_prio[i];
    if (!make || CAIRN_GROW(s->pre_prio, s->pre_prio_cap, s->npre_prio + 1) < 0)
        return NULL;
    memmove(&s->pre_prio[i + 1], &s->pre_prio[i], (s->npre_prio - i) * sizeof(prio_count_t));
    s->npre_prio++;
    s->pre_prio[i] = (prio_count_t){.prio = prio};
    return &s->pre_prio[i];
}

void preempt_candidate_add(sched_t *s, sched_attempt_t *at)
{
    const sched_task_t *t = task_at(s, (task_ref_t){.job = at->job, .task = at->task});
    if (at->pre_ix || !preempt_victim_ok(at, t))
        return;
    /* without room it is never a victim: safe, and the daemon journals
     * what its passes decide, so a replay does not depend on it */
    prio_count_t *pc = prio_slot(s, t->priority, true);
    if (!pc || CAIRN_GROW(s->pre, s->pre_cap, s->npre + 1) < 0)
        return;
    pc->count++;
    s->pre[s->npre++] = (pre_ref_t){.id = at->id,
                                    .prio = t->priority,
                                    .acct = job_at(s, at->job)->account,
                                    .young = at->started_ms ? at->started_ms : at->placed_ms,
                                    .nreplicas = at->nreplicas,
                                    .a0 = at->allocs[0],
                                    .allocs = at->allocs};
    at->pre_ix = (uint32_t)s->npre; /* position + 1 */
}

void preempt_candidate_started(sched_t *s, const sched_attempt_t *at)
{
    if (at->pre_ix)
        s->pre[at->pre_ix - 1].young = at->started_ms;
}

void preempt_candidate_remove(sched_t *s, sched_attempt_t *at)
{
    if (!at->pre_ix)
        return;
    prio_count_t *pc = prio_slot(s, s->pre[at->pre_ix - 1].prio, false);
    if (pc && --pc->count == 0) {
        size_t k = (size_t)(pc - s->pre_prio);
        memmove(pc, pc + 1, (s->npre_prio - k - 1) * sizeof(prio_count_t));
        s->npre_prio--;
    }
    size_t i = at->pre_ix - 1;
    pre_ref_t last = s->pre[--s->npre];
    if (i < s->npre) {
        s->pre[i] = last;
        attempt_at(s, last.id)->pre_ix = (uint32_t)i + 1;
    }
    at->pre_ix = 0;
}

int preempt_candidates_rebuild(sched_t *s)
{
    s->npre = s->npre_prio = 0;
    for (size_t i = s->attempts.off; i < s->attempts.len; i++) {
        sched_attempt_t *at = s->attempts.slot[i];
        if (!at)
            continue;
        at->pre_ix = 0;
        if (at->running && !at->queued)
            preempt_candidate_add(s, at);
    }
    return 0;
}

uint32_t preempt_max(const sched_t *s, const sched_task_spec_t *ts)
{
    if (ts->max_preemptions)
        return ts->max_preemptions;
    return s->cfg.max_preemptions_per_task ? s->cfg.max_preemptions_per_task
                                           : SCHED_MAX_PREEMPTIONS_DEFAULT;
}

/* --- holds ---------------------------------------------------------------- */

static preempt_hold_t *hold_find(const sched_t *s, task_ref_t r)
{
    for (size_t i = 0; i < s->nholds; i++)
        if (s->holds[i].job == r.job && s->holds[i].task == r.task)
            return &s->holds[i];
    return NULL;
}

const preempt_hold_t *preempt_hold_of(const sched_t *s, task_ref_t r)
{
    return s->nholds ? hold_find(s, r) : NULL;
}

bool preempt_hold_active(const sched_t *s, const preempt_hold_t *h)
{
    for (uint32_t i = 0; h && i < h->nvictims; i++) {
        const sched_attempt_t *at = attempt_at(s, h->victims[i]);
        if (at && at->running)
            return true;
    }
    return false;
}

static void hold_fini(preempt_hold_t *h)
{
    free(h->victims);
    free(h->nodes);
}

void preempt_hold_drop(sched_t *s, task_ref_t r)
{
    preempt_hold_t *h = s->nholds ? hold_find(s, r) : NULL;
    if (!h)
        return;
    hold_fini(h);
    size_t i = (size_t)(h - s->holds);
    memmove(h, h + 1, (s->nholds - i - 1) * sizeof(*h)); /* keeps their order */
    s->nholds--;
}

void preempt_holds_fini(sched_t *s)
{
    for (size_t i = 0; i < s->nholds; i++)
        hold_fini(&s->holds[i]);
    free(s->holds);
    free(s->pre);
    free(s->pre_prio);
}

int preempt_reserve(sched_t *s, int64_t now_ms)
{
    s->nresv_hold = 0;
    for (size_t i = 0; i < s->nholds; i++) {
        const preempt_hold_t *h = &s->holds[i];
        /* once its victims have all ended, what they held is free and
         * the preemptor takes it in priority order like any other task:
         * a hold never outlives its victims (so it cannot keep nodes
         * from everyone when the preemptor no longer fits there) */
        if (!preempt_hold_active(s, h))
            continue;
        sched_reservation_t *rv = &s->resv[s->nresv];
        rv->nodes = malloc((h->nnodes ? h->nnodes : 1) * sizeof(uint32_t));
        if (!rv->nodes)
            return SCHED_ENOMEM;
        rv->task = (task_ref_t){.job = h->job, .task = h->task};
        rv->start_ms = now_ms; /* no backfill: nothing ends before it */
        rv->nnodes = 0;
        for (uint32_t k = 0; k < h->nnodes; k++) {
            uint32_t n = h->nodes[k];
            if (n < s->resv_of_cap && s->resv_of[n] == 0) {
                s->resv_of[n] = s->nresv + 1;
                rv->nodes[rv->nnodes++] = n;
            }
        }
        s->nresv++;
        s->nresv_hold++;
    }
    return 0;
}

/* --- applying SCHED_EV_PREEMPT -------------------------------------------- */

sched_preempt_why_t preempt_victim_why(const sched_t *s, const acct_fs_t *fs, int32_t prio,
                                       uint32_t acct, int32_t vprio, uint32_t vacct,
                                       uint32_t *by_acct)
{
    *by_acct = acct;
    if (prio > vprio)
        return SCHED_PREEMPT_PRIORITY;
    uint32_t bp, bv;
    if (!fs || prio < vprio || !acct_fs_branches(s, acct, vacct, &bp, &bv))
        return SCHED_PREEMPT_NONE;
    if (acct_fs_side(s, fs, bp) < 0 && acct_fs_side(s, fs, bv) > 0) {
        *by_acct = bp;
        return SCHED_PREEMPT_FAIR_SHARE;
    }
    return SCHED_PREEMPT_NONE;
}

bool preempt_victim_ok(const sched_attempt_t *at, const sched_task_t *v)
{
    return at->running && !at->queued && !at->preempt_why && v->preemptible &&
           v->preemptions < v->max_preempt && !v->cancel_requested;
}

static int check_preempt(const sched_t *s, const sched_event_t *ev, cairn_error_t *err)
{
    uint32_t job = ev->u.preempt.job, task = ev->u.preempt.task, nv = ev->u.preempt.nvictims;
    const sched_job_t *j = job_at(s, job);
    if (!j || task >= j->ntasks)
        return errcode(err, SCHED_ENOENT, "preempt: unknown job %u task %u", job, task);
    const sched_task_t *t = &j->tasks[task];
    if (t->state != SCHED_TASK_READY &&
        !(t->state == SCHED_TASK_RETRYING && t->ready_at_ms <= ev->time_ms))
        return errcode(err, SCHED_ECONFLICT, "preempt: task %s is %s, not ready", t->name,
                       sched_task_state_name(t->state));
    if (nv == 0 || nv > SCHED_MAX_VICTIMS || !ev->u.preempt.victims)
        return errcode(err, SCHED_EINVAL, "preempt: %u victims (1 to %u)", nv, SCHED_MAX_VICTIMS);
    if (ev->u.preempt.grace_end_ms < ev->time_ms)
        return errcode(err, SCHED_EINVAL, "preempt: the grace ends before the decision");
    const preempt_hold_t *h = preempt_hold_of(s, (task_ref_t){.job = job, .task = task});
    if (h && preempt_hold_active(s, h))
        return errcode(err, SCHED_ECONFLICT,
                       "preempt: task %s still waits for the attempts it preempted", t->name);
    acct_fs_t fs = {0};
    bool have_fs = false;
    int rc = 0;
    for (uint32_t i = 0; i < nv && rc == 0; i++) {
        uint64_t id = ev->u.preempt.victims[i];
        const sched_attempt_t *at = attempt_at(s, id);
        if (i && id <= ev->u.preempt.victims[i - 1]) {
            rc = errcode(err, SCHED_EINVAL, "preempt: victims are not in ascending order");
            break;
        }
        if (!at) {
            rc =
                errcode(err, SCHED_ENOENT, "preempt: unknown attempt %llu", (unsigned long long)id);
            break;
        }
        const sched_job_t *vj = job_at(s, at->job);
        const sched_task_t *v = &vj->tasks[at->task];
        if (!preempt_victim_ok(at, v)) {
            rc = errcode(err, SCHED_ECONFLICT,
                         "preempt: attempt %llu (task %s) cannot be preempted: not running, "
                         "not preemptible, past its preemptions, or stopping already",
                         (unsigned long long)id, v->name);
            break;
        }
        uint32_t by;
        if (t->priority <= v->priority && !have_fs) {
            if (acct_fs_init(s, ev->time_ms, &fs) < 0)
                return errcode(err, SCHED_ENOMEM, "out of memory");
            have_fs = true;
        }
        if (preempt_victim_why(s, have_fs ? &fs : NULL, t->priority, j->account, v->priority,
                               vj->account, &by) == SCHED_PREEMPT_NONE)
            rc = errcode(err, SCHED_EINVAL,
                         "preempt: attempt %llu (task %s, priority %d) is neither of a lower "
                         "priority than task %s (%d) nor of an account above its share",
                         (unsigned long long)id, v->name, v->priority, t->name, t->priority);
    }
    if (have_fs)
        acct_fs_fini(&fs);
    return rc;
}

/* Mark victim at as preempted by task t of job j, and end the attempts
 * queued behind it (prefetch): they never started, and are ready again. */
static void victim_mark(sched_t *s, sched_attempt_t *at, const sched_event_t *ev,
                        const sched_task_t *t, sched_preempt_why_t why, uint32_t by_acct)
{
    at->preempt_why = (uint8_t)why;
    at->by_job = ev->u.preempt.job;
    at->by_task = ev->u.preempt.task;
    at->by_prio = t->priority;
    at->by_acct = by_acct;
    at->grace_end_ms = ev->u.preempt.grace_end_ms;
}

int preempt_apply(sched_t *s, const sched_event_t *ev, cairn_error_t *err)
{
    int rc = check_preempt(s, ev, err);
    if (rc < 0)
        return rc;
    uint32_t nv = ev->u.preempt.nvictims;
    task_ref_t r = {.job = ev->u.preempt.job, .task = ev->u.preempt.task};
    const sched_job_t *j = job_at(s, r.job);
    const sched_task_t *t = &j->tasks[r.task];
    preempt_hold_t h = {.job = r.job, .task = r.task, .grace_end_ms = ev->u.preempt.grace_end_ms};
    size_t nn = 0;
    for (uint32_t i = 0; i < nv; i++)
        nn += attempt_at(s, ev->u.preempt.victims[i])->nreplicas;
    h.victims = malloc(nv * sizeof(uint64_t));
    h.nodes = malloc(nn * sizeof(uint32_t));
    acct_fs_t fs = {0};
    bool need_fs = false;
    for (uint32_t i = 0; i < nv; i++) {
        const sched_attempt_t *at = attempt_at(s, ev->u.preempt.victims[i]);
        need_fs |=
            t->priority <= task_at(s, (task_ref_t){.job = at->job, .task = at->task})->priority;
    }
    if (!h.victims || !h.nodes || (need_fs && acct_fs_init(s, ev->time_ms, &fs) < 0) ||
        (preempt_hold_of(s, r) == NULL && CAIRN_GROW(s->holds, s->holds_cap, s->nholds + 1) < 0)) {
        hold_fini(&h);
        acct_fs_fini(&fs);
        return errcode(err, SCHED_ENOMEM, "out of memory");
    }
    memcpy(h.victims, ev->u.preempt.victims, nv * sizeof(uint64_t));
    h.nvictims = nv;
    for (uint32_t i = 0; i < nv; i++) {
        const sched_attempt_t *at = attempt_at(s, h.victims[i]);
        for (uint32_t k = 0; k < at->nreplicas; k++)
            h.nodes[h.nnodes++] = at->allocs[k].node;
    }
    qsort(h.nodes, h.nnodes, sizeof(uint32_t), cmp_u32);
    uint32_t keep = 0;
    for (uint32_t i = 0; i < h.nnodes; i++)
        if (keep == 0 || h.nodes[keep - 1] != h.nodes[i])
            h.nodes[keep++] = h.nodes[i];
    h.nnodes = keep;
    /* the hold replaces the task's earlier one (whose victims all ended) */
    preempt_hold_drop(s, r);
    s->holds[s->nholds++] = h;
    for (uint32_t i = 0; i < nv; i++) {
        sched_attempt_t *at = attempt_at(s, h.victims[i]);
        const sched_job_t *vj = job_at(s, at->job);
        sched_task_t *v = &vj->tasks[at->task];
        uint32_t by;
        sched_preempt_why_t why = preempt_victim_why(s, need_fs ? &fs : NULL, t->priority,
                                                     j->account, v->priority, vj->account, &by);
        victim_mark(s, at, ev, t, why, by);
        v->preemptions++;
        preempt_candidate_remove(s, at);
        sched_attempt_t *q;
        while ((q = attempt_at(s, at->next)) != NULL && q->running && q->queued) {
            victim_mark(s, q, ev, t, why, by);
            attempt_end(s, q, SCHED_END_PREEMPTED, 0, 0, ev->time_ms);
        }
    }
    acct_fs_fini(&fs);
    return 0;
}

/* --- decisions ------------------------------------------------------------ */

void preempt_pass_init(const sched_t *s, preempt_pass_t *pp)
{
    pp->searches = 0;
    pp->any = s->npre > 0;
    pp->min_prio = s->npre_prio ? s->pre_prio[0].prio : INT32_MAX;
}

int preempt_try(sched_t *s, preempt_pass_t *pp, const task_class_t *c, task_ref_t r, int64_t now_ms,
                sched_place_f cb, void *arg)
{
    if (!pp->any || pp->searches >= SCHED_PREEMPT_SEARCHES_PER_PASS)
        return 0;
    if (r.prio <= pp->min_prio && !s->cfg.preempt_for_fair_share)
        return 0; /* nobody of a lower priority to preempt */
    if (preempt_hold_active(s, preempt_hold_of(s, r)))
        return 0; /* it waits for the ones it preempted */
    pp->searches++;
    uint64_t *victims = NULL;
    int rc = preempt_search(s, c, r, now_ms, &victims);
    if (rc <= 0)
        return rc;
    int64_t grace = 0;
    for (int i = 0; i < rc; i++) {
        const sched_attempt_t *at = attempt_at(s, victims[i]);
        int64_t g = task_at(s, (task_ref_t){.job = at->job, .task = at->task})->grace_ms;
        grace = g > grace ? g : grace;
    }
    sched_event_t ev = {.type = SCHED_EV_PREEMPT, .time_ms = now_ms};
    ev.u.preempt.job = r.job;
    ev.u.preempt.task = r.task;
    ev.u.preempt.nvictims = (uint32_t)rc;
    ev.u.preempt.victims = victims;
    ev.u.preempt.grace_end_ms = now_ms + grace;
    rc = sched_apply(s, &ev, NULL);
    if (rc == 0) {
        rc = 1;
        if (cb)
            cb(&ev, arg);
    }
    free(victims);
    return rc;
}
