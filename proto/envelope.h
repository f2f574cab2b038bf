/* The envelope around every Cairn message on the wire.
 *
 * A message is a fixed 12-byte header followed by the protobuf payload:
 *
 *   offset 0  u16 magic            CAIRN_MSG_MAGIC ("CN")
 *          2  u16 protocol version CAIRN_PROTO_VERSION
 *          4  u16 message type     cairn_msg_type_t
 *          6  u16 flags            none defined: must be 0
 *          8  u32 payload length   bytes after the header
 *
 * all big-endian. The type names the payload's protobuf message, so there is
 * no wrapper message. Schemas are in proto/{common,worker,client}.proto; this
 * header includes their generated headers.
 *
 * Decoding validates everything it can without knowing the meaning of the
 * fields (header, size limit, protobuf well-formedness, UTF-8 of strings);
 * handlers still check ids, ranges and invariants before using a message.
 * Enum fields may hold values this build does not know (proto3 enums are
 * open): treat them like the enum's UNSPECIFIED value.
 */
#ifndef CAIRN_PROTO_ENVELOPE_H
#define CAIRN_PROTO_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "common/error.h"
#include "proto/client.pb-c.h"
#include "proto/common.pb-c.h"
#include "proto/validate.h"
#include "proto/worker.pb-c.h"

#define CAIRN_PROTO_VERSION 1
#define CAIRN_MSG_MAGIC 0x434e /* "CN" */
#define CAIRN_MSG_HEADER_SIZE 12
/* Default limit on a whole message (header + payload) for cairn_msg_decode(). */
#define CAIRN_MSG_MAX_DEFAULT (16u * 1024 * 1024)
/* The limit on a message from a peer not authenticated yet: a worker before
 * its registration is accepted, the scheduler's answers to a worker before
 * then, an anonymous client (see cairn_net_set_auth() in net.h). */
#define CAIRN_MSG_PREAUTH_MAX (1u << 20)

/* What cairn_msg_decode() lets a payload cost before it unpacks it (see
 * cairn_msg_cost() in validate.h). Fields: at most one per
 * CAIRN_MSG_BYTES_PER_FIELD bytes of the size limit (never fewer than
 * CAIRN_MSG_FIELDS_MIN), and for small control messages (heartbeats, acks,
 * requests without lists) at most CAIRN_MSG_FIELDS_SMALL. The densest
 * encoding, empty repeated elements, takes 2 bytes a field: a payload near
 * the limit made of them is refused. Bytes: what unpacking allocates, at
 * most CAIRN_MSG_DECODE_FACTOR times the size limit. */
#define CAIRN_MSG_BYTES_PER_FIELD 4
#define CAIRN_MSG_FIELDS_MIN 4096
#define CAIRN_MSG_FIELDS_SMALL 1024
#define CAIRN_MSG_DECODE_FACTOR 32

/* Message types. The numbers are part of the protocol: never reuse or
 * renumber one. Ranges: 1-15 worker -> scheduler (and their replies),
 * 16-31 scheduler -> worker, 32-63 client <-> scheduler, 64+ generic. */
typedef enum cairn_msg_type {
    CAIRN_MSG_REGISTER = 1,          /* Cairn__Register */
    CAIRN_MSG_REGISTER_REPLY = 2,    /* Cairn__RegisterReply */
    CAIRN_MSG_HEARTBEAT = 3,         /* Cairn__Heartbeat */
    CAIRN_MSG_HEARTBEAT_REPLY = 4,   /* Cairn__HeartbeatReply */
    CAIRN_MSG_RESOURCE_REPORT = 5,   /* Cairn__ResourceReport */
    CAIRN_MSG_TASK_EVENT = 6,        /* Cairn__TaskEvent */
    CAIRN_MSG_LOG_CHUNK = 7,         /* Cairn__LogChunk (answers READ_LOG) */
    CAIRN_MSG_GPU_HEALTH = 9,        /* Cairn__GpuHealth */
    CAIRN_MSG_ASSIGN_TASK = 16,      /* Cairn__AssignTask */
    CAIRN_MSG_CANCEL_TASK = 17,      /* Cairn__CancelTask */
    CAIRN_MSG_READ_LOG = 18,         /* Cairn__ReadLog */
    CAIRN_MSG_SUBMIT = 32,           /* Cairn__SubmitRequest */
    CAIRN_MSG_SUBMIT_REPLY = 33,     /* Cairn__SubmitReply */
    CAIRN_MSG_JOB_STATUS = 34,       /* Cairn__JobStatusRequest */
    CAIRN_MSG_JOB_STATUS_REPLY = 35, /* Cairn__JobStatusReply */
    CAIRN_MSG_LIST_JOBS = 36,        /* Cairn__ListJobsRequest */
    CAIRN_MSG_LIST_JOBS_REPLY = 37,  /* Cairn__ListJobsReply */
    CAIRN_MSG_CANCEL = 38,           /* Cairn__CancelRequest */
    CAIRN_MSG_CANCEL_REPLY = 39,     /* Cairn__CancelReply */
    CAIRN_MSG_LOGS = 40,             /* Cairn__LogsRequest */
    CAIRN_MSG_LOGS_REPLY = 41,       /* Cairn__LogsReply */
    CAIRN_MSG_NODES = 42,            /* Cairn__NodesRequest */
    CAIRN_MSG_NODES_REPLY = 43,      /* Cairn__NodesReply */
    CAIRN_MSG_DRAIN = 44,            /* Cairn__DrainRequest */
    CAIRN_MSG_DRAIN_REPLY = 45,      /* Cairn__DrainReply */
    CAIRN_MSG_EXPLAIN = 46,          /* Cairn__ExplainRequest */
    CAIRN_MSG_EXPLAIN_REPLY = 47,    /* Cairn__ExplainReply */
    CAIRN_MSG_SIGNED = 48,           /* Cairn__SignedRequest (wraps a request) */
    CAIRN_MSG_AUDIT = 49,            /* Cairn__AuditRequest */
    CAIRN_MSG_AUDIT_REPLY = 50,      /* Cairn__AuditReply */
    CAIRN_MSG_PROVENANCE = 51,       /* Cairn__ProvenanceRequest */
    CAIRN_MSG_PROVENANCE_REPLY = 52, /* Cairn__ProvenanceReply */
    CAIRN_MSG_ACCOUNTING = 53,       /* Cairn__AccountingRequest */
    CAIRN_MSG_ACCOUNTING_REPLY = 54, /* Cairn__AccountingReply */
    CAIRN_MSG_USAGE = 55,            /* Cairn__UsageRequest */
    CAIRN_MSG_USAGE_REPLY = 56,      /* Cairn__UsageReply */
    CAIRN_MSG_NODE_RM = 57,          /* Cairn__NodeRemoveRequest */
    CAIRN_MSG_NODE_RM_REPLY = 58,    /* Cairn__NodeRemoveReply */
    CAIRN_MSG_ACCOUNT = 59,          /* Cairn__AccountRequest */
    CAIRN_MSG_ACCOUNT_REPLY = 60,    /* Cairn__AccountReply */
    CAIRN_MSG_SCHEDULERS = 61,       /* Cairn__SchedulersRequest */
    CAIRN_MSG_SCHEDULERS_REPLY = 62, /* Cairn__SchedulersReply */
    CAIRN_MSG_JOB_GRAPH = 66,        /* Cairn__JobGraphRequest */
    CAIRN_MSG_JOB_GRAPH_REPLY = 67,  /* Cairn__JobGraphReply */
    CAIRN_MSG_WEB = 68,              /* Cairn__WebRequest (wraps a request) */
    CAIRN_MSG_GPU_ENABLE = 69,       /* Cairn__GpuEnableRequest */
    CAIRN_MSG_GPU_ENABLE_REPLY = 70, /* Cairn__GpuEnableReply */
    CAIRN_MSG_ACK = 64,              /* Cairn__Ack */
    CAIRN_MSG_ERROR = 65,            /* Cairn__ErrorReply */
    CAIRN_MSG_BATCH = 80,            /* Cairn__Batch (transport, see net.h) */
    CAIRN_MSG_DELIVERED = 81,        /* Cairn__Delivered (transport) */
} cairn_msg_type_t;

