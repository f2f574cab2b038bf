/* Deterministic retries and seeds. */
#include "scheduling/sched_private.h"

uint64_t sched_seed_derive(uint64_t job_seed, const char *task_name, uint32_t rank)
{
    uint64_t h = hash_str(0xcbf29ce484222325ull ^ hash_mix(job_seed), task_name);
    h = hash_mix(h ^ ((uint64_t)rank * 0x9e3779b97f4a7c15ull));
    /* 32 bits: accepted as-is by numpy, scikit-learn, PyTorch and JAX */
    return h & 0xffffffffull;
}

int64_t sched_retry_backoff(const sched_retry_policy_t *p, uint32_t next_attempt, uint64_t seed)
{
    const int64_t limit = INT64_MAX / 200000;
    int64_t b = p->backoff_ms;
    uint32_t f = p->factor_milli ? p->factor_milli : 1000;
    for (uint32_t i = 2; i < next_attempt; i++) {
        if (b > limit || (p->max_backoff_ms && b >= p->max_backoff_ms))
            break;
        b = b * (int64_t)f / 1000;
    }
    if (p->max_backoff_ms && b > p->max_backoff_ms)
        b = p->max_backoff_ms;
    if (p->jitter_pct && b > 0) {
        uint64_t span = (uint64_t)b * p->jitter_pct / 100 + 1;
        b += (int64_t)(hash_mix(seed ^ hash_mix(next_attempt)) % span);
    }
    return b;
}

/* Does policy p retry an attempt that ended this way? A class the policy
 * names retries it whatever its end; one it does not name leaves the
 * decision to the end (an OOM kill is still a SIGKILL, exit:137). */
bool retry_wanted(const sched_retry_policy_t *p, sched_end_t end, sched_end_class_t cls, int code,
                  int sig)
{
    uint32_t on = p->on ? p->on : SCHED_RETRY_DEFAULT;
    if ((cls == SCHED_CLASS_OOM && (on & SCHED_RETRY_OOM)) ||
        (cls == SCHED_CLASS_GPU_ERROR && (on & SCHED_RETRY_GPU_ERROR)) ||
        (cls == SCHED_CLASS_LOG && (on & SCHED_RETRY_LOG)))
        return true;
    switch (end) {
    case SCHED_END_NODE_LOST:
        return on & SCHED_RETRY_NODE_LOST;
    case SCHED_END_TIMEOUT:
        return on & SCHED_RETRY_TIMEOUT;
    case SCHED_END_SIGNAL:
        if (on & SCHED_RETRY_SIGNAL)
            return true;
        code = 128 + sig; /* a shell would report it this way: "exit:137" */
        /* fall through */
    case SCHED_END_EXIT:
    case SCHED_END_START_FAILED:
        if (end == SCHED_END_EXIT && code == 0)
            return false;
        if (on & SCHED_RETRY_ANY_EXIT)
            return true;
        for (uint32_t i = 0; i < p->nexit_codes && i < SCHED_RETRY_MAX_EXIT_CODES; i++)
            if (p->exit_codes[i] == code)
                return true;
        return false;
    default:
        return false;
    }
}
