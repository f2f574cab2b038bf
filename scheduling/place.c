/* The placement pass: priority order, best fit, gangs, backfill.
 *
 * Ready tasks are grouped into classes of identical requests. A pass takes
 * the class whose head task comes first (priority, then submission order),
 * tries to place it, and on failure blocks the whole class for the rest of
 * the pass (all its tasks ask for the same thing), so a pass costs
 * O(placements * log classes), not O(queue length). The first blocked tasks
 * get reservations: a lower-priority task may then use a reserved node only
 * if its time limit ends before the reservation starts (backfill). */
#include <stdlib.h>
#include <string.h>

#include "scheduling/sched_private.h"

void reservations_clear(sched_t *s)
{
    for (uint32_t i = 0; i < s->nresv; i++) {
        for (uint32_t k = 0; k < s->resv[i].nnodes; k++)
            if (s->resv[i].nodes[k] < s->resv_of_cap)
                s->resv_of[s->resv[i].nodes[k]] = 0;
        free(s->resv[i].nodes);
    }
    s->nresv = 0;
    s->nresv_hold = 0;
}

/* May a task with this time limit use node n at now_ms? The task being
 * placed may use its own reservation (a preemption's hold). */
bool place_resv_allows(const sched_t *s, uint32_t n, int64_t time_limit_ms, int64_t now_ms)
{
    if (n >= s->resv_of_cap || s->resv_of[n] == 0)
        return true;
    const sched_reservation_t *r = &s->resv[s->resv_of[n] - 1];
    if (r->task.job == s->placing.job && r->task.task == s->placing.task)
        return true;
    return time_limit_ms > 0 && now_ms + time_limit_ms <= r->start_ms;
}

typedef struct find_arg {
    const sched_t *s;
    const task_class_t *c;
    const uint32_t *excl;
    uint32_t nexcl;
    int64_t now_ms;
} find_arg_t;

static bool find_fits(uint32_t n, void *arg)
{
    const find_arg_t *f = arg;
    for (uint32_t k = 0; k < f->nexcl; k++)
        if (f->excl[k] == n)
            return false;
    return place_resv_allows(f->s, n, f->c->time_limit_ms, f->now_ms) &&
           fit_node(&f->s->nodes[n], f->c) == FIT_OK;
}

/* Best-fit node for class c: the fewest GPUs, then cores, left free. */
static int64_t find_node(const sched_t *s, const task_class_t *c, const uint32_t *excl,
                         uint32_t nexcl, int64_t now_ms)
{
    find_arg_t f = {.s = s, .c = c, .excl = excl, .nexcl = nexcl, .now_ms = now_ms};
    return index_walk(&s->index, c->gpus, c->cpus, find_fits, &f);
}

/* Choose nodes for the replicas of class c, best fit one after another;
 * with more than one replica each is taken tentatively, so the next one
 * sees it (the caller releases them: release_replicas). Fills allocs,
 * nodes and cores; returns how many replicas found a node. */
static uint32_t choose_replicas(sched_t *s, const task_class_t *c, sched_alloc_desc_t *allocs,
                                uint32_t *nodes, uint32_t *cores, int64_t now_ms)
{
    uint32_t nr = c->replicas, got = 0;
    for (; got < nr; got++) {
        int64_t n = find_node(s, c, nodes, got, now_ms);
        if (n < 0)
            break;
        sched_alloc_desc_t *a = &allocs[got];
        uint32_t *cs = &cores[(size_t)got * c->cpus];
        fit_choose(&s->nodes[n], c, cs, &a->gpu_mask);
        a->node = (uint32_t)n;
        a->ncores = c->cpus;
        a->cores = cs;
        a->memory_bytes = c->memory;
        nodes[got] = (uint32_t)n;
        if (nr > 1)
            cluster_alloc_take(s, a); /* tentative, so the next replica sees it */
    }
    return got;
}

static void release_replicas(sched_t *s, const task_class_t *c, sched_alloc_desc_t *allocs,
                             uint32_t got)
{
    if (c->replicas > 1)
        for (uint32_t i = 0; i < got; i++)
            cluster_alloc_release(s, &allocs[i]);
}

/* For a gang whose replicas take one kind of GPU: the kind where all of
 * them fit now with the fewest GPUs, then cores, left free on their nodes
 * (best fit, as for one node), ties in kind order (vendor, model). *one
 * gets c restricted to it; returns 1, 0 when no kind has room for the
 * whole gang, or a negative code. With one kind in sight c itself does. */
