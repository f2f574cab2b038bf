/* The node table; see nodes.h. */
#include "scheduler/nodes.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/grow.h"
#include "common/search.h"

/* A gang replica's exit, kept until the whole attempt ends. */
typedef struct replica_exit {
    uint64_t attempt;
    uint32_t rank;
    sched_end_t end;
    int code, sig;
} replica_exit_t;

typedef struct start_error {
    uint64_t attempt;
    char *text;
} start_error_t;

struct nodes {
    uv_loop_t *loop;
    cairn_log_t *log;
    /* the loop's time it could not listen (stalls past two heartbeat
     * intervals: a long read, swapping, the process stopped) */
    int64_t unheard_ms;
    node_link_t *links; /* per core node id */
    size_t nlinks, links_cap;
    /* nng pipe id -> node id + 1, open addressing */
    uint32_t *pm_keys, *pm_vals;
    size_t pm_cap, pm_n;
    pending_pipe_t *pend; /* worker connections not registered yet */
    size_t npend, pend_cap;
    start_error_t *serr; /* sorted by attempt id */
    size_t nserr;
    replica_exit_t *rexits;
    size_t nrexits, rexits_cap;
    /* the links with seq_dirty set, by node id: a commit writes those
     * without scanning every node (a pass runs after every poll) */
    uint32_t *dirty;
    size_t ndirty, dirty_cap;
    int64_t every_ms; /* nodes_heartbeat_every's answer, 0 before the first */
};

int nodes_create(uv_loop_t *loop, cairn_log_t *log, nodes_t **out)
{
    nodes_t *n = calloc(1, sizeof(*n));
    if (!n)
        return -ENOMEM;
    n->loop = loop;
    n->log = log;
    *out = n;
    return 0;
}

void nodes_link_mig_fini(node_link_t *l)
{
    for (size_t i = 0; i < l->nmig_parent; i++)
        free(l->mig_parent[i]);
    free(l->mig_parent);
    l->mig_parent = NULL;
    l->nmig_parent = 0;
}

void nodes_destroy(nodes_t *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nlinks; i++) {
        free(n->links[i].worker_version);
        free(n->links[i].fingerprint);
        free(n->links[i].driver);
        free(n->links[i].cuda);
        nodes_link_mig_fini(&n->links[i]);
        free(n->links[i].pending);
    }
    free(n->links);
    free(n->pm_keys);
    free(n->pm_vals);
    free(n->pend);
    for (size_t i = 0; i < n->nserr; i++)
        free(n->serr[i].text);
    free(n->serr);
    free(n->rexits);
    free(n->dirty);
    free(n);
}

int64_t nodes_listen_now(const nodes_t *n)
{
    return (int64_t)uv_now(n->loop) - n->unheard_ms;
}

void nodes_add_unheard(nodes_t *n, int64_t ms)
{
    n->unheard_ms += ms;
}

node_link_t *nodes_link(nodes_t *n, const sched_t *core, uint32_t node)
{
    if (node >= n->nlinks) {
        size_t count = sched_node_count(core);
        if (node >= count || CAIRN_GROW(n->links, n->links_cap, count) < 0)
            return NULL;
        for (size_t i = n->nlinks; i < count; i++)
            n->links[i].last_heard_ms = nodes_listen_now(n);
        n->nlinks = count;
    }
    return &n->links[node];
}

/* --- pipe -> node map ---------------------------------------------------- */

static size_t pm_slot(const nodes_t *n, uint32_t key)
{
    return (size_t)(key * 2654435761u) & (n->pm_cap - 1);
}

static int pm_put(nodes_t *n, uint32_t key, uint32_t node)
{
    if ((n->pm_n + 1) * 2 > n->pm_cap) {
        size_t cap = n->pm_cap ? n->pm_cap * 2 : 64;
        uint32_t *k = calloc(cap, sizeof(uint32_t)), *v = calloc(cap, sizeof(uint32_t));
        if (!k || !v) {
            free(k);
            free(v);
            return -ENOMEM;
        }
        uint32_t *ok = n->pm_keys, *ov = n->pm_vals;
        size_t ocap = n->pm_cap;
        n->pm_keys = k;
        n->pm_vals = v;
        n->pm_cap = cap;
        n->pm_n = 0;
        for (size_t i = 0; i < ocap; i++)
            if (ok[i])
                pm_put(n, ok[i], ov[i] - 1);
        free(ok);
        free(ov);
    }
    size_t i = pm_slot(n, key);
    while (n->pm_keys[i] && n->pm_keys[i] != key)
        i = (i + 1) & (n->pm_cap - 1);
    if (!n->pm_keys[i])
        n->pm_n++;
    n->pm_keys[i] = key;
    n->pm_vals[i] = node + 1;
    return 0;
}

