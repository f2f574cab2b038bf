/* Starting a task's process: clone(CLONE_VM) on a stack of our own, the
 * child prepares itself and execs while the worker thread goes on; the
 * child's errno and message come back in memory they share, and
 * CLONE_CHILD_CLEARTID tells when the child no longer uses the worker's
 * memory (it exec'd or exited). No helper binary and no second exec: the
 * whole start costs about what posix_spawn() costs, and the worker never
 * waits for it: a start whose exec hangs (its program or directory on a
 * file system that does not answer, a stopped child) cannot stop the
 * worker's loop; exec_start.c fails such a start after a bound (exec.h,
 * start_timeout_ms) and kills the child.
 *
 * The child, before exec:
 *   - resets every signal handler to the default and unblocks all signals
 *     (the worker blocks them around clone(), so no handler of the worker
 *     can run on the child's stack);
 *   - leads its own session and process group, so the worker signals the
 *     whole tree with kill(-pid);
 *   - dies with the worker thread (PR_SET_PDEATHSIG = SIGKILL), and gives up
 *     if the worker already died; the death signal is set again after the
 *     change to the submitter's uid, which clears it;
 *   - is in the task's cgroup when there is one: created in it
 *     (clone3 with CLONE_INTO_CGROUP, Linux 5.7), else it joins it;
 *   - binds to the task's PUs (sched_setaffinity, OS indexes are Linux CPU
 *     numbers) and prefers its NUMA nodes for memory (set_mempolicy with
 *     MPOL_PREFERRED_MANY, else MPOL_PREFERRED on the first node). A
 *     binding that fails is a warning on the task's stderr, never a
 *     failure: the task still runs. Preferring, not binding strictly, keeps
 *     a shortage on one NUMA node from becoming an OOM kill of a task
 *     within its own memory limit (enforced separately);
 *   - gets /dev/null as stdin, its log files as stdout and stderr, its
 *     working directory, and no other inherited fd;
 *   - searches PATH from the task's environment (as the task would), like
 *     execvpe(), including the /bin/sh fallback for ENOEXEC.
 *
 * The child runs on the worker's memory until it execs: it makes raw
 * system calls, so that no library state of the worker (errno, through the
 * thread pointer it shares; a sanitizer's signal bookkeeping) is touched
 * from the child, and writes nothing but the shared result. Where raw
 * system calls are not written here (other than x86-64 and arm64) the
 * start uses clone(CLONE_VM | CLONE_VFORK), and the worker waits for the
 * exec as posix_spawn() would.
 *
 * Gated start (the attempt queued behind a running one): the child does
 * all of the above but the CPU binding, the submitter's identity and the
 * directory, names itself cairn-queued and sleeps at its gate; it takes
 * the identity and directory only once through, so a process of the
 * submitter's shares the worker's memory no longer than an ungated child
 * does. The gate is either
 *   - a pidfd of the running attempt's main process (after_fd): when that
 *     process exits the child wakes, on the core it left, binds itself and
 *     execs, the worker not involved; or
 *   - a futex: when the cores come free the worker binds the child
 *     (sched_setaffinity of a sleeping process moves nothing) and opens it.
 * Either way only the exec is left between the predecessor's end and the
 * task running. Until the child settled, its stack and everything it reads
 * stay. Measured on a 2-core VM (1,000 /bin/true tasks, two slots): the
 * futex gate gave 3-6% more tasks per second than starting the queued
 * attempt when its predecessor ended, the pidfd gate 1.5-4% more again;
 * binding the child before it sleeps (it then runs on the predecessor's
 * core while that still runs) gave no gain. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "worker/exec_private.h"

#define CHILD_STACK (256 * 1024)
#define MPOL_PREFERRED_ 1
#define MPOL_PREFERRED_MANY_ 5

/* The child's system calls: raw, so that neither a sanitizer's wrapper nor
 * errno (the worker thread's, through the shared thread pointer) is
 * touched. Returns -errno on failure. */
