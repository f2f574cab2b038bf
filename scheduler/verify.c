/* Replay verification of a journal; see verify.h. */
#include "scheduler/verify.h"
#include "scheduler/daemon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/grow.h"
#include "scheduler/journal.h"
#include "scheduler/journal_pack.h"

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
    bool oom; /* a list could not take a placement */
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
    return v->rc = rc;
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
    verifier_t v = {
        .recorded = sched_create(cfg), .derived = sched_create(cfg), .rep = rep, .err = err};
    rc = v.recorded && v.derived ? journal_replay(j, entry_cb, &v, err) : -ENOMEM;
    if (rc == 0)
        rc = close_pass(&v);
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
    journal_close(j);
    return rc;
}
