/*
 * JSON output: a growable buffer that starts inline (no malloc for small
 * answers), string escaping, and the message shape the Node backend's
 * Mongoose documents serialised to.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rest.h"

void rest_buf_init(rest_buf *b)
{
    b->data = b->inline_buf;
    b->len = 0;
    b->cap = sizeof b->inline_buf;
    b->oom = 0;
    b->data[0] = '\0';
}

void rest_buf_free(rest_buf *b)
{
    if (b->data != b->inline_buf)
        free(b->data);
    rest_buf_init(b);
}

char *rest_buf_reserve(rest_buf *b, size_t n)
{
    size_t need, cap;
    char *p;

    if (b->oom)
        return NULL;
    if (n > SIZE_MAX - b->len - 1)
        goto oom;
    need = b->len + n + 1; /* keep room for a terminating NUL */
    if (need <= b->cap)
        return b->data + b->len;

    cap = b->cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (b->data == b->inline_buf) {
        p = malloc(cap);
        if (p != NULL)
            memcpy(p, b->data, b->len);
    } else {
        p = realloc(b->data, cap);
    }
    if (p == NULL)
        goto oom;
    b->data = p;
    b->cap = cap;
    return b->data + b->len;

oom:
    b->oom = 1;
    return NULL;
}

void rest_buf_put(rest_buf *b, const char *s, size_t n)
{
    char *p = rest_buf_reserve(b, n);

    if (p == NULL)
        return;
    memcpy(p, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void rest_buf_puts(rest_buf *b, const char *s)
{
    rest_buf_put(b, s, strlen(s));
}

void rest_buf_printf(rest_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        rest_buf_put(b, small, (size_t)n);
        return;
    }
    p = rest_buf_reserve(b, (size_t)n);
    if (p == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/*
 * Copy runs of plain bytes in one go; only '"', '\\' and bytes below 0x20
 * need an escape. DEL and UTF-8 sequences are valid JSON as they are (the
 * host guarantees the strings are valid UTF-8).
 */
void rest_json_string(rest_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, run = 0;
    char esc[6];

    rest_buf_put(b, "\"", 1);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *e = NULL;
        size_t elen = 2;

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        switch (c) {
        case '"': e = "\\\""; break;
        case '\\': e = "\\\\"; break;
        case '\b': e = "\\b"; break;
        case '\f': e = "\\f"; break;
        case '\n': e = "\\n"; break;
        case '\r': e = "\\r"; break;
        case '\t': e = "\\t"; break;
        default:
            esc[0] = '\\';
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xf];
            e = esc;
            elen = 6;
            break;
        }
        rest_buf_put(b, s + run, i - run);
        rest_buf_put(b, e, elen);
        run = i + 1;
    }
    rest_buf_put(b, s + run, n - run);
    rest_buf_put(b, "\"", 1);
}

void rest_iso8601(char *out, size_t out_size, int64_t unix_ms)
{
    int64_t secs = unix_ms / 1000;
    int64_t ms = unix_ms % 1000;
    time_t t;
    struct tm tm;

    if (ms < 0) { /* floor division for times before 1970 */
        ms += 1000;
        secs -= 1;
    }
    t = (time_t)secs;
    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(out, out_size, "1970-01-01T00:00:00.000Z");
        return;
    }
    snprintf(out, out_size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
}

void rest_json_message(rest_buf *b, const parley_message *m)
{
    char ts[40];

    rest_buf_put(b, "{\"_id\":\"", 8);
    rest_buf_put(b, m->id, strnlen(m->id, PARLEY_ID_LEN));
    rest_buf_put(b, "\",\"username\":", 13);
    rest_json_string(b, m->username, m->username_len);
    rest_buf_put(b, ",\"content\":", 11);
    rest_json_string(b, m->content, m->content_len);
    rest_buf_put(b, ",\"room\":", 8);
    rest_json_string(b, m->room, m->room_len);
    rest_iso8601(ts, sizeof ts, m->timestamp_ms);
    rest_buf_put(b, ",\"timestamp\":\"", 14);
    rest_buf_puts(b, ts);
    rest_buf_put(b, "\"}", 2);
}
