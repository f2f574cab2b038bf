/* The envelope: header layout, the type table, and every way a message
 * from the network can be wrong (truncated, oversize, foreign, garbage,
 * random). Decoding must refuse with the documented code, leave its outputs
 * alone, never crash and never leak (run under ASan/UBSan). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/envelope.h"

#include "leak_check.h"

#define SENTINEL ((ProtobufCMessage *)(uintptr_t)0x5e5e)

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

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void make_header(uint8_t *p, uint16_t type, uint32_t payload)
{
    put_u16(p, CAIRN_MSG_MAGIC);
    put_u16(p + 2, CAIRN_PROTO_VERSION);
    put_u16(p + 4, type);
    put_u16(p + 6, 0);
    put_u32(p + 8, payload);
}

/* Decode and expect failure with code; checks the outputs are untouched
 * and the error says something. Returns the error text for more checks. */
static const char *expect_refused(const void *buf, size_t len, size_t max, int code)
{
    static cairn_error_t err;
    cairn_msg_type_t type = (cairn_msg_type_t)4321;
    ProtobufCMessage *msg = SENTINEL;
    err.text[0] = '\0';
    int rc = cairn_msg_decode(buf, len, max, &type, &msg, &err);
    cr_assert_eq(rc, code, "len %zu: got %d, want %d (%s)", len, rc, code, err.text);
    cr_assert_eq(msg, SENTINEL, "output changed on failure");
    cr_assert_eq((int)type, 4321, "output changed on failure");
    cr_assert_neq(err.text[0], '\0', "no error message");
    return err.text;
}

/* A Register with a bit of everything, encoded. */
static uint8_t *encode_sample(size_t *len)
{
    Cairn__KeyValue kv = CAIRN__KEY_VALUE__INIT;
    kv.key = "rack", kv.value = "r1";
    Cairn__KeyValue *labels[] = {&kv, &kv};
    uint32_t pus[] = {0, 1, 2, 3};
    Cairn__NumaDomain nd = CAIRN__NUMA_DOMAIN__INIT;
    nd.memory_bytes = 1ull << 36, nd.n_pus = 4, nd.pus = pus;
    Cairn__NumaDomain *numa[] = {&nd};
    Cairn__Gpu gpu = CAIRN__GPU__INIT;
    gpu.model = "H100", gpu.uuid = "GPU-1", gpu.memory_bytes = 80ull << 30;
    gpu.numa_present_case = CAIRN__GPU__NUMA_PRESENT_NUMA_OS_INDEX, gpu.numa_os_index = 1;
    Cairn__Gpu *gpus[] = {&gpu};
    Cairn__NodeResources res = CAIRN__NODE_RESOURCES__INIT;
    res.num_cores = 4, res.n_numa_domains = 1, res.numa_domains = numa;
    res.n_gpus = 1, res.gpus = gpus;
    Cairn__Register reg = CAIRN__REGISTER__INIT;
    reg.node_name = "node-\xc3\xa9", reg.n_labels = 2, reg.labels = labels;
    reg.worker_version = "0.1.0", reg.resources = &res;

    uint8_t *buf = NULL;
    cairn_error_t err = {""};
    cr_assert_eq(cairn_msg_encode(CAIRN_MSG_REGISTER, &reg.base, &buf, len, &err), 0, "%s",
                 err.text);
    cr_assert_gt(*len, 60);
    return buf;
}

LEAK_TEST(proto_envelope, header_layout_is_big_endian)
{
    Cairn__Heartbeat hb = CAIRN__HEARTBEAT__INIT;
    hb.seq = 300; /* payload: 0x18 0xac 0x02 */
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cairn_msg_encode(CAIRN_MSG_HEARTBEAT, &hb.base, &buf, &len, NULL), 0);
    static const uint8_t want[] = {0x43, 0x4e, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00,
                                   0x00, 0x00, 0x00, 0x03, 0x18, 0xac, 0x02};
    cr_assert_eq(len, sizeof(want));
    cr_assert_eq(memcmp(buf, want, len), 0);
    free(buf);
}

