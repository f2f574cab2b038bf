/* What a real cairn-scheduler tells clients about where work is, driven by
 * fake workers: tasks queued on a node behind a running attempt (prefetch,
 * on by default) are pending and hold nothing, in status, explain, nodes,
 * metrics and provenance alike, and one cancelled before it started never
 * ran; a gang's status and provenance give every rank its own node, cores
 * and GPUs. */
#include "sched_harness.h"

/* Node name holds, in `cairn nodes`, running attempts (every GPU held by
 * holder) and queued ones. */
static void expect_node(h_sched_t *s, const char *name, uint32_t running, uint32_t queued,
                        uint64_t holder)
{
    Cairn__NodesReply *keep;
    Cairn__NodeInfo *ni = h_node_info(s, name, &keep);
    cr_expect_eq(ni->running_attempts, running, "node %s: %u running, want %u", name,
                 ni->running_attempts, running);
    cr_expect_eq(ni->queued_attempts, queued, "node %s: %u queued, want %u", name,
                 ni->queued_attempts, queued);
    for (size_t g = 0; g < ni->n_gpus; g++)
        cr_expect_eq(ni->gpus[g]->attempt_id, holder,
                     "node %s GPU %zu held by attempt %llu, want %llu", name, g,
                     (unsigned long long)ni->gpus[g]->attempt_id, (unsigned long long)holder);
    cairn_msg_free(&keep->base);
}

static const Cairn__TaskStatus *task_of(const Cairn__JobStatusReply *st, const char *name)
{
    for (size_t i = 0; i < st->n_tasks; i++)
        if (!strcmp(st->tasks[i]->name, name))
            return st->tasks[i];
    cr_assert_fail("no task %s in the status", name);
    return NULL;
}

static Cairn__ExplainReply *explain(h_sched_t *s, uint64_t job, const char *task)
{
    Cairn__ExplainRequest req = CAIRN__EXPLAIN_REQUEST__INIT;
    req.job_id = job;
    req.task = (char *)task;
    cairn_error_t err = {{0}};
    Cairn__ExplainReply *r = (Cairn__ExplainReply *)h_call(s, CAIRN_MSG_EXPLAIN, &req.base,
                                                           CAIRN_MSG_EXPLAIN_REPLY, &err);
    cr_assert_not_null(r, "explain: %s", err.text);
    return r;
}

static Cairn__ProvenanceReply *provenance(h_sched_t *s, uint64_t job)
{
    Cairn__ProvenanceRequest req = CAIRN__PROVENANCE_REQUEST__INIT;
    req.job_id = job;
    cairn_error_t err = {{0}};
    Cairn__ProvenanceReply *r = (Cairn__ProvenanceReply *)h_call(s, CAIRN_MSG_PROVENANCE, &req.base,
                                                                 CAIRN_MSG_PROVENANCE_REPLY, &err);
    cr_assert_not_null(r, "provenance: %s", err.text);
    return r;
}

static const Cairn__TaskProvenance *task_prov(const Cairn__ProvenanceReply *r, const char *name)
{
    for (size_t i = 0; i < r->job->n_tasks; i++)
        if (!strcmp(r->job->tasks[i]->name, name))
            return r->job->tasks[i];
    cr_assert_fail("no task %s in the provenance", name);
    return NULL;
}

/* The scheduler's /metrics once it shows want (it is refreshed every
 * second); the caller frees it. */
static char *metrics_showing(int port, const char *want)
{
    int64_t deadline = cairn_mono_ms() + 10000;
    char *m = NULL;
    while (!m || !strstr(m, want)) {
        free(m);
        cr_assert_lt(cairn_mono_ms(), deadline, "metrics never showed %s", want);
        m = h_http_get(port, "/metrics");
    }
    return m;
}

