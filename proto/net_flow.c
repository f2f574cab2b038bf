/* Flow control for pair1 polyamorous sockets; see net.h
 * (cairn_net_set_flow). The sender keeps a queue per pipe (sorted by id)
 * and at most FLOW_WINDOW nng messages unconfirmed per pipe; the receiver
 * counts what it drains and confirms it with a Delivered. Both send what
 * waits from a prepare handle: once per loop iteration, as one message (a
 * Batch when several wait). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/grow.h"
#include "common/search.h"
#include "proto/net_private.h"

#define FLOW_WINDOW 2 /* nng's pair1 poly queue per pipe holds two */

static uint64_t fp_key(const void *elem)
{
    return ((const flow_pipe_t *)elem)->id;
}

static size_t fp_lower(const cairn_net_t *n, uint32_t id)
{
    return cairn_lower_bound(n->fp, n->nfp, sizeof(*n->fp), id, fp_key);
}

static flow_pipe_t *fp_get(cairn_net_t *n, uint32_t id, bool make)
{
    size_t i = fp_lower(n, id);
    if (i < n->nfp && n->fp[i].id == id)
        return &n->fp[i];
    if (!make)
        return NULL;
    if (CAIRN_GROW(n->fp, n->fp_cap, n->nfp + 1) < 0)
        return NULL;
    memmove(n->fp + i + 1, n->fp + i, (n->nfp - i) * sizeof(*n->fp));
    n->nfp++;
    memset(&n->fp[i], 0, sizeof(n->fp[i]));
    n->fp[i].id = id;
    return &n->fp[i];
}

static void fp_clear(flow_pipe_t *f)
{
    for (size_t i = 0; i < f->nitems; i++)
        free(f->items[i].buf);
    free(f->items);
}

void net_flow_pipe_drop(cairn_net_t *n, uint32_t id)
{
    size_t i = fp_lower(n, id);
    if (i >= n->nfp || n->fp[i].id != id)
        return;
    fp_clear(&n->fp[i]);
    memmove(n->fp + i, n->fp + i + 1, (n->nfp - i - 1) * sizeof(*n->fp));
    n->nfp--;
}

void net_flow_fini(cairn_net_t *n)
{
    for (size_t i = 0; i < n->nfp; i++)
        fp_clear(&n->fp[i]);
    free(n->fp);
    n->fp = NULL;
    n->nfp = n->fp_cap = 0;
}

/* ---- receiver ------------------------------------------------------------ */

void net_flow_received(cairn_net_t *n, nng_pipe pipe)
{
    if (n->flow != CAIRN_NET_FLOW_RECEIVER)
        return;
    uint32_t id = nng_pipe_id(pipe);
    if (id != n->rx_pipe)
        n->rx_pipe = id, n->rx_count = n->rx_told = 0;
    n->rx_count++;
}

/* Receiver: confirm what was received (and handled) so far. */
static void tell_delivered(cairn_net_t *n)
{
    if (n->flow != CAIRN_NET_FLOW_RECEIVER || n->rx_count == n->rx_told || n->closing)
        return;
    Cairn__Delivered d = CAIRN__DELIVERED__INIT;
    d.count = n->rx_count;
    uint8_t *buf = NULL;
    size_t len = 0;
    /* toward the one peer, in order with what waits for it */
    if (cairn_msg_encode(CAIRN_MSG_DELIVERED, &d.base, &buf, &len, NULL) == 0 &&
        net_flow_queue(n, 0, buf, len, false, NULL) == 0)
        n->rx_told = n->rx_count;
    free(buf);
}

/* Receiver: the sender may send FLOW_WINDOW messages unconfirmed, so a
 * confirmation rides the next message toward it; only a full window is
 * confirmed at once (the sender waits for that one). */
void net_flow_drained(cairn_net_t *n)
{
    if (n->flow == CAIRN_NET_FLOW_RECEIVER && n->rx_count - n->rx_told >= FLOW_WINDOW)
        tell_delivered(n);
}

/* ---- sender -------------------------------------------------------------- */

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
        const flow_item_t *it = f->items;
        size_t k = 0, total = 0;
        while (k < f->nitems &&
               (k == 0 || (!it[0].alone && !it[k].alone && total + it[k].len + 16 < n->max_msg))) {
            total += it[k].len + 16;
            k++;
        }
        int rc;
        if (k == 1) {
            rc = net_send_now(n, f->id, it[0].buf, it[0].len, NULL);
        } else {
            Cairn__Batch b = CAIRN__BATCH__INIT;
            ProtobufCBinaryData *v = malloc(k * sizeof(*v));
            if (!v)
                return;
            for (size_t i = 0; i < k; i++)
                v[i] = (ProtobufCBinaryData){.len = it[i].len, .data = it[i].buf};
            b.messages = v;
            b.n_messages = k;
            uint8_t *buf = NULL;
            size_t len = 0;
            rc = cairn_msg_encode(CAIRN_MSG_BATCH, &b.base, &buf, &len, NULL);
            free(v);
            if (rc == 0)
                rc = net_send_now(n, f->id, buf, len, NULL);
            free(buf);
        }
        (void)rc; /* a pipe that is gone: its removal drops the rest */
        f->sent++;
        for (size_t i = 0; i < k; i++) {
            f->bytes -= it[i].len;
            f->nurgent -= !it[i].lazy;
            free(it[i].buf);
        }
        memmove(f->items, f->items + k, (f->nitems - k) * sizeof(*f->items));
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

void net_flow_delivered(cairn_net_t *n, uint32_t pipe, uint64_t count)
{
    flow_pipe_t *f = fp_get(n, pipe, false);
    if (!f || count <= f->delivered || count > f->sent)
        return; /* stale, or a peer that counts wrong: ignored */
    f->delivered = count;
    if (f->nitems)
        fprep_arm(n);
}

int net_flow_queue(cairn_net_t *n, uint32_t pipe, const uint8_t *buf, size_t len, bool lazy,
                   cairn_error_t *err)
{
    flow_pipe_t *f = fp_get(n, pipe, true);
    if (!f)
        return errcode(err, -ENOMEM, "out of memory");
    if (pipe && f->bytes + len > CAIRN_NET_FLOW_MAX_BYTES) {
        /* the peer stopped reading: drop it, it reconnects and resyncs */
        nng_pipe p = {.id = pipe};
        nng_pipe_close(p);
        net_flow_pipe_drop(n, pipe);
        return errcode(err, -ENOBUFS, "peer %u does not read: connection closed", pipe);
    }
    if (CAIRN_GROW(f->items, f->cap, f->nitems + 1) < 0)
        return errcode(err, -ENOMEM, "out of memory");
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
    bool authed = !checked || net_pipe_authed(n, (nng_pipe){.id = pipe});
    f->items[f->nitems++] = (flow_item_t){
        .buf = copy, .len = len, .lazy = lazy, .alone = checked && (!authed || !f->authed)};
    f->authed = authed;
    f->bytes += len;
    f->nurgent += !lazy;
    fprep_arm(n);
    return 0;
}

void cairn_net_set_flow(cairn_net_t *n, cairn_net_flow_t flow)
{
    n->flow = flow;
}
