/* The what-if simulator (scheduling/sim.h): a run recorded from the real
 * core is reproduced exactly, adding nodes never increases a predicted
 * wait, the same inputs give the same output, and the metrics of a small
 * hand-computed case. */
#include <criterion/criterion.h>

#include "leak_check.h"
#include "sched_fixtures.h"
#include "scheduling/sim.h"

#define NJOBS 40
#define MAX_TASKS 6
#define MAX_ATT 3

/* A random workload: jobs of small DAGs with mixed shapes, each task with
 * the outcomes of its attempts (a first attempt may be lost with its node). */
typedef struct workload {
    sched_task_spec_t tasks[NJOBS][MAX_TASKS];
    char names[NJOBS][MAX_TASKS][16];
    char jnames[NJOBS][16];
    const char *needs[NJOBS][MAX_TASKS][2];
    sched_job_spec_t jobs[NJOBS];
    int64_t submit[NJOBS];
    uint32_t nout[NJOBS][MAX_TASKS];
    sched_sim_outcome_t out[NJOBS][MAX_TASKS][MAX_ATT];
    const sched_sim_outcome_t *outp[NJOBS][MAX_TASKS];
} workload_t;

/* fixed_gpus >= 0: every task asks for that many GPUs and 4 cores, no
 * model (one shape); -1: mixed shapes. */
static void workload_init(workload_t *w, uint64_t seed, bool failures, bool priorities,
                          int fixed_gpus)
{
    memset(w, 0, sizeof(*w));
    uint64_t rng = seed;
    int64_t t = 0;
    for (int j = 0; j < NJOBS; j++) {
        uint32_t n = 1 + (uint32_t)(fx_rand(&rng) % MAX_TASKS);
        t += (int64_t)(fx_rand(&rng) % 20000);
        w->submit[j] = t;
        snprintf(w->jnames[j], sizeof(w->jnames[j]), "job%d", j);
        for (uint32_t k = 0; k < n; k++) {
            snprintf(w->names[j][k], sizeof(w->names[j][k]), "t%u", k);
            static const uint32_t gpus[] = {0, 1, 1, 2, 4, 8};
            uint32_t g = gpus[fx_rand(&rng) % 6];
            uint32_t c = 1 + (uint32_t)(fx_rand(&rng) % 8);
            if (fixed_gpus >= 0) {
                g = (uint32_t)fixed_gpus;
                c = 4;
            }
            sched_task_spec_t *ts = &w->tasks[j][k];
            *ts = fx_task(w->names[j][k], c, g);
            if (fixed_gpus < 0 && g && g <= 4 && fx_rand(&rng) % 4 == 0)
                ts->req.gpu_model = "A100";
            ts->priority = priorities ? (int32_t)(fx_rand(&rng) % 3) : 0;
            ts->time_limit_ms = 200000;
            ts->retry = (sched_retry_policy_t){.max_attempts = MAX_ATT,
                                               .backoff_ms = 1000,
                                               .on = SCHED_RETRY_NODE_LOST | SCHED_RETRY_ANY_EXIT};
            if (k > 0 && fx_rand(&rng) % 2) {
                w->needs[j][k][0] = w->names[j][fx_rand(&rng) % k];
                ts->needs = w->needs[j][k];
                ts->nneeds = 1;
            }
            uint32_t na = failures ? 1 + (uint32_t)(fx_rand(&rng) % 4 == 0) : 1;
            for (uint32_t a = 0; a < na; a++)
                w->out[j][k][a] =
                    (sched_sim_outcome_t){.hold_ms = 1000 + (int64_t)(fx_rand(&rng) % 60000),
                                          .end = a + 1 < na ? SCHED_END_NODE_LOST : SCHED_END_EXIT};
            w->nout[j][k] = na;
            w->outp[j][k] = w->out[j][k];
        }
        w->jobs[j] = (sched_job_spec_t){
            .name = w->jnames[j], .seed = (uint64_t)j + 1, .ntasks = n, .tasks = w->tasks[j]};
    }
}

