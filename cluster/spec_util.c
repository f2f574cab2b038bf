/* Spec diagnostics, budgeted copies, sizes, durations and small containers. */
#include "cluster/spec_private.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/grow.h"

static void diag_vadd(spec_ctx_t *c, size_t line, size_t col, const char *fmt, va_list ap)
{
    if (c->ndiag >= SPEC_MAX_ERRORS)
        return;
    if (CAIRN_GROW(c->diags, c->cap, c->ndiag + 1) < 0) {
        c->oom = true;
        return;
    }
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    spec_diag_t *d = &c->diags[c->ndiag];
    if (c->ndiag == SPEC_MAX_ERRORS - 1)
        snprintf(msg, sizeof(msg), "too many errors, giving up");
    int rc = line ? asprintf(&d->text, "%s:%zu:%zu: %s", c->file, line, col, msg)
                  : asprintf(&d->text, "%s: %s", c->file, msg);
    if (rc < 0) {
        c->oom = true;
        return;
    }
    d->line = line;
    d->col = col;
    d->seq = c->seq++;
    c->ndiag++;
}

void spec_error(spec_ctx_t *c, yaml_mark_t m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(c, m.line + 1, m.column + 1, fmt, ap);
    va_end(ap);
}

void spec_error_at(spec_ctx_t *c, size_t line, size_t col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(c, line, col, fmt, ap);
    va_end(ap);
}

static int diag_cmp(const void *a, const void *b)
{
    const spec_diag_t *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int spec_diags_flush(spec_ctx_t *c, spec_errors_t *errs)
{
    /* "too many errors" stays last whatever its position. */
    size_t nsort = c->ndiag == SPEC_MAX_ERRORS ? c->ndiag - 1 : c->ndiag;
    qsort(c->diags, nsort, sizeof(*c->diags), diag_cmp);
    int n = (int)c->ndiag;
    for (size_t i = 0; i < c->ndiag; i++) {
        if (errs && CAIRN_GROW(errs->lines, errs->cap, errs->n + 1) == 0) {
            errs->lines[errs->n++] = c->diags[i].text;
            c->diags[i].text = NULL;
        }
    }
    spec_diags_free(c);
    return n;
}

void spec_diags_free(spec_ctx_t *c)
{
    for (size_t i = 0; i < c->ndiag; i++)
        free(c->diags[i].text);
    free(c->diags);
    c->diags = NULL;
    c->ndiag = c->cap = 0;
}

void spec_errors_fini(spec_errors_t *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n; i++)
        free(e->lines[i]);
    free(e->lines);
    e->lines = NULL;
    e->n = e->cap = 0;
}

bool spec_charge(spec_ctx_t *c, yaml_mark_t m, size_t n)
{
    if (c->over_budget)
        return false;
    if (n > SPEC_MAX_BYTES || c->bytes > SPEC_MAX_BYTES - n) {
        c->over_budget = true;
        spec_error(c, m, "spec too large: more than %u MiB of strings after matrix expansion",
                   SPEC_MAX_BYTES >> 20);
        return false;
    }
    c->bytes += n;
    return true;
}

char *spec_strndup(spec_ctx_t *c, yaml_mark_t m, const char *s, size_t n)
{
    if (!spec_charge(c, m, n + 1))
        return NULL;
    char *d = strndup(s, n);
    if (!d)
        c->oom = true;
    return d;
}

char *spec_strdup(spec_ctx_t *c, yaml_mark_t m, const char *s)
{
    return spec_strndup(c, m, s, strlen(s));
}

size_t spec_levenshtein(const char *a, const char *b, size_t max)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64 || (la > lb ? la - lb : lb - la) > max)
        return max + 1;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb] > max ? max + 1 : row[lb];
}

const char *spec_suggest(const char *s, const char *const *words, size_t n)
{
    const char *best = NULL;
    size_t bd = 3;
    for (size_t i = 0; i < n; i++) {
        size_t d = spec_levenshtein(s, words[i], 2);
        if (d < bd) {
            bd = d;
            best = words[i];
        }
    }
    return best;
}

/* A decimal "12.345" as digits and a count of fraction digits (at most 9). */
static const char *parse_decimal(const char *s, uint64_t *mant, unsigned *frac)
{
    uint64_t v = 0;
    unsigned f = 0, nd = 0;
    bool dot = false;
    for (; *s; s++) {
        if (*s == '.' && !dot) {
            dot = true;
            continue;
        }
        if (!isdigit((unsigned char)*s))
            break;
        nd++;
        if (dot && f == 9)
            continue; /* finer than 1e-9: dropped */
        if (v > (UINT64_MAX - 9) / 10)
            return NULL;
        v = v * 10 + (uint64_t)(*s - '0');
        f += dot;
    }
    if (nd == 0)
        return NULL;
    *mant = v;
    *frac = f;
    return s;
}

