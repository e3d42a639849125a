/*
 * Socket.IO v5 codec: header parsing, payload validation, limits, binary
 * reconstruction and encoding. Covers bad-inputs.md §3 (S01–S30) at the
 * codec level and the examples of the v5 specification.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "sio.h"

#define PH(k) "{\"_placeholder\":true,\"num\":" #k "}"
/* A string literal and its length, for the (buf, len) APIs. */
#define LIT(s) s, strlen(s)

/* ---- helpers ----------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void expect_error_n(const char *s, size_t n, const sio_limits *lim, int status,
                           const char *needle)
{
    parley_error err = PARLEY_ERROR_INIT;
    sio_packet p;
    int rc = sio_decode(s, n, lim, &p, &err);

    if (rc == 0)
        sio_packet_clear(&p);
    if (rc != status || strstr(err.message, needle) == NULL ||
        strncmp(err.message, "socket.io packet: ", 18) != 0)
        fail_msg("packet \"%.60s\" (%zu bytes): rc %d (want %d), message \"%s\" (want \"%s\")", s,
                 n, rc, status, err.message, needle);
    assert_int_equal(err.code, status);
}

static void expect_error(const char *s, int status, const char *needle)
{
    expect_error_n(s, strlen(s), NULL, status, needle);
}

/* Decode s (must succeed) into *p; the caller clears it. */
static void decode_ok_lim(const char *s, const sio_limits *lim, sio_packet *p)
{
    parley_error err = PARLEY_ERROR_INIT;
    int rc = sio_decode(s, strlen(s), lim, p, &err);

    if (rc != 0)
        fail_msg("packet \"%.60s\": rc %d: %s", s, rc, err.message);
}

static void decode_ok(const char *s, sio_packet *p)
{
    decode_ok_lim(s, NULL, p);
}

static void assert_nsp(const sio_packet *p, const char *nsp)
{
    assert_int_equal(p->nsp_len, strlen(nsp));
    assert_memory_equal(p->nsp, nsp, p->nsp_len);
}

/* The payload re-serialised (unformatted), for comparisons. */
static void assert_data_json(const sio_packet *p, const char *json)
{
    char *s = cJSON_PrintUnformatted(p->data);

    assert_non_null(s);
    assert_string_equal(s, json);
    cJSON_free(s);
}

/* A buffer of prefix + n × c + suffix (heap, caller frees). */
static char *repeat(const char *prefix, char c, size_t n, const char *suffix, size_t *len)
{
    size_t a = strlen(prefix), b = strlen(suffix);
    char *s = malloc(a + n + b + 1);

    assert_non_null(s);
    memcpy(s, prefix, a);
    memset(s + a, c, n);
    memcpy(s + a + n, suffix, b + 1);
    *len = a + n + b;
    return s;
}

/* ---- the specification's examples -------------------------------------- */

static void test_spec_connect(void **state)
{
    sio_packet p;

    decode_ok("0", &p);
    assert_int_equal(p.type, SIO_CONNECT);
    assert_nsp(&p, "/");
    assert_null(p.data);
    assert_null(p.payload);
    assert_int_equal(p.has_ack, 0);
    sio_packet_clear(&p);

    decode_ok("0/admin,{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}", &p);
    assert_nsp(&p, "/admin");
    assert_string_equal(cJSON_GetObjectItem(p.data, "sid")->valuestring, "oSO0OpakMV_3jnilAAAA");
    sio_packet_clear(&p);

    decode_ok("0/custom", &p); /* no comma: the namespace runs to the end */
    assert_nsp(&p, "/custom");
    assert_null(p.data);
    sio_packet_clear(&p);

    decode_ok("0{\"token\":\"123\"}", &p);
    assert_nsp(&p, "/");
    assert_data_json(&p, "{\"token\":\"123\"}");
    assert_int_equal(p.payload_len, 15);
    sio_packet_clear(&p);

    decode_ok("0/,", &p);
    assert_nsp(&p, "/");
    sio_packet_clear(&p);
}

static void test_spec_event_ack_disconnect(void **state)
{
    sio_packet p;

    decode_ok("2[\"foo\"]", &p);
    assert_int_equal(p.type, SIO_EVENT);
    assert_string_equal(p.event, "foo");
    assert_int_equal(p.event_len, 3);
    assert_int_equal(p.has_ack, 0);
    sio_packet_clear(&p);

    decode_ok("2/admin,[\"bar\"]", &p);
    assert_nsp(&p, "/admin");
    assert_string_equal(p.event, "bar");
    sio_packet_clear(&p);

    decode_ok("212[\"foo\"]", &p);
    assert_int_equal(p.has_ack, 1);
    assert_int_equal(p.ack_id, 12);
    sio_packet_clear(&p);

    decode_ok("3/admin,13[\"bar\"]", &p);
    assert_int_equal(p.type, SIO_ACK);
    assert_nsp(&p, "/admin");
    assert_int_equal(p.ack_id, 13);
    assert_data_json(&p, "[\"bar\"]");
    sio_packet_clear(&p);

    decode_ok("312[]", &p); /* an ACK payload may be empty */
    assert_int_equal(cJSON_GetArraySize(p.data), 0);
    sio_packet_clear(&p);

    decode_ok("1", &p);
    assert_int_equal(p.type, SIO_DISCONNECT);
    sio_packet_clear(&p);
    decode_ok("1/admin,", &p);
    assert_nsp(&p, "/admin");
    sio_packet_clear(&p);

    decode_ok("2/admin,1[\"tellme\"]", &p); /* the sample session */
    assert_int_equal(p.ack_id, 1);
    sio_packet_clear(&p);

    decode_ok("2[\"hel\\u006co\",1]", &p); /* the name is the decoded string */
    assert_string_equal(p.event, "hello");
    sio_packet_clear(&p);

    decode_ok("2 [\"a\"] \r\n", &p); /* JSON whitespace around the payload */
    assert_string_equal(p.event, "a");
    sio_packet_clear(&p);
}

static void test_spec_binary_headers(void **state)
{
    sio_packet p;

    decode_ok("51-[\"baz\"," PH(0) "]", &p);
    assert_int_equal(p.type, SIO_BINARY_EVENT);
    assert_int_equal(p.attachments, 1);
    assert_string_equal(p.event, "baz");
    sio_packet_clear(&p);

    decode_ok("52-/admin,[\"baz\"," PH(0) "," PH(1) "]", &p);
    assert_int_equal(p.attachments, 2);
    assert_nsp(&p, "/admin");
    sio_packet_clear(&p);

    decode_ok("61-15[\"bar\"," PH(0) "]", &p);
    assert_int_equal(p.type, SIO_BINARY_ACK);
    assert_int_equal(p.ack_id, 15);
    sio_packet_clear(&p);

    decode_ok("61-/admin,1[" PH(0) "]", &p);
    assert_nsp(&p, "/admin");
    assert_int_equal(p.ack_id, 1);
    sio_packet_clear(&p);
}

static void test_connect_error_from_client(void **state)
{
    sio_limits lim;
    sio_packet p;

    expect_error("4{\"message\":\"Not authorized\"}", PARLEY_EPROTO,
                 "CONNECT_ERROR (4) is not accepted from a client");
    expect_error("442[\"some\",\"data\"", PARLEY_EPROTO, "CONNECT_ERROR"); /* S16 */
    sio_limits_default(&lim);
    lim.accept_connect_error = 1;
    decode_ok_lim("4{\"message\":\"Not authorized\"}", &lim, &p);
    assert_int_equal(p.type, SIO_CONNECT_ERROR);
    sio_packet_clear(&p);
    decode_ok_lim("4/admin,\"legacy string\"", &lim, &p);
    sio_packet_clear(&p);
    expect_error_n("4[1]", 4, &lim, PARLEY_EPROTO, "an object or a string");
    expect_error_n("4", 1, &lim, PARLEY_EPROTO, "CONNECT_ERROR without a payload");
}

