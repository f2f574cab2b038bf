/* Snapshots of the core (snapshot.h): a state saved and loaded is the same
 * state. Seeded random runs (DAGs, gangs, GPUs of two models, retries with
 * backoff, prefetch lines, cancels, nodes lost, drained and returning,
 * retirements, accounts with limits, fair share and decaying usage,
 * preemptible tasks preempted for priority or fair share) are
 * recorded as a list of steps (events, placement passes,
 * trims of the ended list). At many points k the steps before k are
 * replayed into a fresh state, which is saved and loaded; the loaded state
 * must dump the same, save to the same bytes, and then, given the steps
 * after k, make every placement the run made, pass by pass, and end in the
 * run's final state. Corrupt and hostile snapshots give errors. */
#include <criterion/criterion.h>

#include "leak_check.h"
#include "sched_fixtures.h"
#include "scheduling/snapshot.h"

#define MAX_NODES 8
#define MAX_JOBS 48
#define MAX_TASKS 12
#define STEP_PASS 100 /* a placement pass at time_ms */
#define STEP_TRIM 101 /* the daemon's sched_ended_trim of what it recorded */

typedef struct run {
    uint64_t rng;
    uint64_t rng_pre;  /* preemption's draws: the others' stream stays as it was */
    uint64_t rng_topo; /* topology's draws, likewise */
    sched_config_t cfg;
    sched_t *s;
    fx_journal_t steps;
    char **passes; /* what each pass placed, in order */
    size_t npasses;
    fx_node_t nodes[MAX_NODES];
    int nnodes;
    sched_node_state_t out[MAX_NODES];
    sched_task_spec_t tasks[MAX_JOBS][MAX_TASKS];
    char names[MAX_JOBS][MAX_TASKS][16];
    const char *needs[MAX_JOBS][MAX_TASKS][2];
    sched_job_spec_t jobs[MAX_JOBS];
    int njobs;
    int64_t now;
} run_t;

static const char *const acct_names[] = {"ai", "vision", "nlp", "ops", "x.y", "z-1"};

static uint32_t rnd(run_t *m, uint32_t n)
{
    return (uint32_t)(fx_rand(&m->rng) % n);
}

static uint32_t rnd_pre(run_t *m, uint32_t n)
{
    return (uint32_t)(fx_rand(&m->rng_pre) % n);
}

static uint32_t rnd_topo(run_t *m, uint32_t n)
{
    return (uint32_t)(fx_rand(&m->rng_topo) % n);
}

static void step(run_t *m, int type)
{
    sched_event_t ev = {.type = (sched_event_type_t)type, .time_ms = m->now};
    fx_journal_add(&m->steps, &ev);
}

static void pass(run_t *m)
{
    fx_pass_t *p = calloc(1, sizeof(*p));
    cr_assert_geq(fx_place(m->s, NULL, m->now, p), 0);
    m->passes = realloc(m->passes, (m->npasses + 1) * sizeof(char *));
    m->passes[m->npasses++] = strdup(p->buf);
    free(p);
    step(m, STEP_PASS);
}

