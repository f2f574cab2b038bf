#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>

int errcode(cairn_error_t *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->text, sizeof(err->text), fmt, ap);
        va_end(ap);
    }
    return code;
}

void cairn_error_clear(cairn_error_t *err)
{
    if (err)
        err->text[0] = '\0';
}
