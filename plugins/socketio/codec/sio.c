/* Socket.IO v5 packets: header, payload validation, encoding. See sio.h. */
#include "sio.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json_scan.h"
#include "sio_internal.h"

/* cJSON's compile-time nesting limit (CJSON_NESTING_LIMIT). */
#define SIO_DEPTH_CEILING 1000
/* JavaScript's Number.MAX_SAFE_INTEGER: larger event "numbers" are not ints. */
#define SIO_MAX_SAFE_INTEGER 9007199254740991.0

const char *const sio_reserved_events[] = {
    "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
    NULL
};

static const char *const type_names[] = {
    "CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK"
};

void sio_limits_default(sio_limits *lim)
{
    lim->max_attachments = 10;
    lim->max_nsp_len = 128;
    lim->max_json_depth = 32;
    lim->max_json_nodes = 10000;
    lim->max_event_name_len = 256;
    lim->max_attachment_bytes = 4u << 20;
    lim->numeric_event_names = 1;
    lim->accept_connect_error = 0;
}

const char *sio__type_name(int type)
{
    return type >= 0 && type <= 6 ? type_names[type] : "unknown";
}

int sio__fail(parley_error *err, int code, const char *fmt, ...)
{
    char what[PARLEY_ERROR_MESSAGE_MAX];
    va_list ap;

    if (err == NULL)
        return code;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return parley_error_set(err, code, "socket.io packet: %s", what);
}

