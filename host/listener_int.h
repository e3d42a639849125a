/*
 * Listener internals shared by listener.c (context, routing, the lws
 * callback), listener_http.c (requests) and listener_ws.c (WebSocket
 * connections and the write path). Not for other modules: they use
 * listener.h.
 */
#ifndef PARLEY__LISTENER_INT_H
#define PARLEY__LISTENER_INT_H

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "listener.h"
#include "metrics.h"

#define PARLEY__LOG_COMPONENT "listener"
#define L_DEBUG(...) parley__log(PARLEY_LOG_DEBUG, PARLEY__LOG_COMPONENT, __VA_ARGS__)
#define L_INFO(...)  parley__log(PARLEY_LOG_INFO, PARLEY__LOG_COMPONENT, __VA_ARGS__)
#define L_WARN(...)  parley__log(PARLEY_LOG_WARN, PARLEY__LOG_COMPONENT, __VA_ARGS__)
#define L_ERROR(...) parley__log(PARLEY_LOG_ERROR, PARLEY__LOG_COMPONENT, __VA_ARGS__)

/* Bytes copied into one write batch at most (the shared scratch buffer). */
#define PARLEY__WRITE_BATCH (64 * 1024)
/* A body over the cap by at most this much is read and discarded so the
 * 413 reaches the client on a live keep-alive connection; beyond it the
 * connection is closed after the 413. */
#define PARLEY__DISCARD_MAX (1024 * 1024)

struct parley__route {
    parley_http_route r;        /* the plugin's route, copied */
    size_t prefix_len;
};

struct parley__endpoint {
    parley_ws_endpoint e;
    size_t prefix_len;
};

/* lws per-session data. lws frees and re-zeroes it between keep-alive
 * requests and on the upgrade to WebSocket, so it holds only pointers to
 * our own allocations, and every path that ends a session clears them. */
struct parley__pss {
    struct parley_http_request *req;
    struct parley_conn *conn;
};

struct parley_http_request {
    struct lws *wsi;
    parley_http_route route;    /* copy: the route table may grow meanwhile */
    char method[8];
    char *path;                 /* re-encoded (lws decodes and normalizes) */
    char *query;                /* re-encoded, "" when none */
    char *body;
    size_t body_len, body_cap, max_body;
    uint64_t content_length;
    void *req_ctx;
    uint64_t hold_deadline_ms;  /* monotonic */
    unsigned headers_ok : 1;    /* inside on_request / on_upgrade: lws headers readable */
    unsigned held : 1;
    unsigned responded : 1;     /* http_respond was called (the plugin is done with it) */
    unsigned aborted : 1;       /* on_abort ran: the plugin may not answer any more */
    unsigned host_answer : 1;   /* the host answers an aborted request itself (504, 503) */
    unsigned head : 1;          /* HEAD: no body in the response */
    unsigned keepalive : 1;     /* what lws will do after the response */
    unsigned http10 : 1;
    unsigned close_after : 1;   /* close the connection once the response is out */
    unsigned upgrade : 1;       /* a transient request for on_upgrade */
    unsigned char *resp;        /* LWS_PRE + the whole response */
    size_t resp_len;
    char remote[64];
    struct parley_http_request *prev, *next;
};

struct parley_conn {
    struct lws *wsi;
    parley_ws_endpoint ep;
    void *conn_ctx;
    size_t max_message;
    /* Send queue: a ring of frame pointers, grown by doubling, never per send. */
    parley_frame **ring;
    uint32_t ring_cap, ring_head, ring_count;
    size_t queued;              /* wire bytes in the ring */
    /* Receive: one message being reassembled. */
    unsigned char *rx;
    size_t rx_len, rx_cap;
    int rx_binary;
    int rx_active;
    unsigned rx_frames;         /* frames of the message being reassembled */
    int rx_frame_open;          /* the last piece left part of its frame to come */
    /* Closing. */
    int close_code;             /* ours, once we started a close */
    int peer_code;              /* from the peer's close frame */
    char close_reason[124];
    unsigned closing : 1;       /* a close is pending (after the queue drains) */
    unsigned close_sent : 1;    /* our close frame is written; waiting for the peer's */
    unsigned opened : 1;        /* on_open ran */
    unsigned closed : 1;        /* on_close ran */
    unsigned delivering : 1;    /* rx is being handed to on_message: do not free it */
    char remote[64];
    struct parley_conn *prev, *next;
};

