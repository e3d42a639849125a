/*
 * The WebSocket codec (host/ws_codec.c): the handshake key and accept value,
 * client frame heads (every bad-inputs section 5 entry that has bytes),
 * unmasking against a byte-by-byte reference, close payloads and server
 * frame heads.
 *
 * SHA-1 and base64 are static in ws_codec.c; they are checked through
 * parley__ws_accept with values computed by Python's hashlib/base64, for
 * keys whose length puts key + GUID on every padding boundary (55, 56, 63,
 * 64, 119, 120 bytes) and on one and several blocks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ws_codec.h"

/* ---- handshake ---------------------------------------------------------- */

static void accept_rfc_example(void **state)
{
    char out[PARLEY__WS_ACCEPT_LEN + 1];

    (void)state;
    memset(out, 'x', sizeof out);
    parley__ws_accept("dGhlIHNhbXBsZSBub25jZQ==", 24, out);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(out[PARLEY__WS_ACCEPT_LEN], '\0');
}

/* Keys "ABC...": n letters cycling through A-Z; + 36 bytes of GUID. */
static void accept_padding_boundaries(void **state)
{
    static const struct {
        size_t n;
        const char *accept;
    } t[] = {
        {0, "Kfh9QIsMVZcl6xEPYxPHzW8SZ8w="},   /* 36 bytes */
        {1, "DaiRqPcCZpFq+/JgXi9Dyxcowew="},
        {19, "fK4ByergD+edipKfQCTgKqWiS5M="},  /* 55: padding fits one block */
        {20, "dD7oG6b4McOBrnxseXQBhTXsyds="},  /* 56: length spills to a second */
        {27, "+CdpbIMaI6srQ5RK+f1cqyrV3zk="},  /* 63 */
        {28, "EpvNHYJOC9N+hdq56c8Y4ZZp+h4="},  /* 64: exactly one block */
        {83, "NYdtoE0By/8qk0bIlkQGYmR7s78="},  /* 119 */
        {84, "zjlNzRc3TMDhsIZpaYBZVpwdsDE="},  /* 120 */
        {91, "lsModt+DhZTTKQ7h9w181NF4y5Y="},  /* 127 */
        {92, "5u0wxjVUh/GoDviSXTIvNmXF5x8="},  /* 128 */
        {200, "Ry03eFrlFu7tRolqJcEznPWpYSc="}, /* 236 */
    };
    char key[256], out[PARLEY__WS_ACCEPT_LEN + 1];
    size_t i, j;

    (void)state;
    for (i = 0; i < sizeof t / sizeof t[0]; i++) {
        for (j = 0; j < t[i].n; j++)
            key[j] = (char)('A' + j % 26);
        parley__ws_accept(key, t[i].n, out);
        assert_string_equal(out, t[i].accept);
    }
}

static void accept_high_bytes_and_strict_key(void **state)
{
    char key[128], out[PARLEY__WS_ACCEPT_LEN + 1];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof key; i++)
        key[i] = (char)(0x80 + i);          /* no sign extension in the hash */
    parley__ws_accept(key, sizeof key, out);
    assert_string_equal(out, "BrJ2yqCT1IFDkmmE8NYrhOacVVs=");
    parley__ws_accept("AAAAAAAAAAAAAAAAAAAAAB==", 24, out);
    assert_string_equal(out, "NRJrplgTSmBqvVaQhF+6peBS1S8=");
}