void sio_packet_clear(sio_packet *p)
{
    if (p == NULL)
        return;
    cJSON_Delete(p->data);
    free(p->owned);
    memset(p, 0, sizeof *p);
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A digit run for messages: at most 20 digits, then "...". */
static const char *digits_repr(const char *s, size_t n, char out[32])
{
    size_t k = 0;

    while (k < n && k < 20 && is_digit(s[k]))
        k++;
    memcpy(out, s, k);
    if (k < n && is_digit(s[k]))
        memcpy(out + k, "...", 4);
    else
        out[k] = '\0';
    return out;
}

/* "<digits>-" after a binary type. *i is at the first digit on entry and
 * just past the '-' on success. */
static int parse_attachments(const char *buf, size_t len, size_t *i, const sio_limits *lim,
                             sio_packet *out, parley_error *err)
{
    uint64_t v = 0;
    size_t p = *i;
    char tmp[32];

    if (p >= len || !is_digit(buf[p]))
        return sio__fail(err, PARLEY_EPROTO,
                         "illegal attachments: %s needs a count followed by '-'",
                         sio__type_name(out->type));
    if (buf[p] == '0' && p + 1 < len && is_digit(buf[p + 1]))
        return sio__fail(err, PARLEY_EPROTO, "illegal attachments: leading zero in the count");
    for (; p < len && is_digit(buf[p]); p++) {
        v = v * 10 + (uint64_t)(buf[p] - '0');
        /* Stop at the first digit past the limit: a 100 000-digit count
         * costs a handful of steps and cannot overflow. */
        if (v > lim->max_attachments)
            return sio__fail(err, PARLEY_ELIMIT, "attachment count %s exceeds the limit of %u",
                             digits_repr(buf + *i, len - *i, tmp), (unsigned)lim->max_attachments);
    }
    if (p >= len || buf[p] != '-')
        return sio__fail(err, PARLEY_EPROTO,
                         "illegal attachments: the count must be followed by '-'");
    out->attachments = (uint32_t)v;
    *i = p + 1;
    return 0;
}

/* "/<nsp>[,]" with a bounded scan. *i is at the '/'. */
static int parse_namespace(const char *buf, size_t len, size_t *i, const sio_limits *lim,
                           sio_packet *out, parley_error *err)
{
    size_t start = *i, p = *i;

    for (; p < len && buf[p] != ','; p++) {
        unsigned char c = (unsigned char)buf[p];

        if (p - start >= lim->max_nsp_len)
            return sio__fail(err, PARLEY_ETOOBIG, "namespace longer than the limit of %zu bytes",
                             lim->max_nsp_len);
        if (c < 0x20 || c == 0x7f)
            return sio__fail(err, PARLEY_EPROTO,
                             "namespace byte %zu is a control character (0x%02x)", p - start, c);
    }
    out->nsp = buf + start;
    out->nsp_len = p - start;
    *i = p < len ? p + 1 : p;
    return 0;
}

/* A decimal ack id into a uint32, overflow checked per digit. */
static int parse_ack_id(const char *buf, size_t len, size_t *i, sio_packet *out,
                        parley_error *err)
{
    uint64_t v = 0;
    size_t p = *i;
    char tmp[32];

    if (buf[p] == '0' && p + 1 < len && is_digit(buf[p + 1]))
        return sio__fail(err, PARLEY_EPROTO, "ack id has a leading zero");
    for (; p < len && is_digit(buf[p]); p++) {
        v = v * 10 + (uint64_t)(buf[p] - '0');
        if (v > UINT32_MAX)
            return sio__fail(err, PARLEY_EPROTO, "ack id %s exceeds %u",
                             digits_repr(buf + *i, len - *i, tmp), (unsigned)UINT32_MAX);
    }
    out->has_ack = 1;
    out->ack_id = (uint32_t)v;
    *i = p;
    return 0;
}

static int type_takes_ack(int type)
{
    return type == SIO_EVENT || type == SIO_ACK || type == SIO_BINARY_EVENT ||
           type == SIO_BINARY_ACK;
}

int sio_parse_header(const char *buf, size_t len, const sio_limits *lim, sio_packet *out,
                     parley_error *err)
{
    sio_limits def;
    size_t i = 1;
    int rc;

    if (out == NULL || (buf == NULL && len > 0))
        return sio__fail(err, PARLEY_EINVAL, "NULL argument");
    memset(out, 0, sizeof *out);
    if (lim == NULL) {
        sio_limits_default(&def);
        lim = &def;
    }
    if (len == 0)
        return sio__fail(err, PARLEY_EPROTO, "empty packet");
    if (buf[0] < '0' || buf[0] > '6') {
        unsigned char c = (unsigned char)buf[0];

        if (c >= 0x20 && c < 0x7f)
            return sio__fail(err, PARLEY_EPROTO, "unknown packet type '%c'", c);
        return sio__fail(err, PARLEY_EPROTO, "unknown packet type 0x%02x", c);
    }
    out->type = buf[0] - '0';
    if (out->type == SIO_CONNECT_ERROR && !lim->accept_connect_error)
        return sio__fail(err, PARLEY_EPROTO, "CONNECT_ERROR (4) is not accepted from a client");

    if (out->type == SIO_BINARY_EVENT || out->type == SIO_BINARY_ACK) {
        rc = parse_attachments(buf, len, &i, lim, out, err);
        if (rc < 0)
            return rc;
    }
    out->nsp = "/";
    out->nsp_len = 1;
    if (i < len && buf[i] == '/') {
        rc = parse_namespace(buf, len, &i, lim, out, err);
        if (rc < 0)
            return rc;
    }
    if (i < len && is_digit(buf[i])) {
        if (!type_takes_ack(out->type))
            return sio__fail(err, PARLEY_EPROTO, "a %s packet cannot carry an ack id",
                             sio__type_name(out->type));
        rc = parse_ack_id(buf, len, &i, out, err);
        if (rc < 0)
            return rc;
    }
    if (i < len) {
        out->payload = buf + i;
        out->payload_len = len - i;
    }

    switch (out->type) {
    case SIO_DISCONNECT:
        if (out->payload)
            return sio__fail(err, PARLEY_EPROTO, "DISCONNECT carries a payload (%zu bytes)",
                             out->payload_len);
        break;
    case SIO_ACK:
    case SIO_BINARY_ACK:
        if (!out->has_ack)
            return sio__fail(err, PARLEY_EPROTO, "%s without an ack id", sio__type_name(out->type));
        /* fall through */
    case SIO_EVENT:
    case SIO_BINARY_EVENT:
        if (!out->payload)
            return sio__fail(err, PARLEY_EPROTO, "%s without a payload", sio__type_name(out->type));
        break;
    case SIO_CONNECT_ERROR:
        if (!out->payload)
            return sio__fail(err, PARLEY_EPROTO, "CONNECT_ERROR without a payload");
        break;
    default:
        break;
    }
    return 0;
}

/* cJSON turns 1e999 into infinity (and would print it as null): refuse
 * such numbers instead. Depth is bounded by the pre-scan. */
static int numbers_finite(const cJSON *node)
{
    for (; node; node = node->next) {
        if (cJSON_IsNumber(node) && !isfinite(node->valuedouble))
            return 0;
        if (node->child && !numbers_finite(node->child))
            return 0;
    }
    return 1;
}

/* Pre-scan, then cJSON; the payload must be one value plus whitespace. */
static int parse_json(const char *s, size_t n, const sio_limits *lim, cJSON **out,
                      parley_error *err)
{
    uint32_t depth = lim->max_json_depth > SIO_DEPTH_CEILING ? SIO_DEPTH_CEILING
                                                             : lim->max_json_depth;
    sio_json_scan scan;
    const char *end = NULL;
    cJSON *root;

    switch (sio_json_prescan(s, n, depth, lim->max_json_nodes, &scan)) {
    case SIO_JSON_SCAN_TOO_DEEP:
        return sio__fail(err, PARLEY_ELIMIT, "payload nesting exceeds the depth limit of %u",
                         (unsigned)depth);
    case SIO_JSON_SCAN_TOO_MANY:
        return sio__fail(err, PARLEY_ELIMIT, "payload has more than %zu values",
                         lim->max_json_nodes);
    case SIO_JSON_SCAN_CTRL:
        return sio__fail(err, PARLEY_EPROTO,
                         "payload has a raw control byte 0x%02x at byte %zu",
                         (unsigned char)s[scan.at], scan.at);
    case SIO_JSON_SCAN_NUL:
        return sio__fail(err, PARLEY_EPROTO, "payload contains a \\u0000 escape at byte %zu",
                         scan.at);
    default:
        break;
    }
    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        return sio__fail(err, PARLEY_EPROTO, "payload starts with a UTF-8 byte order mark");

    root = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    if (root == NULL) {
        size_t at = end && end >= s && end <= s + n ? (size_t)(end - s) : 0;

        return sio__fail(err, PARLEY_EPROTO, "payload is not valid JSON (near byte %zu)", at);
    }
    for (size_t k = (size_t)(end - s); k < n; k++) {
        char c = s[k];

        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            cJSON_Delete(root);
            return sio__fail(err, PARLEY_EPROTO, "payload has trailing data at byte %zu", k);
        }
    }
    if (!numbers_finite(root)) {
        cJSON_Delete(root);
        return sio__fail(err, PARLEY_EPROTO,
                         "payload number out of range (it overflows a double)");
    }
    *out = root;
    return 0;
}

