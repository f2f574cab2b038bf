#include "common/search.h"

size_t cairn_lower_bound(const void *base, size_t n, size_t size, uint64_t key, cairn_key_f key_of)
{
    const char *b = base;
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (key_of(b + mid * size) < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void *cairn_find_sorted(const void *base, size_t n, size_t size, uint64_t key, cairn_key_f key_of)
{
    size_t i = cairn_lower_bound(base, n, size, key, key_of);
    if (i == n || key_of((const char *)base + i * size) != key)
        return NULL;
    return (char *)base + i * size;
}
