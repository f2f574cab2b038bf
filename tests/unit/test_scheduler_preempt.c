/* Preemption through a real cairn-scheduler and a fake worker: a
 * priority-100 task that fits nowhere stops preemptible low-priority
 * attempts with their checkpoint signal and grace (CancelTask PREEMPTED),
 * their ends are `preempted` and use no retry, they run again with the same
 * seed and checkpoint directory, and provenance links the checkpoint the
 * resumed attempt found to the attempt that left it. */
#include "proto/sha256.h"
#include "sched_harness.h"

#define USR1 10

static const char *const *no_args = NULL;

typedef struct low_job {
    Cairn__TaskSpec ts[2], *tp[2];
    Cairn__ResourceRequest rr;
    Cairn__Checkpoint ck;
    Cairn__RetryPolicy retry;
    char *argv[2][1];
} low_job_t;

/* Two one-core preemptible tasks a and b, USR1 with grace_ms, no retries. */
static uint64_t submit_low(h_sched_t *s, low_job_t *j, uint64_t grace_ms)
{
    cairn__resource_request__init(&j->rr);
    j->rr.cpus = 1;
    cairn__checkpoint__init(&j->ck);
    j->ck.signal = USR1;
    j->ck.grace_ms = grace_ms;
    cairn__retry_policy__init(&j->retry);
    j->retry.max_attempts = 1;
    static const char *names[] = {"a", "b"};
    for (int i = 0; i < 2; i++) {
        j->ts[i] = h_shell_task(names[i], "sleep 100", j->argv[i], &j->rr);
        j->ts[i].preemptible = 1;
        j->ts[i].checkpoint = &j->ck;
        j->ts[i].retry = &j->retry;
        j->tp[i] = &j->ts[i];
    }
    return h_submit_tasks(s, "low", j->tp, 2);
}

/* One task needing both cores at priority 100. */
static uint64_t submit_high(h_sched_t *s)
{
    static Cairn__ResourceRequest rr;
    static Cairn__TaskSpec t, *tp[1];
    static char *argv[1];
    cairn__resource_request__init(&rr);
    rr.cpus = 2;
    t = h_shell_task("eval", "true", argv, &rr);
    t.priority = 100;
    tp[0] = &t;
    return h_submit_tasks(s, "high", tp, 1);
}

static Cairn__AssignTask *recv_assign(h_worker_t *w)
{
    Cairn__AssignTask *a = (Cairn__AssignTask *)h_recv(w, CAIRN_MSG_ASSIGN_TASK, 10000);
    cr_assert_not_null(a, "no assignment");
    return a;
}

/* A one-file checkpoint listing "ckpt" of the given content's hash. */
typedef struct listing {
    Cairn__OutputHash h, *hp[1];
    char sha[65];
} listing_t;

static void listing_init(listing_t *l, const char *content)
{
    uint8_t d[CAIRN_SHA256_LEN];
    cairn_sha256(content, strlen(content), d);
    cairn_sha256_to_hex(d, l->sha);
    cairn__output_hash__init(&l->h);
    l->h.path = "ckpt";
    l->h.sha256 = l->sha;
    l->h.size = strlen(content);
    l->h.mtime_ms = 1234;
    l->hp[0] = &l->h;
}

/* checkpoint.h's digest of that listing, computed here on its own. */
static void listing_digest(const listing_t *l, char out[65])
{
    char line[200];
    snprintf(line, sizeof(line), "ckpt\t%llu\t%s\n", (unsigned long long)l->h.size, l->sha);
    uint8_t d[CAIRN_SHA256_LEN];
    cairn_sha256(line, strlen(line), d);
    cairn_sha256_to_hex(d, out);
}

