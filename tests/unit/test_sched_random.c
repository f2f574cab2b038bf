/* Randomized runs with fixed seeds over random clusters and DAGs. After
 * every step: no core or GPU allocated twice, accounting conserved, gangs
 * all-or-nothing on distinct nodes. At the end: the same seed gives the same
 * placements and state, replaying the journal gives the same state, and
 * every node is whole again once everything ended. Some tasks are
 * preemptible: passes preempt them (SCHED_EV_PREEMPT in the journal), and
 * they end preempted, early or at their grace's end. */
#include <criterion/criterion.h>

#include "leak_check.h"
#include "sched_fixtures.h"

#define MAX_NODES 12
#define MAX_JOBS 16
#define MAX_TASKS 24

typedef struct sim {
    uint64_t rng;
    uint64_t rng_pre; /* preemption's draws: the others' stream stays as it was */
    sched_t *s;
    fx_journal_t journal;
    fx_node_t nodes[MAX_NODES];
    int nnodes;
    sched_node_state_t down[MAX_NODES]; /* UP: in service; else how it is out */
    sched_task_spec_t tasks[MAX_JOBS][MAX_TASKS];
    char names[MAX_JOBS][MAX_TASKS][16];
    const char *needs[MAX_JOBS][MAX_TASKS][3];
    sched_job_spec_t jobs[MAX_JOBS];
    int njobs;
    int64_t now;
    char log[1 << 18];
    size_t loglen;
} sim_t;

static uint32_t rnd(sim_t *m, uint32_t n)
{
    return (uint32_t)(fx_rand(&m->rng) % n);
}

static uint32_t rnd_pre(sim_t *m, uint32_t n)
{
    return (uint32_t)(fx_rand(&m->rng_pre) % n);
}

static void sim_log_cb(const sched_event_t *ev, void *arg)
{
    sim_t *m = arg;
    char *str = sched_place_str(m->s, ev);
    m->loglen += (size_t)snprintf(m->log + m->loglen, sizeof(m->log) - m->loglen, "%lld %s\n",
                                  (long long)ev->time_ms, str);
    free(str);
    fx_journal_add(&m->journal, ev);
}

static void sim_nodes(sim_t *m)
{
    static const char *const models[] = {"NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3"};
    m->nnodes = 3 + (int)rnd(m, MAX_NODES - 2);
    for (int i = 0; i < m->nnodes; i++) {
        char name[16];
        snprintf(name, sizeof(name), "node%02d", i);
        int nnuma = 1 + (int)rnd(m, 3);
        int cores = 2 + (int)rnd(m, 8);
        static const int gpu_choices[] = {0, 0, 2, 4, 8};
        int ngpus = gpu_choices[rnd(m, 5)];
        int group = 1 << rnd(m, 3);
        fx_node_init(&m->nodes[i], name, nnuma, cores, ngpus, group, models[rnd(m, 2)],
                     (40 + 40 * rnd(m, 2)) * GiB, (16 + 16 * rnd(m, 4)) * GiB);
        if (rnd(m, 3) == 0) {
            m->nodes[i].labels[0] = "zone=a";
            m->nodes[i].d.nlabels = 1;
        }
        cr_assert_eq(fx_add_node(m->s, &m->journal, &m->nodes[i]), 0);
    }
}

