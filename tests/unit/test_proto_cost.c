/* Decoding is bounded before anything is unpacked: the envelope prices a
 * payload from its wire format (cairn_msg_cost()) and refuses one with more
 * fields than its type and size limit allow, or that would take more bytes
 * to unpack than the budget, without a single allocation. Allocations are
 * counted through cairn_msg_decode_alloc() with a counting allocator. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/envelope.h"

#include "count_alloc.h"
#include "leak_check.h"

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static size_t varint_size(uint64_t v)
{
    uint8_t tmp[10];
    return put_varint(tmp, v);
}

/* A whole message of the given type and total size (header included),
 * made of `fill` (two bytes: an empty element of repeated field `fill`)
 * repeated, inside field `outer` of the payload (0: the payload itself is
 * the fill; its size must then be even). An odd remainder goes into a
 * three-byte field the outer message does not know. *count: the
 * elements. */
static uint8_t *empty_elements(cairn_msg_type_t type, size_t total, uint8_t outer, uint8_t fill,
                               size_t *count)
{
    uint8_t *buf = malloc(total);
    cr_assert_not_null(buf);
    size_t payload = total - CAIRN_MSG_HEADER_SIZE;
    put_u16(buf, CAIRN_MSG_MAGIC);
    put_u16(buf + 2, CAIRN_PROTO_VERSION);
    put_u16(buf + 4, (uint16_t)type);
    put_u16(buf + 6, 0);
    put_u32(buf + 8, (uint32_t)payload);
    uint8_t *p = buf + CAIRN_MSG_HEADER_SIZE;
    size_t at = 0, inner = payload, pad = 0;
    if (outer) {
        for (size_t vl = 1; vl <= 5; vl++) {
            inner = payload - 1 - vl;
            pad = inner % 2 ? 3 : 0;
            inner -= pad;
            if (varint_size(inner) == vl)
                break;
        }
        p[at++] = (uint8_t)(outer << 3 | 2);
        at += put_varint(p + at, inner);
    }
    cr_assert_eq(inner % 2, 0, "an odd payload without an outer field");
    for (size_t i = 0; i < inner / 2; i++) {
        p[at++] = (uint8_t)(fill << 3 | 2);
        p[at++] = 0;
    }
    if (pad) {
        p[at++] = 15 << 3 | 2; /* field 15 of the outer message: unknown */
        p[at++] = 1;
        p[at++] = 0;
    }
    cr_assert_eq(at, payload);
    *count = inner / 2;
    return buf;
}

/* Decode with a counting allocator, expecting refusal with code. */
static const char *refused(const uint8_t *buf, size_t len, size_t max, int code, count_alloc_t *ca)
{
    static cairn_error_t err;
    cairn_msg_type_t type = (cairn_msg_type_t)4321;
    ProtobufCMessage *msg = NULL;
    count_alloc_init(ca);
    err.text[0] = '\0';
    int rc = cairn_msg_decode_alloc(buf, len, max, &ca->a, &type, &msg, &err);
    cr_assert_eq(rc, code, "got %d (%s), want %d", rc, err.text, code);
    cr_assert_null(msg);
    cr_assert_eq((int)type, 4321);
    return err.text;
}

/* The case: 16 MiB of empty JobSpec.tasks elements, about 8.4
 * million of them. protobuf-c alone would allocate a TaskSpec and more
 * for each before max_tasks is looked at; the decode refuses it before
 * allocating anything. */
LEAK_TEST(proto_cost, sixteen_mib_of_empty_tasks_refused_without_allocating)
{
    size_t n = 0, len = CAIRN_MSG_MAX_DEFAULT;
    /* SubmitRequest.job (1) holding JobSpec.tasks (6) elements */
    uint8_t *buf = empty_elements(CAIRN_MSG_SUBMIT, len, 1, 6, &n);
    cr_assert_gt(n, 8000000);

    cairn_msg_cost_t cost;
    cairn_error_t err = {""};
    cr_assert_eq(cairn_msg_cost(&cairn__submit_request__descriptor, buf + CAIRN_MSG_HEADER_SIZE,
                                len - CAIRN_MSG_HEADER_SIZE, &cost, &err),
                 0, "%s", err.text);
    cr_assert_geq(cost.objects, n, "unpacking would allocate %zu objects", cost.objects);
    cr_assert_gt(cost.bytes, (size_t)1 << 30, "and %zu bytes", cost.bytes);

    count_alloc_t ca;
    const char *why = refused(buf, len, 0, -EMSGSIZE, &ca);
    cr_expect_eq(ca.allocs, 0, "the refusal allocated %zu times", ca.allocs);
    cr_expect(strstr(why, "submit message of 16777216 bytes has") != NULL, "%s", why);
    cr_expect(strstr(why, "refused before decoding") != NULL, "%s", why);
    free(buf);
}

/* A peer not yet authenticated gets CAIRN_MSG_PREAUTH_MAX: a Register
 * filling it with empty RunningAttempts (Register.running, field 7) is
 * refused the same way, as is any type the scheduler's worker endpoint
 * reads. */
