/* The victim search of a preemption (preempt.c; docs/algorithms.md).
 *
 * Candidates: the running attempts of preemptible tasks (sched.pre, which
 * holds what the search reads of them) the preemptor may stop
 * (preempt_victim_why), in victim
 * order: the lowest priority, then the furthest above its fair share
 * (acct_fs_ratio where its account parts from the preemptor's), then the
 * youngest (the latest start, or placement when no start was reported),
 * then the lowest id. On each node the preemptor could use, they are taken
 * in that order until what they hold and what is free there fit it, then
 * each taken one, the last first, is spared if the rest still do: a
 * minimal set, no victim of it needless. A node's set is compared with
 * another's by its size, then its victims in victim order, then node id;
 * a single task takes the best node, a gang the best of as many nodes as
 * it has replicas (nodes it fits now count as empty sets), a victim on
 * two of them counted once. A gang of one GPU kind searches each kind and
 * takes the one with the fewest victims (ties in kind order).
 *
 * Cost: one scan of the candidates, a counting sort of their replicas by
 * node, and a sort within each node whose candidates could make room at
 * all, with arithmetic fits (no allocation is touched): O(candidates +
 * nodes) and the small sorts. */
#include <stdlib.h>
#include <string.h>

#include "scheduling/sched_private.h"

/* A candidate victim, with its keys in victim order. */
typedef struct cand {
    uint64_t id;
    int32_t prio;
    uint64_t above;
    int64_t young;
} cand_t;

