/*
 * Engine.IO server internals shared by engine.c (sessions, heartbeat,
 * sending), engine_polling.c (the HTTP route) and engine_ws.c (the
 * WebSocket endpoint and the upgrade). Not for the Socket.IO layer.
 */
#ifndef PARLEY_SIO_ENGINE_INT_H
#define PARLEY_SIO_ENGINE_INT_H

#include "engine.h"
#include "eio.h"

#define EIO_SID_BYTES 16   /* 128 bits from the CSPRNG, base64url: 22 characters */
#define EIO_SID_LEN 22
#define EIO_ORIGIN_MAX 512
#define EIO_CLOSED_KEEP 16
#define EIO_CLOSED_GRACE_MS 1000

enum eio_state { EIO_S_OPEN = 1, EIO_S_CLOSED = 2 };

/* What a WebSocket connection is to us. */
enum eio_ws_role {
    EIO_WS_NEW = 1,     /* a handshake over WebSocket: becomes a session on open */
    EIO_WS_PROBE = 2,   /* an upgrade attempt of a polling session */
    EIO_WS_ACTIVE = 3,  /* the transport of a session */
    EIO_WS_REJECT = 4,  /* a second WebSocket for a session: 101, then closed */
    EIO_WS_DETACHED = 5 /* its session is gone; waiting for on_close */
};

/* Protocol errors, counted by reason (parley_eio_protocol_errors_total). */
enum eio_perr {
    EIO_PE_UNKNOWN_TRANSPORT, EIO_PE_UNKNOWN_SID, EIO_PE_BAD_METHOD, EIO_PE_BAD_REQUEST,
    EIO_PE_FORBIDDEN, EIO_PE_BAD_VERSION, EIO_PE_PARSE, EIO_PE_HEARTBEAT, EIO_PE_OVERLAP,
    EIO_PE_TRANSPORT_MISMATCH, EIO_PE_INVALID_CONTENT, EIO_PE_BAD_ORIGIN, EIO_PE_UPGRADE,
    EIO_PE_COUNT
};

struct eio_ws {
    struct eio_server *srv;
    parley_conn *conn;        /* NULL until on_open */
    struct eio_socket *s;     /* PROBE / ACTIVE: the session (holds a reference) */
    int role;                 /* enum eio_ws_role */
    int closing;              /* we called conn_close */
    struct eio_ws *prev, *next;
};

/* One queued packet of a polling session. */
struct eio_qent {
    parley_frame *frame;
    uint32_t size;            /* its bytes in a polling payload (type/b64 included) */
    uint8_t binary;
};

struct eio_socket {
    struct eio_server *srv;
    char sid[EIO_SID_LEN + 1];
    char remote[64];
    int transport;            /* EIO_TRANSPORT_POLLING / _WEBSOCKET */
    int state;                /* enum eio_state */
    unsigned refs;            /* the table's, each eio_ws's, each dispatch in progress */
    void *user;

    /* heartbeat (monotonic loop ms) */
    parley_timer *hb_timer;
    uint64_t next_ping_at;    /* when the next ping is due (no ping outstanding) */
    uint64_t pong_deadline;   /* a ping is outstanding: no pong by then closes */
    int ping_outstanding;

    /* polling */
    parley_http_request *get; /* the held GET, or NULL */
    char get_origin[EIO_ORIGIN_MAX]; /* its allowed Origin, for the CORS headers ("" none) */
    struct eio_qent *q;       /* ring */
    size_t q_cap, q_head, q_count, q_bytes;
    parley_memory *mem;       /* q_bytes in listener.client_memory_max (host 1.1+), or NULL */
    int dispatching;          /* inside a POST: sends queue, one flush at the end */
    int flush_queued;         /* on the server's flush list */
    struct eio_socket *fprev, *fnext;

    /* websocket */
    struct eio_ws *ws;        /* ACTIVE */
    struct eio_ws *probe;     /* PROBE while upgrading */
    int probed;               /* the probe said 2probe: pending GETs get "6" */
    parley_timer *upgrade_timer;
    int slow;                 /* conn_send said ELIMIT */

    struct eio_socket *hnext;            /* sid hash chain */
    struct eio_socket *prev, *next;      /* all sessions */
};

struct eio_metrics {
    parley_metric *sessions_polling, *sessions_ws;
    parley_metric *opened_polling, *opened_ws;
    parley_metric *upgrades, *upgrade_failures, *ping_timeouts;
    parley_metric *slow_polling, *slow_ws;
    parley_metric *perr[EIO_PE_COUNT];
};

