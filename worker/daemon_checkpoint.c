/* The worker daemon's checkpoint listings: the task's checkpoint
 * directory (CAIRN_CHECKPOINT_DIR) listed before an attempt runs and
 * after it ended, off the loop (outputs.h), with the rights of the user
 * it runs as and the budget of output hashing. See daemon_private.h. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "worker/assign.h"
#include "worker/daemon_private.h"

static bool list_dir(worker_daemon_t *d, daemon_attempt_t *a, const char *dir,
                     const worker_identity_t *as, worker_outputs_f cb)
{
    cairn_error_t err = {{0}};
    worker_outputs_opts_t opts = {
        .as = as, .max_bytes = d->hash_max_bytes, .timeout_ms = d->hash_timeout_ms};
    if (worker_outputs_list_start(d->loop, a->id, dir, &opts, cb, d, &a->listing, &err) == 0)
        return true;
    cairn_log(d->log, CAIRN_LOG_ERROR, "attempt %" PRIu64 ": checkpoint directory not listed: %s",
              a->id, err.text);
    return false;
}

bool daemon_ckpt_list_start(worker_daemon_t *d, daemon_attempt_t *a, const Cairn__AssignTask *m,
                            worker_outputs_f cb)
{
    if (!m->checkpoint_dir || !m->checkpoint_dir[0])
        return false;
    worker_assign_buf_t b = {0};
    cairn_error_t err = {{0}};
    worker_identity_t as;
    char dir[PATH_MAX];
    bool ok = worker_assign_spec(d->res, m, &b, &err) == 0 &&
              worker_exec_identity(d->exec, m->user, &as, &err) == 0 &&
              worker_exec_checkpoint_dir(d->exec, &b.spec, dir, sizeof(dir), &err) == 0;
    worker_assign_buf_fini(&b);
    return ok && list_dir(d, a, dir, &as, cb);
}

bool daemon_ckpt_list_end(worker_daemon_t *d, daemon_attempt_t *a, const exec_result_t *r,
                          worker_outputs_f cb)
{
    return r->checkpoint_dir[0] && !r->start_failed &&
           list_dir(d, a, r->checkpoint_dir, &r->as, cb);
}

static void list_free(worker_output_t **v, size_t *n)
{
    worker_outputs_list_free(*v, *n);
    *v = NULL;
    *n = 0;
}

int daemon_ckpt_keep(worker_daemon_t *d, uint64_t id, const worker_output_t *v, size_t n,
                     worker_output_t **out, size_t *nout)
{
    list_free(out, nout);
    if (n == 0)
        return 0;
    worker_output_t *c = calloc(n, sizeof(*c));
    size_t i = 0;
    for (; c && i < n; i++) {
        c[i] = v[i];
        if (!(c[i].path = strdup(v[i].path ? v[i].path : "")))
            break;
    }
    if (!c || i < n) {
        worker_outputs_list_free(c, i);
        cairn_log(d->log, CAIRN_LOG_ERROR,
                  "attempt %" PRIu64 ": out of memory: checkpoint listing not reported", id);
        return -ENOMEM;
    }
    *out = c;
    *nout = n;
    return 0;
}

void daemon_ckpt_to_event(const worker_output_t *v, size_t n, Cairn__TaskEvent *ev, void **mem)
{
    *mem = NULL;
    if (n == 0)
        return;
    /* one block: the pointers, then the messages */
    Cairn__OutputHash **pp = calloc(1, n * (sizeof(*pp) + sizeof(**pp)));
    if (!pp)
        return;
    Cairn__OutputHash *oh = (Cairn__OutputHash *)(pp + n);
    for (size_t i = 0; i < n; i++) {
        cairn__output_hash__init(&oh[i]);
        oh[i].path = (char *)v[i].path;
        oh[i].sha256 = (char *)v[i].sha256;
        oh[i].size = v[i].size;
        oh[i].error = (char *)v[i].error;
        oh[i].mtime_ms = v[i].mtime_ms;
        pp[i] = &oh[i];
    }
    ev->n_checkpoint = n;
    ev->checkpoint = pp;
    *mem = pp;
}

void daemon_ckpt_fini(daemon_attempt_t *a)
{
    worker_outputs_abandon(a->listing);
    a->listing = NULL;
    if (a->listed_then)
        cairn__assign_task__free_unpacked(a->listed_then, NULL);
    a->listed_then = NULL;
    list_free(&a->ckpt_start, &a->nckpt_start);
    list_free(&a->ckpt_end, &a->nckpt_end);
}
