/* Placement: topology-aware GPU and core choice, best fit, priority order,
 * gangs, constraints and backfill. Compared as canonical strings. */
#include <criterion/criterion.h>

#include "leak_check.h"
#include "sched_fixtures.h"

/* One 2-socket node: 2 NUMA x 16 cores, 8 GPUs, 2 per PCIe switch. */
static sched_t *one_node(fx_node_t *n)
{
    sched_t *s = sched_create(NULL);
    fx_node_init(n, "n0", 2, 16, 8, 2, "NVIDIA H100 80GB HBM3", 80 * GiB, 256 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, n), 0);
    return s;
}

static fx_pass_t pass;

typedef struct place_case {
    const char *what;
    uint32_t cpus, gpus;
    const char *expect;
} place_case_t;

LEAK_TEST(place, gpus_compact_within_switch_then_numa)
{
    /* Each row is submitted after the previous ones, which keep running. */
    static const place_case_t rows[] = {
        {"1 GPU: first switch, cores on its NUMA domain", 2, 1,
         "job1 t a1 -> n0 gpu[0] core[0-1] mem=0"},
        {"2 GPUs: a switch with exactly 2 free (best fit), not the half-used one", 2, 2,
         "job2 t a2 -> n0 gpu[2-3] core[2-3] mem=0"},
        {"1 GPU: fills the half-used switch", 1, 1, "job3 t a3 -> n0 gpu[1] core[4] mem=0"},
        {"4 GPUs: no switch holds 4, NUMA 1 holds 4", 4, 4,
         "job4 t a4 -> n0 gpu[4-7] core[16-19] mem=0"},
        {"CPU only: takes the best-fit NUMA domain", 8, 0, "job5 t a5 -> n0 core[5-12] mem=0"},
    };
    fx_node_t n;
    sched_t *s = one_node(&n);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sched_task_spec_t t = fx_task("t", rows[i].cpus, rows[i].gpus);
        sched_job_spec_t job = {.name = "j", .seed = 1, .ntasks = 1, .tasks = &t};
        cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
        cr_assert_eq(fx_place(s, NULL, 0, &pass), 1, "%s", rows[i].what);
        cr_expect_str_eq(pass.buf, rows[i].expect, "%s: %s", rows[i].what, pass.buf);
    }
    sched_destroy(s);
}

LEAK_TEST(place, eight_gpus_span_numa_and_cores_follow)
{
    fx_node_t n;
    sched_t *s = one_node(&n);
    sched_task_spec_t t = fx_task("big", 32, 8);
    sched_job_spec_t job = {.name = "j", .ntasks = 1, .tasks = &t};
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 1);
    cr_expect_str_eq(pass.buf, "job1 big a1 -> n0 gpu[0-7] core[0-31] mem=0");
    char *why = sched_explain(s, 1, 0, 0);
    cr_expect(strstr(why, "spread across NUMA domains") != NULL, "%s", why);
    free(why);
    sched_destroy(s);
}

LEAK_TEST(place, best_fit_node_and_cpu_tasks_avoid_gpu_nodes)
{
    fx_node_t a, b, c;
    sched_t *s = sched_create(NULL);
    fx_node_init(&a, "a-gpu8", 2, 16, 8, 2, "H100", 80 * GiB, 64 * GiB);
    fx_node_init(&b, "b-gpu2", 1, 16, 2, 2, "H100", 80 * GiB, 64 * GiB);
    fx_node_init(&c, "c-cpu", 1, 16, 0, 0, NULL, 0, 64 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &a), 0);
    cr_assert_eq(fx_add_node(s, NULL, &b), 0);
    cr_assert_eq(fx_add_node(s, NULL, &c), 0);
    sched_task_spec_t t[] = {fx_task("cpu", 4, 0), fx_task("two", 4, 2), fx_task("one", 1, 1)};
    sched_job_spec_t job = {.name = "j", .ntasks = 3, .tasks = t};
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 3);
    cr_expect_str_eq(pass.buf, "job1 cpu a1 -> c-cpu core[0-3] mem=0\n"
                               "job1 two a2 -> b-gpu2 gpu[0-1] core[0-3] mem=0\n"
                               "job1 one a3 -> a-gpu8 gpu[0] core[0] mem=0");
    /* a CPU task now best-fits the GPU node whose GPUs are all taken */
    sched_task_spec_t more = fx_task("more", 4, 0);
    sched_job_spec_t j2 = {.name = "j2", .ntasks = 1, .tasks = &more};
    cr_assert_eq(fx_submit(s, NULL, &j2, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 1);
    cr_expect_str_eq(pass.buf, "job2 more a4 -> b-gpu2 core[4-7] mem=0");
    sched_destroy(s);
}

