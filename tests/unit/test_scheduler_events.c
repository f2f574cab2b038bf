/* A real cairn-scheduler process and fake workers: task events a worker
 * resends after losing its connection (their Acks lost with it) are
 * applied once, by (node, incarnation, seq), durably across scheduler
 * restarts; a gang counts each replica's exit once. */
#include "sched_harness.h"

static const char *const fast[] = {"--heartbeat-timeout", "60s", NULL};

/* Register after a reconnect: until the scheduler has seen the old
 * connection go, the name is taken ("already connected"), and a real
 * worker retries with backoff; so does this. */
static Cairn__RegisterReply *reregister(h_worker_t *w, uint64_t *running, uint32_t *ranks, size_t n)
{
    int64_t deadline = cairn_mono_ms() + 10000;
    for (;;) {
        Cairn__RegisterReply *rr = h_register_ranks(w, running, ranks, n);
        if ((rr && rr->accepted) || cairn_mono_ms() > deadline)
            return rr;
        cairn_msg_free(&rr->base);
        nng_msleep(20); /* a worker's retry delay, not synchronisation */
    }
}

/* A gang of n replicas on workers w[0..n-1] (2 cores each): the attempt
 * id, and each worker's rank. */
static uint64_t gang_start(h_sched_t *s, h_worker_t *w, int n, uint32_t *rank, uint64_t *job)
{
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof(name), "g%d", i);
        h_worker_open(&w[i], s->workers, name, 2, 0);
        Cairn__RegisterReply *rr = h_register(&w[i], NULL, 0);
        cr_assert(rr && rr->accepted);
        cairn_msg_free(&rr->base);
    }
    Cairn__TaskSpec t = CAIRN__TASK_SPEC__INIT, *tp[] = {&t};
    Cairn__ResourceRequest rr = CAIRN__RESOURCE_REQUEST__INIT;
    char *argv[] = {"train.py"};
    rr.cpus = 2;
    t.name = "ddp", t.n_argv = 1, t.argv = argv, t.resources = &rr, t.replicas = (uint32_t)n;
    *job = h_submit_tasks(s, "gang", tp, 1);
    uint64_t id = 0;
    for (int i = 0; i < n; i++) {
        Cairn__AssignTask *a = (Cairn__AssignTask *)h_recv(&w[i], CAIRN_MSG_ASSIGN_TASK, 10000);
        cr_assert_not_null(a, "replica on g%d not assigned", i);
        rank[i] = a->rank;
        id = a->attempt_id;
        cairn_msg_free(&a->base);
    }
    return id;
}

static Cairn__JobState job_state(h_sched_t *s, uint64_t job, uint32_t *attempts)
{
    Cairn__JobStatusReply *st = h_status(s, job);
    Cairn__JobState js = st->job->state;
    *attempts = (uint32_t)st->tasks[0]->n_attempts;
    cairn_msg_free(&st->base);
    return js;
}

/* The exit of replica 0 is applied, its Ack is lost with the connection,
 * the worker registers again and resends it: it counts once. */
