/* A real cairn-scheduler process and a fake worker: the class a worker
 * reports with an attempt's end (TaskEvent.end_class) decides its retry
 * and shows in status; retry.on's log pattern travels in AssignTask; a
 * class on an end that cannot have one, or an unknown one, is ignored;
 * an older worker's memory_exceeded is an OOM. */
#include "sched_harness.h"

static const char *const fast[] = {"--heartbeat-timeout", "60s", NULL};

typedef struct run {
    h_sched_t s;
    h_worker_t w;
} run_t;

static void run_start(run_t *r)
{
    h_sched_init(&r->s);
    h_sched_start(&r->s, fast);
    h_worker_open(&r->w, r->s.workers, "n1", 2, 0);
    h_register_ok(&r->w);
}

static void run_stop(run_t *r)
{
    h_worker_close(&r->w);
    h_sched_fini(&r->s);
}

/* The next assignment (required); its attempt id, and its log pattern
 * into pat (may be NULL). */
static uint64_t next_assign(run_t *r, char *pat, size_t n)
{
    Cairn__AssignTask *a = (Cairn__AssignTask *)h_recv(&r->w, CAIRN_MSG_ASSIGN_TASK, 10000);
    cr_assert_not_null(a, "an assignment");
    uint64_t id = a->attempt_id;
    if (pat)
        snprintf(pat, n, "%s", a->retry_on_log ? a->retry_on_log : "");
    cairn_msg_free(&a->base);
    return id;
}

/* The attempt ends: exit code, signal, class (NULL: none), memory_exceeded. */
static void end(run_t *r, uint64_t id, int code, int sig, const char *cls, bool mem)
{
    h_event(&r->w, id, CAIRN__TASK_EVENT__KIND__STARTED, 0, 0);
    Cairn__TaskEvent te = CAIRN__TASK_EVENT__INIT;
    te.attempt_id = id;
    te.kind = CAIRN__TASK_EVENT__KIND__EXITED;
    te.exit_code = code;
    te.signal = sig;
    te.memory_exceeded = mem;
    te.end_class = (char *)(cls ? cls : "");
    te.start_time_ms = 1;
    te.end_time_ms = 2;
    h_event_send(&r->w, &te);
}

/* The job's state and its first task's attempts' classes, "a,b". */
static Cairn__JobState classes(run_t *r, uint64_t job, char *buf, size_t n)
{
    Cairn__JobStatusReply *st = h_status(&r->s, job);
    Cairn__JobState js = st->job->state;
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < st->tasks[0]->n_attempts && at < n; i++)
        at += (size_t)snprintf(buf + at, n - at, "%s%s", i ? "," : "",
                               st->tasks[0]->attempts[i]->end_class);
    cairn_msg_free(&st->base);
    return js;
}

static uint64_t submit_one(run_t *r, Cairn__RetryPolicy *p)
{
    const char *tasks[] = {"t"};
    return h_submit(&r->s, "classes", tasks, 1, 1, 0, p);
}

/* gpu-error (the GPU health work reports it): retried by on: [gpu-error],
 * the next failure without a class is not. */
Test(end_class, gpu_error_is_retried_and_shown)
{
    run_t r;
    run_start(&r);
    Cairn__RetryPolicy p = CAIRN__RETRY_POLICY__INIT;
    p.max_attempts = 3;
    p.retry_on_gpu_error = true;
    uint64_t job = submit_one(&r, &p);
    char pat[64];
    end(&r, next_assign(&r, pat, sizeof(pat)), 1, 0, "gpu-error", false);
    cr_expect_str_eq(pat, "", "no log pattern: none sent");
    end(&r, next_assign(&r, NULL, 0), 2, 0, NULL, false);
    char buf[128];
    cr_expect_eq(classes(&r, job, buf, sizeof(buf)), CAIRN__JOB_STATE__JOB_STATE_FAILED);
    cr_expect_str_eq(buf, "gpu-error,exit_nonzero");
    run_stop(&r);
}

