/* The clocks the daemons and the client read. The scheduling core reads
 * none: it is given event times. */
#ifndef CAIRN_COMMON_CLOCK_H
#define CAIRN_COMMON_CLOCK_H

#include <stdint.h>

/* Wall-clock time in milliseconds since the epoch (CLOCK_REALTIME): for
 * what is recorded and shown. */
int64_t cairn_wall_ms(void);

/* Monotonic time in milliseconds (CLOCK_MONOTONIC): for intervals and
 * deadlines, which must not jump with the wall clock. */
int64_t cairn_mono_ms(void);

#endif
