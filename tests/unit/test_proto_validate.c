/* cairn_utf8_valid() and cairn_msg_validate(): the checks protobuf-c does
 * not make, and the refusal of such messages by cairn_msg_encode(). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/envelope.h"

#include "leak_check.h"

static const struct {
    const char *s;
    size_t len;
    bool valid;
    const char *what;
} utf8_cases[] = {
    {"", 0, true, "empty"},
    {"plain ascii ~\x7f", 14, true, "ASCII up to DEL"},
    {"\xc2\x80", 2, true, "U+0080, smallest 2-byte"},
    {"\xc3\xa9t\xc3\xa9", 5, true, "e-acute"},
    {"\xe2\x82\xac", 3, true, "euro sign"},
    {"\xed\x9f\xbf", 3, true, "U+D7FF, below the surrogates"},
    {"\xee\x80\x80", 3, true, "U+E000, above the surrogates"},
    {"\xef\xbf\xbf", 3, true, "U+FFFF"},
    {"\xf0\x90\x80\x80", 4, true, "U+10000, smallest 4-byte"},
    {"\xf0\x9f\x99\x82", 4, true, "emoji"},
    {"\xf4\x8f\xbf\xbf", 4, true, "U+10FFFF, the last code point"},
    {"\x80", 1, false, "lone continuation byte"},
    {"a\xbf", 2, false, "continuation byte after ASCII"},
    {"\xc0\x80", 2, false, "overlong NUL"},
    {"\xc1\xbf", 2, false, "overlong 2-byte"},
    {"\xe0\x80\xaf", 3, false, "overlong 3-byte '/'"},
    {"\xe0\x9f\xbf", 3, false, "overlong U+07FF"},
    {"\xf0\x8f\xbf\xbf", 4, false, "overlong U+FFFF"},
    {"\xed\xa0\x80", 3, false, "high surrogate"},
    {"\xed\xbf\xbf", 3, false, "low surrogate"},
    {"\xf4\x90\x80\x80", 4, false, "U+110000"},
    {"\xf5\x80\x80\x80", 4, false, "lead byte 0xf5"},
    {"\xf8\x88\x80\x80\x80", 5, false, "5-byte form"},
    {"\xfe", 1, false, "0xfe"},
    {"\xff", 1, false, "0xff"},
    {"\xc3", 1, false, "2-byte cut at end"},
    {"\xe2\x82", 2, false, "3-byte cut at end"},
    {"\xf0\x9f\x99", 3, false, "4-byte cut at end"},
    {"\xc3(", 2, false, "bad continuation"},
    {"\xe2\x28\xa1", 3, false, "bad second byte of 3"},
    {"\xf0\x9f\x99(", 4, false, "bad last byte of 4"},
    {"\xc3\xa9", 1, false, "valid sequence cut by the length"},
};

LEAK_TEST(proto_validate, utf8_table)
{
    for (size_t i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]); i++)
        cr_assert_eq(cairn_utf8_valid(utf8_cases[i].s, utf8_cases[i].len), utf8_cases[i].valid,
                     "%s", utf8_cases[i].what);
}

/* Every code point encodes to a sequence the validator takes, and every
 * 2- and 3-byte sequence is judged like a reference decoder would. */
LEAK_TEST(proto_validate, utf8_exhaustive)
{
    size_t valid3 = 0;
    for (uint32_t a = 0x80; a <= 0xff; a++) {
        for (uint32_t b = 0; b <= 0xff; b++) {
            char s2[2] = {(char)a, (char)b};
            uint32_t cp = ((a & 0x1f) << 6) | (b & 0x3f);
            bool want = (a & 0xe0) == 0xc0 && (b & 0xc0) == 0x80 && cp >= 0x80;
            cr_assert_eq(cairn_utf8_valid(s2, 2), want, "%02x %02x", a, b);
            if ((a & 0xf0) != 0xe0)
                continue;
            for (uint32_t c = 0x80; c <= 0xbf; c++) {
                char s3[3] = {(char)a, (char)b, (char)c};
                uint32_t cp3 = ((a & 0x0f) << 12) | ((b & 0x3f) << 6) | (c & 0x3f);
                bool want3 = (b & 0xc0) == 0x80 && cp3 >= 0x800 && (cp3 < 0xd800 || cp3 > 0xdfff);
                cr_assert_eq(cairn_utf8_valid(s3, 3), want3, "%02x %02x %02x", a, b, c);
                valid3 += want3;
            }
        }
    }
    cr_assert_eq(valid3, 0x10000 - 0x800 - 0x800, "3-byte code points minus surrogates");
}

static void expect_invalid(const ProtobufCMessage *m, int code, const char *needle)
{
    cairn_error_t err = {""};
    int rc = cairn_msg_validate(m, &err);
    cr_assert_eq(rc, code, "got %d (%s)", rc, err.text);
    cr_assert(strstr(err.text, needle), "'%s' does not mention %s", err.text, needle);
}

