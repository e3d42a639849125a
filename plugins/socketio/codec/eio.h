/*
 * Engine.IO v4 codec: packets, long-polling payloads, the handshake query
 * and the error table. Pure C11, no I/O, no libuv/lws; every decoder is
 * bounded by an eio_limits and every refusal fills a parley_error naming
 * what was wrong.
 *
 * Wire format (docs/engine.io-protocol/v4-current.md):
 *   WebSocket text frame    <type digit>[<data>]
 *   WebSocket binary frame  raw message bytes (a message packet, no type byte)
 *   long-polling payload    packets joined by \x1e; a binary message is
 *                           "b" + base64(bytes)
 *
 * Decoding rules (strict on purpose; the session layer decides what a valid
 * packet means in its state, e.g. a client "2" is a protocol error there):
 *   - an empty packet is an error (E03, P02, P03; an empty POST body too);
 *   - the type must be '0'..'6', anything else is an error (E04);
 *   - open (0), close (1), upgrade (5) and noop (6) carry no data;
 *     ping (2) and pong (3) carry nothing or exactly "probe" (probe = 1);
 *     message (4) carries anything;
 *   - "b" starts a binary message (also in a WebSocket text frame, as
 *     engine.io-parser does); base64 is strict (see base64.h); "b" alone is
 *     an empty binary message (E09);
 *   - text must be valid UTF-8 unless limits.validate_utf8 is 0 (P06).
 * A long-polling payload is checked completely before the first packet is
 * handed to the callback: it is accepted as a whole or refused as a whole.
 */
#ifndef PARLEY_SIO_EIO_H
#define PARLEY_SIO_EIO_H

#include <stddef.h>
#include <stdint.h>

#include <parley/abi.h>

enum eio_type {
    EIO_OPEN = 0,
    EIO_CLOSE = 1,
    EIO_PING = 2,
    EIO_PONG = 3,
    EIO_MESSAGE = 4,
    EIO_UPGRADE = 5,
    EIO_NOOP = 6
};

/* Fixed server packets, as they go on the wire (WebSocket or polling). */
#define EIO_PKT_CLOSE "1"
#define EIO_PKT_PING "2"
#define EIO_PKT_PONG_PROBE "3probe"
#define EIO_PKT_NOOP "6"

/* Limits. Defaults (eio_limits_default): see each field. */
typedef struct eio_limits {
    size_t max_packets;       /* per polling payload; default 1000 (P04) */
    size_t max_decoded_bytes; /* data bytes per payload or frame, after base64
                                 decoding; default 1000000 (maxPayload) */
    int validate_utf8;        /* refuse invalid UTF-8 in text; default 1 */
} eio_limits;

void eio_limits_default(eio_limits *lim);

/* One decoded packet. `data` points into the caller's buffer (for binary
 * packets from a polling payload or a text frame: the base64 decoded in
 * place). Valid until the buffer changes. */
typedef struct eio_packet {
    int type;            /* enum eio_type */
    int binary;          /* 1: data is bytes (type is EIO_MESSAGE) */
    int probe;           /* 1: a ping or pong whose data is exactly "probe" */
    const uint8_t *data; /* the packet data after the type byte / base64 */
    size_t len;
} eio_packet;

/*
 * Decode one WebSocket frame. `binary` says which opcode carried it. The
 * buffer is mutable because a text "b<base64>" frame is decoded in place.
 * Returns 0, or PARLEY_EPROTO (malformed), PARLEY_ETOOBIG (over
 * max_decoded_bytes), PARLEY_EINVAL (NULL arguments).
 */
int eio_decode_frame(uint8_t *buf, size_t len, int binary, const eio_limits *lim,
                     eio_packet *out, parley_error *err);

/* Called once per packet of a payload, in order. Return 0 to continue or a
 * negative status (filling err) to stop; decoding then returns that status. */
typedef int (*eio_packet_cb)(void *arg, const eio_packet *pkt, parley_error *err);

/*
 * Decode a long-polling payload (a POST body). Base64 segments are decoded
 * in place. Returns the number of packets (>= 1) handed to cb, or a negative
 * status: PARLEY_EPROTO (malformed; nothing was handed to cb), PARLEY_ELIMIT
 * (more than max_packets), PARLEY_ETOOBIG (over max_decoded_bytes), or what
 * cb returned.
 */
int eio_decode_payload(uint8_t *body, size_t len, const eio_limits *lim, eio_packet_cb cb,
                       void *arg, parley_error *err);

/* ---- encoding ---------------------------------------------------------- */

/* Bytes one packet takes in a polling payload: 1 + len for text,
 * 1 + base64 length for binary. SIZE_MAX on overflow. */
size_t eio_polling_packet_size(int binary, size_t len);

/*
 * Append-only polling payload builder over a caller buffer. Compute the
 * total first (eio_polling_packet_size per packet + one separator between
 * packets), allocate once, then add: each add is O(packet), never a
 * re-copy. A packet that does not fit is refused (PARLEY_ETOOBIG) and the
 * builder is left unchanged; so is a text packet whose data contains the
 * separator 0x1e (PARLEY_EINVAL), which would split it on the client.
 */
