/* Signed client requests (proto/sign.c): a request signed with a client
 * certificate's key names the certificate's CN; a changed request, a
 * stale time, a certificate from another CA, someone else's certificate
 * with one's own key, a certificate without a CN or for servers only, a
 * request signed for another scheduler, one accepted before and one in the
 * old format are refused. The certificates are made with openssl for each
 * run. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs.h"
#include "leak_check.h"
#include "proto/client.pb-c.h"
#include "proto/envelope.h"
#include "proto/sign.h"

static void setup(void)
{
    certs_init();
    certs_ca("ca");
    certs_ca("evil");
    certs_make("alice", "/CN=alice", "ca", "");
    certs_make("bob", "/CN=bob", "ca", "");
    certs_make("mallory", "/CN=alice", "evil", "");
    certs_make("nocn", "/O=cairn", "ca", "");
    certs_make("srvonly", "/CN=root", "ca", "extendedKeyUsage=serverAuth");
    certs_make("cliauth", "/CN=carol", "ca", "extendedKeyUsage=clientAuth,serverAuth");
    certs_make("anyeku", "/CN=dave", "ca", "extendedKeyUsage=anyExtendedKeyUsage");
    certs_make("sched", "/CN=sched-a.example", "ca",
               "subjectAltName=DNS:Alt.Example,DNS:*.wild.example");
    certs_make("gpu", "/CN=gpu-07", "ca", "subjectAltName=DNS:GPU-07.Example,DNS:*.pool.example");
}

#define SCHED "tls+tcp://sched-a.example:7000"

/* Sign req as who (NAME.both) at t for the scheduler at url; the decoded
 * SignedRequest. */
static Cairn__SignedRequest *sign_for(const char *url, const char *who, const char *req, int64_t t)
{
    size_t len = 0;
    uint8_t *buf = certs_sign(url, who, (const uint8_t *)req, strlen(req), t, &len);
    cairn_msg_type_t type;
    ProtobufCMessage *m = NULL;
    cairn_error_t err = {{0}};
    cr_assert_eq(cairn_msg_decode(buf, len, 0, &type, &m, &err), 0, "%s", err.text);
    cr_assert_eq(type, CAIRN_MSG_SIGNED);
    free(buf);
    return (Cairn__SignedRequest *)m;
}

static Cairn__SignedRequest *sign_as(const char *who, const char *req, int64_t t)
{
    return sign_for(SCHED, who, req, t);
}

static int check(cairn_verifier_t *v, const Cairn__SignedRequest *r, int64_t now, char *user,
                 cairn_error_t *err)
{
    return cairn_verifier_check(v, r, now, user, 256, err);
}

/* A verifier trusting ca for the scheduler of sched.both. */
static cairn_verifier_t *verifier(size_t replay_max)
{
    cairn_verifier_t *v = NULL;
    cairn_error_t err = {{0}};
    cr_assert_eq(
        cairn_verifier_create(certs_path("ca.pem"), certs_path("sched.both"), replay_max, &v, &err),
        0, "%s", err.text);
    return v;
}

TestSuite(sign, .init = setup, .fini = certs_fini);

Test(sign, a_signed_request_names_its_certificate)
{
    cairn_verifier_t *v = verifier(0);
    cairn_error_t err = {{0}};
    int64_t t = cairn_wall_ms();
    for (int round = 0; round < 2; round++) { /* the second from the cache */
        Cairn__SignedRequest *r = sign_as("alice", "the request", t);
        char user[256] = "";
        cr_expect_eq(check(v, r, t + 1000, user, &err), 0, "%s", err.text);
        cr_expect_str_eq(user, "alice");
        cr_expect_eq(r->request.len, strlen("the request"));
        /* a changed request */
        r->request.data[0] ^= 1;
        cr_expect_eq(check(v, r, t, user, &err), -EACCES);
        cr_expect(strstr(err.text, "signature") != NULL, "%s", err.text);
        r->request.data[0] ^= 1;
        /* a changed time */
        r->time_ms += 1;
        cr_expect_eq(check(v, r, t, user, &err), -EACCES);
        r->time_ms -= 1;
        cairn_msg_free(&r->base);
    }
    Cairn__SignedRequest *b = sign_as("bob", "x", t);
    char user[256] = "";
    cr_expect_eq(check(v, b, t, user, &err), 0, "%s", err.text);
    cr_expect_str_eq(user, "bob");
    cairn_msg_free(&b->base);
    cairn_verifier_destroy(v);
}

