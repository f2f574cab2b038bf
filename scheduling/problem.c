/* Validation problems: their text, and where in the spec each one is, as a
 * path clients turn back into a place (cairn points at line and column). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduling/sched_private.h"

#define MAX_LINES 1000 /* enough to read */

void problem_add(sched_problems_t *p, sched_problem_t at, const char *fmt, ...)
{
    p->count++;
    if (p->count > MAX_LINES)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t add = strlen(line) + 1;
    char *np = realloc(p->text, p->len + add + 1);
    if (!np)
        return;
    p->text = np;
    sched_problem_t *nw = realloc(p->where, (p->nwhere + 1) * sizeof(*nw));
    if (!nw)
        return;
    p->where = nw;
    if (p->len)
        p->text[p->len++] = '\n';
    memcpy(p->text + p->len, line, add);
    p->len += add - 1;
    p->where[p->nwhere++] = at;
}

void sched_problems_fini(sched_problems_t *p)
{
    if (!p)
        return;
    free(p->text);
    free(p->where);
    memset(p, 0, sizeof(*p));
}

/* Path of each field under "tasks[i]."; a trailing '[' takes the index. */
static const char *const field_path[SCHED_FIELD_COUNT] = {
    [SCHED_FIELD_JOB] = "",
    [SCHED_FIELD_TASK] = "",
    [SCHED_FIELD_NAME] = "name",
    [SCHED_FIELD_ARGV] = "argv[",
    [SCHED_FIELD_ENV] = "env[",
    [SCHED_FIELD_NEEDS] = "needs[",
    [SCHED_FIELD_CPUS] = "resources.cpus",
    [SCHED_FIELD_MEMORY] = "resources.memory",
    [SCHED_FIELD_GPUS] = "resources.gpus",
    [SCHED_FIELD_GPU_MODEL] = "resources.gpu.model",
    [SCHED_FIELD_GPU_MEMORY] = "resources.gpu.min_memory",
    [SCHED_FIELD_LABELS] = "resources.labels[",
    [SCHED_FIELD_REPLICAS] = "replicas",
    [SCHED_FIELD_PRIORITY] = "priority",
    [SCHED_FIELD_TIME_LIMIT] = "time_limit",
    [SCHED_FIELD_RETRY_ATTEMPTS] = "retry.attempts",
    [SCHED_FIELD_RETRY_BACKOFF] = "retry.backoff",
    [SCHED_FIELD_RETRY_MAX_BACKOFF] = "retry.max_backoff",
    [SCHED_FIELD_RETRY_FACTOR] = "retry.factor",
    [SCHED_FIELD_RETRY_JITTER] = "retry.jitter",
    [SCHED_FIELD_RETRY_ON] = "retry.on[",
    [SCHED_FIELD_PLACEMENT] = "placement",
};

void sched_problem_path(const sched_problem_t *p, char *buf, size_t n)
{
    if (n == 0)
        return;
    buf[0] = '\0';
    if (p->task < 0) {
        snprintf(buf, n, "%s",
                 p->field == SCHED_FIELD_NAME      ? "name"
                 : p->field == SCHED_FIELD_TASK    ? "tasks"
                 : p->field == SCHED_FIELD_ACCOUNT ? "account"
                                                   : "");
        return;
    }
    const char *f =
        (unsigned)p->field < SCHED_FIELD_COUNT && field_path[p->field] ? field_path[p->field] : "";
    size_t fl = strlen(f);
    if (fl == 0)
        snprintf(buf, n, "tasks[%lld]", (long long)p->task);
    else if (f[fl - 1] == '[')
        snprintf(buf, n, "tasks[%lld].%s%u]", (long long)p->task, f, p->index);
    else
        snprintf(buf, n, "tasks[%lld].%s", (long long)p->task, f);
}

/* A decimal number at *s (no sign, no leading blanks) ending in ']'. */
static int parse_index(const char **s, uint64_t max, uint64_t *out)
{
    const char *p = *s;
    uint64_t v = 0;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > max)
            return -1;
    }
    if (*p != ']')
        return -1;
    *s = p + 1;
    *out = v;
    return 0;
}

int sched_problem_parse(const char *path, sched_problem_t *p)
{
    memset(p, 0, sizeof(*p));
    p->task = -1;
    if (!path || !*path)
        return 0;
    if (!strcmp(path, "name") || !strcmp(path, "tasks") || !strcmp(path, "account")) {
        p->field = path[0] == 'n'   ? SCHED_FIELD_NAME
                   : path[0] == 't' ? SCHED_FIELD_TASK
                                    : SCHED_FIELD_ACCOUNT;
        return 0;
    }
    uint64_t task, index = 0;
    const char *s = path;
    if (strncmp(s, "tasks[", 6) != 0)
        return SCHED_EINVAL;
    s += 6;
    if (parse_index(&s, INT64_MAX, &task) < 0)
        return SCHED_EINVAL;
    sched_field_t field = SCHED_FIELD_TASK;
    if (*s == '.') {
        s++;
        field = SCHED_FIELD_COUNT;
        for (int f = SCHED_FIELD_NAME; f < SCHED_FIELD_COUNT; f++) {
            if (!field_path[f]) /* a field of the job only */
                continue;
            size_t fl = strlen(field_path[f]);
            if (strncmp(s, field_path[f], fl) != 0)
                continue;
            const char *rest = s + fl;
            if (field_path[f][fl - 1] == '[' && parse_index(&rest, UINT32_MAX, &index) < 0)
                continue;
            if (*rest)
                continue;
            field = (sched_field_t)f;
            s = rest;
            break;
        }
        if (field == SCHED_FIELD_COUNT)
            return SCHED_EINVAL;
    } else if (*s) {
        return SCHED_EINVAL;
    }
    p->task = (int64_t)task;
    p->field = field;
    p->index = (uint32_t)index;
    return 0;
}
