/* Signed client requests: who a tls+tcp:// client is, from its TLS client
 * certificate (see SignedRequest in client.proto). Debian 12's nng 1.5.2
 * verifies the peer's certificate but does not expose it, so the client
 * also proves, per request, that it holds that certificate's key.
 * mbedtls (which nng's TLS already uses) does the X.509 and signatures. */
#ifndef CAIRN_PROTO_SIGN_H
#define CAIRN_PROTO_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "scheduling/error.h"

/* How far a request's time may be from the scheduler's clock. */
#define CAIRN_SIGN_SKEW_MS (5 * 60 * 1000)

typedef struct cairn_signer cairn_signer_t;

/* Load a PEM file holding the certificate (first) and its private key. */
int cairn_signer_open(const char *cert_key_pem, cairn_signer_t **out, cairn_error_t *err);
void cairn_signer_close(cairn_signer_t *s);
/* Wrap the encoded request req into an encoded CAIRN_MSG_SIGNED envelope
 * (malloc'd into *out), stamped with now_ms. */
int cairn_signer_wrap(cairn_signer_t *s, const uint8_t *req, size_t req_len, int64_t now_ms,
                      uint8_t **out, size_t *out_len, cairn_error_t *err);

typedef struct cairn_verifier cairn_verifier_t;

/* Trust certificates signed by the CAs in ca_pem. */
int cairn_verifier_open(const char *ca_pem, cairn_verifier_t **out, cairn_error_t *err);
void cairn_verifier_close(cairn_verifier_t *v);
/* Check a SignedRequest's fields at now_ms: the certificate chains to a
 * trusted CA and is valid now, the signature is its key's over the
 * request, the time is within CAIRN_SIGN_SKEW_MS. On success the
 * certificate's subject CN is written to user (0); otherwise a negative
 * code (-EACCES) with err saying what failed. */
int cairn_verifier_check(cairn_verifier_t *v, const uint8_t *cert_der, size_t cert_len,
                         int64_t time_ms, const uint8_t *nonce, size_t nonce_len,
                         const uint8_t *req, size_t req_len, const uint8_t *sig, size_t sig_len,
                         int64_t now_ms, char *user, size_t user_size, cairn_error_t *err);

#endif
