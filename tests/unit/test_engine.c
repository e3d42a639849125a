/*
 * The Engine.IO server (plugins/socketio/engine*.c) on a fake host: a
 * clock the test moves, timers it fires, requests and connections it
 * records. Deterministic where the integration test depends on timing:
 * heartbeat deadlines counted from when a ping was due, the overdue check
 * on incoming requests, frames shared by reference (none left at the end),
 * the polling ring drained into one response, re-entrant closes, the
 * upgrade moving the queue to the WebSocket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "engine.h"

/* ---- the fake host ------------------------------------------------------ */

struct parley_host { int unused; };
static struct parley_host fake_host;

static uint64_t now;

struct parley_timer {
    uint64_t due;
    void (*cb)(void *);
    void *arg;
    int live;
};
#define MAX_TIMERS 256
static struct parley_timer *timers[MAX_TIMERS];

static parley_timer *f_timer_start(parley_host *h, uint64_t timeout_ms, uint64_t repeat_ms,
                                   void (*cb)(void *), void *arg)
{
    (void)h;
    (void)repeat_ms;
    for (int i = 0; i < MAX_TIMERS; i++)
        if (timers[i] == NULL) {
            timers[i] = calloc(1, sizeof *timers[i]);
            timers[i]->due = now + timeout_ms;
            timers[i]->cb = cb;
            timers[i]->arg = arg;
            timers[i]->live = 1;
            return timers[i];
        }
    return NULL;
}

static void f_timer_stop(parley_timer *t)
{
    for (int i = 0; t != NULL && i < MAX_TIMERS; i++)
        if (timers[i] == t) {
            free(t);
            timers[i] = NULL;
        }
}

/* Move the clock to `to`, firing every timer due on the way, in order. */
static void advance(uint64_t to)
{
    for (;;) {
        int best = -1;

        for (int i = 0; i < MAX_TIMERS; i++)
            if (timers[i] != NULL && timers[i]->due <= to &&
                (best < 0 || timers[i]->due < timers[best]->due))
                best = i;
        if (best < 0)
            break;
        if (timers[best]->due > now)
            now = timers[best]->due;
        timers[best]->due = UINT64_MAX;   /* one-shot: fired */
        timers[best]->cb(timers[best]->arg);
    }
    now = to;
}

static uint64_t f_now_ms(parley_host *h) { (void)h; return now; }

static unsigned rnd;
static int f_random_bytes(parley_host *h, void *buf, size_t len)
{
    (void)h;
    for (size_t i = 0; i < len; i++)
        ((unsigned char *)buf)[i] = (unsigned char)(rnd * 31 + i * 7);
    rnd++;
    return 0;
}

static void f_log(parley_host *h, int level, const char *fmt, ...)
{
    (void)h;
    (void)level;
    (void)fmt;
}

static int f_log_enabled(parley_host *h, int level) { (void)h; return level <= PARLEY_LOG_WARN; }

struct parley_metric { char key[160]; double v; };
static struct parley_metric metrics[64];
static size_t n_metrics;

static parley_metric *f_metric_register(parley_host *h, const parley_metric_desc *d,
                                        parley_error *err)
{
    char key[160];

    (void)h;
    (void)err;
    snprintf(key, sizeof key, "%s{%s}", d->name, d->labels ? d->labels : "");
    for (size_t i = 0; i < n_metrics; i++)
        if (strcmp(metrics[i].key, key) == 0)
            return &metrics[i];
    snprintf(metrics[n_metrics].key, sizeof metrics[n_metrics].key, "%s", key);
    return &metrics[n_metrics++];
}

static void f_metric_add(parley_metric *m, double v) { m->v += v; }

static double metric(const char *key)
{
    for (size_t i = 0; i < n_metrics; i++)
        if (strcmp(metrics[i].key, key) == 0)
            return metrics[i].v;
    return -1;
}

static parley_http_route route;
static parley_ws_endpoint endpoint;

