/*
 * Input validation for the chat (rules in validate.h).
 */
#include "validate.h"

#include <stdint.h>

#define FIELD_CONTENT 0
#define FIELD_USERNAME 1
#define FIELD_ROOM 2

static const char *const field_names[] = { "content", "username", "room" };

size_t parley__utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char c = s[0];
    uint32_t v;
    size_t n;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c < 0xc2)              /* stray continuation, or overlong 2-byte lead */
        return 0;
    if (c < 0xe0) {
        n = 2;
        v = c & 0x1f;
    } else if (c < 0xf0) {
        n = 3;
        v = c & 0x0f;
    } else if (c < 0xf5) {
        n = 4;
        v = c & 0x07;
    } else {
        return 0;              /* would exceed U+10FFFF */
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000))
        return 0;              /* overlong */
    if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

int parley__utf8_valid(const char *s, size_t len, size_t *bad_offset)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    uint32_t cp;

    while (i < len) {
        /* ASCII runs are the common case. */
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = parley__utf8_decode(p + i, len - i, &cp);
        if (n == 0) {
            if (bad_offset != NULL)
                *bad_offset = i;
            return 0;
        }
        i += n;
    }
    return 1;
}

/* The set JavaScript's String.prototype.trim() removes. */
static int is_space(uint32_t cp)
{
    switch (cp) {
    case 0x09: case 0x0a: case 0x0b: case 0x0c: case 0x0d: case 0x20:
    case 0xa0: case 0x1680: case 0x2028: case 0x2029: case 0x202f:
    case 0x205f: case 0x3000: case 0xfeff:
        return 1;
    default:
        return cp >= 0x2000 && cp <= 0x200a;
    }
}

static int is_control(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f);
}

/* Start of the code point that ends just before s + end (valid UTF-8). */
static size_t prev_start(const unsigned char *s, size_t end)
{
    size_t i = end - 1;

    while (i > 0 && (s[i] & 0xc0) == 0x80)
        i--;
    return i;
}

static int validate(int field, unsigned limit, const char *s, size_t len,
                    const char **out, size_t *out_len, parley_error *err)
{
    const char *name = field_names[field];
    const unsigned char *p = (const unsigned char *)s;
    size_t bad, begin = 0, end = len, count = 0;
    uint32_t cp;

    if (s == NULL)
        return parley_error_set(err, PARLEY_EINVAL, "%s is missing", name);
    if (!parley__utf8_valid(s, len, &bad))
        return parley_error_set(err, PARLEY_EINVAL, "%s is not valid UTF-8 (byte 0x%02x at offset %zu)",
                                name, p[bad], bad);

    while (begin < end) {
        size_t n = parley__utf8_decode(p + begin, end - begin, &cp);
        if (!is_space(cp))
            break;
        begin += n;
    }
    while (end > begin) {
        size_t at = prev_start(p, end);
        parley__utf8_decode(p + at, end - at, &cp);
        if (!is_space(cp))
            break;
        end = at;
    }
    if (begin == end)
        return parley_error_set(err, PARLEY_EINVAL, "%s is empty", name);

    if (field == FIELD_ROOM && p[begin] == '$')
        return parley_error_set(err, PARLEY_EINVAL, "room must not start with '$'");

    for (size_t i = begin; i < end;) {
        size_t n = parley__utf8_decode(p + i, end - i, &cp);
        count++;
        if (is_control(cp) &&
            !(field == FIELD_CONTENT && (cp == '\t' || cp == '\n' || cp == '\r')))
            return parley_error_set(err, PARLEY_EINVAL,
                                    "%s contains a control character (U+%04X at character %zu)",
                                    name, (unsigned)cp, count);
        i += n;
    }
    if (count > limit)
        return parley_error_set(err, PARLEY_EINVAL, "%s is %zu characters long; the limit is %u",
                                name, count, limit);

    if (out != NULL)
        *out = s + begin;
    if (out_len != NULL)
        *out_len = end - begin;
    return 0;
}

int parley__validate_username(const struct parley__chat_limits *l, const char *s, size_t len,
                              const char **out, size_t *out_len, parley_error *err)
{
    return validate(FIELD_USERNAME, l->max_username_length, s, len, out, out_len, err);
}

int parley__validate_content(const struct parley__chat_limits *l, const char *s, size_t len,
                             const char **out, size_t *out_len, parley_error *err)
{
    return validate(FIELD_CONTENT, l->max_content_length, s, len, out, out_len, err);
}

int parley__validate_room(const struct parley__chat_limits *l, const char *s, size_t len,
                          const char **out, size_t *out_len, parley_error *err)
{
    return validate(FIELD_ROOM, l->max_room_length, s, len, out, out_len, err);
}
