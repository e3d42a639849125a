/*
 * The storage queue against a test storage vtable: completions inside the
 * call, from another thread, late (after the deadline), with errors; the
 * history copy; health; drain; free with calls outstanding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include <cmocka.h>

#include "host.h"
#include "loop.h"
#include "metrics.h"
#include "storage_queue.h"

/* ---- the test store ---- */

enum how { SYNC, THREAD, HOLD };

static struct {
    enum how how;
    int status;                 /* what the store answers */
    int health_state;
    unsigned inserts, histories, probes;
    /* a held call */
    parley_insert_done held_insert;
    parley_history_done held_history;
    void *held_arg;
    const parley_message *held_msg;
    char seen_content[64];
} store;

struct thread_job {
    parley_insert_done done;
    parley_history_done hdone;
    void *arg;
    int status;
};

static void *insert_thread(void *p)
{
    struct thread_job *j = p;
    parley_error err = PARLEY_ERROR_INIT;

    usleep(2000);
    parley_error_set(&err, j->status, "thread says %d", j->status);
    j->done(j->arg, j->status, j->status ? &err : NULL);
    free(j);
    return NULL;
}

static void spawn(void *(*fn)(void *), struct thread_job *j)
{
    pthread_t t;

    assert_int_equal(pthread_create(&t, NULL, fn, j), 0);
    pthread_detach(t);
}

static void t_insert(void *inst, const parley_message *msg, parley_insert_done done, void *arg)
{
    parley_error err = PARLEY_ERROR_INIT;

    (void)inst;
    store.inserts++;
    snprintf(store.seen_content, sizeof store.seen_content, "%s", msg->content);
    switch (store.how) {
    case SYNC:
        parley_error_set(&err, store.status, "test store is down");
        done(arg, store.status, store.status ? &err : NULL);
        break;
    case THREAD: {
        struct thread_job *j = calloc(1, sizeof *j);
        j->done = done;
        j->arg = arg;
        j->status = store.status;
        spawn(insert_thread, j);
        break;
    }
    case HOLD:
        store.held_insert = done;
        store.held_arg = arg;
        store.held_msg = msg;
        break;
    }
}

/* A page built on this thread's stack and gone after the call. */
static void answer_page(parley_history_done done, void *arg)
{
    char room[] = "lobby", user[] = "ann", c1[] = "one", c2[] = "two";
    parley_message m[2];

    memset(m, 0, sizeof m);
    for (int i = 0; i < 2; i++) {
        m[i].struct_size = sizeof m[i];
        snprintf(m[i].id, sizeof m[i].id, "00000000000000000000000%c", (char)('1' + i));
        m[i].room = room;
        m[i].room_len = 5;
        m[i].username = user;
        m[i].username_len = 3;
        m[i].timestamp_ms = 1000 + i;
    }
    m[0].content = c1;
    m[0].content_len = 3;
    m[1].content = c2;
    m[1].content_len = 3;
    done(arg, 0, m, 2, 1, NULL);
    memset(m, 0xa5, sizeof m);
    memset(c1, 'X', 3);
}

static void *history_thread(void *p)
{
    struct thread_job *j = p;

    usleep(2000);
    answer_page(j->hdone, j->arg);
    free(j);
    return NULL;
}

static void t_history(void *inst, const parley_history_query *q, parley_history_done done, void *arg)
{
    (void)inst;
    (void)q;
    store.histories++;
    if (store.how == HOLD) {
        store.held_history = done;
        store.held_arg = arg;
        return;
    }
    if (store.status != 0) {
        parley_error err = PARLEY_ERROR_INIT;
        parley_error_set(&err, store.status, "no history today");
        done(arg, store.status, NULL, 0, 0, &err);
        return;
    }
    if (store.how == THREAD) {
        struct thread_job *j = calloc(1, sizeof *j);
        j->hdone = done;
        j->arg = arg;
        spawn(history_thread, j);
        return;
    }
    answer_page(done, arg);
}

static void t_health(void *inst, parley_health_done done, void *arg)
{
    parley_error err = PARLEY_ERROR_INIT;

    (void)inst;
    store.probes++;
    parley_error_set(&err, PARLEY_EUNAVAIL, "probe failed");
    done(arg, store.health_state, store.health_state == PARLEY_STORAGE_CONNECTED ? NULL : &err);
}

static const parley_storage_vtable vt = { sizeof vt, t_insert, t_history, t_health };

