/* The scheduling core: cluster, jobs, placement, retries and explanations.
 *
 * Pure and deterministic: no I/O, no clock (time is an argument), no global
 * state, no unseeded randomness. The state changes only through
 * sched_apply(); sched_place() decides placements and applies them as
 * SCHED_EV_PLACE events, handing each to a callback so the caller can
 * journal it. Replaying those events gives the same state.
 */
#ifndef CAIRN_SCHED_H
#define CAIRN_SCHED_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "scheduling/cluster.h"
#include "scheduling/event.h"
#include "scheduling/job.h"

typedef struct sched sched_t;

typedef enum sched_task_state {
    SCHED_TASK_PENDING = 0, /* waiting for dependencies */
    SCHED_TASK_READY,       /* may be placed */
    SCHED_TASK_RUNNING,     /* an attempt is placed or running */
    SCHED_TASK_RETRYING,    /* waiting out its backoff before the next attempt */
    SCHED_TASK_SUCCEEDED,
    SCHED_TASK_FAILED,
    SCHED_TASK_CANCELLED,
    SCHED_TASK_UPSTREAM_FAILED,
} sched_task_state_t;

/* The core's error codes: negative errno values, so that they share the
 * one code space of every part of Cairn (common/error.h) and a daemon can
 * pass them on as they are. */
typedef enum sched_err {
    SCHED_OK = 0,
    SCHED_EINVAL = -EINVAL,   /* malformed event or argument */
    SCHED_ENOENT = -ENOENT,   /* unknown node, job, task or attempt */
    SCHED_ESTALE = -ESTALE,   /* report for an attempt that is no longer current */
    SCHED_ECONFLICT = -EBUSY, /* would allocate something twice or go negative */
    SCHED_ESPEC = -EDOM,      /* job spec failed validation */
    SCHED_ENOMEM = -ENOMEM,
} sched_err_t;

/* The name of a code ("SCHED_ENOENT"), "SCHED_OK" for 0, NULL for a code
 * the core never returns. */
const char *sched_err_name(int code);

typedef struct sched_config {
    uint32_t max_reservations; /* backfill reservations per pass (default 1) */
    /* Queue up to this many tasks on a full node behind each running
     * attempt of the same shape, so the worker starts the next the moment
     * one ends, without a round trip to the scheduler. Only for the
     * highest-priority blocked class of a pass, and never while a backfill
     * reservation is held. 0 (the default): off. */
    uint32_t prefetch;
    /* Lines of a class whose attempts run short grow past .prefetch, up to
     * prefetch_max: as many as run in prefetch_window_ms at the class's
     * typical run time (a running average of its ended attempts' start to
     * end, from the events' times, so replay derives the same). A node of
     * long tasks keeps short lines (a task queued there cannot move to a
     * node that frees up sooner); a node of millisecond tasks keeps enough
     * to stay busy while its reports travel. 0: lines stay at .prefetch. */
    uint32_t prefetch_max;
    uint32_t prefetch_window_ms;
    /* Fair share (accounts.c): usage counts a GPU-millisecond as this many
     * core-milliseconds (0: SCHED_FS_GPU_WEIGHT), and halves every
     * fs_half_life_ms (0: SCHED_FS_HALF_LIFE_MS). */
    uint32_t fs_gpu_weight;
    int64_t fs_half_life_ms;
    /* Preemption (preempt.c): a ready task that fits nowhere may preempt
     * preemptible running attempts of lower priority; with
     * preempt_for_fair_share also those of its own priority or lower whose
     * account is above its fair share while its own is below (sched.h:
     * accounts). A task is a victim at most max_preemptions_per_task times
     * (0: SCHED_MAX_PREEMPTIONS_DEFAULT) unless its spec says otherwise. */
    bool preempt_for_fair_share;
    uint32_t max_preemptions_per_task;
    /* Network topology (topo.c): the levels, tightest first, comma
     * separated ("rack,block": a rack lies inside a block); a node is in
     * domain V of level L when it carries the label "topology.L=V". A gang
     * whose spec asks for placement by a level is placed in one domain of
     * it or a tighter one (job.h). NULL or "": none. The core copies it;
     * it must pass sched_topology_levels_check(). */
    const char *topology_levels;
} sched_config_t;

