/* DAGs: dependencies, failure propagation, deterministic retries, cancel,
 * and spec validation messages. */
#include <criterion/criterion.h>

#include "leak_check.h"
#include "sched_fixtures.h"

static fx_pass_t pass;

static sched_t *cpu_cluster(fx_node_t *n, int cores)
{
    sched_t *s = sched_create(NULL);
    fx_node_init(n, "n0", 1, cores, 0, 0, NULL, 0, 64 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, n), 0);
    return s;
}

static uint32_t task_id(sched_t *s, uint32_t job, const char *name)
{
    uint32_t t = 0;
    cr_assert_eq(sched_task_find(s, job, name, &t), 0, "no task %s", name);
    return t;
}

static sched_task_state_t state(sched_t *s, uint32_t job, const char *name)
{
    return sched_task_state(s, job, task_id(s, job, name));
}

LEAK_TEST(dag, children_start_only_after_parents_succeed)
{
    fx_node_t n;
    sched_t *s = cpu_cluster(&n, 8);
    static const char *const pre[] = {"pre"};
    static const char *const both[] = {"train-a", "train-b"};
    sched_task_spec_t t[] = {fx_task("pre", 1, 0), fx_task("train-a", 1, 0),
                             fx_task("train-b", 1, 0), fx_task("eval", 1, 0)};
    t[1].needs = t[2].needs = pre;
    t[1].nneeds = t[2].nneeds = 1;
    t[3].needs = both;
    t[3].nneeds = 2;
    sched_job_spec_t job = {.name = "dag", .seed = 7, .ntasks = 4, .tasks = t};
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 1);
    cr_expect_str_eq(pass.buf, "job1 pre a1 -> n0 core[0] mem=0");
    cr_expect_eq(state(s, 1, "eval"), SCHED_TASK_PENDING);
    char *why = sched_explain(s, 1, task_id(s, 1, "train-a"), 0);
    cr_expect_str_eq(why, "job 1 task train-a: waiting for dependencies: dependency pre running");
    free(why);
    cr_assert_eq(fx_finish(s, NULL, 1, SCHED_END_EXIT, 0, 5), 0);
    cr_assert_eq(fx_place(s, NULL, 5, &pass), 2);
    cr_expect_str_eq(pass.buf, "job1 train-a a2 -> n0 core[0] mem=0\n"
                               "job1 train-b a3 -> n0 core[1] mem=0");
    cr_assert_eq(fx_finish(s, NULL, 2, SCHED_END_EXIT, 0, 6), 0);
    cr_expect_eq(fx_place(s, NULL, 6, &pass), 0, "eval still waits for train-b");
    cr_assert_eq(fx_finish(s, NULL, 3, SCHED_END_EXIT, 0, 7), 0);
    cr_assert_eq(fx_place(s, NULL, 7, &pass), 1);
    cr_assert_eq(fx_finish(s, NULL, 4, SCHED_END_EXIT, 0, 8), 0);
    cr_expect(sched_job_done(s, 1));
    cr_expect_eq(state(s, 1, "eval"), SCHED_TASK_SUCCEEDED);
    sched_destroy(s);
}

LEAK_TEST(dag, failure_makes_descendants_upstream_failed)
{
    fx_node_t n;
    sched_t *s = cpu_cluster(&n, 8);
    static const char *const a[] = {"a"};
    static const char *const b[] = {"b"};
    sched_task_spec_t t[] = {fx_task("a", 1, 0), fx_task("b", 1, 0), fx_task("c", 1, 0),
                             fx_task("free", 1, 0)};
    t[1].needs = a;
    t[1].nneeds = 1;
    t[2].needs = b;
    t[2].nneeds = 1;
    sched_job_spec_t job = {.name = "f", .ntasks = 4, .tasks = t};
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 2);
    cr_assert_eq(fx_finish(s, NULL, 1, SCHED_END_EXIT, 3, 1), 0); /* plain exit: not retried */
    cr_expect_eq(state(s, 1, "a"), SCHED_TASK_FAILED);
    cr_expect_eq(state(s, 1, "b"), SCHED_TASK_UPSTREAM_FAILED);
    cr_expect_eq(state(s, 1, "c"), SCHED_TASK_UPSTREAM_FAILED);
    cr_expect_eq(state(s, 1, "free"), SCHED_TASK_RUNNING);
    cr_expect_not(sched_job_done(s, 1));
    char *why = sched_explain(s, 1, 2, 1);
    cr_expect_str_eq(why, "job 1 task c: upstream_failed: dependency b upstream_failed");
    free(why);
    why = sched_explain(s, 1, 0, 1);
    cr_expect_str_eq(why, "job 1 task a: failed: attempt 1 on n0 ended (exit 3); the retry "
                          "policy does not retry this ending");
    free(why);
    cr_assert_eq(fx_finish(s, NULL, 2, SCHED_END_EXIT, 0, 2), 0);
    cr_expect(sched_job_done(s, 1));
    sched_destroy(s);
}

