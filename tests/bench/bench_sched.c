/* Benchmark of the scheduling core: placement decisions per second and
 * bytes per queued task, on simulated clusters of 2-NUMA, 64-core, 8-GPU
 * nodes with a queue of mixed task shapes (CPU-only, 1, 2, 4, 8 GPUs).
 *
 * Usage: bench_sched [--nodes N[,N...]] [--queued Q[,Q...]] [--decisions D]
 *                    [--prefetch N] [--accounts A] [--job-tasks T] [--preemptible PCT]
 *                    [--topology PCT]
 *
 * --accounts A: each row is run twice, without accounts and with A accounts
 * in a 3-level tree (shares 1-4, GPU limits on the top level that bind now
 * and then), jobs charged to the leaves in turn, so the two decisions/s
 * figures compare. --job-tasks: tasks per submitted job (default 1000).
 * --preemptible PCT: each row is run twice, without and with PCT% of the
 * tasks preemptible (grace 500 ms): passes preempt them for the tasks of
 * higher priority that find no room, the bench's "workers" end each victim
 * at the first round after its grace, and the row prints the preemptions,
 * the time per pass beside the plain run's, and the preemptors' start
 * latency after their victims' grace (simulated ms, mean).
 *
 * --topology PCT: nodes carry topology.rack (16 nodes a rack) and
 * topology.block (8 racks a block) labels; each row is run three times:
 * the plain mix; PCT% of the tasks gangs of 4 replicas (of their shape)
 * placed anywhere; the same gangs with placement by rack (pack and
 * require in turn) under --topology-levels rack,block. Decisions/s of the
 * last two compare the cost of the topology search.
 *
 * For each (nodes, queued) pair the queue is kept at Q tasks: a pass places
 * what fits (timed), then every running attempt finishes and new tasks are
 * submitted to refill the queue (timed separately). Prints one row each. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scheduling/sched.h"

#define GiB (1024ull * 1024 * 1024)
#define JOB_TASKS 1000

static uint32_t g_job_tasks = JOB_TASKS;
static uint32_t g_pre;      /* preemptible % of the current run, 0: none */
static uint32_t g_accounts; /* accounts of the current run, 0: none */
static uint32_t g_gangs;    /* gangs % of the current run, 0: none */
static bool g_topo;         /* the current run's gangs ask for a rack */
static uint32_t *g_leaves, g_nleaves;
static char g_acct_names[1024][16];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void add_nodes(sched_t *s, uint32_t n)
{
    uint64_t mem[2] = {512 * GiB, 512 * GiB};
    int core_numa[64];
    sched_gpu_desc_t gpus[8];
    char name[32], uuid[8][48], bus[8][24];
    for (int c = 0; c < 64; c++)
        core_numa[c] = c / 32;
    for (uint32_t i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "node%05u", i);
        for (int g = 0; g < 8; g++) {
            snprintf(uuid[g], sizeof(uuid[g]), "GPU-%05u-%d", i, g);
            snprintf(bus[g], sizeof(bus[g]), "0000:%02x:00.0", 0x18 + g);
            gpus[g] = (sched_gpu_desc_t){.vendor = "nvidia",
                                         .model = "NVIDIA H100 80GB HBM3",
                                         .uuid = uuid[g],
                                         .pci_bus_id = bus[g],
                                         .memory_bytes = 80 * GiB,
                                         .numa = g / 4,
                                         .group = g / 2};
        }
        char rack[40], block[40];
        snprintf(rack, sizeof(rack), "topology.rack=r%04u", i / 16);
        snprintf(block, sizeof(block), "topology.block=b%03u", i / 128);
        const char *labels[2] = {rack, block};
        sched_event_t ev = {.type = SCHED_EV_NODE_ADD};
        ev.u.node_add = (sched_node_desc_t){.name = name,
                                            .nnuma = 2,
                                            .numa_memory = mem,
                                            .ncores = 64,
                                            .core_numa = core_numa,
                                            .ngpus = 8,
                                            .gpus = gpus,
                                            .nlabels = 2,
                                            .labels = labels};
        cairn_error_t err;
        if (sched_apply(s, &ev, &err) < 0) {
            fprintf(stderr, "node add: %s\n", err.text);
            exit(1);
        }
    }
}

