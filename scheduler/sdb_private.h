/* Inside the state database interface (sdb.c, sdb_pg.c): the two
 * backends behind sdb.h. */
#ifndef CAIRN_SCHEDULER_SDB_PRIVATE_H
#define CAIRN_SCHEDULER_SDB_PRIVATE_H

#include "scheduler/sdb.h"

struct sqlite3;
struct sqlite3_stmt;
typedef struct sdb_pg sdb_pg_t;
typedef struct sdb_pg_stmt sdb_pg_stmt_t;

struct sdb {
    sdb_kind_t kind;
    struct sqlite3 *lite;
    sdb_pg_t *pg;
};

struct sdb_stmt {
    sdb_t *db;
    struct sqlite3_stmt *lite;
    sdb_pg_stmt_t *pg;
};

/* PostgreSQL (sdb_pg.c); the same contracts as sdb.h's calls. */
int sdb_pg_open(const char *url, bool readonly, sdb_pg_t **out, cairn_error_t *err);
void sdb_pg_close(sdb_pg_t *pg);
const char *sdb_pg_errmsg(const sdb_pg_t *pg);
bool sdb_pg_broken(const sdb_pg_t *pg);
const char *sdb_pg_sqlstate(const sdb_pg_t *pg);
int sdb_pg_exec(sdb_pg_t *pg, const char *sql, char **msg);
int sdb_pg_prepare(sdb_pg_t *pg, const char *sql, const char *sql_pg, sdb_pg_stmt_t **st);
/* v NULL binds NULL; copy: v is copied, else it must outlive the next
 * reset. */
int sdb_pg_bind(sdb_pg_stmt_t *st, int i, const char *v, size_t n, bool binary, bool copy);
int sdb_pg_nparams(const sdb_pg_stmt_t *st);
int sdb_pg_step(sdb_pg_stmt_t *st);
const char *sdb_pg_column(sdb_pg_stmt_t *st, int col, size_t *len, bool *bytes_ok);
const void *sdb_pg_column_blob(sdb_pg_stmt_t *st, int col, size_t *len);
int sdb_pg_reset(sdb_pg_stmt_t *st);
int sdb_pg_clear(sdb_pg_stmt_t *st);
void sdb_pg_finalize(sdb_pg_stmt_t *st);
int sdb_pg_changes(sdb_pg_t *pg);

/* SQLite's dialect to PostgreSQL's (sdb.h): a malloc'd copy, NULL when out
 * of memory. */
/* What makes an INSERT into table an upsert on its primary key, as
 * SQLite's INSERT OR REPLACE (cols: the statement's column list, NULL for
 * all): " ON CONFLICT (key) DO UPDATE SET c = EXCLUDED.c, ..." from the
 * catalog; "" when the table has no key (pg's error then says why). A
 * malloc'd string, NULL when out of memory. */
typedef struct sdb_pg_upsert {
    char *(*fn)(void *arg, const char *table, const char *cols);
    void *arg;
} sdb_pg_upsert_t;
char *sdb_pg_translate(const char *sql, const sdb_pg_upsert_t *up);

#endif
