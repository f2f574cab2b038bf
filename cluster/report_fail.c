/* cairn report: failed attempts by class, per node and per GPU UUID
 * (report.h: report_fail_t), the evidence for pulling a card. */
#include <stdlib.h>
#include <string.h>

#include "cluster/report.h"
#include "common/grow.h"
#include "common/search.h"

static const char *const class_names[REPORT_FAIL_CLASSES] = {
    "oom",      "gpu-error", "log",       "exit_nonzero",
    "signaled", "timed_out", "node_lost", "failed_to_start"};

const char *report_fail_class_name(report_fail_class_t c)
{
    return (unsigned)c < REPORT_FAIL_CLASSES ? class_names[c] : "";
}

report_fail_class_t report_fail_class(const Cairn__AccountingRecord *rec)
{
    /* an older scheduler's record has no class: its end says as much */
    const char *c = rec->end_class && *rec->end_class ? rec->end_class : rec->end;
    for (int i = 0; c && i < REPORT_FAIL_CLASSES; i++)
        if (!strcmp(c, class_names[i]))
            return (report_fail_class_t)i;
    return REPORT_FAIL_CLASSES;
}

static uint64_t u64_key(const void *e)
{
    return *(const uint64_t *)e;
}

/* Add id to the ascending set *v (unless there): 0, or -1 out of memory. */
static int set_add(uint64_t **v, size_t *n, size_t *cap, uint64_t id)
{
    size_t lo = cairn_lower_bound(*v, *n, sizeof(**v), id, u64_key);
    if (lo < *n && (*v)[lo] == id)
        return 0;
    if (CAIRN_GROW(*v, *cap, *n + 1) < 0)
        return -1;
    memmove(*v + lo + 1, *v + lo, (*n - lo) * sizeof(**v));
    (*v)[lo] = id;
    (*n)++;
    return 0;
}

static int row_add(report_fail_row_t *row, const Cairn__AccountingRecord *rec,
                   report_fail_class_t c)
{
    size_t before = row->nattempts;
    if (set_add(&row->attempts, &row->nattempts, &row->attempts_cap, rec->attempt_id) < 0 ||
        set_add(&row->jobs, &row->njobs, &row->jobs_cap, rec->job_id) < 0)
        return -1;
    if (row->nattempts > before) /* a gang's replicas on one node count once there */
        row->by_class[c]++;
    return 0;
}

static int cmp_row(const void *a, const void *b)
{
    const report_fail_row_t *x = a, *y = b;
    bool sx = x->njobs > 1, sy = y->njobs > 1;
    if (sx != sy) /* failing several jobs points at the hardware, not a job */
        return sx ? -1 : 1;
    if (x->njobs != y->njobs)
        return x->njobs > y->njobs ? -1 : 1;
    if (x->nattempts != y->nattempts)
        return x->nattempts > y->nattempts ? -1 : 1;
    return strcmp(x->key, y->key);
}

static void row_fini(report_fail_row_t *row)
{
    free(row->attempts);
    free(row->jobs);
}

void report_fail_fini(report_fail_t *f)
{
    for (size_t i = 0; i < f->nnodes; i++)
        row_fini(&f->nodes[i]);
    for (size_t i = 0; i < f->ngpus; i++)
        row_fini(&f->gpus[i]);
    free(f->nodes);
    free(f->gpus);
    memset(f, 0, sizeof(*f));
}

/* One replica's failed record: its node's row and each of its GPUs'. */
static int take(report_fail_t *f, const Cairn__AccountingRecord *rec, report_fail_class_t c)
{
    const char *node = rec->node && *rec->node ? rec->node : "-";
    report_fail_row_t *n =
        report_find_or_add(&f->nodes, &f->nnodes, sizeof(*f->nodes), sizeof(f->nodes->key), node);
    if (!n || row_add(n, rec, c) < 0)
        return -1;
    snprintf(n->node, sizeof(n->node), "%s", node);
    for (size_t i = 0; i < rec->n_gpu_ids; i++) {
        const Cairn__GpuProvenance *g = rec->gpu_ids[i];
        if (!g->uuid || !*g->uuid)
            continue; /* a GPU with no UUID cannot be told apart from its successor */
        report_fail_row_t *r = report_find_or_add(&f->gpus, &f->ngpus, sizeof(*f->gpus),
                                                  sizeof(f->gpus->key), g->uuid);
        if (!r || row_add(r, rec, c) < 0)
            return -1;
        snprintf(r->node, sizeof(r->node), "%s", node);
        snprintf(r->model, sizeof(r->model), "%s", g->model ? g->model : "");
        r->index = g->index;
    }
    return 0;
}

int report_fail_compute(const report_input_t *in, report_fail_t *f)
{
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; in->acct && i < in->acct->n_records; i++) {
        const Cairn__AccountingRecord *rec = in->acct->records[i];
        report_fail_class_t c = report_fail_class(rec);
        /* counted in the window it ended in */
        if (c == REPORT_FAIL_CLASSES || !report_takes(in, rec) || rec->end_time_ms <= 0 ||
            rec->end_time_ms < in->from_ms || rec->end_time_ms >= in->to_ms)
            continue;
        if (rec->rank == 0)
            f->by_class[c]++;
        if (take(f, rec, c) < 0) {
            report_fail_fini(f);
            return -1;
        }
    }
    if (f->nnodes > 1)
        qsort(f->nodes, f->nnodes, sizeof(*f->nodes), cmp_row);
    if (f->ngpus > 1)
        qsort(f->gpus, f->ngpus, sizeof(*f->gpus), cmp_row);
    return 0;
}