static int f_route_add(parley_host *h, const parley_http_route *r, parley_error *err)
{
    (void)h;
    (void)err;
    route = *r;
    return 0;
}

static int f_endpoint_add(parley_host *h, const parley_ws_endpoint *e, parley_error *err)
{
    (void)h;
    (void)err;
    endpoint = *e;
    return 0;
}

struct parley_http_request {
    const char *method, *query, *origin, *ctype;
    const char *body;
    size_t body_len;
    int held, responded, aborted, status;
    char resp[4096];
    size_t resp_len;
    char acao[128];
};

static const char *f_method(const parley_http_request *r) { return r->method; }
static const char *f_path(const parley_http_request *r) { (void)r; return "/engine.io/"; }
static const char *f_query(const parley_http_request *r) { return r->query; }
static const char *f_remote(const parley_http_request *r) { (void)r; return "127.0.0.1"; }

static int f_header(const parley_http_request *r, const char *name, char *out, size_t cap)
{
    const char *v = strcasecmp(name, "Origin") == 0 ? r->origin
                    : strcasecmp(name, "Content-Type") == 0 ? r->ctype : NULL;

    if (v == NULL)
        return PARLEY_ENOTFOUND;
    if (strlen(v) >= cap)
        return PARLEY_ETOOBIG;
    strcpy(out, v);
    return (int)strlen(v);
}

static const void *f_body(const parley_http_request *r, size_t *len)
{
    *len = r->body_len;
    return r->body_len ? r->body : NULL;
}

static int f_respond(parley_http_request *r, int status, const parley_http_header *h, size_t n,
                     const void *body, size_t len)
{
    assert_false(r->responded);
    assert_false(r->aborted);
    r->responded = 1;
    r->status = status;
    r->resp_len = len < sizeof r->resp ? len : sizeof r->resp - 1;
    memcpy(r->resp, body, r->resp_len);
    r->resp[r->resp_len] = '\0';
    for (size_t i = 0; i < n; i++)
        if (strcmp(h[i].name, "Access-Control-Allow-Origin") == 0)
            snprintf(r->acao, sizeof r->acao, "%s", h[i].value);
    return 0;
}

static int f_hold(parley_http_request *r, uint64_t timeout_ms, void *ctx)
{
    (void)timeout_ms;
    (void)ctx;
    r->held = 1;
    return 0;
}

struct parley_frame {
    int refs;
    int binary;
    size_t len;
    char data[];
};
static int live_frames;

static parley_frame *f_frame_alloc(parley_host *h, size_t len, int binary, char **data)
{
    parley_frame *f = malloc(sizeof *f + len + 1);

    (void)h;
    f->refs = 1;
    f->binary = binary;
    f->len = len;
    f->data[len] = '\0';
    *data = f->data;
    live_frames++;
    return f;
}

static parley_frame *f_retain(parley_frame *f) { f->refs++; return f; }

static void f_release(parley_frame *f)
{
    if (f != NULL && --f->refs == 0) {
        live_frames--;
        free(f);
    }
}

static const void *f_frame_data(const parley_frame *f, size_t *len)
{
    *len = f->len;
    return f->data;
}

struct parley_conn {
    char sent[64][256];
    int n_sent;
    int close_code;
    void *ctx;
};

static int f_conn_send(parley_conn *c, parley_frame *f)
{
    snprintf(c->sent[c->n_sent % 64], 256, "%s%.*s", f->binary ? "BIN:" : "", (int)f->len,
             f->data);
    c->n_sent++;
    return 0;
}

static void f_conn_close(parley_conn *c, int code, const char *reason)
{
    (void)reason;
    c->close_code = code;
}

static const char *f_conn_remote(const parley_conn *c) { (void)c; return "127.0.0.1"; }

static parley_host_api api;

