/*
 * Engine.IO server: life cycle, the session table, the heartbeat and the
 * send path (engine.h). The HTTP route is engine_polling.c, the WebSocket
 * endpoint and the upgrade engine_ws.c.
 *
 * Sessions are reference counted: the table holds one reference while the
 * session is open, each WebSocket attached to it one, and every dispatch in
 * progress one, so a callback that closes the session (eio_close from
 * on_message) never pulls it from under the code that called it.
 */
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "engine_int.h"

static const char *const perr_names[EIO_PE_COUNT] = {
    [EIO_PE_UNKNOWN_TRANSPORT] = "unknown_transport",
    [EIO_PE_UNKNOWN_SID] = "unknown_sid",
    [EIO_PE_BAD_METHOD] = "bad_handshake_method",
    [EIO_PE_BAD_REQUEST] = "bad_request",
    [EIO_PE_FORBIDDEN] = "forbidden_origin",
    [EIO_PE_BAD_VERSION] = "unsupported_version",
    [EIO_PE_PARSE] = "parse_error",
    [EIO_PE_HEARTBEAT] = "heartbeat_direction",
    [EIO_PE_OVERLAP] = "overlap",
    [EIO_PE_TRANSPORT_MISMATCH] = "transport_mismatch",
    [EIO_PE_INVALID_CONTENT] = "invalid_content",
    [EIO_PE_BAD_ORIGIN] = "invalid_origin",
    [EIO_PE_UPGRADE] = "bad_upgrade",
};

static void poll_flush(struct eio_socket *s, const char *trailer);
static void flush_unlink(struct eio_socket *s);

void eio_options_default(struct eio_options *o)
{
    memset(o, 0, sizeof *o);
    o->path = "/socket.io/";
    o->ping_interval_ms = 25000;
    o->ping_timeout_ms = 20000;
    o->upgrade_timeout_ms = 10000;
    o->max_payload = 1000000;
    o->send_queue_max = 1024 * 1024;
    o->allow_polling = 1;
    o->allow_websocket = 1;
}

/* ------------------------------------------------------------------ */
/* Metrics                                                             */

static parley_metric *metric(struct eio_server *srv, uint32_t kind, const char *name,
                             const char *help, const char *labels)
{
    parley_metric_desc d = { sizeof d, kind, name, help, labels, NULL, 0 };
    parley_error e = PARLEY_ERROR_INIT;
    parley_metric *m = srv->api->metric_register(srv->host, &d, &e);

    if (m == NULL)
        srv->api->log(srv->host, PARLEY_LOG_WARN, "engine.io: metric %s{%s}: %s", name,
                      labels ? labels : "", e.message);
    return m;
}

static void metrics_register(struct eio_server *srv)
{
    struct eio_metrics *m = &srv->m;
    char labels[64];

    m->sessions_polling = metric(srv, PARLEY_METRIC_GAUGE, "parley_eio_sessions",
                                 "Engine.IO sessions open, by transport", "transport=\"polling\"");
    m->sessions_ws = metric(srv, PARLEY_METRIC_GAUGE, "parley_eio_sessions",
                            "Engine.IO sessions open, by transport", "transport=\"websocket\"");
    m->opened_polling = metric(srv, PARLEY_METRIC_COUNTER, "parley_eio_handshakes_total",
                               "Engine.IO handshakes, by transport", "transport=\"polling\"");
    m->opened_ws = metric(srv, PARLEY_METRIC_COUNTER, "parley_eio_handshakes_total",
                          "Engine.IO handshakes, by transport", "transport=\"websocket\"");
    m->upgrades = metric(srv, PARLEY_METRIC_COUNTER, "parley_eio_upgrades_total",
                         "Polling sessions upgraded to WebSocket", NULL);
    m->upgrade_failures = metric(srv, PARLEY_METRIC_COUNTER, "parley_eio_upgrade_failures_total",
                                 "Upgrade probes that did not complete", NULL);
    m->ping_timeouts = metric(srv, PARLEY_METRIC_COUNTER, "parley_eio_ping_timeouts_total",
                              "Sessions closed because no pong came within pingTimeout", NULL);
    m->slow_polling = metric(srv, PARLEY_METRIC_COUNTER, "parley_eio_slow_consumers_total",
                             "Sessions closed as slow consumers, by transport",
                             "transport=\"polling\"");
    m->slow_ws = metric(srv, PARLEY_METRIC_COUNTER, "parley_eio_slow_consumers_total",
                        "Sessions closed as slow consumers, by transport",
                        "transport=\"websocket\"");
    for (int i = 0; i < EIO_PE_COUNT; i++) {
        snprintf(labels, sizeof labels, "reason=\"%s\"", perr_names[i]);
        m->perr[i] = metric(srv, PARLEY_METRIC_COUNTER, "parley_eio_protocol_errors_total",
                            "Engine.IO requests and packets refused, by reason", labels);
    }
}

