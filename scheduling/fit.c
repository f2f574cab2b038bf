/* Does a node fit a request, and which GPUs and cores to take on it.
 *
 * GPU choice is topology-aware: the tightest single PCIe switch (locality
 * group) that holds k eligible free GPUs, else the tightest NUMA domain, else
 * across domains, fullest groups first. Cores follow the GPUs' NUMA domains.
 * Every tie is broken by the lowest index. */
#include <stdlib.h>
#include <string.h>

#include "scheduling/sched_private.h"

static const char *const reason_text[FIT_NREASONS] = {
    [FIT_OK] = "fits",
    [FIT_DOWN] = "node down",
    [FIT_DRAINING] = "node draining",
    [FIT_RETURNING] = "node not back since the scheduler restarted",
    [FIT_LABELS] = "labels do not match",
    [FIT_GPU_MODEL] = "GPU model does not match",
    [FIT_GPU_MEMORY] = "GPU memory too small",
    [FIT_CAP_GPUS] = "too few GPUs in total",
    [FIT_CAP_CORES] = "too few cores in total",
    [FIT_CAP_MEMORY] = "too little memory in total",
    [FIT_FREE_GPUS] = "too few free GPUs",
    [FIT_FREE_CORES] = "too few free cores",
    [FIT_FREE_MEMORY] = "too little free memory",
    [FIT_RESERVED] = "reserved for a higher-priority task",
    [FIT_GANG_PEER] = "already holds another replica",
};

const char *fit_reason_text(fit_reason_t r)
{
    return r < FIT_NREASONS ? reason_text[r] : "?";
}

/* The class takes this GPU: any model, or what its request names
 * (gpu_match.c); and while a gang is placed, only its one kind. */
static bool model_ok(const task_class_t *c, const sched_gpu_t *g)
{
    if (c->only_model &&
        (strcmp(c->only_model, g->model) != 0 || strcmp(c->only_vendor, g->vendor) != 0))
        return false;
    if (g->mig_profile) /* only for a request that asks for its profile */
        return c->gpu_model && gpu_match_mig(&c->match, g->model, g->mig_profile);
    return !c->gpu_model || gpu_match(&c->match, g->model);
}

static bool labels_match(const sched_node_t *n, const task_class_t *c)
{
    for (uint32_t i = 0; i < c->nlabels; i++) {
        bool found = false;
        for (uint32_t j = 0; j < n->nlabels && !found; j++)
            found = strcmp(c->labels[i], n->labels[j]) == 0;
        if (!found)
            return false;
    }
    return true;
}

/* GPUs of n that satisfy the class's model and memory constraints. */
uint64_t fit_gpu_eligible(const sched_node_t *n, const task_class_t *c)
{
    uint64_t m = 0;
    for (uint32_t i = 0; i < n->ngpus; i++) {
        const sched_gpu_t *g = &n->gpus[i];
        if (!model_ok(c, g))
            continue;
        if (c->gpu_min_memory && g->memory_bytes < c->gpu_min_memory)
            continue;
        m |= (uint64_t)1 << i;
    }
    return m;
}

/* Checks that do not depend on what is free. */
fit_reason_t fit_node_capacity(const sched_node_t *n, const task_class_t *c)
{
    if (!labels_match(n, c))
        return FIT_LABELS;
    if (c->gpus) {
        bool any_model = false;
        for (uint32_t i = 0; i < n->ngpus && !any_model; i++)
            any_model = model_ok(c, &n->gpus[i]);
        if (!any_model)
            return n->ngpus && (c->gpu_model || c->only_model) ? FIT_GPU_MODEL : FIT_CAP_GPUS;
        uint64_t elig = fit_gpu_eligible(n, c);
        if (!elig)
            return FIT_GPU_MEMORY;
        if ((uint32_t)__builtin_popcountll(elig) < c->gpus)
            return FIT_CAP_GPUS;
    }
    if (n->ncores < c->cpus)
        return FIT_CAP_CORES;
    if (n->mem_total < c->memory)
        return FIT_CAP_MEMORY;
    return FIT_OK;
}

