/* nng socket <-> libuv loop bridge; see net.h. */
#include "proto/net.h"

#include <errno.h>
#include <nng/protocol/pair1/pair.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct pipe_event {
    nng_pipe pipe;
    bool added;
} pipe_event_t;

/* Flow control toward one pipe (CAIRN_NET_FLOW_SENDER). */
typedef struct flow_pipe {
    uint32_t id;
    uint64_t sent, delivered; /* nng messages sent, and confirmed by the peer */
    uint8_t **items;          /* encoded envelopes waiting for the window */
    size_t *lens;
    bool *lazy;  /* the item may wait (cairn_net_send_raw_lazy) */
    bool *alone; /* the item goes in an nng message of its own */
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

static void flow_pipe_drop(cairn_net_t *n, uint32_t id);
static void authed_drop(cairn_net_t *n, uint32_t id);

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
        if (!ev.added) {
            flow_pipe_drop(n, nng_pipe_id(ev.pipe));
            authed_drop(n, nng_pipe_id(ev.pipe));
        }
        if (n->cb.pipe && !n->closing)
            n->cb.pipe(n, ev.pipe, ev.added, n->cb.arg);
    }
}

static void flow_delivered(cairn_net_t *n, uint32_t pipe, uint64_t count);

/* ---- inbound limits by authentication ----------------------------------- */

static size_t authed_lower(const cairn_net_t *n, uint32_t id)
{
    size_t lo = 0, hi = n->nauthed;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (n->authed[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool authed_has(const cairn_net_t *n, uint32_t id)
{
    size_t i = authed_lower(n, id);
    return i < n->nauthed && n->authed[i] == id;
}

static void authed_drop(cairn_net_t *n, uint32_t id)
{
    size_t i = authed_lower(n, id);
    if (i < n->nauthed && n->authed[i] == id) {
        memmove(n->authed + i, n->authed + i + 1, (n->nauthed - i - 1) * sizeof(*n->authed));
        n->nauthed--;
    }
}

/* The kernel vouches for an ipc:// peer's uid; TLS for a peer whose
 * certificate it verified against the CA. */
static bool transport_vouches(nng_pipe p)
{
    uint64_t uid = 0;
    bool verified = false;
    if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_UID, &uid) == 0)
        return true;
    return nng_pipe_get_bool(p, NNG_OPT_TLS_VERIFIED, &verified) == 0 && verified;
}

static bool pipe_authed(const cairn_net_t *n, nng_pipe p)
{
    return n->auth == CAIRN_NET_AUTH_NONE || authed_has(n, nng_pipe_id(p)) ||
           (n->auth == CAIRN_NET_AUTH_TRANSPORT && transport_vouches(p));
}

size_t cairn_net_pipe_max(const cairn_net_t *n, nng_pipe p)
{
    return pipe_authed(n, p) ? n->max_msg : n->preauth_max;
}

void cairn_net_set_auth(cairn_net_t *n, cairn_net_auth_t auth, size_t preauth_max)
{
    n->auth = auth;
    if (preauth_max == 0)
        preauth_max = CAIRN_MSG_PREAUTH_MAX;
    n->preauth_max = preauth_max < n->max_msg ? preauth_max : n->max_msg;
}

int cairn_net_pipe_authenticate(cairn_net_t *n, nng_pipe p, cairn_error_t *err)
{
    if (nng_pipe_id(p) <= 0)
        return errcode(err, -EINVAL, "no pipe to authenticate");
    uint32_t id = (uint32_t)nng_pipe_id(p);
    /* a pipe already closed would stay in the table: its removal is past */
    if (nng_socket_id(nng_pipe_socket(p)) != nng_socket_id(n->sock))
        return errcode(err, -ENOTCONN, "pipe %u is closed", id);
    size_t i = authed_lower(n, id);
    if (i < n->nauthed && n->authed[i] == id)
        return 0;
    if (n->nauthed == n->authed_cap) {
        size_t cap = n->authed_cap ? n->authed_cap * 2 : 16;
        uint32_t *na = realloc(n->authed, cap * sizeof(*na));
        if (!na)
            return errcode(err, -ENOMEM, "out of memory");
        n->authed = na;
        n->authed_cap = cap;
    }
    memmove(n->authed + i + 1, n->authed + i, (n->nauthed - i) * sizeof(*n->authed));
    n->authed[i] = id;
    n->nauthed++;
    return 0;
}

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
            flow_delivered(n, nng_pipe_id(from->pipe), ((const Cairn__Delivered *)msg)->count);
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
    if (n->flow == CAIRN_NET_FLOW_RECEIVER) {
        uint32_t id = nng_pipe_id(from.pipe);
        if (id != n->rx_pipe)
            n->rx_pipe = id, n->rx_count = n->rx_told = 0;
        n->rx_count++;
    }
    deliver_one(n, &from, nng_msg_body(m), nng_msg_len(m), false);
    nng_msg_free(m);
}

