/* The figures of cairn report; see report.h. */
#include "cluster/report.h"
#include "cluster/presence.h"
#include "proto/envelope.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const by_names[] = {"user", "job", "kind", "node", "gpu-model", "account"};

const char *report_by_name(report_by_t by)
{
    return by_names[by];
}

bool report_takes(const report_input_t *in, const Cairn__AccountingRecord *rec)
{
    return !in->account || !*in->account || !strcmp(in->account, rec->account);
}

/* Seconds of [a, b) inside the window. */
static double overlap_s(const report_input_t *in, int64_t a, int64_t b)
{
    if (a < in->from_ms)
        a = in->from_ms;
    if (b > in->to_ms)
        b = in->to_ms;
    return b > a ? (double)(b - a) / 1000.0 : 0;
}

/* The end of a record's attempt (a running one: the window's end). */
static int64_t rec_end(const report_input_t *in, const Cairn__AccountingRecord *r)
{
    return r->end_time_ms > 0 ? r->end_time_ms : in->to_ms;
}

/* The element of *v (*n of them, size bytes each, starting with a key of
 * keylen bytes) whose key is key; else one appended, zeroed, with that key
 * (cut to keylen - 1 bytes). NULL when out of memory. */
void *report_find_or_add(void *v, size_t *n, size_t size, size_t keylen, const char *key)
{
    char **base = v;
    for (size_t i = 0; i < *n; i++)
        if (!strncmp(*base + i * size, key, keylen - 1))
            return *base + i * size;
    char *nv = realloc(*base, (*n + 1) * size);
    if (!nv)
        return NULL;
    *base = nv;
    char *e = nv + (*n)++ * size;
    memset(e, 0, size);
    memcpy(e, key, strnlen(key, keylen - 1)); /* cut to the key's room, NUL-ended */
    return e;
}

static report_util_t *util_find(report_util_t **v, size_t *n, const char *name)
{
    size_t had = *n;
    report_util_t *u = report_find_or_add(v, n, sizeof(**v), sizeof((*v)->name), name);
    if (u && *n > had)
        u->gpu_used = -1;
    return u;
}

static report_group_t *group_find(report_t *r, const char *key)
{
    size_t had = r->ngroups;
    report_group_t *g = report_find_or_add(&r->groups, &r->ngroups, sizeof(*r->groups),
                                           sizeof(r->groups->key), key);
    if (g && r->ngroups > had)
        g->gpu_used = -1;
    return g;
}

