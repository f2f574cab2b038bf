/* libFuzzer target for the worker's side of an assignment: an inbound
 * message decoded as the worker decodes it, then, if it is an AssignTask,
 * turned into an exec spec for a real node (the HGX fixture: 2 NUMA
 * domains, 8 GPUs). Anything out of range must be refused, never read or
 * written out of bounds; an accepted spec must stay within the node. */
#include <stdint.h>
#include <stdlib.h>

#include "proto/envelope.h"
#include "worker/assign.h"
#include "worker/discover.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static worker_resources_t *res;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cairn_error_t err;
    if (worker_discover(CAIRN_FUZZ_TOPOLOGY, "fuzz", &res, &err) < 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cairn_msg_type_t type;
    ProtobufCMessage *msg = NULL;
    cairn_error_t err;
    if (cairn_msg_decode(data, size, CAIRN_MSG_MAX_DEFAULT, &type, &msg, &err) < 0)
        return 0;
    if (type == CAIRN_MSG_ASSIGN_TASK) {
        worker_assign_buf_t b = {0};
        if (worker_assign_spec(res, (const Cairn__AssignTask *)msg, &b, &err) == 0) {
            const exec_spec_t *s = &b.spec;
            if (s->argc < 1 || s->ngpus > worker_resources_gpu_count(res) ||
                s->ncores > worker_resources_core_count(res) ||
                s->npus > worker_resources_pu_count(res))
                abort(); /* accepted more than the node has */
        }
        worker_assign_buf_fini(&b);
    }
    cairn_msg_free(msg);
    return 0;
}