static void send_event(h_worker_t *w, uint64_t attempt, Cairn__TaskEvent__Kind kind,
                       const listing_t *l)
{
    Cairn__TaskEvent te = CAIRN__TASK_EVENT__INIT;
    te.attempt_id = attempt;
    te.kind = kind;
    te.start_time_ms = cairn_wall_ms();
    te.end_time_ms = kind == CAIRN__TASK_EVENT__KIND__STARTED ? 0 : te.start_time_ms + 1;
    if (l) {
        te.n_checkpoint = 1;
        te.checkpoint = (Cairn__OutputHash **)l->hp;
    }
    h_event_send(w, &te);
}

static char *explain(h_sched_t *s, uint64_t job, const char *task)
{
    Cairn__ExplainRequest req = CAIRN__EXPLAIN_REQUEST__INIT;
    req.job_id = job;
    req.task = (char *)task;
    cairn_error_t err = {{0}};
    Cairn__ExplainReply *rep = (Cairn__ExplainReply *)h_call(s, CAIRN_MSG_EXPLAIN, &req.base,
                                                             CAIRN_MSG_EXPLAIN_REPLY, &err);
    cr_assert_not_null(rep, "explain: %s", err.text);
    char *text = strdup(rep->text);
    cairn_msg_free(&rep->base);
    return text;
}

/* Wait (with a deadline) until job's first task's pending detail, as
 * status gives it, holds needle: the pass that saw it has run (a submit
 * may be answered before that pass). */
static void wait_detail(h_sched_t *s, uint64_t job, const char *needle)
{
    char last[512] = "";
    for (int64_t until = cairn_mono_ms() + 10000; cairn_mono_ms() < until;) {
        Cairn__JobStatusReply *st = h_status(s, job);
        snprintf(last, sizeof(last), "%s", st->tasks[0]->pending_detail);
        cairn_msg_free(&st->base);
        if (strstr(last, needle))
            return;
        nng_msleep(10); /* polling a condition with a deadline */
    }
    cr_assert_fail("job %llu never said '%s' (last: %s)", (unsigned long long)job, needle, last);
}

