/* The scheduler's states as clients see them; see view.h. */
#include "scheduler/view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"

Cairn__TaskState view_task_state(sched_daemon_t *d, const sched_task_info_t *ti)
{
    static const Cairn__TaskState map[] = {
        CAIRN__TASK_STATE__TASK_STATE_WAITING,   CAIRN__TASK_STATE__TASK_STATE_PENDING,
        CAIRN__TASK_STATE__TASK_STATE_RUNNING,   CAIRN__TASK_STATE__TASK_STATE_RETRY_WAIT,
        CAIRN__TASK_STATE__TASK_STATE_SUCCEEDED, CAIRN__TASK_STATE__TASK_STATE_FAILED,
        CAIRN__TASK_STATE__TASK_STATE_CANCELLED, CAIRN__TASK_STATE__TASK_STATE_UPSTREAM_FAILED};
    sched_attempt_info_t ai;
    if (ti->state == SCHED_TASK_RUNNING && ti->attempt &&
        sched_attempt_get(d->core, ti->attempt, &ai) == 0 && ai.queued)
        return CAIRN__TASK_STATE__TASK_STATE_PENDING; /* placed, but waits its turn */
    return (unsigned)ti->state < 8 ? map[ti->state] : CAIRN__TASK_STATE__TASK_STATE_UNSPECIFIED;
}

Cairn__JobState view_job_state(const sched_job_info_t *ji)
{
    const uint32_t *c = ji->count;
    if (ji->nended == ji->ntasks) {
        if (c[SCHED_TASK_FAILED] || c[SCHED_TASK_UPSTREAM_FAILED])
            return CAIRN__JOB_STATE__JOB_STATE_FAILED;
        if (c[SCHED_TASK_CANCELLED])
            return CAIRN__JOB_STATE__JOB_STATE_CANCELLED;
        return CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED;
    }
    if (c[SCHED_TASK_RUNNING] || ji->nended)
        return CAIRN__JOB_STATE__JOB_STATE_RUNNING;
    return CAIRN__JOB_STATE__JOB_STATE_PENDING;
}

bool view_attempt_ran(sched_daemon_t *d, const sched_attempt_info_t *ai)
{
    uint32_t from_job;
    const char *from_task;
    return ai->started_ms != 0 || cache_hit_get(d->st->cache, ai->id, &from_job, &from_task);
}

bool view_attempt_holds(sched_daemon_t *d, const sched_attempt_info_t *ai)
{
    return ai->end == SCHED_END_NONE ? !ai->queued : view_attempt_ran(d, ai);
}

Cairn__EndReason view_end_reason(const sched_attempt_info_t *ai)
{
    switch (ai->end) {
    case SCHED_END_EXIT:
        return ai->exit_code == 0 ? CAIRN__END_REASON__END_REASON_SUCCEEDED
                                  : CAIRN__END_REASON__END_REASON_EXIT_NONZERO;
    case SCHED_END_SIGNAL:
        return CAIRN__END_REASON__END_REASON_SIGNALED;
    case SCHED_END_TIMEOUT:
        return CAIRN__END_REASON__END_REASON_TIMED_OUT;
    case SCHED_END_CANCELLED:
        return CAIRN__END_REASON__END_REASON_CANCELLED;
    case SCHED_END_NODE_LOST:
        return CAIRN__END_REASON__END_REASON_NODE_LOST;
    case SCHED_END_START_FAILED:
        return CAIRN__END_REASON__END_REASON_FAILED_TO_START;
    case SCHED_END_PREEMPTED:
        return CAIRN__END_REASON__END_REASON_PREEMPTED;
    default:
        return CAIRN__END_REASON__END_REASON_UNSPECIFIED;
    }
}

const char *view_end_word(const sched_attempt_info_t *ai)
{
    switch (ai->end) {
    case SCHED_END_NONE:
        return "";
    case SCHED_END_EXIT:
        return ai->exit_code == 0 ? "succeeded" : "exit_nonzero";
    case SCHED_END_SIGNAL:
        return "signaled";
    case SCHED_END_TIMEOUT:
        return "timed_out";
    case SCHED_END_CANCELLED:
        return "cancelled";
    case SCHED_END_NODE_LOST:
        return "node_lost";
    case SCHED_END_START_FAILED:
        return "failed_to_start";
    case SCHED_END_PREEMPTED:
        return "preempted";
    default:
        return "unknown";
    }
}

const char *view_end_class(const sched_attempt_info_t *ai)
{
    if (ai->end == SCHED_END_NONE || (ai->end == SCHED_END_EXIT && ai->exit_code == 0))
        return "";
    if (ai->end_class != SCHED_CLASS_NONE)
        return sched_end_class_name(ai->end_class);
    return view_end_word(ai);
}

/* The reason in the core's explanation of ai's task, when ai is its
 * latest attempt: "... preempted by job 7 task eval (REASON)". */
static bool core_reason(sched_daemon_t *d, const sched_attempt_info_t *ai, char *buf, size_t n)
{
    const char *by = sched_task_name(d->core, ai->preempted_by_job, ai->preempted_by_task);
    if (!by || sched_task_attempt_id(d->core, ai->job, ai->task) != ai->id)
        return false;
    char *text = sched_explain(d->core, ai->job, ai->task, cairn_wall_ms());
    char head[600];
    snprintf(head, sizeof(head), "preempted by job %u task %s (", ai->preempted_by_job, by);
    const char *at = text ? strstr(text, head) : NULL;
    const char *end = at ? strchr(at + strlen(head), ')') : NULL;
    if (end) /* an account's name has no ')' */
        snprintf(buf, n, "%.*s", (int)(end - at - strlen(head)), at + strlen(head));
    free(text);
    return end != NULL;
}

void view_preempt_reason(sched_daemon_t *d, const sched_attempt_info_t *ai, char *buf, size_t n)
{
    buf[0] = '\0';
    sched_task_info_t by, self;
    if (!ai->preempted || core_reason(d, ai, buf, n))
        return;
    if (ai->preempt_why == SCHED_PREEMPT_FAIR_SHARE) {
        const char *acct = view_job_account(d, ai->preempted_by_job);
        snprintf(buf, n, "account %s below its share", *acct ? acct : "?");
    } else if (sched_task_info(d->core, ai->preempted_by_job, ai->preempted_by_task, &by) == 0 &&
               sched_task_info(d->core, ai->job, ai->task, &self) == 0) {
        snprintf(buf, n, "priority %d > %d", by.priority, self.priority);
    } else {
        snprintf(buf, n, "priority");
    }
}

const char *view_job_account(sched_daemon_t *d, uint32_t job)
{
    sched_account_info_t ai;
    uint32_t id = sched_job_account(d->core, job);
    if (id == SCHED_ACCOUNT_NONE || sched_account_get(d->core, id, 0, &ai) < 0 || !ai.name)
        return "";
    return ai.name;
}

bool view_account_fill(char **account)
{
    if (*account && **account)
        return true;
    char *name = strdup(SCHED_ACCOUNT_DEFAULT);
    if (!name)
        return false;
    /* the empty default is protobuf-c's own: not freed */
    *account = name;
    return true;
}
