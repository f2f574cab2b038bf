/* Metrics of a simulation's (or a recorded trace's) spans: makespan, waits
 * per shape, GPU utilisation and fragmentation per model and node. */
#include <stdlib.h>
#include <string.h>

#include "scheduling/sched_private.h"
#include "scheduling/sim.h"
#include "scheduling/sim_private.h"

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v. */
static int64_t pct(const int64_t *v, size_t n, unsigned p)
{
    if (!n)
        return 0;
    size_t k = (n * p + 99) / 100;
    return v[k ? k - 1 : 0];
}

typedef struct sweep_ev {
    int64_t t;
    uint32_t span; /* kind 4: the change's index (changes at one time keep their order) */
    /* 0 ready, 1 waits no more, 2 holds its GPUs (the same time), 3 end;
     * 4 its node comes (there: 1) or goes (0) */
    uint8_t kind, there;
} sweep_ev_t;

static int cmp_sweep(const void *a, const void *b)
{
    const sweep_ev_t *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if (x->span != y->span)
        return x->span < y->span ? -1 : 1;
    return x->kind - y->kind;
}

static bool waits_gpu(const sched_sim_span_t *sp)
{
    return sp->rank == 0 && sp->gpu_mask && sp->ready_ms < sp->alloc_ms;
}

/* Free GPUs of node i change by sign x each (settling the idle time of
 * the old count first: w is the waited time so far). */
static void free_add(const sim_cluster_t *cl, uint32_t ni, uint64_t mask, int64_t sign, int64_t w,
                     int64_t *free_m, int64_t *free_n, int64_t *w_m, int64_t *w_n, int64_t *idle_m,
                     int64_t *idle_n)
{
    for (uint64_t m = mask; m; m &= m - 1) {
        uint32_t g = (uint32_t)__builtin_ctzll(m);
        if (g >= cl->ngpus[ni])
            continue;
        uint32_t mi = cl->gpu_model[ni][g];
        idle_m[mi] += free_m[mi] * (w - w_m[mi]);
        w_m[mi] = w;
        idle_n[ni] += free_n[ni] * (w - w_n[ni]);
        w_n[ni] = w;
        free_m[mi] += sign;
        free_n[ni] += sign;
    }
}

/* Allocated and idle-while-waiting GPU-milliseconds per model and node;
 * a node's free GPUs count only while it is there. */
