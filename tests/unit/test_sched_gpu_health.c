/* GPU health in the core (SCHED_EV_GPU_HEALTH): a sick GPU takes no new
 * work while the node's other GPUs do; a task that needs every GPU waits
 * (it is not refused: the GPU may come back); healed, it is used again. */
#include <criterion/criterion.h>

#include "leak_check.h"
#include "sched_fixtures.h"

static fx_pass_t pass;

static int gpu_health(sched_t *s, uint32_t gpu, const char *reason, cairn_error_t *err)
{
    sched_event_t ev = {.type = SCHED_EV_GPU_HEALTH, .time_ms = 1};
    ev.u.gpu_health.node = 0;
    ev.u.gpu_health.gpu = gpu;
    ev.u.gpu_health.reason = reason;
    return sched_apply(s, &ev, err);
}

LEAK_TEST(gpu_health, sick_gpu_takes_no_new_work)
{
    fx_node_t n;
    sched_gpu_desc_t gd;
    cairn_error_t err;
    sched_t *s = sched_create(NULL);
    fx_node_init(&n, "n0", 1, 8, 4, 4, "NVIDIA H100 80GB HBM3", 80 * GiB, 64 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &n), 0);
    cr_assert_eq(gpu_health(s, 0, "Xid 79", NULL), 0);
    cr_assert_not_null(sched_node_gpu(s, 0, 0, &gd));
    cr_expect_str_eq(gd.unhealthy, "Xid 79");
    cr_assert_not_null(sched_node_gpu(s, 0, 1, &gd));
    cr_expect_null(gd.unhealthy);

    sched_task_spec_t t[] = {fx_task("one", 1, 1), fx_task("all", 1, 4)};
    sched_job_spec_t job = {.name = "j", .ntasks = 2, .tasks = t};
    sched_problems_t p = {0};
    cr_expect_eq(sched_job_validate(s, &job, &p), 0, "refused: %s", p.text);
    sched_problems_fini(&p);
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    cr_expect_eq(fx_place(s, NULL, 2, &pass), 1);
    cr_expect_str_eq(pass.buf, "job1 one a1 -> n0 gpu[1] core[0] mem=0");
    char *why = sched_explain(s, 1, 1, 2);
    cr_expect(strstr(why, "too few free GPUs") != NULL, "%s", why);
    free(why);

    cr_expect_eq(gpu_health(s, 0, NULL, &err), 0);
    cr_assert_eq(fx_finish(s, NULL, 1, SCHED_END_EXIT, 0, 3), 0);
    cr_expect_eq(fx_place(s, NULL, 4, &pass), 1);
    cr_expect_str_eq(pass.buf, "job1 all a2 -> n0 gpu[0-3] core[0] mem=0");

    cr_expect_eq(gpu_health(s, 9, "Xid 79", &err), SCHED_ENOENT);
    cr_expect_eq(gpu_health(s, 1, NULL, &err), SCHED_EINVAL, "not sick");
    cr_expect(strstr(err.text, "is not marked unhealthy") != NULL, "%s", err.text);
    cr_expect_eq(gpu_health(s, 1, "", &err), SCHED_EINVAL, "no reason");
    sched_destroy(s);
}
