/* Scheduler endpoint lists (proto/endpoints.h): parsing, following a
 * standby's leader, going round, and the text that names them. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>

#include "proto/endpoints.h"

static const char *text(const cairn_endpoints_t *e)
{
    static char buf[512];
    return cairn_endpoints_text(e, buf, sizeof(buf));
}

Test(endpoints, parse_trims_and_skips_empty_items)
{
    cairn_endpoints_t e;
    cr_assert_eq(cairn_endpoints_parse(&e, " ipc:///a.sock ,, tcp://b:1,\ttls+tcp://c:2 ,", NULL),
                 0);
    cr_assert_str_eq(text(&e), "ipc:///a.sock, tcp://b:1, tls+tcp://c:2");
    cr_assert_str_eq(cairn_endpoints_current(&e), "ipc:///a.sock");
    cairn_endpoints_fini(&e);
}

Test(endpoints, parse_refuses_none_and_too_many)
{
    cairn_endpoints_t e;
    cairn_error_t err = {{0}};
    cr_assert_eq(cairn_endpoints_parse(&e, " , ", &err), -EINVAL);
    cr_assert(strstr(err.text, "no scheduler endpoint"), "%s", err.text);
    char many[2048] = "";
    for (int i = 0; i <= CAIRN_ENDPOINTS_MAX; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "ipc:///s%d,", i);
    cr_assert_eq(cairn_endpoints_parse(&e, many, &err), -EINVAL);
    cr_assert(strstr(err.text, "more than"), "%s", err.text);
    cr_assert_eq(e.n, 0);
}

Test(endpoints, next_goes_round)
{
    cairn_endpoints_t e;
    cr_assert_eq(cairn_endpoints_parse(&e, "a,b", NULL), 0);
    cr_assert_not(cairn_endpoints_next(&e));
    cr_assert_str_eq(cairn_endpoints_current(&e), "b");
    cr_assert(cairn_endpoints_next(&e));
    cr_assert_str_eq(cairn_endpoints_current(&e), "a");
    cairn_endpoints_fini(&e);
}

Test(endpoints, follow_puts_the_leader_first_and_keeps_the_others)
{
    cairn_endpoints_t e;
    cr_assert_eq(cairn_endpoints_parse(&e, "a,b,c", NULL), 0);
    cairn_endpoints_next(&e);
    cr_assert_eq(cairn_endpoints_follow(&e, "c, d", NULL), 0);
    cr_assert_str_eq(text(&e), "c, d, a, b");
    cr_assert_str_eq(cairn_endpoints_current(&e), "c");
    cairn_error_t err = {{0}};
    cr_assert_eq(cairn_endpoints_follow(&e, "", &err), -EINVAL);
    cr_assert_str_eq(text(&e), "c, d, a, b", "unchanged on failure");
    cairn_endpoints_fini(&e);
}

Test(endpoints, follow_drops_the_oldest_beyond_the_limit)
{
    cairn_endpoints_t e;
    char list[2048] = "";
    for (int i = 0; i < CAIRN_ENDPOINTS_MAX; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "s%d,", i);
    cr_assert_eq(cairn_endpoints_parse(&e, list, NULL), 0);
    cr_assert_eq(cairn_endpoints_follow(&e, "L", NULL), 0);
    cr_assert_eq(e.n, CAIRN_ENDPOINTS_MAX);
    cr_assert_str_eq(e.urls[0], "L");
    cr_assert_str_eq(e.urls[CAIRN_ENDPOINTS_MAX - 1], "s14");
    cairn_endpoints_fini(&e);
}

Test(endpoints, plain_network_urls)
{
    cr_assert(cairn_endpoint_plain_network("tcp://h:1"));
    cr_assert(cairn_endpoint_plain_network("ws://h:1"));
    cr_assert_not(cairn_endpoint_plain_network("tls+tcp://h:1"));
    cr_assert_not(cairn_endpoint_plain_network("ipc:///x.sock"));
}