static void pm_del(nodes_t *n, uint32_t key)
{
    if (!n->pm_cap)
        return;
    size_t i = pm_slot(n, key);
    while (n->pm_keys[i] && n->pm_keys[i] != key)
        i = (i + 1) & (n->pm_cap - 1);
    if (!n->pm_keys[i])
        return;
    n->pm_keys[i] = 0;
    n->pm_n--;
    /* re-insert the rest of the cluster */
    for (size_t j = (i + 1) & (n->pm_cap - 1); n->pm_keys[j]; j = (j + 1) & (n->pm_cap - 1)) {
        uint32_t k = n->pm_keys[j], v = n->pm_vals[j];
        n->pm_keys[j] = 0;
        n->pm_n--;
        pm_put(n, k, v - 1);
    }
}

int nodes_of_pipe(const nodes_t *n, uint32_t pipe, uint32_t *node)
{
    if (!n->pm_cap || !pipe)
        return -ENOENT;
    for (size_t i = pm_slot(n, pipe); n->pm_keys[i]; i = (i + 1) & (n->pm_cap - 1))
        if (n->pm_keys[i] == pipe) {
            *node = n->pm_vals[i] - 1;
            return 0;
        }
    return -ENOENT;
}

int nodes_bind(nodes_t *n, uint32_t node, node_link_t *l, uint32_t pipe)
{
    int rc = pm_put(n, pipe, node);
    if (rc == 0)
        l->pipe = pipe;
    return rc;
}

int64_t nodes_heartbeat_every(nodes_t *n, int64_t interval_ms, uint32_t rate)
{
    int64_t every = n->every_ms > interval_ms ? n->every_ms : interval_ms;
    if (rate > 0 && interval_ms > 0) {
        /* the connected nodes send pm_n heartbeats per interval */
        int64_t need = (int64_t)((n->pm_n * 1000 + rate - 1) / rate);
        int64_t k = (need + interval_ms - 1) / interval_ms;
        int64_t fit = (k > 1 ? k : 1) * interval_ms;
        if (fit > every || 2 * need <= every)
            every = fit;
    } else {
        every = interval_ms;
    }
    n->every_ms = every;
    return every;
}

int64_t nodes_silence_limit(const node_link_t *l, int64_t interval_ms, int64_t timeout_ms)
{
    if (interval_ms <= 0 || l->every_ms <= interval_ms)
        return timeout_ms;
    return timeout_ms * l->every_ms / interval_ms; /* milliseconds: far from overflowing */
}

uint32_t nodes_unbind(nodes_t *n, node_link_t *l)
{
    uint32_t pipe = l ? l->pipe : 0;
    if (pipe) {
        pm_del(n, pipe);
        l->pipe = 0;
    }
    return pipe;
}

void nodes_unbind_all(nodes_t *n)
{
    for (size_t i = 0; i < n->nlinks; i++)
        n->links[i].pipe = 0;
    n->pm_n = 0;
    if (n->pm_keys)
        memset(n->pm_keys, 0, n->pm_cap * sizeof(uint32_t));
}

/* --- connections not registered yet ---------------------------------------- */

void nodes_pipe_ident(nng_pipe p, char *buf, size_t len, bool *network)
{
    nng_sockaddr sa;
    uint64_t uid;
    char a[INET6_ADDRSTRLEN] = "";
    buf[0] = '\0';
    *network = false;
    if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_UID, &uid) == 0) {
        snprintf(buf, len, "uid %llu", (unsigned long long)uid);
        return;
    }
    if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
        return;
    if (sa.s_family == NNG_AF_INET)
        inet_ntop(AF_INET, &sa.s_in.sa_addr, a, sizeof(a));
    else if (sa.s_family == NNG_AF_INET6)
        inet_ntop(AF_INET6, sa.s_in6.sa_addr, a, sizeof(a));
    if (a[0]) {
        snprintf(buf, len, "address %s", a);
        *network = true;
    }
}

static pending_pipe_t *pending_find(nodes_t *n, uint32_t pipe)
{
    for (size_t i = 0; i < n->npend; i++)
        if (n->pend[i].pipe == pipe)
            return &n->pend[i];
    return NULL;
}

void nodes_pending_remove(nodes_t *n, uint32_t pipe)
{
    pending_pipe_t *x = pending_find(n, pipe);
    if (x)
        *x = n->pend[--n->npend];
}

