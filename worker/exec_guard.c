/* The guard: a process that outlives the worker to end its tasks.
 *
 * A task's main process dies with the worker thread (PR_SET_PDEATHSIG),
 * but nothing of that kind reaches its children: when the worker dies they
 * are re-parented and run on, while the scheduler, after its heartbeat
 * timeout, runs the attempt again elsewhere. So worker_exec_create() forks
 * the guard. It leads a session of its own (a signal to the worker's
 * process group does not reach it), ignores SIGINT, SIGTERM, SIGHUP and
 * SIGQUIT, and keeps nothing of the worker's but the read end of a pipe
 * whose write end only the worker holds (O_CLOEXEC; task processes close
 * every fd they inherit before they exec). It sleeps in read(). When the
 * worker dies, by whatever signal, the kernel closes the write end and the
 * guard wakes: it ends every process of the worker's tasks as a restarted
 * worker would (exec_leftovers_end: the cgroups, the recorded processes,
 * the sessions and process groups of the tasks, their descendants, and
 * the orphans marked with a recorded attempt), again until none is left
 * (at most EXEC_GUARD_KILL_MS), says so on stderr and exits. That takes
 * milliseconds, well within any heartbeat timeout: the attempt is not
 * retried while a process of it still runs.
 *
 * A worker that stops cleanly (worker_exec_destroy) writes 'q' first: the
 * guard exits and kills nothing. If the guard dies the worker starts
 * another (exec_guard_check, on SIGCHLD). The guard itself is killed only
 * with the worker's cgroup (systemd's final SIGKILL of the service): then
 * the restarted worker kills the leftovers. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "worker/exec_private.h"

#define GUARD_FD 3

/* In the forked guard: wait for the worker's end, then end its tasks. */
__attribute__((noreturn)) static void guard_main(int rfd, const char *running_path,
                                                 const char *marker, pid_t worker)
{
    static const int ignored[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGUSR1, SIGUSR2};
    sigset_t none;
    char c = 0;
    ssize_t n;
    setsid();
    prctl(PR_SET_NAME, "cairn-guard");
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
        signal(ignored[i], SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* nothing of the worker's stays open but stderr and the pipe: a test
     * runner or a shell waiting on the worker's stdout must not wait on us */
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
    }
    if (rfd != GUARD_FD && dup2(rfd, GUARD_FD) < 0)
        _exit(1);
    syscall(SYS_close_range, GUARD_FD + 1, ~0U, 0);
    do
        n = read(GUARD_FD, &c, 1);
    while (n < 0 && errno == EINTR);
    if (n == 1 && c == 'q')
        _exit(0); /* a clean stop: the worker ended its tasks itself */
    size_t found = exec_leftovers_end(running_path, marker, EXEC_GUARD_KILL_MS);
    if (found > 0)
        dprintf(2,
                "cairn-worker: guard: the worker (pid %d) died; killed %zu process%s of its "
                "tasks\n",
                (int)worker, found, found == 1 ? "" : "es");
    _exit(0);
}

int exec_guard_start(worker_exec_t *x, cairn_error_t *err)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return errcode(err, -errno, "cannot start the guard: pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return errcode(err, -e, "cannot start the guard: fork: %s", strerror(e));
    }
    if (pid == 0) {
        close(fds[1]);
        guard_main(fds[0], x->running_path, x->marker, x->self);
    }
    close(fds[0]);
    x->guard_pid = pid;
    x->guard_fd = fds[1];
    return 0;
}

void exec_guard_stop(worker_exec_t *x)
{
    if (x->guard_fd >= 0) {
        (void)!write(x->guard_fd, "q", 1);
        close(x->guard_fd);
        x->guard_fd = -1;
    }
    if (x->guard_pid <= 0)
        return;
    /* it exits at once; at worst it is killed after ~1 s */
    pid_t r = 0;
    for (int i = 0; i < 1000 && (r = waitpid(x->guard_pid, NULL, WNOHANG)) == 0; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    if (r == 0 && kill(x->guard_pid, SIGKILL) == 0)
        (void)waitpid(x->guard_pid, NULL, 0);
    x->guard_pid = 0;
}

void exec_guard_check(worker_exec_t *x)
{
    if (x->guard_pid <= 0 || waitpid(x->guard_pid, NULL, WNOHANG) != x->guard_pid)
        return;
    x->guard_pid = 0;
    if (x->guard_fd >= 0)
        close(x->guard_fd);
    x->guard_fd = -1;
    (void)exec_guard_start(x, NULL);
}
