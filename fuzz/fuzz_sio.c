/*
 * Socket.IO v5 packets through the per-connection decoder
 * (plugins/socketio/codec/sio*.c), binary attachments included, with the
 * handler-argument and re-encoding paths behind it.
 *
 * Input: one control byte, then records separated by 0x1e (as in a polling
 * payload); a record that starts with 'b' is a binary buffer (the bytes after
 * the 'b'), any other record a text packet.
 *   control & 1   tight limits (2 attachments, 8-byte namespace, depth 4,
 *                 32 values, 8-byte event names, 64 attachment bytes)
 *   control & 2   numeric event names off
 *   control & 4   CONNECT_ERROR accepted
 * Oracle, for every complete message:
 *   - its fields obey sio.h (type, namespace, ack, event name, attachments
 *     and their placeholder nodes) and the limits;
 *   - sio_args_json gives a JSON array;
 *   - an event's args re-wrapped with sio_event_payload decode back to the
 *     same event name;
 *   - the packet re-encoded with sio_encode decodes to the same header;
 * and every refusal carries a matching parley_error. After an error the
 * decoder must be usable again (it is reset), so decoding goes on.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "fuzz_common.h"
#include "sio.h"

static void check_roundtrip(const sio_packet *p, const sio_limits *lim)
{
    parley_error err = PARLEY_ERROR_INIT;
    sio_out o = { 0 };
    sio_packet q;
    size_t need, written = 0;
    char *buf, *printed = NULL;
    int rc;

    /* The decoder takes JSON with leading whitespace and a string
     * CONNECT_ERROR; the encoder, on the hot path, only looks at the first
     * byte and writes objects. Those are not round trips. */
    if (p->payload_len && p->payload[0] != '[' && p->payload[0] != '{')
        return;
    if (p->type == SIO_CONNECT_ERROR && (!p->payload_len || p->payload[0] != '{'))
        return;
    o.type = p->type;
    o.nsp = p->nsp;
    o.nsp_len = p->nsp_len;
    o.has_ack = p->has_ack;
    o.ack_id = p->ack_id;
    o.attachments = p->attachments;
    o.json = p->payload;
    o.json_len = p->payload_len;
    /* A reassembled binary packet keeps its tree, not its text. */
    if (p->payload == NULL && p->data != NULL) {
        printed = cJSON_PrintUnformatted(p->data);
        FUZZ_CHECK(printed != NULL, "out of memory");
        o.json = printed;
        o.json_len = strlen(printed);
    }
    need = sio_encoded_size(&o);
    buf = malloc(need + 1);
    FUZZ_CHECK(buf != NULL, "out of memory");
    rc = sio_encode(&o, buf, need, &written, &err);
    FUZZ_CHECK(rc == 0, "a decoded packet (type %d) does not encode: %d %s", p->type, rc,
               err.message);
    FUZZ_CHECK(written == need, "sio_encode wrote %zu bytes, sio_encoded_size said %zu", written,
               need);
    rc = sio_decode(buf, written, lim, &q, &err);
    if (rc == PARLEY_ETOOBIG && p->event != NULL && p->event_len > lim->max_event_name_len &&
        !fuzz_strict()) {
        /* The known finding of check_message, through the printed tree. */
        free(buf);
        cJSON_free(printed);
        return;
    }
    FUZZ_CHECK(rc == 0, "re-encoded packet \"%.*s\" does not decode: %d %s", (int)written, buf,
               rc, err.message);
    FUZZ_CHECK(q.type == p->type && q.has_ack == p->has_ack &&
                   (!p->has_ack || q.ack_id == p->ack_id) && q.attachments == p->attachments &&
                   q.nsp_len == p->nsp_len && memcmp(q.nsp, p->nsp, p->nsp_len) == 0 &&
                   q.payload_len == o.json_len,
               "re-encoded packet \"%.*s\" decodes to another header", (int)written, buf);
    FUZZ_CHECK((q.event == NULL) == (p->event == NULL) &&
                   (q.event == NULL || strcmp(q.event, p->event) == 0),
               "re-encoded packet changed its event name");
    sio_packet_clear(&q);
    free(buf);
    cJSON_free(printed);
}

