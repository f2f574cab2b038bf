/* What the benchmarks read of a process's threads under /proc. */
#ifndef CAIRN_BENCH_PROC_H
#define CAIRN_BENCH_PROC_H

#include <stdint.h>
#include <sys/types.h>

/* A thread's (or a sum of threads') scheduler counters. */
typedef struct bench_tstat {
    char name[20];
    double cpu_ms, vol, invol, minflt;
} bench_tstat_t;

/* fn(pid, tid, arg) for each thread of pid (none if pid is gone). */
void bench_each_thread(pid_t pid, void (*fn)(pid_t pid, const char *tid, void *arg), void *arg);

/* Adds thread tid's CPU time and context switches (/proc/PID/task/TID/sched)
 * to t. */
void bench_thread_sched(pid_t pid, const char *tid, bench_tstat_t *t);

/* CPU time of all of pid's threads, ns (not its children's). */
int64_t bench_cpu_ns(pid_t pid);

#endif
