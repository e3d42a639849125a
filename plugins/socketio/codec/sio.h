/*
 * Socket.IO v5 codec: packets, payload validation, binary reconstruction
 * and encoding. Pure C11 plus cJSON; no I/O. A Socket.IO packet travels as
 * the data of an Engine.IO message packet (the "4" is not part of it here,
 * except when encoding with eio_message = 1).
 *
 *   <type>[<attachments>-][/<nsp>,][<ack id>][<JSON payload>]
 *
 * Decoding is strict; every refusal returns a negative PARLEY_* status and
 * a parley_error that starts with "socket.io packet: " and names the
 * offending value:
 *   PARLEY_EPROTO  malformed (the connection must be closed)
 *   PARLEY_ELIMIT  a count over its limit (attachments, JSON depth/values)
 *   PARLEY_ETOOBIG a length over its limit (namespace, event name,
 *                  attachment bytes)
 *   PARLEY_ENOMEM  out of memory
 *
 * Rules beyond the grammar (and where they are stricter than the reference
 * JavaScript parser, on purpose):
 *   - type '0'..'6'; CONNECT_ERROR (4) is refused unless
 *     accept_connect_error (a server never receives it legitimately);
 *   - attachment count: digits then '-', no leading zero, at most
 *     max_attachments, decided before anything is allocated; big digit runs
 *     stop at the first digit past the limit (linear, no overflow);
 *   - namespace: '/' up to ',' or the end, at most max_nsp_len bytes
 *     (found by a bounded scan), no control bytes (0x00..0x1f, 0x7f);
 *     whether the namespace exists is the caller's business (CONNECT to an
 *     unknown one is answered with CONNECT_ERROR, not a decode error);
 *   - ack id: decimal, no leading zero, at most UINT32_MAX (overflow is
 *     checked digit by digit); only on EVENT/ACK and their binary forms;
 *     ACK and BINARY_ACK require one;
 *   - payload: CONNECT absent or an object; DISCONNECT none; EVENT and
 *     BINARY_EVENT a non-empty array whose first element is the event name;
 *     ACK and BINARY_ACK an array (possibly empty); CONNECT_ERROR (when
 *     accepted) an object or a string;
 *   - event name: a string of at most max_event_name_len bytes that is not
 *     reserved (connect, connect_error, disconnect, disconnecting,
 *     newListener, removeListener). The spec only says "the event name";
 *     the reference parser also accepts a number, so an integer in JS's
 *     safe range (|n| <= 2^53) is accepted while numeric_event_names is set;
 *     it is replaced in the tree by its decimal text ("7"), the key Node's
 *     EventEmitter files it under. Fractions, exponents that are not integral,
 *     booleans, null, arrays and objects are refused (CVE-2023-32695);
 *   - JSON: a linear pre-scan bounds the nesting depth (max_json_depth) and
 *     the number of values (max_json_nodes) before cJSON runs, and refuses
 *     a "\u0000" escape (cJSON would cut the string there); a UTF-8 BOM and
 *     anything but whitespace after the value are refused; numbers are
 *     doubles (cJSON): one that overflows to infinity (1e999) is refused,
 *     big integers lose precision (ids belong in strings);
 *   - placeholders (BINARY_EVENT/BINARY_ACK only): every object that has a
 *     "_placeholder" key must be exactly {"_placeholder":true,"num":k} with
 *     k an integer, 0 <= k < attachments, and every k in 0..attachments-1
 *     must appear exactly once (the reference encoder always produces that;
 *     anything else is CVE-2022-2421 territory). In EVENT and ACK packets
 *     such objects are ordinary data and never substituted.
 */
#ifndef PARLEY_SIO_SIO_H
#define PARLEY_SIO_SIO_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>
#include <parley/abi.h>

enum sio_type {
    SIO_CONNECT = 0,
    SIO_DISCONNECT = 1,
    SIO_EVENT = 2,
    SIO_ACK = 3,
    SIO_CONNECT_ERROR = 4,
    SIO_BINARY_EVENT = 5,
    SIO_BINARY_ACK = 6
};

