/* The Register message a worker sends: its resources (resources.h) as
 * protobuf NodeResources, node name, labels, versions, topology
 * fingerprint, and the attempts it still runs.
 *
 * Everything the message points to is owned by the worker_register_msg_t,
 * copied from the resources at creation, so the message stays valid (and
 * unchanged but for the running and ended lists) until
 * worker_register_msg_destroy().
 */
#ifndef CAIRN_WORKER_REGISTER_MSG_H
#define CAIRN_WORKER_REGISTER_MSG_H

#include <stdint.h>

#include "common/error.h"
#include "proto/envelope.h"
#include "worker/resources.h"

/* Core.numa_os_index of a core whose PUs span several NUMA domains. */
#define WORKER_NUMA_NONE UINT32_MAX

typedef struct worker_register_msg worker_register_msg_t;

/* Build the message for r, with worker_version CAIRN_VERSION, protocol
 * version CAIRN_PROTO_VERSION and the fingerprint as 16 hex digits, and no
 * running attempt. r is not referenced afterwards. Returns 0 or -ENOMEM;
 * *out is set on success only. */
int worker_register_msg_create(const worker_resources_t *r, worker_register_msg_t **out,
                               cairn_error_t *err);

/* Empty the list of running attempts. */
void worker_register_msg_clear_running(worker_register_msg_t *m);

/* Append a running attempt (task_name is copied). Returns 0 or -ENOMEM
 * (the list is then unchanged). */
int worker_register_msg_add_running(worker_register_msg_t *m, uint64_t attempt_id, uint64_t job_id,
                                    const char *task_name, uint32_t rank, int pid,
                                    int64_t start_ms);

/* Empty the list of ended attempts whose final event is not acknowledged. */
void worker_register_msg_clear_ended(worker_register_msg_t *m);

/* Append such an attempt (Register.ended_unacked). Returns 0 or -ENOMEM
 * (the list is then unchanged). */
int worker_register_msg_add_ended(worker_register_msg_t *m, uint64_t attempt_id);

/* The message, owned by m. */
const Cairn__Register *worker_register_msg_get(const worker_register_msg_t *m);

/* Free everything. NULL is a no-op. */
void worker_register_msg_destroy(worker_register_msg_t *m);

#endif
