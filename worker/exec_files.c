/* The worker's files under its state directory, kept private to the
 * worker and to each task's user:
 *
 *   STATE_DIR/            0700, the worker's user's; an existing one must be
 *                         that user's and writable by no one else
 *     running             the leftovers file (exec_track.c), 0600
 *     logs/               0700, the worker's
 *       JOB/              0700, the job's submitter's where the worker is root
 *         TASK.ATTEMPT.RANK.out|err   0600, the submitter's likewise
 *
 * A task writes its logs through the descriptors the worker opened for it;
 * `cairn logs` reads them through the worker (ReadLog, as root where the
 * worker is), never through a path a user could reach: logs/ is closed to
 * everyone else. The worker never follows a symbolic link to a log (it
 * runs as root and writes or reads where the link points), and reads only
 * regular files with one link. Giving logs/JOB and the files to the
 * submitter keeps their data theirs (quotas, an administrator copying
 * them out) without letting them reach anything of the worker's. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsperm.h"
#include "worker/exec_private.h"

#define LOG_DIR_MODE 0700
#define LOG_FILE_MODE 0600
#define LOG_OPEN_FLAGS (O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW)

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

/* ---- log files -------------------------------------------------------- */

bool exec_task_name_ok(const char *name)
{
    return name && name[0] && !strchr(name, '/') && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0 && strlen(name) <= 255;
}

int worker_exec_log_path(const worker_exec_t *x, uint64_t job_id, const char *task_name,
                         uint64_t attempt_id, uint32_t rank, int stream, char *buf, size_t len)
{
    int n;
    if (!x || !buf || (stream != 1 && stream != 2) || !exec_task_name_ok(task_name))
        return -EINVAL;
    n = snprintf(buf, len, "%s/logs/%" PRIu64 "/%s.%" PRIu64 ".%" PRIu32 ".%s", x->state_dir,
                 job_id, task_name, attempt_id, rank, stream == 1 ? "out" : "err");
    if (n < 0 || (size_t)n >= len)
        return -ENAMETOOLONG;
    return n;
}

/* The job's log directory (path, a copy of a log's path cut at its last
 * '/'): made when missing, then 0700 and uid's. An existing one of someone
 * else (a job of an earlier scheduler with the same id) changes hands:
 * only the worker can reach it. */
static int job_dir_ensure(char *path, const run_as_t *ra, uid_t uid, gid_t gid, cairn_error_t *err)
{
    struct stat st;
    const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int dfd = open(path, flags);
    if (dfd < 0 && errno == ENOENT) {
        /* logs/ too, should someone have removed it */
        int r = exec_mkdir_p(path, LOG_DIR_MODE);
        if (r < 0)
            return errcode(err, r, "cannot make log directory %s: %s", path, strerror(-r));
        dfd = open(path, flags);
    }
    if (dfd < 0)
        return errcode(err, -errno, "log directory %s: %s", path,
                       errno == ENOTDIR || errno == ELOOP ? "not a directory" : strerror(errno));
    int r = 0;
    if (fstat(dfd, &st) < 0)
        r = errcode(err, -errno, "log directory %s: %s", path, strerror(errno));
    else if ((st.st_uid != uid || st.st_gid != gid) && fchown(dfd, uid, gid) < 0)
        r = errcode(err, -errno, "cannot give log directory %s to %s: %s", path, ra->name,
                    strerror(errno));
    else if ((st.st_mode & 07777) != LOG_DIR_MODE && fchmod(dfd, LOG_DIR_MODE) < 0)
        r = errcode(err, -errno, "cannot make log directory %s private: %s", path, strerror(errno));
    close(dfd);
    return r;
}

/* The directory of the log at path (ra's job): seen to when the job or
 * its user changed since the last log, or when again (a log cannot be
 * made in it). */
static int log_dir(worker_exec_t *x, char *path, uint64_t job, const run_as_t *ra, uid_t uid,
                   gid_t gid, bool again, cairn_error_t *err)
{
    if (!again && x->logs_job == job && x->logs_uid == uid)
        return 0;
    x->logs_job = 0;
    char *slash = strrchr(path, '/');
    *slash = '\0';
    int r = job_dir_ensure(path, ra, uid, gid, err);
    *slash = '/';
    if (r == 0) {
        x->logs_job = job;
        x->logs_uid = uid;
    }
    return r;
}

/* A log that is there already (its start prepared before): kept if it is
 * a plain file, made private and uid's. */
static int log_reopen(const char *path, const run_as_t *ra, uid_t uid, gid_t gid,
                      cairn_error_t *err)
{
    struct stat st;
    int r, fd = open(path, LOG_OPEN_FLAGS, LOG_FILE_MODE);
    if (fd < 0)
        return errcode(err, -errno, "cannot open log %s: %s", path,
                       errno == ELOOP ? "it is a symbolic link" : strerror(errno));
    if (fstat(fd, &st) < 0)
        r = errcode(err, -errno, "log %s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode) || st.st_nlink != 1)
        r = errcode(err, -EPERM, "log %s is not a plain file: refusing it", path);
    else if ((st.st_uid != uid || st.st_gid != gid) && fchown(fd, uid, gid) < 0)
        r = errcode(err, -errno, "cannot give log %s to %s: %s", path, ra->name, strerror(errno));
    else if ((st.st_mode & 07777) != LOG_FILE_MODE && fchmod(fd, LOG_FILE_MODE) < 0)
        r = errcode(err, -errno, "cannot make log %s private: %s", path, strerror(errno));
    else
        return fd;
    close(fd);
    return r;
}

int exec_log_open(worker_exec_t *x, const exec_spec_t *s, const run_as_t *ra, int stream,
                  cairn_error_t *err)
{
    char path[PATH_MAX];
    uid_t uid = ra->set ? ra->uid : x->self_ra.uid;
    gid_t gid = ra->set ? ra->gid : x->self_ra.gid;
    int fd, r = worker_exec_log_path(x, s->job_id, s->task_name, s->attempt_id, s->rank, stream,
                                     path, sizeof(path));
    if (r < 0)
        return errcode(err, r, "log path too long");
    if ((r = log_dir(x, path, s->job_id, ra, uid, gid, false, err)) < 0)
        return r;
    /* made new (the common case): a regular file of ours, 0600 or less by
     * the umask; O_EXCL follows no link */
    fd = open(path, LOG_OPEN_FLAGS | O_EXCL, LOG_FILE_MODE);
    if (fd < 0 && errno == ENOENT) {
        if ((r = log_dir(x, path, s->job_id, ra, uid, gid, true, err)) < 0)
            return r;
        fd = open(path, LOG_OPEN_FLAGS | O_EXCL, LOG_FILE_MODE);
    }
    if (fd < 0 && errno == EEXIST)
        return log_reopen(path, ra, uid, gid, err);
    if (fd < 0)
        return errcode(err, -errno, "cannot open log %s: %s", path, strerror(errno));
    if (ra->set && fchown(fd, uid, gid) < 0) {
        r = errcode(err, -errno, "cannot give log %s to %s: %s", path, ra->name, strerror(errno));
        close(fd);
        return r;
    }
    return fd;
}

int worker_exec_log_open(const worker_exec_t *x, uint64_t job_id, const char *task_name,
                         uint64_t attempt_id, uint32_t rank, int stream)
{
    char path[PATH_MAX];
    struct stat st;
    int r =
        worker_exec_log_path(x, job_id, task_name, attempt_id, rank, stream, path, sizeof(path));
    if (r < 0)
        return r;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        close(fd);
        return r;
    }
    if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
        close(fd);
        return -EPERM;
    }
    return fd;
}
