/* Matrix expansion and needs: templates (spec_task_t) into TaskSpecs, then
 * duplicate names and needs resolved against the expanded job. */
#include "cluster/spec_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/grow.h"
#include "common/strbuf.h"

typedef struct expand {
    spec_ctx_t *c;
    spec_task_t *tasks;
    size_t ntasks;
    Cairn__JobSpec *js;
    size_t *tmpl_of;     /* expanded task -> template */
    size_t *needs_cap;   /* expanded task -> room in its needs */
    bool clean;          /* no problem reported before expansion */
    spec_where_t *where; /* NULL: places not kept */
} expand_t;

/* idx[k] for combination i: first key outermost. */
static void combo(const spec_task_t *t, size_t i, size_t *idx)
{
    for (size_t k = t->nkeys; k-- > 0;) {
        idx[k] = i % t->vals[k].n;
        i /= t->vals[k].n;
    }
}

/* The text of b once charged to the spec's budget; NULL (b emptied) when
 * out of memory or over the budget. */
static char *charged(expand_t *x, const spec_task_t *t, cairn_buf_t *b)
{
    if (b->oom || !spec_charge(x->c, t->mark, b->len + 1)) {
        x->c->oom |= b->oom;
        cairn_buf_fini(b);
        return NULL;
    }
    char *s = cairn_buf_take(b);
    x->c->oom |= !s;
    return s;
}

/* A budgeted copy of s with ${{ matrix.K }} replaced; NULL on failure. */
static char *subst(expand_t *x, const spec_task_t *t, const size_t *idx, const char *s)
{
    cairn_buf_t b = {0};
    const char *p = s;
    for (const char *e = strstr(p, "${{"); e; e = strstr(p, "${{")) {
        const char *key;
        size_t klen, len = spec_subst_expr(e, &key, &klen);
        size_t k = t->nkeys;
        for (size_t j = 0; len && j < t->nkeys; j++)
            if (strlen(t->keys[j]) == klen && strncmp(t->keys[j], key, klen) == 0)
                k = j;
        if (k == t->nkeys) {
            /* Task strings were checked when parsed, so this one came from
             * defaults; kept as written. One report, and only if nothing
             * else was wrong (then it may be a consequence). */
            if (x->clean && !t->bad_matrix)
                spec_error(x->c, t->mark, "task '%s': bad or unknown '${{ %.*s }}' in defaults",
                           t->name, len ? (int)klen : 0, len ? key : "");
            x->clean = false;
            size_t skip = len ? len : 3;
            cairn_buf_add(&b, p, (size_t)(e - p) + skip);
            p = e + skip;
            continue;
        }
        cairn_buf_add(&b, p, (size_t)(e - p));
        const char *v = t->vals[k].v[idx[k]];
        cairn_buf_add(&b, v, strlen(v));
        p = e + len;
    }
    cairn_buf_add(&b, p, strlen(p));
    return charged(x, t, &b);
}

static char *task_name(expand_t *x, const spec_task_t *t, const size_t *idx)
{
    cairn_buf_t b = {0};
    cairn_buf_add(&b, t->name, strlen(t->name));
    for (size_t k = 0; k < t->nkeys; k++) {
        cairn_buf_add(&b, k ? "," : "[", 1);
        cairn_buf_add(&b, t->keys[k], strlen(t->keys[k]));
        cairn_buf_add(&b, "=", 1);
        cairn_buf_add(&b, t->vals[k].v[idx[k]], strlen(t->vals[k].v[idx[k]]));
    }
    if (t->nkeys)
        cairn_buf_add(&b, "]", 1);
    return charged(x, t, &b);
}

static int kv_list(expand_t *x, const spec_task_t *t, const size_t *idx, const spec_kv_t *kv,
                   bool sub, Cairn__KeyValue ***out, size_t *nout)
{
    if (kv->n == 0)
        return 0;
    if (!(*out = calloc(kv->n, sizeof(**out))))
        return -1;
    for (size_t i = 0; i < kv->n; i++) {
        Cairn__KeyValue *e = malloc(sizeof(*e));
        if (!e)
            return -1;
        cairn__key_value__init(e);
        (*out)[(*nout)++] = e;
        e->key = spec_strdup(x->c, t->mark, kv->keys[i]);
        e->value = sub ? subst(x, t, idx, kv->vals[i]) : spec_strdup(x->c, t->mark, kv->vals[i]);
        if (!e->key || !e->value)
            return -1; /* NULL fields are fine for free_unpacked */
    }
    return 0;
}