static int gang_kind(sched_t *s, const task_class_t *c, sched_alloc_desc_t *allocs, uint32_t *nodes,
                     uint32_t *cores, int64_t now_ms, task_class_t *one)
{
    gpu_kind_t *kinds;
    int nk = fit_gpu_kinds(s, c, true, &kinds);
    if (nk < 0)
        return nk;
    *one = *c;
    int best = -1;
    uint64_t best_gpus = 0, best_cores = 0;
    for (int k = 0; nk > 1 && k < nk; k++) {
        task_class_t t = fit_only_kind(c, &kinds[k]);
        uint32_t got = choose_replicas(s, &t, allocs, nodes, cores, now_ms);
        uint64_t left_gpus = 0, left_cores = 0;
        for (uint32_t i = 0; i < got; i++) {
            left_gpus += s->nodes[nodes[i]].free_gpus;
            left_cores += s->nodes[nodes[i]].free_cores;
        }
        release_replicas(s, &t, allocs, got);
        if (got == c->replicas && (best < 0 || left_gpus < best_gpus ||
                                   (left_gpus == best_gpus && left_cores < best_cores))) {
            best = k;
            best_gpus = left_gpus;
            best_cores = left_cores;
        }
    }
    if (best >= 0)
        *one = fit_only_kind(c, &kinds[best]);
    free(kinds);
    return nk <= 1 || best >= 0;
}

/* A gang placed by topology (topo.c): the best domain over the GPU kinds
 * it may take (one kind: c itself), its replicas' allocations from it in
 * rank order. Returns the replicas placed (c->replicas, or 0 when no
 * domain up to its level has room) or a negative code. */
static int topo_replicas(sched_t *s, const task_class_t *c, sched_alloc_desc_t *allocs,
                         uint32_t *nodes, uint32_t *cores, int64_t now_ms)
{
    uint32_t nr = c->replicas;
    gpu_kind_t *kinds = NULL;
    uint32_t *cand = malloc(2 * (s->nnodes + (size_t)nr) * sizeof(uint32_t));
    if (!cand)
        return SCHED_ENOMEM;
    uint32_t *sub = cand + s->nnodes, *room = sub + s->nnodes;
    uint32_t nc = topo_candidates(s, c, now_ms, cand);
    /* the kinds its replicas may take: those free on the nodes that fit */
    int nk = nc >= nr && fit_gang_one_kind(c) ? fit_gpu_kinds_among(s, c, cand, nc, &kinds) : 0;
    int rc = nk < 0 ? nk : 0;
    topo_pick_t best = {.level = -1, .nodes = nodes}, pick = {.level = -1, .nodes = room};
    task_class_t one = *c, best_one = *c;
    for (int k = 0; rc == 0 && nc >= nr && k < (nk > 1 ? nk : 1); k++) {
        uint32_t n = nc;
        const uint32_t *v = cand;
        if (nk > 1) { /* the candidates with room on GPUs of this kind */
            one = fit_only_kind(c, &kinds[k]);
            n = 0;
            for (uint32_t i = 0; i < nc; i++)
                if (fit_node(&s->nodes[cand[i]], &one) == FIT_OK)
                    sub[n++] = cand[i];
            v = sub;
        }
        topo_choose(s, &one, v, n, &pick);
        if (topo_pick_better(s, &pick, &best)) {
            memcpy(nodes, pick.nodes, nr * sizeof(uint32_t));
            best.level = pick.level;
            best.dom = pick.dom;
            best.sumg = pick.sumg;
            best.sumc = pick.sumc;
            best_one = one;
        }
    }
    if (rc == 0 && best.level >= 0) {
        for (uint32_t i = 0; i < nr; i++) {
            sched_alloc_desc_t *a = &allocs[i];
            uint32_t *cs = &cores[(size_t)i * c->cpus];
            fit_choose(&s->nodes[nodes[i]], &best_one, cs, &a->gpu_mask);
            a->cores = cs;
            a->node = nodes[i];
            a->ncores = c->cpus;
            a->memory_bytes = c->memory;
        }
        rc = (int)nr;
    }
    free(cand);
    free(kinds);
    return rc;
}

/* Try to place task r of class c now. Returns 1 if placed, 0 if it does
 * not fit, negative on error. */
