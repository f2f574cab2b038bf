/* Blocking request/reply client; see client.h. */
#include "cluster/client.h"
#include "common/clock.h"
#include "proto/client.pb-c.h"
#include "proto/net.h"
#include "proto/sign.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdlib.h>
#include <string.h>

#define CLIENT_RECONNECT_MIN_MS 20
#define CLIENT_RECONNECT_MAX_MS 200

struct cairn_client {
    nng_socket sock;
    cairn_dial_t dial;      /* redialed when nng gives up (see net.h) */
    cairn_signer_t *signer; /* tls+tcp:// with a certificate: requests signed */
};

int cairn_client_create(const char *url, int64_t timeout_ms, cairn_client_t **out,
                        cairn_error_t *err)
{
    cairn_client_t *c = calloc(1, sizeof(*c));
    if (!c)
        return errcode(err, -ENOMEM, "out of memory");
    int rv = nng_req0_open(&c->sock);
    if (rv == 0) {
        nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, (nng_duration)timeout_ms);
        nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, (nng_duration)timeout_ms);
        nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, 256u << 20);
    }
    /* tls+tcp://: the certificate and CA from $CAIRN_TLS_CERT, $CAIRN_TLS_CA */
    cairn_tls_t tls = cairn_tls_from_env();
    cairn_error_t derr = {{0}};
    if (rv == 0 && cairn_dial_start(&c->dial, c->sock, url, &tls, CLIENT_RECONNECT_MIN_MS,
                                    CLIENT_RECONNECT_MAX_MS, &derr) < 0)
        rv = NNG_EINVAL;
    /* who we are, proven per request with the certificate's key (sign.h) */
    if (rv == 0 && !strncmp(url, "tls+", 4) && tls.cert_key &&
        cairn_signer_create(tls.cert_key, url, &c->signer, &derr) < 0)
        rv = NNG_EINVAL;
    if (rv != 0) {
        if (c->sock.id)
            nng_close(c->sock);
        cairn_dial_fini(&c->dial);
        free(c);
        return errcode(err, -EINVAL, "cannot connect to %s: %s", url,
                       derr.text[0] ? derr.text : nng_strerror(rv));
    }
    *out = c;
    return 0;
}

void cairn_client_destroy(cairn_client_t *c)
{
    if (!c)
        return;
    nng_close(c->sock);
    cairn_dial_fini(&c->dial);
    cairn_signer_destroy(c->signer);
    free(c);
}

void cairn_client_set_timeout(cairn_client_t *c, int64_t ms)
{
    nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, (nng_duration)ms);
}

void cairn_client_set_resend(cairn_client_t *c, int64_t ms)
{
    nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME,
                      ms > 0 ? (nng_duration)ms : NNG_DURATION_INFINITE);
}

bool cairn_client_is_read(cairn_msg_type_t type, const ProtobufCMessage *req)
{
    if (type == CAIRN_MSG_ACCOUNT) /* list reads; set and delete change */
        return req &&
               ((const Cairn__AccountRequest *)req)->op_case == CAIRN__ACCOUNT_REQUEST__OP_LIST;
    return type != CAIRN_MSG_SUBMIT && type != CAIRN_MSG_CANCEL && type != CAIRN_MSG_DRAIN &&
           type != CAIRN_MSG_NODE_RM;
}

bool cairn_client_is_heavy(cairn_msg_type_t type)
{
    return type == CAIRN_MSG_ACCOUNTING || type == CAIRN_MSG_USAGE || type == CAIRN_MSG_AUDIT;
}

static int error_code(Cairn__ErrorCode code)
{
    switch (code) {
    case CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND:
        return -ENOENT;
    case CAIRN__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED:
        return -EACCES;
    case CAIRN__ERROR_CODE__ERROR_CODE_BAD_REQUEST:
    case CAIRN__ERROR_CODE__ERROR_CODE_FAILED_PRECONDITION:
        return -EINVAL;
    case CAIRN__ERROR_CODE__ERROR_CODE_UNAVAILABLE:
    case CAIRN__ERROR_CODE__ERROR_CODE_RESOURCE_EXHAUSTED:
        return -EAGAIN;
    default:
        return -EIO;
    }
}

int cairn_client_call(cairn_client_t *c, cairn_msg_type_t type, const ProtobufCMessage *req,
                      cairn_msg_type_t want, ProtobufCMessage **reply, cairn_error_t *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    /* a caller that retries a timed-out call gets a live dialer back */
    int rc = cairn_dial_check(&c->dial, cairn_mono_ms(), err);
    if (rc < 0)
        return rc;
    if ((rc = cairn_msg_encode(type, req, &buf, &len, err)) < 0)
        return rc;
    if (c->signer) {
        uint8_t *sbuf = NULL;
        size_t slen = 0;
        rc = cairn_signer_wrap(c->signer, buf, len, cairn_wall_ms(), &sbuf, &slen, err);
        free(buf);
        if (rc < 0)
            return rc;
        buf = sbuf;
        len = slen;
    }
    int rv = nng_send(c->sock, buf, len, 0);
    free(buf);
    if (rv != 0)
        return errcode(err, rv == NNG_ETIMEDOUT ? -ETIMEDOUT : -EIO,
                       "cannot reach the scheduler: %s", nng_strerror(rv));
    void *rbuf = NULL;
    size_t rlen = 0;
    rv = nng_recv(c->sock, &rbuf, &rlen, NNG_FLAG_ALLOC);
    if (rv != 0)
        return errcode(err, rv == NNG_ETIMEDOUT ? -ETIMEDOUT : -EIO,
                       "no answer from the scheduler: %s", nng_strerror(rv));
    cairn_msg_type_t got;
    ProtobufCMessage *msg = NULL;
    rc = cairn_msg_decode(rbuf, rlen, 256u << 20, &got, &msg, err);
    nng_free(rbuf, rlen);
    if (rc < 0)
        return rc;
    if (got == CAIRN_MSG_ERROR) {
        const Cairn__ErrorReply *e = (const Cairn__ErrorReply *)msg;
        rc = errcode(err, error_code(e->code), "%s", e->message);
        cairn_msg_free(msg);
        return rc;
    }
    if (got != want) {
        cairn_msg_free(msg);
        return errcode(err, -EPROTO, "the scheduler answered %s, expected %s",
                       cairn_msg_type_name(got), cairn_msg_type_name(want));
    }
    *reply = msg;
    return 0;
}
