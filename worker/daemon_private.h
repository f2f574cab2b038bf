/* The worker daemon's parts: daemon.c (the link, registration,
 * heartbeats, log reads, lifecycle) calls daemon_tasks.c (the attempt
 * table and the task life cycle), which calls nothing of daemon.c: what
 * both use is here. One loop thread; see the design note in daemon.c. */
#ifndef CAIRN_WORKER_DAEMON_PRIVATE_H
#define CAIRN_WORKER_DAEMON_PRIVATE_H
#include <stdbool.h>
#include <stdint.h>

#include "common/log.h"
#include "proto/worker.pb-c.h"
#include "worker/daemon.h"
#include "worker/exec.h"
#include "worker/gpu_health.h"
#include "worker/health_check.h"
#include "worker/link.h"
#include "worker/outputs.h"
#include "worker/register_msg.h"
#include "worker/report.h"
#include "worker/resources.h"

#define DAEMON_REPORT_EVERY 3
#define DAEMON_LOG_READ_MAX (1u << 20)
#define DAEMON_ENDED_KEEP 1024
#define DAEMON_ENDED_SWEEP 256
/* worker_exec_cancel() takes <= 0 as "the spec's grace": 1 ms is at once */
#define DAEMON_STALE_GRACE_MS 1
/* How many attempts of a line are prepared ahead (worker_exec_prepare) */
#define DAEMON_PREPARED_DEPTH 2

typedef struct daemon_attempt {
    uint64_t id, job_id;
    uint32_t rank;
    char *task_name;
    bool running;              /* its final event is not queued yet */
    bool stale;                /* not adopted by the scheduler: killed, never reported */
    uint64_t after;            /* queued: started when this attempt ends */
    uint64_t next;             /* the attempt queued behind this one, 0: none */
    Cairn__AssignTask *queued; /* the assignment, until then */
    exec_prepared_t *prepared; /* queued right behind a started one: its start, prepared */
    bool gpus;                 /* it has GPUs */
    uint64_t ended;            /* order of ending, for forgetting the oldest */
    char **outputs;            /* declared outputs, hashed when it ends */
    uint32_t noutputs;
    worker_outputs_t *hashing;   /* ended: hashing its outputs (or checking a cache hit) */
    Cairn__AssignTask *checking; /* a cache hit being checked: run this if it misses */
    exec_result_t *result;       /* while hashing: how it ended */
    /* Checkpoints (daemon_checkpoint.c): the directory is listed before
     * the attempt starts (its start waits: listed_then) and after it ended
     * (before its outputs are hashed). */
    worker_outputs_t *listing;      /* listing its checkpoint directory */
    Cairn__AssignTask *listed_then; /* started once listed */
    worker_output_t *ckpt_start, *ckpt_end;
    size_t nckpt_start, nckpt_end;
} daemon_attempt_t;

struct worker_daemon {
    uv_loop_t *loop;
    cairn_log_t *log; /* the caller's (worker_daemon_config_t) */
    worker_resources_t *res;
    worker_register_msg_t *reg;
    worker_report_t *report;
    worker_gpu_health_t *health;       /* NULL: NVML reports no critical events */
    struct worker_health_check *check; /* --health-check; NULL: none */
    worker_exec_t *exec;
    worker_link_t *link;
    uv_signal_t sigterm, sigint;
    int handles_open;
    bool stopped, destroyed;
    uint32_t report_every;
    uint64_t heartbeats;
    daemon_attempt_t *att; /* ascending id */
    size_t natt, att_cap, nended;
    size_t nrunning, nqueued; /* entries running, and of those queued behind another */
    uint64_t end_counter;
    cairn_join_key_t *join_key;
    uint64_t hash_max_bytes, hash_timeout_ms; /* outputs.h budget; 0: none */
};

/* ---- daemon_tasks.c --------------------------------------------------- */

/* The attempt with this id, or NULL. Pointers into the table are valid
 * until the next insertion or removal. */
daemon_attempt_t *daemon_att_find(worker_daemon_t *d, uint64_t id);

/* Forget every attempt that ended here: the scheduler is another one,
 * whose attempt ids are not theirs (worker_exec_logs_scheduler). */
void daemon_att_forget_ended(worker_daemon_t *d);

/* Free what the entry owns; a hashing job is abandoned. */
void daemon_att_fini(worker_daemon_t *d, daemon_attempt_t *a);

/* The scheduler's AssignTask and CancelTask. */
void daemon_on_assign(worker_daemon_t *d, const Cairn__AssignTask *m);
void daemon_on_cancel(worker_daemon_t *d, const Cairn__CancelTask *m);

/* ---- daemon_checkpoint.c ------------------------------------------------ */

/* Start listing the checkpoint directory of m (attempt a) before it runs,
 * as the user it runs as; cb(attempt id, ...) follows. Whether it started
 * (not for an assignment without a directory, nor one whose start will
 * fail anyway: the start says why). */
bool daemon_ckpt_list_start(worker_daemon_t *d, daemon_attempt_t *a, const Cairn__AssignTask *m,
                            worker_outputs_f cb);

/* Start listing the checkpoint directory of ended attempt a (r) as it left
 * it; whether it started. */
bool daemon_ckpt_list_end(worker_daemon_t *d, daemon_attempt_t *a, const exec_result_t *r,
                          worker_outputs_f cb);

/* Keep a copy of list v (n entries) in *out, *nout (the old one freed);
 * -ENOMEM (said in the log: the list is then empty). */
int daemon_ckpt_keep(worker_daemon_t *d, uint64_t id, const worker_output_t *v, size_t n,
                     worker_output_t **out, size_t *nout);

/* Put list v (n entries) into ev->checkpoint; *mem (free it after the
 * event is sent) holds what it points to. */
void daemon_ckpt_to_event(const worker_output_t *v, size_t n, Cairn__TaskEvent *ev, void **mem);

/* Free an entry's checkpoint state; a listing is abandoned. */
void daemon_ckpt_fini(daemon_attempt_t *a);

/* The executor's callbacks (exec.h). */
void daemon_exec_started(uint64_t id, uint32_t rank, int pid, int64_t start_ms, void *arg);
void daemon_exec_exited(const exec_result_t *r, void *arg);

#endif
