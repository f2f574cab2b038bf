/* The endpoint watchdog (scheduler/watchdog.h): a probe that cannot pass a
 * tls+tcp:// handshake says nothing of the endpoint, and must not get the
 * endpoints reopened (which drops every worker) every few seconds. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <string.h>

#include "certs.h"
#include "scheduler/watchdog.h"

TestSuite(watchdog, .init = certs_init, .fini = certs_fini);

/* Nothing listens on port 1: a probe never gets an answer. */
#define NOWHERE "tls+tcp://127.0.0.1:1"

Test(watchdog, a_server_only_certificate_cannot_probe_a_verifying_endpoint)
{
    certs_ca("ca");
    certs_make("server", "/CN=127.0.0.1", "ca", "extendedKeyUsage=serverAuth");
    cairn_tls_t tls = {.cert_key = certs_path("server.both"), .ca = certs_path("ca.pem")};
    watchdog_t *w = watchdog_create(NOWHERE, true, &tls);
    cr_assert_not_null(w);
    const char *why = watchdog_blind(w);
    cr_assert_not_null(why, "a server's certificate cannot be a client's");
    cr_expect(strstr(why, "lacks clientAuth") != NULL, "%s", why);
    for (int i = 0; i < 3 * WATCHDOG_MISSES; i++)
        cr_assert(!watchdog_tick(w, 0), "tick %d asked to reopen the endpoint", i);
    watchdog_destroy(w);
}

Test(watchdog, an_endpoint_that_does_not_answer_is_reopened)
{
    certs_ca("ca");
    certs_make("both", "/CN=127.0.0.1", "ca", "extendedKeyUsage=serverAuth,clientAuth");
    cairn_tls_t tls = {.cert_key = certs_path("both.both"), .ca = certs_path("ca.pem")};
    watchdog_t *w = watchdog_create(NOWHERE, true, &tls);
    cr_assert_not_null(w);
    cr_assert_null(watchdog_blind(w));
    bool reopen = false;
    for (int i = 0; i < WATCHDOG_MISSES && !reopen; i++)
        reopen = watchdog_tick(w, 0);
    cr_expect(reopen, "no answer for %d periods: reopen", WATCHDOG_MISSES);
    watchdog_destroy(w);
}

/* A big pass queues assignments for thousands of nodes, and the probe's
 * answer goes out after them: with 5,000 simulated nodes a 100,000-task
 * job took the workers' endpoint over five periods to drain, and the
 * endpoints were reopened, dropping every node (tests/bench/bench_nodes). */
Test(watchdog, no_answer_behind_a_backlog_is_not_a_miss)
{
    certs_ca("ca");
    certs_make("both", "/CN=127.0.0.1", "ca", "extendedKeyUsage=serverAuth,clientAuth");
    cairn_tls_t tls = {.cert_key = certs_path("both.both"), .ca = certs_path("ca.pem")};
    watchdog_t *w = watchdog_create(NOWHERE, true, &tls);
    cr_assert_not_null(w);
    for (int i = 0; i < 3 * WATCHDOG_MISSES; i++)
        cr_assert(!watchdog_tick(w, 80000), "tick %d behind a backlog asked to reopen", i);
    bool reopen = false;
    for (int i = 0; i < WATCHDOG_MISSES && !reopen; i++)
        reopen = watchdog_tick(w, 0);
    cr_expect(reopen, "the backlog drained, still no answer for %d periods: reopen",
              WATCHDOG_MISSES);
    watchdog_destroy(w);
}
