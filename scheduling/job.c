/* Jobs: accepting a validated spec into the state, and the task life cycle
 * driven by dependencies. */
#include <stdlib.h>
#include <string.h>

#include "scheduling/sched_private.h"

void job_destroy(sched_job_t *j)
{
    if (!j)
        return;
    free(j->name);
    free(j->user);
    free(j->tasks);
    free(j->by_name);
    free(j->arena);
    free(j->policies);
    free(j);
}

void job_task_ended(sched_job_t *j, int64_t now_ms)
{
    if (++j->nended == j->ntasks)
        j->done_ms = now_ms;
}

/* Bump allocator over one block holding a job's strings and arrays. */
typedef struct arena {
    char *base;
    size_t used, size;
} arena_t;

static void *arena_take(arena_t *a, size_t n, size_t align)
{
    size_t off = (a->used + align - 1) & ~(align - 1);
    if (off + n > a->size)
        return NULL; /* sizes are computed up front; cannot happen */
    a->used = off + n;
    return a->base + off;
}

static const char *arena_str(arena_t *a, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = arena_take(a, n, 1);
    if (d)
        memcpy(d, s, n);
    return d;
}

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static size_t task_arena_size(const sched_task_spec_t *t)
{
    size_t n =
        str_size(t->name) + str_size(t->kind) + str_size(t->workdir) + str_size(t->cache_base);
    n += (t->argc + t->nenv + t->noutputs) * (sizeof(char *) + 8);
    for (uint32_t i = 0; i < t->argc; i++)
        n += str_size(t->argv[i]);
    for (uint32_t i = 0; i < t->nenv; i++)
        n += str_size(t->env[i]);
    for (uint32_t i = 0; i < t->noutputs; i++)
        n += str_size(t->outputs[i]);
    n += 2 * t->nneeds * sizeof(uint32_t) + 16; /* deps + dependents, alignment */
    return n + 32;
}

static int cmp_task_name(const void *a, const void *b, void *arg)
{
    const sched_task_t *t = arg;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    int c = strcmp(t[x].name, t[y].name);
    return c ? c : (x < y ? -1 : x > y);
}

static const char *task_name_of(const void *ctx, uint32_t id)
{
    return ((const sched_job_t *)ctx)->tasks[id].name;
}

static int sched_task_find_in(const sched_job_t *j, const char *name, uint32_t *task)
{
    return ids_find(j->by_name, j->ntasks, name, task_name_of, j, task) ? 0 : SCHED_ENOENT;
}

int sched_task_find(const sched_t *s, uint32_t job, const char *name, uint32_t *task)
{
    const sched_job_t *j = job_at(s, job);
    if (!j || !name)
        return SCHED_ENOENT;
    return sched_task_find_in(j, name, task);
}

/* Share identical retry policies within a job (consecutive runs are the
 * common case: a matrix expands into many tasks with one policy). */
static const sched_retry_policy_t *policy_intern(sched_job_t *j, uint32_t *n,
                                                 const sched_retry_policy_t *p)
{
    sched_retry_policy_t norm = *p;
    if (norm.max_attempts == 0)
        norm.max_attempts = SCHED_DEFAULT_ATTEMPTS;
    if (norm.factor_milli == 0)
        norm.factor_milli = 1000;
    if (norm.on == 0)
        norm.on = SCHED_RETRY_DEFAULT;
    if (norm.nexit_codes > SCHED_RETRY_MAX_EXIT_CODES)
        norm.nexit_codes = SCHED_RETRY_MAX_EXIT_CODES;
    for (uint32_t k = 0; k < SCHED_RETRY_MAX_EXIT_CODES; k++)
        if (k >= norm.nexit_codes)
            norm.exit_codes[k] = 0;
    uint32_t lo = *n > 8 ? *n - 8 : 0;
    for (uint32_t i = *n; i > lo; i--)
        if (memcmp(&j->policies[i - 1], &norm, sizeof(norm)) == 0)
            return &j->policies[i - 1];
    j->policies[*n] = norm;
    return &j->policies[(*n)++];
}