/* The model of node's GPU index, from the node list ("" unknown). */
static const char *gpu_model_of(const report_input_t *in, const char *node, uint32_t index)
{
    for (size_t i = 0; in->nodes && i < in->nodes->n_nodes; i++) {
        const Cairn__NodeInfo *n = in->nodes->nodes[i];
        if (strcmp(n->name, node) != 0)
            continue;
        for (size_t g = 0; g < n->n_gpus; g++)
            if (n->gpus[g]->index == index)
                return n->gpus[g]->model;
    }
    return "";
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v. */
static double pct(const double *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t k = (size_t)ceil(p / 100.0 * (double)n);
    return v[k ? k - 1 : 0];
}

static int cmp_util(const void *a, const void *b)
{
    return strcmp(((const report_util_t *)a)->name, ((const report_util_t *)b)->name);
}

static int cmp_group(const void *a, const void *b)
{
    const report_group_t *x = a, *y = b;
    if (x->gpu_seconds != y->gpu_seconds)
        return x->gpu_seconds > y->gpu_seconds ? -1 : 1;
    if (x->core_seconds != y->core_seconds)
        return x->core_seconds > y->core_seconds ? -1 : 1;
    return strcmp(x->key, y->key);
}

static int cmp_reason(const void *a, const void *b)
{
    const report_reason_t *x = a, *y = b;
    if (x->task_seconds != y->task_seconds)
        return x->task_seconds > y->task_seconds ? -1 : 1;
    return strcmp(x->reason, y->reason);
}

static void add_reason(report_t *r, const char *why, double task_s)
{
    for (size_t i = 0; i < r->nreasons; i++)
        if (!strcmp(r->reasons[i].reason, why)) {
            r->reasons[i].task_seconds += task_s;
            return;
        }
    report_reason_t *nv = realloc(r->reasons, (r->nreasons + 1) * sizeof(*nv));
    if (!nv)
        return;
    r->reasons = nv;
    snprintf(nv[r->nreasons].reason, sizeof(nv[r->nreasons].reason), "%s", why);
    nv[r->nreasons++].task_seconds = task_s;
}

static const char *group_key(const report_input_t *in, const Cairn__AccountingRecord *rec,
                             char *buf, size_t n)
{
    switch (in->by) {
    case REPORT_BY_USER:
        return rec->user;
    case REPORT_BY_JOB:
        snprintf(buf, n, "%llu %s", (unsigned long long)rec->job_id, rec->job_name);
        return buf;
    case REPORT_BY_KIND:
        return rec->kind && *rec->kind ? rec->kind : "-";
    case REPORT_BY_NODE:
        return rec->node;
    case REPORT_BY_GPU_MODEL:
        return rec->n_gpu_ids ? rec->gpu_ids[0]->model : "(no GPU)";
    case REPORT_BY_ACCOUNT:
        return rec->account && *rec->account ? rec->account : "-";
    }
    return "";
}

/* The node timeline of the input, indexed (presence.h); NULL out of
 * memory. */
presence_t *report_presence(const report_input_t *in)
{
    const Cairn__UsageReply *u = in->usage;
    return presence_create(u ? (const Cairn__NodeEvent *const *)u->node_events : NULL,
                           u ? u->n_node_events : 0);
}

/* Capacity per GPU model and per node from the node list (removed nodes
 * too), each node counted only while it was there by the node timeline (a
 * node never there in the window is left out). */
static int nodes_there(const report_input_t *in, report_t *r)
{
    presence_t *p = report_presence(in);
    if (!p)
        return -1;
    for (size_t i = 0; in->nodes && i < in->nodes->n_nodes; i++) {
        const Cairn__NodeInfo *n = in->nodes->nodes[i];
        double there = presence_spans(p, n->name, in->from_ms, in->to_ms, NULL, NULL);
        if (there <= 0)
            continue;
        report_util_t *nu = util_find(&r->nodes, &r->nnodes, n->name);
        if (!nu) {
            presence_destroy(p);
            return -1;
        }
        nu->cores = n->cores_total;
        nu->gpus = (uint32_t)n->n_gpus;
        nu->present = there;
        nu->core_capacity = there * n->cores_total;
        nu->gpu_capacity = there * (double)n->n_gpus;
        for (size_t g = 0; g < n->n_gpus; g++) {
            report_util_t *mu = util_find(&r->models, &r->nmodels, n->gpus[g]->model);
            if (!mu) {
                presence_destroy(p);
                return -1;
            }
            mu->gpus++;
            mu->gpu_capacity += there;
        }
    }
    presence_destroy(p);
    return 0;
}

/* Utilisation per GPU model and per node: capacity while there
 * (nodes_there); allocated from the records; used from the GPU samples
 * and the attempts' CPU time. */
static int utilisation(const report_input_t *in, report_t *r)
{
    if (nodes_there(in, r) < 0)
        return -1;
    for (size_t i = 0; in->acct && i < in->acct->n_records; i++) {
        const Cairn__AccountingRecord *rec = in->acct->records[i];
        if (rec->start_time_ms <= 0 || !report_takes(in, rec))
            continue;
        int64_t end = rec_end(in, rec);
        double s = overlap_s(in, rec->start_time_ms, end);
        double whole = end > rec->start_time_ms ? (double)(end - rec->start_time_ms) / 1000 : 0;
        report_util_t *nu = util_find(&r->nodes, &r->nnodes, rec->node);
        if (!nu)
            return -1;
        nu->core_allocated += s * rec->n_cores;
        nu->gpu_allocated += s * (double)rec->n_gpu_ids;
        /* CPU time spread evenly over the attempt */
        if (whole > 0)
            nu->cpu_used += rec->cpu_seconds_used * s / whole;
        for (size_t g = 0; g < rec->n_gpu_ids; g++) {
            report_util_t *mu = util_find(&r->models, &r->nmodels, rec->gpu_ids[g]->model);
            if (!mu)
                return -1;
            mu->gpu_allocated += s;
        }
    }
    for (size_t i = 0; in->usage && i < in->usage->n_gpus; i++) {
        const Cairn__GpuUsageSample *g = in->usage->gpus[i];
        double s = overlap_s(in, g->time_ms - g->span_ms, g->time_ms);
        double used = g->utilization_percent / 100.0 * s;
        report_util_t *nu = util_find(&r->nodes, &r->nnodes, g->node);
        report_util_t *mu = util_find(&r->models, &r->nmodels, gpu_model_of(in, g->node, g->index));
        if (!nu || !mu)
            return -1;
        nu->gpu_used = (nu->gpu_used < 0 ? 0 : nu->gpu_used) + used;
        mu->gpu_used = (mu->gpu_used < 0 ? 0 : mu->gpu_used) + used;
    }
    /* CPU totals per model row: not meaningful; cores only per node */
    if (r->nmodels > 1)
        qsort(r->models, r->nmodels, sizeof(*r->models), cmp_util);
    if (r->nnodes > 1)
        qsort(r->nodes, r->nnodes, sizeof(*r->nodes), cmp_util);
    return 0;
}

static report_wait_t *wait_find(report_t *r, const char *shape)
{
    return report_find_or_add(&r->waits, &r->nwaits, sizeof(*r->waits), sizeof(r->waits->shape),
                              shape);
}

static bool in_window(const report_input_t *in, int64_t t)
{
    return t > 0 && t >= in->from_ms && t < in->to_ms;
}

/* Seconds from a to b, 0 if b is not after a. */
static double span_s(int64_t a, int64_t b)
{
    return b > a ? (double)(b - a) / 1000.0 : 0;
}

/* Nearest-rank p50 and p95 and the max of v[0..n), sorted here. */
static void summarise(double *v, size_t n, double *p50, double *p95, double *max)
{
    qsort(v, n, sizeof(double), cmp_double);
    *p50 = pct(v, n, 50);
    *p95 = pct(v, n, 95);
    *max = n ? v[n - 1] : 0;
}

/* Each group's queue waits: ready -> started of its first replicas that
 * started in the window. */
static int group_waits(const report_input_t *in, report_t *r)
{
    size_t n = in->acct ? in->acct->n_records : 0;
    double *v = calloc(n + 1, sizeof(double));
    if (!v)
        return -1;
    for (size_t k = 0; k < r->ngroups; k++) {
        report_group_t *g = &r->groups[k];
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            const Cairn__AccountingRecord *rec = in->acct->records[i];
            char buf[300];
            if (rec->rank != 0 || !report_takes(in, rec) || !in_window(in, rec->start_time_ms) ||
                strncmp(group_key(in, rec, buf, sizeof(buf)), g->key, sizeof(g->key) - 1) != 0)
                continue;
            v[m++] = span_s(rec->ready_time_ms, rec->start_time_ms);
        }
        double max;
        g->waited = (uint32_t)m;
        summarise(v, m, &g->wait_p50_s, &g->wait_p95_s, &max);
    }
    free(v);
    return 0;
}

