/* What goes to nng: an envelope handed over at once, or queued (a ring, in
 * order) while nng pushes back and sent when the socket is writable; see
 * net_private.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/grow.h"
#include "proto/net_private.h"

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
        size_t old = n->out_cap;
        if (CAIRN_GROW(n->outq, n->out_cap, old + 1) < 0)
            return -ENOMEM;
        /* the ring is full: the part before the head follows the rest, in
         * the new room (at least old more) */
        memcpy(n->outq + old, n->outq, n->out_head * sizeof(*n->outq));
    }
    n->outq[(n->out_head + n->out_len) % n->out_cap] = m;
    n->out_len++;
    return 0;
}

int net_out_send(cairn_net_t *n, const cairn_peer_t *to, const uint8_t *buf, size_t len,
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

int net_send_now(cairn_net_t *n, uint32_t pipe, const uint8_t *buf, size_t len, cairn_error_t *err)
{
    cairn_peer_t to = {.pipe = {.id = pipe}};
    return net_out_send(n, pipe ? &to : NULL, buf, len, err);
}

size_t cairn_net_backlog(const cairn_net_t *n)
{
    return n->out_len;
}

void net_out_fini(cairn_net_t *n)
{
    for (size_t i = 0; i < n->out_len; i++)
        nng_msg_free(n->outq[(n->out_head + i) % n->out_cap]);
    free(n->outq);
    n->outq = NULL;
    n->out_head = n->out_len = n->out_cap = 0;
}
