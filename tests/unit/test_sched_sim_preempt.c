/* The what-if simulator with preemption: a run recorded as the scheduler
 * daemon runs the core (a pass 1 ms after each event, victims that stop
 * within their grace after the pass that preempted them) replays onto the
 * same nodes, GPUs and times, preemptions included; and what-ifs without
 * preemption, or with the simulation deciding it. */
#include <criterion/criterion.h>

#include "leak_check.h"
#include "sched_fixtures.h"
#include "scheduling/sim.h"

/* The workload: on node g (2 H100) and h (1 A100):
 *   base   prio 0, 1 A100 (only h has one), 300 s, not preemptible
 *   train  prio 0, a0 and a1 of 1 GPU each, preemptible, grace 30 s; a0
 *          stops 5 s after it is preempted, a1 7 s (they checkpoint)
 *   eval   prio 100 at 10 s, 2 H100 (only g: held by a0 and a1), 50 s
 *   eval2  prio 100 at 90 s, 2 H100, 20 s
 *   cpu    prio 0 at 20 s, 1 core, 20 s
 * Each attempt of a task runs its hold[number - 1] unless preempted. */
enum { BASE, TRAIN, EVAL, EVAL2, CPU, NJOBS };
typedef struct task_script {
    int64_t hold[4];
    int64_t stop_ms; /* after the pass that preempted it */
} task_script_t;

typedef struct wl {
    fx_node_t g, h;
    sched_task_spec_t tasks[NJOBS][2];
    sched_job_spec_t jobs[NJOBS];
    int64_t submit[NJOBS];
    task_script_t script[NJOBS][2];
} wl_t;

static void wl_init(wl_t *w)
{
    memset(w, 0, sizeof(*w));
    fx_node_init(&w->g, "g", 1, 8, 2, 2, "NVIDIA H100 80GB HBM3", 80 * GiB, 64 * GiB);
    fx_node_init(&w->h, "h", 1, 8, 1, 1, "NVIDIA A100 40GB", 40 * GiB, 64 * GiB);
    static const char *const names[NJOBS] = {"base", "train", "eval", "eval2", "cpu"};
    static const int64_t at[NJOBS] = {0, 0, 10000, 90000, 20000};
    for (int j = 0; j < NJOBS; j++) {
        w->tasks[j][0] = fx_task(names[j], 1, j == CPU ? 0 : 1);
        w->jobs[j] = (sched_job_spec_t){
            .name = names[j], .seed = (uint64_t)j + 1, .ntasks = 1, .tasks = w->tasks[j]};
        w->submit[j] = at[j];
    }
    w->tasks[BASE][0].req.gpu_model = "A100";
    w->script[BASE][0] = (task_script_t){.hold = {300000}};
    w->tasks[TRAIN][0] = fx_task("a0", 1, 1);
    w->tasks[TRAIN][1] = fx_task("a1", 1, 1);
    w->jobs[TRAIN].ntasks = 2;
    for (int k = 0; k < 2; k++) {
        w->tasks[TRAIN][k].preemptible = true;
        w->tasks[TRAIN][k].grace_ms = 30000;
        w->script[TRAIN][k] =
            (task_script_t){.hold = {100000, 60000, 45000, 45000}, .stop_ms = 5000 + 2000 * k};
    }
    for (int j = EVAL; j <= EVAL2; j++) {
        w->tasks[j][0].req.gpus = 2;
        w->tasks[j][0].req.gpu_model = "H100";
        w->tasks[j][0].priority = 100;
    }
    w->script[EVAL][0] = (task_script_t){.hold = {50000}};
    w->script[EVAL2][0] = (task_script_t){.hold = {20000}};
    w->script[CPU][0] = (task_script_t){.hold = {20000}};
}

/* One attempt as recorded. */
typedef struct rec {
    uint64_t id;
    uint32_t job, task, number, node;
    uint64_t gpu_mask;
    int64_t placed_ms, start_ms, end_ms;
    sched_end_t end;
} rec_t;

