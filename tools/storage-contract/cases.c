/*
 * The cases of the storage contract suite. Each one uses rooms of its own
 * (ct_room), so cases never see each other's messages, and a rerun against
 * the same database never sees an earlier run's.
 *
 * What they hold a plugin to is storage.h, read strictly:
 * - a page holds min(limit, messages older than the cursor) messages, the
 *   newest ones, oldest first; has_more is set exactly when older ones exist;
 * - every field comes back byte for byte;
 * - an id is stored once however often it is inserted;
 * - stop completes every insert it accepted before it reports done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"

typedef char ct_id[PARLEY_ID_LEN + 1];

/* ---- checks ---- */

static int page_ok(ct_ctx *c, int rc, const ct_page *p, const char *what)
{
    if (rc == -1000)
        return -1;
    if (rc != PARLEY_OK)
        return ct_fail(c, "%s: history answered %s: %s", what, parley_status_name(rc), p->error);
    return 0;
}

static int same_bytes(const char *a, size_t a_len, const char *b, size_t b_len)
{
    return a != NULL && a_len == b_len && memcmp(a, b, a_len) == 0;
}

/* Every field of m equal to what was inserted. */
static int check_msg(ct_ctx *c, const ct_msg *m, const char *id, const char *room,
                     const char *username, const char *content, size_t content_len,
                     int64_t ts, const char *what)
{
    if (m->struct_size < sizeof(parley_message))
        return ct_fail(c, "%s: message %s has struct_size %u, expected at least %zu", what,
                       m->id, m->struct_size, sizeof(parley_message));
    if (strcmp(m->id, id) != 0)
        return ct_fail(c, "%s: id is %s, expected %s", what, m->id, id);
    if (!same_bytes(m->room, m->room_len, room, strlen(room)))
        return ct_fail(c, "%s: message %s: room is \"%.80s\" (%zu bytes), expected \"%.80s\" (%zu bytes)",
                       what, id, m->room ? m->room : "(null)", m->room_len, room, strlen(room));
    if (!same_bytes(m->username, m->username_len, username, strlen(username)))
        return ct_fail(c, "%s: message %s: username is \"%.80s\" (%zu bytes), expected \"%.80s\" (%zu bytes)",
                       what, id, m->username ? m->username : "(null)", m->username_len,
                       username, strlen(username));
    if (!same_bytes(m->content, m->content_len, content, content_len)) {
        size_t i = 0;

        while (m->content != NULL && i < m->content_len && i < content_len &&
               m->content[i] == content[i])
            i++;
        return ct_fail(c, "%s: message %s: content differs at byte %zu (%zu bytes back, %zu sent): \"%.60s\"",
                       what, id, i, m->content_len, content_len,
                       m->content != NULL ? m->content + (i < m->content_len ? i : 0) : "(null)");
    }
    if (m->timestamp_ms != ts)
        return ct_fail(c, "%s: message %s: timestamp_ms is %lld, expected %lld", what, id,
                       (long long)m->timestamp_ms, (long long)ts);
    return 0;
}

/* Index of id in ids[0..n), or -1. */
static long find_id(const ct_id *ids, size_t n, const char *id)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(ids[i], id) == 0)
            return (long)i;
    return -1;
}

/*
 * Page through `room` from the newest message down with `limit` and check
 * that the pages put together are exactly ids[0..n) (oldest first): no
 * overlap, no gap, each page full but the last, oldest first within a
 * page, has_more set on every page but the last. With `tag`, contents
 * must be ct_fill's "<tag> #<i>".
 */
