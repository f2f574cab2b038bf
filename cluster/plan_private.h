/* Internals of cairn plan shared by cmd_plan*.c. */
#ifndef CAIRN_CLUSTER_PLAN_PRIVATE_H
#define CAIRN_CLUSTER_PLAN_PRIVATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "cluster/plan.h"

/* --- JSON files, read one item at a time (cmd_plan_json.c) ------------- */

/* A scalar's text, as the values of these files are read (a size may be
 * "80G", a count 4 or "4"): a string's value, an integer or real in
 * decimal (into buf), true, false or null; NULL for a list or an object. */
const char *pj_text(const json_t *v, char *buf, size_t n);

typedef struct pj_reader {
    FILE *f;
    size_t line;       /* of the next byte, 1-based */
    size_t first_line; /* where the document starts */
    int back, last;    /* a byte given back; the last one read */
    bool nolist;       /* failed: no list where one was wanted */
    char error[256];   /* "LINE: message" */
} pj_reader_t;

/* An item and the line it starts on; 0, or -1 when it is refused (the
 * callback printed why). */
typedef int (*pj_item_f)(const json_t *item, size_t line, void *arg);

/* Open path; -1 with r->error set when it cannot be read. */
int pj_open(pj_reader_t *r, const char *path);
void pj_close(pj_reader_t *r);
/* Call fn on each item of the list under list_key of the top-level
 * object, or of a top-level list when bare; 0, or -1 (r->error set, with
 * r->nolist when there is no such list; or fn's own failure, which
 * printed). */
int pj_each(pj_reader_t *r, const char *list_key, bool bare, pj_item_f fn, void *arg);

#endif
