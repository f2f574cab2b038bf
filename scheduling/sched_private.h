/* Internals of the scheduling core shared between its .c files. */
#ifndef CAIRN_SCHED_PRIVATE_H
#define CAIRN_SCHED_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/grow.h"
#include "common/strbuf.h"
#include "scheduling/sched.h"

/* --- small helpers ------------------------------------------------------ */

static inline int bit_test(const uint64_t *w, uint32_t i)
{
    return (int)((w[i >> 6] >> (i & 63)) & 1u);
}
static inline void bit_set(uint64_t *w, uint32_t i)
{
    w[i >> 6] |= (uint64_t)1 << (i & 63);
}
static inline void bit_clear(uint64_t *w, uint32_t i)
{
    w[i >> 6] &= ~((uint64_t)1 << (i & 63));
}
static inline uint32_t words_for(uint32_t bits)
{
    return (bits + 63) / 64;
}

char *xstrdup(const char *s);

/* b - a for event times, 0 when b is not after a, INT64_MAX when the
 * difference does not fit (times a snapshot brought can be anything). */
static inline int64_t ms_since(int64_t a, int64_t b)
{
    int64_t d;
    if (b <= a)
        return 0;
    return __builtin_sub_overflow(b, a, &d) ? INT64_MAX : d;
}

/* Print ids as a compact range list: prefix[0-3,5,7-8]. */
void sb_idset(cairn_buf_t *b, const char *prefix, const uint32_t *ids, uint32_t n);

uint64_t hash_str(uint64_t h, const char *s);
bool ids_find(const uint32_t *ids, size_t n, const char *name,
              const char *(*name_of)(const void *ctx, uint32_t id), const void *ctx, uint32_t *out);
uint64_t hash_mix(uint64_t x);
/* qsort comparators of unsigned integers, ascending (inline: the address
 * of another file's function would come through the GOT, which the core's
 * objects do not use: tests/cli/layout.sh). */
static inline int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}
static inline int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* --- cluster ------------------------------------------------------------ */

typedef struct sched_gpu {
    char *vendor, *model, *uuid, *pci_bus_id;
    /* a MIG instance: its profile, the end of model (gpu_mig_profile());
     * NULL for a whole GPU */
    const char *mig_profile;
    char *unhealthy; /* why it is sick (SCHED_EV_GPU_HEALTH), NULL: healthy */
    uint64_t memory_bytes;
    int numa;
    int group;    /* dense group index on this node */
    int group_id; /* as reported */
} sched_gpu_t;

typedef struct sched_node {
    uint32_t id;
    char *name;
    sched_node_state_t state;    /* effective: derived from the two below */
    sched_node_state_t presence; /* UP, RETURNING, DOWN or REMOVED */
    bool drained;                /* by an operator, until undrained */
    char *drain_reason;          /* NULL when not drained or none given */
    uint32_t nnuma, ncores, ngpus, nlabels, ngroups;
    uint64_t *numa_memory;
    uint16_t *core_numa;
    sched_gpu_t *gpus;
    char **labels;
    uint64_t *group_mask;    /* GPUs of each locality group */
    uint64_t *numa_gpu_mask; /* GPUs of each NUMA domain */
    /* accounting */
    uint64_t mem_total, mem_free;
    uint32_t free_cores;
    uint32_t *numa_free_cores;
    uint64_t *core_free; /* bitset, words_for(ncores) */
    uint64_t gpu_free;   /* bitset of free GPUs */
    uint64_t gpu_mig;    /* bitset of the GPUs that are MIG instances */
    uint64_t gpu_sick;   /* bitset of the GPUs marked unhealthy: never placed on */
    uint32_t free_gpus;
    /* index bucket the node sits in, or -1 when not indexed */
    int bucket_g, bucket_c;
} sched_node_t;

/* A removed node (a tombstone: cluster.h): in no count of the cluster. */
static inline bool cluster_node_gone(const sched_node_t *n)
{
    return n->presence == SCHED_NODE_REMOVED;
}

/* Nodes that are up, bucketed by (free GPUs, free cores); each bucket is a
 * bitset over node ids so iteration is in id order (deterministic). */
typedef struct node_bucket {
    uint32_t count;
    uint64_t *bits; /* words_for(nodes_cap) */
} node_bucket_t;

typedef struct node_index {
    uint32_t maxg, maxc; /* dimensions: (maxg+1) x (maxc+1) buckets */
    node_bucket_t *b;
    uint32_t *row_count; /* nodes per free-GPU value */
    uint32_t words;      /* words per bucket bitset */
} node_index_t;

/* --- network topology (topo.c) ------------------------------------------ */

#define TOPO_NONE UINT32_MAX

