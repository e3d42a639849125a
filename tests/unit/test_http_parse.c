/*
 * host/http_parse.c: request heads (every refusal with its status), the
 * incremental head end, field lookups, and the chunked decoder split at
 * every byte. The bad-inputs IDs (G.., W..) name the corpus entries a
 * case stands for.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_parse.h"

#define MAX_TARGET 8192

static struct parley__http_head head;
static struct parley__http_refusal refusal;

/* Parse a head given as a C string: 0, or the refusal's status. The head
 * is copied into an exact-size block so ASan sees any read past it. */
static int parse_n(const char *s, size_t n, size_t max_target)
{
    static char *copy;
    int rc;

    free(copy);
    copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, s, n);
    rc = parley__http_parse_head(copy, n, max_target, &head, &refusal);
    if (rc == 0)
        return 0;
    assert_int_equal(rc, -1);
    assert_non_null(memchr(refusal.message, '\0', sizeof refusal.message));
    assert_true(refusal.message[0] != '\0');
    assert_null(strchr(refusal.message, '"'));
    assert_null(strchr(refusal.message, '\\'));
    return refusal.status;
}

static int parse(const char *s)
{
    return parse_n(s, strlen(s), MAX_TARGET);
}

/* The status, and a word the message must hold. */
#define REFUSED(s, status, word)                                  \
    do {                                                          \
        assert_int_equal(parse(s), status);                       \
        if (strstr(refusal.message, word) == NULL)                \
            fail_msg("message '%s' lacks '%s'", refusal.message, word); \
    } while (0)

#define H11 " HTTP/1.1\r\nHost: t\r\n"

/* ---- happy paths -------------------------------------------------------- */

static void get_with_query(void **state)
{
    const char *s = "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: t\r\n"
                    "Accept:  */*  \r\n\r\n";

    (void)state;
    assert_int_equal(parse(s), 0);
    assert_string_equal(head.method, "GET");
    assert_int_equal(head.version, 11);
    assert_int_equal(head.head_len, strlen(s));
    assert_int_equal(head.path_len, strlen("/socket.io/"));
    assert_memory_equal(s + head.path_off, "/socket.io/", head.path_len);
    assert_int_equal(head.query_len, strlen("EIO=4&transport=polling"));
    assert_memory_equal(s + head.query_off, "EIO=4&transport=polling", head.query_len);
    assert_int_equal(head.n_fields, 2);
    assert_memory_equal(s + head.fields[1].name_off, "Accept", 6);
    assert_int_equal(head.fields[1].value_len, 3);      /* OWS trimmed */
    assert_memory_equal(s + head.fields[1].value_off, "*/*", 3);
    assert_true(head.has_host);
    assert_true(head.keep_alive);
    assert_false(head.has_content_length);
    assert_false(head.chunked);
    assert_false(head.expect_continue);
    assert_false(head.connection_upgrade);
}

static void empty_query_and_no_query(void **state)
{
    (void)state;
    assert_int_equal(parse("GET /a?" H11 "\r\n"), 0);
    assert_int_equal(head.path_len, 2);
    assert_int_equal(head.query_len, 0);
    assert_int_equal(parse("GET /a?b?c=/d" H11 "\r\n"), 0);
    assert_int_equal(head.path_len, 2);
    assert_int_equal(head.query_len, 6);                /* "b?c=/d": later '?' kept */
    assert_int_equal(parse("GET /" H11 "\r\n"), 0);
    assert_int_equal(head.path_len, 1);
    assert_int_equal(head.query_len, 0);
    /* Escapes are left for the listener to decode. */
    assert_int_equal(parse("GET /%2e%2E/x?%C0%AF%00" H11 "\r\n"), 0);  /* G11 */
    assert_int_equal(head.path_len, strlen("/%2e%2E/x"));
    /* ... except a NUL in the path, which would cut it short for C. */
    REFUSED("GET /a%00b" H11 "\r\n", 400, "%00");
    assert_int_equal(parse("GET //x" H11 "\r\n"), 0);
    assert_int_equal(head.path_len, 3);
}