static void submit(run_t *m)
{
    static const char *const zone[] = {"zone=a"};
    if (m->njobs >= MAX_JOBS)
        return;
    int j = m->njobs;
    uint32_t n = 1 + rnd(m, MAX_TASKS);
    for (uint32_t i = 0; i < n; i++) {
        snprintf(m->names[j][i], sizeof(m->names[j][i]), "t%u", i);
        sched_task_spec_t *t = &m->tasks[j][i];
        *t = fx_task(m->names[j][i], 1 + rnd(m, 3), rnd(m, 3) == 0 ? 1 + rnd(m, 2) : 0);
        t->req.memory_bytes = rnd(m, 3) * GiB;
        t->priority = (int32_t)rnd(m, 3) - 1;
        t->time_limit_ms = rnd(m, 2) ? 50 + rnd(m, 500) : 0;
        t->replicas = rnd(m, 8) == 0 ? 2 : 1;
        if (rnd(m, 8) == 0) {
            t->req.labels = zone;
            t->req.nlabels = 1;
        }
        if (t->req.gpus && rnd(m, 3) == 0)
            t->req.gpu_model = "H100";
        t->retry = (sched_retry_policy_t){.max_attempts = 1 + rnd(m, 3),
                                          .backoff_ms = rnd(m, 60),
                                          .factor_milli = 2000,
                                          .jitter_pct = rnd(m, 2) * 20,
                                          .on = rnd(m, 2) ? 0 : SCHED_RETRY_ANY_EXIT};
        /* failure classes (format 4), from the indexes: the streams of
         * the workload stay as they were */
        if ((i + (uint32_t)j) % 3 == 1)
            t->retry.on |=
                (t->retry.on ? 0 : SCHED_RETRY_DEFAULT) | SCHED_RETRY_OOM | SCHED_RETRY_LOG;
        if (rnd_pre(m, 3) == 0) {
            t->preemptible = true;
            t->grace_ms = rnd_pre(m, 80);
            t->max_preemptions = rnd_pre(m, 3);
        }
        if (t->replicas > 1 && rnd_topo(m, 2) == 0) {
            t->placement = rnd_topo(m, 2) ? SCHED_PLACEMENT_PACK : SCHED_PLACEMENT_REQUIRE;
            t->placement_level = rnd_topo(m, 2) ? "rack" : "block";
        }
        uint32_t nd = i ? rnd(m, 3) : 0;
        for (uint32_t k = 0; k < nd && k < 2; k++)
            m->needs[j][i][k] = m->names[j][rnd(m, i)];
        t->needs = m->needs[j][i];
        t->nneeds = nd < 2 ? nd : 2;
    }
    m->jobs[j] = (sched_job_spec_t){
        .name = "job", .user = "ann", .seed = fx_rand(&m->rng), .ntasks = n, .tasks = m->tasks[j]};
    m->jobs[j].account = rnd(m, 3) ? acct_names[rnd(m, 6)] : NULL;
    if (fx_submit(m->s, &m->steps, &m->jobs[j], m->now) == 0)
        m->njobs++;
}

/* Accounts: a small tree, changed as the run goes (created, limits and
 * parents changed, deleted when idle), so snapshots carry accounts, their
 * limits and usage that decays (a half-life of a few hundred ms). */

static void account_event(run_t *m)
{
    sched_event_t ev = {.type = SCHED_EV_ACCOUNT_SET, .time_ms = m->now};
    const char *name = acct_names[rnd(m, 6)];
    if (rnd(m, 5) == 0) {
        ev.type = SCHED_EV_ACCOUNT_DELETE;
        ev.u.account_delete.name = name;
    } else {
        static const uint32_t lim[] = {SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED, 2, 4, 8};
        ev.u.account_set = (sched_account_spec_t){
            .name = name,
            .parent = rnd(m, 2) ? NULL : acct_names[rnd(m, 6)],
            .share = 1 + rnd(m, 4),
            .max_gpus = lim[rnd(m, 6)],
            .max_cpus = lim[rnd(m, 6)] == SCHED_UNLIMITED ? SCHED_UNLIMITED : 2 + rnd(m, 8),
            .max_running = lim[rnd(m, 6)],
            .max_priority = rnd(m, 8) ? SCHED_NO_PRIORITY_CAP : 0};
    }
    (void)fx_apply(m->s, &m->steps, &ev); /* cycles, unknown parents, busy: refused */
}

/* Attempts holding resources (queued ones hold nothing). */
static size_t holding(run_t *m, uint64_t *ids, size_t max)
{
    size_t n = 0;
    sched_attempt_info_t a;
    uint64_t last = 0;
    for (uint32_t j = sched_job_first(m->s); j && j <= sched_job_count(m->s); j++)
        for (uint32_t t = 0; t < sched_job_ntasks(m->s, j); t++) {
            uint64_t id = sched_task_attempt_id(m->s, j, t);
            if (id && sched_attempt_get(m->s, id, &a) == 0 && a.end == SCHED_END_NONE &&
                !a.queued && n < max && id != last)
                ids[n++] = last = id;
        }
    return n;
}