static void key_valid_shape(void **state)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char key[25];
    size_t pos, c;

    (void)state;
    assert_int_equal(parley__ws_key_valid("dGhlIHNhbXBsZSBub25jZQ==", 24), 1);
    /* Non-zero low bits in the 22nd character: ws does not check them. */
    assert_int_equal(parley__ws_key_valid("AAAAAAAAAAAAAAAAAAAAAB==", 24), 1);
    assert_int_equal(parley__ws_key_valid("+/+/+/+/+/+/+/+/+/+/+/==", 24), 1);

    assert_int_equal(parley__ws_key_valid("", 0), 0);
    assert_int_equal(parley__ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=", 23), 0);
    assert_int_equal(parley__ws_key_valid("dGhlIHNhbXBsZSBub25jZQ===", 25), 0);
    assert_int_equal(parley__ws_key_valid("dGhlIHNhbXBsZSBub25jZQ==", 23), 0);
    assert_int_equal(parley__ws_key_valid("dGhlIHNhbXBsZSBub25jZQ==x", 25), 0);
    assert_int_equal(parley__ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=A", 24), 0);
    assert_int_equal(parley__ws_key_valid("dGhlIHNhbXBsZSBub25jZQA=", 24), 0);
    assert_int_equal(parley__ws_key_valid("dGhlIHNhbXBsZSBub25jZ===", 24), 0);
    assert_int_equal(parley__ws_key_valid("dGhlIHNhbXBsZSBub25jZQAA", 24), 0);
    assert_int_equal(parley__ws_key_valid("dGhlIHNhbXBsZSBub25jZQ-_", 24), 0);

    /* Each of the 22 positions: every alphabet character passes, and a
     * sample of others (URL-safe base64, space, '=', NUL, high bytes) fails. */
    for (pos = 0; pos < 22; pos++) {
        memcpy(key, "dGhlIHNhbXBsZSBub25jZQ==", 25);
        for (c = 0; c < 64; c++) {
            key[pos] = alphabet[c];
            assert_int_equal(parley__ws_key_valid(key, 24), 1);
        }
        for (c = 0; c < 7; c++) {
            key[pos] = "-_ =.\0\x80"[c];
            assert_int_equal(parley__ws_key_valid(key, 24), 0);
        }
        key[pos] = (char)0xff;
        assert_int_equal(parley__ws_key_valid(key, 24), 0);
    }
}

/* ---- client frame heads ------------------------------------------------- */

#define BYTES(...)                                                               \
    .bytes = (const unsigned char[]){__VA_ARGS__},                              \
    .len = sizeof((const unsigned char[]){__VA_ARGS__})
/* A header parse_head refuses, `why` containing the word. */
#define BAD(id_, why_, ...) {.id = id_, BYTES(__VA_ARGS__), .bad = 1, .why = why_}
/* A header it accepts (mask 00 00 00 00). */
#define OK(id_, fin_, op_, plen_, hlen_, ...)                                    \
    {.id = id_, BYTES(__VA_ARGS__), .fin = fin_, .opcode = op_, .payload_len = plen_, \
     .head_len = hlen_}
/* A whole close frame: the header, then close_check's verdict on its payload
 * (close_code -1: no code to compare). */
#define CLOSE(id_, plen_, rc_, code_, ...)                                       \
    {.id = id_, BYTES(__VA_ARGS__), .fin = 1, .opcode = 0x8, .payload_len = plen_, \
     .head_len = 6, .close_rc = rc_, .close_code = code_}

struct head_case {
    const char *id;
    const unsigned char *bytes;
    size_t len;
    int bad;
    const char *why;
    unsigned fin, opcode;
    uint64_t payload_len;
    size_t head_len;
    unsigned char mask[4];
    int close_rc, close_code;
};

/* The header-level outcome of every section 5 entry with bytes; entries
 * whose verdict is the listener's (sequencing, UTF-8 of messages, limits)
 * parse fine here. */
static const struct head_case head_cases[] = {
    BAD("F01 RSV2", "RSV", 0xA1, 0x82, 0, 0, 0, 0, 0x34, 0x30),
    BAD("F02 RSV3", "RSV", 0x91, 0x82, 0, 0, 0, 0, 0x34, 0x30),
    BAD("F03 RSV1", "RSV", 0xC1, 0x82, 0, 0, 0, 0, 0x34, 0x30),
    BAD("F04 unmasked", "unmasked", 0x81, 0x02, 0x34, 0x30),
    BAD("F05 op 3", "opcode", 0x83, 0x80, 0, 0, 0, 0),
    BAD("F05 op 7", "opcode", 0x87, 0x80, 0, 0, 0, 0),
    BAD("F05 op B", "opcode", 0x8B, 0x80, 0, 0, 0, 0),
    BAD("F05 op F", "opcode", 0x8F, 0x80, 0, 0, 0, 0),
    OK("F06 stray continuation", 1, 0x0, 2, 6, 0x80, 0x82, 0, 0, 0, 0, 0x34, 0x30),
    OK("F07 first", 0, 0x1, 1, 6, 0x01, 0x81, 0, 0, 0, 0, 0x34),
    OK("F07 second", 1, 0x1, 1, 6, 0x81, 0x81, 0, 0, 0, 0, 0x30),
    BAD("F08 ping no FIN", "fragmented", 0x09, 0x80, 0, 0, 0, 0),
    BAD("F09 ping 126", "125", 0x89, 0xFE, 0x00, 0x7E, 0, 0, 0, 0),
    CLOSE("F10 close 1 byte", 1, 1002, -1, 0x88, 0x81, 0, 0, 0, 0, 0x03),
    CLOSE("F11 0", 2, 1002, 0, 0x88, 0x82, 0, 0, 0, 0, 0x00, 0x00),
    CLOSE("F11 999", 2, 1002, 999, 0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE7),
    CLOSE("F11 1004", 2, 1002, 1004, 0x88, 0x82, 0, 0, 0, 0, 0x03, 0xEC),
    CLOSE("F11 1005", 2, 1002, 1005, 0x88, 0x82, 0, 0, 0, 0, 0x03, 0xED),
    CLOSE("F11 1006", 2, 1002, 1006, 0x88, 0x82, 0, 0, 0, 0, 0x03, 0xEE),
    CLOSE("F11 1015", 2, 1002, 1015, 0x88, 0x82, 0, 0, 0, 0, 0x03, 0xF7),
    CLOSE("F11 1016", 2, 1002, 1016, 0x88, 0x82, 0, 0, 0, 0, 0x03, 0xF8),
    CLOSE("F11 2999", 2, 1002, 2999, 0x88, 0x82, 0, 0, 0, 0, 0x0B, 0xB7),
    CLOSE("F11 5000", 2, 1002, 5000, 0x88, 0x82, 0, 0, 0, 0, 0x13, 0x88),
    CLOSE("F11 65535", 2, 1002, 65535, 0x88, 0x82, 0, 0, 0, 0, 0xFF, 0xFF),
    CLOSE("F12 1000", 2, 0, 1000, 0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8),
    CLOSE("F12 3000", 2, 0, 3000, 0x88, 0x82, 0, 0, 0, 0, 0x0B, 0xB8),
    CLOSE("F12 4000", 2, 0, 4000, 0x88, 0x82, 0, 0, 0, 0, 0x0F, 0xA0),
    CLOSE("F13 close bad UTF-8", 4, 1007, 1000, 0x88, 0x84, 0, 0, 0, 0, 0x03, 0xE8, 0xC3, 0x28),
    OK("F14 C3 28", 1, 0x1, 2, 6, 0x81, 0x82, 0, 0, 0, 0, 0xC3, 0x28),
    OK("F14 overlong", 1, 0x1, 2, 6, 0x81, 0x82, 0, 0, 0, 0, 0xC0, 0xAF),
    OK("F14 surrogate", 1, 0x1, 3, 6, 0x81, 0x83, 0, 0, 0, 0, 0xED, 0xA0, 0x80),
    OK("F14 > U+10FFFF", 1, 0x1, 4, 6, 0x81, 0x84, 0, 0, 0, 0, 0xF4, 0x90, 0x80, 0x80),
    OK("F14 FF", 1, 0x1, 1, 6, 0x81, 0x81, 0, 0, 0, 0, 0xFF),
    OK("F15 1/3", 0, 0x1, 1, 6, 0x01, 0x81, 0, 0, 0, 0, 0xE2),
    OK("F15 2/3", 0, 0x0, 1, 6, 0x00, 0x81, 0, 0, 0, 0, 0x82),
    OK("F15 3/3", 1, 0x0, 1, 6, 0x80, 0x81, 0, 0, 0, 0, 0xAC),
    OK("F16 2/2", 1, 0x0, 1, 6, 0x80, 0x81, 0, 0, 0, 0, 0x82),
    BAD("F17 length MSB", "top bit", 0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    OK("F18 length 2^63-1", 1, 0x2, UINT64_C(0x7fffffffffffffff), 14,
       0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0),
    OK("F19 maxPayload+1", 1, 0x2, 1000001, 14,
       0x82, 0xFF, 0, 0, 0, 0, 0, 0x0F, 0x42, 0x41, 0, 0, 0, 0),
    OK("F20 64 KiB - 1", 1, 0x2, 65535, 14, 0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 0, 0),
    OK("F21 16-bit 2", 1, 0x1, 2, 8, 0x81, 0xFE, 0x00, 0x02, 0, 0, 0, 0, 0x34, 0x30),
    OK("F21 64-bit 2", 1, 0x1, 2, 14,
       0x81, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0x34, 0x30),
    OK("F22 start", 0, 0x1, 0, 6, 0x01, 0x80, 0, 0, 0, 0),
    OK("F22 empty fragment", 0, 0x0, 0, 6, 0x00, 0x80, 0, 0, 0, 0),
    OK("F23 1-byte fragment", 0, 0x0, 1, 6, 0x00, 0x81, 0, 0, 0, 0, 0x41),
    OK("F25 ping hello", 1, 0x9, 5, 6, 0x89, 0x85, 0, 0, 0, 0, 0x68, 0x65, 0x6C, 0x6C, 0x6F),
    OK("F25 empty ping", 1, 0x9, 0, 6, 0x89, 0x80, 0, 0, 0, 0),
    OK("F27 pong", 1, 0xA, 0, 6, 0x8A, 0x80, 0, 0, 0, 0),
    OK("F28 text after close", 1, 0x1, 2, 6, 0x81, 0x82, 0, 0, 0, 0, 0x34, 0x30),
    {.id = "F30 masked 40", BYTES(0x81, 0x82, 0x37, 0xFA, 0x21, 0x3D, 0x03, 0xCA), .fin = 1,
     .opcode = 0x1, .payload_len = 2, .head_len = 6, .mask = {0x37, 0xFA, 0x21, 0x3D}},
    BAD("F32 RSV1 text", "RSV", 0x41, 0x81, 0, 0, 0, 0, 0x41),
    BAD("F32 RSV1 continuation", "RSV", 0xC0, 0x81, 0, 0, 0, 0, 0x41),
    BAD("F32 RSV1 ping", "RSV", 0xC9, 0x80, 0, 0, 0, 0),
    OK("F33 binary", 1, 0x2, 3, 6, 0x82, 0x83, 0, 0, 0, 0, 0x01, 0x02, 0x03),
};

static void check_head_case(const struct head_case *c)
{
    struct parley__ws_head h;
    const char *why = NULL;
    int rc;

    memset(&h, 0xa5, sizeof h);
    rc = parley__ws_parse_head(c->bytes, c->len, &h, &why);
    if (c->bad) {
        if (rc != -1 || why == NULL || strstr(why, c->why) == NULL)
            fail_msg("%s: rc %d why \"%s\", want -1 and \"%s\"", c->id, rc, why ? why : "(null)",
                     c->why);
        return;
    }
    if (rc != (int)c->head_len)
        fail_msg("%s: rc %d, want %zu (why \"%s\")", c->id, rc, c->head_len,
                 why ? why : "(null)");
    assert_int_equal(h.head_len, c->head_len);
    assert_int_equal(h.fin, c->fin);
    assert_int_equal(h.opcode, c->opcode);
    assert_true(h.payload_len == c->payload_len);
    assert_memory_equal(h.mask, c->mask, 4);
    assert_true(h.payload_len < UINT64_C(1) << 63);
}

static void head_bad_inputs_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof head_cases / sizeof head_cases[0]; i++)
        check_head_case(&head_cases[i]);
}

