/*
 * REST request bodies, end to end inside one process: the REST plugin's
 * sources (every .c of plugins/rest/) compiled in, driven through a minimal fake
 * host table, as plugins/rest/tests/test_rest_fakehost.c does, but with the
 * host's real query decoding (host/listener_text.c) and the chat's real
 * field validation (host/validate.c) behind http_query_param and chat_post.
 * The body also goes through rest_json_parse_object on its own.
 *
 * Input: <control> <request target> '\n' <body>; with no '\n' the whole rest
 * is the body and the target is /api/messages.
 *   control & 7        method: POST GET OPTIONS PUT DELETE HEAD PATCH POST
 *   (control >> 3) & 3 Content-Type: application/json,
 *                      application/json; charset=utf-8, text/plain, none
 *   control & 32       an Origin header from the allowlist
 *   control & 64       chat_post / chat_history complete later (the request is
 *                      held), else inside the call
 *   control & 128      the completion reports a storage failure
 * Oracle:
 *   - rest_json_parse_object returns an object, or NULL with a code and a
 *     message; what it accepts cJSON accepts;
 *   - every request is answered exactly once (inside the handler, or after
 *     the completion, or it is held and then aborted as a timeout would),
 *     with a status in 100..599, no CR/LF in headers, and a JSON body that
 *     parses whenever the Content-Type says JSON;
 *   - chat_post is only reached with spans the plugin owns (ASan reads them)
 *     and never after the answer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>
#include <parley/parley.h>

#include "fuzz_common.h"
#include "listener_text.h"
#include "rest.h"
#include "validate.h"

const parley_plugin_descriptor *parley_plugin_entry(void);

/* ---- config: the plugin's defaults, one origin -------------------------- */

struct parley_config {
    int unused;
};

static const char *const origins[] = { "http://localhost:5173" };

static const char *cfg_string(const parley_config *c, const char *k) { return NULL; }
static int64_t cfg_int(const parley_config *c, const char *k)
{
    if (strcmp(k, "cors_max_age") == 0)
        return 600000;
    if (strcmp(k, "max_body") == 0)
        return 65536;
    if (strcmp(k, "json_max_depth") == 0)
        return 32;
    if (strcmp(k, "request_timeout") == 0)
        return 30000;
    return 0;
}
static int cfg_bool(const parley_config *c, const char *k)
{
    return strcmp(k, "metrics") == 0 || strcmp(k, "catch_all") == 0;
}
static double cfg_double(const parley_config *c, const char *k) { return 0; }
static size_t cfg_list_size(const parley_config *c, const char *k)
{
    return strcmp(k, "cors_origins") == 0 ? 1 : 0;
}
static const char *cfg_list_item(const parley_config *c, const char *k, size_t i)
{
    return strcmp(k, "cors_origins") == 0 && i == 0 ? origins[0] : NULL;
}
static const char *cfg_location(const parley_config *c, const char *k) { return "fuzz.yaml:1:1"; }

/* ---- identity, log, metrics --------------------------------------------- */

struct parley_host {
    int unused;
};
static parley_host the_host;

static const char *h_version(parley_host *h) { return "0.0.0-fuzz"; }
static uint64_t h_now(parley_host *h) { return 1000; }
static int64_t h_wall(parley_host *h) { return 1796107941123LL; }
static uint64_t h_uptime(parley_host *h) { return 12345; }
static int h_random(parley_host *h, void *b, size_t n) { memset(b, 7, n); return 0; }
static void h_log(parley_host *h, int level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    va_start(ap, fmt); /* format it anyway: a bad format is a finding */
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
}
static int h_log_enabled(parley_host *h, int level) { return 1; }

struct parley_metric {
    double value;
};
static struct parley_metric metrics[128];
static size_t n_metrics;

static parley_metric *h_metric_register(parley_host *h, const parley_metric_desc *d,
                                        parley_error *err)
{
    if (n_metrics == 128) {
        parley_error_set(err, PARLEY_ELIMIT, "too many metrics");
        return NULL;
    }
    return &metrics[n_metrics++];
}
static void h_metric_add(parley_metric *m, double v) { m->value += v; }
static void h_metric_set(parley_metric *m, double v) { m->value = v; }
static void h_metric_observe(parley_metric *m, double v) { m->value = v; }
static size_t h_metrics_format(parley_host *h, char *buf, size_t cap)
{
    static const char text[] = "# fuzz\nparley_up 1\n";

    if (cap > 0)
        snprintf(buf, cap, "%s", text);
    return sizeof text - 1;
}