LEAK_TEST(proto_cost, preauth_limit_bounds_a_register)
{
    size_t n = 0, len = CAIRN_MSG_PREAUTH_MAX;
    uint8_t *buf = empty_elements(CAIRN_MSG_REGISTER, len, 0, 7, &n);
    count_alloc_t ca;
    const char *why = refused(buf, len, CAIRN_MSG_PREAUTH_MAX, -EMSGSIZE, &ca);
    cr_expect_eq(ca.allocs, 0);
    cr_expect(strstr(why, "register message") && strstr(why, "of the 1048576-byte limit"), "%s",
              why);
    free(buf);
}

/* Under the field limit but over the byte budget: 12,000 empty TaskSpecs
 * (24 KB on the wire, several MB unpacked) against a 64 KiB limit. */
LEAK_TEST(proto_cost, byte_budget_refuses_costly_structs)
{
    size_t n = 0, len = 24 * 1024 + CAIRN_MSG_HEADER_SIZE + 6;
    uint8_t *buf = empty_elements(CAIRN_MSG_SUBMIT, len, 1, 6, &n);
    count_alloc_t ca;
    const char *why = refused(buf, len, 64 * 1024, -EMSGSIZE, &ca);
    cr_expect_eq(ca.allocs, 0);
    cr_expect(strstr(why, "bytes to decode, more than 2097152 (32 times the 65536-byte limit)"),
              "%s", why);
    free(buf);
}

/* Control messages have a small field limit of their own, whatever the
 * size limit: a Heartbeat of 1,100 unknown fields. */
LEAK_TEST(proto_cost, small_types_have_few_fields)
{
    size_t n = 0, len = CAIRN_MSG_HEADER_SIZE + 2200;
    /* field 15 (unknown to Heartbeat), empty bytes: two bytes each */
    uint8_t *buf = empty_elements(CAIRN_MSG_HEARTBEAT, len, 0, 15, &n);
    cr_assert_eq(n, 1100);
    count_alloc_t ca;
    const char *why = refused(buf, len, 0, -EMSGSIZE, &ca);
    cr_expect_eq(ca.allocs, 0);
    cr_expect(strstr(why, "heartbeat message has 1100 fields, more than the 1024 a heartbeat"),
              "%s", why);
    free(buf);
}

/* protobuf merges a singular message field given twice; protobuf-c does it
 * by copying arrays, quadratic in the copies. Refused as malformed. */
LEAK_TEST(proto_cost, single_message_field_twice_refused)
{
    uint8_t buf[CAIRN_MSG_HEADER_SIZE + 4];
    put_u16(buf, CAIRN_MSG_MAGIC);
    put_u16(buf + 2, CAIRN_PROTO_VERSION);
    put_u16(buf + 4, CAIRN_MSG_SUBMIT);
    put_u16(buf + 6, 0);
    put_u32(buf + 8, 4);
    const uint8_t twice[] = {0x0a, 0x00, 0x0a, 0x00}; /* job, job */
    memcpy(buf + CAIRN_MSG_HEADER_SIZE, twice, sizeof(twice));
    count_alloc_t ca;
    const char *why = refused(buf, sizeof(buf), 0, -EBADMSG, &ca);
    cr_expect_eq(ca.allocs, 0);
    cr_expect(strstr(why, "malformed submit payload") &&
                  strstr(why, "SubmitRequest.job: a single message field appears twice"),
              "%s", why);
}

/* What a legitimate large job costs stays within the limits: 100,000 tasks
 * with a name and an argument each decode. */
LEAK_TEST(proto_cost, a_large_real_job_decodes)
{
    enum { N = 100000 };
    Cairn__TaskSpec *tasks = calloc(N, sizeof(*tasks));
    Cairn__TaskSpec **tp = calloc(N, sizeof(*tp));
    char *names = calloc(N, 16);
    static char *argv[] = {"/bin/true"};
    cr_assert(tasks && tp && names);
    for (size_t i = 0; i < N; i++) {
        cairn__task_spec__init(&tasks[i]);
        snprintf(names + 16 * i, 16, "t%zu", i);
        tasks[i].name = names + 16 * i;
        tasks[i].n_argv = 1;
        tasks[i].argv = argv;
        tp[i] = &tasks[i];
    }
    Cairn__JobSpec js = CAIRN__JOB_SPEC__INIT;
    js.name = "big";
    js.n_tasks = N;
    js.tasks = tp;
    Cairn__SubmitRequest req = CAIRN__SUBMIT_REQUEST__INIT;
    req.job = &js;
    uint8_t *buf = NULL;
    size_t len = 0;
    cairn_error_t err = {""};
    cr_assert_eq(cairn_msg_encode(CAIRN_MSG_SUBMIT, &req.base, &buf, &len, &err), 0, "%s",
                 err.text);
    cairn_msg_type_t type;
    ProtobufCMessage *msg = NULL;
    cr_assert_eq(cairn_msg_decode(buf, len, 0, &type, &msg, &err), 0, "%s", err.text);
    cr_assert_eq(((Cairn__SubmitRequest *)msg)->job->n_tasks, N);
    cairn_msg_free(msg);
    free(buf);
    free(tasks);
    free(tp);
    free(names);
}
