/* Endpoint watchdog; see watchdog.h. Runs on the loop thread and never
 * blocks: every nng call is non-blocking. */
#include "scheduler/watchdog.h"

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdlib.h>
#include <string.h>

#include "proto/envelope.h"
#include "proto/sign.h"

enum { IDLE, SENDING, WAITING };

struct watchdog {
    char *url;
    char *cert, *ca;
    bool pair;
    nng_socket probe;
    int state;
    int misses;  /* periods without an answer */
    char *blind; /* why it cannot probe (watchdog_blind), or NULL */
};

watchdog_t *watchdog_create(const char *url, bool pair, const cairn_tls_t *tls)
{
    watchdog_t *w = calloc(1, sizeof(*w));
    if (!w || !(w->url = strdup(url))) {
        free(w);
        return NULL;
    }
    if (tls && tls->cert_key)
        w->cert = strdup(tls->cert_key);
    if (tls && tls->ca)
        w->ca = strdup(tls->ca);
    w->pair = pair;
    /* the listener wants a client certificate from the CA: the probe
     * presents the daemon's own, which must allow client authentication */
    cairn_error_t err = {{0}};
    if (!strncmp(url, "tls+", 4) && w->ca && w->cert &&
        cairn_cert_allows_client(w->cert, &err) == 0) {
        char why[512];
        snprintf(why, sizeof(why),
                 "%s: %s is a server's certificate only (its extended key usage lacks "
                 "clientAuth), so the scheduler cannot probe this endpoint as a client would; "
                 "give it a certificate that allows clientAuth as well to have wedged endpoints "
                 "reopened",
                 url, w->cert);
        w->blind = strdup(why);
    }
    return w;
}

const char *watchdog_blind(const watchdog_t *w)
{
    return w->blind;
}

static void probe_close(watchdog_t *w)
{
    if (w->state != IDLE)
        nng_close(w->probe);
    w->state = IDLE;
}

static bool probe_open(watchdog_t *w)
{
    if ((w->pair ? nng_pair1_open(&w->probe) : nng_req0_open(&w->probe)) != 0)
        return false;
    nng_dialer d;
    cairn_tls_t tls = {.cert_key = w->cert, .ca = w->ca};
    if (nng_dialer_create(&d, w->probe, w->url) != 0 ||
        cairn_tls_dialer(d, w->url, &tls, false, NULL) != 0 ||
        nng_dialer_start(d, NNG_FLAG_NONBLOCK) != 0) {
        nng_close(w->probe);
        return false;
    }
    w->state = SENDING;
    return true;
}

static bool probe_send(watchdog_t *w)
{
    Cairn__Heartbeat hb = CAIRN__HEARTBEAT__INIT;
    Cairn__ListJobsRequest lj = CAIRN__LIST_JOBS_REQUEST__INIT;
    hb.node_name = "cairn-watchdog";
    lj.limit = 1;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (cairn_msg_encode(w->pair ? CAIRN_MSG_HEARTBEAT : CAIRN_MSG_LIST_JOBS,
                         w->pair ? &hb.base : &lj.base, &buf, &len, NULL) < 0)
        return false;
    int rv = nng_send(w->probe, buf, len, NNG_FLAG_NONBLOCK);
    free(buf);
    return rv == 0;
}

static bool probe_answered(watchdog_t *w)
{
    void *buf;
    size_t len;
    if (nng_recv(w->probe, &buf, &len, NNG_FLAG_ALLOC | NNG_FLAG_NONBLOCK) != 0)
        return false;
    nng_free(buf, len);
    return true;
}

bool watchdog_tick(watchdog_t *w, size_t backlog)
{
    /* the answer would go out behind the backlog: waiting is not a miss */
    if (w->blind || backlog > 0)
        return false;
    if (w->state == WAITING && probe_answered(w)) {
        w->misses = 0;
        probe_close(w);
    }
    if (w->state == IDLE && !probe_open(w))
        return false;
    if (w->state == SENDING && probe_send(w))
        w->state = WAITING;
    if (w->state != IDLE && ++w->misses >= WATCHDOG_MISSES) {
        w->misses = 0;
        probe_close(w);
        return true;
    }
    return false;
}

void watchdog_destroy(watchdog_t *w)
{
    if (!w)
        return;
    probe_close(w);
    free(w->cert);
    free(w->ca);
    free(w->url);
    free(w->blind);
    free(w);
}
