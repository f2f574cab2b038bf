/* cairn report by account: GPU- and core-seconds, attempts and queue waits
 * per account (--by account), only one account's records (--account A),
 * and the census's tasks waiting on an account limit counted as their own
 * reason, never as fragmentation. Every expected figure is worked out here
 * from the records and samples built below. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/report.h"

#define MIN 60000LL
#define FROM 1700000000000LL
#define TO (FROM + 60 * MIN)

#define NEAR(a, b)                                                                                 \
    cr_expect(fabs((a) - (b)) < 1e-6, "%s = %f, not %f", #a, (double)(a), (double)(b))

static Cairn__GpuProvenance gp[32];
static Cairn__GpuProvenance *gpp[32];
static size_t ngp;
static Cairn__AccountingRecord rs[16];
static Cairn__AccountingRecord *rp[16];
static Cairn__AccountingReply acct;
static Cairn__NodeGpu ng[8];
static Cairn__NodeGpu *ngpp[8];
static Cairn__NodeInfo node;
static Cairn__NodeInfo *nodep = &node;
static Cairn__NodesReply nodes;

/* One 8-GPU node "n" (64 cores, model M1), there the whole window (no
 * timeline: every listed node counts the whole window). */
static void one_node(void)
{
    cairn__node_info__init(&node);
    node.name = "n";
    node.cores_total = 64;
    for (uint32_t g = 0; g < 8; g++) {
        cairn__node_gpu__init(&ng[g]);
        ng[g].index = g;
        ng[g].model = "M1";
        ngpp[g] = &ng[g];
    }
    node.gpus = ngpp;
    node.n_gpus = 8;
    cairn__nodes_reply__init(&nodes);
    nodes.nodes = &nodep;
    nodes.n_nodes = 1;
    cairn__accounting_reply__init(&acct);
    acct.records = rp;
    ngp = 0;
}

/* A first replica's record on n: ready at +ready min, started at +start,
 * ended at +end (0: runs on), with gpus GPUs and cores cores. */
static void rec(const char *account, const char *user, int64_t ready, int64_t start, int64_t end,
                uint32_t gpus, uint32_t cores, double gpu_used)
{
    Cairn__AccountingRecord *r = &rs[acct.n_records];
    cairn__accounting_record__init(r);
    r->job_id = acct.n_records + 1;
    r->attempt_id = acct.n_records + 1;
    r->account = (char *)account;
    r->user = (char *)user;
    r->node = "n";
    r->shape = gpus ? "1c 1g" : "1c";
    r->ready_time_ms = FROM + ready * MIN;
    r->placed_time_ms = FROM + start * MIN;
    r->start_time_ms = FROM + start * MIN;
    r->end_time_ms = end ? FROM + end * MIN : 0;
    r->n_cores = cores;
    r->gpu_ids = &gpp[ngp];
    for (uint32_t g = 0; g < gpus; g++) {
        cairn__gpu_provenance__init(&gp[ngp]);
        gp[ngp].index = g;
        gp[ngp].model = "M1";
        gpp[ngp] = &gp[ngp];
        ngp++;
    }
    r->n_gpu_ids = gpus;
    r->gpu_seconds_used = gpu_used;
    rp[acct.n_records++] = r;
}

/* vision: 3 attempts, nlp: 2; the waits (ready -> started) are 1, 2 and
 * 10 min for vision, 4 and 6 for nlp. */
static void two_accounts(void)
{
    one_node();
    rec("vision", "alice", 0, 1, 31, 2, 4, 1800);  /* 30 min, 2 GPUs, 4 cores */
    rec("nlp", "bob", 0, 4, 14, 1, 2, -1);         /* 10 min, 1 GPU, 2 cores */
    rec("vision", "bob", 10, 12, 22, 1, 8, 300);   /* 10 min, 1 GPU, 8 cores */
    rec("nlp", "alice", 20, 26, 0, 0, 16, -1);     /* runs on: 34 min, 16 cores */
    rec("vision", "alice", 40, 50, 55, 4, 1, 600); /* 5 min, 4 GPUs, 1 core */
}

