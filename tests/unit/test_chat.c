/*
 * The chat core on a real loop, with a test storage vtable and two test
 * transports that record every encode and deliver.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat.h"
#include "frame.h"
#include "host.h"
#include "loop.h"
#include "metrics.h"
#include "msgid.h"
#include "storage_queue.h"

/* ---- test storage: keeps copies, answers now, fails, or holds ---- */

enum how { OK, FAIL, HOLD };

#define MAX_STORED 64
#define MAX_HELD 8

static struct {
    enum how how;
    unsigned inserts, histories;
    parley_message stored[MAX_STORED];
    char *bufs[MAX_STORED];
    size_t n;
    struct { parley_insert_done done; void *arg; const parley_message *msg; } held[MAX_HELD];
    size_t n_held;
    uint32_t last_limit;
    char last_before[PARLEY_ID_LEN + 1];
    char last_room[64];
} st;

static void keep(const parley_message *m)
{
    char *b = malloc(m->room_len + m->username_len + m->content_len + 3);
    parley_message *c = &st.stored[st.n];

    assert_true(st.n < MAX_STORED);
    *c = *m;
    c->room = strcpy(b, m->room);
    c->username = strcpy(b + m->room_len + 1, m->username);
    c->content = strcpy(b + m->room_len + m->username_len + 2, m->content);
    st.bufs[st.n++] = b;
}

static void s_insert(void *inst, const parley_message *msg, parley_insert_done done, void *arg)
{
    parley_error err = PARLEY_ERROR_INIT;

    (void)inst;
    st.inserts++;
    if (st.how == HOLD) {
        assert_true(st.n_held < MAX_HELD);
        st.held[st.n_held].done = done;
        st.held[st.n_held].arg = arg;
        st.held[st.n_held].msg = msg;
        st.n_held++;
        return;
    }
    if (st.how == FAIL) {
        parley_error_set(&err, PARLEY_EUNAVAIL, "test store is down");
        done(arg, PARLEY_EUNAVAIL, &err);
        return;
    }
    keep(msg);
    done(arg, 0, NULL);
}

static void release_held(int status)
{
    for (size_t i = 0; i < st.n_held; i++) {
        parley_error err = PARLEY_ERROR_INIT;
        parley_error_set(&err, status, "held call failed");
        if (status == 0)
            keep(st.held[i].msg);
        st.held[i].done(st.held[i].arg, status, status ? &err : NULL);
    }
    st.n_held = 0;
}

static void s_history(void *inst, const parley_history_query *q, parley_history_done done, void *arg)
{
    parley_message page[MAX_STORED];
    size_t n = 0, end = 0, start;

    (void)inst;
    st.histories++;
    st.last_limit = q->limit;
    snprintf(st.last_before, sizeof st.last_before, "%s", q->before_id ? q->before_id : "");
    snprintf(st.last_room, sizeof st.last_room, "%.*s", (int)q->room_len, q->room);
    for (size_t i = 0; i < st.n; i++) {
        if (st.stored[i].room_len != q->room_len || memcmp(st.stored[i].room, q->room, q->room_len) != 0)
            continue;
        if (q->before_id && strcmp(st.stored[i].id, q->before_id) >= 0)
            continue;
        page[end++] = st.stored[i];
    }
    start = end > q->limit ? end - q->limit : 0;
    n = end - start;
    done(arg, 0, page + start, n, start > 0, NULL);
}

static void s_health(void *inst, parley_health_done done, void *arg)
{
    (void)inst;
    done(arg, PARLEY_STORAGE_CONNECTED, NULL);
}

static const parley_storage_vtable store_vt = { sizeof store_vt, s_insert, s_history, s_health };

/* ---- test transports ---- */

struct client {
    const char *name;
    parley_session *s;
    char log[2048];          /* "type:user:text;" per delivery */
    unsigned got;
    /* re-entrancy hooks, run inside deliver */
    struct client *close_on_deliver;
    int leave_on_deliver;
};

struct transport {
    parley_host host;
    parley_transport_vtable vt;
    unsigned encodes;
    unsigned delivers;
};

static struct transport ta, tb;

