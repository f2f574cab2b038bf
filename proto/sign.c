/* Signed client requests with mbedtls; see sign.h.
 *
 * The scheduler's side keeps two small tables: certificates already checked
 * against the CA (VERIFIED_CACHE, least recently used goes), and the
 * requests it accepted (seen_t, sorted by time then digest), so that a copy
 * sent again is refused. A request is remembered while its time would still
 * be accepted; when the table is full the oldest goes and "floor" rises to
 * its time: anything not newer than the floor is refused as too old to tell
 * from a replay. So every accepted request newer than the floor is in the
 * table, whatever the clock does, in at most replay_max entries. */
#include "proto/sign.h"

#include <ctype.h>
#include <errno.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/envelope.h"
#include "proto/sha256.h"

#define SIGN_DOMAIN_V2 "cairn-signed-request-v2"
#define REGISTER_DOMAIN "cairn-worker-register-v1"
#define SIGN_NONCE_LEN 16
#define SIGN_NONCE_MAX 64
#define NAME_MAX_LEN 256
/* certificates already checked against the CA, by digest */
#define VERIFIED_CACHE 32
/* names of the scheduler's own certificate kept */
#define OWN_NAMES_MAX 32

struct cairn_signer {
    mbedtls_x509_crt crt;
    mbedtls_pk_context key;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    char scheduler[NAME_MAX_LEN];
    uint8_t sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE]; /* the last registration's */
};

typedef struct verified {
    uint8_t digest[CAIRN_SHA256_LEN];
    char user[NAME_MAX_LEN];
    uint64_t used; /* for eviction: the least recently used goes */
} verified_t;

typedef struct seen {
    int64_t time_ms;
    uint8_t digest[CAIRN_SHA256_LEN];
} seen_t;

struct cairn_verifier {
    mbedtls_x509_crt ca;
    verified_t cache[VERIFIED_CACHE];
    size_t ncache;
    uint64_t clock;
    char names[OWN_NAMES_MAX][NAME_MAX_LEN]; /* this scheduler's, lower case */
    size_t nnames;
    seen_t *seen; /* accepted requests: seen[head .. head + nseen), sorted */
    size_t head, nseen, seen_cap, seen_max;
    int64_t floor_ms; /* requests at or before this time are refused */
};

static void mbed_text(int code, char *buf, size_t n)
{
    /* mbedtls_strerror needs MBEDTLS_ERROR_C, which Debian builds */
    mbedtls_strerror(code, buf, n);
}