/* ---- §3 bad inputs, header level ---------------------------------------- */

static void test_s06_attachment_cap(void **state)
{
    char *s;
    size_t n;
    double t0;
    sio_packet p;

    expect_error("511-[\"a\"]", PARLEY_ELIMIT, "attachment count 11 exceeds the limit of 10");
    expect_error("5999999999-[\"a\"]", PARLEY_ELIMIT,
                 "attachment count 999999999 exceeds the limit of 10");
    s = repeat("5", '9', 100000, "-[\"a\"]", &n);
    t0 = now_s();
    expect_error_n(s, n, NULL, PARLEY_ELIMIT,
                   "attachment count 99999999999999999999... exceeds the limit of 10");
    assert_true(now_s() - t0 < 0.05);
    free(s);
    /* Exactly at the cap. */
    decode_ok("510-[\"a\"," PH(0) "," PH(1) "," PH(2) "," PH(3) "," PH(4) "," PH(5) "," PH(6)
              "," PH(7) "," PH(8) "," PH(9) "]", &p);
    assert_int_equal(p.attachments, 10);
    sio_packet_clear(&p);
}

static void test_s07_illegal_attachments(void **state)
{
    expect_error("5", PARLEY_EPROTO, "illegal attachments: BINARY_EVENT needs a count");
    expect_error("51", PARLEY_EPROTO, "illegal attachments: the count must be followed by '-'");
    expect_error("5a-", PARLEY_EPROTO, "illegal attachments");
    expect_error("51.23-", PARLEY_EPROTO, "illegal attachments: the count must be followed");
    expect_error("5-1-", PARLEY_EPROTO, "illegal attachments: BINARY_EVENT needs a count");
    expect_error("6", PARLEY_EPROTO, "illegal attachments: BINARY_ACK needs a count");
    expect_error("501-[\"a\"," PH(0) "]", PARLEY_EPROTO, "leading zero");
}

static void test_s08_unknown_type(void **state)
{
    expect_error("999", PARLEY_EPROTO, "unknown packet type '9'");
    expect_error("7", PARLEY_EPROTO, "unknown packet type '7'");
    expect_error("a", PARLEY_EPROTO, "unknown packet type 'a'");
    expect_error("", PARLEY_EPROTO, "empty packet");
    expect_error_n("\x01", 1, NULL, PARLEY_EPROTO, "unknown packet type 0x01");
}

static void test_s22_namespace(void **state)
{
    char *s;
    size_t n;
    sio_packet p;
    double t0;

    s = repeat("0/", 'a', 65536, "", &n);
    t0 = now_s();
    expect_error_n(s, n, NULL, PARLEY_ETOOBIG, "namespace longer than the limit of 128 bytes");
    assert_true(now_s() - t0 < 0.05);
    free(s);

    /* 128 bytes including the '/', then 129. */
    s = repeat("0/", 'a', 127, ",{}", &n);
    decode_ok(s, &p);
    assert_int_equal(p.nsp_len, 128);
    sio_packet_clear(&p);
    free(s);
    s = repeat("0/", 'a', 128, ",{}", &n);
    expect_error_n(s, n, NULL, PARLEY_ETOOBIG, "namespace longer than");
    free(s);
    s = repeat("0/", 'a', 128, "", &n); /* no comma: the same limit */
    expect_error_n(s, n, NULL, PARLEY_ETOOBIG, "namespace longer than");
    free(s);

    /* Odd but printable names decode; the plugin answers "Invalid namespace". */
    decode_ok("0/%00", &p);
    assert_nsp(&p, "/%00");
    sio_packet_clear(&p);
    decode_ok("0/../x", &p);
    assert_nsp(&p, "/../x");
    sio_packet_clear(&p);
    decode_ok("0/\xE2\x80\xAE", &p);
    assert_nsp(&p, "/\xE2\x80\xAE");
    sio_packet_clear(&p);
    decode_ok("0/random", &p); /* S19 */
    assert_nsp(&p, "/random");
    sio_packet_clear(&p);
    decode_ok("2/notjoined,[\"x\"]", &p); /* S20: the state check is the plugin's */
    assert_nsp(&p, "/notjoined");
    sio_packet_clear(&p);
    /* Control bytes are refused. */
    expect_error_n("0/a\0b", 5, NULL, PARLEY_EPROTO, "namespace byte 2 is a control character (0x00)");
    expect_error_n("0/a\x7f", 4, NULL, PARLEY_EPROTO, "control character (0x7f)");
    expect_error_n("2/a\nb,[\"x\"]", 11, NULL, PARLEY_EPROTO, "control character (0x0a)");
}

static void test_s23_ack_ids(void **state)
{
    char *s;
    size_t n;
    sio_packet p;
    double t0;

    decode_ok("21[\"x\"]", &p);
    assert_int_equal(p.ack_id, 1);
    sio_packet_clear(&p);
    decode_ok("20[\"x\"]", &p);
    assert_int_equal(p.has_ack, 1);
    assert_int_equal(p.ack_id, 0);
    sio_packet_clear(&p);
    decode_ok("24294967295[\"x\"]", &p);
    assert_int_equal(p.ack_id, UINT32_MAX);
    sio_packet_clear(&p);
    expect_error("24294967296[\"x\"]", PARLEY_EPROTO, "ack id 4294967296 exceeds 4294967295");
    expect_error("29007199254740993[\"x\"]", PARLEY_EPROTO, "ack id 9007199254740993 exceeds");
    s = repeat("2", '9', 100000, "[\"x\"]", &n);
    t0 = now_s();
    expect_error_n(s, n, NULL, PARLEY_EPROTO, "ack id 99999999999999999999... exceeds");
    assert_true(now_s() - t0 < 0.05);
    free(s);
    expect_error("2012[\"x\"]", PARLEY_EPROTO, "ack id has a leading zero");
    /* S24: an ACK for an id never sent decodes; the plugin ignores it. */
    decode_ok("3/,999[\"x\"]", &p);
    assert_nsp(&p, "/");
    assert_int_equal(p.ack_id, 999);
    sio_packet_clear(&p);
    expect_error("3[\"x\"]", PARLEY_EPROTO, "ACK without an ack id");
    expect_error("61-[" PH(0) "]", PARLEY_EPROTO, "BINARY_ACK without an ack id");
    expect_error("01{}", PARLEY_EPROTO, "a CONNECT packet cannot carry an ack id");
    expect_error("1/admin,5", PARLEY_EPROTO, "a DISCONNECT packet cannot carry an ack id");
}

/* ---- §3 bad inputs, payload level --------------------------------------- */

static void test_s09_s10_event_payloads(void **state)
{
    expect_error("2[{\"toString\":\"foo\"}]", PARLEY_EPROTO,
                 "the event name must be a string or an integer"); /* S09 */
    expect_error("2[true,\"foo\"]", PARLEY_EPROTO, "the event name must be");
    expect_error("2[null,\"bar\"]", PARLEY_EPROTO, "the event name must be");
    expect_error("2[]", PARLEY_EPROTO, "the EVENT payload is an empty array");
    expect_error("2{}", PARLEY_EPROTO, "the EVENT payload must be an array");
    expect_error("2\"str\"", PARLEY_EPROTO, "must be an array");
    expect_error("2[[\"a\"]]", PARLEY_EPROTO, "the event name must be");
    expect_error("2", PARLEY_EPROTO, "EVENT without a payload");
    expect_error("2/admin", PARLEY_EPROTO, "EVENT without a payload");
    expect_error("50-{}", PARLEY_EPROTO, "the BINARY_EVENT payload must be an array");
    expect_error("31{}", PARLEY_EPROTO, "the ACK payload must be an array");
}

