/* Cluster model: nodes, their resources, and exact allocation accounting.
 * Up nodes are indexed by (free GPUs, free cores) for best-fit search. */
#include <stdlib.h>
#include <string.h>

#include "scheduling/sched_private.h"

/* --- node index --------------------------------------------------------- */

static node_bucket_t *bucket_at(node_index_t *ix, uint32_t g, uint32_t c)
{
    return &ix->b[(size_t)g * (ix->maxc + 1) + c];
}

static void index_remove(sched_t *s, sched_node_t *n)
{
    node_index_t *ix = &s->index;
    if (n->bucket_g < 0)
        return;
    node_bucket_t *b = bucket_at(ix, (uint32_t)n->bucket_g, (uint32_t)n->bucket_c);
    bit_clear(b->bits, n->id);
    b->count--;
    ix->row_count[n->bucket_g]--;
    n->bucket_g = n->bucket_c = -1;
}

static int index_insert(sched_t *s, sched_node_t *n)
{
    node_index_t *ix = &s->index;
    node_bucket_t *b = bucket_at(ix, n->free_gpus, n->free_cores);
    if (!b->bits) {
        b->bits = calloc(ix->words, sizeof(uint64_t));
        if (!b->bits)
            return SCHED_ENOMEM;
    }
    bit_set(b->bits, n->id);
    b->count++;
    ix->row_count[n->free_gpus]++;
    n->bucket_g = (int)n->free_gpus;
    n->bucket_c = (int)n->free_cores;
    return 0;
}

void cluster_index_fini(node_index_t *ix)
{
    if (ix->b) {
        size_t nb = (size_t)(ix->maxg + 1) * (ix->maxc + 1);
        for (size_t i = 0; i < nb; i++)
            free(ix->b[i].bits);
    }
    free(ix->b);
    free(ix->row_count);
    memset(ix, 0, sizeof(*ix));
}

/* Rebuild the index when a node outgrows its dimensions or node count. */
static int index_rebuild(sched_t *s, uint32_t maxg, uint32_t maxc, uint32_t words)
{
    node_index_t nix = {.maxg = maxg, .maxc = maxc, .words = words};
    nix.b = calloc((size_t)(maxg + 1) * (maxc + 1), sizeof(node_bucket_t));
    nix.row_count = calloc(maxg + 1, sizeof(uint32_t));
    if (!nix.b || !nix.row_count) {
        free(nix.b);
        free(nix.row_count);
        return SCHED_ENOMEM;
    }
    node_index_t old = s->index;
    s->index = nix;
    for (size_t i = 0; i < s->nnodes; i++) {
        sched_node_t *n = &s->nodes[i];
        n->bucket_g = n->bucket_c = -1;
        if (n->state == SCHED_NODE_UP && index_insert(s, n) < 0) {
            cluster_index_fini(&s->index);
            s->index = old;
            return SCHED_ENOMEM; /* old index is stale only for new nodes */
        }
    }
    cluster_index_fini(&old);
    return 0;
}

/* Put a node in the right bucket after its free resources or state changed. */
void cluster_index_update(sched_t *s, sched_node_t *n)
{
    bool want = n->state == SCHED_NODE_UP;
    if (n->bucket_g >= 0 && want && (uint32_t)n->bucket_g == n->free_gpus &&
        (uint32_t)n->bucket_c == n->free_cores)
        return;
    index_remove(s, n);
    if (want)
        (void)index_insert(s, n); /* bucket bits exist after reserve */
}

/* --- nodes -------------------------------------------------------------- */

void cluster_node_fini(sched_node_t *n)
{
    for (uint32_t i = 0; i < n->ngpus; i++) {
        free(n->gpus[i].vendor);
        free(n->gpus[i].model);
        free(n->gpus[i].uuid);
        free(n->gpus[i].pci_bus_id);
        free(n->gpus[i].unhealthy);
    }
    for (uint32_t i = 0; i < n->nlabels; i++)
        free(n->labels[i]);
    free(n->name);
    free(n->drain_reason);
    free(n->numa_memory);
    free(n->core_numa);
    free(n->gpus);
    free(n->labels);
    free(n->group_mask);
    free(n->numa_gpu_mask);
    free(n->numa_free_cores);
    free(n->core_free);
    memset(n, 0, sizeof(*n));
}

