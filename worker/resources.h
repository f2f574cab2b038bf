/* What a node has: packages, cores, PUs, NUMA domains and GPUs.
 *
 * A worker_resources_t is filled once by worker_discover() (discover.h) and
 * is read-only afterwards, except for the node name and labels. The element
 * records (worker_numa_t, worker_core_t, worker_gpu_t) are plain data owned
 * by the worker_resources_t: read them, never free or modify them.
 *
 * Index spaces, as in proto/worker.proto:
 *   - PU and NUMA indexes are OS indexes (what Linux and numactl use);
 *   - core indexes are hwloc logical indexes 0..n-1 (core OS indexes are
 *     not unique across packages);
 *   - GPU indexes are positions in PCI bus id order, which is how NVML and
 *     CUDA_DEVICE_ORDER=PCI_BUS_ID number devices (see worker_gpu_t).
 */
#ifndef CAIRN_WORKER_RESOURCES_H
#define CAIRN_WORKER_RESOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"

#define WORKER_NODE_NAME_MAX 255
#define WORKER_LABEL_KEY_MAX 63
#define WORKER_LABEL_VALUE_MAX 255

typedef struct worker_resources worker_resources_t;

/* One NUMA domain. */
typedef struct worker_numa {
    unsigned os_index;
    uint64_t memory_bytes; /* local memory */
    size_t npus;
    unsigned *pus; /* PU OS indexes, ascending; empty for a CPU-less node */
    size_t ncores;
    unsigned *cores; /* core indexes, ascending */
} worker_numa_t;

/* One core (a PU when hwloc reports no cores). */
typedef struct worker_core {
    unsigned index; /* hwloc logical index */
    int numa;       /* OS index of its NUMA domain, -1 if its PUs span several */
    size_t npus;
    unsigned *pus; /* PU OS indexes, ascending */
} worker_core_t;

typedef enum worker_gpu_vendor {
    WORKER_GPU_VENDOR_OTHER = 0,
    WORKER_GPU_VENDOR_NVIDIA,
    WORKER_GPU_VENDOR_AMD,
    WORKER_GPU_VENDOR_INTEL,
} worker_gpu_vendor_t;

/* One GPU. Strings are NULL when unknown. */
typedef struct worker_gpu {
    unsigned index; /* position in PCI bus id order among this node's GPUs */
    worker_gpu_vendor_t vendor;
    uint16_t pci_vendor_id, pci_device_id;
    char pci_bus_id[16]; /* "0000:bb:dd.f" */
    char *model;
    uint64_t memory_bytes;   /* 0 when unknown */
    char *uuid;              /* NVIDIA "GPU-...", AMD / Level Zero hex id */
    int numa;                /* NUMA OS index, -1 when unknown or ambiguous */
    bool has_driver;         /* false: seen on PCI only, no OS device */
    unsigned locality_group; /* GPUs behind one PCIe switch share it */
    char *driver;            /* kernel driver bound to it (live machine only) */
    char *driver_version;
    char *cuda_version;
    /* A MIG instance of a GPU in MIG mode (worker_resources_gpu_split_mig()):
     * uuid is "MIG-...", model "<GPU model> MIG <profile>", memory its own;
     * PCI, NUMA and locality are its GPU's. */
    bool mig;
    char *mig_parent_uuid; /* the GPU's UUID (NULL when unknown) */
    char *mig_profile;     /* "1g.10gb" */
} worker_gpu_t;

/* A MIG instance as NVML reports it (worker/nvml.h). */
typedef struct worker_mig_instance {
    const char *uuid;    /* "MIG-..." */
    const char *profile; /* "1g.10gb" */
    uint64_t memory_bytes;
} worker_mig_instance_t;

/* Lower-case vendor name: "nvidia", "amd", "intel" or "other". */
const char *worker_gpu_vendor_name(worker_gpu_vendor_t vendor);

/* Free everything; NULL is a no-op. */
void worker_resources_destroy(worker_resources_t *r);

/* The node name (never NULL). */
const char *worker_resources_node(const worker_resources_t *r);

