/*
 * WebSocket connections on the shared listener: the upgrade decision (with
 * the CVE-2025-11677 / CVE-2026-19773 guard), message reassembly with the
 * size cap and UTF-8 check, closing from either side, and the write path:
 * a ring of shared frames per connection, all of it copied into one batch
 * and handed to lws in one LWS_WRITE_RAW write per writeable callback.
 *
 * Why LWS_WRITE_RAW: frames are pre-framed (frame.h builds each header
 * once), and on a ws wsi lws 4.1.6 sends RAW bytes through lws_issue_raw
 * unchanged; whatever the socket does not take is copied into lws's own
 * buflist and flushed before lws calls us writeable again or sends a
 * control frame. A batch therefore always ends on a frame boundary, so a
 * pong or close from lws never lands inside one of our frames.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "frame.h"
#include "listener_int.h"
#include "listener_text.h"
#include "log.h"
#include "metrics.h"
#include "validate.h"

#define L parley__L

/* Keep at most this much receive buffer between messages. */
#define RX_KEEP (64 * 1024)

/* Frames one message may be split into (bad-inputs F22/F23: floods of empty
 * or one-byte fragments). One frame sent a byte at a time is still one. */
#define RX_FRAMES_MAX 1024

/* ------------------------------------------------------------------ */
/* Upgrade                                                             */

/* RFC 6455 4.1: an upgrade is an HTTP/1.1 request (lws keeps the request
 * line's version under WSI_TOKEN_HTTP, as listener_http.c reads it). */
static int http11_or_later(struct lws *wsi)
{
    char v[16];

    return lws_hdr_copy(wsi, v, sizeof v, WSI_TOKEN_HTTP) > 7 && v[5] == '1' && v[7] >= '1';
}

/* RFC 6455 4.2.1: the key is 16 random bytes in base64, i.e. 22 characters
 * of the alphabet and "==". Two Sec-WebSocket-Key headers reach us joined by
 * a comma, which fails this too. */
static int websocket_key_valid(struct lws *wsi)
{
    char key[64];
    int n = lws_hdr_copy(wsi, key, sizeof key, WSI_TOKEN_KEY);

    if (n != 24 || key[22] != '=' || key[23] != '=')
        return 0;
    for (int i = 0; i < 22; i++) {
        char ch = key[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '+' || ch == '/'))
            return 0;
    }
    return 1;
}

static int header_has_token(struct lws *wsi, enum lws_token_indexes tok, const char *want)
{
    char buf[256], *save = NULL, *t;

    if (lws_hdr_copy(wsi, buf, sizeof buf, tok) <= 0)
        return 0;
    for (t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ' || *t == '\t')
            t++;
        size_t n = strlen(t);
        while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
            t[--n] = '\0';
        if (strcasecmp(t, want) == 0)
            return 1;
    }
    return 0;
}

/* Answer a refused upgrade before any 101 and hang up. */
static int refuse_upgrade(struct lws *wsi, int status, const char *message)
{
    char head[256];
    unsigned char *buf;
    size_t ml = strlen(message);
    int hl;

    hl = snprintf(head, sizeof head,
                  "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                  "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                  status, parley__http_status_text(status), ml);
    buf = malloc(LWS_PRE + (size_t)hl + ml);
    if (buf != NULL) {
        memcpy(buf + LWS_PRE, head, (size_t)hl);
        memcpy(buf + LWS_PRE + hl, message, ml);
        (void)lws_write(wsi, buf + LWS_PRE, (size_t)hl + ml, LWS_WRITE_HTTP);
        free(buf);
    }
    return -1;
}

static void printable(char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            *s = '?';
}

/*
 * LWS_CALLBACK_HTTP_CONFIRM_UPGRADE. lws 4.1.6 calls it before switching to
 * WebSocket or h2c, and also (CVE-2025-11677) after it already answered
 * 403 to an unknown Upgrade and completed the transaction, with `in`
 * pointing at released header memory. So: never read `in`; read Upgrade
 * through lws_hdr_copy, which finds nothing once the header table is gone;
 * accept only "websocket" on a registered endpoint; everything else, h2c
 * included (CVE-2026-19773, HPACK), hangs up (-1).
 */