static int walk(ct_ctx *c, ct_store *s, const char *room, const ct_id *ids, size_t n,
                uint32_t limit, const char *tag)
{
    char before[PARLEY_ID_LEN + 1] = "";
    size_t remaining = n;
    unsigned page_no = 0;
    char what[96];

    for (;;) {
        ct_page p;
        size_t expect_n = remaining < limit ? remaining : limit;
        size_t j;
        int rc;

        page_no++;
        snprintf(what, sizeof what, "limit %u, page %u", limit, page_no);
        rc = ct_history(c, s, room, before[0] ? before : NULL, limit, &p);
        if (page_ok(c, rc, &p, what) != 0)
            return -1;
        if (p.n > limit) {
            ct_page_free(&p);
            return ct_fail(c, "%s: %zu messages, more than the limit", what, p.n);
        }
        for (j = 1; j < p.n; j++) {
            if (strcmp(p.msgs[j - 1].id, p.msgs[j].id) >= 0) {
                ct_fail(c, "%s: not oldest first: %s comes after %s", what, p.msgs[j].id,
                        p.msgs[j - 1].id);
                ct_page_free(&p);
                return -1;
            }
        }
        for (j = 0; j < p.n; j++) {
            const char *got = p.msgs[j].id;
            long at;

            if (j < expect_n && strcmp(got, ids[remaining - expect_n + j]) == 0)
                continue;
            at = find_id(ids, n, got);
            if (at < 0)
                ct_fail(c, "%s: holds %s, which was never inserted into this room", what, got);
            else if ((size_t)at >= remaining)
                ct_fail(c, "%s overlaps page %u at id %s (message %ld of %zu)", what,
                        page_no - 1, got, at + 1, n);
            else if (j >= expect_n)
                ct_fail(c, "%s: %zu messages where %zu were expected", what, p.n, expect_n);
            else
                ct_fail(c, "%s: gap: holds %s (message %ld of %zu) where %s (message %zu) was expected",
                        what, got, at + 1, n, ids[remaining - expect_n + j],
                        remaining - expect_n + j + 1);
            ct_page_free(&p);
            return -1;
        }
        if (p.n != expect_n) {
            ct_fail(c, "%s: %zu messages, expected %zu (%zu older than the cursor remain)", what,
                    p.n, expect_n, remaining);
            ct_page_free(&p);
            return -1;
        }
        if (tag != NULL) {
            for (j = 0; j < p.n; j++) {
                char content[128];
                size_t idx = remaining - expect_n + j;

                snprintf(content, sizeof content, "%s #%zu", tag, idx);
                if (!same_bytes(p.msgs[j].content, p.msgs[j].content_len, content, strlen(content)) ||
                    !same_bytes(p.msgs[j].room, p.msgs[j].room_len, room, strlen(room))) {
                    ct_fail(c, "%s: message %s holds \"%.60s\" in room \"%.60s\", expected \"%s\"",
                            what, p.msgs[j].id, p.msgs[j].content ? p.msgs[j].content : "(null)",
                            p.msgs[j].room ? p.msgs[j].room : "(null)", content);
                    ct_page_free(&p);
                    return -1;
                }
            }
        }
        remaining -= p.n;
        if (p.has_more != (remaining > 0)) {
            ct_fail(c, "%s: has_more is %d with %zu older message(s) left", what, p.has_more,
                    remaining);
            ct_page_free(&p);
            return -1;
        }
        if (p.n > 0)
            memcpy(before, p.msgs[0].id, sizeof before);
        ct_page_free(&p);
        if (remaining == 0)
            return 0;
    }
}

/* p equals ids[from..from+count), with has_more as given. Frees p. */
static int check_page(ct_ctx *c, ct_page *p, const ct_id *ids, size_t from, size_t count,
                      int has_more, const char *what)
{
    size_t j;
    int rc = 0;

    if (p->n != count)
        rc = ct_fail(c, "%s: %zu messages, expected %zu", what, p->n, count);
    for (j = 0; rc == 0 && j < count; j++)
        if (strcmp(p->msgs[j].id, ids[from + j]) != 0)
            rc = ct_fail(c, "%s: message %zu is %s, expected %s", what, j + 1, p->msgs[j].id,
                         ids[from + j]);
    if (rc == 0 && p->has_more != has_more)
        rc = ct_fail(c, "%s: has_more is %d, expected %d", what, p->has_more, has_more);
    ct_page_free(p);
    return rc;
}

/* One page equal to ids[from..from+count), with has_more as given. */
static int expect_page(ct_ctx *c, ct_store *s, const char *room, const char *before,
                       uint32_t limit, const ct_id *ids, size_t from, size_t count,
                       int has_more, const char *what)
{
    ct_page p;
    int rc = ct_history(c, s, room, before, limit, &p);

    if (page_ok(c, rc, &p, what) != 0)
        return -1;
    return check_page(c, &p, ids, from, count, has_more, what);
}

/* ---- cases ---- */

