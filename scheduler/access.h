/* Who sent a client request, and what they may do.
 *
 * On ipc:// a request comes from the peer's Unix uid, which the kernel
 * vouches for (SO_PEERCRED, NNG_OPT_IPC_PEER_UID), resolved to a user name;
 * on tls+tcp:// from the subject CN of the client certificate that signed
 * it (a SignedRequest, checked before the request is handled); otherwise
 * from "anonymous". Administrators (uid 0, the scheduler's own uid, the
 * users and @groups of --admins) may act on every job and drain nodes;
 * other users only on their own jobs; anonymous clients may only read
 * (status, list, nodes, explain) unless --allow-anonymous-writes.
 * Anonymous clients' jobs are recorded as "anonymous": an authenticated
 * user of that name (a local account, a certificate's CN) owns none of
 * them and may not submit (access_owns). */
#ifndef CAIRN_SCHEDULER_ACCESS_H
#define CAIRN_SCHEDULER_ACCESS_H

#include <nng/nng.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The name unauthenticated clients' jobs are recorded under. */
#define ACCESS_ANONYMOUS "anonymous"

/* Who sent a request. */
typedef struct client_id {
    char name[256];
    bool anonymous;
    bool has_uid;
    uid_t uid;
} client_id_t;

/* Who is on pipe: its uid's user on ipc://, else signed_user (the CN of
 * a verified signed request; NULL for none), else anonymous. */
void access_identify(nng_pipe pipe, const char *signed_user, client_id_t *id);

/* Whether owner (a job's or audit entry's user) is id: the same name, and
 * "anonymous" only for an unauthenticated client, never for a user of that
 * name. */
bool access_owns(const client_id_t *id, const char *owner);

/* Whether the user id names belongs to group (its primary group, or a
 * member in the group's list): how --admins resolves @groups, and account
 * membership through a group (members.h). Never for anonymous clients. */
bool access_in_group(const client_id_t *id, const char *group);

/* Root, the scheduler's own user, or listed in admins (--admins: names,
 * uids and @groups, separated by commas; NULL or "": none). */
bool access_is_admin(const char *admins, const client_id_t *id);

#endif
