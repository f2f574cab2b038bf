/* The state database interface and its SQLite backend; see sdb.h. */
#include "scheduler/sdb.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/sdb_private.h"

int sdb_open(const char *url, bool readonly, sdb_t **out, cairn_error_t *err)
{
    const char *path = NULL;
    sdb_kind_t kind = sdb_url_kind(url, &path);
    if (!*path)
        return errcode(err, -EINVAL, "store: an empty path or URL");
    sdb_t *db = calloc(1, sizeof(*db));
    if (!db)
        return errcode(err, -ENOMEM, "out of memory");
    db->kind = kind;
    if (kind == SDB_PG) {
        int rc = sdb_pg_open(url, readonly, &db->pg, err);
        if (rc < 0) {
            free(db);
            return rc;
        }
        *out = db;
        return 0;
    }
    int flags = readonly ? SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX
                         : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(path, &db->lite, flags, NULL) != SQLITE_OK) {
        int rc = errcode(err, -EIO, "journal %s: %s", path, sqlite3_errmsg(db->lite));
        sqlite3_close(db->lite);
        free(db);
        return rc;
    }
    sqlite3_busy_timeout(db->lite, 5000);
    *out = db;
    return 0;
}

void sdb_close(sdb_t *db)
{
    if (!db)
        return;
    if (db->pg)
        sdb_pg_close(db->pg);
    if (db->lite)
        sqlite3_close(db->lite);
    free(db);
}

sdb_kind_t sdb_kind(const sdb_t *db)
{
    return db->kind;
}

const char *sdb_errmsg(sdb_t *db)
{
    return db->pg ? sdb_pg_errmsg(db->pg) : sqlite3_errmsg(db->lite);
}

bool sdb_broken(const sdb_t *db)
{
    return db->pg && sdb_pg_broken(db->pg);
}

const char *sdb_sqlstate(const sdb_t *db)
{
    return db->pg ? sdb_pg_sqlstate(db->pg) : "";
}

int sdb_exec(sdb_t *db, const char *sql, char **msg)
{
    if (db->pg)
        return sdb_pg_exec(db->pg, sql, msg);
    char *m = NULL;
    int rc = sqlite3_exec(db->lite, sql, NULL, NULL, &m);
    if (rc != SQLITE_OK) {
        if (msg)
            *msg = strdup(m ? m : sqlite3_errmsg(db->lite));
        sqlite3_free(m);
        return SDB_ERROR;
    }
    return SDB_OK;
}

void sdb_free(void *p)
{
    free(p);
}

int sdb_prepare2(sdb_t *db, const char *sql, const char *sql_pg, sdb_stmt_t **out)
{
    sdb_stmt_t *st = calloc(1, sizeof(*st));
    *out = NULL;
    if (!st)
        return SDB_ERROR;
    st->db = db;
    int rc =
        db->pg ? sdb_pg_prepare(db->pg, sql, sql_pg, &st->pg)
               : (sqlite3_prepare_v2(db->lite, sql, -1, &st->lite, NULL) == SQLITE_OK ? SDB_OK
                                                                                      : SDB_ERROR);
    if (rc != SDB_OK) {
        free(st);
        return SDB_ERROR;
    }
    *out = st;
    return SDB_OK;
}

int sdb_prepare(sdb_t *db, const char *sql, sdb_stmt_t **st)
{
    return sdb_prepare2(db, sql, NULL, st);
}

static int lite_rc(int rc)
{
    return rc == SQLITE_OK ? SDB_OK : SDB_ERROR;
}

int sdb_bind_int64(sdb_stmt_t *st, int i, int64_t v)
{
    if (st->lite)
        return lite_rc(sqlite3_bind_int64(st->lite, i, v));
    char b[24];
    int n = snprintf(b, sizeof(b), "%" PRId64, v);
    return sdb_pg_bind(st->pg, i, b, (size_t)n, false, true);
}

int sdb_bind_int(sdb_stmt_t *st, int i, int v)
{
    return sdb_bind_int64(st, i, v);
}

int sdb_bind_double(sdb_stmt_t *st, int i, double v)
{
    if (st->lite)
        return lite_rc(sqlite3_bind_double(st->lite, i, v));
    char b[40];
    int n = snprintf(b, sizeof(b), "%.17g", v);
    return sdb_pg_bind(st->pg, i, b, (size_t)n, false, true);
}