static void post_with_content_length(void **state)
{
    const char *s = "POST /r HTTP/1.1\r\nHost: t\r\ncontent-length: 012\r\n\r\nbody";

    (void)state;
    assert_int_equal(parse(s), 0);
    assert_true(head.has_content_length);
    assert_int_equal(head.content_length, 12);
    assert_int_equal(head.head_len, strlen(s) - 4);     /* the body is not the head */
    assert_int_equal(parse("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 9007199254740992\r\n\r\n"), 0);
    assert_int_equal(head.content_length, UINT64_C(9007199254740992));
    /* Well-formed but huge: accepted here, the listener answers 413 (H12). */
    assert_int_equal(parse("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 9223372036854775807\r\n\r\n"), 0);
    assert_int_equal(head.content_length, UINT64_C(9223372036854775807));
    assert_int_equal(parse("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"), 0);
    assert_true(head.has_content_length);
    assert_int_equal(head.content_length, 0);
}

static void absolute_form(void **state)                 /* G11 */
{
    const char *s = "GET http://evil/socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: t\r\n\r\n";

    (void)state;
    assert_int_equal(parse(s), 0);
    assert_memory_equal(s + head.path_off, "/socket.io/", head.path_len);
    assert_int_equal(head.path_len, strlen("/socket.io/"));
    assert_memory_equal(s + head.query_off, "EIO=4&transport=polling", head.query_len);
    assert_int_equal(parse("GET HTTPS://[::1]:8080/x HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    assert_int_equal(head.path_len, 2);
    REFUSED("GET http://h HTTP/1.1\r\nHost: t\r\n\r\n", 400, "path");
    REFUSED("GET http://h?q HTTP/1.1\r\nHost: t\r\n\r\n", 400, "authority");
    REFUSED("GET http:///p HTTP/1.1\r\nHost: t\r\n\r\n", 400, "authority");
    REFUSED("GET http://u:p@h/ HTTP/1.1\r\nHost: t\r\n\r\n", 400, "userinfo");
    REFUSED("GET ftp://h/ HTTP/1.1\r\nHost: t\r\n\r\n", 400, "form");
    REFUSED("GET h/x HTTP/1.1\r\nHost: t\r\n\r\n", 400, "form");
    REFUSED("GET http://h/a b HTTP/1.1\r\nHost: t\r\n\r\n", 400, "version");
}

static void options_asterisk(void **state)             /* G12 */
{
    const char *s = "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n";

    (void)state;
    assert_int_equal(parse(s), 0);
    assert_string_equal(head.method, "OPTIONS");
    assert_int_equal(head.path_len, 1);
    assert_int_equal(s[head.path_off], '*');
    assert_int_equal(head.query_len, 0);
    REFUSED("GET * HTTP/1.1\r\nHost: t\r\n\r\n", 400, "OPTIONS");
    REFUSED("OPTIONS *x HTTP/1.1\r\nHost: t\r\n\r\n", 400, "form");
}

static void keep_alive_rules(void **state)
{
    (void)state;
    assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n"), 0);
    assert_int_equal(head.version, 10);
    assert_false(head.has_host);
    assert_false(head.keep_alive);
    assert_int_equal(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), 0);
    assert_true(head.keep_alive);
    assert_int_equal(parse("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"), 0);
    assert_false(head.keep_alive);
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: t\r\nConnection: foo\r\nConnection: CLOSE\r\n\r\n"), 0);
    assert_false(head.keep_alive);
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: t\r\nConnection: closed\r\n\r\n"), 0);
    assert_true(head.keep_alive);
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: t\r\nConnection: keep-alive, Upgrade\r\n\r\n"), 0); /* W07 */
    assert_true(head.keep_alive);
    assert_true(head.connection_upgrade);
}

static void leading_empty_lines(void **state)
{
    const char *s = "\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n";
    size_t scanned = 0;

    (void)state;
    assert_int_equal(parse(s), 0);
    assert_int_equal(head.head_len, strlen(s));
    assert_int_equal(head.path_off, 8);
    assert_int_equal(parley__http_head_end(s, strlen(s), &scanned), strlen(s));
    REFUSED("\nGET / HTTP/1.1\r\nHost: t\r\n\r\n", 400, "LF");
}

static void repeated_fields_joined(void **state)
{
    const char *s = "GET / HTTP/1.1\r\nHost: t\r\nX-A: 1\r\nx-b: q\r\nX-a:   two words \r\nX-A:\r\n\r\n";
    char out[64];

    (void)state;
    assert_int_equal(parse(s), 0);
    assert_int_equal(head.n_fields, 5);
    assert_int_equal(parley__http_field_get(s, &head, "x-a", out, sizeof out), 14);
    assert_string_equal(out, "1, two words, ");
    assert_int_equal(parley__http_field_get(s, &head, "X-B", out, sizeof out), 1);
    assert_string_equal(out, "q");
    assert_int_equal(parley__http_field_get(s, &head, "X-C", out, sizeof out), -1);
    assert_int_equal(parley__http_field_get(s, &head, "X-A", out, 14), -2);   /* no room for NUL */
    assert_int_equal(parley__http_field_get(s, &head, "X-A", out, 15), 14);
    assert_int_equal(parley__http_field_get(s, &head, "X-B", out, 0), -2);
    assert_int_equal(parley__http_field_get(s, &head, "X", out, sizeof out), -1);
}

static void token_lists(void **state)
{
    const char *s = "GET / HTTP/1.1\r\nHost: t\r\nUpgrade: h2c ,\tWebSocket , \r\n"
                    "Upgrade: ,,foo\r\nVary: a b\r\n\r\n";

    (void)state;
    assert_int_equal(parse(s), 0);
    assert_int_equal(parley__http_field_has_token(s, &head, "upgrade", "websocket"), 1);
    assert_int_equal(parley__http_field_has_token(s, &head, "Upgrade", "h2c"), 1);
    assert_int_equal(parley__http_field_has_token(s, &head, "Upgrade", "foo"), 1);
    assert_int_equal(parley__http_field_has_token(s, &head, "Upgrade", "web"), 0);
    assert_int_equal(parley__http_field_has_token(s, &head, "Upgrade", "websocket "), 0);
    assert_int_equal(parley__http_field_has_token(s, &head, "Vary", "a"), 0);
    assert_int_equal(parley__http_field_has_token(s, &head, "Vary", "a b"), 1);
    assert_int_equal(parley__http_field_has_token(s, &head, "Nope", "a"), 0);
}

static void expect_flag(void **state)                  /* G17 */
{
    (void)state;
    assert_int_equal(parse("POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-Continue\r\n"
                           "Content-Length: 10000000000\r\n\r\n"), 0);
    assert_true(head.expect_continue);
    assert_int_equal(head.content_length, UINT64_C(10000000000));
    assert_int_equal(parse("POST / HTTP/1.1\r\nHost: t\r\nExpect: 200-ok\r\n\r\n"), 0);
    assert_false(head.expect_continue);
}

static void chunked_framing(void **state)
{
    (void)state;
    assert_int_equal(parse("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: Chunked\r\n\r\n"), 0);
    assert_true(head.chunked);
    assert_false(head.has_content_length);
    assert_int_equal(parse("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: ,chunked,\r\n\r\n"), 0);
    assert_true(head.chunked);
}

/* ---- refusals ----------------------------------------------------------- */

static void request_line_refusals(void **state)
{
    (void)state;
    REFUSED("GET /\r\n\r\n", 400, "version");                          /* G15 */
    REFUSED("GET\r\n\r\n", 400, "request line");
    REFUSED("\r\n\r\n", 400, "head");
    REFUSED("GET  / HTTP/1.1\r\nHost: t\r\n\r\n", 400, "HTTP version");
    REFUSED("GET / HTTP/1.1 \r\nHost: t\r\n\r\n", 400, "version");
    REFUSED(" GET / HTTP/1.1\r\nHost: t\r\n\r\n", 400, "method");
    REFUSED("GET\t/ HTTP/1.1\r\nHost: t\r\n\r\n", 400, "tab");
    REFUSED("G(T / HTTP/1.1\r\nHost: t\r\n\r\n", 400, "token");
    REFUSED("G\xc3\xa9T / HTTP/1.1\r\nHost: t\r\n\r\n", 400, "token");
    REFUSED("ABCDEFGHIJKLMNOP / HTTP/1.1\r\nHost: t\r\n\r\n", 501, "method");
    assert_int_equal(parse("ABCDEFGHIJKLMNO / HTTP/1.1\r\nHost: t\r\n\r\n"), 0);  /* 15 */
    assert_string_equal(head.method, "ABCDEFGHIJKLMNO");
    REFUSED("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405, "CONNECT"); /* W17 */
    assert_int_equal(parse("connect / HTTP/1.1\r\nHost: t\r\n\r\n"), 0);  /* methods are case-sensitive */
    REFUSED("GET / http/1.1\r\nHost: t\r\n\r\n", 400, "version");
    REFUSED("GET / HTTP/1.10\r\nHost: t\r\n\r\n", 400, "version");
    REFUSED("GET / HTTP/11\r\nHost: t\r\n\r\n", 400, "version");
    REFUSED("GET / HTTP/x.1\r\nHost: t\r\n\r\n", 400, "version");
    REFUSED("GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505, "version");
    REFUSED("GET / HTTP/1.2\r\nHost: t\r\n\r\n", 505, "version");
    REFUSED("GET / HTTP/0.9\r\n\r\n", 505, "version");
    REFUSED("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "version");      /* G13 */
}

static void target_refusals(void **state)
{
    static const char bad[] = " \"<>\\^`{|}#\x7f\x80\xff";

    (void)state;
    REFUSED("GET /% HTTP/1.1\r\nHost: t\r\n\r\n", 400, "percent");   /* G11 */
    REFUSED("GET /%z HTTP/1.1\r\nHost: t\r\n\r\n", 400, "percent");
    REFUSED("GET /%zz HTTP/1.1\r\nHost: t\r\n\r\n", 400, "percent");
    REFUSED("GET /?a=%4 HTTP/1.1\r\nHost: t\r\n\r\n", 400, "percent");
    for (size_t i = 0; i < sizeof bad - 1; i++) {
        char s[64];

        if (bad[i] == ' ')
            continue;   /* a space splits the line: "version" */
        snprintf(s, sizeof s, "GET /a%cb?c HTTP/1.1\r\nHost: t\r\n\r\n", bad[i]);
        if (bad[i] == 0x7f) {
            REFUSED(s, 400, "control");
            continue;
        }
        REFUSED(s, 400, "target");
        snprintf(s, sizeof s, "GET /a?b%c HTTP/1.1\r\nHost: t\r\n\r\n", bad[i]);
        REFUSED(s, 400, "target");
    }
    REFUSED("GET /a b HTTP/1.1\r\nHost: t\r\n\r\n", 400, "version");
}

static void request_line_too_long(void **state)        /* G01 */
{
    const char *s = "GET /abcdef HTTP/1.1\r\nHost: t\r\n\r\n";

    (void)state;
    assert_int_equal(parse_n(s, strlen(s), 20), 0);     /* exactly 20 bytes */
    assert_int_equal(parse_n(s, strlen(s), 19), 414);
}

static void field_refusals(void **state)              /* G09 */
{
    (void)state;
    assert_int_equal(parse_n("GET / HTTP/1.1\r\nHost: t\r\nX: a\0b\r\n\r\n", 35, MAX_TARGET), 400);
    assert_non_null(strstr(refusal.message, "control"));
    REFUSED("GET / HTTP/1.1\nHost: t\n\n", 400, "LF");
    REFUSED("GET / HTTP/1.1\r\nHost: t\nX: y\r\n\r\n", 400, "LF");
    REFUSED("GET / HTTP/1.1\r\nHost: t\r\n\n", 400, "LF");
    REFUSED("GET / HTTP/1.1\r\nHost: t\rX: y\r\n\r\n", 400, "CR");
    REFUSED("GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n", 400, "CR");
    REFUSED("GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", 400, "folding");
    REFUSED("GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n\tb\r\n\r\n", 400, "folding");
    REFUSED("GET / HTTP/1.1\r\n Host: t\r\n\r\n", 400, "folding");
    REFUSED("GET / HTTP/1.1\r\nHost: t\r\nNoColon\r\n\r\n", 400, "colon");
    REFUSED("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "whitespace");
    REFUSED("GET / HTTP/1.1\r\nHost\t: x\r\n\r\n", 400, "whitespace");
    REFUSED("GET / HTTP/1.1\r\nHost: t\r\n: x\r\n\r\n", 400, "empty");
    REFUSED("GET / HTTP/1.1\r\nHost: t\r\nX(y): x\r\n\r\n", 400, "token");
    REFUSED("GET / HTTP/1.1\r\nHost: t\r\nX\xc3\xa9: x\r\n\r\n", 400, "token");
    REFUSED("GET / HTTP/1.1\r\nHost: t\r\nX: \x01\r\n\r\n", 400, "control");
    REFUSED("GET / HTTP/1.1\r\nHost: t\r\nX: a\x7f\r\n\r\n", 400, "control");
    REFUSED("GET / HTTP/1.1\r\nHost: t\r\nX: a\x1b[0m\r\n\r\n", 400, "control");
    /* obs-text and tabs inside a value are fine */
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: t\r\nX: \xe9t\xe9\t!~ \r\n\r\n"), 0);
    assert_int_equal(head.fields[1].value_len, 6);
    /* a head that does not end where it should */
    REFUSED("GET / HTTP/1.1\r\nHost: t\r\n", 400, "head");
    REFUSED("GET / HTTP/1.1\r\nHost: t\r\n\r", 400, "head");
    REFUSED("GET / HTTP/1.1\r", 400, "head");
}

static void too_many_fields(void **state)
{
    char s[4096];
    size_t n = 0;

    (void)state;
    n += (size_t)sprintf(s + n, "GET / HTTP/1.1\r\nHost: t\r\n");
    for (int i = 1; i < PARLEY__HTTP_MAX_FIELDS; i++)
        n += (size_t)sprintf(s + n, "X-%d: b\r\n", i);
    strcpy(s + n, "\r\n");
    assert_int_equal(parse(s), 0);
    assert_int_equal(head.n_fields, PARLEY__HTTP_MAX_FIELDS);
    n += (size_t)sprintf(s + n, "X-a: b\r\n\r\n");
    REFUSED(s, 431, "fields");
}

static void host_refusals(void **state)               /* G10, W14 */
{
    (void)state;
    REFUSED("GET / HTTP/1.1\r\n\r\n", 400, "Host");
    REFUSED("GET / HTTP/1.1\r\nX: y\r\n\r\n", 400, "Host");
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400, "Host");
    REFUSED("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, "Host");
    REFUSED("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "Host");
    REFUSED("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "Host");
    REFUSED("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400, "Host");
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), 0);
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost:\r\n\r\n"), 0);  /* empty is allowed */
    assert_true(head.has_host);
}

static void content_length_refusals(void **state)     /* G05, G06 */
{
    static const char *bad[] = {"-1", "+5", "5 5", "0x10", "99999999999999999999", "",
                                "9223372036854775808", "5,5", "1e3", "\xd9\xa1"};
    char s[256];

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(s, sizeof s, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %s\r\n\r\n", bad[i]);
        REFUSED(s, 400, "Content-Length");
    }
    REFUSED("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400,
            "more than one");
    /* An equal repeat too (llhttp does the same). */
    REFUSED("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400,
            "more than one");
    REFUSED("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            400, "both");
    REFUSED("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            400, "both");
    REFUSED("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n",
            400, "both");
}

static void transfer_encoding_refusals(void **state)  /* G08 */
{
    (void)state;
    REFUSED("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
            "not implemented");
    REFUSED("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n", 501,
            "not implemented");
    REFUSED("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\n\r\n", 501,
            "not implemented");
    REFUSED("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked;a=b\r\n\r\n", 501,
            "not implemented");
    REFUSED("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400,
            "last");
    REFUSED("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400,
            "more than once");
    REFUSED("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            400, "more than once");
    REFUSED("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: \r\n\r\n", 400, "empty");
    REFUSED("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: , ,\r\n\r\n", 400, "empty");
    REFUSED("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "HTTP/1.0");
}

/* ---- head end ----------------------------------------------------------- */

/* Byte at a time, then all at once, then in pieces of every size: the same
 * answer, found at the same byte. */
static size_t head_end_pieces(const char *s, size_t n, size_t piece)
{
    size_t scanned = 0, end = 0;

    for (size_t have = 0; have < n && end == 0;) {
        have = have + piece > n ? n : have + piece;
        end = parley__http_head_end(s, have, &scanned);
        assert_true(scanned <= have);
    }
    return end;
}

static void head_end_cases(void **state)
{
    static const struct {
        const char *s;
        size_t end;
        size_t len;     /* 0: strlen */
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: t\r\n\r\nbody", 27, 0},
        {"GET / HTTP/1.1\r\n\r\n", 18, 0},
        {"\r\n\r\nGET / HTTP/1.1\r\n\r\nx", 22, 0},
        {"\r\n", 0, 0},
        {"\r\n\r\n\r\n", 0, 0},
        {"GET / HTTP/1.1\r\nHost: t\r\n", 0, 0},
        {"GET / HTTP/1.1\r\nHost: t\r\n\r", 0, 0},
        {"GET / HTTP/1.1\r\r\n", 16, 0},           /* bare CR: handed to the parser */
        {"GET / HTTP/1.1\n\n", 15, 0},             /* bare LF: handed to the parser */
        {"\n", 1, 0},
        {"GET / HTTP/1.1\r\nX: \0", 20, 20},    /* control byte */
        {"\x16\x03\x01\x02\x00", 1, 5},         /* G14: a TLS ClientHello */
        {"GET /\r\n", 0, 0},                       /* G15 waits */
        {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 18, 0},
        {"A\r\n\r\n", 5, 0},
        {"\r\nA\r\n\r\n", 7, 0},
    };

    (void)state;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *s = cases[k].s;
        size_t n = cases[k].len ? cases[k].len : strlen(s);

        for (size_t piece = 1; piece <= n; piece++)
            if (head_end_pieces(s, n, piece) != cases[k].end)
                fail_msg("case %zu in pieces of %zu: got %zu, want %zu", k, piece,
                         head_end_pieces(s, n, piece), cases[k].end);
    }
}

/* Every early end is one the parser refuses, and a found end is where the
 * parser says the head ends. */
static void head_end_agrees_with_parser(void **state)
{
    static const char *heads[] = {
        "GET / HTTP/1.1\r\nHost: t\r\n\r\n",
        "\r\nGET /x?y HTTP/1.0\r\n\r\n",
        "GET / HTTP/1.1\nHost: t\n\n",
        "GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n",
    };

    (void)state;
    for (size_t k = 0; k < sizeof heads / sizeof heads[0]; k++) {
        size_t scanned = 0, n = strlen(heads[k]);
        size_t end = parley__http_head_end(heads[k], n, &scanned);
        int rc;

        assert_true(end > 0);
        rc = parse_n(heads[k], end, MAX_TARGET);
        if (k < 2) {
            assert_int_equal(rc, 0);
            assert_int_equal(head.head_len, end);
        } else {
            assert_int_equal(rc, 400);
        }
    }
}

/* A long head a byte at a time: O(n) in all (a quadratic scan of 1 MiB
 * would take minutes). */
static void head_end_byte_at_a_time_is_linear(void **state)
{
    size_t n = 1u << 20, scanned = 0, end = 0;
    char *s = malloc(n);

    (void)state;
    assert_non_null(s);
    memset(s, 'a', n);
    memcpy(s, "GET / HTTP/1.1\r\nX: ", 19);
    memcpy(s + n - 4, "\r\n\r\n", 4);
    for (size_t have = 1; have <= n && end == 0; have++)
        end = parley__http_head_end(s, have, &scanned);
    assert_int_equal(end, n);
    free(s);
}

/* ---- adversarial token lists (W09) -------------------------------------- */

static void token_list_linear(void **state)
{
    size_t cap = 64 * 1024;
    char *s = malloc(cap);
    size_t n;

    (void)state;
    assert_non_null(s);
    n = (size_t)sprintf(s, "GET / HTTP/1.1\r\nHost: t\r\nSec-WebSocket-Protocol: a");
    memset(s + n, ' ', 8000);
    n += 8000;
    n += (size_t)sprintf(s + n, "x\r\nConnection: ");
    for (int i = 0; i < 4000; i++)
        n += (size_t)sprintf(s + n, "a,");
    n += (size_t)sprintf(s + n, "\r\n\r\n");
    assert_int_equal(parse_n(s, n, MAX_TARGET), 0);
    for (int round = 0; round < 200; round++) {
        assert_int_equal(parley__http_field_has_token(s, &head, "Sec-WebSocket-Protocol", "a"), 0);
        assert_int_equal(parley__http_field_has_token(s, &head, "Connection", "b"), 0);
    }
    assert_int_equal(parley__http_field_has_token(s, &head, "Connection", "a"), 1);
    assert_true(head.keep_alive);
    free(s);
}

/* ---- chunked ------------------------------------------------------------ */

/* Decode `body` fed in two pieces split at `split`: returns 0 and the data
 * in out, or the refusal status. *consumed_total tells how much input the
 * decoder took in all. */
static int dechunk(const char *body, size_t n, size_t split, uint64_t max_body, char *out,
                   size_t *out_n, size_t *consumed_total)
{
    struct parley__http_chunked c;
    char *buf = malloc(n ? n : 1);
    size_t at = 0, o = 0;
    int rc = 0;

    assert_non_null(buf);
    memcpy(buf, body, n);
    parley__http_chunked_init(&c);
    *consumed_total = 0;
    for (int part = 0; part < 2 && !parley__http_chunked_done(&c); part++) {
        size_t len = part == 0 ? split : n - split, got;
        long used;

        /* The piece in its own exact-size block, so ASan catches overreads. */
        char *piece = malloc(len ? len : 1);

        assert_non_null(piece);
        memcpy(piece, buf + at, len);
        used = parley__http_chunked_feed(&c, piece, len, &got, max_body, &refusal);
        if (used < 0) {
            free(piece);
            rc = refusal.status;
            break;
        }
        assert_true((size_t)used <= len);
        assert_true(got <= (size_t)used);
        memcpy(out + o, piece, got);
        o += got;
        at += (size_t)used;
        *consumed_total += (size_t)used;
        free(piece);
        if ((size_t)used < len) {
            assert_true(parley__http_chunked_done(&c));
            break;
        }
    }
    if (rc == 0 && !parley__http_chunked_done(&c))
        rc = -1;        /* needs more */
    if (rc == 0)
        assert_int_equal(c.total, o);
    free(buf);
    *out_n = o;
    return rc;
}

static void chunked_split_everywhere(void **state)
{
    static const char body[] = "5\r\nhello\r\n1a;name=\"v;x\"; e\r\nabcdefghijklmnopqrstuvwxyz\r\n"
                               "0002\r\n\r\n\r\n0 ;last\r\nTrailer: x\r\nT2:\r\n\r\nGET / HTTP/1.1";
    size_t n = sizeof body - 1, tail = strlen("GET / HTTP/1.1");
    char out[256];

    (void)state;
    for (size_t split = 0; split <= n; split++) {
        size_t got, used;

        assert_int_equal(dechunk(body, n, split, 1000, out, &got, &used), 0);
        assert_int_equal(got, 33);
        assert_memory_equal(out, "helloabcdefghijklmnopqrstuvwxyz\r\n", got);
        assert_int_equal(used, n - tail);
    }
}

static void chunked_byte_at_a_time(void **state)
{
    static const char body[] = "3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n";
    struct parley__http_chunked c;
    char data[64];
    size_t o = 0;

    (void)state;
    parley__http_chunked_init(&c);
    for (size_t i = 0; i < sizeof body - 1; i++) {
        char b = body[i];
        size_t got;

        assert_false(parley__http_chunked_done(&c));
        assert_int_equal(parley__http_chunked_feed(&c, &b, 1, &got, 100, &refusal), 1);
        if (got)
            data[o++] = b;
    }
    assert_true(parley__http_chunked_done(&c));
    assert_int_equal(o, 13);
    assert_memory_equal(data, "abc0123456789", 13);
    /* After the end nothing more is taken. */
    {
        char b = 'x';
        size_t got = 9;

        assert_int_equal(parley__http_chunked_feed(&c, &b, 1, &got, 100, &refusal), 0);
        assert_int_equal(got, 0);
    }
}

#define CHUNK_REFUSED(s, max, status, word)                                        \
    do {                                                                           \
        size_t got_, used_;                                                        \
        char out_[256];                                                            \
        for (size_t sp_ = 0; sp_ <= sizeof(s) - 1; sp_++) {                        \
            assert_int_equal(dechunk(s, sizeof(s) - 1, sp_, max, out_, &got_, &used_), status); \
            if (strstr(refusal.message, word) == NULL)                             \
                fail_msg("message '%s' lacks '%s'", refusal.message, word);        \
        }                                                                          \
    } while (0)

static void chunked_refusals(void **state)            /* G07 */
{
    static char ext[1100 + 8];

    (void)state;
    CHUNK_REFUSED("ffffffffffffffff0\r\n", UINT64_MAX, 400, "too large");
    CHUNK_REFUSED("20000000000001\r\n", UINT64_MAX, 400, "too large");      /* 2^53 + 1 */
    CHUNK_REFUSED("ffffffffffffffff0\r\n", 1000, 413, "too large");
    CHUNK_REFUSED("-1\r\n", 1000, 400, "size");
    CHUNK_REFUSED("\r\n", 1000, 400, "size");
    CHUNK_REFUSED("0x5\r\n", 1000, 400, "size");
    CHUNK_REFUSED("5 \r\n", 1000, 400, "size");
    CHUNK_REFUSED("5\n", 1000, 400, "size");
    CHUNK_REFUSED("5\r\r", 1000, 400, "LF");
    CHUNK_REFUSED("5\r\nhelloX\r\n", 1000, 400, "CRLF");
    CHUNK_REFUSED("5\r\nhello\rX", 1000, 400, "CRLF");
    CHUNK_REFUSED("5\r\nhello\n", 1000, 400, "CRLF");
    CHUNK_REFUSED("5;a\x01\r\n", 1000, 400, "control");
    CHUNK_REFUSED("5;a\nb\r\n", 1000, 400, "control");
    CHUNK_REFUSED("0\r\nX: y\n\r\n", 1000, 400, "trailer");
    CHUNK_REFUSED("0\r\nX: y\rz", 1000, 400, "line ending");
    CHUNK_REFUSED("0\r\n y\r\n\r\n", 1000, 400, "trailer");
    CHUNK_REFUSED("0\r\nX y\r\n\r\n", 1000, 400, "trailer");
    CHUNK_REFUSED("0\r\nX: \x7f\r\n\r\n", 1000, 400, "trailer");
    CHUNK_REFUSED("0\r\n\rX", 1000, 400, "last chunk");
    /* The body limit counts every chunk. */
    CHUNK_REFUSED("8\r\n12345678\r\n3\r\n", 10, 413, "too large");
    {
        size_t got, used;
        char out[64];

        assert_int_equal(dechunk("8\r\n12345678\r\n2\r\nab\r\n0\r\n\r\n", 25, 5, 10, out, &got, &used), 0);
        assert_int_equal(got, 10);
        assert_int_equal(dechunk("0000000000000000000000000001\r\nx\r\n0\r\n\r\n", 38, 7, 10, out, &got,
                                 &used), 0);
        assert_int_equal(got, 1);
    }
    /* A chunk extension of exactly 1 KiB is skipped; one more byte is not. */
    memcpy(ext, "1;", 2);
    memset(ext + 2, 'e', 1024);
    memcpy(ext + 1026, "\r\nx\r\n0\r\n\r\n", 11);
    {
        size_t got, used;
        char out[64];

        assert_int_equal(dechunk(ext, strlen(ext), 500, 10, out, &got, &used), 0);
        assert_int_equal(got, 1);
        memset(ext + 2, 'e', 1025);
        memcpy(ext + 1027, "\r\nx\r\n0\r\n\r\n", 11);
        assert_int_equal(dechunk(ext, strlen(ext), 500, 10, out, &got, &used), 400);
        assert_non_null(strstr(refusal.message, "extension"));
    }
}

static void chunked_long_extension_and_trailers(void **state)
{
    size_t n = 70 * 1024, got, used;
    char *s = malloc(n), out[16];

    (void)state;
    assert_non_null(s);
    /* a 64 KiB extension (G07) */
    memset(s, 'e', n);
    memcpy(s, "1;", 2);
    assert_int_equal(dechunk(s, n, n / 2, 1000, out, &got, &used), 400);
    assert_non_null(strstr(refusal.message, "extension"));
    /* Trailers: 8 KiB in all (lines and the final CR) pass, one more byte
     * does not. 81 lines of 100 bytes, then one of 91 or 92. */
    for (int over = 0; over < 2; over++) {
        size_t k = (size_t)sprintf(s, "0\r\n");
        size_t last = 91 + (size_t)over;

        for (int line = 0; line < 82; line++) {
            size_t len = line < 81 ? 100 : last;

            memcpy(s + k, "T:", 2);
            memset(s + k + 2, 'v', len - 4);
            memcpy(s + k + len - 2, "\r\n", 2);
            k += len;
        }
        memcpy(s + k, "\r\nnext", 6);
        k += 6;
        assert_int_equal(dechunk(s, k, k / 3, 1000, out, &got, &used), over ? 400 : 0);
        if (over)
            assert_non_null(strstr(refusal.message, "trailer"));
        else
            assert_int_equal(used, k - 4);
    }
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(get_with_query),
        cmocka_unit_test(empty_query_and_no_query),
        cmocka_unit_test(post_with_content_length),
        cmocka_unit_test(absolute_form),
        cmocka_unit_test(options_asterisk),
        cmocka_unit_test(keep_alive_rules),
        cmocka_unit_test(leading_empty_lines),
        cmocka_unit_test(repeated_fields_joined),
        cmocka_unit_test(token_lists),
        cmocka_unit_test(expect_flag),
        cmocka_unit_test(chunked_framing),
        cmocka_unit_test(request_line_refusals),
        cmocka_unit_test(target_refusals),
        cmocka_unit_test(request_line_too_long),
        cmocka_unit_test(field_refusals),
        cmocka_unit_test(too_many_fields),
        cmocka_unit_test(host_refusals),
        cmocka_unit_test(content_length_refusals),
        cmocka_unit_test(transfer_encoding_refusals),
        cmocka_unit_test(head_end_cases),
        cmocka_unit_test(head_end_agrees_with_parser),
        cmocka_unit_test(head_end_byte_at_a_time_is_linear),
        cmocka_unit_test(token_list_linear),
        cmocka_unit_test(chunked_split_everywhere),
        cmocka_unit_test(chunked_byte_at_a_time),
        cmocka_unit_test(chunked_refusals),
        cmocka_unit_test(chunked_long_extension_and_trailers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