static int groups(const report_input_t *in, report_t *r)
{
    for (size_t i = 0; in->acct && i < in->acct->n_records; i++) {
        const Cairn__AccountingRecord *rec = in->acct->records[i];
        if (!report_takes(in, rec))
            continue;
        char buf[300];
        report_group_t *g = group_find(r, group_key(in, rec, buf, sizeof(buf)));
        if (!g)
            return -1;
        g->attempts++;
        if (rec->start_time_ms <= 0)
            continue;
        int64_t end = rec_end(in, rec);
        double s = overlap_s(in, rec->start_time_ms, end);
        double whole = end > rec->start_time_ms ? (double)(end - rec->start_time_ms) / 1000 : 0;
        g->gpu_seconds += s * (double)rec->n_gpu_ids;
        g->core_seconds += s * rec->n_cores;
        if (whole > 0) {
            g->cpu_used += rec->cpu_seconds_used * s / whole;
            if (rec->gpu_seconds_used >= 0)
                g->gpu_used =
                    (g->gpu_used < 0 ? 0 : g->gpu_used) + rec->gpu_seconds_used * s / whole;
        }
    }
    if (group_waits(in, r) < 0)
        return -1;
    if (r->ngroups > 1)
        qsort(r->groups, r->ngroups, sizeof(*r->groups), cmp_group);
    return 0;
}