pending_pipe_t *nodes_pending_add(nodes_t *n, nng_pipe p)
{
    pending_pipe_t *x = pending_find(n, p.id);
    if (x)
        return x;
    char id[48];
    bool network;
    nodes_pipe_ident(p, id, sizeof(id), &network);
    size_t same = 0;
    for (size_t i = 0; network && i < n->npend; i++)
        same += !strcmp(n->pend[i].addr, id);
    if (same >= NODES_PENDING_PER_ADDR || n->npend >= NODES_PENDING_MAX) {
        cairn_log(n->log, CAIRN_LOG_WARN,
                  "worker connection from %s closed: %zu connections wait to register%s",
                  id[0] ? id : "an unknown peer", same >= NODES_PENDING_PER_ADDR ? same : n->npend,
                  same >= NODES_PENDING_PER_ADDR ? " from there" : "");
        nng_pipe_close(p);
        return NULL;
    }
    if (CAIRN_GROW(n->pend, n->pend_cap, n->npend + 1) < 0) {
        nng_pipe_close(p);
        return NULL;
    }
    x = &n->pend[n->npend++];
    memset(x, 0, sizeof(*x));
    x->pipe = p.id;
    x->since_ms = nodes_listen_now(n);
    snprintf(x->addr, sizeof(x->addr), "%s", id);
    return x;
}

void nodes_pending_expire(nodes_t *n, int64_t timeout_ms)
{
    int64_t now = nodes_listen_now(n);
    for (size_t i = 0; i < n->npend;) {
        pending_pipe_t x = n->pend[i];
        if (now - x.since_ms < timeout_ms) {
            i++;
            continue;
        }
        n->pend[i] = n->pend[--n->npend];
        cairn_log(n->log, CAIRN_LOG_INFO,
                  "worker connection from %s closed: not registered after %lld ms",
                  x.addr[0] ? x.addr : "an unknown peer", (long long)timeout_ms);
        nng_pipe_close((nng_pipe){.id = x.pipe});
    }
}

bool nodes_challenge_get(nodes_t *n, uint32_t pipe, uint8_t out[CAIRN_JOIN_CHALLENGE_LEN])
{
    pending_pipe_t *x = pending_find(n, pipe);
    if (!x || !x->challenged)
        return false;
    memcpy(out, x->c, CAIRN_JOIN_CHALLENGE_LEN);
    return true;
}

int nodes_challenge_new(nodes_t *n, nng_pipe p, uint8_t out[CAIRN_JOIN_CHALLENGE_LEN])
{
    pending_pipe_t *x = nodes_pending_add(n, p);
    if (!x)
        return -EBUSY;
    int rc = cairn_join_random(out, CAIRN_JOIN_CHALLENGE_LEN);
    if (rc < 0)
        return rc;
    memcpy(x->c, out, CAIRN_JOIN_CHALLENGE_LEN);
    x->challenged = true;
    return 0;
}

/* --- why attempts failed to start ------------------------------------------ */

static uint64_t serr_key(const void *e)
{
    return ((const start_error_t *)e)->attempt;
}

/* Sorted by attempt id (lookups come for every attempt of a status
 * reply); when full, the lowest (oldest) id goes. */
void nodes_start_error_put(nodes_t *n, uint64_t attempt, const char *text)
{
    if (!text || !text[0] || nodes_start_error(n, attempt))
        return;
    if (!n->serr && !(n->serr = calloc(NODES_START_ERRORS_MAX, sizeof(*n->serr))))
        return;
    if (n->nserr == NODES_START_ERRORS_MAX) { /* forget the oldest */
        free(n->serr[0].text);
        memmove(n->serr, n->serr + 1, --n->nserr * sizeof(*n->serr));
    }
    char *t = strndup(text, 1024);
    if (!t)
        return;
    size_t i = cairn_lower_bound(n->serr, n->nserr, sizeof(*n->serr), attempt, serr_key);
    memmove(n->serr + i + 1, n->serr + i, (n->nserr - i) * sizeof(*n->serr));
    n->serr[i] = (start_error_t){attempt, t};
    n->nserr++;
}

const char *nodes_start_error(const nodes_t *n, uint64_t attempt)
{
    const start_error_t *e =
        cairn_find_sorted(n->serr, n->nserr, sizeof(*n->serr), attempt, serr_key);
    return e ? e->text : NULL;
}

/* --- gang replicas' exits ---------------------------------------------------- */

bool nodes_rexit_seen(const nodes_t *n, uint64_t attempt, uint32_t rank)
{
    for (size_t i = 0; i < n->nrexits; i++)
        if (n->rexits[i].attempt == attempt && n->rexits[i].rank == rank)
            return true;
    return false;
}