/* Topology levels at most, and bytes in one level's name. */
#define SCHED_MAX_TOPOLOGY_LEVELS 8
#define SCHED_MAX_TOPOLOGY_NAME 64

/* Check a topology level list (sched_config_t .topology_levels): names of
 * letters, digits, '_' and '-', none twice, at most
 * SCHED_MAX_TOPOLOGY_LEVELS. 0, or SCHED_EINVAL with what is wrong. */
int sched_topology_levels_check(const char *levels, cairn_error_t *err);
/* Is name a topology level's name (letters, digits, '_', '-'; 1 to
 * SCHED_MAX_TOPOLOGY_NAME - 1 bytes)? */
bool sched_topology_level_name_ok(const char *name);
/* The index of level name in s's topology (0: the tightest), or -1. */
int sched_topology_level(const sched_t *s, const char *name);

#define SCHED_MAX_PREEMPTIONS_DEFAULT 5
/* Victim searches (preempt.c) one pass makes at most: each blocked class
 * makes one at most, and a pass makes no more than this many in all. */
#define SCHED_PREEMPT_SEARCHES_PER_PASS 8

#define SCHED_FS_GPU_WEIGHT 16
#define SCHED_FS_HALF_LIFE_MS (7LL * 24 * 3600 * 1000)

/* The scheduler daemon's prefetch (on unless --no-prefetch): lines of 2,
 * growing to 16 for classes whose attempts run short, to fill 20 ms. The
 * what-if simulation (sim.h) models the same. */
#define SCHED_PREFETCH_LINE 2
#define SCHED_PREFETCH_LINE_MAX 16
#define SCHED_PREFETCH_WINDOW_MS 20
/* The daemon's default configuration: one backfill reservation, prefetch
 * as above or off. */
sched_config_t sched_config_daemon(bool prefetch);

/* Create an empty state. cfg may be NULL for defaults. NULL on ENOMEM
 * (or topology levels that do not pass sched_topology_levels_check). */
sched_t *sched_create(const sched_config_t *cfg);
void sched_destroy(sched_t *s);

/* Apply one event. Returns 0, or a negative SCHED_E* code with a message in
 * err, in which case nothing changed. */
int sched_apply(sched_t *s, const sched_event_t *ev, cairn_error_t *err);

/* Called for each placement made by sched_place(), after it was applied. */
typedef void (*sched_place_f)(const sched_event_t *ev, void *arg);

/* Run one placement pass at time now_ms: place every ready task that can
 * start, in priority order, with backfill. Returns the number of attempts
 * placed (>= 0) or a negative code. */
int sched_place(sched_t *s, int64_t now_ms, sched_place_f cb, void *arg);

/* What a validation problem is about, so that a client can point at the
 * place in the spec it was made from. */
typedef enum sched_field {
    SCHED_FIELD_JOB = 0, /* the job as a whole (task -1) */
    SCHED_FIELD_TASK,    /* the task as a whole; task -1: the job's task list */
    SCHED_FIELD_NAME,    /* task -1: the job's name */
    SCHED_FIELD_ARGV,    /* index: the argument */
    SCHED_FIELD_ENV,     /* index: the entry */
    SCHED_FIELD_NEEDS,   /* index: the need */
    SCHED_FIELD_CPUS,
    SCHED_FIELD_MEMORY,
    SCHED_FIELD_GPUS,
    SCHED_FIELD_GPU_MODEL,
    SCHED_FIELD_GPU_MEMORY,
    SCHED_FIELD_LABELS, /* index: the selector */
    SCHED_FIELD_REPLICAS,
    SCHED_FIELD_PRIORITY,
    SCHED_FIELD_TIME_LIMIT,
    SCHED_FIELD_RETRY_ATTEMPTS,
    SCHED_FIELD_RETRY_BACKOFF,
    SCHED_FIELD_RETRY_MAX_BACKOFF,
    SCHED_FIELD_RETRY_FACTOR,
    SCHED_FIELD_RETRY_JITTER,
    SCHED_FIELD_RETRY_ON, /* index: the exit code */
    SCHED_FIELD_ACCOUNT,  /* task -1: the job's account */
    SCHED_FIELD_PLACEMENT,
    SCHED_FIELD_COUNT
} sched_field_t;

