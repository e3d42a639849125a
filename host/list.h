/*
 * Intrusive doubly linked lists: the one push-front and unlink the host's
 * modules share for objects that carry their own `prev` and `next`
 * pointers (connections, requests, sessions, accounts). O(1) both ways;
 * the macros evaluate `head` and `node` more than once, so pass plain
 * lvalues.
 */
#ifndef PARLEY__LIST_H
#define PARLEY__LIST_H

#include <stddef.h>

/* Put `node` first in the list that `head` points to. */
#define PARLEY__LIST_PUSH(head, node)           \
    do {                                        \
        (node)->prev = NULL;                    \
        (node)->next = (head);                  \
        if ((head) != NULL)                     \
            (head)->prev = (node);              \
        (head) = (node);                        \
    } while (0)

/* Take `node` out of the list that `head` points to. */
#define PARLEY__LIST_REMOVE(head, node)         \
    do {                                        \
        if ((node)->prev != NULL)               \
            (node)->prev->next = (node)->next;  \
        else if ((head) == (node))              \
            (head) = (node)->next;              \
        if ((node)->next != NULL)               \
            (node)->next->prev = (node)->prev;  \
        (node)->prev = (node)->next = NULL;     \
    } while (0)

#endif /* PARLEY__LIST_H */