static void madd(struct eio_server *srv, parley_metric *m, double v)
{
    if (m != NULL)
        srv->api->metric_add(m, v);
}

void eio__perr(struct eio_server *srv, int which)
{
    if (which >= 0 && which < EIO_PE_COUNT)
        madd(srv, srv->m.perr[which], 1);
}

void eio__sessions_gauge(struct eio_server *srv, int transport, double delta)
{
    madd(srv, transport == EIO_TRANSPORT_WEBSOCKET ? srv->m.sessions_ws : srv->m.sessions_polling,
         delta);
}

/* ------------------------------------------------------------------ */
/* Server                                                              */

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);

    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

static void server_free(struct eio_server *srv)
{
    for (size_t i = 0; i < srv->n_origins; i++)
        free(srv->origins[i]);
    free(srv->origins);
    free(srv->path);
    free(srv->buckets);
    free(srv->scratch);
    free(srv->body);
    free(srv);
}

static int check_options(const struct eio_options *o, parley_error *err)
{
    size_t pl;

    if (o->path == NULL || o->path[0] != '/')
        return parley_error_set(err, PARLEY_EINVAL, "engine.io: path \"%s\" must start with '/'",
                                o->path ? o->path : "(null)");
    pl = strlen(o->path);
    if (pl < 2 || o->path[pl - 1] != '/' || pl > 200)
        return parley_error_set(err, PARLEY_EINVAL,
                                "engine.io: path \"%.200s\" must end with '/' (e.g. /socket.io/) "
                                "and be at most 200 bytes", o->path);
    if (o->ping_interval_ms == 0 || o->ping_timeout_ms == 0)
        return parley_error_set(err, PARLEY_EINVAL,
                                "engine.io: ping_interval (%llu ms) and ping_timeout (%llu ms) must "
                                "be positive", (unsigned long long)o->ping_interval_ms,
                                (unsigned long long)o->ping_timeout_ms);
    if (o->ping_interval_ms > UINT32_MAX || o->ping_timeout_ms > UINT32_MAX)
        return parley_error_set(err, PARLEY_EINVAL,
                                "engine.io: ping_interval and ping_timeout must fit 32 bits of ms");
    if (o->upgrade_timeout_ms == 0)
        return parley_error_set(err, PARLEY_EINVAL, "engine.io: upgrade_timeout must be positive");
    if (o->max_payload < 16 || o->max_payload > UINT32_MAX)
        return parley_error_set(err, PARLEY_EINVAL,
                                "engine.io: max_payload %zu must be within 16..4294967295 bytes",
                                o->max_payload);
    if (o->send_queue_max == 0)
        return parley_error_set(err, PARLEY_EINVAL, "engine.io: send_queue_max must be positive");
    if (!o->allow_polling && !o->allow_websocket)
        return parley_error_set(err, PARLEY_EINVAL,
                                "engine.io: at least one of polling and websocket must be allowed");
    if (o->n_cors_origins > 0 && o->cors_origins == NULL)
        return parley_error_set(err, PARLEY_EINVAL, "engine.io: %zu cors origins but no list",
                                o->n_cors_origins);
    for (size_t i = 0; i < o->n_cors_origins; i++) {
        const char *og = o->cors_origins[i];

        if (og == NULL || og[0] == '\0' || strlen(og) >= EIO_ORIGIN_MAX)
            return parley_error_set(err, PARLEY_EINVAL,
                                    "engine.io: cors origin %zu is empty or longer than %d bytes",
                                    i, EIO_ORIGIN_MAX - 1);
    }
    return 0;
}

