/* Retirement (SCHED_EV_JOB_RETIRE): a job that has ended leaves the
 * state, with its tasks and attempts; its ids are never given again, and
 * queries say it was retired rather than unknown. The memory it held is
 * given back, so a core that streams jobs through keeps only what lives. */
#include <criterion/criterion.h>

#include "leak_check.h"
#include "sched_fixtures.h"

static int retire(sched_t *s, fx_journal_t *j, uint32_t job, int64_t t)
{
    sched_event_t ev = {.type = SCHED_EV_JOB_RETIRE, .time_ms = t};
    ev.u.retire.job = job;
    return fx_apply(s, j, &ev);
}

/* One node of 4 cores; a job of n one-core tasks t0..t(n-1). */
static sched_t *small_cluster(fx_node_t *node, fx_journal_t *j)
{
    sched_t *s = sched_create(NULL);
    fx_node_init(node, "n0", 1, 4, 0, 0, NULL, 0, 16 * GiB);
    cr_assert_eq(fx_add_node(s, j, node), 0);
    return s;
}

static uint32_t submit_n(sched_t *s, fx_journal_t *j, uint32_t n, int64_t t)
{
    static char names[64][16];
    /* the journal borrows the spec: the last 8 stay */
    static sched_task_spec_t pool[8][64];
    static unsigned next;
    sched_task_spec_t *tasks = pool[next++ % 8];
    for (uint32_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof(names[i]), "t%u", i);
        tasks[i] = fx_task(names[i], 1, 0);
    }
    sched_job_spec_t spec = {.name = "job", .seed = 7, .ntasks = n, .tasks = tasks};
    cr_assert_eq(fx_submit(s, j, &spec, t), 0);
    return sched_job_count(s);
}

typedef struct placed {
    uint64_t ids[64];
    size_t n;
    fx_journal_t *j;
} placed_t;

static void placed_cb(const sched_event_t *ev, void *arg)
{
    placed_t *p = arg;
    if (p->n < 64)
        p->ids[p->n++] = ev->u.place.attempt;
    if (p->j)
        fx_journal_add(p->j, ev);
}

/* Place what fits at t and finish what was placed at t + 1. */
static void run_all(sched_t *s, fx_journal_t *j, int64_t t)
{
    placed_t p = {.j = j};
    cr_assert_geq(sched_place(s, t, placed_cb, &p), 0);
    for (size_t i = 0; i < p.n; i++)
        cr_assert_eq(fx_finish(s, j, p.ids[i], SCHED_END_EXIT, 0, t + 1), 0);
}

LEAK_TEST(retire, refused_until_every_task_ended)
{
    fx_node_t node;
    sched_t *s = small_cluster(&node, NULL);
    uint32_t job = submit_n(s, NULL, 6, 1); /* 4 run, 2 wait */
    fx_pass_t *p = calloc(1, sizeof(*p));
    cr_assert_eq(fx_place(s, NULL, 2, p), 4);
    char *before = sched_dump(s);
    cairn_error_t err = {{0}};
    sched_event_t ev = {.type = SCHED_EV_JOB_RETIRE, .time_ms = 3};
    ev.u.retire.job = job;
    cr_assert_eq(sched_apply(s, &ev, &err), SCHED_ECONFLICT);
    cr_expect_str_eq(err.text, "retire: job 1 has 6 of 6 tasks not ended");
    char *after = sched_dump(s);
    cr_expect_str_eq(before, after, "a refused retire changed the state");
    free(after);
    ev.u.retire.job = 2;
    cr_assert_eq(sched_apply(s, &ev, &err), SCHED_ENOENT);
    cr_expect_str_eq(err.text, "retire: unknown job 2");
    cr_expect_not(sched_job_retired(s, 2));
    cr_expect_not(sched_job_retired(s, 0));
    free(before);
    free(p);
    sched_destroy(s);
}