typedef struct run {
    sched_t *s;
    wl_t *w;
    uint32_t core_job[NJOBS]; /* core job id -> index: core_job[id - 1] */
    rec_t rec[64];
    size_t nrec;
    /* pending: submits (attempt 0, job j), starts and ends */
    struct pend {
        int64_t t;
        int kind; /* 0 submit, 1 start, 2 end */
        uint64_t attempt;
        uint32_t job;
        sched_end_t end;
    } pend[128];
    size_t npend;
    int64_t now;
} run_t;

static rec_t *rec_of(run_t *r, uint64_t id)
{
    for (size_t i = 0; i < r->nrec; i++)
        if (r->rec[i].id == id)
            return &r->rec[i];
    return NULL;
}

static void pend(run_t *r, struct pend p)
{
    cr_assert_lt(r->npend, 128);
    r->pend[r->npend++] = p;
}

static void pass_cb(const sched_event_t *ev, void *arg)
{
    run_t *r = arg;
    if (ev->type == SCHED_EV_PREEMPT) {
        /* each victim checkpoints and exits stop_ms later, within its grace */
        for (uint32_t i = 0; i < ev->u.preempt.nvictims; i++) {
            const rec_t *v = rec_of(r, ev->u.preempt.victims[i]);
            cr_assert_not_null(v);
            int64_t stop = r->w->script[v->job][v->task].stop_ms;
            cr_assert_leq(ev->time_ms + stop, ev->u.preempt.grace_end_ms);
            pend(r, (struct pend){ev->time_ms + stop, 2, v->id, 0, SCHED_END_PREEMPTED});
        }
        return;
    }
    sched_attempt_info_t ai;
    cr_assert_eq(sched_attempt_get(r->s, ev->u.place.attempt, &ai), 0);
    cr_assert(!ai.queued, "no prefetch here");
    uint32_t j = r->core_job[ai.job - 1];
    cr_assert_lt(r->nrec, 64);
    r->rec[r->nrec++] = (rec_t){.id = ai.id,
                                .job = j,
                                .task = ai.task,
                                .number = ai.number,
                                .node = ai.allocs[0].node,
                                .gpu_mask = ai.allocs[0].gpu_mask,
                                .placed_ms = ev->time_ms};
    /* the process starts 1 ms after the placement and runs its hold */
    pend(r, (struct pend){ev->time_ms + 1, 1, ai.id, 0, SCHED_END_NONE});
    pend(r, (struct pend){ev->time_ms + r->w->script[j][ai.task].hold[ai.number - 1], 2, ai.id, 0,
                          SCHED_END_EXIT});
}

/* The recorded run: the core driven as the daemon drives it. */
static void record(run_t *r, wl_t *w)
{
    memset(r, 0, sizeof(*r));
    r->w = w;
    sched_config_t cfg = sched_config_daemon(false);
    r->s = sched_create(&cfg);
    cr_assert_not_null(r->s);
    cr_assert_eq(fx_add_node(r->s, NULL, &w->g), 0);
    cr_assert_eq(fx_add_node(r->s, NULL, &w->h), 0);
    for (uint32_t j = 0; j < NJOBS; j++)
        pend(r, (struct pend){w->submit[j], 0, 0, j, SCHED_END_NONE});
    while (r->npend) {
        int64_t t = INT64_MAX;
        for (size_t i = 0; i < r->npend; i++)
            t = r->pend[i].t < t ? r->pend[i].t : t;
        /* everything due at t, in the order it was scheduled */
        for (size_t i = 0; i < r->npend;) {
            struct pend p = r->pend[i];
            if (p.t != t) {
                i++;
                continue;
            }
            memmove(&r->pend[i], &r->pend[i + 1], (r->npend - i - 1) * sizeof(p));
            r->npend--;
            if (p.kind == 0) {
                cr_assert_eq(fx_submit(r->s, NULL, &w->jobs[p.job], t), 0);
                r->core_job[sched_job_count(r->s) - 1] = p.job;
                continue;
            }
            rec_t *a = rec_of(r, p.attempt);
            if (a->end != SCHED_END_NONE)
                continue; /* stopped already (preempted) */
            if (p.kind == 1) {
                sched_event_t ev = {.type = SCHED_EV_START, .time_ms = t, .u.start.attempt = a->id};
                cr_assert_eq(fx_apply(r->s, NULL, &ev), 0);
                a->start_ms = t;
            } else {
                cr_assert_eq(fx_finish(r->s, NULL, a->id, p.end, 0, t), 0);
                a->end_ms = t;
                a->end = p.end;
            }
        }
        /* the daemon's pass, a moment after what it saw */
        cr_assert_geq(sched_place(r->s, t + 1, pass_cb, r), 0);
    }
}

