/* Snapshots: bytes back to a state (snapshot.h; the layout is in
 * snapshot_save.c).
 *
 * Every count is checked against the bytes left before anything is
 * allocated for it, every index against what it indexes, and the parts
 * against each other (a task's class has its shape, an attempt's job and
 * task are there, the running heap holds exactly the attempts that hold
 * resources, no core or GPU is held twice), so a corrupt or hostile
 * snapshot gives an error naming the first problem. What is derived (the
 * node index, free resources, the class hash, tasks by name) is built by
 * the same code that builds it from events. */
#include <stdlib.h>
#include <string.h>

#include "scheduling/sched_private.h"
#include "scheduling/snapshot.h"
#include "scheduling/snapshot_rd.h"

/* Scratch arrays of one load, grown as needed and freed at its end. */
typedef struct scratch {
    const char **ptr;
    size_t nptr, ptr_cap;
    uint32_t *u;
    size_t nu, u_cap;
    sched_task_spec_t *ts;
    size_t ts_cap;
    uint64_t *numa_mem;
    int *core_numa;
    sched_gpu_desc_t gpus[SCHED_MAX_GPUS_PER_NODE];
    sched_alloc_desc_t *allocs;
    size_t allocs_cap;
} scratch_t;

static void scratch_fini(scratch_t *x)
{
    free(x->ptr);
    free(x->u);
    free(x->ts);
    free(x->numa_mem);
    free(x->core_numa);
    free(x->allocs);
}

/* Where the i-th scratch string or integer is (NULL while there is no
 * array: no offset is applied to a null pointer). */
static const char **ptr_at(const scratch_t *x, size_t i)
{
    return x->ptr ? x->ptr + i : NULL;
}
static uint32_t *u_at(const scratch_t *x, size_t i)
{
    return x->u ? x->u + i : NULL;
}

/* n strings, appended to x->ptr; returns the index of the first. */
static size_t gstrs(rd_t *r, scratch_t *x, uint32_t *n, bool *oom)
{
    *n = (uint32_t)gcount(r, 4, 5, UINT32_MAX);
    size_t first = x->nptr;
    if (CAIRN_GROW(x->ptr, x->ptr_cap, x->nptr + *n) < 0) {
        *oom = true;
        *n = 0;
        return first;
    }
    for (uint32_t i = 0; i < *n; i++)
        x->ptr[x->nptr++] = gstr(r, "a list holds a missing string");
    return first;
}

/* --- nodes -------------------------------------------------------------- */

static int load_node(rd_t *r, sched_t *s, scratch_t *x, cairn_error_t *err)
{
    sched_node_desc_t d = {.name = gstr(r, "a node has no name")};
    d.nnuma = (int)gcount(r, 4, 8, SCHED_MAX_NUMA_PER_NODE);
    for (int i = 0; i < d.nnuma; i++)
        x->numa_mem[i] = g64(r);
    d.numa_memory = x->numa_mem;
    d.ncores = (int)gcount(r, 4, 2, SCHED_MAX_CORES_PER_NODE);
    for (int i = 0; i < d.ncores; i++)
        x->core_numa[i] = (int)g16(r);
    d.core_numa = x->core_numa;
    d.ngpus = (int)gcount(r, 4, 32, SCHED_MAX_GPUS_PER_NODE);
    for (int i = 0; i < d.ngpus; i++) {
        sched_gpu_desc_t *g = &x->gpus[i];
        g->vendor = gstr(r, NULL);
        g->model = gstr(r, NULL);
        g->uuid = gstr(r, NULL);
        g->pci_bus_id = gstr(r, NULL);
        g->memory_bytes = g64(r);
        g->numa = (int)g32(r);
        g->group = (int)g32(r);
    }
    d.gpus = x->gpus;
    uint32_t nl;
    bool oom = false;
    x->nptr = 0;
    size_t first = gstrs(r, x, &nl, &oom);
    d.nlabels = (int)nl;
    d.labels = ptr_at(x, first);
    uint32_t presence = g8(r), drained = g8(r);
    const char *reason = gstr(r, NULL);
    uint32_t nsick = r->version >= 4 ? (uint32_t)gcount(r, 4, 8, SCHED_MAX_GPUS_PER_NODE) : 0;
    uint32_t sick[SCHED_MAX_GPUS_PER_NODE];
    const char *why[SCHED_MAX_GPUS_PER_NODE];
    for (uint32_t i = 0; i < nsick; i++) {
        sick[i] = g32(r);
        why[i] = gstr(r, "a sick GPU has no reason");
    }
    if (oom)
        return errcode(err, SCHED_ENOMEM, "out of memory loading a snapshot");
    if (r->bad)
        return 0; /* the caller reports it */
    uint32_t id;
    if (sched_node_find(s, d.name, &id) == 0)
        return errcode(err, SCHED_EINVAL, "snapshot: node %s is there twice", d.name);
    if (presence != SCHED_NODE_UP && presence != SCHED_NODE_DOWN &&
        presence != SCHED_NODE_RETURNING && presence != SCHED_NODE_REMOVED)
        return errcode(err, SCHED_EINVAL, "snapshot: node %s has presence %u", d.name, presence);
    if (presence == SCHED_NODE_REMOVED && drained)
        return errcode(err, SCHED_EINVAL, "snapshot: removed node %s is drained", d.name);
    int rc = cluster_node_add(s, &d, err);
    id = (uint32_t)s->nnodes - 1;
    for (uint32_t i = 0; rc == 0 && i < nsick; i++)
        rc = cluster_gpu_health(s, id, sick[i], why[i], err);
    if (rc == 0 && drained)
        rc = cluster_node_set_state(s, id, SCHED_NODE_DRAINING, reason, err);
    if (rc == 0 && presence == SCHED_NODE_REMOVED) /* a tombstone: idle, as nothing is loaded yet */
        rc = cluster_node_remove(s, id, err);
    else if (rc == 0 && presence != SCHED_NODE_UP)
        rc = cluster_node_set_state(s, id, (sched_node_state_t)presence, NULL, err);
    return rc;
}

