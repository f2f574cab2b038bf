/* Preemption in the core: a ready task that fits nowhere stops
 * preemptible running attempts (one SCHED_EV_PREEMPT per decision), the
 * nodes they free are held for it through their grace, the victims end
 * preempted and are ready again with no retry used; fair share, gangs,
 * max_preemptions, limits and the victim order; explanations, census,
 * snapshots and replay. */
#include <criterion/criterion.h>

#include "leak_check.h"
#include "sched_fixtures.h"
#include "scheduling/snapshot.h"

/* Events of one pass: placements and preemptions as strings, counted. */
typedef struct pass {
    sched_t *s;
    fx_journal_t *j;
    char buf[4096];
    size_t len;
    int places, preempts;
    sched_event_t last_preempt;
    uint64_t victims[16];
} pass_t;

static void pass_cb(const sched_event_t *ev, void *arg)
{
    pass_t *p = arg;
    char *str = sched_place_str(p->s, ev);
    cr_assert_not_null(str);
    p->len +=
        (size_t)snprintf(p->buf + p->len, sizeof(p->buf) - p->len, "%s%s", p->len ? "\n" : "", str);
    free(str);
    if (ev->type == SCHED_EV_PLACE)
        p->places++;
    if (ev->type == SCHED_EV_PREEMPT) {
        p->preempts++;
        p->last_preempt = *ev;
        cr_assert_leq(ev->u.preempt.nvictims, 16);
        memcpy(p->victims, ev->u.preempt.victims, ev->u.preempt.nvictims * sizeof(uint64_t));
        p->last_preempt.u.preempt.victims = p->victims;
    }
    if (p->j)
        fx_journal_add(p->j, ev);
}

static int place(sched_t *s, fx_journal_t *j, int64_t now, pass_t *p)
{
    memset(p, 0, sizeof(*p));
    p->s = s;
    p->j = j;
    int rc = sched_place(s, now, pass_cb, p);
    cr_assert_geq(rc, 0);
    return rc;
}

static void start(sched_t *s, fx_journal_t *j, uint64_t attempt, int64_t t)
{
    sched_event_t ev = {.type = SCHED_EV_START, .time_ms = t, .u.start.attempt = attempt};
    cr_assert_eq(fx_apply(s, j, &ev), 0);
}

static sched_task_spec_t low_task(const char *name, uint32_t cpus, int64_t grace)
{
    sched_task_spec_t t = fx_task(name, cpus, 0);
    t.preemptible = true;
    t.grace_ms = grace;
    return t;
}

static char *explain(sched_t *s, uint32_t job, uint32_t task, int64_t now)
{
    char *e = sched_explain(s, job, task, now);
    cr_assert_not_null(e);
    return e;
}

static void expect_explain(sched_t *s, uint32_t job, uint32_t task, int64_t now, const char *want)
{
    char *e = explain(s, job, task, now);
    cr_expect_str_eq(e, want);
    free(e);
}

static void expect_explain_has(sched_t *s, uint32_t job, uint32_t task, int64_t now,
                               const char *want)
{
    char *e = explain(s, job, task, now);
    cr_expect(strstr(e, want) != NULL, "explain: %s\nwants: %s", e, want);
    free(e);
}

/* The state a journal gives, replayed from nothing, is the state. */
static void replay_matches(sched_t *s, fx_journal_t *j, const sched_config_t *cfg)
{
    sched_t *r = sched_create(cfg);
    for (size_t i = 0; i < j->n; i++) {
        cairn_error_t err = {{0}};
        cr_assert_eq(sched_apply(r, &j->ev[i], &err), 0, "event %zu (%s): %s", i,
                     sched_event_type_name(j->ev[i].type), err.text);
    }
    char *a = sched_dump(s), *b = sched_dump(r);
    cr_assert_str_eq(a, b);
    free(a);
    free(b);
    sched_destroy(r);
}

/* A snapshot of s loads to the same state, and saves to the same bytes. */
static void snapshot_matches(sched_t *s, const sched_config_t *cfg)
{
    uint8_t *snap = NULL, *again = NULL;
    size_t len = 0, len2 = 0;
    cairn_error_t err = {{0}};
    cr_assert_eq(sched_snapshot_save(s, &snap, &len, &err), 0);
    cr_assert_eq(sched_snapshot_version(snap, len), SCHED_SNAPSHOT_VERSION);
    sched_t *b = NULL;
    cr_assert_eq(sched_snapshot_load(snap, len, cfg, &b, &err), 0, "%s", err.text);
    char *da = sched_dump(s), *db = sched_dump(b);
    cr_assert_str_eq(da, db);
    cr_assert_eq(sched_snapshot_save(b, &again, &len2, &err), 0);
    cr_assert_eq(len, len2);
    cr_assert_eq(memcmp(snap, again, len), 0);
    free(da);
    free(db);
    free(snap);
    free(again);
    sched_destroy(b);
}

/* --- priority preemption on a 2-core node --------------------------------- */

typedef struct two_core {
    sched_t *s;
    fx_journal_t j;
    fx_node_t n;
    sched_task_spec_t low[3], high[1], other[1];
    sched_job_spec_t lowj, highj, otherj;
} two_core_t;

/* Job 1: two preemptible 1-core tasks (priority 0, grace 30 s), running
 * on n1 (2 cores) as attempts 1 and 2 since t=1. */
