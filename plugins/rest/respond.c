/*
 * Every answer leaves through rest_respond: it adds the headers all
 * answers share (CORS for an allowed origin, Vary, nosniff, no-store) and
 * counts the request with its status and latency.
 */
#include <string.h>
#include <time.h>

#include "rest.h"

#define REST_MAX_HEADERS 16

uint64_t rest_clock_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int rest_respond(rest_req *rq, int status, const char *content_type,
                 const parley_http_header *extra, size_t n_extra, const void *body, size_t len)
{
    parley_http_header h[REST_MAX_HEADERS];
    const rest *r = rq->r;
    size_t n = 0, i;
    int rc;

    if (content_type != NULL)
        h[n++] = (parley_http_header){ "Content-Type", content_type };
    h[n++] = (parley_http_header){ "X-Content-Type-Options", "nosniff" };
    h[n++] = (parley_http_header){ "Cache-Control", "no-store" };
    if (rq->origin_state == REST_ORIGIN_ALLOWED)
        h[n++] = (parley_http_header){ "Access-Control-Allow-Origin",
                                       r->cors.any ? "*" : rq->origin };
    /* The answer depends on Origin whenever the list is not "*": tell caches. */
    if (!r->cors.any)
        h[n++] = (parley_http_header){ "Vary", "Origin" };
    for (i = 0; i < n_extra && n < REST_MAX_HEADERS; i++)
        h[n++] = extra[i];

    rc = r->api->http_respond(rq->req, status, h, n, body, len);
    rq->req = NULL;
    rest_metrics_count(rq->r, rq->route, status, rest_clock_ns() - rq->start_ns);
    return rc;
}

int rest_respond_json(rest_req *rq, int status, rest_buf *b, const parley_http_header *extra,
                      size_t n_extra)
{
    static const char oom[] =
        "{\"error\":{\"code\":\"overloaded\",\"message\":\"out of memory building the response\"}}";

    if (b->oom)
        return rest_respond(rq, 503, "application/json; charset=utf-8", NULL, 0, oom,
                            sizeof oom - 1);
    return rest_respond(rq, status, "application/json; charset=utf-8", extra, n_extra, b->data,
                        b->len);
}
