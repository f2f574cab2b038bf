/* Snapshots of the core in the journal's database; see snapshots.h. */
#include "scheduler/snapshots.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sha256.h"
#include "scheduling/snapshot.h"

int snapshots_take(journal_t *j, const sched_t *core, int64_t now_ms, size_t *bytes,
                   cairn_error_t *err)
{
    uint8_t *data = NULL, sha[CAIRN_SHA256_LEN];
    size_t len = 0;
    int rc = sched_snapshot_save(core, &data, &len, err);
    if (rc < 0)
        return rc;
    cairn_sha256(data, len, sha);
    journal_snapshot_t s = {.seq = journal_head(j),
                            .version = SCHED_SNAPSHOT_VERSION,
                            .sha256 = sha,
                            .sha_len = sizeof(sha),
                            .data = data,
                            .len = len,
                            .time_ms = now_ms};
    if ((rc = journal_put_snapshot(j, &s, err)) == 0)
        rc = journal_prune(j, SNAPSHOTS_KEEP, err);
    free(data);
    if (rc == 0 && bytes)
        *bytes = len;
    return rc;
}

int snapshot_open(const journal_snapshot_t *s, const sched_config_t *cfg, sched_t **core,
                  cairn_error_t *err)
{
    uint8_t sha[CAIRN_SHA256_LEN];
    *core = NULL;
    if (!s->data || !s->sha256 || s->sha_len != sizeof(sha))
        return errcode(err, -EBADMSG, "no data or checksum");
    cairn_sha256(s->data, s->len, sha);
    if (memcmp(sha, s->sha256, sizeof(sha)) != 0)
        return errcode(err, -EBADMSG, "its SHA-256 checksum does not match its %zu bytes", s->len);
    if (s->version < 1 || s->version > SCHED_SNAPSHOT_VERSION)
        return errcode(err, -EPROTO, "format version %u, this scheduler reads 1 to %u", s->version,
                       SCHED_SNAPSHOT_VERSION);
    cairn_error_t why = {{0}};
    int rc = sched_snapshot_load(s->data, s->len, cfg, core, &why);
    return rc < 0 ? errcode(err, rc == SCHED_ENOMEM ? -ENOMEM : -EPROTO, "%s", why.text) : 0;
}

typedef struct restore {
    const sched_config_t *cfg;
    cairn_log_t *log;
    sched_t *core;
    snapshot_restored_t *out;
    size_t seen;
    uint64_t last_bad;
    char why[sizeof(((cairn_error_t *)0)->text)];
} restore_t;

static int restore_cb(const journal_snapshot_t *s, void *arg)
{
    restore_t *r = arg;
    cairn_error_t err = {{0}};
    r->seen++;
    if (snapshot_open(s, r->cfg, &r->core, &err) == 0) {
        r->out->seq = s->seq;
        r->out->bytes = s->len;
        return 1;
    }
    r->out->skipped++;
    r->last_bad = s->seq;
    snprintf(r->why, sizeof(r->why), "%s", err.text);
    cairn_log(r->log, CAIRN_LOG_ERROR,
              "snapshot of journal entry %llu is corrupt or unreadable (%s): falling back to the "
              "snapshot before it and the events after that",
              (unsigned long long)s->seq, err.text);
    return 0;
}

int snapshots_restore(journal_t *j, const sched_config_t *cfg, cairn_log_t *log, sched_t **core,
                      snapshot_restored_t *out, cairn_error_t *err)
{
    *core = NULL;
    memset(out, 0, sizeof(*out));
    uint64_t pruned = 0;
    int rc = journal_pruned(j, &pruned, err);
    if (rc < 0)
        return rc;
    restore_t r = {.cfg = cfg, .log = log, .out = out};
    rc = journal_snapshots(j, restore_cb, &r, err);
    if (rc < 0) {
        sched_destroy(r.core);
        return rc;
    }
    if (r.core) {
        *core = r.core;
        return 0;
    }
    if (pruned)
        return errcode(err, -EPROTO,
                       "journal: no usable snapshot (%zu kept; the last tried, of entry %llu: %s) "
                       "and the entries up to %llu were pruned: the state cannot be rebuilt. "
                       "Restore the state directory from a backup",
                       r.seen, (unsigned long long)r.last_bad, r.seen ? r.why : "none",
                       (unsigned long long)pruned);
    if (r.seen)
        cairn_log(log, CAIRN_LOG_WARN,
                  "no snapshot verifies; the journal holds every entry: replaying all of it");
    *core = sched_create(cfg);
    return *core ? 0 : errcode(err, -ENOMEM, "out of memory");
}
