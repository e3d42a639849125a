/*
 * The SQLite side of the sqlite storage plugin (see sqlite_db.h).
 *
 * Schema, version 1:
 *
 *   messages(seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, room, username,
 *            content, timestamp_ms)
 *   messages_room_id ON messages(room, id)
 *
 * A rowid table rather than WITHOUT ROWID: a WITHOUT ROWID table copies
 * whole rows into its interior pages, which suits rows of a few dozen bytes,
 * and chat messages run to kilobytes. The (room, id) index answers every
 * history page as one backwards range scan with no sort; the UNIQUE index on
 * id is what makes a retried insert a no-op (ON CONFLICT DO NOTHING), even
 * if a buggy caller retried it under another room.
 */
#include "sqlite_db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <sys/statvfs.h>

#define SQ_SCHEMA_SQL                                                          \
    "CREATE TABLE messages ("                                                  \
    "  seq INTEGER PRIMARY KEY,"                                               \
    "  id TEXT NOT NULL UNIQUE,"                                               \
    "  room TEXT NOT NULL,"                                                    \
    "  username TEXT NOT NULL,"                                                \
    "  content TEXT NOT NULL,"                                                 \
    "  timestamp_ms INTEGER NOT NULL);"                                        \
    "CREATE INDEX messages_room_id ON messages (room, id);"

#define SQ_INSERT_SQL                                                          \
    "INSERT INTO messages (id, room, username, content, timestamp_ms)"         \
    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO NOTHING"

#define SQ_PAGE_COLUMNS "SELECT id, room, username, content, timestamp_ms FROM messages"
#define SQ_PAGE_SQL SQ_PAGE_COLUMNS " WHERE room = ?1 ORDER BY id DESC LIMIT ?2"
#define SQ_PAGE_BEFORE_SQL SQ_PAGE_COLUMNS " WHERE room = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
/* Reads the newest leaf page of the table: proves the file is readable. */
#define SQ_PROBE_SQL "SELECT seq FROM messages ORDER BY seq DESC LIMIT 1"

const char *sq_code_name(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK: return "SQLITE_OK";
    case SQLITE_ERROR: return "SQLITE_ERROR";
    case SQLITE_INTERNAL: return "SQLITE_INTERNAL";
    case SQLITE_PERM: return "SQLITE_PERM";
    case SQLITE_ABORT: return "SQLITE_ABORT";
    case SQLITE_BUSY: return "SQLITE_BUSY";
    case SQLITE_LOCKED: return "SQLITE_LOCKED";
    case SQLITE_NOMEM: return "SQLITE_NOMEM";
    case SQLITE_READONLY: return "SQLITE_READONLY";
    case SQLITE_INTERRUPT: return "SQLITE_INTERRUPT";
    case SQLITE_IOERR: return "SQLITE_IOERR";
    case SQLITE_CORRUPT: return "SQLITE_CORRUPT";
    case SQLITE_NOTFOUND: return "SQLITE_NOTFOUND";
    case SQLITE_FULL: return "SQLITE_FULL";
    case SQLITE_CANTOPEN: return "SQLITE_CANTOPEN";
    case SQLITE_PROTOCOL: return "SQLITE_PROTOCOL";
    case SQLITE_SCHEMA: return "SQLITE_SCHEMA";
    case SQLITE_TOOBIG: return "SQLITE_TOOBIG";
    case SQLITE_CONSTRAINT: return "SQLITE_CONSTRAINT";
    case SQLITE_MISMATCH: return "SQLITE_MISMATCH";
    case SQLITE_MISUSE: return "SQLITE_MISUSE";
    case SQLITE_NOLFS: return "SQLITE_NOLFS";
    case SQLITE_AUTH: return "SQLITE_AUTH";
    case SQLITE_RANGE: return "SQLITE_RANGE";
    case SQLITE_NOTADB: return "SQLITE_NOTADB";
    default: return "SQLITE_UNKNOWN";
    }
}

