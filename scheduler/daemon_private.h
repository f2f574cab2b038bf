/* The scheduler daemon's context, shared by its files: pointers to its
 * subsystems (the node table, the waits, the outbox, the stores), the
 * loop's own state, and the batch through which every change goes.
 *
 * Who calls whom (no file calls back up this list):
 *   daemon.c      the loop: one pass, one commit, then the sends
 *   workers*.c    messages from workers      clients*.c  requests from clients
 *   dispatch.c    assignments, cancels and log reads to workers
 *   records.c     ended attempts' accounting records    view.c  states as shown
 *   batch.c       apply, journal and audit a change in the open batch
 *   nodes.c, waits.c, outbox.c, stores.c, access.c: subsystems, no daemon. */
#ifndef CAIRN_SCHEDULER_DAEMON_PRIVATE_H
#define CAIRN_SCHEDULER_DAEMON_PRIVATE_H

#include <stdbool.h>

#include "proto/join.h"
#include "proto/net.h"
#include "scheduler/daemon.h"
#include "scheduler/metrics.h"
#include "scheduler/nodes.h"
#include "scheduler/outbox.h"
#include "scheduler/reader.h"
#include "scheduler/retain.h"
#include "scheduler/stores.h"
#include "scheduler/waits.h"
#include "scheduler/watchdog.h"

/* An endpoint: its address, socket, bridge to the loop, and the probe
 * that reopens it when it wedges (watchdog.h). */
typedef struct endpoint {
    char *url;
    nng_socket sock;
    cairn_net_t *net;
    watchdog_t *watch;
} endpoint_t;

/* Counters and latencies for /metrics and /status (status.c). */
typedef struct daemon_stats {
    uint64_t placements, submits, events_applied, bad_messages;
    uint64_t retries[8]; /* by sched_end_t of the attempt that ended */
    histogram_t pass_latency, start_latency;
} daemon_stats_t;

/* The open batch: events applied (and journaled) since the last commit.
 * Only entries nothing waits for (attempt starts, ends taken over by a
 * queued attempt, queued placements) may wait for a later commit, up to
 * COMMIT_DELAY_MS; their messages wait with them (a worker resends
 * unacknowledged events after a scheduler restart, so nothing is lost). */
typedef struct batch {
    bool dirty;    /* a pass may place something */
    bool busy;     /* the idle handle runs: the loop polls without blocking */
    bool urgent;   /* something waits for this batch's commit */
    bool failed;   /* a write of the batch failed: it is rolled back */
    bool degraded; /* storage failed: submissions refused until a write works */
    char degraded_why[512];
    /* The core's clock (batch_apply, batch_pass_time): the least time the
     * next event may carry, and the monotonic ms of the last pass that
     * placed something (no other pass runs in the same ms). */
    int64_t floor_ms;
    int64_t placed_mono_ms;
} batch_t;
#define COMMIT_DELAY_MS 2

/* The loop's own handles and ticks (daemon.c). */
typedef struct daemon_loop {
    uv_check_t check; /* after each poll: the pass, the commit, the sends */
    uv_idle_t idle;   /* runs while work waits */
    uv_timer_t heartbeat, wake, commit, census, metrics, watch, retain, pass;
    int open; /* handles not closed yet */
    uint64_t census_ticks;
    uint64_t last_tick_ms; /* the heartbeat timer's last run (loop time) */
} daemon_loop_t;

/* At start, how long a PostgreSQL store may be unreachable (restarting,
 * failing over) before the scheduler gives up. */
#define STORE_WAIT_MS 60000

struct sched_daemon {
    uv_loop_t *loop;
    sched_daemon_config_t cfg;
    cairn_log_t *log;
    char *state_dir, *journal_path;
    sched_t *core;
    stores_t *st;
    reader_t *reader; /* heavy reads off the loop (reader.h) */
    /* daemon.c's steps of a start, which a standby taking over repeats
     * (daemon_lead.c): replay one committed entry into the core, reload
     * what is kept beside the journal, mark the nodes returning, audit a
     * changed configuration */
    struct daemon_restart {
        int (*replay)(uint64_t seq, const uint8_t *buf, size_t len, void *arg);
        int (*load_beside)(struct sched_daemon *d, cairn_error_t *err);
        void (*mark_returning)(struct sched_daemon *d);
        int (*audit_config)(struct sched_daemon *d, cairn_error_t *err);
    } restart;
    /* PostgreSQL: leading or standing by (lead.h); NULL on SQLite */
    struct lead *lead;
    char lead_holder[256];
    char *store_shown; /* the store's URL without a password, for logs */
    endpoint_t workers, clients;
    /* tls+tcp:// clients: signed requests checked against --tls-ca (sign.h) */
    struct cairn_verifier *verifier;
    cairn_join_key_t *join_key; /* NULL: workers join without a key */
    nodes_t *nodes;
    outbox_t *out;
    waits_t *waits;
    batch_t batch;
    daemon_loop_t h;
    daemon_stats_t stats;
    struct web *web;       /* --http (web.h) */
    char web_inproc[96];   /* the client socket's endpoint for it */
    int64_t started_ms;    /* listening time */
    retain_state_t retain; /* ended jobs leave the core (retain.h) */
    /* the newest snapshot (snapshots.h): the entry it covers, when it was
     * taken, its size and what writing it cost the loop */
    struct {
        uint64_t seq, taken;
        int64_t at_ms;
        size_t bytes;
        double save_ms;
        uint32_t deferred; /* commits in a row it waited for (snapshot_maybe) */
    } snap;
};