static parley_frame *t_encode(void *instance, const parley_event *ev)
{
    struct transport *t = instance;
    char text[512], *data;
    int len;
    parley_frame *f;

    t->encodes++;
    switch (ev->type) {
    case PARLEY_EVENT_MESSAGE:
        assert_non_null(ev->message);
        assert_true(parley__msgid_valid(ev->message->id, PARLEY_ID_LEN));
        len = snprintf(text, sizeof text, "msg:%s:%s", ev->username, ev->message->content);
        break;
    case PARLEY_EVENT_USER_JOINED:
        len = snprintf(text, sizeof text, "joined:%s:%s", ev->username, ev->room);
        break;
    case PARLEY_EVENT_USER_LEFT:
        len = snprintf(text, sizeof text, "left:%s:%s", ev->username, ev->room);
        break;
    case PARLEY_EVENT_TYPING:
        len = snprintf(text, sizeof text, "typing:%s:%d", ev->username, ev->is_typing);
        break;
    default:
        fail_msg("unknown event %u", ev->type);
        return NULL;
    }
    assert_int_equal(strlen(ev->room), ev->room_len);
    f = parley__frame_alloc(&t->host, (size_t)len, 0, &data);
    memcpy(data, text, (size_t)len);
    return f;
}

static void t_deliver(void *instance, void *ctx, parley_frame *frame)
{
    struct transport *t = instance;
    struct client *c = ctx;
    size_t len;
    const char *data = parley__frame_data(frame, &len);

    t->delivers++;
    c->got++;
    snprintf(c->log + strlen(c->log), sizeof c->log - strlen(c->log), "%.*s;", (int)len, data);
    if (c->close_on_deliver != NULL) {
        struct client *victim = c->close_on_deliver;
        c->close_on_deliver = NULL;
        parley__session_close(victim->s);
        victim->s = NULL;
    }
    if (c->leave_on_deliver) {
        c->leave_on_deliver = 0;
        assert_int_equal(parley__session_leave(c->s, "r", NULL), 0);
    }
}

static void transport_init(struct transport *t, const char *name)
{
    memset(t, 0, sizeof *t);
    t->vt.struct_size = sizeof t->vt;
    t->vt.encode = t_encode;
    t->vt.deliver = t_deliver;
    t->host.name = name;
    t->host.instance = t;
    t->host.transport = &t->vt;
}

static struct client *client_new(struct transport *t, const char *name)
{
    struct client *c = calloc(1, sizeof *c);
    parley_error err = PARLEY_ERROR_INIT;

    c->name = name;
    c->s = parley__session_open(&t->host, c, &err);
    if (c->s == NULL)
        fail_msg("session_open: %s", err.message);
    return c;
}

static void client_free(struct client *c)
{
    if (c->s != NULL)
        parley__session_close(c->s);
    free(c);
}

static void join(struct client *c, const char *room, const char *user)
{
    parley_error err = PARLEY_ERROR_INIT;

    if (parley__session_join(c->s, room, user, &err) != 0)
        fail_msg("join %s as %s: %s", room ? room : "(default)", user, err.message);
}

static void clear(struct client **cs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cs[i]->log[0] = '\0';
        cs[i]->got = 0;
    }
    ta.encodes = ta.delivers = tb.encodes = tb.delivers = 0;
}

/* ---- loop driving ---- */

static void tick(uv_timer_t *t)
{
    (void)t;
}

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

struct posted {
    int calls, status;
    char message[PARLEY_ERROR_MESSAGE_MAX];
    char id[PARLEY_ID_LEN + 1];
    char content[128];
    size_t deliveries_at_done;
};

static void post_done(void *arg, int status, const parley_message *msg, const parley_error *err)
{
    struct posted *p = arg;

    p->calls++;
    p->status = status;
    p->deliveries_at_done = ta.delivers + tb.delivers;
    snprintf(p->message, sizeof p->message, "%s", err ? err->message : "");
    if (msg != NULL) {
        snprintf(p->id, sizeof p->id, "%s", msg->id);
        snprintf(p->content, sizeof p->content, "%s", msg->content);
    }
}