typedef struct eio_builder {
    char *buf;
    size_t cap;
    size_t len;
    size_t count; /* packets added */
} eio_builder;

void eio_builder_init(eio_builder *b, char *buf, size_t cap);
/* A text packet: type digit + data. */
int eio_builder_add(eio_builder *b, int type, const void *data, size_t len, parley_error *err);
/* An already encoded text packet (type digit included), e.g. the shared
 * "42[...]" frame of a broadcast. Refused (PARLEY_EINVAL) when empty, when
 * the first byte is not a type digit, or when it contains 0x1e. */
int eio_builder_add_encoded(eio_builder *b, const void *pkt, size_t len, parley_error *err);
/* A binary message: "b" + base64(data). */
int eio_builder_add_binary(eio_builder *b, const void *data, size_t len, parley_error *err);

/*
 * One text packet for a WebSocket frame (or a one-packet polling body):
 * type digit + data into buf. *written gets the length. Returns 0,
 * PARLEY_ETOOBIG (buf too small) or PARLEY_EINVAL (bad type).
 */
int eio_encode_packet(int type, const void *data, size_t len, char *buf, size_t cap,
                      size_t *written, parley_error *err);

/* The open packet's fields. `sid` must be 1..EIO_SID_MAX characters of
 * [A-Za-z0-9_-] (it is written into JSON without escaping). */
typedef struct eio_open {
    const char *sid;
    int upgrade_websocket; /* 1: "upgrades":["websocket"] (polling), 0: [] */
    uint32_t ping_interval_ms;
    uint32_t ping_timeout_ms;
    uint32_t max_payload;
} eio_open;

/* Longest open packet eio_encode_open can write (with a sid of EIO_SID_MAX). */
#define EIO_OPEN_MAX 256

/* 0{"sid":"…","upgrades":[…],"pingInterval":N,"pingTimeout":N,"maxPayload":N}
 * — exactly these keys, in this order. */
int eio_encode_open(const eio_open *o, char *buf, size_t cap, size_t *written, parley_error *err);

/* ---- handshake query and errors --------------------------------------- */

/* The Engine.IO error codes and the HTTP status each is answered with. */
enum eio_error_code {
    EIO_ERR_TRANSPORT_UNKNOWN = 0,   /* 400 "Transport unknown" */
    EIO_ERR_SESSION_ID_UNKNOWN = 1,  /* 400 "Session ID unknown" */
    EIO_ERR_BAD_HANDSHAKE_METHOD = 2, /* 400 "Bad handshake method" */
    EIO_ERR_BAD_REQUEST = 3,         /* 400 "Bad request" */
    EIO_ERR_FORBIDDEN = 4,           /* 403 "Forbidden" */
    EIO_ERR_UNSUPPORTED_VERSION = 5  /* 400 "Unsupported protocol version" */
};

/* The message of a code, "Unknown error" outside 0..5. */
const char *eio_error_message(int code);
/* 403 for EIO_ERR_FORBIDDEN, 400 for every other code. */
int eio_error_http_status(int code);
/* The JSON body {"code":N,"message":"…"} into buf (NUL-terminated).
 * Returns 0 or PARLEY_ETOOBIG; *written (may be NULL) gets the length. */
int eio_error_body(int code, char *buf, size_t cap, size_t *written);

enum eio_transport {
    EIO_TRANSPORT_NONE = 0,
    EIO_TRANSPORT_POLLING = 1,
    EIO_TRANSPORT_WEBSOCKET = 2
};

#define EIO_SID_MAX 64 /* the longest sid the codec accepts or writes */

/* True when sid[0..len) is 1..EIO_SID_MAX characters of [A-Za-z0-9_-]. */
int eio_sid_valid(const char *sid, size_t len);

typedef struct eio_query {
    int transport;       /* enum eio_transport */
    const char *sid;     /* points into the query string; NULL when absent */
    size_t sid_len;
    int error_code;      /* enum eio_error_code when parsing failed, else -1 */
} eio_query;

/*
 * Parse the raw query string of an Engine.IO request (a leading '?' is
 * skipped; '#' ends it). Only EIO, transport and sid are read; every other
 * key (t, j, b64, ...) is ignored. Values are compared raw: no
 * percent-decoding, so "polling%00" is not "polling" and a sid containing
 * '%' is malformed.
 *   transport  exactly "polling" or "websocket", else code 0
 *   EIO        exactly "4" ("04", "4abc", "", missing: code 5)
 *   sid        optional; 1..EIO_SID_MAX of [A-Za-z0-9_-], else code 1
 *              (an empty "sid=" is an error too, not a handshake)
 * A repeated EIO, transport or sid is an error with that key's code (the
 * reference server sees an array there and fails the same way), so
 * "EIO=4&EIO=4" is code 5 and "sid=a&sid=b" code 1.
 * Checks run in this order: transport, EIO, sid.
 * Returns 0, or PARLEY_EPROTO with out->error_code set.
 */
int eio_parse_query(const char *q, size_t len, eio_query *out, parley_error *err);

#endif
