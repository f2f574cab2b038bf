/* The figures of cairn report, computed from the scheduler's accounting
 * records, usage samples and node list (report.c), and their SVG chart
 * (report_svg.c). Pure: no I/O but the FILE they print to. */
#ifndef CAIRN_CLUSTER_REPORT_H
#define CAIRN_CLUSTER_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cluster/presence.h"
#include "proto/client.pb-c.h"
#include "proto/json.h"

typedef enum report_by {
    REPORT_BY_USER,
    REPORT_BY_JOB,
    REPORT_BY_KIND,
    REPORT_BY_NODE,
    REPORT_BY_GPU_MODEL,
    REPORT_BY_ACCOUNT,
} report_by_t;

typedef struct report_input {
    int64_t from_ms, to_ms;
    const Cairn__AccountingReply *acct;
    const Cairn__UsageReply *usage; /* samples and the node timeline */
    const Cairn__NodesReply *nodes; /* removed nodes too */
    report_by_t by;
    /* only the records of jobs charged to this account (NULL or "": every
     * one's); the census (fragmentation, why tasks waited) is the
     * cluster's whole */
    const char *account;
} report_input_t;

/* Every accounting record of a window, gathered page by page (each
 * AccountingReply page decoded by cairn_msg_decode): all holds them in
 * (attempt, rank) order, pointing into the pages, which it owns. */
typedef struct report_acct {
    Cairn__AccountingReply all;
    ProtobufCMessage **pages;
    size_t npages;
} report_acct_t;
/* Take page (an AccountingReply): 0, or -ENOMEM (page freed). */
int report_acct_add(report_acct_t *a, ProtobufCMessage *page);
/* Free every page; a is empty after. */
void report_acct_fini(report_acct_t *a);

/* The element of *v (*n of them, size bytes each, starting with a key of
 * keylen bytes) whose key is key; else one appended, zeroed, with that key
 * (cut to keylen - 1 bytes). NULL when out of memory. */
void *report_find_or_add(void *v, size_t *n, size_t size, size_t keylen, const char *key);

/* Whether the report counts a record: of in->account, if it names one. */
bool report_takes(const report_input_t *in, const Cairn__AccountingRecord *rec);

/* One row of a utilisation table: a GPU model or a node. Seconds. */
typedef struct report_util {
    char name[160];
    uint32_t gpus, cores; /* a model's: of the nodes there in the window */
    double present;       /* a node's seconds there in the window (presence.h) */
    double gpu_capacity, gpu_allocated, gpu_used; /* gpu_used < 0: not measured */
    double core_capacity, core_allocated, cpu_used;
} report_util_t;

typedef struct report_group {
    char key[256];
    uint32_t attempts;
    double gpu_seconds, core_seconds, cpu_used, gpu_used; /* gpu_used < 0: not measured */
    /* queue waits (ready -> started) of its first replicas that started in
     * the window, as report_wait_t counts them */
    uint32_t waited;
    double wait_p50_s, wait_p95_s;
} report_group_t;

/* Queue waits of one shape, over first replicas (a gang counts once).
 * The wait is ready (needs done, or backoff over) to started: an attempt
 * queued on a node behind a running one (prefetch) is placed at once but
 * waits until it starts. An attempt counts in the window it started in;
 * one that never started has no wait to start and is counted apart. */
typedef struct report_wait {
    char shape[160];
    /* started in the window, and their waits: ready -> started */
    uint32_t count;
    double p50_s, p95_s, max_s;
    /* placed in the window (started or not), and ready -> placed */
    uint32_t placed;
    double placed_p50_s, placed_p95_s, placed_max_s;
    /* ended in the window without starting (cancelled while queued, node
     * lost or failed before the start) */
    uint32_t never_started;
    /* placed, neither started nor ended at the window's end */
    uint32_t queued;
} report_wait_t;

/* Why waiting work was waiting, weighted by task-seconds: tasks waiting
 * on an account limit (the census's limited) are REPORT_WHY_LIMIT's, the
 * others their shape's main reason. */
#define REPORT_WHY_LIMIT "waiting on an account limit"
typedef struct report_reason {
    char reason[64];
    double task_seconds;
} report_reason_t;

/* GPU time whose work was lost, by why the attempt ended: preempted, timed
 * out, its node lost. An attempt loses GPUs x (end - the newest checkpoint
 * file's write) when a checkpoint was written during it (the record's
 * checkpoint_time_ms within [start, end]), else GPUs x (end - start); it
 * counts in the window it ended in, wholly. */
typedef enum report_cause {
    REPORT_LOST_PREEMPTED,
    REPORT_LOST_TIMED_OUT,
    REPORT_LOST_NODE_LOST,
    REPORT_LOST_CAUSES
} report_cause_t;

/* The GPU time one account (or, as report_t.lost_total, every account) lost,
 * and its preemptions (attempts ended preempted; a gang counts once). */
typedef struct report_lost {
    char account[128]; /* "-": default's records without an account */
    uint32_t preemptions;
    uint32_t attempts[REPORT_LOST_CAUSES]; /* first replicas */
    double gpu_s[REPORT_LOST_CAUSES];
} report_lost_t;