static const report_group_t *group(const report_t *r, const char *key)
{
    for (size_t i = 0; i < r->ngroups; i++)
        if (!strcmp(r->groups[i].key, key))
            return &r->groups[i];
    return NULL;
}

Test(report_accounts, by_account_sums_each_accounts_records)
{
    two_accounts();
    report_input_t in = {
        .from_ms = FROM, .to_ms = TO, .acct = &acct, .nodes = &nodes, .by = REPORT_BY_ACCOUNT};
    report_t r = {0};
    cr_assert_eq(report_compute(&in, &r), 0);
    cr_assert_eq(r.ngroups, 2);
    const report_group_t *v = group(&r, "vision"), *n = group(&r, "nlp");
    cr_assert(v && n);
    /* GPU-seconds: vision 2 x 30 + 1 x 10 + 4 x 5 = 90 GPU-min; nlp 10 */
    cr_expect_eq(v, &r.groups[0], "the most GPU-hours first");
    cr_expect_eq(v->attempts, 3);
    NEAR(v->gpu_seconds, 90 * 60.0);
    NEAR(v->core_seconds, (4 * 30 + 8 * 10 + 1 * 5) * 60.0);
    NEAR(v->gpu_used, 1800 + 300 + 600.0);
    cr_expect_eq(n->attempts, 2);
    NEAR(n->gpu_seconds, 10 * 60.0);
    /* the running one counts to the window's end: 60 - 26 = 34 min */
    NEAR(n->core_seconds, (2 * 10 + 16 * 34) * 60.0);
    cr_expect(n->gpu_used < 0, "nlp's GPU use was not measured");
    /* waits, nearest rank: vision {1, 2, 10} min: p50 2, p95 10; nlp {4, 6}:
     * p50 4, p95 6 */
    cr_expect_eq(v->waited, 3);
    NEAR(v->wait_p50_s, 2 * 60.0);
    NEAR(v->wait_p95_s, 10 * 60.0);
    cr_expect_eq(n->waited, 2);
    NEAR(n->wait_p50_s, 4 * 60.0);
    NEAR(n->wait_p95_s, 6 * 60.0);
    /* the CSV: one row per account, with its waits */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    report_print_csv(f, &in, &r);
    fclose(f);
    cr_expect(strstr(buf, "account,attempts,gpu_hours,gpu_used_hours,core_hours,cpu_used_hours,"
                          "wait_tasks,wait_p50_s,wait_p95_s\n"),
              "%s", buf);
    /* vision: 90 GPU-min, 45 used, 205 core-min; nlp: 10, -, 564 */
    cr_expect(strstr(buf, "\nvision,3,1.500000,0.750000,3.416667,0.000000,3,120.000000,"
                          "600.000000\n"),
              "%s", buf);
    cr_expect(strstr(buf, "\nnlp,2,0.166667,,9.400000,0.000000,2,240.000000,360.000000\n"), "%s",
              buf);
    free(buf);
    report_fini(&r);
}

