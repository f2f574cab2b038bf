/* Replay verification of a journal; see verify.h. */
#include "scheduler/verify.h"
#include "scheduler/daemon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/grow.h"
#include "scheduler/journal.h"
#include "scheduler/journal_pack.h"
#include "scheduler/snapshots.h"

/* A snapshot kept in the journal, as loaded, to be compared with the
 * replayed state at its entry. */
typedef struct kept {
    uint64_t seq;
    char *dump; /* NULL: it did not load (why) */
    char why[256];
} kept_t;

typedef struct verifier {
    sched_t *recorded; /* applies every entry as written */
    sched_t *derived;  /* applies all but placements, which it re-derives */
    verify_report_t *rep;
    /* placements of the current pass, as journaled and as re-derived */
    char **want, **got;
    size_t nwant, ngot, cap_want, cap_got;
    int64_t pass_time;
    bool in_pass;
    cairn_error_t *err;
    int rc;
    bool oom;     /* a list could not take a placement */
    kept_t *kept; /* ascending by seq */
    size_t nkept, next_kept;
    const sched_config_t *cfg;
} verifier_t;

/* Append s (the list takes it); without memory the verification fails
 * rather than compare incomplete lists. */
static void push(verifier_t *vf, char ***v, size_t *n, size_t *cap, char *s)
{
    if (!s || cairn_grow(v, cap, *n + 1, sizeof(**v)) < 0) {
        free(s);
        vf->oom = true;
        return;
    }
    (*v)[(*n)++] = s;
}

static void derived_cb(const sched_event_t *ev, void *arg)
{
    verifier_t *v = arg;
    push(v, &v->got, &v->ngot, &v->cap_got, sched_place_str(v->derived, ev));
}

static void clear(char **v, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free(v[i]);
    *n = 0;
}

/* A pass ended in the journal: the derived core runs its own pass at the
 * same time and must place exactly the same attempts the same way. */
static int close_pass(verifier_t *v)
{
    if (!v->in_pass)
        return 0;
    v->in_pass = false;
    v->rep->passes++;
    int n = sched_place(v->derived, v->pass_time, derived_cb, v);
    int rc = v->oom ? errcode(v->err, -ENOMEM, "verification: out of memory") : 0;
    if (rc == 0 && n < 0)
        rc = errcode(v->err, -EIO, "re-derived pass at t=%lld failed", (long long)v->pass_time);
    for (size_t i = 0; rc == 0 && i < v->nwant; i++)
        if (i >= v->ngot || strcmp(v->want[i], v->got[i]) != 0)
            rc = errcode(v->err, -EPROTO, "pass at t=%lld: journal placed '%s', re-derived '%s'",
                         (long long)v->pass_time, v->want[i], i < v->ngot ? v->got[i] : "nothing");
    if (rc == 0 && v->ngot > v->nwant)
        rc = errcode(v->err, -EPROTO, "pass at t=%lld: re-derived an extra placement '%s'",
                     (long long)v->pass_time, v->got[v->nwant]);
    clear(v->want, &v->nwant);
    clear(v->got, &v->ngot);
    return rc;
}

/* The recorded state after entry seq against the snapshot kept of it:
 * the same canonical dump. */
static int check_kept(verifier_t *v, const kept_t *k, uint64_t seq)
{
    if (k->seq != seq)
        return errcode(v->err, -EPROTO, "a snapshot covers entry %llu, which is not in the journal",
                       (unsigned long long)k->seq);
    if (!k->dump)
        return errcode(v->err, -EPROTO, "the snapshot of entry %llu is unusable: %s",
                       (unsigned long long)k->seq, k->why);
    char *d = sched_dump(v->recorded);
    int rc = !d ? errcode(v->err, -ENOMEM, "verification: out of memory")
             : strcmp(d, k->dump) != 0
                 ? errcode(v->err, -EPROTO,
                           "the snapshot of entry %llu does not load to the state replayed to it",
                           (unsigned long long)k->seq)
                 : 0;
    free(d);
    v->rep->snapshots += rc == 0;
    return rc;
}

static int entry_cb(uint64_t seq, const uint8_t *buf, size_t len, void *arg)
{
    verifier_t *v = arg;
    sched_event_t ev;
    journal_hold_t hold;
    int rc = journal_event_unpack(buf, len, &ev, &hold, NULL, v->err);
    if (rc < 0)
        return v->rc = rc;
    v->rep->entries++;
    bool place = ev.type == SCHED_EV_PLACE;
    if (!place || (v->in_pass && ev.time_ms != v->pass_time))
        rc = close_pass(v);
    if (rc == 0 && (rc = sched_apply(v->recorded, &ev, v->err)) < 0)
        snprintf(v->err->text + strlen(v->err->text), sizeof(v->err->text) - strlen(v->err->text),
                 " (entry %llu)", (unsigned long long)seq);
    if (rc == 0 && place) {
        v->rep->placements++;
        v->in_pass = true;
        v->pass_time = ev.time_ms;
        push(v, &v->want, &v->nwant, &v->cap_want, sched_place_str(v->recorded, &ev));
        if (v->oom)
            rc = errcode(v->err, -ENOMEM, "verification: out of memory");
    } else if (rc == 0 && (rc = sched_apply(v->derived, &ev, v->err)) < 0) {
        rc = -EPROTO;
    }
    journal_hold_fini(&hold);
    while (rc == 0 && v->next_kept < v->nkept && v->kept[v->next_kept].seq <= seq)
        rc = check_kept(v, &v->kept[v->next_kept++], seq);
    return v->rc = rc;
}

