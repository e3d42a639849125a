/* Custom events and namespaces (host/events.c): registration rules, the
 * namespace check of client_open, routing of events, emits and acks
 * through the owning transport's vtable, and a client closed from inside
 * its own handler. Called through parley__api, as a plugin would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "events.h"
#include "host.h"
#include "loop.h"

/* ---- a fake transport ------------------------------------------------- */

struct fake {
    int emits, acks;
    int64_t last_emit_ack;       /* the ack id client_emit was asked to send */
    char last_event[64];
    char last_json[256];
    int64_t last_ack;
    parley_client *client;       /* the handle the "transport" holds */
    int close_on_emit;           /* client_emit closes the client (slow consumer) */
    int emit_status;
};

static struct fake fk;

static int fake_emit(void *instance, void *ctx, const char *event, const parley_event_args *a,
                     int64_t ack_id)
{
    assert_ptr_equal(instance, &fk);
    assert_ptr_equal(ctx, (void *)0x1234);
    fk.emits++;
    fk.last_emit_ack = ack_id;
    snprintf(fk.last_event, sizeof fk.last_event, "%s", event);
    snprintf(fk.last_json, sizeof fk.last_json, "%.*s", (int)a->json_len, a->json);
    if (fk.close_on_emit && fk.client != NULL) {
        parley_client *c = fk.client;

        fk.client = NULL;
        parley__api.client_close(c);
    }
    return fk.emit_status;
}

static int fake_ack(void *instance, void *ctx, int64_t id, const parley_event_args *a)
{
    (void)instance;
    (void)ctx;
    fk.acks++;
    fk.last_ack = id;
    snprintf(fk.last_json, sizeof fk.last_json, "%.*s", (int)a->json_len, a->json);
    return 0;
}

static const parley_transport_vtable fake_vt = {
    .struct_size = sizeof(parley_transport_vtable),
    .client_emit = fake_emit,
    .client_ack = fake_ack,
};

static parley_host fake_host = { .name = "fake", .instance = &fk, .transport = &fake_vt };

/* ---- handlers ---------------------------------------------------------- */

struct calls {
    int connects, disconnects, events;
    char auth[128];
    char event[64];
    int64_t ack_id;
    int emit_rc_after_close;
};

static struct calls cl;

static void on_connect(void *arg, parley_client *c, const parley_event_args *auth)
{
    (void)arg;
    cl.connects++;
    snprintf(cl.auth, sizeof cl.auth, "%.*s", (int)auth->json_len, auth->json);
    assert_int_equal(parley__api.client_emit(c, "auth", auth), 0);
}

static void on_disconnect(void *arg, parley_client *c)
{
    (void)arg;
    cl.disconnects++;
    assert_non_null(parley__api.client_namespace(c));
}

static void on_event(void *arg, parley_client *c, const char *event, const parley_event_args *a,
                     int64_t ack_id)
{
    (void)arg;
    cl.events++;
    snprintf(cl.event, sizeof cl.event, "%s", event);
    cl.ack_id = ack_id;
    if (ack_id != PARLEY_NO_ACK)
        parley__api.client_ack(c, ack_id, a);
    else
        parley__api.client_emit(c, "message-back", a);
    /* The emit above may have closed us: later calls are refused, not crashes. */
    cl.emit_rc_after_close = parley__api.client_emit(c, "again", a);
}

static int setup(void **state)
{
    (void)state;
    memset(&fk, 0, sizeof fk);
    memset(&cl, 0, sizeof cl);
    parley__events_free();
    return 0;
}

static parley_event_handler handler(const char *nsp, const char *event)
{
    parley_event_handler h = {
        .struct_size = sizeof h, .namespace_name = nsp, .event = event,
        .on_connect = event == NULL ? on_connect : NULL,
        .on_event = event != NULL ? on_event : NULL,
        .on_disconnect = event == NULL ? on_disconnect : NULL,
    };
    return h;
}

static parley_event_args args(const char *json)
{
    parley_event_args a = { sizeof a, json, strlen(json), NULL, 0 };
    return a;
}

/* ---- tests ------------------------------------------------------------- */

static void test_register_rules(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    parley_event_handler h = handler("/custom", NULL);

    (void)state;
    assert_int_equal(parley__api.event_handler_add(&fake_host, &h, &err), 0);
    assert_int_equal(parley__api.event_handler_add(&fake_host, &h, &err), PARLEY_EEXIST);
    assert_string_equal(err.message, "event handler from 'fake': namespace '/custom' event "
                                     "'(connect/disconnect)' already has a handler");
    h = handler("/custom", "message");
    assert_int_equal(parley__api.event_handler_add(&fake_host, &h, &err), 0);
    h = handler("custom", "x");
    assert_int_equal(parley__api.event_handler_add(&fake_host, &h, &err), PARLEY_EINVAL);
    assert_non_null(strstr(err.message, "namespace 'custom' must start with '/'"));
    h = handler("/custom", "y");
    h.on_event = NULL;
    assert_int_equal(parley__api.event_handler_add(&fake_host, &h, &err), PARLEY_EINVAL);
    assert_non_null(strstr(err.message, "on_event is required"));
    h = handler("/custom", "z");
    h.struct_size = 8;
    assert_int_equal(parley__api.event_handler_add(&fake_host, &h, &err), PARLEY_EINVAL);
    assert_non_null(strstr(err.message, "struct_size 8"));
    assert_int_equal(parley__events_handler_count(), 2);
}

