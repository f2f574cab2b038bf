/* Task cgroups (cgroup v2), where the worker may make them.
 *
 * Who belongs to a task. Where a cgroup v2 hierarchy is writable (a root
 * worker: /sys/fs/cgroup, or the v2 half of a hybrid host,
 * /sys/fs/cgroup/unified), the worker makes a cgroup of its own under
 * cairn.tasks there, named after its pid and start time (unique within a
 * boot), and each task runs in a cgroup below it: its process is created
 * in it (clone3 with CLONE_INTO_CGROUP), so everything the task starts is
 * in it too, daemons that leave its session included, and no task can
 * leave it (that takes write access to cgroup.procs above, root's). The
 * task's processes are then those in its cgroup: no environment variable
 * a task controls says otherwise (exec_track.c), its end is seen in
 * cgroup.events ("populated 0"), and cgroup.kill ends it whole. Task
 * cgroups without a memory limit are kept when empty and used again, so
 * a start costs no mkdir or rmdir. The leftovers file names the worker's
 * cgroup: the guard or a restarted worker ends every task with one write
 * to its cgroup.kill. No controller is needed for this.
 *
 * Memory limits, where the memory controller can be handed down: by
 * default /sys/fs/cgroup/cairn.tasks, made when /sys/fs/cgroup is a
 * cgroup v2 hierarchy whose root offers the memory controller to its
 * children (a host with systemd, as root). In a container whose cgroup
 * holds processes the controller cannot be handed down, and limits fall
 * back to sampling (exec_track.c). A task with a memory limit gets a
 * cgroup of its own, removed when it ends, with memory.max = the limit,
 * memory.swap.max = 0 (a limit that swaps is no limit) and
 * memory.oom.group = 1 (the kernel kills the whole task, not one process
 * of it). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/grow.h"
#include "worker/exec_private.h"

#define CGROUP2_MAGIC 0x63677270
#define CGROUP_MOUNT "/sys/fs/cgroup"

static int write_file(const char *dir, const char *name, const char *text)
{
    char path[4096];
    int fd, r = 0;
    size_t len = strlen(text);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (write(fd, text, len) != (ssize_t)len)
        r = -errno;
    close(fd);
    return r;
}

static int read_file(const char *dir, const char *name, char *buf, size_t len)
{
    char path[4096];
    int fd;
    ssize_t n;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return -errno;
    buf[n] = '\0';
    return 0;
}

/* Whether a space-separated list file holds word. */
static bool list_has(const char *dir, const char *name, const char *word)
{
    char buf[1024];
    size_t wl = strlen(word);
    if (read_file(dir, name, buf, sizeof(buf)) < 0)
        return false;
    for (char *s = buf; (s = strstr(s, word)) != NULL; s += wl)
        if ((s == buf || s[-1] == ' ') && (s[wl] == ' ' || s[wl] == '\n' || s[wl] == '\0'))
            return true;
    return false;
}

static bool is_cgroup2(const char *dir)
{
    struct statfs fs;
    return statfs(dir, &fs) == 0 && fs.f_type == CGROUP2_MAGIC;
}

/* Hand the memory controller down from dir to its children. */
static int enable_memory(const char *dir)
{
    if (list_has(dir, "cgroup.subtree_control", "memory"))
        return 0;
    if (!list_has(dir, "cgroup.controllers", "memory"))
        return -ENOTSUP;
    return write_file(dir, "cgroup.subtree_control", "+memory");
}

static int setup_auto(char **root)
{
    const char *dir = CGROUP_MOUNT "/cairn.tasks";
    bool made = false;
    *root = NULL;
    if (!is_cgroup2(CGROUP_MOUNT) || enable_memory(CGROUP_MOUNT) < 0)
        return 0;
    if (mkdir(dir, 0755) == 0)
        made = true;
    else if (errno != EEXIST)
        return 0;
    if (enable_memory(dir) < 0) {
        if (made)
            rmdir(dir);
        return 0;
    }
    *root = strdup(dir);
    return *root ? 0 : -ENOMEM;
}

int exec_cgroup_setup(const char *dir, char **root, cairn_error_t *err)
{
    int r;
    *root = NULL;
    if (!dir)
        return setup_auto(root);
    if (!dir[0])
        return 0;
    if (!is_cgroup2(dir))
        return errcode(err, -EINVAL, "%s is not a cgroup v2 directory", dir);
    r = enable_memory(dir);
    if (r < 0)
        return errcode(err, r, "cgroup %s: cannot enable the memory controller for tasks: %s", dir,
                       strerror(-r));
    *root = strdup(dir);
    return *root ? 0 : errcode(err, -ENOMEM, "out of memory");
}

