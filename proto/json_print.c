#include "json_print.h"

#include <string.h>

#include "validate.h"

void cairn_json_print_string(FILE *f, const char *str)
{
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    size_t left = strlen((const char *)s);
    fputc('"', f);
    while (left > 0) {
        size_t len = cairn_utf8_seq_len(s, left);
        if (len == 0) {
            fputs("\\ufffd", f);
            s++, left--;
            continue;
        }
        switch (*s) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (*s < 0x20 || *s == 0x7f)
                fprintf(f, "\\u%04x", *s);
            else
                fwrite(s, 1, len, f);
        }
        s += len, left -= len;
    }
    fputc('"', f);
}
