/* The scheduling state: creation, the event dispatcher, and queries. */
#include <stdlib.h>
#include <string.h>

#include "scheduling/sched_private.h"

sched_t *sched_create(const sched_config_t *cfg)
{
    sched_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->cfg.max_reservations = 1;
    if (cfg)
        s->cfg = *cfg;
    s->jobs.base = s->attempts.base = 1;
    if (topo_init(&s->topo, s->cfg.topology_levels, NULL) < 0) {
        free(s);
        return NULL;
    }
    s->cfg.topology_levels = s->topo.spec;
    if (acct_init(s) < 0) {
        sched_destroy(s);
        return NULL;
    }
    return s;
}

sched_config_t sched_config_daemon(bool prefetch)
{
    return (sched_config_t){.max_reservations = 1,
                            .prefetch = prefetch ? SCHED_PREFETCH_LINE : 0,
                            .prefetch_max = prefetch ? SCHED_PREFETCH_LINE_MAX : 0,
                            .prefetch_window_ms = SCHED_PREFETCH_WINDOW_MS};
}

void sched_destroy(sched_t *s)
{
    if (!s)
        return;
    reservations_clear(s);
    free(s->resv);
    free(s->resv_of);
    for (size_t i = 0; i < s->nnodes; i++)
        cluster_node_fini(&s->nodes[i]);
    free(s->nodes);
    free(s->node_by_name);
    cluster_index_fini(&s->index);
    for (size_t i = s->jobs.off; i < s->jobs.len; i++)
        job_destroy(s->jobs.slot[i]);
    win_fini(&s->jobs);
    for (size_t i = s->attempts.off; i < s->attempts.len; i++)
        free(s->attempts.slot[i]); /* one block with its allocations */
    win_fini(&s->attempts);
    free(s->ended);
    free(s->running);
    for (size_t i = 0; i < s->nclasses; i++)
        class_fini(&s->classes[i]);
    free(s->classes);
    free(s->class_hash);
    free(s->active);
    free(s->retry_heap);
    acct_fini(s);
    preempt_holds_fini(s);
    topo_fini(&s->topo);
    free(s);
}

static int apply_node_add(sched_t *s, const sched_event_t *ev, cairn_error_t *err)
{
    return cluster_node_add(s, &ev->u.node_add, err);
}

static int apply_node_state(sched_t *s, const sched_event_t *ev, cairn_error_t *err)
{
    uint32_t node = ev->u.node_state.node;
    int rc = cluster_node_set_state(s, node, ev->u.node_state.state, ev->u.node_state.reason, err);
    if (rc == 0 && ev->u.node_state.state == SCHED_NODE_DOWN)
        rc = attempts_node_lost(s, node, ev->time_ms);
    return rc;
}

static int apply_gpu_health(sched_t *s, const sched_event_t *ev, cairn_error_t *err)
{
    return cluster_gpu_health(s, ev->u.gpu_health.node, ev->u.gpu_health.gpu,
                              ev->u.gpu_health.reason, err);
}

static int apply_node_remove(sched_t *s, const sched_event_t *ev, cairn_error_t *err)
{
    return cluster_node_remove(s, ev->u.node_remove.node, err);
}

static int apply_submit(sched_t *s, const sched_event_t *ev, cairn_error_t *err)
{
    return job_submit(s, &ev->u.submit, ev->time_ms, err);
}

typedef int (*apply_f)(sched_t *, const sched_event_t *, cairn_error_t *);

static const struct {
    sched_event_type_t type;
    const char *name;
    apply_f fn;
} handlers[] = {
    {SCHED_EV_NODE_ADD, "node-add", apply_node_add},
    {SCHED_EV_NODE_STATE, "node-state", apply_node_state},
    {SCHED_EV_JOB_SUBMIT, "submit", apply_submit},
    {SCHED_EV_PLACE, "place", attempt_place},
    {SCHED_EV_START, "start", attempt_start},
    {SCHED_EV_FINISH, "finish", attempt_finish},
    {SCHED_EV_CANCEL, "cancel", job_cancel},
    {SCHED_EV_JOB_RETIRE, "retire", job_retire},
    {SCHED_EV_NODE_REMOVE, "node-remove", apply_node_remove},
    {SCHED_EV_ACCOUNT_SET, "account-set", account_set},
    {SCHED_EV_ACCOUNT_DELETE, "account-delete", account_delete},
    {SCHED_EV_PREEMPT, "preempt", preempt_apply},
    {SCHED_EV_GPU_HEALTH, "gpu-health", apply_gpu_health},
};

