/* libFuzzer target for journal replay: journal_event_unpack() on each entry
 * and sched_apply() of the result, in order, to a one-node cluster, as the
 * scheduler does at start-up. The input is a sequence of entries, each a
 * 2-byte big-endian length and that many bytes. A damaged journal must be
 * refused entry by entry, never crash, leak or invoke undefined behaviour. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "scheduler/journal_pack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sched_t *s = fuzz_sched_create();
    size_t off = 0;
    for (int n = 0; n < 64 && size - off >= 2; n++) {
        size_t len = (size_t)data[off] << 8 | data[off + 1];
        off += 2;
        if (len > size - off)
            len = size - off;
        sched_event_t ev;
        journal_hold_t hold;
        const Cairn__JobSpec *js = NULL;
        cairn_error_t err;
        if (journal_event_unpack(data + off, len, &ev, &hold, &js, &err) == 0)
            (void)sched_apply(s, &ev, &err);
        journal_hold_fini(&hold);
        off += len;
    }
    free(sched_dump(s));
    sched_destroy(s);
    return 0;
}
