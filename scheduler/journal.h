/* The scheduler's durable journal: core events in SQLite (WAL).
 *
 * Entries are appended inside a transaction that the daemon commits once
 * per loop iteration, before anything that depends on them is acknowledged.
 * After a crash, replaying the committed entries in order rebuilds the
 * state. */
#ifndef CAIRN_SCHEDULER_JOURNAL_H
#define CAIRN_SCHEDULER_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "scheduler/sdb.h"

typedef struct journal journal_t;

/* Open (creating its tables if needed) the journal in the store at url
 * (sdb.h: sqlite:PATH, a bare path, or postgresql://...). A SQLite
 * database and its -wal, -shm and -journal files are made 0600 first
 * (created so, or their group and other bits cleared); one that is a
 * symbolic link or another user's is refused (-EPERM). On PostgreSQL the
 * opener holds the schema lock until journal_schema_done, so schedulers
 * starting together create the tables once. */
int journal_open(const char *url, journal_t **out, cairn_error_t *err);
/* The tables beside the events are made (stores_open): let other
 * schedulers open the store. */
void journal_schema_done(journal_t *j);
/* Read the newest entry's seq and the count again (a standby taking over
 * after following: journal_follow). */
int journal_heads(journal_t *j, cairn_error_t *err);

/* The SQLSTATE the fence raises (lead.c creates cairn_fence). */
#define JOURNAL_FENCE_SQLSTATE "CN001"
/* pg_advisory_lock key held while the tables are created. */
#define JOURNAL_SCHEMA_LOCK "7306283160941"

/* Fence every transaction from now on (PostgreSQL leaders, lead.h):
 * SELECT cairn_fence(epoch, holder, lease_ms) right after BEGIN, so a
 * scheduler that no longer leads commits nothing (its writes fail with
 * -ESTALE). cb (may be NULL) is told just before each fence is sent, so
 * the leader can time its lease from the send. holder NULL: no fence. */
typedef void (*journal_fence_f)(void *arg, bool renewed);
void journal_set_fence(journal_t *j, uint64_t epoch, const char *holder, int64_t lease_ms,
                       journal_fence_f cb, void *arg);
void journal_close(journal_t *j);

/* The same store for reading only, on a connection of its own (used by
 * one other thread: reader.h); the tables must exist. Nothing may be
 * appended or committed through it. */
int journal_open_reader(const char *url, journal_t **out, cairn_error_t *err);
bool journal_readonly(const journal_t *j);

/* The journal's identity (journal_open): random, non-zero, made when the
 * database was made and kept in it (meta 'ident'), so every restart of
 * the same scheduler has it, and one whose state was lost has another
 * (RegisterReply.scheduler_id: workers keep logs per identity). 0 for a
 * reader. */
uint64_t journal_ident(const journal_t *j);

/* Append one packed entry, opening a transaction if none is open. */
int journal_append(journal_t *j, const uint8_t *buf, size_t len, cairn_error_t *err);
/* Commit the open transaction (no-op without one). On failure the
 * transaction is rolled back: nothing appended since the last commit is
 * durable. */
int journal_commit(journal_t *j, cairn_error_t *err);
/* Whether writes wait for a commit: a transaction is open, or a write's
 * BEGIN failed (then until journal_rollback; committing it fails). */
bool journal_pending(const journal_t *j);

/* Drop what was appended since the last commit. */
void journal_rollback(journal_t *j);

/* Write and commit a tiny change (no event): 0 once storage takes writes
 * again. Only when nothing is pending. */
int journal_probe(journal_t *j, cairn_error_t *err);

/* Replay committed entries in order; cb returning non-zero stops it. */
typedef int (*journal_replay_f)(uint64_t seq, const uint8_t *buf, size_t len, void *arg);
int journal_replay(journal_t *j, journal_replay_f cb, void *arg, cairn_error_t *err);

/* A gang replica's exit, kept with the journal (in the same transaction as
 * the entries) until its whole attempt ends. */
int journal_put_replica_exit(journal_t *j, uint64_t attempt, uint32_t rank, int end, int code,
                             int sig, cairn_error_t *err);
typedef void (*journal_rexit_f)(uint64_t attempt, uint32_t rank, int end, int code, int sig,
                                void *arg);
int journal_load_replica_exits(journal_t *j, journal_rexit_f cb, void *arg, cairn_error_t *err);

/* What the scheduler keeps of each worker (workers.c), in the journal's
 * transaction: the newest task event applied from it (the worker
 * process's incarnation, its seq), so that a resent event is dropped
 * across restarts, and the identity its node name is bound to ("uid N" on
 * ipc://, "address A" over a network). */
int journal_put_worker(journal_t *j, const char *node, uint64_t incarnation, uint64_t seq,
                       const char *ident, cairn_error_t *err);
typedef void (*journal_worker_f)(const char *node, uint64_t incarnation, uint64_t seq,
                                 const char *ident, void *arg);
int journal_load_workers(journal_t *j, journal_worker_f cb, void *arg, cairn_error_t *err);

/* The same for the entries after seq `after` only (the tail after a
 * snapshot). */
int journal_replay_after(journal_t *j, uint64_t after, journal_replay_f cb, void *arg,
                         cairn_error_t *err);

/* Entries in the events table (pruning takes them out). */
uint64_t journal_count(const journal_t *j);
/* The seq of the newest entry appended (in the open transaction, if any);
 * 0 for an empty journal. */
uint64_t journal_head(const journal_t *j);

/* A snapshot of the core kept beside the events (scheduler/snapshots.h):
 * the state after entry seq, in format version, with its SHA-256. */
typedef struct journal_snapshot {
    uint64_t seq;
    uint32_t version;
    const uint8_t *sha256;
    size_t sha_len;
    const uint8_t *data;
    size_t len;
    int64_t time_ms;
} journal_snapshot_t;
/* Store s in the open transaction (opening one). */
int journal_put_snapshot(journal_t *j, const journal_snapshot_t *s, cairn_error_t *err);
/* In the open transaction: keep the newest `keep` snapshots and the
 * entries after the oldest of them; delete older snapshots and entries up
 * to it, and remember how far entries were deleted (journal_pruned). With
 * fewer snapshots than keep, nothing is deleted. */
int journal_prune(journal_t *j, unsigned keep, cairn_error_t *err);
/* The seq up to which entries were deleted (0: none ever were). */
int journal_pruned(journal_t *j, uint64_t *upto, cairn_error_t *err);
/* Each snapshot, newest first (pointers valid during the call); cb
 * returning non-zero stops and is returned. */
typedef int (*journal_snapshot_f)(const journal_snapshot_t *s, void *arg);
int journal_snapshots(journal_t *j, journal_snapshot_f cb, void *arg, cairn_error_t *err);

/* The database, for tables kept beside the events (audit.c), written in
 * the journal's transaction: journal_begin() opens it if none is open. */
sdb_t *journal_db(journal_t *j);
/* A failed statement of a store kept beside the events ("audit", "cache",
 * ...): -EIO, err saying "<store> <what>: <SQLite's message>". */
int journal_sql_error(journal_t *j, cairn_error_t *err, const char *store, const char *what);
int journal_begin(journal_t *j, cairn_error_t *err);
/* Migrate a table kept beside the events (at open, outside a transaction):
 * add column (with its declaration, e.g. "TEXT NOT NULL DEFAULT ''") to
 * table when a database of an earlier release lacks it; nothing on a
 * read-only journal or when it is there. 0 or -EIO. */
int journal_add_column(journal_t *j, const char *table, const char *column, const char *decl,
                       cairn_error_t *err);

#endif
