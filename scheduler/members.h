/* Who may charge each account: its users, its groups and whether it is its
 * members' default (AccountSet, proto/client.proto). Placement does not
 * depend on them, so they are not core state: they live in a table of
 * journal.db, written in the transaction of the account's core event
 * (SCHED_EV_ACCOUNT_SET / _DELETE, batch.c), so the two are true together;
 * snapshots and their pruning never touch it. Kept in memory too (sorted
 * by account name), and reloaded after a rollback.
 *
 * The charging rules of a submit (members_charge) are here as well: which
 * account a user's job goes to, or why it may not. */
#ifndef CAIRN_SCHEDULER_MEMBERS_H
#define CAIRN_SCHEDULER_MEMBERS_H

#include <stdbool.h>
#include <stddef.h>

#include "scheduler/journal.h"

typedef struct members members_t;

/* One account's members (valid until the next change of m). */
typedef struct members_entry {
    const char *account;
    const char *const *users; /* sorted, no duplicates */
    size_t nusers;
    const char *const *groups; /* sorted, no duplicates, names without '@' */
    size_t ngroups;
    bool is_default;
} members_entry_t;

/* On the daemon's journal: creates the table if needed and loads it. */
int members_open(journal_t *j, members_t **out, cairn_error_t *err);
/* NULL is a no-op. */
void members_close(members_t *m);
/* After a rollback: load the table again (what memory had is dropped). */
int members_reload(members_t *m, cairn_error_t *err);

/* Account's members; false (and *out with none) when it has no row. */
bool members_get(const members_t *m, const char *account, members_entry_t *out);
/* Set account's members (users and groups are copied, sorted and made
 * unique), in the journal's open transaction (opening one). 0, -ENOMEM, or
 * -EIO (nothing changed in memory). */
int members_put(members_t *m, const char *account, const char *const *users, size_t nusers,
                const char *const *groups, size_t ngroups, bool is_default, cairn_error_t *err);
/* Forget account's row (none: 0), in the open transaction. */
int members_delete(members_t *m, const char *account, cairn_error_t *err);

/* Whether the user being charged belongs to group (access.h). */
typedef bool (*members_group_f)(const char *group, void *arg);

/* Which account a job of user goes to. asked: the spec's `account:` (NULL
 * or "": none). A user's accounts are those listing them, or one of their
 * groups (in_group); admin: may name any account (the core then checks it
 * exists). Without asked: the user's only account, or the one of theirs
 * marked default, else the built-in "default" (for users of no account).
 * 0 and the account in out (n bytes); -EACCES: not theirs to charge
 * (unknown, not a member, or "default" for a user with accounts); -EINVAL:
 * several accounts and not one default: the spec must name one. why (wn
 * bytes) says which and lists the user's accounts. -ENOMEM. */
int members_charge(const members_t *m, const char *user, members_group_f in_group, void *arg,
                   const char *asked, bool admin, char *out, size_t n, char *why, size_t wn);

#endif