/* One level: its domains are the values nodes carry in the label
 * "topology.<name>=<value>", by domain id (in the order first seen);
 * rank[d]: domain d's position in value order (ties and rank order). */
typedef struct topo_level {
    char *name;
    char *key; /* "topology.<name>=" */
    size_t keylen;
    char **vals;
    uint32_t *rank;
    uint32_t nvals;
    size_t vals_cap, rank_cap;
} topo_level_t;

/* The levels, tightest first, and each node's domain per level, computed
 * when the node is added (a node's labels change only then), so a pass
 * compares ids, never strings. */
typedef struct topo {
    char *spec; /* the levels as configured (sched_config_t points here) */
    topo_level_t *levels;
    uint32_t nlevels;
    uint32_t *node_dom; /* [node * nlevels + level]: domain id or TOPO_NONE */
    size_t node_dom_cap;
    /* scratch of a placement: per domain counts (the largest level) */
    uint32_t *cnt;
    uint64_t *sumg, *sumc;
    size_t scratch_cap;
} topo_t;

/* Is name a level name (letters, digits, '_', '-'; 1..63 bytes)? */
bool topo_name_ok(const char *name);
/* Parse levels into t (empty: none). 0, SCHED_EINVAL (message in err)
 * or SCHED_ENOMEM; t is then empty. */
int topo_init(topo_t *t, const char *levels, cairn_error_t *err);
void topo_fini(topo_t *t);
struct sched;
/* Node's domains from its labels (after it was added or added again). */
int topo_node_update(struct sched *s, uint32_t node);
static inline uint32_t topo_dom(const topo_t *t, uint32_t node, uint32_t level)
{
    return t->node_dom[(size_t)node * t->nlevels + level];
}

/* Visit the up nodes with at least gpus GPUs and cpus cores free in
 * best-fit order (fewest free GPUs, then cores, then id) until fn returns
 * true; returns that node, or -1. Inline so that each caller's fn is too
 * (find_node in place.c is on the hot path). */
static inline int64_t index_walk(const node_index_t *ix, uint32_t gpus, uint32_t cpus,
                                 bool (*fn)(uint32_t n, void *arg), void *arg)
{
    if (!ix->b)
        return -1;
    for (uint32_t g = gpus; g <= ix->maxg; g++) {
        if (ix->row_count[g] == 0)
            continue;
        for (uint32_t cc = cpus; cc <= ix->maxc; cc++) {
            const node_bucket_t *b = &ix->b[(size_t)g * (ix->maxc + 1) + cc];
            uint32_t seen = 0;
            for (uint32_t w = 0; w < ix->words && seen < b->count; w++) {
                uint64_t bits = b->bits[w];
                while (bits) {
                    uint32_t n = w * 64 + (uint32_t)__builtin_ctzll(bits);
                    bits &= bits - 1;
                    seen++;
                    if (fn(n, arg))
                        return n;
                }
            }
        }
    }
    return -1;
}

/* --- GPU model matching (gpu_match.c) ----------------------------------- */

/* A request's GPU model, ready to match: whole words, or "~REGEX" compiled
 * (owned, on the heap so the struct may move). */
typedef struct gpu_match {
    const char *want; /* borrowed; NULL: not initialised (matches nothing) */
    struct re_pattern_buffer *re;
} gpu_match_t;
/* 0, or -1 with why the model cannot be matched (no words, bad pattern);
 * an empty or NULL want leaves m unset (the caller means "any"). */
int gpu_match_init(gpu_match_t *m, const char *want, char *why, size_t n);
void gpu_match_fini(gpu_match_t *m);
bool gpu_match(const gpu_match_t *m, const char *model);
/* The MIG profile of a model named as NVML names MIG instances ("NVIDIA
 * H100 80GB HBM3 MIG 1g.10gb": "1g.10gb", a pointer into model), or NULL
 * for a whole GPU. */
const char *gpu_mig_profile(const char *model);
/* Does the request take this MIG instance? Only one that asks for MIG:
 * plain words that match the model and name its profile ("1g.10gb", "H100
 * 1g.10gb"), or a pattern that matches it and mentions MIG. */
bool gpu_match_mig(const gpu_match_t *m, const char *model, const char *profile);

/* --- jobs, tasks, attempts --------------------------------------------- */

/* Tasks with an identical request share a class; a pass tries each class
 * head in priority order and blocks the class when the head does not fit. */