/* The recorded attempts of (job, task) as the plan turns them into
 * outcomes: held from the placement to the end, started after it, ended
 * as recorded (preempted ones too). */
static uint32_t outcomes(const run_t *r, uint32_t job, uint32_t task, sched_sim_outcome_t *out,
                         bool keep_preempted)
{
    uint32_t n = 0;
    for (uint32_t number = 1;; number++) {
        const rec_t *a = NULL;
        for (size_t i = 0; i < r->nrec && !a; i++)
            if (r->rec[i].job == job && r->rec[i].task == task && r->rec[i].number == number)
                a = &r->rec[i];
        if (!a)
            return n;
        if (a->end == SCHED_END_PREEMPTED && !keep_preempted)
            continue;
        /* a victim wrote its checkpoint 1 s before it stopped */
        out[n++] = (sched_sim_outcome_t){
            .hold_ms = a->end_ms - a->placed_ms,
            .start_ms = a->start_ms - a->placed_ms,
            .end = a->end,
            .kept_ms = a->end == SCHED_END_PREEMPTED ? a->end_ms - 1000 - a->placed_ms : 0};
    }
}

typedef struct replay {
    sched_task_spec_t tasks[NJOBS][2];
    sched_job_spec_t jobs[NJOBS];
    sched_sim_outcome_t out[NJOBS][2][8];
    const sched_sim_outcome_t *outp[NJOBS][2];
    uint32_t nout[NJOBS][2];
} replay_t;

/* A simulation of w's cluster replaying r's attempts: the recorded pass
 * times (exact), or every event's (what_if). preemptible: tasks keep the
 * spec's; else none is. */
static sched_sim_t *replay(const run_t *r, wl_t *w, replay_t *rp, bool exact, bool preemptible)
{
    sched_config_t cfg = sched_config_daemon(false);
    sched_sim_t *sim = sched_sim_create(&cfg);
    cr_assert_not_null(sim);
    cairn_error_t err = {{0}};
    cr_assert_eq(sched_sim_node_add(sim, &w->g.d, &err), 0, "%s", err.text);
    cr_assert_eq(sched_sim_node_add(sim, &w->h.d, &err), 0, "%s", err.text);
    if (exact) {
        int64_t at[64];
        for (size_t i = 0; i < r->nrec; i++)
            at[i] = r->rec[i].placed_ms;
        cr_assert_eq(sched_sim_pass_times(sim, at, r->nrec, &err), 0, "%s", err.text);
    }
    memcpy(rp->tasks, w->tasks, sizeof(rp->tasks));
    for (uint32_t j = 0; j < NJOBS; j++) {
        rp->jobs[j] = w->jobs[j];
        rp->jobs[j].tasks = rp->tasks[j];
        for (uint32_t k = 0; k < rp->jobs[j].ntasks; k++) {
            rp->tasks[j][k].preemptible = preemptible && rp->tasks[j][k].preemptible;
            rp->nout[j][k] = outcomes(r, j, k, rp->out[j][k], exact);
            rp->outp[j][k] = rp->out[j][k];
            rp->tasks[j][k].retry.max_attempts = rp->nout[j][k];
        }
        cr_assert_eq(
            sched_sim_job_add(sim, w->submit[j], &rp->jobs[j], rp->nout[j], rp->outp[j], &err), 0,
            "%s", err.text);
    }
    cr_assert_eq(sched_sim_run(sim, &err), 0, "%s", err.text);
    return sim;
}

