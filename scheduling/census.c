/* What waits and what sits idle: see sched_census() in sched.h. */
#include <stdlib.h>
#include <string.h>

#include "scheduling/sched_private.h"

static int cls_cmp(const void *a, const void *b)
{
    const sched_census_class_t *x = a, *y = b;
    return x->cls < y->cls ? -1 : x->cls > y->cls;
}

/* Does one domain at class k's level or tighter hold all its replicas on
 * nodes that fit it now? (Always, when the core lacks its level: then
 * it waits for the level, not for room.) */
static bool census_domain_fits(const sched_t *s, const task_class_t *k)
{
    const topo_t *t = &s->topo;
    if (k->place_ix < 0)
        return true;
    const topo_level_t *lv = &t->levels[k->place_ix];
    uint32_t *cnt = calloc(lv->nvals + 1, sizeof(uint32_t));
    bool fits = cnt == NULL;
    for (size_t n = 0; cnt && !fits && n < s->nnodes; n++) {
        uint32_t d = topo_dom(t, (uint32_t)n, (uint32_t)k->place_ix);
        /* a domain of a tighter level lies inside one of this level */
        fits = d != TOPO_NONE && fit_node(&s->nodes[n], k) == FIT_OK && ++cnt[d] >= k->replicas;
    }
    free(cnt);
    return fits;
}

int sched_census(const sched_t *s, sched_census_t *out)
{
    memset(out, 0, sizeof(*out));
    uint32_t *waiting = calloc(3 * (s->nclasses + 1), sizeof(uint32_t));
    if (!waiting)
        return SCHED_ENOMEM;
    uint32_t *limited = waiting + s->nclasses + 1;
    uint32_t *preempting = limited + s->nclasses + 1;
    for (size_t i = s->jobs.off; i < s->jobs.len; i++) {
        const sched_job_t *j = s->jobs.slot[i]; /* NULL: retired */
        for (uint32_t t = 0; j && t < j->ntasks; t++) {
            const sched_task_t *task = &j->tasks[t];
            if (task->state != SCHED_TASK_READY || task->cls >= s->nclasses)
                continue;
            uint32_t nr = task->replicas ? task->replicas : 1;
            waiting[task->cls] += nr;
            if (!acct_fits(s, j->account, &s->classes[task->cls]))
                limited[task->cls] += nr;
            else if (s->nholds && preempt_hold_active(
                                      s, preempt_hold_of(s, (task_ref_t){.job = j->id, .task = t})))
                preempting[task->cls] += nr;
        }
    }
    for (size_t i = 0; i < s->nnodes; i++) {
        const sched_node_t *n = &s->nodes[i];
        if (n->state != SCHED_NODE_UP)
            continue;
        out->gpus_total += n->ngpus;
        out->gpus_free += n->free_gpus;
        out->cores_total += n->ncores;
        out->cores_free += n->free_cores;
    }
    size_t nc = 0;
    for (size_t c = 0; c < s->nclasses; c++)
        nc += waiting[c] > 0;
    if (nc && !(out->classes = calloc(nc, sizeof(*out->classes)))) {
        free(waiting);
        return SCHED_ENOMEM;
    }
    for (size_t c = 0; c < s->nclasses; c++) {
        if (!waiting[c])
            continue;
        const task_class_t *k = &s->classes[c];
        sched_census_class_t *cc = &out->classes[out->nclasses++];
        cc->cls = k->id;
        cc->cpus = k->cpus;
        cc->gpus = k->gpus;
        cc->replicas = k->replicas;
        cc->memory = k->memory;
        cc->gpu_model = k->gpu_model;
        cc->waiting = waiting[c];
        cc->gpus_wanted = waiting[c] * k->gpus;
        cc->limited = limited[c];
        cc->preempting = preempting[c];
        if (!k->gpus)
            continue;
        /* free GPUs on up nodes, by why this class cannot use them */
        uint32_t usable = 0, split = 0, blocked = 0, other_model = 0, fit_gpus = 0, nfit = 0;
        for (size_t i = 0; i < s->nnodes; i++) {
            const sched_node_t *n = &s->nodes[i];
            if (n->state != SCHED_NODE_UP || !n->free_gpus)
                continue;
            uint32_t elig =
                fit_node_capacity(n, k) == FIT_OK
                    ? (uint32_t)__builtin_popcountll(fit_gpu_eligible(n, k) & node_gpu_open(n))
                    : 0;
            other_model += n->free_gpus - elig;
            if (!elig)
                continue;
            usable += elig;
            if (elig < k->gpus)
                split += elig;
            else if (n->free_cores < k->cpus || n->mem_free < k->memory)
                blocked += elig;
            else if (fit_node(n, k) == FIT_OK) {
                fit_gpus += elig;
                nfit++;
            }
        }
        /* what tasks at an account limit want is theirs to wait for: the
         * other reasons are about the rest */
        uint32_t want_lim = limited[c] * k->gpus;
        /* a preemptor waiting on a grace has its place: what it wants is
         * in no idle count */
        uint32_t want = cc->gpus_wanted - want_lim - preempting[c] * k->gpus;
        cc->idle_cpu_mem = blocked < want ? blocked : want;
        want -= cc->idle_cpu_mem;
        /* split matters when the free GPUs would have been enough together */
        cc->idle_split = usable >= k->gpus ? (split < want ? split : want) : 0;
        want -= cc->idle_split;
        /* a gang that requires a domain, with enough nodes for it only
         * across domains: what it could use there is fragmentation by
         * topology */
        uint32_t topo = k->place_mode == SCHED_PLACEMENT_REQUIRE && nfit >= k->replicas &&
                                !census_domain_fits(s, k)
                            ? fit_gpus
                            : 0;
        cc->idle_topo = topo < want ? topo : want;
        want -= cc->idle_topo;
        cc->idle_model = other_model < want ? other_model : want;
        want -= cc->idle_model;
        uint32_t rest = usable - cc->idle_cpu_mem - cc->idle_split - cc->idle_topo;
        cc->idle_other = rest < want ? rest : want; /* reserved, priority, gangs */
        rest -= cc->idle_other;
        cc->idle_limit = rest < want_lim ? rest : want_lim;
    }
    free(waiting);
    if (out->nclasses > 1)
        qsort(out->classes, out->nclasses, sizeof(*out->classes), cls_cmp);
    return 0;
}

void sched_census_fini(sched_census_t *c)
{
    free(c->classes);
    memset(c, 0, sizeof(*c));
}
