/*
 * The listener's query-string helpers (host/listener_text.c):
 * parley__text_query_param (what plugins get as http_query_param), and
 * and parley__text_ascii_ieq on the same bytes.
 *
 * Input: <out size byte> <key> NUL <query>. The key and the query are
 * handed over as C strings (that is the API); the out buffer is exactly as
 * big as the size byte says (0..255), so an overrun is an ASan report.
 * Oracle:
 *   - a found value fits the buffer, is NUL-terminated at its returned
 *     length and holds no NUL (a decoded NUL is refused);
 *   - the result (value, ENOTFOUND, EINVAL, ETOOBIG) is that of a
 *     reference written here from the header's description.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "listener_text.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode s[0..n): '+' a space, %XX a byte, a NUL (raw or decoded) or a bad
 * escape refused. cap bounds the decoded length (exclusive), as the
 * listener's 256-byte name buffer does; SIZE_MAX for none. */
static int ref_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0, i;

    for (i = 0; i < n; i++) {
        int c = (unsigned char)s[i];

        if (c == '%') {
            if (n - i < 3 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
                return PARLEY_EINVAL;
            c = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == 0)
            return PARLEY_EINVAL;
        if (o + 1 >= cap)
            return PARLEY_ETOOBIG;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return (int)o;
}

/* The reference, from listener_text.h: parameters split on '&', the first
 * whose decoded name is exactly `key` (a bare `key` without '=' has the
 * empty value); a malformed name on the way is PARLEY_EINVAL; a name that
 * decodes to 255 bytes or more never matches. Returns the decoded value's
 * length into out (big enough), PARLEY_ENOTFOUND or PARLEY_EINVAL. */
static int reference(const char *query, const char *key, char *out)
{
    const char *p = query;
    size_t klen = strlen(key);
    char name[256];

    while (*p != '\0') {
        const char *end = p + strcspn(p, "&");
        const char *eq = memchr(p, '=', (size_t)(end - p));
        size_t nlen = (size_t)((eq ? eq : end) - p);
        int r = ref_decode(p, nlen, name, sizeof name);

        if (r == PARLEY_EINVAL)
            return PARLEY_EINVAL;
        if (r >= 0 && (size_t)r == klen && memcmp(name, key, klen) == 0) {
            const char *v = eq ? eq + 1 : end;

            return ref_decode(v, (size_t)(end - v), out, SIZE_MAX);
        }
        if (*end == '\0')
            break;
        p = end + 1;
    }
    return PARLEY_ENOTFOUND;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul;
    size_t out_size, klen;
    char *key, *query, *out, *ref;
    int rc, want;

    if (size < 2)
        return 0;
    out_size = data[0];
    data++;
    size--;
    nul = memchr(data, '\0', size);
    if (nul == NULL)
        return 0;
    klen = (size_t)(nul - data);
    key = fuzz_strndup(data, klen);
    query = fuzz_strndup(nul + 1, size - klen - 1);
    out = malloc(out_size ? out_size : 1);
    ref = malloc(size + 1);
    FUZZ_CHECK(key && query && out && ref, "out of memory");

    rc = parley__text_query_param(query, key, out_size ? out : NULL, out_size);
    want = reference(query, key, ref);
    if (rc >= 0) {
        FUZZ_CHECK((size_t)rc < out_size, "value of %d bytes in a %zu-byte buffer", rc, out_size);
        FUZZ_CHECK(out[rc] == '\0' && memchr(out, '\0', (size_t)rc) == NULL,
                   "value not NUL-terminated at its length %d", rc);
        FUZZ_CHECK(want == rc && memcmp(out, ref, (size_t)rc) == 0,
                   "key '%s' in '%s': got %d '%s', reference %d '%s'", key, query, rc, out, want, ref);

        FUZZ_CHECK(parley__text_ascii_ieq(out, (size_t)rc, out) == 1, "ascii_ieq(x, x) is false");
    } else if (rc == PARLEY_ETOOBIG) {
        /* Over the buffer, or (the value is decoded in order) an invalid
         * escape that comes after the byte that did not fit. */
        FUZZ_CHECK((want >= 0 && (size_t)want + 1 > out_size) || want == PARLEY_EINVAL,
                   "ETOOBIG for a %d-byte value in a %zu-byte buffer (reference %d)", want,
                   out_size, want);
    } else {
        FUZZ_CHECK(rc == PARLEY_ENOTFOUND || rc == PARLEY_EINVAL, "returned %d", rc);
        FUZZ_CHECK(rc == want, "key '%s' in '%s': got %d, reference %d", key, query, rc, want);
    }
    free(ref);
    free(out);
    free(query);
    free(key);
    return 0;
}
