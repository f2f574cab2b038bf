/* Wire and journal messages <-> scheduling core types. */
#include "scheduler/convert.h"
#include "proto/validate.h"

#include "proto/sha256.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Declared outputs per task: what a worker hashes (worker/outputs.h). */
#define CONV_MAX_OUTPUTS 1024u

const conv_limits_t conv_default_limits = {
    .max_tasks = 1000000,
    .max_argv = 4096,
    .max_env = 4096,
    .max_needs = 4096,
    .max_string = 128 * 1024,
};

struct conv_job {
    sched_job_spec_t spec;
    sched_task_spec_t *tasks;
    const char **strs; /* all pointer arrays of all tasks, one block */
    char **owned;      /* strings we made ("K=V", shell argv) */
    size_t nowned;
};

int conv_errors_add(conv_errors_t *e, const char *path, const char *fmt, ...)
{
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        Cairn__SpecError **v = realloc(e->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        e->v = v;
        e->cap = cap;
    }
    Cairn__SpecError *se = malloc(sizeof(*se));
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!se)
        return -ENOMEM;
    cairn__spec_error__init(se);
    se->path = strdup(path ? path : "");
    se->message = strdup(msg);
    e->v[e->n++] = se;
    return 0;
}

void conv_errors_fini(conv_errors_t *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->v[i]->path);
        free(e->v[i]->message);
        free(e->v[i]);
    }
    free(e->v);
    memset(e, 0, sizeof(*e));
}

uint64_t conv_job_seed(const Cairn__JobSpec *js)
{
    if (js->seed_present_case == CAIRN__JOB_SPEC__SEED_PRESENT_SEED)
        return js->seed;
    /* derived from the spec's content: same spec, same seed */
    uint64_t h = 0xcbf29ce484222325ull;
    const char *parts[] = {js->spec_sha256, js->name};
    for (size_t i = 0; i < 2; i++)
        for (const unsigned char *p = (const unsigned char *)(parts[i] ? parts[i] : ""); *p; p++)
            h = (h ^ *p) * 0x100000001b3ull;
    for (size_t t = 0; t < js->n_tasks && !(js->spec_sha256 && *js->spec_sha256); t++)
        for (size_t a = 0; a < js->tasks[t]->n_argv; a++)
            for (const unsigned char *p = (const unsigned char *)js->tasks[t]->argv[a]; p && *p;
                 p++)
                h = (h ^ *p) * 0x100000001b3ull;
    return h & 0xffffffffull;
}

static char *own(conv_job_t *cj, char *s)
{
    if (s)
        cj->owned[cj->nowned++] = s;
    return s;
}

static bool str_ok(const char *s, const conv_limits_t *lim)
{
    return !s || strlen(s) <= lim->max_string;
}

