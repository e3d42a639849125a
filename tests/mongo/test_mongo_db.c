/*
 * The driver side of the mongo plugin (plugins/mongo/mongo_db.c) against the
 * run's MongoDB (MONGODB_URI, else the mongo.server.start fixture's URI in
 * $PARLEY_BUILD_DIR/tests/mongo/fixture.uri): group commit with partial
 * failures, history filters, an unreachable server, the error mapping and
 * the refusals of mg_db_init.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "mongo_db.h"

static char g_uri[1024];
static char g_dbname[64];
static unsigned g_counter;

static void new_id(char out[PARLEY_ID_LEN + 1])
{
    /* Increasing within this process, like the host's. */
    snprintf(out, PARLEY_ID_LEN + 1, "%08lx%010x%06x", (unsigned long)time(NULL),
             (unsigned)getpid() & 0xffffff, ++g_counter);
}

static void opts_default(mg_options *o, const char *uri)
{
    memset(o, 0, sizeof *o);
    o->uri = uri;
    o->database = g_dbname;
    o->collection = "messages";
    o->server_selection_timeout_ms = 2000;
    o->connect_timeout_ms = 2000;
    o->socket_timeout_ms = 3000;
    o->heartbeat_ms = 10000;
    o->write_concern = "majority";
    o->journal = 1;
    o->wtimeout_ms = 2000;
    o->pool_size = 2;
}

static void open_db(mg_db *db, const char *uri, int64_t selection_ms)
{
    mg_options o;
    parley_error err = PARLEY_ERROR_INIT;

    opts_default(&o, uri);
    o.server_selection_timeout_ms = selection_ms;
    assert_int_equal(mg_db_init(db, &o, "chat-room", &err), PARLEY_OK);
    assert_int_equal(mg_db_open(db, &err), PARLEY_OK);
}

typedef struct msg_buf {
    parley_message m;
    char room[64], user[64], content[128];
} msg_buf;

static void make_msg(msg_buf *b, const char *id, const char *room, const char *content)
{
    memset(b, 0, sizeof *b);
    b->m.struct_size = sizeof b->m;
    memcpy(b->m.id, id, PARLEY_ID_LEN + 1);
    snprintf(b->room, sizeof b->room, "%s", room);
    snprintf(b->user, sizeof b->user, "tester");
    snprintf(b->content, sizeof b->content, "%s", content);
    b->m.room = b->room;
    b->m.room_len = strlen(b->room);
    b->m.username = b->user;
    b->m.username_len = strlen(b->user);
    b->m.content = b->content;
    b->m.content_len = strlen(b->content);
    b->m.timestamp_ms = (int64_t)time(NULL) * 1000 + 7;
}

static int commit(mg_db *db, msg_buf *bufs, size_t n, int *status, parley_error *err)
{
    mg_item items[16];
    int rc;

    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        items[i].msg = &bufs[i].m;
        items[i].status = PARLEY_EINTERNAL;
        items[i].unavailable = 0;
    }
    rc = mg_commit(db, items, n, err);
    for (size_t i = 0; i < n; i++)
        status[i] = items[i].status;
    return rc;
}

