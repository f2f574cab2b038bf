/* Usage and accounting kept by a real cairn-scheduler: a fake worker's
 * resource reports (node, GPUs, running attempts) come back as samples; the
 * census is taken; an attempt run through the worker protocol has an
 * accounting record with its times, shape and allocated GPU-seconds, and
 * the GPU-seconds it used from the utilisation samples. */
#include "common/clock.h"
#include "leak_check.h"
#include "sched_harness.h"

static Cairn__UsageReply *usage(h_sched_t *s)
{
    Cairn__UsageRequest req = CAIRN__USAGE_REQUEST__INIT;
    cairn_error_t err = {{0}};
    Cairn__UsageReply *rep =
        (Cairn__UsageReply *)h_call(s, CAIRN_MSG_USAGE, &req.base, CAIRN_MSG_USAGE_REPLY, &err);
    cr_assert_not_null(rep, "%s", err.text);
    return rep;
}

static void report(h_worker_t *w, int64_t t, uint64_t attempt, uint32_t util)
{
    Cairn__ResourceReport r = CAIRN__RESOURCE_REPORT__INIT;
    Cairn__GpuUsage g = CAIRN__GPU_USAGE__INIT, *gp = &g;
    Cairn__TaskUsage tu = CAIRN__TASK_USAGE__INIT, *tp = &tu;
    r.node_name = w->name;
    r.time_ms = t;
    r.load_avg_1_milli = 1500;
    r.memory_used_bytes = 1u << 30;
    r.memory_total_bytes = 4u << 30;
    g.index = 0;
    g.utilization_percent = util;
    g.memory_used_bytes = 1000;
    r.n_gpus = 1;
    r.gpus = &gp;
    tu.attempt_id = attempt;
    tu.cpu_time_usec = 7000;
    tu.rss_bytes = 5000;
    tu.peak_rss_bytes = 6000;
    r.n_tasks = attempt ? 1 : 0;
    r.tasks = &tp;
    h_send(w, CAIRN_MSG_RESOURCE_REPORT, &r.base);
}

