/* Redialing a dialer nng gave up on (proto/redial.c): the pure watch; a
 * live dialer retrying a missing peer is left alone; a dialer whose
 * attempt never ends (a TCP connect into a full backlog: no counter
 * moves, as with nng 1.5.2's dead dialers) is replaced and then connects;
 * a closed dialer is replaced. Also: nng 1.5.2's nng_stat_find_dialer()
 * finds the wrong dialer (criterion's own, here), which the first tests
 * catch. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/supplemental/util/platform.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "leak_check.h"
#include "proto/net.h"

const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:nng_msg_alloc\n";
}

/* pair1 drops what was queued to a pipe that closes: resend until one
 * message gets through (the dialer connected for real), with a deadline. */
static void expect_delivery(nng_socket s, nng_socket srv, cairn_dial_t *d)
{
    nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 200);
    nng_socket_set_ms(srv, NNG_OPT_RECVTIMEO, 200);
    int64_t deadline = cairn_mono_ms() + 15000;
    for (;;) {
        cairn_error_t err = {{0}};
        cr_assert_geq(cairn_dial_check(d, cairn_mono_ms(), &err), 0, "%s", err.text);
        char *buf = NULL;
        size_t len = 0;
        if (nng_send(s, "hi", 3, 0) == 0 && nng_recv(srv, &buf, &len, NNG_FLAG_ALLOC) == 0) {
            cr_expect_str_eq(buf, "hi");
            nng_free(buf, len);
            return;
        }
        cr_assert_lt(cairn_mono_ms(), deadline, "never connected after the redial");
    }
}

Test(redial, watch_is_quiet_only_without_pipe_and_progress)
{
    cairn_dial_watch_t w;
    cairn_dial_watch_init(&w, 0);
    cr_expect_not(cairn_dial_watch_step(&w, false, 5, 0, 100), "first look only learns");
    cr_expect_not(cairn_dial_watch_step(&w, false, 5, 99, 100));
    cr_expect(cairn_dial_watch_step(&w, false, 5, 100, 100), "quiet for the window");
    cr_expect_not(cairn_dial_watch_step(&w, false, 6, 150, 100), "an attempt ended");
    cr_expect_not(cairn_dial_watch_step(&w, false, 6, 249, 100));
    cr_expect(cairn_dial_watch_step(&w, false, 6, 250, 100));
    cr_expect_not(cairn_dial_watch_step(&w, true, 6, 400, 100), "connected");
    cr_expect_not(cairn_dial_watch_step(&w, false, 6, 499, 100));
    cr_expect(cairn_dial_watch_step(&w, false, 6, 500, 100));
}

/* Dials an ipc path nobody listens on: the refusals keep the counters
 * moving, so two whole windows pass without a redial. */
Test(redial, a_retrying_dialer_is_left_alone)
{
    char url[128];
    snprintf(url, sizeof(url), "ipc:///tmp/cairn-redial-none-%d.sock", (int)getpid());
    nng_socket s;
    cr_assert_eq(nng_pair1_open(&s), 0);
    cairn_dial_t d;
    cairn_error_t err = {{0}};
    cr_assert_eq(cairn_dial_start(&d, s, url, NULL, 10, 20, &err), 0, "%s", err.text);
    int64_t window = 2 * 20 + 1000, end = cairn_mono_ms() + 2 * window + 200;
    while (cairn_mono_ms() < end) {
        cr_assert_eq(cairn_dial_check(&d, cairn_mono_ms(), &err), 0, "replaced a live dialer");
        nng_msleep(50); /* a look every 50 ms, as a daemon's timer would */
    }
    cr_expect_eq(d.redials, 0);
    nng_close(s);
    cairn_dial_fini(&d);
}

/* A TCP listener with a full backlog drops SYNs: a connect to it stays in
 * SYN-SENT and the dialer's counters stop, like a dialer nng gave up on. */
Test(redial, a_stuck_dialer_is_replaced_and_connects)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
    cr_assert_eq(listen(lfd, 0), 0);
    /* fill the backlog (0 admits one) */
    int fill[2];
    for (int i = 0; i < 2; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fill[i], (struct sockaddr *)&a, sizeof(a));
    }
    char url[64];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", ntohs(a.sin_port));
    nng_socket s;
    cr_assert_eq(nng_pair1_open(&s), 0);
    cairn_dial_t d;
    cairn_error_t err = {{0}};
    cr_assert_eq(cairn_dial_start(&d, s, url, NULL, 10, 20, &err), 0, "%s", err.text);
    int64_t deadline = cairn_mono_ms() + 10000;
    while (d.redials == 0) {
        cr_assert_geq(cairn_dial_check(&d, cairn_mono_ms(), &err), 0, "%s", err.text);
        cr_assert_lt(cairn_mono_ms(), deadline, "the stuck dialer was never replaced");
        nng_msleep(50);
    }
    /* the peer comes up for real on that port */
    close(fill[0]);
    close(fill[1]);
    close(lfd);
    nng_socket srv;
    cr_assert_eq(nng_pair1_open(&srv), 0);
    char lurl[64];
    snprintf(lurl, sizeof(lurl), "tcp://127.0.0.1:%d", ntohs(a.sin_port));
    cr_assert_eq(nng_listen(srv, lurl, NULL, 0), 0);
    expect_delivery(s, srv, &d);
    nng_close(s);
    nng_close(srv);
    cairn_dial_fini(&d);
}

/* A dialer closed under the watch (gone from nng's statistics) is replaced
 * at the next look, and the new one connects. */
Test(redial, a_closed_dialer_is_replaced)
{
    char url[128];
    snprintf(url, sizeof(url), "ipc:///tmp/cairn-redial-%d.sock", (int)getpid());
    nng_socket srv, s;
    cr_assert_eq(nng_pair1_open(&s), 0);
    cairn_dial_t d;
    cairn_error_t err = {{0}};
    cr_assert_eq(cairn_dial_start(&d, s, url, NULL, 10, 20, &err), 0, "%s", err.text);
    cr_assert_eq(nng_dialer_close(d.dialer), 0); /* before it had a pipe, as a dead one */
    cr_assert_eq(nng_pair1_open(&srv), 0);
    cr_assert_eq(nng_listen(srv, url, NULL, 0), 0);
    /* its statistics may outlive it a while; then they stand still */
    int64_t deadline = cairn_mono_ms() + 10000;
    while (d.redials == 0) {
        cr_assert_geq(cairn_dial_check(&d, cairn_mono_ms(), &err), 0, "%s", err.text);
        cr_assert_lt(cairn_mono_ms(), deadline, "the closed dialer was never replaced");
        nng_msleep(50);
    }
    cr_expect_eq(d.redials, 1);
    expect_delivery(s, srv, &d);
    nng_close(s);
    nng_close(srv);
    cairn_dial_fini(&d);
}

Test(redial, bad_urls_are_named)
{
    nng_socket s;
    cr_assert_eq(nng_pair1_open(&s), 0);
    cairn_dial_t d;
    cairn_error_t err = {{0}};
    cr_expect_lt(cairn_dial_start(&d, s, "nosuch://x", NULL, 10, 20, &err), 0);
    cr_expect(strstr(err.text, "nosuch://x") != NULL, "%s", err.text);
    nng_close(s);
}
