/* Internals of worker_exec_t, shared by worker/exec*.c: the table of
 * contents of the executor. Each part calls only parts below it in this
 * list; its section below says what it offers.
 *
 * exec.c           the executor: create, destroy, SIGCHLD, the attempts'
 *                  usage
 * exec_start.c     starting an attempt, and starts prepared ahead whose
 *                  process waits at a gate
 * exec_end.c       a started attempt until its end: time limit, cancel, the
 *                  main process's exit, the rest of the tree, the report
 * exec_track.c     which processes belong to which attempt, usage, memory
 *                  limit by sampling, reaping orphans; the sampler
 * exec_guard.c     the guard: a process that ends the tasks when the worker
 *                  dies
 * exec_leftovers.c the leftovers file: what runs, written as it changes;
 *                  read back, what a dead worker left is ended
 * exec_attempt.c   the attempt table, an attempt's memory
 * exec_prep.c      preparing a start: account, directory, logs, environment
 * exec_logs.c      task logs: a pool of empty files handed to tasks, named
 *                  once their task ended with output; reading them
 * exec_files.c     the state directory and logs/, private
 * exec_env.c       the task's environment and argv
 * exec_spawn.c     the task's process: clone, prepare (session, binding,
 *                  cgroup, fds), exec
 * exec_cgroup.c    cgroup v2 memory limit where one is delegated to the worker
 * exec_proc.c      reading /proc (stat, status, smaps_rollup, environ)
 */
#ifndef CAIRN_WORKER_EXEC_PRIVATE_H
#define CAIRN_WORKER_EXEC_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "worker/exec.h"
#include "worker/identity.h"

/* How often the process trees are sampled: every EXEC_SAMPLE_MS while an
 * attempt's memory limit is enforced by sampling, else every EXEC_SCAN_MS
 * (usage for reports, processes that left the task's group); and how often
 * an ending attempt is polled until its last process is gone. A scan reads
 * every process of the machine, so it is not done more often than needed. */
#define EXEC_SAMPLE_MS 250
#define EXEC_SCAN_MS 2000
#define EXEC_DRAIN_POLL_MS 10
/* An attempt released from its gate is checked for its exec (started()
 * follows it) in every loop iteration, and after EXEC_GATE_POLL_MS at the
 * latest, doubling up to EXEC_GATE_POLL_MAX_MS while it waits for a CPU. */
#define EXEC_GATE_POLL_MS 2
#define EXEC_GATE_POLL_MAX_MS 64
/* An attempt whose processes will not die (uninterruptible sleep) is
 * reported after this long; its processes are then killed and reaped in
 * the background. */
#define EXEC_DRAIN_MAX_MS 5000
#define EXEC_DEFAULT_GRACE_MS 10000
/* After an attempt ends, its session and environment marker are looked
 * for this long by the periodic scans (processes that left the task's
 * process group before any scan saw them). */
#define EXEC_RECENT_MS 2500
#define EXEC_RECENT_MAX 64

/* ---- /proc ---------------------------------------------------------- */

typedef struct exec_proc {
    pid_t pid, ppid, pgid, sid;
    char state;         /* 'R', 'S', 'Z', ... */
    uint64_t start;     /* clock ticks after boot (stat field 22) */
    uint64_t ticks;     /* utime + stime + cutime + cstime */
    uint64_t rss_pages; /* resident pages */
} exec_proc_t;

/* Read /proc/<pid>/stat. -ENOENT when the process is gone. */
int exec_proc_read(pid_t pid, exec_proc_t *p);

/* Every process, ascending pids, in a new array the caller frees. */
int exec_proc_scan(exec_proc_t **procs, size_t *n);

/* The process with pid in a sorted scan, or NULL. */
exec_proc_t *exec_proc_find(exec_proc_t *procs, size_t n, pid_t pid);

/* VmHWM of a process in bytes, 0 when unknown. */
uint64_t exec_proc_hwm(pid_t pid);

/* Proportional set size of a process in bytes, 0 when unknown. */
uint64_t exec_proc_pss(pid_t pid);

/* The value of variable name in the environment the process started
 * with, copied into val; false when absent or unreadable. */
bool exec_proc_environ_get(pid_t pid, const char *name, char *val, size_t len);

/* This boot's id (/proc/sys/kernel/random/boot_id) into buf: 0 or -errno. */
int exec_boot_id(char *buf, size_t len);

