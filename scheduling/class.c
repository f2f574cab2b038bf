/* Task classes (tasks with identical requests) and their ready queues.
 *
 * Each class keeps its ready tasks by priority level, each level in
 * submission order (job id, then task index). Entries are removed lazily:
 * an entry is valid while the task is still queued with the same attempt
 * count it had when pushed. */
#include <stdlib.h>
#include <string.h>

#include "scheduling/sched_private.h"

void class_fini(task_class_t *c)
{
    for (uint32_t i = 0; i < c->nlabels; i++)
        free(c->labels[i]);
    free(c->labels);
    gpu_match_fini(&c->match);
    free(c->gpu_model);
    free(c->place_level);
    for (uint32_t i = 0; i < c->nlevels; i++) {
        free(c->levels[i].fifo);
        free(c->levels[i].heap);
    }
    free(c->levels);
}

/* A borrowed view of a spec's request as a class, for matching. */
void class_from_spec(task_class_t *c, const sched_task_spec_t *t)
{
    memset(c, 0, sizeof(*c));
    c->cpus = t->req.cpus;
    c->gpus = t->req.gpus;
    c->memory = t->req.memory_bytes;
    c->gpu_min_memory = t->req.gpu_min_memory;
    c->gpu_model = (char *)(t->req.gpu_model && t->req.gpu_model[0] ? t->req.gpu_model : NULL);
    c->nlabels = t->req.nlabels;
    c->labels = (char **)t->req.labels;
    c->replicas = t->replicas ? t->replicas : 1;
    c->time_limit_ms = t->time_limit_ms;
    c->gpu_mixed = t->req.gpu_mixed;
    c->place_ix = -1;
    if (c->replicas > 1 && t->placement != SCHED_PLACEMENT_ANY && t->placement_level) {
        c->place_mode = (uint8_t)t->placement;
        c->place_level = (char *)t->placement_level;
    }
}

sched_request_t class_request(const task_class_t *c)
{
    return (sched_request_t){.cpus = c->cpus,
                             .memory_bytes = c->memory,
                             .gpus = c->gpus,
                             .gpu_model = c->gpu_model,
                             .gpu_min_memory = c->gpu_min_memory,
                             .gpu_mixed = c->gpu_mixed,
                             .nlabels = c->nlabels,
                             .labels = (const char *const *)c->labels};
}

int class_match_init(task_class_t *c)
{
    char why[160];
    return gpu_match_init(&c->match, c->gpu_model, why, sizeof(why)) < 0 ? SCHED_EINVAL : 0;
}

void class_match_fini(task_class_t *c)
{
    gpu_match_fini(&c->match);
}

uint64_t class_hash(const task_class_t *c)
{
    uint64_t h = 0xcbf29ce484222325ull;
    uint64_t v[] = {c->cpus,           c->gpus,     c->memory,
                    c->gpu_min_memory, c->replicas, (uint64_t)c->time_limit_ms,
                    c->nlabels};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        h = hash_mix(h ^ v[i]);
    h = hash_mix(h ^ c->gpu_mixed);
    h = hash_mix(h ^ c->place_mode);
    h = hash_str(h, c->place_level ? c->place_level : "");
    h = hash_str(h, c->gpu_model ? c->gpu_model : "");
    for (uint32_t i = 0; i < c->nlabels; i++)
        h = hash_str(h ^ 0xff, c->labels[i]);
    return h;
}

bool class_equal(const task_class_t *a, const task_class_t *b)
{
    if (a->cpus != b->cpus || a->gpus != b->gpus || a->memory != b->memory ||
        a->gpu_min_memory != b->gpu_min_memory || a->replicas != b->replicas ||
        a->time_limit_ms != b->time_limit_ms || a->nlabels != b->nlabels ||
        a->gpu_mixed != b->gpu_mixed || a->place_mode != b->place_mode)
        return false;
    if (a->place_mode && strcmp(a->place_level, b->place_level) != 0)
        return false;
    if ((a->gpu_model == NULL) != (b->gpu_model == NULL))
        return false;
    if (a->gpu_model && strcmp(a->gpu_model, b->gpu_model) != 0)
        return false;
    for (uint32_t i = 0; i < a->nlabels; i++)
        if (strcmp(a->labels[i], b->labels[i]) != 0)
            return false;
    return true;
}

