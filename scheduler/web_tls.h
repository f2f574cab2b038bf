/* HTTPS for the scheduler's HTTP server (web_http.c): mbedtls over a
 * non-blocking socket. With a CA, a client must present a certificate the
 * CA signed, and its subject CN names the user (cairn_cert_user); without
 * one, clients are anonymous. TLS 1.2 and later. */
#ifndef CAIRN_SCHEDULER_WEB_TLS_H
#define CAIRN_SCHEDULER_WEB_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

/* What an operation waits for before it can go on (negative returns). */
#define WEB_TLS_WANT_READ (-10001)
#define WEB_TLS_WANT_WRITE (-10002)

typedef struct web_tls web_tls_t;
typedef struct web_tls_conn web_tls_conn_t;

/* cert_key: PEM certificate and private key; ca: PEM CAs or NULL. */
int web_tls_create(const char *cert_key, const char *ca, web_tls_t **out, cairn_error_t *err);
void web_tls_destroy(web_tls_t *t);

/* A connection on socket fd (which stays the caller's); NULL: no memory. */
web_tls_conn_t *web_tls_conn_new(web_tls_t *t, int fd);
void web_tls_conn_free(web_tls_conn_t *c);
/* Go on with the handshake: 0 done (user: the client certificate's CN, ""
 * without a CA), WEB_TLS_WANT_*, or -EACCES with why. */
int web_tls_handshake(web_tls_conn_t *c, char *user, size_t n, cairn_error_t *err);
/* Bytes read (> 0), 0 at the end, WEB_TLS_WANT_*, or -EIO. */
long web_tls_read(web_tls_conn_t *c, void *buf, size_t n);
/* Bytes written (> 0), WEB_TLS_WANT_*, or -EIO. After a WANT, call again
 * with the same bytes. */
long web_tls_write(web_tls_conn_t *c, const void *buf, size_t n);

#endif
