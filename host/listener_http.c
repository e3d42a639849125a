/*
 * HTTP requests on the shared listener: request state in our own
 * allocations (lws frees its per-session data between keep-alive requests),
 * body accumulation under the route's cap, whole responses written in one
 * lws_write from LWS_CALLBACK_HTTP_WRITEABLE, and held requests
 * (long-polling) that outlive lws's 5 s content timeout.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "listener_int.h"
#include "listener_text.h"
#include "log.h"

#define L parley__L

/* The request-line methods lws parses, each its own header token. */
static const struct {
    enum lws_token_indexes tok;
    const char *name;
} methods[] = {
    { WSI_TOKEN_GET_URI, "GET" },       { WSI_TOKEN_POST_URI, "POST" },
    { WSI_TOKEN_OPTIONS_URI, "OPTIONS" }, { WSI_TOKEN_PUT_URI, "PUT" },
    { WSI_TOKEN_PATCH_URI, "PATCH" },   { WSI_TOKEN_DELETE_URI, "DELETE" },
    { WSI_TOKEN_HEAD_URI, "HEAD" },     { WSI_TOKEN_CONNECT, "CONNECT" },
};

#define MAX_HOLD_MS (60ull * 60 * 1000)
/* How often a held request checks that its peer is still there. */
#define HOLD_POLL_MS 250ull

static uint64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const char *parley__peer(struct lws *wsi, char *buf, size_t size)
{
    if (buf[0] == '\0' && wsi != NULL) {
        if (lws_get_peer_simple(wsi, buf, size) == NULL)
            snprintf(buf, size, "unknown");
        buf[size - 1] = '\0';
    }
    return buf;
}

const char *parley__http_status_text(int status)
{
    switch (status) {
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
    default: return status < 300 ? "OK" : status < 400 ? "Redirect" : status < 500 ? "Client Error"
                                                                                     : "Server Error";
    }
}

/* ------------------------------------------------------------------ */
/* Request objects                                                     */

static void list_add(struct parley_http_request *req)
{
    req->next = L.reqs;
    req->prev = NULL;
    if (L.reqs != NULL)
        L.reqs->prev = req;
    L.reqs = req;
}

static void list_del(struct parley_http_request *req)
{
    if (req->prev != NULL)
        req->prev->next = req->next;
    else if (L.reqs == req)
        L.reqs = req->next;
    if (req->next != NULL)
        req->next->prev = req->prev;
    req->prev = req->next = NULL;
}

/* Fill req->method and copy the request-line URI (lws's decoded path). */
static char *copy_method(struct lws *wsi, struct parley_http_request *req, int *uri_len)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        int n = lws_hdr_total_length(wsi, methods[i].tok);
        char *uri;

        if (n <= 0)
            continue;
        snprintf(req->method, sizeof req->method, "%s", methods[i].name);
        uri = malloc((size_t)n + 1);
        if (uri == NULL || lws_hdr_copy(wsi, uri, n + 1, methods[i].tok) < 0) {
            free(uri);
            return NULL;
        }
        /* "/%00" reaches us as an embedded NUL; the path ends there. */
        *uri_len = (int)strlen(uri);
        return uri;
    }
    return NULL;
}

/* lws 4.1.6 has already percent-decoded the path and each query argument
 * (and split the arguments at '&'). Re-encode them so plugins see a
 * well-formed path and a raw query that parley__text_query_param decodes back
 * to exactly what lws decoded. */
static char *encode_path(const char *uri, int len)
{
    size_t cap = (size_t)len * 3 + 1;
    char *out = malloc(cap);

    /* Also what RFC 3986 never allows unencoded, so a path is safe to put
     * in a JSON string or a log line as it is. */
    if (out != NULL && parley__text_pct_encode(uri, (size_t)len, "?#\"<>\\^`{|}", out, cap) < 0) {
        free(out);
        out = NULL;
    }
    return out;
}

