/*
 * mongo_db.c — the driver side of the mongo storage plugin (mongo_db.h).
 *
 * The schema is the Node backend's, plus a room:
 *   { _id: ObjectId(<the host's id>), username: "...", content: "...",
 *     room: "...", timestamp: ISODate(...) }
 * Documents the Node backend's Mongoose model wrote have no `room`: they
 * belong to the default room, so a query for that room matches `room`
 * equal to it or missing ({room: {$in: [R, null]}}; null matches missing).
 * Every user string goes into documents and filters as a plain string
 * value: never as a key, never where an operator could be read.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* RTLD_NODELETE, RTLD_NOLOAD */
#endif
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mongo_db.h"

#define MG_INDEX_NAME "room_1__id_-1"

/* Server error codes that mean "this server cannot take writes now". */
static const int32_t unavailable_codes[] = {
    6,      /* HostUnreachable */
    7,      /* HostNotFound */
    89,     /* NetworkTimeout */
    91,     /* ShutdownInProgress */
    189,    /* PrimarySteppedDown */
    9001,   /* SocketException */
    10107,  /* NotWritablePrimary */
    11600,  /* InterruptedAtShutdown */
    11602,  /* InterruptedDueToReplStateChange */
    13435,  /* NotPrimaryNoSecondaryOk */
    13436,  /* NotPrimaryOrSecondary */
    13,     /* Unauthorized */
    18,     /* AuthenticationFailed */
};

/* ---- errors ---- */

static int code_unavailable(uint32_t code)
{
    size_t i;

    for (i = 0; i < sizeof unavailable_codes / sizeof unavailable_codes[0]; i++)
        if ((uint32_t)unavailable_codes[i] == code)
            return 1;
    return 0;
}

int mg_is_unavailable(const bson_error_t *e)
{
    switch (e->domain) {
    case MONGOC_ERROR_SERVER_SELECTION:
    case MONGOC_ERROR_STREAM:
    case MONGOC_ERROR_CLIENT:
    case MONGOC_ERROR_PROTOCOL:
        return 1;
    case MONGOC_ERROR_SERVER:
    case MONGOC_ERROR_QUERY:
    case MONGOC_ERROR_COMMAND:
        return code_unavailable(e->code);
    default:
        return 0;
    }
}

int mg_status(const bson_error_t *e)
{
    if (mg_is_unavailable(e))
        return PARLEY_EUNAVAIL;
    switch (e->domain) {
    case MONGOC_ERROR_WRITE_CONCERN:
        return PARLEY_ETIMEDOUT;
    case MONGOC_ERROR_BSON:
        return PARLEY_EINVAL;
    case MONGOC_ERROR_SERVER:
    case MONGOC_ERROR_QUERY:
    case MONGOC_ERROR_COMMAND:
        if (e->code == 11000)
            return PARLEY_EEXIST;
        if (e->code == 50 || e->code == 64)   /* MaxTimeMSExpired, WriteConcernFailed */
            return PARLEY_ETIMEDOUT;
        if (e->code == 10334)                 /* BSONObjectTooLarge */
            return PARLEY_ETOOBIG;
        return PARLEY_EIO;
    default:
        return PARLEY_EIO;
    }
}

static int fail(parley_error *err, const bson_error_t *e, const mg_db *db, const char *what)
{
    int st = mg_status(e);

    if (e->domain == MONGOC_ERROR_SERVER_SELECTION)
        return parley_error_set(err, st,
                                "mongo: %s: no MongoDB server available at %s within %lld ms: %s",
                                what, db->hosts, (long long)db->selection_ms, e->message);
    return parley_error_set(err, st, "mongo: %s on %s failed: %s (domain %u, code %u)", what,
                            db->hosts, e->message, e->domain, e->code);
}

/* ---- the driver's log ----
 *
 * mongoc's log handler is process-wide. Every running instance registers
 * here; the driver's lines go to the first one's host log. The last one
 * out sets the handler back to NULL (the driver then logs nothing), so no
 * pointer into an unloaded plugin is left behind. */

