/*
 * Engine.IO v4 codec: packets, polling payloads, base64, encoders, the
 * handshake query and the error table. Covers bad-inputs.md §2 (E01–E10,
 * P01–P08) and §1's query entries at the codec level (H02, H03, H06, H22,
 * H23), plus the spec's examples.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <cJSON.h>

#include "base64.h"
#include "eio.h"
#include "utf8.h"

/* ---- helpers ----------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Decode a text (or binary) frame from a copy of s[0..n). The copy is kept
 * in a static buffer so pkt->data stays valid until the next call. */
static uint8_t frame_buf[1100000];

static int frame_n(const char *s, size_t n, int binary, const eio_limits *lim, eio_packet *pkt,
                   parley_error *err)
{
    assert_true(n <= sizeof frame_buf);
    memcpy(frame_buf, s, n);
    return eio_decode_frame(frame_buf, n, binary, lim, pkt, err);
}

static int frame(const char *s, eio_packet *pkt, parley_error *err)
{
    return frame_n(s, strlen(s), 0, NULL, pkt, err);
}

static void expect_frame_error(const char *s, size_t n, int status, const char *needle)
{
    parley_error err = PARLEY_ERROR_INIT;
    eio_packet pkt;
    int rc = frame_n(s, n, 0, NULL, &pkt, &err);

    if (rc != status || strstr(err.message, needle) == NULL)
        fail_msg("frame of %zu bytes: rc %d (want %d), message \"%s\" (want \"%s\")", n, rc,
                 status, err.message, needle);
    assert_int_equal(err.code, status);
}

static void expect_frame(const char *s, int type, int binary, int probe, const char *data,
                         size_t len)
{
    parley_error err = PARLEY_ERROR_INIT;
    eio_packet pkt;
    int rc = frame(s, &pkt, &err);

    if (rc != 0)
        fail_msg("frame \"%s\": rc %d: %s", s, rc, err.message);
    assert_int_equal(pkt.type, type);
    assert_int_equal(pkt.binary, binary);
    assert_int_equal(pkt.probe, probe);
    assert_int_equal(pkt.len, len);
    if (len)
        assert_memory_equal(pkt.data, data, len);
}

/* Collects the packets of a payload. */
typedef struct collected {
    size_t count;
    int types[16];
    int binary[16];
    char data[16][64];
    size_t len[16];
    size_t stop_after; /* return ECLOSED after this many (0: never) */
} collected;

static int collect_cb(void *arg, const eio_packet *pkt, parley_error *err)
{
    collected *c = arg;
    size_t k = c->count++;

    if (k < 16) {
        c->types[k] = pkt->type;
        c->binary[k] = pkt->binary;
        c->len[k] = pkt->len;
        memcpy(c->data[k], pkt->data, pkt->len < 64 ? pkt->len : 64);
    }
    if (c->stop_after && c->count == c->stop_after)
        return parley_error_set(err, PARLEY_ECLOSED, "stop");
    return 0;
}

static int counting_cb(void *arg, const eio_packet *pkt, parley_error *err)
{
    (*(size_t *)arg)++;
    return 0;
}

static uint8_t body_buf[1100000];

static int payload_n(const char *s, size_t n, const eio_limits *lim, collected *c,
                     parley_error *err)
{
    memset(c, 0, sizeof *c);
    assert_true(n <= sizeof body_buf);
    memcpy(body_buf, s, n);
    return eio_decode_payload(body_buf, n, lim, collect_cb, c, err);
}

static void expect_payload_error(const char *s, size_t n, int status, const char *needle)
{
    parley_error err = PARLEY_ERROR_INIT;
    collected c;
    int rc = payload_n(s, n, NULL, &c, &err);

    if (rc != status || strstr(err.message, needle) == NULL)
        fail_msg("payload of %zu bytes: rc %d (want %d), message \"%s\" (want \"%s\")", n, rc,
                 status, err.message, needle);
    /* All-or-nothing: a refused payload delivers nothing. */
    assert_int_equal(c.count, 0);
}

/* ---- WebSocket frames (§2.1) ------------------------------------------- */

static void test_frame_types(void **state)
{
    expect_frame("0", EIO_OPEN, 0, 0, NULL, 0);
    expect_frame("1", EIO_CLOSE, 0, 0, NULL, 0);                 /* E08 */
    expect_frame("2", EIO_PING, 0, 0, NULL, 0);                  /* E01: the session refuses it */
    expect_frame("3", EIO_PONG, 0, 0, NULL, 0);                  /* E07 */
    expect_frame("4hello", EIO_MESSAGE, 0, 0, "hello", 5);       /* spec example */
    expect_frame("4", EIO_MESSAGE, 0, 0, NULL, 0);
    expect_frame("5", EIO_UPGRADE, 0, 0, NULL, 0);               /* E06 */
    expect_frame("6", EIO_NOOP, 0, 0, NULL, 0);                  /* E05 */
    expect_frame("2probe", EIO_PING, 0, 1, "probe", 5);          /* E02: recognised */
    expect_frame("3probe", EIO_PONG, 0, 1, "probe", 5);
    expect_frame("42[\"a\"]", EIO_MESSAGE, 0, 0, "2[\"a\"]", 6);
}