typedef struct retry_case {
    const char *what;
    uint32_t on;
    int exit_code_listed;
    sched_end_t end;
    int code;
    bool retried;
} retry_case_t;

LEAK_TEST(dag, retry_classification_by_policy)
{
    static const retry_case_t rows[] = {
        {"default retries node loss", 0, 0, SCHED_END_NODE_LOST, 0, true},
        {"default retries timeouts", 0, 0, SCHED_END_TIMEOUT, 0, true},
        {"default does not retry a plain exit", 0, 0, SCHED_END_EXIT, 1, false},
        {"default does not retry a signal", 0, 0, SCHED_END_SIGNAL, 9, false},
        {"a listed exit code retries", 0, 3, SCHED_END_EXIT, 3, true},
        {"another exit code does not", 0, 3, SCHED_END_EXIT, 4, false},
        {"exit:137 matches SIGKILL", 0, 137, SCHED_END_SIGNAL, 9, true},
        {"any-exit retries any non-zero", SCHED_RETRY_ANY_EXIT, 0, SCHED_END_EXIT, 2, true},
        {"signal flag retries signals", SCHED_RETRY_SIGNAL, 0, SCHED_END_SIGNAL, 11, true},
        {"node-loss off", SCHED_RETRY_TIMEOUT, 0, SCHED_END_NODE_LOST, 0, false},
        {"cancel never retries", SCHED_RETRY_ANY_EXIT, 0, SCHED_END_CANCELLED, 0, false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        fx_node_t n;
        sched_t *s = cpu_cluster(&n, 2);
        sched_task_spec_t t = fx_task("t", 1, 0);
        t.retry = (sched_retry_policy_t){.max_attempts = 3, .backoff_ms = 100, .on = rows[i].on};
        if (rows[i].exit_code_listed) {
            t.retry.exit_codes[0] = rows[i].exit_code_listed;
            t.retry.nexit_codes = 1;
        }
        sched_job_spec_t job = {.name = "r", .ntasks = 1, .tasks = &t};
        cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
        cr_assert_eq(fx_place(s, NULL, 0, &pass), 1);
        cr_assert_eq(fx_finish(s, NULL, 1, rows[i].end, rows[i].code, 10), 0);
        sched_task_state_t st = sched_task_state(s, 1, 0);
        cr_expect_eq(st == SCHED_TASK_RETRYING, rows[i].retried, "%s: state %s", rows[i].what,
                     sched_task_state_name(st));
        sched_destroy(s);
    }
}

LEAK_TEST(dag, retries_keep_seed_and_back_off_deterministically)
{
    fx_node_t n;
    sched_t *s = cpu_cluster(&n, 2);
    sched_task_spec_t t = fx_task("t", 1, 0);
    t.retry = (sched_retry_policy_t){.max_attempts = 4,
                                     .backoff_ms = 5000,
                                     .factor_milli = 2000,
                                     .max_backoff_ms = 12000};
    sched_job_spec_t job = {.name = "r", .seed = 42, .ntasks = 1, .tasks = &t};
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    uint64_t seed = sched_task_seed(s, 1, 0, 0);
    cr_expect_eq(seed, sched_seed_derive(42, "t", 0));
    cr_expect_lt(seed, 1ull << 32);
    /* attempt 1 lost at t=100 -> ready at 5100; attempt 2 at 5100 lost at 6000 ->
     * 10000 later = 16000; attempt 3 lost at 16000 -> capped 12000 = 28000 */
    const int64_t lost_at[] = {100, 6000, 16000};
    const int64_t ready[] = {5100, 16000, 28000};
    int64_t now = 0;
    for (int a = 0; a < 3; a++) {
        cr_assert_eq(fx_place(s, NULL, now, &pass), 1, "attempt %d", a + 1);
        cr_expect_eq(sched_task_seed(s, 1, 0, 0), seed);
        cr_assert_eq(fx_finish(s, NULL, (uint64_t)a + 1, SCHED_END_NODE_LOST, 0, lost_at[a]), 0);
        cr_assert_eq(sched_task_state(s, 1, 0), SCHED_TASK_RETRYING);
        cr_expect_eq(fx_place(s, NULL, ready[a] - 1, &pass), 0, "still backing off");
        char *why = sched_explain(s, 1, 0, ready[a] - 1);
        cr_expect(strstr(why, "waits out its backoff") != NULL, "%s", why);
        free(why);
        now = ready[a];
    }
    cr_assert_eq(fx_place(s, NULL, now, &pass), 1);
    cr_assert_eq(fx_finish(s, NULL, 4, SCHED_END_NODE_LOST, 0, now + 1), 0);
    cr_expect_eq(sched_task_state(s, 1, 0), SCHED_TASK_FAILED, "4 attempts used");
    cr_expect_eq(sched_task_attempts(s, 1, 0), 4);
    sched_destroy(s);
}

LEAK_TEST(dag, backoff_formula_and_seeded_jitter)
{
    sched_retry_policy_t p = {.backoff_ms = 1000, .factor_milli = 1500, .max_backoff_ms = 0};
    cr_expect_eq(sched_retry_backoff(&p, 2, 1), 1000);
    cr_expect_eq(sched_retry_backoff(&p, 3, 1), 1500);
    cr_expect_eq(sched_retry_backoff(&p, 4, 1), 2250);
    p.jitter_pct = 50;
    int64_t j1 = sched_retry_backoff(&p, 3, 99), j2 = sched_retry_backoff(&p, 3, 99);
    cr_expect_eq(j1, j2, "jitter is a function of the seed");
    cr_expect(j1 >= 1500 && j1 <= 2250, "jitter within 50%%: %lld", (long long)j1);
    bool differs = false;
    for (uint64_t seed = 0; seed < 16 && !differs; seed++)
        differs = sched_retry_backoff(&p, 3, seed) != j1;
    cr_expect(differs, "different seeds give different jitter");
    /* huge factors saturate instead of overflowing */
    sched_retry_policy_t big = {.backoff_ms = 1000000, .factor_milli = 100000};
    cr_expect_gt(sched_retry_backoff(&big, 100, 0), 0);
}

LEAK_TEST(dag, seeds_are_stable_and_distinct)
{
    cr_expect_eq(sched_seed_derive(42, "train[C=0.1]", 0), sched_seed_derive(42, "train[C=0.1]", 0));
    cr_expect_neq(sched_seed_derive(42, "train[C=0.1]", 0), sched_seed_derive(42, "train[C=1.0]", 0));
    cr_expect_neq(sched_seed_derive(42, "a", 0), sched_seed_derive(43, "a", 0));
    cr_expect_neq(sched_seed_derive(42, "a", 0), sched_seed_derive(42, "a", 1));
    /* pinned: the derivation is part of the reproducibility contract */
    cr_expect_eq(sched_seed_derive(0, "", 0), sched_seed_derive(0, "", 0));
}

LEAK_TEST(dag, cancel_job_and_single_task)
{
    fx_node_t n;
    sched_t *s = cpu_cluster(&n, 1);
    static const char *const a[] = {"a"};
    sched_task_spec_t t[] = {fx_task("a", 1, 0), fx_task("b", 1, 0), fx_task("c", 1, 0)};
    t[1].needs = a;
    t[1].nneeds = 1;
    sched_job_spec_t job = {.name = "c", .ntasks = 3, .tasks = t};
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 1); /* job1 a runs */
    /* cancel one task of job 2: its dependent is cancelled with it, not
     * upstream_failed (a user's cancel is not a failure) */
    sched_event_t ev = {.type = SCHED_EV_CANCEL, .time_ms = 1};
    ev.u.cancel.job = 2;
    ev.u.cancel.task = 0;
    cr_assert_eq(sched_apply(s, &ev, NULL), 0);
    cr_expect_eq(state(s, 2, "a"), SCHED_TASK_CANCELLED);
    cr_expect_eq(state(s, 2, "b"), SCHED_TASK_CANCELLED);
    cr_expect_eq(state(s, 2, "c"), SCHED_TASK_READY);
    /* cancel all of job 1: running a is asked to stop, the rest cancelled */
    ev.u.cancel.job = 1;
    ev.u.cancel.task = -1;
    cr_assert_eq(sched_apply(s, &ev, NULL), 0);
    cr_expect_eq(state(s, 1, "a"), SCHED_TASK_RUNNING);
    cr_expect_eq(state(s, 1, "b"), SCHED_TASK_CANCELLED);
    cr_expect_eq(state(s, 1, "c"), SCHED_TASK_CANCELLED);
    cr_assert_eq(fx_finish(s, NULL, 1, SCHED_END_SIGNAL, 15, 2), 0);
    cr_expect_eq(state(s, 1, "a"), SCHED_TASK_CANCELLED);
    cr_expect(sched_job_done(s, 1));
    cr_assert_eq(fx_place(s, NULL, 3, &pass), 1);
    cr_expect_str_eq(pass.buf, "job2 c a2 -> n0 core[0] mem=0", "cancelled work is not placed");
    ev.u.cancel.job = 9;
    cr_expect_eq(sched_apply(s, &ev, NULL), SCHED_ENOENT);
    sched_destroy(s);
}