LEAK_TEST(place, priority_then_submission_order)
{
    fx_node_t n;
    sched_t *s = sched_create(NULL);
    fx_node_init(&n, "n0", 1, 2, 0, 0, NULL, 0, 8 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &n), 0);
    sched_task_spec_t a[] = {fx_task("low1", 1, 0), fx_task("low2", 1, 0)};
    sched_task_spec_t b[] = {fx_task("high", 1, 0), fx_task("low3", 1, 0)};
    b[0].priority = 10;
    sched_job_spec_t j1 = {.name = "first", .ntasks = 2, .tasks = a};
    sched_job_spec_t j2 = {.name = "second", .ntasks = 2, .tasks = b};
    cr_assert_eq(fx_submit(s, NULL, &j1, 0), 0);
    cr_assert_eq(fx_submit(s, NULL, &j2, 1), 0);
    cr_assert_eq(fx_place(s, NULL, 2, &pass), 2);
    cr_expect_str_eq(pass.buf, "job2 high a1 -> n0 core[0] mem=0\n"
                               "job1 low1 a2 -> n0 core[1] mem=0");
    cr_assert_eq(fx_finish(s, NULL, 1, SCHED_END_EXIT, 0, 3), 0);
    cr_assert_eq(fx_place(s, NULL, 3, &pass), 1);
    cr_expect_str_eq(pass.buf, "job1 low2 a3 -> n0 core[0] mem=0");
    sched_destroy(s);
}

LEAK_TEST(place, gang_all_or_nothing_on_distinct_nodes)
{
    fx_node_t n[3];
    sched_t *s = sched_create(NULL);
    char name[8];
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof(name), "g%d", i);
        fx_node_init(&n[i], name, 2, 8, 4, 2, "H100", 80 * GiB, 64 * GiB);
        cr_assert_eq(fx_add_node(s, NULL, &n[i]), 0);
    }
    sched_task_spec_t t = fx_task("ddp", 4, 4);
    t.replicas = 3;
    sched_job_spec_t job = {.name = "gang", .ntasks = 1, .tasks = &t};
    /* 3 replicas, 2 nodes: validation refuses it as unsatisfiable */
    sched_problems_t p = {0};
    cr_assert_eq(sched_job_validate(s, &job, &p), 1);
    cr_expect(strstr(p.text, "gang of 3 replicas needs 3 nodes, only 2") != NULL, "%s", p.text);
    sched_problems_fini(&p);
    snprintf(name, sizeof(name), "g2");
    fx_node_init(&n[2], name, 2, 8, 4, 2, "H100", 80 * GiB, 64 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &n[2]), 0);
    /* occupy one GPU on g1: the gang must wait, and take nothing meanwhile */
    sched_task_spec_t one = fx_task("one", 1, 1);
    sched_job_spec_t j1 = {.name = "one", .ntasks = 1, .tasks = &one};
    cr_assert_eq(fx_submit(s, NULL, &j1, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 1);
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    char *before = sched_dump(s);
    cr_assert_eq(fx_place(s, NULL, 1, &pass), 0);
    char *after = sched_dump(s);
    cr_expect_str_eq(before, after, "a gang that does not fit must allocate nothing");
    char *why = sched_explain(s, 2, 0, 1);
    cr_expect(strstr(why, "gang of 3 replicas needs 3 nodes at once, 2 fit now") != NULL, "%s",
              why);
    free(why);
    free(before);
    free(after);
    cr_assert_eq(fx_finish(s, NULL, 1, SCHED_END_EXIT, 0, 2), 0);
    cr_assert_eq(fx_place(s, NULL, 2, &pass), 1);
    cr_expect_str_eq(pass.buf, "job2 ddp a2 -> g0 gpu[0-3] core[0-3] mem=0 + "
                               "g1 gpu[0-3] core[0-3] mem=0 + g2 gpu[0-3] core[0-3] mem=0");
    cr_expect_neq(sched_task_seed(s, 2, 0, 0), sched_task_seed(s, 2, 0, 1));
    sched_destroy(s);
}