/* CLOCK_BOOTTIME in clock ticks: the unit and clock of a process's start
 * time in /proc/PID/stat (the kernel takes it while forking); 0 when the
 * tick is not a whole number of nanoseconds. */
uint64_t exec_boot_ticks(void);

/* ---- environment and argv --------------------------------------------- */

typedef struct exec_strv {
    char **v; /* NULL-terminated */
    size_t n, cap;
} exec_strv_t;

void exec_strv_fini(exec_strv_t *s);

/* Whom the task runs as: the submitter when the worker is root (set);
 * else the worker's own account, whose home, name and shell tasks get. */
typedef struct run_as {
    bool set;
    uid_t uid;
    gid_t gid;
    gid_t groups[WORKER_IDENTITY_GROUPS_MAX];
    int ngroups;
    char home[PATH_MAX], name[256], shell[PATH_MAX];
} run_as_t;

/* What tasks get of the worker's environment env, once for all tasks:
 * PATH (a default when the worker has none) and LANG, the variables whose
 * names match one of the fnmatch() globs, never those the worker sets
 * itself (CAIRN_*, gang, GPU visibility); then HOME, USER, LOGNAME and
 * SHELL of self (the worker's account; from env where it has none). */
int exec_env_base(char *const *env, const char *const *globs, size_t nglobs, const run_as_t *self,
                  exec_strv_t *out);

/* The task's environment: base (exec_env_base), HOME, USER, LOGNAME and
 * SHELL of ra when it is set (the submitter), the spec's entries, then the
 * worker's own variables (CAIRN_*, gang, GPU visibility), which the spec
 * cannot override; OMP_NUM_THREADS only where the spec does not set it. */
int exec_env_build(const exec_spec_t *spec, char *const *base, const run_as_t *ra, exec_strv_t *out,
                   cairn_error_t *err);

/* Set CAIRN_CHECKPOINT_DIR=dir in e. 0 or -ENOMEM. */
int exec_env_checkpoint(exec_strv_t *e, const char *dir);

/* The task's argv (or /bin/sh -c script sh args... for shell tasks). */
int exec_task_argv(const exec_spec_t *spec, exec_strv_t *out);

/* Preparing a start (exec_prep.c): everything before the process is
 * created. Done when the attempt starts, or ahead of it
 * (worker_exec_prepare) so that the start only creates the process. */
/* The binding masks of a spec: a cpu_set_t and NUMA node masks. */
typedef struct binding {
    cpu_set_t *cpus;
    size_t cpus_size;
    unsigned long *nodes, *first;
    unsigned long maxnode;
} binding_t;

/* Fill p for spec s (valid). The attempt's fields are set first, so a
 * failure (said in err) still names the attempt; p must be finished with
 * exec_prep_fini() either way. */
int exec_prep_init(worker_exec_t *x, const exec_spec_t *s, exec_prepared_t *p, cairn_error_t *err);

void exec_prep_fini(exec_prepared_t *p);

/* Give back the logs of a preparation whose attempt never started (its
 * process, if any, is gone): closes the task's descriptors, then
 * exec_log_give(). */
void exec_prep_discard_logs(worker_exec_t *x, exec_prepared_t *p);

/* The worker's own account into ra (not set: its uid, gid, home, name and
 * shell; name "" when it has none). */
void exec_prep_self(run_as_t *ra);

/* Whom p's task runs as (exec_result_t.as). */
void exec_prep_identity(const exec_prepared_t *p, worker_identity_t *out);

/* ---- task logs (exec_logs.c) ------------------------------------------ */

typedef struct exec_logs exec_logs_t;

/* Whether a task name can be a log file's name: not empty, no '/', not
 * "." or "..", at most 255 bytes. */
bool exec_task_name_ok(const char *name);

/* Open the log pool (logs/.pool, made 0700 or checked: the worker's,
 * writable by no one else, -EPERM said in err) as x->logs, and settle what
 * a worker before this one left there: its tasks' logs get their names,
 * empty files no process holds are kept for later tasks. Call it once the
 * leftovers are killed. */
int exec_logs_open(worker_exec_t *x, cairn_error_t *err);

/* Close the pool (the files stay for the next worker). */
void exec_logs_close(worker_exec_t *x);