typedef struct task_class {
    uint32_t id;
    uint32_t cpus, gpus, replicas, nlabels;
    uint64_t memory, gpu_min_memory;
    int64_t time_limit_ms;
    char *gpu_model;
    gpu_match_t match; /* gpu_model compiled: class_match_init() */
    bool gpu_mixed;    /* sched_request_t .gpu_mixed */
    /* topology (job.h: placement): the mode, the level's name and its
     * index in the core's levels (-1: not one of them) */
    uint8_t place_mode;
    int8_t place_ix;
    char *place_level;
    /* while one placement looks at it (a copy, place.c): only GPUs of this
     * vendor and model are eligible (a gang's one model); NULL: any */
    const char *only_vendor, *only_model;
    char **labels;
    /* ready queue: one level per priority, highest first */
    struct prio_level *levels;
    uint32_t nlevels;
    size_t levels_cap;
    uint32_t next; /* hash chain, UINT32_MAX = end */
    uint64_t hash;
    bool active; /* listed in sched.active */
    /* typical run time of its attempts, ms x 16 (sched_config_t
     * .prefetch_max), and whether one has ended yet */
    int64_t run_avg16;
    bool run_known;
} task_class_t;

/* Ready tasks of one class and one priority. Tasks mostly arrive in
 * submission order and go to a FIFO (sequential memory, O(1)); the few that
 * arrive out of order (retries) go to a small heap. */
typedef struct prio_level {
    int32_t prio;
    uint32_t acct; /* levels are per (priority, account) */
    struct task_ref *fifo;
    uint32_t head, len;
    size_t cap;
    struct task_ref *heap;
    uint32_t heap_len;
    size_t heap_cap;
} prio_level_t;

typedef struct task_ref {
    uint32_t job, task;
    uint32_t acct; /* the job's account */
    uint32_t gen;  /* the task's attempt count when queued; stale entries differ */
    int32_t prio;  /* copy of the task's priority: heap compares touch no task */
} task_ref_t;

typedef struct sched_task {
    const char *name, *kind, *workdir; /* in the job arena */
    const char *const *argv;
    const char *const *env;
    const char *const *outputs;
    const char *cache_base; /* NULL: not cached (job.h) */
    bool cache_reuse;
    const uint32_t *deps;       /* indexes in the job */
    const uint32_t *dependents; /* indexes in the job */
    const sched_retry_policy_t *retry;
    uint64_t seed;
    int64_t time_limit_ms;
    int64_t ready_at_ms; /* RETRYING: eligible from then on */
    uint64_t attempt;    /* current / latest attempt id, 0 = none */
    uint32_t argc, nenv, noutputs, ndeps, ndependents;
    uint32_t unfinished_deps;
    uint32_t cls;
    uint32_t replicas;
    int32_t priority;
    uint16_t attempts;
    /* preemption (preempt.c): the spec's grace and cap (effective), the
     * times it was a victim, its attempts that ended preempted (they do
     * not count against retry->max_attempts) */
    int64_t grace_ms;
    uint16_t max_preempt, preemptions, requeues;
    uint8_t preemptible : 1;
    uint8_t state;
    uint8_t queued : 1; /* in its class heap */
    uint8_t cancel_requested : 1;
    uint8_t cancelled_upstream : 1; /* cancelled because a need was */
} sched_task_t;

typedef struct sched_job {
    uint32_t id;
    char *name, *user;
    uint32_t account;
    uint64_t seed;
    int64_t submitted_ms;
    int64_t done_ms; /* when its last task ended (0 while one has not) */
    uint32_t ntasks, nended;
    sched_task_t *tasks;
    uint32_t *by_name; /* task indexes sorted by name */
    char *arena;       /* strings and arrays of all tasks */
    sched_retry_policy_t *policies;
} sched_job_t;

typedef struct sched_alloc {
    uint32_t node;
    uint32_t ncores;
    uint32_t *cores;
    uint64_t gpu_mask;
    uint64_t memory_bytes;
} sched_alloc_t;

typedef struct sched_attempt {
    uint64_t id;
    uint64_t prev; /* the task's previous attempt */
    uint32_t job, task;
    uint16_t number;
    uint8_t end;
    uint8_t end_class; /* sched_end_class_t, set with a FINISH */
    uint8_t running;   /* holds its allocations */
    int exit_code, signal;
    int64_t placed_ms, started_ms, ended_ms;
    uint32_t nreplicas;
    sched_alloc_desc_t *allocs;
    /* why it was placed there */
    uint32_t left_gpus, left_cores; /* on the first replica's node after placement */
    uint8_t gpu_spread;             /* 0 none, 1 one switch, 2 one NUMA, 3 across NUMA */
    uint8_t cores_local;            /* cores all on the GPUs' NUMA domains */
    uint32_t running_ix;            /* position in sched.running while running */
    uint64_t after;                 /* placed queued behind this attempt */
    uint64_t next;                  /* the attempt queued behind this one */
    uint8_t queued;                 /* alive, waiting for `after`: holds nothing */
    /* preempted (SCHED_EV_PREEMPT): by whom and why; while running it is
     * being stopped (it keeps its allocations until its end) */
    uint8_t preempt_why; /* sched_preempt_why_t; 0: not preempted */
    uint32_t by_job, by_task;
    int32_t by_prio;
    uint32_t by_acct;     /* fair share: the preemptor's account that was below */
    int64_t grace_end_ms; /* when it is killed at the latest */
    uint32_t pre_ix;      /* position in sched.pre while a candidate victim */
} sched_attempt_t;

