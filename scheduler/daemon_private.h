/* Internals shared by the scheduler daemon's files. */
#ifndef CAIRN_SCHEDULER_DAEMON_PRIVATE_H
#define CAIRN_SCHEDULER_DAEMON_PRIVATE_H

#include <stdbool.h>

#include "audit.h"
#include "cache.h"
#include "daemon.h"
#include "join.h"
#include "journal.h"
#include "metrics.h"
#include "net.h"
#include "history.h"
#include "provenance.h"
#include "reader.h"
#include "usage.h"
#include "watchdog.h"

/* A node's identity: "certificate CN=" and a CN of up to 255 bytes. */
#define NODE_IDENT_MAX 288

/* What the daemon knows of a node beyond the core's state. */
typedef struct node_link {
    uint32_t pipe;         /* nng pipe id, 0 = not connected */
    int64_t last_heard_ms; /* listening time (d_listen_now) */
    char *worker_version;
    char *fingerprint, *driver, *cuda; /* from its Register, for provenance */
    int64_t prev_report_ms;            /* the report before the latest (usage spans) */
    char addr[64];                     /* rendezvous address */
    /* the latest resource report */
    int64_t report_ms;
    uint32_t load1_milli;
    uint64_t mem_used, mem_total;
    /* the worker process's incarnation and the newest task event applied
     * from it (Register.incarnation); the identity the node's name is bound
     * to ("uid N", "address A", "certificate CN=C"); kept by
     * journal_put_worker; seq_dirty: to be written with the next commit */
    uint64_t incarnation, last_seq;
    bool seq_dirty;
    char ident[NODE_IDENT_MAX];
    /* attempts placed on this node, not yet delivered */
    uint64_t *pending;
    size_t npending, pending_cap;
} node_link_t;

/* A message waiting for the commit that makes what it says true. */
typedef struct outmsg {
    cairn_net_t *net;
    cairn_peer_t peer;
    uint8_t *buf;
    size_t len;
    bool lazy; /* cairn_net_send_raw_lazy() */
} outmsg_t;

/* A ReadLog sent to a node: only that node's registered connection may
 * answer it, for that attempt and replica. */
typedef struct log_wait {
    uint64_t request_id; /* random */
    uint64_t attempt_id;
    uint32_t rank;
    uint32_t node, pipe; /* asked: the node, on its connection */
    cairn_peer_t client;
    int64_t deadline_ms;
} log_wait_t;

#define START_ERRORS_MAX 4096
typedef struct start_error {
    uint64_t attempt;
    char *text;
} start_error_t;

/* Remember / look up why an attempt failed to start (workers.c). */
void start_error_put(sched_daemon_t *d, uint64_t attempt, const char *text);
const char *start_error_get(const sched_daemon_t *d, uint64_t attempt);

/* A worker connection not registered yet, with the join challenge sent
 * on it (answered at most once). Bounded: at most PENDING_PER_ADDR from
 * one network address and PENDING_MAX in all; one that has not registered
 * within --register-timeout is closed. */
#define PENDING_MAX 65536
#define PENDING_PER_ADDR 32
typedef struct pending_pipe {
    uint32_t pipe;
    int64_t since_ms; /* loop time */
    char addr[48];
    bool challenged;
    uint8_t c[CAIRN_JOIN_CHALLENGE_LEN];
} pending_pipe_t;

/* Which part of a job's status a client asked for (JobStatusRequest). */
typedef struct status_page {
    bool summary_only;
    uint32_t offset, limit;
    char task[256]; /* one task by name, "" for a page */
} status_page_t;

/* A client waiting for a job to end (JobStatusRequest.wait_ms). */
typedef struct job_wait {
    uint32_t job;
    status_page_t page;
    cairn_peer_t client;
    int64_t deadline_ms; /* loop time */
} job_wait_t;