static int strv_list(expand_t *x, const spec_task_t *t, const size_t *idx, const spec_strv_t *v,
                     char ***out, size_t *nout)
{
    if (v->n == 0)
        return 0;
    if (!(*out = calloc(v->n, sizeof(**out))))
        return -1;
    for (size_t i = 0; i < v->n; i++) {
        char *s = subst(x, t, idx, v->v[i]);
        if (!s)
            return -1;
        (*out)[(*nout)++] = s;
    }
    return 0;
}

/* The declared inputs (paths only: cairn submit hashes them). */
static int input_list(expand_t *x, const spec_task_t *t, const size_t *idx, Cairn__TaskSpec *ts)
{
    ts->cache = t->cache;
    if (t->inputs.n == 0)
        return 0;
    if (!(ts->inputs = calloc(t->inputs.n, sizeof(*ts->inputs))))
        return -1;
    for (size_t i = 0; i < t->inputs.n; i++) {
        Cairn__OutputHash *h = malloc(sizeof(*h));
        if (!h)
            return -1;
        cairn__output_hash__init(h);
        ts->inputs[ts->n_inputs++] = h;
        if (!(h->path = subst(x, t, idx, t->inputs.v[i])))
            return -1;
    }
    return 0;
}

static int fill_resources(expand_t *x, const spec_task_t *t, Cairn__TaskSpec *ts)
{
    const spec_opts_t *o = &t->o;
    Cairn__ResourceRequest *r = malloc(sizeof(*r));
    if (!r)
        return -1;
    cairn__resource_request__init(r);
    ts->resources = r;
    r->cpus = o->cpus;
    r->memory_bytes = o->memory;
    r->gpus = o->gpus;
    r->gpu_min_memory_bytes = o->gpu_min_memory;
    r->gpu_mixed = o->gpu_mixed;
    if (o->gpu_model && !(r->gpu_model = spec_strdup(x->c, t->mark, o->gpu_model)))
        return -1;
    if (o->mig && !(r->mig = spec_strdup(x->c, t->mark, o->mig)))
        return -1;
    if (kv_list(x, t, NULL, &o->labels, false, &r->labels, &r->n_labels) < 0)
        return -1;
    Cairn__RetryPolicy *p = malloc(sizeof(*p));
    if (!p)
        return -1;
    cairn__retry_policy__init(p);
    ts->retry = p;
    p->max_attempts = o->attempts;
    p->backoff_base_ms = o->backoff_ms;
    p->backoff_factor_milli = o->factor_milli;
    p->max_backoff_ms = o->max_backoff_ms;
    p->jitter_percent = o->jitter;
    p->retry_on_node_lost = o->on_node_lost;
    p->retry_on_timeout = o->on_timeout;
    p->retry_on_signal = o->on_signal;
    p->retry_on_any_nonzero_exit = o->on_any;
    p->retry_on_oom = o->on_oom;
    p->retry_on_gpu_error = o->on_gpu_error;
    if (o->on_log && !(p->retry_on_log = spec_strdup(x->c, t->mark, o->on_log)))
        return -1;
    if (o->nexit_codes) {
        if (!(p->retry_on_exit_codes = malloc(o->nexit_codes * sizeof(int32_t))))
            return -1;
        memcpy(p->retry_on_exit_codes, o->exit_codes, o->nexit_codes * sizeof(int32_t));
        p->n_retry_on_exit_codes = o->nexit_codes;
    }
    return 0;
}

