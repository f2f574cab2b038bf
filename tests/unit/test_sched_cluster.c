/* Cluster model: exact accounting, refusal of conflicting events without
 * side effects, node loss, drain, re-registration. */
#include <criterion/criterion.h>

#include "leak_check.h"
#include "sched_fixtures.h"

static fx_pass_t pass;

LEAK_TEST(cluster, conflicting_place_is_refused_without_side_effects)
{
    fx_node_t n;
    sched_t *s = sched_create(NULL);
    fx_node_init(&n, "n0", 1, 4, 2, 2, "H100", 80 * GiB, 16 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &n), 0);
    sched_task_spec_t t[] = {fx_task("a", 2, 1), fx_task("b", 2, 1)};
    t[0].req.memory_bytes = 4 * GiB;
    t[1].req.memory_bytes = 4 * GiB;
    sched_job_spec_t job = {.name = "j", .ntasks = 2, .tasks = t};
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    uint32_t cores_a[] = {0, 1};
    sched_alloc_desc_t a = {
        .node = 0, .ncores = 2, .cores = cores_a, .gpu_mask = 1, .memory_bytes = 4 * GiB};
    sched_event_t ev = {.type = SCHED_EV_PLACE, .time_ms = 1};
    ev.u.place =
        (__typeof__(ev.u.place)){.job = 1, .task = 0, .attempt = 1, .nreplicas = 1, .allocs = &a};
    cr_assert_eq(sched_apply(s, &ev, NULL), 0);
    char *before = sched_dump(s);
    cairn_error_t err;
    /* same core again */
    uint32_t cores_b[] = {1, 2};
    sched_alloc_desc_t b = {
        .node = 0, .ncores = 2, .cores = cores_b, .gpu_mask = 2, .memory_bytes = 4 * GiB};
    ev.u.place =
        (__typeof__(ev.u.place)){.job = 1, .task = 1, .attempt = 2, .nreplicas = 1, .allocs = &b};
    cr_expect_eq(sched_apply(s, &ev, &err), SCHED_ECONFLICT);
    cr_expect_str_eq(err.text, "node n0: core 1 already allocated");
    /* same GPU again */
    cores_b[0] = 2, cores_b[1] = 3;
    b.gpu_mask = 1;
    cr_expect_eq(sched_apply(s, &ev, &err), SCHED_ECONFLICT);
    cr_expect_str_eq(err.text, "node n0: GPU 0 already allocated");
    /* too much memory */
    b.gpu_mask = 2;
    b.memory_bytes = 13 * GiB;
    cr_expect_eq(sched_apply(s, &ev, &err), SCHED_ECONFLICT, "%s", err.text);
    cr_expect(strstr(err.text, "bytes of memory asked") != NULL, "%s", err.text);
    /* wrong attempt id, unknown node, placing a running task */
    b.memory_bytes = 4 * GiB;
    ev.u.place.attempt = 7;
    cr_expect_eq(sched_apply(s, &ev, &err), SCHED_EINVAL);
    ev.u.place.attempt = 2;
    b.node = 5;
    cr_expect_eq(sched_apply(s, &ev, &err), SCHED_ENOENT);
    b.node = 0;
    ev.u.place.task = 0;
    cr_expect_eq(sched_apply(s, &ev, &err), SCHED_ECONFLICT);
    char *after = sched_dump(s);
    cr_expect_str_eq(before, after, "refused events change nothing");
    /* the valid one goes through, and releases restore exactly */
    ev.u.place.task = 1;
    cr_assert_eq(sched_apply(s, &ev, &err), 0, "%s", err.text);
    sched_node_usage_t u;
    sched_node_usage(s, 0, &u);
    cr_expect_eq(u.free_cores, 0);
    cr_expect_eq(u.free_gpus, 0);
    cr_expect_eq(u.mem_free, 8 * GiB);
    cr_assert_eq(fx_finish(s, NULL, 1, SCHED_END_EXIT, 0, 2), 0);
    cr_assert_eq(fx_finish(s, NULL, 2, SCHED_END_EXIT, 0, 2), 0);
    sched_node_usage(s, 0, &u);
    cr_expect_eq(u.free_cores, 4);
    cr_expect_eq(u.free_gpus, 2);
    cr_expect_eq(u.gpu_free_mask, 3);
    cr_expect_eq(u.mem_free, 16 * GiB);
    /* a late duplicate report is stale */
    cr_expect_eq(fx_finish(s, NULL, 1, SCHED_END_EXIT, 0, 3), SCHED_ESTALE);
    free(before);
    free(after);
    sched_destroy(s);
}

