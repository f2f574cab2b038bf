/* bench_e2e: end-to-end throughput, latency and overhead of a real local
 * cluster: cairn-scheduler and cairn-worker processes talking the real
 * protocol over ipc, the journal durable (SQLite, synchronous=FULL), tasks
 * real processes. Prints a table; asserts nothing about speed.
 *
 *   bench_e2e [--bin DIR] [--only LIST] [--quick] [--keep] [--threads] [--pairs N]
 *             [--store-cmd CMD]   (each cluster's scheduler on the store CMD prints)
 *             [--perf-ctl FIFO [--perf-job TEXT]]
 *
 * LIST is a comma list of: raw, user, w1, w2, w3, latency, big, nodes
 * (default: all). --quick shrinks every workload (a smoke run of the harness).
 * --threads prints, under each job, the workers' CPU, sleeps, preemptions
 * and page faults per task by thread name. --pairs N repeats the nodes
 * comparison N times (fresh clusters, alternating) and prints the median
 * ratio: one pair moves by several points from run to run. --perf-ctl
 * enables a `perf record --control=fifo:FIFO -D -1` around each timed job
 * (or only those whose label holds --perf-job's text), so a profile holds
 * the job's window and nothing else.
 *
 * Workloads (see docs/performance.md):
 *   raw      /bin/true spawned two at a time from a C loop (posix_spawn,
 *            no scheduler): the machine's limit
 *   user     the headline table, the user's view: W1, W2 and W3 below, each
 *            on a fresh default `cairn up` cluster with its state and task
 *            logs under --dir (never --worker-dir), timed around the CLI's
 *            own `cairn submit FILE --wait`
 *   w1       1,000 independent /bin/true tasks in one job
 *   w2       1 -> 200 train -> 200 evaluate (each on its train) -> 1 (402)
 *   w3       a chain of 200 tasks
 *   latency  submit -> task process start of single-task jobs on an idle
 *            cluster (the task stamps CLOCK_MONOTONIC first thing in main)
 *   big      one job of 100,000 tasks: time to the durable acknowledgement,
 *            scheduler RSS while queued, restart (kill -9) -> first dispatch
 *   nodes    500 worker processes (1-core topologies); idle scheduler CPU
 *            with all heartbeating; W1 across them vs across 2 such workers
 *
 * Every workload but raw uses a fresh cluster in a fresh state directory
 * under --dir (default BUILD/bench-state: the checkout's disk; a /tmp that
 * has seen many deletions makes ext4 file creation slow for a while).
 * Tasks request 1 core each; the default worker has this machine's cores.
 * CPU time is the sum of se.sum_exec_runtime over the daemon's threads
 * (/proc/PID/task/TID/sched), before and after: the daemons' own CPU only,
 * not their children's (the tasks). */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_job.h"
#include "bench_proc.h"
#include "cluster/client.h"
#include "proto/envelope.h"

extern char **environ;

static char g_bin[PATH_MAX];
static char g_base[PATH_MAX - 64]; /* state directories go under it */
static char g_wbase[PATH_MAX];     /* workers' state directories, if elsewhere */
static bool g_quick, g_keep, g_threads;
static int g_pairs = 1;              /* --pairs: nodes runs, two workers then many, alternately */
static const char *g_worker_args[8]; /* --worker-arg: extra cairn-worker arguments */
static const char *g_store_cmd;      /* --store-cmd: prints a fresh store URL per cluster */
static char g_store[1024];           /* its latest answer */

/* --store-cmd: a fresh store for the next cluster (e.g. a new PostgreSQL
 * database: tests/bench/pg_fresh.sh); NULL without one. */
static const char *fresh_store(void)
{
    if (!g_store_cmd)
        return NULL;
    FILE *p = popen(g_store_cmd, "r");
    if (!p || !fgets(g_store, sizeof(g_store), p)) {
        fprintf(stderr, "bench_e2e: --store-cmd '%s' printed no URL\n", g_store_cmd);
        exit(1);
    }
    pclose(p);
    g_store[strcspn(g_store, "\n")] = '\0';
    return g_store;
}
static int g_nworker_args;
static int g_perf_fd = -1;     /* --perf-ctl: perf record's control FIFO */
static const char *g_perf_job; /* --perf-job: only jobs whose label holds this */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ------------------------------------------------------------ processes */

typedef struct cluster {
    char dir[PATH_MAX];
    char curl[PATH_MAX + 32], wurl[PATH_MAX + 32];
    pid_t sched;
    pid_t *workers;
    int nworkers;
    cairn_client_t *client;
    char store[1024]; /* --store-cmd's URL for this cluster: a restart keeps it */
} cluster_t;

static cluster_t *g_cluster; /* for die() */
static char **g_dirs;        /* state directories to remove at the end */
static size_t g_ndirs;

static void remove_dirs(void)
{
    for (size_t i = 0; i < g_ndirs; i++) {
        if (!g_keep)
            bench_rm_rf(g_dirs[i]);
        free(g_dirs[i]);
    }
    free(g_dirs);
    g_dirs = NULL;
    g_ndirs = 0;
}

static void cluster_kill(cluster_t *c);

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_e2e: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (g_cluster) {
        fprintf(stderr, "bench_e2e: logs kept in %s\n", g_cluster->dir);
        g_keep = true;
        cluster_kill(g_cluster);
    }
    remove_dirs();
    exit(1);
}

static pid_t spawn_daemon(const char *const *argv, const char *log)
{
    pid_t pid = bench_spawn(argv, log);
    if (pid < 0)
        die("fork: %s", strerror(errno));
    return pid;
}