static int case_insert_history(ct_ctx *c)
{
    ct_store *s = ct_shared(c);
    const char *room = ct_room(c, "");
    const char *content = "hello, contract";
    ct_insert *in = ct_insert_start(c, s, room, "alice", content, strlen(content), NULL);
    ct_page p;
    int rc;

    if (in == NULL || ct_wait_inserts(c, &in, 1) != 0)
        return -1;
    if (ct_insert_status(in) != PARLEY_OK)
        return ct_fail(c, "insert answered %s: %s", parley_status_name(ct_insert_status(in)),
                       ct_insert_error(in));
    rc = ct_history(c, s, room, NULL, 10, &p);
    if (page_ok(c, rc, &p, "history") != 0)
        return -1;
    if (p.n != 1 || p.has_more != 0) {
        ct_fail(c, "history holds %zu message(s), has_more %d; expected 1, 0", p.n, p.has_more);
        ct_page_free(&p);
        return -1;
    }
    rc = check_msg(c, &p.msgs[0], ct_insert_id(in), room, "alice", content, strlen(content),
                   ct_insert_timestamp(in), "history");
    ct_page_free(&p);
    return rc;
}

static int case_ordering(ct_ctx *c)
{
    enum { N = 1000 };
    ct_id *ids = calloc(N, sizeof *ids);
    const char *room = ct_room(c, "");
    int rc;

    if (ids == NULL)
        return ct_fail(c, "out of memory");
    /* All 1000 are issued before the loop runs once: all in flight at
     * once, so a group-committing plugin batches them. */
    rc = ct_fill(c, ct_shared(c), room, N, "ordering", ids);
    if (rc == 0)
        rc = walk(c, ct_shared(c), room, (const ct_id *)ids, N, 100, "ordering");
    free(ids);
    return rc;
}

static int case_paging(ct_ctx *c)
{
    enum { N = 250 };
    static const uint32_t limits[] = { 7, 50, 1, 249, 250, 251 };
    ct_id *ids = calloc(N, sizeof *ids);
    const char *room = ct_room(c, "");
    size_t i;
    int rc;

    if (ids == NULL)
        return ct_fail(c, "out of memory");
    rc = ct_fill(c, ct_shared(c), room, N, "paging", ids);
    for (i = 0; rc == 0 && i < sizeof limits / sizeof limits[0]; i++)
        rc = walk(c, ct_shared(c), room, (const ct_id *)ids, N, limits[i], "paging");
    free(ids);
    return rc;
}

static int case_before_id_not_in_room(ct_ctx *c)
{
    ct_store *s = ct_shared(c);
    const char *room = ct_room(c, "a"), *other = ct_room(c, "b");
    ct_id older, a[4], gap, b, newer;
    int rc;

    ct_new_id(older);
    rc = ct_fill(c, s, room, 2, "a", a);
    ct_new_id(gap);                                   /* never inserted */
    if (rc == 0 && ct_insert_sync(c, s, other, "bob", "elsewhere", NULL, b) != PARLEY_OK)
        rc = ct_fail(c, "insert into the other room failed");
    if (rc == 0)
        rc = ct_fill(c, s, room, 2, "a2", a + 2);
    ct_new_id(newer);
    if (rc == 0)
        rc = expect_page(c, s, room, gap, 10, (const ct_id *)a, 0, 2, 0,
                         "before an id between messages, never inserted");
    if (rc == 0)
        rc = expect_page(c, s, room, gap, 1, (const ct_id *)a, 1, 1, 1,
                         "before an id between messages, limit 1");
    if (rc == 0)
        rc = expect_page(c, s, room, b, 10, (const ct_id *)a, 0, 2, 0,
                         "before an id of another room");
    if (rc == 0)
        rc = expect_page(c, s, room, older, 10, (const ct_id *)a, 0, 0, 0,
                         "before an id older than every message");
    if (rc == 0)
        rc = expect_page(c, s, room, newer, 10, (const ct_id *)a, 0, 4, 0,
                         "before an id newer than every message");
    if (rc == 0)
        rc = expect_page(c, s, room, a[2], 10, (const ct_id *)a, 0, 2, 0,
                         "before a message of the room (strictly older)");
    return rc;
}

static int case_unknown_room(ct_ctx *c)
{
    const char *room = ct_room(c, "never-written");
    ct_id cursor;
    int rc;

    rc = expect_page(c, ct_shared(c), room, NULL, 50, NULL, 0, 0, 0, "unknown room");
    ct_new_id(cursor);
    if (rc == 0)
        rc = expect_page(c, ct_shared(c), room, cursor, 50, NULL, 0, 0, 0,
                         "unknown room with a cursor");
    return rc;
}