typedef struct shape {
    uint32_t cpus, gpus;
    uint64_t mem;
} shape_t;

static const shape_t shapes[] = {
    {4, 0, 8 * GiB}, {8, 1, 64 * GiB}, {16, 2, 128 * GiB}, {32, 4, 256 * GiB}, {64, 8, 512 * GiB},
};

static uint32_t next_job_seq;
static size_t string_bytes; /* bytes of the tasks' own strings */

/* Submit `count` tasks in jobs of JOB_TASKS, shapes in a fixed rotation. */
static void submit(sched_t *s, uint32_t count, int64_t now)
{
    static const char *const argv[] = {"/bin/true"};
    sched_task_spec_t *tasks = calloc(g_job_tasks, sizeof(*tasks));
    char(*names)[24] = malloc(g_job_tasks * sizeof(*names));
    while (count > 0) {
        uint32_t n = count < g_job_tasks ? count : g_job_tasks;
        for (uint32_t i = 0; i < n; i++) {
            const shape_t *sh = &shapes[(next_job_seq + i) % 5];
            snprintf(names[i], sizeof(names[i]), "task%u", i);
            tasks[i] = (sched_task_spec_t){
                .name = names[i],
                .kind = "train",
                .argc = 1,
                .argv = argv,
                .req = {.cpus = sh->cpus, .gpus = sh->gpus, .memory_bytes = sh->mem},
                .time_limit_ms = 3600000,
                .priority = (int32_t)((next_job_seq + i) % 3)};
            if (g_gangs && (next_job_seq * 17u + i * 13u) % 100 < g_gangs) {
                tasks[i].replicas = 4;
                if (g_topo) {
                    tasks[i].placement = i % 2 ? SCHED_PLACEMENT_PACK : SCHED_PLACEMENT_REQUIRE;
                    tasks[i].placement_level = "rack";
                }
            }
            if (g_pre && (next_job_seq * 31u + i * 7u) % 100 < g_pre) {
                tasks[i].preemptible = true;
                tasks[i].grace_ms = 500;
            }
            string_bytes += strlen(names[i]) + 1 + strlen("train") + 1 + strlen(argv[0]) + 1;
        }
        char jname[32];
        snprintf(jname, sizeof(jname), "job%u", next_job_seq++);
        sched_event_t ev = {.type = SCHED_EV_JOB_SUBMIT, .time_ms = now};
        ev.u.submit =
            (sched_job_spec_t){.name = jname, .seed = next_job_seq, .ntasks = n, .tasks = tasks};
        if (g_nleaves)
            ev.u.submit.account = g_acct_names[g_leaves[next_job_seq % g_nleaves]];
        cairn_error_t err;
        if (sched_apply(s, &ev, &err) < 0) {
            fprintf(stderr, "submit: %s\n", err.text);
            exit(1);
        }
        count -= n;
    }
    free(tasks);
    free(names);
}

/* A preemptor waiting for its victims, and when the last of them ended
 * (0: not yet). */
typedef struct waiter {
    uint32_t job, task;
    int64_t grace_end, victims_end;
} waiter_t;

typedef struct placed_log {
    uint64_t *ids; /* attempts holding resources */
    size_t n, cap;
    uint64_t *stopping; /* victims of preemptions, to end at their grace */
    int64_t *stop_at;
    size_t nstop, stop_cap;
    waiter_t *wait;
    size_t nwait, wait_cap;
    uint64_t preempts, started;
    int64_t latency_ms; /* sum over started preemptors */
} placed_log_t;

static void push_u64(uint64_t **v, size_t *n, size_t *cap, uint64_t x)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        *v = realloc(*v, *cap * sizeof(uint64_t));
    }
    (*v)[(*n)++] = x;
}