int sq_status(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return PARLEY_OK;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return PARLEY_EBUSY;
    case SQLITE_NOMEM:
        return PARLEY_ENOMEM;
    case SQLITE_TOOBIG:
        return PARLEY_ETOOBIG;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
        return PARLEY_EINVAL;
    /* The backend cannot persist anything right now; an operator can fix
     * it (free space, permissions, remount) and it comes back. */
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_PERM:
        return PARLEY_EUNAVAIL;
    default:
        return PARLEY_EIO;
    }
}

/* Fill err from the connection's last error and return its PARLEY_E* code. */
static int db_fail(parley_error *err, sqlite3 *db, int rc, const char *what, const char *path)
{
    const char *msg = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc);

    if (db != NULL)
        rc = sqlite3_extended_errcode(db);
    return parley_error_set(err, sq_status(rc), "sqlite: %s %s failed: %s (%s, code %d)", what,
                            path, msg, sq_code_name(rc), rc);
}

static int db_exec(sqlite3 *db, const char *sql, const char *what, const char *path,
                   parley_error *err)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK)
        return db_fail(err, db, rc, what, path);
    return PARLEY_OK;
}

/* Run a one-row, one-column query and read its integer. */
static int db_int(sqlite3 *db, const char *sql, int64_t *out, const char *what, const char *path,
                  parley_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    if (rc != SQLITE_OK)
        return db_fail(err, db, rc, what, path);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        rc = db_fail(err, db, rc, what, path);
        sqlite3_finalize(st);
        return rc;
    }
    *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return PARLEY_OK;
}

static int db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, const char *path,
                      parley_error *err)
{
    int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);

    if (rc != SQLITE_OK)
        return db_fail(err, db, rc, "preparing a statement on", path);
    return PARLEY_OK;
}

/* mkdir -p of the directory that will hold `path`. */
static int make_parent(const char *path, parley_error *err)
{
    char *dir = strdup(path);
    char *slash, *p;
    struct stat st;
    int rc = PARLEY_OK;

    if (dir == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "sqlite: out of memory");
    slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir) {
        free(dir);
        return PARLEY_OK;
    }
    *slash = '\0';
    for (p = dir + 1; rc == PARLEY_OK; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(dir, 0777) != 0 && errno != EEXIST)
            rc = parley_error_set(err, PARLEY_EUNAVAIL,
                                  "sqlite: cannot create directory %s for the database %s: %s",
                                  dir, path, strerror(errno));
        *p = saved;
        if (saved == '\0')
            break;
    }
    if (rc == PARLEY_OK && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)))
        rc = parley_error_set(err, PARLEY_EUNAVAIL,
                              "sqlite: %s, the directory for the database %s, is not a directory",
                              dir, path);
    free(dir);
    return rc;
}

static int set_wal(sq_writer *w, parley_error *err)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *mode;
    int rc = sqlite3_prepare_v2(w->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);

    if (rc != SQLITE_OK)
        return db_fail(err, w->db, rc, "opening", w->path);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        rc = db_fail(err, w->db, rc, "opening", w->path);
        sqlite3_finalize(st);
        return rc;
    }
    mode = sqlite3_column_text(st, 0);
    if (mode == NULL || strcmp((const char *)mode, "wal") != 0) {
        rc = parley_error_set(err, PARLEY_EUNAVAIL,
                              "sqlite: cannot switch %s to WAL mode (journal_mode is %s); "
                              "the file must be on a local filesystem that supports shared memory",
                              w->path, mode != NULL ? (const char *)mode : "unknown");
        sqlite3_finalize(st);
        return rc;
    }
    sqlite3_finalize(st);
    return PARLEY_OK;
}

