/*
 * The Socket.IO layer of plugins/socketio (socketio.c, sio_*.c) over a fake
 * Engine.IO server and a fake chat, with the host's real frames and custom
 * events: packet order on CONNECT, CONNECT_ERROR, the chat mapping, and
 * the re-entrant paths (the engine closing the session synchronously from
 * inside a send, chat completions after the connection closed). ASan
 * checks that nothing is used after it is freed and nothing leaks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"
#include "events.h"
#include "frame.h"
#include "host.h"

/* ---- the fake engine ---------------------------------------------------- */

#define MAX_SENT 32

struct eio_socket {
    void *user;
    int closed;
    char reason[64];
    int fail_sends_after;        /* >0: the Nth send closes the session and fails */
    int n_sent;
    char sent[MAX_SENT][512];
};

struct eio_server {
    struct eio_callbacks cb;
    void *arg;
};

static struct eio_server fake_srv;

int eio_server_create(const parley_host_api *api, parley_host *host, const struct eio_options *o,
                      const struct eio_callbacks *cb, void *cb_arg, struct eio_server **out,
                      parley_error *err)
{
    (void)api;
    (void)host;
    (void)err;
    assert_string_equal(o->path, "/socket.io/");
    fake_srv.cb = *cb;
    fake_srv.arg = cb_arg;
    *out = &fake_srv;
    return 0;
}

int eio_server_start(struct eio_server *srv, parley_error *err)
{
    (void)srv;
    (void)err;
    return 0;
}

void eio_server_drain(struct eio_server *srv, const char *reason)
{
    (void)srv;
    (void)reason;
}

void eio_server_destroy(struct eio_server *srv)
{
    (void)srv;
}

void eio_close(struct eio_socket *s, const char *reason)
{
    if (s->closed)
        return;
    s->closed = 1;
    snprintf(s->reason, sizeof s->reason, "%s", reason);
    fake_srv.cb.on_close(fake_srv.arg, s, reason);   /* synchronous, as engine.h says */
}

static int record(struct eio_socket *s, const char *data, size_t len)
{
    if (s->closed)
        return PARLEY_ECLOSED;
    if (s->fail_sends_after > 0 && --s->fail_sends_after == 0) {
        eio_close(s, "slow consumer");
        return PARLEY_ELIMIT;
    }
    if (s->n_sent < MAX_SENT)
        snprintf(s->sent[s->n_sent++], sizeof s->sent[0], "%.*s", (int)len, data);
    return 0;
}

int eio_send_frame(struct eio_socket *s, parley_frame *frame)
{
    size_t len;
    const char *d = parley__frame_data(frame, &len);

    return record(s, d, len);
}

int eio_send_text(struct eio_socket *s, const char *data, size_t len)
{
    char buf[600];

    snprintf(buf, sizeof buf, "4%.*s", (int)len, data);
    return record(s, buf, strlen(buf));
}

int eio_send_binary(struct eio_socket *s, const void *data, size_t len)
{
    char buf[64];

    snprintf(buf, sizeof buf, "<bin %zu>", len);
    (void)data;
    return record(s, buf, strlen(buf));
}

void eio_set_user(struct eio_socket *s, void *user) { s->user = user; }
void *eio_get_user(const struct eio_socket *s) { return s->user; }
const char *eio_sid(const struct eio_socket *s) { (void)s; return "fake-sid"; }
const char *eio_transport(const struct eio_socket *s) { (void)s; return "websocket"; }

/* ---- the fake host (real frames and events, fake chat and config) ----- */

static parley_host_api api;
static parley_host host = { .name = "socketio" };

static const char *cfg_string(const parley_config *c, const char *key)
{
    (void)c;
    return strcmp(key, "path") == 0 ? "/socket.io/" : "";
}

static int64_t cfg_int(const parley_config *c, const char *key)
{
    (void)c;
    if (strcmp(key, "max_attachments") == 0) return 10;
    if (strcmp(key, "max_namespaces") == 0) return 4;
    if (strcmp(key, "max_json_depth") == 0) return 32;
    if (strcmp(key, "max_event_name_length") == 0) return 256;
    if (strcmp(key, "max_http_buffer_size") == 0) return 1000000;
    if (strcmp(key, "send_queue_max") == 0) return 1 << 20;
    return 1000;   /* durations */
}

static int cfg_bool(const parley_config *c, const char *key) { (void)c; (void)key; return 0; }

static size_t cfg_list_size(const parley_config *c, const char *key)
{
    (void)c;
    return strcmp(key, "transports") == 0 ? 2 : 1;
}

static const char *cfg_list_item(const parley_config *c, const char *key, size_t i)
{
    (void)c;
    if (strcmp(key, "transports") == 0)
        return i == 0 ? "polling" : "websocket";
    return "*";
}