/* Limits and switches. Defaults (sio_limits_default) in brackets. */
typedef struct sio_limits {
    uint32_t max_attachments;    /* binary attachments per packet [10] */
    size_t max_nsp_len;          /* namespace bytes, '/' included [128] */
    uint32_t max_json_depth;     /* payload nesting; clamped to 1000, cJSON's
                                    own limit [32] */
    size_t max_json_nodes;       /* values in a payload [10000] */
    size_t max_event_name_len;   /* event name bytes [256] */
    size_t max_attachment_bytes; /* total attachment bytes per packet [4 MiB] */
    int numeric_event_names;     /* accept an integer event name [1] */
    int accept_connect_error;    /* accept CONNECT_ERROR (4) [0] */
} sio_limits;

void sio_limits_default(sio_limits *lim);

/* The reserved event names, NULL-terminated. */
extern const char *const sio_reserved_events[];

/* One decoded packet. Spans point into the decoded buffer, except when the
 * packet came out of a sio_decoder as a binary packet (then into memory the
 * packet owns). `data` is owned: release with sio_packet_clear(). */
typedef struct sio_packet {
    int type;               /* enum sio_type, as on the wire */
    const char *nsp;        /* "/" when the packet names none */
    size_t nsp_len;
    int has_ack;
    uint32_t ack_id;
    uint32_t attachments;   /* BINARY_EVENT / BINARY_ACK */
    const char *payload;    /* the raw JSON text; NULL when absent */
    size_t payload_len;
    cJSON *data;            /* the parsed payload; NULL when absent */
    const char *event;      /* EVENT / BINARY_EVENT: the name, a string in
                               `data` (NUL-terminated) */
    size_t event_len;
    char *owned;            /* internal: owned copy of the namespace */
} sio_packet;

void sio_packet_clear(sio_packet *p);

/*
 * Parse the header only (type, attachments, namespace, ack id) and locate
 * the payload; no JSON is parsed and nothing is allocated. The payload
 * rules that need no parsing are applied (DISCONNECT without payload,
 * EVENT/ACK with one).
 */
int sio_parse_header(const char *buf, size_t len, const sio_limits *lim, sio_packet *out,
                     parley_error *err);

/*
 * Decode one text packet completely: header, pre-scan, cJSON parse, type
 * rules, event name and (for binary types) the placeholder rules. On
 * success the caller owns out->data. On failure *out holds nothing to free.
 * lim may be NULL (defaults).
 */
int sio_decode(const char *buf, size_t len, const sio_limits *lim, sio_packet *out,
               parley_error *err);

/* ---- binary reconstruction -------------------------------------------- */

/* Attachment k of a binary packet: its bytes (owned) and the placeholder
 * object {"_placeholder":true,"num":k} in the packet's tree that stands for
 * it (so a handler can swap in its own representation, or an echo can
 * re-encode the tree as is). */
typedef struct sio_attachment {
    uint8_t *bytes;
    size_t len;
    cJSON *node;
} sio_attachment;

/* A complete packet as handed to handlers. */
typedef struct sio_message {
    sio_packet pkt;
    sio_attachment *att;    /* pkt.attachments entries, NULL for none */
} sio_message;

void sio_message_clear(sio_message *m);

enum sio_decoder_result {
    SIO_PENDING = 0,        /* a binary header arrived; attachments follow */
    SIO_DECODED = 1         /* *out holds a complete packet */
};

/*
 * Per-connection decoder: text packets, and after a BINARY_EVENT/BINARY_ACK
 * header with N attachments exactly N binary buffers. A text packet while
 * attachments are pending and a binary buffer when none are are errors.
 * After any error the decoder is reset (the connection is to be closed).
 */
