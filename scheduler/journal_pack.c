/* Core events <-> journal entries; see journal_pack.h. */
#include "scheduler/journal_pack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* e packed into a malloc'd *buf of *len bytes: 0 or -ENOMEM. */
static int pack_entry(const Cairn__JournalEntry *e, uint8_t **buf, size_t *len)
{
    *len = cairn__journal_entry__get_packed_size(e);
    *buf = malloc(*len ? *len : 1);
    if (!*buf)
        return -ENOMEM;
    cairn__journal_entry__pack(e, *buf);
    return 0;
}

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
    rc = pack_entry(e, buf, len);
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
    rc = pack_entry(e, buf, len);
out:
    free(allocs);
    free(ptrs);
    return rc;
}

int journal_event_pack(const sched_event_t *ev, const Cairn__JobSpec *js, uint64_t seed,
                       uint8_t **buf, size_t *len)
{
    Cairn__JournalEntry e = CAIRN__JOURNAL_ENTRY__INIT;
    Cairn__JNodeAdd na = CAIRN__JNODE_ADD__INIT;
    Cairn__JNodeState ns = CAIRN__JNODE_STATE__INIT;
    Cairn__JSubmit sub = CAIRN__JSUBMIT__INIT;
    Cairn__JStart st = CAIRN__JSTART__INIT;
    Cairn__JFinish fin = CAIRN__JFINISH__INIT;
    Cairn__JCancel can = CAIRN__JCANCEL__INIT;
    Cairn__JRetire ret = CAIRN__JRETIRE__INIT;
    Cairn__JNodeRemove rm = CAIRN__JNODE_REMOVE__INIT;
    Cairn__JAccountSet as = CAIRN__JACCOUNT_SET__INIT;
    Cairn__JAccountDelete ad = CAIRN__JACCOUNT_DELETE__INIT;
    Cairn__JPreempt pre = CAIRN__JPREEMPT__INIT;
    Cairn__JGpuHealth gh = CAIRN__JGPU_HEALTH__INIT;
    const sched_account_spec_t *a = &ev->u.account_set;
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
        sub.account = (char *)(ev->u.submit.account ? ev->u.submit.account : "");
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
        fin.end_class = (uint32_t)ev->u.finish.cls;
        e.event_case = CAIRN__JOURNAL_ENTRY__EVENT_FINISH;
        e.finish = &fin;
        break;
    case SCHED_EV_CANCEL:
        can.job = ev->u.cancel.job;
        can.task = ev->u.cancel.task;
        e.event_case = CAIRN__JOURNAL_ENTRY__EVENT_CANCEL;
        e.cancel = &can;
        break;
    case SCHED_EV_JOB_RETIRE:
        ret.job = ev->u.retire.job;
        e.event_case = CAIRN__JOURNAL_ENTRY__EVENT_RETIRE;
        e.retire = &ret;
        break;
    case SCHED_EV_GPU_HEALTH:
        gh.node = ev->u.gpu_health.node;
        gh.gpu = ev->u.gpu_health.gpu;
        gh.reason = (char *)(ev->u.gpu_health.reason ? ev->u.gpu_health.reason : "");
        e.event_case = CAIRN__JOURNAL_ENTRY__EVENT_GPU_HEALTH;
        e.gpu_health = &gh;
        break;
    case SCHED_EV_NODE_REMOVE:
        rm.node = ev->u.node_remove.node;
        e.event_case = CAIRN__JOURNAL_ENTRY__EVENT_NODE_REMOVE;
        e.node_remove = &rm;
        break;
    case SCHED_EV_ACCOUNT_SET:
        as.name = (char *)(a->name ? a->name : "");
        as.parent = (char *)(a->parent ? a->parent : "");
        as.share = a->share;
        as.max_gpus = a->max_gpus;
        as.max_cpus = a->max_cpus;
        as.max_running = a->max_running;
        as.max_priority = a->max_priority;
        e.event_case = CAIRN__JOURNAL_ENTRY__EVENT_ACCOUNT_SET;
        e.account_set = &as;
        break;
    case SCHED_EV_ACCOUNT_DELETE:
        ad.name = (char *)(ev->u.account_delete.name ? ev->u.account_delete.name : "");
        e.event_case = CAIRN__JOURNAL_ENTRY__EVENT_ACCOUNT_DELETE;
        e.account_delete = &ad;
        break;
    case SCHED_EV_PREEMPT:
        pre.job = ev->u.preempt.job;
        pre.task = ev->u.preempt.task;
        pre.n_victims = ev->u.preempt.nvictims;
        pre.victims = (uint64_t *)ev->u.preempt.victims;
        pre.grace_end_ms = ev->u.preempt.grace_end_ms;
        e.event_case = CAIRN__JOURNAL_ENTRY__EVENT_PREEMPT;
        e.preempt = &pre;
        break;
    default:
        return -EINVAL;
    }
    return pack_entry(&e, buf, len);
}