static void on_place(const sched_event_t *ev, void *arg)
{
    placed_log_t *l = arg;
    if (ev->type == SCHED_EV_PREEMPT) {
        l->preempts++;
        for (uint32_t i = 0; i < ev->u.preempt.nvictims; i++) {
            size_t n = l->nstop, cap = l->stop_cap;
            push_u64(&l->stopping, &l->nstop, &l->stop_cap, ev->u.preempt.victims[i]);
            if (l->stop_cap != cap)
                l->stop_at = realloc(l->stop_at, l->stop_cap * sizeof(int64_t));
            l->stop_at[n] = ev->u.preempt.grace_end_ms;
        }
        if (l->nwait == l->wait_cap) {
            l->wait_cap = l->wait_cap ? l->wait_cap * 2 : 64;
            l->wait = realloc(l->wait, l->wait_cap * sizeof(waiter_t));
        }
        l->wait[l->nwait++] = (waiter_t){.job = ev->u.preempt.job,
                                         .task = ev->u.preempt.task,
                                         .grace_end = ev->u.preempt.grace_end_ms};
        return;
    }
    push_u64(&l->ids, &l->n, &l->cap, ev->u.place.attempt);
    for (size_t i = 0; i < l->nwait; i++)
        if (l->wait[i].job == ev->u.place.job && l->wait[i].task == ev->u.place.task) {
            if (l->wait[i].victims_end) { /* else placed elsewhere before they ended */
                l->latency_ms += ev->time_ms - l->wait[i].victims_end;
                l->started++;
            }
            l->wait[i] = l->wait[--l->nwait];
            break;
        }
}

/* The bench's workers: victims whose grace is over end preempted (at t). */
static void end_victims(sched_t *s, placed_log_t *l, int64_t t)
{
    size_t keep = 0;
    for (size_t i = 0; i < l->nstop; i++) {
        if (l->stop_at[i] > t) {
            l->stopping[keep] = l->stopping[i];
            l->stop_at[keep++] = l->stop_at[i];
            continue;
        }
        sched_event_t ev = {.type = SCHED_EV_FINISH, .time_ms = t};
        ev.u.finish.attempt = l->stopping[i];
        ev.u.finish.end = SCHED_END_PREEMPTED;
        sched_apply(s, &ev, NULL); /* ESTALE if it ended on its own first */
        for (size_t k = 0; k < l->n; k++)
            if (l->ids[k] == l->stopping[i]) {
                l->ids[k] = l->ids[--l->n];
                break;
            }
    }
    l->nstop = keep;
    for (size_t i = 0; i < l->nwait; i++)
        if (!l->wait[i].victims_end && l->wait[i].grace_end <= t)
            l->wait[i].victims_end = t;
}

/* n accounts (at most 1024) in 3 levels: a quarter-root of them at the
 * top (at least 2), as many under each of those, the rest spread under
 * the second level; jobs go to the leaves. The top level may hold 40% of
 * the cluster's GPUs each. */
