/* A real cairn-scheduler answers a big job's status a page at a time, so
 * that no reply holds its loop long: pages in task order with no task
 * missing or twice, more/next_task_offset to go on, a limit it caps, and a
 * request for one task by name. */
#include "sched_harness.h"

enum { NTASKS = 4500 };

static Cairn__JobStatusReply *page(h_sched_t *s, uint64_t job, uint32_t offset, uint32_t limit,
                                   const char *task)
{
    Cairn__JobStatusRequest req = CAIRN__JOB_STATUS_REQUEST__INIT;
    req.job_id = job;
    req.task_offset = offset;
    req.task_limit = limit;
    req.task = (char *)(task ? task : "");
    cairn_error_t err = {{0}};
    Cairn__JobStatusReply *r = (Cairn__JobStatusReply *)h_call(
        s, CAIRN_MSG_JOB_STATUS, &req.base, CAIRN_MSG_JOB_STATUS_REPLY, &err);
    cr_assert_not_null(r, "status: %s", err.text);
    return r;
}

Test(paging, a_big_jobs_status_comes_in_pages)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, NULL);
    /* no worker: every task stays pending */
    static Cairn__TaskSpec ts[NTASKS], *tp[NTASKS];
    static char names[NTASKS][16];
    static char *argv[] = {"true"};
    for (int i = 0; i < NTASKS; i++) {
        cairn__task_spec__init(&ts[i]);
        snprintf(names[i], sizeof(names[i]), "t%04d", i);
        ts[i].name = names[i];
        ts[i].n_argv = 1;
        ts[i].argv = argv;
        tp[i] = &ts[i];
    }
    uint64_t job = h_submit_tasks(&s, "big", tp, NTASKS);
    /* the default page, then on from next_task_offset */
    uint32_t seen = 0, offset = 0;
    int pages = 0;
    for (;;) {
        Cairn__JobStatusReply *r = page(&s, job, offset, 0, NULL);
        pages++;
        cr_assert_eq(r->job->tasks_total, NTASKS);
        for (size_t i = 0; i < r->n_tasks; i++, seen++)
            cr_assert_str_eq(r->tasks[i]->name, names[seen], "page %d task %zu", pages, i);
        bool more = r->more;
        offset = r->next_task_offset;
        cairn_msg_free(&r->base);
        if (!more)
            break;
        cr_assert_eq(offset, seen, "the next page starts after this one");
    }
    cr_expect_eq(seen, NTASKS, "every task once");
    cr_expect_eq(pages, 3, "4500 tasks in pages of 2000");
    /* a limit past the cap is capped */
    Cairn__JobStatusReply *r = page(&s, job, 0, 1000000, NULL);
    cr_expect_eq(r->n_tasks, NTASKS > 10000 ? 10000 : NTASKS);
    cairn_msg_free(&r->base);
    /* one task by name, wherever it is */
    r = page(&s, job, 0, 0, "t4321");
    cr_assert_eq(r->n_tasks, 1);
    cr_expect_str_eq(r->tasks[0]->name, "t4321");
    cr_expect(!r->more);
    cairn_msg_free(&r->base);
    r = page(&s, job, 0, 0, "nope");
    cr_expect_eq(r->n_tasks, 0);
    cairn_msg_free(&r->base);
    /* past the end: an empty page */
    r = page(&s, job, NTASKS + 5, 10, NULL);
    cr_expect_eq(r->n_tasks, 0);
    cr_expect(!r->more);
    cairn_msg_free(&r->base);
    h_sched_fini(&s);
}