/* retry.on's log pattern reaches the worker; its "log" retries. */
Test(end_class, log_pattern_is_assigned_and_its_class_retried)
{
    run_t r;
    run_start(&r);
    Cairn__RetryPolicy p = CAIRN__RETRY_POLICY__INIT;
    p.max_attempts = 2;
    p.retry_on_log = "NCCL.*timeout";
    uint64_t job = submit_one(&r, &p);
    char pat[64];
    end(&r, next_assign(&r, pat, sizeof(pat)), 1, 0, "log", false);
    cr_expect_str_eq(pat, "NCCL.*timeout");
    uint64_t second = next_assign(&r, pat, sizeof(pat));
    cr_expect_str_eq(pat, "NCCL.*timeout", "every attempt gets it");
    end(&r, second, 0, 0, NULL, false);
    char buf[128];
    cr_expect_eq(classes(&r, job, buf, sizeof(buf)), CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED);
    cr_expect_str_eq(buf, "log,");
    run_stop(&r);
}

/* A bad pattern is refused at submit, naming it. */
Test(end_class, bad_log_pattern_is_refused)
{
    run_t r;
    run_start(&r);
    Cairn__RetryPolicy p = CAIRN__RETRY_POLICY__INIT;
    p.retry_on_log = "NCCL(";
    Cairn__ResourceRequest rr = CAIRN__RESOURCE_REQUEST__INIT;
    rr.cpus = 1;
    static char *argv[] = {"/bin/true"};
    Cairn__TaskSpec ts = CAIRN__TASK_SPEC__INIT, *tp = &ts;
    ts.name = "t";
    ts.n_argv = 1;
    ts.argv = argv;
    ts.resources = &rr;
    ts.retry = &p;
    Cairn__JobSpec js = CAIRN__JOB_SPEC__INIT;
    js.name = "bad";
    js.n_tasks = 1;
    js.tasks = &tp;
    Cairn__SubmitRequest req = CAIRN__SUBMIT_REQUEST__INIT;
    req.job = &js;
    cairn_error_t err = {{0}};
    Cairn__SubmitReply *rep = (Cairn__SubmitReply *)h_call(&r.s, CAIRN_MSG_SUBMIT, &req.base,
                                                           CAIRN_MSG_SUBMIT_REPLY, &err);
    cr_assert_not_null(rep, "submit: %s", err.text);
    cr_assert_eq(rep->n_errors, 1);
    cr_expect(strstr(rep->errors[0]->message, "task t: retry.on: bad log pattern 'NCCL('"), "%s",
              rep->errors[0]->message);
    cairn_msg_free(&rep->base);
    run_stop(&r);
}

/* A class on a success, or one the scheduler does not know, is ignored;
 * memory_exceeded alone (an older worker) is an OOM. */
Test(end_class, odd_classes_are_ignored_and_memory_exceeded_is_oom)
{
    run_t r;
    run_start(&r);
    Cairn__RetryPolicy p = CAIRN__RETRY_POLICY__INIT;
    p.max_attempts = 2;
    p.retry_on_oom = true;
    char buf[128];
    uint64_t job = submit_one(&r, &p);
    end(&r, next_assign(&r, NULL, 0), 0, 0, "oom", false);
    cr_expect_eq(classes(&r, job, buf, sizeof(buf)), CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED);
    cr_expect_str_eq(buf, "", "a success has no class");

    job = submit_one(&r, &p);
    end(&r, next_assign(&r, NULL, 0), 1, 0, "cosmic-ray", false);
    cr_expect_eq(classes(&r, job, buf, sizeof(buf)), CAIRN__JOB_STATE__JOB_STATE_FAILED);
    cr_expect_str_eq(buf, "exit_nonzero", "an unknown class is none: not retried");

    job = submit_one(&r, &p);
    end(&r, next_assign(&r, NULL, 0), 0, 9, NULL, true);
    end(&r, next_assign(&r, NULL, 0), 0, 9, "oom", true);
    cr_expect_eq(classes(&r, job, buf, sizeof(buf)), CAIRN__JOB_STATE__JOB_STATE_FAILED);
    cr_expect_str_eq(buf, "oom,oom");
    run_stop(&r);
}
