/* Which processes belong to which attempt, what they use, the memory
 * limits sampling enforces, and the sampler that scans /proc for them.
 *
 * Membership. With a task cgroup (exec_cgroup.c), the processes in it,
 * and its main process until reaped; nothing a task controls changes
 * that. Otherwise a process belongs to an attempt when
 *   - its session or process group is the attempt's main process (the
 *     main process leads both; the pid number stays reserved by the kernel while
 *     any process still uses it as a group or session id), or
 *   - it was seen as a member before (pid and start time), or
 *   - its parent belongs to the attempt, or
 *   - it is an orphan the worker adopted as child subreaper and it started
 *     with the attempt's CAIRN_ATTEMPT_ID in its environment (which the
 *     task controls: without cgroups a daemon that drops it escapes).
 * /proc is scanned periodically (exec_private.h) and when an attempt's tree
 * must be ended, so a daemon that leaves the session is caught by its
 * parent link or by the environment marker.
 *
 * After an attempt without a cgroup is reported (exec_end.c may report
 * it without a scan when its process group is empty), processes still in its
 * session or group, or adopted orphans carrying its CAIRN_ATTEMPT_ID, are
 * killed by the scans of the next EXEC_RECENT_MS. (A task cgroup is
 * reported only once empty.)
 *
 * Reaping. exec_end.c waits for the attempts' main processes (SIGCHLD);
 * the scans reap every other zombie child (orphans of tasks) with wait4().
 * All child processes of the worker must therefore be spawned by the
 * executor.
 *
 * CPU time, with its precision. A member's sample is utime + stime +
 * cutime + cstime (clock ticks, 10 ms). When a member disappears and its
 * parent is a live member, the parent's cutime holds it exactly. The main
 * process and the orphans the worker reaps add their wait4() rusage
 * exactly. Members whose parent died first add their last sample: each
 * such process loses what it used after the last scan, at most
 * one scan interval of CPU per thread.
 *
 * Memory. RSS of the tree is the sum of members' RSS, which counts pages
 * shared between processes (fork, shared libraries) more than once; peak
 * RSS is the largest sum seen, or the main process's VmHWM if larger.
 * Without a cgroup, a tree whose RSS sum is over its limit is summed again
 * by PSS (smaps_rollup, shared pages split between sharers) and killed
 * with memory_exceeded only if that is over too. A task can overshoot
 * its limit for up to one sampling period. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/grow.h"
#include "worker/exec_private.h"

enum { OWNER_UNSEEN = -2, OWNER_NONE = -1 };

struct scan {
    worker_exec_t *x;
    exec_proc_t *procs;
    size_t n;
    int *owner; /* per process: attempt index or OWNER_* */
};

static uint64_t ticks_usec(const worker_exec_t *x, uint64_t ticks)
{
    return ticks * 1000000u / (uint64_t)x->clk_tck;
}

static exec_member_t *member_find(exec_attempt_t *a, pid_t pid, uint64_t start)
{
    for (size_t i = 0; i < a->nmembers; i++)
        if (a->members[i].pid == pid && a->members[i].start == start)
            return &a->members[i];
    return NULL;
}

static exec_member_t *member_add(exec_attempt_t *a, const exec_proc_t *p)
{
    if (CAIRN_GROW(a->members, a->capmembers, a->nmembers + 1) < 0)
        return NULL;
    a->members[a->nmembers] = (exec_member_t){.pid = p->pid, .start = p->start};
    return &a->members[a->nmembers++];
}

/* ---- attribution -------------------------------------------------------- */

static int attempt_of_main(const worker_exec_t *x, pid_t pid)
{
    for (size_t k = 0; k < x->natt; k++)
        if (x->att[k]->pid > 0 && x->att[k]->pid == pid)
            return (int)k;
    return OWNER_NONE;
}

static int owner_direct(const worker_exec_t *x, const exec_proc_t *p)
{
    int k = attempt_of_main(x, p->sid);
    if (k < 0)
        k = attempt_of_main(x, p->pgid);
    for (size_t i = 0; k < 0 && i < x->natt; i++)
        if (member_find(x->att[i], p->pid, p->start))
            k = (int)i;
    return k;
}