static int class_hash_grow(sched_t *s)
{
    size_t cap = s->class_hash_cap ? s->class_hash_cap * 2 : 64;
    uint32_t *h = malloc(cap * sizeof(uint32_t));
    if (!h)
        return SCHED_ENOMEM;
    memset(h, 0xff, cap * sizeof(uint32_t));
    for (size_t i = 0; i < s->nclasses; i++) {
        task_class_t *c = &s->classes[i];
        size_t b = c->hash & (cap - 1);
        c->next = h[b];
        h[b] = (uint32_t)i;
    }
    free(s->class_hash);
    s->class_hash = h;
    s->class_hash_cap = cap;
    return 0;
}

/* Find or create the class of a task spec. */
int class_intern(sched_t *s, const sched_task_spec_t *t, uint32_t *cls)
{
    task_class_t key;
    class_from_spec(&key, t);
    uint64_t h = class_hash(&key);
    if (s->class_hash_cap) {
        for (uint32_t i = s->class_hash[h & (s->class_hash_cap - 1)]; i != UINT32_MAX;
             i = s->classes[i].next) {
            if (s->classes[i].hash == h && class_equal(&s->classes[i], &key)) {
                *cls = i;
                return 0;
            }
        }
    }
    if (s->nclasses + 1 > s->class_hash_cap / 2 && class_hash_grow(s) < 0)
        return SCHED_ENOMEM;
    if (CAIRN_GROW(s->classes, s->classes_cap, s->nclasses + 1) < 0)
        return SCHED_ENOMEM;
    task_class_t *c = &s->classes[s->nclasses];
    *c = key;
    c->gpu_model = NULL;
    c->labels = NULL;
    c->nlabels = 0;
    c->place_level = NULL;
    if (key.gpu_model && !(c->gpu_model = xstrdup(key.gpu_model)))
        goto oom;
    if (key.place_level && !(c->place_level = xstrdup(key.place_level)))
        goto oom;
    /* the levels are the core's for its life: resolve the name once */
    c->place_ix = (int8_t)sched_topology_level(s, key.place_level);
    /* validated before any submit: only memory can fail here */
    if (class_match_init(c) < 0)
        goto oom;
    if (key.nlabels) {
        if (!(c->labels = calloc(key.nlabels, sizeof(char *))))
            goto oom;
        for (uint32_t i = 0; i < key.nlabels; i++, c->nlabels++)
            if (!(c->labels[i] = xstrdup(key.labels[i])))
                goto oom;
    }
    c->id = (uint32_t)s->nclasses;
    c->hash = h;
    size_t b = h & (s->class_hash_cap - 1);
    c->next = s->class_hash[b];
    s->class_hash[b] = c->id;
    s->nclasses++;
    *cls = c->id;
    return 0;
oom:
    class_fini(c);
    memset(c, 0, sizeof(*c));
    return SCHED_ENOMEM;
}

/* Priority desc, then the account's fair-tree rank (the last pass's),
 * then job id asc, then task index asc. */
bool task_before(const sched_t *s, task_ref_t a, task_ref_t b)
{
    if (a.prio != b.prio)
        return a.prio > b.prio;
    if (a.acct != b.acct) {
        uint32_t ra = acct_rank(s, a.acct), rb = acct_rank(s, b.acct);
        if (ra != rb)
            return ra < rb;
    }
    if (a.job != b.job)
        return a.job < b.job;
    return a.task < b.task;
}

bool task_eligible(const sched_t *s, task_ref_t r)
{
    const sched_job_t *j = job_at(s, r.job); /* NULL: retired, the entry is stale */
    const sched_task_t *t = j ? &j->tasks[r.task] : NULL;
    return t && t->queued && t->attempts == r.gen &&
           (t->state == SCHED_TASK_READY || t->state == SCHED_TASK_RETRYING);
}

static bool ref_after(task_ref_t a, task_ref_t b)
{
    return a.job != b.job ? a.job > b.job : a.task > b.task;
}

/* Binary min-heaps of task refs under a given order. */
typedef bool (*ref_less_f)(const sched_t *s, task_ref_t a, task_ref_t b);