static void two_core_init(two_core_t *x, const sched_config_t *cfg, uint32_t max_attempts)
{
    memset(x, 0, sizeof(*x));
    x->s = sched_create(cfg);
    fx_node_init(&x->n, "n1", 1, 2, 0, 0, NULL, 0, 64 * GiB);
    cr_assert_eq(fx_add_node(x->s, &x->j, &x->n), 0);
    x->low[0] = low_task("low0", 1, 30000);
    x->low[1] = low_task("low1", 1, 30000);
    x->low[0].retry.max_attempts = x->low[1].retry.max_attempts = max_attempts;
    x->lowj = (sched_job_spec_t){.name = "low", .seed = 7, .ntasks = 2, .tasks = x->low};
    x->high[0] = fx_task("eval", 2, 0);
    x->high[0].priority = 100;
    x->highj = (sched_job_spec_t){.name = "high", .seed = 8, .ntasks = 1, .tasks = x->high};
    cr_assert_eq(fx_submit(x->s, &x->j, &x->lowj, 0), 0);
    pass_t p;
    cr_assert_eq(place(x->s, &x->j, 0, &p), 2);
    start(x->s, &x->j, 1, 1);
    start(x->s, &x->j, 2, 1);
}

static void two_core_fini(two_core_t *x)
{
    sched_destroy(x->s);
    fx_journal_fini(&x->j);
}

LEAK_TEST(preempt, priority_on_a_two_core_node)
{
    two_core_t x;
    two_core_init(&x, NULL, 1); /* one attempt only: a preemption uses none */
    sched_t *s = x.s;
    uint64_t seed0 = sched_task_seed(s, 1, 0, 0), seed1 = sched_task_seed(s, 1, 1, 0);
    cr_assert_eq(fx_submit(s, &x.j, &x.highj, 10), 0);
    pass_t p;
    cr_assert_eq(place(s, &x.j, 10, &p), 0);
    cr_assert_eq(p.preempts, 1, "one decision: %s", p.buf);
    cr_assert_str_eq(p.buf, "job2 eval preempts a1, a2 grace until t=30010");
    expect_explain(s, 2, 0, 10,
                   "job 2 task eval: waiting for 2 preempted attempts on n1 to end their grace "
                   "(until t=30010, 30 s left)");
    expect_explain_has(s, 1, 0, 10,
                       "; preempted by job 2 task eval (priority 100 > 0): stopping, killed at "
                       "the end of its grace (until t=30010, 30 s left)");
    sched_attempt_info_t ai;
    cr_assert_eq(sched_attempt_get(s, 1, &ai), 0);
    cr_expect(ai.preempted && ai.preempted_by_job == 2 && ai.preempted_by_task == 0 &&
              ai.preempt_why == SCHED_PREEMPT_PRIORITY && ai.grace_end_ms == 30010);
    /* a pass during the grace decides nothing new */
    cr_assert_eq(place(s, &x.j, 20, &p), 0);
    cr_assert_eq(p.preempts, 0);

    /* one victim ends: its core is held for eval, not for its own task
     * (ready again) nor for a newcomer of 1 core */
    x.other[0] = fx_task("small", 1, 0);
    x.otherj = (sched_job_spec_t){.name = "other", .seed = 9, .ntasks = 1, .tasks = x.other};
    cr_assert_eq(fx_submit(s, &x.j, &x.otherj, 50), 0);
    cr_assert_eq(fx_finish(s, &x.j, 1, SCHED_END_PREEMPTED, 0, 100), 0);
    cr_assert_eq(sched_task_state(s, 1, 0), SCHED_TASK_READY);
    cr_assert_eq(place(s, &x.j, 100, &p), 0, "the freed core is held: %s", p.buf);
    cr_assert_eq(p.preempts, 0);
    expect_explain(s, 2, 0, 100,
                   "job 2 task eval: waiting for 1 preempted attempt on n1 to end its grace "
                   "(until t=30010, 30 s left)");
    expect_explain_has(s, 3, 0, 100, "reservation held for job 2 task eval");
    sched_census_t c;
    cr_assert_eq(sched_census(s, &c), 0);
    uint32_t preempting = 0;
    for (size_t i = 0; i < c.nclasses; i++)
        preempting += c.classes[i].preempting;
    cr_expect_eq(preempting, 1, "eval waits on a grace, counted as such");
    sched_census_fini(&c);
    snapshot_matches(s, NULL);

    /* the second ends: eval is placed there, once */
    cr_assert_eq(fx_finish(s, &x.j, 2, SCHED_END_PREEMPTED, 0, 200), 0);
    cr_assert_eq(place(s, &x.j, 200, &p), 1);
    cr_assert_str_eq(p.buf, "job2 eval a3 -> n1 core[0-1] mem=0");
    sched_task_info_t ti;
    for (uint32_t t = 0; t < 2; t++) {
        cr_assert_eq(sched_task_info(s, 1, t, &ti), 0);
        cr_expect_eq(ti.state, SCHED_TASK_READY, "requeued at once");
        cr_expect_eq(ti.attempts, 1);
        cr_expect_eq(ti.preemptions, 1);
        cr_expect_eq(ti.preempted_attempts, 1);
    }
    expect_explain_has(s, 1, 0, 200,
                       "job 1 task low0: preempted by job 2 task eval (priority 100 > 0); "
                       "waiting for resources");
    /* eval ends: the victims run again, attempt 2 each, same seeds */
    cr_assert_eq(fx_finish(s, &x.j, 3, SCHED_END_EXIT, 0, 300), 0);
    cr_assert_eq(place(s, &x.j, 300, &p), 2, "%s", p.buf);
    cr_assert_eq(sched_attempt_get(s, sched_task_attempt_id(s, 1, 0), &ai), 0);
    cr_expect_eq(ai.number, 2);
    cr_expect_eq(ai.prev, 1);
    cr_expect_eq(sched_task_seed(s, 1, 0, 0), seed0);
    cr_expect_eq(sched_task_seed(s, 1, 1, 0), seed1);
    cr_assert_eq(fx_finish(s, &x.j, ai.id, SCHED_END_EXIT, 0, 400), 0);
    cr_expect_eq(sched_task_state(s, 1, 0), SCHED_TASK_SUCCEEDED);
    replay_matches(s, &x.j, NULL);
    snapshot_matches(s, NULL);
    two_core_fini(&x);
}