typedef struct sched_problem {
    int64_t task; /* index in spec->tasks; -1: the job */
    sched_field_t field;
    uint32_t index; /* the item of a list field, else 0 */
} sched_problem_t;

/* Validate a job spec against the current cluster without applying it.
 * Every problem found is appended to out: its message as one line of text
 * (lines separated by '\n') and its place as where[i] for line i; returns
 * the number of problems (0 = valid) or SCHED_ENOMEM. Checks that need the
 * cluster (requests no node can satisfy) are skipped while it has no nodes,
 * so with s == NULL only the spec itself is checked. out may be NULL. */
typedef struct sched_problems {
    char *text; /* malloc'd, lines separated by '\n'; free with sched_problems_fini */
    size_t len;
    uint32_t count;         /* problems found (lines kept: at most 1000) */
    sched_problem_t *where; /* one per line kept */
    uint32_t nwhere;
} sched_problems_t;
int sched_job_validate(const sched_t *s, const sched_job_spec_t *spec, sched_problems_t *out);
void sched_problems_fini(sched_problems_t *p);

/* The place as a path in the job spec's wire form: "" (the job), "name",
 * "tasks", "tasks[3]", "tasks[3].resources.gpus", "tasks[0].needs[1]",
 * "tasks[2].retry.on[0]". buf gets at most n bytes, NUL-terminated. */
void sched_problem_path(const sched_problem_t *p, char *buf, size_t n);
/* The inverse: 0, or SCHED_EINVAL (then *p is the job) for a path that is
 * not one of those. */
int sched_problem_parse(const char *path, sched_problem_t *p);

/* Does a GPU of this model satisfy a request for want? want is written as
 * people write models: whole words in order, ignoring case ("H100", "a100
 * 80GB"), or "~REGEX" (POSIX extended, ignoring case, searched in the
 * name). NULL or "" wants any. Returns 1 or 0, or SCHED_EINVAL (message in
 * err) when want cannot match anything (no words, bad pattern). */
int sched_gpu_model_match(const char *want, const char *model, cairn_error_t *err);

/* n bytes in human units: "80 GiB" or "80 GB" when exact, else "79.6 GiB". */
void sched_bytes_str(uint64_t n, char *buf, size_t len);

/* --- Queries ----------------------------------------------------------- */

uint32_t sched_node_count(const sched_t *s);
/* Node id by name; SCHED_ENOENT if unknown. */
int sched_node_find(const sched_t *s, const char *name, uint32_t *id);
const char *sched_node_name(const sched_t *s, uint32_t node);
/* Attempts in the order they ended, every way one can end (a finish, node
 * loss, a cancel): how many have ended, and up to max ids from the
 * from-th on (0-based). The daemon writes each ended attempt's record to
 * its history from this. */
size_t sched_ended_count(const sched_t *s);
size_t sched_ended_list(const sched_t *s, size_t from, uint64_t *ids, size_t max);
/* Forget the ids before the upto-th (the caller has what it needs of
 * them), so the list does not grow with every attempt ever ended; later
 * sched_ended_list calls from before upto give only what is left. */
void sched_ended_trim(sched_t *s, size_t upto);

/* The effective state (cluster.h: down and returning before draining). */
sched_node_state_t sched_node_state(const sched_t *s, uint32_t node);
/* Whether an operator drained the node (whatever its presence); *reason
 * (may be NULL) gets the reason given, "" when none. */