/* An adopted orphan that left the session: look for the marker. */
static int owner_by_environ(const worker_exec_t *x, const exec_proc_t *p)
{
    char val[32];
    char *end;
    uint64_t id;
    if (p->state == 'Z' || !exec_proc_environ_get(p->pid, "CAIRN_ATTEMPT_ID", val, sizeof(val)))
        return OWNER_NONE;
    if (x->marker && strcmp(val, x->marker) == 0)
        return OWNER_NONE; /* inherited from the worker itself */
    id = strtoull(val, &end, 10);
    if (*end)
        return OWNER_NONE;
    for (size_t k = 0; k < x->natt; k++) /* with a cgroup, the cgroup says */
        if (x->att[k]->id == id && x->att[k]->pid > 0 && !x->att[k]->cg)
            return (int)k;
    return OWNER_NONE;
}

static int resolve(struct scan *s, size_t i, int depth)
{
    const exec_proc_t *p = &s->procs[i];
    int o;
    if (s->owner[i] != OWNER_UNSEEN)
        return s->owner[i];
    s->owner[i] = OWNER_NONE; /* guards against a parent loop */
    o = owner_direct(s->x, p);
    if (o < 0 && p->ppid > 1 && p->ppid != s->x->self && depth < 512) {
        exec_proc_t *pp = exec_proc_find(s->procs, s->n, p->ppid);
        if (pp)
            o = resolve(s, (size_t)(pp - s->procs), depth + 1);
    }
    if (o < 0 && p->ppid == s->x->self && s->x->natt > 0)
        o = owner_by_environ(s->x, p);
    s->owner[i] = o;
    return o;
}

/* The processes in the attempts' cgroups are theirs (and a main process
 * not reaped yet, which left its cgroup when it exited). */
static void owners_by_cgroup(struct scan *s)
{
    for (size_t k = 0; k < s->x->natt; k++) {
        const exec_attempt_t *a = s->x->att[k];
        pid_t *pids;
        size_t n;
        if (!a->cg || a->pid <= 0 || exec_cgroup_pids(a->cg->path, &pids, &n) < 0)
            continue;
        for (size_t i = 0; i < n; i++) {
            exec_proc_t *p = exec_proc_find(s->procs, s->n, pids[i]);
            if (p)
                s->owner[p - s->procs] = (int)k;
        }
        free(pids);
        exec_proc_t *m = a->reaped ? NULL : exec_proc_find(s->procs, s->n, a->pid);
        if (m)
            s->owner[m - s->procs] = (int)k;
    }
}

/* ---- reaping ------------------------------------------------------------ */

/* An attempt's main process not reaped yet: exec_end.c waits for it. */
static bool is_main(const worker_exec_t *x, pid_t pid)
{
    for (size_t i = 0; i < x->natt; i++)
        if (x->att[i]->pid == pid && !x->att[i]->reaped)
            return true;
    for (size_t i = 0; i < x->ngated; i++) /* waiting at its gate: its start reaps it */
        if (x->gated[i]->pid == pid)
            return true;
    return pid == x->guard_pid; /* exec_guard_check() reaps it */
}

/* Reap zombie children that are not attempts' main processes; the usage of a member goes to
 * its attempt. Returns true if procs[i] was reaped. */
