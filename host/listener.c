/*
 * The listener: options, the route and endpoint tables, the listening
 * socket on the host's libuv loop, admission of new connections (the
 * global and per-address limits, draining), the periodic sweep of time
 * limits, drain and close. One connection is listener_sock.c's; what its
 * bytes mean is listener_http.c's and listener_ws.c's.
 *
 * Our own HTTP/1.1 and WebSocket layer replaced libwebsockets 4.1.6 here
 * (DESIGN.md, "Libraries and their traps"): its input path hung the whole
 * loop on two pipelined requests (fuzz/known/server/pipelined-body-after-
 * eof-spins), needed guards against two CVEs, and cost four epoll_ctl per
 * delivery. The SDK did not change.
 */
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "array.h"
#include "host.h"
#include "list.h"
#include "listener_int.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"

struct parley__listener parley__L;
#define L parley__L

/* How often the time limits of every connection are checked. */
#define SWEEP_MS 250
/* How often the loop's busy fraction is measured (listener.write_coalesce). */
#define BUSY_CHECK_MS 50

/* ------------------------------------------------------------------ */
/* Options and tables                                                  */

int parley__listener_init(const struct parley__listener_options *opts, parley_error *err)
{
    if (opts == NULL)
        return parley_error_set(err, PARLEY_EINVAL, "listener: no options");
    if (L.listening)
        return parley_error_set(err, PARLEY_EBUSY, "listener: already listening");
    if (opts->port < 0 || opts->port > 65535)
        return parley_error_set(err, PARLEY_EINVAL, "listener: port %d out of range 0..65535",
                                opts->port);
    if (opts->max_connections == 0)
        return parley_error_set(err, PARLEY_EINVAL, "listener: max_connections must be > 0");
    if (opts->max_body == 0 || opts->max_message == 0 || opts->send_queue_max == 0)
        return parley_error_set(err, PARLEY_EINVAL,
                                "listener: max_body, max_message and send_queue_max must be > 0");
    free(L.host);
    free(L.routes);
    free(L.eps);
    memset(&L, 0, sizeof L);
    L.opts = *opts;
    L.host = strdup(opts->host != NULL ? opts->host : "0.0.0.0");
    if (L.host == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "listener: out of memory");
    L.opts.host = L.host;
    if (L.opts.max_header == 0)
        L.opts.max_header = 8192;
    if (L.opts.header_timeout_ms == 0)
        L.opts.header_timeout_ms = 10000;
    if (L.opts.idle_timeout_ms == 0)
        L.opts.idle_timeout_ms = 60000;
    if (L.opts.max_connections_per_ip == 0)
        L.opts.max_connections_per_ip = 256;
    if (L.opts.connect_rate_per_ip == 0)
        L.opts.connect_rate_per_ip = 1000;
    if (L.opts.connect_burst_per_ip == 0)
        L.opts.connect_burst_per_ip = L.opts.connect_rate_per_ip * 2;
    if (L.opts.client_memory_max == 0)
        L.opts.client_memory_max = (size_t)256 << 20;
    L.port = opts->port;
    L.initialized = 1;
    return 0;
}

static int prefix_ok(const char *prefix, const char *what, parley_error *err)
{
    if (prefix == NULL || prefix[0] != '/')
        return parley_error_set(err, PARLEY_EINVAL, "%s prefix %s%s%s must start with '/'", what,
                                prefix ? "\"" : "", prefix ? prefix : "NULL", prefix ? "\"" : "");
    if (strlen(prefix) > 1024)
        return parley_error_set(err, PARLEY_EINVAL, "%s prefix longer than 1024 bytes", what);
    return 0;
}

