/* Attempts: placing, starting and ending them, with deterministic retries
 * and node loss (cancellation: cancel.c). */
#include <stdlib.h>
#include <string.h>

#include "scheduling/sched_private.h"

sched_attempt_t *attempt_new(const sched_alloc_desc_t *allocs, uint32_t nr)
{
    size_t ncores = 0;
    for (uint32_t i = 0; i < nr; i++)
        ncores += allocs[i].ncores;
    sched_attempt_t *at =
        calloc(1, sizeof(*at) + nr * sizeof(sched_alloc_desc_t) + ncores * sizeof(uint32_t));
    if (!at)
        return NULL;
    sched_alloc_desc_t *a = (sched_alloc_desc_t *)(at + 1);
    uint32_t *cores = (uint32_t *)(a + nr);
    for (uint32_t i = 0; i < nr; i++) {
        a[i] = allocs[i];
        memcpy(cores, allocs[i].cores, allocs[i].ncores * sizeof(uint32_t));
        a[i].cores = cores;
        cores += allocs[i].ncores;
    }
    at->allocs = a;
    at->nreplicas = nr;
    return at;
}

/* A queued attempt takes exactly its predecessor's allocation. */
static int alloc_same(const sched_t *s, const sched_alloc_desc_t *a, const sched_alloc_desc_t *b,
                      cairn_error_t *err)
{
    if (a->node != b->node || a->ncores != b->ncores || a->gpu_mask != b->gpu_mask ||
        a->memory_bytes != b->memory_bytes ||
        (a->ncores && memcmp(a->cores, b->cores, a->ncores * sizeof(uint32_t)) != 0))
        return errcode(err, SCHED_EINVAL,
                       "place: a queued attempt must take its predecessor's allocation on %s",
                       a->node < s->nnodes ? s->nodes[a->node].name : "?");
    return 0;
}

static int check_place(sched_t *s, const sched_event_t *ev, cairn_error_t *err)
{
    uint32_t job = ev->u.place.job, task = ev->u.place.task;
    const sched_job_t *j = job_at(s, job);
    if (!j || task >= j->ntasks)
        return errcode(err, SCHED_ENOENT, "place: unknown job %u task %u", job, task);
    const sched_task_t *t = &j->tasks[task];
    if (ev->u.place.attempt != win_next_id(&s->attempts))
        return errcode(err, SCHED_EINVAL, "place: attempt id %llu, expected %llu",
                       (unsigned long long)ev->u.place.attempt,
                       (unsigned long long)win_next_id(&s->attempts));
    if (t->state != SCHED_TASK_READY &&
        !(t->state == SCHED_TASK_RETRYING && t->ready_at_ms <= ev->time_ms))
        return errcode(err, SCHED_ECONFLICT, "place: task %s is %s, not ready", t->name,
                       sched_task_state_name(t->state));
    const task_class_t *c = &s->classes[t->cls];
    if (ev->u.place.nreplicas != c->replicas || !ev->u.place.allocs)
        return errcode(err, SCHED_EINVAL, "place: task %s needs %u replicas, got %u", t->name,
                       c->replicas, ev->u.place.nreplicas);
    const sched_attempt_t *pred = NULL;
    if (ev->u.place.after) {
        pred = attempt_at(s, ev->u.place.after);
        if (!pred || !pred->running || pred->next || pred->nreplicas != 1 || c->replicas != 1)
            return errcode(err, SCHED_ECONFLICT, "place: %s cannot queue behind attempt %llu",
                           t->name, (unsigned long long)ev->u.place.after);
    }
    for (uint32_t i = 0; i < c->replicas; i++) {
        const sched_alloc_desc_t *a = &ev->u.place.allocs[i];
        int rc = pred ? alloc_same(s, a, &pred->allocs[0], err) : cluster_alloc_check(s, a, err);
        if (rc < 0)
            return rc;
        const sched_node_t *n = &s->nodes[a->node];
        if (n->state != SCHED_NODE_UP)
            return errcode(err, SCHED_ECONFLICT, "place: node %s is %s", n->name,
                           sched_node_state_name(n->state));
        if (a->ncores != c->cpus || (uint32_t)__builtin_popcountll(a->gpu_mask) != c->gpus ||
            a->memory_bytes != c->memory)
            return errcode(err, SCHED_EINVAL,
                           "place: allocation on %s does not match the request of %s", n->name,
                           t->name);
        if ((a->gpu_mask & fit_gpu_eligible(n, c)) != a->gpu_mask)
            return errcode(err, SCHED_EINVAL, "place: GPUs on %s do not satisfy %s", n->name,
                           t->name);
        for (uint32_t k = 0; k < i; k++)
            if (ev->u.place.allocs[k].node == a->node)
                return errcode(err, SCHED_EINVAL, "place: two replicas of %s on node %s", t->name,
                               n->name);
    }
    return 0;
}

