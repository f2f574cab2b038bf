/* A real cairn-scheduler process and fake workers: a node's life cycle as
 * operators see it. A drain and its reason hold across the worker's
 * reconnects and scheduler restarts; after a restart, nodes that have not
 * registered again are "returning": they keep their attempts and get no
 * new work, so no task uses up an attempt on a node that is not there. */
#include "sched_harness.h"

static const char *const slow_grace[] = {"--heartbeat-timeout", "60s", "--restart-grace", "60s",
                                         NULL};

static void drain(h_sched_t *s, const char *node, bool on, const char *reason)
{
    Cairn__DrainRequest req = CAIRN__DRAIN_REQUEST__INIT;
    req.node = (char *)node;
    req.drain = on;
    req.reason = (char *)reason;
    cairn_error_t err = {{0}};
    Cairn__DrainReply *r =
        (Cairn__DrainReply *)h_call(s, CAIRN_MSG_DRAIN, &req.base, CAIRN_MSG_DRAIN_REPLY, &err);
    cr_assert_not_null(r, "drain: %s", err.text);
    cairn_msg_free(&r->base);
}

static void expect_node(h_sched_t *s, const char *name, Cairn__NodeState state, bool drained,
                        const char *reason)
{
    Cairn__NodesReply *keep;
    Cairn__NodeInfo *ni = h_node_info(s, name, &keep);
    cr_expect_eq(ni->state, state, "node %s: state %d, want %d", name, ni->state, state);
    cr_expect_eq(ni->drained, drained, "node %s drained", name);
    cr_expect_str_eq(ni->drain_reason, reason, "node %s drain reason", name);
    cairn_msg_free(&keep->base);
}

Test(nodes, drain_and_reason_survive_reconnects_and_restarts)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, slow_grace);
    h_worker_t w;
    h_worker_open(&w, s.workers, "local", 2, 0);
    h_register_ok(&w);
    drain(&s, "local", true, "maint");
    expect_node(&s, "local", CAIRN__NODE_STATE__NODE_STATE_DRAINED, true, "maint");
    /* the worker reconnects (a blip, a worker restart) */
    h_worker_close(&w);
    h_worker_open(&w, s.workers, "local", 2, 0);
    h_register_ok(&w);
    expect_node(&s, "local", CAIRN__NODE_STATE__NODE_STATE_DRAINED, true, "maint");
    /* nothing is placed on it */
    const char *tasks[] = {"t"};
    uint64_t job = h_submit(&s, "held", tasks, 1, 1, 0, NULL);
    cr_expect_null(h_recv(&w, CAIRN_MSG_ASSIGN_TASK, 300), "a drained node got work");
    /* the scheduler restarts: returning while away, drained once back */
    h_sched_stop(&s, SIGKILL);
    h_sched_start(&s, slow_grace);
    expect_node(&s, "local", CAIRN__NODE_STATE__NODE_STATE_RETURNING, true, "maint");
    h_register_ok(&w);
    expect_node(&s, "local", CAIRN__NODE_STATE__NODE_STATE_DRAINED, true, "maint");
    cr_expect_null(h_recv(&w, CAIRN_MSG_ASSIGN_TASK, 300), "a drained node got work");
    /* undrain: the task runs */
    drain(&s, "local", false, NULL);
    expect_node(&s, "local", CAIRN__NODE_STATE__NODE_STATE_UP, false, "");
    Cairn__AssignTask *a = (Cairn__AssignTask *)h_recv(&w, CAIRN_MSG_ASSIGN_TASK, 10000);
    cr_assert_not_null(a, "no assignment after the undrain");
    cr_expect_eq(a->job_id, job);
    cairn_msg_free(&a->base);
    h_sched_stop(&s, SIGTERM);
    h_verify_journal(&s);
    h_worker_close(&w);
    h_sched_fini(&s);
}

/* Two nodes, a restart, only one comes back: within the grace the other is
 * returning, and a job of single-attempt tasks runs entirely on the one
 * that is back, prefetch included, none of them lost. */
