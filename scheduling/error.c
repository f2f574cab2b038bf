#include "error.h"

#include <stdarg.h>
#include <stdio.h>

static void vfill(cairn_error_t *err, const char *fmt, va_list ap)
{
    if (err)
        vsnprintf(err->text, sizeof(err->text), fmt, ap);
}

int errprintf(cairn_error_t *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfill(err, fmt, ap);
    va_end(ap);
    return -1;
}

int errcode(cairn_error_t *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfill(err, fmt, ap);
    va_end(ap);
    return code;
}

void cairn_error_clear(cairn_error_t *err)
{
    if (err)
        err->text[0] = '\0';
}