/* Explanation fields derived from the allocation and the state after it. */
static void place_explain(const sched_t *s, sched_attempt_t *at)
{
    const sched_alloc_desc_t *a = &at->allocs[0];
    const sched_node_t *n = &s->nodes[a->node];
    at->left_gpus = n->free_gpus;
    at->left_cores = n->free_cores;
    at->gpu_spread = 0;
    at->cores_local = 0;
    if (!a->gpu_mask)
        return;
    uint64_t doms = 0;
    bool one_group = false;
    for (uint32_t g = 0; g < n->ngroups && !one_group; g++)
        one_group = (a->gpu_mask & ~n->group_mask[g]) == 0;
    for (uint32_t d = 0; d < n->nnuma; d++)
        if (a->gpu_mask & n->numa_gpu_mask[d])
            doms |= (uint64_t)1 << d;
    at->gpu_spread = one_group ? 1 : __builtin_popcountll(doms) <= 1 ? 2 : 3;
    bool local = true;
    for (uint32_t i = 0; i < a->ncores && local; i++)
        local = (doms >> n->core_numa[a->cores[i]]) & 1;
    at->cores_local = local;
}

/* The running set is a binary min-heap by (end of time limit, attempt id);
 * each attempt knows its position, so removal and re-keying are O(log n)
 * and backfill planning can walk it in order without sorting. */
static void running_put(sched_t *s, size_t i, running_ref_t r)
{
    s->running[i] = r;
    attempt_at(s, r.id)->running_ix = (uint32_t)i;
}