/* --- classes ------------------------------------------------------------ */

static int load_class(rd_t *r, sched_t *s, scratch_t *x, uint32_t want, cairn_error_t *err)
{
    sched_task_spec_t t = {0};
    t.req.cpus = g32(r);
    t.req.gpus = g32(r);
    t.replicas = g32(r);
    t.req.memory_bytes = g64(r);
    t.req.gpu_min_memory = g64(r);
    t.time_limit_ms = gi64(r);
    t.req.gpu_model = gstr(r, NULL);
    t.req.gpu_mixed = g8(r) != 0;
    bool oom = false;
    x->nptr = 0;
    size_t first = gstrs(r, x, &t.req.nlabels, &oom);
    t.req.labels = ptr_at(x, first);
    int64_t avg = gi64(r);
    bool known = g8(r) != 0;
    if (r->version >= 4) {
        t.placement = (sched_placement_t)g8(r);
        t.placement_level = gstr(r, NULL);
    }
    if (oom)
        return errcode(err, SCHED_ENOMEM, "out of memory loading a snapshot");
    if (r->bad)
        return 0;
    if (t.req.gpu_model && !t.req.gpu_model[0])
        return errcode(err, SCHED_EINVAL, "snapshot: class %u has an empty GPU model", want);
    if (t.replicas < 1 || t.replicas > SCHED_MAX_REPLICAS)
        return errcode(err, SCHED_EINVAL, "snapshot: class %u has %u replicas", want, t.replicas);
    if (t.req.cpus < 1 || t.req.cpus > SCHED_MAX_CPUS || t.req.gpus > SCHED_MAX_GPUS_PER_NODE ||
        t.time_limit_ms < 0) /* what validate.c lets a submit have */
        return errcode(err, SCHED_EINVAL, "snapshot: class %u asks for %u cores, %u GPUs", want,
                       t.req.cpus, t.req.gpus);
    if (t.placement > SCHED_PLACEMENT_REQUIRE ||
        (t.placement != SCHED_PLACEMENT_ANY) != (t.placement_level != NULL) ||
        (t.placement_level && (!topo_name_ok(t.placement_level) || t.replicas < 2)))
        return errcode(err, SCHED_EINVAL, "snapshot: class %u has a bad topology placement", want);
    if (avg < 0 || avg > INT64_MAX / 16 * 16) /* class_note_run's range */
        return errcode(err, SCHED_EINVAL, "snapshot: class %u has a run time of %lld/16 ms", want,
                       (long long)avg);
    uint32_t cls;
    int rc = class_intern(s, &t, &cls);
    if (rc < 0)
        return errcode(err, rc, "snapshot: class %u cannot be built", want);
    if (cls != want)
        return errcode(err, SCHED_EINVAL, "snapshot: class %u is class %u again", want, cls);
    s->classes[cls].run_avg16 = avg;
    s->classes[cls].run_known = known;
    return 0;
}

