/* The cost of decoding a payload, from its wire format alone.
 *
 * protobuf-c 1.4's unpack first allocates, then checks: a 16 MiB payload of
 * empty repeated elements becomes eight million objects before any handler
 * sees a count. This scan walks the same wire format the way
 * protobuf_c_message_unpack() does (protobuf-c.c, v1.4.1), allocating
 * nothing, and adds up what that unpack would allocate, so that the
 * envelope can refuse a payload before it is unpacked. The figures are
 * those of a successful unpack; one that fails stops earlier and allocates
 * less. tests/fuzz/fuzz_envelope.c checks them against a counting
 * allocator on every input it tries. */
#include "proto/validate.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

/* protobuf-c's scratch: each field read is kept in a 32-byte ScannedMember;
 * the first 16 live on the stack, then slabs of 32, 64, 128... are
 * allocated (FIRST_SCANNED_MEMBER_SLAB_SIZE_LOG2 in protobuf-c.c). */
#define PBC_SCANNED_MEMBER_SIZE 32u
#define PBC_FIRST_SLAB_LOG2 4u
/* the bitmap of required fields is on the stack up to this many bytes */
#define PBC_BITMAP_STACK 16u

/* Deeper than any Cairn schema nests; protobuf-c recurses without a bound. */
#define SCAN_MAX_DEPTH 32

struct scan {
    cairn_msg_cost_t cost;
    cairn_error_t *err;
    int depth;
};

static int scan_message(struct scan *s, const ProtobufCMessageDescriptor *d, const uint8_t *p,
                        size_t len);

/* A varint of at most max bytes at p (avail there): its length, 0 if it
 * does not end within them. */
static size_t varint_len(const uint8_t *p, size_t avail, size_t max)
{
    size_t n = avail < max ? avail : max;
    for (size_t i = 0; i < n; i++)
        if ((p[i] & 0x80) == 0)
            return i + 1;
    return 0;
}

/* The tag as parse_tag_and_wiretype() reads it (five bytes at most, tag 0
 * refused); 0 if malformed. */
static size_t read_tag(const uint8_t *p, size_t avail, uint32_t *tag, unsigned *wire)
{
    if ((p[0] & 0xf8) == 0)
        return 0;
    size_t n = varint_len(p, avail, 5);
    if (n == 0)
        return 0;
    uint32_t t = (p[0] & 0x7f) >> 3;
    unsigned shift = 4;
    for (size_t i = 1; i < n; i++, shift += 7)
        t |= (uint32_t)(p[i] & 0x7f) << shift;
    *wire = p[0] & 7;
    *tag = t;
    return n;
}

size_t cairn_msg_elt_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4;
    }
}

static bool packable(ProtobufCType type)
{
    return type != PROTOBUF_C_TYPE_STRING && type != PROTOBUF_C_TYPE_BYTES &&
           type != PROTOBUF_C_TYPE_MESSAGE;
}

/* Elements in a packed run of len bytes (count_packed_elements()). */
static int packed_count(struct scan *s, const ProtobufCMessageDescriptor *d,
                        const ProtobufCFieldDescriptor *f, const uint8_t *p, size_t len,
                        size_t *out)
{
    size_t width = 0, n = 0;
    switch (f->type) {
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        width = 8;
        break;
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        width = 4;
        break;
    case PROTOBUF_C_TYPE_BOOL:
        width = 1;
        break;
    default: /* varints: one ends at each byte without the high bit */
        for (size_t i = 0; i < len; i++)
            n += (p[i] & 0x80) == 0;
        *out = n;
        return 0;
    }
    if (len % width)
        return errcode(s->err, -EBADMSG, "%s.%s: packed run of %zu bytes is not a multiple of %zu",
                       d->short_name, f->name, len, width);
    *out = len / width;
    return 0;
}

/* One allocation of size bytes. */
static void add(struct scan *s, size_t size)
{
    s->cost.objects++;
    s->cost.bytes += size;
}

/* The value of field f (known), wire bytes data[0..len) with a length
 * prefix of pref bytes for length-delimited values. */
static int scan_value(struct scan *s, const ProtobufCFieldDescriptor *f, unsigned wire,
                      const uint8_t *data, size_t len, size_t pref)
{
    if (wire != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
        return 0; /* scalars live in the message or its arrays */
    size_t vlen = len - pref;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        add(s, vlen + 1);
        return 0;
    case PROTOBUF_C_TYPE_BYTES:
        if (vlen > 0)
            add(s, vlen);
        return 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return scan_message(s, f->descriptor, data + pref, vlen);
    default:
        return 0;
    }
}

/* Per message: which repeated fields have elements, which singular
 * messages were seen (by field index; Cairn's messages have fewer than 64
 * fields, and a field past that counts as if each time were the first). */
struct seen {
    uint64_t arrays, messages;
};