LEAK_TEST(proto_envelope, type_table)
{
    const char *names[64];
    const ProtobufCMessageDescriptor *descs[64];
    size_t n = 0;
    for (unsigned t = 0; t <= 0xffff; t++) {
        const ProtobufCMessageDescriptor *d = cairn_msg_descriptor((cairn_msg_type_t)t);
        const char *name = cairn_msg_type_name((cairn_msg_type_t)t);
        cr_assert_not_null(name);
        if (!d) {
            cr_assert_str_eq(name, "unknown", "type %u has a name but no descriptor", t);
            continue;
        }
        cr_assert_str_eq(d->package_name, "cairn");
        cr_assert_lt(n, 64);
        for (size_t i = 0; i < n; i++) {
            cr_assert_str_neq(names[i], name, "name %s used twice", name);
            cr_assert_neq(descs[i], d, "%s mapped twice", d->name);
        }
        names[n] = name, descs[n] = d, n++;
    }
    cr_assert_eq(n, 51);
    cr_assert_str_eq(cairn_msg_type_name(CAIRN_MSG_REGISTER), "register");
    cr_assert_str_eq(cairn_msg_type_name(CAIRN_MSG_JOB_STATUS_REPLY), "job_status_reply");
    cr_assert_str_eq(cairn_msg_type_name(CAIRN_MSG_ERROR), "error");
    cr_assert_str_eq(cairn_msg_type_name((cairn_msg_type_t)-1), "unknown");
    cr_assert_eq(cairn_msg_descriptor(CAIRN_MSG_REGISTER), &cairn__register__descriptor);
    cr_assert_eq(cairn_msg_descriptor(CAIRN_MSG_SUBMIT), &cairn__submit_request__descriptor);
    cr_assert_eq(cairn_msg_descriptor(CAIRN_MSG_LOG_CHUNK), &cairn__log_chunk__descriptor);
    cr_assert_eq(cairn_msg_descriptor(CAIRN_MSG_GPU_HEALTH), &cairn__gpu_health__descriptor);
    cr_assert_null(cairn_msg_descriptor((cairn_msg_type_t)0));
    /* wire numbers are frozen */
    cr_assert_eq(CAIRN_MSG_REGISTER, 1);
    cr_assert_eq(CAIRN_MSG_ASSIGN_TASK, 16);
    cr_assert_eq(CAIRN_MSG_SUBMIT, 32);
    cr_assert_eq(CAIRN_MSG_ERROR, 65);
    cr_assert_eq(CAIRN_MSG_BATCH, 80);
    cr_assert_eq(CAIRN_MSG_DELIVERED, 81);
}

LEAK_TEST(proto_envelope, empty_payload_is_valid)
{
    uint8_t hdr[CAIRN_MSG_HEADER_SIZE];
    make_header(hdr, CAIRN_MSG_ACK, 0);
    cairn_msg_type_t type = 0;
    ProtobufCMessage *msg = NULL;
    cr_assert_eq(cairn_msg_decode(hdr, sizeof(hdr), 0, &type, &msg, NULL), 0);
    cr_assert_eq(type, CAIRN_MSG_ACK);
    cr_assert_eq(((Cairn__Ack *)msg)->seq, 0);
    cairn_msg_free(msg);
    cairn_msg_free(NULL); /* no-op */
}

LEAK_TEST(proto_envelope, truncated_at_every_length)
{
    size_t len = 0;
    uint8_t *full = encode_sample(&len);
    for (size_t cut = 0; cut < len; cut++) {
        /* exact-size copies so ASan sees any read past the end */
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, full, cut);
        const char *text = expect_refused(p, cut, 0, -EBADMSG);
        if (cut < CAIRN_MSG_HEADER_SIZE)
            cr_assert(strstr(text, "truncated"), "%s", text);
        else
            cr_assert(strstr(text, "follow"), "%s", text);
        free(p);
    }
    expect_refused(NULL, 0, 0, -EBADMSG);
    free(full);
}

/* The header is made consistent with the cut, so the protobuf parser sees
 * the truncated payload: it may end on a field boundary (a valid, shorter
 * message) but must never crash or leak. */
