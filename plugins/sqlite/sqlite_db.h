/*
 * The SQLite side of the sqlite storage plugin: opening the database,
 * the schema, group commit and history pages. Nothing here knows about the
 * loop; every function may block and runs on a worker thread (or in
 * start(), before the server serves anything). A connection is used by one
 * thread at a time: the plugin serialises its jobs per connection.
 */
#ifndef PARLEY_SQLITE_DB_H
#define PARLEY_SQLITE_DB_H

#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include <sqlite3.h>

#include <parley/parley.h>

#include "page.h"

/* The schema this code writes (PRAGMA user_version). */
#define SQ_SCHEMA_VERSION 1
/* PRAGMA application_id: "PRLY" read big-endian, so `file` and tools can tell. */
#define SQ_APPLICATION_ID 0x50524c59

enum sq_sync { SQ_SYNC_FULL = 2, SQ_SYNC_NORMAL = 1 };

typedef struct sq_options {
    const char *path;
    int64_t busy_timeout_ms;
    int synchronous;               /* enum sq_sync */
    int64_t journal_size_limit;    /* bytes; -1: none */
} sq_options;

/* The one write connection and its statements. */
typedef struct sq_writer {
    sqlite3 *db;
    sqlite3_stmt *begin;
    sqlite3_stmt *commit;
    sqlite3_stmt *rollback;
    sqlite3_stmt *insert;
    const char *path;
    dev_t dev;                     /* identity of the file we opened, for health */
    ino_t ino;
} sq_writer;

/* A read connection and its statements. */
typedef struct sq_reader {
    sqlite3 *db;
    sqlite3_stmt *page;            /* newest messages of a room */
    sqlite3_stmt *page_before;     /* ... older than a cursor */
    sqlite3_stmt *probe;
    const char *path;
} sq_reader;

/* One insert of a batch: the message and, after sq_commit, its outcome. */
typedef struct sq_item {
    const parley_message *msg;
    int status;                    /* PARLEY_OK, PARLEY_EEXIST or a failure */
} sq_item;

/* A row read by sq_history, owned by the caller (sq_rows_free). */
typedef struct plugin_row sq_row;

/*
 * Create the parent directory if needed, open (or create) the database,
 * switch it to WAL, apply the pragmas and create or check the schema.
 * Refuses a database from a newer schema or from another application.
 */
int sq_writer_open(sq_writer *w, const sq_options *opt, parley_error *err);
void sq_writer_close(sq_writer *w);

/* Open a read-only connection on a database sq_writer_open has prepared. */
int sq_reader_open(sq_reader *r, const sq_options *opt, parley_error *err);
void sq_reader_close(sq_reader *r);

/*
 * Insert `n` messages in one transaction (group commit). Returns PARLEY_OK
 * when the transaction committed; each item's status is then PARLEY_OK or
 * PARLEY_EEXIST (that id was already stored). On failure every item that
 * did not commit carries the failure, and err says why. A failure caused by
 * one message alone (a constraint, a value too big) does not fail the
 * others: the batch is then retried one message per transaction.
 */
int sq_commit(sq_writer *w, sq_item *items, size_t n, parley_error *err);

/*
 * Read up to `limit` + 1 of the newest messages of a room older than
 * `before_id` (NULL: all), newest first, into a fresh array. *has_more is
 * set when more than `limit` exist; *n_rows is at most `limit`.
 */
int sq_history(sq_reader *r, const char *room, size_t room_len, const char *before_id,
               uint32_t limit, sq_row **rows, size_t *n_rows, int *has_more,
               parley_error *err);
#define sq_rows_free plugin_rows_free

/*
 * A cheap health probe: the file we opened is still at its path, its
 * filesystem is writable with space left, and a read through `r` works.
 */
int sq_probe(sq_reader *r, const sq_writer *w, parley_error *err);

/* The PARLEY_E* code for an SQLite result code. */
int sq_status(int sqlite_rc);
/* "SQLITE_BUSY", "SQLITE_FULL", ... for an (extended) result code. */
const char *sq_code_name(int sqlite_rc);

#endif /* PARLEY_SQLITE_DB_H */
