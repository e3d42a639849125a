/*
 * The listener: options, the route and endpoint tables, the one lws
 * context on the host's libuv loop, the lws callback that dispatches to
 * listener_http.c and listener_ws.c, connection limits, drain and the
 * two-pass destroy.
 *
 * lws 4.1.6 traps handled here (DESIGN.md, "Libraries and their traps"):
 * the context is destroyed once inside the loop and once after uv_run
 * returns; fd_limit_per_thread is set above max_connections and the cap is
 * enforced here, because at lws's own limit it silently stops accepting;
 * CONNECT (which lws turns into a raw socket) is refused; the h2 prior
 * knowledge option is never set.
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
#include "listener_int.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"

struct parley__listener parley__L;
#define L parley__L

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len);

static const struct lws_protocols protocols[] = {
    {
        .name = "parley",
        .callback = callback,
        .per_session_data_size = sizeof(struct parley__pss),
        /* Per connection, allocated by lws for its life: 16 KiB (the
         * default, pt_serv_buf_size) doubled the RSS of an idle client.
         * Larger messages simply arrive in more pieces. */
        .rx_buffer_size = 1024,
        /* lws_issue_raw sends at most this per call; one batch in one send. */
        .tx_packet_size = PARLEY__WRITE_BATCH,
    },
    { NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* ------------------------------------------------------------------ */
/* Options and tables                                                  */

int parley__listener_init(const struct parley__listener_options *opts, parley_error *err)
{
    if (opts == NULL)
        return parley_error_set(err, PARLEY_EINVAL, "listener: no options");
    if (L.ctx != NULL)
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

static void lws_log_bridge(int level, const char *line)
{
    size_t n = strlen(line);
    int ours = level == LLL_ERR ? PARLEY_LOG_INFO : PARLEY_LOG_DEBUG;

    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    parley__log(ours, "lws", "%.*s", (int)n, line);
}

/* lws reports a failed bind as one log line and a NULL context; bind a
 * probe socket first so the error names host:port and the errno. */
static int probe_bind(const char *host, int port, char *numeric, size_t numeric_size,
                      parley_error *err)
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
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        int one = 1;

        if (fd < 0) {
            last = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            /* lws takes an address or an interface name, not a host name. */
            if (getnameinfo(ai->ai_addr, ai->ai_addrlen, numeric, (socklen_t)numeric_size, NULL, 0,
                            NI_NUMERICHOST) != 0)
                snprintf(numeric, numeric_size, "%s", host);
            close(fd);
            freeaddrinfo(res);
            return 0;
        }
        last = errno;
        close(fd);
    }
    freeaddrinfo(res);
    return parley_error_set(err, PARLEY_EIO, "cannot listen on %s:%d: %s", host, port,
                            strerror(last ? last : EADDRNOTAVAIL));
}

/* WebSocket liveness: lws pings a connection that has been silent for half
 * of idle_timeout and hangs up if no pong came by the full idle_timeout.
 * Must outlive the context. */
static lws_retry_bo_t idle_policy;

/* lws indexes its fd table only when the table covers the whole soft fd
 * limit. Use the limit as the table size while that stays small; lower a
 * huge limit (containers often run with 2^20) to what we need instead. */
#define FD_TABLE_MAX 65536

static unsigned fd_table_size(unsigned want)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur <= want)
        return want;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur <= FD_TABLE_MAX)
        return (unsigned)rl.rlim_cur;
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        L_WARN("cannot lower the fd limit to %u; lws will scan its fd table", want);
    return want;
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
    m->ws_1007 = parley__metric_simple(C, ws, ws_help, "code=\"1007\"");
    m->ws_1009 = parley__metric_simple(C, ws, ws_help, "code=\"1009\"");
    m->ws_slow = parley__metric_simple(C, ws, ws_help, "code=\"1008\"");
    m->ws_writes = parley__metric_simple(C, "parley_listener_ws_writes_total",
                                         "lws_write calls on WebSockets (one per batch)", NULL);
    m->ws_frames = parley__metric_simple(C, "parley_listener_ws_frames_total",
                                         "WebSocket frames written", NULL);
    m->ws_bytes = parley__metric_simple(C, "parley_listener_ws_bytes_total",
                                        "WebSocket bytes written", NULL);
}

/*
 * Past RLIMIT_NOFILE, accept() fails with EMFILE and the listening socket
 * stays readable: lws would spin on it. Raise the soft limit if we may;
 * otherwise lower the connection cap below it, and say so.
 */
#define FD_RESERVE 128   /* storage, plugins, lws's own descriptors */

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

