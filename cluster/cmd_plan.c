/* cairn plan: replay a workload through the scheduling core on a cluster
 * you describe (scheduling/sim.h) and set the prediction beside what
 * actually happened. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cmd.h"
#include "cluster/plan.h"
#include "scheduling/sim.h"

const char cmd_plan_help[] =
    "Usage: cairn plan --trace last:DURATION|FILE [--cluster current|FILE]\n"
    "                  [--add Nx FILE.xml]... [--remove NODE[,NODE...]]... [--no-prefetch]\n"
    "                  [--json]\n"
    "       cairn plan --trace last:DURATION --export-trace > trace.json\n"
    "\n"
    "Replay a workload through the scheduler's own placement code on a cluster and\n"
    "predict makespan, waits (p50 / p95 per shape), GPU utilisation and\n"
    "fragmentation; for a recorded trace, beside what actually happened.\n"
    "  --trace last:7d    the scheduler's accounting of attempts that ended in the\n"
    "                     last 7 days (d, h, m, s), and those still running\n"
    "  --trace FILE       a JSON trace (accounting records) or a CSV trace (docs/capacity.md)\n"
    "  --cluster current  the scheduler's nodes (the default)\n"
    "  --cluster FILE     a cluster file (JSON, docs/capacity.md) or an hwloc XML topology\n"
    "  --add Nx FILE.xml  N more nodes like the topology (named FILE+1...)\n"
    "  --remove NODE      leave a node out\n"
    "  --no-prefetch      place as a scheduler run with --no-prefetch (the default:\n"
    "                     as the scheduler runs by default, prefetch on)\n"
    "  --json             print JSON\n"
    "  --export-trace     print the trace as JSON and exit\n";

typedef struct plan_opts {
    const char *trace, *cluster;
    const char *add_file[64];
    uint32_t add_count[64];
    int nadd;
    char *remove[256];
    int nremove;
    bool json, export_trace, no_prefetch;
} plan_opts_t;

/* --- the workload: trace records as simulation jobs ---------------------- */

typedef struct plan_task {
    size_t first, n; /* records: idx[first .. first+n) */
    uint64_t order;  /* first attempt id (or line): the task order in its job */
    uint32_t job;    /* index in plan_work_t.jobs */
    uint32_t natt;   /* attempts */
} plan_task_t;

typedef struct plan_job {
    size_t first, n; /* tasks[first .. first+n) after sorting */
    int64_t submit_ms;
    sched_job_spec_t spec;
    sched_task_spec_t *specs;
    const char ***needs;
    uint32_t *nout;
    sched_sim_outcome_t **out;
} plan_job_t;

typedef struct plan_work {
    const plan_trace_t *t;
    int64_t *alloc; /* per record: when it got its allocation (plan_trace_alloc_times) */
    size_t *idx;    /* records sorted by (job, task, number, rank) */
    plan_task_t *tasks;
    size_t ntasks;
    plan_job_t *jobs;
    size_t njobs;
} plan_work_t;

static const plan_trace_t *sort_trace;

static int rec_cmp_job(const plan_rec_t *a, const plan_rec_t *b)
{
    if (a->job_id != b->job_id)
        return a->job_id < b->job_id ? -1 : 1;
    return strcmp(a->job_name, b->job_name);
}

static int cmp_rec(const void *x, const void *y)
{
    const plan_rec_t *a = &sort_trace->v[*(const size_t *)x],
                     *b = &sort_trace->v[*(const size_t *)y];
    int c = rec_cmp_job(a, b);
    if (!c)
        c = strcmp(a->task, b->task);
    if (!c)
        c = a->number != b->number ? (a->number < b->number ? -1 : 1) : 0;
    if (!c)
        c = a->rank != b->rank ? (a->rank < b->rank ? -1 : 1) : 0;
    if (!c)
        c = a->line < b->line ? -1 : a->line > b->line;
    return c;
}