LEAK_TEST(preempt, a_victim_that_ends_only_at_its_grace_end)
{
    two_core_t x;
    two_core_init(&x, NULL, 3);
    sched_t *s = x.s;
    cr_assert_eq(fx_submit(s, &x.j, &x.highj, 1000), 0);
    pass_t p;
    place(s, &x.j, 1000, &p);
    cr_assert_eq(p.preempts, 1);
    cr_assert_eq(fx_finish(s, &x.j, 1, SCHED_END_PREEMPTED, 0, 1500), 0);
    for (int64_t t = 2000; t < 31000; t += 7000) {
        cr_assert_eq(place(s, &x.j, t, &p), 0, "t=%lld: %s", (long long)t, p.buf);
        cr_assert_eq(p.preempts, 0);
    }
    /* killed at the end of its grace: the worker reports it then */
    cr_assert_eq(fx_finish(s, &x.j, 2, SCHED_END_PREEMPTED, 0, 31000), 0);
    cr_assert_eq(place(s, &x.j, 31000, &p), 1);
    cr_assert_str_eq(p.buf, "job2 eval a3 -> n1 core[0-1] mem=0");
    replay_matches(s, &x.j, NULL);
    two_core_fini(&x);
}

LEAK_TEST(preempt, the_events_rules)
{
    two_core_t x;
    two_core_init(&x, NULL, 3);
    sched_t *s = x.s;
    cairn_error_t err = {{0}};
    /* an attempt that was not preempted does not end preempted */
    sched_event_t fin = {.type = SCHED_EV_FINISH, .time_ms = 5};
    fin.u.finish.attempt = 1;
    fin.u.finish.end = SCHED_END_PREEMPTED;
    cr_assert_eq(sched_apply(s, &fin, &err), SCHED_EINVAL);
    cr_expect(strstr(err.text, "was not preempted") != NULL, "%s", err.text);
    cr_assert_eq(fx_submit(s, &x.j, &x.highj, 10), 0);
    char *before = sched_dump(s);
    uint64_t v[2] = {2, 1};
    sched_event_t ev = {.type = SCHED_EV_PREEMPT, .time_ms = 10};
    ev.u.preempt.job = 2;
    ev.u.preempt.task = 0;
    ev.u.preempt.nvictims = 2;
    ev.u.preempt.victims = v;
    ev.u.preempt.grace_end_ms = 100;
    cr_expect_eq(sched_apply(s, &ev, &err), SCHED_EINVAL, "victims out of order");
    v[0] = 1;
    v[1] = 2;
    ev.u.preempt.grace_end_ms = 5;
    cr_expect_eq(sched_apply(s, &ev, &err), SCHED_EINVAL, "grace before the decision");
    ev.u.preempt.grace_end_ms = 100;
    ev.u.preempt.job = 1; /* a running task is no preemptor */
    cr_expect_eq(sched_apply(s, &ev, &err), SCHED_ECONFLICT);
    ev.u.preempt.job = 2;
    v[1] = 9;
    cr_expect_eq(sched_apply(s, &ev, &err), SCHED_ENOENT);
    char *after = sched_dump(s);
    cr_expect_str_eq(before, after, "a refused event changes nothing");
    free(after);
    v[1] = 2;
    cr_assert_eq(sched_apply(s, &ev, &err), 0, "%s", err.text);
    /* a victim is preempted once; the preemptor waits for its victims */
    cr_expect_eq(sched_apply(s, &ev, &err), SCHED_ECONFLICT);
    free(before);
    two_core_fini(&x);
}

/* --- fair share ----------------------------------------------------------- */

static int account_set(sched_t *s, fx_journal_t *j, const char *name, uint32_t share,
                       uint32_t max_cpus)
{
    sched_event_t ev = {.type = SCHED_EV_ACCOUNT_SET};
    ev.u.account_set = (sched_account_spec_t){.name = name,
                                              .share = share,
                                              .max_gpus = SCHED_UNLIMITED,
                                              .max_cpus = max_cpus,
                                              .max_running = SCHED_UNLIMITED,
                                              .max_priority = SCHED_NO_PRIORITY_CAP};
    return fx_apply(s, j, &ev);
}

/* Account b runs two preemptible tasks on the 2-core node for an hour;
 * then a task of account a (same priority) needs one core. */
