/*
 * The storage contract suite: what a case sees of the runner.
 *
 * The runner (runner.c) is a real Parley host in miniature: the host's
 * loop, worker pool, loader, config schema and API table, driving one
 * storage plugin .so directly through its vtable. Cases (cases.c) are
 * plain sequential C on the loop thread: each call below issues storage
 * operations and runs the loop until they complete or the case's deadline
 * passes. A case reports its first failure with ct_fail and returns -1.
 *
 * What the runner checks on every operation, in every case:
 * - each completion is called exactly once (a second call fails the case
 *   that is running when it arrives);
 * - an insert's message is freed and poisoned the moment its completion
 *   runs, so a plugin that touches it afterwards reads garbage (and trips
 *   AddressSanitizer in a sanitized build);
 * - completions may come from any thread (the runner copies results under
 *   a lock and wakes the loop, as the host does).
 */
#ifndef PARLEY_CONTRACT_H
#define PARLEY_CONTRACT_H

#include <stddef.h>
#include <stdint.h>

#include <parley/parley.h>

typedef struct ct_ctx ct_ctx;
typedef struct ct_store ct_store;   /* one started instance of the plugin */

/* A message as a history page returned it (copied). */
typedef struct ct_msg {
    uint32_t struct_size;
    char id[PARLEY_ID_LEN + 1];
    char *room;
    size_t room_len;
    char *username;
    size_t username_len;
    char *content;
    size_t content_len;
    int64_t timestamp_ms;
} ct_msg;

typedef struct ct_page {
    int status;
    char error[PARLEY_ERROR_MESSAGE_MAX];
    ct_msg *msgs;       /* oldest first, as the plugin returned them */
    size_t n;
    int has_more;
} ct_page;

/* An insert in flight, owned by the runner (valid until the run ends). */
typedef struct ct_insert ct_insert;

typedef struct ct_case {
    const char *name;
    const char *help;
    int (*run)(ct_ctx *c);
    int persistent_only;   /* runs only with --persistent */
} ct_case;

extern const ct_case ct_cases[];
extern const size_t ct_n_cases;

/* ---- failing ---- */

/* Record the case's first failure; returns -1. */
int ct_fail(ct_ctx *c, const char *fmt, ...) PARLEY_PRINTF(2, 3);

/* ---- names and ids ---- */

/* A room name unique to this run and case: "ct-<run>-<case>-<suffix>".
 * Owned by the runner. */
const char *ct_room(ct_ctx *c, const char *suffix);
/* The next host message id (strictly increasing). */
void ct_new_id(char out[PARLEY_ID_LEN + 1]);
/* The store the cases share (started once per run). */
ct_store *ct_shared(ct_ctx *c);

/* ---- operations ---- */

/*
 * Issue an insert without waiting. `id` NULL takes a fresh id. The runner
 * copies every string. Returns NULL (after ct_fail) only when out of memory.
 */
ct_insert *ct_insert_start(ct_ctx *c, ct_store *s, const char *room, const char *username,
                           const char *content, size_t content_len, const char *id);
/* Run the loop until every insert of `ins` has completed. 0 or -1 (timeout). */
int ct_wait_inserts(ct_ctx *c, ct_insert *const *ins, size_t n);
/* The insert's id, status (once completed) and error message. */
const char *ct_insert_id(const ct_insert *in);
int ct_insert_status(const ct_insert *in);
int64_t ct_insert_timestamp(const ct_insert *in);
const char *ct_insert_error(const ct_insert *in);
/* Insert and wait; returns the plugin's status, or -1000 on timeout. */
int ct_insert_sync(ct_ctx *c, ct_store *s, const char *room, const char *username,
                   const char *content, const char *id, char id_out[PARLEY_ID_LEN + 1]);

/*
 * Issue n inserts into `room` (contents "<tag> #<i>") all at once, wait
 * for all, and fail unless every one answered PARLEY_OK. ids[i] (n of
 * them, caller-sized) receives the ids in insertion order. 0 or -1.
 */
int ct_fill(ct_ctx *c, ct_store *s, const char *room, size_t n, const char *tag,
            char (*ids)[PARLEY_ID_LEN + 1]);

/* One history page; waits. Returns page->status or -1000 on timeout.
 * Free with ct_page_free. */
int ct_history(ct_ctx *c, ct_store *s, const char *room, const char *before_id,
               uint32_t limit, ct_page *page);
void ct_page_free(ct_page *page);

/* Issue a history query without waiting; ct_history_wait collects it. */
typedef struct ct_hist ct_hist;
ct_hist *ct_history_start(ct_ctx *c, ct_store *s, const char *room, const char *before_id,
                          uint32_t limit);
int ct_history_wait(ct_ctx *c, ct_hist *h, ct_page *page);

/* A health probe; waits. Returns the state (enum parley_storage_state),
 * or -1000 on timeout; msg (may be NULL) receives the error text. */
int ct_health(ct_ctx *c, ct_store *s, char *msg, size_t msg_size);

/* ---- instances ---- */

/* Load, create and start a fresh instance on the run's config. */
ct_store *ct_store_open(ct_ctx *c);
/* Stop it (waiting for done within the deadline) and destroy it. 0 or -1. */
int ct_store_close(ct_ctx *c, ct_store *s);
/*
 * Call stop and return at once; ct_store_stopped() reports whether done
 * has been called, ct_store_wait_stopped() runs the loop until it has.
 */
void ct_store_stop(ct_ctx *c, ct_store *s);
int ct_store_stopped(const ct_store *s);
int ct_store_wait_stopped(ct_ctx *c, ct_store *s);
/* The order in which completions arrived: a global sequence number of
 * ct_insert's first completion, and of a store's stop done. */
uint64_t ct_insert_seq(const ct_insert *in);
uint64_t ct_store_stop_seq(const ct_store *s);

#endif /* PARLEY_CONTRACT_H */
