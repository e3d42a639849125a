/* Engine.IO v4 packets and long-polling payloads; see eio.h for the rules. */
#include "eio.h"

#include <limits.h>
#include <stdarg.h>
#include <string.h>

#include "base64.h"
#include "utf8.h"

#define EIO_SEPARATOR 0x1e

void eio_limits_default(eio_limits *lim)
{
    lim->max_packets = 1000;
    lim->max_decoded_bytes = 1000000;
    lim->validate_utf8 = 1;
}

static const char *type_name(int type)
{
    static const char *names[] = { "open", "close", "ping", "pong", "message", "upgrade", "noop" };

    return type >= 0 && type <= 6 ? names[type] : "unknown";
}

/* A printable rendering of byte c for messages ("'x'" or "0x1f"). */
static const char *byte_repr(unsigned char c, char tmp[8])
{
    if (c >= 0x20 && c < 0x7f)
        snprintf(tmp, 8, "'%c'", c);
    else
        snprintf(tmp, 8, "0x%02x", c);
    return tmp;
}

/* Fill err with "<where>: <fmt…>", where names the packet: index 0 is a
 * lone frame, index k >= 1 the k-th packet of a payload. Built only on
 * failure, so a 300 000-packet payload costs no formatting. */
static int packet_error(parley_error *err, int code, size_t index, const char *fmt, ...)
    PARLEY_PRINTF(4, 5);

static int packet_error(parley_error *err, int code, size_t index, const char *fmt, ...)
{
    char what[PARLEY_ERROR_MESSAGE_MAX];
    va_list ap;

    if (err == NULL)
        return code;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (index == 0)
        return parley_error_set(err, code, "engine.io packet: %s", what);
    return parley_error_set(err, code, "engine.io payload: packet %zu: %s", index, what);
}

/*
 * Check one packet and describe it in *out without decoding base64: for a
 * binary packet out->len is the decoded length and out->data the base64
 * text. `index` names the packet in messages (see packet_error).
 */
static int check_packet(const uint8_t *p, size_t len, const eio_limits *lim, size_t index,
                        eio_packet *out, parley_error *err)
{
    char tmp[8];

    memset(out, 0, sizeof *out);
    if (len == 0)
        return packet_error(err, PARLEY_EPROTO, index, "empty packet");
    if (p[0] == 'b') {
        size_t bad_at = 0;
        long long n = sio_base64_check((const char *)p + 1, len - 1, &bad_at);

        if (n < 0) {
            if (bad_at == len - 1)
                return packet_error(err, PARLEY_EPROTO, index,
                                    "invalid base64: length %zu is not a multiple of 4", len - 1);
            return packet_error(err, PARLEY_EPROTO, index, "invalid base64: %s at offset %zu",
                                byte_repr(p[1 + bad_at], tmp), bad_at);
        }
        out->type = EIO_MESSAGE;
        out->binary = 1;
        out->data = p + 1;
        out->len = (size_t)n;
        return 0;
    }
    if (p[0] < '0' || p[0] > '6')
        return packet_error(err, PARLEY_EPROTO, index, "invalid packet type %s",
                            byte_repr(p[0], tmp));
    out->type = p[0] - '0';
    out->data = p + 1;
    out->len = len - 1;
    if (lim->validate_utf8) {
        size_t at = sio_utf8_check((const char *)p + 1, len - 1);

        if (at != len - 1)
            return packet_error(err, PARLEY_EPROTO, index, "invalid UTF-8 at byte %zu", at + 1);
    }
    switch (out->type) {
    case EIO_MESSAGE:
        return 0;
    case EIO_PING:
    case EIO_PONG:
        if (out->len == 0)
            return 0;
        if (out->len == 5 && memcmp(out->data, "probe", 5) == 0) {
            out->probe = 1;
            return 0;
        }
        return packet_error(err, PARLEY_EPROTO, index,
                            "%s packet data must be empty or \"probe\" (got %zu bytes)",
                            type_name(out->type), out->len);
    default:
        if (out->len == 0)
            return 0;
        return packet_error(err, PARLEY_EPROTO, index, "%s packet (%d) carries %zu bytes of data",
                            type_name(out->type), out->type, out->len);
    }
}