static void init_api(void)
{
    memset(&api, 0, sizeof api);
    api.struct_size = sizeof api;
    api.now_ms = f_now_ms;
    api.random_bytes = f_random_bytes;
    api.log = f_log;
    api.log_enabled = f_log_enabled;
    api.timer_start = f_timer_start;
    api.timer_stop = f_timer_stop;
    api.metric_register = f_metric_register;
    api.metric_add = f_metric_add;
    api.http_route_add = f_route_add;
    api.http_method = f_method;
    api.http_path = f_path;
    api.http_query = f_query;
    api.http_header = f_header;
    api.http_body = f_body;
    api.http_remote_addr = f_remote;
    api.http_respond = f_respond;
    api.http_hold = f_hold;
    api.ws_endpoint_add = f_endpoint_add;
    api.frame_alloc = f_frame_alloc;
    api.frame_retain = f_retain;
    api.frame_release = f_release;
    api.frame_data = f_frame_data;
    api.conn_send = f_conn_send;
    api.conn_close = f_conn_close;
    api.conn_remote_addr = f_conn_remote;
}

/* ---- the Engine.IO user ------------------------------------------------- */

struct user {
    int opens, closes, msgs;
    char last_close[64];
    char last_msg[256];
    struct eio_socket *s;
    int close_on;           /* eio_close when this message number arrives */
};
static struct user U;

static void u_open(void *arg, struct eio_socket *s) { (void)arg; U.opens++; U.s = s; }

static void u_message(void *arg, struct eio_socket *s, const void *d, size_t len, int binary)
{
    (void)arg;
    U.msgs++;
    snprintf(U.last_msg, sizeof U.last_msg, "%s%.*s", binary ? "BIN:" : "", (int)len,
             (const char *)d);
    if (U.close_on == U.msgs) {
        eio_close(s, "forced close");
        assert_int_equal(eio_send_text(s, "x", 1), PARLEY_ECLOSED);
        return;
    }
    eio_send_text(s, d, len);       /* echo */
}

static void u_close(void *arg, struct eio_socket *s, const char *reason)
{
    (void)arg;
    (void)s;
    U.closes++;
    snprintf(U.last_close, sizeof U.last_close, "%s", reason);
}

static struct eio_server *srv;