/* A node of 4 GPUs of one model; vendor "amd" for an AMD model. */
static void kind_node(sched_t *s, fx_node_t *n, const char *name, const char *model, int gpus)
{
    fx_node_init(n, name, 1, 16, gpus, gpus, model, 64 * GiB, 256 * GiB);
    for (int g = 0; g < gpus; g++)
        n->gpus[g].vendor = strncmp(model, "AMD", 3) == 0 ? "amd" : "nvidia";
    cr_assert_eq(fx_add_node(s, NULL, n), 0);
}

typedef struct gang_case {
    const char *what;
    uint32_t replicas, gpus;
    bool mixed;
    const char *expect; /* the pass's placements, "" for none */
    const char *why;    /* in its explanation when it waits */
} gang_case_t;

/* A gang's replicas get one GPU model (vendor and model) unless its
 * request says gpu.mixed: the kind where the whole gang fits with the
 * fewest GPUs left, ties by vendor then model. Rows run one after another
 * on one cluster; what they place keeps running. */
LEAK_TEST(place, gang_replicas_share_one_gpu_model)
{
    static const gang_case_t rows[] = {
        {"2 x 4 GPUs: only H100 has two nodes free, never AMD + NVIDIA", 2, 4, false,
         "job1 g a1 -> h0 gpu[0-3] core[0-3] mem=0 + h1 gpu[0-3] core[0-3] mem=0", NULL},
        {"2 x 2 GPUs: one MI250X node and one A100 node free: it waits", 2, 2, false, "",
         "gang of 2 replicas needs 2 nodes at once, 2 fit now; its replicas take one GPU model "
         "(unless resources.gpu.mixed) and no model has 2: 1 with AMD Instinct MI250X, 1 with "
         "NVIDIA A100-SXM4-40GB; waiting for resources: 2 nodes: too few free GPUs"},
        {"the same gang with gpu.mixed: across the two models", 2, 2, true,
         "job3 g a2 -> amd0 gpu[0-1] core[0-1] mem=0 + a0 gpu[0-1] core[0-1] mem=0", NULL},
    };
    fx_node_t n[5];
    sched_t *s = sched_create(NULL);
    kind_node(s, &n[0], "amd0", "AMD Instinct MI250X", 4);
    kind_node(s, &n[1], "h0", "NVIDIA H100 80GB HBM3", 4);
    kind_node(s, &n[2], "a0", "NVIDIA A100-SXM4-40GB", 4);
    kind_node(s, &n[3], "h1", "NVIDIA H100 80GB HBM3", 4);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sched_task_spec_t t = fx_task("g", rows[i].gpus, rows[i].gpus);
        t.replicas = rows[i].replicas;
        t.req.gpu_mixed = rows[i].mixed;
        sched_job_spec_t job = {.name = "j", .seed = 1, .ntasks = 1, .tasks = &t};
        cr_assert_eq(fx_submit(s, NULL, &job, 0), 0, "%s", rows[i].what);
        fx_place(s, NULL, 0, &pass);
        cr_expect_str_eq(pass.buf, rows[i].expect, "%s: %s", rows[i].what, pass.buf);
        if (rows[i].why) {
            char *why = sched_explain(s, (uint32_t)i + 1, 0, 0);
            cr_expect(strstr(why, rows[i].why) != NULL, "%s: %s", rows[i].what, why);
            free(why);
        }
    }
    sched_destroy(s);
}

/* Between kinds, best fit: the one that leaves fewest GPUs free; equal,
 * the first by vendor and model. */