/* A GPU found sick, or returned to service (SCHED_EV_GPU_HEALTH): a node
 * has at most one sick GPU at a time, healed at its next event. */
static void gpu_event(run_t *m)
{
    uint32_t i = rnd(m, (uint32_t)m->nnodes), n;
    sched_gpu_desc_t gd;
    sched_event_t ev = {.type = SCHED_EV_GPU_HEALTH, .time_ms = m->now};
    ev.u.gpu_health.node = i;
    for (n = 0; sched_node_gpu(m->s, i, n, &gd); n++)
        if (gd.unhealthy) { /* heal it */
            ev.u.gpu_health.gpu = n;
            cr_assert_eq(fx_apply(m->s, &m->steps, &ev), 0);
            return;
        }
    if (!n)
        return; /* a node without GPUs */
    ev.u.gpu_health.gpu = rnd(m, n);
    ev.u.gpu_health.reason = rnd(m, 2) ? "Xid 79" : "double-bit ECC error";
    cr_assert_eq(fx_apply(m->s, &m->steps, &ev), 0);
}

static void node_event(run_t *m)
{
    int i = (int)rnd(m, (uint32_t)m->nnodes);
    if (rnd(m, 8) == 0) {
        gpu_event(m);
        return;
    }
    sched_event_t ev = {.type = SCHED_EV_NODE_STATE, .time_ms = m->now};
    ev.u.node_state.node = (uint32_t)i;
    if (m->out[i] == SCHED_NODE_DRAINING) {
        ev.u.node_state.state = SCHED_NODE_UP; /* undrain */
        cr_assert_eq(fx_apply(m->s, &m->steps, &ev), 0);
    } else if (m->out[i] == SCHED_NODE_DOWN && rnd(m, 3) == 0) {
        ev.type = SCHED_EV_NODE_REMOVE; /* forgotten, a tombstone; refused while it holds work */
        ev.u.node_remove.node = (uint32_t)i;
        if (fx_apply(m->s, &m->steps, &ev) == 0)
            m->out[i] = SCHED_NODE_REMOVED;
        return;
    } else if (m->out[i] != SCHED_NODE_UP) {
        cr_assert_eq(fx_add_node(m->s, &m->steps, &m->nodes[i]), 0);
    } else {
        static const sched_node_state_t outs[] = {SCHED_NODE_DOWN, SCHED_NODE_DRAINING,
                                                  SCHED_NODE_RETURNING};
        ev.u.node_state.state = outs[rnd(m, 3)];
        ev.u.node_state.reason = rnd(m, 2) ? "disk" : NULL;
        cr_assert_eq(fx_apply(m->s, &m->steps, &ev), 0);
        m->out[i] = ev.u.node_state.state;
        return;
    }
    m->out[i] = SCHED_NODE_UP;
}