static const plan_work_t *sort_work;
static int cmp_task(const void *x, const void *y)
{
    const plan_task_t *a = x, *b = y;
    if (a->job != b->job)
        return a->job < b->job ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

static const plan_rec_t *task_rec(const plan_work_t *w, const plan_task_t *t, size_t i)
{
    return &w->t->v[w->idx[t->first + i]];
}

static bool end_of(const char *word, int code, sched_sim_outcome_t *o)
{
    static const struct {
        const char *word;
        sched_end_t end;
    } ends[] = {{"", SCHED_END_EXIT},
                {"succeeded", SCHED_END_EXIT},
                {"cached", SCHED_END_EXIT},
                {"exit_nonzero", SCHED_END_EXIT},
                {"signaled", SCHED_END_SIGNAL},
                {"timed_out", SCHED_END_TIMEOUT},
                {"cancelled", SCHED_END_CANCELLED},
                {"node_lost", SCHED_END_NODE_LOST},
                {"failed_to_start", SCHED_END_START_FAILED}};
    for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
        if (!strcmp(word, ends[i].word)) {
            o->end = ends[i].end;
            o->exit_code = !strcmp(word, "exit_nonzero") ? (code ? code : 1) : 0;
            o->signal = o->end == SCHED_END_SIGNAL ? 9 : 0;
            return true;
        }
    return false;
}

/* Task t's spec and attempt outcomes (docs/capacity.md: how a trace is replayed). */
static int build_task(plan_work_t *w, plan_job_t *j, size_t k, const plan_task_t *t)
{
    const plan_rec_t *r0 = task_rec(w, t, 0);
    sched_task_spec_t *ts = &j->specs[k];
    static const char *const argv_true[] = {"/bin/true"};
    *ts = (sched_task_spec_t){.name = r0->task,
                              .argc = 1,
                              .argv = argv_true,
                              .req = {.cpus = r0->cpus,
                                      .memory_bytes = r0->memory_bytes,
                                      .gpus = r0->gpus,
                                      .gpu_model = r0->gpu_model[0] ? r0->gpu_model : NULL},
                              .replicas = r0->replicas,
                              .priority = r0->priority,
                              .time_limit_ms = r0->time_limit_ms};
    j->needs[k] = calloc(r0->nneeds + 1, sizeof(char *));
    j->out[k] = calloc(t->n, sizeof(sched_sim_outcome_t));
    if (!j->needs[k] || !j->out[k])
        return CLI_FAIL;
    for (uint32_t d = 0; d < r0->nneeds; d++) {
        bool known = false;
        for (size_t o = 0; o < j->n && !known; o++)
            known = !strcmp(task_rec(w, &w->tasks[j->first + o], 0)->task, r0->needs[d]);
        if (known)
            j->needs[k][ts->nneeds++] = r0->needs[d];
        else if (!w->t->recorded) { /* recorded: it ran before the window */
            fprintf(stderr, "cairn plan: %s:%zu: task %s needs %s, which job %s does not have\n",
                    w->t->source, r0->line, r0->task, r0->needs[d], r0->job_name);
            return CLI_USAGE;
        }
    }
    ts->needs = j->needs[k];
    uint32_t na = 0;
    int64_t backoff = 0;
    for (size_t i = 0; i < t->n; i++) {
        const plan_rec_t *r = task_rec(w, t, i);
        if (i && r->number == task_rec(w, t, i - 1)->number)
            continue; /* another replica of the same attempt */
        sched_sim_outcome_t *o = &j->out[k][na];
        if (!end_of(r->end, r->exit_code, o)) {
            fprintf(stderr, "cairn plan: %s:%zu: unknown end \"%s\"\n", w->t->source, r->line,
                    r->end);
            return CLI_USAGE;
        }
        /* held from getting its allocation (its placement, or the end of
         * the attempt it was queued behind) to its end; started after it */
        int64_t end = r->end_ms ? r->end_ms : w->t->until_ms, got = w->alloc[r - w->t->v];
        o->hold_ms = w->t->recorded ? (end > got ? end - got : 0) : r->duration_ms;
        o->start_ms = w->t->recorded && r->start_ms ? r->start_ms - got : 0;
        o->no_start = w->t->recorded && !r->start_ms;
        if (na == 1 && r->ready_ms > 0) {
            const plan_rec_t *prev = task_rec(w, t, 0);
            backoff = prev->end_ms && r->ready_ms > prev->end_ms ? r->ready_ms - prev->end_ms : 0;
        }
        na++;
    }
    j->nout[k] = na;
    ts->retry = (sched_retry_policy_t){.max_attempts = na,
                                       .backoff_ms = backoff,
                                       .on = SCHED_RETRY_NODE_LOST | SCHED_RETRY_TIMEOUT |
                                             SCHED_RETRY_SIGNAL | SCHED_RETRY_ANY_EXIT};
    return CLI_OK;
}

static int build_jobs(plan_work_t *w)
{
    const plan_trace_t *tr = w->t;
    w->idx = malloc((tr->n + 1) * sizeof(size_t));
    w->tasks = calloc(tr->n + 1, sizeof(plan_task_t));
    w->jobs = calloc(tr->n + 1, sizeof(plan_job_t));
    w->alloc = malloc((tr->n + 1) * sizeof(int64_t));
    if (!w->idx || !w->tasks || !w->jobs || !w->alloc || plan_trace_alloc_times(tr, w->alloc))
        return CLI_FAIL;
    for (size_t i = 0; i < tr->n; i++)
        w->idx[i] = i;
    sort_trace = tr;
    qsort(w->idx, tr->n, sizeof(size_t), cmp_rec);
    for (size_t i = 0; i < tr->n; i++) {
        const plan_rec_t *r = &tr->v[w->idx[i]], *p = i ? &tr->v[w->idx[i - 1]] : NULL;
        bool new_job = !p || rec_cmp_job(p, r) != 0;
        if (new_job) {
            w->jobs[w->njobs++] = (plan_job_t){.submit_ms = r->submit_ms};
        }
        plan_job_t *j = &w->jobs[w->njobs - 1];
        if (r->submit_ms < j->submit_ms)
            j->submit_ms = r->submit_ms;
        if (new_job || strcmp(p->task, r->task) != 0)
            w->tasks[w->ntasks++] =
                (plan_task_t){.first = i, .order = UINT64_MAX, .job = (uint32_t)(w->njobs - 1)};
        plan_task_t *t = &w->tasks[w->ntasks - 1];
        t->n++;
        uint64_t ord = tr->recorded && r->attempt_id ? r->attempt_id : r->line;
        if (ord < t->order)
            t->order = ord;
    }
    sort_work = w;
    qsort(w->tasks, w->ntasks, sizeof(plan_task_t), cmp_task);
    for (size_t i = 0; i < w->ntasks; i++) {
        plan_job_t *j = &w->jobs[w->tasks[i].job];
        if (!j->n)
            j->first = i;
        j->n++;
    }
    for (size_t ji = 0; ji < w->njobs; ji++) {
        plan_job_t *j = &w->jobs[ji];
        j->specs = calloc(j->n, sizeof(*j->specs));
        j->needs = calloc(j->n, sizeof(*j->needs));
        j->nout = calloc(j->n, sizeof(uint32_t));
        j->out = calloc(j->n, sizeof(*j->out));
        if (!j->specs || !j->needs || !j->nout || !j->out)
            return CLI_FAIL;
        for (size_t k = 0; k < j->n; k++) {
            int rc = build_task(w, j, k, &w->tasks[j->first + k]);
            if (rc != CLI_OK)
                return rc;
        }
        const plan_rec_t *r0 = task_rec(w, &w->tasks[j->first], 0);
        j->spec = (sched_job_spec_t){.name = r0->job_name,
                                     .seed = r0->job_id ? r0->job_id : ji + 1,
                                     .ntasks = (uint32_t)j->n,
                                     .tasks = j->specs};
    }
    return CLI_OK;
}

#define S0(s) ((s) ? (s) : "")

/* The first GPU of mask on the node named name in cluster cl (its vendor
 * and model); NULL when unknown. */
static const sched_gpu_desc_t *gpu_of(const plan_cluster_t *cl, const char *name, uint64_t mask)
{
    for (size_t i = 0; mask && i < cl->n; i++) {
        int g = __builtin_ctzll(mask);
        if (!strcmp(cl->v[i].name, name) && g < cl->v[i].d.ngpus)
            return &cl->v[i].d.gpus[g];
    }
    return NULL;
}

/* A recorded gang whose replicas got GPUs of different models on the
 * cluster was allowed to (resources.gpu.mixed, which the records do not
 * carry): its replay may mix them too. */
static void mark_mixed_gangs(plan_work_t *w, const plan_cluster_t *cl)
{
    for (size_t ji = 0; w->t->recorded && ji < w->njobs; ji++) {
        plan_job_t *j = &w->jobs[ji];
        for (size_t k = 0; k < j->n; k++) {
            const plan_task_t *t = &w->tasks[j->first + k];
            const sched_gpu_desc_t *first = NULL;
            for (size_t i = 0; i < t->n && j->specs[k].replicas > 1; i++) {
                const plan_rec_t *r = task_rec(w, t, i);
                const sched_gpu_desc_t *g = gpu_of(cl, r->node, r->gpu_mask);
                if (i && r->number != task_rec(w, t, i - 1)->number)
                    first = NULL; /* another attempt: compare its own replicas */
                if (g && first &&
                    (strcmp(S0(g->model), S0(first->model)) ||
                     strcmp(S0(g->vendor), S0(first->vendor))))
                    j->specs[k].req.gpu_mixed = true;
                first = first ? first : g;
            }
        }
    }
}

static void work_fini(plan_work_t *w)
{
    for (size_t ji = 0; ji < w->njobs; ji++) {
        plan_job_t *j = &w->jobs[ji];
        for (size_t k = 0; k < j->n; k++) {
            if (j->needs)
                free(j->needs[k]);
            if (j->out)
                free(j->out[k]);
        }
        free(j->specs);
        free(j->needs);
        free(j->nout);
        free(j->out);
    }
    free(w->jobs);
    free(w->tasks);
    free(w->idx);
    free(w->alloc);
}

/* --- simulation and measurement ----------------------------------------- */

/* A simulation of cluster cl placing as the scheduler does by default
 * (prefetch on) or with --no-prefetch. */
static sched_sim_t *sim_of(const plan_cluster_t *cl, bool prefetch)
{
    sched_config_t cfg = sched_config_daemon(prefetch);
    sched_sim_t *sim = sched_sim_create(&cfg);
    cairn_error_t err = {{0}};
    for (size_t i = 0; sim && i < cl->n; i++)
        if (sched_sim_node_add(sim, &cl->v[i].d, &err) < 0) {
            fprintf(stderr, "cairn plan: node %s: %s\n", cl->v[i].name, err.text);
            sched_sim_destroy(sim);
            return NULL;
        }
    return sim;
}

/* replay: a recorded trace on the cluster it ran on, whose scheduler's
 * passes ran at its recorded placement times (sched_sim_pass_times). */
static int simulate(plan_work_t *w, sched_sim_t *sim, bool replay)
{
    cairn_error_t err = {{0}};
    if (replay) {
        int64_t *at = malloc((w->t->n + 1) * sizeof(int64_t));
        for (size_t i = 0; at && i < w->t->n; i++)
            at[i] = w->t->v[i].placed_ms;
        int rc = at ? sched_sim_pass_times(sim, at, w->t->n, &err) : SCHED_ENOMEM;
        free(at);
        if (rc < 0) {
            fprintf(stderr, "cairn plan: %s\n", at ? err.text : "out of memory");
            return CLI_FAIL;
        }
    }
    for (size_t ji = 0; ji < w->njobs; ji++) {
        plan_job_t *j = &w->jobs[ji];
        if (sched_sim_job_add(sim, j->submit_ms, &j->spec, j->nout,
                              (const sched_sim_outcome_t *const *)j->out, &err) < 0) {
            fprintf(stderr, "cairn plan: job %s: %s\n", j->spec.name, err.text);
            return CLI_USAGE;
        }
    }
    if (sched_sim_run(sim, &err) < 0) {
        fprintf(stderr, "cairn plan: simulation: %s\n", err.text);
        return CLI_FAIL;
    }
    return CLI_OK;
}

/* The recorded attempts as spans on the base cluster's nodes. */
static sched_sim_span_t *actual_spans(const plan_work_t *w, sched_sim_t *base, size_t *n,
                                      size_t *unknown)
{
    sched_sim_span_t *v = calloc(w->t->n + 1, sizeof(*v));
    *n = *unknown = 0;
    for (size_t ti = 0; v && ti < w->ntasks; ti++) {
        const plan_task_t *t = &w->tasks[ti];
        const plan_job_t *j = &w->jobs[t->job];
        for (size_t i = 0; i < t->n; i++) {
            const plan_rec_t *r = task_rec(w, t, i);
            uint32_t node;
            if (sched_sim_node_find(base, r->node, &node) < 0) {
                (*unknown)++;
                continue;
            }
            int shape = sched_sim_shape(base, r->cpus, r->gpus, r->gpu_model, r->replicas);
            if (shape < 0) {
                free(v);
                return NULL;
            }
            v[(*n)++] = (sched_sim_span_t){.job = t->job,
                                           .task = (uint32_t)(ti - j->first),
                                           .number = r->number,
                                           .rank = r->rank,
                                           .node = node,
                                           .shape = (uint32_t)shape,
                                           .cpus = r->cpus,
                                           .gpu_mask = r->gpu_mask,
                                           .submit_ms = j->submit_ms,
                                           .ready_ms = r->ready_ms > 0 ? r->ready_ms : r->submit_ms,
                                           .placed_ms = r->placed_ms,
                                           .alloc_ms = w->alloc[r - w->t->v],
                                           .end_ms = r->end_ms ? r->end_ms : w->t->until_ms};
        }
    }
    return v;
}

/* Predicted attempts on the node they were recorded on, and at the time. */
typedef struct plan_match {
    size_t attempts, same_node, same_time;
} plan_match_t;

static plan_match_t match(const plan_work_t *w, const sched_sim_t *sim)
{
    plan_match_t m = {0};
    size_t n;
    const sched_sim_span_t *sp = sched_sim_spans(sim, &n);
    for (size_t i = 0; i < n; i++) {
        const plan_task_t *t = &w->tasks[w->jobs[sp[i].job].first + sp[i].task];
        for (size_t k = 0; k < t->n; k++) {
            const plan_rec_t *r = task_rec(w, t, k);
            if (r->number != sp[i].number || r->rank != sp[i].rank)
                continue;
            m.attempts++;
            m.same_node += !strcmp(r->node, sched_sim_node_name(sim, sp[i].node));
            m.same_time += r->placed_ms == sp[i].placed_ms;
            break;
        }
    }
    return m;
}

/* --- output --------------------------------------------------------------- */

static const char *pct_str(double num, double den, char *buf, size_t len)
{
    if (den <= 0)
        return "-";
    snprintf(buf, len, "%.1f%%", 100.0 * num / den);
    return buf;
}

static const sched_sim_wait_t *wait_of(const sched_sim_report_t *r, const sched_sim_t *sim,
                                       const char *shape)
{
    for (size_t i = 0; r && i < r->nwaits; i++)
        if (!strcmp(sched_sim_shape_name(sim, r->waits[i].shape), shape))
            return &r->waits[i];
    return NULL;
}

static const sched_sim_use_t *model_of(const sched_sim_report_t *r, const char *model)
{
    for (size_t i = 0; r && i < r->nmodels; i++)
        if (!strcmp(r->models[i].name, model))
            return &r->models[i];
    return NULL;
}

static void row(ui_table_t *tb, const char *what, const char *actual, const char *predicted)
{
    const char *cells[3] = {what, actual, predicted};
    ui_table_add(tb, cells, -1, NULL);
}

static void waits_rows(ui_table_t *tb, const sched_sim_report_t *act, const sched_sim_t *base,
                       const sched_sim_report_t *pred, const sched_sim_t *sim)
{
    char a[64], p[64], what[200], d1[32], d2[32];
    for (int pass = 0; pass < 2; pass++) {
        const sched_sim_report_t *r = pass ? act : pred;
        const sched_sim_t *s = pass ? base : sim;
        for (size_t i = 0; r && i < r->nwaits; i++) {
            const char *shape = sched_sim_shape_name(s, r->waits[i].shape);
            if (pass && wait_of(pred, sim, shape))
                continue; /* listed in the first pass */
            const sched_sim_wait_t *wa = wait_of(act, base, shape), *wp = wait_of(pred, sim, shape);
            snprintf(what, sizeof(what), "wait p50 / p95  %s", shape);
            snprintf(a, sizeof(a), "%s / %s", wa ? ui_duration(wa->p50_ms, d1, sizeof(d1)) : "-",
                     wa ? ui_duration(wa->p95_ms, d2, sizeof(d2)) : "-");
            if (!act)
                snprintf(a, sizeof(a), "-");
            row(tb, what, a,
                wp ? (snprintf(p, sizeof(p), "%s / %s", ui_duration(wp->p50_ms, d1, sizeof(d1)),
                               ui_duration(wp->p95_ms, d2, sizeof(d2))),
                      p)
                   : "-");
        }
    }
}

static void print_table(cli_t *c, const sched_sim_report_t *act, const sched_sim_t *base,
                        const sched_sim_report_t *pred, const sched_sim_t *sim)
{
    static const char *const hdr[] = {"", "ACTUAL", "PREDICTED"};
    ui_table_t *tb = ui_table_create(3, hdr);
    char a[64], p[64], what[300];
    row(tb, "makespan", act ? ui_duration(act->makespan_ms, a, sizeof(a)) : "-",
        ui_duration(pred->makespan_ms, p, sizeof(p)));
    row(tb, "attempts",
        act ? (snprintf(a, sizeof(a), "%llu", (unsigned long long)act->attempts), a) : "-",
        (snprintf(p, sizeof(p), "%llu", (unsigned long long)pred->attempts), p));
    char d1[32], d2[32];
    if (act)
        snprintf(a, sizeof(a), "%s / %s", ui_duration(act->wait_p50_ms, d1, sizeof(d1)),
                 ui_duration(act->wait_p95_ms, d2, sizeof(d2)));
    snprintf(p, sizeof(p), "%s / %s", ui_duration(pred->wait_p50_ms, d1, sizeof(d1)),
             ui_duration(pred->wait_p95_ms, d2, sizeof(d2)));
    row(tb, "wait p50 / p95  all", act ? a : "-", p);
    waits_rows(tb, act, base, pred, sim);
    for (size_t i = 0; i < pred->nmodels; i++) {
        const sched_sim_use_t *u = &pred->models[i], *ua = model_of(act, u->name);
        snprintf(what, sizeof(what), "GPU utilisation  %s (%u GPU%s)", u->name, u->gpus,
                 ui_s(u->gpus));
        row(tb, what, ua ? pct_str(ua->alloc_gpu_s, ua->capacity_gpu_s, a, sizeof(a)) : "-",
            pct_str(u->alloc_gpu_s, u->capacity_gpu_s, p, sizeof(p)));
        snprintf(what, sizeof(what), "fragmentation    %s", u->name);
        row(tb, what, ua ? pct_str(ua->idle_waiting_gpu_s, ua->capacity_gpu_s, a, sizeof(a)) : "-",
            pct_str(u->idle_waiting_gpu_s, u->capacity_gpu_s, p, sizeof(p)));
    }
    if (pred->nmodels > 1) {
        row(tb, "GPU utilisation  all",
            act ? pct_str(act->total.alloc_gpu_s, act->total.capacity_gpu_s, a, sizeof(a)) : "-",
            pct_str(pred->total.alloc_gpu_s, pred->total.capacity_gpu_s, p, sizeof(p)));
        row(tb, "fragmentation    all",
            act ? pct_str(act->total.idle_waiting_gpu_s, act->total.capacity_gpu_s, a, sizeof(a))
                : "-",
            pct_str(pred->total.idle_waiting_gpu_s, pred->total.capacity_gpu_s, p, sizeof(p)));
    }
    ui_table_print(c, tb, stdout);
    ui_table_destroy(tb);
}

static json_t *use_json(const sched_sim_use_t *u)
{
    return json_pack(
        "{s:o, s:I, s:o, s:o, s:o, s:o, s:o}", "name", cairn_json_str(u->name), "gpus",
        (json_int_t)u->gpus, "capacity_gpu_s", cairn_json_fixed(u->capacity_gpu_s, 3),
        "alloc_gpu_s", cairn_json_fixed(u->alloc_gpu_s, 3), "idle_waiting_gpu_s",
        cairn_json_fixed(u->idle_waiting_gpu_s, 3), "utilisation",
        cairn_json_fixed(u->capacity_gpu_s > 0 ? u->alloc_gpu_s / u->capacity_gpu_s : 0.0, 6),
        "fragmentation",
        cairn_json_fixed(u->capacity_gpu_s > 0 ? u->idle_waiting_gpu_s / u->capacity_gpu_s : 0.0,
                         6));
}

static json_t *uses_json(const sched_sim_use_t *u, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        cairn_json_push(&a, use_json(&u[i]));
    return a;
}

static json_t *report_json(const sched_sim_report_t *r, const sched_sim_t *sim)
{
    if (!r)
        return json_null();
    json_t *waits = json_array();
    for (size_t i = 0; i < r->nwaits; i++)
        cairn_json_push(&waits,
                        json_pack("{s:o, s:o, s:I, s:I, s:I}", "shape",
                                  cairn_json_str(sched_sim_shape_name(sim, r->waits[i].shape)),
                                  "count", cairn_json_u64(r->waits[i].count), "p50_ms",
                                  (json_int_t)r->waits[i].p50_ms, "p95_ms",
                                  (json_int_t)r->waits[i].p95_ms, "max_ms",
                                  (json_int_t)r->waits[i].max_ms));
    return json_pack(
        "{s:I, s:I, s:I, s:o, s:I, s:I, s:o, s:o, s:o, s:o}", "start_ms", (json_int_t)r->start_ms,
        "end_ms", (json_int_t)r->end_ms, "makespan_ms", (json_int_t)r->makespan_ms, "attempts",
        cairn_json_u64(r->attempts), "wait_p50_ms", (json_int_t)r->wait_p50_ms, "wait_p95_ms",
        (json_int_t)r->wait_p95_ms, "waits", waits, "models", uses_json(r->models, r->nmodels),
        "nodes", uses_json(r->nodes, r->nnodes), "total", use_json(&r->total));
}

/* --- the command ------------------------------------------------------------ */

static int parse_add(plan_opts_t *o, const char *count, const char *file)
{
    const char *end = NULL;
    uint64_t n = 0;
    if (!file || cli_parse_digits(count, 100000, &n, &end) < 0 || strcmp(end, "x") != 0 || n < 1)
        return cli_usage_error(
            "plan", "bad --add '%s': expected --add Nx FILE.xml (N from 1 to 100000)", count);
    if (o->nadd == 64)
        return cli_usage_error("plan", "at most 64 --add");
    o->add_count[o->nadd] = (uint32_t)n;
    o->add_file[o->nadd++] = file;
    return CLI_OK;
}

static int parse_opts(int argc, char **argv, plan_opts_t *o)
{
    enum {
        OPT_TRACE = 256,
        OPT_CLUSTER,
        OPT_ADD,
        OPT_REMOVE,
        OPT_JSON,
        OPT_EXPORT,
        OPT_NO_PREFETCH
    };
    static const struct option opts[] = {{"trace", required_argument, NULL, OPT_TRACE},
                                         {"cluster", required_argument, NULL, OPT_CLUSTER},
                                         {"add", required_argument, NULL, OPT_ADD},
                                         {"remove", required_argument, NULL, OPT_REMOVE},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"export-trace", no_argument, NULL, OPT_EXPORT},
                                         {"no-prefetch", no_argument, NULL, OPT_NO_PREFETCH},
                                         {NULL, 0, NULL, 0}};
    int ch, rc;
    o->cluster = "current";
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case OPT_TRACE:
            o->trace = optarg;
            break;
        case OPT_CLUSTER:
            o->cluster = optarg;
            break;
        case OPT_ADD: /* two words: --add 4x FILE.xml */
            if ((rc = parse_add(o, optarg, optind < argc ? argv[optind] : NULL)) != CLI_OK)
                return rc;
            optind++;
            break;
        case OPT_REMOVE: {
            char *save = NULL;
            for (char *tok = strtok_r(optarg, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
                if (o->nremove < 256)
                    o->remove[o->nremove++] = tok;
            break;
        }
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_EXPORT:
            o->export_trace = true;
            break;
        case OPT_NO_PREFETCH:
            o->no_prefetch = true;
            break;
        default:
            return cli_usage_error("plan", "unknown option");
        }
    }
    if (optind < argc)
        return cli_usage_error("plan", "unexpected argument '%s'", argv[optind]);
    if (!o->trace)
        return cli_usage_error("plan", "--trace last:DURATION or --trace FILE is required");
    if (o->export_trace && strncmp(o->trace, "last:", 5) != 0)
        return cli_usage_error("plan", "--export-trace needs --trace last:DURATION");
    return CLI_OK;
}