bool sched_node_drained(const sched_t *s, uint32_t node, const char **reason);

typedef struct sched_node_usage {
    uint32_t ncores, free_cores;
    uint32_t ngpus, free_gpus;
    uint64_t gpu_free_mask; /* bit i: GPU i is free */
    uint64_t mem_total, mem_free;
} sched_node_usage_t;
/* What is free on a node; SCHED_ENOENT if unknown. */
int sched_node_usage(const sched_t *s, uint32_t node, sched_node_usage_t *u);
/* Is core `core` of `node` free? */
bool sched_node_core_free(const sched_t *s, uint32_t node, uint32_t core);
/* The node's GPU i, or NULL. Strings are "" when unknown. */
const sched_gpu_desc_t *sched_node_gpu(const sched_t *s, uint32_t node, uint32_t i,
                                       sched_gpu_desc_t *out);

/* Jobs have ids 1..count, given in order and never again; those from
 * sched_job_first() on may be in the state (the others were retired:
 * SCHED_EV_JOB_RETIRE). Every query on a retired job or its tasks and
 * attempts answers as for one that never was (SCHED_ENOENT, NULL, 0). */
uint32_t sched_job_count(const sched_t *s);
uint32_t sched_job_first(const sched_t *s);
/* Whether job was in the state and was retired (false for an id never
 * given): the caller then answers from its own history. */
bool sched_job_retired(const sched_t *s, uint32_t job);
bool sched_attempt_retired(const sched_t *s, uint64_t attempt);
/* How many jobs were retired; tasks (may be NULL) gets their tasks by
 * final state (sched_task_state_t). */
uint32_t sched_retired_count(const sched_t *s, uint64_t tasks[8]);
/* Jobs in the state whose tasks have all ended, the last at or before
 * until_ms: up to max ids, ascending. Returns how many were put. */
size_t sched_jobs_done_before(const sched_t *s, int64_t until_ms, uint32_t *ids, size_t max);
uint32_t sched_job_ntasks(const sched_t *s, uint32_t job);
bool sched_job_done(const sched_t *s, uint32_t job);        /* every task ended; O(1) */
const char *sched_job_user(const sched_t *s, uint32_t job); /* the submitter; NULL if unknown */
/* Task index by name; SCHED_ENOENT if unknown. */
int sched_task_find(const sched_t *s, uint32_t job, const char *name, uint32_t *task);
const char *sched_task_name(const sched_t *s, uint32_t job, uint32_t task);
sched_task_state_t sched_task_state(const sched_t *s, uint32_t job, uint32_t task);
uint64_t sched_task_seed(const sched_t *s, uint32_t job, uint32_t task, uint32_t rank);
uint32_t sched_task_attempts(const sched_t *s, uint32_t job, uint32_t task);
/* Id of the task's current (latest) attempt, 0 if none. */
uint64_t sched_task_attempt_id(const sched_t *s, uint32_t job, uint32_t task);

/* Why an attempt was preempted: the preemptor's priority was higher, or
 * (sched_config_t .preempt_for_fair_share) its account was below its fair
 * share and the victim's above (preempt.c). */
typedef enum sched_preempt_why {
    SCHED_PREEMPT_NONE = 0,
    SCHED_PREEMPT_PRIORITY,
    SCHED_PREEMPT_FAIR_SHARE,
} sched_preempt_why_t;

typedef struct sched_attempt_info {
    uint64_t id;
    uint64_t prev;              /* the task's previous attempt, 0 for the first */
    uint32_t job, task, number; /* number: 1 for the first attempt */
    uint32_t nreplicas;
    const sched_alloc_desc_t *allocs; /* valid until the next sched_apply */
    int64_t placed_ms, started_ms, ended_ms;
    sched_end_t end;
    sched_end_class_t end_class; /* what its failure is known to be (event.h) */
    int exit_code, signal;
    uint64_t after; /* placed queued behind this attempt, 0 if not */
    bool queued;    /* still waiting for it: holds nothing yet */
    uint64_t next;  /* the attempt queued behind this one, 0 if none */
    /* preempted (SCHED_EV_PREEMPT): by which task, why, and the end of
     * its grace; a running one is being stopped */
    bool preempted;
    uint32_t preempted_by_job, preempted_by_task;
    sched_preempt_why_t preempt_why;
    int64_t grace_end_ms;
} sched_attempt_info_t;
int sched_attempt_get(const sched_t *s, uint64_t attempt, sched_attempt_info_t *info);

