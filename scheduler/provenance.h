/* Provenance: what exactly ran, where and with what, for every attempt.
 *
 * Most of it is the core's state (the spec as submitted, resolved argv,
 * env, workdir, seeds, attempts, nodes, cores, GPUs, times, end reasons).
 * What the core does not keep is recorded here, in the journal's database
 * and transactions: when a replica starts, a snapshot of its node (topology
 * fingerprint, worker version, driver and CUDA versions, the GPUs' models,
 * UUIDs and PCI bus ids); when it ends, its peak memory, CPU time and the
 * SHA-256 of its declared outputs; at submit, the spec text and the hashes
 * of the tasks' declared inputs. clients_prov.c puts it all together. */
#ifndef CAIRN_SCHEDULER_PROVENANCE_H
#define CAIRN_SCHEDULER_PROVENANCE_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/client.pb-c.h"
#include "scheduler/journal.h"

typedef struct prov prov_t;

int prov_open(journal_t *j, prov_t **out, cairn_error_t *err);
void prov_close(prov_t *p);

/* Record a partial AttemptProvenance (the node snapshot at start; the
 * usage and outputs at the end) in the journal's open transaction. */
int prov_put_start(prov_t *p, uint64_t attempt, uint32_t rank, const Cairn__AttemptProvenance *m,
                   cairn_error_t *err);
int prov_put_end(prov_t *p, uint64_t attempt, uint32_t rank, const Cairn__AttemptProvenance *m,
                 cairn_error_t *err);

/* A job's spec exactly as submitted, its hash and the hashes of its
 * tasks' declared inputs as the client took them (js, at submit, in the
 * open transaction). prov_get_spec returns malloc'd copies or NULLs (text
 * may be NULL: the hash alone). */
int prov_put_job(prov_t *p, uint32_t job, const Cairn__JobSpec *js, cairn_error_t *err);
int prov_get_spec(prov_t *p, uint32_t job, char **text, char **sha256, cairn_error_t *err);

/* A task's retry.on log pattern as submitted: 1 and *pattern (malloc'd),
 * 0 and NULL when it has none, or a negative code. task: its index. */
int prov_get_retry_log(prov_t *p, uint32_t job, uint32_t task, char **pattern, cairn_error_t *err);

/* A task's checkpoint settings as submitted (prov_put_job keeps those of
 * tasks that name a checkpoint or signal_before_limit): 1 and *signal,
 * *before_limit_ms and *dir (malloc'd; NULL: the default directory), or 0
 * and zeros when the task named none. task: its index in the job. */
int prov_get_checkpoint(prov_t *p, uint32_t job, uint32_t task, int *signal,
                        uint64_t *before_limit_ms, char **dir, cairn_error_t *err);

/* Why and by whom an attempt was preempted, recorded by the pass that
 * decided it (in the open transaction); prov_get_preempt sets *out (NULL:
 * none recorded) to free with cairn__preemption__free_unpacked. */
int prov_put_preempt(prov_t *p, uint64_t attempt, const Cairn__Preemption *m, cairn_error_t *err);
int prov_get_preempt(prov_t *p, uint64_t attempt, Cairn__Preemption **out, cairn_error_t *err);

/* Call fn for each recorded input of job's task (by name), in declared
 * order; the strings are valid during the call only. */
typedef void (*prov_input_f)(const char *path, const char *sha256, uint64_t size, void *arg);
int prov_get_inputs(prov_t *p, uint32_t job, const char *task, prov_input_f fn, void *arg,
                    cairn_error_t *err);

/* What was recorded for (attempt, rank): *start and *end (NULL when
 * nothing was), to free with cairn__attempt_provenance__free_unpacked;
 * start or end NULL: that one is not read. */
int prov_load(prov_t *p, uint64_t attempt, uint32_t rank, Cairn__AttemptProvenance **start,
              Cairn__AttemptProvenance **end, cairn_error_t *err);

/* Whether env name matches the secret pattern: comma-separated shell
 * globs, case-insensitive ("*SECRET*,*TOKEN*,..."). */
bool prov_is_secret(const char *pattern, const char *name);
#define PROV_SECRET_PATTERN_DEFAULT                                                                \
    "*SECRET*,*TOKEN*,*PASSWORD*,*PASSWD*,*CREDENTIAL*,*_KEY,*APIKEY*"

#endif