static void test_frame_empty_and_bad_type(void **state)
{
    expect_frame_error("", 0, PARLEY_EPROTO, "engine.io packet: empty packet"); /* E03 */
    expect_frame_error("9", 1, PARLEY_EPROTO, "invalid packet type '9'");     /* E04 */
    expect_frame_error("x", 1, PARLEY_EPROTO, "invalid packet type 'x'");
    expect_frame_error("\0", 1, PARLEY_EPROTO, "invalid packet type 0x00");
    expect_frame_error("7abc", 4, PARLEY_EPROTO, "invalid packet type '7'");
    expect_frame_error("/", 1, PARLEY_EPROTO, "invalid packet type '/'");
}

static void test_frame_data_rules(void **state)
{
    expect_frame_error("1x", 2, PARLEY_EPROTO, "close packet (1) carries 1 bytes of data");
    expect_frame_error("6abc", 4, PARLEY_EPROTO, "noop packet (6) carries 3 bytes");
    expect_frame_error("5x", 2, PARLEY_EPROTO, "upgrade packet (5) carries");
    expect_frame_error("0{}", 3, PARLEY_EPROTO, "open packet (0) carries");
    expect_frame_error("2ping", 5, PARLEY_EPROTO, "ping packet data must be empty or \"probe\"");
    expect_frame_error("3probes", 7, PARLEY_EPROTO, "pong packet data must be empty");
    expect_frame_error("2PROBE", 6, PARLEY_EPROTO, "ping packet data");
}

static void test_frame_base64(void **state)
{
    /* E09: strict base64; "b" alone is an empty binary message. */
    expect_frame_error("b!!!", 4, PARLEY_EPROTO, "invalid base64: '!' at offset 0");
    expect_frame("b", EIO_MESSAGE, 1, 0, NULL, 0);
    expect_frame_error("bAQID=", 6, PARLEY_EPROTO, "length 5 is not a multiple of 4");
    expect_frame("bAQID", EIO_MESSAGE, 1, 0, "\x01\x02\x03", 3);
    expect_frame("bAQIDBA==", EIO_MESSAGE, 1, 0, "\x01\x02\x03\x04", 4);
}

static void test_frame_utf8(void **state)
{
    eio_limits lim;
    parley_error err = PARLEY_ERROR_INIT;
    eio_packet pkt;

    /* P06 / F14 byte patterns inside a text packet. */
    expect_frame_error("4\xC3\x28\xFF", 4, PARLEY_EPROTO, "invalid UTF-8 at byte 1");
    expect_frame_error("4ab\xC0\xAF", 5, PARLEY_EPROTO, "invalid UTF-8 at byte 3");
    expect_frame_error("4\xED\xA0\x80", 4, PARLEY_EPROTO, "invalid UTF-8");
    expect_frame_error("4\xF4\x90\x80\x80", 5, PARLEY_EPROTO, "invalid UTF-8");
    expect_frame_error("4\xE2\x82", 3, PARLEY_EPROTO, "invalid UTF-8"); /* truncated */
    expect_frame("4\xE2\x82\xAC", EIO_MESSAGE, 0, 0, "\xE2\x82\xAC", 3); /* € */
    expect_frame("4\xF0\x9F\x98\x80", EIO_MESSAGE, 0, 0, "\xF0\x9F\x98\x80", 4);

    eio_limits_default(&lim);
    lim.validate_utf8 = 0;
    assert_int_equal(frame_n("4\xC3\x28\xFF", 4, 0, &lim, &pkt, &err), 0);
    assert_int_equal(pkt.len, 3);
}

static void test_frame_binary(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    eio_packet pkt;

    /* A binary frame is a message with no type byte (F33's bytes). */
    assert_int_equal(frame_n("\x01\x02\x03", 3, 1, NULL, &pkt, &err), 0);
    assert_int_equal(pkt.type, EIO_MESSAGE);
    assert_int_equal(pkt.binary, 1);
    assert_int_equal(pkt.len, 3);
    assert_memory_equal(pkt.data, "\x01\x02\x03", 3);
    /* Not parsed as text: "b" and type digits are plain bytes there. */
    assert_int_equal(frame_n("4x", 2, 1, NULL, &pkt, &err), 0);
    assert_int_equal(pkt.binary, 1);
    assert_int_equal(pkt.len, 2);
    assert_int_equal(frame_n("", 0, 1, NULL, &pkt, &err), 0);
    assert_int_equal(pkt.len, 0);
}

