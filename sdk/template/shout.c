/*
 * shout — a complete Parley transport plugin, meant to be copied.
 *
 *   GET  <prefix>hello   → 200 {"greeting": "...", "host_version": "..."}
 *   POST <prefix>post    → the plain-text body is posted to the default room
 *                          (as user "shout", or ?user=NAME): 201 {"id": ...},
 *                          400 when the host refuses it (empty, too long...),
 *                          503 when storage is unavailable.
 *
 * Threading, the one rule to remember: every callback the host makes into
 * this file (create, start, stop, destroy, on_request, on_abort and the
 * chat_post completion) runs on the host's loop thread, one at a time, so
 * nothing here needs a lock. Never block on the loop thread (no sleep, no
 * disk or network waits): hand blocking work to api->work(), whose
 * completion comes back on the loop; from a thread of your own, come back
 * with api->post(). Only log, metric updates and frame retain/release may
 * be called from other threads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <parley/parley.h>

#define SHOUT_HOLD_MS 10000   /* longer than any storage timeout */

struct shout {
    const parley_host_api *api;
    parley_host *host;
    const char *prefix;       /* owned by the config: valid until destroy */
    const char *greeting;
    size_t prefix_len;
    parley_metric *posts;
};

/* One POST waiting for storage. Freed by whichever comes last of the
 * chat_post completion and the peer going away (on_abort). */
struct pending {
    struct shout *s;
    parley_http_request *req;   /* NULL once the peer is gone */
    int posted;                 /* chat_post accepted it: its completion will run */
};

/* ---- config schema: what the YAML `config:` block may hold -------------- */

static const parley_config_key shout_keys[] = {
    { "prefix", PARLEY_CONFIG_STRING, 0, "/shout/", 0, 0,
      "path prefix of the routes; starts and ends with '/'" },
    { "greeting", PARLEY_CONFIG_STRING, 0, "hello from shout", 0, 0,
      "what GET <prefix>hello says" },
};
static const parley_config_schema shout_schema = PARLEY_CONFIG_SCHEMA(shout_keys);

/* ---- small helpers ------------------------------------------------------ */

/* Write s as a JSON string body (without quotes) into out; returns out. */
static char *json_escape(const char *s, char *out, size_t cap)
{
    size_t o = 0;

    for (; *s != '\0' && o + 7 < cap; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o] = '\0';
    return out;
}

static void respond_json(struct shout *s, parley_http_request *req, int status, const char *body)
{
    static const parley_http_header headers[] = {
        { "Content-Type", "application/json" },
    };

    s->api->http_respond(req, status, headers, 1, body, strlen(body));
}

static void respond_error(struct shout *s, parley_http_request *req, int status, int code,
                          const char *message)
{
    char esc[2 * PARLEY_ERROR_MESSAGE_MAX], body[sizeof esc + 96];

    snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}",
             parley_status_name(code), json_escape(message, esc, sizeof esc));
    respond_json(s, req, status, body);
}

/* The host's statuses, as HTTP statuses. */
static int http_status(int code)
{
    switch (code) {
    case PARLEY_EINVAL: case PARLEY_ETOOBIG: return 400;
    case PARLEY_EUNAVAIL: case PARLEY_ETIMEDOUT: case PARLEY_ESHUTDOWN: return 503;
    default: return 500;
    }
}

/* ---- GET <prefix>hello -------------------------------------------------- */

static void hello(struct shout *s, parley_http_request *req)
{
    char greeting[512], version[64], body[sizeof greeting + sizeof version + 64];

    snprintf(body, sizeof body, "{\"greeting\":\"%s\",\"host_version\":\"%s\"}",
             json_escape(s->greeting, greeting, sizeof greeting),
             json_escape(s->api->version(s->host), version, sizeof version));
    respond_json(s, req, 200, body);
}

/* ---- POST <prefix>post --------------------------------------------------- */

/* chat_post's completion: loop thread, exactly once, after storage answered
 * (and, on success, after the message was broadcast to the room). */
static void post_done(void *arg, int status, const parley_message *msg, const parley_error *err)
{
    struct pending *pd = arg;
    struct shout *s = pd->s;
    char body[128];

    if (pd->req == NULL) {          /* the client left while we waited */
        free(pd);
        return;
    }
    if (status == PARLEY_OK) {
        s->api->metric_add(s->posts, 1);
        snprintf(body, sizeof body, "{\"id\":\"%s\"}", msg->id);
        respond_json(s, pd->req, 201, body);
    } else {
        respond_error(s, pd->req, http_status(status), status,
                      err != NULL ? err->message : parley_strerror(status));
    }
    free(pd);
}

