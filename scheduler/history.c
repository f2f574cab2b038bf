/* The history of attempts beside the journal; see history.h. */
#include "scheduler/history.h"

#include "scheduler/sdb.h"
#include <errno.h>
#include <stdlib.h>

struct history {
    journal_t *j;
    sdb_stmt_t *put, *page, *drop;
    /* the daemon's: the index (in the core's list of ended attempts) of
     * the next to record; whether every one before it has its record */
    size_t cursor;
    bool complete;
};

int history_open(journal_t *j, history_t **out, cairn_error_t *err)
{
    history_t *h = calloc(1, sizeof(*h));
    if (!h)
        return errcode(err, -ENOMEM, "out of memory");
    h->j = j;
    sdb_t *db = journal_db(j);
    if ((!journal_readonly(j) &&
         sdb_exec(db,
                  "CREATE TABLE IF NOT EXISTS history (attempt INTEGER, rank INTEGER,"
                  " job INTEGER NOT NULL, placed_ms INTEGER NOT NULL,"
                  " end_ms INTEGER NOT NULL, record BLOB NOT NULL,"
                  " PRIMARY KEY (attempt, rank)) WITHOUT ROWID;",
                  NULL) != SDB_OK) ||
        sdb_prepare(db, "INSERT OR IGNORE INTO history VALUES (?,?,?,?,?,?)", &h->put) != SDB_OK ||
        sdb_prepare(db,
                    "SELECT record FROM history WHERE (attempt, rank) > (?, ?) AND"
                    " end_ms >= ? AND placed_ms < ? ORDER BY attempt, rank LIMIT ?",
                    &h->page) != SDB_OK ||
        (!journal_readonly(j) &&
         (sdb_exec(db, "CREATE INDEX IF NOT EXISTS history_end ON history (end_ms);", NULL) !=
              SDB_OK ||
          sdb_prepare(db,
                      "DELETE FROM history WHERE (attempt, rank) IN (SELECT attempt, rank"
                      " FROM history WHERE end_ms < ? ORDER BY end_ms LIMIT ?)",
                      &h->drop) != SDB_OK))) {
        int rc = journal_sql_error(h->j, err, "history", "open");
        history_close(h);
        return rc;
    }
    *out = h;
    return 0;
}

void history_close(history_t *h)
{
    if (!h)
        return;
    sdb_finalize(h->put);
    sdb_finalize(h->page);
    sdb_finalize(h->drop);
    free(h);
}

int history_put(history_t *h, const Cairn__AccountingRecord *r, cairn_error_t *err)
{
    int rc = journal_begin(h->j, err);
    if (rc < 0)
        return rc;
    size_t len = cairn__accounting_record__get_packed_size(r);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return errcode(err, -ENOMEM, "out of memory");
    cairn__accounting_record__pack(r, buf);
    sdb_stmt_t *st = h->put;
    sdb_bind_int64(st, 1, (int64_t)r->attempt_id);
    sdb_bind_int64(st, 2, r->rank);
    sdb_bind_int64(st, 3, (int64_t)r->job_id);
    sdb_bind_int64(st, 4, r->placed_time_ms);
    sdb_bind_int64(st, 5, r->end_time_ms);
    sdb_bind_blob(st, 6, buf, (int)len, SDB_STATIC);
    int s = sdb_step(st);
    sdb_reset(st);
    sdb_clear_bindings(st);
    free(buf);
    return s == SDB_DONE ? 0 : journal_sql_error(h->j, err, "history", "put");
}

int history_complete(history_t *h, bool *complete, cairn_error_t *err)
{
    sdb_stmt_t *st;
    if (sdb_prepare(journal_db(h->j), "SELECT value FROM meta WHERE key = 'history'", &st) !=
        SDB_OK)
        return journal_sql_error(h->j, err, "history", "meta");
    *complete = sdb_step(st) == SDB_ROW;
    sdb_finalize(st);
    return 0;
}

