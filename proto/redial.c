/* A dialer that is dialed again when nng gives up on it; see net.h.
 *
 * nng 1.5.2 stops redialing for good when a connection attempt ends in
 * NNG_ECLOSED (dialer_connect_cb: "no further action"). Writing the SP
 * header into a connection that the listener dropped before accepting it
 * fails with EPIPE, which nng maps to NNG_ECLOSED: a worker or client
 * that reconnects just as the scheduler dies (kill -9, then a restart)
 * can end up with no connection and no attempt ever again. nng does not
 * say so; its statistics do: a dialer's counters move with every attempt
 * that ends, so a dialer without a pipe whose counters stay still for
 * longer than two of its longest backoffs is dead. */
#include "proto/net.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

void cairn_dial_watch_init(cairn_dial_watch_t *w, int64_t now_ms)
{
    w->activity = 0;
    w->known = false;
    w->quiet_since_ms = now_ms;
}

bool cairn_dial_watch_step(cairn_dial_watch_t *w, bool has_pipe, uint64_t activity, int64_t now_ms,
                           int64_t window_ms)
{
    if (has_pipe || !w->known || activity != w->activity) {
        w->known = true;
        w->activity = activity;
        w->quiet_since_ms = now_ms;
        return false;
    }
    return now_ms - w->quiet_since_ms >= window_ms;
}

/* The statistics scope of dialer id. nng 1.5.2's nng_stat_find_dialer()
 * returns the first dialer's, whatever its id (its search recurses with
 * nng_stat_find), so the tree is walked here. */
static nng_stat *find_dialer(nng_stat *s, int id)
{
    for (; s; s = nng_stat_next(s)) {
        if (nng_stat_type(s) == NNG_STAT_SCOPE && strcmp(nng_stat_name(s), "dialer") == 0) {
            for (nng_stat *c = nng_stat_child(s); c; c = nng_stat_next(c))
                if (nng_stat_type(c) == NNG_STAT_ID && strcmp(nng_stat_name(c), "id") == 0 &&
                    nng_stat_value(c) == (uint64_t)id)
                    return s;
        }
        nng_stat *found = find_dialer(nng_stat_child(s), id);
        if (found)
            return found;
    }
    return NULL;
}

/* Sum of the dialer's counters and whether it has a pipe. 1: read; 0: the
 * dialer is gone (closed); -ENOTSUP: this nng keeps no statistics. */
static int dialer_activity(nng_dialer d, uint64_t *activity, bool *has_pipe)
{
    nng_stat *all;
    if (nng_stats_get(&all) != 0)
        return -ENOTSUP;
    nng_stat *ds = find_dialer(all, nng_dialer_id(d));
    int rc = ds ? 1 : 0;
    *activity = 0;
    *has_pipe = false;
    for (nng_stat *s = ds ? nng_stat_child(ds) : NULL; s; s = nng_stat_next(s)) {
        if (nng_stat_type(s) == NNG_STAT_COUNTER)
            *activity += nng_stat_value(s);
        else if (nng_stat_type(s) == NNG_STAT_LEVEL && strcmp(nng_stat_name(s), "pipes") == 0)
            *has_pipe = nng_stat_value(s) > 0;
    }
    nng_stats_free(all);
    return rc;
}

static int dial_new(cairn_dial_t *d, cairn_error_t *err)
{
    cairn_tls_t tls = {.cert_key = d->cert_key, .ca = d->ca};
    cairn_error_t terr = {{0}};
    nng_dialer nd;
    int rv = nng_dialer_create(&nd, d->sock, d->url);
    if (rv != 0)
        return errcode(err, -EINVAL, "URL %s: %s", d->url, nng_strerror(rv));
    if ((rv = cairn_tls_dialer(nd, d->url, &tls, true, &terr)) != 0) {
        nng_dialer_close(nd);
        return errcode(err, -EINVAL, "cannot dial %s: %s", d->url,
                       terr.text[0] ? terr.text : nng_strerror(rv));
    }
    nng_dialer_set_ms(nd, NNG_OPT_RECONNMINT, d->min_ms);
    nng_dialer_set_ms(nd, NNG_OPT_RECONNMAXT, d->max_ms);
    if ((rv = nng_dialer_start(nd, NNG_FLAG_NONBLOCK)) != 0) {
        nng_dialer_close(nd);
        return errcode(err, -EINVAL, "cannot dial %s: %s", d->url, nng_strerror(rv));
    }
    d->dialer = nd;
    return 0;
}

int cairn_dial_start(cairn_dial_t *d, nng_socket sock, const char *url, const cairn_tls_t *tls,
                     int min_ms, int max_ms, cairn_error_t *err)
{
    memset(d, 0, sizeof(*d));
    d->sock = sock;
    d->min_ms = min_ms;
    d->max_ms = max_ms;
    d->url = strdup(url);
    d->cert_key = dup_or_null(tls ? tls->cert_key : NULL);
    d->ca = dup_or_null(tls ? tls->ca : NULL);
    if (!d->url || (tls && tls->cert_key && !d->cert_key) || (tls && tls->ca && !d->ca)) {
        cairn_dial_fini(d);
        return errcode(err, -ENOMEM, "out of memory");
    }
    cairn_dial_watch_init(&d->watch, 0);
    int rc = dial_new(d, err);
    if (rc < 0)
        cairn_dial_fini(d);
    return rc;
}

int cairn_dial_check(cairn_dial_t *d, int64_t now_ms, cairn_error_t *err)
{
    if (!d->url)
        return 0;
    uint64_t activity;
    bool has_pipe;
    int rc = dialer_activity(d->dialer, &activity, &has_pipe);
    if (rc == -ENOTSUP)
        return 0; /* cannot tell: leave it to nng */
    if (rc == 1 && !cairn_dial_watch_step(&d->watch, has_pipe, activity, now_ms,
                                          2 * (int64_t)d->max_ms + 1000))
        return 0;
    /* dead (or closed under us): a fresh dialer on the same socket */
    if (rc == 1)
        nng_dialer_close(d->dialer);
    if ((rc = dial_new(d, err)) < 0)
        return rc;
    d->redials++;
    cairn_dial_watch_init(&d->watch, now_ms);
    return 1;
}

void cairn_dial_fini(cairn_dial_t *d)
{
    free(d->url);
    free(d->cert_key);
    free(d->ca);
    d->url = d->cert_key = d->ca = NULL;
}