static void test_numeric_event_names(void **state)
{
    sio_limits lim;
    sio_packet p;

    decode_ok("2[7,\"x\"]", &p);
    assert_string_equal(p.event, "7");
    assert_int_equal(p.event_len, 1);
    assert_data_json(&p, "[\"7\",\"x\"]"); /* the tree holds the name as text */
    sio_packet_clear(&p);
    decode_ok("2[-0]", &p);
    assert_string_equal(p.event, "0");
    sio_packet_clear(&p);
    decode_ok("2[-42]", &p);
    assert_string_equal(p.event, "-42");
    sio_packet_clear(&p);
    decode_ok("2[9007199254740991]", &p);
    assert_string_equal(p.event, "9007199254740991");
    sio_packet_clear(&p);
    expect_error("2[9007199254740993]", PARLEY_EPROTO, "a numeric event name must be an integer");
    expect_error("2[1.5]", PARLEY_EPROTO, "a numeric event name must be an integer");
    expect_error("2[1e300]", PARLEY_EPROTO, "must be an integer");
    sio_limits_default(&lim);
    lim.numeric_event_names = 0;
    expect_error_n("2[7]", 4, &lim, PARLEY_EPROTO, "the event name must be a string");
}

static void test_s11_s13_event_names(void **state)
{
    static const char *reserved[] = { "connect", "connect_error", "disconnect", "disconnecting",
                                      "newListener", "removeListener" };
    static const char *plain[] = { "error", "__proto__", "constructor", "hasOwnProperty",
                                   "Connect", "connect " };
    char buf[128];
    char *s;
    size_t n;
    sio_packet p;

    for (size_t k = 0; k < sizeof reserved / sizeof *reserved; k++) { /* S11 */
        char want[64];

        snprintf(buf, sizeof buf, "2[\"%s\",\"123\"]", reserved[k]);
        snprintf(want, sizeof want, "event name \"%s\" is reserved", reserved[k]);
        expect_error(buf, PARLEY_EPROTO, want);
        snprintf(buf, sizeof buf, "51-[\"%s\"," PH(0) "]", reserved[k]);
        expect_error(buf, PARLEY_EPROTO, want);
    }
    for (size_t k = 0; k < sizeof plain / sizeof *plain; k++) { /* S12, S13 */
        snprintf(buf, sizeof buf, "2[\"%s\",1]", plain[k]);
        decode_ok(buf, &p);
        assert_string_equal(p.event, plain[k]);
        sio_packet_clear(&p);
    }
    /* A reserved name is fine as an argument or as an ACK value. */
    decode_ok("2[\"x\",\"connect\"]", &p);
    sio_packet_clear(&p);
    decode_ok("31[\"disconnect\"]", &p);
    sio_packet_clear(&p);

    /* Length cap: 256 bytes, then 257, then 64 KB. */
    s = repeat("2[\"", 'e', 256, "\"]", &n);
    decode_ok(s, &p);
    assert_int_equal(p.event_len, 256);
    sio_packet_clear(&p);
    free(s);
    s = repeat("2[\"", 'e', 257, "\"]", &n);
    expect_error_n(s, n, NULL, PARLEY_ETOOBIG, "event name of 257 bytes exceeds the limit of 256");
    free(s);
    s = repeat("2[\"", 'e', 65536, "\"]", &n);
    expect_error_n(s, n, NULL, PARLEY_ETOOBIG, "event name of 65536 bytes");
    free(s);
}

static void test_s14_s18_shapes(void **state)
{
    expect_error("0/admin,\"invalid\"", PARLEY_EPROTO, "the CONNECT payload must be an object");
    expect_error("0[]", PARLEY_EPROTO, "the CONNECT payload must be an object");
    expect_error("0\"x\"", PARLEY_EPROTO, "the CONNECT payload must be an object");
    expect_error("1/admin,{}", PARLEY_EPROTO, "DISCONNECT carries a payload (2 bytes)"); /* S15 */
    expect_error("2[\"some\",\"data\"", PARLEY_EPROTO, "payload is not valid JSON");   /* S16 */
    expect_error("2/admin,\"invalid", PARLEY_EPROTO, "payload is not valid JSON");     /* S17 */
    expect_error("2/admin,{}", PARLEY_EPROTO, "must be an array");
    expect_error("abc", PARLEY_EPROTO, "unknown packet type 'a'");                     /* S18 */
    expect_error("2{}", PARLEY_EPROTO, "must be an array");
    expect_error("2abc[\"message-with-ack\",1,\"2\",{\"3\":[false]}]", PARLEY_EPROTO,
                 "payload is not valid JSON");
}

static void test_json_hygiene(void **state)
{
    char *s;
    size_t n;
    sio_packet p;

    expect_error("2[\"a\"]x", PARLEY_EPROTO, "payload has trailing data at byte 5");
    expect_error("2[\"a\"][\"b\"]", PARLEY_EPROTO, "trailing data");
    expect_error("2\xEF\xBB\xBF[\"a\"]", PARLEY_EPROTO, "byte order mark");
    expect_error("2[\"a\\u0000b\"]", PARLEY_EPROTO, "payload contains a \\u0000 escape");
    expect_error("2[\"a\",{\"k\\u0000\":1}]", PARLEY_EPROTO, "\\u0000 escape");
    expect_error("2[\"a\",\"\\ud800\"]", PARLEY_EPROTO, "not valid JSON"); /* J04 lone surrogate */
    expect_error("2[\"a\",NaN]", PARLEY_EPROTO, "not valid JSON");
    /* Raw control bytes: none in strings, only JSON whitespace outside. */
    expect_error("2[\"a\x1e" "b\"]", PARLEY_EPROTO, "payload has a raw control byte 0x1e at byte 3");
    expect_error("2[\"a\tb\"]", PARLEY_EPROTO, "raw control byte 0x09");
    expect_error("2[\"a\",\x01" "1]", PARLEY_EPROTO, "raw control byte 0x01 at byte 5");
    decode_ok("2[\t\"a\",\r\n1 ]", &p);
    sio_packet_clear(&p);
    decode_ok("2[\"a\\u001e\\t\"]", &p); /* escaped, they are fine */
    assert_string_equal(p.event, "a\x1e\t");
    sio_packet_clear(&p);
    expect_error("2[\"a\",0x10]", PARLEY_EPROTO, "not valid JSON");
    /* Escaped quotes and brackets inside strings do not confuse the scan. */
    decode_ok("2[\"a\",\"]]]\\\"[[[\\\\\"]", &p);
    sio_packet_clear(&p);
    /* J03: numbers are doubles; one that overflows to infinity is refused,
     * a long one that still fits a double is kept (ids travel as strings). */
    expect_error("2[\"a\",1e999]", PARLEY_EPROTO, "payload number out of range");
    expect_error("2[\"a\",{\"k\":[-1e999]}]", PARLEY_EPROTO, "payload number out of range");
    expect_error("31[1e400]", PARLEY_EPROTO, "out of range");
    expect_error("0{\"n\":1e309}", PARLEY_EPROTO, "out of range");
    s = repeat("2[\"a\",", '1', 100, "]", &n);
    decode_ok(s, &p);
    assert_true(p.data->child->next->valuedouble > 1e99);
    sio_packet_clear(&p);
    free(s);
    decode_ok("2[\"a\",123456789012345678901234567890,-0,1e-999]", &p);
    sio_packet_clear(&p);
}