static int case_limit_one(ct_ctx *c)
{
    const char *room = ct_room(c, "");
    ct_id ids[3];
    int rc = ct_fill(c, ct_shared(c), room, 3, "one", ids);

    if (rc == 0)
        rc = expect_page(c, ct_shared(c), room, NULL, 1, (const ct_id *)ids, 2, 1, 1,
                         "limit 1, newest page");
    if (rc == 0)
        rc = walk(c, ct_shared(c), room, (const ct_id *)ids, 3, 1, "one");
    return rc;
}

static int case_limit_larger_than_room(ct_ctx *c)
{
    const char *room = ct_room(c, "");
    ct_id ids[5];
    int rc = ct_fill(c, ct_shared(c), room, 5, "small", ids);

    if (rc == 0)
        rc = expect_page(c, ct_shared(c), room, NULL, 200, (const ct_id *)ids, 0, 5, 0,
                         "limit 200 on 5 messages");
    if (rc == 0)
        rc = expect_page(c, ct_shared(c), room, NULL, 5, (const ct_id *)ids, 0, 5, 0,
                         "limit 5 on 5 messages");
    if (rc == 0)
        rc = expect_page(c, ct_shared(c), room, NULL, 4, (const ct_id *)ids, 1, 4, 1,
                         "limit 4 on 5 messages");
    return rc;
}

static int reinsert_ok(ct_ctx *c, int st, const char *id, const char *what)
{
    if (st == -1000)
        return -1;
    if (st != PARLEY_OK && st != PARLEY_EEXIST)
        return ct_fail(c, "%s of %s answered %s, expected OK or EEXIST", what, id,
                       parley_status_name(st));
    return 0;
}

static int case_idempotent_reinsert(ct_ctx *c)
{
    ct_store *s = ct_shared(c);
    const char *room = ct_room(c, "");
    ct_id ids[3];
    ct_insert *pair[2];
    int st, rc;

    st = ct_insert_sync(c, s, room, "carol", "once", NULL, ids[0]);
    if (st == -1000)
        return -1;
    if (st != PARLEY_OK)
        return ct_fail(c, "first insert of %s answered %s, expected OK", ids[0],
                       parley_status_name(st));
    rc = reinsert_ok(c, ct_insert_sync(c, s, room, "carol", "once", ids[0], NULL), ids[0],
                     "re-insert");
    /* Two copies of one new id in flight together: one transaction, maybe. */
    ct_new_id(ids[1]);
    if (rc == 0) {
        pair[0] = ct_insert_start(c, s, room, "carol", "twice", 5, ids[1]);
        pair[1] = ct_insert_start(c, s, room, "carol", "twice", 5, ids[1]);
        if (pair[0] == NULL || pair[1] == NULL || ct_wait_inserts(c, pair, 2) != 0)
            return -1;
        rc = reinsert_ok(c, ct_insert_status(pair[0]), ids[1], "concurrent insert");
        if (rc == 0)
            rc = reinsert_ok(c, ct_insert_status(pair[1]), ids[1], "concurrent insert");
        if (rc == 0 && ct_insert_status(pair[0]) == PARLEY_EEXIST &&
            ct_insert_status(pair[1]) == PARLEY_EEXIST)
            rc = ct_fail(c, "both concurrent inserts of new id %s answered EEXIST", ids[1]);
    }
    /* A late retry of the first, after a newer message. */
    if (rc == 0 && ct_insert_sync(c, s, room, "carol", "later", NULL, ids[2]) != PARLEY_OK)
        rc = ct_fail(c, "insert of a third message failed");
    if (rc == 0)
        rc = reinsert_ok(c, ct_insert_sync(c, s, room, "carol", "once", ids[0], NULL), ids[0],
                         "late re-insert");
    if (rc == 0)
        rc = expect_page(c, s, room, NULL, 50, (const ct_id *)ids, 0, 3, 0,
                         "history after re-inserts");
    return rc;
}