/* Collect each kept snapshot (newest first from the journal). */
static int kept_cb(const journal_snapshot_t *s, void *arg)
{
    verifier_t *v = arg;
    kept_t *k = realloc(v->kept, (v->nkept + 1) * sizeof(*k));
    if (!k)
        return -ENOMEM;
    v->kept = k;
    memmove(k + 1, k, v->nkept * sizeof(*k)); /* newest first: each goes in front */
    v->nkept++;
    memset(k, 0, sizeof(*k));
    k->seq = s->seq;
    sched_t *core = NULL;
    cairn_error_t why = {{0}};
    if (snapshot_open(s, v->cfg, &core, &why) < 0) {
        snprintf(k->why, sizeof(k->why), "%s", why.text);
        return 0;
    }
    k->dump = sched_dump(core);
    sched_destroy(core);
    return k->dump ? 0 : -ENOMEM;
}

/* Load the oldest kept snapshot into both cores (checked by kept_cb). */
static int start_cb(const journal_snapshot_t *s, void *arg)
{
    verifier_t *v = arg;
    if (s->seq != v->kept[0].seq)
        return 0;
    cairn_error_t why = {{0}};
    if (snapshot_open(s, v->cfg, &v->recorded, &why) < 0 ||
        snapshot_open(s, v->cfg, &v->derived, &why) < 0)
        return errcode(v->err, -EPROTO, "the snapshot of entry %llu: %s",
                       (unsigned long long)s->seq, why.text);
    return 1;
}

/* Start both cores from the oldest kept snapshot when entries before it
 * were pruned (else from empty, so every snapshot is checked against a
 * replay from the first entry). */
static int verify_start(verifier_t *v, journal_t *j, const sched_config_t *cfg, uint64_t *from,
                        cairn_error_t *err)
{
    uint64_t pruned = 0;
    int rc = journal_pruned(j, &pruned, err);
    v->cfg = cfg;
    if (rc == 0)
        rc = journal_snapshots(j, kept_cb, v, err);
    if (rc < 0)
        return rc == -ENOMEM ? errcode(err, rc, "verification: out of memory") : rc;
    *from = 0;
    if (!pruned) {
        v->recorded = sched_create(cfg);
        v->derived = sched_create(cfg);
        return v->recorded && v->derived ? 0 : errcode(err, -ENOMEM, "out of memory");
    }
    if (v->nkept == 0 || v->kept[0].seq < pruned)
        return errcode(err, -EPROTO, "entries up to %llu were pruned and no snapshot covers them",
                       (unsigned long long)pruned);
    if (!v->kept[0].dump)
        return errcode(err, -EPROTO,
                       "the oldest kept snapshot (of entry %llu), which the replay starts "
                       "from, is unusable: %s",
                       (unsigned long long)v->kept[0].seq, v->kept[0].why);
    *from = v->kept[0].seq;
    v->next_kept = 1;
    v->rep->from_seq = *from;
    v->rep->snapshots++;
    return journal_snapshots(j, start_cb, v, err);
}

int journal_verify(const char *path, FILE *out, verify_report_t *rep, cairn_error_t *err)
{
    /* the daemon's defaults */
    sched_config_t cfg = sched_daemon_core_config(NULL);
    return journal_verify_cfg(path, &cfg, out, rep, err);
}

int journal_verify_cfg(const char *path, const sched_config_t *cfg, FILE *out, verify_report_t *rep,
                       cairn_error_t *err)
{
    journal_t *j = NULL;
    memset(rep, 0, sizeof(*rep));
    int rc = journal_open(path, &j, err);
    if (rc < 0)
        return rc;
    verifier_t v = {.rep = rep, .err = err};
    uint64_t from = 0;
    rc = verify_start(&v, j, cfg, &from, err);
    if (rc > 0)
        rc = 0; /* start_cb found it */
    if (rc == 0 && from && (!v.recorded || !v.derived))
        rc = errcode(err, -EPROTO, "the snapshot of entry %llu went", (unsigned long long)from);
    if (rc == 0)
        rc = journal_replay_after(j, from, entry_cb, &v, err);
    if (rc == 0)
        rc = close_pass(&v);
    if (rc == 0 && v.next_kept < v.nkept)
        rc = errcode(err, -EPROTO, "a snapshot covers entry %llu, which is not in the journal",
                     (unsigned long long)v.kept[v.next_kept].seq);
    char *a = NULL, *b = NULL;
    if (rc == 0) {
        a = sched_dump(v.recorded);
        b = sched_dump(v.derived);
        if (!a || !b || strcmp(a, b) != 0)
            rc = errcode(err, -EPROTO, "final states differ");
        else if (out)
            fputs(a, out);
    }
    free(a);
    free(b);
    clear(v.want, &v.nwant);
    clear(v.got, &v.ngot);
    free(v.want);
    free(v.got);
    sched_destroy(v.recorded);
    sched_destroy(v.derived);
    for (size_t i = 0; i < v.nkept; i++)
        free(v.kept[i].dump);
    free(v.kept);
    journal_close(j);
    return rc;
}
