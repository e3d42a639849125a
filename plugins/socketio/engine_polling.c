/*
 * Engine.IO HTTP long-polling (the route on the engine's path): request
 * checks in engine.io's order, CORS and the origin allowlist, the
 * handshake, the held GET, POST payloads, and the error answers
 * {"code":N,"message":"..."}.
 *
 * A POST body reaches us whole (the host buffered it and refused anything
 * over max_payload with 413), so two POSTs can never overlap here; two
 * GETs can: the second is refused with 400 and the session ends, the held
 * one getting "1".
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine_int.h"

/* How long past pingInterval + pingTimeout the host keeps a GET held; the
 * heartbeat always answers it before that. */
#define HOLD_SLACK_MS 5000

/* CORS headers for one response: the origin must outlive the respond. */
struct cors {
    const char *origin;         /* allowed Origin, or NULL */
    int credentials;
};

static size_t cors_headers(const struct cors *c, parley_http_header *h, size_t n)
{
    if (c == NULL || c->origin == NULL || c->origin[0] == '\0')
        return n;
    h[n++] = (parley_http_header){ "Access-Control-Allow-Origin", c->origin };
    h[n++] = (parley_http_header){ "Vary", "Origin" };
    if (c->credentials)
        h[n++] = (parley_http_header){ "Access-Control-Allow-Credentials", "true" };
    return n;
}

static int respond(struct eio_server *srv, parley_http_request *req, int status,
                   const char *ctype, const struct cors *c, const void *body, size_t len)
{
    parley_http_header h[6];
    size_t n = 0;

    if (ctype != NULL)
        h[n++] = (parley_http_header){ "Content-Type", ctype };
    n = cors_headers(c, h, n);
    return srv->api->http_respond(req, status, h, n, body, len);
}

static const int code_perr[] = {
    [EIO_ERR_TRANSPORT_UNKNOWN] = EIO_PE_UNKNOWN_TRANSPORT,
    [EIO_ERR_SESSION_ID_UNKNOWN] = EIO_PE_UNKNOWN_SID,
    [EIO_ERR_BAD_HANDSHAKE_METHOD] = EIO_PE_BAD_METHOD,
    [EIO_ERR_BAD_REQUEST] = EIO_PE_BAD_REQUEST,
    [EIO_ERR_FORBIDDEN] = EIO_PE_FORBIDDEN,
    [EIO_ERR_UNSUPPORTED_VERSION] = EIO_PE_BAD_VERSION,
};

/* An Engine.IO error answer; `perr` is the metric reason (-1: from code). */
static int respond_error(struct eio_server *srv, parley_http_request *req, int code, int perr,
                         const struct cors *c)
{
    char body[128];
    size_t len = 0;

    if (code < EIO_ERR_TRANSPORT_UNKNOWN || code > EIO_ERR_UNSUPPORTED_VERSION)
        code = EIO_ERR_BAD_REQUEST;
    eio__perr(srv, perr >= 0 ? perr : code_perr[code]);
    if (eio_error_body(code, body, sizeof body, &len) < 0)
        len = 0;
    if (srv->api->log_enabled(srv->host, PARLEY_LOG_DEBUG))
        srv->api->log(srv->host, PARLEY_LOG_DEBUG, "engine.io %s %s ?%.200s: %d %s",
                      srv->api->http_method(req), srv->path, srv->api->http_query(req),
                      eio_error_http_status(code), eio_error_message(code));
    return respond(srv, req, eio_error_http_status(code), "application/json", c, body, len);
}

/* ------------------------------------------------------------------ */
/* Origins                                                             */