/* ---- driving the loop ---- */

static pthread_t loop_thread;

static void tick(uv_timer_t *t)
{
    (void)t;
}

/* The host's post handle is unreferenced (it must not keep the loop
 * alive), so a referenced 1 ms ticker keeps uv_run polling here. */
static void run_until(const int *flag, int max_ms)
{
    uv_loop_t *loop = parley__loop();
    uv_timer_t t;
    uint64_t end;

    uv_update_time(loop);
    end = uv_now(loop) + (uint64_t)max_ms;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, tick, 1, 1);
    while ((flag == NULL || !*flag) && uv_now(loop) < end)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

struct result {
    int calls;
    int status;
    char message[PARLEY_ERROR_MESSAGE_MAX];
    int on_loop;
    size_t n;
    int has_more;
    char contents[64];
    char first_id[PARLEY_ID_LEN + 1];
};

static void insert_done(void *arg, int status, const parley_error *err)
{
    struct result *r = arg;

    r->calls++;
    r->status = status;
    r->on_loop = pthread_equal(pthread_self(), loop_thread);
    snprintf(r->message, sizeof r->message, "%s", err ? err->message : "");
}

static void history_done(void *arg, int status, const parley_message *msgs, size_t n, int has_more,
                         const parley_error *err)
{
    struct result *r = arg;

    r->calls++;
    r->status = status;
    r->n = n;
    r->has_more = has_more;
    r->on_loop = pthread_equal(pthread_self(), loop_thread);
    snprintf(r->message, sizeof r->message, "%s", err ? err->message : "");
    r->contents[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strcat(r->contents, msgs[i].content);
        strcat(r->contents, ",");
        assert_int_equal(msgs[i].content[msgs[i].content_len], '\0');
        assert_string_equal(msgs[i].room, "lobby");
    }
    if (n > 0)
        memcpy(r->first_id, msgs[0].id, sizeof r->first_id);
}

static parley_message make_msg(const char *content)
{
    parley_message m;

    memset(&m, 0, sizeof m);
    m.struct_size = sizeof m;
    strcpy(m.id, "5f0000000000000000000001");
    m.room = "lobby";
    m.room_len = 5;
    m.username = "ann";
    m.username_len = 3;
    m.content = content;
    m.content_len = strlen(content);
    m.timestamp_ms = 1;
    return m;
}

static int setup(void **state)
{
    struct parley__storage_options o = { 50, 0 };
    parley_error err = PARLEY_ERROR_INIT;

    (void)state;
    memset(&store, 0, sizeof store);
    store.health_state = PARLEY_STORAGE_CONNECTED;
    loop_thread = pthread_self();
    assert_int_equal(parley__loop_init(2, &err), 0);
    assert_int_equal(parley__storage_queue_init(&vt, NULL, &o, &err), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    parley__storage_queue_free();
    parley__loop_close();
    parley__metrics_free();
    return 0;
}

/* ---- cases ---- */

static void test_sync_completion_is_deferred(void **state)
{
    struct result r = { 0 };
    char content[] = "hello";
    parley_message m = make_msg(content);

    (void)state;
    assert_int_equal(parley__storage_insert(&m, insert_done, &r), 0);
    /* The message was copied: the caller's buffer may go now. */
    memset(content, 'Z', 5);
    assert_string_equal(store.seen_content, "hello");
    assert_int_equal(r.calls, 0);       /* never inside the call */
    assert_int_equal(parley__storage_inflight(), 1);
    run_until(&r.calls, 1000);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, 0);
    assert_true(r.on_loop);
    assert_int_equal(parley__storage_inflight(), 0);
    assert_int_equal(parley__storage_state(), PARLEY_STORAGE_CONNECTED);
}

static void test_thread_completion_and_eexist(void **state)
{
    struct result r = { 0 };
    parley_message m = make_msg("again");

    (void)state;
    store.how = THREAD;
    store.status = PARLEY_EEXIST;     /* already stored counts as stored */
    assert_int_equal(parley__storage_insert(&m, insert_done, &r), 0);
    run_until(&r.calls, 1000);
    run_until(NULL, 5);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.message, "");
    assert_true(r.on_loop);
}