/* "oom 2, log 1" */
static void classes_text(const report_fail_row_t *row, char *buf, size_t n)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int c = 0; c < REPORT_FAIL_CLASSES && at < n; c++)
        if (row->by_class[c])
            at += (size_t)snprintf(buf + at, n - at, "%s%s %u", at ? ", " : "", class_names[c],
                                   row->by_class[c]);
}

void report_fail_print_text(FILE *out, const report_fail_t *f)
{
    char cls[256];
    fprintf(out, "\nFailed attempts, by class (attempts that ended in the window and did not "
                 "succeed,\nneither cancelled nor preempted)\n");
    bool any = false;
    for (int c = 0; c < REPORT_FAIL_CLASSES; c++)
        if (f->by_class[c]) {
            fprintf(out, "  %-16s %u\n", class_names[c], f->by_class[c]);
            any = true;
        }
    if (!any) {
        fprintf(out, "  (none)\n");
        return;
    }
    fprintf(out, "\nFailed attempts per node (those of several jobs first)\n");
    fprintf(out, "  %-24s %5s %8s  %s\n", "NODE", "JOBS", "ATTEMPTS", "CLASSES");
    for (size_t i = 0; i < f->nnodes; i++) {
        classes_text(&f->nodes[i], cls, sizeof(cls));
        fprintf(out, "  %-24s %5zu %8zu  %s\n", f->nodes[i].key, f->nodes[i].njobs,
                f->nodes[i].nattempts, cls);
    }
    fprintf(out, "\nFailed attempts per GPU (those of several jobs first: the cards to look at)\n");
    fprintf(out, "  %-40s %-16s %3s %5s %8s  %s\n", "GPU UUID", "NODE", "GPU", "JOBS", "ATTEMPTS",
            "CLASSES");
    for (size_t i = 0; i < f->ngpus; i++) {
        const report_fail_row_t *g = &f->gpus[i];
        classes_text(g, cls, sizeof(cls));
        fprintf(out, "  %-40s %-16s %3u %5zu %8zu  %s\n", g->key, g->node, g->index, g->njobs,
                g->nattempts, cls);
    }
    if (!f->ngpus)
        fprintf(out, "  (no failed attempt held a GPU)\n");
}

/* Every class, 0 included: the same keys whatever failed. */
static json_t *classes_json(const uint32_t *by_class)
{
    json_t *o = json_object();
    for (int c = 0; c < REPORT_FAIL_CLASSES; c++)
        cairn_json_set(&o, class_names[c], json_integer(by_class[c]));
    return o;
}

static json_t *row_json(const report_fail_row_t *r, bool gpu)
{
    json_t *o = gpu ? json_pack("{s:o, s:o, s:I, s:o}", "uuid", cairn_json_str(r->key), "node",
                                cairn_json_str(r->node), "index", (json_int_t)r->index, "model",
                                cairn_json_str(r->model))
                    : json_pack("{s:o}", "node", cairn_json_str(r->key));
    cairn_json_set(&o, "jobs", json_integer((json_int_t)r->njobs));
    cairn_json_set(&o, "attempts", json_integer((json_int_t)r->nattempts));
    cairn_json_set(&o, "classes", classes_json(r->by_class));
    return o;
}

json_t *report_fail_json(const report_fail_t *f)
{
    json_t *nodes = json_array(), *gpus = json_array();
    for (size_t i = 0; i < f->nnodes; i++)
        cairn_json_push(&nodes, row_json(&f->nodes[i], false));
    for (size_t i = 0; i < f->ngpus; i++)
        cairn_json_push(&gpus, row_json(&f->gpus[i], true));
    return json_pack("{s:o, s:o, s:o}", "by_class", classes_json(f->by_class), "by_node", nodes,
                     "by_gpu", gpus);
}

static void csv_row(FILE *out, const char *scope, const report_fail_row_t *r, bool gpu)
{
    fprintf(out, "%s,%s,%s,", scope, r->key, r->node);
    if (gpu)
        fprintf(out, "%u", r->index);
    fprintf(out, ",%zu,%zu", r->njobs, r->nattempts);
    for (int c = 0; c < REPORT_FAIL_CLASSES; c++)
        fprintf(out, ",%u", r->by_class[c]);
    fputc('\n', out);
}

void report_fail_print_csv(FILE *out, const report_fail_t *f)
{
    fprintf(out, "scope,key,node,gpu_index,jobs,attempts");
    for (int c = 0; c < REPORT_FAIL_CLASSES; c++)
        fprintf(out, ",%s", class_names[c]);
    fputc('\n', out);
    for (size_t i = 0; i < f->ngpus; i++)
        csv_row(out, "gpu", &f->gpus[i], true);
    for (size_t i = 0; i < f->nnodes; i++)
        csv_row(out, "node", &f->nodes[i], false);
}
