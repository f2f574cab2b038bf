/* The client API of a real cairn-scheduler: cancel, drain and undrain,
 * list, explain, nodes; a config file; metrics and status over HTTP. */
#include <arpa/inet.h>
#include <pthread.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "leak_check.h"
#include "sched_harness.h"

static void drain(h_sched_t *s, const char *node, bool on, Cairn__NodeState want)
{
    Cairn__DrainRequest req = CAIRN__DRAIN_REQUEST__INIT;
    req.node = (char *)node;
    req.drain = on;
    cairn_error_t err = {{0}};
    Cairn__DrainReply *rep =
        (Cairn__DrainReply *)h_call(s, CAIRN_MSG_DRAIN, &req.base, CAIRN_MSG_DRAIN_REPLY, &err);
    cr_assert_not_null(rep, "%s", err.text);
    cr_expect_eq(rep->state, want);
    cairn_msg_free(&rep->base);
}

Test(api, cancel_drain_list_explain_and_metrics)
{
    h_sched_t s;
    h_sched_init(&s);
    int port = h_free_port();
    char conf[400], http[64];
    snprintf(conf, sizeof(conf), "%s/scheduler.conf", s.dir);
    snprintf(http, sizeof(http), "127.0.0.1:%d", port);
    FILE *f = fopen(conf, "w");
    /* exact placements with a fake worker: nothing queued behind running tasks */
    fprintf(f, "# test config\nheartbeat-timeout = 60s\nhttp = %s\nno-prefetch = true\n", http);
    fclose(f);
    const char *args[] = {"--config", conf, NULL};
    h_sched_start(&s, args);
    h_worker_t w;
    h_worker_open(&w, s.workers, "w1", 2, 0);
    cairn_msg_free(&h_register(&w, NULL, 0)->base);
    /* cancel: the running task is signalled, the rest cancelled at once */
    const char *tasks[] = {"run", "later:run", "other"};
    uint64_t job = h_submit(&s, "to-cancel", tasks, 3, 2, 0, NULL);
    Cairn__AssignTask *a = (Cairn__AssignTask *)h_recv(&w, CAIRN_MSG_ASSIGN_TASK, 10000);
    cr_assert_not_null(a);
    uint64_t aid = a->attempt_id;
    cairn_msg_free(&a->base);
    Cairn__CancelRequest cr = CAIRN__CANCEL_REQUEST__INIT;
    cr.job_id = job;
    cairn_error_t err = {{0}};
    Cairn__CancelReply *crep =
        (Cairn__CancelReply *)h_call(&s, CAIRN_MSG_CANCEL, &cr.base, CAIRN_MSG_CANCEL_REPLY, &err);
    cr_assert_not_null(crep, "%s", err.text);
    cr_expect_eq(crep->tasks_cancelled, 2);
    cr_expect_eq(crep->attempts_signalled, 1);
    cairn_msg_free(&crep->base);
    Cairn__CancelTask *ct = (Cairn__CancelTask *)h_recv(&w, CAIRN_MSG_CANCEL_TASK, 10000);
    cr_assert_not_null(ct, "the worker was not told to cancel");
    cr_expect_eq(ct->attempt_id, aid);
    cairn_msg_free(&ct->base);
    Cairn__TaskEvent te = CAIRN__TASK_EVENT__INIT;
    te.attempt_id = aid, te.kind = CAIRN__TASK_EVENT__KIND__EXITED, te.signal = 15;
    te.cancelled = 1, te.seq = ++w.seq;
    h_send(&w, CAIRN_MSG_TASK_EVENT, &te.base);
    cairn_msg_free(h_recv(&w, CAIRN_MSG_ACK, 10000));
    Cairn__JobStatusReply *st = h_status(&s, job);
    cr_expect_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_CANCELLED);
    cr_expect_eq(st->tasks[0]->attempts[0]->end_reason, CAIRN__END_REASON__END_REASON_CANCELLED);
    cairn_msg_free(&st->base);
    /* drain: nothing new lands on the node until it is undrained */
    drain(&s, "w1", true, CAIRN__NODE_STATE__NODE_STATE_DRAINED);
    const char *one[] = {"waits"};
    uint64_t job2 = h_submit(&s, "after-drain", one, 1, 1, 0, NULL);
    cr_assert_null(h_recv(&w, CAIRN_MSG_ASSIGN_TASK, 300), "a draining node took work");
    Cairn__ExplainRequest ex = CAIRN__EXPLAIN_REQUEST__INIT;
    ex.job_id = job2;
    ex.task = "waits";
    Cairn__ExplainReply *er =
        (Cairn__ExplainReply *)h_call(&s, CAIRN_MSG_EXPLAIN, &ex.base, CAIRN_MSG_EXPLAIN_REPLY, &err);
    cr_assert_not_null(er, "%s", err.text);
    cr_expect(strstr(er->text, "1 node: node draining") != NULL, "%s", er->text);
    cairn_msg_free(&er->base);
    drain(&s, "w1", false, CAIRN__NODE_STATE__NODE_STATE_UP);
    a = (Cairn__AssignTask *)h_recv(&w, CAIRN_MSG_ASSIGN_TASK, 10000);
    cr_assert_not_null(a, "undrained node got no work");
    cr_expect_str_eq(a->task_name, "waits");
    cairn_msg_free(&a->base);
    /* list: newest first */
    Cairn__ListJobsRequest lr = CAIRN__LIST_JOBS_REQUEST__INIT;
    Cairn__ListJobsReply *lrep = (Cairn__ListJobsReply *)h_call(
        &s, CAIRN_MSG_LIST_JOBS, &lr.base, CAIRN_MSG_LIST_JOBS_REPLY, &err);
    cr_assert_not_null(lrep, "%s", err.text);
    cr_assert_eq(lrep->n_jobs, 2);
    cr_expect_str_eq(lrep->jobs[0]->name, "after-drain");
    cr_expect_eq(lrep->jobs[1]->state, CAIRN__JOB_STATE__JOB_STATE_CANCELLED);
    cairn_msg_free(&lrep->base);
    /* unknown node */
    Cairn__DrainRequest bad = CAIRN__DRAIN_REQUEST__INIT;
    bad.node = "nope";
    bad.drain = true;
    cr_expect_null(h_call(&s, CAIRN_MSG_DRAIN, &bad.base, CAIRN_MSG_DRAIN_REPLY, &err));
    cr_expect(strstr(err.text, "no node 'nope'") != NULL, "%s", err.text);
    /* metrics and status over HTTP (refreshed every second) */
    int64_t deadline = cairn_mono_ms() + 10000;
    char *m = NULL;
    while (!m || !strstr(m, "cairn_placements_total 2")) {
        free(m);
        m = h_http_get(port, "/metrics");
        cr_assert_lt(cairn_mono_ms(), deadline, "metrics never showed 2 placements");
    }
    cr_expect(strstr(m, "cairn_tasks{state=\"cancelled\"} 3") != NULL, "%s", m);
    cr_expect(strstr(m, "cairn_nodes{state=\"up\"} 1") != NULL, "%s", m);
    cr_expect(strstr(m, "cairn_pass_seconds_count") != NULL, "%s", m);
    free(m);
    char *js = h_http_get(port, "/status");
    cr_expect(strstr(js, "\"jobs\": 2") != NULL, "%s", js);
    free(js);
    cr_expect_eq(WEXITSTATUS(h_sched_stop(&s, SIGTERM)), 0);
    h_worker_close(&w);
    h_sched_fini(&s);
}