/* --- jobs --------------------------------------------------------------- */

/* What a task's snapshot says about where it is (set after its job is
 * built). */
typedef struct task_now {
    uint64_t seed, attempt;
    int64_t ready_at_ms;
    uint32_t unfinished_deps, cls, ndeps, deps; /* deps: index in scratch u */
    uint16_t attempts, preemptions, requeues;
    uint8_t state, flags;
} task_now_t;

static void load_policy(rd_t *r, sched_retry_policy_t *p)
{
    memset(p, 0, sizeof(*p));
    p->max_attempts = g32(r);
    p->backoff_ms = gi64(r);
    p->factor_milli = g32(r);
    p->max_backoff_ms = gi64(r);
    p->jitter_pct = g32(r);
    p->on = g32(r);
    p->nexit_codes = (uint32_t)gcount(r, 4, 4, SCHED_RETRY_MAX_EXIT_CODES);
    for (uint32_t i = 0; i < p->nexit_codes; i++)
        p->exit_codes[i] = (int)g32(r);
}

/* Where the task's lists go in the scratch arrays, until they stop moving. */
typedef struct task_lists {
    size_t argv, env, outputs;
} task_lists_t;

static void load_task(rd_t *r, scratch_t *x, sched_task_spec_t *t, task_lists_t *tl,
                      task_now_t *now, uint32_t ntasks, bool *oom)
{
    memset(t, 0, sizeof(*t));
    t->name = gstr(r, "a task has no name");
    t->kind = gstr(r, "a task has no kind");
    t->workdir = gstr(r, NULL);
    tl->argv = gstrs(r, x, &t->argc, oom);
    tl->env = gstrs(r, x, &t->nenv, oom);
    tl->outputs = gstrs(r, x, &t->noutputs, oom);
    t->cache_base = gstr(r, NULL);
    t->cache_reuse = g8(r) != 0;
    now->ndeps = (uint32_t)gcount(r, 4, 4, ntasks);
    now->deps = (uint32_t)x->nu;
    if (CAIRN_GROW(x->u, x->u_cap, x->nu + now->ndeps) < 0) {
        *oom = true;
        return;
    }
    for (uint32_t i = 0; i < now->ndeps; i++) {
        uint32_t d = g32(r);
        if (d >= ntasks)
            fail(r, "a task needs a task its job does not have");
        x->u[x->nu++] = d;
    }
    now->cls = g32(r);
    t->replicas = g32(r);
    t->priority = (int32_t)g32(r);
    t->time_limit_ms = gi64(r);
    load_policy(r, &t->retry);
    now->seed = g64(r);
    now->ready_at_ms = gi64(r);
    now->attempt = g64(r);
    now->unfinished_deps = g32(r);
    now->attempts = (uint16_t)g16(r);
    now->state = (uint8_t)g8(r);
    now->flags = (uint8_t)g8(r);
    if (r->version >= 3) {
        t->preemptible = g8(r) != 0;
        t->grace_ms = gi64(r);
        t->max_preemptions = g16(r);
        now->preemptions = (uint16_t)g16(r);
        now->requeues = (uint16_t)g16(r);
    }
}

/* The job's tasks as parsed agree with what building them made. */
static int job_check(const sched_job_t *j, const task_now_t *now, const scratch_t *x,
                     cairn_error_t *err)
{
    for (uint32_t i = 1; i < j->ntasks; i++)
        if (strcmp(j->tasks[j->by_name[i - 1]].name, j->tasks[j->by_name[i]].name) == 0)
            return errcode(err, SCHED_EINVAL, "snapshot: job %u has two tasks named %s", j->id,
                           j->tasks[j->by_name[i]].name);
    uint32_t ended = 0;
    for (uint32_t i = 0; i < j->ntasks; i++) {
        const sched_task_t *t = &j->tasks[i];
        const task_now_t *n = &now[i];
        if (t->cls != n->cls || t->ndeps != n->ndeps ||
            (n->ndeps && memcmp(t->deps, x->u + n->deps, n->ndeps * sizeof(uint32_t)) != 0))
            return errcode(err, SCHED_EINVAL,
                           "snapshot: job %u task %s: its class or needs do not hold", j->id,
                           t->name);
        if (n->state > SCHED_TASK_UPSTREAM_FAILED || n->unfinished_deps > t->ndeps ||
            n->requeues > n->attempts ||
            (uint32_t)(n->attempts - n->requeues) > SCHED_MAX_ATTEMPTS ||
            (n->attempts == 0) != (n->attempt == 0) || n->flags > 7 ||
            n->preemptions > t->max_preempt)
            return errcode(err, SCHED_EINVAL, "snapshot: job %u task %s: state out of range", j->id,
                           t->name);
        ended += n->state >= SCHED_TASK_SUCCEEDED;
    }
    if (ended != j->nended)
        return errcode(err, SCHED_EINVAL, "snapshot: job %u says %u tasks ended, %u did", j->id,
                       j->nended, ended);
    return 0;
}

