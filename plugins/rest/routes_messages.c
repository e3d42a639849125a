/*
 * GET /api/messages?room=&limit=&before=  a page of history, newest last
 * POST /api/messages {username, content, room?}  store and broadcast
 *
 * Both are asynchronous on the host's side: the request is held open and
 * answered from the completion. Validation of the message itself (trim,
 * length caps, UTF-8, username rule) is the host's; this file checks only
 * what is HTTP or JSON: media type, syntax, field types.
 */
#include <string.h>

#include <cJSON.h>

#include "rest.h"

/* ---- GET ------------------------------------------------------------- */

static void page_done(void *arg, int status, const parley_message *msgs, size_t n,
                      const char *next_before, const parley_error *err)
{
    rest_pending *p = arg;
    rest *r = p->rq.r;
    const char *room;
    rest_buf b;
    size_t i;

    if (p->aborted)
        goto out;
    if (status < 0) {
        rest_error_status(&p->rq, status, err != NULL ? err->message : NULL);
        goto out;
    }
    room = p->room != NULL ? p->room : r->api->chat_default_room(r->host);
    rest_buf_init(&b);
    rest_buf_puts(&b, "{\"room\":");
    rest_json_string(&b, room, strlen(room));
    rest_buf_puts(&b, ",\"messages\":[");
    for (i = 0; i < n; i++) {
        if (i > 0)
            rest_buf_put(&b, ",", 1);
        rest_json_message(&b, &msgs[i]);
    }
    rest_buf_puts(&b, "],\"has_more\":");
    rest_buf_puts(&b, next_before != NULL ? "true" : "false");
    rest_buf_puts(&b, ",\"next_before\":");
    if (next_before != NULL)
        rest_json_string(&b, next_before, strlen(next_before));
    else
        rest_buf_puts(&b, "null");
    rest_buf_put(&b, "}", 1);
    rest_respond_json(&p->rq, 200, &b, NULL, 0);
    rest_buf_free(&b);

out:
    if (p->in_handler)
        p->answered = 1;
    else
        rest_pending_finish(p);
}

/* Read query parameter `key`; 1 found (non-empty), 0 absent or empty,
 * -1 after answering 400. An empty value means the default, as `x || d`
 * did in the Node backend. */
static int query_param(rest_req *rq, const char *key, char *out, size_t out_size)
{
    int n = rq->r->api->http_query_param(rq->req, key, out, out_size);

    if (n == PARLEY_ENOTFOUND || n == 0)
        return 0;
    if (n == PARLEY_ETOOBIG) {
        rest_error(rq, 400, "invalid_parameter", "%s is too long: the most is %zu bytes", key,
                   out_size - 1);
        return -1;
    }
    if (n < 0) {
        rest_error(rq, 400, "invalid_parameter",
                   "%s has a malformed percent-escape or an encoded NUL", key);
        return -1;
    }
    return 1;
}

int rest_messages_get(rest_req *rq)
{
    const parley_host_api *api = rq->r->api;
    char room[REST_ROOM_PARAM_MAX], text[64], before[PARLEY_ID_LEN + 1], q[REST_QUOTE_MAX + 8];
    parley_error err = PARLEY_ERROR_INIT;
    int has_room, has_before, rc;
    uint32_t limit = 0;
    rest_pending *p;

    if ((has_room = query_param(rq, "room", room, sizeof room)) < 0)
        return 0;
    switch (query_param(rq, "limit", text, sizeof text)) {
    case -1:
        return 0;
    case 1:
        if (rest_parse_limit(text, &limit) < 0) {
            rest_quote(q, sizeof q, text, strlen(text));
            return rest_error(rq, 400, "invalid_parameter",
                              "limit must be a positive integer (1 to 4294967295; pages are "
                              "capped by the server), got %s",
                              q);
        }
        break;
    }
    if ((has_before = query_param(rq, "before", text, sizeof text)) < 0)
        return 0;
    if (has_before && rest_parse_id(text, before) < 0) {
        rest_quote(q, sizeof q, text, strlen(text));
        return rest_error(rq, 400, "invalid_parameter",
                          "before must be a message id (24 hex digits), got %s", q);
    }

    p = rest_pending_new(rq, has_room ? room : NULL);
    if (p == NULL)
        return rest_error_status(rq, PARLEY_ENOMEM, "out of memory for the request");
    p->in_handler = 1;
    rc = api->chat_history(rq->r->host, p->room, has_before ? before : NULL, limit, page_done, p,
                           &err);
    p->in_handler = 0;
    if (rc < 0) {
        rest_error_status(&p->rq, rc, err.message);
        rest_pending_finish(p);
        return 0;
    }
    if (p->answered) {
        rest_pending_finish(p);
        return 0;
    }
    return rest_pending_hold(p);
}

