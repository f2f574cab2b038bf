/* Workers' identity on a tls+tcp:// worker endpoint of a real
 * cairn-scheduler with --tls-ca: a worker signs its registration with its
 * certificate's key over the challenge of its connection, and is that
 * certificate's CN. A worker is refused under a node name its certificate
 * does not hold (unless --allow-any-node-name); another certificate cannot
 * take the name of a node that is away, though the same address could
 * under address binding; the same certificate comes back; an answer is
 * worth nothing on another connection, nor twice; a certificate for
 * servers only, from another CA, or signed for another scheduler is
 * refused; a name bound to an address passes to a certificate proven from
 * that address when the scheduler starts verifying certificates.
 *
 * Fake workers connect over TLS with a certificate of the cluster's CA
 * (the handshake needs one) and sign with the certificate the test says:
 * the TLS certificate itself is not what names a worker, the signature is
 * (nng 1.5.2 does not expose the peer's certificate). */
#include <poll.h>

#include "certs.h"
#include "proto/join.h"
#include "proto/net.h"
#include "sched_harness.h"

typedef struct cluster {
    h_sched_t s;
    char url[64], arg[64], cert[128], ca[128];
} cluster_t;

static void make_certs(void)
{
    certs_init();
    certs_ca("ca");
    certs_ca("otherca");
    certs_make("server", "/CN=127.0.0.1", "ca", "");
    certs_make("n1", "/CN=n1", "ca", "extendedKeyUsage=clientAuth");
    certs_make("n2", "/CN=n2", "ca", "extendedKeyUsage=clientAuth");
    /* a second valid certificate that names n1 too (a DNS name) */
    certs_make("spare", "/CN=spare", "ca", "subjectAltName=DNS:n1");
    certs_make("box3", "/CN=box-3", "ca", "subjectAltName=DNS:n3");
    certs_make("srvonly", "/CN=n1", "ca", "extendedKeyUsage=serverAuth");
    certs_make("foreign", "/CN=n1", "otherca", "");
}

/* (Re)start the scheduler on the cluster's tls+tcp:// worker endpoint
 * (verify: with --tls-ca), nodes away for a minute before they are down,
 * with extra (one more flag, or NULL). */
static void sched_run(cluster_t *c, bool verify, const char *extra)
{
    const char *args[12] = {"--workers",           c->arg, "--tls-cert",      c->cert,
                            "--heartbeat-timeout", "60s",  "--restart-grace", "60s"};
    int n = 8;
    if (verify) {
        args[n++] = "--tls-ca";
        args[n++] = c->ca;
    }
    args[n++] = extra;
    args[n] = NULL;
    h_sched_start(&c->s, args);
}

static void start(cluster_t *c, bool verify, const char *extra)
{
    snprintf(c->url, sizeof(c->url), "tls+tcp://127.0.0.1:%d", h_free_port());
    snprintf(c->arg, sizeof(c->arg), "%s", c->url);
    snprintf(c->cert, sizeof(c->cert), "%s", certs_path("server.both"));
    snprintf(c->ca, sizeof(c->ca), "%s", certs_path("ca.pem"));
    h_sched_init(&c->s);
    sched_run(c, verify, extra);
}

static void stop(cluster_t *c)
{
    h_sched_fini(&c->s);
    certs_fini();
}

/* A fake worker named name dialing over TLS with the certificate tls_cert
 * (NAME, of the cluster's CA). Its Registers go once each (the first waits
 * for the connection): a second one would replace the challenge. */
static void worker_open(h_worker_t *w, const cluster_t *c, const char *name, const char *tls_cert)
{
    char file[64];
    snprintf(file, sizeof(file), "%s.both", tls_cert);
    h_worker_socket(w, name, 2, 0);
    w->register_once = w->confirm_late = true;
    nng_dialer dl;
    cr_assert_eq(nng_dialer_create(&dl, w->sock, c->url), 0);
    cairn_tls_t tls = {.cert_key = certs_path(file), .ca = certs_path("ca.pem")};
    cairn_error_t err = {{0}};
    cr_assert_eq(cairn_tls_dialer(dl, c->url, &tls, true, &err), 0, "%s", err.text);
    cr_assert_eq(nng_dialer_start(dl, NNG_FLAG_NONBLOCK), 0);
}

/* The worker's connection goes: the node is away. First wait (deadline)
 * until nothing it sent is still on its way: nng 1.5.2 loses a TLS send
 * that a close overtakes, and then waits for it for good in every later
 * close of the process (its reaper hangs in pair1_pipe_stop). (What it
 * received is confirmed late, so the close never comes right after a
 * message: see h_worker_t.confirm_late.) */
static void worker_away(h_worker_t *w)
{
    int fd;
    cr_assert_eq(nng_socket_get_int(w->sock, NNG_OPT_SENDFD, &fd), 0);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int64_t deadline = cairn_mono_ms() + 10000;
    while (poll(&pfd, 1, 100) == 0) /* raised when the last send is done */
        cr_assert_lt(cairn_mono_ms(), deadline, "%s still sending after 10 s", w->name);
    h_worker_close(w);
}