typedef struct mg_log_sink {
    struct mg_log_sink *next;
    const parley_host_api *api;
    parley_host *host;
} mg_log_sink;

static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;
static mg_log_sink *g_sinks;

static int log_level(mongoc_log_level_t level)
{
    switch (level) {
    case MONGOC_LOG_LEVEL_ERROR:
    case MONGOC_LOG_LEVEL_CRITICAL:
        return PARLEY_LOG_ERROR;
    case MONGOC_LOG_LEVEL_WARNING:
        return PARLEY_LOG_WARN;
    case MONGOC_LOG_LEVEL_MESSAGE:
    case MONGOC_LOG_LEVEL_INFO:
        return PARLEY_LOG_INFO;
    case MONGOC_LOG_LEVEL_DEBUG:
        return PARLEY_LOG_DEBUG;
    default:
        return PARLEY_LOG_TRACE;
    }
}

static void log_handler(mongoc_log_level_t level, const char *domain, const char *message,
                        void *user_data)
{
    int lvl = log_level(level);

    (void)user_data;
    pthread_mutex_lock(&g_log_lock);
    if (g_sinks != NULL && g_sinks->api->log_enabled(g_sinks->host, lvl))
        g_sinks->api->log(g_sinks->host, lvl, "driver (%s): %s", domain, message);
    pthread_mutex_unlock(&g_log_lock);
}

static pthread_once_t g_init_once = PTHREAD_ONCE_INIT;

/* Never mongoc_cleanup: other code in the process (another plugin, a second
 * instance) may still use the driver. What mongoc_init allocated (OpenSSL's
 * state among it) is then only reachable from libmongoc's globals, so the
 * library is pinned: unloading this plugin must not unload the driver and
 * turn that state into a leak. */
