/*
 * Bounded text helpers for the listener: strict percent-decoding of query
 * parameters and the re-encoding of what lws has already decoded. Pure
 * functions, no lws. (UTF-8 validation of text messages is validate.h's,
 * shared with the chat.)
 */
#ifndef PARLEY__LISTENER_TEXT_H
#define PARLEY__LISTENER_TEXT_H

#include <stddef.h>

/*
 * Find the first parameter `key` in a raw query ("a=1&b=x%20y") and copy its
 * decoded value ('+' is a space, %XX a byte) into out, NUL-terminated.
 * Returns the length, PARLEY_ENOTFOUND, PARLEY_ETOOBIG or PARLEY_EINVAL
 * (a '%' not followed by two hex digits, or a decoded NUL).
 */
int parley__text_query_param(const char *query, const char *key, char *out, size_t out_size);

/*
 * Percent-encode src[0..n) into out (NUL-terminated), escaping '%', bytes
 * outside printable ASCII, and the characters in `also`. Returns the
 * length, or -1 when out is too small.
 */
int parley__text_pct_encode(const char *src, size_t n, const char *also, char *out, size_t out_size);

/* Case-insensitive ASCII comparison of a with the NUL-terminated b. */
int parley__text_ascii_ieq(const char *a, size_t alen, const char *b);

#endif /* PARLEY__LISTENER_TEXT_H */