static void sim_submit(sim_t *m)
{
    static const char *const zone[] = {"zone=a"};
    if (m->njobs >= MAX_JOBS)
        return;
    int j = m->njobs;
    uint32_t n = 1 + rnd(m, MAX_TASKS);
    for (uint32_t i = 0; i < n; i++) {
        snprintf(m->names[j][i], sizeof(m->names[j][i]), "t%u", i);
        sched_task_spec_t *t = &m->tasks[j][i];
        *t = fx_task(m->names[j][i], 1 + rnd(m, 4), rnd(m, 4) == 0 ? 1 + rnd(m, 2) : 0);
        t->req.memory_bytes = rnd(m, 3) * GiB;
        t->priority = (int32_t)rnd(m, 5) - 2;
        t->time_limit_ms = rnd(m, 2) ? 100 + rnd(m, 2000) : 0;
        if (rnd(m, 8) == 0)
            t->replicas = 2;
        if (rnd(m, 10) == 0) {
            t->req.labels = zone;
            t->req.nlabels = 1;
        }
        if (t->req.gpus && rnd(m, 4) == 0)
            t->req.gpu_model = "H100";
        if (t->replicas > 1 && t->req.gpus && rnd(m, 3) == 0)
            t->req.gpu_mixed = true; /* else its replicas take one model */
        t->retry = (sched_retry_policy_t){.max_attempts = 1 + rnd(m, 3),
                                          .backoff_ms = rnd(m, 50),
                                          .factor_milli = 2000,
                                          .on = rnd(m, 2) ? 0 : SCHED_RETRY_ANY_EXIT};
        if (rnd_pre(m, 4) == 0) { /* preemptible: some with a grace, some with a cap */
            t->preemptible = true;
            t->grace_ms = rnd_pre(m, 3) ? rnd_pre(m, 200) : 0;
            t->max_preemptions = rnd_pre(m, 4);
        }
        uint32_t nd = i ? rnd(m, 3) : 0;
        for (uint32_t k = 0; k < nd; k++)
            m->needs[j][i][k] = m->names[j][rnd(m, i)];
        t->needs = m->needs[j][i];
        t->nneeds = nd;
    }
    m->jobs[j] = (sched_job_spec_t){
        .name = "job", .seed = fx_rand(&m->rng), .ntasks = n, .tasks = m->tasks[j]};
    if (fx_submit(m->s, &m->journal, &m->jobs[j], m->now) == 0)
        m->njobs++; /* unsatisfiable random specs are refused: fine */
}

/* Collect running attempt ids. */
static size_t running(sim_t *m, uint64_t *ids, size_t max)
{
    size_t n = 0;
    sched_attempt_info_t a;
    for (uint64_t id = 1; sched_attempt_get(m->s, id, &a) == 0; id++)
        if (a.end == SCHED_END_NONE && !a.queued && n < max) /* queued: holds nothing */
            ids[n++] = id;
    return n;
}

static void check_invariants(sim_t *m)
{
    uint64_t cores[MAX_NODES][4] = {{0}};
    uint64_t gpus[MAX_NODES] = {0};
    uint64_t mem[MAX_NODES] = {0};
    uint32_t ncores[MAX_NODES] = {0};
    uint64_t ids[4096];
    size_t n = running(m, ids, 4096);
    for (size_t i = 0; i < n; i++) {
        sched_attempt_info_t a;
        cr_assert_eq(sched_attempt_get(m->s, ids[i], &a), 0);
        const sched_task_spec_t *ts = &m->jobs[a.job - 1].tasks[a.task];
        uint32_t want = ts->replicas;
        cr_assert_eq(a.nreplicas, want ? want : 1, "gang placed partially");
        const char *model = NULL;
        for (uint32_t r = 0; r < a.nreplicas; r++) {
            const sched_alloc_desc_t *al = &a.allocs[r];
            for (uint64_t g = al->gpu_mask; g && !ts->req.gpu_mixed; g &= g - 1) {
                sched_gpu_desc_t d;
                cr_assert_not_null(
                    sched_node_gpu(m->s, al->node, (uint32_t)__builtin_ctzll(g), &d));
                if (!model)
                    model = d.model;
                cr_assert_str_eq(d.model, model, "a gang's replicas on two GPU models");
            }
            for (uint32_t q = 0; q < r; q++)
                cr_assert_neq(a.allocs[q].node, al->node, "two replicas on one node");
            for (uint32_t c = 0; c < al->ncores; c++) {
                uint32_t core = al->cores[c];
                cr_assert_eq(cores[al->node][core / 64] >> (core % 64) & 1, 0,
                             "core %u of node %u allocated twice", core, al->node);
                cores[al->node][core / 64] |= 1ull << (core % 64);
                cr_assert_not(sched_node_core_free(m->s, al->node, core));
            }
            cr_assert_eq(gpus[al->node] & al->gpu_mask, 0, "GPU allocated twice");
            gpus[al->node] |= al->gpu_mask;
            mem[al->node] += al->memory_bytes;
            ncores[al->node] += al->ncores;
        }
    }
    for (int i = 0; i < m->nnodes; i++) {
        sched_node_usage_t u;
        cr_assert_eq(sched_node_usage(m->s, (uint32_t)i, &u), 0);
        cr_assert_eq(u.free_cores + ncores[i], u.ncores, "node %d core accounting", i);
        cr_assert_eq(u.free_gpus + (uint32_t)__builtin_popcountll(gpus[i]), u.ngpus);
        cr_assert_eq(u.gpu_free_mask & gpus[i], 0);
        cr_assert_eq(u.mem_free + mem[i], u.mem_total, "node %d memory accounting", i);
    }
}

