/*
 * The chat core (see chat.h): rooms by name in a hash table, members
 * grouped by transport, persist-then-broadcast.
 */
#include "chat.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "frame.h"
#include "host.h"
#include "list.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "msgid.h"
#include "storage_queue.h"

struct room;

/* One session in one room. */
struct member {
    struct room *room;
    parley_session *session;
    size_t group;           /* index into room->groups */
    size_t slot;            /* index into that group's members */
    size_t sidx;            /* index into session->rooms */
    char *username;
    size_t username_len;
};

/* The members of one room that belong to one transport. */
struct group {
    parley_host *host;
    struct member **m;      /* NULL slots are tombstones while the room is busy */
    size_t n, cap;
};

struct room {
    struct room *next;      /* hash chain */
    uint64_t hash;
    char *name;
    size_t len;
    struct group *groups;
    size_t n_groups, cap_groups;
    size_t members;         /* live members */
    unsigned busy;          /* broadcasts in progress (they nest) */
    int dirty;              /* tombstones to sweep */
};

struct parley_session {
    parley_session *prev, *next;
    parley_host *host;
    void *ctx;
    struct member **rooms;
    size_t n_rooms, cap_rooms;
    int closing;
};

/* A post or history call waiting for storage; listed so chat_free can
 * reclaim it when storage never answered (the shutdown deadline passed). */
struct pending {
    struct pending *prev, *next;
};

struct post_req {
    struct pending link;
    parley_message msg;
    parley_post_done done;
    void *arg;
    char buf[];
};

struct hist_req {
    struct pending link;
    parley_page_done done;
    void *arg;
    uint32_t limit;
    char room[];
};

static struct {
    int ready;
    int shutting_down;
    struct parley__chat_options opt;
    char *default_room;
    size_t default_room_len;

    struct room **buckets;
    size_t n_buckets;       /* a power of two */
    size_t n_rooms;

    parley_session *sessions;
    size_t n_sessions;

    struct pending *pending;

    parley_metric *m_posted, *m_rej_invalid, *m_rej_not_joined, *m_rej_storage,
        *m_rej_shutdown, *m_rooms, *m_sessions, *m_deliveries;
} g;

/* ---- options ---- */

static int check_options(const struct parley__chat_options *o, parley_error *err)
{
    const char *room;
    size_t len;
    parley_error verr = PARLEY_ERROR_INIT;

    if (o == NULL)
        return parley_error_set(err, PARLEY_EINVAL, "chat options are missing");
    if (o->limits.max_content_length == 0 || o->limits.max_username_length == 0 ||
        o->limits.max_room_length == 0)
        return parley_error_set(err, PARLEY_EINVAL,
                                "chat.max_content_length, max_username_length and max_room_length "
                                "must be at least 1 (got %u, %u, %u)", o->limits.max_content_length,
                                o->limits.max_username_length, o->limits.max_room_length);
    if (o->history_max == 0 || o->history_limit == 0 || o->history_limit > o->history_max)
        return parley_error_set(err, PARLEY_EINVAL,
                                "chat.history_limit (%u) must be between 1 and chat.history_max (%u)",
                                o->history_limit, o->history_max);
    if (o->max_rooms_per_session == 0)
        return parley_error_set(err, PARLEY_EINVAL, "chat.max_rooms_per_session must be at least 1");
    if (o->default_room == NULL)
        return parley_error_set(err, PARLEY_EINVAL, "chat.default_room is missing");
    if (parley__validate_room(&o->limits, o->default_room, strlen(o->default_room), &room, &len, &verr) != 0)
        return parley_error_set(err, PARLEY_EINVAL, "chat.default_room \"%s\" is refused: %s",
                                o->default_room, verr.message);
    if (len != strlen(o->default_room))
        return parley_error_set(err, PARLEY_EINVAL,
                                "chat.default_room \"%s\" has leading or trailing whitespace", o->default_room);
    return 0;
}

static int apply_options(const struct parley__chat_options *o, parley_error *err)
{
    char *room;
    int rc = check_options(o, err);

    if (rc != 0)
        return rc;
    room = strdup(o->default_room);
    if (room == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "out of memory");
    free(g.default_room);
    g.default_room = room;
    g.default_room_len = strlen(room);
    g.opt = *o;
    g.opt.default_room = g.default_room;
    return 0;
}

