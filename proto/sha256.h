/* SHA-256 and HMAC-SHA256 for Cairn, done by mbedtls (the library nng's TLS
 * and request signing already use): the spec hash, cached tasks' keys, the
 * audit chain, the hashes of tasks' outputs, the join key's id and proofs,
 * and signed requests. What Cairn adds is small: the length-prefixed field
 * (so that no two lists of fields hash alike), hex digests, and one place
 * that speaks mbedtls 2.28's API (its *_ret functions, renamed in 3.0).
 *
 * Library cairn_sha256 (proto/CMakeLists.txt): common/ and mbedcrypto. */
#ifndef CAIRN_PROTO_SHA256_H
#define CAIRN_PROTO_SHA256_H

#include <mbedtls/sha256.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAIRN_SHA256_LEN 32

/* The digest of len bytes at data into out. */
void cairn_sha256(const void *data, size_t len, uint8_t out[CAIRN_SHA256_LEN]);

/* Streaming: init, update with the data in pieces, final writes the
 * digest of everything given and releases the context (init it again to
 * reuse it). The same digest as cairn_sha256() on the concatenation. A
 * context given up before final holds nothing to free. */
typedef mbedtls_sha256_context cairn_sha256_ctx_t;

void cairn_sha256_init(cairn_sha256_ctx_t *c);
void cairn_sha256_update(cairn_sha256_ctx_t *c, const void *data, size_t len);
void cairn_sha256_final(cairn_sha256_ctx_t *c, uint8_t out[CAIRN_SHA256_LEN]);
/* Feed s (NULL: "") as "LEN:" then its bytes, so that no two lists of
 * fields hash alike (cache keys, the audit chain). */
void cairn_sha256_field(cairn_sha256_ctx_t *c, const char *s);
/* The same for n bytes that may hold NULs (signed requests). */
void cairn_sha256_field_bytes(cairn_sha256_ctx_t *c, const void *data, size_t n);

/* A digest as 64 lower-case hex digits and a NUL. */
void cairn_sha256_to_hex(const uint8_t d[CAIRN_SHA256_LEN], char out[2 * CAIRN_SHA256_LEN + 1]);

/* The digest of len bytes at data as 64 lower-case hex digits and a NUL. */
void cairn_sha256_hex(const void *data, size_t len, char out[2 * CAIRN_SHA256_LEN + 1]);

/* HMAC-SHA256 of len bytes at data under key. Out of memory, out is all
 * zeros: it matches nothing a peer computed. */
void cairn_hmac_sha256(const void *key, size_t klen, const void *data, size_t len,
                       uint8_t out[CAIRN_SHA256_LEN]);

/* Whether the n bytes at a and b are equal, in a time that does not depend
 * on where they differ (for MACs: mbedtls_ct_memcmp). */
bool cairn_digest_equal(const void *a, const void *b, size_t n);

#endif
