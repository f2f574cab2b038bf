/* --http: the web front of the daemon (web.h); see daemon_private.h. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "scheduler/daemon_private.h"
#include "scheduler/web.h"

const char *daemon_web_inproc(sched_daemon_t *d)
{
    if (!d->web_inproc[0]) /* unique per daemon: tests run several in one process */
        snprintf(d->web_inproc, sizeof(d->web_inproc), "inproc://cairn-web-%ld-%p", (long)getpid(),
                 (void *)d);
    return d->web_inproc;
}

static void publish_cb(uv_timer_t *t)
{
    sched_daemon_t *d = t->data;
    char *prom = NULL, *json = NULL;
    status_render(d, &prom, &json);
    if (prom && json)
        web_publish(d->web, prom, json);
    free(prom);
    free(json);
}

int daemon_web_start(sched_daemon_t *d, cairn_error_t *err)
{
    if (!d->cfg.http_addr)
        return 0;
    web_config_t wc = {.addr = d->cfg.http_addr,
                       .tls_cert = d->cfg.tls_cert,
                       .tls_ca = d->cfg.tls_ca,
                       .inproc = daemon_web_inproc(d)};
    int rc = web_create(&wc, &d->web, err);
    if (rc < 0)
        return rc;
    bool https = d->cfg.tls_cert != NULL;
    cairn_log(d->log, CAIRN_LOG_INFO, "dashboard: %s://%s/", https ? "https" : "http",
              web_bound(d->web));
    if (!https && !web_loopback(d->web))
        cairn_log(d->log, CAIRN_LOG_WARN,
                  "the dashboard and API on %s are plain HTTP on a non-loopback address: "
                  "anyone who can reach it reads what anonymous clients may, and nothing is "
                  "encrypted (give --tls-cert and --tls-ca for HTTPS with client certificates)",
                  web_bound(d->web));
    publish_cb(&d->h.metrics);
    uv_timer_start(&d->h.metrics, publish_cb, 1000, 1000);
    return 0;
}

void daemon_web_stop(sched_daemon_t *d)
{
    web_destroy(d->web);
    d->web = NULL;
}
