/*
 * plugins/common/reads.c: how the storage plugins' read queue batches and
 * which reads of a batch share one query.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reads.h"

/* What the fake completion saw. */
static struct {
    int calls;
    int status;
    size_t n;
    int has_more;
    char first_id[PARLEY_ID_LEN + 1];
    char error[PARLEY_ERROR_MESSAGE_MAX];
} seen;

static void history_done(void *cb_arg, int status, const parley_message *msgs, size_t n,
                         int has_more, const parley_error *err)
{
    (void)cb_arg;
    seen.calls++;
    seen.status = status;
    seen.n = n;
    seen.has_more = has_more;
    seen.first_id[0] = '\0';
    seen.error[0] = '\0';
    if (n > 0)
        strcpy(seen.first_id, msgs[0].id);
    if (err != NULL)
        strcpy(seen.error, err->message);
}

static struct plugin_read *ask(struct plugin_reads *q, const char *room, const char *before,
                               uint32_t limit)
{
    parley_history_query hq = { sizeof hq, room, strlen(room), before, limit };
    struct plugin_read *r = plugin_read_history(&hq, history_done, NULL);

    assert_non_null(r);
    plugin_reads_push(q, r);
    return r;
}

static size_t batch_len(const struct plugin_read *b)
{
    size_t n = 0;

    for (; b != NULL; b = b->next)
        n++;
    return n;
}

/* A result as a worker would write it: one row with the given id. */
static void answer(struct plugin_read *r, const char *id)
{
    r->rows = calloc(1, sizeof *r->rows);
    assert_non_null(r->rows);
    strcpy(r->rows[0].id, id);
    r->rows[0].room = strdup(r->room);
    r->rows[0].room_len = r->room_len;
    r->rows[0].username = strdup("u");
    r->rows[0].username_len = 1;
    r->rows[0].content = strdup("c");
    r->rows[0].content_len = 1;
    r->n_rows = 1;
    r->has_more = 1;
    r->status = PARLEY_OK;
}

static void test_same_page_is_shared_and_others_are_not(void **state)
{
    struct plugin_reads q = { 0 };
    struct plugin_read *a, *b, *c, *d, *e, *f, *g, *h, *batch;

    (void)state;
    a = ask(&q, "lobby", NULL, 50);
    b = ask(&q, "Lobby", NULL, 50);        /* rooms differ by case */
    c = ask(&q, "lobby", NULL, 49);        /* another limit */
    d = ask(&q, "lobby", "0000000000000000000000aa", 50);   /* a cursor */
    e = ask(&q, "lobby", NULL, 50);        /* a's page */
    f = ask(&q, "lobby", "0000000000000000000000aa", 50);   /* d's page */
    g = ask(&q, "lobbyX", NULL, 50);       /* a longer name */
    h = ask(&q, "lobby", "0000000000000000000000ab", 50);   /* another cursor */
    plugin_reads_push(&q, plugin_read_health(NULL, NULL));
    plugin_reads_push(&q, plugin_read_health(NULL, NULL));

    batch = plugin_reads_take(&q, 64, 1);
    assert_ptr_equal(batch, a);
    assert_int_equal(batch_len(batch), 10);
    assert_null(q.head);
    assert_null(q.tail);
    assert_int_equal(q.len, 0);
    assert_null(a->same);
    assert_null(b->same);
    assert_null(c->same);
    assert_null(d->same);
    assert_ptr_equal(e->same, a);
    assert_ptr_equal(f->same, d);
    assert_null(g->same);
    assert_null(h->same);
    assert_null(h->next->same);          /* health probes each run */
    assert_null(h->next->next->same);

    /* A twin is answered with its original's page. */
    answer(a, "000000000000000000000001");
    memset(&seen, 0, sizeof seen);
    plugin_read_deliver_history(e, "test");
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.status, PARLEY_OK);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.has_more, 1);
    assert_string_equal(seen.first_id, "000000000000000000000001");
    plugin_reads_free(batch);
}

static void test_batches_respect_max_and_share_among_connections(void **state)
{
    struct plugin_reads q = { 0 };
    struct plugin_read *b1, *b2, *b3;
    int i;

    (void)state;
    for (i = 0; i < 10; i++)
        ask(&q, "r", NULL, 50);
    /* Two idle connections: half each, so the second one is not idle. */
    b1 = plugin_reads_take(&q, 64, 2);
    assert_int_equal(batch_len(b1), 5);
    assert_int_equal(q.len, 5);
    /* max caps a batch; what is left stays in order. */
    b2 = plugin_reads_take(&q, 3, 1);
    assert_int_equal(batch_len(b2), 3);
    assert_int_equal(q.len, 2);
    b3 = plugin_reads_take(&q, 3, 5);       /* more connections than reads: one each */
    assert_int_equal(batch_len(b3), 1);
    assert_null(b3->same);                  /* twins only within a batch */
    assert_int_equal(q.len, 1);
    assert_non_null(q.head);
    assert_ptr_equal(q.head, q.tail);
    plugin_reads_free(plugin_reads_take(&q, 1, 1));
    assert_null(plugin_reads_take(&q, 1, 1));
    assert_null(q.tail);
    plugin_reads_free(b1);
    plugin_reads_free(b2);
    plugin_reads_free(b3);
}

static void test_a_failed_batch_answers_each_read_with_the_failure(void **state)
{
    struct plugin_reads q = { 0 };
    struct plugin_read *batch;
    parley_error err = PARLEY_ERROR_INIT;

    (void)state;
    ask(&q, "r", NULL, 50);
    ask(&q, "r", NULL, 50);
    batch = plugin_reads_take(&q, 64, 1);
    assert_ptr_equal(batch->next->same, batch);
    parley_error_set(&err, PARLEY_EUNAVAIL, "test: no connection");
    plugin_reads_fail(batch, PARLEY_EUNAVAIL, &err);
    memset(&seen, 0, sizeof seen);
    for (struct plugin_read *r = batch; r != NULL; r = r->next)
        plugin_read_deliver_history(r, "test");
    assert_int_equal(seen.calls, 2);
    assert_int_equal(seen.status, PARLEY_EUNAVAIL);
    assert_string_equal(seen.error, "test: no connection");
    plugin_reads_free(batch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_page_is_shared_and_others_are_not),
        cmocka_unit_test(test_batches_respect_max_and_share_among_connections),
        cmocka_unit_test(test_a_failed_batch_answers_each_read_with_the_failure),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
