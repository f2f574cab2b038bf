/* What-if simulation: a discrete-event replay of a workload through the
 * scheduling core, on a cluster described by the caller.
 *
 * Pure and deterministic like the rest of scheduling/: libc only, no clock
 * (times come from the workload), no global state. The same nodes and jobs,
 * added in the same order, give the same spans, bit for bit.
 *
 * The simulation drives a sched_t as the scheduler daemon does: nodes are
 * added first (up from the start, unless their presence changes are given:
 * sched_sim_node_state), each job is submitted at its submit time, and one placement pass runs at
 * every time something happened (a submit, an attempt's start or end, a retry backoff running out),
 * or, when the caller gives the times a recorded scheduler ran its passes (sched_sim_pass_times),
 * at those. With prefetch on (sched_config_t, as the daemon runs by default) a pass may queue an
 * attempt behind a running one, as the daemon does; it takes over that allocation when the one
 * ahead of it ends. An attempt starts its outcome's start time after it
 * got its allocation (placement, or that takeover) and ends its hold time
 * after it, the way it ended then: failures are replayed as failures, so
 * retries happen as recorded (given a retry policy in the spec that
 * retries them). Attempt number n uses the task's n-th outcome (the last
 * one past the end), n counting its attempts but those the simulation
 * preempted (sched_sim_outcome_t.end).
 *
 * Every placed attempt replica becomes a span (sched_sim_span_t); the
 * metrics (sched_sim_measure) are computed from spans alone, so recorded
 * attempts turned into spans are measured exactly like predicted ones.
 */
#ifndef CAIRN_SCHED_SIM_H
#define CAIRN_SCHED_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scheduling/sched.h"

typedef struct sched_sim sched_sim_t;

/* How one attempt of a task ends in the replay. */
typedef struct sched_sim_outcome {
    /* from getting its allocation (placement, or for an attempt queued
     * behind another the end of that one) to its end, >= 0 */
    int64_t hold_ms;
    /* from getting its allocation to its start (the START event, which
     * the core's class run times and backfill use); may be negative for a
     * queued attempt whose process went a moment before the end of the one
     * ahead of it was stamped. Unless no_start: it never started. */
    int64_t start_ms;
    bool no_start;
    /* SCHED_END_EXIT with exit_code 0: success. SCHED_END_PREEMPTED: a
     * recorded attempt that was preempted and stopped hold_ms after its
     * allocation: it ends preempted then, the grace's end regardless (as
     * recorded), when the replay's pass preempted it; when none had by
     * then, a pass runs first (the one that decided it, which the record
     * does not time), and if it still is not preempted it ends killed
     * (SCHED_END_SIGNAL 9). Attempts the replay preempts beyond those redo
     * their work: their outcome goes to the next attempt. */
    sched_end_t end;
    /* with SCHED_END_PREEMPTED: from its allocation to the write of its
     * newest checkpoint, the work it kept (0: none, it lost all) */
    int64_t kept_ms;
    int exit_code; /* with SCHED_END_EXIT */
    int signal;    /* with SCHED_END_SIGNAL */
} sched_sim_outcome_t;

/* One attempt replica placed (predicted), or recorded (actual). */
typedef struct sched_sim_span {
    uint32_t job;    /* index of the job in the order added, from 0 */
    uint32_t task;   /* index in the job */
    uint32_t number; /* attempt number, 1 for the first */
    uint32_t rank;   /* gang replica; waits count rank 0 only */
    uint32_t node;   /* node id (order added, from 0) */
    uint32_t shape;  /* sched_sim_shape() index */
    uint32_t cpus;
    uint64_t gpu_mask; /* GPUs held on node */
    int64_t submit_ms; /* the job's */
    int64_t ready_ms;  /* could run from then on: needs done, backoff over */
    int64_t placed_ms; /* placed, or queued on its node behind another attempt */
    int64_t alloc_ms;  /* got its cores and GPUs: placed_ms, or when the attempt
                          it was queued behind ended; end_ms: it never did */
    int64_t end_ms;
} sched_sim_span_t;

/* Create an empty simulation; cfg as for sched_create (NULL: the core's
 * defaults, no prefetch; sched_config_daemon(true): the daemon's default
 * placement). NULL on ENOMEM. */
sched_sim_t *sched_sim_create(const sched_config_t *cfg);
/* Free everything; NULL is a no-op. */
void sched_sim_destroy(sched_sim_t *sim);

/* Add a node (copied), up from the start. Before sched_sim_run only.
 * Returns 0 or a negative SCHED_E* code with err set (nothing added). */
int sched_sim_node_add(sched_sim_t *sim, const sched_node_desc_t *d, cairn_error_t *err);
/* Node's state from t_ms on (before sched_sim_run), as the scheduler's
 * node timeline recorded it: UP (there, taking work), DRAINING (there,
 * taking nothing new), RETURNING (there, keeping its attempts, taking
 * nothing new: not back since a scheduler restart) or DOWN (not there:
 * what runs or waits queued on it ends node-lost, and its capacity does not
 * count while it is down). A node is UP until its first change; one not
 * there from the start gets a DOWN change at or before the first submit.
 * Changes are given in time order, of all nodes together; at one time they
 * apply after the attempts' ends, in the order given, before submits and
 * the pass. Returns 0, SCHED_ENOENT (no such node), SCHED_EINVAL (another
 * state, or a time before the last change's) or SCHED_ENOMEM. */
int sched_sim_node_state(sched_sim_t *sim, uint32_t node, int64_t t_ms, sched_node_state_t st,
                         cairn_error_t *err);
/* Create or change an account (sched.h: accounts) from the start, as
 * SCHED_EV_ACCOUNT_SET does; a parent before its children. Jobs are charged
 * to the account their spec names. Before sched_sim_run only. Returns 0 or
 * the core's refusal (a negative SCHED_E* code with err set). */