/* The attempt's stdout (stream 1) or stderr (stream 2) for its task to
 * write, O_APPEND: an empty file of the pool, 0600 and the task's user's
 * (ra, when set), taken in ra's name for that log (*no, 0 on failure).
 * The task's descriptor, or a negative code said in err. */
int exec_log_take(worker_exec_t *x, const exec_spec_t *s, const run_as_t *ra, int stream,
                  uint32_t *no, cairn_error_t *err);

/* Log no (exec_log_take) is done with: its attempt's processes are gone,
 * and the worker closed its descriptor. With output, or still held by a
 * process, it gets its name (STATE_DIR/logs/JOB/TASK.ATTEMPT.RANK.out|err,
 * logs/JOB made 0700 and the file's owner's; what was there is replaced,
 * never followed); empty, it goes back to the pool. 0 is a no-op. */
void exec_log_give(worker_exec_t *x, uint32_t no);

/* The last at most cap bytes of log no (taken, not given back yet) into
 * buf: their number, or a negative code. */
ssize_t exec_log_tail(worker_exec_t *x, uint32_t no, char *buf, size_t cap);

/* ---- the state directory (exec_files.c) -------------------------------- */

/* mkdir -p: 0 or -errno. */
int exec_mkdir_p(const char *path, mode_t mode);

/* Make the state directory (0700) or check the existing one, its logs/
 * (0700) and its leftovers file: the worker's user's, writable by no one
 * else (-EPERM, said in err). */
int exec_files_init(worker_exec_t *x, cairn_error_t *err);

/* ---- starting a process (exec_spawn.c) -------------------------------- */

/* What the child needs; err and msg are its answer. */
typedef struct exec_child {
    char *const *argv; /* argv[0] searched in the PATH of envp */
    char *const *envp;
    const char *cwd;
    const char *ckpt_dir; /* made (mkdir -p) after cwd, as the task's user; NULL: none */
    int fd_out, fd_err;
    const void *cpus; /* cpu_set_t of cpus_size bytes, or NULL: unbound */
    size_t cpus_size;
    const unsigned long *nodemask; /* NULL: no memory policy */
    unsigned long maxnode;         /* bits in nodemask and first_node */
    const unsigned long *first_node;
    const char *cgroup_procs; /* cgroup.procs to join, or NULL */
    int cgroup_fd;            /* that cgroup's directory, to be created in (clone3), or -1 */
    bool in_cgroup;           /* created in it (set by exec_spawn) */
    bool setid;               /* become uid/gid with groups before exec */
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t ngroups;
    pid_t ppid;
    int err;
    char msg[256];
    /* A gated child (exec_spawn_gated) prepares itself, then waits at the
     * gate until exec_spawn_release() (gate 1), or exits (gate 2); with
     * after_fd (a pidfd, else -1) until that process exits instead. Once
     * through, it sets started and start_ms (wall clock). */
    bool gated;
    int gate;
    int after_fd;
    int parked;  /* asleep at the pidfd gate (set by the child) */
    int bound;   /* bound while parked (set by the worker): it need not bind itself */
    int started; /* through its gate; ungated: about to exec */
    int64_t start_ms;
    int alive;   /* 1 until the child execs or exits (CLONE_CHILD_CLEARTID) */
    void *stack; /* a gated child's own stack */
} exec_child_t;

/* Whether this build can start gated children: their system calls must not
 * touch errno (the child runs beside the worker's thread on its memory and
 * thread pointer), which takes raw system calls (x86-64, arm64). */
#if defined(__x86_64__) || defined(__aarch64__)
#define EXEC_CAN_GATE 1
#else
#define EXEC_CAN_GATE 0
#endif

#define EXEC_STACK_POOL 8

typedef struct exec_spawner {
    void *stack;                 /* the vfork child's stack (!EXEC_CAN_GATE) */
    void *pool[EXEC_STACK_POOL]; /* stacks for children, unused */
    size_t npool;
    bool no_clone3; /* the kernel has no clone3 with CLONE_INTO_CGROUP */
} exec_spawner_t;

/* Whether a process made in the cgroup of dirfd with clone3
 * (CLONE_INTO_CGROUP) lives (exec_spawn.c): where it is killed at birth
 * (a kernel whose kill_seq check compares the creator's cgroup with the
 * new one), or where clone3 cannot, s->no_clone3 is set and children join
 * their cgroup instead. */
void exec_spawn_probe_cgroup(exec_spawner_t *s, int dirfd);

