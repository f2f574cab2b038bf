/* cairn-task-shim: what cairn-worker starts for every task. It prepares the
 * process and then becomes the task with execvp():
 *
 *   - dies with the worker (PR_SET_PDEATHSIG = SIGKILL), and gives up if the
 *     worker already died (its parent is no longer --ppid);
 *   - leads its own session and process group (the worker spawns it
 *     detached), so the worker signals the whole tree with kill(-pid);
 *   - joins the task's cgroup (--cgroup) when the worker made one;
 *   - binds to the task's PUs (--cpus, OS indexes) and prefers the task's
 *     NUMA nodes for memory (--mems). A binding that fails is a warning on
 *     the task's stderr, never a failure: the task still runs;
 *   - closes every inherited fd above the status fd.
 *
 * Anything that stops the task from starting is reported on the status fd
 * (--status-fd, close-on-exec): a 4-byte errno and a message, then exit
 * 127. A successful exec closes the fd with nothing written, so the worker
 * tells "could not start" from "the command exited 127".
 *
 * Memory binding prefers the task's NUMA nodes, it does not force them:
 * HWLOC_MEMBIND_BIND without HWLOC_MEMBIND_STRICT, which hwloc maps to
 * MPOL_PREFERRED (MPOL_PREFERRED_MANY where hwloc and the kernel have it;
 * plain PREFERRED uses the first node only). CPU binding already makes
 * first-touch allocations local; a strict binding would turn a shortage on
 * one NUMA node (page cache, other tenants, driver buffers) into an OOM
 * kill of a task that is within its own memory limit, which is enforced
 * separately. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <hwloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

struct shim_opts {
    long ppid;
    int status_fd;
    const char *cpus, *mems, *cgroup;
    char **argv;
};

/* Report why the task could not start, on stderr and the status fd. */
static void die(int status_fd, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
static void die(int status_fd, int code, const char *fmt, ...)
{
    char rec[300];
    int32_t c = code;
    va_list ap;
    int n;
    memcpy(rec, &c, sizeof(c));
    va_start(ap, fmt);
    n = vsnprintf(rec + sizeof(c), sizeof(rec) - sizeof(c), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(rec) - sizeof(c))
        n = (int)(sizeof(rec) - sizeof(c) - 1);
    dprintf(STDERR_FILENO, "cairn-task-shim: %s\n", rec + sizeof(c));
    if (status_fd >= 0 && write(status_fd, rec, sizeof(c) + (size_t)n) < 0) {
        /* nothing more to do: the exit status still says 127 */
    }
    _exit(127);
}

static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warn(const char *fmt, ...)
{
    va_list ap;
    dprintf(STDERR_FILENO, "cairn-task-shim: warning: ");
    va_start(ap, fmt);
    vdprintf(STDERR_FILENO, fmt, ap);
    va_end(ap);
    dprintf(STDERR_FILENO, "\n");
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: cairn-task-shim --ppid PID [--status-fd FD] [--cpus LIST] [--mems LIST]\n"
               "                       [--cgroup DIR] -- PROGRAM [ARGS...]\n"
               "Started by cairn-worker to run one task; not meant to be run by hand.\n");
}

/* Returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, struct shim_opts *o)
{
    static const struct option opts[] = {
        {"ppid", required_argument, NULL, 'p'},
        {"status-fd", required_argument, NULL, 's'},
        {"cpus", required_argument, NULL, 'c'},
        {"mems", required_argument, NULL, 'm'},
        {"cgroup", required_argument, NULL, 'g'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            o->ppid = strtol(optarg, NULL, 10);
            break;
        case 's':
            o->status_fd = (int)strtol(optarg, NULL, 10);
            break;
        case 'c':
            o->cpus = optarg;
            break;
        case 'm':
            o->mems = optarg;
            break;
        case 'g':
            o->cgroup = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("cairn-task-shim %s\n", CAIRN_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc || o->ppid <= 0) {
        usage(stderr);
        return 2;
    }
    o->argv = argv + optind;
    return -1;
}

static void join_cgroup(const struct shim_opts *o)
{
    char path[4096];
    int fd, n;
    snprintf(path, sizeof(path), "%s/cgroup.procs", o->cgroup);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        die(o->status_fd, errno, "cannot join cgroup %s: %s", o->cgroup, strerror(errno));
    n = dprintf(fd, "%d\n", (int)getpid());
    if (n < 0) {
        int e = errno;
        close(fd);
        die(o->status_fd, e, "cannot join cgroup %s: %s", o->cgroup, strerror(e));
    }
    close(fd);
}

static void bind_cpus(hwloc_topology_t topo, const char *list)
{
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (!set || hwloc_bitmap_list_sscanf(set, list) < 0)
        warn("cannot parse the PU list \"%s\": not bound", list);
    else if (hwloc_set_cpubind(topo, set, HWLOC_CPUBIND_PROCESS) < 0)
        warn("cannot bind to PUs %s: %s; the task runs unbound", list, strerror(errno));
    hwloc_bitmap_free(set);
}

static void bind_mems(hwloc_topology_t topo, const char *list)
{
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (!set || hwloc_bitmap_list_sscanf(set, list) < 0)
        warn("cannot parse the NUMA node list \"%s\": not bound", list);
    else if (hwloc_set_membind(topo, set, HWLOC_MEMBIND_BIND, HWLOC_MEMBIND_BYNODESET) < 0)
        warn("cannot prefer NUMA nodes %s for memory: %s; allocations stay local to the "
             "task's CPUs",
             list, strerror(errno));
    hwloc_bitmap_free(set);
}

static void bind_task(const struct shim_opts *o)
{
    hwloc_topology_t topo;
    if (!o->cpus && !o->mems)
        return;
    if (hwloc_topology_init(&topo) < 0) {
        warn("hwloc: cannot initialize a topology: %s; the task runs unbound", strerror(errno));
        return;
    }
    /* Binding needs only PUs and NUMA nodes: skip caches and groups. */
    hwloc_topology_set_cache_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_NONE);
    hwloc_topology_set_type_filter(topo, HWLOC_OBJ_GROUP, HWLOC_TYPE_FILTER_KEEP_NONE);
    if (hwloc_topology_load(topo) < 0) {
        warn("hwloc: cannot load the topology: %s; the task runs unbound", strerror(errno));
    } else {
        if (o->cpus)
            bind_cpus(topo, o->cpus);
        if (o->mems)
            bind_mems(topo, o->mems);
    }
    hwloc_topology_destroy(topo);
}

int main(int argc, char **argv)
{
    struct shim_opts o = {.status_fd = -1};
    int r = parse(argc, argv, &o);
    if (r >= 0)
        return r;
    if (o.status_fd >= 0 && fcntl(o.status_fd, F_SETFD, FD_CLOEXEC) < 0)
        o.status_fd = -1;
    /* Die with the worker; if it died before this line, nobody supervises
     * us, so do not start. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        die(o.status_fd, errno, "prctl(PR_SET_PDEATHSIG): %s", strerror(errno));
    if (getppid() != (pid_t)o.ppid)
        die(o.status_fd, ESRCH, "the worker (pid %ld) exited before the task started", o.ppid);
    if (getsid(0) != getpid() && setsid() < 0)
        warn("setsid: %s", strerror(errno));
    if (close_range((unsigned)(o.status_fd > 2 ? o.status_fd : 2) + 1, ~0U, 0) < 0) {
        /* old kernel: inherited fds stay open, which is harmless */
    }
    if (o.cgroup)
        join_cgroup(&o);
    bind_task(&o);
    execvp(o.argv[0], o.argv);
    die(o.status_fd, errno, "cannot execute %s: %s", o.argv[0], strerror(errno));
}
