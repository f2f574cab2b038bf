/* The journal holds preemptions: SCHED_EV_PREEMPT (JPreempt) and the
 * preempted ends (JFinish.end 7), packed and unpacked
 * (scheduler/journal_pack.c), rebuild the same core state as the events
 * themselves, the hold on the victims' node included. */
#include <criterion/criterion.h>

#include "sched_fixtures.h"
#include "scheduler/journal_pack.h"

static void events_cb(const sched_event_t *ev, void *arg)
{
    fx_journal_add(arg, ev);
}

/* ev through the journal's bytes, then applied to b. */
static void round_trip(sched_t *b, const sched_event_t *ev)
{
    uint8_t *buf;
    size_t len;
    cairn_error_t err = {{0}};
    cr_assert_eq(journal_event_pack(ev, NULL, 0, &buf, &len), 0);
    sched_event_t got;
    journal_hold_t h;
    cr_assert_eq(journal_event_unpack(buf, len, &got, &h, NULL, &err), 0, "%s", err.text);
    cr_assert_eq(got.type, ev->type);
    cr_assert_eq(got.time_ms, ev->time_ms);
    if (got.type == SCHED_EV_PREEMPT) {
        cr_expect_eq(got.u.preempt.job, ev->u.preempt.job);
        cr_expect_eq(got.u.preempt.task, ev->u.preempt.task);
        cr_expect_eq(got.u.preempt.grace_end_ms, ev->u.preempt.grace_end_ms);
        cr_assert_eq(got.u.preempt.nvictims, ev->u.preempt.nvictims);
        for (uint32_t i = 0; i < got.u.preempt.nvictims; i++)
            cr_expect_eq(got.u.preempt.victims[i], ev->u.preempt.victims[i]);
    }
    if (got.type == SCHED_EV_FINISH)
        cr_expect_eq(got.u.finish.end, ev->u.finish.end);
    cr_assert_eq(sched_apply(b, &got, &err), 0, "unpacked %s: %s", sched_event_type_name(got.type),
                 err.text);
    journal_hold_fini(&h);
    free(buf);
}

Test(journal_preempt, preempt_and_preempted_ends_round_trip)
{
    sched_t *a = sched_create(NULL), *b = sched_create(NULL);
    fx_node_t n;
    fx_node_init(&n, "n1", 1, 2, 0, 0, NULL, 0, 64 * GiB);
    sched_task_spec_t low[2] = {fx_task("low0", 1, 0), fx_task("low1", 1, 0)};
    for (int i = 0; i < 2; i++) {
        low[i].preemptible = true;
        low[i].grace_ms = 30000;
    }
    sched_task_spec_t high[1] = {fx_task("eval", 2, 0)};
    high[0].priority = 100;
    sched_job_spec_t lj = {.name = "low", .seed = 1, .ntasks = 2, .tasks = low};
    sched_job_spec_t hj = {.name = "high", .seed = 2, .ntasks = 1, .tasks = high};
    /* nodes and jobs straight in (their journal form is the daemon's
     * JobSpec); what the passes decide goes through the journal */
    for (int k = 0; k < 2; k++) {
        sched_t *s = k ? b : a;
        cr_assert_eq(fx_add_node(s, NULL, &n), 0);
        cr_assert_eq(fx_submit(s, NULL, &lj, 0), 0);
    }
    fx_journal_t j = {0};
    cr_assert_eq(sched_place(a, 0, events_cb, &j), 2);
    for (int k = 0; k < 2; k++)
        cr_assert_eq(fx_submit(k ? b : a, NULL, &hj, 10), 0);
    cr_assert_eq(sched_place(a, 10, events_cb, &j), 0);
    cr_assert_eq(j.ev[j.n - 1].type, SCHED_EV_PREEMPT);
    for (uint64_t v = 1; v <= 2; v++) {
        sched_event_t fin = {.type = SCHED_EV_FINISH, .time_ms = 100 * (int64_t)v};
        fin.u.finish.attempt = v;
        fin.u.finish.end = SCHED_END_PREEMPTED;
        cr_assert_eq(fx_apply(a, &j, &fin), 0);
    }
    for (size_t i = 0; i < j.n; i++)
        round_trip(b, &j.ev[i]);
    char *da = sched_dump(a), *db = sched_dump(b);
    cr_expect_str_eq(da, db);
    cr_expect(strstr(db, "preempted_by=job2/0") != NULL, "%s", db);
    free(da);
    free(db);
    /* the next pass of each places the preemptor the same way */
    fx_journal_t ja = {0}, jb = {0};
    cr_assert_eq(sched_place(a, 200, events_cb, &ja), 1);
    cr_assert_eq(sched_place(b, 200, events_cb, &jb), 1);
    char *pa = sched_place_str(a, &ja.ev[0]), *pb = sched_place_str(b, &jb.ev[0]);
    cr_expect_str_eq(pa, pb);
    cr_expect_str_eq(pb, "job2 eval a3 -> n1 core[0-1] mem=0");
    free(pa);
    free(pb);
    fx_journal_fini(&j);
    fx_journal_fini(&ja);
    fx_journal_fini(&jb);
    sched_destroy(a);
    sched_destroy(b);
}

Test(journal_preempt, too_many_victims_do_not_unpack)
{
    uint64_t v[SCHED_MAX_VICTIMS + 1];
    for (uint32_t i = 0; i <= SCHED_MAX_VICTIMS; i++)
        v[i] = i + 1;
    sched_event_t ev = {.type = SCHED_EV_PREEMPT, .time_ms = 1};
    ev.u.preempt.job = 1;
    ev.u.preempt.nvictims = SCHED_MAX_VICTIMS + 1;
    ev.u.preempt.victims = v;
    uint8_t *buf;
    size_t len;
    cr_assert_eq(journal_event_pack(&ev, NULL, 0, &buf, &len), 0);
    sched_event_t got;
    journal_hold_t h;
    cairn_error_t err = {{0}};
    cr_expect_eq(journal_event_unpack(buf, len, &got, &h, NULL, &err), -EBADMSG);
    cr_expect(strstr(err.text, "victims") != NULL, "%s", err.text);
    journal_hold_fini(&h);
    free(buf);
}