static void lower_copy(char *dst, size_t n, const char *src, size_t len)
{
    if (len >= n)
        len = n - 1;
    for (size_t i = 0; i < len; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[len] = '\0';
}

/* SHA-256 over the length-prefixed fields: domain, scheduler, time (8 bytes
 * big endian), nonce and request (client.proto, SignedRequest). */
static void signed_digest(const char *scheduler, int64_t time_ms, const uint8_t *nonce,
                          size_t nonce_len, const uint8_t *req, size_t req_len,
                          uint8_t out[CAIRN_SHA256_LEN])
{
    uint8_t t[8];
    for (int i = 0; i < 8; i++)
        t[i] = (uint8_t)((uint64_t)time_ms >> (56 - 8 * i));
    cairn_sha256_ctx_t c;
    cairn_sha256_init(&c);
    cairn_sha256_field(&c, SIGN_DOMAIN_V2);
    cairn_sha256_field(&c, scheduler);
    cairn_sha256_field_bytes(&c, t, sizeof(t));
    cairn_sha256_field_bytes(&c, nonce, nonce_len);
    cairn_sha256_field_bytes(&c, req, req_len);
    cairn_sha256_final(&c, out);
}

/* SHA-256 over the length-prefixed fields of a worker's registration:
 * domain, challenge, nonce, node name and scheduler (worker.proto, Auth). */
static void register_digest(const uint8_t *challenge, size_t clen, const uint8_t *nonce,
                            size_t nonce_len, const char *node, const char *scheduler,
                            uint8_t out[CAIRN_SHA256_LEN])
{
    cairn_sha256_ctx_t c;
    cairn_sha256_init(&c);
    cairn_sha256_field(&c, REGISTER_DOMAIN);
    cairn_sha256_field_bytes(&c, challenge, clen);
    cairn_sha256_field_bytes(&c, nonce, nonce_len);
    cairn_sha256_field(&c, node ? node : "");
    cairn_sha256_field(&c, scheduler ? scheduler : "");
    cairn_sha256_final(&c, out);
}

/* ---- client side --------------------------------------------------------- */

/* The host of a tls+tcp://HOST:PORT URL ("[::1]" without the brackets), as
 * nng's TLS checks it against the scheduler's certificate. */
static int url_host(const char *url, char *host, size_t n, cairn_error_t *err)
{
    const char *p = url ? strstr(url, "://") : NULL;
    if (!p)
        return errcode(err, -EINVAL, "%s: not a URL", url ? url : "(none)");
    p += 3;
    const char *end;
    if (*p == '[') {
        end = strchr(++p, ']');
    } else {
        end = strrchr(p, ':');
        if (!end)
            end = p + strcspn(p, "/");
    }
    if (!end || end == p || (size_t)(end - p) >= n)
        return errcode(err, -EINVAL, "%s: no host name to sign requests for", url);
    lower_copy(host, n, p, (size_t)(end - p));
    return 0;
}

int cairn_signer_create(const char *path, const char *url, cairn_signer_t **out, cairn_error_t *err)
{
    cairn_signer_t *s = calloc(1, sizeof(*s));
    if (!s)
        return errcode(err, -ENOMEM, "out of memory");
    mbedtls_x509_crt_init(&s->crt);
    mbedtls_pk_init(&s->key);
    mbedtls_entropy_init(&s->entropy);
    mbedtls_ctr_drbg_init(&s->drbg);
    int rc = url_host(url, s->scheduler, sizeof(s->scheduler), err);
    if (rc < 0) {
        cairn_signer_destroy(s);
        return rc;
    }
    char why[128];
    rc = mbedtls_x509_crt_parse_file(&s->crt, path);
    if (rc < 0 || !s->crt.raw.len) {
        mbed_text(rc, why, sizeof(why));
        cairn_signer_destroy(s);
        return errcode(err, -EINVAL, "%s: no certificate: %s", path, rc < 0 ? why : "none found");
    }
    if ((rc = mbedtls_pk_parse_keyfile(&s->key, path, NULL)) != 0) {
        mbed_text(rc, why, sizeof(why));
        cairn_signer_destroy(s);
        return errcode(err, -EINVAL, "%s: no private key: %s", path, why);
    }
    if ((rc = mbedtls_pk_check_pair(&s->crt.pk, &s->key)) != 0) {
        cairn_signer_destroy(s);
        return errcode(err, -EINVAL, "%s: the private key is not the certificate's", path);
    }
    static const char pers[] = "cairn-signer";
    if ((rc = mbedtls_ctr_drbg_seed(&s->drbg, mbedtls_entropy_func, &s->entropy,
                                    (const uint8_t *)pers, sizeof(pers))) != 0) {
        cairn_signer_destroy(s);
        return errcode(err, -EIO, "no randomness for signing");
    }
    *out = s;
    return 0;
}

void cairn_signer_destroy(cairn_signer_t *s)
{
    if (!s)
        return;
    mbedtls_x509_crt_free(&s->crt);
    mbedtls_pk_free(&s->key);
    mbedtls_ctr_drbg_free(&s->drbg);
    mbedtls_entropy_free(&s->entropy);
    free(s);
}

/* The signature of digest with the certificate's key into sig (room for
 * MBEDTLS_PK_SIGNATURE_MAX_SIZE bytes). */
static int sign_digest(cairn_signer_t *s, const uint8_t digest[CAIRN_SHA256_LEN], uint8_t *sig,
                       size_t *sig_len)
{
    return mbedtls_pk_sign(&s->key, MBEDTLS_MD_SHA256, digest, CAIRN_SHA256_LEN, sig, sig_len,
                           mbedtls_ctr_drbg_random, &s->drbg) != 0
               ? -EIO
               : 0;
}

int cairn_signer_wrap(cairn_signer_t *s, const uint8_t *req, size_t req_len, int64_t now_ms,
                      uint8_t **out, size_t *out_len, cairn_error_t *err)
{
    uint8_t nonce[SIGN_NONCE_LEN], digest[CAIRN_SHA256_LEN], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t sig_len = 0;
    if (mbedtls_ctr_drbg_random(&s->drbg, nonce, sizeof(nonce)) != 0)
        return errcode(err, -EIO, "cannot sign the request: no randomness");
    signed_digest(s->scheduler, now_ms, nonce, sizeof(nonce), req, req_len, digest);
    if (sign_digest(s, digest, sig, &sig_len) < 0)
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
    m.version = CAIRN_SIGN_VERSION;
    m.scheduler = s->scheduler;
    return cairn_msg_encode(CAIRN_MSG_SIGNED, &m.base, out, out_len, err);
}

int cairn_signer_register(cairn_signer_t *s, const uint8_t *challenge, size_t clen,
                          const char *node, Cairn__Auth *a, cairn_error_t *err)
{
    uint8_t digest[CAIRN_SHA256_LEN];
    size_t sig_len = 0;
    register_digest(challenge, clen, a->nonce.data, a->nonce.len, node, s->scheduler, digest);
    if (sign_digest(s, digest, s->sig, &sig_len) < 0)
        return errcode(err, -EIO, "cannot sign the registration with the certificate's key");
    a->certificate = (ProtobufCBinaryData){.len = s->crt.raw.len, .data = s->crt.raw.p};
    a->signature = (ProtobufCBinaryData){.len = sig_len, .data = s->sig};
    a->scheduler = s->scheduler;
    return 0;
}

/* ---- scheduler side ------------------------------------------------------ */

/* Call fn with each name of crt: its subject CNs, then its DNS
 * subjectAltNames (bytes as in the certificate, not terminated). */
static void cert_names(const mbedtls_x509_crt *crt,
                       void (*fn)(const unsigned char *p, size_t len, void *arg), void *arg)
{
    for (const mbedtls_x509_name *nm = &crt->subject; nm; nm = nm->next)
        if (nm->oid.p && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &nm->oid) == 0)
            fn(nm->val.p, nm->val.len, arg);
    for (const mbedtls_x509_sequence *san = &crt->subject_alt_names; san; san = san->next)
        if (san->buf.p &&
            san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME))
            fn(san->buf.p, san->buf.len, arg);
}

