/* Signed client requests (proto/sign.c): a request signed with a client
 * certificate's key names the certificate's CN; a changed request, a
 * stale time, a certificate from another CA, someone else's certificate
 * with one's own key, or a certificate without a CN are refused. The
 * certificates are made with openssl for each run. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.pb-c.h"
#include "envelope.h"
#include "leak_check.h"
#include "sign.h"

static char dir[64];

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/* ca NAME; cert NAME SUBJECT CA */
static void make_ca(const char *name)
{
    sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
       "-keyout %s.key -out %s.pem -days 2 -subj /CN=%s >/dev/null 2>&1",
       dir, name, name, name);
}

static void make_cert(const char *name, const char *subject, const char *ca)
{
    sh("cd %s && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
       "-keyout %s.key -out %s.csr -subj '%s' >/dev/null 2>&1 && "
       "openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key -CAcreateserial -days 2 "
       "-out %s.crt >/dev/null 2>&1 && cat %s.crt %s.key > %s.both",
       dir, name, name, subject, name, ca, ca, name, name, name, name);
}

static void setup(void)
{
    if (system("command -v openssl >/dev/null 2>&1") != 0)
        cr_skip_test("no openssl to make certificates");
    snprintf(dir, sizeof(dir), "/tmp/cairn-sign-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    make_ca("ca");
    make_ca("evil");
    make_cert("alice", "/CN=alice", "ca");
    make_cert("bob", "/CN=bob", "ca");
    make_cert("mallory", "/CN=alice", "evil");
    make_cert("nocn", "/O=cairn", "ca");
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", dir);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *path(const char *name)
{
    static char p[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
    return p[k];
}

/* Sign req as who (NAME.both) at t; the decoded SignedRequest. */
static Cairn__SignedRequest *sign_as(const char *who, const char *req, int64_t t)
{
    cairn_signer_t *s = NULL;
    cairn_error_t err = {{0}};
    char file[64];
    snprintf(file, sizeof(file), "%s.both", who);
    cr_assert_eq(cairn_signer_open(path(file), &s, &err), 0, "%s", err.text);
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cairn_signer_wrap(s, (const uint8_t *)req, strlen(req), t, &buf, &len, &err), 0,
                 "%s", err.text);
    cairn_signer_close(s);
    cairn_msg_type_t type;
    ProtobufCMessage *m = NULL;
    cr_assert_eq(cairn_msg_decode(buf, len, 0, &type, &m, &err), 0, "%s", err.text);
    cr_assert_eq(type, CAIRN_MSG_SIGNED);
    free(buf);
    return (Cairn__SignedRequest *)m;
}

static int check(cairn_verifier_t *v, const Cairn__SignedRequest *r, int64_t now, char *user,
                 cairn_error_t *err)
{
    return cairn_verifier_check(v, r->certificate.data, r->certificate.len, r->time_ms,
                                r->nonce.data, r->nonce.len, r->request.data, r->request.len,
                                r->signature.data, r->signature.len, now, user, 256, err);
}

TestSuite(sign, .init = setup, .fini = teardown);

Test(sign, a_signed_request_names_its_certificate)
{
    cairn_verifier_t *v = NULL;
    cairn_error_t err = {{0}};
    cr_assert_eq(cairn_verifier_open(path("ca.pem"), &v, &err), 0, "%s", err.text);
    int64_t t = now_ms();
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
    cairn_verifier_close(v);
}

Test(sign, stale_or_future_times_are_refused)
{
    cairn_verifier_t *v = NULL;
    cairn_error_t err = {{0}};
    cr_assert_eq(cairn_verifier_open(path("ca.pem"), &v, &err), 0, "%s", err.text);
    int64_t t = now_ms();
    Cairn__SignedRequest *r = sign_as("alice", "r", t);
    char user[256];
    cr_expect_eq(check(v, r, t + CAIRN_SIGN_SKEW_MS + 1, user, &err), -EACCES);
    cr_expect(strstr(err.text, "clock") != NULL, "%s", err.text);
    cr_expect_eq(check(v, r, t - CAIRN_SIGN_SKEW_MS - 1, user, &err), -EACCES);
    cr_expect_eq(check(v, r, t + CAIRN_SIGN_SKEW_MS, user, &err), 0, "%s", err.text);
    cairn_msg_free(&r->base);
    cairn_verifier_close(v);
}

Test(sign, other_cas_and_borrowed_certificates_are_refused)
{
    cairn_verifier_t *v = NULL;
    cairn_error_t err = {{0}};
    cr_assert_eq(cairn_verifier_open(path("ca.pem"), &v, &err), 0, "%s", err.text);
    int64_t t = now_ms();
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
    cairn_verifier_close(v);
}

Test(sign, a_key_that_is_not_the_certificates_is_refused_at_load)
{
    sh("cd %s && cat alice.crt bob.key > mixed.both", dir);
    cairn_signer_t *s = NULL;
    cairn_error_t err = {{0}};
    cr_expect_eq(cairn_signer_open(path("mixed.both"), &s, &err), -EINVAL);
    cr_expect(strstr(err.text, "not the certificate's") != NULL, "%s", err.text);
    cr_expect_eq(cairn_signer_open(path("nosuch.pem"), &s, &err), -EINVAL);
    cr_expect(strstr(err.text, "nosuch.pem") != NULL, "%s", err.text);
    cairn_verifier_t *v = NULL;
    cr_expect_eq(cairn_verifier_open(path("alice.key"), &v, &err), -EINVAL);
    cr_expect(strstr(err.text, "no CA certificate") != NULL, "%s", err.text);
}