/* mant / 10^frac * mult, -1 on overflow. */
static int scale(uint64_t mant, unsigned frac, uint64_t mult, uint64_t *out)
{
    uint64_t p10 = 1;
    for (unsigned i = 0; i < frac; i++)
        p10 *= 10;
    unsigned __int128 v = (unsigned __int128)mant * mult / p10;
    if (v > UINT64_MAX)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

typedef struct size_unit {
    const char *suffix;
    uint64_t mult;
} size_unit_t;

static int parse_size_units(const char *s, const size_unit_t *units, size_t n, uint64_t *out)
{
    uint64_t mant;
    unsigned frac;
    const char *end = parse_decimal(s, &mant, &frac);
    if (!end)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(end, units[i].suffix) == 0)
            return scale(mant, frac, units[i].mult, out);
    return -1;
}

int spec_parse_size(const char *s, uint64_t *out)
{
    static const size_unit_t units[] = {
        {"", 1},
        {"B", 1},
        {"K", 1ull << 10},
        {"Ki", 1ull << 10},
        {"KB", 1ull << 10},
        {"KiB", 1ull << 10},
        {"k", 1ull << 10},
        {"M", 1ull << 20},
        {"Mi", 1ull << 20},
        {"MB", 1ull << 20},
        {"MiB", 1ull << 20},
        {"G", 1ull << 30},
        {"Gi", 1ull << 30},
        {"GB", 1ull << 30},
        {"GiB", 1ull << 30},
        {"T", 1ull << 40},
        {"Ti", 1ull << 40},
        {"TB", 1ull << 40},
        {"TiB", 1ull << 40},
        {"P", 1ull << 50},
        {"Pi", 1ull << 50},
        {"PB", 1ull << 50},
        {"PiB", 1ull << 50},
    };
    return parse_size_units(s, units, sizeof(units) / sizeof(units[0]), out);
}

int spec_parse_gpu_memory(const char *s, uint64_t *out)
{
    static const size_unit_t units[] = {
        {"", 1},
        {"B", 1},
        {"K", 1000ull},
        {"k", 1000ull},
        {"KB", 1000ull},
        {"Ki", 1ull << 10},
        {"KiB", 1ull << 10},
        {"M", 1000000ull},
        {"MB", 1000000ull},
        {"Mi", 1ull << 20},
        {"MiB", 1ull << 20},
        {"G", 1000000000ull},
        {"GB", 1000000000ull},
        {"Gi", 1ull << 30},
        {"GiB", 1ull << 30},
        {"T", 1000000000000ull},
        {"TB", 1000000000000ull},
        {"Ti", 1ull << 40},
        {"TiB", 1ull << 40},
        {"P", 1000000000000000ull},
        {"PB", 1000000000000000ull},
        {"Pi", 1ull << 50},
        {"PiB", 1ull << 50},
    };
    return parse_size_units(s, units, sizeof(units) / sizeof(units[0]), out);
}

int spec_parse_duration(const char *s, uint64_t *out_ms)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    uint64_t total = 0;
    bool any = false;
    while (*s) {
        uint64_t mant, v;
        unsigned frac;
        const char *end = parse_decimal(s, &mant, &frac);
        if (!end)
            return -1;
        size_t ul = 0;
        while (isalpha((unsigned char)end[ul]))
            ul++;
        uint64_t mult = 0;
        if (ul == 0 && !any && *end == '\0')
            mult = 1000; /* a plain number: seconds */
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && ul; i++)
            if (strlen(units[i].unit) == ul && strncmp(end, units[i].unit, ul) == 0)
                mult = units[i].ms;
        if (mult == 0 || scale(mant, frac, mult, &v) < 0 || total > UINT64_MAX - v)
            return -1;
        total += v;
        any = true;
        s = end + ul;
    }
    if (!any)
        return -1;
    *out_ms = total;
    return 0;
}

int spec_parse_milli(const char *s, uint32_t *out)
{
    uint64_t mant, v;
    unsigned frac;
    const char *end = parse_decimal(s, &mant, &frac);
    if (!end || *end || scale(mant, frac, 1000, &v) < 0 || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

void spec_strv_free(spec_strv_t *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i]);
    free(v->v);
    free(v->marks);
    memset(v, 0, sizeof(*v));
}

void spec_kv_free(spec_kv_t *kv)
{
    for (size_t i = 0; i < kv->n; i++) {
        free(kv->keys[i]);
        free(kv->vals[i]);
    }
    free(kv->keys);
    free(kv->vals);
    free(kv->at);
    memset(kv, 0, sizeof(*kv));
}

int spec_kv_set(spec_kv_t *kv, char *key, char *val, spec_pos_t at)
{
    for (size_t i = 0; i < kv->n; i++) {
        if (strcmp(kv->keys[i], key) == 0) {
            free(key);
            free(kv->vals[i]);
            kv->vals[i] = val;
            kv->at[i] = at;
            return 0;
        }
    }
    char **k = realloc(kv->keys, (kv->n + 1) * sizeof(*k));
    if (k)
        kv->keys = k;
    char **v = k ? realloc(kv->vals, (kv->n + 1) * sizeof(*v)) : NULL;
    if (v)
        kv->vals = v;
    spec_pos_t *a = v ? realloc(kv->at, (kv->n + 1) * sizeof(*a)) : NULL;
    if (a)
        kv->at = a;
    if (!k || !v || !a) {
        free(key);
        free(val);
        return -1;
    }
    kv->keys[kv->n] = key;
    kv->at[kv->n] = at;
    kv->vals[kv->n++] = val;
    return 0;
}

