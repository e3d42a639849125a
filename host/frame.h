/*
 * Shared frames: one reference-counted buffer per encoded broadcast, queued
 * by pointer on every recipient connection (DESIGN.md, "The hot path").
 *
 * A frame carries headroom for the WebSocket header in front of its
 * payload. Server frames are unmasked, so the header is the same for every
 * recipient: it is built once, the first time the frame is queued, and the
 * header and payload then sit contiguous in memory for the one copy into
 * the connection's write batch.
 *
 * Reference counts are atomic (retain/release from any thread); everything
 * else, the listener's own count (hold/drop) included, is loop-thread only.
 */
#ifndef PARLEY__FRAME_H
#define PARLEY__FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <parley/parley.h>

/* The largest server-side WebSocket frame header: 2 bytes + 64-bit length. */
#define PARLEY__FRAME_HEADROOM 10

/* SDK signatures (host.h). */
parley_frame *parley__frame_alloc(parley_host *host, size_t len, int binary, char **data);
void parley__frame_truncate(parley_frame *frame, size_t len);
parley_frame *parley__frame_retain(parley_frame *frame);
void parley__frame_release(parley_frame *frame);
const void *parley__frame_data(const parley_frame *frame, size_t *len);

/* Host-internal. */
int parley__frame_is_binary(const parley_frame *frame);
/* The frame as it goes on the wire (header + payload); builds the header
 * on first use. Loop thread. */
const unsigned char *parley__frame_wire(parley_frame *frame, size_t *len);
/* Its wire size without building anything. */
size_t parley__frame_wire_size(const parley_frame *frame);
/* The listener's references, counted apart on the loop thread: the first
 * takes one atomic reference, the last gives it back. A broadcast to a room
 * of 1 000 then costs two atomic operations, not 2 000 on one cache line. */
void parley__frame_hold(parley_frame *frame);
void parley__frame_drop(parley_frame *frame);
/* Frames alive right now (a leak check for tests). */
size_t parley__frame_live(void);

#endif /* PARLEY__FRAME_H */
