/* Internals of the simulation shared between sim.c and sim_measure.c. */
#ifndef CAIRN_SCHED_SIM_PRIVATE_H
#define CAIRN_SCHED_SIM_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scheduling/sim.h"

/* A node's state from time t on (sched_sim_node_state). */
typedef struct sim_change {
    int64_t t;
    uint32_t node;
    sched_node_state_t st;
} sim_change_t;

/* The simulated cluster's GPUs: the model of each, interned; and the
 * nodes' presence changes, in time order (then as given). */
typedef struct sim_cluster {
    uint32_t nnodes;
    size_t nodes_cap;
    uint32_t **gpu_model; /* per node, per GPU: index in models */
    uint32_t *ngpus;      /* per node */
    char **models;
    size_t nmodels, models_cap;
    sim_change_t *changes;
    size_t nchanges, changes_cap;
} sim_cluster_t;

typedef struct sim_job {
    int64_t submit_ms;
    const sched_job_spec_t *spec; /* borrowed until the run ends */
    uint32_t ntasks;
    uint32_t core_id;               /* 0: not submitted (yet, or refused) */
    uint32_t *noutcomes;            /* per task */
    sched_sim_outcome_t **outcomes; /* per task, owned */
    int64_t *ready_ms;              /* per task: current wait began, -1 none */
    /* per task: its attempts the simulation preempted whose work is done
     * again (their outcome goes to the next attempt) */
    uint32_t *redo;
    uint32_t *dep_first, *dependents; /* CSR of the tasks that need each task */
} sim_job_t;

/* A start or an end due at t; EV_KILL: a preempted attempt's grace ends
 * (it ends preempted unless it ended before). */
typedef enum { EV_START = 0, EV_END = 1, EV_KILL = 2 } ev_kind_t;
typedef struct end_ev {
    int64_t t;
    uint64_t attempt;
    uint8_t kind; /* ev_kind_t: an attempt's start comes before its end */
} end_ev_t;

typedef struct sim_shape {
    uint32_t cpus, gpus, replicas;
    char *model; /* NULL: any */
    char *name;
} sim_shape_t;

struct sched_sim {
    sched_t *s;
    bool ran;
    sim_cluster_t cl;
    /* jobs */
    sim_job_t *jobs;
    size_t njobs, jobs_cap;
    uint32_t *by_core; /* core job id - 1 -> sim job index */
    size_t by_core_cap;
    /* pending starts and ends: min-heap by (t, attempt, kind) */
    end_ev_t *heap;
    size_t nheap, heap_cap;
    /* sched_sim_pass_times, sorted; the next one due at [hint] */
    int64_t *hints;
    size_t nhints, hint;
    /* per attempt id - 1: its first span + 1 (0: none) */
    uint32_t *span_of;
    size_t span_of_cap;
    uint64_t *line; /* end_attempt's scratch: the attempts queued behind one */
    size_t line_cap;
    /* placements of the current pass */
    uint64_t *placed;
    size_t nplaced, placed_cap;
    sched_sim_span_t *spans;
    size_t nspans, spans_cap;
    sim_shape_t *shapes;
    size_t nshapes, shapes_cap;
    sched_sim_stats_t st;
};

const sim_cluster_t *sim_cluster(const sched_sim_t *sim);
size_t sim_shape_count(const sched_sim_t *sim);

/* --- sim_events.c: the pending starts and ends, and preemption -------- */

/* Push e on sim's heap: 0 or SCHED_ENOMEM. */
int sim_heap_push(sched_sim_t *sim, end_ev_t e);
/* The earliest pending event (sim->nheap > 0). */
end_ev_t sim_heap_pop(sched_sim_t *sim);
/* A pass decided a preemption (SCHED_EV_PREEMPT): count it; each victim
 * ends at its grace's end at the latest (EV_KILL). */
void sim_on_preempt(sched_sim_t *sim, const sched_event_t *ev);
/* Attempt ai (replicas' spans at *spans) ends preempted at t, having kept
 * its work of kept_ms from its allocation: count it and the GPU time it
 * lost. */
void sim_count_preempted(sched_sim_t *sim, const sched_attempt_info_t *ai,
                         const sched_sim_span_t *spans, int64_t t, int64_t kept_ms);

/* --- sim_nodes.c: nodes that come and go -------------------------------- */

/* Whether a change leaves its node there (not DOWN). */
bool sim_change_there(const sim_change_t *c);
/* Milliseconds of [a, b) each node was there, by the changes, into
 * there[nnodes]. 0 or SCHED_ENOMEM. */
int sim_nodes_there_ms(const sim_cluster_t *cl, int64_t a, int64_t b, int64_t *there);
/* Move node of the core to state st at t (the events a scheduler would
 * apply; DOWN ends what runs there node-lost). 0 or a SCHED_E* code. */
int sim_node_apply(sched_t *s, uint32_t node, sched_node_state_t st, int64_t t, cairn_error_t *err);

#endif
