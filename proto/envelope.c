/* The message envelope: type table, header encoding and checked decoding. */
#include "proto/envelope.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct msg_entry {
    cairn_msg_type_t type;
    const char *name;
    const ProtobufCMessageDescriptor *descriptor;
    size_t max_fields; /* 0: only the size-relative limit */
};

/* Messages without lists: a few fields, plus room for fields a newer peer
 * adds (kept as unknown fields). */
#define SMALL CAIRN_MSG_FIELDS_SMALL
/* Messages with lists: bounded by the size limit alone. */
#define LISTS 0

static const struct msg_entry msg_table[] = {
    {CAIRN_MSG_REGISTER, "register", &cairn__register__descriptor, LISTS},
    {CAIRN_MSG_REGISTER_REPLY, "register_reply", &cairn__register_reply__descriptor, LISTS},
    {CAIRN_MSG_HEARTBEAT, "heartbeat", &cairn__heartbeat__descriptor, SMALL},
    {CAIRN_MSG_HEARTBEAT_REPLY, "heartbeat_reply", &cairn__heartbeat_reply__descriptor, SMALL},
    {CAIRN_MSG_RESOURCE_REPORT, "resource_report", &cairn__resource_report__descriptor, LISTS},
    {CAIRN_MSG_TASK_EVENT, "task_event", &cairn__task_event__descriptor, LISTS},
    {CAIRN_MSG_LOG_CHUNK, "log_chunk", &cairn__log_chunk__descriptor, SMALL},
    {CAIRN_MSG_GPU_HEALTH, "gpu_health", &cairn__gpu_health__descriptor, SMALL},
    {CAIRN_MSG_ASSIGN_TASK, "assign_task", &cairn__assign_task__descriptor, LISTS},
    {CAIRN_MSG_CANCEL_TASK, "cancel_task", &cairn__cancel_task__descriptor, SMALL},
    {CAIRN_MSG_READ_LOG, "read_log", &cairn__read_log__descriptor, SMALL},
    {CAIRN_MSG_SUBMIT, "submit", &cairn__submit_request__descriptor, LISTS},
    {CAIRN_MSG_SUBMIT_REPLY, "submit_reply", &cairn__submit_reply__descriptor, LISTS},
    {CAIRN_MSG_JOB_STATUS, "job_status", &cairn__job_status_request__descriptor, SMALL},
    {CAIRN_MSG_JOB_STATUS_REPLY, "job_status_reply", &cairn__job_status_reply__descriptor, LISTS},
    {CAIRN_MSG_LIST_JOBS, "list_jobs", &cairn__list_jobs_request__descriptor, SMALL},
    {CAIRN_MSG_LIST_JOBS_REPLY, "list_jobs_reply", &cairn__list_jobs_reply__descriptor, LISTS},
    {CAIRN_MSG_CANCEL, "cancel", &cairn__cancel_request__descriptor, SMALL},
    {CAIRN_MSG_CANCEL_REPLY, "cancel_reply", &cairn__cancel_reply__descriptor, SMALL},
    {CAIRN_MSG_LOGS, "logs", &cairn__logs_request__descriptor, SMALL},
    {CAIRN_MSG_LOGS_REPLY, "logs_reply", &cairn__logs_reply__descriptor, SMALL},
    {CAIRN_MSG_NODES, "nodes", &cairn__nodes_request__descriptor, LISTS},
    {CAIRN_MSG_NODES_REPLY, "nodes_reply", &cairn__nodes_reply__descriptor, LISTS},
    {CAIRN_MSG_DRAIN, "drain", &cairn__drain_request__descriptor, SMALL},
    {CAIRN_MSG_DRAIN_REPLY, "drain_reply", &cairn__drain_reply__descriptor, SMALL},
    {CAIRN_MSG_EXPLAIN, "explain", &cairn__explain_request__descriptor, SMALL},
    {CAIRN_MSG_EXPLAIN_REPLY, "explain_reply", &cairn__explain_reply__descriptor, LISTS},
    {CAIRN_MSG_SIGNED, "signed", &cairn__signed_request__descriptor, SMALL},
    {CAIRN_MSG_AUDIT, "audit", &cairn__audit_request__descriptor, SMALL},
    {CAIRN_MSG_AUDIT_REPLY, "audit_reply", &cairn__audit_reply__descriptor, LISTS},
    {CAIRN_MSG_PROVENANCE, "provenance", &cairn__provenance_request__descriptor, SMALL},
    {CAIRN_MSG_PROVENANCE_REPLY, "provenance_reply", &cairn__provenance_reply__descriptor, LISTS},
    {CAIRN_MSG_ACCOUNTING, "accounting", &cairn__accounting_request__descriptor, SMALL},
    {CAIRN_MSG_ACCOUNTING_REPLY, "accounting_reply", &cairn__accounting_reply__descriptor, LISTS},
    {CAIRN_MSG_USAGE, "usage", &cairn__usage_request__descriptor, SMALL},
    {CAIRN_MSG_USAGE_REPLY, "usage_reply", &cairn__usage_reply__descriptor, LISTS},
    {CAIRN_MSG_NODE_RM, "node_remove", &cairn__node_remove_request__descriptor, SMALL},
    {CAIRN_MSG_NODE_RM_REPLY, "node_remove_reply", &cairn__node_remove_reply__descriptor, SMALL},
    {CAIRN_MSG_GPU_ENABLE, "gpu_enable", &cairn__gpu_enable_request__descriptor, SMALL},
    {CAIRN_MSG_GPU_ENABLE_REPLY, "gpu_enable_reply", &cairn__gpu_enable_reply__descriptor, SMALL},
    {CAIRN_MSG_ACCOUNT, "account", &cairn__account_request__descriptor, LISTS},
    {CAIRN_MSG_ACCOUNT_REPLY, "account_reply", &cairn__account_reply__descriptor, LISTS},
    {CAIRN_MSG_SCHEDULERS, "schedulers", &cairn__schedulers_request__descriptor, SMALL},
    {CAIRN_MSG_SCHEDULERS_REPLY, "schedulers_reply", &cairn__schedulers_reply__descriptor, LISTS},
    {CAIRN_MSG_JOB_GRAPH, "job_graph", &cairn__job_graph_request__descriptor, LISTS},
    {CAIRN_MSG_JOB_GRAPH_REPLY, "job_graph_reply", &cairn__job_graph_reply__descriptor, LISTS},
    {CAIRN_MSG_WEB, "web", &cairn__web_request__descriptor, LISTS},
    {CAIRN_MSG_ACK, "ack", &cairn__ack__descriptor, SMALL},
    {CAIRN_MSG_ERROR, "error", &cairn__error_reply__descriptor, SMALL},
    {CAIRN_MSG_BATCH, "batch", &cairn__batch__descriptor, LISTS},
    {CAIRN_MSG_DELIVERED, "delivered", &cairn__delivered__descriptor, SMALL},
};

