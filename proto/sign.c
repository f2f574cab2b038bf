/* Signed client requests with mbedtls; see sign.h. */
#include "sign.h"

#include <errno.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>
#include <stdlib.h>
#include <string.h>

#include "client.pb-c.h"
#include "envelope.h"

#define SIGN_DOMAIN "cairn-signed-request-v1"
#define SIGN_NONCE_LEN 16
/* certificates already checked against the CA, by digest */
#define VERIFIED_CACHE 32

struct cairn_signer {
    mbedtls_x509_crt crt;
    mbedtls_pk_context key;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
};

typedef struct verified {
    uint8_t digest[32];
    char user[256];
    uint64_t used; /* for eviction: the least recently used goes */
} verified_t;

struct cairn_verifier {
    mbedtls_x509_crt ca;
    verified_t cache[VERIFIED_CACHE];
    size_t ncache;
    uint64_t clock;
};

static void mbed_text(int code, char *buf, size_t n)
{
    /* mbedtls_strerror needs MBEDTLS_ERROR_C, which Debian builds */
    mbedtls_strerror(code, buf, n);
}

/* SHA-256 over the domain, time (big endian), nonce and request. */
static int signed_digest(int64_t time_ms, const uint8_t *nonce, size_t nonce_len,
                         const uint8_t *req, size_t req_len, uint8_t out[32])
{
    uint8_t t[8];
    for (int i = 0; i < 8; i++)
        t[i] = (uint8_t)((uint64_t)time_ms >> (56 - 8 * i));
    mbedtls_sha256_context c;
    mbedtls_sha256_init(&c);
    int rc = mbedtls_sha256_starts_ret(&c, 0);
    if (!rc)
        rc = mbedtls_sha256_update_ret(&c, (const uint8_t *)SIGN_DOMAIN, sizeof(SIGN_DOMAIN));
    if (!rc)
        rc = mbedtls_sha256_update_ret(&c, t, sizeof(t));
    if (!rc)
        rc = mbedtls_sha256_update_ret(&c, nonce, nonce_len);
    if (!rc)
        rc = mbedtls_sha256_update_ret(&c, req, req_len);
    if (!rc)
        rc = mbedtls_sha256_finish_ret(&c, out);
    mbedtls_sha256_free(&c);
    return rc;
}

/* ---- client side --------------------------------------------------------- */

int cairn_signer_open(const char *path, cairn_signer_t **out, cairn_error_t *err)
{
    cairn_signer_t *s = calloc(1, sizeof(*s));
    if (!s)
        return errcode(err, -ENOMEM, "out of memory");
    mbedtls_x509_crt_init(&s->crt);
    mbedtls_pk_init(&s->key);
    mbedtls_entropy_init(&s->entropy);
    mbedtls_ctr_drbg_init(&s->drbg);
    char why[128];
    int rc = mbedtls_x509_crt_parse_file(&s->crt, path);
    if (rc < 0 || !s->crt.raw.len) {
        mbed_text(rc, why, sizeof(why));
        cairn_signer_close(s);
        return errcode(err, -EINVAL, "%s: no certificate: %s", path, rc < 0 ? why : "none found");
    }
    if ((rc = mbedtls_pk_parse_keyfile(&s->key, path, NULL)) != 0) {
        mbed_text(rc, why, sizeof(why));
        cairn_signer_close(s);
        return errcode(err, -EINVAL, "%s: no private key: %s", path, why);
    }
    if ((rc = mbedtls_pk_check_pair(&s->crt.pk, &s->key)) != 0) {
        cairn_signer_close(s);
        return errcode(err, -EINVAL, "%s: the private key is not the certificate's", path);
    }
    static const char pers[] = "cairn-signer";
    if ((rc = mbedtls_ctr_drbg_seed(&s->drbg, mbedtls_entropy_func, &s->entropy,
                                    (const uint8_t *)pers, sizeof(pers))) != 0) {
        cairn_signer_close(s);
        return errcode(err, -EIO, "no randomness for signing");
    }
    *out = s;
    return 0;
}

void cairn_signer_close(cairn_signer_t *s)
{
    if (!s)
        return;
    mbedtls_x509_crt_free(&s->crt);
    mbedtls_pk_free(&s->key);
    mbedtls_ctr_drbg_free(&s->drbg);
    mbedtls_entropy_free(&s->entropy);
    free(s);
}

int cairn_signer_wrap(cairn_signer_t *s, const uint8_t *req, size_t req_len, int64_t now_ms,
                      uint8_t **out, size_t *out_len, cairn_error_t *err)
{
    uint8_t nonce[SIGN_NONCE_LEN], digest[32], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t sig_len = 0;
    if (mbedtls_ctr_drbg_random(&s->drbg, nonce, sizeof(nonce)) != 0 ||
        signed_digest(now_ms, nonce, sizeof(nonce), req, req_len, digest) != 0 ||
        mbedtls_pk_sign(&s->key, MBEDTLS_MD_SHA256, digest, sizeof(digest), sig, &sig_len,
                        mbedtls_ctr_drbg_random, &s->drbg) != 0)
        return errcode(err, -EIO, "cannot sign the request");
    Cairn__SignedRequest m = CAIRN__SIGNED_REQUEST__INIT;
    m.certificate.data = s->crt.raw.p;
    m.certificate.len = s->crt.raw.len;
    m.time_ms = now_ms;
    m.nonce.data = nonce;
    m.nonce.len = sizeof(nonce);
    m.request.data = (uint8_t *)req;
    m.request.len = req_len;
    m.signature.data = sig;
    m.signature.len = sig_len;
    return cairn_msg_encode(CAIRN_MSG_SIGNED, &m.base, out, out_len, err);
}

