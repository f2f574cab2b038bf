/* Benchmark of the what-if simulator (scheduling/sim.h): a synthetic week
 * of a 1,000-node cluster's workload, replayed through the scheduling core.
 *
 * Usage: bench_sim [--nodes N] [--tasks T] [--days D] [--seed S]
 *
 * The cluster: 70% nodes of 2 NUMA x 32 cores and 8 H100 (2 per PCIe
 * switch), 30% CPU nodes of 2 x 32 cores. The workload: jobs of 1-50 tasks
 * arriving with a daily cycle over D days, 2/3 one-GPU tasks (about 1.5 h),
 * 1/15 eight-GPU tasks (about 4.5 h), the rest CPU tasks (about 16 min), half
 * of the jobs of up to 8 tasks chains (each task needs the one before). Prints the
 * wall time of the run and of the metrics, events/s and the prediction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scheduling/sim.h"

#define GiB (1024ull * 1024 * 1024)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Exponential-ish duration with mean m (ms): sum of two uniforms. */
static int64_t dur(int64_t m)
{
    return 60000 + (int64_t)(rnd() % (uint64_t)m) + (int64_t)(rnd() % (uint64_t)m) / 2;
}

static void add_nodes(sched_sim_t *sim, uint32_t n)
{
    uint64_t mem[2] = {512 * GiB, 512 * GiB};
    int core_numa[64];
    sched_gpu_desc_t gpus[8];
    char name[32], uuid[8][48], bus[8][24];
    for (int c = 0; c < 64; c++)
        core_numa[c] = c / 32;
    for (uint32_t i = 0; i < n; i++) {
        bool gpu = i % 10 < 7;
        snprintf(name, sizeof(name), "%s%05u", gpu ? "gpu" : "cpu", i);
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
        sched_node_desc_t d = {.name = name,
                               .nnuma = 2,
                               .numa_memory = mem,
                               .ncores = 64,
                               .core_numa = core_numa,
                               .ngpus = gpu ? 8 : 0,
                               .gpus = gpus};
        cairn_error_t err;
        if (sched_sim_node_add(sim, &d, &err) < 0) {
            fprintf(stderr, "node add: %s\n", err.text);
            exit(1);
        }
    }
}

typedef struct bench_job {
    sched_job_spec_t spec;
    sched_task_spec_t *tasks;
    const char **needs;
    uint32_t *nout;
    sched_sim_outcome_t *out;
    const sched_sim_outcome_t **outp;
} bench_job_t;

static const char *const argv_true[] = {"/bin/true"};

