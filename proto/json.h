/* JSON output on jansson: the client's --json, the worker's
 * --print-resources --json and the scheduler's /status page build jansson
 * values with these and write them with cairn_json_print/cairn_json_text.
 *
 * What jansson does not do by itself, done here once:
 *   - strings: jansson refuses invalid UTF-8 (json_string returns NULL and
 *     a dump of json_stringn_nocheck fails); cairn_json_str writes each byte
 *     that is not part of valid UTF-8 as U+FFFD, and NULL as "".
 *   - integers: jansson holds long long; cairn_json_u64 keeps a uint64_t
 *     above INT64_MAX (a seed) exact, written as that integer.
 *   - reals: a figure given with N decimals (cairn_json_fixed) is written as
 *     those decimals say (0.5, not 0.50000000000000000); NaN and infinities
 *     are null (JSON has no such numbers).
 * Every constructor returns a new reference, or NULL when out of memory;
 * json_pack's "o" takes them (a NULL fails the pack, which frees the rest). */
#ifndef CAIRN_PROTO_JSON_H
#define CAIRN_PROTO_JSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stdint.h>
#include <stdio.h>

/* Layouts (flags of cairn_json_print and cairn_json_text): one line
 * ({"a": 1, "b": [2, 3]}), or indented by two spaces, one member or
 * element per line. Reals get 15 significant digits; with
 * CAIRN_JSON_EXACT, 17 (every double exactly, as messages are written). */
#define CAIRN_JSON_LINE 0
#define CAIRN_JSON_INDENT JSON_INDENT(2)
#define CAIRN_JSON_EXACT JSON_REAL_PRECISION(17)

/* A string: s (NULL: ""), each byte that is not part of valid UTF-8 as
 * U+FFFD. Control characters are escaped when written. */
json_t *cairn_json_str(const char *s);

/* An integer: exact for every uint64_t (jansson's long long stops at
 * INT64_MAX; larger ones are held apart and written as integers by
 * cairn_json_print and cairn_json_text). */
json_t *cairn_json_u64(uint64_t v);

/* A real: v as printf's "%.*f" writes it with decimals digits after the
 * point; null when v is NaN or infinite. */
json_t *cairn_json_fixed(double v, int decimals);

/* Any message as an object, from its descriptor: every field under its
 * .proto name in .proto order (of a oneof, only the member set), enums by
 * name (a number this build does not know as that number), bytes in hex,
 * 64-bit integers exact, a double as an integer when it is whole (below
 * 1e17) and else exactly (write with CAIRN_JSON_EXACT), a missing message
 * as null. */
json_t *cairn_json_msg(const ProtobufCMessage *m);

/* cairn_json_msg with flags: CAIRN_JSON_ENUM_SHORT writes enums by their
 * short names, as the HTTP API does (docs/api.md): "running" for
 * TASK_STATE_RUNNING of TaskState, "not_found" for ERROR_CODE_NOT_FOUND. */
#define CAIRN_JSON_ENUM_SHORT 1
json_t *cairn_json_msg_flags(const ProtobufCMessage *m, int flags);

/* A list of integers. */
json_t *cairn_json_u32s(const uint32_t *v, size_t n);

/* Append v (taken) to the list *arr: 0, or -1 when v is NULL or out of
 * memory, which frees the list and sets *arr to NULL (then later pushes
 * only free what they are given, and the NULL fails the pack it goes to). */
int cairn_json_push(json_t **arr, json_t *v);

/* Set the member key (a key that is not valid UTF-8 as cairn_json_str
 * has it) of the object *obj to v (taken): 0, or -1 when v is NULL or out
 * of memory, which frees the object and sets *obj to NULL (as
 * cairn_json_push). */
int cairn_json_set(json_t **obj, const char *key, json_t *v);

/* The text of doc in the layout flags, with a newline: malloc'd (the
 * caller frees it), NULL when doc is NULL or out of memory. Takes doc. */
char *cairn_json_text(json_t *doc, size_t flags);

/* Write doc to f as cairn_json_text has it: 0, -ENOMEM (doc NULL or out of
 * memory) or -EIO. Takes doc. */
int cairn_json_print(FILE *f, json_t *doc, size_t flags);

#endif
