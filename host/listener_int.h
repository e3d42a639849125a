/*
 * Listener internals shared by listener.c (options, tables, accept, drain),
 * listener_sock.c (one TCP connection: reads, the write queue, closing,
 * timeouts), listener_http.c (HTTP/1.1 requests), listener_ws.c (WebSocket
 * connections) and listener_ip.c (per-address limits). Not for other
 * modules: they use listener.h.
 */
#ifndef PARLEY__LISTENER_INT_H
#define PARLEY__LISTENER_INT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "http_parse.h"
#include "listener.h"
#include "metrics.h"

#define PARLEY__LOG_COMPONENT "listener"
#define L_DEBUG(...) parley__log(PARLEY_LOG_DEBUG, PARLEY__LOG_COMPONENT, __VA_ARGS__)
#define L_INFO(...)  parley__log(PARLEY_LOG_INFO, PARLEY__LOG_COMPONENT, __VA_ARGS__)
#define L_WARN(...)  parley__log(PARLEY_LOG_WARN, PARLEY__LOG_COMPONENT, __VA_ARGS__)
#define L_ERROR(...) parley__log(PARLEY_LOG_ERROR, PARLEY__LOG_COMPONENT, __VA_ARGS__)

/* A body over the cap by at most this much is read and discarded so the
 * 413 reaches the client on a live keep-alive connection; beyond it the
 * connection is closed after the 413. */
#define PARLEY__DISCARD_MAX (1024 * 1024)
/* iovecs handed to one writev. */
#define PARLEY__WRITE_IOV 64
/* The most bytes of small pieces copied into one write (listener_sock.c). */
#define PARLEY__WRITE_GATHER (64 * 1024)
/* After our last byte, a closing connection is read (and the bytes
 * dropped) for this long, so the kernel does not answer the client's
 * in-flight bytes with a reset that destroys our response (RFC 9112 9.6,
 * "lingering close"). Bounded in time only, as nginx's lingering_time:
 * dropping bytes costs no memory. */
#define PARLEY__LINGER_MS 2000
/* A connection refused at accept (limits, draining) lingers this long, and
 * does not count toward listener.max_connections meanwhile: a flood of
 * refused connections must not lock the others out. */
#define PARLEY__REFUSED_LINGER_MS 250

struct parley__route {
    parley_http_route r;        /* the plugin's route, copied */
    size_t prefix_len;
};

struct parley__endpoint {
    parley_ws_endpoint e;
    size_t prefix_len;
};

struct ip_entry;

/* One piece of output: a shared frame (retained) or a buffer we own. */
struct parley__out {
    const unsigned char *data;
    size_t len;
    parley_frame *frame;        /* released once written */
    void *owned;                /* freed once written */
};

enum parley__sock_mode {
    PARLEY__SOCK_HTTP,          /* requests, one at a time */
    PARLEY__SOCK_WS,            /* upgraded */
    PARLEY__SOCK_LINGER,        /* our last byte is queued: shut down, drop what comes */
};

/* One accepted TCP connection. */
/* A queue of connections linked through flush_next. */
struct parley__sock_queue {
    struct parley__sock *head, *tail;
};

/* Connections whose writes wait for the coalescing window, and the timer
 * that ends the wait: PARLEY__HOLD_QUIET for clients that only listen,
 * PARLEY__HOLD_REPLY for clients that spoke since their last write. */
enum { PARLEY__HOLD_QUIET, PARLEY__HOLD_REPLY };
struct parley__hold {
    struct parley__sock_queue queue;
    uv_timer_t timer;
};