/* F09 with its 126 bytes of payload, as the table gives only the header. */
static void head_control_length_boundary(void **state)
{
    unsigned char ping[6 + 125] = {0x89, 0x80 | 125};
    struct parley__ws_head h;
    const char *why = NULL;

    (void)state;
    assert_int_equal(parley__ws_parse_head(ping, sizeof ping, &h, &why), 6);
    assert_int_equal(h.payload_len, 125);
    ping[0] = 0x88;
    assert_int_equal(parley__ws_parse_head(ping, sizeof ping, &h, &why), 6);
    ping[1] = 0xFE;                                         /* 126 via the 16-bit form */
    assert_int_equal(parley__ws_parse_head(ping, sizeof ping, &h, &why), -1);
    assert_non_null(strstr(why, "125"));
    ping[0] = 0x8A;
    ping[1] = 0xFF;
    assert_int_equal(parley__ws_parse_head(ping, sizeof ping, &h, &why), -1);
    /* Even a 16-bit encoding of a small length is too long for a control
     * frame: the 7-bit field alone decides. */
    ping[0] = 0x89;
    ping[1] = 0xFE;
    ping[2] = 0;
    ping[3] = 5;
    assert_int_equal(parley__ws_parse_head(ping, sizeof ping, &h, &why), -1);
}