int main(int argc, char **argv)
{
    uint32_t nodes = 1000, tasks = 300000, days = 7;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--nodes") && i + 1 < argc)
            nodes = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--tasks") && i + 1 < argc)
            tasks = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--days") && i + 1 < argc)
            days = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            rng = strtoull(argv[++i], NULL, 10) | 1;
        else {
            fprintf(stderr, "usage: bench_sim [--nodes N] [--tasks T] [--days D] [--seed S]\n");
            return 2;
        }
    }
    double t0 = now_s();
    sched_sim_t *sim = sched_sim_create(NULL);
    add_nodes(sim, nodes);
    /* names shared by every job: task i is "t<i>" */
    static char names[50][8];
    for (int i = 0; i < 50; i++)
        snprintf(names[i], sizeof(names[i]), "t%d", i);
    /* at most one job per task: the array never moves (the simulation
     * borrows the specs until it has run) */
    size_t cap = tasks + 1, njobs = 0;
    bench_job_t *jobs = calloc(cap, sizeof(*jobs));
    char(*jnames)[16] = calloc(cap, 16);
    int64_t week = (int64_t)days * 86400000;
    uint32_t made = 0, ngpu1 = 0, ngpu8 = 0, ncpu = 0;
    while (made < tasks) {
        uint32_t n = 1 + (uint32_t)(rnd() % 50);
        if (n > tasks - made)
            n = tasks - made;
        /* arrivals: uniform over the period, thinned at night */
        int64_t at;
        do
            at = (int64_t)(rnd() % (uint64_t)week);
        while ((at / 3600000) % 24 < 8 && rnd() % 3);
        bench_job_t *j = &jobs[njobs];
        j->tasks = calloc(n, sizeof(*j->tasks));
        j->needs = calloc(n, sizeof(*j->needs));
        j->nout = calloc(n, sizeof(uint32_t));
        j->out = calloc(n, sizeof(*j->out));
        j->outp = calloc(n, sizeof(*j->outp));
        bool chain = n <= 8 && rnd() % 2 == 0;
        uint64_t kind = rnd() % 15; /* a job's tasks share a kind */
        for (uint32_t k = 0; k < n; k++) {
            uint32_t cpus = 4, gpus = 0;
            int64_t mean = 20 * 60000;
            if (kind < 10) {
                cpus = 8, gpus = 1, mean = 2 * 3600000;
                ngpu1++;
            } else if (kind < 11) {
                cpus = 64, gpus = 8, mean = 6 * 3600000;
                ngpu8++;
            } else
                ncpu++;
            j->tasks[k] = (sched_task_spec_t){
                .name = names[k],
                .kind = "train",
                .argc = 1,
                .argv = argv_true,
                .req = {.cpus = cpus, .gpus = gpus, .memory_bytes = (uint64_t)cpus * 4 * GiB},
                .time_limit_ms = 4 * mean};
            if (chain && k > 0) {
                j->needs[k] = names[k - 1];
                j->tasks[k].needs = &j->needs[k];
                j->tasks[k].nneeds = 1;
            }
            j->out[k] = (sched_sim_outcome_t){.hold_ms = dur(mean), .end = SCHED_END_EXIT};
            j->nout[k] = 1;
            j->outp[k] = &j->out[k];
        }
        snprintf(jnames[njobs], 16, "job%u", (unsigned)(njobs % 1000000000));
        j->spec = (sched_job_spec_t){
            .name = jnames[njobs], .seed = njobs + 1, .ntasks = n, .tasks = j->tasks};
        cairn_error_t err;
        if (sched_sim_job_add(sim, at, &j->spec, j->nout, j->outp, &err) < 0) {
            fprintf(stderr, "job add: %s\n", err.text);
            return 1;
        }
        made += n;
        njobs++;
    }
    double t1 = now_s();
    cairn_error_t err;
    if (sched_sim_run(sim, &err) < 0) {
        fprintf(stderr, "run: %s\n", err.text);
        return 1;
    }
    double t2 = now_s();
    size_t nspans;
    const sched_sim_span_t *spans = sched_sim_spans(sim, &nspans);
    sched_sim_report_t rep;
    if (sched_sim_measure(sim, spans, nspans, &rep) < 0)
        return 1;
    double t3 = now_s();
    sched_sim_stats_t st;
    sched_sim_stats(sim, &st);
    printf("what-if simulator: %u nodes (70%% 8x H100, 30%% CPU), %u days, %zu jobs, %u tasks "
           "(%u 1-GPU, %u 8-GPU, %u CPU)\n",
           nodes, days, njobs, tasks, ngpu1, ngpu8, ncpu);
    printf("setup %.2f s; run %.2f s: %llu events, %llu passes, %.0f events/s; metrics %.2f s\n",
           t1 - t0, t2 - t1, (unsigned long long)st.events, (unsigned long long)st.passes,
           (double)st.events / (t2 - t1), t3 - t2);
    printf("predicted: makespan %.1f h, wait p50 %.1f min p95 %.1f min, GPU utilisation %.1f%%, "
           "idle GPUs while GPU tasks waited %.1f%% of capacity; unplaced %u\n",
           (double)rep.makespan_ms / 3600000.0, (double)rep.wait_p50_ms / 60000.0,
           (double)rep.wait_p95_ms / 60000.0,
           rep.total.capacity_gpu_s > 0 ? 100.0 * rep.total.alloc_gpu_s / rep.total.capacity_gpu_s
                                        : 0.0,
           rep.total.capacity_gpu_s > 0
               ? 100.0 * rep.total.idle_waiting_gpu_s / rep.total.capacity_gpu_s
               : 0.0,
           st.unplaced);
    for (size_t i = 0; i < rep.nwaits; i++)
        printf("  %-12s %8llu attempts  wait p50 %8.1f min  p95 %8.1f min\n",
               sched_sim_shape_name(sim, rep.waits[i].shape),
               (unsigned long long)rep.waits[i].count, (double)rep.waits[i].p50_ms / 60000.0,
               (double)rep.waits[i].p95_ms / 60000.0);
    sched_sim_report_fini(&rep);
    sched_sim_destroy(sim);
    for (size_t i = 0; i < njobs; i++) {
        free(jobs[i].tasks);
        free(jobs[i].needs);
        free(jobs[i].nout);
        free(jobs[i].out);
        free(jobs[i].outp);
    }
    free(jobs);
    free(jnames);
    return 0;
}