/* Short lower-case name of a type ("register", "job_status_reply"), for
 * logs; "unknown" for a number that is not a type. Never NULL. */
const char *cairn_msg_type_name(cairn_msg_type_t type);

/* The protobuf descriptor of a type's payload, or NULL if the number is not
 * a type. */
const ProtobufCMessageDescriptor *cairn_msg_descriptor(cairn_msg_type_t type);

/* Encode msg as a message of the given type into a new malloc'd buffer
 * (header + payload); on success *buf (free() it) and *len are set.
 * The message is validated first (see cairn_msg_validate()).
 * Errors: -EINVAL (NULL argument, unknown type, msg's descriptor is not the
 * type's, NULL where a value is required), -EILSEQ (invalid UTF-8 in a
 * string field), -EMSGSIZE (payload over 4 GiB), -ENOMEM. On failure
 * nothing is allocated and *buf, *len are unchanged. */
int cairn_msg_encode(cairn_msg_type_t type, const ProtobufCMessage *msg, uint8_t **buf, size_t *len,
                     cairn_error_t *err);

/* Decode one whole message of len bytes. max_size bounds header + payload
 * (0 means CAIRN_MSG_MAX_DEFAULT); pick it for what the socket carries.
 * The payload is priced first (cairn_msg_cost()) and unpacked only within
 * the limits above, through an allocator that stops at the byte budget.
 * On success *type and *msg are set; the caller frees *msg with
 * cairn_msg_free() and must copy out what it keeps (never hold pointers
 * into it). Errors, each with a message in err:
 *   -EINVAL           NULL type or msg, or NULL buf with len > 0
 *   -EBADMSG          shorter than the header, payload length in the header
 *                     does not match len, or malformed protobuf payload
 *                     (a single message field given twice included)
 *   -EPROTO           bad magic, or unknown flags set
 *   -EPROTONOSUPPORT  protocol version other than CAIRN_PROTO_VERSION
 *   -ENOMSG           unknown message type
 *   -EMSGSIZE         header + payload length over max_size, or a payload
 *                     with more fields, or costing more bytes to unpack,
 *                     than the limits above allow ("refused before
 *                     decoding": nothing was unpacked)
 *   -EILSEQ           a string field is not valid UTF-8 (err names it)
 * On failure nothing is allocated and *type, *msg are unchanged. */
int cairn_msg_decode(const void *buf, size_t len, size_t max_size, cairn_msg_type_t *type,
                     ProtobufCMessage **msg, cairn_error_t *err);

/* cairn_msg_decode(), allocating through alloc (NULL: malloc); a message so
 * decoded is freed with protobuf_c_message_free_unpacked(msg, alloc). For
 * callers that count or pool what a decode allocates. */
int cairn_msg_decode_alloc(const void *buf, size_t len, size_t max_size, ProtobufCAllocator *alloc,
                           cairn_msg_type_t *type, ProtobufCMessage **msg, cairn_error_t *err);

/* Free a message returned by cairn_msg_decode(). NULL is a no-op. */
void cairn_msg_free(ProtobufCMessage *msg);

#endif
