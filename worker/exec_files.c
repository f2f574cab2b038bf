/* The worker's state directory, kept private to the worker:
 *
 *   STATE_DIR/            0700, the worker's user's; an existing one must be
 *                         that user's and writable by no one else
 *     running             the leftovers file (exec_leftovers.c), 0600
 *     logs/               0700, the worker's: the task logs (exec_logs.c)
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsperm.h"
#include "worker/exec_private.h"

#define LOG_DIR_MODE 0700

int exec_mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, len + 1);
    for (char *s = buf + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* The state directory: made 0700 (with its missing parents) or checked. */
static int state_dir_init(const char *dir, cairn_error_t *err)
{
    struct stat st;
    int r;
    if (stat(dir, &st) < 0) {
        if (errno != ENOENT)
            return errcode(err, -errno, "state directory %s: %s", dir, strerror(errno));
        if ((r = exec_mkdir_p(dir, 0700)) < 0)
            return errcode(err, r, "cannot make state directory %s: %s", dir, strerror(-r));
        if (stat(dir, &st) < 0)
            return errcode(err, -errno, "state directory %s: %s", dir, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return errcode(err, -ENOTDIR, "state directory %s is not a directory", dir);
    return cairn_owner_check(dir, "state directory", &st, err);
}

/* STATE_DIR/logs: made 0700, or checked and closed to others (a worker
 * before this one made it 0755). */
static int logs_dir_init(const char *state_dir, cairn_error_t *err)
{
    char path[PATH_MAX];
    struct stat st;
    if ((size_t)snprintf(path, sizeof(path), "%s/logs", state_dir) >= sizeof(path))
        return errcode(err, -ENAMETOOLONG, "state directory %s: path too long", state_dir);
    if (mkdir(path, LOG_DIR_MODE) < 0 && errno != EEXIST)
        return errcode(err, -errno, "cannot make %s: %s", path, strerror(errno));
    if (lstat(path, &st) < 0)
        return errcode(err, -errno, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return errcode(err, -ENOTDIR, "log directory %s is not a directory: refusing to use it",
                       path);
    int r = cairn_owner_check(path, "log directory", &st, err);
    if (r < 0)
        return r;
    if ((st.st_mode & 07777) != LOG_DIR_MODE && chmod(path, LOG_DIR_MODE) < 0)
        return errcode(err, -errno, "cannot make %s private: %s", path, strerror(errno));
    return 0;
}

/* The leftovers file, which the worker reads to kill what it lists: when
 * there, a regular file of the worker's that no one else can write. */
static int running_check(const char *path, cairn_error_t *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : errcode(err, -errno, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return errcode(err, -EPERM, "leftovers file %s is not a regular file: refusing to use it",
                       path);
    return cairn_owner_check(path, "leftovers file", &st, err);
}

int exec_files_init(worker_exec_t *x, cairn_error_t *err)
{
    int r = state_dir_init(x->state_dir, err);
    if (r == 0)
        r = logs_dir_init(x->state_dir, err);
    if (r == 0)
        r = running_check(x->running_path, err);
    if (r == 0) {
        /* a rewrite cut short: its file would keep its mode when truncated */
        char tmp[PATH_MAX];
        if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", x->running_path) < sizeof(tmp))
            (void)unlink(tmp);
    }
    return r;
}
