/* Reading processes from /proc. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/grow.h"
#include "worker/exec_private.h"

/* Read a small /proc file into buf (NUL-terminated); its length or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t got = 0;
    if (fd < 0)
        return -errno;
    while (got + 1 < len) {
        ssize_t r = read(fd, buf + got, len - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    return (ssize_t)got;
}

/* Parse a stat line; the command name may hold spaces and parentheses, so
 * fields are counted from the last ')'. */
static int parse_stat(pid_t pid, char *line, exec_proc_t *p)
{
    char *s = strrchr(line, ')');
    unsigned long long f[24] = {0};
    char state;
    int ppid, pgid, sid;
    if (!s)
        return -EINVAL;
    /* fields 3.. : state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime cutime cstime prio nice threads itreal
     * starttime vsize rss */
    if (sscanf(s + 1,
               " %c %d %d %d %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu "
               "%llu %llu %llu %llu %llu",
               &state, &ppid, &pgid, &sid, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7],
               &f[8], &f[9], &f[10], &f[11], &f[12], &f[13], &f[14], &f[15], &f[16], &f[17]) != 22)
        return -EINVAL;
    /* f[7]=utime f[8]=stime f[9]=cutime f[10]=cstime f[15]=starttime f[17]=rss */
    p->pid = pid;
    p->state = state;
    p->ppid = ppid;
    p->pgid = pgid;
    p->sid = sid;
    p->ticks = f[7] + f[8] + f[9] + f[10];
    p->start = f[15];
    p->rss_pages = f[17];
    return 0;
}

int exec_proc_read(pid_t pid, exec_proc_t *p)
{
    char path[64], line[1024];
    ssize_t r;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    r = read_small(path, line, sizeof(line));
    if (r < 0)
        return r == -ESRCH ? -ENOENT : (int)r;
    return parse_stat(pid, line, p);
}

static int cmp_proc(const void *a, const void *b)
{
    pid_t x = ((const exec_proc_t *)a)->pid, y = ((const exec_proc_t *)b)->pid;
    return (x > y) - (x < y);
}

int exec_proc_scan(exec_proc_t **procs, size_t *n)
{
    DIR *d = opendir("/proc");
    exec_proc_t *v = NULL;
    size_t len = 0, cap = 0;
    struct dirent *e;
    if (!d)
        return -errno;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long pid;
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        if (CAIRN_GROW(v, cap, len + 1) < 0) {
            free(v);
            closedir(d);
            return -ENOMEM;
        }
        if (exec_proc_read((pid_t)pid, &v[len]) == 0)
            len++;
    }
    closedir(d);
    qsort(v, len, sizeof(*v), cmp_proc);
    *procs = v;
    *n = len;
    return 0;
}

exec_proc_t *exec_proc_find(exec_proc_t *procs, size_t n, pid_t pid)
{
    exec_proc_t key = {.pid = pid};
    return n ? bsearch(&key, procs, n, sizeof(*procs), cmp_proc) : NULL;
}

/* The value in kB of a "Key:   N kB" line of a /proc file, in bytes. */
static uint64_t read_kb_field(const char *path, const char *key)
{
    char buf[4096];
    char *s;
    size_t klen = strlen(key);
    if (read_small(path, buf, sizeof(buf)) < 0)
        return 0;
    for (s = buf; s && *s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL) {
        if (strncmp(s, key, klen) == 0 && s[klen] == ':')
            return strtoull(s + klen + 1, NULL, 10) * 1024;
    }
    return 0;
}

uint64_t exec_proc_hwm(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    return read_kb_field(path, "VmHWM");
}

uint64_t exec_proc_pss(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
    return read_kb_field(path, "Pss");
}

bool exec_proc_environ_get(pid_t pid, const char *name, char *val, size_t len)
{
    char path[64];
    size_t cap = 1 << 16, nlen = strlen(name);
    char *buf = malloc(cap);
    ssize_t r;
    bool found = false;
    if (!buf)
        return false;
    snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
    r = read_small(path, buf, cap);
    for (ssize_t i = 0; r > 0 && i < r && !found; i += (ssize_t)strlen(buf + i) + 1) {
        if (strncmp(buf + i, name, nlen) == 0 && buf[i + (ssize_t)nlen] == '=') {
            snprintf(val, len, "%s", buf + i + nlen + 1);
            found = true;
        }
    }
    free(buf);
    return found;
}

int exec_boot_id(char *buf, size_t len)
{
    ssize_t r = read_small("/proc/sys/kernel/random/boot_id", buf, len);
    if (r < 0)
        return (int)r;
    buf[strcspn(buf, " \n")] = '\0';
    return buf[0] ? 0 : -ENOENT;
}

uint64_t exec_boot_ticks(void)
{
    static long hz;
    struct timespec ts;
    if (!hz)
        hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0 || 1000000000L % hz != 0 || clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
        return 0;
    return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) /
           (uint64_t)(1000000000L / hz);
}