#if defined(__x86_64__)
static long sc(long nr, long a, long b, long c, long d)
{
    long ret;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
static long sc(long nr, long a, long b, long c, long d)
{
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory", "cc");
    return x0;
}
#else
static long sc(long nr, long a, long b, long c, long d)
{
    long r = syscall(nr, a, b, c, d);
    return r < 0 ? -errno : r;
}
#endif

/* clone3(2) arguments (linux/sched.h, whose CLONE_* clash with sched.h). */
struct clone3_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
        set_tid_size, cgroup;
};
#define CLONE_INTO_CGROUP_ 0x200000000ULL

#if defined(__x86_64__) && defined(SYS_clone3)
#define EXEC_CAN_CLONE3 1
/* clone3, the child running fn(arg) on the stack it was given and exiting
 * with its result (glibc has no clone3 wrapper); -errno in the parent. */
static long clone3_run(struct clone3_args *ca, int (*fn)(void *), void *arg)
{
    long ret;
    register long r12 __asm__("r12") = (long)arg;
    register long r13 __asm__("r13") = (long)fn;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "xor %%ebp, %%ebp\n\t" /* the child: no caller frame */
                     "mov %%r12, %%rdi\n\t"
                     "call *%%r13\n\t"
                     "mov %%eax, %%edi\n\t"
                     "mov %[nr_exit], %%eax\n\t"
                     "syscall\n\t"
                     "ud2\n"
                     "1:"
                     : "=a"(ret)
                     : "a"((long)SYS_clone3), "D"(ca), "S"(sizeof(*ca)), "r"(r12),
                       "r"(r13), [nr_exit] "i"(SYS_exit)
                     : "rcx", "r11", "memory");
    return ret;
}
#else
#define EXEC_CAN_CLONE3 0
static long clone3_run(struct clone3_args *ca, int (*fn)(void *), void *arg)
{
    (void)ca, (void)fn, (void)arg;
    return -ENOSYS;
}
#endif

static size_t c_strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

static void child_say(int fd, const char *a, const char *b, const char *c)
{
    const char *parts[] = {"cairn-worker: ", a, b, c, "\n"};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        if (parts[i] && sc(SYS_write, fd, (long)parts[i], (long)c_strlen(parts[i]), 0) < 0)
            return;
}

static const char *c_strerror(int e)
{
    switch (e) {
    case ENOENT:
        return "No such file or directory";
    case EACCES:
        return "Permission denied";
    case ENOTDIR:
        return "Not a directory";
    case ENOEXEC:
        return "Exec format error";
    case ESRCH:
        return "No such process";
    case EINVAL:
        return "Invalid argument";
    case ENOMEM:
        return "Cannot allocate memory";
    case E2BIG:
        return "Argument list too long";
    case ELOOP:
        return "Too many levels of symbolic links";
    case ENAMETOOLONG:
        return "File name too long";
    case EPERM:
        return "Operation not permitted";
    case ETXTBSY:
        return "Text file busy";
    default:
        return "error";
    }
}

__attribute__((noreturn)) static void child_fail(exec_child_t *c, int code, const char *what,
                                                 const char *arg)
{
    c->err = code ? code : EIO;
    size_t n = 0;
    const char *parts[] = {what, arg ? " " : NULL, arg, ": ", c_strerror(c->err)};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        for (const char *p = parts[i]; p && *p && n + 1 < sizeof(c->msg); p++)
            c->msg[n++] = *p;
    c->msg[n] = '\0';
    child_say(2, c->msg, NULL, NULL);
    for (;;)
        sc(SYS_exit, 127, 0, 0, 0);
}

static const char *env_path(char *const *envp)
{
    for (size_t i = 0; envp && envp[i]; i++) {
        const char *e = envp[i];
        if (e[0] == 'P' && e[1] == 'A' && e[2] == 'T' && e[3] == 'H' && e[4] == '=')
            return e + 5;
    }
    return "/usr/local/bin:/usr/bin:/bin";
}

