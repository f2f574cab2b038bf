/* Helpers of the fault-injection tests (test_scheduler_faults_*.c): real
 * cairn-worker processes (optionally through a wrapper such as `ip netns
 * exec`), node and job state with deadlines, shell tasks, process and file
 * waits. Header-only, like sched_harness.h. */
#ifndef CAIRN_TEST_FAULTS_HARNESS_H
#define CAIRN_TEST_FAULTS_HARNESS_H

#include "sched_harness.h"

#define FX_UNUSED __attribute__((unused))

typedef struct fx_proc {
    pid_t pid;
    char name[32], dir[300];
} fx_proc_t;

/* Start a real cairn-worker; prefix (NULL-terminated, may be NULL) runs it
 * through a wrapper (ip netns exec NS). */
static FX_UNUSED void fx_worker_start(const char *url, const char *base, fx_proc_t *w,
                                      const char *name, const char *topo,
                                      const char *const *prefix)
{
    snprintf(w->name, sizeof(w->name), "%s", name);
    snprintf(w->dir, sizeof(w->dir), "%s/%s", base, name);
    static char bin[512], topo_path[512], log[400];
    snprintf(bin, sizeof(bin), "%s/cairn-worker", CAIRN_BIN_DIR);
    snprintf(topo_path, sizeof(topo_path), "%s/%s", CAIRN_TOPO_DIR, topo);
    snprintf(log, sizeof(log), "%s.log", w->dir);
    const char *argv[32];
    int n = 0;
    for (int i = 0; prefix && prefix[i]; i++)
        argv[n++] = prefix[i];
    const char *rest[] = {bin, "--scheduler", url, "--state-dir", w->dir, "--name", name,
                          "--topology", topo_path, "--log-file", log, "--log-level", "debug",
                          NULL};
    for (int i = 0; rest[i]; i++)
        argv[n++] = rest[i];
    argv[n] = NULL;
    w->pid = fork();
    cr_assert_geq(w->pid, 0);
    if (w->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
}

static FX_UNUSED void fx_proc_kill(fx_proc_t *w, int sig)
{
    if (w->pid <= 0)
        return;
    kill(w->pid, sig);
    int64_t deadline = cairn_mono_ms() + 10000;
    while (waitpid(w->pid, NULL, WNOHANG) == 0) {
        if (cairn_mono_ms() > deadline) {
            kill(w->pid, SIGKILL);
            waitpid(w->pid, NULL, 0);
            break;
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL); /* polling a child's exit */
    }
    w->pid = 0;
}

static FX_UNUSED bool fx_alive(pid_t pid)
{
    return pid > 0 && waitpid(pid, NULL, WNOHANG) == 0;
}

static FX_UNUSED int fx_node_state(h_sched_t *s, const char *name, size_t *up)
{
    Cairn__NodesRequest req = CAIRN__NODES_REQUEST__INIT;
    cairn_error_t err = {{0}};
    Cairn__NodesReply *rep =
        (Cairn__NodesReply *)h_call(s, CAIRN_MSG_NODES, &req.base, CAIRN_MSG_NODES_REPLY, &err);
    cr_assert_not_null(rep, "%s", err.text);
    int state = -1;
    size_t n = 0;
    for (size_t i = 0; i < rep->n_nodes; i++) {
        n += rep->nodes[i]->state == CAIRN__NODE_STATE__NODE_STATE_UP;
        if (name && strcmp(rep->nodes[i]->name, name) == 0)
            state = rep->nodes[i]->state;
    }
    cairn_msg_free(&rep->base);
    if (up)
        *up = n;
    return state;
}

static FX_UNUSED void fx_wait_nodes(h_sched_t *s, size_t n, int64_t timeout_ms)
{
    int64_t deadline = cairn_mono_ms() + timeout_ms;
    size_t up = 0;
    for (;;) {
        fx_node_state(s, NULL, &up);
        if (up == n)
            return;
        cr_assert_lt(cairn_mono_ms(), deadline, "%zu nodes up, not %zu", up, n);
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL); /* polling the condition */
    }
}

static FX_UNUSED bool fx_job_ended(const Cairn__JobStatusReply *st)
{
    return st->job->state >= CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED;
}

/* Poll job status until pred holds or the deadline passes (fails then). */
static FX_UNUSED Cairn__JobStatusReply *fx_wait_status(h_sched_t *s, uint64_t job,
                                                       bool (*pred)(const Cairn__JobStatusReply *),
                                                       int64_t timeout_ms, const char *what)
{
    int64_t deadline = cairn_mono_ms() + timeout_ms;
    for (;;) {
        Cairn__JobStatusReply *st = h_status(s, job);
        if (pred(st))
            return st;
        cairn_msg_free(&st->base);
        cr_assert_lt(cairn_mono_ms(), deadline, "job %llu: %s not reached in time",
                     (unsigned long long)job, what);
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL); /* polling the condition */
    }
}

/* Is a process whose command line matches the pgrep -f pattern alive?
 * Patterns use a [x] class so that they do not match the shell running pgrep. */
static FX_UNUSED bool fx_pgrep(const char *pattern)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "pgrep -f '%s' >/dev/null", pattern);
    return system(cmd) == 0;
}

static FX_UNUSED void fx_wait_gone(const char *pattern, int64_t timeout_ms, const char *what)
{
    int64_t deadline = cairn_mono_ms() + timeout_ms;
    while (fx_pgrep(pattern)) {
        if (cairn_mono_ms() > deadline)
            cr_assert_fail("%s: a process matching %s is still alive", what, pattern);
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL); /* polling the condition */
    }
}

static FX_UNUSED void fx_wait_file(const char *path, int64_t timeout_ms, const char *what)
{
    int64_t deadline = cairn_mono_ms() + timeout_ms;
    while (access(path, F_OK) != 0) {
        cr_assert_lt(cairn_mono_ms(), deadline, "%s: %s never appeared", what, path);
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL); /* polling the condition */
    }
}

static FX_UNUSED void fx_touch(const char *path)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fclose(f);
}

static FX_UNUSED void fx_rmrf(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", dir);
}

#endif