static Cairn__CancelReply *cancel_call(h_sched_t *s, uint64_t job, const char *task)
{
    Cairn__CancelRequest cr = CAIRN__CANCEL_REQUEST__INIT;
    cr.job_id = job;
    cr.task = (char *)task;
    cairn_error_t err = {{0}};
    Cairn__CancelReply *rep =
        (Cairn__CancelReply *)h_call(s, CAIRN_MSG_CANCEL, &cr.base, CAIRN_MSG_CANCEL_REPLY, &err);
    cr_assert_not_null(rep, "%s", err.text);
    return rep;
}

/* a runs, b needs a, c runs: cancelling a signals a, names b as cancelled
 * once a stops, and the job ends cancelled (not failed) with c done. */
Test(api, cancel_one_task_says_what_it_did)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, NULL);
    h_worker_t w;
    h_worker_open(&w, s.workers, "w1", 2, 0);
    cairn_msg_free(&h_register(&w, NULL, 0)->base);
    const char *tasks[] = {"a", "b:a", "c"};
    uint64_t job = h_submit(&s, "one", tasks, 3, 1, 0, NULL);
    uint64_t ids[2];
    for (int i = 0; i < 2; i++) {
        Cairn__AssignTask *a = (Cairn__AssignTask *)h_recv(&w, CAIRN_MSG_ASSIGN_TASK, 10000);
        cr_assert_not_null(a);
        ids[strcmp(a->task_name, "a") == 0 ? 0 : 1] = a->attempt_id;
        cairn_msg_free(&a->base);
    }
    h_event(&w, ids[0], CAIRN__TASK_EVENT__KIND__STARTED, 0, 0);
    Cairn__CancelReply *r = cancel_call(&s, job, "a");
    cr_expect_eq(r->tasks_cancelled, 0);
    cr_expect_eq(r->attempts_signalled, 1);
    cr_expect_eq(r->dependents_cancelled, 1);
    cr_expect(r->dependents_later);
    cr_expect_eq(r->state, CAIRN__JOB_STATE__JOB_STATE_RUNNING);
    cr_assert_eq(r->n_cancelled, 2);
    cr_expect_str_eq(r->cancelled[0]->name, "a");
    cr_expect(r->cancelled[0]->signalled && !r->cancelled[0]->dependent);
    cr_expect_str_eq(r->cancelled[1]->name, "b");
    cr_expect(r->cancelled[1]->dependent && !r->cancelled[1]->signalled);
    cairn_msg_free(&r->base);
    Cairn__CancelTask *ct = (Cairn__CancelTask *)h_recv(&w, CAIRN_MSG_CANCEL_TASK, 10000);
    cr_assert_not_null(ct, "the worker was not told to cancel");
    cr_expect_eq(ct->attempt_id, ids[0]);
    cairn_msg_free(&ct->base);
    h_event(&w, ids[0], CAIRN__TASK_EVENT__KIND__EXITED, 0, 15); /* SIGTERM'd */
    h_event(&w, ids[1], CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    Cairn__JobStatusReply *st = h_status(&s, job);
    cr_expect_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_CANCELLED);
    cr_expect_eq(st->job->tasks_failed, 0);
    cr_expect_eq(st->job->tasks_cancelled, 2);
    cr_expect_eq(st->tasks[1]->state, CAIRN__TASK_STATE__TASK_STATE_CANCELLED);
    cairn_msg_free(&st->base);
    /* again: nothing left to do, and the reply says so */
    r = cancel_call(&s, job, "a");
    cr_expect_eq(r->tasks_cancelled + r->attempts_signalled + r->dependents_cancelled, 0);
    cr_expect_eq(r->task_state, CAIRN__TASK_STATE__TASK_STATE_CANCELLED);
    cr_expect_eq(r->state, CAIRN__JOB_STATE__JOB_STATE_CANCELLED);
    cairn_msg_free(&r->base);
    /* a job whose task is cancelled before it runs: its dependent at once */
    const char *more[] = {"x", "y:x", "z:y"};
    uint64_t job2 = h_submit(&s, "two", more, 3, 1, 0, NULL);
    Cairn__AssignTask *a = (Cairn__AssignTask *)h_recv(&w, CAIRN_MSG_ASSIGN_TASK, 10000);
    cr_assert_not_null(a);
    uint64_t xid = a->attempt_id;
    cairn_msg_free(&a->base);
    r = cancel_call(&s, job2, "y");
    cr_expect_eq(r->tasks_cancelled, 1);
    cr_expect_eq(r->attempts_signalled, 0);
    cr_expect_eq(r->dependents_cancelled, 1);
    cr_expect_not(r->dependents_later);
    cairn_msg_free(&r->base);
    h_event(&w, xid, CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    st = h_status(&s, job2);
    cr_expect_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_CANCELLED);
    cairn_msg_free(&st->base);
    cr_expect_eq(WEXITSTATUS(h_sched_stop(&s, SIGTERM)), 0);
    h_worker_close(&w);
    h_sched_fini(&s);
}

