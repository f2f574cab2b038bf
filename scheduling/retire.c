/* Retirement: a job that has ended leaves the state (SCHED_EV_JOB_RETIRE).
 *
 * Only a job whose tasks have all ended, and whose attempts hold nothing
 * (none running or queued on a node), may go: then nothing in the state
 * points at it but stale queue entries, which are dropped here (the retry
 * heap orders by its tasks' times, so it must not keep them) or skipped
 * as stale (class queues: task_eligible). Its attempts and it are freed;
 * the ids stay given, so a later query says "retired", not "unknown". */
#include <stdlib.h>

#include "scheduling/sched_private.h"

/* 0 when job j may be retired, else why not. */
static int retire_check(const sched_t *s, const sched_job_t *j, cairn_error_t *err)
{
    if (j->nended != j->ntasks)
        return errcode(err, SCHED_ECONFLICT, "retire: job %u has %u of %u tasks not ended", j->id,
                       j->ntasks - j->nended, j->ntasks);
    for (uint32_t i = 0; i < j->ntasks; i++)
        for (uint64_t a = j->tasks[i].attempt; a;) {
            const sched_attempt_t *at = attempt_at(s, a);
            if (!at)
                break;
            if (at->running)
                return errcode(err, SCHED_ECONFLICT,
                               "retire: job %u: attempt %llu of task %s still %s", j->id,
                               (unsigned long long)a, j->tasks[i].name,
                               at->queued ? "waits queued on its node" : "holds its resources");
            a = at->prev;
        }
    return 0;
}

int job_retire(sched_t *s, const sched_event_t *ev, cairn_error_t *err)
{
    uint32_t id = ev->u.retire.job;
    sched_job_t *j = job_at(s, id);
    if (!j)
        return errcode(err, SCHED_ENOENT,
                       sched_job_retired(s, id) ? "retire: job %u was retired already"
                                                : "retire: unknown job %u",
                       id);
    int rc = retire_check(s, j, err);
    if (rc < 0)
        return rc;
    retry_heap_drop_job(s, id);
    for (uint32_t i = 0; i < s->nresv; i++)
        if (s->resv[i].task.job == id) { /* derived by the last pass: the next redoes them */
            reservations_clear(s);
            break;
        }
    for (uint32_t i = 0; i < j->ntasks; i++) {
        s->retired_tasks[j->tasks[i].state & 7]++;
        for (uint64_t a = j->tasks[i].attempt; a;) {
            sched_attempt_t *at = attempt_at(s, a);
            if (!at)
                break;
            a = at->prev;
            win_clear(&s->attempts, at->id);
            free(at);
        }
    }
    win_clear(&s->jobs, id);
    job_destroy(j);
    s->retired_jobs++;
    return 0;
}
