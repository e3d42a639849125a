/*
 * The chat contract of DESIGN.md on namespace "/":
 *   join-chat {username, room?}  → join-confirmed {username, room, history}
 *   send-message {content}       → message-received {...} to the room,
 *                                  ack {ok:true,id} / {ok:false,error}
 *   typing {isTyping}            → typing {username, isTyping} to the others
 *   disconnect                   → user-left to the others (the host)
 * and the encoding of the host's room events (once per broadcast: the
 * frame is the Engine.IO packet 42["<event>",{...}], shared by every
 * member). Failures reach the sender as its ack or as `error {message,
 * code}`, with the codes docs/rest.md uses.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "socketio.h"

int sio_chat_is_event(const char *name)
{
    return strcmp(name, "join-chat") == 0 || strcmp(name, "send-message") == 0 ||
           strcmp(name, "typing") == 0;
}

void sio_iso_time(int64_t ms, char *buf, size_t cap)
{
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)secs * 1000);
    struct tm tm;

    gmtime_r(&secs, &tm);
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

const char *sio_chat_code(int status)
{
    switch (status) {
    case PARLEY_EINVAL:
    case PARLEY_ETOOBIG:
        return "validation_failed";
    case PARLEY_ENOTFOUND:
        return "not_joined";
    case PARLEY_ELIMIT:
        return "limit_reached";
    case PARLEY_EUNAVAIL:
    case PARLEY_EIO:
        return "storage_unavailable";
    case PARLEY_ETIMEDOUT:
        return "storage_timeout";
    case PARLEY_ESHUTDOWN:
        return "shutting_down";
    case PARLEY_ENOMEM:
        return "overloaded";
    default:
        return "internal_error";
    }
}

static cJSON *sn(const char *s, size_t len)
{
    /* Host strings are NUL-terminated at len; cJSON copies them. */
    (void)len;
    return cJSON_CreateString(s);
}

static cJSON *message_json(const parley_message *msg)
{
    cJSON *o = cJSON_CreateObject();
    char ts[40];

    if (o == NULL)
        return NULL;
    sio_iso_time(msg->timestamp_ms, ts, sizeof ts);
    cJSON_AddStringToObject(o, "_id", msg->id);
    cJSON_AddItemToObject(o, "username", sn(msg->username, msg->username_len));
    cJSON_AddItemToObject(o, "content", sn(msg->content, msg->content_len));
    cJSON_AddItemToObject(o, "room", sn(msg->room, msg->room_len));
    cJSON_AddStringToObject(o, "timestamp", ts);
    return o;
}

static void emit_object(struct sio_conn *c, const char *event, cJSON *o)
{
    char *json;

    if (o == NULL)
        return;
    json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (json == NULL)
        return;
    sio_conn_emit(c, event, json, strlen(json));
    cJSON_free(json);
}

static void ack_object(struct sio_conn *c, uint32_t id, cJSON *o)
{
    cJSON *arr;
    char *json;

    if (o == NULL)
        return;
    arr = cJSON_CreateArray();
    if (arr == NULL) {
        cJSON_Delete(o);
        return;
    }
    cJSON_AddItemToArray(arr, o);
    json = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    if (json == NULL)
        return;
    sio_conn_ack(c, id, json, strlen(json));
    cJSON_free(json);
}

void sio_chat_error(struct sio_conn *c, int status, const char *code, const char *message)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL)
        return;
    cJSON_AddStringToObject(o, "message", message);
    cJSON_AddStringToObject(o, "code", code != NULL ? code : sio_chat_code(status));
    emit_object(c, "error", o);
}

/* A failure goes to the ack when the client asked for one, else as `error`. */
static void fail(struct sio_conn *c, int has_ack, uint32_t ack_id, int status, const char *code,
                 const char *message)
{
    cJSON *o;

    if (!has_ack) {
        sio_chat_error(c, status, code, message);
        return;
    }
    o = cJSON_CreateObject();
    if (o == NULL)
        return;
    cJSON_AddFalseToObject(o, "ok");
    cJSON_AddStringToObject(o, "error", message);
    cJSON_AddStringToObject(o, "code", code != NULL ? code : sio_chat_code(status));
    ack_object(c, ack_id, o);
}

/* The first argument as an object, or NULL. */
static cJSON *arg_object(sio_message *m)
{
    cJSON *a = cJSON_GetArrayItem(m->pkt.data, 1);

    return cJSON_IsObject(a) ? a : NULL;
}

