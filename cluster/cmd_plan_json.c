/* cairn plan's JSON files on jansson, read one item at a time: a trace of
 * a million records is never held whole. This file walks the top level (a
 * list, or an object with the list under a key) and hands each item to
 * jansson, one byte at a time, so that jansson stops where the item ends
 * and every line is counted here (for messages). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/plan.h"
#include "cluster/plan_private.h"

const char *pj_text(const json_t *v, char *buf, size_t n)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_string_value(v);
    case JSON_INTEGER:
        snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    case JSON_REAL:
        snprintf(buf, n, "%.17g", json_real_value(v));
        return buf;
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        return "null";
    default:
        return NULL;
    }
}

int pj_open(pj_reader_t *r, const char *path)
{
    memset(r, 0, sizeof(*r));
    r->line = 1;
    r->back = EOF;
    r->f = fopen(path, "rb");
    if (!r->f) {
        snprintf(r->error, sizeof(r->error), "%s", strerror(errno));
        return -1;
    }
    return 0;
}

void pj_close(pj_reader_t *r)
{
    if (r->f)
        fclose(r->f);
    r->f = NULL;
}

/* The next byte (EOF at the end), counting lines. */
static int next_byte(pj_reader_t *r)
{
    int c = r->back;
    if (c != EOF)
        r->back = EOF;
    else
        c = getc(r->f);
    r->last = c;
    if (c == '\n')
        r->line++;
    return c;
}

/* Give c back: the next next_byte returns it. */
static void give_back(pj_reader_t *r, int c)
{
    if (c == EOF)
        return;
    r->back = c;
    if (c == '\n')
        r->line--;
}

/* The next byte that is not JSON whitespace. */
static int next_token(pj_reader_t *r)
{
    int c;
    while ((c = next_byte(r)) == ' ' || c == '\t' || c == '\n' || c == '\r')
        ;
    return c;
}

static size_t feed(void *buf, size_t len, void *arg)
{
    int c = next_byte(arg);
    if (c == EOF || len == 0)
        return 0;
    *(char *)buf = (char)c;
    return 1;
}

/* The value that starts with c (already read). NULL with r->error set. */
static json_t *read_value(pj_reader_t *r, int c)
{
    size_t line = r->line;
    give_back(r, c);
    json_error_t e;
    r->last = EOF;
    json_t *v = json_load_callback(feed, r, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &e);
    if (!v) {
        snprintf(r->error, sizeof(r->error), "%zu: %s",
                 line + (size_t)(e.line > 1 ? e.line - 1 : 0), e.text);
        return NULL;
    }
    /* a number or true/false/null ends where the next byte begins: jansson
     * read that byte, which belongs to what follows */
    if (!json_is_object(v) && !json_is_array(v) && !json_is_string(v))
        give_back(r, r->last);
    return v;
}

/* "LINE: msg" in r->error; -1. */
static int fail(pj_reader_t *r, const char *msg)
{
    snprintf(r->error, sizeof(r->error), "%zu: %s", r->line, msg);
    return -1;
}

/* The document has no list where one was wanted. */
static int no_list(pj_reader_t *r, const char *key)
{
    r->nolist = true;
    snprintf(r->error, sizeof(r->error), "%zu: no \"%s\" list", r->line, key);
    return -1;
}

/* In an object: skip members up to the one named key; *first is the first
 * byte of its value. 0, or -1 (r->error set) when there is none. */
static int find_member(pj_reader_t *r, const char *key, int *first)
{
    for (;;) {
        int c = next_token(r);
        if (c != '"')
            return no_list(r, key);
        json_t *k = read_value(r, c);
        if (!k)
            return -1;
        bool want = !strcmp(json_string_value(k), key);
        json_decref(k);
        if (next_token(r) != ':')
            return fail(r, "expected ':' after a key");
        c = next_token(r);
        if (want) {
            *first = c;
            return 0;
        }
        json_t *skip = read_value(r, c);
        if (!skip)
            return -1;
        json_decref(skip);
        if (next_token(r) != ',')
            return no_list(r, key);
    }
}

int pj_each(pj_reader_t *r, const char *list_key, bool bare, pj_item_f fn, void *arg)
{
    int c = next_token(r);
    if (c == EOF)
        return fail(r, "empty file");
    r->first_line = r->line;
    if (!bare && c != '{')
        return no_list(r, list_key);
    if (c == '{' && find_member(r, list_key, &c) < 0)
        return -1;
    if (c != '[') {
        r->nolist = true;
        return bare ? fail(r, "expected a list of records") : no_list(r, list_key);
    }
    for (size_t n = 0;; n++) {
        c = next_token(r);
        if (c == ']' && n == 0)
            return 0;
        size_t line = r->line;
        json_t *item = read_value(r, c);
        if (!item)
            return -1;
        int rc = fn(item, line, arg);
        json_decref(item);
        if (rc < 0)
            return -1;
        c = next_token(r);
        if (c == ']')
            return 0;
        if (c != ',')
            return fail(r, "expected ',' or ']' after an item");
    }
}
