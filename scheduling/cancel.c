/* Cancellation: a whole job, or one task and what needs it.
 *
 * A user's cancel is not a failure. A task that is not running ends
 * cancelled at once; a running one (or one queued on its node) is marked
 * and ends cancelled when its attempt reports its end (a success that
 * raced the cancel still counts as one). The tasks that wait on a
 * cancelled task, its pending descendants, end cancelled with it
 * ("upstream cancelled"), at once or when its stopped attempt ends
 * (task_finished in job.c): they are never upstream_failed. */
#include <stdlib.h>

#include "scheduling/sched_private.h"

static bool task_waiting(const sched_task_t *t)
{
    return t->state == SCHED_TASK_PENDING || t->state == SCHED_TASK_READY ||
           t->state == SCHED_TASK_RETRYING;
}

static void cancel_task(sched_t *s, uint32_t job, uint32_t task, int64_t now_ms, bool whole)
{
    sched_job_t *j = job_at(s, job);
    sched_task_t *t = &j->tasks[task];
    if (t->state == SCHED_TASK_RUNNING) {
        t->cancel_requested = 1;
        /* it is stopping: no victim of a preemption */
        sched_attempt_t *at = attempt_at(s, t->attempt);
        if (at)
            preempt_candidate_remove(s, at);
    } else if (task_waiting(t)) {
        if (whole) { /* every task is cancelled in its own right */
            t->state = SCHED_TASK_CANCELLED;
            t->queued = 0;
            job_task_ended(j, now_ms);
        } else {
            task_finished(s, (task_ref_t){.job = job, .task = task}, SCHED_TASK_CANCELLED, now_ms);
        }
    }
}

int job_cancel(sched_t *s, const sched_event_t *ev, cairn_error_t *err)
{
    uint32_t job = ev->u.cancel.job;
    sched_job_t *j = job_at(s, job);
    if (!j)
        return errcode(err, SCHED_ENOENT, "cancel: unknown job %u", job);
    int64_t task = ev->u.cancel.task;
    if (task >= (int64_t)j->ntasks || task < -1)
        return errcode(err, SCHED_ENOENT, "cancel: job %u has no task %lld", job, (long long)task);
    if (task >= 0) {
        cancel_task(s, job, (uint32_t)task, ev->time_ms, false);
        return 0;
    }
    for (uint32_t i = 0; i < j->ntasks; i++)
        cancel_task(s, job, i, ev->time_ms, true);
    return 0;
}

static int cmp_item(const void *a, const void *b)
{
    uint32_t x = ((const sched_cancel_item_t *)a)->task, y = ((const sched_cancel_item_t *)b)->task;
    return x < y ? -1 : x > y;
}

static void effect_add(sched_cancel_effect_t *e, uint32_t task, sched_cancel_how_t how)
{
    e->items[e->nitems++] = (sched_cancel_item_t){.task = task, .how = how};
    e->count[how]++;
}

/* The pending descendants of task `from`, as task_finished reaches them. */
static int effect_dependents(const sched_job_t *j, uint32_t from, sched_cancel_how_t how,
                             sched_cancel_effect_t *e)
{
    uint32_t *stack = malloc(j->ntasks * sizeof(uint32_t));
    uint8_t *seen = calloc(j->ntasks, 1);
    if (!stack || !seen) {
        free(stack);
        free(seen);
        return SCHED_ENOMEM;
    }
    uint32_t sp = 0;
    stack[sp++] = from;
    seen[from] = 1;
    while (sp > 0) {
        const sched_task_t *u = &j->tasks[stack[--sp]];
        for (uint32_t k = 0; k < u->ndependents; k++) {
            uint32_t di = u->dependents[k];
            if (seen[di] || j->tasks[di].state != SCHED_TASK_PENDING)
                continue;
            seen[di] = 1;
            effect_add(e, di, how);
            stack[sp++] = di;
        }
    }
    free(stack);
    free(seen);
    return 0;
}

int sched_cancel_effect(const sched_t *s, uint32_t job, int64_t task, sched_cancel_effect_t *out)
{
    *out = (sched_cancel_effect_t){0};
    const sched_job_t *j = job_at(s, job);
    if (!j)
        return SCHED_ENOENT;
    if (task >= (int64_t)j->ntasks || task < -1)
        return SCHED_ENOENT;
    out->items = malloc((j->ntasks ? j->ntasks : 1) * sizeof(*out->items));
    if (!out->items)
        return SCHED_ENOMEM;
    uint32_t first = task >= 0 ? (uint32_t)task : 0;
    uint32_t end = task >= 0 ? (uint32_t)task + 1 : j->ntasks;
    for (uint32_t i = first; i < end; i++) {
        const sched_task_t *t = &j->tasks[i];
        if (t->state == SCHED_TASK_RUNNING)
            effect_add(out, i, SCHED_CANCEL_STOPS);
        else if (task_waiting(t))
            effect_add(out, i, SCHED_CANCEL_ENDS);
    }
    if (task >= 0 && out->nitems == 1) {
        bool later = out->items[0].how == SCHED_CANCEL_STOPS;
        int rc = effect_dependents(
            j, (uint32_t)task, later ? SCHED_CANCEL_DEPENDENT_LATER : SCHED_CANCEL_DEPENDENT, out);
        if (rc < 0) {
            sched_cancel_effect_fini(out);
            return rc;
        }
        qsort(out->items, out->nitems, sizeof(*out->items), cmp_item);
    }
    return 0;
}

void sched_cancel_effect_fini(sched_cancel_effect_t *e)
{
    free(e->items);
    *e = (sched_cancel_effect_t){0};
}