int parley__ws_confirm_upgrade(struct lws *wsi)
{
    const struct parley__endpoint *ep;
    struct parley_http_request *req;
    struct parley_conn *conn;
    parley_error e = PARLEY_ERROR_INIT;
    char up[64], peer[64] = "";
    void *ctx = NULL;
    int n, rc;

    n = lws_hdr_copy(wsi, up, sizeof up, WSI_TOKEN_UPGRADE);
    if (n <= 0) {
        L_DEBUG("upgrade from %s refused: no Upgrade header left (transaction already over)",
                parley__peer(wsi, peer, sizeof peer));
        return -1;
    }
    if (strcasecmp(up, "websocket") != 0) {
        printable(up);
        PARLEY__COUNT(refused_upgrade);
        L_WARN("upgrade to \"%s\" from %s refused: only websocket is served", up,
               parley__peer(wsi, peer, sizeof peer));
        return -1;
    }
    req = parley__http_request_new(wsi);
    if (req == NULL)
        return -1;
    req->upgrade = 1;
    if (strcmp(req->method, "GET") != 0) {
        L_WARN("websocket upgrade with %s %s refused: must be GET", req->method, req->path);
        parley__http_request_free(req);
        return -1;
    }
    ep = parley__endpoint_match(req->path);
    if (ep == NULL) {
        PARLEY__COUNT(refused_upgrade);
        L_DEBUG("websocket upgrade on %s from %s refused: no endpoint", req->path,
                parley__peer(wsi, peer, sizeof peer));
        parley__http_request_free(req);
        return -1;
    }
    /* What lws would reject only after we accepted: check it now, so an
     * accepted upgrade always reaches ESTABLISHED. */
    if (!header_has_token(wsi, WSI_TOKEN_CONNECTION, "upgrade") ||
        lws_hdr_total_length(wsi, WSI_TOKEN_KEY) <= 0) {
        L_DEBUG("websocket upgrade on %s refused: Connection: upgrade or Sec-WebSocket-Key missing",
                req->path);
        parley__http_request_free(req);
        return refuse_upgrade(wsi, 400, "malformed websocket handshake");
    }
    if (!http11_or_later(wsi)) {
        L_DEBUG("websocket upgrade on %s refused: not HTTP/1.1", req->path);
        parley__http_request_free(req);
        return refuse_upgrade(wsi, 400, "websocket upgrades need HTTP/1.1");
    }
    if (!websocket_key_valid(wsi)) {
        L_DEBUG("websocket upgrade on %s refused: Sec-WebSocket-Key is not 16 bytes in base64",
                req->path);
        parley__http_request_free(req);
        return refuse_upgrade(wsi, 400, "Sec-WebSocket-Key must be 16 bytes in base64");
    }
    {
        char ver[8];

        /* lws would treat any other version as 13. */
        if (lws_hdr_copy(wsi, ver, sizeof ver, WSI_TOKEN_VERSION) <= 0 || strcmp(ver, "13") != 0) {
            L_DEBUG("websocket upgrade on %s refused: Sec-WebSocket-Version is not 13", req->path);
            parley__http_request_free(req);
            return refuse_upgrade(wsi, 400, "Sec-WebSocket-Version must be 13");
        }
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL) > 0) {
        L_DEBUG("websocket upgrade on %s refused: Sec-WebSocket-Protocol is not supported",
                req->path);
        parley__http_request_free(req);
        return refuse_upgrade(wsi, 400, "websocket subprotocols are not supported");
    }
    if (L.draining) {
        parley__http_request_free(req);
        return refuse_upgrade(wsi, 503, "the server is shutting down");
    }
    conn = calloc(1, sizeof *conn);
    if (conn == NULL) {
        parley__http_request_free(req);
        return refuse_upgrade(wsi, 500, "out of memory");
    }
    conn->ep = ep->e;
    conn->max_message = ep->e.max_message ? ep->e.max_message : L.opts.max_message;

    req->headers_ok = 1;
    rc = ep->e.on_upgrade ? ep->e.on_upgrade(ep->e.arg, req, &ctx, &e) : 0;
    req->headers_ok = 0;
    if (rc != 0) {
        int status = rc >= 400 && rc <= 599 ? rc : 500;
        const char *msg = e.message[0] ? e.message : status == 500 ? "upgrade failed" : "refused";

        L_WARN("websocket upgrade on %s from %s refused by the endpoint: %d %s", req->path,
               parley__peer(wsi, peer, sizeof peer), status, msg);
        free(conn);
        parley__http_request_free(req);
        return refuse_upgrade(wsi, status, msg);
    }
    conn->conn_ctx = ctx;
    if (L.pending_conn != NULL)
        parley__ws_on_destroy(L.pending_wsi);   /* never happens: one stack */
    L.pending_wsi = wsi;
    L.pending_conn = conn;
    parley__http_request_free(req);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Connection list, queue                                              */

