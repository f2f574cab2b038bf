/* Retired jobs beside the journal; see archive.h. */
#include "scheduler/archive.h"

#include "scheduler/sdb.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ST_PUT, ST_GET0, ST_OWNER = ST_GET0 + ARCHIVE_NPARTS, ST_LIST, ST_DROP, ST_N };

struct archive {
    journal_t *j;
    sdb_stmt_t *st[ST_N];
};

static const char *const part_col[ARCHIVE_NPARTS] = {"summary", "status", "prov", "spec_masked"};

int archive_open(journal_t *j, archive_t **out, cairn_error_t *err)
{
    archive_t *a = calloc(1, sizeof(*a));
    if (!a)
        return errcode(err, -ENOMEM, "out of memory");
    a->j = j;
    sdb_t *db = journal_db(j);
    int ok = journal_readonly(j) ||
             sdb_exec(db,
                      "CREATE TABLE IF NOT EXISTS retired (job INTEGER PRIMARY KEY,"
                      " submitter TEXT NOT NULL, state INTEGER NOT NULL,"
                      " submit_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL,"
                      " summary BLOB NOT NULL, status BLOB NOT NULL, prov BLOB NOT NULL,"
                      " spec_masked BLOB NOT NULL);"
                      "CREATE INDEX IF NOT EXISTS retired_end ON retired (end_ms);",
                      NULL) == SDB_OK;
    /* the account (a later release's column): the rows of an earlier one
     * are of jobs from before accounts, all the built-in default's */
    int mig =
        ok ? journal_add_column(j, "retired", "account", "TEXT NOT NULL DEFAULT 'default'", err)
           : 0;
    ok = ok && mig == 0;
    ok = ok && sdb_prepare(db,
                           "INSERT OR REPLACE INTO retired (job, submitter, state,"
                           " submit_ms, end_ms, summary, status, prov, spec_masked,"
                           " account) VALUES (?,?,?,?,?,?,?,?,?,?)",
                           &a->st[ST_PUT]) == SDB_OK;
    for (int p = 0; ok && p < ARCHIVE_NPARTS; p++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT %s FROM retired WHERE job = ?", part_col[p]);
        ok = sdb_prepare(db, sql, &a->st[ST_GET0 + p]) == SDB_OK;
    }
    ok = ok &&
         sdb_prepare(db, "SELECT submitter FROM retired WHERE job = ?", &a->st[ST_OWNER]) ==
             SDB_OK &&
         sdb_prepare2(db,
                      "SELECT job, summary FROM retired WHERE job < ? AND submit_ms >= ?"
                      " AND (? = 0 OR (? >> state) & 1) AND (? = '' OR submitter = ?)"
                      " AND (? = '' OR account = ?) ORDER BY job DESC LIMIT ?",
                      "SELECT job, summary FROM retired WHERE job < $1 AND submit_ms >= $2"
                      " AND ($3::bigint = 0 OR (($4::bigint >> state::integer) & 1) = 1)"
                      " AND ($5::text = '' OR submitter = $6) AND ($7::text = '' OR account = $8)"
                      " ORDER BY job DESC LIMIT $9",
                      &a->st[ST_LIST]) == SDB_OK &&
         sdb_prepare(db,
                     "DELETE FROM retired WHERE job IN (SELECT job FROM retired"
                     " WHERE end_ms < ? ORDER BY end_ms LIMIT ?)",
                     &a->st[ST_DROP]) == SDB_OK;
    if (!ok) {
        int rc = mig < 0 ? mig : journal_sql_error(j, err, "archive", "open");
        archive_close(a);
        return rc;
    }
    *out = a;
    return 0;
}

void archive_close(archive_t *a)
{
    if (!a)
        return;
    for (int i = 0; i < ST_N; i++)
        sdb_finalize(a->st[i]);
    free(a);
}

/* Step a statement that returns no rows, then reset it. */
static int run(archive_t *a, sdb_stmt_t *st, const char *what, cairn_error_t *err)
{
    int s = sdb_step(st);
    sdb_reset(st);
    sdb_clear_bindings(st);
    return s == SDB_DONE ? 0 : journal_sql_error(a->j, err, "archive", what);
}

int archive_put(archive_t *a, const archive_row_t *r, cairn_error_t *err)
{
    int rc = journal_begin(a->j, err);
    if (rc < 0)
        return rc;
    sdb_stmt_t *st = a->st[ST_PUT];
    sdb_bind_int64(st, 1, r->job);
    sdb_bind_text(st, 2, r->submitter ? r->submitter : "", -1, SDB_STATIC);
    sdb_bind_int(st, 3, r->state);
    sdb_bind_int64(st, 4, r->submit_ms);
    sdb_bind_int64(st, 5, r->end_ms);
    for (int p = 0; p < ARCHIVE_NPARTS; p++) /* zeroblob: an empty part is not NULL */
        if (r->len[p])
            sdb_bind_blob(st, 6 + p, r->part[p], (int)r->len[p], SDB_STATIC);
        else
            sdb_bind_zeroblob(st, 6 + p, 0);
    sdb_bind_text(st, 10, r->account ? r->account : "", -1, SDB_STATIC);
    return run(a, st, "put", err);
}