/* A candidate victim (sched.pre): a running attempt of a preemptible
 * task, with what a victim search reads of it, so the search reads no
 * attempt, job or task. */
typedef struct pre_ref {
    uint64_t id;
    int32_t prio;  /* its task's */
    uint32_t acct; /* its job's */
    int64_t young; /* its start, or its placement until one is reported */
    uint32_t nreplicas;
    sched_alloc_desc_t a0;            /* its first replica (cores not used) */
    const sched_alloc_desc_t *allocs; /* all of them (the attempt's) */
} pre_ref_t;

/* How many candidate victims (sched.pre) have one priority. */
typedef struct prio_count {
    int32_t prio;
    uint32_t count;
} prio_count_t;

/* A preemption in progress: the preemptor (a ready task) and the
 * attempts it preempted, whose nodes are reserved for it in every pass
 * until it is placed or ends (SCHED_EV_PREEMPT). */
typedef struct preempt_hold {
    uint32_t job, task;
    int64_t grace_end_ms;
    uint32_t nvictims;
    uint64_t *victims; /* ascending */
    uint32_t nnodes;
    uint32_t *nodes; /* the victims' nodes, ascending */
} preempt_hold_t;

/* An attempt holding resources, with the time its time limit ends
 * (INT64_MAX when it has none), kept compact for backfill planning. */
typedef struct running_ref {
    uint64_t id;
    int64_t end_ms;
} running_ref_t;

static inline bool running_before(const running_ref_t *a, const running_ref_t *b)
{
    return a->end_ms != b->end_ms ? a->end_ms < b->end_ms : a->id < b->id;
}

/* A reservation made in the last pass for a blocked high-priority task. */
typedef struct sched_reservation {
    task_ref_t task;
    int64_t start_ms; /* shadow time */
    uint32_t nnodes;
    uint32_t *nodes;
} sched_reservation_t;

/* Jobs and attempts by id. Ids are handed out in order and never reused;
 * a retired one leaves a NULL slot until every older one is retired too,
 * when the window moves past them and gives their room back (window.c). */
typedef struct id_window {
    void **slot;          /* slot[off + i] holds id base + i; NULL: retired */
    size_t off, len, cap; /* slots in use: [off, len) */
    uint64_t base;        /* the id of slot[off] */
    size_t live;          /* slots not NULL */
} id_window_t;

static inline void *win_get(const id_window_t *w, uint64_t id)
{
    uint64_t i = id - w->base; /* an id below the window wraps past its end */
    return i < w->len - w->off ? w->slot[w->off + i] : NULL;
}
/* The id the next win_push gives. */
static inline uint64_t win_next_id(const id_window_t *w)
{
    return w->base + (w->len - w->off);
}
/* p takes the next id: 0 or SCHED_ENOMEM (nothing changed). */
int win_push(id_window_t *w, void *p);
/* Undo the last win_push (its id is given again). */
static inline void win_pop(id_window_t *w)
{
    w->len--;
    w->live--;
}
/* Id leaves (its slot becomes NULL); the window moves past retired ids at
 * its start, and shrinks when it emptied. */
void win_clear(id_window_t *w, uint64_t id);
void win_fini(id_window_t *w);

/* An account (sched.h). The held counts are of its subtree; usage is of
 * its own jobs, decayed to usage_ms (accounts.c). */
typedef struct sched_account {
    char *name;
    uint32_t parent; /* SCHED_ACCOUNT_NONE: top level */
    uint32_t share, max_gpus, max_cpus, max_running;
    int32_t max_priority;
    bool deleted;
    uint32_t nchildren;
    uint32_t held_gpus, held_cpus, held_running;
    uint64_t usage; /* core-ms (GPU-ms weighted), at usage_ms */
    int64_t usage_ms;
    uint64_t rate; /* core-ms per ms of its own attempts holding resources */
} sched_account_t;