static int load_job(rd_t *r, sched_t *s, scratch_t *x, uint32_t id, sched_job_t **out,
                    cairn_error_t *err)
{
    sched_job_spec_t spec = {.name = gstr(r, "a job has no name"), .user = gstr(r, NULL)};
    uint32_t account = r->version >= 2 ? g32(r) : 0;
    if (!r->bad && account >= s->naccts)
        fail(r, "a job's account is not there");
    spec.seed = g64(r);
    int64_t submitted = gi64(r), done = gi64(r);
    uint32_t nended = g32(r);
    /* a task is at least 100 bytes */
    spec.ntasks = (uint32_t)gcount(r, 4, 100, SCHED_MAX_TASKS_PER_JOB);
    if (r->bad)
        return 0;
    if (spec.ntasks == 0)
        return errcode(err, SCHED_EINVAL, "snapshot: job %u has no tasks", id);
    task_now_t *now = calloc(spec.ntasks, sizeof(*now));
    task_lists_t *tl = calloc(spec.ntasks, sizeof(*tl));
    bool oom = !now || !tl || CAIRN_GROW(x->ts, x->ts_cap, spec.ntasks) < 0;
    x->nptr = x->nu = 0;
    for (uint32_t i = 0; i < spec.ntasks && !oom && !r->bad; i++)
        load_task(r, x, &x->ts[i], &tl[i], &now[i], spec.ntasks, &oom);
    if (!oom && !r->bad && CAIRN_GROW(x->ptr, x->ptr_cap, x->nptr + x->nu) < 0)
        oom = true;
    int rc = 0;
    sched_job_t *j = NULL;
    if (oom) {
        rc = errcode(err, SCHED_ENOMEM, "out of memory loading a snapshot");
        goto out;
    }
    if (r->bad)
        goto out;
    for (uint32_t i = 0; i < spec.ntasks; i++) {
        sched_task_spec_t *t = &x->ts[i];
        if (now[i].cls >= s->nclasses) {
            rc = errcode(err, SCHED_EINVAL, "snapshot: job %u task %s has no class", id, t->name);
            goto out;
        }
        const task_class_t *c = &s->classes[now[i].cls];
        if (t->replicas != c->replicas || t->time_limit_ms != c->time_limit_ms) {
            rc = errcode(err, SCHED_EINVAL, "snapshot: job %u task %s is not of its class", id,
                         t->name);
            goto out;
        }
        t->argv = ptr_at(x, tl[i].argv);
        t->env = ptr_at(x, tl[i].env);
        t->outputs = ptr_at(x, tl[i].outputs);
        t->req = class_request(c);
        t->placement = (sched_placement_t)c->place_mode;
        t->placement_level = c->place_level;
        t->needs = ptr_at(x, x->nptr);
        t->nneeds = now[i].ndeps;
        for (uint32_t k = 0; k < now[i].ndeps; k++)
            x->ptr[x->nptr++] = x->ts[x->u[now[i].deps + k]].name;
    }
    spec.tasks = x->ts;
    /* what a submit checks of the spec alone (limits, names, needs, the
     * policy) holds for what it became */
    int bad = sched_job_validate(NULL, &spec, NULL);
    if (bad != 0) {
        rc = bad < 0 ? errcode(err, SCHED_ENOMEM, "out of memory loading a snapshot")
                     : errcode(err, SCHED_EINVAL, "snapshot: job %u is not a valid job", id);
        goto out;
    }
    j = calloc(1, sizeof(*j));
    if (j)
        j->ntasks = spec.ntasks;
    if (!j || !(j->name = xstrdup(spec.name)) || !(j->user = xstrdup(spec.user ? spec.user : "")) ||
        job_build_tasks(s, j, &spec) < 0) {
        rc = errcode(err, SCHED_ENOMEM, "out of memory loading a snapshot");
        goto out;
    }
    j->id = id;
    j->account = account;
    j->seed = spec.seed;
    j->submitted_ms = submitted;
    j->done_ms = done;
    j->nended = nended;
    if ((rc = job_check(j, now, x, err)) < 0)
        goto out;
    for (uint32_t i = 0; i < j->ntasks; i++) {
        sched_task_t *t = &j->tasks[i];
        t->seed = now[i].seed;
        t->ready_at_ms = now[i].ready_at_ms;
        t->attempt = now[i].attempt;
        t->unfinished_deps = now[i].unfinished_deps;
        t->attempts = now[i].attempts;
        t->state = now[i].state;
        t->queued = now[i].flags & 1;
        t->cancel_requested = now[i].flags >> 1 & 1;
        t->cancelled_upstream = now[i].flags >> 2 & 1;
        t->preemptions = now[i].preemptions;
        t->requeues = now[i].requeues;
    }
    *out = j;
    j = NULL;
out:
    job_destroy(j);
    free(now);
    free(tl);
    return rc;
}