static int is_reserved(const char *name)
{
    for (size_t k = 0; sio_reserved_events[k]; k++) {
        if (strcmp(name, sio_reserved_events[k]) == 0)
            return 1;
    }
    return 0;
}

static int check_event_name(sio_packet *p, const sio_limits *lim, parley_error *err)
{
    cJSON *first = p->data->child;

    if (cJSON_IsString(first)) {
        size_t n = strlen(first->valuestring);

        if (n > lim->max_event_name_len)
            return sio__fail(err, PARLEY_ETOOBIG,
                             "event name of %zu bytes exceeds the limit of %zu", n,
                             lim->max_event_name_len);
        if (is_reserved(first->valuestring))
            return sio__fail(err, PARLEY_EPROTO, "event name \"%s\" is reserved",
                             first->valuestring);
        p->event = first->valuestring;
        p->event_len = n;
        return 0;
    }
    if (cJSON_IsNumber(first) && lim->numeric_event_names) {
        double v = first->valuedouble;

        if (!isfinite(v) || floor(v) != v || fabs(v) > SIO_MAX_SAFE_INTEGER)
            return sio__fail(err, PARLEY_EPROTO, "a numeric event name must be an integer");
        char text[24];
        cJSON *name;

        if (v == 0)
            v = 0; /* -0 is "0", as in JavaScript */
        snprintf(text, sizeof text, "%.0f", v);
        /* The tree holds the name as a string from here on, so `event`
         * stays valid however the packet struct is copied. */
        name = cJSON_CreateString(text);
        if (name == NULL)
            return sio__fail(err, PARLEY_ENOMEM, "out of memory");
        cJSON_ReplaceItemViaPointer(p->data, first, name);
        p->event = name->valuestring;
        p->event_len = strlen(name->valuestring);
        return 0;
    }
    return sio__fail(err, PARLEY_EPROTO, "the event name must be a string%s",
                     lim->numeric_event_names ? " or an integer" : "");
}

/* The type rules that need the parsed payload. */
static int check_payload(sio_packet *p, const sio_limits *lim, parley_error *err)
{
    cJSON *d = p->data;

    switch (p->type) {
    case SIO_CONNECT:
        if (d && !cJSON_IsObject(d))
            return sio__fail(err, PARLEY_EPROTO, "the CONNECT payload must be an object");
        return 0;
    case SIO_CONNECT_ERROR:
        if (!cJSON_IsObject(d) && !cJSON_IsString(d))
            return sio__fail(err, PARLEY_EPROTO,
                             "the CONNECT_ERROR payload must be an object or a string");
        return 0;
    case SIO_EVENT:
    case SIO_BINARY_EVENT:
        if (!cJSON_IsArray(d))
            return sio__fail(err, PARLEY_EPROTO, "the %s payload must be an array",
                             sio__type_name(p->type));
        if (d->child == NULL)
            return sio__fail(err, PARLEY_EPROTO, "the %s payload is an empty array",
                             sio__type_name(p->type));
        return check_event_name(p, lim, err);
    case SIO_ACK:
    case SIO_BINARY_ACK:
        if (!cJSON_IsArray(d))
            return sio__fail(err, PARLEY_EPROTO, "the %s payload must be an array",
                             sio__type_name(p->type));
        return 0;
    default:
        return 0;
    }
}

