/* The job spec parser: libyaml's document API, walked against the schema.
 * Every problem is collected with its position; nothing is returned unless
 * the whole spec is sound. Here: the top level and the entry points; the
 * nodes' typed values are read in spec_node.c, defaults: and tasks: in
 * spec_task.c, matrix expansion and needs are in spec_expand.c. */
#include "cluster/spec_private.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/grow.h"
#include "proto/sha256.h"

/* The whole document: top-level keys, defaults, then each task. */
static void parse_root(spec_ctx_t *c, yaml_node_t *root, Cairn__JobSpec *js, spec_task_t **tasksp,
                       size_t *ntasksp)
{
    static const char *const keys[] = {"name",     "description", "seed",
                                       "defaults", "tasks",       "account"};
    if (spec_check_keys(c, root, keys, N_(keys), "the job spec") < 0)
        return;
    yaml_node_t *n = spec_lookup(c, root, "name");
    char *name = NULL;
    c->name_at = c->tasks_at = spec_pos(root->start_mark);
    if (n)
        c->name_at = spec_pos(n->start_mark);
    if (!n)
        spec_error(c, root->start_mark, "missing required key 'name'");
    else if (spec_get_string(c, n, &name) == 0) {
        if (!*name)
            spec_error(c, n->start_mark, "job name is empty");
        js->name = name;
    }
    if ((n = spec_lookup(c, root, "seed"))) {
        const char *s = spec_scalar(c, n, "an integer");
        char *end;
        errno = 0;
        unsigned long long v = s ? strtoull(s, &end, 10) : 0;
        if (s &&
            (!*s || *end || errno || *s == '-' || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE))
            spec_error(c, n->start_mark, "expected an integer seed (0..2^64-1), found '%s'", s);
        else if (s) {
            js->seed_present_case = CAIRN__JOB_SPEC__SEED_PRESENT_SEED;
            js->seed = v;
        }
    }
    /* the account to charge: its syntax here, membership by the scheduler */
    char *account = NULL;
    if ((n = spec_lookup(c, root, "account")) && spec_get_string(c, n, &account) == 0) {
        size_t len = strlen(account);
        if (!len || len > SCHED_MAX_NAME_LEN ||
            strspn(account, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
                len)
            spec_error(c, n->start_mark,
                       "account: '%.64s' is not an account name (1 to %u letters, digits, '.', "
                       "'_' and '-')",
                       account, SCHED_MAX_NAME_LEN);
        js->account = account;
    }
    spec_opts_t defaults = {.cpus = 1};
    if ((n = spec_lookup(c, root, "defaults")))
        spec_parse_defaults(c, n, &defaults);
    n = spec_lookup(c, root, "tasks");
    if (n)
        c->tasks_at = spec_pos(n->start_mark);
    if (!n) {
        spec_error(c, root->start_mark, "missing required key 'tasks'");
    } else if (n->type != YAML_SEQUENCE_NODE) {
        spec_error(c, n->start_mark, "expected a list of tasks, found %s", spec_kind_name(n));
    } else {
        size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
        if (cnt == 0)
            spec_error(c, n->start_mark, "tasks: is empty");
        else if (cnt > SPEC_MAX_TEMPLATES)
            spec_error(c, n->start_mark, "too many tasks (%zu, at most %u)", cnt,
                       SPEC_MAX_TEMPLATES);
        else if (!(*tasksp = calloc(cnt, sizeof(**tasksp))))
            c->oom = true;
        for (size_t i = 0; *tasksp && i < cnt; i++) {
            spec_parse_task(c, spec_node_at(c, n->data.sequence.items.start[i]), &defaults,
                            &(*tasksp)[i]);
            *ntasksp = i + 1;
        }
    }
    spec_opts_fini(&defaults);
}

/* libyaml's own error, at its position. Reader errors (bad UTF-8) carry a
 * byte offset only: count lines ourselves. */
static void yaml_problem(spec_ctx_t *c, const yaml_parser_t *p, const char *text)
{
    const char *what = p->problem ? p->problem : "cannot parse";
    if (p->error == YAML_READER_ERROR) {
        size_t line = 1, col = 1;
        for (size_t i = 0; i < p->problem_offset && text[i]; i++) {
            if (text[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        spec_error_at(c, line, col, "%s (byte 0x%02x)", what, (unsigned)p->problem_value & 0xff);
    } else if (p->context) {
        spec_error(c, p->problem_mark, "%s (%s at line %zu, column %zu)", what, p->context,
                   p->context_mark.line + 1, p->context_mark.column + 1);
    } else {
        spec_error(c, p->problem_mark, "%s", what);
    }
}

static void fill_meta(spec_ctx_t *c, Cairn__JobSpec *js, const char *text, size_t len)
{
    char hex[2 * CAIRN_SHA256_LEN + 1];
    cairn_sha256_hex(text, len, hex);
    js->spec_sha256 = strdup(hex);
    js->spec_text = malloc(len + 1);
    if (js->spec_text) {
        memcpy(js->spec_text, text, len);
        js->spec_text[len] = '\0';
    }
    const struct passwd *pw = getpwuid(getuid());
    const char *user = pw && pw->pw_name ? pw->pw_name : getenv("USER");
    js->submitter = strdup(user ? user : "");
    if (!js->spec_sha256 || !js->spec_text || !js->submitter)
        c->oom = true;
}

/* A spec is one document: a second one is an error, not ignored. */
static void more_documents(spec_ctx_t *c, yaml_parser_t *p, const char *text)
{
    yaml_document_t doc;
    if (!yaml_parser_load(p, &doc)) {
        yaml_problem(c, p, text);
        return;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root)
        spec_error(c, doc.start_mark, "more than one YAML document (one spec per file)");
    yaml_document_delete(&doc);
}

/* libyaml's scanner takes time quadratic in the nesting depth (200,000
 * '[' take a minute), so a first pass over the events refuses a spec nested
 * deeper than any real one, before the document is loaded. Returns true
 * when it did (reported); YAML errors are left to the load. */
static bool too_deep(spec_ctx_t *c, const char *text, size_t len)
{
    yaml_parser_t p;
    yaml_event_t ev;
    size_t depth = 0;
    bool deep = false, done = false;
    if (!yaml_parser_initialize(&p))
        return false;
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (!done && !deep && yaml_parser_parse(&p, &ev)) {
        if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
            if (++depth > SPEC_MAX_DEPTH) {
                spec_error(c, ev.start_mark, "nested deeper than %u levels", SPEC_MAX_DEPTH);
                deep = true;
            }
        } else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return deep;
}

static Cairn__JobSpec *job_new(void)
{
    Cairn__JobSpec *js = malloc(sizeof(*js));
    if (js)
        cairn__job_spec__init(js);
    return js;
}

/* The places kept for spec_where_locate(): the templates' own, the
 * expanded tasks' filled by spec_expand. */
static spec_where_t *where_new(spec_ctx_t *c, const char *name, const spec_task_t *tasks, size_t n)
{
    spec_where_t *w = calloc(1, sizeof(*w));
    if (!w || !(w->file = strdup(name)) || spec_where_fill(w, tasks, n) < 0) {
        spec_where_free(w);
        c->oom = true;
        return NULL;
    }
    w->name = c->name_at;
    w->tasks = c->tasks_at;
    return w;
}

int spec_parse_at(const char *name, const char *text, size_t len, Cairn__JobSpec **out,
                  spec_where_t **wherep, spec_errors_t *errs)
{
    spec_ctx_t c = {.file = name ? name : "spec"};
    yaml_parser_t parser;
    yaml_document_t doc;
    Cairn__JobSpec *js = NULL;
    spec_task_t *tasks = NULL;
    spec_where_t *where = NULL;
    size_t ntasks = 0;
    *out = NULL;
    if (wherep)
        *wherep = NULL;
    if (len > SPEC_MAX_FILE) {
        spec_error_at(&c, 1, 1, "spec file too large (%zu bytes, at most %u)", len, SPEC_MAX_FILE);
        return spec_diags_flush(&c, errs);
    }
    if (too_deep(&c, text, len))
        return spec_diags_flush(&c, errs);
    if (!yaml_parser_initialize(&parser))
        return -ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_problem(&c, &parser, text);
        yaml_parser_delete(&parser);
        return spec_diags_flush(&c, errs);
    }
    c.doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!(js = job_new())) {
        c.oom = true;
    } else if (!root || spec_is_null(root)) {
        spec_error_at(&c, 1, 1, "the spec is empty");
    } else {
        parse_root(&c, root, js, &tasks, &ntasks);
        if (c.ndiag == 0 && !c.oom)
            fill_meta(&c, js, text, len);
        if (wherep && c.ndiag == 0 && !c.oom)
            where = where_new(&c, c.file, tasks, ntasks);
        if (ntasks)
            spec_expand(&c, tasks, ntasks, js, where);
    }
    for (size_t i = 0; i < ntasks; i++)
        spec_task_fini(&tasks[i]);
    free(tasks);
    yaml_document_delete(&doc);
    more_documents(&c, &parser, text);
    yaml_parser_delete(&parser);
    if (c.oom || c.ndiag) {
        spec_free(js);
        spec_where_free(where);
        if (c.ndiag)
            return spec_diags_flush(&c, errs);
        spec_diags_free(&c);
        return -ENOMEM;
    }
    *out = js;
    if (wherep)
        *wherep = where;
    return 0;
}

int spec_parse(const char *name, const char *text, size_t len, Cairn__JobSpec **out,
               spec_errors_t *errs)
{
    return spec_parse_at(name, text, len, out, NULL, errs);
}

int spec_load(const char *path, Cairn__JobSpec **out, spec_errors_t *errs)
{
    return spec_load_at(path, out, NULL, errs);
}

int spec_load_at(const char *path, Cairn__JobSpec **out, spec_where_t **where, spec_errors_t *errs)
{
    spec_ctx_t c = {.file = path};
    *out = NULL;
    if (where)
        *where = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        spec_error_at(&c, 0, 0, "cannot read: %s", strerror(e));
        spec_diags_flush(&c, errs);
        return -e;
    }
    size_t cap = 0, len = 0;
    char *buf = NULL;
    int rc = 0;
    for (;;) {
        if (len == cap && cap > SPEC_MAX_FILE) {
            rc = -EFBIG;
            break;
        }
        if (len == cap && CAIRN_GROW(buf, cap, len + 4096) < 0) {
            rc = -ENOMEM;
            break;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                rc = errno ? -errno : -EIO;
            break;
        }
    }
    fclose(f);
    if (rc < 0) {
        free(buf);
        spec_error_at(&c, 0, 0, "cannot read: %s", rc == -EFBIG ? "file too large" : strerror(-rc));
        spec_diags_flush(&c, errs);
        return rc;
    }
    rc = spec_parse_at(path, buf, len, out, where, errs);
    free(buf);
    return rc;
}

void spec_free(Cairn__JobSpec *js)
{
    if (js)
        cairn__job_spec__free_unpacked(js, NULL);
}
