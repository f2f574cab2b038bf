/* Retention of ended jobs (--keep-finished) and of history
 * (--history-retention); see retain.c. */
#ifndef CAIRN_SCHEDULER_RETAIN_H
#define CAIRN_SCHEDULER_RETAIN_H

#include <stdbool.h>
#include <stdint.h>

typedef struct sched_daemon sched_daemon_t;

/* When the loop next looks (daemon.c). */
typedef struct retain_state {
    bool due;           /* the retain timer fired: look in this check phase */
    int64_t history_at; /* wall clock: the next batch of old history */
} retain_state_t;

/* In the check phase, after the history records of ended attempts were
 * written (records_flush): retire a bounded batch of jobs that ended
 * --keep-finished ago, writing their records in the open batch; drop a
 * batch of old history when due. True when more jobs wait. */
bool retain_pass(sched_daemon_t *d);
/* A cache_gone_f (cache.h): attempt was retired from core (a sched_t). */
bool retain_attempt_gone(uint64_t attempt, void *core);

#endif