static int cand_cmp(const cand_t *x, const cand_t *y)
{
    if (x->prio != y->prio)
        return x->prio < y->prio ? -1 : 1;
    if (x->above != y->above)
        return x->above > y->above ? -1 : 1;
    if (x->young != y->young)
        return x->young > y->young ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* One replica of a candidate on its node (the keys copied, so a plain
 * qsort orders a node's replicas). */
typedef struct entry {
    cand_t key;
    uint32_t cand;
    sched_alloc_desc_t a; /* the replica's allocation (cores not used) */
} entry_t;

/* A node's candidates are few: insertion sort, in victim order. */
static void sort_entries(entry_t *e, size_t k)
{
    for (size_t i = 1; i < k; i++) {
        entry_t x = e[i];
        size_t j = i;
        for (; j > 0 && cand_cmp(&x.key, &e[j - 1].key) < 0; j--)
            e[j] = e[j - 1];
        e[j] = x;
    }
}

/* A node's way to fit the preemptor: n victims (candidate indexes, in
 * victim order) at vic[first..]; none when it fits now. */
typedef struct way {
    uint32_t node, n, first;
} way_t;

typedef struct search {
    sched_t *s;
    task_ref_t r;
    cand_t *cand;
    size_t ncand;
    entry_t *e;      /* by node: node n's at e[start[n] .. start[n + 1]) */
    uint32_t *start; /* nnodes + 1 */
    way_t *ways;
    size_t nways;
    uint32_t *vic;
    size_t nvic, vic_cap;
} search_t;

static int way_cmp(const search_t *x, const way_t *a, const way_t *b)
{
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    for (uint32_t i = 0; i < a->n; i++) {
        int c = cand_cmp(&x->cand[x->vic[a->first + i]], &x->cand[x->vic[b->first + i]]);
        if (c)
            return c;
    }
    return a->node < b->node ? -1 : a->node > b->node;
}

/* Insertion sort: ways are few (nodes whose candidates could make room). */
static void sort_ways(search_t *x)
{
    for (size_t i = 1; i < x->nways; i++) {
        way_t w = x->ways[i];
        size_t j = i;
        for (; j > 0 && way_cmp(x, &w, &x->ways[j - 1]) < 0; j--)
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

/* What would be free on a node: what fit_node counts. */
typedef struct room {
    uint32_t cores;
    uint64_t mem, gpus; /* gpus: eligible ones */
} room_t;

static bool room_fits(const room_t *m, const task_class_t *c)
{
    return m->cores >= c->cpus && m->mem >= c->memory &&
           (uint32_t)__builtin_popcountll(m->gpus) >= c->gpus;
}

static const sched_alloc_desc_t *entry_alloc(const search_t *x, const entry_t *e)
{
    (void)x;
    return &e->a;
}

static void room_add(room_t *m, const sched_alloc_desc_t *a, uint64_t elig, int sign)
{
    if (sign > 0) {
        m->cores += a->ncores;
        m->mem += a->memory_bytes;
        m->gpus |= a->gpu_mask & elig;
    } else {
        m->cores -= a->ncores;
        m->mem -= a->memory_bytes;
        m->gpus &= ~a->gpu_mask; /* attempts hold disjoint GPUs */
    }
}

/* The fewest of node n's candidates e[0..k) that make room for c: sorted
 * in victim order, taken until c fits, then each spared (the last first)
 * that c does not need. Appends the way; 0, or SCHED_ENOMEM. */
static int node_way(search_t *x, const task_class_t *c, uint32_t n, entry_t *e, size_t k)
{
    const sched_node_t *node = &x->s->nodes[n];
    uint64_t elig = c->gpus ? fit_gpu_eligible(node, c) & ~node->gpu_sick : 0;
    room_t m = {.cores = node->free_cores, .mem = node->mem_free, .gpus = node->gpu_free & elig};
    room_t all = m;
    for (size_t i = 0; i < k; i++)
        room_add(&all, entry_alloc(x, &e[i]), elig, 1);
    if (!room_fits(&all, c))
        return 0; /* even all of them would not do */
    sort_entries(e, k);
    size_t took = 0;
    while (took < k && !room_fits(&m, c))
        room_add(&m, entry_alloc(x, &e[took++]), elig, 1);
    if (CAIRN_GROW(x->vic, x->vic_cap, x->nvic + took) < 0)
        return SCHED_ENOMEM;
    /* spare from the last: kept[i] is 0 for a spared one */
    uint32_t first = (uint32_t)x->nvic, nk = 0;
    for (size_t i = took; i-- > 0;) {
        room_t less = m;
        room_add(&less, entry_alloc(x, &e[i]), elig, -1);
        if (room_fits(&less, c))
            m = less;
        else
            x->vic[first + nk++] = e[i].cand;
    }
    /* kept ones were written last first: put them in victim order */
    for (uint32_t i = 0; i < nk / 2; i++) {
        uint32_t t = x->vic[first + i];
        x->vic[first + i] = x->vic[first + nk - 1 - i];
        x->vic[first + nk - 1 - i] = t;
    }
    x->nvic += nk;
    x->ways[x->nways++] = (way_t){.node = n, .n = nk, .first = first};
    return 0;
}

/* The ways class c could fit, best first; *total: the victims of the
 * best choice (the first replicas ways, one on two of them counted once),
 * UINT32_MAX when none gives room. */
static int search_kind(search_t *x, const task_class_t *c, uint32_t *total)
{
    sched_t *s = x->s;
    x->nways = x->nvic = 0;
    *total = UINT32_MAX;
    for (uint32_t n = 0; n < s->nnodes; n++) {
        size_t from = x->start[n], k = x->start[n + 1] - from;
        if (k == 0 && c->replicas == 1)
            continue;
        const sched_node_t *node = &s->nodes[n];
        if (node->state != SCHED_NODE_UP || !node_open(s, n, x->r))
            continue;
        if (c->replicas > 1 && fit_node(node, c) == FIT_OK) {
            x->ways[x->nways++] = (way_t){.node = n};
            continue;
        }
        if (k == 0 || fit_node_capacity(node, c) != FIT_OK)
            continue;
        int rc = node_way(x, c, n, &x->e[from], k);
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
        for (uint32_t i = 0; i < x->ways[w].n; i++) {
            uint32_t v = x->vic[x->ways[w].first + i];
            t += !seen[v];
            seen[v] = 1;
        }
    free(seen);
    *total = t;
    return 0;
}

/* The candidates task r (priority prio, account acct) may preempt, and
 * their replicas by node. */
static int gather(search_t *x, int32_t prio, uint32_t acct, int64_t now_ms)
{
    const sched_t *s = x->s;
    acct_fs_t fs = {0};
    bool fair = s->cfg.preempt_for_fair_share, use_fs = s->naccts > 1;
    if (use_fs && acct_fs_init(s, now_ms, &fs) < 0)
        return SCHED_ENOMEM;
    x->cand = malloc((s->npre ? s->npre : 1) * sizeof(cand_t));
    x->start = calloc(s->nnodes + 1, sizeof(uint32_t));
    uint32_t *which = malloc((s->npre ? s->npre : 1) * sizeof(uint32_t)); /* index in pre */
    size_t nrep = 0;
    for (size_t i = 0; x->cand && x->start && which && i < s->npre; i++) {
        const pre_ref_t *p = &s->pre[i];
        uint32_t by, bp, bv;
        if (preempt_victim_why(s, fair && use_fs ? &fs : NULL, prio, acct, p->prio, p->acct, &by) ==
            SCHED_PREEMPT_NONE)
            continue;
        which[x->ncand] = (uint32_t)i;
        cand_t *cd = &x->cand[x->ncand++];
        *cd = (cand_t){.id = p->id, .prio = p->prio, .young = p->young};
        if (use_fs && acct_fs_branches(s, acct, p->acct, &bp, &bv))
            cd->above = acct_fs_ratio(s, &fs, bv);
        x->start[p->a0.node + 1]++;
        for (uint32_t k = 1; k < p->nreplicas; k++)
            x->start[p->allocs[k].node + 1]++;
        nrep += p->nreplicas;
    }
    acct_fs_fini(&fs);
    x->e = malloc((nrep ? nrep : 1) * sizeof(entry_t));
    uint32_t *fill = malloc((s->nnodes ? s->nnodes : 1) * sizeof(uint32_t));
    if (!x->cand || !x->start || !which || !x->e || !fill) {
        free(which);
        free(fill);
        return SCHED_ENOMEM;
    }
    /* counting sort by node: start[n] is where node n's replicas begin */
    for (size_t n = 0; n < s->nnodes; n++)
        x->start[n + 1] += x->start[n];
    memcpy(fill, x->start, s->nnodes * sizeof(uint32_t));
    for (size_t i = 0; i < x->ncand; i++) {
        const pre_ref_t *p = &s->pre[which[i]];
        for (uint32_t k = 0; k < p->nreplicas; k++) {
            const sched_alloc_desc_t *a = k ? &p->allocs[k] : &p->a0;
            x->e[fill[a->node]++] = (entry_t){.key = x->cand[i], .cand = (uint32_t)i, .a = *a};
        }
    }
    free(which);
    free(fill);
    return 0;
}

/* The victims of the best way for c, or for a gang of one GPU kind the
 * best kind's (the fewest victims, ties in kind order). */
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
    uint32_t best = UINT32_MAX, total = UINT32_MAX;
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
        for (uint32_t i = 0; i < x->ways[w].n; i++) {
            uint32_t k = x->vic[x->ways[w].first + i];
            if (!seen[k])
                v[n++] = x->cand[k].id;
            seen[k] = 1;
        }
    free(seen);
    qsort(v, n, sizeof(uint64_t), cmp_u64);
    *out = v;
    return (int)n;
}

int preempt_search(sched_t *s, const task_class_t *c, task_ref_t r, int64_t now_ms, uint64_t **out)
{
    search_t x = {.s = s, .r = r};
    int rc = gather(&x, r.prio, job_at(s, r.job)->account, now_ms);
    if (rc == 0 && x.ncand)
        rc = choose(&x, c, out);
    free(x.cand);
    free(x.e);
    free(x.start);
    free(x.ways);
    free(x.vic);
    return rc;
}
