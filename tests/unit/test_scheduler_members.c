/* Accounts' members beside the journal (scheduler/members.c): kept sorted
 * and unique, durable only with the journal's commit (a rollback drops
 * them), loaded at open; and the charging rules of a submit. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/members.h"

static char dir[64];

static journal_t *open_journal(void)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/journal.db", dir);
    journal_t *j = NULL;
    cairn_error_t err = {{0}};
    cr_assert_eq(journal_open(path, &j, &err), 0, "%s", err.text);
    return j;
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/cairn-members-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static void put(members_t *m, const char *acct, const char *u1, const char *u2, const char *g,
                bool def)
{
    const char *users[] = {u1, u2}, *groups[] = {g};
    cairn_error_t err = {{0}};
    cr_assert_eq(members_put(m, acct, users,
                             u2   ? 2
                             : u1 ? 1
                                  : 0,
                             groups, g ? 1 : 0, def, &err),
                 0, "%s", err.text);
}

Test(members, sorted_unique_durable_with_the_commit, .init = setup, .fini = teardown)
{
    journal_t *j = open_journal();
    members_t *m = NULL;
    cairn_error_t err = {{0}};
    cr_assert_eq(members_open(j, &m, &err), 0, "%s", err.text);
    const char *users[] = {"carol", "alice", "carol", "bob"}, *groups[] = {"ml"};
    cr_assert_eq(members_put(m, "vision", users, 4, groups, 1, true, &err), 0, "%s", err.text);
    put(m, "nlp", "dave", NULL, NULL, false);
    cr_assert_eq(journal_commit(j, &err), 0, "%s", err.text);
    /* a change rolled back is gone after the reload */
    put(m, "speech", "erin", NULL, NULL, false);
    cr_assert_eq(members_delete(m, "nlp", &err), 0);
    members_entry_t e;
    cr_assert(members_get(m, "speech", &e));
    journal_rollback(j);
    cr_assert_eq(members_reload(m, &err), 0, "%s", err.text);
    cr_assert_not(members_get(m, "speech", &e));
    cr_assert(members_get(m, "nlp", &e));
    members_close(m);
    journal_close(j);

    /* what was committed is loaded at the next open */
    j = open_journal();
    cr_assert_eq(members_open(j, &m, &err), 0, "%s", err.text);
    cr_assert(members_get(m, "vision", &e));
    cr_assert_eq(e.nusers, 3);
    cr_assert_str_eq(e.users[0], "alice");
    cr_assert_str_eq(e.users[1], "bob");
    cr_assert_str_eq(e.users[2], "carol");
    cr_assert_eq(e.ngroups, 1);
    cr_assert_str_eq(e.groups[0], "ml");
    cr_assert(e.is_default);
    cr_assert(members_get(m, "nlp", &e));
    cr_assert_eq(e.nusers, 1);
    cr_assert_not(e.is_default);
    /* a delete, committed */
    cr_assert_eq(members_delete(m, "nlp", &err), 0);
    cr_assert_eq(journal_commit(j, &err), 0);
    members_close(m);
    journal_close(j);
    j = open_journal();
    cr_assert_eq(members_open(j, &m, &err), 0, "%s", err.text);
    cr_assert_not(members_get(m, "nlp", &e));
    cr_assert(members_get(m, "vision", &e));
    members_close(m);
    journal_close(j);
}

/* "ml" is the group of the user being charged */
static bool in_ml(const char *group, void *arg)
{
    (void)arg;
    return !strcmp(group, "ml");
}

/* charge user (asked, admin): the code, and the account or the reason */
static int charge(members_t *m, const char *user, const char *asked, bool admin, char out[1024])
{
    static char why[1024];
    out[0] = why[0] = '\0';
    int rc = members_charge(m, user, in_ml, NULL, asked, admin, out, 1024, why, sizeof(why));
    if (rc < 0)
        memcpy(out, why, sizeof(why));
    return rc;
}

Test(members, charging_rules, .init = setup, .fini = teardown)
{
    journal_t *j = open_journal();
    members_t *m = NULL;
    cairn_error_t err = {{0}};
    cr_assert_eq(members_open(j, &m, &err), 0, "%s", err.text);
    char out[1024];
    /* no account: the built-in default; it may be named */
    cr_assert_eq(charge(m, "alice", NULL, false, out), 0);
    cr_assert_str_eq(out, "default");
    cr_assert_eq(charge(m, "alice", "default", false, out), 0);
    cr_assert_str_eq(out, "default");
    cr_assert_eq(charge(m, "alice", "vision", false, out), -EACCES);
    cr_assert_str_eq(out, "alice may not charge account vision: no such account (alice is a "
                          "member of no account: leave account: out)");

    /* one account: it */
    put(m, "nlp", "alice", NULL, NULL, false);
    put(m, "vision", "bob", NULL, NULL, false);
    cr_assert_eq(charge(m, "alice", "", false, out), 0);
    cr_assert_str_eq(out, "nlp");
    cr_assert_eq(charge(m, "alice", "vision", false, out), -EACCES);
    cr_assert_str_eq(out, "alice may not charge account vision: not a member (alice's accounts: "
                          "nlp)");
    cr_assert_eq(charge(m, "alice", "default", false, out), -EACCES);
    cr_assert_str_eq(out, "alice may not charge account default: it is for users of no account "
                          "(alice's accounts: nlp)");
    /* an administrator may name any */
    cr_assert_eq(charge(m, "alice", "vision", true, out), 0);
    cr_assert_str_eq(out, "vision");

    /* two, through a group too: none default, then one, then two */
    put(m, "speech", NULL, NULL, "ml", false);
    cr_assert_eq(charge(m, "alice", NULL, false, out), -EINVAL);
    cr_assert_str_eq(out, "alice belongs to 2 accounts and none is their default: name one with "
                          "account: in the spec (alice's accounts: nlp, speech)");
    cr_assert_eq(charge(m, "alice", "speech", false, out), 0);
    cr_assert_str_eq(out, "speech");
    put(m, "speech", NULL, NULL, "ml", true);
    cr_assert_eq(charge(m, "alice", NULL, false, out), 0);
    cr_assert_str_eq(out, "speech");
    put(m, "nlp", "alice", NULL, NULL, true);
    cr_assert_eq(charge(m, "alice", NULL, false, out), -EINVAL);
    cr_assert_str_eq(out, "alice has 2 default accounts (nlp, speech): name one with account: in "
                          "the spec (alice's accounts: nlp, speech)");
    /* bob: vision alone, once speech is for another group */
    put(m, "speech", NULL, NULL, "audio", true);
    cr_assert_eq(charge(m, "bob", NULL, false, out), 0);
    cr_assert_str_eq(out, "vision");
    members_close(m);
    journal_close(j);
}
