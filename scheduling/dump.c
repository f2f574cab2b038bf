/* Canonical dump of the state: equal states give equal text. */
#include <stdlib.h>

#include "scheduling/sched_private.h"

static void dump_node(cairn_buf_t *b, const sched_node_t *n)
{
    uint32_t ids[SCHED_MAX_CORES_PER_NODE], k = 0;
    cairn_buf_printf(b, "node %u %s %s ", n->id, n->name, sched_node_state_name(n->state));
    if (n->drained)
        cairn_buf_printf(b, "drained[%s] ", n->drain_reason ? n->drain_reason : "");
    cairn_buf_printf(b, "mem %llu/%llu ", (unsigned long long)n->mem_free,
                     (unsigned long long)n->mem_total);
    for (uint32_t i = 0; i < n->ncores; i++)
        if (bit_test(n->core_free, i))
            ids[k++] = i;
    cairn_buf_printf(b, "cores %u/%u ", n->free_cores, n->ncores);
    sb_idset(b, "free", ids, k);
    k = 0;
    for (uint32_t i = 0; i < n->ngpus; i++)
        if (n->gpu_free >> i & 1)
            ids[k++] = i;
    cairn_buf_printf(b, " gpus %u/%u ", n->free_gpus, n->ngpus);
    sb_idset(b, "free", ids, k);
    for (uint64_t m = n->gpu_sick; m; m &= m - 1)
        cairn_buf_printf(b, " sick[%d:%s]", __builtin_ctzll(m),
                         n->gpus[__builtin_ctzll(m)].unhealthy);
    cairn_buf_printf(b, "\n");
}

static void dump_task(cairn_buf_t *b, const sched_task_t *t, uint32_t i)
{
    cairn_buf_printf(b, "  task %u %s %s attempts %u seed %llu", i, t->name,
                     sched_task_state_name(t->state), t->attempts, (unsigned long long)t->seed);
    if (t->state == SCHED_TASK_RETRYING)
        cairn_buf_printf(b, " ready_at %lld", (long long)t->ready_at_ms);
    if (t->cancel_requested)
        cairn_buf_printf(b, " cancel_requested");
    if (t->cancelled_upstream)
        cairn_buf_printf(b, " upstream");
    if (t->state == SCHED_TASK_PENDING)
        cairn_buf_printf(b, " waiting_on %u", t->unfinished_deps);
    if (t->preemptible)
        cairn_buf_printf(b, " preemptible grace %lld max %u", (long long)t->grace_ms,
                         t->max_preempt);
    if (t->preemptions || t->requeues)
        cairn_buf_printf(b, " preemptions %u requeues %u", t->preemptions, t->requeues);
    cairn_buf_printf(b, "\n");
}

static void dump_attempt(cairn_buf_t *b, const sched_t *s, const sched_attempt_t *at)
{
    cairn_buf_printf(b, "attempt %llu job%u/%s #%u %s", (unsigned long long)at->id, at->job,
                     task_at(s, (task_ref_t){.job = at->job, .task = at->task})->name, at->number,
                     at->running ? "running" : sched_end_name((sched_end_t)at->end));
    if (!at->running && at->end == SCHED_END_EXIT)
        cairn_buf_printf(b, " %d", at->exit_code);
    if (!at->running && at->end == SCHED_END_SIGNAL)
        cairn_buf_printf(b, " sig%d", at->signal);
    if (at->end_class)
        cairn_buf_printf(b, " class=%s", sched_end_class_name((sched_end_class_t)at->end_class));
    cairn_buf_printf(b, " t=%lld/%lld/%lld", (long long)at->placed_ms, (long long)at->started_ms,
                     (long long)at->ended_ms);
    if (at->after)
        cairn_buf_printf(b, " after=%llu%s", (unsigned long long)at->after,
                         at->queued ? " queued" : "");
    if (at->preempt_why)
        cairn_buf_printf(b, " preempted_by=job%u/%u why=%u prio=%d acct=%u grace_end=%lld",
                         at->by_job, at->by_task, at->preempt_why, at->by_prio, at->by_acct,
                         (long long)at->grace_end_ms);
    for (uint32_t i = 0; i < at->nreplicas; i++) {
        const sched_alloc_desc_t *a = &at->allocs[i];
        uint32_t gpus[SCHED_MAX_GPUS_PER_NODE], ng = 0;
        for (uint32_t g = 0; g < 64; g++)
            if (a->gpu_mask >> g & 1)
                gpus[ng++] = g;
        cairn_buf_printf(b, " %s ", s->nodes[a->node].name);
        sb_idset(b, "gpu", gpus, ng);
        cairn_buf_printf(b, " ");
        sb_idset(b, "core", a->cores, a->ncores);
        cairn_buf_printf(b, " mem=%llu", (unsigned long long)a->memory_bytes);
    }
    cairn_buf_printf(b, "\n");
}