static int setup(void **state)
{
    struct eio_callbacks cb = { u_open, u_message, u_close };
    static const char *const origins[] = { "https://chat.example" };
    struct eio_options o;
    parley_error e = PARLEY_ERROR_INIT;

    (void)state;
    init_api();
    memset(&U, 0, sizeof U);
    memset(metrics, 0, sizeof metrics);
    n_metrics = 0;
    now = 1000;
    eio_options_default(&o);
    o.path = "/engine.io/";
    o.ping_interval_ms = 300;
    o.ping_timeout_ms = 200;
    o.send_queue_max = 1000;
    o.cors_origins = origins;
    o.n_cors_origins = 1;
    assert_int_equal(eio_server_create(&api, &fake_host, &o, &cb, NULL, &srv, &e), 0);
    assert_int_equal(eio_server_start(srv, &e), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    eio_server_destroy(srv);
    srv = NULL;
    assert_int_equal(U.opens, U.closes);
    assert_int_equal(live_frames, 0);
    for (int i = 0; i < MAX_TIMERS; i++)
        assert_null(timers[i]);
    return 0;
}

static parley_http_request *req(const char *method, const char *query, const char *body)
{
    parley_http_request *r = calloc(1, sizeof *r);

    r->method = method;
    r->query = query;
    r->body = body;
    r->body_len = body ? strlen(body) : 0;
    return r;
}

/* Run a request; returns it (free it with free()). */
static parley_http_request *run(const char *method, const char *query, const char *body)
{
    parley_http_request *r = req(method, query, body);

    assert_int_equal(route.on_request(route.arg, r), 0);
    return r;
}

static char qbuf[8][128];
static int qi;

static const char *q_sid(const char *sid)
{
    char *q = qbuf[qi++ % 8];

    snprintf(q, 128, "EIO=4&transport=polling&sid=%s", sid);
    return q;
}

static char *handshake(void)
{
    static char sid[32];
    parley_http_request *r = run("GET", "EIO=4&transport=polling", NULL);
    const char *p;

    assert_int_equal(r->status, 200);
    p = strstr(r->resp, "\"sid\":\"");
    assert_non_null(p);
    memcpy(sid, p + 7, 22);
    sid[22] = '\0';
    free(r);
    return sid;
}

/* ---- tests -------------------------------------------------------------- */

static void test_open_packet_and_sid(void **state)
{
    parley_http_request *r = run("GET", "EIO=4&transport=polling&t=x", NULL);

    (void)state;
    assert_int_equal(r->status, 200);
    assert_int_equal(strlen(r->resp), strlen("0{\"sid\":\"\",\"upgrades\":[\"websocket\"],"
                                             "\"pingInterval\":300,\"pingTimeout\":200,"
                                             "\"maxPayload\":1000000}") + 22);
    assert_int_equal(U.opens, 1);
    assert_int_equal(eio_server_sessions(srv), 1);
    assert_string_equal(eio_transport(U.s), "polling");
    free(r);
}

static void test_heartbeat_deadline_from_when_the_ping_was_due(void **state)
{
    char *sid = handshake();
    parley_http_request *g = run("GET", q_sid(sid), NULL);

    (void)state;
    assert_true(g->held);
    advance(1299);
    assert_false(g->responded);
    advance(1300);
    assert_true(g->responded);
    assert_string_equal(g->resp, "2");
    free(g);
    /* No pong: closed at 1300 + 200 exactly. */
    advance(1499);
    assert_int_equal(U.closes, 0);
    advance(1500);
    assert_int_equal(U.closes, 1);
    assert_string_equal(U.last_close, "ping timeout");
    assert_true(metric("parley_eio_ping_timeouts_total{}") == 1);
}

static void test_overdue_pong_is_seen_on_a_request_before_the_timer(void **state)
{
    char *sid = handshake();
    parley_http_request *g;

    (void)state;
    now = 1500;                 /* the loop was busy: no timer has run */
    g = run("GET", q_sid(sid), NULL);
    assert_int_equal(g->status, 400);
    assert_string_equal(g->resp, "{\"code\":1,\"message\":\"Session ID unknown\"}");
    assert_string_equal(U.last_close, "ping timeout");
    free(g);
}

static void test_pong_reschedules_and_unsolicited_pong_does_not(void **state)
{
    char *sid = handshake();
    parley_http_request *p, *g;

    (void)state;
    advance(1100);
    free(run("POST", q_sid(sid), "3"));     /* unsolicited: ignored */
    advance(1300);                          /* ping due at 1300 still */
    g = run("GET", q_sid(sid), NULL);
    assert_string_equal(g->resp, "2");
    free(g);
    advance(1450);
    p = run("POST", q_sid(sid), "3");
    assert_string_equal(p->resp, "ok");
    free(p);
    advance(1749);                          /* next ping at 1450 + 300 */
    g = run("GET", q_sid(sid), NULL);
    assert_true(g->held);
    advance(1750);
    assert_string_equal(g->resp, "2");
    free(g);
    advance(1950);
    assert_string_equal(U.last_close, "ping timeout");
}

static void test_shared_frame_drains_into_one_response(void **state)
{
    char *sid = handshake();
    parley_http_request *g;
    char *d;
    parley_frame *f = api.frame_alloc(&fake_host, 5, 0, &d);

    (void)state;
    memcpy(d, "4abcd", 5);
    for (int i = 0; i < 3; i++)
        assert_int_equal(eio_send_frame(U.s, f), 0);
    assert_int_equal(f->refs, 4);           /* shared, not copied */
    assert_int_equal(eio_send_binary(U.s, "\x01\x02\x03", 3), 0);
    g = run("GET", q_sid(sid), NULL);
    assert_string_equal(g->resp, "4abcd\x1e" "4abcd\x1e" "4abcd\x1e" "bAQID");
    assert_int_equal(f->refs, 1);
    api.frame_release(f);
    free(g);
}

static void test_burst_outside_a_post_leaves_in_one_response(void **state)
{
    char *sid = handshake();
    parley_http_request *g = run("GET", q_sid(sid), NULL);

    (void)state;
    assert_true(g->held);
    for (int i = 0; i < 3; i++)
        assert_int_equal(eio_send_text(U.s, "m", 1), 0);
    assert_false(g->responded);              /* flushed on the next loop turn */
    advance(now);
    assert_string_equal(g->resp, "4m\x1e" "4m\x1e" "4m");
    free(g);
}

static void test_polling_slow_consumer(void **state)
{
    char *sid = handshake();
    char big[400];
    parley_http_request *g;

    (void)state;
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(eio_send_text(U.s, big, strlen(big)), 0);
    assert_int_equal(eio_send_text(U.s, big, strlen(big)), 0);
    assert_int_equal(eio_send_text(U.s, big, strlen(big)), PARLEY_ELIMIT);  /* > 1000 bytes */
    assert_string_equal(U.last_close, "slow consumer");
    g = run("GET", q_sid(sid), NULL);
    assert_int_equal(g->status, 400);
    free(g);
    assert_true(metric("parley_eio_slow_consumers_total{transport=\"polling\"}") == 1);
}

static void test_close_inside_a_post(void **state)
{
    char *sid = handshake();
    parley_http_request *g = run("GET", q_sid(sid), NULL), *p;

    (void)state;
    U.close_on = 2;
    p = run("POST", q_sid(sid), "4one\x1e" "4two\x1e" "4three");
    assert_string_equal(p->resp, "ok");
    assert_int_equal(U.msgs, 2);                /* "three" was dropped */
    assert_int_equal(U.closes, 1);
    assert_string_equal(g->resp, "4one\x1e" "1");  /* the echo, then the close */
    free(p);
    free(g);
}

static void test_overlapping_get_and_abort(void **state)
{
    char *sid = handshake();
    parley_http_request *g1 = run("GET", q_sid(sid), NULL), *g2, *g3;

    (void)state;
    g2 = run("GET", q_sid(sid), NULL);
    assert_int_equal(g2->status, 400);
    assert_string_equal(g1->resp, "1");
    assert_string_equal(U.last_close, "transport error");
    free(g1);
    free(g2);
    sid = handshake();
    g3 = run("GET", q_sid(sid), NULL);
    g3->aborted = 1;
    route.on_abort(route.arg, g3, U.s);
    assert_int_equal(U.closes, 2);
    free(g3);
}

static void test_cors_and_forbidden_origin(void **state)
{
    parley_http_request *r = req("GET", "EIO=4&transport=polling", NULL);
    parley_error e = PARLEY_ERROR_INIT;
    void *ctx = NULL;

    (void)state;
    r->origin = "https://chat.example";
    route.on_request(route.arg, r);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->acao, "https://chat.example");
    free(r);
    r = req("GET", "EIO=4&transport=polling", NULL);
    r->origin = "https://evil.example";
    route.on_request(route.arg, r);
    assert_int_equal(r->status, 403);
    assert_string_equal(r->resp, "{\"code\":4,\"message\":\"Forbidden\"}");
    free(r);
    r = req("GET", "EIO=4&transport=websocket", NULL);
    r->origin = "https://evil.example";
    assert_int_equal(endpoint.on_upgrade(endpoint.arg, r, &ctx, &e), 403);
    assert_null(ctx);
    free(r);
}