struct sched {
    sched_config_t cfg;
    /* accounts by id; 0 is "default" */
    sched_account_t *accts;
    size_t naccts, accts_cap;
    uint32_t *acct_rank; /* derived by the last pass: fair-tree rank by id */
    size_t acct_rank_cap;
    /* cluster */
    sched_node_t *nodes;
    size_t nnodes, nodes_cap;
    uint32_t *node_by_name; /* node ids sorted by name */
    node_index_t index;
    /* jobs (sched_job_t *) and attempts (sched_attempt_t *, each one block
     * with its allocations) by id, from 1 */
    id_window_t jobs, attempts;
    /* retired: jobs, and their tasks by final state (sched_task_state_t) */
    uint32_t retired_jobs;
    uint64_t retired_tasks[8];
    /* attempt ids in the order they ended (sched_ended_list), from the
     * ended_base-th on: the daemon trims what it has recorded */
    uint64_t *ended;
    size_t nended, ended_cap;
    uint64_t ended_base;
    struct running_ref *running; /* attempts holding resources */
    size_t nrunning, running_cap;
    /* task classes */
    task_class_t *classes;
    size_t nclasses, classes_cap;
    uint32_t *class_hash; /* bucket heads, UINT32_MAX = empty */
    size_t class_hash_cap;
    uint32_t *active; /* classes whose heaps may be non-empty */
    size_t nactive, active_cap;
    /* tasks waiting out a backoff: heap ordered by (ready_at, job, task) */
    task_ref_t *retry_heap;
    size_t retry_len, retry_cap;
    /* derived by the last pass (not part of the state proper) */
    sched_reservation_t *resv;
    uint32_t nresv;
    uint32_t *resv_of; /* per node: reservation index + 1, 0 = none */
    size_t resv_of_cap;
    int64_t last_pass_ms;
    /* preemption (preempt.c): holds in the order they were made; the
     * running attempts of preemptible tasks not preempted yet (derived,
     * unordered); the first nresv_hold reservations of a pass are the
     * holds'; the task try_place is placing (its own hold lets it in) */
    preempt_hold_t *holds;
    size_t nholds, holds_cap;
    pre_ref_t *pre;
    size_t npre, pre_cap;
    struct prio_count *pre_prio; /* candidates by priority, ascending */
    size_t npre_prio, pre_prio_cap;
    size_t resv_cap;
    uint32_t nresv_hold;
    task_ref_t placing;
    topo_t topo;
};

static inline sched_job_t *job_at(const sched_t *s, uint32_t id)
{
    return win_get(&s->jobs, id);
}
static inline sched_attempt_t *attempt_at(const sched_t *s, uint64_t id)
{
    return win_get(&s->attempts, id);
}
/* A task of a job that is there (not retired). */
static inline sched_task_t *task_at(const sched_t *s, task_ref_t r)
{
    return &job_at(s, r.job)->tasks[r.task];
}

/* cluster.c */
int cluster_node_add(sched_t *s, const sched_node_desc_t *d, cairn_error_t *err);
int cluster_node_set_state(sched_t *s, uint32_t node, sched_node_state_t st, const char *reason,
                           cairn_error_t *err);
/* Forget an idle node (SCHED_EV_NODE_REMOVE; cluster.h): SCHED_ENOENT,
 * SCHED_EINVAL (removed already) or SCHED_ECONFLICT (attempts run or wait
 * there), nothing changed. */
int cluster_node_remove(sched_t *s, uint32_t node, cairn_error_t *err);
/* SCHED_EV_GPU_HEALTH: mark GPU gpu of node sick with reason, or healthy
 * (reason NULL). 0, SCHED_ENOENT, SCHED_EINVAL (no change to make),
 * SCHED_ENOMEM. */
int cluster_gpu_health(sched_t *s, uint32_t node, uint32_t gpu, const char *reason,
                       cairn_error_t *err);
/* The GPUs of n that new work may take: free and not sick. */
static inline uint64_t node_gpu_open(const sched_node_t *n)
{
    return n->gpu_free & ~n->gpu_sick;
}
/* The simulation's node back (sim.h): up again with the hardware it had,
 * its drain as it was, its attempts kept (as a NODE_ADD of the same
 * hardware does). SCHED_ENOENT or SCHED_EINVAL (removed). */
int cluster_node_back(sched_t *s, uint32_t node, cairn_error_t *err);
/* Nodes that were not removed: what validation and explanations count. */
size_t cluster_nodes_known(const sched_t *s);
int cluster_alloc_check(const sched_t *s, const sched_alloc_desc_t *a, cairn_error_t *err);
void cluster_alloc_take(sched_t *s, const sched_alloc_desc_t *a);
void cluster_alloc_release(sched_t *s, const sched_alloc_desc_t *a);
void cluster_index_fini(node_index_t *ix);
void cluster_node_fini(sched_node_t *n);
void cluster_index_update(sched_t *s, sched_node_t *n);