static void test_partial_bulk(void **state)
{
    static const char *const batch_ids[6] = { "0", "1", "2", "3", "4", "4" };
    static const char *const batch_contents[6] = { "zero", "one-retry", "two", "three-retry",
                                                   "four", "four-again" };
    static const int want[6] = { PARLEY_OK, PARLEY_EEXIST, PARLEY_OK, PARLEY_EEXIST, PARLEY_OK,
                                 PARLEY_EEXIST };
    static const char *const stored[5] = { "zero", "one", "two", "three", "four" };
    mg_db db;
    parley_error err = PARLEY_ERROR_INIT;
    char ids[5][PARLEY_ID_LEN + 1];
    msg_buf b[6];
    int st[6];
    mg_row *rows;
    size_t n;
    int more;

    (void)state;
    open_db(&db, g_uri, 2000);
    assert_int_equal(mg_ensure_index(&db, &err), PARLEY_OK);
    for (int i = 0; i < 5; i++)
        new_id(ids[i]);
    /* #1 and #3 are already stored: the batch retries them after a lost reply. */
    make_msg(&b[0], ids[1], "bulk", "one");
    make_msg(&b[1], ids[3], "bulk", "three");
    assert_int_equal(commit(&db, b, 2, st, &err), PARLEY_OK);
    assert_int_equal(st[0], PARLEY_OK);
    assert_int_equal(st[1], PARLEY_OK);

    /* One ordered bulk: duplicates in the middle and twice in the batch. */
    for (int i = 0; i < 6; i++)
        make_msg(&b[i], ids[batch_ids[i][0] - '0'], "bulk", batch_contents[i]);
    assert_int_equal(commit(&db, b, 6, st, &err), PARLEY_OK);
    for (int i = 0; i < 6; i++)
        if (st[i] != want[i])
            fail_msg("item %d (%s): %s, expected %s", i, batch_contents[i],
                     parley_status_name(st[i]), parley_status_name(want[i]));

    assert_int_equal(mg_history(&db, "bulk", 4, NULL, 10, &rows, &n, &more, &err), PARLEY_OK);
    assert_int_equal(n, 5);
    assert_false(more);
    /* newest first, each id once, the first write of each kept */
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(rows[i].id, ids[4 - i]);
        assert_string_equal(rows[i].content, stored[4 - i]);
        assert_string_equal(rows[i].room, "bulk");
        assert_string_equal(rows[i].username, "tester");
    }
    assert_int_equal(rows[0].timestamp_ms, b[4].m.timestamp_ms);
    mg_rows_free(rows, n);

    /* A page before #2, limit 1: #1, and older ones remain. */
    assert_int_equal(mg_history(&db, "bulk", 4, ids[2], 1, &rows, &n, &more, &err), PARLEY_OK);
    assert_int_equal(n, 1);
    assert_true(more);
    assert_string_equal(rows[0].id, ids[1]);
    mg_rows_free(rows, n);
    mg_db_free(&db);
}

static void test_rooms_byte_for_byte(void **state)
{
    mg_db db;
    parley_error err = PARLEY_ERROR_INIT;
    char id[PARLEY_ID_LEN + 1];
    msg_buf b[3];
    int st[3];
    mg_row *rows;
    size_t n;
    int more;

    (void)state;
    open_db(&db, g_uri, 2000);
    new_id(id);
    make_msg(&b[0], id, "Room", "upper");
    new_id(id);
    make_msg(&b[1], id, "room", "lower");
    new_id(id);
    make_msg(&b[2], id, "{\"$gt\": \"\"}", "operator-looking");
    assert_int_equal(commit(&db, b, 3, st, &err), PARLEY_OK);
    assert_int_equal(mg_history(&db, "room", 4, NULL, 10, &rows, &n, &more, &err), PARLEY_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].content, "lower");
    mg_rows_free(rows, n);
    assert_int_equal(mg_history(&db, "{\"$gt\": \"\"}", 11, NULL, 10, &rows, &n, &more, &err),
                     PARLEY_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].content, "operator-looking");
    mg_rows_free(rows, n);
    /* a cursor that is not an ObjectId is refused, not sent */
    assert_int_equal(mg_history(&db, "room", 4, "zzzzzzzzzzzzzzzzzzzzzzzz", 10, &rows, &n, &more,
                                &err), PARLEY_EINVAL);
    mg_db_free(&db);
}

