/* bench_nodes: the scheduler with many nodes. A real cairn-scheduler
 * process (state on disk, the journal durable) and many simulated nodes
 * that speak the real protocol (bench_nodes_sim.h: each node its own pair1
 * socket, dialer and link as the worker has them, its Register built from
 * a topology fixture, heartbeats at the scheduler's interval, resource
 * reports, task events with sequence numbers resent until acknowledged).
 * Tasks run for --duration-ms without a process. Prints figures; asserts
 * nothing about speed.
 *
 *   bench_nodes [--nodes LIST] [--tasks N] [--latency N] [--idle S]
 *               [--duration-ms MS] [--per-shard N] [--ramp N] [--topology FILE]...
 *               [--sched-arg ARG]... [--bin DIR] [--dir DIR] [--keep] [--quick]
 *               [--sim-log] [--ipc] [--no-join-key]
 *               [--perf-ctl FIFO [--perf-phase idle|latency|big]]
 *               [--only LIST] [--store-cmd CMD] [--lease D] [--takeover-tasks N]
 *
 * The nodes dial tcp://127.0.0.1 (--ipc: a Unix socket) and join with a
 * join key the bench writes for the run (--no-join-key: none), answering
 * the scheduler's challenge as the worker does.
 *
 * For each node count in LIST (default 1000,5000,10000), on a fresh
 * scheduler:
 *   up       the nodes dial and register, --ramp shards at a time
 *            (default 4, 1,000 nodes: 10,000 at once on 2 cores starve the
 *            scheduler past the links' register timeout); time until the
 *            scheduler lists all of them up
 *   idle     after a 3 s pause, --idle seconds (default 10) of nothing but
 *            heartbeats and reports: the scheduler's CPU (% of one core, all
 *            its threads) and RSS; the simulators' CPU
 *   latency  --latency (default 1,000) one-task jobs, one after the other:
 *            from just before the SubmitRequest goes to the AssignTask
 *            arriving at the simulated node (its link decoded it)
 *   big      one job of --tasks (default 100,000) tasks of one core, each
 *            running --duration-ms (default 0: it ends at once): the time to
 *            its durable acknowledgement, and to its end (tasks per second,
 *            placement-bound when tasks are instant); the scheduler's CPU
 *            per task, its RSS after and at its peak
 *
 * --only picks among these and takeover (default: all). takeover, for each
 * node count in --nodes (default 500), needs --store-cmd (a command that
 * prints a fresh store URL, e.g. 'sh tests/bench/pg_fresh.sh DIR';
 * tests/bench/takeover.sh starts a throwaway PostgreSQL server for it) and
 * is skipped without: scheduler A leads (--store, --name A, --lease, 3s by
 * default), B stands by, the nodes get both worker endpoints ("A,B") and
 * register with A; A runs a job of --takeover-tasks (default 5,000;
 * 0: none) and is killed (SIGKILL) once half its tasks were assigned. From
 * the kill: when B's log says it leads (polled every 10 ms), when every
 * node registered again (with B), when B answers a NodesRequest listing
 * all of them up (a client of B's endpoint alone), and when the job ended
 * (all its tasks succeeded, through B).
 *
 * The simulated nodes run in shard processes of --per-shard (default 250)
 * nodes. Not more: a link without a connection checks its dialer once a
 * second through nng_stats_get (proto/redial.c), which copies the
 * statistics of every socket in the process, so a shard's cost before its
 * nodes connect grows with the square of its nodes (2,500 nodes a shard
 * spent all their CPU there and never registered 10,000). Each node holds
 * five descriptors (its connection and nng's two pollable pipes); a shard
 * raises its RLIMIT_NOFILE to the hard limit. Shards are this program run
 * again (--shard), not forks: the parent's nng threads do not survive a
 * fork. */

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_job.h"
#include "bench_nodes_sim.h"
#include "bench_proc.h"
#include "cluster/client.h"
#include "proto/envelope.h"
#include "proto/join.h"

#define MAX_TOPOS 32
#define MAX_SIZES 16
#define MAX_SCHED_ARGS 16

static char g_bin[PATH_MAX];
static char g_base[PATH_MAX - 64];
static char *g_topos[MAX_TOPOS];
static size_t g_ntopos;
static const char *g_sched_args[MAX_SCHED_ARGS];
static int g_nsched_args;
static uint32_t g_sizes[MAX_SIZES];
static size_t g_nsizes;
static uint32_t g_tsizes[MAX_SIZES] = {500}; /* the takeover's node counts */
static size_t g_ntsizes = 1;
static const char *g_only;      /* --only: the workloads to run (NULL: all) */
static const char *g_store_cmd; /* --store-cmd: prints a fresh store URL per run */
static const char *g_lease = "3s";
static size_t g_ttasks = 5000; /* the takeover's busy job (0: idle) */
static size_t g_tasks = 100000, g_latency = 1000;
static int g_idle_s = 10;
static uint32_t g_duration_ms, g_per_shard = 250, g_ramp = 4;
static bool g_keep, g_sim_log, g_ipc, g_no_key;
static int g_perf_fd = -1;
static const char *g_perf_phase;

/* One run: the scheduler, its client, the shards and what they share. */
typedef struct run {
    char dir[PATH_MAX];
    char curl[PATH_MAX + 32], wurl[2 * PATH_MAX + 80], key[PATH_MAX + 32];
    pid_t sched;
    pid_t standby; /* takeover: scheduler B */
    cairn_client_t *client;
    pid_t *shards;
    size_t nshards;
    sim_counts_t *counts;
    size_t counts_len;
    int stamp_rd;
} run_t;