static void test_error_marks_disconnected(void **state)
{
    struct result r = { 0 }, r2 = { 0 };
    parley_message m = make_msg("x");
    char text[4096];

    (void)state;
    store.status = PARLEY_EUNAVAIL;
    assert_int_equal(parley__storage_insert(&m, insert_done, &r), 0);
    run_until(&r.calls, 1000);
    assert_int_equal(r.status, PARLEY_EUNAVAIL);
    assert_string_equal(r.message, "test store is down");
    assert_int_equal(parley__storage_state(), PARLEY_STORAGE_DISCONNECTED);
    parley__metrics_format(NULL, text, sizeof text);
    assert_non_null(strstr(text, "parley_storage_up 0\n"));
    assert_non_null(strstr(text, "parley_storage_errors_total 1\n"));
    assert_non_null(strstr(text, "parley_storage_insert_seconds_count 1\n"));

    store.status = 0;
    store.how = THREAD;
    assert_int_equal(parley__storage_insert(&m, insert_done, &r2), 0);
    run_until(&r2.calls, 1000);
    assert_int_equal(r2.status, 0);
    assert_int_equal(parley__storage_state(), PARLEY_STORAGE_CONNECTED);
}

/* The held insert answered from another thread, as a plugin's worker
 * would; the plugin may still read its message then, even after the host
 * gave up on it. */
static void *answer_held_insert(void *p)
{
    (void)p;
    assert_string_equal(store.held_msg->content, store.seen_content);
    store.held_insert(store.held_arg, 0, NULL);
    return NULL;
}

static void answer_from_another_thread(void)
{
    pthread_t t;

    assert_int_equal(pthread_create(&t, NULL, answer_held_insert, NULL), 0);
    pthread_join(t, NULL);
}

static void test_timeout_then_late_completion(void **state)
{
    struct result r = { 0 };
    parley_message m = make_msg("slow");

    (void)state;
    store.how = HOLD;
    assert_int_equal(parley__storage_insert(&m, insert_done, &r), 0);
    run_until(&r.calls, 2000);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, PARLEY_ETIMEDOUT);
    assert_string_equal(r.message, "storage did not answer within 50 ms");
    assert_int_equal(parley__storage_state(), PARLEY_STORAGE_DISCONNECTED);
    assert_int_equal(parley__storage_inflight(), 0);

    /* The late answer, from another thread, is dropped: no second call. */
    answer_from_another_thread();
    run_until(NULL, 20);
    assert_int_equal(r.calls, 1);
    /* ...but it did say the store works again. */
    assert_int_equal(parley__storage_state(), PARLEY_STORAGE_CONNECTED);
}

/* The store answered within the deadline, but the loop was busy past it
 * (a join storm's fan-out): the answer is already queued, so it wins over
 * the deadline timer, which the loop's next turn runs first. */
static void test_answer_queued_before_a_late_loop_wins(void **state)
{
    struct result r = { 0 };
    parley_message m = make_msg("queued");

    (void)state;
    store.how = HOLD;
    assert_int_equal(parley__storage_insert(&m, insert_done, &r), 0);
    answer_from_another_thread();
    usleep(120 * 1000);                 /* the loop is late: 50 ms deadline long past */
    run_until(&r.calls, 1000);
    run_until(NULL, 5);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.message, "");
    assert_int_equal(parley__storage_state(), PARLEY_STORAGE_CONNECTED);
    assert_int_equal(parley__storage_inflight(), 0);
}

static void test_history_copy(void **state)
{
    struct result r = { 0 }, r2 = { 0 };
    parley_history_query q = { sizeof q, "lobby", 5, NULL, 10 };

    (void)state;
    assert_int_equal(parley__storage_history(&q, history_done, &r), 0);
    assert_int_equal(r.calls, 0);
    run_until(&r.calls, 1000);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.has_more, 1);
    assert_string_equal(r.contents, "one,two,");
    assert_string_equal(r.first_id, "000000000000000000000001");

    store.how = THREAD;
    assert_int_equal(parley__storage_history(&q, history_done, &r2), 0);
    run_until(&r2.calls, 1000);
    assert_int_equal(r2.n, 2);
    assert_string_equal(r2.contents, "one,two,");
    assert_true(r2.on_loop);
}