/* One TaskSpec, combination i of template t; -1 stops the expansion. */
static int fill_task(expand_t *x, const spec_task_t *t, size_t i, Cairn__TaskSpec *ts)
{
    size_t idx[t->nkeys + 1];
    combo(t, i, idx);
    if (!(ts->name = task_name(x, t, idx)))
        return -1;
    if (t->kind && !(ts->kind = spec_strdup(x->c, t->mark, t->kind)))
        return -1;
    if (t->o.workdir && !(ts->workdir = subst(x, t, idx, t->o.workdir)))
        return -1;
    ts->shell = t->has_shell;
    ts->replicas = t->replicas;
    ts->priority = t->o.priority;
    ts->time_limit_ms = t->o.time_limit_ms;
    ts->preemptible = t->o.preemptible;
    ts->signal_before_limit_ms = t->o.signal_before_limit_ms;
    if (t->placement_level) {
        if (!(ts->placement = malloc(sizeof(*ts->placement))))
            return x->c->oom = true, -1;
        cairn__task_placement__init(ts->placement);
        char *lv = spec_strdup(x->c, t->placement_mark, t->placement_level);
        if (!lv)
            return -1;
        if (t->placement == SCHED_PLACEMENT_PACK)
            ts->placement->pack = lv;
        else
            ts->placement->require = lv;
    }
    if (t->o.ckpt_signal || t->o.ckpt_grace_ms || t->o.ckpt_dir) {
        if (!(ts->checkpoint = malloc(sizeof(*ts->checkpoint))))
            return x->c->oom = true, -1;
        cairn__checkpoint__init(ts->checkpoint);
        ts->checkpoint->signal = t->o.ckpt_signal;
        ts->checkpoint->grace_ms = t->o.ckpt_grace_ms;
        if (t->o.ckpt_dir && !(ts->checkpoint->dir = subst(x, t, idx, t->o.ckpt_dir)))
            return -1;
    }
    if (strv_list(x, t, idx, &t->argv, &ts->argv, &ts->n_argv) < 0 ||
        strv_list(x, t, idx, &t->outputs, &ts->outputs, &ts->n_outputs) < 0 ||
        input_list(x, t, idx, ts) < 0 ||
        kv_list(x, t, idx, &t->o.env, true, &ts->env, &ts->n_env) < 0 ||
        fill_resources(x, t, ts) < 0)
        return -1;
    return 0;
}

static int name_cmp(const void *a, const void *b, void *arg)
{
    Cairn__TaskSpec **ts = arg;
    const size_t *x = a, *y = b;
    int r = strcmp(ts[*x]->name, ts[*y]->name);
    return r ? r : (*x < *y ? -1 : *x > *y);
}