static const struct msg_entry *msg_lookup(cairn_msg_type_t type)
{
    for (size_t i = 0; i < sizeof(msg_table) / sizeof(msg_table[0]); i++) {
        if (msg_table[i].type == type)
            return &msg_table[i];
    }
    return NULL;
}

const char *cairn_msg_type_name(cairn_msg_type_t type)
{
    const struct msg_entry *e = msg_lookup(type);
    return e ? e->name : "unknown";
}

const ProtobufCMessageDescriptor *cairn_msg_descriptor(cairn_msg_type_t type)
{
    const struct msg_entry *e = msg_lookup(type);
    return e ? e->descriptor : NULL;
}

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

int cairn_msg_encode(cairn_msg_type_t type, const ProtobufCMessage *msg, uint8_t **buf, size_t *len,
                     cairn_error_t *err)
{
    const struct msg_entry *e = msg_lookup(type);
    if (!msg || !buf || !len)
        return errcode(err, -EINVAL, "encode: NULL argument");
    if (!e)
        return errcode(err, -EINVAL, "encode: unknown message type %d", (int)type);
    if (msg->descriptor != e->descriptor)
        return errcode(err, -EINVAL, "encode: type %s needs a %s message, got %s", e->name,
                       e->descriptor->short_name,
                       msg->descriptor ? msg->descriptor->short_name : "(no descriptor)");
    int rc = cairn_msg_validate(msg, err);
    if (rc < 0)
        return rc;

    size_t payload = protobuf_c_message_get_packed_size(msg);
    if (payload > UINT32_MAX - CAIRN_MSG_HEADER_SIZE)
        return errcode(err, -EMSGSIZE, "encode: %s payload of %zu bytes is too large", e->name,
                       payload);
    uint8_t *out = malloc(CAIRN_MSG_HEADER_SIZE + payload);
    if (!out)
        return errcode(err, -ENOMEM, "encode: out of memory for %zu bytes", payload);
    put_u16(out, CAIRN_MSG_MAGIC);
    put_u16(out + 2, CAIRN_PROTO_VERSION);
    put_u16(out + 4, (uint16_t)type);
    put_u16(out + 6, 0);
    put_u32(out + 8, (uint32_t)payload);
    size_t packed = protobuf_c_message_pack(msg, out + CAIRN_MSG_HEADER_SIZE);
    if (packed != payload) {
        free(out);
        return errcode(err, -EINVAL, "encode: %s packed to %zu bytes, expected %zu", e->name,
                       packed, payload);
    }
    *buf = out;
    *len = CAIRN_MSG_HEADER_SIZE + payload;
    return 0;
}

