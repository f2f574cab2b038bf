/* A JobSpec from outside -> the core's job spec; see jobspec.h. */
#include "scheduler/jobspec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/grow.h"
#include "common/logmatch.h"
#include "proto/sha256.h"
#include "proto/validate.h"

/* Declared outputs per task: what a worker hashes (worker/outputs.h). */
#define JOBSPEC_MAX_OUTPUTS 1024u

const jobspec_limits_t jobspec_default_limits = {
    .max_tasks = 1000000,
    .max_argv = 4096,
    .max_env = 4096,
    .max_needs = 4096,
    .max_string = 128 * 1024,
    .max_grace_ms = JOBSPEC_MAX_GRACE_MS,
};

/* Signals a checkpoint may name: 1..64 (0: SIGTERM). */
#define JOBSPEC_MAX_SIGNAL 64

struct jobspec {
    sched_job_spec_t spec;
    sched_task_spec_t *tasks;
    const char **strs; /* all pointer arrays of all tasks, one block */
    char **owned;      /* strings we made ("K=V", shell argv) */
    size_t nowned;
};

int jobspec_errors_add(jobspec_errors_t *e, const char *path, const char *fmt, ...)
{
    if (CAIRN_GROW(e->v, e->cap, e->n + 1) < 0)
        return -ENOMEM;
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

void jobspec_errors_fini(jobspec_errors_t *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->v[i]->path);
        free(e->v[i]->message);
        free(e->v[i]);
    }
    free(e->v);
    memset(e, 0, sizeof(*e));
}

uint64_t jobspec_seed(const Cairn__JobSpec *js)
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

static char *own(jobspec_t *j, char *s)
{
    if (s)
        j->owned[j->nowned++] = s;
    return s;
}

static bool str_ok(const char *s, const jobspec_limits_t *lim)
{
    return !s || strlen(s) <= lim->max_string;
}

/* The MIG profile a task asks for, NULL when none. */
static const char *mig_of(const Cairn__TaskSpec *t)
{
    return t->resources && t->resources->mig && t->resources->mig[0] ? t->resources->mig : NULL;
}

#define JOBSPEC_MAX_MIG 32

/* `mig: PROFILE` is the model "[MODEL ]MIG PROFILE" (gpu_match.c takes a
 * MIG instance only for a request that names its profile); NULL when out
 * of memory. */
static char *mig_model(const Cairn__ResourceRequest *rq)
{
    const char *model = rq->gpu_model ? rq->gpu_model : "";
    size_t len = strlen(model) + strlen(rq->mig) + 6;
    char *s = malloc(len);
    if (s)
        snprintf(s, len, "%s%sMIG %s", model, model[0] ? " " : "", rq->mig);
    return s;
}

static void check_placement(const Cairn__TaskSpec *t, size_t i, const jobspec_limits_t *lim,
                            jobspec_errors_t *errs);

