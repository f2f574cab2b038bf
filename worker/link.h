/* The worker's link to the scheduler (proto/PROTOCOL.md, scheduler <->
 * worker): one pair1 socket dialing the scheduler, registration, heartbeats
 * and reliable delivery of task events.
 *
 * nng re-dials by itself after a loss (50 ms doubling to 2 s); the worker
 * starts even when the scheduler is not up. On every new connection the
 * link registers again (the caller supplies the Register, with the attempts
 * it still runs). Task events get a per-worker seq and are kept, in seq
 * order, until the scheduler acknowledges them (Ack{seq}); they are sent at
 * once when registered and all resent after every accepted registration.
 * A refused registration is retried with backoff; HeartbeatReply.reregister
 * registers again.
 *
 * Several schedulers (a leader and standbys, url "A,B"): the link dials
 * the first; a standby's RegisterReply (accepted false, leader set) makes
 * it dial the leader (proto/endpoints.h); "not the leader" with no leader
 * (a takeover in progress) asks again after at most a second; no
 * connection for LINK_SWITCH_MS moves it to the next endpoint. Unacknowledged
 * events go to whichever scheduler accepts the worker next, as after a
 * reconnection.
 *
 * Everything runs on the loop thread; callbacks are made from loop
 * callbacks, never from inside a worker_link_* call.
 */
#ifndef CAIRN_WORKER_LINK_H
#define CAIRN_WORKER_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/error.h"
#include "common/log.h"
#include "proto/envelope.h"
#include "proto/join.h"
#include "proto/sign.h"

typedef struct worker_link worker_link_t;

typedef struct worker_link_config {
    /* the scheduler's worker endpoint (ipc://, tcp://, tls+tcp://), or a
     * comma-separated list of a leader's and its standbys' */
    const char *url;
    const char *node_name; /* copied into heartbeats and task events */
    /* Where the link logs (connections, registrations, refused messages);
     * NULL: nowhere. Borrowed for the link's lifetime. */
    cairn_log_t *log;
    /* Delay before registering again after a refusal: doubles from min to
     * max (0: 200 ms and 10 s). */
    uint32_t retry_min_ms, retry_max_ms;
    /* Register again when no RegisterReply came for this long (0: 10 s). */
    uint32_t register_timeout_ms;
    /* How long routine task events (a start, a successful end) may wait
     * while held (worker_link_hold); 0: they never wait. */
    uint32_t hold_ms;
    /* The cluster's join secret, to answer the scheduler's challenge
     * (proto/join.h); NULL: none. Borrowed for the link's lifetime. */
    const cairn_join_key_t *join_key;
    /* Certificate and CA for a tls+tcp:// URL (proto/net.h): the scheduler's
     * certificate is verified against the CA and the URL's host name. The
     * certificate's key also signs the answer to each tls+ scheduler's
     * challenge (proto/sign.h): a scheduler that verifies workers'
     * certificates takes the worker to be its CN. Copied. */
    const char *tls_cert, *tls_ca;
    /* A standby may send the worker to a plain tcp:// leader (nothing
     * authenticates it) only with a join key or when this is set. */
    bool insecure;
} worker_link_config_t;

typedef struct worker_link_callbacks {
    /* Connected: return the Register to send now (read during the call
     * only, still the caller's). Required. */
    const Cairn__Register *(*registration)(worker_link_t *l, void *arg);
    /* The scheduler accepted the registration. stale lists the attempts it
     * did not adopt (their queued events are already dropped); the
     * unacknowledged events are resent right after this returns. */
    void (*registered)(worker_link_t *l, uint64_t node_id, const uint64_t *stale, size_t nstale,
                       void *arg);
    /* AssignTask, CancelTask or ReadLog from the scheduler; msg is freed
     * after the callback returns. */
    void (*command)(worker_link_t *l, cairn_msg_type_t type, const ProtobufCMessage *msg,
                    void *arg);
    /* A heartbeat (number seq, from 1) was sent. May be NULL. */
    void (*heartbeat)(worker_link_t *l, uint64_t seq, void *arg);
    void *arg;
} worker_link_callbacks_t;

/* Open the socket, start dialing (the first of) cfg->url in the background
 * and watch the socket on loop. Returns 0 and sets *out; -EINVAL for a URL
 * nng does not accept or a certificate that cannot sign (err says why),
 * -ENOMEM. */
int worker_link_create(uv_loop_t *loop, const worker_link_config_t *cfg,
                       const worker_link_callbacks_t *cb, worker_link_t **out, cairn_error_t *err);

/* Queue a task event: ev->seq and ev->node_name are set here (ev is the
 * caller's and is modified), a copy is kept until acknowledged and sent now
 * if registered. *seq (may be NULL) receives its seq. Returns 0, or -EINVAL
 * (invalid strings), -ENOMEM: nothing is queued then. */
int worker_link_event(worker_link_t *l, Cairn__TaskEvent *ev, uint64_t *seq, cairn_error_t *err);

/* Hold routine events (a start, a successful end) for up to hold_ms so
 * that several go out in one message: the scheduler then commits and
 * answers once for all of them. Any other event, or hold false, sends all
 * waiting events at once, in order. The caller holds only while a delay
 * costs nothing (the worker: its queued tasks keep its slots busy). */
void worker_link_hold(worker_link_t *l, bool hold);

/* Drop the queued events of an attempt (never to be reported). */
void worker_link_forget(worker_link_t *l, uint64_t attempt_id);

/* Send a message that needs no acknowledgement (ResourceReport, LogChunk).
 * Returns 0, -ENOTCONN when not registered, or cairn_net_send()'s code. */
int worker_link_send(worker_link_t *l, cairn_msg_type_t type, const ProtobufCMessage *msg,
                     cairn_error_t *err);

/* Whether the scheduler has accepted this worker on the current connection. */
bool worker_link_registered(const worker_link_t *l);

/* The node id the scheduler gave (0 before the first registration). */
uint64_t worker_link_node_id(const worker_link_t *l);

/* The identity of the scheduler's journal, from the last accepted
 * registration (RegisterReply.scheduler_id; 0: none given). */
uint64_t worker_link_scheduler_id(const worker_link_t *l);

/* The endpoint the link dials now (one of cfg->url's, or a leader's). */
const char *worker_link_endpoint(const worker_link_t *l);

/* Number of events not acknowledged yet. */
size_t worker_link_pending(const worker_link_t *l);

/* Attempts whose final event (EXITED or FAILED_TO_START) is not
 * acknowledged yet, in seq order: up to max ids into ids (may be NULL when
 * max is 0). Returns how many there are (may exceed max). */
size_t worker_link_ended_unacked(const worker_link_t *l, uint64_t *ids, size_t max);

/* Stop: close the socket and the loop handles; memory is freed once the
 * loop has closed them. No callback is made afterwards. NULL is a no-op. */
void worker_link_destroy(worker_link_t *l);

#endif
