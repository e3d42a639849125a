/*
 * Message ids: 24 lowercase hex digits in MongoDB ObjectId layout.
 *
 *   bytes 0..3   Unix seconds, big-endian
 *   bytes 4..8   5 random bytes drawn once per process (getrandom)
 *   bytes 9..11  a counter, big-endian
 *
 * Ids are strictly increasing within a process, so comparing them as
 * strings orders messages (storage.h relies on it):
 * - the seconds field is max(last seconds, now): a clock that steps back
 *   never makes ids go back, they keep the last second and count on;
 * - each new second restarts the counter at the process's random start
 *   (below 2^23, so every second has at least 2^23 ids);
 * - when the counter would pass 2^24 - 1 within one second, the seconds
 *   field advances by one ("borrowed from the future") instead of wrapping.
 *
 * Loop thread only (no locking).
 */
#ifndef PARLEY__MSGID_H
#define PARLEY__MSGID_H

#include <stddef.h>
#include <stdint.h>

#include <parley/storage.h>

/* Draw the 5 random bytes and the counter start, once per process: later
 * calls do nothing (msgid_next calls it on first use). */
void parley__msgid_init(void);

/* Test hook: fix the random bytes and the counter start (any value below
 * 2^24) and forget the last id, for deterministic tests. rnd NULL forgets
 * everything, so the next msgid_init draws afresh. */
void parley__msgid_seed(const unsigned char rnd[5], uint32_t counter_start);

/* Write the next id (NUL-terminated) for the wall-clock time wall_ms. */
void parley__msgid_next(char out[PARLEY_ID_LEN + 1], int64_t wall_ms);

/* 1 when s[0..len) is exactly 24 lowercase hex digits (the canonical form,
 * the only one the host hands to storage), else 0. */
int parley__msgid_valid(const char *s, size_t len);

/* Accept 24 hex digits in either case (clients may upper-case a cursor)
 * and write the canonical lowercase form into out. 0, or -1 when s is not
 * 24 hex digits. */
int parley__msgid_normalize(const char *s, size_t len, char out[PARLEY_ID_LEN + 1]);

/* The Unix seconds of a valid id. */
int64_t parley__msgid_seconds(const char *id);

#endif /* PARLEY__MSGID_H */
