/*
 * WebSocket (RFC 6455) on bytes (ws_codec.h). SHA-1 (FIPS 180-4) and base64
 * are here, static, because the accept value is their only use and the host
 * links no crypto library.
 */
#include <stdint.h>
#include <string.h>

#include "validate.h"
#include "ws_codec.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* A refusal: `rc` back, the reason in *why (which may be NULL). */
static int refuse(const char **why, const char *reason, int rc)
{
    if (why != NULL)
        *why = reason;
    return rc;
}

static int opcode_known(unsigned op)
{
    return op <= PARLEY__WS_OP_BINARY || (op >= PARLEY__WS_OP_CLOSE && op <= PARLEY__WS_OP_PONG);
}

/* Errors are reported as soon as the byte that shows them is there (F17: a
 * length with the top bit set is refused before the rest of the header
 * arrives); a prefix of a valid header is only "need more". */
int parley__ws_parse_head(const unsigned char *buf, size_t len, struct parley__ws_head *h,
                          const char **why)
{
    unsigned fin, op, len7;
    size_t ext, need, i;
    uint64_t plen;

    if (len < 1)
        return 0;
    fin = buf[0] >> 7;
    op = buf[0] & 0x0f;
    if (buf[0] & 0x70)
        return refuse(why, "RSV bits set", -1);
    if (!opcode_known(op))
        return refuse(why, "unknown opcode", -1);
    if ((op & 0x08) && !fin)
        return refuse(why, "fragmented control frame", -1);
    if (len < 2)
        return 0;
    if (!(buf[1] & 0x80))
        return refuse(why, "unmasked client frame", -1);
    len7 = buf[1] & 0x7f;
    if ((op & 0x08) && len7 > 125)
        return refuse(why, "control frame longer than 125 bytes", -1);

    ext = len7 == 127 ? 8 : len7 == 126 ? 2 : 0;
    if (ext == 8 && len >= 3 && (buf[2] & 0x80))
        return refuse(why, "64-bit length with the top bit set", -1);
    need = 2 + ext + 4;
    if (len < need)
        return 0;

    plen = len7;
    if (ext != 0) {
        plen = 0;
        for (i = 0; i < ext; i++)
            plen = plen << 8 | buf[2 + i];
    }
    h->fin = fin;
    h->opcode = op;
    h->payload_len = plen;
    memcpy(h->mask, buf + 2 + ext, 4);
    h->head_len = need;
    return (int)need;
}

/* The mask as it applies from `offset` on, twice over: 8 bytes whose byte
 * order in memory is the wire order, so the XOR is endian-neutral. */
void parley__ws_unmask(unsigned char *data, size_t len, const unsigned char mask[4],
                       uint64_t offset)
{
    unsigned char key[8];
    uint64_t word, kw;
    unsigned r = (unsigned)(offset & 3);
    size_t i;

    for (i = 0; i < 8; i++)
        key[i] = mask[(r + i) & 3];
    memcpy(&kw, key, 8);

    for (i = 0; len - i >= 8; i += 8) {
        memcpy(&word, data + i, 8);
        word ^= kw;
        memcpy(data + i, &word, 8);
    }
    for (; i < len; i++)
        data[i] ^= key[i & 7];
}

/* RFC 6455 7.4.1 and 7.4.2: what may appear on the wire. 1004 is reserved,
 * 1005, 1006 and 1015 are for local use only, 1016-2999 are for future
 * revisions; 3000-4999 are for libraries and applications. */
static int close_code_allowed(int code)
{
    if (code >= 1000 && code <= 1003)
        return 1;
    if (code >= 1007 && code <= 1014)
        return 1;
    return code >= 3000 && code <= 4999;
}

/* *code is set whenever the payload carried one, refused or not, so the
 * log can say what the peer sent. */
int parley__ws_close_check(const unsigned char *payload, size_t len, int *code,
                           const char **why)
{
    int c;

    if (len == 0) {
        *code = 1005;
        return 0;
    }
    if (len == 1) {
        return refuse(why, "one-byte close payload", 1002);
    }
    c = payload[0] << 8 | payload[1];
    *code = c;
    if (!close_code_allowed(c))
        return refuse(why, "close code not allowed on the wire", 1002);
    if (!parley__utf8_valid((const char *)payload + 2, len - 2, NULL))
        return refuse(why, "close reason is not UTF-8", 1007);
    return 0;
}