Test(api, bad_options_and_config_are_refused)
{
    h_sched_t s;
    h_sched_init(&s);
    char conf[400], cmd[1200];
    snprintf(conf, sizeof(conf), "%s/bad.conf", s.dir);
    FILE *f = fopen(conf, "w");
    fprintf(f, "heartbeat-timeout = 5s\nheartbeat-timout = 5s\n");
    fclose(f);
    snprintf(cmd, sizeof(cmd), "'%s/cairn-scheduler' --config '%s' 2>'%s/err.txt'", CAIRN_BIN_DIR,
             conf, s.dir);
    int rc = system(cmd);
    cr_expect_eq(WEXITSTATUS(rc), 2);
    char path[400], line[400] = "";
    snprintf(path, sizeof(path), "%s/err.txt", s.dir);
    f = fopen(path, "r");
    if (f && fgets(line, sizeof(line), f))
        cr_expect(strstr(line, "bad.conf:2: unknown key 'heartbeat-timout'") != NULL, "%s", line);
    if (f)
        fclose(f);
    snprintf(cmd, sizeof(cmd), "'%s/cairn-scheduler' --heartbeat-timeout soon 2>/dev/null",
             CAIRN_BIN_DIR);
    cr_expect_eq(WEXITSTATUS(system(cmd)), 2);
    h_sched_fini(&s);
}