/* ---- join-chat --------------------------------------------------------- */

struct join_req {
    struct sio_conn *c;
    int has_ack;
    uint32_t ack_id;
    char *room;
    char *username;
};

static void join_req_free(struct join_req *r)
{
    sio_conn_unref(r->c);
    free(r->room);
    free(r->username);
    free(r);
}

/* The most room frames one joining client keeps for after its
 * join-confirmed; past it what is held goes out at once, in order, ahead
 * of join-confirmed, rather than grow without bound behind a slow read. */
#define HELD_MAX 4096

/* The id of a message-received frame, as sio_chat_encode writes it; NULL
 * for any other frame. */
static const char *held_message_id(const parley_host_api *api, const parley_frame *frame)
{
    static const char prefix[] = "42[\"message-received\",{\"_id\":\"";
    size_t len;
    const char *data = api->frame_data(frame, &len);

    if (len < sizeof prefix - 1 + PARLEY_ID_LEN || memcmp(data, prefix, sizeof prefix - 1) != 0)
        return NULL;
    return data + sizeof prefix - 1;
}

static int in_history(const char *id, const parley_message *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(msgs[i].id, id, PARLEY_ID_LEN) == 0)
            return 1;
    return 0;
}

/* Send what is held, in order, except the messages the history already
 * holds (confirmed before the read); msgs is NULL before the history. */
static void release_held(struct sio_conn *c, const parley_message *msgs, size_t n)
{
    const parley_host_api *api = c->pl->api;
    parley_frame **held = c->held;
    size_t n_held = c->n_held;

    c->held = NULL;
    c->n_held = c->cap_held = 0;
    for (size_t i = 0; i < n_held; i++) {
        const char *id = held_message_id(api, held[i]);

        if (!c->closed && !c->failing && (id == NULL || !in_history(id, msgs, n)))
            eio_send_frame(c->s, held[i]);
        api->frame_release(held[i]);
    }
    free(held);
}

int sio_chat_hold(struct sio_conn *c, parley_frame *frame)
{
    if (c->n_held == HELD_MAX)
        release_held(c, NULL, 0);
    if (c->n_held == c->cap_held) {
        size_t cap = c->cap_held ? c->cap_held * 2 : 16;
        parley_frame **h = realloc(c->held, cap * sizeof *h);

        if (h == NULL) {
            release_held(c, NULL, 0);   /* out of memory: send in order, now */
            return 0;
        }
        c->held = h;
        c->cap_held = cap;
    }
    c->held[c->n_held++] = c->pl->api->frame_retain(frame);
    return 1;
}

void sio_chat_drop_held(struct sio_conn *c)
{
    for (size_t i = 0; i < c->n_held; i++)
        c->pl->api->frame_release(c->held[i]);
    free(c->held);
    c->held = NULL;
    c->n_held = c->cap_held = 0;
}

/* join-confirmed is out: what the room said meanwhile follows it. */
static void history_done(void *arg, int status, const parley_message *msgs, size_t n,
                         const char *next_before, const parley_error *err)
{
    struct join_req *r = arg;
    struct sio_conn *c = r->c;
    cJSON *o, *hist;

    (void)next_before;
    c->joining--;
    if (c->closed || c->failing) {
        join_req_free(r);
        return;
    }
    if (status < 0)
        sio_chat_error(c, status, NULL, err != NULL && err->message[0] != '\0'
                                            ? err->message : "history unavailable");
    o = cJSON_CreateObject();
    if (o == NULL) {
        if (c->joining == 0)
            release_held(c, NULL, 0);
        join_req_free(r);
        return;
    }
    cJSON_AddStringToObject(o, "username", r->username);
    cJSON_AddStringToObject(o, "room", r->room);
    hist = cJSON_AddArrayToObject(o, "history");
    for (size_t i = 0; status >= 0 && i < n; i++)
        cJSON_AddItemToArray(hist, message_json(&msgs[i]));
    if (r->has_ack) {
        cJSON *a = cJSON_CreateObject();

        if (a != NULL) {
            cJSON_AddTrueToObject(a, "ok");
            cJSON_AddStringToObject(a, "username", r->username);
            cJSON_AddStringToObject(a, "room", r->room);
        }
        emit_object(c, "join-confirmed", o);
        ack_object(c, r->ack_id, a);
    } else {
        emit_object(c, "join-confirmed", o);
    }
    if (c->joining == 0)
        release_held(c, msgs, status >= 0 ? n : 0);
    join_req_free(r);
}