Test(scheduler_preempt, victims_get_their_signal_and_resume_from_their_checkpoint, .timeout = 60)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, no_args);
    h_worker_t w;
    h_worker_open(&w, s.workers, "n1", 2, 0);
    h_register_ok(&w);
    low_job_t lj;
    uint64_t low = submit_low(&s, &lj, 5000);
    Cairn__AssignTask *first[2];
    uint64_t seed[2];
    /* both first: waiting for an Ack drops what else comes (h_recv) */
    for (int i = 0; i < 2; i++)
        first[i] = recv_assign(&w);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(first[i]->job_id, low);
        cr_expect_eq(first[i]->checkpoint_signal, USR1);
        /* .cairn-checkpoints/<the journal's identity, 16 hex>/job-J/I-NAME */
        char want[64];
        snprintf(want, sizeof(want), "/job-%llu/%d-%s", (unsigned long long)low,
                 strcmp(first[i]->task_name, "a") ? 1 : 0, first[i]->task_name);
        const char *dir = first[i]->checkpoint_dir;
        cr_expect(strlen(dir) == strlen(".cairn-checkpoints/") + 16 + strlen(want) &&
                      !strncmp(dir, ".cairn-checkpoints/", 19) &&
                      strspn(dir + 19, "0123456789abcdef") == 16 && !strcmp(dir + 35, want),
                  "default checkpoint dir %s", dir);
        seed[i] = first[i]->seed;
        send_event(&w, first[i]->attempt_id, CAIRN__TASK_EVENT__KIND__STARTED, NULL);
    }
    uint64_t high = submit_high(&s);
    /* both victims are told to stop: USR1, then 5 s to checkpoint */
    for (int i = 0; i < 2; i++) {
        Cairn__CancelTask *c = (Cairn__CancelTask *)h_recv(&w, CAIRN_MSG_CANCEL_TASK, 10000);
        cr_assert_not_null(c, "victim %d not cancelled", i);
        cr_expect_eq(c->reason, CAIRN__CANCEL_TASK__REASON__PREEMPTED);
        cr_expect_eq(c->signal, USR1);
        cr_expect_eq(c->grace_ms, 5000);
        cr_expect(c->attempt_id == first[0]->attempt_id || c->attempt_id == first[1]->attempt_id);
        cairn_msg_free(&c->base);
    }
    Cairn__JobStatusReply *st = h_status(&s, low);
    for (size_t i = 0; i < st->n_tasks; i++) {
        Cairn__Preemption *p = st->tasks[i]->attempts[0]->preempted;
        cr_assert_not_null(p, "task %s: no preemption in its status", st->tasks[i]->name);
        cr_expect_eq(p->by_job, high);
        cr_expect_str_eq(p->by_task, "eval");
        cr_expect_str_eq(p->reason, "priority 100 > 0");
        cr_expect_gt(p->grace_end_ms, p->time_ms);
    }
    cairn_msg_free(&st->base);
    Cairn__JobStatusReply *hs = h_status(&s, high);
    cr_expect_eq(hs->tasks[0]->pending_reason, CAIRN__PENDING_REASON__PENDING_REASON_PREEMPTING,
                 "%s", hs->tasks[0]->pending_detail);
    cr_expect(strstr(hs->tasks[0]->pending_detail, "waiting for 2 preempted attempts on n1") !=
                  NULL,
              "%s", hs->tasks[0]->pending_detail);
    cairn_msg_free(&hs->base);
    char *why = explain(&s, low, "a");
    cr_expect(strstr(why, "preempted by job 2 task eval (priority 100 > 0)") != NULL, "%s", why);
    free(why);
    /* they checkpoint and exit 0: preempted all the same */
    listing_t ck[2];
    listing_init(&ck[0], "state of a");
    listing_init(&ck[1], "state of b");
    for (int i = 0; i < 2; i++)
        send_event(&w, first[i]->attempt_id, CAIRN__TASK_EVENT__KIND__EXITED,
                   &ck[strcmp(first[i]->task_name, "a") ? 1 : 0]);
    Cairn__AssignTask *h = recv_assign(&w);
    cr_assert_eq(h->job_id, high, "the preemptor is placed on the freed cores");
    send_event(&w, h->attempt_id, CAIRN__TASK_EVENT__KIND__STARTED, NULL);
    send_event(&w, h->attempt_id, CAIRN__TASK_EVENT__KIND__EXITED, NULL);
    cairn_msg_free(&h->base);
    /* requeued without a retry (max_attempts 1), same seed and directory */
    Cairn__AssignTask *again[2] = {recv_assign(&w), recv_assign(&w)};
    for (int i = 0; i < 2; i++) {
        Cairn__AssignTask *a = again[i];
        cr_assert_eq(a->job_id, low);
        int k = strcmp(a->task_name, first[0]->task_name) ? 1 : 0;
        cr_expect_eq(a->attempt_number, 2);
        cr_expect_eq(a->seed, seed[k]);
        cr_expect_str_eq(a->checkpoint_dir, first[k]->checkpoint_dir);
        const listing_t *l = &ck[strcmp(a->task_name, "a") ? 1 : 0];
        send_event(&w, a->attempt_id, CAIRN__TASK_EVENT__KIND__STARTED, l);
        send_event(&w, a->attempt_id, CAIRN__TASK_EVENT__KIND__EXITED, l);
        cairn_msg_free(&a->base);
    }
    st = h_status(&s, low);
    cr_expect_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED);
    for (size_t i = 0; i < st->n_tasks; i++) {
        cr_assert_eq(st->tasks[i]->n_attempts, 2);
        cr_expect_eq(st->tasks[i]->attempts[0]->end_reason,
                     CAIRN__END_REASON__END_REASON_PREEMPTED);
        cr_expect_eq(st->tasks[i]->attempts[1]->end_reason,
                     CAIRN__END_REASON__END_REASON_SUCCEEDED);
    }
    cairn_msg_free(&st->base);
    /* provenance: what each resumed from, and by whom it was stopped */
    Cairn__ProvenanceRequest pr = CAIRN__PROVENANCE_REQUEST__INIT;
    pr.job_id = low;
    cairn_error_t err = {{0}};
    Cairn__ProvenanceReply *prov = (Cairn__ProvenanceReply *)h_call(
        &s, CAIRN_MSG_PROVENANCE, &pr.base, CAIRN_MSG_PROVENANCE_REPLY, &err);
    cr_assert_not_null(prov, "provenance: %s", err.text);
    for (size_t t = 0; t < prov->job->n_tasks; t++) {
        const Cairn__TaskProvenance *tp = prov->job->tasks[t];
        cr_assert_eq(tp->n_attempts, 2);
        char digest[65];
        listing_digest(&ck[strcmp(tp->name, "a") ? 1 : 0], digest);
        const Cairn__AttemptProvenance *a1 = tp->attempts[0], *a2 = tp->attempts[1];
        cr_expect_str_eq(a1->end, "preempted");
        cr_assert_not_null(a1->preempted);
        cr_expect_eq(a1->preempted->by_job, high);
        cr_expect_str_eq(a1->checkpoint_start_digest, "");
        cr_expect_str_eq(a1->checkpoint_end_digest, digest);
        cr_expect_eq(a1->resumed_from_attempt, 0, "the first started fresh");
        cr_expect_str_eq(a2->checkpoint_start_digest, digest);
        cr_expect_eq(a2->resumed_from_attempt, 1);
        cr_expect_null(a2->preempted);
        cr_expect_neq(a1->checkpoint_dir[0], '\0');
        cr_expect_str_eq(a2->checkpoint_dir, a1->checkpoint_dir);
        cr_assert_eq(a2->n_checkpoint_start, 1);
        cr_expect_str_eq(a2->checkpoint_start[0]->sha256, ck[strcmp(tp->name, "a") ? 1 : 0].sha);
    }
    cairn_msg_free(&prov->base);
    for (int i = 0; i < 2; i++)
        cairn_msg_free(&first[i]->base);
    h_worker_close(&w);
    h_sched_stop(&s, SIGTERM);
    h_verify_journal(&s);
    h_sched_fini(&s);
}