static int case_special_strings(ct_ctx *c)
{
    static const char *const contents[] = {
        "it's \"quoted\" and 'single' and `back`",
        "100% _wild_ %_% LIKE 'a%' ESCAPE '\\'",
        "back\\slash \\\\ \\n \\0 \\x41",
        "emoji \xF0\x9F\x98\x80\xF0\x9F\x8E\x89 na\xC3\xAFve \xC3\xBC \xE6\xBC\xA2\xE5\xAD\x97",
        "'); DROP TABLE messages; --",
        "line\nbreak\ttab\rreturn",
        "{\"json\": [1, 2, {\"$where\": \"1\"}]}",
        " leading and trailing spaces ",
    };
    enum { N = sizeof contents / sizeof contents[0] };
    ct_store *s = ct_shared(c);
    const char *room = ct_room(c, "100%_'\"\\ \xF0\x9F\x98\x80");
    const char *user = "d\xC3\xA1ve \"O'Brien\" \\ % _";
    const size_t big_len = 64 * 1024;
    char *big = malloc(big_len + 1);
    ct_insert *ins[N + 1];
    ct_page p;
    size_t i;
    int rc = 0;

    if (big == NULL)
        return ct_fail(c, "out of memory");
    for (i = 0; i < big_len; i++)
        big[i] = (char)('a' + (i * 7 + i / 26) % 26);
    memcpy(big, "64KiB:", 6);
    big[big_len - 1] = 'Z';
    big[big_len] = '\0';
    for (i = 0; i < N; i++)
        ins[i] = ct_insert_start(c, s, room, user, contents[i], strlen(contents[i]), NULL);
    ins[N] = ct_insert_start(c, s, room, user, big, big_len, NULL);
    for (i = 0; i <= N; i++)
        if (ins[i] == NULL)
            rc = -1;
    if (rc == 0)
        rc = ct_wait_inserts(c, ins, N + 1);
    for (i = 0; rc == 0 && i <= N; i++)
        if (ct_insert_status(ins[i]) != PARLEY_OK)
            rc = ct_fail(c, "insert of %s answered %s: %s", i == N ? "64 KiB content" : contents[i],
                         parley_status_name(ct_insert_status(ins[i])), ct_insert_error(ins[i]));
    if (rc == 0)
        rc = page_ok(c, ct_history(c, s, room, NULL, 50, &p), &p, "history");
    if (rc != 0) {
        free(big);
        return -1;
    }
    if (p.n != N + 1)
        rc = ct_fail(c, "history holds %zu messages, expected %d", p.n, N + 1);
    for (i = 0; rc == 0 && i <= N; i++)
        rc = check_msg(c, &p.msgs[i], ct_insert_id(ins[i]), room, user,
                       i == N ? big : contents[i], i == N ? big_len : strlen(contents[i]),
                       ct_insert_timestamp(ins[i]), i == N ? "64 KiB content" : contents[i]);
    ct_page_free(&p);
    free(big);
    if (rc != 0)
        return rc;

    /* LIKE wildcards in room names are not wildcards. */
    {
        const char *under = ct_room(c, "a_c"), *pct = ct_room(c, "x%");

        if (ct_insert_sync(c, s, under, "u", "underscore", NULL, NULL) != PARLEY_OK ||
            ct_insert_sync(c, s, pct, "u", "percent", NULL, NULL) != PARLEY_OK)
            return ct_fail(c, "insert into a room with a wildcard in its name failed");
        rc = expect_page(c, s, ct_room(c, "abc"), NULL, 10, NULL, 0, 0, 0,
                         "room a_c matched by abc");
        if (rc == 0)
            rc = expect_page(c, s, ct_room(c, "xyz"), NULL, 10, NULL, 0, 0, 0,
                             "room x% matched by xyz");
        if (rc == 0)
            rc = expect_page(c, s, ct_room(c, "x"), NULL, 10, NULL, 0, 0, 0,
                             "room x% matched by x");
    }
    return rc;
}

static int case_rooms_differ_by_case(ct_ctx *c)
{
    static const char *const names[] = { "Room", "room", "ROOM" };
    ct_store *s = ct_shared(c);
    ct_id ids[3][3];
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && i < 3; i++)
        rc = ct_fill(c, s, ct_room(c, names[i]), i + 1, names[i], ids[i]);
    for (i = 0; rc == 0 && i < 3; i++) {
        char what[64];

        snprintf(what, sizeof what, "room \"%s\"", names[i]);
        rc = expect_page(c, s, ct_room(c, names[i]), NULL, 50, (const ct_id *)ids[i], 0, i + 1,
                         0, what);
    }
    return rc;
}

