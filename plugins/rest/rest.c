/*
 * The REST transport: descriptor, config schema and lifecycle. It serves
 * the Node backend's HTTP API on the host's shared listener:
 *
 *   /api/     GET/POST /api/messages        (routes_messages.c)
 *   /health   GET /health                   (routes_health.c)
 *   /metrics  GET /metrics, unless metrics: false
 *   /         JSON 404 for everything no transport claimed, unless catch_all: false
 *
 * REST opens no chat sessions, so the transport vtable has no
 * encode/deliver: messages it posts reach other transports' clients
 * through the host.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rest.h"

static const parley_config_key rest_keys[] = {
    { "cors_origins", PARLEY_CONFIG_STRING_LIST, 0,
      "[http://localhost:5173, http://localhost:3000]", 0, 0,
      "origins allowed to call the API from a browser: scheme://host[:port], or \"*\" for any" },
    { "cors_max_age", PARLEY_CONFIG_DURATION, 0, "10m", 0, 86400000,
      "how long a browser may cache a preflight answer (Access-Control-Max-Age)" },
    { "max_body", PARLEY_CONFIG_SIZE, 0, "64KiB", 16, 16 * 1024 * 1024,
      "largest request body under /api/; larger ones get 413" },
    { "json_max_depth", PARLEY_CONFIG_INT, 0, "32", 1, 1000,
      "deepest nesting of arrays/objects accepted in a JSON body" },
    { "request_timeout", PARLEY_CONFIG_DURATION, 0, "30s", 100, 600000,
      "how long a request may wait for storage before the host drops it" },
    { "metrics", PARLEY_CONFIG_BOOL, 0, "true", 0, 0,
      "serve the host's metrics at GET /metrics" },
    { "catch_all", PARLEY_CONFIG_BOOL, 0, "true", 0, 0,
      "answer every path no transport claimed with a JSON 404 (registers the \"/\" prefix)" },
};

static const parley_config_schema rest_schema = PARLEY_CONFIG_SCHEMA(rest_keys);

static int load_config(rest *r, const parley_config *config, parley_error *err)
{
    const parley_host_api *api = r->api;

    r->max_body = (size_t)api->config_int(config, "max_body");
    r->json_max_depth = (int)api->config_int(config, "json_max_depth");
    r->request_timeout_ms = (uint64_t)api->config_int(config, "request_timeout");
    r->metrics_enabled = api->config_bool(config, "metrics");
    r->catch_all = api->config_bool(config, "catch_all");
    return rest_cors_load(&r->cors, api, config, err);
}

static int rest_create(const parley_host_api *api, parley_host *host, const parley_config *config,
                       void **instance, parley_error *err)
{
    rest *r = calloc(1, sizeof *r);
    int rc;

    if (r == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "out of memory creating the REST transport");
    r->api = api;
    r->host = host;
    rc = load_config(r, config, err);
    if (rc < 0) {
        free(r);
        return rc;
    }
    *instance = r;
    return 0;
}

static int add_route(rest *r, const char *prefix, size_t max_body,
                     int (*on_request)(void *, parley_http_request *), parley_error *err)
{
    parley_http_route route = {
        .struct_size = sizeof route,
        .prefix = prefix,
        .max_body = max_body,
        .on_request = on_request,
        .on_abort = rest_on_abort,
        .arg = r,
    };

    return r->api->http_route_add(r->host, &route, err);
}

static int rest_start(void *instance, parley_error *err)
{
    rest *r = instance;
    int rc;

    if ((rc = rest_metrics_create(r, err)) < 0)
        return rc;
    /* GET routes take no body; the API's cap also bounds theirs. */
    if ((rc = add_route(r, "/api/", r->max_body, rest_on_api, err)) < 0)
        return rc;
    if ((rc = add_route(r, "/health", r->max_body, rest_on_health, err)) < 0)
        return rc;
    if (r->metrics_enabled && (rc = add_route(r, "/metrics", r->max_body, rest_on_metrics, err)) < 0)
        return rc;
    if (r->catch_all && (rc = add_route(r, "/", r->max_body, rest_on_catch_all, err)) < 0)
        return rc;
    r->started = 1;
    r->api->log(r->host, PARLEY_LOG_INFO,
                "REST API on /api/messages, /health%s; %zu CORS origin(s)%s, max body %zu bytes",
                r->metrics_enabled ? ", /metrics" : "", r->cors.n_origins,
                r->cors.any ? " plus \"*\"" : "", r->max_body);
    return 0;
}