static char *encode_query(struct lws *wsi)
{
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
    size_t cap, o = 0;
    char *out, *frag;

    if (total <= 0)
        return strdup("");
    cap = (size_t)total * 3 + 64;
    out = malloc(cap);
    frag = malloc((size_t)total + 1);
    if (out == NULL || frag == NULL) {
        free(out);
        free(frag);
        return NULL;
    }
    out[0] = '\0';
    for (int i = 0;; i++) {
        int n = lws_hdr_copy_fragment(wsi, frag, total + 1, WSI_TOKEN_HTTP_URI_ARGS, i);
        int w;

        if (n < 0)
            break;
        if (o > 0)
            out[o++] = '&';
        w = parley__text_pct_encode(frag, (size_t)n, "&+#;", out + o, cap - o);
        if (w < 0)
            break;
        o += (size_t)w;
    }
    out[o] = '\0';
    free(frag);
    return out;
}

struct parley_http_request *parley__http_request_new(struct lws *wsi)
{
    struct parley_http_request *req = calloc(1, sizeof *req);
    char *uri;
    int uri_len = 0;

    if (req == NULL)
        return NULL;
    req->wsi = wsi;
    uri = copy_method(wsi, req, &uri_len);
    if (uri == NULL || (req->path = encode_path(uri, uri_len)) == NULL ||
        (req->query = encode_query(wsi)) == NULL) {
        free(uri);
        parley__http_request_free(req);
        return NULL;
    }
    free(uri);
    return req;
}

void parley__http_request_free(struct parley_http_request *req)
{
    if (req == NULL)
        return;
    free(req->path);
    free(req->query);
    free(req->body);
    free(req->resp);
    free(req);
}