int eio_server_create(const parley_host_api *api, parley_host *host, const struct eio_options *o,
                      const struct eio_callbacks *cb, void *cb_arg, struct eio_server **out,
                      parley_error *err)
{
    struct eio_server *srv;
    int rc;

    if (api == NULL || o == NULL || cb == NULL || out == NULL)
        return parley_error_set(err, PARLEY_EINVAL, "engine.io: NULL argument");
    if ((rc = check_options(o, err)) < 0)
        return rc;
    srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "engine.io: out of memory");
    srv->api = api;
    srv->host = host;
    srv->o = *o;
    srv->cb = *cb;
    srv->cb_arg = cb_arg;
    srv->path = dup_str(o->path);
    srv->n_buckets = 256;
    srv->buckets = calloc(srv->n_buckets, sizeof *srv->buckets);
    if (o->n_cors_origins > 0)
        srv->origins = calloc(o->n_cors_origins, sizeof *srv->origins);
    if (srv->path == NULL || srv->buckets == NULL || (o->n_cors_origins > 0 && !srv->origins)) {
        server_free(srv);
        return parley_error_set(err, PARLEY_ENOMEM, "engine.io: out of memory");
    }
    for (size_t i = 0; i < o->n_cors_origins; i++) {
        if (strcmp(o->cors_origins[i], "*") == 0)
            srv->any_origin = 1;
        srv->origins[i] = dup_str(o->cors_origins[i]);
        if (srv->origins[i] == NULL) {
            server_free(srv);
            return parley_error_set(err, PARLEY_ENOMEM, "engine.io: out of memory");
        }
        srv->n_origins = i + 1;
    }
    srv->o.path = srv->path;
    srv->o.cors_origins = NULL;
    srv->o.n_cors_origins = srv->n_origins;
    eio_limits_default(&srv->lim);
    srv->lim.max_decoded_bytes = o->max_payload;
    *out = srv;
    return 0;
}

int eio_server_start(struct eio_server *srv, parley_error *err)
{
    parley_http_route route = { sizeof route, srv->path, srv->o.max_payload,
                                eio__http_on_request, eio__http_on_abort, srv };
    parley_ws_endpoint ep = { sizeof ep, srv->path, srv->o.max_payload, eio__ws_on_upgrade,
                              eio__ws_on_open, eio__ws_on_message, eio__ws_on_close, srv };
    int rc;

    if (srv->started)
        return parley_error_set(err, PARLEY_EINVAL, "engine.io: %s already started", srv->path);
    metrics_register(srv);
    if ((rc = srv->api->http_route_add(srv->host, &route, err)) < 0)
        return rc;
    if ((rc = srv->api->ws_endpoint_add(srv->host, &ep, err)) < 0)
        return rc;
    srv->started = 1;
    return 0;
}

void eio_server_drain(struct eio_server *srv, const char *reason)
{
    if (srv == NULL)
        return;
    srv->draining = 1;
    while (srv->sessions != NULL)
        eio__session_close(srv->sessions, reason ? reason : "server shutting down", 1001, 0);
}

void eio_server_destroy(struct eio_server *srv)
{
    struct eio_ws *w, *next;

    if (srv == NULL)
        return;
    srv->destroying = 1;
    eio_server_drain(srv, "server shutting down");
    srv->api->timer_stop(srv->flush_timer);
    srv->flush_timer = NULL;
    /* The listener closes every connection before plugins are destroyed;
     * a WebSocket still here would call back into freed memory, so this
     * only frees what the host told us is gone. */
    for (w = srv->wss; w != NULL; w = next) {
        next = w->next;
        if (w->conn == NULL) {
            free(w);
            continue;
        }
        srv->api->log(srv->host, PARLEY_LOG_ERROR,
                      "engine.io: a WebSocket on %s is still open at destroy", srv->path);
        w->srv = NULL;
    }
    server_free(srv);
}

size_t eio_server_sessions(const struct eio_server *srv)
{
    return srv ? srv->n_sessions : 0;
}