fit_reason_t fit_node(const sched_node_t *n, const task_class_t *c)
{
    if (n->state == SCHED_NODE_DOWN || n->state == SCHED_NODE_REMOVED)
        return FIT_DOWN;
    if (n->state == SCHED_NODE_DRAINING)
        return FIT_DRAINING;
    if (n->state == SCHED_NODE_RETURNING)
        return FIT_RETURNING;
    /* fast path: free counts first, they reject most nodes in a busy cluster */
    if (n->free_gpus >= c->gpus && n->free_cores >= c->cpus && n->mem_free >= c->memory) {
        if (c->nlabels && !labels_match(n, c))
            return FIT_LABELS;
        if (!c->gpus)
            return FIT_OK;
        if (!c->gpu_model && !c->gpu_min_memory && !c->only_model && !n->gpu_mig && !n->gpu_sick)
            return FIT_OK;
        uint64_t free_elig = fit_gpu_eligible(n, c) & node_gpu_open(n);
        if ((uint32_t)__builtin_popcountll(free_elig) >= c->gpus)
            return FIT_OK;
    }
    fit_reason_t r = fit_node_capacity(n, c);
    if (r != FIT_OK)
        return r;
    if ((uint32_t)__builtin_popcountll(fit_gpu_eligible(n, c) & node_gpu_open(n)) < c->gpus)
        return FIT_FREE_GPUS;
    if (n->free_cores < c->cpus)
        return FIT_FREE_CORES;
    return FIT_FREE_MEMORY;
}

/* Take k GPUs from pool, fullest locality group first. */
static uint64_t take_groups(const sched_node_t *n, uint64_t pool, uint32_t k)
{
    uint64_t taken = 0;
    while (k > 0 && pool) {
        int best = -1, bestcnt = 0;
        for (uint32_t g = 0; g < n->ngroups; g++) {
            int cnt = __builtin_popcountll(n->group_mask[g] & pool);
            if (cnt > bestcnt) {
                best = (int)g;
                bestcnt = cnt;
            }
        }
        uint64_t m = n->group_mask[best] & pool;
        while (m && k > 0) {
            uint64_t low = m & (~m + 1);
            taken |= low;
            pool &= ~low;
            m &= ~low;
            k--;
        }
    }
    return taken;
}

static uint64_t choose_gpus(const sched_node_t *n, uint64_t elig, uint32_t k)
{
    if (k == 0)
        return 0;
    int best = -1, bestcnt = 1 << 30;
    for (uint32_t g = 0; g < n->ngroups; g++) {
        int cnt = __builtin_popcountll(n->group_mask[g] & elig);
        if (cnt >= (int)k && cnt < bestcnt) {
            best = (int)g;
            bestcnt = cnt;
        }
    }
    if (best >= 0)
        return take_groups(n, n->group_mask[best] & elig, k);
    best = -1;
    bestcnt = 1 << 30;
    for (uint32_t d = 0; d < n->nnuma; d++) {
        int cnt = __builtin_popcountll(n->numa_gpu_mask[d] & elig);
        if (cnt >= (int)k && cnt < bestcnt) {
            best = (int)d;
            bestcnt = cnt;
        }
    }
    if (best >= 0)
        return take_groups(n, n->numa_gpu_mask[best] & elig, k);
    /* across NUMA domains: fullest domain first */
    uint64_t taken = 0, left = elig;
    while (k > 0 && left) {
        int bd = -1, bc = 0;
        uint64_t bm = 0;
        for (uint32_t d = 0; d < n->nnuma; d++) {
            int cnt = __builtin_popcountll(n->numa_gpu_mask[d] & left);
            if (cnt > bc) {
                bd = (int)d;
                bc = cnt;
                bm = n->numa_gpu_mask[d] & left;
            }
        }
        if (bd < 0)
            bm = left; /* GPUs of unknown locality */
        uint64_t t = take_groups(n, bm, k);
        if (!t)
            t = bm & (~bm + 1);
        taken |= t;
        left &= ~t;
        k -= (uint32_t)__builtin_popcountll(t);
    }
    return taken;
}

/* Take up to need free cores of domain d (lowest index first). */
static uint32_t take_cores(const sched_node_t *n, int d, uint32_t need, uint32_t *cores,
                           uint32_t have)
{
    for (uint32_t i = 0; i < n->ncores && have < need; i++)
        if (n->core_numa[i] == d && bit_test(n->core_free, i))
            cores[have++] = i;
    return have;
}

