/* Private state on disk (common/fsperm.h): the checks every daemon applies
 * to its state directory, and the modes of the files it keeps there. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsperm.h"

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/cairn-fsperm-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(fsperm, .init = make_dir, .fini = remove_dir);

static mode_t mode_of(const char *path)
{
    struct stat st;
    cr_assert_eq(lstat(path, &st), 0, "%s: %s", path, strerror(errno));
    return st.st_mode & 07777;
}

Test(fsperm, state_directory_must_be_private)
{
    cairn_error_t err = {{0}};
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/missing", dir);
    cr_expect_eq(cairn_dir_check_private(sub, "state directory", &err), -ENOENT);
    cr_expect_eq(cairn_dir_check_private(dir, "state directory", &err), 0, "%s", err.text);
    cr_assert_eq(chmod(dir, 0755), 0);
    cr_expect_eq(cairn_dir_check_private(dir, "state directory", &err), 0, "%s", err.text);
    cr_assert_eq(chmod(dir, 0775), 0);
    cr_expect_eq(cairn_dir_check_private(dir, "state directory", &err), -EPERM);
    cr_expect(strstr(err.text, "is writable by its group (mode 0775)"), "%s", err.text);
    cr_assert_eq(chmod(dir, 01777), 0);
    cr_expect_eq(cairn_dir_check_private(dir, "state directory", &err), -EPERM);
    cr_expect(strstr(err.text, "writable by other users (mode 1777)"), "%s", err.text);
    cr_assert_eq(chmod(dir, 0700), 0);
    snprintf(sub, sizeof(sub), "%s/file", dir);
    close(open(sub, O_CREAT | O_WRONLY, 0600));
    cr_expect_eq(cairn_dir_check_private(sub, "state directory", &err), -ENOTDIR);
    if (geteuid() == 0) {
        snprintf(sub, sizeof(sub), "%s/theirs", dir);
        cr_assert_eq(mkdir(sub, 0700), 0);
        cr_assert_eq(chown(sub, 65534, 65534), 0);
        cr_expect_eq(cairn_dir_check_private(sub, "state directory", &err), -EPERM);
        cr_expect(strstr(err.text, "belongs to uid 65534, not to this user (uid 0)"), "%s",
                  err.text);
    }
}

Test(fsperm, files_are_created_0600_and_made_private)
{
    cairn_error_t err = {{0}};
    char path[128];
    snprintf(path, sizeof(path), "%s/log", dir);
    mode_t old = umask(0); /* the mode must not depend on the umask */
    int fd = cairn_file_open_private(path, O_WRONLY | O_APPEND, 077, &err);
    umask(old);
    cr_assert_geq(fd, 0, "%s", err.text);
    cr_assert_eq(write(fd, "x", 1), 1);
    close(fd);
    cr_expect_eq(mode_of(path), 0600);

    /* an older file readable by all: loses what is denied, keeps content */
    cr_assert_eq(chmod(path, 0644), 0);
    fd = cairn_file_open_private(path, O_WRONLY | O_APPEND, 007, &err);
    cr_assert_geq(fd, 0, "%s", err.text);
    close(fd);
    cr_expect_eq(mode_of(path), 0640);
    cr_assert_eq(chmod(path, 0666), 0);
    cr_expect_eq(cairn_file_make_private(path, 077, &err), 0, "%s", err.text);
    cr_expect_eq(mode_of(path), 0600);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_size, 1);

    /* absent: nothing to do */
    snprintf(path, sizeof(path), "%s/none", dir);
    cr_expect_eq(cairn_file_make_private(path, 077, &err), 0, "%s", err.text);
    cr_expect_eq(access(path, F_OK), -1);
}

/* A symbolic link is not followed: it could point at any file. */
Test(fsperm, symbolic_links_are_refused)
{
    cairn_error_t err = {{0}};
    char target[128], link[128];
    snprintf(target, sizeof(target), "%s/target", dir);
    snprintf(link, sizeof(link), "%s/journal.db", dir);
    close(open(target, O_CREAT | O_WRONLY, 0644));
    cr_assert_eq(symlink(target, link), 0);
    cr_expect_eq(cairn_file_open_private(link, O_RDWR, 077, &err), -EPERM);
    cr_expect(strstr(err.text, "is a symbolic link: refusing to follow it"), "%s", err.text);
    cr_expect_eq(cairn_file_make_private(link, 077, &err), -EPERM);
    cr_expect_eq(mode_of(target), 0644, "the target was changed");
}

/* Another user's file is neither changed nor truncated. */
Test(fsperm, other_users_files_are_left_alone)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to make a file of another user");
    cairn_error_t err = {{0}};
    char path[128];
    snprintf(path, sizeof(path), "%s/cluster.pids", dir);
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    cr_assert_eq(write(fd, "data", 4), 4);
    close(fd);
    cr_assert_eq(chown(path, 65534, 65534), 0);
    cr_expect_eq(cairn_file_open_private(path, O_WRONLY | O_TRUNC, 077, &err), -EPERM);
    cr_expect(strstr(err.text, "belongs to uid 65534"), "%s", err.text);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_size, 4, "truncated");
    cr_expect_eq(st.st_mode & 0777, 0644, "mode changed");
}
