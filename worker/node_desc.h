/* A node as the scheduling core takes it (sched_node_desc_t), built from
 * the Register a worker sends (worker/register_msg.h): the last step of
 * discovery -> Register -> the core's node. The Register comes from the
 * network, so everything is checked here: names, counts against the core's
 * limits, core and NUMA indexes.
 *
 * Library cairn_node_desc (worker/CMakeLists.txt): proto and the core, no
 * hwloc. Used by the scheduler (a worker registers) and by `cairn plan`
 * (nodes from saved topologies). */
#ifndef CAIRN_WORKER_NODE_DESC_H
#define CAIRN_WORKER_NODE_DESC_H

#include "common/error.h"
#include "proto/worker.pb-c.h"
#include "scheduling/sched.h"

typedef struct node_desc node_desc_t;

/* Build the core's description of the node reg describes: -EINVAL (err
 * says what is wrong) or -ENOMEM; *out is set on success only. It owns its
 * arrays and borrows reg's strings: reg must outlive it. */
int node_desc_build(const Cairn__Register *reg, node_desc_t **out, cairn_error_t *err);

/* The description, owned by nd. */
const sched_node_desc_t *node_desc_core(const node_desc_t *nd);

/* Free it; NULL is a no-op. */
void node_desc_destroy(node_desc_t *nd);

#endif
