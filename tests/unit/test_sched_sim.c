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
                          int fixed_gpus);

/* The same with starts a little after each attempt gets its allocation (a
 * worker's dispatch and exec), up to 30 ms. */
static void workload_init_starts(workload_t *w, uint64_t seed, bool failures, bool priorities,
                                 int fixed_gpus)
{
    workload_init(w, seed, failures, priorities, fixed_gpus);
    uint64_t rng = seed ^ 0x5bd1e995;
    for (int j = 0; j < NJOBS; j++)
        for (uint32_t k = 0; k < w->jobs[j].ntasks; k++)
            for (uint32_t a = 0; a < w->nout[j][k]; a++)
                w->out[j][k][a].start_ms = (int64_t)(fx_rand(&rng) % 31);
}

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

/* A simulation of the workload on the nodes (cfg NULL: no prefetch), with
 * the given pass times if any. */
static sched_sim_t *sim_build_cfg(workload_t *w, fx_node_t *nodes, int nnodes,
                                  const sched_config_t *cfg, const int64_t *passes, size_t npasses)
{
    sched_sim_t *sim = sched_sim_create(cfg);
    cr_assert(sim);
    cairn_error_t err = {{0}};
    for (int i = 0; i < nnodes; i++)
        cr_assert_eq(sched_sim_node_add(sim, &nodes[i].d, &err), 0, "%s", err.text);
    for (int j = 0; j < NJOBS; j++)
        cr_assert_eq(
            sched_sim_job_add(sim, w->submit[j], &w->jobs[j], w->nout[j], w->outp[j], &err), 0,
            "%s", err.text);
    if (npasses)
        cr_assert_eq(sched_sim_pass_times(sim, passes, npasses, &err), 0, "%s", err.text);
    cr_assert_eq(sched_sim_run(sim, &err), 0, "%s", err.text);
    return sim;
}

static sched_sim_t *sim_build(workload_t *w, fx_node_t *nodes, int nnodes)
{
    return sim_build_cfg(w, nodes, nnodes, NULL, NULL, 0);
}

/* --- the recorder: the real core driven by hand, as the daemon does ----- */

typedef struct prec {
    uint32_t job, task, number, rank, node;
    int64_t placed, start, end;
} prec_t;

typedef struct pev {
    int64_t t;
    uint64_t attempt;
    int kind; /* 0 start, 1 end */
} pev_t;

typedef struct precorder {
    sched_t *s;
    workload_t *w;
    uint64_t lag_rng; /* non-zero: a pass runs 1 to 5 ms after each event */
    prec_t recs[4096];
    size_t nrecs;
    size_t rec_of[4096]; /* attempt id -> its first record */
    pev_t evs[4096];
    size_t nevs;
    int64_t due[8192]; /* lag mode: passes asked for */
    size_t ndue;
    int64_t passes[4096]; /* times of the passes that placed something */
    size_t npasses;
    uint64_t placed[1024];
    size_t nplaced, queued;
} precorder_t;

static void prec_cb(const sched_event_t *ev, void *arg)
{
    precorder_t *r = arg;
    r->placed[r->nplaced++] = ev->u.place.attempt;
}

static const sched_sim_outcome_t *prec_outcome(precorder_t *r, const sched_attempt_info_t *ai)
{
    uint32_t n = r->w->nout[ai->job - 1][ai->task];
    return &r->w->out[ai->job - 1][ai->task][(ai->number < n ? ai->number : n) - 1];
}

static void prec_event_seen(precorder_t *r, int64_t t)
{
    if (r->lag_rng)
        r->due[r->ndue++] = t + 1 + (int64_t)(fx_rand(&r->lag_rng) % 5);
}

/* Attempt id got its allocation at t: it starts and ends after its outcome's
 * times, as a worker runs it. */