int parley__http_route_add(parley_host *host, const parley_http_route *route, parley_error *err)
{
    int rc;

    if (!L.initialized)
        return parley_error_set(err, PARLEY_EINVAL, "http_route_add: listener not initialized");
    if (route == NULL || route->struct_size < offsetof(parley_http_route, arg) + sizeof(void *))
        return parley_error_set(err, PARLEY_EINVAL,
                                "http_route_add: route struct_size %u smaller than the 1.0 struct",
                                route ? (unsigned)route->struct_size : 0u);
    if ((rc = prefix_ok(route->prefix, "http route", err)) < 0)
        return rc;
    if (route->on_request == NULL)
        return parley_error_set(err, PARLEY_EINVAL, "http route \"%s\": on_request is NULL",
                                route->prefix);
    for (size_t i = 0; i < L.n_routes; i++)
        if (strcmp(L.routes[i].r.prefix, route->prefix) == 0)
            return parley_error_set(err, PARLEY_EEXIST,
                                    "http route \"%s\" is already registered", route->prefix);
    if (parley__array_grow((void **)&L.routes, &L.cap_routes, L.n_routes + 1,
                           sizeof *L.routes) != 0)
        return parley_error_set(err, PARLEY_ENOMEM, "http_route_add: out of memory");
    memset(&L.routes[L.n_routes], 0, sizeof L.routes[0]);
    memcpy(&L.routes[L.n_routes].r, route,
           route->struct_size < sizeof *route ? route->struct_size : sizeof *route);
    L.routes[L.n_routes].r.struct_size = sizeof(parley_http_route);
    L.routes[L.n_routes].prefix_len = strlen(route->prefix);
    L.n_routes++;
    L_DEBUG("route %s registered by %s", route->prefix, host && host->name ? host->name : "host");
    return 0;
}

int parley__ws_endpoint_add(parley_host *host, const parley_ws_endpoint *endpoint,
                            parley_error *err)
{
    int rc;

    if (!L.initialized)
        return parley_error_set(err, PARLEY_EINVAL, "ws_endpoint_add: listener not initialized");
    if (endpoint == NULL ||
        endpoint->struct_size < offsetof(parley_ws_endpoint, arg) + sizeof(void *))
        return parley_error_set(err, PARLEY_EINVAL,
                                "ws_endpoint_add: endpoint struct_size %u smaller than the 1.0 struct",
                                endpoint ? (unsigned)endpoint->struct_size : 0u);
    if ((rc = prefix_ok(endpoint->prefix, "websocket endpoint", err)) < 0)
        return rc;
    if (endpoint->on_message == NULL)
        return parley_error_set(err, PARLEY_EINVAL, "websocket endpoint \"%s\": on_message is NULL",
                                endpoint->prefix);
    for (size_t i = 0; i < L.n_eps; i++)
        if (strcmp(L.eps[i].e.prefix, endpoint->prefix) == 0)
            return parley_error_set(err, PARLEY_EEXIST,
                                    "websocket endpoint \"%s\" is already registered",
                                    endpoint->prefix);
    if (parley__array_grow((void **)&L.eps, &L.cap_eps, L.n_eps + 1, sizeof *L.eps) != 0)
        return parley_error_set(err, PARLEY_ENOMEM, "ws_endpoint_add: out of memory");
    memset(&L.eps[L.n_eps], 0, sizeof L.eps[0]);
    memcpy(&L.eps[L.n_eps].e, endpoint,
           endpoint->struct_size < sizeof *endpoint ? endpoint->struct_size : sizeof *endpoint);
    L.eps[L.n_eps].e.struct_size = sizeof(parley_ws_endpoint);
    L.eps[L.n_eps].prefix_len = strlen(endpoint->prefix);
    L.n_eps++;
    L_DEBUG("websocket endpoint %s registered by %s", endpoint->prefix,
            host && host->name ? host->name : "host");
    return 0;
}

/* Longest prefix wins. A handful of entries: a scan is the fastest. */
const struct parley__route *parley__route_match(const char *path)
{
    const struct parley__route *best = NULL;

    for (size_t i = 0; i < L.n_routes; i++) {
        const struct parley__route *r = &L.routes[i];

        if (strncmp(path, r->r.prefix, r->prefix_len) == 0 &&
            (best == NULL || r->prefix_len > best->prefix_len))
            best = r;
    }
    return best;
}