Test(sign, stale_or_future_times_are_refused)
{
    cairn_verifier_t *v = verifier(0);
    cairn_error_t err = {{0}};
    int64_t t = cairn_wall_ms();
    Cairn__SignedRequest *r = sign_as("alice", "r", t);
    char user[256];
    cr_expect_eq(check(v, r, t + CAIRN_SIGN_SKEW_MS + 1, user, &err), -EACCES);
    cr_expect(strstr(err.text, "clock") != NULL, "%s", err.text);
    cr_expect_eq(check(v, r, t - CAIRN_SIGN_SKEW_MS - 1, user, &err), -EACCES);
    cr_expect_eq(check(v, r, t + CAIRN_SIGN_SKEW_MS, user, &err), 0, "%s", err.text);
    cairn_msg_free(&r->base);
    cairn_verifier_destroy(v);
}

Test(sign, other_cas_and_borrowed_certificates_are_refused)
{
    cairn_verifier_t *v = verifier(0);
    cairn_error_t err = {{0}};
    int64_t t = cairn_wall_ms();
    char user[256] = "";
    /* "alice" from a CA the scheduler does not trust */
    Cairn__SignedRequest *m = sign_as("mallory", "r", t);
    cr_expect_eq(check(v, m, t, user, &err), -EACCES);
    cr_expect(strstr(err.text, "not trusted") != NULL, "%s", err.text);
    cairn_msg_free(&m->base);
    /* bob signs, claiming alice's (public) certificate */
    Cairn__SignedRequest *a = sign_as("alice", "r", t);
    Cairn__SignedRequest *b = sign_as("bob", "r", t);
    ProtobufCBinaryData bob_cert = b->certificate;
    b->certificate = a->certificate;
    cr_expect_eq(check(v, b, t, user, &err), -EACCES);
    cr_expect(strstr(err.text, "signature") != NULL, "%s", err.text);
    b->certificate = bob_cert;
    cairn_msg_free(&a->base);
    cairn_msg_free(&b->base);
    /* no CN: no user name */
    Cairn__SignedRequest *n = sign_as("nocn", "r", t);
    cr_expect_eq(check(v, n, t, user, &err), -EACCES);
    cr_expect(strstr(err.text, "CN") != NULL, "%s", err.text);
    cairn_msg_free(&n->base);
    cairn_verifier_destroy(v);
}

Test(sign, a_key_that_is_not_the_certificates_is_refused_at_load)
{
    certs_sh("cd %s && cat alice.crt bob.key > mixed.both", certs_dir);
    cairn_signer_t *s = NULL;
    cairn_error_t err = {{0}};
    cr_expect_eq(cairn_signer_create(certs_path("mixed.both"), SCHED, &s, &err), -EINVAL);
    cr_expect(strstr(err.text, "not the certificate's") != NULL, "%s", err.text);
    cr_expect_eq(cairn_signer_create(certs_path("nosuch.pem"), SCHED, &s, &err), -EINVAL);
    cr_expect(strstr(err.text, "nosuch.pem") != NULL, "%s", err.text);
    cairn_verifier_t *v = NULL;
    cr_expect_eq(cairn_verifier_create(certs_path("alice.key"), NULL, 0, &v, &err), -EINVAL);
    cr_expect(strstr(err.text, "no CA certificate") != NULL, "%s", err.text);
}

Test(sign, a_request_is_accepted_once)
{
    cairn_verifier_t *v = verifier(0);
    cairn_error_t err = {{0}};
    char user[256];
    int64_t t = cairn_wall_ms();
    Cairn__SignedRequest *r = sign_as("alice", "cancel job 3", t);
    cr_expect_eq(check(v, r, t, user, &err), 0, "%s", err.text);
    /* the same bytes again, a second later: someone replaying them */
    cr_expect_eq(check(v, r, t + 1000, user, &err), -EACCES);
    cr_expect(strstr(err.text, "replayed") != NULL, "%s", err.text);
    /* the same request signed again (a new nonce) is a new request */
    Cairn__SignedRequest *again = sign_as("alice", "cancel job 3", t);
    cr_expect_eq(check(v, again, t + 1000, user, &err), 0, "%s", err.text);
    cairn_msg_free(&r->base);
    cairn_msg_free(&again->base);
    cairn_verifier_destroy(v);
}

/* At most replay_max requests are remembered: when full, the oldest goes
 * and nothing as old as it is accepted any more; past the time window
 * everything goes. A replay is never accepted. */