/* Edge checks that the core does not make (sizes, shapes). */
static void check_task(const Cairn__TaskSpec *t, size_t i, const jobspec_limits_t *lim,
                       jobspec_errors_t *errs)
{
    char path[64];
    snprintf(path, sizeof(path), "tasks[%zu]", i);
    if (t->n_argv > lim->max_argv)
        jobspec_errors_add(errs, path, "task %s: %zu arguments (at most %u)", t->name, t->n_argv,
                           lim->max_argv);
    /* one directory component of a worker's log path (validate.h) */
    const char *why = cairn_name_problem(t->name, lim->max_string, false);
    if (why)
        jobspec_errors_add(errs, path, "task name '%.64s' %s", t->name ? t->name : "", why);
    if (t->n_needs > lim->max_needs)
        jobspec_errors_add(errs, path, "task %.64s: %zu needs (at most %u)", t->name, t->n_needs,
                           lim->max_needs);
    if (t->n_env > lim->max_env)
        jobspec_errors_add(errs, path, "task %s: %zu env entries (at most %u)", t->name, t->n_env,
                           lim->max_env);
    bool long_str = !str_ok(t->name, lim) || !str_ok(t->workdir, lim) || !str_ok(t->kind, lim);
    for (size_t k = 0; k < t->n_argv && !long_str; k++)
        long_str = !str_ok(t->argv[k], lim);
    for (size_t k = 0; k < t->n_env && !long_str; k++)
        long_str = !t->env[k] || !str_ok(t->env[k]->key, lim) || !str_ok(t->env[k]->value, lim);
    for (size_t k = 0; k < t->n_outputs && !long_str; k++)
        long_str = !str_ok(t->outputs[k], lim);
    if (t->n_outputs > JOBSPEC_MAX_OUTPUTS)
        jobspec_errors_add(errs, path, "task %s: %zu outputs (at most %u)", t->name, t->n_outputs,
                           JOBSPEC_MAX_OUTPUTS);
    if (long_str)
        jobspec_errors_add(errs, path, "task %s: a string is longer than %zu bytes", t->name,
                           lim->max_string);
    if (t->shell && t->n_argv != 1)
        jobspec_errors_add(errs, path, "task %s: a shell task has exactly one script", t->name);
    for (size_t k = 0; k < t->n_env; k++)
        if (t->env[k] && (!t->env[k]->key[0] || strchr(t->env[k]->key, '=')))
            jobspec_errors_add(errs, path, "task %s: env name '%s' is empty or has '='", t->name,
                               t->env[k]->key);
    if (t->time_limit_ms > (uint64_t)INT64_MAX / 4)
        jobspec_errors_add(errs, path, "task %s: time limit out of range", t->name);
    const char *mig = mig_of(t);
    if (mig && (strlen(mig) > JOBSPEC_MAX_MIG ||
                strspn(mig, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+") !=
                    strlen(mig) ||
                !strpbrk(mig, "0123456789")))
        jobspec_errors_add(errs, path,
                           "task %s: mig '%.40s' is not a MIG profile (like 1g.10gb: letters, "
                           "digits and dots, at most %d)",
                           t->name, mig, JOBSPEC_MAX_MIG);
    if (mig && t->resources->gpu_model && t->resources->gpu_model[0] == '~')
        jobspec_errors_add(errs, path,
                           "task %s: mig cannot go with a gpu model pattern (~...): write the "
                           "pattern alone, mentioning MIG",
                           t->name);
    const Cairn__Checkpoint *ck = t->checkpoint;
    if (ck && (ck->signal < 0 || ck->signal > JOBSPEC_MAX_SIGNAL))
        jobspec_errors_add(errs, path, "task %s: checkpoint signal %d out of range (1..%d)",
                           t->name, ck->signal, JOBSPEC_MAX_SIGNAL);
    if (ck && ck->dir && strlen(ck->dir) > JOBSPEC_MAX_CKPT_DIR)
        jobspec_errors_add(errs, path, "task %s: checkpoint dir is longer than %u bytes", t->name,
                           JOBSPEC_MAX_CKPT_DIR);
    if (ck && ck->grace_ms > (uint64_t)INT64_MAX / 4)
        jobspec_errors_add(errs, path, "task %s: checkpoint grace out of range", t->name);
    if (t->retry && t->retry->retry_on_log && t->retry->retry_on_log[0]) {
        regex_t re;
        cairn_error_t rerr = {{0}};
        if (cairn_log_pattern_compile(&re, t->retry->retry_on_log, &rerr) < 0)
            jobspec_errors_add(errs, path, "task %s: retry.on: %s", t->name, rerr.text);
        else
            cairn_log_pattern_free(&re);
    }
    if (t->signal_before_limit_ms &&
        (!t->time_limit_ms || t->signal_before_limit_ms >= t->time_limit_ms))
        jobspec_errors_add(
            errs, path, "task %s: signal_before_limit needs a time_limit longer than it", t->name);
    if (t->cache && (!t->workdir || !t->workdir[0] || t->n_outputs == 0))
        jobspec_errors_add(errs, path,
                           "task %s: cache needs a workdir and declared outputs (what is reused)",
                           t->name);
    if (t->cache && t->replicas > 1)
        jobspec_errors_add(errs, path, "task %s: a gang (replicas > 1) cannot be cached", t->name);
    check_placement(t, i, lim, errs);
    if (t->n_inputs > JOBSPEC_MAX_OUTPUTS)
        jobspec_errors_add(errs, path, "task %s: %zu inputs (at most %u)", t->name, t->n_inputs,
                           JOBSPEC_MAX_OUTPUTS);
    for (size_t k = 0; k < t->n_inputs; k++) {
        const Cairn__OutputHash *in = t->inputs[k];
        /* recorded in the provenance as sent: 64 lower-case hex digits */
        if (!in || !in->path || !str_ok(in->path, lim) || !in->sha256 || strlen(in->sha256) != 64 ||
            strspn(in->sha256, "0123456789abcdef") != 64)
            jobspec_errors_add(errs, path, "task %s: input %zu has no SHA-256 (%s)", t->name, k,
                               in && in->error && in->error[0] ? in->error : "not hashed");
    }
}

bool jobspec_level_listed(const char *levels, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = levels; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !strncmp(p, name, n))
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

/* A task's placement: pack or require, by a level this scheduler has. */
static void check_placement(const Cairn__TaskSpec *t, size_t i, const jobspec_limits_t *lim,
                            jobspec_errors_t *errs)
{
    const Cairn__TaskPlacement *pl = t->placement;
    if (!pl)
        return;
    char path[64];
    snprintf(path, sizeof(path), "tasks[%zu].placement", i);
    bool pack = pl->pack && pl->pack[0], req = pl->require && pl->require[0];
    const char *level = pack ? pl->pack : pl->require;
    if (pack && req)
        jobspec_errors_add(errs, path, "task %s: placement has both pack and require (one of them)",
                           t->name);
    else if (!pack && !req)
        jobspec_errors_add(errs, path, "task %s: placement needs pack or require", t->name);
    else if (lim->topology_levels && !jobspec_level_listed(lim->topology_levels, level))
        jobspec_errors_add(errs, path,
                           lim->topology_levels[0]
                               ? "task %s: placement names topology level %.64s, which this "
                                 "scheduler does not have (--topology-levels %s)"
                               : "task %s: placement names topology level %.64s, and this "
                                 "scheduler has none (--topology-levels)%s",
                           t->name, level, lim->topology_levels);
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
            (p->retry_on_any_nonzero_exit ? SCHED_RETRY_ANY_EXIT : 0) |
            (p->retry_on_oom ? SCHED_RETRY_OOM : 0) |
            (p->retry_on_gpu_error ? SCHED_RETRY_GPU_ERROR : 0) |
            (p->retry_on_log && p->retry_on_log[0] ? SCHED_RETRY_LOG : 0);
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

/* The grace a task gets: its own or the default, capped at lim's. */
static int64_t task_grace(const Cairn__TaskSpec *t, const jobspec_limits_t *lim)
{
    int64_t cap = lim->max_grace_ms > 0 ? lim->max_grace_ms : JOBSPEC_MAX_GRACE_MS;
    int64_t g = JOBSPEC_GRACE_DEFAULT_MS;
    if (t->checkpoint && t->checkpoint->grace_ms)
        g = t->checkpoint->grace_ms > (uint64_t)cap ? cap : (int64_t)t->checkpoint->grace_ms;
    return g < cap ? g : cap;
}

int jobspec_cap_grace(Cairn__JobSpec *js, const jobspec_limits_t *lim)
{
    if (!lim)
        lim = &jobspec_default_limits;
    for (size_t i = 0; i < js->n_tasks; i++) {
        Cairn__TaskSpec *t = js->tasks[i];
        int64_t g = task_grace(t, lim);
        if (!t->checkpoint && g == JOBSPEC_GRACE_DEFAULT_MS)
            continue;
        if (!t->checkpoint) { /* freed with the message (system allocator) */
            t->checkpoint = malloc(sizeof(*t->checkpoint));
            if (!t->checkpoint)
                return -ENOMEM;
            cairn__checkpoint__init(t->checkpoint);
        }
        t->checkpoint->grace_ms = (uint64_t)g;
    }
    return 0;
}

static int fill_task(jobspec_t *j, sched_task_spec_t *ts, const Cairn__TaskSpec *t,
                     const char ***cursor, uint64_t seed, bool no_cache,
                     const jobspec_limits_t *lim)
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
        p[k] = own(j, kv);
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
        if (mig_of(t)) {
            if (!(ts->req.gpu_model = own(j, mig_model(rq))))
                return -ENOMEM;
            if (!ts->req.gpus) /* mig: 1g.10gb alone is one instance */
                ts->req.gpus = 1;
        }
        ts->req.gpu_min_memory = rq->gpu_min_memory_bytes;
        ts->req.gpu_mixed = rq->gpu_mixed;
        for (size_t k = 0; k < rq->n_labels; k++) {
            const Cairn__KeyValue *kv = rq->labels[k];
            char *s = malloc(strlen(kv->key) + strlen(kv->value) + 2);
            if (!s)
                return -ENOMEM;
            sprintf(s, "%s=%s", kv->key, kv->value);
            p[k] = own(j, s);
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
    /* max_preemptions 0: the scheduler's --max-preemptions-per-task */
    ts->preemptible = t->preemptible;
    ts->grace_ms = task_grace(t, lim);
    const Cairn__TaskPlacement *pl = t->placement;
    if (pl && pl->pack && pl->pack[0]) {
        ts->placement = SCHED_PLACEMENT_PACK;
        ts->placement_level = pl->pack;
    } else if (pl && pl->require && pl->require[0]) {
        ts->placement = SCHED_PLACEMENT_REQUIRE;
        ts->placement_level = pl->require;
    }
    if (t->cache) {
        char *base = cache_base(ts, t, seed);
        if (!base)
            return -ENOMEM;
        ts->cache_base = own(j, base);
        ts->cache_reuse = !no_cache;
    }
    *cursor = p;
    return 0;
}

bool jobspec_account_ok(const char *name)
{
    size_t len = strlen(name);
    return len && len <= SCHED_MAX_NAME_LEN &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len;
}

int jobspec_build(const Cairn__JobSpec *js, uint64_t seed, const jobspec_limits_t *lim,
                  jobspec_t **out, jobspec_errors_t *errs)
{
    size_t before = errs->n;
    if (!lim)
        lim = &jobspec_default_limits;
    if (js->n_tasks > lim->max_tasks) {
        jobspec_errors_add(errs, "tasks", "job has %zu tasks (at most %u)", js->n_tasks,
                           lim->max_tasks);
        return (int)(errs->n - before);
    }
    if (!str_ok(js->name, lim) || !str_ok(js->submitter, lim))
        jobspec_errors_add(errs, "name", "a string is longer than %zu bytes", lim->max_string);
    if (js->account && *js->account && !jobspec_account_ok(js->account))
        jobspec_errors_add(errs, "account",
                           "'%.64s%s' is not an account name (1 to %u letters, digits, '.', '_' "
                           "and '-')",
                           js->account, strlen(js->account) > 64 ? "..." : "", SCHED_MAX_NAME_LEN);
    size_t nptr = 0, nown = 0;
    for (size_t i = 0; i < js->n_tasks; i++) {
        const Cairn__TaskSpec *t = js->tasks[i];
        check_task(t, i, lim, errs);
        size_t nl = t->resources ? t->resources->n_labels : 0;
        nptr += t->n_argv + 3 + t->n_env + t->n_outputs + t->n_needs + nl;
        nown += t->n_env + nl + (t->cache ? 1 : 0) + (mig_of(t) ? 1 : 0);
    }
    if (errs->n > before)
        return (int)(errs->n - before);
    jobspec_t *j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    j->tasks = calloc(js->n_tasks ? js->n_tasks : 1, sizeof(sched_task_spec_t));
    j->strs = malloc((nptr ? nptr : 1) * sizeof(char *));
    j->owned = malloc((nown ? nown : 1) * sizeof(char *));
    if (!j->tasks || !j->strs || !j->owned) {
        jobspec_destroy(j);
        return -ENOMEM;
    }
    const char **cursor = j->strs;
    for (size_t i = 0; i < js->n_tasks; i++)
        if (fill_task(j, &j->tasks[i], js->tasks[i], &cursor, seed, js->no_cache, lim) < 0) {
            jobspec_destroy(j);
            return -ENOMEM;
        }
    j->spec = (sched_job_spec_t){.name = js->name,
                                 .seed = seed,
                                 .user = js->submitter,
                                 .account = js->account,
                                 .ntasks = (uint32_t)js->n_tasks,
                                 .tasks = j->tasks};
    *out = j;
    return 0;
}

const sched_job_spec_t *jobspec_core(const jobspec_t *j)
{
    return &j->spec;
}

void jobspec_destroy(jobspec_t *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->nowned; i++)
        free(j->owned[i]);
    free(j->owned);
    free(j->strs);
    free(j->tasks);
    free(j);
}