/* Every proper prefix of a valid header is "need more"; the F17 length is
 * refused as soon as its first byte is there. */
static void head_truncated_prefixes(void **state)
{
    struct parley__ws_head h;
    const char *why;
    size_t i, n;
    int rc;

    (void)state;
    for (i = 0; i < sizeof head_cases / sizeof head_cases[0]; i++) {
        const struct head_case *c = &head_cases[i];

        if (c->bad)
            continue;
        for (n = 0; n < c->head_len; n++) {
            why = NULL;
            rc = parley__ws_parse_head(c->bytes, n, &h, &why);
            if (rc != 0)
                fail_msg("%s: prefix of %zu bytes returned %d (%s)", c->id, n, rc,
                         why ? why : "");
        }
    }
    {
        static const unsigned char f17[] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

        assert_int_equal(parley__ws_parse_head(f17, 2, &h, &why), 0);
        for (n = 3; n <= sizeof f17; n++)
            assert_int_equal(parley__ws_parse_head(f17, n, &h, &why), -1);
    }
    /* Errors visible in the first byte need only that byte. */
    {
        static const unsigned char rsv = 0xC1, op = 0x83, frag_ping = 0x09;

        assert_int_equal(parley__ws_parse_head(&rsv, 1, &h, &why), -1);
        assert_int_equal(parley__ws_parse_head(&op, 1, &h, &why), -1);
        assert_int_equal(parley__ws_parse_head(&frag_ping, 1, &h, &why), -1);
        assert_int_equal(parley__ws_parse_head(NULL, 0, &h, &why), 0);
    }
}