static int try_place(sched_t *s, task_class_t *c, task_ref_t r, int64_t now_ms, sched_place_f cb,
                     void *arg)
{
    uint32_t nr = c->replicas;
    sched_alloc_desc_t *allocs = calloc(nr, sizeof(*allocs));
    uint32_t *nodes = calloc(nr, sizeof(uint32_t));
    uint32_t *cores = calloc((size_t)nr * c->cpus, sizeof(uint32_t));
    int rc = 0;
    if (!allocs || !nodes || !cores) {
        rc = SCHED_ENOMEM;
        goto out;
    }
    task_class_t one = *c;
    s->placing = r;
    uint32_t got = 0;
    if (c->place_mode && c->place_ix >= 0 &&
        (rc = topo_replicas(s, c, allocs, nodes, cores, now_ms)) != 0) {
        if (rc < 0)
            goto out;
        got = (uint32_t)rc;
    } else if (c->place_mode == SCHED_PLACEMENT_REQUIRE) {
        goto out; /* waits for a domain with room (or for its level) */
    } else {
        /* no placement, or pack with no domain of room: anywhere */
        if (fit_gang_one_kind(c) && (rc = gang_kind(s, c, allocs, nodes, cores, now_ms, &one)) <= 0)
            goto out;
        got = choose_replicas(s, &one, allocs, nodes, cores, now_ms);
        release_replicas(s, &one, allocs, got);
        if (got == nr && c->place_mode)
            topo_order_allocs(s, allocs, nr);
    }
    rc = 0;
    if (got < nr)
        goto out;
    sched_event_t ev = {.type = SCHED_EV_PLACE, .time_ms = now_ms};
    ev.u.place.job = r.job;
    ev.u.place.task = r.task;
    ev.u.place.attempt = win_next_id(&s->attempts);
    ev.u.place.nreplicas = nr;
    ev.u.place.allocs = allocs;
    rc = sched_apply(s, &ev, NULL);
    if (rc == 0) {
        rc = 1;
        if (cb)
            cb(&ev, arg);
    }
out:
    s->placing = (task_ref_t){0};
    free(allocs);
    free(nodes);
    free(cores);
    return rc;
}

/* How many attempts may wait behind one running attempt of class c
 * (sched_config_t .prefetch, .prefetch_max). */
static uint32_t line_depth(const sched_t *s, const task_class_t *c)
{
    uint32_t d = s->cfg.prefetch, max = s->cfg.prefetch_max;
    if (!c->run_known || max <= d || s->cfg.prefetch_window_ms == 0)
        return d;
    int64_t avg16 = c->run_avg16 < 16 ? 16 : c->run_avg16; /* at least 1 ms */
    int64_t want = (int64_t)s->cfg.prefetch_window_ms * 16 / avg16;
    return want >= max ? max : want <= d ? d : (uint32_t)want;
}

typedef struct line {
    uint64_t tail; /* the attempt a new one queues behind */
    uint32_t len;  /* attempts waiting in it */
} line_t;

static int cmp_line(const void *a, const void *b)
{
    uint64_t x = ((const line_t *)a)->tail, y = ((const line_t *)b)->tail;
    return x < y ? -1 : x > y;
}

/* Queue ready tasks of class c (head first) behind running attempts of the
 * same class, at the ends of their lines (the line of a running attempt:
 * the attempts queued behind it), one place in every line that has room
 * per round so lines grow evenly, lines in the order of their last
 * attempt's id: each takes over its predecessor's allocation when that
 * ends (sched_config_t .prefetch). Returns how many were queued, or a
 * negative error. */