static void prec_go(precorder_t *r, uint64_t id, int64_t t)
{
    sched_attempt_info_t ai;
    cr_assert_eq(sched_attempt_get(r->s, id, &ai), 0);
    const sched_sim_outcome_t *o = prec_outcome(r, &ai);
    for (uint32_t k = 0; k < ai.nreplicas; k++) {
        r->recs[r->rec_of[id] + k].start = t;
        r->recs[r->rec_of[id] + k].end = t + o->hold_ms;
    }
    if (o->start_ms == 0) {
        sched_event_t ev = {.type = SCHED_EV_START, .time_ms = t};
        ev.u.start.attempt = id;
        cr_assert_eq(sched_apply(r->s, &ev, NULL), 0);
    } else {
        r->evs[r->nevs++] = (pev_t){t + o->start_ms, id, 0};
    }
    r->evs[r->nevs++] = (pev_t){t + o->hold_ms, id, 1};
}

/* The workload with a plain loop (linear scans, no heap): events at t by
 * (attempt, kind); a pass at every event time, or (lag mode) only when one
 * is due; the worker starts a queued attempt when the one ahead of it
 * ends. Every placement is recorded, as accounting would. */
static void prec_run(precorder_t *r, fx_node_t *nodes, int nnodes, const sched_config_t *cfg)
{
    r->s = sched_create(cfg);
    for (int i = 0; i < nnodes; i++)
        cr_assert_eq(fx_add_node(r->s, NULL, &nodes[i]), 0);
    int next = 0;
    int64_t last = -1;
    for (;;) {
        int64_t t = INT64_MAX, wake = sched_next_wakeup(r->s);
        if (next < NJOBS)
            t = r->w->submit[next];
        for (size_t i = 0; i < r->nevs; i++)
            t = r->evs[i].t < t ? r->evs[i].t : t;
        for (size_t i = 0; i < r->ndue; i++)
            t = r->due[i] < t ? r->due[i] : t;
        if (wake < t && wake > last)
            t = wake;
        if (t == INT64_MAX)
            break;
        for (;;) {
            size_t best = SIZE_MAX;
            for (size_t i = 0; i < r->nevs; i++)
                if (r->evs[i].t == t &&
                    (best == SIZE_MAX || r->evs[i].attempt < r->evs[best].attempt ||
                     (r->evs[i].attempt == r->evs[best].attempt &&
                      r->evs[i].kind < r->evs[best].kind)))
                    best = i;
            if (best == SIZE_MAX)
                break;
            pev_t e = r->evs[best];
            r->evs[best] = r->evs[--r->nevs];
            prec_event_seen(r, t);
            if (e.kind == 0) {
                sched_event_t ev = {.type = SCHED_EV_START, .time_ms = t};
                ev.u.start.attempt = e.attempt;
                cr_assert_eq(sched_apply(r->s, &ev, NULL), 0);
                continue;
            }
            sched_attempt_info_t ai, q;
            cr_assert_eq(sched_attempt_get(r->s, e.attempt, &ai), 0);
            uint64_t line[64];
            size_t nline = 0;
            for (uint64_t n = ai.next; n && sched_attempt_get(r->s, n, &q) == 0; n = q.next)
                line[nline++] = n;
            const sched_sim_outcome_t *o = prec_outcome(r, &ai);
            cr_assert_eq(fx_finish(r->s, NULL, e.attempt, o->end, 0, t), 0);
            for (size_t i = 0; i < nline; i++) {
                cr_assert_eq(sched_attempt_get(r->s, line[i], &q), 0);
                if (q.end == SCHED_END_NONE && !q.queued)
                    prec_go(r, line[i], t); /* the worker starts the next one */
                else if (q.end != SCHED_END_NONE)
                    r->recs[r->rec_of[line[i]]].start = r->recs[r->rec_of[line[i]]].end = t;
            }
        }
        while (next < NJOBS && r->w->submit[next] == t) {
            cr_assert_eq(fx_submit(r->s, NULL, &r->w->jobs[next], t), 0);
            prec_event_seen(r, t);
            next++;
        }
        bool pass = !r->lag_rng || wake == t;
        for (size_t i = 0; i < r->ndue;)
            if (r->due[i] == t) {
                pass = true;
                r->due[i] = r->due[--r->ndue];
            } else {
                i++;
            }
        last = t;
        if (!pass)
            continue;
        r->nplaced = 0;
        cr_assert_geq(sched_place(r->s, t, prec_cb, r), 0);
        if (r->nplaced)
            r->passes[r->npasses++] = t;
        for (size_t i = 0; i < r->nplaced; i++) {
            uint64_t id = r->placed[i];
            sched_attempt_info_t ai;
            cr_assert_eq(sched_attempt_get(r->s, id, &ai), 0);
            r->rec_of[id] = r->nrecs;
            for (uint32_t k = 0; k < ai.nreplicas; k++)
                r->recs[r->nrecs++] =
                    (prec_t){ai.job - 1, ai.task, ai.number, k, ai.allocs[k].node, t, t, t};
            if (ai.queued)
                r->queued++;
            else
                prec_go(r, id, t);
        }
    }
    sched_destroy(r->s);
}

