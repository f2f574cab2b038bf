/* JSON output on jansson (proto/json.c): strings escaped with invalid
 * UTF-8 as U+FFFD, exact 64-bit integers, fixed-decimal reals, messages
 * from their descriptors, and the two layouts. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/client.pb-c.h"
#include "proto/json.h"

#include "leak_check.h"

/* The text of v written alone (one line, no newline). */
static char *text_of(json_t *v)
{
    cr_assert_not_null(v);
    json_t *a = json_pack("[o]", v);
    char *t = cairn_json_text(a, CAIRN_JSON_LINE);
    cr_assert_not_null(t);
    size_t n = strlen(t);
    cr_assert(n >= 3 && t[0] == '[' && !strcmp(t + n - 2, "]\n"), "%s", t);
    memmove(t, t + 1, n - 3);
    t[n - 3] = '\0';
    return t;
}

LEAK_TEST(json, strings_escaped_and_invalid_utf8_replaced)
{
    static const struct {
        const char *in, *out, *value; /* value: what a reader gets, UTF-8 */
    } cases[] = {
        {"plain", "\"plain\"", "plain"},
        {"q\"b\\s/", "\"q\\\"b\\\\s/\"", "q\"b\\s/"},
        /* control characters escaped (\b \f short, others \u00XX); DEL as is */
        {"\n\r\t\x01\x1f\x7f\b\f", "\"\\n\\r\\t\\u0001\\u001F\x7f\\b\\f\"",
         "\n\r\t\x01\x1f\x7f\b\f"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
         "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
         "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        /* each byte that is not part of valid UTF-8 is U+FFFD: a lone 0xff,
         * a truncated sequence, a surrogate (3 bytes) */
        {"bad\xff\xc3(\xed\xa0\x80",
         "\"bad\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"",
         "bad\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\"", "\xef\xbf\xbd\xef\xbf\xbd"}, /* overlong "/" */
        {"", "\"\"", ""},
        {NULL, "\"\"", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = text_of(cairn_json_str(cases[i].in));
        cr_expect_str_eq(got, cases[i].out, "case %zu", i);
        json_error_t e;
        json_t *back = json_loads(got, JSON_DECODE_ANY, &e);
        cr_assert_not_null(back, "case %zu: %s", i, e.text);
        cr_expect_str_eq(json_string_value(back), cases[i].value, "case %zu", i);
        json_decref(back);
        free(got);
    }
}

LEAK_TEST(json, keys_with_invalid_utf8)
{
    json_t *o = json_object();
    cr_assert_eq(cairn_json_set(&o, "zone", cairn_json_str("a")), 0);
    static const char bad_key[] = {'r', '\xff', 'c', 'k', '\0'};
    cr_assert_eq(cairn_json_set(&o, bad_key, json_integer(1)), 0);
    char *t = cairn_json_text(o, CAIRN_JSON_LINE);
    cr_expect_str_eq(t, "{\"zone\": \"a\", \"r\xef\xbf\xbd"
                        "ck\": 1}\n");
    free(t);
}

/* A member or element that could not be made drops the whole object or
 * list: a document is complete or not written. */
LEAK_TEST(json, a_failure_drops_the_container)
{
    json_t *o = json_object();
    cr_expect_eq(cairn_json_set(&o, "a", json_integer(1)), 0);
    cr_expect_eq(cairn_json_set(&o, "none", NULL), -1);
    cr_expect_null(o);
    cr_expect_eq(cairn_json_set(&o, "later", json_integer(2)), -1); /* freed, not leaked */
    json_t *a = json_array();
    cr_expect_eq(cairn_json_push(&a, json_integer(1)), 0);
    cr_expect_eq(cairn_json_push(&a, NULL), -1);
    cr_expect_null(a);
    cr_expect_eq(cairn_json_push(&a, json_integer(2)), -1);
    cr_expect_null(json_pack("{s:o}", "list", a));
    cr_expect_null(cairn_json_text(NULL, CAIRN_JSON_LINE));
}

LEAK_TEST(json, every_uint64_exact)
{
    static const struct {
        uint64_t v;
        const char *out;
    } cases[] = {
        {0, "0"},
        {INT64_MAX, "9223372036854775807"},
        {(uint64_t)INT64_MAX + 1, "9223372036854775808"},
        {UINT64_MAX, "18446744073709551615"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = text_of(cairn_json_u64(cases[i].v));
        cr_expect_str_eq(got, cases[i].out, "case %zu", i);
        free(got);
    }
    /* inside strings, a backslash-u0000 a user wrote stays text */
    json_t *doc = json_pack("{s:o, s:o, s:o}", "seed", cairn_json_u64(UINT64_MAX), "note",
                            cairn_json_str("\"\\u000012\""), "n", cairn_json_u64(7));
    char *t = cairn_json_text(doc, CAIRN_JSON_LINE);
    cr_expect_str_eq(t, "{\"seed\": 18446744073709551615, \"note\": \"\\\"\\\\u000012\\\"\", "
                        "\"n\": 7}\n");
    free(t);
}

LEAK_TEST(json, fixed_decimals_as_printed)
{
    static const struct {
        double v;
        int decimals;
        const char *out;
    } cases[] = {
        {1.234, 6, "1.234"},        /* not 1.2339999999999999 */
        {0.1234567, 6, "0.123457"}, /* as %.6f rounds it */
        {3600.0, 6, "3600.0"},      /* a real stays a real */
        {0.0, 3, "0.0"},
        {-2.5, 3, "-2.5"},
        {123456789.123456, 6, "123456789.123456"},
        {1.0 / 3.0, 3, "0.333"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = text_of(cairn_json_fixed(cases[i].v, cases[i].decimals));
        cr_expect_str_eq(got, cases[i].out, "case %zu", i);
        free(got);
    }
    char *got = text_of(cairn_json_fixed(NAN, 6));
    cr_expect_str_eq(got, "null");
    free(got);
    got = text_of(cairn_json_fixed(-INFINITY, 6));
    cr_expect_str_eq(got, "null");
    free(got);
}

LEAK_TEST(json, messages_from_their_descriptors)
{
    Cairn__AccountingRecord r = CAIRN__ACCOUNTING_RECORD__INIT;
    r.job_id = UINT64_MAX;
    r.task = "t\x01";
    uint32_t cores[] = {3, 1};
    r.cores = cores;
    r.n_cores = 2;
    r.core_seconds = 2.0; /* whole: an integer, as %.17g wrote it */
    r.gpu_seconds = 0.1;  /* every digit */
    r.gpu_seconds_used = -1;
    r.exit_code = -3;
    json_t *m = cairn_json_msg(&r.base);
    cr_assert_not_null(m);
    char *t = cairn_json_text(m, CAIRN_JSON_LINE | CAIRN_JSON_EXACT);
    cr_assert_not_null(t);
    cr_expect(!strncmp(t,
                       "{\"job_id\": 18446744073709551615, \"job_name\": \"\", \"task\": "
                       "\"t\\u0001\", ",
                       strlen("{\"job_id\": 18446744073709551615, \"job_name\": \"\", \"task\": "
                              "\"t\\u0001\", ")),
              "%s", t);
    cr_expect(strstr(t, "\"cores\": [3, 1], \"gpu_ids\": [], ") != NULL, "%s", t);
    cr_expect(strstr(t,
                     "\"exit_code\": -3, \"core_seconds\": 2, \"gpu_seconds\": "
                     "0.10000000000000001, \"cpu_seconds_used\": 0, \"gpu_seconds_used\": -1, ") !=
                  NULL,
              "%s", t);
    free(t);
    /* indented: two spaces a level, empty lists as [] */
    Cairn__JobProvenance jp = CAIRN__JOB_PROVENANCE__INIT;
    jp.format = "cairn-provenance/1";
    jp.job_id = 4;
    t = cairn_json_text(cairn_json_msg(&jp.base), CAIRN_JSON_INDENT | CAIRN_JSON_EXACT);
    cr_assert_not_null(t);
    cr_expect(!strncmp(t, "{\n  \"format\": \"cairn-provenance/1\",\n  \"job_id\": 4,\n",
                       strlen("{\n  \"format\": \"cairn-provenance/1\",\n  \"job_id\": 4,\n")),
              "%s", t);
    cr_expect(strstr(t, "\n  \"tasks\": [],\n  \"account\": \"\"\n}\n") != NULL, "%s", t);
    free(t);
}

LEAK_TEST(json, nothing_to_write)
{
    cr_expect_eq(cairn_json_print(stdout, NULL, CAIRN_JSON_LINE), -ENOMEM);
    FILE *full = fopen("/dev/full", "w");
    cr_assert_not_null(full);
    cr_expect_eq(cairn_json_print(full, json_pack("{s:i}", "a", 1), CAIRN_JSON_LINE), -EIO);
    fclose(full);
}