static void test_frame_size_cap(void **state)
{
    static char big[1000002];
    parley_error err = PARLEY_ERROR_INIT;
    eio_limits lim;
    eio_packet pkt;

    /* E10 at the codec level: the transport answers 1009 from the frame
     * header; the codec's own cap counts data bytes (default 1 000 000). */
    big[0] = '4';
    memset(big + 1, 'a', 1000001);
    assert_int_equal(frame_n(big, 1000001, 0, NULL, &pkt, &err), 0); /* at the cap */
    assert_int_equal(pkt.len, 1000000);
    assert_int_equal(frame_n(big, 1000002, 0, NULL, &pkt, &err), PARLEY_ETOOBIG);
    assert_non_null(strstr(err.message, "1000001 decoded bytes exceed the limit of 1000000"));

    eio_limits_default(&lim);
    lim.max_decoded_bytes = 3;
    assert_int_equal(frame_n("\x01\x02\x03", 3, 1, &lim, &pkt, &err), 0);
    assert_int_equal(frame_n("\x01\x02\x03\x04", 4, 1, &lim, &pkt, &err), PARLEY_ETOOBIG);
    assert_int_equal(frame_n("bAQID", 5, 0, &lim, &pkt, &err), 0);
    assert_int_equal(frame_n("bAQIDBA==", 9, 0, &lim, &pkt, &err), PARLEY_ETOOBIG);
}

static void test_frame_null_args(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    eio_packet pkt;

    assert_int_equal(eio_decode_frame(NULL, 1, 0, NULL, &pkt, &err), PARLEY_EINVAL);
    assert_int_equal(eio_decode_frame(frame_buf, 1, 0, NULL, NULL, &err), PARLEY_EINVAL);
}

/* ---- long-polling payloads (§2.2) -------------------------------------- */

static void test_payload_spec_examples(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    collected c;
    const char *s = "4hello\x1e" "2\x1e" "4world";

    assert_int_equal(payload_n(s, strlen(s), NULL, &c, &err), 3);
    assert_int_equal(c.count, 3);
    assert_int_equal(c.types[0], EIO_MESSAGE);
    assert_memory_equal(c.data[0], "hello", 5);
    assert_int_equal(c.types[1], EIO_PING); /* P05: decodes; the session refuses it */
    assert_int_equal(c.types[2], EIO_MESSAGE);
    assert_memory_equal(c.data[2], "world", 5);

    s = "4hello\x1e" "bAQIDBA==";
    assert_int_equal(payload_n(s, strlen(s), NULL, &c, &err), 2);
    assert_int_equal(c.binary[0], 0);
    assert_int_equal(c.binary[1], 1);
    assert_int_equal(c.types[1], EIO_MESSAGE);
    assert_int_equal(c.len[1], 4);
    assert_memory_equal(c.data[1], "\x01\x02\x03\x04", 4);

    /* The v4 test suite's bodies. */
    s = "4test1\x1e" "4test2\x1e" "4test3";
    assert_int_equal(payload_n(s, strlen(s), NULL, &c, &err), 3);
    assert_memory_equal(c.data[2], "test3", 5);
    expect_payload_error("abc", 3, PARLEY_EPROTO, "packet 1: invalid packet type 'a'");

    /* The sample session's POST. */
    s = "42[\"hello\"]\x1e" "42[\"world\"]";
    assert_int_equal(payload_n(s, strlen(s), NULL, &c, &err), 2);
    assert_memory_equal(c.data[1], "2[\"world\"]", 10);
}

static void test_payload_p01_p03(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    collected c;
    const char *s = "40\x1e" "42[\"a\"]";

    assert_int_equal(payload_n(s, strlen(s), NULL, &c, &err), 2); /* P01 */
    assert_memory_equal(c.data[0], "0", 1);
    assert_memory_equal(c.data[1], "2[\"a\"]", 6);

    expect_payload_error("4hello\x1e", 7, PARLEY_EPROTO, "packet 2: empty packet"); /* P02 */
    expect_payload_error("\x1e\x1e\x1e", 3, PARLEY_EPROTO, "packet 1: empty packet"); /* P03 */
    expect_payload_error("\x1e", 1, PARLEY_EPROTO, "packet 1: empty packet");
    expect_payload_error("", 0, PARLEY_EPROTO, "engine.io payload: empty body");
    /* A bad packet after good ones: nothing at all is delivered. */
    expect_payload_error("4a\x1e" "4b\x1e" "9", 8, PARLEY_EPROTO, "packet 3: invalid packet type '9'");
}

