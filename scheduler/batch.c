/* The open batch: every change the daemon makes goes through here, into
 * the core and the journal, to be committed by the loop's check phase
 * (daemon.c) before anything that depends on it is sent. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/clock.h"
#include "scheduler/daemon_private.h"
#include "scheduler/journal_pack.h"

void batch_fail(sched_daemon_t *d, const char *what)
{
    d->batch.degraded = d->batch.failed = true;
    snprintf(d->batch.degraded_why, sizeof(d->batch.degraded_why), "state storage failed: %.200s",
             what);
}

static void idle_cb(uv_idle_t *h)
{
    (void)h; /* only keeps the poll phase from blocking while work waits */
}

void batch_touch(sched_daemon_t *d)
{
    d->batch.dirty = true;
    if (!d->batch.busy) {
        d->batch.busy = true;
        uv_idle_start(&d->h.idle, idle_cb);
    }
}

void batch_audit(sched_daemon_t *d, const char *user, const char *action, const char *target,
                 const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    cairn_error_t err = {{0}};
    if (audit_append(d->st->audit, cairn_wall_ms(), user, action, target, detail, &err) < 0) {
        cairn_log(d->log, CAIRN_LOG_ERROR, "audit append failed: %s", err.text);
        batch_fail(d, err.text);
    }
    batch_touch(d);
}

void batch_clock_seen(sched_daemon_t *d, int64_t t_ms)
{
    if (t_ms > d->batch.floor_ms)
        d->batch.floor_ms = t_ms;
}

bool batch_pass_time(sched_daemon_t *d, int64_t *now_ms)
{
    if (d->batch.placed_mono_ms && cairn_mono_ms() <= d->batch.placed_mono_ms)
        return false;
    int64_t now = cairn_wall_ms();
    *now_ms = now > d->batch.floor_ms ? now : d->batch.floor_ms;
    return true;
}

void batch_passed(sched_daemon_t *d, int64_t now_ms, int placed)
{
    batch_clock_seen(d, now_ms);
    if (placed > 0) {
        d->batch.floor_ms = now_ms + 1;
        d->batch.placed_mono_ms = cairn_mono_ms();
    }
}

int batch_apply(sched_daemon_t *d, const sched_event_t *event, const Cairn__JobSpec *js,
                uint64_t seed, cairn_error_t *err)
{
    /* at the core's time (daemon_private.h); 0 is left so: a start a
     * worker gave no time for (the core notes no start then) */
    sched_event_t e = *event;
    const sched_event_t *ev = &e;
    if (e.time_ms && e.time_ms < d->batch.floor_ms)
        e.time_ms = d->batch.floor_ms;
    /* what may wait for the next commit (COMMIT_DELAY_MS): a start, and
     * an end whose allocation an attempt queued behind it takes over (the
     * worker started that one already; nothing waits for this commit); not
     * a retirement: the reader thread answers for the job once committed */
    bool lazy = ev->type == SCHED_EV_START;
    sched_attempt_info_t ai;
    if (ev->type == SCHED_EV_FINISH && sched_attempt_get(d->core, ev->u.finish.attempt, &ai) == 0)
        lazy = ai.next != 0;
    timeline_mark_t tm;
    timeline_mark(d->core, ev, &tm);
    int rc = sched_apply(d->core, ev, err);
    if (rc < 0)
        return rc;
    batch_clock_seen(d, e.time_ms);
    d->stats.events_applied++;
    if (!lazy)
        d->batch.urgent = true;
    uint8_t *buf = NULL;
    size_t len = 0;
    cairn_error_t jerr = {{0}};
    if (journal_event_pack(ev, js, seed, &buf, &len) < 0 ||
        journal_append(d->st->journal, buf, len, &jerr) < 0 ||
        timeline_note(d->st->timeline, d->core, ev, &tm, &jerr) < 0) {
        /* the commit will fail and the state be reloaded */
        cairn_log(d->log, CAIRN_LOG_ERROR, "journal append failed: %s", jerr.text);
        batch_fail(d, jerr.text);
    }
    free(buf);
    batch_touch(d);
    return 0;
}