LEAK_TEST(cluster, node_loss_retries_elsewhere_with_same_seed)
{
    fx_node_t a, b;
    sched_t *s = sched_create(NULL);
    fx_node_init(&a, "a", 1, 2, 1, 1, "H100", 80 * GiB, 16 * GiB);
    fx_node_init(&b, "b", 1, 2, 1, 1, "H100", 80 * GiB, 16 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &a), 0);
    cr_assert_eq(fx_add_node(s, NULL, &b), 0);
    sched_task_spec_t t = fx_task("train", 2, 1);
    t.retry.max_attempts = 2;
    sched_job_spec_t job = {.name = "j", .seed = 5, .ntasks = 1, .tasks = &t};
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 1);
    cr_expect_str_eq(pass.buf, "job1 train a1 -> a gpu[0] core[0-1] mem=0");
    uint64_t seed = sched_task_seed(s, 1, 0, 0);
    sched_event_t down = {.type = SCHED_EV_NODE_STATE, .time_ms = 10};
    down.u.node_state.node = 0;
    down.u.node_state.state = SCHED_NODE_DOWN;
    cr_assert_eq(sched_apply(s, &down, NULL), 0);
    sched_attempt_info_t ai;
    cr_assert_eq(sched_attempt_get(s, 1, &ai), 0);
    cr_expect_eq(ai.end, SCHED_END_NODE_LOST);
    cr_expect_eq(sched_task_state(s, 1, 0), SCHED_TASK_RETRYING);
    cr_assert_eq(fx_place(s, NULL, 10, &pass), 1);
    cr_expect_str_eq(pass.buf, "job1 train a2 -> b gpu[0] core[0-1] mem=0");
    cr_expect_eq(sched_task_seed(s, 1, 0, 0), seed);
    /* the old node comes back and reports the replaced attempt: stale */
    cr_assert_eq(fx_add_node(s, NULL, &a), 0);
    cr_expect_eq(sched_node_state(s, 0), SCHED_NODE_UP);
    cr_expect_eq(fx_finish(s, NULL, 1, SCHED_END_EXIT, 0, 11), SCHED_ESTALE);
    cr_assert_eq(fx_finish(s, NULL, 2, SCHED_END_EXIT, 0, 12), 0);
    cr_expect_eq(sched_task_state(s, 1, 0), SCHED_TASK_SUCCEEDED);
    sched_destroy(s);
}

LEAK_TEST(cluster, drain_keeps_running_work_and_takes_nothing_new)
{
    fx_node_t a;
    sched_t *s = sched_create(NULL);
    fx_node_init(&a, "a", 1, 2, 0, 0, NULL, 0, 16 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &a), 0);
    sched_task_spec_t t[] = {fx_task("x", 1, 0), fx_task("y", 1, 0), fx_task("z", 1, 0)};
    sched_job_spec_t job = {.name = "j", .ntasks = 3, .tasks = t};
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 2);
    sched_event_t ev = {.type = SCHED_EV_NODE_STATE, .time_ms = 1};
    ev.u.node_state.node = 0;
    ev.u.node_state.state = SCHED_NODE_DRAINING;
    cr_assert_eq(sched_apply(s, &ev, NULL), 0);
    cr_assert_eq(fx_finish(s, NULL, 1, SCHED_END_EXIT, 0, 2), 0);
    cr_expect_eq(sched_task_state(s, 1, 1), SCHED_TASK_RUNNING, "running work continues");
    cr_expect_eq(fx_place(s, NULL, 2, &pass), 0, "a draining node takes nothing");
    char *why = sched_explain(s, 1, 2, 2);
    cr_expect_str_eq(why, "job 1 task z: waiting for resources: 1 node: node draining");
    free(why);
    ev.u.node_state.state = SCHED_NODE_UP;
    cr_assert_eq(sched_apply(s, &ev, NULL), 0);
    cr_expect_eq(fx_place(s, NULL, 3, &pass), 1);
    sched_destroy(s);
}

