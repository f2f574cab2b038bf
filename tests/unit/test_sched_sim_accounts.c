/* The what-if simulator with accounts (sched_sim_account_set): limits at
 * every level of the tree hold at every moment of the predicted spans,
 * shares move waits, and accounts are given before the run only. */
#include <criterion/criterion.h>

#include "leak_check.h"
#include "sched_fixtures.h"
#include "scheduling/sim.h"

#define NJOBS 60

/* Jobs of one task of 1 or 2 GPUs, submitted in turn by three accounts
 * (nlp and vision under research; speech at the top), in bursts. */
typedef struct wl {
    sched_task_spec_t tasks[NJOBS];
    char names[NJOBS][16];
    sched_job_spec_t jobs[NJOBS];
    int64_t submit[NJOBS];
    sched_sim_outcome_t out[NJOBS];
    const sched_sim_outcome_t *outp[NJOBS];
    uint32_t nout[NJOBS];
} wl_t;

static const char *const accts[3] = {"nlp", "vision", "speech"};

static void wl_init(wl_t *w, uint64_t seed)
{
    memset(w, 0, sizeof(*w));
    uint64_t rng = seed;
    for (int j = 0; j < NJOBS; j++) {
        snprintf(w->names[j], sizeof(w->names[j]), "j%d", j);
        w->tasks[j] = fx_task("t", 2, 1 + (uint32_t)(fx_rand(&rng) % 2));
        w->jobs[j] = (sched_job_spec_t){.name = w->names[j],
                                        .account = accts[j % 3],
                                        .seed = (uint64_t)j + 1,
                                        .ntasks = 1,
                                        .tasks = &w->tasks[j]};
        w->submit[j] = (j / 12) * 5000 + (int64_t)(fx_rand(&rng) % 100);
        w->out[j] = (sched_sim_outcome_t){.hold_ms = 10000 + (int64_t)(fx_rand(&rng) % 30000),
                                          .end = SCHED_END_EXIT};
        w->outp[j] = &w->out[j];
        w->nout[j] = 1;
    }
}

/* research (max_gpus research_max) over nlp and vision (max_gpus
 * vision_max), speech at the top; vshare: vision's share.
 * SCHED_UNLIMITED: no limit. */
static sched_sim_t *run(wl_t *w, const sched_config_t *cfg, bool with_accounts,
                        uint32_t research_max, uint32_t vision_max, uint32_t vshare)
{
    static fx_node_t node;
    fx_node_init(&node, "g", 2, 16, 8, 2, "NVIDIA H100 80GB HBM3", 80 * GiB, 256 * GiB);
    sched_sim_t *sim = sched_sim_create(cfg);
    cr_assert(sim);
    cairn_error_t err = {{0}};
    cr_assert_eq(sched_sim_node_add(sim, &node.d, &err), 0, "%s", err.text);
    sched_account_spec_t a[4] = {
        {.name = "research", .share = 1, .max_gpus = research_max},
        {.name = "nlp", .parent = "research", .share = 1, .max_gpus = SCHED_UNLIMITED},
        {.name = "vision", .parent = "research", .share = vshare, .max_gpus = vision_max},
        {.name = "speech", .share = 1, .max_gpus = SCHED_UNLIMITED},
    };
    for (int i = 0; with_accounts && i < 4; i++) {
        a[i].max_cpus = a[i].max_running = SCHED_UNLIMITED;
        a[i].max_priority = SCHED_NO_PRIORITY_CAP;
        cr_assert_eq(sched_sim_account_set(sim, &a[i], &err), 0, "%s", err.text);
    }
    for (int j = 0; j < NJOBS; j++) {
        if (!with_accounts)
            w->jobs[j].account = NULL;
        cr_assert_eq(
            sched_sim_job_add(sim, w->submit[j], &w->jobs[j], &w->nout[j], &w->outp[j], &err), 0,
            "%s", err.text);
    }
    cr_assert_eq(sched_sim_run(sim, &err), 0, "%s", err.text);
    return sim;
}

/* The most GPUs held at once by the jobs j with in(j): from the spans
 * alone (held from alloc_ms to end_ms). */