/* The effect of a cancel as a canonical string: "a:stops b:dependent-later". */
static void effect_str(sched_t *s, uint32_t job, int64_t task, char *buf, size_t n)
{
    static const char *const how[] = {"ends", "stops", "dependent", "dependent-later"};
    sched_cancel_effect_t e;
    cr_assert_eq(sched_cancel_effect(s, job, task, &e), 0);
    size_t len = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < e.nitems; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s:%s", i ? " " : "",
                                sched_task_name(s, job, e.items[i].task), how[e.items[i].how]);
    uint32_t sum = 0;
    for (int h = 0; h < SCHED_CANCEL_NHOW; h++)
        sum += e.count[h];
    cr_expect_eq(sum, e.nitems);
    sched_cancel_effect_fini(&e);
}

static void cancel(sched_t *s, uint32_t job, int64_t task, int64_t t)
{
    sched_event_t ev = {.type = SCHED_EV_CANCEL, .time_ms = t};
    ev.u.cancel.job = job;
    ev.u.cancel.task = task;
    cr_assert_eq(sched_apply(s, &ev, NULL), 0);
}

/* a: sleep 30; b needs a; c: sleep 2; cancel a while it runs: b ends
 * cancelled with a, c succeeds, nothing failed. Then the same job's
 * whole-job cancel after a task cancel. */
