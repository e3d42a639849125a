/*
 * Text that goes back to the client inside error messages: always valid
 * UTF-8, and user input quoted, bounded and cut on a character boundary.
 */
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
void rest_utf8_sanitize(char *s)
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
