/* Failure classes: an attempt's end carries what its failure is known to
 * be (oom, gpu-error, log), the retry policy matches it, the core keeps
 * it (attempt info, explain, dump) and refuses a class on an end that
 * cannot have one. */
#include <criterion/criterion.h>

#include "leak_check.h"
#include "sched_fixtures.h"

static fx_pass_t pass;

static sched_t *one_node(fx_node_t *n)
{
    sched_t *s = sched_create(NULL);
    fx_node_init(n, "n0", 1, 4, 0, 0, NULL, 0, 64 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, n), 0);
    return s;
}

/* A one-task job with policy `on`, placed: its attempt is 1. */
static sched_t *placed(fx_node_t *n, uint32_t on)
{
    sched_t *s = one_node(n);
    sched_task_spec_t t = fx_task("t", 1, 0);
    t.retry = (sched_retry_policy_t){.max_attempts = 3, .backoff_ms = 100, .on = on};
    sched_job_spec_t job = {.name = "r", .ntasks = 1, .tasks = &t};
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 1);
    return s;
}

typedef struct class_case {
    const char *what;
    uint32_t on;
    sched_end_t end;
    int code;
    sched_end_class_t cls;
    bool retried;
} class_case_t;

LEAK_TEST(end_class, retry_decided_by_class)
{
    static const class_case_t rows[] = {
        {"oom retries an OOM kill", SCHED_RETRY_OOM, SCHED_END_SIGNAL, 9, SCHED_CLASS_OOM, true},
        {"oom retries an OOM exit", SCHED_RETRY_OOM, SCHED_END_EXIT, 1, SCHED_CLASS_OOM, true},
        {"oom does not retry a plain SIGKILL", SCHED_RETRY_OOM, SCHED_END_SIGNAL, 9,
         SCHED_CLASS_NONE, false},
        {"oom does not retry a log match", SCHED_RETRY_OOM, SCHED_END_EXIT, 1, SCHED_CLASS_LOG,
         false},
        {"log retries a log match", SCHED_RETRY_LOG, SCHED_END_EXIT, 1, SCHED_CLASS_LOG, true},
        {"log retries a timed-out match", SCHED_RETRY_LOG, SCHED_END_TIMEOUT, 0, SCHED_CLASS_LOG,
         true},
        {"log does not retry an exit without match", SCHED_RETRY_LOG, SCHED_END_EXIT, 1,
         SCHED_CLASS_NONE, false},
        {"gpu-error retries a GPU fault", SCHED_RETRY_GPU_ERROR, SCHED_END_EXIT, 3,
         SCHED_CLASS_GPU_ERROR, true},
        {"gpu-error does not retry an OOM", SCHED_RETRY_GPU_ERROR, SCHED_END_SIGNAL, 9,
         SCHED_CLASS_OOM, false},
        {"default does not retry an OOM", 0, SCHED_END_SIGNAL, 9, SCHED_CLASS_OOM, false},
        {"signal still retries an OOM kill", SCHED_RETRY_SIGNAL, SCHED_END_SIGNAL, 9,
         SCHED_CLASS_OOM, true},
        {"any-exit still retries a classed exit", SCHED_RETRY_ANY_EXIT, SCHED_END_EXIT, 2,
         SCHED_CLASS_GPU_ERROR, true},
        {"timeout stays the default's", SCHED_RETRY_DEFAULT | SCHED_RETRY_OOM, SCHED_END_TIMEOUT, 0,
         SCHED_CLASS_NONE, true},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        fx_node_t n;
        sched_t *s = placed(&n, rows[i].on);
        cr_assert_eq(fx_finish_class(s, NULL, 1, rows[i].end, rows[i].code, rows[i].cls, 10), 0,
                     "%s", rows[i].what);
        sched_task_state_t st = sched_task_state(s, 1, 0);
        cr_expect_eq(st == SCHED_TASK_RETRYING, rows[i].retried, "%s: state %s", rows[i].what,
                     sched_task_state_name(st));
        sched_attempt_info_t ai;
        cr_assert_eq(sched_attempt_get(s, 1, &ai), 0);
        cr_expect_eq(ai.end_class, rows[i].cls, "%s: class kept", rows[i].what);
        sched_destroy(s);
    }
}

LEAK_TEST(end_class, only_a_failure_has_one)
{
    static const struct {
        sched_end_t end;
        int code;
    } never[] = {{SCHED_END_EXIT, 0}, {SCHED_END_CANCELLED, 0}, {SCHED_END_NODE_LOST, 0}};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        fx_node_t n;
        sched_t *s = placed(&n, SCHED_RETRY_OOM);
        cr_expect_eq(fx_finish_class(s, NULL, 1, never[i].end, never[i].code, SCHED_CLASS_OOM, 10),
                     SCHED_EINVAL, "end %s", sched_end_name(never[i].end));
        cr_expect_eq(fx_finish_class(s, NULL, 1, SCHED_END_EXIT, 1, (sched_end_class_t)9, 10),
                     SCHED_EINVAL, "an unknown class");
        /* nothing changed: it still runs and ends normally */
        cr_expect_eq(sched_task_state(s, 1, 0), SCHED_TASK_RUNNING);
        cr_expect_eq(fx_finish(s, NULL, 1, SCHED_END_EXIT, 0, 11), 0);
        sched_destroy(s);
    }
}

LEAK_TEST(end_class, explain_and_dump_name_it)
{
    fx_node_t n;
    sched_t *s = placed(&n, SCHED_RETRY_LOG);
    cr_assert_eq(fx_finish_class(s, NULL, 1, SCHED_END_SIGNAL, 9, SCHED_CLASS_OOM, 10), 0);
    char *why = sched_explain(s, 1, 0, 10);
    cr_expect_str_eq(why, "job 1 task t: failed: attempt 1 on n0 ended (signal 9, oom); the retry "
                          "policy does not retry this ending");
    free(why);
    char *dump = sched_dump(s);
    cr_expect(strstr(dump, "attempt 1 job1/t #1 signal sig9 class=oom") != NULL, "%s", dump);
    free(dump);
    sched_destroy(s);
}

LEAK_TEST(end_class, names_round_trip)
{
    for (int c = SCHED_CLASS_OOM; c <= SCHED_CLASS_LAST; c++)
        cr_expect_eq(sched_end_class_parse(sched_end_class_name((sched_end_class_t)c)), c);
    cr_expect_str_eq(sched_end_class_name(SCHED_CLASS_GPU_ERROR), "gpu-error");
    cr_expect_eq(sched_end_class_parse(""), SCHED_CLASS_NONE);
    cr_expect_eq(sched_end_class_parse("exit"), SCHED_CLASS_NONE);
    cr_expect_eq(sched_end_class_parse(NULL), SCHED_CLASS_NONE);
}