static bool seen_mark(uint64_t *set, unsigned index)
{
    if (index >= 64)
        return false;
    bool was = (*set >> index) & 1;
    *set |= (uint64_t)1 << index;
    return was;
}

static int scan_fields(struct scan *s, const ProtobufCMessageDescriptor *d, const uint8_t *p,
                       size_t len, size_t *nfields, size_t *unknown)
{
    struct seen seen = {0, 0};
    size_t at = 0;
    while (at < len) {
        uint32_t tag;
        unsigned wire;
        size_t used = read_tag(p + at, len - at, &tag, &wire);
        if (used == 0)
            return errcode(s->err, -EBADMSG, "%s: bad field tag at offset %zu", d->short_name, at);
        at += used;
        size_t vlen = 0, pref = 0;
        switch (wire) {
        case PROTOBUF_C_WIRE_TYPE_VARINT:
            vlen = varint_len(p + at, len - at, 10);
            break;
        case PROTOBUF_C_WIRE_TYPE_64BIT:
            vlen = len - at >= 8 ? 8 : 0;
            break;
        case PROTOBUF_C_WIRE_TYPE_32BIT:
            vlen = len - at >= 4 ? 4 : 0;
            break;
        case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED: {
            pref = varint_len(p + at, len - at, 5);
            uint64_t v = 0;
            for (size_t i = 0; i < pref; i++)
                v |= (uint64_t)(p[at + i] & 0x7f) << (7 * i);
            if (pref > 0 && v <= INT32_MAX && v <= len - at - pref)
                vlen = pref + (size_t)v;
            break;
        }
        default:
            break;
        }
        if (vlen == 0)
            return errcode(s->err, -EBADMSG, "%s: truncated or malformed field %u at offset %zu",
                           d->short_name, tag, at - used);
        (*nfields)++;
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(d, tag);
        if (!f) {
            (*unknown)++;
            add(s, vlen); /* kept as an unknown field, its bytes copied */
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            unsigned index = (unsigned)(f - d->fields);
            size_t n = 1;
            if (wire == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED &&
                ((f->flags & PROTOBUF_C_FIELD_FLAG_PACKED) || packable(f->type))) {
                int rc = packed_count(s, d, f, p + at + pref, vlen - pref, &n);
                if (rc < 0)
                    return rc;
            } else {
                int rc = scan_value(s, f, wire, p + at, vlen, pref);
                if (rc < 0)
                    return rc;
            }
            if (n > 0 && !seen_mark(&seen.arrays, index))
                s->cost.objects++; /* the field's array (past 64 fields, once per run) */
            s->cost.bytes += n * cairn_msg_elt_size(f->type);
        } else {
            if (f->type == PROTOBUF_C_TYPE_MESSAGE && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                seen_mark(&seen.messages, (unsigned)(f - d->fields)))
                /* protobuf-c merges the copies, copying their arrays each
                 * time: quadratic in their number. No Cairn encoder
                 * repeats a field. */
                return errcode(s->err, -EBADMSG, "%s.%s: a single message field appears twice",
                               d->short_name, f->name);
            int rc = scan_value(s, f, wire, p + at, vlen, pref);
            if (rc < 0)
                return rc;
        }
        at += vlen;
    }
    return 0;
}

static int scan_message(struct scan *s, const ProtobufCMessageDescriptor *d, const uint8_t *p,
                        size_t len)
{
    if (++s->depth > SCAN_MAX_DEPTH)
        return errcode(s->err, -EBADMSG, "%s: messages nested deeper than %d", d->short_name,
                       SCAN_MAX_DEPTH);
    add(s, d->sizeof_message);
    size_t bitmap = (d->n_fields + 7) / 8;
    if (bitmap > PBC_BITMAP_STACK)
        add(s, bitmap);
    size_t nfields = 0, unknown = 0;
    int rc = scan_fields(s, d, p, len, &nfields, &unknown);
    if (rc < 0)
        return rc;
    s->cost.fields += nfields;
    if (unknown > 0)
        add(s, unknown * sizeof(ProtobufCMessageUnknownField));
    /* the scratch slabs beyond the first 16 fields, each twice the last */
    size_t held = (size_t)1 << PBC_FIRST_SLAB_LOG2;
    for (unsigned slab = 1; held < nfields; slab++) {
        size_t members = (size_t)1 << (slab + PBC_FIRST_SLAB_LOG2);
        add(s, members * PBC_SCANNED_MEMBER_SIZE);
        held += members;
    }
    s->depth--;
    return 0;
}

int cairn_msg_cost(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                   cairn_msg_cost_t *cost, cairn_error_t *err)
{
    struct scan s = {.err = err};
    if (!desc || !cost || (!data && len > 0))
        return errcode(err, -EINVAL, "cost: NULL argument");
    int rc = scan_message(&s, desc, data, len);
    if (rc < 0)
        return rc;
    *cost = s.cost;
    return 0;
}
