/* The web front: pages, assets, /metrics and /status here; the API in
 * web_api.c; see web.h. */
#include "scheduler/web.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/web_assets.h"
#include "scheduler/web_private.h"

struct web {
    web_http_t *http;
    web_api_t *api;
    pthread_mutex_t lock; /* the documents: the loop publishes, the server reads */
    web_blob_t *prom, *json;
    bool published;
};

/* The dashboard's own URLs: each answers with its one page. */
static bool page(const char *path)
{
    static const char *const pages[] = {"/", "/jobs", "/capacity", "/accounts"};
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++)
        if (!strcmp(path, pages[i]))
            return true;
    if (!strncmp(path, "/jobs/", 6)) {
        const char *id = path + 6;
        size_t n = strspn(id, "0123456789");
        return n > 0 && n <= 10 && id[n] == '\0';
    }
    return false;
}

static void text(web_t *w, const web_req_t *rq, int status, const char *msg)
{
    web_res_t r = {
        .status = status, .type = "text/plain; charset=utf-8", .data = msg, .len = strlen(msg)};
    web_http_respond(w->http, rq->token, &r);
}

static void asset(web_t *w, const web_req_t *rq, const web_asset_t *a)
{
    char hdr[160];
    /* revalidated each time (a new scheduler may serve new files) */
    snprintf(hdr, sizeof(hdr), "ETag: %s\r\nCache-Control: no-cache\r\n", a->etag);
    web_res_t r = {.status = 200, .type = a->type, .data = a->data, .len = a->len, .headers = hdr};
    if (rq->if_none_match[0] && !strcmp(rq->if_none_match, a->etag))
        r.status = 304;
    web_http_respond(w->http, rq->token, &r);
}

static void document(web_t *w, const web_req_t *rq, bool prom)
{
    pthread_mutex_lock(&w->lock);
    web_blob_t *b = web_blob_ref(prom ? w->prom : w->json);
    pthread_mutex_unlock(&w->lock);
    if (!b) {
        text(w, rq, 503, "not published yet\n");
        return;
    }
    web_res_t r = {.status = 200,
                   .type = prom ? "text/plain; version=0.0.4" : "application/json",
                   .blob = b,
                   .headers = "Cache-Control: no-store\r\n"};
    web_http_respond(w->http, rq->token, &r);
    web_blob_unref(b);
}

static void route(void *arg, const web_req_t *rq)
{
    web_t *w = arg;
    const web_asset_t *a;
    if (!strcmp(rq->path, "/api/v1") || !strncmp(rq->path, "/api/v1/", 8))
        web_api_request(w->api, rq);
    else if (!strcmp(rq->path, "/metrics") || !strcmp(rq->path, "/status"))
        document(w, rq, rq->path[1] == 'm');
    else if (page(rq->path) && (a = web_asset_index()))
        asset(w, rq, a);
    else if (!strncmp(rq->path, "/assets/", 8) && (a = web_asset_find(rq->path)))
        asset(w, rq, a);
    else
        text(w, rq, 404, "not found\n");
}

int web_create(const web_config_t *cfg, web_t **out, cairn_error_t *err)
{
    web_t *w = calloc(1, sizeof(*w));
    if (!w)
        return errcode(err, -ENOMEM, "out of memory");
    pthread_mutex_init(&w->lock, NULL);
    web_http_config_t hc = {.addr = cfg->addr, .tls_cert = cfg->tls_cert, .tls_ca = cfg->tls_ca};
    int rc = web_http_create(&hc, route, w, &w->http, err);
    if (rc == 0)
        rc = web_api_create(w->http, cfg->inproc, &w->api, err);
    if (rc < 0) {
        web_destroy(w);
        return rc;
    }
    *out = w;
    return 0;
}

void web_destroy(web_t *w)
{
    if (!w)
        return;
    web_http_stop(w->http);    /* no request is handled after */
    web_api_stop(w->api);      /* calls in flight end, their ends posted */
    web_http_destroy(w->http); /* which run here */
    web_api_destroy(w->api);
    web_blob_unref(w->prom);
    web_blob_unref(w->json);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

void web_publish(web_t *w, const char *prometheus, const char *json)
{
    web_blob_t *p = web_blob_new(prometheus, strlen(prometheus));
    web_blob_t *j = web_blob_new(json, strlen(json));
    if (!p || !j) {
        free(p);
        free(j);
        return;
    }
    pthread_mutex_lock(&w->lock);
    web_blob_unref(w->prom);
    web_blob_unref(w->json);
    w->prom = p;
    w->json = j;
    pthread_mutex_unlock(&w->lock);
}

const char *web_bound(const web_t *w)
{
    return web_http_bound(w->http);
}

bool web_loopback(const web_t *w)
{
    return web_http_loopback(w->http);
}