static int set_pragmas(sq_writer *w, const sq_options *opt, parley_error *err)
{
    char sql[128];
    int rc;

    rc = set_wal(w, err);
    if (rc != PARLEY_OK)
        return rc;
    rc = db_exec(w->db,
                 opt->synchronous == SQ_SYNC_NORMAL ? "PRAGMA synchronous=NORMAL"
                                                    : "PRAGMA synchronous=FULL",
                 "configuring", w->path, err);
    if (rc != PARLEY_OK)
        return rc;
    snprintf(sql, sizeof sql, "PRAGMA journal_size_limit=%lld",
             (long long)opt->journal_size_limit);
    return db_exec(w->db, sql, "configuring", w->path, err);
}

/* Create the schema in an empty database. Inside BEGIN IMMEDIATE, so two
 * processes starting on a fresh file do not both create it. */
static int create_schema(sq_writer *w, parley_error *err)
{
    char sql[128];
    int64_t version = 0;
    int rc;

    rc = db_exec(w->db, "BEGIN IMMEDIATE", "creating the schema in", w->path, err);
    if (rc != PARLEY_OK)
        return rc;
    rc = db_int(w->db, "PRAGMA user_version", &version, "creating the schema in", w->path, err);
    if (rc == PARLEY_OK && version != 0) {
        /* Another process created it meanwhile. */
        sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
        return PARLEY_OK;
    }
    if (rc == PARLEY_OK)
        rc = db_exec(w->db, SQ_SCHEMA_SQL, "creating the schema in", w->path, err);
    if (rc == PARLEY_OK) {
        snprintf(sql, sizeof sql, "PRAGMA application_id=%d; PRAGMA user_version=%d",
                 SQ_APPLICATION_ID, SQ_SCHEMA_VERSION);
        rc = db_exec(w->db, sql, "creating the schema in", w->path, err);
    }
    if (rc == PARLEY_OK)
        rc = db_exec(w->db, "COMMIT", "creating the schema in", w->path, err);
    if (rc != PARLEY_OK && !sqlite3_get_autocommit(w->db))
        sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/*
 * Is this file ours (or empty)? Checked before anything is written to it
 * (WAL mode included), so pointing path at another application's database
 * leaves it untouched. Reading the header is also what reveals a file that
 * is not SQLite at all. *version is 0 for an empty database.
 */
static int check_identity(sq_writer *w, int64_t *version, parley_error *err)
{
    int64_t app = 0, objects = 0;
    int rc;

    rc = db_int(w->db, "PRAGMA user_version", version, "opening", w->path, err);
    if (rc == PARLEY_OK)
        rc = db_int(w->db, "PRAGMA application_id", &app, "opening", w->path, err);
    if (rc != PARLEY_OK)
        return rc;
    if (*version == 0 && app == 0) {
        rc = db_int(w->db, "SELECT count(*) FROM sqlite_schema", &objects, "opening", w->path,
                    err);
        if (rc != PARLEY_OK)
            return rc;
        if (objects != 0)
            return parley_error_set(err, PARLEY_EIO,
                                    "sqlite: %s holds %lld table(s) or index(es) but no Parley "
                                    "schema version (PRAGMA user_version is 0); it was not "
                                    "created by Parley: point path at another file",
                                    w->path, (long long)objects);
        return PARLEY_OK;
    }
    if (app != SQ_APPLICATION_ID)
        return parley_error_set(err, PARLEY_EIO,
                                "sqlite: %s has application_id %lld, not Parley's %d; "
                                "it is not a Parley database: point path at another file",
                                w->path, (long long)app, SQ_APPLICATION_ID);
    if (*version > SQ_SCHEMA_VERSION)
        return parley_error_set(err, PARLEY_EVERSION,
                                "sqlite: %s has schema version %lld, newer than this plugin's "
                                "version %d: it was written by a newer Parley; run that version "
                                "or restore a backup",
                                w->path, (long long)*version, SQ_SCHEMA_VERSION);
    if (*version < 1)
        return parley_error_set(err, PARLEY_EIO,
                                "sqlite: %s has Parley's application_id but schema version "
                                "%lld; the file is damaged: restore a backup",
                                w->path, (long long)*version);
    return PARLEY_OK;
}

static int open_conn(sqlite3 **db, const char *path, int flags, int64_t busy_ms,
                     parley_error *err)
{
    int rc = sqlite3_open_v2(path, db, flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, NULL);

    if (rc != SQLITE_OK) {
        rc = db_fail(err, *db, rc, "opening", path);
        sqlite3_close(*db);
        *db = NULL;
        return rc;
    }
    sqlite3_extended_result_codes(*db, 1);
    sqlite3_busy_timeout(*db, busy_ms > INT32_MAX ? INT32_MAX : (int)busy_ms);
    return PARLEY_OK;
}

int sq_writer_open(sq_writer *w, const sq_options *opt, parley_error *err)
{
    struct stat st;
    int64_t version = 0;
    int rc;

    memset(w, 0, sizeof *w);
    w->path = opt->path;
    if (!sqlite3_threadsafe())
        return parley_error_set(err, PARLEY_EINTERNAL,
                                "sqlite: the linked SQLite %s was built without thread safety",
                                sqlite3_libversion());
    rc = make_parent(opt->path, err);
    if (rc == PARLEY_OK)
        rc = open_conn(&w->db, opt->path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                       opt->busy_timeout_ms, err);
    if (rc == PARLEY_OK)
        rc = check_identity(w, &version, err);
    if (rc == PARLEY_OK)
        rc = set_pragmas(w, opt, err);
    if (rc == PARLEY_OK && version == 0)
        rc = create_schema(w, err);
    if (rc == PARLEY_OK)
        rc = db_prepare(w->db, "BEGIN IMMEDIATE", &w->begin, w->path, err);
    if (rc == PARLEY_OK)
        rc = db_prepare(w->db, "COMMIT", &w->commit, w->path, err);
    if (rc == PARLEY_OK)
        rc = db_prepare(w->db, "ROLLBACK", &w->rollback, w->path, err);
    if (rc == PARLEY_OK)
        rc = db_prepare(w->db, SQ_INSERT_SQL, &w->insert, w->path, err);
    if (rc == PARLEY_OK && stat(opt->path, &st) != 0)
        rc = parley_error_set(err, PARLEY_EUNAVAIL, "sqlite: cannot stat %s after opening it: %s",
                              opt->path, strerror(errno));
    if (rc != PARLEY_OK) {
        sq_writer_close(w);
        return rc;
    }
    w->dev = st.st_dev;
    w->ino = st.st_ino;
    return PARLEY_OK;
}

void sq_writer_close(sq_writer *w)
{
    sqlite3_finalize(w->begin);
    sqlite3_finalize(w->commit);
    sqlite3_finalize(w->rollback);
    sqlite3_finalize(w->insert);
    /* The last connection to close checkpoints the WAL into the database
     * and removes the -wal and -shm files. */
    sqlite3_close(w->db);
    w->begin = w->commit = w->rollback = w->insert = NULL;
    w->db = NULL;
}

int sq_reader_open(sq_reader *r, const sq_options *opt, parley_error *err)
{
    int rc;

    memset(r, 0, sizeof *r);
    r->path = opt->path;
    rc = open_conn(&r->db, opt->path, SQLITE_OPEN_READONLY, opt->busy_timeout_ms, err);
    if (rc == PARLEY_OK)
        rc = db_prepare(r->db, SQ_PAGE_SQL, &r->page, r->path, err);
    if (rc == PARLEY_OK)
        rc = db_prepare(r->db, SQ_PAGE_BEFORE_SQL, &r->page_before, r->path, err);
    if (rc == PARLEY_OK)
        rc = db_prepare(r->db, SQ_PROBE_SQL, &r->probe, r->path, err);
    if (rc != PARLEY_OK)
        sq_reader_close(r);
    return rc;
}

void sq_reader_close(sq_reader *r)
{
    sqlite3_finalize(r->page);
    sqlite3_finalize(r->page_before);
    sqlite3_finalize(r->probe);
    sqlite3_close(r->db);
    r->page = r->page_before = r->probe = NULL;
    r->db = NULL;
}

/* ---- group commit ---- */

/* A failure that belongs to one message, not to the database. */
static int item_specific(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
        return 1;
    default:
        return 0;
    }
}