int eio__buf_reserve(uint8_t **buf, size_t *cap, size_t n)
{
    uint8_t *b;
    size_t c;

    if (n + 1 <= *cap)
        return 0;
    c = *cap ? *cap : 4096;
    while (c < n + 1)
        c = c > SIZE_MAX / 2 ? n + 1 : c * 2;
    b = realloc(*buf, c);
    if (b == NULL)
        return PARLEY_ENOMEM;
    *buf = b;
    *cap = c;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The session table                                                   */

static size_t sid_hash(const char *sid, size_t len, size_t n_buckets)
{
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)sid[i]) * 1099511628211ull;
    return (size_t)(h & (n_buckets - 1));
}

static void table_grow(struct eio_server *srv)
{
    size_t nb = srv->n_buckets * 2;
    struct eio_socket **b = calloc(nb, sizeof *b);

    if (b == NULL)
        return;                 /* longer chains, still correct */
    for (size_t i = 0; i < srv->n_buckets; i++) {
        struct eio_socket *s = srv->buckets[i], *next;

        for (; s != NULL; s = next) {
            size_t h = sid_hash(s->sid, EIO_SID_LEN, nb);

            next = s->hnext;
            s->hnext = b[h];
            b[h] = s;
        }
    }
    free(srv->buckets);
    srv->buckets = b;
    srv->n_buckets = nb;
}

int eio__closed_recently(struct eio_server *srv, const char *sid, size_t len)
{
    uint64_t now = srv->api->now_ms(srv->host);

    if (len != EIO_SID_LEN)
        return 0;
    for (unsigned i = 0; i < EIO_CLOSED_KEEP; i++) {
        if (srv->closed[i].sid[0] == '\0' || memcmp(srv->closed[i].sid, sid, EIO_SID_LEN) != 0)
            continue;
        srv->closed[i].sid[0] = '\0';
        return now - srv->closed[i].at <= EIO_CLOSED_GRACE_MS;
    }
    return 0;
}

struct eio_socket *eio__session_find(struct eio_server *srv, const char *sid, size_t len)
{
    struct eio_socket *s;

    if (len != EIO_SID_LEN)
        return NULL;
    for (s = srv->buckets[sid_hash(sid, len, srv->n_buckets)]; s != NULL; s = s->hnext)
        if (memcmp(s->sid, sid, EIO_SID_LEN) == 0)
            return s;
    return NULL;
}

static void table_del(struct eio_server *srv, struct eio_socket *s)
{
    struct eio_socket **pp = &srv->buckets[sid_hash(s->sid, EIO_SID_LEN, srv->n_buckets)];

    for (; *pp != NULL; pp = &(*pp)->hnext)
        if (*pp == s) {
            *pp = s->hnext;
            break;
        }
    s->hnext = NULL;
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        srv->sessions = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    srv->n_sessions--;
}

/* base64url without padding: 16 bytes → 22 characters of [A-Za-z0-9_-]. */
static int make_sid(struct eio_server *srv, char out[EIO_SID_LEN + 1])
{
    uint8_t raw[EIO_SID_BYTES];
    char b64[32];

    if (srv->api->random_bytes(srv->host, raw, sizeof raw) < 0)
        return PARLEY_EIO;
    sio_base64_encode(raw, sizeof raw, b64);
    for (int i = 0; i < EIO_SID_LEN; i++)
        out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    out[EIO_SID_LEN] = '\0';
    return 0;
}

/* The host sheds the biggest client when listener.client_memory_max is
 * passed; for a polling session, that closes it. */
static void memory_shed(void *arg)
{
    eio__session_close(arg, "memory pressure", 1008, 0);
}

static void memory_report(struct eio_socket *s)
{
    if (s->mem != NULL)
        s->srv->api->memory_set(s->mem, s->q_bytes);
}

struct eio_socket *eio__session_new(struct eio_server *srv, int transport, const char *remote)
{
    struct eio_socket *s = calloc(1, sizeof *s);
    size_t h;

