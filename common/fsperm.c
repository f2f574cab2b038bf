/* Private state on disk; see fsperm.h. */
#include "common/fsperm.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cairn_owner_check(const char *path, const char *what, const struct stat *st, cairn_error_t *err)
{
    uid_t me = geteuid();
    if (st->st_uid != me)
        return errcode(err, -EPERM,
                       "%s %s belongs to uid %u, not to this user (uid %u): refusing to use it "
                       "(chown it, or choose another directory)",
                       what, path, (unsigned)st->st_uid, (unsigned)me);
    if (st->st_mode & (S_IWGRP | S_IWOTH))
        return errcode(err, -EPERM,
                       "%s %s is writable by %s (mode %04o): refusing to use it (chmod go-w %s)",
                       what, path, (st->st_mode & S_IWOTH) ? "other users" : "its group",
                       (unsigned)(st->st_mode & 07777), path);
    return 0;
}

int cairn_dir_check_private(const char *path, const char *what, cairn_error_t *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        return errcode(err, -e, "%s %s: %s", what, path, strerror(e));
    }
    if (!S_ISDIR(st.st_mode))
        return errcode(err, -ENOTDIR, "%s %s is not a directory", what, path);
    return cairn_owner_check(path, what, &st, err);
}

/* The checks on an open file; clears deny from its mode. */
static int fd_make_private(int fd, const char *path, mode_t deny, cairn_error_t *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        return errcode(err, -e, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode))
        return errcode(err, -EPERM, "%s is not a regular file: refusing to use it", path);
    if (st.st_uid != geteuid())
        return errcode(err, -EPERM,
                       "%s belongs to uid %u, not to this user (uid %u): refusing to "
                       "use it",
                       path, (unsigned)st.st_uid, (unsigned)geteuid());
    if ((st.st_mode & deny) && fchmod(fd, st.st_mode & 07777 & ~deny) != 0) {
        int e = errno;
        return errcode(err, -e, "cannot make %s private: %s", path, strerror(e));
    }
    return 0;
}

/* open() that names a symbolic link as such. */
static int open_nofollow(const char *path, int flags, cairn_error_t *err)
{
    int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd >= 0)
        return fd;
    int e = errno;
    if (e == ELOOP)
        return errcode(err, -EPERM, "%s is a symbolic link: refusing to follow it", path);
    return errcode(err, -e, "%s: %s", path, strerror(e));
}

int cairn_file_open_private(const char *path, int flags, mode_t deny, cairn_error_t *err)
{
    /* truncate only once the file is known to be ours */
    int fd = open_nofollow(path, (flags & ~O_TRUNC) | O_CREAT, err);
    if (fd < 0)
        return fd;
    int rc = fd_make_private(fd, path, deny, err);
    if (rc == 0 && (flags & O_TRUNC) && ftruncate(fd, 0) != 0)
        rc = errcode(err, -errno, "%s: %s", path, strerror(errno));
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

int cairn_file_make_private(const char *path, mode_t deny, cairn_error_t *err)
{
    int fd = open_nofollow(path, O_RDONLY | O_NONBLOCK, err);
    if (fd == -ENOENT) {
        cairn_error_clear(err);
        return 0;
    }
    if (fd < 0)
        return fd;
    int rc = fd_make_private(fd, path, deny, err);
    close(fd);
    return rc;
}