struct parley__sock {
    uv_tcp_t tcp;               /* first: the handle is the sock */
    struct parley__sock *prev, *next;
    struct ip_entry *ip;        /* listener_ip.c: the address it counts under */
    enum parley__sock_mode mode;
    /* Input not consumed yet (a partial head, body or frame, or a
     * pipelined request); NULL when there is none. */
    unsigned char *in;
    size_t in_len, in_cap;
    size_t head_scanned;        /* parley__http_head_end's position */
    /* Output: a ring of pieces, written with writev. */
    struct parley__out *out;
    uint32_t out_cap, out_head, out_count;
    uint32_t out_last_cap;      /* the size of the last ring freed, to allocate at once */
    size_t out_off;             /* bytes of the head piece already written */
    size_t out_bytes;           /* bytes queued, out_off not subtracted */
    uv_write_t *wreq;           /* libuv is finishing a write the socket did not take */
    uint32_t wreq_pieces;       /* ... of this many pieces from out_head */
    uv_shutdown_t *sreq;
    /* Time limits (parley__now_ms), checked by the listener's sweep. */
    uint64_t deadline_ms;       /* 0: none */
    uint64_t last_rx_ms;
    uint64_t lingered;          /* bytes dropped while lingering */
    uint64_t last_write_ms;     /* when the queue last went to the kernel */
    struct parley__sock *flush_next, *flush_prev; /* in L.ready or a hold */
    struct parley_http_request *req;   /* HTTP: the request being read or answered */
    struct parley_conn *conn;          /* WebSocket */
    unsigned flush_pending : 1; /* on L.ready or in a hold */
    unsigned waited : 1;        /* waited out its coalescing window: write it next */
    unsigned reading : 1;       /* uv_read_start is on */
    unsigned closed : 1;        /* uv_close was called */
    unsigned shut : 1;          /* uv_shutdown was called */
    unsigned close_when_flushed : 1;
    unsigned processing : 1;    /* inside the input loop: do not re-enter it */
    unsigned refused : 1;       /* refused at accept: not counted, short linger */
    unsigned reprocess : 1;     /* buffered input became runnable meanwhile */
    unsigned spoke : 1;         /* sent something since its last write: awaits an answer */
    char remote[48];
};

struct parley_http_request {
    struct parley__sock *sock;  /* NULL once the connection is gone */
    parley_http_route route;    /* copy: the route table may grow meanwhile */
    char method[16];
    char *path;                 /* raw (escapes checked, not decoded) */
    char *query;                /* raw, "" when none */
    char *head;                 /* the head's bytes, for http_header */
    struct parley__http_head *h;
    char *body;
    size_t body_len, body_cap, max_body;
    uint64_t content_length;
    uint64_t discard;           /* body bytes to drop after a refusal */
    struct parley__http_chunked *chunked;
    void *req_ctx;
    uv_timer_t *hold_timer;
    unsigned headers_ok : 1;    /* inside on_request / on_upgrade */
    unsigned dispatched : 1;    /* on_request ran */
    unsigned held : 1;
    unsigned responded : 1;     /* http_respond was called (the plugin is done with it) */
    unsigned aborted : 1;       /* on_abort ran: the plugin may not answer any more */
    unsigned host_answer : 1;   /* the host answers an aborted request itself (504, 503) */
    unsigned head_only : 1;     /* HEAD: no body in the response */
    unsigned keepalive : 1;
    unsigned http10 : 1;
    unsigned close_after : 1;   /* close the connection once the response is out */
    unsigned upgrade : 1;       /* a transient request for on_upgrade */
    unsigned expect : 1;        /* Expect: 100-continue */
    char remote[48];
    struct parley_http_request *prev, *next;
};

/* A transport's client memory account (host.h, memory_open). */
struct parley_memory {
    size_t bytes;
    void (*shed)(void *arg);
    void *arg;
    struct parley_memory *prev, *next;
};

struct parley_conn {
    struct parley__sock *sock;  /* NULL once closed */
    parley_ws_endpoint ep;
    void *conn_ctx;
    size_t max_message;
    /* The frame being read. */
    uint64_t frame_left;        /* payload bytes of it still to come */
    uint64_t frame_off;         /* payload bytes of it already read (mask phase) */
    unsigned char mask[4];
    unsigned frame_open : 1;    /* a data frame's payload is being read */
    unsigned frame_final : 1;
    /* The message being reassembled. */
    unsigned char *rx;
    size_t rx_len, rx_cap;
    unsigned rx_binary : 1;
    unsigned rx_active : 1;     /* a message is open (its first frame was not final) */
    unsigned rx_frames;
    /* Closing. */
    int close_code;             /* ours, once we started a close */
    int peer_code;              /* from the peer's close frame */
    unsigned closing : 1;       /* a close is pending (after the queue drains) */
    unsigned close_sent : 1;    /* our close frame is queued: nothing may follow */
    unsigned peer_closed : 1;   /* the peer's close frame arrived */
    unsigned ping_sent : 1;     /* a liveness ping is out, no answer yet */
    unsigned opened : 1;        /* on_open ran */
    unsigned closed : 1;        /* on_close ran */
    unsigned delivering : 1;    /* rx is being handed to on_message: do not free it */
    char close_reason[124];
    char remote[48];
    struct parley_conn *prev, *next;
};

