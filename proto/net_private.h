/* Internals of the nng <-> libuv bridge (net.h), shared by its files:
 *
 *   net.c          the bridge: create/destroy, receiving (one uv_poll_t on
 *                  NNG_OPT_RECVFD, drained per wake-up), pipe events (a
 *                  locked queue and one uv_async_t), cairn_net_send*
 *   net_flow.c     flow control for pair1 polyamorous sockets
 *                  (cairn_net_set_flow): per-pipe queues, Batch, Delivered
 *   net_out.c      handing envelopes to nng, and the queue (a ring) of
 *                  those it could not take yet
 *   net_auth.c     inbound limits by authentication (cairn_net_set_auth)
 *   nng_threads.c  nng's own threads: the bounded close, signals blocked
 *
 * Calls go down that list, never up: net.c uses the three below it,
 * net_flow.c uses net_out.c and net_auth.c, and those two use nothing of
 * the others.
 *
 * Everything here runs on the loop thread, but for pipe_notify_cb (net.c),
 * which nng calls on its threads and which touches only the locked queue. */
#ifndef CAIRN_PROTO_NET_PRIVATE_H
#define CAIRN_PROTO_NET_PRIVATE_H

#include <pthread.h>

#include "proto/net.h"

typedef struct pipe_event {
    nng_pipe pipe;
    bool added;
} pipe_event_t;

/* An encoded envelope waiting for a pipe's window (flow control). */
typedef struct flow_item {
    uint8_t *buf;
    size_t len;
    bool lazy;  /* it may wait (cairn_net_send_raw_lazy) */
    bool alone; /* it goes in an nng message of its own */
} flow_item_t;

/* Flow control toward one pipe (CAIRN_NET_FLOW_SENDER). */
typedef struct flow_pipe {
    uint32_t id;
    uint64_t sent, delivered; /* nng messages sent, and confirmed by the peer */
    flow_item_t *items;
    size_t nitems, cap, bytes;
    size_t nurgent;      /* items not lazy */
    uint64_t lazy_since; /* loop time the oldest waiting item was queued */
    bool authed;         /* the pipe was authenticated when the last item was queued */
} flow_pipe_t;

struct cairn_net {
    uv_loop_t *loop;
    nng_socket sock;
    size_t max_msg;
    cairn_net_callbacks_t cb;
    uv_poll_t poll;
    uv_poll_t spoll; /* writability, while messages wait to be sent */
    uv_async_t async;
    /* messages nng could not take yet, sent in order once it can (a ring) */
    nng_msg **outq;
    size_t out_head, out_len, out_cap;
    bool spolling;
    int handles_open;
    bool closing;
    /* pipe events from nng threads */
    pthread_mutex_t lock;
    pipe_event_t *events;
    size_t nevents, events_cap;
    /* flow control */
    cairn_net_flow_t flow;
    flow_pipe_t *fp; /* ascending ids */
    size_t nfp, fp_cap;
    uv_prepare_t fprep;
    bool fprep_on;
    uv_timer_t lazy_timer; /* sends lazy items that waited CAIRN_NET_LAZY_MS */
    bool lazy_on;
    uint32_t rx_pipe;           /* receiver: the pipe counted */
    uint64_t rx_count, rx_told; /* messages received on it, and confirmed */
    /* inbound limits by authentication (cairn_net_set_auth) */
    cairn_net_auth_t auth;
    size_t preauth_max;
    uint32_t *authed; /* ascending ids of pipes cairn_net_pipe_authenticate() raised */
    size_t nauthed, authed_cap;
};

/* net_out.c: hand an envelope to nng now, or queue it while nng pushes
 * back; to NULL: any peer. 0, -ENOMEM, -EAGAIN (queue full), -ENOTCONN. */
int net_out_send(cairn_net_t *n, const cairn_peer_t *to, const uint8_t *buf, size_t len,
                 cairn_error_t *err);
/* net_out.c: the same to pipe (0: the one peer). */
int net_send_now(cairn_net_t *n, uint32_t pipe, const uint8_t *buf, size_t len, cairn_error_t *err);
/* net_out.c: free what still waits (the handles are closed). */
void net_out_fini(cairn_net_t *n);

/* net_auth.c: whether messages from p get max_msg (else preauth_max). */
bool net_pipe_authed(const cairn_net_t *n, nng_pipe p);
/* net_auth.c: forget a pipe that closed. */
void net_authed_drop(cairn_net_t *n, uint32_t id);

/* net_flow.c: a Delivered count from the peer on pipe (sender side). */
void net_flow_delivered(cairn_net_t *n, uint32_t pipe, uint64_t count);
/* net_flow.c: a message arrived on pipe (receiver side counts them). */
void net_flow_received(cairn_net_t *n, nng_pipe pipe);
/* net_flow.c: the socket was drained: confirm a full window now. */
void net_flow_drained(cairn_net_t *n);
/* net_flow.c: queue an envelope for pipe (0: the one peer), sent before
 * the loop next waits. 0, -ENOMEM, -ENOBUFS (the peer stopped reading:
 * disconnected). */
int net_flow_queue(cairn_net_t *n, uint32_t pipe, const uint8_t *buf, size_t len, bool lazy,
                   cairn_error_t *err);
/* net_flow.c: forget a pipe that closed, with what waits for it. */
void net_flow_pipe_drop(cairn_net_t *n, uint32_t id);
/* net_flow.c: free every queue (the handles are closed). */
void net_flow_fini(cairn_net_t *n);

#endif
