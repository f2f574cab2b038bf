/* A real cairn-scheduler process driven through its endpoints by fake
 * workers and a client: DAG order, retries, failure propagation, restart
 * after kill -9 with adoption, node loss with retry elsewhere and stale
 * attempts, bad input. */
#include "leak_check.h"
#include "sched_harness.h"

static const char *const fast[] = {"--heartbeat-timeout", "60s", NULL};

static Cairn__AssignTask *expect_assign(h_worker_t *w, const char *task)
{
    Cairn__AssignTask *a = (Cairn__AssignTask *)h_recv(w, CAIRN_MSG_ASSIGN_TASK, 10000);
    cr_assert_not_null(a, "no assignment of %s", task);
    cr_assert_str_eq(a->task_name, task);
    return a;
}

Test(scheduler, dag_runs_in_order_and_completes)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, fast);
    h_worker_t w;
    h_worker_open(&w, s.workers, "w1", 4, 0);
    Cairn__RegisterReply *rr = h_register(&w, NULL, 0);
    cr_assert_not_null(rr, "no register reply");
    cr_assert(rr->accepted, "refused: %s", rr->error);
    cairn_msg_free(&rr->base);
    const char *tasks[] = {"a", "b:a"};
    uint64_t job = h_submit(&s, "dag", tasks, 2, 1, 0, NULL);
    cr_assert_eq(job, 1);
    Cairn__AssignTask *a = expect_assign(&w, "a");
    uint64_t aid = a->attempt_id;
    cr_expect_eq(a->n_cores, 1);
    cr_expect_eq(a->attempt_number, 1);
    cairn_msg_free(&a->base);
    /* b must not be assigned before a succeeded */
    cr_assert_null(h_recv(&w, CAIRN_MSG_ASSIGN_TASK, 300), "b assigned before a ended");
    h_event(&w, aid, CAIRN__TASK_EVENT__KIND__STARTED, 0, 0);
    h_event(&w, aid, CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    Cairn__AssignTask *b = expect_assign(&w, "b");
    uint64_t bid = b->attempt_id;
    cairn_msg_free(&b->base);
    h_event(&w, bid, CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    Cairn__JobStatusReply *st = h_status(&s, job);
    cr_expect_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED);
    cr_assert_eq(st->n_tasks, 2);
    for (size_t i = 0; i < 2; i++) {
        cr_expect_eq(st->tasks[i]->state, CAIRN__TASK_STATE__TASK_STATE_SUCCEEDED);
        cr_expect_eq(st->tasks[i]->n_attempts, 1);
        cr_expect_str_eq(st->tasks[i]->attempts[0]->node, "w1");
    }
    cairn_msg_free(&st->base);
    cr_expect_eq(WEXITSTATUS(h_sched_stop(&s, SIGTERM)), 0, "clean exit on SIGTERM");
    h_worker_close(&w);
    h_sched_fini(&s);
}

Test(scheduler, retry_by_policy_then_upstream_failed)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, fast);
    h_worker_t w;
    h_worker_open(&w, s.workers, "w1", 2, 0);
    cairn_msg_free(&h_register(&w, NULL, 0)->base);
    Cairn__RetryPolicy rp = CAIRN__RETRY_POLICY__INIT;
    int32_t codes[] = {137};
    rp.max_attempts = 2;
    rp.n_retry_on_exit_codes = 1;
    rp.retry_on_exit_codes = codes;
    const char *tasks[] = {"x", "y:x"};
    uint64_t job = h_submit(&s, "retry", tasks, 2, 1, 0, &rp);
    Cairn__AssignTask *a1 = expect_assign(&w, "x");
    uint64_t seed = a1->seed, id1 = a1->attempt_id;
    cairn_msg_free(&a1->base);
    h_event(&w, id1, CAIRN__TASK_EVENT__KIND__EXITED, 0, 9); /* SIGKILL = exit:137 */
    Cairn__AssignTask *a2 = expect_assign(&w, "x");
    cr_expect_eq(a2->attempt_number, 2);
    cr_expect_eq(a2->seed, seed, "a retry keeps its seed");
    uint64_t id2 = a2->attempt_id;
    cairn_msg_free(&a2->base);
    h_event(&w, id2, CAIRN__TASK_EVENT__KIND__EXITED, 1, 0);
    Cairn__JobStatusReply *st = h_status(&s, job);
    cr_expect_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_FAILED);
    cr_expect_eq(st->tasks[0]->state, CAIRN__TASK_STATE__TASK_STATE_FAILED);
    cr_expect_eq(st->tasks[0]->n_attempts, 2);
    cr_expect_eq(st->tasks[0]->attempts[0]->end_reason, CAIRN__END_REASON__END_REASON_SIGNALED);
    cr_expect_eq(st->tasks[0]->attempts[1]->end_reason,
                 CAIRN__END_REASON__END_REASON_EXIT_NONZERO);
    cr_expect_eq(st->tasks[1]->state, CAIRN__TASK_STATE__TASK_STATE_UPSTREAM_FAILED);
    cairn_msg_free(&st->base);
    h_sched_stop(&s, SIGKILL);
    cr_expect_eq(h_verify_journal(&s), 2);
    h_worker_close(&w);
    h_sched_fini(&s);
}