static void test_namespaces(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    parley_event_handler h = handler("/custom", NULL);
    parley_client *c;

    (void)state;
    assert_int_equal(parley__api.event_handler_add(&fake_host, &h, &err), 0);
    assert_null(parley__api.client_open(&fake_host, "/random", (void *)0x1234, NULL, &err));
    assert_int_equal(err.code, PARLEY_ENOTFOUND);
    assert_string_equal(err.message, "Invalid namespace");

    /* "/" exists without any handler, and runs none. */
    c = parley__api.client_open(&fake_host, "/", (void *)0x1234, NULL, &err);
    assert_non_null(c);
    assert_string_equal(parley__api.client_namespace(c), "/");
    assert_int_equal(cl.connects, 0);
    assert_int_equal(parley__api.client_event(c, "message", NULL, PARLEY_NO_ACK),
                     PARLEY_ENOTFOUND);
    parley__api.client_close(c);
    assert_int_equal(cl.disconnects, 0);

    /* A registered namespace runs on_connect with the auth, which emits it back. */
    parley_event_args auth = args("[{\"token\":\"123\"}]");
    c = parley__api.client_open(&fake_host, "/custom", (void *)0x1234, &auth, &err);
    assert_non_null(c);
    assert_int_equal(cl.connects, 1);
    assert_string_equal(cl.auth, "[{\"token\":\"123\"}]");
    assert_int_equal(fk.emits, 1);
    assert_string_equal(fk.last_event, "auth");
    assert_int_equal(parley__events_client_count(), 1);
    parley__api.client_close(c);
    assert_int_equal(cl.disconnects, 1);
    assert_int_equal(parley__events_client_count(), 0);

    /* No auth: the handler sees []. */
    c = parley__api.client_open(&fake_host, "/custom", (void *)0x1234, NULL, &err);
    assert_string_equal(cl.auth, "[]");
    parley__api.client_close(c);
    parley__api.client_close(NULL);
}

static void test_events_and_acks(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    parley_event_handler h = handler("/", "message");
    parley_event_args a = args("[1,\"2\",{\"3\":[true]}]");
    parley_client *c;

    (void)state;
    assert_int_equal(parley__api.event_handler_add(&fake_host, &h, &err), 0);
    c = parley__api.client_open(&fake_host, "/", (void *)0x1234, NULL, &err);
    assert_non_null(c);
    assert_int_equal(parley__api.client_event(c, "message", &a, PARLEY_NO_ACK), 0);
    assert_string_equal(cl.event, "message");
    assert_int_equal(fk.emits, 2);      /* message-back, again */
    assert_string_equal(fk.last_json, "[1,\"2\",{\"3\":[true]}]");
    assert_int_equal(cl.emit_rc_after_close, 0);
    assert_int_equal(parley__api.client_event(c, "message", &a, 7), 0);
    assert_int_equal(fk.acks, 1);
    assert_int_equal(fk.last_ack, 7);
    assert_int_equal(parley__api.client_ack(c, -5, &a), PARLEY_EINVAL);
    assert_int_equal(parley__api.client_event(c, "other", &a, 1), PARLEY_ENOTFOUND);
    parley__api.client_close(c);
}

static void test_close_inside_handler(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    parley_event_handler h = handler("/", "message");
    parley_event_handler hc = handler("/", NULL);
    parley_event_args a = args("[\"x\"]");
    parley_client *c;

    (void)state;
    hc.on_connect = NULL;           /* connect emits nothing here */
    assert_int_equal(parley__api.event_handler_add(&fake_host, &h, &err), 0);
    assert_int_equal(parley__api.event_handler_add(&fake_host, &hc, &err), 0);
    c = parley__api.client_open(&fake_host, "/", (void *)0x1234, NULL, &err);
    fk.client = c;
    fk.close_on_emit = 1;
    /* on_event emits, the transport closes the client during that emit:
     * on_disconnect runs at once, the handler's next emit gets ECLOSED and
     * the handle is freed after the handler returns (ASan checks that). */
    assert_int_equal(parley__api.client_event(c, "message", &a, PARLEY_NO_ACK), 0);
    assert_int_equal(cl.disconnects, 1);
    assert_int_equal(cl.emit_rc_after_close, PARLEY_ECLOSED);
    assert_int_equal(fk.emits, 1);
    assert_int_equal(parley__events_client_count(), 0);
}

static void test_transport_without_slots(void **state)
{
    static const parley_transport_vtable bare = { .struct_size = sizeof(uint32_t) };
    parley_host h = { .name = "bare", .transport = &bare };
    parley_error err = PARLEY_ERROR_INIT;
    parley_event_args a = args("[]");
    parley_client *c;

    (void)state;
    c = parley__api.client_open(&h, "/", NULL, NULL, &err);
    assert_non_null(c);
    assert_int_equal(parley__api.client_emit(c, "x", &a), PARLEY_ENOTFOUND);
    assert_int_equal(parley__api.client_ack(c, 1, &a), PARLEY_ENOTFOUND);
    parley__api.client_close(c);
}

