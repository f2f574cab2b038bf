/* Reading the spec's YAML nodes against the schema: typed scalars
 * (strings, integers, sizes, durations, booleans), lists of strings, maps
 * of strings, and unknown or repeated keys. Each problem is reported at
 * the node's position (spec_error). */
#include "cluster/spec_private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

yaml_node_t *spec_node_at(spec_ctx_t *c, int id)
{
    return yaml_document_get_node(c->doc, id);
}

const char *spec_kind_name(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE    ? "a mapping"
           : n->type == YAML_SEQUENCE_NODE ? "a list"
                                           : "a scalar";
}

const char *spec_scalar(spec_ctx_t *c, yaml_node_t *n, const char *what)
{
    if (n->type != YAML_SCALAR_NODE) {
        spec_error(c, n->start_mark, "expected %s, found %s", what, spec_kind_name(n));
        return NULL;
    }
    const char *s = (const char *)n->data.scalar.value;
    if (strlen(s) != n->data.scalar.length) {
        spec_error(c, n->start_mark, "string contains a NUL character");
        return NULL;
    }
    if (n->data.scalar.length > SPEC_MAX_STRING) {
        spec_error(c, n->start_mark, "string too long (%zu bytes, at most %u)",
                   n->data.scalar.length, SPEC_MAX_STRING);
        return NULL;
    }
    return s;
}

bool spec_is_null(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (n->data.scalar.length == 0 || strcmp((char *)n->data.scalar.value, "~") == 0 ||
            strcmp((char *)n->data.scalar.value, "null") == 0);
}

int spec_get_string(spec_ctx_t *c, yaml_node_t *n, char **out)
{
    const char *s = spec_scalar(c, n, "a string");
    if (!s)
        return -1;
    char *d = spec_strdup(c, n->start_mark, s);
    if (!d)
        return -1;
    free(*out);
    *out = d;
    return 0;
}

int spec_get_int(spec_ctx_t *c, yaml_node_t *n, long long min, long long max, long long *out)
{
    const char *s = spec_scalar(c, n, "an integer");
    if (!s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end || errno || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        spec_error(c, n->start_mark, "expected an integer, found '%s'", s);
        return -1;
    }
    if (v < min || v > max) {
        spec_error(c, n->start_mark, "%lld is out of range (%lld..%lld)", v, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int spec_get_size(spec_ctx_t *c, yaml_node_t *n, uint64_t *out)
{
    const char *s = spec_scalar(c, n, "a size");
    if (s && spec_parse_size(s, out) == 0)
        return 0;
    if (s)
        spec_error(c, n->start_mark, "bad size '%s' (expected e.g. 512M, 1.5G, 64Gi)", s);
    return -1;
}

int spec_get_duration(spec_ctx_t *c, yaml_node_t *n, uint64_t *out)
{
    const char *s = spec_scalar(c, n, "a duration");
    if (s && spec_parse_duration(s, out) == 0)
        return 0;
    if (s)
        spec_error(c, n->start_mark, "bad duration '%s' (expected e.g. 500ms, 5s, 2m, 1h30m)", s);
    return -1;
}

int spec_get_strv(spec_ctx_t *c, yaml_node_t *n, spec_strv_t *v, bool subst)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        spec_error(c, n->start_mark, "expected a list, found %s", spec_kind_name(n));
        return -1;
    }
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (cnt > SPEC_MAX_ITEMS) {
        spec_error(c, n->start_mark, "too many items (%zu, at most %u)", cnt, SPEC_MAX_ITEMS);
        return -1;
    }
    spec_strv_free(v);
    v->v = calloc(cnt + 1, sizeof(*v->v));
    v->marks = calloc(cnt + 1, sizeof(*v->marks));
    if (!v->v || !v->marks)
        return c->oom = true, -1;
    int rc = 0;
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *it = spec_node_at(c, n->data.sequence.items.start[i]);
        const char *s = spec_scalar(c, it, "a string");
        char *d = s ? spec_strdup(c, it->start_mark, s) : NULL;
        if (!d) {
            rc = -1;
            continue;
        }
        if (subst)
            spec_check_subst(c, it->start_mark, d);
        v->marks[v->n] = it->start_mark;
        v->v[v->n++] = d;
    }
    return rc;
}

