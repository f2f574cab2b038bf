/* The job spec parser: the digits example, matrix expansion, options,
 * sizes and durations, and every class of error with its position. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/spec.h"
#include "cluster/spec_private.h"
#include "leak_check.h"
#include "proto/sha256.h"

static char *spec_path(const char *file)
{
    /* tests/unit/test_client_spec.c -> tests/specs/<file> */
    const char *src = __FILE__;
    const char *slash = strrchr(src, '/');
    size_t dir = slash ? (size_t)(slash - src) : 0;
    char *p = NULL;
    cr_assert(asprintf(&p, "%.*s/../specs/%s", (int)dir, src, file) > 0);
    return p;
}

static Cairn__JobSpec *parse_ok(const char *yaml)
{
    Cairn__JobSpec *js = NULL;
    spec_errors_t errs = {0};
    int rc = spec_parse("spec.yaml", yaml, strlen(yaml), &js, &errs);
    for (size_t i = 0; i < errs.n; i++)
        cr_log_error("%s", errs.lines[i]);
    cr_assert_eq(rc, 0, "spec refused (%d problems)", rc);
    cr_assert_not_null(js);
    spec_errors_fini(&errs);
    return js;
}

/* All the problems, one per line. */
static char *parse_errors(const char *yaml, int *count)
{
    Cairn__JobSpec *js = (Cairn__JobSpec *)1;
    spec_errors_t errs = {0};
    int rc = spec_parse("spec.yaml", yaml, strlen(yaml), &js, &errs);
    cr_assert_null(js, "a spec with errors must not load");
    cr_assert_gt(rc, 0);
    cr_assert_eq((size_t)rc, errs.n);
    size_t len = 1;
    for (size_t i = 0; i < errs.n; i++)
        len += strlen(errs.lines[i]) + 1;
    char *all = calloc(1, len);
    for (size_t i = 0; i < errs.n; i++) {
        strcat(all, errs.lines[i]);
        strcat(all, "\n");
    }
    if (count)
        *count = rc;
    spec_errors_fini(&errs);
    return all;
}

static Cairn__TaskSpec *find_task(Cairn__JobSpec *js, const char *name)
{
    for (size_t i = 0; i < js->n_tasks; i++)
        if (strcmp(js->tasks[i]->name, name) == 0)
            return js->tasks[i];
    cr_assert_fail("no task %s", name);
    return NULL;
}

static char *joined(char **v, size_t n)
{
    static char buf[4096];
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(buf, " ");
        strcat(buf, v[i]);
    }
    return buf;
}

