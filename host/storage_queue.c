/*
 * The storage queue (see storage_queue.h).
 *
 * A request record has two owners: the caller's side (answered once, by
 * the plugin's completion or by the deadline timer) and the plugin's side
 * (its completion arrives once, possibly after the deadline). Both flags
 * are read and written on the loop only; the plugin's thread writes the
 * result fields and then posts, and the post queue's mutex orders those
 * writes before the loop reads them.
 */
#include "storage_queue.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "host.h"
#include "list.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"

enum { OP_INSERT = 1, OP_HISTORY = 2, OP_HEALTH = 3 };

typedef void (*insert_done_fn)(void *arg, int status, const parley_error *err);

struct sq_req {
    struct sq_req *prev, *next;   /* live records (loop) */
    int op;
    unsigned gen;                 /* the queue's generation it belongs to */
    int caller_done;              /* loop */
    atomic_int posted;            /* the plugin's completion is queued on the loop */
    parley_timer *timer;
    uint64_t t0;                  /* uv_hrtime at the call */

    /* results, written by the plugin's completion (any thread) */
    int status;
    int has_more;
    int state;
    parley_error err;
    parley_message *msgs;         /* history: one allocation with the strings */
    size_t n;

    insert_done_fn insert_done;
    parley_history_done history_done;
    void *arg;

    parley_message msg;           /* insert: our copy; strings in buf */
    char buf[];
};

/* Bumped by every init, so a completion that outlived its queue (posted
 * before a free, run after a new init) is recognised as a stranger. */
static unsigned generation;

static struct {
    int ready;
    const parley_storage_vtable *vt;
    void *instance;
    struct parley__storage_options opt;
    int state;
    unsigned inflight;
    int probing;
    parley_timer *health_timer;
    struct sq_req *live;
    void (*drain_done)(void *arg);
    void *drain_arg;
    parley_metric *m_insert_seconds, *m_errors, *m_up;
} g;

static const double insert_buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                         0.1, 0.25, 0.5, 1, 2.5, 5, 10 };

static void set_state(int state, const char *why)
{
    if (state == g.state)
        return;
    g.state = state;
    parley__metric_set(g.m_up, state == PARLEY_STORAGE_CONNECTED ? 1 : 0);
    if (state == PARLEY_STORAGE_CONNECTED)
        parley__log(PARLEY_LOG_INFO, "storage", "storage is connected again");
    else
        parley__log(PARLEY_LOG_WARN, "storage", "storage is disconnected: %s", why);
}

static int is_outage(int status)
{
    return status == PARLEY_EUNAVAIL || status == PARLEY_EIO || status == PARLEY_ETIMEDOUT;
}

int parley__storage_queue_init(const parley_storage_vtable *vt, void *instance,
                               const struct parley__storage_options *o, parley_error *err)
{
    parley_metric_desc hd = { sizeof hd, PARLEY_METRIC_HISTOGRAM, "parley_storage_insert_seconds",
                              "Time from a storage insert call to its completion on the loop.",
                              NULL, insert_buckets, sizeof insert_buckets / sizeof insert_buckets[0] };
    parley_error merr = PARLEY_ERROR_INIT;

    if (g.ready)
        return parley_error_set(err, PARLEY_EINTERNAL, "storage queue initialised twice");
    if (vt == NULL || vt->insert == NULL || vt->history == NULL || vt->health == NULL)
        return parley_error_set(err, PARLEY_EINVAL, "storage vtable is missing insert, history or health");
    memset(&g, 0, sizeof g);
    generation++;
    g.vt = vt;
    g.instance = instance;
    if (o != NULL)
        g.opt = *o;
    g.state = PARLEY_STORAGE_CONNECTED;
    g.m_insert_seconds = parley__metric_register(&parley__self, &hd, &merr);
    if (g.m_insert_seconds == NULL)
        parley__warn("storage queue: %s", merr.message);
    g.m_errors = parley__metric_simple(PARLEY_METRIC_COUNTER, "parley_storage_errors_total",
                                       "Storage inserts and history calls that failed or timed out.", NULL);
    g.m_up = parley__metric_simple(PARLEY_METRIC_GAUGE, "parley_storage_up",
                                   "1 when the storage backend is connected, else 0.", NULL);
    parley__metric_set(g.m_up, 1);
    g.ready = 1;
    return 0;
}

