/* The leftovers file, STATE_DIR/running: the processes of the worker's
 * tasks, so that a restarted worker, or the guard (exec_guard.c) when the
 * worker dies, can end what is left of them.
 *
 * The file opens with "# cairn-worker PID boot BOOT-ID: ...", then one line
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
 * boot.
 *
 * A change the attempts make to it is written before the loop next
 * blocks (exec_running_changed), once for all changes of the iteration. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/grow.h"
#include "worker/exec_private.h"

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

static void running_flush_cb(uv_prepare_t *h)
{
    worker_exec_t *x = h->data;
    uv_prepare_stop(h);
    if (x->running_dirty)
        (void)exec_running_write(x);
}

void exec_running_changed(worker_exec_t *x)
{
    x->running_dirty = true;
    uv_prepare_start(&x->running_flush, running_flush_cb);
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
