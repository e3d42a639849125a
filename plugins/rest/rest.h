/*
 * The REST transport's internal contracts, shared by its files:
 *
 *   rest.c            descriptor, config schema, lifecycle, route registration
 *   dispatch.c        per-prefix request handlers: method, CORS, route choice
 *   pending.c         requests held open for a host completion
 *   respond.c         sending a response: common headers, CORS, metrics
 *   cors.c            the origin allowlist and preflight answers
 *   metrics.c         request counters and latency histograms
 *   errors.c          JSON error bodies and status mapping
 *   text.c            user input quoted into messages; UTF-8 safety
 *   json_out.c        a small JSON writer and the message shape
 *   json_in.c         bounded JSON body parsing
 *   params.c          strict parsing of query parameters
 *   routes_messages.c GET/POST /api/messages
 *   routes_health.c   GET /health and GET /metrics
 *
 * Only the SDK headers are used: this is an ordinary plugin.
 * Everything here runs on the loop thread.
 */
#ifndef PARLEY_REST_H
#define PARLEY_REST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <parley/parley.h>

struct cJSON;

#define REST_PLUGIN_VERSION "0.1.0"

#define REST_MAX_ORIGINS 64      /* entries of cors_origins */
#define REST_ORIGIN_MAX 256      /* bytes of one Origin value */
#define REST_QUOTE_MAX 48        /* bytes of user input quoted back in a message */
#define REST_ROOM_PARAM_MAX 1024 /* bytes of a decoded room= parameter */

/* Route labels for metrics. */
enum rest_route {
    REST_ROUTE_MESSAGES = 0,
    REST_ROUTE_HEALTH,
    REST_ROUTE_METRICS,
    REST_ROUTE_NOT_FOUND,
    REST_ROUTE_COUNT
};

/* ---- json_out.c ---------------------------------------------------- */

/* A growable output buffer that starts in its own inline storage, so a
 * small response never touches malloc. After an allocation failure `oom`
 * is set and further writes are dropped. */
typedef struct rest_buf {
    char *data;
    size_t len;
    size_t cap;
    int oom;
    char inline_buf[2048];
} rest_buf;

void rest_buf_init(rest_buf *b);
void rest_buf_free(rest_buf *b);
void rest_buf_put(rest_buf *b, const char *s, size_t n);
void rest_buf_puts(rest_buf *b, const char *s);
void rest_buf_printf(rest_buf *b, const char *fmt, ...) PARLEY_PRINTF(2, 3);
/* Make room for `n` more bytes; returns where to write them or NULL. */
char *rest_buf_reserve(rest_buf *b, size_t n);

/* A JSON string literal of s[0..n): quotes, backslash and control
 * characters escaped, every other byte (UTF-8 included) copied as is. */
void rest_json_string(rest_buf *b, const char *s, size_t n);
/* {"_id","username","content","room","timestamp"} */
void rest_json_message(rest_buf *b, const parley_message *m);
/* "2026-12-01T06:52:21.123Z"; `out` needs 32 bytes. */
void rest_iso8601(char *out, size_t out_size, int64_t unix_ms);

/* ---- cors.c ---------------------------------------------------------- */

typedef struct rest_cors {
    size_t n_origins;
    char *origins[REST_MAX_ORIGINS]; /* normalised: lowercase scheme and host, no trailing '/' */
    int any;                         /* "*" was listed */
    char max_age[24];                /* seconds, as text for the header */
} rest_cors;

/* Read cors_origins and cors_max_age. A malformed origin is refused with
 * its index, value and location. */
int rest_cors_load(rest_cors *cors, const parley_host_api *api, const parley_config *config,
                   parley_error *err);
void rest_cors_free(rest_cors *cors);

enum rest_origin_state {
    REST_ORIGIN_NONE = 0,   /* no Origin header: not a CORS request */
    REST_ORIGIN_ALLOWED,
    REST_ORIGIN_FORBIDDEN
};

int rest_cors_check(const rest_cors *cors, const char *origin);

/* ---- the plugin instance and one request ----------------------------- */

typedef struct rest_metrics rest_metrics;  /* metrics.c */
typedef struct rest_pending rest_pending;  /* a request waiting for the host */

typedef struct rest {
    const parley_host_api *api;
    parley_host *host;

    rest_cors cors;
    size_t max_body;
    int json_max_depth;
    uint64_t request_timeout_ms;
    int metrics_enabled;
    int catch_all;

    int started;
    int stopping;
    parley_stop_done stop_done;   /* set while stop waits for pending requests */
    void *stop_done_arg;

    rest_pending *pending;        /* requests held open for a host completion */
    size_t n_pending;

    rest_metrics *metrics;
} rest;

/* One request as the handlers see it. Lives on the stack of on_request;
 * copied into a rest_pending when the answer comes later. */
typedef struct rest_req {
    rest *r;
    parley_http_request *req;
    int route;                    /* enum rest_route */
    int origin_state;             /* enum rest_origin_state */
    char origin[REST_ORIGIN_MAX];
    uint64_t start_ns;            /* monotonic, for the latency histogram */
} rest_req;

