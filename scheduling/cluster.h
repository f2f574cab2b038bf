/* Cluster model of the scheduling core: nodes, NUMA domains, cores, memory
 * and GPUs, and the exact accounting of what is allocated on them.
 *
 * Pure C, libc only. Nodes are referred to by a dense id assigned in the
 * order they were first added (an event in the journal), never by pointer.
 */
#ifndef CAIRN_SCHED_CLUSTER_H
#define CAIRN_SCHED_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#define SCHED_MAX_GPUS_PER_NODE 64
#define SCHED_MAX_CORES_PER_NODE 4096
#define SCHED_MAX_NUMA_PER_NODE 64

/* A node's state is derived from two things the events set apart:
 *   - its presence: up (registered), returning (known from before a
 *     scheduler restart, not registered again yet: it keeps its attempts
 *     and takes nothing new) or down (lost: its attempts are node-lost);
 *   - whether an operator drained it (with a reason), which survives the
 *     node going down and coming back, and scheduler restarts, until an
 *     undrain.
 * sched_node_state() gives the effective state: down, returning and
 * removed first, then draining; only an up node takes new work.
 *
 * As an event (SCHED_EV_NODE_STATE): DRAINING drains, UP undrains, DOWN
 * and RETURNING set the presence (a NODE_ADD makes it up again).
 *
 * REMOVED is a presence set by SCHED_EV_NODE_REMOVE alone, on a node with
 * no attempt running or queued there: an operator forgot it. The node
 * stays as a tombstone (its id, name and hardware: no other id moves, and
 * replay is unchanged) that takes no work, is no capacity and no longer
 * drained. A NODE_ADD under its name makes it a node again, as one that
 * joins: its hardware as it registers now, not drained. */
typedef enum sched_node_state {
    SCHED_NODE_UP = 0,
    SCHED_NODE_DRAINING = 1,  /* runs what it has, takes nothing new */
    SCHED_NODE_DOWN = 2,      /* lost: its running attempts are node-lost */
    SCHED_NODE_RETURNING = 3, /* not back since a scheduler restart */
    SCHED_NODE_REMOVED = 4,   /* forgotten (SCHED_EV_NODE_REMOVE) */
} sched_node_state_t;

/* One GPU as reported by a worker. Strings may be NULL when unknown. */
typedef struct sched_gpu_desc {
    const char *vendor;     /* "nvidia", "amd", ... */
    const char *model;      /* "H100 80GB HBM3", ... */
    const char *uuid;       /* "GPU-...." */
    const char *pci_bus_id; /* "0000:18:00.0" */
    uint64_t memory_bytes;  /* 0 when unknown */
    int numa;               /* dense NUMA domain index on the node, -1 unknown */
    int group;              /* locality group: GPUs behind one PCIe switch share it */
    /* out only (sched_node_gpu()): a MIG instance's profile, the end of
     * model ("... MIG 1g.10gb"); NULL for a whole GPU */
    const char *mig_profile;
    /* out only: why the GPU is marked unhealthy (SCHED_EV_GPU_HEALTH),
     * NULL when healthy */
    const char *unhealthy;
} sched_gpu_desc_t;

/* A node's resources. NUMA domains and cores use dense indexes 0..n-1;
 * cores[i] is the NUMA domain of core i. The core copies everything. */
typedef struct sched_node_desc {
    const char *name;
    int nnuma;
    const uint64_t *numa_memory; /* bytes per NUMA domain */
    int ncores;
    const int *core_numa; /* NUMA domain of each core */
    int ngpus;
    const sched_gpu_desc_t *gpus; /* in index (PCI bus id) order */
    int nlabels;
    const char *const *labels; /* "key=value" */
} sched_node_desc_t;

#endif