static void test_unreachable(void **state)
{
    char uri[128];
    mg_db db;
    parley_error err = PARLEY_ERROR_INIT;
    char id[PARLEY_ID_LEN + 1];
    msg_buf b[2];
    mg_item items[2];
    mg_row *rows;
    size_t n;
    int more;
    struct timespec t0, t1;
    double took;

    (void)state;
    /* A port nothing listens on (1: tcpmux, never served on loopback here). */
    snprintf(uri, sizeof uri, "mongodb://127.0.0.1:1/x");
    open_db(&db, uri, 300);
    new_id(id);
    make_msg(&b[0], id, "r", "a");
    new_id(id);
    make_msg(&b[1], id, "r", "b");
    items[0].msg = &b[0].m;
    items[1].msg = &b[1].m;
    items[0].status = items[1].status = PARLEY_EINTERNAL;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(mg_commit(&db, items, 2, &err), PARLEY_EUNAVAIL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(took < 2.0);
    assert_int_equal(items[0].status, PARLEY_EUNAVAIL);
    assert_int_equal(items[1].status, PARLEY_EUNAVAIL);
    assert_true(items[0].unavailable && items[1].unavailable);
    assert_non_null(strstr(err.message, "no MongoDB server available at 127.0.0.1:1 within 300 ms"));
    err = (parley_error)PARLEY_ERROR_INIT;
    assert_int_equal(mg_ping(&db, &err), PARLEY_EUNAVAIL);
    err = (parley_error)PARLEY_ERROR_INIT;
    assert_int_equal(mg_history(&db, "r", 1, NULL, 5, &rows, &n, &more, &err), PARLEY_EUNAVAIL);
    assert_null(rows);
    err = (parley_error)PARLEY_ERROR_INIT;
    assert_int_equal(mg_ensure_index(&db, &err), PARLEY_EUNAVAIL);
    assert_false(db.indexed);
    mg_db_free(&db);
}

/* Run a command with a plain client; 1 when it succeeded. */
static int run_command(const char *db, const char *json, bson_t *reply)
{
    mongoc_client_t *c = mongoc_client_new(g_uri);
    bson_error_t e;
    bson_t *cmd = bson_new_from_json((const uint8_t *)json, -1, &e);
    int ok;

    assert_non_null(c);
    assert_non_null(cmd);
    ok = mongoc_client_command_simple(c, db, cmd, NULL, reply, &e);
    bson_destroy(cmd);
    mongoc_client_destroy(c);
    return ok;
}

static int is_congodb(void)
{
    bson_t reply;
    bson_iter_t it;
    int congo;

    assert_true(run_command("admin", "{\"buildInfo\": 1}", &reply));
    congo = bson_iter_init_find(&it, &reply, "gitVersion") && BSON_ITER_HOLDS_UTF8(&it) &&
            strcmp(bson_iter_utf8(&it, NULL), "congodb") == 0;
    bson_destroy(&reply);
    return congo;
}

static void test_index_refused(void **state)
{
    mg_options o;
    mg_db db;
    parley_error err = PARLEY_ERROR_INIT;
    bson_t reply;

    (void)state;
    if (is_congodb()) {
        /* CongoDB accepts an index spec that conflicts with an existing one. */
        printf("skipped: CongoDB does not refuse conflicting indexes (buildInfo gitVersion "
               "congodb)\n");
        skip();
    }
    /* Another index already has our index's name: the server refuses ours. */
    {
        char cmd[256];

        snprintf(cmd, sizeof cmd, "{\"createIndexes\": \"conflict\", \"indexes\": [{\"key\": "
                 "{\"content\": 1}, \"name\": \"room_1__id_-1\"}]}");
        assert_true(run_command(g_dbname, cmd, &reply));
        bson_destroy(&reply);
    }
    opts_default(&o, g_uri);
    o.collection = "conflict";
    assert_int_equal(mg_db_init(&db, &o, "chat-room", &err), PARLEY_OK);
    assert_int_equal(mg_db_open(&db, &err), PARLEY_OK);
    assert_int_equal(mg_ensure_index(&db, &err), PARLEY_EIO);
    assert_true(db.indexed);   /* not asked again with every write */
    assert_non_null(strstr(err.message, "creating the index {room: 1, _id: -1}"));
    mg_db_free(&db);
}

static void test_status_mapping(void **state)
{
    static const struct { uint32_t domain, code; int status; } cases[] = {
        { MONGOC_ERROR_SERVER, 11000, PARLEY_EEXIST },
        { MONGOC_ERROR_SERVER, 10107, PARLEY_EUNAVAIL },
        { MONGOC_ERROR_SERVER, 189, PARLEY_EUNAVAIL },
        { MONGOC_ERROR_SERVER, 91, PARLEY_EUNAVAIL },
        { MONGOC_ERROR_SERVER, 64, PARLEY_ETIMEDOUT },
        { MONGOC_ERROR_SERVER, 50, PARLEY_ETIMEDOUT },
        { MONGOC_ERROR_SERVER, 10334, PARLEY_ETOOBIG },
        { MONGOC_ERROR_SERVER, 2, PARLEY_EIO },
        { MONGOC_ERROR_SERVER_SELECTION, MONGOC_ERROR_SERVER_SELECTION_FAILURE, PARLEY_EUNAVAIL },
        { MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_SOCKET, PARLEY_EUNAVAIL },
        { MONGOC_ERROR_WRITE_CONCERN, 0, PARLEY_ETIMEDOUT },
        { MONGOC_ERROR_BSON, 0, PARLEY_EINVAL },
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bson_error_t e = { cases[i].domain, cases[i].code, "" };

        if (mg_status(&e) != cases[i].status)
            fail_msg("domain %u code %u: %s, expected %s", cases[i].domain, cases[i].code,
                     parley_status_name(mg_status(&e)), parley_status_name(cases[i].status));
    }
}

static void test_init_refusals(void **state)
{
    static const struct { const char *uri, *db, *coll, *w, *want; } cases[] = {
        { "mongodb://127.0.0.1/?w=0", "", "messages", "majority", "w=0" },
        { "mongodb://127.0.0.1/", "", "messages", "0", "write_concern is \"0\"" },
        { "mongodb://127.0.0.1/", "", "messages", "many", "write_concern is \"many\"" },
        { "mongodb://127.0.0.1/", "a.b", "messages", "majority", "database name \"a.b\"" },
        { "mongodb://127.0.0.1/", "", "system.x", "majority", "collection name \"system.x\"" },
        { "mongodb://u:secret@127.0.0.1:x/", "", "messages", "majority", "not a MongoDB URI" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mg_options o;
        mg_db db;
        parley_error err = PARLEY_ERROR_INIT;

        opts_default(&o, cases[i].uri);
        o.database = cases[i].db;
        o.collection = cases[i].coll;
        o.write_concern = cases[i].w;
        assert_int_equal(mg_db_init(&db, &o, "chat-room", &err), PARLEY_EINVAL);
        if (strstr(err.message, cases[i].want) == NULL || strstr(err.message, "secret") != NULL)
            fail_msg("case %zu: \"%s\" does not say \"%s\" (or shows the password)", i,
                     err.message, cases[i].want);
        mg_db_free(&db);
    }
    /* The URI's database is the default; its options win over the keys. */
    {
        mg_options o;
        mg_db db;
        parley_error err = PARLEY_ERROR_INIT;

        opts_default(&o, "mongodb://127.0.0.1/fromuri?socketTimeoutMS=1234&w=1");
        o.database = "";
        assert_int_equal(mg_db_init(&db, &o, "chat-room", &err), PARLEY_OK);
        assert_string_equal(db.database, "fromuri");
        assert_int_equal(mongoc_uri_get_option_as_int32(db.uri, MONGOC_URI_SOCKETTIMEOUTMS, 0),
                         1234);
        assert_int_equal(mongoc_uri_get_option_as_int32(db.uri, MONGOC_URI_CONNECTTIMEOUTMS, 0),
                         2000);
        assert_int_equal(mongoc_write_concern_get_w(db.wc), 1);
        assert_true(mongoc_write_concern_get_journal(db.wc));
        mg_db_free(&db);
    }
}

static int read_uri(void)
{
    const char *env = getenv("MONGODB_URI");
    const char *build = getenv("PARLEY_BUILD_DIR");
    char path[900];
    FILE *f;

    if (env != NULL && env[0] != '\0') {
        snprintf(g_uri, sizeof g_uri, "%s", env);
        return 0;
    }
    snprintf(path, sizeof path, "%s/tests/mongo/fixture.uri", build != NULL ? build : ".");
    f = fopen(path, "r");
    if (f == NULL || fgets(g_uri, sizeof g_uri, f) == NULL) {
        if (f != NULL)
            fclose(f);
        return -1;
    }
    fclose(f);
    g_uri[strcspn(g_uri, "\r\n")] = '\0';
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partial_bulk),
        cmocka_unit_test(test_rooms_byte_for_byte),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_index_refused),
        cmocka_unit_test(test_status_mapping),
        cmocka_unit_test(test_init_refusals),
    };
    int rc;

    if (read_uri() != 0) {
        fprintf(stderr, "no database: set MONGODB_URI or run the mongo.server.start fixture\n");
        return 1;
    }
    snprintf(g_dbname, sizeof g_dbname, "parley_unit_%ld_%d", (long)time(NULL), (int)getpid());
    mongoc_init();
    rc = cmocka_run_group_tests_name("mongo_db", tests, NULL, NULL);
    /* Drop the scratch database. */
    {
        mongoc_client_t *c = mongoc_client_new(g_uri);
        mongoc_database_t *d = c != NULL ? mongoc_client_get_database(c, g_dbname) : NULL;

        if (d != NULL) {
            mongoc_database_drop(d, NULL);
            mongoc_database_destroy(d);
        }
        mongoc_client_destroy(c);
    }
    mongoc_cleanup();
    return rc;
}
