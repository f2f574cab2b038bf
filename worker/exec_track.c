/* Which processes belong to which attempt, what they use, and the
 * leftovers file.
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
 * After an attempt without a cgroup is reported (exec.c may report it
 * without a scan when its process group is empty), processes still in its
 * session or group, or adopted orphans carrying its CAIRN_ATTEMPT_ID, are
 * killed by the scans of the next EXEC_RECENT_MS. (A task cgroup is
 * reported only once empty.)
 *
 * Reaping. exec.c waits for the attempts' main processes (SIGCHLD); the
 * scans reap every other zombie child (orphans of tasks) with wait4().
 * All child processes of the worker must therefore be spawned by exec.c.
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

/* An attempt's main process not reaped yet: exec.c waits for it. */
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

static void check_memory(worker_exec_t *x, exec_attempt_t *a)
{
    uint64_t pss = 0;
    if (a->memory_limit == 0 || a->phase >= EXEC_DRAINING || a->res.memory_exceeded)
        return;
    if (a->cg && a->cg->memory) {
        if (exec_cgroup_oom_killed(a->cg->path))
            exec_memory_exceeded(x, a);
        return;
    }
    if (a->rss_bytes <= a->memory_limit)
        return;
    for (size_t i = 0; i < a->nmembers; i++)
        pss += exec_proc_pss(a->members[i].pid);
    if ((pss ? pss : a->rss_bytes) > a->memory_limit)
        exec_memory_exceeded(x, a);
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

/* ---- the leftovers file ------------------------------------------------- */

/* The file opens with "# cairn-worker PID boot BOOT-ID: ...", then one line
 * per attempt: "id rank pid start-ticks cgroup [pid:start...]". A start
 * appends its line (one write, no new file); a process prepared ahead
 * (gated) has its line from when it is made, since it may start by itself
 * while the worker sleeps. An end leaves its line in place: a stale line
 * names a process that is gone (its pid and start time no longer match,
 * and a gone leader's number is not reused while its session or group
 * lives), so it kills nothing. The file is rewritten whole (atomic rename)
 * when scans find new members, and every EXEC_RUNNING_STALE_MAX ends.
 *
 * Read back (a restarted worker, or the guard when the worker died), it
 * is honoured only when written in this boot: pids and start times of
 * another boot may name anyone's processes now. A file without a boot id
 * (an older worker) counts as this boot's when it was written since the
 * boot. */
static int running_line_print(char *buf, size_t len, uint64_t id, uint32_t rank, pid_t pid,
                              uint64_t start, const char *cgroup)
{
    return snprintf(buf, len, "%" PRIu64 " %" PRIu32 " %d %" PRIu64 " %s", id, rank, (int)pid,
                    start, cgroup ? cgroup : "-");
}

static void running_line(FILE *f, const exec_attempt_t *a)
{
    char head[PATH_MAX + 128];
    running_line_print(head, sizeof(head), a->id, a->rank, a->pid, a->start,
                       a->cg ? a->cg->path : NULL);
    fputs(head, f);
    for (size_t i = 0; i < a->nmembers; i++)
        if (a->members[i].pid != a->pid)
            fprintf(f, " %d:%" PRIu64, (int)a->members[i].pid, a->members[i].start);
    fputc('\n', f);
}

static int running_append(worker_exec_t *x, uint64_t id, uint32_t rank, pid_t pid, uint64_t start,
                          const char *cgroup)
{
    char line[PATH_MAX + 128];
    int n = running_line_print(line, sizeof(line) - 1, id, rank, pid, start, cgroup);
    if (n < 0 || (size_t)n >= sizeof(line) - 1 || x->running_fd < 0)
        return -ENAMETOOLONG;
    line[n++] = '\n';
    if (write(x->running_fd, line, (size_t)n) != n)
        return -errno;
    return 0;
}

int exec_running_append(worker_exec_t *x, const exec_attempt_t *a)
{
    return running_append(x, a->id, a->rank, a->pid, a->start, a->cg ? a->cg->path : NULL);
}

int exec_running_append_gated(worker_exec_t *x, const exec_prepared_t *p)
{
    return running_append(x, p->attempt_id, p->rank, p->pid, p->start, p->cg ? p->cg->path : NULL);
}

int exec_running_write(worker_exec_t *x)
{
    char tmp[PATH_MAX], boot[64] = "-";
    FILE *f;
    int r = 0;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", x->running_path) >= sizeof(tmp))
        return -ENAMETOOLONG;
    (void)exec_boot_id(boot, sizeof(boot));
    /* private (it lists what the worker kills), never through a link */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        r = -errno;
        if (fd >= 0)
            close(fd);
        return r;
    }
    fprintf(f,
            "# cairn-worker %d boot %s cgroup %s: attempt rank pid start-ticks cgroup "
            "[pid:start-ticks...]\n",
            (int)x->self, boot, x->worker_cg ? x->worker_cg : "-");
    for (size_t k = 0; k < x->natt; k++)
        if (x->att[k]->pid > 0)
            running_line(f, x->att[k]);
    for (size_t k = 0; k < x->ngated; k++) { /* they may start by themselves */
        const exec_prepared_t *p = x->gated[k];
        char line[PATH_MAX + 128];
        if (p->pid <= 0 || exec_find(x, p->attempt_id))
            continue;
        running_line_print(line, sizeof(line), p->attempt_id, p->rank, p->pid, p->start,
                           p->cg ? p->cg->path : NULL);
        fprintf(f, "%s\n", line);
    }
    if (ferror(f))
        r = -EIO;
    if (fclose(f) != 0 && r == 0)
        r = -errno;
    /* no fsync: the file matters when the worker dies, not the machine
     * (a reboot ends every task anyway, and the boot id drops the file) */
    if (r == 0 && rename(tmp, x->running_path) < 0)
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        return r;
    }
    x->running_dirty = false;
    x->running_stale = 0;
    if (x->running_fd >= 0)
        close(x->running_fd);
    x->running_fd = open(x->running_path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    return 0;
}

