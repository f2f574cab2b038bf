/* End to end: a real cairn-scheduler and real cairn-worker processes (with
 * simulated GPU topologies) on loopback ipc. A DAG runs to completion with
 * GPUs and logs; a worker killed with -9 mid-task has the task retried on
 * the other node with the same seed, leaves no process behind, and its lost
 * attempt's log is readable again once it returns. */
#include "leak_check.h"
#include "sched_harness.h"

typedef struct h_proc {
    pid_t pid;
    char name[32], dir[300];
} h_proc_t;

static void worker_start(h_sched_t *s, h_proc_t *w, const char *name, const char *topo)
{
    snprintf(w->name, sizeof(w->name), "%s", name);
    snprintf(w->dir, sizeof(w->dir), "%s/%s", s->dir, name);
    char bin[512], topo_path[512], log[400];
    snprintf(bin, sizeof(bin), "%s/cairn-worker", CAIRN_BIN_DIR);
    snprintf(topo_path, sizeof(topo_path), "%s/%s", CAIRN_TOPO_DIR, topo);
    snprintf(log, sizeof(log), "%s.log", w->dir);
    w->pid = fork();
    cr_assert_geq(w->pid, 0);
    if (w->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl(bin, bin, "--scheduler", s->workers, "--state-dir", w->dir, "--name", name,
              "--topology", topo_path, "--log-file", log, "--log-level", "debug", (char *)NULL);
        _exit(127);
    }
}

static void proc_kill(h_proc_t *w, int sig)
{
    if (w->pid <= 0)
        return;
    kill(w->pid, sig);
    waitpid(w->pid, NULL, 0);
    w->pid = 0;
}

static size_t nodes_up(h_sched_t *s)
{
    Cairn__NodesRequest req = CAIRN__NODES_REQUEST__INIT;
    cairn_error_t err = {{0}};
    Cairn__NodesReply *rep =
        (Cairn__NodesReply *)h_call(s, CAIRN_MSG_NODES, &req.base, CAIRN_MSG_NODES_REPLY, &err);
    cr_assert_not_null(rep, "%s", err.text);
    size_t up = 0;
    for (size_t i = 0; i < rep->n_nodes; i++)
        up += rep->nodes[i]->state == CAIRN__NODE_STATE__NODE_STATE_UP;
    cairn_msg_free(&rep->base);
    return up;
}

/* Poll (with a deadline) until n nodes are up. */
static void wait_nodes(h_sched_t *s, size_t n)
{
    int64_t deadline = cairn_mono_ms() + 15000;
    while (nodes_up(s) != n)
        cr_assert_lt(cairn_mono_ms(), deadline, "nodes did not come up");
}

/* Poll job status until pred holds or the deadline passes. */
static Cairn__JobStatusReply *wait_status(h_sched_t *s, uint64_t job,
                                          bool (*pred)(const Cairn__JobStatusReply *),
                                          int64_t timeout_ms)
{
    int64_t deadline = cairn_mono_ms() + timeout_ms;
    for (;;) {
        Cairn__JobStatusReply *st = h_status(s, job);
        if (pred(st))
            return st;
        cairn_msg_free(&st->base);
        cr_assert_lt(cairn_mono_ms(), deadline, "job %llu: condition not reached in time",
                     (unsigned long long)job);
    }
}

static bool job_ended(const Cairn__JobStatusReply *st)
{
    return st->job->state >= CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED;
}

/* The stdout of a task's attempt (0 = latest), read through the scheduler. */
static char *read_log(h_sched_t *s, uint64_t job, const char *task, uint32_t attempt,
                      cairn_error_t *err)
{
    Cairn__LogsRequest req = CAIRN__LOGS_REQUEST__INIT;
    req.job_id = job;
    req.task = (char *)task;
    req.attempt_number = attempt;
    req.stream = CAIRN__LOG_STREAM__LOG_STREAM_STDOUT;
    Cairn__LogsReply *rep =
        (Cairn__LogsReply *)h_call(s, CAIRN_MSG_LOGS, &req.base, CAIRN_MSG_LOGS_REPLY, err);
    if (!rep)
        return NULL;
    char *out = NULL;
    if (!rep->error || !*rep->error)
        out = rep->data.len ? strndup((const char *)rep->data.data, rep->data.len) : strdup("");
    else
        snprintf(err->text, sizeof(err->text), "%s", rep->error);
    cairn_msg_free(&rep->base);
    return out;
}

