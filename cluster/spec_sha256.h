/* SHA-256 (FIPS 180-4), for the spec hash. Pure: no allocation. */
#ifndef CAIRN_CLUSTER_SPEC_SHA256_H
#define CAIRN_CLUSTER_SPEC_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SPEC_SHA256_LEN 32

/* The digest of len bytes at data into out. */
void spec_sha256(const void *data, size_t len, uint8_t out[SPEC_SHA256_LEN]);

/* The same as 64 lower-case hex digits and a NUL. */
void spec_sha256_hex(const void *data, size_t len, char out[2 * SPEC_SHA256_LEN + 1]);

#endif
