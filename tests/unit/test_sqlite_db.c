/*
 * The SQLite layer of the sqlite storage plugin (plugins/sqlite/sqlite_db.c),
 * without a host: opening, the schema and its version checks, group commit,
 * idempotence, history pages, the health probe and the errors an operator
 * sees. The storage contract suite covers the plugin as a whole.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cmocka.h>

#include "sqlite_db.h"

static char g_dir[256];
static char g_path[300];

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s/parley-sqlite-XXXXXX", P_tmpdir);
    assert_non_null(mkdtemp(g_dir));
    snprintf(g_path, sizeof g_path, "%s/sub/dir/t.db", g_dir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[400];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static sq_options opts(const char *path)
{
    sq_options o = { path, 200, SQ_SYNC_FULL, 1 << 20 };
    return o;
}

static void exec_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static parley_message msg(const char *id, const char *room, const char *content)
{
    parley_message m;

    memset(&m, 0, sizeof m);
    m.struct_size = sizeof m;
    snprintf(m.id, sizeof m.id, "%s", id);
    m.room = room;
    m.room_len = room != NULL ? strlen(room) : 0;
    m.username = "u";
    m.username_len = 1;
    m.content = content;
    m.content_len = content != NULL ? strlen(content) : 0;
    m.timestamp_ms = 1700000000000;
    return m;
}

static void id_n(char out[PARLEY_ID_LEN + 1], unsigned n)
{
    snprintf(out, PARLEY_ID_LEN + 1, "65000000aaaaaaaaaa%06x", n);
}

static void test_open_creates_dirs_and_schema(void **state)
{
    sq_options o = opts(g_path);
    parley_error err = PARLEY_ERROR_INIT;
    sq_writer w;
    sq_reader r;
    sqlite3 *db;
    sqlite3_stmt *st;

    (void)state;
    assert_int_equal(sq_writer_open(&w, &o, &err), PARLEY_OK);
    assert_int_equal(sq_reader_open(&r, &o, &err), PARLEY_OK);
    sq_reader_close(&r);
    sq_writer_close(&w);

    assert_int_equal(sqlite3_open_v2(g_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT (SELECT user_version FROM pragma_user_version),"
                                            " (SELECT application_id FROM pragma_application_id),"
                                            " (SELECT journal_mode FROM pragma_journal_mode)",
                                        -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), SQ_SCHEMA_VERSION);
    assert_int_equal(sqlite3_column_int(st, 1), SQ_APPLICATION_ID);
    assert_string_equal((const char *)sqlite3_column_text(st, 2), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);

    /* Opening again keeps the schema. */
    assert_int_equal(sq_writer_open(&w, &o, &err), PARLEY_OK);
    sq_writer_close(&w);
}

static void test_refuses_newer_schema(void **state)
{
    sq_options o = opts(g_path);
    parley_error err = PARLEY_ERROR_INIT;
    sq_writer w;

    (void)state;
    assert_int_equal(sq_writer_open(&w, &o, &err), PARLEY_OK);
    sq_writer_close(&w);
    exec_sql(g_path, "PRAGMA user_version=2");
    assert_int_equal(sq_writer_open(&w, &o, &err), PARLEY_EVERSION);
    assert_non_null(strstr(err.message, g_path));
    assert_non_null(strstr(err.message, "has schema version 2, newer than this plugin's version 1"));
}

