/* Randomized runs with accounts, fixed seeds: a changing account tree
 * (created, limits and parents changed, deleted), jobs charged to its
 * accounts, fair share with a short half-life so usage decays within the
 * run. After every pass: what each account holds, counted from the
 * attempts, is what the core counts, and no pass took an account (or an
 * ancestor) over a limit. At the end: the same seed gives the same
 * placements; the events without the placements, with a pass where the
 * run made one, place exactly as the run did (what --verify-journal
 * checks) and end in the same state. Some tasks are preemptible, and
 * some seeds preempt for fair share: the passes' preemptions are
 * decided again by the replay's passes, exactly. */
#include <criterion/criterion.h>

#include "leak_check.h"
#include "sched_fixtures.h"

#define MAX_NODES 6
#define MAX_JOBS 40
#define MAX_TASKS 10
#define NACCT 7
#define STEP_PASS 100

static const char *const names[NACCT] = {"ai", "vision", "nlp", "speech", "ops", "ops.a", "ops.b"};

typedef struct run {
    uint64_t rng;
    uint64_t rng_pre; /* preemption's draws: the others' stream stays as it was */
    sched_config_t cfg;
    sched_t *s;
    fx_journal_t steps; /* events, and STEP_PASS markers */
    char **passes;
    size_t npasses;
    fx_node_t nodes[MAX_NODES];
    int nnodes;
    sched_task_spec_t tasks[MAX_JOBS][MAX_TASKS];
    char tnames[MAX_JOBS][MAX_TASKS][16];
    sched_job_spec_t jobs[MAX_JOBS];
    int njobs;
    int64_t now;
    size_t sets, deletes, limited, reordered;
} run_t;

static uint32_t rnd(run_t *m, uint32_t n)
{
    return (uint32_t)(fx_rand(&m->rng) % n);
}

static uint32_t rnd_pre(run_t *m, uint32_t n)
{
    return (uint32_t)(fx_rand(&m->rng_pre) % n);
}

static void account_event(run_t *m)
{
    sched_event_t ev = {.type = SCHED_EV_ACCOUNT_SET, .time_ms = m->now};
    const char *name = names[rnd(m, NACCT)];
    if (rnd(m, 3) == 0) {
        ev.type = SCHED_EV_ACCOUNT_DELETE;
        ev.u.account_delete.name = name;
    } else {
        static const uint32_t lim[] = {SCHED_UNLIMITED, SCHED_UNLIMITED, 1, 2, 3, 6};
        ev.u.account_set = (sched_account_spec_t){
            .name = name,
            .parent = rnd(m, 2) ? NULL : names[rnd(m, NACCT)],
            .share = 1 + rnd(m, 5),
            .max_gpus = lim[rnd(m, 6)],
            .max_cpus = lim[rnd(m, 6)] == SCHED_UNLIMITED ? SCHED_UNLIMITED : 2 + rnd(m, 12),
            .max_running = lim[rnd(m, 6)],
            .max_priority = SCHED_NO_PRIORITY_CAP};
    }
    if (fx_apply(m->s, &m->steps, &ev) == 0) /* cycles, unknown parents, busy: refused */
        ev.type == SCHED_EV_ACCOUNT_SET ? m->sets++ : m->deletes++;
}

static void submit(run_t *m)
{
    if (m->njobs >= MAX_JOBS)
        return;
    int j = m->njobs;
    uint32_t n = 1 + rnd(m, MAX_TASKS);
    for (uint32_t i = 0; i < n; i++) {
        snprintf(m->tnames[j][i], sizeof(m->tnames[j][i]), "t%u", i);
        sched_task_spec_t *t = &m->tasks[j][i];
        *t = fx_task(m->tnames[j][i], 1 + rnd(m, 3), rnd(m, 2) ? 1 + rnd(m, 2) : 0);
        t->priority = (int32_t)rnd(m, 2);
        t->replicas = rnd(m, 8) == 0 ? 2 : 1;
        if (rnd_pre(m, 3) == 0) {
            t->preemptible = true;
            t->grace_ms = rnd_pre(m, 100);
            t->max_preemptions = rnd_pre(m, 3);
        }
    }
    m->jobs[j] = (sched_job_spec_t){.name = "job",
                                    .seed = fx_rand(&m->rng),
                                    .account = rnd(m, 5) ? names[rnd(m, NACCT)] : NULL,
                                    .ntasks = n,
                                    .tasks = m->tasks[j]};
    if (fx_submit(m->s, &m->steps, &m->jobs[j], m->now) == 0)
        m->njobs++;
}

/* What each account holds, from the attempts: its own and its
 * descendants' running and queued attempts (a gang whole). */
typedef struct held {
    uint64_t gpus, cpus, running;
} held_t;

