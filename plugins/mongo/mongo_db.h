/*
 * The MongoDB side of the mongo storage plugin: the client pool, the
 * schema, group commit, history pages and the ping. Nothing here knows
 * about the loop: every function except mg_db_init and mg_status_name may
 * block and runs on a host worker thread. Each call pops its own client
 * from the pool and pushes it back before it returns; the plugin keeps at
 * most pool_size calls running, so a pop never waits for another call.
 */
#ifndef PARLEY_MONGO_DB_H
#define PARLEY_MONGO_DB_H

#include <stddef.h>
#include <stdint.h>

#include <mongoc/mongoc.h>

#include <parley/parley.h>

#include "page.h"

/* What the config asked for (mongo.c fills it from the plugin's keys). */
typedef struct mg_options {
    const char *uri;
    const char *database;              /* "" : the URI's database, else "parley" */
    const char *collection;
    int64_t server_selection_timeout_ms;
    int64_t connect_timeout_ms;
    int64_t socket_timeout_ms;
    int64_t heartbeat_ms;
    /* Each of these applies unless the URI spells out the same option. */
    const char *write_concern;         /* "majority", "1", "2", ... */
    int journal;                       /* j: true */
    int64_t wtimeout_ms;
    int64_t pool_size;
} mg_options;

typedef struct mg_db {
    mongoc_uri_t *uri;
    mongoc_client_pool_t *pool;        /* NULL until mg_db_open */
    mongoc_write_concern_t *wc;
    char *database;
    char *collection;
    char *hosts;                       /* "127.0.0.1:27017,..." for messages (no credentials) */
    char *default_room;                /* documents without `room` belong to it */
    size_t default_room_len;
    int64_t selection_ms;
    int indexed;                       /* the {room: 1, _id: -1} index exists */
} mg_db;

/* One insert of a batch: the message and, after mg_commit, its outcome. */
typedef struct mg_item {
    const parley_message *msg;
    int status;                        /* PARLEY_OK, PARLEY_EEXIST or a failure */
    int unavailable;                   /* failed because the server is not reachable */
} mg_item;

/* A document read by mg_history, owned by the caller (mg_rows_free). */
typedef struct plugin_row mg_row;

/*
 * Parse and check the URI and the options, no I/O (any thread). The URI
 * and every message mention the hosts, never the credentials.
 */
int mg_db_init(mg_db *db, const mg_options *opt, const char *default_room, parley_error *err);

/* Documents without `room` belong to `room` (the host's default room). */
int mg_db_set_default_room(mg_db *db, const char *room, parley_error *err);

/* Create the client pool (an SRV URI resolves here: it may block). */
int mg_db_open(mg_db *db, parley_error *err);

/* Create the history index if it is not there yet (idempotent).
 * PARLEY_EUNAVAIL: no server, try again later. PARLEY_EIO: the server
 * refused it; db->indexed is set all the same (asking again will not help). */
int mg_ensure_index(mg_db *db, parley_error *err);

/*
 * Insert `n` messages as one ordered bulk write (group commit). Each
 * item's status says what happened to it: PARLEY_OK, PARLEY_EEXIST (the id
 * was already stored: duplicate key 11000 on _id), or a failure. A
 * document the server refuses on its own fails alone; the rest of the
 * batch is written after it. Returns PARLEY_OK when every item has an
 * outcome from the server, else the failure that stopped the batch (err
 * says why; the items it left carry it).
 */
int mg_commit(mg_db *db, mg_item *items, size_t n, parley_error *err);

/*
 * Read up to `limit` of the newest messages of a room older than
 * `before_id` (NULL: all), newest first, into a fresh array; *has_more is
 * set when older ones exist. Documents without a room are the default
 * room's.
 */
int mg_history(mg_db *db, const char *room, size_t room_len, const char *before_id,
               uint32_t limit, mg_row **rows, size_t *n_rows, int *has_more, parley_error *err);
#define mg_rows_free plugin_rows_free

/* {ping: 1} to the server the writes go to. */
int mg_ping(mg_db *db, parley_error *err);

/* Destroy the pool (joins the monitor threads; may talk to the server). */
void mg_db_close(mg_db *db);
/* Free what mg_db_init allocated (after mg_db_close). */
void mg_db_free(mg_db *db);

/* The PARLEY_E* code for a driver or server error. */
int mg_status(const bson_error_t *e);
/* Non-zero when the error means "no server to talk to" (not one document's fault). */
int mg_is_unavailable(const bson_error_t *e);

/* Route the driver's log into the host's (mongo.c calls these). */
void mg_log_attach(const parley_host_api *api, parley_host *host);
void mg_log_detach(parley_host *host);

#endif /* PARLEY_MONGO_DB_H */