char *sched_dump(const sched_t *s)
{
    cairn_buf_t b = {0};
    for (size_t i = 0; i < s->nnodes; i++)
        dump_node(&b, &s->nodes[i]);
    for (size_t i = s->jobs.off; i < s->jobs.len; i++) {
        const sched_job_t *j = s->jobs.slot[i];
        if (!j)
            continue;
        cairn_buf_printf(&b, "job %u %s seed %llu tasks %u ended %u", j->id, j->name,
                         (unsigned long long)j->seed, j->ntasks, j->nended);
        if (j->account)
            cairn_buf_printf(&b, " account %s", s->accts[j->account].name);
        cairn_buf_printf(&b, "\n");
        for (uint32_t k = 0; k < j->ntasks; k++)
            dump_task(&b, &j->tasks[k], k);
    }
    for (size_t i = s->attempts.off; i < s->attempts.len; i++)
        if (s->attempts.slot[i])
            dump_attempt(&b, s, s->attempts.slot[i]);
    /* accounts beyond the built-in default: all of each, usage exact */
    for (size_t i = 1; i < s->naccts; i++) {
        const sched_account_t *a = &s->accts[i];
        cairn_buf_printf(&b,
                         "account %zu %s%s parent %s share %u max %u/%u/%u prio %d held %u/%u/%u "
                         "usage %llu at %lld rate %llu\n",
                         i, a->name, a->deleted ? " deleted" : "",
                         a->parent == SCHED_ACCOUNT_NONE ? "-" : s->accts[a->parent].name, a->share,
                         a->max_gpus, a->max_cpus, a->max_running, a->max_priority, a->held_gpus,
                         a->held_cpus, a->held_running, (unsigned long long)a->usage,
                         (long long)a->usage_ms, (unsigned long long)a->rate);
    }
    if (s->naccts > 1 && (s->accts[0].usage || s->accts[0].rate))
        cairn_buf_printf(&b, "account 0 default usage %llu at %lld rate %llu\n",
                         (unsigned long long)s->accts[0].usage, (long long)s->accts[0].usage_ms,
                         (unsigned long long)s->accts[0].rate);
    /* preemptions in progress, in the order they were made */
    for (size_t i = 0; i < s->nholds; i++) {
        const preempt_hold_t *h = &s->holds[i];
        cairn_buf_printf(&b, "hold job%u/%u grace_end %lld victims", h->job, h->task,
                         (long long)h->grace_end_ms);
        for (uint32_t k = 0; k < h->nvictims; k++)
            cairn_buf_printf(&b, " %llu", (unsigned long long)h->victims[k]);
        cairn_buf_printf(&b, " nodes");
        for (uint32_t k = 0; k < h->nnodes; k++)
            cairn_buf_printf(&b, " %u", h->nodes[k]);
        cairn_buf_printf(&b, "\n");
    }
    /* what left the state: the ids it gave, what was retired */
    if (s->retired_jobs) {
        cairn_buf_printf(&b, "retired %u jobs, next job %llu attempt %llu; tasks", s->retired_jobs,
                         (unsigned long long)win_next_id(&s->jobs),
                         (unsigned long long)win_next_id(&s->attempts));
        for (int st = 0; st < 8; st++)
            if (s->retired_tasks[st])
                cairn_buf_printf(&b, " %s %llu", sched_task_state_name((sched_task_state_t)st),
                                 (unsigned long long)s->retired_tasks[st]);
        cairn_buf_printf(&b, "\n");
    }
    return cairn_buf_take(&b);
}
