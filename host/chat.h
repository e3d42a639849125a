/*
 * The chat core: rooms, sessions, presence, and persist-then-broadcast.
 *
 * A session belongs to the transport whose `parley_host *` opened it
 * (host->transport, host->instance). A room holds its members grouped by
 * transport, so each broadcast is encoded once per transport and the frame
 * shared by every member of that transport: for each group with at least
 * one recipient, frame = encode(instance, &ev); deliver(instance, ctx,
 * frame) per recipient; frame_release(frame).
 *
 * Events: a message goes to everyone in the room, its sender included;
 * user-joined, user-left and typing go to everyone but the acting session.
 *
 * Re-entrancy: a deliver callback may close or add sessions, join or
 * leave rooms. A broadcast goes to the members present when it started;
 * a member that leaves meanwhile is skipped (its slot is tombstoned and
 * swept once the room's outermost broadcast ends), one that joins
 * meanwhile gets only later events. session_close called again on a
 * session that is already closing is a no-op.
 *
 * Posting: validate, assign the id (msgid) and timestamp, store through
 * the storage queue, and only once storage confirmed it broadcast to the
 * room and call done(arg, 0, &msg). On failure done gets the status and
 * "message not stored: <what> (<storage's words>)", nothing is broadcast.
 * done is always called exactly once when chat_post returned 0, also when
 * the posting session closed meanwhile (the message, being stored, is
 * still broadcast): what `arg` points to is the caller's business.
 *
 * Metrics: parley_messages_posted_total, parley_messages_rejected_total
 * {reason="invalid"|"not_joined"|"storage"|"shutdown"}, parley_rooms,
 * parley_sessions, parley_deliveries_total.
 *
 * Loop thread only.
 */
#ifndef PARLEY__CHAT_H
#define PARLEY__CHAT_H

#include <parley/parley.h>

#include "validate.h"

struct parley__chat_options {
    const char *default_room;        /* copied */
    unsigned history_limit;          /* default page size (and on join) */
    unsigned history_max;            /* the largest page */
    unsigned max_rooms_per_session;
    struct parley__chat_limits limits;
};

int parley__chat_init(const struct parley__chat_options *o, parley_error *err);
/* SIGHUP: validated like init; on success new limits and defaults apply to
 * new requests; on failure nothing changes. */
int parley__chat_reconfigure(const struct parley__chat_options *o, parley_error *err);
/* From now on chat_post fails with PARLEY_ESHUTDOWN; sessions still close
 * normally (and their user-left still goes out). */
void parley__chat_shutdown(void);
/* Free every room and every session still open, and the posts and history
 * calls storage never answered (their done is not called: the transports
 * are gone). Call after the transports were destroyed and after
 * parley__storage_queue_free. */
void parley__chat_free(void);

/* Counts, for tests and /health. */
size_t parley__chat_room_count(void);
size_t parley__chat_session_count(void);
/* Members of `room` (NUL-terminated), 0 when it does not exist. */
size_t parley__chat_room_members(const char *room);

/* SDK functions (host.h). */
const char *parley__chat_default_room(parley_host *host);
uint32_t parley__chat_history_limit(parley_host *host);
int parley__chat_storage_state(parley_host *host);
int parley__chat_post(parley_host *host, const parley_post *post, parley_post_done done,
                      void *arg, parley_error *err);
int parley__chat_history(parley_host *host, const char *room, const char *before_id,
                         uint32_t limit, parley_page_done done, void *arg, parley_error *err);
parley_session *parley__session_open(parley_host *host, void *session_ctx, parley_error *err);
void parley__session_close(parley_session *session);
int parley__session_join(parley_session *session, const char *room, const char *username,
                         parley_error *err);
int parley__session_leave(parley_session *session, const char *room, parley_error *err);
int parley__session_typing(parley_session *session, const char *room, int is_typing,
                           parley_error *err);
const char *parley__session_username(const parley_session *session, const char *room);

#endif /* PARLEY__CHAT_H */
