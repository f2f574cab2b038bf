/* cairn report's failures: by class, per node and per GPU UUID, over the
 * window; a GPU that failed attempts of several jobs comes first. Every
 * expected figure is worked out here from the records built below. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/report.h"

#define MIN 60000LL
#define FROM 1700000000000LL
#define TO (FROM + 60 * MIN)

static Cairn__GpuProvenance gp[32];
static Cairn__GpuProvenance *gpp[32];
static size_t ngp;
static Cairn__AccountingRecord rs[16];
static Cairn__AccountingRecord *rp[16];
static Cairn__AccountingReply acct;
static const char *const uuids[] = {"GPU-aaaa", "GPU-bbbb", "GPU-cccc"};

/* A record of job, attempt (rank) on node with GPU g (-1: none), ended
 * at +end minutes, with end and class. */
static void rec(uint64_t job, uint64_t attempt, uint32_t rank, const char *node, int g, int64_t end,
                const char *end_word, const char *cls)
{
    Cairn__AccountingRecord *r = &rs[acct.n_records];
    cairn__accounting_record__init(r);
    r->job_id = job;
    r->attempt_id = attempt;
    r->rank = rank;
    r->node = (char *)node;
    r->start_time_ms = FROM + (end - 1) * MIN;
    r->end_time_ms = FROM + end * MIN;
    r->end = (char *)end_word;
    r->end_class = (char *)cls;
    r->gpu_ids = &gpp[ngp];
    if (g >= 0) {
        cairn__gpu_provenance__init(&gp[ngp]);
        gp[ngp].index = (uint32_t)g;
        gp[ngp].uuid = (char *)uuids[g];
        gp[ngp].model = "M1";
        gpp[ngp] = &gp[ngp];
        ngp++;
        r->n_gpu_ids = 1;
    }
    rp[acct.n_records++] = r;
}

static void setup(void)
{
    cairn__accounting_reply__init(&acct);
    acct.records = rp;
    ngp = 0;
    /* GPU-bbbb fails two jobs (oom, then a GPU error) */
    rec(1, 10, 0, "n1", 1, 5, "signaled", "oom");
    rec(2, 20, 0, "n1", 1, 6, "exit_nonzero", "gpu-error");
    /* GPU-aaaa fails one job three times (its log matched), once before
     * the window (not counted) */
    rec(3, 30, 0, "n1", 0, 7, "exit_nonzero", "log");
    rec(3, 31, 0, "n1", 0, 8, "exit_nonzero", "log");
    rec(3, 32, 0, "n1", 0, 9, "timed_out", "timed_out");
    rec(3, 29, 0, "n1", 0, -5, "exit_nonzero", "log");
    /* not failures: a success, a cancel, a preemption */
    rec(4, 40, 0, "n2", 2, 10, "succeeded", "");
    rec(5, 50, 0, "n2", 2, 11, "cancelled", "cancelled");
    rec(6, 60, 0, "n2", 2, 12, "preempted", "preempted");
    /* a gang of two on n2 without GPUs: its node counts it once; an older
     * record with no class is classed by its end */
    rec(7, 70, 0, "n2", -1, 13, "node_lost", "");
    rec(7, 70, 1, "n2", -1, 13, "node_lost", "");
}

static report_input_t input(void)
{
    return (report_input_t){.from_ms = FROM, .to_ms = TO, .acct = &acct};
}