static int case_concurrent_rooms(ct_ctx *c)
{
    enum { ROOMS = 10, PER = 50 };
    ct_store *s = ct_shared(c);
    const char *rooms[ROOMS];
    ct_insert **ins = calloc(ROOMS * PER, sizeof *ins);
    ct_id (*ids)[PER] = calloc(ROOMS, sizeof *ids);
    size_t i;
    int rc = 0;

    if (ins == NULL || ids == NULL) {
        free(ins);
        free(ids);
        return ct_fail(c, "out of memory");
    }
    for (i = 0; i < ROOMS; i++) {
        char suffix[16];

        snprintf(suffix, sizeof suffix, "r%zu", i);
        rooms[i] = ct_room(c, suffix);
    }
    /* Interleaved across rooms, all in flight at once. */
    for (i = 0; rc == 0 && i < ROOMS * PER; i++) {
        char content[64];

        snprintf(content, sizeof content, "%s #%zu", rooms[i % ROOMS], i / ROOMS);
        ins[i] = ct_insert_start(c, s, rooms[i % ROOMS], "contract", content, strlen(content),
                                 NULL);
        if (ins[i] == NULL)
            rc = -1;
        else
            memcpy(ids[i % ROOMS][i / ROOMS], ct_insert_id(ins[i]), PARLEY_ID_LEN + 1);
    }
    if (rc == 0)
        rc = ct_wait_inserts(c, ins, ROOMS * PER);
    for (i = 0; rc == 0 && i < ROOMS * PER; i++)
        if (ct_insert_status(ins[i]) != PARLEY_OK)
            rc = ct_fail(c, "insert %s answered %s: %s", ct_insert_id(ins[i]),
                         parley_status_name(ct_insert_status(ins[i])), ct_insert_error(ins[i]));
    for (i = 0; rc == 0 && i < ROOMS; i++)
        rc = walk(c, s, rooms[i], (const ct_id *)ids[i], PER, 20, rooms[i]);
    free(ins);
    free(ids);
    return rc;
}

static int case_history_while_writing(ct_ctx *c)
{
    enum { N = 300, READS = 5 };
    ct_store *s = ct_shared(c);
    const char *room = ct_room(c, "");
    ct_insert **ins = calloc(N, sizeof *ins);
    ct_id *ids = calloc(N, sizeof *ids);
    ct_hist *h[READS];
    size_t i, j;
    int rc = 0;

    if (ins == NULL || ids == NULL) {
        free(ins);
        free(ids);
        return ct_fail(c, "out of memory");
    }
    for (i = 0; rc == 0 && i < N; i++) {
        char content[32];

        snprintf(content, sizeof content, "busy #%zu", i);
        ins[i] = ct_insert_start(c, s, room, "contract", content, strlen(content), NULL);
        if (ins[i] == NULL)
            rc = -1;
        else
            memcpy(ids[i], ct_insert_id(ins[i]), sizeof ids[i]);
        if (i % (N / READS) == N / READS - 1)
            h[i / (N / READS)] = ct_history_start(c, s, room, NULL, 200);
    }
    /* Each page read mid-write is some set of stored messages, in order. */
    for (j = 0; rc == 0 && j < READS; j++) {
        ct_page p;

        rc = page_ok(c, ct_history_wait(c, h[j], &p), &p, "history while writing");
        for (i = 0; rc == 0 && i < p.n; i++) {
            if (find_id(ids, N, p.msgs[i].id) < 0)
                rc = ct_fail(c, "a page read while writing holds %s, never inserted here",
                             p.msgs[i].id);
            else if (i > 0 && strcmp(p.msgs[i - 1].id, p.msgs[i].id) >= 0)
                rc = ct_fail(c, "a page read while writing is not oldest first at %s",
                             p.msgs[i].id);
        }
        ct_page_free(&p);
    }
    if (rc == 0)
        rc = ct_wait_inserts(c, ins, N);
    for (i = 0; rc == 0 && i < N; i++)
        if (ct_insert_status(ins[i]) != PARLEY_OK)
            rc = ct_fail(c, "insert %s answered %s: %s", ct_insert_id(ins[i]),
                         parley_status_name(ct_insert_status(ins[i])), ct_insert_error(ins[i]));
    if (rc == 0)
        rc = walk(c, s, room, (const ct_id *)ids, N, 200, "busy");
    free(ins);
    free(ids);
    return rc;
}

/* The page a query of the concurrent_reads case must return. */
struct read_ask {
    size_t room;       /* index into the case's rooms; ROOMS is the empty one */
    size_t before;     /* cursor: ids[before] of the room, or none when 0 */
    uint32_t limit;
};