static int fair_share_run(bool flag, char *explain_victim, size_t n)
{
    sched_config_t cfg = {.max_reservations = 1, .preempt_for_fair_share = flag};
    sched_t *s = sched_create(&cfg);
    fx_journal_t j = {0};
    fx_node_t node;
    fx_node_init(&node, "n1", 1, 2, 0, 0, NULL, 0, 64 * GiB);
    cr_assert_eq(fx_add_node(s, &j, &node), 0);
    cr_assert_eq(account_set(s, &j, "nlp", 1, SCHED_UNLIMITED), 0);
    cr_assert_eq(account_set(s, &j, "vision", 1, SCHED_UNLIMITED), 0);
    sched_task_spec_t bt[2] = {low_task("b0", 1, 1000), low_task("b1", 1, 1000)};
    sched_job_spec_t bj = {.name = "b", .seed = 1, .account = "vision", .ntasks = 2, .tasks = bt};
    sched_task_spec_t at[1] = {fx_task("a0", 1, 0)};
    sched_job_spec_t aj = {.name = "a", .seed = 2, .account = "nlp", .ntasks = 1, .tasks = at};
    cr_assert_eq(fx_submit(s, &j, &bj, 0), 0);
    pass_t p;
    cr_assert_eq(place(s, &j, 0, &p), 2);
    start(s, &j, 1, 0);
    start(s, &j, 2, 0);
    cr_assert_eq(fx_submit(s, &j, &aj, 3600000), 0);
    place(s, &j, 3600000, &p);
    int preempts = p.preempts;
    if (preempts) {
        /* one core is enough: one victim, the younger by id on a tie */
        cr_assert_str_eq(p.buf, "job2 a0 preempts a1 grace until t=3601000");
        char *e = explain(s, 1, 0, 3600000);
        snprintf(explain_victim, n, "%s", e);
        free(e);
        cr_assert_eq(fx_finish(s, &j, 1, SCHED_END_PREEMPTED, 0, 3600500), 0);
        cr_assert_eq(place(s, &j, 3600500, &p), 1);
        cr_assert_str_eq(p.buf, "job2 a0 a3 -> n1 core[0] mem=0");
        e = explain(s, 1, 0, 3600500);
        snprintf(explain_victim, n, "%s", e);
        free(e);
        replay_matches(s, &j, &cfg);
        snapshot_matches(s, &cfg);
    }
    sched_destroy(s);
    fx_journal_fini(&j);
    return preempts;
}

LEAK_TEST(preempt, fair_share_with_the_flag_on_and_off)
{
    char e[1024] = "";
    cr_expect_eq(fair_share_run(false, e, sizeof(e)), 0, "same priority, flag off: none");
    cr_expect_eq(fair_share_run(true, e, sizeof(e)), 1);
    cr_expect(strstr(e, "job 1 task b0: preempted by job 2 task a0 (account nlp below its "
                        "share); ") == e,
              "%s", e);
}

/* --- gangs, max_preemptions, what is never touched, limits ----------------- */

LEAK_TEST(preempt, a_gang_victim_goes_whole)
{
    sched_t *s = sched_create(NULL);
    fx_journal_t j = {0};
    fx_node_t n1, n2;
    fx_node_init(&n1, "n1", 1, 2, 0, 0, NULL, 0, 64 * GiB);
    fx_node_init(&n2, "n2", 1, 2, 0, 0, NULL, 0, 64 * GiB);
    cr_assert_eq(fx_add_node(s, &j, &n1), 0);
    cr_assert_eq(fx_add_node(s, &j, &n2), 0);
    sched_task_spec_t g[1] = {low_task("gang", 2, 5000)};
    g[0].replicas = 2;
    sched_job_spec_t gj = {.name = "g", .seed = 1, .ntasks = 1, .tasks = g};
    cr_assert_eq(fx_submit(s, &j, &gj, 0), 0);
    pass_t p;
    cr_assert_eq(place(s, &j, 0, &p), 1);
    start(s, &j, 1, 0);
    sched_task_spec_t h[1] = {fx_task("eval", 2, 0)};
    h[0].priority = 10;
    sched_job_spec_t hj = {.name = "h", .seed = 2, .ntasks = 1, .tasks = h};
    cr_assert_eq(fx_submit(s, &j, &hj, 10), 0);
    place(s, &j, 10, &p);
    cr_assert_str_eq(p.buf, "job2 eval preempts a1 grace until t=5010");
    /* both of its nodes are held, though eval needs one */
    char *d = sched_dump(s);
    cr_expect(strstr(d, "hold job2/0 grace_end 5010 victims 1 nodes 0 1\n") != NULL, "%s", d);
    free(d);
    expect_explain(s, 2, 0, 10,
                   "job 2 task eval: waiting for 1 preempted attempt on n1 and 1 more node to "
                   "end its grace (until t=5010, 5 s left)");
    cr_assert_eq(fx_finish(s, &j, 1, SCHED_END_PREEMPTED, 0, 20), 0);
    cr_assert_eq(place(s, &j, 20, &p), 1, "eval is placed; the gang waits: %s", p.buf);
    cr_assert_str_eq(p.buf, "job2 eval a2 -> n1 core[0-1] mem=0");
    replay_matches(s, &j, NULL);
    sched_destroy(s);
    fx_journal_fini(&j);
}

