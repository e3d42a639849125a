/*
 * What the chat accepts: usernames, message content and room names.
 *
 * Rules (the same for all three fields unless said otherwise):
 *
 * 1. The input must be valid UTF-8: no overlong forms, no surrogates
 *    (U+D800..U+DFFF), nothing above U+10FFFF, no truncated or stray
 *    continuation bytes. Checked on the raw input, before trimming.
 * 2. Leading and trailing whitespace is trimmed, exactly the set that
 *    JavaScript's String.prototype.trim() removes (the Node backend used
 *    it): U+0009..U+000D, U+0020, U+00A0, U+1680, U+2000..U+200A, U+2028,
 *    U+2029, U+202F, U+205F, U+3000 and U+FEFF. What remains is what is
 *    stored and broadcast.
 * 3. The trimmed text must not be empty.
 * 4. No control characters: C0 (U+0000..U+001F), DEL (U+007F) and C1
 *    (U+0080..U+009F) are refused, NUL included. Content alone may keep
 *    tab, line feed and carriage return inside (multi-line messages).
 * 5. Length is counted in Unicode code points after trimming, and must be
 *    at most the configured limit (chat.max_content_length, default 2000;
 *    chat.max_username_length, default 32; chat.max_room_length, default 64).
 * 6. Rooms must not start with '$' (a defence for the MongoDB backend,
 *    where '$' prefixes operators).
 *
 * Every refusal is PARLEY_EINVAL with a message that names the field and
 * what was wrong:
 *   "content is missing"
 *   "content is not valid UTF-8 (byte 0xc0 at offset 3)"
 *   "content is empty"
 *   "username contains a control character (U+0007 at character 3)"
 *   "content is 2001 characters long; the limit is 2000"
 *   "room must not start with '$'"
 *
 * On success each function returns 0 and the trimmed span (a pointer into
 * the input and its byte length) through out/out_len. Any thread (pure).
 */
#ifndef PARLEY__VALIDATE_H
#define PARLEY__VALIDATE_H

#include <stddef.h>

#include <parley/abi.h>

struct parley__chat_limits {
    unsigned max_content_length;   /* code points */
    unsigned max_username_length;  /* code points */
    unsigned max_room_length;      /* code points */
};

int parley__validate_username(const struct parley__chat_limits *l, const char *s, size_t len,
                              const char **out, size_t *out_len, parley_error *err);
int parley__validate_content(const struct parley__chat_limits *l, const char *s, size_t len,
                             const char **out, size_t *out_len, parley_error *err);
int parley__validate_room(const struct parley__chat_limits *l, const char *s, size_t len,
                          const char **out, size_t *out_len, parley_error *err);

/* Decode one UTF-8 code point at s[0..len): returns its byte length (1..4)
 * and stores it in *cp, or 0 when the bytes there are not valid UTF-8. */
size_t parley__utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);

/* 1 when s[0..len) is valid UTF-8; else 0 and *bad_offset is set. */
int parley__utf8_valid(const char *s, size_t len, size_t *bad_offset);

#endif /* PARLEY__VALIDATE_H */
