/*
 * HTTP/1.1 requests on the shared listener: one request at a time per
 * connection (a pipelined one waits in the connection's input until the
 * answer before it is queued), heads parsed by http_parse.c, bodies by
 * Content-Length or chunked under the route's cap, the route's on_request
 * once the whole body is in, held requests (long-polling) with their own
 * timer, and the refusals the host answers itself.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "listener_int.h"
#include "list.h"
#include "listener_text.h"
#include "log.h"
#include "loop.h"

#define L parley__L

#define MAX_HOLD_MS (60ull * 60 * 1000)

const char *parley__http_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return status < 300 ? "OK" : status < 400 ? "Redirect" : status < 500 ? "Client Error"
                                                                                     : "Server Error";
    }
}

/* ------------------------------------------------------------------ */
/* Request objects                                                     */

static void hold_timer_closed(uv_handle_t *h)
{
    free(h);
}

void parley__http_request_free(struct parley_http_request *req)
{
    if (req == NULL)
        return;
    PARLEY__LIST_REMOVE(L.reqs, req);
    if (req->hold_timer != NULL)
        uv_close((uv_handle_t *)req->hold_timer, hold_timer_closed);
    free(req->path);
    free(req->query);
    free(req->head);
    free(req->h);
    free(req->body);
    free(req->chunked);
    free(req);
}

static char *dup_range(const char *base, uint32_t off, uint32_t len)
{
    char *s = malloc((size_t)len + 1);

    if (s == NULL)
        return NULL;
    memcpy(s, base + off, len);
    s[len] = '\0';
    return s;
}

static struct parley_http_request *request_new(struct parley__sock *s, const char *data,
                                               struct parley__http_head *h)
{
    struct parley_http_request *req = calloc(1, sizeof *req);

    if (req == NULL)
        return NULL;
    req->sock = s;
    req->h = h;
    snprintf(req->method, sizeof req->method, "%s", h->method);
    snprintf(req->remote, sizeof req->remote, "%s", s->remote);
    req->head = dup_range(data, 0, (uint32_t)h->head_len);
    req->path = h->path_len ? dup_range(data, h->path_off, h->path_len) : strdup("*");
    req->query = dup_range(data, h->query_off, h->query_len);
    if (req->head == NULL || req->path == NULL || req->query == NULL) {
        req->h = NULL;
        parley__http_request_free(req);
        return NULL;
    }
    req->http10 = h->version == 10;
    req->keepalive = h->keep_alive;
    req->head_only = strcmp(req->method, "HEAD") == 0;
    req->expect = h->expect_continue;
    req->content_length = h->content_length;
    PARLEY__LIST_PUSH(L.reqs, req);
    return req;
}

/* ------------------------------------------------------------------ */
/* Responses                                                           */

static int header_ok(const char *s)
{
    for (; *s != '\0'; s++)
        if (*s == '\r' || *s == '\n')
            return 0;
    return 1;
}

static int error_body(char *buf, size_t size, const char *code, const char *message)
{
    /* Messages are ours (no quotes or backslashes in them) except the
     * path, which the parser keeps free of both. */
    return snprintf(buf, size, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, message);
}

int parley__http_error_response(int status, const char *code, const char *message, int close,
                                char **out, size_t *out_len)
{
    char body[1400];
    int bl = error_body(body, sizeof body, code, message);
    size_t cap;
    char *buf;
    int n;

    if (bl < 0 || (size_t)bl >= sizeof body)
        bl = error_body(body, sizeof body, code, "request refused");
    cap = 256 + (size_t)bl;
    buf = malloc(cap);
    if (buf == NULL)
        return PARLEY_ENOMEM;
    n = snprintf(buf, cap,
                 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                 "%s\r\n%s",
                 status, parley__http_status_text(status), bl, close ? "Connection: close\r\n" : "",
                 body);
    if (n < 0 || (size_t)n >= cap) {
        free(buf);
        return PARLEY_EINTERNAL;
    }
    *out = buf;
    *out_len = (size_t)n;
    return 0;
}