size_t parley__ws_server_head(unsigned char out[PARLEY__WS_SERVER_HEAD_MAX], int opcode,
                              uint64_t len)
{
    size_t n, i;

    out[0] = (unsigned char)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        out[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = 126;
        n = 2;
    } else {
        out[1] = 127;
        n = 8;
    }
    for (i = 0; i < n; i++)
        out[2 + i] = (unsigned char)(len >> (8 * (n - 1 - i)));
    return 2 + n;
}

static int b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

int parley__ws_key_valid(const char *key, size_t len)
{
    size_t i;

    if (len != 24)
        return 0;
    for (i = 0; i < 22; i++)
        if (!b64_char((unsigned char)key[i]))
            return 0;
    return key[22] == '=' && key[23] == '=';
}

/* SHA-1, FIPS 180-4 6.1, one message streamed through a 64-byte block. */
struct sha1 {
    uint32_t h[5];
    uint64_t bytes;
    unsigned char block[64];
    size_t used;
};

static uint32_t rol(uint32_t x, unsigned n)
{
    return x << n | x >> (32 - n);
}

static void sha1_compress(uint32_t h[5], const unsigned char p[64])
{
    uint32_t w[80], a, b, c, d, e, f, k, t;
    int i;

    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (i = 16; i < 80; i++)
        w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);

    a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (i = 0; i < 80; i++) {
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdc;
        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6;
        }
        t = rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

static void sha1_init(struct sha1 *s)
{
    static const uint32_t iv[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};

    memcpy(s->h, iv, sizeof iv);
    s->bytes = 0;
    s->used = 0;
}

static void sha1_update(struct sha1 *s, const void *data, size_t len)
{
    const unsigned char *p = data;

    s->bytes += len;
    while (len > 0) {
        size_t n = sizeof s->block - s->used;

        if (n > len)
            n = len;
        memcpy(s->block + s->used, p, n);
        s->used += n;
        p += n;
        len -= n;
        if (s->used == sizeof s->block) {
            sha1_compress(s->h, s->block);
            s->used = 0;
        }
    }
}

/* Padding: 0x80, zeros up to 56 mod 64, the message length in bits. */
static void sha1_final(struct sha1 *s, unsigned char out[20])
{
    uint64_t bits = s->bytes * 8;
    int i;

    s->block[s->used++] = 0x80;
    if (s->used > 56) {
        memset(s->block + s->used, 0, sizeof s->block - s->used);
        sha1_compress(s->h, s->block);
        s->used = 0;
    }
    memset(s->block + s->used, 0, 56 - s->used);
    for (i = 0; i < 8; i++)
        s->block[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
    sha1_compress(s->h, s->block);
    for (i = 0; i < 20; i++)
        out[i] = (unsigned char)(s->h[i / 4] >> (24 - 8 * (i % 4)));
}

/* Standard base64 with padding; out holds 4 * ceil(len / 3) characters. */
static void base64_encode(const unsigned char *in, size_t len, char *out)
{
    size_t i;

    for (i = 0; len - i >= 3; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

        *out++ = b64_alphabet[v >> 18];
        *out++ = b64_alphabet[(v >> 12) & 63];
        *out++ = b64_alphabet[(v >> 6) & 63];
        *out++ = b64_alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;

        *out++ = b64_alphabet[v >> 18];
        *out++ = b64_alphabet[(v >> 12) & 63];
        *out++ = '=';
        *out++ = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

        *out++ = b64_alphabet[v >> 18];
        *out++ = b64_alphabet[(v >> 12) & 63];
        *out++ = b64_alphabet[(v >> 6) & 63];
        *out++ = '=';
    }
}

void parley__ws_accept(const char *key, size_t len, char out[PARLEY__WS_ACCEPT_LEN + 1])
{
    struct sha1 s;
    unsigned char digest[20];

    sha1_init(&s);
    sha1_update(&s, key, len);
    sha1_update(&s, WS_GUID, sizeof WS_GUID - 1);
    sha1_final(&s, digest);
    base64_encode(digest, sizeof digest, out);
    out[PARLEY__WS_ACCEPT_LEN] = '\0';
}
