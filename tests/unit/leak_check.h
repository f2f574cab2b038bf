/* Criterion ignores LeakSanitizer's exit status, so under ASan a test
 * declared with LEAK_TEST ends with an explicit leak check. The body runs in
 * its own frame so that its dead locals do not keep leaked memory reachable. */
#ifndef CAIRN_TEST_LEAK_CHECK_H
#define CAIRN_TEST_LEAK_CHECK_H

#include <criterion/criterion.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define LEAKS_FOUND() __lsan_do_recoverable_leak_check()
#else
#define LEAKS_FOUND() 0
#endif

#define LEAK_TEST(suite, name)                                                                     \
    static void suite##_##name##_body(void);                                                       \
    Test(suite, name)                                                                              \
    {                                                                                              \
        suite##_##name##_body();                                                                   \
        cr_assert_eq(LEAKS_FOUND(), 0, "memory leaked: see the LeakSanitizer report");             \
    }                                                                                              \
    static __attribute__((noinline)) void suite##_##name##_body(void)

#endif