static void test_s25_s26_json_limits(void **state)
{
    char *s;
    size_t n, k;
    double t0;
    sio_packet p;
    sio_limits lim;

    /* S26: 100 000 × "[" inside an event. */
    s = malloc(200100);
    assert_non_null(s);
    n = (size_t)sprintf(s, "2[\"msg\",");
    memset(s + n, '[', 100000);
    n += 100000;
    memset(s + n, ']', 100000);
    n += 100000;
    s[n++] = ']';
    t0 = now_s();
    expect_error_n(s, n, NULL, PARLEY_ELIMIT, "payload nesting exceeds the depth limit of 32");
    assert_true(now_s() - t0 < 0.05);
    free(s);

    /* Depth exactly 32 (the event array is level 1), then 33. */
    s = malloc(200);
    n = (size_t)sprintf(s, "2[\"msg\",");
    for (k = 0; k < 31; k++)
        s[n++] = '[';
    for (k = 0; k < 31; k++)
        s[n++] = ']';
    s[n++] = ']';
    s[n] = '\0';
    decode_ok(s, &p);
    sio_packet_clear(&p);
    n = (size_t)sprintf(s, "2[\"msg\",");
    for (k = 0; k < 32; k++)
        s[n++] = '[';
    for (k = 0; k < 32; k++)
        s[n++] = ']';
    s[n++] = ']';
    expect_error_n(s, n, NULL, PARLEY_ELIMIT, "depth limit of 32");
    free(s);

    /* S25: an auth object of 100 000 keys hits the value cap at once. */
    s = malloc(1300000);
    n = (size_t)sprintf(s, "0{");
    for (k = 0; k < 100000; k++)
        n += (size_t)sprintf(s + n, "%s\"k%zu\":1", k ? "," : "", k);
    s[n++] = '}';
    t0 = now_s();
    expect_error_n(s, n, NULL, PARLEY_ELIMIT, "payload has more than 10000 values");
    assert_true(now_s() - t0 < 0.05);
    /* 50 levels deep. */
    n = (size_t)sprintf(s, "0{\"token\":");
    for (k = 0; k < 50; k++)
        n += (size_t)sprintf(s + n, "{\"a\":");
    s[n++] = '1';
    for (k = 0; k <= 50; k++)
        s[n++] = '}';
    expect_error_n(s, n, NULL, PARLEY_ELIMIT, "depth limit of 32");
    free(s);

    /* J11: a 500 001-element array, refused in one pass. */
    s = malloc(1000100);
    n = (size_t)sprintf(s, "2[\"a\",");
    for (k = 0; k < 500000; k++) {
        s[n++] = '0';
        s[n++] = ',';
    }
    s[n++] = '0';
    s[n++] = ']';
    t0 = now_s();
    expect_error_n(s, n, NULL, PARLEY_ELIMIT, "more than 10000 values");
    assert_true(now_s() - t0 < 0.05);
    /* The value cap, exactly: 1 (array) + "a" + 9998 zeros = 10000 values. */
    n = (size_t)sprintf(s, "2[\"a\"");
    for (k = 0; k < 9998; k++) {
        s[n++] = ',';
        s[n++] = '0';
    }
    s[n++] = ']';
    s[n] = '\0';
    decode_ok(s, &p);
    assert_int_equal(cJSON_GetArraySize(p.data), 9999);
    sio_packet_clear(&p);
    sio_limits_default(&lim);
    lim.max_json_nodes = 9999;
    expect_error_n(s, n, &lim, PARLEY_ELIMIT, "more than 9999 values");
    free(s);

    /* A configured depth above cJSON's ceiling is clamped, not trusted. */
    lim.max_json_depth = 5000;
    lim.max_json_nodes = 100000;
    s = repeat("2[\"a\",", '[', 1500, "", &n);
    expect_error_n(s, n, &lim, PARLEY_ELIMIT, "depth limit of 1000");
    free(s);
}

static void test_s27_placeholder_in_plain_event(void **state)
{
    sio_packet p;

    decode_ok("2[\"msg\"," PH(0) "]", &p);
    assert_data_json(&p, "[\"msg\"," PH(0) "]");
    sio_packet_clear(&p);
    /* Even malformed ones are just data there. */
    decode_ok("2[\"msg\",{\"_placeholder\":true,\"num\":\"splice\"}]", &p);
    sio_packet_clear(&p);
    decode_ok("31[{\"_placeholder\":true,\"num\":99}]", &p);
    sio_packet_clear(&p);
}

static void test_s28_s30_big_inputs(void **state)
{
    char *s;
    size_t n;
    double t0;
    sio_packet p;

    /* S28: the message-size limit belongs to the chat layer; the codec
     * decodes a 1 MiB string in one pass. */
    s = repeat("2[\"msg\",\"", 'a', 1048576, "\"]", &n);
    t0 = now_s();
    decode_ok(s, &p);
    assert_true(now_s() - t0 < 0.5);
    assert_int_equal(strlen(p.data->child->next->valuestring), 1048576);
    sio_packet_clear(&p);
    free(s);

    /* S30: 4 MiB of v2-style "99999991:4222…" is refused at the first byte. */
    s = repeat("99999991:", '2', 4u << 20, "", &n);
    t0 = now_s();
    expect_error_n(s, n, NULL, PARLEY_EPROTO, "unknown packet type '9'");
    assert_true(now_s() - t0 < 0.05);
    free(s);
}

/* ---- placeholders in binary packets (S01–S03) ---------------------------- */

static void test_placeholder_rules(void **state)
{
    /* S01 */
    expect_error("51-[\"hello\",{\"_placeholder\":true,\"num\":\"splice\"}]", PARLEY_EPROTO,
                 "illegal attachments: placeholder \"num\" is not a number");
    /* S02 */
    expect_error("51-[\"hello\",{\"_placeholder\":true,\"num\":1}]", PARLEY_EPROTO,
                 "placeholder \"num\" 1 is out of range (the packet has 1 attachments)");
    /* S03 */
    expect_error("51-[\"hello\",{\"_placeholder\":true,\"num\":-1}]", PARLEY_EPROTO,
                 "\"num\" -1 is out of range");
    expect_error("51-[\"hello\",{\"_placeholder\":true,\"num\":0.5}]", PARLEY_EPROTO,
                 "\"num\" 0.5 is not an integer");
    expect_error("51-[\"hello\",{\"_placeholder\":true,\"num\":1e309}]", PARLEY_EPROTO,
                 "payload number out of range");
    expect_error("51-[\"hello\",{\"_placeholder\":true,\"num\":\"0\"}]", PARLEY_EPROTO,
                 "is not a number");
    expect_error("51-[\"hello\",{\"_placeholder\":true,\"num\":null}]", PARLEY_EPROTO,
                 "is not a number");
    expect_error("51-[\"hello\",{\"_placeholder\":\"true\",\"num\":0}]", PARLEY_EPROTO,
                 "\"_placeholder\" must be true");
    expect_error("51-[\"hello\",{\"_placeholder\":1,\"num\":0}]", PARLEY_EPROTO, "must be true");
    /* Shape: exactly two members. */
    expect_error("51-[\"hello\",{\"_placeholder\":true}]", PARLEY_EPROTO,
                 "a placeholder must be exactly");
    expect_error("51-[\"hello\",{\"_placeholder\":true,\"num\":0,\"x\":1}]", PARLEY_EPROTO,
                 "a placeholder must be exactly");
    expect_error("51-[\"hello\",{\"_placeholder\":true,\"_placeholder\":true}]", PARLEY_EPROTO,
                 "a placeholder must be exactly");
    /* Every attachment exactly once. */
    expect_error("52-[\"hello\"," PH(0) "," PH(0) "]", PARLEY_EPROTO, "placeholder 0 appears twice");
    expect_error("52-[\"hello\"," PH(1) "]", PARLEY_EPROTO, "attachment 0 has no placeholder");
    expect_error("51-[\"hello\"]", PARLEY_EPROTO, "attachment 0 has no placeholder");
    expect_error("50-[\"hello\"," PH(0) "]", PARLEY_EPROTO, "out of range (the packet has 0");
    /* Nested anywhere, in any key order. */
    {
        sio_packet p;

        decode_ok("52-[\"up\",{\"a\":[1,{\"num\":1,\"_placeholder\":true}]}," PH(0) "]", &p);
        sio_packet_clear(&p);
    }
}

