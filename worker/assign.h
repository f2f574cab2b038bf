/* An AssignTask from the scheduler turned into an exec_spec_t for this
 * node: core indexes to their PUs and NUMA nodes, GPU indexes to their
 * UUIDs and vendors, the environment; anything this node does not have
 * (a core or GPU index out of range or given twice, an empty argv, a bad
 * port, too many or too long output paths, a checkpoint signal outside
 * 0..64, a checkpoint path longer than WORKER_OUTPUT_PATH_MAX, a
 * signal_before_limit not shorter than the time limit) is refused with a
 * message.
 * Pure: no I/O. */
#ifndef CAIRN_WORKER_ASSIGN_H
#define CAIRN_WORKER_ASSIGN_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/worker.pb-c.h"
#include "worker/exec.h"
#include "worker/resources.h"

/* The spec and the memory it points into (besides m's own strings). */
typedef struct worker_assign_buf {
    exec_spec_t spec;
    uint32_t *pus, *numa;
    exec_gpu_t *gpus;
    char **env;
    uint32_t nenv;
    bool *used; /* cores or GPUs already taken by this message */
    /* The task's declared outputs (paths in m), hashed when the attempt
     * ends (outputs.h); not part of how it runs. */
    uint32_t noutputs;
    const char *const *outputs;
} worker_assign_buf_t;

/* The highest signal number a scheduler may name (Linux: 64). */
#define WORKER_SIGNAL_MAX 64

/* Fill b->spec from m (which must outlive b). 0 or a negative code. */
int worker_assign_spec(const worker_resources_t *res, const Cairn__AssignTask *m,
                       worker_assign_buf_t *b, cairn_error_t *err);

void worker_assign_buf_fini(worker_assign_buf_t *b);

#endif