/* Replace the node name. Returns -EINVAL if name fails
 * worker_node_name_check(), -ENOMEM; r is unchanged on failure. */
int worker_resources_set_node(worker_resources_t *r, const char *name, cairn_error_t *err);

/* Check a node name: 1..WORKER_NODE_NAME_MAX bytes, no control characters.
 * Returns 0 or -EINVAL. */
int worker_node_name_check(const char *name, cairn_error_t *err);

/* Totals. The memory is the sum of the NUMA domains' memory. */
unsigned worker_resources_package_count(const worker_resources_t *r);
unsigned worker_resources_pu_count(const worker_resources_t *r);
uint64_t worker_resources_memory_bytes(const worker_resources_t *r);

/* NUMA domains in OS index order; there is always at least one. */
size_t worker_resources_numa_count(const worker_resources_t *r);
const worker_numa_t *worker_resources_numa(const worker_resources_t *r, size_t i);

/* Cores in index order (element i has index i). */
size_t worker_resources_core_count(const worker_resources_t *r);
const worker_core_t *worker_resources_core(const worker_resources_t *r, size_t i);

/* GPUs in index order (element i has index i). */
size_t worker_resources_gpu_count(const worker_resources_t *r);
const worker_gpu_t *worker_resources_gpu(const worker_resources_t *r, size_t i);
/* Set GPU i's UUID (learned from NVML where hwloc had none). */
int worker_resources_gpu_set_uuid(worker_resources_t *r, size_t i, const char *uuid);
/* Set what is known of GPU i (learned from NVML): each non-NULL,
 * non-empty string replaces the model, driver or CUDA version. 0, -EINVAL
 * or -ENOMEM (then nothing changed). */
int worker_resources_gpu_set_info(worker_resources_t *r, size_t i, const char *model,
                                  const char *driver_version, const char *cuda_version);

/* Replace GPU i (a whole GPU in MIG mode) by its n MIG instances, in that
 * order, each a device of its own (see worker_gpu_t); later GPUs' indexes
 * move up by n - 1. n == 0 removes the GPU: in MIG mode, with no instance,
 * nothing of it can be used. Returns 0, -EINVAL (i out of range, already a
 * MIG instance, an instance without uuid or profile) or -ENOMEM; r is
 * unchanged on failure. */
int worker_resources_gpu_split_mig(worker_resources_t *r, size_t i,
                                   const worker_mig_instance_t *inst, size_t n);

/* Check a "KEY=VALUE" label: the key is 1..WORKER_LABEL_KEY_MAX characters
 * from [A-Za-z0-9._/-] starting with a letter or digit, the value at most
 * WORKER_LABEL_VALUE_MAX bytes without control characters.
 * Returns 0 or -EINVAL. */
int worker_label_check(const char *arg, cairn_error_t *err);

/* Add a "KEY=VALUE" label (see worker_label_check()). Returns 0, -EINVAL,
 * -EEXIST if the key is already set, or -ENOMEM; r is unchanged on failure. */
int worker_resources_label_add(worker_resources_t *r, const char *arg, cairn_error_t *err);

/* Labels sorted by key. */
size_t worker_resources_label_count(const worker_resources_t *r);
const char *worker_resources_label_key(const worker_resources_t *r, size_t i);
const char *worker_resources_label_value(const worker_resources_t *r, size_t i);

/* A canonical text dump of the hardware (not the name or labels), one item
 * per line: a "node" totals line, then "numaN", "coreN" and "gpuN" lines.
 * Returns a string the caller frees, or NULL when out of memory. */
char *worker_resources_dump(const worker_resources_t *r);

/* FNV-1a 64 hash of worker_resources_dump() with memory sizes in whole GiB
 * (rounded): changes when the hardware (or a GPU's driver presence)
 * changes, not with the name, the labels or a few MiB of host memory.
 * GPU memory is hashed exactly. Returns 0 when out of memory. */
uint64_t worker_resources_fingerprint(const worker_resources_t *r);

/* Print ids as ranges ("0-15,32-47"; "" when n is 0). */
void worker_idlist_print(FILE *f, const unsigned *ids, size_t n);

#endif