Test(report_accounts, only_the_named_accounts_records)
{
    two_accounts();
    report_input_t in = {.from_ms = FROM,
                         .to_ms = TO,
                         .acct = &acct,
                         .nodes = &nodes,
                         .by = REPORT_BY_USER,
                         .account = "vision"};
    report_t r = {0};
    cr_assert_eq(report_compute(&in, &r), 0);
    /* vision's: alice's two (2 x 30 + 4 x 5 GPU-min), bob's one (10) */
    cr_assert_eq(r.ngroups, 2);
    const report_group_t *a = group(&r, "alice"), *b = group(&r, "bob");
    cr_assert(a && b);
    cr_expect_eq(a->attempts, 2);
    NEAR(a->gpu_seconds, 80 * 60.0);
    NEAR(a->core_seconds, (4 * 30 + 1 * 5) * 60.0);
    cr_expect_eq(b->attempts, 1);
    NEAR(b->gpu_seconds, 10 * 60.0);
    NEAR(b->core_seconds, 8 * 10 * 60.0);
    /* waits by shape: vision's three GPU tasks only, none of nlp's */
    cr_assert_eq(r.nwaits, 1);
    cr_expect_str_eq(r.waits[0].shape, "1c 1g");
    cr_expect_eq(r.waits[0].count, 3);
    NEAR(r.waits[0].p50_s, 2 * 60.0);
    /* allocation on the node: vision's 90 GPU-min of the 8 x 60 there */
    cr_assert_eq(r.nnodes, 1);
    NEAR(r.nodes[0].gpu_allocated, 90 * 60.0);
    NEAR(r.nodes[0].gpu_capacity, 8 * 3600.0);
    NEAR(r.nodes[0].core_allocated, (4 * 30 + 8 * 10 + 1 * 5) * 60.0);
    report_fini(&r);
    /* an account with no records: nothing */
    in.account = "speech";
    cr_assert_eq(report_compute(&in, &r), 0);
    cr_expect_eq(r.ngroups, 0);
    cr_expect_eq(r.nwaits, 0);
    NEAR(r.nodes[0].gpu_allocated, 0.0);
    report_fini(&r);
}

static Cairn__CensusSample cs[8];
static Cairn__CensusSample *csp[8];
static Cairn__UsageReply usage;

static Cairn__CensusSample *sample(int64_t t_min, const char *shape)
{
    Cairn__CensusSample *c = &cs[usage.n_census];
    cairn__census_sample__init(c);
    c->time_ms = FROM + t_min * MIN;
    c->span_ms = 10 * MIN;
    c->shape = (char *)shape;
    csp[usage.n_census++] = c;
    return c;
}

static double reason(const report_t *r, const char *why)
{
    for (size_t i = 0; i < r->nreasons; i++)
        if (!strcmp(r->reasons[i].reason, why))
            return r->reasons[i].task_seconds;
    return -1;
}

/* Two 10-minute census samples. At +10 min 6 GPUs are free; the 1-GPU
 * shape has 8 tasks waiting, 5 of them on their account's GPU limit
 * (5 of the free GPUs are theirs to wait for), and the other 3 want GPUs
 * split across nodes (1 idle so). At +20 min 2 GPUs are free and all 4
 * waiting tasks are at a limit (2 idle on it). */
static void limit_census(void)
{
    cairn__usage_reply__init(&usage);
    usage.census = csp;
    Cairn__CensusSample *c = sample(10, "");
    c->gpus_total = 8;
    c->gpus_free = 6;
    c = sample(10, "1c 1g");
    c->waiting = 8;
    c->gpus_wanted = 8;
    c->limited = 5;
    c->idle_limit = 5;
    c->idle_split = 1;
    c = sample(20, "");
    c->gpus_total = 8;
    c->gpus_free = 2;
    c = sample(20, "1c 1g");
    c->waiting = 4;
    c->gpus_wanted = 4;
    c->limited = 4;
    c->idle_limit = 2;
}