/* The GPU-seconds an attempt's record lost, by report_lost_t's rule: 0 when
 * it did not start or end, or holds no GPU; *from_ms (may be NULL) is
 * where the loss starts (its start or its newest checkpoint's write). */
double report_lost_gpu_s(const Cairn__AccountingRecord *rec, int64_t *from_ms);
/* The cause an end names ("preempted", "timed_out", "node_lost");
 * REPORT_LOST_CAUSES for any other. */
report_cause_t report_lost_cause(const char *end);

/* Failed attempts by class (AccountingRecord.end_class; an older record's
 * end), per node and per GPU UUID: attempts that ended in the window and
 * did not succeed, neither cancelled nor preempted. A gang's failure is
 * on every replica's node and GPUs (a record does not say which replica
 * failed first). Rows that failed attempts of several jobs come first,
 * then by jobs, attempts (most first) and key. */
typedef enum report_fail_class {
    REPORT_FAIL_OOM,
    REPORT_FAIL_GPU_ERROR,
    REPORT_FAIL_LOG,
    REPORT_FAIL_EXIT,
    REPORT_FAIL_SIGNAL,
    REPORT_FAIL_TIMEOUT,
    REPORT_FAIL_NODE_LOST,
    REPORT_FAIL_START,
    REPORT_FAIL_CLASSES
} report_fail_class_t;

typedef struct report_fail_row {
    char key[160]; /* the node's name, or the GPU's UUID */
    char node[128];
    char model[96]; /* a GPU's */
    uint32_t index; /* a GPU's, on its node */
    uint32_t by_class[REPORT_FAIL_CLASSES];
    uint64_t *attempts, *jobs; /* ascending, distinct */
    size_t nattempts, attempts_cap, njobs, jobs_cap;
} report_fail_row_t;

typedef struct report_fail {
    uint32_t by_class[REPORT_FAIL_CLASSES]; /* attempts (first replicas) */
    report_fail_row_t *nodes, *gpus;
    size_t nnodes, ngpus;
} report_fail_t;

/* The class of a record ("oom", "exit_nonzero"...), REPORT_FAIL_CLASSES
 * when it is not a failure. */
report_fail_class_t report_fail_class(const Cairn__AccountingRecord *rec);
const char *report_fail_class_name(report_fail_class_t c);
/* The failures of in's records: 0, or -1 out of memory (f emptied). */
int report_fail_compute(const report_input_t *in, report_fail_t *f);
void report_fail_fini(report_fail_t *f);
void report_fail_print_text(FILE *out, const report_fail_t *f);
/* {by_class: {CLASS: n}, by_node: [...], by_gpu: [...]}; NULL out of memory. */
json_t *report_fail_json(const report_fail_t *f);
/* One row per GPU, then per node: scope,key,node,gpu_index,jobs,attempts,
 * then a column per class. */
void report_fail_print_csv(FILE *out, const report_fail_t *f);

typedef struct report {
    report_util_t *models, *nodes;
    size_t nmodels, nnodes;
    report_group_t *groups;
    size_t ngroups;
    report_wait_t *waits;
    size_t nwaits;
    /* GPU-seconds that sat idle while GPU tasks waited, by why; idle_limit:
     * free GPUs that tasks waiting on an account limit could use (waiting
     * on a limit, not fragmentation) */
    double idle_total, idle_split, idle_cpu_mem, idle_model, idle_other, idle_limit;
    double idle_topo; /* a require gang's free GPUs in no one domain: by topology */
    report_reason_t *reasons;
    size_t nreasons;
    /* GPU time lost per account (most lost first, then by name) and in all */
    report_lost_t *lost;
    size_t nlost;
    report_lost_t lost_total;
    report_fail_t fail; /* failed attempts by class, node and GPU */
} report_t;

/* The figures; nodes' capacity counts only while they were there (the
 * node timeline in in->usage, presence.h). 0, or -1 out of memory. */
int report_compute(const report_input_t *in, report_t *out);
/* The node timeline of in, indexed by node (presence.h; free with
 * presence_destroy); NULL out of memory. */
presence_t *report_presence(const report_input_t *in);
void report_fini(report_t *r);
/* report_t.lost and .lost_total from in's records (report_compute calls
 * it): 0, or -1 out of memory. */
int report_lost_compute(const report_input_t *in, report_t *r);
/* The lost GPU time as text, and as JSON (NULL out of memory). */
void report_lost_print_text(FILE *f, const report_t *r);
json_t *report_lost_json(const report_t *r);

void report_print_text(FILE *f, const report_input_t *in, const report_t *r);
/* Every figure as JSON (seconds with 6 decimals; null: not measured);
 * NULL when out of memory. */
json_t *report_json(const report_input_t *in, const report_t *r);
void report_print_csv(FILE *f, const report_input_t *in, const report_t *r);
/* Utilisation over time per GPU model (allocated and used) with the
 * waiting GPU demand overlaid. */
int report_print_svg(FILE *f, const report_input_t *in, const report_t *r);

const char *report_by_name(report_by_t by);

#endif