LEAK_TEST(dag, cancelling_a_task_is_not_a_failure)
{
    fx_node_t n;
    sched_t *s = cpu_cluster(&n, 4);
    static const char *const a[] = {"a"};
    static const char *const b[] = {"b"};
    sched_task_spec_t t[] = {fx_task("a", 1, 0), fx_task("b", 1, 0), fx_task("c", 1, 0),
                             fx_task("d", 1, 0)};
    t[1].needs = a;
    t[1].nneeds = 1;
    t[3].needs = b;
    t[3].nneeds = 1;
    sched_job_spec_t job = {.name = "j", .ntasks = 4, .tasks = t};
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 2); /* a1: a, a2: c */
    char buf[256];
    effect_str(s, 1, 0, buf, sizeof(buf));
    cr_expect_str_eq(buf, "a:stops b:dependent-later d:dependent-later");
    cancel(s, 1, 0, 1);
    cr_expect_eq(state(s, 1, "a"), SCHED_TASK_RUNNING, "asked to stop");
    cr_expect_eq(state(s, 1, "b"), SCHED_TASK_PENDING, "ends when a does");
    /* a second cancel of the stopping task signals it again, nothing more */
    effect_str(s, 1, 0, buf, sizeof(buf));
    cr_expect_str_eq(buf, "a:stops b:dependent-later d:dependent-later");
    cr_assert_eq(fx_finish(s, NULL, 1, SCHED_END_SIGNAL, 15, 2), 0); /* SIGTERM'd */
    cr_expect_eq(state(s, 1, "a"), SCHED_TASK_CANCELLED);
    cr_expect_eq(state(s, 1, "b"), SCHED_TASK_CANCELLED);
    cr_expect_eq(state(s, 1, "d"), SCHED_TASK_CANCELLED);
    char *why = sched_explain(s, 1, 1, 2);
    cr_expect_str_eq(why, "job 1 task b: cancelled: upstream cancelled: dependency a cancelled");
    free(why);
    sched_task_info_t ti;
    cr_assert_eq(sched_task_info(s, 1, 1, &ti), 0);
    cr_expect(ti.cancelled_upstream);
    cr_assert_eq(sched_task_info(s, 1, 0, &ti), 0);
    cr_expect_not(ti.cancelled_upstream);
    effect_str(s, 1, 0, buf, sizeof(buf));
    cr_expect_str_eq(buf, "", "a ended: nothing to cancel");
    cr_assert_eq(fx_finish(s, NULL, 2, SCHED_END_EXIT, 0, 3), 0);
    sched_job_info_t ji;
    cr_assert_eq(sched_job_info(s, 1, &ji), 0);
    cr_expect(sched_job_done(s, 1));
    cr_expect_eq(ji.count[SCHED_TASK_FAILED] + ji.count[SCHED_TASK_UPSTREAM_FAILED], 0);
    cr_expect_eq(ji.count[SCHED_TASK_CANCELLED], 3);
    cr_expect_eq(ji.count[SCHED_TASK_SUCCEEDED], 1);

    /* job 2: cancel a before it runs (its dependents end at once), then
     * the whole job: c and the rest are cancelled too, none failed */
    cr_assert_eq(fx_submit(s, NULL, &job, 4), 0);
    effect_str(s, 2, 0, buf, sizeof(buf));
    cr_expect_str_eq(buf, "a:ends b:dependent d:dependent");
    cancel(s, 2, 0, 4);
    cr_expect_eq(state(s, 2, "b"), SCHED_TASK_CANCELLED);
    cr_expect_eq(state(s, 2, "d"), SCHED_TASK_CANCELLED);
    cr_assert_eq(fx_place(s, NULL, 5, &pass), 1);
    cr_expect_str_eq(pass.buf, "job2 c a3 -> n0 core[0] mem=0");
    effect_str(s, 2, -1, buf, sizeof(buf));
    cr_expect_str_eq(buf, "c:stops");
    cancel(s, 2, -1, 6);
    cr_assert_eq(fx_finish(s, NULL, 3, SCHED_END_CANCELLED, 0, 7), 0);
    cr_assert_eq(sched_job_info(s, 2, &ji), 0);
    cr_expect(sched_job_done(s, 2));
    cr_expect_eq(ji.count[SCHED_TASK_CANCELLED], 4);
    cr_expect_eq(ji.count[SCHED_TASK_FAILED] + ji.count[SCHED_TASK_UPSTREAM_FAILED], 0);

    /* a real failure still fails its dependents, beside a cancel */
    cr_assert_eq(fx_submit(s, NULL, &job, 8), 0);
    cr_assert_eq(fx_place(s, NULL, 8, &pass), 2); /* a4: a, a5: c */
    cancel(s, 3, 2, 9);                           /* c */
    cr_assert_eq(fx_finish(s, NULL, 4, SCHED_END_EXIT, 1, 10), 0);
    cr_expect_eq(state(s, 3, "a"), SCHED_TASK_FAILED);
    cr_expect_eq(state(s, 3, "b"), SCHED_TASK_UPSTREAM_FAILED);
    cr_assert_eq(sched_task_info(s, 3, 1, &ti), 0);
    cr_expect_not(ti.cancelled_upstream);
    cr_expect_eq(sched_cancel_effect(s, 9, 0, &(sched_cancel_effect_t){0}), SCHED_ENOENT);
    cr_expect_eq(sched_cancel_effect(s, 1, 4, &(sched_cancel_effect_t){0}), SCHED_ENOENT);
    sched_destroy(s);
}