/* The span of (job, task, number), NULL if none. */
static const sched_sim_span_t *span(const sched_sim_t *sim, uint32_t job, uint32_t task,
                                    uint32_t number)
{
    size_t n;
    const sched_sim_span_t *sp = sched_sim_spans(sim, &n);
    for (size_t i = 0; i < n; i++)
        if (sp[i].job == job && sp[i].task == task && sp[i].number == number)
            return &sp[i];
    return NULL;
}

LEAK_TEST(sim_preempt, a_recorded_run_with_preemptions_replays_exactly)
{
    static wl_t w;
    static run_t r;
    static replay_t rp;
    wl_init(&w);
    record(&r, &w);
    /* the recording preempted a0 and a1 twice each (eval, eval2), and
     * each resumed: three attempts each; 10 attempts in all */
    size_t preempted = 0;
    for (size_t i = 0; i < r.nrec; i++)
        preempted += r.rec[i].end == SCHED_END_PREEMPTED;
    cr_assert_eq(preempted, 4);
    cr_assert_eq(r.nrec, 10);
    cr_assert_not_null(rec_of(&r, 1));
    sched_sim_t *sim = replay(&r, &w, &rp, true, true);
    size_t n;
    sched_sim_spans(sim, &n);
    cr_assert_eq(n, r.nrec, "%zu spans for %zu recorded attempts", n, r.nrec);
    for (size_t i = 0; i < r.nrec; i++) {
        const rec_t *a = &r.rec[i];
        const sched_sim_span_t *sp = span(sim, a->job, a->task, a->number);
        cr_assert_not_null(sp, "job %u task %u attempt %u not replayed", a->job, a->task,
                           a->number);
        cr_expect_eq(sp->node, a->node, "job %u task %u #%u: node", a->job, a->task, a->number);
        cr_expect_eq(sp->gpu_mask, a->gpu_mask, "job %u task %u #%u: GPUs", a->job, a->task,
                     a->number);
        cr_expect_eq(sp->placed_ms, a->placed_ms, "job %u task %u #%u: placed %lld, not %lld",
                     a->job, a->task, a->number, (long long)sp->placed_ms, (long long)a->placed_ms);
        cr_expect_eq(sp->end_ms, a->end_ms, "job %u task %u #%u: ended %lld, not %lld", a->job,
                     a->task, a->number, (long long)sp->end_ms, (long long)a->end_ms);
    }
    sched_sim_stats_t st;
    sched_sim_stats(sim, &st);
    cr_expect_eq(st.preempted_attempts, 4);
    /* each lost 1 GPU for the 1 s after its checkpoint */
    cr_expect(st.preempted_gpu_s > 4 - 1e-6 && st.preempted_gpu_s < 4 + 1e-6,
              "%f GPU-s lost to preemption, not 4", st.preempted_gpu_s);
    cr_expect_eq(st.unplaced + st.rejected, 0);
    sched_sim_destroy(sim);
    sched_destroy(r.s);
}

/* Without preemption (no task preemptible, the preempted attempts' work
 * left out), eval waits for a0 and a1 to end their first recorded
 * non-preempted attempts; with the simulation deciding, the victims stop at
 * their grace's end (30 s), not when they stopped in the record, and
 * their work is done again. */
