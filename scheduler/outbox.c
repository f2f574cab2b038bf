/* What the scheduler sends, held until the commit that makes it true; see
 * outbox.h. */
#include "scheduler/outbox.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/grow.h"

/* A message waiting for the commit. */
typedef struct outmsg {
    cairn_net_t *net;
    cairn_peer_t peer;
    uint8_t *buf;
    size_t len;
    bool lazy;
} outmsg_t;

/* An attempt to deliver to one node (UINT32_MAX: to all its nodes). */
typedef struct delivery {
    uint64_t attempt;
    uint32_t node;
} delivery_t;

struct outbox {
    journal_t *j;
    cairn_log_t *log;
    cairn_net_t *wnet, *cnet;
    outmsg_t *msgs;
    size_t nmsgs, msgs_cap;
    delivery_t *assign;
    size_t nassign, assign_cap;
    uint64_t *cancel;
    size_t ncancel, cancel_cap;
    /* clients the batch answers: told when its commit fails */
    cairn_peer_t *peers;
    size_t npeers, peers_cap;
};

size_t outbox_clients(const outbox_t *ob)
{
    return ob->npeers;
}

int outbox_create(journal_t *j, cairn_log_t *log, outbox_t **out)
{
    outbox_t *ob = calloc(1, sizeof(*ob));
    if (!ob)
        return -ENOMEM;
    ob->j = j;
    ob->log = log;
    *out = ob;
    return 0;
}

static void drop_msgs(outbox_t *ob)
{
    for (size_t i = 0; i < ob->nmsgs; i++)
        free(ob->msgs[i].buf);
    ob->nmsgs = 0;
}

void outbox_destroy(outbox_t *ob)
{
    if (!ob)
        return;
    drop_msgs(ob);
    free(ob->msgs);
    free(ob->assign);
    free(ob->cancel);
    free(ob->peers);
    free(ob);
}

void outbox_set_nets(outbox_t *ob, cairn_net_t *workers, cairn_net_t *clients)
{
    if (!workers || !clients)
        drop_msgs(ob);
    ob->wnet = workers;
    ob->cnet = clients;
}

static void send_x(outbox_t *ob, cairn_net_t *net, const cairn_peer_t *to, cairn_msg_type_t type,
                   const ProtobufCMessage *msg, bool lazy)
{
    cairn_error_t err = {{0}};
    uint8_t *buf = NULL;
    size_t len = 0;
    if (!net)
        return; /* the endpoints are being reopened */
    if (cairn_msg_encode(type, msg, &buf, &len, &err) < 0) {
        cairn_log(ob->log, CAIRN_LOG_ERROR, "encode %s: %s", cairn_msg_type_name(type), err.text);
        return;
    }
    if (!journal_pending(ob->j)) {
        if (cairn_net_send_raw_lazy(net, to, buf, len, lazy, &err) < 0)
            cairn_log(ob->log, CAIRN_LOG_WARN, "send %s: %s", cairn_msg_type_name(type), err.text);
        free(buf);
        return;
    }
    if (net == ob->cnet && to && CAIRN_GROW(ob->peers, ob->peers_cap, ob->npeers + 1) == 0)
        ob->peers[ob->npeers++] = *to;
    if (CAIRN_GROW(ob->msgs, ob->msgs_cap, ob->nmsgs + 1) < 0) {
        free(buf);
        return;
    }
    outmsg_t *m = &ob->msgs[ob->nmsgs++];
    memset(m, 0, sizeof(*m));
    m->net = net;
    if (to)
        m->peer = *to;
    m->buf = buf;
    m->len = len;
    m->lazy = lazy;
}

void outbox_to_client(outbox_t *ob, const cairn_peer_t *to, cairn_msg_type_t type,
                      const ProtobufCMessage *msg)
{
    send_x(ob, ob->cnet, to, type, msg, false);
}

void outbox_to_worker(outbox_t *ob, const cairn_peer_t *to, cairn_msg_type_t type,
                      const ProtobufCMessage *msg, bool lazy)
{
    send_x(ob, ob->wnet, to, type, msg, lazy);
}

int outbox_assign(outbox_t *ob, uint64_t attempt, uint32_t node)
{
    if (CAIRN_GROW(ob->assign, ob->assign_cap, ob->nassign + 1) < 0)
        return -ENOMEM;
    ob->assign[ob->nassign++] = (delivery_t){attempt, node};
    return 0;
}

int outbox_cancel(outbox_t *ob, uint64_t attempt)
{
    if (CAIRN_GROW(ob->cancel, ob->cancel_cap, ob->ncancel + 1) < 0)
        return -ENOMEM;
    ob->cancel[ob->ncancel++] = attempt;
    return 0;
}

void outbox_flush(outbox_t *ob, outbox_assign_f assign, outbox_cancel_f cancel, void *arg)
{
    cairn_error_t err = {{0}};
    for (size_t i = 0; i < ob->nmsgs; i++) {
        outmsg_t *m = &ob->msgs[i];
        if (cairn_net_send_raw_lazy(m->net, &m->peer, m->buf, m->len, m->lazy, &err) < 0)
            cairn_log(ob->log, CAIRN_LOG_WARN, "send: %s", err.text);
        free(m->buf);
    }
    ob->nmsgs = 0;
    ob->npeers = 0;
    for (size_t i = 0; i < ob->nassign; i++)
        assign(arg, ob->assign[i].attempt, ob->assign[i].node);
    ob->nassign = 0;
    for (size_t i = 0; i < ob->ncancel; i++)
        cancel(arg, ob->cancel[i]);
    ob->ncancel = 0;
}

void outbox_drop(outbox_t *ob, const char *why)
{
    drop_msgs(ob);
    ob->nassign = 0;
    ob->ncancel = 0;
    char text[600];
    snprintf(text, sizeof(text), "%s; nothing was changed, try again later", why);
    Cairn__ErrorReply rep = CAIRN__ERROR_REPLY__INIT;
    rep.code = CAIRN__ERROR_CODE__ERROR_CODE_UNAVAILABLE;
    rep.message = text;
    for (size_t i = 0; i < ob->npeers; i++)
        outbox_to_client(ob, &ob->peers[i], CAIRN_MSG_ERROR, &rep.base);
    ob->npeers = 0;
}
