/* The state database interface (scheduler/sdb.h) on both backends, and the
 * fence that keeps a deposed leader from committing (lead.h): SQLite in a
 * temporary file; PostgreSQL on a throwaway server of the test's own
 * (pg_harness.h; skipped with a message where PostgreSQL is not
 * installed). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "pg_harness.h"
#include "scheduler/journal.h"
#include "scheduler/lead.h"
#include "scheduler/sdb.h"
#include "scheduler/sdb_private.h"

static char *translated(const char *sql)
{
    return sdb_pg_translate(sql, &(sdb_pg_upsert_t){NULL, NULL});
}

Test(scheduler_sdb, translates_sqlite_dialect)
{
    struct {
        const char *in, *out;
    } cases[] = {
        {"SELECT a FROM t WHERE x = ? AND y = ?", "SELECT a FROM t WHERE x = $1 AND y = $2"},
        {"SELECT ?3, ?1", "SELECT $3, $1"},
        {"CREATE TABLE t (seq INTEGER PRIMARY KEY, d BLOB, r REAL, n integer)",
         "CREATE TABLE t (seq BIGSERIAL PRIMARY KEY, d BYTEA, r DOUBLE PRECISION, n BIGINT)"},
        {"CREATE TABLE h (a INTEGER, PRIMARY KEY (a)) WITHOUT ROWID",
         "CREATE TABLE h (a BIGINT, PRIMARY KEY (a)) "},
        {"INSERT OR IGNORE INTO meta VALUES ('k', ?)",
         "INSERT INTO meta VALUES ('k', $1) ON CONFLICT DO NOTHING"},
        {"INSERT OR IGNORE INTO a VALUES (1); INSERT INTO b VALUES ('?')",
         "INSERT INTO a VALUES (1) ON CONFLICT DO NOTHING; INSERT INTO b VALUES ('?')"},
        {"BEGIN IMMEDIATE", "BEGIN "},
        {"SELECT f(pid::integer, ?::bigint)", "SELECT f(pid::integer, $1::bigint)"},
        {"SELECT \"user\", 'INTEGER ?' FROM audit", "SELECT \"user\", 'INTEGER ?' FROM audit"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = translated(cases[i].in);
        cr_assert_not_null(t);
        cr_expect_str_eq(t, cases[i].out, "%s", cases[i].in);
        free(t);
    }
}

Test(scheduler_sdb, url_kinds_and_redaction)
{
    const char *path = NULL;
    cr_expect_eq(sdb_url_kind("sqlite:/var/x.db", &path), SDB_SQLITE);
    cr_expect_str_eq(path, "/var/x.db");
    cr_expect_eq(sdb_url_kind("/var/y.db", &path), SDB_SQLITE);
    cr_expect_str_eq(path, "/var/y.db");
    cr_expect_eq(sdb_url_kind("postgresql://u@h/db", NULL), SDB_PG);
    cr_expect_eq(sdb_url_kind("postgres://u@h/db", NULL), SDB_PG);
    char *r = sdb_url_redact("postgresql://cairn:s3cret@db1:5432/cairn?sslmode=require");
    cr_expect_str_eq(r, "postgresql://cairn@db1:5432/cairn?sslmode=require");
    free(r);
    r = sdb_url_redact("postgresql:///cairn?host=/tmp&password=s3cret&user=x");
    cr_expect_str_eq(r, "postgresql:///cairn?host=/tmp&password=&user=x");
    free(r);
}

/* What every backend must do alike: upserts keyed by the primary key, row
 * counts, bytes with zeros, NULLs, integers at the edges. */