static void add_accounts(sched_t *s, uint32_t n, uint32_t nodes)
{
    uint32_t top = 2;
    while ((top + 1) * (top + 1) * (top + 1) <= n)
        top++;
    uint32_t mid = top * top < n ? top * top : n - top;
    free(g_leaves);
    g_leaves = calloc(n, sizeof(uint32_t));
    g_nleaves = 0;
    for (uint32_t i = 0; i < n && i < 1024; i++) {
        snprintf(g_acct_names[i], sizeof(g_acct_names[i]), "acct%u", i);
        const char *parent = i < top         ? NULL
                             : i < top + mid ? g_acct_names[(i - top) % top]
                                             : g_acct_names[top + (i - top - mid) % mid];
        sched_event_t ev = {.type = SCHED_EV_ACCOUNT_SET};
        ev.u.account_set =
            (sched_account_spec_t){.name = g_acct_names[i],
                                   .parent = parent,
                                   .share = 1 + i % 4,
                                   .max_gpus = i < top ? nodes * 8 * 2 / 5 : SCHED_UNLIMITED,
                                   .max_cpus = SCHED_UNLIMITED,
                                   .max_running = SCHED_UNLIMITED,
                                   .max_priority = SCHED_NO_PRIORITY_CAP};
        cairn_error_t err;
        if (sched_apply(s, &ev, &err) < 0) {
            fprintf(stderr, "account: %s\n", err.text);
            exit(1);
        }
        if (i >= top + mid || (mid + top >= n && i >= top))
            g_leaves[g_nleaves++] = i;
    }
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Steady state of a busy cluster: fill it, then each round a seeded random
 * 5% of running attempts (at most half the queue) finish, a pass places work into the holes
 * (timed), and the queue is refilled to its size. */
static uint32_t g_prefetch; /* --prefetch: lines of that many (sched_config_t) */
static uint32_t g_compare;  /* --accounts: each row without and with that many */
static uint32_t g_pre_pct;  /* --preemptible: each row without and with that % */
static uint32_t g_topo_pct; /* --topology: each row plain, that % gangs, and by rack */

static void run(uint32_t nodes, uint32_t queued, uint64_t target)
{
    sched_config_t cfg = {.max_reservations = 1,
                          .prefetch = g_prefetch,
                          .topology_levels = g_topo ? "rack,block" : NULL};
    sched_t *s = sched_create(&cfg);
    add_nodes(s, nodes);
    g_nleaves = 0;
    if (g_compare || g_pre_pct || g_topo_pct) { /* the runs of a row see the same finishes */
        rng_state = 88172645463325252ull;
        next_job_seq = 0;
    }
    if (g_accounts)
        add_accounts(s, g_accounts, nodes);
    string_bytes = 0;
    struct mallinfo2 before = mallinfo2();
    submit(s, queued, 0);
    struct mallinfo2 after = mallinfo2();
    double bytes_per_task =
        ((double)(after.uordblks - before.uordblks) - (double)string_bytes) / queued;
    placed_log_t run_ids = {0};
    int64_t t = 1;
    /* warm up: fill the cluster (keeping the queue full) */
    for (;;) {
        size_t before_n = run_ids.n;
        int n = sched_place(s, t, on_place, &run_ids);
        if (n < 0)
            exit(1);
        submit(s, (uint32_t)n, t);
        if (run_ids.n == before_n)
            break;
    }
    uint64_t decisions = 0, passes = 0, finishes = 0;
    double place_time = 0, finish_time = 0, t0 = now_s();
    while (decisions < target && now_s() - t0 < 60) {
        t += 1000;
        /* 5% of running, but never more than half the queue, so the cluster
         * stays saturated whatever the queue size and runs compare alike */
        size_t k = run_ids.n / 20 + 1;
        if (k > queued / 2)
            k = queued / 2;
        end_victims(s, &run_ids, t); /* untimed: the workers' part */
        double a = now_s();
        for (size_t i = 0; i < k && run_ids.n; i++) {
            size_t pick = (size_t)(rnd() % run_ids.n);
            sched_event_t ev = {.type = SCHED_EV_FINISH, .time_ms = t};
            ev.u.finish.attempt = run_ids.ids[pick];
            ev.u.finish.end = SCHED_END_EXIT; /* a victim may end on its own in its grace */
            sched_apply(s, &ev, NULL);
            run_ids.ids[pick] = run_ids.ids[--run_ids.n];
            finishes++;
        }
        finish_time += now_s() - a;
        a = now_s();
        int n = sched_place(s, t, on_place, &run_ids);
        place_time += now_s() - a;
        if (n < 0) {
            fprintf(stderr, "pass failed: %d\n", n);
            exit(1);
        }
        decisions += (uint64_t)n;
        passes++;
        submit(s, (uint32_t)n, t); /* keep the queue at its size */
    }
    printf("%8u %9u %9zu %10llu %7llu %14.0f %12.0f %14.1f", nodes, queued, run_ids.n,
           (unsigned long long)decisions, (unsigned long long)passes, decisions / place_time,
           finishes / finish_time, bytes_per_task);
    if (g_compare)
        printf(" %8u", g_accounts);
    if (g_topo_pct)
        printf(" %5u%% %-7s %10.1f", g_gangs, g_gangs ? (g_topo ? "rack" : "any") : "-",
               place_time / passes * 1e6);
    if (g_pre_pct)
        printf(" %5u%% %12.1f %9llu %12.0f", g_pre, place_time / passes * 1e6,
               (unsigned long long)run_ids.preempts,
               run_ids.started ? (double)run_ids.latency_ms / run_ids.started : 0.0);
    printf("\n");
    fflush(stdout);
    free(run_ids.ids);
    free(run_ids.stopping);
    free(run_ids.stop_at);
    free(run_ids.wait);
    sched_destroy(s);
}

/* The worst pass for preemption: every node full of 4-core attempts of
 * priority 0 (preemptible or not), and SCHED_PREEMPT_SEARCHES_PER_PASS
 * blocked classes of priority 5, each needing a few of them stopped. One
 * pass is timed (a fresh state each of reps times); returns its mean us
 * and sets *decisions to its preemptions. */
static void count_preempts(const sched_event_t *ev, void *arg)
{
    *(uint64_t *)arg += ev->type == SCHED_EV_PREEMPT;
}

static double worst_pass(uint32_t nodes, bool preemptible, uint64_t *decisions)
{
    static const char *const argv[] = {"/bin/true"};
    const int reps = 5;
    double sum = 0;
    *decisions = 0;
    for (int rep = 0; rep < reps; rep++) {
        sched_t *s = sched_create(NULL);
        add_nodes(s, nodes);
        uint32_t nfill = nodes * 16;
        sched_task_spec_t *t = calloc(nfill, sizeof(*t));
        char(*names)[24] = malloc(nfill * sizeof(*names));
        for (uint32_t i = 0; i < nfill; i++) {
            snprintf(names[i], sizeof(names[i]), "fill%u", i);
            t[i] = (sched_task_spec_t){.name = names[i],
                                       .kind = "train",
                                       .argc = 1,
                                       .argv = argv,
                                       .req = {.cpus = 4, .memory_bytes = 4 * GiB},
                                       .preemptible = preemptible,
                                       .grace_ms = 500};
        }
        sched_event_t ev = {.type = SCHED_EV_JOB_SUBMIT, .time_ms = 0};
        ev.u.submit = (sched_job_spec_t){.name = "fill", .seed = 1, .ntasks = nfill, .tasks = t};
        if (sched_apply(s, &ev, NULL) < 0 || sched_place(s, 0, NULL, NULL) != (int)nfill)
            exit(1);
        sched_task_spec_t hi[SCHED_PREEMPT_SEARCHES_PER_PASS];
        for (uint32_t i = 0; i < SCHED_PREEMPT_SEARCHES_PER_PASS; i++) {
            snprintf(names[i], sizeof(names[i]), "hi%u", i);
            hi[i] = (sched_task_spec_t){.name = names[i],
                                        .kind = "eval",
                                        .argc = 1,
                                        .argv = argv,
                                        .req = {.cpus = 5 + i, .memory_bytes = GiB},
                                        .priority = 5};
        }
        ev.time_ms = 1;
        ev.u.submit = (sched_job_spec_t){
            .name = "hi", .seed = 2, .ntasks = SCHED_PREEMPT_SEARCHES_PER_PASS, .tasks = hi};
        if (sched_apply(s, &ev, NULL) < 0)
            exit(1);
        double a = now_s();
        if (sched_place(s, 1, count_preempts, decisions) < 0)
            exit(1);
        sum += now_s() - a;
        sched_destroy(s);
        free(t);
        free(names);
    }
    *decisions /= (uint64_t)reps;
    return sum / reps * 1e6;
}

static int parse_list(const char *arg, uint32_t *out, int max)
{
    int n = 0;
    char *copy = strdup(arg), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save))
        out[n++] = (uint32_t)strtoul(tok, NULL, 10);
    free(copy);
    return n;
}

