/* bench_stamp FIFO: the task bench_e2e runs where it must know when a task
 * process started. Writes "CLOCK_MONOTONIC-ns CAIRN_ATTEMPT_ID\n" to FIFO in
 * one write (atomic below PIPE_BUF) and exits 0. Linked statically so that
 * the stamp is taken right after exec, not after dynamic loading. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (argc != 2) {
        fprintf(stderr, "usage: bench_stamp FIFO\n");
        return 2;
    }
    const char *id = getenv("CAIRN_ATTEMPT_ID");
    char line[96];
    int n = snprintf(line, sizeof(line), "%lld %s\n",
                     (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, id ? id : "0");
    int fd = open(argv[1], O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 || write(fd, line, (size_t)n) != n) {
        perror("bench_stamp");
        return 1;
    }
    close(fd);
    return 0;
}