int sdb_bind_text(sdb_stmt_t *st, int i, const char *s, int n, sdb_dtor_f d)
{
    if (st->lite)
        return lite_rc(sqlite3_bind_text(st->lite, i, s, n, d));
    if (!s)
        return sdb_pg_bind(st->pg, i, NULL, 0, false, false);
    size_t len = n < 0 ? strlen(s) : strnlen(s, (size_t)n);
    return sdb_pg_bind(st->pg, i, s, len, false, d != SDB_STATIC);
}

int sdb_bind_blob64(sdb_stmt_t *st, int i, const void *p, uint64_t n, sdb_dtor_f d)
{
    if (st->lite)
        return lite_rc(sqlite3_bind_blob64(st->lite, i, p, n, d));
    static const char none;
    return sdb_pg_bind(st->pg, i, p ? p : &none, (size_t)n, true, d != SDB_STATIC);
}

int sdb_bind_blob(sdb_stmt_t *st, int i, const void *p, int n, sdb_dtor_f d)
{
    if (st->lite)
        return lite_rc(sqlite3_bind_blob(st->lite, i, p, n, d));
    return sdb_bind_blob64(st, i, p, n < 0 ? 0 : (uint64_t)n, d);
}

int sdb_bind_zeroblob(sdb_stmt_t *st, int i, int n)
{
    if (st->lite)
        return lite_rc(sqlite3_bind_zeroblob(st->lite, i, n));
    void *z = calloc(1, n > 0 ? (size_t)n : 1);
    if (!z)
        return SDB_ERROR;
    int rc = sdb_bind_blob64(st, i, z, n > 0 ? (uint64_t)n : 0, SDB_TRANSIENT);
    free(z);
    return rc;
}

int sdb_bind_null(sdb_stmt_t *st, int i)
{
    if (st->lite)
        return lite_rc(sqlite3_bind_null(st->lite, i));
    return sdb_pg_bind(st->pg, i, NULL, 0, false, false);
}

int sdb_bind_parameter_count(sdb_stmt_t *st)
{
    return st->lite ? sqlite3_bind_parameter_count(st->lite) : sdb_pg_nparams(st->pg);
}

int sdb_step(sdb_stmt_t *st)
{
    if (st->pg)
        return sdb_pg_step(st->pg);
    int rc = sqlite3_step(st->lite);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? rc : SDB_ERROR;
}

int64_t sdb_column_int64(sdb_stmt_t *st, int col)
{
    if (st->lite)
        return sqlite3_column_int64(st->lite, col);
    const char *v = sdb_pg_column(st->pg, col, NULL, NULL);
    if (!v)
        return 0;
    if (!strcmp(v, "t"))
        return 1; /* a boolean */
    return (int64_t)strtoll(v, NULL, 10);
}

int sdb_column_int(sdb_stmt_t *st, int col)
{
    return (int)sdb_column_int64(st, col);
}

double sdb_column_double(sdb_stmt_t *st, int col)
{
    if (st->lite)
        return sqlite3_column_double(st->lite, col);
    const char *v = sdb_pg_column(st->pg, col, NULL, NULL);
    return v ? strtod(v, NULL) : 0.0;
}

const unsigned char *sdb_column_text(sdb_stmt_t *st, int col)
{
    if (st->lite)
        return sqlite3_column_text(st->lite, col);
    return (const unsigned char *)sdb_pg_column(st->pg, col, NULL, NULL);
}

const void *sdb_column_blob(sdb_stmt_t *st, int col)
{
    if (st->lite)
        return sqlite3_column_blob(st->lite, col);
    size_t n;
    return sdb_pg_column_blob(st->pg, col, &n);
}

int sdb_column_bytes(sdb_stmt_t *st, int col)
{
    if (st->lite)
        return sqlite3_column_bytes(st->lite, col);
    size_t n = 0;
    bool bytes = false;
    sdb_pg_column(st->pg, col, &n, &bytes);
    if (bytes)
        sdb_pg_column_blob(st->pg, col, &n);
    return (int)n;
}

int sdb_reset(sdb_stmt_t *st)
{
    return st->lite ? lite_rc(sqlite3_reset(st->lite)) : sdb_pg_reset(st->pg);
}

int sdb_clear_bindings(sdb_stmt_t *st)
{
    return st->lite ? lite_rc(sqlite3_clear_bindings(st->lite)) : sdb_pg_clear(st->pg);
}

int sdb_finalize(sdb_stmt_t *st)
{
    if (!st)
        return SDB_OK;
    if (st->lite)
        sqlite3_finalize(st->lite);
    if (st->pg)
        sdb_pg_finalize(st->pg);
    free(st);
    return SDB_OK;
}

int sdb_changes(sdb_t *db)
{
    return db->pg ? sdb_pg_changes(db->pg) : sqlite3_changes(db->lite);
}
