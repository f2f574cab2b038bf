/* Network topology: levels of domains (a rack inside a block), from node
 * labels "topology.<level>=<value>", and where a gang's replicas go in it.
 *
 * The levels come from the configuration (sched_config_t
 * .topology_levels), tightest first. Each node's domain per level is
 * worked out when the node is added, as an id; a placement compares ids
 * and value ranks, never strings. A gang asking for placement by level L
 * (job.h) is placed in one domain of the tightest level, from the
 * tightest up to L, whose nodes that fit it now hold all its replicas;
 * among the domains of that level, best fit: the fewest free GPUs, then
 * cores, on those nodes, then the value's order. Its nodes are the
 * domain's best-fit nodes (the node index's order), ranked so that the
 * nodes of each tighter domain are consecutive. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduling/sched_private.h"

bool topo_name_ok(const char *name)
{
    if (!name || !name[0] || strlen(name) >= SCHED_MAX_TOPOLOGY_NAME)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return false;
    return true;
}

void topo_fini(topo_t *t)
{
    for (uint32_t l = 0; l < t->nlevels; l++) {
        topo_level_t *lv = &t->levels[l];
        free(lv->name);
        free(lv->key);
        for (uint32_t d = 0; d < lv->nvals; d++)
            free(lv->vals[d]);
        free(lv->vals);
        free(lv->rank);
    }
    free(t->levels);
    free(t->spec);
    free(t->node_dom);
    free(t->cnt);
    free(t->sumg);
    free(t->sumc);
    memset(t, 0, sizeof(*t));
}

static int level_in(const topo_t *t, const char *name)
{
    for (uint32_t l = 0; name && l < t->nlevels; l++)
        if (!strcmp(t->levels[l].name, name))
            return (int)l;
    return -1;
}

int topo_init(topo_t *t, const char *levels, cairn_error_t *err)
{
    memset(t, 0, sizeof(*t));
    if (!levels || !levels[0])
        return 0;
    t->levels = calloc(SCHED_MAX_TOPOLOGY_LEVELS, sizeof(*t->levels));
    t->spec = xstrdup(levels);
    if (!t->levels || !t->spec)
        return errcode(err, SCHED_ENOMEM, "out of memory");
    const char *p = levels;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char name[SCHED_MAX_TOPOLOGY_NAME];
        snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : sizeof(name) - 1), p);
        int rc = 0;
        if (n >= sizeof(name) || !topo_name_ok(name))
            rc = errcode(err, SCHED_EINVAL,
                         "topology level \"%.*s\" is not a name (letters, digits, _ and -, at "
                         "most %u bytes)",
                         (int)(n > 80 ? 80 : n), p, SCHED_MAX_TOPOLOGY_NAME - 1);
        else if (level_in(t, name) >= 0)
            rc = errcode(err, SCHED_EINVAL, "topology level %s is named twice", name);
        else if (t->nlevels == SCHED_MAX_TOPOLOGY_LEVELS)
            rc = errcode(err, SCHED_EINVAL, "more than %u topology levels",
                         SCHED_MAX_TOPOLOGY_LEVELS);
        if (rc < 0) {
            topo_fini(t);
            return rc;
        }
        topo_level_t *lv = &t->levels[t->nlevels++];
        lv->name = xstrdup(name);
        lv->keylen = strlen("topology.") + n + 1;
        lv->key = malloc(lv->keylen + 1);
        if (!lv->name || !lv->key) {
            topo_fini(t);
            return errcode(err, SCHED_ENOMEM, "out of memory");
        }
        snprintf(lv->key, lv->keylen + 1, "topology.%s=", name);
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

bool sched_topology_level_name_ok(const char *name)
{
    return topo_name_ok(name);
}

int sched_topology_level(const sched_t *s, const char *name)
{
    return level_in(&s->topo, name);
}

int sched_topology_levels_check(const char *levels, cairn_error_t *err)
{
    topo_t t;
    int rc = topo_init(&t, levels, err);
    topo_fini(&t);
    return rc;
}

/* The id of value v at level lv, added (with its rank) when new. */
static int level_domain(topo_level_t *lv, const char *v, uint32_t *out)
{
    for (uint32_t d = 0; d < lv->nvals; d++)
        if (!strcmp(lv->vals[d], v)) {
            *out = d;
            return 0;
        }
    if (CAIRN_GROW(lv->vals, lv->vals_cap, lv->nvals + 1) < 0 ||
        CAIRN_GROW(lv->rank, lv->rank_cap, lv->nvals + 1) < 0)
        return SCHED_ENOMEM;
    char *copy = xstrdup(v);
    if (!copy)
        return SCHED_ENOMEM;
    uint32_t r = 0, d = lv->nvals;
    for (uint32_t k = 0; k < d; k++)
        r += strcmp(lv->vals[k], v) < 0;
    for (uint32_t k = 0; k < d; k++)
        lv->rank[k] += lv->rank[k] >= r;
    lv->vals[d] = copy;
    lv->rank[d] = r;
    lv->nvals++;
    *out = d;
    return 0;
}

