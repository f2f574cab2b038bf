/* Events: every state change of the scheduling core is one of these.
 * Applying the same sequence of events to an empty state reproduces the
 * same state, bit for bit; the scheduler daemon journals them. */
#ifndef CAIRN_SCHED_EVENT_H
#define CAIRN_SCHED_EVENT_H

#include <stdint.h>

#include "scheduling/cluster.h"
#include "scheduling/job.h"

typedef enum sched_event_type {
    SCHED_EV_NODE_ADD = 1, /* a node registered (or re-registered) */
    SCHED_EV_NODE_STATE,   /* drain / undrain / down / returning (cluster.h) */
    SCHED_EV_JOB_SUBMIT,   /* a job was accepted; it gets the next job id */
    SCHED_EV_PLACE,        /* an attempt was placed (output of a pass) */
    SCHED_EV_START,        /* an attempt's processes started */
    SCHED_EV_FINISH,       /* an attempt ended */
    SCHED_EV_CANCEL,       /* a job, or one task of it, was cancelled */
    /* a job whose tasks have all ended, and whose attempts hold nothing,
     * leaves the state: it, its tasks and its attempts are freed (their
     * ids are never given again) */
    SCHED_EV_JOB_RETIRE = 8,
    /* a node with nothing running or queued was forgotten (cluster.h) */
    SCHED_EV_NODE_REMOVE = 9,
    /* an account was created or changed (sched.h: accounts) */
    SCHED_EV_ACCOUNT_SET = 10,
    /* an account with no children and no unfinished jobs was deleted */
    SCHED_EV_ACCOUNT_DELETE = 11,
    /* a pass decided that a ready task preempts running attempts (output
     * of a pass, like SCHED_EV_PLACE; preempt.c): they are told to stop
     * and keep what they hold until their FINISH, which is kept for the
     * preemptor until it is placed */
    SCHED_EV_PREEMPT = 12,
    /* a GPU of a node was found sick (its worker saw a critical NVML
     * event) or returned to service by an operator: no new work is placed
     * on a sick GPU; what runs there goes on until it ends */
    SCHED_EV_GPU_HEALTH = 13,
} sched_event_type_t;

/* No limit (sched_account_spec_t). */
#define SCHED_UNLIMITED UINT32_MAX
#define SCHED_NO_PRIORITY_CAP INT32_MAX

/* An account as SCHED_EV_ACCOUNT_SET gives it (all of it: an update
 * replaces every field). Strings are copied. */
typedef struct sched_account_spec {
    const char *name;   /* [A-Za-z0-9._-], 1..SCHED_MAX_NAME_LEN; not "default" */
    const char *parent; /* NULL or "": a top-level account */
    uint32_t share;     /* >= 1: weight among its siblings */
    /* what its running (and queued) attempts, with its descendants', may
     * hold at once; SCHED_UNLIMITED: no limit */
    uint32_t max_gpus, max_cpus, max_running;
    int32_t max_priority; /* SCHED_NO_PRIORITY_CAP: none */
} sched_account_spec_t;

/* How an attempt ended. */
typedef enum sched_end {
    SCHED_END_NONE = 0,
    SCHED_END_EXIT,         /* exited with exit_code (0 = success) */
    SCHED_END_SIGNAL,       /* killed by signal, not by us */
    SCHED_END_TIMEOUT,      /* ran past its time limit and was killed */
    SCHED_END_NODE_LOST,    /* its node went down */
    SCHED_END_CANCELLED,    /* cancelled by a user */
    SCHED_END_START_FAILED, /* could not be started (bad argv, workdir...) */
    /* stopped by a preemption (SCHED_EV_PREEMPT): only for an attempt that
     * was preempted; it does not count against the task's retry attempts
     * and the task is ready again at once */
    SCHED_END_PREEMPTED,
} sched_end_t;

/* What a failed attempt's end is known to be caused by, beyond its end:
 * the daemon tells it with SCHED_EV_FINISH (a worker's finding) and the
 * retry policy may match it (job.h SCHED_RETRY_OOM...). Only a failure
 * has one: never a success, a cancel, a preemption or a node loss. */
typedef enum sched_end_class {
    SCHED_CLASS_NONE = 0,  /* nothing more than its end */
    SCHED_CLASS_OOM,       /* killed for memory: cgroup OOM kill or its limit */
    SCHED_CLASS_GPU_ERROR, /* a GPU it used failed while it ran */
    SCHED_CLASS_LOG,       /* its stderr matched the task's retry log pattern */
} sched_end_class_t;
#define SCHED_CLASS_LAST SCHED_CLASS_LOG

/* Most victims one SCHED_EV_PREEMPT may name. */
#define SCHED_MAX_VICTIMS 64u

/* One allocation on one node (one replica of an attempt). */
typedef struct sched_alloc_desc {
    uint32_t node;
    uint32_t ncores;
    const uint32_t *cores; /* core indexes, ascending */
    uint64_t gpu_mask;     /* bit i = GPU index i */
    uint64_t memory_bytes;
} sched_alloc_desc_t;

typedef struct sched_event {
    sched_event_type_t type;
    int64_t time_ms; /* when it happened (the caller's clock) */
    union {
        sched_node_desc_t node_add;
        struct {
            uint32_t node;
            sched_node_state_t state;
            const char *reason; /* DRAINING: why (may be NULL); copied */
        } node_state;
        sched_job_spec_t submit;
        struct {
            uint32_t job;
            uint32_t task;    /* index in the job */
            uint64_t attempt; /* attempt id, must be the next one */
            uint32_t nreplicas;
            const sched_alloc_desc_t *allocs; /* one per replica, by rank */
            /* non-zero: queued behind this attempt (running, or itself
             * queued) on its node; it takes over that allocation (the same
             * one) when it ends. One replica only; see
             * sched_config_t.prefetch. */
            uint64_t after;
        } place;
        struct {
            uint64_t attempt;
        } start;
        struct {
            uint64_t attempt;
            sched_end_t end;
            int exit_code;         /* with SCHED_END_EXIT */
            int signal;            /* with SCHED_END_SIGNAL */
            sched_end_class_t cls; /* NONE unless a failure's cause is known */
        } finish;
        struct {
            uint32_t job;
            int64_t task; /* index in the job, -1 = the whole job */
        } cancel;
        struct {
            uint32_t job;
        } retire;
        struct {
            uint32_t node;
        } node_remove;
        sched_account_spec_t account_set;
        struct {
            const char *name;
        } account_delete;
        struct {
            uint32_t job;  /* the preemptor: a ready task of this job */
            uint32_t task; /* index in the job */
            uint32_t nvictims;
            const uint64_t *victims; /* running attempt ids, ascending */
            /* time_ms + the largest grace of the victims' tasks: when the
             * last of them is killed at the latest */
            int64_t grace_end_ms;
        } preempt;
        struct {
            uint32_t node;
            uint32_t gpu;       /* index on the node */
            const char *reason; /* non-NULL, not "": sick, why ("Xid 79"); copied.
                                 * NULL: healthy again */
        } gpu_health;
    } u;
} sched_event_t;

const char *sched_event_type_name(sched_event_type_t t);
const char *sched_end_name(sched_end_t e);
/* "oom", "gpu-error", "log"; "" for SCHED_CLASS_NONE. */
const char *sched_end_class_name(sched_end_class_t c);
/* The class a name gives (NONE for "" or an unknown name). */
sched_end_class_t sched_end_class_parse(const char *name);
/* Whether an attempt that ended this way may carry a class. */
bool sched_end_class_allowed(sched_end_t end, int exit_code);

#endif
