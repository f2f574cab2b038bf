/* What the benchmarks read of a process's threads under /proc; see
 * bench_proc.h. */
#include "bench_proc.h"

#include <dirent.h>
#include <stdio.h>

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