/* Status line, headers, Content-Length and body in one buffer. */
static int build_response(struct parley_http_request *req, int status,
                          const parley_http_header *headers, size_t n_headers, const void *body,
                          size_t len, char **out, size_t *out_len)
{
    size_t cap = 160 + len, o;
    char *p;

    for (size_t i = 0; i < n_headers; i++)
        cap += strlen(headers[i].name) + strlen(headers[i].value) + 4;
    p = malloc(cap);
    if (p == NULL)
        return PARLEY_ENOMEM;
    o = (size_t)snprintf(p, cap, "HTTP/1.1 %d %s\r\n", status, parley__http_status_text(status));
    for (size_t i = 0; i < n_headers; i++) {
        /* The host owns the framing headers. */
        if (strcasecmp(headers[i].name, "content-length") == 0 ||
            strcasecmp(headers[i].name, "transfer-encoding") == 0 ||
            strcasecmp(headers[i].name, "connection") == 0)
            continue;
        o += (size_t)snprintf(p + o, cap - o, "%s: %s\r\n", headers[i].name, headers[i].value);
    }
    /* RFC 9110 8.6: never on a 1xx or 204, which have no body. */
    if (status >= 200 && status != 204)
        o += (size_t)snprintf(p + o, cap - o, "Content-Length: %zu\r\n", len);
    else
        len = 0;
    if (req->close_after || !req->keepalive)
        o += (size_t)snprintf(p + o, cap - o, "Connection: close\r\n");
    else if (req->http10)
        o += (size_t)snprintf(p + o, cap - o, "Connection: keep-alive\r\n");
    o += (size_t)snprintf(p + o, cap - o, "\r\n");
    if (len > 0 && !req->head_only) {
        memcpy(p + o, body, len);
        o += len;
    }
    *out = p;
    *out_len = o;
    return 0;
}

/*
 * The response is queued: the connection is done with this request. The
 * next one (already buffered, perhaps) may start, unless the connection
 * closes or a refused body still has to be read past.
 */
static void request_answered(struct parley_http_request *req)
{
    struct parley__sock *s = req->sock;
    int close = req->close_after || !req->keepalive;

    if (s == NULL)
        return;
    if (close) {
        s->req = NULL;
        req->sock = NULL;
        parley__sock_finish(s);
        return;
    }
    if (req->discard > 0)
        return;                 /* http_input drops the rest of the body, then ends it */
    s->req = NULL;
    req->sock = NULL;
    s->deadline_ms = parley__now_ms(NULL) + L.opts.idle_timeout_ms;
    parley__sock_process(s);
}

/* Queue a response; the request object stays the caller's to free. */
static int send_response(struct parley_http_request *req, int status,
                         const parley_http_header *headers, size_t n_headers, const void *body,
                         size_t len)
{
    char *resp;
    size_t rl;
    int rc;

    if (req->sock == NULL)
        return PARLEY_ECLOSED;
    rc = build_response(req, status, headers, n_headers, body, len, &resp, &rl);
    if (rc < 0) {
        /* Out of memory: close rather than leave the client hanging. */
        req->close_after = 1;
        request_answered(req);
        return rc;
    }
    rc = parley__sock_queue_owned(req->sock, resp, rl);
    request_answered(req);
    return rc;
}

static int respond_error(struct parley_http_request *req, int status, const char *code,
                         const char *message)
{
    static const parley_http_header json[] = { { "Content-Type", "application/json" } };
    char body[1400];
    int n = error_body(body, sizeof body, code, message);

    if (n < 0 || (size_t)n >= sizeof body)
        n = error_body(body, sizeof body, code, "request refused");
    return send_response(req, status, json, 1, body, (size_t)n);
}