static int check_decoded_total(size_t total, const eio_limits *lim, const char *where,
                               parley_error *err)
{
    if (total > lim->max_decoded_bytes)
        return parley_error_set(err, PARLEY_ETOOBIG,
                                "%s: %zu decoded bytes exceed the limit of %zu", where, total,
                                lim->max_decoded_bytes);
    return 0;
}

/* Turn a checked binary packet's base64 into bytes, in place. */
static void decode_binary_in_place(eio_packet *pkt, size_t b64_len)
{
    uint8_t *at = (uint8_t *)pkt->data;

    pkt->len = sio_base64_decode((const char *)at, b64_len, at);
}

int eio_decode_frame(uint8_t *buf, size_t len, int binary, const eio_limits *lim,
                     eio_packet *out, parley_error *err)
{
    eio_limits def;
    int rc;

    if (out == NULL || (buf == NULL && len > 0))
        return parley_error_set(err, PARLEY_EINVAL, "engine.io frame: NULL argument");
    if (lim == NULL) {
        eio_limits_default(&def);
        lim = &def;
    }
    if (binary) {
        /* A binary frame is a whole message packet with no type byte. */
        memset(out, 0, sizeof *out);
        out->type = EIO_MESSAGE;
        out->binary = 1;
        out->data = buf;
        out->len = len;
        return check_decoded_total(len, lim, "engine.io frame", err);
    }
    rc = check_packet(buf, len, lim, 0, out, err);
    if (rc < 0)
        return rc;
    rc = check_decoded_total(out->len, lim, "engine.io packet", err);
    if (rc < 0)
        return rc;
    if (out->binary)
        decode_binary_in_place(out, len - 1);
    return 0;
}

int eio_decode_payload(uint8_t *body, size_t len, const eio_limits *lim, eio_packet_cb cb,
                       void *arg, parley_error *err)
{
    eio_limits def;
    eio_packet pkt;
    size_t count = 0, total = 0, start;
    int rc;

    if (cb == NULL || (body == NULL && len > 0))
        return parley_error_set(err, PARLEY_EINVAL, "engine.io payload: NULL argument");
    if (lim == NULL) {
        eio_limits_default(&def);
        lim = &def;
    }
    if (len == 0)
        return parley_error_set(err, PARLEY_EPROTO, "engine.io payload: empty body");

    /* Pass 1: check every packet and the limits; nothing is delivered yet. */
    start = 0;
    for (;;) {
        const uint8_t *sep = memchr(body + start, EIO_SEPARATOR, len - start);
        size_t end = sep ? (size_t)(sep - body) : len;

        if (++count > lim->max_packets || count > INT_MAX)
            return parley_error_set(err, PARLEY_ELIMIT,
                                    "engine.io payload: more than %zu packets", lim->max_packets);
        rc = check_packet(body + start, end - start, lim, count, &pkt, err);
        if (rc < 0)
            return rc;
        total += pkt.len;
        rc = check_decoded_total(total, lim, "engine.io payload", err);
        if (rc < 0)
            return rc;
        if (sep == NULL)
            break;
        start = end + 1;
    }

    /* Pass 2: decode and deliver. The checks above cannot fail now. */
    start = 0;
    for (;;) {
        const uint8_t *sep = memchr(body + start, EIO_SEPARATOR, len - start);
        size_t end = sep ? (size_t)(sep - body) : len;

        check_packet(body + start, end - start, lim, 1, &pkt, NULL);
        if (pkt.binary)
            decode_binary_in_place(&pkt, end - start - 1);
        rc = cb(arg, &pkt, err);
        if (rc < 0)
            return rc;
        if (sep == NULL)
            break;
        start = end + 1;
    }
    return (int)count;
}

/* ---- encoding ---------------------------------------------------------- */

size_t eio_polling_packet_size(int binary, size_t len)
{
    size_t body = binary ? sio_base64_encoded_len(len) : len;

    return body == SIZE_MAX ? SIZE_MAX : body + 1;
}

void eio_builder_init(eio_builder *b, char *buf, size_t cap)
{
    b->buf = buf;
    b->cap = cap;
    b->len = 0;
    b->count = 0;
}

