/* The scheduler's web front: the dashboard, the read-only JSON API
 * (docs/api.md), /metrics and /status, on an HTTP server of its own
 * (web_http.h) that never runs on the loop's thread.
 *
 * The API asks the loop over the daemon's private inproc:// client
 * endpoint, as the HTTP client (its certificate's CN over HTTPS, else
 * anonymous): the client API's rules apply unchanged. /metrics and
 * /status are the documents the loop last published (web_publish). */
#ifndef CAIRN_SCHEDULER_WEB_H
#define CAIRN_SCHEDULER_WEB_H

#include <stdbool.h>

#include "common/error.h"

typedef struct web web_t;

typedef struct web_config {
    const char *addr;     /* HOST:PORT */
    const char *tls_cert; /* HTTPS with this certificate and key; NULL: HTTP */
    const char *tls_ca;   /* client certificates signed by these CAs required */
    const char *inproc;   /* the daemon's inproc:// client endpoint */
} web_config_t;

int web_create(const web_config_t *cfg, web_t **out, cairn_error_t *err);
void web_destroy(web_t *w);

/* Replace the /metrics and /status documents (copied); any thread. */
void web_publish(web_t *w, const char *prometheus, const char *json);

/* The bound address ("127.0.0.1:8080"), and whether it is loopback. */
const char *web_bound(const web_t *w);
bool web_loopback(const web_t *w);

#endif
