/* Resource usage over time, for reports (cairn report): the workers'
 * resource reports per node and per GPU, and the scheduler's census of
 * waiting demand and idle GPUs (sched_census), every sample interval.
 * Kept in the journal's database, written in its transactions.
 *
 * A sample covers span_ms up to time_ms; values are averages over it, so
 * value x span is exact GPU- or core-time. Old samples are merged: older
 * than a day into 5-minute buckets, older than a week into hours (weighted
 * by span, so the totals stay), and dropped past the retention. */
#ifndef CAIRN_SCHEDULER_USAGE_H
#define CAIRN_SCHEDULER_USAGE_H

#include <stdint.h>

#include "proto/client.pb-c.h"
#include "proto/worker.pb-c.h"
#include "scheduler/journal.h"
#include "scheduling/sched.h"

#define USAGE_RETENTION_DEFAULT_MS (90ll * 24 * 3600 * 1000)
#define USAGE_SAMPLE_DEFAULT_MS 30000

typedef struct usage usage_t;

int usage_open(journal_t *j, usage_t **out, cairn_error_t *err);
void usage_close(usage_t *u);

/* A worker's resource report covering span_ms up to its time: kept in
 * memory (not a commit per report from hundreds of nodes) until
 * usage_flush, which the census timer and queries call: a crash loses at
 * most one sample interval of usage, never anything acknowledged. */
int usage_put_report(usage_t *u, const char *node, int64_t span_ms, const Cairn__ResourceReport *r,
                     cairn_error_t *err);
int usage_flush(usage_t *u, cairn_error_t *err);
/* The census at time_ms, covering span_ms (shapes named with acct_shape). */
int usage_put_census(usage_t *u, int64_t time_ms, int64_t span_ms, const sched_census_t *c,
                     cairn_error_t *err);
/* Merge and drop old samples (see above) as of now_ms. */
int usage_compact(usage_t *u, int64_t now_ms, int64_t retention_ms, cairn_error_t *err);

/* Samples in [since, until) into rep (strings and arrays malloc'd: free
 * with usage_reply_fini). */
int usage_query(usage_t *u, int64_t since_ms, int64_t until_ms, Cairn__UsageReply *rep,
                cairn_error_t *err);
void usage_reply_fini(Cairn__UsageReply *rep);

/* GPU-seconds node's GPU index was busy in [from, to) by its utilisation
 * samples (util x overlap); -1 when no sample covers any of it. */
double usage_gpu_seconds(usage_t *u, const char *node, uint32_t index, int64_t from_ms,
                         int64_t to_ms);

/* A task shape for grouping: "8c 1g H100" (cores, GPUs, the model asked
 * for), "4c", "16c 8g x4" (a gang of 4); as cairn plan names them. */
void acct_shape(uint32_t cpus, uint32_t gpus, const char *gpu_model, uint32_t replicas, char *buf,
                size_t n);

#endif