/* The handler's view: args as JSON text, and the event re-wrapped. */
static void check_args(sio_packet *p, const sio_limits *lim)
{
    parley_error err = PARLEY_ERROR_INIT;
    size_t len = 0;
    char *args = sio_args_json(p, &len);
    cJSON *parsed;

    if (p->type == SIO_DISCONNECT || p->type == SIO_CONNECT_ERROR) {
        FUZZ_CHECK(args == NULL, "args for a packet of type %d", p->type);
        return;
    }
    FUZZ_CHECK(args != NULL, "sio_args_json gave NULL for type %d", p->type);
    FUZZ_CHECK(len == strlen(args), "sio_args_json length %zu, text %zu", len, strlen(args));
    parsed = cJSON_ParseWithLength(args, len);
    FUZZ_CHECK(cJSON_IsArray(parsed), "args are not a JSON array: %.200s", args);
    cJSON_Delete(parsed);

    if (p->event != NULL) {
        size_t need = sio_event_payload_size(p->event, p->event_len, args, len), w = 0;
        char *out, *pkt;
        sio_packet q;
        int rc;

        FUZZ_CHECK(need > 0, "args of an event are not an array for sio_event_payload");
        out = malloc(need + 2);
        FUZZ_CHECK(out != NULL, "out of memory");
        out[0] = '2';
        rc = sio_event_payload(p->event, p->event_len, args, len, out + 1, need, &w, &err);
        FUZZ_CHECK(rc == 0 && w == need, "sio_event_payload: %d (%zu of %zu bytes) %s", rc, w,
                   need, err.message);
        pkt = out;
        /* Same name, same values: it must decode under the same limits
         * (attachments aside: the re-wrapped packet is a plain EVENT whose
         * placeholders are ordinary objects). */
        rc = sio_decode(pkt, w + 1, lim, &q, &err);
        if (rc == PARLEY_ETOOBIG && p->event_len > lim->max_event_name_len) {
            /* The known finding of check_message: as a string the name
             * meets the limit it escaped as a number. */
            free(out);
            cJSON_free(args);
            return;
        }
        FUZZ_CHECK(rc == 0, "re-wrapped event \"%.*s\" does not decode: %d %s", (int)(w + 1), pkt,
                   rc, err.message);
        FUZZ_CHECK(q.event != NULL && strcmp(q.event, p->event) == 0,
                   "re-wrapped event changed its name");
        sio_packet_clear(&q);
        free(out);
    }
    cJSON_free(args);
}

