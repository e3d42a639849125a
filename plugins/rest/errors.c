/*
 * Error answers: {"error":{"code":"<snake_case>","message":"..."}}, and
 * the one table that maps the host's negative status codes to HTTP.
 */
#include <stdio.h>
#include <string.h>

#include "rest.h"

/* Length of the valid UTF-8 sequence at s[0..n), 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len, i;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
        cp = s[0] & 0x1F;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        cp = s[0] & 0x0F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Messages may carry text from the host or a storage plugin, or be cut
 * inside a sequence by vsnprintf: keep the answer valid UTF-8. */
static void utf8_sanitize(char *s)
{
    size_t n = strlen(s), i = 0, len;

    while (i < n) {
        len = utf8_seq((const unsigned char *)s + i, n - i);
        if (len == 0) {
            s[i++] = '?';
            continue;
        }
        i += len;
    }
}

static int error_v(rest_req *rq, int status, const parley_http_header *extra, size_t n_extra,
                   const char *code, const char *fmt, va_list ap)
{
    char message[PARLEY_ERROR_MESSAGE_MAX];
    rest_buf b;
    int rc;

    vsnprintf(message, sizeof message, fmt, ap);
    utf8_sanitize(message);
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

/*
 * Input quoted into a message may be anything (a decoded %ff, a raw path
 * byte): bytes that are not valid UTF-8 become '?', so the JSON answer
 * stays valid UTF-8. Control characters are left to the JSON writer.
 */
void rest_quote(char *out, size_t out_size, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t room, i = 0, o = 0;
    int cut = 0;

    if (out_size < 8) {
        if (out_size > 0)
            out[0] = '\0';
        return;
    }
    room = out_size - 6; /* two quotes, "...", NUL */
    if (room > REST_QUOTE_MAX)
        room = REST_QUOTE_MAX;
    out[o++] = '"';
    while (i < n) {
        size_t len = utf8_seq(p + i, n - i);

        if (p[i] == '\0')
            break;
        if (len == 0) {
            if (o - 1 + 1 > room) {
                cut = 1;
                break;
            }
            out[o++] = '?';
            i++;
            continue;
        }
        if (o - 1 + len > room) {
            cut = 1;
            break;
        }
        memcpy(out + o, p + i, len);
        o += len;
        i += len;
    }
    if (cut) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
}
