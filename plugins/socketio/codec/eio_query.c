/* The Engine.IO handshake query and the error table; see eio.h. */
#include "eio.h"

#include <string.h>

static const struct {
    const char *message;
    int http_status;
} eio_errors[] = {
    { "Transport unknown", 400 },
    { "Session ID unknown", 400 },
    { "Bad handshake method", 400 },
    { "Bad request", 400 },
    { "Forbidden", 403 },
    { "Unsupported protocol version", 400 },
};

#define EIO_NERRORS (sizeof eio_errors / sizeof eio_errors[0])

const char *eio_error_message(int code)
{
    return code >= 0 && (size_t)code < EIO_NERRORS ? eio_errors[code].message : "Unknown error";
}

int eio_error_http_status(int code)
{
    return code >= 0 && (size_t)code < EIO_NERRORS ? eio_errors[code].http_status : 400;
}

int eio_error_body(int code, char *buf, size_t cap, size_t *written)
{
    int n = snprintf(buf, cap, "{\"code\":%d,\"message\":\"%s\"}", code, eio_error_message(code));

    if (n < 0 || (size_t)n >= cap)
        return PARLEY_ETOOBIG;
    if (written)
        *written = (size_t)n;
    return 0;
}

int eio_sid_valid(const char *sid, size_t len)
{
    if (sid == NULL || len == 0 || len > EIO_SID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)sid[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* One of the three keys we read: its first value and how often it came. */
typedef struct query_field {
    const char *val;
    size_t len;
    unsigned seen;
} query_field;

_Static_assert(EIO_SID_MAX == 64, "the sid message below says 64");

static int span_is(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);

    return n == l && memcmp(s, lit, l) == 0;
}

static void note_field(query_field *f, const char *val, size_t len)
{
    if (f->seen++ == 0) {
        f->val = val;
        f->len = len;
    }
}

static int query_fail(eio_query *out, int code, parley_error *err, const char *detail)
{
    out->error_code = code;
    return parley_error_set(err, PARLEY_EPROTO, "engine.io query: %s (%s)", detail,
                            eio_error_message(code));
}

int eio_parse_query(const char *q, size_t len, eio_query *out, parley_error *err)
{
    query_field eio = { 0 }, transport = { 0 }, sid = { 0 };
    size_t i = 0;

    if (out == NULL || (q == NULL && len > 0))
        return parley_error_set(err, PARLEY_EINVAL, "engine.io query: NULL argument");
    memset(out, 0, sizeof *out);
    out->error_code = -1;
    if (len > 0 && q[0] == '?')
        i = 1;

    /* One linear pass over the pairs; unknown keys are skipped. */
    while (i < len && q[i] != '#') {
        size_t start = i, eq = (size_t)-1;

        while (i < len && q[i] != '&' && q[i] != '#') {
            if (q[i] == '=' && eq == (size_t)-1)
                eq = i;
            i++;
        }
        {
            size_t klen = (eq == (size_t)-1 ? i : eq) - start;
            const char *val = eq == (size_t)-1 ? q + i : q + eq + 1;
            size_t vlen = eq == (size_t)-1 ? 0 : i - eq - 1;

            if (span_is(q + start, klen, "EIO"))
                note_field(&eio, val, vlen);
            else if (span_is(q + start, klen, "transport"))
                note_field(&transport, val, vlen);
            else if (span_is(q + start, klen, "sid"))
                note_field(&sid, val, vlen);
        }
        if (i < len && q[i] == '&')
            i++;
    }

    if (transport.seen == 0)
        return query_fail(out, EIO_ERR_TRANSPORT_UNKNOWN, err, "no transport");
    if (transport.seen > 1)
        return query_fail(out, EIO_ERR_TRANSPORT_UNKNOWN, err, "transport given more than once");
    if (span_is(transport.val, transport.len, "polling"))
        out->transport = EIO_TRANSPORT_POLLING;
    else if (span_is(transport.val, transport.len, "websocket"))
        out->transport = EIO_TRANSPORT_WEBSOCKET;
    else
        return query_fail(out, EIO_ERR_TRANSPORT_UNKNOWN, err,
                          "transport must be \"polling\" or \"websocket\"");

    if (eio.seen == 0)
        return query_fail(out, EIO_ERR_UNSUPPORTED_VERSION, err, "no EIO");
    if (eio.seen > 1)
        return query_fail(out, EIO_ERR_UNSUPPORTED_VERSION, err, "EIO given more than once");
    if (!span_is(eio.val, eio.len, "4"))
        return query_fail(out, EIO_ERR_UNSUPPORTED_VERSION, err, "EIO must be exactly \"4\"");

    if (sid.seen > 1)
        return query_fail(out, EIO_ERR_SESSION_ID_UNKNOWN, err, "sid given more than once");
    if (sid.seen == 1) {
        if (!eio_sid_valid(sid.val, sid.len))
            return query_fail(out, EIO_ERR_SESSION_ID_UNKNOWN, err,
                              "sid must be 1..64 characters of [A-Za-z0-9_-]");
        out->sid = sid.val;
        out->sid_len = sid.len;
    }
    return 0;
}
