/*
 * Shared frames (frame.h): a header, PARLEY__FRAME_HEADROOM bytes of
 * headroom for the WebSocket frame header, then the payload, in one
 * allocation.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

struct parley_frame {
    atomic_uint refs;
    unsigned held;              /* the listener's references (loop thread): one in refs */
    size_t len;                 /* payload bytes */
    size_t cap;                 /* payload bytes allocated */
    unsigned char binary;
    unsigned char hdr_len;      /* 0 until the wire header is built */
    unsigned char buf[];        /* headroom, then the payload (+1 NUL) */
};

static atomic_size_t live_frames;

static size_t header_size(size_t len)
{
    if (len < 126)
        return 2;
    if (len <= 0xffff)
        return 4;
    return 10;
}

parley_frame *parley__frame_alloc(parley_host *host, size_t len, int binary, char **data)
{
    struct parley_frame *f;

    (void)host;
    if (len > SIZE_MAX - sizeof *f - PARLEY__FRAME_HEADROOM - 1)
        return NULL;
    f = malloc(sizeof *f + PARLEY__FRAME_HEADROOM + len + 1);
    if (f == NULL)
        return NULL;
    atomic_init(&f->refs, 1);
    f->held = 0;
    f->len = len;
    f->cap = len;
    f->binary = binary != 0;
    f->hdr_len = 0;
    /* A NUL after the payload lets text frames be read as C strings. */
    f->buf[PARLEY__FRAME_HEADROOM + len] = '\0';
    atomic_fetch_add_explicit(&live_frames, 1, memory_order_relaxed);
    if (data != NULL)
        *data = (char *)f->buf + PARLEY__FRAME_HEADROOM;
    return f;
}

void parley__frame_truncate(parley_frame *frame, size_t len)
{
    /* Only shrinking makes sense, and only before the header was built:
     * once queued, the wire header names the old length. */
    if (frame == NULL || len > frame->cap || frame->hdr_len != 0)
        return;
    frame->len = len;
    frame->buf[PARLEY__FRAME_HEADROOM + len] = '\0';
}

parley_frame *parley__frame_retain(parley_frame *frame)
{
    if (frame != NULL)
        atomic_fetch_add_explicit(&frame->refs, 1, memory_order_relaxed);
    return frame;
}

void parley__frame_release(parley_frame *frame)
{
    if (frame == NULL)
        return;
    /* acq_rel: the last owner must see every write made through the
     * other references before it frees. */
    if (atomic_fetch_sub_explicit(&frame->refs, 1, memory_order_acq_rel) != 1)
        return;
    atomic_fetch_sub_explicit(&live_frames, 1, memory_order_relaxed);
    free(frame);
}

void parley__frame_hold(parley_frame *frame)
{
    if (frame->held++ == 0)
        parley__frame_retain(frame);
}

void parley__frame_drop(parley_frame *frame)
{
    if (--frame->held == 0)
        parley__frame_release(frame);
}

const void *parley__frame_data(const parley_frame *frame, size_t *len)
{
    if (frame == NULL) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    if (len != NULL)
        *len = frame->len;
    return frame->buf + PARLEY__FRAME_HEADROOM;
}

int parley__frame_is_binary(const parley_frame *frame)
{
    return frame->binary;
}

size_t parley__frame_wire_size(const parley_frame *frame)
{
    return header_size(frame->len) + frame->len;
}

const unsigned char *parley__frame_wire(parley_frame *frame, size_t *len)
{
    size_t n = frame->len;
    unsigned char *h;

    if (frame->hdr_len == 0) {
        size_t hl = header_size(n);

        h = frame->buf + PARLEY__FRAME_HEADROOM - hl;
        h[0] = 0x80 | (frame->binary ? 0x2 : 0x1); /* FIN + opcode */
        if (hl == 2) {
            h[1] = (unsigned char)n;
        } else if (hl == 4) {
            h[1] = 126;
            h[2] = (unsigned char)(n >> 8);
            h[3] = (unsigned char)n;
        } else {
            uint64_t v = (uint64_t)n;

            h[1] = 127;
            for (int i = 0; i < 8; i++)
                h[2 + i] = (unsigned char)(v >> (56 - 8 * i));
        }
        frame->hdr_len = (unsigned char)hl;
    }
    h = frame->buf + PARLEY__FRAME_HEADROOM - frame->hdr_len;
    *len = frame->hdr_len + frame->len;
    return h;
}

size_t parley__frame_live(void)
{
    return atomic_load_explicit(&live_frames, memory_order_relaxed);
}
