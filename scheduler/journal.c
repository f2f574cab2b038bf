/* SQLite journal of core events; see journal.h. */
#include "scheduler/journal.h"

#include "scheduler/sdb.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/fsperm.h"

struct journal {
    sdb_t *db;
    bool readonly; /* journal_open_reader: another thread's reads */
    sdb_stmt_t *insert;
    /* prepared on first use: once per commit or per event, not parsed again */
    sdb_stmt_t *begin_st, *commit_st, *put_worker_st, *put_rexit_st;
    sdb_stmt_t *fence_st;
    bool in_txn;
    /* a write was tried and its BEGIN failed: pending (nothing of this
     * batch may be acknowledged) until rolled back */
    bool begin_failed;
    /* PostgreSQL with a leader: every transaction checks the epoch first
     * (journal_set_fence) */
    uint64_t fence_epoch;
    char *fence_holder;
    int64_t fence_lease_ms;
    journal_fence_f on_fence;
    void *fence_arg;
    uint64_t committed, appended;
    uint64_t head, head_pending; /* seq of the newest entry: committed, appended */
    uint64_t probes;
    uint64_t ident; /* journal_ident */
};

static int begin(journal_t *j, cairn_error_t *err);

/* The two-letter class of a failed statement: -ESTALE when the fence
 * failed (another scheduler leads), -ENOTCONN when the connection broke,
 * else -EIO; err says what and why. */
static int journal_fail(journal_t *j, cairn_error_t *err, const char *what)
{
    const char *state = sdb_sqlstate(j->db);
    if (!strcmp(state, JOURNAL_FENCE_SQLSTATE))
        return errcode(err, -ESTALE, "%s: this scheduler no longer leads (epoch %llu): %s", what,
                       (unsigned long long)j->fence_epoch, sdb_errmsg(j->db));
    if (sdb_broken(j->db))
        return errcode(err, -ENOTCONN, "%s: %s", what, sdb_errmsg(j->db));
    return errcode(err, -EIO, "%s: %s", what, sdb_errmsg(j->db));
}

/* *st, prepared from sql on first use; NULL (err set) when it cannot be. */
static sdb_stmt_t *cached(journal_t *j, sdb_stmt_t **st, const char *sql, cairn_error_t *err)
{
    if (!*st && sdb_prepare(j->db, sql, st) != SDB_OK) {
        errcode(err, -EIO, "journal: %s: %s", sql, sdb_errmsg(j->db));
        *st = NULL;
    }
    return *st;
}

/* Run a cached statement that returns no rows. */
static int step_cached(journal_t *j, sdb_stmt_t **st, const char *sql, cairn_error_t *err)
{
    sdb_stmt_t *s = cached(j, st, sql, err);
    if (!s)
        return -EIO;
    int r = sdb_step(s);
    sdb_reset(s);
    sdb_clear_bindings(s);
    return r == SDB_DONE ? 0 : errcode(err, -EIO, "journal: %s: %s", sql, sdb_errmsg(j->db));
}

