/* Jobs as DAGs of tasks: the specification the core accepts. Every pointer
 * in a spec is borrowed for the duration of the call that takes it; the core
 * copies what it keeps. */
#ifndef CAIRN_SCHED_JOB_H
#define CAIRN_SCHED_JOB_H

#include <stdbool.h>
#include <stdint.h>

/* Which attempt endings are retried (bit flags). */
enum {
    SCHED_RETRY_NODE_LOST = 1u << 0,
    SCHED_RETRY_TIMEOUT = 1u << 1,
    SCHED_RETRY_SIGNAL = 1u << 2,   /* killed by a signal (not by us) */
    SCHED_RETRY_ANY_EXIT = 1u << 3, /* any non-zero exit code */
    /* by the attempt's failure class (event.h sched_end_class_t), whatever
     * its end: */
    SCHED_RETRY_OOM = 1u << 4,       /* out of memory */
    SCHED_RETRY_GPU_ERROR = 1u << 5, /* a fault of one of its GPUs */
    SCHED_RETRY_LOG = 1u << 6,       /* its stderr matched retry.on log: */
};
#define SCHED_RETRY_ALL ((1u << 7) - 1u)
#define SCHED_RETRY_DEFAULT (SCHED_RETRY_NODE_LOST | SCHED_RETRY_TIMEOUT)
#define SCHED_RETRY_MAX_EXIT_CODES 16
/* Attempts when a spec does not say: with the default classification only
 * node loss and timeouts use them, as Slurm requeues on node failure. */
#define SCHED_DEFAULT_ATTEMPTS 3

typedef struct sched_retry_policy {
    uint32_t max_attempts;  /* total attempts, >= 1 (0 means SCHED_DEFAULT_ATTEMPTS) */
    int64_t backoff_ms;     /* base delay before the second attempt */
    uint32_t factor_milli;  /* growth per attempt, fixed point: 2000 = x2.0 (0 = 1000) */
    int64_t max_backoff_ms; /* cap (0 = no cap) */
    uint32_t jitter_pct;    /* 0..100, seeded from (job seed, task, attempt) */
    uint32_t on;            /* SCHED_RETRY_* flags (0 = SCHED_RETRY_DEFAULT) */
    uint32_t nexit_codes;
    int exit_codes[SCHED_RETRY_MAX_EXIT_CODES]; /* also retried */
} sched_retry_policy_t;

typedef struct sched_request {
    uint32_t cpus;           /* cores per replica, >= 1 */
    uint64_t memory_bytes;   /* per replica */
    uint32_t gpus;           /* per replica */
    const char *gpu_model;   /* words or "~REGEX" (sched_gpu_model_match), NULL = any */
    uint64_t gpu_min_memory; /* bytes, 0 = any */
    /* a gang's replicas may get GPUs of different models (vendor and model
     * name); false, the default: every replica's GPUs are of one model */
    bool gpu_mixed;
    uint32_t nlabels;
    const char *const *labels; /* "key=value" the node must carry */
} sched_request_t;

/* Where a gang's replicas go in the network topology (sched_config_t
 * .topology_levels): PACK prefers one domain of the level (or a tighter
 * one) and places anywhere when none has room; REQUIRE waits for one. */
typedef enum sched_placement {
    SCHED_PLACEMENT_ANY = 0,
    SCHED_PLACEMENT_PACK,
    SCHED_PLACEMENT_REQUIRE,
} sched_placement_t;

typedef struct sched_task_spec {
    const char *name; /* unique in the job */
    const char *kind; /* "preprocess", "train", "evaluate" or free-form; NULL = "" */
    uint32_t argc;
    const char *const *argv;
    uint32_t nenv;
    const char *const *env; /* "KEY=value" */
    const char *workdir;    /* NULL = worker default */
    uint32_t noutputs;
    const char *const *outputs; /* declared output paths, relative to workdir */
    /* cached results: the hex SHA-256 of what makes the task's cache key
     * besides its upstream outputs (NULL: not cached); reuse: look up
     * earlier results (false: always run, still record the result) */
    const char *cache_base;
    bool cache_reuse;
    uint32_t nneeds;
    const char *const *needs; /* names of tasks in the same job */
    sched_request_t req;
    uint32_t replicas;     /* gang size, 0 or 1 = single */
    int32_t priority;      /* higher runs first */
    int64_t time_limit_ms; /* 0 = none */
    sched_retry_policy_t retry;
    /* Preemption (preempt.c): only a preemptible task's attempts are ever
     * preempted; grace_ms: how long a preempted attempt has, from the
     * decision, to checkpoint and stop before it is killed (the daemon
     * fills it from the spec, capped by its setting; 0: none);
     * max_preemptions: after this many preemptions the task is never a
     * victim again (0: sched_config_t .max_preemptions_per_task). */
    bool preemptible;
    int64_t grace_ms;
    uint32_t max_preemptions;
    /* Topology (replicas > 1 only): placement and its level's name
     * ("rack"; NULL with SCHED_PLACEMENT_ANY). */
    sched_placement_t placement;
    const char *placement_level;
} sched_task_spec_t;

typedef struct sched_job_spec {
    const char *name;
    uint64_t seed;
    const char *user; /* who submitted it, NULL = "" */
    /* the account charged (decided by the daemon); NULL or "": "default" */
    const char *account;
    uint32_t ntasks;
    const sched_task_spec_t *tasks;
} sched_job_spec_t;

/* Limits on what a spec may ask for; validation names the one exceeded. */
#define SCHED_MAX_TASKS_PER_JOB 1000000u
#define SCHED_MAX_NAME_LEN 256u
#define SCHED_MAX_REPLICAS 4096u
#define SCHED_MAX_ATTEMPTS 100u
#define SCHED_MAX_CPUS SCHED_MAX_CORES_PER_NODE
#define SCHED_MAX_PREEMPTIONS 1000u
#define SCHED_MAX_GRACE_MS (24LL * 3600 * 1000)

#endif