/* 2 nodes of 8 H100 (2 per switch), 2 of 4 A100, 2 CPU-only; extra more. */
static int cluster_init(fx_node_t *nodes, int extra)
{
    int n = 0;
    char name[16];
    for (int i = 0; i < 2; i++, n++) {
        snprintf(name, sizeof(name), "h%d", i);
        fx_node_init(&nodes[n], name, 2, 16, 8, 2, "NVIDIA H100 80GB HBM3", 80 * GiB, 256 * GiB);
    }
    for (int i = 0; i < 2; i++, n++) {
        snprintf(name, sizeof(name), "a%d", i);
        fx_node_init(&nodes[n], name, 1, 16, 4, 4, "NVIDIA A100-SXM4-40GB", 40 * GiB, 256 * GiB);
    }
    for (int i = 0; i < 2; i++, n++) {
        snprintf(name, sizeof(name), "c%d", i);
        fx_node_init(&nodes[n], name, 2, 8, 0, 0, "", 0, 64 * GiB);
    }
    for (int i = 0; i < extra; i++, n++) {
        snprintf(name, sizeof(name), "x%d", i);
        if (i % 2)
            fx_node_init(&nodes[n], name, 1, 16, 4, 4, "NVIDIA A100-SXM4-40GB", 40 * GiB,
                         256 * GiB);
        else
            fx_node_init(&nodes[n], name, 2, 16, 8, 2, "NVIDIA H100 80GB HBM3", 80 * GiB,
                         256 * GiB);
    }
    return n;
}

static sched_sim_t *sim_build(workload_t *w, fx_node_t *nodes, int nnodes)
{
    sched_sim_t *sim = sched_sim_create(NULL);
    cr_assert(sim);
    cairn_error_t err = {{0}};
    for (int i = 0; i < nnodes; i++)
        cr_assert_eq(sched_sim_node_add(sim, &nodes[i].d, &err), 0, "%s", err.text);
    for (int j = 0; j < NJOBS; j++)
        cr_assert_eq(
            sched_sim_job_add(sim, w->submit[j], &w->jobs[j], w->nout[j], w->outp[j], &err), 0,
            "%s", err.text);
    cr_assert_eq(sched_sim_run(sim, &err), 0, "%s", err.text);
    return sim;
}

/* --- the recorder: the real core driven by hand, as the daemon does ----- */

typedef struct rec {
    uint32_t job, task, number, rank, node;
    int64_t placed, end;
} rec_t;

typedef struct pending_end {
    int64_t t;
    uint64_t attempt;
} pending_end_t;

typedef struct recorder {
    sched_t *s;
    workload_t *w;
    rec_t recs[4096];
    size_t nrecs;
    pending_end_t ends[1024];
    size_t nends;
    uint64_t placed[1024];
    size_t nplaced;
} recorder_t;

static void rec_cb(const sched_event_t *ev, void *arg)
{
    recorder_t *r = arg;
    r->placed[r->nplaced++] = ev->u.place.attempt;
}

/* Run the workload with a plain loop (linear scans, no heap): every event
 * time gets one pass; placed attempts start at once and end after their
 * recorded hold. Every placement is recorded, as accounting would. */
