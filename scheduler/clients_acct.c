/* AccountingRequest and UsageRequest: the data of cairn report and the
 * trace of cairn plan. Anyone who may read the cluster's state may read
 * these (as cairn jobs and status). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_private.h"

typedef struct recs {
    Cairn__AccountingRecord **v;
    size_t n, cap;
    frees_t f; /* what the records point to (clients.c) */
} recs_t;

static void *own(recs_t *r, void *p)
{
    return clients_keep(&r->f, p);
}

static void recs_fini(recs_t *r)
{
    clients_frees_fini(&r->f);
    free(r->v);
}

/* When the attempt could first have run: its job's submit and its needs'
 * ends for a first attempt; the previous attempt's end and backoff after. */
static int64_t ready_time(sched_daemon_t *d, const sched_attempt_info_t *ai,
                          const sched_task_info_t *ti, int64_t submitted)
{
    if (ai->prev) {
        sched_attempt_info_t pa;
        if (sched_attempt_get(d->core, ai->prev, &pa) == 0 && pa.ended_ms > 0) {
            int64_t b = ti->retry ? sched_retry_backoff(ti->retry, ai->number, ti->seed) : 0;
            return pa.ended_ms + (b > 0 ? b : 0);
        }
    }
    int64_t t = submitted;
    const uint32_t *deps = NULL;
    uint32_t nd = sched_task_deps(d->core, ai->job, ai->task, &deps);
    for (uint32_t i = 0; i < nd; i++) {
        sched_task_info_t di;
        sched_attempt_info_t da;
        if (sched_task_info(d->core, ai->job, deps[i], &di) == 0 && di.attempt &&
            sched_attempt_get(d->core, di.attempt, &da) == 0 && da.ended_ms > t)
            t = da.ended_ms;
    }
    return t;
}

static void add_attempt(recs_t *r, sched_daemon_t *d, const sched_job_info_t *ji,
                        const sched_task_info_t *ti, const sched_attempt_info_t *ai,
                        const sched_request_t *req, int64_t now)
{
    const char **needs = NULL;
    const uint32_t *deps = NULL;
    uint32_t nd = sched_task_deps(d->core, ai->job, ai->task, &deps);
    if (nd && (needs = own(r, calloc(nd, sizeof(char *)))))
        for (uint32_t i = 0; i < nd; i++)
            needs[i] = sched_task_name(d->core, ai->job, deps[i]);
    int64_t ready = ready_time(d, ai, ti, ji->submitted_ms);
    for (uint32_t rank = 0; rank < ai->nreplicas && !r->f.oom; rank++) {
        const sched_alloc_desc_t *a = &ai->allocs[rank];
        Cairn__AccountingRecord *m = own(r, malloc(sizeof(*m)));
        if (!m)
            return;
        cairn__accounting_record__init(m);
        m->job_id = ai->job;
        m->job_name = (char *)(ji->name ? ji->name : "");
        m->task = (char *)ti->name;
        m->kind = (char *)(ti->kind ? ti->kind : "");
        m->user = (char *)(ji->user ? ji->user : "");
        m->attempt_id = ai->id;
        m->number = ai->number;
        m->rank = rank;
        m->replicas = ai->nreplicas;
        m->n_needs = nd;
        m->needs = (char **)needs;
        m->priority = ti->priority;
        m->cpus = req->cpus;
        m->gpus = req->gpus;
        m->gpu_model = (char *)(req->gpu_model ? req->gpu_model : "");
        m->memory_bytes = req->memory_bytes;
        char shape[160];
        acct_shape(req->cpus, req->gpus, req->gpu_model, ai->nreplicas, shape, sizeof(shape));
        m->shape = own(r, strdup(shape));
        m->node = (char *)sched_node_name(d->core, a->node);
        m->n_cores = a->ncores;
        m->cores = (uint32_t *)a->cores;
        int ng = __builtin_popcountll(a->gpu_mask);
        Cairn__GpuProvenance *g = ng ? own(r, calloc((size_t)ng, sizeof(*g))) : NULL;
        m->gpu_ids = ng ? own(r, calloc((size_t)ng, sizeof(*m->gpu_ids))) : NULL;
        int64_t start = ai->started_ms, end = ai->ended_ms ? ai->ended_ms : now;
        double secs = start > 0 && end > start ? (double)(end - start) / 1000.0 : 0;
        double used = -1;
        for (uint32_t i = 0; g && m->gpu_ids && i < 64; i++) {
            if (!(a->gpu_mask >> i & 1))
                continue;
            sched_gpu_desc_t gd;
            Cairn__GpuProvenance *x = &g[m->n_gpu_ids];
            cairn__gpu_provenance__init(x);
            x->index = i;
            if (sched_node_gpu(d->core, a->node, i, &gd)) {
                x->uuid = (char *)(gd.uuid ? gd.uuid : "");
                x->model = (char *)(gd.model ? gd.model : "");
                x->pci_bus_id = (char *)(gd.pci_bus_id ? gd.pci_bus_id : "");
                x->vendor = (char *)(gd.vendor ? gd.vendor : "");
            }
            m->gpu_ids[m->n_gpu_ids++] = x;
            if (secs > 0) {
                double u = usage_gpu_seconds(d->usage, m->node, i, start, end);
                if (u >= 0)
                    used = (used < 0 ? 0 : used) + u;
            }
        }
        m->submit_time_ms = ji->submitted_ms;
        m->ready_time_ms = ready;
        m->placed_time_ms = ai->placed_ms;
        m->start_time_ms = ai->started_ms;
        m->end_time_ms = ai->ended_ms;
        m->end = (char *)clients_end_word(ai);
        m->exit_code = ai->exit_code;
        m->core_seconds = secs * a->ncores;
        m->gpu_seconds = secs * ng;
        m->gpu_seconds_used = ng ? used : -1;
        m->time_limit_ms = ti->time_limit_ms > 0 ? (uint64_t)ti->time_limit_ms : 0;
        Cairn__AttemptProvenance *ps = NULL, *pe = NULL;
        cairn_error_t err = {{0}};
        if (prov_load(d->prov, ai->id, rank, &ps, &pe, &err) == 0 && pe) {
            m->cpu_seconds_used = (double)pe->cpu_time_usec / 1e6;
            m->peak_rss_bytes = pe->peak_rss_bytes;
        }
        if (ps)
            cairn__attempt_provenance__free_unpacked(ps, NULL);
        if (pe)
            cairn__attempt_provenance__free_unpacked(pe, NULL);
        if (r->n == r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 256;
            Cairn__AccountingRecord **nv = realloc(r->v, cap * sizeof(*nv));
            if (!nv) {
                r->f.oom = true;
                return;
            }
            r->v = nv;
            r->cap = cap;
        }
        r->v[r->n++] = m;
    }
}

