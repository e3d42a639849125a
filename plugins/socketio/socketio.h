/*
 * The Socket.IO v5 transport: internal types shared by socketio.c (plugin
 * lifecycle, vtable), sio_conn.c (per-connection protocol state),
 * sio_chat.c (the chat contract) and sio_events.c (custom events).
 *
 * Layering: engine.[ch] speaks Engine.IO v4 (handshake, polling,
 * WebSocket, upgrade, heartbeat) and hands us whole messages; codec/ parses
 * and encodes Socket.IO packets; this layer keeps the state the codec
 * cannot: which namespaces a connection joined, its chat session, the
 * connect timeout.
 *
 * Lifetime: a sio_conn is created in eio on_open and holds one reference
 * for the engine; asynchronous chat work (history, post) holds one more
 * each. The engine's on_close tears the protocol state down at once (chat
 * session closed, clients closed) and drops the engine's reference; the
 * struct is freed with the last reference. A conn whose `closed` is set
 * sends nothing. Loop thread only.
 */
#ifndef PARLEY_SOCKETIO_H
#define PARLEY_SOCKETIO_H

#include <stddef.h>
#include <stdint.h>

#include <parley/parley.h>

#include "engine.h"
#include "sio.h"

#define SIO_COMPONENT "socketio"

struct sio_plugin {
    const parley_host_api *api;
    parley_host *host;
    const parley_config *cfg;
    struct eio_server *eio;
    struct eio_options eo;
    char **cors;                 /* the origins, copied */
    size_t n_cors;
    char *path;
    sio_limits lim;
    uint64_t connect_timeout_ms;
    size_t max_namespaces;       /* per connection */
    size_t pending_max;          /* bytes buffered while a namespace connects */
    size_t max_connect_bytes;    /* a message before any namespace is joined */
    uint32_t event_rate;         /* events/s per connection (token refill); 0: no limit */
    uint32_t event_burst;        /* token bucket size */
    int draining;
    size_t conns;                /* open connections */

    parley_metric *m_connections;     /* gauge */
    parley_metric *m_protocol_errors; /* counter */
    parley_metric *m_events;          /* counter: events from clients */
    parley_metric *m_rate_limited;    /* counter: events refused by the rate limit */
};

struct sio_pending;

/* One namespace a connection joined (or is joining). */
struct sio_ns {
    struct sio_ns *next;
    struct sio_conn *conn;
    parley_client *client;       /* host custom-event client, once open */
    int connecting;              /* inside client_open: emits are buffered */
    struct sio_pending *pend, **pend_tail;
    size_t pend_bytes;
    size_t nsp_len;
    char nsp[];                  /* NUL-terminated */
};

struct sio_conn {
    struct sio_plugin *pl;
    struct eio_socket *s;        /* NULL once closed */
    sio_decoder dec;
    struct sio_ns *nss;
    size_t n_ns;
    parley_timer *connect_timer;
    parley_session *session;     /* chat on "/" */
    char *room;                  /* the room joined last (chat), NULL before join-chat */
    /* Between a join and its join-confirmed (the history read), the room's
     * frames wait here, in order, so the client sees join-confirmed first. */
    unsigned joining;            /* join-chat calls whose join-confirmed is not out yet */
    parley_frame **held;
    size_t n_held, cap_held;
    unsigned refs;
    int closed;                  /* the engine's on_close has run */
    int failing;                 /* we asked the engine to close */
    /* Event rate limit: a token bucket in thousandths of an event. */
    uint64_t tokens_milli;
    uint64_t tokens_at_ms;
    uint32_t refused_in_a_row;
};

/* ---- socketio.c ---- */
void sio_count_error(struct sio_plugin *pl, const char *reason);

/* ---- sio_conn.c ---- */
struct sio_conn *sio_conn_new(struct sio_plugin *pl, struct eio_socket *s);
void sio_conn_on_message(struct sio_conn *c, const void *data, size_t len, int binary);
void sio_conn_on_close(struct sio_conn *c, const char *reason);
void sio_conn_ref(struct sio_conn *c);
void sio_conn_unref(struct sio_conn *c);
/* Close the whole connection for a protocol violation (logged, counted). */
void sio_conn_fail(struct sio_conn *c, const char *reason, const char *detail);
struct sio_ns *sio_conn_find_ns(struct sio_conn *c, const char *nsp, size_t len);

/* Send one Socket.IO packet (and its attachments) on a namespace. While the
 * namespace is connecting, it is buffered. 0, PARLEY_ECLOSED, PARLEY_ELIMIT,
 * PARLEY_EINVAL (err), PARLEY_ENOMEM. */
int sio_ns_send(struct sio_ns *ns, const sio_out *o, const parley_blob *att, size_t n_att,
                parley_error *err);
/* Send what handlers emitted while the namespace was connecting / drop it. */
void sio_ns_flush(struct sio_ns *ns);
void sio_ns_drop_pending(struct sio_ns *ns);
/* Emit ["<event>",<json object or value>] on "/" (server → client, no ack). */
int sio_conn_emit(struct sio_conn *c, const char *event, const char *json, size_t len);
/* Answer ack `id` on "/" with the array `json`. */
int sio_conn_ack(struct sio_conn *c, uint32_t id, const char *json, size_t len);

/* ---- sio_chat.c ---- */
int sio_chat_is_event(const char *name);
void sio_chat_event(struct sio_conn *c, sio_message *m);
parley_frame *sio_chat_encode(struct sio_plugin *pl, const parley_event *ev);
/* While a join waits for its history: keep a room frame for after
 * join-confirmed. 1 when kept (a reference taken), 0 to send it now. */
int sio_chat_hold(struct sio_conn *c, parley_frame *frame);
/* Free what is held without sending it (the connection is gone). */
void sio_chat_drop_held(struct sio_conn *c);
/* {"message":..., "code":...} as an `error` event. */
void sio_chat_error(struct sio_conn *c, int status, const char *code, const char *message);
const char *sio_chat_code(int status);
/* "2026-12-01T07:26:21.123Z" into buf (at least 32 bytes). */
void sio_iso_time(int64_t ms, char *buf, size_t cap);

/* ---- sio_events.c ---- */
/* CONNECT on a namespace: open the host client, answer 40 or 44. */
void sio_events_connect(struct sio_conn *c, sio_message *m);
/* An event the chat does not handle: to the host's handlers. */
void sio_events_dispatch(struct sio_ns *ns, sio_message *m);
/* An ACK from the client: hand it to the host's pending acknowledgement. */
void sio_events_ack_reply(struct sio_ns *ns, sio_message *m);
/* Leave one namespace (DISCONNECT, or the connection closed). Frees ns. */
void sio_events_leave(struct sio_conn *c, struct sio_ns *ns);
int sio_events_client_emit(void *instance, void *client_ctx, const char *event,
                           const parley_event_args *args, int64_t ack_id);
int sio_events_client_ack(void *instance, void *client_ctx, int64_t ack_id,
                          const parley_event_args *args);

#endif /* PARLEY_SOCKETIO_H */