static void running_fix(sched_t *s, size_t i)
{
    running_ref_t x = s->running[i];
    while (i > 0 && running_before(&x, &s->running[(i - 1) / 2])) {
        running_put(s, i, s->running[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const running_ref_t *best = &x;
        if (l < s->nrunning && running_before(&s->running[l], best))
            m = l, best = &s->running[l];
        if (r < s->nrunning && running_before(&s->running[r], best))
            m = r;
        if (m == i)
            break;
        running_put(s, i, s->running[m]);
        i = m;
    }
    running_put(s, i, x);
}

int running_add(sched_t *s, sched_attempt_t *at, int64_t end_ms)
{
    if (CAIRN_GROW(s->running, s->running_cap, s->nrunning + 1) < 0)
        return SCHED_ENOMEM;
    size_t i = s->nrunning++;
    running_put(s, i, (running_ref_t){at->id, end_ms});
    running_fix(s, i);
    return 0;
}

static void running_remove(sched_t *s, sched_attempt_t *at)
{
    size_t i = at->running_ix;
    running_ref_t last = s->running[--s->nrunning];
    if (i == s->nrunning)
        return;
    running_put(s, i, last);
    running_fix(s, i);
}

static int64_t limit_end(int64_t from, int64_t limit)
{
    return limit > 0 ? from + limit : INT64_MAX;
}

int attempt_place(sched_t *s, const sched_event_t *ev, cairn_error_t *err)
{
    int rc = check_place(s, ev, err);
    if (rc < 0)
        return rc;
    uint32_t nr = ev->u.place.nreplicas;
    sched_attempt_t *at = attempt_new(ev->u.place.allocs, nr);
    if (!at || win_push(&s->attempts, at) < 0) {
        free(at);
        return errcode(err, SCHED_ENOMEM, "out of memory");
    }
    at->id = ev->u.place.attempt;
    at->after = ev->u.place.after;
    sched_task_t *t = task_at(s, (task_ref_t){.job = ev->u.place.job, .task = ev->u.place.task});
    if (!at->after && running_add(s, at, limit_end(ev->time_ms, t->time_limit_ms)) < 0) {
        win_pop(&s->attempts); /* its id is given again */
        free(at);
        return errcode(err, SCHED_ENOMEM, "out of memory");
    }
    at->job = ev->u.place.job;
    at->task = ev->u.place.task;
    at->number = (uint16_t)(t->attempts + 1);
    at->placed_ms = ev->time_ms;
    at->running = 1;
    if (at->after) {
        at->queued = 1;
        attempt_at(s, at->after)->next = at->id;
    } else {
        for (uint32_t i = 0; i < nr; i++)
            cluster_alloc_take(s, &at->allocs[i]);
    }
    place_explain(s, at);
    acct_attempt(s, at, 1, !at->queued, ev->time_ms);
    at->prev = t->attempt;
    t->attempts++;
    t->attempt = at->id;
    t->state = SCHED_TASK_RUNNING;
    t->queued = 0;
    if (!at->queued)
        preempt_candidate_add(s, at);
    preempt_hold_drop(s, (task_ref_t){.job = at->job, .task = at->task});
    return 0;
}

int attempt_start(sched_t *s, const sched_event_t *ev, cairn_error_t *err)
{
    sched_attempt_t *at = attempt_at(s, ev->u.start.attempt);
    if (!at)
        return errcode(err, SCHED_ENOENT, "start: unknown attempt %llu",
                       (unsigned long long)ev->u.start.attempt);
    if (!at->running)
        return errcode(err, SCHED_ESTALE, "start: attempt %llu already ended",
                       (unsigned long long)at->id);
    if (at->queued)
        return errcode(err, SCHED_ECONFLICT, "start: attempt %llu is queued behind %llu",
                       (unsigned long long)at->id, (unsigned long long)at->after);
    if (!at->started_ms) {
        at->started_ms = ev->time_ms;
        const sched_task_t *t = task_at(s, (task_ref_t){.job = at->job, .task = at->task});
        s->running[at->running_ix].end_ms = limit_end(ev->time_ms, t->time_limit_ms);
        running_fix(s, at->running_ix);
        preempt_candidate_started(s, at);
    }
    return 0;
}

/* Decide what happens to the task after its current attempt ended. */
static void task_after_attempt(sched_t *s, sched_attempt_t *at, int64_t now_ms)
{
    task_ref_t r = {.job = at->job, .task = at->task};
    sched_task_t *t = task_at(s, r);
    if (at->end == SCHED_END_EXIT && at->exit_code == 0) {
        task_finished(s, r, SCHED_TASK_SUCCEEDED, now_ms);
        return;
    }
    if (t->cancel_requested || at->end == SCHED_END_CANCELLED) {
        task_finished(s, r, SCHED_TASK_CANCELLED, now_ms);
        return;
    }
    if (at->end == SCHED_END_PREEMPTED) {
        /* not its failure: ready again at once, with no retry used */
        if (t->requeues < UINT16_MAX)
            t->requeues++;
        task_make_ready(s, r);
        return;
    }
    if (task_attempts_used(t) < t->retry->max_attempts &&
        retry_wanted(t->retry, (sched_end_t)at->end, (sched_end_class_t)at->end_class,
                     at->exit_code, at->signal)) {
        t->state = SCHED_TASK_RETRYING;
        t->ready_at_ms = now_ms + sched_retry_backoff(t->retry, t->attempts + 1u, t->seed);
        r.gen = t->attempts;
        retry_heap_push(s, r);
        return;
    }
    task_finished(s, r, SCHED_TASK_FAILED, now_ms);
}

/* at (ended, its allocation just released) hands it to the attempt queued
 * behind it; when at's node is gone, the whole line ends with it instead. */
static void successor_go(sched_t *s, sched_attempt_t *at, sched_end_t end, int64_t now_ms)
{
    sched_attempt_t *q = attempt_at(s, at->next);
    if (!q || !q->running || !q->queued) {
        at->next = 0;
        return;
    }
    const sched_node_t *n = &s->nodes[q->allocs[0].node];
    if (end == SCHED_END_NODE_LOST || n->state == SCHED_NODE_DOWN) {
        /* never started: node-lost like everything on the node, front first
         * (each end moves the next one up to at) */
        while ((q = attempt_at(s, at->next)) != NULL && q->running && q->queued)
            attempt_end(s, q, SCHED_END_NODE_LOST, 0, 0, now_ms);
        at->next = 0;
        return;
    }
    at->next = 0;
    const sched_task_t *t = task_at(s, (task_ref_t){.job = q->job, .task = q->task});
    if (running_add(s, q, limit_end(now_ms, t->time_limit_ms)) < 0) {
        /* no memory to index it: it ends as if it could not start */
        q->after = 0;
        attempt_end(s, q, SCHED_END_START_FAILED, 0, 0, now_ms);
        return;
    }
    q->queued = 0;
    cluster_alloc_take(s, &q->allocs[0]);
    acct_attempt_holds(s, q, now_ms);
    preempt_candidate_add(s, q);
}

/* Fold an attempt's run time into its class's running average (1/8 weight
 * to the newest; integer, so replay derives the same). */
static void class_note_run(sched_t *s, const sched_attempt_t *at, int64_t now_ms)
{
    task_class_t *c = &s->classes[task_at(s, (task_ref_t){.job = at->job, .task = at->task})->cls];
    int64_t run = ms_since(at->started_ms, now_ms);
    int64_t run16 = run > INT64_MAX / 16 ? INT64_MAX / 16 * 16 : run * 16;
    c->run_avg16 = c->run_known ? c->run_avg16 + (run16 - c->run_avg16) / 8 : run16;
    c->run_known = true;
}

void attempt_end(sched_t *s, sched_attempt_t *at, sched_end_t end, int code, int sig,
                 int64_t now_ms)
{
    if (!at->queued && at->started_ms && end == SCHED_END_EXIT)
        class_note_run(s, at, now_ms);
    acct_attempt(s, at, -1, !at->queued, now_ms);
    if (at->queued) {
        /* it held nothing: the one queued behind it moves up the line */
        sched_attempt_t *pred = attempt_at(s, at->after);
        sched_attempt_t *succ = attempt_at(s, at->next);
        if (pred && pred->next == at->id)
            pred->next = at->next;
        if (succ && at->next)
            succ->after = at->after;
        at->next = 0;
        at->queued = 0;
    } else {
        for (uint32_t i = 0; i < at->nreplicas; i++)
            cluster_alloc_release(s, &at->allocs[i]);
        running_remove(s, at);
        preempt_candidate_remove(s, at);
    }
    at->running = 0;
    at->end = (uint8_t)end;
    at->exit_code = code;
    at->signal = sig;
    at->ended_ms = now_ms;
    /* on failure the daemon's history misses it: never the state */
    if (CAIRN_GROW(s->ended, s->ended_cap, s->nended + 1) == 0)
        s->ended[s->nended++] = at->id;
    if (at->next)
        successor_go(s, at, end, now_ms);
    if (task_at(s, (task_ref_t){.job = at->job, .task = at->task})->attempt == at->id)
        task_after_attempt(s, at, now_ms);
}

int attempt_finish(sched_t *s, const sched_event_t *ev, cairn_error_t *err)
{
    sched_attempt_t *at = attempt_at(s, ev->u.finish.attempt);
    if (!at)
        return errcode(err, SCHED_ENOENT, "finish: unknown attempt %llu",
                       (unsigned long long)ev->u.finish.attempt);
    if (!at->running)
        return errcode(err, SCHED_ESTALE, "finish: attempt %llu already ended",
                       (unsigned long long)at->id);
    sched_end_t end = ev->u.finish.end;
    if (end <= SCHED_END_NONE || end > SCHED_END_PREEMPTED)
        return errcode(err, SCHED_EINVAL, "finish: invalid end %d", (int)end);
    if (end == SCHED_END_PREEMPTED && !at->preempt_why)
        return errcode(err, SCHED_EINVAL, "finish: attempt %llu was not preempted",
                       (unsigned long long)at->id);
    sched_end_class_t cls = ev->u.finish.cls;
    if ((unsigned)cls > SCHED_CLASS_LAST ||
        (cls != SCHED_CLASS_NONE && !sched_end_class_allowed(end, ev->u.finish.exit_code)))
        return errcode(err, SCHED_EINVAL, "finish: class %d with end %s", (int)cls,
                       sched_end_name(end));
    /* before the end: the retry decision reads it */
    at->end_class = (uint8_t)cls;
    attempt_end(s, at, end, ev->u.finish.exit_code, ev->u.finish.signal, ev->time_ms);
    return 0;
}

/* A node went down: every attempt with a replica there is node-lost, in
 * attempt id order. */
int attempts_node_lost(sched_t *s, uint32_t node, int64_t now_ms)
{
    uint64_t *lost = malloc((s->nrunning ? s->nrunning : 1) * sizeof(uint64_t));
    if (!lost)
        return SCHED_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < s->nrunning; i++) {
        sched_attempt_t *at = attempt_at(s, s->running[i].id);
        for (uint32_t k = 0; k < at->nreplicas; k++)
            if (at->allocs[k].node == node) {
                lost[n++] = at->id;
                break;
            }
    }
    qsort(lost, n, sizeof(uint64_t), cmp_u64);
    for (size_t i = 0; i < n; i++)
        attempt_end(s, attempt_at(s, lost[i]), SCHED_END_NODE_LOST, 0, 0, now_ms);
    free(lost);
    return 0;
}