LEAK_TEST(cluster, bad_node_descriptions_are_refused)
{
    sched_t *s = sched_create(NULL);
    fx_node_t n;
    cairn_error_t err;
    fx_node_init(&n, "bad", 1, 2, 1, 1, "H100", GiB, GiB);
    n.core_numa[1] = 3;
    sched_event_t ev = {.type = SCHED_EV_NODE_ADD, .u.node_add = n.d};
    cr_expect_eq(sched_apply(s, &ev, &err), SCHED_EINVAL);
    cr_expect_str_eq(err.text, "node bad: core 1 in unknown NUMA domain 3");
    n.core_numa[1] = 0;
    n.d.name = "";
    ev.u.node_add = n.d;
    cr_expect_eq(sched_apply(s, &ev, &err), SCHED_EINVAL);
    n.d.name = n.name;
    n.d.ngpus = 65;
    ev.u.node_add = n.d;
    cr_expect_eq(sched_apply(s, &ev, &err), SCHED_EINVAL);
    cr_expect_eq(sched_node_count(s), 0);
    ev.type = 99;
    cr_expect_eq(sched_apply(s, &ev, &err), SCHED_EINVAL);
    sched_destroy(s);
}

LEAK_TEST(cluster, explain_counts_nodes_per_reason)
{
    sched_t *s = sched_create(NULL);
    fx_node_t n[5];
    const char *models[] = {"A100", "A100", "H100", "H100", "H100"};
    for (int i = 0; i < 5; i++) {
        char name[8];
        snprintf(name, sizeof(name), "n%d", i);
        fx_node_init(&n[i], name, 1, 4, 2, 2, models[i], 80 * GiB, 16 * GiB);
        cr_assert_eq(fx_add_node(s, NULL, &n[i]), 0);
    }
    sched_event_t ev = {.type = SCHED_EV_NODE_STATE};
    ev.u.node_state.node = 4;
    ev.u.node_state.state = SCHED_NODE_DOWN;
    cr_assert_eq(sched_apply(s, &ev, NULL), 0);
    sched_task_spec_t fill[] = {fx_task("f0", 1, 2), fx_task("f1", 1, 2)};
    fill[0].req.gpu_model = fill[1].req.gpu_model = "H100";
    sched_job_spec_t j1 = {.name = "fill", .ntasks = 2, .tasks = fill};
    cr_assert_eq(fx_submit(s, NULL, &j1, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 2);
    sched_task_spec_t t = fx_task("train", 1, 1);
    t.req.gpu_model = "H100";
    sched_job_spec_t j2 = {.name = "wait", .ntasks = 1, .tasks = &t};
    cr_assert_eq(fx_submit(s, NULL, &j2, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 0);
    char *why = sched_explain(s, 2, 0, 0);
    cr_expect_str_eq(why, "job 2 task train: waiting for resources: 1 node: node down; 2 nodes: "
                          "GPU model does not match (wants H100); 2 nodes: too few free GPUs");
    free(why);
    why = sched_explain(s, 1, 0, 0);
    cr_expect_str_eq(why, "job 1 task f0: placed (attempt 1) on n2 gpu[0-1] core[0] "
                          "mem=0; best fit: leaves 0 GPUs and 3 cores free on n2; GPUs all "
                          "behind one PCIe switch; cores on the GPUs' NUMA domain");
    free(why);
    sched_destroy(s);
}

static int set_state(sched_t *s, uint32_t node, sched_node_state_t st, const char *reason,
                     int64_t t)
{
    sched_event_t ev = {.type = SCHED_EV_NODE_STATE, .time_ms = t};
    ev.u.node_state.node = node;
    ev.u.node_state.state = st;
    ev.u.node_state.reason = reason;
    return sched_apply(s, &ev, NULL);
}

/* A drain is an operator's: a node that registers again, busy or idle,
 * or comes back after it was lost, stays drained with its reason. */
LEAK_TEST(cluster, drain_survives_reregistration_and_loss)
{
    fx_node_t a;
    sched_t *s = sched_create(NULL);
    fx_node_init(&a, "a", 1, 1, 0, 0, NULL, 0, 16 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &a), 0);
    sched_task_spec_t t[] = {fx_task("x", 1, 0), fx_task("y", 1, 0)};
    sched_job_spec_t job = {.name = "j", .ntasks = 2, .tasks = t};
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 1); /* x runs; y waits... */
    cr_assert_eq(set_state(s, 0, SCHED_NODE_DRAINING, "maint", 1), 0);
    /* busy re-registration (a worker reconnect) */
    cr_assert_eq(fx_add_node(s, NULL, &a), 0);
    const char *why = NULL;
    cr_expect_eq(sched_node_state(s, 0), SCHED_NODE_DRAINING);
    cr_expect(sched_node_drained(s, 0, &why));
    cr_expect_str_eq(why, "maint");
    cr_assert_eq(fx_finish(s, NULL, 1, SCHED_END_EXIT, 0, 2), 0);
    cr_expect_eq(fx_place(s, NULL, 2, &pass), 0, "still drained: y waits");
    /* idle re-registration rebuilds the node: the drain stays */
    cr_assert_eq(fx_add_node(s, NULL, &a), 0);
    cr_expect_eq(sched_node_state(s, 0), SCHED_NODE_DRAINING);
    /* lost and back */
    cr_assert_eq(set_state(s, 0, SCHED_NODE_DOWN, NULL, 3), 0);
    cr_expect_eq(sched_node_state(s, 0), SCHED_NODE_DOWN);
    cr_expect(sched_node_drained(s, 0, &why));
    cr_assert_eq(fx_add_node(s, NULL, &a), 0);
    cr_expect_eq(sched_node_state(s, 0), SCHED_NODE_DRAINING);
    cr_expect(sched_node_drained(s, 0, &why));
    cr_expect_str_eq(why, "maint");
    char *dump = sched_dump(s);
    cr_expect(strstr(dump, "node 0 a draining drained[maint] ") != NULL, "%s", dump);
    free(dump);
    cr_expect_eq(fx_place(s, NULL, 4, &pass), 0);
    /* draining again records the newer reason; undrain clears it */
    cr_assert_eq(set_state(s, 0, SCHED_NODE_DRAINING, "disk swap", 5), 0);
    sched_node_drained(s, 0, &why);
    cr_expect_str_eq(why, "disk swap");
    cr_assert_eq(set_state(s, 0, SCHED_NODE_UP, NULL, 6), 0);
    cr_expect(!sched_node_drained(s, 0, &why));
    cr_expect_str_eq(why, "");
    cr_expect_eq(fx_place(s, NULL, 6, &pass), 1);
    sched_destroy(s);
}