static void test_refuses_foreign_databases(void **state)
{
    char other[320], garbage[320];
    sq_options o;
    parley_error err = PARLEY_ERROR_INIT;
    sq_writer w;
    FILE *f;

    (void)state;
    /* A "messages" table but no Parley version. */
    snprintf(other, sizeof other, "%s/foreign.db", g_dir);
    exec_sql(other, "CREATE TABLE messages (x)");
    o = opts(other);
    assert_int_equal(sq_writer_open(&w, &o, &err), PARLEY_EIO);
    assert_non_null(strstr(err.message, "was not created by Parley"));
    {
        /* Refused before anything was written: still in rollback-journal mode. */
        sqlite3 *db;
        sqlite3_stmt *st;

        assert_int_equal(sqlite3_open_v2(other, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(st, 0), "delete");
        sqlite3_finalize(st);
        sqlite3_close(db);
    }

    /* Another application's id. */
    snprintf(other, sizeof other, "%s/app.db", g_dir);
    exec_sql(other, "PRAGMA application_id=42; PRAGMA user_version=1; CREATE TABLE t (x)");
    o = opts(other);
    err = (parley_error)PARLEY_ERROR_INIT;
    assert_int_equal(sq_writer_open(&w, &o, &err), PARLEY_EIO);
    assert_non_null(strstr(err.message, "application_id 42"));

    /* Not SQLite at all. */
    snprintf(garbage, sizeof garbage, "%s/garbage.db", g_dir);
    f = fopen(garbage, "w");
    assert_non_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is not a database file at all. ", f);
    fclose(f);
    o = opts(garbage);
    err = (parley_error)PARLEY_ERROR_INIT;
    assert_true(sq_writer_open(&w, &o, &err) < 0);
    assert_non_null(strstr(err.message, garbage));
    assert_non_null(strstr(err.message, "file is not a database"));
}

static void test_parent_not_a_directory(void **state)
{
    char file[320], path[340];
    sq_options o;
    parley_error err = PARLEY_ERROR_INIT;
    sq_writer w;
    FILE *f;

    (void)state;
    snprintf(file, sizeof file, "%s/plainfile", g_dir);
    f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/inner/x.db", file);
    o = opts(path);
    assert_int_equal(sq_writer_open(&w, &o, &err), PARLEY_EUNAVAIL);
    assert_non_null(strstr(err.message, "cannot create directory"));
    assert_non_null(strstr(err.message, path));
    assert_non_null(strstr(err.message, "Not a directory"));
}

static void test_commit_idempotent(void **state)
{
    sq_options o = opts(g_path);
    parley_error err = PARLEY_ERROR_INIT;
    char a[PARLEY_ID_LEN + 1], b[PARLEY_ID_LEN + 1];
    parley_message m[4];
    sq_item items[4];
    sq_writer w;
    sq_reader r;
    sq_row *rows;
    size_t n;
    int more;

    (void)state;
    assert_int_equal(sq_writer_open(&w, &o, &err), PARLEY_OK);
    assert_int_equal(sq_reader_open(&r, &o, &err), PARLEY_OK);
    id_n(a, 1);
    id_n(b, 2);
    m[0] = msg(a, "room", "one");
    m[1] = msg(a, "room", "one");        /* the same id twice in one batch */
    m[2] = msg(b, "room", "two");
    for (int i = 0; i < 3; i++)
        items[i] = (sq_item){ &m[i], 0 };
    assert_int_equal(sq_commit(&w, items, 3, &err), PARLEY_OK);
    assert_int_equal(items[0].status, PARLEY_OK);
    assert_int_equal(items[1].status, PARLEY_EEXIST);
    assert_int_equal(items[2].status, PARLEY_OK);

    /* A later retry, even under another room, is a no-op. */
    m[3] = msg(a, "elsewhere", "one");
    items[0] = (sq_item){ &m[3], 0 };
    assert_int_equal(sq_commit(&w, items, 1, &err), PARLEY_OK);
    assert_int_equal(items[0].status, PARLEY_EEXIST);

    assert_int_equal(sq_history(&r, "room", 4, NULL, 10, &rows, &n, &more, &err), PARLEY_OK);
    assert_int_equal(n, 2);
    assert_int_equal(more, 0);
    assert_string_equal(rows[0].id, b);  /* newest first at this layer */
    assert_string_equal(rows[1].id, a);
    assert_string_equal(rows[1].content, "one");
    assert_int_equal(rows[1].timestamp_ms, 1700000000000);
    sq_rows_free(rows, n);
    assert_int_equal(sq_history(&r, "elsewhere", 9, NULL, 10, &rows, &n, &more, &err), PARLEY_OK);
    assert_int_equal(n, 0);
    sq_rows_free(rows, n);
    sq_reader_close(&r);
    sq_writer_close(&w);
}

static void test_one_bad_message_does_not_fail_its_batch(void **state)
{
    sq_options o = opts(g_path);
    parley_error err = PARLEY_ERROR_INIT;
    char ids[3][PARLEY_ID_LEN + 1];
    parley_message m[3];
    sq_item items[3];
    sq_writer w;

    (void)state;
    assert_int_equal(sq_writer_open(&w, &o, &err), PARLEY_OK);
    for (unsigned i = 0; i < 3; i++)
        id_n(ids[i], 10 + i);
    m[0] = msg(ids[0], "room", "fine");
    m[1] = msg(ids[1], "room", NULL);     /* NULL content: NOT NULL constraint */
    m[2] = msg(ids[2], "room", "fine too");
    for (int i = 0; i < 3; i++)
        items[i] = (sq_item){ &m[i], 0 };
    assert_int_equal(sq_commit(&w, items, 3, &err), PARLEY_EINVAL);
    assert_int_equal(items[0].status, PARLEY_OK);
    assert_int_equal(items[1].status, PARLEY_EINVAL);
    assert_int_equal(items[2].status, PARLEY_OK);
    assert_non_null(strstr(err.message, "NOT NULL constraint failed"));
    sq_writer_close(&w);
}

static void test_history_pages(void **state)
{
    enum { N = 25 };
    sq_options o = opts(g_path);
    parley_error err = PARLEY_ERROR_INIT;
    char ids[N][PARLEY_ID_LEN + 1];
    parley_message m[N];
    sq_item items[N];
    sq_writer w;
    sq_reader r;
    sq_row *rows;
    size_t n;
    int more;

    (void)state;
    assert_int_equal(sq_writer_open(&w, &o, &err), PARLEY_OK);
    assert_int_equal(sq_reader_open(&r, &o, &err), PARLEY_OK);
    for (unsigned i = 0; i < N; i++) {
        id_n(ids[i], 100 + i);
        m[i] = msg(ids[i], i % 2 ? "Odd" : "odd", "x");
        items[i] = (sq_item){ &m[i], 0 };
    }
    assert_int_equal(sq_commit(&w, items, N, &err), PARLEY_OK);

    /* "odd" holds ids 0, 2, ..., 24 (13 of them). */
    assert_int_equal(sq_history(&r, "odd", 3, NULL, 5, &rows, &n, &more, &err), PARLEY_OK);
    assert_int_equal(n, 5);
    assert_int_equal(more, 1);
    assert_string_equal(rows[0].id, ids[24]);
    assert_string_equal(rows[4].id, ids[16]);
    sq_rows_free(rows, n);
    assert_int_equal(sq_history(&r, "odd", 3, ids[16], 8, &rows, &n, &more, &err), PARLEY_OK);
    assert_int_equal(n, 8);
    assert_int_equal(more, 0);              /* exactly the last 8 */
    assert_string_equal(rows[7].id, ids[0]);
    sq_rows_free(rows, n);
    assert_int_equal(sq_history(&r, "Odd", 3, NULL, 100, &rows, &n, &more, &err), PARLEY_OK);
    assert_int_equal(n, 12);
    assert_int_equal(more, 0);
    sq_rows_free(rows, n);
    sq_reader_close(&r);
    sq_writer_close(&w);
}

static void test_busy_times_out(void **state)
{
    sq_options o = opts(g_path);
    parley_error err = PARLEY_ERROR_INIT;
    char id[PARLEY_ID_LEN + 1];
    parley_message m;
    sq_item item;
    sq_writer w;
    sqlite3 *other;

    (void)state;
    assert_int_equal(sq_writer_open(&w, &o, &err), PARLEY_OK);
    assert_int_equal(sqlite3_open(g_path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    id_n(id, 7);
    m = msg(id, "room", "blocked");
    item = (sq_item){ &m, 0 };
    assert_int_equal(sq_commit(&w, &item, 1, &err), PARLEY_EBUSY);
    assert_int_equal(item.status, PARLEY_EBUSY);
    assert_non_null(strstr(err.message, "database is locked"));
    assert_non_null(strstr(err.message, "SQLITE_BUSY"));
    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);
    /* And it works again once the lock is gone. */
    item = (sq_item){ &m, 0 };
    assert_int_equal(sq_commit(&w, &item, 1, &err), PARLEY_OK);
    assert_int_equal(item.status, PARLEY_OK);
    sq_writer_close(&w);
}

static void test_probe(void **state)
{
    sq_options o = opts(g_path);
    parley_error err = PARLEY_ERROR_INIT;
    char moved[340];
    sq_writer w;
    sq_reader r;

    (void)state;
    assert_int_equal(sq_writer_open(&w, &o, &err), PARLEY_OK);
    assert_int_equal(sq_reader_open(&r, &o, &err), PARLEY_OK);
    assert_int_equal(sq_probe(&r, &w, &err), PARLEY_OK);

    snprintf(moved, sizeof moved, "%s.moved", g_path);
    assert_int_equal(rename(g_path, moved), 0);
    assert_int_equal(sq_probe(&r, &w, &err), PARLEY_EUNAVAIL);
    assert_non_null(strstr(err.message, "is gone"));
    assert_non_null(strstr(err.message, g_path));

    /* Another file at the same path is not our database. */
    exec_sql(g_path, "CREATE TABLE x (y)");
    err = (parley_error)PARLEY_ERROR_INIT;
    assert_int_equal(sq_probe(&r, &w, &err), PARLEY_EUNAVAIL);
    assert_non_null(strstr(err.message, "was replaced"));
    sq_reader_close(&r);
    sq_writer_close(&w);
}

static void test_status_mapping(void **state)
{
    (void)state;
    assert_int_equal(sq_status(SQLITE_BUSY), PARLEY_EBUSY);
    assert_int_equal(sq_status(SQLITE_LOCKED), PARLEY_EBUSY);
    assert_int_equal(sq_status(SQLITE_FULL), PARLEY_EUNAVAIL);
    assert_int_equal(sq_status(SQLITE_IOERR_FSYNC), PARLEY_EUNAVAIL);
    assert_int_equal(sq_status(SQLITE_READONLY), PARLEY_EUNAVAIL);
    assert_int_equal(sq_status(SQLITE_CORRUPT), PARLEY_EIO);
    assert_int_equal(sq_status(SQLITE_CONSTRAINT_NOTNULL), PARLEY_EINVAL);
    assert_string_equal(sq_code_name(SQLITE_IOERR_FSYNC), "SQLITE_IOERR");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_dirs_and_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_newer_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_foreign_databases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parent_not_a_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_bad_message_does_not_fail_its_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_probe, setup, teardown),
        cmocka_unit_test(test_status_mapping),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