/* ---- the reconstruction state machine ----------------------------------- */

static void test_decoder_binary_event(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    sio_decoder d;
    sio_message m;
    const char *hdr = "52-/admin,[\"baz\"," PH(0) "," PH(1) "]";
    char *copy = strdup(hdr);
    uint8_t b1[] = { 1, 2 }, b2[] = { 3, 4 };

    sio_decoder_init(&d, NULL);
    assert_int_equal(sio_decoder_text(&d, copy, strlen(copy), &m, &err), SIO_PENDING);
    /* The header's buffer can go away before the attachments arrive. */
    memset(copy, 'X', strlen(copy));
    free(copy);
    assert_int_equal(sio_decoder_binary(&d, b1, 2, &m, &err), SIO_PENDING);
    assert_int_equal(sio_decoder_binary(&d, b2, 2, &m, &err), SIO_DECODED);
    assert_int_equal(m.pkt.type, SIO_BINARY_EVENT);
    assert_int_equal(m.pkt.attachments, 2);
    assert_nsp(&m.pkt, "/admin");
    assert_string_equal(m.pkt.event, "baz");
    assert_null(m.pkt.payload);
    assert_non_null(m.att);
    assert_int_equal(m.att[0].len, 2);
    assert_memory_equal(m.att[0].bytes, b1, 2);
    assert_memory_equal(m.att[1].bytes, b2, 2);
    /* att[k].node is the placeholder object for k in the tree. */
    assert_ptr_equal(m.att[0].node, m.pkt.data->child->next);
    assert_ptr_equal(m.att[1].node, m.pkt.data->child->next->next);
    assert_int_equal(cJSON_GetObjectItem(m.att[1].node, "num")->valueint, 1);
    sio_message_clear(&m);

    /* The decoder is idle again: text works, binary does not. */
    assert_int_equal(sio_decoder_text(&d, "2[\"x\"]", 6, &m, &err), SIO_DECODED);
    assert_int_equal(m.pkt.type, SIO_EVENT);
    assert_null(m.att);
    sio_message_clear(&m);
    sio_decoder_reset(&d);
}

static void test_decoder_binary_ack_and_zero(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    sio_decoder d;
    sio_message m;

    sio_decoder_init(&d, NULL);
    assert_int_equal(sio_decoder_text(&d, LIT("61-15[\"bar\"," PH(0) "]"), &m, &err), SIO_PENDING);
    assert_int_equal(sio_decoder_binary(&d, (const uint8_t *)"", 0, &m, &err), SIO_DECODED);
    assert_int_equal(m.pkt.type, SIO_BINARY_ACK);
    assert_int_equal(m.pkt.ack_id, 15);
    assert_nsp(&m.pkt, "/");
    assert_int_equal(m.att[0].len, 0); /* an empty buffer is a valid attachment */
    sio_message_clear(&m);

    /* A binary packet that announces no attachments is complete at once. */
    assert_int_equal(sio_decoder_text(&d, LIT("50-[\"nothing\"]"), &m, &err), SIO_DECODED);
    assert_int_equal(m.pkt.attachments, 0);
    assert_null(m.att);
    sio_message_clear(&m);
    sio_decoder_reset(&d);
}

static void test_decoder_s04_s05(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    sio_decoder d;
    sio_message m;
    const char *hdr = "51-[\"hello\"," PH(0) "]";

    sio_decoder_init(&d, NULL);
    /* S04 / F33: binary with nothing pending. */
    assert_int_equal(sio_decoder_binary(&d, (const uint8_t *)"\x01\x02\x03", 3, &m, &err),
                     PARLEY_EPROTO);
    assert_non_null(strstr(err.message, "got binary data when not reconstructing a packet"));

    /* S05: text while an attachment is pending; the decoder resets. */
    assert_int_equal(sio_decoder_text(&d, hdr, strlen(hdr), &m, &err), SIO_PENDING);
    assert_int_equal(sio_decoder_text(&d, "2[\"hello\"]", 10, &m, &err), PARLEY_EPROTO);
    assert_non_null(strstr(err.message, "got text while reconstructing a binary packet "
                                        "(0 of 1 attachments received)"));
    assert_int_equal(d.reconstructing, 0);
    assert_int_equal(sio_decoder_binary(&d, (const uint8_t *)"x", 1, &m, &err), PARLEY_EPROTO);

    /* S01: a bad header never opens reconstruction. */
    assert_int_equal(sio_decoder_text(&d, LIT("51-[\"hello\",{\"_placeholder\":true,\"num\":\"splice\"}]"),
                                      &m, &err),
                     PARLEY_EPROTO);
    assert_int_equal(sio_decoder_binary(&d, (const uint8_t *)"world", 5, &m, &err), PARLEY_EPROTO);
    assert_non_null(strstr(err.message, "not reconstructing"));

    /* Reset while pending frees everything (LeakSanitizer checks). */
    assert_int_equal(sio_decoder_text(&d, hdr, strlen(hdr), &m, &err), SIO_PENDING);
    sio_decoder_reset(&d);
    assert_int_equal(sio_decoder_text(&d, "1", 1, &m, &err), SIO_DECODED);
    sio_message_clear(&m);
    sio_decoder_reset(&d);
}

static void test_decoder_limits(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    sio_limits lim;
    sio_decoder d;
    sio_message m;
    char hdr[2048];
    size_t n;

    sio_limits_default(&lim);
    lim.max_attachment_bytes = 5;
    sio_decoder_init(&d, &lim);
    n = (size_t)snprintf(hdr, sizeof hdr, "52-[\"f\"," PH(0) "," PH(1) "]");
    assert_int_equal(sio_decoder_text(&d, hdr, n, &m, &err), SIO_PENDING);
    assert_int_equal(sio_decoder_binary(&d, (const uint8_t *)"abc", 3, &m, &err), SIO_PENDING);
    assert_int_equal(sio_decoder_binary(&d, (const uint8_t *)"def", 3, &m, &err), PARLEY_ETOOBIG);
    assert_non_null(strstr(err.message, "attachments exceed the limit of 5 bytes"));
    /* Exactly at the byte cap. */
    assert_int_equal(sio_decoder_text(&d, hdr, n, &m, &err), SIO_PENDING);
    assert_int_equal(sio_decoder_binary(&d, (const uint8_t *)"abc", 3, &m, &err), SIO_PENDING);
    assert_int_equal(sio_decoder_binary(&d, (const uint8_t *)"de", 2, &m, &err), SIO_DECODED);
    sio_message_clear(&m);
    sio_decoder_reset(&d);

    /* A cap above the on-stack slot count (16) works the same. */
    sio_limits_default(&lim);
    lim.max_attachments = 20;
    sio_decoder_init(&d, &lim);
    n = (size_t)snprintf(hdr, sizeof hdr, "520-[\"f\"");
    for (int k = 19; k >= 0; k--)
        n += (size_t)snprintf(hdr + n, sizeof hdr - n, ",{\"_placeholder\":true,\"num\":%d}", k);
    hdr[n++] = ']';
    assert_int_equal(sio_decoder_text(&d, hdr, n, &m, &err), SIO_PENDING);
    for (int k = 0; k < 19; k++)
        assert_int_equal(sio_decoder_binary(&d, (const uint8_t *)&k, sizeof k, &m, &err),
                         SIO_PENDING);
    assert_int_equal(sio_decoder_binary(&d, (const uint8_t *)"z", 1, &m, &err), SIO_DECODED);
    assert_int_equal(m.pkt.attachments, 20);
    /* Placeholders appear in reverse order: node k is still num k. */
    for (int k = 0; k < 20; k++)
        assert_int_equal(cJSON_GetObjectItem(m.att[k].node, "num")->valueint, k);
    sio_message_clear(&m);
    hdr[1] = '2'; /* "522-": over the cap of 20 */
    hdr[2] = '2';
    assert_int_equal(sio_decoder_text(&d, hdr, n, &m, &err), PARLEY_ELIMIT);
    assert_non_null(strstr(err.message, "attachment count 22 exceeds the limit of 20"));
    sio_decoder_reset(&d);
    {
        sio_packet p;

        assert_int_equal(sio_decode(hdr, n, &lim, &p, &err), PARLEY_ELIMIT);
        hdr[1] = '2';
        hdr[2] = '0';
        assert_int_equal(sio_decode(hdr, n, &lim, &p, &err), 0);
        sio_packet_clear(&p);
    }
}

