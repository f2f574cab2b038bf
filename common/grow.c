#include "common/grow.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int cairn_grow(void *pp, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return -ENOMEM;
        ncap *= 2;
    }
    if (elem && ncap > SIZE_MAX / elem)
        return -ENOMEM;
    /* pp points at a T *: every object pointer has void *'s representation
     * on the platforms Cairn runs on (POSIX requires it of dlsym) */
    void *p;
    memcpy(&p, pp, sizeof(p));
    void *np = realloc(p, ncap * elem);
    if (!np)
        return -ENOMEM;
    memset((char *)np + *cap * elem, 0, (ncap - *cap) * elem);
    memcpy(pp, &np, sizeof(np));
    *cap = ncap;
    return 0;
}