static int post_as(struct client *c, const char *room, const char *user, const char *content,
                   struct posted *p, parley_error *err)
{
    parley_post post;

    memset(&post, 0, sizeof post);
    post.struct_size = sizeof post;
    post.room = room;
    post.room_len = room ? strlen(room) : 0;
    post.username = user;
    post.username_len = user ? strlen(user) : 0;
    post.content = content;
    post.content_len = strlen(content);
    post.session = c ? c->s : NULL;
    return parley__chat_post(NULL, &post, post_done, p, err);
}

static struct parley__chat_options options(void)
{
    struct parley__chat_options o = { "chat-room", 5, 10, 3, { 100, 16, 32 } };
    return o;
}

static int setup(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    struct parley__storage_options so = { 100, 0 };
    struct parley__chat_options o = options();

    (void)state;
    memset(&st, 0, sizeof st);
    transport_init(&ta, "ta");
    transport_init(&tb, "tb");
    assert_int_equal(parley__loop_init(1, &err), 0);
    assert_int_equal(parley__storage_queue_init(&store_vt, NULL, &so, &err), 0);
    if (parley__chat_init(&o, &err) != 0)
        fail_msg("chat_init: %s", err.message);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    parley__storage_queue_free();
    parley__chat_free();
    parley__loop_close();
    parley__metrics_free();
    for (size_t i = 0; i < st.n; i++)
        free(st.bufs[i]);
    assert_int_equal(parley__frame_live(), 0);
    return 0;
}

/* ---- cases ---- */

static void test_presence_excludes_actor(void **state)
{
    struct client *a1 = client_new(&ta, "a1"), *a2 = client_new(&ta, "a2"), *b1 = client_new(&tb, "b1");
    struct client *all[] = { a1, a2, b1 };

    (void)state;
    join(a1, NULL, "  alice ");
    assert_int_equal(a1->got, 0);
    assert_int_equal(ta.encodes, 0);          /* nobody to tell: not even encoded */
    assert_string_equal(parley__session_username(a1->s, NULL), "alice");
    assert_string_equal(parley__session_username(a1->s, "chat-room"), "alice");

    join(a2, "chat-room", "bob");
    assert_string_equal(a1->log, "joined:bob:chat-room;");
    assert_string_equal(a2->log, "");
    clear(all, 3);

    join(b1, NULL, "carol");
    assert_string_equal(a1->log, "joined:carol:chat-room;");
    assert_string_equal(a2->log, "joined:carol:chat-room;");
    assert_string_equal(b1->log, "");
    assert_int_equal(ta.encodes, 1);          /* once for both of ta's sessions */
    assert_int_equal(tb.encodes, 0);          /* tb's only member is the actor */
    assert_int_equal(parley__chat_room_members("chat-room"), 3);
    assert_int_equal(parley__chat_room_count(), 1);
    assert_int_equal(parley__chat_session_count(), 3);

    client_free(a1);
    client_free(a2);
    client_free(b1);
    assert_int_equal(parley__chat_room_count(), 0);
    assert_int_equal(parley__chat_session_count(), 0);
}

static void test_persist_then_broadcast(void **state)
{
    struct client *a1 = client_new(&ta, "a1"), *a2 = client_new(&ta, "a2"), *b1 = client_new(&tb, "b1");
    struct client *all[] = { a1, a2, b1 };
    parley_error err = PARLEY_ERROR_INIT;
    struct posted p = { 0 };
    char text[8192];

    (void)state;
    join(a1, "r", "alice");
    join(a2, "r", "bob");
    join(b1, "r", "carol");
    clear(all, 3);

    st.how = HOLD;
    assert_int_equal(post_as(a1, "r", "ignored", "  hello  ", &p, &err), 0);
    run_until(NULL, 10);
    assert_int_equal(st.inserts, 1);
    assert_int_equal(p.calls, 0);
    assert_int_equal(ta.delivers + tb.delivers, 0);   /* nothing before storage confirmed */

    release_held(0);
    run_until(&p.calls, 1000);
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.status, 0);
    assert_string_equal(p.content, "hello");
    assert_true(parley__msgid_valid(p.id, PARLEY_ID_LEN));
    assert_int_equal(p.deliveries_at_done, 3);        /* broadcast before done */
    assert_string_equal(a1->log, "msg:alice:hello;"); /* the sender too, with its joined name */
    assert_string_equal(a2->log, "msg:alice:hello;");
    assert_string_equal(b1->log, "msg:alice:hello;");
    assert_int_equal(ta.encodes, 1);
    assert_int_equal(tb.encodes, 1);
    assert_string_equal(st.stored[0].username, "alice");
    assert_string_equal(st.stored[0].content, "hello");

    parley__metrics_format(NULL, text, sizeof text);
    assert_non_null(strstr(text, "parley_messages_posted_total 1\n"));
    assert_non_null(strstr(text, "parley_deliveries_total 6\n"));   /* 3 user-joined + 3 */
    assert_non_null(strstr(text, "parley_sessions 3\n"));
    assert_non_null(strstr(text, "parley_rooms 1\n"));

    client_free(a1);
    client_free(a2);
    client_free(b1);
}