/* A peer that connects and drops before the SP handshake (a port scan, a
 * health check) wedges nng 1.5.2 sockets; the scheduler notices and reopens
 * its endpoints, so clients and workers get through again. */
static void connect_and_drop(const char *url)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", url + strlen("ipc://"));
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "%s", a.sun_path);
    close(fd);
}

Test(api, endpoints_survive_peers_dropping_mid_handshake)
{
    static const char *const args[] = {"--heartbeat-timeout", "60s", NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, args);
    const char *tasks[] = {"a"};
    cr_expect_eq(h_submit(&s, "before", tasks, 1, 1, 0, NULL), 1);
    connect_and_drop(s.clients);
    connect_and_drop(s.workers);
    /* h_call and h_register retry for ~10 s: the watchdog reopens within ~6 s */
    cr_expect_eq(h_submit(&s, "after", tasks, 1, 1, 0, NULL), 2, "clients get through again");
    h_worker_t w;
    h_worker_open(&w, s.workers, "w1", 1, 0);
    Cairn__RegisterReply *rr = h_register(&w, NULL, 0);
    cr_assert_not_null(rr, "workers get through again");
    cr_expect(rr->accepted);
    cairn_msg_free(&rr->base);
    h_worker_close(&w);
    cr_expect_eq(WEXITSTATUS(h_sched_stop(&s, SIGTERM)), 0);
    h_sched_fini(&s);
}

/* JobStatusRequest.wait_ms: a long poll answered when the job ends, or
 * when the wait runs out; summary_only leaves the tasks out. */
struct long_poll {
    const char *url;
    uint64_t job;
    uint32_t wait_ms;
    Cairn__JobState state;
    size_t ntasks;
    int64_t took_ms;
};

static void *long_poll_thread(void *arg)
{
    struct long_poll *lp = arg;
    cairn_client_t *c = NULL;
    cairn_error_t err = {{0}};
    if (cairn_client_create(lp->url, 30000, &c, &err) < 0)
        return NULL;
    Cairn__JobStatusRequest req = CAIRN__JOB_STATUS_REQUEST__INIT;
    req.job_id = lp->job;
    req.wait_ms = lp->wait_ms;
    req.summary_only = true;
    ProtobufCMessage *rep = NULL;
    int64_t t0 = cairn_mono_ms();
    if (cairn_client_call(c, CAIRN_MSG_JOB_STATUS, &req.base, CAIRN_MSG_JOB_STATUS_REPLY, &rep,
                          &err) == 0) {
        Cairn__JobStatusReply *r = (Cairn__JobStatusReply *)rep;
        lp->state = r->job->state;
        lp->ntasks = r->n_tasks;
        cairn_msg_free(rep);
    }
    lp->took_ms = cairn_mono_ms() - t0;
    cairn_client_destroy(c);
    return NULL;
}