static void test_payload_p04_cap(void **state)
{
    static char body[600001];
    parley_error err = PARLEY_ERROR_INIT;
    eio_limits lim;
    size_t n = 0, count = 0;
    double t0;
    int rc;

    for (int k = 0; k < 300000; k++) {
        body[n++] = '6';
        body[n++] = 0x1e;
    }
    /* The default cap (1000 packets) stops it after 1001 steps. */
    memcpy(body_buf, body, n);
    t0 = now_s();
    rc = eio_decode_payload(body_buf, n, NULL, counting_cb, &count, &err);
    assert_int_equal(rc, PARLEY_ELIMIT);
    assert_non_null(strstr(err.message, "more than 1000 packets"));
    assert_int_equal(count, 0);
    assert_true(now_s() - t0 < 0.1);

    /* With the cap raised, 300 000 packets decode in linear time. The
     * trailing separator is dropped (it would be an empty packet). */
    eio_limits_default(&lim);
    lim.max_packets = 300000;
    memcpy(body_buf, body, n - 1);
    t0 = now_s();
    rc = eio_decode_payload(body_buf, n - 1, &lim, counting_cb, &count, &err);
    assert_int_equal(rc, 300000);
    assert_int_equal(count, 300000);
    assert_true(now_s() - t0 < 1.0);

    /* Exactly at and one past the cap. */
    lim.max_packets = 3;
    memcpy(body_buf, "6\x1e" "6\x1e" "6", 5);
    count = 0;
    assert_int_equal(eio_decode_payload(body_buf, 5, &lim, counting_cb, &count, &err), 3);
    memcpy(body_buf, "6\x1e" "6\x1e" "6\x1e" "6", 7);
    assert_int_equal(eio_decode_payload(body_buf, 7, &lim, counting_cb, &count, &err),
                     PARLEY_ELIMIT);
    assert_non_null(strstr(err.message, "more than 3 packets"));
}

static void test_payload_p06_p07(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    collected c;

    expect_payload_error("4\xC3\x28\xFF", 4, PARLEY_EPROTO, "packet 1: invalid UTF-8 at byte 1");
    assert_int_equal(payload_n("bAQID", 5, NULL, &c, &err), 1); /* P07 */
    assert_int_equal(c.binary[0], 1);
    assert_int_equal(c.len[0], 3);
    assert_memory_equal(c.data[0], "\x01\x02\x03", 3);
    expect_payload_error("b!!!", 4, PARLEY_EPROTO, "packet 1: invalid base64");
    expect_payload_error("b====", 5, PARLEY_EPROTO, "invalid base64");
    expect_payload_error("4ok\x1e" "bAQ=A", 9, PARLEY_EPROTO, "packet 2: invalid base64");
    assert_int_equal(payload_n("b\x1e" "4x", 4, NULL, &c, &err), 2); /* empty binary */
    assert_int_equal(c.binary[0], 1);
    assert_int_equal(c.len[0], 0);
}

static void test_payload_p08_decoded_cap(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    eio_limits lim;
    collected c;
    const char *at = "4aaaaa\x1e" "bAQIDBA==\x1e" "4b"; /* 5 + 4 + 1 = 10 bytes */

    eio_limits_default(&lim);
    lim.max_decoded_bytes = 10;
    assert_int_equal(payload_n(at, strlen(at), &lim, &c, &err), 3);
    lim.max_decoded_bytes = 9;
    assert_int_equal(payload_n(at, strlen(at), &lim, &c, &err), PARLEY_ETOOBIG);
    assert_non_null(strstr(err.message, "10 decoded bytes exceed the limit of 9"));
    assert_int_equal(c.count, 0);
}

static void test_payload_callback_stops(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    collected c;
    int rc;

    memset(&c, 0, sizeof c);
    c.stop_after = 1;
    memcpy(body_buf, "4a\x1e" "4b", 5);
    rc = eio_decode_payload(body_buf, 5, NULL, collect_cb, &c, &err);
    assert_int_equal(rc, PARLEY_ECLOSED);
    assert_int_equal(c.count, 1);
    assert_string_equal(err.message, "stop");
    assert_int_equal(eio_decode_payload(body_buf, 5, NULL, NULL, NULL, &err), PARLEY_EINVAL);
}

/* ---- base64 and UTF-8 --------------------------------------------------- */