int exec_spawner_init(exec_spawner_t *s);
void exec_spawner_fini(exec_spawner_t *s);

/* Start c (c->gated: ready, waiting at its gate) without waiting for
 * it: 0 and *pid, or a negative errno with c->msg saying why (nothing
 * started). Its failure to exec (c->err, c->msg) shows once it has exited.
 * c and everything it points to stay in use until exec_spawn_settled(c).
 * Gated only where EXEC_CAN_GATE; elsewhere an ungated start waits for
 * the exec (vfork). */
int exec_spawn(exec_spawner_t *s, exec_child_t *c, pid_t *pid);

/* Bind gated child pid to its PUs and let it exec; -errno when the
 * binding failed (it runs unbound then). Its failure to exec (c->err,
 * c->msg) shows once it has exited. Not for a child with after_fd (it
 * binds itself when it wakes). */
int exec_spawn_release(exec_child_t *c, pid_t pid);

/* Whether a child no longer uses c and the worker's memory: it exec'd or
 * exited. */
bool exec_spawn_settled(const exec_child_t *c);

/* Kill a gated child that was not released and wait for it (it is asleep
 * at the gate or about to be: this takes microseconds). */
void exec_spawn_abort(exec_child_t *c, pid_t pid);

/* Give back a settled child's stack (s NULL: unmapped). */
void exec_spawn_stack_put(exec_spawner_t *s, exec_child_t *c);

typedef struct exec_cg exec_cg_t; /* a task cgroup (exec_cgroup.c) */

/* A start prepared (exec_prep.c), with its process ready ahead when gated
 * (exec_start.c, "gated starts"). */
struct exec_prepared {
    uint64_t attempt_id, job_id;
    uint32_t rank;
    char *task_name;
    int64_t time_limit_ms, grace_ms;
    uint64_t memory_limit;
    char cwd[PATH_MAX];
    char ckpt_dir[PATH_MAX];     /* CAIRN_CHECKPOINT_DIR, absolute; "": none */
    int ckpt_signal;             /* before the time limit; 0: SIGTERM */
    int64_t sbl_ms;              /* signal_before_limit_ms */
    char *retry_log;             /* exec_spec_t.retry_log, NULL: none */
    uint64_t gpu_mask;           /* the GPUs it holds (node-local indexes below 64) */
    char cgroup_procs[PATH_MAX]; /* the child's, when it joins a cgroup */
    int fd_out, fd_err;          /* the log files, or -1 */
    uint32_t log_no[2];          /* stdout's and stderr's (exec_log_take), or 0 */
    exec_strv_t argv, env;
    binding_t bind;
    run_as_t ra;
    /* Its process started ahead, gated (pid > 0): ready, waiting to exec.
     * Once released the attempt owns this (exec_attempt_t.launch) until
     * the child settled. */
    pid_t pid;
    uint64_t start;  /* the process's start time in ticks after boot */
    exec_cg_t *cg;   /* the cgroup it was made in, or NULL */
    bool self_start; /* it starts by itself when its predecessor's main exits */
    pid_t after_pid; /* that predecessor (an attempt's main or a parked start) */
    exec_child_t child;
};

/* Free a heap preparation with no process, or whose process settled
 * (exec_spawn_settled): its stack back to s. NULL is a no-op. */
void exec_prep_free(exec_spawner_t *s, exec_prepared_t *p);

/* ---- cgroup v2 (exec_cgroup.c) --------------------------------------- */

/* A task cgroup. */
struct exec_cg {
    char *path;
    int dirfd;    /* to create the task's process in it (clone3) */
    int eventsfd; /* cgroup.events, read again for "populated" */
    bool memory;  /* its own, with a memory limit: removed when its attempt ends */
    bool killed;  /* by cgroup.kill: not used again (exec_cgroup_signal) */
    bool empty;   /* seen empty since its attempt's process was made */
};

/* Empty task cgroups kept for later attempts. */
#define EXEC_CG_POOL 32

/* Find or make the cgroup under which memory-limited tasks go. dir NULL:
 * try /sys/fs/cgroup/cairn.tasks, *root = NULL when unusable; "": none;
 * else that directory, which must work. */
int exec_cgroup_setup(const char *dir, char **root, cairn_error_t *err);