/* Requests held for the host are answered by their completions (the
 * host finishes in-flight storage work before it stops); stop is done
 * when the last one has been. */
static void rest_stop(void *instance, parley_stop_done done, void *done_arg)
{
    rest *r = instance;

    r->stopping = 1;
    if (r->n_pending == 0) {
        done(done_arg);
        return;
    }
    r->stop_done = done;
    r->stop_done_arg = done_arg;
}

static void rest_destroy(void *instance)
{
    rest *r = instance;

    if (r == NULL)
        return;
    r->stop_done = NULL;
    rest_pending_free_all(r);
    rest_cors_free(&r->cors);
    rest_metrics_destroy(r);
    free(r);
}

/*
 * SIGHUP: CORS, json_max_depth and request_timeout apply at once. The
 * routes (their body cap, /metrics, the catch-all) were registered at
 * start and the SDK has no way to change them, so a change there is
 * refused and the old config stays.
 */
static int rest_reconfigure(void *instance, const parley_config *config, parley_error *err)
{
    rest *r = instance;
    rest next = *r;
    int rc;

    memset(&next.cors, 0, sizeof next.cors);
    rc = load_config(&next, config, err);
    if (rc < 0)
        return rc;
    if (next.max_body != r->max_body || next.metrics_enabled != r->metrics_enabled ||
        next.catch_all != r->catch_all) {
        char what[160];

        rest_cors_free(&next.cors);
        if (next.max_body != r->max_body)
            snprintf(what, sizeof what, "max_body changed from %zu to %zu bytes", r->max_body,
                     next.max_body);
        else if (next.metrics_enabled != r->metrics_enabled)
            snprintf(what, sizeof what, "metrics changed from %s to %s",
                     r->metrics_enabled ? "true" : "false", next.metrics_enabled ? "true" : "false");
        else
            snprintf(what, sizeof what, "catch_all changed from %s to %s",
                     r->catch_all ? "true" : "false", next.catch_all ? "true" : "false");
        return parley_error_set(err, PARLEY_EINVAL,
                                "%s, but max_body, metrics and catch_all shape the routes registered "
                                "at start: restart the server to apply it (nothing of the new "
                                "block applied)",
                                what);
    }
    rest_cors_free(&r->cors);
    r->cors = next.cors;
    r->json_max_depth = next.json_max_depth;
    r->request_timeout_ms = next.request_timeout_ms;
    return 0;
}

static const parley_transport_vtable rest_vtable = {
    .struct_size = sizeof rest_vtable,
    .encode = NULL,
    .deliver = NULL,
    .drain = NULL,
};

static const parley_plugin_descriptor rest_descriptor = {
    PARLEY_DESCRIPTOR_HEADER,
    .min_host_minor = 0,
    .kind = PARLEY_PLUGIN_TRANSPORT,
    .name = "rest",
    .version = REST_PLUGIN_VERSION,
    .description = "REST API: messages, health and metrics over HTTP/JSON",
    .config_schema = &rest_schema,
    .create = rest_create,
    .start = rest_start,
    .stop = rest_stop,
    .destroy = rest_destroy,
    .vtable = &rest_vtable,
    .reconfigure = rest_reconfigure,
};

PARLEY_PLUGIN_ENTRY(rest_descriptor)
