/* Cached results (opt-in per task: `cache: true`).
 *
 * A cached task's key is the SHA-256 of its job's submitter (a result is
 * reused for the same submitter only: there are no accounts one could
 * trust yet), its base (jobspec.c: resolved command, env, workdir, seed,
 * resource shape, replicas, the content hashes of its inputs) and of what
 * its upstream tasks left: the hashes of their declared outputs, or, for
 * one that declares none, the id of its attempt (so a hit needs that very
 * run). A successful run whose declared outputs were all hashed is recorded
 * under its key. When a later task has a key on record (and its job was not
 * submitted with --no-cache), its AssignTask carries the recorded output
 * hashes; the worker checks that the outputs are still there with exactly
 * those hashes and then reports the attempt ended, cached, without running
 * it (otherwise it runs it). Either way the task succeeds only through a
 * worker that saw the files.
 *
 * A key may have several results, one per set of outputs: a run that left
 * outputs already on record adds nothing but "seen" (that result keeps the
 * job and task that first produced them), one that left others is recorded
 * beside them; nothing is replaced. The result offered is the one seen
 * last, i.e. the outputs the latest run of the key left (on a shared
 * filesystem the only ones that can still verify), named after the oldest
 * run that produced exactly those outputs; recording order is the journal's,
 * so the choice is deterministic.
 *
 * Tables beside the journal, written in its transactions: cache_results
 * (key, outputs -> the run that first made them, when last seen) and
 * cache_hits (attempt -> whose results it reused; kept in memory too, for
 * status replies). */
#ifndef CAIRN_SCHEDULER_CACHE_H
#define CAIRN_SCHEDULER_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/client.pb-c.h"
#include "scheduler/journal.h"
#include "scheduler/provenance.h"
#include "scheduling/sched.h"

#define CACHE_KEY_HEX 65

typedef struct cache cache_t;

int cache_open(journal_t *j, cache_t **out, cairn_error_t *err);
void cache_close(cache_t *c);
/* Re-read the hits (after the journal's transaction was rolled back). */
int cache_reload(cache_t *c, cairn_error_t *err);

/* The key of (job, task), a cached task whose upstream tasks have ended;
 * false when the task is not cached. */
bool cache_key(const sched_t *core, prov_t *prov, uint32_t job, uint32_t task,
               char key[CACHE_KEY_HEX]);

typedef struct cache_entry {
    uint32_t job;
    char task[256];
    uint64_t attempt;
    Cairn__AttemptProvenance *outputs; /* its outputs; free with ..._free_unpacked */
} cache_entry_t;

/* 1 and *e (the result to offer, above) when key is on record, 0 when
 * not. */
int cache_lookup(cache_t *c, const char *key, cache_entry_t *e, cairn_error_t *err);
/* Record a run's outputs under key, in the open transaction: a new result,
 * or the one with the same outputs seen again. */
int cache_put(cache_t *c, const char *key, uint32_t job, const char *task, uint64_t attempt,
              size_t noutputs, Cairn__OutputHash **outputs, cairn_error_t *err);

/* Attempt reused the results of (job, task). */
int cache_hit_put(cache_t *c, uint64_t attempt, uint32_t job, const char *task, cairn_error_t *err);
bool cache_hit_get(const cache_t *c, uint64_t attempt, uint32_t *job, const char **task);
/* Forget (in memory; the table keeps them) the hits of attempts gone says
 * left the core: their jobs were retired and are read from their record. */
typedef bool (*cache_gone_f)(uint64_t attempt, void *arg);
void cache_hits_forget(cache_t *c, cache_gone_f gone, void *arg);

#endif
