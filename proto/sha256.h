/* SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104): the spec hash and the
 * workers' join secret. */
#ifndef CAIRN_PROTO_SHA256_H
#define CAIRN_PROTO_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define CAIRN_SHA256_LEN 32

/* The digest of len bytes at data into out. */
void cairn_sha256(const void *data, size_t len, uint8_t out[CAIRN_SHA256_LEN]);

/* The same as 64 lower-case hex digits and a NUL. */
void cairn_sha256_hex(const void *data, size_t len, char out[2 * CAIRN_SHA256_LEN + 1]);

/* HMAC-SHA256 of len bytes at data under key. */
void cairn_hmac_sha256(const void *key, size_t klen, const void *data, size_t len,
                       uint8_t out[CAIRN_SHA256_LEN]);

#endif