int job_build_tasks(sched_t *s, sched_job_t *j, const sched_job_spec_t *spec)
{
    uint32_t n = spec->ntasks;
    size_t size = 64;
    for (uint32_t i = 0; i < n; i++)
        size += task_arena_size(&spec->tasks[i]);
    j->arena = malloc(size);
    j->tasks = calloc(n, sizeof(sched_task_t));
    j->by_name = malloc(n * sizeof(uint32_t));
    j->policies = malloc(n * sizeof(sched_retry_policy_t));
    if (!j->arena || !j->tasks || !j->by_name || !j->policies)
        return SCHED_ENOMEM;
    arena_t a = {.base = j->arena, .size = size};
    uint32_t npol = 0;
    for (uint32_t i = 0; i < n; i++) {
        const sched_task_spec_t *ts = &spec->tasks[i];
        sched_task_t *t = &j->tasks[i];
        t->name = arena_str(&a, ts->name);
        t->kind = arena_str(&a, ts->kind ? ts->kind : "");
        t->workdir = arena_str(&a, ts->workdir);
        const char **argv = arena_take(&a, ts->argc * sizeof(char *), sizeof(char *));
        for (uint32_t k = 0; k < ts->argc; k++)
            argv[k] = arena_str(&a, ts->argv[k]);
        const char **env = arena_take(&a, ts->nenv * sizeof(char *), sizeof(char *));
        for (uint32_t k = 0; k < ts->nenv; k++)
            env[k] = arena_str(&a, ts->env[k]);
        const char **outs = arena_take(&a, ts->noutputs * sizeof(char *), sizeof(char *));
        for (uint32_t k = 0; k < ts->noutputs; k++)
            outs[k] = arena_str(&a, ts->outputs[k]);
        t->outputs = outs;
        t->noutputs = ts->noutputs;
        t->cache_base = ts->cache_base ? arena_str(&a, ts->cache_base) : NULL;
        t->cache_reuse = ts->cache_reuse;
        t->argv = argv;
        t->argc = ts->argc;
        t->env = env;
        t->nenv = ts->nenv;
        t->retry = policy_intern(j, &npol, &ts->retry);
        t->seed = sched_seed_derive(spec->seed, ts->name, 0);
        t->time_limit_ms = ts->time_limit_ms;
        t->replicas = ts->replicas ? ts->replicas : 1;
        t->priority = ts->priority;
        t->preemptible = ts->preemptible;
        t->grace_ms = ts->grace_ms;
        t->max_preempt = (uint16_t)preempt_max(s, ts);
        t->state = SCHED_TASK_PENDING;
        int rc = class_intern(s, ts, &t->cls);
        if (rc < 0)
            return rc;
        j->by_name[i] = i;
    }
    qsort_r(j->by_name, n, sizeof(uint32_t), cmp_task_name, j->tasks);
    /* resolve needs (deduplicated) and build the reverse edges */
    uint32_t *ndependents = calloc(n, sizeof(uint32_t));
    if (!ndependents)
        return SCHED_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        const sched_task_spec_t *ts = &spec->tasks[i];
        sched_task_t *t = &j->tasks[i];
        uint32_t *deps = arena_take(&a, ts->nneeds * sizeof(uint32_t), sizeof(uint32_t));
        for (uint32_t k = 0; k < ts->nneeds; k++) {
            uint32_t d = 0;
            (void)sched_task_find_in(j, ts->needs[k], &d);
            bool dup = false;
            for (uint32_t m = 0; m < t->ndeps && !dup; m++)
                dup = deps[m] == d;
            if (!dup) {
                deps[t->ndeps++] = d;
                ndependents[d]++;
            }
        }
        t->deps = deps;
        t->unfinished_deps = t->ndeps;
    }
    for (uint32_t i = 0; i < n; i++) {
        j->tasks[i].dependents =
            arena_take(&a, ndependents[i] * sizeof(uint32_t), sizeof(uint32_t));
    }
    for (uint32_t i = 0; i < n; i++) {
        sched_task_t *t = &j->tasks[i];
        for (uint32_t k = 0; k < t->ndeps; k++) {
            sched_task_t *d = &j->tasks[t->deps[k]];
            ((uint32_t *)d->dependents)[d->ndependents++] = i;
        }
    }
    free(ndependents);
    /* keep only the distinct policies */
    sched_retry_policy_t *np = malloc(npol * sizeof(*np));
    if (np) {
        memcpy(np, j->policies, npol * sizeof(*np));
        for (uint32_t i = 0; i < n; i++)
            j->tasks[i].retry = np + (j->tasks[i].retry - j->policies);
        free(j->policies);
        j->policies = np;
    }
    return 0;
}