static void same_behaviour(sdb_t *db)
{
    char *msg = NULL;
    cr_assert_eq(sdb_exec(db,
                          "CREATE TABLE kv (k TEXT PRIMARY KEY, n INTEGER, b BLOB, r REAL);"
                          "CREATE TABLE two (a INTEGER, b INTEGER, v TEXT, PRIMARY KEY (a, b))",
                          &msg),
                 SDB_OK, "%s", msg ? msg : "");
    sdb_stmt_t *put;
    cr_assert_eq(sdb_prepare(db, "INSERT OR REPLACE INTO kv VALUES (?, ?, ?, ?)", &put), SDB_OK,
                 "%s", sdb_errmsg(db));
    const uint8_t blob[] = {0, 1, 0xff, 0, 'x'};
    for (int round = 0; round < 2; round++) {
        sdb_bind_text(put, 1, "a", -1, SDB_STATIC);
        sdb_bind_int64(put, 2, round ? INT64_MIN : INT64_MAX);
        sdb_bind_blob(put, 3, blob, (int)sizeof(blob), SDB_STATIC);
        sdb_bind_double(put, 4, 0.25);
        cr_assert_eq(sdb_step(put), SDB_DONE, "%s", sdb_errmsg(db));
        sdb_reset(put);
    }
    sdb_finalize(put);
    cr_assert_eq(sdb_prepare(db, "INSERT OR REPLACE INTO two (a, b, v) VALUES (?, ?, ?)", &put),
                 SDB_OK, "%s", sdb_errmsg(db));
    for (int i = 0; i < 3; i++) {
        sdb_bind_int64(put, 1, 1);
        sdb_bind_int64(put, 2, i % 2);
        sdb_bind_text(put, 3, i == 2 ? "last" : "first", -1, SDB_TRANSIENT);
        cr_assert_eq(sdb_step(put), SDB_DONE, "%s", sdb_errmsg(db));
        sdb_reset(put);
    }
    sdb_finalize(put);
    sdb_stmt_t *get;
    cr_assert_eq(sdb_prepare(db, "SELECT k, n, b, r, NULL FROM kv", &get), SDB_OK);
    cr_assert_eq(sdb_step(get), SDB_ROW, "%s", sdb_errmsg(db));
    cr_expect_str_eq((const char *)sdb_column_text(get, 0), "a");
    cr_expect_eq(sdb_column_int64(get, 1), INT64_MIN, "the second put replaced the first");
    cr_assert_eq(sdb_column_bytes(get, 2), (int)sizeof(blob));
    cr_expect_eq(memcmp(sdb_column_blob(get, 2), blob, sizeof(blob)), 0);
    cr_expect_eq(sdb_column_double(get, 3), 0.25);
    cr_expect_null(sdb_column_text(get, 4));
    cr_expect_eq(sdb_step(get), SDB_DONE, "one row: the key was upserted");
    sdb_finalize(get);
    cr_assert_eq(sdb_prepare(db, "SELECT v FROM two WHERE a = 1 ORDER BY b", &get), SDB_OK);
    cr_assert_eq(sdb_step(get), SDB_ROW);
    cr_expect_str_eq((const char *)sdb_column_text(get, 0), "last");
    cr_assert_eq(sdb_step(get), SDB_ROW);
    cr_expect_str_eq((const char *)sdb_column_text(get, 0), "first");
    cr_expect_eq(sdb_step(get), SDB_DONE);
    sdb_finalize(get);
    cr_assert_eq(sdb_exec(db, "DELETE FROM two WHERE b >= 0", NULL), SDB_OK);
    cr_expect_eq(sdb_changes(db), 2);
    /* a failed statement says why */
    get = NULL; /* SQLite fails at prepare, PostgreSQL when the statement runs */
    int rc = sdb_prepare(db, "SELECT nosuchcolumn FROM kv", &get);
    if (rc == SDB_OK)
        rc = sdb_step(get);
    cr_expect_eq(rc, SDB_ERROR);
    cr_expect(strstr(sdb_errmsg(db), "nosuchcolumn"), "%s", sdb_errmsg(db));
    sdb_finalize(get);
}

Test(scheduler_sdb, sqlite_backend)
{
    char path[] = "/tmp/cairn-sdb-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    char url[128];
    snprintf(url, sizeof(url), "sqlite:%s", path);
    sdb_t *db = NULL;
    cairn_error_t err = {{0}};
    cr_assert_eq(sdb_open(url, false, &db, &err), 0, "%s", err.text);
    cr_expect_eq(sdb_kind(db), SDB_SQLITE);
    same_behaviour(db);
    sdb_close(db);
    unlink(path);
}

static h_pg_t pg;

static void pg_fini(void)
{
    h_pg_stop(&pg);
}

Test(scheduler_sdb, postgresql_backend, .fini = pg_fini)
{
    if (!h_pg_available())
        cr_skip_test("PostgreSQL is not installed");
    cr_assert_eq(h_pg_start(&pg), 0);
    sdb_t *db = NULL;
    cairn_error_t err = {{0}};
    cr_assert_eq(sdb_open(pg.url, false, &db, &err), 0, "%s", err.text);
    cr_expect_eq(sdb_kind(db), SDB_PG);
    same_behaviour(db);
    sdb_close(db);
}

/* lead.h's operations for a journal without a daemon: count what the
 * standby applies, note leading and stepping down. */
typedef struct fake {
    int applied, led, stepped;
} fake_t;

static int fake_apply(void *arg, uint64_t seq, const uint8_t *buf, size_t len)
{
    (void)seq, (void)buf, (void)len;
    ((fake_t *)arg)->applied++;
    return 0;
}

static int fake_lead(void *arg, uint64_t epoch, cairn_error_t *err)
{
    (void)epoch, (void)err;
    ((fake_t *)arg)->led++;
    return 0;
}

