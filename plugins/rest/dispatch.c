/*
 * The handlers the host calls for each registered prefix: pick the route
 * by exact path, answer OPTIONS (CORS), refuse other methods with 405 and
 * unknown paths with a JSON 404.
 */
#include <string.h>

#include "rest.h"

/* Allow (405, plain OPTIONS) lists HEAD, which the listener answers from
 * the GET handler without the body; CORS Allow-Methods leaves it out
 * (HEAD is a CORS-safelisted method and never preflighted). */
#define ALLOW_MESSAGES "GET, HEAD, POST, OPTIONS"
#define ALLOW_READ_ONLY "GET, HEAD, OPTIONS"
#define CORS_MESSAGES "GET, POST, OPTIONS"
#define CORS_READ_ONLY "GET, OPTIONS"

static void req_init(rest_req *rq, rest *r, parley_http_request *req, int route)
{
    int n;

    rq->r = r;
    rq->req = req;
    rq->route = route;
    rq->start_ns = rest_clock_ns();
    n = r->api->http_header(req, "Origin", rq->origin, sizeof rq->origin);
    if (n == PARLEY_ETOOBIG) {
        /* no allowed origin is that long */
        rq->origin[0] = '\0';
        rq->origin_state = REST_ORIGIN_FORBIDDEN;
        return;
    }
    if (n < 0)
        rq->origin[0] = '\0';
    rq->origin_state = rest_cors_check(&r->cors, rq->origin);
}

/* `path` is `base` or `base/` exactly (Express matches both). */
static int path_is(const char *path, const char *base)
{
    size_t n = strlen(base);

    return strncmp(path, base, n) == 0 && (path[n] == '\0' || (path[n] == '/' && path[n + 1] == '\0'));
}

static int not_found(rest_req *rq)
{
    const char *method = rq->r->api->http_method(rq->req);
    const char *path = rq->r->api->http_path(rq->req);
    char qm[REST_QUOTE_MAX + 8], qp[REST_QUOTE_MAX + 8];

    rq->route = REST_ROUTE_NOT_FOUND;
    rest_quote(qm, sizeof qm, method, strlen(method));
    rest_quote(qp, sizeof qp, path, strlen(path));
    return rest_error(rq, 404, "not_found", "no route for %s %s", qm, qp);
}

static int method_is(rest_req *rq, const char *m)
{
    return strcmp(rq->r->api->http_method(rq->req), m) == 0;
}

static int is_get(rest_req *rq)
{
    return method_is(rq, "GET") || method_is(rq, "HEAD");
}

int rest_on_api(void *arg, parley_http_request *req)
{
    rest *r = arg;
    rest_req rq;

    req_init(&rq, r, req, REST_ROUTE_MESSAGES);
    if (!path_is(r->api->http_path(req), "/api/messages"))
        return not_found(&rq);
    if (method_is(&rq, "OPTIONS"))
        return rest_cors_options(&rq, ALLOW_MESSAGES, CORS_MESSAGES);
    if (r->stopping)
        return rest_error_status(&rq, PARLEY_ESHUTDOWN, "the server is shutting down");
    if (is_get(&rq))
        return rest_messages_get(&rq);
    if (method_is(&rq, "POST"))
        return rest_messages_post(&rq);
    return rest_error_method(&rq, ALLOW_MESSAGES);
}

int rest_on_health(void *arg, parley_http_request *req)
{
    rest *r = arg;
    rest_req rq;

    req_init(&rq, r, req, REST_ROUTE_HEALTH);
    if (!path_is(r->api->http_path(req), "/health"))
        return not_found(&rq);
    if (method_is(&rq, "OPTIONS"))
        return rest_cors_options(&rq, ALLOW_READ_ONLY, CORS_READ_ONLY);
    if (is_get(&rq))
        return rest_health_get(&rq);
    return rest_error_method(&rq, ALLOW_READ_ONLY);
}

int rest_on_metrics(void *arg, parley_http_request *req)
{
    rest *r = arg;
    rest_req rq;

    req_init(&rq, r, req, REST_ROUTE_METRICS);
    if (!path_is(r->api->http_path(req), "/metrics"))
        return not_found(&rq);
    if (method_is(&rq, "OPTIONS"))
        return rest_cors_options(&rq, ALLOW_READ_ONLY, CORS_READ_ONLY);
    if (is_get(&rq))
        return rest_metrics_get(&rq);
    return rest_error_method(&rq, ALLOW_READ_ONLY);
}

int rest_on_catch_all(void *arg, parley_http_request *req)
{
    rest_req rq;

    req_init(&rq, arg, req, REST_ROUTE_NOT_FOUND);
    return not_found(&rq);
}