static void driver_init(void)
{
    (void)dlopen("libmongoc-1.0.so.0", RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    mongoc_init();
}

void mg_log_attach(const parley_host_api *api, parley_host *host)
{
    mg_log_sink *s = calloc(1, sizeof *s);

    pthread_once(&g_init_once, driver_init);
    if (s == NULL)
        return;
    s->api = api;
    s->host = host;
    pthread_mutex_lock(&g_log_lock);
    if (g_sinks == NULL)
        mongoc_log_set_handler(log_handler, NULL);
    s->next = g_sinks;
    g_sinks = s;
    pthread_mutex_unlock(&g_log_lock);
}

void mg_log_detach(parley_host *host)
{
    mg_log_sink **pp, *s;

    pthread_mutex_lock(&g_log_lock);
    for (pp = &g_sinks; (s = *pp) != NULL; pp = &s->next) {
        if (s->host == host) {
            *pp = s->next;
            free(s);
            break;
        }
    }
    if (g_sinks == NULL)
        mongoc_log_set_handler(NULL, NULL);
    pthread_mutex_unlock(&g_log_lock);
}

/* ---- setup ---- */

/* An option the URI spells out wins over the key: the URI is the one
 * place an operator (MONGODB_URI) tunes a deployment. */
static int set_ms(mg_db *db, const char *opt, int64_t ms, parley_error *err)
{
    if (mongoc_uri_has_option(db->uri, opt))
        return PARLEY_OK;
    if (ms > INT32_MAX || !mongoc_uri_set_option_as_int32(db->uri, opt, (int32_t)ms))
        return parley_error_set(err, PARLEY_EINVAL, "mongo: %s %lld ms is not accepted", opt,
                                (long long)ms);
    return PARLEY_OK;
}

static char *hosts_of(const mongoc_uri_t *uri)
{
    const mongoc_host_list_t *h = mongoc_uri_get_hosts(uri);
    const char *service = mongoc_uri_get_srv_hostname(uri);
    size_t len = 1;
    char *out, *p;

    if (h == NULL && service != NULL)
        return strdup(service);
    for (const mongoc_host_list_t *i = h; i != NULL; i = i->next)
        len += strlen(i->host_and_port) + 1;
    out = p = malloc(len);
    if (out == NULL)
        return NULL;
    *p = '\0';
    for (; h != NULL; h = h->next)
        p += sprintf(p, "%s%s", p == out ? "" : ",", h->host_and_port);
    return out;
}

static int make_write_concern(mg_db *db, const mg_options *opt, parley_error *err)
{
    const mongoc_write_concern_t *from_uri = mongoc_uri_get_write_concern(db->uri);
    mongoc_write_concern_t *wc = mongoc_write_concern_copy(from_uri);
    const char *w = opt->write_concern;
    int32_t w_now;

    if (wc == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "mongo: out of memory");
    db->wc = wc;
    if (!mongoc_uri_has_option(db->uri, MONGOC_URI_W)) {
        if (strcmp(w, "majority") == 0) {
            mongoc_write_concern_set_wmajority(wc, 0);
        } else {
            char *end;
            long n = strtol(w, &end, 10);

            if (w[0] == '\0' || *end != '\0' || n < 1 || n > 50)
                return parley_error_set(err, PARLEY_EINVAL,
                                        "mongo: write_concern is \"%s\"; expected majority or a "
                                        "number of members 1..50 (0, unacknowledged, cannot "
                                        "confirm a message)", w);
            mongoc_write_concern_set_w(wc, (int32_t)n);
        }
    }
    if (!mongoc_uri_has_option(db->uri, MONGOC_URI_JOURNAL))
        mongoc_write_concern_set_journal(wc, opt->journal != 0);
    if (!mongoc_uri_has_option(db->uri, MONGOC_URI_WTIMEOUTMS))
        mongoc_write_concern_set_wtimeout_int64(wc, opt->wtimeout_ms);
    w_now = mongoc_write_concern_get_w(wc);
    if (w_now == MONGOC_WRITE_CONCERN_W_UNACKNOWLEDGED || w_now == MONGOC_WRITE_CONCERN_W_ERRORS_IGNORED)
        return parley_error_set(err, PARLEY_EINVAL,
                                "mongo: the URI asks for w=0 (unacknowledged writes), which cannot "
                                "confirm a message; set write_concern");
    return PARLEY_OK;
}

int mg_db_init(mg_db *db, const mg_options *opt, const char *default_room, parley_error *err)
{
    bson_error_t e;
    const char *dbname;
    int rc;

    memset(db, 0, sizeof *db);
    db->uri = mongoc_uri_new_with_error(opt->uri, &e);
    if (db->uri == NULL)
        /* The driver's message never repeats the URI (it may hold a password). */
        return parley_error_set(err, PARLEY_EINVAL, "mongo: uri is not a MongoDB URI: %s",
                                e.message);
    dbname = opt->database[0] != '\0' ? opt->database : mongoc_uri_get_database(db->uri);
    if (dbname == NULL || dbname[0] == '\0')
        dbname = "parley";
    if (strpbrk(dbname, "/\\. \"$") != NULL || strlen(dbname) > 63)
        return parley_error_set(err, PARLEY_EINVAL,
                                "mongo: database name \"%s\" is not valid (no / \\ . space \" $, "
                                "at most 63 bytes)", dbname);
    if (opt->collection[0] == '\0' || opt->collection[0] == '$' ||
        strncmp(opt->collection, "system.", 7) == 0 || strchr(opt->collection, '$') != NULL)
        return parley_error_set(err, PARLEY_EINVAL,
                                "mongo: collection name \"%s\" is not valid (empty, $ or system.)",
                                opt->collection);
    db->database = strdup(dbname);
    db->collection = strdup(opt->collection);
    db->default_room = strdup(default_room);
    db->hosts = hosts_of(db->uri);
    if (db->database == NULL || db->collection == NULL || db->default_room == NULL ||
        db->hosts == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "mongo: out of memory");
    db->default_room_len = strlen(default_room);

    rc = set_ms(db, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, opt->server_selection_timeout_ms, err);
    if (rc == PARLEY_OK)
        rc = set_ms(db, MONGOC_URI_CONNECTTIMEOUTMS, opt->connect_timeout_ms, err);
    if (rc == PARLEY_OK)
        rc = set_ms(db, MONGOC_URI_SOCKETTIMEOUTMS, opt->socket_timeout_ms, err);
    if (rc == PARLEY_OK)
        rc = set_ms(db, MONGOC_URI_HEARTBEATFREQUENCYMS, opt->heartbeat_ms, err);
    if (rc != PARLEY_OK)
        return rc;
    db->selection_ms = mongoc_uri_get_option_as_int32(db->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
                                                      30000);
    if (!mongoc_uri_set_option_as_int32(db->uri, MONGOC_URI_MAXPOOLSIZE, (int32_t)opt->pool_size))
        return parley_error_set(err, PARLEY_EINVAL, "mongo: pool_size %lld is not accepted",
                                (long long)opt->pool_size);
    mongoc_uri_set_appname(db->uri, "parley");
    return make_write_concern(db, opt, err);
}

int mg_db_set_default_room(mg_db *db, const char *room, parley_error *err)
{
    char *copy = strdup(room);

    if (copy == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "mongo: out of memory");
    free(db->default_room);
    db->default_room = copy;
    db->default_room_len = strlen(copy);
    return PARLEY_OK;
}

int mg_db_open(mg_db *db, parley_error *err)
{
    bson_error_t e;

    db->pool = mongoc_client_pool_new_with_error(db->uri, &e);
    if (db->pool == NULL)
        return parley_error_set(err, PARLEY_EINVAL, "mongo: cannot create a client pool for %s: %s",
                                db->hosts, e.message);
    mongoc_client_pool_set_error_api(db->pool, MONGOC_ERROR_API_VERSION_2);
    return PARLEY_OK;
}

void mg_db_close(mg_db *db)
{
    if (db->pool != NULL)
        mongoc_client_pool_destroy(db->pool);
    db->pool = NULL;
}

void mg_db_free(mg_db *db)
{
    mg_db_close(db);
    mongoc_write_concern_destroy(db->wc);
    mongoc_uri_destroy(db->uri);
    free(db->database);
    free(db->collection);
    free(db->hosts);
    free(db->default_room);
    memset(db, 0, sizeof *db);
}

static mongoc_collection_t *collection(mg_db *db, mongoc_client_t *client)
{
    mongoc_collection_t *c = mongoc_client_get_collection(client, db->database, db->collection);

    mongoc_collection_set_write_concern(c, db->wc);
    return c;
}

int mg_ensure_index(mg_db *db, parley_error *err)
{
    mongoc_client_t *client;
    mongoc_database_t *d;
    bson_t cmd = BSON_INITIALIZER, indexes, index, key, opts = BSON_INITIALIZER, reply;
    bson_error_t e;
    bool ok;

    if (db->indexed)
        return PARLEY_OK;
    BSON_APPEND_UTF8(&cmd, "createIndexes", db->collection);
    BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &indexes);
    BSON_APPEND_DOCUMENT_BEGIN(&indexes, "0", &index);
    BSON_APPEND_DOCUMENT_BEGIN(&index, "key", &key);
    BSON_APPEND_INT32(&key, "room", 1);
    BSON_APPEND_INT32(&key, "_id", -1);
    bson_append_document_end(&index, &key);
    BSON_APPEND_UTF8(&index, "name", MG_INDEX_NAME);
    bson_append_document_end(&indexes, &index);
    bson_append_array_end(&cmd, &indexes);
    mongoc_write_concern_append(db->wc, &opts);

    client = mongoc_client_pool_pop(db->pool);
    d = mongoc_client_get_database(client, db->database);
    ok = mongoc_database_write_command_with_opts(d, &cmd, &opts, &reply, &e);
    mongoc_database_destroy(d);
    mongoc_client_pool_push(db->pool, client);
    bson_destroy(&cmd);
    bson_destroy(&opts);
    bson_destroy(&reply);
    if (!ok && (e.domain == MONGOC_ERROR_SERVER || e.domain == MONGOC_ERROR_COMMAND ||
                e.domain == MONGOC_ERROR_QUERY)) {
        /* The server refused it (a user without the createIndex privilege,
         * a conflicting index of that name): asking again with every write
         * will not change that. Work without it; history then scans. */
        db->indexed = 1;
        fail(err, &e, db, "creating the index {room: 1, _id: -1}");
        return PARLEY_EIO;
    }
    if (!ok)
        return fail(err, &e, db, "creating the index {room: 1, _id: -1}");
    db->indexed = 1;
    return PARLEY_OK;
}