struct eio_server {
    const parley_host_api *api;
    parley_host *host;
    struct eio_options o;
    char *path;
    char **origins;
    size_t n_origins;
    int any_origin;
    struct eio_callbacks cb;
    void *cb_arg;
    eio_limits lim;
    int started, draining, destroying;

    struct eio_socket **buckets;
    size_t n_buckets;
    size_t n_sessions;
    struct eio_socket *sessions;
    struct eio_ws *wss;

    /* Polling sessions with a held GET and something new queued: flushed
     * together by a zero timer, so a burst sent from one callback (a
     * fan-out, say) leaves in one response per session. */
    parley_timer *flush_timer;
    struct eio_socket *flush_list;

    uint8_t *scratch;         /* polling responses */
    size_t scratch_cap;
    uint8_t *body;            /* a POST body copied to decode base64 in place */
    size_t body_cap;

    /* Sessions the client closed ("1") while no GET was held: the GET it
     * may have had in flight, arriving just after, gets "6" instead of a
     * 400 (once, within EIO_CLOSED_GRACE_MS). */
    struct { char sid[EIO_SID_LEN + 1]; uint64_t at; } closed[EIO_CLOSED_KEEP];
    unsigned closed_next;

    struct eio_metrics m;
};

/* engine.c */
struct eio_socket *eio__session_new(struct eio_server *srv, int transport, const char *remote);
struct eio_socket *eio__session_find(struct eio_server *srv, const char *sid, size_t len);
void eio__session_ref(struct eio_socket *s);
void eio__session_unref(struct eio_socket *s);
/* Close with `reason`; a WebSocket gets `ws_code`; a held GET gets "1", or
 * "6" when the client itself closed (`client_close`). */
void eio__session_close(struct eio_socket *s, const char *reason, int ws_code, int client_close);
/* Run the heartbeat clock now; returns -1 if the session was closed (ping timeout). */
int eio__heartbeat_check(struct eio_socket *s);
void eio__heartbeat_start(struct eio_socket *s);
void eio__on_pong(struct eio_socket *s);
/* Drain the polling queue into the held GET (if any); also answers "6"
 * to a held GET while an upgrade probe is done. */
void eio__poll_flush(struct eio_socket *s);
/* Hand every queued packet to the active WebSocket (after the upgrade). */
void eio__queue_to_ws(struct eio_socket *s);
void eio__queue_drop(struct eio_socket *s);
/* Grow *buf to hold n bytes (+1); 0 or PARLEY_ENOMEM. */
/* A GET for a sid the client closed a moment ago: 1 (answer "6") once. */
int eio__closed_recently(struct eio_server *srv, const char *sid, size_t len);
int eio__buf_reserve(uint8_t **buf, size_t *cap, size_t n);
void eio__perr(struct eio_server *srv, int which);
void eio__sessions_gauge(struct eio_server *srv, int transport, double delta);
/* The message packet of a decoded packet, for the Socket.IO layer. */
void eio__deliver_message(struct eio_socket *s, const eio_packet *pkt);

/* engine_polling.c */
int eio__http_on_request(void *arg, parley_http_request *req);
void eio__http_on_abort(void *arg, parley_http_request *req, void *req_ctx);
/* Answer the held GET with `body` (type digits already there). */
void eio__poll_respond_get(struct eio_socket *s, const void *body, size_t len);
/* The origin policy: 0 allowed (or no Origin), EIO_ERR_FORBIDDEN, or
 * EIO_ERR_BAD_REQUEST for an origin with control characters. */
int eio__origin_check(struct eio_server *srv, const char *origin, int have);

/* engine_ws.c */
int eio__ws_on_upgrade(void *arg, parley_http_request *req, void **conn_ctx, parley_error *err);
void eio__ws_on_open(void *arg, parley_conn *conn, void *conn_ctx);
void eio__ws_on_message(void *arg, parley_conn *conn, void *conn_ctx, const void *data,
                        size_t len, int binary);
void eio__ws_on_close(void *arg, parley_conn *conn, void *conn_ctx, int code);
void eio__ws_close(struct eio_ws *w, int code, const char *reason);
/* Detach a WebSocket from its session (drops the session's reference). */
void eio__ws_detach(struct eio_ws *w);
void eio__upgrade_abort(struct eio_socket *s, const char *why);

#endif
