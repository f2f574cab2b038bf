/* Retention: a job that ended more than --keep-finished ago leaves the
 * core (SCHED_EV_JOB_RETIRE, journaled like every event), so that the
 * scheduler's memory holds the jobs that run and the recent ones only.
 *
 * Before it goes, what every read needs of it is written beside the
 * journal in the same transaction (archive.h): its summary, every task's
 * status and its provenance, as the same code built them for a live job,
 * so that a read answers the same before and after. Its attempts'
 * accounting records are in the history already (records_flush, before
 * this in each check phase). The work of one pass is bounded
 * (RETAIN_TASKS_PER_PASS); what is left waits for the next iteration.
 *
 * --history-retention: history older than that is dropped, a bounded
 * batch at a time, in the loop's commit. */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "scheduler/clients_private.h"
#include "scheduler/retain.h"

#define RETAIN_JOBS_PER_PASS 1024
#define RETAIN_TASKS_PER_PASS 1024 /* about 20 us each to record: ~20 ms a pass */
#define HISTORY_DROP_PER_PASS 1000
#define HISTORY_DROP_EVERY_MS 60000

/* Pack m into a buffer kept in f: its length, or 0 (oom set). */
static size_t pack_into(frees_t *f, const ProtobufCMessage *m, const uint8_t **out)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = clients_keep(f, malloc(len ? len : 1));
    *out = buf;
    return buf ? protobuf_c_message_pack(m, buf) : 0;
}

/* Write job's record (archive.h) in the open transaction: its tasks'
 * count, or a negative code. */
static int archive_job(sched_daemon_t *d, uint32_t job, cairn_error_t *err)
{
    frees_t f = {0};
    status_page_t all = {.limit = UINT32_MAX};
    Cairn__JobStatusReply st = CAIRN__JOB_STATUS_REPLY__INIT;
    Cairn__JobSummary sum;
    clients_status_fill(d, job, &all, &st, &sum, &f);
    Cairn__JobProvenance jp;
    char *masked = NULL;
    int rc = clients_prov_fill(d, job, -1, true, &f, &jp, &masked);
    archive_row_t row = {.job = job,
                         .submitter = sum.submitter,
                         .account = sum.account,
                         .state = (int)sum.state,
                         .submit_ms = sum.submit_time_ms,
                         .end_ms = sum.end_time_ms};
    row.len[ARCHIVE_SUMMARY] = pack_into(&f, &sum.base, &row.part[ARCHIVE_SUMMARY]);
    row.len[ARCHIVE_STATUS] = pack_into(&f, &st.base, &row.part[ARCHIVE_STATUS]);
    row.len[ARCHIVE_PROV] = rc == 0 ? pack_into(&f, &jp.base, &row.part[ARCHIVE_PROV]) : 0;
    row.part[ARCHIVE_SPEC_MASKED] = (const uint8_t *)masked;
    row.len[ARCHIVE_SPEC_MASKED] = masked ? strlen(masked) : 0;
    if (rc == 0 && f.oom)
        rc = -ENOMEM;
    if (rc < 0)
        errcode(err, rc, "retire: job %u: its record could not be built", job);
    else
        rc = archive_put(d->st->archive, &row, err);
    clients_frees_fini(&f);
    return rc < 0 ? rc : (int)sum.tasks_total;
}

bool retain_attempt_gone(uint64_t attempt, void *arg)
{
    return sched_attempt_retired(arg, attempt);
}

/* Drop a batch of history older than --history-retention. */
static void drop_old_history(sched_daemon_t *d, int64_t now)
{
    int64_t until = now - d->cfg.history_retention_ms;
    cairn_error_t err = {{0}};
    int a = archive_drop_before(d->st->archive, until, HISTORY_DROP_PER_PASS, &err);
    int h = a < 0 ? a : history_drop_before(d->st->history, until, HISTORY_DROP_PER_PASS, &err);
    if (a < 0 || h < 0) {
        cairn_log(d->log, CAIRN_LOG_ERROR, "history retention: %s", err.text);
        batch_fail(d, err.text);
        return;
    }
    if (a + h > 0)
        cairn_log(d->log, CAIRN_LOG_INFO,
                  "history retention: dropped %d retired jobs and %d attempt records", a, h);
    /* a full batch: more wait, take the next soon */
    int64_t every = d->cfg.history_retention_ms / 2 < HISTORY_DROP_EVERY_MS
                        ? d->cfg.history_retention_ms / 2
                        : HISTORY_DROP_EVERY_MS;
    d->retain.history_at =
        a == HISTORY_DROP_PER_PASS || h == HISTORY_DROP_PER_PASS ? now : now + every;
}

bool retain_pass(sched_daemon_t *d)
{
    int64_t now = cairn_wall_ms();
    if (now >= d->retain.history_at && !d->batch.failed)
        drop_old_history(d, now);
    uint32_t ids[RETAIN_JOBS_PER_PASS];
    size_t n =
        sched_jobs_done_before(d->core, now - d->cfg.keep_finished_ms, ids, RETAIN_JOBS_PER_PASS);
    size_t tasks = 0, done = 0, i;
    for (i = 0; i < n && tasks < RETAIN_TASKS_PER_PASS && !d->batch.failed; i++) {
        cairn_error_t err = {{0}};
        int nt = archive_job(d, ids[i], &err);
        if (nt < 0) {
            cairn_log(d->log, CAIRN_LOG_ERROR, "%s", err.text);
            batch_fail(d, err.text);
            break;
        }
        sched_event_t ev = {.type = SCHED_EV_JOB_RETIRE, .time_ms = now};
        ev.u.retire.job = ids[i];
        if (batch_apply(d, &ev, NULL, 0, &err) < 0) { /* the core says it may not go yet */
            cairn_log(d->log, CAIRN_LOG_WARN, "%s", err.text);
            continue;
        }
        tasks += (size_t)nt;
        done++;
    }
    if (done) {
        cache_hits_forget(d->st->cache, retain_attempt_gone, d->core);
        cairn_log(d->log, CAIRN_LOG_DEBUG, "retired %zu jobs (%zu tasks) in %lld ms", done, tasks,
                  (long long)(cairn_wall_ms() - now));
    }
    /* the history has every ended attempt before its cursor */
    sched_ended_trim(d->core, history_cursor(d->st->history));
    /* stopped by the bound: the rest go in the next iteration (a job the
     * core refused waits for the next tick, not a busy loop) */
    return i < n && !d->batch.failed;
}
