/* The attempts an executor knows: its table, sorted by attempt id (one
 * replica per node, so the id alone names an attempt here), and an
 * attempt's memory, freed when its last handle has closed. Starting and
 * ending attempts (exec_start.c, exec_end.c) go through here; nothing here
 * calls them. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/grow.h"
#include "common/search.h"
#include "worker/exec_private.h"

/* ---- the attempt table -------------------------------------------------- */

/* The key of an element of the table (an exec_attempt_t *): its id. */
static uint64_t att_key(const void *elem)
{
    return (*(exec_attempt_t *const *)elem)->id;
}

static size_t lower_bound(const worker_exec_t *x, uint64_t id)
{
    return cairn_lower_bound(x->att, x->natt, sizeof(*x->att), id, att_key);
}

exec_attempt_t *exec_find(const worker_exec_t *x, uint64_t id)
{
    exec_attempt_t **a = cairn_find_sorted(x->att, x->natt, sizeof(*x->att), id, att_key);
    return a ? *a : NULL;
}

static int table_insert(worker_exec_t *x, exec_attempt_t *a)
{
    size_t i = lower_bound(x, a->id);
    if (CAIRN_GROW(x->att, x->capatt, x->natt + 1) < 0)
        return -ENOMEM;
    memmove(x->att + i + 1, x->att + i, (x->natt - i) * sizeof(*x->att));
    x->att[i] = a;
    x->natt++;
    return 0;
}

void exec_attempt_remove(worker_exec_t *x, exec_attempt_t *a)
{
    size_t i = lower_bound(x, a->id);
    if (i < x->natt && x->att[i] == a) {
        memmove(x->att + i, x->att + i + 1, (x->natt - i - 1) * sizeof(*x->att));
        x->natt--;
    }
}

/* ---- an attempt's memory ------------------------------------------------ */

void exec_launch_free(exec_spawner_t *s, exec_prepared_t *p)
{
    if (p && exec_spawn_settled(&p->child))
        exec_prep_free(s, p);
}

static void attempt_free(exec_attempt_t *a)
{
    exec_launch_free(NULL, a->launch);
    exec_cgroup_give(NULL, a->cg); /* given back when it ended: here only at destroy */
    free(a->task_name);
    free(a->retry_log);
    free(a->members);
    free(a);
}

static void handle_closed_cb(uv_handle_t *h)
{
    exec_attempt_t *a = h->data;
    if (--a->open_handles == 0)
        attempt_free(a);
}

static void close_handle(exec_attempt_t *a, uv_handle_t *h)
{
    if (h->data == a && !uv_is_closing(h))
        uv_close(h, handle_closed_cb);
}

void exec_attempt_destroy(exec_attempt_t *a)
{
    close_handle(a, (uv_handle_t *)&a->timer);
}

static exec_attempt_t *attempt_new(worker_exec_t *x, const exec_prepared_t *p)
{
    exec_attempt_t *a = calloc(1, sizeof(*a));
    if (!a || !(a->task_name = strdup(p->task_name))) {
        free(a);
        return NULL;
    }
    a->x = x;
    a->id = p->attempt_id;
    a->job_id = p->job_id;
    a->rank = p->rank;
    a->time_limit_ms = p->time_limit_ms;
    a->grace_ms = p->grace_ms;
    a->ckpt_signal = p->ckpt_signal;
    a->sbl_ms = p->sbl_ms;
    if (p->retry_log && !(a->retry_log = strdup(p->retry_log))) {
        free(a->task_name);
        free(a);
        return NULL;
    }
    a->memory_limit = p->memory_limit;
    a->gpu_mask = p->gpu_mask;
    a->res.attempt_id = p->attempt_id;
    a->res.rank = p->rank;
    a->res.start_ms = cairn_wall_ms();
    exec_prep_identity(p, &a->res.as);
    uv_timer_init(x->loop, &a->timer);
    a->timer.data = a;
    a->open_handles = 1;
    return a;
}

int exec_attempt_add(worker_exec_t *x, const exec_prepared_t *p, exec_attempt_t **out,
                     cairn_error_t *err)
{
    if (exec_find(x, p->attempt_id))
        return errcode(err, -EEXIST, "attempt %" PRIu64 " is already running", p->attempt_id);
    exec_attempt_t *a = attempt_new(x, p);
    if (!a || table_insert(x, a) < 0) {
        if (a) {
            a->x = NULL;
            exec_attempt_destroy(a);
        }
        return errcode(err, -ENOMEM, "out of memory");
    }
    *out = a;
    return 0;
}