static void fake_step_down(void *arg, const char *why)
{
    (void)why;
    ((fake_t *)arg)->stepped++;
}

static void run_until(uv_loop_t *loop, const int *flag, int64_t ms)
{
    uint64_t until = uv_hrtime() + (uint64_t)ms * 1000000u;
    while (!*flag && uv_hrtime() < until)
        uv_run(loop, UV_RUN_ONCE);
}

/* Two schedulers' journals on one store: the first leads, the second
 * follows its entries; when the lease is taken over, the first's commit
 * fails on the fence (-ESTALE) and nothing of it is written. */
Test(scheduler_sdb, fence_stops_a_deposed_leader, .fini = pg_fini)
{
    if (!h_pg_available())
        cr_skip_test("PostgreSQL is not installed");
    cr_assert_eq(h_pg_start(&pg), 0);
    /* a's loop never runs again after the first commit: a freezes */
    uv_loop_t loop, frozen;
    uv_loop_init(&loop);
    uv_loop_init(&frozen);
    journal_t *ja = NULL, *jb = NULL;
    cairn_error_t err = {{0}};
    cr_assert_eq(journal_open(pg.url, &ja, &err), 0, "%s", err.text);
    journal_schema_done(ja);
    cr_assert_eq(journal_open(pg.url, &jb, &err), 0, "%s", err.text);
    journal_schema_done(jb);
    fake_t fa = {0}, fb = {0};
    lead_ops_t oa = {fake_apply, fake_lead, fake_step_down, &fa};
    lead_ops_t ob = {fake_apply, fake_lead, fake_step_down, &fb};
    lead_config_t ca = {"a", "ipc://a-clients", "ipc://a-workers", 1000};
    lead_config_t cb = {"b", "ipc://b-clients", "ipc://b-workers", 1000};
    lead_t *la = NULL, *lb = NULL;
    cr_assert_eq(lead_create(&frozen, ja, &ca, &oa, 0, NULL, &la, &err), 0, "%s", err.text);
    cr_assert(lead_leading(la));
    cr_assert_eq(lead_create(&loop, jb, &cb, &ob, 0, NULL, &lb, &err), 0, "%s", err.text);
    cr_assert_not(lead_leading(lb), "one leader at a time");
    cr_expect_str_eq(lead_leader_endpoints(lb, false), "ipc://a-clients");
    cr_expect_str_eq(lead_leader_endpoints(lb, true), "ipc://a-workers");

    /* the leader commits; the standby follows */
    const uint8_t entry[] = {1, 2, 3};
    cr_assert_eq(journal_append(ja, entry, sizeof(entry), &err), 0, "%s", err.text);
    cr_assert_eq(journal_commit(ja, &err), 0, "%s", err.text);
    run_until(&loop, &fb.applied, 2000);
    cr_expect_eq(fb.applied, 1, "the standby applied the committed entry");

    /* the lease expires (as if a's process froze): b takes over */
    char out[64];
    cr_assert_eq(h_pg_psql(&pg, "UPDATE cairn_leader SET expires_at = now() - interval '1s'", out,
                           sizeof(out)),
                 0);
    run_until(&loop, &fb.led, 3000);
    cr_assert_eq(fb.led, 1, "the standby took over");
    cr_expect(lead_leading(lb));
    cr_expect_eq(lead_epoch(lb), lead_epoch(la) + 1);

    /* a, unaware, writes: its transaction fails on the fence */
    int rc = journal_append(ja, entry, sizeof(entry), &err);
    if (rc == 0)
        rc = journal_commit(ja, &err);
    cr_expect_eq(rc, -ESTALE, "the deposed leader's write: %d (%s)", rc, err.text);
    cr_expect(strstr(err.text, "no longer leads"), "%s", err.text);
    cr_assert_eq(h_pg_psql(&pg, "SELECT count(*) FROM events", out, sizeof(out)), 0);
    cr_expect_str_eq(out, "1", "nothing of the deposed leader's was written");

    /* b writes under its epoch */
    cr_assert_eq(journal_append(jb, entry, sizeof(entry), &err), 0, "%s", err.text);
    cr_assert_eq(journal_commit(jb, &err), 0, "%s", err.text);
    cr_assert_eq(h_pg_psql(&pg, "SELECT string_agg(epoch::text, ',' ORDER BY seq) FROM events", out,
                           sizeof(out)),
                 0);
    cr_expect_str_eq(out, "1,2");

    lead_destroy(la);
    lead_destroy(lb);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_run(&frozen, UV_RUN_NOWAIT);
    journal_close(ja);
    journal_close(jb);
    uv_loop_close(&loop);
    uv_loop_close(&frozen);
}
