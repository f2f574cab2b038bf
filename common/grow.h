/* Growable arrays: one way to make room, everywhere.
 *
 *     if (CAIRN_GROW(q->items, q->cap, q->n + 1) < 0)
 *         return -ENOMEM;
 *     q->items[q->n++] = item;
 *
 * The capacity doubles (from 8), so appends cost O(1) amortised, and the
 * new room is zeroed. On failure nothing changes: the array and its
 * capacity are as they were. */
#ifndef CAIRN_COMMON_GROW_H
#define CAIRN_COMMON_GROW_H

#include <stddef.h>

/* Make room for need elements of elem bytes in the array whose pointer is
 * at pp (a T **, passed as void *), of capacity *cap elements: 0, or
 * -ENOMEM (also when the size would overflow). Use CAIRN_GROW. */
int cairn_grow(void *pp, size_t *cap, size_t need, size_t elem);

/* Make room for need elements in the array p (an lvalue of type T *) of
 * capacity cap (an lvalue of type size_t): 0 or -ENOMEM. With room
 * already there it costs one comparison (appends in hot loops). */
#define CAIRN_GROW(p, cap, need)                                                                   \
    ((need) <= (cap) ? 0 : cairn_grow(&(p), &(cap), (need), sizeof(*(p))))

#endif
