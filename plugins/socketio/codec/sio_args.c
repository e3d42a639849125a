/*
 * Between decoded packets and the SDK's handler arguments: the args array
 * of an incoming packet, and the payload of an outgoing event. See sio.h.
 */
#include <stdlib.h>
#include <string.h>

#include "sio_internal.h"

static char *print_array(cJSON *arr, size_t *len)
{
    char *s = cJSON_PrintUnformatted(arr);

    if (s && len)
        *len = strlen(s);
    return s;
}

char *sio_args_json(sio_packet *p, size_t *len)
{
    cJSON *first, *wrap;
    char *s;

    if (p == NULL)
        return NULL;
    switch (p->type) {
    case SIO_EVENT:
    case SIO_BINARY_EVENT:
        /* Detach the name, print, put it back: the tree is unchanged and the
         * arguments are printed once, with no copy of the tree. */
        first = cJSON_DetachItemFromArray(p->data, 0);
        if (first == NULL)
            return NULL;
        s = print_array(p->data, len);
        cJSON_InsertItemInArray(p->data, 0, first);
        return s;
    case SIO_ACK:
    case SIO_BINARY_ACK:
        return print_array(p->data, len);
    case SIO_CONNECT:
        wrap = cJSON_CreateArray();
        if (wrap == NULL)
            return NULL;
        if (p->data && !cJSON_AddItemReferenceToArray(wrap, p->data)) {
            cJSON_Delete(wrap);
            return NULL;
        }
        s = print_array(wrap, len);
        cJSON_Delete(wrap); /* a reference: p->data itself is not freed */
        return s;
    default:
        return NULL;
    }
}

/* Bytes of s[0..n) as the inside of a JSON string. */
static size_t escaped_len(const char *s, size_t n)
{
    size_t out = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f')
            out += 2;
        else if (c < 0x20)
            out += 6;
        else
            out += 1;
    }
    return out;
}

static size_t put_escaped(char *dst, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e = 0;

        switch (c) {
        case '"': e = '"'; break;
        case '\\': e = '\\'; break;
        case '\n': e = 'n'; break;
        case '\r': e = 'r'; break;
        case '\t': e = 't'; break;
        case '\b': e = 'b'; break;
        case '\f': e = 'f'; break;
        default: break;
        }
        if (e) {
            dst[o++] = '\\';
            dst[o++] = e;
        } else if (c < 0x20) {
            memcpy(dst + o, "\\u00", 4);
            dst[o + 4] = hex[c >> 4];
            dst[o + 5] = hex[c & 15];
            o += 6;
        } else {
            dst[o++] = (char)c;
        }
    }
    return o;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The inside of an array's text: between '[' and ']', trimmed. 0 when
 * args is not "[...]". */
static int array_inner(const char *args, size_t len, const char **inner, size_t *inner_len)
{
    size_t a = 0, b = len;

    while (a < b && is_ws(args[a]))
        a++;
    while (b > a && is_ws(args[b - 1]))
        b--;
    if (b - a < 2 || args[a] != '[' || args[b - 1] != ']')
        return 0;
    a++;
    b--;
    while (a < b && is_ws(args[a]))
        a++;
    while (b > a && is_ws(args[b - 1]))
        b--;
    *inner = args + a;
    *inner_len = b - a;
    return 1;
}

size_t sio_event_payload_size(const char *event, size_t event_len, const char *args,
                              size_t args_len)
{
    const char *inner;
    size_t inner_len;

    if (!array_inner(args, args_len, &inner, &inner_len))
        return 0;
    /* [ " name " ] plus , inner */
    return 4 + escaped_len(event, event_len) + (inner_len ? inner_len + 1 : 0);
}

int sio_event_payload(const char *event, size_t event_len, const char *args, size_t args_len,
                      char *buf, size_t cap, size_t *written, parley_error *err)
{
    const char *inner;
    size_t inner_len, need, o = 0;

    if (event == NULL || (args == NULL && args_len > 0))
        return sio__fail(err, PARLEY_EINVAL, "NULL argument");
    for (size_t k = 0; sio_reserved_events[k]; k++) {
        if (strlen(sio_reserved_events[k]) == event_len &&
            memcmp(sio_reserved_events[k], event, event_len) == 0)
            return sio__fail(err, PARLEY_EINVAL, "\"%s\" is a reserved event name",
                             sio_reserved_events[k]);
    }
    if (args == NULL || !array_inner(args, args_len, &inner, &inner_len))
        return sio__fail(err, PARLEY_EINVAL, "event arguments must be a JSON array");
    need = sio_event_payload_size(event, event_len, args, args_len);
    if (need > cap)
        return sio__fail(err, PARLEY_ETOOBIG, "event payload needs %zu bytes, the buffer has %zu",
                         need, cap);
    buf[o++] = '[';
    buf[o++] = '"';
    o += put_escaped(buf + o, event, event_len);
    buf[o++] = '"';
    if (inner_len) {
        buf[o++] = ',';
        memcpy(buf + o, inner, inner_len);
        o += inner_len;
    }
    buf[o++] = ']';
    if (written)
        *written = o;
    return 0;
}
