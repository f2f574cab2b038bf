/* libFuzzer target for snapshots of the core: sched_snapshot_load() on the
 * input as the scheduler loads a stored snapshot at start-up (after its
 * checksum, which a corrupt or hostile database can match). Bytes that are
 * not a snapshot must be refused, never crash, leak or invoke undefined
 * behaviour; a state that loads must work: it dumps, places, and saves
 * again to bytes that load to the same dump. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "scheduling/snapshot.h"

static void placed(const sched_event_t *ev, void *arg)
{
    (void)ev;
    (void)arg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sched_t *s = NULL;
    cairn_error_t err;
    if (sched_snapshot_load(data, size, NULL, &s, &err) < 0)
        return 0;
    char *a = sched_dump(s);
    uint8_t *again = NULL;
    size_t len = 0;
    sched_t *b = NULL;
    if (sched_snapshot_save(s, &again, &len, &err) < 0 ||
        sched_snapshot_load(again, len, NULL, &b, &err) < 0)
        abort(); /* what loaded saves and loads again */
    char *d = sched_dump(b);
    if (!a || !d || strcmp(a, d) != 0)
        abort();
    (void)sched_place(s, 1000000, placed, NULL);
    free(a);
    free(d);
    free(again);
    sched_destroy(b);
    sched_destroy(s);
    return 0;
}