static void start_scheduler(cluster_t *c)
{
    char bin[PATH_MAX + 32], log[PATH_MAX + 32];
    snprintf(bin, sizeof(bin), "%s/cairn-scheduler", g_bin);
    snprintf(log, sizeof(log), "%s/scheduler.log", c->dir);
    const char *argv[] = {bin,     "--state-dir",     c->dir, "--clients", c->curl, "--workers",
                          c->wurl, "--restart-grace", "2s",   NULL,        NULL,    NULL};
    if (!c->store[0] && fresh_store())
        snprintf(c->store, sizeof(c->store), "%s", g_store);
    if (c->store[0]) {
        argv[9] = "--store";
        argv[10] = c->store;
    }
    c->sched = spawn_daemon(argv, log);
}

static pid_t start_worker(cluster_t *c, int i, const char *topo)
{
    char bin[PATH_MAX + 32], log[PATH_MAX + 32], dir[2 * PATH_MAX + 32], name[32];
    snprintf(bin, sizeof(bin), "%s/cairn-worker", g_bin);
    snprintf(log, sizeof(log), "%s/w%d.log", c->dir, i);
    if (g_wbase[0])
        snprintf(dir, sizeof(dir), "%s/%s-w%d", g_wbase, strrchr(c->dir, '/') + 1, i);
    else
        snprintf(dir, sizeof(dir), "%s/w%d", c->dir, i);
    snprintf(name, sizeof(name), "w%d", i);
    const char *argv[16] = {bin, "--scheduler", c->wurl, "--state-dir", dir, "--name", name};
    int n = 7;
    if (topo) {
        argv[n++] = "--topology";
        argv[n++] = topo;
    }
    for (int k = 0; k < g_nworker_args; k++)
        argv[n++] = g_worker_args[k];
    argv[n] = NULL;
    return spawn_daemon(argv, log);
}

static void *call(cluster_t *c, cairn_msg_type_t type, const ProtobufCMessage *req,
                  cairn_msg_type_t want)
{
    ProtobufCMessage *rep = NULL;
    cairn_error_t err = {{0}};
    if (cairn_client_call(c->client, type, req, want, &rep, &err) < 0)
        die("%s: %s", cairn_msg_type_name(type), err.text);
    return rep;
}

static uint32_t nodes_up(cluster_t *c)
{
    Cairn__NodesRequest req = CAIRN__NODES_REQUEST__INIT;
    ProtobufCMessage *rep = NULL;
    cairn_error_t err = {{0}};
    if (cairn_client_call(c->client, CAIRN_MSG_NODES, &req.base, CAIRN_MSG_NODES_REPLY, &rep,
                          &err) < 0)
        return 0;
    Cairn__NodesReply *r = (Cairn__NodesReply *)rep;
    uint32_t up = 0;
    for (size_t i = 0; i < r->n_nodes; i++)
        up += r->nodes[i]->state == CAIRN__NODE_STATE__NODE_STATE_UP;
    cairn_msg_free(rep);
    return up;
}

static void wait_nodes(cluster_t *c, uint32_t want, int64_t timeout_ms)
{
    int64_t deadline = bench_now_ns() + timeout_ms * 1000000LL;
    while (nodes_up(c) < want) {
        if (bench_now_ns() > deadline)
            die("only %u of %u workers registered within %lld ms", nodes_up(c), want,
                (long long)timeout_ms);
        struct timespec ts = {0, 20 * 1000000L}; /* poll the condition every 20 ms */
        nanosleep(&ts, NULL);
    }
}

/* A cluster of nworkers workers: topos[i % ntopos] each, or this machine. */
static void cluster_start(cluster_t *c, int nworkers, char **topos, int ntopos)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->dir, sizeof(c->dir), "%s/cairn-bench-XXXXXX", g_base);
    if (!mkdtemp(c->dir))
        die("mkdtemp: %s", strerror(errno));
    snprintf(c->curl, sizeof(c->curl), "ipc://%s/clients.sock", c->dir);
    snprintf(c->wurl, sizeof(c->wurl), "ipc://%s/workers.sock", c->dir);
    g_cluster = c;
    start_scheduler(c);
    cairn_error_t err = {{0}};
    if (cairn_client_create(c->curl, 120000, &c->client, &err) < 0)
        die("client: %s", err.text);
    c->workers = calloc((size_t)(nworkers ? nworkers : 1), sizeof(pid_t));
    c->nworkers = nworkers;
    for (int i = 0; i < nworkers; i++)
        c->workers[i] = start_worker(c, i, ntopos ? topos[i % ntopos] : NULL);
    wait_nodes(c, (uint32_t)nworkers, 120000);
}

static void cluster_kill(cluster_t *c)
{
    if (c->client)
        cairn_client_destroy(c->client);
    c->client = NULL;
    for (int i = 0; i < c->nworkers; i++)
        if (c->workers[i] > 0)
            kill(c->workers[i], SIGTERM);
    for (int i = 0; i < c->nworkers; i++)
        bench_stop_pid(c->workers[i]);
    bench_stop_pid(c->sched);
    free(c->workers);
    c->workers = NULL;
    /* removed at the end: deleting thousands of files between workloads
     * slows the next one's file creation (ext4 skips recently freed inodes) */
    if (g_wbase[0]) {
        char wd[PATH_MAX * 2];
        snprintf(wd, sizeof(wd), "%s/%s-w", g_wbase, strrchr(c->dir, '/') + 1);
        for (int i = 0; i < 1000 && i < (c->nworkers > 0 ? c->nworkers : 1); i++) {
            char one[PATH_MAX * 2 + 16];
            snprintf(one, sizeof(one), "%s%d", wd, i);
            char **nw = realloc(g_dirs, (g_ndirs + 1) * sizeof(char *));
            if (nw && (nw[g_ndirs] = strdup(one)) != NULL)
                g_ndirs++;
            if (nw)
                g_dirs = nw;
        }
    }
    char **nd = realloc(g_dirs, (g_ndirs + 1) * sizeof(char *));
    if (nd && (nd[g_ndirs] = strdup(c->dir)) != NULL)
        g_dirs = nd, g_ndirs++;
    else if (nd)
        g_dirs = nd;
    g_cluster = NULL;
}

/* ------------------------------------------------------------ measures */

