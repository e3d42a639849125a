/*
 * Engine.IO v4 decoders (plugins/socketio/codec/eio.c): WebSocket frames and
 * long-polling payloads, with a round-trip oracle.
 *
 * Input: one control byte, then the bytes of the frame or payload.
 *   control & 3   0, 3: a polling payload; 1: a text frame; 2: a binary frame
 *   control & 4   validate_utf8 off
 *   control & 8   tight limits (8 packets, 64 decoded bytes), to reach them
 *   control & 16  the callback stops at the second packet with an error
 * Oracle:
 *   - every refusal carries a matching parley_error;
 *   - a payload is accepted or refused as a whole: the callback never runs
 *     for a payload that is then refused as malformed;
 *   - an accepted payload re-encoded with eio_builder decodes to the same
 *     packets; an accepted text frame re-encoded with eio_encode_packet
 *     decodes to the same packet.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eio.h"
#include "fuzz_common.h"

typedef struct pkt_copy {
    int type, binary, probe;
    uint8_t *data;
    size_t len;
} pkt_copy;

typedef struct collect {
    pkt_copy *p;
    size_t n, cap;
    int stop_at_second;
} collect;

static void collect_free(collect *c)
{
    size_t i;

    for (i = 0; i < c->n; i++)
        free(c->p[i].data);
    free(c->p);
    memset(c, 0, sizeof *c);
}

static void check_packet(const eio_packet *pkt)
{
    FUZZ_CHECK(pkt->type >= EIO_OPEN && pkt->type <= EIO_NOOP, "type %d", pkt->type);
    FUZZ_CHECK(!pkt->binary || pkt->type == EIO_MESSAGE, "binary packet of type %d", pkt->type);
    FUZZ_CHECK(!pkt->probe || ((pkt->type == EIO_PING || pkt->type == EIO_PONG) && pkt->len == 5 &&
                               memcmp(pkt->data, "probe", 5) == 0),
               "probe set on type %d len %zu", pkt->type, pkt->len);
    FUZZ_CHECK(pkt->len == 0 || pkt->data != NULL, "len %zu with NULL data", pkt->len);
}

static int on_packet(void *arg, const eio_packet *pkt, parley_error *err)
{
    collect *c = arg;
    pkt_copy *cp;

    check_packet(pkt);
    if (c->stop_at_second && c->n == 1)
        return parley_error_set(err, PARLEY_ELIMIT, "fuzz: stop at the second packet");
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        pkt_copy *grown = realloc(c->p, cap * sizeof *grown);

        FUZZ_CHECK(grown != NULL, "out of memory");
        c->p = grown;
        c->cap = cap;
    }
    cp = &c->p[c->n++];
    cp->type = pkt->type;
    cp->binary = pkt->binary;
    cp->probe = pkt->probe;
    cp->len = pkt->len;
    cp->data = malloc(pkt->len ? pkt->len : 1);
    FUZZ_CHECK(cp->data != NULL, "out of memory");
    if (pkt->len)
        memcpy(cp->data, pkt->data, pkt->len);
    return 0;
}

static int same_packet(const pkt_copy *a, const pkt_copy *b)
{
    return a->type == b->type && a->binary == b->binary && a->probe == b->probe &&
           a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* Re-encode what a payload decoded to, decode that, compare. */
static void payload_roundtrip(const collect *first, const eio_limits *lim)
{
    parley_error err = PARLEY_ERROR_INIT;
    collect again = { 0 };
    eio_builder b;
    size_t i, total = 0;
    char *buf;
    int rc;

    for (i = 0; i < first->n; i++) {
        size_t one = eio_polling_packet_size(first->p[i].binary, first->p[i].len);

        FUZZ_CHECK(one != SIZE_MAX, "packet size overflow");
        total += one + (i > 0);
    }
    buf = malloc(total ? total : 1);
    FUZZ_CHECK(buf != NULL, "out of memory");
    eio_builder_init(&b, buf, total);
    for (i = 0; i < first->n; i++) {
        const pkt_copy *p = &first->p[i];

        if (p->binary)
            rc = eio_builder_add_binary(&b, p->data, p->len, &err);
        else
            rc = eio_builder_add(&b, p->type, p->data, p->len, &err);
        FUZZ_CHECK(rc == 0, "re-encoding packet %zu (type %d, %zu bytes) failed: %d %s", i,
                   p->type, p->len, rc, err.message);
    }
    FUZZ_CHECK(b.len == total, "builder wrote %zu bytes, sizes said %zu", b.len, total);
    FUZZ_CHECK(b.count == first->n, "builder counted %zu packets of %zu", b.count, first->n);

    rc = eio_decode_payload((uint8_t *)buf, b.len, lim, on_packet, &again, &err);
    FUZZ_CHECK(rc == (int)first->n, "re-encoded payload (%zu packets) decoded to %d: %s",
               first->n, rc, err.message);
    FUZZ_CHECK(again.n == first->n, "callback ran %zu times for %zu packets", again.n, first->n);
    for (i = 0; i < first->n; i++)
        FUZZ_CHECK(same_packet(&first->p[i], &again.p[i]), "packet %zu changed in the round trip",
                   i);
    collect_free(&again);
    free(buf);
}