void fit_choose(const sched_node_t *n, const task_class_t *c, uint32_t *cores, uint64_t *gpu_mask)
{
    uint64_t elig = fit_gpu_eligible(n, c) & node_gpu_open(n);
    *gpu_mask = choose_gpus(n, elig, c->gpus);

    /* NUMA domain preference: by number of chosen GPUs, then best fit */
    uint32_t order[SCHED_MAX_NUMA_PER_NODE], nord = 0, ngpu_dom[SCHED_MAX_NUMA_PER_NODE];
    for (uint32_t d = 0; d < n->nnuma; d++) {
        ngpu_dom[d] = (uint32_t)__builtin_popcountll(n->numa_gpu_mask[d] & *gpu_mask);
        order[nord++] = d;
    }
    int bestfit = -1;
    if (!*gpu_mask) {
        for (uint32_t d = 0; d < n->nnuma; d++)
            if (n->numa_free_cores[d] >= c->cpus &&
                (bestfit < 0 || n->numa_free_cores[d] < n->numa_free_cores[bestfit]))
                bestfit = (int)d;
    }
    /* insertion sort: GPUs desc, best-fit domain first, free cores desc, id */
    for (uint32_t i = 1; i < nord; i++) {
        uint32_t x = order[i];
        int j = (int)i - 1;
        while (j >= 0) {
            uint32_t y = order[j];
            bool before = ngpu_dom[x] != ngpu_dom[y]                   ? ngpu_dom[x] > ngpu_dom[y]
                          : ((int)x == bestfit) != ((int)y == bestfit) ? (int)x == bestfit
                          : n->numa_free_cores[x] != n->numa_free_cores[y]
                              ? n->numa_free_cores[x] > n->numa_free_cores[y]
                              : x < y;
            if (!before)
                break;
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = x;
    }
    /* each core is in one domain and each domain is visited once */
    uint32_t have = 0;
    for (uint32_t i = 0; i < nord && have < c->cpus; i++)
        have = take_cores(n, (int)order[i], c->cpus, cores, have);
    qsort(cores, have, sizeof(uint32_t), cmp_u32);
}

bool fit_gang_one_kind(const task_class_t *c)
{
    return c->replicas > 1 && c->gpus > 0 && !c->gpu_mixed;
}

task_class_t fit_only_kind(const task_class_t *c, const gpu_kind_t *k)
{
    task_class_t one = *c;
    one.only_vendor = k->vendor;
    one.only_model = k->model;
    return one;
}

static int cmp_kind(const void *a, const void *b)
{
    const gpu_kind_t *x = a, *y = b;
    int r = strcmp(x->vendor, y->vendor);
    return r ? r : strcmp(x->model, y->model);
}

/* The kinds of fit_gpu_kinds, over the nodes ids[0..nids) (NULL: all
 * nodes, each checked to fit c; else known to fit it now). */
static int kinds_of(const sched_t *s, const task_class_t *c, bool free_only, const uint32_t *ids,
                    size_t nids, gpu_kind_t **out)
{
    gpu_kind_t *v = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    for (size_t i = 0; i < (ids ? nids : s->nnodes); i++) {
        const sched_node_t *node = &s->nodes[ids ? ids[i] : i];
        if (!ids &&
            (free_only ? fit_node(node, c) != FIT_OK
                       : node->state != SCHED_NODE_UP || fit_node_capacity(node, c) != FIT_OK))
            continue;
        uint64_t m = fit_gpu_eligible(node, c) & (free_only ? node_gpu_open(node) : ~0ull);
        for (; m; m &= m - 1) {
            const sched_gpu_t *g = &node->gpus[__builtin_ctzll(m)];
            bool known = false;
            /* a node's GPUs are mostly of one kind: look back a little */
            for (size_t k = n; k-- > 0 && !known && k + 8 >= n;)
                known = !strcmp(v[k].model, g->model) && !strcmp(v[k].vendor, g->vendor);
            if (known)
                continue;
            if (CAIRN_GROW(v, cap, n + 1) < 0) {
                free(v);
                return SCHED_ENOMEM;
            }
            v[n++] = (gpu_kind_t){.vendor = g->vendor, .model = g->model};
        }
    }
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_kind);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || cmp_kind(&v[k - 1], &v[i]) != 0)
            v[k++] = v[i];
    *out = v;
    return (int)k;
}

int fit_gpu_kinds(const sched_t *s, const task_class_t *c, bool free_only, gpu_kind_t **out)
{
    return kinds_of(s, c, free_only, NULL, 0, out);
}

int fit_gpu_kinds_among(const sched_t *s, const task_class_t *c, const uint32_t *ids, size_t n,
                        gpu_kind_t **out)
{
    return kinds_of(s, c, true, ids, n, out);
}