int spec_check_keys(spec_ctx_t *c, yaml_node_t *n, const char *const *keys, size_t nkeys,
                    const char *what)
{
    if (n->type != YAML_MAPPING_NODE) {
        spec_error(c, n->start_mark, "expected a mapping, found %s", spec_kind_name(n));
        return -1;
    }
    size_t cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (cnt > SPEC_MAX_ITEMS) {
        spec_error(c, n->start_mark, "too many keys (%zu, at most %u)", cnt, SPEC_MAX_ITEMS);
        return -1;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = spec_node_at(c, p->key);
        const char *s = spec_scalar(c, k, "a key");
        if (!s)
            continue;
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *k2 = spec_node_at(c, q->key);
            if (k2->type == YAML_SCALAR_NODE && strcmp((char *)k2->data.scalar.value, s) == 0) {
                spec_error(c, k->start_mark, "duplicate key '%s' (first at line %zu)", s,
                           k2->start_mark.line + 1);
                break;
            }
        }
        if (!keys)
            continue;
        bool known = false;
        for (size_t i = 0; i < nkeys && !known; i++)
            known = strcmp(keys[i], s) == 0;
        if (known)
            continue;
        const char *hint = spec_suggest(s, keys, nkeys);
        if (hint)
            spec_error(c, k->start_mark, "unknown key '%s' in %s (did you mean '%s'?)", s, what,
                       hint);
        else
            spec_error(c, k->start_mark, "unknown key '%s' in %s", s, what);
    }
    return 0;
}

yaml_node_t *spec_lookup(spec_ctx_t *c, yaml_node_t *n, const char *key)
{
    if (n->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = spec_node_at(c, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
            return spec_node_at(c, p->value);
    }
    return NULL;
}

void spec_get_kv(spec_ctx_t *c, yaml_node_t *n, spec_kv_t *kv, bool subst, const char *what)
{
    if (spec_check_keys(c, n, NULL, 0, "") < 0)
        return;
    FOR_PAIRS(c, n, key, val)
    {
        const char *v = spec_scalar(c, val, "a string");
        if (k_->type != YAML_SCALAR_NODE)
            continue; /* reported */
        if (!*key) {
            spec_error(c, k_->start_mark, "%s name is empty", what);
            continue;
        }
        if (strchr(key, '=')) {
            spec_error(c, k_->start_mark, "%s name '%s' contains '='", what, key);
            continue;
        }
        if (!v)
            continue;
        if (subst)
            spec_check_subst(c, val->start_mark, v);
        char *kd = spec_strdup(c, k_->start_mark, key);
        char *vd = kd ? spec_strdup(c, val->start_mark, v) : NULL;
        if (!vd) {
            free(kd);
            continue;
        }
        if (spec_kv_set(kv, kd, vd, spec_pos(k_->start_mark)) < 0)
            c->oom = true;
    }
}

int spec_get_bool(spec_ctx_t *c, yaml_node_t *n, const char *key, bool *out)
{
    char *s = NULL;
    int rc = -1;
    if (spec_get_string(c, n, &s) == 0) {
        if (!strcmp(s, "true") || !strcmp(s, "yes"))
            *out = true, rc = 0;
        else if (!strcmp(s, "false") || !strcmp(s, "no"))
            *out = false, rc = 0;
        else
            spec_error(c, n->start_mark, "%s: expected true or false, found '%s'", key, s);
    }
    free(s);
    return rc;
}

int spec_get_gpu_memory(spec_ctx_t *c, yaml_node_t *n, uint64_t *out)
{
    const char *s = spec_scalar(c, n, "a size");
    if (s && spec_parse_gpu_memory(s, out) == 0)
        return 0;
    if (s)
        spec_error(c, n->start_mark, "bad size '%s' (expected e.g. 24G, 80GB, 79.6Gi)", s);
    return -1;
}
