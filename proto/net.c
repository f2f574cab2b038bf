/* nng socket <-> libuv loop bridge; see net.h. */
#include "net.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct pipe_event {
    nng_pipe pipe;
    bool added;
} pipe_event_t;

struct cairn_net {
    uv_loop_t *loop;
    nng_socket sock;
    size_t max_msg;
    cairn_net_callbacks_t cb;
    uv_poll_t poll;
    uv_poll_t spoll; /* writability, while messages wait to be sent */
    uv_async_t async;
    /* messages nng could not take yet, sent in order once it can */
    nng_msg **outq;
    size_t out_head, out_len, out_cap;
    bool spolling;
    int handles_open;
    bool closing;
    /* pipe events from nng threads */
    pthread_mutex_t lock;
    pipe_event_t *events;
    size_t nevents, events_cap;
};

static void pipe_notify_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    cairn_net_t *n = arg;
    pthread_mutex_lock(&n->lock);
    if (!n->closing) {
        if (n->nevents == n->events_cap) {
            size_t cap = n->events_cap ? n->events_cap * 2 : 16;
            pipe_event_t *ne = realloc(n->events, cap * sizeof(*ne));
            if (ne) {
                n->events = ne;
                n->events_cap = cap;
            }
        }
        if (n->nevents < n->events_cap) {
            n->events[n->nevents++] = (pipe_event_t){p, ev == NNG_PIPE_EV_ADD_POST};
            uv_async_send(&n->async);
        }
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
        if (n->cb.pipe && !n->closing)
            n->cb.pipe(n, ev.pipe, ev.added, n->cb.arg);
    }
}

static void deliver(cairn_net_t *n, nng_msg *m)
{
    cairn_peer_t from = {.pipe = nng_msg_get_pipe(m)};
    size_t hl = nng_msg_header_len(m);
    if (hl <= sizeof(from.hdr)) {
        memcpy(from.hdr, nng_msg_header(m), hl);
        from.hdr_len = hl;
    }
    cairn_msg_type_t type;
    ProtobufCMessage *msg = NULL;
    cairn_error_t err = {{0}};
    int rc = cairn_msg_decode(nng_msg_body(m), nng_msg_len(m), n->max_msg, &type, &msg, &err);
    nng_msg_free(m);
    if (rc < 0) {
        if (n->cb.bad)
            n->cb.bad(n, &from, rc, err.text, n->cb.arg);
        return;
    }
    if (n->cb.recv)
        n->cb.recv(n, &from, type, msg, n->cb.arg);
    cairn_msg_free(msg);
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
    if (n->handles_open != 3) {
        cairn_net_destroy(n);
        return errcode(err, -ENOMEM, "cannot watch the socket");
    }
    uv_poll_start(&n->poll, UV_READABLE, poll_cb);
    nng_pipe_notify(sock, NNG_PIPE_EV_ADD_POST, pipe_notify_cb, n);
    nng_pipe_notify(sock, NNG_PIPE_EV_REM_POST, pipe_notify_cb, n);
    *out = n;
    return 0;
}

#define OUTQ_MAX 65536

static void spoll_cb(uv_poll_t *h, int status, int events);

/* Send what waits, in order, until nng pushes back. */
static void flush_out(cairn_net_t *n)
{
    while (n->out_len > 0) {
        nng_msg *m = n->outq[n->out_head];
        int rv = nng_sendmsg(n->sock, m, NNG_FLAG_NONBLOCK);
        if (rv == NNG_EAGAIN)
            break;
        if (rv != 0)
            nng_msg_free(m); /* its peer is gone */
        n->out_head = (n->out_head + 1) % n->out_cap;
        n->out_len--;
    }
    bool want = n->out_len > 0 && !n->closing;
    if (want != n->spolling) {
        n->spolling = want;
        if (want)
            uv_poll_start(&n->spoll, UV_READABLE, spoll_cb);
        else
            uv_poll_stop(&n->spoll);
    }
}

static void spoll_cb(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    cairn_net_t *n = h->data;
    n->spolling = false; /* flush_out restarts it if needed */
    uv_poll_stop(&n->spoll);
    flush_out(n);
}

static int enqueue(cairn_net_t *n, nng_msg *m)
{
    if (n->out_len == n->out_cap) {
        if (n->out_cap >= OUTQ_MAX)
            return -EAGAIN;
        size_t cap = n->out_cap ? n->out_cap * 2 : 64;
        nng_msg **q = malloc(cap * sizeof(*q));
        if (!q)
            return -ENOMEM;
        for (size_t i = 0; i < n->out_len; i++)
            q[i] = n->outq[(n->out_head + i) % n->out_cap];
        free(n->outq);
        n->outq = q;
        n->out_head = 0;
        n->out_cap = cap;
    }
    n->outq[(n->out_head + n->out_len) % n->out_cap] = m;
    n->out_len++;
    return 0;
}

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

int cairn_net_send_raw(cairn_net_t *n, const cairn_peer_t *to, const uint8_t *buf, size_t len,
                       cairn_error_t *err)
{
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, 0) != 0 || nng_msg_append(m, buf, len) != 0) {
        nng_msg_free(m);
        return errcode(err, -ENOMEM, "out of memory");
    }
    if (to) {
        if (to->hdr_len && nng_msg_header_append(m, to->hdr, to->hdr_len) != 0) {
            nng_msg_free(m);
            return errcode(err, -ENOMEM, "out of memory");
        }
        if (to->pipe.id)
            nng_msg_set_pipe(m, to->pipe);
    }
    int rv = n->out_len ? NNG_EAGAIN : nng_sendmsg(n->sock, m, NNG_FLAG_NONBLOCK);
    if (rv == NNG_EAGAIN) {
        int qrc = enqueue(n, m);
        if (qrc < 0) {
            nng_msg_free(m);
            return errcode(err, qrc, "send queue full");
        }
        if (!n->spolling) {
            n->spolling = true;
            uv_poll_start(&n->spoll, UV_READABLE, spoll_cb);
        }
        return 0;
    }
    if (rv != 0) {
        nng_msg_free(m);
        return errcode(err, -ENOTCONN, "send failed: %s", nng_strerror(rv));
    }
    return 0;
}

static void close_cb(uv_handle_t *h)
{
    cairn_net_t *n = h->data;
    if (--n->handles_open == 0) {
        for (size_t i = 0; i < n->out_len; i++)
            nng_msg_free(n->outq[(n->out_head + i) % n->out_cap]);
        free(n->outq);
        pthread_mutex_destroy(&n->lock);
        free(n->events);
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
    uv_close((uv_handle_t *)&n->async, close_cb);
}
