/* Internals of cairn plan shared by cmd_plan*.c. */
#ifndef CAIRN_CLUSTER_PLAN_PRIVATE_H
#define CAIRN_CLUSTER_PLAN_PRIVATE_H

#include <stdio.h>
#include <yaml.h>

#include "cluster/plan.h"

typedef struct pj_reader {
    FILE *f;
    yaml_parser_t parser;
    bool open;
    char error[256]; /* "LINE: message" */
} pj_reader_t;

/* Open path; -1 with r->error set when it cannot be read. */
int pj_open(pj_reader_t *r, const char *path);
void pj_close(pj_reader_t *r);
/* The whole document as a tree (NULL with r->error set). */
pj_t *pj_read_all(pj_reader_t *r);
/* Call fn on each item of the top-level list, or of the list under
 * list_key when the top level is a map; 0, or -1 (r->error set, or fn's
 * own failure, which printed). */
int pj_each(pj_reader_t *r, const char *list_key, int (*fn)(const pj_t *item, void *arg),
            void *arg);

#endif
