/*
 * The `socketio` transport plugin: descriptor, config schema, lifecycle,
 * the transport vtable and the Engine.IO callbacks. docs/socketio.md is
 * the user's side of all of this.
 */
#include <stdlib.h>
#include <string.h>

#include "socketio.h"

static const parley_config_key keys[] = {
    { "path", PARLEY_CONFIG_STRING, 0, "/socket.io/", 0, 0,
      "the Engine.IO path (Node's `path` option); polling and WebSocket share it" },
    { "ping_interval", PARLEY_CONFIG_DURATION, 0, "25s", 1, 0,
      "the server sends a ping this often (pingInterval)" },
    { "ping_timeout", PARLEY_CONFIG_DURATION, 0, "20s", 1, 0,
      "a client that has not answered a ping within this is closed (pingTimeout)" },
    { "upgrade_timeout", PARLEY_CONFIG_DURATION, 0, "10s", 1, 0,
      "an unfinished polling to WebSocket upgrade is cancelled after this (upgradeTimeout)" },
    { "connect_timeout", PARLEY_CONFIG_DURATION, 0, "45s", 1, 0,
      "a connection that has joined no namespace by then is closed (connectTimeout)" },
    { "max_http_buffer_size", PARLEY_CONFIG_SIZE, 0, "1000000", 1, 0,
      "the largest Engine.IO message or polling body (maxHttpBufferSize, maxPayload)" },
    { "max_attachments", PARLEY_CONFIG_INT, 0, "10", 0, 1000,
      "binary attachments per packet (socket.io-parser maxAttachments)" },
    { "max_namespaces", PARLEY_CONFIG_INT, 0, "16", 1, 1000,
      "namespaces one connection may join" },
    { "max_json_depth", PARLEY_CONFIG_INT, 0, "32", 1, 1000,
      "nesting depth of an event's JSON arguments; deeper closes the connection" },
    { "max_event_name_length", PARLEY_CONFIG_INT, 0, "256", 1, 65536,
      "bytes in an event name; longer closes the connection" },
    { "cors_origins", PARLEY_CONFIG_STRING_LIST, 0,
      "[http://localhost:5173, http://localhost:3000]", 0, 0,
      "origins allowed for polling (CORS) and the WebSocket upgrade; \"*\" allows all" },
    { "cors_credentials", PARLEY_CONFIG_BOOL, 0, "false", 0, 0,
      "send Access-Control-Allow-Credentials: true" },
    { "transports", PARLEY_CONFIG_STRING_LIST, 0, "[polling, websocket]", 0, 0,
      "the Engine.IO transports offered: polling, websocket" },
    { "send_queue_max", PARLEY_CONFIG_SIZE, 0, "1MiB", 1024, 0,
      "bytes queued per connection; a slower consumer is disconnected" },
    { "max_connect_bytes", PARLEY_CONFIG_SIZE, 0, "16KiB", 64, 0,
      "the largest message a connection may send while it is in no namespace (its CONNECT "
      "and auth); larger closes it" },
    { "event_rate", PARLEY_CONFIG_INT, 0, "50", 0, 1000000,
      "events per second one connection may send (token bucket refill); 0 turns the limit off" },
    { "event_burst", PARLEY_CONFIG_INT, 0, "100", 1, 1000000,
      "events one connection may send at once (token bucket size); as many refused events "
      "in a row disconnect it" },
};

static const parley_config_schema schema = PARLEY_CONFIG_SCHEMA(keys);

static const char *const error_reasons[] = {
    "decode", "limit", "invalid_state", "invalid_packet", "connect_timeout", "unknown_ack",
    "too_many_namespaces", "out_of_memory", "rate_limited",
};
#define N_REASONS (sizeof error_reasons / sizeof error_reasons[0])

struct sio_plugin_priv {
    struct sio_plugin pl;
    parley_metric *m_errors[N_REASONS];
};

void sio_count_error(struct sio_plugin *pl, const char *reason)
{
    struct sio_plugin_priv *p = (struct sio_plugin_priv *)pl;

    for (size_t i = 0; i < N_REASONS; i++) {
        if (strcmp(error_reasons[i], reason) == 0) {
            if (p->m_errors[i] != NULL)
                pl->api->metric_add(p->m_errors[i], 1);
            return;
        }
    }
}

