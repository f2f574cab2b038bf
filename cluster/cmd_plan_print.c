/* cairn plan's output: the table of actual and predicted figures, the
 * header above it, and --json. */
#include <stdlib.h>
#include <string.h>

#include "cluster/cmd.h"
#include "cluster/plan_private.h"

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

/* "p50 / p95" of an account's figures. */
static const char *acct_waits(const plan_acct_fig_t *f, char *buf, size_t len)
{
    char d1[32], d2[32];
    snprintf(buf, len, "%s / %s", ui_duration(f->wait_p50_ms, d1, sizeof(d1)),
             ui_duration(f->wait_p95_ms, d2, sizeof(d2)));
    return buf;
}

/* Each account's waits and GPU-hours, when the tree has more than default. */
static void account_rows(ui_table_t *tb, const plan_result_t *res)
{
    char a[64], p[64], what[300];
    for (size_t i = 0; res->acct->n && i < res->rows->n; i++) {
        const plan_acct_row_t *r = &res->rows->v[i];
        bool act = res->rows->have_act;
        snprintf(what, sizeof(what), "wait p50 / p95  account %s", r->name);
        row(tb, what, act ? acct_waits(&r->act, a, sizeof(a)) : "-",
            acct_waits(&r->pred, p, sizeof(p)));
        snprintf(what, sizeof(what), "GPU-hours        account %s", r->name);
        if (act)
            snprintf(a, sizeof(a), "%.1f", r->act.gpu_s / 3600.0);
        snprintf(p, sizeof(p), "%.1f", r->pred.gpu_s / 3600.0);
        row(tb, what, act ? a : "-", p);
    }
}

/* Preempted attempts and the GPU-hours they lost, recorded and predicted,
 * when either had any. */
static void preempt_rows(ui_table_t *tb, const plan_result_t *res)
{
    const plan_work_t *w = res->w;
    bool rec = w->t->recorded;
    if (!w->rec_preempted && !res->st->preempted_attempts)
        return;
    char a[64], p[64];
    snprintf(a, sizeof(a), "%llu", (unsigned long long)w->rec_preempted);
    snprintf(p, sizeof(p), "%llu", (unsigned long long)res->st->preempted_attempts);
    row(tb, "preempted attempts", rec ? a : "-", p);
    snprintf(a, sizeof(a), "%.3f", w->rec_preempted_gpu_s / 3600.0);
    snprintf(p, sizeof(p), "%.3f", res->st->preempted_gpu_s / 3600.0);
    row(tb, "GPU-hours lost to preemption", rec ? a : "-", p);
}

