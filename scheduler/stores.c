/* The scheduler's state on disk; see stores.h. */
#include "scheduler/stores.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "scheduler/sdb.h"

int stores_open(const char *path, stores_t **out, cairn_error_t *err)
{
    stores_t *s = calloc(1, sizeof(*s));
    if (!s)
        return errcode(err, -ENOMEM, "out of memory");
    int rc;
    if ((rc = journal_open(path, &s->journal, err)) < 0 ||
        (rc = audit_open(s->journal, &s->audit, err)) < 0 ||
        (rc = prov_open(s->journal, &s->prov, err)) < 0 ||
        (rc = cache_open(s->journal, &s->cache, err)) < 0 ||
        (rc = usage_open(s->journal, &s->usage, err)) < 0 ||
        (rc = history_open(s->journal, &s->history, err)) < 0 ||
        (rc = timeline_open(s->journal, &s->timeline, err)) < 0 ||
        (rc = archive_open(s->journal, &s->archive, err)) < 0 ||
        (rc = members_open(s->journal, &s->members, err)) < 0) {
        if (s->journal)
            journal_schema_done(s->journal);
        stores_close(s);
        return rc;
    }
    journal_schema_done(s->journal);
    *out = s;
    return 0;
}

void stores_close(stores_t *s)
{
    if (!s)
        return;
    audit_close(s->audit);
    prov_close(s->prov);
    cache_close(s->cache);
    usage_close(s->usage);
    history_close(s->history);
    timeline_close(s->timeline);
    archive_close(s->archive);
    members_close(s->members);
    journal_close(s->journal);
    free(s);
}

int stores_reload(stores_t *s, cairn_error_t *err)
{
    int rc = audit_reload(s->audit, err);
    if (rc == 0)
        rc = members_reload(s->members, err);
    return rc < 0 ? rc : cache_reload(s->cache, err);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int stores_open_wait(const char *url, int64_t wait_ms, stores_t **out, cairn_error_t *err)
{
    int64_t until = mono_ms() + wait_ms;
    for (;;) {
        int rc = stores_open(url, out, err);
        if (rc != -EIO || sdb_url_kind(url, NULL) != SDB_PG || mono_ms() >= until)
            return rc;
        /* the server restarts or fails over: a start waits for it */
        struct timespec backoff = {.tv_sec = 0, .tv_nsec = 250 * 1000000};
        nanosleep(&backoff, NULL);
    }
}