struct leftover {
    pid_t pid;
    uint64_t start;
    bool leader;
};

/* An attempt of the file: its id (its tasks' CAIRN_ATTEMPT_ID) and when
 * its main process started; with a cgroup, the cgroup says who is in it. */
struct leftover_attempt {
    uint64_t id, start;
    bool cgroup;
};

struct leftovers {
    struct leftover *v;
    size_t n, cap;
    struct leftover_attempt *att;
    size_t natt, capatt;
    char **cgroups;
    size_t ncg, capcg;
    char worker_cg[PATH_MAX]; /* the dead worker's cgroup, or "" */
    pid_t ancestors[32];      /* who the dead worker's orphans went to (see is_leftover) */
    size_t nancestors;
    const char *own_marker; /* CAIRN_ATTEMPT_ID of the reader itself, or NULL */
    pid_t self;
};

static int leftover_add(struct leftovers *l, pid_t pid, uint64_t start, bool leader)
{
    if (pid <= 1)
        return 0;
    if (CAIRN_GROW(l->v, l->cap, l->n + 1) < 0)
        return -ENOMEM;
    l->v[l->n++] = (struct leftover){pid, start, leader};
    return 0;
}

static void parse_line(struct leftovers *l, char *line)
{
    unsigned long long id, start;
    unsigned rank;
    int pid, off = 0;
    char cg[PATH_MAX];
    if (line[0] == '#' ||
        sscanf(line, "%llu %u %d %llu %4095s%n", &id, &rank, &pid, &start, cg, &off) != 5)
        return;
    leftover_add(l, pid, start, true);
    if (CAIRN_GROW(l->att, l->capatt, l->natt + 1) == 0)
        l->att[l->natt++] = (struct leftover_attempt){id, start, strcmp(cg, "-") != 0};
    char *save = NULL;
    for (char *tok = strtok_r(line + off, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
        if (sscanf(tok, "%d:%llu", &pid, &start) == 2)
            leftover_add(l, pid, start, false);
    if (strcmp(cg, "-") == 0 || CAIRN_GROW(l->cgroups, l->capcg, l->ncg + 1) < 0)
        return;
    if ((l->cgroups[l->ncg] = strdup(cg)) != NULL)
        l->ncg++;
}

/* Whether the file (open as f, its first line in line) was written in
 * this boot: its boot id, else (an older worker's) its time. */
static bool this_boot(FILE *f, const char *line)
{
    char boot[64], theirs[64];
    const char *b = strstr(line, " boot ");
    if (line[0] == '#' && b && sscanf(b, " boot %63[^: \n]", theirs) == 1)
        return exec_boot_id(boot, sizeof(boot)) == 0 && strcmp(boot, theirs) == 0;
    struct stat st;
    struct timespec now, up;
    if (fstat(fileno(f), &st) < 0 || clock_gettime(CLOCK_REALTIME, &now) < 0 ||
        clock_gettime(CLOCK_BOOTTIME, &up) < 0)
        return false;
    return st.st_mtime >= now.tv_sec - up.tv_sec;
}

/* Whether p, in no cgroup of the file, carries the CAIRN_ATTEMPT_ID of a
 * recorded attempt without a cgroup and started after it. Only orphans,
 * that is processes whose parent is one the dead worker's orphans went to
 * (the nearest subreaper above it, or init: some ancestor of ours): a
 * live worker's tasks have that worker as parent, so the same attempt id
 * of another cluster's worker on this node is never taken for ours. */
static bool is_marked_orphan(const struct leftovers *l, const exec_proc_t *p)
{
    bool orphan = false;
    for (size_t i = 0; i < l->nancestors && !orphan; i++)
        orphan = p->ppid == l->ancestors[i];
    if (!orphan || p->state == 'Z')
        return false;
    uint64_t first = UINT64_MAX;
    for (size_t i = 0; i < l->natt; i++)
        if (!l->att[i].cgroup && l->att[i].start < first)
            first = l->att[i].start;
    char val[32], *end;
    if (p->start < first || !exec_proc_environ_get(p->pid, "CAIRN_ATTEMPT_ID", val, sizeof(val)) ||
        (l->own_marker && strcmp(val, l->own_marker) == 0))
        return false;
    uint64_t id = strtoull(val, &end, 10);
    for (size_t i = 0; !*end && i < l->natt; i++)
        if (l->att[i].id == id && !l->att[i].cgroup && p->start >= l->att[i].start)
            return true;
    return false;
}

/* Whether p is one of the leftovers by itself: a recorded process (same
 * start), or in the session or group of a recorded leader that is still
 * the same process or gone (then nobody new can have its number: see
 * above). */
static bool is_leftover(const struct leftovers *l, exec_proc_t *procs, size_t n,
                        const exec_proc_t *p)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct leftover *t = &l->v[i];
        const exec_proc_t *lp;
        if (t->pid == p->pid && t->start == p->start)
            return true;
        if (!t->leader || (p->sid != t->pid && p->pgid != t->pid))
            continue;
        lp = exec_proc_find(procs, n, t->pid);
        if (!lp || lp->start == t->start)
            return true;
    }
    return is_marked_orphan(l, p);
}

