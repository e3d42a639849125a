/*
 * Text helpers for the listener (listener_text.h).
 */
#include <string.h>

#include <parley/abi.h>

#include "http_parse.h"
#include "listener_text.h"

/* Decode s[0..n) into out (NUL-terminated when out != NULL). Returns the
 * decoded length, PARLEY_EINVAL or PARLEY_ETOOBIG. With out == NULL only
 * validates and measures. */
static int decode(const char *s, size_t n, char *out, size_t out_size)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];

        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int h, l;

            if (i + 2 >= n)
                return PARLEY_EINVAL;
            h = parley__http_hexval((unsigned char)s[i + 1]);
            l = parley__http_hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0)
                return PARLEY_EINVAL;
            c = h * 16 + l;
            i += 2;
        }
        if (c == 0)
            return PARLEY_EINVAL;
        if (out != NULL) {
            if (o + 1 >= out_size)
                return PARLEY_ETOOBIG;
            out[o] = (char)c;
        }
        o++;
    }
    if (out != NULL)
        out[o] = '\0';
    return o > (size_t)0x7fffffff ? PARLEY_ETOOBIG : (int)o;
}

int parley__text_query_param(const char *query, const char *key, char *out, size_t out_size)
{
    size_t klen;
    const char *p = query;

    if (query == NULL || key == NULL)
        return PARLEY_ENOTFOUND;
    klen = strlen(key);
    while (*p != '\0') {
        const char *end = strchr(p, '&');
        const char *eq;
        size_t len = end ? (size_t)(end - p) : strlen(p);
        size_t nlen;
        char name[256];
        int r;

        eq = memchr(p, '=', len);
        nlen = eq ? (size_t)(eq - p) : len;
        /* Compare the decoded name: "a%62c" names the key "abc". */
        r = decode(p, nlen, name, sizeof name);
        if (r == PARLEY_EINVAL)
            return PARLEY_EINVAL;
        if (r >= 0 && (size_t)r == klen && memcmp(name, key, klen) == 0) {
            const char *v = eq ? eq + 1 : p + len;
            size_t vlen = eq ? len - nlen - 1 : 0;

            if (out == NULL || out_size == 0)
                return PARLEY_ETOOBIG;
            return decode(v, vlen, out, out_size);
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    return PARLEY_ENOTFOUND;
}

int parley__text_ascii_ieq(const char *a, size_t alen, const char *b)
{
    size_t i;

    for (i = 0; i < alen; i++) {
        int x = (unsigned char)a[i], y = (unsigned char)b[i];

        if (y == 0)
            return 0;
        if (x >= 'A' && x <= 'Z')
            x += 'a' - 'A';
        if (y >= 'A' && y <= 'Z')
            y += 'a' - 'A';
        if (x != y)
            return 0;
    }
    return b[i] == '\0';
}
