/*
 * Error answers: {"error":{"code":"<snake_case>","message":"..."}}, and
 * the one table that maps the host's negative status codes to HTTP.
 */
#include <stdio.h>
#include <string.h>

#include "rest.h"

static int error_v(rest_req *rq, int status, const parley_http_header *extra, size_t n_extra,
                   const char *code, const char *fmt, va_list ap)
{
    char message[PARLEY_ERROR_MESSAGE_MAX];
    rest_buf b;
    int rc;

    vsnprintf(message, sizeof message, fmt, ap);
    rest_utf8_sanitize(message);
    rest_buf_init(&b);
    rest_buf_puts(&b, "{\"error\":{\"code\":");
    rest_json_string(&b, code, strlen(code));
    rest_buf_puts(&b, ",\"message\":");
    rest_json_string(&b, message, strlen(message));
    rest_buf_puts(&b, "}}");
    rc = rest_respond_json(rq, status, &b, extra, n_extra);
    rest_buf_free(&b);
    return rc;
}

int rest_error(rest_req *rq, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = error_v(rq, status, NULL, 0, code, fmt, ap);
    va_end(ap);
    return rc;
}

int rest_error_headers(rest_req *rq, int status, const parley_http_header *extra, size_t n_extra,
                       const char *code, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = error_v(rq, status, extra, n_extra, code, fmt, ap);
    va_end(ap);
    return rc;
}

int rest_error_method(rest_req *rq, const char *allow)
{
    const parley_http_header h[] = { { "Allow", allow } };
    const char *method = rq->r->api->http_method(rq->req);
    const char *path = rq->r->api->http_path(rq->req);
    char qm[REST_QUOTE_MAX + 8], qp[REST_QUOTE_MAX + 8];

    rest_quote(qm, sizeof qm, method, strlen(method));
    rest_quote(qp, sizeof qp, path, strlen(path));
    return rest_error_headers(rq, 405, h, 1, "method_not_allowed",
                              "method %s is not allowed on %s; allowed: %s", qm, qp, allow);
}

/*
 * Storage trouble is 503 whatever its flavour (down, timed out, I/O): the
 * client's answer is the same, retry later. 504 is left to gateways; the
 * code tells the flavours apart.
 */
int rest_error_status(rest_req *rq, int st, const char *message)
{
    static const parley_http_header retry[] = { { "Retry-After", "1" } };
    const char *m = message != NULL && message[0] != '\0' ? message : parley_strerror(st);

    switch (st) {
    case PARLEY_EINVAL:
    case PARLEY_ETOOBIG:
    case PARLEY_ENOTFOUND:
        return rest_error(rq, 400, "validation_failed", "%s", m);
    case PARLEY_ELIMIT:
        return rest_error_headers(rq, 429, retry, 1, "limit_reached", "%s", m);
    case PARLEY_EUNAVAIL:
    case PARLEY_EIO:
        return rest_error_headers(rq, 503, retry, 1, "storage_unavailable", "%s", m);
    case PARLEY_ETIMEDOUT:
        return rest_error_headers(rq, 503, retry, 1, "storage_timeout", "%s", m);
    case PARLEY_ESHUTDOWN:
        return rest_error_headers(rq, 503, retry, 1, "shutting_down", "%s", m);
    case PARLEY_ENOMEM:
    case PARLEY_EBUSY:
        return rest_error_headers(rq, 503, retry, 1, "overloaded", "%s", m);
    default:
        return rest_error(rq, 500, "internal_error", "%s (%s)", m, parley_status_name(st));
    }
}