static void add_name(const unsigned char *p, size_t len, void *arg)
{
    cairn_verifier_t *v = arg;
    if (v->nnames < OWN_NAMES_MAX && len > 0 && len < NAME_MAX_LEN)
        lower_copy(v->names[v->nnames++], NAME_MAX_LEN, (const char *)p, len);
}

/* The names a client may sign for: the CN and DNS names of our certificate. */
static int own_names(cairn_verifier_t *v, const char *own_pem, cairn_error_t *err)
{
    if (!own_pem)
        return 0;
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    int rc = mbedtls_x509_crt_parse_file(&crt, own_pem);
    if (rc < 0 || !crt.raw.len) {
        char why[128];
        mbed_text(rc, why, sizeof(why));
        mbedtls_x509_crt_free(&crt);
        return errcode(err, -EINVAL, "%s: no certificate: %s", own_pem,
                       rc < 0 ? why : "none found");
    }
    cert_names(&crt, add_name, v);
    mbedtls_x509_crt_free(&crt);
    return 0;
}

int cairn_cert_allows_client(const char *pem_path, cairn_error_t *err)
{
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    int rc = mbedtls_x509_crt_parse_file(&crt, pem_path);
    if (rc < 0 || !crt.raw.len) {
        char why[128];
        mbed_text(rc, why, sizeof(why));
        mbedtls_x509_crt_free(&crt);
        return errcode(err, -EINVAL, "%s: no certificate: %s", pem_path,
                       rc < 0 ? why : "none found");
    }
    /* RFC 5280 4.2.1.12, as trusted_cert() checks a client's */
    bool ok = mbedtls_x509_crt_check_extended_key_usage(
                  &crt, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)) == 0;
    mbedtls_x509_crt_free(&crt);
    return ok ? 1 : 0;
}