Test(scheduler, kill9_restart_adopts_running_and_loses_nothing)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, fast);
    h_worker_t w;
    h_worker_open(&w, s.workers, "w1", 2, 0);
    cairn_msg_free(&h_register(&w, NULL, 0)->base);
    const char *tasks[] = {"a", "b:a"};
    uint64_t job = h_submit(&s, "survive", tasks, 2, 1, 0, NULL);
    Cairn__AssignTask *a = expect_assign(&w, "a");
    uint64_t aid = a->attempt_id;
    cairn_msg_free(&a->base);
    h_event(&w, aid, CAIRN__TASK_EVENT__KIND__STARTED, 0, 0);
    h_sched_stop(&s, SIGKILL);
    h_sched_start(&s, fast);
    /* the worker comes back and says it still runs a */
    Cairn__RegisterReply *rr = h_register(&w, &aid, 1);
    cr_assert_not_null(rr);
    cr_assert(rr->accepted);
    cr_expect_eq(rr->n_stale_attempt_ids, 0, "a running, current attempt is adopted");
    cairn_msg_free(&rr->base);
    cr_assert_null(h_recv(&w, CAIRN_MSG_ASSIGN_TASK, 300), "a must not be assigned again");
    h_event(&w, aid, CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    Cairn__AssignTask *b = expect_assign(&w, "b");
    uint64_t bid = b->attempt_id;
    cairn_msg_free(&b->base);
    h_event(&w, bid, CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    Cairn__JobStatusReply *st = h_status(&s, job);
    cr_expect_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED);
    cr_expect_eq(st->tasks[0]->n_attempts, 1, "a ran once");
    cairn_msg_free(&st->base);
    /* an acknowledged submit survives kill -9 at once */
    uint64_t job2 = h_submit(&s, "durable", tasks, 1, 1, 0, NULL);
    h_sched_stop(&s, SIGKILL);
    h_sched_start(&s, fast);
    st = h_status(&s, job2);
    cr_expect_str_eq(st->job->name, "durable");
    cairn_msg_free(&st->base);
    h_worker_close(&w);
    h_sched_fini(&s);
}

