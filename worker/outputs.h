/* The SHA-256 of an attempt's declared outputs (proto/PROTOCOL.md,
 * "Outputs"), computed when the attempt has ended.
 *
 * A path is relative to the attempt's working directory. Absolute paths,
 * paths with a ".." component and paths whose real path (symbolic links
 * resolved) leaves the working directory are refused with an error, never
 * read. A regular file is hashed as it is; a directory gets a digest over
 * its regular files sorted by relative path (PROTOCOL.md gives the exact
 * scheme); a path that does not exist gets the error "missing"; anything
 * else (a device, a FIFO, a socket, a file of /proc, /sys or another
 * kernel file system) is refused, never read.
 *
 * The work is done with the rights of the task's user (opts->as: the
 * calling thread's file system uid, gid and groups, never the process's),
 * so it reads nothing the task could not, and within a budget: at most
 * opts->max_bytes read in all (an output that would go over is "not
 * hashed: too large"; the ones after it still are when they fit) and, off
 * the loop, at most opts->timeout_ms ("not hashed: took too long" for what
 * is not done by then, even when a read never returns).
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

#include "common/error.h"
#include "worker/identity.h"

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
    int64_t mtime_ms; /* listings (worker_outputs_list): modification time */
} worker_output_t;

/* The worker's defaults for the budget of one attempt's hashing. */
#define WORKER_HASH_MAX_BYTES (64ull << 30)
#define WORKER_HASH_TIMEOUT_MS (30ull * 60 * 1000)

/* How outputs are hashed. */
typedef struct worker_outputs_opts {
    const worker_identity_t *as; /* with these rights; NULL or not set: the caller's */
    uint64_t max_bytes;          /* read at most this many bytes in all; 0: no limit */
    uint64_t timeout_ms;         /* worker_outputs_start() only: 0: no limit */
} worker_outputs_opts_t;

/* Hash n outputs (paths) relative to workdir into out[0..n-1] (out[i].path
 * = paths[i]) as opts says (NULL: the caller's rights, no limit). Every
 * output gets a hash or an error; a non-NULL cancel that becomes true
 * stops the work early (the outputs not done yet get the error "not
 * hashed: cancelled"). Blocks: never call it on the loop thread. */
void worker_outputs_hash(const char *workdir, const char *const *paths, size_t n,
                         worker_output_t *out, const worker_outputs_opts_t *opts,
                         const atomic_bool *cancel);

typedef struct worker_outputs worker_outputs_t;

/* The work is done: out[0..n-1], valid during the call only. */
typedef void (*worker_outputs_f)(uint64_t id, const worker_output_t *out, size_t n, void *arg);

/* Hash the outputs off the loop thread, then call cb(id, ...) on the loop
 * thread; workdir, paths and opts are copied. Past opts->timeout_ms the
 * callback comes at once with what was done, the rest "not hashed: took
 * too long" (a pool thread stuck in a read finishes on its own). *job
 * names the work until the callback (the job is freed after it). 0,
 * -ENOMEM, or libuv's code; no callback on failure. */
int worker_outputs_start(uv_loop_t *loop, uint64_t id, const char *workdir,
                         const char *const *paths, size_t n, const worker_outputs_opts_t *opts,
                         worker_outputs_f cb, void *arg, worker_outputs_t **job,
                         cairn_error_t *err);

/* Stop a job started above: the callback follows from the loop (never from
 * inside this call) with the outputs done so far, the rest "not hashed:
 * cancelled". Only before the callback (the job is freed after it). */
void worker_outputs_cancel(worker_outputs_t *job);

/* Give up on a job started above: the hashing stops soon, no callback is
 * made, and the memory is freed on the loop thread once the pool thread is
 * done (the loop must run until then). NULL is a no-op. */
void worker_outputs_abandon(worker_outputs_t *job);

/* ---- checkpoint listings ----------------------------------------------------
 *
 * The regular files under directory dir (absolute), recursively, sorted
 * bytewise by their path relative to dir: path, size, SHA-256 and mtime
 * each, with the rights and within the budget of opts as above (a file
 * over the budget or unreadable gets its error; the others are still
 * hashed). Symbolic links are never followed, nor anything else but
 * regular files and directories looked at. A dir that does not exist
 * lists nothing; one that cannot be read is one entry (path ".") with the
 * error. */

/* List dir into *out (n entries; the paths are the list's): free it with
 * worker_outputs_list_free(). Blocks: never on the loop thread. 0, or
 * -ENOMEM (nothing listed). */
int worker_outputs_list(const char *dir, const worker_outputs_opts_t *opts,
                        const atomic_bool *cancel, worker_output_t **out, size_t *n);

void worker_outputs_list_free(worker_output_t *out, size_t n);

/* worker_outputs_list() off the loop thread, cb(id, ...) on it, as
 * worker_outputs_start() does (cancel and abandon alike); past the time
 * budget or on a cancel, the list is one entry (path ".") with the
 * error. */
int worker_outputs_list_start(uv_loop_t *loop, uint64_t id, const char *dir,
                              const worker_outputs_opts_t *opts, worker_outputs_f cb, void *arg,
                              worker_outputs_t **job, cairn_error_t *err);

#endif
