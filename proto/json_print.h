/* JSON output shared by the worker (--print-resources --json) and the
 * cairn client (--json). */
#ifndef CAIRN_PROTO_JSON_PRINT_H
#define CAIRN_PROTO_JSON_PRINT_H

#include <stdio.h>

/* Print s (NULL: "") as a JSON string: quoted, escaped, control
 * characters as \u00XX, invalid UTF-8 as U+FFFD. */
void cairn_json_print_string(FILE *f, const char *s);

#endif