static void record_run(recorder_t *r, fx_node_t *nodes, int nnodes)
{
    r->s = sched_create(NULL);
    for (int i = 0; i < nnodes; i++)
        cr_assert_eq(fx_add_node(r->s, NULL, &nodes[i]), 0);
    int next = 0;
    int64_t last = -1;
    for (;;) {
        int64_t t = INT64_MAX, wake = sched_next_wakeup(r->s);
        if (next < NJOBS)
            t = r->w->submit[next];
        for (size_t i = 0; i < r->nends; i++)
            if (r->ends[i].t < t)
                t = r->ends[i].t;
        if (wake < t && wake > last)
            t = wake;
        if (t == INT64_MAX)
            break;
        /* ends due now, by attempt id */
        for (;;) {
            size_t best = SIZE_MAX;
            for (size_t i = 0; i < r->nends; i++)
                if (r->ends[i].t == t &&
                    (best == SIZE_MAX || r->ends[i].attempt < r->ends[best].attempt))
                    best = i;
            if (best == SIZE_MAX)
                break;
            uint64_t id = r->ends[best].attempt;
            r->ends[best] = r->ends[--r->nends];
            sched_attempt_info_t ai;
            cr_assert_eq(sched_attempt_get(r->s, id, &ai), 0);
            uint32_t n = r->w->nout[ai.job - 1][ai.task];
            const sched_sim_outcome_t *o =
                &r->w->out[ai.job - 1][ai.task][(ai.number < n ? ai.number : n) - 1];
            cr_assert_eq(fx_finish(r->s, NULL, id, o->end, 0, t), 0);
        }
        while (next < NJOBS && r->w->submit[next] == t) {
            cr_assert_eq(fx_submit(r->s, NULL, &r->w->jobs[next], t), 0);
            next++;
        }
        r->nplaced = 0;
        cr_assert_geq(sched_place(r->s, t, rec_cb, r), 0);
        last = t;
        for (size_t i = 0; i < r->nplaced; i++) {
            sched_attempt_info_t ai;
            cr_assert_eq(sched_attempt_get(r->s, r->placed[i], &ai), 0);
            uint32_t n = r->w->nout[ai.job - 1][ai.task];
            int64_t end =
                t + r->w->out[ai.job - 1][ai.task][(ai.number < n ? ai.number : n) - 1].hold_ms;
            for (uint32_t k = 0; k < ai.nreplicas; k++)
                r->recs[r->nrecs++] =
                    (rec_t){ai.job - 1, ai.task, ai.number, k, ai.allocs[k].node, t, end};
            sched_event_t ev = {.type = SCHED_EV_START, .time_ms = t};
            ev.u.start.attempt = r->placed[i];
            cr_assert_eq(sched_apply(r->s, &ev, NULL), 0);
            r->ends[r->nends++] = (pending_end_t){end, r->placed[i]};
        }
    }
    sched_destroy(r->s);
}

LEAK_TEST(sched_sim, recorded_run_reproduced)
{
    static workload_t w;
    static recorder_t r;
    static fx_node_t nodes[8];
    for (uint64_t seed = 1; seed <= 5; seed++) {
        workload_init(&w, seed * 7919, true, true, -1);
        int nn = cluster_init(nodes, 0);
        memset(&r, 0, sizeof(r));
        r.w = &w;
        record_run(&r, nodes, nn);
        cr_assert_gt(r.nrecs, (size_t)NJOBS, "a real workload");

        /* the trace: each attempt's recorded hold and ending, as the
         * recorder took them (the workload's own outcomes) */
        sched_sim_t *sim = sim_build(&w, nodes, nn);
        size_t n;
        const sched_sim_span_t *sp = sched_sim_spans(sim, &n);
        cr_assert_eq(n, r.nrecs, "seed %llu: %zu spans, %zu recorded", (unsigned long long)seed, n,
                     r.nrecs);
        bool retried = false;
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(sp[i].job, r.recs[i].job);
            cr_assert_eq(sp[i].task, r.recs[i].task);
            cr_assert_eq(sp[i].number, r.recs[i].number);
            cr_assert_eq(sp[i].rank, r.recs[i].rank);
            cr_assert_eq(sp[i].node, r.recs[i].node, "seed %llu span %zu: node %u, recorded %u",
                         (unsigned long long)seed, i, sp[i].node, r.recs[i].node);
            cr_assert_eq(sp[i].placed_ms, r.recs[i].placed);
            cr_assert_eq(sp[i].end_ms, r.recs[i].end);
            retried |= sp[i].number > 1;
        }
        cr_assert(retried, "failed attempts were retried");
        sched_sim_destroy(sim);
    }
}

/* Max wait of every attempt (job, task, number), -1 if never placed. */
static void waits_of(sched_sim_t *sim, int64_t wait[NJOBS][MAX_TASKS][MAX_ATT])
{
    memset(wait, 0xff, sizeof(int64_t) * NJOBS * MAX_TASKS * MAX_ATT);
    size_t n;
    const sched_sim_span_t *sp = sched_sim_spans(sim, &n);
    for (size_t i = 0; i < n; i++)
        if (sp[i].rank == 0)
            wait[sp[i].job][sp[i].task][sp[i].number - 1] = sp[i].placed_ms - sp[i].ready_ms;
}