static int desc_check(const sched_node_desc_t *d, cairn_error_t *err)
{
    if (!d->name || !d->name[0])
        return errcode(err, SCHED_EINVAL, "node has no name");
    if (d->nnuma < 1 || d->nnuma > SCHED_MAX_NUMA_PER_NODE)
        return errcode(err, SCHED_EINVAL, "node %s: %d NUMA domains (1..%d allowed)", d->name,
                       d->nnuma, SCHED_MAX_NUMA_PER_NODE);
    if (d->ncores < 1 || d->ncores > SCHED_MAX_CORES_PER_NODE)
        return errcode(err, SCHED_EINVAL, "node %s: %d cores (1..%d allowed)", d->name, d->ncores,
                       SCHED_MAX_CORES_PER_NODE);
    if (d->ngpus < 0 || d->ngpus > SCHED_MAX_GPUS_PER_NODE)
        return errcode(err, SCHED_EINVAL, "node %s: %d GPUs (0..%d allowed)", d->name, d->ngpus,
                       SCHED_MAX_GPUS_PER_NODE);
    for (int i = 0; i < d->ncores; i++)
        if (d->core_numa[i] < 0 || d->core_numa[i] >= d->nnuma)
            return errcode(err, SCHED_EINVAL, "node %s: core %d in unknown NUMA domain %d", d->name,
                           i, d->core_numa[i]);
    for (int i = 0; i < d->ngpus; i++)
        if (d->gpus[i].numa < -1 || d->gpus[i].numa >= d->nnuma)
            return errcode(err, SCHED_EINVAL, "node %s: GPU %d in unknown NUMA domain %d", d->name,
                           i, d->gpus[i].numa);
    for (int i = 0; i < d->nlabels; i++)
        if (!d->labels[i] || !strchr(d->labels[i], '='))
            return errcode(err, SCHED_EINVAL, "node %s: label '%s' is not key=value", d->name,
                           d->labels[i] ? d->labels[i] : "(null)");
    return 0;
}

/* Fill n (zeroed, id and name set) from d. */
static int node_build(sched_node_t *n, const sched_node_desc_t *d)
{
    n->nnuma = (uint32_t)d->nnuma;
    n->ncores = (uint32_t)d->ncores;
    n->ngpus = (uint32_t)d->ngpus;
    n->nlabels = (uint32_t)d->nlabels;
    n->numa_memory = calloc(n->nnuma, sizeof(uint64_t));
    n->numa_free_cores = calloc(n->nnuma, sizeof(uint32_t));
    n->numa_gpu_mask = calloc(n->nnuma, sizeof(uint64_t));
    n->core_numa = calloc(n->ncores, sizeof(uint16_t));
    n->core_free = calloc(words_for(n->ncores), sizeof(uint64_t));
    n->gpus = calloc(n->ngpus ? n->ngpus : 1, sizeof(sched_gpu_t));
    n->group_mask = calloc(n->ngpus ? n->ngpus : 1, sizeof(uint64_t));
    n->labels = calloc(n->nlabels ? n->nlabels : 1, sizeof(char *));
    if (!n->numa_memory || !n->numa_free_cores || !n->numa_gpu_mask || !n->core_numa ||
        !n->core_free || !n->gpus || !n->group_mask || !n->labels)
        return SCHED_ENOMEM;
    for (uint32_t i = 0; i < n->nnuma; i++) {
        n->numa_memory[i] = d->numa_memory ? d->numa_memory[i] : 0;
        n->mem_total += n->numa_memory[i];
    }
    n->mem_free = n->mem_total;
    for (uint32_t i = 0; i < n->ncores; i++) {
        n->core_numa[i] = (uint16_t)d->core_numa[i];
        n->numa_free_cores[d->core_numa[i]]++;
        bit_set(n->core_free, i);
    }
    n->free_cores = n->ncores;
    int group_ids[SCHED_MAX_GPUS_PER_NODE];
    for (uint32_t i = 0; i < n->ngpus; i++) {
        const sched_gpu_desc_t *g = &d->gpus[i];
        sched_gpu_t *o = &n->gpus[i];
        o->vendor = xstrdup(g->vendor ? g->vendor : "");
        o->model = xstrdup(g->model ? g->model : "");
        o->uuid = xstrdup(g->uuid ? g->uuid : "");
        o->pci_bus_id = xstrdup(g->pci_bus_id ? g->pci_bus_id : "");
        if (!o->vendor || !o->model || !o->uuid || !o->pci_bus_id)
            return SCHED_ENOMEM;
        o->memory_bytes = g->memory_bytes;
        o->numa = g->numa;
        o->group_id = g->group;
        if ((o->mig_profile = gpu_mig_profile(o->model)) != NULL)
            n->gpu_mig |= (uint64_t)1 << i;
        /* dense group index in order of first appearance */
        uint32_t k;
        for (k = 0; k < n->ngroups; k++)
            if (group_ids[k] == g->group)
                break;
        if (k == n->ngroups)
            group_ids[n->ngroups++] = g->group;
        o->group = (int)k;
        n->group_mask[k] |= (uint64_t)1 << i;
        if (g->numa >= 0)
            n->numa_gpu_mask[g->numa] |= (uint64_t)1 << i;
        n->gpu_free |= (uint64_t)1 << i;
    }
    n->free_gpus = n->ngpus;
    for (uint32_t i = 0; i < n->nlabels; i++)
        if (!(n->labels[i] = xstrdup(d->labels[i])))
            return SCHED_ENOMEM;
    return 0;
}

