/*
 * The HTTP/1.1 head parser and chunked decoder (host/http_parse.c), the
 * first code network bytes meet.
 *
 * Input: <control byte> <bytes as they come off the socket>. The control
 * byte's low 6 bits seed the piece sizes; 0x80 picks a 64-byte request
 * line limit (else 8 KiB), 0x40 a 100-byte body limit (else 1 MiB). The
 * corpus files start with '0' (defaults).
 *
 * Oracle:
 *   - parley__http_head_end gives the same answer fed in random pieces as
 *     all at once, and never scans past what it was given;
 *   - no end found means the parser refuses the bytes; an end found and
 *     accepted means the parser's head_len is that end;
 *   - a refusal has one of the header's statuses and a non-empty message
 *     without quotes or backslashes; an accepted head has offsets inside
 *     the head, a token method, an origin path or "*", token field names,
 *     trimmed values, no control bytes, Host on HTTP/1.1, never both
 *     Content-Length and chunked;
 *   - field_get fits its buffer or says -2, and matches the fields;
 *   - the chunked decoder on the bytes after the head gives the same data,
 *     consumption and outcome in pieces as all at once, and never produces
 *     more than it consumed or more than the body limit.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_common.h"
#include "http_parse.h"

static uint32_t rng;

/* 1..64, skewed to small pieces. */
static size_t next_piece(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return (rng % 8 == 0) ? 1 + rng % 64 : 1 + rng % 4;
}

