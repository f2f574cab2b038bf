/* What the benchmarks read of a process's threads under /proc; see
 * bench_proc.h. */
#include "bench_proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

void bench_each_thread(pid_t pid, void (*fn)(pid_t pid, const char *tid, void *arg), void *arg)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            fn(pid, e->d_name, arg);
    closedir(d);
}

void bench_thread_sched(pid_t pid, const char *tid, bench_tstat_t *t)
{
    char p[320], line[256];
    snprintf(p, sizeof(p), "/proc/%d/task/%s/sched", (int)pid, tid);
    FILE *f = fopen(p, "r");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        double v;
        if (sscanf(line, "se.sum_exec_runtime : %lf", &v) == 1)
            t->cpu_ms += v;
        else if (sscanf(line, "nr_voluntary_switches : %lf", &v) == 1)
            t->vol += v;
        else if (sscanf(line, "nr_involuntary_switches : %lf", &v) == 1)
            t->invol += v;
    }
    fclose(f);
}

static void add_sched(pid_t pid, const char *tid, void *arg)
{
    bench_thread_sched(pid, tid, arg);
}

int64_t bench_cpu_ns(pid_t pid)
{
    bench_tstat_t t = {.cpu_ms = 0};
    bench_each_thread(pid, add_sched, &t);
    return (int64_t)(t.cpu_ms * 1e6);
}

int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

pid_t bench_spawn(const char *const *argv, const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        setpgid(0, 0);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

int bench_wait_exit(pid_t pid, int64_t timeout_ms)
{
    int64_t deadline = bench_now_ns() + timeout_ms * 1000000LL;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            return 0;
        if (bench_now_ns() > deadline)
            return -ETIMEDOUT;
        struct timespec ts = {0, 2 * 1000000L}; /* polls the condition */
        nanosleep(&ts, NULL);
    }
}

void bench_stop_pid(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    if (bench_wait_exit(pid, 10000) < 0) {
        kill(pid, SIGKILL);
        bench_wait_exit(pid, 5000);
    }
}

void bench_rm_rf(const char *dir)
{
    pid_t pid;
    const char *argv[] = {"rm", "-rf", dir, NULL};
    if (posix_spawnp(&pid, "rm", NULL, NULL, (char *const *)argv, environ) == 0)
        waitpid(pid, NULL, 0);
}

long bench_rss_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    size_t fl = strlen(field);
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':')
            v = strtol(line + fl + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}
