/* Retired jobs beside the journal; see archive.h. */
#include "scheduler/archive.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ST_PUT, ST_GET0, ST_OWNER = ST_GET0 + ARCHIVE_NPARTS, ST_LIST, ST_DROP, ST_N };

struct archive {
    journal_t *j;
    sqlite3_stmt *st[ST_N];
};

static const char *const part_col[ARCHIVE_NPARTS] = {"summary", "status", "prov", "spec_masked"};

int archive_open(journal_t *j, archive_t **out, cairn_error_t *err)
{
    archive_t *a = calloc(1, sizeof(*a));
    if (!a)
        return errcode(err, -ENOMEM, "out of memory");
    a->j = j;
    sqlite3 *db = journal_db(j);
    int ok = journal_readonly(j) ||
             sqlite3_exec(db,
                          "CREATE TABLE IF NOT EXISTS retired (job INTEGER PRIMARY KEY,"
                          " submitter TEXT NOT NULL, state INTEGER NOT NULL,"
                          " submit_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL,"
                          " summary BLOB NOT NULL, status BLOB NOT NULL, prov BLOB NOT NULL,"
                          " spec_masked BLOB NOT NULL);"
                          "CREATE INDEX IF NOT EXISTS retired_end ON retired (end_ms);",
                          NULL, NULL, NULL) == SQLITE_OK;
    /* the account (a later release's column): the rows of an earlier one
     * are of jobs from before accounts, all the built-in default's */
    int mig =
        ok ? journal_add_column(j, "retired", "account", "TEXT NOT NULL DEFAULT 'default'", err)
           : 0;
    ok = ok && mig == 0;
    ok = ok && sqlite3_prepare_v2(db,
                                  "INSERT OR REPLACE INTO retired (job, submitter, state,"
                                  " submit_ms, end_ms, summary, status, prov, spec_masked,"
                                  " account) VALUES (?,?,?,?,?,?,?,?,?,?)",
                                  -1, &a->st[ST_PUT], NULL) == SQLITE_OK;
    for (int p = 0; ok && p < ARCHIVE_NPARTS; p++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT %s FROM retired WHERE job = ?", part_col[p]);
        ok = sqlite3_prepare_v2(db, sql, -1, &a->st[ST_GET0 + p], NULL) == SQLITE_OK;
    }
    ok = ok &&
         sqlite3_prepare_v2(db, "SELECT submitter FROM retired WHERE job = ?", -1, &a->st[ST_OWNER],
                            NULL) == SQLITE_OK &&
         sqlite3_prepare_v2(db,
                            "SELECT job, summary FROM retired WHERE job < ? AND submit_ms >= ?"
                            " AND (? = 0 OR (? >> state) & 1) AND (? = '' OR submitter = ?)"
                            " AND (? = '' OR account = ?) ORDER BY job DESC LIMIT ?",
                            -1, &a->st[ST_LIST], NULL) == SQLITE_OK &&
         sqlite3_prepare_v2(db,
                            "DELETE FROM retired WHERE job IN (SELECT job FROM retired"
                            " WHERE end_ms < ? ORDER BY end_ms LIMIT ?)",
                            -1, &a->st[ST_DROP], NULL) == SQLITE_OK;
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
        sqlite3_finalize(a->st[i]);
    free(a);
}

/* Step a statement that returns no rows, then reset it. */
static int run(archive_t *a, sqlite3_stmt *st, const char *what, cairn_error_t *err)
{
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return s == SQLITE_DONE ? 0 : journal_sql_error(a->j, err, "archive", what);
}

