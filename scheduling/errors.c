/* Names of the core's error codes (sched.h). */
#include "scheduling/sched.h"

const char *sched_err_name(int code)
{
    switch ((sched_err_t)code) {
    case SCHED_OK:
        return "SCHED_OK";
    case SCHED_EINVAL:
        return "SCHED_EINVAL";
    case SCHED_ENOENT:
        return "SCHED_ENOENT";
    case SCHED_ESTALE:
        return "SCHED_ESTALE";
    case SCHED_ECONFLICT:
        return "SCHED_ECONFLICT";
    case SCHED_ESPEC:
        return "SCHED_ESPEC";
    case SCHED_ENOMEM:
        return "SCHED_ENOMEM";
    }
    return NULL;
}
