/* cairn report: the GPU time lost to preemption, timeouts and node loss,
 * per account, and the preemptions per account (report.h: report_lost_t). */
#include <stdlib.h>
#include <string.h>

#include "cluster/report.h"

static const char *const cause_names[REPORT_LOST_CAUSES] = {"preempted", "timed_out", "node_lost"};

report_cause_t report_lost_cause(const char *end)
{
    for (int c = 0; c < REPORT_LOST_CAUSES; c++)
        if (end && !strcmp(end, cause_names[c]))
            return (report_cause_t)c;
    return REPORT_LOST_CAUSES;
}

double report_lost_gpu_s(const Cairn__AccountingRecord *rec, int64_t *from_ms)
{
    int64_t start = rec->start_time_ms, end = rec->end_time_ms;
    if (start <= 0 || end <= start || !rec->n_gpu_ids)
        return 0;
    /* a checkpoint written during the attempt keeps the work up to it; one
     * from before it (an earlier attempt's) keeps nothing of this one's */
    int64_t cp = rec->checkpoint_time_ms;
    int64_t from = cp >= start && cp <= end ? cp : start;
    if (from_ms)
        *from_ms = from;
    return (double)rec->n_gpu_ids * (double)(end - from) / 1000.0;
}

static void add(report_lost_t *l, report_cause_t c, bool first, double gpu_s)
{
    l->gpu_s[c] += gpu_s;
    l->attempts[c] += first;
    l->preemptions += first && c == REPORT_LOST_PREEMPTED;
}

static double lost_sum(const report_lost_t *l)
{
    double s = 0;
    for (int c = 0; c < REPORT_LOST_CAUSES; c++)
        s += l->gpu_s[c];
    return s;
}

static int cmp_lost(const void *a, const void *b)
{
    const report_lost_t *x = a, *y = b;
    double sx = lost_sum(x), sy = lost_sum(y);
    if (sx != sy)
        return sx > sy ? -1 : 1;
    return strcmp(x->account, y->account);
}

int report_lost_compute(const report_input_t *in, report_t *r)
{
    memset(&r->lost_total, 0, sizeof(r->lost_total));
    snprintf(r->lost_total.account, sizeof(r->lost_total.account), "(all)");
    for (size_t i = 0; in->acct && i < in->acct->n_records; i++) {
        const Cairn__AccountingRecord *rec = in->acct->records[i];
        report_cause_t c = report_lost_cause(rec->end);
        /* counted in the window it ended in */
        if (c == REPORT_LOST_CAUSES || !report_takes(in, rec) || rec->end_time_ms <= 0 ||
            rec->end_time_ms < in->from_ms || rec->end_time_ms >= in->to_ms)
            continue;
        const char *acct = rec->account && *rec->account ? rec->account : "-";
        report_lost_t *l = report_find_or_add(&r->lost, &r->nlost, sizeof(*r->lost),
                                              sizeof(r->lost->account), acct);
        if (!l)
            return -1;
        double s = report_lost_gpu_s(rec, NULL);
        add(l, c, rec->rank == 0, s);
        add(&r->lost_total, c, rec->rank == 0, s);
    }
    if (r->nlost > 1)
        qsort(r->lost, r->nlost, sizeof(*r->lost), cmp_lost);
    return 0;
}

static void lost_row(FILE *f, const report_lost_t *l)
{
    fprintf(f, "  %-24s %11u %12.3f %12.3f %12.3f %10.3f\n", l->account, l->preemptions,
            l->gpu_s[REPORT_LOST_PREEMPTED] / 3600.0, l->gpu_s[REPORT_LOST_TIMED_OUT] / 3600.0,
            l->gpu_s[REPORT_LOST_NODE_LOST] / 3600.0, lost_sum(l) / 3600.0);
}

void report_lost_print_text(FILE *f, const report_t *r)
{
    fprintf(f, "\nGPU-hours lost, by account (attempts that ended in the window preempted, timed "
               "out\nor with their node lost: from the newest checkpoint written during the "
               "attempt,\nor else from its start, to its end)\n");
    fprintf(f, "  %-24s %11s %12s %12s %12s %10s\n", "ACCOUNT", "PREEMPTIONS", "PREEMPTED_H",
            "TIMED_OUT_H", "NODE_LOST_H", "TOTAL_H");
    for (size_t i = 0; i < r->nlost; i++)
        lost_row(f, &r->lost[i]);
    lost_row(f, &r->lost_total);
}

/* One account's (or the total's) figures. */
static json_t *lost_obj(const report_lost_t *l, bool account)
{
    json_t *o = json_pack("{s:I, s:o, s:o, s:o, s:o, s:I, s:I, s:I}", "preemptions",
                          (json_int_t)l->preemptions, "preempted_s",
                          cairn_json_fixed(l->gpu_s[REPORT_LOST_PREEMPTED], 6), "timed_out_s",
                          cairn_json_fixed(l->gpu_s[REPORT_LOST_TIMED_OUT], 6), "node_lost_s",
                          cairn_json_fixed(l->gpu_s[REPORT_LOST_NODE_LOST], 6), "total_s",
                          cairn_json_fixed(lost_sum(l), 6), "preempted_attempts",
                          (json_int_t)l->attempts[REPORT_LOST_PREEMPTED], "timed_out_attempts",
                          (json_int_t)l->attempts[REPORT_LOST_TIMED_OUT], "node_lost_attempts",
                          (json_int_t)l->attempts[REPORT_LOST_NODE_LOST]);
    if (account)
        cairn_json_set(&o, "account", cairn_json_str(l->account));
    return o;
}

json_t *report_lost_json(const report_t *r)
{
    json_t *by = json_array();
    for (size_t i = 0; i < r->nlost; i++)
        cairn_json_push(&by, lost_obj(&r->lost[i], true));
    json_t *o = lost_obj(&r->lost_total, false);
    cairn_json_set(&o, "by_account", by);
    return o;
}