int archive_put(archive_t *a, const archive_row_t *r, cairn_error_t *err)
{
    int rc = journal_begin(a->j, err);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = a->st[ST_PUT];
    sqlite3_bind_int64(st, 1, r->job);
    sqlite3_bind_text(st, 2, r->submitter ? r->submitter : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, r->state);
    sqlite3_bind_int64(st, 4, r->submit_ms);
    sqlite3_bind_int64(st, 5, r->end_ms);
    for (int p = 0; p < ARCHIVE_NPARTS; p++) /* zeroblob: an empty part is not NULL */
        if (r->len[p])
            sqlite3_bind_blob(st, 6 + p, r->part[p], (int)r->len[p], SQLITE_STATIC);
        else
            sqlite3_bind_zeroblob(st, 6 + p, 0);
    sqlite3_bind_text(st, 10, r->account ? r->account : "", -1, SQLITE_STATIC);
    return run(a, st, "put", err);
}

int archive_get(archive_t *a, uint32_t job, archive_part_t part, uint8_t **buf, size_t *len,
                cairn_error_t *err)
{
    sqlite3_stmt *st = a->st[ST_GET0 + part];
    sqlite3_bind_int64(st, 1, job);
    int s = sqlite3_step(st), rc = 0;
    *buf = NULL;
    *len = 0;
    if (s == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        const void *p = sqlite3_column_blob(st, 0);
        *buf = malloc(n + 1); /* a string part gets its terminator */
        if (!*buf)
            rc = errcode(err, -ENOMEM, "out of memory");
        else {
            if (n)
                memcpy(*buf, p, n);
            (*buf)[n] = 0;
            *len = n;
        }
    } else if (s == SQLITE_DONE) {
        rc = errcode(err, -ENOENT, "archive: job %u has no row", job);
    } else {
        rc = journal_sql_error(a->j, err, "archive", "get");
    }
    sqlite3_reset(st);
    return rc;
}

char *archive_owner(archive_t *a, uint32_t job)
{
    sqlite3_stmt *st = a->st[ST_OWNER];
    sqlite3_bind_int64(st, 1, job);
    char *owner = NULL;
    if (sqlite3_step(st) == SQLITE_ROW)
        owner = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return owner;
}

int archive_list(archive_t *a, uint32_t before_job, int64_t since_ms, uint32_t states,
                 const char *submitter, const char *account, uint32_t max, archive_row_f cb,
                 void *arg, cairn_error_t *err)
{
    sqlite3_stmt *st = a->st[ST_LIST];
    const char *who = submitter ? submitter : "", *acct = account ? account : "";
    sqlite3_bind_int64(st, 1, before_job);
    sqlite3_bind_int64(st, 2, since_ms);
    sqlite3_bind_int64(st, 3, states);
    sqlite3_bind_int64(st, 4, states);
    sqlite3_bind_text(st, 5, who, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, who, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, acct, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, acct, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, max);
    int s, rc = 0;
    while ((s = sqlite3_step(st)) == SQLITE_ROW)
        if (cb((uint32_t)sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 1),
               (size_t)sqlite3_column_bytes(st, 1), arg))
            break;
    if (s != SQLITE_ROW && s != SQLITE_DONE)
        rc = journal_sql_error(a->j, err, "archive", "list");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
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
        " ORDER BY end_ms LIMIT ?)"};
    for (size_t i = 0; i < sizeof(with) / sizeof(with[0]); i++) {
        sqlite3_stmt *w;
        if (sqlite3_prepare_v2(journal_db(a->j), with[i], -1, &w, NULL) != SQLITE_OK)
            return journal_sql_error(a->j, err, "archive", "drop provenance");
        sqlite3_bind_int64(w, 1, until_ms);
        sqlite3_bind_int64(w, 2, max);
        int s = sqlite3_step(w);
        sqlite3_finalize(w);
        if (s != SQLITE_DONE)
            return journal_sql_error(a->j, err, "archive", "drop provenance");
    }
    sqlite3_stmt *st = a->st[ST_DROP];
    sqlite3_bind_int64(st, 1, until_ms);
    sqlite3_bind_int64(st, 2, max);
    rc = run(a, st, "drop", err);
    return rc < 0 ? rc : sqlite3_changes(journal_db(a->j));
}
