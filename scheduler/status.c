/* Rendering of /metrics (Prometheus text format) and /status (JSON). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/daemon_private.h"

typedef struct buf {
    char *p;
    size_t len, cap;
} buf_t;

__attribute__((format(printf, 2, 3))) static void bp(buf_t *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->p && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np)
            return;
        b->p = np;
        b->cap = cap;
    }
}

static void histogram(buf_t *b, const char *name, const char *help, const histogram_t *h)
{
    bp(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i < METRICS_NBUCKETS; i++) {
        cum += h->buckets[i];
        bp(b, "%s_bucket{le=\"%g\"} %llu\n", name, metrics_bounds[i], (unsigned long long)cum);
    }
    bp(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
       (unsigned long long)h->count, name, h->sum, name, (unsigned long long)h->count);
}

void status_render(sched_daemon_t *d, char **prom, char **json)
{
    uint64_t tasks[8] = {0}, nodes[3] = {0}, gpus_total = 0, gpus_free = 0, cores_total = 0,
             cores_free = 0, queued = 0;
    uint32_t njobs = sched_job_count(d->core), jobs_done = 0;
    for (uint32_t j = 1; j <= njobs; j++) {
        sched_job_info_t ji;
        if (sched_job_info(d->core, j, &ji) < 0)
            continue;
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
        sched_node_usage(d->core, n, &u);
        nodes[sched_node_state(d->core, n) % 3]++;
        gpus_total += u.ngpus;
        cores_total += u.ncores;
        if (sched_node_state(d->core, n) != SCHED_NODE_DOWN) {
            gpus_free += u.free_gpus;
            cores_free += u.free_cores;
        }
    }
    buf_t b = {0};
    bp(&b, "# HELP cairn_tasks Tasks by state (queued: on a node behind a running attempt).\n"
           "# TYPE cairn_tasks gauge\n");
    for (int s = 0; s < 8; s++)
        bp(&b, "cairn_tasks{state=\"%s\"} %llu\n", sched_task_state_name((sched_task_state_t)s),
           (unsigned long long)tasks[s]);
    bp(&b, "cairn_tasks{state=\"queued\"} %llu\n", (unsigned long long)queued);
    bp(&b,
       "# HELP cairn_jobs Jobs by whether all their tasks ended.\n# TYPE cairn_jobs gauge\n"
       "cairn_jobs{state=\"active\"} %u\ncairn_jobs{state=\"ended\"} %u\n",
       njobs - jobs_done, jobs_done);
    bp(&b, "# HELP cairn_nodes Nodes by state.\n# TYPE cairn_nodes gauge\n");
    for (int s = 0; s < 3; s++)
        bp(&b, "cairn_nodes{state=\"%s\"} %llu\n", sched_node_state_name((sched_node_state_t)s),
           (unsigned long long)nodes[s]);
    bp(&b,
       "# HELP cairn_gpus GPUs on nodes that are not down.\n# TYPE cairn_gpus gauge\n"
       "cairn_gpus{state=\"allocated\"} %llu\ncairn_gpus{state=\"free\"} %llu\n",
       (unsigned long long)(gpus_total - gpus_free - 0), (unsigned long long)gpus_free);
    bp(&b,
       "# HELP cairn_cores Cores on nodes that are not down.\n# TYPE cairn_cores gauge\n"
       "cairn_cores{state=\"free\"} %llu\ncairn_cores{state=\"total\"} %llu\n",
       (unsigned long long)cores_free, (unsigned long long)cores_total);
    bp(&b,
       "# HELP cairn_placements_total Attempts placed.\n# TYPE cairn_placements_total "
       "counter\ncairn_placements_total %llu\n",
       (unsigned long long)d->stats.placements);
    bp(&b, "# HELP cairn_retries_total Attempts retried, by how the previous one ended.\n"
           "# TYPE cairn_retries_total counter\n");
    for (int e = SCHED_END_EXIT; e <= SCHED_END_START_FAILED; e++)
        bp(&b, "cairn_retries_total{reason=\"%s\"} %llu\n", sched_end_name((sched_end_t)e),
           (unsigned long long)d->stats.retries[e]);
    bp(&b,
       "# HELP cairn_submits_total Jobs accepted.\n# TYPE cairn_submits_total counter\n"
       "cairn_submits_total %llu\n# HELP cairn_bad_messages_total Messages refused.\n"
       "# TYPE cairn_bad_messages_total counter\ncairn_bad_messages_total %llu\n",
       (unsigned long long)d->stats.submits, (unsigned long long)d->stats.bad_messages);
    bp(&b,
       "# HELP cairn_journal_entries Events committed to the journal.\n"
       "# TYPE cairn_journal_entries gauge\ncairn_journal_entries %llu\n"
       "# HELP cairn_degraded 1 while state storage fails and submissions are refused.\n"
       "# TYPE cairn_degraded gauge\ncairn_degraded %d\n",
       (unsigned long long)journal_count(d->st->journal), d->batch.degraded ? 1 : 0);
    histogram(&b, "cairn_pass_seconds", "Duration of a scheduling pass.", &d->stats.pass_latency);
    histogram(&b, "cairn_place_to_start_seconds",
              "From placement to the process running on its worker.", &d->stats.start_latency);
    *prom = b.p;

    buf_t j = {0};
    bp(&j, "{\"jobs\": %u, \"jobs_ended\": %u, \"tasks\": {", njobs, jobs_done);
    for (int s = 0; s < 8; s++)
        bp(&j, "%s\"%s\": %llu", s ? ", " : "", sched_task_state_name((sched_task_state_t)s),
           (unsigned long long)tasks[s]);
    bp(&j, ", \"queued\": %llu}, \"nodes\": {", (unsigned long long)queued);
    bp(&j, "\"up\": %llu, \"draining\": %llu, \"down\": %llu}, ", (unsigned long long)nodes[0],
       (unsigned long long)nodes[1], (unsigned long long)nodes[2]);
    bp(&j,
       "\"gpus\": {\"total\": %llu, \"free\": %llu}, \"placements\": %llu, "
       "\"journal_entries\": %llu, \"degraded\": %s}\n",
       (unsigned long long)gpus_total, (unsigned long long)gpus_free,
       (unsigned long long)d->stats.placements, (unsigned long long)journal_count(d->st->journal),
       d->batch.degraded ? "true" : "false");
    *json = j.p;
}
