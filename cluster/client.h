/* A blocking client for the scheduler's client endpoint (req/rep): one
 * request, one reply, with a timeout. Used by the cairn CLI and by tests. */
#ifndef CAIRN_CLUSTER_CLIENT_H
#define CAIRN_CLUSTER_CLIENT_H

#include <stdint.h>

#include "proto/envelope.h"

typedef struct cairn_client cairn_client_t;

/* Connect to url (ipc://, tcp:// or tls+tcp://), or to a comma-separated
 * list of a leader's and its standbys' endpoints (proto/endpoints.h). The
 * connection is made lazily by nng; calls fail with -ETIMEDOUT when
 * nothing answers within timeout_ms. -EINVAL: no endpoint, or the first
 * cannot be dialed (err says why). */
int cairn_client_create(const char *url, int64_t timeout_ms, cairn_client_t **out,
                        cairn_error_t *err);
void cairn_client_destroy(cairn_client_t *c);

/* Resend a request that got no answer after ms (<= 0: never). Only for
 * requests that are safe to repeat (reads): it rides over a scheduler
 * endpoint that was reopened (see scheduler/watchdog.h). */
void cairn_client_set_resend(cairn_client_t *c, int64_t ms);

/* Whether a request only reads, so may be sent again (resend): everything
 * but a submit, cancel, drain, node removal or account change. */
bool cairn_client_is_read(cairn_msg_type_t type, const ProtobufCMessage *req);

/* Reads of history (a page of records, the audit chain's check) run on the
 * scheduler's reader thread and may take seconds. */
bool cairn_client_is_heavy(cairn_msg_type_t type);

/* How long a call waits for its answer (the open's timeout until set). */
void cairn_client_set_timeout(cairn_client_t *c, int64_t ms);

/* Send req of type and wait for the reply. On success *reply (free with
 * cairn_msg_free) has type want; an ErrorReply from the scheduler is turned
 * into a negative code with its message in err (-ENOENT for not found,
 * -EACCES for permission denied, -EINVAL for bad requests, -EAGAIN when
 * unavailable, -EIO otherwise).
 *
 * A standby's NOT_LEADER answer (it did nothing) sends the request again
 * to the leader it names, at most 4 times per call; the client then stays
 * with that leader. With several endpoints, one that takes no connection
 * within a second (or whose ipc socket is missing) is skipped before
 * anything is sent to it. While none leads or none can be reached, rounds
 * over the list are repeated after 100 ms doubling to 1 s until the
 * timeout: then -ETIMEDOUT with err naming each endpoint tried and what it
 * said. A request that was sent and got no answer is never sent elsewhere
 * (its fate is unknown): -ETIMEDOUT or -EIO as with one endpoint. */
int cairn_client_call(cairn_client_t *c, cairn_msg_type_t type, const ProtobufCMessage *req,
                      cairn_msg_type_t want, ProtobufCMessage **reply, cairn_error_t *err);

#endif
