/* SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104): the spec hash, the
 * workers' join secret and the hashes of tasks' outputs. */
#ifndef CAIRN_PROTO_SHA256_H
#define CAIRN_PROTO_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define CAIRN_SHA256_LEN 32

/* The digest of len bytes at data into out. */
void cairn_sha256(const void *data, size_t len, uint8_t out[CAIRN_SHA256_LEN]);

/* Streaming: init, update with the data in pieces, final writes the
 * digest of everything given (the context is spent then; init it again
 * to reuse it). The same digest as cairn_sha256() on the concatenation. */
typedef struct cairn_sha256_ctx {
    uint32_t h[8];
    uint64_t len; /* bytes given so far */
    uint8_t buf[64];
    size_t nbuf;
} cairn_sha256_ctx_t;

void cairn_sha256_init(cairn_sha256_ctx_t *c);
void cairn_sha256_update(cairn_sha256_ctx_t *c, const void *data, size_t len);
void cairn_sha256_final(cairn_sha256_ctx_t *c, uint8_t out[CAIRN_SHA256_LEN]);
/* Feed s (NULL: "") as "LEN:" then its bytes, so that no two lists of
 * fields hash alike (cache keys). */
void cairn_sha256_field(cairn_sha256_ctx_t *c, const char *s);
/* The same for n bytes that may hold NULs (signed requests). */
void cairn_sha256_field_bytes(cairn_sha256_ctx_t *c, const void *data, size_t n);

/* A digest as 64 lower-case hex digits and a NUL. */
void cairn_sha256_to_hex(const uint8_t d[CAIRN_SHA256_LEN], char out[2 * CAIRN_SHA256_LEN + 1]);

/* The digest of len bytes at data as 64 lower-case hex digits and a NUL. */
void cairn_sha256_hex(const void *data, size_t len, char out[2 * CAIRN_SHA256_LEN + 1]);

/* HMAC-SHA256 of len bytes at data under key. */
void cairn_hmac_sha256(const void *key, size_t klen, const void *data, size_t len,
                       uint8_t out[CAIRN_SHA256_LEN]);

#endif
