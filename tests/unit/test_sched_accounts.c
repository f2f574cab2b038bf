/* Accounts in the core: fair share between accounts (Slurm's fair tree),
 * limits at every level of the tree (in placement, backfill and prefetch,
 * explained with numbers and counted by the census), usage decaying with
 * its half-life, and the account events' rules. */
#include <criterion/criterion.h>

#include "leak_check.h"
#include "sched_fixtures.h"

static fx_pass_t pass;

static int account_set(sched_t *s, fx_journal_t *j, const char *name, const char *parent,
                       uint32_t share, uint32_t max_gpus, int64_t t)
{
    sched_event_t ev = {.type = SCHED_EV_ACCOUNT_SET, .time_ms = t};
    ev.u.account_set = (sched_account_spec_t){.name = name,
                                              .parent = parent,
                                              .share = share,
                                              .max_gpus = max_gpus,
                                              .max_cpus = SCHED_UNLIMITED,
                                              .max_running = SCHED_UNLIMITED,
                                              .max_priority = SCHED_NO_PRIORITY_CAP};
    return fx_apply(s, j, &ev);
}

static int account_set_ev(sched_t *s, sched_account_spec_t sp, cairn_error_t *err)
{
    sched_event_t ev = {.type = SCHED_EV_ACCOUNT_SET, .u.account_set = sp};
    return sched_apply(s, &ev, err);
}

static int account_delete(sched_t *s, const char *name, cairn_error_t *err)
{
    sched_event_t ev = {.type = SCHED_EV_ACCOUNT_DELETE, .u.account_delete.name = name};
    return sched_apply(s, &ev, err);
}

static sched_account_spec_t unlimited(const char *name, const char *parent)
{
    return (sched_account_spec_t){.name = name,
                                  .parent = parent,
                                  .share = 1,
                                  .max_gpus = SCHED_UNLIMITED,
                                  .max_cpus = SCHED_UNLIMITED,
                                  .max_running = SCHED_UNLIMITED,
                                  .max_priority = SCHED_NO_PRIORITY_CAP};
}

/* n one-GPU, one-core tasks named prefix0.. in one job of account. */
typedef struct many {
    char names[200][16];
    sched_task_spec_t t[200];
    sched_job_spec_t job;
} many_t;

static void many_init(many_t *m, const char *prefix, uint32_t n, uint32_t cpus, uint32_t gpus,
                      const char *account)
{
    for (uint32_t i = 0; i < n; i++) {
        snprintf(m->names[i], sizeof(m->names[i]), "%s%u", prefix, i);
        m->t[i] = fx_task(m->names[i], cpus, gpus);
    }
    m->job = (sched_job_spec_t){
        .name = prefix, .seed = 1, .account = account, .ntasks = n, .tasks = m->t};
}

static uint32_t gpus_of(sched_t *s, const char *account)
{
    uint32_t id;
    sched_account_info_t ai;
    cr_assert_eq(sched_account_find(s, account, &id), 0);
    cr_assert_eq(sched_account_get(s, id, 0, &ai), 0);
    return ai.gpus;
}

/* --- two accounts, equal shares, one 8-GPU node --------------------------- */

/* Attempt ids of one pass's placements; after each (applied already) no
 * account holds more GPUs than its limit. */
typedef struct placed {
    sched_t *s;
    uint64_t ids[64];
    int n;
} placed_t;

static void limits_hold(sched_t *s)
{
    for (uint32_t a = 0; a < sched_account_count(s); a++) {
        sched_account_info_t ai;
        cr_assert_eq(sched_account_get(s, a, 0, &ai), 0);
        cr_assert_leq(ai.gpus, ai.max_gpus, "account %s holds %u GPUs", ai.name, ai.gpus);
    }
}

static void placed_cb(const sched_event_t *ev, void *arg)
{
    placed_t *p = arg;
    cr_assert_lt(p->n, 64);
    p->ids[p->n++] = ev->u.place.attempt;
    limits_hold(p->s);
}

typedef struct run {
    uint64_t id;
    int acct; /* 0 A, 1 B */
    int64_t end;
} run_t;