/* Check the header of a len-byte message; on success return the table
 * entry and the payload length. */
static int check_header(const uint8_t *p, size_t len, size_t max_size,
                        const struct msg_entry **entry, size_t *payload, cairn_error_t *err)
{
    if (len < CAIRN_MSG_HEADER_SIZE)
        return errcode(err, -EBADMSG, "message truncated: %zu bytes, the header alone is %d", len,
                       CAIRN_MSG_HEADER_SIZE);
    uint16_t magic = get_u16(p);
    uint16_t version = get_u16(p + 2);
    uint16_t type = get_u16(p + 4);
    uint16_t flags = get_u16(p + 6);
    uint32_t plen = get_u32(p + 8);
    if (magic != CAIRN_MSG_MAGIC)
        return errcode(err, -EPROTO, "bad magic 0x%04x (expected 0x%04x): not a Cairn message",
                       magic, CAIRN_MSG_MAGIC);
    if (version != CAIRN_PROTO_VERSION)
        return errcode(err, -EPROTONOSUPPORT,
                       "unsupported protocol version %u (this build speaks %u)", version,
                       CAIRN_PROTO_VERSION);
    if (flags != 0)
        return errcode(err, -EPROTO, "unknown flags 0x%04x in header", flags);
    const struct msg_entry *e = msg_lookup((cairn_msg_type_t)type);
    if (!e)
        return errcode(err, -ENOMSG, "unknown message type %u", type);
    if ((uint64_t)plen + CAIRN_MSG_HEADER_SIZE > max_size)
        return errcode(err, -EMSGSIZE, "%s message of %llu bytes exceeds the limit of %zu", e->name,
                       (unsigned long long)plen + CAIRN_MSG_HEADER_SIZE, max_size);
    if (len - CAIRN_MSG_HEADER_SIZE != plen)
        return errcode(err, -EBADMSG, "%s header announces a %u-byte payload but %zu bytes follow",
                       e->name, plen, len - CAIRN_MSG_HEADER_SIZE);
    *entry = e;
    *payload = plen;
    return 0;
}

static void *sys_alloc(void *data, size_t size)
{
    (void)data;
    return malloc(size);
}

static void sys_free(void *data, void *p)
{
    (void)data;
    free(p);
}

static ProtobufCAllocator sys_allocator = {.alloc = sys_alloc, .free = sys_free};

/* The allocator unpack runs with: the caller's, stopping at a budget of
 * bytes (freed bytes are not given back: the budget bounds the total). It
 * backs up the scan, whose figures it should never see exceeded. */
struct budget {
    ProtobufCAllocator *base;
    size_t left;
    bool spent;
};

static void *budget_alloc(void *data, size_t size)
{
    struct budget *b = data;
    if (size > b->left) {
        b->spent = true;
        return NULL;
    }
    b->left -= size;
    return b->base->alloc(b->base->allocator_data, size);
}

static void budget_free(void *data, void *p)
{
    struct budget *b = data;
    b->base->free(b->base->allocator_data, p);
}