/* Whether a first replica's attempt was placed but had neither started
 * nor ended at the window's end (queued on a node behind another). */
static bool queued_at_end(const report_input_t *in, const Cairn__AccountingRecord *rec)
{
    return rec->placed_time_ms > 0 && rec->placed_time_ms < in->to_ms &&
           (rec->start_time_ms <= 0 || rec->start_time_ms >= in->to_ms) &&
           (rec->end_time_ms <= 0 || rec->end_time_ms >= in->to_ms);
}

/* Queue waits by shape, of first replicas (report_wait_t): ready to
 * started for the attempts started in the window, ready to placed for
 * those placed in it; the ones that never started are only counted. */
static int waits(const report_input_t *in, report_t *r)
{
    size_t n = in->acct ? in->acct->n_records : 0;
    double *to_start = calloc(n + 1, sizeof(double)), *to_placed = calloc(n + 1, sizeof(double));
    int rc = to_start && to_placed ? 0 : -1;
    /* the shapes, in the order of their first attempt, and the counts */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const Cairn__AccountingRecord *rec = in->acct->records[i];
        if (rec->rank != 0 || !report_takes(in, rec))
            continue;
        bool started = in_window(in, rec->start_time_ms);
        bool placed = in_window(in, rec->placed_time_ms);
        bool never = rec->start_time_ms <= 0 && in_window(in, rec->end_time_ms);
        bool queued = queued_at_end(in, rec);
        if (!started && !placed && !never && !queued)
            continue;
        report_wait_t *w = wait_find(r, rec->shape);
        if (!w) {
            rc = -1;
            break;
        }
        w->count += started;
        w->placed += placed;
        w->never_started += never;
        w->queued += queued;
    }
    for (size_t s = 0; rc == 0 && s < r->nwaits; s++) {
        report_wait_t *w = &r->waits[s];
        size_t ks = 0, kp = 0;
        for (size_t i = 0; i < n; i++) {
            const Cairn__AccountingRecord *rec = in->acct->records[i];
            if (rec->rank != 0 || strcmp(rec->shape, w->shape) != 0 || !report_takes(in, rec))
                continue;
            if (in_window(in, rec->start_time_ms))
                to_start[ks++] = span_s(rec->ready_time_ms, rec->start_time_ms);
            if (in_window(in, rec->placed_time_ms))
                to_placed[kp++] = span_s(rec->ready_time_ms, rec->placed_time_ms);
        }
        summarise(to_start, ks, &w->p50_s, &w->p95_s, &w->max_s);
        summarise(to_placed, kp, &w->placed_p50_s, &w->placed_p95_s, &w->placed_max_s);
    }
    free(to_start);
    free(to_placed);
    return rc;
}

/* Why one shape's waiting tasks waited, for their task-seconds s: those
 * waiting on an account limit for that; the others for the main reason
 * its free GPUs went unused. */
