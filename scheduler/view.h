/* The scheduler's states as clients see them: the words and enums of
 * status, provenance, accounting and the metrics page, from the core's
 * state and the cached-results store. */
#ifndef CAIRN_SCHEDULER_VIEW_H
#define CAIRN_SCHEDULER_VIEW_H

#include <stdbool.h>

#include "proto/client.pb-c.h"
#include "scheduler/daemon_private.h"

/* The state clients see for a task: the core's, except pending for one
 * whose attempt waits queued on a node behind another (prefetch). */
Cairn__TaskState view_task_state(sched_daemon_t *d, const sched_task_info_t *ti);
/* A job's state from its tasks' counts: failed beats cancelled beats
 * succeeded once every task has ended. */
Cairn__JobState view_job_state(const sched_job_info_t *ji);
/* Whether an attempt ran: it started, or (a cache hit) its outputs were
 * checked on its node. One that never ran has no start time, and an exit
 * code or signal it was given is not the task's. */
bool view_attempt_ran(sched_daemon_t *d, const sched_attempt_info_t *ai);
/* Whether an attempt's cores and GPUs are its own to show: it holds them
 * now (placed, not queued behind another) or, ended, it ran on them. */
bool view_attempt_holds(sched_daemon_t *d, const sched_attempt_info_t *ai);
/* How an attempt ended, as an enum and as a word ("succeeded",
 * "exit_nonzero", ..., "" while it runs). */
Cairn__EndReason view_end_reason(const sched_attempt_info_t *ai);
const char *view_end_word(const sched_attempt_info_t *ai);
/* The class of an attempt that did not succeed: what its failure is known
 * to be ("oom", "gpu-error", "log"), else its end word ("exit_nonzero",
 * "signaled", "timed_out", "node_lost", "failed_to_start", "cancelled",
 * "preempted"); "" while it runs and when it succeeded. */
const char *view_end_class(const sched_attempt_info_t *ai);

/* Why attempt ai was preempted, in `cairn explain`'s words: "priority
 * 100 > 0" or "account nlp below its share" (taken from the core's
 * explanation while ai is its task's latest attempt, else rebuilt from
 * the preemptor as it is now); "" when it was not. */
void view_preempt_reason(sched_daemon_t *d, const sched_attempt_info_t *ai, char *buf, size_t n);

/* The name of the account job is charged to (sched.h: accounts), valid
 * until the next sched_apply: a deleted account keeps its name. "" for
 * an unknown job. */
const char *view_job_account(sched_daemon_t *d, uint32_t job);
/* A record written before accounts existed has no account: every such
 * job was the built-in default account's. Sets *account (a string of the
 * protobuf-c default allocator's, freed with its message) to
 * SCHED_ACCOUNT_DEFAULT when it is empty; false when out of memory. */
bool view_account_fill(char **account);

#endif