/* --max-preemptions-per-task 1: a task preempted once is not preempted
 * again; --max-checkpoint-grace caps the grace a spec asks for. */
Test(scheduler_preempt, limits_are_respected, .timeout = 60)
{
    h_sched_t s;
    h_sched_init(&s);
    const char *args[] = {"--max-preemptions-per-task", "1", "--max-checkpoint-grace", "2s", NULL};
    h_sched_start(&s, args);
    h_worker_t w;
    h_worker_open(&w, s.workers, "n1", 2, 0);
    h_register_ok(&w);
    low_job_t lj;
    uint64_t low = submit_low(&s, &lj, 3600000);
    uint64_t att[2];
    Cairn__AssignTask *as[2] = {recv_assign(&w), recv_assign(&w)};
    for (int i = 0; i < 2; i++) {
        att[i] = as[i]->attempt_id;
        send_event(&w, att[i], CAIRN__TASK_EVENT__KIND__STARTED, NULL);
        cairn_msg_free(&as[i]->base);
    }
    submit_high(&s);
    for (int i = 0; i < 2; i++) {
        Cairn__CancelTask *c = (Cairn__CancelTask *)h_recv(&w, CAIRN_MSG_CANCEL_TASK, 10000);
        cr_assert_not_null(c);
        cr_expect_eq(c->grace_ms, 2000, "the grace is capped at 2 s");
        cairn_msg_free(&c->base);
    }
    for (int i = 0; i < 2; i++)
        send_event(&w, att[i], CAIRN__TASK_EVENT__KIND__EXITED, NULL);
    Cairn__AssignTask *h = recv_assign(&w);
    send_event(&w, h->attempt_id, CAIRN__TASK_EVENT__KIND__STARTED, NULL);
    send_event(&w, h->attempt_id, CAIRN__TASK_EVENT__KIND__EXITED, NULL);
    cairn_msg_free(&h->base);
    Cairn__AssignTask *bs[2] = {recv_assign(&w), recv_assign(&w)};
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(bs[i]->job_id, low);
        send_event(&w, bs[i]->attempt_id, CAIRN__TASK_EVENT__KIND__STARTED, NULL);
        cairn_msg_free(&bs[i]->base);
    }
    /* preempted once already: the next high job waits for the cores */
    uint64_t high2 = submit_high(&s);
    wait_detail(&s, high2, "waiting for resources");
    Cairn__JobStatusReply *hs = h_status(&s, high2);
    cr_expect_neq(hs->tasks[0]->pending_reason, CAIRN__PENDING_REASON__PENDING_REASON_PREEMPTING);
    cairn_msg_free(&hs->base);
    Cairn__JobStatusReply *st = h_status(&s, low);
    for (size_t i = 0; i < st->n_tasks; i++) {
        cr_assert_eq(st->tasks[i]->n_attempts, 2);
        cr_expect_null(st->tasks[i]->attempts[1]->preempted, "task %s preempted twice",
                       st->tasks[i]->name);
    }
    cairn_msg_free(&st->base);
    h_worker_close(&w);
    h_sched_stop(&s, SIGTERM);
    /* replayed with the same settings: the same preemptions */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "'%s/cairn-scheduler' --verify-journal --state-dir '%s'%s "
             "--max-preemptions-per-task 1 --max-checkpoint-grace 2s >/dev/null 2>&1",
             CAIRN_BIN_DIR, s.dir, h_store_arg(&s));
    cr_expect_eq(system(cmd), 0, "the journal does not replay identically");
    h_sched_fini(&s);
}