static void test_history_error_and_timeout(void **state)
{
    struct result r = { 0 }, r2 = { 0 };
    parley_history_query q = { sizeof q, "lobby", 5, NULL, 10 };

    (void)state;
    store.status = PARLEY_EIO;
    assert_int_equal(parley__storage_history(&q, history_done, &r), 0);
    run_until(&r.calls, 1000);
    assert_int_equal(r.status, PARLEY_EIO);
    assert_string_equal(r.message, "no history today");
    assert_int_equal(r.n, 0);

    store.status = 0;
    store.how = HOLD;
    assert_int_equal(parley__storage_history(&q, history_done, &r2), 0);
    run_until(&r2.calls, 2000);
    assert_int_equal(r2.status, PARLEY_ETIMEDOUT);
    /* Late page: copied, then dropped. */
    answer_page(store.held_history, store.held_arg);
    run_until(NULL, 20);
    assert_int_equal(r2.calls, 1);
}

static void test_health(void **state)
{
    struct parley__storage_options o = { 50, 10 };

    (void)state;
    parley__storage_queue_reconfigure(&o);
    store.health_state = PARLEY_STORAGE_DISCONNECTED;
    parley__storage_health_start();
    assert_int_equal(store.probes, 1);
    run_until(NULL, 5);
    assert_int_equal(parley__storage_state(), PARLEY_STORAGE_DISCONNECTED);
    store.health_state = PARLEY_STORAGE_CONNECTED;
    run_until(NULL, 60);
    assert_true(store.probes >= 3);
    assert_int_equal(parley__storage_state(), PARLEY_STORAGE_CONNECTED);
}

static int drained;

static void on_drained(void *arg)
{
    (void)arg;
    drained++;
}

static void test_drain_waits_for_inserts(void **state)
{
    struct parley__storage_options o = { 0, 10 };   /* no deadline */
    struct result r = { 0 };
    parley_message m = make_msg("pending");

    (void)state;
    parley__storage_queue_reconfigure(&o);
    drained = 0;
    parley__storage_drain(on_drained, NULL);
    assert_int_equal(drained, 1);          /* nothing in flight: at once */

    drained = 0;
    store.how = HOLD;
    assert_int_equal(parley__storage_insert(&m, insert_done, &r), 0);
    parley__storage_drain(on_drained, NULL);
    run_until(NULL, 30);
    assert_int_equal(drained, 0);
    store.held_insert(store.held_arg, 0, NULL);
    run_until(&drained, 1000);
    assert_int_equal(drained, 1);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, 0);
}

static void test_free_drops_waiting_callers(void **state)
{
    struct parley__storage_options o = { 0, 0 };
    struct result r = { 0 }, r2 = { 0 };
    parley_message m = make_msg("never");

    (void)state;
    parley__storage_queue_reconfigure(&o);
    store.how = HOLD;
    assert_int_equal(parley__storage_insert(&m, insert_done, &r), 0);
    parley__storage_queue_free();
    assert_int_equal(r.calls, 0);       /* the caller's plugin is gone by now */
    assert_int_equal(parley__storage_insert(&m, insert_done, &r2), PARLEY_ESHUTDOWN);
}

static void test_free_with_a_posted_completion(void **state)
{
    struct result r = { 0 };
    parley_message m = make_msg("racing");

    (void)state;
    /* Answered (posted) but not yet run when the queue goes: the loop's
     * final drain frees the record without calling anyone. */
    assert_int_equal(parley__storage_insert(&m, insert_done, &r), 0);
    parley__storage_queue_free();
    parley__loop_close();
    assert_int_equal(r.calls, 0);
    assert_int_equal(parley__loop_init(1, NULL), 0);   /* for teardown */
}

static void test_stale_completion_after_reinit(void **state)
{
    struct parley__storage_options o = { 50, 0 };
    struct result r = { 0 }, r2 = { 0 };
    parley_message m = make_msg("old");
    parley_error err = PARLEY_ERROR_INIT;

    (void)state;
    /* Posted to the loop, then the queue is freed and made anew before
     * the loop runs it: it must not touch the new queue or its caller. */
    assert_int_equal(parley__storage_insert(&m, insert_done, &r), 0);
    parley__storage_queue_free();
    assert_int_equal(parley__storage_queue_init(&vt, NULL, &o, &err), 0);
    assert_int_equal(parley__storage_insert(&m, insert_done, &r2), 0);
    run_until(&r2.calls, 1000);
    run_until(NULL, 5);
    assert_int_equal(r.calls, 0);
    assert_int_equal(r2.calls, 1);
    assert_int_equal(parley__storage_inflight(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sync_completion_is_deferred, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thread_completion_and_eexist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_marks_disconnected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_then_late_completion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_queued_before_a_late_loop_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_error_and_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain_waits_for_inserts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_drops_waiting_callers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_with_a_posted_completion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_completion_after_reinit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