LEAK_TEST(proto_envelope, truncated_payload_with_matching_header)
{
    size_t len = 0, refused = 0, accepted = 0;
    uint8_t *full = encode_sample(&len);
    for (size_t cut = CAIRN_MSG_HEADER_SIZE; cut < len; cut++) {
        uint8_t *p = malloc(cut);
        memcpy(p, full, cut);
        put_u32(p + 8, (uint32_t)(cut - CAIRN_MSG_HEADER_SIZE));
        cairn_msg_type_t type = 0;
        ProtobufCMessage *msg = NULL;
        int rc = cairn_msg_decode(p, cut, 0, &type, &msg, NULL);
        cr_assert(rc == 0 || rc == -EBADMSG, "cut %zu: rc %d", cut, rc);
        if (rc == 0) {
            cr_assert_eq(type, CAIRN_MSG_REGISTER);
            cairn_msg_free(msg);
            accepted++;
        } else {
            refused++;
        }
        free(p);
    }
    cr_assert_gt(refused, accepted, "most cuts land inside a field");
    cr_assert_gt(accepted, 0, "cuts on field boundaries decode");
    free(full);
}

LEAK_TEST(proto_envelope, oversize_refused)
{
    size_t len = 0;
    uint8_t *buf = encode_sample(&len);
    const char *text = expect_refused(buf, len, len - 1, -EMSGSIZE);
    cr_assert(strstr(text, "register") && strstr(text, "limit"), "%s", text);

    cairn_msg_type_t type = 0;
    ProtobufCMessage *msg = NULL;
    cr_assert_eq(cairn_msg_decode(buf, len, len, &type, &msg, NULL), 0, "exactly max is fine");
    cairn_msg_free(msg);
    free(buf);

    /* The announced size is checked before the bytes are waited for: a
     * header alone announcing 1 GiB is refused as oversize, default limit. */
    uint8_t hdr[CAIRN_MSG_HEADER_SIZE];
    make_header(hdr, CAIRN_MSG_LOG_CHUNK, 1u << 30);
    expect_refused(hdr, sizeof(hdr), 0, -EMSGSIZE);
    make_header(hdr, CAIRN_MSG_LOG_CHUNK, 0xffffffffu);
    expect_refused(hdr, sizeof(hdr), SIZE_MAX, -EBADMSG); /* no limit: length mismatch */
    make_header(hdr, CAIRN_MSG_LOG_CHUNK, CAIRN_MSG_MAX_DEFAULT - CAIRN_MSG_HEADER_SIZE + 1);
    expect_refused(hdr, sizeof(hdr), 0, -EMSGSIZE);
}

LEAK_TEST(proto_envelope, large_message_under_limit)
{
    size_t n = 4u << 20;
    uint8_t *data = malloc(n);
    memset(data, 0xab, n);
    Cairn__LogsReply lr = CAIRN__LOGS_REPLY__INIT;
    lr.data.data = data, lr.data.len = n, lr.next_offset = n;
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cairn_msg_encode(CAIRN_MSG_LOGS_REPLY, &lr.base, &buf, &len, NULL), 0);
    cr_assert_gt(len, n);

    cairn_msg_type_t type = 0;
    ProtobufCMessage *msg = NULL;
    cr_assert_eq(cairn_msg_decode(buf, len, 0, &type, &msg, NULL), 0);
    cr_assert_eq(((Cairn__LogsReply *)msg)->data.len, n);
    cairn_msg_free(msg);
    expect_refused(buf, len, 1u << 20, -EMSGSIZE);
    free(buf);
    free(data);
}

LEAK_TEST(proto_envelope, wrong_version_refused)
{
    size_t len = 0;
    uint8_t *buf = encode_sample(&len);
    static const uint16_t versions[] = {0, CAIRN_PROTO_VERSION + 1, 0x0100, 0xffff};
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        put_u16(buf + 2, versions[i]);
        const char *text = expect_refused(buf, len, 0, -EPROTONOSUPPORT);
        cr_assert(strstr(text, "version"), "%s", text);
    }
    free(buf);
}

LEAK_TEST(proto_envelope, wrong_magic_refused)
{
    size_t len = 0;
    uint8_t *buf = encode_sample(&len);
    static const uint16_t magics[] = {0, 0x4e43, 0x434f, 0xffff};
    for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++) {
        put_u16(buf, magics[i]);
        const char *text = expect_refused(buf, len, 0, -EPROTO);
        cr_assert(strstr(text, "magic"), "%s", text);
    }
    /* HTTP, say, is not Cairn */
    static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    expect_refused(http, sizeof(http) - 1, 0, -EPROTO);
    free(buf);
}