/* How many spans equal the recorder's (all fields), and whether the
 * counts match. */
static size_t prec_same(const precorder_t *r, sched_sim_t *sim, bool *same_count)
{
    size_t n, same = 0;
    const sched_sim_span_t *sp = sched_sim_spans(sim, &n);
    *same_count = n == r->nrecs;
    for (size_t i = 0; i < n && i < r->nrecs; i++) {
        const prec_t *x = &r->recs[i];
        same += sp[i].job == x->job && sp[i].task == x->task && sp[i].number == x->number &&
                sp[i].rank == x->rank && sp[i].node == x->node && sp[i].placed_ms == x->placed &&
                sp[i].alloc_ms == x->start && sp[i].end_ms == x->end;
    }
    return same;
}

LEAK_TEST(sched_sim, recorded_run_reproduced)
{
    static workload_t w;
    static precorder_t r;
    static fx_node_t nodes[8];
    for (uint64_t seed = 1; seed <= 5; seed++) {
        workload_init(&w, seed * 7919, true, true, -1);
        int nn = cluster_init(nodes, 0);
        memset(&r, 0, sizeof(r));
        r.w = &w;
        prec_run(&r, nodes, nn, NULL);
        cr_assert_gt(r.nrecs, (size_t)NJOBS, "a real workload");

        /* the trace: each attempt's recorded hold and ending, as the
         * recorder took them (the workload's own outcomes) */
        sched_sim_t *sim = sim_build(&w, nodes, nn);
        bool count;
        size_t same = prec_same(&r, sim, &count);
        cr_assert(count && same == r.nrecs, "seed %llu: %zu of %zu spans reproduced",
                  (unsigned long long)seed, same, r.nrecs);
        size_t n;
        const sched_sim_span_t *sp = sched_sim_spans(sim, &n);
        bool retried = false;
        for (size_t i = 0; i < n; i++)
            retried |= sp[i].number > 1;
        cr_assert(retried, "failed attempts were retried");
        sched_sim_destroy(sim);
    }
}

/* With the daemon's prefetch, queued attempts take over the allocation of
 * the one ahead of them when it ends, starts come a little after each
 * allocation: the simulation reproduces every span exactly (node, queued
 * time, takeover, end), lines lost with their node included. */
LEAK_TEST(sched_sim, recorded_run_with_prefetch_reproduced)
{
    static workload_t w;
    static precorder_t r;
    static fx_node_t nodes[8];
    size_t queued = 0, retried = 0, lost_lines = 0;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        workload_init_starts(&w, seed * 7919, true, seed % 2, seed % 3 ? 4 : -1);
        int nn = cluster_init(nodes, 0);
        memset(&r, 0, sizeof(r));
        r.w = &w;
        sched_config_t cfg = sched_config_daemon(true);
        prec_run(&r, nodes, nn, &cfg);
        sched_sim_t *sim = sim_build_cfg(&w, nodes, nn, &cfg, NULL, 0);
        bool count;
        size_t same = prec_same(&r, sim, &count);
        cr_assert(count && same == r.nrecs, "seed %llu: %zu of %zu spans reproduced",
                  (unsigned long long)seed, same, r.nrecs);
        sched_sim_stats_t st;
        sched_sim_stats(sim, &st);
        cr_assert_eq(st.queued, r.queued);
        queued += r.queued;
        size_t n;
        const sched_sim_span_t *sp = sched_sim_spans(sim, &n);
        for (size_t i = 0; i < n; i++) {
            retried += sp[i].number > 1;
            lost_lines += sp[i].placed_ms < sp[i].alloc_ms && sp[i].alloc_ms == sp[i].end_ms;
        }
        sched_sim_destroy(sim);
    }
    cr_log_info("%zu queued, %zu retried, %zu lost in their line", queued, retried, lost_lines);
    cr_assert_gt(queued, 20, "queued placements %zu", queued);
    cr_assert_gt(retried, 5, "retried attempts %zu", retried);
    cr_assert_gt(lost_lines, 0, "queued attempts lost with the one ahead of them");
}

