/* Internals of the simulation shared between sim.c and sim_measure.c. */
#ifndef CAIRN_SCHED_SIM_PRIVATE_H
#define CAIRN_SCHED_SIM_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "scheduling/sim.h"

/* The simulated cluster's GPUs: the model of each, interned. */
typedef struct sim_cluster {
    uint32_t nnodes;
    size_t nodes_cap;
    uint32_t **gpu_model; /* per node, per GPU: index in models */
    uint32_t *ngpus;      /* per node */
    char **models;
    size_t nmodels, models_cap;
} sim_cluster_t;

const sim_cluster_t *sim_cluster(const sched_sim_t *sim);
size_t sim_shape_count(const sched_sim_t *sim);

#endif
