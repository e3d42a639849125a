/*
 * The REST plugin against a fake host: dlopen the built rest.so, hand it a
 * host table whose HTTP and chat functions are scripted here, and drive
 * every route through its registered handlers. Covers what the real
 * server makes hard to reach: completions inside the call, completions
 * after the peer left, stop waiting for held requests, reconfigure, and
 * a big metrics text. The end-to-end behaviour is tests/integration/test_rest.py.
 *
 *     test_rest_fakehost <path to rest.so>
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <parley/parley.h>

static int failures, checks;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        checks++;                                                               \
        if (!(cond)) {                                                          \
            failures++;                                                         \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

/* ---- config ---------------------------------------------------------- */

struct parley_config {
    const char *origins[8];
    size_t n_origins;
    const char *origins_where;
    int64_t max_age_ms, max_body, depth, timeout_ms;
    int metrics, catch_all;
};

static const char *cfg_string(const parley_config *c, const char *k) { return NULL; }

static int64_t cfg_int(const parley_config *c, const char *k)
{
    if (strcmp(k, "cors_max_age") == 0) return c->max_age_ms;
    if (strcmp(k, "max_body") == 0) return c->max_body;
    if (strcmp(k, "json_max_depth") == 0) return c->depth;
    if (strcmp(k, "request_timeout") == 0) return c->timeout_ms;
    return 0;
}

static int cfg_bool(const parley_config *c, const char *k)
{
    if (strcmp(k, "metrics") == 0) return c->metrics;
    if (strcmp(k, "catch_all") == 0) return c->catch_all;
    return 0;
}

static double cfg_double(const parley_config *c, const char *k) { return 0; }
static size_t cfg_list_size(const parley_config *c, const char *k)
{
    return strcmp(k, "cors_origins") == 0 ? c->n_origins : 0;
}
static const char *cfg_list_item(const parley_config *c, const char *k, size_t i)
{
    return strcmp(k, "cors_origins") == 0 && i < c->n_origins ? c->origins[i] : NULL;
}
static const char *cfg_location(const parley_config *c, const char *k)
{
    return c->origins_where ? c->origins_where : "test.yaml:1:1";
}

static parley_config default_config(void)
{
    parley_config c = { { "http://localhost:5173", "http://localhost:3000/" }, 2, NULL,
                        600000, 65536, 32, 30000, 1, 1 };
    return c;
}

/* ---- identity, log ---------------------------------------------------- */

struct parley_host { int dummy; };
static parley_host the_host;