static void count_status(int status)
{
    switch (status) {
    case 400: PARLEY__COUNT(http_400); break;
    case 404: PARLEY__COUNT(http_404); break;
    case 405: PARLEY__COUNT(refused_connect); break;
    case 408: PARLEY__COUNT(http_408); break;
    case 411: PARLEY__COUNT(http_411); break;
    case 413: PARLEY__COUNT(http_413); break;
    case 414: PARLEY__COUNT(http_414); break;
    case 431: PARLEY__COUNT(http_431); break;
    case 501: PARLEY__COUNT(http_501); break;
    case 503: PARLEY__COUNT(http_503); break;
    case 505: PARLEY__COUNT(http_505); break;
    default: break;
    }
}

/* A refusal before or instead of the route: the answer, then the
 * connection closes (gracefully: what the client still sends is read and
 * dropped, so the answer is not lost to a reset). */
static long refuse(struct parley__sock *s, int status, const char *code, const char *message)
{
    count_status(status);
    if (status == 405)
        L_WARN("refusing CONNECT from %s: not a proxy", s->remote);
    else
        L_DEBUG("request from %s refused %d: %s", s->remote, status, message);
    parley__sock_refuse(s, status, code, message);
    return -1;
}

/* The same, on a request already parsed; the connection lives when the
 * rest of the body (if any) is small enough to read past. */
