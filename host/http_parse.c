/*
 * HTTP/1.1 request heads and chunked bodies (http_parse.h).
 *
 * Every loop here walks its input forwards once; look-backs are bounded to
 * a few bytes. Refusals name the first problem met in byte order, except
 * that the request line's version is judged before its target (so the
 * HTTP/2 preface is a 505, not a "'*' needs OPTIONS" 400) and framing is
 * judged once all fields are in.
 */
#include <string.h>

#include "http_parse.h"

#define MAX_SAFE_LENGTH (UINT64_C(1) << 53)
#define MAX_CHUNK_EXT 1024u
#define MAX_TRAILERS 8192u

/* ---- bytes ------------------------------------------------------------- */

/* RFC 9110 5.6.2 tchar. */
static int is_tchar(int c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Bytes a field value may hold: VCHAR, obs-text, SP, HTAB. */
static int is_field_byte(int c)
{
    return (c >= 0x20 && c != 0x7f) || c == '\t';
}

static int is_ows(int c)
{
    return c == ' ' || c == '\t';
}

/* Bytes no part of a head may hold anywhere: controls but HTAB and the
 * CR/LF that end lines. */
static int is_head_ctl(int c)
{
    return (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f;
}

int parley__http_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int ieq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);

    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

static int refuse(struct parley__http_refusal *refusal, int status, const char *message)
{
    size_t n = strlen(message);

    if (n >= sizeof refusal->message)
        n = sizeof refusal->message - 1;
    refusal->status = status;
    memcpy(refusal->message, message, n);
    refusal->message[n] = '\0';
    return -1;
}

/* ---- where the head ends ----------------------------------------------- */

/*
 * The scan keeps no state but its position: whatever it needs to know
 * about earlier bytes (the CR before an LF, whether the line before an
 * empty one was empty too) is at most four bytes back in buf.
 *
 * Beyond the contract's "0 until it arrives", this returns early, just past
 * the first byte that no head may contain (a bare LF, a CR not followed by
 * LF, a control byte other than HTAB): the parser refuses whatever ends
 * there with a 400, so the client gets it now rather than a 431 once the
 * buffer is full (a TLS ClientHello, a bare-LF head).
 */
size_t parley__http_head_end(const char *buf, size_t len, size_t *scanned)
{
    const unsigned char *b = (const unsigned char *)buf;
    size_t i;

    for (i = *scanned; i < len; i++) {
        if (i > 0 && b[i - 1] == '\r' && b[i] != '\n')
            return *scanned = i + 1;        /* bare CR */
        if (is_head_ctl(b[i]))
            return *scanned = i + 1;
        if (b[i] != '\n')
            continue;
        if (i == 0 || b[i - 1] != '\r')
            return *scanned = i + 1;        /* bare LF */
        /* A CRLF at i-1. Not an empty line, or the head's first line. */
        if (i == 1 || b[i - 2] != '\n')
            continue;
        /* An empty line; it ends the head unless every line before it was
         * empty too (RFC 9112 2.2), which by induction is so exactly when
         * the line just before it was empty. */
        if (i == 3 || b[i - 4] == '\n')
            continue;
        return *scanned = i + 1;
    }
    *scanned = len;
    return 0;
}

/* ---- lines -------------------------------------------------------------- */

/* The end of the line that starts at pos: *eol is the index of its CR.
 * Returns NULL, or what is wrong with the line's bytes. */
static const char *find_eol(const char *buf, size_t len, size_t pos, size_t *eol)
{
    for (size_t i = pos; i < len; i++) {
        int c = (unsigned char)buf[i];

        if (c == '\n')
            return "bare LF line ending";
        if (c == '\r') {
            if (i + 1 >= len)
                return "head cut inside a line ending";
            if (buf[i + 1] != '\n')
                return "bare CR in the head";
            *eol = i;
            return NULL;
        }
        if (is_head_ctl(c))
            return "control byte in the head";
    }
    return "head cut before its empty line";
}

/* ---- request line ------------------------------------------------------- */

static int check_version(const char *v, size_t n, struct parley__http_head *head,
                         struct parley__http_refusal *refusal)
{
    if (n != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
        v[7] < '0' || v[7] > '9')
        return refuse(refusal, 400, "malformed HTTP version");
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
        return refuse(refusal, 505, "HTTP version not supported");
    head->version = v[7] == '0' ? 10 : 11;
    return 0;
}

/* A method longer than the 15 bytes head->method keeps is a well-formed
 * token we do not implement, so 501 (RFC 9110 9.1), not 400. */
static int check_method(const char *m, size_t n, struct parley__http_head *head,
                        struct parley__http_refusal *refusal)
{
    if (n == 0)
        return refuse(refusal, 400, "empty method");
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)m[i]))
            return refuse(refusal, 400, "method is not a token");
    if (n >= sizeof head->method)
        return refuse(refusal, 501, "method not implemented");
    memcpy(head->method, m, n);
    head->method[n] = '\0';
    if (strcmp(head->method, "CONNECT") == 0)
        return refuse(refusal, 405, "CONNECT is not allowed");
    return 0;
}

