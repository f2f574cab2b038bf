/* Writes seed inputs for the fuzz targets from the example specs:
 *   gen_corpus OUTDIR SPEC.yaml...
 * For each spec: OUTDIR/convert/<n> (a SubmitRequest payload),
 * OUTDIR/envelope/<n> (the same as a whole SUBMIT message) and
 * OUTDIR/journal/<n> (a journal: submit, place, start, finish, cancel, node
 * state, accounts, a preemption; in fuzz_journal's length-prefixed framing) and
 * OUTDIR/snapshot/<n> (the core's snapshots: an account tree, the job
 * charged to one of its accounts and placed where it fits, then with those
 * attempts ended; and OUTDIR/snapshot/900-901: a preemption in progress,
 * then after one victim ended). Built with the fuzz
 * targets; its output is committed under corpus/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/spec.h"
#include "fuzz_common.h"
#include "proto/envelope.h"
#include "scheduler/jobspec.h"
#include "scheduler/journal_pack.h"
#include "scheduling/snapshot.h"

static void write_file(const char *dir, const char *sub, int n, const void *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s/seed%d", dir, sub, n);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void frame(uint8_t **j, size_t *jl, const uint8_t *buf, size_t len)
{
    *j = realloc(*j, *jl + 2 + len);
    (*j)[*jl] = (uint8_t)(len >> 8);
    (*j)[*jl + 1] = (uint8_t)len;
    memcpy(*j + *jl + 2, buf, len);
    *jl += 2 + len;
}

static void placed_cb(const sched_event_t *ev, void *arg)
{
    uint64_t *ids = arg;
    if (ids[0] < 15)
        ids[++ids[0]] = ev->u.place.attempt;
}

/* Two accounts, a parent with a GPU limit and a child with limits and a
 * priority cap, so account events and account state reach the targets. */
static const sched_account_spec_t accounts[2] = {
    {.name = "research",
     .share = 3,
     .max_gpus = 4,
     .max_cpus = SCHED_UNLIMITED,
     .max_running = SCHED_UNLIMITED,
     .max_priority = SCHED_NO_PRIORITY_CAP},
    {.name = "vision",
     .parent = "research",
     .share = 2,
     .max_gpus = 2,
     .max_cpus = 64,
     .max_running = 8,
     .max_priority = 100},
};

/* The core's snapshots on fuzz_common.h's cluster: the account tree, the
 * job charged to "vision", submitted and placed where it fits, then with
 * what was placed ended. */
static void snapshots(const char *dir, int n, const sched_job_spec_t *spec)
{
    sched_t *s = fuzz_sched_create();
    for (size_t i = 0; i < 2; i++) {
        sched_event_t a = {
            .type = SCHED_EV_ACCOUNT_SET, .time_ms = 1, .u.account_set = accounts[i]};
        (void)sched_apply(s, &a, NULL);
    }
    sched_event_t ev = {.type = SCHED_EV_JOB_SUBMIT, .time_ms = 2, .u.submit = *spec};
    ev.u.submit.account = "vision";
    uint64_t ids[16] = {0};
    uint8_t *buf;
    size_t len;
    if (sched_apply(s, &ev, NULL) == 0 && sched_place(s, 3, placed_cb, ids) >= 0 &&
        sched_snapshot_save(s, &buf, &len, NULL) == 0) {
        write_file(dir, "snapshot", 10 * n, buf, len);
        free(buf);
        for (uint64_t i = 1; i <= ids[0]; i++) {
            sched_event_t fin = {.type = SCHED_EV_FINISH, .time_ms = 4};
            fin.u.finish.attempt = ids[i];
            fin.u.finish.end = i % 2 ? SCHED_END_EXIT : SCHED_END_NODE_LOST;
            (void)sched_apply(s, &fin, NULL);
        }
        if (sched_snapshot_save(s, &buf, &len, NULL) == 0) {
            write_file(dir, "snapshot", 10 * n + 1, buf, len);
            free(buf);
        }
    }
    sched_destroy(s);
}

static void preempt_cb(const sched_event_t *ev, void *arg)
{
    (void)ev;
    (void)arg;
}

/* A preemption in progress, and after it: two preemptible low-priority
 * tasks hold the node's GPUs, a priority-100 task needing both preempts
 * them (a hold through the grace: snapshot 900), then one victim has
 * ended preempted (901). Snapshot format 3's preemption state. */