static void test_storage_failure(void **state)
{
    struct client *a1 = client_new(&ta, "a1"), *a2 = client_new(&ta, "a2");
    struct client *all[] = { a1, a2 };
    parley_error err = PARLEY_ERROR_INIT;
    struct posted p = { 0 };
    char text[8192];

    (void)state;
    join(a1, NULL, "alice");
    join(a2, NULL, "bob");
    clear(all, 2);
    st.how = FAIL;
    assert_int_equal(post_as(a1, NULL, NULL, "lost", &p, &err), 0);
    run_until(&p.calls, 1000);
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.status, PARLEY_EUNAVAIL);
    assert_string_equal(p.message, "message not stored: storage unavailable (test store is down)");
    assert_int_equal(ta.encodes + ta.delivers, 0);
    assert_int_equal(parley__chat_storage_state(NULL), PARLEY_STORAGE_DISCONNECTED);
    parley__metrics_format(NULL, text, sizeof text);
    assert_non_null(strstr(text, "parley_messages_rejected_total{reason=\"storage\"} 1\n"));
    client_free(a1);
    client_free(a2);
}

static void test_timeout_and_late_completion(void **state)
{
    struct client *a1 = client_new(&ta, "a1"), *a2 = client_new(&ta, "a2");
    struct client *all[] = { a1, a2 };
    parley_error err = PARLEY_ERROR_INIT;
    struct posted p = { 0 };

    (void)state;
    join(a1, NULL, "alice");
    join(a2, NULL, "bob");
    clear(all, 2);
    st.how = HOLD;
    assert_int_equal(post_as(a1, NULL, NULL, "slow", &p, &err), 0);
    run_until(&p.calls, 2000);
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.status, PARLEY_ETIMEDOUT);
    assert_string_equal(p.message, "message not stored: timed out (storage did not answer within 100 ms)");
    /* The store answers at last: dropped, no broadcast, no second done. */
    release_held(0);
    run_until(NULL, 20);
    assert_int_equal(p.calls, 1);
    assert_int_equal(ta.delivers, 0);
    client_free(a1);
    client_free(a2);
}