/* All three length forms with a non-zero mask; bytes after the header (the
 * payload, the next frame) are not read as header. */
static void head_length_forms(void **state)
{
    static const unsigned char f7[] = {0x82, 0x80 | 125, 1, 2, 3, 4, 0xEE, 0xEE};
    static const unsigned char f16[] = {0x02, 0xFE, 0xAB, 0xCD, 5, 6, 7, 8, 0xEE};
    static const unsigned char f64[] = {0x80, 0xFF, 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB,
                                        0xCD, 0xEF, 9, 10, 11, 12, 0x81, 0x80};
    struct parley__ws_head h;
    const char *why = NULL;

    (void)state;
    assert_int_equal(parley__ws_parse_head(f7, sizeof f7, &h, &why), 6);
    assert_int_equal(h.payload_len, 125);
    assert_memory_equal(h.mask, "\x01\x02\x03\x04", 4);
    assert_int_equal(h.fin, 1);
    assert_int_equal(h.opcode, PARLEY__WS_OP_BINARY);

    assert_int_equal(parley__ws_parse_head(f16, sizeof f16, &h, &why), 8);
    assert_int_equal(h.payload_len, 0xABCD);
    assert_memory_equal(h.mask, "\x05\x06\x07\x08", 4);
    assert_int_equal(h.fin, 0);
    assert_int_equal(h.head_len, 8);

    assert_int_equal(parley__ws_parse_head(f64, sizeof f64, &h, &why), 14);
    assert_true(h.payload_len == UINT64_C(0x0123456789ABCDEF));
    assert_memory_equal(h.mask, "\x09\x0a\x0b\x0c", 4);
    assert_int_equal(h.opcode, PARLEY__WS_OP_CONTINUATION);
    assert_int_equal(h.head_len, 14);
}

