/* Rendering of /metrics (Prometheus text format) and /status (JSON). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"
#include "proto/json.h"
#include "scheduler/daemon_private.h"

static void histogram(cairn_buf_t *b, const char *name, const char *help, const histogram_t *h)
{
    cairn_buf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i < METRICS_NBUCKETS; i++) {
        cum += h->buckets[i];
        cairn_buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, metrics_bounds[i],
                         (unsigned long long)cum);
    }
    cairn_buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
                     (unsigned long long)h->count, name, h->sum, name,
                     (unsigned long long)h->count);
}

void status_render(sched_daemon_t *d, char **prom, char **json)
{
    uint64_t tasks[8] = {0}, nodes[4] = {0}, gpus_total = 0, gpus_free = 0, cores_total = 0,
             cores_free = 0, queued = 0;
    uint32_t njobs = sched_job_count(d->core), jobs_done = 0, live = 0;
    /* retired jobs (retain.c) count by their tasks' final states */
    uint32_t retired = sched_retired_count(d->core, tasks);
    jobs_done += retired;
    for (uint32_t j = sched_job_first(d->core); j >= 1 && j <= njobs; j++) {
        sched_job_info_t ji;
        if (sched_job_info(d->core, j, &ji) < 0)
            continue;
        live++;
        for (int s = 0; s < 8; s++)
            tasks[s] += ji.count[s];
        /* queued on a node behind another (prefetch): placed, not running */
        tasks[SCHED_TASK_RUNNING] -= ji.queued;
        queued += ji.queued;
        jobs_done += ji.nended == ji.ntasks;
    }
    uint32_t nn = sched_node_count(d->core);
    for (uint32_t n = 0; n < nn; n++) {
        sched_node_usage_t u;
        if (sched_node_state(d->core, n) == SCHED_NODE_REMOVED)
            continue; /* forgotten: counted nowhere */
        sched_node_usage(d->core, n, &u);
        /* up, draining, down or returning: a node not back since a
         * restart is returning, not up */
        nodes[sched_node_state(d->core, n) % 4]++;
        gpus_total += u.ngpus;
        cores_total += u.ncores;
        if (sched_node_state(d->core, n) != SCHED_NODE_DOWN) {
            gpus_free += u.free_gpus;
            cores_free += u.free_cores;
        }
    }
    cairn_buf_t b = {0};
    cairn_buf_printf(
        &b, "# HELP cairn_tasks Tasks by state (queued: on a node behind a running attempt).\n"
            "# TYPE cairn_tasks gauge\n");
    for (int s = 0; s < 8; s++)
        cairn_buf_printf(&b, "cairn_tasks{state=\"%s\"} %llu\n",
                         sched_task_state_name((sched_task_state_t)s),
                         (unsigned long long)tasks[s]);
    cairn_buf_printf(&b, "cairn_tasks{state=\"queued\"} %llu\n", (unsigned long long)queued);
    cairn_buf_printf(
        &b,
        "# HELP cairn_jobs Jobs by whether all their tasks ended.\n# TYPE cairn_jobs gauge\n"
        "cairn_jobs{state=\"active\"} %u\ncairn_jobs{state=\"ended\"} %u\n",
        njobs - jobs_done, jobs_done);
    cairn_buf_printf(&b,
                     "# HELP cairn_jobs_in_memory Jobs the scheduler holds in memory (the others "
                     "ended and were retired to history, --keep-finished).\n"
                     "# TYPE cairn_jobs_in_memory gauge\ncairn_jobs_in_memory %u\n"
                     "# HELP cairn_jobs_retired Jobs retired to history.\n"
                     "# TYPE cairn_jobs_retired gauge\ncairn_jobs_retired %u\n",
                     live, retired);
    cairn_buf_printf(&b, "# HELP cairn_nodes Nodes by state.\n# TYPE cairn_nodes gauge\n");
    for (int s = 0; s < 4; s++)
        cairn_buf_printf(&b, "cairn_nodes{state=\"%s\"} %llu\n",
                         sched_node_state_name((sched_node_state_t)s),
                         (unsigned long long)nodes[s]);
    cairn_buf_printf(&b,
                     "# HELP cairn_gpus GPUs on nodes that are not down.\n# TYPE cairn_gpus gauge\n"
                     "cairn_gpus{state=\"allocated\"} %llu\ncairn_gpus{state=\"free\"} %llu\n",
                     (unsigned long long)(gpus_total - gpus_free - 0),
                     (unsigned long long)gpus_free);
    cairn_buf_printf(
        &b,
        "# HELP cairn_cores Cores on nodes that are not down.\n# TYPE cairn_cores gauge\n"
        "cairn_cores{state=\"free\"} %llu\ncairn_cores{state=\"total\"} %llu\n",
        (unsigned long long)cores_free, (unsigned long long)cores_total);
    cairn_buf_printf(
        &b,
        "# HELP cairn_placements_total Attempts placed.\n# TYPE cairn_placements_total "
        "counter\ncairn_placements_total %llu\n",
        (unsigned long long)d->stats.placements);
    cairn_buf_printf(&b,
                     "# HELP cairn_retries_total Attempts retried, by how the previous one ended.\n"
                     "# TYPE cairn_retries_total counter\n");
    for (int e = SCHED_END_EXIT; e <= SCHED_END_START_FAILED; e++)
        cairn_buf_printf(&b, "cairn_retries_total{reason=\"%s\"} %llu\n",
                         sched_end_name((sched_end_t)e), (unsigned long long)d->stats.retries[e]);
    cairn_buf_printf(
        &b,
        "# HELP cairn_submits_total Jobs accepted.\n# TYPE cairn_submits_total counter\n"
        "cairn_submits_total %llu\n# HELP cairn_bad_messages_total Messages refused.\n"
        "# TYPE cairn_bad_messages_total counter\ncairn_bad_messages_total %llu\n",
        (unsigned long long)d->stats.submits, (unsigned long long)d->stats.bad_messages);
    cairn_buf_printf(
        &b,
        "# HELP cairn_journal_entries Events committed to the journal.\n"
        "# TYPE cairn_journal_entries gauge\ncairn_journal_entries %llu\n"
        "# HELP cairn_degraded 1 while state storage fails and submissions are refused.\n"
        "# TYPE cairn_degraded gauge\ncairn_degraded %d\n",
        (unsigned long long)journal_count(d->st->journal), d->batch.degraded ? 1 : 0);
    histogram(&b, "cairn_pass_seconds", "Duration of a scheduling pass.", &d->stats.pass_latency);
    histogram(&b, "cairn_place_to_start_seconds",
              "From placement to the process running on its worker.", &d->stats.start_latency);
    *prom = cairn_buf_take(&b);

    /* every state by name, then those queued behind another */
    json_t *by_state = json_object();
    for (int s = 0; s <= 8 && by_state; s++) {
        const char *name = s < 8 ? sched_task_state_name((sched_task_state_t)s) : "queued";
        if (json_object_set_new(by_state, name,
                                json_integer((json_int_t)(s < 8 ? tasks[s] : queued))) < 0) {
            json_decref(by_state);
            by_state = NULL;
        }
    }
    json_t *doc = json_pack(
        "{s:I, s:I, s:I, s:I, s:o, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I}, s:I, s:I, s:b}", "jobs",
        (json_int_t)njobs, "jobs_ended", (json_int_t)jobs_done, "jobs_in_memory", (json_int_t)live,
        "jobs_retired", (json_int_t)retired, "tasks", by_state, "nodes", "up", (json_int_t)nodes[0],
        "draining", (json_int_t)nodes[1], "down", (json_int_t)nodes[2], "returning",
        (json_int_t)nodes[3], "gpus", "total", (json_int_t)gpus_total, "free",
        (json_int_t)gpus_free, "placements", (json_int_t)d->stats.placements, "journal_entries",
        (json_int_t)journal_count(d->st->journal), "degraded", d->batch.degraded);
    *json = cairn_json_text(doc, CAIRN_JSON_LINE);
}
