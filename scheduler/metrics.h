/* Observability: Prometheus text metrics at /metrics and a JSON status
 * document at /status, served by nng's HTTP server.
 *
 * nng serves HTTP on its own threads; they never touch the daemon's state.
 * The loop thread renders both documents into a snapshot every second (and
 * on demand in tests), and the handlers copy the latest snapshot under a
 * mutex. */
#ifndef CAIRN_SCHEDULER_METRICS_H
#define CAIRN_SCHEDULER_METRICS_H

#include <stdint.h>

#include "common/error.h"

typedef struct metrics metrics_t;

/* Latency histograms kept by the daemon (seconds buckets). */
#define METRICS_NBUCKETS 12
typedef struct histogram {
    uint64_t buckets[METRICS_NBUCKETS]; /* cumulative counts are rendered */
    uint64_t count;
    double sum;
} histogram_t;
extern const double metrics_bounds[METRICS_NBUCKETS];
void histogram_observe(histogram_t *h, double seconds);

/* Serve on addr ("127.0.0.1:9464" or "http://..."). */
int metrics_create(const char *addr, metrics_t **out, cairn_error_t *err);
void metrics_destroy(metrics_t *m);

/* Replace the documents served (copied). */
void metrics_publish(metrics_t *m, const char *prometheus, const char *json);

#endif