static void test_upgrade_moves_the_queue_to_the_websocket(void **state)
{
    char *sid = handshake();
    parley_http_request *g = run("GET", q_sid(sid), NULL), *u = req("GET", NULL, NULL), *g2;
    parley_error e = PARLEY_ERROR_INIT;
    parley_conn conn;
    void *ctx = NULL;

    (void)state;
    memset(&conn, 0, sizeof conn);
    u->query = qbuf[qi++ % 8];
    snprintf((char *)u->query, 128, "EIO=4&transport=websocket&sid=%s", sid);
    assert_int_equal(endpoint.on_upgrade(endpoint.arg, u, &ctx, &e), 0);
    endpoint.on_open(endpoint.arg, &conn, ctx);
    endpoint.on_message(endpoint.arg, &conn, ctx, "2probe", 6, 0);
    assert_string_equal(conn.sent[0], "3probe");
    assert_string_equal(g->resp, "6");
    eio_send_text(U.s, "queued", 6);            /* no GET: waits in the ring */
    endpoint.on_message(endpoint.arg, &conn, ctx, "5", 1, 0);
    assert_string_equal(eio_transport(U.s), "websocket");
    assert_string_equal(conn.sent[1], "4queued");
    g2 = run("GET", q_sid(sid), NULL);
    assert_int_equal(g2->status, 400);
    assert_string_equal(g2->resp, "{\"code\":3,\"message\":\"Bad request\"}");
    endpoint.on_message(endpoint.arg, &conn, ctx, "4hi", 3, 0);
    assert_string_equal(conn.sent[2], "4hi");
    endpoint.on_message(endpoint.arg, &conn, ctx, "\x01\x02", 2, 1);
    assert_string_equal(U.last_msg, "BIN:\x01\x02");
    assert_true(metric("parley_eio_upgrades_total{}") == 1);
    /* The client's "2" is a protocol error: close 1002. */
    endpoint.on_message(endpoint.arg, &conn, ctx, "2", 1, 0);
    assert_int_equal(conn.close_code, 1002);
    assert_string_equal(U.last_close, "invalid heartbeat direction");
    endpoint.on_close(endpoint.arg, &conn, ctx, 1002);
    free(g);
    free(g2);
    free(u);
}

