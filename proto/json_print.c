#include "proto/json_print.h"

#include <string.h>

#include "proto/validate.h"

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

/* ---- any message, from its descriptor ------------------------------------ */

static void indent(FILE *f, int n)
{
    fputc('\n', f);
    for (int i = 0; i < n; i++)
        fputs("  ", f);
}

static void print_value(FILE *f, const ProtobufCFieldDescriptor *fd, const void *p, int depth)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        fprintf(f, "%d", *(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        fprintf(f, "%u", *(const uint32_t *)p);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        fprintf(f, "%lld", (long long)*(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        fprintf(f, "%llu", (unsigned long long)*(const uint64_t *)p);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        fprintf(f, "%.9g", (double)*(const float *)p);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        fprintf(f, "%.17g", *(const double *)p);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        fputs(*(const protobuf_c_boolean *)p ? "true" : "false", f);
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
            (const ProtobufCEnumDescriptor *)fd->descriptor, *(const int *)p);
        if (ev)
            cairn_json_print_string(f, ev->name);
        else
            fprintf(f, "%d", *(const int *)p);
        break;
    }
    case PROTOBUF_C_TYPE_STRING:
        cairn_json_print_string(f, *(char *const *)p);
        break;
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        fputc('"', f);
        for (size_t i = 0; i < b->len; i++)
            fprintf(f, "%02x", b->data[i]);
        fputc('"', f);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(const ProtobufCMessage *const *)p;
        if (m)
            cairn_json_print_msg(f, m, depth);
        else
            fputs("null", f);
        break;
    }
    }
}

void cairn_json_print_msg(FILE *f, const ProtobufCMessage *m, int depth)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    bool first = true;
    fputc('{', f);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        const void *p = base + fd->offset;
        if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            /* only the member that is set */
            if (*(const uint32_t *)(base + fd->quantifier_offset) != fd->id)
                continue;
        }
        fputs(first ? "" : ",", f);
        first = false;
        indent(f, depth + 1);
        cairn_json_print_string(f, fd->name);
        fputs(": ", f);
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + fd->quantifier_offset);
            const char *arr = *(const char *const *)p;
            fputc('[', f);
            for (size_t k = 0; k < n; k++) {
                fputs(k ? "," : "", f);
                indent(f, depth + 2);
                print_value(f, fd, arr + k * cairn_msg_elt_size(fd->type), depth + 2);
            }
            if (n)
                indent(f, depth + 1);
            fputc(']', f);
        } else {
            print_value(f, fd, p, depth + 1);
        }
    }
    if (!first)
        indent(f, depth);
    fputc('}', f);
}