/* --threads: CPU, context switches and minor page faults summed by thread
 * name, at most TSTAT_MAX names. */
#define TSTAT_MAX 16
typedef struct tstat_set {
    bench_tstat_t *t;
    size_t n;
} tstat_set_t;

/* Adds a thread to the entry of its name (its comm). */
static void add_by_name(pid_t pid, const char *tid, void *arg)
{
    tstat_set_t *s = arg;
    char p[320], line[256], name[20] = "?";
    snprintf(p, sizeof(p), "/proc/%d/task/%s/comm", (int)pid, tid);
    FILE *f = fopen(p, "r");
    if (f) {
        if (fgets(name, sizeof(name), f))
            name[strcspn(name, "\n")] = '\0';
        fclose(f);
    }
    size_t i = 0;
    while (i < s->n && strcmp(s->t[i].name, name) != 0)
        i++;
    if (i == s->n) {
        if (s->n == TSTAT_MAX)
            return;
        memset(&s->t[i], 0, sizeof(s->t[i]));
        snprintf(s->t[i].name, sizeof(s->t[i].name), "%s", name);
        s->n++;
    }
    snprintf(p, sizeof(p), "/proc/%d/task/%s/stat", (int)pid, tid);
    if ((f = fopen(p, "r"))) {
        unsigned long flt = 0;
        char *rp = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
        /* after the name: state ppid pgrp session tty tpgid flags minflt */
        if (rp && sscanf(rp + 1, " %*c %*d %*d %*d %*d %*d %*u %lu", &flt) == 1)
            s->t[i].minflt += (double)flt;
        fclose(f);
    }
    bench_thread_sched(pid, tid, &s->t[i]);
}

static size_t tstat_take(const cluster_t *c, bench_tstat_t *t)
{
    tstat_set_t s = {.t = t, .n = 0};
    for (int i = 0; i < c->nworkers; i++)
        bench_each_thread(c->workers[i], add_by_name, &s);
    return s.n;
}

static void tstat_print(const bench_tstat_t *a, size_t na, const bench_tstat_t *b, size_t nb,
                        size_t ntasks)
{
    for (size_t i = 0; i < nb; i++) {
        bench_tstat_t d = b[i];
        for (size_t j = 0; j < na; j++)
            if (!strcmp(a[j].name, b[i].name)) {
                d.cpu_ms -= a[j].cpu_ms;
                d.vol -= a[j].vol;
                d.invol -= a[j].invol;
                d.minflt -= a[j].minflt;
            }
        if (d.cpu_ms < 0.0005 * (double)ntasks)
            continue;
        printf("    worker thread %-16s %7.1f us/task %5.2f sleeps/task %5.2f preempted/task "
               "%6.1f page faults/task\n",
               d.name, d.cpu_ms * 1000 / (double)ntasks, d.vol / (double)ntasks,
               d.invol / (double)ntasks, d.minflt / (double)ntasks);
    }
}

static int64_t workers_cpu_ns(const cluster_t *c)
{
    int64_t t = 0;
    for (int i = 0; i < c->nworkers; i++)
        t += bench_cpu_ns(c->workers[i]);
    return t;
}

/* ------------------------------------------------------------ jobs */

/* A job builder that dies when out of memory. */
static void jobb_init(bench_job_t *b, const char *name, size_t n, const char *argv0,
                      const char *arg1)
{
    if (bench_job_init(b, name, n, argv0, arg1) < 0)
        die("out of memory");
}

static void jobb_need(bench_job_t *b, size_t task, size_t on)
{
    if (bench_job_need(b, task, on) < 0)
        die("out of memory");
}

static uint64_t submit(cluster_t *c, bench_job_t *b)
{
    Cairn__SubmitRequest req = CAIRN__SUBMIT_REQUEST__INIT;
    req.job = &b->js;
    Cairn__SubmitReply *r = call(c, CAIRN_MSG_SUBMIT, &req.base, CAIRN_MSG_SUBMIT_REPLY);
    if (r->n_errors || !r->job_id)
        die("submit refused: %s", r->n_errors ? r->errors[0]->message : "no job id");
    uint64_t id = r->job_id;
    cairn_msg_free(&r->base);
    return id;
}

/* Long-poll until the job ends; returns its state. */
static Cairn__JobState wait_job(cluster_t *c, uint64_t id, uint32_t *succeeded)
{
    for (;;) {
        Cairn__JobStatusRequest req = CAIRN__JOB_STATUS_REQUEST__INIT;
        req.job_id = id;
        req.wait_ms = 60000;
        req.summary_only = true;
        Cairn__JobStatusReply *r =
            call(c, CAIRN_MSG_JOB_STATUS, &req.base, CAIRN_MSG_JOB_STATUS_REPLY);
        Cairn__JobState s = r->job->state;
        if (succeeded)
            *succeeded = r->job->tasks_succeeded;
        cairn_msg_free(&r->base);
        if (s == CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED || s == CAIRN__JOB_STATE__JOB_STATE_FAILED ||
            s == CAIRN__JOB_STATE__JOB_STATE_CANCELLED)
            return s;
    }
}

/* ------------------------------------------------------------ results */

static double g_raw_rate;

/* A row without throughput: a label and its note. */
static void note_row(const char *name, size_t tasks, double wall_s, const char *extra)
{
    printf("%-22s %8zu %9.3f %9s %6s %12s %12s  %s\n", name, tasks, wall_s, "-", "-", "-", "-",
           extra);
    fflush(stdout);
}

static void row(const char *name, size_t tasks, double wall_s, int64_t sched_ns, int64_t work_ns,
                const char *extra)
{
    double rate = wall_s > 0 ? (double)tasks / wall_s : 0;
    char frac[16] = "-";
    if (g_raw_rate > 0)
        snprintf(frac, sizeof(frac), "%.0f%%", 100.0 * rate / g_raw_rate);
    printf("%-22s %8zu %9.3f %9.0f %6s %12.1f %12.1f  %s\n", name, tasks, wall_s, rate, frac,
           tasks ? (double)sched_ns / 1e3 / (double)tasks : 0.0,
           tasks ? (double)work_ns / 1e3 / (double)tasks : 0.0, extra ? extra : "");
    fflush(stdout);
}