const char *sched_event_type_name(sched_event_type_t t)
{
    for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
        if (handlers[i].type == t)
            return handlers[i].name;
    return "unknown";
}

int sched_apply(sched_t *s, const sched_event_t *ev, cairn_error_t *err)
{
    if (!s || !ev)
        return errcode(err, SCHED_EINVAL, "no state or event");
    for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
        if (handlers[i].type == ev->type)
            return handlers[i].fn(s, ev, err);
    return errcode(err, SCHED_EINVAL, "unknown event type %d", (int)ev->type);
}

/* --- names ------------------------------------------------------------- */

const char *sched_task_state_name(sched_task_state_t st)
{
    static const char *const names[] = {"pending",   "ready",  "running",   "retrying",
                                        "succeeded", "failed", "cancelled", "upstream_failed"};
    return (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st] : "unknown";
}

const char *sched_task_state_word(sched_task_state_t st)
{
    static const char *const words[] = {"waiting",   "pending", "running",   "retry_wait",
                                        "succeeded", "failed",  "cancelled", "upstream_failed"};
    return (unsigned)st < sizeof(words) / sizeof(words[0]) ? words[st] : "unknown";
}

const char *sched_node_state_name(sched_node_state_t st)
{
    static const char *const names[] = {"up", "draining", "down", "returning", "removed"};
    return (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st] : "unknown";
}

const char *sched_end_name(sched_end_t e)
{
    static const char *const names[] = {"none",      "exit",      "signal",       "timeout",
                                        "node-lost", "cancelled", "start-failed", "preempted"};
    return (unsigned)e < sizeof(names) / sizeof(names[0]) ? names[e] : "unknown";
}

static const char *const class_names[] = {"", "oom", "gpu-error", "log"};

const char *sched_end_class_name(sched_end_class_t c)
{
    return (unsigned)c < sizeof(class_names) / sizeof(class_names[0]) ? class_names[c] : "";
}

sched_end_class_t sched_end_class_parse(const char *name)
{
    for (unsigned i = 1; name && i < sizeof(class_names) / sizeof(class_names[0]); i++)
        if (strcmp(name, class_names[i]) == 0)
            return (sched_end_class_t)i;
    return SCHED_CLASS_NONE;
}

bool sched_end_class_allowed(sched_end_t end, int exit_code)
{
    return (end == SCHED_END_EXIT && exit_code != 0) || end == SCHED_END_SIGNAL ||
           end == SCHED_END_TIMEOUT || end == SCHED_END_START_FAILED;
}

/* --- queries ----------------------------------------------------------- */

uint32_t sched_node_count(const sched_t *s)
{
    return (uint32_t)s->nnodes;
}

const char *sched_node_name(const sched_t *s, uint32_t node)
{
    return node < s->nnodes ? s->nodes[node].name : NULL;
}

sched_node_state_t sched_node_state(const sched_t *s, uint32_t node)
{
    return node < s->nnodes ? s->nodes[node].state : SCHED_NODE_DOWN;
}

size_t sched_ended_count(const sched_t *s)
{
    return (size_t)s->ended_base + s->nended;
}

size_t sched_ended_list(const sched_t *s, size_t from, uint64_t *ids, size_t max)
{
    size_t n = 0;
    for (size_t i = from > s->ended_base ? from - s->ended_base : 0; i < s->nended && n < max; i++)
        ids[n++] = s->ended[i];
    return n;
}