static bool parse_window(const char *s, int64_t *ms)
{
    const char *end = NULL;
    uint64_t v = 0;
    if (cli_parse_digits(s, INT64_MAX / 86400000, &v, &end) < 0 || v == 0)
        return false;
    static const struct {
        char unit;
        int64_t ms;
    } units[] = {{'d', 86400000}, {'h', 3600000}, {'m', 60000}, {'s', 1000}};
    for (size_t i = 0; i < 4; i++)
        if (end[0] == units[i].unit && !end[1]) {
            *ms = (int64_t)v * units[i].ms;
            return true;
        }
    return false;
}

static int fetch_trace(cli_t *c, const plan_opts_t *o, plan_trace_t *t)
{
    int64_t window;
    if (!parse_window(o->trace + 5, &window))
        return cli_usage_error("plan", "bad --trace '%s': expected last:N with d, h, m or s",
                               o->trace);
    cli_acct_t acct;
    int rc = cli_accounting(c, cairn_wall_ms() - window, 0, &acct);
    if (rc != CLI_OK)
        return rc;
    const Cairn__AccountingReply *ar = &acct.all;
    if (o->export_trace) {
        json_t *records = json_array();
        for (size_t i = 0; i < ar->n_records; i++)
            cairn_json_push(&records, cairn_json_msg(&ar->records[i]->base));
        rc = ui_print_json(records, CAIRN_JSON_INDENT | CAIRN_JSON_EXACT);
    } else
        rc = plan_trace_from_reply(ar, t);
    cli_acct_fini(&acct);
    if (rc == CLI_OK && !o->export_trace)
        t->source = o->trace;
    return rc;
}