/* Edge checks that the core does not make (sizes, shapes). */
static void check_task(const Cairn__TaskSpec *t, size_t i, const conv_limits_t *lim,
                       conv_errors_t *errs)
{
    char path[64];
    snprintf(path, sizeof(path), "tasks[%zu]", i);
    if (t->n_argv > lim->max_argv)
        conv_errors_add(errs, path, "task %s: %zu arguments (at most %u)", t->name, t->n_argv,
                        lim->max_argv);
    /* one directory component of a worker's log path (validate.h) */
    const char *why = cairn_name_problem(t->name, lim->max_string, false);
    if (why)
        conv_errors_add(errs, path, "task name '%.64s' %s", t->name ? t->name : "", why);
    if (t->n_needs > lim->max_needs)
        conv_errors_add(errs, path, "task %.64s: %zu needs (at most %u)", t->name, t->n_needs,
                        lim->max_needs);
    if (t->n_env > lim->max_env)
        conv_errors_add(errs, path, "task %s: %zu env entries (at most %u)", t->name, t->n_env,
                        lim->max_env);
    bool long_str = !str_ok(t->name, lim) || !str_ok(t->workdir, lim) || !str_ok(t->kind, lim);
    for (size_t k = 0; k < t->n_argv && !long_str; k++)
        long_str = !str_ok(t->argv[k], lim);
    for (size_t k = 0; k < t->n_env && !long_str; k++)
        long_str = !t->env[k] || !str_ok(t->env[k]->key, lim) || !str_ok(t->env[k]->value, lim);
    for (size_t k = 0; k < t->n_outputs && !long_str; k++)
        long_str = !str_ok(t->outputs[k], lim);
    if (t->n_outputs > CONV_MAX_OUTPUTS)
        conv_errors_add(errs, path, "task %s: %zu outputs (at most %u)", t->name, t->n_outputs,
                        CONV_MAX_OUTPUTS);
    if (long_str)
        conv_errors_add(errs, path, "task %s: a string is longer than %zu bytes", t->name,
                        lim->max_string);
    if (t->shell && t->n_argv != 1)
        conv_errors_add(errs, path, "task %s: a shell task has exactly one script", t->name);
    for (size_t k = 0; k < t->n_env; k++)
        if (t->env[k] && (!t->env[k]->key[0] || strchr(t->env[k]->key, '=')))
            conv_errors_add(errs, path, "task %s: env name '%s' is empty or has '='", t->name,
                            t->env[k]->key);
    if (t->time_limit_ms > (uint64_t)INT64_MAX / 4)
        conv_errors_add(errs, path, "task %s: time limit out of range", t->name);
    if (t->cache && (!t->workdir || !t->workdir[0] || t->n_outputs == 0))
        conv_errors_add(errs, path,
                        "task %s: cache needs a workdir and declared outputs (what is reused)",
                        t->name);
    if (t->cache && t->replicas > 1)
        conv_errors_add(errs, path, "task %s: a gang (replicas > 1) cannot be cached", t->name);
    if (t->n_inputs > CONV_MAX_OUTPUTS)
        conv_errors_add(errs, path, "task %s: %zu inputs (at most %u)", t->name, t->n_inputs,
                        CONV_MAX_OUTPUTS);
    for (size_t k = 0; k < t->n_inputs; k++) {
        const Cairn__OutputHash *in = t->inputs[k];
        /* recorded in the provenance as sent: 64 lower-case hex digits */
        if (!in || !in->path || !str_ok(in->path, lim) || !in->sha256 || strlen(in->sha256) != 64 ||
            strspn(in->sha256, "0123456789abcdef") != 64)
            conv_errors_add(errs, path, "task %s: input %zu has no SHA-256 (%s)", t->name, k,
                            in && in->error && in->error[0] ? in->error : "not hashed");
    }
}

static void fill_retry(sched_retry_policy_t *r, const Cairn__RetryPolicy *p)
{
    memset(r, 0, sizeof(*r));
    if (!p)
        return;
    r->max_attempts = p->max_attempts;
    r->backoff_ms = p->backoff_base_ms > INT64_MAX / 4 ? -1 : (int64_t)p->backoff_base_ms;
    r->factor_milli = p->backoff_factor_milli;
    r->max_backoff_ms = p->max_backoff_ms > INT64_MAX / 4 ? -1 : (int64_t)p->max_backoff_ms;
    r->jitter_pct = p->jitter_percent;
    r->on = (p->retry_on_node_lost ? SCHED_RETRY_NODE_LOST : 0) |
            (p->retry_on_timeout ? SCHED_RETRY_TIMEOUT : 0) |
            (p->retry_on_signal ? SCHED_RETRY_SIGNAL : 0) |
            (p->retry_on_any_nonzero_exit ? SCHED_RETRY_ANY_EXIT : 0);
    r->nexit_codes = (uint32_t)p->n_retry_on_exit_codes;
    for (size_t i = 0; i < p->n_retry_on_exit_codes && i < SCHED_RETRY_MAX_EXIT_CODES; i++)
        r->exit_codes[i] = p->retry_on_exit_codes[i];
}

/* A number as a hashed field (cairn_sha256_field). */
static void hash_u64(cairn_sha256_ctx_t *c, uint64_t v)
{
    char s[24];
    snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
    cairn_sha256_field(c, s);
}