static void test_base64_strict(void **state)
{
    static const char *bad[] = { "AQJ=", "AR==", "A===", "=AAA", "AQ=A", "AQ I", "AQ-_", "AQ\n=",
                                 "AQI", "====", NULL };
    uint8_t out[8];
    size_t at;

    for (int k = 0; bad[k]; k++) {
        if (sio_base64_check(bad[k], strlen(bad[k]), &at) >= 0)
            fail_msg("base64 \"%s\" was accepted", bad[k]);
    }
    assert_int_equal(sio_base64_check("", 0, &at), 0);
    assert_int_equal(sio_base64_check("AQ==", 4, &at), 1);
    assert_int_equal(sio_base64_decode("AQ==", 4, out), 1);
    assert_int_equal(out[0], 1);
    assert_int_equal(sio_base64_check("AQI=", 4, &at), 2);
    assert_int_equal(sio_base64_check("+/+/", 4, &at), 3);
}

static void test_base64_round_trip(void **state)
{
    uint8_t src[64], dec[64];
    char enc[96];
    size_t at;

    for (size_t n = 0; n <= sizeof src; n++) {
        size_t el = sio_base64_encoded_len(n);

        for (size_t k = 0; k < n; k++)
            src[k] = (uint8_t)(k * 37 + n * 11);
        sio_base64_encode(src, n, enc);
        assert_int_equal(sio_base64_check(enc, el, &at), (long long)n);
        assert_int_equal(sio_base64_decode(enc, el, dec), n);
        if (n)
            assert_memory_equal(src, dec, n);
        /* In place. */
        assert_int_equal(sio_base64_decode(enc, el, (uint8_t *)enc), n);
        if (n)
            assert_memory_equal(src, enc, n);
    }
    assert_int_equal(sio_base64_encoded_len(SIZE_MAX), SIZE_MAX);
}

static void test_utf8_check(void **state)
{
    assert_int_equal(sio_utf8_check("abc", 3), 3);
    assert_int_equal(sio_utf8_check("\xC2\x80", 2), 2);
    assert_int_equal(sio_utf8_check("\xC1\xBF", 2), 0);          /* overlong */
    assert_int_equal(sio_utf8_check("\xE0\x9F\xBF", 3), 0);      /* overlong */
    assert_int_equal(sio_utf8_check("\xF0\x8F\xBF\xBF", 4), 0);  /* overlong */
    assert_int_equal(sio_utf8_check("a\xED\xBF\xBF", 4), 1);     /* surrogate */
    assert_int_equal(sio_utf8_check("\xF4\x8F\xBF\xBF", 4), 4);  /* U+10FFFF */
    assert_int_equal(sio_utf8_check("\xF5\x80\x80\x80", 4), 0);
    assert_int_equal(sio_utf8_check("\x80", 1), 0);
    assert_int_equal(sio_utf8_check("ab\xE2\x82", 4), 2);
}

/* ---- encoders ----------------------------------------------------------- */

static void test_builder(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    eio_builder b;
    char buf[64];
    size_t need;
    collected c;
    const char *want = "4hello\x1e" "2\x1e" "bAQIDBA==\x1e" "6";

    need = eio_polling_packet_size(0, 5) + eio_polling_packet_size(0, 0) +
           eio_polling_packet_size(1, 4) + eio_polling_packet_size(0, 0) + 3;
    assert_int_equal(need, strlen(want));

    eio_builder_init(&b, buf, need); /* exactly the computed size */
    assert_int_equal(eio_builder_add(&b, EIO_MESSAGE, "hello", 5, &err), 0);
    assert_int_equal(eio_builder_add(&b, EIO_PING, NULL, 0, &err), 0);
    assert_int_equal(eio_builder_add_binary(&b, "\x01\x02\x03\x04", 4, &err), 0);
    assert_int_equal(eio_builder_add(&b, EIO_NOOP, NULL, 0, &err), 0);
    assert_int_equal(b.len, need);
    assert_int_equal(b.count, 4);
    assert_memory_equal(buf, want, need);

    /* Full: a refused packet leaves the builder as it was. */
    assert_int_equal(eio_builder_add(&b, EIO_NOOP, NULL, 0, &err), PARLEY_ETOOBIG);
    assert_non_null(strstr(err.message, "does not fit"));
    assert_int_equal(eio_builder_add_binary(&b, "x", 1, &err), PARLEY_ETOOBIG);
    assert_int_equal(b.len, need);
    assert_int_equal(b.count, 4);
    assert_int_equal(eio_builder_add(&b, 7, NULL, 0, &err), PARLEY_EINVAL);
    eio_builder_init(&b, buf, sizeof buf);
    assert_int_equal(eio_builder_add(&b, EIO_MESSAGE, "a\x1e" "6", 3, &err), PARLEY_EINVAL);
    assert_non_null(strstr(err.message, "contains the record separator 0x1e"));
    assert_int_equal(b.len, 0);

    /* One byte short for the last packet. */
    eio_builder_init(&b, buf, need - 1);
    eio_builder_add(&b, EIO_MESSAGE, "hello", 5, &err);
    eio_builder_add(&b, EIO_PING, NULL, 0, &err);
    eio_builder_add_binary(&b, "\x01\x02\x03\x04", 4, &err);
    assert_int_equal(eio_builder_add(&b, EIO_NOOP, NULL, 0, &err), PARLEY_ETOOBIG);
    assert_int_equal(b.len, need - 2); /* everything but "\x1e6" */

    /* Already encoded frames (the broadcast's shared "42[...]"). */
    eio_builder_init(&b, buf, sizeof buf);
    assert_int_equal(eio_builder_add_encoded(&b, "42[\"a\"]", 7, &err), 0);
    assert_int_equal(eio_builder_add_encoded(&b, "6", 1, &err), 0);
    assert_int_equal(b.len, 9);
    assert_memory_equal(buf, "42[\"a\"]\x1e" "6", 9);
    assert_int_equal(eio_builder_add_encoded(&b, "", 0, &err), PARLEY_EINVAL);
    assert_int_equal(eio_builder_add_encoded(&b, "b", 1, &err), PARLEY_EINVAL);
    assert_non_null(strstr(err.message, "must start with a type digit"));
    assert_int_equal(eio_builder_add_encoded(&b, "4\x1e", 2, &err), PARLEY_EINVAL);
    assert_int_equal(b.len, 9);

    /* Round trip through the decoder. */
    assert_int_equal(payload_n(want, strlen(want), NULL, &c, &err), 4);
    assert_int_equal(c.types[0], EIO_MESSAGE);
    assert_memory_equal(c.data[0], "hello", 5);
    assert_int_equal(c.types[1], EIO_PING);
    assert_int_equal(c.binary[2], 1);
    assert_memory_equal(c.data[2], "\x01\x02\x03\x04", 4);
    assert_int_equal(c.types[3], EIO_NOOP);
}

