/* Signed requests against a real cairn-scheduler on tls+tcp:// (its
 * certificate's CN is 127.0.0.1): the exact bytes of a signed request sent
 * again are refused; so is a request signed for another scheduler, one
 * signed with a certificate for servers only (even with the CN root), and
 * one in the old format, which is told so. The user "anonymous" (a
 * certificate's CN) owns no anonymous client's job or audit entry, and may
 * not submit.
 *
 * Requests go over a raw nng req socket with the client certificate of
 * alice for TLS, so that the test controls the bytes: what the cairn CLI
 * would send, and what someone who copied them could. */
#include "certs.h"
#include "proto/net.h"
#include "sched_harness.h"

typedef struct raw {
    nng_socket sock;
    nng_dialer dialer;
} raw_t;

/* A req socket to url over TLS with tls_cert (NAME.both) as its client
 * certificate. */
static void raw_open(raw_t *r, const char *url, const char *tls_cert)
{
    char cert[64];
    snprintf(cert, sizeof(cert), "%s.both", tls_cert);
    cr_assert_eq(nng_req0_open(&r->sock), 0);
    nng_socket_set_ms(r->sock, NNG_OPT_RECVTIMEO, 20000);
    nng_socket_set_ms(r->sock, NNG_OPT_SENDTIMEO, 20000);
    cr_assert_eq(nng_dialer_create(&r->dialer, r->sock, url), 0);
    cairn_tls_t tls = {.cert_key = certs_path(cert), .ca = certs_path("ca.pem")};
    cairn_error_t err = {{0}};
    cr_assert_eq(cairn_tls_dialer(r->dialer, url, &tls, true, &err), 0, "%s", err.text);
    cr_assert_eq(nng_dialer_start(r->dialer, NNG_FLAG_NONBLOCK), 0);
}

/* Send buf, decode the answer: its type, and the error text if an error. */
static ProtobufCMessage *raw_call(raw_t *r, const uint8_t *buf, size_t len, cairn_msg_type_t *type,
                                  char *why, size_t whylen)
{
    cr_assert_eq(nng_send(r->sock, (void *)buf, len, 0), 0);
    void *rbuf = NULL;
    size_t rlen = 0;
    int rv = nng_recv(r->sock, &rbuf, &rlen, NNG_FLAG_ALLOC);
    cr_assert_eq(rv, 0, "no answer: %s", nng_strerror(rv));
    ProtobufCMessage *m = NULL;
    cairn_error_t err = {{0}};
    cr_assert_eq(cairn_msg_decode(rbuf, rlen, 0, type, &m, &err), 0, "%s", err.text);
    nng_free(rbuf, rlen);
    why[0] = '\0';
    if (*type == CAIRN_MSG_ERROR)
        snprintf(why, whylen, "%s", ((const Cairn__ErrorReply *)m)->message);
    return m;
}

static uint8_t *encode(cairn_msg_type_t type, const ProtobufCMessage *m, size_t *len)
{
    uint8_t *buf = NULL;
    cairn_error_t err = {{0}};
    cr_assert_eq(cairn_msg_encode(type, m, &buf, len, &err), 0, "%s", err.text);
    return buf;
}

/* inner (an encoded request) signed by who for url, sent; the answer's
 * type, error text in why. */
static cairn_msg_type_t signed_call(raw_t *r, const char *url, const char *who,
                                    const uint8_t *inner, size_t inner_len, char *why,
                                    size_t whylen)
{
    size_t len = 0;
    uint8_t *buf = certs_sign(url, who, inner, inner_len, cairn_wall_ms(), &len);
    cairn_msg_type_t type;
    cairn_msg_free(raw_call(r, buf, len, &type, why, whylen));
    free(buf);
    return type;
}

static uint8_t *submit_request(size_t *len)
{
    static char *argv[] = {"/bin/true"};
    static Cairn__ResourceRequest rr = CAIRN__RESOURCE_REQUEST__INIT;
    rr.cpus = 1;
    static Cairn__TaskSpec ts = CAIRN__TASK_SPEC__INIT;
    Cairn__TaskSpec *tp = &ts;
    ts.name = "t";
    ts.n_argv = 1;
    ts.argv = argv;
    ts.resources = &rr;
    Cairn__JobSpec js = CAIRN__JOB_SPEC__INIT;
    js.name = "j";
    js.n_tasks = 1;
    js.tasks = &tp;
    Cairn__SubmitRequest req = CAIRN__SUBMIT_REQUEST__INIT;
    req.job = &js;
    return encode(CAIRN_MSG_SUBMIT, &req.base, len);
}

