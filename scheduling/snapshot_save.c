/* Snapshots: the state to bytes (snapshot.h; the reader is snapshot_load.c).
 *
 * Layout, every integer little-endian, every list after its count:
 *   "CAIRNSNP" u32 version
 *   nodes:    the description each holds now (name, NUMA memory, cores'
 *             domains, GPUs, labels), presence, drain and its reason
 *   classes:  the request shape, the running average of run times
 *   jobs:     the window (first id, slots); each job there: name, user,
 *             seed, times, and each task as the core holds it (its
 *             strings, needs as indexes, class, policy) with its state
 *   attempts: the window; each attempt with its allocations
 *   queues:   each class's ready levels (FIFO from its head, then heap,
 *             as they are), the active classes, the running heap, the
 *             retry heap, the ended list, the preemptions in progress
 *             (3: with each task's and attempt's preemption fields;
 *             4: each class's topology placement, after its run time)
 *   counters: retired jobs and tasks, the last pass's time
 * Free resources are not written: the attempts that hold them say it. */
#include <string.h>

#include "scheduling/sched_private.h"
#include "scheduling/snapshot.h"

static void put(cairn_buf_t *b, uint64_t v, int bytes)
{
    char le[8];
    for (int i = 0; i < bytes; i++)
        le[i] = (char)(v >> (8 * i));
    cairn_buf_add(b, le, (size_t)bytes);
}
static void u8(cairn_buf_t *b, uint32_t v)
{
    put(b, v, 1);
}
static void u16(cairn_buf_t *b, uint32_t v)
{
    put(b, v, 2);
}
static void u32(cairn_buf_t *b, uint32_t v)
{
    put(b, v, 4);
}
static void u64(cairn_buf_t *b, uint64_t v)
{
    put(b, v, 8);
}
static void i64(cairn_buf_t *b, int64_t v)
{
    put(b, (uint64_t)v, 8);
}
/* A string: its length + 1 then its bytes and a NUL (so a reader can
 * point into the snapshot); 0 for NULL. */
static void str(cairn_buf_t *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    u32(b, s ? (uint32_t)n + 1 : 0);
    if (s)
        cairn_buf_add(b, s, n + 1);
}
static void strs(cairn_buf_t *b, uint32_t n, const char *const *v)
{
    u32(b, n);
    for (uint32_t i = 0; i < n; i++)
        str(b, v[i]);
}
static void ref(cairn_buf_t *b, const task_ref_t *r)
{
    u32(b, r->job);
    u32(b, r->task);
    u32(b, r->gen);
    u32(b, (uint32_t)r->prio);
    u32(b, r->acct);
}

/* Accounts, by id: what SCHED_EV_ACCOUNT_SET gave and the usage (what
 * their attempts hold is derived). */
static void save_accounts(cairn_buf_t *b, const sched_t *s)
{
    u64(b, s->naccts);
    for (size_t i = 0; i < s->naccts; i++) {
        const sched_account_t *a = &s->accts[i];
        str(b, a->name);
        u32(b, a->parent);
        u32(b, a->share);
        u32(b, a->max_gpus);
        u32(b, a->max_cpus);
        u32(b, a->max_running);
        u32(b, (uint32_t)a->max_priority);
        u8(b, a->deleted);
        u64(b, a->usage);
        i64(b, a->usage_ms);
    }
}

static void save_node(cairn_buf_t *b, const sched_node_t *n)
{
    str(b, n->name);
    u32(b, n->nnuma);
    for (uint32_t i = 0; i < n->nnuma; i++)
        u64(b, n->numa_memory[i]);
    u32(b, n->ncores);
    for (uint32_t i = 0; i < n->ncores; i++)
        u16(b, n->core_numa[i]);
    u32(b, n->ngpus);
    for (uint32_t i = 0; i < n->ngpus; i++) {
        const sched_gpu_t *g = &n->gpus[i];
        str(b, g->vendor);
        str(b, g->model);
        str(b, g->uuid);
        str(b, g->pci_bus_id);
        u64(b, g->memory_bytes);
        u32(b, (uint32_t)g->numa);
        u32(b, (uint32_t)g->group_id);
    }
    strs(b, n->nlabels, (const char *const *)n->labels);
    u8(b, n->presence);
    u8(b, n->drained);
    str(b, n->drain_reason);
    u32(b, (uint32_t)__builtin_popcountll(n->gpu_sick));
    for (uint64_t m = n->gpu_sick; m; m &= m - 1) {
        u32(b, (uint32_t)__builtin_ctzll(m));
        str(b, n->gpus[__builtin_ctzll(m)].unhealthy);
    }
}

