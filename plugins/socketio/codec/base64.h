/*
 * Strict standard base64 (RFC 4648 §4, "+/" alphabet, "=" padding), as
 * Engine.IO long-polling carries binary packets ("b" + base64).
 *
 * Decoding is strict on purpose: Node's Buffer.from(s, "base64") skips junk
 * and accepts missing padding, so a lenient port would turn garbage into
 * bytes. Here the length must be a multiple of 4, padding only at the end,
 * and the unused bits of the last symbol must be zero (one canonical
 * encoding per byte string).
 */
#ifndef PARLEY_SIO_BASE64_H
#define PARLEY_SIO_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Encoded length of n bytes (no NUL); SIZE_MAX when it would overflow. */
size_t sio_base64_encoded_len(size_t n);

/* Write the encoding of src[0..n) to dst (sio_base64_encoded_len(n) bytes, no NUL). */
void sio_base64_encode(const uint8_t *src, size_t n, char *dst);

/* Validate src[0..n) without decoding. Returns the decoded length, or -1
 * with *bad_at set to the offset of the first offending character (n for a
 * length that is not a multiple of 4). */
long long sio_base64_check(const char *src, size_t n, size_t *bad_at);

/* Decode a string that sio_base64_check() accepted. dst may equal src
 * (in-place decoding: the output never overtakes the input). Returns the
 * decoded length. */
size_t sio_base64_decode(const char *src, size_t n, uint8_t *dst);

#endif