/* --- attempts ----------------------------------------------------------- */

static int load_attempt(rd_t *r, sched_t *s, scratch_t *x, uint64_t id, sched_attempt_t **out,
                        cairn_error_t *err)
{
    sched_attempt_t a = {.id = id};
    a.prev = g64(r);
    a.job = g32(r);
    a.task = g32(r);
    a.number = (uint16_t)g16(r);
    a.end = (uint8_t)g8(r);
    a.running = (uint8_t)g8(r);
    a.queued = (uint8_t)g8(r);
    a.exit_code = (int)g32(r);
    a.signal = (int)g32(r);
    a.placed_ms = gi64(r);
    a.started_ms = gi64(r);
    a.ended_ms = gi64(r);
    a.after = g64(r);
    a.next = g64(r);
    a.left_gpus = g32(r);
    a.left_cores = g32(r);
    a.gpu_spread = (uint8_t)g8(r);
    a.cores_local = (uint8_t)g8(r);
    if (r->version >= 3) {
        a.preempt_why = (uint8_t)g8(r);
        a.by_job = g32(r);
        a.by_task = g32(r);
        a.by_prio = (int32_t)g32(r);
        a.by_acct = g32(r);
        a.grace_end_ms = gi64(r);
    }
    if (r->version >= 4)
        a.end_class = (uint8_t)g8(r);
    a.nreplicas = (uint32_t)gcount(r, 4, 24, SCHED_MAX_REPLICAS);
    if (CAIRN_GROW(x->allocs, x->allocs_cap, a.nreplicas) < 0)
        return errcode(err, SCHED_ENOMEM, "out of memory loading a snapshot");
    x->nu = 0;
    size_t *at = calloc(a.nreplicas ? a.nreplicas : 1, sizeof(size_t));
    if (!at)
        return errcode(err, SCHED_ENOMEM, "out of memory loading a snapshot");
    for (uint32_t i = 0; i < a.nreplicas && !r->bad; i++) {
        sched_alloc_desc_t *d = &x->allocs[i];
        d->node = g32(r);
        d->gpu_mask = g64(r);
        d->memory_bytes = g64(r);
        d->ncores = (uint32_t)gcount(r, 4, 4, SCHED_MAX_CORES_PER_NODE);
        at[i] = x->nu;
        if (CAIRN_GROW(x->u, x->u_cap, x->nu + d->ncores) < 0) {
            free(at);
            return errcode(err, SCHED_ENOMEM, "out of memory loading a snapshot");
        }
        for (uint32_t k = 0; k < d->ncores; k++)
            x->u[x->nu++] = g32(r);
    }
    int rc = 0;
    const sched_job_t *j = job_at(s, a.job);
    if (r->bad)
        goto out;
    if (!j || a.task >= j->ntasks || a.nreplicas == 0 || a.end > SCHED_END_PREEMPTED ||
        a.preempt_why > SCHED_PREEMPT_FAIR_SHARE ||
        (a.preempt_why && (a.by_job == 0 || a.by_acct >= s->naccts)) ||
        (a.end == SCHED_END_PREEMPTED && !a.preempt_why) || a.end_class > SCHED_CLASS_LAST ||
        (a.end_class && !sched_end_class_allowed((sched_end_t)a.end, a.exit_code)) ||
        (a.running && a.end != SCHED_END_NONE) || (a.queued && (!a.running || !a.after)) ||
        a.prev >= id || a.after >= UINT64_MAX / 2 || a.next >= UINT64_MAX / 2) {
        rc = errcode(err, SCHED_EINVAL, "snapshot: attempt %llu does not hold together",
                     (unsigned long long)id);
        goto out;
    }
    for (uint32_t i = 0; i < a.nreplicas; i++) {
        sched_alloc_desc_t *d = &x->allocs[i];
        static const uint32_t none[1];
        d->cores = d->ncores ? u_at(x, at[i]) : none; /* copied with memcpy */
        const sched_node_t *n = d->node < s->nnodes ? &s->nodes[d->node] : NULL;
        bool ok = n && d->ncores <= n->ncores && (n->ngpus == 64 || (d->gpu_mask >> n->ngpus) == 0);
        for (uint32_t k = 0; ok && k < d->ncores; k++)
            ok = d->cores[k] < n->ncores && (k == 0 || d->cores[k] > d->cores[k - 1]);
        if (!ok) {
            rc = errcode(err, SCHED_EINVAL,
                         "snapshot: attempt %llu: allocation %u is not on its node",
                         (unsigned long long)id, i);
            goto out;
        }
    }
    sched_attempt_t *na = attempt_new(x->allocs, a.nreplicas);
    if (!na) {
        rc = errcode(err, SCHED_ENOMEM, "out of memory loading a snapshot");
        goto out;
    }
    sched_alloc_desc_t *allocs = na->allocs;
    *na = a;
    na->allocs = allocs;
    na->running_ix = UINT32_MAX;
    *out = na;
out:
    free(at);
    return rc;
}