static bool node_idle(const sched_node_t *n)
{
    return n->free_cores == n->ncores && n->free_gpus == n->ngpus && n->mem_free == n->mem_total;
}

static const char *node_name_of(const void *ctx, uint32_t id)
{
    return ((const sched_t *)ctx)->nodes[id].name;
}

static int name_cmp(const sched_t *s, uint32_t id, const char *name)
{
    return strcmp(s->nodes[id].name, name);
}

int sched_node_find(const sched_t *s, const char *name, uint32_t *id)
{
    return name && ids_find(s->node_by_name, s->nnodes, name, node_name_of, s, id) ? 0
                                                                                   : SCHED_ENOENT;
}

/* The effective state from presence and drain (cluster.h). */
static void node_state_derive(sched_node_t *n)
{
    if (n->presence == SCHED_NODE_DOWN || n->presence == SCHED_NODE_RETURNING ||
        n->presence == SCHED_NODE_REMOVED)
        n->state = n->presence;
    else
        n->state = n->drained ? SCHED_NODE_DRAINING : SCHED_NODE_UP;
}

/* A known node registers again: it is up; a drain stays. */
static int node_readd(sched_t *s, uint32_t id, const sched_node_desc_t *d, cairn_error_t *err)
{
    sched_node_t *n = &s->nodes[id];
    sched_node_t fresh = {.id = id, .bucket_g = -1, .bucket_c = -1};
    if (!node_idle(n)) {
        if ((uint32_t)d->ncores != n->ncores || (uint32_t)d->ngpus != n->ngpus ||
            (uint32_t)d->nnuma != n->nnuma)
            return errcode(err, SCHED_ECONFLICT,
                           "node %s re-registered with different hardware while attempts "
                           "still hold resources on it",
                           d->name);
        index_remove(s, n);
        n->presence = SCHED_NODE_UP;
        node_state_derive(n);
        cluster_index_update(s, n);
        return 0;
    }
    fresh.name = xstrdup(d->name);
    if (!fresh.name || node_build(&fresh, d) < 0) {
        cluster_node_fini(&fresh);
        return errcode(err, SCHED_ENOMEM, "out of memory adding node %s", d->name);
    }
    fresh.drained = n->drained;
    fresh.drain_reason = n->drain_reason;
    n->drain_reason = NULL;
    index_remove(s, n);
    cluster_node_fini(n);
    *n = fresh;
    n->presence = SCHED_NODE_UP;
    node_state_derive(n);
    return 0;
}

