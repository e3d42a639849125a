/*
 * rest_chatws: a minimal chat transport for the REST integration tests, so
 * they can prove that a message posted over REST is broadcast by the host
 * to another transport's clients (the Socket.IO plugin's job in
 * production). SDK only, like any third-party plugin.
 *
 *   WebSocket /chatws/     text "join <room> <username>" joins a room and
 *                          answers "joined <room>"; every stored message of
 *                          a joined room arrives as one text frame
 *                          "message\t<_id>\t<room>\t<username>\t<content>"
 *                          (other chat events are skipped).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <parley/parley.h>

struct chatws {
    const parley_host_api *api;
    parley_host *host;
};

struct client {
    struct chatws *c;
    parley_conn *conn;
    parley_session *session;
};

static int cw_upgrade(void *arg, parley_http_request *req, void **conn_ctx, parley_error *err)
{
    struct client *cl = calloc(1, sizeof *cl);

    if (cl == NULL)
        return 503;
    cl->c = arg;
    *conn_ctx = cl;
    return 0;
}

static void send_text(struct client *cl, const char *text)
{
    size_t n = strlen(text);
    char *data;
    parley_frame *f = cl->c->api->frame_alloc(cl->c->host, n, 0, &data);

    if (f == NULL)
        return;
    memcpy(data, text, n);
    cl->c->api->conn_send(cl->conn, f);
    cl->c->api->frame_release(f);
}

static void cw_open(void *arg, parley_conn *conn, void *conn_ctx)
{
    struct client *cl = conn_ctx;
    parley_error err = PARLEY_ERROR_INIT;

    cl->conn = conn;
    cl->session = cl->c->api->session_open(cl->c->host, cl, &err);
    if (cl->session == NULL)
        cl->c->api->conn_close(conn, 1011, "no session");
}

static void cw_message(void *arg, parley_conn *conn, void *conn_ctx, const void *data, size_t len,
                       int binary)
{
    struct client *cl = conn_ctx;
    parley_error err = PARLEY_ERROR_INIT;
    char buf[256], room[128], user[128], reply[600];

    if (cl->session == NULL || binary || len >= sizeof buf)
        return;
    memcpy(buf, data, len);
    buf[len] = '\0';
    if (sscanf(buf, "join %127s %127s", room, user) != 2)
        return;
    if (cl->c->api->session_join(cl->session, room, user, &err) < 0) {
        snprintf(reply, sizeof reply, "error %s", err.message);
    } else {
        snprintf(reply, sizeof reply, "joined %s", room);
    }
    send_text(cl, reply);
}

static void cw_close(void *arg, parley_conn *conn, void *conn_ctx, int code)
{
    struct client *cl = conn_ctx;

    if (cl->session != NULL)
        cl->c->api->session_close(cl->session);
    free(cl);
}

static parley_frame *cw_encode(void *instance, const parley_event *ev)
{
    struct chatws *c = instance;
    const parley_message *m = ev->message;
    parley_frame *f;
    char *data;
    size_t n;

    if (ev->type != PARLEY_EVENT_MESSAGE || m == NULL)
        return NULL;
    n = 8 + PARLEY_ID_LEN + 1 + m->room_len + 1 + m->username_len + 1 + m->content_len;
    f = c->api->frame_alloc(c->host, n, 0, &data);
    if (f == NULL)
        return NULL;
    {
        size_t o = 0;

        memcpy(data + o, "message\t", 8);
        o += 8;
        memcpy(data + o, m->id, PARLEY_ID_LEN);
        o += PARLEY_ID_LEN;
        data[o++] = '\t';
        memcpy(data + o, m->room, m->room_len);
        o += m->room_len;
        data[o++] = '\t';
        memcpy(data + o, m->username, m->username_len);
        o += m->username_len;
        data[o++] = '\t';
        memcpy(data + o, m->content, m->content_len);
    }
    return f;
}

static void cw_deliver(void *instance, void *session_ctx, parley_frame *frame)
{
    struct client *cl = session_ctx;

    cl->c->api->conn_send(cl->conn, frame);
}

static int cw_create(const parley_host_api *api, parley_host *host, const parley_config *config,
                     void **instance, parley_error *err)
{
    struct chatws *c = calloc(1, sizeof *c);

    if (c == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "out of memory");
    c->api = api;
    c->host = host;
    *instance = c;
    return 0;
}

static int cw_start(void *instance, parley_error *err)
{
    struct chatws *c = instance;
    parley_ws_endpoint ep = { sizeof ep, "/chatws/", 0, cw_upgrade, cw_open, cw_message,
                              cw_close, c };

    return c->api->ws_endpoint_add(c->host, &ep, err);
}

static void cw_stop(void *instance, parley_stop_done done, void *done_arg)
{
    done(done_arg);
}

static void cw_destroy(void *instance)
{
    free(instance);
}

static const parley_transport_vtable cw_vtable = {
    .struct_size = sizeof cw_vtable,
    .encode = cw_encode,
    .deliver = cw_deliver,
};

static const parley_plugin_descriptor cw_descriptor = {
    PARLEY_DESCRIPTOR_HEADER,
    .kind = PARLEY_PLUGIN_TRANSPORT,
    .name = "rest_chatws",
    .version = "0.1.0",
    .description = "test transport: WebSocket chat frames, to watch REST posts being broadcast",
    .create = cw_create,
    .start = cw_start,
    .stop = cw_stop,
    .destroy = cw_destroy,
    .vtable = &cw_vtable,
};

PARLEY_PLUGIN_ENTRY(cw_descriptor)