int history_set_complete(history_t *h, cairn_error_t *err)
{
    int rc = journal_begin(h->j, err);
    if (rc < 0)
        return rc;
    if (sdb_exec(journal_db(h->j), "INSERT OR REPLACE INTO meta VALUES ('history', '1')", NULL) !=
        SDB_OK)
        return journal_sql_error(h->j, err, "history", "meta");
    return 0;
}

int history_page(history_t *h, int64_t since_ms, int64_t until_ms, uint64_t after_attempt,
                 uint32_t after_rank, uint32_t max, history_row_f cb, void *arg, cairn_error_t *err)
{
    sdb_stmt_t *st = h->page;
    sdb_bind_int64(st, 1, (int64_t)after_attempt);
    sdb_bind_int64(st, 2, after_rank);
    sdb_bind_int64(st, 3, since_ms);
    sdb_bind_int64(st, 4, until_ms);
    sdb_bind_int64(st, 5, max);
    int s, rc = 0;
    while ((s = sdb_step(st)) == SDB_ROW) {
        const uint8_t *data = sdb_column_blob(st, 0);
        size_t len = (size_t)sdb_column_bytes(st, 0);
        Cairn__AccountingRecord *r = cairn__accounting_record__unpack(NULL, len, data);
        if (!r) {
            rc = errcode(err, -EBADMSG, "history: a record does not decode");
            break;
        }
        if (cb(r, arg))
            break;
    }
    if (rc == 0 && s != SDB_ROW && s != SDB_DONE)
        rc = journal_sql_error(h->j, err, "history", "page");
    sdb_reset(st);
    sdb_clear_bindings(st);
    return rc;
}

int history_load_cursor(history_t *h, size_t nended, cairn_error_t *err)
{
    bool complete = false;
    int rc = history_complete(h, &complete, err);
    if (rc < 0)
        return rc;
    h->complete = complete;
    h->cursor = complete ? nended : 0;
    return 0;
}

size_t history_cursor(const history_t *h)
{
    return h->cursor;
}

void history_advance(history_t *h, size_t k)
{
    h->cursor += k;
}

int history_mark_complete(history_t *h, cairn_error_t *err)
{
    if (h->complete)
        return 0;
    int rc = history_set_complete(h, err);
    if (rc == 0)
        h->complete = true;
    return rc;
}

int history_drop_before(history_t *h, int64_t until_ms, uint32_t max, cairn_error_t *err)
{
    int rc = journal_begin(h->j, err);
    if (rc < 0)
        return rc;
    /* the provenance kept of those attempts goes with them (provenance.h) */
    static const char *const with[] = {
        "DELETE FROM prov_start WHERE attempt IN (SELECT attempt FROM history WHERE end_ms < ?"
        " ORDER BY end_ms LIMIT ?)",
        "DELETE FROM prov_end WHERE attempt IN (SELECT attempt FROM history WHERE end_ms < ?"
        " ORDER BY end_ms LIMIT ?)",
        "DELETE FROM preemptions WHERE attempt IN (SELECT attempt FROM history WHERE end_ms < ?"
        " ORDER BY end_ms LIMIT ?)"};
    for (size_t i = 0; i < sizeof(with) / sizeof(with[0]); i++) {
        sdb_stmt_t *st;
        if (sdb_prepare(journal_db(h->j), with[i], &st) != SDB_OK)
            return journal_sql_error(h->j, err, "history", "drop provenance");
        sdb_bind_int64(st, 1, until_ms);
        sdb_bind_int64(st, 2, max);
        int s = sdb_step(st);
        sdb_finalize(st);
        if (s != SDB_DONE)
            return journal_sql_error(h->j, err, "history", "drop provenance");
    }
    sdb_bind_int64(h->drop, 1, until_ms);
    sdb_bind_int64(h->drop, 2, max);
    int s = sdb_step(h->drop);
    sdb_reset(h->drop);
    if (s != SDB_DONE)
        return journal_sql_error(h->j, err, "history", "drop");
    return sdb_changes(journal_db(h->j));
}