/* An attempt to deliver to one node (UINT32_MAX: to all its nodes). */
typedef struct delivery {
    uint64_t attempt;
    uint32_t node;
} delivery_t;

typedef struct deliveries {
    delivery_t *v;
    size_t n, cap;
} deliveries_t;

/* A gang replica's exit, kept until the whole attempt ends. */
typedef struct replica_exit {
    uint64_t attempt;
    uint32_t rank;
    sched_end_t end;
    int code, sig;
} replica_exit_t;

typedef struct u64vec {
    uint64_t *v;
    size_t n, cap;
} u64vec_t;

struct sched_daemon {
    uv_loop_t *loop;
    sched_daemon_config_t cfg;
    daemon_log_t *log;
    char *state_dir, *worker_url, *client_url, *journal_path;
    sched_t *core;
    journal_t *journal;
    nng_socket wsock, csock;
    cairn_net_t *wnet, *cnet;
    uv_check_t check;
    uv_idle_t idle;
    uv_timer_t hb_timer, wake_timer;
    int handles_open;
    bool dirty;        /* a pass may place something */
    bool busy;         /* idle handle running */
    bool degraded;     /* storage failed: submissions refused until a write works */
    bool batch_failed; /* an append of the pending batch failed: it is rolled back */
    /* clients whose replies wait for the pending commit: told when it fails */
    cairn_peer_t *batch_peers;
    size_t nbatch_peers, batch_peers_cap;
    /* Only entries nothing waits for are in the journal (attempt starts,
     * ends taken over by a queued attempt, queued placements): they may
     * wait for the next commit, up to COMMIT_DELAY_MS. Their messages wait
     * with them; a worker resends unacknowledged events after a scheduler
     * restart, so nothing is lost meanwhile. */
    bool commit_urgent;
    uv_timer_t commit_timer;
    char degraded_why[512];
    int64_t started_ms; /* listening time */
    /* The loop's time minus the time it could not listen (stalls past two
     * heartbeat intervals: a long read, swapping, the process stopped):
     * silences and the restart grace count only time the scheduler could
     * hear its workers (d_listen_now). */
    int64_t unheard_ms;
    uint64_t last_tick_ms;
    /* per core node id */
    node_link_t *links;
    size_t nlinks;
    /* after the next commit */
    outmsg_t *outq;
    size_t nout, out_cap;
    deliveries_t assign; /* attempts to deliver */
    u64vec_t cancel;     /* attempts to signal */
    log_wait_t *waits;
    size_t nwaits, waits_cap;
    cairn_join_key_t *join_key; /* NULL: workers join without a key */
    /* why attempts failed to start, as their workers said (the newest
     * START_ERRORS_MAX; not journaled: lost on a restart) */
    start_error_t *serr;
    size_t nserr;
    pending_pipe_t *pend; /* worker connections not registered yet */
    size_t npend;
    job_wait_t *jwaits;
    size_t njwaits, jwaits_cap;
    uv_timer_t jwait_timer;
    /* nng pipe id -> node id + 1, open addressing */
    uint32_t *pm_keys, *pm_vals;
    size_t pm_cap, pm_n;
    replica_exit_t *rexits;
    size_t nrexits, rexits_cap;
    /* counters for metrics */
    uint64_t placements, submits, events_applied, bad_messages;
    /* tls+tcp:// clients: signed requests checked against --tls-ca (sign.h);
     * signed_user names the sender of the request being handled, if any */
    struct cairn_verifier *verifier;
    const char *signed_user;
    audit_t *audit; /* who changed what (audit.h), in the journal's transactions */
    prov_t *prov;   /* what ran where (provenance.h), likewise */
    cache_t *cache; /* cached results (cache.h), likewise */
    usage_t *usage; /* usage over time (usage.h), likewise */
    history_t *history;     /* ended attempts' records (history.h), likewise */
    size_t history_cursor;  /* sched_ended_list index of the next to record */
    bool history_complete;  /* every ended attempt before the cursor has one */
    reader_t *reader;       /* heavy reads off the loop (reader.h) */
    uv_timer_t census_timer;
    uint64_t census_ticks;
    uint64_t retries[8]; /* by sched_end_t of the attempt that ended */
    histogram_t pass_latency, start_latency;
    metrics_t *metrics;
    uv_timer_t metrics_timer;
    watchdog_t *wwatch, *cwatch;
    uv_timer_t watch_timer;
};

