/* Errors, the same way in every part of Cairn.
 *
 * A function that can fail returns 0 (or a count, a descriptor) or a
 * negative errno code, one code space for the whole project (the core's
 * sched_err_t names the errno codes it uses). It takes an optional last
 * parameter `cairn_error_t *err` that receives a message for a person:
 * what failed and, where it helps, how to fix it. */
#ifndef CAIRN_COMMON_ERROR_H
#define CAIRN_COMMON_ERROR_H

#include <stddef.h>

typedef struct cairn_error {
    char text[256];
} cairn_error_t;

/* Format a message into err (if not NULL) and return code (negative), so
 * that a failure path is one line:
 * `return errcode(err, -EINVAL, "bad %s", x);` */
int errcode(cairn_error_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clear an error (no-op on NULL). */
void cairn_error_clear(cairn_error_t *err);

#endif