/* A task queued on the node behind a victim (prefetch) is ended by the
 * preemption before it ran; when the worker starts it anyway (the one
 * ahead of it ended), the scheduler stops it as stale. */
Test(scheduler_preempt, a_task_queued_behind_a_victim_is_stopped_if_it_starts, .timeout = 60)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, no_args);
    h_worker_t w;
    h_worker_open(&w, s.workers, "n1", 2, 0);
    h_register_ok(&w);
    Cairn__ResourceRequest rr = CAIRN__RESOURCE_REQUEST__INIT;
    rr.cpus = 2;
    Cairn__TaskSpec ts[2], *tp[2];
    char *argv[2][1];
    static const char *names[] = {"a", "c"};
    for (int i = 0; i < 2; i++) {
        ts[i] = h_shell_task(names[i], "sleep 100", argv[i], &rr);
        ts[i].preemptible = 1;
        tp[i] = &ts[i];
    }
    uint64_t low = h_submit_tasks(&s, "low", tp, 2);
    Cairn__AssignTask *a = recv_assign(&w), *c = recv_assign(&w);
    if (a->after_attempt_id) { /* c is the one queued behind the other */
        Cairn__AssignTask *x = a;
        a = c;
        c = x;
    }
    cr_assert_eq(c->after_attempt_id, a->attempt_id, "the second is queued behind the first");
    send_event(&w, a->attempt_id, CAIRN__TASK_EVENT__KIND__STARTED, NULL);
    /* one core at priority 100: a is preempted, c (queued behind it) ends */
    static Cairn__ResourceRequest one;
    cairn__resource_request__init(&one);
    one.cpus = 1;
    static char *hargv[1];
    Cairn__TaskSpec h = h_shell_task("eval", "true", hargv, &one), *hp[1] = {&h};
    h.priority = 100;
    uint64_t high = h_submit_tasks(&s, "high", hp, 1);
    Cairn__CancelTask *k = (Cairn__CancelTask *)h_recv(&w, CAIRN_MSG_CANCEL_TASK, 10000);
    cr_assert_not_null(k);
    cr_expect_eq(k->attempt_id, a->attempt_id);
    cr_expect_eq(k->reason, CAIRN__CANCEL_TASK__REASON__PREEMPTED);
    cairn_msg_free(&k->base);
    send_event(&w, a->attempt_id, CAIRN__TASK_EVENT__KIND__EXITED, NULL);
    Cairn__AssignTask *e = recv_assign(&w);
    cr_expect_eq(e->job_id, high);
    /* the worker starts c, the next in its line (its Ack is not waited
     * for: h_recv would drop the cancel that may come first) */
    Cairn__TaskEvent te = CAIRN__TASK_EVENT__INIT;
    te.attempt_id = c->attempt_id;
    te.kind = CAIRN__TASK_EVENT__KIND__STARTED;
    te.start_time_ms = cairn_wall_ms();
    te.seq = ++w.seq;
    te.node_name = w.name;
    h_send(&w, CAIRN_MSG_TASK_EVENT, &te.base);
    k = (Cairn__CancelTask *)h_recv(&w, CAIRN_MSG_CANCEL_TASK, 10000);
    cr_assert_not_null(k, "the stale start of c was not stopped");
    cr_expect_eq(k->attempt_id, c->attempt_id);
    cr_expect_eq(k->reason, CAIRN__CANCEL_TASK__REASON__STALE);
    cairn_msg_free(&k->base);
    Cairn__JobStatusReply *st = h_status(&s, low);
    const Cairn__TaskStatus *tc = strcmp(st->tasks[0]->name, "c") ? st->tasks[1] : st->tasks[0];
    cr_assert_geq(tc->n_attempts, 1);
    cr_expect_eq(tc->attempts[0]->end_reason, CAIRN__END_REASON__END_REASON_PREEMPTED);
    cr_assert_not_null(tc->attempts[0]->preempted, "c's first attempt names its preemption");
    cr_expect_eq(tc->attempts[0]->preempted->by_job, high);
    cr_expect_str_eq(tc->attempts[0]->preempted->reason, "priority 100 > 0");
    cairn_msg_free(&st->base);
    cairn_msg_free(&a->base);
    cairn_msg_free(&c->base);
    cairn_msg_free(&e->base);
    h_worker_close(&w);
    h_sched_stop(&s, SIGTERM);
    h_verify_journal(&s);
    h_sched_fini(&s);
}