static int load_cluster(cli_t *c, const plan_opts_t *o, plan_cluster_t *base)
{
    if (strcmp(o->cluster, "current") != 0)
        return plan_cluster_load(o->cluster, base);
    Cairn__NodesRequest req = CAIRN__NODES_REQUEST__INIT;
    ProtobufCMessage *rep = NULL;
    int rc = cli_call(c, CAIRN_MSG_NODES, &req.base, CAIRN_MSG_NODES_REPLY, &rep);
    if (rc != CLI_OK)
        return rc;
    rc = plan_cluster_from_nodes((const Cairn__NodesReply *)rep, base);
    cairn_msg_free(rep);
    return rc;
}

/* The cluster to predict on: base + --add - --remove. */
static int what_if(const plan_opts_t *o, const plan_cluster_t *base, plan_cluster_t *cl)
{
    if (plan_cluster_copy(cl, base) < 0)
        return CLI_FAIL;
    for (int i = 0; i < o->nadd; i++) {
        const char *slash = strrchr(o->add_file[i], '/');
        char name[256];
        snprintf(name, sizeof(name), "%s", slash ? slash + 1 : o->add_file[i]);
        char *dot = strrchr(name, '.');
        if (dot && dot != name)
            *dot = '\0';
        strncat(name, "+", sizeof(name) - strlen(name) - 1);
        int rc = plan_cluster_add_xml(cl, o->add_file[i], name, o->add_count[i]);
        if (rc != CLI_OK)
            return rc;
    }
    for (int i = 0; i < o->nremove; i++)
        if (plan_cluster_remove(cl, o->remove[i]) < 0) {
            fprintf(stderr, "cairn plan: --remove %s: no such node in the cluster\n", o->remove[i]);
            return CLI_NOTFOUND;
        }
    if (cl->n == 0) {
        fprintf(stderr, "cairn plan: the cluster has no nodes left\n");
        return CLI_USAGE;
    }
    return CLI_OK;
}