static void fuzz_payload(const uint8_t *data, size_t size, const eio_limits *lim, int stop)
{
    parley_error err = PARLEY_ERROR_INIT;
    collect c = { 0 };
    uint8_t *buf = malloc(size ? size : 1);
    int rc;

    FUZZ_CHECK(buf != NULL, "out of memory");
    if (size)
        memcpy(buf, data, size);
    c.stop_at_second = stop;
    rc = eio_decode_payload(buf, size, lim, on_packet, &c, &err);
    if (rc < 0) {
        fuzz_check_refusal(rc, &err, "eio_decode_payload");
        /* Accepted or refused as a whole: a malformed or over-limit payload
         * reaches the callback not once. Only the callback's own error may
         * come after packets were handed over. */
        if (rc != PARLEY_ELIMIT || !stop)
            FUZZ_CHECK(c.n == 0, "payload refused (%d: %s) after %zu packets were handed over",
                       rc, err.message, c.n);
    } else {
        FUZZ_CHECK(rc >= 1, "a payload decoded to %d packets", rc);
        FUZZ_CHECK((size_t)rc == c.n, "returned %d packets, callback saw %zu", rc, c.n);
        FUZZ_CHECK(c.n <= lim->max_packets, "%zu packets over the limit %zu", c.n,
                   lim->max_packets);
        payload_roundtrip(&c, lim);
    }
    collect_free(&c);
    free(buf);
}

static void fuzz_frame(const uint8_t *data, size_t size, int binary, const eio_limits *lim)
{
    parley_error err = PARLEY_ERROR_INIT;
    uint8_t *buf = malloc(size ? size : 1);
    eio_packet pkt;
    int rc;

    FUZZ_CHECK(buf != NULL, "out of memory");
    if (size)
        memcpy(buf, data, size);
    rc = eio_decode_frame(buf, size, binary, lim, &pkt, &err);
    if (rc < 0) {
        fuzz_check_refusal(rc, &err, "eio_decode_frame");
    } else {
        FUZZ_CHECK(rc == 0, "eio_decode_frame returned %d", rc);
        check_packet(&pkt);
        FUZZ_CHECK(pkt.len <= lim->max_decoded_bytes, "frame of %zu bytes over the limit %zu",
                   pkt.len, lim->max_decoded_bytes);
        if (binary) {
            FUZZ_CHECK(pkt.binary && pkt.type == EIO_MESSAGE && pkt.len == size &&
                           (size == 0 || memcmp(pkt.data, data, size) == 0),
                       "a binary frame is not its bytes as a message");
        } else if (!pkt.binary) {
            /* Text: type digit + data, exactly what came in. */
            size_t cap = pkt.len + 1, written = 0;
            char *out = malloc(cap);

            FUZZ_CHECK(out != NULL, "out of memory");
            rc = eio_encode_packet(pkt.type, pkt.data, pkt.len, out, cap, &written, &err);
            FUZZ_CHECK(rc == 0 && written == size && memcmp(out, data, size) == 0,
                       "text frame re-encoded differently (rc %d, %zu of %zu bytes)", rc, written,
                       size);
            free(out);
        }
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    eio_limits lim;
    unsigned control;

    if (size == 0)
        return 0;
    control = data[0];
    data++;
    size--;
    eio_limits_default(&lim);
    if (control & 4)
        lim.validate_utf8 = 0;
    if (control & 8) {
        lim.max_packets = 8;
        lim.max_decoded_bytes = 64;
    }
    switch (control & 3) {
    case 1:
        fuzz_frame(data, size, 0, &lim);
        break;
    case 2:
        fuzz_frame(data, size, 1, &lim);
        break;
    default:
        fuzz_payload(data, size, &lim, (control & 16) != 0);
        break;
    }
    return 0;
}