    if (s == NULL)
        return NULL;
    /* 128 random bits: a collision means a broken CSPRNG, but check. */
    for (int tries = 0;; tries++) {
        if (tries == 4 || make_sid(srv, s->sid) < 0) {
            srv->api->log(srv->host, PARLEY_LOG_ERROR, "engine.io: cannot make a session id");
            free(s);
            return NULL;
        }
        if (eio__session_find(srv, s->sid, EIO_SID_LEN) == NULL)
            break;
    }
    s->srv = srv;
    s->transport = transport;
    s->state = EIO_S_OPEN;
    s->refs = 1;
    if (PARLEY_HAS_FIELD(srv->api, parley_host_api, memory_close) && srv->api->memory_open != NULL)
        s->mem = srv->api->memory_open(srv->host, memory_shed, s);
    snprintf(s->remote, sizeof s->remote, "%s", remote ? remote : "");
    if (srv->n_sessions >= srv->n_buckets)
        table_grow(srv);
    h = sid_hash(s->sid, EIO_SID_LEN, srv->n_buckets);
    s->hnext = srv->buckets[h];
    srv->buckets[h] = s;
    s->next = srv->sessions;
    if (srv->sessions != NULL)
        srv->sessions->prev = s;
    srv->sessions = s;
    srv->n_sessions++;
    eio__sessions_gauge(srv, transport, 1);
    madd(srv, transport == EIO_TRANSPORT_WEBSOCKET ? srv->m.opened_ws : srv->m.opened_polling, 1);
    return s;
}

void eio__session_ref(struct eio_socket *s)
{
    s->refs++;
}

void eio__session_unref(struct eio_socket *s)
{
    if (s == NULL || --s->refs > 0)
        return;
    eio__queue_drop(s);
    free(s->q);
    free(s);
}

void eio__session_close(struct eio_socket *s, const char *reason, int ws_code, int client_close)
{
    struct eio_server *srv = s->srv;
    const parley_host_api *api = srv->api;

    if (s->state != EIO_S_OPEN)
        return;
    s->state = EIO_S_CLOSED;
    eio__session_ref(s);
    if (s->mem != NULL) {
        api->memory_close(s->mem);
        s->mem = NULL;
    }
    table_del(srv, s);
    flush_unlink(s);
    eio__sessions_gauge(srv, s->transport, -1);
    api->timer_stop(s->hb_timer);
    s->hb_timer = NULL;
    api->timer_stop(s->upgrade_timer);
    s->upgrade_timer = NULL;
    if (api->log_enabled(srv->host, PARLEY_LOG_DEBUG))
        api->log(srv->host, PARLEY_LOG_DEBUG, "engine.io %s: session %s (%s) closed: %s",
                 srv->path, s->sid, eio_transport(s), reason);
    if (s->get != NULL && client_close) {
        eio__poll_respond_get(s, EIO_PKT_NOOP, 1);
    } else if (s->get != NULL) {
        /* What was sent before the close goes out first (a Socket.IO
         * DISCONNECT, say), then the close packet. */
        poll_flush(s, EIO_PKT_CLOSE);
    } else if (client_close && s->transport == EIO_TRANSPORT_POLLING) {
        unsigned i = srv->closed_next++ % EIO_CLOSED_KEEP;

        memcpy(srv->closed[i].sid, s->sid, sizeof s->sid);
        srv->closed[i].at = api->now_ms(srv->host);
    }
    eio__queue_drop(s);
    if (s->probe != NULL) {
        struct eio_ws *p = s->probe;

        eio__ws_close(p, 1000, "session closed");
        eio__ws_detach(p);
    }
    if (s->ws != NULL) {
        struct eio_ws *w = s->ws;

        eio__ws_close(w, ws_code, reason);
        eio__ws_detach(w);
    }
    if (srv->cb.on_close != NULL)
        srv->cb.on_close(srv->cb_arg, s, reason);
    s->user = NULL;
    eio__session_unref(s);      /* the table's */
    eio__session_unref(s);      /* ours */
}

void eio_close(struct eio_socket *s, const char *reason)
{
    if (s != NULL)
        eio__session_close(s, reason ? reason : "forced close", 1000, 0);
}

/* ------------------------------------------------------------------ */
/* Heartbeat: the server pings every pingInterval (counted from the      */
/* handshake, then from each pong) and expects the pong within          */
/* pingTimeout. Deadlines are computed from when the ping was due, not   */
/* from when a late timer ran, and every incoming request checks them    */
/* too, so a session is never kept alive by a slow loop.                 */

static void hb_fire(void *arg);

static void hb_arm(struct eio_socket *s, uint64_t now)
{
    const parley_host_api *api = s->srv->api;
    uint64_t due = s->ping_outstanding ? s->pong_deadline : s->next_ping_at;

    api->timer_stop(s->hb_timer);
    s->hb_timer = api->timer_start(s->srv->host, due > now ? due - now : 0, 0, hb_fire, s);
}

