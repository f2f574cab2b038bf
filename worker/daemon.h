/* The worker daemon: discovers the node, runs the tasks the scheduler
 * assigns and reports on them (proto/PROTOCOL.md, worker side).
 *
 * One worker_daemon_t lives on one libuv loop and owns every subsystem:
 * the node's resources, the executor (exec.h), the link to the scheduler
 * (link.h), resource reports (report.h) and the attempts it knows. Tests
 * drive it in-process on their own loop; cairn-worker's main() runs it
 * until SIGTERM / SIGINT.
 */
#ifndef CAIRN_WORKER_DAEMON_H
#define CAIRN_WORKER_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/error.h"
#include "common/log.h"
#include "worker/link.h"

typedef struct worker_daemon worker_daemon_t;

#define WORKER_REPORT_HOLD_MS 10

typedef struct worker_daemon_config {
    /* The scheduler's worker endpoint, or a comma-separated list of a
     * leader's and its standbys' (worker_link_config_t.url); NULL: $CAIRN_WORKER_SCHEDULER, else
     * ipc://$XDG_STATE_HOME/cairn/workers.sock (worker_daemon_default_url). */
    const char *scheduler_url;
    /* Logs and leftovers; NULL: $XDG_STATE_HOME/cairn/worker-<node name>. */
    const char *state_dir;
    const char *node_name; /* NULL: the topology's host name, else gethostname() */
    const char *topology;  /* hwloc XML file; NULL: this machine */
    size_t nlabels;
    const char *const *labels;           /* "KEY=VALUE" node labels */
    const char *cgroup_dir;              /* see exec_config_t.cgroup_dir */
    const char *nvml_lib;                /* NULL: libnvidia-ml.so.1; "": no GPU usage */
    const char *health_cmd;              /* --health-check (health_check.h); NULL: none */
    int64_t health_interval_ms;          /* 0: 5 minutes */
    uint32_t report_every;               /* heartbeats per resource report; 0: 3 */
    uint32_t retry_min_ms, retry_max_ms; /* registration backoff (link.h); 0: defaults */
    /* While the tasks queued here keep its slots busy, task starts and
     * successful ends wait up to this long to reach the scheduler together
     * (worker_link_hold); 0: WORKER_REPORT_HOLD_MS, UINT32_MAX: never. */
    uint32_t report_hold_ms;
    cairn_log_t *log;              /* where the daemon logs; NULL: nowhere. Stays the caller's */
    bool handle_signals;           /* SIGTERM and SIGINT stop the daemon */
    const char *join_key_file;     /* the cluster's join secret (proto/join.h); NULL: none */
    const char *tls_cert, *tls_ca; /* for a tls+tcp:// scheduler (worker_link_config_t) */
    bool insecure;                 /* --insecure: a standby may name a plain tcp:// leader */
    bool allow_root_tasks;         /* as root, run tasks submitted by root as root (exec.h) */
    /* Of the worker's environment, tasks get PATH, LANG and the variables
     * whose names match one of these fnmatch() globs (exec_config_t). */
    const char *const *pass_env;
    size_t npass_env;
    /* Hashing an attempt's outputs (outputs.h) reads at most this many
     * bytes (0: WORKER_HASH_MAX_BYTES; UINT64_MAX: no limit) and takes at
     * most this long (0: WORKER_HASH_TIMEOUT_MS; UINT64_MAX: no limit). */
    uint64_t hash_max_bytes;
    uint64_t hash_timeout_ms;
    uint64_t start_timeout_ms; /* a task's process must exec within this; 0: exec.h's default */
} worker_daemon_config_t;

/* Discover the node, create the executor (which kills leftovers of a
 * previous worker that died) and start dialing the scheduler. Returns 0
 * and sets *out; on failure (discovery, labels, state directory,
 * URL) a negative code with err saying why, and nothing is left running
 * (run the loop once to close what was opened). */
int worker_daemon_create(uv_loop_t *loop, const worker_daemon_config_t *cfg, worker_daemon_t **out,
                         cairn_error_t *err);

/* Stop: SIGKILL every task without reporting it, close the link, the
 * executor and every handle. After it the loop runs dry (uv_run returns)
 * once the handles are closed. The daemon stops itself this way on SIGTERM
 * or SIGINT when cfg->handle_signals. Idempotent. */
void worker_daemon_stop(worker_daemon_t *d);

/* Whether the daemon has stopped (worker_daemon_stop(), or a signal). */
bool worker_daemon_stopped(const worker_daemon_t *d);

/* Stop if not stopped yet and free the daemon; its last memory goes when
 * the loop has closed its handles. NULL is a no-op. */
void worker_daemon_destroy(worker_daemon_t *d);

/* Whether the scheduler has accepted this worker on the current connection. */
bool worker_daemon_registered(const worker_daemon_t *d);

/* Task events not acknowledged by the scheduler yet. */
size_t worker_daemon_pending_events(const worker_daemon_t *d);

/* The default scheduler URL into buf (see scheduler_url above).
 * Returns 0, or -ENAMETOOLONG, -ENOENT (no HOME for the default). */
int worker_daemon_default_url(char *buf, size_t len);

#endif