/* ---- unmasking ---------------------------------------------------------- */

static uint32_t rng_state = 0x9e3779b9u;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static void ref_unmask(unsigned char *d, size_t len, const unsigned char m[4], uint64_t off)
{
    size_t i;

    for (i = 0; i < len; i++)
        d[i] ^= m[(off + i) % 4];
}

static void unmask_matches_reference(void **state)
{
    unsigned char buf[96], want[96], orig[96], mask[4];
    size_t len, align, i;
    uint64_t off;
    int round;

    (void)state;
    for (round = 0; round < 4; round++) {
        for (i = 0; i < 4; i++)
            mask[i] = (unsigned char)rng();
        for (off = 0; off < 8; off++) {
            for (len = 0; len <= 70; len++) {
                align = round == 0 ? len % 8 : rng() % 16;
                for (i = 0; i < sizeof orig; i++)
                    orig[i] = (unsigned char)rng();
                memcpy(buf, orig, sizeof buf);
                memcpy(want, orig, sizeof want);
                ref_unmask(want + align, len, mask, off);
                parley__ws_unmask(buf + align, len, mask, off);
                if (memcmp(buf, want, sizeof buf) != 0)
                    fail_msg("offset %u, length %zu, alignment %zu: differs",
                             (unsigned)off, len, align);
            }
        }
    }
    /* Large offsets: only offset mod 4 matters. */
    for (i = 0; i < 4; i++)
        mask[i] = (unsigned char)(0x11 * (i + 1));
    memset(buf, 0, 40);
    parley__ws_unmask(buf + 1, 37, mask, UINT64_C(0xfffffffffffffffe));
    memset(want, 0, 40);
    ref_unmask(want + 1, 37, mask, 2);
    assert_memory_equal(buf, want, 40);
}

/* A payload unmasked in pieces (as reads deliver it) equals it unmasked at
 * once, and unmasking twice gives the original back. */
static void unmask_in_pieces(void **state)
{
    static const unsigned char mask[4] = {0x37, 0xFA, 0x21, 0x3D};
    unsigned char whole[300], parts[300], orig[300];
    size_t i, at, n;
    int round;

    (void)state;
    for (i = 0; i < sizeof orig; i++)
        orig[i] = (unsigned char)rng();
    memcpy(whole, orig, sizeof whole);
    parley__ws_unmask(whole, sizeof whole, mask, 0);
    for (round = 0; round < 200; round++) {
        memcpy(parts, orig, sizeof parts);
        for (at = 0; at < sizeof parts; at += n) {
            n = 1 + rng() % 23;
            if (n > sizeof parts - at)
                n = sizeof parts - at;
            parley__ws_unmask(parts + at, n, mask, at);
        }
        assert_memory_equal(parts, whole, sizeof whole);
    }
    parley__ws_unmask(whole, sizeof whole, mask, 0);
    assert_memory_equal(whole, orig, sizeof orig);

    /* F30: "40" masked with 37 FA 21 3D. */
    {
        unsigned char p[2] = {0x03, 0xCA};

        parley__ws_unmask(p, 2, mask, 0);
        assert_memory_equal(p, "40", 2);
    }
}

