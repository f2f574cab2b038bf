/* A small JSON reader for cairn plan on libyaml: JSON is YAML's flow style,
 * so the parser the job spec uses reads traces and cluster files too (with
 * line numbers for messages). Trace files are read record by record. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cluster/plan.h"
#include "cluster/plan_private.h"

#define PJ_MAX_DEPTH 32

void pj_free(pj_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        if (p->keys)
            free(p->keys[i]);
        pj_free(p->v[i]);
    }
    free(p->keys);
    free(p->v);
    free(p->text);
    free(p);
}

const pj_t *pj_get(const pj_t *p, const char *key)
{
    if (!p || p->type != PJ_MAP)
        return NULL;
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->keys[i], key))
            return p->v[i];
    return NULL;
}

static int pj_push(pj_t *p, char *key, pj_t *child)
{
    if ((p->n & (p->n - 1)) == 0) { /* grow at powers of two */
        size_t cap = p->n ? 2 * p->n : 1;
        pj_t **v = realloc(p->v, cap * sizeof(*v));
        if (!v)
            return -1;
        p->v = v;
        if (p->type == PJ_MAP) {
            char **k = realloc(p->keys, cap * sizeof(*k));
            if (!k)
                return -1;
            p->keys = k;
        }
    }
    if (p->type == PJ_MAP)
        p->keys[p->n] = key;
    p->v[p->n++] = child;
    return 0;
}

static int next_event(pj_reader_t *r, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&r->parser, ev)) {
        snprintf(r->error, sizeof(r->error), "%zu: %s", r->parser.problem_mark.line + 1,
                 r->parser.problem ? r->parser.problem : "malformed JSON");
        return -1;
    }
    return 0;
}

/* Build the value that starts with ev (consumed). */
static pj_t *build(pj_reader_t *r, yaml_event_t *ev, int depth)
{
    pj_t *p = calloc(1, sizeof(*p));
    if (!p) {
        yaml_event_delete(ev);
        snprintf(r->error, sizeof(r->error), "out of memory");
        return NULL;
    }
    p->line = ev->start_mark.line + 1;
    if (depth > PJ_MAX_DEPTH) {
        snprintf(r->error, sizeof(r->error), "%zu: nested too deeply", p->line);
        goto error;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        p->type = PJ_SCALAR;
        p->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                    ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        p->text = strdup((const char *)ev->data.scalar.value);
        yaml_event_delete(ev);
        if (!p->text)
            goto error;
        return p;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool map = ev->type == YAML_MAPPING_START_EVENT;
        p->type = map ? PJ_MAP : PJ_SEQ;
        yaml_event_delete(ev);
        for (;;) {
            yaml_event_t e;
            if (next_event(r, &e) < 0)
                goto error;
            if (e.type == YAML_SEQUENCE_END_EVENT || e.type == YAML_MAPPING_END_EVENT) {
                yaml_event_delete(&e);
                return p;
            }
            char *key = NULL;
            if (map) {
                if (e.type != YAML_SCALAR_EVENT) {
                    snprintf(r->error, sizeof(r->error), "%zu: a key must be a string",
                             e.start_mark.line + 1);
                    yaml_event_delete(&e);
                    goto error;
                }
                key = strdup((const char *)e.data.scalar.value);
                yaml_event_delete(&e);
                if (!key || next_event(r, &e) < 0) {
                    free(key);
                    goto error;
                }
            }
            pj_t *child = build(r, &e, depth + 1);
            if (!child || pj_push(p, key, child) < 0) {
                free(key);
                pj_free(child);
                goto error;
            }
        }
    }
    default:
        snprintf(r->error, sizeof(r->error), "%zu: unexpected %s", p->line,
                 ev->type == YAML_ALIAS_EVENT ? "alias" : "content");
        yaml_event_delete(ev);
        goto error;
    }
error:
    if (!r->error[0])
        snprintf(r->error, sizeof(r->error), "out of memory");
    pj_free(p);
    return NULL;
}

int pj_open(pj_reader_t *r, const char *path)
{
    memset(r, 0, sizeof(*r));
    r->f = fopen(path, "rb");
    if (!r->f) {
        snprintf(r->error, sizeof(r->error), "%s", strerror(errno));
        return -1;
    }
    if (!yaml_parser_initialize(&r->parser)) {
        fclose(r->f);
        r->f = NULL;
        snprintf(r->error, sizeof(r->error), "out of memory");
        return -1;
    }
    yaml_parser_set_input_file(&r->parser, r->f);
    r->open = true;
    return 0;
}

void pj_close(pj_reader_t *r)
{
    if (r->open)
        yaml_parser_delete(&r->parser);
    if (r->f)
        fclose(r->f);
    r->open = false;
    r->f = NULL;
}

/* Skip stream and document starts; the first event of the content. */
static int first_content(pj_reader_t *r, yaml_event_t *ev)
{
    for (;;) {
        if (next_event(r, ev) < 0)
            return -1;
        if (ev->type != YAML_STREAM_START_EVENT && ev->type != YAML_DOCUMENT_START_EVENT)
            return 0;
        yaml_event_delete(ev);
    }
}

pj_t *pj_read_all(pj_reader_t *r)
{
    yaml_event_t ev;
    if (first_content(r, &ev) < 0)
        return NULL;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        snprintf(r->error, sizeof(r->error), "1: empty file");
        return NULL;
    }
    return build(r, &ev, 0);
}

int pj_each(pj_reader_t *r, const char *list_key, int (*fn)(const pj_t *item, void *arg), void *arg)
{
    yaml_event_t ev;
    if (first_content(r, &ev) < 0)
        return -1;
    if (ev.type == YAML_MAPPING_START_EVENT) {
        /* {"records": [...]}: skip other members */
        yaml_event_delete(&ev);
        for (;;) {
            if (next_event(r, &ev) < 0)
                return -1;
            if (ev.type != YAML_SCALAR_EVENT) {
                snprintf(r->error, sizeof(r->error), "%zu: no \"%s\" list", ev.start_mark.line + 1,
                         list_key);
                yaml_event_delete(&ev);
                return -1;
            }
            bool want = !strcmp((const char *)ev.data.scalar.value, list_key);
            yaml_event_delete(&ev);
            if (next_event(r, &ev) < 0)
                return -1;
            if (want)
                break;
            pj_free(build(r, &ev, 0));
            if (r->error[0])
                return -1;
        }
    }
    if (ev.type != YAML_SEQUENCE_START_EVENT) {
        snprintf(r->error, sizeof(r->error), "%zu: expected a list of records",
                 ev.start_mark.line + 1);
        yaml_event_delete(&ev);
        return -1;
    }
    yaml_event_delete(&ev);
    for (;;) {
        if (next_event(r, &ev) < 0)
            return -1;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        pj_t *item = build(r, &ev, 1);
        if (!item)
            return -1;
        int rc = fn(item, arg);
        pj_free(item);
        if (rc < 0)
            return -1;
    }
}
