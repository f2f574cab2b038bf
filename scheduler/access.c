/* Who sent a client request, and what they may do; see access.h. */
#include "scheduler/access.h"

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* A uid's user name, or the number when it has none. Kept in a small
 * cache (the loop thread's only): name service lookups are not free and
 * requests are many. */
static void uid_name(uid_t uid, char *name, size_t n)
{
    static struct {
        uid_t uid;
        char name[256];
        bool used;
    } cache[16];
    static unsigned next;
    for (size_t i = 0; i < sizeof(cache) / sizeof(cache[0]); i++)
        if (cache[i].used && cache[i].uid == uid) {
            snprintf(name, n, "%s", cache[i].name);
            return;
        }
    struct passwd pw, *res = NULL;
    char buf[16384];
    if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res && res->pw_name && *res->pw_name)
        snprintf(name, n, "%s", res->pw_name);
    else
        snprintf(name, n, "%u", (unsigned)uid);
    unsigned k = next++ % (sizeof(cache) / sizeof(cache[0]));
    cache[k].uid = uid;
    cache[k].used = true;
    snprintf(cache[k].name, sizeof(cache[k].name), "%s", name);
}

void access_identify(nng_pipe pipe, const char *signed_user, client_id_t *id)
{
    memset(id, 0, sizeof(*id));
    uint64_t uid = 0;
    if (nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_UID, &uid) == 0) {
        id->has_uid = true;
        id->uid = (uid_t)uid;
        uid_name(id->uid, id->name, sizeof(id->name));
    } else if (signed_user) {
        /* named by its certificate (a verified signed request) */
        snprintf(id->name, sizeof(id->name), "%s", signed_user);
    } else {
        id->anonymous = true;
        snprintf(id->name, sizeof(id->name), "%s", ACCESS_ANONYMOUS);
    }
}

bool access_owns(const client_id_t *id, const char *owner)
{
    return !strcmp(owner, id->name) && id->anonymous == !strcmp(owner, ACCESS_ANONYMOUS);
}

/* Whether user (primary group gid when known) belongs to group. */
static bool in_group(const char *group, const char *user, bool has_gid, gid_t gid)
{
    struct group gr, *res = NULL;
    char buf[65536];
    if (getgrnam_r(group, &gr, buf, sizeof(buf), &res) != 0 || !res)
        return false;
    if (has_gid && res->gr_gid == gid)
        return true;
    for (char **m = res->gr_mem; m && *m; m++)
        if (!strcmp(*m, user))
            return true;
    return false;
}

/* The primary group of the user id names, into *gid: false when the
 * name service does not know the user. */
static bool primary_gid(const client_id_t *id, gid_t *gid)
{
    struct passwd pw, *res = NULL;
    char buf[16384];
    if (getpwnam_r(id->name, &pw, buf, sizeof(buf), &res) != 0 || !res)
        return false;
    *gid = res->pw_gid;
    return true;
}

bool access_in_group(const client_id_t *id, const char *group)
{
    if (id->anonymous)
        return false;
    gid_t gid = 0;
    bool has_gid = primary_gid(id, &gid);
    return in_group(group, id->name, has_gid, gid);
}

bool access_is_admin(const char *admins, const client_id_t *id)
{
    if (id->anonymous)
        return false;
    if (id->has_uid && (id->uid == 0 || id->uid == geteuid()))
        return true;
    if (!admins || !*admins)
        return false;
    bool has_gid = false, looked = false;
    gid_t gid = 0;
    char uidstr[32];
    snprintf(uidstr, sizeof(uidstr), "%u", (unsigned)id->uid);
    for (const char *p = admins; *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        char item[256];
        snprintf(item, sizeof(item), "%.*s", (int)(len < 255 ? len : 255), p);
        p += len;
        for (size_t l = strlen(item); l && (item[l - 1] == ' ' || item[l - 1] == '\t');)
            item[--l] = '\0';
        if (!item[0])
            continue;
        if (item[0] != '@') {
            if (!strcmp(item, id->name) || (id->has_uid && !strcmp(item, uidstr)))
                return true;
            continue;
        }
        if (!looked) { /* the user's primary group, once */
            looked = true;
            has_gid = primary_gid(id, &gid);
        }
        if (in_group(item + 1, id->name, has_gid, gid))
            return true;
    }
    return false;
}
