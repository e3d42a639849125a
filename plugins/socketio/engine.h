/*
 * Engine.IO v4 server (docs/engineio.md): the handshake, HTTP long-polling,
 * WebSocket, the polling → WebSocket upgrade, the server-driven heartbeat,
 * CORS and origin checks, on one path of the host's listener. The Socket.IO
 * layer (socketio.c, sio_*.c) sits on top and sees sessions, messages and
 * closes; it never sees transports.
 *
 * Built only on the SDK (the parley/ headers) and the protocol codec (codec/eio.h).
 * Everything here runs on the loop thread.
 *
 * Sending: a WebSocket session hands the shared frame to conn_send (the
 * host queues it by reference and writes the queue in one call); a polling
 * session keeps a bounded ring of frame references and drains all of it
 * into the next (or the held) GET response. Nothing is allocated per
 * delivery beyond the ring's occasional doubling.
 */
#ifndef PARLEY_SIO_ENGINE_H
#define PARLEY_SIO_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include <parley/parley.h>

struct eio_server;
struct eio_socket;

struct eio_options {
    const char *path;            /* "/socket.io/"; exact path of the route and the endpoint */
    uint64_t ping_interval_ms;   /* 25000 */
    uint64_t ping_timeout_ms;    /* 20000 */
    uint64_t upgrade_timeout_ms; /* 10000 */
    size_t max_payload;          /* maxHttpBufferSize, 1000000: 413 on polling, close 1009 on ws */
    size_t send_queue_max;       /* per-session byte cap of the polling buffer; past it the
                                    session is closed "slow consumer" (WebSocket sessions are
                                    capped by the host's listener.send_queue_max) */
    int allow_polling, allow_websocket;                    /* both 1 */
    const char *const *cors_origins; size_t n_cors_origins; /* allowlist; "*" = any */
    int cors_credentials;        /* Access-Control-Allow-Credentials: true */
};

/* Fill `o` with the defaults above (path "/socket.io/", no origins). */
void eio_options_default(struct eio_options *o);

struct eio_callbacks {
    /* Handshake done; the open packet is on its way. */
    void (*on_open)(void *arg, struct eio_socket *s);
    /* One message packet: text without its "4", or binary bytes. `data` is
     * valid only during the call. */
    void (*on_message)(void *arg, struct eio_socket *s, const void *data, size_t len, int binary);
    /* Exactly once per opened session; `s` is gone after this returns.
     * Reasons as engine.io names them: "transport close", "transport error",
     * "ping timeout", "parse error", "forced close", "server shutting down",
     * "slow consumer", or what eio_close was given. */
    void (*on_close)(void *arg, struct eio_socket *s, const char *reason);
};

/* Copies `o` (strings included) and `cb`. Registers nothing yet. */
int eio_server_create(const parley_host_api *api, parley_host *host, const struct eio_options *o,
                      const struct eio_callbacks *cb, void *cb_arg, struct eio_server **out,
                      parley_error *err);
/* Registers the HTTP route and the WebSocket endpoint on o->path. */
int eio_server_start(struct eio_server *srv, parley_error *err);
/* Close every session with `reason` (a held GET gets "1", a WebSocket a
 * 1001 close); later handshakes are refused with 503. */
void eio_server_drain(struct eio_server *srv, const char *reason);
/* Closes what is left (on_close runs for each), frees everything. Call it
 * after the host closed the listener (plugin destroy), never from a callback. */
void eio_server_destroy(struct eio_server *srv);

/*
 * Send one complete Engine.IO packet held by `frame`, shared by reference
 * (retained here, released once written). eio_send_frame takes a text
 * packet ("4..."); a binary message frame (raw bytes, no type byte) goes
 * through eio_send_frame_binary, because the SDK gives a plugin no way to
 * read a frame's binary flag and polling must encode it as "b"+base64.
 * Returns 0, PARLEY_ECLOSED (session gone or closing), PARLEY_ELIMIT (slow
 * consumer: the session is being closed), PARLEY_EINVAL.
 */
int eio_send_frame(struct eio_socket *s, parley_frame *frame);
int eio_send_frame_binary(struct eio_socket *s, parley_frame *frame);
int eio_send_frame_as(struct eio_socket *s, parley_frame *frame, int binary);
/* Convenience: copy into a new "4"+data text packet / a binary message. */
int eio_send_text(struct eio_socket *s, const char *data, size_t len);
int eio_send_binary(struct eio_socket *s, const void *data, size_t len);

/* Close the session (polling: the held GET gets "1"; WebSocket: close 1000).
 * on_close runs before this returns. Safe from inside on_message. */
void eio_close(struct eio_socket *s, const char *reason);

void eio_set_user(struct eio_socket *s, void *user);
void *eio_get_user(const struct eio_socket *s);
const char *eio_sid(const struct eio_socket *s);
const char *eio_transport(const struct eio_socket *s);  /* "polling" or "websocket" */
/* The peer's address as the first request or the WebSocket saw it. */
const char *eio_remote_addr(const struct eio_socket *s);
/* Sessions open right now. */
size_t eio_server_sessions(const struct eio_server *srv);

#endif
