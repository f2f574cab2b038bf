/* Task execution on a worker: spawn an attempt's processes with libuv,
 * bound to its cores and NUMA memory, logs captured to files, time and
 * memory limits enforced, the whole process tree ended on exit or cancel.
 *
 * All calls run on the worker's loop thread. Attempts are named by
 * (attempt id, rank) — one replica per node, so attempt id alone is unique
 * on a worker — never by pointer.
 */
#ifndef CAIRN_WORKER_EXEC_H
#define CAIRN_WORKER_EXEC_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/error.h"
#include "common/log.h"
#include "worker/identity.h"

typedef struct worker_exec worker_exec_t;

typedef struct exec_gpu {
    uint32_t index;     /* node-local index (PCI bus order) */
    const char *uuid;   /* "" or NULL when unknown: the index is used instead */
    const char *vendor; /* "nvidia", "amd", "intel", ... */
} exec_gpu_t;

/* What to run. Every pointer is borrowed for the duration of the call. */
typedef struct exec_spec {
    uint64_t attempt_id;
    uint64_t job_id;
    const char *task_name;
    uint32_t attempt_number; /* 1 = first */
    uint32_t argc;
    const char *const *argv; /* argv[0] looked up in PATH */
    bool shell;              /* run argv[0] as a /bin/sh -c script */
    uint32_t nenv;
    const char *const *env; /* "KEY=value", added to the task's environment (exec_env.c) */
    const char *workdir;    /* NULL or "": the worker's default work directory */
    /* The submitter: when the worker runs as root, the task runs as this
     * user (uid, gid, supplementary groups, HOME/USER/LOGNAME/SHELL;
     * without a workdir it starts in that home, or /), never as root unless
     * exec_config_t.allow_root_tasks. A worker that is not root runs it as
     * itself. NULL or "": refused (the start fails), never run as the
     * worker's user. */
    const char *user;
    uint64_t seed;
    uint32_t rank, world_size; /* world_size > 1: a gang replica */
    const char *master_addr;   /* rendezvous for gangs */
    uint32_t master_port;
    uint32_t npus;
    const uint32_t *pus; /* OS indexes of the PUs to bind to (all PUs of the cores) */
    uint32_t ncores;     /* allocated cores (OMP_NUM_THREADS) */
    uint32_t nnuma;
    const uint32_t *numa; /* OS indexes of NUMA nodes for memory binding */
    uint32_t ngpus;
    const exec_gpu_t *gpus;
    uint64_t memory_limit_bytes; /* 0 = none */
    int64_t time_limit_ms;       /* 0 = none */
    int64_t kill_grace_ms;       /* SIGTERM to SIGKILL; 0 = default 10 s */
    /* Checkpoints: the directory (relative to the working directory unless
     * absolute; NULL or "": none) is made by the task's process as the
     * task's user before it execs (mkdir -p, 0700), must then be a
     * directory of that user's, and is CAIRN_CHECKPOINT_DIR (absolute); a
     * path with a ".." component is refused. checkpoint_signal (0:
     * SIGTERM) goes to the task's process group signal_before_limit_ms
     * (0: never) before its time limit. */
    const char *checkpoint_dir;
    int checkpoint_signal;
    int64_t signal_before_limit_ms;
    /* retry.on's log pattern (common/logmatch.h; NULL or "": none): when
     * the attempt fails, the last CAIRN_LOG_MATCH_TAIL bytes of its stderr
     * are matched and exec_result_t.log_matched says whether it hit. */
    const char *retry_log;
} exec_spec_t;

/* How an attempt ended. */
typedef struct exec_result {
    uint64_t attempt_id;
    uint32_t rank;
    int pid;
    bool start_failed; /* error says why; nothing ran; exit_code is -1 */
    int exit_code;     /* when signal == 0 */
    int signal;        /* terminating signal, 0 if it exited */
    /* Why the worker ended it (at most one is set: the first reason).
     * cancelled is also set by worker_exec_kill_all(). */
    bool timed_out, cancelled, memory_exceeded;
    bool log_matched;         /* failed, and exec_spec_t.retry_log matched its stderr's tail */
    bool gpu_failed;          /* a GPU it held had a critical error: the worker ended it */
    int64_t start_ms, end_ms; /* wall clock, ms since the epoch */
    uint64_t cpu_usec;        /* user + system of the whole tree (sampled: see exec_track.c) */
    uint64_t peak_rss_bytes;  /* largest sampled RSS sum of the tree, or VmHWM of the main */
    char error[256];
    /* The directory it ran in (as given to chdir: outputs are relative to
     * it); "" when it failed before one was chosen. */
    char workdir[PATH_MAX];
    worker_identity_t as;          /* whom it ran as (its outputs are hashed with these rights) */
    char checkpoint_dir[PATH_MAX]; /* CAIRN_CHECKPOINT_DIR (absolute), "" when none */
} exec_result_t;