Test(views, queued_tasks_are_pending_and_hold_nothing)
{
    h_sched_t s;
    h_sched_init(&s);
    int port = h_free_port();
    char http[64];
    snprintf(http, sizeof(http), "127.0.0.1:%d", port);
    const char *args[] = {"--http", http, NULL};
    h_sched_start(&s, args);
    h_worker_t w;
    h_worker_open(&w, s.workers, "gpu8", 16, 8);
    h_register_ok(&w);
    /* three tasks of all 8 GPUs: one runs, two are queued behind it */
    const char *names[] = {"a", "b", "c"};
    uint64_t job = h_submit(&s, "three", names, 3, 1, 8, NULL);
    uint64_t id[3] = {0}, after[3] = {0};
    for (int i = 0; i < 3; i++) {
        Cairn__AssignTask *at = (Cairn__AssignTask *)h_recv(&w, CAIRN_MSG_ASSIGN_TASK, 10000);
        cr_assert_not_null(at, "assignment %d of 3 (prefetch is on by default)", i);
        int k = at->task_name[0] - 'a';
        cr_assert(k >= 0 && k < 3, "task %s", at->task_name);
        id[k] = at->attempt_id;
        after[k] = at->after_attempt_id;
        cairn_msg_free(&at->base);
    }
    cr_assert(!after[0] && after[1] && after[2], "a runs, b and c are queued");
    h_event(&w, id[0], CAIRN__TASK_EVENT__KIND__STARTED, 0, 0);

    /* nodes: the running attempt holds every GPU; one runs, two are queued */
    expect_node(&s, "gpu8", 1, 2, id[0]);

    /* status: a runs on all 8 GPUs; b and c are pending, queued, with no
     * GPUs, cores, start time or duration */
    Cairn__JobStatusReply *st = h_status(&s, job);
    cr_expect_eq(st->job->tasks_running, 1);
    cr_expect_eq(st->job->tasks_pending, 2);
    const Cairn__TaskStatus *ta = task_of(st, "a");
    cr_expect_eq(ta->state, CAIRN__TASK_STATE__TASK_STATE_RUNNING);
    cr_assert_eq(ta->n_attempts, 1);
    cr_expect_eq(ta->attempts[0]->n_gpus, 8);
    cr_expect_gt(ta->attempts[0]->start_time_ms, 0);
    cr_assert_eq(ta->attempts[0]->n_replicas, 1);
    cr_expect_eq(ta->attempts[0]->replicas[0]->n_gpus, 8);
    for (int k = 1; k < 3; k++) {
        const Cairn__TaskStatus *t = task_of(st, names[k]);
        char want[128];
        snprintf(want, sizeof(want), "queued on node gpu8: starts when attempt %llu ends",
                 (unsigned long long)after[k]);
        cr_expect_eq(t->state, CAIRN__TASK_STATE__TASK_STATE_PENDING, "%s", names[k]);
        cr_expect_eq(t->pending_reason, CAIRN__PENDING_REASON__PENDING_REASON_QUEUED_ON_NODE);
        cr_expect_str_eq(t->pending_detail, want);
        cr_assert_eq(t->n_attempts, 1);
        const Cairn__AttemptInfo *q = t->attempts[0];
        cr_expect_str_eq(q->node, "gpu8");
        cr_expect_eq(q->queued_after, after[k]);
        cr_expect_eq(q->n_gpus, 0, "%s holds %zu GPUs while queued", names[k], q->n_gpus);
        cr_expect_eq(q->n_cores, 0, "%s holds %zu cores while queued", names[k], q->n_cores);
        cr_expect_eq(q->start_time_ms, 0, "%s has a start time while queued", names[k]);
        cr_assert_eq(q->n_replicas, 1);
        cr_expect_str_eq(q->replicas[0]->node, "gpu8");
        cr_expect_eq(q->replicas[0]->n_gpus, 0);
    }
    cairn_msg_free(&st->base);

    /* explain uses status's word and words */
    Cairn__ExplainReply *ex = explain(&s, job, "b");
    cr_expect_eq(ex->state, CAIRN__TASK_STATE__TASK_STATE_PENDING, "explain calls b %d", ex->state);
    char want[160];
    snprintf(want, sizeof(want),
             "job %llu task b: queued on node gpu8: starts when attempt %llu ends",
             (unsigned long long)job, (unsigned long long)after[1]);
    cr_expect_str_eq(ex->text, want);
    cairn_msg_free(&ex->base);
    ex = explain(&s, job, "a");
    cr_expect_eq(ex->state, CAIRN__TASK_STATE__TASK_STATE_RUNNING);
    cr_expect(strstr(ex->text, "placed (attempt 1) on gpu8") != NULL, "%s", ex->text);
    cairn_msg_free(&ex->base);

    /* metrics count running and queued apart */
    char *m = metrics_showing(port, "cairn_tasks{state=\"queued\"} 2");
    cr_expect(strstr(m, "cairn_tasks{state=\"running\"} 1\n") != NULL, "%s", m);
    free(m);

    /* provenance: b is pending, not started: no cores, GPUs or variables */
    Cairn__ProvenanceReply *pr = provenance(&s, job);
    const Cairn__TaskProvenance *pb = task_prov(pr, "b");
    cr_expect_str_eq(pb->state, "pending");
    cr_assert_eq(pb->n_attempts, 1);
    cr_expect_eq(pb->attempts[0]->n_cores, 0);
    cr_expect_eq(pb->attempts[0]->n_gpus, 0);
    cr_expect_eq(pb->attempts[0]->start_time_ms, 0);
    cr_expect_str_eq(task_prov(pr, "a")->state, "running");
    cairn_msg_free(&pr->base);

    /* c is cancelled before it started: the worker kills the process it
     * had parked and says so, with the signal it used */
    Cairn__CancelRequest cr = CAIRN__CANCEL_REQUEST__INIT;
    cr.job_id = job;
    cr.task = "c";
    cairn_error_t err = {{0}};
    Cairn__CancelReply *crep =
        (Cairn__CancelReply *)h_call(&s, CAIRN_MSG_CANCEL, &cr.base, CAIRN_MSG_CANCEL_REPLY, &err);
    cr_assert_not_null(crep, "cancel: %s", err.text);
    cairn_msg_free(&crep->base);
    Cairn__CancelTask *ct = (Cairn__CancelTask *)h_recv(&w, CAIRN_MSG_CANCEL_TASK, 10000);
    cr_assert_not_null(ct, "no cancel for c's attempt");
    cr_expect_eq(ct->attempt_id, id[2]);
    cairn_msg_free(&ct->base);
    Cairn__TaskEvent te = CAIRN__TASK_EVENT__INIT;
    te.attempt_id = id[2];
    te.kind = CAIRN__TASK_EVENT__KIND__EXITED;
    te.signal = 15;
    te.cancelled = true;
    /* its end as stamped (a time not before the scheduler's latest event:
     * its core takes none earlier) */
    int64_t ended = cairn_wall_ms() + 1;
    te.end_time_ms = ended;
    h_event_send(&w, &te);

    st = h_status(&s, job);
    const Cairn__TaskStatus *tc = task_of(st, "c");
    cr_expect_eq(tc->state, CAIRN__TASK_STATE__TASK_STATE_CANCELLED);
    cr_assert_eq(tc->n_attempts, 1);
    const Cairn__AttemptInfo *c = tc->attempts[0];
    cr_expect_eq(c->end_reason, CAIRN__END_REASON__END_REASON_CANCELLED);
    cr_expect_eq(c->start_time_ms, 0, "a cancelled queued attempt has a start time");
    cr_expect_eq(c->end_time_ms, ended);
    cr_expect_eq(c->signal, 0, "the parked process's signal %d is shown as the task's", c->signal);
    cr_expect_eq(c->n_gpus, 0);
    cr_expect_eq(c->n_cores, 0);
    cairn_msg_free(&st->base);
    ex = explain(&s, job, "c");
    snprintf(want, sizeof(want),
             "job %llu task c: cancelled: attempt 1 on gpu8 ended (cancelled before it started)",
             (unsigned long long)job);
    cr_expect_str_eq(ex->text, want);
    cairn_msg_free(&ex->base);
    pr = provenance(&s, job);
    const Cairn__TaskProvenance *pc = task_prov(pr, "c");
    cr_assert_eq(pc->n_attempts, 1);
    const Cairn__AttemptProvenance *ap = pc->attempts[0];
    cr_expect_str_eq(ap->end, "cancelled");
    cr_expect_eq(ap->start_time_ms, 0);
    cr_expect_eq(ap->signal, 0);
    cr_expect_eq(ap->n_gpus, 0);
    cr_expect_eq(ap->n_cores, 0);
    cr_expect_eq(ap->n_cairn_env, 0);
    cr_expect_str_eq(ap->worker_version, "");
    cairn_msg_free(&pr->base);
    expect_node(&s, "gpu8", 1, 1, id[0]);

    /* a ends: b takes its GPUs over, and nothing is queued any more */
    h_event(&w, id[0], CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    expect_node(&s, "gpu8", 1, 0, id[1]);
    st = h_status(&s, job);
    const Cairn__TaskStatus *tb = task_of(st, "b");
    cr_expect_eq(tb->state, CAIRN__TASK_STATE__TASK_STATE_RUNNING);
    cr_expect_eq(tb->attempts[0]->n_gpus, 8, "b holds the GPUs once a ended");
    cr_expect_eq(tb->attempts[0]->queued_after, 0);
    cairn_msg_free(&st->base);
    h_event(&w, id[1], CAIRN__TASK_EVENT__KIND__STARTED, 0, 0);
    h_event(&w, id[1], CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    expect_node(&s, "gpu8", 0, 0, 0);
    h_sched_stop(&s, SIGTERM);
    h_verify_journal(&s);
    h_worker_close(&w);
    h_sched_fini(&s);
}

/* What one worker was assigned for a rank of a gang. */
typedef struct rank_seen {
    char node[64];
    uint32_t gpus[8], cores[16];
    size_t ngpus, ncores;
} rank_seen_t;

static uint64_t take_assignment(h_worker_t *w, rank_seen_t *seen, uint32_t nranks)
{
    Cairn__AssignTask *at = (Cairn__AssignTask *)h_recv(w, CAIRN_MSG_ASSIGN_TASK, 10000);
    cr_assert_not_null(at, "no assignment on %s", w->name);
    cr_assert_lt(at->rank, nranks);
    rank_seen_t *r = &seen[at->rank];
    snprintf(r->node, sizeof(r->node), "%s", w->name);
    cr_assert_leq(at->n_gpus, 8);
    cr_assert_leq(at->n_cores, 16);
    r->ngpus = at->n_gpus;
    for (size_t g = 0; g < at->n_gpus; g++)
        r->gpus[g] = at->gpus[g]->index;
    r->ncores = at->n_cores;
    memcpy(r->cores, at->cores, at->n_cores * sizeof(uint32_t));
    uint64_t id = at->attempt_id;
    h_event_rank(w, id, at->rank, CAIRN__TASK_EVENT__KIND__STARTED, 0, 0);
    cairn_msg_free(&at->base);
    return id;
}

/* A rank as a reply shows it (GPU indexes) against what its worker was
 * assigned. */
static void expect_rank(const char *what, const char *node, const uint32_t *gpus, size_t ngpus,
                        const uint32_t *cores, size_t ncores, const rank_seen_t *r)
{
    cr_expect_str_eq(node, r->node, "%s", what);
    cr_expect_eq(ngpus, r->ngpus, "%s: %zu GPUs, assigned %zu", what, ngpus, r->ngpus);
    for (size_t i = 0; i < ngpus && i < r->ngpus; i++)
        cr_expect_eq(gpus[i], r->gpus[i], "%s: GPU %u, assigned %u", what, gpus[i], r->gpus[i]);
    cr_expect_eq(ncores, r->ncores, "%s: %zu cores, assigned %zu", what, ncores, r->ncores);
    for (size_t i = 0; cores && i < ncores && i < r->ncores; i++)
        cr_expect_eq(cores[i], r->cores[i], "%s: core %u, assigned %u", what, cores[i],
                     r->cores[i]);
}

Test(views, every_rank_of_a_gang_has_its_own_node_cores_and_gpus)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, NULL);
    h_worker_t w[2];
    h_worker_open(&w[0], s.workers, "n1", 16, 8);
    h_worker_open(&w[1], s.workers, "n2", 16, 8);
    h_register_ok(&w[0]);
    h_register_ok(&w[1]);
    /* a 4-GPU task first, so the gang's ranks get different GPUs */
    const char *one[] = {"filler"};
    h_submit(&s, "filler", one, 1, 1, 4, NULL);
    int busy = -1;
    for (int64_t deadline = cairn_mono_ms() + 10000; busy < 0 && cairn_mono_ms() < deadline;) {
        for (int k = 0; k < 2 && busy < 0; k++) {
            Cairn__AssignTask *at = (Cairn__AssignTask *)h_recv(&w[k], CAIRN_MSG_ASSIGN_TASK, 50);
            if (at) {
                busy = k;
                cairn_msg_free(&at->base);
            }
        }
    }
    cr_assert_geq(busy, 0, "the filler was not assigned");
    Cairn__ResourceRequest rr = CAIRN__RESOURCE_REQUEST__INIT;
    rr.cpus = 2;
    rr.gpus = 2;
    static char *argv[] = {"/bin/true"};
    Cairn__TaskSpec t = CAIRN__TASK_SPEC__INIT, *tp[] = {&t};
    t.name = "ddp", t.n_argv = 1, t.argv = argv, t.resources = &rr, t.replicas = 2;
    uint64_t job = h_submit_tasks(&s, "gang", tp, 1);
    rank_seen_t seen[2] = {0};
    uint64_t id = take_assignment(&w[0], seen, 2);
    cr_assert_eq(take_assignment(&w[1], seen, 2), id, "one attempt for both ranks");
    cr_assert(seen[0].ngpus == 2 && seen[1].ngpus == 2 && strcmp(seen[0].node, seen[1].node),
              "two ranks of 2 GPUs on two nodes");
    cr_assert(seen[0].gpus[0] != seen[1].gpus[0] || seen[0].gpus[1] != seen[1].gpus[1],
              "the scenario: the ranks have different GPUs (%s is partly busy)", w[busy].name);

    /* status: each rank's node, cores and GPUs; node joins them in rank
     * order; the flat fields are rank 0's */
    Cairn__JobStatusReply *st = h_status(&s, job);
    const Cairn__TaskStatus *ts = task_of(st, "ddp");
    cr_assert_eq(ts->n_attempts, 1);
    const Cairn__AttemptInfo *a = ts->attempts[0];
    char joined[160];
    snprintf(joined, sizeof(joined), "%s,%s", seen[0].node, seen[1].node);
    cr_expect_str_eq(a->node, joined);
    cr_assert_eq(a->n_replicas, 2);
    uint32_t gpus[8];
    for (uint32_t r = 0; r < 2; r++) {
        const Cairn__ReplicaPlacement *p = a->replicas[r];
        cr_expect_eq(p->rank, r);
        for (size_t g = 0; g < p->n_gpus && g < 8; g++)
            gpus[g] = p->gpus[g]->index;
        expect_rank(r ? "status rank 1" : "status rank 0", p->node, gpus, p->n_gpus, p->cores,
                    p->n_cores, &seen[r]);
    }
    /* the flat fields: rank 0's */
    for (size_t g = 0; g < a->n_gpus && g < 8; g++)
        gpus[g] = a->gpus[g]->index;
    expect_rank("status (rank 0's)", seen[0].node, gpus, a->n_gpus, a->cores, a->n_cores, &seen[0]);
    cairn_msg_free(&st->base);

    /* provenance (inspect): a record per rank, each with its own */
    Cairn__ProvenanceReply *pr = provenance(&s, job);
    const Cairn__TaskProvenance *tp0 = task_prov(pr, "ddp");
    cr_assert_eq(tp0->n_attempts, 2);
    for (uint32_t r = 0; r < 2; r++) {
        const Cairn__AttemptProvenance *p = tp0->attempts[r];
        cr_expect_eq(p->rank, r);
        for (size_t g = 0; g < p->n_gpus && g < 8; g++)
            gpus[g] = p->gpus[g]->index;
        expect_rank(r ? "inspect rank 1" : "inspect rank 0", p->node, gpus, p->n_gpus, p->cores,
                    p->n_cores, &seen[r]);
    }
    cairn_msg_free(&pr->base);
    h_sched_stop(&s, SIGTERM);
    h_verify_journal(&s);
    h_worker_close(&w[0]);
    h_worker_close(&w[1]);
    h_sched_fini(&s);
}
