/* Clients waiting for an answer that is not there yet; see waits.h. */
#include "scheduler/waits.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/grow.h"

struct waits {
    uv_loop_t *loop;
    uv_timer_t timer; /* the earliest job wait's deadline */
    waits_job_done_f done;
    waits_job_answer_f answer;
    void *arg;
    job_wait_t *jobs; /* in the order asked */
    size_t njobs, jobs_cap;
    log_wait_t *logs;
    size_t nlogs, logs_cap;
};

int waits_create(uv_loop_t *loop, waits_job_done_f done, waits_job_answer_f answer, void *arg,
                 waits_t **out)
{
    waits_t *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->loop = loop;
    w->done = done;
    w->answer = answer;
    w->arg = arg;
    uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    *out = w;
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    waits_t *w = h->data;
    free(w->jobs);
    free(w->logs);
    free(w);
}

void waits_destroy(waits_t *w)
{
    if (w)
        uv_close((uv_handle_t *)&w->timer, timer_closed);
}

int waits_job_add(waits_t *w, uint32_t job, const status_page_t *pg, const cairn_peer_t *client,
                  int64_t deadline_ms)
{
    if (w->njobs >= WAITS_JOB_MAX)
        return -ENOSPC;
    if (CAIRN_GROW(w->jobs, w->jobs_cap, w->njobs + 1) < 0)
        return -ENOMEM;
    w->jobs[w->njobs++] =
        (job_wait_t){.job = job, .page = *pg, .client = *client, .deadline_ms = deadline_ms};
    return 0;
}

static void timer_cb(uv_timer_t *t)
{
    waits_job_answer(t->data, true);
}

void waits_job_answer(waits_t *w, bool expire)
{
    int64_t now = (int64_t)uv_now(w->loop), next = INT64_MAX;
    for (size_t i = 0; i < w->njobs;) {
        job_wait_t *x = &w->jobs[i];
        if (w->done(w->arg, x->job) || (expire && x->deadline_ms <= now)) {
            w->answer(w->arg, x);
            /* keep arrival order: answers go out in the order asked */
            memmove(x, x + 1, (w->njobs - i - 1) * sizeof(*x));
            w->njobs--;
            continue;
        }
        if (x->deadline_ms < next)
            next = x->deadline_ms;
        i++;
    }
    if (next == INT64_MAX)
        uv_timer_stop(&w->timer);
    else
        uv_timer_start(&w->timer, timer_cb, (uint64_t)(next > now ? next - now : 0), 0);
}

size_t waits_job_count(const waits_t *w)
{
    return w->njobs;
}

int waits_log_add(waits_t *w, const log_wait_t *lw)
{
    if (CAIRN_GROW(w->logs, w->logs_cap, w->nlogs + 1) < 0)
        return -ENOMEM;
    w->logs[w->nlogs++] = *lw;
    return 0;
}

const log_wait_t *waits_log_find(const waits_t *w, uint64_t request_id)
{
    for (size_t i = 0; i < w->nlogs; i++)
        if (w->logs[i].request_id == request_id)
            return &w->logs[i];
    return NULL;
}

void waits_log_remove(waits_t *w, uint64_t request_id)
{
    for (size_t i = 0; i < w->nlogs; i++)
        if (w->logs[i].request_id == request_id) {
            w->logs[i] = w->logs[--w->nlogs];
            return;
        }
}

/* Answer (through fail) and take out the reads that match. */
static void fail_where(waits_t *w, uint32_t pipe, int64_t now, const char *why,
                       waits_log_fail_f fail, void *arg)
{
    for (size_t i = 0; i < w->nlogs;) {
        bool gone = pipe ? w->logs[i].pipe == pipe : w->logs[i].deadline_ms <= now;
        if (!gone) {
            i++;
            continue;
        }
        log_wait_t x = w->logs[i];
        w->logs[i] = w->logs[--w->nlogs];
        fail(arg, &x, why);
    }
}

void waits_log_fail_pipe(waits_t *w, uint32_t pipe, const char *why, waits_log_fail_f fail,
                         void *arg)
{
    if (pipe)
        fail_where(w, pipe, 0, why, fail, arg);
}

void waits_log_expire(waits_t *w, int64_t now, waits_log_fail_f fail, void *arg)
{
    fail_where(w, 0, now, "the node did not answer in time", fail, arg);
}

void waits_clear(waits_t *w)
{
    w->njobs = 0;
    w->nlogs = 0;
    uv_timer_stop(&w->timer);
}