static int send_ping(struct eio_socket *s)
{
    struct eio_server *srv = s->srv;
    char *d;
    parley_frame *f = srv->api->frame_alloc(srv->host, 1, 0, &d);
    int rc;

    if (f == NULL)
        return PARLEY_ENOMEM;
    d[0] = '2';
    rc = eio_send_frame_as(s, f, 0);
    srv->api->frame_release(f);
    return rc;
}

static int hb_run(struct eio_socket *s, int from_timer)
{
    uint64_t now = s->srv->api->now_ms(s->srv->host);
    int changed = 0;

    if (s->state != EIO_S_OPEN)
        return -1;
    if (!s->ping_outstanding && now >= s->next_ping_at) {
        s->ping_outstanding = 1;
        s->pong_deadline = s->next_ping_at + s->srv->o.ping_timeout_ms;
        changed = 1;
        if (now < s->pong_deadline) {
            if (send_ping(s) < 0 || s->state != EIO_S_OPEN)
                return -1;
        }
    }
    if (s->ping_outstanding && now >= s->pong_deadline) {
        madd(s->srv, s->srv->m.ping_timeouts, 1);
        eio__session_close(s, "ping timeout", 1000, 0);
        return -1;
    }
    if (changed || from_timer)
        hb_arm(s, now);
    return 0;
}

int eio__heartbeat_check(struct eio_socket *s)
{
    return hb_run(s, 0);
}

static void hb_fire(void *arg)
{
    struct eio_socket *s = arg;

    s->srv->api->timer_stop(s->hb_timer);
    s->hb_timer = NULL;
    hb_run(s, 1);
}

void eio__heartbeat_start(struct eio_socket *s)
{
    uint64_t now = s->srv->api->now_ms(s->srv->host);

    s->ping_outstanding = 0;
    s->next_ping_at = now + s->srv->o.ping_interval_ms;
    hb_arm(s, now);
}

void eio__on_pong(struct eio_socket *s)
{
    uint64_t now;

    /* An unsolicited pong proves nothing and must not push the next ping
     * back (E07): only the answer to an outstanding ping counts. */
    if (!s->ping_outstanding || s->state != EIO_S_OPEN)
        return;
    now = s->srv->api->now_ms(s->srv->host);
    s->ping_outstanding = 0;
    s->next_ping_at = now + s->srv->o.ping_interval_ms;
    hb_arm(s, now);
}

/* ------------------------------------------------------------------ */
/* Sending                                                             */

void eio__queue_drop(struct eio_socket *s)
{
    const parley_host_api *api = s->srv->api;

    while (s->q_count > 0) {
        api->frame_release(s->q[s->q_head].frame);
        s->q[s->q_head].frame = NULL;
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_count--;
    }
    s->q_head = 0;
    s->q_bytes = 0;
    memory_report(s);
}

static int queue_push(struct eio_socket *s, parley_frame *frame, size_t size, int binary)
{
    struct eio_server *srv = s->srv;
    struct eio_qent *e;

    /* One packet may always wait, whatever its size; the cap bounds the
     * backlog behind it (the same rule as the listener's WebSocket queue). */
    if (s->q_count > 0 && s->q_bytes + size + 1 > srv->o.send_queue_max) {
        madd(srv, srv->m.slow_polling, 1);
        srv->api->log(srv->host, PARLEY_LOG_WARN,
                      "engine.io %s: session %s: slow consumer, %zu bytes queued + %zu over "
                      "send_queue_max %zu; closing", srv->path, s->sid, s->q_bytes, size,
                      srv->o.send_queue_max);
        eio__session_close(s, "slow consumer", 1008, 0);
        return PARLEY_ELIMIT;
    }
    if (s->q_count == s->q_cap) {
        size_t cap = s->q_cap ? s->q_cap * 2 : 8;
        struct eio_qent *q = malloc(cap * sizeof *q);

        if (q == NULL)
            return PARLEY_ENOMEM;
        for (size_t i = 0; i < s->q_count; i++)
            q[i] = s->q[(s->q_head + i) % s->q_cap];
        free(s->q);
        s->q = q;
        s->q_cap = cap;
        s->q_head = 0;
    }
    e = &s->q[(s->q_head + s->q_count) % s->q_cap];
    e->frame = srv->api->frame_retain(frame);
    e->size = (uint32_t)size;
    e->binary = (uint8_t)(binary != 0);
    s->q_count++;
    s->q_bytes += size + (s->q_count > 1);
    if (s->mem != NULL) {
        /* Reporting may shed this very session (the host calls
         * memory_shed): hold it while we look. */
        int closed;

        eio__session_ref(s);
        memory_report(s);
        closed = s->state != EIO_S_OPEN;
        eio__session_unref(s);
        if (closed)
            return PARLEY_ELIMIT;
    }
    return 0;
}