static void recount(sched_t *s, held_t *h, uint32_t na)
{
    memset(h, 0, na * sizeof(*h));
    for (uint32_t j = sched_job_first(s); j && j <= sched_job_count(s); j++)
        for (uint32_t t = 0; t < sched_job_ntasks(s, j); t++) {
            sched_attempt_info_t ai;
            uint64_t id = sched_task_attempt_id(s, j, t);
            if (!id || sched_attempt_get(s, id, &ai) != 0 || ai.end != SCHED_END_NONE)
                continue;
            sched_request_t rq;
            cr_assert_eq(sched_task_request(s, j, t, &rq), 0);
            for (uint32_t a = sched_job_account(s, j); a != SCHED_ACCOUNT_NONE;) {
                sched_account_info_t inf;
                cr_assert_eq(sched_account_get(s, a, 0, &inf), 0);
                h[a].gpus += (uint64_t)rq.gpus * ai.nreplicas;
                h[a].cpus += (uint64_t)rq.cpus * ai.nreplicas;
                h[a].running++;
                a = inf.parent;
            }
        }
}

static void pass(run_t *m)
{
    uint32_t na = sched_account_count(m->s);
    held_t *before = calloc(na, sizeof(*before)), *after = calloc(na, sizeof(*after));
    recount(m->s, before, na);
    fx_pass_t *p = calloc(1, sizeof(*p));
    cr_assert_geq(fx_place(m->s, NULL, m->now, p), 0);
    recount(m->s, after, na);
    for (uint32_t a = 0; a < na; a++) {
        sched_account_info_t inf;
        cr_assert_eq(sched_account_get(m->s, a, m->now, &inf), 0);
        cr_assert(after[a].gpus == inf.gpus && after[a].cpus == inf.cpus &&
                      after[a].running == inf.running,
                  "account %s: the core counts %u/%u/%u, the attempts hold %llu/%llu/%llu",
                  inf.name, inf.gpus, inf.cpus, inf.running, (unsigned long long)after[a].gpus,
                  (unsigned long long)after[a].cpus, (unsigned long long)after[a].running);
        /* over a limit only where it was before the pass (a limit lowered) */
        cr_assert(after[a].gpus <= inf.max_gpus || after[a].gpus <= before[a].gpus);
        cr_assert(after[a].cpus <= inf.max_cpus || after[a].cpus <= before[a].cpus);
        cr_assert(after[a].running <= inf.max_running || after[a].running <= before[a].running);
    }
    /* fair share at work: the order is not just by id */
    uint32_t *rank = calloc(na, sizeof(uint32_t));
    cr_assert_eq(sched_account_ranks(m->s, m->now, rank), 0);
    for (uint32_t a = 1; a < na; a++)
        if (rank[a] != UINT32_MAX && rank[a - 1] != UINT32_MAX && rank[a] < rank[a - 1]) {
            m->reordered++;
            break;
        }
    for (uint32_t j = sched_job_first(m->s); j && j <= sched_job_count(m->s); j++)
        for (uint32_t t = 0; t < sched_job_ntasks(m->s, j); t++)
            if (sched_task_state(m->s, j, t) == SCHED_TASK_READY) {
                char *why = sched_explain(m->s, j, t, m->now);
                m->limited += strstr(why, "waiting on a limit") != NULL;
                free(why);
            }
    m->passes = realloc(m->passes, (m->npasses + 1) * sizeof(char *));
    m->passes[m->npasses++] = strdup(p->buf);
    sched_event_t marker = {.type = (sched_event_type_t)STEP_PASS, .time_ms = m->now};
    fx_journal_add(&m->steps, &marker);
    free(p);
    free(rank);
    free(before);
    free(after);
}

/* Attempts not ended (queued ones too: they end as well). */
static size_t alive(run_t *m, uint64_t *ids, size_t max)
{
    size_t n = 0;
    for (uint32_t j = sched_job_first(m->s); j && j <= sched_job_count(m->s); j++)
        for (uint32_t t = 0; t < sched_job_ntasks(m->s, j); t++) {
            sched_attempt_info_t ai;
            uint64_t id = sched_task_attempt_id(m->s, j, t);
            if (id && sched_attempt_get(m->s, id, &ai) == 0 && ai.end == SCHED_END_NONE &&
                !ai.queued && n < max)
                ids[n++] = id;
        }
    return n;
}