const struct parley__endpoint *parley__endpoint_match(const char *path)
{
    const struct parley__endpoint *best = NULL;

    for (size_t i = 0; i < L.n_eps; i++) {
        const struct parley__endpoint *e = &L.eps[i];

        if (strncmp(path, e->e.prefix, e->prefix_len) == 0 &&
            (best == NULL || e->prefix_len > best->prefix_len))
            best = e;
    }
    return best;
}

/* ------------------------------------------------------------------ */
/* Listening                                                           */

static void on_connection(uv_stream_t *server, int status);

static int bind_any(const char *host, int port, parley_error *err)
{
    struct addrinfo hints, *res = NULL, *ai;
    char service[16];
    int rc, last = 0;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(service, sizeof service, "%d", port);
    rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0)
        return parley_error_set(err, PARLEY_EIO, "cannot listen on %s:%d: %s", host, port,
                                gai_strerror(rc));
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        /* "::" serves IPv4 too (dual stack), as the Node backend's does. */
        last = uv_tcp_bind(&L.server, ai->ai_addr, 0);
        if (last == 0)
            break;
    }
    freeaddrinfo(res);
    if (last == 0)
        last = uv_listen((uv_stream_t *)&L.server, 1024, on_connection);
    if (last != 0)
        return parley_error_set(err, PARLEY_EIO, "cannot listen on %s:%d: %s", host, port,
                                strerror(-last));
    return 0;
}

static void register_metrics(void)
{
    struct parley__listener_metrics *m = &L.m;
    const int C = PARLEY_METRIC_COUNTER, G = PARLEY_METRIC_GAUGE;
    const char *refused = "parley_listener_refused_total";
    const char *refused_help = "connections or upgrades the listener refused, by reason";
    const char *http = "parley_listener_http_refused_total";
    const char *http_help = "HTTP requests the listener answered itself with an error, by status";
    const char *ws = "parley_listener_ws_closed_total";
    const char *ws_help = "WebSockets the listener closed for a broken limit, by close code";

    m->connections = parley__metric_simple(G, "parley_listener_connections",
                                           "open connections on the shared port", NULL);
    m->websockets = parley__metric_simple(G, "parley_listener_websockets",
                                          "open WebSocket connections", NULL);
    m->refused_limit = parley__metric_simple(C, refused, refused_help, "reason=\"max_connections\"");
    m->refused_draining = parley__metric_simple(C, refused, refused_help, "reason=\"draining\"");
    m->refused_upgrade = parley__metric_simple(C, refused, refused_help, "reason=\"upgrade\"");
    m->refused_connect = parley__metric_simple(C, refused, refused_help, "reason=\"connect\"");
    m->refused_per_ip = parley__metric_simple(C, refused, refused_help,
                                              "reason=\"max_connections_per_ip\"");
    m->refused_rate = parley__metric_simple(C, refused, refused_help,
                                            "reason=\"connect_rate_per_ip\"");
    m->ws_shed = parley__metric_simple(C, "parley_listener_memory_shed_total",
                                       "WebSockets closed (1008 \"memory pressure\") because "
                                       "listener.client_memory_max was reached, biggest first",
                                       NULL);
    m->client_memory = parley__metric_simple(G, "parley_listener_client_memory_bytes",
                                             "bytes queued for clients on all WebSockets", NULL);
    m->http_400 = parley__metric_simple(C, http, http_help, "status=\"400\"");
    m->http_404 = parley__metric_simple(C, http, http_help, "status=\"404\"");
    m->http_411 = parley__metric_simple(C, http, http_help, "status=\"411\"");
    m->http_413 = parley__metric_simple(C, http, http_help, "status=\"413\"");
    m->http_503 = parley__metric_simple(C, http, http_help, "status=\"503\"");
    m->http_408 = parley__metric_simple(C, http, http_help, "status=\"408\"");
    m->http_414 = parley__metric_simple(C, http, http_help, "status=\"414\"");
    m->http_431 = parley__metric_simple(C, http, http_help, "status=\"431\"");
    m->http_501 = parley__metric_simple(C, http, http_help, "status=\"501\"");
    m->http_505 = parley__metric_simple(C, http, http_help, "status=\"505\"");
    m->ws_1002 = parley__metric_simple(C, ws, ws_help, "code=\"1002\"");
    m->ws_1007 = parley__metric_simple(C, ws, ws_help, "code=\"1007\"");
    m->ws_1009 = parley__metric_simple(C, ws, ws_help, "code=\"1009\"");
    m->ws_slow = parley__metric_simple(C, ws, ws_help, "code=\"1008\"");
    m->ws_writes = parley__metric_simple(C, "parley_listener_ws_writes_total",
                                         "writev calls on WebSockets (one per flush of a connection's queue)", NULL);
    m->ws_frames = parley__metric_simple(C, "parley_listener_ws_frames_total",
                                         "WebSocket frames written", NULL);
    m->ws_bytes = parley__metric_simple(C, "parley_listener_ws_bytes_total",
                                        "WebSocket bytes written", NULL);
    m->coalesce = parley__metric_simple(G, "parley_listener_write_coalesce_seconds",
                                        "how long a WebSocket's writes wait to go out together "
                                        "now (0 unless the loop is busy)", NULL);
}