static const char *cfg_location(const parley_config *c, const char *key)
{
    (void)c;
    (void)key;
    return "test";
}

struct fake_timer { int unused; };
static int timers;

static parley_timer *timer_start(parley_host *h, uint64_t t, uint64_t r, void (*cb)(void *),
                                 void *arg)
{
    (void)h; (void)t; (void)r; (void)cb; (void)arg;
    timers++;
    return (parley_timer *)calloc(1, sizeof(struct fake_timer));
}

static void timer_stop(parley_timer *t)
{
    if (t != NULL)
        timers--;
    free(t);
}

static void log_fn(parley_host *h, int level, const char *fmt, ...) { (void)h; (void)level; (void)fmt; }
static int rnd(parley_host *h, void *buf, size_t len) { (void)h; memset(buf, 7, len); return 0; }
static parley_metric *metric_register(parley_host *h, const parley_metric_desc *d, parley_error *e)
{
    (void)h; (void)d; (void)e;
    return NULL;
}
static void metric_nop(parley_metric *m, double v) { (void)m; (void)v; }

/* The chat: one session at a time; history and post complete when told. */
struct fake_session { void *ctx; char room[64]; char name[64]; };
static struct { int opened, closed, joins; } chat;
static parley_post_done pending_done;
static void *pending_arg;

static parley_session *session_open(parley_host *h, void *ctx, parley_error *err)
{
    struct fake_session *s = calloc(1, sizeof *s);

    (void)h;
    (void)err;
    s->ctx = ctx;
    chat.opened++;
    return (parley_session *)s;
}

static void session_close(parley_session *s)
{
    chat.closed++;
    free(s);
}

static int session_join(parley_session *ps, const char *room, const char *name, parley_error *err)
{
    struct fake_session *s = (struct fake_session *)ps;

    if (name[0] == '\0')
        return parley_error_set(err, PARLEY_EINVAL, "username is empty");
    snprintf(s->room, sizeof s->room, "%s", room);
    snprintf(s->name, sizeof s->name, "%s", name);
    chat.joins++;
    return 0;
}

static int session_leave(parley_session *s, const char *room, parley_error *err)
{
    (void)s; (void)room; (void)err;
    return 0;
}

static const char *session_username(const parley_session *ps, const char *room)
{
    (void)room;
    return ((const struct fake_session *)ps)->name;
}

static const char *default_room(parley_host *h) { (void)h; return "chat-room"; }

static int chat_history(parley_host *h, const char *room, const char *before, uint32_t limit,
                        parley_page_done done, void *arg, parley_error *err)
{
    parley_message m[2];

    (void)h; (void)before; (void)limit; (void)err;
    memset(m, 0, sizeof m);
    for (int i = 0; i < 2; i++) {
        m[i].struct_size = sizeof m[i];
        snprintf(m[i].id, sizeof m[i].id, "00000000000000000000000%d", i + 1);
        m[i].room = room;
        m[i].room_len = strlen(room);
        m[i].username = "old";
        m[i].username_len = 3;
        m[i].content = i == 0 ? "first" : "second";
        m[i].content_len = strlen(m[i].content);
        m[i].timestamp_ms = 1700000000123LL + i;
    }
    done(arg, 0, m, 2, NULL, NULL);     /* synchronously: allowed */
    return 0;
}

static int chat_post(parley_host *h, const parley_post *p, parley_post_done done, void *arg,
                     parley_error *err)
{
    (void)h;
    (void)err;
    assert_non_null(p->session);
    pending_done = done;
    pending_arg = arg;
    return 0;
}

static void finish_post(int status)
{
    parley_message m = { .struct_size = sizeof m, .id = "6553f100deadbeef01000102",
                         .room = "r", .room_len = 1, .username = "u", .username_len = 1,
                         .content = "c", .content_len = 1, .timestamp_ms = 0 };
    parley_error err = PARLEY_ERROR_INIT;
    parley_post_done done = pending_done;

    pending_done = NULL;
    if (status < 0)
        parley_error_set(&err, status, "message not stored: storage down");
    done(pending_arg, status, status < 0 ? NULL : &m, status < 0 ? &err : NULL);
}

/* ---- plumbing ------------------------------------------------------------ */

static int disconnects;

const parley_plugin_descriptor *parley_plugin_entry(void);
static const parley_plugin_descriptor *desc;
static void *inst;