LEAK_TEST(accounts, equal_shares_split_the_gpus)
{
    sched_t *s = sched_create(NULL);
    fx_node_t n;
    fx_node_init(&n, "n0", 2, 16, 8, 4, "H100", 80 * GiB, 256 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &n), 0);
    cr_assert_eq(account_set(s, NULL, "A", NULL, 1, SCHED_UNLIMITED, 0), 0);
    cr_assert_eq(account_set(s, NULL, "B", NULL, 1, 6, 0), 0);
    const uint32_t max_gpus[2] = {SCHED_UNLIMITED, 6};
    many_t *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    many_init(a, "a", 200, 1, 1, "A");
    many_init(b, "b", 200, 1, 1, "B");
    cr_assert_eq(fx_submit(s, NULL, &a->job, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 8);
    cr_assert_eq(fx_submit(s, NULL, &b->job, 1000), 0);
    cr_assert_eq(fx_place(s, NULL, 1000, &pass), 0, "every GPU is taken");

    run_t runs[16];
    int nrun = 0;
    uint64_t rng = 42;
    for (uint64_t id = 1; id <= 8; id++)
        runs[nrun++] =
            (run_t){.id = id, .acct = 0, .end = 60000 + (int64_t)(fx_rand(&rng) % 60000)};
    uint32_t left[2] = {200 - 8, 200}; /* tasks not placed yet */
    int64_t gpu_ms[2] = {0, 0}, now = 1000, first_free = -1, b_first = -1;
    size_t events = 0;
    while (nrun > 0) {
        int64_t next = INT64_MAX;
        for (int i = 0; i < nrun; i++)
            next = runs[i].end < next ? runs[i].end : next;
        /* GPU time while both accounts still have work waiting */
        if (left[0] && left[1])
            for (int i = 0; i < nrun; i++)
                gpu_ms[runs[i].acct] += next - now;
        now = next;
        if (first_free < 0)
            first_free = now;
        for (int i = 0; i < nrun;) {
            if (runs[i].end != now) {
                i++;
                continue;
            }
            cr_assert_eq(fx_finish(s, NULL, runs[i].id, SCHED_END_EXIT, 0, now), 0);
            runs[i] = runs[--nrun];
            events++;
            limits_hold(s);
        }
        placed_t pl = {.s = s};
        cr_assert_geq(sched_place(s, now, placed_cb, &pl), 0);
        for (int k = 0; k < pl.n; k++) {
            uint64_t id = pl.ids[k];
            sched_attempt_info_t ai;
            cr_assert_eq(sched_attempt_get(s, id, &ai), 0);
            int acct = ai.job == 2;
            if (acct == 1 && b_first < 0)
                b_first = now;
            left[acct]--;
            sched_event_t ev = {.type = SCHED_EV_START, .time_ms = now};
            ev.u.start.attempt = id;
            cr_assert_eq(sched_apply(s, &ev, NULL), 0);
            limits_hold(s);
            runs[nrun++] = (run_t){
                .id = id, .acct = acct, .end = now + 60000 + (int64_t)(fx_rand(&rng) % 60000)};
            events++;
        }
        /* and after the step, counted from the attempts themselves too */
        uint32_t held[2] = {0, 0};
        for (int i = 0; i < nrun; i++)
            held[runs[i].acct]++;
        for (int k = 0; k < 2; k++) {
            cr_assert_leq(held[k], max_gpus[k], "t=%lld account %c holds %u GPUs", (long long)now,
                          'A' + k, held[k]);
            cr_assert_eq(gpus_of(s, k ? "B" : "A"), held[k]);
        }
    }
    cr_assert_eq(left[0] + left[1], 0);
    cr_expect_eq(b_first, first_free,
                 "B's first task starts when the first GPU frees (t=%lld), "
                 "not at t=%lld",
                 (long long)first_free, (long long)b_first);
    double share = (double)gpu_ms[0] / (double)(gpu_ms[0] + gpu_ms[1]);
    cr_log_info("GPU-seconds while both had work: A %lld, B %lld (A's share %.3f), %zu events",
                (long long)gpu_ms[0] / 1000, (long long)gpu_ms[1] / 1000, share, events);
    cr_expect(share >= 0.45 && share <= 0.55, "A's share %.3f", share);
    free(a);
    free(b);
    sched_destroy(s);
}

