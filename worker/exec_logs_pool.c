/* The task log pool (exec_logs.c): opened at the worker's start, and
 * what a worker before this one left there settled: empty files kept for
 * later tasks, logs with their record named, a file that is not the one
 * its record was written for (a machine crash) set aside. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsperm.h"
#include "worker/exec_logs_private.h"

/* logs/.pool: made 0700, or checked and closed to others. Its dirfd. */
static int pool_dir(const char *logs_dir, cairn_error_t *err)
{
    char path[PATH_MAX];
    struct stat st;
    if ((size_t)snprintf(path, sizeof(path), "%s/.pool", logs_dir) >= sizeof(path))
        return errcode(err, -ENAMETOOLONG, "%s: path too long", logs_dir);
    if (mkdir(path, LOG_DIR_MODE) < 0 && errno != EEXIST)
        return errcode(err, -errno, "cannot make %s: %s", path, strerror(errno));
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errcode(err, -errno, "log pool %s: %s", path,
                       errno == ENOTDIR || errno == ELOOP ? "not a directory" : strerror(errno));
    int r = fstat(fd, &st) < 0 ? errcode(err, -errno, "%s: %s", path, strerror(errno))
                               : cairn_owner_check(path, "log pool", &st, err);
    if (r == 0 && (st.st_mode & 07777) != LOG_DIR_MODE && fchmod(fd, LOG_DIR_MODE) < 0)
        r = errcode(err, -errno, "cannot make %s private: %s", path, strerror(errno));
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

static int index_open(exec_logs_t *L, cairn_error_t *err)
{
    struct stat st;
    int fd = openat(L->dirfd, "index", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, LOG_FILE_MODE);
    if (fd < 0)
        return errcode(err, -errno, "log index %s/.pool/index: %s", L->logs_dir,
                       errno == ELOOP ? "a symbolic link" : strerror(errno));
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/.pool/index", L->logs_dir);
    int r = fstat(fd, &st) < 0 ? errcode(err, -errno, "%s: %s", path, strerror(errno))
            : !S_ISREG(st.st_mode)
                ? errcode(err, -EPERM, "log index %s is not a regular file: refusing it", path)
                : cairn_owner_check(path, "log index", &st, err);
    if (r < 0) {
        close(fd);
        return r;
    }
    L->indexfd = fd;
    return 0;
}

/* The number a pool file's name is, or 0. */
static uint32_t name_no(const char *name)
{
    char *end = NULL;
    if (name[0] < '1' || name[0] > '9')
        return 0;
    errno = 0;
    unsigned long v = strtoul(name, &end, 10);
    return errno == 0 && *end == '\0' && v <= UINT32_MAX ? (uint32_t)v : 0;
}

/* Take in what the pool holds: every file numbered there, in order. */
static int pool_scan(exec_logs_t *L)
{
    int dfd = dup(L->dirfd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return -errno;
    }
    rewinddir(d);
    struct dirent *de;
    int r = 0;
    while (r == 0 && (de = readdir(d))) {
        uint32_t no = name_no(de->d_name);
        if (no && !logs_file_find(L, no))
            r = logs_file_add(L, no) ? 0 : -ENOMEM;
    }
    closedir(d);
    for (size_t i = 0; i < L->n; i++)
        L->f[i].state = LOG_STRAY; /* until seen to (pool_settle) */
    return r;
}

/* File e is not the one its record was written for (now: what it is):
 * a record of an earlier file of its number, left by a machine crash
 * before the new record reached the disk. It is not named as that log:
 * moved out of the pool's numbering (unmatched.N.INODE), kept for an
 * administrator, and said. 0, or -errno when it cannot be moved (then it
 * stays, never served: e is no one's). */
static int file_unmatched(worker_exec_t *x, log_file_t *e, const file_id_t *now)
{
    exec_logs_t *L = x->logs;
    char name[16], to[64];
    logs_no_name(e->no, name, sizeof(name));
    snprintf(to, sizeof(to), "unmatched.%" PRIu32 ".%" PRIu64, e->no, now->ino);
    int r = renameat(L->dirfd, name, L->dirfd, to) == 0 ? 0 : -errno;
    e->owned = false;
    cairn_log(x->log, CAIRN_LOG_WARN,
              "log pool %s/.pool: file %s (uid %u, inode %" PRIu64 ") is not the file its "
              "index record was written for (uid %u, inode %" PRIu64 ": the log of attempt "
              "%" PRIu64 " rank %" PRIu32 " of job %" PRIu64 "), as after a machine crash: not "
              "named as that log, %s%s",
              L->logs_dir, name, (unsigned)now->uid, now->ino, (unsigned)e->id.uid, e->id.ino,
              e->attempt, e->rank, e->job,
              r == 0 ? "moved to " : "left there: ", r == 0 ? to : strerror(-r));
    return r;
}

/* What a dead worker left in the pool: empty files no one holds are kept
 * for later tasks (at most LOG_POOL_FREE_MAX), logs with their record get
 * their names, the rest stays as it is. */
static void pool_settle(worker_exec_t *x)
{
    exec_logs_t *L = x->logs;
    for (size_t i = 0; i < L->n;) {
        log_file_t *e = &L->f[i];
        struct stat st;
        char name[16];
        logs_no_name(e->no, name, sizeof(name));
        if (logs_file_idle(x, e, &st)) {
            if (L->nfree < LOG_POOL_FREE_MAX) {
                logs_file_free(L, e, &st);
                i++;
            } else { /* beyond what is kept */
                (void)unlinkat(L->dirfd, name, 0);
                logs_file_remove(L, e);
            }
            continue;
        }
        file_id_t now;
        if (fstatat(L->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
            st.st_nlink == 1 && logs_rec_read(L, e) &&
            logs_file_id_of(L->dirfd, name, AT_SYMLINK_NOFOLLOW, &now) == 0) {
            if (!logs_file_id_same(&now, &e->id) && file_unmatched(x, e, &now) == 0) {
                logs_file_remove(L, e);
                continue;
            }
            e->uid = st.st_uid;
            e->gid = st.st_gid;
            if (e->owned && logs_file_name(x, e) == 0) {
                logs_file_remove(L, e);
                continue;
            }
        }
        logs_file_stray(e); /* left: read by its record if it has one */
        i++;
    }
}

int exec_logs_open(worker_exec_t *x, cairn_error_t *err)
{
    exec_logs_t *L = calloc(1, sizeof(*L));
    if (!L)
        return errcode(err, -ENOMEM, "out of memory");
    L->dirfd = L->indexfd = L->logsfd = -1;
    x->logs = L;
    if ((size_t)snprintf(L->logs_dir, sizeof(L->logs_dir), "%s/logs", x->state_dir) >=
        sizeof(L->logs_dir))
        return errcode(err, -ENAMETOOLONG, "state directory %s: path too long", x->state_dir);
    int r = L->dirfd = pool_dir(L->logs_dir, err);
    if (r < 0 || (r = index_open(L, err)) < 0)
        return r;
    /* logs/ itself is checked by exec_files_init */
    if ((L->logsfd = open(L->logs_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        return errcode(err, -errno, "log directory %s: %s", L->logs_dir, strerror(errno));
    L->ident = exec_logs_ident_read(L->logsfd);
    if ((r = pool_scan(L)) < 0)
        return errcode(err, r, "cannot read %s/.pool: %s", L->logs_dir, strerror(-r));
    pool_settle(x);
    return 0;
}

void exec_logs_close(worker_exec_t *x)
{
    exec_logs_t *L = x->logs;
    if (!L)
        return;
    if (L->dirfd >= 0)
        close(L->dirfd);
    if (L->indexfd >= 0)
        close(L->indexfd);
    if (L->logsfd >= 0)
        close(L->logsfd);
    for (size_t i = 0; i < L->n; i++)
        if (L->f[i].rfd >= 0)
            close(L->f[i].rfd);
    free(L->f);
    free(L);
    x->logs = NULL;
}
