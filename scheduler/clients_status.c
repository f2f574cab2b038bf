/* Status and list requests: a job's summary and its tasks' attempts, a
 * page at a time; long polls on a job's end (waits.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "scheduler/clients_private.h"
#include "scheduler/view.h"

static void fill_summary(sched_daemon_t *d, uint32_t job, Cairn__JobSummary *s,
                         sched_job_info_t *ji)
{
    sched_job_info(d->core, job, ji);
    cairn__job_summary__init(s);
    s->job_id = job;
    s->name = (char *)ji->name;
    s->state = view_job_state(ji);
    s->submitter = (char *)ji->user;
    s->account = (char *)view_job_account(d, job);
    s->seed = ji->seed;
    s->submit_time_ms = ji->submitted_ms;
    s->tasks_total = ji->ntasks;
    const uint32_t *c = ji->count;
    /* tasks queued on a node behind another (prefetch) wait: pending */
    s->tasks_pending =
        c[SCHED_TASK_PENDING] + c[SCHED_TASK_READY] + c[SCHED_TASK_RETRYING] + ji->queued;
    s->tasks_running = c[SCHED_TASK_RUNNING] - ji->queued;
    s->tasks_succeeded = c[SCHED_TASK_SUCCEEDED];
    s->tasks_failed = c[SCHED_TASK_FAILED] + c[SCHED_TASK_UPSTREAM_FAILED];
    s->tasks_cancelled = c[SCHED_TASK_CANCELLED];
}

/* What a summary says beyond the core's counts: the spec's hash, when the
 * job's first attempt started (a cached task's: when its outputs were
 * checked) and, once it has ended, when its last attempt ended. */
