#include "fifo.h"

#include <stdlib.h>
#include <string.h>

#include <parley/abi.h>

int plugin_fifo_init(struct plugin_fifo *f, size_t elem, size_t cap)
{
    memset(f, 0, sizeof *f);
    f->buf = calloc(cap ? cap : 1, elem);
    if (f->buf == NULL)
        return PARLEY_ENOMEM;
    f->elem = elem;
    f->cap = cap ? cap : 1;
    return 0;
}

void plugin_fifo_free(struct plugin_fifo *f)
{
    free(f->buf);
    memset(f, 0, sizeof *f);
}

/* Unwrap into a buffer twice the size, oldest first. */
static int grow(struct plugin_fifo *f)
{
    size_t cap = f->cap * 2, first = f->cap - f->head;
    unsigned char *buf;

    if (cap < f->cap || cap > (size_t)-1 / f->elem)
        return PARLEY_ENOMEM;
    buf = malloc(cap * f->elem);
    if (buf == NULL)
        return PARLEY_ENOMEM;
    if (first > f->len)
        first = f->len;
    memcpy(buf, f->buf + f->head * f->elem, first * f->elem);
    memcpy(buf + first * f->elem, f->buf, (f->len - first) * f->elem);
    free(f->buf);
    f->buf = buf;
    f->cap = cap;
    f->head = 0;
    return 0;
}

int plugin_fifo_push(struct plugin_fifo *f, const void *item)
{
    if (f->len == f->cap && grow(f) < 0)
        return PARLEY_ENOMEM;
    memcpy(f->buf + ((f->head + f->len) % f->cap) * f->elem, item, f->elem);
    f->len++;
    return 0;
}

int plugin_fifo_pop(struct plugin_fifo *f, void *out)
{
    if (f->len == 0)
        return -1;
    memcpy(out, f->buf + f->head * f->elem, f->elem);
    f->head = (f->head + 1) % f->cap;
    f->len--;
    return 0;
}