static void test_post_validation(void **state)
{
    struct client *a1 = client_new(&ta, "a1"), *a2 = client_new(&ta, "a2");
    struct client *all[] = { a1, a2 };
    parley_error err = PARLEY_ERROR_INIT;
    struct posted p = { 0 };
    char big[200];

    (void)state;
    join(a1, NULL, "alice");
    join(a2, NULL, "bob");
    clear(all, 2);

    assert_int_equal(post_as(a1, "elsewhere", NULL, "hi", &p, &err), PARLEY_ENOTFOUND);
    assert_string_equal(err.message, "not in room \"elsewhere\"; join it before posting");
    assert_int_equal(post_as(a1, NULL, NULL, " \n ", &p, &err), PARLEY_EINVAL);
    assert_string_equal(err.message, "content is empty");
    memset(big, 'x', 101);
    big[101] = '\0';
    assert_int_equal(post_as(a1, NULL, NULL, big, &p, &err), PARLEY_EINVAL);
    assert_string_equal(err.message, "content is 101 characters long; the limit is 100");
    assert_int_equal(post_as(NULL, NULL, "", "hi", &p, &err), PARLEY_EINVAL);
    assert_string_equal(err.message, "username is empty");
    assert_int_equal(post_as(NULL, "$bad", "x", "hi", &p, &err), PARLEY_EINVAL);
    assert_string_equal(err.message, "room must not start with '$'");
    assert_int_equal(p.calls, 0);             /* refused at once: done is not called */
    assert_int_equal(st.inserts, 0);

    /* REST-style: no session, the username is given; members see it. */
    assert_int_equal(post_as(NULL, NULL, " rest-user ", "from rest", &p, &err), 0);
    run_until(&p.calls, 1000);
    assert_int_equal(p.status, 0);
    assert_string_equal(a1->log, "msg:rest-user:from rest;");
    assert_string_equal(a2->log, "msg:rest-user:from rest;");
    assert_int_equal(ta.encodes, 1);

    /* A room nobody joined: stored, broadcast to nobody. */
    memset(&p, 0, sizeof p);
    assert_int_equal(post_as(NULL, "empty-room", "x", "into the void", &p, &err), 0);
    run_until(&p.calls, 1000);
    assert_int_equal(p.status, 0);
    assert_int_equal(parley__chat_room_count(), 1);
    client_free(a1);
    client_free(a2);
}

static void test_typing_never_stored(void **state)
{
    struct client *a1 = client_new(&ta, "a1"), *a2 = client_new(&ta, "a2"), *b1 = client_new(&tb, "b1");
    struct client *all[] = { a1, a2, b1 };
    parley_error err = PARLEY_ERROR_INIT;

    (void)state;
    join(a1, NULL, "alice");
    join(a2, NULL, "bob");
    join(b1, NULL, "carol");
    clear(all, 3);
    assert_int_equal(parley__session_typing(a1->s, NULL, 5, &err), 0);
    assert_string_equal(a1->log, "");
    assert_string_equal(a2->log, "typing:alice:1;");
    assert_string_equal(b1->log, "typing:alice:1;");
    assert_int_equal(parley__session_typing(a1->s, NULL, 0, &err), 0);
    assert_string_equal(a2->log, "typing:alice:1;typing:alice:0;");
    assert_int_equal(st.inserts, 0);
    assert_int_equal(parley__session_typing(a1->s, "nowhere", 1, &err), PARLEY_ENOTFOUND);
    assert_string_equal(err.message, "not in room \"nowhere\"");
    client_free(a1);
    client_free(a2);
    client_free(b1);
}

static void test_room_limit_and_rejoin(void **state)
{
    struct client *a1 = client_new(&ta, "a1"), *a2 = client_new(&ta, "a2");
    struct client *all[] = { a1, a2 };
    parley_error err = PARLEY_ERROR_INIT;

    (void)state;
    join(a2, "r1", "watcher");
    join(a1, "r1", "alice");
    join(a1, "r2", "alice");
    join(a1, "r3", "alice");
    assert_int_equal(parley__session_join(a1->s, "r4", "alice", &err), PARLEY_ELIMIT);
    assert_string_equal(err.message, "already in 3 rooms; the limit is 3");
    assert_int_equal(parley__chat_room_members("r4"), 0);
    clear(all, 2);

    /* Joining again only renames: no second user-joined. */
    join(a1, "r1", "alicia");
    assert_string_equal(a2->log, "");
    assert_string_equal(parley__session_username(a1->s, "r1"), "alicia");
    assert_string_equal(parley__session_username(a1->s, "r2"), "alice");
    assert_null(parley__session_username(a1->s, "r4"));
    assert_int_equal(parley__chat_room_members("r1"), 2);

    assert_int_equal(parley__session_join(a1->s, "r1", "this name is far too long", &err), PARLEY_EINVAL);
    assert_string_equal(err.message, "username is 25 characters long; the limit is 16");
    assert_int_equal(parley__session_join(a1->s, "r\x01", "x", &err), PARLEY_EINVAL);
    assert_string_equal(err.message, "room contains a control character (U+0001 at character 2)");

    /* Leaving frees a slot. */
    assert_int_equal(parley__session_leave(a1->s, "r3", &err), 0);
    join(a1, "r4", "alice");
    client_free(a1);
    client_free(a2);
}

