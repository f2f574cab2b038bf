/* libFuzzer target for the inbound decoder: cairn_msg_decode() must refuse
 * or accept any input without crashing, leaking or undefined behaviour, and
 * whatever it accepts must encode again (it is valid by construction).
 * It also checks the price the decoder puts on a payload before unpacking
 * it (cairn_msg_cost()): protobuf-c's own unpack, through a counting
 * allocator, must never allocate more objects or bytes than priced, and
 * exactly that much when it succeeds. Build and run: see README.md in this
 * directory. */
#include <stdint.h>
#include <stdlib.h>

#include "proto/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct counted {
    size_t allocs, bytes;
};

static void *count_alloc(void *arg, size_t n)
{
    struct counted *c = arg;
    c->allocs++;
    c->bytes += n;
    return malloc(n);
}

static void count_free(void *arg, void *p)
{
    (void)arg;
    free(p);
}

/* The payload as the type in its header, priced and then unpacked. */
static void check_cost(const uint8_t *data, size_t size)
{
    if (size < CAIRN_MSG_HEADER_SIZE)
        return;
    const ProtobufCMessageDescriptor *d =
        cairn_msg_descriptor((cairn_msg_type_t)(data[4] << 8 | data[5]));
    if (!d)
        return;
    const uint8_t *p = data + CAIRN_MSG_HEADER_SIZE;
    size_t len = size - CAIRN_MSG_HEADER_SIZE;
    cairn_msg_cost_t cost;
    if (cairn_msg_cost(d, p, len, &cost, NULL) < 0)
        return;
    struct counted c = {0, 0};
    ProtobufCAllocator a = {.alloc = count_alloc, .free = count_free, .allocator_data = &c};
    ProtobufCMessage *m = protobuf_c_message_unpack(d, &a, len, p);
    if (c.allocs > cost.objects || c.bytes > cost.bytes)
        abort(); /* the price is too low: the limits would not hold */
    if (m && (c.allocs != cost.objects || c.bytes != cost.bytes))
        abort(); /* a successful unpack costs exactly the price */
    if (m)
        protobuf_c_message_free_unpacked(m, &a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cairn_msg_type_t type;
    ProtobufCMessage *msg = NULL;
    cairn_error_t err;

    check_cost(data, size);
    /* the limits scale with max_size: also the tightest one that fits */
    if (cairn_msg_decode(data, size, size, &type, &msg, &err) == 0)
        cairn_msg_free(msg);
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