static const char *h_version(parley_host *h) { return "9.8.7"; }
static uint64_t h_now(parley_host *h) { return 1000; }
static int64_t h_wall(parley_host *h) { return 1796107941123LL; }
static uint64_t h_uptime(parley_host *h) { return 12345; }
static int h_random(parley_host *h, void *b, size_t n) { memset(b, 7, n); return 0; }
static void h_log(parley_host *h, int level, const char *fmt, ...)
{
    va_list ap;

    if (getenv("REST_TEST_VERBOSE") == NULL)
        return;
    va_start(ap, fmt);
    fprintf(stderr, "[rest %d] ", level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
static int h_log_enabled(parley_host *h, int level) { return 1; }

/* ---- metrics ---------------------------------------------------------- */

struct parley_metric {
    char name[64], labels[96];
    int kind;
    double value;
    unsigned long observations;
};

static struct parley_metric metrics[64];
static size_t n_metrics;
static size_t metrics_text_size = 100; /* what metrics_format writes */

static parley_metric *h_metric_register(parley_host *h, const parley_metric_desc *d,
                                        parley_error *err)
{
    size_t i;

    for (i = 0; i < n_metrics; i++)
        if (strcmp(metrics[i].name, d->name) == 0 &&
            strcmp(metrics[i].labels, d->labels ? d->labels : "") == 0)
            return &metrics[i];
    if (n_metrics == 64) {
        parley_error_set(err, PARLEY_ELIMIT, "too many metrics");
        return NULL;
    }
    snprintf(metrics[n_metrics].name, sizeof metrics[0].name, "%s", d->name);
    snprintf(metrics[n_metrics].labels, sizeof metrics[0].labels, "%s", d->labels ? d->labels : "");
    metrics[n_metrics].kind = (int)d->kind;
    return &metrics[n_metrics++];
}
static void h_metric_add(parley_metric *m, double v) { m->value += v; }
static void h_metric_set(parley_metric *m, double v) { m->value = v; }
static void h_metric_observe(parley_metric *m, double v) { m->observations++; }

static size_t h_metrics_format(parley_host *h, char *buf, size_t cap)
{
    size_t i;

    for (i = 0; i + 1 < cap && i < metrics_text_size; i++)
        buf[i] = i % 40 == 39 ? '\n' : 'm';
    if (cap > 0)
        buf[i < cap ? i : cap - 1] = '\0';
    return metrics_text_size;
}

static double metric_value(const char *name, const char *labels)
{
    size_t i;

    for (i = 0; i < n_metrics; i++)
        if (strcmp(metrics[i].name, name) == 0 && strcmp(metrics[i].labels, labels) == 0)
            return metrics[i].value;
    return -1;
}

/* ---- HTTP -------------------------------------------------------------- */

static parley_http_route routes[8];
static size_t n_routes;

static int h_route_add(parley_host *h, const parley_http_route *r, parley_error *err)
{
    size_t i;

    for (i = 0; i < n_routes; i++)
        if (strcmp(routes[i].prefix, r->prefix) == 0)
            return parley_error_set(err, PARLEY_EEXIST, "prefix %s is taken", r->prefix);
    routes[n_routes++] = *r;
    return 0;
}

struct parley_http_request {
    const char *method, *path, *query;
    const char *headers[16][2];
    size_t n_headers;
    const char *body;
    size_t body_len;
    /* the answer */
    int responded, held, status;
    char resp_headers[16][2][600];
    size_t n_resp_headers;
    char *resp_body;
    size_t resp_len;
    void *req_ctx;
    const parley_http_route *route;
};

static const char *h_method(const parley_http_request *r) { return r->method; }
static const char *h_path(const parley_http_request *r) { return r->path; }
static const char *h_query(const parley_http_request *r) { return r->query; }

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int h_query_param(const parley_http_request *r, const char *key, char *out, size_t cap)
{
    const char *p = r->query;
    size_t klen = strlen(key);

    while (*p != '\0') {
        const char *end = p + strcspn(p, "&");
        if ((size_t)(end - p) >= klen && strncmp(p, key, klen) == 0 &&
            (p[klen] == '=' || p + klen == end)) {
            const char *v = p + klen + (p[klen] == '=');
            size_t o = 0;

            while (v < end) {
                int c = (unsigned char)*v;
                if (c == '%') {
                    if (end - v < 3 || hexval(v[1]) < 0 || hexval(v[2]) < 0)
                        return PARLEY_EINVAL;
                    c = hexval(v[1]) * 16 + hexval(v[2]);
                    if (c == 0)
                        return PARLEY_EINVAL;
                    v += 3;
                } else {
                    if (c == '+')
                        c = ' ';
                    v++;
                }
                if (o + 1 >= cap)
                    return PARLEY_ETOOBIG;
                out[o++] = (char)c;
            }
            out[o] = '\0';
            return (int)o;
        }
        p = *end ? end + 1 : end;
    }
    return PARLEY_ENOTFOUND;
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
    size_t i;

    CHECK(!r->responded, "http_respond called twice on %s %s", r->method, r->path);
    CHECK(n <= 16, "too many headers: %zu", n);
    r->responded = 1;
    r->status = status;
    r->n_resp_headers = n;
    for (i = 0; i < n && i < 16; i++) {
        snprintf(r->resp_headers[i][0], 600, "%s", h[i].name);
        snprintf(r->resp_headers[i][1], 600, "%s", h[i].value);
        CHECK(strpbrk(h[i].value, "\r\n") == NULL, "CR/LF in header %s", h[i].name);
    }
    free(r->resp_body);
    r->resp_body = malloc(len + 1);
    memcpy(r->resp_body, body ? body : "", len);
    r->resp_body[len] = '\0';
    r->resp_len = len;
    return 0;
}

static int hold_fails;

static int h_hold(parley_http_request *r, uint64_t timeout_ms, void *ctx)
{
    if (hold_fails)
        return PARLEY_EINVAL;
    CHECK(timeout_ms == 30000, "hold timeout %llu", (unsigned long long)timeout_ms);
    r->held = 1;
    r->req_ctx = ctx;
    return 0;
}

static const char *resp_header(const parley_http_request *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->n_resp_headers; i++)
        if (strcasecmp(r->resp_headers[i][0], name) == 0)
            return r->resp_headers[i][1];
    return NULL;
}

/* ---- chat ------------------------------------------------------------- */

static int storage_state = PARLEY_STORAGE_CONNECTED;

enum { COMPLETE_LATER, COMPLETE_SYNC };
static int complete_mode = COMPLETE_LATER;
static int next_status; /* what the next completion reports */

static struct op {
    int kind; /* 1 post, 2 history */
    parley_post_done post_done;
    parley_page_done page_done;
    void *arg;
    char room[128], username[128], content[4096], before[32];
    uint32_t limit;
} ops[16];
static size_t n_ops;
static unsigned id_counter;

static const char *h_default_room(parley_host *h) { return "chat-room"; }
static uint32_t h_history_limit(parley_host *h) { return 50; }
static int h_storage_state(parley_host *h) { return storage_state; }

static void complete(struct op *op)
{
    parley_error err = PARLEY_ERROR_INIT;
    parley_message m[3];
    size_t i;

    if (next_status < 0)
        parley_error_set(&err, next_status, "message not stored: scripted failure");
    if (op->kind == 1) {
        if (next_status < 0) {
            op->post_done(op->arg, next_status, NULL, &err);
            return;
        }
        memset(&m[0], 0, sizeof m[0]);
        m[0].struct_size = sizeof m[0];
        snprintf(m[0].id, sizeof m[0].id, "%024x", ++id_counter);
        m[0].room = op->room;
        m[0].room_len = strlen(op->room);
        m[0].username = op->username;
        m[0].username_len = strlen(op->username);
        m[0].content = op->content;
        m[0].content_len = strlen(op->content);
        m[0].timestamp_ms = 1796107941123LL;
        op->post_done(op->arg, 0, &m[0], NULL);
        return;
    }
    if (next_status < 0) {
        op->page_done(op->arg, next_status, NULL, 0, NULL, &err);
        return;
    }
    for (i = 0; i < 3; i++) {
        memset(&m[i], 0, sizeof m[i]);
        m[i].struct_size = sizeof m[i];
        snprintf(m[i].id, sizeof m[i].id, "%024x", (unsigned)(i + 1));
        m[i].room = op->room;
        m[i].room_len = strlen(op->room);
        m[i].username = "u";
        m[i].username_len = 1;
        m[i].content = i == 1 ? "q\"\\\n\x01" : "c";
        m[i].content_len = strlen(m[i].content);
        m[i].timestamp_ms = 1796107941123LL + (int64_t)i;
    }
    op->page_done(op->arg, 0, m, op->limit == 3 ? 3 : 2, op->limit == 3 ? m[0].id : NULL, NULL);
}

static int h_chat_post(parley_host *h, const parley_post *p, parley_post_done done, void *arg,
                       parley_error *err)
{
    struct op *op;

    CHECK(p->struct_size == sizeof *p, "post struct_size %u", p->struct_size);
    CHECK(p->session == NULL, "REST posts without a session");
    if (p->content_len == 0)
        return parley_error_set(err, PARLEY_EINVAL, "content is empty");
    if (p->room != NULL && p->room[0] == '$')
        return parley_error_set(err, PARLEY_EINVAL, "room must not start with '$'");
    if (storage_state != PARLEY_STORAGE_CONNECTED)
        return parley_error_set(err, PARLEY_EUNAVAIL, "message not stored: storage unavailable");
    op = &ops[n_ops++];
    memset(op, 0, sizeof *op);
    op->kind = 1;
    op->post_done = done;
    op->arg = arg;
    if (p->room != NULL)
        snprintf(op->room, sizeof op->room, "%.*s", (int)p->room_len, p->room);
    else
        snprintf(op->room, sizeof op->room, "chat-room");
    snprintf(op->username, sizeof op->username, "%.*s", (int)p->username_len, p->username);
    snprintf(op->content, sizeof op->content, "%.*s", (int)p->content_len, p->content);
    if (complete_mode == COMPLETE_SYNC) {
        n_ops--;
        complete(op);
    }
    return 0;
}

static int h_chat_history(parley_host *h, const char *room, const char *before, uint32_t limit,
                          parley_page_done done, void *arg, parley_error *err)
{
    struct op *op;

    if (room != NULL && room[0] == '$')
        return parley_error_set(err, PARLEY_EINVAL, "room must not start with '$'");
    op = &ops[n_ops++];
    memset(op, 0, sizeof *op);
    op->kind = 2;
    op->page_done = done;
    op->arg = arg;
    op->limit = limit;
    snprintf(op->room, sizeof op->room, "%s", room ? room : "chat-room");
    snprintf(op->before, sizeof op->before, "%s", before ? before : "");
    if (complete_mode == COMPLETE_SYNC) {
        n_ops--;
        complete(op);
    }
    return 0;
}

static void complete_all(void)
{
    size_t i, n = n_ops;

    n_ops = 0;
    for (i = 0; i < n; i++)
        complete(&ops[i]);
}

/* ---- the table -------------------------------------------------------- */

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

/* ---- driving requests ------------------------------------------------- */

static const parley_plugin_descriptor *desc;
static void *inst;

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

/* Build a request; headers as "Name: value" strings, NULL-terminated. */
static parley_http_request *mkreq(const char *method, const char *target, const char *body,
                                  const char *const *headers)
{
    parley_http_request *r = calloc(1, sizeof *r);
    static char paths[64][512];
    static int slot;
    char *q;
    size_t i;

    snprintf(paths[slot], sizeof paths[slot], "%s", target);
    r->path = paths[slot];
    slot = (slot + 1) % 64;
    q = strchr(r->path, '?');
    if (q != NULL) {
        *q = '\0';
        r->query = q + 1;
    } else {
        r->query = "";
    }
    r->method = method;
    r->body = body;
    r->body_len = body ? strlen(body) : 0;
    for (i = 0; headers && headers[i]; i++) {
        static char hbuf[256][600];
        static int hslot;
        char *colon;

        snprintf(hbuf[hslot], sizeof hbuf[hslot], "%s", headers[i]);
        colon = strchr(hbuf[hslot], ':');
        *colon = '\0';
        r->headers[r->n_headers][0] = hbuf[hslot];
        r->headers[r->n_headers][1] = colon + 2;
        r->n_headers++;
        hslot = (hslot + 1) % 256;
    }
    return r;
}

static parley_http_request *run(parley_http_request *r)
{
    const parley_http_route *rt = route_for(r->path);
    int rc;

    CHECK(rt != NULL, "no route for %s", r->path);
    if (rt == NULL)
        return r;
    r->route = rt;
    rc = rt->on_request(rt->arg, r);
    CHECK(rc >= 0 || hold_fails, "on_request returned %d for %s %s", rc, r->method, r->path);
    CHECK(r->responded || r->held || rc < 0, "%s %s neither answered nor held", r->method, r->path);
    return r;
}

static void req_free(parley_http_request *r)
{
    free(r->resp_body);
    free(r);
}

static parley_http_request *do_req(const char *method, const char *target, const char *body,
                                   const char *const *headers)
{
    return run(mkreq(method, target, body, headers));
}

static const char *const JSON_H[] = { "Content-Type: application/json", NULL };

#define EXPECT(r, st, substr)                                                           \
    do {                                                                                \
        CHECK((r)->status == (st), "%s %s: status %d, want %d; body %s", (r)->method,   \
              (r)->path, (r)->status, (st), (r)->resp_body ? (r)->resp_body : "");      \
        CHECK((r)->resp_body != NULL && strstr((r)->resp_body, (substr)) != NULL,       \
              "%s %s: body %s lacks %s", (r)->method, (r)->path,                        \
              (r)->resp_body ? (r)->resp_body : "(none)", (substr));                    \
    } while (0)

/* ---- the cases -------------------------------------------------------- */

static void test_post_async_and_sync(void)
{
    parley_http_request *r;

    complete_mode = COMPLETE_LATER;
    r = do_req("POST", "/api/messages", "{\"username\":\"alice\",\"content\":\"hi\",\"room\":\"r1\"}",
               JSON_H);
    CHECK(r->held && !r->responded, "POST must be held until storage answers");
    complete_all();
    EXPECT(r, 201, "{\"_id\":\"000000000000000000000001\",\"username\":\"alice\",\"content\":\"hi\","
                   "\"room\":\"r1\",\"timestamp\":\"2026-12-01T06:52:21.123Z\"}");
    CHECK(strcmp(resp_header(r, "Content-Type"), "application/json; charset=utf-8") == 0, "ctype");
    req_free(r);

    complete_mode = COMPLETE_SYNC;
    r = do_req("POST", "/api/messages", "{\"username\":\"bob\",\"content\":\"sync\"}", JSON_H);
    CHECK(!r->held, "a completion inside chat_post answers without holding");
    EXPECT(r, 201, "\"room\":\"chat-room\"");
    req_free(r);

    r = do_req("GET", "/api/messages?room=r2&limit=3", NULL, NULL);
    EXPECT(r, 200, "{\"room\":\"r2\",\"messages\":[{\"_id\":\"000000000000000000000001\"");
    CHECK(strstr(r->resp_body, "\"content\":\"q\\\"\\\\\\n\\u0001\"") != NULL, "escaping: %s",
          r->resp_body);
    CHECK(strstr(r->resp_body, "\"has_more\":true,\"next_before\":\"000000000000000000000001\"}") !=
              NULL, "cursor: %s", r->resp_body);
    req_free(r);
    complete_mode = COMPLETE_LATER;

    r = do_req("GET", "/api/messages", NULL, NULL);
    CHECK(r->held, "GET held");
    complete_all();
    EXPECT(r, 200, "\"has_more\":false,\"next_before\":null}");
    EXPECT(r, 200, "{\"room\":\"chat-room\"");
    req_free(r);
}

static void test_failures_map_to_statuses(void)
{
    parley_http_request *r;

    next_status = PARLEY_EUNAVAIL;
    r = do_req("POST", "/api/messages", "{\"username\":\"a\",\"content\":\"b\"}", JSON_H);
    complete_all();
    EXPECT(r, 503, "\"code\":\"storage_unavailable\"");
    CHECK(resp_header(r, "Retry-After") != NULL, "Retry-After on 503");
    req_free(r);

    next_status = PARLEY_ETIMEDOUT;
    r = do_req("GET", "/api/messages", NULL, NULL);
    complete_all();
    EXPECT(r, 503, "\"code\":\"storage_timeout\",\"message\":\"message not stored: scripted failure\"");
    req_free(r);

    next_status = PARLEY_EINTERNAL;
    r = do_req("GET", "/api/messages", NULL, NULL);
    complete_all();
    EXPECT(r, 500, "\"code\":\"internal_error\"");
    req_free(r);
    next_status = 0;

    storage_state = PARLEY_STORAGE_DISCONNECTED;
    r = do_req("POST", "/api/messages", "{\"username\":\"a\",\"content\":\"b\"}", JSON_H);
    EXPECT(r, 503, "\"message\":\"message not stored: storage unavailable\"");
    req_free(r);
    r = do_req("GET", "/health", NULL, NULL);
    EXPECT(r, 200, "{\"status\":\"degraded\",\"storage\":\"disconnected\",\"uptime_s\":12.345,"
                   "\"uptime\":12.345,\"version\":\"9.8.7\",\"timestamp\":\"2026-12-01T06:52:21.123Z\"}");
    req_free(r);
    storage_state = PARLEY_STORAGE_CONNECTED;
    r = do_req("GET", "/health", NULL, NULL);
    EXPECT(r, 200, "{\"status\":\"ok\",\"storage\":\"connected\"");
    req_free(r);

    r = do_req("POST", "/api/messages", "{\"username\":\"a\",\"content\":\"\"}", JSON_H);
    EXPECT(r, 400, "{\"error\":{\"code\":\"validation_failed\",\"message\":\"content is empty\"}}");
    req_free(r);
    r = do_req("GET", "/api/messages?room=%24x", NULL, NULL);
    EXPECT(r, 400, "room must not start with '$'");
    req_free(r);
}

static void test_abort_then_completion(void)
{
    parley_http_request *r;

    r = do_req("POST", "/api/messages", "{\"username\":\"a\",\"content\":\"gone\"}", JSON_H);
    CHECK(r->held, "held");
    r->route->on_abort(r->route->arg, r, r->req_ctx);
    complete_all();
    CHECK(!r->responded, "no answer after on_abort");
    req_free(r);

    hold_fails = 1;
    r = do_req("POST", "/api/messages", "{\"username\":\"a\",\"content\":\"nohold\"}", JSON_H);
    CHECK(!r->responded, "no answer when hold failed (the host answers 500)");
    hold_fails = 0;
    complete_all(); /* frees the pending request */
    req_free(r);
}

static void test_routes_and_methods(void)
{
    static const char *const allowed[] = { "Origin: http://localhost:5173", NULL };
    static const char *const pre_ok[] = { "Origin: http://localhost:3000",
                                          "Access-Control-Request-Method: POST",
                                          "Access-Control-Request-Headers: content-type, x-a",
                                          NULL };
    static const char *const pre_bad[] = { "Origin: http://evil.example",
                                           "Access-Control-Request-Method: POST", NULL };
    static const char *const bad_acrh[] = { "Origin: http://localhost:3000",
                                            "Access-Control-Request-Method: POST",
                                            "Access-Control-Request-Headers: a\tb, (c)", NULL };
    parley_http_request *r;

    r = do_req("DELETE", "/api/messages", NULL, NULL);
    EXPECT(r, 405, "method \\\"DELETE\\\" is not allowed on \\\"/api/messages\\\"; allowed: GET, HEAD, POST, OPTIONS");
    CHECK(strcmp(resp_header(r, "Allow"), "GET, HEAD, POST, OPTIONS") == 0, "Allow");
    req_free(r);
    r = do_req("HEAD", "/health", NULL, NULL);
    EXPECT(r, 200, "\"status\":\"ok\"");
    req_free(r);
    r = do_req("GET", "/api/messagesx", NULL, NULL);
    EXPECT(r, 404, "no route for \\\"GET\\\" \\\"/api/messagesx\\\"");
    req_free(r);
    r = do_req("GET", "/whatever/else", NULL, NULL);
    EXPECT(r, 404, "\"code\":\"not_found\"");
    req_free(r);
    r = do_req("GET", "/metrics", NULL, NULL);
    CHECK(r->status == 200 && r->resp_len == 100, "metrics %d %zu", r->status, r->resp_len);
    req_free(r);
    metrics_text_size = 50000; /* larger than the stack buffer */
    r = do_req("GET", "/metrics", NULL, NULL);
    CHECK(r->status == 200 && r->resp_len == 50000, "big metrics %d %zu", r->status, r->resp_len);
    CHECK(strcmp(resp_header(r, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8") == 0,
          "metrics ctype");
    req_free(r);
    metrics_text_size = 100;

    r = do_req("GET", "/health", NULL, allowed);
    CHECK(strcmp(resp_header(r, "Access-Control-Allow-Origin"), "http://localhost:5173") == 0,
          "ACAO");
    CHECK(strcmp(resp_header(r, "Vary"), "Origin") == 0, "Vary");
    req_free(r);
    r = do_req("OPTIONS", "/api/messages", NULL, pre_ok);
    CHECK(r->status == 204, "preflight status %d", r->status);
    CHECK(strcmp(resp_header(r, "Access-Control-Allow-Origin"), "http://localhost:3000") == 0,
          "preflight ACAO");
    CHECK(strcmp(resp_header(r, "Access-Control-Allow-Headers"), "content-type, x-a") == 0,
          "ACAH %s", resp_header(r, "Access-Control-Allow-Headers"));
    CHECK(strcmp(resp_header(r, "Access-Control-Max-Age"), "600") == 0, "max age");
    CHECK(strcmp(resp_header(r, "Access-Control-Allow-Methods"), "GET, POST, OPTIONS") == 0,
          "ACAM %s", resp_header(r, "Access-Control-Allow-Methods"));
    req_free(r);
    r = do_req("OPTIONS", "/api/messages", NULL, bad_acrh);
    CHECK(strcmp(resp_header(r, "Access-Control-Allow-Headers"), "Content-Type") == 0,
          "unsafe ACAH must not be echoed: %s", resp_header(r, "Access-Control-Allow-Headers"));
    req_free(r);
    r = do_req("OPTIONS", "/health", NULL, pre_bad);
    EXPECT(r, 403, "\"code\":\"origin_not_allowed\"");
    CHECK(resp_header(r, "Access-Control-Allow-Origin") == NULL, "no ACAO for a forbidden origin");
    req_free(r);

    CHECK(metric_value("parley_rest_requests_total", "route=\"messages\",status=\"405\"") == 1,
          "405 counted: %g",
          metric_value("parley_rest_requests_total", "route=\"messages\",status=\"405\""));
    CHECK(metric_value("parley_rest_requests_total", "route=\"not_found\",status=\"404\"") == 2,
          "404s counted");
}

static void test_bodies(void)
{
    static const char *const text_h[] = { "Content-Type: text/plain", NULL };
    char big[70000];
    parley_http_request *r;

    r = do_req("POST", "/api/messages", "{}", text_h);
    EXPECT(r, 415, "Content-Type \\\"text/plain\\\" is not supported");
    req_free(r);
    r = do_req("POST", "/api/messages", "{}", NULL);
    EXPECT(r, 415, "Content-Type is missing");
    req_free(r);
    r = do_req("POST", "/api/messages", "{\"content\":\"x\"}", JSON_H);
    EXPECT(r, 400, "{\"error\":{\"code\":\"missing_field\",\"message\":\"username is required\"}}");
    req_free(r);
    r = do_req("POST", "/api/messages", "{\"username\":1,\"content\":\"x\"}", JSON_H);
    EXPECT(r, 400, "username must be a string, got a number");
    req_free(r);
    r = do_req("POST", "/api/messages", "{\"username\":\"a\",\"content\":\"x\"} {}", JSON_H);
    EXPECT(r, 400, "unexpected data after the value at byte 31");
    req_free(r);
    memset(big, '[', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    r = do_req("POST", "/api/messages", big, JSON_H);
    EXPECT(r, 400, "nested deeper than 32 levels at byte 32");
    req_free(r);
    r = do_req("GET", "/w\xff\xc3\xa9\xed\xa0\x80x", NULL, NULL);
    EXPECT(r, 404, "no route for \\\"GET\\\" \\\"/w?\xc3\xa9???x\\\"");
    req_free(r);
    r = do_req("GET", "/api/messages?room=%zz", NULL, NULL);
    EXPECT(r, 400, "room has a malformed percent-escape or an encoded NUL");
    req_free(r);
    r = do_req("GET", "/api/messages?limit=10abc", NULL, NULL);
    EXPECT(r, 400, "got \\\"10abc\\\"");
    req_free(r);
    r = do_req("GET", "/api/messages?before=ABCDEF0123456789abcdef01", NULL, NULL);
    CHECK(r->held, "valid cursor accepted");
    CHECK(strcmp(ops[n_ops - 1].before, "abcdef0123456789abcdef01") == 0, "cursor lowercased");
    complete_all();
    req_free(r);
}

static int stop_called;
static void on_stopped(void *arg) { stop_called++; }

static void test_stop(void)
{
    parley_http_request *r, *r2;

    r = do_req("POST", "/api/messages", "{\"username\":\"a\",\"content\":\"late\"}", JSON_H);
    CHECK(r->held, "held");
    desc->stop(inst, on_stopped, NULL);
    CHECK(stop_called == 0, "stop must wait for the held request");
    r2 = do_req("POST", "/api/messages", "{\"username\":\"a\",\"content\":\"after stop\"}", JSON_H);
    EXPECT(r2, 503, "\"code\":\"shutting_down\"");
    complete_all();
    EXPECT(r, 201, "\"content\":\"late\"");
    CHECK(stop_called == 1, "stop done after the last held request: %d", stop_called);
    req_free(r);
    req_free(r2);
}

static void test_reconfigure(void)
{
    parley_config c = default_config();
    parley_error err = PARLEY_ERROR_INIT;
    static const char *const evil[] = { "Origin: http://evil.example", NULL };
    parley_http_request *r;

    c.origins[0] = "*";
    c.n_origins = 1;
    CHECK(desc->reconfigure(inst, &c, &err) == 0, "reconfigure: %s", err.message);
    r = do_req("GET", "/health", NULL, evil);
    CHECK(resp_header(r, "Access-Control-Allow-Origin") != NULL &&
              strcmp(resp_header(r, "Access-Control-Allow-Origin"), "*") == 0, "wildcard");
    CHECK(resp_header(r, "Vary") == NULL, "no Vary with *");
    req_free(r);
    c.max_body = 1000;
    CHECK(desc->reconfigure(inst, &c, &err) == PARLEY_EINVAL, "max_body change refused");
    CHECK(strstr(err.message, "restart") != NULL, "%s", err.message);
    c = default_config();
    c.origins[0] = "localhost:5173";
    c.n_origins = 1;
    CHECK(desc->reconfigure(inst, &c, &err) == PARLEY_EINVAL, "bad origin refused");
    CHECK(strstr(err.message, "cors_origins[0] \"localhost:5173\" is not an origin") != NULL, "%s",
          err.message);
}

int main(int argc, char **argv)
{
    parley_plugin_entry_fn entry;
    parley_error err = PARLEY_ERROR_INIT;
    parley_config cfg = default_config();
    void *so;

    if (argc != 2) {
        fprintf(stderr, "usage: %s rest.so\n", argv[0]);
        return 2;
    }
    so = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (so == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    entry = (parley_plugin_entry_fn)dlsym(so, PARLEY_ENTRY_SYMBOL);
    CHECK(entry != NULL, "no entry");
    desc = entry();
    CHECK(desc->magic == PARLEY_ABI_MAGIC && strcmp(desc->name, "rest") == 0, "descriptor");

    {
        parley_config bad = default_config();
        bad.origins[1] = "http://localhost:3000/path";
        CHECK(desc->create(&api, &the_host, &bad, &inst, &err) == PARLEY_EINVAL, "bad origin");
        CHECK(strstr(err.message, "test.yaml:1:1: cors_origins[1]") != NULL, "%s", err.message);
    }
    CHECK(desc->create(&api, &the_host, &cfg, &inst, &err) == 0, "create: %s", err.message);
    CHECK(desc->start(inst, &err) == 0, "start: %s", err.message);
    CHECK(n_routes == 4, "routes: %zu", n_routes);

    test_post_async_and_sync();
    test_failures_map_to_statuses();
    test_abort_then_completion();
    test_routes_and_methods();
    test_bodies();
    test_reconfigure();
    test_stop();

    desc->destroy(inst);
    printf("%d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