/* Bytes RFC 3986 allows in a path or query, '%' aside (checked with its
 * digits). '#' is allowed there but a request-target has no fragment. */
static int is_target_byte(int c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("-._~!$&'()*+,;=:@/?[]", c) != NULL;
}

/* Path and query from t[0..n), which starts with '/'; off is t's offset
 * in the head buffer. */
static int split_target(const char *t, size_t n, size_t off, struct parley__http_head *head,
                        struct parley__http_refusal *refusal)
{
    size_t q = n;

    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)t[i];

        if (c == '%') {
            if (n - i < 3 || parley__http_hexval((unsigned char)t[i + 1]) < 0 ||
                parley__http_hexval((unsigned char)t[i + 2]) < 0)
                return refuse(refusal, 400, "malformed percent-escape in the target");
            /* A NUL in the path would end it early for every C consumer. */
            if (q == n && t[i + 1] == '0' && t[i + 2] == '0')
                return refuse(refusal, 400, "%00 in the path");
            i += 2;
            continue;
        }
        if (!is_target_byte(c))
            return refuse(refusal, 400, "forbidden byte in the target");
        if (c == '?' && q == n)
            q = i;
    }
    head->path_off = (uint32_t)off;
    head->path_len = (uint32_t)q;
    if (q < n) {
        head->query_off = (uint32_t)(off + q + 1);
        head->query_len = (uint32_t)(n - q - 1);
    }
    return 0;
}

/* "http://authority/path?query": the authority is skipped (the listener
 * does not route by it) but must be plain: no userinfo (RFC 9110 4.2.4),
 * no byte a host or port cannot hold. The path must be there. */
static int absolute_form(const char *t, size_t n, size_t off, struct parley__http_head *head,
                         struct parley__http_refusal *refusal)
{
    size_t i;

    if (n >= 7 && ieq(t, 7, "http://"))
        i = 7;
    else if (n >= 8 && ieq(t, 8, "https://"))
        i = 8;
    else
        return refuse(refusal, 400, "request-target is not origin-form or absolute-form");
    size_t host = i;
    for (; i < n && t[i] != '/'; i++) {
        int c = (unsigned char)t[i];

        if (c == '@')
            return refuse(refusal, 400, "userinfo in the target");
        if (c != '%' && (c == '?' || c == '/' || !is_target_byte(c)))
            return refuse(refusal, 400, "forbidden byte in the target authority");
    }
    if (i == host)
        return refuse(refusal, 400, "empty authority in the target");
    if (i == n)
        return refuse(refusal, 400, "absolute-form target without a path");
    return split_target(t + i, n - i, off + i, head, refusal);
}

static int check_target(const char *buf, size_t off, size_t n, struct parley__http_head *head,
                        struct parley__http_refusal *refusal)
{
    const char *t = buf + off;

    if (n == 0)
        return refuse(refusal, 400, "empty request-target");
    if (n == 1 && t[0] == '*') {
        if (strcmp(head->method, "OPTIONS") != 0)
            return refuse(refusal, 400, "asterisk-form target without OPTIONS");
        head->path_off = (uint32_t)off;
        head->path_len = 1;
        return 0;
    }
    if (t[0] == '/')
        return split_target(t, n, off, head, refusal);
    return absolute_form(t, n, off, head, refusal);
}

/* method SP request-target SP HTTP-version, single spaces (RFC 9112 3). */
static int parse_request_line(const char *buf, size_t pos, size_t eol, size_t max_target,
                              struct parley__http_head *head,
                              struct parley__http_refusal *refusal)
{
    const char *sp1, *sp2;
    size_t m_len, t_off, t_len, v_off;

