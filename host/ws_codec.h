/*
 * WebSocket (RFC 6455) on bytes: the opening handshake's key and accept
 * value, client frame headers, unmasking, close payloads, and server frame
 * headers. No I/O and no allocation; the listener (listener_ws.c) owns the
 * connection state.
 *
 * No extension is ever negotiated, so any RSV bit is a protocol error.
 */
#ifndef PARLEY__WS_CODEC_H
#define PARLEY__WS_CODEC_H

#include <stddef.h>
#include <stdint.h>

enum {
    PARLEY__WS_OP_CONTINUATION = 0x0,
    PARLEY__WS_OP_TEXT = 0x1,
    PARLEY__WS_OP_BINARY = 0x2,
    PARLEY__WS_OP_CLOSE = 0x8,
    PARLEY__WS_OP_PING = 0x9,
    PARLEY__WS_OP_PONG = 0xA,
};

/* The largest client frame header: 2 + 8 (length) + 4 (mask). */
#define PARLEY__WS_CLIENT_HEAD_MAX 14
/* The largest server frame header: 2 + 8. */
#define PARLEY__WS_SERVER_HEAD_MAX 10
/* Sec-WebSocket-Accept: base64 of a SHA-1, 28 characters. */
#define PARLEY__WS_ACCEPT_LEN 28

struct parley__ws_head {
    unsigned fin : 1;
    unsigned opcode : 4;
    uint64_t payload_len;           /* < 2^63 */
    unsigned char mask[4];
    size_t head_len;                /* bytes of header, mask included */
};

/*
 * Parse a client frame header from buf[0..len). Returns the header length
 * (> 0) and fills *h; 0 when more bytes are needed; -1 on a protocol
 * violation (the connection closes with 1002), with *why a short static
 * reason for the log and the close frame: RSV bits set, an unknown opcode,
 * an unmasked frame (RFC 6455 5.1), a control frame that is fragmented or
 * longer than 125 bytes, a 64-bit length with the top bit set. Non-minimal
 * length encodings are accepted (bad-inputs F21: documented choice).
 * Fragment sequencing (continuation without a start and so on) is the
 * caller's: it knows whether a message is open.
 */
int parley__ws_parse_head(const unsigned char *buf, size_t len, struct parley__ws_head *h,
                          const char **why);

/* Unmask `len` payload bytes in place; `offset` is how many bytes of this
 * frame's payload came before them (the mask cycles every 4 bytes).
 * Word-at-a-time: it runs on every received byte. */
void parley__ws_unmask(unsigned char *data, size_t len, const unsigned char mask[4],
                       uint64_t offset);

/*
 * Check an (unmasked) close payload. Returns 0 and the peer's code in
 * *code (1005 for an empty payload), or the close code to answer with:
 * 1002 for a one-byte payload or a code RFC 6455 7.4 forbids on the wire
 * (below 1000, 1004-1006, 1015, 1016-2999, 5000 and up), 1007 for a reason
 * that is not UTF-8. *why as for parley__ws_parse_head.
 */
int parley__ws_close_check(const unsigned char *payload, size_t len, int *code,
                           const char **why);

/* Write a server frame header (FIN set, unmasked) for `opcode` and a
 * payload of `len` bytes; returns its length (2, 4 or 10). */
size_t parley__ws_server_head(unsigned char out[PARLEY__WS_SERVER_HEAD_MAX], int opcode,
                              uint64_t len);

/* RFC 6455 4.2.1: the key is base64 of 16 bytes, i.e. 22 characters of the
 * alphabet and "==" (what ws checks). */
int parley__ws_key_valid(const char *key, size_t len);

/* Sec-WebSocket-Accept for `key`: base64(SHA-1(key + the RFC's GUID)),
 * PARLEY__WS_ACCEPT_LEN characters and a NUL. */
void parley__ws_accept(const char *key, size_t len, char out[PARLEY__WS_ACCEPT_LEN + 1]);

#endif /* PARLEY__WS_CODEC_H */