/* SIGKILL every live leftover and every descendant of one; how many. */
static size_t leftovers_pass(const struct leftovers *l)
{
    exec_proc_t *procs;
    size_t n, killed = 0;
    if (exec_proc_scan(&procs, &n) < 0)
        return 0;
    bool *hit = calloc(n ? n : 1, sizeof(*hit));
    if (!hit) {
        free(procs);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        hit[i] = procs[i].pid != l->self && is_leftover(l, procs, n, &procs[i]);
    /* their descendants (daemons that left the session among them) */
    for (bool more = true; more;) {
        more = false;
        for (size_t i = 0; i < n; i++) {
            const exec_proc_t *pp = hit[i] ? NULL : exec_proc_find(procs, n, procs[i].ppid);
            if (pp && hit[pp - procs] && procs[i].pid != l->self)
                hit[i] = more = true;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (hit[i] && procs[i].state != 'Z' && kill(procs[i].pid, SIGKILL) == 0)
            killed++;
    free(hit);
    free(procs);
    return killed;
}

/* Where orphans of a worker that ran beside us went: our ancestors. */
static void leftovers_ancestors(struct leftovers *l)
{
    exec_proc_t p;
    pid_t pid = getppid();
    while (pid > 0 && l->nancestors < sizeof(l->ancestors) / sizeof(l->ancestors[0])) {
        l->ancestors[l->nancestors++] = pid;
        if (pid == 1 || exec_proc_read(pid, &p) < 0)
            break;
        pid = p.ppid;
    }
    size_t max = sizeof(l->ancestors) / sizeof(l->ancestors[0]);
    if (l->nancestors == 0 || l->ancestors[l->nancestors - 1] != 1)
        l->ancestors[l->nancestors < max ? l->nancestors++ : max - 1] = 1;
}

size_t exec_leftovers_end(const char *path, const char *own_marker, uint64_t wait_ms)
{
    struct leftovers l = {.own_marker = own_marker, .self = getpid()};
    char line[8192];
    size_t killed = 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    if (!fgets(line, sizeof(line), f) || !this_boot(f, line)) {
        fclose(f); /* another boot's: its pids name other processes now */
        return 0;
    }
    const char *cg = line[0] == '#' ? strstr(line, " cgroup /") : NULL;
    if (!cg || sscanf(cg, " cgroup %4095[^: \n]", l.worker_cg) != 1)
        l.worker_cg[0] = '\0';
    do
        parse_line(&l, line);
    while (fgets(line, sizeof(line), f));
    fclose(f);
    leftovers_ancestors(&l);
    if (l.worker_cg[0]) /* every task of the worker at once */
        exec_cgroup_kill(l.worker_cg);
    for (size_t i = 0; i < l.ncg; i++)
        exec_cgroup_kill(l.cgroups[i]);
    /* Wait until they are dead, so that their GPUs and memory are free
     * before anyone offers them again. */
    for (uint64_t waited = 0;; waited += 10) {
        size_t k = leftovers_pass(&l);
        if (waited == 0)
            killed = k;
        if (k == 0 || waited >= wait_ms)
            break;
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    for (size_t i = 0; i < l.ncg; i++) {
        (void)exec_cgroup_remove(l.cgroups[i]);
        free(l.cgroups[i]);
    }
    if (l.worker_cg[0])
        exec_cgroup_worker_remove(l.worker_cg);
    free(l.cgroups);
    free(l.att);
    free(l.v);
    return killed;
}

void exec_leftovers_kill(worker_exec_t *x)
{
    (void)exec_leftovers_end(x->running_path, x->marker, 2000);
}