int cluster_node_add(sched_t *s, const sched_node_desc_t *d, cairn_error_t *err)
{
    int rc = desc_check(d, err);
    if (rc < 0)
        return rc;
    uint32_t id;
    bool existing = sched_node_find(s, d->name, &id) == 0;
    if (!existing) {
        id = (uint32_t)s->nnodes;
        size_t cap = s->nodes_cap;
        if (CAIRN_GROW(s->nodes, cap, s->nnodes + 1) < 0)
            return errcode(err, SCHED_ENOMEM, "out of memory");
        uint32_t *byname = realloc(s->node_by_name, cap * sizeof(uint32_t));
        if (!byname)
            return errcode(err, SCHED_ENOMEM, "out of memory");
        s->node_by_name = byname;
        s->nodes_cap = cap;
        sched_node_t *n = &s->nodes[id];
        memset(n, 0, sizeof(*n));
        n->id = id;
        n->bucket_g = n->bucket_c = -1;
        n->name = xstrdup(d->name);
        if (!n->name || node_build(n, d) < 0) {
            cluster_node_fini(n);
            return errcode(err, SCHED_ENOMEM, "out of memory adding node %s", d->name);
        }
        n->presence = n->state = SCHED_NODE_UP;
        /* keep node_by_name sorted */
        size_t pos = 0;
        while (pos < s->nnodes && name_cmp(s, s->node_by_name[pos], d->name) < 0)
            pos++;
        memmove(&s->node_by_name[pos + 1], &s->node_by_name[pos],
                (s->nnodes - pos) * sizeof(uint32_t));
        s->node_by_name[pos] = id;
        s->nnodes++;
    } else if ((rc = node_readd(s, id, d, err)) < 0) {
        return rc;
    }
    sched_node_t *n = &s->nodes[id];
    node_index_t *ix = &s->index;
    uint32_t words = words_for((uint32_t)s->nodes_cap);
    if (!ix->b || n->ngpus > ix->maxg || n->ncores > ix->maxc || words > ix->words) {
        uint32_t mg = ix->b && ix->maxg > n->ngpus ? ix->maxg : n->ngpus;
        uint32_t mc = ix->b && ix->maxc > n->ncores ? ix->maxc : n->ncores;
        if (index_rebuild(s, mg, mc, words) < 0)
            return errcode(err, SCHED_ENOMEM, "out of memory indexing node %s", d->name);
    } else {
        cluster_index_update(s, n);
    }
    if (n->state == SCHED_NODE_UP && n->bucket_g < 0)
        return errcode(err, SCHED_ENOMEM, "out of memory indexing node %s", d->name);
    if (topo_node_update(s, id) < 0)
        return errcode(err, SCHED_ENOMEM, "out of memory placing node %s in the topology", d->name);
    return 0;
}

int cluster_node_set_state(sched_t *s, uint32_t node, sched_node_state_t st, const char *reason,
                           cairn_error_t *err)
{
    if (node >= s->nnodes)
        return errcode(err, SCHED_ENOENT, "unknown node %u", node);
    sched_node_t *n = &s->nodes[node];
    char *why = NULL;
    if (n->presence == SCHED_NODE_REMOVED)
        return errcode(err, SCHED_EINVAL, "node %s was removed", n->name);
    switch (st) {
    case SCHED_NODE_DRAINING: /* drain (again: the newest reason counts) */
        if (reason && *reason && !(why = xstrdup(reason)))
            return errcode(err, SCHED_ENOMEM, "out of memory");
        free(n->drain_reason);
        n->drain_reason = why;
        n->drained = true;
        break;
    case SCHED_NODE_UP: /* undrain */
        free(n->drain_reason);
        n->drain_reason = NULL;
        n->drained = false;
        break;
    case SCHED_NODE_RETURNING:
        if (n->presence == SCHED_NODE_DOWN)
            return errcode(err, SCHED_EINVAL, "node %s is down, not returning", n->name);
        n->presence = st;
        break;
    case SCHED_NODE_DOWN:
        n->presence = st;
        break;
    default:
        return errcode(err, SCHED_EINVAL, "invalid node state %d", (int)st);
    }
    node_state_derive(n);
    cluster_index_update(s, n);
    return 0;
}

int cluster_node_remove(sched_t *s, uint32_t node, cairn_error_t *err)
{
    if (node >= s->nnodes)
        return errcode(err, SCHED_ENOENT, "unknown node %u", node);
    sched_node_t *n = &s->nodes[node];
    if (n->presence == SCHED_NODE_REMOVED)
        return errcode(err, SCHED_EINVAL, "node %s was removed already", n->name);
    size_t busy = sched_node_attempts(s, node, NULL, 0);
    if (busy || !node_idle(n))
        return errcode(err, SCHED_ECONFLICT,
                       "node %s has %zu attempt%s running or queued: drain it and wait for "
                       "them to end (or cancel them), then remove it",
                       n->name, busy, busy == 1 ? "" : "s");
    free(n->drain_reason);
    n->drain_reason = NULL;
    n->drained = false;
    n->presence = SCHED_NODE_REMOVED;
    node_state_derive(n);
    cluster_index_update(s, n);
    return 0;
}