#define COMMIT_DELAY_MS 2

/* daemon.c */
int64_t wall_ms(void);
void d_mark_dirty(sched_daemon_t *d);
/* The loop's time, less the stalls in which the scheduler could not listen. */
int64_t d_listen_now(const sched_daemon_t *d);
/* Apply a core event and journal it (js/seed for submits). */
int d_apply(sched_daemon_t *d, const sched_event_t *ev, const Cairn__JobSpec *js, uint64_t seed,
            cairn_error_t *err);
/* Send now, or after the pending commit when one is open. */
void d_send(sched_daemon_t *d, cairn_net_t *net, const cairn_peer_t *to, cairn_msg_type_t type,
            const ProtobufCMessage *msg);
/* The same for what the peer needs only eventually (acknowledgements):
 * it rides the next message to that peer (cairn_net_send_raw_lazy). */
void d_send_lazy(sched_daemon_t *d, cairn_net_t *net, const cairn_peer_t *to,
                 cairn_msg_type_t type, const ProtobufCMessage *msg);
/* An audit entry (audit.h) in the open transaction; a failure fails the
 * batch like a journal append. */
void d_audit(sched_daemon_t *d, const char *user, const char *action, const char *target,
             const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int u64vec_push(u64vec_t *v, uint64_t x);
int deliveries_push(deliveries_t *v, uint64_t attempt, uint32_t node);
node_link_t *d_link(sched_daemon_t *d, uint32_t node);

/* workers.c */
void workers_recv(cairn_net_t *n, const cairn_peer_t *from, cairn_msg_type_t type,
                  ProtobufCMessage *msg, void *arg);
void workers_pipe(cairn_net_t *n, nng_pipe p, bool added, void *arg);
void workers_bad(cairn_net_t *n, const cairn_peer_t *from, int code, const char *why, void *arg);
void workers_check_heartbeats(sched_daemon_t *d);
/* Close worker connections that have not registered within
 * --register-timeout. */
void workers_expire_pending(sched_daemon_t *d);
int workers_node_of_pipe(sched_daemon_t *d, uint32_t pipe, uint32_t *node);
void workers_rexit_loaded(uint64_t attempt, uint32_t rank, int end, int code, int sig, void *arg);
/* The newest applied task event of each worker: load from the journal (at
 * start and after a failed commit), and write the changed ones into the
 * open transaction (before each commit). */
int workers_load_seqs(sched_daemon_t *d, cairn_error_t *err);
void workers_save_seqs(sched_daemon_t *d);

/* dispatch.c */
void dispatch_assign(sched_daemon_t *d, uint64_t attempt, uint32_t node);
void dispatch_cancel(sched_daemon_t *d, uint64_t attempt, uint32_t grace_ms);
void dispatch_pending(sched_daemon_t *d, uint32_t node);
int dispatch_read_log(sched_daemon_t *d, uint64_t attempt, uint32_t rank, int stream,
                      uint64_t offset, uint32_t max, const cairn_peer_t *client);
/* A LogChunk: the answer to the waiting ReadLog it names, if it comes
 * from the connection that was asked, for the attempt that was asked. */
void dispatch_log_chunk(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__LogChunk *c);
void dispatch_expire_waits(sched_daemon_t *d);
/* Answer the log reads waiting on a connection that is gone. */
void dispatch_fail_waits(sched_daemon_t *d, uint32_t pipe, const char *why);

/* status.c: render /metrics and /status */
void status_render(sched_daemon_t *d, char **prom, char **json);

/* clients.c */
void clients_recv(cairn_net_t *n, const cairn_peer_t *from, cairn_msg_type_t type,
                  ProtobufCMessage *msg, void *arg);
/* Answer the job waits whose job has ended (and, with expire, those past
 * their deadline); re-arm the deadline timer. */
void clients_answer_waits(sched_daemon_t *d, bool expire);
void clients_bad(cairn_net_t *n, const cairn_peer_t *from, int code, const char *why, void *arg);
/* What one reply needs freed after it is sent (clients.c): malloc'd
 * blocks, and messages from protobuf-c unpack. oom: a keep failed. */
typedef struct frees {
    void **v;
    size_t n, cap;
    ProtobufCMessage **msgs;
    size_t nmsgs, msgs_cap;
    bool oom;
} frees_t;
/* Keep p (NULL: sets oom) until clients_frees_fini; returns p, or NULL
 * (then p was freed). */
void *clients_keep(frees_t *f, void *p);
void clients_keep_msg(frees_t *f, ProtobufCMessage *m);
void clients_frees_fini(frees_t *f);

/* Who sent a request (clients.c). */
typedef struct client_id {
    char name[256];
    bool anonymous;
    bool has_uid;
    uid_t uid;
} client_id_t;
void clients_identity(sched_daemon_t *d, const cairn_peer_t *from, client_id_t *id);
/* Whether owner (a job's or audit entry's user) is id: the same name, and
 * "anonymous" only for an unauthenticated client, never for a user of that
 * name. */
bool clients_owns(const client_id_t *id, const char *owner);
/* Root, the scheduler's own user, or listed in --admins (by name or group). */
bool clients_is_admin(sched_daemon_t *d, const client_id_t *id);
/* clients_audit.c: AuditRequest */
void clients_audit(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__AuditRequest *r);

/* May the client act (verb: "cancel", "read logs of") on job? Answers
 * the refusal itself when not. */
bool clients_may_touch_job(sched_daemon_t *d, const cairn_peer_t *from, uint32_t job,
                           const char *verb);
Cairn__TaskState clients_task_state(sched_task_state_t s);
Cairn__JobState clients_job_state(const sched_job_info_t *ji);
/* clients_acct.c: AccountingRequest, UsageRequest */
void clients_accounting(sched_daemon_t *d, const cairn_peer_t *from,
                        const Cairn__AccountingRequest *q);
void clients_usage(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__UsageRequest *q);
/* Before each commit: a history record for each attempt ended since the
 * last (in the open transaction); after the state is (re)loaded: where
 * that starts. */
void clients_history_flush(sched_daemon_t *d);
int clients_history_loaded(sched_daemon_t *d, cairn_error_t *err);
/* Run a read on the reader thread (reader.h), or answer why not (busy);
 * returns reader_submit's code: on failure done was not queued. */
int clients_read_later(sched_daemon_t *d, const cairn_peer_t *from, reader_work_f work,
                       reader_done_f done, void *arg);
/* Send an encoded reply (or, when error is not empty, the error). */
void clients_reply_raw(sched_daemon_t *d, const cairn_peer_t *to, const uint8_t *buf, size_t len,
                       const char *error);
/* clients_prov.c: a task's attempts from the latest back (ids, at most
 * max; how many), ProvenanceRequest; how an attempt ended, as a word
 * ("succeeded", "exit_nonzero", ..., "" while it runs) */
uint32_t clients_attempt_chain(sched_daemon_t *d, uint64_t latest, uint64_t *ids, uint32_t max);
const char *clients_end_word(const sched_attempt_info_t *ai);
void clients_provenance(sched_daemon_t *d, const cairn_peer_t *from,
                        const Cairn__ProvenanceRequest *r);
void clients_error(sched_daemon_t *d, const cairn_peer_t *to, Cairn__ErrorCode code,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
