/* bench_restart: a scheduler state directory holding the journal of many
 * finished tasks, written fast through the scheduler's own code (the
 * journal's packing, the job spec's edge, the core, snapshots.h), for the
 * restart benchmark (tests/bench/restart.sh) and the figures of snapshots.
 *
 *   bench_restart --db STATE_DIR/journal.db --tasks N [--job-tasks K]
 *                 [--snapshot-every E] [--retire] [--backlog B]
 *
 * N tasks in jobs of K (default 1000), each placed on node w1 by the core's
 * own passes, started and finished with exit 0 at a synthetic time, as a
 * scheduler journals them; a
 * snapshot every E entries (default 50000, 0: none) in the commit that
 * reaches it, pruned as the scheduler prunes; --retire retires each job
 * once it ended (SCHED_EV_JOB_RETIRE, what --keep-finished journals);
 * --backlog B leaves one more job of B tasks waiting. At the end it prints
 * the state's snapshot: its size and the time to save it, hash it and load
 * it again (what a snapshot costs the loop, and a start). Stop the
 * scheduler first; the node must be named w1 when a worker joins. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "proto/sha256.h"
#include "scheduler/journal_pack.h"
#include "scheduler/snapshots.h"
#include "scheduler/stores.h"
#include "scheduling/snapshot.h"

typedef struct fill {
    stores_t *st;
    sched_t *core;
    uint64_t every, last_snap, snaps;
    int64_t now;
    double snap_ms;
    size_t snap_bytes;
} fill_t;

/* Microseconds, from the common clock's milliseconds (the figures here
 * are milliseconds and more). */
static int64_t mono_us(void)
{
    return cairn_mono_ms() * 1000;
}

static void die(const char *what, const cairn_error_t *err)
{
    fprintf(stderr, "bench_restart: %s: %s\n", what, err ? err->text : strerror(errno));
    exit(1);
}

/* Apply ev to the core and journal it (js and seed for a submit). */
static void put(fill_t *f, const sched_event_t *ev, const Cairn__JobSpec *js, uint64_t seed)
{
    cairn_error_t err = {{0}};
    uint8_t *buf = NULL;
    size_t len = 0;
    if (sched_apply(f->core, ev, &err) < 0)
        die("apply", &err);
    if (journal_event_pack(ev, js, seed, &buf, &len) < 0 ||
        journal_append(f->st->journal, buf, len, &err) < 0)
        die("journal", &err);
    free(buf);
}

/* Commit, with a snapshot when one is due (as the scheduler's loop). */
static void commit(fill_t *f)
{
    cairn_error_t err = {{0}};
    uint64_t head = journal_head(f->st->journal);
    if (f->every && head - f->last_snap >= f->every) {
        /* the scheduler forgets what its history recorded (all of it: the
         * history is marked complete, as a running scheduler's is) */
        sched_ended_trim(f->core, sched_ended_count(f->core));
        int64_t t0 = mono_us();
        size_t bytes = 0;
        if (snapshots_take(f->st->journal, f->core, f->now, &bytes, &err) < 0)
            die("snapshot", &err);
        f->snap_ms += (double)(mono_us() - t0) / 1000.0;
        f->snap_bytes = bytes;
        f->last_snap = head;
        f->snaps++;
    }
    if (journal_commit(f->st->journal, &err) < 0)
        die("commit", &err);
}

static void add_node(fill_t *f)
{
    static const uint64_t mem[] = {16ull << 30};
    static const int core_numa[] = {0, 0, 0, 0};
    sched_event_t ev = {.type = SCHED_EV_NODE_ADD, .time_ms = f->now};
    ev.u.node_add = (sched_node_desc_t){
        .name = "w1", .nnuma = 1, .numa_memory = mem, .ncores = 4, .core_numa = core_numa};
    put(f, &ev, NULL, 0);
}