static void shape_reasons(report_t *r, const Cairn__CensusSample *c, double s)
{
    double limited = c->limited < c->waiting ? c->limited : c->waiting;
    if (limited > 0)
        add_reason(r, REPORT_WHY_LIMIT, limited * s);
    if (limited > 0 && c->waiting - limited <= 0)
        return;
    const char *why;
    double top = c->idle_split;
    why = "GPUs split across nodes";
    if (c->idle_cpu_mem > top)
        top = c->idle_cpu_mem, why = "cores or memory short where GPUs are free";
    if (c->idle_model > top)
        top = c->idle_model, why = "free GPUs of another model";
    if (c->idle_other > top)
        top = c->idle_other, why = "held back (reservation, priority, gang)";
    if (c->idle_topo > top)
        top = c->idle_topo, why = "a gang waiting for one topology domain";
    if (top <= 0)
        why = c->gpus_wanted > 0 ? "all suitable GPUs busy" : "cores or memory busy";
    add_reason(r, why, (c->waiting - limited) * s);
}

/* Idle GPUs while GPU work waited, and why work waited, from the census:
 * per sample, the free GPUs the waiting shapes could not use by reason
 * (an account limit apart: not fragmentation), capped at min(free,
 * wanted) over all shapes (a free GPU counts once). */
static void fragmentation(const report_input_t *in, report_t *r)
{
    size_t n = in->usage ? in->usage->n_census : 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        int64_t t = in->usage->census[i]->time_ms;
        double free_ = 0, wanted = 0, split = 0, cpumem = 0, model = 0, other = 0, limit = 0;
        double topo = 0;
        double s = 0;
        for (; j < n && in->usage->census[j]->time_ms == t; j++) {
            const Cairn__CensusSample *c = in->usage->census[j];
            s = overlap_s(in, c->time_ms - c->span_ms, c->time_ms);
            if (!c->shape[0]) {
                free_ = c->gpus_free;
                continue;
            }
            wanted += c->gpus_wanted;
            split += c->idle_split;
            cpumem += c->idle_cpu_mem;
            model += c->idle_model;
            other += c->idle_other;
            topo += c->idle_topo;
            limit += c->idle_limit;
            shape_reasons(r, c, s);
        }
        double idle = free_ < wanted ? free_ : wanted;
        double sum = split + cpumem + model + other + topo + limit;
        double f = sum > idle && sum > 0 ? idle / sum : 1;
        r->idle_total += idle * s;
        r->idle_split += split * f * s;
        r->idle_cpu_mem += cpumem * f * s;
        r->idle_model += model * f * s;
        r->idle_other += other * f * s;
        r->idle_topo += topo * f * s;
        r->idle_limit += limit * f * s;
        i = j;
    }
    if (r->nreasons > 1)
        qsort(r->reasons, r->nreasons, sizeof(*r->reasons), cmp_reason);
}

int report_compute(const report_input_t *in, report_t *out)
{
    memset(out, 0, sizeof(*out));
    if (utilisation(in, out) < 0 || groups(in, out) < 0 || waits(in, out) < 0 ||
        report_lost_compute(in, out) < 0 || report_fail_compute(in, &out->fail) < 0) {
        report_fini(out);
        return -1;
    }
    fragmentation(in, out);
    return 0;
}

void report_fini(report_t *r)
{
    free(r->models);
    free(r->nodes);
    free(r->groups);
    free(r->waits);
    free(r->reasons);
    free(r->lost);
    report_fail_fini(&r->fail);
    memset(r, 0, sizeof(*r));
}

/* ---- output -------------------------------------------------------------- */

static double hours(double s)
{
    return s / 3600.0;
}

static void pct_text(char *buf, size_t n, double part, double whole)
{
    if (part < 0)
        snprintf(buf, n, "-");
    else if (whole <= 0)
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%.1f%%", 100.0 * part / whole);
}

static void hours_text(char *buf, size_t n, double s)
{
    if (s < 0)
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%.3f", hours(s));
}