static int setup(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;

    (void)state;
    api = parley__api;
    api.config_string = cfg_string;
    api.config_int = cfg_int;
    api.config_bool = cfg_bool;
    api.config_list_size = cfg_list_size;
    api.config_list_item = cfg_list_item;
    api.config_location = cfg_location;
    api.timer_start = timer_start;
    api.timer_stop = timer_stop;
    api.log = log_fn;
    api.random_bytes = rnd;
    api.metric_register = metric_register;
    api.metric_add = metric_nop;
    api.metric_set = metric_nop;
    api.session_open = session_open;
    api.session_close = session_close;
    api.session_join = session_join;
    api.session_leave = session_leave;
    api.session_username = session_username;
    api.chat_default_room = default_room;
    api.chat_history = chat_history;
    api.chat_post = chat_post;
    memset(&chat, 0, sizeof chat);
    disconnects = 0;
    parley__events_free();
    desc = parley_plugin_entry();
    assert_int_equal(desc->create(&api, &host, NULL, &inst, &err), 0);
    host.instance = inst;
    host.transport = desc->vtable;
    assert_int_equal(desc->start(inst, &err), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    desc->destroy(inst);
    parley__events_free();
    assert_int_equal(timers, 0);
    return 0;
}

static struct eio_socket *open_sock(void)
{
    struct eio_socket *s = calloc(1, sizeof *s);

    fake_srv.cb.on_open(fake_srv.arg, s);
    return s;
}

static void msg(struct eio_socket *s, const char *text)
{
    fake_srv.cb.on_message(fake_srv.arg, s, text, strlen(text), 0);
}

static void finish(struct eio_socket *s)
{
    if (!s->closed)
        eio_close(s, "test over");
    free(s);
}

/* ---- handlers ----------------------------------------------------------- */

static void h_connect(void *arg, parley_client *c, const parley_event_args *auth)
{
    (void)arg;
    parley__api.client_emit(c, "auth", auth);
}

static void h_disconnect(void *arg, parley_client *c)
{
    (void)arg;
    disconnects++;
    /* The client is closed: emits are refused, not sent. */
    assert_int_equal(parley__api.client_emit(c, "bye", NULL), PARLEY_ECLOSED);
}

static void h_echo(void *arg, parley_client *c, const char *ev, const parley_event_args *a,
                   int64_t ack)
{
    (void)arg;
    (void)ev;
    (void)ack;
    /* Twice: the first may close the session (slow consumer). */
    parley__api.client_emit(c, "echo", a);
    parley__api.client_emit(c, "echo", a);
}

static void add_handlers(void)
{
    parley_error err = PARLEY_ERROR_INIT;
    parley_event_handler h1 = { .struct_size = sizeof h1, .namespace_name = "/custom",
                                .on_connect = h_connect, .on_disconnect = h_disconnect };
    parley_event_handler h2 = { .struct_size = sizeof h2, .namespace_name = "/",
                                .event = "echo", .on_event = h_echo,
                                .on_disconnect = h_disconnect };

    assert_int_equal(parley__api.event_handler_add(&host, &h1, &err), 0);
    assert_int_equal(parley__api.event_handler_add(&host, &h2, &err), 0);
}

/* ---- tests ------------------------------------------------------------ */

static void test_connect_order(void **state)
{
    struct eio_socket *s;

    (void)state;
    add_handlers();
    s = open_sock();
    assert_int_equal(timers, 1);                 /* connect timeout armed */
    msg(s, "0/custom,{\"token\":\"x\"}");
    assert_int_equal(s->n_sent, 2);
    assert_string_equal(s->sent[0], "40/custom,{\"sid\":\"HHHHHHHHHHHHHHHHHHHH\"}");
    assert_string_equal(s->sent[1], "42/custom,[\"auth\",{\"token\":\"x\"}]");
    assert_int_equal(timers, 0);                 /* stopped by the first CONNECT */
    msg(s, "0/nope,");
    assert_string_equal(s->sent[2], "44/nope,{\"message\":\"Invalid namespace\"}");
    msg(s, "1/custom,");
    assert_int_equal(disconnects, 1);
    assert_int_equal(s->closed, 0);
    msg(s, "2/custom,[\"x\"]");                  /* not joined any more */
    assert_int_equal(s->closed, 1);
    assert_string_equal(s->reason, "invalid_state");
    finish(s);
}

static void test_decode_error_closes(void **state)
{
    struct eio_socket *s;

    (void)state;
    s = open_sock();
    msg(s, "0");
    msg(s, "2{}");
    assert_int_equal(s->closed, 1);
    assert_string_equal(s->reason, "decode");
    assert_int_equal(chat.opened, 1);
    assert_int_equal(chat.closed, 1);
    finish(s);
}

static void test_close_inside_a_handler_emit(void **state)
{
    struct eio_socket *s;

    (void)state;
    add_handlers();
    s = open_sock();
    msg(s, "0");
    s->fail_sends_after = 1;     /* the handler's first emit closes the session */
    msg(s, "2[\"echo\",1]");
    assert_int_equal(s->closed, 1);
    assert_string_equal(s->reason, "slow consumer");
    assert_int_equal(disconnects, 1);            /* "/" handler's on_disconnect, once */
    assert_int_equal(chat.closed, 1);
    assert_int_equal(parley__events_client_count(), 0);
    finish(s);
}

static void test_chat_join_and_post(void **state)
{
    struct eio_socket *s;

    (void)state;
    s = open_sock();
    msg(s, "0");
    msg(s, "2[\"send-message\",{\"content\":\"early\"}]");
    assert_string_equal(s->sent[1], "42[\"error\",{\"message\":\"join a room first (join-chat)\","
                                    "\"code\":\"not_joined\"}]");
    msg(s, "2[\"join-chat\",{\"username\":\"ann\",\"room\":\"r1\"}]");
    assert_int_equal(chat.joins, 1);
    assert_string_equal(s->sent[2],
        "42[\"join-confirmed\",{\"username\":\"ann\",\"room\":\"r1\",\"history\":["
        "{\"_id\":\"000000000000000000000001\",\"username\":\"old\",\"content\":\"first\","
        "\"room\":\"r1\",\"timestamp\":\"2023-11-14T22:13:20.123Z\"},"
        "{\"_id\":\"000000000000000000000002\",\"username\":\"old\",\"content\":\"second\","
        "\"room\":\"r1\",\"timestamp\":\"2023-11-14T22:13:20.124Z\"}]}]");
    msg(s, "2[\"join-chat\",{\"username\":\"\"}]");
    assert_string_equal(s->sent[3], "42[\"error\",{\"message\":\"username is empty\","
                                    "\"code\":\"validation_failed\"}]");

    msg(s, "25[\"send-message\",{\"content\":\"hi\"}]");
    finish_post(0);
    assert_string_equal(s->sent[4], "435[{\"ok\":true,\"id\":\"6553f100deadbeef01000102\"}]");
    msg(s, "26[\"send-message\",{\"content\":\"hi\"}]");
    finish_post(PARLEY_EUNAVAIL);
    assert_string_equal(s->sent[5], "436[{\"ok\":false,\"error\":\"message not stored: storage "
                                    "down\",\"code\":\"storage_unavailable\"}]");
    msg(s, "2[\"send-message\",{\"content\":\"hi\"}]");
    finish_post(PARLEY_ETIMEDOUT);
    assert_string_equal(s->sent[6], "42[\"error\",{\"message\":\"message not stored: storage "
                                    "down\",\"code\":\"storage_timeout\"}]");
    finish(s);
}

static void test_post_completes_after_close(void **state)
{
    struct eio_socket *s;

    (void)state;
    s = open_sock();
    msg(s, "0");
    msg(s, "2[\"join-chat\",{\"username\":\"bo\"}]");
    msg(s, "27[\"send-message\",{\"content\":\"late\"}]");
    int before = s->n_sent;
    eio_close(s, "transport close");
    assert_int_equal(chat.closed, 1);
    finish_post(0);                               /* the conn is kept until now */
    assert_int_equal(s->n_sent, before);
    finish(s);
}

static void test_encode_once(void **state)
{
    const parley_transport_vtable *vt;
    parley_message m = { .struct_size = sizeof m, .id = "6553f100deadbeef01000102",
                         .room = "r", .room_len = 1, .username = "u\"q", .username_len = 3,
                         .content = "c", .content_len = 1, .timestamp_ms = 86400000 };
    parley_event ev = { .struct_size = sizeof ev, .type = PARLEY_EVENT_MESSAGE, .room = "r",
                        .room_len = 1, .username = "u\"q", .username_len = 3, .message = &m };
    parley_frame *f;
    const char *d;
    char buf[600];
    size_t len;

    (void)state;
    vt = desc->vtable;
    f = vt->encode(inst, &ev);
    assert_non_null(f);
    d = parley__frame_data(f, &len);
    snprintf(buf, sizeof buf, "%.*s", (int)len, d);
    assert_string_equal(buf, "42[\"message-received\",{\"_id\":\"6553f100deadbeef01000102\","
                             "\"username\":\"u\\\"q\",\"content\":\"c\",\"room\":\"r\","
                             "\"timestamp\":\"1970-01-02T00:00:00.000Z\"}]");
    parley__frame_release(f);
    ev.type = PARLEY_EVENT_TYPING;
    ev.is_typing = 1;
    f = vt->encode(inst, &ev);
    d = parley__frame_data(f, &len);
    snprintf(buf, sizeof buf, "%.*s", (int)len, d);
    assert_string_equal(buf, "42[\"typing\",{\"username\":\"u\\\"q\",\"isTyping\":true}]");
    parley__frame_release(f);
    ev.type = 99;
    assert_null(vt->encode(inst, &ev));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_connect_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_error_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_inside_a_handler_emit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chat_join_and_post, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_completes_after_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encode_once, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
