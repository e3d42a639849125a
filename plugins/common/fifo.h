/*
 * A FIFO of fixed-size elements that doubles when full: the queue in which
 * a storage plugin keeps the inserts waiting for its next group commit.
 * Shared by the in-tree storage plugins (linked into each .so, hidden);
 * not part of the SDK. Owner's thread only, no locking.
 */
#ifndef PARLEY_PLUGIN_FIFO_H
#define PARLEY_PLUGIN_FIFO_H

#include <stddef.h>

struct plugin_fifo {
    unsigned char *buf;
    size_t elem;        /* bytes per element */
    size_t cap;         /* elements buf holds */
    size_t head;        /* index of the oldest element */
    size_t len;         /* elements queued */
};

/* Room for `cap` elements of `elem` bytes to start with. 0, or PARLEY_ENOMEM. */
int plugin_fifo_init(struct plugin_fifo *f, size_t elem, size_t cap);
void plugin_fifo_free(struct plugin_fifo *f);
/* Append a copy of *item, doubling when full. 0, or PARLEY_ENOMEM (nothing queued). */
int plugin_fifo_push(struct plugin_fifo *f, const void *item);
/* Move the oldest element into *out. 0, or -1 when empty. */
int plugin_fifo_pop(struct plugin_fifo *f, void *out);

#endif /* PARLEY_PLUGIN_FIFO_H */