/* ------------------------------------------------------------ workloads */

static void bench_raw(void)
{
    size_t n = g_quick ? 400 : 3000, started = 0, done = 0;
    char *const argv[] = {"/bin/true", NULL};
    int64_t t0 = bench_now_ns();
    int running = 0;
    while (done < n) {
        while (running < 2 && started < n) {
            pid_t pid;
            if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) != 0)
                die("posix_spawn: %s", strerror(errno));
            running++;
            started++;
        }
        if (wait(NULL) > 0) {
            running--;
            done++;
        }
    }
    double wall = (double)(bench_now_ns() - t0) / 1e9;
    g_raw_rate = (double)n / wall;
    row("raw spawn (limit)", n, wall, 0, 0, "posix_spawn /bin/true, 2 in flight");
}

/* --perf-ctl: "enable" or "disable" perf record around the job labelled so */
static void perf_ctl(const char *label, const char *cmd)
{
    if (g_perf_fd < 0 || (g_perf_job && !strstr(label, g_perf_job)))
        return;
    if (write(g_perf_fd, cmd, strlen(cmd)) < 0)
        fprintf(stderr, "bench_e2e: --perf-ctl: %s\n", strerror(errno));
}

static void run_job(const char *label, cluster_t *c, bench_job_t *b, char *extra, size_t elen,
                    double *rate_out)
{
    bench_tstat_t ta[TSTAT_MAX], tb[TSTAT_MAX];
    size_t na = g_threads ? tstat_take(c, ta) : 0;
    int64_t s0 = bench_cpu_ns(c->sched), w0 = workers_cpu_ns(c);
    perf_ctl(label, "enable\n");
    int64_t t0 = bench_now_ns();
    uint64_t id = submit(c, b);
    uint32_t ok = 0;
    Cairn__JobState st = wait_job(c, id, &ok);
    int64_t t1 = bench_now_ns();
    perf_ctl(label, "disable\n");
    int64_t s1 = bench_cpu_ns(c->sched), w1 = workers_cpu_ns(c);
    if (st != CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED || ok != b->n)
        die("%s: job %llu ended in state %d with %u of %zu tasks succeeded", label,
            (unsigned long long)id, (int)st, ok, b->n);
    double wall = (double)(t1 - t0) / 1e9;
    if (rate_out)
        *rate_out = (double)b->n / wall;
    size_t used = strlen(extra);
    if (used < elen && !*extra)
        snprintf(extra, elen, "%d worker%s", c->nworkers, c->nworkers == 1 ? "" : "s");
    row(label, b->n, wall, s1 - s0, w1 - w0, extra);
    if (g_threads)
        tstat_print(ta, na, tb, tstat_take(c, tb), b->n);
}

static void bench_w1(void)
{
    cluster_t c;
    cluster_start(&c, 1, NULL, 0);
    bench_job_t b;
    jobb_init(&b, "w1", g_quick ? 100 : 1000, "/bin/true", NULL);
    char extra[128] = "";
    run_job("W1 independent", &c, &b, extra, sizeof(extra), NULL);
    bench_job_fini(&b);
    cluster_kill(&c);
}

static void bench_w2(void)
{
    cluster_t c;
    cluster_start(&c, 1, NULL, 0);
    size_t k = g_quick ? 20 : 200, n = 2 * k + 2;
    bench_job_t b;
    jobb_init(&b, "w2", n, "/bin/true", NULL);
    for (size_t i = 0; i < k; i++) {
        jobb_need(&b, 1 + i, 0);         /* train i on preprocess */
        jobb_need(&b, 1 + k + i, 1 + i); /* evaluate i on train i */
        jobb_need(&b, n - 1, 1 + k + i); /* aggregate on every evaluate */
    }
    char extra[128] = "";
    run_job("W2 DAG 1-200-200-1", &c, &b, extra, sizeof(extra), NULL);
    bench_job_fini(&b);
    cluster_kill(&c);
}

static void bench_w3(void)
{
    cluster_t c;
    cluster_start(&c, 1, NULL, 0);
    size_t n = g_quick ? 20 : 200;
    bench_job_t b;
    jobb_init(&b, "w3", n, "/bin/true", NULL);
    for (size_t i = 1; i < n; i++)
        jobb_need(&b, i, i - 1);
    char extra[128] = "";
    double rate = 0; /* the hop figure is wall / tasks */
    run_job("W3 chain", &c, &b, extra, sizeof(extra), &rate);
    printf("%-22s %8s %9s %9s %6s %12s %12s  %.3f ms per hop (task run included)\n", "", "", "", "",
           "", "", "", rate > 0 ? 1e3 / rate : 0.0);
    bench_job_fini(&b);
    cluster_kill(&c);
}

/* ------------------------------------------------------------ the user's view
 *
 * The default local cluster (`cairn up`: one worker with this machine's
 * cores), its state and the task logs in its state directory on the disk
 * of --dir, and each workload timed from outside around the CLI's own
 * `cairn submit FILE --wait`: the process, the spec's parsing and checks,
 * the submission, the wait, as a user sees it. A fresh cluster per
 * workload, as below. */

typedef struct ucluster {
    char dir[PATH_MAX];
    char cairn[PATH_MAX + 16];
    pid_t sched, worker;
} ucluster_t;

/* Run the CLI with argv (argv[0] is replaced by the cairn binary), its
 * state directory u->dir, its output appended to u->dir/cli.log; its exit
 * status, or -1. */
