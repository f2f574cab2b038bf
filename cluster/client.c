/* Blocking request/reply client; see client.h. */
#include "cluster/client.h"
#include "common/clock.h"
#include "proto/client.pb-c.h"
#include "proto/endpoints.h"
#include "proto/net.h"
#include "proto/sign.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define CLIENT_RECONNECT_MIN_MS 20
#define CLIENT_RECONNECT_MAX_MS 200
/* With several endpoints: how long one may take to accept a connection
 * before the next is tried. */
#define CLIENT_PROBE_MS 1000
/* NOT_LEADER redirects followed by one call. */
#define CLIENT_MAX_HOPS 4
/* While no scheduler leads (or none answers): waits between rounds. */
#define CLIENT_WAIT_MIN_MS 100
#define CLIENT_WAIT_MAX_MS 1000

struct cairn_client {
    cairn_endpoints_t eps;         /* the endpoints; the current one is open */
    nng_socket sock;               /* dialing the current endpoint */
    cairn_dial_t dial;             /* redialed when nng gives up (see net.h) */
    cairn_signer_t *signer;        /* tls+tcp:// with a certificate: requests signed */
    int64_t timeout_ms, resend_ms; /* the answer's, and resending reads' */
    int64_t send_timeout_ms;       /* the open's timeout */
    atomic_int pipes;              /* connections of sock (pipe_cb, on nng's threads) */
    atomic_int sock_id;            /* sock's id while open: pipe_cb counts only its pipes */
};

static void pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    cairn_client_t *c = arg;
    /* a closed socket's last removals may come late: not this one's */
    if (nng_socket_id(nng_pipe_socket(p)) != atomic_load(&c->sock_id))
        return;
    atomic_fetch_add(&c->pipes, ev == NNG_PIPE_EV_ADD_POST ? 1 : -1);
}

static void client_close(cairn_client_t *c)
{
    atomic_store(&c->sock_id, 0);
    if (c->sock.id)
        nng_close(c->sock);
    c->sock = (nng_socket)NNG_SOCKET_INITIALIZER;
    cairn_dial_fini(&c->dial);
    cairn_signer_destroy(c->signer);
    c->signer = NULL;
    atomic_store(&c->pipes, 0);
}

/* Open a socket dialing the current endpoint, with the call's settings
 * and a signer bound to that endpoint. */
static int client_open(cairn_client_t *c, cairn_error_t *err)
{
    const char *url = cairn_endpoints_current(&c->eps);
    int rv = nng_req0_open(&c->sock);
    if (rv == 0) {
        nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, (nng_duration)c->timeout_ms);
        nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, (nng_duration)c->send_timeout_ms);
        nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME,
                          c->resend_ms > 0 ? (nng_duration)c->resend_ms : NNG_DURATION_INFINITE);
        nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, 256u << 20);
        atomic_store(&c->pipes, 0);
        atomic_store(&c->sock_id, nng_socket_id(c->sock));
        nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, pipe_cb, c);
        nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, pipe_cb, c);
    }
    /* tls+tcp://: the certificate and CA from $CAIRN_TLS_CERT, $CAIRN_TLS_CA */
    cairn_tls_t tls = cairn_tls_from_env();
    cairn_error_t derr = {{0}};
    if (rv == 0 && cairn_dial_start(&c->dial, c->sock, url, &tls, CLIENT_RECONNECT_MIN_MS,
                                    CLIENT_RECONNECT_MAX_MS, &derr) < 0)
        rv = NNG_EINVAL;
    /* who we are, proven per request with the certificate's key (sign.h),
     * for the scheduler at this endpoint */
    if (rv == 0 && !strncmp(url, "tls+", 4) && tls.cert_key &&
        cairn_signer_create(tls.cert_key, url, &c->signer, &derr) < 0)
        rv = NNG_EINVAL;
    if (rv != 0) {
        client_close(c);
        return errcode(err, -EINVAL, "cannot connect to %s: %s", url,
                       derr.text[0] ? derr.text : nng_strerror(rv));
    }
    return 0;
}

