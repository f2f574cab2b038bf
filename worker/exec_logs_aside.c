/* Logs of an earlier scheduler (exec_logs.c, "the scheduler's identity"):
 * the identity logs/ holds the logs of, recorded in logs/.scheduler, and
 * moving a scheduler's job log directories aside, to logs/.old-IDENT,
 * when the worker registers with another one. Job and attempt ids are a
 * scheduler's: after its state was lost they start again, and a log kept
 * under the same name would be served as the new attempt's. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "worker/exec_logs_private.h"

#define IDENT_FILE ".scheduler"
#define IDENT_TMP ".scheduler.tmp"
#define ASIDE_DIR_MODE 0700
/* Suffixes tried for a job directory whose name is taken aside. */
#define ASIDE_SUFFIX_MAX 1000

uint64_t exec_logs_ident_read(int logsfd)
{
    char buf[40] = {0};
    int fd = openat(logsfd, IDENT_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT ? 0 : UINT64_MAX;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    char *end = NULL;
    errno = 0;
    uint64_t v = n == 17 ? strtoull(buf, &end, 16) : 0;
    return errno == 0 && end == buf + 16 && *end == '\n' && v && v != UINT64_MAX ? v : UINT64_MAX;
}

/* Record ident in logs/.scheduler (written whole and synced, then renamed
 * over the old one): 0 or -errno. */
static int ident_write(int logsfd, uint64_t ident)
{
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%016" PRIx64 "\n", ident);
    int fd = openat(logsfd, IDENT_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int r = write(fd, buf, (size_t)n) == n && fsync(fd) == 0 ? 0 : errno ? -errno : -EIO;
    close(fd);
    if (r == 0 && renameat(logsfd, IDENT_TMP, logsfd, IDENT_FILE) < 0)
        r = -errno;
    if (r == 0)
        (void)fsync(logsfd);
    return r;
}

/* Whether name is a job's log directory's (a job id: digits only). */
static bool job_name(const char *name)
{
    if (name[0] < '1' || name[0] > '9')
        return false;
    return name[strspn(name, "0123456789")] == '\0';
}

/* Move job directory name of logs/ into aside (its fd): 0 or -errno. */
static int move_one(int logsfd, int asidefd, const char *name)
{
    if (renameat(logsfd, name, asidefd, name) == 0)
        return 0;
    if (errno != EEXIST && errno != ENOTEMPTY)
        return -errno;
    char to[NAME_MAX + 16]; /* the same scheduler's job moved before (its identity came back) */
    for (int i = 1; i <= ASIDE_SUFFIX_MAX; i++) {
        snprintf(to, sizeof(to), "%s.%d", name, i);
        if (renameat(logsfd, name, asidefd, to) == 0)
            return 0;
        if (errno != EEXIST && errno != ENOTEMPTY)
            return -errno;
    }
    return -EEXIST;
}

/* Move every job log directory of logs/ (logsfd; named by a job id) into
 * logs/.old-IDENT (made 0700 when missing; one of the same name already
 * there is kept: the newer gets a suffix). The number moved, or a negative
 * code said in err (logs_dir names logs/ in it). */
static int move_aside(int logsfd, const char *logs_dir, uint64_t ident, cairn_error_t *err)
{
    char aside[32];
    exec_logs_aside_name(ident, aside, sizeof(aside));
    if (mkdirat(logsfd, aside, ASIDE_DIR_MODE) < 0 && errno != EEXIST)
        return errcode(err, -errno, "cannot make %s/%s: %s", logs_dir, aside, strerror(errno));
    int asidefd = openat(logsfd, aside, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int dfd = asidefd >= 0 ? openat(logsfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        int e = errno;
        if (dfd >= 0)
            close(dfd);
        if (asidefd >= 0)
            close(asidefd);
        return errcode(err, -e, "%s/%s: %s", logs_dir, aside, strerror(e));
    }
    int moved = 0, r = 0;
    struct dirent *de;
    while (r == 0 && (de = readdir(d)))
        if (job_name(de->d_name) && (r = move_one(logsfd, asidefd, de->d_name)) == 0)
            moved++;
    if (r < 0)
        errcode(err, r, "cannot move %s/%s aside to %s: %s", logs_dir, de->d_name, aside,
                strerror(-r));
    closedir(d);
    close(asidefd);
    return r < 0 ? r : moved;
}

/* The logs of attempts in the pool taken before any identity was known
 * are the first scheduler's: their records say so from now on. */
static void pool_adopt(exec_logs_t *L, uint64_t ident)
{
    for (size_t i = 0; i < L->n; i++) {
        log_file_t *e = &L->f[i];
        if (e->state != LOG_FREE && e->owned && !e->ident) {
            e->ident = ident;
            (void)logs_rec_write(L, e); /* else named aside after a crash: lost, not shown */
        }
    }
}

int worker_exec_logs_scheduler(worker_exec_t *x, uint64_t ident, cairn_error_t *err)
{
    exec_logs_t *L = x ? x->logs : NULL;
    if (!L || !ident || (ident == L->ident && !L->ident_bad))
        return 0;
    int r;
    if (!L->ident) { /* the first one: the logs there are its */
        if ((r = ident_write(L->logsfd, ident)) < 0) {
            L->ident_bad = true;
            return errcode(err, r, "cannot record the scheduler's identity in %s/.scheduler: %s",
                           L->logs_dir, strerror(-r));
        }
        pool_adopt(L, ident);
        L->ident = ident;
        L->ident_bad = false;
        return 0;
    }
    /* logs/ holds another scheduler's logs: aside before the new identity
     * is recorded (a crash in between moves the rest at the next start) */
    char aside[32];
    exec_logs_aside_name(L->ident, aside, sizeof(aside));
    int moved = move_aside(L->logsfd, L->logs_dir, L->ident, err);
    if (moved >= 0 && (r = ident_write(L->logsfd, ident)) < 0)
        moved = errcode(err, r, "cannot record the scheduler's identity in %s/.scheduler: %s",
                        L->logs_dir, strerror(-r));
    if (moved < 0) {
        L->ident_bad = true;
        return moved;
    }
    cairn_log(x->log, CAIRN_LOG_WARN,
              "the scheduler is another one (journal identity %016" PRIx64 ", the logs here are of "
              "%016" PRIx64 "): its state was lost or replaced, and its job and attempt ids start "
              "again; %d job log director%s moved aside to %s/%s, never served again (remove "
              "it when no longer needed)",
              ident, L->ident, moved, moved == 1 ? "y" : "ies", L->logs_dir, aside);
    L->ident = ident; /* the attempts still in the pool are named aside */
    L->ident_bad = false;
    L->seen_job = 0;
    return 1;
}