/* --- validation -------------------------------------------------------- */

static char *problems(sched_t *s, const sched_job_spec_t *job, int *count)
{
    sched_problems_t p = {0};
    *count = sched_job_validate(s, job, &p);
    char *text = p.text ? strdup(p.text) : strdup("");
    sched_problems_fini(&p);
    return text;
}

LEAK_TEST(validate, reports_every_problem_at_once)
{
    fx_node_t n;
    sched_t *s = sched_create(NULL);
    fx_node_init(&n, "n0", 2, 8, 8, 2, "NVIDIA A100-SXM4-40GB", 40 * GiB, 64 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &n), 0);
    static const char *const to_b[] = {"b"}, *const to_c[] = {"c"}, *const to_a[] = {"a"};
    static const char *const ghost[] = {"ghost"};
    static const char *const zone[] = {"zone=mars"};
    sched_task_spec_t t[] = {fx_task("a", 1, 0),        fx_task("b", 1, 0),
                             fx_task("c", 1, 0),        fx_task("dup", 1, 0),
                             fx_task("dup", 1, 0),      fx_task("lost", 1, 0),
                             fx_task("empty", 1, 0),    fx_task("greedy", 1, 16),
                             fx_task("h100", 1, 1),     fx_task("fat", 64, 0),
                             fx_task("mars", 1, 0),     fx_task("zero", 0, 0),
                             fx_task("vram", 1, 1)};
    t[0].needs = to_b, t[0].nneeds = 1;
    t[1].needs = to_c, t[1].nneeds = 1;
    t[2].needs = to_a, t[2].nneeds = 1;
    t[5].needs = ghost, t[5].nneeds = 1;
    t[6].argc = 0;
    t[8].req.gpu_model = "H100";
    t[10].req.labels = zone, t[10].req.nlabels = 1;
    t[12].req.gpu_min_memory = 80 * GiB;
    sched_job_spec_t job = {.name = "bad", .ntasks = 13, .tasks = t};
    int count;
    char *text = problems(s, &job, &count);
    const char *want[] = {
        "task dup: duplicate name",
        "task lost: needs unknown task 'ghost'",
        "task empty: empty command (argv)",
        "task zero: cpus must be at least 1",
        "dependency cycle: a -> b -> c -> a",
        "task greedy: needs 16 GPUs on one node, the most any node has is 8",
        "task h100: no node has a GPU of model 'H100'",
        "task fat: needs 64 cpus on one node, the most any node has is 16",
        "task mars: no node has the labels it selects (zone=mars)",
        "task vram: no GPU has 80 GiB of memory (the largest has 40 GiB)",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_expect(strstr(text, want[i]) != NULL, "missing '%s' in:\n%s", want[i], text);
    cr_expect_eq(count, 10, "%s", text);
    /* a spec with problems is refused whole by submit */
    cairn_error_t err;
    sched_event_t ev = {.type = SCHED_EV_JOB_SUBMIT, .u.submit = job};
    cr_expect_eq(sched_apply(s, &ev, &err), SCHED_ESPEC);
    cr_expect(strstr(err.text, "and more problems") != NULL, "%s", err.text);
    cr_expect_eq(sched_job_count(s), 0);
    free(text);
    sched_destroy(s);
}

