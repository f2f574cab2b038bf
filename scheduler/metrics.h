/* Observability: the latency histograms behind /metrics. The loop renders
 * /metrics and /status every second (status.c) and publishes them to the
 * web front (web.h), whose own thread serves the latest. */
#ifndef CAIRN_SCHEDULER_METRICS_H
#define CAIRN_SCHEDULER_METRICS_H

#include <stdint.h>

#include "common/error.h"

/* Latency histograms kept by the daemon (seconds buckets). */
#define METRICS_NBUCKETS 12
typedef struct histogram {
    uint64_t buckets[METRICS_NBUCKETS]; /* cumulative counts are rendered */
    uint64_t count;
    double sum;
} histogram_t;
extern const double metrics_bounds[METRICS_NBUCKETS];
void histogram_observe(histogram_t *h, double seconds);

#endif