/* Everything about one task; pointers stay valid while the job exists. */
typedef struct sched_task_info {
    const char *name, *kind, *workdir; /* workdir may be NULL */
    uint32_t argc, nenv;
    const char *const *argv;
    const char *const *env; /* "KEY=value" */
    uint32_t noutputs;
    const char *const *outputs; /* declared outputs, relative to workdir */
    const char *cache_base;     /* NULL: results not cached (job.h) */
    bool cache_reuse;
    sched_task_state_t state;
    uint32_t replicas;
    int32_t priority;
    int64_t time_limit_ms;
    int64_t ready_at_ms; /* RETRYING: when the backoff ends */
    uint64_t seed;       /* rank 0 */
    uint32_t attempts;
    uint64_t attempt; /* latest attempt id, 0 = none */
    bool cancel_requested;
    bool cancelled_upstream; /* CANCELLED because a task it needs was */
    const sched_retry_policy_t *retry;
    /* preemption: the spec's fields (max_preemptions effective), how many
     * times it was a victim, and how many of its attempts ended
     * preempted (those do not count against retry.max_attempts) */
    bool preemptible;
    int64_t grace_ms;
    uint32_t max_preemptions, preemptions, preempted_attempts;
} sched_task_info_t;
int sched_task_info(const sched_t *s, uint32_t job, uint32_t task, sched_task_info_t *info);
/* The tasks task needs (indexes in the job, ascending as in the spec);
 * *deps stays valid while the job exists. Returns their number. */
uint32_t sched_task_deps(const sched_t *s, uint32_t job, uint32_t task, const uint32_t **deps);
/* What one replica of the task asks for (its class's shape); strings stay
 * valid while the core lives. */
int sched_task_request(const sched_t *s, uint32_t job, uint32_t task, sched_request_t *req);

typedef struct sched_job_info {
    const char *name, *user;
    uint64_t seed;
    int64_t submitted_ms;
    int64_t done_ms; /* when its last task ended; 0 while one has not */
    uint32_t ntasks, nended;
    uint32_t count[8]; /* tasks per sched_task_state_t */
    uint32_t queued;   /* of the RUNNING ones: queued on a node behind another (prefetch) */
} sched_job_info_t;
int sched_job_info(const sched_t *s, uint32_t job, sched_job_info_t *info);
/* The same without the counts (count[], queued zero): O(1), where
 * sched_job_info walks the job's tasks. */
int sched_job_meta(const sched_t *s, uint32_t job, sched_job_info_t *info);

/* What a cancel (SCHED_EV_CANCEL of job and task; task -1: the whole job)
 * does to each task it touches, so a caller can apply it and say exactly
 * what it did. A task that is not running ends cancelled at once (ENDS);
 * a running one, or one queued on its node, has its attempt stopped and
 * ends cancelled when that attempt reports its end (STOPS). Cancelling one
 * task also cancels the tasks that wait on it (its pending descendants),
 * at once (DEPENDENT) or when its stopped attempt ends (DEPENDENT_LATER);
 * a whole-job cancel touches every task in its own right. A task that
 * ended already is not touched. */
typedef enum sched_cancel_how {
    SCHED_CANCEL_ENDS = 0,
    SCHED_CANCEL_STOPS,
    SCHED_CANCEL_DEPENDENT,
    SCHED_CANCEL_DEPENDENT_LATER,
    SCHED_CANCEL_NHOW
} sched_cancel_how_t;

