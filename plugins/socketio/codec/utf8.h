/*
 * UTF-8 validation (RFC 3629): no overlong forms, no surrogates, nothing
 * above U+10FFFF. Text Engine.IO packets are checked before any JSON parser
 * or storage sees them; cJSON itself does not validate raw bytes.
 */
#ifndef PARLEY_SIO_UTF8_H
#define PARLEY_SIO_UTF8_H

#include <stddef.h>

/* Returns n when s[0..n) is valid UTF-8, else the offset of the first byte
 * of the first invalid sequence. Linear, no allocation. */
size_t sio_utf8_check(const char *s, size_t n);

#endif