/* --- a hierarchy with limits at both levels ------------------------------- */

static char *explain(sched_t *s, uint32_t job, uint32_t task)
{
    char *e = sched_explain(s, job, task, 0);
    cr_assert_not_null(e);
    return e;
}

LEAK_TEST(accounts, limits_at_every_level_explained_and_counted)
{
    sched_t *s = sched_create(NULL);
    fx_node_t n;
    fx_node_init(&n, "n0", 2, 16, 8, 4, "H100", 80 * GiB, 256 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &n), 0);
    cr_assert_eq(account_set(s, NULL, "research", NULL, 1, 4, 0), 0);
    cr_assert_eq(account_set(s, NULL, "vision", "research", 1, 3, 0), 0);
    cr_assert_eq(account_set(s, NULL, "nlp", "research", 1, SCHED_UNLIMITED, 0), 0);
    many_t *v = calloc(1, sizeof(*v)), *l = calloc(1, sizeof(*l)), *d = calloc(1, sizeof(*d));
    many_init(v, "v", 5, 1, 1, "vision");
    many_init(l, "l", 5, 1, 1, "nlp");
    many_init(d, "d", 1, 1, 1, NULL); /* the default account: no limits */
    cr_assert_eq(fx_submit(s, NULL, &v->job, 0), 0);
    cr_assert_eq(fx_submit(s, NULL, &l->job, 0), 0);
    cr_assert_eq(fx_submit(s, NULL, &d->job, 0), 0);
    /* vision stops at its own 3, nlp at research's 4; 3 GPUs stay free */
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 5, "%s", pass.buf);
    /* in fair-tree order: default and research have no usage yet (ties by
     * id), then in research vision before nlp (the same) */
    cr_expect_str_eq(pass.buf, "job3 d0 a1 -> n0 gpu[0] core[0] mem=0\n"
                               "job1 v0 a2 -> n0 gpu[1] core[1] mem=0\n"
                               "job1 v1 a3 -> n0 gpu[2] core[2] mem=0\n"
                               "job1 v2 a4 -> n0 gpu[3] core[3] mem=0\n"
                               "job2 l0 a5 -> n0 gpu[4] core[16] mem=0");
    cr_expect_eq(gpus_of(s, "vision"), 3);
    cr_expect_eq(gpus_of(s, "nlp"), 1);
    cr_expect_eq(gpus_of(s, "research"), 4);
    cr_expect_eq(gpus_of(s, "default"), 1);
    char *e = explain(s, 1, 3);
    cr_expect_str_eq(e, "job 1 task v3: waiting on a limit: account vision (parent research) is "
                        "at its GPU limit: 3 of 3 in use");
    free(e);
    e = explain(s, 2, 1);
    cr_expect_str_eq(e, "job 2 task l1: waiting on a limit: account research (above nlp) is at "
                        "its GPU limit: 4 of 4 in use");
    free(e);
    /* the census: 6 replicas wait on limits, and the 3 free GPUs they
     * could use are idle for that, not for fragmentation */
    sched_census_t c;
    cr_assert_eq(sched_census(s, &c), 0);
    cr_assert_eq(c.nclasses, 1);
    cr_expect_eq(c.gpus_free, 3);
    cr_expect_eq(c.classes[0].waiting, 6);
    cr_expect_eq(c.classes[0].limited, 6);
    cr_expect_eq(c.classes[0].idle_limit, 3);
    cr_expect_eq(c.classes[0].idle_split + c.classes[0].idle_cpu_mem + c.classes[0].idle_model +
                     c.classes[0].idle_other,
                 0);
    sched_census_fini(&c);
    /* a vision task ends: research is under its limit again, and nlp (less
     * usage than vision for the same share) gets the GPU */
    cr_assert_eq(fx_finish(s, NULL, 2, SCHED_END_EXIT, 0, 10000), 0);
    cr_assert_eq(fx_place(s, NULL, 10000, &pass), 1);
    cr_expect(strstr(pass.buf, "job2 l1 ") == pass.buf, "%s", pass.buf);
    cr_expect_eq(gpus_of(s, "research"), 4);
    cr_expect_eq(gpus_of(s, "vision"), 2);
    free(v);
    free(l);
    free(d);
    sched_destroy(s);
}