typedef struct sio_decoder {
    sio_limits lim;
    int reconstructing;
    sio_message pending;
    uint32_t received;
    size_t received_bytes;
} sio_decoder;

void sio_decoder_init(sio_decoder *d, const sio_limits *lim);
/* Drop a half-received binary packet. Call before freeing the decoder. */
void sio_decoder_reset(sio_decoder *d);
/* Returns SIO_DECODED, SIO_PENDING or a negative status. For a non-binary
 * packet the spans of out->pkt point into buf. */
int sio_decoder_text(sio_decoder *d, const char *buf, size_t len, sio_message *out,
                     parley_error *err);
/* Returns SIO_DECODED (the last attachment), SIO_PENDING or a negative
 * status. The bytes are copied. */
int sio_decoder_binary(sio_decoder *d, const uint8_t *buf, size_t len, sio_message *out,
                       parley_error *err);

/* ---- encoding ---------------------------------------------------------- */

/* What to encode. The payload is JSON text the caller already serialised
 * (so a broadcast is encoded once: 42["message-received",{...}]). */
typedef struct sio_out {
    int type;               /* enum sio_type */
    const char *nsp;        /* NULL or "/" for the main namespace (omitted) */
    size_t nsp_len;
    int has_ack;
    uint32_t ack_id;
    uint32_t attachments;   /* BINARY_EVENT / BINARY_ACK only */
    const char *json;       /* payload; NULL / 0 for none */
    size_t json_len;
    int eio_message;        /* 1: prefix the Engine.IO message type "4" */
} sio_out;

/* Exact encoded length (no NUL). */
size_t sio_encoded_size(const sio_out *o);

/*
 * Encode into buf. The JSON is not re-parsed (hot path): only its first
 * byte is checked against the type ('[' for events and acks, '{' for
 * CONNECT and CONNECT_ERROR). Returns 0, PARLEY_EINVAL (a combination the
 * protocol forbids, named in err) or PARLEY_ETOOBIG (buf too small).
 */
int sio_encode(const sio_out *o, char *buf, size_t cap, size_t *written, parley_error *err);

/* ---- handler arguments (sdk transport.h parley_event_args) -------------
 *
 * The SDK hands handlers a JSON array without the event name, binary
 * arguments standing in it as {"_placeholder":true,"num":i} for
 * attachments[i]: exactly a decoded packet's tree (minus the name) and
 * its sio_attachment list, in order.
 */

/*
 * The packet's arguments as JSON text (free with cJSON_free): for EVENT
 * and BINARY_EVENT the array without its first element (the name), for ACK
 * and BINARY_ACK the whole array, for CONNECT [<auth>] or [] (the shape of
 * on_connect's auth). NULL when out of memory or for other types. The tree
 * is left as it was.
 */
char *sio_args_json(sio_packet *p, size_t *len);

/*
 * The payload of an outgoing event: ["<event>",<args...>] from a name and
 * an args array (JSON text "[...]", whitespace allowed around it), so
 * client_emit can be encoded without building a tree. The name is
 * JSON-escaped; a reserved name is refused (PARLEY_EINVAL), as Node's
 * emit() refuses it; args that do not look like an array are PARLEY_EINVAL;
 * a small buffer is PARLEY_ETOOBIG. sio_event_payload_size returns the exact
 * length (no NUL), or 0 for args that are not an array.
 */
size_t sio_event_payload_size(const char *event, size_t event_len, const char *args,
                              size_t args_len);
int sio_event_payload(const char *event, size_t event_len, const char *args, size_t args_len,
                      char *buf, size_t cap, size_t *written, parley_error *err);

/* {"_placeholder":true,"num":k} as text (NUL-terminated; at most
 * SIO_PLACEHOLDER_MAX bytes with the NUL) and as a new cJSON object. */
#define SIO_PLACEHOLDER_MAX 40
int sio_placeholder_write(uint32_t num, char *buf, size_t cap);
cJSON *sio_placeholder_new(uint32_t num);

#endif