/* ---- POST ------------------------------------------------------------ */

static void post_done(void *arg, int status, const parley_message *msg, const parley_error *err)
{
    rest_pending *p = arg;
    rest_buf b;

    if (p->aborted)
        goto out;
    if (status < 0 || msg == NULL) {
        rest_error_status(&p->rq, status < 0 ? status : PARLEY_EINTERNAL,
                          err != NULL ? err->message : NULL);
        goto out;
    }
    rest_buf_init(&b);
    rest_json_message(&b, msg);
    rest_respond_json(&p->rq, 201, &b, NULL, 0);
    rest_buf_free(&b);

out:
    if (p->in_handler)
        p->answered = 1;
    else
        rest_pending_finish(p);
}

/* A required string member; NULL after answering 400. */
static const cJSON *string_field(rest_req *rq, const cJSON *root, const char *name, int required,
                                 int *answered)
{
    const cJSON *v = rest_json_member(root, name);

    *answered = 0;
    if (v == NULL || (!required && cJSON_IsNull(v)))
        goto absent;
    if (!cJSON_IsString(v) || v->valuestring == NULL) {
        rest_error(rq, 400, "invalid_field", "%s must be a string, got %s", name,
                   rest_json_type_name(v));
        *answered = 1;
        return NULL;
    }
    return v;

absent:
    if (required) {
        rest_error(rq, 400, "missing_field", "%s is required", name);
        *answered = 1;
    }
    return NULL;
}

static int check_media_type(rest_req *rq)
{
    char ct[256], q[REST_QUOTE_MAX + 8];
    int n = rq->r->api->http_header(rq->req, "Content-Type", ct, sizeof ct);

    if (n == PARLEY_ENOTFOUND) {
        rest_error(rq, 415, "unsupported_media_type",
                   "Content-Type is missing; send application/json");
        return -1;
    }
    if (n < 0) {
        rest_error(rq, 415, "unsupported_media_type",
                   "Content-Type is too long; send application/json");
        return -1;
    }
    switch (rest_check_json_content_type(ct)) {
    case 0:
        return 0;
    case -2:
        rest_quote(q, sizeof q, ct, (size_t)n);
        rest_error(rq, 415, "unsupported_media_type",
                   "Content-Type %s: only the utf-8 charset is accepted", q);
        return -1;
    default:
        rest_quote(q, sizeof q, ct, (size_t)n);
        rest_error(rq, 415, "unsupported_media_type",
                   "Content-Type %s is not supported; send application/json", q);
        return -1;
    }
}

int rest_messages_post(rest_req *rq)
{
    const parley_host_api *api = rq->r->api;
    parley_error err = PARLEY_ERROR_INIT;
    const cJSON *username, *content, *room;
    char why[PARLEY_ERROR_MESSAGE_MAX];
    const char *code = "invalid_json";
    parley_post post;
    const void *body;
    rest_pending *p;
    size_t len = 0;
    cJSON *root;
    int answered, rc;

    if (check_media_type(rq) < 0)
        return 0;
    body = api->http_body(rq->req, &len);
    root = rest_json_parse_object(body != NULL ? body : "", body != NULL ? len : 0,
                                  rq->r->json_max_depth, &code, why, sizeof why);
    if (root == NULL)
        return rest_error(rq, 400, code, "%s", why);

    username = string_field(rq, root, "username", 1, &answered);
    if (answered)
        goto refused;
    content = string_field(rq, root, "content", 1, &answered);
    if (answered)
        goto refused;
    room = string_field(rq, root, "room", 0, &answered);
    if (answered)
        goto refused;

    post = (parley_post){ .struct_size = sizeof post };
    if (room != NULL && room->valuestring[0] != '\0') {
        post.room = room->valuestring;
        post.room_len = strlen(room->valuestring);
    }
    post.username = username->valuestring;
    post.username_len = strlen(username->valuestring);
    post.content = content->valuestring;
    post.content_len = strlen(content->valuestring);

    p = rest_pending_new(rq, NULL);
    if (p == NULL) {
        cJSON_Delete(root);
        return rest_error_status(rq, PARLEY_ENOMEM, "out of memory for the request");
    }
    p->json = root; /* the strings stay valid until the host is done */
    p->in_handler = 1;
    rc = api->chat_post(rq->r->host, &post, post_done, p, &err);
    p->in_handler = 0;
    if (rc < 0) {
        rest_error_status(&p->rq, rc, err.message);
        rest_pending_finish(p);
        return 0;
    }
    if (p->answered) {
        rest_pending_finish(p);
        return 0;
    }
    return rest_pending_hold(p);

refused:
    cJSON_Delete(root);
    return 0;
}