/* Make the worker's own cgroup, name, under which its tasks' cgroups go:
 * under memory_root when there is one, else (dir NULL) under cairn.tasks
 * of a writable cgroup v2 hierarchy; *worker_cg NULL where there is none
 * (dir "": none wanted). Fails only for a memory root that does not
 * take it. */
int exec_cgroup_worker_setup(const char *dir, const char *memory_root, const char *name,
                             char **worker_cg, cairn_error_t *err);

/* Remove the worker's cgroup and the task cgroups in it (empty ones). */
void exec_cgroup_worker_remove(const char *worker_cg);

/* A task cgroup without a memory limit: from the pool, else made; NULL
 * without a worker cgroup (or when it cannot be made). */
exec_cg_t *exec_cgroup_take(worker_exec_t *x);

/* A task cgroup of its own named name with memory.max = limit. */
int exec_cgroup_memory(worker_exec_t *x, const char *name, uint64_t limit, exec_cg_t **out,
                       cairn_error_t *err);

/* An attempt is done with cg: back to the pool when empty and pooled,
 * else removed (what still lingers in it is killed first). x NULL: no
 * pool. NULL is a no-op. */
void exec_cgroup_give(worker_exec_t *x, exec_cg_t *cg);

/* Close and free cg (the directory stays). */
void exec_cgroup_free(exec_cg_t *cg);

/* Whether a process is in cg (zombies are not). */
bool exec_cgroup_populated(exec_cg_t *cg);

/* The pids in the cgroup at path, in a new array the caller frees. */
int exec_cgroup_pids(const char *path, pid_t **pids, size_t *n);

/* Send sig to every process in cg. */
void exec_cgroup_signal(exec_cg_t *cg, int sig);

/* Whether the kernel OOM-killed a process of the cgroup. */
bool exec_cgroup_oom_killed(const char *path);

/* Peak memory of the cgroup (memory.peak), 0 when unknown. */
uint64_t exec_cgroup_peak(const char *path);

/* SIGKILL everything in the cgroup and below (cgroup.kill). */
void exec_cgroup_kill(const char *path);

/* Remove an empty cgroup: 0, or -EBUSY while processes remain. */
int exec_cgroup_remove(const char *path);

/* ---- attempts (exec_attempt.c) ---------------------------------------- */

/* The phases of an attempt (exec_end.c). */
enum exec_phase {
    EXEC_RUNNING,     /* main process alive */
    EXEC_TERMINATING, /* SIGTERM sent, SIGKILL when the grace ends */
    EXEC_DRAINING,    /* main process gone: ending the rest of the tree */
    EXEC_DONE,        /* reported; handles closing */
};

/* A process known to belong to an attempt. */
typedef struct exec_member {
    pid_t pid, ppid, pgid;
    uint64_t start;
    uint64_t ticks; /* last sample */
    bool seen;      /* in the current scan */
} exec_member_t;

typedef struct exec_attempt {
    worker_exec_t *x; /* NULL once reported */
    uint64_t id, job_id;
    uint32_t rank;
    char *task_name;
    exec_cg_t *cg;  /* its cgroup (who is in it is the task), or NULL (exec_track.c) */
    pid_t pid;      /* main process = process group = session */
    uint64_t start; /* its start time in ticks after boot */
    enum exec_phase phase;
    uv_timer_t timer; /* time limit, grace, drain polls */
    int open_handles; /* freed when the last one closes */
    bool reaped;      /* the main process was waited for */
    bool started_reported;
    int64_t time_limit_ms, grace_ms;
    int ckpt_signal; /* sent sbl_ms before the time limit (0: SIGTERM) */
    int64_t sbl_ms;
    char *retry_log;   /* matched against stderr's tail when it fails, or NULL */
    uint64_t gpu_mask; /* the GPUs it holds (worker_exec_gpu_failed) */
    uint64_t memory_limit;
    uint64_t drain_until; /* uv_now() deadline while draining */
    exec_member_t *members;
    size_t nmembers, capmembers;
    uint64_t dead_usec; /* CPU of processes no live member accounts for */
    uint64_t cpu_usec;  /* last sample of the tree's CPU, never decreasing */
    uint64_t rss_bytes; /* last sample */
    exec_result_t res;
    exec_prepared_t *launch; /* its start: kept until the child settled (exec'd or exited) */
    uint32_t log_no[2];      /* its logs, from its preparation (exec_log_take) */
    uint64_t start_deadline; /* uv_now() by which the child must have exec'd */
} exec_attempt_t;

