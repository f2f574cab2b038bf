/* The common library's helpers (common/): growable arrays, sorted-id
 * search, clocks, errors and the daemons' log. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/grow.h"
#include "common/log.h"
#include "common/search.h"
#include "common/strbuf.h"
#include "leak_check.h"

typedef struct item {
    uint32_t pad;
    uint64_t id;
} item_t;

LEAK_TEST(grow, doubles_zeroes_and_keeps)
{
    item_t *v = NULL;
    size_t cap = 0, n = 0;
    for (uint64_t i = 0; i < 1000; i++) {
        cr_assert_eq(CAIRN_GROW(v, cap, n + 1), 0);
        cr_assert_geq(cap, n + 1);
        /* new room is zeroed */
        cr_assert_eq(v[n].id, 0);
        cr_assert_eq(v[n].pad, 0);
        v[n++] = (item_t){.id = i * 3};
    }
    cr_assert_eq(cap, 1024, "doubling from 8 gives 1024 for 1000, not %zu", cap);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(v[i].id, i * 3);
    /* room already there: nothing moves */
    item_t *before = v;
    cr_assert_eq(CAIRN_GROW(v, cap, 10), 0);
    cr_assert_eq(v, before);
    free(v);
}

LEAK_TEST(grow, refuses_overflow_and_changes_nothing)
{
    uint64_t *v = NULL;
    size_t cap = 0;
    cr_assert_eq(CAIRN_GROW(v, cap, 4), 0);
    v[3] = 7;
    uint64_t *before = v;
    cr_assert_eq(CAIRN_GROW(v, cap, SIZE_MAX / 4), -ENOMEM);
    cr_assert_eq(CAIRN_GROW(v, cap, SIZE_MAX), -ENOMEM);
    cr_assert_eq(v, before);
    cr_assert_eq(cap, 8);
    cr_assert_eq(v[3], 7);
    free(v);
}

static uint64_t item_key(const void *e)
{
    return ((const item_t *)e)->id;
}

static uint64_t ptr_key(const void *e)
{
    return (*(item_t *const *)e)->id;
}

Test(search, lower_bound_over_structs)
{
    item_t v[] = {{.id = 2}, {.id = 4}, {.id = 4}, {.id = 9}};
    size_t n = sizeof(v) / sizeof(v[0]);
    cr_assert_eq(cairn_lower_bound(v, n, sizeof(v[0]), 0, item_key), 0);
    cr_assert_eq(cairn_lower_bound(v, n, sizeof(v[0]), 2, item_key), 0);
    cr_assert_eq(cairn_lower_bound(v, n, sizeof(v[0]), 3, item_key), 1);
    cr_assert_eq(cairn_lower_bound(v, n, sizeof(v[0]), 4, item_key), 1);
    cr_assert_eq(cairn_lower_bound(v, n, sizeof(v[0]), 5, item_key), 3);
    cr_assert_eq(cairn_lower_bound(v, n, sizeof(v[0]), 10, item_key), 4);
    cr_assert_eq(cairn_lower_bound(v, 0, sizeof(v[0]), 10, item_key), 0);
    cr_assert_eq(cairn_find_sorted(v, n, sizeof(v[0]), 9, item_key), &v[3]);
    cr_assert_null(cairn_find_sorted(v, n, sizeof(v[0]), 5, item_key));
    cr_assert_null(cairn_find_sorted(v, n, sizeof(v[0]), 10, item_key));
    cr_assert_null(cairn_find_sorted(NULL, 0, sizeof(v[0]), 1, item_key));
}