Test(e2e, gpu_dag_runs_with_logs_and_explain)
{
    static const char *const args[] = {"--heartbeat-interval", "200ms", NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, args);
    h_proc_t w1, w2;
    worker_start(&s, &w1, "gpu1", "hgx-h100-8gpu.xml");
    worker_start(&s, &w2, "gpu2", "hgx-h100-8gpu.xml");
    wait_nodes(&s, 2);
    Cairn__ResourceRequest cpu = CAIRN__RESOURCE_REQUEST__INIT, gpu = CAIRN__RESOURCE_REQUEST__INIT;
    cpu.cpus = 1;
    gpu.cpus = 2;
    gpu.gpus = 2;
    gpu.gpu_model = "H100";
    char *a1[1], *a2[1], *a3[1];
    char *need_prep[] = {"prep"}, *need_train[] = {"train"};
    Cairn__TaskSpec t[3];
    t[0] = h_shell_task("prep", "echo prep seed=$CAIRN_SEED", a1, &cpu);
    t[1] = h_shell_task("train", "echo gpus=$CUDA_VISIBLE_DEVICES threads=$OMP_NUM_THREADS", a2,
                      &gpu);
    t[1].n_needs = 1, t[1].needs = need_prep;
    t[2] = h_shell_task("eval", "echo eval", a3, &cpu);
    t[2].n_needs = 1, t[2].needs = need_train;
    Cairn__TaskSpec *tp[] = {&t[0], &t[1], &t[2]};
    uint64_t job = h_submit_tasks(&s, "pipeline", tp, 3);
    Cairn__JobStatusReply *st = wait_status(&s, job, job_ended, 30000);
    cr_expect_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED);
    for (size_t i = 0; i < 3; i++)
        cr_expect_eq(st->tasks[i]->n_attempts, 1);
    /* the children started only after their parents ended */
    cr_expect_geq(st->tasks[1]->attempts[0]->start_time_ms, st->tasks[0]->attempts[0]->end_time_ms);
    cr_expect_geq(st->tasks[2]->attempts[0]->start_time_ms, st->tasks[1]->attempts[0]->end_time_ms);
    cr_expect_eq(st->tasks[1]->attempts[0]->n_gpus, 2);
    cairn_msg_free(&st->base);
    cairn_error_t err = {{0}};
    char *log = read_log(&s, job, "train", 0, &err);
    cr_assert_not_null(log, "%s", err.text);
    cr_expect(strstr(log, "gpus=GPU-") && strchr(log, ','), "two GPUs by UUID: %s", log);
    cr_expect(strstr(log, "threads=2") != NULL, "%s", log);
    free(log);
    log = read_log(&s, job, "prep", 0, &err);
    cr_assert_not_null(log, "%s", err.text);
    cr_expect(strstr(log, "prep seed=") != NULL, "%s", log);
    free(log);
    Cairn__ExplainRequest ex = CAIRN__EXPLAIN_REQUEST__INIT;
    ex.job_id = job;
    ex.task = "train";
    Cairn__ExplainReply *er =
        (Cairn__ExplainReply *)h_call(&s, CAIRN_MSG_EXPLAIN, &ex.base, CAIRN_MSG_EXPLAIN_REPLY, &err);
    cr_assert_not_null(er, "%s", err.text);
    cr_expect(strstr(er->text, "succeeded") != NULL, "%s", er->text);
    cairn_msg_free(&er->base);
    proc_kill(&w1, SIGTERM);
    proc_kill(&w2, SIGTERM);
    cr_expect_eq(WEXITSTATUS(h_sched_stop(&s, SIGTERM)), 0);
    h_sched_fini(&s);
}