static void conn_list_add(struct parley_conn *c)
{
    c->prev = NULL;
    c->next = L.conns;
    if (L.conns != NULL)
        L.conns->prev = c;
    L.conns = c;
}

static void conn_list_del(struct parley_conn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else if (L.conns == c)
        L.conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

/* Every change of a queue's size goes through here: the global figure
 * client_memory_max is checked against. */
static void account(struct parley_conn *c, size_t add, size_t sub)
{
    c->queued = c->queued + add - sub;
    L.queued_total = L.queued_total + add - sub;
    parley__metric_set(L.m.client_memory, (double)L.queued_total);
}

/* The receive buffer counts too: a client that announces a big message and
 * sends it slowly holds that much of our memory. */
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

static int shed(struct parley_conn *self);

static void queue_drop(struct parley_conn *c)
{
    while (c->ring_count > 0) {
        parley__frame_release(c->ring[c->ring_head]);
        c->ring_head = (c->ring_head + 1) % c->ring_cap;
        c->ring_count--;
    }
    c->ring_head = 0;
    account(c, 0, c->queued);
}

static void conn_free(struct parley_conn *c)
{
    queue_drop(c);
    free(c->ring);
    rx_free(c);
    free(c);
}

static void start_close(struct parley_conn *c, int code, const char *reason, int grace_s)
{
    if (c->closing || c->wsi == NULL)
        return;
    c->closing = 1;
    c->close_code = code;
    /* A close frame carries 125 bytes: the code and 123 of reason. */
    snprintf(c->close_reason, sizeof c->close_reason, "%.123s", reason ? reason : "");
    lws_callback_on_writable(c->wsi);
    /* If the peer never reads, writeable never comes: kill it then. */
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, grace_s);
}