Test(nodes, no_new_work_for_a_node_that_has_not_come_back)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, slow_grace);
    h_worker_t a, b;
    h_worker_open(&a, s.workers, "back", 2, 0);
    h_worker_open(&b, s.workers, "away", 8, 0);
    h_register_ok(&a);
    h_register_ok(&b);
    h_worker_close(&b);
    h_sched_stop(&s, SIGKILL);
    h_sched_start(&s, slow_grace);
    h_register_ok(&a);
    expect_node(&s, "away", CAIRN__NODE_STATE__NODE_STATE_RETURNING, false, "");
    Cairn__RetryPolicy rp = CAIRN__RETRY_POLICY__INIT;
    rp.max_attempts = 1;
    const char *tasks[] = {"t0", "t1", "t2", "t3"};
    uint64_t job = h_submit(&s, "one-shot", tasks, 4, 1, 0, &rp);
    /* two run on it and two are queued behind them (prefetch); before
     * this fix the two went to the larger, absent node and waited there
     * to be lost */
    uint64_t ids[4];
    for (int i = 0; i < 4; i++) {
        Cairn__AssignTask *at = (Cairn__AssignTask *)h_recv(&a, CAIRN_MSG_ASSIGN_TASK, 10000);
        cr_assert_not_null(at, "task %d not assigned to the node that is back", i);
        ids[i] = at->attempt_id;
        cairn_msg_free(&at->base);
    }
    for (int i = 0; i < 4; i++) {
        h_event(&a, ids[i], CAIRN__TASK_EVENT__KIND__STARTED, 0, 0);
        h_event(&a, ids[i], CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    }
    Cairn__JobStatusReply *st = h_status(&s, job);
    cr_expect_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED);
    for (size_t i = 0; i < st->n_tasks; i++) {
        cr_expect_eq(st->tasks[i]->n_attempts, 1);
        cr_expect_str_eq(st->tasks[i]->attempts[0]->node, "back");
    }
    cairn_msg_free(&st->base);
    expect_node(&s, "away", CAIRN__NODE_STATE__NODE_STATE_RETURNING, false, "");
    h_sched_stop(&s, SIGTERM);
    h_verify_journal(&s);
    h_worker_close(&a);
    h_sched_fini(&s);
}

/* A returning node that does not come back within the grace goes down,
 * and the attempts it held are retried elsewhere (node-lost). */
Test(nodes, returning_node_goes_down_after_the_grace)
{
    static const char *const short_grace[] = {"--heartbeat-interval",
                                              "100ms",
                                              "--heartbeat-timeout",
                                              "60s",
                                              "--restart-grace",
                                              "500ms",
                                              NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, slow_grace);
    h_worker_t a, b;
    h_worker_open(&a, s.workers, "back", 1, 0);
    h_worker_open(&b, s.workers, "away", 1, 0);
    h_register_ok(&b);
    const char *tasks[] = {"t"};
    uint64_t job = h_submit(&s, "moved", tasks, 1, 1, 0, NULL);
    Cairn__AssignTask *at = (Cairn__AssignTask *)h_recv(&b, CAIRN_MSG_ASSIGN_TASK, 10000);
    cr_assert_not_null(at);
    cairn_msg_free(&at->base);
    h_worker_close(&b);
    h_sched_stop(&s, SIGKILL);
    h_sched_start(&s, short_grace);
    h_register_ok(&a);
    at = (Cairn__AssignTask *)h_recv_beating(&a, CAIRN_MSG_ASSIGN_TASK, 10000, 100);
    cr_assert_not_null(at, "the lost node's task was not retried");
    cr_expect_eq(at->attempt_number, 2);
    cairn_msg_free(&at->base);
    expect_node(&s, "away", CAIRN__NODE_STATE__NODE_STATE_DOWN, false, "");
    Cairn__JobStatusReply *st = h_status(&s, job);
    cr_assert_eq(st->tasks[0]->n_attempts, 2);
    cr_expect_eq(st->tasks[0]->attempts[0]->end_reason, CAIRN__END_REASON__END_REASON_NODE_LOST);
    cairn_msg_free(&st->base);
    h_sched_stop(&s, SIGTERM);
    h_worker_close(&a);
    h_sched_fini(&s);
}

