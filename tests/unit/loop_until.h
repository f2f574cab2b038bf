/* Waiting on a libuv loop in tests: run it until a counter reaches a value,
 * with a deadline, a timer keeping it awake meanwhile. */
#ifndef CAIRN_TEST_LOOP_UNTIL_H
#define CAIRN_TEST_LOOP_UNTIL_H

#include <criterion/criterion.h>
#include <uv.h>

static void loop_tick_cb(uv_timer_t *t)
{
    (void)t;
}

/* Run the loop until *flag reaches want or 5 s pass (then fail the test). */
static inline void run_until(uv_loop_t *loop, int *flag, int want)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, loop_tick_cb, 10, 10);
    uint64_t deadline = uv_now(loop) + 5000;
    while (*flag < want && uv_now(loop) < deadline)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    cr_assert_geq(*flag, want, "condition not reached before the deadline");
}

#endif