static int is_tchar(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static size_t head_end_in_pieces(const char *buf, size_t len)
{
    size_t scanned = 0, have = 0, end = 0;

    while (have < len && end == 0) {
        size_t p = next_piece();

        have = len - have < p ? len : have + p;
        end = parley__http_head_end(buf, have, &scanned);
        FUZZ_CHECK(scanned <= have, "scanned %zu of %zu", scanned, have);
        FUZZ_CHECK(end <= have, "end %zu past %zu", end, have);
    }
    return end;
}

/* A refusal of the head (statuses from http_parse.h), or of a chunked
 * body (400, 413). */
static void check_refusal(const struct parley__http_refusal *r, int chunked)
{
    static const int statuses[] = {400, 405, 414, 431, 501, 505};
    int ok = 0;

    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
        ok |= !chunked && r->status == statuses[i];
    ok |= chunked && (r->status == 400 || r->status == 413);
    FUZZ_CHECK(ok, "%s refusal status %d", chunked ? "chunked" : "head", r->status);
    FUZZ_CHECK(memchr(r->message, '\0', sizeof r->message) != NULL, "message not terminated");
    FUZZ_CHECK(r->message[0] != '\0', "refusal %d without a message", r->status);
    FUZZ_CHECK(strpbrk(r->message, "\"\\") == NULL, "quote in '%s'", r->message);
}

static void check_head(const char *buf, size_t end, const struct parley__http_head *h)
{
    size_t mlen = strnlen(h->method, sizeof h->method);

    FUZZ_CHECK(h->head_len == end, "head_len %zu, head_end %zu", h->head_len, end);
    FUZZ_CHECK(h->version == 10 || h->version == 11, "version %d", h->version);
    FUZZ_CHECK(mlen > 0 && mlen < sizeof h->method, "method length %zu", mlen);
    for (size_t i = 0; i < mlen; i++)
        FUZZ_CHECK(is_tchar((unsigned char)h->method[i]), "method byte 0x%02x",
                   (unsigned char)h->method[i]);
    FUZZ_CHECK(strcmp(h->method, "CONNECT") != 0, "CONNECT accepted");
    for (size_t i = 0; i < end; i++) {
        int c = (unsigned char)buf[i];

        FUZZ_CHECK(!(c < 0x20 && c != '\t' && c != '\r' && c != '\n') && c != 0x7f,
                   "control byte 0x%02x at %zu accepted", c, i);
        if (c == '\r')
            FUZZ_CHECK(i + 1 < end && buf[i + 1] == '\n', "bare CR at %zu accepted", i);
        if (c == '\n')
            FUZZ_CHECK(i > 0 && buf[i - 1] == '\r', "bare LF at %zu accepted", i);
    }
    FUZZ_CHECK(h->path_len > 0 && (uint64_t)h->path_off + h->path_len <= end, "path %u+%u",
               h->path_off, h->path_len);
    if (buf[h->path_off] == '*')
        FUZZ_CHECK(h->path_len == 1 && strcmp(h->method, "OPTIONS") == 0, "'*' target");
    else
        FUZZ_CHECK(buf[h->path_off] == '/', "path starts with 0x%02x",
                   (unsigned char)buf[h->path_off]);
    FUZZ_CHECK(memchr(buf + h->path_off, '?', h->path_len) == NULL, "'?' in the path");
    if (h->query_len > 0)
        FUZZ_CHECK((uint64_t)h->query_off + h->query_len <= end &&
                   buf[h->query_off - 1] == '?', "query %u+%u", h->query_off, h->query_len);
    FUZZ_CHECK(h->n_fields <= PARLEY__HTTP_MAX_FIELDS, "%u fields", h->n_fields);
    for (unsigned k = 0; k < h->n_fields; k++) {
        const struct parley__http_field *f = &h->fields[k];

        FUZZ_CHECK(f->name_len > 0 && (uint64_t)f->name_off + f->name_len <= end, "name %u", k);
        FUZZ_CHECK((uint64_t)f->value_off + f->value_len <= end, "value %u", k);
        for (uint32_t i = 0; i < f->name_len; i++)
            FUZZ_CHECK(is_tchar((unsigned char)buf[f->name_off + i]), "name byte in field %u", k);
        if (f->value_len > 0) {
            FUZZ_CHECK(buf[f->value_off] != ' ' && buf[f->value_off] != '\t' &&
                       buf[f->value_off + f->value_len - 1] != ' ' &&
                       buf[f->value_off + f->value_len - 1] != '\t', "untrimmed value %u", k);
        }
    }
    FUZZ_CHECK(h->version == 10 || h->has_host, "HTTP/1.1 without Host accepted");
    FUZZ_CHECK(!(h->chunked && h->has_content_length), "chunked and Content-Length");
    FUZZ_CHECK(h->has_content_length || h->content_length == 0, "length without the field");
    FUZZ_CHECK(h->content_length <= (UINT64_C(1) << 53), "length %llu",
               (unsigned long long)h->content_length);
}

static void check_lookups(const char *buf, const struct parley__http_head *h, size_t out_size)
{
    static const char *names[] = {"Host", "Connection", "Upgrade", "Sec-WebSocket-Key",
                                  "Transfer-Encoding", "X"};
    char *out = malloc(out_size ? out_size : 1);

    FUZZ_CHECK(out != NULL, "out of memory");
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        int n = parley__http_field_get(buf, h, names[k], out_size ? out : NULL, out_size);

        FUZZ_CHECK(n >= -2, "field_get %d", n);
        if (n >= 0) {
            FUZZ_CHECK((size_t)n < out_size && out[n] == '\0', "%d bytes in %zu", n, out_size);
            /* A single occurrence is its value verbatim. */
            for (unsigned f = 0; f < h->n_fields; f++) {
                const struct parley__http_field *fl = &h->fields[f];

                if (fl->name_len == strlen(names[k]) &&
                    strncasecmp(buf + fl->name_off, names[k], fl->name_len) == 0) {
                    FUZZ_CHECK((size_t)n >= fl->value_len &&
                               memcmp(out, buf + fl->value_off, fl->value_len) == 0,
                               "field_get does not start with the first value");
                    break;
                }
            }
        }
        (void)parley__http_field_has_token(buf, h, names[k], "websocket");
    }
    if (h->version == 11)
        FUZZ_CHECK(h->keep_alive == !parley__http_field_has_token(buf, h, "Connection", "close"),
                   "keep_alive and Connection: close disagree");
    free(out);
}

struct chunked_run {
    long consumed;      /* -1 when refused */
    int status;
    int done;
    size_t out_len;
};