/*
 * Walk the tree of a binary packet, checking every placeholder object and
 * recording it in refs[num] (refs has p->attachments slots, NULLed by the
 * caller). Depth is bounded by the pre-scan.
 */
static int walk_placeholders(cJSON *node, uint32_t n, cJSON **refs, parley_error *err)
{
    for (; node; node = node->next) {
        if (cJSON_IsObject(node)) {
            cJSON *ph = cJSON_GetObjectItemCaseSensitive(node, "_placeholder");

            if (ph) {
                cJSON *num = cJSON_GetObjectItemCaseSensitive(node, "num");
                int members = cJSON_GetArraySize(node);
                double v;

                if (!cJSON_IsTrue(ph))
                    return sio__fail(err, PARLEY_EPROTO,
                                     "illegal attachments: \"_placeholder\" must be true");
                if (members != 2 || num == NULL)
                    return sio__fail(err, PARLEY_EPROTO,
                                     "illegal attachments: a placeholder must be exactly "
                                     "{\"_placeholder\":true,\"num\":k}");
                if (!cJSON_IsNumber(num))
                    return sio__fail(err, PARLEY_EPROTO,
                                     "illegal attachments: placeholder \"num\" is not a number");
                v = num->valuedouble;
                if (!isfinite(v) || floor(v) != v)
                    return sio__fail(err, PARLEY_EPROTO,
                                     "illegal attachments: placeholder \"num\" %g is not an "
                                     "integer", v);
                if (v < 0 || v >= (double)n)
                    return sio__fail(err, PARLEY_EPROTO,
                                     "illegal attachments: placeholder \"num\" %g is out of "
                                     "range (the packet has %u attachments)", v, (unsigned)n);
                if (refs[(uint32_t)v])
                    return sio__fail(err, PARLEY_EPROTO,
                                     "illegal attachments: placeholder %u appears twice",
                                     (unsigned)v);
                refs[(uint32_t)v] = node;
                continue;
            }
        }
        if (node->child) {
            int rc = walk_placeholders(node->child, n, refs, err);

            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

static int check_placeholders(const sio_packet *p, cJSON **refs, parley_error *err)
{
    int rc = walk_placeholders(p->data, p->attachments, refs, err);

    if (rc < 0)
        return rc;
    for (uint32_t k = 0; k < p->attachments; k++) {
        if (refs[k] == NULL)
            return sio__fail(err, PARLEY_EPROTO, "illegal attachments: attachment %u has no placeholder",
                             (unsigned)k);
    }
    return 0;
}

int sio__decode(const char *buf, size_t len, const sio_limits *lim, sio_packet *out,
                cJSON **refs, parley_error *err)
{
    int rc = sio_parse_header(buf, len, lim, out, err);

    if (rc < 0)
        return rc;
    if (out->payload) {
        rc = parse_json(out->payload, out->payload_len, lim, &out->data, err);
        if (rc < 0)
            goto fail;
    }
    rc = check_payload(out, lim, err);
    if (rc < 0)
        goto fail;
    if (out->type == SIO_BINARY_EVENT || out->type == SIO_BINARY_ACK) {
        rc = check_placeholders(out, refs, err);
        if (rc < 0)
            goto fail;
    }
    return 0;
fail:
    sio_packet_clear(out);
    return rc;
}

int sio_decode(const char *buf, size_t len, const sio_limits *lim, sio_packet *out,
               parley_error *err)
{
    cJSON *refs[SIO_STACK_REFS];
    cJSON **r = refs;
    sio_limits def;
    int rc;

    if (lim == NULL) {
        sio_limits_default(&def);
        lim = &def;
    }
    /* The attachment count is capped before this allocation can happen. */
    if (lim->max_attachments > SIO_STACK_REFS) {
        r = calloc(lim->max_attachments, sizeof *r);
        if (r == NULL)
            return sio__fail(err, PARLEY_ENOMEM, "out of memory");
    } else {
        memset(refs, 0, sizeof refs);
    }
    rc = sio__decode(buf, len, lim, out, r, err);
    if (r != refs)
        free(r);
    return rc;
}

/* ---- encoding ---------------------------------------------------------- */

static size_t dec_len(uint32_t v)
{
    size_t n = 1;

    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* Decimal digits of v at dst, no NUL. */
static size_t put_dec(char *dst, uint32_t v)
{
    size_t n = dec_len(v);

    for (size_t k = n; k > 0; k--) {
        dst[k - 1] = (char)('0' + v % 10);
        v /= 10;
    }
    return n;
}

static int names_main_nsp(const sio_out *o)
{
    return o->nsp == NULL || o->nsp_len == 0 || (o->nsp_len == 1 && o->nsp[0] == '/');
}

static int is_binary_type(int type)
{
    return type == SIO_BINARY_EVENT || type == SIO_BINARY_ACK;
}

size_t sio_encoded_size(const sio_out *o)
{
    size_t n = (o->eio_message ? 1 : 0) + 1;

    if (is_binary_type(o->type))
        n += dec_len(o->attachments) + 1;
    if (!names_main_nsp(o))
        n += o->nsp_len + 1;
    if (o->has_ack)
        n += dec_len(o->ack_id);
    return n + o->json_len;
}

static int check_out(const sio_out *o, parley_error *err)
{
    const char *t;
    char first = o->json_len > 0 ? o->json[0] : 0;

    if (o->type < SIO_CONNECT || o->type > SIO_BINARY_ACK)
        return sio__fail(err, PARLEY_EINVAL, "cannot encode packet type %d", o->type);
    t = sio__type_name(o->type);
    if (o->json_len > 0 && o->json == NULL)
        return sio__fail(err, PARLEY_EINVAL, "%s: json is NULL", t);
    if (!names_main_nsp(o)) {
        if (o->nsp[0] != '/' || memchr(o->nsp, ',', o->nsp_len))
            return sio__fail(err, PARLEY_EINVAL,
                             "%s: a namespace must start with '/' and contain no ','", t);
    }
    if (o->has_ack && !type_takes_ack(o->type))
        return sio__fail(err, PARLEY_EINVAL, "%s cannot carry an ack id", t);
    if (!o->has_ack && (o->type == SIO_ACK || o->type == SIO_BINARY_ACK))
        return sio__fail(err, PARLEY_EINVAL, "%s needs an ack id", t);
    if (o->attachments && !is_binary_type(o->type))
        return sio__fail(err, PARLEY_EINVAL, "%s cannot carry attachments", t);
    switch (o->type) {
    case SIO_DISCONNECT:
        if (o->json_len)
            return sio__fail(err, PARLEY_EINVAL, "DISCONNECT carries no payload");
        return 0;
    case SIO_CONNECT:
        if (o->json_len && first != '{')
            return sio__fail(err, PARLEY_EINVAL, "the CONNECT payload must be an object");
        return 0;
    case SIO_CONNECT_ERROR:
        if (first != '{')
            return sio__fail(err, PARLEY_EINVAL, "the CONNECT_ERROR payload must be an object");
        return 0;
    default:
        if (first != '[')
            return sio__fail(err, PARLEY_EINVAL, "the %s payload must be an array", t);
        return 0;
    }
}

int sio_encode(const sio_out *o, char *buf, size_t cap, size_t *written, parley_error *err)
{
    size_t need, n = 0;
    int rc;

    if (o == NULL || (buf == NULL && cap > 0))
        return sio__fail(err, PARLEY_EINVAL, "NULL argument");
    rc = check_out(o, err);
    if (rc < 0)
        return rc;
    need = sio_encoded_size(o);
    if (need > cap)
        return sio__fail(err, PARLEY_ETOOBIG, "encoding needs %zu bytes, the buffer has %zu",
                         need, cap);
    if (o->eio_message)
        buf[n++] = '4';
    buf[n++] = (char)('0' + o->type);
    if (is_binary_type(o->type)) {
        n += put_dec(buf + n, o->attachments);
        buf[n++] = '-';
    }
    if (!names_main_nsp(o)) {
        memcpy(buf + n, o->nsp, o->nsp_len);
        n += o->nsp_len;
        buf[n++] = ',';
    }
    if (o->has_ack)
        n += put_dec(buf + n, o->ack_id);
    if (o->json_len) {
        memcpy(buf + n, o->json, o->json_len);
        n += o->json_len;
    }
    if (written)
        *written = n;
    return 0;
}

int sio_placeholder_write(uint32_t num, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "{\"_placeholder\":true,\"num\":%u}", (unsigned)num);

    return n < 0 || (size_t)n >= cap ? PARLEY_ETOOBIG : n;
}

cJSON *sio_placeholder_new(uint32_t num)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL)
        return NULL;
    if (!cJSON_AddTrueToObject(o, "_placeholder") || !cJSON_AddNumberToObject(o, "num", num)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