LEAK_TEST(proto_envelope, unknown_flags_refused)
{
    size_t len = 0;
    uint8_t *buf = encode_sample(&len);
    put_u16(buf + 6, 0x0001);
    const char *text = expect_refused(buf, len, 0, -EPROTO);
    cr_assert(strstr(text, "flags"), "%s", text);
    put_u16(buf + 6, 0x8000);
    expect_refused(buf, len, 0, -EPROTO);
    free(buf);
}

LEAK_TEST(proto_envelope, unknown_type_refused)
{
    size_t len = 0;
    uint8_t *buf = encode_sample(&len);
    static const uint16_t types[] = {0, 8, 15, 19, 63, 72, 0x100, 0xffff};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        put_u16(buf + 4, types[i]);
        const char *text = expect_refused(buf, len, 0, -ENOMSG);
        cr_assert(strstr(text, "unknown message type"), "%s", text);
    }
    free(buf);
}

LEAK_TEST(proto_envelope, length_mismatch_refused)
{
    size_t len = 0;
    uint8_t *buf = encode_sample(&len);
    uint32_t plen = (uint32_t)(len - CAIRN_MSG_HEADER_SIZE);
    put_u32(buf + 8, plen + 1);
    expect_refused(buf, len, 0, -EBADMSG);
    put_u32(buf + 8, plen - 1);
    expect_refused(buf, len, 0, -EBADMSG);
    put_u32(buf + 8, 0);
    expect_refused(buf, len, 0, -EBADMSG);

    /* trailing byte after a correct message */
    put_u32(buf + 8, plen);
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0;
    const char *text = expect_refused(longer, len + 1, 0, -EBADMSG);
    cr_assert(strstr(text, "follow"), "%s", text);
    free(longer);
    free(buf);
}