static run_t *g_run; /* for die() */

static void run_stop(run_t *r);

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_nodes: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (g_run) {
        fprintf(stderr, "bench_nodes: logs kept in %s\n", g_run->dir);
        g_keep = true;
        run_stop(g_run);
    }
    exit(1);
}

static void perf_ctl(const char *phase, const char *cmd)
{
    if (g_perf_fd < 0 || (g_perf_phase && strcmp(phase, g_perf_phase)))
        return;
    if (write(g_perf_fd, cmd, strlen(cmd)) < 0)
        fprintf(stderr, "bench_nodes: --perf-ctl: %s\n", strerror(errno));
}

/* ------------------------------------------------------------ the scheduler */

static void *call(run_t *r, cairn_msg_type_t type, const ProtobufCMessage *req,
                  cairn_msg_type_t want)
{
    ProtobufCMessage *rep = NULL;
    cairn_error_t err = {{0}};
    if (cairn_client_call(r->client, type, req, want, &rep, &err) < 0)
        die("%s: %s", cairn_msg_type_name(type), err.text);
    return rep;
}

static uint32_t nodes_up(run_t *r)
{
    Cairn__NodesRequest req = CAIRN__NODES_REQUEST__INIT;
    Cairn__NodesReply *rep = call(r, CAIRN_MSG_NODES, &req.base, CAIRN_MSG_NODES_REPLY);
    uint32_t up = 0;
    for (size_t i = 0; i < rep->n_nodes; i++)
        up += rep->nodes[i]->state == CAIRN__NODE_STATE__NODE_STATE_UP;
    cairn_msg_free(&rep->base);
    return up;
}

static uint64_t submit(run_t *r, bench_job_t *b)
{
    Cairn__SubmitRequest req = CAIRN__SUBMIT_REQUEST__INIT;
    req.job = &b->js;
    Cairn__SubmitReply *rep = call(r, CAIRN_MSG_SUBMIT, &req.base, CAIRN_MSG_SUBMIT_REPLY);
    if (rep->n_errors || !rep->job_id)
        die("submit refused: %s", rep->n_errors ? rep->errors[0]->message : "no job id");
    uint64_t id = rep->job_id;
    cairn_msg_free(&rep->base);
    return id;
}

/* Long-poll until the job ends: its tasks succeeded. */
static uint32_t wait_job(run_t *r, uint64_t id)
{
    for (;;) {
        Cairn__JobStatusRequest req = CAIRN__JOB_STATUS_REQUEST__INIT;
        req.job_id = id;
        req.wait_ms = 60000;
        req.summary_only = true;
        Cairn__JobStatusReply *rep =
            call(r, CAIRN_MSG_JOB_STATUS, &req.base, CAIRN_MSG_JOB_STATUS_REPLY);
        Cairn__JobState s = rep->job->state;
        uint32_t ok = rep->job->tasks_succeeded;
        cairn_msg_free(&rep->base);
        if (s == CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED)
            return ok;
        if (s == CAIRN__JOB_STATE__JOB_STATE_FAILED || s == CAIRN__JOB_STATE__JOB_STATE_CANCELLED)
            die("job %llu ended in state %d", (unsigned long long)id, (int)s);
    }
}

/* ------------------------------------------------------------ shards */

static uint64_t counts_sum(const run_t *r, size_t field)
{
    uint64_t t = 0;
    for (size_t i = 0; i < r->nshards; i++) {
        const _Atomic uint64_t *v = (const _Atomic uint64_t *)((const char *)&r->counts[i] + field);
        t += atomic_load(v);
    }
    return t;
}

static void set_stamping(run_t *r, int on)
{
    for (size_t i = 0; i < r->nshards; i++)
        atomic_store(&r->counts[i].stamping, on);
}

static void check_shards(run_t *r)
{
    for (size_t i = 0; i < r->nshards; i++) {
        int st;
        if (atomic_load(&r->counts[i].failed))
            die("shard %zu could not start (its message is above)", i);
        if (r->shards[i] > 0 && waitpid(r->shards[i], &st, WNOHANG) == r->shards[i]) {
            r->shards[i] = 0;
            die("shard %zu exited (status %d)", i, st);
        }
    }
}

static int64_t shards_cpu_ns(const run_t *r)
{
    int64_t t = 0;
    for (size_t i = 0; i < r->nshards; i++)
        t += bench_cpu_ns(r->shards[i]);
    return t;
}

/* Shard i: nodes [first, first + count), this program run again. */
static pid_t start_shard(run_t *r, size_t i, uint32_t first, uint32_t count, int counts_fd,
                         int stamp_wr)
{
    char self[PATH_MAX], a_first[16], a_count[16], a_dur[16], a_sfd[16], a_cfd[16], a_idx[24],
        log[PATH_MAX + 32], out[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n < 0)
        die("/proc/self/exe: %s", strerror(errno));
    self[n] = '\0';
    snprintf(a_first, sizeof(a_first), "%u", first);
    snprintf(a_count, sizeof(a_count), "%u", count);
    snprintf(a_dur, sizeof(a_dur), "%u", g_duration_ms);
    snprintf(a_sfd, sizeof(a_sfd), "%d", stamp_wr);
    snprintf(a_cfd, sizeof(a_cfd), "%d", counts_fd);
    snprintf(a_idx, sizeof(a_idx), "%zu", i);
    snprintf(log, sizeof(log), "%s/shard%zu.log", r->dir, i);
    snprintf(out, sizeof(out), "%s/shard%zu.out", r->dir, i);
    const char *argv[16 + MAX_TOPOS] = {self,
                                        "--shard",
                                        r->wurl,
                                        a_first,
                                        a_count,
                                        a_dur,
                                        a_sfd,
                                        a_cfd,
                                        a_idx,
                                        g_sim_log ? log : "-",
                                        g_no_key ? "-" : r->key};
    int k = 11;
    for (size_t t = 0; t < g_ntopos; t++)
        argv[k++] = g_topos[t];
    argv[k] = NULL;
    pid_t pid = bench_spawn(argv, out);
    if (pid < 0)
        die("fork: %s", strerror(errno));
    return pid;
}

