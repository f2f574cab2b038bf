/* HTTPS for the scheduler's HTTP server: mbedtls over a non-blocking
 * socket; see web_tls.h. */
#include "scheduler/web_tls.h"

#include <errno.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sign.h"

struct web_tls {
    mbedtls_ssl_config conf;
    mbedtls_x509_crt own, ca;
    mbedtls_pk_context key;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    bool verify;
};

struct web_tls_conn {
    mbedtls_ssl_context ssl;
    mbedtls_net_context net;
    bool verify;
};

static int tls_err(cairn_error_t *err, int code, const char *what, const char *file)
{
    char why[160];
    mbedtls_strerror(code, why, sizeof(why));
    return errcode(err, -EINVAL, "https: %s %s: %s", what, file, why);
}

int web_tls_create(const char *cert_key, const char *ca, web_tls_t **out, cairn_error_t *err)
{
    web_tls_t *t = calloc(1, sizeof(*t));
    if (!t)
        return errcode(err, -ENOMEM, "out of memory");
    mbedtls_ssl_config_init(&t->conf);
    mbedtls_x509_crt_init(&t->own);
    mbedtls_x509_crt_init(&t->ca);
    mbedtls_pk_init(&t->key);
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->drbg);
    int rc;
    static const unsigned char pers[] = "cairn-web";
    if ((rc = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy, pers,
                                    sizeof(pers) - 1)) != 0) {
        rc = tls_err(err, rc, "seeding", "the random generator");
        goto fail;
    }
    if ((rc = mbedtls_x509_crt_parse_file(&t->own, cert_key)) != 0) {
        rc = tls_err(err, rc, "reading the certificate in", cert_key);
        goto fail;
    }
    if ((rc = mbedtls_pk_parse_keyfile(&t->key, cert_key, NULL)) != 0) {
        rc = tls_err(err, rc, "reading the private key in", cert_key);
        goto fail;
    }
    if (ca && (rc = mbedtls_x509_crt_parse_file(&t->ca, ca)) != 0) {
        rc = tls_err(err, rc, "reading the CA certificates in", ca);
        goto fail;
    }
    if ((rc = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_SERVER,
                                          MBEDTLS_SSL_TRANSPORT_STREAM,
                                          MBEDTLS_SSL_PRESET_DEFAULT)) != 0 ||
        (rc = mbedtls_ssl_conf_own_cert(&t->conf, &t->own, &t->key)) != 0) {
        rc = tls_err(err, rc, "configuring with", cert_key);
        goto fail;
    }
    mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
    mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3); /* TLS 1.2 and later */
    t->verify = ca != NULL;
    if (ca) {
        mbedtls_ssl_conf_ca_chain(&t->conf, &t->ca, NULL);
        mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    } else {
        mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_NONE);
    }
    *out = t;
    return 0;
fail:
    web_tls_destroy(t);
    return rc;
}

void web_tls_destroy(web_tls_t *t)
{
    if (!t)
        return;
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_x509_crt_free(&t->own);
    mbedtls_x509_crt_free(&t->ca);
    mbedtls_pk_free(&t->key);
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
    free(t);
}

web_tls_conn_t *web_tls_conn_new(web_tls_t *t, int fd)
{
    web_tls_conn_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    mbedtls_ssl_init(&c->ssl);
    c->net.fd = fd;
    c->verify = t->verify;
    if (mbedtls_ssl_setup(&c->ssl, &t->conf) != 0) {
        mbedtls_ssl_free(&c->ssl);
        free(c);
        return NULL;
    }
    mbedtls_ssl_set_bio(&c->ssl, &c->net, mbedtls_net_send, mbedtls_net_recv, NULL);
    return c;
}

void web_tls_conn_free(web_tls_conn_t *c)
{
    if (!c)
        return;
    mbedtls_ssl_free(&c->ssl); /* the socket is the caller's to close */
    free(c);
}

static long want(int rc)
{
    if (rc == MBEDTLS_ERR_SSL_WANT_READ)
        return WEB_TLS_WANT_READ;
    if (rc == MBEDTLS_ERR_SSL_WANT_WRITE)
        return WEB_TLS_WANT_WRITE;
    return 0;
}

int web_tls_handshake(web_tls_conn_t *c, char *user, size_t n, cairn_error_t *err)
{
    int rc = mbedtls_ssl_handshake(&c->ssl);
    if (want(rc))
        return (int)want(rc);
    if (rc != 0) {
        char why[160];
        mbedtls_strerror(rc, why, sizeof(why));
        return errcode(err, -EACCES, "TLS handshake: %s", why);
    }
    user[0] = '\0';
    if (!c->verify)
        return 0;
    const mbedtls_x509_crt *crt = mbedtls_ssl_get_peer_cert(&c->ssl);
    if (!crt)
        return errcode(err, -EACCES, "no client certificate");
    return cairn_cert_user(crt, user, n, err);
}

long web_tls_read(web_tls_conn_t *c, void *buf, size_t n)
{
    int rc = mbedtls_ssl_read(&c->ssl, buf, n);
    if (rc > 0)
        return rc;
    if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
        return 0;
    return want(rc) ? want(rc) : -EIO;
}

long web_tls_write(web_tls_conn_t *c, const void *buf, size_t n)
{
    int rc = mbedtls_ssl_write(&c->ssl, buf, n);
    if (rc >= 0)
        return rc;
    return want(rc) ? want(rc) : -EIO;
}