static void one_step(run_t *m)
{
    m->now += 1 + rnd(m, 30);
    uint64_t ids[512];
    size_t n = holding(m, ids, 512);
    sched_attempt_info_t ai;
    for (size_t k = 0; k < n; k++) /* preempted ones are killed at their grace's end */
        if (sched_attempt_get(m->s, ids[k], &ai) == 0 && ai.preempted && ai.grace_end_ms <= m->now)
            cr_assert_eq(fx_finish(m->s, &m->steps, ids[k], SCHED_END_PREEMPTED, 0, m->now), 0);
    n = holding(m, ids, 512);
    uint32_t act = rnd(m, 100);
    sched_event_t ev = {.time_ms = m->now};
    if (act < 45 && n) {
        static const sched_end_t ends[] = {SCHED_END_EXIT, SCHED_END_EXIT, SCHED_END_EXIT,
                                           SCHED_END_SIGNAL, SCHED_END_TIMEOUT};
        sched_end_t e = ends[rnd(m, 5)];
        uint64_t id = ids[rnd(m, (uint32_t)n)];
        cr_assert_eq(sched_attempt_get(m->s, id, &ai), 0);
        if (ai.preempted && rnd_pre(m, 2))
            e = SCHED_END_PREEMPTED;
        int code = e == SCHED_END_EXIT ? (int)(rnd(m, 3) == 0) : 9;
        /* a failure gets a class now and then (from its id and the time) */
        sched_end_class_t cls = sched_end_class_allowed(e, code)
                                    ? (sched_end_class_t)((id + (uint64_t)m->now) % 4)
                                    : SCHED_CLASS_NONE;
        cr_assert_eq(fx_finish_class(m->s, &m->steps, id, e, code, cls, m->now), 0);
    } else if (act < 58 && n) {
        ev.type = SCHED_EV_START;
        ev.u.start.attempt = ids[rnd(m, (uint32_t)n)];
        cr_assert_eq(fx_apply(m->s, &m->steps, &ev), 0);
    } else if (act < 64) {
        node_event(m);
    } else if (act < 67 && m->njobs) {
        ev.type = SCHED_EV_CANCEL;
        ev.u.cancel.job = 1 + rnd(m, (uint32_t)m->njobs);
        ev.u.cancel.task = rnd(m, 2) ? -1 : 0;
        (void)fx_apply(m->s, &m->steps, &ev); /* a retired job: ENOENT */
    } else if (act < 76) {
        submit(m);
    } else if (act < 84) {
        uint32_t done[4];
        size_t k = sched_jobs_done_before(m->s, m->now - 20, done, 4);
        for (size_t i = 0; i < k; i++) {
            ev.type = SCHED_EV_JOB_RETIRE;
            ev.u.retire.job = done[i];
            (void)fx_apply(m->s, &m->steps, &ev); /* refused while attempts hold */
        }
    } else if (act < 88) {
        size_t all = sched_ended_count(m->s), back = rnd(m, 3);
        size_t upto = all > back ? all - back : 0;
        sched_ended_trim(m->s, upto);
        step(m, STEP_TRIM);
        m->steps.ev[m->steps.n - 1].u.start.attempt = upto;
    } else if (act < 96) {
        account_event(m);
    }
    pass(m);
}

