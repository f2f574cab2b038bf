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

const sim_cluster_t *sim_cluster(const sched_sim_t *sim);
size_t sim_shape_count(const sched_sim_t *sim);

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
