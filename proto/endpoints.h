/* A list of scheduler endpoints ("ipc:///a.sock,tcp://b:7000"), as given
 * to --scheduler and $CAIRN_SCHEDULER: the client and the worker try them
 * in order, move to the next when one cannot be reached, and follow a
 * standby's answer to the leader (ErrorReply.leader, RegisterReply.leader:
 * its endpoints first, then the ones known before that it does not name).
 * Plain data, libc only; the caller does the networking. */
#ifndef CAIRN_PROTO_ENDPOINTS_H
#define CAIRN_PROTO_ENDPOINTS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

/* At most this many endpoints are kept; a longer list is refused, and
 * following a leader drops the oldest beyond it. */
#define CAIRN_ENDPOINTS_MAX 16

typedef struct cairn_endpoints {
    char *urls[CAIRN_ENDPOINTS_MAX];
    size_t n;
    size_t cur; /* the endpoint in use */
} cairn_endpoints_t;

/* Parse list (comma-separated, blanks around each ignored, empty items
 * skipped) into e, the first current. 0, or -EINVAL (no endpoint, too
 * many) or -ENOMEM with err; e is empty then. Free with
 * cairn_endpoints_fini. */
int cairn_endpoints_parse(cairn_endpoints_t *e, const char *list, cairn_error_t *err);

/* A standby named the leader's endpoints (leader, comma-separated, not
 * empty): they come first, in their order, then the others of e; the
 * leader's first becomes current. 0, or -EINVAL (nothing in leader) or
 * -ENOMEM with err: e is unchanged then. */
int cairn_endpoints_follow(cairn_endpoints_t *e, const char *leader, cairn_error_t *err);

/* The current endpoint (never NULL once parsed). */
const char *cairn_endpoints_current(const cairn_endpoints_t *e);

/* Make the next endpoint current, after the last the first again.
 * Returns true when it went round to the first. */
bool cairn_endpoints_next(cairn_endpoints_t *e);

/* "A, B, C" (all of them, in order) into buf, truncated to len; buf is
 * returned. For messages that name the endpoints tried. */
const char *cairn_endpoints_text(const cairn_endpoints_t *e, char *buf, size_t len);

/* Whether url is a network endpoint that nothing on the wire authenticates
 * (tcp://, ws://... without TLS): a worker takes work from one only with a
 * join key or when told to (--insecure). ipc:// and tls+ are not. */
bool cairn_endpoint_plain_network(const char *url);

/* Free what e holds; e is empty afterwards. */
void cairn_endpoints_fini(cairn_endpoints_t *e);

#endif