/* Wait until want nodes registered (as the shards count). */
static void wait_joined(run_t *r, uint32_t want)
{
    int64_t deadline = bench_now_ns() + 600 * 1000000000LL;
    while (counts_sum(r, offsetof(sim_counts_t, registered)) < want) {
        check_shards(r);
        if (bench_now_ns() > deadline)
            die("only %llu of %u nodes registered within 600 s",
                (unsigned long long)counts_sum(r, offsetof(sim_counts_t, registered)), want);
        struct timespec ts = {0, 20 * 1000000L}; /* polls the condition */
        nanosleep(&ts, NULL);
    }
}

/* The shards start --ramp at a time: each waits until the nodes of all
 * but the last --ramp shards registered. */
static void start_shards(run_t *r, uint32_t nodes)
{
    r->nshards = (nodes + g_per_shard - 1) / g_per_shard;
    r->counts_len = r->nshards * sizeof(sim_counts_t);
    int cfd = memfd_create("bench_nodes", 0); /* inherited: shards map it */
    if (cfd < 0 || ftruncate(cfd, (off_t)r->counts_len) < 0)
        die("memfd: %s", strerror(errno));
    r->counts = mmap(NULL, r->counts_len, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0);
    if (r->counts == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    int p[2];
    if (pipe2(p, O_NONBLOCK) < 0)
        die("pipe: %s", strerror(errno));
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    r->stamp_rd = p[0];
    r->shards = calloc(r->nshards, sizeof(pid_t));
    if (!r->shards)
        die("out of memory");
    for (size_t i = 0; i < r->nshards; i++) {
        uint32_t first = (uint32_t)i * g_per_shard;
        uint32_t count = nodes - first < g_per_shard ? nodes - first : g_per_shard;
        wait_joined(r, i < g_ramp ? 0 : (uint32_t)(i - g_ramp) * g_per_shard + g_per_shard);
        r->shards[i] = start_shard(r, i, first, count, cfd, p[1]);
    }
    close(p[1]);
    close(cfd);
}

/* ------------------------------------------------------------ a run */

/* A free loopback TCP port for the workers' endpoint (the scheduler binds
 * it a moment later). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        die("a free port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

/* The cluster's join key: 32 random bytes as hex, mode 600. */
static void write_key(run_t *r)
{
    uint8_t raw[32];
    char hex[2 * sizeof(raw) + 2];
    if (cairn_join_random(raw, sizeof(raw)) < 0)
        die("getrandom: %s", strerror(errno));
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    snprintf(r->key, sizeof(r->key), "%s/join.key", r->dir);
    int fd = open(r->key, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, hex, 2 * sizeof(raw)) != (ssize_t)(2 * sizeof(raw)) || close(fd) < 0)
        die("%s: %s", r->key, strerror(errno));
}

/* The endpoints of a scheduler whose state dir is dir: clients on a Unix
 * socket, workers on tcp://127.0.0.1 (ipc: a Unix socket). */
static void sched_urls(const char *dir, bool ipc, char *curl, size_t clen, char *wurl, size_t wlen)
{
    snprintf(curl, clen, "ipc://%s/clients.sock", dir);
    if (ipc)
        snprintf(wurl, wlen, "ipc://%s/workers.sock", dir);
    else
        snprintf(wurl, wlen, "tcp://127.0.0.1:%d", free_port());
}

/* Start cairn-scheduler on state dir sdir, its output in log; extra (NULL
 * ends it, up to 8) before the --sched-arg arguments. */
static pid_t start_sched(run_t *r, const char *sdir, const char *curl, const char *wurl,
                         const char *log, const char *const *extra)
{
    char bin[PATH_MAX + 32];
    snprintf(bin, sizeof(bin), "%s/cairn-scheduler", g_bin);
    const char *argv[24 + MAX_SCHED_ARGS] = {bin,  "--state-dir", sdir, "--clients",
                                             curl, "--workers",   wurl};
    int k = 7;
    if (!g_no_key) {
        argv[k++] = "--join-key";
        argv[k++] = r->key;
    }
    for (int i = 0; extra && extra[i] && i < 8; i++)
        argv[k++] = extra[i];
    for (int i = 0; i < g_nsched_args; i++)
        argv[k++] = g_sched_args[i];
    argv[k] = NULL;
    pid_t pid = bench_spawn(argv, log);
    if (pid < 0)
        die("fork: %s", strerror(errno));
    return pid;
}

/* A fresh run directory (with its join key) for r. */
static void run_dir(run_t *r)
{
    memset(r, 0, sizeof(*r));
    r->stamp_rd = -1;
    snprintf(r->dir, sizeof(r->dir), "%s/cairn-nodes-XXXXXX", g_base);
    if (!mkdtemp(r->dir))
        die("mkdtemp: %s", strerror(errno));
    g_run = r;
    if (!g_no_key)
        write_key(r);
}

