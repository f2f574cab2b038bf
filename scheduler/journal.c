/* SQLite journal of core events; see journal.h. */
#include "scheduler/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/fsperm.h"

struct journal {
    sqlite3 *db;
    bool readonly; /* journal_open_reader: another thread's reads */
    sqlite3_stmt *insert;
    /* prepared on first use: once per commit or per event, not parsed again */
    sqlite3_stmt *begin_st, *commit_st, *put_worker_st, *put_rexit_st;
    bool in_txn;
    uint64_t committed, appended;
    uint64_t head, head_pending; /* seq of the newest entry: committed, appended */
    uint64_t probes;
    uint64_t ident; /* journal_ident */
};

static int begin(journal_t *j, cairn_error_t *err);

/* *st, prepared from sql on first use; NULL (err set) when it cannot be. */
static sqlite3_stmt *cached(journal_t *j, sqlite3_stmt **st, const char *sql, cairn_error_t *err)
{
    if (!*st && sqlite3_prepare_v2(j->db, sql, -1, st, NULL) != SQLITE_OK) {
        errcode(err, -EIO, "journal: %s: %s", sql, sqlite3_errmsg(j->db));
        *st = NULL;
    }
    return *st;
}

/* Run a cached statement that returns no rows. */
static int step_cached(journal_t *j, sqlite3_stmt **st, const char *sql, cairn_error_t *err)
{
    sqlite3_stmt *s = cached(j, st, sql, err);
    if (!s)
        return -EIO;
    int r = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return r == SQLITE_DONE ? 0 : errcode(err, -EIO, "journal: %s: %s", sql, sqlite3_errmsg(j->db));
}

