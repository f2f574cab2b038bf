/* fill_history: a year's worth of history in a scheduler's state database,
 * fast, for tests and benchmarks of reads over long histories (cairn
 * report, cairn plan --trace, cairn audit verify). Written through the
 * scheduler's own stores (history.h, audit.h) in one transaction, with
 * attempt ids from 10^12 up so that they never meet the core's.
 *
 *   fill_history --db STATE_DIR/journal.db --attempts N --audit M [--days D]
 *
 * N records of single-replica, one-GPU attempts that ran one minute each,
 * spread evenly over the last D days (default 7); M audit entries chained
 * as the scheduler chains them. Stop the scheduler first. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scheduler/sdb.h"

#include "common/clock.h"
#include "scheduler/audit.h"
#include "scheduler/history.h"

#define FIRST_ID 1000000000000ull

static int fill(journal_t *j, unsigned long n, unsigned long m, int64_t days)
{
    history_t *h = NULL;
    audit_t *a = NULL;
    cairn_error_t err = {{0}};
    int rc;
    if ((rc = history_open(j, &h, &err)) < 0 || (rc = audit_open(j, &a, &err)) < 0)
        goto out;
    int64_t t1 = cairn_wall_ms() - 120000, t0 = t1 - days * 86400000;
    Cairn__GpuProvenance g = CAIRN__GPU_PROVENANCE__INIT, *gp = &g;
    g.model = "NVIDIA H100 80GB HBM3";
    g.uuid = "GPU-synthetic";
    uint32_t cores[] = {0, 1};
    for (unsigned long i = 0; i < n; i++) {
        Cairn__AccountingRecord r = CAIRN__ACCOUNTING_RECORD__INIT;
        int64_t start = t0 + (int64_t)((double)(t1 - t0) * (double)i / (double)(n ? n : 1));
        r.job_id = FIRST_ID + i / 10;
        r.job_name = "synthetic";
        r.task = "train";
        r.kind = "train";
        r.user = "synth";
        r.attempt_id = FIRST_ID + i;
        r.number = 1;
        r.replicas = 1;
        r.cpus = 2;
        r.gpus = 1;
        r.memory_bytes = 1ull << 30;
        r.shape = "2c 1g";
        r.node = "synthetic-node";
        r.n_cores = 2;
        r.cores = cores;
        r.n_gpu_ids = 1;
        r.gpu_ids = &gp;
        r.submit_time_ms = r.ready_time_ms = start - 2000;
        r.placed_time_ms = start - 1000;
        r.start_time_ms = start;
        r.end_time_ms = start + 60000;
        r.end = "succeeded";
        r.core_seconds = 120;
        r.gpu_seconds = 60;
        r.gpu_seconds_used = -1;
        if ((rc = history_put(h, &r, &err)) < 0)
            goto out;
    }
    for (unsigned long i = 0; i < m; i++) {
        char target[64];
        snprintf(target, sizeof(target), "job %lu", (unsigned long)(FIRST_ID / 1000 + i));
        if ((rc = audit_append(a, t0 + (int64_t)i, "synth", "submit", target, "synthetic history",
                               &err)) < 0)
            goto out;
    }
    if (n && (rc = history_set_complete(h, &err)) < 0)
        goto out;
    rc = journal_commit(j, &err);
out:
    if (rc < 0)
        fprintf(stderr, "fill_history: %s\n", err.text);
    history_close(h);
    audit_close(a);
    return rc;
}

int main(int argc, char **argv)
{
    const char *db = NULL;
    unsigned long n = 0, m = 0;
    long days = 7;
    for (int i = 1; i + 1 < argc; i += 2) {
        char *end = NULL;
        errno = 0;
        if (!strcmp(argv[i], "--db"))
            db = argv[i + 1];
        else if (!strcmp(argv[i], "--attempts"))
            n = strtoul(argv[i + 1], &end, 10);
        else if (!strcmp(argv[i], "--audit"))
            m = strtoul(argv[i + 1], &end, 10);
        else if (!strcmp(argv[i], "--days"))
            days = strtol(argv[i + 1], &end, 10);
        else
            db = NULL, i = argc;
        if (end && (*end || errno)) {
            fprintf(stderr, "fill_history: bad number '%s'\n", argv[i + 1]);
            return 2;
        }
    }
    if (!db || days < 1) {
        fprintf(stderr, "usage: fill_history --db PATH --attempts N --audit M [--days D]\n");
        return 2;
    }
    journal_t *j = NULL;
    cairn_error_t err = {{0}};
    if (journal_open(db, &j, &err) < 0) {
        fprintf(stderr, "fill_history: %s\n", err.text);
        return 1;
    }
    /* test data: no fsync, a larger cache (the scheduler sets FULL again) */
    sdb_exec(journal_db(j), "PRAGMA synchronous=OFF; PRAGMA cache_size=-262144", NULL);
    int rc = fill(j, n, m, days);
    journal_close(j);
    if (rc == 0)
        printf("fill_history: %lu records over %ld days and %lu audit entries in %s\n", n, days, m,
               db);
    return rc < 0 ? 1 : 0;
}
