/* Round trip of every message type through the envelope, driven by the
 * protobuf descriptors: fill every field of every message with non-default
 * values, encode, decode, compare field by field. A field added to a
 * .proto file is covered without touching this file. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/envelope.h"

#include "count_alloc.h"
#include "leak_check.h"

#define MAX_TYPE 0xffff
#define MAX_DEPTH 8

struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    cr_assert_not_null(p);
    return p;
}

static size_t elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    }
    cr_assert_fail("unknown protobuf type %d", (int)t);
    return 0;
}

static ProtobufCMessage *fill_message(const ProtobufCMessageDescriptor *d, struct rng *r,
                                      int depth);

/* Store one non-default value of f's type at dst. Strings carry multi-byte
 * UTF-8, bytes carry NUL and 0xff, numbers are never 0 (proto3 would not
 * send them) and use the high bits. */
static void fill_value(const ProtobufCFieldDescriptor *f, void *dst, struct rng *r, int depth)
{
    uint64_t v = rng_next(r);
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        *(int32_t *)dst = (v & 1) ? -(int32_t)(v % 100000) - 1 : (int32_t)(v >> 33) | 1;
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        *(uint32_t *)dst = (uint32_t)v | 0x80000001u;
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        *(int64_t *)dst = (v & 1) ? -(int64_t)(v >> 2) - 1 : (int64_t)(v >> 1) | 1;
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        *(uint64_t *)dst = v | 0x8000000000000001ull;
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        *(float *)dst = (float)(v % 1000) + 0.25f;
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        *(double *)dst = (double)(v % 1000000) + 0.125;
        break;
    case PROTOBUF_C_TYPE_BOOL:
        *(protobuf_c_boolean *)dst = 1;
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        cr_assert_gt(ed->n_values, 1, "enum %s has no value besides 0", ed->name);
        *(int *)dst = ed->values[1 + v % (ed->n_values - 1)].value;
        break;
    }
    case PROTOBUF_C_TYPE_STRING: {
        char tmp[128];
        /* e-acute, a CJK ideograph and an emoji: 2-, 3- and 4-byte forms */
        snprintf(tmp, sizeof(tmp), "%s-\xc3\xa9\xe6\xbc\xa2\xf0\x9f\x99\x82-%llu", f->name,
                 (unsigned long long)(v % 1000000));
        *(char **)dst = strdup(tmp);
        cr_assert_not_null(*(char **)dst);
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = dst;
        b->len = 3 + v % 13;
        b->data = xcalloc(b->len, 1);
        for (size_t i = 0; i < b->len; i++)
            b->data[i] = (uint8_t)(rng_next(r) >> 11);
        b->data[0] = 0x00;
        b->data[1] = 0xff;
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        *(ProtobufCMessage **)dst = fill_message(f->descriptor, r, depth + 1);
        break;
    }
}

static void fill_field(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, struct rng *r,
                       int depth)
{
    char *base = (char *)m;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t *which = (uint32_t *)(base + f->quantifier_offset);
        if (*which != 0)
            return; /* one member of a oneof at a time */
        *which = f->id;
    }
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t n = 1 + rng_next(r) % 3, size = elem_size(f->type);
        char *array = xcalloc(n, size);
        for (size_t i = 0; i < n; i++)
            fill_value(f, array + i * size, r, depth);
        *(size_t *)(base + f->quantifier_offset) = n;
        *(void **)(base + f->offset) = array;
        return;
    }
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
        !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
    fill_value(f, base + f->offset, r, depth);
}

/* A heap message with every field set, freed by protobuf_c_message_free_unpacked()
 * (everything in it comes from malloc, as in an unpacked message). */
static ProtobufCMessage *fill_message(const ProtobufCMessageDescriptor *d, struct rng *r, int depth)
{
    cr_assert_lt(depth, MAX_DEPTH, "%s nests too deep", d->name);
    ProtobufCMessage *m = xcalloc(1, d->sizeof_message);
    protobuf_c_message_init(d, m);
    for (unsigned i = 0; i < d->n_fields; i++)
        fill_field(m, &d->fields[i], r, depth);
    return m;
}

struct cmp {
    char path[256];
    size_t leaves;
};

static void cmp_message(struct cmp *c, const ProtobufCMessage *a, const ProtobufCMessage *b);

static void cmp_value(struct cmp *c, const ProtobufCFieldDescriptor *f, const void *a,
                      const void *b)
{
    c->leaves++;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        cr_assert_str_eq(*(char *const *)a, *(char *const *)b, "%s differs", c->path);
        break;
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *x = a, *y = b;
        cr_assert_eq(x->len, y->len, "%s: length %zu vs %zu", c->path, x->len, y->len);
        cr_assert(x->len == 0 || memcmp(x->data, y->data, x->len) == 0, "%s: bytes differ",
                  c->path);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *x = *(ProtobufCMessage *const *)a;
        const ProtobufCMessage *y = *(ProtobufCMessage *const *)b;
        cr_assert_eq(x == NULL, y == NULL, "%s: presence differs", c->path);
        if (x)
            cmp_message(c, x, y);
        break;
    }
    default:
        cr_assert_eq(memcmp(a, b, elem_size(f->type)), 0, "%s differs", c->path);
    }
}

