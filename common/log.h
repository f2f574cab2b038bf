/* A daemon's log: one line per event, with a UTC timestamp, the program's
 * name and a level, to stderr or a private file. Both daemons write it. */
#ifndef CAIRN_COMMON_LOG_H
#define CAIRN_COMMON_LOG_H

#include <stdio.h>

#include "common/error.h"

typedef enum cairn_log_level {
    CAIRN_LOG_DEBUG = 0,
    CAIRN_LOG_INFO,
    CAIRN_LOG_WARN,
    CAIRN_LOG_ERROR,
} cairn_log_level_t;

typedef struct cairn_log {
    FILE *f; /* stderr unless opened */
    cairn_log_level_t min;
    const char *prog;
} cairn_log_t;

/* Open path for appending (NULL or "": stderr), as prog, writing lines of
 * level min and above. The file is created 0600; an existing one must be
 * the user's own regular file and loses any permission for other users
 * (its group's are kept). Errors: -EPERM and -errno, err says why. */
int cairn_log_open(cairn_log_t *l, const char *prog, const char *path, cairn_log_level_t min,
                   cairn_error_t *err);
/* Close the file (stderr stays open). */
void cairn_log_close(cairn_log_t *l);
/* "debug", "info", "warn" or "error": 0, or -EINVAL. */
int cairn_log_level_parse(const char *s, cairn_log_level_t *out);
/* The word for a level ("warn"). */
const char *cairn_log_level_name(cairn_log_level_t lvl);
/* Write one line (l NULL: nothing), cut at 1 KiB. */
void cairn_log(cairn_log_t *l, cairn_log_level_t lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
