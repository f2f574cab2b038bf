/* Prefetch: on a full node, the next task of the same shape is queued
 * behind a running attempt and takes over its allocation the moment it
 * ends; node loss and cancellation end queued attempts cleanly; replaying
 * the journal gives the same state. */
#include <criterion/criterion.h>

#include "leak_check.h"
#include "sched_fixtures.h"

static fx_pass_t pass;

/* One node of 2 cores, prefetch on. */
static sched_t *two_cores(fx_node_t *n, fx_journal_t *j)
{
    sched_config_t cfg = {.max_reservations = 1, .prefetch = 1};
    sched_t *s = sched_create(&cfg);
    fx_node_init(n, "n0", 1, 2, 0, 0, NULL, 0, 8 * GiB);
    cr_assert_eq(fx_add_node(s, j, n), 0);
    return s;
}

static void start(sched_t *s, fx_journal_t *j, uint64_t attempt, int expect)
{
    sched_event_t ev = {.type = SCHED_EV_START, .time_ms = 1};
    ev.u.start.attempt = attempt;
    cr_assert_eq(fx_apply(s, j, &ev), expect, "start a%llu", (unsigned long long)attempt);
}

static bool queued(sched_t *s, uint64_t attempt)
{
    sched_attempt_info_t ai;
    cr_assert_eq(sched_attempt_get(s, attempt, &ai), 0);
    return ai.queued;
}

LEAK_TEST(prefetch, queued_behind_running_attempts_and_take_over)
{
    fx_node_t n;
    fx_journal_t j = {0};
    sched_t *s = two_cores(&n, &j);
    sched_task_spec_t t[5] = {fx_task("t0", 1, 0), fx_task("t1", 1, 0), fx_task("t2", 1, 0),
                              fx_task("t3", 1, 0), fx_task("t4", 1, 0)};
    sched_job_spec_t job = {.name = "j", .seed = 1, .ntasks = 5, .tasks = t};
    cr_assert_eq(fx_submit(s, &j, &job, 0), 0);
    cr_assert_eq(fx_place(s, &j, 0, &pass), 4);
    cr_expect_str_eq(pass.buf, "job1 t0 a1 -> n0 core[0] mem=0\n"
                               "job1 t1 a2 -> n0 core[1] mem=0\n"
                               "job1 t2 a3 -> n0 core[0] mem=0 after a1\n"
                               "job1 t3 a4 -> n0 core[1] mem=0 after a2");
    cr_expect(queued(s, 3) && queued(s, 4) && !queued(s, 1));
    start(s, &j, 1, 0);
    start(s, &j, 3, SCHED_ECONFLICT); /* still queued */
    /* a1 ends: a3 takes core 0 at once, no pass needed */
    cr_assert_eq(fx_finish(s, &j, 1, SCHED_END_EXIT, 0, 2), 0);
    cr_expect(!queued(s, 3));
    start(s, &j, 3, 0);
    /* the next pass queues t4 behind a3 (a2 already has a successor) */
    cr_assert_eq(fx_place(s, &j, 3, &pass), 1);
    cr_expect_str_eq(pass.buf, "job1 t4 a5 -> n0 core[0] mem=0 after a3");
    cr_assert_eq(fx_place(s, &j, 3, &pass), 0);
    for (uint64_t a = 2; a <= 5; a++) {
        if (a == 2 || a == 4 || a == 5)
            start(s, &j, a, 0);
        cr_assert_eq(fx_finish(s, &j, a, SCHED_END_EXIT, 0, 4), 0, "a%llu",
                     (unsigned long long)a);
    }
    sched_job_info_t ji;
    sched_job_info(s, 1, &ji);
    cr_expect_eq(ji.count[SCHED_TASK_SUCCEEDED], 5);
    sched_node_usage_t u;
    cr_assert_eq(sched_node_usage(s, 0, &u), 0);
    cr_expect_eq(u.free_cores, 2, "everything released");
    /* the journal replays to the same state */
    sched_config_t cfg = {.max_reservations = 1, .prefetch = 1};
    sched_t *r = sched_create(&cfg);
    for (size_t i = 0; i < j.n; i++)
        cr_assert_eq(sched_apply(r, &j.ev[i], NULL), 0, "replay event %zu", i);
    char *d1 = sched_dump(s), *d2 = sched_dump(r);
    cr_expect_str_eq(d1, d2);
    cr_expect(strstr(d1, "after=1") != NULL, "%s", d1);
    free(d1);
    free(d2);
    sched_destroy(r);
    sched_destroy(s);
    fx_journal_fini(&j);
}

