/* Clients waiting for an answer that is not there yet: long polls on a
 * job's end (JobStatusRequest.wait_ms) and log reads a node was asked for
 * (ReadLog). Each is answered exactly once: when what it waits for comes,
 * at its deadline, or when the connection it waits on is gone. */
#ifndef CAIRN_SCHEDULER_WAITS_H
#define CAIRN_SCHEDULER_WAITS_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "proto/net.h"

typedef struct waits waits_t;

/* Which part of a job's status a client asked for (JobStatusRequest). */
typedef struct status_page {
    bool summary_only;
    uint32_t offset, limit;
    char task[256]; /* one task by name, "" for a page */
} status_page_t;

/* A client waiting for a job to end. */
typedef struct job_wait {
    uint32_t job;
    status_page_t page;
    cairn_peer_t client;
    int64_t deadline_ms; /* loop time */
} job_wait_t;

/* A ReadLog sent to a node: only that node's registered connection may
 * answer it, for that attempt and replica. */
typedef struct log_wait {
    uint64_t request_id; /* random */
    uint64_t attempt_id;
    uint32_t rank;
    uint32_t node, pipe; /* asked: the node, on its connection */
    cairn_peer_t client;
    int64_t deadline_ms; /* loop time */
} log_wait_t;

/* Open job waits at the most; more are answered at once. */
#define WAITS_JOB_MAX 10000

/* Whether job has ended; answer w with the job's status as it is now. */
typedef bool (*waits_job_done_f)(void *arg, uint32_t job);
typedef void (*waits_job_answer_f)(void *arg, const job_wait_t *w);
/* Answer a log read that will get no chunk: why. */
typedef void (*waits_log_fail_f)(void *arg, const log_wait_t *w, const char *why);

/* Waits on loop; job waits are told by done and answered by answer
 * (with arg). -ENOMEM. */
int waits_create(uv_loop_t *loop, waits_job_done_f done, waits_job_answer_f answer, void *arg,
                 waits_t **out);
/* Close the deadline timer; the rest is freed once it has closed. */
void waits_destroy(waits_t *w);

/* A client waits for job until deadline_ms (loop time): 0, -ENOSPC (too
 * many wait: answer it now) or -ENOMEM. */
int waits_job_add(waits_t *w, uint32_t job, const status_page_t *pg, const cairn_peer_t *client,
                  int64_t deadline_ms);
/* Answer the waits whose job has ended (with expire, also those past
 * their deadline), in the order they were asked; re-arm the timer. */
void waits_job_answer(waits_t *w, bool expire);
size_t waits_job_count(const waits_t *w);

/* A log read was sent: 0 or -ENOMEM. */
int waits_log_add(waits_t *w, const log_wait_t *lw);
/* The read waiting under request_id, or NULL. */
const log_wait_t *waits_log_find(const waits_t *w, uint64_t request_id);
/* Take that read out: it is answered. */
void waits_log_remove(waits_t *w, uint64_t request_id);
/* Answer (through fail) the reads waiting on pipe, which is gone. */
void waits_log_fail_pipe(waits_t *w, uint32_t pipe, const char *why, waits_log_fail_f fail,
                         void *arg);
/* Answer the reads past their deadline (now: loop time). */
void waits_log_expire(waits_t *w, int64_t now, waits_log_fail_f fail, void *arg);

/* Forget every wait: the endpoints were reopened, their clients are gone. */
void waits_clear(waits_t *w);

#endif