static int exec_sql(journal_t *j, const char *sql, cairn_error_t *err)
{
    char *msg = NULL;
    if (sqlite3_exec(j->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = errcode(err, -EIO, "journal: %s: %s", sql, msg ? msg : "error");
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

/* The journal holds every job's environment, secrets included: the
 * database and SQLite's files beside it are the scheduler's user's alone.
 * SQLite creates -wal and -shm with the database's mode, so a database
 * made 0600 first gives private companions; files left by an older version
 * (0644) are made 0600 here, at every start. */
static int journal_make_private(const char *path, cairn_error_t *err)
{
    static const char *const companions[] = {"-wal", "-shm", "-journal"};
    int fd = cairn_file_open_private(path, O_RDWR, 077, err);
    if (fd < 0)
        return fd;
    close(fd);
    for (size_t i = 0; i < sizeof(companions) / sizeof(companions[0]); i++) {
        char *p = NULL;
        if (asprintf(&p, "%s%s", path, companions[i]) < 0)
            return errcode(err, -ENOMEM, "out of memory");
        int rc = cairn_file_make_private(p, 077, err);
        free(p);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The journal's identity, made once (a random non-zero 63-bit number:
 * SQLite's integers are signed) and read at every open. */
static int ident_load(journal_t *j, cairn_error_t *err)
{
    uint64_t fresh = 0;
    while (!fresh) {
        if (getrandom(&fresh, sizeof(fresh), 0) != (ssize_t)sizeof(fresh))
            return errcode(err, -errno, "journal: no random identity: %s", strerror(errno));
        fresh &= INT64_MAX;
    }
    char sql[96];
    snprintf(sql, sizeof(sql), "INSERT OR IGNORE INTO meta VALUES ('ident', '%llu')",
             (unsigned long long)fresh);
    int rc = exec_sql(j, sql, err);
    sqlite3_stmt *st;
    if (rc < 0)
        return rc;
    if (sqlite3_prepare_v2(j->db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'ident'", -1,
                           &st, NULL) != SQLITE_OK)
        return errcode(err, -EIO, "journal: %s", sqlite3_errmsg(j->db));
    if (sqlite3_step(st) == SQLITE_ROW)
        j->ident = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return j->ident ? 0
                    : errcode(err, -EPROTO, "journal: its identity (meta 'ident') is not valid");
}

uint64_t journal_ident(const journal_t *j)
{
    return j->ident;
}

int journal_open(const char *path, journal_t **out, cairn_error_t *err)
{
    cairn_error_t why = {{0}};
    int rc = journal_make_private(path, &why);
    if (rc < 0)
        return errcode(err, rc, "journal: %s", why.text);
    journal_t *j = calloc(1, sizeof(*j));
    if (!j)
        return errcode(err, -ENOMEM, "out of memory");
    if (sqlite3_open_v2(path, &j->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        rc = errcode(err, -EIO, "journal %s: %s", path, sqlite3_errmsg(j->db));
        goto fail;
    }
    sqlite3_busy_timeout(j->db, 5000);
    /* WAL with FULL sync: a commit survives a crash of the process or the
     * machine; one commit per loop iteration keeps fsyncs few. */
    if ((rc = exec_sql(j, "PRAGMA journal_mode=WAL", err)) < 0 ||
        (rc = exec_sql(j, "PRAGMA synchronous=FULL", err)) < 0 ||
        (rc = exec_sql(j,
                       "CREATE TABLE IF NOT EXISTS events ("
                       " seq INTEGER PRIMARY KEY, data BLOB NOT NULL);"
                       "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);"
                       "CREATE TABLE IF NOT EXISTS replica_exits (attempt INTEGER, rank INTEGER,"
                       " end_reason INTEGER, code INTEGER, sig INTEGER,"
                       " PRIMARY KEY (attempt, rank));"
                       "CREATE TABLE IF NOT EXISTS worker_links (node TEXT PRIMARY KEY,"
                       " incarnation INTEGER, seq INTEGER, ident TEXT);"
                       "CREATE TABLE IF NOT EXISTS snapshots (seq INTEGER PRIMARY KEY,"
                       " version INTEGER, sha256 BLOB, data BLOB, time_ms INTEGER);"
                       "INSERT OR IGNORE INTO meta VALUES ('schema', '1');",
                       err)) < 0)
        goto fail;
    if ((rc = ident_load(j, err)) < 0)
        goto fail;
    if (sqlite3_prepare_v2(j->db, "INSERT INTO events (data) VALUES (?)", -1, &j->insert, NULL) !=
        SQLITE_OK) {
        rc = errcode(err, -EIO, "journal: %s", sqlite3_errmsg(j->db));
        goto fail;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(j->db, "SELECT count(*), COALESCE(MAX(seq), 0) FROM events", -1, &st,
                           NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            j->committed = j->appended = (uint64_t)sqlite3_column_int64(st, 0);
            j->head = j->head_pending = (uint64_t)sqlite3_column_int64(st, 1);
        }
        sqlite3_finalize(st);
    }
    /* pruned events leave no gap in the seqs given later: a new entry's
     * seq is above every snapshot's (SQLite gives MAX(seq) + 1) */
    uint64_t snap = 0;
    if (sqlite3_prepare_v2(j->db, "SELECT COALESCE(MAX(seq), 0) FROM snapshots", -1, &st, NULL) ==
        SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            snap = (uint64_t)sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    if (snap > j->head) {
        rc = errcode(err, -EPROTO,
                     "journal %s: a snapshot covers entry %llu, the newest entry is %llu", path,
                     (unsigned long long)snap, (unsigned long long)j->head);
        goto fail;
    }
    *out = j;
    return 0;
fail:
    journal_close(j);
    return rc;
}

int journal_open_reader(const char *path, journal_t **out, cairn_error_t *err)
{
    journal_t *j = calloc(1, sizeof(*j));
    if (!j)
        return errcode(err, -ENOMEM, "out of memory");
    j->readonly = true;
    if (sqlite3_open_v2(path, &j->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        int rc = errcode(err, -EIO, "journal %s: %s", path, sqlite3_errmsg(j->db));
        journal_close(j);
        return rc;
    }
    sqlite3_busy_timeout(j->db, 5000);
    *out = j;
    return 0;
}

bool journal_readonly(const journal_t *j)
{
    return j->readonly;
}

void journal_close(journal_t *j)
{
    if (!j)
        return;
    if (j->in_txn)
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_finalize(j->insert);
    sqlite3_finalize(j->begin_st);
    sqlite3_finalize(j->commit_st);
    sqlite3_finalize(j->put_worker_st);
    sqlite3_finalize(j->put_rexit_st);
    sqlite3_close(j->db);
    free(j);
}

int journal_append(journal_t *j, const uint8_t *buf, size_t len, cairn_error_t *err)
{
    int rc = begin(j, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_blob(j->insert, 1, buf, (int)len, SQLITE_STATIC);
    int s = sqlite3_step(j->insert);
    sqlite3_reset(j->insert);
    sqlite3_clear_bindings(j->insert);
    if (s != SQLITE_DONE)
        return errcode(err, -EIO, "journal append: %s", sqlite3_errmsg(j->db));
    j->appended++;
    j->head_pending = (uint64_t)sqlite3_last_insert_rowid(j->db);
    return 0;
}

int journal_commit(journal_t *j, cairn_error_t *err)
{
    if (!j->in_txn)
        return 0;
    int rc = step_cached(j, &j->commit_st, "COMMIT", err);
    if (rc < 0) {
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
        j->appended = j->committed;
        j->head_pending = j->head;
    } else {
        j->committed = j->appended;
        j->head = j->head_pending;
    }
    j->in_txn = false;
    return rc;
}

void journal_rollback(journal_t *j)
{
    if (!j->in_txn)
        return;
    sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
    j->appended = j->committed;
    j->head_pending = j->head;
    j->in_txn = false;
}

int journal_probe(journal_t *j, cairn_error_t *err)
{
    if (j->in_txn)
        return 0;
    int rc = begin(j, err);
    if (rc < 0)
        return rc;
    char sql[96];
    snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO meta VALUES ('probe', '%llu')",
             (unsigned long long)++j->probes);
    if ((rc = exec_sql(j, sql, err)) < 0) {
        journal_rollback(j);
        return rc;
    }
    return journal_commit(j, err);
}

bool journal_pending(const journal_t *j)
{
    return j->in_txn;
}

int journal_replay(journal_t *j, journal_replay_f cb, void *arg, cairn_error_t *err)
{
    return journal_replay_after(j, 0, cb, arg, err);
}

int journal_replay_after(journal_t *j, uint64_t after, journal_replay_f cb, void *arg,
                         cairn_error_t *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(j->db, "SELECT seq, data FROM events WHERE seq > ? ORDER BY seq", -1,
                           &st, NULL) != SQLITE_OK)
        return errcode(err, -EIO, "journal replay: %s", sqlite3_errmsg(j->db));
    sqlite3_bind_int64(st, 1, (sqlite3_int64)after);
    int rc = 0, s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const uint8_t *data = sqlite3_column_blob(st, 1);
        size_t len = (size_t)sqlite3_column_bytes(st, 1);
        if ((rc = cb((uint64_t)sqlite3_column_int64(st, 0), data, len, arg)) != 0)
            break;
    }
    if (rc == 0 && s != SQLITE_DONE)
        rc = errcode(err, -EIO, "journal replay: %s", sqlite3_errmsg(j->db));
    sqlite3_finalize(st);
    return rc;
}

uint64_t journal_count(const journal_t *j)
{
    return j->committed;
}

uint64_t journal_head(const journal_t *j)
{
    return j->head_pending;
}

struct sqlite3 *journal_db(journal_t *j)
{
    return j->db;
}

int journal_sql_error(journal_t *j, cairn_error_t *err, const char *store, const char *what)
{
    return errcode(err, -EIO, "%s %s: %s", store, what, sqlite3_errmsg(j->db));
}

int journal_begin(journal_t *j, cairn_error_t *err)
{
    return begin(j, err);
}

int journal_add_column(journal_t *j, const char *table, const char *column, const char *decl,
                       cairn_error_t *err)
{
    if (journal_readonly(j))
        return 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(j->db, "SELECT 1 FROM pragma_table_info(?) WHERE name = ?", -1, &st,
                           NULL) != SQLITE_OK)
        return journal_sql_error(j, err, table, "migrate");
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    if (s == SQLITE_ROW)
        return 0;
    if (s != SQLITE_DONE)
        return journal_sql_error(j, err, table, "migrate");
    char *sql = sqlite3_mprintf("ALTER TABLE \"%w\" ADD COLUMN \"%w\" %s", table, column, decl);
    int rc = sql && sqlite3_exec(j->db, sql, NULL, NULL, NULL) == SQLITE_OK
                 ? 0
                 : journal_sql_error(j, err, table, "migrate");
    sqlite3_free(sql);
    return rc;
}

static int begin(journal_t *j, cairn_error_t *err)
{
    if (j->in_txn)
        return 0;
    int rc = step_cached(j, &j->begin_st, "BEGIN IMMEDIATE", err);
    if (rc == 0)
        j->in_txn = true;
    return rc;
}

int journal_put_replica_exit(journal_t *j, uint64_t attempt, uint32_t rank, int end, int code,
                             int sig, cairn_error_t *err)
{
    int rc = begin(j, err);
    if (rc < 0)
        return rc;
    static const char sql[] = "INSERT OR REPLACE INTO replica_exits VALUES (?,?,?,?,?)";
    sqlite3_stmt *st = cached(j, &j->put_rexit_st, sql, err);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)attempt);
    sqlite3_bind_int64(st, 2, rank);
    sqlite3_bind_int(st, 3, end);
    sqlite3_bind_int(st, 4, code);
    sqlite3_bind_int(st, 5, sig);
    return step_cached(j, &j->put_rexit_st, sql, err);
}

int journal_put_worker(journal_t *j, const char *node, uint64_t incarnation, uint64_t seq,
                       const char *ident, cairn_error_t *err)
{
    int rc = begin(j, err);
    if (rc < 0)
        return rc;
    static const char sql[] = "INSERT OR REPLACE INTO worker_links VALUES (?,?,?,?)";
    sqlite3_stmt *st = cached(j, &j->put_worker_st, sql, err);
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)incarnation);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)seq);
    sqlite3_bind_text(st, 4, ident ? ident : "", -1, SQLITE_STATIC);
    return step_cached(j, &j->put_worker_st, sql, err);
}