/* The scheduler sees each event a moment after it happened and runs its
 * pass then: given the times of the passes that placed something, the
 * replay places at the same times; without them it places as events
 * happen, earlier. */
LEAK_TEST(sched_sim, replay_at_the_recorded_pass_times)
{
    static workload_t w;
    static precorder_t r;
    static fx_node_t nodes[8];
    size_t differs = 0;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        workload_init_starts(&w, seed * 104729, true, true, seed % 2 ? 4 : -1);
        int nn = cluster_init(nodes, 0);
        memset(&r, 0, sizeof(r));
        r.w = &w;
        r.lag_rng = seed * 31 + 7;
        sched_config_t cfg = sched_config_daemon(true);
        prec_run(&r, nodes, nn, &cfg);
        sched_sim_t *sim = sim_build_cfg(&w, nodes, nn, &cfg, r.passes, r.npasses);
        bool count;
        size_t same = prec_same(&r, sim, &count);
        cr_assert(count && same == r.nrecs, "seed %llu: %zu of %zu spans reproduced",
                  (unsigned long long)seed, same, r.nrecs);
        sched_sim_destroy(sim);
        sim = sim_build_cfg(&w, nodes, nn, &cfg, NULL, 0);
        differs += prec_same(&r, sim, &count) < r.nrecs;
        sched_sim_destroy(sim);
    }
    cr_assert_eq(differs, 4, "without the pass times the replay places earlier");
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

/* With prefetch, B (the same shape as A, on the one node A fills) is
 * queued behind A at once and takes A's GPUs over when A ends: it waited
 * 10 s (to its allocation, not to its queueing), and the GPUs are counted
 * once: 100% allocated, nothing idle. */