LEAK_TEST(sim_preempt, what_if_without_preemption_and_decided_by_the_simulation)
{
    static wl_t w;
    static run_t r;
    static replay_t rp;
    wl_init(&w);
    record(&r, &w);
    sched_sim_t *none = replay(&r, &w, &rp, false, false);
    sched_sim_stats_t st;
    sched_sim_stats(none, &st);
    cr_expect_eq(st.preemptions, 0);
    cr_expect_eq(st.preempted_attempts, 0);
    const sched_sim_span_t *a0 = span(none, TRAIN, 0, 1), *a1 = span(none, TRAIN, 1, 1),
                           *e = span(none, EVAL, 0, 1);
    cr_assert(a0 && a1 && e);
    cr_expect_null(span(none, TRAIN, 0, 2), "a0 ran once");
    int64_t both = a0->end_ms > a1->end_ms ? a0->end_ms : a1->end_ms;
    cr_expect_eq(e->placed_ms, both, "eval placed at %lld, when a0 and a1 ended (%lld)",
                 (long long)e->placed_ms, (long long)both);
    sched_sim_destroy(none);

    sched_sim_t *sim = replay(&r, &w, &rp, false, true);
    sched_sim_stats(sim, &st);
    /* eval, at 10 s, preempts a0 and a1 (their recorded work, 45 s each,
     * would end at 45 s); they stop at the grace's end, 40 s, and eval
     * runs from then to 90 s; then eval2, submitted at 90 s, takes g
     * before a0 and a1 come back (priority 100): it preempts nothing */
    cr_expect_eq(st.preemptions, 1);
    cr_expect_eq(st.preempted_attempts, 2);
    a0 = span(sim, TRAIN, 0, 1);
    e = span(sim, EVAL, 0, 1);
    cr_assert(a0 && e);
    cr_expect_eq(a0->end_ms, 10000 + 30000);
    cr_expect_eq(e->placed_ms, 10000 + 30000);
    /* 2 victims x 1 GPU x 40 s: the simulation's own preemptions know of
     * no checkpoint, their whole attempt is lost */
    cr_expect(st.preempted_gpu_s > 80 - 1e-6 && st.preempted_gpu_s < 80 + 1e-6, "%f",
              st.preempted_gpu_s);
    /* their work is done again by the next attempt, whole: 45 s after
     * eval2's end at 110 s */
    a0 = span(sim, TRAIN, 0, 2);
    cr_assert_not_null(a0);
    cr_expect_eq(a0->placed_ms, 110000);
    cr_expect_eq(a0->end_ms, 110000 + 45000);
    sched_sim_destroy(sim);
    sched_destroy(r.s);
}

/* An attempt recorded preempted that the replay cannot preempt (nothing
 * wants its GPU here, another cluster or workload): at its recorded end a
 * pass runs, preempts nothing, and it ends killed (signal 9), its task
 * retried as its policy says; nothing counts as preempted. */
LEAK_TEST(sim_preempt, a_recorded_preemption_the_replay_cannot_make_ends_killed)
{
    fx_node_t node;
    fx_node_init(&node, "g", 1, 8, 2, 2, "NVIDIA H100 80GB HBM3", 80 * GiB, 64 * GiB);
    sched_sim_t *sim = sched_sim_create(NULL);
    cr_assert_not_null(sim);
    cairn_error_t err = {{0}};
    cr_assert_eq(sched_sim_node_add(sim, &node.d, &err), 0, "%s", err.text);
    sched_task_spec_t t = fx_task("a", 1, 1);
    t.preemptible = true;
    t.grace_ms = 30000;
    t.retry = (sched_retry_policy_t){.max_attempts = 2, .on = SCHED_RETRY_SIGNAL};
    sched_job_spec_t j = {.name = "j", .seed = 1, .ntasks = 1, .tasks = &t};
    sched_sim_outcome_t out[2] = {
        {.hold_ms = 5000, .end = SCHED_END_PREEMPTED, .kept_ms = 4000},
        {.hold_ms = 10000, .end = SCHED_END_EXIT},
    };
    const sched_sim_outcome_t *outp = out;
    uint32_t nout = 2;
    cr_assert_eq(sched_sim_job_add(sim, 0, &j, &nout, &outp, &err), 0, "%s", err.text);
    cr_assert_eq(sched_sim_run(sim, &err), 0, "%s", err.text);
    const sched_sim_span_t *a1 = span(sim, 0, 0, 1), *a2 = span(sim, 0, 0, 2);
    cr_assert(a1 && a2);
    cr_expect_eq(a1->end_ms, 5000);
    cr_expect_eq(a2->placed_ms, 5000, "retried at once (no backoff)");
    cr_expect_eq(a2->end_ms, 15000);
    sched_sim_stats_t st;
    sched_sim_stats(sim, &st);
    cr_expect_eq(st.preemptions, 0);
    cr_expect_eq(st.preempted_attempts, 0);
    cr_expect_eq(st.unplaced, 0);
    sched_sim_destroy(sim);
}