Test(usage, samples_census_and_accounting)
{
    static const char *const args[] = {"--sample-interval", "50ms", NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, args);
    h_worker_t w;
    h_worker_open(&w, s.workers, "g1", 8, 2);
    Cairn__RegisterReply *rr = h_register(&w, NULL, 0);
    cr_assert(rr && rr->accepted);
    cairn_msg_free(&rr->base);
    Cairn__ResourceRequest req = CAIRN__RESOURCE_REQUEST__INIT;
    req.cpus = 2;
    req.gpus = 1;
    char *a1[1];
    Cairn__TaskSpec t = h_shell_task("train", "true", a1, &req);
    Cairn__TaskSpec *tp[] = {&t};
    uint64_t job = h_submit_tasks(&s, "acct", tp, 1);
    Cairn__AssignTask *as =
        (Cairn__AssignTask *)h_recv_beating(&w, CAIRN_MSG_ASSIGN_TASK, 10000, 200);
    cr_assert_not_null(as);
    uint64_t attempt = as->attempt_id;
    cairn_msg_free(&as->base);
    /* started at t0 (wall clock: the scheduler drops samples past its
     * retention; after its placement, as the core takes no event earlier
     * than one it applied), two reports 1 s apart at 50% and 100%, ended
     * at t0+2s */
    int64_t t0 = cairn_wall_ms() + 1;
    Cairn__TaskEvent te = CAIRN__TASK_EVENT__INIT;
    te.attempt_id = attempt;
    te.kind = CAIRN__TASK_EVENT__KIND__STARTED;
    te.seq = ++w.seq;
    te.start_time_ms = t0;
    te.node_name = w.name;
    h_send(&w, CAIRN_MSG_TASK_EVENT, &te.base);
    cairn_msg_free(h_recv(&w, CAIRN_MSG_ACK, 10000));
    report(&w, t0 + 1000, attempt, 50);
    report(&w, t0 + 2000, attempt, 100);
    te.kind = CAIRN__TASK_EVENT__KIND__EXITED;
    te.seq = ++w.seq;
    te.end_time_ms = t0 + 2000;
    te.cpu_time_usec = 1500000;
    h_send(&w, CAIRN_MSG_TASK_EVENT, &te.base);
    cairn_msg_free(h_recv(&w, CAIRN_MSG_ACK, 10000));

    /* the samples come back (reports are written at the latest by a query) */
    int64_t deadline = cairn_mono_ms() + 10000;
    Cairn__UsageReply *u = NULL;
    for (;;) {
        u = usage(&s);
        bool totals = false; /* a census since the node came up */
        for (size_t i = 0; i < u->n_census; i++)
            totals |= !u->census[i]->shape[0] && u->census[i]->gpus_total == 2;
        if (u->n_nodes >= 2 && u->n_gpus >= 2 && u->n_tasks >= 2 && totals)
            break;
        cairn_msg_free(&u->base);
        cr_assert_lt(cairn_mono_ms(), deadline, "usage samples never came back");
    }
    cr_expect_str_eq(u->nodes[0]->node, "g1");
    cr_expect_eq(u->nodes[0]->load_milli, 1500);
    cr_expect_eq(u->nodes[1]->time_ms, t0 + 2000);
    cr_expect_eq(u->nodes[1]->span_ms, 1000, "since the report before");
    cr_expect_eq(u->gpus[1]->utilization_percent, 100);
    cr_expect_eq(u->tasks[0]->attempt_id, attempt);
    cr_expect_eq(u->tasks[0]->peak_rss_bytes, 6000);
    cairn_msg_free(&u->base);

    Cairn__AccountingRequest aq = CAIRN__ACCOUNTING_REQUEST__INIT;
    cairn_error_t err = {{0}};
    Cairn__AccountingReply *ar = (Cairn__AccountingReply *)h_call(
        &s, CAIRN_MSG_ACCOUNTING, &aq.base, CAIRN_MSG_ACCOUNTING_REPLY, &err);
    cr_assert_not_null(ar, "%s", err.text);
    cr_assert_eq(ar->n_records, 1);
    const Cairn__AccountingRecord *r = ar->records[0];
    cr_expect_eq(r->job_id, job);
    cr_expect_str_eq(r->task, "train");
    cr_expect_str_eq(r->node, "g1");
    cr_expect_str_eq(r->shape, "2c 1g");
    cr_expect_eq(r->start_time_ms, t0);
    cr_expect_eq(r->end_time_ms, t0 + 2000);
    cr_expect_eq(r->ready_time_ms, r->submit_time_ms, "no needs: ready at submit");
    cr_expect_leq(r->ready_time_ms, r->placed_time_ms);
    cr_expect_eq(r->n_cores, 2);
    cr_expect_eq(r->n_gpu_ids, 1);
    cr_expect_float_eq(r->gpu_seconds, 2.0, 1e-9);
    cr_expect_float_eq(r->core_seconds, 4.0, 1e-9);
    cr_expect_float_eq(r->cpu_seconds_used, 1.5, 1e-9);
    /* GPU 0's samples: 50% over [t0, t0+1s) (the first report's span is
     * three heartbeats, clipped to the run) and 100% over [t0+1s, t0+2s) */
    cr_expect_float_eq(r->gpu_seconds_used, 1.5, 1e-9);
    cr_expect_str_eq(r->end, "succeeded");
    cairn_msg_free(&ar->base);
    h_worker_close(&w);
    h_sched_stop(&s, SIGTERM);
    h_sched_fini(&s);
}

/* All pages of the accounting, as cairn report fetches them. */
static size_t fetch_pages(h_sched_t *s, uint32_t limit, uint64_t *ids, uint32_t *ranks, bool *ended,
                          size_t max, int *pages)
{
    Cairn__AccountingRequest aq = CAIRN__ACCOUNTING_REQUEST__INIT;
    aq.limit = limit;
    size_t n = 0;
    *pages = 0;
    for (;;) {
        cairn_error_t err = {{0}};
        Cairn__AccountingReply *ar = (Cairn__AccountingReply *)h_call(
            s, CAIRN_MSG_ACCOUNTING, &aq.base, CAIRN_MSG_ACCOUNTING_REPLY, &err);
        cr_assert_not_null(ar, "%s", err.text);
        cr_assert_leq(ar->n_records, limit);
        (*pages)++;
        for (size_t i = 0; i < ar->n_records && n < max; i++, n++) {
            ids[n] = ar->records[i]->attempt_id;
            ranks[n] = ar->records[i]->rank;
            ended[n] = ar->records[i]->end_time_ms != 0;
        }
        bool more = ar->more;
        aq.after_attempt_id = ar->next_attempt_id;
        aq.after_rank = ar->next_rank;
        cairn_msg_free(&ar->base);
        if (!more)
            return n;
        cr_assert_lt(*pages, 100, "pages never end");
    }
}