static void fill_summary_details(sched_daemon_t *d, uint32_t job, Cairn__JobSummary *s,
                                 const sched_job_info_t *ji, frees_t *f)
{
    char *sha = NULL;
    cairn_error_t err = {{0}};
    if (prov_get_spec(d->st->prov, job, NULL, &sha, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_WARN, "%s", err.text);
    if (sha)
        s->spec_sha256 = clients_keep(f, sha);
    int64_t start = 0, end = 0;
    for (uint32_t t = 0; t < ji->ntasks; t++) {
        sched_task_info_t ti;
        if (sched_task_info(d->core, job, t, &ti) < 0)
            continue;
        sched_attempt_info_t ai;
        for (uint64_t a = ti.attempt; a && sched_attempt_get(d->core, a, &ai) == 0; a = ai.prev) {
            uint32_t from_job;
            const char *from_task;
            int64_t began = ai.started_ms;
            if (!began && ai.ended_ms && cache_hit_get(d->st->cache, ai.id, &from_job, &from_task))
                began = ai.ended_ms;
            if (began && (!start || began < start))
                start = began;
            if (ai.ended_ms > end)
                end = ai.ended_ms;
        }
    }
    s->start_time_ms = start;
    bool ended = s->state == CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED ||
                 s->state == CAIRN__JOB_STATE__JOB_STATE_FAILED ||
                 s->state == CAIRN__JOB_STATE__JOB_STATE_CANCELLED;
    s->end_time_ms = ended ? end : 0;
}

/* GPU references for a node's GPUs in mask (NULL, *n = 0 when none). */
static Cairn__GpuRef **gpu_refs(sched_daemon_t *d, uint32_t node, uint64_t mask, size_t *n,
                                frees_t *f)
{
    *n = 0;
    int ng = __builtin_popcountll(mask);
    if (!ng)
        return NULL;
    Cairn__GpuRef *g = clients_keep(f, calloc((size_t)ng, sizeof(*g)));
    Cairn__GpuRef **v = clients_keep(f, calloc((size_t)ng, sizeof(*v)));
    for (uint32_t i = 0; g && v && i < 64; i++) {
        if (!(mask >> i & 1))
            continue;
        sched_gpu_desc_t gd;
        Cairn__GpuRef *x = &g[*n];
        cairn__gpu_ref__init(x);
        x->index = i;
        if (sched_node_gpu(d->core, node, i, &gd))
            x->uuid = (char *)gd.uuid;
        v[(*n)++] = x;
    }
    return v;
}

Cairn__Preemption *clients_preemption(sched_daemon_t *d, const sched_attempt_info_t *ai, frees_t *f)
{
    if (!ai->preempted)
        return NULL;
    Cairn__Preemption *m = NULL;
    cairn_error_t err = {{0}};
    if (prov_get_preempt(d->st->prov, ai->id, &m, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_WARN, "%s", err.text);
    if (m) {
        clients_keep_msg(f, &m->base);
        return m;
    }
    /* not recorded (a queued attempt ended with its victim): from the core */
    m = clients_keep(f, calloc(1, sizeof(*m)));
    char *why = clients_keep(f, calloc(1, 160));
    if (!m || !why)
        return NULL;
    cairn__preemption__init(m);
    view_preempt_reason(d, ai, why, 160);
    const char *by = sched_task_name(d->core, ai->preempted_by_job, ai->preempted_by_task);
    m->by_job = ai->preempted_by_job;
    m->by_task = (char *)(by ? by : "");
    m->reason = why;
    m->grace_end_ms = ai->grace_end_ms;
    return m;
}

static Cairn__AttemptInfo *attempt_msg(sched_daemon_t *d, const sched_attempt_info_t *ai,
                                       frees_t *f)
{
    Cairn__AttemptInfo *a = clients_keep(f, calloc(1, sizeof(*a)));
    if (!a)
        return NULL;
    cairn__attempt_info__init(a);
    a->attempt_id = ai->id;
    a->number = ai->number;
    const char *why = nodes_start_error(d->nodes, ai->id);
    if (why)
        a->error = (char *)why;
    bool ran = view_attempt_ran(d, ai), holds = view_attempt_holds(d, ai);
    size_t len = 0;
    for (uint32_t r = 0; r < ai->nreplicas; r++)
        len += strlen(sched_node_name(d->core, ai->allocs[r].node)) + 1;
    char *nodes = clients_keep(f, calloc(len + 1, 1));
    Cairn__ReplicaPlacement *rp = clients_keep(f, calloc(ai->nreplicas + 1, sizeof(*rp)));
    a->replicas = clients_keep(f, calloc(ai->nreplicas + 1, sizeof(*a->replicas)));
    for (uint32_t r = 0; r < ai->nreplicas; r++) {
        const sched_alloc_desc_t *al = &ai->allocs[r];
        const char *name = sched_node_name(d->core, al->node);
        if (nodes) {
            if (r)
                strcat(nodes, ",");
            strcat(nodes, name);
        }
        if (!rp || !a->replicas)
            continue;
        Cairn__ReplicaPlacement *x = &rp[r];
        cairn__replica_placement__init(x);
        x->rank = r;
        x->node = (char *)name;
        if (holds) { /* a queued attempt, or one that never ran, holds none */
            x->n_cores = al->ncores;
            x->cores = (uint32_t *)al->cores; /* valid until the next sched_apply */
            x->gpus = gpu_refs(d, al->node, al->gpu_mask, &x->n_gpus, f);
        }
        a->replicas[a->n_replicas++] = x;
    }
    a->node = nodes ? nodes : "";
    if (a->n_replicas) { /* the flat fields: rank 0's, as before gangs had their own */
        a->n_cores = a->replicas[0]->n_cores;
        a->cores = a->replicas[0]->cores;
        a->n_gpus = a->replicas[0]->n_gpus;
        a->gpus = a->replicas[0]->gpus;
    }
    if (ran) { /* the signal of a process killed before it ran is not the task's */
        a->exit_code = ai->exit_code;
        a->signal = ai->signal;
    }
    a->end_reason = view_end_reason(ai);
    a->end_class = (char *)view_end_class(ai);
    a->start_time_ms = ai->started_ms;
    a->end_time_ms = ai->ended_ms;
    if (ai->queued)
        a->queued_after = ai->after;
    a->preempted = clients_preemption(d, ai, f);
    uint32_t from_job;
    const char *from_task;
    if (cache_hit_get(d->st->cache, ai->id, &from_job, &from_task)) {
        a->cached_from_job = from_job;
        a->cached_from_task = (char *)from_task;
    }
    return a;
}

static Cairn__TaskStatus *task_msg(sched_daemon_t *d, uint32_t job, uint32_t t, bool explain,
                                   frees_t *f)
{
    sched_task_info_t ti;
    if (sched_task_info(d->core, job, t, &ti) < 0)
        return NULL;
    Cairn__TaskStatus *ts = clients_keep(f, calloc(1, sizeof(*ts)));
    if (!ts)
        return NULL;
    cairn__task_status__init(ts);
    ts->name = (char *)ti.name;
    ts->state = view_task_state(d, &ti);
    if (ti.state == SCHED_TASK_RETRYING)
        ts->next_attempt_time_ms = ti.ready_at_ms;
    if (ti.state == SCHED_TASK_PENDING)
        ts->pending_reason = CAIRN__PENDING_REASON__PENDING_REASON_DEPENDENCIES;
    if (ti.state == SCHED_TASK_RETRYING)
        ts->pending_reason = CAIRN__PENDING_REASON__PENDING_REASON_RETRY_BACKOFF;
    /* prefetched: waiting on its node for the attempt ahead of it, in the
     * words of `cairn explain` (cheap: no node is looked at) */
    bool queued =
        ts->state == CAIRN__TASK_STATE__TASK_STATE_PENDING && ti.state == SCHED_TASK_RUNNING;
    if (queued)
        ts->pending_reason = CAIRN__PENDING_REASON__PENDING_REASON_QUEUED_ON_NODE;
    if (queued || (explain && (ti.state == SCHED_TASK_PENDING || ti.state == SCHED_TASK_READY ||
                               ti.state == SCHED_TASK_RETRYING))) {
        char *why = clients_keep(f, sched_explain(d->core, job, t, cairn_wall_ms()));
        char *colon = why ? strstr(why, ": ") : NULL; /* drop "job N task X: " */
        ts->pending_detail = colon ? colon + 2 : "";
        /* the core's words for a preemptor waiting out its victims' grace */
        if (!queued && !strncmp(ts->pending_detail, "waiting for ", 12) &&
            strstr(ts->pending_detail, " preempted attempt"))
            ts->pending_reason = CAIRN__PENDING_REASON__PENDING_REASON_PREEMPTING;
    }
    ts->n_attempts = ti.attempts;
    ts->attempts = clients_keep(f, calloc(ti.attempts + 1, sizeof(*ts->attempts)));
    if (!ts->attempts) {
        ts->n_attempts = 0;
        return ts;
    }
    uint64_t id = ti.attempt;
    for (uint32_t k = ti.attempts; k-- > 0 && id;) {
        sched_attempt_info_t ai;
        if (sched_attempt_get(d->core, id, &ai) < 0)
            break;
        ts->attempts[k] = attempt_msg(d, &ai, f);
        id = ai.prev;
    }
    return ts;
}

#define EXPLAIN_MAX 100 /* pending tasks explained per status reply */
/* Tasks in one status reply (JobStatusRequest.task_limit): a page costs
 * the loop about a microsecond or two per task, so no reply holds it long. */
#define STATUS_PAGE_DEFAULT 2000
#define STATUS_PAGE_MAX 10000

void clients_status_fill(sched_daemon_t *d, uint32_t job, const status_page_t *pg,
                         Cairn__JobStatusReply *rep, Cairn__JobSummary *sum, frees_t *f)
{
    sched_job_info_t ji;
    fill_summary(d, job, sum, &ji);
    fill_summary_details(d, job, sum, &ji, f);
    rep->job = sum;
    uint32_t first = pg->offset < ji.ntasks ? pg->offset : ji.ntasks;
    uint32_t limit = pg->limit ? (pg->limit < STATUS_PAGE_MAX ? pg->limit : STATUS_PAGE_MAX)
                               : STATUS_PAGE_DEFAULT;
    if (pg->limit == UINT32_MAX) /* every task (a retiring job's record) */
        limit = ji.ntasks;
    uint32_t end = ji.ntasks - first > limit ? first + limit : ji.ntasks;
    uint32_t only;
    if (pg->task[0]) { /* one task by name */
        if (sched_task_find(d->core, job, pg->task, &only) == 0)
            first = only, end = only + 1;
        else
            first = end = 0;
    }
    if (!pg->summary_only && end > first)
        rep->tasks = clients_keep(f, calloc(end - first + 1, sizeof(*rep->tasks)));
    uint32_t explained = 0;
    for (uint32_t t = first; rep->tasks && t < end; t++) {
        Cairn__TaskStatus *ts = task_msg(d, job, t, explained < EXPLAIN_MAX, f);
        if (!ts)
            break;
        explained += ts->pending_detail != NULL;
        rep->tasks[rep->n_tasks++] = ts;
    }
    if (!pg->summary_only && !pg->task[0] && end < ji.ntasks) {
        rep->more = true;
        rep->next_task_offset = end;
    }
}

/* The status of a retired job, from its record (archive.h), read on the
 * reader thread: the page the client asked for of the reply it would have
 * had before. */
typedef struct retired_job {
    read_reply_t rr; /* first: the answer */
    uint32_t job;
    status_page_t page;
} retired_job_t;

static void retired_work(const reader_stores_t *st, void *arg)
{
    retired_job_t *j = arg;
    const status_page_t *pg = &j->page;
    uint8_t *buf;
    size_t len;
    cairn_error_t err = {{0}};
    Cairn__JobStatusReply *all = NULL;
    int rc = archive_get(st->archive, j->job, ARCHIVE_STATUS, &buf, &len, &err);
    if (rc == 0) {
        all = cairn__job_status_reply__unpack(NULL, len, buf);
        free(buf);
    }
    if (rc == -ENOENT) {
        j->rr.code = CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND;
        snprintf(j->rr.error, sizeof(j->rr.error),
                 "job %u ended before the history kept (--history-retention): its record was "
                 "dropped",
                 j->job);
        return;
    }
    if (all && all->job && !view_account_fill(&all->job->account)) {
        cairn__job_status_reply__free_unpacked(all, NULL);
        snprintf(j->rr.error, sizeof(j->rr.error), "out of memory");
        return;
    }
    if (!all) {
        snprintf(j->rr.error, sizeof(j->rr.error),
                 "job %u was retired and its record does not read: %s", j->job,
                 err.text[0] ? err.text : "it does not decode");
        return;
    }
    uint32_t n = (uint32_t)all->n_tasks;
    uint32_t first = pg->offset < n ? pg->offset : n;
    uint32_t limit = pg->limit ? (pg->limit < STATUS_PAGE_MAX ? pg->limit : STATUS_PAGE_MAX)
                               : STATUS_PAGE_DEFAULT;
    uint32_t end = n - first > limit ? first + limit : n;
    if (pg->task[0]) {
        first = end = 0;
        for (uint32_t t = 0; t < n; t++)
            if (!strcmp(all->tasks[t]->name, pg->task)) {
                first = t, end = t + 1;
                break;
            }
    }
    Cairn__JobStatusReply rep = CAIRN__JOB_STATUS_REPLY__INIT;
    rep.job = all->job;
    if (!pg->summary_only) {
        rep.tasks = all->tasks + first;
        rep.n_tasks = end - first;
    }
    if (!pg->summary_only && !pg->task[0] && end < n) {
        rep.more = true;
        rep.next_task_offset = end;
    }
    if (cairn_msg_encode(CAIRN_MSG_JOB_STATUS_REPLY, &rep.base, &j->rr.reply, &j->rr.reply_len,
                         &err) < 0)
        snprintf(j->rr.error, sizeof(j->rr.error), "%s", err.text);
    cairn__job_status_reply__free_unpacked(all, NULL);
}

static void retired_done(void *arg, bool aborted)
{
    clients_read_done(arg, aborted);
    free(arg);
}

static void status_reply_retired(sched_daemon_t *d, const cairn_peer_t *to, uint32_t job,
                                 const status_page_t *pg)
{
    retired_job_t *j = calloc(1, sizeof(*j));
    if (!j) {
        clients_error(d, to, CAIRN__ERROR_CODE__ERROR_CODE_INTERNAL, "out of memory");
        return;
    }
    *j = (retired_job_t){.rr = {.d = d, .to = *to}, .job = job, .page = *pg};
    if (clients_read_later(d, to, retired_work, retired_done, j) < 0)
        retired_done(j, true);
}

static void status_reply(sched_daemon_t *d, const cairn_peer_t *to, uint32_t job,
                         const status_page_t *pg)
{
    if (sched_job_retired(d->core, job)) {
        status_reply_retired(d, to, job, pg);
        return;
    }
    frees_t f = {0};
    Cairn__JobStatusReply rep = CAIRN__JOB_STATUS_REPLY__INIT;
    Cairn__JobSummary sum;
    clients_status_fill(d, job, pg, &rep, &sum, &f);
    clients_reply(d, to, CAIRN_MSG_JOB_STATUS_REPLY, &rep.base);
    clients_frees_fini(&f);
}

#define JOB_WAIT_MAX_MS 60000

void clients_status(sched_daemon_t *d, const client_req_t *rq, const Cairn__JobStatusRequest *r)
{
    const cairn_peer_t *from = rq->from;
    if (r->job_id == 0 || r->job_id > sched_job_count(d->core)) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND, "no job %llu",
                      (unsigned long long)r->job_id);
        return;
    }
    uint32_t job = (uint32_t)r->job_id;
    status_page_t pg = {
        .summary_only = r->summary_only, .offset = r->task_offset, .limit = r->task_limit};
    snprintf(pg.task, sizeof(pg.task), "%s", r->task ? r->task : "");
    uint32_t ms = r->wait_ms < JOB_WAIT_MAX_MS ? r->wait_ms : JOB_WAIT_MAX_MS;
    if (r->wait_ms == 0 || clients_job_done(d, job) ||
        waits_job_add(d->waits, job, &pg, from, (int64_t)uv_now(d->loop) + ms) < 0) {
        status_reply(d, from, job, &pg);
        return;
    }
    waits_job_answer(d->waits, false); /* arms its deadline */
}