static void register_metrics(void)
{
    g.m_posted = parley__metric_simple(PARLEY_METRIC_COUNTER, "parley_messages_posted_total",
                                       "Messages stored and broadcast.", NULL);
#define REJ(field, reason)                                                               \
    g.field = parley__metric_simple(PARLEY_METRIC_COUNTER, "parley_messages_rejected_total", \
                                    "Messages refused, by reason.", "reason=\"" reason "\"")
    REJ(m_rej_invalid, "invalid");
    REJ(m_rej_not_joined, "not_joined");
    REJ(m_rej_storage, "storage");
    REJ(m_rej_shutdown, "shutdown");
#undef REJ
    g.m_rooms = parley__metric_simple(PARLEY_METRIC_GAUGE, "parley_rooms", "Rooms with members.", NULL);
    g.m_sessions = parley__metric_simple(PARLEY_METRIC_GAUGE, "parley_sessions", "Open chat sessions.", NULL);
    g.m_deliveries = parley__metric_simple(PARLEY_METRIC_COUNTER, "parley_deliveries_total",
                                           "Events handed to a transport for one session.", NULL);
}

int parley__chat_init(const struct parley__chat_options *o, parley_error *err)
{
    int rc;

    if (g.ready)
        return parley_error_set(err, PARLEY_EINTERNAL, "chat initialised twice");
    memset(&g, 0, sizeof g);
    rc = apply_options(o, err);
    if (rc != 0)
        return rc;
    g.n_buckets = 64;
    g.buckets = calloc(g.n_buckets, sizeof *g.buckets);
    if (g.buckets == NULL) {
        free(g.default_room);
        g.default_room = NULL;
        return parley_error_set(err, PARLEY_ENOMEM, "out of memory");
    }
    register_metrics();
    parley__msgid_init();
    g.ready = 1;
    return 0;
}

int parley__chat_reconfigure(const struct parley__chat_options *o, parley_error *err)
{
    if (!g.ready)
        return parley_error_set(err, PARLEY_EINTERNAL, "chat is not initialised");
    return apply_options(o, err);
}

void parley__chat_shutdown(void)
{
    g.shutting_down = 1;
}

/* ---- rooms ---- */

