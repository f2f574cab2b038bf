/* Usage and accounting kept by a real cairn-scheduler: a fake worker's
 * resource reports (node, GPUs, running attempts) come back as samples; the
 * census is taken; an attempt run through the worker protocol has an
 * accounting record with its times, shape and allocated GPU-seconds, and
 * the GPU-seconds it used from the utilisation samples. */
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
     * retention), two reports 1 s apart at 50% and 100%, ended at t0+2s */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t t0 = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 - 10000;
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
    int64_t deadline = h_now_ms() + 10000;
    Cairn__UsageReply *u = NULL;
    for (;;) {
        u = usage(&s);
        bool totals = false; /* a census since the node came up */
        for (size_t i = 0; i < u->n_census; i++)
            totals |= !u->census[i]->shape[0] && u->census[i]->gpus_total == 2;
        if (u->n_nodes >= 2 && u->n_gpus >= 2 && u->n_tasks >= 2 && totals)
            break;
        cairn_msg_free(&u->base);
        cr_assert_lt(h_now_ms(), deadline, "usage samples never came back");
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
