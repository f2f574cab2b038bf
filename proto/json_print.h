/* JSON output shared by the worker (--print-resources --json) and the
 * cairn client (--json). */
#ifndef CAIRN_PROTO_JSON_PRINT_H
#define CAIRN_PROTO_JSON_PRINT_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdio.h>

/* Print s (NULL: "") as a JSON string: quoted, escaped, control
 * characters as \u00XX, invalid UTF-8 as U+FFFD. */
void cairn_json_print_string(FILE *f, const char *s);

/* Print any message as JSON from its descriptor: every field under its
 * .proto name (unset oneof members left out), enums by name, bytes in hex,
 * 64-bit integers as numbers; depth is the indentation level. */
void cairn_json_print_msg(FILE *f, const ProtobufCMessage *m, int depth);

#endif