int journal_load_workers(journal_t *j, journal_worker_f cb, void *arg, cairn_error_t *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(j->db,
                           "SELECT node, incarnation, seq, ident FROM worker_links ORDER BY node",
                           -1, &st, NULL) != SQLITE_OK)
        return errcode(err, -EIO, "journal: %s", sqlite3_errmsg(j->db));
    while (sqlite3_step(st) == SQLITE_ROW)
        cb((const char *)sqlite3_column_text(st, 0), (uint64_t)sqlite3_column_int64(st, 1),
           (uint64_t)sqlite3_column_int64(st, 2), (const char *)sqlite3_column_text(st, 3), arg);
    sqlite3_finalize(st);
    return 0;
}

int journal_load_replica_exits(journal_t *j, journal_rexit_f cb, void *arg, cairn_error_t *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(j->db, "SELECT * FROM replica_exits ORDER BY attempt, rank", -1, &st,
                           NULL) != SQLITE_OK)
        return errcode(err, -EIO, "journal: %s", sqlite3_errmsg(j->db));
    while (sqlite3_step(st) == SQLITE_ROW)
        cb((uint64_t)sqlite3_column_int64(st, 0), (uint32_t)sqlite3_column_int64(st, 1),
           sqlite3_column_int(st, 2), sqlite3_column_int(st, 3), sqlite3_column_int(st, 4), arg);
    sqlite3_finalize(st);
    return 0;
}