int cairn_verifier_create(const char *ca_pem, const char *own_pem, size_t replay_max,
                          cairn_verifier_t **out, cairn_error_t *err)
{
    cairn_verifier_t *v = calloc(1, sizeof(*v));
    if (!v)
        return errcode(err, -ENOMEM, "out of memory");
    mbedtls_x509_crt_init(&v->ca);
    v->seen_max = replay_max ? replay_max : CAIRN_SIGN_REPLAY_MAX;
    v->floor_ms = INT64_MIN;
    int rc = mbedtls_x509_crt_parse_file(&v->ca, ca_pem);
    if (rc < 0 || !v->ca.raw.len) {
        char why[128];
        mbed_text(rc, why, sizeof(why));
        cairn_verifier_destroy(v);
        return errcode(err, -EINVAL, "%s: no CA certificate: %s", ca_pem,
                       rc < 0 ? why : "none found");
    }
    if ((rc = own_names(v, own_pem, err)) < 0) {
        cairn_verifier_destroy(v);
        return rc;
    }
    *out = v;
    return 0;
}

void cairn_verifier_destroy(cairn_verifier_t *v)
{
    if (!v)
        return;
    mbedtls_x509_crt_free(&v->ca);
    free(v->seen);
    free(v);
}

int cairn_cert_user(const mbedtls_x509_crt *crt, char *user, size_t n, cairn_error_t *err)
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

/* name (lower case) matches pattern: equal, or "*.rest" for one label
 * followed by ".rest", as mbedtls matches a host against a certificate. */
static bool name_matches(const char *pattern, const char *name)
{
    if (!strcmp(pattern, name))
        return true;
    if (strncmp(pattern, "*.", 2) != 0)
        return false;
    const char *dot = strchr(name, '.');
    return dot && dot != name && !strcmp(dot + 1, pattern + 2);
}

static int for_this_scheduler(const cairn_verifier_t *v, const char *what, const char *scheduler,
                              cairn_error_t *err)
{
    char name[NAME_MAX_LEN];
    size_t len = scheduler ? strlen(scheduler) : 0;
    lower_copy(name, sizeof(name), scheduler ? scheduler : "", len);
    for (size_t i = 0; name[0] && len < sizeof(name) && i < v->nnames; i++)
        if (name_matches(v->names[i], name))
            return 0;
    char ours[512] = "";
    for (size_t i = 0, n = 0; i < v->nnames && n < sizeof(ours); i++)
        n += (size_t)snprintf(ours + n, sizeof(ours) - n, "%s%s", i ? ", " : "", v->names[i]);
    return errcode(err, -EACCES, "%s is for the scheduler '%s', not this one (%s)", what, name,
                   v->nnames ? ours : "it has no certificate");
}

/* The chain, dates, extended key usage and CN of a certificate (the chain
 * and CN cached by digest); the user it names into name. what names the
 * message in errors. */
static int trusted_cert(cairn_verifier_t *v, const char *what, const mbedtls_x509_crt *crt,
                        const uint8_t cdig[CAIRN_SHA256_LEN], char name[NAME_MAX_LEN],
                        cairn_error_t *err)
{
    verified_t *hit = NULL;
    for (size_t i = 0; i < v->ncache && !hit; i++)
        if (!memcmp(v->cache[i].digest, cdig, CAIRN_SHA256_LEN))
            hit = &v->cache[i];
    /* validity dates are checked every time, the rest once */
    if (hit && (mbedtls_x509_time_is_past(&crt->valid_to) ||
                mbedtls_x509_time_is_future(&crt->valid_from)))
        hit = NULL;
    if (hit) {
        hit->used = ++v->clock;
        snprintf(name, NAME_MAX_LEN, "%s", hit->user);
        return 0;
    }
    uint32_t flags = 0;
    if (mbedtls_x509_crt_verify((mbedtls_x509_crt *)crt, &v->ca, NULL, NULL, &flags, NULL, NULL) !=
        0) {
        char why[256];
        mbedtls_x509_crt_verify_info(why, sizeof(why), "", flags);
        why[strcspn(why, "\n")] = '\0';
        return errcode(err, -EACCES, "%s: certificate not trusted: %s", what, why);
    }
    /* RFC 5280 4.2.1.12: without the extension any use is allowed; with it,
     * clientAuth or anyExtendedKeyUsage must be listed (a server's
     * certificate does not name a user) */
    if (mbedtls_x509_crt_check_extended_key_usage(crt, MBEDTLS_OID_CLIENT_AUTH,
                                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)) != 0)
        return errcode(err, -EACCES,
                       "%s: the certificate is not for client authentication (its extended key "
                       "usage lacks clientAuth)",
                       what);
    int rc = cairn_cert_user(crt, name, NAME_MAX_LEN, err);
    if (rc < 0)
        return rc;
    size_t k = 0;
    if (v->ncache < VERIFIED_CACHE)
        k = v->ncache++;
    else
        for (size_t i = 1; i < VERIFIED_CACHE; i++)
            if (v->cache[i].used < v->cache[k].used)
                k = i;
    v->cache[k] = (verified_t){.used = ++v->clock};
    memcpy(v->cache[k].digest, cdig, CAIRN_SHA256_LEN);
    snprintf(v->cache[k].user, NAME_MAX_LEN, "%s", name);
    return 0;
}