/* An answer to a challenge: the signer keeps the certificate and the
 * signature the Auth points into. */
typedef struct answer {
    Cairn__Auth auth;
    uint8_t nonce[CAIRN_JOIN_NONCE_LEN];
    cairn_signer_t *signer;
} answer_t;

/* Sign challenge for node with signer_cert (NAME.both), for the scheduler
 * at url. */
static void answer_sign(answer_t *a, const char *signer_cert, const char *url,
                        const ProtobufCBinaryData *challenge, const char *node)
{
    char file[64];
    cairn_error_t err = {{0}};
    snprintf(file, sizeof(file), "%s.both", signer_cert);
    memset(a, 0, sizeof(*a));
    cairn__auth__init(&a->auth);
    cr_assert_eq(cairn_signer_create(certs_path(file), url, &a->signer, &err), 0, "%s", err.text);
    cr_assert_eq(cairn_join_random(a->nonce, sizeof(a->nonce)), 0);
    a->auth.nonce = (ProtobufCBinaryData){.len = sizeof(a->nonce), .data = a->nonce};
    cr_assert_eq(
        cairn_signer_register(a->signer, challenge->data, challenge->len, node, &a->auth, &err), 0,
        "%s", err.text);
}

static void answer_fini(answer_t *a)
{
    cairn_signer_destroy(a->signer);
    a->signer = NULL;
}

/* Register w: the scheduler's challenge, then the answer signed with
 * signer_cert for the scheduler at url (NULL: the cluster's). Returns the
 * reply to the answer; a keeps it for the caller. */
static Cairn__RegisterReply *register_signed(h_worker_t *w, const cluster_t *c,
                                             const char *signer_cert, const char *url, answer_t *a)
{
    w->auth = NULL;
    Cairn__RegisterReply *rr = h_register(w, NULL, 0);
    cr_assert_not_null(rr, "no answer to %s's Register", w->name);
    cr_assert(!rr->accepted && rr->challenge.len > 0, "%s not challenged: %s", w->name,
              rr->accepted ? "accepted" : rr->error);
    cr_expect(strstr(rr->error, "signed with the worker's certificate (--tls-cert)"), "%s",
              rr->error);
    answer_sign(a, signer_cert, url ? url : c->url, &rr->challenge, w->name);
    cairn_msg_free(&rr->base);
    w->auth = &a->auth;
    rr = h_register(w, NULL, 0);
    cr_assert_not_null(rr, "no answer to %s's signed Register", w->name);
    return rr;
}

/* One connection of a worker named node (TLS certificate tls_cert) that
 * answers with signer's certificate for url (NULL: the cluster's), then
 * goes away: the reply to its answer. */
static Cairn__RegisterReply *join_once(const cluster_t *c, const char *node, const char *tls_cert,
                                       const char *signer, const char *url)
{
    h_worker_t w;
    answer_t a;
    worker_open(&w, c, node, tls_cert);
    Cairn__RegisterReply *rr = register_signed(&w, c, signer, url, &a);
    answer_fini(&a);
    worker_away(&w);
    return rr;
}

static void expect_refused(Cairn__RegisterReply *rr, const char *why)
{
    cr_expect(!rr->accepted, "accepted; expected refused with '%s'", why);
    cr_expect(strstr(rr->error, why) != NULL, "refused with '%s', expected '%s'", rr->error, why);
    cairn_msg_free(&rr->base);
}

static void expect_accepted(Cairn__RegisterReply *rr, const char *who)
{
    cr_expect(rr->accepted, "%s refused: %s", who, rr->error);
    cairn_msg_free(&rr->base);
}

/* Wait (deadline) for text in the scheduler's log. */
static void wait_log(const cluster_t *c, const char *text)
{
    int64_t deadline = cairn_mono_ms() + 10000;
    while (h_log_count(&c->s, text) == 0) {
        cr_assert_lt(cairn_mono_ms(), deadline, "no '%s' in the scheduler's log", text);
        nng_msleep(20); /* polling a condition with a deadline */
    }
}

Test(tls_identity, a_worker_is_named_after_its_certificate)
{
    make_certs();
    cluster_t c;
    start(&c, true, NULL);
    expect_refused(join_once(&c, "n1", "n2", "n2", NULL),
                   "node name n1 is not its certificate's (CN=n2)");
    wait_log(&c, "worker n1 (127.0.0.1) refused: node name n1 is not its certificate's (CN=n2)");
    expect_accepted(join_once(&c, "n1", "n1", "n1", NULL), "n1");
    expect_accepted(join_once(&c, "n2", "n2", "n2", NULL), "n2");
    /* a DNS name of the certificate names the worker too */
    expect_accepted(join_once(&c, "n3", "box3", "box3", NULL), "box-3 as n3");
    stop(&c);
}

/* The name stays the certificate's while the node is away, even for a
 * worker at the same address with another valid certificate that names
 * it; the node's own certificate takes it back. */