/* "-"? digits: what a numeric event name turns into. */
static int numeric_name(const char *s)
{
    if (*s == '-')
        s++;
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static void check_message(sio_message *m, const sio_limits *lim)
{
    sio_packet *p = &m->pkt;
    uint32_t k;

    FUZZ_CHECK(p->type >= SIO_CONNECT && p->type <= SIO_BINARY_ACK, "type %d", p->type);
    FUZZ_CHECK(p->type != SIO_CONNECT_ERROR || lim->accept_connect_error,
               "CONNECT_ERROR decoded while refused");
    FUZZ_CHECK(p->nsp != NULL && p->nsp_len >= 1 && p->nsp[0] == '/' &&
                   p->nsp_len <= lim->max_nsp_len && memchr(p->nsp, ',', p->nsp_len) == NULL,
               "namespace of %zu bytes", p->nsp_len);
    FUZZ_CHECK(!p->has_ack || p->type == SIO_EVENT || p->type == SIO_ACK ||
                   p->type == SIO_BINARY_EVENT || p->type == SIO_BINARY_ACK,
               "ack id on type %d", p->type);
    FUZZ_CHECK(p->has_ack || (p->type != SIO_ACK && p->type != SIO_BINARY_ACK),
               "ACK without an id");
    FUZZ_CHECK(p->attachments <= lim->max_attachments, "%u attachments", p->attachments);
    FUZZ_CHECK(p->attachments == 0 || p->type == SIO_BINARY_EVENT || p->type == SIO_BINARY_ACK,
               "attachments on type %d", p->type);
    if (p->type == SIO_EVENT || p->type == SIO_BINARY_EVENT) {
        FUZZ_CHECK(p->event != NULL && strlen(p->event) == p->event_len, "event name");
        /* Known finding (regressions/sio/numeric-event-name-over-max-len):
         * a numeric event name becomes its decimal text after the length
         * check, so it may exceed a max_event_name_len below 17. Tolerated
         * unless PARLEY_FUZZ_STRICT is set, so the run goes on; set it to
         * check the fix. */
        FUZZ_CHECK(p->event_len <= lim->max_event_name_len ||
                       (!fuzz_strict() && numeric_name(p->event)),
                   "event name of %zu bytes over the limit %zu: %s", p->event_len,
                   lim->max_event_name_len, p->event);
        for (k = 0; sio_reserved_events[k]; k++)
            FUZZ_CHECK(strcmp(p->event, sio_reserved_events[k]) != 0, "reserved name %s",
                       p->event);
    } else {
        FUZZ_CHECK(p->event == NULL, "event name on type %d", p->type);
    }
    FUZZ_CHECK(p->attachments == 0 || m->att != NULL, "no attachment table");
    for (k = 0; k < p->attachments; k++) {
        const cJSON *num = cJSON_GetObjectItemCaseSensitive(m->att[k].node, "num");

        FUZZ_CHECK(m->att[k].len == 0 || m->att[k].bytes != NULL, "attachment %u bytes", k);
        FUZZ_CHECK(cJSON_IsObject(m->att[k].node) &&
                       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m->att[k].node,
                                                                     "_placeholder")) &&
                       cJSON_IsNumber(num) && num->valuedouble == (double)k,
                   "attachment %u is not tied to its placeholder", k);
    }
    check_args(p, lim);
    check_roundtrip(p, lim);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sio_limits lim;
    sio_decoder d;
    unsigned control;
    size_t i, start;

    if (size == 0)
        return 0;
    control = data[0];
    sio_limits_default(&lim);
    if (control & 1) {
        lim.max_attachments = 2;
        lim.max_nsp_len = 8;
        lim.max_json_depth = 4;
        lim.max_json_nodes = 32;
        lim.max_event_name_len = 8;
        lim.max_attachment_bytes = 64;
    }
    if (control & 2)
        lim.numeric_event_names = 0;
    if (control & 4)
        lim.accept_connect_error = 1;
    sio_decoder_init(&d, &lim);

    for (start = i = 1; i <= size; i++) {
        parley_error err = PARLEY_ERROR_INIT;
        sio_message m;
        size_t n;
        char *rec;
        int rc;

        if (i < size && data[i] != 0x1e)
            continue;
        n = i - start;
        /* An exact-size copy: ASan catches any read past the record. */
        rec = malloc(n ? n : 1);
        FUZZ_CHECK(rec != NULL, "out of memory");
        if (n)
            memcpy(rec, data + start, n);
        if (n > 0 && rec[0] == 'b')
            rc = sio_decoder_binary(&d, (const uint8_t *)rec + 1, n - 1, &m, &err);
        else
            rc = sio_decoder_text(&d, rec, n, &m, &err);
        if (rc < 0) {
            fuzz_check_refusal(rc, &err, "sio_decoder");
            FUZZ_CHECK(!d.reconstructing, "decoder not reset after an error");
        } else if (rc == SIO_DECODED) {
            check_message(&m, &lim);
            sio_message_clear(&m);
        } else {
            FUZZ_CHECK(rc == SIO_PENDING && d.reconstructing, "decoder returned %d", rc);
        }
        free(rec);
        start = i + 1;
    }
    sio_decoder_reset(&d);
    return 0;
}