Test(report_accounts, waiting_on_a_limit_is_not_fragmentation)
{
    one_node();
    limit_census();
    report_input_t in = {.from_ms = FROM,
                         .to_ms = TO,
                         .acct = &acct,
                         .usage = &usage,
                         .nodes = &nodes,
                         .by = REPORT_BY_ACCOUNT};
    report_t r = {0};
    cr_assert_eq(report_compute(&in, &r), 0);
    /* idle while GPU work waited: min(free, wanted) = 6, then 2, for 600 s */
    NEAR(r.idle_total, (6 + 2) * 600.0);
    /* on the limit: 5 then 2 GPUs; fragmentation only the 1 split one */
    NEAR(r.idle_limit, (5 + 2) * 600.0);
    NEAR(r.idle_split, 1 * 600.0);
    NEAR(r.idle_cpu_mem + r.idle_model + r.idle_other, 0.0);
    /* why tasks waited: 5 + 4 tasks on the limit, 3 split, for 600 s each */
    NEAR(reason(&r, REPORT_WHY_LIMIT), (5 + 4) * 600.0);
    NEAR(reason(&r, "GPUs split across nodes"), 3 * 600.0);
    cr_expect_eq(r.nreasons, 2, "no reason with no tasks (the second sample has none but limit)");
    cr_expect_str_eq(r.reasons[0].reason, REPORT_WHY_LIMIT, "the most task-hours first");
    /* JSON: a figure of its own */
    json_t *j = report_json(&in, &r);
    cr_assert_not_null(j);
    char *text = cairn_json_text(j, 0);
    cr_assert_not_null(text);
    cr_expect(strstr(text, "\"waiting_on_limit_s\": 4200.0"), "%s", text);
    cr_expect(strstr(text, "\"split_across_nodes_s\": 600.0"), "%s", text);
    free(text);
    report_fini(&r);
}

/* The limit's idle GPUs share the cap with the other reasons: when the
 * reasons' GPUs add up to more than were free and wanted, each is scaled
 * alike (a free GPU counts once). */
Test(report_accounts, the_limit_shares_the_cap_on_idle_gpus)
{
    one_node();
    cairn__usage_reply__init(&usage);
    usage.census = csp;
    Cairn__CensusSample *c = sample(10, "");
    c->gpus_free = 4;
    c = sample(10, "1c 1g");
    c->waiting = 4;
    c->gpus_wanted = 4;
    c->limited = 2;
    c->idle_limit = 2;
    c->idle_other = 2;
    c = sample(10, "1c 2g");
    c->waiting = 2;
    c->gpus_wanted = 4;
    c->idle_split = 4;
    report_input_t in = {
        .from_ms = FROM, .to_ms = TO, .acct = &acct, .usage = &usage, .nodes = &nodes};
    report_t r = {0};
    cr_assert_eq(report_compute(&in, &r), 0);
    /* idle min(4, 8) = 4; reasons 2 + 2 + 4 = 8: each halved */
    NEAR(r.idle_total, 4 * 600.0);
    NEAR(r.idle_limit, 1 * 600.0);
    NEAR(r.idle_other, 1 * 600.0);
    NEAR(r.idle_split, 2 * 600.0);
    NEAR(reason(&r, REPORT_WHY_LIMIT), 2 * 600.0);
    NEAR(reason(&r, "held back (reservation, priority, gang)"), 2 * 600.0);
    NEAR(reason(&r, "GPUs split across nodes"), 2 * 600.0);
    report_fini(&r);
}

/* A gang that requires one topology domain and waits although GPUs are
 * free in several: fragmentation by topology, a figure and a reason of
 * its own, sharing the cap with the others. */
Test(report_accounts, a_gang_waiting_for_one_domain_is_fragmentation_by_topology)
{
    one_node();
    cairn__usage_reply__init(&usage);
    usage.census = csp;
    Cairn__CensusSample *c = sample(10, "");
    c->gpus_free = 6;
    c = sample(10, "4x 1c 1g");
    c->waiting = 4;
    c->gpus_wanted = 4;
    c->idle_topo = 4;
    report_input_t in = {
        .from_ms = FROM, .to_ms = TO, .acct = &acct, .usage = &usage, .nodes = &nodes};
    report_t r = {0};
    cr_assert_eq(report_compute(&in, &r), 0);
    NEAR(r.idle_total, 4 * 600.0);
    NEAR(r.idle_topo, 4 * 600.0);
    NEAR(r.idle_split + r.idle_cpu_mem + r.idle_model + r.idle_other + r.idle_limit, 0.0);
    NEAR(reason(&r, "a gang waiting for one topology domain"), 4 * 600.0);
    json_t *j = report_json(&in, &r);
    char *text = cairn_json_text(j, 0);
    cr_assert_not_null(text);
    cr_expect(strstr(text, "\"topology_s\": 2400.0"), "%s", text);
    free(text);
    report_fini(&r);
}