/* What r's failure is known to be (TaskEvent.end_class): "gpu-error" (a
 * GPU it held had a critical error: worker_exec_gpu_failed), "oom" (killed
 * for its memory: the cgroup's OOM kill or the worker's limit), "log"
 * (exec_spec_t.retry_log matched), "" for none (a cancel, a success...). */
const char *worker_exec_end_class(const exec_result_t *r);

typedef struct exec_callbacks {
    /* The attempt's process started. */
    void (*started)(uint64_t attempt_id, uint32_t rank, int pid, int64_t start_ms, void *arg);
    /* The attempt ended (or failed to start); called exactly once, when
     * no process of its tree is left (or after 5 s of trying to kill one
     * that will not die); never from inside worker_exec_start(). */
    void (*exited)(const exec_result_t *r, void *arg);
    void *arg;
} exec_callbacks_t;

typedef struct exec_config {
    const char *state_dir;       /* logs under state_dir/logs, leftovers list in state_dir */
    const char *default_workdir; /* NULL = the worker's cwd */
    /* cgroup v2 directory under which task cgroups (memory.max) are made:
     * NULL = /sys/fs/cgroup/cairn.tasks if the memory controller can be
     * enabled there, else none; "" = none. Without one, memory limits are
     * enforced by sampling the tree's RSS every 250 ms. */
    const char *cgroup_dir;
    bool allow_root_tasks; /* a root worker may run tasks submitted by root as root */
    /* fnmatch() patterns of the worker's environment variables tasks also
     * get, besides PATH and LANG (exec_env.c); copied. */
    const char *const *pass_env;
    size_t npass_env;
    /* How long a task's process may take from its start to its exec (its
     * program or working directory on a file system that does not answer,
     * a stopped process): after that the start fails, the process is
     * killed. 0: EXEC_START_TIMEOUT_MS. The worker never waits for it. */
    uint64_t start_timeout_ms;
    /* Where the executor says what an administrator should know (the log
     * pool without leases, a log not named after a crash, logs moved
     * aside); NULL: nowhere. Borrowed for the executor's lifetime. */
    cairn_log_t *log;
} exec_config_t;

#define EXEC_START_TIMEOUT_MS 60000

/* Create the executor on loop. Kills leftovers of a previous worker that
 * died (recorded in state_dir/running by this boot) and waits (up to 2 s)
 * for them to die before returning. Makes the calling process a child
 * subreaper, so orphans of tasks are reparented to it; every child process
 * of the worker must be spawned on this loop (other zombie children are
 * reaped here). Forks the guard (exec_guard.c), a process that ends every
 * task's whole process tree when the worker dies by any signal; the main
 * processes also die with the thread that spawned them (PR_SET_PDEATHSIG),
 * so the loop must run on a thread that lives as long as the worker.
 * Where a cgroup v2 hierarchy is writable each task runs in a cgroup of its
 * own (exec_cgroup.c). The state directory is made 0700 when missing; an
 * existing one must be the worker's user's and writable by no one else
 * (-EPERM otherwise), as must its logs/ directory and leftovers file
 * (exec_files.c). Errors: -EINVAL (no state_dir), -ENOMEM, -EPERM, or the
 * errno of making state_dir or the cgroup directory, or of forking. */
int worker_exec_create(uv_loop_t *loop, const exec_config_t *cfg, const exec_callbacks_t *cb,
                       worker_exec_t **out, cairn_error_t *err);

/* Whom a task of submitter user runs as here (see exec_spec_t.user): the
 * checks of a start, without starting anything. -EPERM (no submitter, or
 * root's task refused) or -ENOENT (no such account), said in err. */
int worker_exec_identity(worker_exec_t *x, const char *user, worker_identity_t *out,
                         cairn_error_t *err);

/* The absolute checkpoint directory of spec into buf ("" when it has
 * none), as its start resolves it (exec_spec_t.checkpoint_dir), without
 * starting anything or touching the directory. 0 or a negative code said
 * in err (the start's own refusals: no submitter, a ".." in the path). */
int worker_exec_checkpoint_dir(worker_exec_t *x, const exec_spec_t *spec, char *buf, size_t len,
                               cairn_error_t *err);

/* Start one attempt replica. Fails (no callback) with -EEXIST if it is
 * already running (until its exited() has been called) or -EINVAL if the
 * spec is invalid; any later failure (working directory missing, command
 * not found, log files, no exec within start_timeout_ms) is reported
 * through exited() with start_failed, from a later loop iteration.
 * started() follows a successful exec. Never waits for the exec. */
int worker_exec_start(worker_exec_t *x, const exec_spec_t *spec, cairn_error_t *err);

/* A start prepared ahead (worker_exec_prepare). */
typedef struct exec_prepared exec_prepared_t;