Test(sign, the_replay_memory_is_bounded)
{
    cairn_verifier_t *v = verifier(4);
    cairn_error_t err = {{0}};
    char user[256];
    int64_t t = cairn_wall_ms();
    Cairn__SignedRequest *r[6];
    for (int i = 0; i < 6; i++)
        r[i] = sign_as("alice", "r", t + i);
    for (int i = 0; i < 5; i++) /* the fifth pushes out the first */
        cr_expect_eq(check(v, r[i], t, user, &err), 0, "%d: %s", i, err.text);
    cr_expect_eq(check(v, r[0], t, user, &err), -EACCES);
    cr_expect(strstr(err.text, "older than the scheduler can tell") != NULL, "%s", err.text);
    cr_expect_eq(check(v, r[4], t, user, &err), -EACCES);
    cr_expect(strstr(err.text, "replayed") != NULL, "%s", err.text);
    Cairn__SignedRequest *old = sign_as("alice", "new but as old as the forgotten one", t);
    cr_expect_eq(check(v, old, t, user, &err), -EACCES);
    cr_expect_eq(check(v, r[5], t, user, &err), 0, "%s", err.text);
    /* later than the window: all forgotten; the old ones are refused by
     * their time, new ones accepted */
    int64_t later = t + CAIRN_SIGN_SKEW_MS + 10;
    for (int i = 1; i < 6; i++)
        cr_expect_eq(check(v, r[i], later + CAIRN_SIGN_SKEW_MS, user, &err), -EACCES);
    Cairn__SignedRequest *fresh = sign_as("alice", "r", later);
    cr_expect_eq(check(v, fresh, later, user, &err), 0, "%s", err.text);
    cr_expect_eq(check(v, fresh, later, user, &err), -EACCES);
    for (int i = 0; i < 6; i++)
        cairn_msg_free(&r[i]->base);
    cairn_msg_free(&old->base);
    cairn_msg_free(&fresh->base);
    cairn_verifier_destroy(v);
}

/* The verifier's scheduler is sched-a.example (CN), alt.example and
 * *.wild.example (DNS names). */
Test(sign, a_request_for_another_scheduler_is_refused)
{
    cairn_verifier_t *v = verifier(0);
    cairn_error_t err = {{0}};
    char user[256];
    int64_t t = cairn_wall_ms();
    static const char *const ours[] = {"tls+tcp://sched-a.example:7000", "tls+tcp://ALT.example:1",
                                       "tls+tcp4://x.wild.example:2"};
    for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++) {
        Cairn__SignedRequest *r = sign_for(ours[i], "alice", "r", t);
        cr_expect_eq(check(v, r, t, user, &err), 0, "%s: %s", ours[i], err.text);
        cairn_msg_free(&r->base);
    }
    static const char *const others[] = {"tls+tcp://sched-b.example:7000",
                                         "tls+tcp://a.b.wild.example:1", "tls+tcp://[::1]:7000"};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        Cairn__SignedRequest *r = sign_for(others[i], "alice", "r", t);
        cr_expect_eq(check(v, r, t, user, &err), -EACCES, "%s accepted", others[i]);
        cr_expect(strstr(err.text, "not this one (sched-a.example, alt.example, *.wild.example)"),
                  "%s", err.text);
        cairn_msg_free(&r->base);
    }
    /* the name is signed: rewriting it breaks the signature */
    Cairn__SignedRequest *r = sign_for("tls+tcp://sched-b.example:7000", "alice", "r", t);
    cr_expect_str_eq(r->scheduler, "sched-b.example");
    char *b = r->scheduler;
    r->scheduler = "sched-a.example";
    cr_expect_eq(check(v, r, t, user, &err), -EACCES);
    cr_expect(strstr(err.text, "signature") != NULL, "%s", err.text);
    r->scheduler = b;
    cairn_msg_free(&r->base);
    Cairn__SignedRequest *v6 = sign_for("tls+tcp://[::1]:7000", "alice", "r", t);
    cr_expect_str_eq(v6->scheduler, "::1");
    cairn_msg_free(&v6->base);
    cairn_verifier_destroy(v);
}

/* RFC 5280: a certificate whose extended key usage does not allow client
 * authentication names no user; one without the extension may do anything. */