static int case_concurrent_reads(ct_ctx *c)
{
    enum { ROOMS = 3, PER = 40, ASKS = 240 };
    static const uint32_t limits[] = { 50, 1, 7, 40, 39, 50, 200 };
    static const size_t cursors[] = { 0, 0, 20, 1, 39, 0, 10 };
    ct_store *s = ct_shared(c);
    const char *rooms[ROOMS + 1];
    ct_id (*ids)[PER] = calloc(ROOMS, sizeof *ids);
    ct_hist **h = calloc(ASKS, sizeof *h);
    struct read_ask asks[ASKS];
    ct_id late;
    size_t i;
    int rc = 0;

    if (ids == NULL || h == NULL) {
        free(ids);
        free(h);
        return ct_fail(c, "out of memory");
    }
    for (i = 0; i <= ROOMS; i++) {
        char suffix[16];

        snprintf(suffix, sizeof suffix, i < ROOMS ? "r%zu" : "empty", i);
        rooms[i] = ct_room(c, suffix);
    }
    for (i = 0; rc == 0 && i < ROOMS; i++)
        rc = ct_fill(c, s, rooms[i], PER, rooms[i], ids[i]);
    /* All in flight at once, the same pages asked many times over and
     * interleaved with others, so that a plugin that batches or shares
     * reads sees every kind of neighbour. */
    for (i = 0; rc == 0 && i < ASKS; i++) {
        size_t k = i % (sizeof limits / sizeof limits[0]);

        asks[i].room = (i / 3) % (ROOMS + 1);
        asks[i].limit = limits[k];
        asks[i].before = asks[i].room < ROOMS ? cursors[k] : 0;
        h[i] = ct_history_start(c, s, rooms[asks[i].room],
                                asks[i].before ? ids[asks[i].room][asks[i].before] : NULL,
                                asks[i].limit);
        if (h[i] == NULL)
            rc = -1;
    }
    for (i = 0; rc == 0 && i < ASKS; i++) {
        const struct read_ask *a = &asks[i];
        size_t end = a->room == ROOMS ? 0 : a->before ? a->before : PER;
        size_t count = end < a->limit ? end : a->limit;
        char what[96];
        ct_page p;

        snprintf(what, sizeof what, "read %zu of %d (room %zu, cursor %zu, limit %u)", i + 1,
                 ASKS, a->room, a->before, a->limit);
        rc = page_ok(c, ct_history_wait(c, h[i], &p), &p, what);
        if (rc == 0)
            rc = check_page(c, &p, a->room < ROOMS ? (const ct_id *)ids[a->room] : NULL,
                            end - count, count, end > a->limit, what);
    }
    /* Pages asked before an insert was confirmed may or may not hold it;
     * a page asked after must, even with the same page still queued. */
    for (i = 0; rc == 0 && i < ASKS / 2; i++) {
        h[i] = ct_history_start(c, s, rooms[0], NULL, 50);
        if (h[i] == NULL)
            rc = -1;
    }
    if (rc == 0 && ct_insert_sync(c, s, rooms[0], "contract", "late", NULL, late) != PARLEY_OK)
        rc = ct_fail(c, "the late insert failed");
    if (rc == 0 && (h[ASKS / 2] = ct_history_start(c, s, rooms[0], NULL, 50)) == NULL)
        rc = -1;
    for (i = 0; rc == 0 && i <= ASKS / 2; i++) {
        ct_page p;

        rc = page_ok(c, ct_history_wait(c, h[i], &p), &p, "read around an insert");
        if (rc == 0 && i == ASKS / 2 && (p.n == 0 || strcmp(p.msgs[p.n - 1].id, late) != 0))
            rc = ct_fail(c, "a page asked after insert %s was confirmed ends with %s", late,
                         p.n > 0 ? p.msgs[p.n - 1].id : "nothing");
        ct_page_free(&p);
    }
    free(ids);
    free(h);
    return rc;
}

static int case_health(ct_ctx *c)
{
    char msg[PARLEY_ERROR_MESSAGE_MAX];
    int i, st;

    for (i = 0; i < 3; i++) {
        st = ct_health(c, ct_shared(c), msg, sizeof msg);
        if (st == -1000)
            return -1;
        if (st != PARLEY_STORAGE_CONNECTED)
            return ct_fail(c, "probe %d answered state %d (%s), expected CONNECTED (%d)", i + 1,
                           st, msg[0] ? msg : "no message", PARLEY_STORAGE_CONNECTED);
    }
    return 0;
}