/*
 * Past RLIMIT_NOFILE, accept() fails with EMFILE and the listening socket
 * stays readable: the loop would spin on it (libuv's EMFILE trick only
 * sheds the connection). Raise the soft limit if we may;
 * otherwise lower the connection cap below it, and say so.
 */
#define FD_RESERVE 128   /* storage, plugins, the loop's own descriptors */

static void fit_fd_limit(void)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)L.opts.max_connections + FD_RESERVE;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
        return;
    if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want) {
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
            return;
        getrlimit(RLIMIT_NOFILE, &rl);
    } else {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur >= want)
        return;
    {
        unsigned cap = rl.rlim_cur > 2 * FD_RESERVE ? (unsigned)(rl.rlim_cur - FD_RESERVE)
                                                    : (unsigned)(rl.rlim_cur / 2);

        L_WARN("listener.max_connections %u needs %llu file descriptors but the limit "
               "(ulimit -n) is %llu: serving at most %u connections",
               L.opts.max_connections, (unsigned long long)want,
               (unsigned long long)rl.rlim_cur, cap);
        L.opts.max_connections = cap ? cap : 1;
    }
}

/* The coalescing window's first step when the loop becomes busy. */
#define COALESCE_FIRST_MS 1

/* How busy the loop was since the last check sets the write coalescing
 * window: over 80% busy it doubles (from 1 ms up to
 * listener.write_coalesce), under 50% it halves down to 0, in between it
 * stays (hysteresis, so it does not flap). A write costs the kernel about
 * the same for one frame as for dozens, so a loop that is short of time
 * buys it back by writing each client less often; the window grows only
 * as far as the load needs, because every millisecond of it is latency.
 * An idle or lightly loaded server writes every frame at once. */
static void measure_busy(void)
{
    uint64_t idle = uv_metrics_idle_time(parley__loop()), now = uv_hrtime();
    uint64_t wall = now - L.busy_at_ns, rest = idle - L.busy_idle_ns;
    uint64_t window = L.coalesce_ms;

    L.busy_idle_ns = idle;
    L.busy_at_ns = now;
    if (wall == 0 || rest > wall)
        return;
    if (rest * 5 < wall)            /* idle < 20% */
        window = window == 0 ? COALESCE_FIRST_MS : window * 2;
    else if (rest * 2 > wall)       /* idle > 50% */
        window /= 2;
    if (window > L.opts.write_coalesce_ms)
        window = L.opts.write_coalesce_ms;
    if (window == L.coalesce_ms)
        return;
    L.coalesce_ms = window;
    parley__metric_set(L.m.coalesce, (double)window / 1000.0);
}