Test(search, lower_bound_over_pointers_matches_a_scan)
{
    enum { N = 300 };
    item_t items[N];
    item_t *ptrs[N];
    for (size_t i = 0; i < N; i++) {
        items[i].id = (uint64_t)i * 7 + (i % 3); /* ascending, with gaps */
        ptrs[i] = &items[i];
    }
    for (uint64_t key = 0; key < N * 7 + 10; key++) {
        size_t want = 0;
        while (want < N && items[want].id < key)
            want++;
        cr_assert_eq(cairn_lower_bound(ptrs, N, sizeof(ptrs[0]), key, ptr_key), want, "key %llu",
                     (unsigned long long)key);
    }
}

Test(clock, wall_is_epoch_ms_and_mono_does_not_go_back)
{
    int64_t w = cairn_wall_ms();
    time_t t = time(NULL);
    cr_assert_leq(llabs(w / 1000 - (int64_t)t), 1, "wall %lld ms vs time() %lld s", (long long)w,
                  (long long)t);
    int64_t a = cairn_mono_ms();
    for (int i = 0; i < 1000; i++) {
        int64_t b = cairn_mono_ms();
        cr_assert_geq(b, a);
        a = b;
    }
}

Test(error, errcode_fills_and_returns_the_code)
{
    cairn_error_t e = {{0}};
    cr_assert_eq(errcode(&e, -ENOENT, "no %s here", "job"), -ENOENT);
    cr_assert_str_eq(e.text, "no job here");
    cr_assert_eq(errcode(NULL, -EIO, "ignored"), -EIO);
    cairn_error_clear(&e);
    cr_assert_str_eq(e.text, "");
    cairn_error_clear(NULL);
}

Test(log, writes_levels_at_or_above_the_minimum)
{
    char path[] = "/tmp/cairn-log-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    cairn_log_level_t min;
    cr_assert_eq(cairn_log_level_parse("info", &min), 0);
    cr_assert_eq(min, CAIRN_LOG_INFO);
    cr_assert_eq(cairn_log_level_parse("loud", &min), -EINVAL);
    cr_assert_str_eq(cairn_log_level_name(CAIRN_LOG_WARN), "warn");

    cairn_log_t l;
    cairn_error_t err;
    cr_assert_eq(cairn_log_open(&l, "prog", path, CAIRN_LOG_INFO, &err), 0, "%s", err.text);
    cairn_log(&l, CAIRN_LOG_DEBUG, "hidden %d", 1);
    cairn_log(&l, CAIRN_LOG_WARN, "shown %d", 2);
    cairn_log(NULL, CAIRN_LOG_ERROR, "nowhere");
    cairn_log_close(&l);

    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    char line[256];
    cr_assert_not_null(fgets(line, sizeof(line), f));
    cr_assert_null(fgets(line + 128, 128, f), "one line only");
    fclose(f);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 077, 0, "the log is private");
    unlink(path);
    /* 2026-12-07T02:41:00.123Z prog warn: shown 2 */
    int y, mo, d, h, mi, s, ms;
    char rest[128];
    cr_assert_eq(
        sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ %127[^\n]", &y, &mo, &d, &h, &mi, &s, &ms, rest),
        8, "line: %s", line);
    cr_assert_str_eq(rest, "prog warn: shown 2");
}

LEAK_TEST(strbuf, grows_across_appends_and_hands_over)
{
    cairn_buf_t b = {0};
    char *empty = cairn_buf_take(&b);
    cr_assert_str_eq(empty, "", "nothing added: an empty string, not NULL");
    free(empty);
    char want[4096] = "";
    size_t wl = 0;
    for (int i = 0; i < 400; i++) {
        cairn_buf_printf(&b, "%d,", i);
        wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "%d,", i);
    }
    cairn_buf_add(&b, "end", 3);
    memcpy(want + wl, "end", 4);
    cr_assert_eq(b.len, strlen(want));
    char *got = cairn_buf_take(&b);
    cr_assert_str_eq(got, want);
    cr_assert_eq(b.len, 0);
    cr_assert_null(b.p);
    free(got);
    cairn_buf_printf(&b, "%s", "x");
    cairn_buf_fini(&b);
    cr_assert_null(b.p);
}