void report_print_text(FILE *f, const report_input_t *in, const report_t *r)
{
    char a[32], b[32], c[32], d[32];
    fprintf(f, "GPU utilisation by model (capacity: each node while it was there)\n");
    fprintf(f, "  %-28s %5s %12s %12s %9s %12s %9s\n", "MODEL", "GPUS", "CAPACITY_H", "ALLOCATED_H",
            "ALLOC%", "USED_H", "USED%");
    for (size_t i = 0; i < r->nmodels; i++) {
        const report_util_t *u = &r->models[i];
        hours_text(a, sizeof(a), u->gpu_used);
        pct_text(b, sizeof(b), u->gpu_allocated, u->gpu_capacity);
        pct_text(c, sizeof(c), u->gpu_used, u->gpu_capacity);
        fprintf(f, "  %-28s %5u %12.3f %12.3f %9s %12s %9s\n", u->name, u->gpus,
                hours(u->gpu_capacity), hours(u->gpu_allocated), b, a, c);
    }
    fprintf(f,
            "\nNodes (THERE_H: hours there in the window)\n  %-20s %5s %9s %9s %5s %9s %9s %9s\n",
            "NODE", "CORES", "ALLOC%", "USED%", "GPUS", "ALLOC%", "USED%", "THERE_H");
    for (size_t i = 0; i < r->nnodes; i++) {
        const report_util_t *u = &r->nodes[i];
        pct_text(a, sizeof(a), u->core_allocated, u->core_capacity);
        pct_text(b, sizeof(b), u->cpu_used, u->core_capacity);
        pct_text(c, sizeof(c), u->gpu_allocated, u->gpu_capacity);
        pct_text(d, sizeof(d), u->gpu_used, u->gpu_capacity);
        fprintf(f, "  %-20s %5u %9s %9s %5u %9s %9s %9.3f\n", u->name, u->cores, a, b, u->gpus, c,
                d, hours(u->present));
    }
    fprintf(f, "\nBy %s%s%s%s (WAIT: ready to started, of the tasks started in the window)\n",
            report_by_name(in->by), in->account && *in->account ? " (account " : "",
            in->account && *in->account ? in->account : "", in->account && *in->account ? ")" : "");
    fprintf(f, "  %-30s %8s %12s %12s %12s %12s %10s %10s\n", report_by_name(in->by), "ATTEMPTS",
            "GPU_H", "GPU_USED_H", "CORE_H", "CPU_USED_H", "WAIT_P50_S", "WAIT_P95_S");
    for (size_t i = 0; i < r->ngroups; i++) {
        const report_group_t *g = &r->groups[i];
        hours_text(a, sizeof(a), g->gpu_used);
        fprintf(f, "  %-30s %8u %12.3f %12s %12.3f %12.3f %10.3f %10.3f\n", g->key, g->attempts,
                hours(g->gpu_seconds), a, hours(g->core_seconds), hours(g->cpu_used), g->wait_p50_s,
                g->wait_p95_s);
    }
    fprintf(f,
            "\nQueue waits by shape: ready to started (TASKS: started in the window);\n"
            "PLACED: ready to placed (a task queued on a node is placed before it starts);\n"
            "NEVER_STARTED: ended without starting; QUEUED: placed, not started at the end\n"
            "  %-24s %7s %10s %10s %10s %12s %12s %13s %6s\n",
            "SHAPE", "TASKS", "P50_S", "P95_S", "MAX_S", "PLACED_P50_S", "PLACED_MAX_S",
            "NEVER_STARTED", "QUEUED");
    for (size_t i = 0; i < r->nwaits; i++) {
        const report_wait_t *w = &r->waits[i];
        fprintf(f, "  %-24s %7u %10.3f %10.3f %10.3f %12.3f %12.3f %13u %6u\n", w->shape, w->count,
                w->p50_s, w->p95_s, w->max_s, w->placed_p50_s, w->placed_max_s, w->never_started,
                w->queued);
    }
    fprintf(f,
            "\nFragmentation: GPU-hours idle while GPU tasks waited: %.3f\n"
            "  split across nodes                      %.3f\n"
            "  cores or memory short where GPUs free   %.3f\n"
            "  another model, GPU memory or labels     %.3f\n"
            "  held back (reservation, priority, gang) %.3f\n"
            "  a gang waiting for one topology domain  %.3f\n"
            "  account limit (not fragmentation)      %.3f\n",
            hours(r->idle_total), hours(r->idle_split), hours(r->idle_cpu_mem),
            hours(r->idle_model), hours(r->idle_other), hours(r->idle_topo), hours(r->idle_limit));
    fprintf(f, "\nWhy tasks waited (task-hours)\n");
    for (size_t i = 0; i < r->nreasons; i++)
        fprintf(f, "  %-42s %.3f\n", r->reasons[i].reason, hours(r->reasons[i].task_seconds));
    if (!r->nreasons)
        fprintf(f, "  (nothing waited in a census sample)\n");
    report_lost_print_text(f, r);
    report_fail_print_text(f, &r->fail);
}