static void flush_unlink(struct eio_socket *s)
{
    struct eio_server *srv = s->srv;

    if (!s->flush_queued)
        return;
    if (s->fprev != NULL)
        s->fprev->fnext = s->fnext;
    else
        srv->flush_list = s->fnext;
    if (s->fnext != NULL)
        s->fnext->fprev = s->fprev;
    s->fprev = s->fnext = NULL;
    s->flush_queued = 0;
}

static void flush_fire(void *arg)
{
    struct eio_server *srv = arg;
    struct eio_socket *s;

    srv->api->timer_stop(srv->flush_timer);
    srv->flush_timer = NULL;
    while ((s = srv->flush_list) != NULL) {
        flush_unlink(s);
        if (s->state == EIO_S_OPEN)
            eio__poll_flush(s);
    }
}

static void flush_later(struct eio_socket *s)
{
    struct eio_server *srv = s->srv;

    if (s->flush_queued)
        return;
    s->fprev = NULL;
    s->fnext = srv->flush_list;
    if (srv->flush_list != NULL)
        srv->flush_list->fprev = s;
    srv->flush_list = s;
    s->flush_queued = 1;
    if (srv->flush_timer == NULL)
        srv->flush_timer = srv->api->timer_start(srv->host, 0, 0, flush_fire, srv);
    if (srv->flush_timer == NULL)
        eio__poll_flush(s);     /* no timer: answer now rather than late */
}

int eio_send_frame_as(struct eio_socket *s, parley_frame *frame, int binary)
{
    const parley_host_api *api;
    size_t len, size;
    int rc;

    if (s == NULL || frame == NULL)
        return PARLEY_EINVAL;
    if (s->state != EIO_S_OPEN)
        return PARLEY_ECLOSED;
    api = s->srv->api;
    if (s->transport == EIO_TRANSPORT_WEBSOCKET) {
        if (s->ws == NULL || s->ws->conn == NULL || s->ws->closing)
            return PARLEY_ECLOSED;
        rc = api->conn_send(s->ws->conn, frame);
        if (rc == PARLEY_ELIMIT && !s->slow) {
            /* The listener closes it 1008; on_close then ends the session. */
            s->slow = 1;
            madd(s->srv, s->srv->m.slow_ws, 1);
        }
        return rc;
    }
    api->frame_data(frame, &len);
    if (!binary && len == 0)
        return PARLEY_EINVAL;
    size = binary ? eio_polling_packet_size(1, len) : len;
    if (size == SIZE_MAX || size > UINT32_MAX)
        return PARLEY_ETOOBIG;
    if ((rc = queue_push(s, frame, size, binary)) < 0)
        return rc;
    if (!s->dispatching && s->get != NULL)
        flush_later(s);
    return 0;
}

int eio_send_frame(struct eio_socket *s, parley_frame *frame)
{
    return eio_send_frame_as(s, frame, 0);
}

int eio_send_frame_binary(struct eio_socket *s, parley_frame *frame)
{
    return eio_send_frame_as(s, frame, 1);
}

static int send_copy(struct eio_socket *s, const void *data, size_t len, int binary)
{
    const parley_host_api *api;
    parley_frame *f;
    char *d;
    int rc;

    if (s == NULL || (data == NULL && len > 0))
        return PARLEY_EINVAL;
    if (s->state != EIO_S_OPEN)
        return PARLEY_ECLOSED;
    api = s->srv->api;
    if (len > SIZE_MAX - 1)
        return PARLEY_ETOOBIG;
    f = api->frame_alloc(s->srv->host, len + !binary, binary, &d);
    if (f == NULL)
        return PARLEY_ENOMEM;
    if (!binary)
        *d++ = '4';
    if (len > 0)
        memcpy(d, data, len);
    rc = eio_send_frame_as(s, f, binary);
    api->frame_release(f);
    return rc;
}