/* The scheduler itself stops (SIGSTOP: as a long stall, swapping, a
 * paused VM) for longer than the heartbeat timeout while its workers keep
 * beating: when it runs again no node is condemned for a silence it could
 * not hear, and the log says why. */
Test(nodes, a_stalled_scheduler_condemns_no_node)
{
    static const char *const quick[] = {"--heartbeat-interval", "100ms", "--heartbeat-timeout",
                                        "400ms", NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, quick);
    h_worker_t w;
    h_worker_open(&w, s.workers, "steady", 1, 0);
    h_register_ok(&w);
    cr_assert_null(h_recv_beating(&w, CAIRN_MSG_ASSIGN_TASK, 300, 100));
    cr_assert_eq(kill(s.pid, SIGSTOP), 0);
    cr_assert_null(h_recv_beating(&w, CAIRN_MSG_ASSIGN_TASK, 1200, 100));
    cr_assert_eq(kill(s.pid, SIGCONT), 0);
    cr_assert_null(h_recv_beating(&w, CAIRN_MSG_ASSIGN_TASK, 1000, 100));
    expect_node(&s, "steady", CAIRN__NODE_STATE__NODE_STATE_UP, false, "");
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "grep -q 'could not run for' '%s/scheduler.log'", s.dir);
    cr_expect_eq(system(cmd), 0, "the stall is logged");
    snprintf(cmd, sizeof(cmd), "grep -q 'node steady silent' '%s/scheduler.log'", s.dir);
    cr_expect_neq(system(cmd), 0, "the node was condemned");
    h_worker_close(&w);
    h_sched_fini(&s);
}

/* A worker's connection that went silent without its close reaching the
 * scheduler (nng's TLS can lose a close that follows a send) does not
 * keep the node's name from its own worker: after three heartbeat
 * intervals of silence a new connection of the same identity takes it
 * over. A live duplicate, heartbeating, keeps being refused, so two
 * workers of one name never take turns. */
Test(nodes, a_silent_connection_is_replaced_by_the_same_worker)
{
    static const char *const quick[] = {"--heartbeat-interval", "100ms", "--heartbeat-timeout",
                                        "60s", NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, quick);
    h_worker_t a, b;
    h_worker_open(&a, s.workers, "twin", 1, 0);
    h_register_ok(&a);
    h_worker_open(&b, s.workers, "twin", 1, 0);
    for (int i = 0; i < 5; i++) { /* a is alive: b is refused */
        cr_assert_null(h_recv_beating(&a, CAIRN_MSG_ASSIGN_TASK, 150, 50));
        Cairn__RegisterReply *rr = h_register(&b, NULL, 0);
        cr_assert_not_null(rr);
        cr_assert(!rr->accepted, "a live duplicate took the name");
        cr_expect(strstr(rr->error, "already connected") != NULL, "%s", rr->error);
        cairn_msg_free(&rr->base);
    }
    /* a goes silent with its connection open: b takes the name over */
    bool accepted = false;
    for (int64_t deadline = cairn_mono_ms() + 10000; !accepted && cairn_mono_ms() < deadline;) {
        Cairn__RegisterReply *rr = h_register(&b, NULL, 0);
        accepted = rr && rr->accepted;
        if (rr)
            cairn_msg_free(&rr->base);
        if (!accepted)
            nng_msleep(50); /* a worker's retry delay, not synchronisation */
    }
    cr_assert(accepted, "the silent connection kept the name");
    char cmd[600];
    snprintf(cmd, sizeof(cmd),
             "grep -q 'node twin: its connection (pipe [0-9]*) has been silent' '%s/scheduler.log'",
             s.dir);
    cr_expect_eq(system(cmd), 0, "the takeover is logged");
    expect_node(&s, "twin", CAIRN__NODE_STATE__NODE_STATE_UP, false, "");
    h_worker_close(&a);
    h_worker_close(&b);
    h_sched_fini(&s);
}