void clients_accounting(sched_daemon_t *d, const cairn_peer_t *from,
                        const Cairn__AccountingRequest *q)
{
    recs_t r = {0};
    int64_t now = wall_ms(), until = q->until_ms > 0 ? q->until_ms : INT64_MAX;
    cairn_error_t ferr = {{0}};
    if (usage_flush(d->usage, &ferr) < 0) /* GPU use up to now */
        dlog(d->log, LOG_WARN, "%s", ferr.text);
    uint32_t njobs = sched_job_count(d->core);
    for (uint32_t job = 1; job <= njobs && !r.f.oom; job++) {
        sched_job_info_t ji;
        sched_job_info(d->core, job, &ji);
        if (ji.submitted_ms >= until)
            continue;
        for (uint32_t t = 0; t < ji.ntasks && !r.f.oom; t++) {
            sched_task_info_t ti;
            sched_request_t req;
            if (sched_task_info(d->core, job, t, &ti) < 0 ||
                sched_task_request(d->core, job, t, &req) < 0)
                continue;
            /* oldest first */
            uint64_t ids[256];
            uint32_t na = clients_attempt_chain(d, ti.attempt, ids, 256);
            for (uint32_t i = na; i-- > 0 && !r.f.oom;) {
                sched_attempt_info_t ai;
                if (sched_attempt_get(d->core, ids[i], &ai) < 0 || ai.placed_ms >= until ||
                    (ai.ended_ms && ai.ended_ms < q->since_ms))
                    continue;
                add_attempt(&r, d, &ji, &ti, &ai, &req, now);
            }
        }
    }
    if (r.f.oom) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_INTERNAL, "out of memory");
    } else {
        Cairn__AccountingReply rep = CAIRN__ACCOUNTING_REPLY__INIT;
        rep.n_records = r.n;
        rep.records = r.v;
        d_send(d, d->cnet, from, CAIRN_MSG_ACCOUNTING_REPLY, &rep.base);
    }
    recs_fini(&r);
}

void clients_usage(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__UsageRequest *q)
{
    Cairn__UsageReply rep = CAIRN__USAGE_REPLY__INIT;
    cairn_error_t err = {{0}};
    if (usage_query(d->usage, q->since_ms, q->until_ms, &rep, &err) < 0)
        clients_error(d, from,
                      err.text[0] == 'o' ? CAIRN__ERROR_CODE__ERROR_CODE_INTERNAL
                                         : CAIRN__ERROR_CODE__ERROR_CODE_UNAVAILABLE,
                      "%s", err.text);
    else
        d_send(d, d->cnet, from, CAIRN_MSG_USAGE_REPLY, &rep.base);
    usage_reply_fini(&rep);
}
