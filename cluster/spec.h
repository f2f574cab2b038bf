/* The job spec: a YAML file (libyaml) turned into a Cairn__JobSpec ready to
 * submit. Every problem is reported, not just the first, as
 * "file:line:column: message"; unknown keys get a "did you mean" hint. A
 * matrix expands into one task per combination ("train[C=0.1]"). */
#ifndef CAIRN_CLUSTER_SPEC_H
#define CAIRN_CLUSTER_SPEC_H

#include <stddef.h>

#include "common/error.h"
#include "proto/client.pb-c.h"
#include "scheduling/sched.h"

/* Problems found in a spec, in file order. */
typedef struct spec_errors {
    char **lines; /* "file:line:column: message" */
    size_t n, cap;
} spec_errors_t;
void spec_errors_fini(spec_errors_t *e);

/* Parse the spec at path (display name: path). On success returns 0 and
 * *out (free with spec_free); else the number of problems (> 0, in errs) or
 * a negative code (file unreadable: message in errs too). The JobSpec
 * carries spec_text (the file as read) and spec_sha256 (its SHA-256, hex),
 * the seed when the spec gives one, and the submitter (the login name). */
int spec_load(const char *path, Cairn__JobSpec **out, spec_errors_t *errs);

/* Same, from a buffer. */
int spec_parse(const char *name, const char *text, size_t len, Cairn__JobSpec **out,
               spec_errors_t *errs);

void spec_free(Cairn__JobSpec *js);

/* Where each part of a loaded spec was written, so that problems found
 * later (the core's validation, a scheduler's refusal) point at their line
 * and column as the parser's own do. */
typedef struct spec_where spec_where_t;

/* spec_load / spec_parse that also give *where (free with
 * spec_where_free) on success; where may be NULL. */
int spec_load_at(const char *path, Cairn__JobSpec **out, spec_where_t **where, spec_errors_t *errs);
int spec_parse_at(const char *name, const char *text, size_t len, Cairn__JobSpec **out,
                  spec_where_t **where, spec_errors_t *errs);
void spec_where_free(spec_where_t *w);
/* The file name problems are reported under. */
const char *spec_where_file(const spec_where_t *w);

/* The place (1-based line and column) of problem p: the value it is about
 * as written (in the task, or in defaults: when inherited), else its task,
 * else the job. Returns 0, or -1 (line = col = 0) when p names a task or
 * an item the spec does not have. */
int spec_where_locate(const spec_where_t *w, const sched_problem_t *p, size_t *line, size_t *col);
/* Append "file:line:column: msg" (or "file: msg" where the place is not
 * known) to errs; file is w's (or name when w is NULL). -1 on ENOMEM. */
int spec_where_report(const spec_where_t *w, const char *name, const sched_problem_t *p,
                      const char *msg, spec_errors_t *errs);

#endif