    if (eol - pos > max_target)
        return refuse(refusal, 414, "request line too long");
    if (memchr(buf + pos, '\t', eol - pos) != NULL)
        return refuse(refusal, 400, "tab in the request line");
    sp1 = memchr(buf + pos, ' ', eol - pos);
    if (sp1 == NULL)
        return refuse(refusal, 400, "malformed request line");
    m_len = (size_t)(sp1 - (buf + pos));
    t_off = m_len + pos + 1;
    sp2 = memchr(buf + t_off, ' ', eol - t_off);
    if (sp2 == NULL)
        return refuse(refusal, 400, "no HTTP version in the request line");
    t_len = (size_t)(sp2 - (buf + t_off));
    v_off = t_off + t_len + 1;
    if (check_method(buf + pos, m_len, head, refusal) < 0)
        return -1;
    if (check_version(buf + v_off, eol - v_off, head, refusal) < 0)
        return -1;
    return check_target(buf, t_off, t_len, head, refusal);
}

/* ---- header fields ------------------------------------------------------ */

static int parse_field(const char *buf, size_t pos, size_t eol, struct parley__http_head *head,
                       struct parley__http_refusal *refusal)
{
    struct parley__http_field *f;
    size_t i = pos, vs, ve;

    if (is_ows((unsigned char)buf[pos]))
        return refuse(refusal, 400, "obsolete line folding");
    while (i < eol && is_tchar((unsigned char)buf[i]))
        i++;
    if (i == eol)
        return refuse(refusal, 400, "header field without a colon");
    if (buf[i] != ':') {
        if (is_ows((unsigned char)buf[i]))
            return refuse(refusal, 400, "whitespace before the colon of a header field");
        return refuse(refusal, 400, "header field name is not a token");
    }
    if (i == pos)
        return refuse(refusal, 400, "empty header field name");
    if (head->n_fields == PARLEY__HTTP_MAX_FIELDS)
        return refuse(refusal, 431, "too many header fields");
    vs = i + 1;
    ve = eol;
    while (vs < ve && is_ows((unsigned char)buf[vs]))
        vs++;
    while (ve > vs && is_ows((unsigned char)buf[ve - 1]))
        ve--;
    f = &head->fields[head->n_fields++];
    f->name_off = (uint32_t)pos;
    f->name_len = (uint32_t)(i - pos);
    f->value_off = (uint32_t)vs;
    f->value_len = (uint32_t)(ve - vs);
    return 0;
}

/* ---- framing ------------------------------------------------------------ */

static int field_is(const char *buf, const struct parley__http_field *f, const char *name)
{
    return ieq(buf + f->name_off, f->name_len, name);
}

/* uri-host [ ":" port ], by its alphabet: reg-name, IP literals, port. */
static int check_host(const char *v, size_t n, struct parley__http_refusal *refusal)
{
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)v[i];

        if (c == '/' || c == '?' || c == '@' || (c != '%' && !is_target_byte(c)))
            return refuse(refusal, 400, "malformed Host");
    }
    return 0;
}

/* Digits only, at most INT64_MAX: a well-formed length above any cap is
 * the listener's 413 (bad-inputs H12), only one that cannot be a number
 * is a 400 (G06). */
static int parse_length(const char *v, size_t n, uint64_t *out)
{
    const uint64_t max = UINT64_C(0x7fffffffffffffff);
    uint64_t x = 0;

    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        if (x > (max - (uint64_t)(v[i] - '0')) / 10)
            return -1;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *out = x;
    return 0;
}

/* One element of a comma-separated list, trimmed: v[*s..*e), scanning
 * from *pos (moved past the comma). Returns 0 at the end of the list. */
static int next_item(const char *v, size_t n, size_t *pos, size_t *s, size_t *e)
{
    size_t i = *pos, a, b;

    if (i > n)
        return 0;
    a = i;
    while (i < n && v[i] != ',')
        i++;
    b = i;
    *pos = i + 1;
    while (a < b && is_ows((unsigned char)v[a]))
        a++;
    while (b > a && is_ows((unsigned char)v[b - 1]))
        b--;
    *s = a;
    *e = b;
    return 1;
}

