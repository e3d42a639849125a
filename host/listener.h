/*
 * The one listening port, shared by every transport (DESIGN.md, "Loop and
 * listener"): our own HTTP/1.1 and WebSocket layer on the host's libuv
 * loop, HTTP routes and WebSocket endpoints registered by path prefix (the
 * longest matching prefix wins), a bounded send queue per connection
 * written with one writev per loop turn.
 *
 * Every function here runs on the loop thread. docs/listener.md describes
 * the limits, the read and write paths and the refusals.
 */
#ifndef PARLEY__LISTENER_H
#define PARLEY__LISTENER_H

#include <stddef.h>
#include <stdint.h>

#include <parley/parley.h>

struct parley__listener_options {
    const char *host;             /* "0.0.0.0", "127.0.0.1", "::" ... */
    int port;                     /* 0: an ephemeral port (parley__listener_port) */
    size_t max_body;              /* default HTTP body cap (route.max_body 0 → this) */
    size_t max_message;           /* default WebSocket message cap */
    size_t send_queue_max;        /* bytes queued per connection before it is dropped as a slow consumer */
    size_t max_header;            /* bytes of a request head (431, or 414 for the request line) */
    unsigned max_connections;     /* at the cap new connections get a 503 and are closed */
    uint64_t header_timeout_ms;   /* request headers and body must arrive within this */
    uint64_t idle_timeout_ms;     /* idle keep-alive HTTP / silent WebSocket connections are closed */
    /* Per client address, checked at accept (503 / 429, then closed); 0 → defaults. */
    unsigned max_connections_per_ip;  /* open connections of one address [256] */
    unsigned connect_rate_per_ip;     /* new connections per second of one address [1000]; */
    unsigned connect_burst_per_ip;    /*   token bucket depth [connect_rate_per_ip * 2] */
    /* Bytes queued on all WebSockets together; past it the biggest queues
     * are closed first (1008 "memory pressure"). 0 → 256 MiB. */
    size_t client_memory_max;
    /* A WebSocket written less than this long ago waits until this long
     * has passed, collecting frames for one write. 0: never wait. */
    uint64_t write_coalesce_ms;
};

/* Record the options and reset the route table; no socket yet. Routes and
 * endpoints may be added from here on (plugins do it in start()). */
int parley__listener_init(const struct parley__listener_options *opts, parley_error *err);
/* Bind host:port and listen on parley__loop(). Errors name
 * host:port and the reason. */
int parley__listener_listen(parley_error *err);
/* The bound port (after listen), else the configured one. */
int parley__listener_port(void);
/* Shutdown has begun: refuse new connections and requests (503), abort held
 * HTTP requests (route on_abort, then 503), close every WebSocket with 1001
 * `reason`. */
void parley__listener_drain(const char *reason);
/* During drain: WebSockets whose queued frames or close frame have not all
 * reached the kernel yet (the shutdown waits a little for them, so that
 * clients with a backlog still get their close frame). */
unsigned parley__listener_unflushed(void);
/* Open connections (HTTP and WebSocket). */
unsigned parley__listener_connections(void);
/* Inside the loop: close every connection and the listening socket. Every
 * WebSocket still open gets its on_close (1001 when drained, else 1006)
 * and every held request its on_abort here, so call it before the plugins
 * are destroyed. */
void parley__listener_close(void);
/* After uv_run returned: free everything. */
void parley__listener_finalize(void);

/* SDK signatures (host.h). */
int parley__http_route_add(parley_host *host, const parley_http_route *route, parley_error *err);
const char *parley__http_method(const parley_http_request *req);
const char *parley__http_path(const parley_http_request *req);
const char *parley__http_query(const parley_http_request *req);
int parley__http_query_param(const parley_http_request *req, const char *key, char *out,
                             size_t out_size);
int parley__http_header(const parley_http_request *req, const char *name, char *out,
                        size_t out_size);
const void *parley__http_body(const parley_http_request *req, size_t *len);
const char *parley__http_remote_addr(const parley_http_request *req);
int parley__http_respond(parley_http_request *req, int status, const parley_http_header *headers,
                         size_t n_headers, const void *body, size_t len);
int parley__http_hold(parley_http_request *req, uint64_t timeout_ms, void *req_ctx);

int parley__ws_endpoint_add(parley_host *host, const parley_ws_endpoint *endpoint,
                            parley_error *err);
parley_memory *parley__memory_open(parley_host *host, void (*shed)(void *arg), void *arg);
void parley__memory_set(parley_memory *mem, size_t bytes);
void parley__memory_close(parley_memory *mem);
int parley__conn_send(parley_conn *conn, parley_frame *frame);
void parley__conn_close(parley_conn *conn, int code, const char *reason);
const char *parley__conn_remote_addr(const parley_conn *conn);

#endif /* PARLEY__LISTENER_H */