static void run_start(run_t *r, uint32_t nodes)
{
    run_dir(r);
    sched_urls(r->dir, g_ipc, r->curl, sizeof(r->curl), r->wurl, sizeof(r->wurl));
    char log[PATH_MAX + 32];
    snprintf(log, sizeof(log), "%s/scheduler.log", r->dir);
    r->sched = start_sched(r, r->dir, r->curl, r->wurl, log, NULL);
    cairn_error_t err = {{0}};
    if (cairn_client_create(r->curl, 120000, &r->client, &err) < 0)
        die("client: %s", err.text);
    start_shards(r, nodes);
}

static void run_stop(run_t *r)
{
    for (size_t i = 0; i < r->nshards; i++)
        if (r->shards && r->shards[i] > 0)
            kill(r->shards[i], SIGTERM);
    for (size_t i = 0; i < r->nshards; i++)
        if (r->shards && r->shards[i] > 0)
            bench_stop_pid(r->shards[i]);
    if (r->client)
        cairn_client_destroy(r->client);
    r->client = NULL;
    bench_stop_pid(r->sched);
    bench_stop_pid(r->standby);
    free(r->shards);
    r->shards = NULL;
    if (r->counts && r->counts != MAP_FAILED)
        munmap(r->counts, r->counts_len);
    r->counts = NULL;
    if (r->stamp_rd >= 0)
        close(r->stamp_rd);
    r->stamp_rd = -1;
    if (!g_keep)
        bench_rm_rf(r->dir);
    g_run = NULL;
}

/* Wait until every node registered (as the shards count) and the
 * scheduler lists them all up. */
