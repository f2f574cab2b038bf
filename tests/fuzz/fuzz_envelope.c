/* libFuzzer target for the inbound decoder: cairn_msg_decode() must refuse
 * or accept any input without crashing, leaking or undefined behaviour, and
 * whatever it accepts must encode again (it is valid by construction).
 * Build and run: see README.md in this directory. */
#include <stdint.h>
#include <stdlib.h>

#include "envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cairn_msg_type_t type;
    ProtobufCMessage *msg = NULL;
    cairn_error_t err;

    if (cairn_msg_decode(data, size, CAIRN_MSG_MAX_DEFAULT, &type, &msg, &err) < 0)
        return 0;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (cairn_msg_encode(type, msg, &buf, &len, &err) < 0)
        abort(); /* decoded but not encodable: a validation gap */
    free(buf);
    cairn_msg_free(msg);
    return 0;
}