int main(int argc, char **argv)
{
    uint32_t nodes[8] = {1000, 10000}, queued[8] = {1000, 100000};
    int nn = 2, nq = 2;
    uint64_t target = 500000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--nodes") && i + 1 < argc)
            nn = parse_list(argv[++i], nodes, 8);
        else if (!strcmp(argv[i], "--queued") && i + 1 < argc)
            nq = parse_list(argv[++i], queued, 8);
        else if (!strcmp(argv[i], "--decisions") && i + 1 < argc)
            target = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--prefetch") && i + 1 < argc)
            g_prefetch = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--accounts") && i + 1 < argc)
            g_compare = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--job-tasks") && i + 1 < argc)
            g_job_tasks = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--preemptible") && i + 1 < argc)
            g_pre_pct = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--topology") && i + 1 < argc)
            g_topo_pct = (uint32_t)strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_sched [--nodes N,..] [--queued Q,..] [--decisions D] "
                            "[--prefetch N] [--accounts A] [--job-tasks T] "
                            "[--preemptible PCT] [--topology PCT]\n");
            return 2;
        }
    }
    printf("scheduling core: 2 NUMA x 32 cores, 8 GPUs (2 per switch) per node; shapes "
           "cpu/1/2/4/8 GPUs; prefetch %u\n",
           g_prefetch);
    if (g_job_tasks == 0 || g_compare > 1024 || g_pre_pct > 100 || g_topo_pct > 100) {
        fprintf(stderr, "bench_sched: --job-tasks at least 1, --accounts at most 1024, "
                        "--preemptible and --topology at most 100\n");
        return 2;
    }
    if ((g_compare != 0) + (g_pre_pct != 0) + (g_topo_pct != 0) > 1) {
        fprintf(stderr, "bench_sched: --accounts, --preemptible or --topology, one at a time\n");
        return 2;
    }
    if (g_topo_pct)
        printf("with topology: racks of 16 nodes, blocks of 8 racks; %u%% of the tasks gangs "
               "of 4 replicas, placed anywhere or by rack (pack and require in turn)\n",
               g_topo_pct);
    if (g_pre_pct)
        printf("with preemptible: that %% of the tasks (grace 500 ms; priorities 0-2 in turn); "
               "us/pass; preemptions; start after grace: simulated ms from the victims' end to "
               "the preemptor's start (passes every 1000 ms)\n");
    if (g_compare)
        printf("jobs of %u tasks; with accounts: %u in 3 levels, charged to the leaves in turn\n",
               g_job_tasks, g_compare);
    printf("%8s %9s %9s %10s %7s %14s %12s %14s%s%s\n", "nodes", "queued", "running", "decisions",
           "passes", "decisions/s", "finishes/s", "bytes/queued", g_compare ? " accounts" : "",
           g_pre_pct    ? " preempt      us/pass  preempts  start_after"
           : g_topo_pct ? "  gangs place      us/pass"
                        : "");
    for (int i = 0; i < nn; i++)
        for (int k = 0; k < nq; k++) {
            g_accounts = 0;
            run(nodes[i], queued[k], target);
            if (g_compare) {
                g_accounts = g_compare;
                run(nodes[i], queued[k], target);
            }
            if (g_pre_pct) {
                g_pre = g_pre_pct;
                run(nodes[i], queued[k], target);
                g_pre = 0;
            }
            if (g_topo_pct) {
                g_gangs = g_topo_pct;
                run(nodes[i], queued[k], target);
                g_topo = true;
                run(nodes[i], queued[k], target);
                g_gangs = 0;
                g_topo = false;
            }
        }
    if (g_pre_pct) {
        printf("worst pass: nodes full of 4-core attempts, %d blocked classes of a higher "
               "priority\n%8s %16s %16s %10s\n",
               SCHED_PREEMPT_SEARCHES_PER_PASS, "nodes", "us (none prmpt)", "us (all prmpt)",
               "preempts");
        for (int i = 0; i < nn; i++) {
            uint64_t d0, d1;
            double t0 = worst_pass(nodes[i], false, &d0), t1 = worst_pass(nodes[i], true, &d1);
            printf("%8u %16.1f %16.1f %10llu\n", nodes[i], t0, t1, (unsigned long long)d1);
        }
    }
    free(g_leaves);
    return 0;
}