/* batch.c */
/* Apply a core event and journal it in the open batch (js and seed for a
 * submit): 0, or the core's refusal (err says why; nothing changed). A
 * failed journal write fails the batch (batch_fail). */
int batch_apply(sched_daemon_t *d, const sched_event_t *ev, const Cairn__JobSpec *js, uint64_t seed,
                cairn_error_t *err);
/* An audit entry (audit.h) in the open batch, by user. */
void batch_audit(sched_daemon_t *d, const char *user, const char *action, const char *target,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* A write of the batch failed (what: the message): it is rolled back at
 * the commit, and submissions are refused until a write works. */
void batch_fail(sched_daemon_t *d, const char *what);
/* Something changed that a pass may place on: run one. */
void batch_touch(sched_daemon_t *d);
/* The core's clock. The core sees time move forward only, and each pass
 * that placed something alone at its time: batch_apply applies an event
 * at its own time or the latest one the core saw, whichever is later (a
 * worker's end stamped before a pass that ran meanwhile, as the report
 * came after it, is applied later than that pass), and no pass runs in
 * the millisecond of one that placed. So the journal's events ordered by
 * their times, those at a pass's time before it, come in the order they
 * were applied: a replay of the recorded attempts, which knows their times
 * only (cairn plan, scheduling/sim.h), places as the scheduler did.
 *
 * The time of the next pass: false while one that placed ran in this
 * millisecond (run it in the next). */
bool batch_pass_time(sched_daemon_t *d, int64_t *now_ms);
/* A pass at now_ms placed that many attempts. */
void batch_passed(sched_daemon_t *d, int64_t now_ms, int placed);
/* The core saw time t_ms (an event replayed from the journal). */
void batch_clock_seen(sched_daemon_t *d, int64_t t_ms);

/* workers.c: the worker endpoint's callbacks (cairn_net_callbacks_t) */
void workers_recv(cairn_net_t *n, const cairn_peer_t *from, cairn_msg_type_t type,
                  ProtobufCMessage *msg, void *arg);
void workers_pipe(cairn_net_t *n, nng_pipe p, bool added, void *arg);
void workers_bad(cairn_net_t *n, const cairn_peer_t *from, int code, const char *why, void *arg);
/* Nodes silent past the timeout (or not back within the grace period
 * after a restart) go down; their running attempts become node-lost. */
void workers_check_silence(sched_daemon_t *d);

/* workers_events.c: a TaskEvent from the registered node */
void workers_task_event(sched_daemon_t *d, const cairn_peer_t *from, uint32_t node,
                        const Cairn__TaskEvent *te);

/* dispatch.c */
/* Send attempt's AssignTask to node (UINT32_MAX: to each of its nodes). */
void dispatch_assign(sched_daemon_t *d, uint64_t attempt, uint32_t node);
/* Send attempt's CancelTask to each of its connected nodes; a preempted
 * attempt's says PREEMPTED, with its checkpoint signal and grace. */
void dispatch_cancel(sched_daemon_t *d, uint64_t attempt);
/* A task's checkpoint settings: signal (0: SIGTERM), signal_before_limit
 * and directory (its spec's, or checkpoint.h's default; "" for a task that
 * is not preemptible and has neither `checkpoint:` nor
 * signal_before_limit: it gets no checkpoint directory) */
typedef struct dispatch_ckpt {
    int signal;
    uint64_t before_limit_ms;
    char dir[JOBSPEC_MAX_CKPT_DIR + 1];
} dispatch_ckpt_t;
void dispatch_ckpt(sched_daemon_t *d, uint32_t job, uint32_t task, dispatch_ckpt_t *out);
/* Tell the worker at `to` to stop an attempt the core has ended (it
 * reported a start the core did not expect: one queued behind a preempted
 * attempt, which the core ended at once). */
void dispatch_cancel_stale(sched_daemon_t *d, const cairn_peer_t *to, uint64_t attempt);
/* A pass preempted attempts (SCHED_EV_PREEMPT, applied): record who and
 * why for each victim (provenance.h) and, after the commit, stop them. */
void dispatch_preempt(sched_daemon_t *d, const sched_event_t *ev);
/* Ask the node of attempt's replica rank for a piece of its log, for
 * client: 0 (asked, or the client told why not), or -ENOENT (no such
 * replica). */
int dispatch_read_log(sched_daemon_t *d, uint64_t attempt, uint32_t rank, int stream,
                      uint64_t offset, uint32_t max, const cairn_peer_t *client);
/* Where a log is: an attempt's replica rank, on node, of job's task
 * (the worker finds logs of an earlier run of itself by these). */
typedef struct log_source {
    uint64_t attempt;
    uint32_t rank, node, job;
    const char *task;
} log_source_t;
/* Ask src's node for a piece of its log (dispatch_read_log without the
 * core: a retired job's attempt): 0, or -ENOMEM. */
int dispatch_read_log_at(sched_daemon_t *d, const log_source_t *src, int stream, uint64_t offset,
                         uint32_t max, const cairn_peer_t *client);
/* A LogChunk: the answer to the waiting ReadLog it names, if it comes
 * from the connection that was asked, for the attempt that was asked. */
void dispatch_log_chunk(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__LogChunk *c);
/* Answer the log reads past their deadline. */
void dispatch_expire_waits(sched_daemon_t *d);
/* The node (record l) lost its connection: unbind it and answer the log
 * reads waiting on it. */
void dispatch_unbind(sched_daemon_t *d, node_link_t *l, const char *why);

/* clients.c: the client endpoint's callbacks and listener */
void clients_recv(cairn_net_t *n, const cairn_peer_t *from, cairn_msg_type_t type,
                  ProtobufCMessage *msg, void *arg);
void clients_bad(cairn_net_t *n, const cairn_peer_t *from, int code, const char *why, void *arg);
/* Listen for clients on url. An ipc:// socket is made connectable by
 * every local user (0666): who may reach it is up to the permissions of
 * the directory it lives in, and what each user may do is decided per
 * request from the peer's uid. */
int clients_listen(nng_socket s, const char *url, const cairn_tls_t *tls, cairn_error_t *err);
/* clients_status.c: job waits (waits.h) are told and answered here */
bool clients_job_done(void *arg, uint32_t job);
void clients_answer_wait(void *arg, const job_wait_t *w);

/* records.c */
/* Each replica's accounting record of attempt id (times up to now for a
 * running one), handed to fn. */
typedef void (*records_f)(sched_daemon_t *d, const Cairn__AccountingRecord *m, void *arg);
void records_of_attempt(sched_daemon_t *d, uint64_t id, int64_t now, records_f fn, void *arg);
/* Before each commit: a history record for each attempt ended since the
 * last (in the open batch). */
void records_flush(sched_daemon_t *d);

/* status.c: render /metrics and /status */
void status_render(sched_daemon_t *d, char **prom, char **json);

/* daemon_lead.c: leadership on a shared PostgreSQL store (lead.h). Start
 * leading or standing by (nothing on SQLite); what a new leader does after
 * loading (also at every start); whether this instance stands by; whether
 * it may still send anything (a leader past its lease steps down here);
 * a standby's answers to workers and clients; `cairn schedulers`. */
int daemon_lead_start(sched_daemon_t *d, cairn_error_t *err);
int daemon_lead_begin(sched_daemon_t *d, cairn_error_t *err);
bool daemon_standby(const sched_daemon_t *d);
bool daemon_may_speak(sched_daemon_t *d);
void daemon_standby_worker(sched_daemon_t *d, const cairn_peer_t *from, cairn_msg_type_t type);
void daemon_standby_client(sched_daemon_t *d, const cairn_peer_t *to, cairn_msg_type_t type);
void daemon_schedulers_reply(sched_daemon_t *d, const cairn_peer_t *to);
/* A leader's commit failed: step down (never returns with argv set). */
void daemon_lead_lost(sched_daemon_t *d, const char *why);

/* daemon_web.c: --http, the web front (web.h): started after the
 * endpoints (it asks the loop over daemon_web_inproc, which the client
 * socket listens on), fed /metrics and /status every second. */
int daemon_web_start(sched_daemon_t *d, cairn_error_t *err);
void daemon_web_stop(sched_daemon_t *d);
const char *daemon_web_inproc(sched_daemon_t *d);

#endif
