/* Requests that act on jobs: submit, cancel, logs, explain. A change is
 * answered after the commit that makes it durable. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "scheduler/clients_private.h"
#include "scheduler/view.h"

void clients_submit(sched_daemon_t *d, const client_req_t *rq, const Cairn__SubmitRequest *r)
{
    const cairn_peer_t *from = rq->from;
    if (!r->job) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_BAD_REQUEST, "submit without a job");
        return;
    }
    if (d->batch.degraded) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_UNAVAILABLE,
                      "submissions are refused: %s", d->batch.degraded_why);
        return;
    }
    const client_id_t *id = &rq->id;
    if (!clients_may_write(d, rq, "submit jobs"))
        return;
    if (!access_owns(id, id->name)) { /* its jobs would be anonymous clients' */
        cairn_log(d->log, CAIRN_LOG_INFO, "refused: user %s may not submit: the name is reserved",
                  id->name);
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED,
                      "user %s may not submit jobs: the name '%s' is reserved for "
                      "unauthenticated clients' jobs",
                      id->name, ACCESS_ANONYMOUS);
        return;
    }
    /* the submitter is who the client is, not what it says it is */
    Cairn__JobSpec *js = r->job;
    char *claimed = js->submitter;
    if (claimed && *claimed && strcmp(claimed, id->name) != 0)
        cairn_log(d->log, CAIRN_LOG_DEBUG,
                  "job '%s': client claims submitter '%s', authenticated as '%s'",
                  js->name ? js->name : "", claimed, id->name);
    js->submitter = (char *)id->name;
    uint64_t seed = jobspec_seed(js);
    jobspec_errors_t errs = {0};
    jobspec_t *cj = NULL;
    Cairn__SubmitReply rep = CAIRN__SUBMIT_REPLY__INIT;
    /* the grace as this scheduler caps it is what the journal keeps */
    int rc = jobspec_cap_grace(js, &d->cfg.limits);
    if (rc == 0)
        rc = jobspec_build(js, seed, &d->cfg.limits, &cj, &errs);
    /* the account it is charged to (members.h): refused when not theirs */
    sched_job_spec_t spec = {0};
    char account[SCHED_MAX_NAME_LEN + 1] = "", why[1024] = "";
    if (rc == 0) {
        spec = *jobspec_core(cj);
        int crc = clients_charge(d, rq, js->account, account, sizeof(account), why, sizeof(why));
        if (crc == -EACCES) {
            cairn_log(d->log, CAIRN_LOG_INFO, "refused: %s", why);
            clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED, "%s", why);
            goto out;
        }
        if (crc == -EINVAL)
            jobspec_errors_add(&errs, "account", "%s", why);
        rc = crc == -ENOMEM ? crc : 0;
        spec.account = account;
    }
    if (rc == 0 && errs.n == 0) {
        sched_problems_t p = {0};
        int n = sched_job_validate(d->core, &spec, &p);
        char *line = p.text;
        for (uint32_t k = 0; n > 0 && line && *line; k++) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            /* where in the spec: the client points at its line and column */
            char path[80] = "";
            if (k < p.nwhere)
                sched_problem_path(&p.where[k], path, sizeof(path));
            jobspec_errors_add(&errs, path, "%s", line);
            line = nl ? nl + 1 : NULL;
        }
        sched_problems_fini(&p);
        if (n < 0)
            rc = n;
    }
    if (rc < 0) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_INTERNAL, "out of memory");
    } else if (errs.n > 0) {
        rep.n_errors = errs.n;
        rep.errors = errs.v;
        clients_reply(d, from, CAIRN_MSG_SUBMIT_REPLY, &rep.base);
    } else {
        sched_event_t ev = {.type = SCHED_EV_JOB_SUBMIT, .time_ms = cairn_wall_ms()};
        ev.u.submit = spec;
        cairn_error_t err = {{0}};
        if (batch_apply(d, &ev, js, seed, &err) < 0) {
            clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_BAD_REQUEST, "%s", err.text);
        } else {
            d->stats.submits++;
            rep.job_id = sched_job_count(d->core);
            cairn_log(d->log, CAIRN_LOG_INFO, "job %llu (%s) submitted: %zu tasks",
                      (unsigned long long)rep.job_id, js->name, js->n_tasks);
            char target[64];
            snprintf(target, sizeof(target), "job %llu", (unsigned long long)rep.job_id);
            batch_audit(d, id->name, "submit", target,
                        "name=%s tasks=%zu seed=%llu spec_sha256=%s account=%s",
                        js->name ? js->name : "", js->n_tasks, (unsigned long long)seed,
                        js->spec_sha256 ? js->spec_sha256 : "", account);
            cairn_error_t perr = {{0}};
            if (prov_put_job(d->st->prov, (uint32_t)rep.job_id, js, &perr) < 0) {
                cairn_log(d->log, CAIRN_LOG_ERROR, "%s", perr.text);
                batch_fail(d, perr.text);
            }
            clients_reply(d, from, CAIRN_MSG_SUBMIT_REPLY, &rep.base);
        }
    }
