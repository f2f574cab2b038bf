/* The refusals of client requests: who may change things, and act on
 * which job (the policy: access.h). */
#include <stdio.h>
#include <stdlib.h>

#include "scheduler/clients_private.h"

bool clients_may_write(sched_daemon_t *d, const client_req_t *rq, const char *what)
{
    if (!rq->id.anonymous || d->cfg.allow_anonymous_writes)
        return true;
    cairn_log(d->log, CAIRN_LOG_INFO, "refused: anonymous client may not %s", what);
    clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED,
                  "anonymous clients may not %s (read-only; connect over ipc:// as a local "
                  "user, or start the scheduler with --allow-anonymous-writes)",
                  what);
    return false;
}

bool clients_may_touch_job(sched_daemon_t *d, const client_req_t *rq, uint32_t job,
                           const char *verb)
{
    const client_id_t *id = &rq->id;
    sched_job_info_t ji = {0};
    bool live = sched_job_meta(d->core, job, &ji) == 0;
    /* a retired job's owner is in its record (archive.h) */
    char *kept = live ? NULL : archive_owner(d->st->archive, job);
    char owner[256];
    snprintf(owner, sizeof(owner), "%s", live && ji.user ? ji.user : kept ? kept : "");
    free(kept);
    bool owner_ok = access_owns(id, owner) && (!id->anonymous || d->cfg.allow_anonymous_writes);
    if (owner_ok || access_is_admin(d->cfg.admins, id))
        return true;
    cairn_log(d->log, CAIRN_LOG_INFO, "refused: %s %s may not %s job %u of %s",
              id->anonymous ? "anonymous client" : "user", id->name, verb, job, owner);
    if (id->anonymous)
        clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED,
                      "anonymous client may not %s job %u of %s", verb, job, owner);
    else
        clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED,
                      "user %s may not %s job %u of %s", id->name, verb, job, owner);
    return false;
}

bool clients_find_task(sched_daemon_t *d, const client_req_t *rq, uint64_t job_id, const char *name,
                       uint32_t *task)
{
    if (job_id == 0 || job_id > sched_job_count(d->core)) {
        clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND, "no job %llu",
                      (unsigned long long)job_id);
        return false;
    }
    if (sched_job_retired(d->core, (uint32_t)job_id)) {
        clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND,
                      "job %llu has ended and left the scheduler's memory (--keep-finished): "
                      "its history is in 'cairn status', 'inspect' and 'logs'",
                      (unsigned long long)job_id);
        return false;
    }
    if (sched_task_find(d->core, (uint32_t)job_id, name ? name : "", task) < 0) {
        clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND,
                      "job %llu has no task '%s'", (unsigned long long)job_id, name ? name : "");
        return false;
    }
    return true;
}
