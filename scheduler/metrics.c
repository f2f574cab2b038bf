/* Latency histograms; see metrics.h. */
#include "scheduler/metrics.h"

const double metrics_bounds[METRICS_NBUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                 0.01,   0.025,   0.05,   0.1,   1.0,    10.0};

void histogram_observe(histogram_t *h, double seconds)
{
    for (int i = 0; i < METRICS_NBUCKETS; i++)
        if (seconds <= metrics_bounds[i]) {
            h->buckets[i]++;
            break;
        }
    h->count++;
    h->sum += seconds;
}