LEAK_TEST(place, gang_kind_best_fit_then_name)
{
    fx_node_t n[4];
    sched_t *s = sched_create(NULL);
    kind_node(s, &n[0], "big0", "NVIDIA A100-SXM4-40GB", 8);
    kind_node(s, &n[1], "big1", "NVIDIA A100-SXM4-40GB", 8);
    kind_node(s, &n[2], "h0", "NVIDIA H100 80GB HBM3", 4);
    kind_node(s, &n[3], "h1", "NVIDIA H100 80GB HBM3", 4);
    sched_task_spec_t t = fx_task("g", 4, 4);
    t.replicas = 2;
    sched_job_spec_t job = {.name = "j", .seed = 1, .ntasks = 1, .tasks = &t};
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 1);
    cr_expect_str_eq(pass.buf,
                     "job1 g a1 -> h0 gpu[0-3] core[0-3] mem=0 + "
                     "h1 gpu[0-3] core[0-3] mem=0",
                     "H100 leaves 0 GPUs free, A100 would leave 8");
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 1);
    cr_expect_str_eq(pass.buf, "job2 g a2 -> big0 gpu[0-3] core[0-3] mem=0 + "
                               "big1 gpu[0-3] core[0-3] mem=0");
    sched_destroy(s);

    /* two kinds that fit equally: by vendor, then model */
    s = sched_create(NULL);
    kind_node(s, &n[0], "x0", "NVIDIA H100 80GB HBM3", 4);
    kind_node(s, &n[1], "y0", "AMD Instinct MI250X", 4);
    kind_node(s, &n[2], "x1", "NVIDIA H100 80GB HBM3", 4);
    kind_node(s, &n[3], "y1", "AMD Instinct MI250X", 4);
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 1);
    cr_expect_str_eq(pass.buf,
                     "job1 g a1 -> y0 gpu[0-3] core[0-3] mem=0 + "
                     "y1 gpu[0-3] core[0-3] mem=0",
                     "amd before nvidia");
    sched_destroy(s);
}

/* A blocked gang reserves nodes of one model: the H100s when one frees
 * up, not an H100 and the A100 that frees up sooner. */
LEAK_TEST(place, gang_reservation_takes_one_model)
{
    fx_node_t n[3];
    sched_t *s = sched_create(NULL);
    kind_node(s, &n[0], "a0", "NVIDIA A100-SXM4-40GB", 4);
    kind_node(s, &n[1], "h0", "NVIDIA H100 80GB HBM3", 4);
    kind_node(s, &n[2], "h1", "NVIDIA H100 80GB HBM3", 4);
    sched_task_spec_t run[] = {fx_task("short", 4, 4), fx_task("long", 4, 4)};
    run[0].req.gpu_model = "A100";
    run[0].time_limit_ms = 50;
    run[1].req.gpu_model = "H100";
    run[1].time_limit_ms = 100;
    sched_job_spec_t j1 = {.name = "run", .ntasks = 2, .tasks = run};
    cr_assert_eq(fx_submit(s, NULL, &j1, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 2);
    cr_expect_str_eq(pass.buf, "job1 short a1 -> a0 gpu[0-3] core[0-3] mem=0\n"
                               "job1 long a2 -> h0 gpu[0-3] core[0-3] mem=0");
    sched_task_spec_t g = fx_task("g", 4, 4);
    g.replicas = 2;
    g.priority = 10;
    sched_job_spec_t j2 = {.name = "gang", .ntasks = 1, .tasks = &g};
    cr_assert_eq(fx_submit(s, NULL, &j2, 1), 0);
    cr_assert_eq(fx_place(s, NULL, 1, &pass), 0);
    char *why = sched_explain(s, 2, 0, 1);
    cr_expect(strstr(why, "holds a reservation on h0 from t=100 (and 1 more node)") != NULL, "%s",
              why);
    free(why);
    /* a 1-GPU task of 60 ms ends before t=100: it may use h1 meanwhile */
    sched_task_spec_t b = fx_task("b", 1, 1);
    b.time_limit_ms = 60;
    sched_job_spec_t j3 = {.name = "fill", .ntasks = 1, .tasks = &b};
    cr_assert_eq(fx_submit(s, NULL, &j3, 1), 0);
    cr_assert_eq(fx_place(s, NULL, 1, &pass), 1);
    cr_expect_str_eq(pass.buf, "job3 b a3 -> h1 gpu[0] core[0] mem=0");
    sched_destroy(s);
}

LEAK_TEST(place, constraints_model_memory_labels_and_draining)
{
    fx_node_t a, b, c;
    sched_t *s = sched_create(NULL);
    fx_node_init(&a, "a100", 1, 8, 4, 4, "NVIDIA A100-SXM4-40GB", 40 * GiB, 64 * GiB);
    fx_node_init(&b, "h100", 1, 8, 4, 4, "NVIDIA H100 80GB HBM3", 80 * GiB, 64 * GiB);
    fx_node_init(&c, "h100b", 1, 8, 4, 4, "NVIDIA H100 80GB HBM3", 80 * GiB, 64 * GiB);
    c.labels[0] = "zone=b";
    c.d.nlabels = 1;
    cr_assert_eq(fx_add_node(s, NULL, &a), 0);
    cr_assert_eq(fx_add_node(s, NULL, &b), 0);
    cr_assert_eq(fx_add_node(s, NULL, &c), 0);
    sched_event_t drain = {.type = SCHED_EV_NODE_STATE};
    drain.u.node_state.node = 1;
    drain.u.node_state.state = SCHED_NODE_DRAINING;
    cr_assert_eq(sched_apply(s, &drain, NULL), 0);
    static const char *const zone[] = {"zone=b"};
    sched_task_spec_t t[] = {fx_task("h", 1, 1), fx_task("big", 1, 1), fx_task("z", 1, 1)};
    t[0].req.gpu_model = "h100";
    t[1].req.gpu_min_memory = 60 * GiB;
    t[2].req.labels = zone;
    t[2].req.nlabels = 1;
    sched_job_spec_t job = {.name = "c", .ntasks = 3, .tasks = t};
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 3);
    cr_expect_str_eq(pass.buf, "job1 h a1 -> h100b gpu[0] core[0] mem=0\n"
                               "job1 big a2 -> h100b gpu[1] core[1] mem=0\n"
                               "job1 z a3 -> h100b gpu[2] core[2] mem=0");
    sched_destroy(s);
}