LEAK_TEST(accounts, core_and_running_limits)
{
    sched_t *s = sched_create(NULL);
    fx_node_t n;
    fx_node_init(&n, "n0", 1, 16, 0, 0, NULL, 0, 64 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &n), 0);
    sched_account_spec_t batch = unlimited("batch", NULL);
    batch.max_cpus = 5;
    sched_account_spec_t one = unlimited("one", NULL);
    one.max_running = 1;
    cr_assert_eq(account_set_ev(s, batch, NULL), 0);
    cr_assert_eq(account_set_ev(s, one, NULL), 0);
    sched_task_spec_t bt[3] = {fx_task("b0", 2, 0), fx_task("b1", 2, 0), fx_task("b2", 3, 0)};
    sched_task_spec_t ot[2] = {fx_task("o0", 1, 0), fx_task("o1", 1, 0)};
    sched_job_spec_t bj = {.name = "b", .seed = 1, .account = "batch", .ntasks = 3, .tasks = bt};
    sched_job_spec_t oj = {.name = "o", .seed = 1, .account = "one", .ntasks = 2, .tasks = ot};
    cr_assert_eq(fx_submit(s, NULL, &bj, 0), 0);
    cr_assert_eq(fx_submit(s, NULL, &oj, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 3, "%s", pass.buf);
    char *e = explain(s, 1, 2);
    cr_expect_str_eq(e, "job 1 task b2: waiting on a limit: account batch is at its core limit: 4 "
                        "of 5 in use, this task needs 3");
    free(e);
    e = explain(s, 2, 1);
    cr_expect_str_eq(e, "job 2 task o1: waiting on a limit: account one is at its running-attempt "
                        "limit: 1 of 1 in use");
    free(e);
    sched_destroy(s);
}

/* A gang counts whole against a limit: 2 replicas of 4 GPUs are 8. */
LEAK_TEST(accounts, a_gang_counts_whole)
{
    sched_t *s = sched_create(NULL);
    fx_node_t n[2];
    fx_node_init(&n[0], "n0", 1, 8, 4, 4, "H100", 80 * GiB, 64 * GiB);
    fx_node_init(&n[1], "n1", 1, 8, 4, 4, "H100", 80 * GiB, 64 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &n[0]), 0);
    cr_assert_eq(fx_add_node(s, NULL, &n[1]), 0);
    cr_assert_eq(account_set(s, NULL, "g", NULL, 1, 6, 0), 0);
    sched_task_spec_t t = fx_task("gang", 1, 4);
    t.replicas = 2;
    sched_job_spec_t j = {.name = "j", .seed = 1, .account = "g", .ntasks = 1, .tasks = &t};
    cr_assert_eq(fx_submit(s, NULL, &j, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 0, "%s", pass.buf);
    char *e = explain(s, 1, 0);
    cr_expect_str_eq(e, "job 1 task gang: waiting on a limit: account g is at its GPU limit: 0 of "
                        "6 in use, this task needs 8");
    free(e);
    /* raised to 8, it runs */
    cr_assert_eq(account_set(s, NULL, "g", NULL, 1, 8, 1), 0);
    cr_assert_eq(fx_place(s, NULL, 1, &pass), 1, "%s", pass.buf);
    cr_expect_eq(gpus_of(s, "g"), 8);
    sched_destroy(s);
}

/* Prefetch lines count against limits from the moment they are queued: a
 * queued attempt takes over its predecessor's allocation when that ends,
 * without a pass that could check. */