static uint32_t peak(const sched_sim_t *sim, bool (*in)(int))
{
    size_t n;
    const sched_sim_span_t *sp = sched_sim_spans(sim, &n);
    uint32_t most = 0;
    for (size_t i = 0; i < n; i++) { /* the moments when something starts holding */
        if (!in((int)sp[i].job) || sp[i].alloc_ms >= sp[i].end_ms)
            continue;
        int64_t t = sp[i].alloc_ms;
        uint32_t held = 0;
        for (size_t k = 0; k < n; k++)
            if (in((int)sp[k].job) && sp[k].alloc_ms <= t && t < sp[k].end_ms)
                held += (uint32_t)__builtin_popcountll(sp[k].gpu_mask);
        most = held > most ? held : most;
    }
    return most;
}

static bool is_vision(int j)
{
    return j % 3 == 1;
}

static bool is_research(int j)
{
    return j % 3 != 2;
}

static uint32_t unplaced(const sched_sim_t *sim)
{
    sched_sim_stats_t st;
    sched_sim_stats(sim, &st);
    return st.unplaced + st.rejected;
}

LEAK_TEST(sim_accounts, limits_hold_at_every_level)
{
    sched_config_t daemon = sched_config_daemon(true);
    const sched_config_t *cfgs[2] = {NULL, &daemon};
    for (int c = 0; c < 2; c++)
        for (uint64_t seed = 1; seed <= 5; seed++) {
            wl_t w;
            wl_init(&w, seed);
            /* without limits the workload takes more: the check means something */
            sched_sim_t *free_run = run(&w, cfgs[c], false, 0, 0, 1);
            cr_assert_gt(peak(free_run, is_vision), 3);
            cr_assert_gt(peak(free_run, is_research), 5);
            sched_sim_destroy(free_run);
            wl_init(&w, seed);
            sched_sim_t *sim = run(&w, cfgs[c], true, 5, 3, 1);
            cr_assert_leq(peak(sim, is_vision), 3, "seed %llu: vision over its limit",
                          (unsigned long long)seed);
            cr_assert_leq(peak(sim, is_research), 5, "seed %llu: research over its limit",
                          (unsigned long long)seed);
            cr_assert_eq(unplaced(sim), 0, "every job runs in the end");
            sched_sim_destroy(sim);
        }
}

/* The median wait of the jobs j with in(j). */
static int64_t p50_wait(const sched_sim_t *sim, bool (*in)(int))
{
    size_t n, k = 0;
    const sched_sim_span_t *sp = sched_sim_spans(sim, &n);
    int64_t w[NJOBS];
    for (size_t i = 0; i < n; i++)
        if (in((int)sp[i].job) && sp[i].rank == 0)
            w[k++] = sp[i].alloc_ms - sp[i].ready_ms;
    for (size_t i = 1; i < k; i++) /* insertion sort */
        for (size_t m = i; m > 0 && w[m - 1] > w[m]; m--) {
            int64_t x = w[m];
            w[m] = w[m - 1];
            w[m - 1] = x;
        }
    return k ? w[(k - 1) / 2] : 0;
}

LEAK_TEST(sim_accounts, a_larger_share_waits_less)
{
    wl_t w;
    wl_init(&w, 7);
    sched_sim_t *even = run(&w, NULL, true, SCHED_UNLIMITED, SCHED_UNLIMITED, 1);
    wl_init(&w, 7);
    sched_sim_t *more = run(&w, NULL, true, SCHED_UNLIMITED, SCHED_UNLIMITED, 4);
    cr_assert_lt(p50_wait(more, is_vision), p50_wait(even, is_vision));
    sched_sim_destroy(even);
    sched_sim_destroy(more);
}

LEAK_TEST(sim_accounts, refused_and_before_the_run_only)
{
    sched_sim_t *sim = sched_sim_create(NULL);
    cairn_error_t err = {{0}};
    sched_account_spec_t orphan = {.name = "a", .parent = "nosuch", .share = 1};
    cr_assert_lt(sched_sim_account_set(sim, &orphan, &err), 0);
    cr_assert(strstr(err.text, "nosuch"), "%s", err.text);
    sched_account_spec_t ok = {.name = "a",
                               .share = 1,
                               .max_gpus = SCHED_UNLIMITED,
                               .max_cpus = SCHED_UNLIMITED,
                               .max_running = SCHED_UNLIMITED,
                               .max_priority = SCHED_NO_PRIORITY_CAP};
    cr_assert_eq(sched_sim_account_set(sim, &ok, &err), 0, "%s", err.text);
    cr_assert_eq(sched_sim_run(sim, &err), 0, "%s", err.text);
    cr_assert_eq(sched_sim_account_set(sim, &ok, &err), SCHED_EINVAL);
    sched_sim_destroy(sim);
}
