/* HTTP metrics and status; see metrics.h. */
#include "scheduler/metrics.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double metrics_bounds[METRICS_NBUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                 0.01,   0.025,   0.05,   0.1,   1.0,    10.0};

void histogram_observe(histogram_t *h, double seconds)
{
    for (int i = 0; i < METRICS_NBUCKETS; i++)
        if (seconds <= metrics_bounds[i]) {
            h->buckets[i]++;
            break;
        }
    h->count++;
    h->sum += seconds;
}

typedef struct doc {
    struct metrics *owner;
    char *text;
    const char *type;
} doc_t;

struct metrics {
    nng_http_server *srv;
    nng_url *url;
    pthread_mutex_t lock;
    doc_t prom, json;
};

static void serve(nng_aio *aio)
{
    nng_http_handler *h = nng_aio_get_input(aio, 1);
    doc_t *d = nng_http_handler_get_data(h);
    metrics_t *m = d->owner;
    nng_http_res *res;
    if (nng_http_res_alloc(&res) != 0) {
        nng_aio_finish(aio, NNG_ENOMEM);
        return;
    }
    pthread_mutex_lock(&m->lock);
    const char *text = d->text ? d->text : "";
    int rv = nng_http_res_copy_data(res, text, strlen(text));
    pthread_mutex_unlock(&m->lock);
    if (rv == 0)
        rv = nng_http_res_set_header(res, "Content-Type", d->type);
    if (rv != 0) {
        nng_http_res_free(res);
        nng_aio_finish(aio, rv);
        return;
    }
    nng_aio_set_output(aio, 0, res);
    nng_aio_finish(aio, 0);
}

static int add(metrics_t *m, const char *path, doc_t *d, cairn_error_t *err)
{
    nng_http_handler *h;
    int rv = nng_http_handler_alloc(&h, path, serve);
    if (rv == 0 && (rv = nng_http_handler_set_data(h, d, NULL)) == 0 &&
        (rv = nng_http_server_add_handler(m->srv, h)) == 0)
        return 0;
    return errcode(err, -EIO, "http handler %s: %s", path, nng_strerror(rv));
}

int metrics_create(const char *addr, metrics_t **out, cairn_error_t *err)
{
    metrics_t *m = calloc(1, sizeof(*m));
    if (!m)
        return errcode(err, -ENOMEM, "out of memory");
    pthread_mutex_init(&m->lock, NULL);
    m->prom.owner = m->json.owner = m;
    m->prom.type = "text/plain; version=0.0.4";
    m->json.type = "application/json";
    char url[512];
    snprintf(url, sizeof(url), "%s%s", strncmp(addr, "http://", 7) ? "http://" : "", addr);
    int rv = nng_url_parse(&m->url, url);
    if (rv != 0) {
        metrics_destroy(m);
        return errcode(err, -EINVAL, "bad http address %s: %s", addr, nng_strerror(rv));
    }
    if ((rv = nng_http_server_hold(&m->srv, m->url)) != 0) {
        m->srv = NULL;
        metrics_destroy(m);
        return errcode(err, -EIO, "http server on %s: %s", addr, nng_strerror(rv));
    }
    if (add(m, "/metrics", &m->prom, err) < 0 || add(m, "/status", &m->json, err) < 0) {
        metrics_destroy(m);
        return -EIO;
    }
    if ((rv = nng_http_server_start(m->srv)) != 0) {
        metrics_destroy(m);
        return errcode(err, -EADDRINUSE, "http server on %s: %s", addr, nng_strerror(rv));
    }
    *out = m;
    return 0;
}

void metrics_destroy(metrics_t *m)
{
    if (!m)
        return;
    if (m->srv) {
        nng_http_server_stop(m->srv);
        nng_http_server_release(m->srv);
    }
    if (m->url)
        nng_url_free(m->url);
    pthread_mutex_destroy(&m->lock);
    free(m->prom.text);
    free(m->json.text);
    free(m);
}

void metrics_publish(metrics_t *m, const char *prometheus, const char *json)
{
    char *p = strdup(prometheus), *j = strdup(json);
    pthread_mutex_lock(&m->lock);
    free(m->prom.text);
    free(m->json.text);
    m->prom.text = p;
    m->json.text = j;
    pthread_mutex_unlock(&m->lock);
}
