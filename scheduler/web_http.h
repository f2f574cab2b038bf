/* The scheduler's HTTP/1.1 server: one thread of its own, never the
 * loop's, with poll(2) over non-blocking sockets; HTTPS on mbedtls, where
 * a client certificate signed by the CA names the user (the subject CN, as
 * for tls+tcp:// clients; cairn_cert_user).
 *
 * It reads one request at a time per connection (GET and HEAD only, no
 * body, headers at most WEB_HEADERS_MAX bytes), hands it to the route
 * callback on its thread, and writes the answer the route gives, now or
 * later (web_http_respond, from its thread: other threads post work to it
 * with web_http_post). Keep-alive as HTTP/1.1 says. Bounded: at most
 * max_conns connections; a request must arrive within 10 s of its first
 * byte, an idle connection closes after 60 s, a client that takes nothing
 * of its answer for 30 s is dropped. A slow or hostile client costs its
 * own connection, nothing else. */
#ifndef CAIRN_SCHEDULER_WEB_HTTP_H
#define CAIRN_SCHEDULER_WEB_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define WEB_HEADERS_MAX 16384

typedef struct web_http web_http_t;

/* A body shared by answers (a cached API answer goes to many clients,
 * a published /metrics document too): counted references, atomic. */
typedef struct web_blob {
    unsigned refs;
    size_t len;
    char data[];
} web_blob_t;
/* A new blob of len bytes copied from data (NULL: uninitialised), one
 * reference; NULL when out of memory. */
web_blob_t *web_blob_new(const void *data, size_t len);
web_blob_t *web_blob_ref(web_blob_t *b);
void web_blob_unref(web_blob_t *b);

/* A request, valid during the route call. */
typedef struct web_req {
    uint64_t token;            /* for web_http_respond */
    bool head;                 /* HEAD: answer without the body */
    const char *path;          /* as sent, before '?' (not decoded) */
    const char *query;         /* after '?', "" when none (not decoded) */
    const char *if_none_match; /* "" when none */
    const char *user;          /* the client certificate's CN; "" anonymous */
    bool tls;
} web_req_t;

/* An answer. The body is blob (a reference is taken) or, when blob is
 * NULL, the len bytes at data (static: assets). */
typedef struct web_res {
    int status;
    const char *type; /* Content-Type; NULL: none (204, 304) */
    web_blob_t *blob;
    const void *data;
    size_t len;
    const char *headers; /* more header lines, each ending "\r\n"; NULL: none */
} web_res_t;

typedef void (*web_route_f)(void *arg, const web_req_t *rq);

typedef struct web_http_config {
    const char *addr;     /* "HOST:PORT" (PORT 0: any free one), "[::1]:PORT" */
    const char *tls_cert; /* PEM certificate and key: HTTPS; NULL: HTTP */
    const char *tls_ca;   /* PEM CAs: client certificates required; NULL: none */
    unsigned max_conns;   /* 0: 256 */
} web_http_config_t;

/* Listen (before returning) and start the thread. */
int web_http_create(const web_http_config_t *cfg, web_route_f route, void *arg, web_http_t **out,
                    cairn_error_t *err);
/* Stop the thread and close every connection; then run what is still
 * posted (web_http_closing says true meanwhile). NULL: nothing. */
void web_http_stop(web_http_t *h);
void web_http_destroy(web_http_t *h);

/* The bound address, "127.0.0.1:8080"; whether it is a loopback one. */
const char *web_http_bound(const web_http_t *h);
bool web_http_loopback(const web_http_t *h);

/* Answer the request of token (server thread only). Nothing when its
 * connection has gone meanwhile. */
void web_http_respond(web_http_t *h, uint64_t token, const web_res_t *res);
/* Run fn(arg) on the server thread soon; from any thread. -ENOMEM. */
int web_http_post(web_http_t *h, void (*fn)(void *arg), void *arg);
/* True while web_http_stop runs what was posted (no answer can go out). */
bool web_http_closing(const web_http_t *h);
/* Milliseconds of the server's monotonic clock (for caches). */
int64_t web_http_now_ms(void);

/* A request's head, parsed in place (web_head.c: pure, fuzzed). */
typedef struct web_head {
    bool head;                                /* HEAD, not GET */
    bool keep_alive;                          /* as HTTP/1.0 or 1.1 and its Connection header say */
    const char *path, *query, *if_none_match; /* into the head; "" when none */
    char inm[128];
} web_head_t;
/* Parse head (NUL-terminated, ending with the blank line): 0, or the HTTP
 * status to refuse it with (400 not HTTP/1.x or not a path, 405 not GET or
 * HEAD, 413 a body) and *why, a sentence ending in a newline. keep_alive
 * is set either way. */
int web_parse_head(char *head, web_head_t *out, const char **why);

#endif