int topo_node_update(sched_t *s, uint32_t node)
{
    topo_t *t = &s->topo;
    if (!t->nlevels)
        return 0;
    if (CAIRN_GROW(t->node_dom, t->node_dom_cap, s->nnodes * t->nlevels) < 0)
        return SCHED_ENOMEM;
    const sched_node_t *n = &s->nodes[node];
    for (uint32_t l = 0; l < t->nlevels; l++) {
        topo_level_t *lv = &t->levels[l];
        uint32_t d = TOPO_NONE;
        for (uint32_t i = 0; i < n->nlabels; i++)
            if (!strncmp(n->labels[i], lv->key, lv->keylen) && n->labels[i][lv->keylen]) {
                if (level_domain(lv, n->labels[i] + lv->keylen, &d) < 0)
                    return SCHED_ENOMEM;
                break;
            }
        t->node_dom[(size_t)node * t->nlevels + l] = d;
    }
    size_t need = 1;
    for (uint32_t l = 0; l < t->nlevels; l++)
        need = t->levels[l].nvals > need ? t->levels[l].nvals : need;
    if (need <= t->scratch_cap)
        return 0;
    need *= 2;
    uint32_t *cnt = realloc(t->cnt, need * sizeof(uint32_t));
    if (cnt)
        t->cnt = cnt;
    uint64_t *g = cnt ? realloc(t->sumg, need * sizeof(uint64_t)) : NULL;
    if (g)
        t->sumg = g;
    uint64_t *c = g ? realloc(t->sumc, need * sizeof(uint64_t)) : NULL;
    if (c) {
        t->sumc = c;
        t->scratch_cap = need;
    }
    return c ? 0 : SCHED_ENOMEM;
}

static uint32_t rank_of(const topo_t *t, uint32_t node, uint32_t l)
{
    uint32_t d = topo_dom(t, node, l);
    return d == TOPO_NONE ? UINT32_MAX : t->levels[l].rank[d];
}

/* Node a before b: by domain at each level below upto, outermost first,
 * then by id. */
static bool node_before(const topo_t *t, uint32_t a, uint32_t b, uint32_t upto)
{
    for (uint32_t l = upto; l-- > 0;) {
        uint32_t ra = rank_of(t, a, l), rb = rank_of(t, b, l);
        if (ra != rb)
            return ra < rb;
    }
    return a < b;
}