/* ---- close payloads ----------------------------------------------------- */

static int close_rc(const unsigned char *p, size_t len, int *code, const char **why)
{
    *code = -1;
    *why = NULL;
    return parley__ws_close_check(p, len, code, why);
}

static void close_codes(void **state)
{
    unsigned char p[2];
    const char *why;
    int c, code, rc, want;

    (void)state;
    for (c = 0; c <= 65535; c++) {
        p[0] = (unsigned char)(c >> 8);
        p[1] = (unsigned char)c;
        want = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999)
                   ? 0
                   : 1002;
        rc = close_rc(p, 2, &code, &why);
        if (rc != want)
            fail_msg("code %d: returned %d, want %d", c, rc, want);
        if (rc == 0)
            assert_int_equal(code, c);
        else
            assert_non_null(strstr(why, "code"));
    }
}

static void close_payload_shapes(void **state)
{
    const char *why;
    int code;

    (void)state;
    /* Empty: the peer gave no code, which reads as 1005. */
    assert_int_equal(close_rc(NULL, 0, &code, &why), 0);
    assert_int_equal(code, 1005);
    /* F10 */
    assert_int_equal(close_rc((const unsigned char *)"\x03", 1, &code, &why), 1002);
    assert_non_null(strstr(why, "one-byte"));
    /* F12 with reasons */
    assert_int_equal(close_rc((const unsigned char *)"\x03\xe8" "bye", 5, &code, &why), 0);
    assert_int_equal(code, 1000);
    assert_int_equal(close_rc((const unsigned char *)"\x0f\xa0" "\xe2\x82\xac", 5, &code, &why),
                     0);
    assert_int_equal(code, 4000);
    /* F13, and other bad reasons */
    assert_int_equal(close_rc((const unsigned char *)"\x03\xe8\xc3\x28", 4, &code, &why), 1007);
    assert_non_null(strstr(why, "UTF-8"));
    assert_int_equal(close_rc((const unsigned char *)"\x03\xe8" "ok\xe2\x82", 6, &code, &why),
                     1007);
    assert_int_equal(close_rc((const unsigned char *)"\x03\xe9\xed\xa0\x80", 5, &code, &why),
                     1007);
    /* A forbidden code is reported before its reason is looked at. */
    assert_int_equal(close_rc((const unsigned char *)"\x03\xed\xff", 3, &code, &why), 1002);
    /* A 123-byte reason (the most a control frame allows) is fine. */
    {
        unsigned char p[125];

        memset(p, 'r', sizeof p);
        p[0] = 0x0b;
        p[1] = 0xb8;
        assert_int_equal(close_rc(p, sizeof p, &code, &why), 0);
        assert_int_equal(code, 3000);
    }
}

/* The table's close frames, payloads unmasked as the listener would. */
static void close_bad_inputs_table(void **state)
{
    unsigned char p[125];
    const char *why;
    size_t i, plen;
    int code, rc;

    (void)state;
    for (i = 0; i < sizeof head_cases / sizeof head_cases[0]; i++) {
        const struct head_case *c = &head_cases[i];

        if (c->bad || c->opcode != PARLEY__WS_OP_CLOSE)
            continue;
        plen = (size_t)c->payload_len;
        assert_int_equal(c->len, c->head_len + plen);
        memcpy(p, c->bytes + c->head_len, plen);
        parley__ws_unmask(p, plen, c->mask, 0);
        rc = close_rc(p, plen, &code, &why);
        if (rc != c->close_rc || (c->close_code >= 0 && code != c->close_code))
            fail_msg("%s: rc %d code %d, want %d code %d", c->id, rc, code, c->close_rc,
                     c->close_code);
    }
}

