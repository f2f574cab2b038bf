/* The scheduler's state database, under the journal and the stores kept
 * beside it: SQLite (the embedded default, `sqlite:PATH`) or PostgreSQL
 * (`postgresql://...`, a libpq URL), behind one statement interface.
 *
 * The interface has the shape of SQLite's (prepare, bind, step, column,
 * reset), so the stores keep their logic and are written once. Statements
 * are written in SQLite's dialect with `?` parameters; on PostgreSQL they
 * are translated when prepared: `?` and `?N` become `$N`, INTEGER becomes
 * BIGINT (BIGSERIAL for INTEGER PRIMARY KEY), BLOB BYTEA, REAL DOUBLE
 * PRECISION, `INSERT OR IGNORE` gets `ON CONFLICT DO NOTHING`, and
 * `WITHOUT ROWID` and `IMMEDIATE` go. What has no translation (`INSERT OR
 * REPLACE`, which needs the conflict target) is given in both dialects
 * with sdb_prepare2.
 *
 * One connection is used by one thread. Values are read as SQLite does:
 * a column read as text, integer, double or bytes converts. */
#ifndef CAIRN_SCHEDULER_SDB_H
#define CAIRN_SCHEDULER_SDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct sdb sdb_t;
typedef struct sdb_stmt sdb_stmt_t;

/* Results, with SQLite's values. */
enum { SDB_OK = 0, SDB_ERROR = 1, SDB_ROW = 100, SDB_DONE = 101 };

typedef enum sdb_kind { SDB_SQLITE = 1, SDB_PG = 2 } sdb_kind_t;

/* Binding lifetimes, as SQLite's: STATIC values stay valid until the
 * statement is reset, TRANSIENT ones are copied. */
typedef void (*sdb_dtor_f)(void *);
#define SDB_STATIC ((sdb_dtor_f)0)
#define SDB_TRANSIENT ((sdb_dtor_f)-1)

/* Which backend url names: SDB_PG for postgresql:// or postgres://,
 * SDB_SQLITE for sqlite:PATH or a bare path; *path (may be NULL) points at
 * the file's path for SQLite, at url for PostgreSQL. */
sdb_kind_t sdb_url_kind(const char *url, const char **path);

/* url without a password (for logs and `cairn schedulers`): a copy to
 * free(); NULL when out of memory. */
char *sdb_url_redact(const char *url);

/* Open url for reading and writing (readonly false: created if missing, for
 * SQLite) or reading only. -EINVAL (bad url), -EIO (cannot open or
 * connect), -ENOMEM. */
int sdb_open(const char *url, bool readonly, sdb_t **out, cairn_error_t *err);
void sdb_close(sdb_t *db);
sdb_kind_t sdb_kind(const sdb_t *db);
/* The last error's text on this connection (never NULL). */
const char *sdb_errmsg(sdb_t *db);
/* Whether the last error was a broken connection (PostgreSQL: the server
 * went away or restarted; never for SQLite). */
bool sdb_broken(const sdb_t *db);
/* The SQLSTATE of the last error ("" when none or SQLite). */
const char *sdb_sqlstate(const sdb_t *db);

/* Run sql, which may hold several statements, returning no rows wanted:
 * SDB_OK, or SDB_ERROR with *msg (when msg is not NULL) a copy of the
 * error to free with sdb_free. */
int sdb_exec(sdb_t *db, const char *sql, char **msg);
void sdb_free(void *p);

/* Prepare one statement: SDB_OK or SDB_ERROR (sdb_errmsg says why).
 * sdb_prepare2 gives PostgreSQL's text (with $N parameters) beside
 * SQLite's; sql_pg NULL translates sql. */
int sdb_prepare(sdb_t *db, const char *sql, sdb_stmt_t **st);
int sdb_prepare2(sdb_t *db, const char *sql, const char *sql_pg, sdb_stmt_t **st);
/* Parameters count from 1. Each returns SDB_OK or SDB_ERROR. */
int sdb_bind_int64(sdb_stmt_t *st, int i, int64_t v);
int sdb_bind_int(sdb_stmt_t *st, int i, int v);
int sdb_bind_double(sdb_stmt_t *st, int i, double v);
/* n < 0: up to the NUL. */
int sdb_bind_text(sdb_stmt_t *st, int i, const char *s, int n, sdb_dtor_f d);
int sdb_bind_blob(sdb_stmt_t *st, int i, const void *p, int n, sdb_dtor_f d);
int sdb_bind_blob64(sdb_stmt_t *st, int i, const void *p, uint64_t n, sdb_dtor_f d);
int sdb_bind_zeroblob(sdb_stmt_t *st, int i, int n);
int sdb_bind_null(sdb_stmt_t *st, int i);
int sdb_bind_parameter_count(sdb_stmt_t *st);
/* Run (the first call) or move to the next row: SDB_ROW, SDB_DONE or
 * SDB_ERROR. */
int sdb_step(sdb_stmt_t *st);
/* Columns of the current row, from 0; NULL reads as 0, NULL text, no
 * bytes. Pointers stay valid until the next step, reset or finalize. */
int64_t sdb_column_int64(sdb_stmt_t *st, int col);
int sdb_column_int(sdb_stmt_t *st, int col);
double sdb_column_double(sdb_stmt_t *st, int col);
const unsigned char *sdb_column_text(sdb_stmt_t *st, int col);
const void *sdb_column_blob(sdb_stmt_t *st, int col);
int sdb_column_bytes(sdb_stmt_t *st, int col);
/* Ready to run again with the same bindings. */
int sdb_reset(sdb_stmt_t *st);
int sdb_clear_bindings(sdb_stmt_t *st);
int sdb_finalize(sdb_stmt_t *st);
/* Rows changed by the connection's last INSERT, UPDATE or DELETE. */
int sdb_changes(sdb_t *db);

/* The private backend operations (sdb_sqlite.c, sdb_pg.c). */
typedef struct sdb_ops sdb_ops_t;

#endif