LEAK_TEST(place, backfill_respects_reservation)
{
    fx_node_t n;
    sched_t *s = sched_create(NULL);
    fx_node_init(&n, "n0", 1, 5, 0, 0, NULL, 0, 8 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &n), 0);
    /* a 3-core task runs until t=1000 */
    sched_task_spec_t run = fx_task("running", 3, 0);
    run.time_limit_ms = 1000;
    sched_job_spec_t j1 = {.name = "r", .ntasks = 1, .tasks = &run};
    cr_assert_eq(fx_submit(s, NULL, &j1, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 1);
    /* a 4-core high-priority task waits; short and long 1-core tasks follow */
    sched_task_spec_t t[] = {fx_task("wide", 4, 0), fx_task("long", 1, 0),
                             fx_task("short", 1, 0)};
    t[0].priority = 5;
    t[0].time_limit_ms = 1000;
    t[1].time_limit_ms = 5000;
    t[2].time_limit_ms = 500;
    sched_job_spec_t j2 = {.name = "w", .ntasks = 3, .tasks = t};
    cr_assert_eq(fx_submit(s, NULL, &j2, 10), 0);
    cr_assert_eq(fx_place(s, NULL, 10, &pass), 1);
    cr_expect_str_eq(pass.buf, "job2 short a2 -> n0 core[3] mem=0",
                     "only the task that ends before the reservation may backfill");
    char *why = sched_explain(s, 2, 1, 10);
    cr_expect(strstr(why, "reservation held for job 2 task wide from t=1000") != NULL, "%s", why);
    free(why);
    why = sched_explain(s, 2, 0, 10);
    cr_expect(strstr(why, "holds a reservation on n0 from t=1000") != NULL, "%s", why);
    free(why);
    sched_destroy(s);
}

