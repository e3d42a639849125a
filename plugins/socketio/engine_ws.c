/*
 * Engine.IO over WebSocket (the endpoint on the engine's path): the
 * upgrade decision before any 101 (query, origin, sid), sessions that start
 * on WebSocket, and the polling → WebSocket upgrade:
 *
 *   client opens ws ?sid=…   → accepted as a probe (a second one for the
 *                              same session: 101, then closed)
 *   probe "2probe"           → "3probe"; the held GET (and any GET until
 *                              the upgrade) is answered "6"
 *   probe "5"                → the session moves to the WebSocket; what
 *                              was queued for polling is sent there;
 *                              polling requests with the sid get 400
 *   no "5" in upgradeTimeout → the probe is closed, polling carries on
 *
 * One Engine.IO packet per frame; a binary frame is a message's raw bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

void eio__ws_close(struct eio_ws *w, int code, const char *reason)
{
    if (w->conn == NULL || w->closing || w->srv == NULL)
        return;
    w->closing = 1;
    w->srv->api->conn_close(w->conn, code, reason);
}

void eio__ws_detach(struct eio_ws *w)
{
    struct eio_socket *s = w->s;

    if (s == NULL)
        return;
    if (s->ws == w)
        s->ws = NULL;
    if (s->probe == w)
        s->probe = NULL;
    w->s = NULL;
    w->role = EIO_WS_DETACHED;
    eio__session_unref(s);
}

static void ws_unlink(struct eio_server *srv, struct eio_ws *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else if (srv->wss == w)
        srv->wss = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

/* Send a fixed text packet on a connection (open, 3probe). */
static int ws_send_text(struct eio_ws *w, const char *data, size_t len)
{
    const parley_host_api *api = w->srv->api;
    char *d;
    parley_frame *f = api->frame_alloc(w->srv->host, len, 0, &d);
    int rc;

    if (f == NULL)
        return PARLEY_ENOMEM;
    memcpy(d, data, len);
    rc = api->conn_send(w->conn, f);
    api->frame_release(f);
    return rc;
}

static int refuse(struct eio_server *srv, int code, int perr, parley_error *err)
{
    char body[128];

    eio__perr(srv, perr);
    if (eio_error_body(code, body, sizeof body, NULL) < 0)
        body[0] = '\0';
    parley_error_set(err, PARLEY_EPROTO, "%s", body);
    return eio_error_http_status(code);
}

/* ------------------------------------------------------------------ */
/* Upgrade decision                                                    */