static int cli_run(const ucluster_t *u, const char **argv)
{
    char log[PATH_MAX + 16];
    snprintf(log, sizeof(log), "%s/cli.log", u->dir);
    argv[0] = u->cairn;
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        setenv("CAIRN_STATE_DIR", u->dir, 1);
        unsetenv("CAIRN_SCHEDULER");
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void ucluster_down(ucluster_t *u)
{
    const char *argv[] = {NULL, "down", "--state-dir", u->dir, NULL};
    if (cli_run(u, argv) != 0)
        fprintf(stderr, "bench_e2e: cairn down in %s failed\n", u->dir);
    char **nd = realloc(g_dirs, (g_ndirs + 1) * sizeof(char *));
    if (nd && (nd[g_ndirs] = strdup(u->dir)) != NULL)
        g_dirs = nd, g_ndirs++;
    else if (nd)
        g_dirs = nd;
}

static void ucluster_up(ucluster_t *u)
{
    memset(u, 0, sizeof(*u));
    snprintf(u->dir, sizeof(u->dir), "%s/cairn-user-XXXXXX", g_base);
    if (!mkdtemp(u->dir))
        die("mkdtemp: %s", strerror(errno));
    snprintf(u->cairn, sizeof(u->cairn), "%s/cairn", g_bin);
    const char *argv[] = {NULL, "up", "--state-dir", u->dir, NULL, NULL, NULL};
    const char *store = fresh_store();
    if (store) {
        argv[4] = "--store";
        argv[5] = store;
    }
    if (cli_run(u, argv) != 0)
        die("cairn up --state-dir %s failed (see cli.log there)", u->dir);
    char path[PATH_MAX + 16], line[PATH_MAX + 128], name[64];
    snprintf(path, sizeof(path), "%s/cluster.pids", u->dir);
    FILE *f = fopen(path, "r");
    int pid;
    while (f && fgets(line, sizeof(line), f)) {
        if (sscanf(line, "scheduler %d", &pid) == 1)
            u->sched = pid;
        else if (sscanf(line, "worker %63s %d", name, &pid) == 2)
            u->worker = pid;
    }
    if (f)
        fclose(f);
    if (u->sched <= 0 || u->worker <= 0)
        die("%s: no scheduler or worker", path);
}

/* Write the spec of n tasks t0..t(n-1) running /bin/true, 1 core each;
 * needs(i, k, arg) gives task i's k-th need (< 0: no more). */
static void write_spec(const char *path, const char *name, size_t n,
                       long (*needs)(size_t i, size_t k, size_t n))
{
    FILE *f = fopen(path, "w");
    if (!f)
        die("%s: %s", path, strerror(errno));
    fprintf(f, "name: %s\ndefaults:\n  resources: {cpus: 1}\ntasks:\n", name);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "  - {name: t%zu, run: [/bin/true]", i);
        for (size_t k = 0;; k++) {
            long on = needs ? needs(i, k, n) : -1;
            if (on < 0) {
                fputs(k ? "]}\n" : "}\n", f);
                break;
            }
            fprintf(f, "%st%ld", k ? ", " : ", needs: [", on);
        }
    }
    if (fclose(f) != 0)
        die("%s: %s", path, strerror(errno));
}

/* W2: t0, then k trains on it, k evaluates each on its train, one on all. */
static long w2_needs(size_t i, size_t k, size_t n)
{
    size_t half = (n - 2) / 2;
    if (i == 0)
        return -1;
    if (i <= half)
        return k == 0 ? 0 : -1;
    if (i < n - 1)
        return k == 0 ? (long)(i - half) : -1;
    return k < half ? (long)(1 + half + k) : -1;
}

/* W3: a chain. */
static long w3_needs(size_t i, size_t k, size_t n)
{
    (void)n;
    return i > 0 && k == 0 ? (long)(i - 1) : -1;
}

/* One workload on a fresh default cluster, timed around `cairn submit
 * --wait`; its tasks per second. */
static double user_job(const char *label, const char *name, size_t n,
                       long (*needs)(size_t i, size_t k, size_t n))
{
    ucluster_t u;
    ucluster_up(&u);
    char spec[PATH_MAX + 16];
    snprintf(spec, sizeof(spec), "%s/%s.yaml", u.dir, name);
    write_spec(spec, name, n, needs);
    const char *argv[] = {NULL, "submit", spec, "--wait", NULL};
    int64_t s0 = bench_cpu_ns(u.sched), w0 = bench_cpu_ns(u.worker);
    perf_ctl(label, "enable\n");
    int64_t t0 = bench_now_ns();
    int rc = cli_run(&u, argv);
    int64_t t1 = bench_now_ns();
    perf_ctl(label, "disable\n");
    int64_t s1 = bench_cpu_ns(u.sched), w1 = bench_cpu_ns(u.worker);
    if (rc != 0) {
        g_keep = true;
        die("%s: cairn submit %s --wait exited %d (see %s/cli.log)", label, spec, rc, u.dir);
    }
    double wall = (double)(t1 - t0) / 1e9;
    row(label, n, wall, s1 - s0, w1 - w0, "cairn submit --wait");
    ucluster_down(&u);
    return (double)n / wall;
}

static void bench_user(void)
{
    printf("\nThe user's view: `cairn up` (one worker, this machine's cores), state and task logs\n"
           "in its state directory under %s, each workload timed around\n"
           "`cairn submit FILE --wait` (a fresh cluster each)\n",
           g_base);
    printf("%-22s %8s %9s %9s %6s %12s %12s  %s\n", "workload", "tasks", "wall s", "tasks/s",
           "%raw", "sched us/t", "worker us/t", "notes");
    size_t k = g_quick ? 20 : 200;
    double w1 = user_job("W1 independent", "w1", g_quick ? 100 : 1000, NULL);
    double w2 = user_job("W2 DAG 1-200-200-1", "w2", 2 * k + 2, w2_needs);
    double w3 = user_job("W3 chain", "w3", k, w3_needs);
    double hop = w3 > 0 ? 1e3 / w3 : 0.0, frac = g_raw_rate > 0 ? 100.0 * w1 / g_raw_rate : 0;
    printf("%-22s %8s %9s %9s %6s %12s %12s  %.3f ms per hop (task run included)\n", "", "", "", "",
           "", "", "", hop);
    printf("targets: W1 %.0f tasks/s, %.0f%% of raw (>= 75%%: %s); W2 %.0f tasks/s (>= 1,500: %s); "
           "W3 %.3f ms per hop (<= 1.5: %s)\n",
           w1, frac, frac >= 75 ? "met" : "not met", w2, w2 >= 1500 ? "met" : "not met", hop,
           hop <= 1.5 ? "met" : "not met");
    fflush(stdout);
}