LEAK_TEST(place, no_reservation_when_disabled)
{
    fx_node_t n;
    sched_config_t cfg = {.max_reservations = 0};
    sched_t *s = sched_create(&cfg);
    fx_node_init(&n, "n0", 1, 4, 0, 0, NULL, 0, 8 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &n), 0);
    sched_task_spec_t a = fx_task("a", 3, 0);
    a.time_limit_ms = 1000;
    sched_job_spec_t j1 = {.name = "r", .ntasks = 1, .tasks = &a};
    cr_assert_eq(fx_submit(s, NULL, &j1, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 1);
    sched_task_spec_t t[] = {fx_task("wide", 4, 0), fx_task("long", 1, 0)};
    t[0].priority = 5;
    sched_job_spec_t j = {.name = "w", .ntasks = 2, .tasks = t};
    cr_assert_eq(fx_submit(s, NULL, &j, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 1);
    cr_expect_str_eq(pass.buf, "job2 long a2 -> n0 core[3] mem=0");
    sched_destroy(s);
}

/* GPU models as people write them: for each request, the models it takes
 * (of those below, in order), "-" for none. */
LEAK_TEST(place, gpu_models_match_whole_names)
{
    static const char *const models[] = {
        "NVIDIA H100 80GB HBM3",
        "NVIDIA H100 PCIe",
        "GH100 [H100 SXM5 80GB]",
        "NVIDIA H200",
        "NVIDIA GH200 480GB",
        "NVIDIA A100-SXM4-80GB",
        "NVIDIA A100 80GB PCIe",
        "NVIDIA A10",
        "NVIDIA A10G",
        "NVIDIA L40S",
        "NVIDIA L40",
        "AMD Instinct MI250X",
        "AMD Instinct MI250",
        "NVIDIA GeForce RTX 4090",
    };
    static const struct {
        const char *want, *expect;
    } rows[] = {
        {"H100", "NVIDIA H100 80GB HBM3|NVIDIA H100 PCIe|GH100 [H100 SXM5 80GB]"},
        {"h100", "NVIDIA H100 80GB HBM3|NVIDIA H100 PCIe|GH100 [H100 SXM5 80GB]"},
        {"H10", "-"},
        {"H200", "NVIDIA H200"},
        {"GH200", "NVIDIA GH200 480GB"},
        {"A100", "NVIDIA A100-SXM4-80GB|NVIDIA A100 80GB PCIe"},
        {"A10", "NVIDIA A10"},
        {"a10g", "NVIDIA A10G"},
        {"L40S", "NVIDIA L40S"},
        {"L40", "NVIDIA L40"},
        {"MI250X", "AMD Instinct MI250X"},
        {"mi250", "AMD Instinct MI250"},
        {"RTX 4090", "NVIDIA GeForce RTX 4090"},
        {"A100 80GB", "NVIDIA A100-SXM4-80GB|NVIDIA A100 80GB PCIe"},
        {"80GB A100", "-"},
        {"NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"},
        {"H100-PCIe", "NVIDIA H100 PCIe"},
        {"~^NVIDIA (A|H)100", "NVIDIA H100 80GB HBM3|NVIDIA H100 PCIe|NVIDIA A100-SXM4-80GB|"
                              "NVIDIA A100 80GB PCIe"},
        {"~l40s?$", "NVIDIA L40S|NVIDIA L40"},
        {"~MI2[0-9]+X", "AMD Instinct MI250X"},
    };
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        char got[512] = "";
        size_t len = 0;
        for (size_t m = 0; m < sizeof(models) / sizeof(models[0]); m++) {
            int k = sched_gpu_model_match(rows[r].want, models[m], NULL);
            cr_assert_geq(k, 0, "%s", rows[r].want);
            if (k)
                len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%s", len ? "|" : "",
                                        models[m]);
        }
        cr_expect_str_eq(len ? got : "-", rows[r].expect, "model: %s", rows[r].want);
    }
    cairn_error_t err;
    cr_expect_eq(sched_gpu_model_match("~(", "NVIDIA A10", &err), SCHED_EINVAL);
    cr_expect(strstr(err.text, "GPU model '~(' is not a valid pattern") != NULL, "%s", err.text);
    cr_expect_eq(sched_gpu_model_match("~", "NVIDIA A10", NULL), SCHED_EINVAL);
    cr_expect_eq(sched_gpu_model_match(" - ", "NVIDIA A10", NULL), SCHED_EINVAL);
    cr_expect_eq(sched_gpu_model_match(NULL, "NVIDIA A10", NULL), 1, "no model: any");
}