void plan_print_table(cli_t *c, const plan_result_t *res)
{
    const sched_sim_report_t *act = res->act, *pred = res->pred;
    const sched_sim_t *base = res->bsim, *sim = res->sim;
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
    account_rows(tb, res);
    preempt_rows(tb, res);
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

static json_t *plan_report_json(const sched_sim_report_t *r, const sched_sim_t *sim)
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

static uint32_t gpu_count(const plan_cluster_t *cl)
{
    uint32_t n = 0;
    for (size_t i = 0; i < cl->n; i++)
        n += (uint32_t)cl->v[i].d.ngpus;
    return n;
}

/* A half-life as the option takes it ("7d", "12h"), else as a duration. */
static const char *half_life_str(int64_t ms, char *buf, size_t len)
{
    static const struct {
        int64_t ms;
        char unit;
    } units[] = {{86400000, 'd'}, {3600000, 'h'}, {60000, 'm'}, {1000, 's'}};
    for (size_t i = 0; ms > 0 && i < 4; i++)
        if (ms % units[i].ms == 0) {
            snprintf(buf, len, "%lld%c", (long long)(ms / units[i].ms), units[i].unit);
            return buf;
        }
    return ui_duration(ms, buf, len);
}

void plan_print_header(const plan_opts_t *o, const plan_work_t *w, const plan_cluster_t *base,
                       const plan_cluster_t *cl, const plan_result_t *r, size_t unknown)
{
    const sched_sim_stats_t *st = r->st;
    const plan_match_t *m = r->m;
    const plan_accounts_t *a = r->acct;
    printf("trace: %s: %zu job%s, %zu task%s, %zu record%s%s\n", w->t->source, w->njobs,
           ui_s(w->njobs), w->ntasks, ui_s(w->ntasks), w->t->n, ui_s(w->t->n),
           w->t->recorded ? "" : " (CSV: predicted only)");
    printf("cluster: %s: %zu node%s, %u GPU%s", o->cluster, base->n, ui_s(base->n), gpu_count(base),
           ui_s(gpu_count(base)));
    if (o->nadd || o->nremove)
        printf("; what if: %zu node%s, %u GPU%s", cl->n, ui_s(cl->n), gpu_count(cl),
               ui_s(gpu_count(cl)));
    printf("\n");
    char hl[32];
    if (strcmp(a->from, "none") != 0)
        printf("accounts: %s: %zu besides default; fair share: a GPU-second counts %u "
               "core-seconds, half-life %s\n",
               a->source, a->n, a->gpu_weight, half_life_str(a->half_life_ms, hl, sizeof(hl)));
    else
        printf("accounts: %s\n", a->source);
    if (m && w->t->recorded)
        printf("replay: %zu of %zu attempt%s on the recorded node, %zu at the recorded time\n",
               m->same_node, m->attempts, ui_s(m->attempts), m->same_time);
    if (w->rec_preempted || st->preempted_attempts || strcmp(r->preemption, "priority") != 0)
        printf("preemption: %s; %llu attempt%s preempted in the records, %llu in the replay "
               "(%llu decision%s)\n",
               r->preemption, (unsigned long long)w->rec_preempted, ui_s(w->rec_preempted),
               (unsigned long long)st->preempted_attempts, (unsigned long long)st->preemptions,
               ui_s(st->preemptions));
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

/* A limit: null when there is none. */
static json_t *limit_json(uint32_t v)
{
    return v == SCHED_UNLIMITED ? json_null() : json_integer((json_int_t)v);
}

static json_t *fig_json(const plan_acct_fig_t *f)
{
    return json_pack("{s:o, s:I, s:I, s:o, s:I}", "attempts", cairn_json_u64(f->attempts),
                     "wait_p50_ms", (json_int_t)f->wait_p50_ms, "wait_p95_ms",
                     (json_int_t)f->wait_p95_ms, "gpu_hours",
                     cairn_json_fixed(f->gpu_s / 3600.0, 3), "peak_gpus", (json_int_t)f->peak_gpus);
}

/* The tree the replay ran under and each account's figures. */
static json_t *accounts_json(const plan_result_t *res)
{
    const plan_accounts_t *a = res->acct;
    json_t *list = json_array(), *unknown = json_array();
    for (size_t i = 0; i < res->rows->n; i++) {
        const plan_acct_row_t *r = &res->rows->v[i];
        const plan_account_t *d = r->acct;
        cairn_json_push(&list,
                        json_pack("{s:o, s:o, s:I, s:o, s:o, s:o, s:o, s:I, s:o, s:o}", "name",
                                  cairn_json_str(r->name), "parent",
                                  d && d->parent ? cairn_json_str(d->parent) : json_null(), "share",
                                  (json_int_t)(d ? d->share : 1), "max_gpus",
                                  limit_json(d ? d->max_gpus : SCHED_UNLIMITED), "max_cpus",
                                  limit_json(d ? d->max_cpus : SCHED_UNLIMITED), "max_running",
                                  limit_json(d ? d->max_running : SCHED_UNLIMITED), "max_priority",
                                  d && d->max_priority != SCHED_NO_PRIORITY_CAP
                                      ? json_integer(d->max_priority)
                                      : json_null(),
                                  "jobs", (json_int_t)r->jobs, "actual",
                                  res->rows->have_act ? fig_json(&r->act) : json_null(),
                                  "predicted", fig_json(&r->pred)));
    }
    for (size_t i = 0; i < a->nunknown; i++)
        cairn_json_push(&unknown, cairn_json_str(a->unknown[i]));
    return json_pack("{s:s, s:o, s:I, s:I, s:o, s:o}", "from", a->from, "source",
                     cairn_json_str(a->source), "gpu_weight", (json_int_t)a->gpu_weight,
                     "half_life_ms", (json_int_t)a->half_life_ms, "unknown", unknown, "list", list);
}

/* Preemption: how the replay preempted, what the records and the replay
 * preempted (attempts, decisions, GPU-seconds lost). */
static json_t *preempt_json(const plan_work_t *w, const plan_result_t *res)
{
    const sched_sim_stats_t *st = res->st;
    return json_pack(
        "{s:s, s:o, s:{s:o, s:o, s:o}}", "mode", res->preemption, "recorded",
        w->t->recorded ? json_pack("{s:o, s:o}", "attempts", cairn_json_u64(w->rec_preempted),
                                   "lost_gpu_s", cairn_json_fixed(w->rec_preempted_gpu_s, 3))
                       : json_null(),
        "predicted", "attempts", cairn_json_u64(st->preempted_attempts), "decisions",
        cairn_json_u64(st->preemptions), "lost_gpu_s", cairn_json_fixed(st->preempted_gpu_s, 3));
}

int plan_print_json(const plan_opts_t *o, const plan_work_t *w, const plan_cluster_t *base,
                    const plan_cluster_t *cl, const plan_result_t *res)
{
    const sched_sim_stats_t *st = res->st;
    const plan_match_t *m = res->m;
    json_t *replay =
        m && w->t->recorded
            ? json_pack("{s:I, s:I, s:I}", "attempts", (json_int_t)m->attempts, "same_node",
                        (json_int_t)m->same_node, "same_time", (json_int_t)m->same_time)
            : json_null();
    return ui_print_json(
        json_pack("{s:{s:o, s:b, s:I, s:I, s:I}, s:{s:o, s:I, s:I, s:I, s:I}, "
                  "s:{s:o, s:o, s:I, s:I, s:o}, s:o, s:o, s:o, s:o, s:o}",
                  "trace", "source", cairn_json_str(w->t->source), "recorded", w->t->recorded,
                  "jobs", (json_int_t)w->njobs, "tasks", (json_int_t)w->ntasks, "records",
                  (json_int_t)w->t->n, "cluster", "source", cairn_json_str(o->cluster), "nodes",
                  (json_int_t)base->n, "gpus", (json_int_t)gpu_count(base), "what_if_nodes",
                  (json_int_t)cl->n, "what_if_gpus", (json_int_t)gpu_count(cl), "simulation",
                  "events", cairn_json_u64(st->events), "passes", cairn_json_u64(st->passes),
                  "rejected_jobs", (json_int_t)st->rejected, "unplaced_tasks",
                  (json_int_t)st->unplaced, "first_rejection", cairn_json_str(st->first_rejection),
                  "replay", replay, "actual", plan_report_json(res->act, res->bsim), "predicted",
                  plan_report_json(res->pred, res->sim), "accounts", accounts_json(res),
                  "preemption", preempt_json(w, res)),
        CAIRN_JSON_LINE);
}