int parley__ws_on_established(struct lws *wsi, struct parley__pss *pss)
{
    struct parley_conn *c;

    if (L.pending_wsi != wsi || L.pending_conn == NULL) {
        L_ERROR("websocket established without an accepted upgrade; closing");
        return -1;
    }
    c = L.pending_conn;
    L.pending_conn = NULL;
    L.pending_wsi = NULL;
    c->wsi = wsi;
    pss->conn = c;
    conn_list_add(c);
    parley__metric_add(L.m.websockets, 1);
    c->opened = 1;
    if (c->ep.on_open != NULL)
        c->ep.on_open(c->ep.arg, c, c->conn_ctx);
    if (L.draining)
        start_close(c, 1001, L.drain_reason, 5);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Receive                                                             */

static int close_now(struct lws *wsi, struct parley_conn *c, int code, const char *reason)
{
    c->closing = 1;
    c->close_code = code;
    snprintf(c->close_reason, sizeof c->close_reason, "%s", reason);
    lws_close_reason(wsi, (enum lws_close_status)code, (unsigned char *)c->close_reason,
                     strlen(c->close_reason));
    /* lws sends this close frame itself as we return -1: ours would be a
     * second one. */
    c->close_sent = 1;
    return -1;
}

static int deliver(struct lws *wsi, struct parley_conn *c, const unsigned char *data, size_t len)
{
    if (!c->rx_binary && !parley__utf8_valid((const char *)data, len, NULL)) {
        char peer[64] = "";

        PARLEY__COUNT(ws_1007);
        L_WARN("websocket %s from %s: text message is not valid UTF-8; closing 1007",
               c->ep.prefix, parley__peer(wsi, peer, sizeof peer));
        return close_now(wsi, c, 1007, "invalid UTF-8");
    }
    c->ep.on_message(c->ep.arg, c, c->conn_ctx, data, len, c->rx_binary);
    return 0;
}

int parley__ws_on_receive(struct lws *wsi, struct parley__pss *pss, const void *in, size_t len)
{
    struct parley_conn *c = pss->conn;
    size_t remaining, total;
    int first, final;

    if (c == NULL)
        return -1;
    if (c->closing)
        return 0;               /* we are closing: drop what still arrives */
    first = lws_is_first_fragment(wsi);
    final = lws_is_final_fragment(wsi);
    remaining = lws_remaining_packet_payload(wsi);
    if (first) {
        c->rx_len = 0;
        c->rx_binary = lws_frame_is_binary(wsi);
        c->rx_active = 1;
        c->rx_frames = 0;
        c->rx_frame_open = 0;
    }
    if (!c->rx_active)
        return 0;
    /* lws hands a frame over in pieces; a piece after one that finished its
     * frame begins the next frame. */
    if (!c->rx_frame_open && ++c->rx_frames > RX_FRAMES_MAX) {
        char peer[64] = "";

        PARLEY__COUNT(ws_1009);
        L_WARN("websocket %s from %s: message split into more than %d frames; closing 1009",
               c->ep.prefix, parley__peer(wsi, peer, sizeof peer), RX_FRAMES_MAX);
        return close_now(wsi, c, 1009, "too many fragments");
    }
    c->rx_frame_open = remaining > 0;
    /* Decide from the announced frame length, before buffering any of it. */
    total = c->rx_len + len;
    if (total < len || total + remaining < total || total + remaining > c->max_message) {
        char peer[64] = "";

        PARLEY__COUNT(ws_1009);
        L_WARN("websocket %s from %s: message of at least %zu bytes is over the cap %zu; "
               "closing 1009", c->ep.prefix, parley__peer(wsi, peer, sizeof peer),
               total + remaining, c->max_message);
        return close_now(wsi, c, 1009, "message too big");
    }
    if (first && final) {
        c->rx_active = 0;
        return deliver(wsi, c, in, len);    /* the common case: no copy */
    }
    if (total + remaining > c->rx_cap) {
        size_t want = total + remaining, cap = c->rx_cap ? c->rx_cap : 4096;
        unsigned char *b;

        while (cap < want)
            cap = cap > c->max_message / 2 ? c->max_message : cap * 2;
        b = realloc(c->rx, cap);
        if (b == NULL)
            return close_now(wsi, c, 1011, "out of memory");
        rx_set(c, b, cap);
        if (L.queued_total > L.opts.client_memory_max) {
            (void)shed(c);
            if (c->closing)
                return 0;       /* it was the biggest: its buffer is gone, it is closing */
        }
    }
    if (len > 0)                /* an empty fragment: c->rx may still be NULL */
        memcpy(c->rx + c->rx_len, in, len);
    c->rx_len = total;
    if (!final)
        return 0;
    c->rx_active = 0;
    {
        int rc;

        c->delivering = 1;
        rc = deliver(wsi, c, c->rx, c->rx_len);
        if (pss->conn == c)
            c->delivering = 0;
        if (pss->conn == c && c->rx_cap > RX_KEEP)
            rx_free(c);
        c->rx_len = 0;
        return rc;
    }
}

int parley__ws_on_peer_close(struct lws *wsi, struct parley__pss *pss, const void *in,
                             size_t len)
{
    struct parley_conn *c = pss->conn;
    const unsigned char *p = in;

    if (c == NULL)
        return 0;
    /* The answer to our own close frame (send_close): hang up. */
    if (c->close_sent)
        return -1;
    /* lws has already replaced a code the RFC forbids on the wire by 1002;
     * returning 0 lets lws echo the close. */
    c->peer_code = len >= 2 && p != NULL ? (p[0] << 8) | p[1] : 1005;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Write                                                               */

static void pop(struct parley_conn *c, size_t wire)
{
    parley__frame_release(c->ring[c->ring_head]);
    c->ring[c->ring_head] = NULL;
    c->ring_head = (c->ring_head + 1) % c->ring_cap;
    c->ring_count--;
    account(c, 0, wire);
}

/*
 * Our close frame, pre-framed like the data before it. Returning -1 from
 * SERVER_WRITEABLE after lws_close_reason would be the documented way, but
 * Debian's lws 4.1.6 is a _DEBUG build whose libuv service path closes the
 * wsi twice ("uv repeat test") and the second close kills the socket before
 * the close frame is sent. So we send it ourselves, and hang up when the
 * peer's answering close arrives (or after PENDING_TIMEOUT_CLOSE_ACK).
 */
static int send_close(struct lws *wsi, struct parley_conn *c)
{
    unsigned char *f = L.scratch + LWS_PRE;
    size_t rl = strlen(c->close_reason);

    if (rl > 123)
        rl = 123;
    f[0] = 0x88;                            /* FIN + close */
    f[1] = (unsigned char)(2 + rl);
    f[2] = (unsigned char)(c->close_code >> 8);
    f[3] = (unsigned char)c->close_code;
    memcpy(f + 4, c->close_reason, rl);
    if (lws_write(wsi, f, 4 + rl, LWS_WRITE_RAW) < 0)
        return -1;
    c->close_sent = 1;
    lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK, 5);
    return 0;
}

int parley__ws_on_writeable(struct lws *wsi, struct parley__pss *pss)
{
    struct parley_conn *c = pss->conn;
    unsigned char *batch = L.scratch + LWS_PRE;
    size_t off = 0, frames = 0;

    if (c == NULL || c->close_sent)
        return 0;               /* nothing may follow a close frame */
    if (c->ring_count == 0) {
        if (!c->closing)
            return 0;
        return send_close(wsi, c);
    }
    while (c->ring_count > 0) {
        size_t wl;
        const unsigned char *wire = parley__frame_wire(c->ring[c->ring_head], &wl);

        if (off + wl > PARLEY__WRITE_BATCH) {
            if (off > 0)
                break;
            /* A frame larger than the batch goes alone, straight from the
             * frame; lws copies what the socket does not take. */
            if (lws_write(wsi, (unsigned char *)wire, wl, LWS_WRITE_RAW) < 0)
                return -1;
            pop(c, wl);
            parley__metric_add(L.m.ws_writes, 1);
            parley__metric_add(L.m.ws_frames, 1);
            parley__metric_add(L.m.ws_bytes, (double)wl);
            goto more;
        }
        memcpy(batch + off, wire, wl);
        off += wl;
        pop(c, wl);
        frames++;
    }
    if (lws_write(wsi, batch, off, LWS_WRITE_RAW) < 0)
        return -1;
    parley__metric_add(L.m.ws_writes, 1);
    parley__metric_add(L.m.ws_frames, (double)frames);
    parley__metric_add(L.m.ws_bytes, (double)off);
more:
    if (c->ring_count > 0 || c->closing)
        lws_callback_on_writable(wsi);
    return 0;
}

/*
 * Over listener.client_memory_max: close the connections with the biggest
 * queues until the total is back under it (Redis maxmemory-clients evicts
 * the same way). A queue counts the wire bytes of its frames, so a
 * broadcast frame shared by many queues counts in each. The scan is
 * linear, but runs only when the cap is hit. Returns PARLEY_ELIMIT when
 * `self` (the connection just sent on) was one of them, else 0.
 */
static int shed(struct parley_conn *self)
{
    int rc = 0;

    while (L.queued_total > L.opts.client_memory_max) {
        struct parley_conn *big = NULL;
        char peer[64] = "";

        for (struct parley_conn *c = L.conns; c != NULL; c = c->next)
            if (!c->closing && c->queued + c->rx_cap > 0 &&
                (big == NULL || c->queued + c->rx_cap > big->queued + big->rx_cap))
                big = c;
        if (big == NULL)
            break;
        PARLEY__COUNT(ws_shed);
        L_WARN("websocket %s from %s: %zu bytes queued and %zu receiving, the most while all "
               "clients hold %zu over listener.client_memory_max %zu; closing 1008",
               big->ep.prefix, parley__peer(big->wsi, peer, sizeof peer), big->queued,
               big->rx_cap, L.queued_total, L.opts.client_memory_max);
        queue_drop(big);
        if (!big->delivering)
            rx_free(big);
        start_close(big, 1008, "memory pressure", 2);
        if (big == self)
            rc = PARLEY_ELIMIT;
    }
    return rc;
}

int parley__conn_send(parley_conn *conn, parley_frame *frame)
{
    size_t wl;

    if (conn == NULL || frame == NULL)
        return PARLEY_EINVAL;
    if (conn->closing || conn->closed || conn->wsi == NULL)
        return PARLEY_ECLOSED;
    wl = parley__frame_wire_size(frame);
    /* One frame may always be in flight, whatever its size; the cap bounds
     * the backlog behind it. */
    if (conn->ring_count > 0 && conn->queued + wl > L.opts.send_queue_max) {
        char peer[64] = "";

        PARLEY__COUNT(ws_slow);
        L_WARN("websocket %s from %s: slow consumer, %zu bytes queued + %zu over "
               "listener.send_queue_max %zu; closing 1008",
               conn->ep.prefix, parley__peer(conn->wsi, peer, sizeof peer), conn->queued, wl,
               L.opts.send_queue_max);
        queue_drop(conn);
        start_close(conn, 1008, "slow consumer", 2);
        return PARLEY_ELIMIT;
    }
    if (conn->ring_count == conn->ring_cap) {
        uint32_t cap = conn->ring_cap ? conn->ring_cap * 2 : 16;
        parley_frame **r = malloc(cap * sizeof *r);

        if (r == NULL || cap < conn->ring_cap) {
            free(r);
            return PARLEY_ENOMEM;
        }
        for (uint32_t i = 0; i < conn->ring_count; i++)
            r[i] = conn->ring[(conn->ring_head + i) % conn->ring_cap];
        free(conn->ring);
        conn->ring = r;
        conn->ring_cap = cap;
        conn->ring_head = 0;
    }
    conn->ring[(conn->ring_head + conn->ring_count) % conn->ring_cap] =
        parley__frame_retain(frame);
    conn->ring_count++;
    account(conn, wl, 0);
    if (conn->ring_count == 1)
        lws_callback_on_writable(conn->wsi);
    if (L.queued_total > L.opts.client_memory_max)
        return shed(conn);
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
    start_close(conn, code, reason, 5);
}

const char *parley__conn_remote_addr(const parley_conn *conn)
{
    struct parley_conn *c = (struct parley_conn *)conn;

    if (c == NULL)
        return "";
    return parley__peer(c->wsi, c->remote, sizeof c->remote);
}

/* ------------------------------------------------------------------ */
/* Close                                                               */

void parley__ws_on_closed(struct lws *wsi, struct parley__pss *pss)
{
    struct parley_conn *c = pss->conn;
    int code;

    if (c == NULL)
        return;
    pss->conn = NULL;
    if (c->remote[0] == '\0')
        parley__peer(wsi, c->remote, sizeof c->remote);
    conn_list_del(c);
    parley__metric_add(L.m.websockets, -1);
    code = c->close_code ? c->close_code : c->peer_code ? c->peer_code : 1006;
    c->closed = 1;
    c->wsi = NULL;
    queue_drop(c);
    if (c->ep.on_close != NULL)
        c->ep.on_close(c->ep.arg, c, c->conn_ctx, code);
    conn_free(c);
}

/* An upgrade accepted by its endpoint whose connection died before
 * ESTABLISHED: the endpoint still hears on_close, so it can free its ctx. */
void parley__ws_on_destroy(struct lws *wsi)
{
    struct parley_conn *c = L.pending_conn;

    if (c == NULL || L.pending_wsi != wsi)
        return;
    L.pending_conn = NULL;
    L.pending_wsi = NULL;
    c->closed = 1;
    if (c->ep.on_close != NULL)
        c->ep.on_close(c->ep.arg, c, c->conn_ctx, 1006);
    conn_free(c);
}

unsigned parley__listener_unflushed(void)
{
    unsigned n = 0;

    for (struct parley_conn *c = L.conns; c != NULL; c = c->next)
        if (c->wsi != NULL && (c->ring_count > 0 || !c->close_sent ||
                               lws_partial_buffered(c->wsi)))
            n++;
    return n;
}

void parley__ws_drain(const char *reason)
{
    for (struct parley_conn *c = L.conns; c != NULL; c = c->next)
        start_close(c, 1001, reason, 5);
}
