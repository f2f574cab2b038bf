/* The node table: what the daemon knows of each node beyond the core's
 * state (its connection, versions, latest report, the worker process's
 * incarnation and newest applied event, attempts waiting to be delivered),
 * the map from connections to nodes, connections not registered yet with
 * the join challenges sent on them, why attempts failed to start, and the
 * exits of gang replicas whose gang still runs. It also keeps the
 * listening time: the loop's time less the stalls in which the scheduler
 * could not hear its workers, so that a stall never counts as a node's
 * silence. */
#ifndef CAIRN_SCHEDULER_NODES_H
#define CAIRN_SCHEDULER_NODES_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/log.h"
#include "proto/join.h"
#include "proto/net.h"
#include "scheduler/journal.h"
#include "scheduling/sched.h"

typedef struct nodes nodes_t;

/* A node's identity: "certificate CN=" and a CN of up to 255 bytes. */
#define NODE_IDENT_MAX 288

/* What the daemon knows of a node beyond the core's state. */
typedef struct node_link {
    uint32_t pipe;         /* nng pipe id, 0 = not connected */
    int64_t last_heard_ms; /* listening time (nodes_listen_now) */
    int64_t every_ms;      /* the heartbeat interval it was told last */
    char *worker_version;
    char *fingerprint, *driver, *cuda; /* from its Register, for provenance */
    /* from its Register: the whole GPU's UUID of each GPU that is a MIG
     * instance (NULL for a whole GPU), nmig_parent of them */
    char **mig_parent;
    size_t nmig_parent;
    char addr[64]; /* rendezvous address */
    /* the latest resource report */
    int64_t report_ms;
    uint32_t load1_milli;
    uint64_t mem_used, mem_total;
    /* each GPU's utilisation and memory in use, where the worker reported
     * them (bit i of gpu_reported: GPU i, of the first 64) */
    uint64_t gpu_reported;
    uint8_t gpu_util[64];
    uint64_t gpu_mem_used[64];
    /* the worker process's incarnation and the newest task event applied
     * from it (Register.incarnation); the identity the node's name is bound
     * to ("uid N", "address A", "certificate CN=C"); saved by
     * nodes_save_seqs; seq_dirty: to be written with the next commit
     * (set through nodes_seq_dirty) */
    uint64_t incarnation, last_seq;
    bool seq_dirty;
    char ident[NODE_IDENT_MAX];
    /* attempts placed on this node, not yet delivered */
    uint64_t *pending;
    size_t npending, pending_cap;
} node_link_t;

/* Free l's mig_parent list (none left). */
void nodes_link_mig_fini(node_link_t *l);

/* A worker connection not registered yet, with the challenge sent on it. Bounded: at most
 * NODES_PENDING_PER_ADDR from one network address and NODES_PENDING_MAX in all. */
#define NODES_PENDING_MAX 65536
#define NODES_PENDING_PER_ADDR 32
typedef struct pending_pipe {
    uint32_t pipe;
    int64_t since_ms; /* listening time */
    char addr[48];
    bool challenged;
    uint8_t c[CAIRN_JOIN_CHALLENGE_LEN];
} pending_pipe_t;

/* Why attempts failed to start, as their workers said: the newest
 * NODES_START_ERRORS_MAX (not journaled: lost on a restart). */
#define NODES_START_ERRORS_MAX 4096

/* A table on loop (listening time is its time), logging to log. */
int nodes_create(uv_loop_t *loop, cairn_log_t *log, nodes_t **out);
void nodes_destroy(nodes_t *n);

/* The loop's time, less the stalls in which the scheduler could not
 * listen. */
int64_t nodes_listen_now(const nodes_t *n);
/* The loop could not listen for ms (a stall): not counted as silence. */
void nodes_add_unheard(nodes_t *n, int64_t ms);

/* The heartbeat interval to tell workers now: interval_ms, or a multiple
 * of it once the connected nodes beating at it would send more than rate
 * heartbeats a second (rate 0: never). It grows as soon as needed and
 * shrinks once half would do, so it does not flap at a boundary. */