bool clients_job_done(void *arg, uint32_t job)
{
    sched_daemon_t *d = arg;
    return sched_job_done(d->core, job) || sched_job_retired(d->core, job);
}

void clients_answer_wait(void *arg, const job_wait_t *w)
{
    status_reply(arg, &w->client, w->job, &w->page);
}

/* The listing's candidates: summaries newest first, from the core (live
 * jobs) and from the records of retired ones, merged by id. */
typedef struct list_acc {
    Cairn__JobSummary **v;
    uint32_t n, max;
} list_acc_t;

static int retired_row(uint32_t job, const uint8_t *summary, size_t len, void *arg)
{
    (void)job;
    list_acc_t *a = arg;
    Cairn__JobSummary *s = cairn__job_summary__unpack(NULL, len, summary);
    if (s && !view_account_fill(&s->account)) {
        cairn__job_summary__free_unpacked(s, NULL);
        s = NULL; /* out of memory: the listing goes without it */
    }
    if (s && a->n < a->max)
        a->v[a->n++] = s;
    else if (s)
        cairn__job_summary__free_unpacked(s, NULL);
    return a->n >= a->max;
}

void clients_list(sched_daemon_t *d, const client_req_t *rq, const Cairn__ListJobsRequest *r)
{
    uint32_t limit =
        r->limit && r->limit < d->cfg.max_jobs_listed ? r->limit : d->cfg.max_jobs_listed;
    uint32_t njobs = sched_job_count(d->core), first = sched_job_first(d->core);
    if (r->before_job && r->before_job <= njobs) /* a later page */
        njobs = (uint32_t)r->before_job - 1;
    frees_t f = {0};
    Cairn__ListJobsReply rep = CAIRN__LIST_JOBS_REPLY__INIT;
    rep.jobs = clients_keep(&f, calloc(limit + 1, sizeof(*rep.jobs)));
    Cairn__JobSummary *sums = clients_keep(&f, calloc(limit + 1, sizeof(*sums)));
    list_acc_t old = {.v = clients_keep(&f, calloc(limit + 1, sizeof(*old.v))), .max = limit + 1};
    uint32_t states = 0;
    for (size_t k = 0; k < r->n_states; k++)
        if (r->states[k] >= 0 && r->states[k] < 32)
            states |= 1u << r->states[k];
    cairn_error_t err = {{0}};
    if (old.v && sched_retired_count(d->core, NULL) > 0 &&
        archive_list(d->st->archive, njobs + 1, r->since_ms, states, r->submitter, r->account,
                     limit + 1, retired_row, &old, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_WARN, "%s", err.text);
    uint32_t o = 0, nsum = 0, job = njobs;
    while (rep.jobs && sums) {
        while (job >= first && job >= 1 && sched_job_retired(d->core, job))
            job--;
        uint32_t live = job >= first && job >= 1 ? job : 0;
        uint32_t next_old = o < old.n ? (uint32_t)old.v[o]->job_id : 0;
        if (!live && !next_old)
            break;
        Cairn__JobSummary *s;
        if (next_old > live) {
            s = old.v[o++];
        } else {
            sched_job_info_t ji;
            s = &sums[nsum];
            fill_summary(d, live, s, &ji);
            job--;
            bool want = r->n_states == 0;
            for (size_t k = 0; k < r->n_states && !want; k++)
                want = r->states[k] == s->state;
            if (r->submitter && *r->submitter && strcmp(r->submitter, ji.user) != 0)
                want = false;
            if (r->account && *r->account && strcmp(r->account, s->account) != 0)
                want = false;
            if (ji.submitted_ms < r->since_ms)
                want = false;
            if (!want)
                continue;
            if (rep.n_jobs < limit)
                fill_summary_details(d, live, s, &ji, &f);
            nsum++;
        }
        if (rep.n_jobs == limit) {
            rep.truncated = true;
            break;
        }
        rep.jobs[rep.n_jobs++] = s;
    }
    clients_reply(d, rq->from, CAIRN_MSG_LIST_JOBS_REPLY, &rep.base);
    for (uint32_t i = 0; i < old.n; i++)
        cairn__job_summary__free_unpacked(old.v[i], NULL);
    clients_frees_fini(&f);
}
