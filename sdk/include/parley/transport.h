/*
 * Parley plugin SDK — transports: HTTP routes, WebSocket endpoints, shared
 * frames, chat events and the transport vtable.
 *
 * The host owns the one listening port. A transport registers HTTP routes
 * and WebSocket endpoints by path prefix (host.h `http_route_add`,
 * `ws_endpoint_add`); the longest matching prefix wins. Transports own
 * protocol framing only: rooms, membership, presence, validation, fan-out
 * and persistence are host services (host.h, "chat").
 *
 * Fan-out: for each broadcast the host calls the transport's `encode` once,
 * producing one reference-counted frame, then `deliver` once per member
 * session of that transport. `deliver` queues the frame by reference (host
 * `conn_send` retains it); nothing is copied or allocated per delivery.
 *
 * Every callback here runs on the loop thread.
 */
#ifndef PARLEY_TRANSPORT_H
#define PARLEY_TRANSPORT_H

#include "abi.h"
#include "storage.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct parley_http_request parley_http_request; /* one HTTP request */
typedef struct parley_conn parley_conn;                 /* one WebSocket connection */
typedef struct parley_frame parley_frame;               /* a shared, ref-counted payload */
typedef struct parley_memory parley_memory;             /* bytes a transport holds for a client, since 1.1 */
typedef struct parley_session parley_session;           /* a chat participant (host.h) */
typedef struct parley_client parley_client;             /* a client on one namespace (custom events) */

/* One response header. Since 1.0. */
typedef struct parley_http_header {
    const char *name;
    const char *value;
} parley_http_header;

/*
 * An HTTP route: every request whose path starts with `prefix` (and no
 * longer registered prefix) reaches on_request once its whole body has
 * arrived. A body over `max_body` is refused with 413 by the host before
 * the handler runs; a chunked body with 411. Since 1.0.
 */
typedef struct parley_http_route {
    uint32_t struct_size;   /* sizeof(parley_http_route), since 1.0 */
    const char *prefix;     /* e.g. "/api/"; "/" catches everything unclaimed, since 1.0 */
    size_t max_body;        /* bytes; 0 = the host's listener.max_body, since 1.0 */

    /*
     * Handle a request. The handler answers with http_respond (now or, after
     * http_hold, later). A return < 0 makes the host answer 500 if nothing
     * was sent yet. Loop thread.
     */
    int (*on_request)(void *arg, parley_http_request *req);

    /* A held request's peer went away, or the host is shutting down: `req`
     * is gone after this returns; do not respond to it. Optional. Loop thread. */
    void (*on_abort)(void *arg, parley_http_request *req, void *req_ctx);

    void *arg;              /* passed back to the callbacks, since 1.0 */
} parley_http_route;

/*
 * A WebSocket endpoint: upgrade requests whose path starts with `prefix`.
 * Messages are reassembled from fragments up to `max_message` bytes; a
 * larger one closes the connection with 1009. Text messages are valid
 * UTF-8 (the host closes with 1007 otherwise). Since 1.0.
 */
typedef struct parley_ws_endpoint {
    uint32_t struct_size;   /* sizeof(parley_ws_endpoint), since 1.0 */
    const char *prefix;     /* since 1.0 */
    size_t max_message;     /* bytes; 0 = the host's listener.max_message, since 1.0 */

    /*
     * Decide on an upgrade before the 101 is sent. Return 0 to accept (and
     * set *conn_ctx, handed to every later callback), or an HTTP status in
     * 400..599 to refuse; err->message then becomes the text/plain body.
     * Subprotocols (Sec-WebSocket-Protocol) are not offered: the host
     * refuses such upgrades with 400.
     * The request's accessors are valid only during this call. Loop thread.
     */
    int (*on_upgrade)(void *arg, parley_http_request *req, void **conn_ctx, parley_error *err);

    /* The connection is established. Loop thread. */
    void (*on_open)(void *arg, parley_conn *conn, void *conn_ctx);

    /* One complete message; `data` is valid only during the call. Loop thread. */
    void (*on_message)(void *arg, parley_conn *conn, void *conn_ctx,
                       const void *data, size_t len, int binary);

    /* The connection is closed (`code` is the close status, 1006 when the
     * peer vanished); `conn` is gone after this returns. Also called, with
     * 1006 and without on_open before it, when the handshake fails after
     * on_upgrade accepted: free conn_ctx here. Loop thread. */
    void (*on_close)(void *arg, parley_conn *conn, void *conn_ctx, int code);

    void *arg;              /* since 1.0 */
} parley_ws_endpoint;

/* ---------------------------------------------------------------------
 * Chat events, as the host fans them out.
 * ------------------------------------------------------------------- */

enum parley_event_type {
    PARLEY_EVENT_MESSAGE = 1,      /* a stored message: `message` is set */
    PARLEY_EVENT_USER_JOINED = 2,  /* presence: `username` joined `room` */
    PARLEY_EVENT_USER_LEFT = 3,    /* presence: `username` left `room` */
    PARLEY_EVENT_TYPING = 4        /* `username` started/stopped typing: `is_typing` */
};