int eio__origin_check(struct eio_server *srv, const char *origin, int have)
{
    if (!have)
        return 0;               /* not a browser: nothing to check */
    for (const unsigned char *p = (const unsigned char *)origin; *p != '\0'; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return EIO_ERR_BAD_REQUEST;
    if (srv->any_origin)
        return 0;
    for (size_t i = 0; i < srv->n_origins; i++)
        if (strcmp(srv->origins[i], origin) == 0)
            return 0;
    return EIO_ERR_FORBIDDEN;
}

/* ------------------------------------------------------------------ */
/* The held GET                                                        */

void eio__poll_respond_get(struct eio_socket *s, const void *body, size_t len)
{
    struct eio_server *srv = s->srv;
    parley_http_request *req = s->get;
    struct cors c = { s->get_origin, srv->o.cors_credentials };

    if (req == NULL)
        return;
    s->get = NULL;
    respond(srv, req, 200, "text/plain; charset=UTF-8", &c, body, len);
}

void eio__http_on_abort(void *arg, parley_http_request *req, void *req_ctx)
{
    struct eio_server *srv = arg;
    struct eio_socket *s = req_ctx;

    if (s == NULL || s->get != req)
        return;
    s->get = NULL;
    /* The client gave up its GET (or the host is shutting down): engine.io
     * ends the session, "poll connection closed prematurely". */
    eio__session_close(s, srv->draining ? "server shutting down" : "transport error", 1000, 0);
}

static int poll_get(struct eio_socket *s, parley_http_request *req, const struct cors *c)
{
    struct eio_server *srv = s->srv;
    uint64_t hold;
    int rc;

    if (s->get != NULL) {
        /* Two GETs at once: refuse this one, end the session; the held one
         * gets "1" (engine.io: "overlap from client"). */
        respond_error(srv, req, EIO_ERR_BAD_REQUEST, EIO_PE_OVERLAP, c);
        eio__session_close(s, "transport error", 1002, 0);
        return 0;
    }
    s->get = req;
    snprintf(s->get_origin, sizeof s->get_origin, "%s", c->origin ? c->origin : "");
    if (s->q_count > 0 || s->probed) {
        eio__poll_flush(s);
        return 0;
    }
    hold = srv->o.ping_interval_ms + srv->o.ping_timeout_ms + HOLD_SLACK_MS;
    rc = srv->api->http_hold(req, hold, s);
    if (rc < 0) {
        s->get = NULL;
        return rc;              /* the host answers 500 */
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* POST                                                                */

struct post_ctx {
    struct eio_socket *s;
    int proto;                  /* a packet not allowed from a client */
    const char *why;
};

static int post_packet(void *arg, const eio_packet *pkt, parley_error *err)
{
    struct post_ctx *pc = arg;
    struct eio_socket *s = pc->s;

    if (s->state != EIO_S_OPEN)
        return PARLEY_ECLOSED;  /* closed by a callback: drop the rest */
    switch (pkt->type) {
    case EIO_MESSAGE:
        eio__deliver_message(s, pkt);
        return 0;
    case EIO_PONG:
        if (!pkt->probe)
            eio__on_pong(s);
        return 0;
    case EIO_CLOSE:
        eio__session_close(s, "transport close", 1000, 1);
        return PARLEY_ECLOSED;
    case EIO_NOOP:
    case EIO_UPGRADE:
        return 0;
    case EIO_PING:
        pc->proto = EIO_PE_HEARTBEAT;
        pc->why = "invalid heartbeat direction";
        return parley_error_set(err, PARLEY_EPROTO, "engine.io: a client sent a ping");
    default:
        pc->proto = EIO_PE_PARSE;
        pc->why = "parse error";
        return parley_error_set(err, PARLEY_EPROTO, "engine.io: a client sent packet type %d",
                                pkt->type);
    }
}

static int content_type_is(parley_http_request *req, const parley_host_api *api, const char *want)
{
    char ct[128];
    size_t wl = strlen(want);

    if (api->http_header(req, "Content-Type", ct, sizeof ct) < 0)
        return 0;
    return strncasecmp(ct, want, wl) == 0 && (ct[wl] == '\0' || ct[wl] == ';' || ct[wl] == ' ');
}

static int poll_post(struct eio_socket *s, parley_http_request *req, const struct cors *c)
{
    struct eio_server *srv = s->srv;
    const parley_host_api *api = srv->api;
    parley_error e = PARLEY_ERROR_INIT;
    struct post_ctx pc = { s, -1, NULL };
    const void *body;
    uint8_t *buf;
    size_t len = 0;
    int rc;

    /* EIO=4 carries binary as base64 text; a binary body is refused
     * (engine.io: "invalid content") and the request is finished. */
    if (content_type_is(req, api, "application/octet-stream")) {
        respond_error(srv, req, EIO_ERR_BAD_REQUEST, EIO_PE_INVALID_CONTENT, c);
        eio__session_close(s, "transport error", 1002, 0);
        return 0;
    }
    body = api->http_body(req, &len);
    if (len > srv->o.max_payload) {     /* the route cap makes this unreachable */
        respond(srv, req, 413, "application/json", c, "{\"code\":3,\"message\":\"Bad request\"}",
                34);
        eio__session_close(s, "transport error", 1009, 0);
        return 0;
    }
    /* The codec decodes base64 segments in place and writes nothing else:
     * only a body with a binary packet needs our own copy. */
    buf = (uint8_t *)body;
    if (len > 0 && (buf[0] == 'b' || memmem(body, len, "\x1e" "b", 2) != NULL)) {
        if (eio__buf_reserve(&srv->body, &srv->body_cap, len) < 0)
            return PARLEY_ENOMEM;
        memcpy(srv->body, body, len);
        buf = srv->body;
    }
    eio__session_ref(s);
    s->dispatching++;
    rc = eio_decode_payload(buf, len, &srv->lim, post_packet, &pc, &e);
    s->dispatching--;
    if (rc < 0 && rc != PARLEY_ECLOSED && s->state == EIO_S_OPEN) {
        if (api->log_enabled(srv->host, PARLEY_LOG_DEBUG))
            api->log(srv->host, PARLEY_LOG_DEBUG, "engine.io %s: session %s: %s", srv->path,
                     s->sid, e.message);
        respond_error(srv, req, EIO_ERR_BAD_REQUEST, pc.proto >= 0 ? pc.proto : EIO_PE_PARSE, c);
        eio__session_close(s, pc.why ? pc.why : "parse error", 1002, 0);
        eio__session_unref(s);
        return 0;
    }
    if (s->state == EIO_S_OPEN)
        eio__poll_flush(s);
    eio__session_unref(s);
    return respond(srv, req, 200, "text/html", c, "ok", 2);
}

/* ------------------------------------------------------------------ */
/* Handshake                                                           */

static int handshake(struct eio_server *srv, parley_http_request *req, const struct cors *c)
{
    const parley_host_api *api = srv->api;
    char open[EIO_OPEN_MAX];
    size_t len = 0;
    struct eio_socket *s;
    eio_open o;
    int rc;

    if (srv->draining)
        return respond(srv, req, 503, "application/json", c,
                       "{\"code\":3,\"message\":\"Server shutting down\"}", 43);
    s = eio__session_new(srv, EIO_TRANSPORT_POLLING, api->http_remote_addr(req));
    if (s == NULL)
        return PARLEY_ENOMEM;
    o.sid = s->sid;
    o.upgrade_websocket = srv->o.allow_websocket;
    o.ping_interval_ms = (uint32_t)srv->o.ping_interval_ms;
    o.ping_timeout_ms = (uint32_t)srv->o.ping_timeout_ms;
    o.max_payload = (uint32_t)srv->o.max_payload;
    if (eio_encode_open(&o, open, sizeof open, &len, NULL) < 0) {
        eio__session_close(s, "internal error", 1011, 0);
        return PARLEY_EINTERNAL;
    }
    rc = respond(srv, req, 200, "text/plain; charset=UTF-8", c, open, len);
    if (rc < 0) {
        eio__session_close(s, "transport error", 1000, 0);
        return 0;
    }
    eio__session_ref(s);
    eio__heartbeat_start(s);
    if (srv->cb.on_open != NULL)
        srv->cb.on_open(srv->cb_arg, s);
    eio__session_unref(s);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Preflight                                                           */

/* Reflect Access-Control-Request-Headers when it is a plain token list. */
static const char *allow_headers(parley_http_request *req, const parley_host_api *api,
                                 char *buf, size_t cap)
{
    int n = api->http_header(req, "Access-Control-Request-Headers", buf, cap);

    if (n <= 0)
        return "Content-Type";
    for (int i = 0; i < n; i++) {
        char ch = buf[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == ',' || ch == ' '))
            return "Content-Type";
    }
    return buf;
}

static int preflight(struct eio_server *srv, parley_http_request *req, const struct cors *c)
{
    parley_http_header h[8];
    char hb[256];
    size_t n = 0;

    n = cors_headers(c, h, n);
    if (n > 0) {
        h[n++] = (parley_http_header){ "Access-Control-Allow-Methods", "GET, POST, OPTIONS" };
        h[n++] = (parley_http_header){ "Access-Control-Allow-Headers",
                                       allow_headers(req, srv->api, hb, sizeof hb) };
    }
    return srv->api->http_respond(req, 204, h, n, "", 0);
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */

int eio__http_on_request(void *arg, parley_http_request *req)
{
    struct eio_server *srv = arg;
    const parley_host_api *api = srv->api;
    const char *method = api->http_method(req), *path = api->http_path(req);
    const char *query = api->http_query(req);
    char origin[EIO_ORIGIN_MAX];
    struct cors c = { NULL, srv->o.cors_credentials };
    struct eio_socket *s;
    eio_query q;
    int n, oc;

    if (strcmp(path, srv->path) != 0) {
        char body[320];
        int bl = snprintf(body, sizeof body,
                          "{\"error\":{\"code\":\"not_found\",\"message\":\"no route for %.200s\"}}",
                          path);

        /* The listener re-encodes the path: no quote or backslash in it. */
        return api->http_respond(req, 404, &(parley_http_header){ "Content-Type",
                                 "application/json" }, 1, body,
                                 bl > 0 && (size_t)bl < sizeof body ? (size_t)bl : 0);
    }
    n = api->http_header(req, "Origin", origin, sizeof origin);
    if (n == PARLEY_ETOOBIG)
        return respond_error(srv, req, EIO_ERR_BAD_REQUEST, EIO_PE_BAD_ORIGIN, NULL);
    oc = eio__origin_check(srv, origin, n >= 0);
    if (oc == EIO_ERR_BAD_REQUEST)
        return respond_error(srv, req, EIO_ERR_BAD_REQUEST, EIO_PE_BAD_ORIGIN, NULL);
    if (oc == EIO_ERR_FORBIDDEN)
        return respond_error(srv, req, EIO_ERR_FORBIDDEN, -1, NULL);
    if (n >= 0)
        c.origin = origin;
    if (strcmp(method, "OPTIONS") == 0)
        return preflight(srv, req, &c);

    if (eio_parse_query(query, strlen(query), &q, NULL) < 0)
        return respond_error(srv, req, q.error_code, -1, &c);
    if (q.transport == EIO_TRANSPORT_POLLING && !srv->o.allow_polling)
        return respond_error(srv, req, EIO_ERR_TRANSPORT_UNKNOWN, -1, &c);
    if (q.transport == EIO_TRANSPORT_WEBSOCKET && !srv->o.allow_websocket)
        return respond_error(srv, req, EIO_ERR_TRANSPORT_UNKNOWN, -1, &c);

    if (q.sid == NULL) {
        if (strcmp(method, "GET") != 0)
            return respond_error(srv, req, EIO_ERR_BAD_HANDSHAKE_METHOD, -1, &c);
        /* transport=websocket without the Upgrade headers. */
        if (q.transport != EIO_TRANSPORT_POLLING)
            return respond_error(srv, req, EIO_ERR_BAD_REQUEST, -1, &c);
        return handshake(srv, req, &c);
    }

    s = eio__session_find(srv, q.sid, q.sid_len);
    if (s == NULL && strcmp(method, "GET") == 0 && eio__closed_recently(srv, q.sid, q.sid_len))
        return respond(srv, req, 200, "text/plain; charset=UTF-8", &c, EIO_PKT_NOOP, 1);
    if (s == NULL)
        return respond_error(srv, req, EIO_ERR_SESSION_ID_UNKNOWN, -1, &c);
    if (s->transport != EIO_TRANSPORT_POLLING || q.transport != EIO_TRANSPORT_POLLING)
        return respond_error(srv, req, EIO_ERR_BAD_REQUEST, EIO_PE_TRANSPORT_MISMATCH, &c);
    /* The pong may be overdue by a few ms with the timer not run yet. */
    if (eio__heartbeat_check(s) < 0)
        return respond_error(srv, req, EIO_ERR_SESSION_ID_UNKNOWN, -1, &c);
    if (strcmp(method, "GET") == 0)
        return poll_get(s, req, &c);
    if (strcmp(method, "POST") == 0)
        return poll_post(s, req, &c);
    /* PUT, DELETE, ...: refused, the session is left alone. */
    return respond_error(srv, req, EIO_ERR_BAD_REQUEST, -1, &c);
}
