/* The reader thread; see reader.h.
 *
 * The loop thread and the reader share only the two job queues, under one
 * mutex: todo (loop -> reader, a condition variable wakes the reader) and
 * finished (reader -> loop, a uv_async wakes the loop, which drains the
 * whole queue: async sends coalesce). The stores and their connection are
 * used by the reader thread alone while it runs (opened before it starts,
 * closed after it is joined). */
#include "scheduler/reader.h"
#include "common/grow.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct job {
    reader_work_f work;
    reader_done_f done;
    void *arg;
} job_t;

typedef struct jobq {
    job_t *v;
    size_t n, cap;
} jobq_t;

struct reader {
    uv_async_t async;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    jobq_t todo, finished;
    size_t running; /* 1 while the thread runs a job */
    journal_t *j;
    reader_stores_t st;
};

static int jobq_push(jobq_t *q, job_t j)
{
    if (CAIRN_GROW(q->v, q->cap, q->n + 1) < 0)
        return -ENOMEM;
    q->v[q->n++] = j;
    return 0;
}

static void *reader_main(void *arg)
{
    reader_t *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->stop && r->todo.n == 0)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->stop)
            break;
        job_t j = r->todo.v[0];
        memmove(r->todo.v, r->todo.v + 1, --r->todo.n * sizeof(job_t));
        r->running = 1;
        pthread_mutex_unlock(&r->mu);
        j.work(&r->st, j.arg);
        pthread_mutex_lock(&r->mu);
        r->running = 0;
        if (jobq_push(&r->finished, j) < 0) {
            /* no room to hand it back: the loop would never answer, so
             * this thread waits for room rather than lose it */
            pthread_mutex_unlock(&r->mu);
            uv_async_send(&r->async);
            pthread_mutex_lock(&r->mu);
            while (!r->stop && jobq_push(&r->finished, j) < 0)
                pthread_cond_wait(&r->cv, &r->mu);
        }
        uv_async_send(&r->async);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void async_cb(uv_async_t *h)
{
    reader_t *r = h->data;
    pthread_mutex_lock(&r->mu);
    jobq_t q = r->finished;
    r->finished = (jobq_t){0};
    pthread_cond_signal(&r->cv); /* room again, for a reader waiting on it */
    pthread_mutex_unlock(&r->mu);
    for (size_t i = 0; i < q.n; i++)
        q.v[i].done(q.v[i].arg, false);
    free(q.v);
}

static void stores_close(reader_t *r)
{
    history_close(r->st.history);
    prov_close(r->st.prov);
    archive_close(r->st.archive);
    usage_close(r->st.usage);
    audit_close(r->st.audit);
    timeline_close(r->st.timeline);
    journal_close(r->j);
    memset(&r->st, 0, sizeof(r->st));
    r->j = NULL;
}

static void closed_cb(uv_handle_t *h)
{
    reader_t *r = h->data;
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r->todo.v);
    free(r->finished.v);
    free(r);
}

int reader_open(uv_loop_t *loop, const char *path, reader_t **out, cairn_error_t *err)
{
    reader_t *r = calloc(1, sizeof(*r));
    if (!r)
        return errcode(err, -ENOMEM, "out of memory");
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    int rc;
    if ((rc = journal_open_reader(path, &r->j, err)) < 0 ||
        (rc = history_open(r->j, &r->st.history, err)) < 0 ||
        (rc = prov_open(r->j, &r->st.prov, err)) < 0 ||
        (rc = usage_open(r->j, &r->st.usage, err)) < 0 ||
        (rc = audit_open(r->j, &r->st.audit, err)) < 0 ||
        (rc = timeline_open(r->j, &r->st.timeline, err)) < 0 ||
        (rc = archive_open(r->j, &r->st.archive, err)) < 0)
        goto fail;
    if (uv_async_init(loop, &r->async, async_cb) < 0) {
        rc = errcode(err, -ENOMEM, "reader: cannot make its wake-up handle");
        goto fail;
    }
    r->async.data = r;
    if ((rc = pthread_create(&r->thread, NULL, reader_main, r)) != 0) {
        rc = errcode(err, -rc, "reader: cannot start its thread: %s", strerror(rc));
        stores_close(r);
        uv_close((uv_handle_t *)&r->async, closed_cb);
        return rc;
    }
    r->started = true;
    *out = r;
    return 0;
fail:
    stores_close(r);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
    return rc;
}

int reader_submit(reader_t *r, reader_work_f work, reader_done_f done, void *arg,
                  cairn_error_t *err)
{
    pthread_mutex_lock(&r->mu);
    int rc = r->todo.n >= READER_QUEUE_MAX
                 ? errcode(err, -EBUSY, "%zu heavy reads wait already: try again later", r->todo.n)
                 : jobq_push(&r->todo, (job_t){work, done, arg});
    if (rc == -ENOMEM)
        errcode(err, rc, "out of memory");
    if (rc == 0)
        pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return rc;
}

size_t reader_backlog(const reader_t *r)
{
    pthread_mutex_lock((pthread_mutex_t *)&r->mu);
    size_t n = r->todo.n + r->running;
    pthread_mutex_unlock((pthread_mutex_t *)&r->mu);
    return n;
}

void reader_close(reader_t *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (r->started)
        pthread_join(r->thread, NULL);
    for (size_t i = 0; i < r->todo.n; i++)
        r->todo.v[i].done(r->todo.v[i].arg, true);
    for (size_t i = 0; i < r->finished.n; i++)
        r->finished.v[i].done(r->finished.v[i].arg, true);
    r->todo.n = r->finished.n = 0;
    stores_close(r);
    uv_close((uv_handle_t *)&r->async, closed_cb);
}