static void refheap_push(const sched_t *s, task_ref_t *h, size_t *len, task_ref_t r,
                         ref_less_f less)
{
    size_t i = (*len)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!less(s, r, h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = r;
}

static void refheap_pop(const sched_t *s, task_ref_t *h, size_t *len, ref_less_f less)
{
    task_ref_t last = h[--*len];
    size_t i = 0, n = *len;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        task_ref_t best = last;
        if (l < n && less(s, h[l], best)) {
            m = l;
            best = h[l];
        }
        if (r < n && less(s, h[r], best))
            m = r;
        if (m == i)
            break;
        h[i] = h[m];
        i = m;
    }
    if (n > 0)
        h[i] = last;
}

static bool ref_less(const sched_t *s, task_ref_t a, task_ref_t b)
{
    (void)s;
    return ref_after(b, a);
}

static void level_heap_push(prio_level_t *l, task_ref_t r)
{
    size_t n = l->heap_len;
    refheap_push(NULL, l->heap, &n, r, ref_less);
    l->heap_len = (uint32_t)n;
}

static void level_heap_pop(prio_level_t *l)
{
    size_t n = l->heap_len;
    refheap_pop(NULL, l->heap, &n, ref_less);
    l->heap_len = (uint32_t)n;
}

/* Levels in order of priority (highest first); within one priority in
 * the fair-tree order of their accounts as of the last pass
 * (class_levels_sort), a new one last. */
static prio_level_t *level_get(task_class_t *c, int32_t prio, uint32_t acct)
{
    uint32_t i = 0;
    for (; i < c->nlevels && c->levels[i].prio >= prio; i++)
        if (c->levels[i].prio == prio && c->levels[i].acct == acct)
            return &c->levels[i];
    if (CAIRN_GROW(c->levels, c->levels_cap, c->nlevels + 1) < 0)
        return NULL;
    memmove(&c->levels[i + 1], &c->levels[i], (c->nlevels - i) * sizeof(prio_level_t));
    c->nlevels++;
    memset(&c->levels[i], 0, sizeof(prio_level_t));
    c->levels[i].prio = prio;
    c->levels[i].acct = acct;
    return &c->levels[i];
}

static bool level_before(const sched_t *s, const prio_level_t *a, const prio_level_t *b)
{
    if (a->prio != b->prio)
        return a->prio > b->prio;
    uint32_t ra = acct_rank(s, a->acct), rb = acct_rank(s, b->acct);
    return ra != rb ? ra < rb : a->acct < b->acct;
}

/* Empty levels go (each account that ever had a task of the class would
 * leave one, for every peek to walk past); the rest are put in order by
 * an insertion sort: the order changes little from one pass to the next.
 * The order is total, so it does not depend on what was there before. */
void class_levels_sort(sched_t *s)
{
    for (size_t k = 0; k < s->nactive; k++) {
        task_class_t *c = &s->classes[s->active[k]];
        uint32_t keep = 0;
        for (uint32_t i = 0; i < c->nlevels; i++) {
            prio_level_t *l = &c->levels[i];
            if (l->head == l->len && l->heap_len == 0) {
                free(l->fifo);
                free(l->heap);
                continue;
            }
            c->levels[keep++] = *l;
        }
        c->nlevels = keep;
        for (uint32_t i = 1; i < c->nlevels; i++) {
            if (!level_before(s, &c->levels[i], &c->levels[i - 1]))
                continue;
            prio_level_t x = c->levels[i];
            uint32_t j = i;
            for (; j > 0 && level_before(s, &x, &c->levels[j - 1]); j--)
                c->levels[j] = c->levels[j - 1];
            c->levels[j] = x;
        }
    }
}

static void activate(sched_t *s, task_class_t *c)
{
    if (c->active)
        return;
    if (CAIRN_GROW(s->active, s->active_cap, s->nactive + 1) == 0) {
        s->active[s->nactive++] = c->id;
        c->active = true;
    }
}