/* ---- group commit ---- */

static int append_message(bson_t *doc, const parley_message *m)
{
    bson_oid_t oid;

    if (!bson_oid_is_valid(m->id, strlen(m->id)))
        return 0;
    bson_oid_init_from_string(&oid, m->id);
    return bson_append_oid(doc, "_id", 3, &oid) &&
           bson_append_utf8(doc, "username", 8, m->username, (int)m->username_len) &&
           bson_append_utf8(doc, "content", 7, m->content, (int)m->content_len) &&
           bson_append_utf8(doc, "room", 4, m->room, (int)m->room_len) &&
           bson_append_date_time(doc, "timestamp", 9, m->timestamp_ms);
}

/* The first write error of an ordered bulk: its index, code and message. */
static int first_write_error(const bson_t *reply, int64_t *index, uint32_t *code, char *msg,
                             size_t msg_size, int *on_id)
{
    bson_iter_t it, arr, e;

    if (!bson_iter_init_find(&it, reply, "writeErrors") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr) || !bson_iter_next(&arr) || !BSON_ITER_HOLDS_DOCUMENT(&arr))
        return 0;
    int have_pattern = 0;

    *index = -1;
    *code = 0;
    *on_id = 1;
    snprintf(msg, msg_size, "write error");
    bson_iter_recurse(&arr, &e);
    while (bson_iter_next(&e)) {
        const char *k = bson_iter_key(&e);

        if (strcmp(k, "index") == 0)
            *index = bson_iter_as_int64(&e);
        else if (strcmp(k, "code") == 0)
            *code = (uint32_t)bson_iter_as_int64(&e);
        else if (strcmp(k, "errmsg") == 0 && BSON_ITER_HOLDS_UTF8(&e))
            snprintf(msg, msg_size, "%s", bson_iter_utf8(&e, NULL));
        else if (strcmp(k, "keyPattern") == 0 && BSON_ITER_HOLDS_DOCUMENT(&e)) {
            bson_iter_t kp;

            /* A duplicate on another unique index (an operator's) is not "already stored". */
            *on_id = bson_iter_recurse(&e, &kp) && bson_iter_find(&kp, "_id");
            have_pattern = 1;
        }
    }
    /* Servers before 4.4 send no keyPattern; their message names the index. */
    if (!have_pattern && strstr(msg, "index: ") != NULL && strstr(msg, "index: _id_ ") == NULL)
        *on_id = 0;
    return 1;
}

