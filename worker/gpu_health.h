/* GPU health: NVML's critical events (Xid errors, double-bit ECC errors)
 * watched on a thread of its own, delivered on the loop.
 *
 * The thread only waits in NVML (worker_nvml_events_wait(), half a second
 * at a time so that a stop is quick) and queues what it sees; a uv_async_t
 * wakes the loop, which drains the whole queue (async sends coalesce) and
 * calls the callback once per GPU index: an event on a GPU in MIG mode
 * concerns each of its MIG instances. */
#ifndef CAIRN_WORKER_GPU_HEALTH_H
#define CAIRN_WORKER_GPU_HEALTH_H

#include <uv.h>

#include "common/error.h"
#include "worker/nvml.h"
#include "worker/resources.h"

typedef struct worker_gpu_health worker_gpu_health_t;

/* GPU index (resources.h) gpu had a critical error; reason "Xid 79". On
 * the loop thread. */
typedef void (*worker_gpu_health_f)(void *arg, unsigned gpu, const char *reason);

/* Watch r's NVIDIA GPUs through nvml (which must outlive the watcher).
 * Returns 0 and sets *out; -ENOSYS when NVML reports no critical events
 * for them (nothing is started); -ENOMEM, -EAGAIN (no thread). */
int worker_gpu_health_start(uv_loop_t *loop, worker_nvml_t *nvml, const worker_resources_t *r,
                            worker_gpu_health_f cb, void *arg, worker_gpu_health_t **out,
                            cairn_error_t *err);

/* Stop the thread (within about half a second), drop what is queued and
 * close the async handle; the memory goes when it has closed. NULL is a
 * no-op. */
void worker_gpu_health_stop(worker_gpu_health_t *h);

#endif