/* The chart: the y of each point of the polyline with this id. */
static size_t line_points(const char *svg, const char *id, double *y, size_t max)
{
    char key[64];
    snprintf(key, sizeof(key), "id=\"%s\"", id);
    const char *p = strstr(svg, key);
    if (!p)
        return 0;
    p = strstr(p, "points=\"");
    cr_assert_not_null(p);
    p += strlen("points=\"");
    size_t n = 0;
    while (*p && *p != '"' && n < max) {
        char *end;
        strtod(p, &end);
        cr_assert_eq(*end, ',', "bad point at %.20s", p);
        y[n++] = strtod(end + 1, &end);
        p = end;
        while (*p == ' ')
            p++;
    }
    return n;
}

static char *chart(const report_input_t *in, const report_t *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    cr_assert_eq(report_print_svg(f, in, r), 0);
    fclose(f);
    return buf;
}

/* The line id of svg: 120 points (30 s buckets), bucket i at gpus(i) GPUs
 * on an axis reaching 1.1 x the 8 GPUs there (the plot is 330 high from
 * y 40). */
static void expect_line(const char *svg, const char *id, double (*gpus)(size_t))
{
    double y[200];
    size_t n = line_points(svg, id, y, 200);
    cr_assert_eq(n, 120, "%s", svg);
    double ymax = 8 * 1.1, ph = 330, base = 40 + ph;
    for (size_t i = 0; i < n; i++)
        cr_expect(fabs(y[i] - (base - gpus(i) / ymax * ph)) <= 0.05 + 1e-9,
                  "%s, bucket %zu: y %.1f, not %g GPUs", id, i, y[i], gpus(i));
}

static double limited_gpus(size_t i)
{
    return i < 20 ? 5 : i < 40 ? 4 : 0;
}

/* The GPUs of tasks waiting on a limit, dashed under the waiting demand:
 * 5 of the 8 wanted in the first 10 minutes (20 buckets of 30 s), all 4
 * in the next 10, none after; and no such line when nothing was limited. */
Test(report_accounts, the_chart_shows_the_gpus_waiting_on_a_limit)
{
    one_node();
    limit_census();
    report_input_t in = {
        .from_ms = FROM, .to_ms = TO, .acct = &acct, .usage = &usage, .nodes = &nodes};
    report_t r = {0};
    cr_assert_eq(report_compute(&in, &r), 0);
    char *svg = chart(&in, &r);
    double y[200];
    expect_line(svg, "limit-demand", limited_gpus);
    cr_expect(strstr(svg, ">of them, on an account limit</text>"), "the legend");
    free(svg);
    report_fini(&r);
    /* no tasks on a limit: no such line */
    cs[1].limited = cs[3].limited = 0;
    cs[1].idle_limit = cs[3].idle_limit = 0;
    cr_assert_eq(report_compute(&in, &r), 0);
    svg = chart(&in, &r);
    cr_expect_eq(line_points(svg, "limit-demand", y, 200), 0);
    cr_expect_null(strstr(svg, "account limit"));
    free(svg);
    report_fini(&r);
}

/* --- GPU time lost to preemption, timeouts and node loss ----------------- */

/* The last record rec() added, ended so at +end min (the checkpoint's
 * write at +cp min; 0: none). */
static Cairn__AccountingRecord *ended(const char *end, int64_t cp)
{
    Cairn__AccountingRecord *r = rp[acct.n_records - 1];
    r->end = (char *)end;
    r->checkpoint_time_ms = cp ? FROM + cp * MIN : 0;
    return r;
}