static void check_duplicates(expand_t *x)
{
    size_t n = x->js->n_tasks;
    size_t *order = malloc((n + 1) * sizeof(*order));
    if (!order) {
        x->c->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    qsort_r(order, n, sizeof(*order), name_cmp, x->js->tasks);
    for (size_t i = 1; i < n; i++) {
        Cairn__TaskSpec *a = x->js->tasks[order[i - 1]], *b = x->js->tasks[order[i]];
        if (strcmp(a->name, b->name) != 0)
            continue;
        const spec_task_t *ta = &x->tasks[x->tmpl_of[order[i - 1]]];
        const spec_task_t *tb = &x->tasks[x->tmpl_of[order[i]]];
        if (ta == tb && i >= 2 && strcmp(x->js->tasks[order[i - 2]]->name, b->name) == 0)
            continue; /* one report per template and name */
        spec_error(x->c, tb->mark, "duplicate task name '%s' (also at line %zu)", b->name,
                   ta->mark.line + 1);
    }
    free(order);
}

/* Expanded task e needs name, from its template's need j. */
static int add_need(expand_t *x, size_t e, uint32_t j, const char *name)
{
    Cairn__TaskSpec *ts = x->js->tasks[e];
    if (spec_where_need(x->where, e, j) < 0)
        return x->c->oom = true, -1;
    if (CAIRN_GROW(ts->needs, x->needs_cap[e], ts->n_needs + 1) < 0)
        return x->c->oom = true, -1;
    yaml_mark_t m = {0};
    char *d = spec_strdup(x->c, m, name);
    if (!d)
        return -1;
    ts->needs[ts->n_needs++] = d;
    return 0;
}

static const spec_task_t *find_template(expand_t *x, const char *name)
{
    for (size_t i = 0; i < x->ntasks; i++)
        if (x->tasks[i].name && strcmp(x->tasks[i].name, name) == 0)
            return &x->tasks[i];
    return NULL;
}

static bool same_keys(const spec_task_t *t, const spec_task_t *u)
{
    if (t->nkeys == 0 || t->nkeys != u->nkeys)
        return false;
    for (size_t k = 0; k < u->nkeys; k++) {
        bool found = false;
        for (size_t j = 0; j < t->nkeys && !found; j++)
            found = strcmp(t->keys[j], u->keys[k]) == 0;
        if (!found)
            return false;
    }
    return true;
}

/* u's combination with the values of t's combination i; SIZE_MAX if none. */
static size_t matching_combo(const spec_task_t *t, size_t i, const spec_task_t *u)
{
    size_t tidx[t->nkeys + 1];
    combo(t, i, tidx);
    size_t j = 0;
    for (size_t k = 0; k < u->nkeys; k++) {
        size_t p = 0;
        while (strcmp(t->keys[p], u->keys[k]) != 0)
            p++;
        const char *v = t->vals[p].v[tidx[p]];
        size_t m = 0;
        while (m < u->vals[k].n && strcmp(u->vals[k].v[m], v) != 0)
            m++;
        if (m == u->vals[k].n)
            return SIZE_MAX;
        j = j * u->vals[k].n + m;
    }
    return j;
}

static void unknown_need(expand_t *x, const char *name, yaml_mark_t m)
{
    const char *best = NULL;
    size_t bd = 3;
    for (size_t i = 0; i < x->ntasks; i++) {
        if (!x->tasks[i].name)
            continue;
        size_t d = spec_levenshtein(name, x->tasks[i].name, 2);
        if (d < bd) {
            bd = d;
            best = x->tasks[i].name;
        }
    }
    if (best)
        spec_error(x->c, m, "needs unknown task '%s' (did you mean '%s'?)", name, best);
    else
        spec_error(x->c, m, "needs unknown task '%s'", name);
}

/* The needs of every expansion of t, for its need number j. */
static void resolve_need(expand_t *x, const spec_task_t *t, size_t j)
{
    const char *name = t->needs.v[j];
    const spec_task_t *u = find_template(x, name);
    Cairn__TaskSpec **ts = x->js->tasks + t->first;
    if (!u) {
        for (size_t e = 0; e < x->js->n_tasks; e++) {
            if (strcmp(x->js->tasks[e]->name, name) == 0) {
                for (size_t i = 0; i < t->count; i++)
                    add_need(x, t->first + i, (uint32_t)j, name);
                return;
            }
        }
        unknown_need(x, name, t->needs.marks[j]);
        return;
    }
    bool own = same_keys(t, u);
    for (size_t i = 0; i < t->count && !x->c->over_budget && !x->c->oom; i++) {
        if (!own) {
            for (size_t e = 0; e < u->count; e++)
                add_need(x, t->first + i, (uint32_t)j, x->js->tasks[u->first + e]->name);
            continue;
        }
        size_t e = matching_combo(t, i, u);
        if (e == SIZE_MAX) {
            spec_error(x->c, t->needs.marks[j], "'%s' has no matrix combination for '%s'", name,
                       ts[i]->name);
            return;
        }
        add_need(x, t->first + i, (uint32_t)j, x->js->tasks[u->first + e]->name);
    }
}

static void build(expand_t *x)
{
    spec_ctx_t *c = x->c;
    size_t total = 0;
    for (size_t i = 0; i < x->ntasks; i++)
        total += x->tasks[i].count;
    x->js->tasks = calloc(total + 1, sizeof(*x->js->tasks));
    x->tmpl_of = calloc(total + 1, sizeof(*x->tmpl_of));
    x->needs_cap = calloc(total + 1, sizeof(*x->needs_cap));
    if (!x->js->tasks || !x->tmpl_of || !x->needs_cap) {
        c->oom = true;
        return;
    }
    if (x->where) {
        if (!(x->where->task = calloc(total + 1, sizeof(*x->where->task)))) {
            c->oom = true;
            return;
        }
        x->where->ntasks = total;
    }
    for (size_t i = 0; i < x->ntasks; i++) {
        spec_task_t *t = &x->tasks[i];
        t->first = x->js->n_tasks;
        for (size_t e = 0; e < t->count; e++) {
            Cairn__TaskSpec *ts = malloc(sizeof(*ts));
            if (!ts) {
                c->oom = true;
                return;
            }
            cairn__task_spec__init(ts);
            x->tmpl_of[x->js->n_tasks] = i;
            if (x->where)
                x->where->task[x->js->n_tasks].tmpl = i;
            x->js->tasks[x->js->n_tasks++] = ts;
            if (fill_task(x, t, e, ts) < 0) {
                c->oom |= !c->over_budget && c->ndiag == 0;
                return;
            }
        }
    }
}

void spec_expand(spec_ctx_t *c, spec_task_t *tasks, size_t n, Cairn__JobSpec *js, spec_where_t *w)
{
    expand_t x = {
        .c = c, .tasks = tasks, .ntasks = n, .js = js, .clean = c->ndiag == 0, .where = w};
    if (c->total_tasks > SPEC_MAX_TASKS)
        return;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!tasks[i].name)
            tasks[i].count = 0; /* reported; the others are still checked */
        total += tasks[i].count;
    }
    build(&x);
    if (!c->oom && !c->over_budget && js->n_tasks == total) {
        check_duplicates(&x);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < tasks[i].needs.n; j++)
                resolve_need(&x, &tasks[i], j);
    }
    free(x.tmpl_of);
    free(x.needs_cap);
}