static uint32_t gpu_count(const plan_cluster_t *cl)
{
    uint32_t n = 0;
    for (size_t i = 0; i < cl->n; i++)
        n += (uint32_t)cl->v[i].d.ngpus;
    return n;
}

static void print_header(const plan_opts_t *o, const plan_work_t *w, const plan_cluster_t *base,
                         const plan_cluster_t *cl, const sched_sim_stats_t *st,
                         const plan_match_t *m, size_t unknown)
{
    printf("trace: %s: %zu job%s, %zu task%s, %zu record%s%s\n", w->t->source, w->njobs,
           ui_s(w->njobs), w->ntasks, ui_s(w->ntasks), w->t->n, ui_s(w->t->n),
           w->t->recorded ? "" : " (CSV: predicted only)");
    printf("cluster: %s: %zu node%s, %u GPU%s", o->cluster, base->n, ui_s(base->n), gpu_count(base),
           ui_s(gpu_count(base)));
    if (o->nadd || o->nremove)
        printf("; what if: %zu node%s, %u GPU%s", cl->n, ui_s(cl->n), gpu_count(cl),
               ui_s(gpu_count(cl)));
    printf("\n");
    if (m && w->t->recorded)
        printf("replay: %zu of %zu attempt%s on the recorded node, %zu at the recorded time\n",
               m->same_node, m->attempts, ui_s(m->attempts), m->same_time);
    if (unknown)
        printf("note: %zu record%s ran on nodes not in the cluster; actual figures leave %s "
               "out\n",
               unknown, ui_s(unknown), unknown == 1 ? "it" : "them");
    if (st->rejected)
        printf("warning: %u job%s cannot run on this cluster (%s); %u task%s never placed\n",
               st->rejected, ui_s(st->rejected), st->first_rejection, st->unplaced,
               ui_s(st->unplaced));
    else if (st->unplaced)
        printf("warning: %u task%s never placed\n", st->unplaced, ui_s(st->unplaced));
    printf("\n");
}