int cairn_client_create(const char *url, int64_t timeout_ms, cairn_client_t **out,
                        cairn_error_t *err)
{
    cairn_client_t *c = calloc(1, sizeof(*c));
    if (!c)
        return errcode(err, -ENOMEM, "out of memory");
    c->timeout_ms = c->send_timeout_ms = timeout_ms;
    atomic_init(&c->pipes, 0);
    atomic_init(&c->sock_id, 0);
    int rc = cairn_endpoints_parse(&c->eps, url, err);
    if (rc == 0 && (rc = client_open(c, err)) < 0)
        cairn_endpoints_fini(&c->eps);
    if (rc < 0) {
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void cairn_client_destroy(cairn_client_t *c)
{
    if (!c)
        return;
    client_close(c);
    cairn_endpoints_fini(&c->eps);
    free(c);
}

void cairn_client_set_timeout(cairn_client_t *c, int64_t ms)
{
    c->timeout_ms = ms;
    nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, (nng_duration)ms);
}

void cairn_client_set_resend(cairn_client_t *c, int64_t ms)
{
    c->resend_ms = ms;
    nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME,
                      ms > 0 ? (nng_duration)ms : NNG_DURATION_INFINITE);
}

bool cairn_client_is_read(cairn_msg_type_t type, const ProtobufCMessage *req)
{
    if (type == CAIRN_MSG_ACCOUNT) /* list reads; set and delete change */
        return req &&
               ((const Cairn__AccountRequest *)req)->op_case == CAIRN__ACCOUNT_REQUEST__OP_LIST;
    return type != CAIRN_MSG_SUBMIT && type != CAIRN_MSG_CANCEL && type != CAIRN_MSG_DRAIN &&
           type != CAIRN_MSG_NODE_RM && type != CAIRN_MSG_GPU_ENABLE;
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

/* An ErrorReply with NOT_LEADER: a standby did nothing with the request
 * (call_once's result, with the leader's endpoints, maybe "") */
#define CLIENT_NOT_LEADER 1

/* Send the encoded request buf once to the current endpoint and wait for
 * the answer: 0 with *reply, CLIENT_NOT_LEADER with *leader (malloc'd),
 * or a negative code. */
static int call_once(cairn_client_t *c, const uint8_t *req, size_t req_len, cairn_msg_type_t want,
                     ProtobufCMessage **reply, char **leader, cairn_error_t *err)
{
    /* a caller that retries a timed-out call gets a live dialer back */
    int rc = cairn_dial_check(&c->dial, cairn_mono_ms(), err);
    if (rc < 0)
        return rc;
    uint8_t *sbuf = NULL;
    size_t slen = 0;
    if (c->signer &&
        (rc = cairn_signer_wrap(c->signer, req, req_len, cairn_wall_ms(), &sbuf, &slen, err)) < 0)
        return rc;
    /* nng_send only reads the buffer (it copies it into a message) */
    int rv = nng_send(c->sock, sbuf ? sbuf : (void *)(uintptr_t)req, sbuf ? slen : req_len, 0);
    free(sbuf);
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
        if (e->code == CAIRN__ERROR_CODE__ERROR_CODE_NOT_LEADER) {
            *leader = strdup(e->leader ? e->leader : "");
            rc = *leader ? CLIENT_NOT_LEADER : errcode(err, -ENOMEM, "out of memory");
        } else {
            rc = errcode(err, error_code(e->code), "%s", e->message);
        }
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

/* With several endpoints: whether the current one takes a connection
 * before deadline (or CLIENT_PROBE_MS): 0, or -EHOSTUNREACH (nothing
 * listens there, or its URL cannot be dialed) with err. Nothing was sent
 * then, so any request may go to another endpoint. */
static int probe(cairn_client_t *c, int64_t deadline, cairn_error_t *err)
{
    const char *url = cairn_endpoints_current(&c->eps);
    if (!c->sock.id && client_open(c, err) < 0)
        return -EHOSTUNREACH;
    /* a missing socket file fails at once, not after the probe's time */
    if (!strncmp(url, "ipc://", 6) && access(url + 6, F_OK) != 0)
        return errcode(err, -EHOSTUNREACH, "no socket %s", url + 6);
    int64_t now = cairn_mono_ms(), since = now;
    int64_t until = now + CLIENT_PROBE_MS < deadline ? now + CLIENT_PROBE_MS : deadline;
    while (atomic_load(&c->pipes) <= 0) {
        if (now >= until)
            return errcode(err, -EHOSTUNREACH, "no connection within %lld ms",
                           (long long)(now - since));
        cairn_dial_check(&c->dial, now, NULL);
        nng_msleep(5); /* waiting for nng's connection, with a deadline */
        now = cairn_mono_ms();
    }
    return 0;
}

/* Append "URL: what" to the list of endpoints tried (once per URL). */
static void note_tried(char *tried, size_t len, const char *url, const char *what)
{
    size_t used = strlen(tried);
    if (strstr(tried, url) || used + 1 >= len)
        return;
    snprintf(tried + used, len - used, "%s%s: %s", used ? "; " : "", url, what);
}

int cairn_client_call(cairn_client_t *c, cairn_msg_type_t type, const ProtobufCMessage *req,
                      cairn_msg_type_t want, ProtobufCMessage **reply, cairn_error_t *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = cairn_msg_encode(type, req, &buf, &len, err);
    if (rc < 0)
        return rc;
    /* one endpoint, never redirected: sent as it is, the request waits
     * for the scheduler to come up; several: each is probed first */
    bool several = c->eps.n > 1;
    int64_t start = cairn_mono_ms(), deadline = start + c->timeout_ms;
    int64_t wait_ms = CLIENT_WAIT_MIN_MS;
    int hops = 0;
    char tried[1024] = "";
    for (;;) {
        char *leader = NULL;
        char url[512];
        snprintf(url, sizeof(url), "%s", cairn_endpoints_current(&c->eps));
        cairn_error_t perr = {{0}};
        rc = several ? probe(c, deadline, &perr) : 0;
        /* the answer is waited for until the caller's deadline, not longer */
        int64_t left = deadline - cairn_mono_ms();
        nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, (nng_duration)(left > 100 ? left : 100));
        if (rc == 0)
            rc = call_once(c, buf, len, want, reply, &leader, err);
        if (rc != CLIENT_NOT_LEADER && rc != -EHOSTUNREACH)
            break; /* an answer, or an error that may not be retried */
        if (rc == -EHOSTUNREACH) {
            char what[300];
            snprintf(what, sizeof(what), "unreachable (%s)", perr.text);
            note_tried(tried, sizeof(tried), url, what);
        } else {
            note_tried(tried, sizeof(tried), url,
                       leader[0] ? "not the leader" : "not the leader, and none leads");
        }
        /* a standby did nothing with the request: ask the leader it names */
        if (rc == CLIENT_NOT_LEADER && leader[0]) {
            if (hops++ >= CLIENT_MAX_HOPS) {
                free(leader);
                rc = errcode(err, -EIO, "more than %d redirects to the leader (%s)",
                             CLIENT_MAX_HOPS, tried);
                break;
            }
            rc = cairn_endpoints_follow(&c->eps, leader, err);
            free(leader);
            if (rc < 0)
                break;
            client_close(c);
            several = true;
            continue;
        }
        free(leader);
        /* none leads now, or this one cannot be reached: the next; after
         * each round, wait a little longer (a takeover in progress) */
        if (cairn_endpoints_next(&c->eps)) {
            if (cairn_mono_ms() + wait_ms >= deadline) {
                rc = errcode(err, -ETIMEDOUT,
                             "no scheduler answered as the leader within %lld ms (%s)",
                             (long long)c->timeout_ms, tried);
                break;
            }
            nng_msleep((nng_duration)wait_ms);
            wait_ms = wait_ms * 2 > CLIENT_WAIT_MAX_MS ? CLIENT_WAIT_MAX_MS : wait_ms * 2;
        }
        if (c->eps.n > 1)
            client_close(c);
    }
    free(buf);
    return rc;
}