/* The part of a cached task's key known at submit (scheduler/cache.h):
 * its resolved command, env, workdir, seed, resource shape, replicas and
 * the content hashes of its inputs. */
static char *cache_base(const sched_task_spec_t *ts, const Cairn__TaskSpec *t, uint64_t seed)
{
    cairn_sha256_ctx_t c;
    cairn_sha256_init(&c);
    cairn_sha256_field(&c, "cairn-cache-v1");
    hash_u64(&c, ts->argc);
    for (uint32_t k = 0; k < ts->argc; k++)
        cairn_sha256_field(&c, ts->argv[k]);
    hash_u64(&c, ts->nenv);
    for (uint32_t k = 0; k < ts->nenv; k++)
        cairn_sha256_field(&c, ts->env[k]);
    cairn_sha256_field(&c, ts->workdir);
    hash_u64(&c, sched_seed_derive(seed, ts->name, 0));
    hash_u64(&c, ts->req.cpus);
    hash_u64(&c, ts->req.memory_bytes);
    hash_u64(&c, ts->req.gpus);
    cairn_sha256_field(&c, ts->req.gpu_model);
    hash_u64(&c, ts->req.gpu_min_memory);
    hash_u64(&c, ts->req.nlabels);
    for (uint32_t k = 0; k < ts->req.nlabels; k++)
        cairn_sha256_field(&c, ts->req.labels[k]);
    hash_u64(&c, ts->replicas);
    hash_u64(&c, t->n_inputs);
    for (size_t k = 0; k < t->n_inputs; k++) {
        cairn_sha256_field(&c, t->inputs[k]->path);
        cairn_sha256_field(&c, t->inputs[k]->sha256);
    }
    uint8_t d[CAIRN_SHA256_LEN];
    cairn_sha256_final(&c, d);
    char *hex = malloc(2 * CAIRN_SHA256_LEN + 1);
    if (hex)
        cairn_sha256_to_hex(d, hex);
    return hex;
}

static int fill_task(conv_job_t *cj, sched_task_spec_t *ts, const Cairn__TaskSpec *t,
                     const char ***cursor, uint64_t seed, bool no_cache)
{
    const char **p = *cursor;
    ts->name = t->name;
    ts->kind = t->kind;
    ts->workdir = t->workdir && t->workdir[0] ? t->workdir : NULL;
    if (t->shell && t->n_argv == 1) {
        p[0] = "/bin/sh";
        p[1] = "-c";
        p[2] = t->argv[0];
        ts->argc = 3;
    } else {
        for (size_t k = 0; k < t->n_argv; k++)
            p[k] = t->argv[k];
        ts->argc = (uint32_t)t->n_argv;
    }
    ts->argv = p;
    p += ts->argc;
    for (size_t k = 0; k < t->n_env; k++) {
        const char *key = t->env[k] ? t->env[k]->key : "";
        const char *val = t->env[k] ? t->env[k]->value : "";
        char *kv = malloc(strlen(key) + strlen(val) + 2);
        if (!kv)
            return -ENOMEM;
        sprintf(kv, "%s=%s", key, val);
        p[k] = own(cj, kv);
    }
    ts->env = p;
    ts->nenv = (uint32_t)t->n_env;
    p += t->n_env;
    for (size_t k = 0; k < t->n_outputs; k++)
        p[k] = t->outputs[k];
    ts->outputs = p;
    ts->noutputs = (uint32_t)t->n_outputs;
    p += t->n_outputs;
    for (size_t k = 0; k < t->n_needs; k++)
        p[k] = t->needs[k];
    ts->needs = p;
    ts->nneeds = (uint32_t)t->n_needs;
    p += t->n_needs;
    const Cairn__ResourceRequest *rq = t->resources;
    if (rq) {
        ts->req.cpus = rq->cpus;
        ts->req.memory_bytes = rq->memory_bytes;
        ts->req.gpus = rq->gpus;
        ts->req.gpu_model = rq->gpu_model && rq->gpu_model[0] ? rq->gpu_model : NULL;
        ts->req.gpu_min_memory = rq->gpu_min_memory_bytes;
        ts->req.gpu_mixed = rq->gpu_mixed;
        for (size_t k = 0; k < rq->n_labels; k++) {
            const Cairn__KeyValue *kv = rq->labels[k];
            char *s = malloc(strlen(kv->key) + strlen(kv->value) + 2);
            if (!s)
                return -ENOMEM;
            sprintf(s, "%s=%s", kv->key, kv->value);
            p[k] = own(cj, s);
        }
        ts->req.labels = p;
        ts->req.nlabels = (uint32_t)rq->n_labels;
        p += rq->n_labels;
    } else {
        ts->req.cpus = 1;
    }
    ts->replicas = t->replicas;
    ts->priority = t->priority;
    ts->time_limit_ms = (int64_t)t->time_limit_ms;
    fill_retry(&ts->retry, t->retry);
    if (t->cache) {
        char *base = cache_base(ts, t, seed);
        if (!base)
            return -ENOMEM;
        ts->cache_base = own(cj, base);
        ts->cache_reuse = !no_cache;
    }
    *cursor = p;
    return 0;
}