static void refuse_request(struct parley_http_request *req, int status, const char *code,
                           const char *message, int keep)
{
    count_status(status);
    req->host_answer = 1;
    if (!keep)
        req->close_after = 1;
    respond_error(req, status, code, message);
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */

static void dispatch(struct parley__sock *s, struct parley_http_request *req)
{
    int rc;

    s->deadline_ms = 0;         /* the route answers; a held request has its own timer */
    req->dispatched = 1;
    req->headers_ok = 1;
    rc = req->route.on_request(req->route.arg, req);
    req->headers_ok = 0;
    /* Answered, or the connection died inside on_request (a held request
     * heard on_abort then): done with it. */
    if (req->responded || req->sock == NULL) {
        parley__http_request_free(req);
        return;
    }
    if (req->held)
        return;
    if (rc < 0)
        L_WARN("%s %s: route %s failed (%s); answering 500", req->method, req->path,
               req->route.prefix, parley_status_name(rc));
    else
        L_ERROR("%s %s: route %s returned without responding or holding; answering 500",
                req->method, req->path, req->route.prefix);
    req->host_answer = 1;
    respond_error(req, 500, "internal", "the handler did not answer");
    parley__http_request_free(req);
}

/* ------------------------------------------------------------------ */
/* Input                                                               */

static int is_body_method(const char *m)
{
    return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
}

/* A lone CR or LF in what has arrived of a head: refuse at once rather
 * than wait for a CRLF CRLF that may never come (bad-inputs G09). */
static int bare_line_end(const unsigned char *d, size_t from, size_t len)
{
    for (size_t i = from; i < len; i++) {
        if (d[i] == '\n' && (i == 0 || d[i - 1] != '\r'))
            return 1;
        if (d[i] == '\r' && i + 1 < len && d[i + 1] != '\n')
            return 1;
    }
    return 0;
}

static int body_append(struct parley_http_request *req, const unsigned char *d, size_t n)
{
    if (n == 0)
        return 0;
    if (req->body_len + n > req->body_cap) {
        size_t cap = req->content_length > req->body_len + n ? (size_t)req->content_length
                                                             : req->body_len + n;
        char *b;

        if (req->chunked != NULL && cap < req->body_cap * 2)
            cap = req->body_cap * 2;
        if (cap > req->max_body)
            cap = req->max_body;
        b = realloc(req->body, cap + 1);
        if (b == NULL)
            return -1;
        req->body = b;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, d, n);
    req->body_len += n;
    req->body[req->body_len] = '\0';
    return 0;
}

/* A complete first line without " HTTP/": HTTP/0.9, or not HTTP at all.
 * Refused when the line arrives, not after the header timeout (G15). */
static int first_line_unversioned(const unsigned char *d, size_t len)
{
    size_t i = 0, eol;
    const unsigned char *lf;

    while (i + 1 < len && d[i] == '\r' && d[i + 1] == '\n')
        i += 2;                 /* empty lines before the request line */
    lf = memchr(d + i, '\n', len - i);
    if (lf == NULL)
        return 0;
    eol = (size_t)(lf - d);
    for (size_t k = i; k + 6 <= eol; k++)
        if (memcmp(d + k, " HTTP/", 6) == 0)
            return 0;
    return 1;
}

/* A head over listener.max_header: 414 when its request line alone is
 * (however the bytes arrived), else 431. */
static long refuse_big_head(struct parley__sock *s, const unsigned char *data, size_t len)
{
    const unsigned char *lf = memchr(data, '\n', len);

    if (lf == NULL || (size_t)(lf - data) >= L.opts.max_header)
        return refuse(s, 414, "uri_too_long", "the request line is over listener.max_header");
    return refuse(s, 431, "header_too_large", "the request head is over listener.max_header");
}

/* Body bytes of the request being read; dispatch once complete. */
static long body_input(struct parley__sock *s, struct parley_http_request *req,
                       unsigned char *data, size_t len)
{
    if (req->chunked != NULL) {
        struct parley__http_refusal why;
        size_t out = 0;
        long used = parley__http_chunked_feed(req->chunked, (char *)data, len, &out,
                                              req->max_body, &why);

        if (used < 0) {
            s->req = NULL;
            req->sock = NULL;
            parley__http_request_free(req);
            return refuse(s, why.status, why.status == 413 ? "payload_too_large" : "bad_request",
                          why.message);
        }
        if (body_append(req, data, out) < 0) {
            s->req = NULL;
            req->sock = NULL;
            parley__http_request_free(req);
            return refuse(s, 500, "internal", "out of memory");
        }
        if (parley__http_chunked_done(req->chunked))
            dispatch(s, req);
        return used;
    }
    {
        size_t want = (size_t)(req->content_length - req->body_len);
        size_t n = len < want ? len : want;

        if (body_append(req, data, n) < 0) {
            s->req = NULL;
            req->sock = NULL;
            parley__http_request_free(req);
            return refuse(s, 500, "internal", "out of memory");
        }
        if (req->body_len == req->content_length)
            dispatch(s, req);
        return (long)n;
    }
}

/* Body bytes after a refusal on a connection that lives on. */
static long discard_input(struct parley__sock *s, struct parley_http_request *req, size_t len)
{
    size_t n = len < req->discard ? len : (size_t)req->discard;

    req->discard -= n;
    if (req->discard == 0) {
        s->req = NULL;
        req->sock = NULL;
        parley__http_request_free(req);
        s->deadline_ms = parley__now_ms(NULL) + L.opts.idle_timeout_ms;
    }
    return (long)n;
}

/*
 * A request the host answers itself instead of a route. With `keep` the
 * connection lives, after reading past up to `body` bytes still to come
 * (discard_input then ends the request); else it closes. Returns what
 * start_request returns.
 */
static long refuse_and_end(struct parley_http_request *req, size_t used, int status,
                           const char *code, const char *message, uint64_t body, int keep)
{
    req->discard = keep ? body : 0;
    refuse_request(req, status, code, message, keep);
    /* A request that asked for Connection: close is detached already. */
    if (req->discard > 0 && req->sock != NULL)
        return (long)used;
    parley__http_request_free(req);
    return keep ? (long)used : -1;
}

/* What to do with the request the head describes, before its body. */
static long start_request(struct parley__sock *s, struct parley_http_request *req, size_t used)
{
    struct parley__http_head *h = req->h;
    const struct parley__route *route;
    char msg[1200];

    s->req = req;
    if (L.draining)
        return refuse_and_end(req, used, 503, "shutting_down", "the server is shutting down", 0, 0);
    if (h->connection_upgrade &&
        parley__http_field_has_token(req->head, h, "upgrade", "websocket")) {
        s->req = NULL;
        req->sock = NULL;
        parley__ws_upgrade(s, req);
        parley__http_request_free(req);
        return (long)used;
    }
    if (is_body_method(req->method) && !h->has_content_length && !h->chunked)
        return refuse_and_end(req, used, 411, "length_required", "Content-Length is required", 0, 0);
    if (strcmp(req->path, "*") == 0) {
        /* OPTIONS * (the parser allows "*" with OPTIONS only): what the
         * server as a whole supports (RFC 9110 9.3.7). */
        static const parley_http_header allow[] = { { "Allow", "GET, HEAD, POST, OPTIONS" } };

        req->discard = h->content_length;
        if (h->chunked)
            req->close_after = 1;
        send_response(req, 200, allow, 1, "", 0);
        if (req->discard == 0 || req->sock == NULL)
            parley__http_request_free(req);     /* else discard_input ends it */
        return (long)used;
    }
    route = parley__route_match(req->path);
    req->max_body = route && route->r.max_body ? route->r.max_body : L.opts.max_body;
    if (h->content_length > req->max_body) {
        /* Small excess: read past the body, the connection lives. A client
         * waiting for 100-continue never sends it: close. */
        int keep = !req->expect && h->content_length <= (uint64_t)req->max_body + PARLEY__DISCARD_MAX;

        L_WARN("%s %s from %s: refused 413, Content-Length %" PRIu64 " over the cap %zu",
               req->method, req->path, s->remote, h->content_length, req->max_body);
        snprintf(msg, sizeof msg, "request body of %" PRIu64 " bytes is over the limit of %zu",
                 h->content_length, req->max_body);
        return refuse_and_end(req, used, 413, "payload_too_large", msg, h->content_length, keep);
    }
    if (route == NULL) {
        int keep = !req->expect && h->content_length <= PARLEY__DISCARD_MAX && !h->chunked;

        snprintf(msg, sizeof msg, "no route for %s", req->path);
        L_DEBUG("%s %s: 404, no route", req->method, req->path);
        return refuse_and_end(req, used, 404, "not_found", msg, h->content_length, keep);
    }
    req->route = route->r;
    if (h->chunked) {
        req->chunked = malloc(sizeof *req->chunked);
        if (req->chunked == NULL)
            return refuse_and_end(req, used, 500, "internal", "out of memory", 0, 0);
        parley__http_chunked_init(req->chunked);
    }
    if (req->expect && (h->content_length > 0 || h->chunked))
        (void)parley__sock_queue_copy(s, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    if (h->content_length == 0 && !h->chunked) {
        dispatch(s, req);
        return (long)used;
    }
    s->deadline_ms = parley__now_ms(NULL) + L.opts.header_timeout_ms;
    return (long)used;
}

long parley__http_input(struct parley__sock *s, unsigned char *data, size_t len)
{
    struct parley__http_refusal why;
    struct parley__http_head *h;
    struct parley_http_request *req = s->req;
    size_t end, seen;

    if (req != NULL) {
        if (req->discard > 0)
            return discard_input(s, req, len);
        if (!req->dispatched)
            return body_input(s, req, data, len);
        return 0;               /* pipelined: waits for the answer */
    }
    if (s->head_scanned == 0)
        s->deadline_ms = parley__now_ms(NULL) + L.opts.header_timeout_ms;
    seen = s->head_scanned;
    end = parley__http_head_end((const char *)data, len, &s->head_scanned);
    if (end == 0) {
        /* From one byte before what head_end had seen: a CR there may
         * have been waiting for its LF. */
        if (bare_line_end(data, seen > 0 ? seen - 1 : 0, len))
            return refuse(s, 400, "bad_request", "lines must end in CRLF");
        if (first_line_unversioned(data, len))
            return refuse(s, 400, "bad_request", "a request line needs an HTTP/1.x version");
        if (len >= L.opts.max_header)
            return refuse_big_head(s, data, len);
        return 0;
    }
    s->head_scanned = 0;
    if (end > L.opts.max_header)
        return refuse_big_head(s, data, end);
    h = malloc(sizeof *h);
    if (h == NULL)
        return refuse(s, 500, "internal", "out of memory");
    if (parley__http_parse_head((const char *)data, end, L.opts.max_header, h, &why) < 0) {
        free(h);
        return refuse(s, why.status,
                      why.status == 405 ? "method_not_allowed" :
                      why.status == 414 ? "uri_too_long" :
                      why.status == 431 ? "header_too_large" :
                      why.status == 501 ? "not_implemented" :
                      why.status == 505 ? "version_not_supported" : "bad_request",
                      why.message);
    }
    req = request_new(s, (const char *)data, h);
    if (req == NULL) {
        free(h);
        return refuse(s, 500, "internal", "out of memory");
    }
    return start_request(s, req, end);
}

void parley__http_timeout(struct parley__sock *s)
{
    struct parley_http_request *req = s->req;

    if (req != NULL && req->dispatched)
        return;                 /* the route's (a held request has its own timer) */
    if (req == NULL && s->in_len == 0) {
        L_DEBUG("idle keep-alive connection from %s closed", s->remote);
        parley__sock_finish(s);
        return;
    }
    if (req != NULL) {
        s->req = NULL;
        req->sock = NULL;
        parley__http_request_free(req);
    }
    PARLEY__COUNT(http_408);
    L_DEBUG("request from %s: head or body not complete within listener.header_timeout",
            s->remote);
    parley__sock_refuse(s, 408, "request_timeout",
                        "the request did not arrive within listener.header_timeout");
}

/* ------------------------------------------------------------------ */
/* Held requests, the connection going away, drain                     */

static void abort_held(struct parley_http_request *req)
{
    if (!req->held || req->responded || req->aborted)
        return;
    req->aborted = 1;
    if (req->route.on_abort != NULL)
        req->route.on_abort(req->route.arg, req, req->req_ctx);
}

void parley__http_sock_gone(struct parley__sock *s)
{
    struct parley_http_request *req = s->req;

    s->req = NULL;
    if (req == NULL)
        return;
    req->sock = NULL;
    if (req->dispatched && !req->responded) {
        L_DEBUG("%s %s: peer went away before the answer", req->method, req->path);
        abort_held(req);
        if (req->headers_ok)
            return;             /* inside on_request: dispatch frees it */
    }
    parley__http_request_free(req);
}

static void on_hold_timeout(uv_timer_t *t)
{
    struct parley_http_request *req = t->data;

    if (req->responded || req->aborted)
        return;
    L_DEBUG("%s %s: held request timed out", req->method, req->path);
    abort_held(req);
    refuse_request(req, 504, "hold_timeout", "the held request timed out", 1);
    parley__http_request_free(req);
}

void parley__http_drain(void)
{
    struct parley_http_request *req, *next;

    for (req = L.reqs; req != NULL; req = next) {
        next = req->next;
        if (!req->held || req->responded || req->aborted)
            continue;
        abort_held(req);
        refuse_request(req, 503, "shutting_down", "the server is shutting down", 0);
        parley__http_request_free(req);
    }
}

/* ------------------------------------------------------------------ */
/* SDK accessors                                                       */

const char *parley__http_method(const parley_http_request *req)
{
    return req ? req->method : "";
}

const char *parley__http_path(const parley_http_request *req)
{
    return req ? req->path : "";
}

const char *parley__http_query(const parley_http_request *req)
{
    return req ? req->query : "";
}

int parley__http_query_param(const parley_http_request *req, const char *key, char *out,
                             size_t out_size)
{
    if (req == NULL || key == NULL)
        return PARLEY_EINVAL;
    return parley__text_query_param(req->query, key, out, out_size);
}

int parley__http_header(const parley_http_request *req, const char *name, char *out,
                        size_t out_size)
{
    int n;

    if (req == NULL || name == NULL || out == NULL || out_size == 0 || out_size > INT32_MAX)
        return PARLEY_EINVAL;
    out[0] = '\0';
    if (!req->headers_ok || req->h == NULL)
        return PARLEY_ENOTFOUND;
    n = parley__http_field_get(req->head, req->h, name, out, out_size);
    if (n == -1)
        return PARLEY_ENOTFOUND;
    if (n < 0)
        return PARLEY_ETOOBIG;
    return n;
}

const void *parley__http_body(const parley_http_request *req, size_t *len)
{
    if (req == NULL || req->body_len == 0) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    if (len != NULL)
        *len = req->body_len;
    return req->body;
}

const char *parley__http_remote_addr(const parley_http_request *req)
{
    return req ? req->remote : "";
}

int parley__http_respond(parley_http_request *req, int status, const parley_http_header *headers,
                         size_t n_headers, const void *body, size_t len)
{
    int rc = 0;

    if (req == NULL || req->upgrade)
        return PARLEY_EINVAL;
    if (req->aborted && !req->host_answer)
        return PARLEY_ECLOSED;  /* after on_abort the request is the host's */
    if (req->responded) {
        L_ERROR("%s %s: http_respond called twice (route %s)", req->method, req->path,
                req->route.prefix);
        return PARLEY_EINVAL;
    }
    if (status < 100 || status > 599 || (body == NULL && len > 0) ||
        (n_headers > 0 && headers == NULL)) {
        L_ERROR("%s %s: http_respond with status %d, body %s, %zu headers: answering 500",
                req->method, req->path, status, body ? "set" : "NULL", n_headers);
        rc = PARLEY_EINVAL;
    }
    for (size_t i = 0; rc == 0 && i < n_headers; i++)
        if (headers[i].name == NULL || headers[i].value == NULL || !header_ok(headers[i].name) ||
            !header_ok(headers[i].value) || headers[i].name[0] == '\0') {
            L_ERROR("%s %s: response header %zu has CR/LF or is empty: answering 500",
                    req->method, req->path, i);
            rc = PARLEY_EINVAL;
        }
    if (rc < 0) {
        headers = NULL;
        n_headers = 0;
        status = 500;
        body = "";
        len = 0;
    }
    req->responded = 1;
    if (req->sock == NULL) {
        if (req->held && !req->headers_ok)
            parley__http_request_free(req);
        return PARLEY_ECLOSED;
    }
    {
        int held = req->held && !req->headers_ok;
        int r = send_response(req, status, headers, n_headers, body, len);

        if (held)
            parley__http_request_free(req);   /* dispatch frees the others */
        return rc < 0 ? rc : r;
    }
}

int parley__http_hold(parley_http_request *req, uint64_t timeout_ms, void *req_ctx)
{
    if (req == NULL || req->upgrade || req->sock == NULL)
        return PARLEY_EINVAL;
    if (req->responded || req->held)
        return PARLEY_EINVAL;
    if (timeout_ms == 0 || timeout_ms > MAX_HOLD_MS)
        timeout_ms = timeout_ms == 0 ? L.opts.idle_timeout_ms : MAX_HOLD_MS;
    req->hold_timer = malloc(sizeof *req->hold_timer);
    if (req->hold_timer == NULL)
        return PARLEY_ENOMEM;
    uv_timer_init(parley__loop(), req->hold_timer);
    req->hold_timer->data = req;
    uv_timer_start(req->hold_timer, on_hold_timeout, timeout_ms, 0);
    req->held = 1;
    req->req_ctx = req_ctx;
    return 0;
}
