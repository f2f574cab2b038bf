/* nng socket <-> libuv loop bridge; see net.h, and net_private.h for how
 * its files divide the work. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/grow.h"
#include "proto/net_private.h"

static void pipe_notify_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    cairn_net_t *n = arg;
    pthread_mutex_lock(&n->lock);
    /* out of memory, the event is lost as if nng had not told it */
    if (!n->closing && CAIRN_GROW(n->events, n->events_cap, n->nevents + 1) == 0) {
        n->events[n->nevents++] = (pipe_event_t){p, ev == NNG_PIPE_EV_ADD_POST};
        uv_async_send(&n->async);
    }
    pthread_mutex_unlock(&n->lock);
}

static void async_cb(uv_async_t *h)
{
    cairn_net_t *n = h->data;
    for (;;) {
        pthread_mutex_lock(&n->lock);
        if (n->nevents == 0) {
            pthread_mutex_unlock(&n->lock);
            return;
        }
        pipe_event_t ev = n->events[0];
        memmove(n->events, n->events + 1, (n->nevents - 1) * sizeof(ev));
        n->nevents--;
        pthread_mutex_unlock(&n->lock);
        if (!ev.added) {
            net_flow_pipe_drop(n, nng_pipe_id(ev.pipe));
            net_authed_drop(n, nng_pipe_id(ev.pipe));
        }
        if (n->cb.pipe && !n->closing)
            n->cb.pipe(n, ev.pipe, ev.added, n->cb.arg);
    }
}

/* ---- receiving ----------------------------------------------------------- */

/* Decode one envelope and hand it on; batch: inside a Batch. The limit is
 * the pipe's at this moment: a message earlier in a batch may have
 * authenticated it. */
static void deliver_one(cairn_net_t *n, const cairn_peer_t *from, const uint8_t *buf, size_t len,
                        bool batch)
{
    cairn_msg_type_t type;
    ProtobufCMessage *msg = NULL;
    cairn_error_t err = {{0}};
    size_t max = cairn_net_pipe_max(n, from->pipe);
    int rc = cairn_msg_decode(buf, len, max, &type, &msg, &err);
    if (rc == 0 && batch && type == CAIRN_MSG_BATCH) {
        cairn_msg_free(msg);
        rc = errcode(&err, -EBADMSG, "a %s inside a batch", cairn_msg_type_name(type));
    }
    if (rc < 0) {
        char why[sizeof(err.text) + 64];
        snprintf(why, sizeof(why), "%s%s", err.text,
                 rc == -EMSGSIZE && max < n->max_msg ? " (limit for a peer not authenticated yet)"
                                                     : "");
        if (n->cb.bad)
            n->cb.bad(n, from, rc, why, n->cb.arg);
        return;
    }
    if (type == CAIRN_MSG_BATCH) {
        const Cairn__Batch *b = (const Cairn__Batch *)msg;
        for (size_t i = 0; i < b->n_messages && !n->closing; i++)
            deliver_one(n, from, b->messages[i].data, b->messages[i].len, true);
    } else if (type == CAIRN_MSG_DELIVERED) {
        if (n->flow == CAIRN_NET_FLOW_SENDER)
            net_flow_delivered(n, nng_pipe_id(from->pipe), ((const Cairn__Delivered *)msg)->count);
    } else if (n->cb.recv) {
        n->cb.recv(n, from, type, msg, n->cb.arg);
    }
    cairn_msg_free(msg);
}

static void deliver(cairn_net_t *n, nng_msg *m)
{
    cairn_peer_t from = {.pipe = nng_msg_get_pipe(m)};
    size_t hl = nng_msg_header_len(m);
    if (hl <= sizeof(from.hdr)) {
        memcpy(from.hdr, nng_msg_header(m), hl);
        from.hdr_len = hl;
    }
    net_flow_received(n, from.pipe);
    deliver_one(n, &from, nng_msg_body(m), nng_msg_len(m), false);
    nng_msg_free(m);
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
    cairn_net_t *n = h->data;
    (void)events;
    if (status < 0)
        return;
    /* drain everything queued: one wake-up, many messages */
    while (!n->closing) {
        nng_msg *m = NULL;
        int rv = nng_recvmsg(n->sock, &m, NNG_FLAG_NONBLOCK);
        if (rv != 0)
            break;
        deliver(n, m);
    }
    net_flow_drained(n);
}