static int insert_one(sq_writer *w, const parley_message *m)
{
    sqlite3_stmt *st = w->insert;
    int rc;

    rc = sqlite3_bind_text(st, 1, m->id, PARLEY_ID_LEN, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 2, m->room, (int)m->room_len, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 3, m->username, (int)m->username_len, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 4, m->content, (int)m->content_len, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 5, m->timestamp_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc;
}

/* One transaction for items[0..n). On failure, returns the SQLite code
 * with err filled and leaves no transaction open. */
static int commit_once(sq_writer *w, sq_item *items, size_t n, parley_error *err)
{
    size_t i;
    int rc;

    rc = sqlite3_step(w->begin);
    sqlite3_reset(w->begin);
    if (rc != SQLITE_DONE) {
        db_fail(err, w->db, rc, "starting a write transaction on", w->path);
        return rc;
    }
    for (i = 0; i < n; i++) {
        if (items[i].msg->room_len > INT32_MAX || items[i].msg->username_len > INT32_MAX ||
            items[i].msg->content_len > INT32_MAX) {
            rc = SQLITE_TOOBIG;
            parley_error_set(err, PARLEY_ETOOBIG, "sqlite: message %s is too big to store in %s",
                             items[i].msg->id, w->path);
            goto rollback;
        }
        rc = insert_one(w, items[i].msg);
        if (rc != SQLITE_DONE) {
            db_fail(err, w->db, rc, "inserting into", w->path);
            goto rollback;
        }
        items[i].status = sqlite3_changes(w->db) > 0 ? PARLEY_OK : PARLEY_EEXIST;
    }
    rc = sqlite3_step(w->commit);
    sqlite3_reset(w->commit);
    if (rc == SQLITE_DONE) {
        sqlite3_clear_bindings(w->insert);
        return SQLITE_OK;
    }
    db_fail(err, w->db, rc, "committing to", w->path);
rollback:
    sqlite3_clear_bindings(w->insert);
    /* SQLite may have rolled back by itself (SQLITE_FULL, SQLITE_IOERR). */
    if (!sqlite3_get_autocommit(w->db)) {
        sqlite3_step(w->rollback);
        sqlite3_reset(w->rollback);
    }
    return rc;
}

int sq_commit(sq_writer *w, sq_item *items, size_t n, parley_error *err)
{
    size_t i;
    int rc, status, failed = 0;

    rc = commit_once(w, items, n, err);
    if (rc == SQLITE_OK)
        return PARLEY_OK;
    if (n == 1 || !item_specific(rc)) {
        status = err != NULL && err->code != 0 ? err->code : sq_status(rc);
        for (i = 0; i < n; i++)
            items[i].status = status;
        return status;
    }
    /* One bad message must not fail the others of its batch. */
    for (i = 0; i < n; i++) {
        parley_error one = PARLEY_ERROR_INIT;

        rc = commit_once(w, &items[i], 1, &one);
        if (rc == SQLITE_OK)
            continue;
        items[i].status = one.code != 0 ? one.code : sq_status(rc);
        if (!failed && err != NULL)
            *err = one;
        failed = 1;
    }
    return failed ? err != NULL && err->code != 0 ? err->code : PARLEY_EIO : PARLEY_OK;
}

/* ---- history ---- */

static char *dup_text(sqlite3_stmt *st, int col, size_t *len)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    char *copy = malloc(n + 1);

    if (copy == NULL)
        return NULL;
    if (n > 0)
        memcpy(copy, s, n);
    copy[n] = '\0';
    *len = n;
    return copy;
}

