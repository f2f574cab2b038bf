/* GPU utilisation and memory from NVML, loaded at run time.
 *
 * libnvidia-ml.so.1 is opened with dlopen() so the worker builds and runs
 * on machines without the NVIDIA driver; there worker_nvml_create() fails
 * with -ENOENT and the worker reports no GPU usage. Devices are found by
 * PCI bus id, so our GPU indexes (PCI bus order, resources.h) need not match
 * NVML's enumeration. Calls block while the driver answers (usually well
 * under a millisecond per device); use from one thread.
 */
#ifndef CAIRN_WORKER_NVML_H
#define CAIRN_WORKER_NVML_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

typedef struct worker_nvml worker_nvml_t;

/* Load NVML from lib (NULL: "libnvidia-ml.so.1") and initialise it.
 * Returns 0 and sets *out (free it with worker_nvml_destroy()); -ENOENT
 * when the library or one of its symbols is missing, -EIO when nvmlInit
 * fails (no driver loaded), -ENOMEM. Nothing is left loaded on failure. */
int worker_nvml_create(const char *lib, worker_nvml_t **out, cairn_error_t *err);

/* Number of devices NVML sees. */
unsigned worker_nvml_device_count(const worker_nvml_t *n);

/* Utilisation (percent of time a kernel ran over the last sample period)
 * and memory in use of the device at pci_bus_id ("0000:17:00.0").
 * Returns 0; -ENODEV when NVML has no such device; -EIO on an NVML error. */
int worker_nvml_sample(worker_nvml_t *n, const char *pci_bus_id, uint32_t *util_percent,
                       uint64_t *memory_used_bytes);

/* The UUID ("GPU-...") of the device at pci_bus_id. -ENOSYS when this NVML
 * lacks nvmlDeviceGetUUID, -ENODEV when it has no such device. */
int worker_nvml_uuid(worker_nvml_t *n, const char *pci_bus_id, char *buf, size_t len);

/* The product name ("NVIDIA H100 80GB HBM3") of the device at pci_bus_id.
 * -ENOSYS when this NVML lacks nvmlDeviceGetName, -ENODEV when it has no
 * such device, -EIO on an NVML error. */
int worker_nvml_name(worker_nvml_t *n, const char *pci_bus_id, char *buf, size_t len);

/* The driver's version ("550.54.15") into driver and the CUDA version it
 * supports ("12.4") into cuda; each "" when NVML cannot tell (n NULL, an
 * old NVML, an error). */
void worker_nvml_versions(worker_nvml_t *n, char *driver, size_t dlen, char *cuda, size_t clen);

/* One MIG instance, as NVML names it. */
typedef struct worker_nvml_mig {
    char uuid[96];         /* "MIG-..." */
    char profile[64];      /* "1g.10gb": the end of its NVML name after " MIG " */
    uint64_t memory_bytes; /* its own memory */
} worker_nvml_mig_t;

#define WORKER_NVML_MIG_MAX 7 /* NVML_MAX_MIG... : 7 GPU instances on an H100 */

/* The MIG instances of the GPU at pci_bus_id, in NVML's index order, into
 * out (room for WORKER_NVML_MIG_MAX). Returns their number, with *enabled
 * telling whether the GPU is in MIG mode at all (false, and 0, when this
 * NVML has no MIG calls); -ENODEV when NVML has no such device; -EIO on an
 * NVML error. */
int worker_nvml_mig(worker_nvml_t *n, const char *pci_bus_id, worker_nvml_mig_t *out,
                    bool *enabled);

/* Critical GPU events (Xid errors, double-bit ECC errors) of some GPUs. */
typedef struct worker_nvml_events worker_nvml_events_t;

/* Watch the GPUs at bus_ids[0..n-1] for critical events. Returns 0 and
 * sets *out (close it with worker_nvml_events_close() before
 * worker_nvml_destroy()); -ENOSYS when this NVML has no event calls or no
 * GPU supports them; -EIO, -ENOMEM. A GPU NVML does not know, or that
 * supports no critical event, is left out. */
int worker_nvml_events_open(worker_nvml_t *n, const char *const *bus_ids, size_t count,
                            worker_nvml_events_t **out, cairn_error_t *err);

/* Wait at most timeout_ms for the next critical event. Returns 1 with
 * *which (its position in bus_ids) and reason ("Xid 79", "double-bit ECC
 * error") set; 0 on a timeout or an event that is not the GPU's fault
 * (application Xids: 13, 31, 43, 45, 68, 109); -EIO on an NVML error.
 * Blocks: call it from a thread of its own (NVML is thread-safe). */
int worker_nvml_events_wait(worker_nvml_events_t *ev, unsigned timeout_ms, size_t *which,
                            char *reason, size_t len);

/* Whether the device at position i has a memory repair pending, which
 * needs a reset before the GPU can be trusted: retired pages pending
 * (nvmlDeviceGetRetiredPagesPendingStatus), rows to remap or a failed
 * remapping (nvmlDeviceGetRemappedRows). 1 with reason, else 0 (also
 * when this NVML has neither query). Polled (they are no events). */
int worker_nvml_events_pending(worker_nvml_events_t *ev, size_t i, char *reason, size_t len);

/* Stop watching. NULL is a no-op. */
void worker_nvml_events_close(worker_nvml_events_t *ev);

/* Shut NVML down and unload it. NULL is a no-op. */
void worker_nvml_destroy(worker_nvml_t *n);

#endif
