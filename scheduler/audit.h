/* The audit trail: every action that changes something (submit, cancel,
 * drain, undrain, node join and loss, configuration) with who, when and
 * what, in the journal's database and committed with the change itself.
 * Entries are hash-chained: each entry's hash covers the previous entry's
 * hash and all its own fields, so editing, inserting or deleting an entry
 * breaks the chain from there on (deleting the newest ones is caught
 * against a head recorded earlier: audit_verify's expect_head). */
#ifndef CAIRN_SCHEDULER_AUDIT_H
#define CAIRN_SCHEDULER_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "scheduler/journal.h"

#define AUDIT_HASH_HEX 65 /* 64 hex digits and a NUL */

typedef struct audit audit_t;

typedef struct audit_entry {
    uint64_t seq; /* 1, 2, ... */
    int64_t time_ms;
    const char *user, *action, *target, *detail;
    char prev[AUDIT_HASH_HEX], hash[AUDIT_HASH_HEX];
} audit_entry_t;

/* Open the trail in j's database (creating its table). */
int audit_open(journal_t *j, audit_t **out, cairn_error_t *err);
void audit_close(audit_t *a);
/* Re-read the head (after the journal's transaction was rolled back). */
int audit_reload(audit_t *a, cairn_error_t *err);

/* Append an entry in the journal's current transaction. */
int audit_append(audit_t *a, int64_t time_ms, const char *user, const char *action,
                 const char *target, const char *detail, cairn_error_t *err);

/* The newest entry's hash ("" when empty) and count. */
const char *audit_head(const audit_t *a);
uint64_t audit_count(const audit_t *a);

/* Entries in seq order from time since_ms, by user when user is non-NULL
 * and non-empty; cb returns non-zero to stop. With limit > 0, the newest
 * limit of them (still in seq order). */
typedef int (*audit_entry_f)(const audit_entry_t *e, void *arg);
int audit_list(audit_t *a, int64_t since_ms, const char *user, uint64_t limit, audit_entry_f cb,
               void *arg, cairn_error_t *err);

typedef struct audit_check {
    bool ok;
    uint64_t count;
    char head[AUDIT_HASH_HEX];
    uint64_t bad_seq; /* first entry that does not verify, 0 if none */
    char problem[256];
} audit_check_t;

/* Walk the whole chain. expect_head (may be NULL or ""): a head recorded
 * earlier, which must still be in the chain. */
int audit_verify(audit_t *a, const char *expect_head, audit_check_t *out, cairn_error_t *err);

/* The entry's hash from its fields (exposed for tests). */
void audit_entry_hash(const audit_entry_t *e, char out[AUDIT_HASH_HEX]);

#endif
