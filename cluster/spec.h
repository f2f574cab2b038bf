/* The job spec: a YAML file (libyaml) turned into a Cairn__JobSpec ready to
 * submit. Every problem is reported, not just the first, as
 * "file:line:column: message"; unknown keys get a "did you mean" hint. A
 * matrix expands into one task per combination ("train[C=0.1]"). */
#ifndef CAIRN_CLUSTER_SPEC_H
#define CAIRN_CLUSTER_SPEC_H

#include <stddef.h>

#include "client.pb-c.h"
#include "scheduling/error.h"

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

#endif