static int print_json(const plan_opts_t *o, const plan_work_t *w, const plan_cluster_t *base,
                      const plan_cluster_t *cl, const sched_sim_stats_t *st, const plan_match_t *m,
                      const sched_sim_report_t *act, const sched_sim_t *bsim,
                      const sched_sim_report_t *pred, const sched_sim_t *sim)
{
    json_t *replay =
        m && w->t->recorded
            ? json_pack("{s:I, s:I, s:I}", "attempts", (json_int_t)m->attempts, "same_node",
                        (json_int_t)m->same_node, "same_time", (json_int_t)m->same_time)
            : json_null();
    return ui_print_json(
        json_pack("{s:{s:o, s:b, s:I, s:I, s:I}, s:{s:o, s:I, s:I, s:I, s:I}, "
                  "s:{s:o, s:o, s:I, s:I, s:o}, s:o, s:o, s:o}",
                  "trace", "source", cairn_json_str(w->t->source), "recorded", w->t->recorded,
                  "jobs", (json_int_t)w->njobs, "tasks", (json_int_t)w->ntasks, "records",
                  (json_int_t)w->t->n, "cluster", "source", cairn_json_str(o->cluster), "nodes",
                  (json_int_t)base->n, "gpus", (json_int_t)gpu_count(base), "what_if_nodes",
                  (json_int_t)cl->n, "what_if_gpus", (json_int_t)gpu_count(cl), "simulation",
                  "events", cairn_json_u64(st->events), "passes", cairn_json_u64(st->passes),
                  "rejected_jobs", (json_int_t)st->rejected, "unplaced_tasks",
                  (json_int_t)st->unplaced, "first_rejection", cairn_json_str(st->first_rejection),
                  "replay", replay, "actual", report_json(act, bsim), "predicted",
                  report_json(pred, sim)),
        CAIRN_JSON_LINE);
}