/* A job of k tasks running /bin/true, one core each. */
static uint32_t submit(fill_t *f, uint32_t k, const char *name)
{
    static Cairn__ResourceRequest rr = CAIRN__RESOURCE_REQUEST__INIT;
    static char *argv[] = {"true"};
    static Cairn__TaskSpec *tp[1000000];
    static Cairn__TaskSpec *ts;
    static char(*names)[16];
    if (!ts) {
        ts = calloc(1000000, sizeof(*ts));
        names = calloc(1000000, 16);
        if (!ts || !names)
            die("out of memory", NULL);
    }
    rr.cpus = 1;
    for (uint32_t i = 0; i < k; i++) {
        ts[i] = (Cairn__TaskSpec)CAIRN__TASK_SPEC__INIT;
        snprintf(names[i], 16, "t%u", i);
        ts[i].name = names[i];
        ts[i].n_argv = 1;
        ts[i].argv = argv;
        ts[i].resources = &rr;
        tp[i] = &ts[i];
    }
    Cairn__JobSpec js = CAIRN__JOB_SPEC__INIT;
    js.name = (char *)name;
    js.n_tasks = k;
    js.tasks = tp;
    js.seed_present_case = CAIRN__JOB_SPEC__SEED_PRESENT_SEED;
    js.seed = 42;
    jobspec_errors_t errs = {0};
    jobspec_t *cj = NULL;
    uint64_t seed = jobspec_seed(&js);
    if (jobspec_build(&js, seed, &jobspec_default_limits, &cj, &errs) < 0)
        die("job spec", NULL);
    sched_event_t ev = {.type = SCHED_EV_JOB_SUBMIT, .time_ms = f->now};
    ev.u.submit = *jobspec_core(cj);
    put(f, &ev, &js, seed);
    jobspec_destroy(cj);
    jobspec_errors_fini(&errs);
    return sched_job_count(f->core);
}

/* The attempts one pass placed. */
typedef struct placed {
    fill_t *f;
    uint64_t ids[64];
    size_t n;
} placed_t;

static void placed_cb(const sched_event_t *ev, void *arg)
{
    placed_t *p = arg;
    cairn_error_t err = {{0}};
    uint8_t *buf = NULL;
    size_t len = 0;
    if (journal_event_pack(ev, NULL, 0, &buf, &len) < 0 ||
        journal_append(p->f->st->journal, buf, len, &err) < 0)
        die("journal", &err);
    free(buf);
    if (p->n < 64)
        p->ids[p->n++] = ev->u.place.attempt;
}

/* Run job to its end as the scheduler would: passes place its tasks on
 * w1 (four at a time), each starts and exits 0. */
static void run_job(fill_t *f, uint32_t job)
{
    size_t since = 0;
    while (!sched_job_done(f->core, job)) {
        placed_t p = {.f = f};
        if (sched_place(f->core, ++f->now, placed_cb, &p) <= 0)
            die("a pass placed nothing", NULL);
        for (size_t i = 0; i < p.n; i++) {
            sched_event_t st = {.type = SCHED_EV_START, .time_ms = f->now};
            st.u.start.attempt = p.ids[i];
            put(f, &st, NULL, 0);
        }
        ++f->now;
        for (size_t i = 0; i < p.n; i++) {
            sched_event_t fin = {.type = SCHED_EV_FINISH, .time_ms = f->now};
            fin.u.finish.attempt = p.ids[i];
            fin.u.finish.end = SCHED_END_EXIT;
            put(f, &fin, NULL, 0);
        }
        if ((since += p.n) >= 256) {
            commit(f);
            since = 0;
        }
    }
}

/* CPU time of this process, ms: on a shared machine the wall clock says
 * more about the others. */
static double cpu_ms(void)
{
    return (double)clock() * 1000.0 / CLOCKS_PER_SEC;
}

/* The final state's snapshot: size, save, hash and load times (wall and
 * CPU, the best of three). */