static run_t *run_make(uint64_t seed, int steps)
{
    run_t *m = calloc(1, sizeof(*m));
    m->rng = seed * 0x9e3779b97f4a7c15ull + 3;
    m->rng_pre = seed * 0xd1b54a32d192ed03ull + 5;
    m->cfg = (sched_config_t){.max_reservations = 1,
                              .prefetch = (uint32_t)(seed % 2),
                              .fs_gpu_weight = 1 + (uint32_t)(seed % 32),
                              .fs_half_life_ms = 200 + (int64_t)(seed % 5) * 300,
                              .preempt_for_fair_share = seed % 3 != 0};
    m->s = sched_create(&m->cfg);
    m->nnodes = 2 + (int)rnd(m, MAX_NODES - 1);
    for (int i = 0; i < m->nnodes; i++) {
        char name[16];
        snprintf(name, sizeof(name), "node%02d", i);
        fx_node_init(&m->nodes[i], name, 1, 4 + (int)rnd(m, 8), (int)rnd(m, 3) * 2, 2, "H100",
                     80 * GiB, 64 * GiB);
        cr_assert_eq(fx_add_node(m->s, &m->steps, &m->nodes[i]), 0);
    }
    for (int i = 0; i < NACCT; i++)
        account_event(m);
    for (int i = 0; i < 4; i++)
        submit(m);
    for (int i = 0; i < steps; i++) {
        m->now += 1 + rnd(m, 60);
        uint64_t ids[256];
        size_t n = alive(m, ids, 256);
        /* preempted attempts are killed at the end of their grace */
        for (size_t k = 0; k < n; k++) {
            sched_attempt_info_t ai;
            cr_assert_eq(sched_attempt_get(m->s, ids[k], &ai), 0);
            if (ai.preempted && ai.grace_end_ms <= m->now)
                cr_assert_eq(fx_finish(m->s, &m->steps, ids[k], SCHED_END_PREEMPTED, 0, m->now), 0);
        }
        n = alive(m, ids, 256);
        uint32_t act = rnd(m, 100);
        if (act < 50 && n) {
            uint64_t id = ids[rnd(m, (uint32_t)n)];
            sched_attempt_info_t ai;
            cr_assert_eq(sched_attempt_get(m->s, id, &ai), 0);
            cr_assert_eq(fx_finish(m->s, &m->steps, id,
                                   ai.preempted ? SCHED_END_PREEMPTED : SCHED_END_EXIT, 0, m->now),
                         0);
        } else if (act < 60 && n) {
            sched_event_t ev = {.type = SCHED_EV_START, .time_ms = m->now};
            ev.u.start.attempt = ids[rnd(m, (uint32_t)n)];
            cr_assert_eq(fx_apply(m->s, &m->steps, &ev), 0);
        } else if (act < 75) {
            submit(m);
        } else if (act < 85) {
            account_event(m);
        }
        pass(m);
    }
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

LEAK_TEST(accounts_replay, determinism_limits_and_replay)
{
    size_t sets = 0, deletes = 0, limited = 0, reordered = 0, placements = 0;
    size_t by_prio = 0, by_share = 0;
    for (uint64_t seed = 1; seed <= 24; seed++) {
        run_t *a = run_make(seed, 250), *b = run_make(seed, 250);
        cr_assert_eq(a->npasses, b->npasses);
        for (size_t i = 0; i < a->npasses; i++) {
            cr_assert_str_eq(a->passes[i], b->passes[i], "seed %llu pass %zu",
                             (unsigned long long)seed, i);
            placements += *a->passes[i] != '\0';
        }
        sched_attempt_info_t ai;
        for (uint64_t id = 1; sched_attempt_get(a->s, id, &ai) == 0; id++) {
            by_prio += ai.preempt_why == SCHED_PREEMPT_PRIORITY;
            by_share += ai.preempt_why == SCHED_PREEMPT_FAIR_SHARE;
        }
        char *da = sched_dump(a->s);
        /* the events, with a pass where the run made one (the placements
         * are not given: the pass makes them and must make the same) */
        sched_t *r = sched_create(&a->cfg);
        fx_pass_t *p = calloc(1, sizeof(*p));
        size_t np = 0;
        for (size_t i = 0; i < a->steps.n; i++) {
            const sched_event_t *ev = &a->steps.ev[i];
            if ((int)ev->type == STEP_PASS) {
                cr_assert_geq(fx_place(r, NULL, ev->time_ms, p), 0);
                cr_assert_str_eq(p->buf, a->passes[np], "seed %llu pass %zu",
                                 (unsigned long long)seed, np);
                np++;
                continue;
            }
            cairn_error_t err = {{0}};
            cr_assert_eq(sched_apply(r, ev, &err), 0, "seed %llu step %zu: %s",
                         (unsigned long long)seed, i, err.text);
        }
        char *dr = sched_dump(r);
        cr_assert_str_eq(da, dr, "seed %llu: the replay ends elsewhere", (unsigned long long)seed);
        sets += a->sets;
        deletes += a->deletes;
        limited += a->limited;
        reordered += a->reordered;
        free(p);
        free(da);
        free(dr);
        sched_destroy(r);
        run_free(a);
        run_free(b);
    }
    cr_log_info("%zu passes placing, %zu account sets, %zu deletes, %zu tasks seen waiting on a "
                "limit, %zu passes with accounts out of id order",
                placements, sets, deletes, limited, reordered);
    /* the runs exercised what they claim to */
    cr_expect_gt(placements, 1000);
    cr_expect_gt(sets, 300);
    cr_expect_gt(deletes, 40);
    cr_expect_gt(limited, 500);
    cr_expect_gt(reordered, 500);
    cr_log_info("attempts preempted: %zu for priority, %zu for fair share", by_prio, by_share);
    cr_expect_gt(by_prio, 30);
    cr_expect_gt(by_share, 10);
}
