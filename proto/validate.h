/* Checks on protobuf-c messages that protobuf-c itself does not make.
 *
 * protobuf-c 1.4 does not check on unpack that `string` fields hold UTF-8,
 * and packs NULL array elements by crashing; cairn_msg_encode() and
 * cairn_msg_decode() run cairn_msg_validate() so that neither reaches a peer.
 * It also allocates before it checks anything: cairn_msg_decode() first
 * prices a payload with cairn_msg_cost() and refuses what costs too much.
 */
#ifndef CAIRN_PROTO_VALIDATE_H
#define CAIRN_PROTO_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "common/error.h"

/* Check a message before it is encoded or after it is decoded: every string
 * field (nested messages included) is valid UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), repeated fields with
 * elements have an array, no element is NULL, bytes with a length have
 * data, and nested messages have the field's type.
 * Errors: -EILSEQ (invalid UTF-8), -EINVAL (the rest); err names the field
 * by path, e.g. "Register.labels[1].value". */
int cairn_msg_validate(const ProtobufCMessage *msg, cairn_error_t *err);

/* What unpacking a payload would cost protobuf-c 1.4, found by a scan of
 * its wire format that allocates nothing (proto/scan.c). */
typedef struct cairn_msg_cost {
    size_t fields;  /* fields read off the wire, nested ones included; a
                       packed run of numbers is one */
    size_t objects; /* allocations: messages, arrays, strings, bytes,
                       unknown fields and protobuf-c's own scratch */
    size_t bytes;   /* the bytes those allocations add up to */
} cairn_msg_cost_t;

/* Scan len bytes of a desc message and fill *cost. The figures are those of
 * protobuf_c_message_unpack() succeeding: one that fails allocates less.
 * Errors (nothing is filled): -EINVAL (NULL argument); -EBADMSG when the
 * wire format is malformed where protobuf-c would refuse it too, when
 * messages nest deeper than 32, or when a singular (non-oneof) message
 * field appears twice, which protobuf-c would merge at a cost quadratic in
 * the copies (protobuf allows it; no Cairn encoder does it). err says
 * which message and field. */
int cairn_msg_cost(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                   cairn_msg_cost_t *cost, cairn_error_t *err);

/* Bytes one element of a repeated field of type takes in its array, as
 * protobuf-c lays it out (sizeof_elt_in_repeated_array() in protobuf-c.c). */
size_t cairn_msg_elt_size(ProtobufCType type);

/* Whether the len bytes at s are valid UTF-8 (same rules as above). */
bool cairn_utf8_valid(const char *s, size_t len);

/* Length of the valid UTF-8 sequence at p (avail bytes there), 0 if it is
 * not one: overlong forms, surrogates and code points past U+10FFFF are
 * refused. */
size_t cairn_utf8_seq_len(const unsigned char *p, size_t avail);

/* Names that become one component of a path on a node and appear in logs
 * and tables: task names and node names. Why s cannot be such a name, or
 * NULL when it can: empty, longer than max bytes, "." or "..", a path
 * separator ('/' or '\\'), a control character (below 0x20, 0x7f); node
 * names (node true) also no space or ',' (gang nodes are listed joined by
 * ','). */
const char *cairn_name_problem(const char *s, size_t max, bool node);

/* s made safe for a log line: control characters, '\\' and non-ASCII
 * bytes as \xNN, at most n-1 bytes (cut at a character's end). Returns
 * buf. */
const char *cairn_log_escape(const char *s, char *buf, size_t n);

#endif