/* --- windows ------------------------------------------------------------ */

/* Read a window of jobs or attempts into w (empty, of a new state). */
static int load_window(rd_t *r, sched_t *s, scratch_t *x, bool jobs, cairn_error_t *err)
{
    id_window_t *w = jobs ? &s->jobs : &s->attempts;
    uint64_t base = g64(r);
    size_t n = gcount(r, 8, 1, jobs ? UINT32_MAX : UINT64_MAX / 4);
    if (!r->bad && (base == 0 || base > (jobs ? (uint64_t)UINT32_MAX : UINT64_MAX / 4) ||
                    n > (jobs ? (uint64_t)UINT32_MAX : UINT64_MAX / 4) - base + 1))
        fail(r, "a window of ids is out of range");
    w->base = base;
    for (size_t i = 0; i < n && !r->bad; i++) {
        void *p = NULL;
        bool there = g8(r) != 0;
        if (i == 0 && !there)
            return errcode(err, SCHED_EINVAL, "snapshot: a window starts at an id that left");
        int rc = 0;
        if (there && jobs)
            rc = load_job(r, s, x, (uint32_t)(base + i), (sched_job_t **)&p, err);
        else if (there)
            rc = load_attempt(r, s, x, base + i, (sched_attempt_t **)&p, err);
        if (rc < 0)
            return rc;
        if (there && !p)
            break; /* r->bad */
        if (win_push(w, p) < 0) {
            jobs ? job_destroy(p) : free(p);
            return errcode(err, SCHED_ENOMEM, "out of memory loading a snapshot");
        }
        if (!p)
            w->live--; /* a slot of one that left */
    }
    return 0;
}

/* --- queues and cross-checks -------------------------------------------- */

/* A queue entry: of a job given already; when the job is there, of one of
 * its tasks (an entry of a retired job is stale, and skipped as such).
 * live: a retry heap entry (its job is there; its account is not used). */
static bool gref(rd_t *r, const sched_t *s, task_ref_t *t, bool live)
{
    t->job = g32(r);
    t->task = g32(r);
    t->gen = g32(r);
    t->prio = (int32_t)g32(r);
    t->acct = r->version >= 2 ? g32(r) : 0;
    const sched_job_t *j = job_at(s, t->job);
    if (r->bad)
        return false;
    if (t->job == 0 || t->job >= win_next_id(&s->jobs) || (j && t->task >= j->ntasks) ||
        (live && !j) || (j && !live && t->acct != j->account))
        return fail(r, "a queue entry names a task that is not there");
    return true;
}

/* An entry of a priority level: of the level's priority and account, as
 * class_heap_push files it (a pass that met an entry of another account
 * than its level's would judge the two by different limits). */
static bool gref_level(rd_t *r, const sched_t *s, const prio_level_t *l, task_ref_t *t)
{
    if (!gref(r, s, t, false))
        return false;
    if (t->prio != l->prio || t->acct != l->acct)
        return fail(r, "a queue entry is not of its level's priority and account");
    return true;
}

