/* Signed client requests: who a tls+tcp:// client is, from its TLS client
 * certificate (see SignedRequest in client.proto); and signed worker
 * registrations: which certificate a tls+tcp:// worker holds (Auth in
 * worker.proto). Debian 12's nng 1.5.2
 * verifies the peer's certificate but does not expose it, so the client
 * also proves, per request, that it holds that certificate's key.
 * mbedtls (which nng's TLS already uses) does the X.509 and signatures.
 *
 * A signature (version 2) covers length-prefixed fields, so no two requests
 * sign alike; it names the scheduler it is meant for (the host the client
 * dialed, which nng's TLS checked against the scheduler's certificate), so
 * another scheduler refuses it; and the scheduler remembers what it
 * accepted for as long as the time would be accepted, so a copy sent again
 * is refused.
 *
 * A worker's registration is signed over the random challenge the
 * scheduler sent on that connection (answered once: proto/join.h), its own
 * nonce, its node name and the scheduler's name as it dialed it, so it is
 * worth nothing on another connection, for another name or to another
 * scheduler. */
#ifndef CAIRN_PROTO_SIGN_H
#define CAIRN_PROTO_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "proto/client.pb-c.h"
#include "proto/worker.pb-c.h"

/* How far a request's time may be from the scheduler's clock. */
#define CAIRN_SIGN_SKEW_MS (5 * 60 * 1000)
/* The signed-request format this code speaks (SignedRequest.version). */
#define CAIRN_SIGN_VERSION 2
/* Accepted requests remembered against replays, by default. */
#define CAIRN_SIGN_REPLAY_MAX 65536

typedef struct cairn_signer cairn_signer_t;

/* Load a PEM file holding the certificate (first) and its private key, to
 * sign requests for the scheduler at url (tls+tcp://HOST:PORT: bound to
 * HOST, lower case). */
int cairn_signer_create(const char *cert_key_pem, const char *url, cairn_signer_t **out,
                        cairn_error_t *err);
void cairn_signer_destroy(cairn_signer_t *s);
/* Wrap the encoded request req into an encoded CAIRN_MSG_SIGNED envelope
 * (malloc'd into *out), stamped with now_ms and a fresh nonce. */
int cairn_signer_wrap(cairn_signer_t *s, const uint8_t *req, size_t req_len, int64_t now_ms,
                      uint8_t **out, size_t *out_len, cairn_error_t *err);

/* Sign a worker's registration for the scheduler s was opened for: over
 * challenge (clen bytes, sent by the scheduler on this connection), the
 * nonce the caller put in a->nonce, and node. Sets a->certificate (DER),
 * a->scheduler and a->signature, which point into s until its next use.
 * 0, or -EIO with err. */
int cairn_signer_register(cairn_signer_t *s, const uint8_t *challenge, size_t clen,
                          const char *node, Cairn__Auth *a, cairn_error_t *err);

typedef struct cairn_verifier cairn_verifier_t;

/* Trust client certificates signed by the CAs in ca_pem, for requests
 * signed for one of the names (subject CN, DNS subjectAltNames) of the
 * scheduler's own certificate, the first in own_pem. Remember at most
 * replay_max accepted requests (0: CAIRN_SIGN_REPLAY_MAX). */
int cairn_verifier_create(const char *ca_pem, const char *own_pem, size_t replay_max,
                          cairn_verifier_t **out, cairn_error_t *err);
void cairn_verifier_destroy(cairn_verifier_t *v);
/* Check a SignedRequest at now_ms: version 2; the time within
 * CAIRN_SIGN_SKEW_MS; signed for this scheduler; the certificate chains to
 * a trusted CA, is valid now and may authenticate clients (its extended key
 * usage has clientAuth or anyExtendedKeyUsage, or it has none: RFC 5280);
 * the signature is its key's; not accepted before. On success the request
 * is remembered and the certificate's subject CN written to user (0);
 * otherwise a negative code (-EACCES; -EPROTO for another version) with
 * err saying what failed. */
int cairn_verifier_check(cairn_verifier_t *v, const Cairn__SignedRequest *r, int64_t now_ms,
                         char *user, size_t user_size, cairn_error_t *err);
/* Check a worker's answer a to challenge (clen bytes) for node: signed for
 * this scheduler; the certificate trusted as a client's is (chain, dates,
 * clientAuth, CN); the signature its key's over challenge, a->nonce, node
 * and a->scheduler. No time or replay check: the caller's challenge is
 * fresh per connection and answered once. On success (0) the subject CN
 * goes to cn and *named says whether node is one of the certificate's
 * names (its CN or a DNS subjectAltName, ignoring case; wildcards name no
 * node); otherwise -EACCES with err saying what failed. */
int cairn_verifier_check_register(cairn_verifier_t *v, const Cairn__Auth *a,
                                  const uint8_t *challenge, size_t clen, const char *node, char *cn,
                                  size_t cn_size, bool *named, cairn_error_t *err);

/* Whether the (first) certificate in pem_path may authenticate a client:
 * 1, 0 (its extended key usage lacks clientAuth: a server's only), or
 * -EINVAL (no certificate there; err says why). */
int cairn_cert_allows_client(const char *pem_path, cairn_error_t *err);

/* The user a certificate names: its subject CN, printable ASCII without
 * spaces, commas, colons, slashes or '@' (it names a user in job records,
 * logs and --admins), into user (n bytes): 0, or -EACCES saying why not.
 * Used for signed requests and HTTPS client certificates (web_http.c). */
struct mbedtls_x509_crt;
int cairn_cert_user(const struct mbedtls_x509_crt *crt, char *user, size_t n, cairn_error_t *err);

#endif
