/* A JobSpec for the benchmarks: n tasks of one core each, all running the
 * same command, with needs added one by one. */
#ifndef CAIRN_BENCH_JOB_H
#define CAIRN_BENCH_JOB_H

#include <stddef.h>

#include "proto/envelope.h"

typedef struct bench_job {
    Cairn__JobSpec js;
    Cairn__TaskSpec **tasks;
    Cairn__TaskSpec *tv;
    Cairn__ResourceRequest res;
    char **names;
    char ***needs;
    char *argv[2];
    size_t n;
} bench_job_t;

/* n tasks running argv0 [arg1] (borrowed): names t0..t(n-1), no needs yet.
 * 0, or -ENOMEM (nothing to free then). */
int bench_job_init(bench_job_t *b, const char *name, size_t n, const char *argv0, const char *arg1);
/* Task task needs task on: 0 or -ENOMEM. */
int bench_job_need(bench_job_t *b, size_t task, size_t on);
/* Free what init and need allocated. */
void bench_job_fini(bench_job_t *b);

#endif