static int sweep(const sched_sim_t *sim, const sched_sim_span_t *spans, size_t n, int64_t *alloc_m,
                 int64_t *idle_m, int64_t *alloc_n, int64_t *idle_n)
{
    const sim_cluster_t *cl = sim_cluster(sim);
    sweep_ev_t *ev = malloc((4 * n + cl->nchanges + 1) * sizeof(*ev));
    int64_t *free_m = calloc(cl->nmodels + 1, sizeof(int64_t));
    int64_t *free_n = calloc((size_t)cl->nnodes + 1, sizeof(int64_t));
    int64_t *w_m = calloc(cl->nmodels + 1, sizeof(int64_t));
    int64_t *w_n = calloc((size_t)cl->nnodes + 1, sizeof(int64_t));
    int rc = SCHED_ENOMEM;
    if (!ev || !free_m || !free_n || !w_m || !w_n)
        goto error;
    for (uint32_t i = 0; i < cl->nnodes; i++) {
        free_n[i] = cl->ngpus[i];
        for (uint32_t g = 0; g < cl->ngpus[i]; g++)
            free_m[cl->gpu_model[i][g]]++;
    }
    size_t ne = 0;
    for (size_t i = 0; i < cl->nchanges; i++)
        ev[ne++] =
            (sweep_ev_t){cl->changes[i].t, (uint32_t)i, 4, sim_change_there(&cl->changes[i])};
    for (size_t i = 0; i < n; i++) {
        const sched_sim_span_t *sp = &spans[i];
        if (sp->node >= cl->nnodes)
            continue;
        if (waits_gpu(sp)) {
            ev[ne++] = (sweep_ev_t){sp->ready_ms, (uint32_t)i, 0, 0};
            ev[ne++] = (sweep_ev_t){sp->alloc_ms, (uint32_t)i, 1, 0};
        }
        if (sp->alloc_ms < sp->end_ms) { /* a queued attempt may never hold anything */
            ev[ne++] = (sweep_ev_t){sp->alloc_ms, (uint32_t)i, 2, 0};
            ev[ne++] = (sweep_ev_t){sp->end_ms, (uint32_t)i, 3, 0};
        }
    }
    qsort(ev, ne, sizeof(*ev), cmp_sweep);
    /* w: time so far during which some GPU task waited; a model's or node's
     * idle GPU-time is settled lazily, when its free count changes */
    int64_t waiting = 0, prev = ne ? ev[0].t : 0, w = 0;
    bool *there = malloc(((size_t)cl->nnodes + 1) * sizeof(bool));
    if (!there)
        goto error;
    for (uint32_t i = 0; i < cl->nnodes; i++)
        there[i] = true; /* until a change says otherwise */
    for (size_t e = 0; e < ne; e++) {
        if (ev[e].t > prev && waiting > 0)
            w += ev[e].t - prev;
        prev = ev[e].t;
        if (ev[e].kind == 4) { /* all its GPUs come or go; its attempts end apart */
            uint32_t ni = cl->changes[ev[e].span].node;
            if (there[ni] == (bool)ev[e].there)
                continue;
            there[ni] = ev[e].there;
            uint64_t all = cl->ngpus[ni] >= 64 ? ~0ull : ((uint64_t)1 << cl->ngpus[ni]) - 1;
            free_add(cl, ni, all, ev[e].there ? 1 : -1, w, free_m, free_n, w_m, w_n, idle_m,
                     idle_n);
            continue;
        }
        const sched_sim_span_t *sp = &spans[ev[e].span];
        if (ev[e].kind <= 1) {
            waiting += ev[e].kind == 0 ? 1 : -1;
            continue;
        }
        int64_t sign = ev[e].kind == 2 ? -1 : 1;
        free_add(cl, sp->node, sp->gpu_mask, sign, w, free_m, free_n, w_m, w_n, idle_m, idle_n);
        for (uint64_t m = sign < 0 ? sp->gpu_mask : 0; m; m &= m - 1) {
            uint32_t g = (uint32_t)__builtin_ctzll(m);
            if (g >= cl->ngpus[sp->node])
                continue;
            int64_t d = sp->end_ms - sp->alloc_ms;
            alloc_m[cl->gpu_model[sp->node][g]] += d;
            alloc_n[sp->node] += d;
        }
    }
    free(there);
    for (size_t m = 0; m < cl->nmodels; m++)
        idle_m[m] += free_m[m] * (w - w_m[m]);
    for (uint32_t i = 0; i < cl->nnodes; i++)
        idle_n[i] += free_n[i] * (w - w_n[i]);
    rc = 0;
error:
    free(ev);
    free(free_m);
    free(free_n);
    free(w_m);
    free(w_n);
    return rc;
}

static int waits_by_shape(const sched_sim_t *sim, const sched_sim_span_t *spans, size_t n,
                          sched_sim_report_t *out)
{
    size_t nshapes = sim_shape_count(sim);
    int64_t *all = malloc((n + 1) * sizeof(int64_t));
    uint32_t *shape_of = malloc((n + 1) * sizeof(uint32_t));
    out->waits = calloc(nshapes + 1, sizeof(*out->waits));
    if (!all || !shape_of || !out->waits) {
        free(all);
        free(shape_of);
        return SCHED_ENOMEM;
    }
    /* by shape name, then every attempt together */
    uint32_t *order = malloc((nshapes + 1) * sizeof(uint32_t));
    int64_t *w = malloc((n + 1) * sizeof(int64_t));
    if (!order || !w) {
        free(all);
        free(shape_of);
        free(order);
        free(w);
        return SCHED_ENOMEM;
    }
    for (size_t i = 0; i < nshapes; i++) {
        uint32_t v = (uint32_t)i;
        size_t k = i;
        while (k > 0 &&
               strcmp(sched_sim_shape_name(sim, order[k - 1]), sched_sim_shape_name(sim, v)) > 0) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = v;
    }
    size_t na = 0;
    for (size_t i = 0; i < n; i++)
        if (spans[i].rank == 0) {
            shape_of[na] = spans[i].shape;
            all[na++] = spans[i].alloc_ms - spans[i].ready_ms;
        }
    for (size_t s = 0; s < nshapes; s++) {
        size_t nw = 0;
        for (size_t i = 0; i < na; i++)
            if (shape_of[i] == order[s])
                w[nw++] = all[i];
        if (!nw)
            continue;
        qsort(w, nw, sizeof(int64_t), cmp_i64);
        out->waits[out->nwaits++] = (sched_sim_wait_t){.shape = order[s],
                                                       .count = nw,
                                                       .p50_ms = pct(w, nw, 50),
                                                       .p95_ms = pct(w, nw, 95),
                                                       .max_ms = w[nw - 1]};
    }
    qsort(all, na, sizeof(int64_t), cmp_i64);
    out->attempts = na;
    out->wait_p50_ms = pct(all, na, 50);
    out->wait_p95_ms = pct(all, na, 95);
    free(all);
    free(shape_of);
    free(order);
    free(w);
    return 0;
}