static void test_leave_and_close(void **state)
{
    struct client *a1 = client_new(&ta, "a1"), *a2 = client_new(&ta, "a2"), *b1 = client_new(&tb, "b1");
    struct client *all[] = { a1, a2, b1 };
    parley_error err = PARLEY_ERROR_INIT;

    (void)state;
    join(a1, "r", "alice");
    join(a2, "r", "bob");
    join(b1, "r", "carol");
    join(a1, "other", "alice");
    join(b1, "other", "carol");
    clear(all, 3);

    assert_int_equal(parley__session_leave(a2->s, "r", &err), 0);
    assert_string_equal(a1->log, "left:bob:r;");
    assert_string_equal(b1->log, "left:bob:r;");
    assert_string_equal(a2->log, "");
    assert_int_equal(parley__session_leave(a2->s, "r", &err), PARLEY_ENOTFOUND);
    assert_string_equal(err.message, "not in room \"r\"");
    clear(all, 3);

    /* Close: user-left in every room the session was in. */
    parley__session_close(a1->s);
    a1->s = NULL;
    assert_non_null(strstr(b1->log, "left:alice:r;"));
    assert_non_null(strstr(b1->log, "left:alice:other;"));
    assert_int_equal(b1->got, 2);
    assert_int_equal(parley__chat_room_members("r"), 1);
    assert_int_equal(parley__chat_room_count(), 2);
    client_free(b1);
    assert_int_equal(parley__chat_room_count(), 0);   /* empty rooms are freed */
    client_free(a1);
    client_free(a2);
}

static void test_reentrant_close_during_deliver(void **state)
{
    struct client *c[6];
    struct client *all[6];
    parley_error err = PARLEY_ERROR_INIT;
    struct posted p = { 0 };
    char name[16];

    (void)state;
    for (int i = 0; i < 6; i++) {
        c[i] = client_new(i < 4 ? &ta : &tb, "c");
        all[i] = c[i];
        snprintf(name, sizeof name, "u%d", i);
        join(c[i], "r", name);
    }
    clear(all, 6);

    /* While the message goes out: c0 closes c2 (not yet delivered to),
     * c1 closes itself, c3 leaves the room, c4 closes the poster c5. */
    c[0]->close_on_deliver = c[2];
    c[1]->close_on_deliver = c[1];
    c[3]->leave_on_deliver = 1;
    c[4]->close_on_deliver = c[5];
    assert_int_equal(post_as(c[5], "r", NULL, "boom", &p, &err), 0);
    run_until(&p.calls, 1000);
    assert_int_equal(p.status, 0);
    assert_string_equal(p.content, "boom");

    /* c0 got the message, then c2's and c1's user-left (nested broadcasts). */
    assert_non_null(strstr(c[0]->log, "msg:u5:boom;"));
    assert_non_null(strstr(c[0]->log, "left:u2:r;"));
    assert_non_null(strstr(c[0]->log, "left:u1:r;"));
    assert_non_null(strstr(c[0]->log, "left:u3:r;"));
    assert_non_null(strstr(c[0]->log, "left:u5:r;"));
    assert_null(c[2]->s);
    assert_int_equal(c[2]->got, 0);       /* closed before its turn: skipped */
    /* c3's first delivery was c1's user-left (nested); it left the room
     * right then, so the message, still on its way, skipped it. */
    assert_string_equal(c[3]->log, "left:u1:r;");
    assert_int_equal(parley__chat_room_members("r"), 2);   /* c0 and c4 */
    assert_int_equal(parley__chat_session_count(), 3);      /* c0, c3 and c4 */

    /* The room still works after the sweep. */
    clear(all, 6);
    assert_int_equal(parley__session_typing(c[0]->s, "r", 1, &err), 0);
    assert_string_equal(c[4]->log, "typing:u0:1;");
    for (int i = 0; i < 6; i++)
        client_free(c[i]);
    assert_int_equal(parley__chat_room_count(), 0);
}

