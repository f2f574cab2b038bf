/* What the scheduler sends, held until the commit that makes it true.
 *
 * While a batch is open (journal entries not committed yet), replies and
 * messages wait here; after the commit they go out in the order they were
 * written, then the assignments and cancels the batch decided. When the
 * commit fails nothing of the batch goes out, and each client it would
 * have answered is told that nothing was changed. With no batch open a
 * message goes out at once. */
#ifndef CAIRN_SCHEDULER_OUTBOX_H
#define CAIRN_SCHEDULER_OUTBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "common/log.h"
#include "proto/net.h"
#include "scheduler/journal.h"

typedef struct outbox outbox_t;

/* After a commit: deliver attempt to node (UINT32_MAX: to each of its
 * nodes); signal attempt to stop. */
typedef void (*outbox_assign_f)(void *arg, uint64_t attempt, uint32_t node);
typedef void (*outbox_cancel_f)(void *arg, uint64_t attempt);

/* An outbox for the batches of journal j. -ENOMEM. */
int outbox_create(journal_t *j, cairn_log_t *log, outbox_t **out);
void outbox_destroy(outbox_t *ob);

/* The endpoints messages go out on (NULL, NULL while they are reopened:
 * what waits is dropped, as it was addressed to the old sockets). */
void outbox_set_nets(outbox_t *ob, cairn_net_t *workers, cairn_net_t *clients);

/* A reply to a client; when it waits for a commit, the client is told if
 * the commit fails. */
void outbox_to_client(outbox_t *ob, const cairn_peer_t *to, cairn_msg_type_t type,
                      const ProtobufCMessage *msg);
/* A message to a worker. lazy: it needs to arrive only eventually
 * (acknowledgements), so it rides the next message to that worker
 * (cairn_net_send_raw_lazy). */
void outbox_to_worker(outbox_t *ob, const cairn_peer_t *to, cairn_msg_type_t type,
                      const ProtobufCMessage *msg, bool lazy);

/* How many clients the batch answers (their replies wait for its commit). */
size_t outbox_clients(const outbox_t *ob);

/* Deliver attempt to node (UINT32_MAX: to each of its nodes), or signal
 * it to stop, once the batch is committed: 0 or -ENOMEM. */
int outbox_assign(outbox_t *ob, uint64_t attempt, uint32_t node);
int outbox_cancel(outbox_t *ob, uint64_t attempt);

/* The batch is committed (or nothing was pending): send what waited, then
 * hand over the assignments and cancels. */
void outbox_flush(outbox_t *ob, outbox_assign_f assign, outbox_cancel_f cancel, void *arg);

/* The batch failed: drop what waited, and tell each client it would have
 * answered why (UNAVAILABLE: "<why>; nothing was changed, try again
 * later"). */
void outbox_drop(outbox_t *ob, const char *why);

#endif