LEAK_TEST(accounts, prefetch_lines_count_against_limits)
{
    sched_config_t cfg = {.max_reservations = 1, .prefetch = 1};
    sched_t *s = sched_create(&cfg);
    fx_node_t n;
    fx_node_init(&n, "n0", 1, 2, 0, 0, NULL, 0, 8 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &n), 0);
    sched_account_spec_t p = unlimited("p", NULL);
    p.max_running = 3;
    cr_assert_eq(account_set_ev(s, p, NULL), 0);
    sched_task_spec_t t[5] = {fx_task("t0", 1, 0), fx_task("t1", 1, 0), fx_task("t2", 1, 0),
                              fx_task("t3", 1, 0), fx_task("t4", 1, 0)};
    sched_job_spec_t j = {.name = "j", .seed = 1, .account = "p", .ntasks = 5, .tasks = t};
    cr_assert_eq(fx_submit(s, NULL, &j, 0), 0);
    /* without the limit: 2 placed and 2 queued behind them */
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 3, "%s", pass.buf);
    cr_expect_str_eq(pass.buf, "job1 t0 a1 -> n0 core[0] mem=0\n"
                               "job1 t1 a2 -> n0 core[1] mem=0\n"
                               "job1 t2 a3 -> n0 core[0] mem=0 after a1");
    char *e = explain(s, 1, 3);
    cr_expect_str_eq(e, "job 1 task t3: waiting on a limit: account p is at its running-attempt "
                        "limit: 3 of 3 in use");
    free(e);
    /* a1 ends, a3 takes over its core: still 3 */
    cr_assert_eq(fx_finish(s, NULL, 1, SCHED_END_EXIT, 0, 5), 0);
    uint32_t id;
    sched_account_info_t ai;
    cr_assert_eq(sched_account_find(s, "p", &id), 0);
    cr_assert_eq(sched_account_get(s, id, 5, &ai), 0);
    cr_expect_eq(ai.running, 2);
    cr_assert_eq(fx_place(s, NULL, 5, &pass), 1, "%s", pass.buf);
    sched_destroy(s);
}

/* --- usage and its decay ------------------------------------------------- */

LEAK_TEST(accounts, usage_is_weighted_and_halves_every_half_life)
{
    sched_config_t cfg = {.max_reservations = 1, .fs_half_life_ms = 100000};
    sched_t *s = sched_create(&cfg);
    fx_node_t n;
    fx_node_init(&n, "n0", 1, 8, 2, 2, "H100", 80 * GiB, 64 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &n), 0);
    cr_assert_eq(account_set(s, NULL, "u", NULL, 1, SCHED_UNLIMITED, 0), 0);
    sched_task_spec_t t = fx_task("t", 2, 1);
    sched_job_spec_t j = {.name = "j", .seed = 1, .account = "u", .ntasks = 1, .tasks = &t};
    cr_assert_eq(fx_submit(s, NULL, &j, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 1);
    uint32_t id;
    sched_account_info_t ai;
    cr_assert_eq(sched_account_find(s, "u", &id), 0);
    /* while it runs: 1 GPU x 16 + 2 cores per ms, decaying as it goes */
    cr_assert_eq(sched_account_get(s, id, 1000, &ai), 0);
    cr_expect_eq(ai.usage, 18000);
    cr_assert_eq(fx_finish(s, NULL, 1, SCHED_END_EXIT, 0, 1000), 0);
    cr_assert_eq(sched_account_get(s, id, 1000, &ai), 0);
    cr_expect_eq(ai.usage, 18000);
    cr_expect_eq(ai.usage_tree, 18000);
    cr_assert_eq(sched_account_get(s, id, 101000, &ai), 0);
    cr_expect_eq(ai.usage, 9000, "one half-life later: %llu", (unsigned long long)ai.usage);
    cr_assert_eq(sched_account_get(s, id, 151000, &ai), 0);
    /* 18000 / 2^1.5 = 6363.96 */
    cr_expect(ai.usage >= 6362 && ai.usage <= 6364, "%llu", (unsigned long long)ai.usage);
    cr_assert_eq(sched_account_get(s, id, 1000 + 64 * 100000LL, &ai), 0);
    cr_expect_eq(ai.usage, 0);
    sched_destroy(s);
}

/* --- the account events' rules ------------------------------------------- */