int job_submit(sched_t *s, const sched_job_spec_t *spec, int64_t now_ms, cairn_error_t *err)
{
    sched_problems_t p = {0};
    int n = sched_job_validate(s, spec, &p);
    if (n < 0)
        return errcode(err, SCHED_ENOMEM, "out of memory validating job");
    if (n > 0) {
        char *nl = p.text ? strchr(p.text, '\n') : NULL;
        if (nl)
            *nl = '\0';
        errcode(err, SCHED_ESPEC, "%s%s", p.text ? p.text : "invalid job",
                n > 1 ? " (and more problems)" : "");
        sched_problems_fini(&p);
        return SCHED_ESPEC;
    }
    if (win_next_id(&s->jobs) > UINT32_MAX)
        return errcode(err, SCHED_EINVAL, "no job ids left");
    sched_job_t *j = calloc(1, sizeof(*j));
    if (!j)
        return errcode(err, SCHED_ENOMEM, "out of memory");
    j->id = (uint32_t)win_next_id(&s->jobs);
    j->name = xstrdup(spec->name);
    j->user = xstrdup(spec->user ? spec->user : "");
    j->account = acct_lookup(s, spec->account); /* validated */
    j->seed = spec->seed;
    j->submitted_ms = now_ms;
    j->ntasks = spec->ntasks;
    /* classes interned for a job that fails here stay: harmless and empty */
    if (!j->name || !j->user || job_build_tasks(s, j, spec) < 0 || win_push(&s->jobs, j) < 0) {
        job_destroy(j);
        return errcode(err, SCHED_ENOMEM, "out of memory accepting job");
    }
    for (uint32_t i = 0; i < j->ntasks; i++)
        if (j->tasks[i].ndeps == 0)
            task_make_ready(s, (task_ref_t){.job = j->id, .task = i});
    return 0;
}

void task_make_ready(sched_t *s, task_ref_t r)
{
    sched_task_t *t = task_at(s, r);
    t->state = SCHED_TASK_READY;
    r.gen = t->attempts;
    class_heap_push(s, &s->classes[t->cls], r);
}

/* A task reached a final state: count it, release or fail its dependents. */
void task_finished(sched_t *s, task_ref_t r, sched_task_state_t final, int64_t now_ms)
{
    sched_job_t *j = job_at(s, r.job);
    sched_task_t *t = &j->tasks[r.task];
    t->state = (uint8_t) final;
    t->queued = 0;
    job_task_ended(j, now_ms);
    preempt_hold_drop(s, r);
    if (final == SCHED_TASK_SUCCEEDED) {
        for (uint32_t k = 0; k < t->ndependents; k++) {
            sched_task_t *d = &j->tasks[t->dependents[k]];
            if (--d->unfinished_deps == 0 && d->state == SCHED_TASK_PENDING)
                task_make_ready(s, (task_ref_t){.job = r.job, .task = t->dependents[k]});
        }
        return;
    }
    /* failed or upstream-failed: every pending descendant is upstream_failed;
     * cancelled: every pending descendant is cancelled with it (a user's
     * cancel is not a failure: cancel.c). Derived from the events, so an
     * older journal replays under this rule too. Iterative, so a deep chain
     * cannot exhaust the stack. */
    bool cancelled = final == SCHED_TASK_CANCELLED;
    uint32_t *stack = malloc(j->ntasks * sizeof(uint32_t));
    uint32_t sp = 0;
    if (!stack)
        return; /* descendants stay pending; the job cannot finish, visibly */
    stack[sp++] = r.task;
    while (sp > 0) {
        sched_task_t *u = &j->tasks[stack[--sp]];
        for (uint32_t k = 0; k < u->ndependents; k++) {
            uint32_t di = u->dependents[k];
            sched_task_t *d = &j->tasks[di];
            if (d->state != SCHED_TASK_PENDING)
                continue;
            d->state = cancelled ? SCHED_TASK_CANCELLED : SCHED_TASK_UPSTREAM_FAILED;
            d->cancelled_upstream = cancelled;
            job_task_ended(j, now_ms);
            stack[sp++] = di;
        }
    }
    free(stack);
}