Test(scheduler, node_loss_retries_elsewhere_and_kills_stale)
{
    static const char *const quick[] = {"--heartbeat-interval", "100ms", "--heartbeat-timeout",
                                        "400ms", NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, quick);
    h_worker_t w1, w2;
    h_worker_open(&w1, s.workers, "w1", 4, 0);
    cairn_msg_free(&h_register(&w1, NULL, 0)->base);
    h_worker_open(&w2, s.workers, "w2", 4, 0);
    cairn_msg_free(&h_register(&w2, NULL, 0)->base);
    const char *tasks[] = {"train"};
    uint64_t job = h_submit(&s, "lost", tasks, 1, 4, 0, NULL);
    Cairn__AssignTask *a1 = expect_assign(&w1, "train");
    uint64_t id1 = a1->attempt_id, seed = a1->seed;
    cairn_msg_free(&a1->base);
    h_event(&w1, id1, CAIRN__TASK_EVENT__KIND__STARTED, 0, 0);
    /* w1 falls silent; w2 keeps beating and gets the retry */
    Cairn__AssignTask *a2 =
        (Cairn__AssignTask *)h_recv_beating(&w2, CAIRN_MSG_ASSIGN_TASK, 10000, 100);
    cr_assert_not_null(a2, "no retry on w2");
    cr_expect_eq(a2->seed, seed);
    cr_expect_eq(a2->attempt_number, 2);
    uint64_t id2 = a2->attempt_id;
    cairn_msg_free(&a2->base);
    /* w1 returns and reports its old attempt: stale, to be killed */
    Cairn__RegisterReply *rr = h_register(&w1, &id1, 1);
    cr_assert_not_null(rr);
    cr_assert_eq(rr->n_stale_attempt_ids, 1);
    cr_expect_eq(rr->stale_attempt_ids[0], id1);
    cairn_msg_free(&rr->base);
    h_event(&w1, id1, CAIRN__TASK_EVENT__KIND__EXITED, 0, 0); /* late: ignored */
    h_event(&w2, id2, CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    Cairn__JobStatusReply *st = h_status(&s, job);
    cr_expect_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED);
    cr_assert_eq(st->tasks[0]->n_attempts, 2);
    cr_expect_eq(st->tasks[0]->attempts[0]->end_reason, CAIRN__END_REASON__END_REASON_NODE_LOST);
    cr_expect_str_eq(st->tasks[0]->attempts[1]->node, "w2");
    cairn_msg_free(&st->base);
    /* the recorded run, node loss and all, replays to the same placements */
    h_sched_stop(&s, SIGTERM);
    cr_expect_eq(h_verify_journal(&s), 2, "both placements re-derived");
    h_worker_close(&w1);
    h_worker_close(&w2);
    h_sched_fini(&s);
}

Test(scheduler, bad_input_is_refused_and_service_continues)
{
    static const char *const small[] = {"--max-message", "65536", "--heartbeat-timeout", "60s",
                                        NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, small);
    /* garbage on the client endpoint gets an error reply */
    nng_socket raw;
    cr_assert_eq(nng_req0_open(&raw), 0);
    nng_socket_set_ms(raw, NNG_OPT_RECVTIMEO, 5000);
    cr_assert_eq(nng_dial(raw, s.clients, NULL, NNG_FLAG_NONBLOCK), 0);
    nng_socket_set_ms(raw, NNG_OPT_SENDTIMEO, 5000);
    static const uint8_t v7[12] = {0x43, 0x4e, 0x00, 0x07, 0x00, 0x20}; /* version 7 */
    cr_assert_eq(nng_send(raw, (void *)v7, sizeof(v7), 0), 0);
    void *buf;
    size_t len;
    cr_assert_eq(nng_recv(raw, &buf, &len, NNG_FLAG_ALLOC), 0);
    cairn_msg_type_t type;
    ProtobufCMessage *msg;
    cr_assert_eq(cairn_msg_decode(buf, len, 0, &type, &msg, NULL), 0);
    cr_expect_eq(type, CAIRN_MSG_ERROR);
    cr_expect(strstr(((Cairn__ErrorReply *)msg)->message, "version") != NULL, "%s",
              ((Cairn__ErrorReply *)msg)->message);
    cairn_msg_free(msg);
    nng_free(buf, len);
    /* an oversize message is dropped with its connection */
    char *big = calloc(1, 200000);
    nng_send(raw, big, 200000, 0);
    free(big);
    nng_close(raw);
    /* a spec with problems is refused whole, with every problem */
    Cairn__JobSpec js = CAIRN__JOB_SPEC__INIT;
    Cairn__TaskSpec t1 = CAIRN__TASK_SPEC__INIT, t2 = CAIRN__TASK_SPEC__INIT;
    Cairn__TaskSpec *tp[] = {&t1, &t2};
    char *n1[] = {"b"}, *n2[] = {"a"}, *argv[] = {"true"};
    t1.name = "a", t1.n_needs = 1, t1.needs = n1, t1.n_argv = 1, t1.argv = argv;
    t2.name = "b", t2.n_needs = 1, t2.needs = n2;
    js.name = "bad";
    js.n_tasks = 2;
    js.tasks = tp;
    Cairn__SubmitRequest req = CAIRN__SUBMIT_REQUEST__INIT;
    req.job = &js;
    cairn_error_t err = {{0}};
    Cairn__SubmitReply *rep =
        (Cairn__SubmitReply *)h_call(&s, CAIRN_MSG_SUBMIT, &req.base, CAIRN_MSG_SUBMIT_REPLY, &err);
    cr_assert_not_null(rep, "%s", err.text);
    cr_expect_eq(rep->job_id, 0);
    cr_assert_geq(rep->n_errors, 2);
    bool cycle = false, argv_err = false;
    for (size_t i = 0; i < rep->n_errors; i++) {
        cycle |= strstr(rep->errors[i]->message, "dependency cycle") != NULL;
        argv_err |= strstr(rep->errors[i]->message, "task b: empty command") != NULL;
    }
    cr_expect(cycle && argv_err, "errors: %s", rep->errors[0]->message);
    cairn_msg_free(&rep->base);
    /* unknown job, unknown node */
    Cairn__JobStatusRequest sr = CAIRN__JOB_STATUS_REQUEST__INIT;
    sr.job_id = 99;
    cr_expect_null(h_call(&s, CAIRN_MSG_JOB_STATUS, &sr.base, CAIRN_MSG_JOB_STATUS_REPLY, &err));
    cr_expect(strstr(err.text, "no job 99") != NULL, "%s", err.text);
    /* still serving */
    const char *tasks[] = {"ok"};
    cr_expect_eq(h_submit(&s, "fine", tasks, 1, 1, 0, NULL), 1);
    cr_expect_eq(WEXITSTATUS(h_sched_stop(&s, SIGTERM)), 0);
    h_sched_fini(&s);
}