Test(report_failures, by_class_node_and_gpu, .init = setup)
{
    report_input_t in = input();
    report_fail_t f;
    cr_assert_eq(report_fail_compute(&in, &f), 0);
    cr_expect_eq(f.by_class[REPORT_FAIL_OOM], 1);
    cr_expect_eq(f.by_class[REPORT_FAIL_GPU_ERROR], 1);
    cr_expect_eq(f.by_class[REPORT_FAIL_LOG], 2); /* the one before the window is not */
    cr_expect_eq(f.by_class[REPORT_FAIL_TIMEOUT], 1);
    cr_expect_eq(f.by_class[REPORT_FAIL_NODE_LOST], 1); /* a gang counts once */
    cr_expect_eq(f.by_class[REPORT_FAIL_EXIT] + f.by_class[REPORT_FAIL_SIGNAL] +
                     f.by_class[REPORT_FAIL_START],
                 0);

    /* GPU-bbbb (2 jobs) before GPU-aaaa (1 job, 3 attempts) */
    cr_assert_eq(f.ngpus, 2);
    cr_expect_str_eq(f.gpus[0].key, "GPU-bbbb");
    cr_expect_eq(f.gpus[0].njobs, 2);
    cr_expect_eq(f.gpus[0].nattempts, 2);
    cr_expect_eq(f.gpus[0].index, 1);
    cr_expect_str_eq(f.gpus[0].node, "n1");
    cr_expect_eq(f.gpus[0].by_class[REPORT_FAIL_OOM], 1);
    cr_expect_eq(f.gpus[0].by_class[REPORT_FAIL_GPU_ERROR], 1);
    cr_expect_str_eq(f.gpus[1].key, "GPU-aaaa");
    cr_expect_eq(f.gpus[1].njobs, 1);
    cr_expect_eq(f.gpus[1].nattempts, 3);
    cr_expect_eq(f.gpus[1].by_class[REPORT_FAIL_LOG], 2);
    cr_expect_eq(f.gpus[1].by_class[REPORT_FAIL_TIMEOUT], 1);

    /* n1: 3 jobs, 5 attempts; n2: the gang alone */
    cr_assert_eq(f.nnodes, 2);
    cr_expect_str_eq(f.nodes[0].key, "n1");
    cr_expect_eq(f.nodes[0].njobs, 3);
    cr_expect_eq(f.nodes[0].nattempts, 5);
    cr_expect_str_eq(f.nodes[1].key, "n2");
    cr_expect_eq(f.nodes[1].njobs, 1);
    cr_expect_eq(f.nodes[1].nattempts, 1);
    cr_expect_eq(f.nodes[1].by_class[REPORT_FAIL_NODE_LOST], 1);
    report_fail_fini(&f);
}

Test(report_failures, text_json_and_csv, .init = setup)
{
    report_input_t in = input();
    report_fail_t f;
    cr_assert_eq(report_fail_compute(&in, &f), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    report_fail_print_text(m, &f);
    fclose(m);
    const char *b = strstr(buf, "GPU-bbbb"), *a = strstr(buf, "GPU-aaaa");
    cr_expect(a && b && b < a, "GPU-bbbb listed first:\n%s", buf);
    cr_expect(strstr(buf, "oom 1, gpu-error 1"), "%s", buf);
    cr_expect(strstr(buf, "log 2, timed_out 1"), "%s", buf);
    free(buf);

    m = open_memstream(&buf, &len);
    report_fail_print_csv(m, &f);
    fclose(m);
    cr_expect_str_eq(buf, "scope,key,node,gpu_index,jobs,attempts,oom,gpu-error,log,"
                          "exit_nonzero,signaled,timed_out,node_lost,failed_to_start\n"
                          "gpu,GPU-bbbb,n1,1,2,2,1,1,0,0,0,0,0,0\n"
                          "gpu,GPU-aaaa,n1,0,1,3,0,0,2,0,0,1,0,0\n"
                          "node,n1,n1,,3,5,1,1,2,0,0,1,0,0\n"
                          "node,n2,n2,,1,1,0,0,0,0,0,0,1,0\n");
    free(buf);

    json_t *j = report_fail_json(&f);
    cr_assert_not_null(j);
    char *s = json_dumps(j, JSON_COMPACT);
    cr_expect(strstr(s, "\"by_class\":{\"oom\":1,\"gpu-error\":1,\"log\":2,\"exit_nonzero\":0,"
                        "\"signaled\":0,\"timed_out\":1,\"node_lost\":1,\"failed_to_start\":0}"),
              "%s", s);
    cr_expect(strstr(s,
                     "{\"uuid\":\"GPU-bbbb\",\"node\":\"n1\",\"index\":1,\"model\":\"M1\","
                     "\"jobs\":2,\"attempts\":2,\"classes\":{\"oom\":1,\"gpu-error\":1,\"log\":0,"
                     "\"exit_nonzero\":0,\"signaled\":0,\"timed_out\":0,\"node_lost\":0,"
                     "\"failed_to_start\":0}}"),
              "%s", s);
    free(s);
    json_decref(j);
    report_fail_fini(&f);
}

Test(report_failures, account_filter_and_empty, .init = setup)
{
    report_input_t in = input();
    in.account = "nobody-has-it";
    report_fail_t f;
    cr_assert_eq(report_fail_compute(&in, &f), 0);
    cr_expect_eq(f.nnodes + f.ngpus, 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    report_fail_print_text(m, &f);
    fclose(m);
    cr_expect(strstr(buf, "(none)"), "%s", buf);
    free(buf);
    report_fail_fini(&f);
}