/* Counters and gauges (host/metrics.h); NULL ones are no-ops. */
struct parley__listener_metrics {
    parley_metric *connections;       /* gauge: open TCP connections */
    parley_metric *websockets;        /* gauge: open WebSocket connections */
    parley_metric *refused_limit;     /* connections refused at max_connections */
    parley_metric *refused_draining;  /* connections refused while draining */
    parley_metric *refused_upgrade;   /* upgrades refused: not websocket, no endpoint */
    parley_metric *refused_connect;   /* CONNECT requests */
    parley_metric *refused_per_ip;    /* connections refused at max_connections_per_ip */
    parley_metric *refused_rate;      /* connections refused by connect_rate_per_ip */
    parley_metric *ws_shed;           /* WebSockets closed for client_memory_max */
    parley_metric *client_memory;     /* gauge: bytes queued on all WebSockets */
    parley_metric *http_400, *http_404, *http_408, *http_411, *http_413, *http_414, *http_431,
        *http_501, *http_503, *http_505;
    parley_metric *ws_1002, *ws_1007, *ws_1009, *ws_slow; /* WebSockets closed for a limit */
    parley_metric *ws_writes;         /* writev calls on WebSockets */
    parley_metric *ws_frames;         /* frames written */
    parley_metric *ws_bytes;          /* bytes written */
    parley_metric *coalesce;          /* gauge: the write coalescing window now, seconds */
};
#define PARLEY__COUNT(which) parley__metric_add(parley__L.m.which, 1)

struct parley__listener {
    struct parley__listener_metrics m;
    struct parley__listener_options opts;
    char *host;
    int initialized;
    int listening;
    uv_tcp_t server;
    uv_timer_t sweep;
    uv_check_t flush_check;
    uv_idle_t flush_idle;
    int port;
    struct parley__route *routes;
    size_t n_routes, cap_routes;
    struct parley__endpoint *eps;
    size_t n_eps, cap_eps;
    unsigned connections;
    size_t queued_total;               /* bytes queued on every WebSocket (client_memory_max) */
    int draining;
    int closing;                       /* listener_close ran */
    char drain_reason[124];
    struct parley__sock *socks;        /* every open connection */
    struct parley__sock_queue ready;    /* connections with output to write */
    struct parley__hold hold[2];        /* ... waiting for listener.write_coalesce */
    uv_timer_t busy_timer;
    uint64_t coalesce_ms;              /* the window now: 0 (off) .. listener.write_coalesce */
    uint64_t busy_idle_ns, busy_at_ns; /* uv_metrics_idle_time and uv_hrtime at the last sweep */
    struct parley_http_request *reqs;  /* every live request */
    struct parley_conn *conns;         /* every live WebSocket */
    struct parley_memory *accounts;    /* transports' client memory accounts */
    int shedding;                      /* inside the shed loop: do not re-enter it */
    unsigned char *rbuf;               /* the one read buffer, 64 KiB */
    unsigned char *wbuf;               /* the one write buffer, PARLEY__WRITE_GATHER */
    /* WebSocket write counts, added to the metrics once per flush rather
     * than per write (each add is an atomic read-modify-write). */
    uint64_t ws_writes, ws_frames, ws_bytes;
};

extern struct parley__listener parley__L;

/* listener.c */
const struct parley__route *parley__route_match(const char *path);
const struct parley__endpoint *parley__endpoint_match(const char *path);

