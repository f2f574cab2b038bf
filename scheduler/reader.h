/* Heavy reads off the loop: one thread with its own read-only connection
 * to the state database (journal_open_reader), so that a report over a
 * year of history or the verification of the whole audit trail never
 * holds the scheduler's loop (its heartbeats, submits and placements).
 *
 * The loop submits a job: work() runs on the reader thread with the
 * reader's stores (it may read them and its own argument, nothing of the
 * daemon), then done() runs on the loop thread with the same argument, to
 * send the answer. Jobs run one at a time in submission order. Reads see
 * what was committed when they run (SQLite WAL snapshot isolation): a
 * client whose change was acknowledged finds it. */
#ifndef CAIRN_SCHEDULER_READER_H
#define CAIRN_SCHEDULER_READER_H

#include <stdbool.h>
#include <uv.h>

#include "scheduler/archive.h"
#include "scheduler/audit.h"
#include "scheduler/history.h"
#include "scheduler/provenance.h"
#include "scheduler/timeline.h"
#include "scheduler/usage.h"

typedef struct reader reader_t;

/* What a job may read: the reader thread's own stores. */
typedef struct reader_stores {
    history_t *history;
    prov_t *prov;
    usage_t *usage;
    audit_t *audit;
    timeline_t *timeline;
    archive_t *archive;
} reader_stores_t;

/* On the reader thread. */
typedef void (*reader_work_f)(const reader_stores_t *st, void *arg);
/* On the loop thread, after work; aborted: the reader is being destroyed
 * and work did not run (free arg, answer nobody). */
typedef void (*reader_done_f)(void *arg, bool aborted);

/* Start the thread on the database at path (its tables exist: the daemon
 * opened its own stores first). */
int reader_open(uv_loop_t *loop, const char *path, reader_t **out, cairn_error_t *err);

/* Queue a job; -ENOMEM (nothing queued), or -EBUSY when more than
 * READER_QUEUE_MAX wait (err says so: the caller answers "busy"). */
#define READER_QUEUE_MAX 64
int reader_submit(reader_t *r, reader_work_f work, reader_done_f done, void *arg,
                  cairn_error_t *err);

/* Jobs queued or running. */
size_t reader_backlog(const reader_t *r);

/* Stop: waits for the job that runs (a read), calls done(aborted) for the
 * queued ones, closes the handle; memory is freed once the loop closed
 * it. NULL is a no-op. */
void reader_close(reader_t *r);

#endif
