/*
 * The WebSocket codec (host/ws_codec.c) on a stream of client frames.
 *
 * Input: the bytes a client sends after the 101. Frames are parsed one after
 * the other with parley__ws_parse_head until it needs more or refuses; each
 * frame's payload (as much of it as the input holds) is unmasked, and a
 * whole close payload goes through parley__ws_close_check. The first 24
 * bytes are also a Sec-WebSocket-Key for parley__ws_key_valid and
 * parley__ws_accept.
 * Oracle:
 *   - parse_head agrees with a reference written here from RFC 6455 5.2 and
 *     the header's list of refusals (result, every field, head_len); every
 *     proper prefix of an accepted header is "need more"; a refusal has a
 *     reason;
 *   - unmasking equals a byte-by-byte reference, in one call and in two
 *     pieces split at a point taken from the input, and undoes itself;
 *   - close_check agrees with a reference (1005 for empty, 1002, 1007);
 *   - the server header for the frame's length has the minimal form and
 *     parses back (once masked) to the same length;
 *   - key_valid agrees with a reference; the accept value is 27 base64
 *     characters, '=' and a NUL, and the same for the same key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "validate.h"
#include "ws_codec.h"

/* The reference header parser: read the whole header first, judge it after.
 * Returns what parse_head must: -1, 0 or the header length. A refusal
 * visible before the header is complete may come early (parse_head reports
 * an error as soon as its byte is there), so for a short buffer the verdict
 * is -1 if the bytes present already break a rule, else 0. */
static int ref_head(const uint8_t *b, size_t n, struct parley__ws_head *h)
{
    unsigned op, len7, fin;
    size_t ext, need;

    if (n < 1)
        return 0;
    fin = b[0] >> 7;
    op = b[0] & 15;
    if (b[0] & 0x70)
        return -1;
    if (!(op == 0 || op == 1 || op == 2 || op == 8 || op == 9 || op == 10))
        return -1;
    if (op >= 8 && !fin)
        return -1;
    if (n < 2)
        return 0;
    if (b[1] < 0x80)
        return -1;
    len7 = b[1] & 0x7f;
    if (op >= 8 && len7 >= 126)
        return -1;
    ext = len7 < 126 ? 0 : len7 == 126 ? 2 : 8;
    if (ext == 8 && n > 2 && b[2] >= 0x80)
        return -1;
    need = 2 + ext + 4;
    if (n < need)
        return 0;
    h->fin = fin;
    h->opcode = op;
    if (ext == 0)
        h->payload_len = len7;
    else if (ext == 2)
        h->payload_len = (uint64_t)b[2] * 256 + b[3];
    else {
        h->payload_len = 0;
        for (size_t i = 0; i < 8; i++)
            h->payload_len = h->payload_len * 256 + b[2 + i];
    }
    memcpy(h->mask, b + 2 + ext, 4);
    h->head_len = need;
    return (int)need;
}

static void check_head(const uint8_t *p, size_t n, int rc, const struct parley__ws_head *h,
                       const char *why)
{
    struct parley__ws_head r, tmp;
    int want = ref_head(p, n, &r);

    FUZZ_CHECK(rc == want, "parse_head of %zu bytes (%02x %02x ...) returned %d, reference %d", n,
               n > 0 ? p[0] : 0, n > 1 ? p[1] : 0, rc, want);
    if (rc < 0) {
        FUZZ_CHECK(why != NULL && why[0] != '\0', "refused without a reason");
        return;
    }
    if (rc == 0) {
        FUZZ_CHECK(n < PARLEY__WS_CLIENT_HEAD_MAX, "need more with %zu bytes", n);
        return;
    }
    FUZZ_CHECK((size_t)rc == h->head_len && h->head_len <= n &&
                   h->head_len <= PARLEY__WS_CLIENT_HEAD_MAX,
               "returned %d, head_len %zu, %zu bytes", rc, h->head_len, n);
    FUZZ_CHECK(h->fin == r.fin && h->opcode == r.opcode && h->payload_len == r.payload_len &&
                   memcmp(h->mask, r.mask, 4) == 0,
               "fields differ from the reference (len %llu vs %llu)",
               (unsigned long long)h->payload_len, (unsigned long long)r.payload_len);
    FUZZ_CHECK(h->payload_len < UINT64_C(1) << 63, "payload_len %llu",
               (unsigned long long)h->payload_len);
    if (h->opcode >= 8)
        FUZZ_CHECK(h->fin && h->payload_len <= 125, "control frame fin %u len %llu", h->fin,
                   (unsigned long long)h->payload_len);
    for (size_t k = 0; k < h->head_len; k++) {
        const char *w = NULL;

        FUZZ_CHECK(parley__ws_parse_head(p, k, &tmp, &w) == 0,
                   "prefix of %zu bytes of a %zu-byte header is not 'need more'", k, h->head_len);
    }
}