Test(sign, only_client_certificates_name_users)
{
    cairn_verifier_t *v = verifier(0);
    cairn_error_t err = {{0}};
    char user[256] = "";
    int64_t t = cairn_wall_ms();
    Cairn__SignedRequest *r = sign_as("srvonly", "r", t);
    cr_expect_eq(check(v, r, t, user, &err), -EACCES);
    cr_expect(strstr(err.text, "not for client authentication") != NULL, "%s", err.text);
    cr_expect_str_eq(user, "");
    cairn_msg_free(&r->base);
    static const char *const ok[][2] = {
        {"cliauth", "carol"}, {"anyeku", "dave"}, {"alice", "alice"}};
    for (size_t i = 0; i < 3; i++) {
        r = sign_as(ok[i][0], "r", t);
        cr_expect_eq(check(v, r, t, user, &err), 0, "%s: %s", ok[i][0], err.text);
        cr_expect_str_eq(user, ok[i][1]);
        cairn_msg_free(&r->base);
    }
    cairn_verifier_destroy(v);
}

/* A client of the first protocol (no version, no scheduler) is told what
 * is wrong rather than that its signature is bad. */
Test(sign, the_old_format_is_refused_by_name)
{
    cairn_verifier_t *v = verifier(0);
    cairn_error_t err = {{0}};
    char user[256];
    int64_t t = cairn_wall_ms();
    Cairn__SignedRequest *r = sign_as("alice", "r", t);
    r->version = 0;
    char *name = r->scheduler;
    r->scheduler = "";
    cr_expect_eq(check(v, r, t, user, &err), -EPROTO);
    cr_expect(strstr(err.text, "protocol version 1; this scheduler speaks version 2") &&
                  strstr(err.text, "upgrade the cairn client"),
              "%s", err.text);
    r->version = 3;
    cr_expect_eq(check(v, r, t, user, &err), -EPROTO);
    cr_expect(strstr(err.text, "upgrade the scheduler") != NULL, "%s", err.text);
    r->scheduler = name;
    cairn_msg_free(&r->base);
    cairn_verifier_destroy(v);
}

/* The signed fields are length-prefixed: moving bytes from the request to
 * the nonce (which plain concatenation would sign alike) breaks the
 * signature. */
Test(sign, fields_do_not_run_into_each_other)
{
    cairn_verifier_t *v = verifier(0);
    cairn_error_t err = {{0}};
    char user[256];
    int64_t t = cairn_wall_ms();
    Cairn__SignedRequest *r = sign_as("alice", "Xcancel job 3", t);
    uint8_t nonce[32];
    memcpy(nonce, r->nonce.data, r->nonce.len);
    nonce[r->nonce.len] = r->request.data[0];
    ProtobufCBinaryData n0 = r->nonce, q0 = r->request;
    r->nonce = (ProtobufCBinaryData){.data = nonce, .len = n0.len + 1};
    r->request = (ProtobufCBinaryData){.data = q0.data + 1, .len = q0.len - 1};
    cr_expect_eq(check(v, r, t, user, &err), -EACCES, "the shifted request was accepted");
    cr_expect(strstr(err.text, "signature") != NULL, "%s", err.text);
    r->nonce = n0;
    r->request = q0;
    cr_expect_eq(check(v, r, t, user, &err), 0, "%s", err.text);
    cairn_msg_free(&r->base);
    cairn_verifier_destroy(v);
}

/* A worker's registration (Register.auth): signed with its certificate's
 * key over the connection's challenge, its nonce, its node name and the
 * scheduler's; anything else changed breaks it. */
typedef struct reg {
    cairn_signer_t *s;
    Cairn__Auth a;
    uint8_t challenge[32], nonce[16];
} reg_t;

static void reg_sign(reg_t *r, const char *url, const char *who, const char *node)
{
    char file[64];
    cairn_error_t err = {{0}};
    snprintf(file, sizeof(file), "%s.both", who);
    memset(r, 0, sizeof(*r));
    cairn__auth__init(&r->a);
    memset(r->challenge, 0x11, sizeof(r->challenge));
    memset(r->nonce, 0x22, sizeof(r->nonce));
    r->a.nonce = (ProtobufCBinaryData){.len = sizeof(r->nonce), .data = r->nonce};
    cr_assert_eq(cairn_signer_create(certs_path(file), url, &r->s, &err), 0, "%s", err.text);
    cr_assert_eq(cairn_signer_register(r->s, r->challenge, sizeof(r->challenge), node, &r->a, &err),
                 0, "%s", err.text);
}

static int reg_check(cairn_verifier_t *v, reg_t *r, const char *node, char *cn, bool *named,
                     cairn_error_t *err)
{
    return cairn_verifier_check_register(v, &r->a, r->challenge, sizeof(r->challenge), node, cn,
                                         256, named, err);
}