static double wait_up(run_t *r, uint32_t nodes, int64_t t0)
{
    int64_t deadline = t0 + 600 * 1000000000LL;
    wait_joined(r, nodes);
    uint32_t up;
    while ((up = nodes_up(r)) < nodes) {
        if (bench_now_ns() > deadline)
            die("the scheduler lists %u of %u nodes up after 600 s", up, nodes);
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return (double)(bench_now_ns() - t0) / 1e9;
}

/* The next assignment stamp of job id, within timeout_ms: its time, or -1. */
static int64_t read_stamp(run_t *r, uint64_t id, int timeout_ms)
{
    int64_t deadline = bench_now_ns() + (int64_t)timeout_ms * 1000000LL;
    for (;;) {
        sim_stamp_t s;
        ssize_t n = read(r->stamp_rd, &s, sizeof(s));
        if (n == (ssize_t)sizeof(s)) {
            if (s.job_id == id)
                return s.mono_ns;
            continue; /* an earlier job's */
        }
        int64_t left = (deadline - bench_now_ns()) / 1000000LL;
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = r->stamp_rd, .events = POLLIN};
        poll(&p, 1, (int)(left < 100 ? left : 100));
        check_shards(r);
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

typedef struct figures {
    uint32_t nodes;
    double up_s, idle_pct, idle_rss_mb, sim_pct, hb_rate;
    double p50_ms, p99_ms, max_ms;
    double ack_s, rate, sched_us, rss_mb, peak_mb;
    uint64_t rereg;
} figures_t;

static void measure_idle(run_t *r, figures_t *f)
{
    struct timespec pause = {3, 0}; /* lets the registrations' writes end: not a sync */
    nanosleep(&pause, NULL);
    uint64_t rep0 = counts_sum(r, offsetof(sim_counts_t, reports));
    int64_t s0 = bench_cpu_ns(r->sched), g0 = shards_cpu_ns(r), t0 = bench_now_ns();
    perf_ctl("idle", "enable\n");
    struct timespec ts = {g_idle_s, 0}; /* the measurement window */
    nanosleep(&ts, NULL);
    perf_ctl("idle", "disable\n");
    double wall = (double)(bench_now_ns() - t0) / 1e9;
    f->idle_pct = 100.0 * (double)(bench_cpu_ns(r->sched) - s0) / 1e9 / wall;
    f->sim_pct = 100.0 * (double)(shards_cpu_ns(r) - g0) / 1e9 / wall;
    f->idle_rss_mb = (double)bench_rss_kib(r->sched, "VmRSS") / 1024;
    f->hb_rate = (double)(counts_sum(r, offsetof(sim_counts_t, reports)) - rep0) / wall;
    check_shards(r);
}

static void measure_latency(run_t *r, figures_t *f)
{
    size_t n = g_latency;
    if (n == 0)
        return;
    int64_t *lat = calloc(n, sizeof(int64_t));
    bench_job_t b;
    if (!lat || bench_job_init(&b, "lat", 1, "true", NULL) < 0)
        die("out of memory");
    set_stamping(r, 1);
    perf_ctl("latency", "enable\n");
    for (size_t i = 0; i < n; i++) {
        int64_t t0 = bench_now_ns();
        uint64_t id = submit(r, &b);
        int64_t ts = read_stamp(r, id, 10000);
        if (ts < 0)
            die("latency: no assignment within 10 s of submission %zu (job %llu)", i,
                (unsigned long long)id);
        lat[i] = ts - t0;
        wait_job(r, id);
    }
    perf_ctl("latency", "disable\n");
    set_stamping(r, 0);
    qsort(lat, n, sizeof(int64_t), cmp_i64);
    f->p50_ms = (double)lat[n / 2] / 1e6;
    f->p99_ms = (double)lat[(n * 99) / 100] / 1e6;
    f->max_ms = (double)lat[n - 1] / 1e6;
    bench_job_fini(&b);
    free(lat);
}

static void measure_big(run_t *r, figures_t *f)
{
    bench_job_t b;
    if (bench_job_init(&b, "big", g_tasks, "true", NULL) < 0)
        die("out of memory");
    int64_t s0 = bench_cpu_ns(r->sched);
    perf_ctl("big", "enable\n");
    int64_t t0 = bench_now_ns();
    uint64_t id = submit(r, &b);
    int64_t t1 = bench_now_ns();
    uint32_t ok = wait_job(r, id);
    int64_t t2 = bench_now_ns();
    perf_ctl("big", "disable\n");
    if (ok != g_tasks)
        die("big: %u of %zu tasks succeeded", ok, g_tasks);
    f->ack_s = (double)(t1 - t0) / 1e9;
    f->rate = (double)g_tasks / ((double)(t2 - t0) / 1e9);
    f->sched_us = (double)(bench_cpu_ns(r->sched) - s0) / 1e3 / (double)g_tasks;
    f->rss_mb = (double)bench_rss_kib(r->sched, "VmRSS") / 1024;
    f->peak_mb = (double)bench_rss_kib(r->sched, "VmHWM") / 1024;
    bench_job_fini(&b);
}

static bool wanted(const char *name)
{
    if (!g_only)
        return true;
    size_t n = strlen(name);
    for (const char *p = g_only; (p = strstr(p, name)); p += n)
        if ((p == g_only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

static void run_size(uint32_t nodes, figures_t *f)
{
    run_t r;
    memset(f, 0, sizeof(*f));
    f->nodes = nodes;
    int64_t t0 = bench_now_ns();
    run_start(&r, nodes);
    f->up_s = wait_up(&r, nodes, t0);
    printf("%u nodes: up in %.1f s (%zu shards)\n", nodes, f->up_s, r.nshards);
    fflush(stdout);
    if (wanted("idle")) {
        measure_idle(&r, f);
        printf("%u nodes: idle scheduler %.2f%% of a core, RSS %.1f MB; simulators %.1f%% "
               "(%.0f reports/s)\n",
               nodes, f->idle_pct, f->idle_rss_mb, f->sim_pct, f->hb_rate);
        fflush(stdout);
    }
    if (wanted("latency")) {
        measure_latency(&r, f);
        printf("%u nodes: submit->assignment p50 %.3f ms, p99 %.3f ms, max %.3f ms (%zu jobs)\n",
               nodes, f->p50_ms, f->p99_ms, f->max_ms, g_latency);
        fflush(stdout);
    }
    if (!wanted("big")) {
        run_stop(&r);
        return;
    }
    measure_big(&r, f);
    f->rereg = counts_sum(&r, offsetof(sim_counts_t, reregistered));
    printf("%u nodes: %zu-task job acknowledged in %.3f s, done at %.0f tasks/s, scheduler "
           "%.1f us/task, RSS %.1f MB (peak %.1f); %llu re-registrations\n",
           nodes, g_tasks, f->ack_s, f->rate, f->sched_us, f->rss_mb, f->peak_mb,
           (unsigned long long)f->rereg);
    fflush(stdout);
    run_stop(&r);
}

/* ------------------------------------------------------------ takeover */

/* --store-cmd: a fresh store for the next run (e.g. a new PostgreSQL
 * database: tests/bench/pg_fresh.sh). */
static void fresh_store(char *url, size_t len)
{
    FILE *p = popen(g_store_cmd, "r");
    if (!p || !fgets(url, (int)len, p))
        die("--store-cmd '%s' printed no URL", g_store_cmd);
    pclose(p);
    url[strcspn(url, "\n")] = '\0';
}

/* Whether the file at path holds text (a scheduler's log: small). */
static bool log_has(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f))
        found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}

/* Poll path every 10 ms until it holds text, within 120 s, while pid runs:
 * the time it was seen (CLOCK_MONOTONIC ns). */
static int64_t wait_log(const char *path, const char *text, pid_t pid)
{
    int64_t deadline = bench_now_ns() + 120 * 1000000000LL;
    for (;;) {
        if (log_has(path, text))
            return bench_now_ns();
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            die("the scheduler logging to %s exited (status %d) before \"%s\"", path, st, text);
        if (bench_now_ns() > deadline)
            die("no \"%s\" in %s within 120 s", text, path);
        struct timespec ts = {0, 10 * 1000000L}; /* polls the condition */
        nanosleep(&ts, NULL);
    }
}

typedef struct tfigures {
    uint32_t nodes;
    size_t tasks;
    double up_s, lead_s, rereg_s, answer_s, done_s;
} tfigures_t;

/* Scheduler name's state dir, endpoints and log under r->dir; started
 * with --store url. */
static pid_t start_member(run_t *r, const char *name, const char *url, char *curl, size_t clen,
                          char *wurl, size_t wlen, char *log, size_t llen)
{
    char sdir[PATH_MAX];
    if (snprintf(sdir, sizeof(sdir), "%s/%s", r->dir, name) >= (int)sizeof(sdir) ||
        mkdir(sdir, 0700) < 0)
        die("%s: %s", sdir, strerror(errno));
    /* Unix sockets: over TCP a node dials its first endpoint from an
     * address of its own (bench_nodes_sim.c node_url) but B's from
     * 127.0.0.1, and B refuses a node known at another address that is not
     * down yet (as it should: a real node keeps its address) */
    sched_urls(sdir, true, curl, clen, wurl, wlen);
    snprintf(log, llen, "%s/%s.log", r->dir, name);
    const char *extra[] = {"--store", url, "--name", name, "--lease", g_lease, NULL};
    return start_sched(r, sdir, curl, wurl, log, extra);
}

/* Leader A and standby B on one store, the nodes given both worker
 * endpoints; kill -9 A (busy with a job of --takeover-tasks tasks, or
 * idle) and time B's takeover as the nodes and a client see it. */
static void run_takeover(uint32_t nodes, tfigures_t *f)
{
    run_t r;
    memset(f, 0, sizeof(*f));
    f->nodes = nodes;
    f->tasks = g_ttasks;
    run_dir(&r);
    char url[1024], acurl[PATH_MAX + 32], awurl[PATH_MAX + 32], alog[PATH_MAX + 32];
    char bcurl[PATH_MAX + 32], bwurl[PATH_MAX + 32], blog[PATH_MAX + 32];
    fresh_store(url, sizeof(url));
    r.sched =
        start_member(&r, "A", url, acurl, sizeof(acurl), awurl, sizeof(awurl), alog, sizeof(alog));
    wait_log(alog, "leading the schedulers as A", r.sched);
    r.standby =
        start_member(&r, "B", url, bcurl, sizeof(bcurl), bwurl, sizeof(bwurl), blog, sizeof(blog));
    wait_log(blog, "standing by as B", r.standby);
    snprintf(r.curl, sizeof(r.curl), "%s", acurl);
    snprintf(r.wurl, sizeof(r.wurl), "%s,%s", awurl, bwurl);
    cairn_error_t err = {{0}};
    if (cairn_client_create(acurl, 120000, &r.client, &err) < 0)
        die("client: %s", err.text);
    int64_t t = bench_now_ns();
    start_shards(&r, nodes);
    f->up_s = wait_up(&r, nodes, t);
    printf("takeover, %u nodes: up on A in %.1f s (%zu shards)\n", nodes, f->up_s, r.nshards);
    fflush(stdout);

    bench_job_t b;
    uint64_t job = 0;
    if (g_ttasks) {
        if (bench_job_init(&b, "busy", g_ttasks, "true", NULL) < 0)
            die("out of memory");
        uint64_t a0 = counts_sum(&r, offsetof(sim_counts_t, assigned));
        job = submit(&r, &b);
        /* kill A in the middle of the job: half its tasks assigned */
        int64_t deadline = bench_now_ns() + 120 * 1000000000LL;
        while (counts_sum(&r, offsetof(sim_counts_t, assigned)) - a0 < g_ttasks / 2) {
            check_shards(&r);
            if (bench_now_ns() > deadline)
                die("takeover: %zu tasks not half assigned within 120 s", g_ttasks);
            struct timespec ts = {0, 1000000L}; /* polls the condition */
            nanosleep(&ts, NULL);
        }
    }
    uint64_t reg0 = counts_sum(&r, offsetof(sim_counts_t, registered));
    cairn_client_destroy(r.client);
    r.client = NULL;

    kill(r.sched, SIGKILL);
    int64_t t0 = bench_now_ns();
    waitpid(r.sched, NULL, 0);
    r.sched = 0;
    f->lead_s = (double)(wait_log(blog, "leading the schedulers as B", r.standby) - t0) / 1e9;
    int64_t deadline = t0 + 120 * 1000000000LL;
    uint64_t reg;
    while ((reg = counts_sum(&r, offsetof(sim_counts_t, registered))) < reg0 + nodes) {
        check_shards(&r);
        if (bench_now_ns() > deadline)
            die("takeover: %llu of %u nodes registered again within 120 s of the kill",
                (unsigned long long)(reg - reg0), nodes);
        struct timespec ts = {0, 10 * 1000000L}; /* polls the condition */
        nanosleep(&ts, NULL);
    }
    f->rereg_s = (double)(bench_now_ns() - t0) / 1e9;
    /* B alone: a client that is never sent back to A */
    snprintf(r.curl, sizeof(r.curl), "%s", bcurl);
    if (cairn_client_create(bcurl, 120000, &r.client, &err) < 0)
        die("client: %s", err.text);
    uint32_t up;
    while ((up = nodes_up(&r)) < nodes) {
        if (bench_now_ns() > deadline)
            die("takeover: B lists %u of %u nodes up 120 s after the kill", up, nodes);
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    f->answer_s = (double)(bench_now_ns() - t0) / 1e9;
    if (g_ttasks) {
        uint32_t ok = wait_job(&r, job);
        f->done_s = (double)(bench_now_ns() - t0) / 1e9;
        if (ok != g_ttasks)
            die("takeover: %u of %zu tasks succeeded", ok, g_ttasks);
        bench_job_fini(&b);
    }
    printf("takeover, %u nodes: B leads %.3f s after kill -9 of A, the nodes registered again "
           "at %.3f s, B lists them up at %.3f s",
           nodes, f->lead_s, f->rereg_s, f->answer_s);
    if (g_ttasks)
        printf("; the %zu-task job done at %.3f s", g_ttasks, f->done_s);
    printf("\n");
    fflush(stdout);
    run_stop(&r);
}

/* ------------------------------------------------------------ main */

static int shard_main(int argc, char **argv)
{
    /* --shard URL FIRST COUNT DURATION STAMP_FD COUNTS_FD INDEX LOG KEY TOPO... */
    if (argc < 12)
        return 2;
    int cfd = atoi(argv[7]);
    size_t idx = strtoul(argv[8], NULL, 10);
    sim_counts_t *counts =
        mmap(NULL, (idx + 1) * sizeof(sim_counts_t), PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0);
    if (counts == MAP_FAILED) {
        fprintf(stderr, "bench_nodes: shard: mmap: %s\n", strerror(errno));
        return 1;
    }
    close(cfd);
    sim_shard_config_t cfg = {.url = argv[2],
                              .first = (uint32_t)strtoul(argv[3], NULL, 10),
                              .count = (uint32_t)strtoul(argv[4], NULL, 10),
                              .duration_ms = (uint32_t)strtoul(argv[5], NULL, 10),
                              .stamp_fd = atoi(argv[6]),
                              .counts = &counts[idx],
                              .log_path = strcmp(argv[9], "-") ? argv[9] : NULL,
                              .join_key = strcmp(argv[10], "-") ? argv[10] : NULL,
                              .topos = argv + 11,
                              .ntopos = (size_t)(argc - 11)};
    return sim_shard_run(&cfg);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The fixtures in tests/topologies, in name order. */
static void default_topos(void)
{
    const char *dir = CAIRN_SOURCE_DIR "/tests/topologies";
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) && g_ntopos < MAX_TOPOS) {
        size_t n = strlen(e->d_name);
        if (n > 4 && !strcmp(e->d_name + n - 4, ".xml") &&
            asprintf(&g_topos[g_ntopos], "%s/%s", dir, e->d_name) > 0)
            g_ntopos++;
    }
    if (d)
        closedir(d);
    qsort(g_topos, g_ntopos, sizeof(char *), cmp_str);
}

static int parse_sizes(const char *s)
{
    g_nsizes = 0;
    for (const char *p = s; *p && g_nsizes < MAX_SIZES;) {
        char *end = NULL;
        unsigned long v = strtoul(p, &end, 10);
        if (end == p || v == 0 || v > 1000000)
            return -1;
        g_sizes[g_nsizes++] = (uint32_t)v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return g_nsizes ? 0 : -1;
}

static void usage(void)
{
    printf("Usage: bench_nodes [--nodes LIST] [--tasks N] [--latency N] [--idle S]\n"
           "                   [--duration-ms MS] [--per-shard N] [--ramp N]\n"
           "                   [--topology FILE]...\n"
           "                   [--sched-arg ARG]... [--bin DIR] [--dir DIR] [--keep] [--quick]\n"
           "                   [--sim-log] [--ipc] [--no-join-key]\n"
           "                   [--perf-ctl FIFO [--perf-phase idle|latency|big]]\n"
           "                   [--only LIST] [--store-cmd CMD] [--lease D] [--takeover-tasks N]\n"
           "  --nodes LIST     node counts, comma-separated (default 1000,5000,10000;\n"
           "                   takeover: 500)\n"
           "  --tasks N        the big job's tasks (default 100000)\n"
           "  --latency N      one-task jobs for submit->assignment (default 1000)\n"
           "  --idle S         the idle window in seconds (default 10)\n"
           "  --duration-ms MS how long each task runs (default 0: at once)\n"
           "  --per-shard N    simulated nodes per process (default 250)\n"
           "  --ramp N         shards registering at once (default 4; 0: all at once)\n"
           "  --topology FILE  a node topology (repeatable; default: tests/topologies/*.xml,\n"
           "                   node i gets the (i mod n)th)\n"
           "  --sched-arg ARG  pass ARG to cairn-scheduler (e.g. --heartbeat-interval=5s)\n"
           "  --dir DIR        where the state goes (default BUILD/bench-state: a real disk)\n"
           "  --sim-log        the simulators' warnings in shardN.log in the state dir\n"
           "  --ipc            nodes dial a Unix socket (default: TCP on 127.0.0.1)\n"
           "  --no-join-key    no join key (default: one, each node answers the challenge)\n"
           "  --only LIST      workloads, comma-separated: up,idle,latency,big,takeover\n"
           "                   (default: all; up runs with each of the first four)\n"
           "  --store-cmd CMD  takeover: CMD prints a fresh store URL per run (e.g.\n"
           "                   'sh tests/bench/pg_fresh.sh PGSOCKDIR'); without it, skipped\n"
           "  --lease D        takeover: the schedulers' --lease (default 3s)\n"
           "  --takeover-tasks N  takeover: tasks of the job A runs when killed\n"
           "                   (default 5000; 0: A idle)\n"
           "  --quick          tiny sizes: a smoke run of the harness\n");
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--shard"))
        return shard_main(argc, argv);
    static const struct option opts[] = {
        {"nodes", required_argument, NULL, 'n'},
        {"tasks", required_argument, NULL, 't'},
        {"latency", required_argument, NULL, 'l'},
        {"idle", required_argument, NULL, 'i'},
        {"duration-ms", required_argument, NULL, 'D'},
        {"per-shard", required_argument, NULL, 'P'},
        {"topology", required_argument, NULL, 'T'},
        {"sched-arg", required_argument, NULL, 'a'},
        {"bin", required_argument, NULL, 'b'},
        {"dir", required_argument, NULL, 'd'},
        {"keep", no_argument, NULL, 'k'},
        {"quick", no_argument, NULL, 'q'},
        {"sim-log", no_argument, NULL, 's'},
        {"ipc", no_argument, NULL, 'I'},
        {"no-join-key", no_argument, NULL, 'K'},
        {"ramp", required_argument, NULL, 'R'},
        {"perf-ctl", required_argument, NULL, 'c'},
        {"perf-phase", required_argument, NULL, 'p'},
        {"only", required_argument, NULL, 'o'},
        {"store-cmd", required_argument, NULL, 'S'},
        {"lease", required_argument, NULL, 'L'},
        {"takeover-tasks", required_argument, NULL, 'X'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    snprintf(g_bin, sizeof(g_bin), "%s", CAIRN_BIN_DIR);
    snprintf(g_base, sizeof(g_base), "%s/../bench-state", CAIRN_BIN_DIR);
    parse_sizes("1000,5000,10000");
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'n':
            if (parse_sizes(optarg) < 0) {
                fprintf(stderr, "bench_nodes: --nodes wants counts like 1000,5000\n");
                return 2;
            }
            memcpy(g_tsizes, g_sizes, sizeof(g_sizes));
            g_ntsizes = g_nsizes;
            break;
        case 'o':
            g_only = optarg;
            break;
        case 'S':
            g_store_cmd = optarg;
            break;
        case 'L':
            g_lease = optarg;
            break;
        case 'X':
            g_ttasks = strtoul(optarg, NULL, 10);
            break;
        case 't':
            g_tasks = strtoul(optarg, NULL, 10);
            break;
        case 'l':
            g_latency = strtoul(optarg, NULL, 10);
            break;
        case 'i':
            g_idle_s = atoi(optarg);
            break;
        case 'D':
            g_duration_ms = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'P':
            g_per_shard = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'T':
            if (g_ntopos < MAX_TOPOS)
                g_topos[g_ntopos++] = optarg;
            break;
        case 'a':
            if (g_nsched_args < MAX_SCHED_ARGS)
                g_sched_args[g_nsched_args++] = optarg;
            break;
        case 'b':
            snprintf(g_bin, sizeof(g_bin), "%s", optarg);
            break;
        case 'd':
            snprintf(g_base, sizeof(g_base), "%s", optarg);
            break;
        case 'k':
            g_keep = true;
            break;
        case 'q':
            parse_sizes("20,60");
            g_tasks = 2000;
            g_latency = 50;
            g_idle_s = 1;
            g_tsizes[0] = 20;
            g_ntsizes = 1;
            g_ttasks = 200;
            break;
        case 's':
            g_sim_log = true;
            break;
        case 'I':
            g_ipc = true;
            break;
        case 'K':
            g_no_key = true;
            break;
        case 'R':
            g_ramp = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'c':
            if ((g_perf_fd = open(optarg, O_WRONLY | O_CLOEXEC)) < 0) {
                fprintf(stderr, "bench_nodes: --perf-ctl %s: %s\n", optarg, strerror(errno));
                return 2;
            }
            break;
        case 'p':
            g_perf_phase = optarg;
            break;
        case 'h':
            usage();
            return 0;
        default:
            return 2;
        }
    }
    if (g_ramp == 0)
        g_ramp = UINT32_MAX;
    if (g_tasks == 0 || g_per_shard == 0 || g_idle_s < 1) {
        fprintf(stderr, "bench_nodes: --tasks, --per-shard and --idle must be positive\n");
        return 2;
    }
    if (g_ntopos == 0)
        default_topos();
    if (g_ntopos == 0) {
        fprintf(stderr, "bench_nodes: no topology fixture found\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (mkdir(g_base, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "bench_nodes: %s: %s\n", g_base, strerror(errno));
        return 1;
    }
    struct utsname u;
    uname(&u);
    char date[64];
    time_t now = time(NULL);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime(&now));
    printf("bench_nodes %s on %s (%s %s), %ld CPUs; %zu topologies, tasks of %u ms\n", date,
           u.nodename, u.sysname, u.release, sysconf(_SC_NPROCESSORS_ONLN), g_ntopos,
           g_duration_ms);
    fflush(stdout);
    figures_t f[MAX_SIZES];
    bool plain = wanted("up") || wanted("idle") || wanted("latency") || wanted("big");
    for (size_t i = 0; plain && i < g_nsizes; i++)
        run_size(g_sizes[i], &f[i]);
    tfigures_t tf[MAX_SIZES];
    bool takeover = wanted("takeover") && g_store_cmd;
    if (wanted("takeover") && !g_store_cmd)
        printf("takeover: skipped (needs --store-cmd: a PostgreSQL store's URL)\n");
    for (size_t i = 0; takeover && i < g_ntsizes; i++)
        run_takeover(g_tsizes[i], &tf[i]);
    if (takeover) {
        printf("\n%7s %7s %7s %9s %9s %9s %9s\n", "nodes", "up s", "tasks", "lead s", "rereg s",
               "answer s", "done s");
        for (size_t i = 0; i < g_ntsizes; i++)
            printf("%7u %7.1f %7zu %9.3f %9.3f %9.3f %9.3f\n", tf[i].nodes, tf[i].up_s, tf[i].tasks,
                   tf[i].lead_s, tf[i].rereg_s, tf[i].answer_s, tf[i].done_s);
    }
    if (!plain)
        return 0;
    printf("\n%7s %7s %9s %9s %8s %8s %8s %9s %9s %9s %9s %9s\n", "nodes", "up s", "idle %",
           "idle MB", "sim %", "p50 ms", "p99 ms", "ack s", "tasks/s", "sched us", "RSS MB",
           "peak MB");
    for (size_t i = 0; i < g_nsizes; i++)
        printf("%7u %7.1f %9.2f %9.1f %8.1f %8.3f %8.3f %9.3f %9.0f %9.1f %9.1f %9.1f\n",
               f[i].nodes, f[i].up_s, f[i].idle_pct, f[i].idle_rss_mb, f[i].sim_pct, f[i].p50_ms,
               f[i].p99_ms, f[i].ack_s, f[i].rate, f[i].sched_us, f[i].rss_mb, f[i].peak_mb);
    return 0;
}