/* A node out of service comes back: a lost or returning one registers
 * again; a drained one is undrained (registering alone keeps a drain). */
static void node_back(sim_t *m, int i)
{
    if (m->down[i] == SCHED_NODE_DRAINING) {
        sched_event_t ev = {.type = SCHED_EV_NODE_STATE, .time_ms = m->now};
        ev.u.node_state.node = (uint32_t)i;
        ev.u.node_state.state = SCHED_NODE_UP;
        cr_assert_eq(fx_add_node(m->s, &m->journal, &m->nodes[i]), 0);
        cr_assert_eq(sched_node_state(m->s, (uint32_t)i), SCHED_NODE_DRAINING);
        cr_assert_eq(fx_apply(m->s, &m->journal, &ev), 0);
    } else {
        cr_assert_eq(fx_add_node(m->s, &m->journal, &m->nodes[i]), 0);
    }
    cr_assert_eq(sched_node_state(m->s, (uint32_t)i), SCHED_NODE_UP);
    m->down[i] = SCHED_NODE_UP;
}

/* Preempted attempts whose grace is over are killed (the worker reports
 * their end then); ids: the running ones, n of them. */
static void sim_graces(sim_t *m, const uint64_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sched_attempt_info_t a;
        cr_assert_eq(sched_attempt_get(m->s, ids[i], &a), 0);
        const sched_task_spec_t *ts = &m->jobs[a.job - 1].tasks[a.task];
        cr_assert(!a.preempted || ts->preemptible, "a task that is not preemptible preempted");
        if (a.preempted && a.grace_end_ms <= m->now)
            cr_assert_eq(fx_finish(m->s, &m->journal, ids[i], SCHED_END_PREEMPTED, 0, m->now), 0);
    }
}

static void sim_step(sim_t *m)
{
    m->now += 1 + rnd(m, 40);
    uint64_t ids[4096];
    size_t n = running(m, ids, 4096);
    sim_graces(m, ids, n);
    n = running(m, ids, 4096);
    uint32_t act = rnd(m, 100);
    sched_event_t ev = {.time_ms = m->now};
    if (act < 55 && n) {
        uint64_t id = ids[rnd(m, (uint32_t)n)];
        static const sched_end_t ends[] = {SCHED_END_EXIT, SCHED_END_EXIT,   SCHED_END_EXIT,
                                           SCHED_END_EXIT, SCHED_END_SIGNAL, SCHED_END_TIMEOUT};
        sched_end_t e = ends[rnd(m, 6)];
        sched_attempt_info_t ai;
        cr_assert_eq(sched_attempt_get(m->s, id, &ai), 0);
        if (ai.preempted && rnd_pre(m, 3))
            e = SCHED_END_PREEMPTED; /* it checkpointed and stopped early */
        int code = e == SCHED_END_EXIT ? (rnd(m, 4) == 0 ? 1 : 0) : 9;
        cr_assert_eq(fx_finish(m->s, &m->journal, id, e, code, m->now), 0);
    } else if (act < 65 && n) {
        ev.type = SCHED_EV_START;
        ev.u.start.attempt = ids[rnd(m, (uint32_t)n)];
        cr_assert_eq(fx_apply(m->s, &m->journal, &ev), 0);
    } else if (act < 72) {
        int i = (int)rnd(m, (uint32_t)m->nnodes);
        if (m->down[i]) {
            node_back(m, i);
        } else {
            static const sched_node_state_t outs[] = {SCHED_NODE_DOWN, SCHED_NODE_DOWN,
                                                      SCHED_NODE_DRAINING, SCHED_NODE_RETURNING};
            ev.type = SCHED_EV_NODE_STATE;
            ev.u.node_state.node = (uint32_t)i;
            ev.u.node_state.state = outs[rnd(m, 4)];
            ev.u.node_state.reason = "random";
            cr_assert_eq(fx_apply(m->s, &m->journal, &ev), 0);
            m->down[i] = ev.u.node_state.state;
        }
    } else if (act < 75 && m->njobs) {
        ev.type = SCHED_EV_CANCEL;
        ev.u.cancel.job = 1 + rnd(m, (uint32_t)m->njobs);
        ev.u.cancel.task = rnd(m, 2) ? -1 : 0;
        cr_assert_eq(fx_apply(m->s, &m->journal, &ev), 0);
    } else if (act < 82) {
        sim_submit(m);
    }
    cr_assert_geq(sched_place(m->s, m->now, sim_log_cb, m), 0);
    check_invariants(m);
}