/* ---- Engine.IO callbacks ----------------------------------------------- */

static void on_open(void *arg, struct eio_socket *s)
{
    struct sio_plugin *pl = arg;
    struct sio_conn *c = sio_conn_new(pl, s);

    if (c == NULL) {
        eio_close(s, "out of memory");
        return;
    }
    eio_set_user(s, c);
    pl->conns++;
    pl->api->metric_set(pl->m_connections, (double)pl->conns);
}

static void on_message(void *arg, struct eio_socket *s, const void *data, size_t len, int binary)
{
    struct sio_conn *c = eio_get_user(s);

    (void)arg;
    if (c != NULL)
        sio_conn_on_message(c, data, len, binary);
}

static void on_close(void *arg, struct eio_socket *s, const char *reason)
{
    struct sio_plugin *pl = arg;
    struct sio_conn *c = eio_get_user(s);

    if (c == NULL)
        return;
    eio_set_user(s, NULL);
    pl->conns--;
    pl->api->metric_set(pl->m_connections, (double)pl->conns);
    sio_conn_on_close(c, reason);
}

/* ---- vtable ------------------------------------------------------------ */

static parley_frame *vt_encode(void *instance, const parley_event *ev)
{
    return sio_chat_encode(instance, ev);
}

static void vt_deliver(void *instance, void *session_ctx, parley_frame *frame)
{
    struct sio_conn *c = session_ctx;

    (void)instance;
    if (c->closed || c->failing)
        return;
    if (c->joining > 0 && sio_chat_hold(c, frame))
        return;
    eio_send_frame(c->s, frame);
}

static void vt_drain(void *instance, const char *reason)
{
    struct sio_plugin *pl = instance;

    pl->draining = 1;
    if (pl->eio != NULL)
        eio_server_drain(pl->eio, reason);
}

static const parley_transport_vtable vtable = {
    .struct_size = sizeof(parley_transport_vtable),
    .encode = vt_encode,
    .deliver = vt_deliver,
    .drain = vt_drain,
    .client_emit = sio_events_client_emit,
    .client_ack = sio_events_client_ack,
};

/* ---- lifecycle ---------------------------------------------------------- */

static void plugin_free(struct sio_plugin *pl)
{
    for (size_t i = 0; i < pl->n_cors; i++)
        free(pl->cors[i]);
    free(pl->cors);
    free(pl->path);
    free(pl);
}

static int read_transports(struct sio_plugin *pl, parley_error *err)
{
    const parley_host_api *api = pl->api;
    size_t n = api->config_list_size(pl->cfg, "transports");

    pl->eo.allow_polling = pl->eo.allow_websocket = 0;
    for (size_t i = 0; i < n; i++) {
        const char *t = api->config_list_item(pl->cfg, "transports", i);

        if (strcmp(t, "polling") == 0)
            pl->eo.allow_polling = 1;
        else if (strcmp(t, "websocket") == 0)
            pl->eo.allow_websocket = 1;
        else
            return parley_error_set(err, PARLEY_EINVAL,
                                    "%s: transports: unknown transport \"%s\"; allowed: "
                                    "polling, websocket",
                                    api->config_location(pl->cfg, "transports"), t);
    }
    if (!pl->eo.allow_polling && !pl->eo.allow_websocket)
        return parley_error_set(err, PARLEY_EINVAL, "%s: transports: name at least one of "
                                "polling, websocket",
                                api->config_location(pl->cfg, "transports"));
    return 0;
}