void sched_ended_trim(sched_t *s, size_t upto)
{
    if (upto <= s->ended_base)
        return;
    size_t k = upto - s->ended_base < s->nended ? upto - s->ended_base : s->nended;
    memmove(s->ended, s->ended + k, (s->nended - k) * sizeof(uint64_t));
    s->nended -= k;
    s->ended_base += k;
    if (s->nended == 0 && s->ended_cap > 4096) { /* a replay's worth: give it back */
        free(s->ended);
        s->ended = NULL;
        s->ended_cap = 0;
    }
}

bool sched_node_drained(const sched_t *s, uint32_t node, const char **reason)
{
    const sched_node_t *n = node < s->nnodes ? &s->nodes[node] : NULL;
    if (reason)
        *reason = n && n->drained && n->drain_reason ? n->drain_reason : "";
    return n && n->drained;
}

int sched_node_usage(const sched_t *s, uint32_t node, sched_node_usage_t *u)
{
    if (node >= s->nnodes)
        return SCHED_ENOENT;
    const sched_node_t *n = &s->nodes[node];
    *u = (sched_node_usage_t){.ncores = n->ncores,
                              .free_cores = n->free_cores,
                              .ngpus = n->ngpus,
                              .free_gpus = n->free_gpus,
                              .gpu_free_mask = n->gpu_free,
                              .mem_total = n->mem_total,
                              .mem_free = n->mem_free};
    return 0;
}

bool sched_node_core_free(const sched_t *s, uint32_t node, uint32_t core)
{
    return node < s->nnodes && core < s->nodes[node].ncores &&
           bit_test(s->nodes[node].core_free, core);
}

const sched_gpu_desc_t *sched_node_gpu(const sched_t *s, uint32_t node, uint32_t i,
                                       sched_gpu_desc_t *out)
{
    if (node >= s->nnodes || i >= s->nodes[node].ngpus)
        return NULL;
    const sched_gpu_t *g = &s->nodes[node].gpus[i];
    *out = (sched_gpu_desc_t){.vendor = g->vendor,
                              .model = g->model,
                              .uuid = g->uuid,
                              .pci_bus_id = g->pci_bus_id,
                              .memory_bytes = g->memory_bytes,
                              .numa = g->numa,
                              .group = g->group_id,
                              .mig_profile = g->mig_profile,
                              .unhealthy = g->unhealthy};
    return out;
}

uint32_t sched_job_count(const sched_t *s)
{
    return (uint32_t)(win_next_id(&s->jobs) - 1);
}

uint32_t sched_job_first(const sched_t *s)
{
    return (uint32_t)s->jobs.base;
}

bool sched_job_retired(const sched_t *s, uint32_t job)
{
    return job >= 1 && job < win_next_id(&s->jobs) && !job_at(s, job);
}

bool sched_attempt_retired(const sched_t *s, uint64_t attempt)
{
    return attempt >= 1 && attempt < win_next_id(&s->attempts) && !attempt_at(s, attempt);
}

uint32_t sched_retired_count(const sched_t *s, uint64_t tasks[8])
{
    if (tasks)
        memcpy(tasks, s->retired_tasks, sizeof(s->retired_tasks));
    return s->retired_jobs;
}

size_t sched_jobs_done_before(const sched_t *s, int64_t until_ms, uint32_t *ids, size_t max)
{
    size_t n = 0;
    for (size_t i = s->jobs.off; i < s->jobs.len && n < max; i++) {
        const sched_job_t *j = s->jobs.slot[i];
        if (j && j->nended == j->ntasks && j->done_ms <= until_ms)
            ids[n++] = j->id;
    }
    return n;
}

void sched_sizes(const sched_t *s, sched_sizes_t *out)
{
    *out = (sched_sizes_t){.jobs = s->jobs.live,
                           .job_slots = s->jobs.len - s->jobs.off,
                           .job_room = s->jobs.cap,
                           .attempts = s->attempts.live,
                           .attempt_slots = s->attempts.len - s->attempts.off,
                           .attempt_room = s->attempts.cap,
                           .ended = s->nended,
                           .classes = s->nclasses,
                           .retry_heap = s->retry_len};
}