Test(tls_identity, another_certificate_cannot_take_a_name_while_the_node_is_away)
{
    make_certs();
    cluster_t c;
    start(&c, true, NULL);
    h_worker_t thief;
    answer_t t;
    expect_accepted(join_once(&c, "n1", "n1", "n1", NULL), "n1"); /* then away, not down */
    wait_log(&c, "node n1 disconnected");
    worker_open(&thief, &c, "n1", "n1");
    Cairn__RegisterReply *rr = register_signed(&thief, &c, "spare", NULL, &t);
    cr_expect(!rr->accepted, "another certificate took the name of a node that is away");
    cr_expect(strstr(rr->error, "node n1 is the worker at certificate CN=n1, not down yet") &&
                  strstr(rr->error, "one at certificate CN=spare may take the name"),
              "%s", rr->error);
    cairn_msg_free(&rr->base);
    /* refused for its name, not its answer: the same answer goes again */
    expect_refused(h_register(&thief, NULL, 0), "not down yet");
    answer_fini(&t);
    worker_away(&thief);
    /* the node itself, with its certificate, on a new connection (whose
     * TLS certificate may be any of the CA's: the signature names it) */
    expect_accepted(join_once(&c, "n1", "n2", "n1", NULL), "n1 back");
    stop(&c);
}

/* With --allow-any-node-name any verified certificate may take a free
 * name, and holds it as firmly. */
Test(tls_identity, any_name_still_binds_the_certificate)
{
    make_certs();
    cluster_t c;
    start(&c, true, "--allow-any-node-name");
    expect_accepted(join_once(&c, "gpu-07", "n2", "n2", NULL), "n2 as gpu-07");
    wait_log(&c, "node gpu-07 disconnected");
    expect_refused(join_once(&c, "gpu-07", "n1", "n1", NULL),
                   "node gpu-07 is the worker at certificate CN=n2, not down yet");
    stop(&c);
}

/* An accepted answer is refused on another connection (its challenge is
 * that connection's) and again on its own. */
Test(tls_identity, a_replayed_registration_is_refused)
{
    make_certs();
    cluster_t c;
    start(&c, true, NULL);
    h_worker_t w, copy;
    answer_t a;
    worker_open(&w, &c, "n1", "n1");
    expect_accepted(register_signed(&w, &c, "n1", NULL, &a), "n1");
    /* the same bytes on another connection: first before any challenge
     * there, then over the challenge that connection got */
    worker_open(&copy, &c, "n1", "n2");
    copy.auth = &a.auth;
    Cairn__RegisterReply *rr = h_register(&copy, NULL, 0);
    cr_assert_not_null(rr);
    cr_expect(!rr->accepted && rr->challenge.len > 0, "%s", rr->error);
    cairn_msg_free(&rr->base);
    wait_log(&c, "worker n1 (127.0.0.1) refused: answer to no challenge");
    expect_refused(h_register(&copy, NULL, 0), "worker certificate: the signature is not the "
                                               "certificate's");
    worker_away(&copy);
    /* and again on its own connection, where it was accepted */
    expect_refused(h_register(&w, NULL, 0), "authentication required");
    answer_fini(&a);
    worker_away(&w);
    stop(&c);
}

/* A signature with a certificate for servers only, or of another CA, or
 * meant for another scheduler names no worker. */
Test(tls_identity, only_client_certificates_of_the_ca_for_this_scheduler)
{
    make_certs();
    cluster_t c;
    start(&c, true, NULL);
    expect_refused(join_once(&c, "n1", "n1", "srvonly", NULL),
                   "worker certificate: the certificate is not for client authentication");
    expect_refused(join_once(&c, "n1", "n1", "foreign", NULL),
                   "worker certificate: certificate not trusted");
    char other[80];
    snprintf(other, sizeof(other), "tls+tcp://sched-b.example:%s", strrchr(c.url, ':') + 1);
    expect_refused(join_once(&c, "n1", "n1", "n1", other),
                   "the worker's registration is for the scheduler 'sched-b.example', not this "
                   "one (127.0.0.1)");
    stop(&c);
}

/* A cluster that starts verifying certificates: a node bound to its
 * address takes its certificate from that address while it is returning;
 * from then on the name is the certificate's. */
Test(tls_identity, an_address_binding_passes_to_the_certificate_proven_from_there)
{
    make_certs();
    cluster_t c;
    start(&c, false, NULL);
    h_worker_t w;
    worker_open(&w, &c, "n1", "n1");
    w.register_once = false;
    Cairn__RegisterReply *rr = h_register(&w, NULL, 0); /* nothing to answer */
    cr_assert_not_null(rr);
    expect_accepted(rr, "n1 without --tls-ca");
    worker_away(&w);
    h_sched_stop(&c.s, SIGKILL);
    sched_run(&c, true, NULL); /* n1 returning, bound to "address 127.0.0.1" */
    expect_accepted(join_once(&c, "n1", "n1", "n1", NULL), "n1 with its certificate");
    wait_log(&c, "node n1 disconnected");
    expect_refused(join_once(&c, "n1", "n1", "spare", NULL),
                   "node n1 is the worker at certificate CN=n1, not down yet");
    stop(&c);
}
