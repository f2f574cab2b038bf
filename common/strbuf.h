/* A growable string buffer: text built piece by piece (explanations,
 * dumps, metrics pages, expanded spec strings). A failed allocation makes
 * the buffer remember it; cairn_buf_take then gives NULL, so callers check
 * once, at the end. */
#ifndef CAIRN_COMMON_STRBUF_H
#define CAIRN_COMMON_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cairn_buf {
    char *p; /* NUL-terminated once anything was added */
    size_t len, cap;
    bool oom;
} cairn_buf_t;

/* Append formatted text. */
void cairn_buf_printf(cairn_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append n bytes of s. */
void cairn_buf_add(cairn_buf_t *b, const char *s, size_t n);
/* The text (malloc'd, "" when nothing was added; the caller frees it), or
 * NULL after a failed allocation. The buffer is empty afterwards. */
char *cairn_buf_take(cairn_buf_t *b);
/* Free the text and empty the buffer. */
void cairn_buf_fini(cairn_buf_t *b);

#endif