/* Seconds with 6 decimals; null when not measured (v < 0). */
static json_t *seconds(double v)
{
    return v < 0 ? json_null() : cairn_json_fixed(v, 6);
}

static json_t *util_json(const report_util_t *v, bool node)
{
    json_t *o =
        json_pack("{s:o, s:I, s:o, s:o, s:o}", "name", cairn_json_str(v->name), "gpus",
                  (json_int_t)v->gpus, "gpu_capacity_s", seconds(v->gpu_capacity),
                  "gpu_allocated_s", seconds(v->gpu_allocated), "gpu_used_s", seconds(v->gpu_used));
    if (node) {
        cairn_json_set(&o, "present_s", seconds(v->present));
        cairn_json_set(&o, "cores", json_integer(v->cores));
        cairn_json_set(&o, "core_capacity_s", seconds(v->core_capacity));
        cairn_json_set(&o, "core_allocated_s", seconds(v->core_allocated));
        cairn_json_set(&o, "cpu_used_s", seconds(v->cpu_used));
    }
    return o;
}

json_t *report_json(const report_input_t *in, const report_t *r)
{
    json_t *models = json_array(), *nodes = json_array(), *groups = json_array(),
           *waits = json_array(), *reasons = json_array();
    for (size_t i = 0; i < r->nmodels; i++)
        cairn_json_push(&models, util_json(&r->models[i], false));
    for (size_t i = 0; i < r->nnodes; i++)
        cairn_json_push(&nodes, util_json(&r->nodes[i], true));
    for (size_t i = 0; i < r->ngroups; i++) {
        const report_group_t *g = &r->groups[i];
        cairn_json_push(&groups,
                        json_pack("{s:o, s:I, s:o, s:o, s:o, s:o, s:I, s:o, s:o}", "key",
                                  cairn_json_str(g->key), "attempts", (json_int_t)g->attempts,
                                  "gpu_s", seconds(g->gpu_seconds), "gpu_used_s",
                                  seconds(g->gpu_used), "core_s", seconds(g->core_seconds),
                                  "cpu_used_s", seconds(g->cpu_used), "wait_tasks",
                                  (json_int_t)g->waited, "wait_p50_s", seconds(g->wait_p50_s),
                                  "wait_p95_s", seconds(g->wait_p95_s)));
    }
    for (size_t i = 0; i < r->nwaits; i++) {
        const report_wait_t *w = &r->waits[i];
        cairn_json_push(
            &waits,
            json_pack("{s:o, s:I, s:o, s:o, s:o, s:I, s:o, s:o, s:o, s:I, s:I}", "shape",
                      cairn_json_str(w->shape), "tasks", (json_int_t)w->count, "p50_s",
                      cairn_json_fixed(w->p50_s, 6), "p95_s", cairn_json_fixed(w->p95_s, 6),
                      "max_s", cairn_json_fixed(w->max_s, 6), "placed_tasks", (json_int_t)w->placed,
                      "placed_p50_s", cairn_json_fixed(w->placed_p50_s, 6), "placed_p95_s",
                      cairn_json_fixed(w->placed_p95_s, 6), "placed_max_s",
                      cairn_json_fixed(w->placed_max_s, 6), "never_started",
                      (json_int_t)w->never_started, "queued", (json_int_t)w->queued));
    }
    for (size_t i = 0; i < r->nreasons; i++)
        cairn_json_push(&reasons,
                        json_pack("{s:o, s:o}", "reason", cairn_json_str(r->reasons[i].reason),
                                  "task_s", cairn_json_fixed(r->reasons[i].task_seconds, 6)));
    json_t *o = json_pack(
        "{s:I, s:I, s:s, s:o, s:o, s:o, s:o, s:{s:o, s:o, s:o, s:o, s:o, s:o}, s:o}", "from_ms",
        (json_int_t)in->from_ms, "to_ms", (json_int_t)in->to_ms, "by", report_by_name(in->by),
        "gpu_models", models, "nodes", nodes, "groups", groups, "waits", waits, "fragmentation",
        "idle_gpu_s", cairn_json_fixed(r->idle_total, 6), "split_across_nodes_s",
        cairn_json_fixed(r->idle_split, 6), "cores_or_memory_short_s",
        cairn_json_fixed(r->idle_cpu_mem, 6), "other_model_s", cairn_json_fixed(r->idle_model, 6),
        "held_back_s", cairn_json_fixed(r->idle_other, 6), "waiting_on_limit_s",
        cairn_json_fixed(r->idle_limit, 6), "wait_reasons", reasons);
    cairn_json_set(&o, "account",
                   in->account && *in->account ? cairn_json_str(in->account) : json_null());
    json_t *fr = json_object_get(o, "fragmentation");
    if (fr)
        json_object_set_new(fr, "topology_s", cairn_json_fixed(r->idle_topo, 6));
    cairn_json_set(&o, "lost_gpu", report_lost_json(r));
    cairn_json_set(&o, "failures", report_fail_json(&r->fail));
    return o;
}