static int queue_class(sched_t *s, task_class_t *c, task_ref_t *head, int64_t now_ms,
                       sched_place_f cb, void *arg)
{
    uint32_t depth = line_depth(s, c);
    int32_t prio = task_at(s, *head)->priority; /* the class's highest ready */
    line_t *lines = malloc((s->nrunning ? s->nrunning : 1) * sizeof(*lines));
    if (!lines)
        return SCHED_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < s->nrunning; i++) {
        const sched_attempt_t *at = attempt_at(s, s->running[i].id);
        if (at->nreplicas != 1 || s->nodes[at->allocs[0].node].state != SCHED_NODE_UP ||
            (at->allocs[0].gpu_mask & s->nodes[at->allocs[0].node].gpu_sick))
            continue; /* never onto a sick GPU, even after its attempt */
        const sched_task_t *t = task_at(s, (task_ref_t){.job = at->job, .task = at->task});
        if (t->cls != c->id || t->cancel_requested)
            continue;
        /* never behind an attempt it may preempt: that one may run for
         * days; the head preempts it instead (preempt.c) */
        if (t->priority < prio && preempt_victim_ok(at, t))
            continue;
        uint32_t len = 0;
        while (at->next && len < depth) {
            at = attempt_at(s, at->next);
            len++;
        }
        if (len < depth)
            lines[n++] = (line_t){.tail = at->id, .len = len};
    }
    qsort(lines, n, sizeof(*lines), cmp_line);
    int queued = 0, rc = 0;
    bool more = n > 0;
    while (more && rc == 0 && n > 0) {
        size_t kept = 0;
        for (size_t k = 0; k < n; k++) {
            line_t *l = &lines[k];
            if (more) {
                const sched_attempt_t *pred = attempt_at(s, l->tail);
                sched_alloc_desc_t a = pred->allocs[0];
                sched_event_t ev = {.type = SCHED_EV_PLACE, .time_ms = now_ms};
                ev.u.place.job = head->job;
                ev.u.place.task = head->task;
                ev.u.place.attempt = win_next_id(&s->attempts);
                ev.u.place.nreplicas = 1;
                ev.u.place.allocs = &a;
                ev.u.place.after = pred->id;
                if ((rc = sched_apply(s, &ev, NULL)) < 0)
                    break;
                queued++;
                if (cb)
                    cb(&ev, arg);
                more = class_heap_peek(s, c, head, true);
                l->tail = ev.u.place.attempt;
                l->len++;
            }
            if (l->len < depth)
                lines[kept++] = *l;
        }
        /* a line's new tail is the newest attempt: the id order holds */
        n = kept;
    }
    free(lines);
    return rc < 0 && queued == 0 ? rc : queued;
}

typedef struct resv_scratch {
    uint32_t cores;
    uint64_t mem;
    uint64_t gpus; /* eligible free GPUs */
    bool fits, usable, init;
} resv_scratch_t;

static bool scratch_fits(const resv_scratch_t *x, const task_class_t *c)
{
    return x->usable && x->cores >= c->cpus && x->mem >= c->memory &&
           (uint32_t)__builtin_popcountll(x->gpus) >= c->gpus;
}

static void scratch_init(const sched_t *s, const task_class_t *c, uint32_t n, resv_scratch_t *x)
{
    const sched_node_t *node = &s->nodes[n];
    x->init = true;
    x->usable =
        node->state == SCHED_NODE_UP && s->resv_of[n] == 0 && fit_node_capacity(node, c) == FIT_OK;
    x->cores = node->free_cores;
    x->mem = node->mem_free;
    x->gpus = fit_gpu_eligible(node, c) & node_gpu_open(node);
    x->fits = scratch_fits(x, c);
}

/* Walk the running heap in (end, id) order without changing it: a small
 * frontier heap of positions, seeded with the root. */
typedef struct frontier {
    const running_ref_t *h;
    size_t n;
    uint32_t *ix;
    size_t len;
} frontier_t;

static bool front_before(const frontier_t *f, uint32_t a, uint32_t b)
{
    return running_before(&f->h[a], &f->h[b]);
}