static bool second_attempt_running_or_done(const Cairn__JobStatusReply *st)
{
    return st->tasks[0]->n_attempts >= 2 || job_ended(st);
}

static bool first_attempt_started(const Cairn__JobStatusReply *st)
{
    return st->tasks[0]->n_attempts == 1 &&
           st->tasks[0]->state == CAIRN__TASK_STATE__TASK_STATE_RUNNING;
}

static bool marker_process_exists(void)
{
    return system("pgrep -f 'sleep 61[.]25' >/dev/null") == 0; /* [.]: not itself */
}

Test(e2e, worker_kill9_mid_task_retries_elsewhere)
{
    static const char *const args[] = {"--heartbeat-interval", "100ms", "--heartbeat-timeout",
                                       "800ms", NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, args);
    h_proc_t w[2];
    worker_start(&s, &w[0], "n1", "cpu-only-1s.xml");
    worker_start(&s, &w[1], "n2", "cpu-only-1s.xml");
    wait_nodes(&s, 2);
    Cairn__ResourceRequest rr = CAIRN__RESOURCE_REQUEST__INIT;
    rr.cpus = 8; /* a whole node: the retry must go to the other one */
    char *a1[1], *a2[1];
    char *need[] = {"long"};
    Cairn__TaskSpec t[2];
    t[0] = h_shell_task("long",
                      "echo attempt=$CAIRN_ATTEMPT seed=$CAIRN_SEED; "
                      "if [ $CAIRN_ATTEMPT = 1 ]; then exec sleep 61.25; fi",
                      a1, &rr);
    t[1] = h_shell_task("after", "echo after", a2, &rr);
    t[1].n_needs = 1, t[1].needs = need;
    Cairn__TaskSpec *tp[] = {&t[0], &t[1]};
    uint64_t job = h_submit_tasks(&s, "survivor", tp, 2);
    Cairn__JobStatusReply *st = wait_status(&s, job, first_attempt_started, 15000);
    const char *node = st->tasks[0]->attempts[0]->node;
    int victim = strcmp(node, "n1") == 0 ? 0 : 1;
    cairn_msg_free(&st->base);
    int64_t deadline = cairn_mono_ms() + 10000;
    while (!marker_process_exists())
        cr_assert_lt(cairn_mono_ms(), deadline, "the task never started");
    cairn_error_t err = {{0}};
    char *first = NULL;
    deadline = cairn_mono_ms() + 10000;
    while (!first || !*first) {
        free(first);
        first = read_log(&s, job, "long", 1, &err);
        cr_assert_not_null(first, "%s", err.text);
        cr_assert_lt(cairn_mono_ms(), deadline, "the first attempt's log stayed empty");
    }
    proc_kill(&w[victim], SIGKILL);
    /* the task dies with its worker */
    deadline = cairn_mono_ms() + 10000;
    while (marker_process_exists())
        cr_assert_lt(cairn_mono_ms(), deadline, "the task outlived its worker");
    st = wait_status(&s, job, job_ended, 30000);
    cr_expect_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED);
    cr_assert_eq(st->tasks[0]->n_attempts, 2);
    cr_expect_eq(st->tasks[0]->attempts[0]->end_reason, CAIRN__END_REASON__END_REASON_NODE_LOST);
    cr_expect_str_eq(st->tasks[0]->attempts[1]->node, w[1 - victim].name);
    cr_expect_eq(st->tasks[1]->state, CAIRN__TASK_STATE__TASK_STATE_SUCCEEDED);
    cairn_msg_free(&st->base);
    char *second = read_log(&s, job, "long", 2, &err);
    cr_assert_not_null(second, "%s", err.text);
    /* same seed on the retry */
    const char *s1 = strstr(first, "seed="), *s2 = strstr(second, "seed=");
    cr_assert(s1 && s2, "%s / %s", first, second);
    cr_expect_eq(strtoull(s1 + 5, NULL, 10), strtoull(s2 + 5, NULL, 10));
    free(second);
    /* the lost node returns: its attempt's log is readable again */
    char again_name[32];
    snprintf(again_name, sizeof(again_name), "%s", w[victim].name);
    worker_start(&s, &w[victim], again_name, "cpu-only-1s.xml");
    wait_nodes(&s, 2);
    char *again = read_log(&s, job, "long", 1, &err);
    cr_assert_not_null(again, "%s", err.text);
    cr_expect_str_eq(again, first);
    free(again);
    free(first);
    (void)second_attempt_running_or_done;
    proc_kill(&w[0], SIGTERM);
    proc_kill(&w[1], SIGTERM);
    h_sched_stop(&s, SIGTERM);
    cr_expect_eq(h_verify_journal(&s), 3, "long twice, after once");
    h_sched_fini(&s);
}

