/* Binary search over arrays kept sorted by an integer id (attempts by id,
 * events by sequence number, pipes by id). One lower bound for every such
 * array; the caller says where an element's key is. */
#ifndef CAIRN_COMMON_SEARCH_H
#define CAIRN_COMMON_SEARCH_H

#include <stddef.h>
#include <stdint.h>

/* The key of the element at elem (a pointer into the array). */
typedef uint64_t (*cairn_key_f)(const void *elem);

/* The index of the first of the n elements (of size bytes each, at base,
 * sorted by key_of ascending) whose key is not below key: n when every
 * key is below it. */
size_t cairn_lower_bound(const void *base, size_t n, size_t size, uint64_t key, cairn_key_f key_of);

/* The element whose key is key, or NULL. */
void *cairn_find_sorted(const void *base, size_t n, size_t size, uint64_t key, cairn_key_f key_of);

#endif