void parley__storage_queue_reconfigure(const struct parley__storage_options *o)
{
    int restart = g.health_timer != NULL && o->health_interval_ms != g.opt.health_interval_ms;

    g.opt = *o;
    if (restart) {
        parley__timer_stop(g.health_timer);
        g.health_timer = NULL;
        parley__storage_health_start();
    }
}

static void free_req(struct sq_req *r)
{
    if (r->timer != NULL)
        parley__timer_stop(r->timer);
    free(r->msgs);
    free(r);
}

static void maybe_drained(void)
{
    void (*done)(void *arg) = g.drain_done;

    if (done == NULL || g.inflight > 0)
        return;
    g.drain_done = NULL;
    done(g.drain_arg);
}

/* Answer the caller: from the plugin's completion, the deadline or free. */
static void complete_caller(struct sq_req *r, int status, const parley_error *err)
{
    r->caller_done = 1;
    if (r->timer != NULL) {
        parley__timer_stop(r->timer);
        r->timer = NULL;
    }

    switch (r->op) {
    case OP_INSERT:
        if (status == PARLEY_EEXIST)
            status = 0;
        parley__metric_observe(g.m_insert_seconds, (double)(uv_hrtime() - r->t0) / 1e9);
        if (status == 0) {
            set_state(PARLEY_STORAGE_CONNECTED, NULL);
        } else {
            parley__metric_add(g.m_errors, 1);
            if (is_outage(status))
                set_state(PARLEY_STORAGE_DISCONNECTED, err->message);
        }
        g.inflight--;
        r->insert_done(r->arg, status, status == 0 ? NULL : err);
        maybe_drained();
        break;
    case OP_HISTORY:
        if (status == 0) {
            set_state(PARLEY_STORAGE_CONNECTED, NULL);
        } else {
            parley__metric_add(g.m_errors, 1);
            if (is_outage(status))
                set_state(PARLEY_STORAGE_DISCONNECTED, err->message);
        }
        if (status == 0)
            r->history_done(r->arg, 0, r->msgs, r->n, r->has_more, NULL);
        else
            r->history_done(r->arg, status, NULL, 0, 0, err);
        break;
    case OP_HEALTH:
        g.probing = 0;
        if (status == 0)
            set_state(r->state == PARLEY_STORAGE_CONNECTED ? PARLEY_STORAGE_CONNECTED
                                                           : PARLEY_STORAGE_DISCONNECTED,
                      r->err.message[0] ? r->err.message : "the health probe said so");
        else
            set_state(PARLEY_STORAGE_DISCONNECTED, err->message);
        break;
    }
}

static const char *op_name(int op)
{
    return op == OP_INSERT ? "insert" : op == OP_HISTORY ? "history" : "health probe";
}

/* The plugin's completion, now on the loop. */
static void on_loop(void *arg)
{
    struct sq_req *r = arg;

    if (!g.ready || r->gen != generation) {   /* the queue was freed meanwhile */
        free_req(r);
        return;
    }
    if (!r->caller_done) {
        complete_caller(r, r->status, &r->err);
    } else {
        parley__log(PARLEY_LOG_WARN, "storage", "storage %s answered after the deadline (%s); dropped",
                    op_name(r->op), parley_status_name(r->status));
        if (r->op == OP_INSERT && (r->status == 0 || r->status == PARLEY_EEXIST))
            set_state(PARLEY_STORAGE_CONNECTED, NULL);
    }
    PARLEY__LIST_REMOVE(g.live, r);
    free_req(r);
}

static void on_deadline(void *arg)
{
    struct sq_req *r = arg;
    parley_error err = PARLEY_ERROR_INIT;

    /* The plugin answered in time and its completion is waiting for the
     * loop (a loop busy with a join storm's presence fan-out can be late
     * to it): the deadline is for a storage that does not answer, so the
     * answer it gave wins. Timers run before the loop's I/O in each turn,
     * so without this check the deadline would fire first. */
    if (atomic_load(&r->posted))
        return;
    parley_error_set(&err, PARLEY_ETIMEDOUT, "storage did not answer within %llu ms",
                     (unsigned long long)g.opt.timeout_ms);
    complete_caller(r, PARLEY_ETIMEDOUT, &err);
}