/* A victim whose node is away when it is preempted is told when the node
 * registers again, still running it. */
Test(scheduler_preempt, a_victim_away_is_told_when_its_node_returns, .timeout = 60)
{
    h_sched_t s;
    h_sched_init(&s);
    const char *args[] = {"--heartbeat-timeout", "60s", NULL};
    h_sched_start(&s, args);
    h_worker_t w;
    h_worker_open(&w, s.workers, "n1", 2, 0);
    h_register_ok(&w);
    Cairn__ResourceRequest rr = CAIRN__RESOURCE_REQUEST__INIT;
    rr.cpus = 2;
    Cairn__Checkpoint ck = CAIRN__CHECKPOINT__INIT;
    ck.signal = USR1;
    char *argv[1];
    Cairn__TaskSpec v = h_shell_task("v", "sleep 100", argv, &rr), *vp[1] = {&v};
    v.preemptible = 1;
    v.checkpoint = &ck;
    h_submit_tasks(&s, "low", vp, 1);
    Cairn__AssignTask *a = recv_assign(&w);
    uint64_t victim = a->attempt_id;
    cairn_msg_free(&a->base);
    send_event(&w, victim, CAIRN__TASK_EVENT__KIND__STARTED, NULL);
    h_worker_close(&w); /* away: what is sent now is lost */
    static Cairn__ResourceRequest one;
    cairn__resource_request__init(&one);
    one.cpus = 1;
    static char *hargv[1];
    Cairn__TaskSpec h = h_shell_task("eval", "true", hargv, &one), *hp[1] = {&h};
    h.priority = 100;
    uint64_t high = h_submit_tasks(&s, "high", hp, 1);
    wait_detail(&s, high, "waiting for 1 preempted attempt on n1");
    Cairn__JobStatusReply *st = h_status(&s, high);
    cr_expect_eq(st->tasks[0]->pending_reason, CAIRN__PENDING_REASON__PENDING_REASON_PREEMPTING,
                 "%s", st->tasks[0]->pending_detail);
    cairn_msg_free(&st->base);
    h_worker_reconnect(&w, s.workers);
    Cairn__RegisterReply *rep = NULL;
    for (int tries = 0; tries < 50; tries++) { /* until the old connection is gone */
        rep = h_register(&w, &victim, 1);
        if (rep && rep->accepted)
            break;
        if (rep)
            cairn_msg_free(&rep->base);
        rep = NULL;
        nng_msleep(100); /* the worker's backoff */
    }
    cr_assert_not_null(rep, "not registered again");
    cr_expect_eq(rep->n_stale_attempt_ids, 0, "the victim is adopted");
    cairn_msg_free(&rep->base);
    Cairn__CancelTask *k = (Cairn__CancelTask *)h_recv(&w, CAIRN_MSG_CANCEL_TASK, 10000);
    cr_assert_not_null(k, "the victim was not told when its node returned");
    cr_expect_eq(k->attempt_id, victim);
    cr_expect_eq(k->reason, CAIRN__CANCEL_TASK__REASON__PREEMPTED);
    cr_expect_eq(k->signal, USR1);
    cairn_msg_free(&k->base);
    h_worker_close(&w);
    h_sched_stop(&s, SIGTERM);
    h_sched_fini(&s);
}