/* RFC 9112 6.1 and 6.3: chunked once and last, or nothing we can frame.
 * Empty list elements are allowed (RFC 9110 5.6.1) but not a list of
 * nothing else. */
static int check_transfer_encoding(const char *buf, struct parley__http_head *head,
                                   struct parley__http_refusal *refusal)
{
    unsigned n_chunked = 0, n_items = 0, n_other = 0;
    int chunked_last = 0;

    for (unsigned k = 0; k < head->n_fields; k++) {
        const struct parley__http_field *f = &head->fields[k];
        const char *v = buf + f->value_off;
        size_t pos = 0, s, e;

        if (!field_is(buf, f, "Transfer-Encoding"))
            continue;
        while (next_item(v, f->value_len, &pos, &s, &e)) {
            if (s == e)
                continue;
            n_items++;
            chunked_last = ieq(v + s, e - s, "chunked");
            if (chunked_last)
                n_chunked++;
            else
                n_other++;
        }
    }
    if (n_items == 0)
        return refuse(refusal, 400, "empty Transfer-Encoding");
    if (n_chunked > 1)
        return refuse(refusal, 400, "chunked applied more than once");
    if (n_chunked == 1 && !chunked_last)
        return refuse(refusal, 400, "chunked is not the last transfer coding");
    if (n_other > 0)
        return refuse(refusal, 501, "transfer coding not implemented");
    head->chunked = 1;
    return 0;
}

static int check_framing(const char *buf, struct parley__http_head *head,
                         struct parley__http_refusal *refusal)
{
    unsigned n_host = 0, n_te = 0;

    for (unsigned k = 0; k < head->n_fields; k++) {
        const struct parley__http_field *f = &head->fields[k];
        const char *v = buf + f->value_off;
        uint64_t cl;

        if (field_is(buf, f, "Host")) {
            if (++n_host > 1)
                return refuse(refusal, 400, "more than one Host");
            if (check_host(v, f->value_len, refusal) < 0)
                return -1;
        } else if (field_is(buf, f, "Content-Length")) {
            if (parse_length(v, f->value_len, &cl) < 0)
                return refuse(refusal, 400, "malformed Content-Length");
            /* Even an equal repeat: as Node's llhttp, one framing
             * header or a 400 (request smuggling hides in repeats). */
            if (head->has_content_length)
                return refuse(refusal, 400, "more than one Content-Length");
            head->content_length = cl;
            head->has_content_length = 1;
        } else if (field_is(buf, f, "Transfer-Encoding")) {
            n_te++;
        }
    }
    head->has_host = n_host == 1;
    if (head->version == 11 && n_host == 0)
        return refuse(refusal, 400, "HTTP/1.1 request without Host");
    if (n_te > 0 && head->has_content_length)
        return refuse(refusal, 400, "both Content-Length and Transfer-Encoding");
    /* RFC 9112 6.1: HTTP/1.0 framing with Transfer-Encoding is faulty. */
    if (n_te > 0 && head->version == 10)
        return refuse(refusal, 400, "Transfer-Encoding in an HTTP/1.0 request");
    if (n_te > 0 && check_transfer_encoding(buf, head, refusal) < 0)
        return -1;

    if (parley__http_field_has_token(buf, head, "Connection", "close"))
        head->keep_alive = 0;
    else if (head->version == 11)
        head->keep_alive = 1;
    else
        head->keep_alive = parley__http_field_has_token(buf, head, "Connection", "keep-alive");
    head->connection_upgrade = parley__http_field_has_token(buf, head, "Connection", "upgrade");
    head->expect_continue = parley__http_field_has_token(buf, head, "Expect", "100-continue");
    return 0;
}

/* ---- the head ----------------------------------------------------------- */

int parley__http_parse_head(const char *buf, size_t len, size_t max_target,
                            struct parley__http_head *head,
                            struct parley__http_refusal *refusal)
{
    size_t pos = 0, eol;
    const char *why;

