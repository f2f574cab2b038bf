/* SHA-256 and HMAC-SHA256 by mbedtls; see sha256.h.
 *
 * mbedtls 2.28's software SHA-256 functions return 0 whatever they are
 * given (only hardware "ALT" implementations can fail, and Debian builds
 * none), so their codes are not passed on. */
#include "proto/sha256.h"

#include <mbedtls/constant_time.h>
#include <mbedtls/md.h>
#include <stdio.h>
#include <string.h>

void cairn_sha256_init(cairn_sha256_ctx_t *c)
{
    mbedtls_sha256_init(c);
    (void)mbedtls_sha256_starts_ret(c, 0); /* 0: SHA-256, not SHA-224 */
}

void cairn_sha256_update(cairn_sha256_ctx_t *c, const void *data, size_t len)
{
    if (len) /* empty protobuf bytes have no data pointer */
        (void)mbedtls_sha256_update_ret(c, data, len);
}

void cairn_sha256_final(cairn_sha256_ctx_t *c, uint8_t out[CAIRN_SHA256_LEN])
{
    (void)mbedtls_sha256_finish_ret(c, out);
    mbedtls_sha256_free(c);
}

void cairn_sha256(const void *data, size_t len, uint8_t out[CAIRN_SHA256_LEN])
{
    cairn_sha256_ctx_t c;
    cairn_sha256_init(&c);
    cairn_sha256_update(&c, data, len);
    cairn_sha256_final(&c, out);
}

void cairn_sha256_to_hex(const uint8_t d[CAIRN_SHA256_LEN], char out[2 * CAIRN_SHA256_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < CAIRN_SHA256_LEN; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * CAIRN_SHA256_LEN] = '\0';
}

void cairn_sha256_hex(const void *data, size_t len, char out[2 * CAIRN_SHA256_LEN + 1])
{
    uint8_t d[CAIRN_SHA256_LEN];
    cairn_sha256(data, len, d);
    cairn_sha256_to_hex(d, out);
}

void cairn_hmac_sha256(const void *key, size_t klen, const void *data, size_t len,
                       uint8_t out[CAIRN_SHA256_LEN])
{
    static const uint8_t none;
    /* mbedtls wants a pointer even for 0 bytes */
    if (mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), klen ? key : &none, klen,
                        len ? data : &none, len, out) != 0)
        memset(out, 0, CAIRN_SHA256_LEN);
}

bool cairn_digest_equal(const void *a, const void *b, size_t n)
{
    return mbedtls_ct_memcmp(a, b, n) == 0;
}

void cairn_sha256_field(cairn_sha256_ctx_t *c, const char *s)
{
    cairn_sha256_field_bytes(c, s ? s : "", s ? strlen(s) : 0);
}

void cairn_sha256_field_bytes(cairn_sha256_ctx_t *c, const void *data, size_t n)
{
    char len[24];
    snprintf(len, sizeof(len), "%zu:", n);
    cairn_sha256_update(c, len, strlen(len));
    cairn_sha256_update(c, data, n);
}