/* A gang preemptor takes one victim on each of two nodes. */
LEAK_TEST(preempt, a_gang_preemptor)
{
    sched_t *s = sched_create(NULL);
    fx_journal_t j = {0};
    fx_node_t n1, n2;
    fx_node_init(&n1, "n1", 1, 1, 0, 0, NULL, 0, 64 * GiB);
    fx_node_init(&n2, "n2", 1, 1, 0, 0, NULL, 0, 64 * GiB);
    cr_assert_eq(fx_add_node(s, &j, &n1), 0);
    cr_assert_eq(fx_add_node(s, &j, &n2), 0);
    sched_task_spec_t l[2] = {low_task("l0", 1, 0), low_task("l1", 1, 0)};
    sched_job_spec_t lj = {.name = "l", .seed = 1, .ntasks = 2, .tasks = l};
    cr_assert_eq(fx_submit(s, &j, &lj, 0), 0);
    pass_t p;
    cr_assert_eq(place(s, &j, 0, &p), 2);
    sched_task_spec_t g[1] = {fx_task("gang", 1, 0)};
    g[0].replicas = 2;
    g[0].priority = 1;
    sched_job_spec_t gj = {.name = "g", .seed = 2, .ntasks = 1, .tasks = g};
    cr_assert_eq(fx_submit(s, &j, &gj, 10), 0);
    place(s, &j, 10, &p);
    cr_assert_str_eq(p.buf, "job2 gang preempts a1, a2 grace until t=10");
    cr_assert_eq(fx_finish(s, &j, 1, SCHED_END_PREEMPTED, 0, 10), 0);
    cr_assert_eq(fx_finish(s, &j, 2, SCHED_END_PREEMPTED, 0, 10), 0);
    cr_assert_eq(place(s, &j, 10, &p), 1);
    cr_assert_str_eq(p.buf, "job2 gang a3 -> n1 core[0] mem=0 + n2 core[0] mem=0");
    replay_matches(s, &j, NULL);
    sched_destroy(s);
    fx_journal_fini(&j);
}

LEAK_TEST(preempt, max_preemptions_is_respected)
{
    sched_config_t cfg = {.max_reservations = 1, .max_preemptions_per_task = 1};
    sched_t *s = sched_create(&cfg);
    fx_journal_t j = {0};
    fx_node_t n;
    fx_node_init(&n, "n1", 1, 1, 0, 0, NULL, 0, 64 * GiB);
    cr_assert_eq(fx_add_node(s, &j, &n), 0);
    sched_task_spec_t l[1] = {low_task("l", 1, 0)};
    sched_job_spec_t lj = {.name = "l", .seed = 1, .ntasks = 1, .tasks = l};
    sched_task_spec_t h[2] = {fx_task("h0", 1, 0), fx_task("h1", 1, 0)};
    h[0].priority = h[1].priority = 5;
    h[1].needs = (const char *const[]){"h0"};
    h[1].nneeds = 1;
    sched_job_spec_t hj = {.name = "h", .seed = 2, .ntasks = 2, .tasks = h};
    cr_assert_eq(fx_submit(s, &j, &lj, 0), 0);
    pass_t p;
    cr_assert_eq(place(s, &j, 0, &p), 1);
    cr_assert_eq(fx_submit(s, &j, &hj, 1), 0);
    place(s, &j, 1, &p);
    cr_assert_eq(p.preempts, 1);
    cr_assert_eq(fx_finish(s, &j, 1, SCHED_END_PREEMPTED, 0, 2), 0);
    cr_assert_eq(place(s, &j, 2, &p), 1); /* h0 */
    cr_assert_eq(fx_finish(s, &j, 2, SCHED_END_EXIT, 0, 3), 0);
    /* h1 is ready, l is ready: h1 (priority 5) goes first */
    cr_assert_eq(place(s, &j, 3, &p), 1);
    cr_assert_str_eq(p.buf, "job2 h1 a3 -> n1 core[0] mem=0");
    cr_assert_eq(fx_finish(s, &j, 3, SCHED_END_EXIT, 0, 4), 0);
    cr_assert_eq(place(s, &j, 4, &p), 1); /* l again */
    /* a third high task: l was preempted once, its maximum */
    sched_task_spec_t h2[1] = {fx_task("h2", 1, 0)};
    h2[0].priority = 5;
    sched_job_spec_t h2j = {.name = "h2", .seed = 3, .ntasks = 1, .tasks = h2};
    cr_assert_eq(fx_submit(s, &j, &h2j, 5), 0);
    place(s, &j, 5, &p);
    cr_assert_eq(p.preempts, 0, "%s", p.buf);
    sched_task_info_t ti;
    cr_assert_eq(sched_task_info(s, 1, 0, &ti), 0);
    cr_expect_eq(ti.max_preemptions, 1);
    cr_expect_eq(ti.preemptions, 1);
    replay_matches(s, &j, &cfg);
    sched_destroy(s);
    fx_journal_fini(&j);
}

LEAK_TEST(preempt, non_preemptible_work_is_never_touched)
{
    two_core_t x;
    two_core_init(&x, NULL, 3);
    sched_t *s = x.s;
    /* the same, with the low tasks not preemptible */
    sched_destroy(s);
    fx_journal_fini(&x.j);
    memset(&x.j, 0, sizeof(x.j));
    s = x.s = sched_create(NULL);
    cr_assert_eq(fx_add_node(s, &x.j, &x.n), 0);
    x.low[0].preemptible = x.low[1].preemptible = false;
    cr_assert_eq(fx_submit(s, &x.j, &x.lowj, 0), 0);
    pass_t p;
    cr_assert_eq(place(s, &x.j, 0, &p), 2);
    cr_assert_eq(fx_submit(s, &x.j, &x.highj, 10), 0);
    for (int64_t t = 10; t < 100; t += 30) {
        place(s, &x.j, t, &p);
        cr_assert_eq(p.preempts, 0);
    }
    expect_explain_has(s, 2, 0, 100, "waiting for resources: 1 node: too few free cores");
    two_core_fini(&x);
}

