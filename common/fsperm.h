/* Private state on disk: the checks and modes every daemon applies to its
 * state directory and to the files that hold what others must not read
 * (the scheduler's journal holds every job's environment, secrets
 * included; logs name users and jobs).
 *
 * A state directory must belong to the daemon's user and be writable by no
 * one else: whoever can write it can replace the files in it. Files are
 * created 0600; an existing one must be a regular file of the same user
 * (not a symbolic link) and loses the mode bits the caller denies. */
#ifndef CAIRN_COMMON_FSPERM_H
#define CAIRN_COMMON_FSPERM_H

#include <sys/stat.h>
#include <sys/types.h>

#include "common/error.h"

/* Whether st (of path, what names it in messages) belongs to the effective
 * user and is writable by no one else: 0, or -EPERM with err saying which
 * and how to fix it. */
int cairn_owner_check(const char *path, const char *what, const struct stat *st,
                      cairn_error_t *err);

/* Check the existing directory path (what names it in messages, e.g.
 * "state directory"): a directory (a symbolic link to one is followed),
 * owned by the effective user, without group or other write permission.
 * Errors: -ENOENT (absent: the caller may create it 0700), -ENOTDIR,
 * -EPERM (another owner, or writable by group or others; err says how to
 * fix it), another -errno from stat(). */
int cairn_dir_check_private(const char *path, const char *what, cairn_error_t *err);

/* Open path with flags (O_WRONLY | O_APPEND, O_RDWR, O_TRUNC...), creating
 * it mode 0600; an existing file must be a regular file owned by the
 * effective user, and the deny bits (e.g. 077, or 007) are cleared from its
 * mode. Returns the descriptor (O_CLOEXEC), or -EPERM (a symbolic link,
 * not a regular file, another owner) or another -errno, err saying which. */
int cairn_file_open_private(const char *path, int flags, mode_t deny, cairn_error_t *err);

/* The same checks and mode change for a file that may exist: 0 when it
 * does not. */
int cairn_file_make_private(const char *path, mode_t deny, cairn_error_t *err);

#endif