/*
 * How the plugin uses the representation: the echo behaviours the official
 * v5 test suite expects (message -> message-back, message-with-ack -> ack),
 * built from the decoded tree and the placeholder nodes.
 */
static char *reencode(const sio_out *tmpl, cJSON *args, size_t *n)
{
    parley_error err = PARLEY_ERROR_INIT;
    char *json = cJSON_PrintUnformatted(args);
    sio_out o = *tmpl;
    char *buf;

    assert_non_null(json);
    o.json = json;
    o.json_len = strlen(json);
    buf = malloc(sio_encoded_size(&o) + 1);
    assert_non_null(buf);
    assert_int_equal(sio_encode(&o, buf, sio_encoded_size(&o), n, &err), 0);
    buf[*n] = '\0';
    cJSON_free(json);
    return buf;
}

static void test_suite_echo_shapes(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    sio_decoder d;
    sio_message m;
    char *out;
    size_t n;

    sio_decoder_init(&d, NULL);

    /* 42["message",1,"2",{"3":[true]}] -> 42["message-back",1,"2",{"3":[true]}] */
    assert_int_equal(sio_decoder_text(&d, LIT("2[\"message\",1,\"2\",{\"3\":[true]}]"), &m, &err),
                     SIO_DECODED);
    cJSON_SetValuestring(m.pkt.data->child, "message-back");
    out = reencode(&(sio_out){ .type = SIO_EVENT, .eio_message = 1 }, m.pkt.data, &n);
    assert_string_equal(out, "42[\"message-back\",1,\"2\",{\"3\":[true]}]");
    free(out);
    sio_message_clear(&m);

    /* 42456["message-with-ack",1,"2",{"3":[false]}] -> 43456[1,"2",{"3":[false]}] */
    assert_int_equal(sio_decoder_text(&d, LIT("2456[\"message-with-ack\",1,\"2\",{\"3\":[false]}]"),
                                      &m, &err),
                     SIO_DECODED);
    assert_int_equal(m.pkt.ack_id, 456);
    cJSON_DeleteItemFromArray(m.pkt.data, 0);
    out = reencode(&(sio_out){ .type = SIO_ACK, .has_ack = 1, .ack_id = m.pkt.ack_id,
                               .eio_message = 1 },
                   m.pkt.data, &n);
    assert_string_equal(out, "43456[1,\"2\",{\"3\":[false]}]");
    free(out);
    sio_message_clear(&m);

    /* 452-["message",ph0,ph1] + 2 buffers -> 452-["message-back",ph0,ph1] */
    assert_int_equal(sio_decoder_text(&d, LIT("52-[\"message\"," PH(0) "," PH(1) "]"), &m, &err),
                     SIO_PENDING);
    assert_int_equal(sio_decoder_binary(&d, (const uint8_t *)"\x01\x02\x03", 3, &m, &err),
                     SIO_PENDING);
    assert_int_equal(sio_decoder_binary(&d, (const uint8_t *)"\x04\x05\x06", 3, &m, &err),
                     SIO_DECODED);
    cJSON_SetValuestring(m.pkt.data->child, "message-back");
    out = reencode(&(sio_out){ .type = SIO_BINARY_EVENT, .attachments = m.pkt.attachments,
                               .eio_message = 1 },
                   m.pkt.data, &n);
    assert_string_equal(out, "452-[\"message-back\"," PH(0) "," PH(1) "]");
    assert_memory_equal(m.att[1].bytes, "\x04\x05\x06", 3);
    free(out);
    sio_message_clear(&m);

    /* 452-789["message-with-ack",ph0,ph1] -> 462-789[ph0,ph1] */
    assert_int_equal(sio_decoder_text(&d, LIT("52-789[\"message-with-ack\"," PH(0) "," PH(1) "]"),
                                      &m, &err),
                     SIO_PENDING);
    assert_int_equal(sio_decoder_binary(&d, (const uint8_t *)"\x01\x02\x03", 3, &m, &err),
                     SIO_PENDING);
    assert_int_equal(sio_decoder_binary(&d, (const uint8_t *)"\x04\x05\x06", 3, &m, &err),
                     SIO_DECODED);
    cJSON_DeleteItemFromArray(m.pkt.data, 0);
    /* The placeholder nodes survive the edit. */
    assert_ptr_equal(m.att[0].node, m.pkt.data->child);
    out = reencode(&(sio_out){ .type = SIO_BINARY_ACK, .attachments = m.pkt.attachments,
                               .has_ack = 1, .ack_id = m.pkt.ack_id, .eio_message = 1 },
                   m.pkt.data, &n);
    assert_string_equal(out, "462-789[" PH(0) "," PH(1) "]");
    free(out);
    sio_message_clear(&m);

    /* 40{"token":"123"} -> 42["auth",{"token":"123"}] */
    assert_int_equal(sio_decoder_text(&d, LIT("0{\"token\":\"123\"}"), &m, &err), SIO_DECODED);
    {
        cJSON *args = cJSON_CreateArray();

        cJSON_AddItemToArray(args, cJSON_CreateString("auth"));
        cJSON_AddItemToArray(args, cJSON_Duplicate(m.pkt.data, 1));
        out = reencode(&(sio_out){ .type = SIO_EVENT, .eio_message = 1 }, args, &n);
        assert_string_equal(out, "42[\"auth\",{\"token\":\"123\"}]");
        free(out);
        cJSON_Delete(args);
    }
    sio_message_clear(&m);
    sio_decoder_reset(&d);
}

/* ---- handler arguments -------------------------------------------------- */

static void expect_args(const char *pkt, const char *want)
{
    sio_packet p;
    size_t n = 0;
    char *s, *before, *after;

    decode_ok(pkt, &p);
    before = cJSON_PrintUnformatted(p.data);
    s = sio_args_json(&p, &n);
    assert_non_null(s);
    assert_string_equal(s, want);
    assert_int_equal(n, strlen(want));
    after = cJSON_PrintUnformatted(p.data);
    if (before || after)
        assert_string_equal(before, after); /* the tree is left as it was */
    cJSON_free(s);
    cJSON_free(before);
    cJSON_free(after);
    sio_packet_clear(&p);
}

