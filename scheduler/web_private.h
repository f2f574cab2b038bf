/* Internals of the scheduler's HTTP front (web*.c): the API's routes,
 * its proxy to the loop and its cache. web.c serves pages, assets and the
 * metrics; web_api.c answers /api/v1/ through the loop; web_routes.c turns
 * an API path into the client request it mirrors. */
#ifndef CAIRN_SCHEDULER_WEB_PRIVATE_H
#define CAIRN_SCHEDULER_WEB_PRIVATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "proto/envelope.h"
#include "scheduler/web_http.h"

/* What an API path asks for. */
typedef enum web_kind {
    WEB_PLAIN,  /* one request, its reply as JSON */
    WEB_LOGS,   /* a LogsReply: its data as text */
    WEB_REPORT, /* accounting pages, usage and nodes: cairn report's document */
    WEB_WHOAMI, /* answered by the HTTP server itself */
} web_kind_t;

/* An API request made into the client request it mirrors. */
typedef struct web_call {
    web_kind_t kind;
    cairn_msg_type_t type, want; /* the request's type, and its reply's */
    uint8_t *req;                /* the request's envelope (malloc'd) */
    size_t req_len;
    int ttl_ms; /* how long its answer may be shared */
    /* WEB_REPORT */
    int64_t from_ms, to_ms;
    int by; /* report_by_t */
    char account[256];
} web_call_t;

/* Make the API path (after "/api/v1") with query into *call: 0, or an
 * HTTP status (400, 404) with why. now_ms: the wall clock, for windows. */
int web_route(const char *path, const char *query, int64_t now_ms, web_call_t *call, char *why,
              size_t n);

/* The value of the query parameter name (percent-decoded) into out (n
 * bytes): its number of bytes, or -1 when absent, -2 when too long or
 * not decodable. The k-th (0 first) of a repeated parameter. */
int web_query(const char *query, const char *name, unsigned k, char *out, size_t n);

/* An error answer's JSON: {"error": {"code", "message"[, "leader"]}}. */
web_blob_t *web_error_blob(const char *code, const char *message, const char *leader);

/* The API: a proxy to the loop over inproc:// (Cairn__WebRequest), and a
 * cache of answers by (identity, URL). */
typedef struct web_api web_api_t;
int web_api_create(web_http_t *http, const char *inproc_url, web_api_t **out, cairn_error_t *err);
/* Answer rq (its path starts "/api/v1"). Server thread. */
void web_api_request(web_api_t *a, const web_req_t *rq);
/* After web_http_stop: end every request in flight. */
void web_api_stop(web_api_t *a);
void web_api_destroy(web_api_t *a);

#endif
