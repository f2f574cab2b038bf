/* An nng socket bridged into a libuv loop: messages arrive decoded on the
 * loop thread, pipe (connection) events too, and sends never block.
 *
 * Receiving uses the socket's NNG_OPT_RECVFD with a uv_poll_t and drains
 * every queued message per wake-up; pipe events come from nng's threads
 * through a locked queue and one uv_async_t. Works with pair1 (polyamorous:
 * answer on the pipe a message came from) and raw rep0 (answer with the
 * request's backtrace header). Part of proto/'s library target
 * cairn_transport, so cairn_proto itself stays protobuf-c only.
 */
#ifndef CAIRN_PROTO_NET_H
#define CAIRN_PROTO_NET_H

#include <nng/nng.h>
#include <stdbool.h>
#include <uv.h>

#include "proto/envelope.h"

typedef struct cairn_net cairn_net_t;

/* Where a message came from, and how to answer it. */
typedef struct cairn_peer {
    nng_pipe pipe;
    size_t hdr_len; /* raw rep0 backtrace, 0 for pair1 */
    uint8_t hdr[64];
} cairn_peer_t;

typedef struct cairn_net_callbacks {
    /* A decoded message; msg is freed after the callback returns. */
    void (*recv)(cairn_net_t *n, const cairn_peer_t *from, cairn_msg_type_t type,
                 ProtobufCMessage *msg, void *arg);
    /* Bytes that did not decode; the message is dropped. May be NULL. */
    void (*bad)(cairn_net_t *n, const cairn_peer_t *from, int code, const char *why, void *arg);
    /* A pipe was added (connected) or removed. May be NULL. */
    void (*pipe)(cairn_net_t *n, nng_pipe p, bool added, void *arg);
    void *arg;
} cairn_net_callbacks_t;

/* Bridge an open socket into loop. max_msg bounds inbound messages (0 =
 * CAIRN_MSG_MAX_DEFAULT) and is also set as NNG_OPT_RECVMAXSZ. The socket
 * stays the caller's: close it after cairn_net_destroy(). */
int cairn_net_create(uv_loop_t *loop, nng_socket sock, size_t max_msg,
                     const cairn_net_callbacks_t *cb, cairn_net_t **out, cairn_error_t *err);

/* Send msg of type to a peer (NULL: any peer, as the protocol routes it).
 * Never blocks: -EAGAIN when it cannot be queued now, -ENOTCONN when there
 * is no peer. */
int cairn_net_send(cairn_net_t *n, const cairn_peer_t *to, cairn_msg_type_t type,
                   const ProtobufCMessage *msg, cairn_error_t *err);

/* Send an already encoded message (envelope included). */
int cairn_net_send_raw(cairn_net_t *n, const cairn_peer_t *to, const uint8_t *buf, size_t len,
                       cairn_error_t *err);

/* How many messages wait, in order, for nng to take them (it pushed
 * back): what is sent now goes out after those. */
size_t cairn_net_backlog(const cairn_net_t *n);

/* With flow control (cairn_net_set_flow): a lazy message waits for the
 * next message to the same peer that is not lazy, or CAIRN_NET_LAZY_MS,
 * and goes with it (in order): for what the peer needs only eventually,
 * such as acknowledgements, so that an idle peer is not woken for each.
 * Without flow control the same as cairn_net_send_raw(). */
#define CAIRN_NET_LAZY_MS 100
int cairn_net_send_raw_lazy(cairn_net_t *n, const cairn_peer_t *to, const uint8_t *buf, size_t len,
                            bool lazy, cairn_error_t *err);

/* Flow control for pair1 polyamorous sockets, which drop a message for a
 * peer whose queue (two messages) is full. The SENDER side (the scheduler)
 * queues what it sends each pipe, sends it before the loop next waits as
 * one message (a Batch when several wait), and keeps at most two messages
 * per pipe unconfirmed; the RECEIVER side (a worker, one peer) confirms each
 * drain of its socket with a Delivered count and likewise sends what it
 * sends in a loop iteration as one message. Both are transport messages the
 * callbacks never see. A peer that stops reading while more than
 * CAIRN_NET_FLOW_MAX_BYTES wait for it is disconnected (it reconnects and
 * registers again). Set it right after cairn_net_create(). */
typedef enum cairn_net_flow {
    CAIRN_NET_FLOW_NONE,
    CAIRN_NET_FLOW_SENDER,
    CAIRN_NET_FLOW_RECEIVER,
} cairn_net_flow_t;

#define CAIRN_NET_FLOW_MAX_BYTES (256u * 1024 * 1024)

void cairn_net_set_flow(cairn_net_t *n, cairn_net_flow_t flow);

/* Inbound limits by authentication. A peer's messages are decoded with
 * max_msg once it is authenticated, with a lower limit before (messages
 * over it are refused, bad callback with -EMSGSIZE, before any of their
 * payload is unpacked). Who is authenticated:
 *   NONE       every peer (the default: one limit for all);
 *   EXPLICIT   a pipe once cairn_net_pipe_authenticate() was called for it
 *              (the worker endpoint: when a Register is accepted; the
 *              worker: when the scheduler accepts its registration);
 *   TRANSPORT  those too, and the peers the transport vouches for: ipc://
 *              (the kernel gives the peer's uid) and TLS with a verified
 *              certificate; tcp:// and unverified TLS peers are anonymous
 *              (the client endpoint).
 * With flow control (SENDER), a message queued to a pipe not authenticated
 * yet, and the first one queued after it is, are each sent alone, never in
 * a Batch: the peer then gets the reply that accepts it within its own
 * limit before authentication. preauth_max 0 means CAIRN_MSG_PREAUTH_MAX;
 * it is never above max_msg. Set it right after cairn_net_create(). */
