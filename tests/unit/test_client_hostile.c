/* Hostile specs: huge matrices, deep and wide DAGs, enormous argv, invalid
 * UTF-8 and names with path separators are refused with an error that names
 * the problem, under limits, by the spec parser (cluster/spec*.c) and by the
 * scheduler's edge checks (scheduler/jobspec.c), which must not trust the
 * client. Each case must also be quick and never crash. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/fuzz_common.h"
#include "cluster/spec.h"
#include "leak_check.h"
#include "proto/envelope.h"
#include "scheduler/jobspec.h"

/* --- a growable text buffer for generated specs ------------------------- */

typedef struct text {
    char *s;
    size_t len, cap;
} text_t;

__attribute__((format(printf, 2, 3))) static void tprintf(text_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (t->len + (size_t)n + 1 > t->cap) {
        t->cap = (t->len + (size_t)n + 1) * 2;
        t->s = realloc(t->s, t->cap);
        cr_assert_not_null(t->s);
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

/* Parses text that must be refused; returns all the problems, one per
 * line (free it). */
static char *spec_refused(const char *text, size_t len)
{
    Cairn__JobSpec *js = NULL;
    spec_errors_t errs = {0};
    int rc = spec_parse("spec.yaml", text, len, &js, &errs);
    cr_assert_null(js, "a hostile spec was accepted");
    cr_assert_gt(rc, 0, "refused without a message (%d)", rc);
    text_t all = {0};
    tprintf(&all, "%s", "");
    for (size_t i = 0; i < errs.n; i++)
        tprintf(&all, "%s\n", errs.lines[i]);
    spec_errors_fini(&errs);
    return all.s;
}

#define assert_has(all, what)                                                                      \
    cr_assert_not_null(strstr(all, what), "expected \"%s\" in:\n%.2000s", what, all)

/* --- the spec parser ------------------------------------------------------ */

LEAK_TEST(hostile_spec, names_with_path_separators)
{
    static const char *const names[] = {"../x", "a/b", "/etc", "a\\\\b", "..", "."};
    static const char *const why[] = {"path separator", "path separator", "path separator",
                                      "path separator", "'.' or '..'",    "'.' or '..'"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char yaml[256];
        snprintf(yaml, sizeof(yaml), "name: j\ntasks:\n  - name: \"%s\"\n    run: [\"true\"]\n",
                 names[i]);
        char *all = spec_refused(yaml, strlen(yaml));
        assert_has(all, "spec.yaml:3:");
        assert_has(all, "task name");
        assert_has(all, why[i]);
        free(all);
    }
}

LEAK_TEST(hostile_spec, names_with_control_characters)
{
    const char *yaml = "name: j\ntasks:\n  - name: \"a\\tb\"\n    run: [\"true\"]\n";
    char *all = spec_refused(yaml, strlen(yaml));
    assert_has(all, "whitespace or a control character");
    free(all);
}

LEAK_TEST(hostile_spec, matrix_value_with_path_separator)
{
    const char *yaml = "name: j\ntasks:\n  - name: t\n    matrix:\n      data: [ok, ../etc]\n"
                       "    run: [\"true\", \"${{ matrix.data }}\"]\n";
    char *all = spec_refused(yaml, strlen(yaml));
    assert_has(all, "matrix value '../etc' of key 'data' contains a path separator");
    free(all);
}

LEAK_TEST(hostile_spec, huge_matrix)
{
    /* 8 keys of 20 values: 2.56e10 combinations, refused before expansion */
    text_t t = {0};
    tprintf(&t, "name: j\ntasks:\n  - name: t\n    run: [\"true\"]\n    matrix:\n");
    for (int k = 0; k < 8; k++) {
        tprintf(&t, "      k%d: [", k);
        for (int v = 0; v < 20; v++)
            tprintf(&t, "%s%d", v ? ", " : "", v);
        tprintf(&t, "]\n");
    }
    char *all = spec_refused(t.s, t.len);
    assert_has(all, "matrix expands the job to more than 100000 tasks");
    free(all);
    free(t.s);
}

LEAK_TEST(hostile_spec, long_chain)
{
    /* 100k tasks, each needing the one before: more templates than allowed */
    text_t t = {0};
    tprintf(&t, "name: j\ntasks:\n");
    tprintf(&t, "  - {name: t0, run: [\"true\"]}\n");
    for (int i = 1; i < 100000; i++)
        tprintf(&t, "  - {name: t%d, run: [\"true\"], needs: [t%d]}\n", i, i - 1);
    char *all = spec_refused(t.s, t.len);
    assert_has(all, "too many tasks (100000, at most 10000)");
    free(all);
    free(t.s);
}

LEAK_TEST(hostile_spec, wide_needs)
{
    text_t t = {0};
    tprintf(&t, "name: j\ntasks:\n  - name: a\n    run: [\"true\"]\n  - name: b\n"
                "    run: [\"true\"]\n    needs: [");
    for (int i = 0; i < 100000; i++)
        tprintf(&t, "%sa", i ? "," : "");
    tprintf(&t, "]\n");
    char *all = spec_refused(t.s, t.len);
    assert_has(all, "too many items (100000, at most 4096)");
    free(all);
    free(t.s);
}

LEAK_TEST(hostile_spec, enormous_argv)
{
    text_t t = {0};
    tprintf(&t, "name: j\ntasks:\n  - name: a\n    run: [");
    for (int i = 0; i < 100000; i++)
        tprintf(&t, "%sx", i ? "," : "");
    tprintf(&t, "]\n");
    char *all = spec_refused(t.s, t.len);
    assert_has(all, "too many items (100000, at most 4096)");
    free(all);
    free(t.s);

    /* one argument of 1 MiB */
    text_t u = {0};
    tprintf(&u, "name: j\ntasks:\n  - name: a\n    run: [\"");
    for (int i = 0; i < 1024; i++)
        tprintf(&u, "%01024d", 0);
    tprintf(&u, "\"]\n");
    all = spec_refused(u.s, u.len);
    assert_has(all, "spec.yaml:4:");
    assert_has(all, "65536");
    free(all);
    free(u.s);
}

LEAK_TEST(hostile_spec, deep_nesting)
{
    /* libyaml alone takes a minute over 200,000 nested '[' */
    text_t t = {0};
    tprintf(&t, "name: j\ntasks: ");
    for (int i = 0; i < 200000; i++)
        tprintf(&t, "[");
    for (int i = 0; i < 200000; i++)
        tprintf(&t, "]");
    tprintf(&t, "\n");
    char *all = spec_refused(t.s, t.len);
    assert_has(all, "nested deeper than 64 levels");
    free(all);
    free(t.s);
}

LEAK_TEST(hostile_spec, invalid_utf8)
{
    const char yaml[] = "name: j\ntasks:\n  - name: \"t\xff\xfe\"\n    run: [\"true\"]\n";
    char *all = spec_refused(yaml, sizeof(yaml) - 1);
    assert_has(all, "spec.yaml:3:");
    assert_has(all, "UTF-8");
    free(all);
}

LEAK_TEST(hostile_spec, file_too_big)
{
    size_t n = (16u << 20) + 1;
    char *big = malloc(n);
    cr_assert_not_null(big);
    memset(big, '#', n);
    char *all = spec_refused(big, n);
    assert_has(all, "spec.yaml");
    free(all);
    free(big);
}

/* --- the scheduler's edge checks ------------------------------------------ */

/* A job of n tasks t0..t(n-1), each running "true". */
typedef struct job {
    Cairn__JobSpec js;
    Cairn__TaskSpec *tasks;
    Cairn__TaskSpec **ptrs;
    char **names;
} job_t;

static char *argv_true[] = {"true"};

static void job_init(job_t *j, size_t n)
{
    cairn__job_spec__init(&j->js);
    j->js.name = "j";
    j->js.submitter = "u";
    j->tasks = calloc(n, sizeof(*j->tasks));
    j->ptrs = calloc(n, sizeof(*j->ptrs));
    j->names = calloc(n, sizeof(*j->names));
    cr_assert(j->tasks && j->ptrs && j->names);
    for (size_t i = 0; i < n; i++) {
        cairn__task_spec__init(&j->tasks[i]);
        cr_assert(asprintf(&j->names[i], "t%zu", i) > 0);
        j->tasks[i].name = j->names[i];
        j->tasks[i].n_argv = 1;
        j->tasks[i].argv = argv_true;
        j->ptrs[i] = &j->tasks[i];
    }
    j->js.n_tasks = n;
    j->js.tasks = j->ptrs;
}

static void job_fini(job_t *j)
{
    for (size_t i = 0; i < j->js.n_tasks; i++)
        free(j->names[i]);
    free(j->names);
    free(j->tasks);
    free(j->ptrs);
}

/* Converts with lim (NULL: the defaults); returns the problems, one per
 * line (free it), or NULL if the job was accepted (then *cj is set). */
static char *conv_problems(const job_t *j, const jobspec_limits_t *lim, jobspec_t **cj)
{
    jobspec_errors_t errs = {0};
    *cj = NULL;
    int rc = jobspec_build(&j->js, 1, lim, cj, &errs);
    cr_assert_geq(rc, 0);
    if (rc == 0) {
        jobspec_errors_fini(&errs);
        return NULL;
    }
    cr_assert_eq((size_t)rc, errs.n);
    text_t all = {0};
    for (size_t i = 0; i < errs.n; i++)
        tprintf(&all, "%s: %s\n", errs.v[i]->path, errs.v[i]->message);
    jobspec_errors_fini(&errs);
    return all.s;
}

LEAK_TEST(hostile_conv, names_with_path_separators)
{
    static const char *const names[] = {"../x", "a/b", "a\\b", "..", ".", ""};
    static const char *const why[] = {"path separator", "path separator", "path separator",
                                      "'.' or '..'",    "'.' or '..'",    "is empty"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        job_t j;
        jobspec_t *cj;
        job_init(&j, 2);
        j.tasks[1].name = (char *)names[i];
        char *all = conv_problems(&j, NULL, &cj);
        cr_assert_not_null(all, "task name '%s' accepted", names[i]);
        assert_has(all, "tasks[1]: task name");
        assert_has(all, why[i]);
        free(all);
        job_fini(&j);
    }
}

LEAK_TEST(hostile_conv, input_hashes_are_hex)
{
    /* recorded in the provenance as sent: 64 lower-case hex digits or refused */
    char good[65], upper[65], other[65];
    memset(good, 'a', 64);
    good[64] = '\0';
    memcpy(upper, good, sizeof(good));
    upper[10] = 'A';
    memcpy(other, good, sizeof(good));
    other[63] = '"';
    const char *const shas[] = {good, upper, other, "abc", ""};
    for (size_t i = 0; i < sizeof(shas) / sizeof(shas[0]); i++) {
        job_t j;
        jobspec_t *cj;
        job_init(&j, 1);
        Cairn__OutputHash in = CAIRN__OUTPUT_HASH__INIT, *pin = &in;
        in.path = "train.py";
        in.sha256 = (char *)shas[i];
        j.tasks[0].n_inputs = 1;
        j.tasks[0].inputs = &pin;
        char *all = conv_problems(&j, NULL, &cj);
        if (i == 0) {
            cr_assert_null(all, "%s", all);
            jobspec_destroy(cj);
        } else {
            cr_assert_not_null(all, "input hash '%s' accepted", shas[i]);
            assert_has(all, "tasks[0]: task t0: input 0 has no SHA-256");
            free(all);
        }
        job_fini(&j);
    }
}

LEAK_TEST(hostile_conv, long_chain_is_fine)
{
    /* 100k tasks in one chain: within the limits, converted and validated
     * quickly, without recursion deep enough to overflow the stack */
    job_t j;
    jobspec_t *cj;
    job_init(&j, 100000);
    char **needs = calloc(j.js.n_tasks, sizeof(*needs));
    for (size_t i = 1; i < j.js.n_tasks; i++) {
        needs[i] = j.names[i - 1];
        j.tasks[i].n_needs = 1;
        j.tasks[i].needs = &needs[i];
    }
    cr_assert_null(conv_problems(&j, NULL, &cj));
    sched_t *s = fuzz_sched_create();
    sched_problems_t p = {0};
    cr_assert_eq(sched_job_validate(s, jobspec_core(cj), &p), 0, "%s", p.text);
    sched_problems_fini(&p);
    sched_destroy(s);
    jobspec_destroy(cj);
    free(needs);
    job_fini(&j);
}

LEAK_TEST(hostile_conv, wide_needs)
{
    job_t j;
    jobspec_t *cj;
    job_init(&j, 2);
    char **needs = calloc(100000, sizeof(*needs));
    for (size_t i = 0; i < 100000; i++)
        needs[i] = "t0";
    j.tasks[1].n_needs = 100000;
    j.tasks[1].needs = needs;
    char *all = conv_problems(&j, NULL, &cj);
    cr_assert_not_null(all);
    assert_has(all, "tasks[1]: task t1: 100000 needs (at most 4096)");
    free(all);
    /* the limit is the caller's */
    jobspec_limits_t lim = jobspec_default_limits;
    lim.max_needs = 100000;
    cr_assert_null(conv_problems(&j, &lim, &cj));
    jobspec_destroy(cj);
    free(needs);
    job_fini(&j);
}

LEAK_TEST(hostile_conv, enormous_argv_and_strings)
{
    job_t j;
    jobspec_t *cj;
    job_init(&j, 1);
    char **argv = calloc(100000, sizeof(*argv));
    for (size_t i = 0; i < 100000; i++)
        argv[i] = "x";
    j.tasks[0].n_argv = 100000;
    j.tasks[0].argv = argv;
    char *all = conv_problems(&j, NULL, &cj);
    cr_assert_not_null(all);
    assert_has(all, "task t0: 100000 arguments (at most 4096)");
    free(all);

    char *big = malloc((1u << 20) + 1);
    memset(big, 'x', 1u << 20);
    big[1u << 20] = '\0';
    argv[0] = big;
    j.tasks[0].n_argv = 1;
    all = conv_problems(&j, NULL, &cj);
    cr_assert_not_null(all);
    assert_has(all, "task t0: a string is longer than 131072 bytes");
    free(all);
    free(big);
    free(argv);
    job_fini(&j);
}

LEAK_TEST(hostile_conv, too_many_tasks)
{
    job_t j;
    jobspec_t *cj;
    job_init(&j, 11);
    jobspec_limits_t lim = jobspec_default_limits;
    lim.max_tasks = 10;
    char *all = conv_problems(&j, &lim, &cj);
    cr_assert_not_null(all);
    assert_has(all, "job has 11 tasks (at most 10)");
    free(all);
    job_fini(&j);
}

LEAK_TEST(hostile_conv, invalid_utf8_refused_on_the_wire)
{
    /* the envelope decoder refuses it before jobspec.c sees it */
    job_t j;
    job_init(&j, 1);
    j.tasks[0].name = "tXXq";
    Cairn__SubmitRequest r = CAIRN__SUBMIT_REQUEST__INIT;
    r.job = &j.js;
    uint8_t *buf = NULL;
    size_t len = 0;
    cairn_error_t err;
    cr_assert_eq(cairn_msg_encode(CAIRN_MSG_SUBMIT, &r.base, &buf, &len, &err), 0, "%s", err.text);
    uint8_t *p = memmem(buf, len, "tXXq", 4);
    cr_assert_not_null(p);
    p[1] = 0xff;
    p[2] = 0xfe;
    cairn_msg_type_t type;
    ProtobufCMessage *msg = NULL;
    cr_assert_lt(cairn_msg_decode(buf, len, 0, &type, &msg, &err), 0);
    cr_assert_null(msg);
    assert_has(err.text, "UTF-8");
    free(buf);
    job_fini(&j);
}