Test(api, job_status_long_poll)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, NULL);
    h_worker_t w;
    h_worker_open(&w, s.workers, "w1", 1, 0);
    cairn_msg_free(&h_register(&w, NULL, 0)->base);
    const char *tasks[] = {"a"};
    uint64_t job = h_submit(&s, "poll", tasks, 1, 1, 0, NULL);
    Cairn__AssignTask *a = (Cairn__AssignTask *)h_recv(&w, CAIRN_MSG_ASSIGN_TASK, 10000);
    cr_assert_not_null(a);
    uint64_t aid = a->attempt_id;
    cairn_msg_free(&a->base);
    /* the wait runs out while the task runs: the current summary */
    struct long_poll short_wait = {.url = s.clients, .job = job, .wait_ms = 200};
    long_poll_thread(&short_wait);
    cr_expect(short_wait.state == CAIRN__JOB_STATE__JOB_STATE_PENDING ||
                  short_wait.state == CAIRN__JOB_STATE__JOB_STATE_RUNNING,
              "state %d", short_wait.state);
    cr_expect_eq(short_wait.ntasks, 0);
    cr_expect_geq(short_wait.took_ms, 150, "answered after %lld ms", (long long)short_wait.took_ms);
    /* a long wait is answered by the job's end, not by its timeout */
    struct long_poll long_wait = {.url = s.clients, .job = job, .wait_ms = 60000};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, long_poll_thread, &long_wait), 0);
    h_event(&w, aid, CAIRN__TASK_EVENT__KIND__STARTED, 0, 0);
    h_event(&w, aid, CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    pthread_join(th, NULL);
    cr_expect_eq(long_wait.state, CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED);
    cr_expect_lt(long_wait.took_ms, 30000, "not answered at the job's end");
    /* an ended job is answered at once, with its tasks unless summary_only */
    Cairn__JobStatusReply *st = h_status(&s, job);
    cr_expect_eq(st->n_tasks, 1);
    cairn_msg_free(&st->base);
    h_worker_close(&w);
    h_sched_fini(&s);
}

/* Which requests the client sends again after a silence (resend): reads
 * only. An account's set or delete must never be sent twice (a second
 * delete would answer "no such account" for a delete that worked). */
Test(api, only_reads_are_resent)
{
    Cairn__AccountRequest ar = CAIRN__ACCOUNT_REQUEST__INIT;
    Cairn__AccountList al = CAIRN__ACCOUNT_LIST__INIT;
    Cairn__AccountSet as = CAIRN__ACCOUNT_SET__INIT;
    Cairn__AccountDelete ad = CAIRN__ACCOUNT_DELETE__INIT;
    ar.op_case = CAIRN__ACCOUNT_REQUEST__OP_LIST, ar.list = &al;
    cr_expect(cairn_client_is_read(CAIRN_MSG_ACCOUNT, &ar.base), "account list");
    ar.op_case = CAIRN__ACCOUNT_REQUEST__OP_SET, ar.set = &as;
    cr_expect_not(cairn_client_is_read(CAIRN_MSG_ACCOUNT, &ar.base), "account set");
    ar.op_case = CAIRN__ACCOUNT_REQUEST__OP_DELETE, ar.delete_ = &ad;
    cr_expect_not(cairn_client_is_read(CAIRN_MSG_ACCOUNT, &ar.base), "account delete");
    static const cairn_msg_type_t writes[] = {CAIRN_MSG_SUBMIT, CAIRN_MSG_CANCEL, CAIRN_MSG_DRAIN,
                                              CAIRN_MSG_NODE_RM};
    for (size_t i = 0; i < sizeof(writes) / sizeof(*writes); i++)
        cr_expect_not(cairn_client_is_read(writes[i], NULL), "type %d", writes[i]);
    static const cairn_msg_type_t reads[] = {CAIRN_MSG_JOB_STATUS, CAIRN_MSG_ACCOUNTING,
                                             CAIRN_MSG_USAGE, CAIRN_MSG_NODES};
    for (size_t i = 0; i < sizeof(reads) / sizeof(*reads); i++)
        cr_expect(cairn_client_is_read(reads[i], NULL), "type %d", reads[i]);
}
