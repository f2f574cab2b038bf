#include "proto/json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "proto/validate.h"

/* A uint64_t above INT64_MAX is held as a string of a NUL and its digits,
 * which jansson writes as "\u0000DIGITS"; unmark() turns that back into
 * the integer. No other string holds a NUL: every other string here is a C
 * string, and a user's backslash is written as \\, so the mark is ours. */
static const char big_mark[] = "\"\\u0000";

/* s with each byte that is not part of valid UTF-8 as U+FFFD: malloc'd,
 * its length in *n; NULL when out of memory. */
static char *utf8_fixed(const char *s, size_t len, size_t *n)
{
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    char *t = malloc(3 * len + 1);
    if (!t)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t k = 0;
    while (len > 0) {
        size_t l = cairn_utf8_seq_len(p, len);
        if (l == 0) {
            memcpy(t + k, "\xef\xbf\xbd", 3);
            k += 3;
            l = 1;
        } else {
            memcpy(t + k, p, l);
            k += l;
        }
        p += l, len -= l;
    }
    t[k] = '\0';
    *n = k;
    return t;
}

json_t *cairn_json_str(const char *s)
{
    if (!s)
        s = "";
    size_t len = strlen(s), n;
    if (cairn_utf8_valid(s, len))
        return json_stringn_nocheck(s, len);
    char *t = utf8_fixed(s, len, &n);
    json_t *j = t ? json_stringn_nocheck(t, n) : NULL;
    free(t);
    return j;
}

json_t *cairn_json_u64(uint64_t v)
{
    if (v <= INT64_MAX)
        return json_integer((json_int_t)v);
    char s[24];
    int n = snprintf(s + 1, sizeof(s) - 1, "%" PRIu64, v);
    s[0] = '\0';
    return json_stringn_nocheck(s, (size_t)n + 1);
}

json_t *cairn_json_fixed(double v, int decimals)
{
    if (!isfinite(v))
        return json_null();
    char buf[400]; /* %.17f of DBL_MAX: 309 digits, the point and 17 */
    snprintf(buf, sizeof(buf), "%.*f", decimals, v);
    return json_real(strtod(buf, NULL));
}

json_t *cairn_json_u32s(const uint32_t *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        cairn_json_push(&a, json_integer(v[i]));
    return a;
}

int cairn_json_push(json_t **arr, json_t *v)
{
    if (json_array_append_new(*arr, v) == 0)
        return 0;
    json_decref(*arr);
    *arr = NULL;
    return -1;
}

int cairn_json_set(json_t **obj, const char *key, json_t *v)
{
    size_t len = strlen(key), n;
    char *fixed = cairn_utf8_valid(key, len) ? NULL : utf8_fixed(key, len, &n);
    int rc = -1;
    if (fixed || cairn_utf8_valid(key, len))
        rc = json_object_set_new_nocheck(*obj, fixed ? fixed : key, v);
    else
        json_decref(v);
    free(fixed);
    if (rc < 0) {
        json_decref(*obj);
        *obj = NULL;
    }
    return rc;
}

/* ---- any message, from its descriptor ------------------------------------ */

/* A double as "%.17g" writes it: a whole number below 1e17 has no point,
 * so it is an integer; others keep every digit (CAIRN_JSON_EXACT). */
static json_t *real_of(double v)
{
    if (!isfinite(v))
        return json_null();
    if (v == trunc(v) && fabs(v) < 1e17)
        return json_integer((json_int_t)v);
    return json_real(v);
}

static json_t *hex_of(const ProtobufCBinaryData *b)
{
    if (b->len > (SIZE_MAX - 1) / 2)
        return NULL;
    char *t = malloc(2 * b->len + 1);
    if (!t)
        return NULL;
    for (size_t i = 0; i < b->len; i++)
        snprintf(t + 2 * i, 3, "%02x", b->data[i]);
    json_t *j = json_stringn_nocheck(t, 2 * b->len);
    free(t);
    return j;
}

/* An enum value's short name: "running" for TASK_STATE_RUNNING of enum
 * TaskState (the value's name less the enum's name in upper snake case and
 * "_", in lower case); the whole name, lowered, when it lacks that prefix. */