static void on_busy_check(uv_timer_t *t)
{
    (void)t;
    measure_busy();
}

static void on_sweep(uv_timer_t *t)
{
    (void)t;
    parley__sock_sweep(parley__now_ms(NULL));
}

/* Admission: a refused connection gets a canned answer and a short
 * graceful close, before any byte of it is parsed, and stops counting. */
static void refuse_at_accept(struct parley__sock *s, int status, const char *code,
                             const char *message)
{
    s->refused = 1;
    L.connections--;
    parley__metric_set(L.m.connections, L.connections);
    parley__sock_refuse(s, status, code, message);
}

static void admit(struct parley__sock *s)
{
    const char *code = NULL, *message = NULL;
    int status;

    if (L.draining) {
        PARLEY__COUNT(refused_draining);
        L_DEBUG("refusing a connection from %s: shutting down", s->remote);
        refuse_at_accept(s, 503, "shutting_down", "the server is shutting down");
        return;
    }
    if (L.connections > L.opts.max_connections) {
        PARLEY__COUNT(refused_limit);
        L_WARN("refusing a connection from %s: %u open, listener.max_connections is %u",
               s->remote, L.connections - 1, L.opts.max_connections);
        refuse_at_accept(s, 503, "too_many_connections",
                         "the server is at listener.max_connections");
        return;
    }
    status = parley__ip_admit(s, &code, &message);
    if (status != 0) {
        /* A flood would flood the log too: debug only; the counters tell. */
        L_DEBUG("refusing a connection from %s: %s", s->remote, message);
        refuse_at_accept(s, status, code, message);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct parley__sock *s;

    if (status < 0) {
        L_WARN("accept: %s", uv_strerror(status));
        return;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL || uv_tcp_init(parley__loop(), &s->tcp) != 0) {
        free(s);
        L_ERROR("accept: out of memory");
        return;
    }
    if (uv_accept(server, (uv_stream_t *)&s->tcp) != 0) {
        uv_close((uv_handle_t *)&s->tcp, (uv_close_cb)free);
        return;
    }
    PARLEY__LIST_PUSH(L.socks, s);
    L.connections++;
    parley__metric_set(L.m.connections, L.connections);
    parley__sock_accepted(s);
    L_DEBUG("new connection from %s: %u open", s->remote, L.connections);
    if (!s->closed)
        admit(s);
}

int parley__listener_listen(parley_error *err)
{
    struct sockaddr_storage ss;
    int len = sizeof ss, rc;

    if (!L.initialized)
        return parley_error_set(err, PARLEY_EINVAL, "listener: listen before init");
    if (L.listening)
        return parley_error_set(err, PARLEY_EBUSY, "listener: already listening on %s:%d", L.host,
                                L.port);
    fit_fd_limit();
    register_metrics();
    /* One block: the read buffer, then the write buffer. */
    L.rbuf = malloc(64 * 1024 + PARLEY__WRITE_GATHER);
    if (L.rbuf == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "listener: out of memory");
    L.wbuf = L.rbuf + 64 * 1024;
    uv_tcp_init(parley__loop(), &L.server);
    if ((rc = bind_any(L.host, L.opts.port, err)) < 0) {
        uv_close((uv_handle_t *)&L.server, NULL);
        free(L.rbuf);
        L.rbuf = L.wbuf = NULL;
        return rc;
    }
    if (uv_tcp_getsockname(&L.server, (struct sockaddr *)&ss, &len) == 0)
        L.port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                : ((struct sockaddr_in *)&ss)->sin_port);
    uv_check_init(parley__loop(), &L.flush_check);
    uv_idle_init(parley__loop(), &L.flush_idle);
    for (int i = 0; i < 2; i++) {
        uv_timer_init(parley__loop(), &L.hold[i].timer);
        L.hold[i].timer.data = &L.hold[i];
    }
    uv_timer_init(parley__loop(), &L.busy_timer);
    if (L.opts.write_coalesce_ms > 0) {
        L.busy_at_ns = uv_hrtime();
        L.busy_idle_ns = uv_metrics_idle_time(parley__loop());
        uv_timer_start(&L.busy_timer, on_busy_check, BUSY_CHECK_MS, BUSY_CHECK_MS);
        uv_unref((uv_handle_t *)&L.busy_timer);
    }
    uv_timer_init(parley__loop(), &L.sweep);
    uv_timer_start(&L.sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    uv_unref((uv_handle_t *)&L.sweep);
    L.listening = 1;
    L_INFO("listening on %s:%d (max_connections %u, max_body %zu, max_message %zu, "
           "send_queue_max %zu)", L.host, L.port, L.opts.max_connections, L.opts.max_body,
           L.opts.max_message, L.opts.send_queue_max);
    return 0;
}

int parley__listener_port(void)
{
    return L.port;
}

unsigned parley__listener_connections(void)
{
    return L.connections;
}

/* ------------------------------------------------------------------ */
/* Shutdown                                                            */

void parley__listener_drain(const char *reason)
{
    if (L.draining)
        return;
    L.draining = 1;
    snprintf(L.drain_reason, sizeof L.drain_reason, "%s", reason ? reason : "server shutting down");
    L_INFO("draining: %u connections open (%s)", L.connections, L.drain_reason);
    parley__http_drain();
    parley__ws_drain(L.drain_reason);
}

unsigned parley__listener_unflushed(void)
{
    unsigned n = 0;

    for (struct parley__sock *s = L.socks; s != NULL; s = s->next)
        if (!s->closed && s->mode == PARLEY__SOCK_WS)
            n++;
    return n;
}

/* Inside the loop, before the plugins are destroyed: every connection is
 * closed now (WebSockets hear on_close, held requests on_abort). */
void parley__listener_close(void)
{
    struct parley__sock *s, *next;

    if (!L.listening || L.closing)
        return;
    L.closing = 1;
    L.draining = 1;
    for (s = L.socks; s != NULL; s = next) {
        next = s->next;
        parley__sock_abort(s);
    }
    while (L.reqs != NULL) {
        L_ERROR("%s %s: request still open at close (held %d, dispatched %d, responded %d, discard %llu)",
               L.reqs->method, L.reqs->path, L.reqs->held, L.reqs->dispatched, L.reqs->responded,
               (unsigned long long)L.reqs->discard);
        parley__http_request_free(L.reqs);
    }
    uv_close((uv_handle_t *)&L.server, NULL);
    uv_close((uv_handle_t *)&L.sweep, NULL);
    for (int i = 0; i < 2; i++)
        uv_close((uv_handle_t *)&L.hold[i].timer, NULL);
    uv_close((uv_handle_t *)&L.busy_timer, NULL);
    uv_close((uv_handle_t *)&L.flush_check, NULL);
    uv_close((uv_handle_t *)&L.flush_idle, NULL);
    parley__sock_queues_clear();
}

/* After uv_run returned: free what is left. */
void parley__listener_finalize(void)
{
    /* The metrics registry may be freed right after us. */
    memset(&L.m, 0, sizeof L.m);
    parley__sock_rings_free();
    while (L.accounts != NULL)      /* a plugin that never closed its accounts */
        parley__memory_close(L.accounts);
    parley__ip_free();
    free(L.rbuf);                   /* and wbuf, in the same block */
    free(L.routes);
    free(L.eps);
    free(L.host);
    memset(&L, 0, sizeof L);
}
