/* What tasks run in tests/unit/test_worker_exec.c:
 *   exec_helper alloc MIB   touch MIB MiB of memory, then wait to be killed
 *   exec_helper spin MS     use MS milliseconds of CPU, then exit 0
 *   exec_helper pdeathsig   print its uid and its parent-death signal */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static long long cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "alloc") == 0) {
        size_t len = (size_t)atol(argv[2]) << 20;
        char *p = malloc(len);
        if (!p)
            return 1;
        for (size_t i = 0; i < len; i += 4096)
            p[i] = 1;
        printf("allocated %zu\n", len);
        fflush(stdout);
        for (;;)
            pause();
    }
    if (argc == 3 && strcmp(argv[1], "spin") == 0) {
        long long until = cpu_ms() + atoll(argv[2]);
        volatile unsigned long x = 0;
        while (cpu_ms() < until)
            x++;
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "pdeathsig") == 0) {
        int sig = -1;
        if (prctl(PR_GET_PDEATHSIG, &sig) < 0)
            return 1;
        printf("uid %d pdeathsig %d\n", (int)getuid(), sig);
        return 0;
    }
    fprintf(stderr, "usage: exec_helper alloc MIB | spin MS | pdeathsig\n");
    return 2;
}