/* ---- HTTP ------------------------------------------------------------ */

static parley_http_route routes[8];
static size_t n_routes;

static int h_route_add(parley_host *h, const parley_http_route *r, parley_error *err)
{
    if (n_routes == 8)
        return parley_error_set(err, PARLEY_ELIMIT, "too many routes");
    routes[n_routes++] = *r;
    return 0;
}

struct parley_http_request {
    const char *method, *path, *query;
    const char *headers[2][2];
    size_t n_headers;
    const uint8_t *body;
    size_t body_len;
    int responded, held, aborted, status;
    void *req_ctx;
};

static const char *h_method(const parley_http_request *r) { return r->method; }
static const char *h_path(const parley_http_request *r) { return r->path; }
static const char *h_query(const parley_http_request *r) { return r->query; }
static int h_query_param(const parley_http_request *r, const char *key, char *out, size_t cap)
{
    return parley__text_query_param(r->query, key, out, cap);
}
static int h_header(const parley_http_request *r, const char *name, char *out, size_t cap)
{
    size_t i, n;

    for (i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->headers[i][0], name) == 0) {
            n = strlen(r->headers[i][1]);
            if (n + 1 > cap)
                return PARLEY_ETOOBIG;
            memcpy(out, r->headers[i][1], n + 1);
            return (int)n;
        }
    return PARLEY_ENOTFOUND;
}
static const void *h_body(const parley_http_request *r, size_t *len)
{
    *len = r->body_len;
    return r->body_len ? r->body : NULL;
}
static const char *h_remote(const parley_http_request *r) { return "127.0.0.1"; }

static int h_respond(parley_http_request *r, int status, const parley_http_header *h, size_t n,
                     const void *body, size_t len)
{
    const char *ctype = NULL;
    size_t i;

    if (r->aborted)
        return PARLEY_ECLOSED;
    FUZZ_CHECK(!r->responded, "http_respond twice on %s %s", r->method, r->path);
    FUZZ_CHECK(status >= 100 && status <= 599, "status %d", status);
    r->responded = 1;
    r->status = status;
    for (i = 0; i < n; i++) {
        FUZZ_CHECK(h[i].name && h[i].value && strpbrk(h[i].name, "\r\n") == NULL &&
                       strpbrk(h[i].value, "\r\n") == NULL,
                   "header %zu has CR/LF", i);
        if (strcasecmp(h[i].name, "Content-Type") == 0)
            ctype = h[i].value;
    }
    FUZZ_CHECK(len == 0 || body != NULL, "%zu body bytes at NULL", len);
    if (ctype != NULL && strncmp(ctype, "application/json", 16) == 0 && len > 0) {
        cJSON *json = cJSON_ParseWithLength(body, len);

        FUZZ_CHECK(json != NULL, "%s %s: %d answer is not JSON: %.*s", r->method, r->path, status,
                   (int)(len > 300 ? 300 : len), (const char *)body);
        cJSON_Delete(json);
    }
    return 0;
}

static int h_hold(parley_http_request *r, uint64_t timeout_ms, void *ctx)
{
    FUZZ_CHECK(!r->responded, "held after the answer");
    r->held = 1;
    r->req_ctx = ctx;
    return 0;
}

/* ---- chat: the host's real validation, a scripted store --------------- */

static int complete_later, complete_fails;
static const parley_http_request *current;

static struct pending_op {
    int kind; /* 1 post, 2 history */
    parley_post_done post_done;
    parley_page_done page_done;
    void *arg;
    char room[512], username[512], content[8192];
} op;
static int op_pending;

static const char *h_default_room(parley_host *h) { return "chat-room"; }
static uint32_t h_history_limit(parley_host *h) { return 50; }
static int h_storage_state(parley_host *h) { return PARLEY_STORAGE_CONNECTED; }

