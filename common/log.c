#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/fsperm.h"

static const char *const names[] = {"debug", "info", "warn", "error"};

int cairn_log_open(cairn_log_t *l, const char *prog, const char *path, cairn_log_level_t min,
                   cairn_error_t *err)
{
    l->prog = prog;
    l->min = min;
    l->f = stderr;
    if (path && *path) {
        /* others may not read it; a group the operator gave it keeps it */
        int fd = cairn_file_open_private(path, O_WRONLY | O_APPEND, 007, err);
        if (fd < 0)
            return fd;
        FILE *f = fdopen(fd, "a");
        if (!f) {
            int e = errno;
            close(fd);
            return errcode(err, -e, "%s: %s", path, strerror(e));
        }
        setvbuf(f, NULL, _IOLBF, 0);
        l->f = f;
    }
    return 0;
}

void cairn_log_close(cairn_log_t *l)
{
    if (l->f && l->f != stderr)
        fclose(l->f);
    l->f = stderr;
}

int cairn_log_level_parse(const char *s, cairn_log_level_t *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (cairn_log_level_t)i;
            return 0;
        }
    return -EINVAL;
}

const char *cairn_log_level_name(cairn_log_level_t lvl)
{
    return (unsigned)lvl < 4 ? names[lvl] : "?";
}

void cairn_log(cairn_log_t *l, cairn_log_level_t lvl, const char *fmt, ...)
{
    if (!l || lvl < l->min)
        return;
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char line[1024];
    int n = snprintf(line, sizeof(line),
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, l->prog, cairn_log_level_name(lvl));
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(line))
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(l->f ? l->f : stderr, "%s\n", line);
}
