/* A real cairn-scheduler process: when its snapshots are written (its
 * debug log names each one). Writing a snapshot of a large state takes a
 * while, so one that is due waits for a commit that answers no client (a
 * submit's acknowledgement must not wait for it), but not for ever. */
#include "sched_harness.h"

#include <stdlib.h>

#define TAKEN "snapshot of journal entry "

/* The journal entry the newest snapshot in the log covers (0: none). */
static unsigned long newest_snapshot(const h_sched_t *s)
{
    char path[600], line[1024];
    snprintf(path, sizeof(path), "%s/scheduler.log", s->dir);
    FILE *f = fopen(path, "r");
    unsigned long seq = 0;
    while (f && fgets(line, sizeof(line), f)) {
        const char *p = strstr(line, TAKEN);
        if (p && strstr(p, " bytes in "))
            seq = strtoul(p + strlen(TAKEN), NULL, 10);
    }
    if (f)
        fclose(f);
    return seq;
}

TestSuite(snapshots, .timeout = 120);

Test(snapshots, a_due_snapshot_waits_for_a_commit_that_answers_no_client)
{
    static const char *const every3[] = {
        "--snapshot-every", "3", "--snapshot-interval", "0", "--log-level", "debug", NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, every3);
    static const char *const one[] = {"a"};
    for (int i = 0; i < 3; i++) /* no node: each submit is one entry, in its own commit */
        cr_assert_gt(h_submit(&s, "j", one, 1, 1, 0, NULL), 0);
    cr_expect_eq(newest_snapshot(&s), 0,
                 "the third submit's commit reached the interval with its client waiting: it "
                 "carries no snapshot");
    /* a worker's registration is an entry no client waits for */
    h_worker_t w;
    h_worker_open(&w, s.workers, "n1", 1, 0);
    h_register_ok(&w);
    h_wait_log(&s, TAKEN, 1);
    unsigned long seq = newest_snapshot(&s);
    cr_expect_gt(seq, 3, "the snapshot went into the registration's commit (entry %lu)", seq);
    h_worker_close(&w);
    h_sched_fini(&s);
}

Test(snapshots, a_snapshot_waits_for_at_most_64_commits)
{
    static const char *const every1[] = {
        "--snapshot-every", "1", "--snapshot-interval", "0", "--log-level", "debug", NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, every1);
    static const char *const one[] = {"a"};
    for (int i = 0; i < 66; i++) /* every commit answers a client */
        cr_assert_gt(h_submit(&s, "j", one, 1, 1, 0, NULL), 0);
    cr_expect_gt(newest_snapshot(&s), 0, "a steady stream of submits kept snapshots out");
    h_sched_fini(&s);
}