static void test_upgrade_timeout_keeps_polling(void **state)
{
    char *sid = handshake();
    parley_http_request *u = req("GET", NULL, NULL), *p;
    parley_error e = PARLEY_ERROR_INIT;
    parley_conn conn;
    void *ctx = NULL;

    (void)state;
    memset(&conn, 0, sizeof conn);
    u->query = qbuf[qi++ % 8];
    snprintf((char *)u->query, 128, "EIO=4&transport=websocket&sid=%s", sid);
    assert_int_equal(endpoint.on_upgrade(endpoint.arg, u, &ctx, &e), 0);
    endpoint.on_open(endpoint.arg, &conn, ctx);
    free(run("POST", q_sid(sid), "4keep"));
    /* Keep the heartbeat going past the 10 s upgrade timeout. */
    for (uint64_t t = 1300; t < 11500; t += 300) {
        advance(t);
        free(run("GET", q_sid(sid), NULL));
        free(run("POST", q_sid(sid), "3"));
    }
    assert_int_equal(conn.close_code, 1000);
    endpoint.on_close(endpoint.arg, &conn, ctx, 1000);
    assert_int_equal(U.closes, 0);
    assert_string_equal(eio_transport(U.s), "polling");
    p = run("POST", q_sid(sid), "4after");
    assert_string_equal(p->resp, "ok");
    free(p);
    free(u);
    assert_true(metric("parley_eio_upgrade_failures_total{}") == 1);
}

