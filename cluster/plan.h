/* cairn plan (cmd_plan*.c): traces and cluster descriptions. */
#ifndef CAIRN_CLUSTER_PLAN_H
#define CAIRN_CLUSTER_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/client.pb-c.h"
#include "scheduling/sched.h"

/* --- traces ------------------------------------------------------------- */

/* One attempt replica, as recorded (AccountingRecord) or from a CSV row
 * (recorded false: no node, no times but submit). Strings owned. */
typedef struct plan_rec {
    uint64_t job_id, attempt_id;
    char *job_name, *task, *gpu_model, *node, *end;
    char *account; /* the job's account; "": default */
    char **needs;
    uint32_t nneeds;
    uint32_t *cores; /* the cores it got, when the record says */
    uint32_t ncores;
    uint32_t number, rank, replicas, cpus, gpus;
    int32_t priority, exit_code;
    uint64_t memory_bytes, gpu_mask;
    int64_t submit_ms, ready_ms, placed_ms, start_ms, end_ms, duration_ms, time_limit_ms;
    int64_t checkpoint_ms; /* its newest checkpoint file's write at its end; 0: none */
    size_t line;           /* where it came from, for messages */
} plan_rec_t;

typedef struct plan_trace {
    plan_rec_t *v;
    size_t n, cap;
    bool recorded;      /* placements and times known (not a CSV) */
    int64_t until_ms;   /* running attempts end here (the trace's newest time) */
    const char *source; /* for messages */
} plan_trace_t;

/* Load a trace file: JSON (an array of AccountingRecord objects under
 * their .proto names, or {"records": [...]}) or the CSV format
 * (docs/capacity.md; an eleventh column `account` optional).
 * Prints "cairn plan: FILE:LINE: ..." and returns CLI_USAGE on bad input,
 * CLI_NOTFOUND if it cannot be read; CLI_OK. */
int plan_trace_load(const char *path, plan_trace_t *t);
/* The accounting reply as a trace. CLI_OK or CLI_FAIL (out of memory). */
int plan_trace_from_reply(const Cairn__AccountingReply *rep, plan_trace_t *t);
void plan_trace_fini(plan_trace_t *t);
/* When each recorded attempt replica got its allocation (out[i] for
 * t->v[i]): its placement, or for one the scheduler queued on its node
 * behind another (prefetch) the end of that one: the attempt before it
 * (by id) with the same cores and GPUs on the node, if that ended after
 * it was placed (allocations are exclusive: only the one it waited for
 * can). Records without cores: by GPUs alone, and a CPU-only one's is its
 * placement. A CSV trace's: 0. CLI_OK or CLI_FAIL (out of memory). */
int plan_trace_alloc_times(const plan_trace_t *t, int64_t *out);

/* --- clusters ----------------------------------------------------------- */

/* A node with everything it points to owned. */
typedef struct plan_node {
    sched_node_desc_t d;
    char *name;
    uint64_t *numa_memory;
    int *core_numa;
    sched_gpu_desc_t *gpus; /* model strings owned */
    char **labels;
} plan_node_t;

typedef struct plan_cluster {
    plan_node_t *v;
    size_t n, cap;
} plan_cluster_t;

/* Nodes of a cluster file (JSON, docs/capacity.md) or of a hwloc XML topology
 * (count copies named NAME-1...). CLI_OK, or prints and returns
 * CLI_USAGE / CLI_NOTFOUND. */
int plan_cluster_load(const char *path, plan_cluster_t *c);
int plan_cluster_add_xml(plan_cluster_t *c, const char *xml, const char *name, uint32_t count);
/* The scheduler's nodes (NodesReply). */
int plan_cluster_from_nodes(const Cairn__NodesReply *rep, plan_cluster_t *c);
/* Append deep copies of src's nodes to dst: 0 or -1 (printed). */
int plan_cluster_copy(plan_cluster_t *dst, const plan_cluster_t *src);
/* Remove a node by name: 0, or -1 when there is none. */
int plan_cluster_remove(plan_cluster_t *c, const char *name);
void plan_cluster_fini(plan_cluster_t *c);

#endif