/* Price the payload and refuse it if it costs more than its type and the
 * size limit allow; on success *bytes is its byte budget. */
static int check_cost(const struct msg_entry *e, const uint8_t *p, size_t payload, size_t max_size,
                      size_t *bytes, cairn_error_t *err)
{
    cairn_msg_cost_t cost;
    cairn_error_t why = {{0}};
    int rc = cairn_msg_cost(e->descriptor, p, payload, &cost, &why);
    if (rc < 0)
        return errcode(err, rc, "malformed %s payload (%zu bytes): %s", e->name, payload, why.text);
    size_t by_size = max_size / CAIRN_MSG_BYTES_PER_FIELD;
    if (by_size < CAIRN_MSG_FIELDS_MIN)
        by_size = CAIRN_MSG_FIELDS_MIN;
    if (e->max_fields && cost.fields > e->max_fields)
        return errcode(err, -EMSGSIZE,
                       "%s message has %zu fields, more than the %zu a %s may have: refused "
                       "before decoding",
                       e->name, cost.fields, e->max_fields, e->name);
    if (cost.fields > by_size)
        return errcode(err, -EMSGSIZE,
                       "%s message of %zu bytes has %zu fields, more than %zu (one per %d bytes "
                       "of the %zu-byte limit): refused before decoding",
                       e->name, payload + CAIRN_MSG_HEADER_SIZE, cost.fields, by_size,
                       CAIRN_MSG_BYTES_PER_FIELD, max_size);
    size_t budget = max_size * CAIRN_MSG_DECODE_FACTOR;
    if (cost.bytes > budget)
        return errcode(err, -EMSGSIZE,
                       "%s message of %zu bytes would take %zu bytes to decode, more than %zu "
                       "(%d times the %zu-byte limit): refused before decoding",
                       e->name, payload + CAIRN_MSG_HEADER_SIZE, cost.bytes, budget,
                       CAIRN_MSG_DECODE_FACTOR, max_size);
    *bytes = budget;
    return 0;
}

int cairn_msg_decode_alloc(const void *buf, size_t len, size_t max_size, ProtobufCAllocator *alloc,
                           cairn_msg_type_t *type, ProtobufCMessage **msg, cairn_error_t *err)
{
    const uint8_t *p = buf;
    const struct msg_entry *e = NULL;
    size_t payload = 0, budget = 0;

    if (!type || !msg || (!buf && len > 0))
        return errcode(err, -EINVAL, "decode: NULL argument");
    if (max_size == 0)
        max_size = CAIRN_MSG_MAX_DEFAULT;
    int rc = check_header(p, len, max_size, &e, &payload, err);
    if (rc < 0)
        return rc;
    if ((rc = check_cost(e, p + CAIRN_MSG_HEADER_SIZE, payload, max_size, &budget, err)) < 0)
        return rc;
    struct budget b = {.base = alloc ? alloc : &sys_allocator, .left = budget};
    ProtobufCAllocator bounded = {.alloc = budget_alloc, .free = budget_free, .allocator_data = &b};
    ProtobufCMessage *m =
        protobuf_c_message_unpack(e->descriptor, &bounded, payload, p + CAIRN_MSG_HEADER_SIZE);
    if (!m && b.spent)
        return errcode(err, -EMSGSIZE, "%s message of %zu bytes took more than %zu bytes to decode",
                       e->name, len, budget);
    if (!m)
        return errcode(err, -EBADMSG, "malformed %s payload (%zu bytes)", e->name, payload);
    rc = cairn_msg_validate(m, err);
    if (rc < 0) {
        protobuf_c_message_free_unpacked(m, b.base);
        return rc;
    }
    *type = e->type;
    *msg = m;
    return 0;
}

int cairn_msg_decode(const void *buf, size_t len, size_t max_size, cairn_msg_type_t *type,
                     ProtobufCMessage **msg, cairn_error_t *err)
{
    return cairn_msg_decode_alloc(buf, len, max_size, NULL, type, msg, err);
}

void cairn_msg_free(ProtobufCMessage *msg)
{
    if (msg)
        protobuf_c_message_free_unpacked(msg, NULL);
}