LEAK_TEST(sched_sim, adding_nodes_never_increases_waits)
{
    static workload_t w;
    static fx_node_t nodes[16];
    static int64_t base[NJOBS][MAX_TASKS][MAX_ATT], more[NJOBS][MAX_TASKS][MAX_ATT];
    for (uint64_t seed = 1; seed <= 8; seed++) {
        /* independent tasks of one shape and one priority, no failures:
         * the trace class the property holds for (first-come first-served
         * on identical slots). With mixed shapes, greedy placement has
         * Graham's anomalies (docs/capacity.md). */
        static const int shapes[] = {0, 1, 2, 8};
        workload_init(&w, seed * 104729, false, false, shapes[seed % 4]);
        for (int j = 0; j < NJOBS; j++)
            for (uint32_t k = 0; k < w.jobs[j].ntasks; k++)
                w.tasks[j][k].nneeds = 0;
        int nn = cluster_init(nodes, 0);
        sched_sim_t *a = sim_build(&w, nodes, nn);
        waits_of(a, base);
        sched_sim_destroy(a);
        for (int extra = 1; extra <= 4; extra++) {
            int nm = cluster_init(nodes, extra);
            sched_sim_t *b = sim_build(&w, nodes, nm);
            waits_of(b, more);
            for (int j = 0; j < NJOBS; j++)
                for (uint32_t k = 0; k < w.jobs[j].ntasks; k++)
                    cr_assert_leq(more[j][k][0], base[j][k][0],
                                  "seed %llu +%d nodes: job%d t%u waits %lld ms, %lld before",
                                  (unsigned long long)seed, extra, j, k, (long long)more[j][k][0],
                                  (long long)base[j][k][0]);
            sched_sim_destroy(b);
        }
    }
}

static char *report_str(sched_sim_t *sim)
{
    size_t n;
    const sched_sim_span_t *sp = sched_sim_spans(sim, &n);
    sched_sim_report_t rep;
    cr_assert_eq(sched_sim_measure(sim, sp, n, &rep), 0);
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    len += (size_t)snprintf(buf + len, cap - len, "makespan %lld p50 %lld p95 %lld\n",
                            (long long)rep.makespan_ms, (long long)rep.wait_p50_ms,
                            (long long)rep.wait_p95_ms);
    for (size_t i = 0; i < rep.nwaits; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s %llu %lld %lld\n",
                                sched_sim_shape_name(sim, rep.waits[i].shape),
                                (unsigned long long)rep.waits[i].count,
                                (long long)rep.waits[i].p50_ms, (long long)rep.waits[i].p95_ms);
    for (size_t i = 0; i < rep.nmodels; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s %u %.3f %.3f %.3f\n", rep.models[i].name,
                                rep.models[i].gpus, rep.models[i].capacity_gpu_s,
                                rep.models[i].alloc_gpu_s, rep.models[i].idle_waiting_gpu_s);
    for (size_t i = 0; i < n && len + 128 < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%u/%u/%u/%u n%u %llx %lld %lld %lld\n",
                                sp[i].job, sp[i].task, sp[i].number, sp[i].rank, sp[i].node,
                                (unsigned long long)sp[i].gpu_mask, (long long)sp[i].ready_ms,
                                (long long)sp[i].placed_ms, (long long)sp[i].end_ms);
    sched_sim_report_fini(&rep);
    return buf;
}

LEAK_TEST(sched_sim, same_inputs_same_output)
{
    static workload_t w;
    static fx_node_t nodes[8];
    workload_init(&w, 42, true, true, -1);
    int nn = cluster_init(nodes, 0);
    sched_sim_t *a = sim_build(&w, nodes, nn), *b = sim_build(&w, nodes, nn);
    char *sa = report_str(a), *sb = report_str(b);
    cr_assert_str_eq(sa, sb);
    free(sa);
    free(sb);
    sched_sim_destroy(a);
    sched_sim_destroy(b);
}

/* One node of 3 GPUs: A takes 2 for 10 s, B wants 2 and waits 10 s while
 * one GPU is idle (10 GPU-s of fragmentation); C asks for a model no node
 * has and is rejected. */
