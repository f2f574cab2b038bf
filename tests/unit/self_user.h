/* The name of the user running the tests: every task a test assigns names
 * its submitter (the suite runs as root, with root's tasks allowed). */
#ifndef CAIRN_TEST_SELF_USER_H
#define CAIRN_TEST_SELF_USER_H

#include <criterion/criterion.h>
#include <pwd.h>
#include <stdio.h>
#include <unistd.h>

static inline char *self_user(void)
{
    static char name[256];
    if (!name[0]) {
        struct passwd *pw = getpwuid(geteuid());
        cr_assert_not_null(pw, "the test's user has no account");
        snprintf(name, sizeof(name), "%s", pw->pw_name);
    }
    return name;
}

#endif