int conv_job_build(const Cairn__JobSpec *js, uint64_t seed, const conv_limits_t *lim,
                   conv_job_t **out, conv_errors_t *errs)
{
    size_t before = errs->n;
    if (!lim)
        lim = &conv_default_limits;
    if (js->n_tasks > lim->max_tasks) {
        conv_errors_add(errs, "tasks", "job has %zu tasks (at most %u)", js->n_tasks,
                        lim->max_tasks);
        return (int)(errs->n - before);
    }
    if (!str_ok(js->name, lim) || !str_ok(js->submitter, lim))
        conv_errors_add(errs, "name", "a string is longer than %zu bytes", lim->max_string);
    size_t nptr = 0, nown = 0;
    for (size_t i = 0; i < js->n_tasks; i++) {
        const Cairn__TaskSpec *t = js->tasks[i];
        check_task(t, i, lim, errs);
        size_t nl = t->resources ? t->resources->n_labels : 0;
        nptr += t->n_argv + 3 + t->n_env + t->n_outputs + t->n_needs + nl;
        nown += t->n_env + nl + (t->cache ? 1 : 0);
    }
    if (errs->n > before)
        return (int)(errs->n - before);
    conv_job_t *cj = calloc(1, sizeof(*cj));
    if (!cj)
        return -ENOMEM;
    cj->tasks = calloc(js->n_tasks ? js->n_tasks : 1, sizeof(sched_task_spec_t));
    cj->strs = malloc((nptr ? nptr : 1) * sizeof(char *));
    cj->owned = malloc((nown ? nown : 1) * sizeof(char *));
    if (!cj->tasks || !cj->strs || !cj->owned) {
        conv_job_destroy(cj);
        return -ENOMEM;
    }
    const char **cursor = cj->strs;
    for (size_t i = 0; i < js->n_tasks; i++)
        if (fill_task(cj, &cj->tasks[i], js->tasks[i], &cursor, seed, js->no_cache) < 0) {
            conv_job_destroy(cj);
            return -ENOMEM;
        }
    cj->spec = (sched_job_spec_t){.name = js->name,
                                  .seed = seed,
                                  .user = js->submitter,
                                  .ntasks = (uint32_t)js->n_tasks,
                                  .tasks = cj->tasks};
    *out = cj;
    return 0;
}

const sched_job_spec_t *conv_job_spec(const conv_job_t *cj)
{
    return &cj->spec;
}

void conv_job_destroy(conv_job_t *cj)
{
    if (!cj)
        return;
    for (size_t i = 0; i < cj->nowned; i++)
        free(cj->owned[i]);
    free(cj->owned);
    free(cj->strs);
    free(cj->tasks);
    free(cj);
}

/* --- journal entries ----------------------------------------------------- */

