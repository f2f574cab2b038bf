/* The journal holds account events and the account a job is charged to:
 * packed and unpacked (scheduler/journal_pack.c), they rebuild the same
 * core state as the events themselves. */
#include <criterion/criterion.h>

#include "scheduler/journal_pack.h"

static sched_account_spec_t spec(const char *name, const char *parent, uint32_t gpus)
{
    return (sched_account_spec_t){.name = name,
                                  .parent = parent,
                                  .share = 3,
                                  .max_gpus = gpus,
                                  .max_cpus = 7,
                                  .max_running = SCHED_UNLIMITED,
                                  .max_priority = 40};
}

Test(journal_accounts, account_events_and_charges_round_trip)
{
    char *argv[] = {"true"};
    Cairn__ResourceRequest rr = CAIRN__RESOURCE_REQUEST__INIT;
    rr.cpus = 1;
    Cairn__TaskSpec ts = CAIRN__TASK_SPEC__INIT, *tsp = &ts;
    ts.name = "t";
    ts.n_argv = 1;
    ts.argv = argv;
    ts.resources = &rr;
    Cairn__JobSpec js = CAIRN__JOB_SPEC__INIT;
    js.name = "j";
    js.submitter = "ann";
    js.n_tasks = 1;
    js.tasks = &tsp;
    jobspec_errors_t errs = {0};
    jobspec_t *cj = NULL;
    cr_assert_eq(jobspec_build(&js, 9, NULL, &cj, &errs), 0);

    sched_event_t evs[5] = {
        {.type = SCHED_EV_ACCOUNT_SET, .time_ms = 1, .u.account_set = spec("research", NULL, 16)},
        {.type = SCHED_EV_ACCOUNT_SET,
         .time_ms = 2,
         .u.account_set = spec("vision", "research", SCHED_UNLIMITED)},
        {.type = SCHED_EV_JOB_SUBMIT, .time_ms = 3},
        {.type = SCHED_EV_ACCOUNT_SET, .time_ms = 4, .u.account_set = spec("nlp", NULL, 2)},
        {.type = SCHED_EV_ACCOUNT_DELETE, .time_ms = 5, .u.account_delete.name = "nlp"},
    };
    evs[2].u.submit = *jobspec_core(cj);
    evs[2].u.submit.account = "vision";
    sched_t *a = sched_create(NULL), *b = sched_create(NULL);
    for (size_t i = 0; i < 5; i++) {
        cairn_error_t err = {{0}};
        cr_assert_eq(sched_apply(a, &evs[i], &err), 0, "event %zu: %s", i, err.text);
        uint8_t *buf;
        size_t len;
        cr_assert_eq(journal_event_pack(&evs[i], &js, 9, &buf, &len), 0);
        sched_event_t ev;
        journal_hold_t h;
        cr_assert_eq(journal_event_unpack(buf, len, &ev, &h, NULL, &err), 0, "%s", err.text);
        cr_expect_eq(ev.type, evs[i].type);
        cr_expect_eq(ev.time_ms, evs[i].time_ms);
        if (ev.type == SCHED_EV_ACCOUNT_SET) {
            const sched_account_spec_t *x = &ev.u.account_set, *y = &evs[i].u.account_set;
            cr_expect_str_eq(x->name, y->name);
            cr_expect_str_eq(x->parent, y->parent ? y->parent : "");
            cr_expect(x->share == y->share && x->max_gpus == y->max_gpus &&
                      x->max_cpus == y->max_cpus && x->max_running == y->max_running &&
                      x->max_priority == y->max_priority);
        }
        if (ev.type == SCHED_EV_JOB_SUBMIT)
            cr_expect_str_eq(ev.u.submit.account, "vision");
        cr_assert_eq(sched_apply(b, &ev, &err), 0, "unpacked event %zu: %s", i, err.text);
        journal_hold_fini(&h);
        free(buf);
    }
    char *da = sched_dump(a), *db = sched_dump(b);
    cr_expect_str_eq(da, db);
    cr_expect(strstr(db, "account vision") && strstr(db, "account 3 nlp deleted"), "%s", db);
    cr_expect_eq(sched_job_account(b, 1), 2);
    free(da);
    free(db);
    sched_destroy(a);
    sched_destroy(b);
    jobspec_destroy(cj);
}
