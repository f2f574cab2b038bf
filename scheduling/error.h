/* Error reporting shared by every Cairn component.
 *
 * Functions that can fail return 0 or a negative code and take an optional
 * last parameter `cairn_error_t *err` that receives a human-readable message.
 */
#ifndef CAIRN_ERROR_H
#define CAIRN_ERROR_H

#include <stddef.h>

typedef struct cairn_error {
    char text[256];
} cairn_error_t;

/* Format a message into err (if not NULL) and return -1, so that a failure
 * path is one line: `return errprintf(err, "bad %s", x);` */
int errprintf(cairn_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like errprintf() but returns `code` (a negative errno-style value). */
int errcode(cairn_error_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clear an error (no-op on NULL). */
void cairn_error_clear(cairn_error_t *err);

#endif