/* Insert n at once, stop at once; every insert must complete before done. */
static int insert_then_stop(ct_ctx *c, ct_store *s, const char *room, size_t n, ct_id *ids)
{
    ct_insert **ins = calloc(n, sizeof *ins);
    size_t i;
    int rc = 0;

    if (ins == NULL)
        return ct_fail(c, "out of memory");
    for (i = 0; rc == 0 && i < n; i++) {
        char content[32];

        snprintf(content, sizeof content, "drain #%zu", i);
        ins[i] = ct_insert_start(c, s, room, "contract", content, strlen(content), NULL);
        if (ins[i] == NULL)
            rc = -1;
        else
            memcpy(ids[i], ct_insert_id(ins[i]), sizeof ids[i]);
    }
    ct_store_stop(c, s);
    if (rc == 0)
        rc = ct_wait_inserts(c, ins, n);
    if (rc == 0)
        rc = ct_store_wait_stopped(c, s);
    for (i = 0; rc == 0 && i < n; i++) {
        if (ct_insert_status(ins[i]) != PARLEY_OK)
            rc = ct_fail(c, "insert %zu of %zu (%s) in flight at stop answered %s: %s", i + 1, n,
                         ct_insert_id(ins[i]), parley_status_name(ct_insert_status(ins[i])),
                         ct_insert_error(ins[i]));
        else if (ct_insert_seq(ins[i]) > ct_store_stop_seq(s))
            rc = ct_fail(c, "stop called done before insert %zu of %zu (%s) completed", i + 1, n,
                         ct_insert_id(ins[i]));
    }
    free(ins);
    return rc;
}

static int case_stop_completes_inflight(ct_ctx *c)
{
    enum { N = 500 };
    ct_id *ids = calloc(N, sizeof *ids);
    ct_store *s;
    int rc;

    if (ids == NULL)
        return ct_fail(c, "out of memory");
    s = ct_store_open(c);
    rc = s == NULL ? -1 : insert_then_stop(c, s, ct_room(c, ""), N, ids);
    if (s != NULL && ct_store_close(c, s) != 0)
        rc = -1;
    free(ids);
    return rc;
}

static int case_durable_across_instances(ct_ctx *c)
{
    enum { N = 500 };
    ct_id *ids = calloc(N, sizeof *ids);
    const char *room = ct_room(c, "");
    ct_store *s;
    int rc;

    if (ids == NULL)
        return ct_fail(c, "out of memory");
    s = ct_store_open(c);
    rc = s == NULL ? -1 : insert_then_stop(c, s, room, N, ids);
    if (s != NULL && ct_store_close(c, s) != 0)
        rc = -1;
    if (rc == 0) {
        s = ct_store_open(c);
        rc = s == NULL ? -1 : walk(c, s, room, (const ct_id *)ids, N, 200, "drain");
        if (s != NULL && ct_store_close(c, s) != 0)
            rc = -1;
    }
    free(ids);
    return rc;
}

const ct_case ct_cases[] = {
    { "insert_history", "an inserted message comes back with every field equal",
      case_insert_history, 0 },
    { "ordering", "1000 concurrent inserts come back in id order", case_ordering, 0 },
    { "paging", "250 messages walked with limits 7, 50, 1, 249, 250, 251: no overlap, no gap",
      case_paging, 0 },
    { "before_id_not_in_room", "a cursor that is not a message of the room",
      case_before_id_not_in_room, 0 },
    { "unknown_room", "a room never written: empty page, has_more 0", case_unknown_room, 0 },
    { "limit_one", "limit 1", case_limit_one, 0 },
    { "limit_larger_than_room", "a limit at, above and below the room's size",
      case_limit_larger_than_room, 0 },
    { "idempotent_reinsert", "an id inserted again (also concurrently) is stored once",
      case_idempotent_reinsert, 0 },
    { "special_strings", "quotes, %, _, backslash, emoji, control characters, 64 KiB content",
      case_special_strings, 0 },
    { "rooms_differ_by_case", "rooms whose names differ only by case are different rooms",
      case_rooms_differ_by_case, 0 },
    { "concurrent_rooms", "concurrent inserts into 10 rooms keep each room's order",
      case_concurrent_rooms, 0 },
    { "history_while_writing", "pages read during a write burst are consistent",
      case_history_while_writing, 0 },
    { "concurrent_reads", "240 history reads in flight at once, same pages asked many times, "
      "each answered with its own page", case_concurrent_reads, 0 },
    { "health", "health reports CONNECTED", case_health, 0 },
    { "stop_completes_inflight", "stop completes 500 in-flight inserts before done",
      case_stop_completes_inflight, 0 },
    { "durable_across_instances", "500 inserts in flight at stop are there for a new instance",
      case_durable_across_instances, 1 },
};

const size_t ct_n_cases = sizeof ct_cases / sizeof ct_cases[0];