typedef struct sched_cancel_item {
    uint32_t task;
    sched_cancel_how_t how;
} sched_cancel_item_t;

typedef struct sched_cancel_effect {
    sched_cancel_item_t *items; /* in task order; malloc'd */
    uint32_t nitems;
    uint32_t count[SCHED_CANCEL_NHOW]; /* items per how */
} sched_cancel_effect_t;

/* What cancelling task (-1: every task) of job would do now, computed
 * from the state alone (nothing changes): call it, then apply the cancel.
 * Returns 0, SCHED_ENOENT (unknown job or task) or SCHED_ENOMEM; on
 * success free out with sched_cancel_effect_fini. */
int sched_cancel_effect(const sched_t *s, uint32_t job, int64_t task, sched_cancel_effect_t *out);
void sched_cancel_effect_fini(sched_cancel_effect_t *e);

/* What the state holds, for tests and metrics: jobs and attempts in it,
 * the slots their windows keep (from the oldest still there to the newest,
 * and the room allocated for them), ended ids not trimmed yet. */
typedef struct sched_sizes {
    size_t jobs, job_slots, job_room;
    size_t attempts, attempt_slots, attempt_room;
    size_t ended, classes, retry_heap;
} sched_sizes_t;
void sched_sizes(const sched_t *s, sched_sizes_t *out);

/* Node labels ("key=value"), i < count. */
uint32_t sched_node_label_count(const sched_t *s, uint32_t node);
const char *sched_node_label(const sched_t *s, uint32_t node, uint32_t i);

/* Running attempts with a replica on node, and those queued behind them
 * there, ascending ids; returns how many there are (may exceed max). */
size_t sched_node_attempts(const sched_t *s, uint32_t node, uint64_t *ids, size_t max);

/* Earliest time a retrying task becomes eligible (INT64_MAX: none), so the
 * caller knows when a pass could place something new without any event. */
int64_t sched_next_wakeup(const sched_t *s);

/* Backoff before attempt number `next_attempt` (>= 2) under policy p, with
 * jitter seeded by seed. Deterministic. */
int64_t sched_retry_backoff(const sched_retry_policy_t *p, uint32_t next_attempt, uint64_t seed);
/* Seed of a task: derived from the job seed, the task name and the replica
 * rank only, so it is the same on every attempt and resubmission. */
uint64_t sched_seed_derive(uint64_t job_seed, const char *task_name, uint32_t rank);

/* What waits and what sits idle, now (census.c). Per task class (shape)
 * with ready tasks: how many wait and how many GPUs they want, and the
 * free GPUs on up nodes they could not use, by why: on a node with enough
 * of them but too few free cores or too little memory (cpu_mem); on nodes
 * with too few each while together they would do (split: fragmentation);
 * of another model, GPU memory or labels (model); usable but held back
 * (other: a reservation, higher priority, a gang). Each reason's count is
 * at most what the class still wants. Classes in id order. */
typedef struct sched_census_class {
    uint32_t cls;
    uint32_t cpus, gpus, replicas;
    uint64_t memory;
    const char *gpu_model; /* NULL: any; valid until the next sched_apply */
    uint32_t waiting;      /* replicas of ready tasks */
    uint32_t gpus_wanted;
    uint32_t idle_cpu_mem, idle_split, idle_model, idle_other;
    /* of waiting: replicas of tasks whose account (or an ancestor) is at
     * a limit (sched.h: accounts), and the free GPUs they could use but
     * wait on that limit for (not in the other idle counts) */
    uint32_t limited;
    uint32_t idle_limit;
    /* of waiting: replicas of tasks that preempted attempts and wait for
     * them to end their grace (their GPUs are in no idle count: not
     * fragmentation) */
    uint32_t preempting;
    /* free GPUs a gang with placement require (job.h) could use if it
     * were split across domains of its level: fragmentation by topology */
    uint32_t idle_topo;
} sched_census_class_t;

