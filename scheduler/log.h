/* The daemon's log: one line per event, with a UTC timestamp and a level,
 * to stderr or a file. */
#ifndef CAIRN_SCHEDULER_LOG_H
#define CAIRN_SCHEDULER_LOG_H

#include <stdio.h>

#include "scheduling/error.h"

typedef enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level_t;

typedef struct daemon_log {
    FILE *f; /* stderr unless opened */
    log_level_t min;
    const char *prog;
} daemon_log_t;

/* Open path for appending (NULL: stderr): created 0600; an existing file
 * must be the user's own regular file and loses any permission for other
 * users (its group's are kept). Errors: -EPERM and -errno, err says why. */
int daemon_log_open(daemon_log_t *l, const char *prog, const char *path, log_level_t min,
                    cairn_error_t *err);
void daemon_log_close(daemon_log_t *l);
int daemon_log_level_parse(const char *s, log_level_t *out);
void dlog(daemon_log_t *l, log_level_t lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
