/*
 * tinystore: an in-memory storage plugin in one file, the smallest that
 * passes the storage contract suite. Every operation completes at once on
 * the loop thread (memory never blocks), so it needs no worker jobs; a real
 * backend would do its I/O in api->work jobs and complete from done_fn.
 *
 * All messages of all rooms live in one array sorted by id: an id is stored
 * once however often it is inserted, and a page is a walk backwards from the
 * cursor, keeping the room's messages.
 */
#include <stdlib.h>
#include <string.h>

#include <parley/parley.h>

typedef struct {
    char id[PARLEY_ID_LEN + 1];
    char *room, *username, *content;   /* one allocation, NUL-terminated */
    size_t room_len, username_len, content_len;
    int64_t timestamp_ms;
} tiny_msg;

typedef struct {
    tiny_msg *msgs;
    size_t n, cap;
} tiny;

/* Index of the first message whose id is >= id. */
static size_t lower_bound(const tiny *t, const char *id)
{
    size_t lo = 0, hi = t->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(t->msgs[mid].id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int tiny_create(const parley_host_api *api, parley_host *host, const parley_config *config,
                       void **instance, parley_error *err)
{
    (void)api, (void)host, (void)config;
    *instance = calloc(1, sizeof(tiny));
    return *instance != NULL ? PARLEY_OK : parley_error_set(err, PARLEY_ENOMEM, "tinystore: out of memory");
}

static int tiny_start(void *instance, parley_error *err)
{
    (void)instance, (void)err;
    return PARLEY_OK;
}

/* Nothing is ever in flight: every call completed before it returned. */
static void tiny_stop(void *instance, parley_stop_done done, void *done_arg)
{
    (void)instance;
    done(done_arg);
}

static void tiny_destroy(void *instance)
{
    tiny *t = instance;

    for (size_t i = 0; i < t->n; i++)
        free(t->msgs[i].room);
    free(t->msgs);
    free(t);
}

static void tiny_insert(void *instance, const parley_message *m, parley_insert_done done, void *arg)
{
    tiny *t = instance;
    parley_error err = PARLEY_ERROR_INIT;
    size_t at = lower_bound(t, m->id);
    tiny_msg *x;
    char *buf;

    if (at < t->n && strcmp(t->msgs[at].id, m->id) == 0) {
        done(arg, PARLEY_EEXIST, NULL);
        return;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        tiny_msg *grown = realloc(t->msgs, cap * sizeof *grown);
        if (grown == NULL)
            goto oom;
        t->msgs = grown;
        t->cap = cap;
    }
    buf = malloc(m->room_len + m->username_len + m->content_len + 3);
    if (buf == NULL)
        goto oom;
    memmove(&t->msgs[at + 1], &t->msgs[at], (t->n - at) * sizeof *t->msgs);
    t->n++;
    x = &t->msgs[at];
    memcpy(x->id, m->id, sizeof x->id);
    x->room = buf;
    memcpy(x->room, m->room, m->room_len);
    x->room[m->room_len] = '\0';
    x->username = x->room + m->room_len + 1;
    memcpy(x->username, m->username, m->username_len);
    x->username[m->username_len] = '\0';
    x->content = x->username + m->username_len + 1;
    memcpy(x->content, m->content, m->content_len);
    x->content[m->content_len] = '\0';
    x->room_len = m->room_len;
    x->username_len = m->username_len;
    x->content_len = m->content_len;
    x->timestamp_ms = m->timestamp_ms;
    done(arg, PARLEY_OK, NULL);
    return;
oom:
    parley_error_set(&err, PARLEY_ENOMEM, "tinystore: out of memory storing %s", m->id);
    done(arg, PARLEY_ENOMEM, &err);
}

static void tiny_history(void *instance, const parley_history_query *q, parley_history_done done,
                         void *arg)
{
    tiny *t = instance;
    parley_error err = PARLEY_ERROR_INIT;
    size_t i = q->before_id != NULL ? lower_bound(t, q->before_id) : t->n, n = 0;
    parley_message *page = calloc(q->limit, sizeof *page);
    int has_more = 0;

    if (page == NULL) {
        parley_error_set(&err, PARLEY_ENOMEM, "tinystore: out of memory");
        done(arg, PARLEY_ENOMEM, NULL, 0, 0, &err);
        return;
    }
    /* Newest first into the end of the page, so it comes out oldest first. */
    while (i-- > 0) {
        const tiny_msg *x = &t->msgs[i];
        parley_message *m;

        if (x->room_len != q->room_len || memcmp(x->room, q->room, q->room_len) != 0)
            continue;
        if (n == q->limit) {
            has_more = 1;
            break;
        }
        m = &page[q->limit - 1 - n++];
        m->struct_size = sizeof *m;
        memcpy(m->id, x->id, sizeof m->id);
        m->room = x->room;
        m->room_len = x->room_len;
        m->username = x->username;
        m->username_len = x->username_len;
        m->content = x->content;
        m->content_len = x->content_len;
        m->timestamp_ms = x->timestamp_ms;
    }
    done(arg, PARLEY_OK, page + (q->limit - n), n, has_more, NULL);
    free(page);
}

static void tiny_health(void *instance, parley_health_done done, void *arg)
{
    (void)instance;
    done(arg, PARLEY_STORAGE_CONNECTED, NULL);
}

static const parley_storage_vtable tiny_vtable = {
    .struct_size = sizeof(parley_storage_vtable),
    .insert = tiny_insert,
    .history = tiny_history,
    .health = tiny_health,
};

static const parley_plugin_descriptor tiny_descriptor = {
    PARLEY_DESCRIPTOR_HEADER,
    .min_host_minor = 0,
    .kind = PARLEY_PLUGIN_STORAGE,
    .name = "tinystore",
    .version = "1.0.0",
    .description = "in-memory storage, the contract suite's out-of-tree example",
    .config_schema = NULL,
    .create = tiny_create,
    .start = tiny_start,
    .stop = tiny_stop,
    .destroy = tiny_destroy,
    .vtable = &tiny_vtable,
};

PARLEY_PLUGIN_ENTRY(tiny_descriptor)