int parley__listener_listen(parley_error *err)
{
    struct lws_context_creation_info info;
    void *foreign_loops[1];
    const char *host = L.host;
    char numeric[NI_MAXHOST];
    int rc, ipv4_only;

    if (!L.initialized)
        return parley_error_set(err, PARLEY_EINVAL, "listener: listen before init");
    if (L.ctx != NULL)
        return parley_error_set(err, PARLEY_EBUSY, "listener: already listening on %s:%d", host,
                                L.port);
    if ((rc = probe_bind(host, L.opts.port, numeric, sizeof numeric, err)) < 0)
        return rc;

    fit_fd_limit();
    register_metrics();
    L.scratch = malloc(LWS_PRE + PARLEY__WRITE_BATCH);
    if (L.scratch == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "listener: out of memory");

    lws_set_log_level(parley__log_enabled(PARLEY_LOG_DEBUG) ? (LLL_ERR | LLL_WARN | LLL_NOTICE)
                                                            : LLL_ERR,
                      lws_log_bridge);

    memset(&info, 0, sizeof info);
    foreign_loops[0] = parley__loop();
    ipv4_only = strchr(numeric, ':') == NULL;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_SKIP_SERVER_CANONICAL_NAME;
    /* Never LWS_SERVER_OPTION_H2_PRIOR_KNOWLEDGE: it would expose lws's
     * HPACK parser (CVE-2026-19773) to every plain connection. */
    if (ipv4_only)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    info.foreign_loops = foreign_loops;
    info.pcontext = &L.ctx;
    info.port = L.opts.port;
    /* lws takes an address or an interface name; "any" is NULL. */
    info.iface = (strcmp(numeric, "0.0.0.0") == 0 || strcmp(numeric, "::") == 0) ? NULL : numeric;
    info.protocols = protocols;
    info.count_threads = 1;
    /* Above our own cap, so lws never silently stops accepting: the cap is
     * enforced in FILTER_NETWORK_CONNECTION with a 503. And at least the
     * process's fd limit: below it lws finds a wsi by scanning its fd table
     * instead of indexing it (22% of a 10 000-client ramp in perf). */
    info.fd_limit_per_thread = fd_table_size(L.opts.max_connections + 64);
    info.max_http_header_data = (unsigned short)(L.opts.max_header > 65535 ? 65535
                                                                           : L.opts.max_header);
    info.pt_serv_buf_size = 16384;
    info.timeout_secs = (unsigned)((L.opts.header_timeout_ms + 999) / 1000);
    info.keepalive_timeout = (int)((L.opts.idle_timeout_ms + 999) / 1000);
    {
        uint64_t idle = (L.opts.idle_timeout_ms + 999) / 1000;

        if (idle < 2)
            idle = 2;
        if (idle > 65535)
            idle = 65535;
        memset(&idle_policy, 0, sizeof idle_policy);
        idle_policy.secs_since_valid_ping = (uint16_t)(idle / 2);
        idle_policy.secs_since_valid_hangup = (uint16_t)idle;
        info.retry_and_idle_policy = &idle_policy;
    }

    L.ctx = lws_create_context(&info);
    if (L.ctx == NULL) {
        free(L.scratch);
        L.scratch = NULL;
        return parley_error_set(err, PARLEY_EIO,
                                "cannot listen on %s:%d: libwebsockets could not create its "
                                "context (is libwebsockets-evlib-uv installed?)",
                                host, L.opts.port);
    }
    L.ctx_kept = L.ctx;
    L.vhost = lws_get_vhost_by_name(L.ctx, "default");
    if (L.vhost != NULL && lws_get_vhost_listen_port(L.vhost) > 0)
        L.port = lws_get_vhost_listen_port(L.vhost);
    L_INFO("listening on %s:%d (max_connections %u, max_body %zu, max_message %zu, "
           "send_queue_max %zu)", host, L.port, L.opts.max_connections, L.opts.max_body,
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
/* Refusals before lws has a request                                   */

/* A canned response written straight to a socket lws is about to close
 * (a connection over the cap, or CONNECT). Best effort, never blocks. */
static void send_canned(int fd, int status, const char *reason, const char *code,
                        const char *message)
{
    char body[256], buf[512];
    int bl, n;

    bl = snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code,
                  message);
    n = snprintf(buf, sizeof buf,
                 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                 "Connection: close\r\n\r\n%s",
                 status, reason, bl, body);
    if (n > 0 && (size_t)n < sizeof buf)
        (void)!send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static int filter_address(int fd)
{
    const char *code = NULL, *message = NULL;
    char peer[64] = "unknown";
    int status = parley__ip_admit(fd, &code, &message);

    if (status == 0)
        return 0;
    {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;

        if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
            (void)getnameinfo((struct sockaddr *)&ss, sl, peer, sizeof peer, NULL, 0,
                              NI_NUMERICHOST);
    }
    /* A flood would flood the log too: debug only; the counters tell. */
    L_DEBUG("refusing a connection from %s: %s", peer, message);
    send_canned(fd, status, parley__http_status_text(status), code, message);
    return 1;
}

static int filter_connection(int fd)
{
    if (L.draining) {
        PARLEY__COUNT(refused_draining);
        L_DEBUG("refusing a new connection: shutting down");
        send_canned(fd, 503, "Service Unavailable", "shutting_down", "the server is shutting down");
        return 1;
    }
    L_DEBUG("new connection (fd %d): %u open", fd, L.connections);
    if (L.connections >= L.opts.max_connections) {
        PARLEY__COUNT(refused_limit);
        L_WARN("refusing a new connection: %u open, listener.max_connections is %u",
               L.connections, L.opts.max_connections);
        send_canned(fd, 503, "Service Unavailable", "too_many_connections",
                    "the server is at listener.max_connections");
        return 1;
    }
    return filter_address(fd);
}

/* lws switches a CONNECT request to a raw socket bound to our protocol. */
static int refuse_raw(struct lws *wsi)
{
    char peer[64];

    PARLEY__COUNT(refused_connect);
    L_WARN("refusing CONNECT from %s: not a proxy", parley__peer(wsi, peer, sizeof peer));
    send_canned(lws_get_socket_fd(wsi), 405, "Method Not Allowed", "method_not_allowed",
                "CONNECT is not supported");
    return -1;
}

/* ------------------------------------------------------------------ */
/* The callback                                                        */

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct parley__pss *pss = user;

    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        return filter_connection((int)(intptr_t)in);
    case LWS_CALLBACK_WSI_CREATE:
        parley__ip_attach(wsi);
        L.connections++;
        parley__metric_set(L.m.connections, L.connections);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        /* The listening socket is destroyed without a create: clamp. */
        if (L.connections > 0)
            L.connections--;
        parley__ip_detach(wsi);
        parley__metric_set(L.m.connections, L.connections);
        if (pss != NULL) {
            parley__http_on_gone(pss);
            if (pss->conn != NULL)
                parley__ws_on_closed(wsi, pss);
        }
        parley__ws_on_destroy(wsi);
        return 0;

    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        /* CVE-2025-11677: `in` may point at a released header table. */
        (void)in;
        return parley__ws_confirm_upgrade(wsi);

    case LWS_CALLBACK_RAW_ADOPT:
        return refuse_raw(wsi);
    case LWS_CALLBACK_RAW_RX:
    case LWS_CALLBACK_RAW_WRITEABLE:
        return -1;

    case LWS_CALLBACK_HTTP:
        return pss ? parley__http_on_request(wsi, pss) : -1;
    case LWS_CALLBACK_HTTP_BODY:
        return pss ? parley__http_on_body(wsi, pss, in, len) : -1;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return pss ? parley__http_on_body_done(wsi, pss) : -1;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return pss ? parley__http_on_writeable(wsi, pss) : 0;
    case LWS_CALLBACK_TIMER:
        return pss ? parley__http_on_timer(wsi, pss) : 0;
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (pss != NULL)
            parley__http_on_gone(pss);
        return 0;

    case LWS_CALLBACK_ESTABLISHED:
        return pss ? parley__ws_on_established(wsi, pss) : -1;
    case LWS_CALLBACK_RECEIVE:
        return pss ? parley__ws_on_receive(wsi, pss, in, len) : -1;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        return pss ? parley__ws_on_peer_close(wsi, pss, in, len) : 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return pss ? parley__ws_on_writeable(wsi, pss) : 0;
    case LWS_CALLBACK_CLOSED:
        if (pss != NULL)
            parley__ws_on_closed(wsi, pss);
        return 0;

    default:
        return 0;
    }
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

void parley__listener_close(void)
{
    if (L.ctx == NULL)
        return;
    L.draining = 1;
    /* First pass: lws closes every connection and starts closing its libuv
     * handles; the loop must run on for them to finish. */
    lws_context_destroy(L.ctx);
}

void parley__listener_finalize(void)
{
    /* The metrics registry may be freed right after us. */
    memset(&L.m, 0, sizeof L.m);
    /* Second pass, after uv_run returned: lws frees what the first left. */
    if (L.ctx_kept != NULL) {
        if (L.ctx != NULL)
            lws_context_destroy(L.ctx);
        L.ctx = NULL;
        L.ctx_kept = NULL;
    }
    if (L.pending_conn != NULL)
        parley__ws_on_destroy(L.pending_wsi);
    parley__ip_free();
    free(L.scratch);
    free(L.routes);
    free(L.eps);
    free(L.host);
    memset(&L, 0, sizeof L);
}