static void front_push(frontier_t *f, uint32_t pos)
{
    if (pos >= f->n)
        return;
    size_t i = f->len++;
    while (i > 0 && front_before(f, pos, f->ix[(i - 1) / 2])) {
        f->ix[i] = f->ix[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    f->ix[i] = pos;
}

static uint32_t front_pop(frontier_t *f)
{
    uint32_t top = f->ix[0], x = f->ix[--f->len];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        uint32_t best = x;
        if (l < f->len && front_before(f, f->ix[l], best))
            m = l, best = f->ix[l];
        if (r < f->len && front_before(f, f->ix[r], best))
            m = r;
        if (m == i)
            break;
        f->ix[i] = f->ix[m];
        i = m;
    }
    if (f->len)
        f->ix[i] = x;
    front_push(f, 2 * top + 1);
    front_push(f, 2 * top + 2);
    return top;
}

static int reserve_at(sched_t *s, task_ref_t r, int64_t start, const resv_scratch_t *sc,
                      uint32_t need)
{
    sched_reservation_t *rv = &s->resv[s->nresv];
    rv->nodes = malloc(need * sizeof(uint32_t));
    if (!rv->nodes)
        return SCHED_ENOMEM;
    rv->task = r;
    rv->start_ms = start;
    rv->nnodes = 0;
    for (uint32_t n = 0; n < s->nnodes && rv->nnodes < need; n++)
        if (sc[n].init && sc[n].fits) {
            rv->nodes[rv->nnodes++] = n;
            s->resv_of[n] = s->nresv + 1;
        }
    s->nresv++;
    return 0;
}

/* When blocked class c could start earliest, assuming running attempts
 * end at their time limits: *start, and sc[n].fits for the nodes it would
 * use then. A single task that did not fit fits no free node now, so only
 * nodes where attempts end need looking at; a gang also counts the nodes
 * that fit already. sc (s->nnodes, zeroed) and f.ix are the caller's.
 * Returns whether enough nodes free up at all. */
static bool resv_plan(sched_t *s, const task_class_t *c, int64_t now_ms, resv_scratch_t *sc,
                      frontier_t *f, int64_t *start)
{
    uint32_t nfit = 0;
    if (c->replicas > 1) {
        for (uint32_t n = 0; n < s->nnodes; n++) {
            scratch_init(s, c, n, &sc[n]);
            nfit += sc[n].fits;
        }
    }
    *start = now_ms;
    f->len = 0;
    front_push(f, 0);
    while (f->len > 0 && nfit < c->replicas) {
        const running_ref_t *e = &s->running[front_pop(f)];
        if (e->end_ms == INT64_MAX)
            break; /* the rest never end, for planning */
        const sched_attempt_t *at = attempt_at(s, e->id);
        *start = e->end_ms > now_ms ? e->end_ms : now_ms;
        for (uint32_t k = 0; k < at->nreplicas; k++) {
            const sched_alloc_desc_t *a = &at->allocs[k];
            resv_scratch_t *x = &sc[a->node];
            if (!x->init)
                scratch_init(s, c, a->node, x);
            x->cores += a->ncores;
            x->mem += a->memory_bytes;
            x->gpus |=
                a->gpu_mask & fit_gpu_eligible(&s->nodes[a->node], c) & ~s->nodes[a->node].gpu_sick;
            bool fit = scratch_fits(x, c);
            nfit += fit && !x->fits;
            x->fits = fit;
        }
    }
    return nfit >= c->replicas;
}

/* Reserve, for blocked task r, the nodes where it could start earliest; a
 * gang of one GPU kind: the kind where it could start earliest (ties in
 * kind order). */
static int make_reservation(sched_t *s, const task_class_t *c, task_ref_t r, int64_t now_ms)
{
    size_t nsc = s->nnodes ? s->nnodes : 1;
    resv_scratch_t *sc = calloc(nsc, sizeof(*sc));
    frontier_t f = {.h = s->running, .n = s->nrunning};
    f.ix = malloc((s->nrunning + 2) * sizeof(uint32_t));
    gpu_kind_t *kinds = NULL;
    int nk = 0, rc = 0;
    if (!sc || !f.ix || (fit_gang_one_kind(c) && (nk = fit_gpu_kinds(s, c, false, &kinds)) < 0)) {
        rc = SCHED_ENOMEM;
        goto out;
    }
    task_class_t one = *c;
    int64_t start = 0;
    if (nk > 1) {
        int best = -1;
        int64_t best_start = 0;
        for (int k = 0; k < nk; k++) {
            task_class_t t = fit_only_kind(c, &kinds[k]);
            memset(sc, 0, nsc * sizeof(*sc));
            if (resv_plan(s, &t, now_ms, sc, &f, &start) && (best < 0 || start < best_start)) {
                best = k;
                best_start = start;
            }
        }
        if (best < 0)
            goto out;
        one = fit_only_kind(c, &kinds[best]);
        memset(sc, 0, nsc * sizeof(*sc));
    }
    if (resv_plan(s, &one, now_ms, sc, &f, &start))
        rc = reserve_at(s, r, start, sc, c->replicas);
out:
    free(sc);
    free(f.ix);
    free(kinds);
    return rc;
}

/* Class heap for one pass, ordered by each class's head task. */
typedef struct pass {
    sched_t *s;
    uint32_t *h;
    task_ref_t *head;
    uint32_t n;
} pass_t;

static bool pass_before(const pass_t *p, uint32_t a, uint32_t b)
{
    return task_before(p->s, p->head[a], p->head[b]);
}

static void pass_sift_down(pass_t *p, uint32_t i)
{
    uint32_t x = p->h[i];
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        uint32_t best = x;
        if (l < p->n && pass_before(p, p->h[l], best)) {
            m = l;
            best = p->h[l];
        }
        if (r < p->n && pass_before(p, p->h[r], best))
            m = r;
        if (m == i)
            break;
        p->h[i] = p->h[m];
        i = m;
    }
    p->h[i] = x;
}