/* A victim whose assignment never reached its node (away, and not listed
 * when it registers again) is not assigned then: it ends preempted and the
 * preemptor takes its place. */
Test(scheduler_preempt, a_victim_that_never_reached_its_node_is_not_assigned, .timeout = 60)
{
    h_sched_t s;
    h_sched_init(&s);
    const char *args[] = {"--heartbeat-timeout", "60s", NULL};
    h_sched_start(&s, args);
    h_worker_t w;
    h_worker_open(&w, s.workers, "n1", 2, 0);
    h_register_ok(&w);
    Cairn__ResourceRequest rr = CAIRN__RESOURCE_REQUEST__INIT;
    rr.cpus = 2;
    char *argv[1];
    Cairn__TaskSpec v = h_shell_task("v", "sleep 100", argv, &rr), *vp[1] = {&v};
    v.preemptible = 1;
    uint64_t low = h_submit_tasks(&s, "low", vp, 1);
    Cairn__AssignTask *a = recv_assign(&w);
    cairn_msg_free(&a->base);
    h_worker_close(&w); /* the worker went before it took the assignment */
    static Cairn__ResourceRequest one;
    cairn__resource_request__init(&one);
    one.cpus = 1;
    static char *hargv[1];
    Cairn__TaskSpec h = h_shell_task("eval", "true", hargv, &one), *hp[1] = {&h};
    h.priority = 100;
    uint64_t high = h_submit_tasks(&s, "high", hp, 1);
    h_worker_reconnect(&w, s.workers);
    h_register_ok(&w);
    Cairn__AssignTask *e = recv_assign(&w);
    cr_expect_eq(e->job_id, high, "job %llu assigned, not the preemptor",
                 (unsigned long long)e->job_id);
    cairn_msg_free(&e->base);
    Cairn__JobStatusReply *st = h_status(&s, low);
    cr_expect_eq(st->tasks[0]->attempts[0]->end_reason, CAIRN__END_REASON__END_REASON_PREEMPTED);
    cairn_msg_free(&st->base);
    h_worker_close(&w);
    h_sched_stop(&s, SIGTERM);
    h_verify_journal(&s);
    h_sched_fini(&s);
}

/* A gang is preempted whole: each replica is told, the first to exit ends
 * the attempt preempted, and the gang runs again whole. */