static int exec_sql(journal_t *j, const char *sql, cairn_error_t *err)
{
    char *msg = NULL;
    if (sdb_exec(j->db, sql, &msg) != SDB_OK) {
        int rc = errcode(err, -EIO, "journal: %s: %s", sql, msg ? msg : "error");
        sdb_free(msg);
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
    sdb_stmt_t *st;
    if (rc < 0)
        return rc;
    if (sdb_prepare(j->db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'ident'", &st) !=
        SDB_OK)
        return errcode(err, -EIO, "journal: %s", sdb_errmsg(j->db));
    if (sdb_step(st) == SDB_ROW)
        j->ident = (uint64_t)sdb_column_int64(st, 0);
    sdb_finalize(st);
    return j->ident ? 0
                    : errcode(err, -EPROTO, "journal: its identity (meta 'ident') is not valid");
}

uint64_t journal_ident(const journal_t *j)
{
    return j->ident;
}

int journal_open(const char *url, journal_t **out, cairn_error_t *err)
{
    const char *path = NULL;
    int rc;
    if (sdb_url_kind(url, &path) == SDB_SQLITE) {
        cairn_error_t why = {{0}};
        if ((rc = journal_make_private(path, &why)) < 0)
            return errcode(err, rc, "journal: %s", why.text);
    }
    journal_t *j = calloc(1, sizeof(*j));
    if (!j)
        return errcode(err, -ENOMEM, "out of memory");
    if ((rc = sdb_open(url, false, &j->db, err)) < 0)
        goto fail;
    /* SQLite: WAL with FULL sync, so a commit survives a crash of the
     * process or the machine; one commit per loop iteration keeps fsyncs
     * few. PostgreSQL: its own durability (synchronous_commit); the first
     * scheduler creates the tables, others wait for it. */
    if (sdb_kind(j->db) == SDB_SQLITE && ((rc = exec_sql(j, "PRAGMA journal_mode=WAL", err)) < 0 ||
                                          (rc = exec_sql(j, "PRAGMA synchronous=FULL", err)) < 0))
        goto fail;
    if (sdb_kind(j->db) == SDB_PG &&
        (rc = exec_sql(j, "SELECT pg_advisory_lock(" JOURNAL_SCHEMA_LOCK ")", err)) < 0)
        goto fail;
    if ((rc = exec_sql(j,
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
    /* the epoch (lead.h) that wrote each entry: 0 on SQLite */
    if ((rc = journal_add_column(j, "events", "epoch", "INTEGER NOT NULL DEFAULT 0", err)) < 0 ||
        (rc = ident_load(j, err)) < 0)
        goto fail;
    if ((rc = journal_heads(j, err)) < 0)
        goto fail;
    *out = j;
    return 0;
fail:
    journal_close(j);
    return rc;
}

void journal_schema_done(journal_t *j)
{
    if (sdb_kind(j->db) == SDB_PG)
        sdb_exec(j->db, "SELECT pg_advisory_unlock(" JOURNAL_SCHEMA_LOCK ")", NULL);
}

int journal_heads(journal_t *j, cairn_error_t *err)
{
    sdb_stmt_t *st;
    if (sdb_prepare(j->db, "SELECT count(*), COALESCE(MAX(seq), 0) FROM events", &st) != SDB_OK)
        return errcode(err, -EIO, "journal: %s", sdb_errmsg(j->db));
    int s = sdb_step(st);
    if (s == SDB_ROW) {
        j->committed = j->appended = (uint64_t)sdb_column_int64(st, 0);
        j->head = j->head_pending = (uint64_t)sdb_column_int64(st, 1);
    }
    sdb_finalize(st);
    if (s != SDB_ROW)
        return errcode(err, -EIO, "journal: %s", sdb_errmsg(j->db));
    /* pruned events leave no gap in the seqs given later: a new entry's
     * seq is above every snapshot's */
    uint64_t snap = 0;
    if (sdb_prepare(j->db, "SELECT COALESCE(MAX(seq), 0) FROM snapshots", &st) == SDB_OK) {
        if (sdb_step(st) == SDB_ROW)
            snap = (uint64_t)sdb_column_int64(st, 0);
        sdb_finalize(st);
    }
    if (snap > j->head)
        return errcode(err, -EPROTO,
                       "journal: a snapshot covers entry %llu, the newest entry is %llu",
                       (unsigned long long)snap, (unsigned long long)j->head);
    return 0;
}

int journal_open_reader(const char *url, journal_t **out, cairn_error_t *err)
{
    journal_t *j = calloc(1, sizeof(*j));
    if (!j)
        return errcode(err, -ENOMEM, "out of memory");
    j->readonly = true;
    int rc = sdb_open(url, true, &j->db, err);
    if (rc < 0) {
        free(j);
        return rc;
    }
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
    if (j->in_txn && j->db)
        sdb_exec(j->db, "ROLLBACK", NULL);
    sdb_finalize(j->insert);
    sdb_finalize(j->begin_st);
    sdb_finalize(j->commit_st);
    sdb_finalize(j->put_worker_st);
    sdb_finalize(j->put_rexit_st);
    sdb_finalize(j->fence_st);
    free(j->fence_holder);
    sdb_close(j->db);
    free(j);
}

int journal_append(journal_t *j, const uint8_t *buf, size_t len, cairn_error_t *err)
{
    int rc = begin(j, err);
    if (rc < 0)
        return rc;
    if (!j->insert && sdb_prepare(j->db, "INSERT INTO events (seq, data, epoch) VALUES (?, ?, ?)",
                                  &j->insert) != SDB_OK)
        return errcode(err, -EIO, "journal append: %s", sdb_errmsg(j->db));
    /* seq given, one above the newest (what SQLite's rowid gave) */
    sdb_bind_int64(j->insert, 1, (int64_t)(j->head_pending + 1));
    sdb_bind_blob(j->insert, 2, buf, (int)len, SDB_STATIC);
    sdb_bind_int64(j->insert, 3, (int64_t)j->fence_epoch);
    int s = sdb_step(j->insert);
    sdb_reset(j->insert);
    sdb_clear_bindings(j->insert);
    if (s != SDB_DONE)
        return journal_fail(j, err, "journal append");
    j->appended++;
    j->head_pending++;
    return 0;
}

int journal_commit(journal_t *j, cairn_error_t *err)
{
    if (j->begin_failed) {
        j->begin_failed = false;
        return errcode(err, -EIO, "journal commit: the batch's transaction never began");
    }
    if (!j->in_txn)
        return 0;
    int rc = step_cached(j, &j->commit_st, "COMMIT", err);
    if (rc < 0) {
        rc = journal_fail(j, err, "journal commit");
        sdb_exec(j->db, "ROLLBACK", NULL);
        j->appended = j->committed;
        j->head_pending = j->head;
    } else {
        j->committed = j->appended;
        j->head = j->head_pending;
        if (j->fence_holder && j->on_fence)
            j->on_fence(j->fence_arg, true);
    }
    j->in_txn = false;
    return rc;
}

void journal_rollback(journal_t *j)
{
    j->begin_failed = false;
    if (!j->in_txn)
        return;
    sdb_exec(j->db, "ROLLBACK", NULL);
    j->appended = j->committed;
    j->head_pending = j->head;
    j->in_txn = false;
}

int journal_probe(journal_t *j, cairn_error_t *err)
{
    if (j->in_txn)
        return 0;
    int rc = begin(j, err);
    if (rc < 0) {
        j->begin_failed = false; /* a probe, not a batch's write */
        return rc;
    }
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
    return j->in_txn || j->begin_failed;
}

int journal_replay(journal_t *j, journal_replay_f cb, void *arg, cairn_error_t *err)
{
    return journal_replay_after(j, 0, cb, arg, err);
}

int journal_replay_after(journal_t *j, uint64_t after, journal_replay_f cb, void *arg,
                         cairn_error_t *err)
{
    sdb_stmt_t *st;
    if (sdb_prepare(j->db, "SELECT seq, data FROM events WHERE seq > ? ORDER BY seq", &st) !=
        SDB_OK)
        return errcode(err, -EIO, "journal replay: %s", sdb_errmsg(j->db));
    sdb_bind_int64(st, 1, (int64_t)after);
    int rc = 0, s;
    while ((s = sdb_step(st)) == SDB_ROW) {
        const uint8_t *data = sdb_column_blob(st, 1);
        size_t len = (size_t)sdb_column_bytes(st, 1);
        if ((rc = cb((uint64_t)sdb_column_int64(st, 0), data, len, arg)) != 0)
            break;
    }
    if (rc == 0 && s != SDB_DONE)
        rc = errcode(err, -EIO, "journal replay: %s", sdb_errmsg(j->db));
    sdb_finalize(st);
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

sdb_t *journal_db(journal_t *j)
{
    return j->db;
}

int journal_sql_error(journal_t *j, cairn_error_t *err, const char *store, const char *what)
{
    return errcode(err, -EIO, "%s %s: %s", store, what, sdb_errmsg(j->db));
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
    sdb_stmt_t *st;
    if (sdb_prepare2(j->db, "SELECT 1 FROM pragma_table_info(?) WHERE name = ?",
                     "SELECT 1 FROM information_schema.columns WHERE table_name = $1"
                     " AND column_name = $2 AND table_schema = current_schema()",
                     &st) != SDB_OK)
        return journal_sql_error(j, err, table, "migrate");
    sdb_bind_text(st, 1, table, -1, SDB_STATIC);
    sdb_bind_text(st, 2, column, -1, SDB_STATIC);
    int s = sdb_step(st);
    sdb_finalize(st);
    if (s == SDB_ROW)
        return 0;
    if (s != SDB_DONE)
        return journal_sql_error(j, err, table, "migrate");
    char sql[256];
    snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN %s %s", table, column, decl);
    return sdb_exec(j->db, sql, NULL) == SDB_OK ? 0 : journal_sql_error(j, err, table, "migrate");
}

static int begin(journal_t *j, cairn_error_t *err)
{
    if (j->in_txn)
        return 0;
    if (j->readonly)
        return errcode(err, -EROFS, "journal: read-only");
    int rc = step_cached(j, &j->begin_st, "BEGIN IMMEDIATE", err);
    if (rc < 0) {
        j->begin_failed = true;
        return journal_fail(j, err, "journal begin");
    }
    j->in_txn = true;
    if (!j->fence_holder)
        return 0;
    /* the fence: this transaction commits only while the epoch leads; it
     * takes the lease row's lock to the end, so takeovers and commits are
     * ordered, and renews the lease */
    if (!j->fence_st &&
        sdb_prepare(j->db, "SELECT cairn_fence(?::bigint, ?, ?::integer)", &j->fence_st) != SDB_OK)
        rc = journal_fail(j, err, "journal fence");
    if (rc == 0) {
        if (j->on_fence)
            j->on_fence(j->fence_arg, false);
        sdb_bind_int64(j->fence_st, 1, (int64_t)j->fence_epoch);
        sdb_bind_text(j->fence_st, 2, j->fence_holder, -1, SDB_STATIC);
        sdb_bind_int64(j->fence_st, 3, j->fence_lease_ms);
        int s = sdb_step(j->fence_st);
        sdb_reset(j->fence_st);
        if (s != SDB_ROW && s != SDB_DONE)
            rc = journal_fail(j, err, "journal fence");
    }
    if (rc < 0) {
        sdb_exec(j->db, "ROLLBACK", NULL);
        j->in_txn = false;
        j->begin_failed = true;
    }
    return rc;
}

void journal_set_fence(journal_t *j, uint64_t epoch, const char *holder, int64_t lease_ms,
                       journal_fence_f cb, void *arg)
{
    free(j->fence_holder);
    j->fence_holder = holder ? strdup(holder) : NULL;
    j->fence_epoch = epoch;
    j->fence_lease_ms = lease_ms;
    j->on_fence = cb;
    j->fence_arg = arg;
}

int journal_put_replica_exit(journal_t *j, uint64_t attempt, uint32_t rank, int end, int code,
                             int sig, cairn_error_t *err)
{
    int rc = begin(j, err);
    if (rc < 0)
        return rc;
    static const char sql[] = "INSERT OR REPLACE INTO replica_exits VALUES (?,?,?,?,?)";
    sdb_stmt_t *st = cached(j, &j->put_rexit_st, sql, err);
    if (!st)
        return -EIO;
    sdb_bind_int64(st, 1, (int64_t)attempt);
    sdb_bind_int64(st, 2, rank);
    sdb_bind_int(st, 3, end);
    sdb_bind_int(st, 4, code);
    sdb_bind_int(st, 5, sig);
    return step_cached(j, &j->put_rexit_st, sql, err);
}

int journal_put_worker(journal_t *j, const char *node, uint64_t incarnation, uint64_t seq,
                       const char *ident, cairn_error_t *err)
{
    int rc = begin(j, err);
    if (rc < 0)
        return rc;
    static const char sql[] = "INSERT OR REPLACE INTO worker_links VALUES (?,?,?,?)";
    sdb_stmt_t *st = cached(j, &j->put_worker_st, sql, err);
    if (!st)
        return -EIO;
    sdb_bind_text(st, 1, node, -1, SDB_STATIC);
    sdb_bind_int64(st, 2, (int64_t)incarnation);
    sdb_bind_int64(st, 3, (int64_t)seq);
    sdb_bind_text(st, 4, ident ? ident : "", -1, SDB_STATIC);
    return step_cached(j, &j->put_worker_st, sql, err);
}

int journal_load_workers(journal_t *j, journal_worker_f cb, void *arg, cairn_error_t *err)
{
    sdb_stmt_t *st;
    if (sdb_prepare(j->db, "SELECT node, incarnation, seq, ident FROM worker_links ORDER BY node",
                    &st) != SDB_OK)
        return errcode(err, -EIO, "journal: %s", sdb_errmsg(j->db));
    while (sdb_step(st) == SDB_ROW)
        cb((const char *)sdb_column_text(st, 0), (uint64_t)sdb_column_int64(st, 1),
           (uint64_t)sdb_column_int64(st, 2), (const char *)sdb_column_text(st, 3), arg);
    sdb_finalize(st);
    return 0;
}

int journal_load_replica_exits(journal_t *j, journal_rexit_f cb, void *arg, cairn_error_t *err)
{
    sdb_stmt_t *st;
    if (sdb_prepare(j->db, "SELECT * FROM replica_exits ORDER BY attempt, rank", &st) != SDB_OK)
        return errcode(err, -EIO, "journal: %s", sdb_errmsg(j->db));
    while (sdb_step(st) == SDB_ROW)
        cb((uint64_t)sdb_column_int64(st, 0), (uint32_t)sdb_column_int64(st, 1),
           sdb_column_int(st, 2), sdb_column_int(st, 3), sdb_column_int(st, 4), arg);
    sdb_finalize(st);
    return 0;
}

/* --- snapshots ---------------------------------------------------------- */

int journal_put_snapshot(journal_t *j, const journal_snapshot_t *s, cairn_error_t *err)
{
    int rc = begin(j, err);
    if (rc < 0)
        return rc;
    sdb_stmt_t *st;
    if (sdb_prepare(j->db, "INSERT OR REPLACE INTO snapshots VALUES (?,?,?,?,?)", &st) != SDB_OK)
        return errcode(err, -EIO, "journal snapshot: %s", sdb_errmsg(j->db));
    sdb_bind_int64(st, 1, (int64_t)s->seq);
    sdb_bind_int64(st, 2, s->version);
    sdb_bind_blob(st, 3, s->sha256, (int)s->sha_len, SDB_STATIC);
    sdb_bind_blob64(st, 4, s->data, s->len, SDB_STATIC);
    sdb_bind_int64(st, 5, s->time_ms);
    rc = sdb_step(st) == SDB_DONE ? 0
                                  : errcode(err, -EIO, "journal snapshot: %s", sdb_errmsg(j->db));
    sdb_finalize(st);
    return rc;
}

/* Run sql with one integer bound: 0 or -EIO. */
static int exec_int(journal_t *j, const char *sql, int64_t v, cairn_error_t *err)
{
    sdb_stmt_t *st;
    if (sdb_prepare(j->db, sql, &st) != SDB_OK)
        return errcode(err, -EIO, "journal: %s: %s", sql, sdb_errmsg(j->db));
    sdb_bind_int64(st, 1, v);
    int rc = sdb_step(st) == SDB_DONE
                 ? 0
                 : errcode(err, -EIO, "journal: %s: %s", sql, sdb_errmsg(j->db));
    sdb_finalize(st);
    return rc;
}

int journal_prune(journal_t *j, unsigned keep, cairn_error_t *err)
{
    int rc = begin(j, err);
    if (rc < 0)
        return rc;
    sdb_stmt_t *st;
    int64_t oldest = 0;
    if (sdb_prepare(j->db, "SELECT seq FROM snapshots ORDER BY seq DESC LIMIT 1 OFFSET ?", &st) !=
        SDB_OK)
        return errcode(err, -EIO, "journal prune: %s", sdb_errmsg(j->db));
    sdb_bind_int64(st, 1, keep ? keep - 1 : 0);
    if (sdb_step(st) == SDB_ROW)
        oldest = sdb_column_int64(st, 0);
    sdb_finalize(st);
    if (keep == 0 || oldest == 0)
        return 0; /* fewer snapshots than kept: nothing goes */
    if ((rc = exec_int(j, "DELETE FROM snapshots WHERE seq < ?", oldest, err)) < 0 ||
        (rc = exec_int(j, "DELETE FROM events WHERE seq <= ?", oldest, err)) < 0)
        return rc;
    j->appended -= (uint64_t)sdb_changes(j->db);
    return exec_int(j, "INSERT OR REPLACE INTO meta VALUES ('pruned', ?)", oldest, err);
}

int journal_pruned(journal_t *j, uint64_t *upto, cairn_error_t *err)
{
    sdb_stmt_t *st;
    *upto = 0;
    if (sdb_prepare(j->db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'pruned'", &st) !=
        SDB_OK)
        return errcode(err, -EIO, "journal: %s", sdb_errmsg(j->db));
    if (sdb_step(st) == SDB_ROW)
        *upto = (uint64_t)sdb_column_int64(st, 0);
    sdb_finalize(st);
    return 0;
}

int journal_snapshots(journal_t *j, journal_snapshot_f cb, void *arg, cairn_error_t *err)
{
    sdb_stmt_t *st;
    if (sdb_prepare(j->db,
                    "SELECT seq, version, sha256, data, time_ms FROM snapshots"
                    " ORDER BY seq DESC",
                    &st) != SDB_OK)
        return errcode(err, -EIO, "journal snapshots: %s", sdb_errmsg(j->db));
    int rc = 0, s;
    while ((s = sdb_step(st)) == SDB_ROW) {
        journal_snapshot_t x = {.seq = (uint64_t)sdb_column_int64(st, 0),
                                .version = (uint32_t)sdb_column_int64(st, 1),
                                .sha256 = sdb_column_blob(st, 2),
                                .sha_len = (size_t)sdb_column_bytes(st, 2),
                                .data = sdb_column_blob(st, 3),
                                .len = (size_t)sdb_column_bytes(st, 3),
                                .time_ms = sdb_column_int64(st, 4)};
        if ((rc = cb(&x, arg)) != 0)
            break;
    }
    if (rc == 0 && s != SDB_DONE)
        rc = errcode(err, -EIO, "journal snapshots: %s", sdb_errmsg(j->db));
    sdb_finalize(st);
    return rc;
}