/* An attempt reported lately, whose escaped processes scans still kill. */
typedef struct exec_recent {
    uint64_t id;
    pid_t pid;         /* its main process = session = process group */
    uint64_t until_ms; /* uv_now() */
} exec_recent_t;

/* A process left behind by an attempt already reported (killed again at
 * every scan until it is gone; reaped like any zombie child). */
typedef struct exec_linger {
    pid_t pid;
    uint64_t start;
} exec_linger_t;

struct worker_exec {
    uv_loop_t *loop;
    exec_callbacks_t cb;
    char *state_dir, *default_workdir, *running_path;
    char *cgroup_root; /* NULL: memory limits by sampling */
    char *worker_cg;   /* the worker's own cgroup, or NULL: no task cgroups */
    exec_cg_t *cg_pool[EXEC_CG_POOL];
    size_t ncg_pool;
    unsigned cg_seq;
    char *marker; /* CAIRN_ATTEMPT_ID in the worker's own environment, or NULL */
    pid_t self;
    long clk_tck;
    long page_size;
    exec_attempt_t **att; /* ascending ids */
    size_t natt, capatt;
    exec_linger_t *linger;
    size_t nlinger, caplinger;
    exec_recent_t recent[EXEC_RECENT_MAX]; /* oldest first */
    size_t nrecent;
    uv_timer_t sampler;
    uv_signal_t sigchld;
    uv_timer_t notify;          /* started() of new attempts, from the next iteration */
    uv_prepare_t flush;         /* gated starts: reaped, bound, reported (exec_start.c) */
    uv_prepare_t running_flush; /* the leftovers file (exec_leftovers.c) */
    int open_handles;
    bool sampler_active;
    uint64_t last_scan; /* uv_now() of the last periodic scan */
    bool allow_root_tasks;
    exec_strv_t env_base;          /* what tasks get of the worker's environment */
    exec_logs_t *logs;             /* exec_logs.c */
    cairn_log_t *log;              /* exec_config_t.log: may be NULL */
    run_as_t self_ra;              /* the worker's own account */
    struct exec_user_cache *users; /* exec_prep.c */
    unsigned next_user;
    bool running_dirty;
    int running_fd;         /* the leftovers file, for appends; -1 if none */
    unsigned running_stale; /* lines of ended attempts in it */
    exec_spawner_t spawner;
    exec_prepared_t **gated; /* prepared ahead with a waiting process */
    size_t ngated, capgated;
    bool gate_waiting; /* released, not yet seen to exec: checked every iteration */
    bool reap_check;   /* a started gated process may have died unseen: wait4 them */
    bool bind_parked;  /* self-starting parked processes wait to be bound */
    uint64_t gate_poll_ms;
    uint64_t start_timeout_ms; /* exec_config_t.start_timeout_ms */
    pid_t guard_pid;           /* exec_guard.c; 0: none */
    int guard_fd;              /* the write end of its pipe, or -1 */
};

/* The attempt with this id, or NULL. */
exec_attempt_t *exec_find(const worker_exec_t *x, uint64_t id);

/* A new attempt for p in the table (its ids, limits and identity; no
 * process yet): 0 and *out, or -EEXIST (already there) or -ENOMEM, said
 * in err. */
int exec_attempt_add(worker_exec_t *x, const exec_prepared_t *p, exec_attempt_t **out,
                     cairn_error_t *err);

/* Take a out of the table; it lives until exec_attempt_destroy(). */
void exec_attempt_remove(worker_exec_t *x, exec_attempt_t *a);

/* Close the attempt's handles; it is freed when the last one has closed,
 * with its start (once settled) and its cgroup. */
void exec_attempt_destroy(exec_attempt_t *a);

/* Free what a start used (p, a heap preparation; NULL: nothing) once its
 * child no longer reads it (it exec'd or exited); never before (leaked
 * then: only when the worker gives up on a child that would not die). */
void exec_launch_free(exec_spawner_t *s, exec_prepared_t *p);

/* ---- starting (exec_start.c) ------------------------------------------ */

/* End the processes of the starts prepared ahead (the preparations stay
 * their owners' to free): the executor is destroyed. */
void exec_gates_abort(worker_exec_t *x);

/* ---- a started attempt until its end (exec_end.c) -------------------- */

/* An attempt's process runs: its time limit, its line in the leftovers
 * file (unless it is there already: recorded), the sampler. */