LEAK_TEST(prefetch, node_loss_and_cancel_end_queued_attempts)
{
    fx_node_t n;
    sched_t *s = two_cores(&n, NULL);
    sched_task_spec_t t[4] = {fx_task("t0", 1, 0), fx_task("t1", 1, 0), fx_task("t2", 1, 0),
                              fx_task("t3", 1, 0)};
    sched_job_spec_t job = {.name = "j", .seed = 1, .ntasks = 4, .tasks = t};
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 4);
    /* the worker cancels a4 before it starts: a2 runs on alone */
    cr_assert_eq(fx_finish(s, NULL, 4, SCHED_END_CANCELLED, 0, 1), 0);
    cr_assert_eq(fx_finish(s, NULL, 2, SCHED_END_EXIT, 0, 2), 0);
    sched_node_usage_t u;
    cr_assert_eq(sched_node_usage(s, 0, &u), 0);
    cr_expect_eq(u.free_cores, 1, "a1 only: a2 ended, its cancelled successor holds nothing");
    /* the node goes down: a1 and a3 queued behind it are both node-lost */
    sched_event_t down = {.type = SCHED_EV_NODE_STATE, .time_ms = 3};
    down.u.node_state.node = 0;
    down.u.node_state.state = SCHED_NODE_DOWN;
    cr_assert_eq(sched_apply(s, &down, NULL), 0);
    sched_attempt_info_t ai;
    cr_assert_eq(sched_attempt_get(s, 3, &ai), 0);
    cr_expect_eq(ai.end, SCHED_END_NODE_LOST);
    cr_expect(!ai.queued);
    cr_assert_eq(sched_node_usage(s, 0, &u), 0);
    cr_expect_eq(u.free_cores, 2);
    sched_destroy(s);
}

LEAK_TEST(prefetch, off_by_default)
{
    fx_node_t n;
    sched_t *s = sched_create(NULL);
    fx_node_init(&n, "n0", 1, 2, 0, 0, NULL, 0, 8 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &n), 0);
    sched_task_spec_t t[3] = {fx_task("t0", 1, 0), fx_task("t1", 1, 0), fx_task("t2", 1, 0)};
    sched_job_spec_t job = {.name = "j", .seed = 1, .ntasks = 3, .tasks = t};
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 2);
    sched_destroy(s);
}