LEAK_TEST(proto_envelope, garbage_payload_refused)
{
    static const struct {
        uint8_t bytes[16];
        size_t len;
        const char *what;
    } cases[] = {
        {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 11, "endless varint"},
        {{0x0a, 0x05, 'a'}, 3, "string longer than the payload"},
        {{0x08}, 1, "truncated varint"},
        {{0x08, 0x01}, 2, "node_name sent as a varint"},
        {{0x00, 0x00}, 2, "field number 0"},
        {{0x0b, 0x0c}, 2, "group wire type"},
        {{0x2a, 0x03, 0x08, 0x01, 0xff}, 5, "bad nested message"},
        {{0x07}, 1, "wire type 7"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t buf[CAIRN_MSG_HEADER_SIZE + 16];
        make_header(buf, CAIRN_MSG_REGISTER, (uint32_t)cases[i].len);
        memcpy(buf + CAIRN_MSG_HEADER_SIZE, cases[i].bytes, cases[i].len);
        const char *text = expect_refused(buf, CAIRN_MSG_HEADER_SIZE + cases[i].len, 0, -EBADMSG);
        cr_assert(strstr(text, "malformed register"), "%s: %s", cases[i].what, text);
    }
}

LEAK_TEST(proto_envelope, invalid_utf8_refused)
{
    /* Register.node_name = "\xc3\x28" (a lead byte without continuation) */
    uint8_t a[CAIRN_MSG_HEADER_SIZE + 4];
    make_header(a, CAIRN_MSG_REGISTER, 4);
    memcpy(a + CAIRN_MSG_HEADER_SIZE, "\x0a\x02\xc3\x28", 4);
    const char *text = expect_refused(a, sizeof(a), 0, -EILSEQ);
    cr_assert(strstr(text, "Register.node_name"), "%s", text);

    /* Register.labels[1].value = "\xed\xa0\x80" (a UTF-16 surrogate) */
    static const uint8_t p[] = {0x12, 0x06, 0x0a, 0x01, 'k',  0x12, 0x01, 'v',  0x12,
                                0x08, 0x0a, 0x01, 'k',  0x12, 0x03, 0xed, 0xa0, 0x80};
    uint8_t b[CAIRN_MSG_HEADER_SIZE + sizeof(p)];
    make_header(b, CAIRN_MSG_REGISTER, sizeof(p));
    memcpy(b + CAIRN_MSG_HEADER_SIZE, p, sizeof(p));
    text = expect_refused(b, sizeof(b), 0, -EILSEQ);
    cr_assert(strstr(text, "Register.labels[1].value"), "%s", text);

    /* SubmitRequest.job.tasks[0].argv[0] = overlong "/" */
    static const uint8_t q[] = {0x0a, 0x06, 0x32, 0x04, 0x1a, 0x02, 0xc0, 0xaf};
    uint8_t c[CAIRN_MSG_HEADER_SIZE + sizeof(q)];
    make_header(c, CAIRN_MSG_SUBMIT, sizeof(q));
    memcpy(c + CAIRN_MSG_HEADER_SIZE, q, sizeof(q));
    text = expect_refused(c, sizeof(c), 0, -EILSEQ);
    cr_assert(strstr(text, "SubmitRequest.job.tasks[0].argv[0]"), "%s", text);

    /* bytes fields carry anything */
    static const uint8_t r[] = {0x22, 0x03, 0xc0, 0xff, 0x00};
    uint8_t d[CAIRN_MSG_HEADER_SIZE + sizeof(r)];
    make_header(d, CAIRN_MSG_LOG_CHUNK, sizeof(r));
    memcpy(d + CAIRN_MSG_HEADER_SIZE, r, sizeof(r));
    cairn_msg_type_t type = 0;
    ProtobufCMessage *msg = NULL;
    cr_assert_eq(cairn_msg_decode(d, sizeof(d), 0, &type, &msg, NULL), 0);
    cr_assert_eq(((Cairn__LogChunk *)msg)->data.len, 3);
    cairn_msg_free(msg);
}

LEAK_TEST(proto_envelope, bad_arguments)
{
    size_t len = 0;
    uint8_t *buf = encode_sample(&len);
    cairn_msg_type_t type = 0;
    ProtobufCMessage *msg = NULL;
    cairn_error_t err = {""};
    cr_assert_eq(cairn_msg_decode(buf, len, 0, NULL, &msg, &err), -EINVAL);
    cr_assert_eq(cairn_msg_decode(buf, len, 0, &type, NULL, &err), -EINVAL);
    cr_assert_eq(cairn_msg_decode(NULL, 5, 0, &type, &msg, &err), -EINVAL);
    cr_assert_null(msg);
    free(buf);

    Cairn__Ack ack = CAIRN__ACK__INIT;
    uint8_t *out = (uint8_t *)"untouched";
    size_t out_len = 77;
    cr_assert_eq(cairn_msg_encode(CAIRN_MSG_ACK, NULL, &out, &out_len, &err), -EINVAL);
    cr_assert_eq(cairn_msg_encode(CAIRN_MSG_ACK, &ack.base, NULL, &out_len, &err), -EINVAL);
    cr_assert_eq(cairn_msg_encode((cairn_msg_type_t)8, &ack.base, &out, &out_len, &err), -EINVAL);
    cr_assert(strstr(err.text, "unknown message type"), "%s", err.text);
    cr_assert_eq(cairn_msg_encode(CAIRN_MSG_HEARTBEAT, &ack.base, &out, &out_len, &err), -EINVAL);
    cr_assert(strstr(err.text, "Heartbeat") && strstr(err.text, "Ack"), "%s", err.text);
    cr_assert_str_eq((char *)out, "untouched");
    cr_assert_eq(out_len, 77);
}

/* Append a random protobuf-shaped field (a plausible tag and wire type, a
 * varint or a short length-delimited run of random bytes) to p. */
static size_t random_field(struct rng *r, uint8_t *p, size_t room)
{
    if (room < 8)
        return 0;
    uint32_t field = 1 + (uint32_t)(rng_next(r) % 20);
    static const uint32_t wire[] = {0, 0, 2, 2, 2, 1, 5};
    uint32_t wt = wire[rng_next(r) % 7];
    size_t n = 0;
    p[n++] = (uint8_t)((field << 3) | wt);
    size_t body = wt == 0 ? 1 + rng_next(r) % 3 : wt == 1 ? 8 : wt == 5 ? 4 : rng_next(r) % 6;
    if (body + 2 > room - n)
        body = 0;
    if (wt == 2)
        p[n++] = (uint8_t)body;
    for (size_t i = 0; i < body; i++)
        p[n++] = (uint8_t)(rng_next(r) >> 31) | (wt == 0 && i + 1 < body ? 0x80 : 0);
    if (wt == 0 && body > 0)
        p[n - 1] &= 0x7f;
    return n;
}

/* Random input in three shapes: raw bytes; a valid header over random
 * bytes; a valid header over random protobuf-shaped fields (so the parser
 * and the UTF-8 pass get deep). Whatever decodes must re-encode. */
LEAK_TEST(proto_envelope, random_bytes_never_crash)
{
    static const cairn_msg_type_t types[] = {
        CAIRN_MSG_REGISTER, CAIRN_MSG_TASK_EVENT,       CAIRN_MSG_ASSIGN_TASK,
        CAIRN_MSG_SUBMIT,   CAIRN_MSG_JOB_STATUS_REPLY, CAIRN_MSG_NODES_REPLY,
        CAIRN_MSG_ACK,      CAIRN_MSG_LOG_CHUNK,
    };
    struct rng r = {0x2545f4914f6cdd1dull};
    size_t accepted = 0, refused = 0, refused_utf8 = 0;
    for (int iter = 0; iter < 30000; iter++) {
        int shape = iter % 3;
        size_t len = rng_next(&r) % (shape == 2 ? 64 : 400);
        uint8_t *buf = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)(rng_next(&r) >> 29);
        if (shape > 0 && len >= CAIRN_MSG_HEADER_SIZE) {
            if (shape == 2) {
                size_t at = CAIRN_MSG_HEADER_SIZE, n;
                while ((n = random_field(&r, buf + at, len - at)) > 0)
                    at += n;
                len = at;
            }
            make_header(buf, (uint16_t)types[rng_next(&r) % 8],
                        (uint32_t)(len - CAIRN_MSG_HEADER_SIZE));
        }

        cairn_msg_type_t type = 0;
        ProtobufCMessage *msg = SENTINEL;
        cairn_error_t err = {""};
        int rc = cairn_msg_decode(buf, len, 0, &type, &msg, &err);
        if (rc == 0) {
            cr_assert_eq(msg->descriptor, cairn_msg_descriptor(type));
            uint8_t *again = NULL;
            size_t again_len = 0;
            cr_assert_eq(cairn_msg_encode(type, msg, &again, &again_len, &err), 0, "%s", err.text);
            free(again);
            cairn_msg_free(msg);
            accepted++;
        } else {
            cr_assert(rc == -EBADMSG || rc == -EPROTO || rc == -EPROTONOSUPPORT || rc == -ENOMSG ||
                          rc == -EMSGSIZE || rc == -EILSEQ,
                      "unexpected code %d", rc);
            cr_assert_eq(msg, SENTINEL);
            cr_assert_neq(err.text[0], '\0');
            refused++;
            refused_utf8 += rc == -EILSEQ;
        }
        free(buf);
    }
    cr_assert_gt(accepted, 1000, "only %zu random payloads decoded", accepted);
    cr_assert_gt(refused, 10000);
    cr_assert_gt(refused_utf8, 20, "UTF-8 pass hardly exercised");
}