static int pack_node_add(const sched_node_desc_t *d, Cairn__JournalEntry *e, Cairn__JNodeAdd *na,
                         uint8_t **buf, size_t *len)
{
    uint32_t *core_numa = calloc((size_t)d->ncores + 1, sizeof(uint32_t));
    Cairn__JGpu *gpus = calloc((size_t)d->ngpus + 1, sizeof(Cairn__JGpu));
    Cairn__JGpu **gptrs = calloc((size_t)d->ngpus + 1, sizeof(Cairn__JGpu *));
    int rc = -ENOMEM;
    if (!core_numa || !gpus || !gptrs)
        goto out;
    na->name = (char *)d->name;
    na->n_numa_memory = (size_t)d->nnuma;
    na->numa_memory = (uint64_t *)d->numa_memory;
    for (int i = 0; i < d->ncores; i++)
        core_numa[i] = (uint32_t)d->core_numa[i];
    na->n_core_numa = (size_t)d->ncores;
    na->core_numa = core_numa;
    for (int i = 0; i < d->ngpus; i++) {
        const sched_gpu_desc_t *g = &d->gpus[i];
        cairn__jgpu__init(&gpus[i]);
        gpus[i].vendor = (char *)(g->vendor ? g->vendor : "");
        gpus[i].model = (char *)(g->model ? g->model : "");
        gpus[i].uuid = (char *)(g->uuid ? g->uuid : "");
        gpus[i].pci_bus_id = (char *)(g->pci_bus_id ? g->pci_bus_id : "");
        gpus[i].memory_bytes = g->memory_bytes;
        gpus[i].numa = g->numa;
        gpus[i].group = g->group;
        gptrs[i] = &gpus[i];
    }
    na->n_gpus = (size_t)d->ngpus;
    na->gpus = gptrs;
    na->n_labels = (size_t)d->nlabels;
    na->labels = (char **)d->labels;
    e->event_case = CAIRN__JOURNAL_ENTRY__EVENT_NODE_ADD;
    e->node_add = na;
    *len = cairn__journal_entry__get_packed_size(e);
    *buf = malloc(*len ? *len : 1);
    if (*buf) {
        cairn__journal_entry__pack(e, *buf);
        rc = 0;
    }
out:
    free(core_numa);
    free(gpus);
    free(gptrs);
    return rc;
}

static int pack_place(const sched_event_t *ev, Cairn__JournalEntry *e, uint8_t **buf, size_t *len)
{
    uint32_t nr = ev->u.place.nreplicas;
    Cairn__JAlloc *allocs = calloc(nr + 1, sizeof(*allocs));
    Cairn__JAlloc **ptrs = calloc(nr + 1, sizeof(*ptrs));
    int rc = -ENOMEM;
    if (!allocs || !ptrs)
        goto out;
    Cairn__JPlace pl = CAIRN__JPLACE__INIT;
    pl.job = ev->u.place.job;
    pl.task = ev->u.place.task;
    pl.attempt = ev->u.place.attempt;
    pl.after = ev->u.place.after;
    for (uint32_t i = 0; i < nr; i++) {
        const sched_alloc_desc_t *a = &ev->u.place.allocs[i];
        cairn__jalloc__init(&allocs[i]);
        allocs[i].node = a->node;
        allocs[i].n_cores = a->ncores;
        allocs[i].cores = (uint32_t *)a->cores;
        allocs[i].gpu_mask = a->gpu_mask;
        allocs[i].memory_bytes = a->memory_bytes;
        ptrs[i] = &allocs[i];
    }
    pl.n_allocs = nr;
    pl.allocs = ptrs;
    e->event_case = CAIRN__JOURNAL_ENTRY__EVENT_PLACE;
    e->place = &pl;
    *len = cairn__journal_entry__get_packed_size(e);
    *buf = malloc(*len ? *len : 1);
    if (*buf) {
        cairn__journal_entry__pack(e, *buf);
        rc = 0;
    }
out:
    free(allocs);
    free(ptrs);
    return rc;
}