static int plan_run(cli_t *c, const plan_opts_t *o, plan_trace_t *t, plan_cluster_t *base,
                    plan_cluster_t *cl, plan_work_t *w)
{
    int rc = what_if(o, base, cl);
    if (rc != CLI_OK)
        return rc;
    if ((rc = build_jobs(w)) != CLI_OK)
        return rc;
    mark_mixed_gangs(w, base);
    sched_sim_t *sim = sim_of(cl, !o->no_prefetch), *bsim = sim_of(base, !o->no_prefetch);
    sched_sim_span_t *aspans = NULL;
    sched_sim_report_t pred = {0}, act = {0};
    bool have_act = false;
    bool replay = t->recorded && !strcmp(o->cluster, "current") && !o->nadd && !o->nremove;
    rc = sim && bsim ? simulate(w, sim, replay) : CLI_USAGE;
    size_t nas = 0, unknown = 0, nps = 0;
    if (rc == CLI_OK && t->recorded) {
        aspans = actual_spans(w, bsim, &nas, &unknown);
        rc = aspans && sched_sim_measure(bsim, aspans, nas, &act) == 0 ? CLI_OK : CLI_FAIL;
        have_act = rc == CLI_OK;
    }
    const sched_sim_span_t *pspans = sim ? sched_sim_spans(sim, &nps) : NULL;
    if (rc == CLI_OK && sched_sim_measure(sim, pspans, nps, &pred) < 0)
        rc = CLI_FAIL;
    if (rc == CLI_OK) {
        sched_sim_stats_t st;
        sched_sim_stats(sim, &st);
        plan_match_t m = match(w, sim);
        if (o->json)
            rc = print_json(o, w, base, cl, &st, &m, have_act ? &act : NULL, bsim, &pred, sim);
        else {
            print_header(o, w, base, cl, &st, &m, unknown);
            print_table(c, have_act ? &act : NULL, bsim, &pred, sim);
        }
    }
    sched_sim_report_fini(&pred);
    sched_sim_report_fini(&act);
    free(aspans);
    sched_sim_destroy(sim);
    sched_sim_destroy(bsim);
    return rc;
}

int cmd_plan(cli_t *c, int argc, char **argv)
{
    plan_opts_t o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc != CLI_OK)
        return rc;
    plan_trace_t t = {0};
    plan_cluster_t base = {0}, cl = {0};
    plan_work_t w = {.t = &t};
    if (!strncmp(o.trace, "last:", 5))
        rc = fetch_trace(c, &o, &t);
    else
        rc = plan_trace_load(o.trace, &t);
    if (rc == CLI_OK && !o.export_trace && t.n == 0) {
        fprintf(stderr, "cairn plan: the trace %s has no records\n", o.trace);
        rc = CLI_USAGE;
    }
    if (rc == CLI_OK && !o.export_trace)
        rc = load_cluster(c, &o, &base);
    if (rc == CLI_OK && !o.export_trace)
        rc = plan_run(c, &o, &t, &base, &cl, &w);
    work_fini(&w);
    plan_cluster_fini(&cl);
    plan_cluster_fini(&base);
    plan_trace_fini(&t);
    return rc;
}
