/*
 * Bounded text helpers for the listener: strict percent-decoding of query
 * parameters, case-insensitive ASCII comparison. Pure functions. (UTF-8
 * validation of text messages is validate.h's, shared with the chat.)
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

/* Case-insensitive ASCII comparison of a with the NUL-terminated b. */
int parley__text_ascii_ieq(const char *a, size_t alen, const char *b);

#endif /* PARLEY__LISTENER_TEXT_H */