static void hand_to_loop(struct sq_req *r)
{
    int rc;

    atomic_store(&r->posted, 1);
    rc = parley__post(&parley__self, on_loop, r);
    if (rc != 0) {
        /* The loop is gone (shutdown): queue_free reclaims the record. */
        atomic_store(&r->posted, 0);
        parley__log(PARLEY_LOG_WARN, "storage", "storage %s completion lost: %s",
                    op_name(r->op), parley_strerror(rc));
    }
}

static void copy_err(struct sq_req *r, int status, const parley_error *err)
{
    r->status = status;
    if (status == 0 || status == PARLEY_EEXIST)
        return;
    if (err != NULL && err->message[0] != '\0')
        parley_error_set(&r->err, status, "%s", err->message);
    else
        parley_error_set(&r->err, status, "%s", parley_strerror(status));
}

static void insert_cb(void *cb_arg, int status, const parley_error *err)
{
    struct sq_req *r = cb_arg;

    copy_err(r, status, err);
    hand_to_loop(r);
}

static void history_cb(void *cb_arg, int status, const parley_message *msgs, size_t n,
                       int has_more, const parley_error *err)
{
    struct sq_req *r = cb_arg;
    size_t bytes = n * sizeof *msgs;
    char *w;

    copy_err(r, status, err);
    if (status != 0 || n == 0) {
        if (status == 0)
            r->has_more = has_more;
        hand_to_loop(r);
        return;
    }
    /* The plugin's page is valid only during this call: copy it. */
    for (size_t i = 0; i < n; i++)
        bytes += msgs[i].room_len + msgs[i].username_len + msgs[i].content_len + 3;
    r->msgs = malloc(bytes);
    if (r->msgs == NULL) {
        copy_err(r, PARLEY_ENOMEM, NULL);
        hand_to_loop(r);
        return;
    }
    w = (char *)(r->msgs + n);
    for (size_t i = 0; i < n; i++) {
        parley_message *m = &r->msgs[i];
        m->struct_size = sizeof *m;
        memcpy(m->id, msgs[i].id, sizeof m->id);
        m->id[PARLEY_ID_LEN] = '\0';
        m->timestamp_ms = msgs[i].timestamp_ms;
#define COPY_STR(f)                                     \
        memcpy(w, msgs[i].f, msgs[i].f##_len);          \
        w[msgs[i].f##_len] = '\0';                      \
        m->f = w;                                       \
        m->f##_len = msgs[i].f##_len;                   \
        w += msgs[i].f##_len + 1;
        COPY_STR(room)
        COPY_STR(username)
        COPY_STR(content)
#undef COPY_STR
    }
    r->n = n;
    r->has_more = has_more;
    hand_to_loop(r);
}

static void health_cb(void *cb_arg, int state, const parley_error *err)
{
    struct sq_req *r = cb_arg;

    r->status = 0;
    r->state = state;
    if (state != PARLEY_STORAGE_CONNECTED && err != NULL)
        parley_error_set(&r->err, PARLEY_EUNAVAIL, "%s", err->message);
    hand_to_loop(r);
}

static struct sq_req *new_req(int op, size_t extra)
{
    struct sq_req *r = calloc(1, sizeof *r + extra);

    if (r == NULL)
        return NULL;
    r->op = op;
    r->gen = generation;
    r->err.struct_size = sizeof r->err;
    atomic_init(&r->posted, 0);
    r->t0 = uv_hrtime();
    PARLEY__LIST_PUSH(g.live, r);
    if (g.opt.timeout_ms > 0) {
        r->timer = parley__timer_start(&parley__self, g.opt.timeout_ms, 0, on_deadline, r);
        if (r->timer == NULL)
            parley__log(PARLEY_LOG_WARN, "storage", "cannot arm the storage deadline timer; "
                        "this call has no deadline");
    }
    return r;
}

int parley__storage_insert(const parley_message *msg,
                           void (*done)(void *arg, int status, const parley_error *err), void *arg)
{
    struct sq_req *r;
    char *w;

    if (!g.ready)
        return PARLEY_ESHUTDOWN;
    if (msg == NULL || done == NULL)
        return PARLEY_EINVAL;
    r = new_req(OP_INSERT, msg->room_len + msg->username_len + msg->content_len + 3);
    if (r == NULL)
        return PARLEY_ENOMEM;
    r->insert_done = done;
    r->arg = arg;
    r->msg.struct_size = sizeof r->msg;
    memcpy(r->msg.id, msg->id, sizeof r->msg.id);
    r->msg.timestamp_ms = msg->timestamp_ms;
    w = r->buf;
#define COPY_STR(f)                              \
    memcpy(w, msg->f, msg->f##_len);             \
    w[msg->f##_len] = '\0';                      \
    r->msg.f = w;                                \
    r->msg.f##_len = msg->f##_len;               \
    w += msg->f##_len + 1;
    COPY_STR(room)
    COPY_STR(username)
    COPY_STR(content)
#undef COPY_STR
    g.inflight++;
    g.vt->insert(g.instance, &r->msg, insert_cb, r);
    return 0;
}

int parley__storage_history(const parley_history_query *q, parley_history_done done, void *arg)
{
    struct sq_req *r;

    if (!g.ready)
        return PARLEY_ESHUTDOWN;
    if (q == NULL || done == NULL)
        return PARLEY_EINVAL;
    r = new_req(OP_HISTORY, 0);
    if (r == NULL)
        return PARLEY_ENOMEM;
    r->history_done = done;
    r->arg = arg;
    g.vt->history(g.instance, q, history_cb, r);
    return 0;
}

int parley__storage_state(void)
{
    return g.ready ? g.state : PARLEY_STORAGE_DISCONNECTED;
}

static void probe(void *arg)
{
    struct sq_req *r;

    (void)arg;
    if (!g.ready || g.probing)
        return;        /* the last probe is still out; its deadline will say */
    r = new_req(OP_HEALTH, 0);
    if (r == NULL)
        return;
    g.probing = 1;
    g.vt->health(g.instance, health_cb, r);
}

void parley__storage_health_start(void)
{
    if (!g.ready)
        return;
    probe(NULL);
    if (g.health_timer == NULL && g.opt.health_interval_ms > 0)
        g.health_timer = parley__timer_start(&parley__self, g.opt.health_interval_ms,
                                             g.opt.health_interval_ms, probe, NULL);
}

unsigned parley__storage_inflight(void)
{
    return g.inflight;
}

void parley__storage_drain(void (*done)(void *arg), void *arg)
{
    if (g.health_timer != NULL) {
        parley__timer_stop(g.health_timer);
        g.health_timer = NULL;
    }
    g.drain_done = done;
    g.drain_arg = arg;
    maybe_drained();
}

void parley__storage_queue_free(void)
{
    struct sq_req *r, *next;
    unsigned unanswered = 0;

    if (!g.ready)
        return;
    if (g.health_timer != NULL) {
        parley__timer_stop(g.health_timer);
        g.health_timer = NULL;
    }
    /* Callers still waiting are not called: their plugins (the transports
     * that posted) are gone by now, and the chat frees what it was waiting
     * with in parley__chat_free. */
    for (r = g.live; r != NULL; r = next) {
        next = r->next;
        if (!r->caller_done && r->op != OP_HEALTH)
            unanswered++;
        if (r->timer != NULL) {
            parley__timer_stop(r->timer);
            r->timer = NULL;
        }
        /* A posted completion frees its record when the loop runs it. */
        if (!atomic_load(&r->posted)) {
            free(r->msgs);
            free(r);
        }
    }
    if (unanswered > 0)
        parley__log(PARLEY_LOG_WARN, "storage", "%u storage call%s still unanswered at shutdown",
                    unanswered, unanswered == 1 ? "" : "s");
    memset(&g, 0, sizeof g);
}