int conv_event_pack(const sched_event_t *ev, const Cairn__JobSpec *js, uint64_t seed, uint8_t **buf,
                    size_t *len)
{
    Cairn__JournalEntry e = CAIRN__JOURNAL_ENTRY__INIT;
    Cairn__JNodeAdd na = CAIRN__JNODE_ADD__INIT;
    Cairn__JNodeState ns = CAIRN__JNODE_STATE__INIT;
    Cairn__JSubmit sub = CAIRN__JSUBMIT__INIT;
    Cairn__JStart st = CAIRN__JSTART__INIT;
    Cairn__JFinish fin = CAIRN__JFINISH__INIT;
    Cairn__JCancel can = CAIRN__JCANCEL__INIT;
    e.time_ms = ev->time_ms;
    switch (ev->type) {
    case SCHED_EV_NODE_ADD:
        return pack_node_add(&ev->u.node_add, &e, &na, buf, len);
    case SCHED_EV_PLACE:
        return pack_place(ev, &e, buf, len);
    case SCHED_EV_NODE_STATE:
        ns.node = ev->u.node_state.node;
        ns.state = (uint32_t)ev->u.node_state.state;
        ns.reason = (char *)(ev->u.node_state.reason ? ev->u.node_state.reason : "");
        e.event_case = CAIRN__JOURNAL_ENTRY__EVENT_NODE_STATE;
        e.node_state = &ns;
        break;
    case SCHED_EV_JOB_SUBMIT:
        if (!js)
            return -EINVAL;
        sub.job = (Cairn__JobSpec *)js;
        sub.seed = seed;
        e.event_case = CAIRN__JOURNAL_ENTRY__EVENT_SUBMIT;
        e.submit = &sub;
        break;
    case SCHED_EV_START:
        st.attempt = ev->u.start.attempt;
        e.event_case = CAIRN__JOURNAL_ENTRY__EVENT_START;
        e.start = &st;
        break;
    case SCHED_EV_FINISH:
        fin.attempt = ev->u.finish.attempt;
        fin.end = (uint32_t)ev->u.finish.end;
        fin.exit_code = ev->u.finish.exit_code;
        fin.signal = ev->u.finish.signal;
        e.event_case = CAIRN__JOURNAL_ENTRY__EVENT_FINISH;
        e.finish = &fin;
        break;
    case SCHED_EV_CANCEL:
        can.job = ev->u.cancel.job;
        can.task = ev->u.cancel.task;
        e.event_case = CAIRN__JOURNAL_ENTRY__EVENT_CANCEL;
        e.cancel = &can;
        break;
    default:
        return -EINVAL;
    }
    *len = cairn__journal_entry__get_packed_size(&e);
    *buf = malloc(*len ? *len : 1);
    if (!*buf)
        return -ENOMEM;
    cairn__journal_entry__pack(&e, *buf);
    return 0;
}

static int unpack_node_add(const Cairn__JNodeAdd *na, sched_event_t *ev, conv_hold_t *h,
                           cairn_error_t *err)
{
    h->core_numa = calloc(na->n_core_numa + 1, sizeof(int));
    h->gpus = calloc(na->n_gpus + 1, sizeof(sched_gpu_desc_t));
    if (!h->core_numa || !h->gpus)
        return errcode(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < na->n_core_numa; i++)
        h->core_numa[i] = (int)na->core_numa[i];
    for (size_t i = 0; i < na->n_gpus; i++) {
        const Cairn__JGpu *g = na->gpus[i];
        h->gpus[i] = (sched_gpu_desc_t){.vendor = g->vendor,
                                        .model = g->model,
                                        .uuid = g->uuid,
                                        .pci_bus_id = g->pci_bus_id,
                                        .memory_bytes = g->memory_bytes,
                                        .numa = g->numa,
                                        .group = g->group};
    }
    ev->type = SCHED_EV_NODE_ADD;
    ev->u.node_add = (sched_node_desc_t){.name = na->name,
                                         .nnuma = (int)na->n_numa_memory,
                                         .numa_memory = na->numa_memory,
                                         .ncores = (int)na->n_core_numa,
                                         .core_numa = h->core_numa,
                                         .ngpus = (int)na->n_gpus,
                                         .gpus = h->gpus,
                                         .nlabels = (int)na->n_labels,
                                         .labels = (const char *const *)na->labels};
    return 0;
}