/* --- snapshots ---------------------------------------------------------- */

int journal_put_snapshot(journal_t *j, const journal_snapshot_t *s, cairn_error_t *err)
{
    int rc = begin(j, err);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(j->db, "INSERT OR REPLACE INTO snapshots VALUES (?,?,?,?,?)", -1, &st,
                           NULL) != SQLITE_OK)
        return errcode(err, -EIO, "journal snapshot: %s", sqlite3_errmsg(j->db));
    sqlite3_bind_int64(st, 1, (sqlite3_int64)s->seq);
    sqlite3_bind_int64(st, 2, s->version);
    sqlite3_bind_blob(st, 3, s->sha256, (int)s->sha_len, SQLITE_STATIC);
    sqlite3_bind_blob64(st, 4, s->data, s->len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, s->time_ms);
    rc = sqlite3_step(st) == SQLITE_DONE
             ? 0
             : errcode(err, -EIO, "journal snapshot: %s", sqlite3_errmsg(j->db));
    sqlite3_finalize(st);
    return rc;
}

/* Run sql with one integer bound: 0 or -EIO. */
static int exec_int(journal_t *j, const char *sql, int64_t v, cairn_error_t *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK)
        return errcode(err, -EIO, "journal: %s: %s", sql, sqlite3_errmsg(j->db));
    sqlite3_bind_int64(st, 1, v);
    int rc = sqlite3_step(st) == SQLITE_DONE
                 ? 0
                 : errcode(err, -EIO, "journal: %s: %s", sql, sqlite3_errmsg(j->db));
    sqlite3_finalize(st);
    return rc;
}