int eio_send_text(struct eio_socket *s, const char *data, size_t len)
{
    return send_copy(s, data, len, 0);
}

int eio_send_binary(struct eio_socket *s, const void *data, size_t len)
{
    return send_copy(s, data, len, 1);
}

/* Drain the queue into the held GET; `trailer` (e.g. the close packet) is
 * appended as the last packet when not NULL. */
static void poll_flush(struct eio_socket *s, const char *trailer)
{
    struct eio_server *srv = s->srv;
    const parley_host_api *api = srv->api;
    parley_error e = PARLEY_ERROR_INIT;
    size_t tl = trailer ? strlen(trailer) : 0;
    eio_builder b;

    flush_unlink(s);
    if (s->get == NULL)
        return;
    if (s->q_count == 0) {
        if (trailer != NULL)
            eio__poll_respond_get(s, trailer, tl);
        else if (s->probed)
            eio__poll_respond_get(s, EIO_PKT_NOOP, 1);
        return;
    }
    if (eio__buf_reserve(&srv->scratch, &srv->scratch_cap, s->q_bytes + 1 + tl) < 0) {
        eio__queue_drop(s);
        eio__poll_respond_get(s, trailer ? trailer : EIO_PKT_NOOP, trailer ? tl : 1);
        return;
    }
    eio_builder_init(&b, (char *)srv->scratch, srv->scratch_cap);
    for (size_t i = 0; i < s->q_count; i++) {
        const struct eio_qent *q = &s->q[(s->q_head + i) % s->q_cap];
        size_t len;
        const void *data = api->frame_data(q->frame, &len);
        int rc = q->binary ? eio_builder_add_binary(&b, data, len, &e)
                           : eio_builder_add_encoded(&b, data, len, &e);

        if (rc < 0)
            api->log(srv->host, PARLEY_LOG_WARN, "engine.io %s: session %s: packet dropped: %s",
                     srv->path, s->sid, e.message);
    }
    if (trailer != NULL)
        eio_builder_add_encoded(&b, trailer, tl, NULL);
    eio__queue_drop(s);
    if (b.count == 0)
        eio__poll_respond_get(s, EIO_PKT_NOOP, 1);
    else
        eio__poll_respond_get(s, b.buf, b.len);
}

void eio__poll_flush(struct eio_socket *s)
{
    poll_flush(s, NULL);
}

void eio__queue_to_ws(struct eio_socket *s)
{
    const parley_host_api *api = s->srv->api;

    while (s->q_count > 0 && s->state == EIO_S_OPEN && s->ws != NULL && s->ws->conn != NULL) {
        parley_frame *f = s->q[s->q_head].frame;

        s->q[s->q_head].frame = NULL;
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_count--;
        if (api->conn_send(s->ws->conn, f) == PARLEY_ELIMIT && !s->slow) {
            s->slow = 1;
            madd(s->srv, s->srv->m.slow_ws, 1);
        }
        api->frame_release(f);
    }
    eio__queue_drop(s);
}

void eio__deliver_message(struct eio_socket *s, const eio_packet *pkt)
{
    struct eio_server *srv = s->srv;

    if (srv->cb.on_message != NULL)
        srv->cb.on_message(srv->cb_arg, s, pkt->data, pkt->len, pkt->binary);
}

/* ------------------------------------------------------------------ */
/* Accessors                                                           */

void eio_set_user(struct eio_socket *s, void *user)
{
    if (s != NULL)
        s->user = user;
}

void *eio_get_user(const struct eio_socket *s)
{
    return s ? s->user : NULL;
}

const char *eio_sid(const struct eio_socket *s)
{
    return s ? s->sid : "";
}

const char *eio_transport(const struct eio_socket *s)
{
    return s && s->transport == EIO_TRANSPORT_WEBSOCKET ? "websocket" : "polling";
}

const char *eio_remote_addr(const struct eio_socket *s)
{
    return s ? s->remote : "";
}