static void request_done(struct parley__pss *pss)
{
    struct parley_http_request *req = pss->req;

    pss->req = NULL;
    list_del(req);
    parley__http_request_free(req);
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

/* Build status line, headers, Content-Length and body into req->resp. */
static int build_response(struct parley_http_request *req, int status,
                          const parley_http_header *headers, size_t n_headers, const void *body,
                          size_t len)
{
    size_t cap = 160 + len, o;
    unsigned char *buf;
    char *p;
    int n;

    for (size_t i = 0; i < n_headers; i++) {
        if (headers[i].name == NULL || headers[i].value == NULL)
            return PARLEY_EINVAL;
        cap += strlen(headers[i].name) + strlen(headers[i].value) + 4;
    }
    buf = malloc(LWS_PRE + cap);
    if (buf == NULL)
        return PARLEY_ENOMEM;
    p = (char *)buf + LWS_PRE;
    n = snprintf(p, cap, "HTTP/1.1 %d %s\r\n", status, parley__http_status_text(status));
    o = (size_t)n;
    for (size_t i = 0; i < n_headers; i++) {
        /* The host owns the framing headers. */
        if (strcasecmp(headers[i].name, "content-length") == 0 ||
            strcasecmp(headers[i].name, "transfer-encoding") == 0 ||
            strcasecmp(headers[i].name, "connection") == 0)
            continue;
        o += (size_t)snprintf(p + o, cap - o, "%s: %s\r\n", headers[i].name, headers[i].value);
    }
    o += (size_t)snprintf(p + o, cap - o, "Content-Length: %zu\r\n", len);
    if (req->close_after || !req->keepalive)
        o += (size_t)snprintf(p + o, cap - o, "Connection: close\r\n");
    else if (req->http10)
        o += (size_t)snprintf(p + o, cap - o, "Connection: keep-alive\r\n");
    o += (size_t)snprintf(p + o, cap - o, "\r\n");
    if (len > 0 && !req->head) {
        memcpy(p + o, body, len);
        o += len;
    }
    free(req->resp);
    req->resp = buf;
    req->resp_len = o;
    return 0;
}

static int error_body(char *buf, size_t size, const char *code, const char *message)
{
    /* Messages are ours (no quotes or backslashes in them) except the
     * path, which encode_path left free of both. */
    return snprintf(buf, size, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, message);
}

static int respond_error(struct parley_http_request *req, int status, const char *code,
                         const char *message)
{
    static const parley_http_header json[] = { { "Content-Type", "application/json" } };
    char body[1400];
    int n = error_body(body, sizeof body, code, message);

    if (n < 0 || (size_t)n >= sizeof body)
        n = error_body(body, sizeof body, code, "request refused");
    return parley__http_respond(req, status, json, 1, body, (size_t)n);
}

int parley__http_refuse(struct lws *wsi, int status, const char *code, const char *message,
                        int close)
{
    char body[1400], head[256];
    unsigned char *buf;
    int bl, hl;

    bl = error_body(body, sizeof body, code, message);
    if (bl < 0 || (size_t)bl >= sizeof body)
        bl = error_body(body, sizeof body, code, "request refused");
    hl = snprintf(head, sizeof head,
                  "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n",
                  status, parley__http_status_text(status), bl, close ? "Connection: close\r\n" : "");
    buf = malloc(LWS_PRE + (size_t)hl + (size_t)bl);
    if (buf == NULL)
        return -1;
    memcpy(buf + LWS_PRE, head, (size_t)hl);
    memcpy(buf + LWS_PRE + hl, body, (size_t)bl);
    /* lws copies whatever the socket does not take into its own buffer
     * and flushes it before closing. */
    if (lws_write(wsi, buf + LWS_PRE, (size_t)hl + (size_t)bl, LWS_WRITE_HTTP) < 0) {
        free(buf);
        return -1;
    }
    free(buf);
    if (close)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* Incoming requests                                                   */

static int parse_length(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static void connection_semantics(struct lws *wsi, struct parley_http_request *req)
{
    char v[16], c[64];

    /* The same rule lws applies in lws_http_action. */
    req->http10 = !(lws_hdr_copy(wsi, v, sizeof v, WSI_TOKEN_HTTP) > 7 && v[5] == '1' &&
                    v[7] == '1');
    req->keepalive = !req->http10;
    if (lws_hdr_copy(wsi, c, sizeof c, WSI_TOKEN_CONNECTION) > 0) {
        if (strcasecmp(c, "keep-alive") == 0)
            req->keepalive = 1;
        else if (strcasecmp(c, "close") == 0)
            req->keepalive = 0;
    }
}

static void dispatch(struct lws *wsi, struct parley__pss *pss)
{
    struct parley_http_request *req = pss->req;
    int rc;

    req->headers_ok = 1;
    rc = req->route.on_request(req->route.arg, req);
    if (pss->req != req)
        return;                 /* cannot happen: responses are written later */
    req->headers_ok = 0;
    if (req->responded || req->held)
        return;
    if (rc < 0)
        L_WARN("%s %s: route %s failed (%s); answering 500", req->method, req->path,
               req->route.prefix, parley_status_name(rc));
    else
        L_ERROR("%s %s: route %s returned without responding or holding; answering 500",
                req->method, req->path, req->route.prefix);
    respond_error(req, 500, "internal", "the handler did not answer");
}

int parley__http_on_request(struct lws *wsi, struct parley__pss *pss)
{
    struct parley_http_request *req;
    const struct parley__route *route;
    char cl[32], peer[64] = "";
    uint64_t length = 0;
    int has_length, body_method, expect;

    if (pss->req != NULL) {
        /* A request lws started before the last one finished: drop the old. */
        request_done(pss);
    }
    req = parley__http_request_new(wsi);
    if (req == NULL) {
        L_WARN("request from %s: out of memory or no request line", parley__peer(wsi, peer, sizeof peer));
        return parley__http_refuse(wsi, 500, "internal", "out of memory", 1);
    }
    connection_semantics(wsi, req);
    req->head = strcmp(req->method, "HEAD") == 0;

    if (L.draining) {
        PARLEY__COUNT(http_503);
        L_DEBUG("%s %s: refused, shutting down", req->method, req->path);
        parley__http_request_free(req);
        return parley__http_refuse(wsi, 503, "shutting_down", "the server is shutting down", 1);
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
        PARLEY__COUNT(http_411);
        L_DEBUG("%s %s from %s: refused 411, Transfer-Encoding bodies are not supported",
                req->method, req->path, parley__peer(wsi, peer, sizeof peer));
        parley__http_request_free(req);
        return parley__http_refuse(wsi, 411, "length_required",
                                   "chunked request bodies are not supported; send Content-Length",
                                   1);
    }
    has_length = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
    if (has_length && (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0 ||
                       parse_length(cl, &length) < 0)) {
        PARLEY__COUNT(http_400);
        L_DEBUG("%s %s: refused 400, bad Content-Length", req->method, req->path);
        parley__http_request_free(req);
        return parley__http_refuse(wsi, 400, "bad_request", "invalid Content-Length", 1);
    }
    body_method = strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0 ||
                  strcmp(req->method, "PATCH") == 0;
    if (body_method && !has_length) {
        /* lws would wait for up to 100 MiB of body that never comes. */
        PARLEY__COUNT(http_411);
        L_DEBUG("%s %s: refused 411, no Content-Length", req->method, req->path);
        parley__http_request_free(req);
        return parley__http_refuse(wsi, 411, "length_required", "Content-Length is required", 1);
    }

    /* A client that sent "Expect: 100-continue" holds its body back until
     * it hears 100; if we refuse instead, it never sends the body, so lws
     * must not wait to discard it: close after the refusal. */
    expect = length > 0 && !req->http10 &&
             lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_EXPECT) > 0 &&
             strcasecmp(cl, "100-continue") == 0;

    route = parley__route_match(req->path);
    req->max_body = route && route->r.max_body ? route->r.max_body : L.opts.max_body;
    if (length > req->max_body) {
        char msg[160];
        int close = expect || length > (uint64_t)req->max_body + PARLEY__DISCARD_MAX;

        PARLEY__COUNT(http_413);
        L_WARN("%s %s from %s: refused 413, Content-Length %" PRIu64 " over the cap %zu",
               req->method, req->path, parley__peer(wsi, peer, sizeof peer), length,
               req->max_body);
        snprintf(msg, sizeof msg, "request body of %" PRIu64 " bytes is over the limit of %zu",
                 length, req->max_body);
        parley__http_request_free(req);
        /* Small excess: lws reads and discards it, the connection lives. */
        return parley__http_refuse(wsi, 413, "payload_too_large", msg, close);
    }
    if (route == NULL) {
        char msg[1200];

        snprintf(msg, sizeof msg, "no route for %s", req->path);
        PARLEY__COUNT(http_404);
        L_DEBUG("%s %s: 404, no route", req->method, req->path);
        parley__http_request_free(req);
        return parley__http_refuse(wsi, 404, "not_found", msg, expect);
    }
    req->route = route->r;
    req->content_length = length;
    pss->req = req;
    list_add(req);
    if (expect) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        unsigned char buf[LWS_PRE + sizeof cont];

        memcpy(buf + LWS_PRE, cont, sizeof cont - 1);
        if (lws_write(wsi, buf + LWS_PRE, sizeof cont - 1, LWS_WRITE_HTTP) < 0)
            return -1;
    }
    /* lws delivers the body (and, for POST, an empty one too) through
     * HTTP_BODY and HTTP_BODY_COMPLETION; dispatch then. */
    if (length > 0 || strcmp(req->method, "POST") == 0)
        return 0;
    dispatch(wsi, pss);
    return 0;
}

int parley__http_on_body(struct lws *wsi, struct parley__pss *pss, const void *in, size_t len)
{
    struct parley_http_request *req = pss->req;

    if (req == NULL || req->responded)
        return 0;
    if (len > req->max_body - req->body_len) {
        char msg[160];

        PARLEY__COUNT(http_413);
        L_WARN("%s %s: refused 413, body over the cap %zu", req->method, req->path, req->max_body);
        snprintf(msg, sizeof msg, "request body is over the limit of %zu bytes", req->max_body);
        request_done(pss);
        return parley__http_refuse(wsi, 413, "payload_too_large", msg, 1);
    }
    if (len == 0)
        return 0;
    if (req->body_len + len > req->body_cap) {
        /* Content-Length is known and within the cap: allocate it once. */
        size_t cap = req->content_length > req->body_len + len ? (size_t)req->content_length
                                                               : req->body_len + len;
        char *b = realloc(req->body, cap + 1);

        if (b == NULL) {
            request_done(pss);
            return parley__http_refuse(wsi, 500, "internal", "out of memory", 1);
        }
        req->body = b;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, in, len);
    req->body_len += len;
    req->body[req->body_len] = '\0';
    return 0;
}

int parley__http_on_body_done(struct lws *wsi, struct parley__pss *pss)
{
    if (pss->req == NULL || pss->req->responded || pss->req->held)
        return 0;
    dispatch(wsi, pss);
    return 0;
}

int parley__http_on_writeable(struct lws *wsi, struct parley__pss *pss)
{
    struct parley_http_request *req = pss->req;
    int n, close;

    if (req == NULL || req->resp == NULL)
        return 0;
    n = lws_write(wsi, req->resp + LWS_PRE, req->resp_len, LWS_WRITE_HTTP);
    close = req->close_after || !req->keepalive;
    request_done(pss);
    if (n < 0 || close)
        return -1;              /* lws flushes what it buffered, then closes */
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/*
 * The held request's timer (lws_set_timer_usecs). lws does not read a
 * connection in the middle of a transaction, so it would notice a peer that
 * went away only when the hold ends; and with POLLIN left on, an EOF would
 * wake the loop over and over. So a held request's rx is flow-controlled
 * off, and this tick peeks at the socket every HOLD_POLL_MS: EOF or an error
 * means the peer is gone (on_abort, then the connection is killed); past
 * the deadline the plugin hears on_abort and the client gets a 504.
 */
int parley__http_on_timer(struct lws *wsi, struct parley__pss *pss)
{
    struct parley_http_request *req = pss->req;
    uint64_t now = mono_ms();
    char b;
    ssize_t n;

    if (req == NULL || !req->held || req->responded || req->aborted)
        return 0;
    n = recv(lws_get_socket_fd(wsi), &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        L_DEBUG("%s %s: peer went away while held", req->method, req->path);
        req->aborted = 1;
        if (req->route.on_abort != NULL)
            req->route.on_abort(req->route.arg, req, req->req_ctx);
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        return 0;
    }
    if (now < req->hold_deadline_ms) {
        uint64_t left = req->hold_deadline_ms - now;

        lws_set_timer_usecs(wsi, (lws_usec_t)(left < HOLD_POLL_MS ? left : HOLD_POLL_MS) * 1000);
        return 0;
    }
    L_DEBUG("%s %s: held request timed out", req->method, req->path);
    req->aborted = 1;
    if (req->route.on_abort != NULL)
        req->route.on_abort(req->route.arg, req, req->req_ctx);
    req->host_answer = 1;
    respond_error(req, 504, "hold_timeout", "the held request timed out");
    return 0;
}

/* The session ends (peer gone, transaction over, connection closed): a held
 * request still unanswered hears on_abort exactly once, then it is freed. */
void parley__http_on_gone(struct parley__pss *pss)
{
    struct parley_http_request *req = pss->req;

    if (req == NULL)
        return;
    if (req->held && !req->responded && !req->aborted) {
        req->aborted = 1;
        L_DEBUG("%s %s: peer went away while held", req->method, req->path);
        if (req->route.on_abort != NULL)
            req->route.on_abort(req->route.arg, req, req->req_ctx);
    }
    request_done(pss);
}

void parley__http_drain(void)
{
    struct parley_http_request *req, *next;

    for (req = L.reqs; req != NULL; req = next) {
        next = req->next;
        if (!req->held || req->responded || req->aborted)
            continue;
        req->aborted = 1;
        if (req->route.on_abort != NULL)
            req->route.on_abort(req->route.arg, req, req->req_ctx);
        req->close_after = 1;
        req->host_answer = 1;
        respond_error(req, 503, "shutting_down", "the server is shutting down");
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
    char lname[128];
    size_t nlen;
    int n;

    if (req == NULL || name == NULL || out == NULL || out_size == 0 || out_size > INT32_MAX)
        return PARLEY_EINVAL;
    out[0] = '\0';
    if (!req->headers_ok || req->wsi == NULL)
        return PARLEY_ENOTFOUND;
    nlen = strlen(name);
    if (nlen == 0 || nlen + 2 > sizeof lname)
        return PARLEY_ENOTFOUND;
    /* Known headers live in lws's token table ("origin:"), lower case. */
    for (size_t i = 0; i < nlen; i++) {
        char c = name[i];

        lname[i] = (char)(c >= 'A' && c <= 'Z' ? c + 'a' - 'A' : c);
    }
    lname[nlen] = ':';
    lname[nlen + 1] = '\0';
    for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
        const unsigned char *s = lws_token_to_string((enum lws_token_indexes)t);

        if (s == NULL || strcmp((const char *)s, lname) != 0)
            continue;
        n = lws_hdr_total_length(req->wsi, (enum lws_token_indexes)t);
        if (n <= 0)
            return PARLEY_ENOTFOUND;
        if ((size_t)n >= out_size)
            return PARLEY_ETOOBIG;
        n = lws_hdr_copy(req->wsi, out, (int)out_size, (enum lws_token_indexes)t);
        return n < 0 ? PARLEY_ETOOBIG : n;
    }
    /* Anything else is a custom header, stored by lws with its colon. */
    n = lws_hdr_custom_length(req->wsi, lname, (int)nlen + 1);
    if (n < 0)
        return PARLEY_ENOTFOUND;
    if ((size_t)n >= out_size)
        return PARLEY_ETOOBIG;
    n = lws_hdr_custom_copy(req->wsi, out, (int)out_size, lname, (int)nlen + 1);
    if (n < 0)
        return PARLEY_ETOOBIG;
    /* lws keeps the whitespace after the colon of custom headers. */
    {
        int skip = 0;

        while (skip < n && (out[skip] == ' ' || out[skip] == '\t'))
            skip++;
        if (skip > 0) {
            memmove(out, out + skip, (size_t)(n - skip) + 1);
            n -= skip;
        }
    }
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
    struct parley_http_request *r = (struct parley_http_request *)req;

    if (r == NULL)
        return "";
    return parley__peer(r->wsi, r->remote, sizeof r->remote);
}

int parley__http_respond(parley_http_request *req, int status, const parley_http_header *headers,
                         size_t n_headers, const void *body, size_t len)
{
    int rc;

    if (req == NULL || req->upgrade)
        return PARLEY_EINVAL;
    if (req->aborted && !req->host_answer)
        return PARLEY_ECLOSED;  /* after on_abort the request is the host's */
    if (req->responded) {
        L_ERROR("%s %s: http_respond called twice (route %s)", req->method, req->path,
                req->route.prefix);
        return PARLEY_EINVAL;
    }
    if (req->wsi == NULL)
        return PARLEY_ECLOSED;
    if (status < 100 || status > 599 || (body == NULL && len > 0) ||
        (n_headers > 0 && headers == NULL)) {
        L_ERROR("%s %s: http_respond with status %d, body %s, %zu headers: answering 500",
                req->method, req->path, status, body ? "set" : "NULL", n_headers);
        rc = PARLEY_EINVAL;
        headers = NULL;
        n_headers = 0;
        status = 500;
        body = "";
        len = 0;
    } else {
        rc = 0;
        for (size_t i = 0; i < n_headers; i++)
            if (headers[i].name == NULL || headers[i].value == NULL || !header_ok(headers[i].name) ||
                !header_ok(headers[i].value) || headers[i].name[0] == '\0') {
                L_ERROR("%s %s: response header %zu has CR/LF or is empty: answering 500",
                        req->method, req->path, i);
                rc = PARLEY_EINVAL;
                headers = NULL;
                n_headers = 0;
                status = 500;
                body = "";
                len = 0;
                break;
            }
    }
    if (build_response(req, status, headers, n_headers, body, len) < 0) {
        /* Out of memory: close rather than leave the client hanging. */
        req->responded = 1;
        req->close_after = 1;
        lws_set_timeout(req->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        return PARLEY_ENOMEM;
    }
    req->responded = 1;
    if (req->held) {
        lws_set_timer_usecs(req->wsi, LWS_SET_TIMER_USEC_CANCEL);
        lws_rx_flow_control(req->wsi, 1);
    }
    lws_callback_on_writable(req->wsi);
    return rc;
}

int parley__http_hold(parley_http_request *req, uint64_t timeout_ms, void *req_ctx)
{
    if (req == NULL || req->upgrade || req->wsi == NULL)
        return PARLEY_EINVAL;
    if (req->responded || req->held)
        return PARLEY_EINVAL;
    if (timeout_ms == 0 || timeout_ms > MAX_HOLD_MS)
        timeout_ms = timeout_ms == 0 ? L.opts.idle_timeout_ms : MAX_HOLD_MS;
    req->held = 1;
    req->req_ctx = req_ctx;
    /* lws armed PENDING_TIMEOUT_HTTP_CONTENT (timeout_secs, 5 s by default)
     * when the headers arrived and kills the connection when it fires.
     * Replace it by a backstop past our own, precise hold timer. */
    lws_set_timeout(req->wsi, PENDING_TIMEOUT_USER_OK, (int)(timeout_ms / 1000) + 10);
    req->hold_deadline_ms = mono_ms() + timeout_ms;
    lws_rx_flow_control(req->wsi, 0);
    lws_set_timer_usecs(req->wsi,
                        (lws_usec_t)(timeout_ms < HOLD_POLL_MS ? timeout_ms : HOLD_POLL_MS) * 1000);
    return 0;
}