/* Insertion sort: a gang's nodes are few, and mostly in order already. */
static void sort_nodes(const topo_t *t, uint32_t *v, uint32_t n, uint32_t upto)
{
    for (uint32_t i = 1; i < n; i++) {
        uint32_t x = v[i], j = i;
        for (; j > 0 && node_before(t, x, v[j - 1], upto); j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

void topo_order_allocs(const sched_t *s, sched_alloc_desc_t *allocs, uint32_t n)
{
    const topo_t *t = &s->topo;
    if (!t->nlevels)
        return;
    for (uint32_t i = 1; i < n; i++) {
        sched_alloc_desc_t x = allocs[i];
        uint32_t j = i;
        for (; j > 0 && node_before(t, x.node, allocs[j - 1].node, t->nlevels); j--)
            allocs[j] = allocs[j - 1];
        allocs[j] = x;
    }
}

int topo_common_level(const sched_t *s, const sched_alloc_desc_t *allocs, uint32_t n, uint32_t *dom)
{
    const topo_t *t = &s->topo;
    for (uint32_t l = 0; n && l < t->nlevels; l++) {
        uint32_t d = topo_dom(t, allocs[0].node, l);
        bool same = d != TOPO_NONE;
        for (uint32_t i = 1; same && i < n; i++)
            same = topo_dom(t, allocs[i].node, l) == d;
        if (same) {
            *dom = d;
            return (int)l;
        }
    }
    return -1;
}

typedef struct cand_arg {
    const sched_t *s;
    const task_class_t *c;
    int64_t now_ms;
    uint32_t *cand, n;
} cand_arg_t;

static bool cand_add(uint32_t id, void *arg)
{
    cand_arg_t *a = arg;
    if (place_resv_allows(a->s, id, a->c->time_limit_ms, a->now_ms) &&
        fit_node(&a->s->nodes[id], a->c) == FIT_OK)
        a->cand[a->n++] = id;
    return false; /* all of them */
}

uint32_t topo_candidates(const sched_t *s, const task_class_t *c, int64_t now_ms, uint32_t *cand)
{
    cand_arg_t a = {.s = s, .c = c, .now_ms = now_ms, .cand = cand};
    index_walk(&s->index, c->gpus, c->cpus, cand_add, &a);
    return a.n;
}

void topo_choose(sched_t *s, const task_class_t *c, const uint32_t *cand, uint32_t nc,
                 topo_pick_t *pick)
{
    topo_t *t = &s->topo;
    pick->level = -1;
    if (c->place_ix < 0 || (uint32_t)c->place_ix >= t->nlevels)
        return;
    uint32_t nr = c->replicas;
    for (uint32_t l = 0; nc >= nr && l <= (uint32_t)c->place_ix; l++) {
        const topo_level_t *lv = &t->levels[l];
        memset(t->cnt, 0, lv->nvals * sizeof(uint32_t));
        memset(t->sumg, 0, lv->nvals * sizeof(uint64_t));
        memset(t->sumc, 0, lv->nvals * sizeof(uint64_t));
        for (uint32_t i = 0; i < nc; i++) {
            uint32_t d = topo_dom(t, cand[i], l);
            if (d == TOPO_NONE)
                continue;
            t->cnt[d]++;
            t->sumg[d] += s->nodes[cand[i]].free_gpus;
            t->sumc[d] += s->nodes[cand[i]].free_cores;
        }
        uint32_t best = TOPO_NONE;
        for (uint32_t d = 0; d < lv->nvals; d++) {
            if (t->cnt[d] < nr)
                continue;
            if (best == TOPO_NONE || t->sumg[d] < t->sumg[best] ||
                (t->sumg[d] == t->sumg[best] &&
                 (t->sumc[d] < t->sumc[best] ||
                  (t->sumc[d] == t->sumc[best] && lv->rank[d] < lv->rank[best]))))
                best = d;
        }
        if (best == TOPO_NONE)
            continue;
        pick->level = (int)l;
        pick->dom = best;
        pick->sumg = t->sumg[best];
        pick->sumc = t->sumc[best];
        uint32_t got = 0;
        for (uint32_t i = 0; i < nc && got < nr; i++)
            if (topo_dom(t, cand[i], l) == best)
                pick->nodes[got++] = cand[i];
        sort_nodes(t, pick->nodes, nr, l);
        break;
    }
}

bool topo_pick_better(const sched_t *s, const topo_pick_t *pick, const topo_pick_t *best)
{
    if (pick->level < 0)
        return false;
    if (best->level < 0 || pick->level != best->level)
        return best->level < 0 || pick->level < best->level;
    if (pick->sumg != best->sumg)
        return pick->sumg < best->sumg;
    if (pick->sumc != best->sumc)
        return pick->sumc < best->sumc;
    const topo_level_t *lv = &s->topo.levels[pick->level];
    return lv->rank[pick->dom] < lv->rank[best->dom];
}