LEAK_TEST(validate, names_and_absurd_values)
{
    sched_t *s = sched_create(NULL);
    sched_task_spec_t t[] = {fx_task("ok", 1, 0), fx_task("x", 1, 0)};
    sched_job_spec_t job = {.name = "../etc", .ntasks = 2, .tasks = t};
    int count;
    char *text = problems(s, &job, &count);
    cr_expect(strstr(text, "job name contains a path separator") != NULL, "%s", text);
    free(text);
    job.name = "fine";
    t[1].name = "a/b";
    text = problems(s, &job, &count);
    cr_expect(strstr(text, "task #2: name contains a path separator") != NULL, "%s", text);
    free(text);
    t[1].name = "x";
    t[1].req.memory_bytes = 1ull << 60;
    t[1].priority = 1 << 30;
    t[1].retry.max_attempts = 1000;
    t[1].retry.factor_milli = 10;
    t[1].time_limit_ms = -1;
    text = problems(s, &job, &count);
    cr_expect_eq(count, 5, "%s", text);
    cr_expect(strstr(text, "memory") && strstr(text, "priority") && strstr(text, "attempts") &&
                  strstr(text, "factor") && strstr(text, "time limit"),
              "%s", text);
    free(text);
    /* with no nodes yet, capacity is not judged: the job waits for workers */
    t[1] = fx_task("x", 1, 64);
    text = problems(s, &job, &count);
    cr_expect_eq(count, 0, "%s", text);
    free(text);
    sched_destroy(s);
}

/* "PATH: message" per problem, one per line: where each problem is and
 * what it says (sched_problem_path), compared whole. */