int archive_get(archive_t *a, uint32_t job, archive_part_t part, uint8_t **buf, size_t *len,
                cairn_error_t *err)
{
    sdb_stmt_t *st = a->st[ST_GET0 + part];
    sdb_bind_int64(st, 1, job);
    int s = sdb_step(st), rc = 0;
    *buf = NULL;
    *len = 0;
    if (s == SDB_ROW) {
        size_t n = (size_t)sdb_column_bytes(st, 0);
        const void *p = sdb_column_blob(st, 0);
        *buf = malloc(n + 1); /* a string part gets its terminator */
        if (!*buf)
            rc = errcode(err, -ENOMEM, "out of memory");
        else {
            if (n)
                memcpy(*buf, p, n);
            (*buf)[n] = 0;
            *len = n;
        }
    } else if (s == SDB_DONE) {
        rc = errcode(err, -ENOENT, "archive: job %u has no row", job);
    } else {
        rc = journal_sql_error(a->j, err, "archive", "get");
    }
    sdb_reset(st);
    return rc;
}

char *archive_owner(archive_t *a, uint32_t job)
{
    sdb_stmt_t *st = a->st[ST_OWNER];
    sdb_bind_int64(st, 1, job);
    char *owner = NULL;
    if (sdb_step(st) == SDB_ROW)
        owner = strdup((const char *)sdb_column_text(st, 0));
    sdb_reset(st);
    return owner;
}

int archive_list(archive_t *a, uint32_t before_job, int64_t since_ms, uint32_t states,
                 const char *submitter, const char *account, uint32_t max, archive_row_f cb,
                 void *arg, cairn_error_t *err)
{
    sdb_stmt_t *st = a->st[ST_LIST];
    const char *who = submitter ? submitter : "", *acct = account ? account : "";
    sdb_bind_int64(st, 1, before_job);
    sdb_bind_int64(st, 2, since_ms);
    sdb_bind_int64(st, 3, states);
    sdb_bind_int64(st, 4, states);
    sdb_bind_text(st, 5, who, -1, SDB_STATIC);
    sdb_bind_text(st, 6, who, -1, SDB_STATIC);
    sdb_bind_text(st, 7, acct, -1, SDB_STATIC);
    sdb_bind_text(st, 8, acct, -1, SDB_STATIC);
    sdb_bind_int64(st, 9, max);
    int s, rc = 0;
    while ((s = sdb_step(st)) == SDB_ROW)
        if (cb((uint32_t)sdb_column_int64(st, 0), sdb_column_blob(st, 1),
               (size_t)sdb_column_bytes(st, 1), arg))
            break;
    if (s != SDB_ROW && s != SDB_DONE)
        rc = journal_sql_error(a->j, err, "archive", "list");
    sdb_reset(st);
    sdb_clear_bindings(st);
    return rc;
}

int archive_drop_before(archive_t *a, int64_t until_ms, uint32_t max, cairn_error_t *err)
{
    int rc = journal_begin(a->j, err);
    if (rc < 0)
        return rc;
    /* the spec and inputs kept of those jobs go with them (provenance.h) */
    static const char *const with[] = {
        "DELETE FROM job_specs WHERE job IN (SELECT job FROM retired WHERE end_ms < ?"
        " ORDER BY end_ms LIMIT ?)",
        "DELETE FROM task_inputs WHERE job IN (SELECT job FROM retired WHERE end_ms < ?"
        " ORDER BY end_ms LIMIT ?)",
        "DELETE FROM task_checkpoints WHERE job IN (SELECT job FROM retired WHERE end_ms < ?"
        " ORDER BY end_ms LIMIT ?)",
        "DELETE FROM task_retry_logs WHERE job IN (SELECT job FROM retired WHERE end_ms < ?"
        " ORDER BY end_ms LIMIT ?)"};
    for (size_t i = 0; i < sizeof(with) / sizeof(with[0]); i++) {
        sdb_stmt_t *w;
        if (sdb_prepare(journal_db(a->j), with[i], &w) != SDB_OK)
            return journal_sql_error(a->j, err, "archive", "drop provenance");
        sdb_bind_int64(w, 1, until_ms);
        sdb_bind_int64(w, 2, max);
        int s = sdb_step(w);
        sdb_finalize(w);
        if (s != SDB_DONE)
            return journal_sql_error(a->j, err, "archive", "drop provenance");
    }
    sdb_stmt_t *st = a->st[ST_DROP];
    sdb_bind_int64(st, 1, until_ms);
    sdb_bind_int64(st, 2, max);
    rc = run(a, st, "drop", err);
    return rc < 0 ? rc : sdb_changes(journal_db(a->j));
}
