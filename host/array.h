/*
 * Growable arrays: the one doubling policy the host's modules share.
 */
#ifndef PARLEY__ARRAY_H
#define PARLEY__ARRAY_H

#include <stdlib.h>

/* Make room for `need` elements of `elem` bytes in *arr (capacity *cap),
 * doubling from 8. 0, or -1 when out of memory (the array is unchanged). */
static inline int parley__array_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    size_t ncap;
    void *p;

    if (need <= *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    if (ncap > (size_t)-1 / elem)
        return -1;
    p = realloc(*arr, ncap * elem);
    if (p == NULL)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

#endif /* PARLEY__ARRAY_H */