struct rest_pending {
    rest_req rq;
    struct cJSON *json;   /* the parsed body, kept until the host is done */
    char *room;           /* GET: the room asked for (in the same allocation), or NULL */
    rest_pending *prev, *next;
    int held;      /* http_hold succeeded: answer from the completion */
    int aborted;   /* the peer or the host gave up: never answer */
    int answered;  /* the completion answered while still inside on_request */
    int in_handler;
};

/* ---- dispatch.c ------------------------------------------------------ */

/* on_request of each registered prefix. */
int rest_on_api(void *arg, parley_http_request *req);
int rest_on_health(void *arg, parley_http_request *req);
int rest_on_metrics(void *arg, parley_http_request *req);
int rest_on_catch_all(void *arg, parley_http_request *req);
void rest_on_abort(void *arg, parley_http_request *req, void *req_ctx);

/* ---- pending.c ------------------------------------------------------- */

/* A pending request copying `rq`; `room` (may be NULL) is copied into the
 * same allocation. NULL when out of memory. */
rest_pending *rest_pending_new(const rest_req *rq, const char *room);
/* Unlink and free; finishes a waiting stop when it was the last one. */
void rest_pending_finish(rest_pending *p);
/* Hold the request open after the host accepted the async call; on
 * failure, answers nothing and marks `p` aborted. Returns 0 or < 0. */
int rest_pending_hold(rest_pending *p);
/* Free every pending request without answering (destroy). */
void rest_pending_free_all(rest *r);

/* ---- respond.c ------------------------------------------------------- */

uint64_t rest_clock_ns(void);

/* Send the response with the common headers (CORS, nosniff, no-store)
 * plus `extra`, and count it. */
int rest_respond(rest_req *rq, int status, const char *content_type,
                 const parley_http_header *extra, size_t n_extra,
                 const void *body, size_t len);
/* application/json; charset=utf-8 from a buffer (503 when it ran out of memory). */
int rest_respond_json(rest_req *rq, int status, rest_buf *b,
                      const parley_http_header *extra, size_t n_extra);

/* ---- errors.c -------------------------------------------------------- */

/* {"error":{"code":...,"message":...}} with `status`. */
int rest_error(rest_req *rq, int status, const char *code, const char *fmt, ...)
    PARLEY_PRINTF(4, 5);
int rest_error_headers(rest_req *rq, int status, const parley_http_header *extra,
                       size_t n_extra, const char *code, const char *fmt, ...)
    PARLEY_PRINTF(6, 7);
/* Answer a failed host call: the negative parley status picks the HTTP
 * status and code; `message` (the host's err) is passed on. */
int rest_error_status(rest_req *rq, int parley_status, const char *message);
/* 405 with Allow. */
int rest_error_method(rest_req *rq, const char *allow);

/* ---- text.c --------------------------------------------------------- */

/* Replace every byte that is not part of valid UTF-8 by '?', in place. */
void rest_utf8_sanitize(char *s);
/* Quote user input for a message: at most REST_QUOTE_MAX bytes, cut on a
 * UTF-8 boundary, "..." appended when cut, invalid bytes as '?'. `out` gets a NUL-terminated
 * string with the quotes. */
void rest_quote(char *out, size_t out_size, const char *s, size_t n);

/* ---- cors answers (cors.c) ------------------------------------------ */

/* An OPTIONS request: preflight (204 with `cors_methods`, or 403) or
 * plain OPTIONS (204 + Allow: `allow`). */
int rest_cors_options(rest_req *rq, const char *allow, const char *cors_methods);

/* ---- metrics.c ------------------------------------------------------- */

int rest_metrics_create(rest *r, parley_error *err);
void rest_metrics_destroy(rest *r);
void rest_metrics_count(rest *r, int route, int status, uint64_t elapsed_ns);

/* ---- json_in.c ------------------------------------------------------- */

/*
 * Parse a request body that must hold one JSON object. Bounded: nesting
 * deeper than max_depth, raw control characters, \u0000 escapes and
 * anything after the value are refused before or after cJSON sees it.
 * A leading UTF-8 BOM is skipped. On failure returns NULL and writes
 * a message into why.
 */
struct cJSON *rest_json_parse_object(const char *body, size_t len, int max_depth,
                                     const char **why_code, char *why, size_t why_size);

/* The last member named `name` (JSON.parse keeps the last duplicate). */
struct cJSON *rest_json_member(const struct cJSON *object, const char *name);
/* "string", "number", "object", ... for messages. */
const char *rest_json_type_name(const struct cJSON *item);

/* ---- params.c -------------------------------------------------------- */

/* Strict positive decimal integer, 1..UINT32_MAX, digits only. */
int rest_parse_limit(const char *s, uint32_t *out);
/* 24 hex digits; lowercased into out (25 bytes). */
int rest_parse_id(const char *s, char *out);
/* A media type "application/json" with optional parameters; only a
 * utf-8 charset is accepted. 0, or -1 wrong type, -2 wrong charset. */
int rest_check_json_content_type(const char *value);

/* ---- routes ---------------------------------------------------------- */

int rest_messages_get(rest_req *rq);
int rest_messages_post(rest_req *rq);
int rest_health_get(rest_req *rq);
int rest_metrics_get(rest_req *rq);

#endif /* PARLEY_REST_H */
