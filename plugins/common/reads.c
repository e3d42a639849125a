#include "reads.h"

#include <stdlib.h>
#include <string.h>

struct plugin_read *plugin_read_history(const parley_history_query *q, parley_history_done done,
                                        void *cb_arg)
{
    struct plugin_read *r = calloc(1, sizeof *r);

    if (r == NULL)
        return NULL;
    r->room = malloc(q->room_len + 1);
    if (r->room == NULL) {
        free(r);
        return NULL;
    }
    r->kind = PLUGIN_READ_HISTORY;
    memcpy(r->room, q->room, q->room_len);
    r->room[q->room_len] = '\0';
    r->room_len = q->room_len;
    if (q->before_id != NULL) {
        strcpy(r->before, q->before_id);
        r->has_before = 1;
    }
    r->limit = q->limit;
    r->history_done = done;
    r->cb_arg = cb_arg;
    return r;
}

struct plugin_read *plugin_read_health(parley_health_done done, void *cb_arg)
{
    struct plugin_read *r = calloc(1, sizeof *r);

    if (r == NULL)
        return NULL;
    r->kind = PLUGIN_READ_HEALTH;
    r->health_done = done;
    r->cb_arg = cb_arg;
    return r;
}

void plugin_reads_push(struct plugin_reads *q, struct plugin_read *r)
{
    r->next = NULL;
    if (q->tail != NULL)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
    q->len++;
}

static int same_page(const struct plugin_read *a, const struct plugin_read *b)
{
    return a->kind == PLUGIN_READ_HISTORY && b->kind == PLUGIN_READ_HISTORY &&
           a->limit == b->limit && a->room_len == b->room_len &&
           a->has_before == b->has_before &&
           (!a->has_before || strcmp(a->before, b->before) == 0) &&
           memcmp(a->room, b->room, a->room_len) == 0;
}

/* The first read of the batch asking for r's page, or NULL. A batch is
 * small (read_batch_max), so a scan is cheaper than a hash. */
static const struct plugin_read *find_twin(const struct plugin_read *batch,
                                           const struct plugin_read *r)
{
    for (const struct plugin_read *x = batch; x != r; x = x->next)
        if (x->same == NULL && same_page(x, r))
            return x;
    return NULL;
}

struct plugin_read *plugin_reads_take(struct plugin_reads *q, size_t max, size_t connections)
{
    struct plugin_read *batch = q->head, *last = NULL, *r;
    size_t n, share;

    if (batch == NULL)
        return NULL;
    share = connections > 1 ? (q->len + connections - 1) / connections : q->len;
    n = share < max ? share : max;
    if (n == 0)
        n = 1;
    for (r = batch; r != NULL && n > 0; r = r->next, n--) {
        r->same = find_twin(batch, r);
        last = r;
        q->len--;
    }
    q->head = last->next;
    if (q->head == NULL)
        q->tail = NULL;
    last->next = NULL;
    return batch;
}

void plugin_read_deliver_history(const struct plugin_read *r, const char *who)
{
    const struct plugin_read *a = r->same != NULL ? r->same : r;

    plugin_page_deliver(r->history_done, r->cb_arg, a->status, &a->err, a->rows, a->n_rows,
                        a->has_more, who);
}

void plugin_reads_fail(struct plugin_read *batch, int status, const parley_error *err)
{
    for (struct plugin_read *r = batch; r != NULL; r = r->next) {
        r->same = NULL;
        r->status = status;
        r->err = *err;
    }
}

void plugin_reads_free(struct plugin_read *batch)
{
    struct plugin_read *r, *next;

    for (r = batch; r != NULL; r = next) {
        next = r->next;
        plugin_rows_free(r->rows, r->n_rows);
        free(r->room);
        free(r);
    }
}