/* Accounting comes in pages, in (attempt, rank) order: the records of
 * ended attempts from the history, those of running ones (a gang's each
 * replica) from the core, none twice or missing, before and after a
 * restart. */
Test(usage, accounting_pages_merge_history_and_running)
{
    static const char *const args[] = {"--heartbeat-timeout", "60s", NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, args);
    h_worker_t w[2];
    for (int i = 0; i < 2; i++) {
        h_worker_open(&w[i], s.workers, i ? "p2" : "p1", 4, 0);
        Cairn__RegisterReply *rr = h_register(&w[i], NULL, 0);
        cr_assert(rr && rr->accepted);
        cairn_msg_free(&rr->base);
    }
    /* three single tasks on p1 (two end, one runs) and a two-replica gang
     * across p1 and p2 */
    const char *tasks[] = {"a", "b", "c"};
    h_submit(&s, "singles", tasks, 3, 1, 0, NULL);
    uint64_t ids[16];
    for (int i = 0; i < 3; i++) {
        Cairn__AssignTask *a = (Cairn__AssignTask *)h_recv(&w[0], CAIRN_MSG_ASSIGN_TASK, 10000);
        cr_assert_not_null(a);
        ids[i] = a->attempt_id;
        cairn_msg_free(&a->base);
    }
    h_event(&w[0], ids[0], CAIRN__TASK_EVENT__KIND__STARTED, 0, 0);
    h_event(&w[0], ids[0], CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    h_event(&w[0], ids[2], CAIRN__TASK_EVENT__KIND__STARTED, 0, 0);
    h_event(&w[0], ids[2], CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    Cairn__TaskSpec g = CAIRN__TASK_SPEC__INIT, *gp[] = {&g};
    Cairn__ResourceRequest rr = CAIRN__RESOURCE_REQUEST__INIT;
    char *argv[] = {"true"};
    rr.cpus = 1;
    g.name = "gang", g.n_argv = 1, g.argv = argv, g.resources = &rr, g.replicas = 2;
    h_submit_tasks(&s, "gang", gp, 1);
    for (int i = 0; i < 2; i++) {
        Cairn__AssignTask *a = (Cairn__AssignTask *)h_recv(&w[i], CAIRN_MSG_ASSIGN_TASK, 10000);
        cr_assert_not_null(a);
        ids[3] = a->attempt_id;
        cairn_msg_free(&a->base);
    }
    for (int round = 0; round < 2; round++) {
        uint64_t got[32];
        uint32_t ranks[32];
        bool ended[32];
        int pages;
        size_t n = fetch_pages(&s, 2, got, ranks, ended, 32, &pages);
        /* a1, a3 ended; a2 and the gang's two replicas run */
        cr_assert_eq(n, 5, "round %d: %zu records", round, n);
        cr_expect_eq(pages, 3, "round %d: 5 records in pages of 2", round);
        uint64_t want[] = {ids[0], ids[1], ids[2], ids[3], ids[3]};
        uint32_t wrank[] = {0, 0, 0, 0, 1};
        bool wend[] = {true, false, true, false, false};
        for (size_t i = 0; i < 5; i++) {
            cr_expect_eq(got[i], want[i], "round %d record %zu", round, i);
            cr_expect_eq(ranks[i], wrank[i], "round %d record %zu", round, i);
            cr_expect_eq(ended[i], wend[i], "round %d record %zu", round, i);
        }
        if (round == 0) { /* the history is durable: the same after kill -9 */
            h_sched_stop(&s, SIGKILL);
            h_sched_start(&s, args);
        }
    }
    for (int i = 0; i < 2; i++)
        h_worker_close(&w[i]);
    h_sched_fini(&s);
}
