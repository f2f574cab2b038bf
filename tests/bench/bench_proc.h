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

/* CLOCK_MONOTONIC in ns. */
int64_t bench_now_ns(void);

/* Start argv[0] (a path) in a process group of its own (a terminal's ^C
 * reaches the bench only), stdout and stderr appended to log: its pid, or
 * -1 (errno says why). */
pid_t bench_spawn(const char *const *argv, const char *log);

/* Wait up to timeout_ms for a child to exit: 0, or -ETIMEDOUT. */
int bench_wait_exit(pid_t pid, int64_t timeout_ms);

/* SIGTERM, and SIGKILL if it is still there after 10 s; then reaped.
 * pid <= 0: nothing. */
void bench_stop_pid(pid_t pid);

/* rm -rf dir. */
void bench_rm_rf(const char *dir);

/* A "VmRSS"-like field of /proc/PID/status in KiB, or -1. */
long bench_rss_kib(pid_t pid, const char *field);

#endif