/* fit.c: does a node match a class, and choose GPUs and cores on it */
typedef enum fit_reason {
    FIT_OK = 0,
    FIT_DOWN,
    FIT_DRAINING,
    FIT_RETURNING,
    FIT_LABELS,
    FIT_GPU_MODEL,
    FIT_GPU_MEMORY,
    FIT_CAP_GPUS,
    FIT_CAP_CORES,
    FIT_CAP_MEMORY,
    FIT_FREE_GPUS,
    FIT_FREE_CORES,
    FIT_FREE_MEMORY,
    FIT_RESERVED,
    FIT_GANG_PEER,
    FIT_NREASONS
} fit_reason_t;
const char *fit_reason_text(fit_reason_t r);
uint64_t fit_gpu_eligible(const sched_node_t *n, const task_class_t *c);
fit_reason_t fit_node(const sched_node_t *n, const task_class_t *c);
fit_reason_t fit_node_capacity(const sched_node_t *n, const task_class_t *c);
/* A kind of GPU: the same vendor and model name. Unless its request says
 * gpu.mixed, a gang's replicas all get GPUs of one kind (fit_gang_one_kind),
 * so a job never spans an AMD and an NVIDIA node, or two models. */
typedef struct gpu_kind {
    const char *vendor, *model; /* borrowed from a node */
} gpu_kind_t;
bool fit_gang_one_kind(const task_class_t *c);
/* The kinds of the GPUs class c could take on up nodes: free ones on nodes
 * that fit it now (free_only), else any on nodes that could ever run it;
 * sorted by vendor, then model. *out is malloc'd (NULL when none); returns
 * how many, or SCHED_ENOMEM. */
int fit_gpu_kinds(const sched_t *s, const task_class_t *c, bool free_only, gpu_kind_t **out);
/* The same with free_only, over nodes ids[0..n) that fit c now (their
 * eligible free GPUs), without looking at the others. */
int fit_gpu_kinds_among(const sched_t *s, const task_class_t *c, const uint32_t *ids, size_t n,
                        gpu_kind_t **out);
/* c restricted to one kind (a copy that borrows c's strings). */
task_class_t fit_only_kind(const task_class_t *c, const gpu_kind_t *k);
/* Choose GPUs and cores for class c on node n (which fits). cores must have
 * room for c->cpus entries. (Why-there explanations are derived from the
 * allocation when it is applied: attempt.c, place_explain.) */
void fit_choose(const sched_node_t *n, const task_class_t *c, uint32_t *cores, uint64_t *gpu_mask);

/* job.c */
int job_submit(sched_t *s, const sched_job_spec_t *spec, int64_t now_ms, cairn_error_t *err);
void job_destroy(sched_job_t *j);
/* Build j's tasks from spec (checked already: no validation here), their
 * classes interned, needs resolved by name; j->ntasks set. 0 or
 * SCHED_ENOMEM (j then holds what was built: job_destroy it). */
int job_build_tasks(sched_t *s, sched_job_t *j, const sched_job_spec_t *spec);
/* One more of j's tasks ended (at now_ms). */
void job_task_ended(sched_job_t *j, int64_t now_ms);
/* retire.c: SCHED_EV_JOB_RETIRE */
int job_retire(sched_t *s, const sched_event_t *ev, cairn_error_t *err);
void task_make_ready(sched_t *s, task_ref_t r);
void task_finished(sched_t *s, task_ref_t r, sched_task_state_t final, int64_t now_ms);
void class_fini(task_class_t *c);
int class_intern(sched_t *s, const sched_task_spec_t *t, uint32_t *cls);
/* A borrowed view of a spec's request; its GPU model is not compiled:
 * class_match_init() before fitting it, class_match_fini() after. */
void class_from_spec(task_class_t *c, const sched_task_spec_t *t);
int class_match_init(task_class_t *c);
/* The request of one replica of c's tasks (borrowing c's strings). */
sched_request_t class_request(const task_class_t *c);
void class_match_fini(task_class_t *c);
bool task_eligible(const sched_t *s, task_ref_t r);
uint64_t class_hash(const task_class_t *c);
bool class_equal(const task_class_t *a, const task_class_t *b);
bool task_before(const sched_t *s, task_ref_t a, task_ref_t b);
void class_heap_push(sched_t *s, task_class_t *c, task_ref_t r);
/* Order each active class's levels by priority, then the accounts' ranks
 * (after acct_rank_update: once per pass). */
void class_levels_sort(sched_t *s);
/* limits: pass over accounts at a limit (class.c) */
bool class_heap_peek(sched_t *s, task_class_t *c, task_ref_t *r, bool limits);
void retry_heap_push(sched_t *s, task_ref_t r);
void retry_heap_release_due(sched_t *s, int64_t now_ms);
/* Drop the entries of job (retired: all of them stale) from the retry heap. */
void retry_heap_drop_job(sched_t *s, uint32_t job);