/* Room for a packet of `size` bytes plus its separator; 0 or ETOOBIG. */
static int builder_reserve(eio_builder *b, size_t size, parley_error *err)
{
    size_t need = size + (b->count > 0);

    if (size == SIZE_MAX || need > b->cap - b->len)
        return parley_error_set(err, PARLEY_ETOOBIG,
                                "engine.io payload: packet of %zu bytes does not fit (%zu of %zu used)",
                                size, b->len, b->cap);
    if (b->count > 0)
        b->buf[b->len++] = EIO_SEPARATOR;
    return 0;
}

int eio_builder_add(eio_builder *b, int type, const void *data, size_t len, parley_error *err)
{
    int rc;

    if (type < EIO_OPEN || type > EIO_NOOP)
        return parley_error_set(err, PARLEY_EINVAL, "engine.io payload: invalid packet type %d", type);
    /* The separator inside a packet would split it in two on the client.
     * JSON text never has one raw (serialisers escape it as \u001e). */
    if (len > 0 && memchr(data, EIO_SEPARATOR, len))
        return parley_error_set(err, PARLEY_EINVAL,
                                "engine.io payload: packet data contains the record separator 0x1e");
    rc = builder_reserve(b, eio_polling_packet_size(0, len), err);
    if (rc < 0)
        return rc;
    b->buf[b->len++] = (char)('0' + type);
    if (len > 0)
        memcpy(b->buf + b->len, data, len);
    b->len += len;
    b->count++;
    return 0;
}

int eio_builder_add_encoded(eio_builder *b, const void *pkt, size_t len, parley_error *err)
{
    const char *p = pkt;

    if (len == 0 || p == NULL || p[0] < '0' || p[0] > '6')
        return parley_error_set(err, PARLEY_EINVAL,
                                "engine.io payload: an encoded packet must start with a type digit");
    return eio_builder_add(b, p[0] - '0', p + 1, len - 1, err);
}

int eio_builder_add_binary(eio_builder *b, const void *data, size_t len, parley_error *err)
{
    int rc = builder_reserve(b, eio_polling_packet_size(1, len), err);

    if (rc < 0)
        return rc;
    b->buf[b->len++] = 'b';
    sio_base64_encode(data, len, b->buf + b->len);
    b->len += sio_base64_encoded_len(len);
    b->count++;
    return 0;
}

int eio_encode_packet(int type, const void *data, size_t len, char *buf, size_t cap,
                      size_t *written, parley_error *err)
{
    if (type < EIO_OPEN || type > EIO_NOOP)
        return parley_error_set(err, PARLEY_EINVAL, "engine.io packet: invalid type %d", type);
    if (len >= cap)
        return parley_error_set(err, PARLEY_ETOOBIG,
                                "engine.io packet: needs %zu bytes, the buffer has %zu",
                                len + 1, cap);
    buf[0] = (char)('0' + type);
    if (len > 0)
        memcpy(buf + 1, data, len);
    if (written)
        *written = len + 1;
    return 0;
}

int eio_encode_open(const eio_open *o, char *buf, size_t cap, size_t *written, parley_error *err)
{
    size_t sid_len;
    int n;

    if (o == NULL || o->sid == NULL)
        return parley_error_set(err, PARLEY_EINVAL, "engine.io open: no sid");
    sid_len = strnlen(o->sid, EIO_SID_MAX + 1);
    if (!eio_sid_valid(o->sid, sid_len))
        return parley_error_set(err, PARLEY_EINVAL,
                                "engine.io open: the sid must be 1..%d characters of [A-Za-z0-9_-]",
                                EIO_SID_MAX);
    n = snprintf(buf, cap,
                 "0{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%u,\"pingTimeout\":%u,"
                 "\"maxPayload\":%u}",
                 o->sid, o->upgrade_websocket ? "\"websocket\"" : "", (unsigned)o->ping_interval_ms,
                 (unsigned)o->ping_timeout_ms, (unsigned)o->max_payload);
    if (n < 0 || (size_t)n >= cap)
        return parley_error_set(err, PARLEY_ETOOBIG,
                                "engine.io open: needs %d bytes, the buffer has %zu", n + 1, cap);
    if (written)
        *written = (size_t)n;
    return 0;
}