/* One event for a room. Valid only during encode. Since 1.0. */
typedef struct parley_event {
    uint32_t struct_size;            /* sizeof(parley_event), since 1.0 */
    uint32_t type;                   /* enum parley_event_type, since 1.0 */
    const char *room;                /* since 1.0 */
    size_t room_len;
    const char *username;            /* the actor, since 1.0 */
    size_t username_len;
    int64_t timestamp_ms;            /* Unix ms, since 1.0 */
    const parley_message *message;   /* PARLEY_EVENT_MESSAGE only, else NULL, since 1.0 */
    int is_typing;                   /* PARLEY_EVENT_TYPING only, since 1.0 */
} parley_event;

/* ---------------------------------------------------------------------
 * Custom events and namespaces, beyond the chat contract.
 *
 * A plugin registers event handlers on a namespace (host.h
 * event_handler_add); a transport with namespaces (Socket.IO) opens a
 * client per namespace connection (client_open), hands every event the
 * chat contract does not cover to client_event, and sends what handlers
 * emit through its client_emit / client_ack slots. So a handler works over
 * every such transport, and a third transport gets them for free.
 * ------------------------------------------------------------------- */

/* One binary attachment. Since 1.0. */
typedef struct parley_blob {
    const void *data;
    size_t len;
} parley_blob;

/*
 * The arguments of an event or an acknowledgement: a JSON array (the event
 * name excluded). A binary argument stands in the array as
 * {"_placeholder":true,"num":i} and is attachments[i]. Valid only during
 * the call that hands it over. Since 1.0.
 */
typedef struct parley_event_args {
    uint32_t struct_size;            /* sizeof(parley_event_args), since 1.0 */
    const char *json;                /* a JSON array, since 1.0 */
    size_t json_len;
    const parley_blob *attachments;  /* since 1.0 */
    size_t n_attachments;
} parley_event_args;

/* No acknowledgement was asked for. */
#define PARLEY_NO_ACK (-1)

/*
 * Completion of host.h client_emit_ack, on the loop thread, exactly once:
 * status 0 with the client's `reply` (valid only during the call),
 * PARLEY_ETIMEDOUT when no reply came in time, or PARLEY_ECLOSED when the
 * client left first (reply NULL then).
 */
typedef void (*parley_ack_done)(void *arg, int status, const parley_event_args *reply);

/*
 * Handlers for one namespace. Registering any handler makes the namespace
 * exist; a client that asks for a namespace nobody registered is refused
 * ("Invalid namespace"). The chat's namespace "/" always exists. All
 * callbacks run on the loop thread. Since 1.0.
 */
typedef struct parley_event_handler {
    uint32_t struct_size;     /* sizeof(parley_event_handler), since 1.0 */
    const char *namespace_name; /* "/" or e.g. "/custom", since 1.0 */
    const char *event;        /* the event handled by on_event; NULL: connect/disconnect only, since 1.0 */

    /* A client connected; `auth` is [<auth object>] or []. Optional. */
    void (*on_connect)(void *arg, parley_client *client, const parley_event_args *auth);

    /* `event` arrived. ack_id is PARLEY_NO_ACK, or an id to answer once with
     * host.h client_ack. Required when `event` is set. */
    void (*on_event)(void *arg, parley_client *client, const char *event,
                     const parley_event_args *args, int64_t ack_id);

    /* The client left; `client` is gone after this returns. Optional. */
    void (*on_disconnect)(void *arg, parley_client *client);

    void *arg;                /* since 1.0 */
} parley_event_handler;

/*
 * What a transport provides (descriptor.vtable when kind is
 * PARLEY_PLUGIN_TRANSPORT). A transport that never opens chat sessions
 * (REST, say) may leave encode and deliver NULL. Since 1.0.
 */
typedef struct parley_transport_vtable {
    uint32_t struct_size;   /* sizeof(parley_transport_vtable), since 1.0 */

    /*
     * Encode `ev` once for all of this transport's sessions in the room.
     * Return a new frame (the host releases it after the deliveries), or
     * NULL to skip this event for this transport. Loop thread.
     */
    parley_frame *(*encode)(void *instance, const parley_event *ev);

    /*
     * Queue `frame` for one member session (its session_ctx from
     * session_open). The frame is borrowed: retain it (conn_send does) to
     * keep it past the call. Loop thread; must not allocate per call on the
     * hot path.
     */
    void (*deliver)(void *instance, void *session_ctx, parley_frame *frame);

    /*
     * Shutdown has begun: tell this transport's clients `reason` and stop
     * taking new work. The host closes WebSocket connections itself after
     * this returns. Optional. Loop thread.
     */
    void (*drain)(void *instance, const char *reason);

    /*
     * Send a custom event from a handler to one client (its client_ctx from
     * client_open). `ack_id` is PARLEY_NO_ACK, or the id (0..2^32-1) under
     * which the transport hands the client's acknowledgement back with
     * host.h client_ack_reply. Optional: NULL for a transport without
     * custom events. 0, or PARLEY_ECLOSED / PARLEY_ELIMIT. Loop thread.
     */
    int (*client_emit)(void *instance, void *client_ctx, const char *event,
                       const parley_event_args *args, int64_t ack_id);

    /* Answer the client's acknowledgement request `ack_id`. Optional, with
     * client_emit. Loop thread. */
    int (*client_ack)(void *instance, void *client_ctx, int64_t ack_id,
                      const parley_event_args *args);
} parley_transport_vtable;

#ifdef __cplusplus
}
#endif

#endif /* PARLEY_TRANSPORT_H */