uint32_t nodes_rexit_count(const nodes_t *n, uint64_t attempt)
{
    uint32_t k = 0;
    for (size_t i = 0; i < n->nrexits; i++)
        k += n->rexits[i].attempt == attempt;
    return k;
}

int nodes_rexit_add(nodes_t *n, uint64_t attempt, uint32_t rank, sched_end_t end, int code, int sig)
{
    if (CAIRN_GROW(n->rexits, n->rexits_cap, n->nrexits + 1) < 0)
        return -ENOMEM;
    n->rexits[n->nrexits++] = (replica_exit_t){attempt, rank, end, code, sig};
    return 0;
}

void nodes_rexit_clear(nodes_t *n, uint64_t attempt)
{
    size_t k = 0;
    for (size_t i = 0; i < n->nrexits; i++)
        if (n->rexits[i].attempt != attempt)
            n->rexits[k++] = n->rexits[i];
    n->nrexits = k;
}

/* --- what survives a restart ------------------------------------------------- */

typedef struct loading {
    nodes_t *n;
    const sched_t *core;
} loading_t;

static void seq_loaded(const char *node, uint64_t incarnation, uint64_t seq, const char *ident,
                       void *arg)
{
    loading_t *x = arg;
    uint32_t id;
    node_link_t *l;
    if (sched_node_find(x->core, node, &id) < 0 || !(l = nodes_link(x->n, x->core, id)))
        return;
    l->incarnation = incarnation;
    l->last_seq = seq;
    snprintf(l->ident, sizeof(l->ident), "%s", ident ? ident : "");
}

int nodes_load_seqs(nodes_t *n, const sched_t *core, journal_t *j, cairn_error_t *err)
{
    for (size_t i = 0; i < n->nlinks; i++) {
        n->links[i].incarnation = n->links[i].last_seq = 0;
        n->links[i].seq_dirty = false;
        n->links[i].ident[0] = '\0';
    }
    n->ndirty = 0;
    loading_t x = {n, core};
    return journal_load_workers(j, seq_loaded, &x, err);
}

void nodes_seq_dirty(nodes_t *n, node_link_t *l)
{
    if (l->seq_dirty)
        return;
    /* without room the flag alone is kept: the next save scans them all */
    if (n->ndirty != SIZE_MAX && CAIRN_GROW(n->dirty, n->dirty_cap, n->ndirty + 1) == 0)
        n->dirty[n->ndirty++] = (uint32_t)(l - n->links);
    else
        n->ndirty = SIZE_MAX;
    l->seq_dirty = true;
}

static int save_seq(nodes_t *n, const sched_t *core, journal_t *j, size_t i, cairn_error_t *err)
{
    node_link_t *l = &n->links[i];
    if (!l->seq_dirty)
        return 0;
    l->seq_dirty = false;
    return journal_put_worker(j, sched_node_name(core, (uint32_t)i), l->incarnation, l->last_seq,
                              l->ident, err);
}

int nodes_save_seqs(nodes_t *n, const sched_t *core, journal_t *j, cairn_error_t *err)
{
    int rc = 0;
    bool all = n->ndirty == SIZE_MAX;
    size_t count = all ? n->nlinks : n->ndirty;
    for (size_t k = 0; k < count; k++) {
        int r = save_seq(n, core, j, all ? k : n->dirty[k], err);
        if (r < 0 && rc == 0)
            rc = r;
    }
    n->ndirty = 0;
    return rc;
}

/* After a restart: the exits of replicas whose gang still runs. */
static void rexit_loaded(uint64_t attempt, uint32_t rank, int end, int code, int sig, void *arg)
{
    loading_t *x = arg;
    sched_attempt_info_t ai;
    if (sched_attempt_get(x->core, attempt, &ai) < 0 || ai.end != SCHED_END_NONE)
        return;
    nodes_rexit_add(x->n, attempt, rank, (sched_end_t)end, code, sig);
}

int nodes_load_rexits(nodes_t *n, const sched_t *core, journal_t *j, cairn_error_t *err)
{
    loading_t x = {n, core};
    return journal_load_replica_exits(j, rexit_loaded, &x, err);
}

void nodes_hold(node_link_t *l, uint64_t attempt)
{
    for (size_t i = 0; i < l->npending; i++)
        if (l->pending[i] == attempt)
            return;
    if (CAIRN_GROW(l->pending, l->pending_cap, l->npending + 1) == 0)
        l->pending[l->npending++] = attempt;
}
