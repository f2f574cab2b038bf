/* The what-if simulator with nodes that come and go (sched_sim_node_state,
 * as the scheduler's node timeline recorded them): a node counts as
 * capacity only while it is there, takes work only while it is up, and
 * what runs on a node that goes down ends there node-lost. Every expected
 * figure is worked out by hand from the intervals given. */
#include <criterion/criterion.h>

#include "leak_check.h"
#include "sched_fixtures.h"
#include "scheduling/sim.h"

/* Two nodes of 2 GPUs; n1 is down until 10 s. A and B each want 2 GPUs
 * for 10 s from 0: A runs on n0 at once, B waits for n1 (or n0) at 10 s.
 * Capacity over the 20 s run: n0 2 x 20 + n1 2 x 10 = 60 GPU-s, of which
 * 40 held; while B waited no GPU that was there sat idle. */
LEAK_TEST(sched_sim_nodes, a_node_that_joins_later_counts_from_then_on)
{
    fx_node_t n0, n1;
    fx_node_init(&n0, "n0", 1, 8, 2, 2, "NVIDIA H100", 80 * GiB, 64 * GiB);
    fx_node_init(&n1, "n1", 1, 8, 2, 2, "NVIDIA H100", 80 * GiB, 64 * GiB);
    sched_sim_t *sim = sched_sim_create(NULL);
    cairn_error_t err = {{0}};
    cr_assert_eq(sched_sim_node_add(sim, &n0.d, &err), 0);
    cr_assert_eq(sched_sim_node_add(sim, &n1.d, &err), 0);
    cr_assert_eq(sched_sim_node_state(sim, 1, 0, SCHED_NODE_DOWN, &err), 0, "%s", err.text);
    cr_assert_eq(sched_sim_node_state(sim, 1, 10000, SCHED_NODE_UP, &err), 0, "%s", err.text);
    sched_task_spec_t ta = fx_task("a", 1, 2), tb = fx_task("b", 1, 2);
    sched_job_spec_t ja = {.name = "A", .ntasks = 1, .tasks = &ta},
                     jb = {.name = "B", .ntasks = 1, .tasks = &tb};
    sched_sim_outcome_t o = {.hold_ms = 10000, .end = SCHED_END_EXIT};
    const sched_sim_outcome_t *op = &o;
    uint32_t one = 1;
    cr_assert_eq(sched_sim_job_add(sim, 0, &ja, &one, &op, &err), 0);
    cr_assert_eq(sched_sim_job_add(sim, 0, &jb, &one, &op, &err), 0);
    cr_assert_eq(sched_sim_run(sim, &err), 0, "%s", err.text);
    size_t n;
    const sched_sim_span_t *sp = sched_sim_spans(sim, &n);
    cr_assert_eq(n, 2);
    cr_expect(sp[0].node == 0 && sp[0].alloc_ms == 0 && sp[0].end_ms == 10000);
    cr_expect(sp[1].alloc_ms == 10000 && sp[1].end_ms == 20000, "B held from %lld to %lld",
              (long long)sp[1].alloc_ms, (long long)sp[1].end_ms);
    sched_sim_report_t rep;
    cr_assert_eq(sched_sim_measure(sim, sp, n, &rep), 0);
    cr_expect_eq(rep.makespan_ms, 20000);
    cr_expect_eq(rep.wait_p95_ms, 10000);
    cr_assert_eq(rep.nmodels, 1);
    cr_expect_float_eq(rep.models[0].capacity_gpu_s, 2 * 20.0 + 2 * 10.0, 1e-9);
    cr_expect_float_eq(rep.models[0].alloc_gpu_s, 40.0, 1e-9);
    cr_expect_float_eq(rep.models[0].idle_waiting_gpu_s, 0.0, 1e-9,
                       "n1's GPUs were not there while B waited");
    cr_assert_eq(rep.nnodes, 2);
    cr_expect_float_eq(rep.nodes[1].capacity_gpu_s, 2 * 10.0, 1e-9);
    cr_expect_float_eq(rep.total.capacity_gpu_s, 60.0, 1e-9);
    sched_sim_report_fini(&rep);
    sched_sim_destroy(sim);
}

/* One node of 2 GPUs, lost from 4 s to 6 s. A (2 GPUs, 10 s, retried
 * when its node is lost, 1 s backoff) runs from 0, ends node-lost at 4 s,
 * is ready again at 5 s and runs when the node is back, 6 s to 16 s.
 * Capacity: 2 GPUs x (16 - 2) s = 28 GPU-s, all of it held (2 x 4 +
 * 2 x 10). The same inputs give the same spans. */
