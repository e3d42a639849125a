/*
 * listener.client_memory_max: one figure for the bytes every client makes
 * the server hold (WebSocket send queues and receive buffers, HTTP answers
 * on their way out, and what transports report through memory accounts,
 * such as long-polling queues), and the shedding of the biggest holders
 * when it passes the cap, as Redis's maxmemory-clients evicts.
 *
 * A queue counts the wire bytes of its frames, so a broadcast frame shared
 * by many queues counts in each: the figure is what the clients could make
 * us hold, not the heap. The scan for the biggest is linear but runs only
 * while the total is over the cap.
 */
#include <stdlib.h>

#include "list.h"
#include "listener_int.h"
#include "log.h"

#define L parley__L

static void total_changed(size_t add, size_t sub)
{
    L.queued_total = L.queued_total + add - sub;
    parley__metric_set(L.m.client_memory, (double)L.queued_total);
}

static struct parley_memory *biggest_account(void)
{
    struct parley_memory *big = NULL;

    for (struct parley_memory *m = L.accounts; m != NULL; m = m->next)
        if (m->bytes > 0 && (big == NULL || m->bytes > big->bytes))
            big = m;
    return big;
}

static struct parley_conn *biggest_conn(void)
{
    struct parley_conn *big = NULL;

    for (struct parley_conn *c = L.conns; c != NULL; c = c->next)
        if (!c->closing && parley__ws_held(c) > 0 &&
            (big == NULL || parley__ws_held(c) > parley__ws_held(big)))
            big = c;
    return big;
}

int parley__listener_shed(struct parley_conn *self)
{
    int rc = 0;

    if (L.shedding)
        return 0;               /* a shed callback reporting its new size */
    L.shedding = 1;
    while (L.queued_total > L.opts.client_memory_max) {
        struct parley_conn *c = biggest_conn();
        struct parley_memory *m = biggest_account();
        size_t before = L.queued_total;

        if (c == NULL && m == NULL)
            break;
        if (m == NULL || (c != NULL && parley__ws_held(c) >= m->bytes)) {
            parley__ws_shed(c);
            if (c == self)
                rc = PARLEY_ELIMIT;
            continue;
        }
        PARLEY__COUNT(ws_shed);
        L_WARN("a transport's client holds %zu bytes, the most while all clients hold %zu over "
               "listener.client_memory_max %zu; shedding it", m->bytes, L.queued_total,
               L.opts.client_memory_max);
        m->shed(m->arg);        /* may close (free) m */
        if (L.queued_total >= before) {
            L_ERROR("a transport's shed callback freed nothing; its account stops counting");
            for (struct parley_memory *x = L.accounts; x != NULL; x = x->next)
                if (x == m) {
                    total_changed(0, m->bytes);
                    m->bytes = 0;
                }
        }
    }
    L.shedding = 0;
    return rc;
}

/* ------------------------------------------------------------------ */
/* SDK: memory accounts (1.1)                                          */

parley_memory *parley__memory_open(parley_host *host, void (*shed)(void *arg), void *arg)
{
    struct parley_memory *m;

    (void)host;
    if (shed == NULL)
        return NULL;
    m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->shed = shed;
    m->arg = arg;
    PARLEY__LIST_PUSH(L.accounts, m);
    return m;
}

void parley__memory_set(parley_memory *m, size_t bytes)
{
    if (m == NULL)
        return;
    total_changed(bytes, m->bytes);
    m->bytes = bytes;
    if (L.queued_total > L.opts.client_memory_max)
        (void)parley__listener_shed(NULL);
}

void parley__memory_close(parley_memory *m)
{
    if (m == NULL)
        return;
    total_changed(0, m->bytes);
    PARLEY__LIST_REMOVE(L.accounts, m);
    free(m);
}