/* Seeds run without prefetch, or with lines of one or two queued attempts,
 * every other of those growing to 3 to 6 for classes that run short. */
static sched_config_t sim_config(uint64_t seed)
{
    uint32_t p = (uint32_t)(seed % 3);
    bool grow = p && (seed / 3) % 2;
    return (sched_config_t){.max_reservations = 1,
                            .prefetch = p,
                            .prefetch_max = grow ? 3 + (uint32_t)(seed % 4) : 0,
                            .prefetch_window_ms = grow ? 400 : 0,
                            .preempt_for_fair_share = seed % 2,
                            .max_preemptions_per_task = (uint32_t)(seed % 5)};
}

static sim_t *sim_run(uint64_t seed, int steps)
{
    sim_t *m = calloc(1, sizeof(*m));
    m->rng = seed * 0x9e3779b97f4a7c15ull + 1;
    m->rng_pre = seed * 0xd1b54a32d192ed03ull + 7;
    sched_config_t cfg = sim_config(seed);
    m->s = sched_create(&cfg);
    sim_nodes(m);
    for (int i = 0; i < 3; i++)
        sim_submit(m);
    for (int i = 0; i < steps; i++)
        sim_step(m);
    return m;
}

/* Bring every node back, finish everything that runs, until quiet. */
static void sim_drain(sim_t *m)
{
    for (int i = 0; i < m->nnodes; i++)
        if (m->down[i])
            node_back(m, i);
    for (int round = 0; round < 10000; round++) {
        uint64_t ids[4096];
        size_t n = running(m, ids, 4096);
        m->now += 5000; /* past any backoff and grace */
        for (size_t i = 0; i < n; i++) {
            sched_attempt_info_t ai;
            cr_assert_eq(sched_attempt_get(m->s, ids[i], &ai), 0);
            cr_assert_eq(fx_finish(m->s, &m->journal, ids[i],
                                   ai.preempted ? SCHED_END_PREEMPTED : SCHED_END_EXIT, 0, m->now),
                         0);
        }
        int placed = sched_place(m->s, m->now, sim_log_cb, m);
        cr_assert_geq(placed, 0);
        check_invariants(m);
        if (n == 0 && placed == 0)
            break;
    }
}