static uint8_t *cancel_request(uint64_t job, size_t *len)
{
    Cairn__CancelRequest req = CAIRN__CANCEL_REQUEST__INIT;
    req.job_id = job;
    return encode(CAIRN_MSG_CANCEL, &req.base, len);
}

typedef struct tls_sched {
    h_sched_t s;
    char url[64];
    raw_t raw;
} tls_sched_t;

static void start(tls_sched_t *t)
{
    certs_init();
    certs_ca("ca");
    certs_make("server", "/CN=127.0.0.1", "ca", "");
    certs_make("alice", "/CN=alice", "ca", "extendedKeyUsage=clientAuth");
    certs_make("srvonly", "/CN=root", "ca", "extendedKeyUsage=serverAuth");
    certs_make("anon", "/CN=anonymous", "ca", "");
    snprintf(t->url, sizeof(t->url), "tls+tcp://127.0.0.1:%d", h_free_port());
    h_sched_init(&t->s);
    char cert[128], ca[128];
    snprintf(cert, sizeof(cert), "%s", certs_path("server.both"));
    snprintf(ca, sizeof(ca), "%s", certs_path("ca.pem"));
    h_sched_start(&t->s, (const char *const[]){"--clients", t->url, "--tls-cert", cert, "--tls-ca",
                                               ca, "--allow-anonymous-writes", NULL});
    raw_open(&t->raw, t->url, "alice");
}

static void stop(tls_sched_t *t)
{
    nng_close(t->raw.sock);
    h_sched_fini(&t->s);
    certs_fini();
}

Test(signed_requests, a_copy_sent_again_is_refused)
{
    tls_sched_t t;
    start(&t);
    Cairn__ListJobsRequest lr = CAIRN__LIST_JOBS_REQUEST__INIT;
    size_t inner_len = 0, len = 0;
    uint8_t *inner = encode(CAIRN_MSG_LIST_JOBS, &lr.base, &inner_len);
    uint8_t *buf = certs_sign(t.url, "alice", inner, inner_len, cairn_wall_ms(), &len);
    char why[512];
    cairn_msg_type_t type;
    cairn_msg_free(raw_call(&t.raw, buf, len, &type, why, sizeof(why)));
    cr_expect_eq(type, CAIRN_MSG_LIST_JOBS_REPLY, "%s", why);
    cairn_msg_free(raw_call(&t.raw, buf, len, &type, why, sizeof(why)));
    cr_expect_eq(type, CAIRN_MSG_ERROR);
    cr_expect(strstr(why, "replayed") != NULL, "%s", why);
    /* signed again (a new nonce), the same request is fine */
    cr_expect_eq(signed_call(&t.raw, t.url, "alice", inner, inner_len, why, sizeof(why)),
                 CAIRN_MSG_LIST_JOBS_REPLY, "%s", why);
    free(buf);
    free(inner);
    stop(&t);
}

Test(signed_requests, a_request_for_another_scheduler_is_refused)
{
    tls_sched_t t;
    start(&t);
    Cairn__ListJobsRequest lr = CAIRN__LIST_JOBS_REQUEST__INIT;
    size_t inner_len = 0;
    uint8_t *inner = encode(CAIRN_MSG_LIST_JOBS, &lr.base, &inner_len);
    char why[512], other[64];
    snprintf(other, sizeof(other), "tls+tcp://sched-b.example:%s", strrchr(t.url, ':') + 1);
    cr_expect_eq(signed_call(&t.raw, other, "alice", inner, inner_len, why, sizeof(why)),
                 CAIRN_MSG_ERROR);
    cr_expect(strstr(why, "is for the scheduler 'sched-b.example', not this one (127.0.0.1)"), "%s",
              why);
    free(inner);
    stop(&t);
}

/* A certificate for servers only (here with the CN of root, an
 * administrator) names nobody, though the TLS connection is alice's. */
Test(signed_requests, a_server_certificate_is_no_user)
{
    tls_sched_t t;
    start(&t);
    size_t inner_len = 0;
    uint8_t *inner = submit_request(&inner_len);
    char why[512];
    cr_expect_eq(signed_call(&t.raw, t.url, "srvonly", inner, inner_len, why, sizeof(why)),
                 CAIRN_MSG_ERROR);
    cr_expect(strstr(why, "not for client authentication") != NULL, "%s", why);
    cr_expect_eq(signed_call(&t.raw, t.url, "alice", inner, inner_len, why, sizeof(why)),
                 CAIRN_MSG_SUBMIT_REPLY, "%s", why);
    free(inner);
    stop(&t);
}

