/*
 * WebSocket connections on the shared listener (RFC 6455): the upgrade
 * decision and the 101, frames read straight from the connection's input
 * (headers by ws_codec.c), messages reassembled under the endpoint's cap
 * and checked for UTF-8, control frames answered, the close handshake from
 * either side, liveness pings, and the send side: shared frames queued by
 * reference on the connection (listener_sock.c writes them), a per
 * connection cap for slow consumers and a global one for all of them.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "frame.h"
#include "list.h"
#include "listener_int.h"
#include "listener_text.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "validate.h"
#include "ws_codec.h"

#define L parley__L

/* Keep at most this much receive buffer between messages. */
#define RX_KEEP (64 * 1024)
/* Frames one message may be split into (bad-inputs F22/F23: floods of
 * empty or one-byte fragments). */
#define RX_FRAMES_MAX 1024
/* How long the peer has to answer our close frame (F29), and the shorter
 * grace of a connection we drop for a limit. */
#define CLOSE_WAIT_MS 5000
#define CLOSE_GRACE_MS 2000

static void start_close(struct parley_conn *c, int code, const char *reason, uint64_t wait_ms);

/* ------------------------------------------------------------------ */
/* Upgrade                                                             */

/* Answer a refused upgrade (text/plain, as the endpoint's message) and
 * close. */
static int refuse_upgrade(struct parley__sock *s, int status, const char *extra,
                          const char *message)
{
    size_t ml = strlen(message), cap = 256 + ml;
    char *buf = malloc(cap);
    int n;

    if (buf != NULL) {
        n = snprintf(buf, cap,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\n%sConnection: close\r\n\r\n%s",
                     status, parley__http_status_text(status), ml, extra ? extra : "", message);
        if (n > 0 && (size_t)n < cap)
            (void)parley__sock_queue_owned(s, buf, (size_t)n);
        else
            free(buf);
    }
    parley__sock_finish(s);
    return 0;
}

static void printable(char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            *s = '?';
}

/* The RFC 6455 4.2.1 checks, in the order a client can fix them. Returns
 * 0, or the status to refuse with and *why. */
static int handshake_check(struct parley_http_request *req, const char **extra, const char **why)
{
    char key[64], ver[16];
    int n;

    if (strcmp(req->method, "GET") != 0) {
        *why = "websocket upgrades must be GET";
        return 400;
    }
    if (req->http10) {
        *why = "websocket upgrades need HTTP/1.1";
        return 400;
    }
    n = parley__http_field_get(req->head, req->h, "sec-websocket-key", key, sizeof key);
    if (n < 0 || !parley__ws_key_valid(key, (size_t)n)) {
        /* Two keys arrive joined by ", ", which fails this too (W03). */
        *why = "Sec-WebSocket-Key must be 16 bytes in base64";
        return 400;
    }
    n = parley__http_field_get(req->head, req->h, "sec-websocket-version", ver, sizeof ver);
    if (n != 2 || strcmp(ver, "13") != 0) {
        *extra = "Sec-WebSocket-Version: 13\r\n";
        *why = "Sec-WebSocket-Version must be 13";
        return 426;
    }
    if (parley__http_field_get(req->head, req->h, "sec-websocket-protocol", key, 1) != -1) {
        *why = "websocket subprotocols are not supported";
        return 400;
    }
    return 0;
}

static int accept_upgrade(struct parley__sock *s, struct parley_http_request *req,
                          struct parley_conn *c)
{
    char key[64], accept[PARLEY__WS_ACCEPT_LEN + 1], resp[160];
    int kn = parley__http_field_get(req->head, req->h, "sec-websocket-key", key, sizeof key);
    int n;

    parley__ws_accept(key, (size_t)kn, accept);
    n = snprintf(resp, sizeof resp,
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                 accept);
    if (parley__sock_queue_copy(s, resp, (size_t)n) < 0)
        return -1;
    c->sock = s;
    s->conn = c;
    s->mode = PARLEY__SOCK_WS;
    s->deadline_ms = 0;
    PARLEY__LIST_PUSH(L.conns, c);
    parley__metric_add(L.m.websockets, 1);
    return 0;
}