LEAK_TEST(spec, sha256_vectors)
{
    char hex[65];
    cairn_sha256_hex("", 0, hex);
    cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    cairn_sha256_hex("abc", 3, hex);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    cairn_sha256_hex(two, strlen(two), hex);
    cr_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    char *mil = malloc(1000000);
    memset(mil, 'a', 1000000);
    cairn_sha256_hex(mil, 1000000, hex);
    free(mil);
    cr_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

LEAK_TEST(spec, digits_example)
{
    char *path = spec_path("digits.yaml");
    Cairn__JobSpec *js = NULL;
    spec_errors_t errs = {0};
    int rc = spec_load(path, &js, &errs);
    for (size_t i = 0; i < errs.n; i++)
        cr_log_error("%s", errs.lines[i]);
    cr_assert_eq(rc, 0);
    free(path);
    cr_assert_str_eq(js->name, "digits-sweep");
    cr_assert_eq(js->seed_present_case, CAIRN__JOB_SPEC__SEED_PRESENT_SEED);
    cr_assert_eq(js->seed, 42);
    cr_assert_eq(strlen(js->spec_sha256), 64);
    char hex[65];
    cairn_sha256_hex(js->spec_text, strlen(js->spec_text), hex);
    cr_assert_str_eq(js->spec_sha256, hex);
    cr_assert(strncmp(js->spec_text, "name: digits-sweep\n", 19) == 0);
    cr_assert_not_null(js->submitter);
    cr_assert_eq(js->n_tasks, 8);
    const char *names[] = {"preprocess",       "train[C=0.1]",    "train[C=1.0]",
                           "train[C=10.0]",    "evaluate[C=0.1]", "evaluate[C=1.0]",
                           "evaluate[C=10.0]", "select"};
    for (size_t i = 0; i < 8; i++)
        cr_assert_str_eq(js->tasks[i]->name, names[i]);

    Cairn__TaskSpec *t = find_task(js, "train[C=1.0]");
    cr_assert_str_eq(t->kind, "train");
    cr_assert_str_eq(joined(t->argv, t->n_argv), "python3 train.py --C 1.0");
    cr_assert_not(t->shell);
    cr_assert_str_eq(joined(t->needs, t->n_needs), "preprocess");
    cr_assert_eq(t->resources->cpus, 2);
    cr_assert_eq(t->resources->memory_bytes, 1ull << 30);
    cr_assert_eq(t->resources->gpus, 1);
    cr_assert_str_eq(t->resources->gpu_model, "H100");
    /* GPU memory as vendors name it: 40G is 40 GB, decimal */
    cr_assert_eq(t->resources->gpu_min_memory_bytes, 40000000000ull);
    cr_assert_eq(t->time_limit_ms, 1800000);
    Cairn__RetryPolicy *r = t->retry;
    cr_assert_eq(r->max_attempts, 3);
    cr_assert_eq(r->backoff_base_ms, 5000);
    cr_assert_eq(r->backoff_factor_milli, 2000);
    cr_assert_eq(r->max_backoff_ms, 120000);
    cr_assert(r->retry_on_node_lost && r->retry_on_timeout);
    cr_assert_not(r->retry_on_signal || r->retry_on_any_nonzero_exit);
    cr_assert_eq(r->n_retry_on_exit_codes, 1);
    cr_assert_eq(r->retry_on_exit_codes[0], 137);

    Cairn__TaskSpec *p = find_task(js, "preprocess");
    cr_assert_eq(p->resources->cpus, 1);
    cr_assert_eq(p->resources->gpus, 0);
    cr_assert_eq(p->n_needs, 0);
    cr_assert_str_eq(joined(p->argv, p->n_argv), "python3 prep.py --out data");

    Cairn__TaskSpec *e = find_task(js, "evaluate[C=0.1]");
    cr_assert_str_eq(joined(e->needs, e->n_needs), "train[C=0.1]");
    cr_assert_str_eq(joined(e->argv, e->n_argv), "python3 eval.py --C 0.1");
    Cairn__TaskSpec *s = find_task(js, "select");
    cr_assert_str_eq(joined(s->needs, s->n_needs),
                     "evaluate[C=0.1] evaluate[C=1.0] evaluate[C=10.0]");
    cr_assert_str_eq(s->kind, "");
    spec_free(js);
    spec_errors_fini(&errs);
}

LEAK_TEST(spec, no_seed_and_different_keys_need_all)
{
    Cairn__JobSpec *js = parse_ok("name: j\n"
                                  "tasks:\n"
                                  "  - name: a\n"
                                  "    matrix: {x: [1, 2]}\n"
                                  "    run: [a, '${{ matrix.x }}']\n"
                                  "  - name: b\n"
                                  "    matrix: {y: [1, 2]}\n"
                                  "    needs: [a]\n"
                                  "    run: [b]\n"
                                  "  - name: c\n"
                                  "    needs: ['a[x=2]']\n"
                                  "    run: [c]\n");
    cr_assert_eq(js->seed_present_case, CAIRN__JOB_SPEC__SEED_PRESENT__NOT_SET);
    Cairn__TaskSpec *b = find_task(js, "b[y=1]");
    cr_assert_str_eq(joined(b->needs, b->n_needs), "a[x=1] a[x=2]");
    Cairn__TaskSpec *c = find_task(js, "c");
    cr_assert_str_eq(joined(c->needs, c->n_needs), "a[x=2]");
    spec_free(js);
}

LEAK_TEST(spec, two_key_matrix_in_order)
{
    Cairn__JobSpec *js =
        parse_ok("name: j\n"
                 "tasks:\n"
                 "  - name: t\n"
                 "    matrix:\n"
                 "      lr: [0.1, 0.01]\n"
                 "      depth: [2, 4, 8]\n"
                 "    run: [fit, --lr, '${{matrix.lr}}', '--depth=${{ matrix.depth }}']\n"
                 "    env: {LR: 'lr=${{ matrix.lr }}'}\n"
                 "    workdir: runs/${{ matrix.depth }}\n");
    cr_assert_eq(js->n_tasks, 6);
    const char *names[] = {"t[lr=0.1,depth=2]",  "t[lr=0.1,depth=4]",  "t[lr=0.1,depth=8]",
                           "t[lr=0.01,depth=2]", "t[lr=0.01,depth=4]", "t[lr=0.01,depth=8]"};
    for (size_t i = 0; i < 6; i++)
        cr_assert_str_eq(js->tasks[i]->name, names[i]);
    Cairn__TaskSpec *t = js->tasks[4];
    cr_assert_str_eq(joined(t->argv, t->n_argv), "fit --lr 0.01 --depth=4");
    cr_assert_eq(t->n_env, 1);
    cr_assert_str_eq(t->env[0]->value, "lr=0.01");
    cr_assert_str_eq(t->workdir, "runs/4");
    spec_free(js);
}

LEAK_TEST(spec, shell_env_labels_outputs)
{
    Cairn__JobSpec *js = parse_ok("name: j\n"
                                  "description: ignored\n"
                                  "defaults:\n"
                                  "  env: {A: '1', B: '2'}\n"
                                  "  labels: {zone: a}\n"
                                  "  workdir: /srv\n"
                                  "  priority: 5\n"
                                  "  retry: {attempts: 2, on: [signal, nonzero]}\n"
                                  "tasks:\n"
                                  "  - name: s\n"
                                  "    description: also ignored\n"
                                  "    shell: |\n"
                                  "      echo hi && ls\n"
                                  "    env: {B: '3', C: '4'}\n"
                                  "    labels: {disk: ssd}\n"
                                  "    outputs: [out/model.bin, logs]\n"
                                  "    replicas: 4\n"
                                  "    priority: -2\n"
                                  "    retry: {backoff: 500ms, factor: 1.5}\n"
                                  "    time_limit: 1h30m\n");
    cr_assert_eq(js->n_tasks, 1);
    Cairn__TaskSpec *t = js->tasks[0];
    cr_assert(t->shell);
    cr_assert_eq(t->n_argv, 1);
    cr_assert_str_eq(t->argv[0], "echo hi && ls\n");
    cr_assert_eq(t->n_env, 3);
    cr_assert_str_eq(t->env[0]->key, "A");
    cr_assert_str_eq(t->env[1]->key, "B");
    cr_assert_str_eq(t->env[1]->value, "3");
    cr_assert_str_eq(t->env[2]->key, "C");
    cr_assert_eq(t->resources->n_labels, 2);
    cr_assert_str_eq(t->resources->labels[0]->key, "zone");
    cr_assert_str_eq(t->resources->labels[1]->value, "ssd");
    cr_assert_str_eq(joined(t->outputs, t->n_outputs), "out/model.bin logs");
    cr_assert_str_eq(t->workdir, "/srv");
    cr_assert_eq(t->replicas, 4);
    cr_assert_eq(t->priority, -2);
    cr_assert_eq(t->time_limit_ms, 5400000);
    cr_assert_eq(t->retry->max_attempts, 2);
    cr_assert_eq(t->retry->backoff_base_ms, 500);
    cr_assert_eq(t->retry->backoff_factor_milli, 1500);
    cr_assert(t->retry->retry_on_signal && t->retry->retry_on_any_nonzero_exit);
    cr_assert_eq(t->resources->cpus, 1);
    spec_free(js);
}

/* resources.gpu.mixed: a gang may span GPU models; off by default, and
 * inherited from defaults like the rest of gpu:. */
LEAK_TEST(spec, gpu_mixed)
{
    Cairn__JobSpec *js = parse_ok("name: j\n"
                                  "defaults: {resources: {gpus: 8, gpu: {mixed: true}}}\n"
                                  "tasks:\n"
                                  "  - name: any\n"
                                  "    run: [x]\n"
                                  "    replicas: 2\n"
                                  "  - name: same\n"
                                  "    run: [x]\n"
                                  "    replicas: 2\n"
                                  "    resources: {gpus: 8, gpu: {model: H100, mixed: false}}\n");
    cr_assert(find_task(js, "any")->resources->gpu_mixed);
    cr_assert_not(find_task(js, "same")->resources->gpu_mixed);
    spec_free(js);
    js = parse_ok("name: j\ntasks:\n  - name: t\n    run: [x]\n    replicas: 2\n"
                  "    resources: {gpus: 1}\n");
    cr_assert_not(js->tasks[0]->resources->gpu_mixed, "one model unless asked");
    spec_free(js);
    char *e = parse_errors("name: j\ntasks:\n  - name: a\n    run: [x]\n"
                           "    resources: {gpu: {mixed: maybe}}\n",
                           NULL);
    cr_assert_str_eq(e, "spec.yaml:5:30: mixed: expected true or false, found 'maybe'\n");
    free(e);
}

Test(spec, sizes)
{
    static const struct {
        const char *in;
        int rc;
        uint64_t want;
    } cases[] = {
        {"512M", 0, 512ull << 20},
        {"1G", 0, 1ull << 30},
        {"1.5G", 0, 3ull << 29},
        {"64Gi", 0, 64ull << 30},
        {"100", 0, 100},
        {"2K", 0, 2048},
        {"2Ki", 0, 2048},
        {"1T", 0, 1ull << 40},
        {"0", 0, 0},
        {"1GiB", 0, 1ull << 30},
        {"", -1, 0},
        {"G", -1, 0},
        {"1X", -1, 0},
        {"-1G", -1, 0},
        {"1.2.3G", -1, 0},
        {"99999999999P", -1, 0},
        {"1 G", -1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t v = 0;
        int rc = spec_parse_size(cases[i].in, &v);
        cr_expect_eq(rc, cases[i].rc, "%s: rc %d", cases[i].in, rc);
        if (rc == 0)
            cr_expect_eq(v, cases[i].want, "%s: %llu", cases[i].in, (unsigned long long)v);
    }
}

Test(spec, durations)
{
    static const struct {
        const char *in;
        int rc;
        uint64_t want;
    } cases[] = {
        {"500ms", 0, 500},   {"5s", 0, 5000},       {"2m", 0, 120000}, {"1h", 0, 3600000},
        {"1d", 0, 86400000}, {"1h30m", 0, 5400000}, {"30", 0, 30000},  {"1.5s", 0, 1500},
        {"0", 0, 0},         {"", -1, 0},           {"5x", -1, 0},     {"m", -1, 0},
        {"1h30", -1, 0},     {"-5s", -1, 0},        {"5 s", -1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t v = 0;
        int rc = spec_parse_duration(cases[i].in, &v);
        cr_expect_eq(rc, cases[i].rc, "%s: rc %d", cases[i].in, rc);
        if (rc == 0)
            cr_expect_eq(v, cases[i].want, "%s: %llu", cases[i].in, (unsigned long long)v);
    }
}

/* GPU memory as vendors name it: G, GB decimal; Gi, GiB binary. */
Test(spec, gpu_memory_sizes)
{
    static const struct {
        const char *in;
        int rc;
        uint64_t want;
    } cases[] = {
        {"80G", 0, 80000000000ull},
        {"80GB", 0, 80000000000ull},
        {"79.6Gi", 0, 85469849190ull},
        {"80GiB", 0, 80ull << 30},
        {"24G", 0, 24000000000ull},
        {"1.5T", 0, 1500000000000ull},
        {"512M", 0, 512000000ull},
        {"512Mi", 0, 512ull << 20},
        {"100", 0, 100},
        {"2P", 0, 2000000000000000ull},
        {"", -1, 0},
        {"G", -1, 0},
        {"-80G", -1, 0},
        {"80 G", -1, 0},
        {"80X", -1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t v = 0;
        int rc = spec_parse_gpu_memory(cases[i].in, &v);
        cr_expect_eq(rc, cases[i].rc, "%s: rc %d", cases[i].in, rc);
        if (rc == 0)
            cr_expect_eq(v, cases[i].want, "%s: %llu", cases[i].in, (unsigned long long)v);
    }
}

#define HEAD "name: j\ntasks:\n"

LEAK_TEST(spec, error_positions)
{
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {HEAD "  - name: a\n    nedds: [b]\n    run: [x]\n",
         "spec.yaml:4:5: unknown key 'nedds' in task (did you mean 'needs'?)"},
        {HEAD "  - name: a\n    run: x\n", "spec.yaml:4:10: expected a list, found a scalar"},
        {HEAD "  - name: a\n    run: [x]\n    replicas: two\n",
         "spec.yaml:5:15: expected an integer, found 'two'"},
        {"tasks:\n  - name: a\n    run: [x]\n", "spec.yaml:1:1: missing required key 'name'"},
        {"name: j\n", "spec.yaml:1:1: missing required key 'tasks'"},
        {"name: j\ntasks: []\n", "spec.yaml:2:8: tasks: is empty"},
        {HEAD "  - run: [x]\n", "spec.yaml:3:5: task is missing required key 'name'"},
        {HEAD "  - name: a\n", "spec.yaml:3:5: task 'a' is missing required key 'run' or 'shell'"},
        {HEAD "  - name: a\n    run: [x]\n    shell: x\n",
         "spec.yaml:5:12: task 'a' has both 'run' and 'shell'"},
        {HEAD "  - name: a\n    run: [x]\n  - name: a\n    shell: y\n",
         "spec.yaml:5:5: duplicate task name 'a' (also at line 3)"},
        {HEAD "  - name: a\n    matrix: {x: [1, 1]}\n    run: [x]\n",
         "spec.yaml:3:5: duplicate task name 'a[x=1]'"},
        {HEAD "  - name: train\n    run: [x]\n  - name: b\n    needs: [trian]\n    run: [y]\n",
         "spec.yaml:6:13: needs unknown task 'trian' (did you mean 'train'?)"},
        {HEAD "  - name: a\n    run: [x]\n    resources: {memory: 12Q}\n",
         "spec.yaml:5:25: bad size '12Q'"},
        {HEAD "  - name: a\n    run: [x]\n    time_limit: soon\n",
         "spec.yaml:5:17: bad duration 'soon'"},
        {HEAD "  - name: a\n    run: [x, '${{ matrix.C }}']\n",
         "spec.yaml:4:14: unknown matrix key 'C'"},
        {HEAD "  - name: a\n    matrix: {C: [1]}\n    run: [x, '${{ matrix.D }}']\n",
         "spec.yaml:5:14: unknown matrix key 'D'"},
        {HEAD "  - name: a\n    run: [x]\n  bad: [\n", "spec.yaml:5:3:"},
        {"name: j\ntasks:\n  - name: a\n\trun: [x]\n", "spec.yaml:4:1:"},
        {HEAD "  - name: a\n    run: [x]\n    retry: {on: [node-lots]}\n",
         "spec.yaml:5:18: unknown retry condition 'node-lots' (did you mean 'node-lost'?)"},
        {HEAD "  - name: a\n    run: [x]\n    retry: {on: ['exit:abc']}\n",
         "spec.yaml:5:18: bad exit code in 'exit:abc' (expected exit:1..255)"},
        {HEAD "  - name: a\n    run: [x]\n    retry: {on: [timeout, 'exit:0']}\n",
         "spec.yaml:5:27: retry exit code 0 is out of range (1..255)"},
        {HEAD "  - name: a\n    run: [x]\n    retry: {on: ['exit:256']}\n",
         "spec.yaml:5:18: retry exit code 256 is out of range (1..255)"},
        {HEAD "  - name: a\n    run: [x]\n    env: {'': x}\n", "spec.yaml:5:11: env name is empty"},
        {HEAD "  - name: a\n    run: [x]\n    env: {X=Y: x}\n",
         "spec.yaml:5:11: env name 'X=Y' contains '='"},
        {"name: j\ndefaults: {env: {'': x}}\ntasks:\n  - name: a\n    run: [x]\n",
         "spec.yaml:2:18: env name is empty"},
        {HEAD "  - name: a\n    run: [x]\n    labels: {'': x}\n",
         "spec.yaml:5:14: label name is empty"},
        {HEAD "  - name: a\n    shell: ''\n", "spec.yaml:4:12: shell: is an empty script"},
        {HEAD "  - name: a\n    shell: \"  \"\n", "spec.yaml:4:12: shell: is an empty script"},
        {HEAD "  - name: a\n    run: [x]\n    resources: {gpu: {min_memory: lots}}\n",
         "spec.yaml:5:35: bad size 'lots' (expected e.g. 24G, 80GB, 79.6Gi)"},
        {"name: j\ndefaults: {resorces: {cpus: 1}}\ntasks:\n  - name: a\n    run: [x]\n",
         "spec.yaml:2:12: unknown key 'resorces' in defaults (did you mean 'resources'?)"},
        {"name: j\nseed: -4\ntasks:\n  - name: a\n    run: [x]\n",
         "spec.yaml:2:7: expected an integer seed"},
        {HEAD "  - name: a\n    run: [x]\n    outputs: [/abs]\n",
         "spec.yaml:5:15: output '/abs' is not a relative path"},
        {HEAD "  - name: a\n    run: [x]\n    name: b\n", "spec.yaml:5:5: duplicate key 'name'"},
        {HEAD "  - name: a[1]\n    run: [x]\n", "spec.yaml:3:11: task name 'a[1]' contains"},
        {HEAD "  - name: a\n    run: []\n", "spec.yaml:4:10: run: is an empty list"},
        {HEAD "  - name: a\n    matrix: {x: []}\n    run: [x]\n",
         "spec.yaml:4:17: matrix key 'x' has no values"},
        {HEAD "  - name: a\n    run: [x]\n    resources: {gpu: {model: H100, mem: 1G}}\n",
         "spec.yaml:5:36: unknown key 'mem' in gpu"},
        {"", "spec.yaml:1:1: the spec is empty"},
        {HEAD "  - name: a\n    run: [x]\n---\nname: k\n", "spec.yaml:5:1: more than one YAML"},
        {HEAD "  - name: a\n    matrix: {C: [1]}\n    run: [x]\n  - name: b\n"
              "    matrix: {C: [2]}\n    needs: [a]\n    run: [y]\n",
         "spec.yaml:8:13: 'a' has no matrix combination for 'b[C=2]'"},
        {"name: j\ndefaults: {workdir: 'w/${{ matrix.Z }}'}\ntasks:\n  - name: a\n    run: [x]\n",
         "spec.yaml:4:5: task 'a': bad or unknown '${{ Z }}' in defaults"},
        {HEAD "  - name: a\n    run: [x, '${{ matrx.C }}']\n",
         "spec.yaml:4:14: malformed expression"},
        {"- a\n- b\n", "spec.yaml:1:1: expected a mapping, found a list"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *all = parse_errors(cases[i].yaml, NULL);
        cr_expect(strstr(all, cases[i].want), "case %zu: want '%s', got:\n%s", i, cases[i].want,
                  all);
        free(all);
    }
}

LEAK_TEST(spec, many_errors_at_once)
{
    char *path = spec_path("errors.yaml");
    Cairn__JobSpec *js = (Cairn__JobSpec *)1;
    spec_errors_t errs = {0};
    int rc = spec_load(path, &js, &errs);
    cr_assert_null(js);
    const char *want[] = {
        ":4:5: unknown key 'nedds' in task (did you mean 'needs'?)",
        ":7:10: expected a list, found a scalar",
        ":8:12: task 'b' has both 'run' and 'shell'",
        ":10:13: needs unknown task 'aa' (did you mean 'a'?)",
        ":12:23: expected an integer, found 'many'",
    };
    for (size_t i = 0; i < errs.n; i++)
        cr_log_info("%s", errs.lines[i]);
    cr_assert_eq(rc, 5);
    cr_assert_eq(errs.n, 5);
    for (size_t i = 0; i < 5; i++) {
        cr_expect(strncmp(errs.lines[i], path, strlen(path)) == 0);
        cr_expect(strstr(errs.lines[i], want[i]), "%s does not contain %s", errs.lines[i], want[i]);
    }
    free(path);
    spec_errors_fini(&errs);
}

LEAK_TEST(spec, hostile_matrix_refused)
{
    char yaml[4096];
    strcpy(yaml, HEAD "  - name: a\n    run: [x]\n    matrix:\n");
    for (int k = 0; k < 6; k++) {
        char line[128];
        snprintf(line, sizeof(line), "      k%d: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n", k);
        strcat(yaml, line);
    }
    char *all = parse_errors(yaml, NULL);
    cr_expect(strstr(all, "spec.yaml:6:7: matrix expands the job to more than 100000 tasks"), "%s",
              all);
    free(all);
}

LEAK_TEST(spec, hostile_sizes_refused)
{
    /* A long argument, an alias bomb of lists, too many items. */
    size_t n = SPEC_MAX_STRING + 100;
    char *yaml = malloc(n + 200);
    strcpy(yaml, HEAD "  - name: a\n    run: [");
    size_t len = strlen(yaml);
    memset(yaml + len, 'x', n);
    strcpy(yaml + len + n, "]\n");
    char *all = parse_errors(yaml, NULL);
    cr_expect(strstr(all, "spec.yaml:4:11: string too long"), "%s", all);
    free(all);
    free(yaml);

    const char *bomb = "name: j\n"
                       "x: &a [y, y, y, y, y, y, y, y, y, y]\n"
                       "tasks:\n"
                       "  - name: a\n"
                       "    run: [*a]\n";
    all = parse_errors(bomb, NULL);
    cr_expect(strstr(all, "spec.yaml:2:1: unknown key 'x'"), "%s", all);
    cr_expect(strstr(all, "spec.yaml:2:4: expected a string, found a list"), "%s", all);
    free(all);
}

LEAK_TEST(spec, invalid_utf8)
{
    const char *yaml = "name: j\ntasks:\n  - name: a\n    run: [ab\xff]\n";
    char *all = parse_errors(yaml, NULL);
    cr_expect(strstr(all, "spec.yaml:4:13: invalid"), "%s", all);
    free(all);
}

LEAK_TEST(spec, unreadable_file)
{
    Cairn__JobSpec *js = (Cairn__JobSpec *)1;
    spec_errors_t errs = {0};
    int rc = spec_load("/nonexistent/spec.yaml", &js, &errs);
    cr_assert_lt(rc, 0);
    cr_assert_null(js);
    cr_assert_eq(errs.n, 1);
    cr_assert_str_eq(errs.lines[0],
                     "/nonexistent/spec.yaml: cannot read: No such file or directory");
    spec_errors_fini(&errs);
}

Test(spec, levenshtein)
{
    cr_assert_eq(spec_levenshtein("needs", "nedds", 2), 1);
    cr_assert_eq(spec_levenshtein("kitten", "sitting", 5), 3);
    cr_assert_eq(spec_levenshtein("abc", "xyzxyz", 2), 3);
    static const char *const words[] = {"run", "shell", "needs"};
    cr_assert_str_eq(spec_suggest("shel", words, 3), "shell");
    cr_assert_null(spec_suggest("zzzzz", words, 3));
}

LEAK_TEST(spec, expansion_budget_refused)
{
    /* 10 x 10 x 10 x 100 = 100,000 tasks, each with ~1 KiB of arguments. */
    char *yaml = malloc(8192);
    strcpy(yaml, HEAD "  - name: a\n    matrix:\n      a: [0,1,2,3,4,5,6,7,8,9]\n"
                      "      b: [0,1,2,3,4,5,6,7,8,9]\n      c: [0,1,2,3,4,5,6,7,8,9]\n"
                      "      d: [");
    for (int i = 0; i < 100; i++)
        sprintf(yaml + strlen(yaml), "%s%d", i ? "," : "", i);
    strcat(yaml, "]\n    run: [x, '");
    size_t len = strlen(yaml);
    memset(yaml + len, 'y', 1024);
    strcpy(yaml + len + 1024, "']\n");
    char *all = parse_errors(yaml, NULL);
    cr_expect(strstr(all, "spec.yaml:3:5: spec too large: more than 64 MiB"), "%s", all);
    free(all);
    free(yaml);
}

LEAK_TEST(spec, large_matrix_with_per_combination_needs)
{
    char yaml[2048];
    strcpy(yaml, HEAD);
    for (int t = 0; t < 2; t++) {
        sprintf(yaml + strlen(yaml), "  - name: t%d\n    matrix:\n", t);
        for (int k = 0; k < 2; k++) {
            sprintf(yaml + strlen(yaml), "      k%d: [", k);
            for (int i = 0; i < 100; i++)
                sprintf(yaml + strlen(yaml), "%s%d", i ? "," : "", i);
            strcat(yaml, "]\n");
        }
        strcat(yaml, t ? "    needs: [t0]\n    run: [x]\n" : "    run: [x]\n");
    }
    Cairn__JobSpec *js = parse_ok(yaml);
    cr_assert_eq(js->n_tasks, 20000);
    Cairn__TaskSpec *t = js->tasks[10000 + 4203];
    cr_assert_str_eq(t->name, "t1[k0=42,k1=3]");
    cr_assert_eq(t->n_needs, 1);
    cr_assert_str_eq(t->needs[0], "t0[k0=42,k1=3]");
    spec_free(js);
}

/* Problems found after the parse (the scheduling core's validation, a
 * scheduler's refusal) are placed by path: each path, the line and column
 * it points at. Values inherited from defaults: point there. */
LEAK_TEST(spec, where_places_paths)
{
    const char *yaml = "name: j\n"                                              /* 1 */
                       "defaults:\n"                                            /* 2 */
                       "  resources: {cpus: 2, gpus: 1}\n"                      /* 3 */
                       "  retry: {on: [timeout, 'exit:3', 'exit:7']}\n"         /* 4 */
                       "  env: {A: '1'}\n"                                      /* 5 */
                       "tasks:\n"                                               /* 6 */
                       "  - name: prep\n"                                       /* 7 */
                       "    shell: echo\n"                                      /* 8 */
                       "  - name: train\n"                                      /* 9 */
                       "    matrix: {C: [1, 2]}\n"                              /* 10 */
                       "    needs: [prep]\n"                                    /* 11 */
                       "    run: [python3, t.py]\n"                             /* 12 */
                       "    env: {B: x, A: '2'}\n"                              /* 13 */
                       "    labels: {zone: a}\n"                                /* 14 */
                       "    resources: {gpu: {model: H100, min_memory: 80G}}\n" /* 15 */
                       "    replicas: 2\n"                                      /* 16 */
                       "  - name: eval\n"                                       /* 17 */
                       "    matrix: {C: [1, 2]}\n"                              /* 18 */
                       "    needs: [prep, train]\n"                             /* 19 */
                       "    run: [x]\n";                                        /* 20 */
    static const struct {
        const char *path, *at;
    } rows[] = {
        {"", "1:1"},
        {"name", "1:7"},
        {"tasks", "7:3"},
        {"tasks[0]", "7:5"},
        {"tasks[0].name", "7:11"},
        {"tasks[0].argv[2]", "8:12"}, /* /bin/sh -c SCRIPT: the script */
        {"tasks[0].resources.cpus", "3:21"},
        {"tasks[0].resources.gpus", "3:30"},
        {"tasks[0].env[0]", "5:9"},
        {"tasks[0].retry.on[1]", "4:35"},
        {"tasks[0].retry.attempts", "7:5"}, /* not written: the task */
        {"tasks[2].argv[1]", "12:20"},
        {"tasks[2].needs[0]", "11:13"},
        {"tasks[2].env[0]", "13:17"}, /* A, overridden by the task */
        {"tasks[2].env[1]", "13:11"},
        {"tasks[2].resources.labels[0]", "14:14"},
        {"tasks[2].resources.gpu.model", "15:30"},
        {"tasks[2].resources.gpu.min_memory", "15:48"},
        {"tasks[2].replicas", "16:15"},
        {"tasks[3].needs[0]", "19:13"},
        {"tasks[3].needs[1]", "19:19"}, /* eval[C=1] needs train[C=1] */
        {"tasks[4].needs[1]", "19:19"},
        {"tasks[5]", NULL},
        {"tasks[0].needs[0]", "7:5"}, /* no such need: the task */
    };
    Cairn__JobSpec *js = NULL;
    spec_where_t *w = NULL;
    spec_errors_t errs = {0};
    int rc = spec_parse_at("s.yaml", yaml, strlen(yaml), &js, &w, &errs);
    for (size_t i = 0; i < errs.n; i++)
        cr_log_error("%s", errs.lines[i]);
    cr_assert_eq(rc, 0);
    cr_assert_eq(js->n_tasks, 5);
    cr_assert_str_eq(js->tasks[3]->name, "eval[C=1]");
    cr_assert_str_eq(js->tasks[3]->needs[1], "train[C=1]");
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sched_problem_t p;
        cr_assert_eq(sched_problem_parse(rows[i].path, &p), 0, "%s", rows[i].path);
        size_t line, col;
        int r = spec_where_locate(w, &p, &line, &col);
        char got[32];
        snprintf(got, sizeof(got), "%zu:%zu", line, col);
        if (rows[i].at)
            cr_expect_str_eq(got, rows[i].at, "%s: %s (rc %d)", rows[i].path, got, r);
        else
            cr_expect_eq(r, -1, "%s: %s", rows[i].path, got);
    }
    sched_problem_t p;
    cr_assert_eq(sched_problem_parse("tasks[2].resources.gpus", &p), 0);
    cr_assert_eq(spec_where_report(w, NULL, &p, "task train[C=1]: needs 1 GPU", &errs), 0);
    p.task = 9;
    cr_assert_eq(spec_where_report(w, NULL, &p, "far away", &errs), 0);
    cr_assert_eq(spec_where_report(NULL, "job 3's spec", &p, "no places", &errs), 0);
    cr_assert_eq(errs.n, 3);
    cr_expect_str_eq(errs.lines[0], "s.yaml:3:30: task train[C=1]: needs 1 GPU");
    cr_expect_str_eq(errs.lines[1], "s.yaml: far away");
    cr_expect_str_eq(errs.lines[2], "job 3's spec: no places");
    spec_errors_fini(&errs);
    spec_where_free(w);
    spec_free(js);
}

/* preemptible:, checkpoint: and signal_before_limit: (issue 22): from
 * defaults, overridden key by key, inherited by matrix members whose dir
 * gets their values. */
LEAK_TEST(spec, checkpoint_keys)
{
    char *path = spec_path("checkpoint.yaml");
    Cairn__JobSpec *js = NULL;
    spec_errors_t errs = {0};
    int rc = spec_load(path, &js, &errs);
    for (size_t i = 0; i < errs.n; i++)
        cr_log_error("%s", errs.lines[i]);
    cr_assert_eq(rc, 0);
    free(path);
    cr_assert_eq(js->n_tasks, 4);
    const char *lrs[] = {"0.1", "0.01"};
    for (size_t i = 0; i < 2; i++) {
        char name[64], dir[64];
        snprintf(name, sizeof(name), "train[lr=%s]", lrs[i]);
        snprintf(dir, sizeof(dir), "ckpt/%s", lrs[i]);
        Cairn__TaskSpec *t = find_task(js, name);
        cr_expect(t->preemptible);
        cr_assert_not_null(t->checkpoint);
        cr_expect_eq(t->checkpoint->signal, 10); /* USR1 */
        cr_expect_eq(t->checkpoint->grace_ms, 120000);
        cr_expect_str_eq(t->checkpoint->dir, dir);
        cr_expect_eq(t->signal_before_limit_ms, 600000);
        cr_expect_eq(t->time_limit_ms, 3600000);
    }
    Cairn__TaskSpec *e = find_task(js, "eval");
    cr_expect_not(e->preemptible);
    cr_expect_eq(e->checkpoint->signal, 15);
    cr_expect_eq(e->checkpoint->grace_ms, 30000);
    cr_expect_str_eq(e->checkpoint->dir, "/scratch/eval");
    cr_expect_eq(e->signal_before_limit_ms, 0);
    Cairn__TaskSpec *p = find_task(js, "plain");
    cr_expect(p->preemptible);
    cr_expect_eq(p->checkpoint->signal, 12);
    cr_expect_eq(p->checkpoint->grace_ms, 120000); /* defaults' grace kept */
    cr_expect_str_eq(p->checkpoint->dir, "");      /* the scheduler's default */
    cairn__job_spec__free_unpacked(js, NULL);
    spec_errors_fini(&errs);

    /* none of it: nothing set */
    js = parse_ok("name: j\ntasks:\n  - name: a\n    run: [x]\n");
    cr_expect_not(js->tasks[0]->preemptible);
    cr_expect_null(js->tasks[0]->checkpoint);
    cr_expect_eq(js->tasks[0]->signal_before_limit_ms, 0);
    cairn__job_spec__free_unpacked(js, NULL);
}

LEAK_TEST(spec, checkpoint_signals)
{
    static const struct {
        const char *s;
        int no;
    } cases[] = {{"USR1", 10}, {"SIGUSR1", 10}, {"TERM", 15}, {"SIGTERM", 15}, {"USR2", 12},
                 {"INT", 2},   {"HUP", 1},      {"10", 10},   {"64", 64},      {"34", 34},
                 {"USR9", -1}, {"usr1", -1},    {"0", -1},    {"65", -1},      {"KILL", -1},
                 {"9", -1},    {"STOP", -1},    {"SIG", -1},  {"", -1},        {"-10", -1}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_expect_eq(spec_parse_signal(cases[i].s), cases[i].no, "'%s': %d", cases[i].s,
                     spec_parse_signal(cases[i].s));
}

#define CK_HEAD "name: j\ntasks:\n  - name: a\n    run: [x]\n"
LEAK_TEST(spec, checkpoint_errors)
{
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {CK_HEAD "    checkpoint: {signal: USR9}\n",
         "spec.yaml:5:26: checkpoint.signal: unknown signal 'USR9' (expected a name as kill -l "
         "gives it, e.g. USR1 or SIGUSR1, or a number from 1 to 64)"},
        {CK_HEAD "    checkpoint: {signal: 65}\n",
         "spec.yaml:5:26: checkpoint.signal: unknown signal '65'"},
        {CK_HEAD "    checkpoint: {signal: KILL}\n",
         "spec.yaml:5:26: checkpoint.signal: 'KILL' cannot be caught"},
        {CK_HEAD "    checkpoint: {signal: [USR1]}\n",
         "spec.yaml:5:26: expected a signal, found a list"},
        {CK_HEAD "    checkpoint: {grace: 0s}\n",
         "spec.yaml:5:25: checkpoint.grace: must be more than 0"},
        {CK_HEAD "    checkpoint: {grace: soon}\n", "spec.yaml:5:25: bad duration 'soon'"},
        {CK_HEAD "    checkpoint: {dir: ''}\n", "spec.yaml:5:23: checkpoint.dir: is empty"},
        {CK_HEAD "    checkpoint: {sig: USR1}\n",
         "spec.yaml:5:18: unknown key 'sig' in checkpoint"},
        {CK_HEAD "    checkpoint: USR1\n", "spec.yaml:5:17: expected a mapping"},
        {CK_HEAD "    checkpoint: {dir: 'c/${{ matrix.K }}'}\n",
         "spec.yaml:5:23: unknown matrix key 'K'"},
        {CK_HEAD "    preemptible: maybe\n",
         "spec.yaml:5:18: preemptible: expected true or false, found 'maybe'"},
        {CK_HEAD "    signal_before_limit: 10m\n",
         "spec.yaml:5:26: task 'a': signal_before_limit needs a time_limit"},
        {CK_HEAD "    time_limit: 10m\n    signal_before_limit: 10m\n",
         "spec.yaml:6:26: task 'a': signal_before_limit (600000 ms) must be shorter than its "
         "time_limit (600000 ms)"},
        {CK_HEAD "    signal_before_limit: 0s\n    time_limit: 1m\n",
         "spec.yaml:5:26: signal_before_limit: must be more than 0"},
        {CK_HEAD "    signal_before_limit: later\n", "spec.yaml:5:26: bad duration 'later'"},
        {"name: j\ndefaults: {signal_before_limit: 5m}\ntasks:\n  - name: a\n    run: [x]\n",
         "spec.yaml:2:33: task 'a': signal_before_limit needs a time_limit"},
        {"name: j\ndefaults: {checkpoint: {signal: USR9}}\ntasks:\n  - name: a\n    run: [x]\n",
         "spec.yaml:2:33: checkpoint.signal: unknown signal 'USR9'"},
        {"name: j\ndefaults: {preemptable: true}\ntasks:\n  - name: a\n    run: [x]\n",
         "spec.yaml:2:12: unknown key 'preemptable' in defaults (did you mean 'preemptible'?)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *all = parse_errors(cases[i].yaml, NULL);
        cr_expect(strstr(all, cases[i].want), "case %zu: want '%s', got:\n%s", i, cases[i].want,
                  all);
        free(all);
    }
    /* a task's time_limit satisfies defaults' signal_before_limit */
    Cairn__JobSpec *js = parse_ok("name: j\ndefaults: {signal_before_limit: 5m}\ntasks:\n"
                                  "  - name: a\n    run: [x]\n    time_limit: 1h\n");
    cr_expect_eq(js->tasks[0]->signal_before_limit_ms, 300000);
    cairn__job_spec__free_unpacked(js, NULL);
}

/* retry.on's failure classes: oom, gpu-error and {log: REGEX} (checked
 * here, an error at its line), and defaults: given to every task. */
Test(spec, retry_on_failure_classes)
{
    Cairn__JobSpec *js =
        parse_ok("name: j\ndefaults: {retry: {on: [oom, {log: 'NCCL.*(timeout|unhandled system "
                 "error)'}]}}\ntasks:\n  - name: a\n    run: [x]\n  - name: b\n    run: [y]\n"
                 "    retry: {attempts: 2, on: [gpu-error, timeout]}\n");
    Cairn__RetryPolicy *a = find_task(js, "a")->retry, *b = find_task(js, "b")->retry;
    cr_expect(a->retry_on_oom);
    cr_expect_not(a->retry_on_gpu_error || a->retry_on_timeout || a->retry_on_node_lost);
    cr_expect_str_eq(a->retry_on_log, "NCCL.*(timeout|unhandled system error)");
    cr_expect(b->retry_on_gpu_error && b->retry_on_timeout);
    cr_expect_not(b->retry_on_oom);
    cr_expect_str_eq(b->retry_on_log, ""); /* on: replaces the whole list */
    cairn__job_spec__free_unpacked(js, NULL);

    char long_re[1100];
    memset(long_re, 'a', sizeof(long_re) - 1);
    long_re[sizeof(long_re) - 1] = '\0';
    char *long_spec = NULL;
    cr_assert(asprintf(&long_spec, HEAD "  - name: a\n    run: [x]\n    retry: {on: [{log: %s}]}\n",
                       long_re) > 0);
    const struct {
        const char *yaml, *want;
    } cases[] = {
        {HEAD "  - name: a\n    run: [x]\n    retry: {on: [{log: 'NCCL('}]}\n",
         "spec.yaml:5:24: retry.on: bad log pattern 'NCCL(':"},
        {HEAD "  - name: a\n    run: [x]\n    retry: {on: [{log: ''}]}\n",
         "spec.yaml:5:24: retry.on: empty log pattern"},
        {HEAD "  - name: a\n    run: [x]\n    retry: {on: [{lgo: x}]}\n",
         "spec.yaml:5:19: unknown key 'lgo' in retry.on"},
        {HEAD "  - name: a\n    run: [x]\n    retry: {on: [log]}\n",
         "spec.yaml:5:18: retry.on log needs a pattern: {log: \"REGEX\"}"},
        {HEAD "  - name: a\n    run: [x]\n    retry: {on: [{log: a}, {log: b}]}\n",
         "spec.yaml:5:34: retry.on has more than one log pattern"},
        {HEAD "  - name: a\n    run: [x]\n    retry: {on: [omm]}\n",
         "spec.yaml:5:18: unknown retry condition 'omm' (did you mean 'oom'?)"},
        {HEAD "  - name: a\n    run: [x]\n    retry: {on: [{log: [a]}]}\n",
         "spec.yaml:5:24: expected a regular expression, found a list"},
        {long_spec, "retry.on: log pattern too long (1099 bytes, at most 1024)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *all = parse_errors(cases[i].yaml, NULL);
        cr_expect(strstr(all, cases[i].want), "case %zu: want '%s', got:\n%s", i, cases[i].want,
                  all);
        free(all);
    }
    free(long_spec);
}