static void test_args_json(void **state)
{
    sio_packet p;

    expect_args("2[\"message\",1,\"2\",{\"3\":[true]}]", "[1,\"2\",{\"3\":[true]}]");
    expect_args("2[\"alone\"]", "[]");
    expect_args("52-[\"up\"," PH(1) ",\"x\"," PH(0) "]", "[" PH(1) ",\"x\"," PH(0) "]");
    expect_args("3456[1,\"2\"]", "[1,\"2\"]");
    expect_args("31[]", "[]");
    expect_args("61-2[" PH(0) "]", "[" PH(0) "]");
    expect_args("0{\"token\":\"123\"}", "[{\"token\":\"123\"}]");
    expect_args("0/custom,", "[]");
    decode_ok("1", &p);
    assert_null(sio_args_json(&p, NULL));
    sio_packet_clear(&p);
    assert_null(sio_args_json(NULL, NULL));
}

static void expect_event_payload(const char *event, size_t elen, const char *args,
                                 const char *want)
{
    parley_error err = PARLEY_ERROR_INIT;
    char buf[256];
    size_t n = 0, size = sio_event_payload_size(event, elen, args, strlen(args));
    int rc = sio_event_payload(event, elen, args, strlen(args), buf, sizeof buf, &n, &err);
    sio_packet p;

    if (rc != 0)
        fail_msg("event payload: rc %d: %s", rc, err.message);
    assert_int_equal(n, strlen(want));
    assert_int_equal(size, n);
    assert_memory_equal(buf, want, n);
    assert_int_equal(sio_event_payload(event, elen, args, strlen(args), buf, size, &n, &err), 0);
    assert_int_equal(sio_event_payload(event, elen, args, strlen(args), buf, size - 1, &n, &err),
                     PARLEY_ETOOBIG);
    /* It decodes back to the same name (through the packet decoder). */
    {
        char pkt[260];

        pkt[0] = '2';
        memcpy(pkt + 1, want, strlen(want));
        assert_int_equal(sio_decode(pkt, strlen(want) + 1, NULL, &p, &err), 0);
        assert_int_equal(p.event_len, elen);
        assert_memory_equal(p.event, event, elen);
        sio_packet_clear(&p);
    }
}

static void test_event_payload(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    char buf[64];
    size_t n;

    expect_event_payload("message-back", 12, "[1,\"2\",{\"3\":[true]}]",
                         "[\"message-back\",1,\"2\",{\"3\":[true]}]");
    expect_event_payload("auth", 4, " [ {\"token\":\"123\"} ] ",
                         "[\"auth\",{\"token\":\"123\"}]");
    expect_event_payload("ping", 4, "[]", "[\"ping\"]");
    expect_event_payload("ping", 4, "[  ]", "[\"ping\"]");
    expect_event_payload("a\"b\\c\n\x01", 7, "[1]", "[\"a\\\"b\\\\c\\n\\u0001\",1]");
    expect_event_payload("caf\xC3\xA9", 5, "[1]", "[\"caf\xC3\xA9\",1]");

    assert_int_equal(sio_event_payload("connect", 7, "[]", 2, buf, sizeof buf, &n, &err),
                     PARLEY_EINVAL);
    assert_non_null(strstr(err.message, "\"connect\" is a reserved event name"));
    assert_int_equal(sio_event_payload("newListener", 11, "[]", 2, buf, sizeof buf, &n, &err),
                     PARLEY_EINVAL);
    assert_int_equal(sio_event_payload("connectx", 8, "[]", 2, buf, sizeof buf, &n, &err), 0);
    assert_int_equal(sio_event_payload("x", 1, "{}", 2, buf, sizeof buf, &n, &err),
                     PARLEY_EINVAL);
    assert_non_null(strstr(err.message, "event arguments must be a JSON array"));
    assert_int_equal(sio_event_payload("x", 1, "[", 1, buf, sizeof buf, &n, &err), PARLEY_EINVAL);
    assert_int_equal(sio_event_payload("x", 1, NULL, 0, buf, sizeof buf, &n, &err), PARLEY_EINVAL);
    assert_int_equal(sio_event_payload_size("x", 1, "nope", 4), 0);
}

/* ---- encoding ----------------------------------------------------------- */

static void expect_encode(const sio_out *o, const char *want)
{
    parley_error err = PARLEY_ERROR_INIT;
    char buf[256];
    size_t n = 0, size = sio_encoded_size(o);
    int rc = sio_encode(o, buf, sizeof buf, &n, &err);

    if (rc != 0)
        fail_msg("encode \"%s\": rc %d: %s", want, rc, err.message);
    assert_int_equal(n, strlen(want));
    assert_int_equal(size, n);
    assert_memory_equal(buf, want, n);
    /* An exact buffer is enough, one byte less is not. */
    assert_int_equal(sio_encode(o, buf, size, &n, &err), 0);
    assert_int_equal(sio_encode(o, buf, size - 1, &n, &err), PARLEY_ETOOBIG);
    assert_non_null(strstr(err.message, "encoding needs"));
}

static void test_encode_examples(void **state)
{
    const char *msg = "[\"message-received\",{\"id\":\"1\",\"content\":\"hi\"}]";
    char ph[SIO_PLACEHOLDER_MAX], json[128];

    expect_encode(&(sio_out){ .type = SIO_EVENT, .json = msg, .json_len = strlen(msg),
                              .eio_message = 1 },
                  "42[\"message-received\",{\"id\":\"1\",\"content\":\"hi\"}]");
    expect_encode(&(sio_out){ .type = SIO_CONNECT, .eio_message = 1 }, "40");
    expect_encode(&(sio_out){ .type = SIO_CONNECT, .nsp = "/admin", .nsp_len = 6,
                              .json = "{\"sid\":\"oSO0\"}", .json_len = 14 },
                  "0/admin,{\"sid\":\"oSO0\"}");
    expect_encode(&(sio_out){ .type = SIO_CONNECT, .nsp = "/", .nsp_len = 1,
                              .json = "{\"sid\":\"x\"}", .json_len = 11 },
                  "0{\"sid\":\"x\"}");
    /* S19's answer. */
    expect_encode(&(sio_out){ .type = SIO_CONNECT_ERROR, .nsp = "/random", .nsp_len = 7,
                              .json = "{\"message\":\"Invalid namespace\"}", .json_len = 31,
                              .eio_message = 1 },
                  "44/random,{\"message\":\"Invalid namespace\"}");
    expect_encode(&(sio_out){ .type = SIO_DISCONNECT, .nsp = "/admin", .nsp_len = 6 },
                  "1/admin,");
    expect_encode(&(sio_out){ .type = SIO_DISCONNECT }, "1");
    expect_encode(&(sio_out){ .type = SIO_EVENT, .has_ack = 1, .ack_id = 12, .json = "[\"foo\"]",
                              .json_len = 7 },
                  "212[\"foo\"]");
    expect_encode(&(sio_out){ .type = SIO_ACK, .nsp = "/admin", .nsp_len = 6, .has_ack = 1,
                              .ack_id = 13, .json = "[\"bar\"]", .json_len = 7 },
                  "3/admin,13[\"bar\"]");
    expect_encode(&(sio_out){ .type = SIO_ACK, .has_ack = 1, .ack_id = UINT32_MAX, .json = "[]",
                              .json_len = 2, .eio_message = 1 },
                  "434294967295[]");

    assert_int_equal(sio_placeholder_write(0, ph, sizeof ph), 29);
    assert_string_equal(ph, PH(0));
    snprintf(json, sizeof json, "[\"baz\",%s]", ph);
    expect_encode(&(sio_out){ .type = SIO_BINARY_EVENT, .attachments = 1, .json = json,
                              .json_len = strlen(json) },
                  "51-[\"baz\"," PH(0) "]");
    expect_encode(&(sio_out){ .type = SIO_BINARY_ACK, .attachments = 1, .nsp = "/admin",
                              .nsp_len = 6, .has_ack = 1, .ack_id = 1, .json = "[" PH(0) "]",
                              .json_len = strlen("[" PH(0) "]"), .eio_message = 1 },
                  "461-/admin,1[" PH(0) "]");
    assert_int_equal(sio_placeholder_write(UINT32_MAX, ph, sizeof ph), 38);
    assert_int_equal(sio_placeholder_write(1, ph, 10), PARLEY_ETOOBIG);
    {
        cJSON *o = sio_placeholder_new(3);
        char *s = cJSON_PrintUnformatted(o);

        assert_string_equal(s, PH(3));
        cJSON_free(s);
        cJSON_Delete(o);
    }
}

