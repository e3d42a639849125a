/*
 * The history and health calls a storage plugin queues for its read
 * connections, taken off the queue in batches: when a connection frees up,
 * one worker job answers the reads waiting for it, and reads of one batch
 * that ask for the same page (room, cursor and limit) share one query.
 *
 * Why sharing is safe: every read of a batch was queued before its job
 * started, so the one answer reflects at least everything stored before
 * each of them was asked, which is all a separate query would have
 * promised. Why it matters: a join storm into one room asks for the same
 * newest page once per member, and one query per member, each a worker
 * round trip through the loop, serialised the joins behind the read
 * connection.
 *
 * Shared by the in-tree storage plugins (linked into each .so, hidden);
 * not part of the SDK. Loop thread only, except the result fields, which
 * the job's worker writes before its completion is posted to the loop.
 */
#ifndef PARLEY_PLUGIN_READS_H
#define PARLEY_PLUGIN_READS_H

#include <parley/parley.h>

#include "page.h"

enum plugin_read_kind { PLUGIN_READ_HISTORY, PLUGIN_READ_HEALTH };

struct plugin_read {
    struct plugin_read *next;   /* in the queue, then in its batch */
    int kind;

    /* history: the query, copied */
    char *room;
    size_t room_len;
    char before[PARLEY_ID_LEN + 1];
    int has_before;
    uint32_t limit;
    parley_history_done history_done;

    /* health: who asks (a plugin may keep its own list instead) */
    parley_health_done health_done;
    void *cb_arg;

    /* An earlier read of the same batch asking for the same page: its
     * result is this read's, and this read runs no query of its own. */
    const struct plugin_read *same;

    /* the result */
    int status;
    parley_error err;
    struct plugin_row *rows;
    size_t n_rows;
    int has_more;
};

/* Reads waiting for a connection, oldest first. Zero-initialised is empty. */
struct plugin_reads {
    struct plugin_read *head, *tail;
    size_t len;
};

/*
 * A history read of q, which the plugin has validated (before_id, when set,
 * is at most PARLEY_ID_LEN bytes). NULL when out of memory.
 */
struct plugin_read *plugin_read_history(const parley_history_query *q, parley_history_done done,
                                        void *cb_arg);
/* A health read. NULL when out of memory. */
struct plugin_read *plugin_read_health(parley_health_done done, void *cb_arg);

void plugin_reads_push(struct plugin_reads *q, struct plugin_read *r);

/*
 * Unlink the oldest reads as one batch (a list through `next`): at most
 * `max`, and no more than an even share of the queue among `connections`
 * free connections, so that a second idle connection gets work too. Each
 * history read asking for the same page as an earlier one of the batch
 * gets `same` set. NULL when the queue is empty.
 */
struct plugin_read *plugin_reads_take(struct plugin_reads *q, size_t max, size_t connections);

/* Complete a history read with its own result or with its twin's. */
void plugin_read_deliver_history(const struct plugin_read *r, const char *who);

/* Fail every read of a batch (or of a queue's list) that has not run:
 * status and err are set on each, for the plugin to deliver. */
void plugin_reads_fail(struct plugin_read *batch, int status, const parley_error *err);

/* Free a batch, after all of it was delivered: twins point at each other. */
void plugin_reads_free(struct plugin_read *batch);

#endif /* PARLEY_PLUGIN_READS_H */