LEAK_TEST(proto_validate, names_the_field)
{
    Cairn__KeyValue ok = CAIRN__KEY_VALUE__INIT, bad = CAIRN__KEY_VALUE__INIT;
    ok.key = "a", ok.value = "b";
    bad.key = "b", bad.value = "\xff";
    Cairn__KeyValue *labels[] = {&ok, &bad};
    Cairn__Register reg = CAIRN__REGISTER__INIT;
    reg.node_name = "n1", reg.n_labels = 2, reg.labels = labels;
    cairn_error_t err = {""};
    cr_assert_eq(cairn_msg_validate(&reg.base, &err), -EILSEQ);
    cr_assert_str_eq(err.text, "invalid UTF-8 in string field Register.labels[1].value");

    bad.value = "fine";
    cr_assert_eq(cairn_msg_validate(&reg.base, &err), 0);

    Cairn__Gpu gpu = CAIRN__GPU__INIT;
    gpu.model = "H\xe0\x80\x80";
    Cairn__Gpu *gpus[] = {&gpu, &gpu};
    Cairn__NodeResources res = CAIRN__NODE_RESOURCES__INIT;
    res.n_gpus = 2, res.gpus = gpus;
    reg.resources = &res;
    expect_invalid(&reg.base, -EILSEQ, "Register.resources.gpus[0].model");

    char *argv[] = {"ok", "ok", "\xed\xa0\x80"};
    Cairn__AssignTask at = CAIRN__ASSIGN_TASK__INIT;
    at.n_argv = 3, at.argv = argv;
    expect_invalid(&at.base, -EILSEQ, "AssignTask.argv[2]");
}

LEAK_TEST(proto_validate, null_where_protobuf_c_would_crash)
{
    Cairn__AssignTask at = CAIRN__ASSIGN_TASK__INIT;
    char *argv[] = {"ok", NULL};
    at.n_argv = 2, at.argv = argv;
    expect_invalid(&at.base, -EINVAL, "AssignTask.argv[1]");

    at.n_argv = 1, at.argv = NULL;
    expect_invalid(&at.base, -EINVAL, "AssignTask.argv");

    at.n_argv = 0;
    Cairn__GpuRef *gpus[] = {NULL};
    at.n_gpus = 1, at.gpus = gpus;
    expect_invalid(&at.base, -EINVAL, "AssignTask.gpus[0]");

    Cairn__LogChunk lc = CAIRN__LOG_CHUNK__INIT;
    lc.data.len = 10, lc.data.data = NULL;
    expect_invalid(&lc.base, -EINVAL, "LogChunk.data");

    /* a NULL singular string or sub-message is just "unset" */
    Cairn__Register reg = CAIRN__REGISTER__INIT;
    reg.node_name = NULL, reg.resources = NULL;
    cr_assert_eq(cairn_msg_validate(&reg.base, NULL), 0);

    cr_assert_eq(cairn_msg_validate(NULL, NULL), -EINVAL);
}

LEAK_TEST(proto_validate, wrong_submessage_type)
{
    Cairn__Ack ack = CAIRN__ACK__INIT;
    Cairn__Register reg = CAIRN__REGISTER__INIT;
    reg.resources = (Cairn__NodeResources *)&ack;
    expect_invalid(&reg.base, -EINVAL, "Register.resources holds a Ack, expected NodeResources");
}

LEAK_TEST(proto_validate, oneof_member_checked_only_when_selected)
{
    /* Gpu's only oneof member is a number; make sure an unselected oneof
     * does not make the walker read its storage as a string. */
    Cairn__Gpu gpu = CAIRN__GPU__INIT;
    gpu.numa_present_case = CAIRN__GPU__NUMA_PRESENT__NOT_SET;
    gpu.numa_os_index = 0xffffffffu;
    cr_assert_eq(cairn_msg_validate(&gpu.base, NULL), 0);
    gpu.numa_present_case = CAIRN__GPU__NUMA_PRESENT_NUMA_OS_INDEX;
    cr_assert_eq(cairn_msg_validate(&gpu.base, NULL), 0);
}

/* Encoding refuses what validation refuses: nothing invalid reaches a peer. */
LEAK_TEST(proto_validate, encode_refuses_invalid)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    cairn_error_t err = {""};

    Cairn__TaskEvent ev = CAIRN__TASK_EVENT__INIT;
    ev.error = "exec failed: \xc0\xaf";
    cr_assert_eq(cairn_msg_encode(CAIRN_MSG_TASK_EVENT, &ev.base, &buf, &len, &err), -EILSEQ);
    cr_assert(strstr(err.text, "TaskEvent.error"), "%s", err.text);
    cr_assert_null(buf);
    cr_assert_eq(len, 0);

    Cairn__NodesRequest nr = CAIRN__NODES_REQUEST__INIT;
    char *names[] = {NULL};
    nr.n_names = 1, nr.names = names;
    cr_assert_eq(cairn_msg_encode(CAIRN_MSG_NODES, &nr.base, &buf, &len, &err), -EINVAL);
    cr_assert(strstr(err.text, "NodesRequest.names[0]"), "%s", err.text);
    cr_assert_null(buf);

    names[0] = "n1";
    cr_assert_eq(cairn_msg_encode(CAIRN_MSG_NODES, &nr.base, &buf, &len, &err), 0, "%s", err.text);
    cr_assert_not_null(buf);
    free(buf);
}