LEAK_TEST(retire, frees_the_job_and_keeps_its_ids)
{
    fx_node_t node;
    fx_journal_t j = {0};
    sched_t *s = small_cluster(&node, &j);
    uint32_t a = submit_n(s, &j, 3, 1);
    uint32_t b = submit_n(s, &j, 2, 1);
    run_all(s, &j, 2); /* 4 of the 5 tasks */
    run_all(s, &j, 4);
    cr_assert(sched_job_done(s, a) && sched_job_done(s, b));
    sched_job_info_t ji;
    cr_assert_eq(sched_job_meta(s, a, &ji), 0);
    cr_expect_eq(ji.done_ms, 3);
    uint64_t first = sched_task_attempt_id(s, a, 0);
    cr_assert_neq(first, 0);
    cr_assert_eq(retire(s, &j, a, 10), 0);
    /* gone, known as retired; its attempts too */
    cr_expect_eq(sched_job_meta(s, a, &ji), SCHED_ENOENT);
    cr_expect_eq(sched_job_info(s, a, &ji), SCHED_ENOENT);
    cr_expect(sched_job_retired(s, a));
    cr_expect_not(sched_job_retired(s, b));
    cr_expect_not(sched_job_done(s, a));
    cr_expect_null(sched_task_name(s, a, 0));
    uint32_t task;
    cr_expect_eq(sched_task_find(s, a, "t0", &task), SCHED_ENOENT);
    cr_expect_null(sched_explain(s, a, 0, 10));
    sched_attempt_info_t ai;
    cr_expect_eq(sched_attempt_get(s, first, &ai), SCHED_ENOENT);
    cr_expect(sched_attempt_retired(s, first));
    cr_expect_not(sched_attempt_retired(s, 99));
    sched_cancel_effect_t eff;
    cr_expect_eq(sched_cancel_effect(s, a, -1, &eff), SCHED_ENOENT);
    sched_event_t cancel = {.type = SCHED_EV_CANCEL, .time_ms = 11};
    cancel.u.cancel.job = a;
    cancel.u.cancel.task = -1;
    cr_expect_eq(fx_apply(s, NULL, &cancel), SCHED_ENOENT);
    cr_expect_eq(retire(s, NULL, a, 11), SCHED_ENOENT, "retired twice");
    /* ids are never given again */
    cr_expect_eq(sched_job_count(s), 2);
    uint32_t c = submit_n(s, &j, 1, 12);
    cr_expect_eq(c, 3);
    fx_pass_t *p = calloc(1, sizeof(*p));
    cr_assert_eq(fx_place(s, &j, 13, p), 1);
    cr_expect_eq(sched_task_attempt_id(s, c, 0), 6, "attempt ids go on after retired ones");
    uint64_t tasks[8];
    cr_expect_eq(sched_retired_count(s, tasks), 1);
    cr_expect_eq(tasks[SCHED_TASK_SUCCEEDED], 3);
    /* the dump says what left */
    char *dump = sched_dump(s);
    cr_expect_null(strstr(dump, "job 1 "), "%s", dump);
    cr_expect(strstr(dump, "retired 1 jobs, next job 4 attempt 7; tasks succeeded 3\n"), "%s",
              dump);
    /* a replay of the events gives the same state */
    sched_t *r = sched_create(NULL);
    for (size_t i = 0; i < j.n; i++)
        cr_assert_eq(sched_apply(r, &j.ev[i], NULL), 0, "event %zu", i);
    char *dr = sched_dump(r);
    cr_expect_str_eq(dump, dr);
    free(dr);
    free(dump);
    free(p);
    sched_destroy(r);
    sched_destroy(s);
    fx_journal_fini(&j);
}

/* A task cancelled in its backoff leaves a stale entry in the retry heap,
 * which orders by its task's time: retiring its job drops it, so nothing
 * reads the freed job (ASan would say so) and the next wake-up is that of
 * the task that still waits. */
LEAK_TEST(retire, drops_stale_retry_entries)
{
    fx_node_t node;
    sched_t *s = small_cluster(&node, NULL);
    static const char *const names[] = {"a", "b"};
    sched_task_spec_t t[2];
    for (int i = 0; i < 2; i++) {
        t[i] = fx_task(names[i], 1, 0);
        t[i].retry = (sched_retry_policy_t){
            .max_attempts = 3, .backoff_ms = 100 + 100 * i, .on = SCHED_RETRY_ANY_EXIT};
    }
    sched_job_spec_t j1 = {.name = "x", .seed = 1, .ntasks = 1, .tasks = &t[0]};
    sched_job_spec_t j2 = {.name = "y", .seed = 2, .ntasks = 1, .tasks = &t[1]};
    cr_assert_eq(fx_submit(s, NULL, &j1, 1), 0);
    cr_assert_eq(fx_submit(s, NULL, &j2, 1), 0);
    fx_pass_t *p = calloc(1, sizeof(*p));
    cr_assert_eq(fx_place(s, NULL, 2, p), 2);
    cr_assert_eq(fx_finish(s, NULL, 1, SCHED_END_EXIT, 1, 3), 0); /* a: retry at 103 */
    cr_assert_eq(fx_finish(s, NULL, 2, SCHED_END_EXIT, 1, 3), 0); /* b: retry at 203 */
    cr_expect_eq(sched_next_wakeup(s), 103);
    sched_event_t cancel = {.type = SCHED_EV_CANCEL, .time_ms = 4};
    cancel.u.cancel.job = 1;
    cancel.u.cancel.task = -1;
    cr_assert_eq(fx_apply(s, NULL, &cancel), 0);
    cr_expect_eq(sched_next_wakeup(s), 203, "a cancelled task's backoff wakes no one");
    cr_assert_eq(retire(s, NULL, 1, 5), 0);
    sched_sizes_t z;
    sched_sizes(s, &z);
    cr_expect_eq(z.retry_heap, 1);
    cr_expect_eq(sched_next_wakeup(s), 203);
    cr_assert_eq(fx_place(s, NULL, 150, p), 0);
    cr_assert_eq(fx_place(s, NULL, 250, p), 1);
    free(p);
    sched_destroy(s);
}

/* A reservation held for a task whose job is then cancelled and retired
 * is dropped with it: explaining another task names no freed task. */