static const sched_task_t *task_get(const sched_t *s, uint32_t job, uint32_t task)
{
    const sched_job_t *j = job_at(s, job);
    return j && task < j->ntasks ? &j->tasks[task] : NULL;
}

uint32_t sched_job_ntasks(const sched_t *s, uint32_t job)
{
    const sched_job_t *j = job_at(s, job);
    return j ? j->ntasks : 0;
}

bool sched_job_done(const sched_t *s, uint32_t job)
{
    const sched_job_t *j = job_at(s, job);
    return j && j->nended == j->ntasks;
}

const char *sched_job_user(const sched_t *s, uint32_t job)
{
    const sched_job_t *j = job_at(s, job);
    return j ? j->user : NULL;
}

const char *sched_task_name(const sched_t *s, uint32_t job, uint32_t task)
{
    const sched_task_t *t = task_get(s, job, task);
    return t ? t->name : NULL;
}

sched_task_state_t sched_task_state(const sched_t *s, uint32_t job, uint32_t task)
{
    const sched_task_t *t = task_get(s, job, task);
    return t ? (sched_task_state_t)t->state : SCHED_TASK_PENDING;
}

uint64_t sched_task_seed(const sched_t *s, uint32_t job, uint32_t task, uint32_t rank)
{
    const sched_task_t *t = task_get(s, job, task);
    if (!t)
        return 0;
    return rank == 0 ? t->seed : sched_seed_derive(job_at(s, job)->seed, t->name, rank);
}

uint32_t sched_task_deps(const sched_t *s, uint32_t job, uint32_t task, const uint32_t **deps)
{
    const sched_task_t *t = task_get(s, job, task);
    *deps = t ? t->deps : NULL;
    return t ? t->ndeps : 0;
}

int sched_task_request(const sched_t *s, uint32_t job, uint32_t task, sched_request_t *req)
{
    const sched_task_t *t = task_get(s, job, task);
    if (!t || t->cls >= s->nclasses)
        return SCHED_ENOENT;
    *req = class_request(&s->classes[t->cls]);
    return 0;
}

uint32_t sched_task_attempts(const sched_t *s, uint32_t job, uint32_t task)
{
    const sched_task_t *t = task_get(s, job, task);
    return t ? t->attempts : 0;
}

uint64_t sched_task_attempt_id(const sched_t *s, uint32_t job, uint32_t task)
{
    const sched_task_t *t = task_get(s, job, task);
    return t ? t->attempt : 0;
}

int sched_attempt_get(const sched_t *s, uint64_t attempt, sched_attempt_info_t *info)
{
    const sched_attempt_t *at = attempt_at(s, attempt);
    if (!at)
        return SCHED_ENOENT;
    *info = (sched_attempt_info_t){
        .id = at->id,
        .prev = at->prev,
        .job = at->job,
        .task = at->task,
        .number = at->number,
        .nreplicas = at->nreplicas,
        .allocs = at->allocs,
        .placed_ms = at->placed_ms,
        .started_ms = at->started_ms,
        .ended_ms = at->ended_ms,
        .end = (sched_end_t)at->end,
        .exit_code = at->exit_code,
        .end_class = (sched_end_class_t)at->end_class,
        .signal = at->signal,
        .after = at->after,
        .queued = at->queued,
        .next = at->next,
        .preempted = at->preempt_why != SCHED_PREEMPT_NONE,
        .preempted_by_job = at->by_job,
        .preempted_by_task = at->by_task,
        .preempt_why = (sched_preempt_why_t)at->preempt_why,
        .grace_end_ms = at->grace_end_ms,
    };
    return 0;
}