out:
    jobspec_errors_fini(&errs);
    jobspec_destroy(cj);
    js->submitter = claimed; /* freed with the message */
}

#define CANCEL_NAMES_MAX 20 /* tasks named in a cancel reply */

void clients_cancel(sched_daemon_t *d, const client_req_t *rq, const Cairn__CancelRequest *r)
{
    const cairn_peer_t *from = rq->from;
    uint32_t task = 0;
    bool one = r->task && *r->task;
    if (one && !clients_find_task(d, rq, r->job_id, r->task, &task))
        return;
    if (!one && (r->job_id == 0 || r->job_id > sched_job_count(d->core))) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND, "no job %llu",
                      (unsigned long long)r->job_id);
        return;
    }
    uint32_t job = (uint32_t)r->job_id;
    if (!clients_may_write(d, rq, "cancel jobs") || !clients_may_touch_job(d, rq, job, "cancel"))
        return;
    if (sched_job_retired(d->core, job)) { /* ended long ago: nothing to cancel */
        uint8_t *buf = NULL;
        size_t len = 0;
        cairn_error_t err = {{0}};
        archive_get(d->st->archive, job, ARCHIVE_SUMMARY, &buf, &len, &err);
        Cairn__JobSummary *sum = buf ? cairn__job_summary__unpack(NULL, len, buf) : NULL;
        free(buf);
        Cairn__CancelReply rep = CAIRN__CANCEL_REPLY__INIT;
        rep.state = sum ? sum->state : CAIRN__JOB_STATE__JOB_STATE_UNSPECIFIED;
        clients_reply(d, from, CAIRN_MSG_CANCEL_REPLY, &rep.base);
        if (sum)
            cairn__job_summary__free_unpacked(sum, NULL);
        return;
    }
    /* what it will do, from the state before it: the reply says exactly that */
    sched_cancel_effect_t eff;
    if (sched_cancel_effect(d->core, job, one ? (int64_t)task : -1, &eff) < 0) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_INTERNAL, "out of memory");
        return;
    }
    sched_event_t ev = {.type = SCHED_EV_CANCEL, .time_ms = cairn_wall_ms()};
    ev.u.cancel.job = job;
    ev.u.cancel.task = one ? (int64_t)task : -1;
    cairn_error_t err = {{0}};
    if (batch_apply(d, &ev, NULL, 0, &err) < 0) {
        sched_cancel_effect_fini(&eff);
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_BAD_REQUEST, "%s", err.text);
        return;
    }
    sched_job_info_t after;
    sched_job_info(d->core, job, &after);
    Cairn__CancelReply rep = CAIRN__CANCEL_REPLY__INIT;
    rep.tasks_cancelled = eff.count[SCHED_CANCEL_ENDS];
    rep.attempts_signalled = eff.count[SCHED_CANCEL_STOPS];
    rep.dependents_cancelled =
        eff.count[SCHED_CANCEL_DEPENDENT] + eff.count[SCHED_CANCEL_DEPENDENT_LATER];
    rep.dependents_later = eff.count[SCHED_CANCEL_DEPENDENT_LATER] > 0;
    sched_task_info_t cti;
    if (one && sched_task_info(d->core, job, task, &cti) == 0)
        rep.task_state = view_task_state(d, &cti);
    Cairn__CancelledTask items[CANCEL_NAMES_MAX], *itemp[CANCEL_NAMES_MAX];
    for (uint32_t i = 0; i < eff.nitems; i++) {
        const sched_cancel_item_t *it = &eff.items[i];
        if (it->how == SCHED_CANCEL_STOPS)
            outbox_cancel(d->out, sched_task_attempt_id(d->core, job, it->task));
        if (rep.n_cancelled < CANCEL_NAMES_MAX) {
            Cairn__CancelledTask *c = &items[rep.n_cancelled];
            cairn__cancelled_task__init(c);
            c->name = (char *)sched_task_name(d->core, job, it->task);
            c->signalled = it->how == SCHED_CANCEL_STOPS;
            sched_attempt_info_t ai;
            c->queued = c->signalled &&
                        sched_attempt_get(d->core, sched_task_attempt_id(d->core, job, it->task),
                                          &ai) == 0 &&
                        ai.queued;
            c->dependent = it->how >= SCHED_CANCEL_DEPENDENT;
            itemp[rep.n_cancelled++] = c;
        }
    }
    rep.cancelled = itemp;
    rep.state = view_job_state(&after);
    cairn_log(d->log, CAIRN_LOG_INFO, "job %u%s%s cancelled", job, one ? " task " : "",
              one ? r->task : "");
    char target[300];
    snprintf(target, sizeof(target), "job %u%s%.255s", job, one ? " task " : "",
             one ? r->task : "");
    batch_audit(d, rq->id.name, "cancel", target,
                "tasks_cancelled=%u attempts_signalled=%u dependents_cancelled=%u",
                rep.tasks_cancelled, rep.attempts_signalled, rep.dependents_cancelled);
    clients_reply(d, from, CAIRN_MSG_CANCEL_REPLY, &rep.base);
    sched_cancel_effect_fini(&eff);
}