static void check_unmask(const uint8_t *p, size_t n, const unsigned char mask[4], size_t split)
{
    unsigned char *a = malloc(n + 1), *b = malloc(n + 1), *ref = malloc(n + 1);

    FUZZ_CHECK(a && b && ref, "out of memory");
    memcpy(a, p, n);
    memcpy(b, p, n);
    for (size_t i = 0; i < n; i++)
        ref[i] = p[i] ^ mask[i % 4];
    parley__ws_unmask(a, n, mask, 0);
    FUZZ_CHECK(memcmp(a, ref, n) == 0, "unmask of %zu bytes differs from the reference", n);
    if (split > n)
        split = n;
    parley__ws_unmask(b, split, mask, 0);
    parley__ws_unmask(b + split, n - split, mask, split);
    FUZZ_CHECK(memcmp(b, ref, n) == 0, "unmask split at %zu of %zu differs", split, n);
    parley__ws_unmask(a, n, mask, 0);
    FUZZ_CHECK(memcmp(a, p, n) == 0, "unmasking twice is not the identity");
    free(ref);
    free(b);
    free(a);
}

static void check_close(const uint8_t *masked, size_t n, const unsigned char mask[4])
{
    unsigned char p[125];
    const char *why = NULL;
    int code = -1, rc, want, c;

    for (size_t i = 0; i < n; i++)
        p[i] = masked[i] ^ mask[i % 4];
    rc = parley__ws_close_check(p, n, &code, &why);
    if (n == 0) {
        FUZZ_CHECK(rc == 0 && code == 1005, "empty close: %d code %d", rc, code);
        return;
    }
    if (n == 1) {
        want = 1002;
    } else {
        c = p[0] << 8 | p[1];
        if (!((c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999)))
            want = 1002;
        else if (!parley__utf8_valid((const char *)p + 2, n - 2, NULL))
            want = 1007;
        else
            want = 0;
        if (want == 0)
            FUZZ_CHECK(code == c, "close code %d read as %d", c, code);
    }
    FUZZ_CHECK(rc == want, "close_check of %zu bytes: %d, reference %d", n, rc, want);
    if (rc != 0)
        FUZZ_CHECK(why != NULL && why[0] != '\0', "close refused without a reason");
}

static void check_server_head(uint64_t len, unsigned opcode)
{
    unsigned char out[PARLEY__WS_SERVER_HEAD_MAX + 4];
    struct parley__ws_head h;
    const char *why = NULL;
    size_t n = parley__ws_server_head(out, (int)opcode, len);
    size_t want = len < 126 ? 2 : len <= 0xffff ? 4 : 10;

    FUZZ_CHECK(n == want, "server head for %llu is %zu bytes", (unsigned long long)len, n);
    FUZZ_CHECK(out[0] == (0x80 | opcode), "server head byte 0 is %02x", out[0]);
    out[1] |= 0x80;
    memcpy(out + n, "\1\2\3\4", 4);
    FUZZ_CHECK(parley__ws_parse_head(out, n + 4, &h, &why) == (int)(n + 4) &&
                   h.payload_len == len && h.opcode == opcode && h.fin,
               "server head for %llu does not parse back", (unsigned long long)len);
}

static void check_key(const uint8_t *k, size_t n)
{
    char a[PARLEY__WS_ACCEPT_LEN + 1], b[PARLEY__WS_ACCEPT_LEN + 1];
    int want = n == 24 && k[22] == '=' && k[23] == '=';

    for (size_t i = 0; want && i < 22; i++)
        want = (k[i] >= 'A' && k[i] <= 'Z') || (k[i] >= 'a' && k[i] <= 'z') ||
               (k[i] >= '0' && k[i] <= '9') || k[i] == '+' || k[i] == '/';
    FUZZ_CHECK(parley__ws_key_valid((const char *)k, n) == want, "key_valid disagrees (%d)",
               want);

    memset(a, 0x55, sizeof a);
    parley__ws_accept((const char *)k, n, a);
    parley__ws_accept((const char *)k, n, b);
    FUZZ_CHECK(a[PARLEY__WS_ACCEPT_LEN] == '\0' && a[PARLEY__WS_ACCEPT_LEN - 1] == '=',
               "accept value not '='- and NUL-terminated");
    for (size_t i = 0; i < PARLEY__WS_ACCEPT_LEN - 1; i++)
        FUZZ_CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                          a[i]) != NULL && a[i] != '\0',
                   "accept byte %zu is 0x%02x", i, (unsigned char)a[i]);
    FUZZ_CHECK(memcmp(a, b, sizeof a) == 0, "accept is not deterministic");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0;

    check_key(data, size < 24 ? size : 24);
    while (pos < size) {
        struct parley__ws_head h;
        const char *why = NULL;
        size_t left = size - pos, have;
        int rc;

        memset(&h, 0, sizeof h);
        rc = parley__ws_parse_head(data + pos, left, &h, &why);
        check_head(data + pos, left, rc, &h, why);
        if (rc <= 0)
            break;
        pos += (size_t)rc;
        left -= (size_t)rc;
        have = h.payload_len < left ? (size_t)h.payload_len : left;
        /* The split point: the payload's first byte, when there is one. */
        check_unmask(data + pos, have, h.mask, have ? data[pos] : 0);
        if (h.opcode == PARLEY__WS_OP_CLOSE && have == h.payload_len)
            check_close(data + pos, have, h.mask);
        check_server_head(h.payload_len, h.opcode);
        pos += have;
    }
    return 0;
}