static void cmp_field(struct cmp *c, const ProtobufCMessage *a, const ProtobufCMessage *b,
                      const ProtobufCFieldDescriptor *f)
{
    const char *pa = (const char *)a, *pb = (const char *)b;
    size_t saved = strlen(c->path);
    snprintf(c->path + saved, sizeof(c->path) - saved, ".%s", f->name);
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t wa = *(const uint32_t *)(pa + f->quantifier_offset);
        uint32_t wb = *(const uint32_t *)(pb + f->quantifier_offset);
        cr_assert_eq(wa, wb, "%s: oneof case %u vs %u", c->path, wa, wb);
        if (wa != f->id)
            goto out;
    }
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t na = *(const size_t *)(pa + f->quantifier_offset);
        size_t nb = *(const size_t *)(pb + f->quantifier_offset);
        size_t size = elem_size(f->type);
        cr_assert_eq(na, nb, "%s: %zu vs %zu elements", c->path, na, nb);
        const char *xa = *(char *const *)(pa + f->offset), *xb = *(char *const *)(pb + f->offset);
        size_t len = strlen(c->path);
        for (size_t i = 0; i < na; i++) {
            snprintf(c->path + len, sizeof(c->path) - len, "[%zu]", i);
            cmp_value(c, f, xa + i * size, xb + i * size);
        }
    } else {
        cmp_value(c, f, pa + f->offset, pb + f->offset);
    }
out:
    c->path[saved] = '\0';
}

static void cmp_message(struct cmp *c, const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    cr_assert_eq(a->descriptor, b->descriptor, "%s: message types differ", c->path);
    cr_assert_eq(b->n_unknown_fields, a->n_unknown_fields, "%s: unknown fields appeared", c->path);
    for (unsigned i = 0; i < a->descriptor->n_fields; i++)
        cmp_field(c, a, b, &a->descriptor->fields[i]);
}

/* Every field of m (and of its sub-messages) holds a non-default value,
 * except the unselected members of a oneof. Returns the fields checked. */
static size_t count_set_fields(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    size_t n = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            if (*(const uint32_t *)(base + f->quantifier_offset) != f->id)
                continue;
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            cr_assert_gt(*(const size_t *)(base + f->quantifier_offset), 0, "%s.%s is empty",
                         d->short_name, f->name);
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            const ProtobufCMessage *sub = *(ProtobufCMessage *const *)(base + f->offset);
            cr_assert_not_null(sub, "%s.%s is unset", d->short_name, f->name);
            n += count_set_fields(sub);
        } else if (f->type == PROTOBUF_C_TYPE_STRING) {
            cr_assert_neq(**(char *const *)(base + f->offset), '\0', "%s.%s is empty",
                          d->short_name, f->name);
        } else if (f->type != PROTOBUF_C_TYPE_BYTES) {
            static const char zero[8];
            cr_assert_neq(memcmp(base + f->offset, zero, elem_size(f->type)), 0, "%s.%s is zero",
                          d->short_name, f->name);
        }
        n++;
    }
    return n;
}

static size_t round_trip(cairn_msg_type_t type, const ProtobufCMessage *in, uint8_t **wire,
                         size_t *wire_len)
{
    cairn_error_t err = {""};
    cairn_msg_type_t got_type = 0;
    ProtobufCMessage *out = NULL;
    const char *name = cairn_msg_type_name(type);

    int rc = cairn_msg_encode(type, in, wire, wire_len, &err);
    cr_assert_eq(rc, 0, "encode %s: %s", name, err.text);
    cr_assert_geq(*wire_len, CAIRN_MSG_HEADER_SIZE);
    rc = cairn_msg_decode(*wire, *wire_len, 0, &got_type, &out, &err);
    cr_assert_eq(rc, 0, "decode %s: %s", name, err.text);
    cr_assert_eq(got_type, type, "decoded %s as %s", name, cairn_msg_type_name(got_type));
    cr_assert_not_null(out);

    struct cmp c = {.leaves = 0};
    snprintf(c.path, sizeof(c.path), "%s", in->descriptor->short_name);
    cmp_message(&c, in, out);
    cairn_msg_free(out);
    return c.leaves;
}