    memset(head, 0, sizeof *head);
    refusal->status = 0;
    refusal->message[0] = '\0';
    if (len > UINT32_MAX)
        return refuse(refusal, 431, "request head too large");
    /* RFC 9112 2.2: empty lines before the request line are skipped. */
    while (len - pos >= 2 && buf[pos] == '\r' && buf[pos + 1] == '\n')
        pos += 2;
    if ((why = find_eol(buf, len, pos, &eol)) != NULL)
        return refuse(refusal, 400, why);
    if (parse_request_line(buf, pos, eol, max_target, head, refusal) < 0)
        return -1;
    for (pos = eol + 2;; pos = eol + 2) {
        if ((why = find_eol(buf, len, pos, &eol)) != NULL)
            return refuse(refusal, 400, why);
        if (eol == pos)
            break;
        if (parse_field(buf, pos, eol, head, refusal) < 0)
            return -1;
    }
    head->head_len = eol + 2;
    return check_framing(buf, head, refusal);
}

int parley__http_field_get(const char *buf, const struct parley__http_head *head,
                           const char *name, char *out, size_t out_size)
{
    size_t n = 0;
    int found = 0;

    for (unsigned k = 0; k < head->n_fields; k++) {
        const struct parley__http_field *f = &head->fields[k];
        size_t need = f->value_len + (found ? 2 : 0);

        if (!field_is(buf, f, name))
            continue;
        if (out_size == 0 || need > out_size - 1 - n)
            return -2;
        if (found) {
            memcpy(out + n, ", ", 2);
            n += 2;
        }
        memcpy(out + n, buf + f->value_off, f->value_len);
        n += f->value_len;
        found = 1;
    }
    if (!found)
        return -1;
    if (n > 0x7fffffff)
        return -2;
    out[n] = '\0';
    return (int)n;
}

int parley__http_field_has_token(const char *buf, const struct parley__http_head *head,
                                 const char *name, const char *token)
{
    for (unsigned k = 0; k < head->n_fields; k++) {
        const struct parley__http_field *f = &head->fields[k];
        const char *v = buf + f->value_off;
        size_t pos = 0, s, e;

        if (!field_is(buf, f, name))
            continue;
        while (next_item(v, f->value_len, &pos, &s, &e))
            if (ieq(v + s, e - s, token))
                return 1;
    }
    return 0;
}

/* ---- chunked bodies ----------------------------------------------------- */

enum {
    CH_SIZE_FIRST,   /* the first hex digit of a chunk size */
    CH_SIZE,         /* more hex digits, or what ends them */
    CH_SIZE_WS,      /* BWS after the size: only ';' may follow */
    CH_EXT,          /* a chunk extension, skipped */
    CH_SIZE_LF,
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TRAILER_START,/* the start of a trailer line or the final CRLF */
    CH_TRAILER_NAME,
    CH_TRAILER_VALUE,
    CH_TRAILER_LF,
    CH_END_LF,
    CH_DONE
};

void parley__http_chunked_init(struct parley__http_chunked *c)
{
    memset(c, 0, sizeof *c);
    c->state = CH_SIZE_FIRST;
}

int parley__http_chunked_done(const struct parley__http_chunked *c)
{
    return c->state == CH_DONE;
}

/* A digit of the chunk size: at most 2^53 and within max_body, checked
 * before the value can wrap. */
static int size_digit(struct parley__http_chunked *c, int d, uint64_t max_body,
                      struct parley__http_refusal *refusal)
{
    if (c->chunk_left > (MAX_SAFE_LENGTH - (uint64_t)d) / 16)
        return refuse(refusal, 400, "chunk size too large");
    c->chunk_left = c->chunk_left * 16 + (uint64_t)d;
    if (c->total > max_body || c->chunk_left > max_body - c->total)
        return refuse(refusal, 413, "body too large");
    return 0;
}

/* The end of a chunk-size line: data follows, or the trailer section. */
static void size_line_done(struct parley__http_chunked *c)
{
    c->aux = 0;
    c->state = c->chunk_left == 0 ? CH_TRAILER_START : CH_DATA;
}

/* Bytes of the trailer section, all lines together. */
static int trailer_byte(struct parley__http_chunked *c, struct parley__http_refusal *refusal)
{
    if (++c->aux > MAX_TRAILERS)
        return refuse(refusal, 400, "trailer section too long");
    return 0;
}

/* One byte of framing (everything but chunk data). */
static int chunk_step(struct parley__http_chunked *c, int b, uint64_t max_body,
                      struct parley__http_refusal *refusal)
{
    int d;