LEAK_TEST(accounts, set_and_delete_rules)
{
    sched_t *s = sched_create(NULL);
    cairn_error_t err = {{0}};
    cr_expect_eq(account_set_ev(s, unlimited("default", NULL), &err), SCHED_EINVAL);
    cr_expect_str_eq(err.text, "account: the default account cannot be changed");
    cr_expect_eq(account_set_ev(s, unlimited("a b", NULL), &err), SCHED_EINVAL);
    cr_expect_eq(account_set_ev(s, unlimited("vision", "research"), &err), SCHED_ENOENT);
    cr_expect_str_eq(err.text, "account vision: no account research to be its parent");
    sched_account_spec_t z = unlimited("z", NULL);
    z.share = 0;
    cr_expect_eq(account_set_ev(s, z, &err), SCHED_EINVAL);
    cr_assert_eq(account_set_ev(s, unlimited("research", NULL), &err), 0);
    cr_assert_eq(account_set_ev(s, unlimited("vision", "research"), &err), 0);
    /* no cycles: research cannot go under vision, nor under itself */
    cr_expect_eq(account_set_ev(s, unlimited("research", "vision"), &err), SCHED_EINVAL);
    cr_expect_str_eq(err.text, "account research: parent vision is research itself or under it");
    cr_expect_eq(account_set_ev(s, unlimited("research", "research"), &err), SCHED_EINVAL);

    fx_node_t n;
    fx_node_init(&n, "n0", 1, 4, 0, 0, NULL, 0, 8 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &n), 0);
    sched_task_spec_t t = fx_task("t", 1, 0);
    sched_job_spec_t j = {.name = "j", .seed = 1, .account = "vision", .ntasks = 1, .tasks = &t};
    cr_assert_eq(fx_submit(s, NULL, &j, 0), 0);
    /* refused while it has children, or work not finished */
    cr_expect_eq(account_delete(s, "research", &err), SCHED_ECONFLICT);
    cr_expect_str_eq(err.text, "account research: it has 1 child account");
    cr_expect_eq(account_delete(s, "vision", &err), SCHED_ECONFLICT);
    cr_expect_str_eq(err.text, "account vision: 1 job is not finished (the first: job 1)");
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 1);
    cr_expect_eq(account_delete(s, "vision", &err), SCHED_ECONFLICT, "running");
    cr_assert_eq(fx_finish(s, NULL, 1, SCHED_END_EXIT, 0, 10), 0);
    cr_expect_eq(account_delete(s, "default", &err), SCHED_EINVAL);
    cr_assert_eq(account_delete(s, "vision", &err), 0, "%s", err.text);
    cr_expect_eq(account_delete(s, "vision", &err), SCHED_ENOENT);
    /* a deleted account takes no jobs; set again, it is back under its id */
    cr_expect_eq(fx_submit(s, NULL, &j, 20), SCHED_ESPEC);
    sched_problems_t p = {0};
    cr_expect_eq(sched_job_validate(s, &j, &p), 1);
    cr_expect_str_eq(p.text, "account vision does not exist");
    char path[64];
    sched_problem_path(&p.where[0], path, sizeof(path));
    cr_expect_str_eq(path, "account");
    sched_problems_fini(&p);
    cr_assert_eq(account_delete(s, "research", &err), 0, "%s", err.text);
    cr_assert_eq(account_set_ev(s, unlimited("vision", NULL), &err), 0);
    uint32_t id;
    cr_assert_eq(sched_account_find(s, "vision", &id), 0);
    cr_expect_eq(id, 2);
    cr_expect_eq(sched_job_account(s, 1), 2);
    sched_destroy(s);
}

LEAK_TEST(accounts, priority_cap_refused_at_submit)
{
    sched_t *s = sched_create(NULL);
    sched_account_spec_t r = unlimited("research", NULL);
    r.max_priority = 5;
    cr_assert_eq(account_set_ev(s, r, NULL), 0);
    cr_assert_eq(account_set_ev(s, unlimited("vision", "research"), NULL), 0);
    sched_task_spec_t t[2] = {fx_task("ok", 1, 0), fx_task("hi", 1, 0)};
    t[0].priority = 5;
    t[1].priority = 6;
    sched_job_spec_t j = {.name = "j", .seed = 1, .account = "vision", .ntasks = 2, .tasks = t};
    sched_problems_t p = {0};
    cr_expect_eq(sched_job_validate(s, &j, &p), 1);
    cr_expect_str_eq(p.text, "task hi: priority 6 is above the cap of account research: 5");
    char path[64];
    sched_problem_path(&p.where[0], path, sizeof(path));
    cr_expect_str_eq(path, "tasks[1].priority");
    sched_problems_fini(&p);
    cairn_error_t err = {{0}};
    sched_event_t ev = {.type = SCHED_EV_JOB_SUBMIT, .u.submit = j};
    cr_expect_eq(sched_apply(s, &ev, &err), SCHED_ESPEC);
    cr_expect_str_eq(err.text, "task hi: priority 6 is above the cap of account research: 5");
    t[1].priority = 5;
    cr_expect_eq(sched_apply(s, &ev, &err), 0);
    sched_destroy(s);
}