static void save_class(cairn_buf_t *b, const task_class_t *c)
{
    u32(b, c->cpus);
    u32(b, c->gpus);
    u32(b, c->replicas);
    u64(b, c->memory);
    u64(b, c->gpu_min_memory);
    i64(b, c->time_limit_ms);
    str(b, c->gpu_model);
    u8(b, c->gpu_mixed);
    strs(b, c->nlabels, (const char *const *)c->labels);
    i64(b, c->run_avg16);
    u8(b, c->run_known);
    u8(b, c->place_mode); /* 4: topology placement */
    str(b, c->place_level);
}

static void save_policy(cairn_buf_t *b, const sched_retry_policy_t *p)
{
    u32(b, p->max_attempts);
    i64(b, p->backoff_ms);
    u32(b, p->factor_milli);
    i64(b, p->max_backoff_ms);
    u32(b, p->jitter_pct);
    u32(b, p->on);
    u32(b, p->nexit_codes);
    for (uint32_t i = 0; i < p->nexit_codes && i < SCHED_RETRY_MAX_EXIT_CODES; i++)
        u32(b, (uint32_t)p->exit_codes[i]);
}

static void save_task(cairn_buf_t *b, const sched_task_t *t)
{
    str(b, t->name);
    str(b, t->kind);
    str(b, t->workdir);
    strs(b, t->argc, t->argv);
    strs(b, t->nenv, t->env);
    strs(b, t->noutputs, t->outputs);
    str(b, t->cache_base);
    u8(b, t->cache_reuse);
    u32(b, t->ndeps);
    for (uint32_t i = 0; i < t->ndeps; i++)
        u32(b, t->deps[i]);
    u32(b, t->cls);
    u32(b, t->replicas);
    u32(b, (uint32_t)t->priority);
    i64(b, t->time_limit_ms);
    save_policy(b, t->retry);
    /* where it is */
    u64(b, t->seed);
    i64(b, t->ready_at_ms);
    u64(b, t->attempt);
    u32(b, t->unfinished_deps);
    u16(b, t->attempts);
    u8(b, t->state);
    u8(b, (uint32_t)t->queued | (uint32_t)t->cancel_requested << 1 |
              (uint32_t)t->cancelled_upstream << 2);
    /* 3: preemption */
    u8(b, t->preemptible);
    i64(b, t->grace_ms);
    u16(b, t->max_preempt);
    u16(b, t->preemptions);
    u16(b, t->requeues);
}

static void save_job(cairn_buf_t *b, const sched_job_t *j)
{
    str(b, j->name);
    str(b, j->user);
    u32(b, j->account);
    u64(b, j->seed);
    i64(b, j->submitted_ms);
    i64(b, j->done_ms);
    u32(b, j->nended);
    u32(b, j->ntasks);
    for (uint32_t i = 0; i < j->ntasks; i++)
        save_task(b, &j->tasks[i]);
}

static void save_attempt(cairn_buf_t *b, const sched_attempt_t *at)
{
    u64(b, at->prev);
    u32(b, at->job);
    u32(b, at->task);
    u16(b, at->number);
    u8(b, at->end);
    u8(b, at->running);
    u8(b, at->queued);
    u32(b, (uint32_t)at->exit_code);
    u32(b, (uint32_t)at->signal);
    i64(b, at->placed_ms);
    i64(b, at->started_ms);
    i64(b, at->ended_ms);
    u64(b, at->after);
    u64(b, at->next);
    u32(b, at->left_gpus);
    u32(b, at->left_cores);
    u8(b, at->gpu_spread);
    u8(b, at->cores_local);
    /* 3: preemption */
    u8(b, at->preempt_why);
    u32(b, at->by_job);
    u32(b, at->by_task);
    u32(b, (uint32_t)at->by_prio);
    u32(b, at->by_acct);
    i64(b, at->grace_end_ms);
    /* 4: failure classes */
    u8(b, at->end_class);
    u32(b, at->nreplicas);
    for (uint32_t i = 0; i < at->nreplicas; i++) {
        const sched_alloc_desc_t *a = &at->allocs[i];
        u32(b, a->node);
        u64(b, a->gpu_mask);
        u64(b, a->memory_bytes);
        u32(b, a->ncores);
        for (uint32_t k = 0; k < a->ncores; k++)
            u32(b, a->cores[k]);
    }
}