int64_t nodes_heartbeat_every(nodes_t *n, int64_t interval_ms, uint32_t rate);
/* How long node l may be silent before it is down: timeout_ms, scaled by
 * how much longer than interval_ms the interval it was told is. */
int64_t nodes_silence_limit(const node_link_t *l, int64_t interval_ms, int64_t timeout_ms);

/* Node id's record (the table grows to the core's node count; a new
 * record was last heard now); NULL for an unknown id or without memory. */
node_link_t *nodes_link(nodes_t *n, const sched_t *core, uint32_t node);

/* The node registered on pipe: 0, or -ENOENT. */
int nodes_of_pipe(const nodes_t *n, uint32_t pipe, uint32_t *node);
/* The node (record l) is on pipe now: 0 or -ENOMEM. */
int nodes_bind(nodes_t *n, uint32_t node, node_link_t *l, uint32_t pipe);
/* The node has no connection any more: the pipe it had (0: none). */
uint32_t nodes_unbind(nodes_t *n, node_link_t *l);
/* Every connection is gone (the endpoints were reopened). */
void nodes_unbind_all(nodes_t *n);

/* Who is at the other end of p, for the per-address bound and for binding
 * a node's name: "address A" over a network (network: true), "uid N" on
 * ipc:// (the kernel says), "" when unknown. */
void nodes_pipe_ident(nng_pipe p, char *buf, size_t len, bool *network);

/* Track a connection that is not (or no longer) a registered node's;
 * refuses it (closing it, saying why in the log) past the bounds: NULL. */
pending_pipe_t *nodes_pending_add(nodes_t *n, nng_pipe p);
/* The connection registered, or is gone (its challenge with it). */
void nodes_pending_remove(nodes_t *n, uint32_t pipe);
/* Close the connections not registered within timeout_ms. */
void nodes_pending_expire(nodes_t *n, int64_t timeout_ms);
/* The challenge sent on pipe. It holds until an answer to it fails (a new
 * one replaces it) or the worker is accepted (the entry goes): a worker
 * refused for another reason (its name is taken) answers it again. */
bool nodes_challenge_get(nodes_t *n, uint32_t pipe, uint8_t out[CAIRN_JOIN_CHALLENGE_LEN]);
/* A new challenge for p (tracked as pending): 0, -EBUSY (refused past the
 * bounds) or another error of the random source. */
int nodes_challenge_new(nodes_t *n, nng_pipe p, uint8_t out[CAIRN_JOIN_CHALLENGE_LEN]);

/* Why attempt failed to start (the first reason given is kept). */
void nodes_start_error_put(nodes_t *n, uint64_t attempt, const char *text);
/* That reason, or NULL. */
const char *nodes_start_error(const nodes_t *n, uint64_t attempt);

/* Gang replicas' exits, kept until the whole attempt ends. */
bool nodes_rexit_seen(const nodes_t *n, uint64_t attempt, uint32_t rank);
uint32_t nodes_rexit_count(const nodes_t *n, uint64_t attempt);
int nodes_rexit_add(nodes_t *n, uint64_t attempt, uint32_t rank, sched_end_t end, int code,
                    int sig);
void nodes_rexit_clear(nodes_t *n, uint64_t attempt);

/* The newest applied task event of each worker: load from the journal (at
 * start and after a failed commit); write the changed ones into the open
 * transaction (before each commit). */
int nodes_load_seqs(nodes_t *n, const sched_t *core, journal_t *j, cairn_error_t *err);
int nodes_save_seqs(nodes_t *n, const sched_t *core, journal_t *j, cairn_error_t *err);
/* Link l's incarnation, seq or identity changed: written by the next
 * nodes_save_seqs (which visits only the changed links). */
void nodes_seq_dirty(nodes_t *n, node_link_t *l);
/* At start: the exits of replicas whose gang still runs. */
int nodes_load_rexits(nodes_t *n, const sched_t *core, journal_t *j, cairn_error_t *err);

/* Keep attempt for l's node until it registers again. */
void nodes_hold(node_link_t *l, uint64_t attempt);

#endif
