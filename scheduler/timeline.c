/* The node timeline beside the journal; see timeline.h. */
#include "scheduler/timeline.h"
#include "common/grow.h"

#include "scheduler/sdb.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct timeline {
    journal_t *j;
    sdb_stmt_t *put;
};

int timeline_open(journal_t *j, timeline_t **out, cairn_error_t *err)
{
    timeline_t *t = calloc(1, sizeof(*t));
    if (!t)
        return errcode(err, -ENOMEM, "out of memory");
    t->j = j;
    sdb_t *db = journal_db(j);
    if ((!journal_readonly(j) &&
         sdb_exec(db,
                  "CREATE TABLE IF NOT EXISTS node_timeline (seq INTEGER PRIMARY KEY,"
                  " node TEXT NOT NULL, node_id INTEGER NOT NULL, time_ms INTEGER NOT NULL,"
                  " event TEXT NOT NULL, state INTEGER NOT NULL, detail TEXT NOT NULL);"
                  "CREATE INDEX IF NOT EXISTS node_timeline_time ON node_timeline (time_ms);",
                  NULL) != SDB_OK) ||
        sdb_prepare(db,
                    "INSERT INTO node_timeline (node, node_id, time_ms, event, state,"
                    " detail) VALUES (?,?,?,?,?,?)",
                    &t->put) != SDB_OK) {
        int rc = journal_sql_error(j, err, "timeline", "open");
        timeline_close(t);
        return rc;
    }
    *out = t;
    return 0;
}

void timeline_close(timeline_t *t)
{
    if (!t)
        return;
    sdb_finalize(t->put);
    free(t);
}

static int put(timeline_t *t, const sched_t *core, uint32_t node, int64_t time_ms,
               const char *event, cairn_error_t *err)
{
    int rc = journal_begin(t->j, err);
    if (rc < 0)
        return rc;
    const char *reason = "";
    sched_node_drained(core, node, &reason);
    sdb_stmt_t *st = t->put;
    sdb_bind_text(st, 1, sched_node_name(core, node), -1, SDB_STATIC);
    sdb_bind_int64(st, 2, node);
    sdb_bind_int64(st, 3, time_ms);
    sdb_bind_text(st, 4, event, -1, SDB_STATIC);
    sdb_bind_int(st, 5, (int)sched_node_state(core, node));
    sdb_bind_text(st, 6, reason, -1, SDB_STATIC);
    int s = sdb_step(st);
    sdb_reset(st);
    sdb_clear_bindings(st);
    return s == SDB_DONE ? 0 : journal_sql_error(t->j, err, "timeline", "put");
}

/* The node an event is about: false for other events, or a node added
 * that the core does not know (not applied). */
static bool node_of(const sched_t *core, const sched_event_t *ev, uint32_t *node)
{
    switch (ev->type) {
    case SCHED_EV_NODE_ADD:
        return sched_node_find(core, ev->u.node_add.name, node) == 0;
    case SCHED_EV_NODE_STATE:
        *node = ev->u.node_state.node;
        return *node < sched_node_count(core);
    case SCHED_EV_NODE_REMOVE:
        *node = ev->u.node_remove.node;
        return *node < sched_node_count(core);
    default:
        return false;
    }
}

void timeline_mark(const sched_t *core, const sched_event_t *ev, timeline_mark_t *m)
{
    uint32_t node;
    memset(m, 0, sizeof(*m));
    m->node = ev->type == SCHED_EV_NODE_ADD || ev->type == SCHED_EV_NODE_STATE ||
              ev->type == SCHED_EV_NODE_REMOVE;
    m->known = m->node && node_of(core, ev, &node);
    if (m->known) {
        m->state = sched_node_state(core, node);
        m->drained = sched_node_drained(core, node, NULL);
    }
}

/* What the event did to a node that was as m says (NULL: nothing the
 * timeline keeps). */
static const char *change(const sched_event_t *ev, const timeline_mark_t *m)
{
    switch (ev->type) {
    case SCHED_EV_NODE_ADD:
        if (!m->known || m->state == SCHED_NODE_REMOVED)
            return "joined";
        return m->state == SCHED_NODE_DOWN || m->state == SCHED_NODE_RETURNING ? "back" : NULL;
    case SCHED_EV_NODE_REMOVE:
        return "removed";
    case SCHED_EV_NODE_STATE:
        break;
    default:
        return NULL;
    }
    switch (ev->u.node_state.state) {
    case SCHED_NODE_DOWN:
        return m->state != SCHED_NODE_DOWN ? "lost" : NULL;
    case SCHED_NODE_RETURNING:
        return m->state != SCHED_NODE_RETURNING ? "returning" : NULL;
    case SCHED_NODE_DRAINING:
        return "drained";
    case SCHED_NODE_UP:
        return m->drained ? "undrained" : NULL;
    default:
        return NULL;
    }
}