/* Decode body[0..len) in pieces (piecewise) or at once; data lands in out. */
static struct chunked_run dechunk(const char *body, size_t len, int piecewise, uint64_t max_body,
                                  char *out)
{
    struct parley__http_chunked c;
    struct parley__http_refusal r;
    struct chunked_run run = {0, 0, 0, 0};
    size_t at = 0;

    parley__http_chunked_init(&c);
    while (at < len && !parley__http_chunked_done(&c)) {
        size_t n = piecewise ? next_piece() : len;
        char *piece;
        size_t got;
        long used;

        if (n > len - at)
            n = len - at;
        piece = malloc(n);
        FUZZ_CHECK(piece != NULL, "out of memory");
        memcpy(piece, body + at, n);
        used = parley__http_chunked_feed(&c, piece, n, &got, max_body, &r);
        if (used < 0) {
            check_refusal(&r, 1);
            run.consumed = -1;
            run.status = r.status;
            free(piece);
            break;
        }
        FUZZ_CHECK((size_t)used <= n && got <= (size_t)used, "used %ld got %zu of %zu", used,
                   got, n);
        FUZZ_CHECK((size_t)used == n || parley__http_chunked_done(&c),
                   "stopped at %ld of %zu before the end", used, n);
        memcpy(out + run.out_len, piece, got);
        run.out_len += got;
        at += (size_t)used;
        free(piece);
    }
    if (run.consumed == 0)
        run.consumed = (long)at;
    run.done = parley__http_chunked_done(&c);
    FUZZ_CHECK(c.total == run.out_len || run.consumed < 0, "total %llu, out %zu",
               (unsigned long long)c.total, run.out_len);
    FUZZ_CHECK(c.total <= max_body, "total %llu over %llu", (unsigned long long)c.total,
               (unsigned long long)max_body);
    return run;
}

static void check_chunked(const char *body, size_t len, uint64_t max_body)
{
    char *a = malloc(len + 1), *b = malloc(len + 1);
    struct chunked_run ra, rb;

    FUZZ_CHECK(a && b, "out of memory");
    ra = dechunk(body, len, 0, max_body, a);
    rb = dechunk(body, len, 1, max_body, b);
    FUZZ_CHECK(ra.consumed == rb.consumed && ra.status == rb.status && ra.done == rb.done,
               "at once: %ld/%d/%d, in pieces: %ld/%d/%d", ra.consumed, ra.status, ra.done,
               rb.consumed, rb.status, rb.done);
    if (ra.consumed >= 0)
        FUZZ_CHECK(ra.out_len == rb.out_len && memcmp(a, b, ra.out_len) == 0,
                   "data differs: %zu vs %zu bytes", ra.out_len, rb.out_len);
    free(a);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct parley__http_head *h;
    struct parley__http_refusal r;
    size_t max_target, end, scanned = 0;
    uint64_t max_body;
    char *buf;
    int rc;

    if (size < 1)
        return 0;
    rng = 0x9e3779b9u ^ data[0];
    max_target = (data[0] & 0x80) ? 64 : 8192;
    max_body = (data[0] & 0x40) ? 100 : (1u << 20);
    data++;
    size--;
    buf = malloc(size ? size : 1);
    h = malloc(sizeof *h);
    FUZZ_CHECK(buf && h, "out of memory");
    if (size)
        memcpy(buf, data, size);

    end = parley__http_head_end(buf, size, &scanned);
    FUZZ_CHECK(head_end_in_pieces(buf, size) == end, "pieces disagree with all at once (%zu)",
               end);
    if (end == 0) {
        rc = parley__http_parse_head(buf, size, max_target, h, &r);
        FUZZ_CHECK(rc == -1, "no end found, but the parser accepted %zu bytes", size);
        check_refusal(&r, 0);
        check_chunked(buf, size, max_body);
    } else {
        rc = parley__http_parse_head(buf, end, max_target, h, &r);
        if (rc == 0) {
            check_head(buf, end, h);
            check_lookups(buf, h, (size_t)data[0] % 64);
            check_lookups(buf, h, 8192);
        } else {
            FUZZ_CHECK(rc == -1, "parse_head returned %d", rc);
            check_refusal(&r, 0);
        }
        check_chunked(buf + end, size - end, max_body);
    }
    free(h);
    free(buf);
    return 0;
}