/* Attempts that lost work, in minutes from the window's start:
 *   nlp     preempted  10-20, 2 GPUs, checkpoint at 17: 2 x 3  =  6 GPU-min
 *   nlp     preempted  30-40, a gang of 2 x 1 GPU, none:  2 x 10 = 20
 *   nlp     preempted  -20..-5, before the window:                 not counted
 *   vision  timed_out   0-30, 4 GPUs, checkpoint at 25: 4 x 5  = 20
 *   vision  node_lost   5-15, 1 GPU, checkpoint at 2, before its
 *                       start (an earlier attempt's): 1 x 10     = 10
 *   vision  preempted  40-50, 2 GPUs, none:               2 x 10 = 20
 *   vision  succeeded  50-55, 1 GPU:                              nothing lost
 *   default preempted  20-25, no GPU: 0, but a preemption
 * so nlp: 2 preemptions, 26 GPU-min; vision: 1 preemption, 20 + 20 + 10 =
 * 50 GPU-min; "-": 1 preemption, 0; all: 4 preemptions, 76 GPU-min. */
static void lost_work(void)
{
    one_node();
    rec("nlp", "bob", 10, 10, 20, 2, 1, -1);
    ended("preempted", 17);
    rec("nlp", "bob", 30, 30, 40, 1, 1, -1);
    ended("preempted", 0)->replicas = 2;
    rec("nlp", "bob", 30, 30, 40, 1, 1, -1);
    Cairn__AccountingRecord *r1 = ended("preempted", 0);
    r1->replicas = 2;
    r1->rank = 1;
    r1->job_id = r1->attempt_id = rp[acct.n_records - 2]->job_id;
    rec("nlp", "bob", 0, 0, 0, 1, 1, -1);
    Cairn__AccountingRecord *old = ended("preempted", 0);
    old->start_time_ms = old->placed_time_ms = old->ready_time_ms = FROM - 20 * MIN;
    old->end_time_ms = FROM - 5 * MIN;
    rec("vision", "alice", 0, 0, 30, 4, 1, -1);
    ended("timed_out", 25);
    rec("vision", "alice", 5, 5, 15, 1, 1, -1);
    ended("node_lost", 2);
    rec("vision", "alice", 40, 40, 50, 2, 1, -1);
    ended("preempted", 0);
    rec("vision", "alice", 50, 50, 55, 1, 1, -1);
    ended("succeeded", 52);
    rec("", "carol", 20, 20, 25, 0, 1, -1);
    ended("preempted", 0);
}

static void expect_lost(const report_lost_t *l, uint32_t preemptions, double pre_min, double to_min,
                        double nl_min)
{
    cr_expect_eq(l->preemptions, preemptions, "%s: %u preemptions", l->account, l->preemptions);
    NEAR(l->gpu_s[REPORT_LOST_PREEMPTED], pre_min * 60);
    NEAR(l->gpu_s[REPORT_LOST_TIMED_OUT], to_min * 60);
    NEAR(l->gpu_s[REPORT_LOST_NODE_LOST], nl_min * 60);
}