static void test_encode_packet(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    char buf[16];
    size_t n = 0;

    assert_int_equal(eio_encode_packet(EIO_MESSAGE, "2[\"a\"]", 6, buf, sizeof buf, &n, &err), 0);
    assert_int_equal(n, 7);
    assert_memory_equal(buf, "42[\"a\"]", 7);
    assert_int_equal(eio_encode_packet(EIO_PING, NULL, 0, buf, sizeof buf, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_memory_equal(buf, EIO_PKT_PING, 1);
    assert_int_equal(eio_encode_packet(EIO_PONG, "probe", 5, buf, 6, &n, &err), 0);
    assert_memory_equal(buf, EIO_PKT_PONG_PROBE, 6);
    assert_int_equal(eio_encode_packet(EIO_PONG, "probe", 5, buf, 5, &n, &err), PARLEY_ETOOBIG);
    assert_non_null(strstr(err.message, "needs 6 bytes, the buffer has 5"));
    assert_int_equal(eio_encode_packet(9, NULL, 0, buf, sizeof buf, &n, &err), PARLEY_EINVAL);
    assert_string_equal(EIO_PKT_CLOSE, "1");
    assert_string_equal(EIO_PKT_NOOP, "6");
}

static void test_encode_open(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    char buf[EIO_OPEN_MAX];
    eio_open o = { "lv_VI97HAXpY6yYWAAAC", 1, 25000, 20000, 1000000 };
    char sid[EIO_SID_MAX + 2];
    const char *want = "0{\"sid\":\"lv_VI97HAXpY6yYWAAAC\",\"upgrades\":[\"websocket\"],"
                       "\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}";
    size_t n = 0;
    cJSON *j;
    int keys = 0;

    assert_int_equal(eio_encode_open(&o, buf, sizeof buf, &n, &err), 0);
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));
    j = cJSON_Parse(buf + 1);
    assert_non_null(j);
    for (cJSON *k = j->child; k; k = k->next)
        keys++;
    assert_int_equal(keys, 5); /* exactly these keys */
    cJSON_Delete(j);

    o.upgrade_websocket = 0;
    o.ping_interval_ms = 300;
    o.ping_timeout_ms = 200;
    assert_int_equal(eio_encode_open(&o, buf, sizeof buf, &n, &err), 0);
    assert_string_equal(buf, "0{\"sid\":\"lv_VI97HAXpY6yYWAAAC\",\"upgrades\":[],"
                             "\"pingInterval\":300,\"pingTimeout\":200,\"maxPayload\":1000000}");
    assert_int_equal(eio_encode_open(&o, buf, 20, &n, &err), PARLEY_ETOOBIG);

    /* The longest sid fits EIO_OPEN_MAX with the largest numbers. */
    memset(sid, 'A', EIO_SID_MAX);
    sid[EIO_SID_MAX] = '\0';
    o.sid = sid;
    o.upgrade_websocket = 1;
    o.ping_interval_ms = o.ping_timeout_ms = o.max_payload = UINT32_MAX;
    assert_int_equal(eio_encode_open(&o, buf, sizeof buf, &n, &err), 0);
    sid[EIO_SID_MAX] = 'A';
    sid[EIO_SID_MAX + 1] = '\0';
    assert_int_equal(eio_encode_open(&o, buf, sizeof buf, &n, &err), PARLEY_EINVAL);
    o.sid = "a\"b";
    assert_int_equal(eio_encode_open(&o, buf, sizeof buf, &n, &err), PARLEY_EINVAL);
    assert_non_null(strstr(err.message, "[A-Za-z0-9_-]"));
    o.sid = "";
    assert_int_equal(eio_encode_open(&o, buf, sizeof buf, &n, &err), PARLEY_EINVAL);
}

