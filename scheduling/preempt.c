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

void preempt_candidate_add(sched_t *s, sched_attempt_t *at)
{
    const sched_task_t *t = task_at(s, (task_ref_t){.job = at->job, .task = at->task});
    if (!t->preemptible || at->preempt_why || at->queued || at->pre_ix)
        return;
    /* without room it is never a victim: safe, and the daemon journals
     * what its passes decide, so a replay does not depend on it */
    if (CAIRN_GROW(s->pre, s->pre_cap, s->npre + 1) < 0)
        return;
    s->pre[s->npre++] = at->id;
    at->pre_ix = (uint32_t)s->npre; /* position + 1 */
}

void preempt_candidate_remove(sched_t *s, sched_attempt_t *at)
{
    if (!at->pre_ix)
        return;
    size_t i = at->pre_ix - 1;
    uint64_t last = s->pre[--s->npre];
    if (i < s->npre) {
        s->pre[i] = last;
        attempt_at(s, last)->pre_ix = (uint32_t)i + 1;
    }
    at->pre_ix = 0;
}

int preempt_candidates_rebuild(sched_t *s)
{
    s->npre = 0;
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

/* Why the preemptor (priority prio, account acct) may preempt attempt at
 * of task v: SCHED_PREEMPT_NONE when it may not. *by_acct: the account
 * named in the explanation. fs: fair share now (NULL: not computed). */
static sched_preempt_why_t victim_why(const sched_t *s, const acct_fs_t *fs, int32_t prio,
                                      uint32_t acct, const sched_job_t *vj, const sched_task_t *v,
                                      uint32_t *by_acct)
{
    *by_acct = acct;
    if (prio > v->priority)
        return SCHED_PREEMPT_PRIORITY;
    uint32_t bp, bv;
    if (!fs || prio < v->priority || !acct_fs_branches(s, acct, vj->account, &bp, &bv))
        return SCHED_PREEMPT_NONE;
    if (acct_fs_side(s, fs, bp) < 0 && acct_fs_side(s, fs, bv) > 0) {
        *by_acct = bp;
        return SCHED_PREEMPT_FAIR_SHARE;
    }
    return SCHED_PREEMPT_NONE;
}

/* A victim may be preempted: running on its allocation, its task
 * preemptible, not past its preemptions, not being stopped already. */
static bool victim_ok(const sched_attempt_t *at, const sched_task_t *v)
{
    return at->running && !at->queued && !at->preempt_why && v->preemptible &&
           v->preemptions < v->max_preempt && !v->cancel_requested;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
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
        if (!victim_ok(at, v)) {
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
        if (victim_why(s, have_fs ? &fs : NULL, t->priority, j->account, vj, v, &by) ==
            SCHED_PREEMPT_NONE)
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
        sched_preempt_why_t why =
            victim_why(s, need_fs ? &fs : NULL, t->priority, j->account, vj, v, &by);
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

/* --- the victim search ---------------------------------------------------- */

void preempt_pass_init(const sched_t *s, preempt_pass_t *pp)
{
    pp->searches = 0;
    pp->any = s->npre > 0;
    pp->min_prio = INT32_MAX;
    for (size_t i = 0; i < s->npre; i++) {
        const sched_attempt_t *at = attempt_at(s, s->pre[i]);
        int32_t p = task_at(s, (task_ref_t){.job = at->job, .task = at->task})->priority;
        pp->min_prio = p < pp->min_prio ? p : pp->min_prio;
    }
}

/* A candidate victim, with its keys in victim order. */
typedef struct cand {
    uint64_t id;
    int32_t prio;
    uint64_t above; /* acct_fs_ratio of its side, where its account parts from the preemptor's */
    int64_t young;  /* when it started (placed, if no start was reported) */
} cand_t;

/* Victim order: lowest priority, furthest above its share, youngest, id. */
static int cmp_cand(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;
    if (x->prio != y->prio)
        return x->prio < y->prio ? -1 : 1;
    if (x->above != y->above)
        return x->above > y->above ? -1 : 1;
    if (x->young != y->young)
        return x->young > y->young ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* One replica of a candidate on one node: rank is its place in victim
 * order. */
typedef struct entry {
    uint32_t node, rank, replica;
} entry_t;

static int cmp_entry(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;
    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* A node's way to fit the preemptor: the victims (ranks, ascending)
 * to stop there; none when it fits now. */
typedef struct way {
    uint32_t node, n, first; /* first: index of its ranks in the search's list */
} way_t;

typedef struct search {
    sched_t *s;
    task_ref_t r;
    cand_t *cand;
    size_t ncand;
    entry_t *e;
    size_t ne;
    way_t *ways;
    size_t nways;
    uint32_t *ranks;
    size_t nranks, ranks_cap;
} search_t;

static int cmp_way_ctx(const search_t *x, const way_t *a, const way_t *b)
{
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    for (uint32_t i = 0; i < a->n; i++) {
        uint32_t ra = x->ranks[a->first + i], rb = x->ranks[b->first + i];
        if (ra != rb)
            return ra < rb ? -1 : 1;
    }
    return a->node < b->node ? -1 : a->node > b->node;
}

/* Insertion sort of the ways (few: nodes with candidates) by count,
 * then their victims in victim order, then node id. */
static void sort_ways(search_t *x)
{
    for (size_t i = 1; i < x->nways; i++) {
        way_t w = x->ways[i];
        size_t j = i;
        for (; j > 0 && cmp_way_ctx(x, &w, &x->ways[j - 1]) < 0; j--)
            x->ways[j] = x->ways[j - 1];
        x->ways[j] = w;
    }
}

/* May the preemptor use node n (not reserved for another task)? */
static bool node_open(const sched_t *s, uint32_t n, task_ref_t r)
{
    if (n >= s->resv_of_cap || s->resv_of[n] == 0)
        return true;
    const sched_reservation_t *rv = &s->resv[s->resv_of[n] - 1];
    return rv->task.job == r.job && rv->task.task == r.task;
}

static const sched_alloc_desc_t *entry_alloc(const search_t *x, const entry_t *e)
{
    return &attempt_at(x->s, x->cand[e->rank].id)->allocs[e->replica];
}

/* The fewest victims among entries e[0..n) (one node, victim order) that
 * make room for c there: take them in order until c fits, then spare
 * each taken one, the last first, that c does not need. Appends the way
 * (ranks ascending) and returns 1; 0 when even all of them do not make
 * room. The node is as it was after. */
static int node_way(search_t *x, const task_class_t *c, const entry_t *e, size_t n)
{
    sched_t *s = x->s;
    sched_node_t *node = &s->nodes[e[0].node];
    size_t took = 0;
    bool fits = false;
    while (took < n && !fits) {
        cluster_alloc_release(s, entry_alloc(x, &e[took++]));
        fits = fit_node(node, c) == FIT_OK;
    }
    uint8_t *spare = calloc(took ? took : 1, 1);
    if (!spare) {
        for (size_t i = 0; i < took; i++)
            cluster_alloc_take(s, entry_alloc(x, &e[i]));
        return SCHED_ENOMEM;
    }
    for (size_t i = took; fits && i-- > 0;) {
        cluster_alloc_take(s, entry_alloc(x, &e[i]));
        if (fit_node(node, c) == FIT_OK)
            spare[i] = 1;
        else
            cluster_alloc_release(s, entry_alloc(x, &e[i]));
    }
    int rc = 0;
    size_t k = 0;
    for (size_t i = 0; i < took; i++)
        k += !spare[i];
    if (fits && CAIRN_GROW(x->ranks, x->ranks_cap, x->nranks + k) < 0)
        rc = SCHED_ENOMEM;
    else if (fits) {
        way_t *w = &x->ways[x->nways++];
        *w = (way_t){.node = e[0].node, .n = (uint32_t)k, .first = (uint32_t)x->nranks};
        for (size_t i = 0; i < took; i++)
            if (!spare[i])
                x->ranks[x->nranks++] = e[i].rank;
        rc = 1;
    }
    for (size_t i = 0; i < took; i++)
        if (!spare[i])
            cluster_alloc_take(s, entry_alloc(x, &e[i]));
    free(spare);
    return rc;
}

/* The ways class c (one GPU kind for a gang that needs one) could fit
 * on its nodes, best first; *total gets the victims of the best choice
 * (the first replicas ways, a victim on two of them counted once), or
 * UINT32_MAX when no choice gives c room. */
static int search_kind(search_t *x, const task_class_t *c, uint32_t *total)
{
    sched_t *s = x->s;
    x->nways = x->nranks = 0;
    *total = UINT32_MAX;
    size_t i = 0;
    for (uint32_t n = 0; n < s->nnodes; n++) {
        size_t from = i;
        while (i < x->ne && x->e[i].node == n)
            i++;
        if (!node_open(s, n, x->r) || s->nodes[n].state != SCHED_NODE_UP)
            continue;
        if (c->replicas > 1 && fit_node(&s->nodes[n], c) == FIT_OK) {
            x->ways[x->nways++] = (way_t){.node = n, .n = 0, .first = (uint32_t)x->nranks};
            continue;
        }
        if (i == from || fit_node_capacity(&s->nodes[n], c) != FIT_OK)
            continue;
        int rc = node_way(x, c, &x->e[from], i - from);
        if (rc < 0)
            return rc;
    }
    if (x->nways < c->replicas)
        return 0;
    sort_ways(x);
    uint8_t *seen = calloc(x->ncand ? x->ncand : 1, 1);
    if (!seen)
        return SCHED_ENOMEM;
    uint32_t t = 0;
    for (uint32_t w = 0; w < c->replicas; w++)
        for (uint32_t k = 0; k < x->ways[w].n; k++) {
            uint32_t rk = x->ranks[x->ways[w].first + k];
            t += !seen[rk];
            seen[rk] = 1;
        }
    free(seen);
    *total = t;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The candidates task r (priority prio, account acct) may preempt, in
 * victim order, and their replicas by node. */
static int gather(search_t *x, const sched_t *s, int32_t prio, uint32_t acct, int64_t now_ms)
{
    acct_fs_t fs = {0};
    bool fair = s->cfg.preempt_for_fair_share, use_fs = s->naccts > 1;
    if (use_fs && acct_fs_init(s, now_ms, &fs) < 0)
        return SCHED_ENOMEM;
    x->cand = malloc(s->npre * sizeof(cand_t));
    size_t nrep = 0;
    for (size_t i = 0; x->cand && i < s->npre; i++) {
        const sched_attempt_t *at = attempt_at(s, s->pre[i]);
        const sched_job_t *vj = job_at(s, at->job);
        const sched_task_t *v = &vj->tasks[at->task];
        uint32_t by, bp, bv;
        if (!victim_ok(at, v) || victim_why(s, fair && use_fs ? &fs : NULL, prio, acct, vj, v,
                                            &by) == SCHED_PREEMPT_NONE)
            continue;
        cand_t *cd = &x->cand[x->ncand++];
        *cd = (cand_t){.id = at->id,
                       .prio = v->priority,
                       .young = at->started_ms ? at->started_ms : at->placed_ms};
        if (use_fs && acct_fs_branches(s, acct, vj->account, &bp, &bv))
            cd->above = acct_fs_ratio(s, &fs, bv);
        nrep += at->nreplicas;
    }
    acct_fs_fini(&fs);
    if (!x->cand)
        return SCHED_ENOMEM;
    qsort(x->cand, x->ncand, sizeof(cand_t), cmp_cand);
    x->e = malloc((nrep ? nrep : 1) * sizeof(entry_t));
    if (!x->e)
        return SCHED_ENOMEM;
    for (size_t i = 0; i < x->ncand; i++) {
        const sched_attempt_t *at = attempt_at(s, x->cand[i].id);
        for (uint32_t k = 0; k < at->nreplicas; k++)
            x->e[x->ne++] =
                (entry_t){.node = at->allocs[k].node, .rank = (uint32_t)i, .replica = k};
    }
    qsort(x->e, x->ne, sizeof(entry_t), cmp_entry);
    return 0;
}

static void search_fini(search_t *x)
{
    free(x->cand);
    free(x->e);
    free(x->ways);
    free(x->ranks);
}

/* The victims of the best way (c, or the best GPU kind for a gang of one
 * kind: the fewest victims, ties in kind order) into *out (malloc'd,
 * ascending); returns how many (0: none gives room) or a negative code. */
static int choose(search_t *x, const task_class_t *c, uint64_t **out)
{
    sched_t *s = x->s;
    gpu_kind_t *kinds = NULL;
    int nk = 0;
    if (c->replicas > 1 && fit_gang_one_kind(c) && (nk = fit_gpu_kinds(s, c, false, &kinds)) < 0)
        return nk;
    x->ways = malloc((s->nnodes ? s->nnodes : 1) * sizeof(way_t));
    if (!x->ways) {
        free(kinds);
        return SCHED_ENOMEM;
    }
    task_class_t best_c = *c;
    uint32_t best = UINT32_MAX, total;
    int rc = 0;
    for (int k = 0; nk > 1 && k < nk && rc == 0; k++) {
        task_class_t t = fit_only_kind(c, &kinds[k]);
        if ((rc = search_kind(x, &t, &total)) == 0 && total < best) {
            best = total;
            best_c = t;
        }
    }
    if (rc == 0 && (nk <= 1 || best != UINT32_MAX))
        rc = search_kind(x, &best_c, &total); /* the ways of the one chosen */
    free(kinds);
    if (rc < 0)
        return rc;
    if (total == UINT32_MAX || total == 0 || total > SCHED_MAX_VICTIMS)
        return 0;
    uint64_t *v = malloc(total * sizeof(uint64_t));
    uint8_t *seen = calloc(x->ncand, 1);
    if (!v || !seen) {
        free(v);
        free(seen);
        return SCHED_ENOMEM;
    }
    uint32_t n = 0;
    for (uint32_t w = 0; w < c->replicas; w++)
        for (uint32_t k = 0; k < x->ways[w].n; k++) {
            uint32_t rk = x->ranks[x->ways[w].first + k];
            if (!seen[rk])
                v[n++] = x->cand[rk].id;
            seen[rk] = 1;
        }
    free(seen);
    qsort(v, n, sizeof(uint64_t), cmp_u64);
    *out = v;
    return (int)n;
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
    search_t x = {.s = s, .r = r};
    uint64_t *victims = NULL;
    int rc = gather(&x, s, r.prio, job_at(s, r.job)->account, now_ms);
    if (rc == 0 && x.ncand)
        rc = choose(&x, c, &victims);
    search_fini(&x);
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
