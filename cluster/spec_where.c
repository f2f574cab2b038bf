/* Where each part of a spec was written: kept from the parse, so that the
 * problems found after it (the scheduling core's validation, run by cairn
 * submit before sending, and the scheduler's refusals, which name a path
 * such as "tasks[3].resources.gpus") point at a line and column too. */
#include "cluster/spec_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/grow.h"

spec_pos_t spec_pos(yaml_mark_t m)
{
    return (spec_pos_t){.line = (uint32_t)m.line + 1, .col = (uint32_t)m.column + 1};
}

static spec_pos_t *pos_copy(const spec_pos_t *src, size_t n, bool *oom)
{
    if (!n || !src)
        return NULL;
    spec_pos_t *d = malloc(n * sizeof(*d));
    if (!d) {
        *oom = true;
        return NULL;
    }
    memcpy(d, src, n * sizeof(*d));
    return d;
}

static spec_pos_t *marks_copy(const yaml_mark_t *m, size_t n, bool *oom)
{
    if (!n || !m)
        return NULL;
    spec_pos_t *d = malloc(n * sizeof(*d));
    if (!d) {
        *oom = true;
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        d[i] = spec_pos(m[i]);
    return d;
}

int spec_where_fill(spec_where_t *w, const spec_task_t *tasks, size_t n)
{
    bool oom = false;
    w->tmpl = calloc(n ? n : 1, sizeof(*w->tmpl));
    if (!w->tmpl)
        return -1;
    w->ntmpl = n;
    for (size_t i = 0; i < n; i++) {
        const spec_task_t *t = &tasks[i];
        spec_tmpl_where_t *tw = &w->tmpl[i];
        tw->task = spec_pos(t->mark);
        memcpy(tw->at, t->o.at, sizeof(tw->at));
        tw->argv = marks_copy(t->argv.marks, tw->nargv = t->argv.n, &oom);
        tw->needs = marks_copy(t->needs.marks, tw->nneeds = t->needs.n, &oom);
        tw->env = pos_copy(t->o.env.at, tw->nenv = t->o.env.n, &oom);
        tw->labels = pos_copy(t->o.labels.at, tw->nlabels = t->o.labels.n, &oom);
        tw->exit_codes = pos_copy(t->o.exit_at, tw->nexit_codes = t->o.nexit_codes, &oom);
    }
    return oom ? -1 : 0;
}

int spec_where_need(spec_where_t *w, size_t e, uint32_t j)
{
    if (!w || e >= w->ntasks)
        return 0;
    spec_task_where_t *t = &w->task[e];
    if (CAIRN_GROW(t->need_of, t->cap, t->nneeds + 1) < 0)
        return -1;
    t->need_of[t->nneeds++] = j;
    return 0;
}

void spec_where_free(spec_where_t *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->ntmpl; i++) {
        spec_tmpl_where_t *t = &w->tmpl[i];
        free(t->argv);
        free(t->needs);
        free(t->env);
        free(t->labels);
        free(t->exit_codes);
    }
    for (size_t i = 0; i < w->ntasks && w->task; i++)
        free(w->task[i].need_of);
    free(w->tmpl);
    free(w->task);
    free(w->file);
    free(w);
}

const char *spec_where_file(const spec_where_t *w)
{
    return w->file;
}

/* Item k of a list of places, the last one past its end (a shell task's
 * "/bin/sh -c SCRIPT" is one place); unknown when there is none. */
static spec_pos_t item(const spec_pos_t *v, size_t n, size_t k)
{
    if (!v || n == 0)
        return (spec_pos_t){0};
    return v[k < n ? k : n - 1];
}

int spec_where_locate(const spec_where_t *w, const sched_problem_t *p, size_t *line, size_t *col)
{
    spec_pos_t at = {0};
    int rc = 0;
    *line = *col = 0;
    if (!w)
        return -1;
    if (p->task < 0) {
        at = p->field == SCHED_FIELD_NAME   ? w->name
             : p->field == SCHED_FIELD_TASK ? w->tasks
                                            : (spec_pos_t){1, 1};
    } else if ((uint64_t)p->task >= w->ntasks) {
        return -1;
    } else {
        const spec_task_where_t *tk = &w->task[p->task];
        const spec_tmpl_where_t *t = &w->tmpl[tk->tmpl];
        switch (p->field) {
        case SCHED_FIELD_ARGV:
            at = item(t->argv, t->nargv, p->index);
            break;
        case SCHED_FIELD_NEEDS:
            if (p->index < tk->nneeds)
                at = item(t->needs, t->nneeds, tk->need_of[p->index]);
            break;
        case SCHED_FIELD_ENV:
            at = p->index < t->nenv ? t->env[p->index] : (spec_pos_t){0};
            break;
        case SCHED_FIELD_LABELS:
            at = p->index < t->nlabels ? t->labels[p->index] : (spec_pos_t){0};
            break;
        case SCHED_FIELD_RETRY_ON:
            at = p->index < t->nexit_codes ? t->exit_codes[p->index] : t->at[p->field];
            break;
        default:
            if ((unsigned)p->field < SCHED_FIELD_COUNT)
                at = t->at[p->field];
            break;
        }
        if (!at.line)
            at = t->task;
    }
    if (!at.line) {
        at = (spec_pos_t){1, 1};
        rc = -1;
    }
    *line = at.line;
    *col = at.col;
    return rc;
}

static int errs_add(spec_errors_t *errs, char *line)
{
    if (!line)
        return -1;
    if (CAIRN_GROW(errs->lines, errs->cap, errs->n + 1) < 0) {
        free(line);
        return -1;
    }
    errs->lines[errs->n++] = line;
    return 0;
}

int spec_where_report(const spec_where_t *w, const char *name, const sched_problem_t *p,
                      const char *msg, spec_errors_t *errs)
{
    size_t line, col;
    char *s = NULL;
    const char *file = w ? w->file : name ? name : "spec";
    if (w && spec_where_locate(w, p, &line, &col) == 0)
        return errs_add(errs, asprintf(&s, "%s:%zu:%zu: %s", file, line, col, msg) < 0 ? NULL : s);
    return errs_add(errs, asprintf(&s, "%s: %s", file, msg) < 0 ? NULL : s);
}