static uint64_t hash_name(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static struct room *room_find(const char *name, size_t len)
{
    uint64_t h;
    struct room *r;

    if (!g.ready)
        return NULL;
    h = hash_name(name, len);
    for (r = g.buckets[h & (g.n_buckets - 1)]; r != NULL; r = r->next)
        if (r->hash == h && r->len == len && memcmp(r->name, name, len) == 0)
            return r;
    return NULL;
}

static void rehash(void)
{
    size_t n = g.n_buckets * 2;
    struct room **b = calloc(n, sizeof *b);

    if (b == NULL)
        return;    /* longer chains, still correct */
    for (size_t i = 0; i < g.n_buckets; i++) {
        struct room *r = g.buckets[i], *next;
        for (; r != NULL; r = next) {
            next = r->next;
            r->next = b[r->hash & (n - 1)];
            b[r->hash & (n - 1)] = r;
        }
    }
    free(g.buckets);
    g.buckets = b;
    g.n_buckets = n;
}

static struct room *room_create(const char *name, size_t len)
{
    struct room *r = calloc(1, sizeof *r);

    if (r == NULL)
        return NULL;
    r->name = malloc(len + 1);
    if (r->name == NULL) {
        free(r);
        return NULL;
    }
    memcpy(r->name, name, len);
    r->name[len] = '\0';
    r->len = len;
    r->hash = hash_name(name, len);
    if (g.n_rooms >= g.n_buckets)
        rehash();
    r->next = g.buckets[r->hash & (g.n_buckets - 1)];
    g.buckets[r->hash & (g.n_buckets - 1)] = r;
    g.n_rooms++;
    parley__metric_set(g.m_rooms, (double)g.n_rooms);
    return r;
}

static void room_destroy(struct room *r)
{
    for (size_t i = 0; i < r->n_groups; i++)
        free(r->groups[i].m);
    free(r->groups);
    free(r->name);
    free(r);
}

static void room_unlink_free(struct room *r)
{
    struct room **p = &g.buckets[r->hash & (g.n_buckets - 1)];

    while (*p != r)
        p = &(*p)->next;
    *p = r->next;
    g.n_rooms--;
    parley__metric_set(g.m_rooms, (double)g.n_rooms);
    room_destroy(r);
}

/* Compact the tombstones a busy room left behind. */
static void room_sweep(struct room *r)
{
    for (size_t gi = 0; gi < r->n_groups; gi++) {
        struct group *gr = &r->groups[gi];
        size_t w = 0;
        for (size_t i = 0; i < gr->n; i++) {
            if (gr->m[i] == NULL)
                continue;
            gr->m[w] = gr->m[i];
            gr->m[w]->slot = w;
            w++;
        }
        gr->n = w;
    }
    r->dirty = 0;
}

static int room_add(struct room *r, struct member *m, parley_host *host)
{
    struct group *gr = NULL;
    size_t gi;

    for (gi = 0; gi < r->n_groups; gi++)
        if (r->groups[gi].host == host)
            break;
    if (gi == r->n_groups) {
        if (parley__array_grow((void **)&r->groups, &r->cap_groups, r->n_groups + 1, sizeof *r->groups) != 0)
            return PARLEY_ENOMEM;
        memset(&r->groups[gi], 0, sizeof r->groups[gi]);
        r->groups[gi].host = host;
        r->n_groups++;
    }
    gr = &r->groups[gi];
    if (parley__array_grow((void **)&gr->m, &gr->cap, gr->n + 1, sizeof *gr->m) != 0)
        return PARLEY_ENOMEM;
    m->room = r;
    m->group = gi;
    m->slot = gr->n;
    gr->m[gr->n++] = m;
    r->members++;
    return 0;
}

/* Take a member out of its room and its session; the caller frees it. */
static void member_detach(struct member *m)
{
    struct room *r = m->room;
    struct group *gr = &r->groups[m->group];
    parley_session *s = m->session;

    if (r->busy) {
        gr->m[m->slot] = NULL;
        r->dirty = 1;
    } else {
        struct member *last = gr->m[--gr->n];
        gr->m[m->slot] = last;
        last->slot = m->slot;
    }
    r->members--;

    struct member *slast = s->rooms[--s->n_rooms];
    s->rooms[m->sidx] = slast;
    slast->sidx = m->sidx;
}

static void member_free(struct member *m)
{
    free(m->username);
    free(m);
}

/*
 * Deliver `ev` to the members of `r` present now, but `exclude`; encode
 * once per transport. Frees the room when the outermost broadcast ends
 * with nobody left: the caller must not touch `r` afterwards.
 */
static void broadcast(struct room *r, const parley_event *ev, const parley_session *exclude)
{
    size_t n_groups = r->n_groups, delivered = 0;

    r->busy++;
    for (size_t gi = 0; gi < n_groups; gi++) {
        /* Re-read through r->groups: a deliver may grow the arrays. */
        parley_host *host = r->groups[gi].host;
        const parley_transport_vtable *vt = host->transport;
        size_t n = r->groups[gi].n, i;
        parley_frame *frame;

        if (vt == NULL || vt->encode == NULL || vt->deliver == NULL)
            continue;
        for (i = 0; i < n; i++) {
            struct member *m = r->groups[gi].m[i];
            if (m != NULL && m->session != exclude)
                break;
        }
        if (i == n)
            continue;
        frame = vt->encode(host->instance, ev);
        if (frame == NULL)
            continue;
        for (; i < n; i++) {
            struct member *m = r->groups[gi].m[i];
            if (m == NULL || m->session == exclude)
                continue;
            vt->deliver(host->instance, m->session->ctx, frame);
            delivered++;
        }
        parley__frame_release(frame);
    }
    r->busy--;
    if (delivered > 0)
        parley__metric_add(g.m_deliveries, (double)delivered);
    if (r->busy > 0)
        return;
    if (r->dirty)
        room_sweep(r);
    if (r->members == 0)
        room_unlink_free(r);
}

/* Presence and typing: the actor's name is copied, since a deliver may
 * rename or free the member it came from. */
static void broadcast_presence(struct room *r, uint32_t type, const char *username, size_t len,
                               int is_typing, const parley_session *exclude)
{
    char stackbuf[256], *name = stackbuf;
    parley_event ev;

    if (len >= sizeof stackbuf) {
        name = malloc(len + 1);
        if (name == NULL) {
            parley__warn("chat: out of memory; a presence event for room %s was not sent", r->name);
            if (r->busy == 0 && r->members == 0)
                room_unlink_free(r);
            return;
        }
    }
    memcpy(name, username, len);
    name[len] = '\0';

    memset(&ev, 0, sizeof ev);
    ev.struct_size = sizeof ev;
    ev.type = type;
    ev.room = r->name;
    ev.room_len = r->len;
    ev.username = name;
    ev.username_len = len;
    ev.timestamp_ms = parley__wall_ms(&parley__self);
    ev.is_typing = is_typing;
    broadcast(r, &ev, exclude);
    if (name != stackbuf)
        free(name);
}

/* ---- sessions ---- */

static struct member *session_member(const parley_session *s, const char *room, size_t len)
{
    for (size_t i = 0; i < s->n_rooms; i++) {
        const struct room *r = s->rooms[i]->room;
        if (r->len == len && memcmp(r->name, room, len) == 0)
            return s->rooms[i];
    }
    return NULL;
}

/* NULL → the default room; else validated and trimmed. */
static int resolve_room(const char *room, size_t room_len, const char **out, size_t *out_len,
                        parley_error *err)
{
    if (room == NULL) {
        *out = g.default_room;
        *out_len = g.default_room_len;
        return 0;
    }
    return parley__validate_room(&g.opt.limits, room, room_len, out, out_len, err);
}

parley_session *parley__session_open(parley_host *host, void *session_ctx, parley_error *err)
{
    parley_session *s;

    if (!g.ready || g.shutting_down) {
        parley_error_set(err, PARLEY_ESHUTDOWN, "the server is shutting down; no new chat sessions");
        return NULL;
    }
    if (host == NULL || host->transport == NULL || host->transport->encode == NULL ||
        host->transport->deliver == NULL) {
        parley_error_set(err, PARLEY_EINVAL, "plugin %s cannot open chat sessions: its transport "
                         "vtable has no encode and deliver", host && host->name ? host->name : "?");
        return NULL;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        parley_error_set(err, PARLEY_ENOMEM, "out of memory opening a chat session");
        return NULL;
    }
    s->host = host;
    s->ctx = session_ctx;
    PARLEY__LIST_PUSH(g.sessions, s);
    g.n_sessions++;
    parley__metric_set(g.m_sessions, (double)g.n_sessions);
    return s;
}

static void leave_member(struct member *m)
{
    struct room *r = m->room;
    parley_session *s = m->session;

    member_detach(m);
    broadcast_presence(r, PARLEY_EVENT_USER_LEFT, m->username, m->username_len, 0, s);
    member_free(m);
}

void parley__session_close(parley_session *s)
{
    if (s == NULL || s->closing)
        return;
    s->closing = 1;
    while (s->n_rooms > 0)
        leave_member(s->rooms[s->n_rooms - 1]);
    PARLEY__LIST_REMOVE(g.sessions, s);
    g.n_sessions--;
    parley__metric_set(g.m_sessions, (double)g.n_sessions);
    free(s->rooms);
    free(s);
}

int parley__session_join(parley_session *s, const char *room, const char *username, parley_error *err)
{
    const char *name, *rname;
    size_t name_len, rlen;
    struct member *m;
    struct room *r;
    char *copy;
    int rc;

    if (s == NULL || s->closing)
        return parley_error_set(err, PARLEY_ECLOSED, "the session is closed");
    rc = parley__validate_username(&g.opt.limits, username, username ? strlen(username) : 0,
                                   &name, &name_len, err);
    if (rc != 0)
        return rc;
    rc = resolve_room(room, room ? strlen(room) : 0, &rname, &rlen, err);
    if (rc != 0)
        return rc;

    copy = malloc(name_len + 1);
    if (copy == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "out of memory joining a room");
    memcpy(copy, name, name_len);
    copy[name_len] = '\0';

    m = session_member(s, rname, rlen);
    if (m != NULL) {            /* joined already: only the name changes */
        free(m->username);
        m->username = copy;
        m->username_len = name_len;
        return 0;
    }
    if (s->n_rooms >= g.opt.max_rooms_per_session) {
        free(copy);
        return parley_error_set(err, PARLEY_ELIMIT, "already in %zu rooms; the limit is %u",
                                s->n_rooms, g.opt.max_rooms_per_session);
    }
    if (parley__array_grow((void **)&s->rooms, &s->cap_rooms, s->n_rooms + 1, sizeof *s->rooms) != 0)
        goto oom;
    m = calloc(1, sizeof *m);
    if (m == NULL)
        goto oom;
    m->session = s;
    m->username = copy;
    m->username_len = name_len;
    r = room_find(rname, rlen);
    if (r == NULL && (r = room_create(rname, rlen)) == NULL) {
        free(m);
        goto oom;
    }
    if (room_add(r, m, s->host) != 0) {
        free(m);
        if (r->members == 0 && r->busy == 0)
            room_unlink_free(r);
        goto oom;
    }
    m->sidx = s->n_rooms;
    s->rooms[s->n_rooms++] = m;
    broadcast_presence(r, PARLEY_EVENT_USER_JOINED, m->username, m->username_len, 0, s);
    return 0;

oom:
    free(copy);
    return parley_error_set(err, PARLEY_ENOMEM, "out of memory joining a room");
}

static int find_joined(const parley_session *s, const char *room, struct member **out, parley_error *err)
{
    const char *rname;
    size_t rlen;
    int rc;

    if (s == NULL || s->closing)
        return parley_error_set(err, PARLEY_ECLOSED, "the session is closed");
    rc = resolve_room(room, room ? strlen(room) : 0, &rname, &rlen, err);
    if (rc != 0)
        return rc;
    *out = session_member(s, rname, rlen);
    if (*out == NULL)
        return parley_error_set(err, PARLEY_ENOTFOUND, "not in room \"%.*s\"", (int)rlen, rname);
    return 0;
}

int parley__session_leave(parley_session *s, const char *room, parley_error *err)
{
    struct member *m;
    int rc = find_joined(s, room, &m, err);

    if (rc != 0)
        return rc;
    leave_member(m);
    return 0;
}

int parley__session_typing(parley_session *s, const char *room, int is_typing, parley_error *err)
{
    struct member *m;
    int rc = find_joined(s, room, &m, err);

    if (rc != 0)
        return rc;
    broadcast_presence(m->room, PARLEY_EVENT_TYPING, m->username, m->username_len,
                       is_typing ? 1 : 0, s);
    return 0;
}

const char *parley__session_username(const parley_session *s, const char *room)
{
    struct member *m;

    if (s == NULL || !g.ready || find_joined(s, room, &m, NULL) != 0)
        return NULL;
    return m->username;
}

/* ---- posting ---- */

static void on_stored(void *arg, int status, const parley_error *serr)
{
    struct post_req *req = arg;
    parley_error err = PARLEY_ERROR_INIT;

    PARLEY__LIST_REMOVE(g.pending, &req->link);
    if (status == 0) {
        parley__metric_add(g.m_posted, 1);
        struct room *r = room_find(req->msg.room, req->msg.room_len);
        if (r != NULL) {
            parley_event ev;
            memset(&ev, 0, sizeof ev);
            ev.struct_size = sizeof ev;
            ev.type = PARLEY_EVENT_MESSAGE;
            ev.room = r->name;
            ev.room_len = r->len;
            ev.username = req->msg.username;
            ev.username_len = req->msg.username_len;
            ev.timestamp_ms = req->msg.timestamp_ms;
            ev.message = &req->msg;
            broadcast(r, &ev, NULL);
        }
        req->done(req->arg, 0, &req->msg, NULL);
    } else {
        parley__metric_add(g.m_rej_storage, 1);
        parley_error_set(&err, status, "message not stored: %s (%s)", parley_strerror(status),
                         serr && serr->message[0] ? serr->message : parley_status_name(status));
        parley__log(PARLEY_LOG_WARN, "chat", "%s", err.message);
        req->done(req->arg, status, NULL, &err);
    }
    free(req);
}

int parley__chat_post(parley_host *host, const parley_post *post, parley_post_done done,
                      void *arg, parley_error *err)
{
    const char *room, *user, *content;
    size_t room_len, user_len, content_len;
    struct post_req *req;
    char *w;
    int rc;

    (void)host;
    if (!g.ready || g.shutting_down) {
        parley__metric_add(g.m_rej_shutdown, 1);
        return parley_error_set(err, PARLEY_ESHUTDOWN, "the server is shutting down; message not accepted");
    }
    if (post == NULL || done == NULL ||
        post->struct_size < offsetof(parley_post, session) + sizeof post->session)
        return parley_error_set(err, PARLEY_EINVAL, "chat_post: post or done is missing, or post->struct_size is too small");

    rc = resolve_room(post->room, post->room_len, &room, &room_len, err);
    if (rc != 0)
        goto invalid;
    if (post->session != NULL) {
        struct member *m;
        if (post->session->closing) {
            parley__metric_add(g.m_rej_not_joined, 1);
            return parley_error_set(err, PARLEY_ECLOSED, "the session is closed");
        }
        m = session_member(post->session, room, room_len);
        if (m == NULL) {
            parley__metric_add(g.m_rej_not_joined, 1);
            return parley_error_set(err, PARLEY_ENOTFOUND, "not in room \"%.*s\"; join it before posting",
                                    (int)room_len, room);
        }
        user = m->username;
        user_len = m->username_len;
    } else {
        rc = parley__validate_username(&g.opt.limits, post->username, post->username_len,
                                       &user, &user_len, err);
        if (rc != 0)
            goto invalid;
    }
    rc = parley__validate_content(&g.opt.limits, post->content, post->content_len,
                                  &content, &content_len, err);
    if (rc != 0)
        goto invalid;

    req = malloc(sizeof *req + room_len + user_len + content_len + 3);
    if (req == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "out of memory posting a message");
    memset(&req->msg, 0, sizeof req->msg);
    req->msg.struct_size = sizeof req->msg;
    req->done = done;
    req->arg = arg;
    w = req->buf;
#define COPY_STR(f, p, l)           \
    memcpy(w, p, l);                \
    w[l] = '\0';                    \
    req->msg.f = w;                 \
    req->msg.f##_len = l;           \
    w += l + 1;
    COPY_STR(room, room, room_len)
    COPY_STR(username, user, user_len)
    COPY_STR(content, content, content_len)
#undef COPY_STR
    req->msg.timestamp_ms = parley__wall_ms(&parley__self);
    parley__msgid_next(req->msg.id, req->msg.timestamp_ms);

    PARLEY__LIST_PUSH(g.pending, &req->link);
    rc = parley__storage_insert(&req->msg, on_stored, req);
    if (rc != 0) {
        PARLEY__LIST_REMOVE(g.pending, &req->link);
        free(req);
        parley__metric_add(g.m_rej_storage, 1);
        return parley_error_set(err, rc, "message not stored: %s", parley_strerror(rc));
    }
    return 0;

invalid:
    parley__metric_add(g.m_rej_invalid, 1);
    return rc;
}

/* ---- history ---- */

static void on_page(void *arg, int status, const parley_message *msgs, size_t n, int has_more,
                    const parley_error *serr)
{
    struct hist_req *req = arg;
    parley_error err = PARLEY_ERROR_INIT;

    PARLEY__LIST_REMOVE(g.pending, &req->link);
    if (status != 0) {
        parley_error_set(&err, status, "history not available: %s (%s)", parley_strerror(status),
                         serr && serr->message[0] ? serr->message : parley_status_name(status));
        req->done(req->arg, status, NULL, 0, NULL, &err);
        free(req);
        return;
    }
    if (n > req->limit) {       /* a backend that overshoots: keep the newest */
        msgs += n - req->limit;
        n = req->limit;
        has_more = 1;
    }
    req->done(req->arg, 0, msgs, n, has_more && n > 0 ? msgs[0].id : NULL, NULL);
    free(req);
}

int parley__chat_history(parley_host *host, const char *room, const char *before_id,
                         uint32_t limit, parley_page_done done, void *arg, parley_error *err)
{
    char before[PARLEY_ID_LEN + 1];
    parley_history_query q;
    struct hist_req *req;
    const char *rname;
    size_t rlen;
    int rc;

    (void)host;
    if (!g.ready)
        return parley_error_set(err, PARLEY_ESHUTDOWN, "the server is shutting down");
    if (done == NULL)
        return parley_error_set(err, PARLEY_EINVAL, "chat_history: done is missing");
    rc = resolve_room(room, room ? strlen(room) : 0, &rname, &rlen, err);
    if (rc != 0)
        return rc;
    if (before_id != NULL && before_id[0] != '\0' &&
        parley__msgid_normalize(before_id, strlen(before_id), before) != 0)
        return parley_error_set(err, PARLEY_EINVAL,
                                "before is not a message id (24 hex digits): \"%.40s%s\"", before_id,
                                strlen(before_id) > 40 ? "..." : "");
    if (limit == 0)
        limit = g.opt.history_limit;
    if (limit > g.opt.history_max)
        limit = g.opt.history_max;

    req = malloc(sizeof *req + rlen + 1);
    if (req == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "out of memory");
    req->done = done;
    req->arg = arg;
    req->limit = limit;
    memcpy(req->room, rname, rlen);
    req->room[rlen] = '\0';

    memset(&q, 0, sizeof q);
    q.struct_size = sizeof q;
    q.room = req->room;
    q.room_len = rlen;
    q.before_id = before_id != NULL && before_id[0] != '\0' ? before : NULL;
    q.limit = limit;
    PARLEY__LIST_PUSH(g.pending, &req->link);
    rc = parley__storage_history(&q, on_page, req);
    if (rc != 0) {
        PARLEY__LIST_REMOVE(g.pending, &req->link);
        free(req);
        return parley_error_set(err, rc, "history not available: %s", parley_strerror(rc));
    }
    return 0;
}

/* ---- accessors ---- */

const char *parley__chat_default_room(parley_host *host)
{
    (void)host;
    return g.default_room;
}

uint32_t parley__chat_history_limit(parley_host *host)
{
    (void)host;
    return g.opt.history_limit;
}

int parley__chat_storage_state(parley_host *host)
{
    (void)host;
    return parley__storage_state();
}

size_t parley__chat_room_count(void)
{
    return g.n_rooms;
}

size_t parley__chat_session_count(void)
{
    return g.n_sessions;
}

size_t parley__chat_room_members(const char *room)
{
    struct room *r = room ? room_find(room, strlen(room)) : NULL;

    return r ? r->members : 0;
}

void parley__chat_free(void)
{
    parley_session *s, *next;

    if (!g.ready)
        return;
    /* Transports are stopped: free silently, no user-left goes out. */
    for (size_t i = 0; i < g.n_buckets; i++) {
        struct room *r = g.buckets[i], *rn;
        for (; r != NULL; r = rn) {
            rn = r->next;
            for (size_t gi = 0; gi < r->n_groups; gi++)
                for (size_t k = 0; k < r->groups[gi].n; k++)
                    if (r->groups[gi].m[k] != NULL)
                        member_free(r->groups[gi].m[k]);
            room_destroy(r);
        }
    }
    for (s = g.sessions; s != NULL; s = next) {
        next = s->next;
        free(s->rooms);
        free(s);
    }
    /* Storage never answered these (parley__storage_queue_free dropped
     * them): their callers are gone, so nobody is told. */
    for (struct pending *p = g.pending, *pn; p != NULL; p = pn) {
        pn = p->next;
        free(p);
    }
    free(g.buckets);
    free(g.default_room);
    parley__metric_set(g.m_rooms, 0);
    parley__metric_set(g.m_sessions, 0);
    memset(&g, 0, sizeof g);
}