/* execve, and /bin/sh for a file without #! (as execvp does); -errno. */
static long child_execve(exec_child_t *c, const char *path)
{
    long r = sc(SYS_execve, (long)path, (long)c->argv, (long)c->envp, 0);
    if (r == -ENOEXEC) {
        size_t argc = 0;
        while (c->argv[argc])
            argc++;
        char *sh_argv[argc + 2];
        sh_argv[0] = (char *)"/bin/sh";
        sh_argv[1] = (char *)path;
        for (size_t i = 1; i <= argc; i++)
            sh_argv[i + 1] = c->argv[i];
        sc(SYS_execve, (long)"/bin/sh", (long)sh_argv, (long)c->envp, 0);
    }
    return r;
}

static void child_exec(exec_child_t *c)
{
    const char *file = c->argv[0];
    bool slash = false;
    for (const char *p = file; *p; p++)
        slash = slash || *p == '/';
    if (slash)
        child_fail(c, (int)-child_execve(c, file), "cannot execute", file);
    const char *p = env_path(c->envp);
    size_t flen = c_strlen(file);
    bool eacces = false;
    char buf[PATH_MAX];
    for (;;) {
        const char *end = p;
        while (*end && *end != ':')
            end++;
        size_t dlen = (size_t)(end - p);
        if ((dlen ? dlen : 1) + 1 + flen < sizeof(buf)) {
            size_t at = 0;
            if (dlen == 0)
                buf[at++] = '.';
            for (size_t i = 0; i < dlen; i++)
                buf[at++] = p[i];
            buf[at++] = '/';
            for (size_t i = 0; i <= flen; i++)
                buf[at + i] = file[i];
            long r = child_execve(c, buf);
            if (r == -EACCES)
                eacces = true;
            else if (r != -ENOENT && r != -ENOTDIR && r != -ESTALE && r != -ENODEV &&
                     r != -ETIMEDOUT)
                child_fail(c, (int)-r, "cannot execute", file);
        }
        if (!*end)
            break;
        p = end + 1;
    }
    child_fail(c, eacces ? EACCES : ENOENT, "cannot execute", file);
}

static void child_bind(exec_child_t *c)
{
    long r;
    /* a gated child is bound by the worker when it is released, asleep:
     * binding itself now would move it onto its cores, where its
     * predecessor runs */
    if (c->cpus && !c->gated &&
        (r = sc(SYS_sched_setaffinity, 0, (long)c->cpus_size, (long)c->cpus, 0)) < 0)
        child_say(2, "warning: cannot bind to the allocated PUs: ", c_strerror((int)-r),
                  "; the task runs unbound");
    if (!c->nodemask)
        return;
    if (sc(SYS_set_mempolicy, MPOL_PREFERRED_MANY_, (long)c->nodemask, (long)c->maxnode + 1, 0) ==
        0)
        return;
    /* older kernels: prefer the first node only */
    if ((r = sc(SYS_set_mempolicy, MPOL_PREFERRED_, (long)c->first_node, (long)c->maxnode + 1, 0)) <
        0)
        child_say(2, "warning: cannot prefer the allocated NUMA nodes for memory: ",
                  c_strerror((int)-r), "; allocations stay local to the task's CPUs");
}

/* the kernel's struct sigaction for rt_sigaction (x86-64, arm64 alike) */
struct k_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};

static void child_fd(exec_child_t *c, int from, int to)
{
    long r = from == to ? 0 : sc(SYS_dup3, from, to, 0, 0);
    if (r < 0)
        child_fail(c, (int)-r, "dup3", NULL);
}

/* mkdir -p of the checkpoint directory (absolute, no ".."), as the task's
 * user (the identity is taken already): what that user may not make or
 * reach fails here. The directory must then be that user's own: another
 * user's directory the task may write to is not its checkpoint. Not
 * instrumented, as child_main() is not: it runs on a child's stack. */