static int write_concern_error(const bson_t *reply, char *msg, size_t msg_size)
{
    bson_iter_t it, arr, e;

    if (!bson_iter_init_find(&it, reply, "writeConcernErrors") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr) || !bson_iter_next(&arr))
        return 0;
    snprintf(msg, msg_size, "write concern not satisfied");
    if (BSON_ITER_HOLDS_DOCUMENT(&arr) && bson_iter_recurse(&arr, &e) && bson_iter_find(&e, "errmsg") &&
        BSON_ITER_HOLDS_UTF8(&e))
        snprintf(msg, msg_size, "write concern not satisfied: %s", bson_iter_utf8(&e, NULL));
    return 1;
}

static int64_t reply_int(const bson_t *reply, const char *key)
{
    bson_iter_t it;

    return bson_iter_init_find(&it, reply, key) ? bson_iter_as_int64(&it) : 0;
}

static void set_items(mg_item *items, size_t from, size_t to, int status, int unavailable)
{
    for (size_t i = from; i < to; i++) {
        items[i].status = status;
        items[i].unavailable = unavailable;
    }
}

/*
 * One ordered bulk of items[from..n). Returns the index after the last item
 * it settled, or n with *stop set when nothing more can be written.
 */
static size_t bulk_once(mg_db *db, mongoc_collection_t *coll, mg_item *items, size_t from,
                        size_t n, int *stop, parley_error *err)
{
    bson_t opts = BSON_INITIALIZER, reply;
    mongoc_bulk_operation_t *bulk;
    bson_error_t e;
    char msg[512];
    int64_t inserted, index;
    uint32_t code;
    int on_id, ok;
    size_t i;

    BSON_APPEND_BOOL(&opts, "ordered", true);
    bulk = mongoc_collection_create_bulk_operation_with_opts(coll, &opts);
    bson_destroy(&opts);
    for (i = from; i < n; i++) {
        bson_t doc = BSON_INITIALIZER;

        if (!append_message(&doc, items[i].msg) ||
            !mongoc_bulk_operation_insert_with_opts(bulk, &doc, NULL, &e)) {
            /* Cannot happen for messages the host validated; fail it alone
             * by writing the batch only up to it. */
            bson_destroy(&doc);
            if (i == from) {
                mongoc_bulk_operation_destroy(bulk);
                items[i].status = PARLEY_EINVAL;
                parley_error_set(err, PARLEY_EINVAL, "mongo: message %s cannot be encoded",
                                 items[i].msg->id);
                return i + 1;
            }
            n = i;
            break;
        }
        bson_destroy(&doc);
    }

    ok = mongoc_bulk_operation_execute(bulk, &reply, &e) != 0;
    mongoc_bulk_operation_destroy(bulk);
    inserted = reply_int(&reply, "nInserted");
    if (inserted < 0 || (size_t)inserted > n - from)
        inserted = 0;

    if (write_concern_error(&reply, msg, sizeof msg)) {
        /* Applied on the primary but not as durable as configured: not
         * confirmed. A retry of these ids answers EEXIST. */
        bson_destroy(&reply);
        set_items(items, from, n, PARLEY_ETIMEDOUT, 0);
        parley_error_set(err, PARLEY_ETIMEDOUT, "mongo: insert into %s.%s: %s", db->database,
                         db->collection, msg);
        *stop = 1;
        return n;
    }
    if (first_write_error(&reply, &index, &code, msg, sizeof msg, &on_id) && index >= 0 &&
        (size_t)index < n - from) {
        size_t bad = from + (size_t)index;
        bson_error_t we = { MONGOC_ERROR_SERVER, code, "" };
        /* 11000 on _id: that id is already stored (a retry); on another
         * unique index (an operator's): this message is refused. */
        int st = code == 11000 ? (on_id ? PARLEY_EEXIST : PARLEY_EINVAL) : mg_status(&we);

        bson_destroy(&reply);
        set_items(items, from, bad, PARLEY_OK, 0);
        items[bad].status = st;
        if (st != PARLEY_EEXIST)
            parley_error_set(err, st, "mongo: insert of %s into %s.%s refused: %s (code %u)",
                             items[bad].msg->id, db->database, db->collection, msg, code);
        if (code_unavailable(code)) {
            items[bad].unavailable = 1;
            set_items(items, bad + 1, n, st, 1);
            *stop = 1;
            return n;
        }
        return bad + 1;
    }
    bson_destroy(&reply);
    if (ok) {
        set_items(items, from, n, PARLEY_OK, 0);
        return n;
    }
    /* No answer for the rest (server gone, timeout): those before the
     * failure are known stored, the others are not confirmed. */
    set_items(items, from, from + (size_t)inserted, PARLEY_OK, 0);
    fail(err, &e, db, "insert");
    set_items(items, from + (size_t)inserted, n, err->code, mg_is_unavailable(&e));
    *stop = 1;
    return n;
}

