/* --health-check CMD --health-interval T: the operator's node health
 * check, as Slurm's HealthCheckProgram. `sh -c CMD` runs every interval
 * (the first time at once), as the worker's user, off the loop (a child
 * process; its output read through a pipe, at most 1 KiB kept); one that
 * runs longer than min(interval, 60 s) is killed and counts as failed. A
 * non-zero exit (or a signal) calls fail with the command's output (else
 * "exit N" / "killed by signal N"): the worker asks the scheduler to drain
 * the node with it as the reason. */
#ifndef CAIRN_WORKER_HEALTH_CHECK_H
#define CAIRN_WORKER_HEALTH_CHECK_H

#include <stdint.h>
#include <uv.h>

#include "common/error.h"

typedef struct worker_health_check worker_health_check_t;
typedef void (*worker_health_fail_f)(void *arg, const char *why);

int worker_health_check_start(uv_loop_t *loop, const char *cmd, int64_t interval_ms,
                              worker_health_fail_f fail, void *arg, worker_health_check_t **out,
                              cairn_error_t *err);
/* Stop (a command still running is killed); the handles close on the
 * loop, which must run on. NULL: nothing. */
void worker_health_check_stop(worker_health_check_t *h);

#endif