static void join_chat(struct sio_conn *c, sio_message *m)
{
    struct sio_plugin *pl = c->pl;
    parley_error err = PARLEY_ERROR_INIT;
    int has_ack = m->pkt.has_ack;
    uint32_t ack_id = m->pkt.ack_id;
    cJSON *o = arg_object(m), *u, *rm;
    const char *room, *name;
    struct join_req *r;
    int rc;

    if (o == NULL) {
        fail(c, has_ack, ack_id, PARLEY_EINVAL, "invalid_body",
             "join-chat takes an object {username, room?}");
        return;
    }
    u = cJSON_GetObjectItemCaseSensitive(o, "username");
    rm = cJSON_GetObjectItemCaseSensitive(o, "room");
    if (u == NULL || cJSON_IsNull(u)) {
        fail(c, has_ack, ack_id, PARLEY_EINVAL, "missing_field", "username is required");
        return;
    }
    if (!cJSON_IsString(u)) {
        fail(c, has_ack, ack_id, PARLEY_EINVAL, "invalid_field", "username must be a string");
        return;
    }
    if (rm != NULL && !cJSON_IsNull(rm) && !cJSON_IsString(rm)) {
        fail(c, has_ack, ack_id, PARLEY_EINVAL, "invalid_field", "room must be a string");
        return;
    }
    room = cJSON_IsString(rm) ? rm->valuestring : pl->api->chat_default_room(pl->host);
    if (c->session == NULL) {
        fail(c, has_ack, ack_id, PARLEY_ECLOSED, "internal_error", "no chat session");
        return;
    }
    rc = pl->api->session_join(c->session, room, u->valuestring, &err);
    if (rc < 0) {
        /* A refused join changes nothing: the client stays where it was. */
        fail(c, has_ack, ack_id, rc, NULL, err.message);
        return;
    }
    /* One room at a time, as the Node backend kept it: once in the new
     * room, leave the previous one (its members get user-left). */
    if (c->room == NULL || strcmp(c->room, room) != 0) {
        char *now = strdup(room);

        if (now == NULL) {
            pl->api->session_leave(c->session, room, &err);
            fail(c, has_ack, ack_id, PARLEY_ENOMEM, NULL, "out of memory");
            return;
        }
        if (c->room != NULL)
            pl->api->session_leave(c->session, c->room, &err);
        free(c->room);
        c->room = now;
    }
    name = pl->api->session_username(c->session, room);
    r = calloc(1, sizeof *r);
    if (r == NULL || (r->room = strdup(room)) == NULL ||
        (r->username = strdup(name != NULL ? name : u->valuestring)) == NULL) {
        if (r != NULL) {
            free(r->room);
            free(r);
        }
        fail(c, has_ack, ack_id, PARLEY_ENOMEM, NULL, "out of memory");
        return;
    }
    r->c = c;
    r->has_ack = has_ack;
    r->ack_id = ack_id;
    sio_conn_ref(c);
    c->joining++;
    rc = pl->api->chat_history(pl->host, room, NULL, 0, history_done, r, &err);
    if (rc < 0)
        history_done(r, rc, NULL, 0, NULL, &err);
}

/* ---- send-message ----------------------------------------------------- */

struct post_req {
    struct sio_conn *c;
    int has_ack;
    uint32_t ack_id;
};

static void post_done(void *arg, int status, const parley_message *msg, const parley_error *err)
{
    struct post_req *r = arg;
    struct sio_conn *c = r->c;

    if (!c->closed && !c->failing) {
        if (status < 0) {
            fail(c, r->has_ack, r->ack_id, status, NULL,
                 err != NULL && err->message[0] != '\0' ? err->message : "message not stored");
        } else if (r->has_ack) {
            cJSON *o = cJSON_CreateObject();

            if (o != NULL) {
                cJSON_AddTrueToObject(o, "ok");
                cJSON_AddStringToObject(o, "id", msg->id);
            }
            ack_object(c, r->ack_id, o);
        }
    }
    sio_conn_unref(c);
    free(r);
}