int journal_prune(journal_t *j, unsigned keep, cairn_error_t *err)
{
    int rc = begin(j, err);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st;
    int64_t oldest = 0;
    if (sqlite3_prepare_v2(j->db, "SELECT seq FROM snapshots ORDER BY seq DESC LIMIT 1 OFFSET ?",
                           -1, &st, NULL) != SQLITE_OK)
        return errcode(err, -EIO, "journal prune: %s", sqlite3_errmsg(j->db));
    sqlite3_bind_int64(st, 1, keep ? keep - 1 : 0);
    if (sqlite3_step(st) == SQLITE_ROW)
        oldest = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (keep == 0 || oldest == 0)
        return 0; /* fewer snapshots than kept: nothing goes */
    if ((rc = exec_int(j, "DELETE FROM snapshots WHERE seq < ?", oldest, err)) < 0 ||
        (rc = exec_int(j, "DELETE FROM events WHERE seq <= ?", oldest, err)) < 0)
        return rc;
    j->appended -= (uint64_t)sqlite3_changes(j->db);
    return exec_int(j, "INSERT OR REPLACE INTO meta VALUES ('pruned', ?)", oldest, err);
}

int journal_pruned(journal_t *j, uint64_t *upto, cairn_error_t *err)
{
    sqlite3_stmt *st;
    *upto = 0;
    if (sqlite3_prepare_v2(j->db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'pruned'",
                           -1, &st, NULL) != SQLITE_OK)
        return errcode(err, -EIO, "journal: %s", sqlite3_errmsg(j->db));
    if (sqlite3_step(st) == SQLITE_ROW)
        *upto = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
}

int journal_snapshots(journal_t *j, journal_snapshot_f cb, void *arg, cairn_error_t *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(j->db,
                           "SELECT seq, version, sha256, data, time_ms FROM snapshots"
                           " ORDER BY seq DESC",
                           -1, &st, NULL) != SQLITE_OK)
        return errcode(err, -EIO, "journal snapshots: %s", sqlite3_errmsg(j->db));
    int rc = 0, s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        journal_snapshot_t x = {.seq = (uint64_t)sqlite3_column_int64(st, 0),
                                .version = (uint32_t)sqlite3_column_int64(st, 1),
                                .sha256 = sqlite3_column_blob(st, 2),
                                .sha_len = (size_t)sqlite3_column_bytes(st, 2),
                                .data = sqlite3_column_blob(st, 3),
                                .len = (size_t)sqlite3_column_bytes(st, 3),
                                .time_ms = sqlite3_column_int64(st, 4)};
        if ((rc = cb(&x, arg)) != 0)
            break;
    }
    if (rc == 0 && s != SQLITE_DONE)
        rc = errcode(err, -EIO, "journal snapshots: %s", sqlite3_errmsg(j->db));
    sqlite3_finalize(st);
    return rc;
}