static char *placed_problems(sched_t *s, const sched_job_spec_t *job)
{
    sched_problems_t p = {0};
    int n = sched_job_validate(s, job, &p);
    cr_assert_geq(n, 0);
    cr_assert_eq(p.nwhere, (uint32_t)n, "a place for every problem");
    size_t len = 1, i = 0;
    for (uint32_t k = 0; k < p.nwhere; k++)
        len += 64 + 1;
    len += p.len;
    char *out = calloc(1, len);
    char *line = p.text;
    for (uint32_t k = 0; k < p.nwhere && line; k++) {
        char *nl = strchr(line, '\n');
        char path[64];
        sched_problem_path(&p.where[k], path, sizeof(path));
        i += (size_t)snprintf(out + i, len - i, "%s%s: %.*s", k ? "\n" : "", path,
                              nl ? (int)(nl - line) : (int)strlen(line), line);
        line = nl ? nl + 1 : NULL;
    }
    sched_problems_fini(&p);
    return out;
}

LEAK_TEST(validate, every_problem_has_its_place)
{
    /* a CPU-only node: 4 cores, 8 GiB */
    fx_node_t n;
    sched_t *s = sched_create(NULL);
    fx_node_init(&n, "c0", 1, 4, 0, 0, NULL, 0, 8 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &n), 0);
    static const char *const a_needs[] = {"b"}, *const b_needs[] = {"x", "a"};
    static const char *const self[] = {"self"};
    static const char *const env[] = {"A=1", "=x", "B"};
    static const char *const lab[] = {"zone"};
    sched_task_spec_t t[] = {fx_task("a", 1, 0),   fx_task("b", 1, 0),     fx_task("self", 1, 0),
                             fx_task("gpu", 1, 1), fx_task("fat", 5, 0),   fx_task("huge", 1, 0),
                             fx_task("env", 1, 0), fx_task("retry", 1, 0), fx_task("model", 1, 1),
                             fx_task("lab", 1, 0)};
    t[0].needs = a_needs, t[0].nneeds = 1;
    t[1].needs = b_needs, t[1].nneeds = 2;
    t[2].needs = self, t[2].nneeds = 1;
    t[5].req.memory_bytes = 1ull << 60;
    t[6].env = env, t[6].nenv = 3;
    t[7].retry.nexit_codes = 2;
    t[7].retry.exit_codes[0] = 0;
    t[7].retry.exit_codes[1] = 3;
    t[7].retry.jitter_pct = 101;
    t[8].req.gpu_model = "--";
    t[9].req.labels = lab, t[9].req.nlabels = 1;
    sched_job_spec_t job = {.name = "j", .ntasks = 10, .tasks = t};
    char *got = placed_problems(s, &job);
    cr_expect_str_eq(
        got, "tasks[1].needs[0]: task b: needs unknown task 'x'\n"
             "tasks[5].resources.memory: task huge: memory 1 EiB is absurd (at most 1 PiB)\n"
             "tasks[6].env[1]: task env: env name is empty\n"
             "tasks[6].env[2]: task env: env entry 2 is not NAME=value\n"
             "tasks[7].retry.jitter: task retry: retry jitter 101 is out of range (0..100)\n"
             "tasks[7].retry.on[0]: task retry: retry exit code 0 is out of range (1..255)\n"
             "tasks[8].resources.gpu.model: task model: GPU model '--' has no letters or "
             "digits\n"
             "tasks[9].resources.labels[0]: task lab: label selector 0 is not key=value\n"
             "tasks[0].needs[0]: dependency cycle: a -> b -> a\n"
             "tasks[2].needs[0]: task self: needs itself\n"
             "tasks[3].resources.gpus: task gpu: needs 1 GPU on one node, the most any "
             "node has is 0\n"
             "tasks[4].resources.cpus: task fat: needs 5 cpus on one node, the most any "
             "node has is 4\n"
             "tasks[5].resources.memory: task huge: needs 1 EiB of memory on one node, the "
             "most any node has is 8 GiB\n"
             "tasks[9].resources.labels[0]: task lab: no node has the labels it selects "
             "(zone)");
    free(got);
    /* the job's own places */
    sched_job_spec_t none = {.name = "a/b", .ntasks = 0, .tasks = t};
    got = placed_problems(s, &none);
    cr_expect_str_eq(got, "name: job name contains a path separator\ntasks: job has no tasks");
    free(got);
    sched_destroy(s);
}