static int read_row(sqlite3_stmt *st, sq_row *row)
{
    const unsigned char *id = sqlite3_column_text(st, 0);
    size_t id_len = (size_t)sqlite3_column_bytes(st, 0);

    memset(row, 0, sizeof *row);
    if (id_len > PARLEY_ID_LEN)
        id_len = PARLEY_ID_LEN;
    if (id != NULL)
        memcpy(row->id, id, id_len);
    row->room = dup_text(st, 1, &row->room_len);
    row->username = dup_text(st, 2, &row->username_len);
    row->content = dup_text(st, 3, &row->content_len);
    row->timestamp_ms = sqlite3_column_int64(st, 4);
    return row->room != NULL && row->username != NULL && row->content != NULL;
}

int sq_history(sq_reader *r, const char *room, size_t room_len, const char *before_id,
               uint32_t limit, sq_row **rows_out, size_t *n_out, int *has_more,
               parley_error *err)
{
    sqlite3_stmt *st = before_id != NULL ? r->page_before : r->page;
    sq_row *rows = NULL;
    size_t n = 0, cap = 0;
    int rc, status = PARLEY_OK;

    *rows_out = NULL;
    *n_out = 0;
    *has_more = 0;
    if (room_len > INT32_MAX)
        return parley_error_set(err, PARLEY_EINVAL, "sqlite: room name too long");
    rc = sqlite3_bind_text(st, 1, room, (int)room_len, SQLITE_STATIC);
    if (rc == SQLITE_OK && before_id != NULL)
        rc = sqlite3_bind_text(st, 2, before_id, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, before_id != NULL ? 3 : 2, (sqlite3_int64)limit + 1);
    if (rc != SQLITE_OK) {
        status = db_fail(err, r->db, rc, "reading history from", r->path);
        goto out;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == limit) {
            /* The extra row: an older message exists. */
            *has_more = 1;
            break;
        }
        if (n == cap) {
            size_t ncap = cap == 0 ? (limit < 64 ? limit : 64) : cap * 2;
            sq_row *grown = realloc(rows, ncap * sizeof *rows);

            if (grown == NULL) {
                status = parley_error_set(err, PARLEY_ENOMEM, "sqlite: out of memory reading history");
                goto out;
            }
            rows = grown;
            cap = ncap;
        }
        if (!read_row(st, &rows[n])) {
            n++;
            status = parley_error_set(err, PARLEY_ENOMEM, "sqlite: out of memory reading history");
            goto out;
        }
        n++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        status = db_fail(err, r->db, rc, "reading history from", r->path);
out:
    /* Resetting ends the read transaction, so checkpoints can proceed. */
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (status != PARLEY_OK) {
        sq_rows_free(rows, n);
        *has_more = 0;
        return status;
    }
    *rows_out = rows;
    *n_out = n;
    return PARLEY_OK;
}

/* ---- health ---- */

int sq_probe(sq_reader *r, const sq_writer *w, parley_error *err)
{
    struct stat st;
    struct statvfs vfs;
    int rc;

    if (stat(w->path, &st) != 0)
        return parley_error_set(err, PARLEY_EUNAVAIL, "sqlite: database file %s is gone: %s",
                                w->path, strerror(errno));
    if (st.st_dev != w->dev || st.st_ino != w->ino)
        return parley_error_set(err, PARLEY_EUNAVAIL,
                                "sqlite: database file %s was replaced by another file since it "
                                "was opened; restart the server",
                                w->path);
    if (statvfs(w->path, &vfs) == 0) {
        if (vfs.f_flag & ST_RDONLY)
            return parley_error_set(err, PARLEY_EUNAVAIL,
                                    "sqlite: the filesystem holding %s is mounted read-only",
                                    w->path);
        if (vfs.f_bavail == 0)
            return parley_error_set(err, PARLEY_EUNAVAIL,
                                    "sqlite: no space left on the filesystem holding %s", w->path);
    }
    rc = sqlite3_step(r->probe);
    sqlite3_reset(r->probe);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(err, r->db, rc, "reading", r->path);
    return PARLEY_OK;
}