void spec_opts_fini(spec_opts_t *o)
{
    free(o->gpu_model);
    free(o->mig);
    free(o->workdir);
    free(o->ckpt_dir);
    free(o->on_log);
    free(o->exit_codes);
    free(o->exit_at);
    spec_kv_free(&o->labels);
    spec_kv_free(&o->env);
    memset(o, 0, sizeof(*o));
}

static int kv_copy(spec_ctx_t *c, spec_kv_t *dst, const spec_kv_t *src)
{
    yaml_mark_t m = {0};
    for (size_t i = 0; i < src->n; i++) {
        char *k = spec_strdup(c, m, src->keys[i]);
        char *v = k ? spec_strdup(c, m, src->vals[i]) : NULL;
        if (!v) {
            free(k);
            return -1;
        }
        if (spec_kv_set(dst, k, v, src->at[i]) < 0)
            return -1;
    }
    return 0;
}

int spec_opts_copy(spec_ctx_t *c, spec_opts_t *dst, const spec_opts_t *src)
{
    yaml_mark_t m = {0};
    *dst = *src;
    dst->gpu_model = dst->mig = dst->workdir = dst->ckpt_dir = dst->on_log = NULL;
    dst->exit_codes = NULL;
    dst->exit_at = NULL;
    memset(&dst->labels, 0, sizeof(dst->labels));
    memset(&dst->env, 0, sizeof(dst->env));
    if (src->gpu_model && !(dst->gpu_model = spec_strdup(c, m, src->gpu_model)))
        return -1;
    if (src->mig && !(dst->mig = spec_strdup(c, m, src->mig)))
        return -1;
    if (src->workdir && !(dst->workdir = spec_strdup(c, m, src->workdir)))
        return -1;
    if (src->ckpt_dir && !(dst->ckpt_dir = spec_strdup(c, m, src->ckpt_dir)))
        return -1;
    if (src->on_log && !(dst->on_log = spec_strdup(c, m, src->on_log)))
        return -1;
    if (src->nexit_codes) {
        dst->exit_codes = malloc(src->nexit_codes * sizeof(int32_t));
        if (!dst->exit_codes)
            return -1;
        memcpy(dst->exit_codes, src->exit_codes, src->nexit_codes * sizeof(int32_t));
        if (src->exit_at) {
            if (!(dst->exit_at = malloc(src->nexit_codes * sizeof(*dst->exit_at))))
                return -1;
            memcpy(dst->exit_at, src->exit_at, src->nexit_codes * sizeof(*dst->exit_at));
        }
    }
    if (kv_copy(c, &dst->labels, &src->labels) < 0 || kv_copy(c, &dst->env, &src->env) < 0)
        return -1;
    return 0;
}

void spec_task_fini(spec_task_t *t)
{
    free(t->name);
    free(t->kind);
    free(t->placement_level);
    spec_strv_free(&t->argv);
    spec_strv_free(&t->needs);
    spec_strv_free(&t->outputs);
    spec_strv_free(&t->inputs);
    spec_opts_fini(&t->o);
    for (size_t k = 0; k < t->nkeys; k++) {
        free(t->keys[k]);
        spec_strv_free(&t->vals[k]);
    }
    free(t->keys);
    free(t->vals);
    memset(t, 0, sizeof(*t));
}

/* Length of the expression at s, the key in *key and *klen; 0 if malformed. */
static size_t subst_expr(const char *s, const char **key, size_t *klen)
{
    const char *p = s + 3;
    while (*p == ' ')
        p++;
    if (strncmp(p, "matrix.", 7) != 0)
        return 0;
    p += 7;
    *key = p;
    while (isalnum((unsigned char)*p) || *p == '_' || *p == '-')
        p++;
    *klen = (size_t)(p - *key);
    while (*p == ' ')
        p++;
    if (*klen == 0 || strncmp(p, "}}", 2) != 0)
        return 0;
    return (size_t)(p + 2 - s);
}

void spec_check_subst(spec_ctx_t *c, yaml_mark_t m, const char *s)
{
    if (c->cur && c->cur->bad_matrix)
        return;
    for (const char *p = strstr(s, "${{"); p; p = strstr(p + 3, "${{")) {
        const char *key;
        size_t klen;
        if (subst_expr(p, &key, &klen) == 0) {
            spec_error(c, m, "malformed expression: expected '${{ matrix.KEY }}'");
            continue;
        }
        bool known = false;
        for (size_t k = 0; c->cur && k < c->cur->nkeys; k++)
            known |= strlen(c->cur->keys[k]) == klen && strncmp(c->cur->keys[k], key, klen) == 0;
        if (!known)
            spec_error(c, m, "unknown matrix key '%.*s' in '${{ matrix.%.*s }}'", (int)klen, key,
                       (int)klen, key);
    }
}

size_t spec_subst_expr(const char *s, const char **key, size_t *klen)
{
    return subst_expr(s, key, klen);
}