/* attempt.c */
/* A zeroed attempt with a copy of its allocations, in one block (free()). */
sched_attempt_t *attempt_new(const sched_alloc_desc_t *allocs, uint32_t nr);
/* at holds its allocations until end_ms (its time limit): in the running heap. */
int running_add(sched_t *s, sched_attempt_t *at, int64_t end_ms);
int attempt_place(sched_t *s, const sched_event_t *ev, cairn_error_t *err);
int attempt_start(sched_t *s, const sched_event_t *ev, cairn_error_t *err);
int attempt_finish(sched_t *s, const sched_event_t *ev, cairn_error_t *err);
void attempt_end(sched_t *s, sched_attempt_t *at, sched_end_t end, int code, int sig,
                 int64_t now_ms);
int attempts_node_lost(sched_t *s, uint32_t node, int64_t now_ms);
void reservations_clear(sched_t *s);
/* place.c: may a task with this time limit use node n at now_ms
 * (reservations of the pass)? */
bool place_resv_allows(const sched_t *s, uint32_t n, int64_t time_limit_ms, int64_t now_ms);

/* topo.c: a gang's placement by topology. */
typedef struct topo_pick {
    int level;           /* the level of the domain chosen; -1: none fits */
    uint32_t dom;        /* its id at that level */
    uint64_t sumg, sumc; /* free GPUs and cores on its nodes that fit */
    uint32_t *nodes;     /* replicas' nodes in rank order (the caller's room) */
} topo_pick_t;
/* The up nodes that fit c now and that the pass's reservations let it
 * use, in best-fit order (the node index's). Returns how many; cand holds
 * s->nnodes. */
uint32_t topo_candidates(const sched_t *s, const task_class_t *c, int64_t now_ms, uint32_t *cand);
/* Among candidates cand[0..nc) of class c (topo_candidates' order): the
 * tightest domain, at c's level or tighter, whose candidates hold all its
 * replicas, best fit (fewest free GPUs, then cores, on them; then value
 * order); in it the best-fit nodes, ordered so that each tighter domain's
 * nodes are consecutive. pick->nodes must hold c->replicas; pick->level
 * is -1 when no domain has room. */
void topo_choose(sched_t *s, const task_class_t *c, const uint32_t *cand, uint32_t nc,
                 topo_pick_t *pick);
/* Is pick better than best (a tighter level, then best fit, then value
 * order)? */
bool topo_pick_better(const sched_t *s, const topo_pick_t *pick, const topo_pick_t *best);
/* Order a gang's allocations so that nodes of one domain are consecutive
 * at every level (outermost first, then node id). */
void topo_order_allocs(const sched_t *s, sched_alloc_desc_t *allocs, uint32_t n);
/* The tightest level at which nodes share one domain; -1 when none. */
int topo_common_level(const sched_t *s, const sched_alloc_desc_t *allocs, uint32_t n,
                      uint32_t *dom);

/* preempt.c */
struct acct_fs;
/* Attempt at holds resources now: a candidate victim if its task is
 * preemptible (sched.pre). */
void preempt_candidate_add(sched_t *s, sched_attempt_t *at);
void preempt_candidate_remove(sched_t *s, sched_attempt_t *at);
/* Rebuild sched.pre from the attempts (after a snapshot load). */
int preempt_candidates_rebuild(sched_t *s);
int preempt_apply(sched_t *s, const sched_event_t *ev, cairn_error_t *err);
/* The preemptor task r was placed or ended: its hold goes. */
void preempt_hold_drop(sched_t *s, task_ref_t r);
void preempt_holds_fini(sched_t *s);
/* The hold of task r, or NULL; active: one of its victims still runs. */
const preempt_hold_t *preempt_hold_of(const sched_t *s, task_ref_t r);
bool preempt_hold_active(const sched_t *s, const preempt_hold_t *h);
/* At a pass's start: reserve the nodes of every active hold for its
 * preemptor (s->resv[0 .. nresv_hold)). 0 or SCHED_ENOMEM. */
int preempt_reserve(sched_t *s, int64_t now_ms);
/* Pass state for the victim searches of one pass. */
typedef struct preempt_pass {
    uint32_t searches;
    int32_t min_prio; /* lowest priority among the candidates */
    bool any;         /* there are candidates at all */
} preempt_pass_t;
void preempt_pass_init(const sched_t *s, preempt_pass_t *pp);
/* Blocked task r of class c may preempt: 1 when a SCHED_EV_PREEMPT was
 * applied (and handed to cb), 0 when not, or a negative code. */
int preempt_try(sched_t *s, preempt_pass_t *pp, const task_class_t *c, task_ref_t r, int64_t now_ms,
                sched_place_f cb, void *arg);
/* Why a preemptor of priority prio and account acct may preempt an
 * attempt of task v (of job vj): SCHED_PREEMPT_NONE when it may not;
 * *by_acct: the account its explanation names. fs: fair share now (NULL:
 * not computed: priority only). */
