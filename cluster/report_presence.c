/* When a node was there; see presence.h. */
#include "cluster/presence.h"

#include <stdlib.h>
#include <string.h>

bool presence_there(Cairn__NodeState st)
{
    return st == CAIRN__NODE_STATE__NODE_STATE_UP || st == CAIRN__NODE_STATE__NODE_STATE_DRAINING ||
           st == CAIRN__NODE_STATE__NODE_STATE_DRAINED ||
           st == CAIRN__NODE_STATE__NODE_STATE_RETURNING;
}

/* One event under its node's name; sorted by (name, place in the reply). */
typedef struct by_node {
    const char *node;
    size_t i;
} by_node_t;

struct presence {
    const Cairn__NodeEvent *const *ev;
    size_t n;
    by_node_t *idx;
};

static int cmp_by_node(const void *a, const void *b)
{
    const by_node_t *x = a, *y = b;
    int c = strcmp(x->node, y->node);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

static int cmp_name(const void *key, const void *b)
{
    return strcmp(key, ((const by_node_t *)b)->node);
}

presence_t *presence_create(const Cairn__NodeEvent *const *ev, size_t n)
{
    presence_t *p = calloc(1, sizeof(*p));
    if (!p || !(p->idx = malloc((n ? n : 1) * sizeof(*p->idx)))) {
        free(p);
        return NULL;
    }
    p->ev = ev;
    p->n = n;
    for (size_t i = 0; i < n; i++)
        p->idx[i] = (by_node_t){ev[i]->node, i};
    if (n > 1)
        qsort(p->idx, n, sizeof(*p->idx), cmp_by_node);
    return p;
}

void presence_destroy(presence_t *p)
{
    if (!p)
        return;
    free(p->idx);
    free(p);
}

/* node's events: idx[*first .. *first + return) */
static size_t events_of(const presence_t *p, const char *node, size_t *first)
{
    const by_node_t *hit = p->n ? bsearch(node, p->idx, p->n, sizeof(*p->idx), cmp_name) : NULL;
    if (!hit)
        return 0;
    size_t a = (size_t)(hit - p->idx), b = a + 1;
    while (a > 0 && !strcmp(p->idx[a - 1].node, node))
        a--;
    while (b < p->n && !strcmp(p->idx[b].node, node))
        b++;
    *first = a;
    return b - a;
}

bool presence_knows(const presence_t *p, const char *node)
{
    size_t first;
    return events_of(p, node, &first) > 0;
}

void presence_states(const presence_t *p, const char *node, int64_t from_ms, int64_t to_ms,
                     presence_state_f fn, void *arg)
{
    if (p->n == 0) { /* no timeline kept: there the whole window */
        fn(from_ms, CAIRN__NODE_STATE__NODE_STATE_UP, arg);
        return;
    }
    size_t first = 0, n = events_of(p, node, &first);
    for (size_t k = 0; k < n; k++) {
        const Cairn__NodeEvent *e = p->ev[p->idx[first + k].i];
        int64_t t = e->time_ms < from_ms ? from_ms : e->time_ms;
        if (t >= to_ms) {
            n = k;
            break;
        }
        /* before its first event: not there, unless it is "known" (the
         * timeline began with the node there already) */
        if (k == 0 && t > from_ms)
            fn(from_ms, !strcmp(e->event, "known") ? e->state : CAIRN__NODE_STATE__NODE_STATE_DOWN,
               arg);
        fn(t, e->state, arg);
    }
    if (n == 0) /* no event before the window's end: not there yet */
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

double presence_spans(const presence_t *p, const char *node, int64_t from_ms, int64_t to_ms,
                      presence_f fn, void *arg)
{
    spans_t s = {.since = -1, .fn = fn, .arg = arg};
    if (to_ms <= from_ms)
        return 0;
    presence_states(p, node, from_ms, to_ms, span_cb, &s);
    close_span(&s, to_ms);
    return s.total;
}
