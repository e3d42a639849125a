/*
 * Parley plugin SDK — chat messages and the storage plugin contract.
 *
 * A storage plugin persists messages and serves history pages. Every
 * operation is asynchronous: the host calls it on the loop thread, it must
 * return without blocking, and it reports the outcome through a callback
 * that may fire from any thread (the host moves completions onto the loop).
 * Blocking work goes to the host's worker pool (host.h `work`) or to the
 * plugin's own threads.
 *
 * Ordering: message ids are assigned by the host (24 lowercase hex digits,
 * MongoDB ObjectId layout: 4 bytes of Unix seconds, 5 random bytes, a 3-byte
 * counter) and are strictly increasing within a host process. Every backend
 * orders a room's messages by id; comparing ids as strings is correct.
 *
 * Idempotence: the host may insert the same id again (a retry after a lost
 * reply). A backend answers PARLEY_OK or PARLEY_EEXIST for it and never
 * stores a second copy.
 *
 * The storage contract suite (tests/contract, `parley-storage-contract`)
 * checks all of this against any storage plugin .so.
 */
#ifndef PARLEY_STORAGE_H
#define PARLEY_STORAGE_H

#include "abi.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PARLEY_ID_LEN 24   /* hex digits in a message id */

/*
 * A chat message. All strings are NUL-terminated UTF-8 without embedded
 * NULs (the host validates this) and carry their byte length too.
 * Since 1.0.
 */
typedef struct parley_message {
    uint32_t struct_size;          /* sizeof(parley_message), since 1.0 */
    char id[PARLEY_ID_LEN + 1];    /* lowercase hex ObjectId, since 1.0 */
    const char *room;              /* since 1.0 */
    size_t room_len;
    const char *username;          /* since 1.0 */
    size_t username_len;
    const char *content;           /* since 1.0 */
    size_t content_len;
    int64_t timestamp_ms;          /* Unix time in ms (UTC), assigned by the host, since 1.0 */
} parley_message;

/* Health of a storage backend. Since 1.0. */
enum parley_storage_state {
    PARLEY_STORAGE_CONNECTED = 1,
    PARLEY_STORAGE_DISCONNECTED = 2
};

/*
 * A history query: up to `limit` messages of `room` whose id is strictly
 * less than `before_id` (all messages when before_id is NULL), the newest
 * ones. Since 1.0.
 */
typedef struct parley_history_query {
    uint32_t struct_size;       /* since 1.0 */
    const char *room;           /* since 1.0 */
    size_t room_len;
    const char *before_id;      /* NULL, or PARLEY_ID_LEN lowercase hex digits, NUL-terminated, since 1.0 */
    uint32_t limit;             /* 1..host history cap, since 1.0 */
} parley_history_query;

/*
 * Completion of an insert. status: PARLEY_OK (stored durably, as durable as
 * the backend's configuration promises), PARLEY_EEXIST (that id was already
 * stored: the host treats it as success), PARLEY_EUNAVAIL (backend down),
 * PARLEY_ETIMEDOUT, PARLEY_EIO, ... `err` may be NULL on success and is
 * only valid during the call. Any thread. Call it exactly once.
 */
typedef void (*parley_insert_done)(void *cb_arg, int status, const parley_error *err);

/*
 * Completion of a history query: `n` messages, oldest first (ascending
 * id), and `has_more` set when older messages exist before msgs[0]. The
 * messages and their strings are only valid during the call. Any thread.
 * Call it exactly once.
 */
typedef void (*parley_history_done)(void *cb_arg, int status, const parley_message *msgs,
                                    size_t n, int has_more, const parley_error *err);

/* Completion of a health probe: a parley_storage_state. Any thread. Once. */
typedef void (*parley_health_done)(void *cb_arg, int state, const parley_error *err);

/*
 * What a storage plugin provides (descriptor.vtable when kind is
 * PARLEY_PLUGIN_STORAGE). All three slots are required. Since 1.0.
 */
typedef struct parley_storage_vtable {
    uint32_t struct_size;   /* sizeof(parley_storage_vtable), since 1.0 */

    /*
     * Persist one message. `msg` and its strings stay valid until `done`
     * has been called. Inserts that arrive while a write is in flight
     * should be committed together (group commit). Loop thread; must not
     * block. A plugin that cannot take the message now completes it with
     * an error; it never drops it silently.
     */
    void (*insert)(void *instance, const parley_message *msg,
                   parley_insert_done done, void *cb_arg);

    /* Serve one history page. `query` is valid only during the call (copy
     * what you keep). Loop thread; must not block. */
    void (*history)(void *instance, const parley_history_query *query,
                    parley_history_done done, void *cb_arg);

    /* Probe the backend. The host calls it on a timer and caches the state
     * for /health. Loop thread; must not block. */
    void (*health)(void *instance, parley_health_done done, void *cb_arg);
} parley_storage_vtable;

#ifdef __cplusplus
}
#endif

#endif /* PARLEY_STORAGE_H */
