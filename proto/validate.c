/* Descriptor-driven checks on protobuf-c messages: UTF-8 strings, no NULL
 * where protobuf-c would dereference, nested messages of the right type. */
#include "proto/validate.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

/* No Cairn schema nests this deep; the bound only stops a cyclic message
 * built by a buggy caller. */
#define MAX_DEPTH 32

struct walk {
    char path[224];
    size_t len;
    int depth;
    cairn_error_t *err;
};

size_t cairn_utf8_seq_len(const unsigned char *p, size_t avail)
{
    unsigned c = p[0];
    size_t more;
    uint32_t cp, min;
    if (avail == 0)
        return 0;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        more = 1, cp = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        more = 2, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        more = 3, cp = c & 0x07, min = 0x10000;
    } else {
        return 0; /* continuation byte, 0xc0/0xc1 or 0xf5.. */
    }
    if (avail <= more)
        return 0;
    for (size_t i = 1; i <= more; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return more + 1;
}

bool cairn_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + len;
    while (p < end) {
        size_t n = cairn_utf8_seq_len(p, (size_t)(end - p));
        if (n == 0)
            return false;
        p += n;
    }
    return true;
}

/* Append n bytes of s to the path (a path too long for the buffer is cut,
 * which only shortens an error message). Every message is walked, valid
 * or not, so this is a copy, not a printf. */
static void path_add(struct walk *w, const char *s, size_t n)
{
    size_t room = sizeof(w->path) - 1 - w->len;
    if (n > room)
        n = room;
    memcpy(w->path + w->len, s, n);
    w->len += n;
    w->path[w->len] = '\0';
}

/* Append ".name" or "name" (dot false); returns the length to restore. */
static size_t path_push_name(struct walk *w, const char *name, bool dot)
{
    size_t saved = w->len;
    if (dot)
        path_add(w, ".", 1);
    path_add(w, name, strlen(name));
    return saved;
}

/* Append "[i]"; returns the length to restore. */
static size_t path_push_index(struct walk *w, size_t i)
{
    size_t saved = w->len;
    char buf[24];
    size_t k = sizeof(buf);
    buf[--k] = ']';
    do {
        buf[--k] = (char)('0' + i % 10);
        i /= 10;
    } while (i);
    buf[--k] = '[';
    path_add(w, buf + k, sizeof(buf) - k);
    return saved;
}

static void path_pop(struct walk *w, size_t saved)
{
    w->len = saved;
    w->path[saved] = '\0';
}

static int walk_message(struct walk *w, const ProtobufCMessage *msg,
                        const ProtobufCMessageDescriptor *want);

static int check_string(struct walk *w, const char *s)
{
    if (s && !cairn_utf8_valid(s, strlen(s)))
        return errcode(w->err, -EILSEQ, "invalid UTF-8 in string field %s", w->path);
    return 0;
}

static int check_bytes(struct walk *w, const ProtobufCBinaryData *b)
{
    if (b->len > 0 && !b->data)
        return errcode(w->err, -EINVAL, "bytes field %s has length %zu but no data", w->path,
                       b->len);
    return 0;
}

static int check_submessage(struct walk *w, const ProtobufCFieldDescriptor *f,
                            const ProtobufCMessage *sub)
{
    if (!sub)
        return 0;
    return walk_message(w, sub, f->descriptor);
}

/* One element of a repeated field, or a singular field; value points at
 * the storage (char *, ProtobufCBinaryData, ProtobufCMessage *). */
static int check_value(struct walk *w, const ProtobufCFieldDescriptor *f, const void *value,
                       bool repeated)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)value;
        if (!s && repeated)
            return errcode(w->err, -EINVAL, "NULL element in repeated field %s", w->path);
        return check_string(w, s);
    }
    case PROTOBUF_C_TYPE_BYTES:
        return check_bytes(w, value);
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)value;
        if (!sub && (repeated || f->label == PROTOBUF_C_LABEL_REQUIRED))
            return errcode(w->err, -EINVAL, "NULL message in field %s", w->path);
        return check_submessage(w, f, sub);
    }
    default:
        return 0; /* scalars: every bit pattern is valid */
    }
}

static size_t value_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return 0;
    }
}

static int check_field(struct walk *w, const ProtobufCMessage *msg,
                       const ProtobufCFieldDescriptor *f)
{
    const char *base = (const char *)msg;
    size_t size = value_size(f);
    if (size == 0)
        return 0;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t which = *(const uint32_t *)(base + f->quantifier_offset);
        if (which != f->id)
            return 0;
    }
    size_t saved = path_push_name(w, f->name, true);
    int rc = 0;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t n = *(const size_t *)(base + f->quantifier_offset);
        const char *array = *(const char *const *)(base + f->offset);
        if (n > 0 && !array)
            rc = errcode(w->err, -EINVAL, "repeated field %s has %zu elements but no array",
                         w->path, n);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            size_t at = path_push_index(w, i);
            rc = check_value(w, f, array + i * size, true);
            path_pop(w, at);
        }
    } else {
        rc = check_value(w, f, base + f->offset, false);
    }
    if (rc == 0)
        path_pop(w, saved);
    return rc;
}

static int walk_message(struct walk *w, const ProtobufCMessage *msg,
                        const ProtobufCMessageDescriptor *want)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    if (!d || d->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC)
        return errcode(w->err, -EINVAL, "message at %s has no valid descriptor",
                       w->len ? w->path : "top level");
    if (want && d != want)
        return errcode(w->err, -EINVAL, "field %s holds a %s, expected %s", w->path, d->short_name,
                       want->short_name);
    if (++w->depth > MAX_DEPTH)
        return errcode(w->err, -EINVAL, "messages nested deeper than %d at %s", MAX_DEPTH, w->path);
    for (unsigned i = 0; i < d->n_fields; i++) {
        int rc = check_field(w, msg, &d->fields[i]);
        if (rc < 0)
            return rc;
    }
    w->depth--;
    return 0;
}

int cairn_msg_validate(const ProtobufCMessage *msg, cairn_error_t *err)
{
    struct walk w = {.err = err};
    if (!msg)
        return errcode(err, -EINVAL, "NULL message");
    if (msg->descriptor && msg->descriptor->magic == PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC)
        path_push_name(&w, msg->descriptor->short_name, false);
    return walk_message(&w, msg, NULL);
}

const char *cairn_name_problem(const char *s, size_t max, bool node)
{
    if (!s || !*s)
        return "is empty";
    if (strlen(s) > max)
        return "is too long";
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return "is '.' or '..'";
    if (strpbrk(s, "/\\"))
        return "contains a path separator ('/' or '\\')";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return "contains a control character";
    if (node && strpbrk(s, " ,"))
        return "contains a space or ','";
    return NULL;
}

const char *cairn_log_escape(const char *s, char *buf, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (!n)
        return buf;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        bool plain = *p >= 0x20 && *p < 0x7f && *p != '\\';
        if (o + (plain ? 1 : 4) >= n)
            break;
        if (plain) {
            buf[o++] = (char)*p;
            continue;
        }
        buf[o++] = '\\';
        buf[o++] = 'x';
        buf[o++] = hex[*p >> 4];
        buf[o++] = hex[*p & 15];
    }
    buf[o] = '\0';
    return buf;
}
