/* The census: waiting GPU demand, and free GPUs it could not use by why:
 * split across nodes, cores/memory short on the node with the GPUs,
 * another model, or held back. Counted by hand for small clusters. */
#include <criterion/criterion.h>

#include "leak_check.h"
#include "sched_fixtures.h"

static fx_pass_t pass;

static const sched_census_class_t *class_of(const sched_census_t *c, uint32_t gpus)
{
    for (size_t i = 0; i < c->nclasses; i++)
        if (c->classes[i].gpus == gpus)
            return &c->classes[i];
    return NULL;
}

LEAK_TEST(census, split_gpus_are_fragmentation)
{
    /* two 4-GPU nodes, each with 3 GPUs taken: 2 free, but a 2-GPU task
     * fits on neither */
    fx_node_t a, b;
    sched_t *s = sched_create(NULL);
    fx_node_init(&a, "a", 1, 16, 4, 4, "H100", 80 * GiB, 64 * GiB);
    fx_node_init(&b, "b", 1, 16, 4, 4, "H100", 80 * GiB, 64 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &a), 0);
    cr_assert_eq(fx_add_node(s, NULL, &b), 0);
    sched_task_spec_t two[] = {fx_task("x", 1, 3), fx_task("y", 1, 3)};
    sched_job_spec_t j1 = {.name = "fill", .ntasks = 2, .tasks = two};
    cr_assert_eq(fx_submit(s, NULL, &j1, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 2);
    sched_task_spec_t four[] = {fx_task("big", 1, 2), fx_task("big2", 1, 2)};
    sched_job_spec_t j2 = {.name = "big", .ntasks = 2, .tasks = four};
    cr_assert_eq(fx_submit(s, NULL, &j2, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 0);
    sched_census_t c;
    cr_assert_eq(sched_census(s, &c), 0);
    cr_expect_eq(c.gpus_total, 8);
    cr_expect_eq(c.gpus_free, 2);
    const sched_census_class_t *k = class_of(&c, 2);
    cr_assert_not_null(k);
    cr_expect_eq(k->waiting, 2);
    cr_expect_eq(k->gpus_wanted, 4);
    cr_expect_eq(k->idle_split, 2, "the 2 free GPUs, 1 per node");
    cr_expect_eq(k->idle_cpu_mem + k->idle_model + k->idle_other, 0);
    sched_census_fini(&c);
    sched_destroy(s);
}

LEAK_TEST(census, gpus_stranded_by_cores)
{
    /* node a: 4 A100s and 4 cores, the cores all taken by a CPU task (best
     * fit puts it there); two A100x2 tasks wait: a's 4 free GPUs are
     * stranded by its cores */
    fx_node_t a, b;
    sched_t *s = sched_create(NULL);
    fx_node_init(&a, "a", 1, 4, 4, 4, "A100", 40 * GiB, 64 * GiB);
    fx_node_init(&b, "b", 1, 8, 4, 4, "H100", 80 * GiB, 64 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &a), 0);
    cr_assert_eq(fx_add_node(s, NULL, &b), 0);
    sched_task_spec_t cpu = fx_task("cpu", 4, 0);
    sched_job_spec_t j1 = {.name = "cpu", .ntasks = 1, .tasks = &cpu};
    cr_assert_eq(fx_submit(s, NULL, &j1, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 1);
    cr_expect_str_eq(pass.buf, "job1 cpu a1 -> a core[0-3] mem=0");
    sched_task_spec_t t[] = {fx_task("p", 2, 2), fx_task("q", 2, 2)};
    t[0].req.gpu_model = t[1].req.gpu_model = "A100";
    sched_job_spec_t j2 = {.name = "gpu", .ntasks = 2, .tasks = t};
    cr_assert_eq(fx_submit(s, NULL, &j2, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 0);
    sched_census_t c;
    cr_assert_eq(sched_census(s, &c), 0);
    const sched_census_class_t *k = class_of(&c, 2);
    cr_assert_not_null(k);
    cr_expect_eq(k->gpus_wanted, 4);
    cr_expect_eq(k->idle_cpu_mem, 4, "a's free GPUs, its cores taken");
    cr_expect_eq(k->idle_split + k->idle_model + k->idle_other, 0, "all already counted");
    sched_census_fini(&c);
    sched_destroy(s);
}

LEAK_TEST(census, gpus_of_another_model)
{
    /* a's 4 A100s all busy; b's 4 H100s free; an A100x1 task waits: the
     * free GPUs are the wrong model */
    fx_node_t a, b;
    sched_t *s = sched_create(NULL);
    fx_node_init(&a, "a", 1, 8, 4, 4, "A100", 40 * GiB, 64 * GiB);
    fx_node_init(&b, "b", 1, 8, 4, 4, "H100", 80 * GiB, 64 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &a), 0);
    cr_assert_eq(fx_add_node(s, NULL, &b), 0);
    sched_task_spec_t t[] = {fx_task("all", 1, 4), fx_task("one", 1, 1)};
    t[0].req.gpu_model = t[1].req.gpu_model = "A100";
    sched_job_spec_t j = {.name = "gpu", .ntasks = 2, .tasks = t};
    cr_assert_eq(fx_submit(s, NULL, &j, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 1);
    sched_census_t c;
    cr_assert_eq(sched_census(s, &c), 0);
    const sched_census_class_t *k = class_of(&c, 1);
    cr_assert_not_null(k);
    cr_expect_eq(k->waiting, 1);
    cr_expect_eq(k->idle_model, 1, "the H100s: only as many as it wants");
    cr_expect_eq(k->idle_split + k->idle_cpu_mem + k->idle_other, 0);
    sched_census_fini(&c);
    sched_destroy(s);
}

LEAK_TEST(census, nothing_waits_nothing_idle)
{
    fx_node_t a;
    sched_t *s = sched_create(NULL);
    fx_node_init(&a, "a", 1, 8, 2, 2, "H100", 80 * GiB, 64 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &a), 0);
    sched_census_t c;
    cr_assert_eq(sched_census(s, &c), 0);
    cr_expect_eq(c.nclasses, 0);
    cr_expect_eq(c.gpus_free, 2);
    cr_expect_eq(c.cores_total, 8);
    sched_census_fini(&c);
    sched_destroy(s);
}