typedef enum cairn_net_auth {
    CAIRN_NET_AUTH_NONE,
    CAIRN_NET_AUTH_EXPLICIT,
    CAIRN_NET_AUTH_TRANSPORT,
} cairn_net_auth_t;

void cairn_net_set_auth(cairn_net_t *n, cairn_net_auth_t auth, size_t preauth_max);

/* Raise pipe p to max_msg from now on (until it closes). Call it on the loop
 * thread when the peer has proved who it is, before sending the reply that
 * tells it so. Errors: -EINVAL (no pipe), -ENOTCONN (the pipe is already
 * closed), -ENOMEM. Again for the same pipe: 0. */
int cairn_net_pipe_authenticate(cairn_net_t *n, nng_pipe p, cairn_error_t *err);

/* The inbound limit for messages from pipe p now. */
size_t cairn_net_pipe_max(const cairn_net_t *n, nng_pipe p);

/* Stop watching the socket and close the loop handles (the loop must then
 * run until they are closed). NULL is a no-op. */
void cairn_net_destroy(cairn_net_t *n);

/* nng_close(), but give up waiting after ms: nng 1.5.2's nng_close() can
 * deadlock waiting for a pipe that never finishes closing (nng issues
 * #1543 and later). The close then goes on in a detached thread that
 * holds the socket; the caller goes on. Returns 0, or -ETIMEDOUT when it
 * gave up. */
int cairn_nng_close_bounded(nng_socket s, int ms);

/* Start nng's threads now, with every signal blocked in them. A signal
 * for the process (SIGCHLD when a task ends, SIGTERM) then goes to the
 * thread running the loop, whose libuv handler takes it; else the kernel
 * may pick an idle nng thread, which runs the handler and wakes the loop:
 * one more thread switch per signal. Call it before the first socket;
 * later calls do nothing. Returns 0 or an nng error code. */
int cairn_nng_threads_start(void);

/* TLS for tls+tcp:// endpoints (nng's TLS transport). cert_key is a PEM
 * file with this side's certificate and its private key; ca a PEM file of
 * the certificates that sign the peers'. A listener with a CA requires
 * and verifies the peer's certificate; a dialer always verifies the
 * listener's (against the URL's host name). Other URLs ignore it. */
typedef struct cairn_tls {
    const char *cert_key; /* NULL: none */
    const char *ca;       /* NULL: none */
} cairn_tls_t;

/* The TLS settings from $CAIRN_TLS_CERT and $CAIRN_TLS_CA. */
cairn_tls_t cairn_tls_from_env(void);

/* Apply tls to a listener or dialer not started yet when url is tls+...;
 * returns 0 or an nng error code with err saying what is missing. */
int cairn_tls_listener(nng_listener l, const char *url, const cairn_tls_t *tls, cairn_error_t *err);
int cairn_tls_dialer(nng_dialer d, const char *url, const cairn_tls_t *tls, bool verify,
                     cairn_error_t *err);

/* A dialer dialed again when nng gives up on it. nng 1.5.2 stops
 * redialing for good after an attempt that ends in NNG_ECLOSED (a
 * connection dropped by a dying listener before its header was written);
 * the dialer's statistics then stop moving. cairn_dial_check(), called
 * now and then, closes such a dialer (no pipe, no attempt ended for two
 * of its longest backoffs plus a second) and dials anew on the same
 * socket; it also bounds a connection attempt that never ends. */
typedef struct cairn_dial_watch {
    uint64_t activity; /* the dialer's counters when they last moved */
    int64_t quiet_since_ms;
    bool known;
} cairn_dial_watch_t;

typedef struct cairn_dial {
    nng_socket sock;
    nng_dialer dialer;
    char *url, *cert_key, *ca;
    int min_ms, max_ms;
    cairn_dial_watch_t watch;
    unsigned redials; /* dead dialers replaced so far */
} cairn_dial_t;

void cairn_dial_watch_init(cairn_dial_watch_t *w, int64_t now_ms);
/* One look at a dialer: true when it has had no pipe and its counters
 * have not moved for window_ms. Pure; exposed for tests. */
bool cairn_dial_watch_step(cairn_dial_watch_t *w, bool has_pipe, uint64_t activity, int64_t now_ms,
                           int64_t window_ms);

/* Create and start a nonblocking dialer on sock (TLS applied from tls,
 * which is copied); reconnect backoff min_ms..max_ms. */
int cairn_dial_start(cairn_dial_t *d, nng_socket sock, const char *url, const cairn_tls_t *tls,
                     int min_ms, int max_ms, cairn_error_t *err);
/* 1: the dialer was dead and a new one was started; 0: nothing to do;
 * negative: the new dialer could not be made (err says why). */
int cairn_dial_check(cairn_dial_t *d, int64_t now_ms, cairn_error_t *err);
/* Frees what d holds; the dialer itself closes with its socket. */
void cairn_dial_fini(cairn_dial_t *d);

/* A peer that is just a pipe. */
static inline cairn_peer_t cairn_peer_pipe(nng_pipe p)
{
    cairn_peer_t peer = {.pipe = p, .hdr_len = 0};
    return peer;
}

#endif