int cluster_gpu_health(sched_t *s, uint32_t node, uint32_t gpu, const char *reason,
                       cairn_error_t *err)
{
    if (node >= s->nnodes)
        return errcode(err, SCHED_ENOENT, "unknown node %u", node);
    sched_node_t *n = &s->nodes[node];
    if (gpu >= n->ngpus)
        return errcode(err, SCHED_ENOENT, "node %s has no GPU %u", n->name, gpu);
    sched_gpu_t *g = &n->gpus[gpu];
    if (reason && !reason[0])
        return errcode(err, SCHED_EINVAL, "a sick GPU needs a reason");
    if (!reason && !g->unhealthy)
        return errcode(err, SCHED_EINVAL, "GPU %u of node %s is not marked unhealthy", gpu,
                       n->name);
    char *why = NULL;
    if (reason && !(why = xstrdup(reason)))
        return SCHED_ENOMEM;
    free(g->unhealthy); /* a second error replaces the first's reason */
    g->unhealthy = why;
    if (why)
        n->gpu_sick |= (uint64_t)1 << gpu;
    else
        n->gpu_sick &= ~((uint64_t)1 << gpu);
    return 0;
}

int cluster_node_back(sched_t *s, uint32_t node, cairn_error_t *err)
{
    if (node >= s->nnodes)
        return errcode(err, SCHED_ENOENT, "unknown node %u", node);
    sched_node_t *n = &s->nodes[node];
    if (n->presence == SCHED_NODE_REMOVED)
        return errcode(err, SCHED_EINVAL, "node %s was removed", n->name);
    n->presence = SCHED_NODE_UP;
    node_state_derive(n);
    cluster_index_update(s, n);
    return 0;
}

size_t cluster_nodes_known(const sched_t *s)
{
    size_t k = 0;
    for (size_t i = 0; i < s->nnodes; i++)
        k += s->nodes[i].presence != SCHED_NODE_REMOVED;
    return k;
}

/* --- allocations -------------------------------------------------------- */

int cluster_alloc_check(const sched_t *s, const sched_alloc_desc_t *a, cairn_error_t *err)
{
    if (a->node >= s->nnodes)
        return errcode(err, SCHED_ENOENT, "allocation on unknown node %u", a->node);
    const sched_node_t *n = &s->nodes[a->node];
    if (a->ncores > n->ncores)
        return errcode(err, SCHED_ECONFLICT, "node %s: %u cores asked, %u exist", n->name,
                       a->ncores, n->ncores);
    for (uint32_t i = 0; i < a->ncores; i++) {
        if (a->cores[i] >= n->ncores)
            return errcode(err, SCHED_ECONFLICT, "node %s: no core %u", n->name, a->cores[i]);
        if (i > 0 && a->cores[i] <= a->cores[i - 1])
            return errcode(err, SCHED_EINVAL, "node %s: core list not ascending", n->name);
        if (!bit_test(n->core_free, a->cores[i]))
            return errcode(err, SCHED_ECONFLICT, "node %s: core %u already allocated", n->name,
                           a->cores[i]);
    }
    uint64_t all = n->ngpus == 64 ? ~0ull : (((uint64_t)1 << n->ngpus) - 1);
    if (a->gpu_mask & ~all)
        return errcode(err, SCHED_ECONFLICT, "node %s: GPU index out of range", n->name);
    if (a->gpu_mask & ~n->gpu_free)
        return errcode(err, SCHED_ECONFLICT, "node %s: GPU %d already allocated", n->name,
                       __builtin_ctzll(a->gpu_mask & ~n->gpu_free));
    if (a->memory_bytes > n->mem_free)
        return errcode(err, SCHED_ECONFLICT, "node %s: %llu bytes of memory asked, %llu free",
                       n->name, (unsigned long long)a->memory_bytes,
                       (unsigned long long)n->mem_free);
    return 0;
}

void cluster_alloc_take(sched_t *s, const sched_alloc_desc_t *a)
{
    sched_node_t *n = &s->nodes[a->node];
    for (uint32_t i = 0; i < a->ncores; i++) {
        bit_clear(n->core_free, a->cores[i]);
        n->numa_free_cores[n->core_numa[a->cores[i]]]--;
    }
    n->free_cores -= a->ncores;
    n->gpu_free &= ~a->gpu_mask;
    n->free_gpus -= (uint32_t)__builtin_popcountll(a->gpu_mask);
    n->mem_free -= a->memory_bytes;
    cluster_index_update(s, n);
}

void cluster_alloc_release(sched_t *s, const sched_alloc_desc_t *a)
{
    sched_node_t *n = &s->nodes[a->node];
    for (uint32_t i = 0; i < a->ncores; i++) {
        bit_set(n->core_free, a->cores[i]);
        n->numa_free_cores[n->core_numa[a->cores[i]]]++;
    }
    n->free_cores += a->ncores;
    n->gpu_free |= a->gpu_mask;
    n->free_gpus += (uint32_t)__builtin_popcountll(a->gpu_mask);
    n->mem_free += a->memory_bytes;
    cluster_index_update(s, n);
}