Test(scheduler_preempt, a_gang_goes_whole, .timeout = 60)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, no_args);
    h_worker_t w[2];
    h_worker_open(&w[0], s.workers, "n1", 1, 0);
    h_register_ok(&w[0]);
    h_worker_open(&w[1], s.workers, "n2", 1, 0);
    h_register_ok(&w[1]);
    Cairn__ResourceRequest rr = CAIRN__RESOURCE_REQUEST__INIT;
    rr.cpus = 1;
    char *argv[1];
    Cairn__TaskSpec g = h_shell_task("ddp", "sleep 100", argv, &rr), *gp[1] = {&g};
    g.preemptible = 1;
    g.replicas = 2;
    uint64_t low = h_submit_tasks(&s, "gang", gp, 1);
    uint64_t gang = 0;
    uint32_t rank[2];
    for (int i = 0; i < 2; i++) {
        Cairn__AssignTask *r = recv_assign(&w[i]);
        cr_assert(!gang || r->attempt_id == gang, "one attempt, a replica on each node");
        gang = r->attempt_id;
        rank[i] = r->rank;
        cairn_msg_free(&r->base);
        Cairn__TaskEvent te = CAIRN__TASK_EVENT__INIT;
        te.attempt_id = gang;
        te.rank = rank[i];
        te.kind = CAIRN__TASK_EVENT__KIND__STARTED;
        te.start_time_ms = cairn_wall_ms();
        h_event_send(&w[i], &te);
    }
    static char *hargv[1];
    Cairn__TaskSpec h = h_shell_task("eval", "true", hargv, &rr), *hp[1] = {&h};
    h.priority = 100;
    uint64_t high = h_submit_tasks(&s, "high", hp, 1);
    for (int i = 0; i < 2; i++) {
        Cairn__CancelTask *k = (Cairn__CancelTask *)h_recv(&w[i], CAIRN_MSG_CANCEL_TASK, 10000);
        cr_assert_not_null(k, "the replica on n%d not told", i + 1);
        cr_expect_eq(k->attempt_id, gang);
        cr_expect_eq(k->reason, CAIRN__CANCEL_TASK__REASON__PREEMPTED);
        cairn_msg_free(&k->base);
    }
    /* each exits 0 in its grace: preempted all the same */
    for (int i = 0; i < 2; i++) {
        Cairn__TaskEvent te = CAIRN__TASK_EVENT__INIT;
        te.attempt_id = gang;
        te.rank = rank[i];
        te.kind = CAIRN__TASK_EVENT__KIND__EXITED;
        te.end_time_ms = cairn_wall_ms();
        h_event_send(&w[i], &te);
    }
    /* where the preemptor is placed (the pass may come after the Ack) */
    int on = -1;
    for (int64_t until = cairn_mono_ms() + 10000; on < 0 && cairn_mono_ms() < until;) {
        Cairn__JobStatusReply *hs = h_status(&s, high);
        if (hs->tasks[0]->n_attempts == 1)
            on = strcmp(hs->tasks[0]->attempts[0]->node, "n1") ? 1 : 0;
        cairn_msg_free(&hs->base);
        if (on < 0)
            nng_msleep(10); /* polling a condition with a deadline */
    }
    cr_assert_geq(on, 0, "the preemptor was not placed");
    Cairn__AssignTask *e = recv_assign(&w[on]);
    cr_expect_eq(e->job_id, high);
    send_event(&w[on], e->attempt_id, CAIRN__TASK_EVENT__KIND__STARTED, NULL);
    send_event(&w[on], e->attempt_id, CAIRN__TASK_EVENT__KIND__EXITED, NULL);
    cairn_msg_free(&e->base);
    for (int i = 0; i < 2; i++) {
        Cairn__AssignTask *a = recv_assign(&w[i]);
        cr_expect_eq(a->job_id, low);
        cr_expect_eq(a->attempt_number, 2, "the whole gang runs again");
        cr_expect_eq(a->world_size, 2);
        cairn_msg_free(&a->base);
    }
    Cairn__JobStatusReply *st = h_status(&s, low);
    cr_expect_eq(st->tasks[0]->attempts[0]->end_reason, CAIRN__END_REASON__END_REASON_PREEMPTED);
    cairn_msg_free(&st->base);
    for (int i = 0; i < 2; i++)
        h_worker_close(&w[i]);
    h_sched_stop(&s, SIGTERM);
    h_verify_journal(&s);
    h_sched_fini(&s);
}
