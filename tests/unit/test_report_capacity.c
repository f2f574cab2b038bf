/* cairn report counts each node's capacity only while it was there, by
 * the scheduler's node timeline (UsageReply.node_events): a node that
 * joins halfway through the window, one that is lost and comes back, one
 * removed, and one removed before the window. Every expected figure is
 * worked out here from the intervals the timeline describes. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/presence.h"
#include "cluster/report.h"

#define HOUR 3600000LL
#define FROM 1700000000000LL
#define TO (FROM + HOUR)

static Cairn__NodeEvent ev_store[16];
static Cairn__NodeEvent *evs[16];
static size_t nev;

static void event(const char *node, int64_t t, const char *what, Cairn__NodeState st)
{
    Cairn__NodeEvent *e = &ev_store[nev];
    cairn__node_event__init(e);
    e->node = (char *)node;
    e->time_ms = t;
    e->event = (char *)what;
    e->state = st;
    e->detail = "";
    evs[nev] = e;
    nev++;
}

static Cairn__NodeGpu gpu_store[16];
static Cairn__NodeGpu *gpu_ptr[16];
static size_t ngpu;
static Cairn__NodeInfo node_store[8];
static Cairn__NodeInfo *node_ptr[8];
static size_t nnode;

static void node(const char *name, uint32_t cores, uint32_t gpus, const char *model,
                 Cairn__NodeState st)
{
    Cairn__NodeInfo *n = &node_store[nnode];
    cairn__node_info__init(n);
    n->name = (char *)name;
    n->state = st;
    n->cores_total = cores;
    n->gpus = &gpu_ptr[ngpu];
    n->n_gpus = gpus;
    for (uint32_t g = 0; g < gpus; g++) {
        Cairn__NodeGpu *x = &gpu_store[ngpu];
        cairn__node_gpu__init(x);
        x->index = g;
        x->model = (char *)model;
        gpu_ptr[ngpu++] = x;
    }
    node_ptr[nnode++] = n;
}

#define UP CAIRN__NODE_STATE__NODE_STATE_UP
#define DOWN CAIRN__NODE_STATE__NODE_STATE_DOWN
#define REMOVED CAIRN__NODE_STATE__NODE_STATE_REMOVED
#define DRAINING CAIRN__NODE_STATE__NODE_STATE_DRAINING

static Cairn__UsageReply usage;
static Cairn__NodesReply nodes;
static Cairn__AccountingReply acct;
static Cairn__AccountingRecord rec;
static Cairn__AccountingRecord *recs[1];
static Cairn__GpuProvenance prov[2];
static Cairn__GpuProvenance *provs[2];

/* The cluster over one hour [FROM, TO):
 *   a  8 cores, 2 M1: joined 10 h before the window, there all of it
 *   b 16 cores, 4 M1: joins at FROM + 30 min
 *   c  4 cores, 1 M2: there (known) before; lost at +15 min, back at
 *      +30 min, drained at +40 min (still there), removed at +45 min
 *   d  2 cores, 1 M2: removed before the window: left out
 * and one attempt on b with 2 GPUs and 4 cores from +30 min to the end. */
static void cluster(void)
{
    nev = ngpu = nnode = 0;
    int64_t m = 60000;
    /* as UsageReply gives them: each node's newest row before the window,
     * then the window's, in order */
    event("a", FROM - 10 * HOUR, "joined", UP);
    event("c", FROM - 5 * HOUR, "known", UP);
    event("d", FROM - 2 * HOUR, "removed", REMOVED);
    event("c", FROM + 15 * m, "lost", DOWN);
    event("b", FROM + 30 * m, "joined", UP);
    event("c", FROM + 30 * m, "back", UP);
    event("c", FROM + 40 * m, "drained", DRAINING);
    event("c", FROM + 45 * m, "removed", REMOVED);
    cairn__usage_reply__init(&usage);
    usage.node_events = evs;
    usage.n_node_events = nev;
    node("a", 8, 2, "M1", UP);
    node("b", 16, 4, "M1", UP);
    node("c", 4, 1, "M2", REMOVED);
    node("d", 2, 1, "M2", REMOVED);
    cairn__nodes_reply__init(&nodes);
    nodes.nodes = node_ptr;
    nodes.n_nodes = nnode;
    cairn__accounting_record__init(&rec);
    rec.node = "b";
    rec.start_time_ms = FROM + 30 * m;
    rec.end_time_ms = TO;
    rec.n_cores = 4;
    rec.cores = (uint32_t[]){0, 1, 2, 3};
    for (int g = 0; g < 2; g++) {
        cairn__gpu_provenance__init(&prov[g]);
        prov[g].index = (uint32_t)g;
        prov[g].model = "M1";
        provs[g] = &prov[g];
    }
    rec.gpu_ids = provs;
    rec.n_gpu_ids = 2;
    rec.gpu_seconds_used = -1;
    recs[0] = &rec;
    cairn__accounting_reply__init(&acct);
    acct.records = recs;
    acct.n_records = 1;
}