/* A window: its first id, its slots, each a flag and what is there. */
static void save_window(cairn_buf_t *b, const id_window_t *w, bool jobs)
{
    u64(b, w->base);
    u64(b, w->len - w->off);
    for (size_t i = w->off; i < w->len; i++) {
        u8(b, w->slot[i] != NULL);
        if (w->slot[i] && jobs)
            save_job(b, w->slot[i]);
        else if (w->slot[i])
            save_attempt(b, w->slot[i]);
    }
}

static void save_queues(cairn_buf_t *b, const sched_t *s)
{
    for (size_t i = 0; i < s->nclasses; i++) {
        const task_class_t *c = &s->classes[i];
        u32(b, c->nlevels);
        for (uint32_t k = 0; k < c->nlevels; k++) {
            const prio_level_t *l = &c->levels[k];
            u32(b, (uint32_t)l->prio);
            u32(b, l->acct);
            u32(b, l->len - l->head);
            for (uint32_t q = l->head; q < l->len; q++)
                ref(b, &l->fifo[q]);
            u32(b, l->heap_len);
            for (uint32_t q = 0; q < l->heap_len; q++)
                ref(b, &l->heap[q]);
        }
    }
    u64(b, s->nactive);
    for (size_t i = 0; i < s->nactive; i++)
        u32(b, s->active[i]);
    u64(b, s->nrunning);
    for (size_t i = 0; i < s->nrunning; i++) {
        u64(b, s->running[i].id);
        i64(b, s->running[i].end_ms);
    }
    u64(b, s->retry_len);
    for (size_t i = 0; i < s->retry_len; i++)
        ref(b, &s->retry_heap[i]);
    u64(b, s->ended_base);
    u64(b, s->nended);
    for (size_t i = 0; i < s->nended; i++)
        u64(b, s->ended[i]);
    /* 3: preemptions in progress */
    u64(b, s->nholds);
    for (size_t i = 0; i < s->nholds; i++) {
        const preempt_hold_t *h = &s->holds[i];
        u32(b, h->job);
        u32(b, h->task);
        i64(b, h->grace_end_ms);
        u32(b, h->nvictims);
        for (uint32_t k = 0; k < h->nvictims; k++)
            u64(b, h->victims[k]);
        u32(b, h->nnodes);
        for (uint32_t k = 0; k < h->nnodes; k++)
            u32(b, h->nodes[k]);
    }
}

int sched_snapshot_save(const sched_t *s, uint8_t **out, size_t *len, cairn_error_t *err)
{
    cairn_buf_t b = {0};
    cairn_buf_add(&b, "CAIRNSNP", 8);
    u32(&b, SCHED_SNAPSHOT_VERSION);
    save_accounts(&b, s);
    u64(&b, s->nnodes);
    for (size_t i = 0; i < s->nnodes; i++)
        save_node(&b, &s->nodes[i]);
    u64(&b, s->nclasses);
    for (size_t i = 0; i < s->nclasses; i++)
        save_class(&b, &s->classes[i]);
    save_window(&b, &s->jobs, true);
    save_window(&b, &s->attempts, false);
    save_queues(&b, s);
    u32(&b, s->retired_jobs);
    for (int i = 0; i < 8; i++)
        u64(&b, s->retired_tasks[i]);
    i64(&b, s->last_pass_ms);
    size_t n = b.len;
    char *p = cairn_buf_take(&b);
    if (!p)
        return errcode(err, SCHED_ENOMEM, "out of memory writing a snapshot");
    *out = (uint8_t *)p;
    *len = n;
    return 0;
}
