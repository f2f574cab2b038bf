/* Endpoint watchdog. nng 1.5.2 (Debian 12) can wedge a listening socket
 * when a peer connects and drops during the SP handshake (a port scan, a
 * health check; nng issue #1518): connections are still accepted but no
 * message gets through any more. The watchdog sends a real request through
 * each endpoint every period, as a client or worker would; when no answer
 * comes for WATCHDOG_MISSES periods the daemon recreates the endpoint (its
 * peers reconnect by themselves). */
#ifndef CAIRN_SCHEDULER_WATCHDOG_H
#define CAIRN_SCHEDULER_WATCHDOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/net.h"

#define WATCHDOG_MISSES 5

typedef struct watchdog watchdog_t;

/* Watch the endpoint at url: a pair1 worker endpoint (pair = true, probed
 * with a Heartbeat) or a req/rep client endpoint (probed with ListJobs). A
 * tls+tcp:// endpoint is probed with tls's certificate (the peer's is not
 * checked: only the answer counts); the strings are copied. */
watchdog_t *watchdog_create(const char *url, bool pair, const cairn_tls_t *tls);

/* One period. Returns true when the endpoint has not answered for
 * WATCHDOG_MISSES periods and should be recreated (the count restarts).
 * backlog: the messages the daemon's endpoint has queued for nng
 * (cairn_net_backlog), which the probe's answer would follow; while any
 * wait (a big pass's assignments to thousands of nodes take seconds to
 * go), a period without an answer says nothing and is not a miss. */
bool watchdog_tick(watchdog_t *w, size_t backlog);

/* Why the endpoint cannot be probed end to end (NULL: it can): a
 * tls+tcp:// endpoint that requires client certificates (a CA) while the
 * daemon's own certificate is a server's only. Such a watchdog never asks
 * for the endpoint to be recreated: a probe that cannot pass the handshake
 * says nothing of the endpoint. */
const char *watchdog_blind(const watchdog_t *w);

void watchdog_destroy(watchdog_t *w);

#endif