static void sim_free(sim_t *m)
{
    fx_journal_fini(&m->journal);
    sched_destroy(m->s);
    free(m);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

LEAK_TEST(random, invariants_determinism_and_replay)
{
    size_t placements = 0, gangs = 0, retried = 0, lost = 0, queued = 0, waiting_gangs = 0;
    size_t preempts = 0, preempted = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        sim_t *a = sim_run(seed, 300);
        placements += count_lines(a->log);
        for (const char *p = a->log; (p = strstr(p, " + ")); p++)
            gangs++;
        for (const char *p = a->log; (p = strstr(p, " after a")); p++)
            queued++;
        for (const char *p = a->log; (p = strstr(p, " preempts ")); p++)
            preempts++;
        sched_attempt_info_t ai;
        for (uint64_t id = 1; sched_attempt_get(a->s, id, &ai) == 0; id++) {
            retried += ai.number > 1;
            lost += ai.end == SCHED_END_NODE_LOST;
            preempted += ai.end == SCHED_END_PREEMPTED;
        }
        sim_t *b = sim_run(seed, 300);
        cr_assert_str_eq(a->log, b->log, "seed %llu: placements differ", (unsigned long long)seed);
        char *da = sched_dump(a->s), *db = sched_dump(b->s);
        cr_assert_str_eq(da, db, "seed %llu: states differ", (unsigned long long)seed);

        /* replay the journal into an empty state */
        sched_config_t cfg = sim_config(seed);
        sched_t *r = sched_create(&cfg);
        for (size_t i = 0; i < a->journal.n; i++) {
            cairn_error_t err = {{0}};
            cr_assert_eq(sched_apply(r, &a->journal.ev[i], &err), 0, "seed %llu event %zu: %s",
                         (unsigned long long)seed, i, err.text);
        }
        char *dr = sched_dump(r);
        cr_assert_str_eq(da, dr, "seed %llu: replay differs", (unsigned long long)seed);

        /* the next pass decides the same on the live and replayed states */
        fx_pass_t *pa = calloc(1, sizeof(*pa)), *pr = calloc(1, sizeof(*pr));
        int na = fx_place(a->s, NULL, a->now + 1, pa);
        int nr = fx_place(r, NULL, a->now + 1, pr);
        cr_assert_eq(na, nr);
        cr_assert_str_eq(pa->buf, pr->buf);
        /* explanations agree too */
        for (uint32_t j = 1; j <= sched_job_count(r); j++)
            for (uint32_t t = 0; t < sched_job_ntasks(r, j); t++) {
                char *ea = sched_explain(a->s, j, t, a->now + 1);
                char *er = sched_explain(r, j, t, a->now + 1);
                cr_assert_str_eq(ea, er);
                free(ea);
                free(er);
            }
        free(pa);
        free(pr);
        free(da);
        free(db);
        free(dr);
        sched_destroy(r);

        /* when all work has ended, every node is whole again */
        sim_drain(a);
        for (int i = 0; i < a->nnodes; i++) {
            sched_node_usage_t u;
            cr_assert_eq(sched_node_usage(a->s, (uint32_t)i, &u), 0);
            cr_assert_eq(u.free_cores, u.ncores);
            cr_assert_eq(u.free_gpus, u.ngpus);
            cr_assert_eq(u.mem_free, u.mem_total);
        }
        for (uint32_t j = 1; j <= sched_job_count(a->s); j++) {
            /* only a gang that no one GPU model has nodes enough for waits
             * for ever (and says why), with what needs it */
            for (uint32_t t = 0; !sched_job_done(a->s, j) && t < sched_job_ntasks(a->s, j); t++) {
                sched_task_state_t st = sched_task_state(a->s, j, t);
                char *why = sched_explain(a->s, j, t, a->now);
                cr_assert(st >= SCHED_TASK_SUCCEEDED || st == SCHED_TASK_PENDING ||
                              (st == SCHED_TASK_READY && strstr(why, "no model has")),
                          "seed %llu: job %u never ended: %s", (unsigned long long)seed, j, why);
                waiting_gangs += st == SCHED_TASK_READY;
                free(why);
            }
        }
        sim_free(a);
        sim_free(b);
    }
    /* the runs exercised what they claim to */
    cr_expect_gt(placements, 2000, "placements %zu", placements);
    cr_expect_gt(gangs, 20, "gang placements %zu", gangs);
    cr_expect_gt(queued, 5, "queued (prefetch) placements %zu", queued);
    cr_expect_gt(retried, 50, "retried attempts %zu", retried);
    cr_expect_gt(lost, 20, "node-lost attempts %zu", lost);
    cr_expect_gt(waiting_gangs, 0, "gangs waiting for one GPU model %zu", waiting_gangs);
    cr_expect_gt(preempts, 50, "preemptions %zu", preempts);
    cr_expect_gt(preempted, 50, "preempted attempts %zu", preempted);
    cr_log_info("%zu placements, %zu gangs, %zu retries, %zu node-lost, %zu preemptions, %zu "
                "preempted attempts",
                placements, gangs, retried, lost, preempts, preempted);
}