static exec_cg_t *cg_open(char *path, bool memory)
{
    exec_cg_t *cg = calloc(1, sizeof(*cg));
    char ev[PATH_MAX];
    if (!cg)
        return NULL;
    snprintf(ev, sizeof(ev), "%s/cgroup.events", path);
    cg->path = path;
    cg->memory = memory;
    cg->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cg->eventsfd = open(ev, O_RDONLY | O_CLOEXEC);
    if (cg->dirfd < 0 || cg->eventsfd < 0) {
        cg->path = NULL;
        exec_cgroup_free(cg);
        return NULL;
    }
    return cg;
}

void exec_cgroup_free(exec_cg_t *cg)
{
    if (!cg)
        return;
    if (cg->dirfd >= 0)
        close(cg->dirfd);
    if (cg->eventsfd >= 0)
        close(cg->eventsfd);
    free(cg->path);
    free(cg);
}

int exec_cgroup_memory(worker_exec_t *x, const char *name, uint64_t limit, exec_cg_t **out,
                       cairn_error_t *err)
{
    char *p = NULL, num[32];
    int r;
    if (asprintf(&p, "%s/%s", x->worker_cg, name) < 0)
        return errcode(err, -ENOMEM, "out of memory");
    if (mkdir(p, 0755) < 0 && errno != EEXIST) {
        r = -errno;
        free(p);
        return errcode(err, r, "cannot make cgroup %s/%s: %s", x->worker_cg, name, strerror(-r));
    }
    snprintf(num, sizeof(num), "%" PRIu64, limit);
    r = write_file(p, "memory.max", num);
    if (r < 0) {
        rmdir(p);
        free(p);
        return errcode(err, r, "cannot set memory.max in cgroup %s/%s: %s", x->worker_cg, name,
                       strerror(-r));
    }
    (void)write_file(p, "memory.swap.max", "0"); /* absent without swap accounting */
    (void)write_file(p, "memory.oom.group", "1");
    exec_cg_t *cg = cg_open(p, true);
    if (!cg) {
        r = errno ? -errno : -ENOMEM;
        rmdir(p);
        free(p);
        return errcode(err, r, "cannot open cgroup %s/%s: %s", x->worker_cg, name, strerror(-r));
    }
    *out = cg;
    return 0;
}

exec_cg_t *exec_cgroup_take(worker_exec_t *x)
{
    if (!x->worker_cg)
        return NULL;
    if (x->ncg_pool > 0) {
        exec_cg_t *cg = x->cg_pool[--x->ncg_pool];
        cg->empty = false;
        return cg;
    }
    char *p = NULL;
    if (asprintf(&p, "%s/t%u", x->worker_cg, ++x->cg_seq) < 0)
        return NULL;
    if (mkdir(p, 0755) < 0 && errno != EEXIST) {
        free(p);
        return NULL;
    }
    exec_cg_t *cg = cg_open(p, false);
    if (!cg) {
        rmdir(p);
        free(p);
    }
    return cg;
}

void exec_cgroup_give(worker_exec_t *x, exec_cg_t *cg)
{
    if (!cg)
        return;
    if (!cg->empty && exec_cgroup_populated(cg)) {
        exec_cgroup_kill(cg->path); /* what lingers dies; the cgroup is not used again */
    } else if (!cg->memory && !cg->killed && x && x->ncg_pool < EXEC_CG_POOL) {
        x->cg_pool[x->ncg_pool++] = cg;
        return;
    }
    (void)exec_cgroup_remove(cg->path); /* busy while something lingers: removed at the end */
    exec_cgroup_free(cg);
}

