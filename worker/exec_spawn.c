/* Starting a task's process: clone(CLONE_VM | CLONE_VFORK) on a stack of
 * our own, the child prepares itself and execs; the worker thread resumes
 * once the exec succeeded or the child gave up, with the child's errno and
 * message in memory they share. No helper binary and no second exec: the
 * whole start costs about what posix_spawn() costs.
 *
 * The child, before exec:
 *   - resets every signal handler to the default and unblocks all signals
 *     (the worker blocks them around clone(), so no handler of the worker
 *     can run on the child's stack);
 *   - leads its own session and process group, so the worker signals the
 *     whole tree with kill(-pid);
 *   - dies with the worker thread (PR_SET_PDEATHSIG = SIGKILL), and gives up
 *     if the worker already died;
 *   - joins the task's cgroup when there is one;
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
 * The child runs on the worker's memory until it execs: it calls only
 * async-signal-safe functions and writes nothing but the shared result. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec_private.h"

#define CHILD_STACK (256 * 1024)
#define MPOL_PREFERRED_ 1
#define MPOL_PREFERRED_MANY_ 5

/* async-signal-safe formatting of a short message to fd */
static void child_say(int fd, const char *a, const char *b, const char *c)
{
    const char *parts[] = {"cairn-worker: ", a, b, c, "\n"};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        if (parts[i] && write(fd, parts[i], strlen(parts[i])) < 0)
            return;
}

__attribute__((noreturn)) static void child_fail(exec_child_t *c, int code, const char *what,
                                                 const char *arg)
{
    c->err = code ? code : EIO;
    size_t n = 0;
    const char *parts[] = {what, arg ? " " : NULL, arg, ": ", strerror(c->err)};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        for (const char *p = parts[i]; p && *p && n + 1 < sizeof(c->msg); p++)
            c->msg[n++] = *p;
    c->msg[n] = '\0';
    child_say(2, c->msg, NULL, NULL);
    _exit(127);
}

static const char *env_path(char *const *envp)
{
    for (size_t i = 0; envp && envp[i]; i++)
        if (strncmp(envp[i], "PATH=", 5) == 0)
            return envp[i] + 5;
    return "/usr/local/bin:/usr/bin:/bin";
}

static void child_execve(exec_child_t *c, const char *path)
{
    execve(path, c->argv, c->envp);
    if (errno == ENOEXEC) { /* no #! line: run it with /bin/sh, as execvp does */
        size_t argc = 0;
        while (c->argv[argc])
            argc++;
        char *sh_argv[argc + 2];
        sh_argv[0] = (char *)"/bin/sh";
        sh_argv[1] = (char *)path;
        for (size_t i = 1; i <= argc; i++)
            sh_argv[i + 1] = c->argv[i];
        execve("/bin/sh", sh_argv, c->envp);
        errno = ENOEXEC;
    }
}

static void child_exec(exec_child_t *c)
{
    const char *file = c->argv[0];
    if (strchr(file, '/')) {
        child_execve(c, file);
        child_fail(c, errno, "cannot execute", file);
    }
    const char *p = env_path(c->envp);
    size_t flen = strlen(file);
    bool eacces = false;
    char buf[PATH_MAX];
    for (;;) {
        const char *end = strchr(p, ':');
        size_t dlen = end ? (size_t)(end - p) : strlen(p);
        if (dlen + 1 + flen < sizeof(buf)) {
            memcpy(buf, dlen ? p : ".", dlen ? dlen : 1);
            size_t at = dlen ? dlen : 1;
            buf[at] = '/';
            memcpy(buf + at + 1, file, flen + 1);
            child_execve(c, buf);
            if (errno == EACCES)
                eacces = true;
            else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE && errno != ENODEV &&
                     errno != ETIMEDOUT)
                child_fail(c, errno, "cannot execute", file);
        }
        if (!end)
            break;
        p = end + 1;
    }
    child_fail(c, eacces ? EACCES : ENOENT, "cannot execute", file);
}

static void child_bind(exec_child_t *c)
{
    if (c->cpus && sched_setaffinity(0, c->cpus_size, c->cpus) < 0)
        child_say(2, "warning: cannot bind to the allocated PUs: ", strerror(errno),
                  "; the task runs unbound");
    if (!c->nodemask)
        return;
    if (syscall(SYS_set_mempolicy, MPOL_PREFERRED_MANY_, c->nodemask, c->maxnode + 1) == 0)
        return;
    /* older kernels: prefer the first node only */
    if (syscall(SYS_set_mempolicy, MPOL_PREFERRED_, c->first_node, c->maxnode + 1) < 0)
        child_say(2, "warning: cannot prefer the allocated NUMA nodes for memory: ",
                  strerror(errno), "; allocations stay local to the task's CPUs");
}

__attribute__((no_sanitize("address", "undefined"))) static int child_main(void *arg)
{
    exec_child_t *c = arg;
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < _NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            (void)sigaction(sig, &dfl, NULL); /* fails harmlessly for glibc's own */
    if (setsid() < 0)
        child_fail(c, errno, "setsid", NULL);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        child_fail(c, errno, "prctl(PR_SET_PDEATHSIG)", NULL);
    if (getppid() != c->ppid)
        child_fail(c, ESRCH, "the worker exited before the task started", NULL);
    if (dup2(c->fd_out, 1) < 0 || dup2(c->fd_err, 2) < 0)
        child_fail(c, errno, "dup2", NULL);
    int in = open("/dev/null", O_RDONLY);
    if (in < 0 || (in != 0 && (dup2(in, 0) < 0 || close(in) < 0)))
        child_fail(c, errno, "cannot open", "/dev/null");
    if (c->cgroup_procs) {
        int fd = open(c->cgroup_procs, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0\n", 2) != 2)
            child_fail(c, errno, "cannot join cgroup", c->cgroup_procs);
        close(fd);
    }
    child_bind(c);
    if (chdir(c->cwd) < 0)
        child_fail(c, errno, "working directory", c->cwd);
    if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0) {
        /* old kernel: inherited fds are close-on-exec anyway (the worker
         * opens everything O_CLOEXEC) */
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
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
}

int exec_spawn(exec_spawner_t *s, exec_child_t *c, pid_t *pid)
{
    sigset_t all, old;
    c->err = 0;
    c->msg[0] = '\0';
    c->ppid = getpid();
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pid_t p = clone(child_main, (char *)s->stack + CHILD_STACK,
                    CLONE_VM | CLONE_VFORK | SIGCHLD, c);
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (p < 0) {
        snprintf(c->msg, sizeof(c->msg), "clone: %s", strerror(e));
        return -e;
    }
    if (c->err) {
        /* the child gave up and exited: reap it here */
        while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
            ;
        return -c->err;
    }
    *pid = p;
    return 0;
}