LEAK_TEST(preempt, account_limits_hold)
{
    for (uint32_t max = 2; max <= 3; max++) {
        sched_t *s = sched_create(NULL);
        fx_journal_t j = {0};
        fx_node_t n1, n2;
        fx_node_init(&n1, "n1", 1, 2, 0, 0, NULL, 0, 64 * GiB);
        fx_node_init(&n2, "n2", 1, 1, 0, 0, NULL, 0, 64 * GiB);
        cr_assert_eq(fx_add_node(s, &j, &n1), 0);
        cr_assert_eq(fx_add_node(s, &j, &n2), 0);
        cr_assert_eq(account_set(s, &j, "a", 1, max), 0);
        /* a runs one core on n2 (the best fit for it) */
        sched_task_spec_t a0[1] = {fx_task("a0", 1, 0)};
        sched_job_spec_t a0j = {.name = "a0", .seed = 1, .account = "a", .ntasks = 1, .tasks = a0};
        cr_assert_eq(fx_submit(s, &j, &a0j, 0), 0);
        pass_t p;
        cr_assert_eq(place(s, &j, 0, &p), 1);
        cr_assert_str_eq(p.buf, "job1 a0 a1 -> n2 core[0] mem=0");
        sched_task_spec_t l[2] = {low_task("l0", 1, 0), low_task("l1", 1, 0)};
        sched_job_spec_t lj = {.name = "l", .seed = 2, .ntasks = 2, .tasks = l};
        cr_assert_eq(fx_submit(s, &j, &lj, 1), 0);
        cr_assert_eq(place(s, &j, 1, &p), 2);
        sched_task_spec_t h[1] = {fx_task("h", 2, 0)};
        h[0].priority = 50;
        sched_job_spec_t hj = {.name = "h", .seed = 3, .account = "a", .ntasks = 1, .tasks = h};
        cr_assert_eq(fx_submit(s, &j, &hj, 2), 0);
        place(s, &j, 2, &p);
        /* with 2 cores at most, a's 1 + 2 more would pass its limit */
        cr_expect_eq(p.preempts, max == 3, "max_cpus %u: %s", max, p.buf);
        if (max == 2)
            expect_explain_has(s, 3, 0, 2, "waiting on a limit: account a is at its core limit");
        sched_destroy(s);
        fx_journal_fini(&j);
    }
}

/* --- the victim order ------------------------------------------------------- */

/* n1 (4 cores) runs w (2 cores, priority 5), x (1 core, priority 0), and
 * y (1 core, not preemptible). A 2-core task of priority 9 stops w alone
 * (one attempt), not x and w. */
LEAK_TEST(preempt, the_fewest_victims_first)
{
    sched_t *s = sched_create(NULL);
    fx_journal_t j = {0};
    fx_node_t n;
    fx_node_init(&n, "n1", 1, 4, 0, 0, NULL, 0, 64 * GiB);
    cr_assert_eq(fx_add_node(s, &j, &n), 0);
    sched_task_spec_t t[3] = {low_task("w", 2, 0), low_task("x", 1, 0), fx_task("y", 1, 0)};
    t[0].priority = 5;
    sched_job_spec_t tj = {.name = "t", .seed = 1, .ntasks = 3, .tasks = t};
    cr_assert_eq(fx_submit(s, &j, &tj, 0), 0);
    pass_t p;
    cr_assert_eq(place(s, &j, 0, &p), 3);
    sched_task_spec_t h[1] = {fx_task("h", 2, 0)};
    h[0].priority = 9;
    sched_job_spec_t hj = {.name = "h", .seed = 2, .ntasks = 1, .tasks = h};
    cr_assert_eq(fx_submit(s, &j, &hj, 1), 0);
    place(s, &j, 1, &p);
    uint64_t w = sched_task_attempt_id(s, 1, 0);
    char want[128];
    snprintf(want, sizeof(want), "job2 h preempts a%llu grace until t=1", (unsigned long long)w);
    cr_assert_str_eq(p.buf, want);
    replay_matches(s, &j, NULL);
    sched_destroy(s);
    fx_journal_fini(&j);
}

/* Four 1-core victims on a 4-core node: a (priority 0, started at 0),
 * b (0, started at 50), c (3, started at 100), d (0, started at 50, a
 * later id than b). A 1-core task takes the lowest priority, then the
 * youngest, then the lowest id: b; then d; then a; c last. */