static bool load_level(rd_t *r, const sched_t *s, task_class_t *c)
{
    prio_level_t *l = &c->levels[c->nlevels];
    l->prio = (int32_t)g32(r);
    l->acct = r->version >= 2 ? g32(r) : 0;
    if (c->nlevels && l->prio > c->levels[c->nlevels - 1].prio)
        return fail(r, "priority levels out of order");
    if (l->acct >= s->naccts)
        return fail(r, "a queue's account is not there");
    c->nlevels++;
    size_t n = gcount(r, 4, 16, UINT32_MAX);
    if (CAIRN_GROW(l->fifo, l->cap, n) < 0)
        return fail(r, "out of memory");
    for (size_t i = 0; i < n && gref_level(r, s, l, &l->fifo[l->len]); i++)
        l->len++;
    n = gcount(r, 4, 16, UINT32_MAX);
    if (CAIRN_GROW(l->heap, l->heap_cap, n) < 0)
        return fail(r, "out of memory");
    for (size_t i = 0; i < n && gref_level(r, s, l, &l->heap[l->heap_len]); i++)
        l->heap_len++;
    return !r->bad;
}

static void load_queues(rd_t *r, sched_t *s)
{
    for (size_t i = 0; i < s->nclasses && !r->bad; i++) {
        task_class_t *c = &s->classes[i];
        size_t n = gcount(r, 4, 12, UINT32_MAX);
        if (CAIRN_GROW(c->levels, c->levels_cap, n) < 0) {
            fail(r, "out of memory");
            return;
        }
        for (size_t k = 0; k < n && load_level(r, s, c); k++)
            ;
    }
    size_t n = gcount(r, 8, 4, s->nclasses);
    if (CAIRN_GROW(s->active, s->active_cap, n) < 0) {
        fail(r, "out of memory");
        return;
    }
    for (size_t i = 0; i < n && !r->bad; i++) {
        uint32_t id = g32(r);
        if (id >= s->nclasses || s->classes[id].active) {
            fail(r, "an active class is not a class, or twice");
            return;
        }
        s->classes[id].active = true;
        s->active[s->nactive++] = id;
    }
}

static void load_running(rd_t *r, sched_t *s)
{
    size_t n = gcount(r, 8, 16, UINT32_MAX);
    if (CAIRN_GROW(s->running, s->running_cap, n) < 0) {
        fail(r, "out of memory");
        return;
    }
    for (size_t i = 0; i < n && !r->bad; i++) {
        running_ref_t x = {.id = g64(r), .end_ms = gi64(r)};
        sched_attempt_t *at = attempt_at(s, x.id);
        if (r->bad)
            return;
        if (!at || !at->running || at->queued || at->running_ix != UINT32_MAX) {
            fail(r, "the running set holds an attempt that holds nothing, or twice");
            return;
        }
        at->running_ix = (uint32_t)i;
        s->running[s->nrunning++] = x;
    }
}

static void load_retry(rd_t *r, sched_t *s)
{
    size_t n = gcount(r, 8, 16, UINT32_MAX);
    if (CAIRN_GROW(s->retry_heap, s->retry_cap, n) < 0) {
        fail(r, "out of memory");
        return;
    }
    for (size_t i = 0; i < n && gref(r, s, &s->retry_heap[s->retry_len], true); i++)
        s->retry_len++;
}

static void load_ended(rd_t *r, sched_t *s)
{
    s->ended_base = g64(r);
    size_t n = gcount(r, 8, 8, UINT32_MAX);
    if (CAIRN_GROW(s->ended, s->ended_cap, n) < 0) {
        fail(r, "out of memory");
        return;
    }
    for (size_t i = 0; i < n && !r->bad; i++)
        s->ended[s->nended++] = g64(r);
}

/* What the attempts and tasks say of each other holds, and the attempts
 * that hold resources take them (the free resources are derived). */