static int seen_cmp(int64_t t, const uint8_t *d, const seen_t *s)
{
    if (t != s->time_ms)
        return t < s->time_ms ? -1 : 1;
    return memcmp(d, s->digest, CAIRN_SHA256_LEN);
}

/* Forget what is at or before time t; the floor rises to what went. */
static void seen_drop_through(cairn_verifier_t *v, int64_t t)
{
    while (v->nseen && v->seen[v->head].time_ms <= t) {
        if (v->seen[v->head].time_ms > v->floor_ms)
            v->floor_ms = v->seen[v->head].time_ms;
        v->head++;
        v->nseen--;
    }
    if (!v->nseen)
        v->head = 0;
}

/* Refuse a request accepted before (or too old to tell), else remember it. */
static int seen_add(cairn_verifier_t *v, int64_t time_ms, const uint8_t digest[CAIRN_SHA256_LEN],
                    int64_t now_ms, cairn_error_t *err)
{
    /* past the window a request is refused anyway: forget those */
    seen_drop_through(v, now_ms - CAIRN_SIGN_SKEW_MS - 1);
    if (time_ms <= v->floor_ms)
        return errcode(err, -EACCES,
                       "signed request is older than the scheduler can tell from a replay "
                       "(it remembers the last %zu): send it again",
                       v->seen_max);
    size_t lo = 0, hi = v->nseen;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (seen_cmp(time_ms, digest, &v->seen[v->head + mid]) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < v->nseen && seen_cmp(time_ms, digest, &v->seen[v->head + lo]) == 0)
        return errcode(err, -EACCES, "signed request replayed: it was accepted before");
    if (v->nseen == v->seen_max) { /* full: the oldest goes */
        seen_drop_through(v, v->seen[v->head].time_ms);
        if (time_ms <= v->floor_ms)
            return errcode(err, -EACCES,
                           "signed request is older than the scheduler can tell from a replay "
                           "(it remembers the last %zu): send it again",
                           v->seen_max);
        return seen_add(v, time_ms, digest, now_ms, err);
    }
    if (v->head + v->nseen == v->seen_cap) {
        if (v->head) { /* room at the front: move down */
            memmove(v->seen, v->seen + v->head, v->nseen * sizeof(*v->seen));
            v->head = 0;
        } else {
            size_t cap = v->seen_cap ? v->seen_cap * 2 : 64;
            if (cap > v->seen_max)
                cap = v->seen_max;
            seen_t *ns = realloc(v->seen, cap * sizeof(*ns));
            if (!ns)
                return errcode(err, -ENOMEM, "out of memory");
            v->seen = ns;
            v->seen_cap = cap;
        }
    }
    seen_t *at = &v->seen[v->head + lo];
    memmove(at + 1, at, (v->nseen - lo) * sizeof(*at));
    at->time_ms = time_ms;
    memcpy(at->digest, digest, CAIRN_SHA256_LEN);
    v->nseen++;
    return 0;
}

/* Whether sig is the signature over digest of the key of cert (DER), a
 * certificate trusted_cert accepts: parsed into crt (initialised and freed
 * by the caller), its CN into name. what names the message in errors. */
static int signed_by(cairn_verifier_t *v, const char *what, ProtobufCBinaryData cert,
                     ProtobufCBinaryData sig, const uint8_t digest[CAIRN_SHA256_LEN],
                     mbedtls_x509_crt *crt, char name[NAME_MAX_LEN], cairn_error_t *err)
{
    if (mbedtls_x509_crt_parse_der(crt, cert.data, cert.len) != 0)
        return errcode(err, -EACCES, "%s: the certificate does not parse", what);
    uint8_t cdig[CAIRN_SHA256_LEN];
    cairn_sha256(cert.data, cert.len, cdig);
    int rc = trusted_cert(v, what, crt, cdig, name, err);
    if (rc == 0 && mbedtls_pk_verify(&crt->pk, MBEDTLS_MD_SHA256, digest, CAIRN_SHA256_LEN,
                                     sig.data, sig.len) != 0)
        rc = errcode(err, -EACCES, "%s: the signature is not the certificate's", what);
    return rc;
}