/* ---- scheduler side ------------------------------------------------------ */

int cairn_verifier_open(const char *ca_pem, cairn_verifier_t **out, cairn_error_t *err)
{
    cairn_verifier_t *v = calloc(1, sizeof(*v));
    if (!v)
        return errcode(err, -ENOMEM, "out of memory");
    mbedtls_x509_crt_init(&v->ca);
    int rc = mbedtls_x509_crt_parse_file(&v->ca, ca_pem);
    if (rc < 0 || !v->ca.raw.len) {
        char why[128];
        mbed_text(rc, why, sizeof(why));
        cairn_verifier_close(v);
        return errcode(err, -EINVAL, "%s: no CA certificate: %s", ca_pem,
                       rc < 0 ? why : "none found");
    }
    *out = v;
    return 0;
}

void cairn_verifier_close(cairn_verifier_t *v)
{
    if (!v)
        return;
    mbedtls_x509_crt_free(&v->ca);
    free(v);
}

/* The subject's CN: printable ASCII without spaces, commas, colons or
 * slashes (it names a user in job records, logs and --admins). */
static int subject_cn(const mbedtls_x509_crt *crt, char *user, size_t n, cairn_error_t *err)
{
    for (const mbedtls_x509_name *nm = &crt->subject; nm; nm = nm->next) {
        if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &nm->oid) != 0)
            continue;
        size_t len = nm->val.len;
        if (len == 0 || len >= n)
            return errcode(err, -EACCES, "the certificate's CN is empty or too long");
        for (size_t i = 0; i < len; i++) {
            uint8_t c = nm->val.p[i];
            if (c <= ' ' || c >= 0x7f || c == ',' || c == ':' || c == '/' || c == '@')
                return errcode(err, -EACCES, "the certificate's CN is not a user name");
        }
        memcpy(user, nm->val.p, len);
        user[len] = '\0';
        return 0;
    }
    return errcode(err, -EACCES, "the certificate has no CN");
}

int cairn_verifier_check(cairn_verifier_t *v, const uint8_t *cert_der, size_t cert_len,
                         int64_t time_ms, const uint8_t *nonce, size_t nonce_len,
                         const uint8_t *req, size_t req_len, const uint8_t *sig, size_t sig_len,
                         int64_t now_ms, char *user, size_t user_size, cairn_error_t *err)
{
    if (time_ms < now_ms - CAIRN_SIGN_SKEW_MS || time_ms > now_ms + CAIRN_SIGN_SKEW_MS)
        return errcode(err, -EACCES,
                       "signed request time is %lld ms from the scheduler's clock "
                       "(at most %d allowed)",
                       (long long)(time_ms - now_ms), CAIRN_SIGN_SKEW_MS);
    if (nonce_len < SIGN_NONCE_LEN)
        return errcode(err, -EACCES, "signed request without a nonce");
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    int rc = mbedtls_x509_crt_parse_der(&crt, cert_der, cert_len);
    if (rc != 0) {
        mbedtls_x509_crt_free(&crt);
        return errcode(err, -EACCES, "signed request: the certificate does not parse");
    }
    uint8_t cdig[32];
    mbedtls_sha256_ret(cert_der, cert_len, cdig, 0);
    verified_t *hit = NULL;
    for (size_t i = 0; i < v->ncache; i++)
        if (!memcmp(v->cache[i].digest, cdig, sizeof(cdig)))
            hit = &v->cache[i];
    /* validity dates are checked every time, the chain once */
    if (hit &&
        (mbedtls_x509_time_is_past(&crt.valid_to) || mbedtls_x509_time_is_future(&crt.valid_from)))
        hit = NULL;
    char name[256];
    if (!hit) {
        uint32_t flags = 0;
        if (mbedtls_x509_crt_verify(&crt, &v->ca, NULL, NULL, &flags, NULL, NULL) != 0) {
            char why[256];
            mbedtls_x509_crt_verify_info(why, sizeof(why), "", flags);
            why[strcspn(why, "\n")] = '\0';
            mbedtls_x509_crt_free(&crt);
            return errcode(err, -EACCES, "signed request: certificate not trusted: %s", why);
        }
        if ((rc = subject_cn(&crt, name, sizeof(name), err)) < 0) {
            mbedtls_x509_crt_free(&crt);
            return rc;
        }
    } else {
        snprintf(name, sizeof(name), "%s", hit->user);
    }
    uint8_t digest[32];
    rc = signed_digest(time_ms, nonce, nonce_len, req, req_len, digest);
    if (!rc)
        rc = mbedtls_pk_verify(&crt.pk, MBEDTLS_MD_SHA256, digest, sizeof(digest), sig, sig_len);
    mbedtls_x509_crt_free(&crt);
    if (rc != 0)
        return errcode(err, -EACCES, "signed request: the signature is not the certificate's");
    if (!hit) {
        size_t k = 0;
        if (v->ncache < VERIFIED_CACHE)
            k = v->ncache++;
        else
            for (size_t i = 1; i < VERIFIED_CACHE; i++)
                if (v->cache[i].used < v->cache[k].used)
                    k = i;
        hit = &v->cache[k];
        memcpy(hit->digest, cdig, sizeof(cdig));
        snprintf(hit->user, sizeof(hit->user), "%s", name);
    }
    hit->used = ++v->clock;
    snprintf(user, user_size, "%s", name);
    return 0;
}
