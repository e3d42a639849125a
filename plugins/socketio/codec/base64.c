/* Strict base64; see base64.h for why strict. */
#include "base64.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* 0..63 for alphabet characters, -1 for everything else ('=' included). */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

size_t sio_base64_encoded_len(size_t n)
{
    size_t groups = n / 3 + (n % 3 != 0);

    if (groups > SIZE_MAX / 4)
        return SIZE_MAX;
    return groups * 4;
}

void sio_base64_encode(const uint8_t *src, size_t n, char *dst)
{
    size_t i = 0;

    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
        *dst++ = b64_alphabet[v >> 18];
        *dst++ = b64_alphabet[(v >> 12) & 63];
        *dst++ = b64_alphabet[(v >> 6) & 63];
        *dst++ = b64_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)src[i] << 16;
        *dst++ = b64_alphabet[v >> 18];
        *dst++ = b64_alphabet[(v >> 12) & 63];
        *dst++ = '=';
        *dst++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8;
        *dst++ = b64_alphabet[v >> 18];
        *dst++ = b64_alphabet[(v >> 12) & 63];
        *dst++ = b64_alphabet[(v >> 6) & 63];
        *dst++ = '=';
    }
}

long long sio_base64_check(const char *src, size_t n, size_t *bad_at)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t pad = 0;

    if (n == 0)
        return 0;
    if (s[n - 1] == '=')
        pad = n >= 2 && s[n - 2] == '=' ? 2 : 1;
    /* Characters first, so "!!!" is reported as a bad '!' rather than as a
     * bad length. */
    for (size_t i = 0; i < n - pad; i++) {
        if (b64_value(s[i]) < 0) {
            *bad_at = i;
            return -1;
        }
    }
    if (n % 4 != 0) {
        *bad_at = n;
        return -1;
    }
    /* The bits of the last data symbol that fall past the final byte must be
     * zero, or two strings would decode to the same bytes. */
    if (pad == 2 && (b64_value(s[n - 3]) & 0x0f) != 0) {
        *bad_at = n - 3;
        return -1;
    }
    if (pad == 1 && (b64_value(s[n - 2]) & 0x03) != 0) {
        *bad_at = n - 2;
        return -1;
    }
    return (long long)(n / 4 * 3 - pad);
}

size_t sio_base64_decode(const char *src, size_t n, uint8_t *dst)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t out = 0;

    for (size_t i = 0; i < n; i += 4) {
        int a = b64_value(s[i]), b = b64_value(s[i + 1]);
        int c = b64_value(s[i + 2]), d = b64_value(s[i + 3]);
        /* Read all four symbols before writing: in place, dst + out may
         * alias s + i. */
        dst[out++] = (uint8_t)(a << 2 | b >> 4);
        if (c < 0)
            break;
        dst[out++] = (uint8_t)((b & 0x0f) << 4 | c >> 2);
        if (d < 0)
            break;
        dst[out++] = (uint8_t)((c & 0x03) << 6 | d);
    }
    return out;
}