static void measure(const fill_t *f)
{
    uint8_t *data = NULL, sha[CAIRN_SHA256_LEN];
    size_t len = 0;
    cairn_error_t err = {{0}};
    double best[3][2] = {{1e18, 1e18}, {1e18, 1e18}, {1e18, 1e18}};
    sched_t *back = NULL;
    for (int round = 0; round < 3; round++) {
        free(data);
        sched_destroy(back);
        double w[4], c[4];
        w[0] = (double)mono_us(), c[0] = cpu_ms();
        if (sched_snapshot_save(f->core, &data, &len, &err) < 0)
            die("save", &err);
        w[1] = (double)mono_us(), c[1] = cpu_ms();
        cairn_sha256(data, len, sha);
        w[2] = (double)mono_us(), c[2] = cpu_ms();
        if (sched_snapshot_load(data, len, NULL, &back, &err) < 0)
            die("load", &err);
        w[3] = (double)mono_us(), c[3] = cpu_ms();
        for (int k = 0; k < 3; k++) {
            best[k][0] =
                (w[k + 1] - w[k]) / 1000.0 < best[k][0] ? (w[k + 1] - w[k]) / 1000.0 : best[k][0];
            best[k][1] = c[k + 1] - c[k] < best[k][1] ? c[k + 1] - c[k] : best[k][1];
        }
    }
    char *a = sched_dump(f->core), *b = sched_dump(back);
    sched_sizes_t z;
    sched_sizes(f->core, &z);
    printf("state: %zu jobs, %zu attempts in the core; snapshot %zu bytes; wall (CPU) ms: "
           "save %.0f (%.0f), SHA-256 %.0f (%.0f), load %.0f (%.0f); reloaded dump %s\n",
           z.jobs, z.attempts, len, best[0][0], best[0][1], best[1][0], best[1][1], best[2][0],
           best[2][1], a && b && !strcmp(a, b) ? "identical" : "DIFFERS");
    free(a);
    free(b);
    free(data);
    sched_destroy(back);
}

int main(int argc, char **argv)
{
    const char *db = NULL;
    unsigned long long n = 0, k = 1000, backlog = 0;
    fill_t f = {.every = 50000, .now = cairn_wall_ms() - 86400000};
    bool retire = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--db") && i + 1 < argc)
            db = argv[++i];
        else if (!strcmp(argv[i], "--tasks") && i + 1 < argc)
            n = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--job-tasks") && i + 1 < argc)
            k = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--snapshot-every") && i + 1 < argc)
            f.every = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--backlog") && i + 1 < argc)
            backlog = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--retire"))
            retire = true;
        else {
            fprintf(stderr, "usage: bench_restart --db PATH --tasks N [--job-tasks K] "
                            "[--snapshot-every E] [--retire] [--backlog B]\n");
            return 2;
        }
    }
    if (!db || k == 0 || k > 1000000 || backlog > 1000000) {
        fprintf(stderr, "bench_restart: --db and --tasks are needed (K, B at most 1000000)\n");
        return 2;
    }
    cairn_error_t err = {{0}};
    if (stores_open(db, &f.st, &err) < 0)
        die("open", &err);
    /* without prefetch: every placement here runs at once */
    sched_config_t sc = sched_config_daemon(false);
    if (!(f.core = sched_create(&sc)))
        die("out of memory", NULL);
    if (history_mark_complete(f.st->history, &err) < 0)
        die("history", &err);
    int64_t t0 = mono_us();
    add_node(&f);
    for (unsigned long long done = 0; done < n; done += k) {
        uint32_t kk = (uint32_t)(n - done < k ? n - done : k);
        uint32_t job = submit(&f, kk, "finished");
        run_job(&f, job);
        if (retire) {
            sched_event_t ev = {.type = SCHED_EV_JOB_RETIRE, .time_ms = ++f.now};
            ev.u.retire.job = job;
            put(&f, &ev, NULL, 0);
        }
        commit(&f);
    }
    if (backlog) {
        submit(&f, (uint32_t)backlog, "backlog");
        commit(&f);
    }
    printf("wrote %llu finished tasks%s in %.1f s: %llu journal entries, %llu in the events "
           "table; %llu snapshots (the last %zu bytes), %.1f ms each to write in the commit "
           "(save, hash, insert, prune)\n",
           n, retire ? " (jobs retired)" : "", (double)(mono_us() - t0) / 1e6,
           (unsigned long long)journal_head(f.st->journal),
           (unsigned long long)journal_count(f.st->journal), (unsigned long long)f.snaps,
           f.snap_bytes, f.snaps ? f.snap_ms / (double)f.snaps : 0.0);
    measure(&f);
    sched_destroy(f.core);
    stores_close(f.st);
    return 0;
}