/* Open a FIFO for stamps (read side, kept open read-write so no EOF). */
static int stamp_fifo(const cluster_t *c, char *path, size_t len)
{
    snprintf(path, len, "%s/stamps", c->dir);
    if (mkfifo(path, 0600) < 0)
        die("mkfifo %s: %s", path, strerror(errno));
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        die("open %s: %s", path, strerror(errno));
    return fd;
}

/* Next stamp (ns) from fd, or -1 after timeout_ms. */
static int64_t read_stamp(int fd, int timeout_ms, uint64_t *attempt)
{
    static char buf[4096];
    static size_t have;
    int64_t deadline = bench_now_ns() + (int64_t)timeout_ms * 1000000LL;
    for (;;) {
        char *nl = memchr(buf, '\n', have);
        if (nl) {
            long long ts = 0;
            unsigned long long a = 0;
            *nl = '\0';
            sscanf(buf, "%lld %llu", &ts, &a);
            size_t used = (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, have - used);
            have -= used;
            if (attempt)
                *attempt = a;
            return ts;
        }
        int64_t left = (deadline - bench_now_ns()) / 1000000LL;
        if (left < 0)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        ssize_t r = read(fd, buf + have, sizeof(buf) - have);
        if (r > 0)
            have += (size_t)r;
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void stamp_bin(char *buf, size_t len)
{
    snprintf(buf, len, "%s/../tests/bench/bench_stamp", g_bin);
}

static void bench_latency(void)
{
    cluster_t c;
    cluster_start(&c, 1, NULL, 0);
    char fifo[PATH_MAX + 16], stamp[PATH_MAX + 32];
    int fd = stamp_fifo(&c, fifo, sizeof(fifo));
    stamp_bin(stamp, sizeof(stamp));
    size_t n = g_quick ? 50 : 1000;
    int64_t *lat = calloc(n, sizeof(int64_t));
    int64_t s0 = bench_cpu_ns(c.sched), w0 = workers_cpu_ns(&c), t0 = bench_now_ns();
    for (size_t i = 0; i < n; i++) {
        bench_job_t b;
        jobb_init(&b, "lat", 1, stamp, fifo);
        int64_t sub = bench_now_ns();
        uint64_t id = submit(&c, &b);
        int64_t ts = read_stamp(fd, 10000, NULL);
        if (ts < 0)
            die("latency: no task start within 10 s of submission %zu", i);
        lat[i] = ts - sub;
        if (wait_job(&c, id, NULL) != CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED)
            die("latency: job %llu failed", (unsigned long long)id);
        bench_job_fini(&b);
    }
    double wall = (double)(bench_now_ns() - t0) / 1e9;
    int64_t s1 = bench_cpu_ns(c.sched), w1 = workers_cpu_ns(&c);
    qsort(lat, n, sizeof(int64_t), cmp_i64);
    char extra[160];
    snprintf(extra, sizeof(extra), "submit->start p50 %.3f ms, p99 %.3f ms, max %.3f ms",
             (double)lat[n / 2] / 1e6, (double)lat[(n * 99) / 100] / 1e6, (double)lat[n - 1] / 1e6);
    row("latency (1-task jobs)", n, wall, s1 - s0, w1 - w0, extra);
    free(lat);
    close(fd);
    cluster_kill(&c);
}

static void bench_big(void)
{
    cluster_t c;
    cluster_start(&c, 0, NULL, 0);
    char fifo[PATH_MAX + 16], stamp[PATH_MAX + 32];
    int fd = stamp_fifo(&c, fifo, sizeof(fifo));
    stamp_bin(stamp, sizeof(stamp));
    size_t n = g_quick ? 10000 : 100000;
    bench_job_t b;
    jobb_init(&b, "big", n, stamp, fifo);
    long rss0 = bench_rss_kib(c.sched, "VmRSS");
    int64_t t0 = bench_now_ns();
    uint64_t id = submit(&c, &b);
    double ack = (double)(bench_now_ns() - t0) / 1e9;
    long rss = bench_rss_kib(c.sched, "VmRSS"), hwm = bench_rss_kib(c.sched, "VmHWM");
    bench_job_fini(&b);
    /* a worker dispatches a few; then the scheduler dies (kill -9) */
    c.workers = realloc(c.workers, sizeof(pid_t));
    c.workers[0] = start_worker(&c, 0, NULL);
    c.nworkers = 1;
    if (read_stamp(fd, 30000, NULL) < 0)
        die("big: no task started within 30 s");
    kill(c.sched, SIGKILL);
    bench_wait_exit(c.sched, 5000);
    /* let the tasks assigned before the kill start and end (each is a
     * stamp): the next stamp after the restart is a new dispatch */
    while (read_stamp(fd, 300, NULL) >= 0)
        ;
    int64_t r0 = bench_now_ns();
    start_scheduler(&c);
    int64_t ts = read_stamp(fd, 60000, NULL);
    if (ts < 0)
        die("big: no dispatch within 60 s of the restart");
    double resume = (double)(ts - r0) / 1e9;
    Cairn__CancelRequest cr = CAIRN__CANCEL_REQUEST__INIT;
    cr.job_id = id;
    cairn_msg_free(call(&c, CAIRN_MSG_CANCEL, &cr.base, CAIRN_MSG_CANCEL_REPLY));
    char extra[200];
    snprintf(extra, sizeof(extra),
             "ack %.3f s; sched RSS queued %.1f MB (+%.1f, peak %.1f); restart->dispatch %.3f s",
             ack, (double)rss / 1024, (double)(rss - rss0) / 1024, (double)hwm / 1024, resume);
    note_row("big job (queued)", n, ack, extra);
    close(fd);
    cluster_kill(&c);
}

/* A 1-core, 1-PU topology bound to PU os_index pu, 2 GiB. */
static void write_tiny_topology(const char *path, int pu)
{
    FILE *f = fopen(path, "w");
    if (!f)
        die("%s: %s", path, strerror(errno));
    unsigned mask = 1u << pu;
    fprintf(
        f,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<!DOCTYPE topology SYSTEM \"hwloc2.dtd\">\n"
        "<topology version=\"2.0\">\n"
        "  <object type=\"Machine\" os_index=\"0\" cpuset=\"0x%08x\" complete_cpuset=\"0x%08x\" "
        "allowed_cpuset=\"0x%08x\" nodeset=\"0x00000001\" complete_nodeset=\"0x00000001\" "
        "allowed_nodeset=\"0x00000001\" gp_index=\"1\">\n"
        "    <object type=\"NUMANode\" os_index=\"0\" cpuset=\"0x%08x\" complete_cpuset=\"0x%08x\" "
        "nodeset=\"0x00000001\" complete_nodeset=\"0x00000001\" gp_index=\"2\" "
        "local_memory=\"2147483648\"/>\n"
        "    <object type=\"Package\" os_index=\"0\" cpuset=\"0x%08x\" complete_cpuset=\"0x%08x\" "
        "nodeset=\"0x00000001\" complete_nodeset=\"0x00000001\" gp_index=\"3\">\n"
        "      <object type=\"Core\" os_index=\"0\" cpuset=\"0x%08x\" complete_cpuset=\"0x%08x\" "
        "nodeset=\"0x00000001\" complete_nodeset=\"0x00000001\" gp_index=\"4\">\n"
        "        <object type=\"PU\" os_index=\"%d\" cpuset=\"0x%08x\" complete_cpuset=\"0x%08x\" "
        "nodeset=\"0x00000001\" complete_nodeset=\"0x00000001\" gp_index=\"5\"/>\n"
        "      </object>\n"
        "    </object>\n"
        "  </object>\n"
        "</topology>\n",
        mask, mask, mask, mask, mask, mask, mask, mask, mask, pu, mask, mask);
    fclose(f);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void bench_nodes(void)
{
    int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
        ncpu = 1;
    if (ncpu > 32)
        ncpu = 32;
    char tdir[PATH_MAX + 32];
    snprintf(tdir, sizeof(tdir), "%s/cairn-bench-topo-XXXXXX", g_base);
    if (!mkdtemp(tdir))
        die("mkdtemp: %s", strerror(errno));
    char **topos = calloc((size_t)ncpu, sizeof(char *));
    for (int i = 0; i < ncpu; i++) {
        if (asprintf(&topos[i], "%s/pu%d.xml", tdir, i) < 0)
            die("out of memory");
        write_tiny_topology(topos[i], i);
    }
    size_t ntasks = g_quick ? 100 : 1000;
    int many = g_quick ? 50 : 500;
    double ratios[64];
    cluster_t c;
    bench_job_t b;
    jobb_init(&b, "w1", ntasks, "/bin/true", NULL);
    char extra[160] = "";
    for (int k = 0; k < g_pairs; k++) {
        double rate2 = 0, rate_many = 0;
        cluster_start(&c, 2, topos, ncpu);
        extra[0] = '\0';
        run_job("W1 on 2 1-core nodes", &c, &b, extra, sizeof(extra), &rate2);
        cluster_kill(&c);

        int64_t t0 = bench_now_ns();
        cluster_start(&c, many, topos, ncpu);
        double up = (double)(bench_now_ns() - t0) / 1e9;
        if (k == 0) {
            /* idle: every worker heartbeating (1 s interval), nothing to run */
            int64_t s0 = bench_cpu_ns(c.sched), i0 = bench_now_ns();
            struct timespec ts = {g_quick ? 2 : 5, 0};
            nanosleep(&ts, NULL); /* a measurement window, not a synchronisation */
            double idle_s = (double)(bench_now_ns() - i0) / 1e9;
            double idle_pct = 100.0 * (double)(bench_cpu_ns(c.sched) - s0) / 1e9 / idle_s;
            long rss = bench_rss_kib(c.sched, "VmRSS");
            snprintf(extra, sizeof(extra),
                     "%d workers (up in %.1f s); idle scheduler %.2f%% of a core, RSS %.1f MB",
                     many, up, idle_pct, (double)rss / 1024);
            note_row("nodes: idle", 0, idle_s, extra);
        }
        snprintf(extra, sizeof(extra), "%d workers", many);
        run_job("W1 on many nodes", &c, &b, extra, sizeof(extra), &rate_many);
        ratios[k] = rate2 > 0 ? 100.0 * rate_many / rate2 : 0.0;
        printf("%-22s %8s %9s %9s %6s %12s %12s  %d workers: %.0f%% of the 2-worker throughput\n",
               "", "", "", "", "", "", "", many, ratios[k]);
        cluster_kill(&c);
    }
    if (g_pairs > 1) {
        qsort(ratios, (size_t)g_pairs, sizeof(double), cmp_double);
        double med =
            g_pairs % 2 ? ratios[g_pairs / 2] : (ratios[g_pairs / 2 - 1] + ratios[g_pairs / 2]) / 2;
        printf("%-22s %8s %9s %9s %6s %12s %12s  %d pairs: median %.0f%% (%.0f-%.0f%%)\n", "", "",
               "", "", "", "", "", g_pairs, med, ratios[0], ratios[g_pairs - 1]);
    }
    bench_job_fini(&b);
    for (int i = 0; i < ncpu; i++) {
        unlink(topos[i]);
        free(topos[i]);
    }
    free(topos);
    rmdir(tdir);
}

/* ------------------------------------------------------------ main */

static bool wanted(const char *only, const char *name)
{
    if (!only)
        return true;
    size_t n = strlen(name);
    for (const char *p = only; (p = strstr(p, name)); p += n)
        if ((p == only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"bin", required_argument, NULL, 'b'},
        {"only", required_argument, NULL, 'o'},
        {"dir", required_argument, NULL, 'd'},
        {"worker-dir", required_argument, NULL, 'w'},
        {"quick", no_argument, NULL, 'q'},
        {"keep", no_argument, NULL, 'k'},
        {"threads", no_argument, NULL, 't'},
        {"worker-arg", required_argument, NULL, 'a'},
        {"store-cmd", required_argument, NULL, 'S'},
        {"pairs", required_argument, NULL, 'p'},
        {"perf-ctl", required_argument, NULL, 'c'},
        {"perf-job", required_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *only = NULL;
    int ch;
    snprintf(g_bin, sizeof(g_bin), "%s", CAIRN_BIN_DIR);
    snprintf(g_base, sizeof(g_base), "%s/../bench-state", CAIRN_BIN_DIR);
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'b':
            snprintf(g_bin, sizeof(g_bin), "%s", optarg);
            break;
        case 'o':
            only = optarg;
            break;
        case 'c':
            if ((g_perf_fd = open(optarg, O_WRONLY | O_CLOEXEC)) < 0) {
                fprintf(stderr, "bench_e2e: --perf-ctl %s: %s\n", optarg, strerror(errno));
                return 2;
            }
            break;
        case 'j':
            g_perf_job = optarg;
            break;
        case 'd':
            snprintf(g_base, sizeof(g_base), "%s", optarg);
            break;
        case 'w':
            snprintf(g_wbase, sizeof(g_wbase), "%s", optarg);
            break;
        case 'q':
            g_quick = true;
            break;
        case 'a':
            if (g_nworker_args == (int)(sizeof(g_worker_args) / sizeof(g_worker_args[0]))) {
                fprintf(stderr, "bench_e2e: too many --worker-arg\n");
                return 2;
            }
            g_worker_args[g_nworker_args++] = optarg;
            break;
        case 'S':
            g_store_cmd = optarg;
            break;
        case 'k':
            g_keep = true;
            break;
        case 't':
            g_threads = true;
            break;
        case 'p': {
            char *end = NULL;
            long v = strtol(optarg, &end, 10);
            if (!end || *end || v < 1 || v > 64) {
                fprintf(stderr, "bench_e2e: --pairs wants a number from 1 to 64, not '%s'\n",
                        optarg);
                return 2;
            }
            g_pairs = (int)v;
            break;
        }
        case 'h':
            printf("Usage: bench_e2e [--bin DIR] [--dir DIR] "
                   "[--only raw,user,w1,w2,w3,latency,big,nodes] [--quick] [--keep]\n"
                   "       [--threads] [--pairs N] [--worker-arg ARG]...\n"
                   "  --dir DIR  where the clusters' state goes (default: BUILD/bench-state);\n"
                   "             it must be a real disk for the journal's fsync to count\n"
                   "  --worker-dir DIR  the workers' state (task logs) there instead, but for\n"
                   "             the user's view (user), whose state is all under --dir\n"
                   "  --threads  after each job, the workers' CPU and switches per thread name\n"
                   "  --pairs N  nodes: N runs of W1 on 2 workers then on many, alternately,\n"
                   "             each on a fresh cluster; prints the median ratio\n"
                   "  --worker-arg ARG  pass ARG to every cairn-worker (e.g. --report-hold=0)\n"
                   "  --perf-ctl FIFO  enable perf record around each timed job, disable after\n"
                   "             (perf record --control=fifo:FIFO -D -1 -a ...)\n"
                   "  --perf-job TEXT  only around the jobs whose label holds TEXT\n");
            return 0;
        default:
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    setenv("CAIRN_ALLOW_ROOT_TASKS", "1", 1); /* tasks run as whoever runs the bench */
    if (mkdir(g_base, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "bench_e2e: %s: %s\n", g_base, strerror(errno));
        return 1;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct utsname u;
    uname(&u);
    char date[64];
    time_t now = time(NULL);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime(&now));
    printf("bench_e2e %s on %s (%s %s), %ld CPUs%s\n", date, u.nodename, u.sysname, u.release,
           sysconf(_SC_NPROCESSORS_ONLN), g_quick ? ", --quick sizes" : "");
    printf("%-22s %8s %9s %9s %6s %12s %12s  %s\n", "workload", "tasks", "wall s", "tasks/s",
           "%raw", "sched us/t", "worker us/t", "notes");
    bench_raw(); /* always: the fractions need it */
    if (wanted(only, "user"))
        bench_user();
    static const char *const own[] = {"w1", "w2", "w3", "latency", "big", "nodes"};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        if (wanted(only, own[i])) {
            printf(
                "\nThe daemons' own view: cairn-scheduler and cairn-worker started by the bench,\n"
                "driven through the client library; state in %s%s%s\n",
                g_base, g_wbase[0] ? ", worker state in " : "", g_wbase);
            printf("%-22s %8s %9s %9s %6s %12s %12s  %s\n", "workload", "tasks", "wall s",
                   "tasks/s", "%raw", "sched us/t", "worker us/t", "notes");
            break;
        }
    if (wanted(only, "w1"))
        bench_w1();
    if (wanted(only, "w2"))
        bench_w2();
    if (wanted(only, "w3"))
        bench_w3();
    if (wanted(only, "latency"))
        bench_latency();
    if (wanted(only, "big"))
        bench_big();
    if (wanted(only, "nodes"))
        bench_nodes();
    remove_dirs();
    return 0;
}