static void complete(void)
{
    parley_error err = PARLEY_ERROR_INIT;
    parley_message m;

    op_pending = 0;
    memset(&m, 0, sizeof m);
    m.struct_size = sizeof m;
    snprintf(m.id, sizeof m.id, "%024x", 1u);
    m.room = op.room;
    m.room_len = strlen(op.room);
    m.username = op.username[0] ? op.username : "u";
    m.username_len = strlen(m.username);
    m.content = op.content[0] ? op.content : "c";
    m.content_len = strlen(m.content);
    m.timestamp_ms = 1796107941123LL;
    if (complete_fails)
        parley_error_set(&err, PARLEY_EUNAVAIL, "message not stored: scripted failure");
    if (op.kind == 1)
        op.post_done(op.arg, complete_fails ? PARLEY_EUNAVAIL : 0, complete_fails ? NULL : &m,
                     complete_fails ? &err : NULL);
    else
        op.page_done(op.arg, complete_fails ? PARLEY_EUNAVAIL : 0, complete_fails ? NULL : &m,
                     complete_fails ? 0 : 1, NULL, complete_fails ? &err : NULL);
}

static void copy_span(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n); /* ASan: the span must be readable */
    dst[n] = '\0';
}

static int h_chat_post(parley_host *h, const parley_post *p, parley_post_done done, void *arg,
                       parley_error *err)
{
    static const struct parley__chat_limits lim = { 2000, 32, 64 };
    const char *u, *c, *r = NULL;
    size_t ul, cl, rl = 0;
    int rc;

    FUZZ_CHECK(current && !current->responded, "chat_post outside a live request");
    FUZZ_CHECK(!op_pending, "a second chat operation for one request");
    FUZZ_CHECK(p->struct_size == sizeof *p && p->session == NULL, "post shape");
    if ((rc = parley__validate_username(&lim, p->username, p->username_len, &u, &ul, err)) < 0)
        return rc;
    if ((rc = parley__validate_content(&lim, p->content, p->content_len, &c, &cl, err)) < 0)
        return rc;
    if (p->room && (rc = parley__validate_room(&lim, p->room, p->room_len, &r, &rl, err)) < 0)
        return rc;
    memset(&op, 0, sizeof op);
    op.kind = 1;
    op.post_done = done;
    op.arg = arg;
    copy_span(op.username, sizeof op.username, u, ul);
    copy_span(op.content, sizeof op.content, c, cl);
    copy_span(op.room, sizeof op.room, r ? r : "chat-room", r ? rl : 9);
    op_pending = 1;
    if (!complete_later)
        complete();
    return 0;
}

static int h_chat_history(parley_host *h, const char *room, const char *before, uint32_t limit,
                          parley_page_done done, void *arg, parley_error *err)
{
    FUZZ_CHECK(current && !current->responded, "chat_history outside a live request");
    FUZZ_CHECK(!op_pending, "a second chat operation for one request");
    if (room != NULL && room[0] == '$')
        return parley_error_set(err, PARLEY_EINVAL, "room must not start with '$'");
    memset(&op, 0, sizeof op);
    op.kind = 2;
    op.page_done = done;
    op.arg = arg;
    copy_span(op.room, sizeof op.room, room ? room : "chat-room", room ? strlen(room) : 9);
    if (before)
        FUZZ_CHECK(strlen(before) < 64, "before id of %zu bytes", strlen(before));
    op_pending = 1;
    if (!complete_later)
        complete();
    return 0;
}

static const parley_host_api api = {
    .struct_size = sizeof api,
    .abi_major = PARLEY_ABI_MAJOR,
    .abi_minor = PARLEY_ABI_MINOR,
    .version = h_version,
    .now_ms = h_now,
    .wall_ms = h_wall,
    .uptime_ms = h_uptime,
    .random_bytes = h_random,
    .log = h_log,
    .log_enabled = h_log_enabled,
    .config_string = cfg_string,
    .config_int = cfg_int,
    .config_bool = cfg_bool,
    .config_double = cfg_double,
    .config_list_size = cfg_list_size,
    .config_list_item = cfg_list_item,
    .config_location = cfg_location,
    .metric_register = h_metric_register,
    .metric_add = h_metric_add,
    .metric_set = h_metric_set,
    .metric_observe = h_metric_observe,
    .metrics_format = h_metrics_format,
    .http_route_add = h_route_add,
    .http_method = h_method,
    .http_path = h_path,
    .http_query = h_query,
    .http_query_param = h_query_param,
    .http_header = h_header,
    .http_body = h_body,
    .http_remote_addr = h_remote,
    .http_respond = h_respond,
    .http_hold = h_hold,
    .chat_default_room = h_default_room,
    .chat_history_limit = h_history_limit,
    .chat_storage_state = h_storage_state,
    .chat_post = h_chat_post,
    .chat_history = h_chat_history,
};