static json_t *enum_short(const ProtobufCEnumDescriptor *ed, const char *name)
{
    char prefix[128], out[128];
    size_t n = 0;
    for (const char *c = ed->short_name; *c && n + 3 < sizeof(prefix); c++) {
        if (*c >= 'A' && *c <= 'Z' && c != ed->short_name)
            prefix[n++] = '_';
        prefix[n++] = (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
    }
    prefix[n++] = '_';
    prefix[n] = '\0';
    const char *rest = strncmp(name, prefix, n) == 0 && name[n] ? name + n : name;
    size_t k = 0;
    for (; rest[k] && k + 1 < sizeof(out); k++)
        out[k] = (char)(rest[k] >= 'A' && rest[k] <= 'Z' ? rest[k] - 'A' + 'a' : rest[k]);
    out[k] = '\0';
    return cairn_json_str(out);
}

static json_t *msg_of(const ProtobufCMessage *m, int flags);

static json_t *value_of(const ProtobufCFieldDescriptor *fd, const void *p, int flags)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_integer(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return cairn_json_u64(*(const uint64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT:
        return real_of(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return real_of(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
            (const ProtobufCEnumDescriptor *)fd->descriptor, *(const int *)p);
        if (ev && (flags & CAIRN_JSON_ENUM_SHORT))
            return enum_short((const ProtobufCEnumDescriptor *)fd->descriptor, ev->name);
        return ev ? cairn_json_str(ev->name) : json_integer(*(const int *)p);
    }
    case PROTOBUF_C_TYPE_STRING:
        return cairn_json_str(*(char *const *)p);
    case PROTOBUF_C_TYPE_BYTES:
        return hex_of(p);
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(const ProtobufCMessage *const *)p;
        return m ? msg_of(m, flags) : json_null();
    }
    }
    return NULL;
}

static json_t *msg_of(const ProtobufCMessage *m, int flags)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    json_t *o = json_object();
    for (unsigned i = 0; o && i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        const void *p = base + fd->offset;
        /* of a oneof, only the member that is set */
        if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + fd->quantifier_offset) != fd->id)
            continue;
        json_t *v;
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + fd->quantifier_offset);
            const char *arr = *(const char *const *)p;
            v = json_array();
            for (size_t k = 0; k < n; k++)
                cairn_json_push(&v, value_of(fd, arr + k * cairn_msg_elt_size(fd->type), flags));
        } else {
            v = value_of(fd, p, flags);
        }
        if (json_object_set_new_nocheck(o, fd->name, v) < 0) {
            json_decref(o);
            o = NULL;
        }
    }
    return o;
}

json_t *cairn_json_msg(const ProtobufCMessage *m)
{
    return msg_of(m, 0);
}

json_t *cairn_json_msg_flags(const ProtobufCMessage *m, int flags)
{
    return msg_of(m, flags);
}

/* ---- writing ------------------------------------------------------------- */

/* Turn every held-apart uint64_t ("\u0000DIGITS", see big_mark) into its
 * digits, in place. */
static void unmark(char *t)
{
    const size_t mlen = sizeof(big_mark) - 1;
    char *r = t, *w = t;
    while (*r) {
        if (!strncmp(r, big_mark, mlen)) {
            size_t d = strspn(r + mlen, "0123456789");
            if (d && r[mlen + d] == '"') {
                memmove(w, r + mlen, d);
                w += d;
                r += mlen + d + 1;
                continue;
            }
        }
        *w++ = *r++;
    }
    *w = '\0';
}

char *cairn_json_text(json_t *doc, size_t flags)
{
    if (!doc)
        return NULL;
    if (!(flags & JSON_REAL_PRECISION(31)))
        flags |= JSON_REAL_PRECISION(15);
    char *t = json_dumps(doc, flags);
    json_decref(doc);
    if (!t)
        return NULL;
    unmark(t);
    size_t n = strlen(t);
    char *nt = realloc(t, n + 2);
    if (!nt) {
        free(t);
        return NULL;
    }
    memcpy(nt + n, "\n", 2);
    return nt;
}

int cairn_json_print(FILE *f, json_t *doc, size_t flags)
{
    char *t = cairn_json_text(doc, flags);
    if (!t)
        return -ENOMEM;
    int rc = fputs(t, f) == EOF || fflush(f) != 0 ? -EIO : 0;
    free(t);
    return rc;
}