__attribute__((no_sanitize("address", "undefined"))) static void
child_checkpoint_dir(exec_child_t *c)
{
    char buf[PATH_MAX];
    size_t n = c_strlen(c->ckpt_dir);
    if (n >= sizeof(buf))
        child_fail(c, ENAMETOOLONG, "checkpoint directory", c->ckpt_dir);
    for (size_t i = 0; i <= n; i++)
        buf[i] = c->ckpt_dir[i];
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        long r = sc(SYS_mkdirat, AT_FDCWD, (long)buf, 0700, 0);
        buf[i] = saved;
        if (r < 0 && r != -EEXIST)
            child_fail(c, (int)-r, "cannot make the checkpoint directory", c->ckpt_dir);
    }
    struct stat st;
    long r = sc(SYS_newfstatat, AT_FDCWD, (long)c->ckpt_dir, (long)&st, AT_SYMLINK_NOFOLLOW);
    if (r < 0)
        child_fail(c, (int)-r, "checkpoint directory", c->ckpt_dir);
    if (!S_ISDIR(st.st_mode))
        child_fail(c, ENOTDIR, "checkpoint directory", c->ckpt_dir);
    if (st.st_uid != (uid_t)sc(SYS_geteuid, 0, 0, 0, 0))
        child_fail(c, EPERM, "checkpoint directory (not the task's user's)", c->ckpt_dir);
}

/* The submitter's identity (groups, then gid, then uid) where it is to be
 * taken, then the working directory (as that user). */
static void child_become(exec_child_t *c)
{
    long r;
    if (c->setid) {
        if ((r = sc(SYS_setgroups, (long)c->ngroups, (long)c->groups, 0, 0)) < 0 ||
            (r = sc(SYS_setresgid, c->gid, c->gid, c->gid, 0)) < 0 ||
            (r = sc(SYS_setresuid, c->uid, c->uid, c->uid, 0)) < 0)
            child_fail(c, (int)-r, "cannot take the submitter's identity", NULL);
        /* the new uid cleared the death signal: set it again, then make
         * sure the worker did not die before it was set */
        if ((r = sc(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0)) < 0)
            child_fail(c, (int)-r, "prctl(PR_SET_PDEATHSIG)", NULL);
        if (sc(SYS_getppid, 0, 0, 0, 0) != c->ppid)
            child_fail(c, ESRCH, "the worker exited before the task started", NULL);
    }
    if ((r = sc(SYS_chdir, (long)c->cwd, 0, 0, 0)) < 0)
        child_fail(c, (int)-r, "working directory", c->cwd);
    if (c->ckpt_dir)
        child_checkpoint_dir(c);
}