void class_heap_push(sched_t *s, task_class_t *c, task_ref_t r)
{
    r.prio = task_at(s, r)->priority;
    r.acct = job_at(s, r.job)->account;
    prio_level_t *l = level_get(c, r.prio, r.acct);
    if (!l)
        return; /* the task stays unqueued */
    if (l->head == l->len || ref_after(r, l->fifo[l->len - 1])) {
        if (l->head > 0 && l->head == l->len)
            l->head = l->len = 0;
        if (l->head > 4096 && l->head > l->len / 2) { /* compact */
            memmove(l->fifo, l->fifo + l->head, (l->len - l->head) * sizeof(task_ref_t));
            l->len -= l->head;
            l->head = 0;
        }
        if (CAIRN_GROW(l->fifo, l->cap, l->len + 1) < 0)
            return;
        l->fifo[l->len++] = r;
    } else {
        if (CAIRN_GROW(l->heap, l->heap_cap, l->heap_len + 1) < 0)
            return;
        level_heap_push(l, r);
    }
    task_at(s, r)->queued = 1;
    activate(s, c);
}

/* Head of the class's queue, dropping stale entries: the head of the first
 * level that has one, the levels being in priority order and, within one
 * priority, in the fair-tree order of their accounts (class_levels_sort,
 * at the start of each pass: ranks are unique, so the first is the best).
 * With limits, levels whose account (or an ancestor) is at a limit for
 * this class are passed over: their tasks wait, and hold no one back. */
bool class_heap_peek(sched_t *s, task_class_t *c, task_ref_t *r, bool limits)
{
    for (uint32_t i = 0; i < c->nlevels; i++) {
        prio_level_t *l = &c->levels[i];
        while (l->head < l->len && !task_eligible(s, l->fifo[l->head]))
            l->head++;
        while (l->heap_len > 0 && !task_eligible(s, l->heap[0]))
            level_heap_pop(l);
        bool f = l->head<l->len, h = l->heap_len> 0;
        if (!f && !h)
            continue;
        task_ref_t x =
            f && (!h || ref_after(l->heap[0], l->fifo[l->head])) ? l->fifo[l->head] : l->heap[0];
        /* x.acct is l->acct (snapshot_load checks it); the pass judges x */
        if (limits && !acct_fits(s, x.acct, c))
            continue;
        *r = x;
        return true;
    }
    return false;
}

/* --- retry heap: tasks waiting out a backoff ---------------------------- */

static bool retry_before(const sched_t *s, task_ref_t a, task_ref_t b)
{
    int64_t ta = task_at(s, a)->ready_at_ms, tb = task_at(s, b)->ready_at_ms;
    if (ta != tb)
        return ta < tb;
    if (a.job != b.job)
        return a.job < b.job;
    return a.task < b.task;
}

void retry_heap_push(sched_t *s, task_ref_t r)
{
    if (CAIRN_GROW(s->retry_heap, s->retry_cap, s->retry_len + 1) < 0)
        return;
    refheap_push(s, s->retry_heap, &s->retry_len, r, retry_before);
}

static void retry_heap_pop(sched_t *s)
{
    refheap_pop(s, s->retry_heap, &s->retry_len, retry_before);
}

void retry_heap_drop_job(sched_t *s, uint32_t job)
{
    size_t keep = 0;
    for (size_t i = 0; i < s->retry_len; i++)
        if (s->retry_heap[i].job != job)
            s->retry_heap[keep++] = s->retry_heap[i];
    if (keep == s->retry_len)
        return;
    /* build the heap again from what is left (no order among stale
     * entries matters: only valid ones are ever released) */
    size_t n = keep;
    s->retry_len = 0;
    for (size_t i = 0; i < n; i++)
        refheap_push(s, s->retry_heap, &s->retry_len, s->retry_heap[i], retry_before);
}

/* Move tasks whose backoff has passed into their class queues. Their state
 * stays RETRYING until placed, so the state is a function of events only. */
void retry_heap_release_due(sched_t *s, int64_t now_ms)
{
    while (s->retry_len > 0) {
        task_ref_t r = s->retry_heap[0];
        sched_task_t *t = task_at(s, r);
        bool valid = t->state == SCHED_TASK_RETRYING && t->attempts == r.gen && !t->queued;
        if (valid && t->ready_at_ms > now_ms)
            break;
        retry_heap_pop(s);
        if (valid)
            class_heap_push(s, &s->classes[t->cls], r);
    }
}