int mg_commit(mg_db *db, mg_item *items, size_t n, parley_error *err)
{
    mongoc_client_t *client = mongoc_client_pool_pop(db->pool);
    mongoc_collection_t *coll = collection(db, client);
    size_t done = 0;
    int stop = 0;

    while (done < n && !stop)
        done = bulk_once(db, coll, items, done, n, &stop, err);
    mongoc_collection_destroy(coll);
    mongoc_client_pool_push(db->pool, client);
    return stop ? err->code : PARLEY_OK;
}

/* ---- history ---- */

static char *dup_str(const char *s, size_t len)
{
    char *d = malloc(len + 1);

    if (d != NULL) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

/* A string field, checked: UTF-8 without NULs, as the SDK promises. */
static int read_string(bson_iter_t *it, char **out, size_t *len)
{
    uint32_t n;
    const char *s = bson_iter_utf8(it, &n);

    if (!bson_utf8_validate(s, n, false))
        return 0;
    *out = dup_str(s, n);
    *len = n;
    return *out != NULL;
}

/* 1: row filled; 0: not a message document (skipped); -1: out of memory. */
static int read_row(mg_db *db, const bson_t *doc, mg_row *row)
{
    bson_iter_t it;
    const bson_oid_t *oid = NULL;
    int have_ts = 0;

    memset(row, 0, sizeof *row);
    if (!bson_iter_init(&it, doc))
        return 0;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        bson_type_t t = bson_iter_type(&it);

        if (strcmp(k, "_id") == 0) {
            if (t != BSON_TYPE_OID)
                return 0;
            oid = bson_iter_oid(&it);
        } else if (strcmp(k, "room") == 0 && t == BSON_TYPE_UTF8 && row->room == NULL) {
            if (!read_string(&it, &row->room, &row->room_len))
                return 0;
        } else if (strcmp(k, "username") == 0 && t == BSON_TYPE_UTF8 && row->username == NULL) {
            if (!read_string(&it, &row->username, &row->username_len))
                return 0;
        } else if (strcmp(k, "content") == 0 && t == BSON_TYPE_UTF8 && row->content == NULL) {
            if (!read_string(&it, &row->content, &row->content_len))
                return 0;
        } else if (strcmp(k, "timestamp") == 0) {
            if (t == BSON_TYPE_DATE_TIME) {
                row->timestamp_ms = bson_iter_date_time(&it);
                have_ts = 1;
            } else if (t == BSON_TYPE_INT32 || t == BSON_TYPE_INT64 || t == BSON_TYPE_DOUBLE) {
                row->timestamp_ms = bson_iter_as_int64(&it);
                have_ts = 1;
            }
        }
    }
    if (oid == NULL)
        return 0;
    bson_oid_to_string(oid, row->id);
    if (!have_ts)
        row->timestamp_ms = (int64_t)bson_oid_get_time_t(oid) * 1000;
    if (row->room == NULL) {
        row->room = dup_str(db->default_room, db->default_room_len);
        row->room_len = db->default_room_len;
    }
    if (row->username == NULL) {
        row->username = dup_str("", 0);
        row->username_len = 0;
    }
    if (row->content == NULL) {
        row->content = dup_str("", 0);
        row->content_len = 0;
    }
    if (row->room == NULL || row->username == NULL || row->content == NULL)
        return -1;
    return 1;
}