/* listener_sock.c */
void parley__sock_accepted(struct parley__sock *s);
/* Queue output; it goes out with the next flush (after this loop turn's
 * callbacks). `frame` is retained; `owned` is freed once written. */
int parley__sock_queue_frame(struct parley__sock *s, parley_frame *frame);
int parley__sock_queue_owned(struct parley__sock *s, void *buf, size_t len);
int parley__sock_queue_copy(struct parley__sock *s, const void *data, size_t len);
/* Drop every queued piece not yet handed to the kernel. */
void parley__sock_queue_drop(struct parley__sock *s);
/* Close once what is queued is out: shut down our side, drop what the
 * client still sends for PARLEY__LINGER_MS, then close. */
void parley__sock_finish(struct parley__sock *s);
/* Close now; what is queued is lost. */
void parley__sock_abort(struct parley__sock *s);
/* Stop or resume taking input (a request being answered holds the next). */
void parley__sock_pause(struct parley__sock *s);
void parley__sock_resume(struct parley__sock *s);
/* Run the input already buffered (after a request finished). */
void parley__sock_process(struct parley__sock *s);
/* Consume `n` bytes at the front of the buffered input. */
void parley__sock_consume(struct parley__sock *s, size_t n);
/* The listener's periodic check of every connection's time limits. */
void parley__sock_sweep(uint64_t now);
/* Bytes that reached the kernel, pieces that did not: for the drain. */
int parley__sock_flushed(const struct parley__sock *s);
void parley__sock_flush_all(void);
void parley__sock_hold_over(uv_timer_t *t);
/* Empty the flush queues (the listener is closing; nothing is written). */
void parley__sock_queues_clear(void);
/* Free the rings kept for reuse (after every connection is closed). */
void parley__sock_rings_free(void);
/* A canned refusal before any request was read (limits, draining). */
void parley__sock_refuse(struct parley__sock *s, int status, const char *code,
                         const char *message);

/* listener_http.c: input on an HTTP connection. Returns bytes consumed
 * from data[0..len) (0: need more), or -1 when the connection is done for
 * (already closed or finishing). */
long parley__http_input(struct parley__sock *s, unsigned char *data, size_t len);
/* The connection went away (EOF, error, close). */
void parley__http_sock_gone(struct parley__sock *s);
/* A head or body did not arrive in time. */
void parley__http_timeout(struct parley__sock *s);
void parley__http_drain(void);
void parley__http_request_free(struct parley_http_request *req);
/* "Not Found" for 404 and so on. */
const char *parley__http_status_text(int status);
/* A whole response (status line, headers, JSON error body) in one buffer. */
int parley__http_error_response(int status, const char *code, const char *message, int close,
                                char **out, size_t *out_len);

/* listener_ip.c: per-address limits. admit runs at accept: 0, or the HTTP
 * status to refuse with (code and message for the body); it also records
 * the address in s->ip. release forgets the connection. */
int parley__ip_admit(struct parley__sock *s, const char **code, const char **message);
void parley__ip_release(struct parley__sock *s);
void parley__ip_free(void);

/* listener_memory.c: listener.client_memory_max. Over it, the biggest
 * holders (WebSockets and transports' accounts) are shed until the total
 * is under it again. PARLEY_ELIMIT when `self` was one of them. */
int parley__listener_shed(struct parley_conn *self);

/* listener_ws.c */
size_t parley__ws_held(const struct parley_conn *c);
void parley__ws_shed(struct parley_conn *c);
/* Take an upgrade request; returns 1 when the connection is now a
 * WebSocket (the 101 is queued), 0 when it was refused (answer queued,
 * connection finishing). `consumed` is the head's length. */
int parley__ws_upgrade(struct parley__sock *s, struct parley_http_request *req);
long parley__ws_input(struct parley__sock *s, unsigned char *data, size_t len);
void parley__ws_sock_gone(struct parley__sock *s);
/* The sweep: ping a silent connection, give up on one that never answers. */
void parley__ws_check(struct parley__sock *s, uint64_t now);
void parley__ws_drain(const char *reason);

#endif /* PARLEY__LISTENER_INT_H */