int conv_event_unpack(const uint8_t *buf, size_t len, sched_event_t *ev, conv_hold_t *h,
                      const Cairn__JobSpec **js, cairn_error_t *err)
{
    memset(h, 0, sizeof(*h));
    memset(ev, 0, sizeof(*ev));
    Cairn__JournalEntry *e = cairn__journal_entry__unpack(NULL, len, buf);
    if (!e)
        return errcode(err, -EBADMSG, "journal entry does not decode");
    h->entry = e;
    ev->time_ms = e->time_ms;
    switch (e->event_case) {
    case CAIRN__JOURNAL_ENTRY__EVENT_NODE_ADD:
        return unpack_node_add(e->node_add, ev, h, err);
    case CAIRN__JOURNAL_ENTRY__EVENT_NODE_STATE:
        ev->type = SCHED_EV_NODE_STATE;
        ev->u.node_state.node = e->node_state->node;
        ev->u.node_state.state = (sched_node_state_t)e->node_state->state;
        ev->u.node_state.reason = e->node_state->reason; /* held by h->entry */
        return 0;
    case CAIRN__JOURNAL_ENTRY__EVENT_SUBMIT: {
        conv_errors_t errs = {0};
        if (!e->submit->job ||
            conv_job_build(e->submit->job, e->submit->seed, NULL, &h->job, &errs) != 0) {
            conv_errors_fini(&errs);
            return errcode(err, -EBADMSG, "journal submit does not convert");
        }
        ev->type = SCHED_EV_JOB_SUBMIT;
        ev->u.submit = *conv_job_spec(h->job);
        if (js)
            *js = e->submit->job;
        return 0;
    }
    case CAIRN__JOURNAL_ENTRY__EVENT_PLACE: {
        const Cairn__JPlace *p = e->place;
        h->allocs = calloc(p->n_allocs + 1, sizeof(sched_alloc_desc_t));
        if (!h->allocs)
            return errcode(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < p->n_allocs; i++)
            h->allocs[i] = (sched_alloc_desc_t){.node = p->allocs[i]->node,
                                                .ncores = (uint32_t)p->allocs[i]->n_cores,
                                                .cores = p->allocs[i]->cores,
                                                .gpu_mask = p->allocs[i]->gpu_mask,
                                                .memory_bytes = p->allocs[i]->memory_bytes};
        ev->type = SCHED_EV_PLACE;
        ev->u.place.job = p->job;
        ev->u.place.task = p->task;
        ev->u.place.attempt = p->attempt;
        ev->u.place.after = p->after;
        ev->u.place.nreplicas = (uint32_t)p->n_allocs;
        ev->u.place.allocs = h->allocs;
        return 0;
    }
    case CAIRN__JOURNAL_ENTRY__EVENT_START:
        ev->type = SCHED_EV_START;
        ev->u.start.attempt = e->start->attempt;
        return 0;
    case CAIRN__JOURNAL_ENTRY__EVENT_FINISH:
        ev->type = SCHED_EV_FINISH;
        ev->u.finish.attempt = e->finish->attempt;
        ev->u.finish.end = (sched_end_t)e->finish->end;
        ev->u.finish.exit_code = e->finish->exit_code;
        ev->u.finish.signal = e->finish->signal;
        return 0;
    case CAIRN__JOURNAL_ENTRY__EVENT_CANCEL:
        ev->type = SCHED_EV_CANCEL;
        ev->u.cancel.job = e->cancel->job;
        ev->u.cancel.task = e->cancel->task;
        return 0;
    default:
        return errcode(err, -EBADMSG, "journal entry has no event");
    }
}

void conv_hold_fini(conv_hold_t *h)
{
    if (h->entry)
        cairn__journal_entry__free_unpacked(h->entry, NULL);
    conv_job_destroy(h->job);
    free(h->allocs);
    free(h->numa_memory);
    free(h->core_numa);
    free(h->gpus);
    memset(h, 0, sizeof(*h));
}