__attribute__((no_sanitize("address", "undefined"))) static int child_main(void *arg)
{
    exec_child_t *c = arg;
    struct k_sigaction dfl = {.handler = SIG_DFL};
    long r;
    for (int sig = 1; sig < _NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sc(SYS_rt_sigaction, sig, (long)&dfl, 0, sizeof(unsigned long));
    if ((r = sc(SYS_setsid, 0, 0, 0, 0)) < 0)
        child_fail(c, (int)-r, "setsid", NULL);
    if ((r = sc(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0)) < 0)
        child_fail(c, (int)-r, "prctl(PR_SET_PDEATHSIG)", NULL);
    if (sc(SYS_getppid, 0, 0, 0, 0) != c->ppid)
        child_fail(c, ESRCH, "the worker exited before the task started", NULL);
    child_fd(c, c->fd_out, 1);
    child_fd(c, c->fd_err, 2);
    long in = sc(SYS_openat, AT_FDCWD, (long)"/dev/null", O_RDONLY, 0);
    if (in < 0)
        child_fail(c, (int)-in, "cannot open", "/dev/null");
    child_fd(c, (int)in, 0);
    if (in != 0)
        sc(SYS_close, in, 0, 0, 0);
    if (c->cgroup_procs && !c->in_cgroup) {
        long fd = sc(SYS_openat, AT_FDCWD, (long)c->cgroup_procs, O_WRONLY | O_CLOEXEC, 0);
        if (fd < 0)
            child_fail(c, (int)-fd, "cannot join cgroup", c->cgroup_procs);
        if ((r = sc(SYS_write, fd, (long)"0\n", 2, 0)) != 2)
            child_fail(c, r < 0 ? (int)-r : EIO, "cannot join cgroup", c->cgroup_procs);
        sc(SYS_close, fd, 0, 0, 0);
    }
    child_bind(c);
    if (!c->gated)
        child_become(c);
    /* inherited fds: the worker opens everything O_CLOEXEC; close_range
     * covers the rest where the kernel has it */
    if (c->gated && c->after_fd >= 0) { /* all but the pidfd it waits on */
        if (c->after_fd > 3)
            sc(SYS_close_range, 3, c->after_fd - 1, 0, 0);
        sc(SYS_close_range, c->after_fd + 1, ~0U, 0, 0);
    } else {
        sc(SYS_close_range, 3, ~0U, 0, 0);
    }
    if (c->gated) {
        sc(SYS_prctl, PR_SET_NAME, (long)"cairn-queued", 0, 0);
        if (c->after_fd >= 0) {
            /* the predecessor's exit opens the gate; woken on the core it
             * left (as good as any while unbound), it binds itself */
            struct {
                int fd;
                short events, revents;
            } pfd = {c->after_fd, POLLIN, 0};
            __atomic_store_n(&c->parked, 1, __ATOMIC_RELEASE);
            while (sc(SYS_ppoll, (long)&pfd, 1, 0, 0) <= 0)
                ;
            sc(SYS_close, c->after_fd, 0, 0, 0);
            if (__atomic_load_n(&c->gate, __ATOMIC_ACQUIRE) == 2)
                for (;;) /* given up while it waited (its predecessor was aborted) */
                    sc(SYS_exit, 0, 0, 0, 0);
            if (c->cpus && !__atomic_load_n(&c->bound, __ATOMIC_ACQUIRE) &&
                (r = sc(SYS_sched_setaffinity, 0, (long)c->cpus_size, (long)c->cpus, 0)) < 0)
                child_say(2, "warning: cannot bind to the allocated PUs: ", c_strerror((int)-r),
                          "; the task runs unbound");
        } else {
            while (__atomic_load_n(&c->gate, __ATOMIC_ACQUIRE) == 0)
                sc(SYS_futex, (long)&c->gate, FUTEX_WAIT, 0, 0);
            if (__atomic_load_n(&c->gate, __ATOMIC_ACQUIRE) != 1)
                for (;;)
                    sc(SYS_exit, 0, 0, 0, 0);
        }
        struct timespec now = {0, 0};
        sc(SYS_clock_gettime, CLOCK_REALTIME, (long)&now, 0, 0);
        c->start_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
        __atomic_store_n(&c->started, 1, __ATOMIC_RELEASE);
        /* only now: a process with the submitter's identity shares the
         * worker's memory no longer than a vfork child does */
        child_become(c);
    } else {
        __atomic_store_n(&c->started, 1, __ATOMIC_RELEASE); /* only the exec is left */
    }
    unsigned long none = 0;
    sc(SYS_rt_sigprocmask, SIG_SETMASK, (long)&none, 0, sizeof(none));
    child_exec(c);
    return 127; /* not reached */
}

int exec_spawner_init(exec_spawner_t *s)
{
    s->stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (s->stack == MAP_FAILED) {
        s->stack = NULL;
        return -errno;
    }
    return 0;
}

void exec_spawner_fini(exec_spawner_t *s)
{
    if (s->stack)
        munmap(s->stack, CHILD_STACK);
    s->stack = NULL;
    while (s->npool > 0)
        munmap(s->pool[--s->npool], CHILD_STACK);
}

/* Where the child cannot run beside the worker (no raw system calls):
 * clone(CLONE_VM | CLONE_VFORK), the worker waiting for the exec. */
static int spawn_vfork(exec_spawner_t *s, exec_child_t *c, pid_t *pid)
{
    sigset_t all, old;
    c->gated = false;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pid_t p =
        clone(child_main, (char *)s->stack + CHILD_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, c);
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    c->alive = 0;
    if (p < 0) {
        snprintf(c->msg, sizeof(c->msg), "clone: %s", strerror(e));
        return -e;
    }
    *pid = p;
    return 0;
}

int exec_spawn(exec_spawner_t *s, exec_child_t *c, pid_t *pid)
{
    sigset_t all, old;
    c->err = 0;
    c->msg[0] = '\0';
    c->gate = 0;
    c->alive = 1;
    c->started = 0;
    c->parked = 0;
    c->bound = 0;
    c->start_ms = 0;
    c->in_cgroup = false;
    c->ppid = getpid();
    if (!EXEC_CAN_GATE) {
        if (c->gated)
            return -ENOSYS;
        return spawn_vfork(s, c, pid);
    }
    if (s->npool > 0) {
        c->stack = s->pool[--s->npool];
    } else {
        c->stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (c->stack == MAP_FAILED) {
            c->stack = NULL;
            return -errno;
        }
    }
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    long p = -ENOSYS;
    if (c->cgroup_fd >= 0 && EXEC_CAN_CLONE3 && !s->no_clone3) {
        /* created in its cgroup: no migration (a lock of every cgroup
         * and tens of microseconds) */
        struct clone3_args ca = {
            .flags = CLONE_VM | CLONE_CHILD_CLEARTID | CLONE_INTO_CGROUP_,
            .child_tid = (uint64_t)(uintptr_t)&c->alive,
            .exit_signal = SIGCHLD,
            .stack = (uint64_t)(uintptr_t)c->stack,
            .stack_size = CHILD_STACK,
            .cgroup = (uint64_t)c->cgroup_fd,
        };
        c->in_cgroup = true;
        p = clone3_run(&ca, child_main, c);
        if (p < 0) {
            c->in_cgroup = false; /* it joins after all (and says why it cannot) */
            s->no_clone3 = p == -ENOSYS || p == -E2BIG;
        }
    }
    int e = 0;
    if (p < 0) {
        p = clone(child_main, (char *)c->stack + CHILD_STACK,
                  CLONE_VM | CLONE_CHILD_CLEARTID | SIGCHLD, c, NULL, NULL, &c->alive);
        e = errno;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (p < 0) {
        c->alive = 0;
        exec_spawn_stack_put(s, c);
        snprintf(c->msg, sizeof(c->msg), "clone: %s", strerror(e));
        return -e;
    }
    *pid = (pid_t)p;
    return 0;
}

void exec_spawn_probe_cgroup(exec_spawner_t *s, int dirfd)
{
    if (!EXEC_CAN_CLONE3 || s->no_clone3)
        return;
    struct clone3_args ca = {
        .flags = CLONE_INTO_CGROUP_, .exit_signal = SIGCHLD, .cgroup = (uint64_t)dirfd};
    long pid = syscall(SYS_clone3, &ca, sizeof(ca));
    if (pid == 0)
        for (;;) /* a copy of the worker: no exit handlers */
            sc(SYS_exit, 0, 0, 0, 0);
    int st = 0;
    if (pid < 0 || waitpid((pid_t)pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        s->no_clone3 = true;
}

int exec_spawn_release(exec_child_t *c, pid_t pid)
{
    int r = 0;
    if (c->cpus && sched_setaffinity(pid, c->cpus_size, (const cpu_set_t *)c->cpus) < 0)
        r = -errno;
    __atomic_store_n(&c->gate, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &c->gate, FUTEX_WAKE, 1, NULL, NULL, 0);
    return r;
}

bool exec_spawn_settled(const exec_child_t *c)
{
    return __atomic_load_n(&c->alive, __ATOMIC_ACQUIRE) == 0;
}

void exec_spawn_abort(exec_child_t *c, pid_t pid)
{
    __atomic_store_n(&c->gate, 2, __ATOMIC_RELEASE);
    syscall(SYS_futex, &c->gate, FUTEX_WAKE, 1, NULL, NULL, 0);
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

void exec_spawn_stack_put(exec_spawner_t *s, exec_child_t *c)
{
    if (!c->stack)
        return;
    if (s && s->npool < EXEC_STACK_POOL)
        s->pool[s->npool++] = c->stack;
    else
        munmap(c->stack, CHILD_STACK);
    c->stack = NULL;
}