int cairn_verifier_check(cairn_verifier_t *v, const Cairn__SignedRequest *r, int64_t now_ms,
                         char *user, size_t user_size, cairn_error_t *err)
{
    if (r->version != CAIRN_SIGN_VERSION)
        return errcode(err, -EPROTO,
                       "signed request of protocol version %u; this scheduler speaks version %d "
                       "(bound to the scheduler, never accepted twice): %s",
                       r->version ? r->version : 1, CAIRN_SIGN_VERSION,
                       r->version < CAIRN_SIGN_VERSION ? "upgrade the cairn client"
                                                       : "upgrade the scheduler");
    if (r->time_ms < now_ms - CAIRN_SIGN_SKEW_MS || r->time_ms > now_ms + CAIRN_SIGN_SKEW_MS)
        return errcode(err, -EACCES,
                       "signed request time is %lld ms from the scheduler's clock "
                       "(at most %d allowed)",
                       (long long)(r->time_ms - now_ms), CAIRN_SIGN_SKEW_MS);
    if (r->nonce.len < SIGN_NONCE_LEN || r->nonce.len > SIGN_NONCE_MAX)
        return errcode(err, -EACCES, "signed request without a nonce of %d to %d bytes",
                       SIGN_NONCE_LEN, SIGN_NONCE_MAX);
    int rc = for_this_scheduler(v, "signed request", r->scheduler, err);
    if (rc < 0)
        return rc;
    uint8_t digest[CAIRN_SHA256_LEN];
    signed_digest(r->scheduler, r->time_ms, r->nonce.data, r->nonce.len, r->request.data,
                  r->request.len, digest);
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    char name[NAME_MAX_LEN];
    rc = signed_by(v, "signed request", r->certificate, r->signature, digest, &crt, name, err);
    mbedtls_x509_crt_free(&crt);
    if (rc == 0)
        rc = seen_add(v, r->time_ms, digest, now_ms, err);
    if (rc == 0)
        snprintf(user, user_size, "%s", name);
    return rc;
}

/* Whether a name of the certificate is the node's (cert_names). */
typedef struct name_match {
    const char *node;
    bool found;
} name_match_t;

static void match_node(const unsigned char *p, size_t len, void *arg)
{
    name_match_t *m = arg;
    /* literal names only: a wildcard would let one certificate hold a
     * whole family of node names */
    if (len && p[0] != '*' && strlen(m->node) == len && !strncasecmp(m->node, (const char *)p, len))
        m->found = true;
}

int cairn_verifier_check_register(cairn_verifier_t *v, const Cairn__Auth *a,
                                  const uint8_t *challenge, size_t clen, const char *node, char *cn,
                                  size_t cn_size, bool *named, cairn_error_t *err)
{
    static const char what[] = "worker certificate";
    *named = false;
    if (!a || !a->certificate.len || !a->signature.len)
        return errcode(err, -EACCES,
                       "the worker did not sign its registration with a certificate (start it "
                       "with --tls-cert, a version of cairn-worker that signs)");
    if (!clen || a->nonce.len < SIGN_NONCE_LEN || a->nonce.len > SIGN_NONCE_MAX)
        return errcode(err, -EACCES, "%s: no challenge, or no nonce of %d to %d bytes", what,
                       SIGN_NONCE_LEN, SIGN_NONCE_MAX);
    int rc = for_this_scheduler(v, "the worker's registration", a->scheduler, err);
    if (rc < 0)
        return rc;
    uint8_t digest[CAIRN_SHA256_LEN];
    register_digest(challenge, clen, a->nonce.data, a->nonce.len, node, a->scheduler, digest);
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    char name[NAME_MAX_LEN];
    rc = signed_by(v, what, a->certificate, a->signature, digest, &crt, name, err);
    if (rc == 0) {
        name_match_t m = {.node = node ? node : ""};
        cert_names(&crt, match_node, &m);
        *named = m.found;
        snprintf(cn, cn_size, "%s", name);
    }
    mbedtls_x509_crt_free(&crt);
    return rc;
}