int cairn_net_create(uv_loop_t *loop, nng_socket sock, size_t max_msg,
                     const cairn_net_callbacks_t *cb, cairn_net_t **out, cairn_error_t *err)
{
    cairn_net_t *n = calloc(1, sizeof(*n));
    if (!n)
        return errcode(err, -ENOMEM, "out of memory");
    n->loop = loop;
    n->sock = sock;
    n->max_msg = max_msg ? max_msg : CAIRN_MSG_MAX_DEFAULT;
    n->preauth_max = n->max_msg;
    n->cb = *cb;
    pthread_mutex_init(&n->lock, NULL);
    int fd = -1, rv;
    /* nng's limit counts the whole message; ours adds the envelope */
    nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, n->max_msg + CAIRN_MSG_HEADER_SIZE);
    if ((rv = nng_socket_get_int(sock, NNG_OPT_RECVFD, &fd)) != 0) {
        pthread_mutex_destroy(&n->lock);
        free(n);
        return errcode(err, -EINVAL, "socket has no receive fd: %s", nng_strerror(rv));
    }
    int sfd = -1;
    if ((rv = nng_socket_get_int(sock, NNG_OPT_SENDFD, &sfd)) != 0) {
        pthread_mutex_destroy(&n->lock);
        free(n);
        return errcode(err, -EINVAL, "socket has no send fd: %s", nng_strerror(rv));
    }
    if (uv_async_init(loop, &n->async, async_cb) < 0) {
        pthread_mutex_destroy(&n->lock);
        free(n);
        return errcode(err, -ENOMEM, "cannot watch the socket");
    }
    n->async.data = n->poll.data = n->spoll.data = n;
    n->handles_open = 1;
    if (uv_poll_init(loop, &n->poll, fd) == 0)
        n->handles_open++;
    if (uv_poll_init(loop, &n->spoll, sfd) == 0)
        n->handles_open++;
    if (uv_prepare_init(loop, &n->fprep) == 0)
        n->handles_open++;
    if (uv_timer_init(loop, &n->lazy_timer) == 0)
        n->handles_open++;
    n->fprep.data = n->lazy_timer.data = n;
    if (n->handles_open != 5) {
        cairn_net_destroy(n);
        return errcode(err, -ENOMEM, "cannot watch the socket");
    }
    uv_poll_start(&n->poll, UV_READABLE, poll_cb);
    nng_pipe_notify(sock, NNG_PIPE_EV_ADD_POST, pipe_notify_cb, n);
    nng_pipe_notify(sock, NNG_PIPE_EV_REM_POST, pipe_notify_cb, n);
    *out = n;
    return 0;
}

/* ---- sending ------------------------------------------------------------- */

int cairn_net_send(cairn_net_t *n, const cairn_peer_t *to, cairn_msg_type_t type,
                   const ProtobufCMessage *msg, cairn_error_t *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = cairn_msg_encode(type, msg, &buf, &len, err);
    if (rc < 0)
        return rc;
    rc = cairn_net_send_raw(n, to, buf, len, err);
    free(buf);
    return rc;
}

int cairn_net_send_raw_lazy(cairn_net_t *n, const cairn_peer_t *to, const uint8_t *buf, size_t len,
                            bool lazy, cairn_error_t *err)
{
    /* (a pair1 peer's header is its hop count, which nng sets again) */
    if (n->flow == CAIRN_NET_FLOW_SENDER && to && to->pipe.id)
        return net_flow_queue(n, to->pipe.id, buf, len, lazy, err);
    if (n->flow == CAIRN_NET_FLOW_RECEIVER) /* one peer: pipe 0 is "the peer" */
        return net_flow_queue(n, 0, buf, len, lazy, err);
    return net_out_send(n, to, buf, len, err);
}

int cairn_net_send_raw(cairn_net_t *n, const cairn_peer_t *to, const uint8_t *buf, size_t len,
                       cairn_error_t *err)
{
    return cairn_net_send_raw_lazy(n, to, buf, len, false, err);
}

static void close_cb(uv_handle_t *h)
{
    cairn_net_t *n = h->data;
    if (--n->handles_open == 0) {
        net_flow_fini(n);
        net_out_fini(n);
        pthread_mutex_destroy(&n->lock);
        free(n->events);
        free(n->authed);
        free(n);
    }
}

void cairn_net_destroy(cairn_net_t *n)
{
    if (!n)
        return;
    pthread_mutex_lock(&n->lock);
    n->closing = true;
    pthread_mutex_unlock(&n->lock);
    /* stop further notifications from nng threads */
    nng_pipe_notify(n->sock, NNG_PIPE_EV_ADD_POST, NULL, NULL);
    nng_pipe_notify(n->sock, NNG_PIPE_EV_REM_POST, NULL, NULL);
    if (n->poll.loop)
        uv_close((uv_handle_t *)&n->poll, close_cb);
    if (n->spoll.loop)
        uv_close((uv_handle_t *)&n->spoll, close_cb);
    if (n->fprep.loop)
        uv_close((uv_handle_t *)&n->fprep, close_cb);
    if (n->lazy_timer.loop)
        uv_close((uv_handle_t *)&n->lazy_timer, close_cb);
    uv_close((uv_handle_t *)&n->async, close_cb);
}