Test(sign, a_registration_names_its_certificate_and_node)
{
    cairn_verifier_t *v = verifier(0);
    cairn_error_t err = {{0}};
    char cn[256];
    bool named = false;
    reg_t r;
    /* the CN, a DNS name in any case; a wildcard names no node */
    static const struct {
        const char *node;
        bool named;
    } names[] = {{"gpu-07", true},
                 {"gpu-07.example", true},
                 {"gpu-08", false},
                 {"a.pool.example", false},
                 {"*.pool.example", false}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        reg_sign(&r, SCHED, "gpu", names[i].node);
        cr_expect_eq(reg_check(v, &r, names[i].node, cn, &named, &err), 0, "%s: %s", names[i].node,
                     err.text);
        cr_expect_str_eq(cn, "gpu-07");
        cr_expect_eq(named, names[i].named, "%s", names[i].node);
        cairn_signer_destroy(r.s);
    }
    reg_sign(&r, SCHED, "gpu", "gpu-07");
    /* another node, challenge or nonce than signed */
    cr_expect_eq(reg_check(v, &r, "gpu-08", cn, &named, &err), -EACCES);
    cr_expect(strstr(err.text, "worker certificate: the signature is not the certificate's"), "%s",
              err.text);
    r.challenge[0] ^= 1;
    cr_expect_eq(reg_check(v, &r, "gpu-07", cn, &named, &err), -EACCES);
    r.challenge[0] ^= 1;
    r.nonce[15] ^= 1;
    cr_expect_eq(reg_check(v, &r, "gpu-07", cn, &named, &err), -EACCES);
    r.nonce[15] ^= 1;
    cr_expect_eq(reg_check(v, &r, "gpu-07", cn, &named, &err), 0, "%s", err.text);
    /* a short nonce; no certificate */
    r.a.nonce.len = 8;
    cr_expect_eq(reg_check(v, &r, "gpu-07", cn, &named, &err), -EACCES);
    cr_expect(strstr(err.text, "nonce") != NULL, "%s", err.text);
    r.a.nonce.len = 16;
    r.a.certificate.len = 0;
    cr_expect_eq(reg_check(v, &r, "gpu-07", cn, &named, &err), -EACCES);
    cr_expect(strstr(err.text, "did not sign its registration") != NULL, "%s", err.text);
    cairn_signer_destroy(r.s);
    /* signed for another scheduler */
    reg_sign(&r, "tls+tcp://sched-b.example:7000", "gpu", "gpu-07");
    cr_expect_eq(reg_check(v, &r, "gpu-07", cn, &named, &err), -EACCES);
    cr_expect(strstr(err.text, "is for the scheduler 'sched-b.example'") != NULL, "%s", err.text);
    cairn_signer_destroy(r.s);
    /* a request's signature is no registration's, nor the other way */
    Cairn__SignedRequest *q = sign_as("gpu", "gpu-07", cairn_wall_ms());
    reg_sign(&r, SCHED, "gpu", "gpu-07");
    r.a.signature = q->signature;
    cr_expect_eq(reg_check(v, &r, "gpu-07", cn, &named, &err), -EACCES);
    cairn_msg_free(&q->base);
    cairn_signer_destroy(r.s);
    cairn_verifier_destroy(v);
}

/* The scheduler's own certificate probes its endpoints as a client would
 * (scheduler/watchdog.h): only one that allows client authentication can. */
Test(sign, which_certificates_may_authenticate_a_client)
{
    certs_ca("ca2");
    certs_make("plain", "/CN=plain", "ca2", "");
    certs_make("server", "/CN=server", "ca2", "extendedKeyUsage=serverAuth");
    certs_make("client", "/CN=client", "ca2", "extendedKeyUsage=clientAuth");
    certs_make("both", "/CN=both", "ca2", "extendedKeyUsage=serverAuth,clientAuth");
    cairn_error_t err = {{0}};
    cr_expect_eq(cairn_cert_allows_client(certs_path("plain.both"), &err), 1, "%s", err.text);
    cr_expect_eq(cairn_cert_allows_client(certs_path("server.both"), &err), 0, "%s", err.text);
    cr_expect_eq(cairn_cert_allows_client(certs_path("client.both"), &err), 1, "%s", err.text);
    cr_expect_eq(cairn_cert_allows_client(certs_path("both.both"), &err), 1, "%s", err.text);
    cr_expect_eq(cairn_cert_allows_client(certs_path("nothing.pem"), &err), -EINVAL);
    cr_expect(strstr(err.text, "nothing.pem: no certificate") != NULL, "%s", err.text);
}
