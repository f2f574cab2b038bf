/* Inbound limits by authentication; see net.h (cairn_net_set_auth). The
 * pipes cairn_net_pipe_authenticate() raised are kept as sorted ids. */
#include <errno.h>
#include <string.h>

#include "common/grow.h"
#include "common/search.h"
#include "proto/net_private.h"

static uint64_t authed_key(const void *elem)
{
    return *(const uint32_t *)elem;
}

static size_t authed_lower(const cairn_net_t *n, uint32_t id)
{
    return cairn_lower_bound(n->authed, n->nauthed, sizeof(*n->authed), id, authed_key);
}

void net_authed_drop(cairn_net_t *n, uint32_t id)
{
    size_t i = authed_lower(n, id);
    if (i < n->nauthed && n->authed[i] == id) {
        memmove(n->authed + i, n->authed + i + 1, (n->nauthed - i - 1) * sizeof(*n->authed));
        n->nauthed--;
    }
}

/* The kernel vouches for an ipc:// peer's uid; TLS for a peer whose
 * certificate it verified against the CA. */
static bool transport_vouches(nng_pipe p)
{
    uint64_t uid = 0;
    bool verified = false;
    if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_UID, &uid) == 0)
        return true;
    return nng_pipe_get_bool(p, NNG_OPT_TLS_VERIFIED, &verified) == 0 && verified;
}

bool net_pipe_authed(const cairn_net_t *n, nng_pipe p)
{
    return n->auth == CAIRN_NET_AUTH_NONE ||
           cairn_find_sorted(n->authed, n->nauthed, sizeof(*n->authed), (uint32_t)nng_pipe_id(p),
                             authed_key) != NULL ||
           (n->auth == CAIRN_NET_AUTH_TRANSPORT && transport_vouches(p));
}

size_t cairn_net_pipe_max(const cairn_net_t *n, nng_pipe p)
{
    return net_pipe_authed(n, p) ? n->max_msg : n->preauth_max;
}

void cairn_net_set_auth(cairn_net_t *n, cairn_net_auth_t auth, size_t preauth_max)
{
    n->auth = auth;
    if (preauth_max == 0)
        preauth_max = CAIRN_MSG_PREAUTH_MAX;
    n->preauth_max = preauth_max < n->max_msg ? preauth_max : n->max_msg;
}

int cairn_net_pipe_authenticate(cairn_net_t *n, nng_pipe p, cairn_error_t *err)
{
    if (nng_pipe_id(p) <= 0)
        return errcode(err, -EINVAL, "no pipe to authenticate");
    uint32_t id = (uint32_t)nng_pipe_id(p);
    /* a pipe already closed would stay in the table: its removal is past */
    if (nng_socket_id(nng_pipe_socket(p)) != nng_socket_id(n->sock))
        return errcode(err, -ENOTCONN, "pipe %u is closed", id);
    size_t i = authed_lower(n, id);
    if (i < n->nauthed && n->authed[i] == id)
        return 0;
    if (CAIRN_GROW(n->authed, n->authed_cap, n->nauthed + 1) < 0)
        return errcode(err, -ENOMEM, "out of memory");
    memmove(n->authed + i + 1, n->authed + i, (n->nauthed - i) * sizeof(*n->authed));
    n->authed[i] = id;
    n->nauthed++;
    return 0;
}