static bool running_started(const Cairn__JobStatusReply *st)
{
    return st->tasks[0]->state == CAIRN__TASK_STATE__TASK_STATE_RUNNING &&
           st->tasks[0]->attempts[0]->start_time_ms > 0;
}

Test(e2e, scheduler_kill9_mid_task_adopts_real_worker)
{
    static const char *const args[] = {"--heartbeat-interval", "100ms", NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, args);
    h_proc_t w;
    worker_start(&s, &w, "solo", "cpu-only-1s.xml");
    wait_nodes(&s, 1);
    char flag[400], script[600];
    snprintf(flag, sizeof(flag), "%s/go", s.dir);
    /* runs until the test creates the flag file: no timing involved */
    snprintf(script, sizeof(script),
             "echo run $CAIRN_ATTEMPT; while [ ! -e '%s' ]; do sleep 0.05; done; echo done",
             flag);
    Cairn__ResourceRequest rr = CAIRN__RESOURCE_REQUEST__INIT;
    rr.cpus = 1;
    char *a1[1], *a2[1], *need[] = {"work"};
    Cairn__TaskSpec t[2];
    t[0] = h_shell_task("work", script, a1, &rr);
    t[1] = h_shell_task("next", "echo next", a2, &rr);
    t[1].n_needs = 1, t[1].needs = need;
    Cairn__TaskSpec *tp[] = {&t[0], &t[1]};
    uint64_t job = h_submit_tasks(&s, "adopted", tp, 2);
    cairn_msg_free(&wait_status(&s, job, running_started, 15000)->base);
    h_sched_stop(&s, SIGKILL);
    h_sched_start(&s, args);
    FILE *f = fopen(flag, "w"); /* let the task finish while being adopted */
    cr_assert_not_null(f);
    fclose(f);
    Cairn__JobStatusReply *st = wait_status(&s, job, job_ended, 30000);
    cr_expect_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED);
    cr_expect_eq(st->tasks[0]->n_attempts, 1, "the running task was adopted, not rerun");
    cr_expect_eq(st->tasks[1]->state, CAIRN__TASK_STATE__TASK_STATE_SUCCEEDED);
    cairn_msg_free(&st->base);
    cairn_error_t err = {{0}};
    char *log = read_log(&s, job, "work", 0, &err);
    cr_assert_not_null(log, "%s", err.text);
    cr_expect_str_eq(log, "run 1\ndone\n");
    free(log);
    proc_kill(&w, SIGTERM);
    h_sched_stop(&s, SIGTERM);
    cr_expect_gt(h_verify_journal(&s), 0);
    h_sched_fini(&s);
}

/* On a machine with a real NVIDIA GPU (CAIRN_TEST_GPU=1): a worker on the
 * live topology runs a 1-GPU task that sees exactly its GPU. */
