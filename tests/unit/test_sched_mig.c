/* MIG instances in the core: a GPU whose model ends "MIG <profile>" (as
 * the worker reports NVML's MIG devices) is taken only by a request that
 * names its profile, never by one for any GPU or for a whole GPU's model;
 * the whole GPUs of the node stay as they were. */
#include <criterion/criterion.h>

#include "leak_check.h"
#include "sched_fixtures.h"
#include "scheduling/sched_private.h"

#define H100 "NVIDIA H100 80GB HBM3"
#define MIG1G H100 " MIG 1g.10gb"

static fx_pass_t pass;

/* n0: 7 1g.10gb instances of one H100 (GPUs 0-6), then 2 whole H100s
 * (GPUs 7-8): slices first, so that a request that should not take one
 * would get one first. */
static sched_t *mig_node(fx_node_t *n)
{
    sched_t *s = sched_create(NULL);
    fx_node_init(n, "n0", 1, 16, 9, 9, H100, 80 * GiB, 256 * GiB);
    for (int g = 0; g < 7; g++) {
        n->gpus[g].model = MIG1G;
        n->gpus[g].memory_bytes = 10200547328ull;
    }
    cr_assert_eq(fx_add_node(s, NULL, n), 0);
    return s;
}

Test(mig, profile_of_a_model)
{
    cr_expect_str_eq(gpu_mig_profile(MIG1G), "1g.10gb");
    cr_expect_str_eq(gpu_mig_profile("NVIDIA A100-SXM4-40GB MIG 1c.3g.20gb"), "1c.3g.20gb");
    cr_expect_null(gpu_mig_profile(H100));
    cr_expect_null(gpu_mig_profile("NVIDIA H100 MIG "));
    cr_expect_null(gpu_mig_profile(NULL));
}

/* Each request, submitted alone on a fresh node: which GPU it gets. */
LEAK_TEST(mig, requests_take_slices_only_by_profile)
{
    static const struct {
        const char *model;
        const char *expect; /* the placement, or the refusal at submission */
    } rows[] = {
        {NULL, "job1 t a1 -> n0 gpu[7] core[0] mem=0"},
        {"H100", "job1 t a1 -> n0 gpu[7] core[0] mem=0"},
        {"~^NVIDIA H1", "job1 t a1 -> n0 gpu[7] core[0] mem=0"},
        {"1g.10gb", "job1 t a1 -> n0 gpu[0] core[0] mem=0"},
        {"MIG 1g.10gb", "job1 t a1 -> n0 gpu[0] core[0] mem=0"},
        {"H100 1g.10gb", "job1 t a1 -> n0 gpu[0] core[0] mem=0"},
        {"~mig 1g", "job1 t a1 -> n0 gpu[0] core[0] mem=0"},
        {"2g.20gb", "task t: no node has a GPU of model '2g.20gb'"},
        {"A100 1g.10gb", "task t: no node has a GPU of model 'A100 1g.10gb'"},
    };
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        fx_node_t n;
        sched_t *s = mig_node(&n);
        sched_task_spec_t t = fx_task("t", 1, 1);
        t.req.gpu_model = rows[r].model;
        sched_job_spec_t job = {.name = "m", .ntasks = 1, .tasks = &t};
        sched_problems_t p = {0};
        if (sched_job_validate(s, &job, &p) != 0) {
            cr_expect_str_eq(p.text, rows[r].expect, "model %s", rows[r].model);
        } else {
            cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
            fx_place(s, NULL, 0, &pass);
            cr_expect_str_eq(pass.buf, rows[r].expect, "model %s", rows[r].model);
        }
        sched_problems_fini(&p);
        sched_destroy(s);
    }
}

/* 8 tasks of one 1g.10gb each: 7 run at once (one per instance), the 8th
 * waits for one to end, and the whole GPUs stay free for others. */
LEAK_TEST(mig, seven_slices_then_wait)
{
    fx_node_t n;
    sched_t *s = mig_node(&n);
    sched_task_spec_t t[9];
    for (int i = 0; i < 8; i++) {
        t[i] = fx_task("s", 1, 1);
        t[i].req.gpu_model = "1g.10gb";
    }
    sched_job_spec_t job = {.name = "m", .ntasks = 8, .tasks = t};
    for (int i = 0; i < 8; i++) {
        static char names[8][8];
        snprintf(names[i], sizeof(names[i]), "s%d", i);
        t[i].name = names[i];
    }
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    cr_expect_eq(fx_place(s, NULL, 0, &pass), 7);
    for (int g = 0; g < 7; g++) {
        char want[16];
        snprintf(want, sizeof(want), "gpu[%d]", g);
        cr_expect(strstr(pass.buf, want) != NULL, "%s not used: %s", want, pass.buf);
    }
    cr_expect(strstr(pass.buf, "gpu[7]") == NULL && strstr(pass.buf, "gpu[8]") == NULL, "%s",
              pass.buf);
    /* a whole-GPU task still gets a whole GPU next to them */
    sched_task_spec_t w = fx_task("w", 1, 2);
    sched_job_spec_t whole = {.name = "w", .ntasks = 1, .tasks = &w};
    cr_assert_eq(fx_submit(s, NULL, &whole, 0), 0);
    cr_expect_eq(fx_place(s, NULL, 0, &pass), 1);
    cr_expect(strstr(pass.buf, "gpu[7-8]") != NULL, "%s", pass.buf);
    /* one slice frees: the 8th takes it */
    cr_assert_eq(fx_finish(s, NULL, 1, SCHED_END_EXIT, 0, 1), 0);
    cr_expect_eq(fx_place(s, NULL, 1, &pass), 1);
    cr_expect(strstr(pass.buf, "s7") != NULL, "%s", pass.buf);
    sched_destroy(s);
}