/* The fair tree: siblings by share relative to usage, level by level, an
 * account before its children; a pass serves them in that order. */
LEAK_TEST(accounts, fair_tree_ranks_level_by_level)
{
    sched_config_t cfg = {.max_reservations = 1, .fs_half_life_ms = INT64_MAX / 2};
    sched_t *s = sched_create(&cfg);
    fx_node_t n;
    fx_node_init(&n, "n0", 2, 16, 8, 4, "H100", 80 * GiB, 256 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &n), 0);
    cr_assert_eq(account_set(s, NULL, "research", NULL, 3, SCHED_UNLIMITED, 0), 0); /* 1 */
    cr_assert_eq(account_set(s, NULL, "ops", NULL, 1, SCHED_UNLIMITED, 0), 0);      /* 2 */
    cr_assert_eq(account_set(s, NULL, "vision", "research", 1, SCHED_UNLIMITED, 0), 0);
    cr_assert_eq(account_set(s, NULL, "nlp", "research", 1, SCHED_UNLIMITED, 0), 0);
    /* usage: vision 2 GPUs, nlp 1, ops 2, each for one second (a GPU-ms
     * and its core: 17) */
    many_t *v = calloc(1, sizeof(*v)), *l = calloc(1, sizeof(*l)), *o = calloc(1, sizeof(*o));
    many_init(v, "v", 2, 1, 1, "vision");
    many_init(l, "l", 1, 1, 1, "nlp");
    many_init(o, "o", 2, 1, 1, "ops");
    cr_assert_eq(fx_submit(s, NULL, &v->job, 0), 0);
    cr_assert_eq(fx_submit(s, NULL, &l->job, 0), 0);
    cr_assert_eq(fx_submit(s, NULL, &o->job, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 5);
    for (uint64_t a = 1; a <= 5; a++)
        cr_assert_eq(fx_finish(s, NULL, a, SCHED_END_EXIT, 0, 1000), 0);
    sched_account_info_t ai;
    cr_assert_eq(sched_account_get(s, 1, 1000, &ai), 0);
    cr_expect_eq(ai.usage, 0);
    cr_expect_eq(ai.usage_tree, 51000);
    /* top level: default (no usage), then research (3 x 34000 > 1 x 51000),
     * then ops; within research nlp (17000) before vision (34000) */
    uint32_t rank[5];
    cr_assert_eq(sched_account_ranks(s, 1000, rank), 0);
    cr_expect(rank[0] == 0 && rank[1] == 1 && rank[4] == 2 && rank[3] == 3 && rank[2] == 4,
              "ranks %u %u %u %u %u", rank[0], rank[1], rank[2], rank[3], rank[4]);
    /* one GPU free for three accounts' tasks: nlp's gets it */
    many_t *fill = calloc(1, sizeof(*fill));
    many_init(fill, "f", 7, 1, 1, NULL);
    cr_assert_eq(fx_submit(s, NULL, &fill->job, 1000), 0);
    cr_assert_eq(fx_place(s, NULL, 1000, &pass), 7);
    many_t *v2 = calloc(1, sizeof(*v2)), *o2 = calloc(1, sizeof(*o2)), *l2 = calloc(1, sizeof(*l2));
    many_init(v2, "v", 1, 1, 1, "vision");
    many_init(o2, "o", 1, 1, 1, "ops");
    many_init(l2, "l", 1, 1, 1, "nlp");
    cr_assert_eq(fx_submit(s, NULL, &v2->job, 1000), 0);
    cr_assert_eq(fx_submit(s, NULL, &o2->job, 1000), 0);
    cr_assert_eq(fx_submit(s, NULL, &l2->job, 1000), 0);
    cr_assert_eq(fx_place(s, NULL, 1000, &pass), 1);
    cr_expect(strncmp(pass.buf, "job7 l0 ", 8) == 0, "%s", pass.buf);
    free(v);
    free(l);
    free(o);
    free(fill);
    free(v2);
    free(o2);
    free(l2);
    sched_destroy(s);
}