typedef struct sched_census {
    uint32_t gpus_total, gpus_free, cores_total, cores_free; /* up nodes */
    sched_census_class_t *classes;
    size_t nclasses;
} sched_census_t;

int sched_census(const sched_t *s, sched_census_t *out);
void sched_census_fini(sched_census_t *c);

/* --- Accounts (accounts.c) --------------------------------------------
 *
 * Accounts form a tree (SCHED_EV_ACCOUNT_SET / _DELETE); every job is
 * charged to one (sched_job_spec_t.account). Account 0 is the built-in
 * "default": top level, share 1, no limits, never changed or deleted.
 * Ids are given in order of creation and never reused: a deleted account
 * keeps its id (and its usage) and a later SET of the same name brings it
 * back under that id. */
#define SCHED_ACCOUNT_DEFAULT "default"
#define SCHED_ACCOUNT_NONE UINT32_MAX

typedef struct sched_account_info {
    const char *name; /* valid until the next sched_apply */
    uint32_t id;
    uint32_t parent; /* SCHED_ACCOUNT_NONE: top level */
    uint32_t share;
    uint32_t max_gpus, max_cpus, max_running; /* SCHED_UNLIMITED: none */
    int32_t max_priority;                     /* SCHED_NO_PRIORITY_CAP: none */
    bool deleted;
    uint32_t nchildren; /* live children */
    /* held now by its and its descendants' attempts (queued ones too) */
    uint32_t gpus, cpus, running;
    /* its own jobs' decayed usage at the time asked, in core-milliseconds
     * (a GPU-ms counts sched_config_t .fs_gpu_weight), and with its
     * descendants' */
    uint64_t usage, usage_tree;
} sched_account_info_t;

/* Ids 0..count-1 (deleted ones included). */
uint32_t sched_account_count(const sched_t *s);
/* Id of a live account by name; SCHED_ENOENT if none. */
int sched_account_find(const sched_t *s, const char *name, uint32_t *id);
/* One account, with usage decayed to now_ms; SCHED_ENOENT if unknown id. */
int sched_account_get(const sched_t *s, uint32_t id, int64_t now_ms, sched_account_info_t *out);
/* The fair-tree order at now_ms: out[id] gets the account's rank (0 is
 * served first; accounts of equal level fair share are ordered by id),
 * out must hold sched_account_count() entries; deleted ones get
 * UINT32_MAX. Returns 0 or SCHED_ENOMEM. */
int sched_account_ranks(const sched_t *s, int64_t now_ms, uint32_t *out);
/* The account a job is charged to; SCHED_ACCOUNT_NONE if unknown job. */
uint32_t sched_job_account(const sched_t *s, uint32_t job);

/* --- Explanations and dumps (malloc'd strings; caller frees) ------------ */

/* Why a task waits (or where and why it was placed), at time now_ms. A
 * task whose attempt waits queued on a node behind another (prefetch; its
 * state is SCHED_TASK_RUNNING: placed) is "queued on node N: starts when
 * attempt A ends", and is called pending where a dependency's state is
 * named, as `cairn status` calls it. */
char *sched_explain(const sched_t *s, uint32_t job, uint32_t task, int64_t now_ms);
/* Canonical dump of the whole state, for tests and determinism checks. */
char *sched_dump(const sched_t *s);
/* Canonical one-line description of a placement event:
 * "job1 train[C=0.1] a3 -> node2 gpu[0-3] core[0-15] mem=1073741824", or
 * of a preemption: "job2 eval preempts a1, a2 grace until t=30000";
 * NULL for other events. */
char *sched_place_str(const sched_t *s, const sched_event_t *ev);

const char *sched_task_state_name(sched_task_state_t st);
/* The word users see for a state, as `cairn status` shows it (the wire's
 * TaskState): waiting (on its needs), pending (ready, waiting for
 * resources), running, retry_wait, succeeded, failed, cancelled,
 * upstream_failed. Explanations use these. */
const char *sched_task_state_word(sched_task_state_t st);
const char *sched_node_state_name(sched_node_state_t st);

#endif