static int pass_init(pass_t *p, sched_t *s)
{
    p->s = s;
    p->n = 0;
    p->h = malloc((s->nactive ? s->nactive : 1) * sizeof(uint32_t));
    p->head = malloc((s->nclasses ? s->nclasses : 1) * sizeof(task_ref_t));
    if (!p->h || !p->head)
        return SCHED_ENOMEM;
    size_t keep = 0;
    for (size_t i = 0; i < s->nactive; i++) {
        task_class_t *c = &s->classes[s->active[i]];
        if (!class_heap_peek(s, c, &p->head[c->id], false)) {
            c->active = false; /* empty: drop from the active list */
            continue;
        }
        s->active[keep++] = c->id;
        if (s->naccts <= 1 || class_heap_peek(s, c, &p->head[c->id], true))
            p->h[p->n++] = c->id; /* else every account of it is at a limit */
    }
    s->nactive = keep;
    for (uint32_t i = p->n / 2; i-- > 0;)
        pass_sift_down(p, i);
    return 0;
}

int sched_place(sched_t *s, int64_t now_ms, sched_place_f cb, void *arg)
{
    reservations_clear(s);
    s->last_pass_ms = now_ms;
    retry_heap_release_due(s, now_ms);
    if (acct_rank_update(s, now_ms) < 0)
        return SCHED_ENOMEM;
    if (s->resv_of_cap < s->nnodes) {
        uint32_t *ro = calloc(s->nnodes, sizeof(uint32_t));
        if (!ro)
            return SCHED_ENOMEM;
        free(s->resv_of);
        s->resv_of = ro;
        s->resv_of_cap = s->nnodes;
    }
    uint32_t maxr = s->cfg.max_reservations;
    if (CAIRN_GROW(s->resv, s->resv_cap, maxr + s->nholds) < 0)
        return SCHED_ENOMEM;
    /* first the holds of preemptions in progress: their nodes are their
     * preemptors' (preempt.c) */
    if (s->nholds && preempt_reserve(s, now_ms) < 0)
        return SCHED_ENOMEM;
    preempt_pass_t pp;
    preempt_pass_init(s, &pp);
    pass_t p;
    bool queue_ok = s->cfg.prefetch; /* for the first blocked class only */
    int placed = 0, rc = pass_init(&p, s);
    while (rc == 0 && p.n > 0) {
        uint32_t cid = p.h[0];
        task_class_t *c = &s->classes[cid];
        task_ref_t r = p.head[cid];
        if (s->naccts > 1 && !acct_fits(s, r.acct, c)) {
            /* its account reached a limit in this pass: another account's
             * task of the class, if one may run, else the class is done */
            if (class_heap_peek(s, c, &p.head[cid], true)) {
                pass_sift_down(&p, 0);
                continue;
            }
            p.h[0] = p.h[--p.n];
            if (p.n)
                pass_sift_down(&p, 0);
            continue;
        }
        rc = try_place(s, c, r, now_ms, cb, arg);
        if (rc < 0)
            break;
        if (rc == 1) {
            placed++;
            rc = 0;
            if (class_heap_peek(s, c, &p.head[cid], true)) {
                pass_sift_down(&p, 0);
                continue;
            }
        } else {
            int queued = 0;
            if (queue_ok && s->nresv == s->nresv_hold && c->replicas == 1)
                queued = queue_class(s, c, &p.head[cid], now_ms, cb, arg);
            queue_ok = false;
            if (queued < 0) {
                rc = queued;
                break;
            }
            placed += queued;
            /* a preemption holds nodes for it: no reservation besides */
            /* (a victim search knows no topology: a gang that requires
             * a domain waits for one instead) */
            int pre = queued == 0 && c->place_mode != SCHED_PLACEMENT_REQUIRE
                          ? preempt_try(s, &pp, c, r, now_ms, cb, arg)
                          : 0;
            if (pre < 0) {
                rc = pre;
                break;
            }
            if (pre > 0 || (queued == 0 && preempt_hold_active(s, preempt_hold_of(s, r))))
                pre = 1;
            /* a reservation would not know the queued attempts take over */
            if (queued == 0 && pre == 0 && s->nresv - s->nresv_hold < maxr)
                rc = make_reservation(s, c, r, now_ms);
        }
        p.h[0] = p.h[--p.n]; /* class done or blocked for this pass */
        if (p.n)
            pass_sift_down(&p, 0);
    }
    free(p.h);
    free(p.head);
    return rc < 0 ? rc : placed;
}
