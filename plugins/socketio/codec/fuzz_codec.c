/*
 * libFuzzer entry point for the Engine.IO and Socket.IO decoders (for the
 * hardening work; not part of the normal build). Build it by hand, e.g.:
 *   clang -DPARLEY_FUZZ -fsanitize=fuzzer,address,undefined -I<repo>/sdk/include \
 *         -I/usr/include/cjson plugins/socketio/codec/\*.c -lcjson -lm -o fuzz_codec
 * The first input byte picks the path, the rest is the input:
 *   even: the bytes as a long-polling payload whose message packets feed a
 *         Socket.IO decoder (text packets as text, "b" packets as binary);
 *   odd:  the bytes as one WebSocket text frame, one binary frame, one
 *         Socket.IO packet (and its handler arguments, re-wrapped as an
 *         outgoing event) and one handshake query.
 */
#ifdef PARLEY_FUZZ

#include <stdlib.h>
#include <string.h>

#include "eio.h"
#include "sio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int feed_sio(void *arg, const eio_packet *pkt, parley_error *err)
{
    sio_decoder *d = arg;
    sio_message m;
    int rc;

    if (pkt->type != EIO_MESSAGE)
        return 0;
    if (pkt->binary)
        rc = sio_decoder_binary(d, pkt->data, pkt->len, &m, err);
    else
        rc = sio_decoder_text(d, (const char *)pkt->data, pkt->len, &m, err);
    if (rc == SIO_DECODED)
        sio_message_clear(&m);
    return rc < 0 ? rc : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parley_error err = PARLEY_ERROR_INIT;
    uint8_t *buf;
    size_t n;

    if (size == 0)
        return 0;
    n = size - 1;
    buf = malloc(n ? n : 1);
    if (buf == NULL)
        return 0;

    if ((data[0] & 1) == 0) {
        sio_decoder d;

        memcpy(buf, data + 1, n);
        sio_decoder_init(&d, NULL);
        eio_decode_payload(buf, n, NULL, feed_sio, &d, &err);
        sio_decoder_reset(&d);
    } else {
        eio_packet pkt;
        sio_packet p;
        eio_query q;

        memcpy(buf, data + 1, n);
        eio_decode_frame(buf, n, 0, NULL, &pkt, &err);
        memcpy(buf, data + 1, n);
        eio_decode_frame(buf, n, 1, NULL, &pkt, &err);
        if (sio_decode((const char *)data + 1, n, NULL, &p, &err) == 0) {
            char *args = sio_args_json(&p, NULL);

            if (args) {
                size_t need = sio_event_payload_size("e", 1, args, strlen(args));
                char *out = need ? malloc(need) : NULL;

                if (out)
                    sio_event_payload("e", 1, args, strlen(args), out, need, NULL, &err);
                free(out);
                cJSON_free(args);
            }
            sio_packet_clear(&p);
        }
        eio_parse_query((const char *)data + 1, n, &q, &err);
    }
    free(buf);
    return 0;
}

#endif /* PARLEY_FUZZ */