static sched_sim_t *lost_run(void)
{
    static fx_node_t n0;
    fx_node_init(&n0, "n0", 1, 8, 2, 2, "NVIDIA H100", 80 * GiB, 64 * GiB);
    sched_sim_t *sim = sched_sim_create(NULL);
    cairn_error_t err = {{0}};
    cr_assert_eq(sched_sim_node_add(sim, &n0.d, &err), 0);
    cr_assert_eq(sched_sim_node_state(sim, 0, 4000, SCHED_NODE_DOWN, &err), 0, "%s", err.text);
    cr_assert_eq(sched_sim_node_state(sim, 0, 6000, SCHED_NODE_UP, &err), 0, "%s", err.text);
    static sched_task_spec_t ta;
    ta = fx_task("a", 1, 2);
    ta.retry =
        (sched_retry_policy_t){.max_attempts = 2, .backoff_ms = 1000, .on = SCHED_RETRY_NODE_LOST};
    sched_job_spec_t ja = {.name = "A", .ntasks = 1, .tasks = &ta};
    sched_sim_outcome_t o = {.hold_ms = 10000, .end = SCHED_END_EXIT};
    const sched_sim_outcome_t *op = &o;
    uint32_t one = 1;
    cr_assert_eq(sched_sim_job_add(sim, 0, &ja, &one, &op, &err), 0);
    cr_assert_eq(sched_sim_run(sim, &err), 0, "%s", err.text);
    return sim;
}

LEAK_TEST(sched_sim_nodes, what_runs_on_a_lost_node_ends_there_and_runs_again_when_it_is_back)
{
    sched_sim_t *sim = lost_run();
    size_t n;
    const sched_sim_span_t *sp = sched_sim_spans(sim, &n);
    cr_assert_eq(n, 2);
    cr_expect(sp[0].number == 1 && sp[0].alloc_ms == 0 && sp[0].end_ms == 4000,
              "the first attempt held [%lld, %lld)", (long long)sp[0].alloc_ms,
              (long long)sp[0].end_ms);
    cr_expect(sp[1].number == 2 && sp[1].ready_ms == 5000 && sp[1].alloc_ms == 6000 &&
                  sp[1].end_ms == 16000,
              "the retry: ready %lld, held [%lld, %lld)", (long long)sp[1].ready_ms,
              (long long)sp[1].alloc_ms, (long long)sp[1].end_ms);
    sched_sim_report_t rep;
    cr_assert_eq(sched_sim_measure(sim, sp, n, &rep), 0);
    cr_expect_eq(rep.makespan_ms, 16000);
    cr_expect_float_eq(rep.models[0].capacity_gpu_s, 2 * 14.0, 1e-9);
    cr_expect_float_eq(rep.models[0].alloc_gpu_s, 2 * 4.0 + 2 * 10.0, 1e-9);
    sched_sim_report_fini(&rep);
    /* deterministic: the same inputs, the same spans */
    sched_sim_t *again = lost_run();
    size_t n2;
    const sched_sim_span_t *sp2 = sched_sim_spans(again, &n2);
    cr_assert_eq(n2, n);
    cr_expect_eq(memcmp(sp, sp2, n * sizeof(*sp)), 0);
    sched_sim_destroy(again);
    sched_sim_destroy(sim);
}

LEAK_TEST(sched_sim_nodes, changes_are_checked)
{
    fx_node_t n0;
    fx_node_init(&n0, "n0", 1, 8, 0, 0, "", 0, 64 * GiB);
    sched_sim_t *sim = sched_sim_create(NULL);
    cairn_error_t err = {{0}};
    cr_assert_eq(sched_sim_node_add(sim, &n0.d, &err), 0);
    cr_expect_eq(sched_sim_node_state(sim, 1, 0, SCHED_NODE_DOWN, &err), SCHED_ENOENT);
    cr_expect_eq(sched_sim_node_state(sim, 0, 0, SCHED_NODE_REMOVED, &err), SCHED_EINVAL);
    cr_assert_eq(sched_sim_node_state(sim, 0, 5000, SCHED_NODE_DOWN, &err), 0);
    cr_expect_eq(sched_sim_node_state(sim, 0, 4000, SCHED_NODE_UP, &err), SCHED_EINVAL);
    cr_expect(strstr(err.text, "time order"), "%s", err.text);
    cr_assert_eq(sched_sim_run(sim, &err), 0, "%s", err.text);
    cr_expect_eq(sched_sim_node_state(sim, 0, 6000, SCHED_NODE_UP, &err), SCHED_EINVAL);
    sched_sim_destroy(sim);
}
