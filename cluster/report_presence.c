/* When a node was there; see presence.h. */
#include "cluster/presence.h"

#include <string.h>

bool presence_there(Cairn__NodeState st)
{
    return st == CAIRN__NODE_STATE__NODE_STATE_UP || st == CAIRN__NODE_STATE__NODE_STATE_DRAINING ||
           st == CAIRN__NODE_STATE__NODE_STATE_DRAINED ||
           st == CAIRN__NODE_STATE__NODE_STATE_RETURNING;
}

void presence_states(const Cairn__NodeEvent *const *ev, size_t n, const char *node, int64_t from_ms,
                     int64_t to_ms, presence_state_f fn, void *arg)
{
    if (n == 0) { /* no timeline kept: there the whole window */
        fn(from_ms, CAIRN__NODE_STATE__NODE_STATE_UP, arg);
        return;
    }
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        const Cairn__NodeEvent *e = ev[i];
        if (strcmp(e->node, node) != 0)
            continue;
        int64_t t = e->time_ms < from_ms ? from_ms : e->time_ms;
        if (t >= to_ms)
            break;
        /* before its first event: not there, unless it is "known" (the
         * timeline began with the node there already) */
        if (first && t > from_ms)
            fn(from_ms, !strcmp(e->event, "known") ? e->state : CAIRN__NODE_STATE__NODE_STATE_DOWN,
               arg);
        first = false;
        fn(t, e->state, arg);
    }
    if (first) /* no event before the window's end: not there yet */
        fn(from_ms, CAIRN__NODE_STATE__NODE_STATE_DOWN, arg);
}

/* presence_spans' walk: the span open since `since` (-1: none). */
typedef struct spans {
    int64_t since;
    double total;
    presence_f fn;
    void *arg;
} spans_t;

static void close_span(spans_t *s, int64_t t)
{
    if (s->since >= 0 && t > s->since) {
        if (s->fn)
            s->fn(s->since, t, s->arg);
        s->total += (double)(t - s->since) / 1000.0;
    }
    s->since = -1;
}

static void span_cb(int64_t at_ms, Cairn__NodeState st, void *arg)
{
    spans_t *s = arg;
    if (presence_there(st) && s->since < 0)
        s->since = at_ms;
    else if (!presence_there(st))
        close_span(s, at_ms);
}

double presence_spans(const Cairn__NodeEvent *const *ev, size_t n, const char *node,
                      int64_t from_ms, int64_t to_ms, presence_f fn, void *arg)
{
    spans_t s = {.since = -1, .fn = fn, .arg = arg};
    if (to_ms <= from_ms)
        return 0;
    presence_states(ev, n, node, from_ms, to_ms, span_cb, &s);
    close_span(&s, to_ms);
    return s.total;
}
