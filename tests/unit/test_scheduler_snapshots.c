/* A real cairn-scheduler process: when its snapshots are written. Writing
 * a snapshot of a large state takes a while, so one that is due waits for
 * a commit that answers no client (a submit's acknowledgement must not
 * wait for it), but not for ever. */
#include "sched_harness.h"

#include <sqlite3.h>

/* The journal entry the newest snapshot covers (0: none yet). */
static uint64_t newest_snapshot(const h_sched_t *s)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/journal.db", s->dir);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    uint64_t seq = 0;
    if (sqlite3_prepare_v2(db, "SELECT max(seq) FROM snapshots", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        seq = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return seq;
}

TestSuite(snapshots, .timeout = 120);

Test(snapshots, a_due_snapshot_waits_for_a_commit_that_answers_no_client)
{
    static const char *const every3[] = {"--snapshot-every", "3", "--snapshot-interval", "0", NULL};
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
    uint64_t seq = 0;
    for (int64_t deadline = cairn_mono_ms() + 10000; !seq && cairn_mono_ms() < deadline;)
        if (!(seq = newest_snapshot(&s)))
            nng_msleep(20); /* polling the database, with a deadline */
    cr_expect_gt(seq, 3, "the snapshot went into the registration's commit (entry %llu)",
                 (unsigned long long)seq);
    h_worker_close(&w);
    h_sched_fini(&s);
}

Test(snapshots, a_snapshot_waits_for_at_most_64_commits)
{
    static const char *const every1[] = {"--snapshot-every", "1", "--snapshot-interval", "0", NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, every1);
    static const char *const one[] = {"a"};
    for (int i = 0; i < 66; i++) /* every commit answers a client */
        cr_assert_gt(h_submit(&s, "j", one, 1, 1, 0, NULL), 0);
    cr_expect_gt(newest_snapshot(&s), 0, "a steady stream of submits kept snapshots out");
    h_sched_fini(&s);
}