static int cross_check(sched_t *s, cairn_error_t *err)
{
    size_t holding = 0;
    uint64_t next = win_next_id(&s->attempts);
    for (size_t i = s->attempts.off; i < s->attempts.len; i++) {
        sched_attempt_t *at = s->attempts.slot[i];
        if (!at)
            continue;
        const sched_attempt_t *after = at->after ? attempt_at(s, at->after) : NULL;
        if (at->after >= next || at->next >= next || (at->queued && !after) ||
            (at->queued && at->nreplicas != 1))
            return errcode(err, SCHED_EINVAL, "snapshot: attempt %llu queues behind nothing",
                           (unsigned long long)at->id);
        if (at->running && !at->queued) {
            holding++;
            for (uint32_t k = 0; k < at->nreplicas; k++) {
                int rc = cluster_alloc_check(s, &at->allocs[k], err);
                if (rc < 0)
                    return rc;
                cluster_alloc_take(s, &at->allocs[k]);
            }
        }
    }
    if (holding != s->nrunning)
        return errcode(err, SCHED_EINVAL,
                       "snapshot: %zu attempts hold resources, the running set has %zu", holding,
                       s->nrunning);
    for (size_t i = s->jobs.off; i < s->jobs.len; i++) {
        const sched_job_t *j = s->jobs.slot[i];
        for (uint32_t k = 0; j && k < j->ntasks; k++) {
            const sched_task_t *t = &j->tasks[k];
            const sched_attempt_t *at = attempt_at(s, t->attempt);
            if (t->attempt >= next || (at && (at->job != j->id || at->task != k)))
                return errcode(err, SCHED_EINVAL,
                               "snapshot: job %u task %s: attempt %llu is not its", j->id, t->name,
                               (unsigned long long)t->attempt);
        }
    }
    return 0;
}

uint32_t sched_snapshot_version(const uint8_t *p, size_t len)
{
    if (!p || len < 12 || memcmp(p, "CAIRNSNP", 8) != 0)
        return 0;
    return (uint32_t)p[8] | (uint32_t)p[9] << 8 | (uint32_t)p[10] << 16 | (uint32_t)p[11] << 24;
}

static int load_all(rd_t *r, sched_t *s, cairn_error_t *err)
{
    scratch_t x = {0};
    int rc = 0;
    x.numa_mem = calloc(SCHED_MAX_NUMA_PER_NODE, sizeof(uint64_t));
    x.core_numa = calloc(SCHED_MAX_CORES_PER_NODE, sizeof(int));
    if (!x.numa_mem || !x.core_numa) {
        rc = errcode(err, SCHED_ENOMEM, "out of memory loading a snapshot");
        goto out;
    }
    /* format 1 (before accounts): only "default", as sched_create made it */
    if (r->version >= 2 && !snap_load_accounts(r, s))
        goto out;
    size_t n = gcount(r, 8, 20, UINT32_MAX);
    for (size_t i = 0; i < n && !r->bad && rc == 0; i++)
        rc = load_node(r, s, &x, err);
    n = gcount(r, 8, 50, UINT32_MAX);
    for (size_t i = 0; i < n && !r->bad && rc == 0; i++)
        rc = load_class(r, s, &x, (uint32_t)i, err);
    if (rc == 0 && !r->bad)
        rc = load_window(r, s, &x, true, err);
    if (rc == 0 && !r->bad)
        rc = load_window(r, s, &x, false, err);
    if (rc < 0 || r->bad)
        goto out;
    load_queues(r, s);
    load_running(r, s);
    load_retry(r, s);
    load_ended(r, s);
    if (r->version >= 3)
        snap_load_holds(r, s);
    s->retired_jobs = g32(r);
    for (int i = 0; i < 8; i++)
        s->retired_tasks[i] = g64(r);
    s->last_pass_ms = gi64(r);
    if (!r->bad && r->off != r->len)
        fail(r, "bytes follow its end");
    if (!r->bad)
        rc = cross_check(s, err);
    if (rc == 0 && !r->bad) {
        acct_rebuild(s);
        preempt_candidates_rebuild(s);
    }
out:
    scratch_fini(&x);
    return rc;
}

int sched_snapshot_load(const uint8_t *p, size_t len, const sched_config_t *cfg, sched_t **out,
                        cairn_error_t *err)
{
    *out = NULL;
    uint32_t v = sched_snapshot_version(p, len);
    if (v == 0)
        return errcode(err, SCHED_EINVAL, "not a snapshot (no CAIRNSNP header)");
    if (v < 1 || v > SCHED_SNAPSHOT_VERSION)
        return errcode(err, SCHED_EINVAL, "snapshot format version %u, this build reads 1 to %u", v,
                       SCHED_SNAPSHOT_VERSION);
    sched_t *s = sched_create(cfg);
    if (!s)
        return errcode(err, SCHED_ENOMEM, "out of memory loading a snapshot");
    rd_t r = {.p = p, .len = len, .off = 12, .version = v};
    int rc = load_all(&r, s, err);
    if (rc == 0 && r.bad)
        rc = errcode(err, SCHED_EINVAL, "snapshot: %s (byte %zu of %zu)", r.bad, r.bad_at, len);
    if (rc < 0) {
        sched_destroy(s);
        return rc;
    }
    *out = s;
    return 0;
}