static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void report_print_csv(FILE *f, const report_input_t *in, const report_t *r)
{
    fprintf(f,
            "%s,attempts,gpu_hours,gpu_used_hours,core_hours,cpu_used_hours,wait_tasks,"
            "wait_p50_s,wait_p95_s\n",
            report_by_name(in->by));
    for (size_t i = 0; i < r->ngroups; i++) {
        const report_group_t *g = &r->groups[i];
        csv_field(f, g->key);
        fprintf(f, ",%u,%.6f,", g->attempts, hours(g->gpu_seconds));
        if (g->gpu_used >= 0)
            fprintf(f, "%.6f", hours(g->gpu_used));
        fprintf(f, ",%.6f,%.6f,%u,%.6f,%.6f\n", hours(g->core_seconds), hours(g->cpu_used),
                g->waited, g->wait_p50_s, g->wait_p95_s);
    }
}

int report_acct_add(report_acct_t *a, ProtobufCMessage *page)
{
    Cairn__AccountingReply *r = (Cairn__AccountingReply *)page;
    ProtobufCMessage **pages = realloc(a->pages, (a->npages + 1) * sizeof(*pages));
    if (pages)
        a->pages = pages;
    Cairn__AccountingRecord **recs =
        realloc(a->all.records, (a->all.n_records + r->n_records + 1) * sizeof(*recs));
    if (recs)
        a->all.records = recs;
    if (!pages || !recs) {
        cairn_msg_free(page);
        return -ENOMEM;
    }
    a->pages[a->npages++] = page;
    for (size_t i = 0; i < r->n_records; i++)
        a->all.records[a->all.n_records++] = r->records[i];
    return 0;
}

void report_acct_fini(report_acct_t *a)
{
    for (size_t i = 0; i < a->npages; i++)
        cairn_msg_free(a->pages[i]);
    free(a->pages);
    free(a->all.records);
    memset(a, 0, sizeof(*a));
}