/* A valid message with 1 to 4 random bytes changed in its payload. */
LEAK_TEST(proto_envelope, mutated_messages_never_crash)
{
    size_t len = 0;
    uint8_t *orig = encode_sample(&len);
    size_t plen = len - CAIRN_MSG_HEADER_SIZE;
    struct rng r = {0x9e3779b97f4a7c15ull};
    size_t accepted = 0;
    for (int iter = 0; iter < 20000; iter++) {
        uint8_t *buf = malloc(len);
        memcpy(buf, orig, len);
        int flips = 1 + (int)(rng_next(&r) % 4);
        for (int i = 0; i < flips; i++)
            buf[CAIRN_MSG_HEADER_SIZE + rng_next(&r) % plen] = (uint8_t)rng_next(&r);
        cairn_msg_type_t type = 0;
        ProtobufCMessage *msg = NULL;
        int rc = cairn_msg_decode(buf, len, 0, &type, &msg, NULL);
        cr_assert(rc == 0 || rc == -EBADMSG || rc == -EILSEQ, "unexpected code %d", rc);
        if (rc == 0) {
            cr_assert_eq(type, CAIRN_MSG_REGISTER);
            cairn_msg_free(msg);
            accepted++;
        }
        free(buf);
    }
    cr_assert_gt(accepted, 0);
    cr_assert_lt(accepted, 20000);
    free(orig);
}
