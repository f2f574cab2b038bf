/* The history of attempts: one accounting record per replica of every
 * ended attempt, kept beside the journal and written in the journal's
 * transaction when the attempt ends (clients_acct.c), so that reports
 * over months of history are SQLite reads that a reader thread makes
 * (reader.h), never walks of the core on the loop.
 *
 * A record is an AccountingRecord (client.proto) as the core knew it when
 * the attempt ended; what was measured outside the core (CPU time and peak
 * memory from provenance, GPU use from usage samples) is added when read. */
#ifndef CAIRN_SCHEDULER_HISTORY_H
#define CAIRN_SCHEDULER_HISTORY_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/client.pb-c.h"
#include "scheduler/journal.h"

typedef struct history history_t;

/* On the daemon's journal (creating the table) or on a reader's read-only
 * one (journal_open_reader). */
int history_open(journal_t *j, history_t **out, cairn_error_t *err);
void history_close(history_t *h);

/* Keep a record (its attempt_id and rank are the key: a second put of the
 * same one is ignored) in the open transaction. */
int history_put(history_t *h, const Cairn__AccountingRecord *r, cairn_error_t *err);

/* Whether every ended attempt has its record; set (in the open
 * transaction) once records were written for all of them. */
int history_complete(history_t *h, bool *complete, cairn_error_t *err);
int history_set_complete(history_t *h, cairn_error_t *err);

/* The daemon's place in the core's list of ended attempts
 * (sched_ended_list): records are written for the attempts from the
 * cursor on, before each commit. */
/* At start and after a reload, with nended attempts ended in the core:
 * from the end when the history is complete, else from the start. */
int history_load_cursor(history_t *h, size_t nended, cairn_error_t *err);
size_t history_cursor(const history_t *h);
void history_advance(history_t *h, size_t k);
/* Every ended attempt before the cursor has its record: say so once. */
int history_mark_complete(history_t *h, cairn_error_t *err);

/* Records of attempts placed before until_ms that ended at or after
 * since_ms, in (attempt_id, rank) order after (after_attempt, after_rank),
 * at most max: cb gets each and owns it (free with
 * cairn__accounting_record__free_unpacked); non-zero stops. */
typedef int (*history_row_f)(Cairn__AccountingRecord *r, void *arg);
int history_page(history_t *h, int64_t since_ms, int64_t until_ms, uint64_t after_attempt,
                 uint32_t after_rank, uint32_t max, history_row_f cb, void *arg,
                 cairn_error_t *err);

/* Drop at most max records of attempts that ended before until_ms
 * (--history-retention), and their provenance (prov_start, prov_end), in
 * the open transaction: how many records went. */
int history_drop_before(history_t *h, int64_t until_ms, uint32_t max, cairn_error_t *err);

#endif