LEAK_TEST(sched_sim, metrics_by_hand)
{
    fx_node_t node;
    fx_node_init(&node, "n0", 1, 8, 3, 3, "NVIDIA H100", 80 * GiB, 64 * GiB);
    sched_sim_t *sim = sched_sim_create(NULL);
    cairn_error_t err = {{0}};
    cr_assert_eq(sched_sim_node_add(sim, &node.d, &err), 0);
    sched_task_spec_t ta = fx_task("a", 1, 2), tb = fx_task("b", 1, 2), tc = fx_task("c", 1, 1);
    tc.req.gpu_model = "MI300";
    sched_job_spec_t ja = {.name = "A", .ntasks = 1, .tasks = &ta},
                     jb = {.name = "B", .ntasks = 1, .tasks = &tb},
                     jc = {.name = "C", .ntasks = 1, .tasks = &tc};
    sched_sim_outcome_t o = {.hold_ms = 10000, .end = SCHED_END_EXIT};
    const sched_sim_outcome_t *op = &o;
    uint32_t one = 1;
    cr_assert_eq(sched_sim_job_add(sim, 0, &ja, &one, &op, &err), 0);
    cr_assert_eq(sched_sim_job_add(sim, 0, &jb, &one, &op, &err), 0);
    cr_assert_eq(sched_sim_job_add(sim, 5, &jc, &one, &op, &err), 0);
    cr_assert_eq(sched_sim_run(sim, &err), 0, "%s", err.text);
    sched_sim_stats_t st;
    sched_sim_stats(sim, &st);
    cr_assert_eq(st.rejected, 1);
    cr_assert_eq(st.unplaced, 1);
    cr_assert(strstr(st.first_rejection, "job C"), "%s", st.first_rejection);
    size_t n;
    const sched_sim_span_t *sp = sched_sim_spans(sim, &n);
    cr_assert_eq(n, 2);
    sched_sim_report_t rep;
    cr_assert_eq(sched_sim_measure(sim, sp, n, &rep), 0);
    cr_assert_eq(rep.makespan_ms, 20000);
    cr_assert_eq(rep.wait_p50_ms, 0);
    cr_assert_eq(rep.wait_p95_ms, 10000);
    cr_assert_eq(rep.nwaits, 1);
    cr_assert_str_eq(sched_sim_shape_name(sim, rep.waits[0].shape), "1c 2g");
    cr_assert_eq(rep.nmodels, 1);
    cr_assert_str_eq(rep.models[0].name, "NVIDIA H100");
    cr_assert_float_eq(rep.models[0].capacity_gpu_s, 60.0, 1e-9);
    cr_assert_float_eq(rep.models[0].alloc_gpu_s, 40.0, 1e-9);
    cr_assert_float_eq(rep.models[0].idle_waiting_gpu_s, 10.0, 1e-9);
    cr_assert_eq(rep.nnodes, 1);
    cr_assert_float_eq(rep.nodes[0].idle_waiting_gpu_s, 10.0, 1e-9);
    sched_sim_report_fini(&rep);
    sched_sim_destroy(sim);
}

LEAK_TEST(sched_sim, errors)
{
    sched_sim_t *sim = sched_sim_create(NULL);
    fx_node_t node;
    fx_node_init(&node, "n0", 1, 8, 0, 0, "", 0, 64 * GiB);
    cairn_error_t err = {{0}};
    cr_assert_eq(sched_sim_node_add(sim, &node.d, &err), 0);
    cr_assert_lt(sched_sim_node_add(sim, &node.d, &err), 0);
    cr_assert(strstr(err.text, "added twice"), "%s", err.text);
    sched_task_spec_t t = fx_task("t", 1, 0);
    sched_job_spec_t j = {.name = "J", .ntasks = 1, .tasks = &t};
    uint32_t zero = 0, one = 1;
    sched_sim_outcome_t bad = {.hold_ms = -1};
    const sched_sim_outcome_t *bp = &bad;
    cr_assert_eq(sched_sim_job_add(sim, 0, &j, &zero, &bp, &err), SCHED_EINVAL);
    cr_assert_eq(sched_sim_job_add(sim, 0, &j, &one, &bp, &err), SCHED_EINVAL);
    cr_assert_eq(sched_sim_run(sim, &err), 0);
    cr_assert_lt(sched_sim_run(sim, &err), 0);
    sched_sim_destroy(sim);
}