static void test_close_everyone_during_deliver(void **state)
{
    struct client *a = client_new(&ta, "a"), *b = client_new(&ta, "b"), *x = client_new(&tb, "x");
    parley_error err = PARLEY_ERROR_INIT;

    (void)state;
    join(a, "r", "a");
    join(b, "r", "b");
    join(x, "r", "x");
    /* x's typing reaches a, which closes b and a itself... */
    a->close_on_deliver = b;
    b->close_on_deliver = NULL;
    assert_int_equal(parley__session_typing(x->s, "r", 1, &err), 0);
    assert_null(b->s);
    /* ...and then x leaves: the room empties and is freed at the end. */
    assert_int_equal(parley__session_leave(x->s, "r", &err), 0);
    assert_int_equal(parley__chat_room_members("r"), 1);
    parley__session_close(a->s);
    a->s = NULL;
    assert_int_equal(parley__chat_room_count(), 0);
    client_free(a);
    client_free(b);
    client_free(x);
}

static void test_poster_closes_before_stored(void **state)
{
    struct client *a1 = client_new(&ta, "a1"), *a2 = client_new(&ta, "a2");
    parley_error err = PARLEY_ERROR_INIT;
    struct posted p = { 0 };

    (void)state;
    join(a1, NULL, "alice");
    join(a2, NULL, "bob");
    st.how = HOLD;
    assert_int_equal(post_as(a1, NULL, NULL, "bye", &p, &err), 0);
    parley__session_close(a1->s);
    a1->s = NULL;
    a2->log[0] = '\0';
    release_held(0);
    run_until(&p.calls, 1000);
    assert_int_equal(p.status, 0);
    assert_string_equal(a2->log, "msg:alice:bye;");   /* stored, so still broadcast */
    client_free(a1);
    client_free(a2);
}

struct page {
    int calls, status;
    size_t n;
    char ids[16][PARLEY_ID_LEN + 1];
    char next[PARLEY_ID_LEN + 1];
    char message[PARLEY_ERROR_MESSAGE_MAX];
};

static void page_done(void *arg, int status, const parley_message *msgs, size_t n,
                      const char *next_before, const parley_error *err)
{
    struct page *pg = arg;

    pg->calls++;
    pg->status = status;
    pg->n = n;
    for (size_t i = 0; i < n && i < 16; i++)
        memcpy(pg->ids[i], msgs[i].id, PARLEY_ID_LEN + 1);
    snprintf(pg->next, sizeof pg->next, "%s", next_before ? next_before : "");
    snprintf(pg->message, sizeof pg->message, "%s", err ? err->message : "");
}

static void test_history(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    struct posted p;
    struct page pg;
    char upper[PARLEY_ID_LEN + 1];

    (void)state;
    for (int i = 0; i < 12; i++) {
        char content[16];
        memset(&p, 0, sizeof p);
        snprintf(content, sizeof content, "m%d", i);
        assert_int_equal(post_as(NULL, NULL, "u", content, &p, &err), 0);
        run_until(&p.calls, 1000);
        assert_int_equal(p.status, 0);
    }
    assert_int_equal(st.n, 12);

    /* limit 0: the configured history_limit (5). */
    memset(&pg, 0, sizeof pg);
    assert_int_equal(parley__chat_history(NULL, NULL, NULL, 0, page_done, &pg, &err), 0);
    run_until(&pg.calls, 1000);
    assert_int_equal(st.last_limit, 5);
    assert_string_equal(st.last_room, "chat-room");
    assert_int_equal(pg.n, 5);
    assert_string_equal(pg.ids[0], st.stored[7].id);
    assert_string_equal(pg.ids[4], st.stored[11].id);
    assert_string_equal(pg.next, st.stored[7].id);    /* msgs[0].id when has_more */

    /* Clamped to history_max (10); the cursor pages back, upper case accepted. */
    for (int i = 0; i < PARLEY_ID_LEN; i++)
        upper[i] = (char)(pg.next[i] >= 'a' ? pg.next[i] - 32 : pg.next[i]);
    upper[PARLEY_ID_LEN] = '\0';
    memset(&pg, 0, sizeof pg);
    assert_int_equal(parley__chat_history(NULL, "chat-room", upper, 500, page_done, &pg, &err), 0);
    run_until(&pg.calls, 1000);
    assert_int_equal(st.last_limit, 10);
    assert_string_equal(st.last_before, st.stored[7].id);
    assert_int_equal(pg.n, 7);
    assert_string_equal(pg.next, "");                 /* no more */

    /* Refusals, at once. */
    assert_int_equal(parley__chat_history(NULL, NULL, "nope", 1, page_done, &pg, &err), PARLEY_EINVAL);
    assert_string_equal(err.message, "before is not a message id (24 hex digits): \"nope\"");
    assert_int_equal(parley__chat_history(NULL, "  ", NULL, 1, page_done, &pg, &err), PARLEY_EINVAL);
    assert_string_equal(err.message, "room is empty");
    assert_int_equal(st.histories, 2);
}