int timeline_note(timeline_t *t, const sched_t *core, const sched_event_t *ev,
                  const timeline_mark_t *m, cairn_error_t *err)
{
    uint32_t node;
    const char *what = m->node ? change(ev, m) : NULL;
    if (!what || !node_of(core, ev, &node))
        return 0;
    return put(t, core, node, ev->time_ms, what, err);
}

int timeline_backfill(timeline_t *t, const sched_t *core, int64_t now_ms, cairn_error_t *err)
{
    sdb_t *db = journal_db(t->j);
    sdb_stmt_t *st;
    if (sdb_prepare(db, "SELECT value FROM meta WHERE key = 'timeline'", &st) != SDB_OK)
        return journal_sql_error(t->j, err, "timeline", "meta");
    bool kept = sdb_step(st) == SDB_ROW;
    sdb_finalize(st);
    if (kept)
        return 0;
    int rc = journal_begin(t->j, err);
    uint32_t n = sched_node_count(core);
    for (uint32_t i = 0; i < n && rc == 0; i++)
        rc = put(t, core, i, now_ms, "known", err);
    if (rc == 0 &&
        sdb_exec(db, "INSERT OR REPLACE INTO meta VALUES ('timeline', '1')", NULL) != SDB_OK)
        rc = journal_sql_error(t->j, err, "timeline", "meta");
    return rc;
}

Cairn__NodeState timeline_wire_state(sched_node_state_t st)
{
    switch (st) {
    case SCHED_NODE_UP:
        return CAIRN__NODE_STATE__NODE_STATE_UP;
    case SCHED_NODE_DRAINING:
        return CAIRN__NODE_STATE__NODE_STATE_DRAINING;
    case SCHED_NODE_RETURNING:
        return CAIRN__NODE_STATE__NODE_STATE_RETURNING;
    case SCHED_NODE_REMOVED:
        return CAIRN__NODE_STATE__NODE_STATE_REMOVED;
    default:
        return CAIRN__NODE_STATE__NODE_STATE_DOWN;
    }
}

static char *dup_col(sdb_stmt_t *st, int i)
{
    const char *s = (const char *)sdb_column_text(st, i);
    return strdup(s ? s : "");
}

int timeline_query(timeline_t *t, int64_t since_ms, int64_t until_ms, Cairn__UsageReply *rep,
                   cairn_error_t *err)
{
    sdb_stmt_t *st;
    if (sdb_prepare(journal_db(t->j),
                    "SELECT node, node_id, time_ms, event, state, detail FROM node_timeline"
                    " WHERE seq IN (SELECT max(seq) FROM node_timeline WHERE time_ms < ?1"
                    " GROUP BY node) OR (time_ms >= ?1 AND time_ms < ?2) ORDER BY seq",
                    &st) != SDB_OK)
        return journal_sql_error(t->j, err, "timeline", "query");
    sdb_bind_int64(st, 1, since_ms);
    sdb_bind_int64(st, 2, until_ms > 0 ? until_ms : INT64_MAX);
    size_t cap = 0;
    int s, rc = 0;
    while ((s = sdb_step(st)) == SDB_ROW) {
        Cairn__NodeEvent *e = NULL;
        if (CAIRN_GROW(rep->node_events, cap, rep->n_node_events + 1) < 0 ||
            !(e = malloc(sizeof(*e)))) {
            rc = errcode(err, -ENOMEM, "out of memory");
            break;
        }
        cairn__node_event__init(e);
        rep->node_events[rep->n_node_events++] = e;
        e->node = dup_col(st, 0);
        e->node_id = (uint64_t)sdb_column_int64(st, 1) + 1;
        e->time_ms = sdb_column_int64(st, 2);
        e->event = dup_col(st, 3);
        e->state = timeline_wire_state((sched_node_state_t)sdb_column_int(st, 4));
        e->detail = dup_col(st, 5);
        if (!e->node || !e->event || !e->detail) {
            rc = errcode(err, -ENOMEM, "out of memory");
            break;
        }
    }
    if (rc == 0 && s != SDB_DONE)
        rc = journal_sql_error(t->j, err, "timeline", "query");
    sdb_finalize(st);
    return rc;
}

void timeline_reply_fini(Cairn__UsageReply *rep)
{
    for (size_t i = 0; i < rep->n_node_events; i++) {
        Cairn__NodeEvent *e = rep->node_events[i];
        free(e->node);
        free(e->event);
        free(e->detail);
        free(e);
    }
    free(rep->node_events);
    rep->node_events = NULL;
    rep->n_node_events = 0;
}