static const report_util_t *row(const report_util_t *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].name, name))
            return &v[i];
    return NULL;
}

#define NEAR(a, b)                                                                                 \
    cr_expect(fabs((a) - (b)) < 1e-6, "%s = %f, not %f", #a, (double)(a), (double)(b))

Test(report, capacity_counts_each_node_only_while_it_was_there)
{
    cluster();
    report_input_t in = {.from_ms = FROM,
                         .to_ms = TO,
                         .acct = &acct,
                         .usage = &usage,
                         .nodes = &nodes,
                         .by = REPORT_BY_USER};
    report_t r = {0};
    cr_assert_eq(report_compute(&in, &r), 0);
    /* seconds there: a the hour, b the second half, c 0-15 and 30-45 min */
    double a_s = 3600, b_s = 1800, c_s = 15 * 60 + 15 * 60;
    const report_util_t *a = row(r.nodes, r.nnodes, "a"), *b = row(r.nodes, r.nnodes, "b"),
                        *c = row(r.nodes, r.nnodes, "c");
    cr_assert(a && b && c);
    cr_expect_null(row(r.nodes, r.nnodes, "d"), "removed before the window: not a row");
    NEAR(a->present, a_s);
    NEAR(b->present, b_s);
    NEAR(c->present, c_s);
    NEAR(a->core_capacity, 8 * a_s);
    NEAR(b->core_capacity, 16 * b_s);
    NEAR(c->core_capacity, 4 * c_s);
    NEAR(b->gpu_capacity, 4 * b_s);
    /* the attempt: 2 GPUs and 4 cores over b's half hour */
    NEAR(b->gpu_allocated, 2 * 1800.0);
    NEAR(b->gpu_allocated / b->gpu_capacity, 0.5);
    NEAR(b->core_allocated / b->core_capacity, 4.0 * 1800 / (16 * 1800));
    const report_util_t *m1 = row(r.models, r.nmodels, "M1"), *m2 = row(r.models, r.nmodels, "M2");
    cr_assert(m1 && m2);
    cr_expect_eq(m1->gpus, 6);
    cr_expect_eq(m2->gpus, 1, "d was not there: its GPU is not counted");
    NEAR(m1->gpu_capacity, 2 * a_s + 4 * b_s);
    NEAR(m2->gpu_capacity, 1 * c_s);
    /* utilisation: used over what was there (today's nodes over the whole
     * window would say 3600 / 21600) */
    NEAR(m1->gpu_allocated / m1->gpu_capacity, 3600.0 / (2 * 3600 + 4 * 1800));
    report_fini(&r);
}

/* A scheduler that kept no timeline (no events at all): every listed node
 * counts the whole window, as before the timeline. */
Test(report, without_a_timeline_every_node_counts_the_whole_window)
{
    cluster();
    usage.n_node_events = 0;
    report_input_t in = {
        .from_ms = FROM, .to_ms = TO, .acct = &acct, .usage = &usage, .nodes = &nodes};
    report_t r = {0};
    cr_assert_eq(report_compute(&in, &r), 0);
    const report_util_t *m1 = row(r.models, r.nmodels, "M1");
    cr_assert(m1);
    NEAR(m1->gpu_capacity, 6 * 3600.0);
    report_fini(&r);
}

/* presence_spans gives the intervals themselves, in time order. */
static void collect(int64_t a, int64_t b, void *arg)
{
    int64_t *v = arg;
    size_t k = (size_t)v[0];
    v[1 + 2 * k] = a;
    v[2 + 2 * k] = b;
    v[0]++;
}

Test(report, presence_spans_are_the_intervals_there)
{
    cluster();
    int64_t v[16] = {0};
    presence_t *p = presence_create((const Cairn__NodeEvent *const *)evs, nev);
    cr_assert_not_null(p);
    cr_expect(presence_knows(p, "a") && presence_knows(p, "d") && !presence_knows(p, "e"));
    double s = presence_spans(p, "c", FROM, TO, collect, v);
    cr_expect_eq(v[0], 2);
    cr_expect(v[1] == FROM && v[2] == FROM + 15 * 60000, "[%lld, %lld)", (long long)v[1],
              (long long)v[2]);
    cr_expect(v[3] == FROM + 30 * 60000 && v[4] == FROM + 45 * 60000, "[%lld, %lld)",
              (long long)v[3], (long long)v[4]);
    NEAR(s, 1800.0);
    memset(v, 0, sizeof(v));
    s = presence_spans(p, "b", FROM, TO, collect, v);
    cr_expect(v[0] == 1 && v[1] == FROM + 30 * 60000 && v[2] == TO);
    NEAR(s, 1800.0);
    /* d: removed before the window, never there in it */
    memset(v, 0, sizeof(v));
    NEAR(presence_spans(p, "d", FROM, TO, collect, v), 0.0);
    cr_expect_eq(v[0], 0);
    presence_destroy(p);
}

/* Parse the points of the polyline id="capacity" into x[], y[]. */
static size_t capacity_points(const char *svg, double *x, double *y, size_t max)
{
    const char *p = strstr(svg, "id=\"capacity\"");
    cr_assert_not_null(p, "no capacity line");
    p = strstr(p, "points=\"");
    cr_assert_not_null(p);
    p += strlen("points=\"");
    size_t n = 0;
    while (*p && *p != '"' && n < max) {
        char *end;
        x[n] = strtod(p, &end);
        cr_assert_eq(*end, ',', "bad point at %.20s", p);
        y[n] = strtod(end + 1, &end);
        n++;
        p = end;
        while (*p == ' ')
            p++;
    }
    return n;
}

/* The chart's capacity is a step line: 2 GPUs (a) and 1 (c) at the
 * start, c lost at 15 min, back at 30 min with b's 4 joining, c removed
 * at 45 min; each step at its time, at the GPUs there. */
Test(report, the_chart_draws_capacity_as_steps_at_the_known_times)
{
    cluster();
    report_input_t in = {
        .from_ms = FROM, .to_ms = TO, .acct = &acct, .usage = &usage, .nodes = &nodes};
    report_t r = {0};
    cr_assert_eq(report_compute(&in, &r), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    cr_assert_eq(report_print_svg(f, &in, &r), 0);
    fclose(f);
    double x[32], y[32];
    size_t n = capacity_points(buf, x, y, 32);
    /* the chart's geometry (report_svg.c): plot from x 70 to 960 - 230,
     * y from 40 (top) to 420 - 50; the axis reaches 1.1 x the most GPUs
     * there at once (2 + 4 + 1 = 7, the allocation stays below) */
    double left = 70, pw = 960 - 70 - 230, top = 40, ph = 420 - 40 - 50, ymax = 7 * 1.1;
    struct {
        double t_min, gpus;
    } want[] = {{0, 3}, {15, 3}, {15, 2}, {30, 2}, {30, 7}, {45, 7}, {45, 6}, {60, 6}};
    size_t nw = sizeof(want) / sizeof(want[0]);
    cr_assert_eq(n, nw, "%zu points: %s", n, buf);
    for (size_t i = 0; i < nw; i++) {
        double wx = left + pw * want[i].t_min / 60, wy = top + ph - want[i].gpus / ymax * ph;
        cr_expect(fabs(x[i] - wx) <= 0.05 + 1e-9 && fabs(y[i] - wy) <= 0.05 + 1e-9,
                  "point %zu: (%.1f, %.1f), not (%.2f, %.2f): %g GPUs at %g min", i, x[i], y[i], wx,
                  wy, want[i].gpus, want[i].t_min);
    }
    cr_expect(strstr(buf, "capacity (at most 7 GPUs)"), "the legend");
    free(buf);
    report_fini(&r);
}
