/* Replies to clients: each request gets exactly one, after the commit when
 * it acknowledges a change (outbox.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/grow.h"
#include "scheduler/clients_private.h"

void clients_reply(sched_daemon_t *d, const cairn_peer_t *to, cairn_msg_type_t type,
                   const ProtobufCMessage *msg)
{
    outbox_to_client(d->out, to, type, msg);
}

void clients_error(sched_daemon_t *d, const cairn_peer_t *to, Cairn__ErrorCode code,
                   const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    Cairn__ErrorReply rep = CAIRN__ERROR_REPLY__INIT;
    rep.code = code;
    rep.message = msg;
    clients_reply(d, to, CAIRN_MSG_ERROR, &rep.base);
}

void clients_reply_raw(sched_daemon_t *d, const cairn_peer_t *to, const uint8_t *buf, size_t len,
                       const char *error)
{
    cairn_error_t err = {{0}};
    if (error && error[0])
        clients_error(d, to, CAIRN__ERROR_CODE__ERROR_CODE_INTERNAL, "%s", error);
    else if (d->clients.net && cairn_net_send_raw(d->clients.net, to, buf, len, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_WARN, "reply: %s", err.text);
}

void clients_read_done(read_reply_t *r, bool aborted)
{
    if (!aborted && r->code)
        clients_error(r->d, &r->to, r->code, "%s", r->error);
    else if (!aborted)
        clients_reply_raw(r->d, &r->to, r->reply, r->reply_len, r->error);
    free(r->reply);
    r->reply = NULL;
}

int clients_read_later(sched_daemon_t *d, const cairn_peer_t *from, reader_work_f work,
                       reader_done_f done, void *arg)
{
    cairn_error_t err = {{0}};
    int rc = reader_submit(d->reader, work, done, arg, &err);
    if (rc < 0)
        clients_error(d, from,
                      rc == -EBUSY ? CAIRN__ERROR_CODE__ERROR_CODE_UNAVAILABLE
                                   : CAIRN__ERROR_CODE__ERROR_CODE_INTERNAL,
                      "%s", err.text);
    return rc;
}

/* --- what a reply needs freed after it is sent ------------------------------- */

void *clients_keep(frees_t *f, void *p)
{
    if (!p) {
        f->oom = true;
        return NULL;
    }
    if (CAIRN_GROW(f->v, f->cap, f->n + 1) < 0) {
        free(p);
        f->oom = true;
        return NULL;
    }
    return f->v[f->n++] = p;
}

void clients_keep_msg(frees_t *f, ProtobufCMessage *m)
{
    if (!m)
        return;
    if (CAIRN_GROW(f->msgs, f->msgs_cap, f->nmsgs + 1) < 0) {
        protobuf_c_message_free_unpacked(m, NULL);
        f->oom = true;
        return;
    }
    f->msgs[f->nmsgs++] = m;
}

void clients_frees_fini(frees_t *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i]);
    free(f->v);
    for (size_t i = 0; i < f->nmsgs; i++)
        protobuf_c_message_free_unpacked(f->msgs[i], NULL);
    free(f->msgs);
}