LEAK_TEST(preempt, lowest_priority_then_youngest_then_id)
{
    sched_t *s = sched_create(NULL);
    fx_journal_t j = {0};
    fx_node_t n;
    fx_node_init(&n, "n1", 1, 4, 0, 0, NULL, 0, 64 * GiB);
    cr_assert_eq(fx_add_node(s, &j, &n), 0);
    sched_task_spec_t t[4] = {low_task("a", 1, 0), low_task("b", 1, 0), low_task("c", 1, 0),
                              low_task("d", 1, 0)};
    t[2].priority = 3;
    sched_job_spec_t tj = {.name = "t", .seed = 1, .ntasks = 4, .tasks = t};
    cr_assert_eq(fx_submit(s, &j, &tj, 0), 0);
    pass_t p;
    cr_assert_eq(place(s, &j, 0, &p), 4);
    uint64_t id[4];
    for (uint32_t k = 0; k < 4; k++)
        id[k] = sched_task_attempt_id(s, 1, k);
    start(s, &j, id[0], 0);
    start(s, &j, id[1], 50);
    start(s, &j, id[2], 100);
    start(s, &j, id[3], 50);
    const uint32_t order[4] = {1, 3, 0, 2};
    static const char *const names[4] = {"h0", "h1", "h2", "h3"};
    sched_task_spec_t h[4]; /* the journal keeps pointers to them */
    sched_job_spec_t hj[4];
    for (int round = 0; round < 4; round++) {
        h[round] = fx_task(names[round], 1, 0);
        h[round].priority = 9;
        hj[round] =
            (sched_job_spec_t){.name = names[round], .seed = 2, .ntasks = 1, .tasks = &h[round]};
        int64_t now = 200 + round * 10;
        cr_assert_eq(fx_submit(s, &j, &hj[round], now), 0);
        place(s, &j, now, &p);
        cr_assert_eq(p.preempts, 1, "round %d: %s", round, p.buf);
        cr_assert_eq(p.last_preempt.u.preempt.nvictims, 1);
        cr_expect_eq(p.victims[0], id[order[round]], "round %d: a%llu, wanted a%llu", round,
                     (unsigned long long)p.victims[0], (unsigned long long)id[order[round]]);
        cr_assert_eq(fx_finish(s, &j, p.victims[0], SCHED_END_PREEMPTED, 0, now + 1), 0);
        cr_assert_eq(place(s, &j, now + 1, &p), 1, "round %d: %s", round, p.buf);
        start(s, &j, sched_task_attempt_id(s, 2 + (uint32_t)round, 0), now + 1);
    }
    replay_matches(s, &j, NULL);
    snapshot_matches(s, NULL);
    sched_destroy(s);
    fx_journal_fini(&j);
}

/* --- prefetch lines behind a victim ------------------------------------------ */

LEAK_TEST(preempt, lines_behind_a_victim_are_dropped)
{
    sched_config_t cfg = {.max_reservations = 1, .prefetch = 1};
    sched_t *s = sched_create(&cfg);
    fx_journal_t j = {0};
    fx_node_t n;
    fx_node_init(&n, "n1", 1, 2, 0, 0, NULL, 0, 64 * GiB);
    cr_assert_eq(fx_add_node(s, &j, &n), 0);
    sched_task_spec_t l[4] = {low_task("l0", 1, 100), low_task("l1", 1, 100),
                              low_task("l2", 1, 100), low_task("l3", 1, 100)};
    sched_job_spec_t lj = {.name = "l", .seed = 1, .ntasks = 4, .tasks = l};
    cr_assert_eq(fx_submit(s, &j, &lj, 0), 0);
    pass_t p;
    cr_assert_eq(place(s, &j, 0, &p), 4, "two run, two queued: %s", p.buf);
    sched_task_spec_t h[1] = {fx_task("h", 2, 0)};
    h[0].priority = 1;
    sched_job_spec_t hj = {.name = "h", .seed = 2, .ntasks = 1, .tasks = h};
    cr_assert_eq(fx_submit(s, &j, &hj, 10), 0);
    place(s, &j, 10, &p);
    cr_assert_str_eq(p.buf, "job2 h preempts a1, a2 grace until t=110");
    sched_attempt_info_t ai;
    for (uint64_t a = 3; a <= 4; a++) {
        cr_assert_eq(sched_attempt_get(s, a, &ai), 0);
        cr_expect_eq(ai.end, SCHED_END_PREEMPTED, "queued a%llu ends at once",
                     (unsigned long long)a);
    }
    sched_task_info_t ti;
    cr_assert_eq(sched_task_info(s, 1, 2, &ti), 0);
    cr_expect_eq(ti.state, SCHED_TASK_READY);
    cr_expect_eq(ti.preemptions, 0, "it never ran: no preemption counted");
    cr_expect_eq(ti.preempted_attempts, 1);
    cr_assert_eq(fx_finish(s, &j, 1, SCHED_END_PREEMPTED, 0, 20), 0);
    cr_assert_eq(fx_finish(s, &j, 2, SCHED_END_PREEMPTED, 0, 30), 0);
    cr_assert_eq(place(s, &j, 30, &p), 1);
    cr_assert_str_eq(p.buf, "job2 h a5 -> n1 core[0-1] mem=0");
    replay_matches(s, &j, &cfg);
    sched_destroy(s);
    fx_journal_fini(&j);
}

/* A task of the victims' own shape and a higher priority preempts them; it
 * is never queued (prefetch) behind an attempt it may preempt, which could
 * run for days. A task it may not preempt still queues behind one. */