LEAK_TEST(sched_sim, metrics_with_prefetch_by_hand)
{
    fx_node_t node;
    fx_node_init(&node, "n0", 1, 8, 2, 2, "NVIDIA H100", 80 * GiB, 64 * GiB);
    sched_config_t cfg = sched_config_daemon(true);
    sched_sim_t *sim = sched_sim_create(&cfg);
    cairn_error_t err = {{0}};
    cr_assert_eq(sched_sim_node_add(sim, &node.d, &err), 0);
    sched_task_spec_t ta = fx_task("a", 1, 2), tb = fx_task("b", 1, 2);
    sched_job_spec_t ja = {.name = "A", .ntasks = 1, .tasks = &ta},
                     jb = {.name = "B", .ntasks = 1, .tasks = &tb};
    sched_sim_outcome_t o = {.hold_ms = 10000, .start_ms = 500, .end = SCHED_END_EXIT};
    const sched_sim_outcome_t *op = &o;
    uint32_t one = 1;
    cr_assert_eq(sched_sim_job_add(sim, 0, &ja, &one, &op, &err), 0);
    cr_assert_eq(sched_sim_job_add(sim, 0, &jb, &one, &op, &err), 0);
    cr_assert_eq(sched_sim_run(sim, &err), 0, "%s", err.text);
    sched_sim_stats_t st;
    sched_sim_stats(sim, &st);
    cr_assert_eq(st.queued, 1);
    size_t n;
    const sched_sim_span_t *sp = sched_sim_spans(sim, &n);
    cr_assert_eq(n, 2);
    cr_expect(sp[0].placed_ms == 0 && sp[0].alloc_ms == 0 && sp[0].end_ms == 10000);
    cr_expect(sp[1].placed_ms == 0 && sp[1].alloc_ms == 10000 && sp[1].end_ms == 20000,
              "queued at 0, took over at %lld, ended at %lld", (long long)sp[1].alloc_ms,
              (long long)sp[1].end_ms);
    sched_sim_report_t rep;
    cr_assert_eq(sched_sim_measure(sim, sp, n, &rep), 0);
    cr_assert_eq(rep.makespan_ms, 20000);
    cr_assert_eq(rep.wait_p50_ms, 0);
    cr_assert_eq(rep.wait_p95_ms, 10000);
    cr_assert_float_eq(rep.models[0].capacity_gpu_s, 40.0, 1e-9);
    cr_assert_float_eq(rep.models[0].alloc_gpu_s, 40.0, 1e-9);
    cr_assert_float_eq(rep.models[0].idle_waiting_gpu_s, 0.0, 1e-9);
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

/* Preemption in the simulation: two preemptible 1-core tasks of 100 s on
 * a 2-core node; at 1 s a 2-core task of priority 10 (2 s) preempts both,
 * which end at their grace's end (5 s later), when it starts; they run
 * again after it, replaying the same outcome from the start. */
LEAK_TEST(sim, preemption_ends_victims_at_their_grace)
{
    sched_sim_t *sim = sched_sim_create(NULL);
    fx_node_t n;
    fx_node_init(&n, "n1", 1, 2, 0, 0, NULL, 0, 64 * GiB);
    cr_assert_eq(sched_sim_node_add(sim, &n.d, NULL), 0);
    sched_task_spec_t low[2] = {fx_task("l0", 1, 0), fx_task("l1", 1, 0)};
    for (int i = 0; i < 2; i++) {
        low[i].preemptible = true;
        low[i].grace_ms = 5000;
    }
    sched_task_spec_t high[1] = {fx_task("h", 2, 0)};
    high[0].priority = 10;
    sched_job_spec_t lj = {.name = "low", .seed = 1, .ntasks = 2, .tasks = low};
    sched_job_spec_t hj = {.name = "high", .seed = 2, .ntasks = 1, .tasks = high};
    sched_sim_outcome_t lo = {.hold_ms = 100000, .end = SCHED_END_EXIT};
    sched_sim_outcome_t ho = {.hold_ms = 2000, .end = SCHED_END_EXIT};
    const sched_sim_outcome_t *lout[2] = {&lo, &lo}, *hout[1] = {&ho};
    uint32_t ln[2] = {1, 1}, hn[1] = {1};
    cr_assert_eq(sched_sim_job_add(sim, 0, &lj, ln, lout, NULL), 0);
    cr_assert_eq(sched_sim_job_add(sim, 1000, &hj, hn, hout, NULL), 0);
    cairn_error_t err = {{0}};
    cr_assert_eq(sched_sim_run(sim, &err), 0, "%s", err.text);
    sched_sim_stats_t st;
    sched_sim_stats(sim, &st);
    cr_expect_eq(st.preemptions, 1);
    size_t ns;
    const sched_sim_span_t *sp = sched_sim_spans(sim, &ns);
    cr_assert_eq(ns, 5, "two victims, the preemptor, the victims again");
    char got[512] = "";
    size_t len = 0;
    for (size_t i = 0; i < ns; i++)
        len += (size_t)snprintf(got + len, sizeof(got) - len, "j%u t%u #%u %lld-%lld\n", sp[i].job,
                                sp[i].task, sp[i].number, (long long)sp[i].alloc_ms,
                                (long long)sp[i].end_ms);
    cr_expect_str_eq(got, "j0 t0 #1 0-6000\n"
                          "j0 t1 #1 0-6000\n"
                          "j1 t0 #1 6000-8000\n"
                          "j0 t0 #2 8000-108000\n"
                          "j0 t1 #2 8000-108000\n");
    sched_sim_destroy(sim);
}