int eio__ws_on_upgrade(void *arg, parley_http_request *req, void **conn_ctx, parley_error *err)
{
    struct eio_server *srv = arg;
    const parley_host_api *api = srv->api;
    const char *query = api->http_query(req);
    char origin[EIO_ORIGIN_MAX];
    struct eio_socket *s = NULL;
    struct eio_ws *w;
    eio_query q;
    int n, oc;

    if (strcmp(api->http_path(req), srv->path) != 0) {
        parley_error_set(err, PARLEY_ENOTFOUND, "no engine.io endpoint at this path");
        return 404;
    }
    /* Cross-site WebSocket hijacking: the origin is checked here, before
     * the 101; CORS headers do not protect a WebSocket. */
    n = api->http_header(req, "Origin", origin, sizeof origin);
    if (n == PARLEY_ETOOBIG)
        return refuse(srv, EIO_ERR_BAD_REQUEST, EIO_PE_BAD_ORIGIN, err);
    oc = eio__origin_check(srv, origin, n >= 0);
    if (oc == EIO_ERR_BAD_REQUEST)
        return refuse(srv, EIO_ERR_BAD_REQUEST, EIO_PE_BAD_ORIGIN, err);
    if (oc == EIO_ERR_FORBIDDEN)
        return refuse(srv, EIO_ERR_FORBIDDEN, EIO_PE_FORBIDDEN, err);
    if (eio_parse_query(query, strlen(query), &q, NULL) < 0) {
        static const int pe[] = { EIO_PE_UNKNOWN_TRANSPORT, EIO_PE_UNKNOWN_SID, EIO_PE_BAD_METHOD,
                                  EIO_PE_BAD_REQUEST, EIO_PE_FORBIDDEN, EIO_PE_BAD_VERSION };

        return refuse(srv, q.error_code, q.error_code >= 0 && q.error_code <= 5
                                             ? pe[q.error_code] : EIO_PE_BAD_REQUEST, err);
    }
    if (!srv->o.allow_websocket)
        return refuse(srv, EIO_ERR_TRANSPORT_UNKNOWN, EIO_PE_UNKNOWN_TRANSPORT, err);
    if (q.transport != EIO_TRANSPORT_WEBSOCKET)
        return refuse(srv, EIO_ERR_BAD_REQUEST, EIO_PE_BAD_REQUEST, err);
    if (srv->draining) {
        parley_error_set(err, PARLEY_ESHUTDOWN, "{\"code\":3,\"message\":\"Server shutting down\"}");
        return 503;
    }
    if (q.sid != NULL) {
        s = eio__session_find(srv, q.sid, q.sid_len);
        if (s == NULL)
            return refuse(srv, EIO_ERR_SESSION_ID_UNKNOWN, EIO_PE_UNKNOWN_SID, err);
    }
    w = calloc(1, sizeof *w);
    if (w == NULL) {
        parley_error_set(err, PARLEY_ENOMEM, "out of memory");
        return 500;
    }
    w->srv = srv;
    if (s == NULL) {
        w->role = EIO_WS_NEW;
    } else if (s->transport == EIO_TRANSPORT_POLLING && s->probe == NULL) {
        w->role = EIO_WS_PROBE;
        w->s = s;
        eio__session_ref(s);
        s->probe = w;
    } else {
        /* Already upgraded, upgrading, or a WebSocket session: engine.io
         * accepts the connection and closes it at once. */
        w->role = EIO_WS_REJECT;
        eio__perr(srv, EIO_PE_UPGRADE);
    }
    w->next = srv->wss;
    if (srv->wss != NULL)
        srv->wss->prev = w;
    srv->wss = w;
    *conn_ctx = w;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Upgrade                                                             */

static void upgrade_timeout(void *arg)
{
    struct eio_socket *s = arg;

    s->srv->api->timer_stop(s->upgrade_timer);
    s->upgrade_timer = NULL;
    eio__upgrade_abort(s, "upgrade timeout");
}

void eio__upgrade_abort(struct eio_socket *s, const char *why)
{
    struct eio_server *srv = s->srv;
    struct eio_ws *p = s->probe;

    srv->api->timer_stop(s->upgrade_timer);
    s->upgrade_timer = NULL;
    s->probed = 0;
    if (p == NULL)
        return;
    if (srv->m.upgrade_failures != NULL)
        srv->api->metric_add(srv->m.upgrade_failures, 1);
    if (srv->api->log_enabled(srv->host, PARLEY_LOG_DEBUG))
        srv->api->log(srv->host, PARLEY_LOG_DEBUG, "engine.io %s: session %s: upgrade aborted: %s",
                      srv->path, s->sid, why);
    eio__ws_close(p, 1000, why);
    eio__ws_detach(p);
}

static void upgrade_complete(struct eio_socket *s, struct eio_ws *w)
{
    struct eio_server *srv = s->srv;

    srv->api->timer_stop(s->upgrade_timer);
    s->upgrade_timer = NULL;
    /* End the held GET cleanly; the client paused polling for the upgrade. */
    if (s->get != NULL)
        eio__poll_respond_get(s, EIO_PKT_NOOP, 1);
    eio__sessions_gauge(srv, EIO_TRANSPORT_POLLING, -1);
    eio__sessions_gauge(srv, EIO_TRANSPORT_WEBSOCKET, 1);
    s->transport = EIO_TRANSPORT_WEBSOCKET;
    s->probe = NULL;
    s->probed = 0;
    s->ws = w;
    w->role = EIO_WS_ACTIVE;
    if (srv->m.upgrades != NULL)
        srv->api->metric_add(srv->m.upgrades, 1);
    eio__queue_to_ws(s);
}

static void probe_message(struct eio_ws *w, const eio_packet *pkt)
{
    struct eio_socket *s = w->s;

    if (pkt->type == EIO_PING && pkt->probe && !s->probed) {
        if (ws_send_text(w, EIO_PKT_PONG_PROBE, sizeof EIO_PKT_PONG_PROBE - 1) < 0) {
            eio__upgrade_abort(s, "cannot answer the probe");
            return;
        }
        s->probed = 1;
        eio__poll_flush(s);     /* the held GET: "6", or what is queued */
        return;
    }
    if (pkt->type == EIO_UPGRADE && s->probed) {
        upgrade_complete(s, w);
        return;
    }
    eio__perr(s->srv, EIO_PE_UPGRADE);
    eio__upgrade_abort(s, "unexpected packet during the upgrade");
}

/* ------------------------------------------------------------------ */
/* Endpoint callbacks                                                  */

void eio__ws_on_open(void *arg, parley_conn *conn, void *conn_ctx)
{
    struct eio_ws *w = conn_ctx;
    struct eio_server *srv = w->srv;
    struct eio_socket *s;
    char open[EIO_OPEN_MAX];
    size_t len = 0;
    eio_open o;

    (void)arg;
    w->conn = conn;
    if (srv == NULL)
        return;
    switch (w->role) {
    case EIO_WS_NEW:
        s = eio__session_new(srv, EIO_TRANSPORT_WEBSOCKET, srv->api->conn_remote_addr(conn));
        if (s == NULL) {
            eio__ws_close(w, 1011, "out of memory");
            return;
        }
        w->s = s;
        eio__session_ref(s);
        s->ws = w;
        w->role = EIO_WS_ACTIVE;
        o.sid = s->sid;
        o.upgrade_websocket = 0;
        o.ping_interval_ms = (uint32_t)srv->o.ping_interval_ms;
        o.ping_timeout_ms = (uint32_t)srv->o.ping_timeout_ms;
        o.max_payload = (uint32_t)srv->o.max_payload;
        if (eio_encode_open(&o, open, sizeof open, &len, NULL) < 0 ||
            ws_send_text(w, open, len) < 0) {
            eio__session_close(s, "internal error", 1011, 0);
            return;
        }
        eio__session_ref(s);
        eio__heartbeat_start(s);
        if (srv->cb.on_open != NULL && s->state == EIO_S_OPEN)
            srv->cb.on_open(srv->cb_arg, s);
        eio__session_unref(s);
        return;
    case EIO_WS_PROBE:
        s = w->s;
        if (s == NULL || s->state != EIO_S_OPEN) {
            eio__ws_close(w, 1000, "session closed");
            return;
        }
        s->upgrade_timer = srv->api->timer_start(srv->host, srv->o.upgrade_timeout_ms, 0,
                                                 upgrade_timeout, s);
        return;
    default:
        eio__ws_close(w, 1000, w->role == EIO_WS_REJECT ? "session already upgraded"
                                                        : "session closed");
        return;
    }
}

void eio__ws_on_message(void *arg, parley_conn *conn, void *conn_ctx, const void *data,
                        size_t len, int binary)
{
    struct eio_ws *w = conn_ctx;
    struct eio_server *srv = w->srv;
    struct eio_socket *s = w->s;
    parley_error e = PARLEY_ERROR_INIT;
    eio_packet pkt;
    uint8_t *buf = (uint8_t *)data;

    (void)arg;
    (void)conn;
    if (srv == NULL || s == NULL || s->state != EIO_S_OPEN || w->closing)
        return;
    /* Only a text "b<base64>" packet is decoded in place: copy that one. */
    if (!binary && len > 0 && buf[0] == 'b') {
        if (eio__buf_reserve(&srv->body, &srv->body_cap, len) < 0) {
            eio__session_close(s, "out of memory", 1011, 0);
            return;
        }
        memcpy(srv->body, data, len);
        buf = srv->body;
    }
    if (eio_decode_frame(buf, len, binary, &srv->lim, &pkt, &e) < 0) {
        if (srv->api->log_enabled(srv->host, PARLEY_LOG_DEBUG))
            srv->api->log(srv->host, PARLEY_LOG_DEBUG, "engine.io %s: session %s: %s", srv->path,
                          s->sid, e.message);
        eio__perr(srv, w->role == EIO_WS_PROBE ? EIO_PE_UPGRADE : EIO_PE_PARSE);
        if (w->role == EIO_WS_PROBE)
            eio__upgrade_abort(s, "parse error");
        else
            eio__session_close(s, "parse error", 1002, 0);
        return;
    }
    if (w->role == EIO_WS_PROBE) {
        probe_message(w, &pkt);
        return;
    }
    if (w->role != EIO_WS_ACTIVE)
        return;
    eio__session_ref(s);
    if (eio__heartbeat_check(s) < 0) {
        eio__session_unref(s);
        return;
    }
    switch (pkt.type) {
    case EIO_MESSAGE:
        eio__deliver_message(s, &pkt);
        break;
    case EIO_PONG:
        if (!pkt.probe)
            eio__on_pong(s);
        break;
    case EIO_CLOSE:
        eio__session_close(s, "transport close", 1000, 1);
        break;
    case EIO_NOOP:
    case EIO_UPGRADE:
        break;
    case EIO_PING:
        eio__perr(srv, EIO_PE_HEARTBEAT);
        eio__session_close(s, "invalid heartbeat direction", 1002, 0);
        break;
    default:
        eio__perr(srv, EIO_PE_PARSE);
        eio__session_close(s, "parse error", 1002, 0);
        break;
    }
    eio__session_unref(s);
}

void eio__ws_on_close(void *arg, parley_conn *conn, void *conn_ctx, int code)
{
    struct eio_ws *w = conn_ctx;
    struct eio_server *srv = w->srv;
    struct eio_socket *s = w->s;

    (void)arg;
    (void)conn;
    w->conn = NULL;
    w->closing = 1;
    if (srv == NULL) {
        free(w);
        return;
    }
    ws_unlink(srv, w);
    if (s != NULL && w->role == EIO_WS_ACTIVE) {
        const char *reason = s->slow || code == 1008 ? "slow consumer"
                             : code == 1006 || code == 1009 || code == 1007 ? "transport error"
                                                                            : "transport close";

        eio__session_close(s, reason, 1000, 0);
    } else if (s != NULL && w->role == EIO_WS_PROBE) {
        eio__upgrade_abort(s, "probe closed");
    }
    eio__ws_detach(w);
    free(w);
}