Test(validate, problem_paths_round_trip)
{
    static const char *const paths[] = {
        "",
        "name",
        "tasks",
        "tasks[0]",
        "tasks[12].name",
        "tasks[3].argv[2]",
        "tasks[3].env[0]",
        "tasks[3].needs[7]",
        "tasks[3].resources.cpus",
        "tasks[3].resources.memory",
        "tasks[3].resources.gpus",
        "tasks[3].resources.gpu.model",
        "tasks[3].resources.gpu.min_memory",
        "tasks[3].resources.labels[1]",
        "tasks[3].replicas",
        "tasks[3].priority",
        "tasks[3].time_limit",
        "tasks[3].retry.attempts",
        "tasks[3].retry.backoff",
        "tasks[3].retry.max_backoff",
        "tasks[3].retry.factor",
        "tasks[3].retry.jitter",
        "tasks[3].retry.on[1]",
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        sched_problem_t p;
        char back[64];
        cr_assert_eq(sched_problem_parse(paths[i], &p), 0, "%s", paths[i]);
        sched_problem_path(&p, back, sizeof(back));
        cr_expect_str_eq(back, paths[i]);
    }
    static const char *const bad[] = {"tasks[",        "tasks[x]",  "tasks[1].nope",
                                      "tasks[1]x",     "tasks[-1]", "tasks[1].needs[]",
                                      "tasks[1].cpus", "tasks[ 1]", "tasks[1].resources.gpus[0]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sched_problem_t p;
        cr_expect_eq(sched_problem_parse(bad[i], &p), SCHED_EINVAL, "%s", bad[i]);
        cr_expect_eq(p.task, -1, "%s", bad[i]);
    }
}

/* Explanations use the words `cairn status` shows for states (waiting on
 * needs, pending when ready, retry_wait), the time left of a backoff rather
 * than an epoch, and singular counts for one. */
LEAK_TEST(dag, explanations_use_status_words)
{
    fx_node_t n;
    sched_t *s = sched_create(NULL);
    fx_node_init(&n, "n0", 1, 2, 2, 2, "NVIDIA H100 80GB HBM3", 80 * GiB, 64 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &n), 0);
    static const char *const a[] = {"a"}, *const b[] = {"b"}, *const c[] = {"c"};
    sched_task_spec_t t[] = {fx_task("a", 1, 1), fx_task("b", 1, 0), fx_task("c", 1, 0),
                             fx_task("d", 1, 0)};
    t[1].needs = a, t[1].nneeds = 1;
    t[2].needs = b, t[2].nneeds = 1;
    t[3].needs = c, t[3].nneeds = 1;
    t[0].retry = (sched_retry_policy_t){.max_attempts = 2, .backoff_ms = 65000};
    sched_job_spec_t job = {.name = "w", .ntasks = 4, .tasks = t};
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 1);
    char *why = sched_explain(s, 1, 0, 0);
    cr_expect_str_eq(why, "job 1 task a: placed (attempt 1) on n0 gpu[0] core[0] mem=0; best fit: "
                          "leaves 1 GPU and 1 core free on n0; GPUs all behind one PCIe switch; "
                          "cores on the GPUs' NUMA domain");
    free(why);
    why = sched_explain(s, 1, 3, 0);
    cr_expect_str_eq(why, "job 1 task d: waiting for dependencies: dependency c waiting");
    free(why);
    cr_assert_eq(fx_finish(s, NULL, 1, SCHED_END_NODE_LOST, 0, 1000), 0);
    why = sched_explain(s, 1, 0, 1500);
    cr_expect_str_eq(why, "job 1 task a: retry_wait: attempt 1 ended (node-lost); attempt 2 waits "
                          "out its backoff (1m05s left)");
    free(why);
    why = sched_explain(s, 1, 1, 1500);
    cr_expect_str_eq(why, "job 1 task b: waiting for dependencies: dependency a retry_wait");
    free(why);
    why = sched_explain(s, 1, 0, 65800);
    cr_expect_str_eq(why, "job 1 task a: retry_wait: attempt 1 ended (node-lost); attempt 2 waits "
                          "out its backoff (200 ms left)");
    free(why);
    cr_assert_eq(fx_place(s, NULL, 66000, &pass), 1);
    cr_assert_eq(fx_finish(s, NULL, 2, SCHED_END_EXIT, 0, 66001), 0);
    /* b is ready: status calls it pending */
    why = sched_explain(s, 1, 2, 66001);
    cr_expect_str_eq(why, "job 1 task c: waiting for dependencies: dependency b pending");
    free(why);
    sched_destroy(s);
}
