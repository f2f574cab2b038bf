/* Resource reports: what the node and its tasks use right now, sent to the
 * scheduler every few heartbeats (ResourceReport in proto/worker.proto).
 *
 * Load averages come from /proc/loadavg, memory from /proc/meminfo (used =
 * MemTotal - MemAvailable), per-attempt CPU time and RSS from the executor,
 * per-GPU utilisation and memory from NVML where the driver is present
 * (nvml.h); without NVML the report has no GPU entries.
 */
#ifndef CAIRN_WORKER_REPORT_H
#define CAIRN_WORKER_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "proto/envelope.h"
#include "worker/exec.h"
#include "worker/nvml.h"
#include "worker/resources.h"

typedef struct worker_report worker_report_t;

/* Prepare reports for the GPUs of r (their PCI bus ids are copied; r is
 * not referenced afterwards). nvml_lib: the NVML library to load, NULL for
 * the default, "" for none; a missing NVML is not an error (see
 * worker_report_has_nvml()). Returns 0 or -ENOMEM. */
int worker_report_create(const worker_resources_t *r, const char *nvml_lib, worker_report_t **out,
                         cairn_error_t *err);

/* Whether GPU usage is available (NVML loaded). */
bool worker_report_has_nvml(const worker_report_t *rep);

/* Fill a report now for node_name / node_id at now_ms, with the usage of
 * every attempt x runs (x may be NULL). The message and everything it
 * points to belong to rep and stay valid until the next collect or
 * worker_report_destroy(). Returns NULL when out of memory. Unreadable
 * /proc files leave their fields 0. */
const Cairn__ResourceReport *worker_report_collect(worker_report_t *rep, worker_exec_t *x,
                                                   const char *node_name, uint64_t node_id,
                                                   int64_t now_ms);

/* Parse /proc/loadavg text into load averages x 1000 (1, 5, 15 minutes).
 * Returns 0 or -EINVAL. */
int worker_report_parse_loadavg(const char *text, uint32_t milli[3]);

/* Parse /proc/meminfo text: *total = MemTotal, *used = MemTotal -
 * MemAvailable (MemFree + Buffers + Cached on kernels without
 * MemAvailable), in bytes. Returns 0 or -EINVAL when MemTotal is missing. */
int worker_report_parse_meminfo(const char *text, uint64_t *used, uint64_t *total);

/* Free everything and unload NVML. NULL is a no-op. */
void worker_report_destroy(worker_report_t *rep);

/* Fill in, from NVML, what discovery left unknown about the NVIDIA GPUs
 * (hwloc without its NVML plugin): UUID and model, and the driver's version
 * and the CUDA version it supports. Without NVML nothing changes (they stay
 * empty). Returns how many GPUs gained something. */
int worker_report_fill_gpus(worker_report_t *rep, worker_resources_t *r);

/* Replace each NVIDIA GPU that NVML says is in MIG mode by its MIG
 * instances (worker_resources_gpu_split_mig()): a GPU in MIG mode is never
 * offered whole. Run once, after discovery (the operator's MIG layout is
 * read again when the worker restarts). Without NVML nothing changes.
 * Returns how many GPUs are in MIG mode, or a negative code (NVML failed
 * listing instances, out of memory) with err set; r is then only partly
 * split and the worker must not register it. */
/* The NVML the report samples (NULL: none loaded), for the GPU health
 * watcher (gpu_health.h); valid until worker_report_destroy(). */
worker_nvml_t *worker_report_nvml(const worker_report_t *rep);

int worker_report_apply_mig(worker_report_t *rep, worker_resources_t *r, cairn_error_t *err);

#endif