LEAK_TEST(proto_roundtrip, every_type_every_field)
{
    size_t types = 0;
    for (unsigned t = 0; t <= MAX_TYPE; t++) {
        const ProtobufCMessageDescriptor *d = cairn_msg_descriptor((cairn_msg_type_t)t);
        if (!d)
            continue;
        types++;
        for (uint64_t seed = 1; seed <= 8; seed++) {
            struct rng r = {seed * 0x9e3779b97f4a7c15ull + t};
            ProtobufCMessage *in = fill_message(d, &r, 0);
            size_t fields = count_set_fields(in);
            cr_assert_geq(fields, d->n_fields > 0 ? 1 : 0);

            uint8_t *wire = NULL, *again = NULL;
            size_t wire_len = 0, again_len = 0;
            size_t leaves = round_trip((cairn_msg_type_t)t, in, &wire, &wire_len);
            cr_assert_geq(leaves, fields, "%s: compared %zu values for %zu fields", d->name, leaves,
                          fields);

            /* Encoding is deterministic: the same message, the same bytes. */
            cr_assert_eq(cairn_msg_encode((cairn_msg_type_t)t, in, &again, &again_len, NULL), 0);
            cr_assert_eq(again_len, wire_len);
            cr_assert_eq(memcmp(again, wire, wire_len), 0, "%s encodes differently", d->name);
            free(again);
            free(wire);
            protobuf_c_message_free_unpacked(in, NULL);
        }
    }
    cr_assert_eq(types, 51, "the table has %zu types", types);
}

/* The envelope prices a payload before unpacking it (cairn_msg_cost()):
 * the price must be what protobuf-c's unpack then allocates, exactly, for
 * every type with every field set (TaskEvent, AssignTask and the
 * accounting records have more than 16 fields: protobuf-c's scratch slabs). */
LEAK_TEST(proto_roundtrip, cost_is_what_unpack_allocates)
{
    for (unsigned t = 0; t <= MAX_TYPE; t++) {
        const ProtobufCMessageDescriptor *d = cairn_msg_descriptor((cairn_msg_type_t)t);
        if (!d)
            continue;
        for (uint64_t seed = 1; seed <= 8; seed++) {
            struct rng r = {seed * 0x9e3779b97f4a7c15ull + t};
            ProtobufCMessage *in = fill_message(d, &r, 0);
            uint8_t *wire = NULL;
            size_t len = 0;
            cairn_error_t err = {""};
            cr_assert_eq(cairn_msg_encode((cairn_msg_type_t)t, in, &wire, &len, &err), 0, "%s",
                         err.text);
            cairn_msg_cost_t cost;
            cr_assert_eq(cairn_msg_cost(d, wire + CAIRN_MSG_HEADER_SIZE,
                                        len - CAIRN_MSG_HEADER_SIZE, &cost, &err),
                         0, "%s: %s", d->name, err.text);
            count_alloc_t ca;
            count_alloc_init(&ca);
            cairn_msg_type_t got;
            ProtobufCMessage *out = NULL;
            cr_assert_eq(cairn_msg_decode_alloc(wire, len, 0, &ca.a, &got, &out, &err), 0, "%s",
                         err.text);
            cr_assert_eq(cost.objects, ca.allocs, "%s: priced %zu allocations, unpack made %zu",
                         d->name, cost.objects, ca.allocs);
            cr_assert_eq(cost.bytes, ca.bytes, "%s: priced %zu bytes, unpack took %zu", d->name,
                         cost.bytes, ca.bytes);
            protobuf_c_message_free_unpacked(out, &ca.a);
            cr_assert_eq(ca.frees, ca.allocs, "%s: %zu allocations, %zu frees", d->name, ca.allocs,
                         ca.frees);
            free(wire);
            protobuf_c_message_free_unpacked(in, NULL);
        }
    }
}

LEAK_TEST(proto_roundtrip, every_type_empty)
{
    for (unsigned t = 0; t <= MAX_TYPE; t++) {
        const ProtobufCMessageDescriptor *d = cairn_msg_descriptor((cairn_msg_type_t)t);
        if (!d)
            continue;
        ProtobufCMessage *in = xcalloc(1, d->sizeof_message);
        protobuf_c_message_init(d, in);
        uint8_t *wire = NULL;
        size_t len = 0;
        round_trip((cairn_msg_type_t)t, in, &wire, &len);
        /* proto3 sends no default values: an empty message is a bare header */
        cr_assert_eq(len, CAIRN_MSG_HEADER_SIZE, "empty %s is %zu bytes", d->name, len);
        free(wire);
        free(in);
    }
}

/* Messages from a peer built with fields this build does not know still
 * decode (forward compatibility), and the unknown fields are kept. */
LEAK_TEST(proto_roundtrip, unknown_fields_tolerated)
{
    static const uint8_t msg[] = {
        0x43, 0x4e, 0x00, 0x01, 0x00, 0x03, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x0c, 0x18, 0x07, /* seq = 7 */
        0xf8, 0x3e, 0x01,                         /* field 1007, varint */
        0xc2, 0x3e, 0x04, 'n',  'e',  'w',  0,    /* field 1000, bytes */
    };
    cairn_msg_type_t type = 0;
    ProtobufCMessage *m = NULL;
    cairn_error_t err = {""};
    cr_assert_eq(cairn_msg_decode(msg, sizeof(msg), 0, &type, &m, &err), 0, "%s", err.text);
    cr_assert_eq(type, CAIRN_MSG_HEARTBEAT);
    const Cairn__Heartbeat *hb = (const Cairn__Heartbeat *)m;
    cr_assert_eq(hb->seq, 7);
    cr_assert_eq(m->n_unknown_fields, 2);
    cairn_msg_free(m);
}