/* ---- acknowledgements the server asks for ------------------------------ */

struct ack_result {
    int calls, status;
    char reply[64];
};

static void ack_done(void *arg, int status, const parley_event_args *reply)
{
    struct ack_result *r = arg;

    r->calls++;
    r->status = status;
    if (reply != NULL)
        snprintf(r->reply, sizeof r->reply, "%.*s", (int)reply->json_len, reply->json);
}

static parley_client *open_main(void)
{
    parley_error err = PARLEY_ERROR_INIT;
    parley_client *c = parley__api.client_open(&fake_host, "/", (void *)0x1234, NULL, &err);

    assert_non_null(c);
    return c;
}

static void test_emit_ack_reply_and_unknown_ids(void **state)
{
    struct ack_result r = { 0 };
    parley_event_args q = args("[\"q\"]"), a = args("[42]");
    parley_client *c = open_main();

    (void)state;
    assert_int_equal(parley__api.client_emit_ack(c, "question", &q, 1000, ack_done, &r), 0);
    assert_int_equal(fk.last_emit_ack, 0);
    assert_string_equal(fk.last_event, "question");
    assert_int_equal(parley__api.client_ack_reply(c, 7, &a), PARLEY_ENOTFOUND);
    assert_int_equal(r.calls, 0);
    assert_int_equal(parley__api.client_ack_reply(c, 0, &a), 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.reply, "[42]");
    /* Answered once: a second reply for the same id finds nothing. */
    assert_int_equal(parley__api.client_ack_reply(c, 0, &a), PARLEY_ENOTFOUND);
    /* Plain emits carry no ack id; the next ack id follows. */
    assert_int_equal(parley__api.client_emit(c, "plain", &q), 0);
    assert_int_equal(fk.last_emit_ack, PARLEY_NO_ACK);
    assert_int_equal(parley__api.client_emit_ack(c, "question", &q, 1000, ack_done, &r), 0);
    assert_int_equal(fk.last_emit_ack, 1);
    parley__api.client_close(c);
    assert_int_equal(r.calls, 2);
    assert_int_equal(r.status, PARLEY_ECLOSED);
    parley__loop_run();   /* let the stopped timers close */
}

static void test_emit_ack_timeout_and_cap(void **state)
{
    static struct ack_result many[1024];
    struct ack_result r = { 0 };
    parley_event_args q = args("[]");
    parley_client *c = open_main();

    (void)state;
    assert_int_equal(parley__api.client_emit_ack(c, "slow", &q, 20, ack_done, &r), 0);
    parley__loop_run();   /* runs until the 20 ms timer has fired and closed */
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, PARLEY_ETIMEDOUT);
    /* Too late: the reply finds nothing. */
    assert_int_equal(parley__api.client_ack_reply(c, 0, &q), PARLEY_ENOTFOUND);

    memset(many, 0, sizeof many);
    for (size_t i = 0; i < 1024; i++)
        assert_int_equal(parley__api.client_emit_ack(c, "q", &q, 60000, ack_done, &many[i]), 0);
    assert_int_equal(parley__api.client_emit_ack(c, "q", &q, 60000, ack_done, &r), PARLEY_ELIMIT);
    parley__api.client_close(c);
    for (size_t i = 0; i < 1024; i++)
        assert_int_equal(many[i].status, PARLEY_ECLOSED);
    assert_int_equal(r.calls, 1);
    parley__loop_run();
}

static void test_emit_ack_closed_by_the_emit(void **state)
{
    struct ack_result r = { 0 };
    parley_event_args q = args("[]");

    (void)state;
    fk.client = open_main();
    fk.close_on_emit = 1;
    /* The transport drops the client inside the emit: refused, done never runs. */
    assert_int_equal(parley__api.client_emit_ack(fk.client != NULL ? fk.client : NULL, "q", &q,
                                                 1000, ack_done, &r), PARLEY_ECLOSED);
    assert_int_equal(r.calls, 0);
    assert_int_equal(parley__events_client_count(), 0);
    parley__loop_run();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_register_rules, setup),
        cmocka_unit_test_setup(test_namespaces, setup),
        cmocka_unit_test_setup(test_events_and_acks, setup),
        cmocka_unit_test_setup(test_close_inside_handler, setup),
        cmocka_unit_test_setup(test_transport_without_slots, setup),
        cmocka_unit_test_setup(test_emit_ack_reply_and_unknown_ids, setup),
        cmocka_unit_test_setup(test_emit_ack_timeout_and_cap, setup),
        cmocka_unit_test_setup(test_emit_ack_closed_by_the_emit, setup),
    };
    int rc;

    if (parley__loop_init(1, NULL) < 0)
        return 1;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    parley__loop_close();

    parley__events_free();
    return rc;
}