/* After a scheduler restart, a node not registered again keeps its
 * attempts (they may end) and gets nothing new, prefetch included, until
 * it registers; a down node cannot be returning. */
LEAK_TEST(cluster, returning_node_keeps_attempts_and_takes_nothing_new)
{
    fx_node_t a, b;
    sched_config_t cfg = {.max_reservations = 1, .prefetch = 2, .prefetch_max = 2};
    sched_t *s = sched_create(&cfg);
    fx_node_init(&a, "a", 1, 1, 0, 0, NULL, 0, 16 * GiB);
    fx_node_init(&b, "b", 1, 1, 0, 0, NULL, 0, 16 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &a), 0);
    sched_task_spec_t x = fx_task("x", 1, 0);
    sched_task_spec_t t[] = {fx_task("y", 1, 0), fx_task("z", 1, 0)};
    sched_job_spec_t j1 = {.name = "j1", .ntasks = 1, .tasks = &x};
    sched_job_spec_t j2 = {.name = "j2", .ntasks = 2, .tasks = t};
    cr_assert_eq(fx_submit(s, NULL, &j1, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 1);
    cr_expect_str_eq(pass.buf, "job1 x a1 -> a core[0] mem=0");
    cr_assert_eq(set_state(s, 0, SCHED_NODE_RETURNING, NULL, 1), 0);
    cr_expect_eq(sched_node_state(s, 0), SCHED_NODE_RETURNING);
    cr_assert_eq(fx_submit(s, NULL, &j2, 1), 0);
    cr_expect_eq(fx_place(s, NULL, 1, &pass), 0, "nothing placed or queued on it: %s", pass.buf);
    char *why = sched_explain(s, 2, 0, 1);
    cr_expect_str_eq(why, "job 2 task y: waiting for resources: 1 node: node not back since the "
                          "scheduler restarted");
    free(why);
    sched_attempt_info_t ai;
    cr_assert_eq(sched_attempt_get(s, 1, &ai), 0);
    cr_expect_eq(ai.end, SCHED_END_NONE, "its attempt is kept");
    /* another node registers: it takes the work */
    cr_assert_eq(fx_add_node(s, NULL, &b), 0);
    cr_assert_eq(fx_place(s, NULL, 2, &pass), 2, "%s", pass.buf);
    cr_expect_str_eq(pass.buf, "job2 y a2 -> b core[0] mem=0\njob2 z a3 -> b core[0] mem=0 "
                               "after a2");
    /* the returning node's attempt ends while it is away, then it is back */
    cr_assert_eq(fx_finish(s, NULL, 1, SCHED_END_EXIT, 0, 3), 0);
    cr_expect_eq(fx_place(s, NULL, 3, &pass), 0);
    cr_assert_eq(fx_add_node(s, NULL, &a), 0);
    cr_expect_eq(sched_node_state(s, 0), SCHED_NODE_UP);
    /* lost: it cannot be returning */
    cr_assert_eq(set_state(s, 1, SCHED_NODE_DOWN, NULL, 5), 0);
    cr_expect_eq(set_state(s, 1, SCHED_NODE_RETURNING, NULL, 6), SCHED_EINVAL);
    sched_destroy(s);
}

