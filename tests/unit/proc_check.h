/* Looking at processes from tests: whether one is gone. Header-only. */
#ifndef CAIRN_TEST_PROC_CHECK_H
#define CAIRN_TEST_PROC_CHECK_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

/* Whether pid is gone or dead (a zombie its parent has not reaped). */
static inline bool gone_or_zombie(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return true;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return !rp || (rp[1] == ' ' && rp[2] == 'Z');
}

#endif