Test(e2e, real_gpu_task_sees_its_gpu)
{
    if (!getenv("CAIRN_TEST_GPU")) {
        cr_skip_test("set CAIRN_TEST_GPU=1 on a machine with an NVIDIA GPU");
        return;
    }
    static const char *const args[] = {"--heartbeat-interval", "200ms", NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, args);
    h_proc_t w;
    snprintf(w.name, sizeof(w.name), "gpu-host");
    snprintf(w.dir, sizeof(w.dir), "%s/live", s.dir);
    char bin[512], log[400];
    snprintf(bin, sizeof(bin), "%s/cairn-worker", CAIRN_BIN_DIR);
    snprintf(log, sizeof(log), "%s.log", w.dir);
    w.pid = fork();
    if (w.pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl(bin, bin, "--scheduler", s.workers, "--state-dir", w.dir, "--name", w.name,
              "--log-file", log, (char *)NULL);
        _exit(127);
    }
    wait_nodes(&s, 1);
    Cairn__ResourceRequest rr = CAIRN__RESOURCE_REQUEST__INIT;
    rr.cpus = 1;
    rr.gpus = 1;
    char *a1[1];
    Cairn__TaskSpec t = h_shell_task(
        "smi", "echo CVD=$CUDA_VISIBLE_DEVICES; nvidia-smi --query-gpu=name --format=csv,noheader",
        a1, &rr);
    Cairn__TaskSpec *tp[] = {&t};
    uint64_t job = h_submit_tasks(&s, "gpu", tp, 1);
    Cairn__JobStatusReply *st = wait_status(&s, job, job_ended, 60000);
    cr_expect_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED);
    cairn_msg_free(&st->base);
    cairn_error_t err = {{0}};
    char *out = read_log(&s, job, "smi", 0, &err);
    cr_assert_not_null(out, "%s", err.text);
    fprintf(stderr, "GPU task output:\n%s", out);
    cr_expect(strstr(out, "CVD=GPU-") != NULL, "the GPU by its UUID (NVML fills it): %s", out);
    cr_expect(strstr(out, "NVIDIA") != NULL, "%s", out);
    free(out);
    proc_kill(&w, SIGTERM);
    h_sched_stop(&s, SIGTERM);
    h_sched_fini(&s);
}

/* Prefetch on a real worker: on a full node the next tasks wait queued
 * behind running ones (shown as pending, "queued on node"), start when
 * those end, each runs once, and the journal re-derives every placement,
 * queued ones included. */
static bool some_queued(const Cairn__JobStatusReply *st)
{
    for (size_t i = 0; i < st->n_tasks; i++)
        if (st->tasks[i]->pending_detail && strstr(st->tasks[i]->pending_detail, "queued on node"))
            return true;
    return job_ended(st);
}

Test(e2e, prefetched_tasks_wait_on_the_node_and_run_once)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, NULL);
    h_proc_t w;
    worker_start(&s, &w, "cpu1", "cpu-only-1s.xml"); /* 16 cores */
    wait_nodes(&s, 1);
    enum { N = 24 };
    Cairn__ResourceRequest one = CAIRN__RESOURCE_REQUEST__INIT;
    one.cpus = 1;
    char names[N][16], *argv[N][1];
    Cairn__TaskSpec t[N], *tp[N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "t%d", i);
        t[i] = h_shell_task(names[i], "sleep 0.4", argv[i], &one);
        tp[i] = &t[i];
    }
    uint64_t job = h_submit_tasks(&s, "sweep", tp, N);
    Cairn__JobStatusReply *st = wait_status(&s, job, some_queued, 30000);
    cr_expect_neq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED,
                  "the job ended before any task was seen queued");
    cairn_msg_free(&st->base);
    st = wait_status(&s, job, job_ended, 60000);
    cr_expect_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED);
    for (size_t i = 0; i < st->n_tasks; i++)
        cr_expect_eq(st->tasks[i]->n_attempts, 1, "%s", st->tasks[i]->name);
    cairn_msg_free(&st->base);
    proc_kill(&w, SIGTERM);
    cr_expect_eq(WEXITSTATUS(h_sched_stop(&s, SIGTERM)), 0);
    cr_expect_geq(h_verify_journal(&s), (unsigned long)N);
    h_sched_fini(&s);
}