sched_preempt_why_t preempt_victim_why(const sched_t *s, const struct acct_fs *fs, int32_t prio,
                                       uint32_t acct, int32_t vprio, uint32_t vacct,
                                       uint32_t *by_acct);
/* Attempt at of task v may be preempted: it holds its allocation, its task
 * is preemptible, not past its preemptions, not cancelled, not being
 * stopped already. (The candidates in sched.pre are those.) */
bool preempt_victim_ok(const sched_attempt_t *at, const sched_task_t *v);
/* Its start was reported: a candidate's age (victim order) changes. */
void preempt_candidate_started(sched_t *s, const sched_attempt_t *at);
/* preempt_search.c: the victims task r of class c should preempt now
 * (docs/algorithms.md): *out (malloc'd, ascending ids) and how many; 0
 * when no choice of victims makes room; or a negative code. */
int preempt_search(sched_t *s, const task_class_t *c, task_ref_t r, int64_t now_ms, uint64_t **out);
/* Effective max preemptions of a task spec under s's config. */
uint32_t preempt_max(const sched_t *s, const sched_task_spec_t *ts);
/* The attempts of t that count against its retry policy. */
static inline uint32_t task_attempts_used(const sched_task_t *t)
{
    return (uint32_t)t->attempts - t->requeues;
}

/* cancel.c */
int job_cancel(sched_t *s, const sched_event_t *ev, cairn_error_t *err);

/* accounts.c */
int acct_init(sched_t *s);
void acct_fini(sched_t *s);
int account_set(sched_t *s, const sched_event_t *ev, cairn_error_t *err);
int account_delete(sched_t *s, const sched_event_t *ev, cairn_error_t *err);
/* Live account id by name (NULL or "": default); SCHED_ACCOUNT_NONE. */
uint32_t acct_lookup(const sched_t *s, const char *name);
/* The account (acct or an ancestor) whose limit one more attempt of class
 * c would exceed, and which limit (0 GPUs, 1 cores, 2 running);
 * SCHED_ACCOUNT_NONE when it fits. */
uint32_t acct_limit_hit(const sched_t *s, uint32_t acct, const task_class_t *c, int *which);
static inline bool acct_fits(const sched_t *s, uint32_t acct, const task_class_t *c)
{
    int w;
    return s->naccts <= 1 || acct_limit_hit(s, acct, c, &w) == SCHED_ACCOUNT_NONE;
}
/* An attempt was placed (sign 1) or ended (-1): its holdings count
 * against its account's limits; holding: it holds resources (not queued),
 * so its account is charged usage while it does. */
void acct_attempt(sched_t *s, const sched_attempt_t *at, int sign, bool holding, int64_t now_ms);
/* A queued attempt took over its predecessor's allocation. */
void acct_attempt_holds(sched_t *s, const sched_attempt_t *at, int64_t now_ms);
/* Fair-tree ranks into s->acct_rank (once per pass). */
int acct_rank_update(sched_t *s, int64_t now_ms);
static inline uint32_t acct_rank(const sched_t *s, uint32_t acct)
{
    return acct < s->acct_rank_cap ? s->acct_rank[acct] : 0;
}
/* Rebuild the derived counts (held, rate, nchildren) from the attempts
 * (after a snapshot load). */
void acct_rebuild(sched_t *s);
/* Fair share at one time, for preemption: each account's subtree usage,
 * and per parent (index naccts: the top level) the sums of its live
 * children's shares and subtree usages. */
typedef struct acct_fs {
    uint64_t *tree, *sum_share, *sum_usage;
} acct_fs_t;
int acct_fs_init(const sched_t *s, int64_t now_ms, acct_fs_t *fs);
void acct_fs_fini(acct_fs_t *fs);
/* Where the paths of accounts p and v part: the siblings *bp (p's side)
 * and *bv; false when one is the other or its ancestor. */
bool acct_fs_branches(const sched_t *s, uint32_t p, uint32_t v, uint32_t *bp, uint32_t *bv);
/* Account a against its fair share among its siblings: its usage
 * fraction compared with its share fraction (-1 below, 0 at, 1 above). */
int acct_fs_side(const sched_t *s, const acct_fs_t *fs, uint32_t a);
/* How far a is above its share: usage fraction / share fraction, Q16
 * (65536: at its share), saturating. */
uint64_t acct_fs_ratio(const sched_t *s, const acct_fs_t *fs, uint32_t a);

/* problem.c: one validation problem, its place and its message */
void problem_add(sched_problems_t *p, sched_problem_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* retry.c */
bool retry_wanted(const sched_retry_policy_t *p, sched_end_t end, sched_end_class_t cls, int code,
                  int sig);

#endif