#define FLOW_WINDOW 2 /* nng's pair1 poly queue per pipe holds two */

/* Receiver: confirm what was received (and handled) so far. */
static void tell_delivered(cairn_net_t *n)
{
    if (n->flow != CAIRN_NET_FLOW_RECEIVER || n->rx_count == n->rx_told || n->closing)
        return;
    Cairn__Delivered d = CAIRN__DELIVERED__INIT;
    d.count = n->rx_count;
    if (cairn_net_send(n, NULL, CAIRN_MSG_DELIVERED, &d.base, NULL) == 0)
        n->rx_told = n->rx_count;
}

/* Receiver: the sender may send FLOW_WINDOW messages unconfirmed, so a
 * confirmation rides the next message toward it; only a full window is
 * confirmed at once (the sender waits for that one). */
static void delivered_later(cairn_net_t *n)
{
    if (n->flow == CAIRN_NET_FLOW_RECEIVER && n->rx_count - n->rx_told >= FLOW_WINDOW)
        tell_delivered(n);
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
    delivered_later(n);
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

/* ---- flow control (sender) -------------------------------------------- */

static size_t fp_lower(const cairn_net_t *n, uint32_t id)
{
    size_t lo = 0, hi = n->nfp;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (n->fp[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static flow_pipe_t *fp_get(cairn_net_t *n, uint32_t id, bool make)
{
    size_t i = fp_lower(n, id);
    if (i < n->nfp && n->fp[i].id == id)
        return &n->fp[i];
    if (!make)
        return NULL;
    if (n->nfp == n->fp_cap) {
        size_t cap = n->fp_cap ? n->fp_cap * 2 : 16;
        flow_pipe_t *nf = realloc(n->fp, cap * sizeof(*nf));
        if (!nf)
            return NULL;
        n->fp = nf;
        n->fp_cap = cap;
    }
    memmove(n->fp + i + 1, n->fp + i, (n->nfp - i) * sizeof(*n->fp));
    n->nfp++;
    memset(&n->fp[i], 0, sizeof(n->fp[i]));
    n->fp[i].id = id;
    return &n->fp[i];
}

static void fp_clear(flow_pipe_t *f)
{
    for (size_t i = 0; i < f->nitems; i++)
        free(f->items[i]);
    free(f->items);
    free(f->lens);
    free(f->lazy);
    free(f->alone);
}

static void flow_pipe_drop(cairn_net_t *n, uint32_t id)
{
    size_t i = fp_lower(n, id);
    if (i >= n->nfp || n->fp[i].id != id)
        return;
    fp_clear(&n->fp[i]);
    memmove(n->fp + i, n->fp + i + 1, (n->nfp - i - 1) * sizeof(*n->fp));
    n->nfp--;
}

static int send_now(cairn_net_t *n, uint32_t pipe, const uint8_t *buf, size_t len,
                    cairn_error_t *err);

static bool fp_open(const cairn_net_t *n, const flow_pipe_t *f)
{
    /* the receiver side batches toward its one peer, which pushes back */
    return n->flow == CAIRN_NET_FLOW_RECEIVER || f->sent - f->delivered < FLOW_WINDOW;
}

/* Send what waits for f while its window allows: one message, a Batch
 * when several wait (each at most max_msg). */
static void fp_flush(cairn_net_t *n, flow_pipe_t *f)
{
    while (f->nitems > 0 && fp_open(n, f)) {
        size_t k = 0, total = 0;
        while (k < f->nitems &&
               (k == 0 || (!f->alone[0] && !f->alone[k] && total + f->lens[k] + 16 < n->max_msg))) {
            total += f->lens[k] + 16;
            k++;
        }
        int rc;
        if (k == 1) {
            rc = send_now(n, f->id, f->items[0], f->lens[0], NULL);
        } else {
            Cairn__Batch b = CAIRN__BATCH__INIT;
            ProtobufCBinaryData *v = malloc(k * sizeof(*v));
            if (!v)
                return;
            for (size_t i = 0; i < k; i++)
                v[i] = (ProtobufCBinaryData){.len = f->lens[i], .data = f->items[i]};
            b.messages = v;
            b.n_messages = k;
            uint8_t *buf = NULL;
            size_t len = 0;
            rc = cairn_msg_encode(CAIRN_MSG_BATCH, &b.base, &buf, &len, NULL);
            free(v);
            if (rc == 0)
                rc = send_now(n, f->id, buf, len, NULL);
            free(buf);
        }
        (void)rc; /* a pipe that is gone: its removal drops the rest */
        f->sent++;
        for (size_t i = 0; i < k; i++) {
            f->bytes -= f->lens[i];
            f->nurgent -= !f->lazy[i];
            free(f->items[i]);
        }
        memmove(f->items, f->items + k, (f->nitems - k) * sizeof(*f->items));
        memmove(f->lens, f->lens + k, (f->nitems - k) * sizeof(*f->lens));
        memmove(f->lazy, f->lazy + k, (f->nitems - k) * sizeof(*f->lazy));
        memmove(f->alone, f->alone + k, (f->nitems - k) * sizeof(*f->alone));
        f->nitems -= k;
    }
}

static void lazy_timer_cb(uv_timer_t *t);
static void fprep_arm(cairn_net_t *n);

static void fprep_cb(uv_prepare_t *h)
{
    cairn_net_t *n = h->data;
    bool left = false, lazy_left = false;
    uint64_t now = uv_now(n->loop);
    if (n->flow == CAIRN_NET_FLOW_RECEIVER && n->nfp > 0 && n->fp[0].nitems > 0)
        tell_delivered(n); /* rides with what goes out anyway */
    for (size_t i = 0; i < n->nfp; i++) {
        flow_pipe_t *f = &n->fp[i];
        /* lazy items wait for one that is not, or for their time */
        if (f->nurgent > 0 || (f->nitems > 0 && now - f->lazy_since >= CAIRN_NET_LAZY_MS))
            fp_flush(n, f);
        left = left || (f->nurgent > 0 && fp_open(n, f));
        lazy_left = lazy_left || (f->nitems > 0 && f->nurgent == 0);
    }
    if (!left) {
        uv_prepare_stop(h);
        n->fprep_on = false;
    }
    if (lazy_left && !n->lazy_on && !n->closing) {
        n->lazy_on = true;
        uv_timer_start(&n->lazy_timer, lazy_timer_cb, CAIRN_NET_LAZY_MS, 0);
    }
}

static void lazy_timer_cb(uv_timer_t *t)
{
    cairn_net_t *n = t->data;
    n->lazy_on = false;
    fprep_arm(n);
}

static void fprep_arm(cairn_net_t *n)
{
    if (!n->fprep_on && !n->closing) {
        n->fprep_on = true;
        uv_prepare_start(&n->fprep, fprep_cb);
    }
}

static void flow_delivered(cairn_net_t *n, uint32_t pipe, uint64_t count)
{
    flow_pipe_t *f = fp_get(n, pipe, false);
    if (!f || count <= f->delivered || count > f->sent)
        return; /* stale, or a peer that counts wrong: ignored */
    f->delivered = count;
    if (f->nitems)
        fprep_arm(n);
}

/* Queue an envelope for pipe; sent before the loop next waits (lazy: with
 * the next one that is not, or CAIRN_NET_LAZY_MS later). */
static int flow_queue(cairn_net_t *n, uint32_t pipe, const uint8_t *buf, size_t len, bool lazy,
                      cairn_error_t *err)
{
    flow_pipe_t *f = fp_get(n, pipe, true);
    if (!f)
        return errcode(err, -ENOMEM, "out of memory");
    if (pipe && f->bytes + len > CAIRN_NET_FLOW_MAX_BYTES) {
        /* the peer stopped reading: drop it, it reconnects and resyncs */
        nng_pipe p = {.id = pipe};
        nng_pipe_close(p);
        flow_pipe_drop(n, pipe);
        return errcode(err, -ENOBUFS, "peer %u does not read: connection closed", pipe);
    }
    if (f->nitems == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        uint8_t **ni = realloc(f->items, cap * sizeof(*ni));
        if (ni)
            f->items = ni;
        size_t *nl = ni ? realloc(f->lens, cap * sizeof(*nl)) : NULL;
        if (nl)
            f->lens = nl;
        bool *nz = nl ? realloc(f->lazy, cap * sizeof(*nz)) : NULL;
        if (nz)
            f->lazy = nz;
        bool *na = nz ? realloc(f->alone, cap * sizeof(*na)) : NULL;
        if (!na)
            return errcode(err, -ENOMEM, "out of memory");
        f->alone = na;
        f->cap = cap;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return errcode(err, -ENOMEM, "out of memory");
    memcpy(copy, buf, len);
    if (f->nitems == 0)
        f->lazy_since = uv_now(n->loop);
    /* Around authentication each message travels alone: the peer raises
     * its own limit on the reply that accepts it, and takes what follows
     * in a batch only after that reply. */
    bool checked = pipe != 0 && n->auth != CAIRN_NET_AUTH_NONE;
    bool authed = !checked || pipe_authed(n, (nng_pipe){.id = pipe});
    f->alone[f->nitems] = checked && (!authed || !f->authed);
    f->authed = authed;
    f->items[f->nitems] = copy;
    f->lazy[f->nitems] = lazy;
    f->lens[f->nitems++] = len;
    f->bytes += len;
    f->nurgent += !lazy;
    fprep_arm(n);
    return 0;
}

void cairn_net_set_flow(cairn_net_t *n, cairn_net_flow_t flow)
{
    n->flow = flow;
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

/* Hand an envelope to nng now, or queue it while nng pushes back. */
static int send_msg(cairn_net_t *n, const cairn_peer_t *to, const uint8_t *buf, size_t len,
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

int cairn_net_send_raw_lazy(cairn_net_t *n, const cairn_peer_t *to, const uint8_t *buf, size_t len,
                            bool lazy, cairn_error_t *err)
{
    /* (a pair1 peer's header is its hop count, which nng sets again) */
    if (n->flow == CAIRN_NET_FLOW_SENDER && to && to->pipe.id)
        return flow_queue(n, to->pipe.id, buf, len, lazy, err);
    if (n->flow == CAIRN_NET_FLOW_RECEIVER) /* one peer: pipe 0 is "the peer" */
        return flow_queue(n, 0, buf, len, lazy, err);
    return send_msg(n, to, buf, len, err);
}

int cairn_net_send_raw(cairn_net_t *n, const cairn_peer_t *to, const uint8_t *buf, size_t len,
                       cairn_error_t *err)
{
    return cairn_net_send_raw_lazy(n, to, buf, len, false, err);
}

/* Past the window: to pipe, or to the one peer (pipe 0). */
static int send_now(cairn_net_t *n, uint32_t pipe, const uint8_t *buf, size_t len,
                    cairn_error_t *err)
{
    cairn_peer_t to = {.pipe = {.id = pipe}};
    return send_msg(n, pipe ? &to : NULL, buf, len, err);
}

struct bounded_close {
    nng_socket s;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    bool done, abandoned;
};

static void *close_thread(void *arg)
{
    struct bounded_close *b = arg;
    nng_close(b->s);
    pthread_mutex_lock(&b->lock);
    b->done = true;
    bool abandoned = b->abandoned;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->lock);
    if (abandoned) {
        pthread_mutex_destroy(&b->lock);
        pthread_cond_destroy(&b->cv);
        free(b);
    }
    return NULL;
}

int cairn_nng_close_bounded(nng_socket s, int ms)
{
    struct bounded_close *b = calloc(1, sizeof(*b));
    pthread_t th;
    if (!b) {
        nng_close(s);
        return 0;
    }
    b->s = s;
    pthread_mutex_init(&b->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&th, NULL, close_thread, b) != 0) {
        nng_close(s);
        pthread_mutex_destroy(&b->lock);
        pthread_cond_destroy(&b->cv);
        free(b);
        return 0;
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&b->lock);
    while (!b->done && pthread_cond_timedwait(&b->cv, &b->lock, &until) == 0)
        ;
    bool done = b->done;
    b->abandoned = !done;
    pthread_mutex_unlock(&b->lock);
    if (!done) {
        pthread_detach(th); /* it frees b if nng_close ever returns */
        return -ETIMEDOUT;
    }
    pthread_join(th, NULL);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->cv);
    free(b);
    return 0;
}

static void close_cb(uv_handle_t *h)
{
    cairn_net_t *n = h->data;
    if (--n->handles_open == 0) {
        for (size_t i = 0; i < n->nfp; i++)
            fp_clear(&n->fp[i]);
        free(n->fp);
        for (size_t i = 0; i < n->out_len; i++)
            nng_msg_free(n->outq[(n->out_head + i) % n->out_cap]);
        free(n->outq);
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

int cairn_nng_threads_start(void)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    /* nng starts all its threads when its first socket opens */
    nng_socket s;
    int rv = nng_pair1_open(&s);
    if (rv == 0)
        nng_close(s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rv;
}