bool exec_cgroup_populated(exec_cg_t *cg)
{
    char buf[128];
    ssize_t n = pread(cg->eventsfd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return true; /* unknown: look again */
    buf[n] = '\0';
    const char *p = strstr(buf, "populated ");
    /* once empty it stays so: only the worker starts processes in it */
    cg->empty = p && p[10] == '0';
    return !cg->empty;
}

int exec_cgroup_pids(const char *path, pid_t **pids, size_t *n)
{
    char name[PATH_MAX];
    snprintf(name, sizeof(name), "%s/cgroup.procs", path);
    FILE *f = fopen(name, "re");
    size_t cap = 0;
    long pid;
    *pids = NULL;
    *n = 0;
    if (!f)
        return -errno;
    while (fscanf(f, "%ld", &pid) == 1) {
        if (CAIRN_GROW(*pids, cap, *n + 1) < 0)
            break;
        (*pids)[(*n)++] = (pid_t)pid;
    }
    fclose(f);
    return 0;
}

void exec_cgroup_signal(exec_cg_t *cg, int sig)
{
    pid_t *pids;
    size_t n;
    /* cgroup.kill for a cgroup that is not used again; a pooled one gets
     * its SIGKILLs one by one (a drain repeats them until it is empty):
     * on some kernels (6.14 to at least 6.18) a process created with
     * CLONE_INTO_CGROUP in a cgroup once killed so is killed at birth */
    if (sig == SIGKILL && cg->memory) {
        cg->killed = true;
        exec_cgroup_kill(cg->path);
        return;
    }
    if (exec_cgroup_pids(cg->path, &pids, &n) < 0)
        return;
    for (size_t i = 0; i < n; i++)
        kill(pids[i], sig);
    free(pids);
}

/* Make base (mkdir -p of its last part only) and the worker's cgroup in
 * it; with memory, the memory controller handed down to the tasks. */
static int worker_cg_make(const char *base, bool memory, const char *name, char **out)
{
    char *p = NULL;
    if (mkdir(base, 0755) < 0 && errno != EEXIST)
        return -errno;
    if (asprintf(&p, "%s/%s", base, name) < 0)
        return -ENOMEM;
    if (mkdir(p, 0755) < 0 && errno != EEXIST) {
        int r = -errno;
        free(p);
        return r;
    }
    int r = memory ? enable_memory(p) : 0;
    if (r < 0) {
        rmdir(p);
        free(p);
        return r;
    }
    *out = p;
    return 0;
}

int exec_cgroup_worker_setup(const char *dir, const char *memory_root, const char *name,
                             char **worker_cg, cairn_error_t *err)
{
    *worker_cg = NULL;
    if (dir && !dir[0])
        return 0;
    if (memory_root) {
        int r = worker_cg_make(memory_root, true, name, worker_cg);
        if (r < 0)
            return errcode(err, r, "cannot make cgroup %s/%s: %s", memory_root, name, strerror(-r));
        return 0;
    }
    /* no memory controller to hand down: tracking only, where v2 is */
    static const char *const mounts[] = {CGROUP_MOUNT, CGROUP_MOUNT "/unified"};
    for (size_t i = 0; !dir && i < sizeof(mounts) / sizeof(mounts[0]); i++) {
        char base[PATH_MAX];
        if (!is_cgroup2(mounts[i]))
            continue;
        snprintf(base, sizeof(base), "%s/cairn.tasks", mounts[i]);
        if (worker_cg_make(base, false, name, worker_cg) == 0)
            return 0;
    }
    return 0;
}

void exec_cgroup_worker_remove(const char *worker_cg)
{
    DIR *d = opendir(worker_cg);
    struct dirent *e;
    char path[PATH_MAX];
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_type != DT_DIR || e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", worker_cg, e->d_name);
        (void)rmdir(path);
    }
    closedir(d);
    (void)rmdir(worker_cg);
}

/* A "key value" line of a flat-keyed cgroup file. */
static uint64_t keyed_value(const char *dir, const char *name, const char *key)
{
    char buf[2048];
    size_t kl = strlen(key);
    if (read_file(dir, name, buf, sizeof(buf)) < 0)
        return 0;
    for (char *s = buf; s && *s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL)
        if (strncmp(s, key, kl) == 0 && s[kl] == ' ')
            return strtoull(s + kl + 1, NULL, 10);
    return 0;
}

bool exec_cgroup_oom_killed(const char *path)
{
    return keyed_value(path, "memory.events", "oom_kill") > 0;
}

uint64_t exec_cgroup_peak(const char *path)
{
    char buf[64];
    return read_file(path, "memory.peak", buf, sizeof(buf)) == 0 ? strtoull(buf, NULL, 10) : 0;
}

void exec_cgroup_kill(const char *path)
{
    char buf[8192];
    if (write_file(path, "cgroup.kill", "1") == 0)
        return;
    /* before Linux 5.14: one by one */
    if (read_file(path, "cgroup.procs", buf, sizeof(buf)) < 0)
        return;
    for (char *s = buf; s && *s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL) {
        long pid = strtol(s, NULL, 10);
        if (pid > 0)
            kill((pid_t)pid, SIGKILL);
    }
}

int exec_cgroup_remove(const char *path)
{
    return rmdir(path) == 0 || errno == ENOENT ? 0 : -errno;
}