static int remove_node(sched_t *s, fx_journal_t *j, uint32_t node, int64_t t, cairn_error_t *err)
{
    sched_event_t ev = {.type = SCHED_EV_NODE_REMOVE, .time_ms = t};
    ev.u.node_remove.node = node;
    int rc = sched_apply(s, &ev, err);
    if (rc == 0)
        fx_journal_add(j, &ev);
    return rc;
}

/* cairn node remove: refused while an attempt runs (or waits queued) on
 * the node; once idle the node is a tombstone under its id (no other id
 * moves) that takes no work, is in no count of the cluster, and is no
 * longer drained; registering under its name again makes it a new node
 * with the hardware it has then. A replay of the events gives the same
 * state. */
LEAK_TEST(cluster, removed_node_is_a_tombstone)
{
    fx_node_t a, b, a2;
    fx_journal_t j = {0};
    sched_config_t cfg = {.max_reservations = 1, .prefetch = 2, .prefetch_max = 2};
    sched_t *s = sched_create(&cfg);
    fx_node_init(&a, "a", 1, 2, 1, 1, "H100", 80 * GiB, 16 * GiB);
    fx_node_init(&b, "b", 1, 1, 0, 0, NULL, 0, 16 * GiB);
    cr_assert_eq(fx_add_node(s, &j, &a), 0);
    cr_assert_eq(fx_add_node(s, &j, &b), 0);
    sched_task_spec_t t[] = {fx_task("x", 2, 1), fx_task("y", 2, 1)};
    sched_job_spec_t job = {.name = "j", .ntasks = 2, .tasks = t};
    cr_assert_eq(fx_submit(s, &j, &job, 0), 0);
    cr_assert_eq(fx_place(s, &j, 0, &pass), 2);
    cr_expect_str_eq(pass.buf, "job1 x a1 -> a gpu[0] core[0-1] mem=0\n"
                               "job1 y a2 -> a gpu[0] core[0-1] mem=0 after a1");
    /* busy: refused, nothing changed */
    char *before = sched_dump(s);
    cairn_error_t err = {{0}};
    cr_expect_eq(remove_node(s, &j, 0, 1, &err), SCHED_ECONFLICT);
    cr_expect_str_eq(err.text, "node a has 2 attempts running or queued: drain it and wait for "
                               "them to end (or cancel them), then remove it");
    char *after = sched_dump(s);
    cr_expect_str_eq(before, after);
    free(before);
    free(after);
    cr_assert_eq(set_state(s, 0, SCHED_NODE_DRAINING, "retire", 2), 0);
    fx_journal_add(&j, &(sched_event_t){.type = SCHED_EV_NODE_STATE,
                                        .time_ms = 2,
                                        .u.node_state = {0, SCHED_NODE_DRAINING, "retire"}});
    cr_assert_eq(fx_finish(s, &j, 1, SCHED_END_EXIT, 0, 3), 0);
    cr_expect_eq(remove_node(s, &j, 0, 4, &err), SCHED_ECONFLICT, "y took over: still busy");
    cr_assert_eq(fx_finish(s, &j, 2, SCHED_END_EXIT, 0, 5), 0);
    cr_assert_eq(remove_node(s, &j, 0, 6, &err), 0, "%s", err.text);
    cr_expect_eq(sched_node_state(s, 0), SCHED_NODE_REMOVED);
    cr_expect(!sched_node_drained(s, 0, NULL), "a removed node is no longer drained");
    cr_expect_eq(sched_node_count(s), 2, "the tombstone keeps its id");
    uint32_t id = 9;
    cr_expect_eq(sched_node_find(s, "b", &id), 0);
    cr_expect_eq(id, 1, "no other id moves");
    cr_expect_eq(remove_node(s, &j, 0, 7, &err), SCHED_EINVAL);
    cr_expect_str_eq(err.text, "node a was removed already");
    cr_expect_eq(set_state(s, 0, SCHED_NODE_DRAINING, "x", 7), SCHED_EINVAL);
    /* no capacity: a GPU task is refused (only b is left, without GPUs)
     * and a CPU task that fits b alone is placed there, never on a */
    sched_task_spec_t g = fx_task("g", 1, 1), c2 = fx_task("c", 2, 0), c1 = fx_task("c", 1, 0);
    sched_job_spec_t gj = {.name = "g", .ntasks = 1, .tasks = &g};
    sched_problems_t p = {0};
    cr_expect_eq(sched_job_validate(s, &gj, &p), 1, "%s", p.text ? p.text : "");
    cr_expect(p.text && strstr(p.text, "the most any node has is 0"), "%s", p.text);
    sched_problems_fini(&p);
    sched_job_spec_t cj2 = {.name = "c2", .ntasks = 1, .tasks = &c2};
    cr_expect_eq(sched_job_validate(s, &cj2, &p), 1, "2 cores: only the removed node had them");
    sched_problems_fini(&p);
    sched_job_spec_t cj = {.name = "c", .ntasks = 1, .tasks = &c1};
    cr_assert_eq(fx_submit(s, &j, &cj, 8), 0);
    cr_assert_eq(fx_place(s, &j, 8, &pass), 1);
    cr_expect_str_eq(pass.buf, "job2 c a3 -> b core[0] mem=0");
    sched_task_spec_t w = fx_task("w", 1, 0);
    sched_job_spec_t wj = {.name = "w", .ntasks = 1, .tasks = &w};
    cr_assert_eq(fx_submit(s, &j, &wj, 9), 0);
    cr_expect_eq(fx_place(s, &j, 9, &pass), 1, "queued behind c on b");
    sched_census_t cen;
    cr_assert_eq(sched_census(s, &cen), 0);
    cr_expect_eq(cen.cores_total, 1, "b's core alone");
    sched_census_fini(&cen);
    char *dump = sched_dump(s);
    cr_expect(strstr(dump, "node 0 a removed ") != NULL, "%s", dump);
    free(dump);
    /* a worker registers as a again, with other hardware: a new node */
    fx_node_init(&a2, "a", 1, 4, 0, 0, NULL, 0, 8 * GiB);
    cr_assert_eq(fx_add_node(s, &j, &a2), 0);
    cr_expect_eq(sched_node_find(s, "a", &id), 0);
    cr_expect_eq(id, 0);
    cr_expect_eq(sched_node_state(s, 0), SCHED_NODE_UP);
    sched_node_usage_t u;
    cr_assert_eq(sched_node_usage(s, 0, &u), 0);
    cr_expect_eq(u.ncores, 4);
    cr_expect_eq(u.ngpus, 0);
    /* the events replayed give the same state */
    sched_t *r = sched_create(&cfg);
    for (size_t i = 0; i < j.n; i++)
        cr_assert_eq(sched_apply(r, &j.ev[i], &err), 0, "event %zu: %s", i, err.text);
    char *x = sched_dump(s), *y = sched_dump(r);
    cr_expect_str_eq(x, y);
    free(x);
    free(y);
    sched_destroy(r);
    fx_journal_fini(&j);
    sched_destroy(s);
}