Test(report_accounts, gpu_time_lost_to_preemption_timeouts_and_node_loss)
{
    lost_work();
    report_input_t in = {
        .from_ms = FROM, .to_ms = TO, .acct = &acct, .nodes = &nodes, .by = REPORT_BY_ACCOUNT};
    report_t r = {0};
    cr_assert_eq(report_compute(&in, &r), 0);
    cr_assert_eq(r.nlost, 3);
    /* the most lost first: vision 50, nlp 26, "-" 0 */
    cr_expect_str_eq(r.lost[0].account, "vision");
    cr_expect_str_eq(r.lost[1].account, "nlp");
    cr_expect_str_eq(r.lost[2].account, "-");
    expect_lost(&r.lost[0], 1, 20, 20, 10);
    expect_lost(&r.lost[1], 2, 6 + 20, 0, 0);
    expect_lost(&r.lost[2], 1, 0, 0, 0);
    expect_lost(&r.lost_total, 4, 46, 20, 10);
    cr_expect_eq(r.lost_total.attempts[REPORT_LOST_PREEMPTED], 4, "a gang counts once");
    cr_expect_eq(r.lost_total.attempts[REPORT_LOST_TIMED_OUT], 1);
    /* the text: 50 GPU-min = 0.833 h, of it 20 min = 0.333 h preempted */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    report_print_text(f, &in, &r);
    fclose(f);
    const char *sec = strstr(buf, "GPU-hours lost, by account");
    cr_assert_not_null(sec, "%s", buf);
    char row[160];
    snprintf(row, sizeof(row), "  %-24s %11u %12s %12s %12s %10s\n", "vision", 1, "0.333", "0.333",
             "0.167", "0.833");
    cr_expect(strstr(sec, row), "%s", sec);
    snprintf(row, sizeof(row), "  %-24s %11u %12s %12s %12s %10s\n", "(all)", 4, "0.767", "0.333",
             "0.167", "1.267");
    cr_expect(strstr(sec, row), "%s", sec);
    free(buf);
    /* JSON: seconds; 76 GPU-min = 4560 s */
    json_t *j = report_json(&in, &r);
    cr_assert_not_null(j);
    char *text = cairn_json_text(j, 0);
    cr_assert_not_null(text);
    cr_expect(strstr(text, "\"total_s\": 4560.0"), "%s", text);
    cr_expect(strstr(text, "\"preempted_s\": 2760.0"), "%s", text);
    cr_expect(strstr(text, "\"account\": \"nlp\""), "%s", text);
    cr_expect(strstr(text, "\"preempted_s\": 1560.0"), "nlp's 26 GPU-min: %s", text);
    free(text);
    report_fini(&r);
    /* only nlp's records: its figures, and they are the total */
    in.account = "nlp";
    cr_assert_eq(report_compute(&in, &r), 0);
    cr_assert_eq(r.nlost, 1);
    expect_lost(&r.lost[0], 2, 26, 0, 0);
    expect_lost(&r.lost_total, 2, 26, 0, 0);
    report_fini(&r);
}

static double lost_gpus(size_t i)
{
    double m = (double)i / 2; /* the bucket's start, in minutes */
    return (m >= 5 && m < 15) + 2 * (m >= 17 && m < 20) + 4 * (m >= 25 && m < 30) +
           2 * (m >= 30 && m < 40) + 2 * (m >= 40 && m < 50);
}

/* The chart: the GPUs whose work was being lost, in 30 s buckets: 1 GPU
 * 5-15 min (vision's node-lost one; its checkpoint predates it) but 2 more
 * 17-20 (nlp's after its checkpoint), 4 at 25-30 (vision's timed-out one
 * after its checkpoint), 2 at 30-40 (nlp's gang), 2 at 40-50. */
Test(report_accounts, the_chart_shows_the_gpus_whose_work_was_lost)
{
    lost_work();
    report_input_t in = {.from_ms = FROM, .to_ms = TO, .acct = &acct, .nodes = &nodes};
    report_t r = {0};
    cr_assert_eq(report_compute(&in, &r), 0);
    char *svg = chart(&in, &r);
    double y[200];
    /* the axis reaches 1.1 x the 8 GPUs there (allocation peaks at 7) */
    expect_line(svg, "lost-work", lost_gpus);
    free(svg);
    report_fini(&r);
    /* nothing lost: no such line */
    acct.n_records = 0;
    cr_assert_eq(report_compute(&in, &r), 0);
    svg = chart(&in, &r);
    cr_expect_eq(line_points(svg, "lost-work", y, 200), 0);
    cr_expect_null(strstr(svg, "work was lost"));
    free(svg);
    report_fini(&r);
}