LEAK_TEST(preempt, a_task_of_the_same_shape_preempts_rather_than_queues)
{
    sched_config_t cfg = {.max_reservations = 1, .prefetch = 1};
    sched_t *s = sched_create(&cfg);
    fx_journal_t j = {0};
    fx_node_t n;
    fx_node_init(&n, "n1", 1, 2, 0, 0, NULL, 0, 64 * GiB);
    cr_assert_eq(fx_add_node(s, &j, &n), 0);
    sched_task_spec_t l[1] = {low_task("l0", 2, 100)};
    sched_job_spec_t lj = {.name = "l", .seed = 1, .ntasks = 1, .tasks = l};
    cr_assert_eq(fx_submit(s, &j, &lj, 0), 0);
    pass_t p;
    cr_assert_eq(place(s, &j, 0, &p), 1);
    start(s, &j, 1, 1);
    sched_task_spec_t h[1] = {fx_task("h", 2, 0)};
    h[0].priority = 1;
    sched_job_spec_t hj = {.name = "h", .seed = 2, .ntasks = 1, .tasks = h};
    cr_assert_eq(fx_submit(s, &j, &hj, 10), 0);
    cr_assert_eq(place(s, &j, 10, &p), 0, "%s", p.buf);
    cr_assert_eq(p.preempts, 1, "preempts, not queued: %s", p.buf);
    cr_assert_str_eq(p.buf, "job2 h preempts a1 grace until t=110");
    /* a task of the victim's priority queues behind a running attempt */
    cr_assert_eq(fx_finish(s, &j, 1, SCHED_END_PREEMPTED, 0, 20), 0);
    place(s, &j, 20, &p);
    cr_assert_str_eq(p.buf, "job2 h a2 -> n1 core[0-1] mem=0\n"
                            "job1 l0 a3 -> n1 core[0-1] mem=0 after a2");
    replay_matches(s, &j, &cfg);
    snapshot_matches(s, &cfg);
    sched_destroy(s);
    fx_journal_fini(&j);
}

/* Of two victims of one priority, the one whose account is further above
 * its fair share goes first, though the other is younger: vision ran two
 * cores for 1000 s, speech one for the last 1000 s. */
LEAK_TEST(preempt, furthest_above_its_share_before_youngest)
{
    sched_t *s = sched_create(NULL);
    fx_journal_t j = {0};
    fx_node_t n;
    fx_node_init(&n, "n1", 1, 2, 0, 0, NULL, 0, 64 * GiB);
    cr_assert_eq(fx_add_node(s, &j, &n), 0);
    cr_assert_eq(account_set(s, &j, "nlp", 1, SCHED_UNLIMITED), 0);
    cr_assert_eq(account_set(s, &j, "vision", 1, SCHED_UNLIMITED), 0);
    cr_assert_eq(account_set(s, &j, "speech", 1, SCHED_UNLIMITED), 0);
    sched_task_spec_t v[2] = {low_task("v0", 1, 0), low_task("v1", 1, 0)};
    sched_job_spec_t vj = {.name = "v", .seed = 1, .account = "vision", .ntasks = 2, .tasks = v};
    sched_task_spec_t sp[1] = {low_task("s0", 1, 0)};
    sched_job_spec_t sj = {.name = "s", .seed = 2, .account = "speech", .ntasks = 1, .tasks = sp};
    sched_task_spec_t h[1] = {fx_task("h", 1, 0)};
    h[0].priority = 5;
    sched_job_spec_t hj = {.name = "h", .seed = 3, .account = "nlp", .ntasks = 1, .tasks = h};
    cr_assert_eq(fx_submit(s, &j, &vj, 0), 0);
    pass_t p;
    cr_assert_eq(place(s, &j, 0, &p), 2);
    start(s, &j, 1, 0);
    start(s, &j, 2, 0);
    cr_assert_eq(fx_finish(s, &j, 2, SCHED_END_EXIT, 0, 1000000), 0);
    cr_assert_eq(fx_submit(s, &j, &sj, 1000000), 0);
    cr_assert_eq(place(s, &j, 1000000, &p), 1);
    start(s, &j, 3, 1000000);
    cr_assert_eq(fx_submit(s, &j, &hj, 2000000), 0);
    place(s, &j, 2000000, &p);
    /* vision: 3000 core-s of 4000, share 1 of 4: 3x its share; speech 1x */
    cr_assert_str_eq(p.buf, "job3 h preempts a1 grace until t=2000000");
    replay_matches(s, &j, NULL);
    sched_destroy(s);
    fx_journal_fini(&j);
}

/* A task of two attempts in all, preempted once, then failing once, still
 * gets its retry: the preempted attempt used none. */
LEAK_TEST(preempt, a_preempted_attempt_uses_no_retry)
{
    two_core_t x;
    two_core_init(&x, NULL, 2);
    sched_t *s = x.s;
    cr_assert_eq(fx_submit(s, &x.j, &x.highj, 10), 0);
    pass_t p;
    place(s, &x.j, 10, &p);
    cr_assert_eq(p.preempts, 1);
    cr_assert_eq(fx_finish(s, &x.j, 1, SCHED_END_PREEMPTED, 0, 20), 0);
    cr_assert_eq(fx_finish(s, &x.j, 2, SCHED_END_PREEMPTED, 0, 20), 0);
    cr_assert_eq(place(s, &x.j, 20, &p), 1); /* eval */
    cr_assert_eq(fx_finish(s, &x.j, 3, SCHED_END_EXIT, 0, 30), 0);
    cr_assert_eq(place(s, &x.j, 30, &p), 2); /* low0, low1: attempt 2 each */
    uint64_t a = sched_task_attempt_id(s, 1, 0);
    /* a timeout: the default policy retries it, while attempts are left */
    cr_assert_eq(fx_finish(s, &x.j, a, SCHED_END_TIMEOUT, 0, 40), 0);
    cr_expect_eq(sched_task_state(s, 1, 0), SCHED_TASK_RETRYING,
                 "1 of 2 attempts used: the preempted one does not count");
    sched_task_info_t ti;
    cr_assert_eq(sched_task_info(s, 1, 0, &ti), 0);
    cr_expect_eq(ti.attempts, 2);
    cr_expect_eq(ti.preempted_attempts, 1);
    two_core_fini(&x);
}
