/* Checkpoints (issue 22): what the scheduler derives from a task's
 * checkpoint settings and from the worker's listings of its checkpoint
 * directory (TaskEvent.checkpoint when an attempt starts and ends).
 *
 * The digest of a listing is the one definition every part uses
 * (provenance, `cairn inspect`, tests computing it with sha256sum): the
 * hex SHA-256 over the lines "path\tsize\tsha256\n" of the files hashed
 * without error, sorted bytewise (LC_ALL=C sort); "" when there are none.
 * Part of cairn_scheduler_lib: proto and SHA-256 only. */
#ifndef CAIRN_SCHEDULER_CHECKPOINT_H
#define CAIRN_SCHEDULER_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "proto/worker.pb-c.h"

#define CKPT_DIGEST_HEX 65 /* 64 hex digits and a NUL */

/* The listing's digest into out ("" for no file); 0 or -ENOMEM. */
int ckpt_digest(Cairn__OutputHash *const *v, size_t n, char out[CKPT_DIGEST_HEX]);

/* The newest mtime_ms of the listing's files (0: none). */
int64_t ckpt_newest_mtime(Cairn__OutputHash *const *v, size_t n);

/* The directory a task without `checkpoint: {dir}` gets, relative to its
 * workdir: .cairn-checkpoints/<IDENT>/job-<JOB>/<TASK>-<name, each byte
 * outside [A-Za-z0-9._=-] as '_'>, IDENT the journal's identity in 16 hex
 * digits (job ids start again with a new journal: a new cluster's job 1
 * must not resume an old one's checkpoints): the same on every attempt,
 * distinct per task and matrix member. Truncated to fit n. */
void ckpt_default_dir(uint64_t ident, uint32_t job, uint32_t task, const char *name, char *out,
                      size_t n);

#endif
