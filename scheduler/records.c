/* Accounting records: one per replica of each attempt, as the core knows
 * it (what was measured outside the core is added when read). Ended
 * attempts' records are written to the history (history.h) in the commit
 * that ends them; running ones are built when asked for. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/daemon_private.h"
#include "scheduler/view.h"

/* When the attempt could first have run: its job's submit and its needs'
 * ends for a first attempt; the previous attempt's end and backoff after. */
static int64_t ready_time(sched_daemon_t *d, const sched_attempt_info_t *ai,
                          const sched_task_info_t *ti, int64_t submitted)
{
    if (ai->prev) {
        sched_attempt_info_t pa;
        if (sched_attempt_get(d->core, ai->prev, &pa) == 0 && pa.ended_ms > 0) {
            int64_t b = ti->retry ? sched_retry_backoff(ti->retry, ai->number, ti->seed) : 0;
            return pa.ended_ms + (b > 0 ? b : 0);
        }
    }
    int64_t t = submitted;
    const uint32_t *deps = NULL;
    uint32_t nd = sched_task_deps(d->core, ai->job, ai->task, &deps);
    for (uint32_t i = 0; i < nd; i++) {
        sched_task_info_t di;
        sched_attempt_info_t da;
        if (sched_task_info(d->core, ai->job, deps[i], &di) == 0 && di.attempt &&
            sched_attempt_get(d->core, di.attempt, &da) == 0 && da.ended_ms > t)
            t = da.ended_ms;
    }
    return t;
}

/* Each replica's record of attempt id, with times up to now for a running
 * one; to put (history) or to pack (running). */
void records_of_attempt(sched_daemon_t *d, uint64_t id, int64_t now, records_f fn, void *arg)
{
    sched_attempt_info_t ai;
    sched_job_info_t ji;
    sched_task_info_t ti;
    sched_request_t req;
    if (sched_attempt_get(d->core, id, &ai) < 0 || sched_job_meta(d->core, ai.job, &ji) < 0 ||
        sched_task_info(d->core, ai.job, ai.task, &ti) < 0 ||
        sched_task_request(d->core, ai.job, ai.task, &req) < 0)
        return;
    const uint32_t *deps = NULL;
    uint32_t nd = sched_task_deps(d->core, ai.job, ai.task, &deps);
    const char *needs[nd ? nd : 1];
    for (uint32_t i = 0; i < nd; i++)
        needs[i] = sched_task_name(d->core, ai.job, deps[i]);
    int64_t ready = ready_time(d, &ai, &ti, ji.submitted_ms);
    char shape[160];
    acct_shape(req.cpus, req.gpus, req.gpu_model, ai.nreplicas, shape, sizeof(shape));
    const char *account = view_job_account(d, ai.job);
    for (uint32_t rank = 0; rank < ai.nreplicas; rank++) {
        const sched_alloc_desc_t *a = &ai.allocs[rank];
        Cairn__AccountingRecord m = CAIRN__ACCOUNTING_RECORD__INIT;
        m.job_id = ai.job;
        m.job_name = (char *)(ji.name ? ji.name : "");
        m.task = (char *)ti.name;
        m.kind = (char *)(ti.kind ? ti.kind : "");
        m.user = (char *)(ji.user ? ji.user : "");
        m.account = (char *)account;
        m.attempt_id = ai.id;
        m.number = ai.number;
        m.rank = rank;
        m.replicas = ai.nreplicas;
        m.n_needs = nd;
        m.needs = (char **)needs;
        m.priority = ti.priority;
        m.cpus = req.cpus;
        m.gpus = req.gpus;
        m.gpu_model = (char *)(req.gpu_model ? req.gpu_model : "");
        m.memory_bytes = req.memory_bytes;
        m.shape = shape;
        m.node = (char *)sched_node_name(d->core, a->node);
        m.n_cores = a->ncores;
        m.cores = (uint32_t *)a->cores;
        Cairn__GpuProvenance g[64], *gp[64];
        for (uint32_t i = 0; i < 64; i++) {
            if (!(a->gpu_mask >> i & 1))
                continue;
            sched_gpu_desc_t gd;
            Cairn__GpuProvenance *x = &g[m.n_gpu_ids];
            cairn__gpu_provenance__init(x);
            x->index = i;
            if (sched_node_gpu(d->core, a->node, i, &gd)) {
                x->uuid = (char *)(gd.uuid ? gd.uuid : "");
                x->model = (char *)(gd.model ? gd.model : "");
                x->pci_bus_id = (char *)(gd.pci_bus_id ? gd.pci_bus_id : "");
                x->vendor = (char *)(gd.vendor ? gd.vendor : "");
            }
            gp[m.n_gpu_ids++] = x;
        }
        m.gpu_ids = gp;
        int64_t start = ai.started_ms, end = ai.ended_ms ? ai.ended_ms : now;
        double secs = start > 0 && end > start ? (double)(end - start) / 1000.0 : 0;
        m.submit_time_ms = ji.submitted_ms;
        m.ready_time_ms = ready;
        m.placed_time_ms = ai.placed_ms;
        m.start_time_ms = ai.started_ms;
        m.end_time_ms = ai.ended_ms;
        m.end = (char *)view_end_word(&ai);
        m.end_class = (char *)view_end_class(&ai);
        m.exit_code = ai.exit_code;
        m.core_seconds = secs * a->ncores;
        m.gpu_seconds = secs * (double)m.n_gpu_ids;
        m.gpu_seconds_used = -1; /* filled when read */
        m.time_limit_ms = ti.time_limit_ms > 0 ? (uint64_t)ti.time_limit_ms : 0;
        fn(d, &m, arg);
    }
}

/* --- history: a record per replica of each attempt as it ends ------------ */

static void put_record(sched_daemon_t *d, const Cairn__AccountingRecord *m, void *arg)
{
    cairn_error_t *err = arg;
    if (!err->text[0])
        history_put(d->st->history, m, err);
}

void records_flush(sched_daemon_t *d)
{
    history_t *h = d->st->history;
    size_t n = sched_ended_count(d->core);
    cairn_error_t err = {{0}};
    while (history_cursor(h) < n && !err.text[0]) {
        uint64_t ids[256];
        size_t k = sched_ended_list(d->core, history_cursor(h), ids, 256);
        for (size_t i = 0; i < k; i++)
            records_of_attempt(d, ids[i], 0, put_record, &err);
        history_advance(h, k);
    }
    if (!err.text[0])
        history_mark_complete(h, &err);
    if (err.text[0]) {
        cairn_log(d->log, CAIRN_LOG_ERROR, "%s", err.text);
        batch_fail(d, err.text);
    }
}