/* Backfill respects limits: behind a reservation, short tasks may start
 * before it begins, but not past their account's limit; and a task that
 * waits on its limit holds no reservation (nothing else waits for it). */
LEAK_TEST(accounts, backfill_respects_limits)
{
    sched_t *s = sched_create(&(sched_config_t){.max_reservations = 1});
    fx_node_t n;
    fx_node_init(&n, "n0", 1, 16, 8, 8, "H100", 80 * GiB, 64 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &n), 0);
    cr_assert_eq(account_set(s, NULL, "short", NULL, 1, 1, 0), 0);
    /* a long default task holds one GPU until t=100s */
    sched_task_spec_t xt = fx_task("x", 1, 1);
    xt.time_limit_ms = 100000;
    sched_job_spec_t xj = {.name = "x", .seed = 1, .ntasks = 1, .tasks = &xt};
    cr_assert_eq(fx_submit(s, NULL, &xj, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 1, "%s", pass.buf);
    /* the whole node, at a higher priority: reserved from t=100s */
    sched_task_spec_t wt = fx_task("whole", 1, 8);
    wt.priority = 10;
    sched_job_spec_t wj = {.name = "w", .seed = 1, .ntasks = 1, .tasks = &wt};
    cr_assert_eq(fx_submit(s, NULL, &wj, 1), 0);
    /* three 10 s tasks of "short" (limit 1 GPU): each would end before the
     * reservation, but only one may run at a time */
    sched_task_spec_t st[3] = {fx_task("s0", 1, 1), fx_task("s1", 1, 1), fx_task("s2", 1, 1)};
    for (int i = 0; i < 3; i++)
        st[i].time_limit_ms = 10000;
    sched_job_spec_t sj = {.name = "s", .seed = 1, .account = "short", .ntasks = 3, .tasks = st};
    cr_assert_eq(fx_submit(s, NULL, &sj, 1), 0);
    cr_assert_eq(fx_place(s, NULL, 1, &pass), 1, "%s", pass.buf);
    cr_expect(strstr(pass.buf, "job3 s0 ") == pass.buf, "backfilled: %s", pass.buf);
    cr_expect_eq(gpus_of(s, "short"), 1);
    char *e = explain(s, 3, 1);
    cr_expect_str_eq(e, "job 3 task s1: waiting on a limit: account short is at its GPU limit: 1 "
                        "of 1 in use");
    free(e);
    e = explain(s, 2, 0);
    cr_expect(strstr(e, "reserv") != NULL, "the whole-node task holds the reservation: %s", e);
    free(e);

    /* now "short" asks for more than its limit lets it run at once, at the
     * highest priority: it waits on the limit and reserves nothing, so a
     * default task may take the free GPUs though it runs past t=100s */
    sched_task_spec_t bt = fx_task("big", 1, 4);
    bt.priority = 20;
    sched_job_spec_t bj = {.name = "b", .seed = 1, .account = "short", .ntasks = 1, .tasks = &bt};
    cr_assert_eq(fx_submit(s, NULL, &bj, 2), 0);
    sched_task_spec_t lt = fx_task("long", 1, 1);
    lt.time_limit_ms = 500000;
    lt.priority = 15;
    sched_job_spec_t lj = {.name = "l", .seed = 1, .ntasks = 1, .tasks = &lt};
    cr_assert_eq(fx_submit(s, NULL, &lj, 2), 0);
    cr_assert_eq(fx_place(s, NULL, 2, &pass), 1, "%s", pass.buf);
    cr_expect(strstr(pass.buf, "job5 long ") == pass.buf, "%s", pass.buf);
    e = explain(s, 4, 0);
    cr_expect(strstr(e, "waiting on a limit: account short is at its GPU limit") != NULL, "%s", e);
    free(e);
    sched_destroy(s);
}