LEAK_TEST(prefetch, lines_of_two_move_up_and_end_together)
{
    fx_node_t n;
    sched_config_t cfg = {.max_reservations = 1, .prefetch = 2};
    sched_t *s = sched_create(&cfg);
    fx_node_init(&n, "n0", 1, 1, 0, 0, NULL, 0, 8 * GiB);
    cr_assert_eq(fx_add_node(s, NULL, &n), 0);
    sched_task_spec_t t[5] = {fx_task("t0", 1, 0), fx_task("t1", 1, 0), fx_task("t2", 1, 0),
                              fx_task("t3", 1, 0), fx_task("t4", 1, 0)};
    sched_job_spec_t job = {.name = "j", .seed = 1, .ntasks = 5, .tasks = t};
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 3);
    cr_expect_str_eq(pass.buf, "job1 t0 a1 -> n0 core[0] mem=0\n"
                               "job1 t1 a2 -> n0 core[0] mem=0 after a1\n"
                               "job1 t2 a3 -> n0 core[0] mem=0 after a2");
    /* a2 is cancelled before it starts: a3 moves up behind a1 */
    cr_assert_eq(fx_finish(s, NULL, 2, SCHED_END_CANCELLED, 0, 1), 0);
    sched_attempt_info_t ai;
    cr_assert_eq(sched_attempt_get(s, 3, &ai), 0);
    cr_expect_eq(ai.after, 1);
    cr_expect(ai.queued);
    /* the line has room again: t3 joins behind a3 */
    cr_assert_eq(fx_place(s, NULL, 1, &pass), 1);
    cr_expect_str_eq(pass.buf, "job1 t3 a4 -> n0 core[0] mem=0 after a3");
    /* a1 ends: a3 runs, a4 waits behind it */
    cr_assert_eq(fx_finish(s, NULL, 1, SCHED_END_EXIT, 0, 2), 0);
    cr_assert_eq(sched_attempt_get(s, 3, &ai), 0);
    cr_expect(!ai.queued);
    cr_assert_eq(sched_attempt_get(s, 4, &ai), 0);
    cr_expect(ai.queued && ai.after == 3);
    /* the node goes down: a3 and the line behind it are node-lost */
    cr_assert_eq(fx_place(s, NULL, 2, &pass), 1); /* t4 behind a4 */
    uint64_t on[8];
    cr_assert_eq(sched_node_attempts(s, 0, on, 8), 3, "the whole line is on the node");
    cr_expect(on[0] == 3 && on[1] == 4 && on[2] == 5);
    sched_event_t down = {.type = SCHED_EV_NODE_STATE, .time_ms = 3};
    down.u.node_state.node = 0;
    down.u.node_state.state = SCHED_NODE_DOWN;
    cr_assert_eq(sched_apply(s, &down, NULL), 0);
    for (uint64_t a = 3; a <= 5; a++) {
        cr_assert_eq(sched_attempt_get(s, a, &ai), 0);
        cr_expect_eq(ai.end, SCHED_END_NODE_LOST, "a%llu", (unsigned long long)a);
        cr_expect(!ai.queued);
    }
    sched_node_usage_t u;
    cr_assert_eq(sched_node_usage(s, 0, &u), 0);
    cr_expect_eq(u.free_cores, 1);
    sched_destroy(s);
}

static void start_at(sched_t *s, fx_journal_t *j, uint64_t attempt, int64_t t)
{
    sched_event_t ev = {.type = SCHED_EV_START, .time_ms = t};
    ev.u.start.attempt = attempt;
    cr_assert_eq(fx_apply(s, j, &ev), 0, "start a%llu", (unsigned long long)attempt);
}

/* Lines grow past .prefetch for a class whose attempts run short (as many
 * as fit in the window at its running average, at most prefetch_max) and
 * stay at .prefetch for long ones; the journal replays to the same. */
static void run_one_then_place(int64_t run_ms, int expect_queued)
{
    fx_node_t n;
    fx_journal_t j = {0};
    sched_config_t cfg = {
        .max_reservations = 1, .prefetch = 1, .prefetch_max = 4, .prefetch_window_ms = 20};
    sched_t *s = sched_create(&cfg);
    fx_node_init(&n, "n0", 1, 1, 0, 0, NULL, 0, 8 * GiB);
    cr_assert_eq(fx_add_node(s, &j, &n), 0);
    sched_task_spec_t t[12];
    char names[12][8];
    for (int i = 0; i < 12; i++) {
        snprintf(names[i], sizeof(names[i]), "t%d", i);
        t[i] = fx_task(names[i], 1, 0);
    }
    sched_job_spec_t job = {.name = "j", .seed = 1, .ntasks = 12, .tasks = t};
    cr_assert_eq(fx_submit(s, &j, &job, 0), 0);
    /* nothing ran yet: lines of .prefetch */
    cr_assert_eq(fx_place(s, &j, 0, &pass), 2);
    cr_expect_str_eq(pass.buf, "job1 t0 a1 -> n0 core[0] mem=0\n"
                               "job1 t1 a2 -> n0 core[0] mem=0 after a1");
    start_at(s, &j, 1, 10);
    cr_assert_eq(fx_finish(s, &j, 1, SCHED_END_EXIT, 0, 10 + run_ms), 0);
    start_at(s, &j, 2, 10 + run_ms);
    int placed = fx_place(s, &j, 10 + run_ms, &pass);
    cr_expect_eq(placed, expect_queued, "run %lld ms: %s", (long long)run_ms, pass.buf);
    sched_attempt_info_t ai;
    for (uint64_t a = 3; a < 3 + (uint64_t)placed; a++) {
        cr_assert_eq(sched_attempt_get(s, a, &ai), 0);
        cr_expect(ai.queued && ai.after == a - 1, "a%llu queued behind a%llu",
                  (unsigned long long)a, (unsigned long long)a - 1);
    }
    sched_t *r = sched_create(&cfg);
    for (size_t i = 0; i < j.n; i++)
        cr_assert_eq(sched_apply(r, &j.ev[i], NULL), 0, "replay event %zu", i);
    /* the replayed state places the same (nothing more: lines are full) */
    char *d1 = sched_dump(s), *d2 = sched_dump(r);
    cr_expect_str_eq(d1, d2);
    free(d1);
    free(d2);
    cr_expect_eq(sched_place(r, 10 + run_ms, NULL, NULL), 0);
    cr_expect_eq(sched_place(s, 10 + run_ms, NULL, NULL), 0);
    sched_destroy(r);
    sched_destroy(s);
    fx_journal_fini(&j);
}