    switch (c->state) {
    case CH_SIZE_FIRST:
        if ((d = parley__http_hexval(b)) < 0)
            return refuse(refusal, 400, "malformed chunk size");
        c->chunk_left = 0;
        c->state = CH_SIZE;
        return size_digit(c, d, max_body, refusal);
    case CH_SIZE:
        if ((d = parley__http_hexval(b)) >= 0)
            return size_digit(c, d, max_body, refusal);
        if (b == '\r')
            c->state = CH_SIZE_LF;
        else if (b == ';')
            c->state = CH_EXT;
        else if (is_ows(b))
            c->state = CH_SIZE_WS;
        else
            return refuse(refusal, 400, "malformed chunk size");
        return 0;
    case CH_SIZE_WS:
        if (b == ';')
            c->state = CH_EXT;
        else if (!is_ows(b))
            return refuse(refusal, 400, "malformed chunk size");
        else if (++c->aux > MAX_CHUNK_EXT)
            return refuse(refusal, 400, "chunk extension too long");
        return 0;
    case CH_EXT:
        if (b == '\r') {
            c->state = CH_SIZE_LF;
            return 0;
        }
        if (!is_field_byte(b))
            return refuse(refusal, 400, "control byte in a chunk extension");
        if (++c->aux > MAX_CHUNK_EXT)
            return refuse(refusal, 400, "chunk extension too long");
        return 0;
    case CH_SIZE_LF:
        if (b != '\n')
            return refuse(refusal, 400, "missing LF after the chunk size");
        size_line_done(c);
        return 0;
    case CH_DATA_CR:
        if (b != '\r')
            return refuse(refusal, 400, "missing CRLF after chunk data");
        c->state = CH_DATA_LF;
        return 0;
    case CH_DATA_LF:
        if (b != '\n')
            return refuse(refusal, 400, "missing CRLF after chunk data");
        c->state = CH_SIZE_FIRST;
        return 0;
    case CH_TRAILER_START:
        if (trailer_byte(c, refusal) < 0)
            return -1;
        if (b == '\r')
            c->state = CH_END_LF;
        else if (is_tchar(b))
            c->state = CH_TRAILER_NAME;
        else
            return refuse(refusal, 400, "malformed trailer field");
        return 0;
    case CH_TRAILER_NAME:
        if (trailer_byte(c, refusal) < 0)
            return -1;
        if (b == ':')
            c->state = CH_TRAILER_VALUE;
        else if (!is_tchar(b))
            return refuse(refusal, 400, "malformed trailer field");
        return 0;
    case CH_TRAILER_VALUE:
        if (trailer_byte(c, refusal) < 0)
            return -1;
        if (b == '\r')
            c->state = CH_TRAILER_LF;
        else if (!is_field_byte(b))
            return refuse(refusal, 400, "control byte in a trailer field");
        return 0;
    case CH_TRAILER_LF:
        if (trailer_byte(c, refusal) < 0)
            return -1;
        if (b != '\n')
            return refuse(refusal, 400, "malformed line ending in the trailers");
        c->state = CH_TRAILER_START;
        return 0;
    case CH_END_LF:
        if (b != '\n')
            return refuse(refusal, 400, "malformed line ending after the last chunk");
        c->state = CH_DONE;
        return 0;
    default:
        return refuse(refusal, 400, "chunked decoder misused");
    }
}

long parley__http_chunked_feed(struct parley__http_chunked *c, char *buf, size_t len,
                               size_t *out_len, uint64_t max_body,
                               struct parley__http_refusal *refusal)
{
    size_t i = 0, out = 0;

    *out_len = 0;
    if (len > (size_t)0x7fffffffL)
        len = (size_t)0x7fffffffL;  /* the rest comes in the next call */
    while (i < len && c->state != CH_DONE) {
        if (c->state == CH_DATA) {
            size_t n = len - i;

            if ((uint64_t)n > c->chunk_left)
                n = (size_t)c->chunk_left;
            memmove(buf + out, buf + i, n);
            out += n;
            i += n;
            c->chunk_left -= n;
            c->total += n;
            if (c->chunk_left == 0)
                c->state = CH_DATA_CR;
            continue;
        }
        if (chunk_step(c, (unsigned char)buf[i], max_body, refusal) < 0) {
            *out_len = out;
            return -1;
        }
        i++;
    }
    *out_len = out;
    return (long)i;
}
