/* cairn-scheduler's daemon: the core, its journal, the worker and client
 * endpoints, and the loop that ties them together.
 *
 * Loop phases and threading (one loop thread owns all state):
 *  - poll phase: messages from workers and clients arrive through cairn_net
 *    (nng's receive fd watched by uv_poll). Handlers validate at the edge,
 *    apply core events and append them to the journal's open transaction;
 *    replies that acknowledge something are queued, not sent.
 *  - timers: heartbeat checks (nodes gone silent go down), retry wake-ups,
 *    log-request deadlines. They may apply events too.
 *  - check phase, once per iteration: one placement pass over everything
 *    that arrived, its placements journaled; then one commit; only then are
 *    queued replies, acks, assignments and cancels sent. An idle handle is
 *    active while work is pending so the poll phase does not block first.
 *  - nng's own threads touch nothing but cairn_net's locked pipe-event queue.
 */
#ifndef CAIRN_SCHEDULER_DAEMON_H
#define CAIRN_SCHEDULER_DAEMON_H

#include <stdint.h>
#include <uv.h>

#include "common/log.h"
#include "scheduler/jobspec.h"

typedef struct sched_daemon sched_daemon_t;

typedef struct sched_daemon_config {
    const char *state_dir; /* journal.db lives here */
    /* the state database (sdb.h): sqlite:PATH or postgresql://...; NULL:
     * sqlite:<state_dir>/journal.db */
    const char *store;
    /* PostgreSQL: leadership (lead.h). The lease a leader holds and renews,
     * and this instance's name among the schedulers (NULL: host:pid). */
    int64_t lease_ms;
    const char *name;
    /* the command line, to start again as a standby after stepping down
     * (NULL: exit with 75 instead) */
    char *const *argv;
    const char *worker_url;        /* NULL: ipc://<state_dir>/workers.sock */
    const char *client_url;        /* NULL: ipc://<state_dir>/clients.sock */
    const char *http_addr;         /* metrics and status over HTTP; NULL: off */
    int64_t heartbeat_interval_ms; /* told to workers */
    int64_t heartbeat_timeout_ms;  /* silence after which a node is down */
    /* heartbeats per second all connected nodes together may send: past
     * it the interval told to workers grows (and each node's silence limit
     * with it), as the scheduler's idle cost is per message; 0 = fixed */
    uint32_t heartbeat_rate;
    int64_t restart_grace_ms;    /* after a restart, time for nodes to return */
    int64_t register_timeout_ms; /* a worker connection not registered by then closes */
    int64_t kill_grace_ms;       /* SIGTERM to SIGKILL for cancels and limits */
    int64_t log_timeout_ms;      /* a node's answer to a log read */
    size_t max_msg;              /* inbound message limit */
    uint32_t max_reservations;
    bool no_prefetch;              /* never queue tasks behind running ones (see sched_config_t) */
    const char *join_key_file;     /* workers must prove they hold this key (proto/join.h) */
    const char *tls_cert, *tls_ca; /* for tls+tcp:// endpoints (proto/net.h cairn_tls_t) */
/* otherwise: tasks queued per running attempt; up to PREFETCH_MAX for
 * tasks that run short, to fill PREFETCH_WINDOW_MS (sched_config_t) */
#define SCHED_DAEMON_PREFETCH SCHED_PREFETCH_LINE /* the core's: what-ifs model the same */
#define SCHED_DAEMON_PREFETCH_MAX SCHED_PREFETCH_LINE_MAX
#define SCHED_DAEMON_PREFETCH_WINDOW_MS SCHED_PREFETCH_WINDOW_MS
    uint32_t max_jobs_listed;
    jobspec_limits_t limits;
    const char *admins;         /* users and @groups allowed to act on every job; NULL: none */
    int allow_anonymous_writes; /* anonymous (tcp://) clients may submit and cancel */
    /* a worker with a verified certificate may take any node name, not only
     * its certificate's CN or DNS names (the name is bound to the CN) */
    int allow_any_node_name;
    const char *secret_pattern; /* env names whose values provenance masks (provenance.h) */
    int64_t sample_interval_ms; /* census of waiting demand and idle GPUs (usage.h) */
    int64_t usage_retention_ms; /* usage samples older than this are dropped */
    /* a snapshot of the core (snapshots.h) every this many journal entries
     * (0: not by count), or this long after the last (0: not by time) */
    uint64_t snapshot_every;
    int64_t snapshot_interval_ms;
    /* an ended job leaves the core this long after its last task ended
     * (0: at once), answered from history after that (retain.c) */
    int64_t keep_finished_ms;
    int64_t history_retention_ms; /* history rows that ended longer ago are dropped */
    /* fair share (sched_config_t): a GPU-second counts this many core-
     * seconds; usage halves every fs_half_life_ms. Part of the core's
     * configuration: a replay places identically only with the same. */
    uint32_t fs_gpu_weight;
    int64_t fs_half_life_ms;
    /* preemption (sched_config_t): for fair share too, not only for
     * priority; how often one task may be a victim (0: the core's
     * default). Part of the core's configuration like the above. */
    bool preempt_for_fair_share;
    bool gpu_error_drains_node; /* a sick GPU drains its node too (workers.c) */
    uint32_t max_preemptions_per_task;
    /* network topology (sched_config_t .topology_levels): the levels,
     * tightest first ("rack,block"; NULL: none). Part of the core's
     * configuration like the above; limits.topology_levels has the same,
     * so a submit naming another level is refused at the edge. */
    const char *topology_levels;
} sched_daemon_config_t;

/* Defaults of --snapshot-every and --snapshot-interval. */
#define SCHED_SNAPSHOT_EVERY_DEFAULT 50000
#define SCHED_SNAPSHOT_INTERVAL_DEFAULT_MS (10 * 60 * 1000)

/* The core's settings for a daemon configured so (the journal verifier
 * uses the same to re-derive placements). c NULL: the defaults. */
sched_config_t sched_daemon_core_config(const sched_daemon_config_t *c);

/* Defaults for every field but state_dir. */
void sched_daemon_config_init(sched_daemon_config_t *cfg);

/* Load the journal, open the endpoints, and start serving on loop. */
int sched_daemon_create(uv_loop_t *loop, const sched_daemon_config_t *cfg, cairn_log_t *log,
                        sched_daemon_t **out, cairn_error_t *err);

/* Stop serving and close every handle (the loop then runs until they are
 * closed); pending work that is not durable is dropped, not acknowledged. */
void sched_daemon_destroy(sched_daemon_t *d);

#endif