Test(scheduler, gang_completes_across_a_scheduler_restart)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, fast);
    h_worker_t w[2];
    h_worker_open(&w[0], s.workers, "g1", 2, 0);
    cairn_msg_free(&h_register(&w[0], NULL, 0)->base);
    h_worker_open(&w[1], s.workers, "g2", 2, 0);
    cairn_msg_free(&h_register(&w[1], NULL, 0)->base);
    Cairn__JobSpec js = CAIRN__JOB_SPEC__INIT;
    Cairn__TaskSpec t = CAIRN__TASK_SPEC__INIT, *tp[] = {&t};
    Cairn__ResourceRequest rr = CAIRN__RESOURCE_REQUEST__INIT;
    char *argv[] = {"train.py"};
    rr.cpus = 2;
    t.name = "ddp", t.n_argv = 1, t.argv = argv, t.resources = &rr, t.replicas = 2;
    uint64_t job = h_submit_tasks(&s, "gang", tp, 1);
    (void)js;
    uint64_t id = 0;
    uint32_t rank[2];
    char addr[2][64];
    uint32_t port[2];
    for (int i = 0; i < 2; i++) {
        Cairn__AssignTask *a = expect_assign(&w[i], "ddp");
        cr_expect_eq(a->world_size, 2);
        rank[i] = a->rank;
        id = a->attempt_id;
        snprintf(addr[i], sizeof(addr[i]), "%s", a->rendezvous_addr);
        port[i] = a->rendezvous_port;
        cairn_msg_free(&a->base);
    }
    cr_expect_neq(rank[0], rank[1], "each replica has its own rank");
    cr_expect_str_eq(addr[0], addr[1]);
    cr_expect_eq(port[0], port[1], "one rendezvous for the gang");
    /* one replica finishes, then the scheduler dies */
    h_event_rank(&w[0], id, rank[0], CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    h_sched_stop(&s, SIGKILL);
    h_sched_start(&s, fast);
    cairn_msg_free(&h_register(&w[0], NULL, 0)->base);
    Cairn__RegisterReply *rr2 = h_register_ranks(&w[1], &id, &rank[1], 1);
    cr_assert_not_null(rr2);
    cr_expect_eq(rr2->n_stale_attempt_ids, 0);
    cairn_msg_free(&rr2->base);
    h_event_rank(&w[1], id, rank[1], CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    Cairn__JobStatusReply *st = h_status(&s, job);
    cr_expect_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED,
                 "the gang ends once every replica succeeded, across the restart");
    cr_expect_str_eq(st->tasks[0]->attempts[0]->node, "g1,g2");
    cairn_msg_free(&st->base);
    h_worker_close(&w[0]);
    h_worker_close(&w[1]);
    h_sched_fini(&s);
}