void exec_attempt_running(worker_exec_t *x, exec_attempt_t *a, bool recorded);

/* The attempt's main process is gone (or never came): end the rest of its
 * tree; it is reported once nothing is left, from a later callback. */
void exec_attempt_drain(worker_exec_t *x, exec_attempt_t *a);

/* Reap the attempts' main processes that exited; an attempt whose tree is
 * gone is reported (exited()), else drained. */
void exec_reap_mains(worker_exec_t *x);

/* started() of a, once; never for a start that failed. */
void exec_report_started(worker_exec_t *x, exec_attempt_t *a);

/* a's child settled (it exec'd or exited): what its start used goes. */
void exec_launch_done(worker_exec_t *x, exec_attempt_t *a);

/* ---- processes and usage (exec_track.c) ------------------------------- */

/* Send sig to the attempt's process group, session and every known member
 * (and its cgroup for SIGKILL). */
void exec_signal_tree(worker_exec_t *x, exec_attempt_t *a, int sig);

/* Scan /proc once: refresh every attempt's members, usage and limits (a
 * tree over its memory limit is killed), reap orphans, rewrite the
 * leftovers file if the set changed. */
void exec_track_scan(worker_exec_t *x);

/* Whether the attempt has no process left (after a scan). */
bool exec_track_empty(const exec_attempt_t *a);

/* Hand an attempt's remaining members to the background reaper. */
void exec_track_linger(worker_exec_t *x, exec_attempt_t *a);

/* The main process was reaped: its exact CPU time (with the descendants
 * it waited for) and peak RSS replace its samples. */
void exec_track_main_reaped(worker_exec_t *x, exec_attempt_t *a, uint64_t cpu_usec,
                            uint64_t maxrss);

/* Remember a reported attempt for EXEC_RECENT_MS (see exec_track.c);
 * expire returns how many are still remembered. */
void exec_track_recent_add(worker_exec_t *x, const exec_attempt_t *a);
size_t exec_track_recent_expire(worker_exec_t *x);

/* The CPU time of an attempt's tree so far, in microseconds (as of the
 * last scan). */
uint64_t exec_track_cpu_usec(const exec_attempt_t *a);

/* Start the sampler (the periodic scans), or bring it forward when it is
 * due sooner now. */
void exec_sampler_ensure(worker_exec_t *x);

/* ---- the leftovers file (exec_leftovers.c) ---------------------------- */

/* Lines of ended attempts the leftovers file holds before a rewrite. */
#define EXEC_RUNNING_STALE_MAX 256

/* The leftovers file changed: written before the loop next blocks. */
void exec_running_changed(worker_exec_t *x);

/* Append a started attempt's line to state_dir/running. */
int exec_running_append(worker_exec_t *x, const exec_attempt_t *a);

/* Write state_dir/running from the attempts (atomic rename). */
int exec_running_write(worker_exec_t *x);

/* A process prepared ahead (gated) is made: append its line, so that it
 * dies with the worker even if it starts by itself before its attempt. */
int exec_running_append_gated(worker_exec_t *x, const exec_prepared_t *p);

/* SIGKILL what the leftovers file at path records, if this boot wrote it:
 * the processes, their sessions, groups and descendants, their cgroups,
 * and orphans carrying a recorded CAIRN_ATTEMPT_ID (but own_marker, NULL:
 * none); again every 10 ms until none is left, at most wait_ms. Returns
 * how many it found alive. For a restarted worker and the guard. */
size_t exec_leftovers_end(const char *path, const char *own_marker, uint64_t wait_ms);

/* Kill what a previous worker recorded in state_dir/running. */
void exec_leftovers_kill(worker_exec_t *x);

/* ---- the guard (exec_guard.c) ------------------------------------------ */

/* How long the guard keeps killing a dead worker's leftovers. */
#define EXEC_GUARD_KILL_MS 10000

/* Fork the guard, a process that outlives the worker to end its tasks
 * when the worker dies; x->guard_pid and x->guard_fd. 0 or -errno (err). */
int exec_guard_start(worker_exec_t *x, cairn_error_t *err);

/* The worker stops cleanly: the guard exits without killing anything
 * (waited for, at most ~1 s). */
void exec_guard_stop(worker_exec_t *x);

/* Reap the guard if it died, and start another. */
void exec_guard_check(worker_exec_t *x);

#endif