static int unpack_node_add(const Cairn__JNodeAdd *na, sched_event_t *ev, journal_hold_t *h,
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

int journal_event_unpack(const uint8_t *buf, size_t len, sched_event_t *ev, journal_hold_t *h,
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
        jobspec_errors_t errs = {0};
        if (!e->submit->job ||
            jobspec_build(e->submit->job, e->submit->seed, NULL, &h->job, &errs) != 0) {
            jobspec_errors_fini(&errs);
            return errcode(err, -EBADMSG, "journal submit does not convert");
        }
        ev->type = SCHED_EV_JOB_SUBMIT;
        ev->u.submit = *jobspec_core(h->job);
        ev->u.submit.account = e->submit->account; /* held by h->entry */
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
        ev->u.finish.cls = (sched_end_class_t)e->finish->end_class;
        return 0;
    case CAIRN__JOURNAL_ENTRY__EVENT_CANCEL:
        ev->type = SCHED_EV_CANCEL;
        ev->u.cancel.job = e->cancel->job;
        ev->u.cancel.task = e->cancel->task;
        return 0;
    case CAIRN__JOURNAL_ENTRY__EVENT_RETIRE:
        ev->type = SCHED_EV_JOB_RETIRE;
        ev->u.retire.job = e->retire->job;
        return 0;
    case CAIRN__JOURNAL_ENTRY__EVENT_GPU_HEALTH:
        ev->type = SCHED_EV_GPU_HEALTH;
        ev->u.gpu_health.node = e->gpu_health->node;
        ev->u.gpu_health.gpu = e->gpu_health->gpu;
        /* held by h->entry */
        ev->u.gpu_health.reason = e->gpu_health->reason[0] ? e->gpu_health->reason : NULL;
        return 0;
    case CAIRN__JOURNAL_ENTRY__EVENT_NODE_REMOVE:
        ev->type = SCHED_EV_NODE_REMOVE;
        ev->u.node_remove.node = e->node_remove->node;
        return 0;
    case CAIRN__JOURNAL_ENTRY__EVENT_ACCOUNT_SET: {
        const Cairn__JAccountSet *a = e->account_set;
        ev->type = SCHED_EV_ACCOUNT_SET;
        ev->u.account_set = (sched_account_spec_t){.name = a->name, /* held by h->entry */
                                                   .parent = a->parent,
                                                   .share = a->share,
                                                   .max_gpus = a->max_gpus,
                                                   .max_cpus = a->max_cpus,
                                                   .max_running = a->max_running,
                                                   .max_priority = a->max_priority};
        return 0;
    }
    case CAIRN__JOURNAL_ENTRY__EVENT_ACCOUNT_DELETE:
        ev->type = SCHED_EV_ACCOUNT_DELETE;
        ev->u.account_delete.name = e->account_delete->name;
        return 0;
    case CAIRN__JOURNAL_ENTRY__EVENT_PREEMPT:
        if (e->preempt->n_victims > SCHED_MAX_VICTIMS)
            return errcode(err, -EBADMSG, "journal preempt names %zu victims (at most %u)",
                           e->preempt->n_victims, SCHED_MAX_VICTIMS);
        ev->type = SCHED_EV_PREEMPT;
        ev->u.preempt.job = e->preempt->job;
        ev->u.preempt.task = e->preempt->task;
        ev->u.preempt.nvictims = (uint32_t)e->preempt->n_victims;
        ev->u.preempt.victims = e->preempt->victims; /* held by h->entry */
        ev->u.preempt.grace_end_ms = e->preempt->grace_end_ms;
        return 0;
    default:
        return errcode(err, -EBADMSG, "journal entry has no event");
    }
}

void journal_hold_fini(journal_hold_t *h)
{
    if (h->entry)
        cairn__journal_entry__free_unpacked(h->entry, NULL);
    jobspec_destroy(h->job);
    free(h->allocs);
    free(h->numa_memory);
    free(h->core_numa);
    free(h->gpus);
    memset(h, 0, sizeof(*h));
}