Test(events, resent_replica_exit_counts_once)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, fast);
    h_worker_t w[2];
    uint32_t rank[2], n;
    uint64_t job, id = gang_start(&s, w, 2, rank, &job);
    h_event_rank(&w[0], id, rank[0], CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    uint64_t seq = w[0].seq;
    h_worker_reconnect(&w[0], s.workers);
    Cairn__RegisterReply *rr = reregister(&w[0], NULL, NULL, 0);
    cr_assert(rr && rr->accepted);
    cairn_msg_free(&rr->base);
    h_event_seq(&w[0], seq, id, rank[0], CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    cr_expect_eq(job_state(&s, job, &n), CAIRN__JOB_STATE__JOB_STATE_RUNNING,
                 "one replica still runs");
    h_event_rank(&w[1], id, rank[1], CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    cr_expect_eq(job_state(&s, job, &n), CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED,
                 "the gang ends once both replicas exited");
    cr_expect_eq(n, 1, "one attempt");
    h_sched_stop(&s, SIGTERM);
    h_verify_journal(&s);
    for (int i = 0; i < 2; i++)
        h_worker_close(&w[i]);
    h_sched_fini(&s);
}

/* Three replicas: a duplicate of one exit must not stand in for another
 * replica that still runs, across a kill -9 of the scheduler too. */
Test(events, duplicate_exit_never_finishes_a_gang_early_across_restarts)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, fast);
    h_worker_t w[3];
    uint32_t rank[3], n;
    uint64_t job, id = gang_start(&s, w, 3, rank, &job);
    h_event_rank(&w[0], id, rank[0], CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    uint64_t seq = w[0].seq;
    /* the scheduler dies after the commit that acknowledged it */
    h_sched_stop(&s, SIGKILL);
    h_sched_start(&s, fast);
    for (int i = 0; i < 3; i++) {
        h_worker_reconnect(&w[i], s.workers);
        Cairn__RegisterReply *rr =
            i == 0 ? reregister(&w[i], NULL, NULL, 0) : reregister(&w[i], &id, &rank[i], 1);
        cr_assert(rr && rr->accepted);
        cr_expect_eq(rr->n_stale_attempt_ids, 0);
        cairn_msg_free(&rr->base);
    }
    /* the resent exit, twice (two reconnects in a row) */
    h_event_seq(&w[0], seq, id, rank[0], CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    h_worker_reconnect(&w[0], s.workers);
    Cairn__RegisterReply *rr = reregister(&w[0], NULL, NULL, 0);
    cr_assert(rr && rr->accepted);
    cairn_msg_free(&rr->base);
    h_event_seq(&w[0], seq, id, rank[0], CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    h_event_rank(&w[1], id, rank[1], CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    cr_expect_eq(job_state(&s, job, &n), CAIRN__JOB_STATE__JOB_STATE_RUNNING,
                 "replica %u still runs: the gang has not succeeded", rank[2]);
    h_event_rank(&w[2], id, rank[2], CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    cr_expect_eq(job_state(&s, job, &n), CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED);
    cr_expect_eq(n, 1);
    /* the duplicates were dropped by their seq, not only by their rank */
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "grep -c 'applied already' '%s/scheduler.log' | grep -qx 2", s.dir);
    cr_expect_eq(system(cmd), 0, "both resends dropped as applied already");
    h_sched_stop(&s, SIGTERM);
    h_verify_journal(&s);
    for (int i = 0; i < 3; i++)
        h_worker_close(&w[i]);
    h_sched_fini(&s);
}

/* A new worker process (another incarnation) starts its seqs anew: its
 * events are applied even if their seqs are lower than the old ones'. */
Test(events, new_worker_process_is_not_taken_for_a_duplicate)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, fast);
    h_worker_t w;
    h_worker_open(&w, s.workers, "n1", 1, 0);
    w.seq = 1000;
    cairn_msg_free(&h_register(&w, NULL, 0)->base);
    const char *tasks[] = {"a", "b:a"};
    uint64_t job = h_submit(&s, "restarted", tasks, 2, 1, 0, NULL);
    Cairn__AssignTask *a = (Cairn__AssignTask *)h_recv(&w, CAIRN_MSG_ASSIGN_TASK, 10000);
    cr_assert_not_null(a);
    uint64_t aid = a->attempt_id;
    cairn_msg_free(&a->base);
    h_event(&w, aid, CAIRN__TASK_EVENT__KIND__STARTED, 0, 0);
    /* the worker restarts: new incarnation, seqs from 1, still runs a */
    h_worker_close(&w);
    h_worker_open(&w, s.workers, "n1", 1, 0);
    Cairn__RegisterReply *rr = reregister(&w, &aid, NULL, 1);
    cr_assert(rr && rr->accepted);
    cairn_msg_free(&rr->base);
    h_event(&w, aid, CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    Cairn__AssignTask *b = (Cairn__AssignTask *)h_recv(&w, CAIRN_MSG_ASSIGN_TASK, 10000);
    cr_assert_not_null(b, "a's end was applied: b follows");
    uint64_t bid = b->attempt_id;
    cairn_msg_free(&b->base);
    h_event(&w, bid, CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    uint32_t n;
    cr_expect_eq(job_state(&s, job, &n), CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED);
    h_worker_close(&w);
    h_sched_fini(&s);
}