int parley__ws_upgrade(struct parley__sock *s, struct parley_http_request *req)
{
    const struct parley__endpoint *ep;
    parley_error e = PARLEY_ERROR_INIT;
    const char *why = NULL, *extra = NULL;
    struct parley_conn *c;
    void *ctx = NULL;
    int status, rc;

    ep = parley__endpoint_match(req->path);
    if (ep == NULL) {
        PARLEY__COUNT(refused_upgrade);
        L_DEBUG("websocket upgrade on %s from %s refused: no endpoint", req->path, s->remote);
        return refuse_upgrade(s, 404, NULL, "no websocket endpoint here");
    }
    status = handshake_check(req, &extra, &why);
    if (status != 0) {
        PARLEY__COUNT(refused_upgrade);
        L_DEBUG("websocket upgrade on %s from %s refused: %s", req->path, s->remote, why);
        return refuse_upgrade(s, status, extra, why);
    }
    if (L.draining)
        return refuse_upgrade(s, 503, NULL, "the server is shutting down");
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return refuse_upgrade(s, 500, NULL, "out of memory");
    c->ep = ep->e;
    c->max_message = ep->e.max_message ? ep->e.max_message : L.opts.max_message;
    snprintf(c->remote, sizeof c->remote, "%s", s->remote);

    req->upgrade = 1;
    req->headers_ok = 1;
    rc = ep->e.on_upgrade ? ep->e.on_upgrade(ep->e.arg, req, &ctx, &e) : 0;
    req->headers_ok = 0;
    if (rc != 0) {
        int st = rc >= 400 && rc <= 599 ? rc : 500;
        char msg[sizeof e.message];

        snprintf(msg, sizeof msg, "%s", e.message[0] ? e.message : st == 500 ? "upgrade failed"
                                                                              : "refused");
        printable(msg);
        L_WARN("websocket upgrade on %s from %s refused by the endpoint: %d %s", req->path,
               s->remote, st, msg);
        free(c);
        return refuse_upgrade(s, st, NULL, msg);
    }
    c->conn_ctx = ctx;
    if (accept_upgrade(s, req, c) < 0) {
        c->closed = 1;
        if (c->ep.on_close != NULL)
            c->ep.on_close(c->ep.arg, c, c->conn_ctx, 1006);
        free(c);
        parley__sock_abort(s);
        return 0;
    }
    c->opened = 1;
    if (c->ep.on_open != NULL)
        c->ep.on_open(c->ep.arg, c, c->conn_ctx);
    if (L.draining && c->sock != NULL)
        start_close(c, 1001, L.drain_reason, CLOSE_WAIT_MS);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Memory                                                              */

/* The receive buffer counts toward client_memory_max too: a client that
 * announces a big message and sends it slowly holds that much of ours. */
static void rx_set(struct parley_conn *c, unsigned char *rx, size_t cap)
{
    L.queued_total = L.queued_total - c->rx_cap + cap;
    parley__metric_set(L.m.client_memory, (double)L.queued_total);
    c->rx = rx;
    c->rx_cap = cap;
}

static void rx_free(struct parley_conn *c)
{
    free(c->rx);
    rx_set(c, NULL, 0);
    c->rx_len = 0;
    c->rx_active = 0;
}

static size_t held_bytes(const struct parley_conn *c)
{
    return (c->sock != NULL ? c->sock->out_bytes : 0) + c->rx_cap;
}

size_t parley__ws_held(const struct parley_conn *c)
{
    return held_bytes(c);
}

/* listener_memory.c chose this connection to make room: its queue and
 * receive buffer go, and it closes 1008 "memory pressure". */
void parley__ws_shed(struct parley_conn *c)
{
    PARLEY__COUNT(ws_shed);
    L_WARN("websocket %s from %s: %zu bytes queued and %zu receiving, the most while all "
           "clients hold %zu over listener.client_memory_max %zu; closing 1008",
           c->ep.prefix, c->remote, c->sock ? c->sock->out_bytes : 0, c->rx_cap,
           L.queued_total, L.opts.client_memory_max);
    if (c->sock != NULL)
        parley__sock_queue_drop(c->sock);
    if (!c->delivering)
        rx_free(c);
    start_close(c, 1008, "memory pressure", CLOSE_GRACE_MS);
}

/* ------------------------------------------------------------------ */
/* Control frames and closing                                          */

static int queue_control(struct parley__sock *s, int opcode, const unsigned char *payload,
                         size_t len)
{
    unsigned char f[PARLEY__WS_SERVER_HEAD_MAX + 125];
    size_t hl = parley__ws_server_head(f, opcode, len);

    if (len > 0)
        memcpy(f + hl, payload, len);
    return parley__sock_queue_copy(s, f, hl + len);
}

/* Our close frame goes behind what is queued (the client gets its data
 * first); then we wait for the peer's answer, at most `wait_ms`. */
static void start_close(struct parley_conn *c, int code, const char *reason, uint64_t wait_ms)
{
    unsigned char p[125];
    size_t rl;

    if (c->closing || c->sock == NULL)
        return;
    c->closing = 1;
    c->close_code = code;
    /* A close frame carries 125 bytes: the code and 123 of reason. */
    snprintf(c->close_reason, sizeof c->close_reason, "%.123s", reason ? reason : "");
    rl = strlen(c->close_reason);
    p[0] = (unsigned char)(code >> 8);
    p[1] = (unsigned char)code;
    memcpy(p + 2, c->close_reason, rl);
    if (queue_control(c->sock, PARLEY__WS_OP_CLOSE, p, 2 + rl) < 0) {
        parley__sock_abort(c->sock);
        return;
    }
    c->close_sent = 1;
    c->sock->deadline_ms = parley__now_ms(NULL) + wait_ms;
    if (c->peer_closed)
        parley__sock_finish(c->sock);
}

/* A protocol violation: our close frame, then hang up once it is out. */
static long fail(struct parley_conn *c, int code, const char *why)
{
    struct parley__sock *s = c->sock;

    if (c->closing) {           /* our close frame is already queued: just hang up after it */
        parley__sock_finish(s);
        return -1;
    }
    switch (code) {
    case 1002: PARLEY__COUNT(ws_1002); break;
    case 1007: PARLEY__COUNT(ws_1007); break;
    case 1009: PARLEY__COUNT(ws_1009); break;
    default: break;
    }
    L_WARN("websocket %s from %s: %s; closing %d", c->ep.prefix, c->remote, why, code);
    start_close(c, code, why, CLOSE_GRACE_MS);
    parley__sock_finish(s);
    return -1;
}

static long on_close_frame(struct parley_conn *c, const unsigned char *p, size_t len)
{
    const char *why = NULL;
    int code = 0, bad = parley__ws_close_check(p, len, &code, &why);

    if (bad != 0)
        return fail(c, bad, why);
    c->peer_closed = 1;
    c->peer_code = code;
    if (!c->close_sent) {
        /* Echo the peer's code (RFC 6455 5.5.1; an empty close is echoed
         * empty). */
        if (code == 1005) {
            if (queue_control(c->sock, PARLEY__WS_OP_CLOSE, NULL, 0) < 0) {
                parley__sock_abort(c->sock);
                return -1;
            }
            c->close_sent = 1;
            c->sock->deadline_ms = parley__now_ms(NULL) + CLOSE_WAIT_MS;
        } else {
            start_close(c, code, "", CLOSE_WAIT_MS);
            c->close_code = 0;  /* the peer's close, not ours */
        }
        c->closing = 1;
    }
    if (c->sock != NULL)
        parley__sock_finish(c->sock);
    return -1;
}

static long on_control(struct parley_conn *c, const struct parley__ws_head *h,
                       unsigned char *payload)
{
    size_t len = (size_t)h->payload_len;

    parley__ws_unmask(payload, len, h->mask, 0);
    switch (h->opcode) {
    case PARLEY__WS_OP_CLOSE:
        return on_close_frame(c, payload, len);
    case PARLEY__WS_OP_PING:
        if (!c->close_sent && queue_control(c->sock, PARLEY__WS_OP_PONG, payload, len) < 0)
            parley__sock_abort(c->sock);
        return 0;
    default:                    /* pong: the peer is alive */
        c->ping_sent = 0;
        return 0;
    }
}

/* ------------------------------------------------------------------ */
/* Receive                                                             */

static void conn_free(struct parley_conn *c)
{
    rx_free(c);
    free(c);
}

static long deliver(struct parley_conn *c, const unsigned char *data, size_t len)
{
    if (!c->rx_binary && !parley__utf8_valid((const char *)data, len, NULL))
        return fail(c, 1007, "invalid UTF-8");
    c->delivering = 1;
    c->ep.on_message(c->ep.arg, c, c->conn_ctx, data, len, c->rx_binary);
    c->delivering = 0;
    if (c->closed) {            /* the connection went away inside on_message */
        conn_free(c);
        return -1;
    }
    return 0;
}

/* A data frame's header: sequencing and size, before any payload. */
static long data_frame(struct parley_conn *c, const struct parley__ws_head *h)
{
    uint64_t total;

    if (h->opcode == PARLEY__WS_OP_CONTINUATION && !c->rx_active)
        return fail(c, 1002, "continuation frame without a message");
    if (h->opcode != PARLEY__WS_OP_CONTINUATION && c->rx_active)
        return fail(c, 1002, "new message inside a fragmented one");
    if (h->opcode != PARLEY__WS_OP_CONTINUATION) {
        c->rx_binary = h->opcode == PARLEY__WS_OP_BINARY;
        c->rx_len = 0;
        c->rx_frames = 0;
    }
    if (++c->rx_frames > RX_FRAMES_MAX)
        return fail(c, 1009, "message split into too many frames");
    total = (uint64_t)c->rx_len + h->payload_len;
    if (h->payload_len > c->max_message || total > c->max_message) {
        L_WARN("websocket %s from %s: message of at least %llu bytes is over the cap %zu",
               c->ep.prefix, c->remote,
               (unsigned long long)(h->payload_len > total ? h->payload_len : total),
               c->max_message);
        return fail(c, 1009, "message too big");
    }
    c->frame_open = 1;
    c->frame_final = h->fin;
    c->frame_left = h->payload_len;
    c->frame_off = 0;
    memcpy(c->mask, h->mask, 4);
    c->rx_active = 1;
    return 0;
}

/* Payload bytes of the open data frame: into the message buffer. */
static long payload(struct parley_conn *c, unsigned char *data, size_t len)
{
    size_t n = len < c->frame_left ? len : (size_t)c->frame_left;

    if (c->rx_len + n > c->rx_cap || c->rx_cap == 0) {
        /* Grow with what arrives (doubling, never past what the frame
         * announced): a header that announces a megabyte and sends nothing
         * must not get a megabyte charged to client_memory_max. */
        size_t end = c->rx_len + (size_t)c->frame_left;
        size_t want = c->rx_cap ? c->rx_cap * 2 : 4096;
        unsigned char *b;

        if (want < c->rx_len + n)
            want = c->rx_len + n;
        if (want > end)
            want = end;
        if (want == 0)
            want = 1;
        b = realloc(c->rx, want);
        if (b == NULL)
            return fail(c, 1011, "out of memory");
        rx_set(c, b, want);
        if (L.queued_total > L.opts.client_memory_max) {
            (void)parley__listener_shed(c);
            if (c->closing)
                return -1;
        }
    }
    if (n > 0) {                /* an empty fragment: c->rx may still be NULL (F22) */
        parley__ws_unmask(data, n, c->mask, c->frame_off);
        memcpy(c->rx + c->rx_len, data, n);
    }
    c->rx_len += n;
    c->frame_left -= n;
    c->frame_off += n;
    if (c->frame_left > 0)
        return (long)n;
    c->frame_open = 0;
    if (!c->frame_final)
        return (long)n;
    c->rx_active = 0;
    if (deliver(c, c->rx, c->rx_len) < 0)
        return -1;
    c->rx_len = 0;
    if (c->rx_cap > RX_KEEP)
        rx_free(c);
    return (long)n;
}

long parley__ws_input(struct parley__sock *s, unsigned char *data, size_t len)
{
    struct parley_conn *c = s->conn;
    struct parley__ws_head h;
    const char *why = NULL;
    int hl;

    if (c == NULL)
        return (long)len;
    if (c->peer_closed)
        return (long)len;       /* nothing counts after the peer's close (F28) */
    c->ping_sent = 0;           /* it spoke: alive, whether or not it pongs */
    if (c->frame_open) {
        if (c->closing) {       /* we are closing: skip, do not keep */
            size_t n = len < c->frame_left ? len : (size_t)c->frame_left;

            c->frame_left -= n;
            c->frame_open = c->frame_left > 0;
            return (long)n;
        }
        return payload(c, data, len);
    }
    hl = parley__ws_parse_head(data, len, &h, &why);
    if (hl == 0)
        return 0;
    if (hl < 0)
        return fail(c, 1002, why);
    if (h.opcode >= PARLEY__WS_OP_CLOSE) {
        if (len - (size_t)hl < h.payload_len)
            return 0;           /* at most 125 bytes: wait for all of it */
        if (on_control(c, &h, data + hl) < 0)
            return -1;
        return hl + (long)h.payload_len;
    }
    if (c->closing) {
        c->frame_open = h.payload_len > 0;
        c->frame_left = h.payload_len;
        return hl;
    }
    if (data_frame(c, &h) < 0)
        return -1;
    /* The usual message: one whole frame in this read, delivered in place. */
    if (h.fin && c->rx_frames == 1 && len - (size_t)hl >= h.payload_len) {
        unsigned char *p = data + hl;

        parley__ws_unmask(p, (size_t)h.payload_len, h.mask, 0);
        c->frame_open = 0;
        c->rx_active = 0;
        if (deliver(c, p, (size_t)h.payload_len) < 0)
            return -1;
        return hl + (long)h.payload_len;
    }
    if (h.payload_len == 0) {
        long r = payload(c, data + hl, 0);

        return r < 0 ? -1 : hl;
    }
    return hl;
}

/* ------------------------------------------------------------------ */
/* The connection's end, liveness, drain                               */

void parley__ws_sock_gone(struct parley__sock *s)
{
    struct parley_conn *c = s->conn;
    int code;

    s->conn = NULL;
    if (c == NULL)
        return;
    c->sock = NULL;
    PARLEY__LIST_REMOVE(L.conns, c);
    parley__metric_add(L.m.websockets, -1);
    code = c->close_code ? c->close_code : c->peer_code ? c->peer_code : 1006;
    c->closed = 1;
    c->closing = 1;
    if (c->ep.on_close != NULL)
        c->ep.on_close(c->ep.arg, c, c->conn_ctx, code);
    if (!c->delivering)
        conn_free(c);
}

void parley__ws_check(struct parley__sock *s, uint64_t now)
{
    struct parley_conn *c = s->conn;
    uint64_t idle = L.opts.idle_timeout_ms;

    if (c == NULL) {
        if (s->deadline_ms != 0 && now >= s->deadline_ms)
            parley__sock_abort(s);
        return;
    }
    if (c->close_sent) {
        if (now >= s->deadline_ms) {
            L_DEBUG("websocket %s from %s: no close frame back in time", c->ep.prefix, c->remote);
            parley__sock_abort(s);
        }
        return;
    }
    if (now - s->last_rx_ms >= idle) {
        L_DEBUG("websocket %s from %s: silent for listener.idle_timeout; closing", c->ep.prefix,
                c->remote);
        parley__sock_abort(s);
        return;
    }
    /* Silent for half the idle time: ask it to say something. */
    if (!c->ping_sent && now - s->last_rx_ms >= idle / 2) {
        c->ping_sent = 1;
        (void)queue_control(s, PARLEY__WS_OP_PING, NULL, 0);
    }
}

void parley__ws_drain(const char *reason)
{
    for (struct parley_conn *c = L.conns; c != NULL; c = c->next)
        start_close(c, 1001, reason, CLOSE_WAIT_MS);
}

/* ------------------------------------------------------------------ */
/* SDK: sending and closing                                            */

int parley__conn_send(parley_conn *conn, parley_frame *frame)
{
    struct parley__sock *s;
    size_t wl;
    int rc;

    if (conn == NULL || frame == NULL)
        return PARLEY_EINVAL;
    s = conn->sock;
    if (conn->closing || conn->closed || s == NULL)
        return PARLEY_ECLOSED;
    wl = parley__frame_wire_size(frame);
    /* One frame may always be in flight, whatever its size; the cap bounds
     * the backlog behind it. */
    if (s->out_count > 0 && s->out_bytes + wl > L.opts.send_queue_max) {
        PARLEY__COUNT(ws_slow);
        L_WARN("websocket %s from %s: slow consumer, %zu bytes queued + %zu over "
               "listener.send_queue_max %zu; closing 1008",
               conn->ep.prefix, conn->remote, s->out_bytes, wl, L.opts.send_queue_max);
        parley__sock_queue_drop(s);
        start_close(conn, 1008, "slow consumer", CLOSE_GRACE_MS);
        return PARLEY_ELIMIT;
    }
    rc = parley__sock_queue_frame(s, frame);
    if (rc < 0)
        return rc;
    if (L.queued_total > L.opts.client_memory_max)
        return parley__listener_shed(conn);
    return 0;
}

void parley__conn_close(parley_conn *conn, int code, const char *reason)
{
    if (conn == NULL)
        return;
    /* Codes a peer may see: 1000-1003, 1007-1014, 3000-4999. */
    if (!((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
          (code >= 3000 && code <= 4999))) {
        L_DEBUG("conn_close: code %d cannot be sent; using 1000", code);
        code = 1000;
    }
    start_close(conn, code, reason, CLOSE_WAIT_MS);
}

const char *parley__conn_remote_addr(const parley_conn *conn)
{
    return conn ? conn->remote : "";
}
