/* The scheduler's core sees time move forward only (scheduler/batch.c): a
 * worker's report of an end it stamped before a placement pass that ran
 * meanwhile is applied after that pass, at a time later than it, so the
 * journal's events ordered by their times come in the order they were
 * applied, each pass that placed after the events before it and before
 * those after it. A replay of the recorded attempts (cairn plan: it knows
 * their times, not the order the scheduler learnt of them) relies on it to
 * place as the scheduler did. */
#include "common/clock.h"
#include "leak_check.h"
#include "sched_harness.h"
#include "scheduler/journal.h"
#include "scheduler/journal_pack.h"

typedef struct order {
    int64_t last_ms; /* the previous entry's time */
    bool after_place;
    uint64_t entries, places, back; /* back: entries against the rule */
    char first_back[200];
} order_t;

static int entry_cb(uint64_t seq, const uint8_t *buf, size_t len, void *arg)
{
    order_t *o = arg;
    sched_event_t ev;
    journal_hold_t hold;
    cairn_error_t err = {{0}};
    cr_assert_eq(journal_event_unpack(buf, len, &ev, &hold, NULL, &err), 0, "%s", err.text);
    bool place = ev.type == SCHED_EV_PLACE;
    /* never earlier than the entry before; after a pass that placed,
     * later than it unless another placement of the same pass */
    bool ok = o->entries == 0 || ev.time_ms > o->last_ms ||
              (ev.time_ms == o->last_ms && (!o->after_place || place));
    if (!ok && o->back++ == 0)
        snprintf(o->first_back, sizeof(o->first_back), "entry %llu (%s) at %lld after one at %lld",
                 (unsigned long long)seq, sched_event_type_name(ev.type), (long long)ev.time_ms,
                 (long long)o->last_ms);
    o->entries++;
    o->places += place;
    o->last_ms = ev.time_ms;
    o->after_place = place;
    journal_hold_fini(&hold);
    return 0;
}

static const Cairn__AccountingRecord *record_of(const Cairn__AccountingReply *r, uint64_t attempt)
{
    for (size_t i = 0; i < r->n_records; i++)
        if (r->records[i]->attempt_id == attempt)
            return r->records[i];
    cr_assert_fail("no accounting record of attempt %llu", (unsigned long long)attempt);
    return NULL;
}

static Cairn__AssignTask *assigned(h_worker_t *w)
{
    Cairn__AssignTask *as =
        (Cairn__AssignTask *)h_recv_beating(w, CAIRN_MSG_ASSIGN_TASK, 10000, 200);
    cr_assert_not_null(as, "no assignment");
    return as;
}

static void task_event(h_worker_t *w, uint64_t attempt, Cairn__TaskEvent__Kind kind, int64_t t)
{
    Cairn__TaskEvent te = CAIRN__TASK_EVENT__INIT;
    te.attempt_id = attempt;
    te.kind = kind;
    te.start_time_ms = t;
    te.end_time_ms = kind == CAIRN__TASK_EVENT__KIND__STARTED ? 0 : t;
    h_event_send(w, &te);
}

Test(clock, an_end_reported_after_a_pass_is_applied_after_it)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, NULL); /* prefetch on, as by default */
    h_worker_t w;
    h_worker_open(&w, s.workers, "g1", 8, 2);
    h_register_ok(&w);
    static const char *const one[] = {"t"};
    /* a holds both GPUs; b, submitted later, waits queued behind it */
    h_submit(&s, "a", one, 1, 1, 2, NULL);
    Cairn__AssignTask *as = assigned(&w);
    uint64_t a = as->attempt_id;
    cairn_msg_free(&as->base);
    task_event(&w, a, CAIRN__TASK_EVENT__KIND__STARTED, cairn_wall_ms());
    /* a ends at `ended` as its worker stamps it; the pass that queues b
     * runs later, before the scheduler hears of that end */
    int64_t ended = cairn_wall_ms(), deadline = cairn_mono_ms() + 1000;
    while (cairn_wall_ms() <= ended) /* the next millisecond */
        cr_assert_lt(cairn_mono_ms(), deadline, "the wall clock stands still");
    h_submit(&s, "b", one, 1, 1, 2, NULL);
    as = assigned(&w);
    uint64_t b = as->attempt_id;
    cr_assert_eq(as->after_attempt_id, a, "b is queued behind a");
    cairn_msg_free(&as->base);
    task_event(&w, a, CAIRN__TASK_EVENT__KIND__EXITED, ended);
    task_event(&w, b, CAIRN__TASK_EVENT__KIND__STARTED, cairn_wall_ms());
    task_event(&w, b, CAIRN__TASK_EVENT__KIND__EXITED, cairn_wall_ms());

    Cairn__AccountingRequest aq = CAIRN__ACCOUNTING_REQUEST__INIT;
    cairn_error_t err = {{0}};
    Cairn__AccountingReply *ar = NULL;
    deadline = cairn_mono_ms() + 10000;
    for (;;) { /* the records of ended attempts are written after the commit */
        ar = (Cairn__AccountingReply *)h_call(&s, CAIRN_MSG_ACCOUNTING, &aq.base,
                                              CAIRN_MSG_ACCOUNTING_REPLY, &err);
        cr_assert_not_null(ar, "%s", err.text);
        if (ar->n_records == 2)
            break;
        cairn_msg_free(&ar->base);
        cr_assert_lt(cairn_mono_ms(), deadline, "the accounting records never came");
    }
    const Cairn__AccountingRecord *ra = record_of(ar, a), *rb = record_of(ar, b);
    cr_expect_gt(rb->placed_time_ms, ended, "b was placed after a's end was stamped");
    cr_expect_gt(ra->end_time_ms, rb->placed_time_ms,
                 "a's end, heard after the pass that placed b, is applied later than it");
    cr_expect_geq(rb->start_time_ms, ra->end_time_ms, "b started when a's GPUs were free");
    cairn_msg_free(&ar->base);
    h_worker_close(&w);
    cr_expect_eq(WEXITSTATUS(h_sched_stop(&s, SIGTERM)), 0);

    /* the whole journal keeps to the rule, and replays as it was run */
    char path[400];
    snprintf(path, sizeof(path), "%s/journal.db", s.dir);
    journal_t *j = NULL;
    cr_assert_eq(journal_open_reader(path, &j, &err), 0, "%s", err.text);
    order_t o = {0};
    cr_assert_eq(journal_replay(j, entry_cb, &o, &err), 0, "%s", err.text);
    journal_close(j);
    cr_expect_eq(o.places, 2);
    cr_expect_eq(o.back, 0, "%llu entries out of order, the first: %s", (unsigned long long)o.back,
                 o.first_back);
    h_verify_journal(&s);
    h_sched_fini(&s);
}