static int read_config(struct sio_plugin *pl, parley_error *err)
{
    const parley_host_api *api = pl->api;
    const parley_config *cfg = pl->cfg;
    const char *path = api->config_string(cfg, "path");
    size_t n;
    int rc;

    if (path == NULL || path[0] != '/')
        return parley_error_set(err, PARLEY_EINVAL, "%s: path \"%s\" must start with '/'",
                                api->config_location(cfg, "path"), path != NULL ? path : "");
    pl->path = strdup(path);
    if (pl->path == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "out of memory");
    rc = read_transports(pl, err);
    if (rc < 0)
        return rc;
    n = api->config_list_size(cfg, "cors_origins");
    pl->cors = calloc(n > 0 ? n : 1, sizeof *pl->cors);
    if (pl->cors == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        pl->cors[i] = strdup(api->config_list_item(cfg, "cors_origins", i));
        if (pl->cors[i] == NULL)
            return parley_error_set(err, PARLEY_ENOMEM, "out of memory");
        pl->n_cors++;
    }

    pl->eo.path = pl->path;
    pl->eo.ping_interval_ms = (uint64_t)api->config_int(cfg, "ping_interval");
    pl->eo.ping_timeout_ms = (uint64_t)api->config_int(cfg, "ping_timeout");
    pl->eo.upgrade_timeout_ms = (uint64_t)api->config_int(cfg, "upgrade_timeout");
    pl->eo.max_payload = (size_t)api->config_int(cfg, "max_http_buffer_size");
    pl->eo.send_queue_max = (size_t)api->config_int(cfg, "send_queue_max");
    pl->eo.cors_origins = (const char *const *)pl->cors;
    pl->eo.n_cors_origins = pl->n_cors;
    pl->eo.cors_credentials = api->config_bool(cfg, "cors_credentials");

    pl->connect_timeout_ms = (uint64_t)api->config_int(cfg, "connect_timeout");
    pl->max_namespaces = (size_t)api->config_int(cfg, "max_namespaces");
    sio_limits_default(&pl->lim);
    pl->lim.max_attachments = (uint32_t)api->config_int(cfg, "max_attachments");
    pl->lim.max_json_depth = (uint32_t)api->config_int(cfg, "max_json_depth");
    pl->lim.max_event_name_len = (size_t)api->config_int(cfg, "max_event_name_length");
    /* Attachments are part of the message, so maxPayload bounds them too. */
    pl->lim.max_attachment_bytes = pl->eo.max_payload;
    pl->pending_max = pl->eo.send_queue_max;
    pl->max_connect_bytes = (size_t)api->config_int(cfg, "max_connect_bytes");
    pl->event_rate = (uint32_t)api->config_int(cfg, "event_rate");
    pl->event_burst = (uint32_t)api->config_int(cfg, "event_burst");
    return 0;
}

static const struct eio_callbacks callbacks = {
    .on_open = on_open,
    .on_message = on_message,
    .on_close = on_close,
};

static int sio_create(const parley_host_api *api, parley_host *host, const parley_config *config,
                      void **instance, parley_error *err)
{
    struct sio_plugin_priv *p = calloc(1, sizeof *p);
    struct sio_plugin *pl = &p->pl;
    int rc;

    if (p == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "out of memory");
    pl->api = api;
    pl->host = host;
    pl->cfg = config;
    rc = read_config(pl, err);
    if (rc < 0) {
        plugin_free(pl);
        return rc;
    }
    rc = eio_server_create(api, host, &pl->eo, &callbacks, pl, &pl->eio, err);
    if (rc < 0) {
        plugin_free(pl);
        return rc;
    }
    *instance = pl;
    return 0;
}

static void register_metrics(struct sio_plugin_priv *p)
{
    struct sio_plugin *pl = &p->pl;
    parley_error err = PARLEY_ERROR_INIT;
    char labels[64];
    parley_metric_desc d = {
        .struct_size = sizeof d, .kind = PARLEY_METRIC_GAUGE,
        .name = "parley_socketio_connections",
        .help = "Engine.IO connections of the socketio transport",
    };

    pl->m_connections = pl->api->metric_register(pl->host, &d, &err);
    d.kind = PARLEY_METRIC_COUNTER;
    d.name = "parley_socketio_events_total";
    d.help = "events received from Socket.IO clients";
    pl->m_events = pl->api->metric_register(pl->host, &d, &err);
    d.name = "parley_socketio_events_rate_limited_total";
    d.help = "events refused by the per-connection event rate limit (event_rate, event_burst)";
    pl->m_rate_limited = pl->api->metric_register(pl->host, &d, &err);
    d.name = "parley_socketio_protocol_errors_total";
    d.help = "Socket.IO protocol violations and dropped packets, by reason";
    for (size_t i = 0; i < N_REASONS; i++) {
        snprintf(labels, sizeof labels, "reason=\"%s\"", error_reasons[i]);
        d.labels = labels;
        p->m_errors[i] = pl->api->metric_register(pl->host, &d, &err);
    }
}