/* The logs of a retired job's task: the attempt and its node found in the
 * job's record (archive.h) on the reader thread, then read from that node
 * as before. */
typedef struct logs_job {
    read_reply_t rr; /* first: an error found on the reader */
    uint32_t job, replica, number, max;
    int stream;
    uint64_t offset;
    char task[256];
    uint64_t attempt; /* found: the attempt and its replica's node */
    char node[256];
} logs_job_t;

static void logs_work(const reader_stores_t *st, void *arg)
{
    logs_job_t *j = arg;
    uint8_t *buf;
    size_t len;
    cairn_error_t err = {{0}};
    Cairn__JobStatusReply *rec = NULL;
    if (archive_get(st->archive, j->job, ARCHIVE_STATUS, &buf, &len, &err) == 0) {
        rec = cairn__job_status_reply__unpack(NULL, len, buf);
        free(buf);
    }
    if (!rec) {
        snprintf(j->rr.error, sizeof(j->rr.error),
                 "job %u was retired and its record does not read: %s", j->job,
                 err.text[0] ? err.text : "it does not decode");
        return;
    }
    const Cairn__TaskStatus *ts = NULL;
    for (size_t t = 0; t < rec->n_tasks && !ts; t++)
        if (!strcmp(rec->tasks[t]->name, j->task))
            ts = rec->tasks[t];
    const Cairn__AttemptInfo *a = NULL;
    for (size_t k = ts ? ts->n_attempts : 0; k-- > 0 && !a;)
        if (!j->number || ts->attempts[k]->number == j->number)
            a = ts->attempts[k];
    j->rr.code = CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND;
    if (!ts)
        snprintf(j->rr.error, sizeof(j->rr.error), "job %u has no task '%s'", j->job, j->task);
    else if (!a)
        snprintf(j->rr.error, sizeof(j->rr.error),
                 j->number ? "task %s has no attempt %u" : "task %s has not run yet%.0u", j->task,
                 j->number);
    else if (j->replica >= a->n_replicas)
        snprintf(j->rr.error, sizeof(j->rr.error), "task %s has no replica %u", j->task,
                 j->replica);
    else {
        j->rr.code = 0;
        j->attempt = a->attempt_id;
        snprintf(j->node, sizeof(j->node), "%s", a->replicas[j->replica]->node);
    }
    cairn__job_status_reply__free_unpacked(rec, NULL);
}