/* ---- handshake query and errors ----------------------------------------- */

static void expect_query_code(const char *q, int code, const char *needle)
{
    parley_error err = PARLEY_ERROR_INIT;
    eio_query out;
    int rc = eio_parse_query(q, strlen(q), &out, &err);

    if (rc != PARLEY_EPROTO || out.error_code != code || strstr(err.message, needle) == NULL)
        fail_msg("query \"%s\": rc %d code %d \"%s\" (want code %d, \"%s\")", q, rc,
                 out.error_code, err.message, code, needle);
}

static void test_query_ok(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    eio_query q;
    const char *s;

    s = "EIO=4&transport=polling"; /* H01 */
    assert_int_equal(eio_parse_query(s, strlen(s), &q, &err), 0);
    assert_int_equal(q.transport, EIO_TRANSPORT_POLLING);
    assert_null(q.sid);
    assert_int_equal(q.error_code, -1);

    s = "?EIO=4&transport=websocket&sid=lv_VI97HAXpY6yYWAAAC&t=N8hyd6w";
    assert_int_equal(eio_parse_query(s, strlen(s), &q, &err), 0);
    assert_int_equal(q.transport, EIO_TRANSPORT_WEBSOCKET);
    assert_int_equal(q.sid_len, 20);
    assert_memory_equal(q.sid, "lv_VI97HAXpY6yYWAAAC", 20);

    /* H23: v3 leftovers ignored; empty pairs and a fragment tolerated. */
    s = "&&transport=polling&j=0&b64=1&&EIO=4&#sid=x&sid=y";
    assert_int_equal(eio_parse_query(s, strlen(s), &q, &err), 0);
    assert_null(q.sid);

    /* H06: a well-formed sid parses; the session lookup refuses it later. */
    s = "EIO=4&transport=polling&sid=__proto__";
    assert_int_equal(eio_parse_query(s, strlen(s), &q, &err), 0);
    assert_int_equal(q.sid_len, 9);
}

static void test_query_version(void **state)
{
    /* H02 */
    expect_query_code("EIO=3&transport=polling", 5, "EIO must be exactly \"4\"");
    expect_query_code("EIO=5&transport=polling", 5, "Unsupported protocol version");
    expect_query_code("EIO=&transport=polling", 5, "EIO must be exactly");
    expect_query_code("EIO&transport=polling", 5, "EIO must be exactly");
    expect_query_code("transport=polling", 5, "no EIO");
    expect_query_code("EIO=4abc&transport=polling", 5, "EIO must be exactly");
    expect_query_code("EIO=04&transport=polling", 5, "EIO must be exactly");
    expect_query_code("EIO=%34&transport=polling", 5, "EIO must be exactly"); /* no decoding */
    expect_query_code("EIO=4&EIO=4&transport=polling", 5, "EIO given more than once");
    expect_query_code("eio=4&transport=polling", 5, "no EIO");
}

static void test_query_transport(void **state)
{
    /* H03 */
    static const char *bad[] = { "__proto__", "constructor", "toString", "hasOwnProperty",
                                 "webtransport", "", "POLLING", "polling%00", "polling ",
                                 "websocket2", NULL };
    char q[64];

    for (int k = 0; bad[k]; k++) {
        snprintf(q, sizeof q, "EIO=4&transport=%s", bad[k]);
        expect_query_code(q, 0, "transport must be \"polling\" or \"websocket\"");
    }
    expect_query_code("EIO=4", 0, "no transport");
    expect_query_code("EIO=4&transport=polling&transport=polling", 0, "more than once");
    /* Order: transport is checked before EIO. */
    expect_query_code("EIO=3&transport=nope", 0, "Transport unknown");
    expect_query_code("", 0, "no transport");
}