static void row_free(mg_row *r)
{
    free(r->room);
    free(r->username);
    free(r->content);
}

static void history_filter(mg_db *db, bson_t *filter, const char *room, size_t room_len,
                           const char *before_id)
{
    bson_t sub, arr;

    if (room_len == db->default_room_len && memcmp(room, db->default_room, room_len) == 0) {
        /* The Node backend's documents have no room: they are this room's. */
        BSON_APPEND_DOCUMENT_BEGIN(filter, "room", &sub);
        BSON_APPEND_ARRAY_BEGIN(&sub, "$in", &arr);
        bson_append_utf8(&arr, "0", 1, room, (int)room_len);
        bson_append_null(&arr, "1", 1);
        bson_append_array_end(&sub, &arr);
        bson_append_document_end(filter, &sub);
    } else {
        bson_append_utf8(filter, "room", 4, room, (int)room_len);
    }
    if (before_id != NULL) {
        bson_oid_t oid;

        bson_oid_init_from_string(&oid, before_id);
        BSON_APPEND_DOCUMENT_BEGIN(filter, "_id", &sub);
        BSON_APPEND_OID(&sub, "$lt", &oid);
        bson_append_document_end(filter, &sub);
    }
}

int mg_history(mg_db *db, const char *room, size_t room_len, const char *before_id,
               uint32_t limit, mg_row **rows_out, size_t *n_rows, int *has_more, parley_error *err)
{
    mongoc_client_t *client;
    mongoc_collection_t *coll;
    mongoc_cursor_t *cursor;
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
    const bson_t *doc;
    bson_error_t e;
    mg_row *rows;
    size_t n = 0;
    int rc = PARLEY_OK;

    *rows_out = NULL;
    *n_rows = 0;
    *has_more = 0;
    if (before_id != NULL && !bson_oid_is_valid(before_id, strlen(before_id)))
        return parley_error_set(err, PARLEY_EINVAL, "mongo: before_id \"%s\" is not an ObjectId",
                                before_id);
    rows = calloc((size_t)limit, sizeof *rows);
    if (rows == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "mongo: out of memory for %u rows", limit);
    history_filter(db, &filter, room, room_len, before_id);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "_id", -1);
    bson_append_document_end(&opts, &sort);
    /* One more than asked: its presence is has_more. */
    BSON_APPEND_INT64(&opts, "limit", (int64_t)limit + 1);
    BSON_APPEND_INT64(&opts, "batchSize", (int64_t)limit + 1);

    client = mongoc_client_pool_pop(db->pool);
    coll = collection(db, client);
    cursor = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
    while (mongoc_cursor_next(cursor, &doc)) {
        int got;

        if (n == limit) {
            *has_more = 1;
            break;
        }
        got = read_row(db, doc, &rows[n]);
        if (got < 0) {
            row_free(&rows[n]);
            rc = parley_error_set(err, PARLEY_ENOMEM, "mongo: out of memory reading history");
            break;
        }
        if (got == 0) {
            row_free(&rows[n]);   /* not a message (no ObjectId _id, bad UTF-8): skipped */
            continue;
        }
        n++;
    }
    if (rc == PARLEY_OK && mongoc_cursor_error(cursor, &e))
        rc = fail(err, &e, db, "reading history");
    mongoc_cursor_destroy(cursor);
    mongoc_collection_destroy(coll);
    mongoc_client_pool_push(db->pool, client);
    bson_destroy(&filter);
    bson_destroy(&opts);
    if (rc != PARLEY_OK) {
        mg_rows_free(rows, n);
        *has_more = 0;
        return rc;
    }
    *rows_out = rows;
    *n_rows = n;
    return PARLEY_OK;
}

/* ---- health ---- */

int mg_ping(mg_db *db, parley_error *err)
{
    mongoc_client_t *client = mongoc_client_pool_pop(db->pool);
    bson_t cmd = BSON_INITIALIZER, reply;
    bson_error_t e;
    bool ok;

    BSON_APPEND_INT32(&cmd, "ping", 1);
    ok = mongoc_client_command_simple(client, "admin", &cmd, NULL, &reply, &e);
    mongoc_client_pool_push(db->pool, client);
    bson_destroy(&cmd);
    bson_destroy(&reply);
    if (!ok)
        return fail(err, &e, db, "ping");
    return PARLEY_OK;
}