LEAK_TEST(prefetch, lines_grow_for_short_tasks_only)
{
    run_one_then_place(0, 4);   /* under a millisecond: the most, 4 */
    run_one_then_place(2, 4);   /* 20 / 2 = 10, at most 4 */
    run_one_then_place(8, 2);   /* 20 / 8 = 2 */
    run_one_then_place(100, 1); /* long: .prefetch */
}

static void expect_explain(sched_t *s, uint32_t task, int64_t now, const char *want)
{
    char *why = sched_explain(s, 1, task, now);
    cr_expect_str_eq(why, want);
    free(why);
}

/* Explanations say what `cairn status` says: a task queued behind another
 * is "queued on node", and pending where a dependent names it; one
 * cancelled while queued never started. */
LEAK_TEST(prefetch, queued_tasks_explained_as_status_shows_them)
{
    fx_node_t n;
    sched_t *s = two_cores(&n, NULL);
    static const char *const on_t2[] = {"t2"};
    sched_task_spec_t t[5] = {fx_task("t0", 1, 0), fx_task("t1", 1, 0), fx_task("t2", 1, 0),
                              fx_task("t3", 1, 0), fx_task("t4", 1, 0)};
    t[4].needs = on_t2, t[4].nneeds = 1;
    sched_job_spec_t job = {.name = "j", .seed = 1, .ntasks = 5, .tasks = t};
    cr_assert_eq(fx_submit(s, NULL, &job, 0), 0);
    cr_assert_eq(fx_place(s, NULL, 0, &pass), 4); /* t2 behind a1, t3 behind a2 */
    cr_expect(queued(s, 3) && queued(s, 4));
    expect_explain(s, 2, 1, "job 1 task t2: queued on node n0: starts when attempt 1 ends");
    expect_explain(s, 4, 1, "job 1 task t4: waiting for dependencies: dependency t2 pending");
    /* t3 cancelled while queued; t0 cancelled after it started */
    start(s, NULL, 1, 0);
    for (int64_t k = 0; k <= 3; k += 3) {
        sched_event_t ev = {.type = SCHED_EV_CANCEL, .time_ms = 2};
        ev.u.cancel.job = 1;
        ev.u.cancel.task = k;
        cr_assert_eq(sched_apply(s, &ev, NULL), 0);
    }
    cr_assert_eq(fx_finish(s, NULL, 4, SCHED_END_CANCELLED, 0, 3), 0);
    cr_assert_eq(fx_finish(s, NULL, 1, SCHED_END_CANCELLED, 0, 3), 0);
    expect_explain(s, 3, 4,
                   "job 1 task t3: cancelled: attempt 1 on n0 ended (cancelled before it started)");
    expect_explain(s, 0, 4, "job 1 task t0: cancelled: attempt 1 on n0 ended (cancelled)");
    sched_destroy(s);
}