static void test_query_sid(void **state)
{
    static char q[10100];
    size_t n;

    /* H06 */
    n = (size_t)snprintf(q, sizeof q, "EIO=4&transport=polling&sid=");
    memset(q + n, 'A', 10000);
    q[n + 10000] = '\0';
    expect_query_code(q, 1, "sid must be 1..64 characters");
    expect_query_code("EIO=4&transport=polling&sid=%00", 1, "Session ID unknown");
    expect_query_code("EIO=4&transport=polling&sid=a&sid=b", 1, "sid given more than once");
    expect_query_code("EIO=4&transport=polling&sid=", 1, "sid must be");
    expect_query_code("EIO=4&transport=polling&sid=a.b", 1, "sid must be");
    /* Exactly 64 characters is fine, 65 is not. */
    n = (size_t)snprintf(q, sizeof q, "EIO=4&transport=polling&sid=");
    memset(q + n, 'z', 65);
    q[n + 64] = '\0';
    {
        parley_error err = PARLEY_ERROR_INIT;
        eio_query out;

        assert_int_equal(eio_parse_query(q, strlen(q), &out, &err), 0);
        assert_int_equal(out.sid_len, 64);
    }
    q[n + 64] = 'z';
    q[n + 65] = '\0';
    expect_query_code(q, 1, "sid must be");
}

static void test_query_many_pairs(void **state)
{
    static char q[60100];
    parley_error err = PARLEY_ERROR_INIT;
    eio_query out;
    size_t n = 0;
    double t0;

    /* H22: 10 000 unknown pairs parse in linear time. */
    n += (size_t)snprintf(q, sizeof q, "EIO=4&transport=polling");
    for (int k = 0; k < 10000; k++) {
        memcpy(q + n, "&a=1", 4);
        n += 4;
    }
    t0 = now_s();
    assert_int_equal(eio_parse_query(q, n, &out, &err), 0);
    assert_true(now_s() - t0 < 0.05);
    assert_int_equal(eio_parse_query(NULL, 3, &out, &err), PARLEY_EINVAL);
}

static void test_error_table(void **state)
{
    static const char *msgs[] = { "Transport unknown", "Session ID unknown",
                                  "Bad handshake method", "Bad request", "Forbidden",
                                  "Unsupported protocol version" };
    char buf[64];
    size_t n = 0;

    for (int c = 0; c <= 5; c++) {
        assert_string_equal(eio_error_message(c), msgs[c]);
        assert_int_equal(eio_error_http_status(c), c == EIO_ERR_FORBIDDEN ? 403 : 400);
    }
    assert_string_equal(eio_error_message(6), "Unknown error");
    assert_string_equal(eio_error_message(-1), "Unknown error");
    assert_int_equal(eio_error_body(EIO_ERR_SESSION_ID_UNKNOWN, buf, sizeof buf, &n), 0);
    assert_string_equal(buf, "{\"code\":1,\"message\":\"Session ID unknown\"}");
    assert_int_equal(n, strlen(buf));
    assert_int_equal(eio_error_body(EIO_ERR_FORBIDDEN, buf, sizeof buf, &n), 0);
    assert_string_equal(buf, "{\"code\":4,\"message\":\"Forbidden\"}");
    assert_int_equal(eio_error_body(0, buf, 10, &n), PARLEY_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_types),
        cmocka_unit_test(test_frame_empty_and_bad_type),
        cmocka_unit_test(test_frame_data_rules),
        cmocka_unit_test(test_frame_base64),
        cmocka_unit_test(test_frame_utf8),
        cmocka_unit_test(test_frame_binary),
        cmocka_unit_test(test_frame_size_cap),
        cmocka_unit_test(test_frame_null_args),
        cmocka_unit_test(test_payload_spec_examples),
        cmocka_unit_test(test_payload_p01_p03),
        cmocka_unit_test(test_payload_p04_cap),
        cmocka_unit_test(test_payload_p06_p07),
        cmocka_unit_test(test_payload_p08_decoded_cap),
        cmocka_unit_test(test_payload_callback_stops),
        cmocka_unit_test(test_base64_strict),
        cmocka_unit_test(test_base64_round_trip),
        cmocka_unit_test(test_utf8_check),
        cmocka_unit_test(test_builder),
        cmocka_unit_test(test_encode_packet),
        cmocka_unit_test(test_encode_open),
        cmocka_unit_test(test_query_ok),
        cmocka_unit_test(test_query_version),
        cmocka_unit_test(test_query_transport),
        cmocka_unit_test(test_query_sid),
        cmocka_unit_test(test_query_many_pairs),
        cmocka_unit_test(test_error_table),
    };

    return cmocka_run_group_tests_name("eio_codec", tests, NULL, NULL);
}