/* ---- server frame heads ------------------------------------------------- */

static void server_head_sizes(void **state)
{
    unsigned char out[PARLEY__WS_SERVER_HEAD_MAX];

    (void)state;
    assert_int_equal(parley__ws_server_head(out, PARLEY__WS_OP_TEXT, 0), 2);
    assert_memory_equal(out, "\x81\x00", 2);
    assert_int_equal(parley__ws_server_head(out, PARLEY__WS_OP_PONG, 5), 2);
    assert_memory_equal(out, "\x8a\x05", 2);                  /* F25's pong */
    assert_int_equal(parley__ws_server_head(out, PARLEY__WS_OP_TEXT, 125), 2);
    assert_memory_equal(out, "\x81\x7d", 2);
    assert_int_equal(parley__ws_server_head(out, PARLEY__WS_OP_BINARY, 126), 4);
    assert_memory_equal(out, "\x82\x7e\x00\x7e", 4);
    assert_int_equal(parley__ws_server_head(out, PARLEY__WS_OP_BINARY, 65535), 4);
    assert_memory_equal(out, "\x82\x7e\xff\xff", 4);
    assert_int_equal(parley__ws_server_head(out, PARLEY__WS_OP_TEXT, 65536), 10);
    assert_memory_equal(out, "\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
    assert_int_equal(parley__ws_server_head(out, PARLEY__WS_OP_CLOSE, 2), 2);
    assert_memory_equal(out, "\x88\x02", 2);
    assert_int_equal(parley__ws_server_head(out, PARLEY__WS_OP_PING, 0), 2);
    assert_memory_equal(out, "\x89\x00", 2);
    assert_int_equal(parley__ws_server_head(out, PARLEY__WS_OP_BINARY,
                                            UINT64_C(0x0123456789abcdef)), 10);
    assert_memory_equal(out, "\x82\x7f\x01\x23\x45\x67\x89\xab\xcd\xef", 10);
}

/* What the server writes, masked the way a client would, parses back. */
static void server_head_round_trip(void **state)
{
    static const uint64_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, UINT64_C(1) << 32,
                                    UINT64_C(0x7fffffffffffffff)};
    unsigned char out[PARLEY__WS_SERVER_HEAD_MAX + 4];
    struct parley__ws_head h;
    const char *why = NULL;
    size_t i, n;

    (void)state;
    for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        n = parley__ws_server_head(out, PARLEY__WS_OP_BINARY, lens[i]);
        out[1] |= 0x80;
        memcpy(out + n, "\x01\x02\x03\x04", 4);
        assert_int_equal(parley__ws_parse_head(out, n + 4, &h, &why), (int)(n + 4));
        assert_true(h.payload_len == lens[i]);
        assert_int_equal(h.opcode, PARLEY__WS_OP_BINARY);
        assert_int_equal(h.fin, 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accept_rfc_example),
        cmocka_unit_test(accept_padding_boundaries),
        cmocka_unit_test(accept_high_bytes_and_strict_key),
        cmocka_unit_test(key_valid_shape),
        cmocka_unit_test(head_bad_inputs_table),
        cmocka_unit_test(head_control_length_boundary),
        cmocka_unit_test(head_truncated_prefixes),
        cmocka_unit_test(head_length_forms),
        cmocka_unit_test(unmask_matches_reference),
        cmocka_unit_test(unmask_in_pieces),
        cmocka_unit_test(close_codes),
        cmocka_unit_test(close_payload_shapes),
        cmocka_unit_test(close_bad_inputs_table),
        cmocka_unit_test(server_head_sizes),
        cmocka_unit_test(server_head_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