static run_t *run_make(uint64_t seed, int steps)
{
    static const char *const models[] = {"NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3"};
    run_t *m = calloc(1, sizeof(*m));
    m->rng = seed * 0x9e3779b97f4a7c15ull + 7;
    m->rng_pre = seed * 0xd1b54a32d192ed03ull + 9;
    m->rng_topo = seed * 0x94d049bb133111ebull + 11;
    uint32_t p = (uint32_t)(seed % 3);
    m->cfg = (sched_config_t){.max_reservations = 1 + (uint32_t)(seed % 2),
                              .prefetch = p,
                              .prefetch_max = p ? 4 : 0,
                              .prefetch_window_ms = p ? 200 : 0,
                              .fs_gpu_weight = 1 + (uint32_t)(seed % 20),
                              .fs_half_life_ms = 100 + (int64_t)(seed % 7) * 50,
                              .preempt_for_fair_share = seed % 2 == 0,
                              .topology_levels = "rack,block"};
    m->s = sched_create(&m->cfg);
    m->nnodes = 3 + (int)rnd(m, MAX_NODES - 2);
    for (int i = 0; i < m->nnodes; i++) {
        char name[16];
        snprintf(name, sizeof(name), "node%02d", i);
        static const int gpus[] = {0, 2, 4};
        fx_node_init(&m->nodes[i], name, 1 + (int)rnd(m, 2), 2 + (int)rnd(m, 4), gpus[rnd(m, 3)], 2,
                     models[rnd(m, 2)], 80 * GiB, (8 + 8 * rnd(m, 3)) * GiB);
        if (rnd(m, 3) == 0) {
            m->nodes[i].labels[0] = "zone=a";
            m->nodes[i].d.nlabels = 1;
        }
        static const char *const racks[] = {"topology.rack=r1", "topology.rack=r2",
                                            "topology.rack=r3"};
        uint32_t rack = rnd_topo(m, 3);
        m->nodes[i].labels[m->nodes[i].d.nlabels++] = racks[rack];
        m->nodes[i].labels[m->nodes[i].d.nlabels++] =
            rack < 2 ? "topology.block=k1" : "topology.block=k2";
        cr_assert_eq(fx_add_node(m->s, &m->steps, &m->nodes[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        sched_event_t ev = {.type = SCHED_EV_ACCOUNT_SET, .time_ms = m->now};
        ev.u.account_set = (sched_account_spec_t){.name = acct_names[i],
                                                  .share = 1,
                                                  .max_gpus = SCHED_UNLIMITED,
                                                  .max_cpus = SCHED_UNLIMITED,
                                                  .max_running = SCHED_UNLIMITED,
                                                  .max_priority = SCHED_NO_PRIORITY_CAP};
        cr_assert_eq(fx_apply(m->s, &m->steps, &ev), 0);
    }
    for (int i = 0; i < 4; i++)
        account_event(m);
    for (int i = 0; i < 3; i++)
        submit(m);
    for (int i = 0; i < steps; i++)
        one_step(m);
    return m;
}

static void run_free(run_t *m)
{
    for (size_t i = 0; i < m->npasses; i++)
        free(m->passes[i]);
    free(m->passes);
    fx_journal_fini(&m->steps);
    sched_destroy(m->s);
    free(m);
}

/* Apply steps [from, to) to s; *pass counts the passes before from. Every
 * pass must place what the run placed. */
static void replay(const run_t *m, sched_t *s, size_t from, size_t to, size_t *npass, uint64_t seed)
{
    fx_pass_t *p = calloc(1, sizeof(*p));
    for (size_t i = from; i < to; i++) {
        const sched_event_t *ev = &m->steps.ev[i];
        if ((int)ev->type == STEP_PASS) {
            cr_assert_geq(fx_place(s, NULL, ev->time_ms, p), 0);
            cr_assert_str_eq(p->buf, m->passes[*npass], "seed %llu step %zu pass %zu",
                             (unsigned long long)seed, i, *npass);
            (*npass)++;
        } else if ((int)ev->type == STEP_TRIM) {
            sched_ended_trim(s, ev->u.start.attempt);
        } else if (ev->type != SCHED_EV_PLACE) { /* placements come from the passes */
            cairn_error_t err = {{0}};
            int rc = sched_apply(s, ev, &err);
            cr_assert(rc == 0 || ev->type == SCHED_EV_CANCEL || ev->type == SCHED_EV_JOB_RETIRE,
                      "seed %llu step %zu: %s", (unsigned long long)seed, i, err.text);
        }
    }
    free(p);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

LEAK_TEST(snapshot, load_equals_replay_at_every_point)
{
    size_t points = 0, retired = 0, retrying = 0, queued = 0, lost = 0, drained = 0, sick = 0;
    size_t charged = 0, used = 0, limited = 0, preempted = 0, holds = 0, classed = 0;
    for (uint64_t seed = 1; seed <= 12; seed++) {
        run_t *m = run_make(seed, 160);
        char *final = sched_dump(m->s);
        for (size_t k = 0; k <= m->steps.n; k += 5) {
            sched_t *a = sched_create(&m->cfg);
            size_t npass = 0;
            replay(m, a, 0, k, &npass, seed);
            char *da = sched_dump(a);
            retired += strstr(da, "retired ") != NULL;
            retrying += count(da, " retrying ");
            queued += count(da, " after=");
            lost += count(da, " node-lost");
            drained += count(da, " drained[");
            sick += count(da, " sick[");
            charged += count(da, " account "); /* jobs charged to an account */
            used += count(da, "\naccount ") - count(da, " usage 0 ");
            preempted += count(da, " preempted_by=");
            holds += count(da, "\nhold job");
            classed += count(da, " class=");
            for (uint32_t j = sched_job_first(a); j && j <= sched_job_count(a); j++)
                for (uint32_t t = 0; t < sched_job_ntasks(a, j); t++) {
                    char *why = sched_explain(a, j, t, m->now);
                    limited += strstr(why, "waiting on a limit") != NULL;
                    free(why);
                }
            uint8_t *snap = NULL, *again = NULL;
            size_t len = 0, len2 = 0;
            cairn_error_t err = {{0}};
            cr_assert_eq(sched_snapshot_save(a, &snap, &len, &err), 0);
            sched_t *b = NULL;
            cr_assert_eq(sched_snapshot_load(snap, len, &m->cfg, &b, &err), 0,
                         "seed %llu k %zu: %s", (unsigned long long)seed, k, err.text);
            char *db = sched_dump(b);
            cr_assert_str_eq(da, db, "seed %llu k %zu: the loaded state differs",
                             (unsigned long long)seed, k);
            cr_assert_eq(sched_snapshot_save(b, &again, &len2, &err), 0);
            cr_assert(len == len2 && memcmp(snap, again, len) == 0,
                      "seed %llu k %zu: saving the loaded state gives other bytes",
                      (unsigned long long)seed, k);
            cr_assert_eq(sched_next_wakeup(a), sched_next_wakeup(b));
            /* the rest of the run, on the loaded state: the same placements */
            size_t bpass = npass;
            replay(m, b, k, m->steps.n, &bpass, seed);
            char *fb = sched_dump(b);
            cr_assert_str_eq(final, fb, "seed %llu k %zu: the run ends elsewhere",
                             (unsigned long long)seed, k);
            points++;
            free(fb);
            free(db);
            free(da);
            free(snap);
            free(again);
            sched_destroy(a);
            sched_destroy(b);
        }
        free(final);
        run_free(m);
    }
    /* the points covered what they claim to */
    cr_log_info("%zu points: %zu with retired jobs, %zu retrying tasks, %zu queued attempts, "
                "%zu node-lost attempts, %zu drained nodes",
                points, retired, retrying, queued, lost, drained);
    cr_expect_gt(points, 500);
    cr_expect_gt(retired, 100);
    cr_expect_gt(retrying, 20);
    cr_expect_gt(queued, 20);
    cr_expect_gt(lost, 50);
    cr_expect_gt(drained, 50);
    cr_log_info("%zu attempt ends with a failure class", classed);
    cr_expect_gt(classed, 50);
    cr_expect_gt(sick, 50, "GPUs marked unhealthy in %zu snapshots", sick);
    cr_log_info("%zu jobs charged to accounts, %zu accounts with usage, %zu tasks at a limit",
                charged, used, limited);
    cr_expect_gt(charged, 500);
    cr_expect_gt(used, 500);
    cr_expect_gt(limited, 20);
    cr_log_info("%zu preempted attempts, %zu preemptions in progress", preempted, holds);
    cr_expect_gt(preempted, 100);
    cr_expect_gt(holds, 5);
}

/* One snapshot of a run in the middle of things, for the tests below. */
static uint8_t *mid_snapshot(size_t *len, run_t **out)
{
    run_t *m = run_make(5, 120);
    uint8_t *snap = NULL;
    cr_assert_eq(sched_snapshot_save(m->s, &snap, len, NULL), 0);
    *out = m;
    return snap;
}

LEAK_TEST(snapshot, a_cut_snapshot_is_refused)
{
    run_t *m;
    size_t len;
    uint8_t *snap = mid_snapshot(&len, &m);
    for (size_t cut = 0; cut < len; cut += cut < 4096 ? 1 : 61) {
        sched_t *s = (sched_t *)1;
        cairn_error_t err = {{0}};
        cr_assert_lt(sched_snapshot_load(snap, cut, &m->cfg, &s, &err), 0, "cut at %zu", cut);
        cr_assert_null(s);
        cr_assert_neq(err.text[0], '\0');
    }
    cairn_error_t err = {{0}};
    sched_t *s;
    cr_expect_eq(sched_snapshot_load(snap, 5, NULL, &s, &err), SCHED_EINVAL);
    cr_expect_str_eq(err.text, "not a snapshot (no CAIRNSNP header)");
    snap[8] = 9;
    cr_expect_eq(sched_snapshot_load(snap, len, NULL, &s, &err), SCHED_EINVAL);
    char want[80];
    snprintf(want, sizeof(want), "snapshot format version 9, this build reads 1 to %u",
             SCHED_SNAPSHOT_VERSION);
    cr_expect_str_eq(err.text, want);
    free(snap);
    run_free(m);
}

/* Any byte changed: an error, or a state the core can work on (dump it,
 * place, save it again) without a fault; ASan watches. */
LEAK_TEST(snapshot, changed_bytes_never_crash)
{
    run_t *m;
    size_t len;
    uint8_t *snap = mid_snapshot(&len, &m);
    uint64_t rng = 42;
    size_t refused = 0;
    for (int i = 0; i < 2000; i++) {
        uint8_t *c = malloc(len);
        memcpy(c, snap, len);
        size_t at = 12 + fx_rand(&rng) % (len - 12);
        c[at] ^= (uint8_t)(1u << (fx_rand(&rng) % 8));
        if (i % 4 == 0)
            c[at] = (uint8_t)fx_rand(&rng);
        sched_t *s = NULL;
        if (sched_snapshot_load(c, len, &m->cfg, &s, NULL) < 0) {
            refused++;
        } else {
            free(sched_dump(s));
            fx_pass_t *p = calloc(1, sizeof(*p));
            (void)fx_place(s, NULL, m->now + 1000, p);
            free(p);
            uint8_t *again;
            size_t n2;
            cr_assert_eq(sched_snapshot_save(s, &again, &n2, NULL), 0);
            free(again);
            sched_destroy(s);
        }
        free(c);
    }
    cr_log_info("%zu of 2000 changed snapshots refused", refused);
    cr_expect_gt(refused, 500);
    free(snap);
    run_free(m);
}

/* A snapshot of format 2 (before preemption), written by the core of
 * commit 88541bb (tests/fixtures/README.md), loads to the state that core
 * dumped, saves as format 3, and the state goes on. */
static char *slurp(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/../fixtures/%s", CAIRN_TOPO_DIR, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    char *buf = malloc(1 << 16);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

LEAK_TEST(snapshot, format_2_loads)
{
    size_t len, dlen;
    char *snap = slurp("snapshot-v2.bin", &len), *want = slurp("snapshot-v2.dump", &dlen);
    cr_assert_eq(sched_snapshot_version((uint8_t *)snap, len), 2);
    sched_config_t cfg = {.max_reservations = 1, .prefetch = 1};
    sched_t *s = NULL;
    cairn_error_t err = {{0}};
    cr_assert_eq(sched_snapshot_load((uint8_t *)snap, len, &cfg, &s, &err), 0, "%s", err.text);
    char *d = sched_dump(s);
    cr_assert_str_eq(d, want);
    uint8_t *again;
    size_t len2;
    cr_assert_eq(sched_snapshot_save(s, &again, &len2, &err), 0);
    cr_assert_eq(sched_snapshot_version(again, len2), SCHED_SNAPSHOT_VERSION);
    sched_t *b = NULL;
    cr_assert_eq(sched_snapshot_load(again, len2, &cfg, &b, &err), 0, "%s", err.text);
    char *db = sched_dump(b);
    cr_assert_str_eq(db, want);
    /* it goes on: attempts end, the GPU task waiting on n1 is placed */
    cr_assert_eq(fx_finish(b, NULL, 2, SCHED_END_EXIT, 0, 200), SCHED_ESTALE);
    cr_assert_eq(fx_finish(b, NULL, 5, SCHED_END_EXIT, 0, 200), 0);
    cr_assert_eq(fx_finish(b, NULL, 8, SCHED_END_EXIT, 0, 200), 0);
    fx_pass_t *p = calloc(1, sizeof(*p));
    cr_assert_geq(fx_place(b, NULL, 200, p), 1);
    free(p);
    free(db);
    sched_destroy(b);
    free(again);
    free(d);
    sched_destroy(s);
    free(snap);
    free(want);
}
