/* TLS settings for nng listeners and dialers; see net.h (cairn_tls_t). */
#include <errno.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include <stdlib.h>
#include <string.h>

#include "proto/net.h"

cairn_tls_t cairn_tls_from_env(void)
{
    const char *c = getenv("CAIRN_TLS_CERT"), *a = getenv("CAIRN_TLS_CA");
    return (cairn_tls_t){.cert_key = c && *c ? c : NULL, .ca = a && *a ? a : NULL};
}

static bool is_tls(const char *url)
{
    return url && !strncmp(url, "tls+", 4);
}

int cairn_tls_listener(nng_listener l, const char *url, const cairn_tls_t *tls, cairn_error_t *err)
{
    int rv;
    if (!is_tls(url))
        return 0;
    if (!tls || !tls->cert_key) {
        errcode(err, -EINVAL, "%s needs a certificate and key (--tls-cert)", url);
        return NNG_EINVAL;
    }
    if ((rv = nng_listener_set_string(l, NNG_OPT_TLS_CERT_KEY_FILE, tls->cert_key)) != 0) {
        errcode(err, -EINVAL, "TLS certificate and key %s: %s", tls->cert_key, nng_strerror(rv));
        return rv;
    }
    if (tls->ca) {
        if ((rv = nng_listener_set_string(l, NNG_OPT_TLS_CA_FILE, tls->ca)) != 0 ||
            (rv = nng_listener_set_int(l, NNG_OPT_TLS_AUTH_MODE, NNG_TLS_AUTH_MODE_REQUIRED)) !=
                0) {
            errcode(err, -EINVAL, "TLS CA %s: %s", tls->ca, nng_strerror(rv));
            return rv;
        }
    }
    return 0;
}

int cairn_tls_dialer(nng_dialer d, const char *url, const cairn_tls_t *tls, bool verify,
                     cairn_error_t *err)
{
    int rv;
    if (!is_tls(url))
        return 0;
    if (!tls || (!tls->ca && verify)) {
        errcode(err, -EINVAL,
                "%s needs the CA that signed the scheduler's certificate "
                "(--tls-ca or $CAIRN_TLS_CA)",
                url);
        return NNG_EINVAL;
    }
    if (tls->ca && (rv = nng_dialer_set_string(d, NNG_OPT_TLS_CA_FILE, tls->ca)) != 0) {
        errcode(err, -EINVAL, "TLS CA %s: %s", tls->ca, nng_strerror(rv));
        return rv;
    }
    if (tls->cert_key &&
        (rv = nng_dialer_set_string(d, NNG_OPT_TLS_CERT_KEY_FILE, tls->cert_key)) != 0) {
        errcode(err, -EINVAL, "TLS certificate and key %s: %s", tls->cert_key, nng_strerror(rv));
        return rv;
    }
    rv = nng_dialer_set_int(d, NNG_OPT_TLS_AUTH_MODE,
                            verify ? NNG_TLS_AUTH_MODE_REQUIRED : NNG_TLS_AUTH_MODE_NONE);
    if (rv != 0) {
        errcode(err, -EINVAL, "TLS: %s", nng_strerror(rv));
        return rv;
    }
    return 0;
}
