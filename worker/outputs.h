/* The SHA-256 of an attempt's declared outputs (proto/PROTOCOL.md,
 * "Outputs"), computed when the attempt has ended.
 *
 * A path is relative to the attempt's working directory. Absolute paths,
 * paths with a ".." component and paths whose real path (symbolic links
 * resolved) leaves the working directory are refused with an error, never
 * read. A regular file is hashed as it is; a directory gets a digest over
 * its regular files sorted by relative path (PROTOCOL.md gives the exact
 * scheme); a path that does not exist gets the error "missing".
 *
 * worker_outputs_hash() does the work on the calling thread;
 * worker_outputs_start() does it on libuv's thread pool (checkpoints can be
 * gigabytes) and calls back on the loop thread.
 */
#ifndef CAIRN_WORKER_OUTPUTS_H
#define CAIRN_WORKER_OUTPUTS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "scheduling/error.h"

/* Most outputs one task may declare, and the longest path. */
#define WORKER_OUTPUTS_MAX 1024
#define WORKER_OUTPUT_PATH_MAX 1024
/* Most regular files in one directory output (more: an error). */
#define WORKER_OUTPUT_DIR_FILES_MAX 1000000

typedef struct worker_output {
    const char *path; /* as declared: borrowed from the caller */
    char sha256[65];  /* lower-case hex; "" when error is set */
    uint64_t size;    /* bytes hashed */
    char error[160];  /* "" when hashed */
} worker_output_t;

/* Hash n outputs (paths) relative to workdir into out[0..n-1] (out[i].path
 * = paths[i]). Every output gets a hash or an error; a non-NULL cancel
 * that becomes true stops the work early (the outputs not done yet get the
 * error "cancelled"). Blocks: never call it on the loop thread. */
void worker_outputs_hash(const char *workdir, const char *const *paths, size_t n,
                         worker_output_t *out, const atomic_bool *cancel);

typedef struct worker_outputs worker_outputs_t;

/* The work is done: out[0..n-1], valid during the call only. */
typedef void (*worker_outputs_cb)(uint64_t id, const worker_output_t *out, size_t n, void *arg);

/* Hash the outputs off the loop thread, then call cb(id, ...) on the loop
 * thread; workdir and paths are copied. *job names the work until the
 * callback (which frees it). 0, -ENOMEM, or libuv's code; no callback on
 * failure. */
int worker_outputs_start(uv_loop_t *loop, uint64_t id, const char *workdir,
                         const char *const *paths, size_t n, worker_outputs_cb cb, void *arg,
                         worker_outputs_t **job, cairn_error_t *err);

/* Give up on a job started above: the hashing stops soon, no callback is
 * made, and the memory is freed on the loop thread once the pool thread is
 * done (the loop must run until then). NULL is a no-op. */
void worker_outputs_abandon(worker_outputs_t *job);

#endif
