/* Windows of ids (jobs, attempts): see id_window_t in sched_private.h.
 *
 * Slots are kept from the oldest id not yet retired to the newest; retiring
 * ids at the start moves the window on, and the room before it is given
 * back by moving the slots down once it is at least half of them, so a
 * window costs O(1) amortised per id and memory for the ids between the
 * oldest live one and the newest only. */
#include <stdlib.h>
#include <string.h>

#include "scheduling/sched_private.h"

#define WIN_MIN_CAP 1024

/* Move the live slots to the start of the array. */
static void win_compact(id_window_t *w)
{
    memmove(w->slot, w->slot + w->off, (w->len - w->off) * sizeof(void *));
    w->len -= w->off;
    w->off = 0;
}

int win_push(id_window_t *w, void *p)
{
    if (w->base == 0)
        w->base = 1; /* ids start at 1 */
    if (w->len == w->cap && w->off > 0 && w->off >= w->len / 2)
        win_compact(w);
    if (CAIRN_GROW(w->slot, w->cap, w->len + 1) < 0)
        return SCHED_ENOMEM;
    w->slot[w->len++] = p;
    w->live++;
    return 0;
}

void win_clear(id_window_t *w, uint64_t id)
{
    uint64_t i = id - w->base;
    if (i >= w->len - w->off || !w->slot[w->off + i])
        return;
    w->slot[w->off + i] = NULL;
    w->live--;
    while (w->off < w->len && !w->slot[w->off]) {
        w->off++;
        w->base++;
    }
    if (w->off == w->len)
        w->off = w->len = 0;
    else if (w->off > WIN_MIN_CAP && w->off >= w->len / 2)
        win_compact(w);
    /* give back most of a window that grew large and emptied */
    size_t live = w->len - w->off;
    if (w->cap > WIN_MIN_CAP && live < w->cap / 8) {
        if (w->off)
            win_compact(w);
        size_t cap = w->cap;
        while (cap > WIN_MIN_CAP && live < cap / 8)
            cap /= 4;
        cap = cap > WIN_MIN_CAP ? cap : WIN_MIN_CAP;
        void **np = realloc(w->slot, cap * sizeof(void *));
        if (np) {
            w->slot = np;
            w->cap = cap;
        }
    }
}

void win_fini(id_window_t *w)
{
    free(w->slot);
    memset(w, 0, sizeof(*w));
}