static void send_message(struct sio_conn *c, sio_message *m)
{
    struct sio_plugin *pl = c->pl;
    parley_error err = PARLEY_ERROR_INIT;
    int has_ack = m->pkt.has_ack;
    uint32_t ack_id = m->pkt.ack_id;
    cJSON *o = arg_object(m), *content;
    struct post_req *r;
    int rc;

    if (o == NULL) {
        fail(c, has_ack, ack_id, PARLEY_EINVAL, "invalid_body",
             "send-message takes an object {content}");
        return;
    }
    content = cJSON_GetObjectItemCaseSensitive(o, "content");
    if (content == NULL || cJSON_IsNull(content)) {
        fail(c, has_ack, ack_id, PARLEY_EINVAL, "missing_field", "content is required");
        return;
    }
    if (!cJSON_IsString(content)) {
        fail(c, has_ack, ack_id, PARLEY_EINVAL, "invalid_field", "content must be a string");
        return;
    }
    if (c->room == NULL || c->session == NULL) {
        fail(c, has_ack, ack_id, PARLEY_ENOTFOUND, "not_joined",
             "join a room first (join-chat)");
        return;
    }
    r = malloc(sizeof *r);
    if (r == NULL) {
        fail(c, has_ack, ack_id, PARLEY_ENOMEM, NULL, "out of memory");
        return;
    }
    r->c = c;
    r->has_ack = has_ack;
    r->ack_id = ack_id;
    parley_post post = {
        .struct_size = sizeof post,
        .room = c->room, .room_len = strlen(c->room),
        .content = content->valuestring, .content_len = strlen(content->valuestring),
        .session = c->session,
    };
    sio_conn_ref(c);
    rc = pl->api->chat_post(pl->host, &post, post_done, r, &err);
    if (rc < 0) {
        sio_conn_unref(c);
        free(r);
        fail(c, has_ack, ack_id, rc, NULL, err.message);
    }
}

/* ---- typing ------------------------------------------------------------ */

static void typing(struct sio_conn *c, sio_message *m)
{
    parley_error err = PARLEY_ERROR_INIT;
    cJSON *o = arg_object(m);
    cJSON *t = o != NULL ? cJSON_GetObjectItemCaseSensitive(o, "isTyping") : NULL;

    /* Never persisted, frequent: a client that has not joined is ignored. */
    if (c->room == NULL || c->session == NULL)
        return;
    c->pl->api->session_typing(c->session, c->room, cJSON_IsTrue(t), &err);
}

void sio_chat_event(struct sio_conn *c, sio_message *m)
{
    const char *ev = m->pkt.event;

    if (strcmp(ev, "join-chat") == 0)
        join_chat(c, m);
    else if (strcmp(ev, "send-message") == 0)
        send_message(c, m);
    else
        typing(c, m);
}

/* ---- encode (once per broadcast) -------------------------------------- */

parley_frame *sio_chat_encode(struct sio_plugin *pl, const parley_event *ev)
{
    cJSON *arr = cJSON_CreateArray(), *o = NULL;
    const char *name;
    parley_frame *f = NULL;
    char ts[40], *json, *data;
    size_t len;

    if (arr == NULL)
        return NULL;
    switch (ev->type) {
    case PARLEY_EVENT_MESSAGE:
        name = "message-received";
        o = ev->message != NULL ? message_json(ev->message) : NULL;
        break;
    case PARLEY_EVENT_USER_JOINED:
    case PARLEY_EVENT_USER_LEFT:
        name = ev->type == PARLEY_EVENT_USER_JOINED ? "user-joined" : "user-left";
        o = cJSON_CreateObject();
        if (o != NULL) {
            sio_iso_time(ev->timestamp_ms, ts, sizeof ts);
            cJSON_AddItemToObject(o, "username", sn(ev->username, ev->username_len));
            cJSON_AddItemToObject(o, "room", sn(ev->room, ev->room_len));
            cJSON_AddStringToObject(o, "timestamp", ts);
        }
        break;
    case PARLEY_EVENT_TYPING:
        name = "typing";
        o = cJSON_CreateObject();
        if (o != NULL) {
            cJSON_AddItemToObject(o, "username", sn(ev->username, ev->username_len));
            cJSON_AddBoolToObject(o, "isTyping", ev->is_typing != 0);
        }
        break;
    default:
        cJSON_Delete(arr);
        return NULL;
    }
    if (o == NULL) {
        cJSON_Delete(arr);
        return NULL;
    }
    cJSON_AddItemToArray(arr, cJSON_CreateString(name));
    cJSON_AddItemToArray(arr, o);
    json = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    if (json == NULL)
        return NULL;
    len = strlen(json);
    f = pl->api->frame_alloc(pl->host, len + 2, 0, &data);
    if (f != NULL) {
        data[0] = '4';
        data[1] = '2';
        memcpy(data + 2, json, len);
    }
    cJSON_free(json);
    return f;
}
