/*
 * HTTP/1.1 request heads and chunked bodies, parsed from bytes (RFC 9112).
 * No I/O and no allocation: the listener hands in what it has read and
 * gets back either "need more", a complete head, or a refusal that names
 * the HTTP status to answer and what was wrong.
 *
 * Strict on purpose: this is the first code every byte from the network
 * meets, and leniency here is where request smuggling and parser
 * differentials live. Every refusal is bounded work: a head is scanned at
 * most once for its end (parley__http_head_end is incremental), then
 * parsed once.
 */
#ifndef PARLEY__HTTP_PARSE_H
#define PARLEY__HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* The value of hex digit c, or -1. */
int parley__http_hexval(int c);

/* Headers one request may carry; more is a 431. */
#define PARLEY__HTTP_MAX_FIELDS 100

/* One header field: offsets into the head buffer, value without the
 * optional whitespace around it. */
struct parley__http_field {
    uint32_t name_off, name_len;
    uint32_t value_off, value_len;
};

struct parley__http_head {
    char method[16];                /* NUL-terminated token, case kept */
    int version;                    /* 10 (HTTP/1.0) or 11 (HTTP/1.1) */
    /* The request-target split at the first '?', raw (not decoded):
     * origin-form "/a/b" (path_off..), or "*" for OPTIONS. The absolute
     * form "http://host/p?q" is accepted: path and query are its path and
     * query, and its authority is not looked at. */
    uint32_t path_off, path_len;
    uint32_t query_off, query_len;  /* without the '?'; 0 length when none */
    size_t head_len;                /* bytes of the head, final empty line included */
    unsigned n_fields;
    struct parley__http_field fields[PARLEY__HTTP_MAX_FIELDS];
    /* Framing, already checked (see parley__http_parse_head). */
    uint64_t content_length;        /* 0 when none */
    unsigned has_content_length : 1;
    unsigned chunked : 1;           /* Transfer-Encoding: chunked (and nothing else) */
    unsigned keep_alive : 1;        /* after this request, by version and Connection */
    unsigned connection_upgrade : 1;/* Connection lists the "upgrade" token */
    unsigned expect_continue : 1;   /* Expect: 100-continue */
    unsigned has_host : 1;
};

/* A refusal: the status to answer (400, 405, 414, 431, 501, 505) and a
 * short message for the client, without quotes or backslashes so it can go
 * into a JSON body as it is. */
struct parley__http_refusal {
    int status;
    char message[128];
};

/*
 * Where the head that starts at buf ends: the offset just past the empty
 * line that ends it, or 0 when it has not arrived yet. `*scanned` carries
 * the scan position between calls (start it at 0): each call looks only at
 * bytes it has not seen, so a head that arrives a byte at a time costs
 * O(length) in total. Empty lines before the request line (RFC 9112 2.2)
 * are part of the head. Only CRLF ends a line; a head whose lines end in a
 * bare LF is found by the parser, not here, so this may return 0 for it
 * until `max` bytes have arrived, and the caller then refuses with 431.
 */
size_t parley__http_head_end(const char *buf, size_t len, size_t *scanned);

/*
 * Parse a complete head (buf[0..len), len as returned by
 * parley__http_head_end). Returns 0 and fills *head, or -1 and fills
 * *refusal. Refused, among others:
 *   400  malformed request line or header line, a bare CR or LF, a NUL or
 *        other control byte, obs-fold, whitespace before the colon, a
 *        field name that is not a token, HTTP/1.1 without Host (RFC 9112
 *        3.2) or with two, a bad or duplicate-and-different
 *        Content-Length (digits only, at most 2^63 - 1), Content-Length
 *        together with Transfer-Encoding, a request-target that is not
 *        origin-form, absolute-form or "*" (with OPTIONS only), a target
 *        with a byte outside RFC 3986's allowed set (space, controls,
 *        '"', '<', '>', '\\', '^', '`', '{', '|', '}', non-ASCII);
 *   405  CONNECT (never a tunnel);
 *   414  a request line longer than max_target bytes;
 *   431  more than PARLEY__HTTP_MAX_FIELDS fields;
 *   501  a Transfer-Encoding other than exactly "chunked";
 *   505  a version other than HTTP/1.0 and HTTP/1.1 (the HTTP/2 preface
 *        "PRI * HTTP/2.0" included); HTTP/0.9 (no version) is a 400.
 * Repeated fields are kept as they are; parley__http_field_get joins them.
 */
int parley__http_parse_head(const char *buf, size_t len, size_t max_target,
                            struct parley__http_head *head,
                            struct parley__http_refusal *refusal);

/*
 * The value of field `name` (case-insensitive): the first occurrence's
 * value, or all of them joined by ", " (RFC 9110 5.3) into out. Returns the
 * length written (out is NUL-terminated), -1 when there is no such field,
 * -2 when out is too small.
 */
int parley__http_field_get(const char *buf, const struct parley__http_head *head,
                           const char *name, char *out, size_t out_size);

/*
 * Whether the comma-separated list in field `name` holds `token`
 * (case-insensitive, optional whitespace around items, linear in the
 * field's length whatever its shape: bad-inputs W09). Looks at every
 * occurrence of the field.
 */
int parley__http_field_has_token(const char *buf, const struct parley__http_head *head,
                                 const char *name, const char *token);

/* Incremental chunked body decoder (RFC 9112 7.1). Chunk extensions are
 * skipped (at most 1 KiB each); trailers are read and dropped (at most
 * 8 KiB in all). */
struct parley__http_chunked {
    int state;
    uint64_t chunk_left;            /* data bytes left in the current chunk */
    uint64_t total;                 /* data bytes decoded so far */
    uint32_t aux;                   /* bytes of extension or trailer seen */
};

void parley__http_chunked_init(struct parley__http_chunked *c);

/*
 * Feed `len` bytes of a chunked body. Data bytes are moved to the front of
 * `buf` in place (decoding never grows), *out_len tells how many. Returns
 * the bytes of input consumed (less than len only when the body ended
 * inside this input: the rest belongs to the next request), or -1 with
 * *refusal: 400 for a malformed chunk size line, missing CRLF, over-long
 * extension or trailers; 413 when total would pass max_body. Done when
 * parley__http_chunked_done says so.
 */
long parley__http_chunked_feed(struct parley__http_chunked *c, char *buf, size_t len,
                               size_t *out_len, uint64_t max_body,
                               struct parley__http_refusal *refusal);

int parley__http_chunked_done(const struct parley__http_chunked *c);

#endif /* PARLEY__HTTP_PARSE_H */