static void preempt_snapshots(const char *dir)
{
    sched_t *s = fuzz_sched_create();
    static const char *const argv[] = {"true", NULL};
    sched_task_spec_t low[2] = {
        {.name = "low0",
         .argc = 1,
         .argv = argv,
         .req = {.cpus = 1, .gpus = 1},
         .replicas = 1,
         .preemptible = true,
         .grace_ms = 30000},
        {.name = "low1",
         .argc = 1,
         .argv = argv,
         .req = {.cpus = 1, .gpus = 1},
         .replicas = 1,
         .preemptible = true,
         .grace_ms = 30000},
    };
    sched_task_spec_t high = {.name = "eval",
                              .argc = 1,
                              .argv = argv,
                              .req = {.cpus = 1, .gpus = 2},
                              .replicas = 1,
                              .priority = 100};
    sched_event_t ev = {.type = SCHED_EV_JOB_SUBMIT, .time_ms = 2};
    ev.u.submit = (sched_job_spec_t){.name = "sweep", .seed = 1, .ntasks = 2, .tasks = low};
    uint8_t *buf;
    size_t len;
    cairn_error_t err;
    if (sched_apply(s, &ev, &err) < 0 || sched_place(s, 3, preempt_cb, NULL) < 0) {
        fprintf(stderr, "gen_corpus: preemption seed: %s\n", err.text);
        goto out;
    }
    for (uint64_t a = 1; a <= 2; a++) {
        sched_event_t st = {.type = SCHED_EV_START, .time_ms = 4, .u.start.attempt = a};
        (void)sched_apply(s, &st, NULL);
    }
    ev.time_ms = 5;
    ev.u.submit = (sched_job_spec_t){.name = "urgent", .seed = 2, .ntasks = 1, .tasks = &high};
    if (sched_apply(s, &ev, &err) < 0 || sched_place(s, 6, preempt_cb, NULL) < 0) {
        fprintf(stderr, "gen_corpus: preemption seed: %s\n", err.text);
        goto out;
    }
    if (sched_snapshot_save(s, &buf, &len, NULL) == 0) {
        write_file(dir, "snapshot", 900, buf, len);
        free(buf);
    }
    sched_event_t fin = {.type = SCHED_EV_FINISH, .time_ms = 7};
    fin.u.finish.attempt = 1;
    fin.u.finish.end = SCHED_END_PREEMPTED;
    (void)sched_apply(s, &fin, NULL);
    if (sched_snapshot_save(s, &buf, &len, NULL) == 0) {
        write_file(dir, "snapshot", 901, buf, len);
        free(buf);
    }
out:
    sched_destroy(s);
}

static void journal(const char *dir, int n, const Cairn__JobSpec *js)
{
    jobspec_errors_t errs = {0};
    jobspec_t *cj = NULL;
    uint64_t seed = jobspec_seed(js);
    if (jobspec_build(js, seed, NULL, &cj, &errs) != 0) {
        jobspec_errors_fini(&errs);
        return;
    }
    uint8_t *j = NULL, *buf;
    size_t jl = 0, len;
    static const uint32_t cores[2] = {0, 1};
    sched_alloc_desc_t alloc = {.node = 1, .ncores = 2, .cores = cores, .memory_bytes = 1 << 20};
    static const uint64_t victims[1] = {1};
    sched_event_t evs[11] = {
        {.type = SCHED_EV_ACCOUNT_SET, .time_ms = 1},
        {.type = SCHED_EV_ACCOUNT_SET, .time_ms = 1},
        {.type = SCHED_EV_JOB_SUBMIT, .time_ms = 2},
        {.type = SCHED_EV_PLACE, .time_ms = 3},
        {.type = SCHED_EV_START, .time_ms = 4},
        {.type = SCHED_EV_FINISH, .time_ms = 5},
        {.type = SCHED_EV_CANCEL, .time_ms = 6},
        {.type = SCHED_EV_NODE_STATE, .time_ms = 7},
        {.type = SCHED_EV_NODE_REMOVE, .time_ms = 8},
        {.type = SCHED_EV_ACCOUNT_DELETE, .time_ms = 9},
        {.type = SCHED_EV_PREEMPT, .time_ms = 10},
    };
    evs[10].u.preempt.job = 1;
    evs[10].u.preempt.task = 0;
    evs[10].u.preempt.nvictims = 1;
    evs[10].u.preempt.victims = victims;
    evs[10].u.preempt.grace_end_ms = 30010;
    evs[0].u.account_set = accounts[0];
    evs[1].u.account_set = accounts[1];
    evs[9].u.account_delete.name = "vision";
    sched_event_t *e = evs + 2; /* the job's events, in the order they happen */
    e[0].u.submit = *jobspec_core(cj);
    e[0].u.submit.account = "vision";
    e[1].u.place.job = 1;
    e[1].u.place.task = 0;
    e[1].u.place.attempt = 1;
    e[1].u.place.nreplicas = 1;
    e[1].u.place.allocs = &alloc;
    e[2].u.start.attempt = 1;
    e[3].u.finish.attempt = 1;
    e[3].u.finish.end = SCHED_END_EXIT;
    e[4].u.cancel.job = 1;
    e[5].u.node_state.node = 1;
    e[5].u.node_state.state = SCHED_NODE_DOWN;
    e[6].u.node_remove.node = 1;
    for (size_t i = 0; i < 11; i++)
        if (journal_event_pack(&evs[i], js, seed, &buf, &len) == 0) {
            frame(&j, &jl, buf, len);
            free(buf);
        }
    write_file(dir, "journal", n, j, jl);
    snapshots(dir, n, jobspec_core(cj));
    free(j);
    jobspec_destroy(cj);
}