LEAK_TEST(retire, drops_reservations_of_the_job)
{
    fx_node_t node;
    sched_t *s = small_cluster(&node, NULL);
    sched_task_spec_t small = fx_task("small", 1, 0), big = fx_task("big", 4, 0),
                      low = fx_task("low", 2, 0);
    small.time_limit_ms = 1000;
    big.priority = 5;
    sched_job_spec_t j1 = {.name = "runs", .seed = 1, .ntasks = 1, .tasks = &small};
    sched_job_spec_t j2 = {.name = "blocked", .seed = 2, .ntasks = 1, .tasks = &big};
    sched_job_spec_t j3 = {.name = "waits", .seed = 3, .ntasks = 1, .tasks = &low};
    cr_assert_eq(fx_submit(s, NULL, &j1, 1), 0);
    fx_pass_t *p = calloc(1, sizeof(*p));
    cr_assert_eq(fx_place(s, NULL, 2, p), 1);
    cr_assert_eq(fx_submit(s, NULL, &j2, 3), 0);
    cr_assert_eq(fx_submit(s, NULL, &j3, 3), 0);
    cr_assert_eq(fx_place(s, NULL, 4, p), 0); /* big reserves the node; low may not use it */
    char *why = sched_explain(s, 3, 0, 5);
    cr_expect(strstr(why, "reservation held for job 2 task big"), "%s", why);
    free(why);
    sched_event_t cancel = {.type = SCHED_EV_CANCEL, .time_ms = 5};
    cancel.u.cancel.job = 2;
    cancel.u.cancel.task = -1;
    cr_assert_eq(fx_apply(s, NULL, &cancel), 0);
    cr_assert_eq(retire(s, NULL, 2, 6), 0);
    why = sched_explain(s, 3, 0, 7);
    cr_expect_null(strstr(why, "reservation"), "%s", why);
    free(why);
    cr_assert_eq(fx_place(s, NULL, 8, p), 1, "low fits beside small now");
    free(p);
    sched_destroy(s);
}

/* Streaming 20,000 jobs through, each retired once it ended, the windows
 * of ids and the list of ended attempts stay as small as what lives. */
LEAK_TEST(retire, memory_follows_what_lives)
{
    fx_node_t node;
    sched_t *s = small_cluster(&node, NULL);
    int64_t t = 1;
    size_t max_room = 0;
    for (int i = 0; i < 20000; i++) {
        uint32_t job = submit_n(s, NULL, 2, t);
        run_all(s, NULL, t);
        t += 2;
        cr_assert(sched_job_done(s, job));
        /* the oldest job still there waits 10 more (a little backlog) */
        if (job > 10)
            cr_assert_eq(retire(s, NULL, job - 10, t), 0);
        sched_ended_trim(s, sched_ended_count(s));
        sched_sizes_t z;
        sched_sizes(s, &z);
        size_t room = z.job_room + z.attempt_room;
        max_room = room > max_room ? room : max_room;
    }
    sched_sizes_t z;
    sched_sizes(s, &z);
    cr_expect_eq(z.jobs, 10);
    cr_expect_eq(z.attempts, 20);
    cr_expect_eq(z.ended, 0);
    cr_expect_eq(sched_ended_count(s), 40000);
    cr_expect_leq(z.job_slots, 10);
    cr_expect_leq(max_room, 2 * 1024, "the windows grew to %zu slots", max_room);
    cr_expect_eq(sched_job_first(s), 19991);
    sched_destroy(s);
}

/* One job that stays (it never ends) holds the window at its id: what the
 * later jobs leave is a NULL slot each, and the room comes back once it
 * goes. */
LEAK_TEST(retire, an_old_job_pins_only_slots)
{
    fx_node_t node;
    sched_t *s = small_cluster(&node, NULL);
    uint32_t old = submit_n(s, NULL, 1, 1);
    sched_event_t start = {.type = SCHED_EV_START, .time_ms = 2};
    fx_pass_t *p = calloc(1, sizeof(*p));
    cr_assert_eq(fx_place(s, NULL, 2, p), 1);
    start.u.start.attempt = sched_task_attempt_id(s, old, 0); /* runs for ever */
    cr_assert_eq(fx_apply(s, NULL, &start), 0);
    int64_t t = 3;
    for (int i = 0; i < 5000; i++) {
        uint32_t job = submit_n(s, NULL, 1, t);
        run_all(s, NULL, t);
        t += 2;
        cr_assert_eq(retire(s, NULL, job, t), 0);
    }
    sched_sizes_t z;
    sched_sizes(s, &z);
    cr_expect_eq(z.jobs, 1);
    cr_expect_eq(z.job_slots, 5001, "pinned by job %u", old);
    cr_assert_eq(fx_finish(s, NULL, start.u.start.attempt, SCHED_END_EXIT, 0, t), 0);
    cr_assert_eq(retire(s, NULL, old, t), 0);
    sched_sizes(s, &z);
    cr_expect_eq(z.jobs, 0);
    cr_expect_eq(z.job_slots, 0);
    cr_expect_eq(z.attempt_slots, 0);
    cr_expect_leq(z.job_room, 1024);
    cr_expect_leq(z.attempt_room, 1024);
    free(p);
    sched_destroy(s);
}