/* A request for A10 waits for an A10 rather than taking an A100, through
 * placement and validation alike; a pattern is compiled once per class. */
LEAK_TEST(place, gpu_model_a10_is_not_an_a100)
{
    fx_node_t a, b;
    sched_t *s = sched_create(NULL);
    fx_node_init(&a, "a100", 1, 8, 4, 4, "NVIDIA A100-SXM4-80GB", 80 * GiB, 64 * GiB);
    fx_node_init(&b, "a10", 1, 8, 1, 1, "NVIDIA A10", 24 * GiB, 64 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &a), 0);
    cr_assert_eq(fx_add_node(s, NULL, &b), 0);
    sched_task_spec_t t[] = {fx_task("x", 1, 1), fx_task("y", 1, 1), fx_task("z", 1, 2),
                             fx_task("w", 1, 1)};
    t[0].req.gpu_model = "A10";
    t[1].req.gpu_model = "A10";
    t[2].req.gpu_model = "~a100-sxm";
    t[3].req.gpu_model = "H10";
    sched_job_spec_t job = {.name = "m", .ntasks = 3, .tasks = t};
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 2);
    cr_expect_str_eq(pass.buf, "job1 x a1 -> a10 gpu[0] core[0] mem=0\n"
                               "job1 z a2 -> a100 gpu[0-1] core[0] mem=0");
    char *why = sched_explain(s, 1, 1, 0);
    cr_expect(strstr(why, "1 node: GPU model does not match (wants A10); 1 node: too few free "
                          "GPUs") != NULL,
              "%s", why);
    free(why);
    sched_problems_t p = {0};
    job.ntasks = 4;
    cr_expect_eq(sched_job_validate(s, &job, &p), 1);
    cr_expect_str_eq(p.text, "task w: no node has a GPU of model 'H10'");
    sched_problems_fini(&p);
    sched_destroy(s);
}

/* GPU memory as vendors name it: an "H100 80GB" has 81,559 MiB. A request
 * in decimal gigabytes (what `min_memory: 80G` means) takes it; 80 GiB
 * does not, and the refusal says both in the request's units. */
LEAK_TEST(place, gpu_memory_in_vendor_units)
{
    static const struct {
        uint64_t min;
        const char *expect;
    } rows[] = {
        {80000000000ull, "ok"},
        {79ull * GiB, "ok"},
        {80ull * GiB, "task t: no GPU has 80 GiB of memory (the largest has 79.6 GiB)"},
        {81000000000ull, "ok"},
        {86000000000ull, "task t: no GPU has 86 GB of memory (the largest has 85.5 GB, 79.6 GiB)"},
    };
    fx_node_t n;
    sched_t *s = sched_create(NULL);
    fx_node_init(&n, "h100", 1, 8, 8, 2, "NVIDIA H100 80GB HBM3", 81559ull << 20, 64 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &n), 0);
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        sched_task_spec_t t = fx_task("t", 1, 1);
        t.req.gpu_min_memory = rows[r].min;
        sched_job_spec_t job = {.name = "m", .ntasks = 1, .tasks = &t};
        sched_problems_t p = {0};
        int k = sched_job_validate(s, &job, &p);
        cr_expect_str_eq(k ? p.text : "ok", rows[r].expect, "row %zu", r);
        sched_problems_fini(&p);
    }
    sched_destroy(s);
}

Test(place, bytes_in_human_units)
{
    static const struct {
        uint64_t n;
        const char *s;
    } rows[] = {
        {0, "0 B"},
        {512, "512 B"},
        {1536, "1.5 KiB"},
        {80 * GiB, "80 GiB"},
        {80000000000ull, "80 GB"},
        {81559ull << 20, "79.6 GiB"},
        {1ull << 50, "1 PiB"},
        {1ull << 60, "1 EiB"},
        {UINT64_MAX, "16.0 EiB"},
    };
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        char buf[32];
        sched_bytes_str(rows[r].n, buf, sizeof(buf));
        cr_expect_str_eq(buf, rows[r].s, "%llu", (unsigned long long)rows[r].n);
    }
}