/* AssignTask envelopes for the worker's conversion (fuzz_assign). */
static void assignments(const char *dir)
{
    static char *argv[] = {"/bin/sh", "-c", "echo $CAIRN_SEED"};
    uint32_t cores[] = {0, 1, 16, 17};
    Cairn__GpuRef g[2] = {CAIRN__GPU_REF__INIT, CAIRN__GPU_REF__INIT}, *gp[2] = {&g[0], &g[1]};
    g[0].index = 0, g[1].index = 5, g[1].uuid = "GPU-fuzz";
    Cairn__KeyValue kv = CAIRN__KEY_VALUE__INIT, *kvp[1] = {&kv};
    kv.key = "LR", kv.value = "0.1";
    for (int n = 0; n < 3; n++) {
        Cairn__AssignTask a = CAIRN__ASSIGN_TASK__INIT;
        a.attempt_id = 7 + (uint64_t)n, a.job_id = 3, a.task_name = "train";
        a.attempt_number = 1, a.n_argv = n == 0 ? 1 : 3, a.argv = argv + (n == 0 ? 2 : 0);
        a.shell = n == 0, a.seed = 42, a.world_size = n == 2 ? 2 : 1, a.rank = n == 2;
        a.rendezvous_addr = "10.0.0.1", a.rendezvous_port = 29500;
        a.n_cores = (size_t)(1 + n), a.cores = cores;
        a.n_gpus = (size_t)n, a.gpus = gp;
        a.n_env = 1, a.env = kvp;
        a.memory_limit_bytes = (uint64_t)n << 30, a.time_limit_ms = 1000 * (uint64_t)n;
        a.user = n == 1 ? "alice" : "", a.after_attempt_id = n == 2 ? 5 : 0;
        uint8_t *buf;
        size_t len;
        cairn_error_t err;
        if (cairn_msg_encode(CAIRN_MSG_ASSIGN_TASK, &a.base, &buf, &len, &err) == 0) {
            write_file(dir, "assign", n + 1, buf, len);
            free(buf);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: gen_corpus OUTDIR SPEC.yaml...\n");
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        Cairn__JobSpec *js = NULL;
        spec_errors_t errs = {0};
        if (spec_load(argv[i], &js, &errs) != 0) {
            fprintf(stderr, "%s: refused, skipped\n", argv[i]);
            spec_errors_fini(&errs);
            continue;
        }
        free(js->submitter);
        js->submitter = strdup("fuzz"); /* not whoever generated the corpus */
        Cairn__SubmitRequest r = CAIRN__SUBMIT_REQUEST__INIT;
        r.job = js;
        size_t len = cairn__submit_request__get_packed_size(&r);
        uint8_t *buf = malloc(len + 1);
        cairn__submit_request__pack(&r, buf);
        write_file(argv[1], "convert", i - 1, buf, len);
        free(buf);
        cairn_error_t err;
        if (cairn_msg_encode(CAIRN_MSG_SUBMIT, &r.base, &buf, &len, &err) == 0) {
            write_file(argv[1], "envelope", i - 1, buf, len);
            free(buf);
        }
        journal(argv[1], i - 1, js);
        spec_free(js);
    }
    assignments(argv[1]);
    preempt_snapshots(argv[1]);
    return 0;
}