/* cap_ms: GPU-milliseconds there in the window */
static sched_sim_use_t use_of(const char *name, uint32_t gpus, int64_t cap_ms, int64_t alloc,
                              int64_t idle)
{
    return (sched_sim_use_t){.name = name,
                             .gpus = gpus,
                             .capacity_gpu_s = (double)cap_ms / 1000.0,
                             .alloc_gpu_s = (double)alloc / 1000.0,
                             .idle_waiting_gpu_s = (double)idle / 1000.0};
}

static int uses(const sched_sim_t *sim, const sched_sim_span_t *spans, size_t n,
                sched_sim_report_t *out)
{
    const sim_cluster_t *cl = sim_cluster(sim);
    size_t nm = cl->nmodels, nn = cl->nnodes;
    int64_t *acc = calloc(2 * (nm + nn) + nm + 1, sizeof(int64_t));
    uint32_t *gm = calloc(nm + 1, sizeof(uint32_t));
    uint32_t *order = calloc(nm + 1, sizeof(uint32_t));
    out->models = calloc(nm + 1, sizeof(*out->models));
    out->nodes = calloc(nn + 1, sizeof(*out->nodes));
    int64_t *there = malloc((nn + 1) * sizeof(int64_t)); /* ms each node was there */
    int rc = SCHED_ENOMEM;
    if (!acc || !gm || !order || !out->models || !out->nodes || !there)
        goto error;
    int64_t *alloc_m = acc, *idle_m = acc + nm, *alloc_n = acc + 2 * nm, *idle_n = alloc_n + nn;
    int64_t *cap_m = idle_n + nn;
    if ((rc = sweep(sim, spans, n, alloc_m, idle_m, alloc_n, idle_n)) < 0)
        goto error;
    int64_t ta = 0, ti = 0, tc = 0;
    uint32_t tg = 0;
    if ((rc = sim_nodes_there_ms(cl, out->start_ms, out->end_ms, there)) < 0)
        goto error;
    for (uint32_t i = 0; i < nn; i++) {
        for (uint32_t g = 0; g < cl->ngpus[i]; g++) {
            gm[cl->gpu_model[i][g]]++;
            cap_m[cl->gpu_model[i][g]] += there[i];
        }
    }
    for (size_t i = 0; i < nm; i++) {
        size_t k = i;
        while (k > 0 && strcmp(cl->models[order[k - 1]], cl->models[i]) > 0) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = (uint32_t)i;
    }
    for (size_t i = 0; i < nm; i++) {
        uint32_t m = order[i];
        out->models[out->nmodels++] = use_of(cl->models[m], gm[m], cap_m[m], alloc_m[m], idle_m[m]);
        ta += alloc_m[m];
        ti += idle_m[m];
        tg += gm[m];
        tc += cap_m[m];
    }
    for (uint32_t i = 0; i < nn; i++)
        if (cl->ngpus[i])
            out->nodes[out->nnodes++] =
                use_of(sched_sim_node_name(sim, i), cl->ngpus[i], (int64_t)cl->ngpus[i] * there[i],
                       alloc_n[i], idle_n[i]);
    out->total = use_of("all", tg, tc, ta, ti);
    rc = 0;
error:
    free(there);
    free(acc);
    free(gm);
    free(order);
    return rc;
}

int sched_sim_measure(const sched_sim_t *sim, const sched_sim_span_t *spans, size_t n,
                      sched_sim_report_t *out)
{
    memset(out, 0, sizeof(*out));
    int64_t start = INT64_MAX, end = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        if (spans[i].submit_ms < start)
            start = spans[i].submit_ms;
        if (spans[i].end_ms > end)
            end = spans[i].end_ms;
    }
    if (!n)
        start = end = 0;
    out->start_ms = start;
    out->end_ms = end;
    out->makespan_ms = end - start;
    if (waits_by_shape(sim, spans, n, out) < 0 || uses(sim, spans, n, out) < 0) {
        sched_sim_report_fini(out);
        return SCHED_ENOMEM;
    }
    return 0;
}

void sched_sim_report_fini(sched_sim_report_t *r)
{
    if (!r)
        return;
    free(r->waits);
    free(r->models);
    free(r->nodes);
    memset(r, 0, sizeof(*r));
}