static bool reap(struct scan *s, size_t i)
{
    const exec_proc_t *p = &s->procs[i];
    struct rusage ru;
    exec_attempt_t *a;
    exec_member_t *m;
    if (p->state != 'Z' || p->ppid != s->x->self || is_main(s->x, p->pid))
        return false;
    if (wait4(p->pid, NULL, WNOHANG, &ru) != p->pid)
        return false;
    if (s->owner[i] < 0)
        return true;
    a = s->x->att[s->owner[i]];
    a->dead_usec += (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
                    (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    m = member_find(a, p->pid, p->start);
    if (m) {
        *m = a->members[--a->nmembers];
        s->x->running_dirty = true;
    }
    return true;
}

/* ---- per attempt -------------------------------------------------------- */

/* Ran out of memory (sampling found the tree over its limit): kill the
 * tree. */
static void memory_exceeded(worker_exec_t *x, exec_attempt_t *a)
{
    if (a->phase >= EXEC_DRAINING || a->res.memory_exceeded)
        return;
    /* the first reason is the one reported; the kill is immediate anyway */
    a->res.memory_exceeded = !a->res.timed_out && !a->res.cancelled;
    a->phase = EXEC_TERMINATING;
    uv_timer_stop(&a->timer);
    exec_signal_tree(x, a, SIGKILL);
}

static void check_memory(worker_exec_t *x, exec_attempt_t *a)
{
    uint64_t pss = 0;
    if (a->memory_limit == 0 || a->phase >= EXEC_DRAINING || a->res.memory_exceeded)
        return;
    if (a->cg && a->cg->memory) {
        if (exec_cgroup_oom_killed(a->cg->path))
            memory_exceeded(x, a);
        return;
    }
    if (a->rss_bytes <= a->memory_limit)
        return;
    for (size_t i = 0; i < a->nmembers; i++)
        pss += exec_proc_pss(a->members[i].pid);
    if ((pss ? pss : a->rss_bytes) > a->memory_limit)
        memory_exceeded(x, a);
}

/* Members that disappeared since the last scan: their CPU goes to
 * dead_usec unless a live parent in the tree holds it in its cutime. */
static void drop_gone(worker_exec_t *x, exec_attempt_t *a)
{
    size_t j = 0;
    for (size_t i = 0; i < a->nmembers; i++) {
        const exec_member_t *m = &a->members[i];
        bool absorbed = false;
        if (m->seen)
            continue;
        for (size_t k = 0; k < a->nmembers && !absorbed; k++)
            absorbed = a->members[k].seen && a->members[k].pid == m->ppid;
        if (!absorbed)
            a->dead_usec += ticks_usec(x, m->ticks);
    }
    for (size_t i = 0; i < a->nmembers; i++)
        if (a->members[i].seen)
            a->members[j++] = a->members[i];
    if (j != a->nmembers)
        x->running_dirty = true;
    a->nmembers = j;
}

static void update_attempt(struct scan *s, int k)
{
    worker_exec_t *x = s->x;
    exec_attempt_t *a = x->att[k];
    uint64_t rss = 0, cpu;
    for (size_t i = 0; i < a->nmembers; i++)
        a->members[i].seen = false;
    for (size_t i = 0; i < s->n; i++) {
        const exec_proc_t *p = &s->procs[i];
        exec_member_t *m;
        if (s->owner[i] != k || reap(s, i))
            continue;
        m = member_find(a, p->pid, p->start);
        if (!m && (m = member_add(a, p)) != NULL)
            x->running_dirty = true;
        if (!m)
            continue;
        m->ppid = p->ppid;
        m->pgid = p->pgid;
        m->ticks = p->ticks;
        m->seen = true;
        if (p->state != 'Z')
            rss += p->rss_pages * (uint64_t)x->page_size;
    }
    drop_gone(x, a);
    a->rss_bytes = rss;
    if (rss > a->res.peak_rss_bytes)
        a->res.peak_rss_bytes = rss;
    if (a->phase < EXEC_DRAINING) {
        uint64_t hwm = exec_proc_hwm(a->pid);
        if (hwm > a->res.peak_rss_bytes)
            a->res.peak_rss_bytes = hwm;
    }
    cpu = a->dead_usec;
    for (size_t i = 0; i < a->nmembers; i++)
        cpu += ticks_usec(x, a->members[i].ticks);
    if (cpu > a->cpu_usec)
        a->cpu_usec = cpu;
    check_memory(x, a);
}

/* Processes of attempts already reported: kill until gone. */
static void update_linger(struct scan *s)
{
    worker_exec_t *x = s->x;
    size_t j = 0;
    for (size_t i = 0; i < x->nlinger; i++) {
        exec_linger_t *l = &x->linger[i];
        exec_proc_t *p = exec_proc_find(s->procs, s->n, l->pid);
        if (!p || p->start != l->start)
            continue;
        if (p->state != 'Z')
            kill(p->pid, SIGKILL);
        x->linger[j++] = *l;
    }
    x->nlinger = j;
}

/* ---- attempts already reported ----------------------------------------- */

void exec_track_recent_add(worker_exec_t *x, const exec_attempt_t *a)
{
    exec_recent_t r = {a->id, a->pid, uv_now(x->loop) + EXEC_RECENT_MS};
    if (x->nrecent == EXEC_RECENT_MAX) { /* drop the oldest */
        memmove(x->recent, x->recent + 1, (EXEC_RECENT_MAX - 1) * sizeof(r));
        x->nrecent--;
    }
    x->recent[x->nrecent++] = r;
}

size_t exec_track_recent_expire(worker_exec_t *x)
{
    uint64_t now = uv_now(x->loop);
    size_t j = 0;
    for (size_t i = 0; i < x->nrecent; i++)
        if (x->recent[i].until_ms > now)
            x->recent[j++] = x->recent[i];
    x->nrecent = j;
    return j;
}

static void linger_add(worker_exec_t *x, pid_t pid, uint64_t start)
{
    if (CAIRN_GROW(x->linger, x->caplinger, x->nlinger + 1) < 0)
        return;
    x->linger[x->nlinger++] = (exec_linger_t){pid, start};
}

/* A process no live attempt owns: kill it if it escaped a recent one. */
static void kill_if_recent(worker_exec_t *x, const exec_proc_t *p)
{
    char val[32] = "";
    bool marker = false;
    for (size_t i = 0; i < x->nrecent; i++) {
        const exec_recent_t *r = &x->recent[i];
        bool hit = (p->sid == r->pid || p->pgid == r->pid) && p->pid != r->pid;
        if (!hit && p->ppid == x->self) {
            if (!marker) {
                marker = true;
                if (!exec_proc_environ_get(p->pid, "CAIRN_ATTEMPT_ID", val, sizeof(val)) ||
                    (x->marker && strcmp(val, x->marker) == 0))
                    val[0] = '\0';
            }
            char id[32];
            snprintf(id, sizeof(id), "%" PRIu64, r->id);
            hit = val[0] && strcmp(val, id) == 0;
        }
        if (hit) {
            kill(p->pid, SIGKILL);
            linger_add(x, p->pid, p->start);
            return;
        }
    }
}

void exec_track_main_reaped(worker_exec_t *x, exec_attempt_t *a, uint64_t cpu_usec, uint64_t maxrss)
{
    exec_member_t *m = member_find(a, a->pid, a->start);
    if (m) {
        *m = a->members[--a->nmembers];
        x->running_dirty = true;
    }
    a->dead_usec += cpu_usec;
    uint64_t cpu = a->dead_usec;
    for (size_t i = 0; i < a->nmembers; i++)
        cpu += ticks_usec(x, a->members[i].ticks);
    if (cpu > a->cpu_usec)
        a->cpu_usec = cpu;
    if (maxrss > a->res.peak_rss_bytes)
        a->res.peak_rss_bytes = maxrss;
}

void exec_track_scan(worker_exec_t *x)
{
    struct scan s = {.x = x};
    if (exec_proc_scan(&s.procs, &s.n) < 0)
        return;
    s.owner = malloc((s.n ? s.n : 1) * sizeof(int));
    if (!s.owner) {
        free(s.procs);
        return;
    }
    for (size_t i = 0; i < s.n; i++)
        s.owner[i] = OWNER_UNSEEN;
    owners_by_cgroup(&s);
    for (size_t i = 0; i < s.n; i++)
        resolve(&s, i, 0);
    for (size_t k = 0; k < x->natt; k++)
        if (x->att[k]->pid > 0)
            update_attempt(&s, (int)k);
    for (size_t i = 0; i < s.n; i++)
        if (s.owner[i] < 0)
            reap(&s, i);
    for (size_t i = 0; i < s.n; i++)
        if (s.owner[i] < 0 && s.procs[i].state != 'Z' && x->nrecent)
            kill_if_recent(x, &s.procs[i]);
    update_linger(&s);
    if (x->running_dirty)
        exec_running_changed(x);
    free(s.owner);
    free(s.procs);
}

bool exec_track_empty(const exec_attempt_t *a)
{
    return a->nmembers == 0;
}

uint64_t exec_track_cpu_usec(const exec_attempt_t *a)
{
    return a->cpu_usec;
}

void exec_track_linger(worker_exec_t *x, exec_attempt_t *a)
{
    for (size_t i = 0; i < a->nmembers; i++)
        linger_add(x, a->members[i].pid, a->members[i].start);
}

void exec_signal_tree(worker_exec_t *x, exec_attempt_t *a, int sig)
{
    bool group = a->phase < EXEC_DRAINING;
    if (a->pid <= 0)
        return;
    for (size_t i = 0; i < a->nmembers; i++) {
        const exec_member_t *m = &a->members[i];
        exec_proc_t p;
        group = group || m->pgid == a->pid;
        if (m->pid == a->pid && a->phase < EXEC_DRAINING)
            continue; /* the group signal reaches it */
        if (exec_proc_read(m->pid, &p) == 0 && p.start == m->start && p.state != 'Z')
            kill(m->pid, sig);
    }
    /* Once the main process is reaped its number may be reused, unless a
     * member still has it as process group. */
    if (group)
        kill(-a->pid, sig);
    if (a->cg) /* daemons that left the session too */
        exec_cgroup_signal(a->cg, sig);
}

/* ---- the sampler -------------------------------------------------------- */

/* An attempt whose memory limit only sampling enforces. */
static bool needs_fast_sampling(const worker_exec_t *x)
{
    for (size_t i = 0; i < x->natt; i++) {
        const exec_attempt_t *a = x->att[i];
        if (a->memory_limit && !(a->cg && a->cg->memory) && a->phase < EXEC_DRAINING)
            return true;
    }
    return false;
}

/* Milliseconds until the sampler is next due: every EXEC_SAMPLE_MS while
 * a memory limit is enforced by sampling or processes linger, else at the
 * next periodic scan, or when the last recent attempt expires if that
 * comes first and nothing runs (the sampler then stops). A worker whose
 * tasks run without sampled limits wakes for nothing in between. */
static uint64_t sampler_due_in(worker_exec_t *x, uint64_t now)
{
    if (needs_fast_sampling(x) || x->nlinger)
        return EXEC_SAMPLE_MS;
    uint64_t due = x->last_scan + EXEC_SCAN_MS;
    if (x->natt == 0) {
        uint64_t last = 0;
        for (size_t i = 0; i < x->nrecent; i++)
            last = x->recent[i].until_ms > last ? x->recent[i].until_ms : last;
        due = last < due ? last : due;
    }
    return due > now ? due - now : 1;
}

static void sampler_cb(uv_timer_t *t)
{
    worker_exec_t *x = t->data;
    uint64_t now = uv_now(x->loop);
    if (needs_fast_sampling(x) || now - x->last_scan >= EXEC_SCAN_MS ||
        (x->nlinger && now - x->last_scan >= EXEC_SAMPLE_MS)) {
        exec_track_scan(x);
        x->last_scan = now;
    }
    if (x->natt == 0 && x->nlinger == 0 && exec_track_recent_expire(x) == 0) {
        x->sampler_active = false;
        return;
    }
    uv_timer_start(&x->sampler, sampler_cb, sampler_due_in(x, now), 0);
}

void exec_sampler_ensure(worker_exec_t *x)
{
    uint64_t now = uv_now(x->loop), due;
    if (!x->sampler_active) {
        x->last_scan = now;
        x->sampler_active = true;
        due = sampler_due_in(x, now);
    } else if ((due = sampler_due_in(x, now)) >= uv_timer_get_due_in(&x->sampler)) {
        return;
    }
    uv_timer_start(&x->sampler, sampler_cb, due, 0);
}