static void expect_encode_error(const sio_out *o, const char *needle)
{
    parley_error err = PARLEY_ERROR_INIT;
    char buf[128];
    size_t n;
    int rc = sio_encode(o, buf, sizeof buf, &n, &err);

    if (rc != PARLEY_EINVAL || strstr(err.message, needle) == NULL)
        fail_msg("encode: rc %d \"%s\" (want EINVAL, \"%s\")", rc, err.message, needle);
}

static void test_encode_refusals(void **state)
{
    expect_encode_error(&(sio_out){ .type = SIO_ACK, .json = "[]", .json_len = 2 },
                        "ACK needs an ack id");
    expect_encode_error(&(sio_out){ .type = SIO_DISCONNECT, .json = "{}", .json_len = 2 },
                        "DISCONNECT carries no payload");
    expect_encode_error(&(sio_out){ .type = SIO_EVENT, .json = "{}", .json_len = 2 },
                        "the EVENT payload must be an array");
    expect_encode_error(&(sio_out){ .type = SIO_EVENT }, "must be an array");
    expect_encode_error(&(sio_out){ .type = SIO_CONNECT, .json = "[]", .json_len = 2 },
                        "the CONNECT payload must be an object");
    expect_encode_error(&(sio_out){ .type = SIO_CONNECT_ERROR }, "CONNECT_ERROR payload");
    expect_encode_error(&(sio_out){ .type = SIO_EVENT, .nsp = "admin", .nsp_len = 5,
                                    .json = "[\"a\"]", .json_len = 5 },
                        "a namespace must start with '/'");
    expect_encode_error(&(sio_out){ .type = SIO_EVENT, .nsp = "/a,b", .nsp_len = 4,
                                    .json = "[\"a\"]", .json_len = 5 },
                        "contain no ','");
    expect_encode_error(&(sio_out){ .type = SIO_EVENT, .attachments = 1, .json = "[\"a\"]",
                                    .json_len = 5 },
                        "EVENT cannot carry attachments");
    expect_encode_error(&(sio_out){ .type = SIO_CONNECT, .has_ack = 1 },
                        "CONNECT cannot carry an ack id");
    expect_encode_error(&(sio_out){ .type = 7 }, "cannot encode packet type 7");
}

static void test_round_trip(void **state)
{
    static const struct {
        int type;
        const char *nsp;
        int has_ack;
        uint32_t ack;
        uint32_t att;
        const char *json;
    } cases[] = {
        { SIO_CONNECT, NULL, 0, 0, 0, NULL },
        { SIO_CONNECT, "/custom", 0, 0, 0, "{\"token\":\"123\"}" },
        { SIO_DISCONNECT, "/custom", 0, 0, 0, NULL },
        { SIO_EVENT, NULL, 0, 0, 0, "[\"send-message\",{\"content\":\"hi\"}]" },
        { SIO_EVENT, "/a", 1, 0, 0, "[\"x\",1,2.5,null,true,{\"k\":[]}]" },
        { SIO_EVENT, NULL, 1, 4294967295u, 0, "[\"x\"]" },
        { SIO_ACK, NULL, 1, 7, 0, "[]" },
        { SIO_ACK, "/chat", 1, 123456, 0, "[{\"ok\":true,\"id\":\"42\"}]" },
        { SIO_BINARY_EVENT, "/b", 1, 9, 2, "[\"up\"," PH(1) "," PH(0) "]" },
        { SIO_BINARY_ACK, NULL, 1, 3, 1, "[" PH(0) "]" },
    };
    parley_error err = PARLEY_ERROR_INIT;
    char buf[256];

    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        sio_out o = { .type = cases[k].type, .nsp = cases[k].nsp,
                      .nsp_len = cases[k].nsp ? strlen(cases[k].nsp) : 0,
                      .has_ack = cases[k].has_ack, .ack_id = cases[k].ack,
                      .attachments = cases[k].att, .json = cases[k].json,
                      .json_len = cases[k].json ? strlen(cases[k].json) : 0, .eio_message = 1 };
        size_t n;
        sio_packet p;

        assert_int_equal(sio_encode(&o, buf, sizeof buf, &n, &err), 0);
        assert_int_equal(buf[0], '4');
        if (sio_decode(buf + 1, n - 1, NULL, &p, &err) != 0)
            fail_msg("case %zu: %.*s: %s", k, (int)n, buf, err.message);
        assert_int_equal(p.type, o.type);
        assert_nsp(&p, o.nsp ? o.nsp : "/");
        assert_int_equal(p.has_ack, o.has_ack);
        assert_int_equal(p.ack_id, o.ack_id);
        assert_int_equal(p.attachments, o.attachments);
        if (o.json) {
            assert_int_equal(p.payload_len, o.json_len);
            assert_memory_equal(p.payload, o.json, o.json_len);
            assert_non_null(p.data);
        } else {
            assert_null(p.data);
        }
        sio_packet_clear(&p);
    }
}

static void test_header_only(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    sio_packet p;

    /* No JSON parsed, nothing allocated: a broken payload still parses. */
    assert_int_equal(sio_parse_header("2/chat,5[broken", 15, NULL, &p, &err), 0);
    assert_int_equal(p.type, SIO_EVENT);
    assert_nsp(&p, "/chat");
    assert_int_equal(p.ack_id, 5);
    assert_int_equal(p.payload_len, 7);
    assert_memory_equal(p.payload, "[broken", 7);
    assert_null(p.data);
    assert_int_equal(sio_parse_header(NULL, 2, NULL, &p, &err), PARLEY_EINVAL);
    sio_packet_clear(NULL);
    sio_message_clear(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_connect),
        cmocka_unit_test(test_spec_event_ack_disconnect),
        cmocka_unit_test(test_spec_binary_headers),
        cmocka_unit_test(test_connect_error_from_client),
        cmocka_unit_test(test_s06_attachment_cap),
        cmocka_unit_test(test_s07_illegal_attachments),
        cmocka_unit_test(test_s08_unknown_type),
        cmocka_unit_test(test_s22_namespace),
        cmocka_unit_test(test_s23_ack_ids),
        cmocka_unit_test(test_s09_s10_event_payloads),
        cmocka_unit_test(test_numeric_event_names),
        cmocka_unit_test(test_s11_s13_event_names),
        cmocka_unit_test(test_s14_s18_shapes),
        cmocka_unit_test(test_json_hygiene),
        cmocka_unit_test(test_s25_s26_json_limits),
        cmocka_unit_test(test_s27_placeholder_in_plain_event),
        cmocka_unit_test(test_s28_s30_big_inputs),
        cmocka_unit_test(test_placeholder_rules),
        cmocka_unit_test(test_decoder_binary_event),
        cmocka_unit_test(test_decoder_binary_ack_and_zero),
        cmocka_unit_test(test_decoder_s04_s05),
        cmocka_unit_test(test_decoder_limits),
        cmocka_unit_test(test_suite_echo_shapes),
        cmocka_unit_test(test_args_json),
        cmocka_unit_test(test_event_payload),
        cmocka_unit_test(test_encode_examples),
        cmocka_unit_test(test_encode_refusals),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_header_only),
    };

    return cmocka_run_group_tests_name("sio_codec", tests, NULL, NULL);
}