int sched_sim_account_set(sched_sim_t *sim, const sched_account_spec_t *a, cairn_error_t *err);
/* Node id by name; SCHED_ENOENT if unknown. */
int sched_sim_node_find(const sched_sim_t *sim, const char *name, uint32_t *id);
uint32_t sched_sim_node_count(const sched_sim_t *sim);
const char *sched_sim_node_name(const sched_sim_t *sim, uint32_t node);

/* Add a job submitted at submit_ms. spec is borrowed until sched_sim_run
 * returns; outcomes[t] (noutcomes[t] entries, at least one) are task t's
 * attempts in order and are copied. Jobs are submitted in (submit_ms, order
 * added) order. A job the cluster cannot take (sched_apply refuses it) is
 * not an error of the run: it is counted in sched_sim_stats_t.rejected.
 * Returns 0, SCHED_EINVAL (no outcome for a task, negative hold) or
 * SCHED_ENOMEM, with err set. */
int sched_sim_job_add(sched_sim_t *sim, int64_t submit_ms, const sched_job_spec_t *spec,
                      const uint32_t *noutcomes, const sched_sim_outcome_t *const *outcomes,
                      cairn_error_t *err);

/* Run placement passes at these times (copied; any order, repeats
 * ignored) instead of at every event, up to the last of them; later, at
 * every event again. For a recorded run on its own cluster: the times the
 * scheduler ran the passes that placed something, so a replay places at
 * the same times although the scheduler saw each event a little after it
 * happened. Before sched_sim_run only. Returns 0, SCHED_EINVAL or
 * SCHED_ENOMEM, with err set. */
int sched_sim_pass_times(sched_sim_t *sim, const int64_t *times, size_t n, cairn_error_t *err);

/* Run the simulation to the end (every attempt ended, nothing placeable
 * left). Once only. Returns 0 or a negative SCHED_E* code with err set. */
int sched_sim_run(sched_sim_t *sim, cairn_error_t *err);

typedef struct sched_sim_stats {
    uint64_t events;   /* core events applied: submits, places, starts, ends */
    uint64_t queued;   /* placements queued behind a running attempt (prefetch) */
    uint64_t passes;   /* placement passes */
    uint32_t rejected; /* jobs the cluster refused at submit */
    uint32_t unplaced; /* tasks never placed (no node could take them) */
    /* preemptions the passes decided (preemptible tasks in the specs):
     * the victims end preempted at the end of their grace, unless their
     * outcome ends them first, and their task's next attempt replays the
     * same outcome again */
    uint64_t preemptions;
    /* attempts that ended preempted (a gang counts once), and the GPU
     * time they lost: from their allocation (an outcome recorded preempted:
     * plus its kept_ms) to their end */
    uint64_t preempted_attempts;
    double preempted_gpu_s;
    char first_rejection[256];
} sched_sim_stats_t;
void sched_sim_stats(const sched_sim_t *sim, sched_sim_stats_t *st);

/* The spans of the run, in placement order (attempt id, then rank); valid
 * until sched_sim_destroy. */
const sched_sim_span_t *sched_sim_spans(const sched_sim_t *sim, size_t *n);

/* Intern a task shape; returns its index (or SCHED_ENOMEM). The name is
 * "4c", "8c 1g", "8c 1g H100", with " x2" for a gang of 2. */
int sched_sim_shape(sched_sim_t *sim, uint32_t cpus, uint32_t gpus, const char *gpu_model,
                    uint32_t replicas);
const char *sched_sim_shape_name(const sched_sim_t *sim, uint32_t shape);

/* --- Metrics ----------------------------------------------------------- */

typedef struct sched_sim_wait {
    uint32_t shape;
    uint64_t count; /* attempts (rank 0 spans) */
    /* wait = alloc - ready (from when it could run to when it got its
     * cores and GPUs: placed, or queued behind another attempt and that
     * one ended), nearest rank */
    int64_t p50_ms, p95_ms, max_ms;
} sched_sim_wait_t;

/* GPUs of one model (or one node) over the window [start, end]. */
typedef struct sched_sim_use {
    const char *name; /* model, or node name */
    uint32_t gpus;
    double capacity_gpu_s; /* each GPU x the part of the window its node was there */
    double alloc_gpu_s;    /* held by attempts */
    /* fragmentation: GPU-seconds these GPUs sat idle while some GPU task was
     * ready and held nothing yet (it needed more on one node, or another
     * model, or it was queued behind an attempt on another node) */
    double idle_waiting_gpu_s;
} sched_sim_use_t;

typedef struct sched_sim_report {
    int64_t start_ms, end_ms;         /* first submit, last end */
    int64_t makespan_ms;              /* end - start */
    uint64_t attempts;                /* rank 0 spans */
    int64_t wait_p50_ms, wait_p95_ms; /* over every attempt */
    size_t nwaits;
    sched_sim_wait_t *waits; /* per shape, by shape name */
    size_t nmodels;
    sched_sim_use_t *models; /* per GPU model, by name */
    size_t nnodes;
    sched_sim_use_t *nodes; /* per node with GPUs, by node id */
    sched_sim_use_t total;  /* every GPU */
} sched_sim_report_t;

/* Measure spans (the run's, or recorded attempts mapped onto this
 * simulation's nodes and shapes) against this simulation's cluster.
 * Returns 0 or SCHED_ENOMEM; free with sched_sim_report_fini. */
int sched_sim_measure(const sched_sim_t *sim, const sched_sim_span_t *spans, size_t n,
                      sched_sim_report_t *out);
void sched_sim_report_fini(sched_sim_report_t *r);

#endif
