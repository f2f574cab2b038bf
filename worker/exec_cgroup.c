/* Memory limits with cgroup v2, where the worker may make cgroups.
 *
 * Task cgroups go under one directory with the memory controller enabled
 * for its children: by default /sys/fs/cgroup/cairn.tasks, made when
 * /sys/fs/cgroup is a cgroup v2 hierarchy whose root offers the memory
 * controller to its children (a host with systemd, as root). In a
 * container whose cgroup holds processes the controller cannot be handed
 * down, and limits fall back to sampling (exec_track.c). A task cgroup has
 * memory.max = the limit, memory.swap.max = 0 (a limit that swaps is no
 * limit) and memory.oom.group = 1 (the kernel kills the whole task, not
 * one process of it). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "exec_private.h"

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

int exec_cgroup_create(const char *root, const char *name, uint64_t limit, char **path,
                       cairn_error_t *err)
{
    char *p = NULL, num[32];
    int r;
    if (asprintf(&p, "%s/%s", root, name) < 0)
        return errcode(err, -ENOMEM, "out of memory");
    if (mkdir(p, 0755) < 0 && errno != EEXIST) {
        r = -errno;
        free(p);
        return errcode(err, r, "cannot make cgroup %s/%s: %s", root, name, strerror(-r));
    }
    snprintf(num, sizeof(num), "%" PRIu64, limit);
    r = write_file(p, "memory.max", num);
    if (r < 0) {
        rmdir(p);
        free(p);
        return errcode(err, r, "cannot set memory.max in cgroup %s/%s: %s", root, name,
                       strerror(-r));
    }
    (void)write_file(p, "memory.swap.max", "0"); /* absent without swap accounting */
    (void)write_file(p, "memory.oom.group", "1");
    *path = p;
    return 0;
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