/* Counters and gauges (host/metrics.h); NULL ones are no-ops. */
struct parley__listener_metrics {
    parley_metric *connections;       /* gauge: open TCP connections */
    parley_metric *websockets;        /* gauge: open WebSocket connections */
    parley_metric *refused_limit;     /* connections refused at max_connections */
    parley_metric *refused_draining;  /* connections refused while draining */
    parley_metric *refused_upgrade;   /* upgrades hung up: not websocket, h2c, no endpoint */
    parley_metric *refused_connect;   /* CONNECT requests */
    parley_metric *refused_per_ip;    /* connections refused at max_connections_per_ip */
    parley_metric *refused_rate;      /* connections refused by connect_rate_per_ip */
    parley_metric *ws_shed;           /* WebSockets closed for client_memory_max */
    parley_metric *client_memory;     /* gauge: bytes queued on all WebSockets */
    parley_metric *http_400, *http_404, *http_411, *http_413, *http_503;
    parley_metric *ws_1007, *ws_1009, *ws_slow; /* WebSockets closed for invalid UTF-8, size, slowness */
    parley_metric *ws_writes;         /* lws_write calls on WebSockets */
    parley_metric *ws_frames;         /* frames written */
    parley_metric *ws_bytes;          /* bytes written */
};
#define PARLEY__COUNT(which) parley__metric_add(parley__L.m.which, 1)

struct parley__listener {
    struct parley__listener_metrics m;
    struct parley__listener_options opts;
    char *host;
    int initialized;
    struct lws_context *ctx;     /* lws sets it NULL when fully destroyed (pcontext) */
    struct lws_context *ctx_kept;/* for the second destroy */
    struct lws_vhost *vhost;
    int port;
    struct parley__route *routes;
    size_t n_routes, cap_routes;
    struct parley__endpoint *eps;
    size_t n_eps, cap_eps;
    unsigned connections;
    size_t queued_total;               /* bytes queued on every WebSocket (client_memory_max) */
    int draining;
    char drain_reason[124];
    struct parley_http_request *reqs;  /* every live request */
    struct parley_conn *conns;         /* every live WebSocket */
    unsigned char *scratch;            /* LWS_PRE + PARLEY__WRITE_BATCH */
    /* An upgrade accepted in CONFIRM_UPGRADE, claimed in ESTABLISHED (lws
     * frees the per-session data in between, synchronously on one stack). */
    struct lws *pending_wsi;
    struct parley_conn *pending_conn;
};

extern struct parley__listener parley__L;

/* listener.c */
const struct parley__route *parley__route_match(const char *path);
const struct parley__endpoint *parley__endpoint_match(const char *path);

/* listener_http.c */
int parley__http_on_request(struct lws *wsi, struct parley__pss *pss);
int parley__http_on_body(struct lws *wsi, struct parley__pss *pss, const void *in, size_t len);
int parley__http_on_body_done(struct lws *wsi, struct parley__pss *pss);
int parley__http_on_writeable(struct lws *wsi, struct parley__pss *pss);
int parley__http_on_timer(struct lws *wsi, struct parley__pss *pss);
void parley__http_on_gone(struct parley__pss *pss);
void parley__http_drain(void);
/* Write a complete response at once from inside an lws HTTP callback (a
 * refusal). Returns what the callback should return. */
int parley__http_refuse(struct lws *wsi, int status, const char *code, const char *message,
                        int close);
/* Fill a transient request for on_upgrade; free with parley__http_request_free. */
struct parley_http_request *parley__http_request_new(struct lws *wsi);
void parley__http_request_free(struct parley_http_request *req);
/* "Not Found" for 404 and so on. */
const char *parley__http_status_text(int status);
/* The peer address of wsi, cached in buf. */
const char *parley__peer(struct lws *wsi, char *buf, size_t size);

/* listener_ip.c: per-address limits. admit runs at accept: 0, or the HTTP
 * status to refuse with (code and message for the body). attach/detach
 * count the connection under its address (lws opaque user data). */
int parley__ip_admit(int fd, const char **code, const char **message);
void parley__ip_attach(struct lws *wsi);
void parley__ip_detach(struct lws *wsi);
void parley__ip_free(void);

/* listener_ws.c */
int parley__ws_confirm_upgrade(struct lws *wsi);
int parley__ws_on_established(struct lws *wsi, struct parley__pss *pss);
int parley__ws_on_receive(struct lws *wsi, struct parley__pss *pss, const void *in, size_t len);
int parley__ws_on_peer_close(struct lws *wsi, struct parley__pss *pss, const void *in,
                             size_t len);
int parley__ws_on_writeable(struct lws *wsi, struct parley__pss *pss);
void parley__ws_on_closed(struct lws *wsi, struct parley__pss *pss);
void parley__ws_on_destroy(struct lws *wsi);
void parley__ws_drain(const char *reason);

#endif /* PARLEY__LISTENER_INT_H */