static int sio_start(void *instance, parley_error *err)
{
    struct sio_plugin *pl = instance;

    register_metrics((struct sio_plugin_priv *)pl);
    return eio_server_start(pl->eio, err);
}

static void sio_stop(void *instance, parley_stop_done done, void *done_arg)
{
    struct sio_plugin *pl = instance;

    if (!pl->draining && pl->eio != NULL)
        eio_server_drain(pl->eio, "server shutting down");
    pl->draining = 1;
    done(done_arg);
}

static void sio_destroy(void *instance)
{
    struct sio_plugin *pl = instance;

    if (pl->eio != NULL)
        eio_server_destroy(pl->eio);
    plugin_free(pl);
}

/* The keys SIGHUP may change on a running server: the per-connection
 * limits, read on every message. Everything else shapes the Engine.IO
 * server or its routes and needs a restart. */
static int live_key(const char *name)
{
    return strcmp(name, "event_rate") == 0 || strcmp(name, "event_burst") == 0 ||
           strcmp(name, "max_connect_bytes") == 0;
}

static int same_value(const parley_host_api *api, const parley_config *a, const parley_config *b,
                      const parley_config_key *k)
{
    switch (k->type) {
    case PARLEY_CONFIG_STRING: {
        const char *x = api->config_string(a, k->name), *y = api->config_string(b, k->name);

        return (x == NULL || y == NULL) ? x == y : strcmp(x, y) == 0;
    }
    case PARLEY_CONFIG_BOOL:
        return api->config_bool(a, k->name) == api->config_bool(b, k->name);
    case PARLEY_CONFIG_STRING_LIST: {
        size_t n = api->config_list_size(a, k->name);

        if (n != api->config_list_size(b, k->name))
            return 0;
        for (size_t i = 0; i < n; i++)
            if (strcmp(api->config_list_item(a, k->name, i),
                       api->config_list_item(b, k->name, i)) != 0)
                return 0;
        return 1;
    }
    default:
        return api->config_int(a, k->name) == api->config_int(b, k->name);
    }
}

static int sio_reconfigure(void *instance, const parley_config *config, parley_error *err)
{
    struct sio_plugin *pl = instance;
    const parley_host_api *api = pl->api;

    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (live_key(keys[i].name) || same_value(api, pl->cfg, config, &keys[i]))
            continue;
        return parley_error_set(err, PARLEY_EBUSY,
                                "%s: %s changed; only event_rate, event_burst and "
                                "max_connect_bytes apply on reload, restart for the rest",
                                api->config_location(config, keys[i].name), keys[i].name);
    }
    pl->cfg = config;
    pl->max_connect_bytes = (size_t)api->config_int(config, "max_connect_bytes");
    pl->event_rate = (uint32_t)api->config_int(config, "event_rate");
    pl->event_burst = (uint32_t)api->config_int(config, "event_burst");
    api->log(pl->host, PARLEY_LOG_INFO, "socketio: event_rate %u/s, event_burst %u, "
             "max_connect_bytes %zu", pl->event_rate, pl->event_burst, pl->max_connect_bytes);
    return 0;
}

static const parley_plugin_descriptor descriptor = {
    PARLEY_DESCRIPTOR_HEADER,
    .min_host_minor = 0,
    .kind = PARLEY_PLUGIN_TRANSPORT,
    .name = "socketio",
    .version = "0.1.0",
    .description = "Socket.IO v5 over Engine.IO v4 (WebSocket and HTTP long-polling)",
    .config_schema = &schema,
    .create = sio_create,
    .start = sio_start,
    .stop = sio_stop,
    .destroy = sio_destroy,
    .vtable = &vtable,
    .reconfigure = sio_reconfigure,
};

PARLEY_PLUGIN_ENTRY(descriptor)