/* ---- driving ---------------------------------------------------------- */

static void *instance;

static void start_plugin(void)
{
    const parley_plugin_descriptor *d = parley_plugin_entry();
    parley_error err = PARLEY_ERROR_INIT;
    static parley_config config;

    FUZZ_CHECK(d->create(&api, &the_host, &config, &instance, &err) == 0, "create: %s",
               err.message);
    FUZZ_CHECK(d->start(instance, &err) == 0, "start: %s", err.message);
}

static const parley_http_route *route_for(const char *path)
{
    const parley_http_route *best = NULL;
    size_t i;

    for (i = 0; i < n_routes; i++)
        if (strncmp(path, routes[i].prefix, strlen(routes[i].prefix)) == 0 &&
            (best == NULL || strlen(routes[i].prefix) > strlen(best->prefix)))
            best = &routes[i];
    return best;
}

static void check_json_parser(const uint8_t *body, size_t len)
{
    const char *code = NULL;
    char why[256] = "";
    cJSON *root = rest_json_parse_object((const char *)body, len, 32, &code, why, sizeof why);

    if (root == NULL) {
        FUZZ_CHECK(code != NULL && code[0] != '\0', "refused without a code");
        FUZZ_CHECK(why[0] != '\0', "refused (%s) without a message", code);
        return;
    }
    FUZZ_CHECK(cJSON_IsObject(root), "accepted a body that is not an object");
    rest_json_member(root, "username");
    rest_json_member(root, "content");
    rest_json_member(root, "room");
    cJSON_Delete(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[8] = { "POST", "GET", "OPTIONS", "PUT",
                                            "DELETE", "HEAD", "PATCH", "POST" };
    static const char *const ctypes[4] = { "application/json", "application/json; charset=utf-8",
                                           "text/plain", NULL };
    const parley_http_route *route;
    parley_http_request req;
    const uint8_t *nl;
    char *target, *q;
    unsigned control;
    int rc;

    if (size == 0)
        return 0;
    if (instance == NULL)
        start_plugin();
    control = data[0];
    data++;
    size--;

    memset(&req, 0, sizeof req);
    nl = memchr(data, '\n', size < 2048 ? size : 2048);
    if (nl != NULL) {
        target = fuzz_strndup(data, (size_t)(nl - data));
        req.body = nl + 1;
        req.body_len = size - (size_t)(nl - data) - 1;
    } else {
        target = fuzz_strndup((const uint8_t *)"/api/messages", 13);
        req.body = data;
        req.body_len = size;
    }
    FUZZ_CHECK(target != NULL, "out of memory");
    /* The listener hands plugins NUL-free paths and queries. */
    if (strlen(target) != (nl ? (size_t)(nl - data) : 13u) || target[0] != '/') {
        free(target);
        return 0;
    }
    q = strchr(target, '?');
    if (q != NULL)
        *q++ = '\0';
    req.method = methods[control & 7];
    req.path = target;
    req.query = q ? q : "";
    if (ctypes[(control >> 3) & 3] != NULL) {
        req.headers[req.n_headers][0] = "Content-Type";
        req.headers[req.n_headers++][1] = ctypes[(control >> 3) & 3];
    }
    if (control & 32) {
        req.headers[req.n_headers][0] = "Origin";
        req.headers[req.n_headers++][1] = origins[0];
    }
    complete_later = (control & 64) != 0;
    complete_fails = (control & 128) != 0;

    check_json_parser(req.body, req.body_len);

    route = route_for(req.path);
    FUZZ_CHECK(route != NULL, "no route for %s (catch_all is on)", req.path);
    current = &req;
    rc = route->on_request(route->arg, &req);
    FUZZ_CHECK(rc >= 0, "on_request returned %d for %s %s", rc, req.method, req.path);
    FUZZ_CHECK(req.responded || req.held, "%s %s neither answered nor held", req.method,
               req.path);
    if (op_pending)
        complete();
    if (!req.responded) {
        /* Held with nothing left to complete it: the host's timeout. */
        FUZZ_CHECK(req.held, "unanswered");
        req.aborted = 1;
        route->on_abort(route->arg, &req, req.req_ctx);
    }
    current = NULL;
    free(target);
    return 0;
}