static void post(struct shout *s, parley_http_request *req)
{
    parley_error err = PARLEY_ERROR_INIT;
    parley_post msg = { .struct_size = sizeof msg };
    char user[64];
    struct pending *pd;
    size_t len;
    int rc;

    pd = calloc(1, sizeof *pd);
    if (pd == NULL) {
        respond_error(s, req, 500, PARLEY_ENOMEM, "out of memory");
        return;
    }
    pd->s = s;
    pd->req = req;

    /* The answer comes after on_request returns: keep the request open. */
    rc = s->api->http_hold(req, SHOUT_HOLD_MS, pd);
    if (rc < 0) {
        free(pd);
        respond_error(s, req, 500, rc, "cannot hold the request");
        return;
    }

    if (s->api->http_query_param(req, "user", user, sizeof user) < 0)
        snprintf(user, sizeof user, "shout");
    msg.room = NULL;                          /* the host's default room */
    msg.username = user;
    msg.username_len = strlen(user);
    msg.content = s->api->http_body(req, &len);
    msg.content_len = len;
    if (msg.content == NULL)
        msg.content = "";

    /* The host validates, assigns the id, stores, broadcasts, then calls
     * post_done; or refuses at once (the message says why). */
    rc = s->api->chat_post(s->host, &msg, post_done, pd, &err);
    if (rc < 0) {
        respond_error(s, req, http_status(rc), rc, err.message);
        free(pd);
        return;
    }
    pd->posted = 1;
}

/* ---- the route ----------------------------------------------------------- */

static int on_request(void *arg, parley_http_request *req)
{
    struct shout *s = arg;
    const char *method = s->api->http_method(req);
    const char *path = s->api->http_path(req);
    const char *rest;

    /* The host routed us this request by prefix; what follows it is ours. */
    if (strncmp(path, s->prefix, s->prefix_len) != 0) {
        respond_error(s, req, 404, PARLEY_ENOTFOUND, "no such shout route");
        return 0;
    }
    rest = path + s->prefix_len;

    if (strcmp(rest, "hello") == 0 && strcmp(method, "GET") == 0)
        hello(s, req);
    else if (strcmp(rest, "post") == 0 && strcmp(method, "POST") == 0)
        post(s, req);
    else if (strcmp(rest, "hello") == 0 || strcmp(rest, "post") == 0)
        respond_error(s, req, 405, PARLEY_EINVAL, "method not allowed");
    else
        respond_error(s, req, 404, PARLEY_ENOTFOUND, "no such shout route");
    return 0;
}

/* A held request's client went away (or the host is shutting down). */
static void on_abort(void *arg, parley_http_request *req, void *req_ctx)
{
    struct pending *pd = req_ctx;

    (void)arg;
    (void)req;
    pd->req = NULL;
    if (!pd->posted)    /* no completion will come to free it */
        free(pd);
}

/* ---- lifecycle ------------------------------------------------------------ */

/* Read and check the config; no I/O here (--check-config calls create). */
static int shout_create(const parley_host_api *api, parley_host *host, const parley_config *config,
                        void **instance, parley_error *err)
{
    struct shout *s;
    const char *prefix = api->config_string(config, "prefix");
    size_t n = strlen(prefix);

    if (n < 1 || prefix[0] != '/' || prefix[n - 1] != '/')
        return parley_error_set(err, PARLEY_EINVAL,
                                "%s: prefix '%s' must start and end with '/'",
                                api->config_location(config, "prefix"), prefix);
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "out of memory");
    s->api = api;
    s->host = host;
    s->prefix = prefix;
    s->prefix_len = n;
    s->greeting = api->config_string(config, "greeting");
    *instance = s;
    return 0;
}

/* Register routes and metrics: the host is about to serve. */
static int shout_start(void *instance, parley_error *err)
{
    struct shout *s = instance;
    const parley_http_route route = {
        .struct_size = sizeof route,
        .prefix = s->prefix,
        .max_body = 4096,
        .on_request = on_request,
        .on_abort = on_abort,
        .arg = s,
    };
    const parley_metric_desc posts = {
        .struct_size = sizeof posts,
        .kind = PARLEY_METRIC_COUNTER,
        .name = "parley_shout_posts_total",
        .help = "Messages posted through the shout plugin.",
    };

    s->posts = s->api->metric_register(s->host, &posts, err);
    if (s->posts == NULL)
        return err->code < 0 ? err->code : PARLEY_EINVAL;   /* err says why */
    return s->api->http_route_add(s->host, &route, err);
}

/* Nothing in flight outlives a request here: stopped at once. */
static void shout_stop(void *instance, parley_stop_done done, void *done_arg)
{
    (void)instance;
    done(done_arg);
}

static void shout_destroy(void *instance)
{
    free(instance);
}

/* No chat sessions: encode and deliver stay NULL (the REST pattern). */
static const parley_transport_vtable shout_vtable = {
    .struct_size = sizeof(parley_transport_vtable),
};

static const parley_plugin_descriptor shout_descriptor = {
    PARLEY_DESCRIPTOR_HEADER,
    .min_host_minor = 0,      /* uses only functions of ABI 1.0 */
    .kind = PARLEY_PLUGIN_TRANSPORT,
    .name = "shout",          /* the YAML loads it as `plugin: shout` */
    .version = "1.0.0",
    .description = "template plugin: a greeting and a plain-text post route",
    .config_schema = &shout_schema,
    .create = shout_create,
    .start = shout_start,
    .stop = shout_stop,
    .destroy = shout_destroy,
    .vtable = &shout_vtable,
    .reconfigure = NULL,      /* a changed block needs a restart */
};

PARLEY_PLUGIN_ENTRY(shout_descriptor)