static void logs_done(void *arg, bool aborted)
{
    logs_job_t *j = arg;
    sched_daemon_t *d = j->rr.d;
    uint32_t node;
    if (aborted || j->rr.error[0]) {
        clients_read_done(&j->rr, aborted);
    } else if (sched_node_find(d->core, j->node, &node) < 0) {
        clients_error(d, &j->rr.to, CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND,
                      "task %s has no replica %u", j->task, j->replica);
    } else {
        log_source_t src = {.attempt = j->attempt,
                            .rank = j->replica,
                            .node = node,
                            .job = j->job,
                            .task = j->task};
        if (dispatch_read_log_at(d, &src, j->stream, j->offset, j->max, &j->rr.to) < 0)
            clients_error(d, &j->rr.to, CAIRN__ERROR_CODE__ERROR_CODE_INTERNAL, "out of memory");
    }
    free(j);
}

static void logs_retired(sched_daemon_t *d, const client_req_t *rq, uint32_t job,
                         const Cairn__LogsRequest *r)
{
    if (!clients_may_touch_job(d, rq, job, "read logs of"))
        return;
    logs_job_t *j = calloc(1, sizeof(*j));
    if (!j) {
        clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_INTERNAL, "out of memory");
        return;
    }
    *j = (logs_job_t){.rr = {.d = d, .to = *rq->from},
                      .job = job,
                      .replica = r->replica,
                      .number = r->attempt_number,
                      .max = r->max_bytes && r->max_bytes < (1u << 20) ? r->max_bytes : (1u << 20),
                      .stream = r->stream == CAIRN__LOG_STREAM__LOG_STREAM_STDERR ? 2 : 1,
                      .offset = r->offset};
    snprintf(j->task, sizeof(j->task), "%s", r->task ? r->task : "");
    if (clients_read_later(d, rq->from, logs_work, logs_done, j) < 0)
        logs_done(j, true);
}

void clients_logs(sched_daemon_t *d, const client_req_t *rq, const Cairn__LogsRequest *r)
{
    const cairn_peer_t *from = rq->from;
    if (r->job_id && r->job_id <= sched_job_count(d->core) &&
        sched_job_retired(d->core, (uint32_t)r->job_id)) {
        logs_retired(d, rq, (uint32_t)r->job_id, r);
        return;
    }
    uint32_t task;
    if (!clients_find_task(d, rq, r->job_id, r->task, &task))
        return;
    if (!clients_may_touch_job(d, rq, (uint32_t)r->job_id, "read logs of"))
        return;
    sched_task_info_t ti;
    sched_task_info(d->core, (uint32_t)r->job_id, task, &ti);
    uint64_t id = ti.attempt;
    sched_attempt_info_t ai;
    while (id && sched_attempt_get(d->core, id, &ai) == 0 && r->attempt_number &&
           ai.number != r->attempt_number)
        id = ai.prev;
    if (!id) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND,
                      r->attempt_number ? "task %s has no attempt %u" : "task %s has not run yet",
                      r->task, r->attempt_number);
        return;
    }
    uint32_t max = r->max_bytes && r->max_bytes < (1u << 20) ? r->max_bytes : (1u << 20);
    int stream = r->stream == CAIRN__LOG_STREAM__LOG_STREAM_STDERR ? 2 : 1;
    if (dispatch_read_log(d, id, r->replica, stream, r->offset, max, from) < 0)
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND, "task %s has no replica %u",
                      r->task, r->replica);
}

void clients_explain(sched_daemon_t *d, const client_req_t *rq, const Cairn__ExplainRequest *r)
{
    const cairn_peer_t *from = rq->from;
    uint32_t task;
    if (!clients_find_task(d, rq, r->job_id, r->task, &task))
        return;
    Cairn__ExplainReply rep = CAIRN__EXPLAIN_REPLY__INIT;
    char *text = sched_explain(d->core, (uint32_t)r->job_id, task, cairn_wall_ms());
    rep.text = text ? text : "";
    sched_task_info_t ti;
    sched_task_info(d->core, (uint32_t)r->job_id, task, &ti);
    rep.state = view_task_state(d, &ti);
    clients_reply(d, from, CAIRN_MSG_EXPLAIN_REPLY, &rep.base);
    free(text);
}