static void test_shutdown_and_reconfigure(void **state)
{
    struct client *a1 = client_new(&ta, "a1"), *a2 = client_new(&ta, "a2");
    parley_error err = PARLEY_ERROR_INIT;
    struct parley__chat_options o = options();
    struct posted p = { 0 };

    (void)state;
    join(a1, NULL, "alice");
    join(a2, NULL, "bob");

    o.default_room = "$bad";
    assert_int_equal(parley__chat_reconfigure(&o, &err), PARLEY_EINVAL);
    assert_string_equal(err.message, "chat.default_room \"$bad\" is refused: room must not start with '$'");
    assert_string_equal(parley__chat_default_room(NULL), "chat-room");
    o.default_room = "lobby";
    o.history_limit = 7;
    assert_int_equal(parley__chat_reconfigure(&o, &err), 0);
    assert_string_equal(parley__chat_default_room(NULL), "lobby");
    assert_int_equal(parley__chat_history_limit(NULL), 7);
    /* Sessions keep the room they joined. */
    assert_string_equal(parley__session_username(a1->s, "chat-room"), "alice");

    parley__chat_shutdown();
    assert_int_equal(post_as(a1, "chat-room", NULL, "late", &p, &err), PARLEY_ESHUTDOWN);
    assert_string_equal(err.message, "the server is shutting down; message not accepted");
    a2->log[0] = '\0';
    parley__session_close(a1->s);       /* still closes normally */
    a1->s = NULL;
    assert_string_equal(a2->log, "left:alice:chat-room;");
    client_free(a1);
    client_free(a2);
}

static void test_free_with_pending_calls(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    struct posted p = { 0 };
    struct page pg = { 0 };

    (void)state;
    /* Storage never answers: teardown frees both, calls neither (ASan
     * reports a leak or a use-after-free otherwise). */
    st.how = HOLD;
    assert_int_equal(post_as(NULL, NULL, "u", "stuck", &p, &err), 0);
    parley__storage_queue_reconfigure(&(struct parley__storage_options){ 0, 0 });
    assert_int_equal(parley__chat_history(NULL, NULL, NULL, 0, page_done, &pg, &err), 0);
    st.n_held = 0;
    assert_int_equal(p.calls, 0);
}

static void test_session_open_refusals(void **state)
{
    parley_host rest = { "rest", NULL, NULL, NULL };
    parley_error err = PARLEY_ERROR_INIT;

    (void)state;
    assert_null(parley__session_open(&rest, NULL, &err));
    assert_string_equal(err.message, "plugin rest cannot open chat sessions: its transport vtable has no encode and deliver");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_presence_excludes_actor),
        T(test_persist_then_broadcast),
        T(test_storage_failure),
        T(test_timeout_and_late_completion),
        T(test_post_validation),
        T(test_typing_never_stored),
        T(test_room_limit_and_rejoin),
        T(test_leave_and_close),
        T(test_reentrant_close_during_deliver),
        T(test_close_everyone_during_deliver),
        T(test_poster_closes_before_stored),
        T(test_history),
        T(test_shutdown_and_reconfigure),
        T(test_free_with_pending_calls),
        T(test_session_open_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