static void test_websocket_session_and_drain(void **state)
{
    parley_http_request *u = req("GET", "EIO=4&transport=websocket", NULL);
    parley_error e = PARLEY_ERROR_INIT;
    parley_conn conn;
    void *ctx = NULL;

    (void)state;
    memset(&conn, 0, sizeof conn);
    assert_int_equal(endpoint.on_upgrade(endpoint.arg, u, &ctx, &e), 0);
    endpoint.on_open(endpoint.arg, &conn, ctx);
    assert_int_equal(strncmp(conn.sent[0], "0{\"sid\":\"", 9), 0);
    assert_non_null(strstr(conn.sent[0], "\"upgrades\":[]"));
    advance(1300);
    assert_string_equal(conn.sent[1], "2");
    endpoint.on_message(endpoint.arg, &conn, ctx, "3", 1, 0);
    eio_server_drain(srv, "server shutting down");
    assert_int_equal(conn.close_code, 1001);
    assert_string_equal(U.last_close, "server shutting down");
    endpoint.on_close(endpoint.arg, &conn, ctx, 1001);
    free(u);
}

static void test_create_refuses_bad_options(void **state)
{
    struct eio_callbacks cb = { u_open, u_message, u_close };
    struct eio_server *x = NULL;
    struct eio_options o;
    parley_error e = PARLEY_ERROR_INIT;

    (void)state;
    init_api();
    eio_options_default(&o);
    o.path = "/socket.io";
    assert_int_equal(eio_server_create(&api, &fake_host, &o, &cb, NULL, &x, &e), PARLEY_EINVAL);
    assert_non_null(strstr(e.message, "\"/socket.io\" must end with '/'"));
    eio_options_default(&o);
    o.ping_interval_ms = 0;
    assert_int_equal(eio_server_create(&api, &fake_host, &o, &cb, NULL, &x, &e), PARLEY_EINVAL);
    assert_non_null(strstr(e.message, "ping_interval (0 ms)"));
    eio_options_default(&o);
    o.allow_polling = o.allow_websocket = 0;
    assert_int_equal(eio_server_create(&api, &fake_host, &o, &cb, NULL, &x, &e), PARLEY_EINVAL);
    assert_non_null(strstr(e.message, "at least one of polling and websocket"));
    assert_null(x);
}

static void test_websocket_only(void **state)
{
    struct eio_callbacks cb = { u_open, u_message, u_close };
    struct eio_options o;
    parley_error e = PARLEY_ERROR_INIT;
    parley_http_request *r;

    (void)state;
    init_api();
    memset(&U, 0, sizeof U);
    eio_options_default(&o);
    o.path = "/engine.io/";
    o.allow_polling = 0;
    assert_int_equal(eio_server_create(&api, &fake_host, &o, &cb, NULL, &srv, &e), 0);
    assert_int_equal(eio_server_start(srv, &e), 0);
    r = run("GET", "EIO=4&transport=polling", NULL);
    assert_int_equal(r->status, 400);
    assert_string_equal(r->resp, "{\"code\":0,\"message\":\"Transport unknown\"}");
    free(r);
    eio_server_destroy(srv);
    srv = NULL;
    /* and the other way round: polling only, no upgrade offered */
    o.allow_polling = 1;
    o.allow_websocket = 0;
    assert_int_equal(eio_server_create(&api, &fake_host, &o, &cb, NULL, &srv, &e), 0);
    assert_int_equal(eio_server_start(srv, &e), 0);
    r = run("GET", "EIO=4&transport=polling", NULL);
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->resp, "\"upgrades\":[]"));
    free(r);
    eio_server_destroy(srv);
    srv = NULL;
    assert_int_equal(U.opens, U.closes);
    assert_int_equal(live_frames, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_packet_and_sid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_deadline_from_when_the_ping_was_due, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_overdue_pong_is_seen_on_a_request_before_the_timer,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pong_reschedules_and_unsolicited_pong_does_not, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_shared_frame_drains_into_one_response, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_burst_outside_a_post_leaves_in_one_response, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_polling_slow_consumer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_inside_a_post, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlapping_get_and_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cors_and_forbidden_origin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_moves_the_queue_to_the_websocket, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_timeout_keeps_polling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_websocket_session_and_drain, setup, teardown),
        cmocka_unit_test(test_create_refuses_bad_options),
        cmocka_unit_test(test_websocket_only),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