/* Do now what starting the attempt needs before its process can be
 * created: check the spec, look up the submitter, check the working
 * directory, open (create) the log files, build the environment, argv and
 * binding masks; the spec is copied. Where this build can (x86-64, arm64)
 * and the task needs no cgroup, its process is created now too: ready in
 * its own session, its files open, asleep (named cairn-queued) until
 * worker_exec_start_prepared() binds it to its PUs and lets it exec; else
 * that call creates it. after_id (0: none) names a running attempt, or
 * one prepared with its process parked, whose (main) process's exit
 * starts this one by itself, at once, without waiting for the worker (the
 * kernel wakes it; if that one is dropped before it ran, this one gives
 * up instead of starting): for an attempt whose start need not
 * wait for the rest of that one's end (no GPU memory to be freed, no
 * outputs to hash first: the caller decides); whatever else is left of
 * that attempt is still ended as usual. worker_exec_start_prepared() must
 * still follow, once the predecessor is reported. On failure (-EINVAL for an invalid spec, or
 * what the start would report) nothing is kept: the caller starts the
 * attempt with worker_exec_start() when its turn comes, which reports
 * whatever is wrong then. */
int worker_exec_prepare(worker_exec_t *x, const exec_spec_t *spec, uint64_t after_id,
                        exec_prepared_t **out, cairn_error_t *err);

/* worker_exec_start() of a prepared attempt, same contract; p is consumed
 * whatever the result. */
int worker_exec_start_prepared(worker_exec_t *x, exec_prepared_t *p, cairn_error_t *err);

/* Discard a preparation whose attempt will not start: its waiting process
 * is killed (and reaped), its log files go when nothing was written to
 * them. NULL is a no-op. */
void worker_exec_prepared_free(worker_exec_t *x, exec_prepared_t *p);

/* SIGTERM the attempt's process tree, SIGKILL after grace_ms (<= 0: the
 * spec's grace); exited() reports cancelled. While it already ends (time
 * limit), a shorter grace still applies. -ENOENT if not running. */
int worker_exec_cancel(worker_exec_t *x, uint64_t attempt_id, int64_t grace_ms);

/* worker_exec_cancel() whose first signal is sig (0: SIGTERM; a
 * preemption's checkpoint signal) instead of SIGTERM: SIGKILL follows
 * after grace_ms (<= 0: the spec's grace); exited() reports cancelled.
 * -EINVAL for a signal outside 0..64, -ENOENT if not running. */
int worker_exec_cancel_signal(worker_exec_t *x, uint64_t attempt_id, int sig, int64_t grace_ms);

/* Attempts running now, ascending ids; returns how many (may exceed max). */
size_t worker_exec_list(const worker_exec_t *x, uint64_t *ids, uint32_t *ranks, int *pids,
                        int64_t *start_ms, size_t max);

/* Usage of a running attempt's whole process tree as of the last sample
 * (at most 250 ms old). -ENOENT if not running. */
int worker_exec_usage(worker_exec_t *x, uint64_t attempt_id, uint64_t *cpu_usec,
                      uint64_t *rss_bytes, uint64_t *peak_rss_bytes);

/* Path of an attempt's log file (stream 1 = stdout, 2 = stderr), whether or
 * not it still runs. Returns the length written or a negative code. */
int worker_exec_log_path(const worker_exec_t *x, uint64_t job_id, const char *task_name,
                         uint64_t attempt_id, uint32_t rank, int stream, char *buf, size_t len);

/* Open an attempt's log (as worker_exec_log_path names it) for reading:
 * only a regular file with one link, never through a symbolic link. The
 * descriptor, or -ENOENT (nothing written yet), -ELOOP or -EPERM (not a
 * plain log file), or another negative errno. */
int worker_exec_log_open(const worker_exec_t *x, uint64_t job_id, const char *task_name,
                         uint64_t attempt_id, uint32_t rank, int stream);

/* The scheduler the worker registered with, by its journal's identity
 * (RegisterReply.scheduler_id; 0: it sent none). Logs are kept per
 * identity: those in state_dir/logs are of the one recorded in
 * state_dir/logs/.scheduler. A new identity (the scheduler's state was
 * lost or replaced: its job and attempt ids start again) moves the job log
 * directories there aside, to state_dir/logs/.old-ID (ID the earlier
 * identity, in hex), as it does the logs of attempts still running: none
 * is served again, nor named as a log of the new scheduler. The first
 * identity seen is recorded (a state directory of a release before this
 * one keeps its logs). Returns 1 when logs were moved aside, 0 when none
 * were, or a negative code said in err: then no log is served (-ESTALE)
 * until a later call succeeds. */
int worker_exec_logs_scheduler(worker_exec_t *x, uint64_t scheduler_id, cairn_error_t *err);

/* Kill everything (SIGKILL to every process tree) and wait for nothing:
 * exited() follows for each attempt, with cancelled set. */
void worker_exec_kill_all(worker_exec_t *x);

/* GPU gpu (a node-local index) had a critical error: end every running
 * attempt that holds it (SIGTERM, SIGKILL after its grace), its result
 * marked gpu_failed. Returns how many it ends. */
unsigned worker_exec_gpu_failed(worker_exec_t *x, uint32_t gpu);

/* Close all handles; running attempts are killed (and reaped, waiting up
 * to 2 s) and no callback is made any more. The loop must run until the
 * handles are closed (uv_run) before it can be closed. NULL is a no-op. */
void worker_exec_destroy(worker_exec_t *x);

#endif