/* What a client of the first signed-request format sends (no version, no
 * scheduler name) is refused as a protocol mismatch, not a bad signature. */
Test(signed_requests, an_old_client_is_told_to_upgrade)
{
    tls_sched_t t;
    start(&t);
    Cairn__ListJobsRequest lr = CAIRN__LIST_JOBS_REQUEST__INIT;
    size_t inner_len = 0, len = 0;
    uint8_t *inner = encode(CAIRN_MSG_LIST_JOBS, &lr.base, &inner_len);
    uint8_t *buf = certs_sign(t.url, "alice", inner, inner_len, cairn_wall_ms(), &len);
    cairn_msg_type_t type;
    ProtobufCMessage *m = NULL;
    cairn_error_t err = {{0}};
    cr_assert_eq(cairn_msg_decode(buf, len, 0, &type, &m, &err), 0, "%s", err.text);
    Cairn__SignedRequest *r = (Cairn__SignedRequest *)m;
    r->version = 0;
    char *name = r->scheduler;
    r->scheduler = "";
    size_t olen = 0;
    uint8_t *old = encode(CAIRN_MSG_SIGNED, &r->base, &olen);
    r->scheduler = name;
    cairn_msg_free(m);
    char why[512];
    ProtobufCMessage *rep = raw_call(&t.raw, old, olen, &type, why, sizeof(why));
    cr_expect_eq(type, CAIRN_MSG_ERROR);
    cr_expect_eq(((Cairn__ErrorReply *)rep)->code, CAIRN__ERROR_CODE__ERROR_CODE_UNSUPPORTED);
    cr_expect(strstr(why, "protocol version 1; this scheduler speaks version 2") &&
                  strstr(why, "upgrade the cairn client"),
              "%s", why);
    cairn_msg_free(rep);
    free(old);
    free(buf);
    free(inner);
    stop(&t);
}

/* An unsigned request on the TLS endpoint is anonymous (allowed to write
 * here); the certificate "anonymous" is a user of that name, not them. */
Test(signed_requests, the_user_anonymous_owns_no_anonymous_job)
{
    tls_sched_t t;
    start(&t);
    size_t len = 0;
    uint8_t *submit = submit_request(&len);
    char why[512];
    cairn_msg_type_t type;
    ProtobufCMessage *rep = raw_call(&t.raw, submit, len, &type, why, sizeof(why));
    cr_assert_eq(type, CAIRN_MSG_SUBMIT_REPLY, "anonymous submit: %s", why);
    uint64_t job = ((Cairn__SubmitReply *)rep)->job_id;
    cr_assert_eq(job, 1);
    cairn_msg_free(rep);
    size_t clen = 0;
    uint8_t *cancel = cancel_request(job, &clen);
    cr_expect_eq(signed_call(&t.raw, t.url, "anon", cancel, clen, why, sizeof(why)),
                 CAIRN_MSG_ERROR);
    cr_expect(strstr(why, "user anonymous may not cancel job 1 of anonymous") != NULL, "%s", why);
    cr_expect_eq(signed_call(&t.raw, t.url, "anon", submit, len, why, sizeof(why)),
                 CAIRN_MSG_ERROR);
    cr_expect(strstr(why, "user anonymous may not submit jobs: the name 'anonymous' is reserved"),
              "%s", why);
    /* nor read the anonymous clients' audit entries as its own */
    Cairn__AuditRequest ar = CAIRN__AUDIT_REQUEST__INIT;
    size_t alen = 0;
    uint8_t *audit = encode(CAIRN_MSG_AUDIT, &ar.base, &alen);
    cr_expect_eq(signed_call(&t.raw, t.url, "anon", audit, alen, why, sizeof(why)),
                 CAIRN_MSG_ERROR);
    cr_expect(strstr(why, "user anonymous may read only their own audit entries"), "%s", why);
    free(audit);
    /* the anonymous client itself may cancel its job */
    cairn_msg_free(raw_call(&t.raw, cancel, clen, &type, why, sizeof(why)));
    cr_expect_eq(type, CAIRN_MSG_CANCEL_REPLY, "%s", why);
    free(cancel);
    free(submit);
    stop(&t);
}