int sched_task_info(const sched_t *s, uint32_t job, uint32_t task, sched_task_info_t *info)
{
    const sched_task_t *t = task_get(s, job, task);
    if (!t)
        return SCHED_ENOENT;
    *info = (sched_task_info_t){.name = t->name,
                                .kind = t->kind,
                                .workdir = t->workdir,
                                .argc = t->argc,
                                .nenv = t->nenv,
                                .argv = t->argv,
                                .env = t->env,
                                .noutputs = t->noutputs,
                                .outputs = t->outputs,
                                .cache_base = t->cache_base,
                                .cache_reuse = t->cache_reuse,
                                .state = (sched_task_state_t)t->state,
                                .replicas = t->replicas,
                                .priority = t->priority,
                                .time_limit_ms = t->time_limit_ms,
                                .ready_at_ms = t->ready_at_ms,
                                .seed = t->seed,
                                .attempts = t->attempts,
                                .attempt = t->attempt,
                                .cancel_requested = t->cancel_requested,
                                .cancelled_upstream = t->cancelled_upstream,
                                .retry = t->retry,
                                .preemptible = t->preemptible,
                                .grace_ms = t->grace_ms,
                                .max_preemptions = t->max_preempt,
                                .preemptions = t->preemptions,
                                .preempted_attempts = t->requeues};
    return 0;
}

int sched_job_meta(const sched_t *s, uint32_t job, sched_job_info_t *info)
{
    const sched_job_t *j = job_at(s, job);
    if (!j)
        return SCHED_ENOENT;
    *info = (sched_job_info_t){.name = j->name,
                               .user = j->user,
                               .seed = j->seed,
                               .submitted_ms = j->submitted_ms,
                               .done_ms = j->done_ms,
                               .ntasks = j->ntasks,
                               .nended = j->nended};
    return 0;
}

int sched_job_info(const sched_t *s, uint32_t job, sched_job_info_t *info)
{
    int rc = sched_job_meta(s, job, info);
    if (rc < 0)
        return rc;
    const sched_job_t *j = job_at(s, job);
    for (uint32_t i = 0; i < j->ntasks; i++) {
        const sched_task_t *t = &j->tasks[i];
        info->count[t->state & 7]++;
        if (t->state == SCHED_TASK_RUNNING && t->attempt && attempt_at(s, t->attempt)->queued)
            info->queued++;
    }
    return 0;
}

uint32_t sched_node_label_count(const sched_t *s, uint32_t node)
{
    return node < s->nnodes ? s->nodes[node].nlabels : 0;
}

const char *sched_node_label(const sched_t *s, uint32_t node, uint32_t i)
{
    return node < s->nnodes && i < s->nodes[node].nlabels ? s->nodes[node].labels[i] : NULL;
}

/* Whether a retry heap entry still stands for its task. */
static bool retry_valid(const sched_t *s, task_ref_t r)
{
    const sched_task_t *t = task_get(s, r.job, r.task);
    return t && t->state == SCHED_TASK_RETRYING && t->attempts == r.gen && !t->queued;
}

int64_t sched_next_wakeup(const sched_t *s)
{
    if (!s->retry_len)
        return INT64_MAX;
    if (retry_valid(s, s->retry_heap[0]))
        return task_at(s, s->retry_heap[0])->ready_at_ms;
    /* the top is stale (a task cancelled in its backoff): the earliest of
     * the others, so that the answer is the state's, not the heap's */
    int64_t at = INT64_MAX;
    for (size_t i = 1; i < s->retry_len; i++)
        if (retry_valid(s, s->retry_heap[i]) && task_at(s, s->retry_heap[i])->ready_at_ms < at)
            at = task_at(s, s->retry_heap[i])->ready_at_ms;
    return at;
}

static int cmp_id(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

size_t sched_node_attempts(const sched_t *s, uint32_t node, uint64_t *ids, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nrunning; i++) {
        const sched_attempt_t *at = attempt_at(s, s->running[i].id);
        for (uint32_t k = 0; k < at->nreplicas; k++)
            if (at->allocs[k].node == node) {
                if (n < max)
                    ids[n] = at->id;
                n++;
                /* the line queued behind it, on the same node */
                for (uint64_t q = at->next; q; q = attempt_at(s, q)->next) {
                    if (n < max)
                        ids[n] = q;
                    n++;
                }
                break;
            }
    }
    if (ids && max)
        qsort(ids, n < max ? n : max, sizeof(uint64_t), cmp_id);
    return n;
}
