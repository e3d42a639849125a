/*
 * parley-storage-contract: run the storage contract suite against a
 * storage plugin .so.
 *
 *   parley-storage-contract --plugin PATH.so [--name NAME] [--config BLOCK.yaml]
 *                           [--set key=value ...] [--case GLOB ...] [--persistent]
 *                           [--timeout SECONDS] [--workers N] [--log-level LEVEL]
 *                           [--metrics] [--list]
 *
 * It is a real host: the host's loop and worker pool (loop.h), its loader
 * (loader.h), its config tree and schema validation (config.h, schema.h)
 * and its API table (parley__api). Output is one line per case, "ok N -
 * name" or "not ok N - name: why", then "P passed, F failed"; the exit
 * status is 0 only when every selected case passed. See docs/storage.md.
 */
#include <errno.h>
#include <fnmatch.h>
#include <libgen.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "config.h"
#include "contract.h"
#include "host.h"
#include "loader.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "msgid.h"
#include "schema.h"
#include "settings.h"

#define CT_TIMEOUT (-1000)
#define CT_MAX_ROOMS 64

enum { EXIT_PASS = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* ---- records of operations in flight ----
 *
 * Completions may arrive on any thread: they take g_lock, copy what they
 * were given, and wake the loop. Records live until the end of the run, so
 * a late or repeated completion never touches freed memory of ours. */

struct ct_insert {
    struct ct_insert *next_all;
    parley_message *msg;        /* handed to the plugin; freed on completion */
    size_t msg_size;
    char id[PARLEY_ID_LEN + 1];
    int64_t timestamp_ms;
    int calls;
    int status;
    char error[PARLEY_ERROR_MESSAGE_MAX];
    uint64_t seq;
};

struct ct_hist {
    struct ct_hist *next_all;
    int calls;
    ct_page page;
    char room[160];
};

typedef struct ct_probe {
    struct ct_probe *next_all;
    int calls;
    int state;
    char error[PARLEY_ERROR_MESSAGE_MAX];
} ct_probe;

struct ct_store {
    struct ct_store *next_all;
    struct parley__plugin *plugin;
    const parley_storage_vtable *vt;
    void *instance;
    int stop_called;
    int stop_calls;
    uint64_t stop_seq;
    int destroyed;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t g_loop_thread;
static uint64_t g_seq;                          /* under g_lock */
static char g_violation[PARLEY_ERROR_MESSAGE_MAX]; /* under g_lock: a broken rule */
static struct ct_insert *g_inserts;
static struct ct_hist *g_hists;
static ct_probe *g_probes;
static struct ct_store *g_stores;
static uv_timer_t g_timer;

struct ct_ctx {
    const char *case_name;
    int failed;
    char failure[2048];
    uint64_t deadline_ns;
    unsigned timeout_s;
    char run[9];
    char *rooms[CT_MAX_ROOMS];
    size_t n_rooms;
    ct_store *shared;
};

/* The run's plugin and config. */
static struct parley__plugin_entry g_entry;
static char *g_plugin_dir;
static parley__config_doc *g_doc;

static void violation(const char *fmt, ...) PARLEY_PRINTF(1, 2);

/* Under g_lock. The first broken rule of a run is kept until a case reports it. */
static void violation(const char *fmt, ...)
{
    va_list ap;

    if (g_violation[0] != '\0')
        return;
    va_start(ap, fmt);
    vsnprintf(g_violation, sizeof g_violation, fmt, ap);
    va_end(ap);
}

static void noop(void *arg)
{
    (void)arg;
}

/* A completion from another thread must wake the loop out of its poll. */
static void wake(void)
{
    if (!pthread_equal(pthread_self(), g_loop_thread))
        parley__post(NULL, noop, NULL);
}

int ct_fail(ct_ctx *c, const char *fmt, ...)
{
    va_list ap;

    if (c->failed)
        return -1;
    c->failed = 1;
    va_start(ap, fmt);
    vsnprintf(c->failure, sizeof c->failure, fmt, ap);
    va_end(ap);
    return -1;
}

const char *ct_room(ct_ctx *c, const char *suffix)
{
    char buf[256];
    char *room;

    snprintf(buf, sizeof buf, "ct-%s-%s%s%s", c->run, c->case_name, suffix[0] ? "-" : "", suffix);
    if (c->n_rooms == CT_MAX_ROOMS || (room = strdup(buf)) == NULL) {
        ct_fail(c, "runner: too many rooms in one case");
        return "ct-overflow";
    }
    c->rooms[c->n_rooms++] = room;
    return room;
}

void ct_new_id(char out[PARLEY_ID_LEN + 1])
{
    parley__msgid_next(out, parley__wall_ms(NULL));
}

ct_store *ct_shared(ct_ctx *c)
{
    return c->shared;
}

/* ---- waiting ---- */

static void timer_fired(uv_timer_t *t)
{
    (void)t;
}

/* Run the loop until ready(arg) (checked under g_lock) or the deadline. */
static int await(ct_ctx *c, int (*ready)(const void *arg), const void *arg, const char *what)
{
    for (;;) {
        uint64_t now;
        int r;

        pthread_mutex_lock(&g_lock);
        r = ready(arg);
        pthread_mutex_unlock(&g_lock);
        if (r)
            return 0;
        now = uv_hrtime();
        if (now >= c->deadline_ns)
            return ct_fail(c, "timed out after %u s waiting for %s", c->timeout_s, what);
        uv_timer_start(&g_timer, timer_fired, (c->deadline_ns - now) / 1000000u + 1, 0);
        uv_run(parley__loop(), UV_RUN_ONCE);
        uv_timer_stop(&g_timer);
    }
}

/* ---- inserts ---- */

static void insert_done(void *cb_arg, int status, const parley_error *err)
{
    struct ct_insert *in = cb_arg;

    pthread_mutex_lock(&g_lock);
    if (++in->calls == 1) {
        in->status = status;
        in->seq = ++g_seq;
        if (err != NULL)
            snprintf(in->error, sizeof in->error, "%s", err->message);
        else if (status != PARLEY_OK && status != PARLEY_EEXIST)
            snprintf(in->error, sizeof in->error, "(no error message)");
        /* The message is the host's again: anything the plugin reads from
         * it from now on is garbage. */
        memset(in->msg, 0xdd, in->msg_size);
        free(in->msg);
        in->msg = NULL;
    } else {
        violation("the completion of insert %s was called %d times (status %s)", in->id,
                  in->calls, parley_status_name(status));
    }
    pthread_mutex_unlock(&g_lock);
    wake();
}

ct_insert *ct_insert_start(ct_ctx *c, ct_store *s, const char *room, const char *username,
                           const char *content, size_t content_len, const char *id)
{
    size_t room_len = strlen(room), user_len = strlen(username);
    size_t size = sizeof(parley_message) + room_len + user_len + content_len + 3;
    struct ct_insert *in = calloc(1, sizeof *in);
    parley_message *m = malloc(size);
    char *p;

    if (in == NULL || m == NULL) {
        free(in);
        free(m);
        ct_fail(c, "runner: out of memory");
        return NULL;
    }
    memset(m, 0, sizeof *m);
    m->struct_size = sizeof *m;
    if (id != NULL)
        snprintf(m->id, sizeof m->id, "%s", id);
    else
        ct_new_id(m->id);
    p = (char *)(m + 1);
    memcpy(p, room, room_len + 1);
    m->room = p;
    m->room_len = room_len;
    p += room_len + 1;
    memcpy(p, username, user_len + 1);
    m->username = p;
    m->username_len = user_len;
    p += user_len + 1;
    memcpy(p, content, content_len);
    p[content_len] = '\0';
    m->content = p;
    m->content_len = content_len;
    m->timestamp_ms = parley__wall_ms(NULL);

    memcpy(in->id, m->id, sizeof in->id);
    in->timestamp_ms = m->timestamp_ms;
    in->msg = m;
    in->msg_size = size;
    in->next_all = g_inserts;
    g_inserts = in;
    s->vt->insert(s->instance, m, insert_done, in);
    return in;
}

struct inserts_wait {
    ct_insert *const *ins;
    size_t n;
};

static int inserts_ready(const void *arg)
{
    const struct inserts_wait *w = arg;
    size_t i;

    for (i = 0; i < w->n; i++)
        if (w->ins[i]->calls == 0)
            return 0;
    return 1;
}

int ct_wait_inserts(ct_ctx *c, ct_insert *const *ins, size_t n)
{
    struct inserts_wait w = { ins, n };
    char what[96];

    snprintf(what, sizeof what, "%zu insert completion(s)", n);
    if (await(c, inserts_ready, &w, what) == 0)
        return 0;
    /* Say how far it got. */
    size_t done = 0, i;
    pthread_mutex_lock(&g_lock);
    for (i = 0; i < n; i++)
        done += ins[i]->calls > 0;
    pthread_mutex_unlock(&g_lock);
    snprintf(c->failure + strlen(c->failure), sizeof c->failure - strlen(c->failure),
             " (%zu of %zu arrived)", done, n);
    return -1;
}

const char *ct_insert_id(const ct_insert *in)
{
    return in->id;
}

int ct_insert_status(const ct_insert *in)
{
    return in->status;
}

const char *ct_insert_error(const ct_insert *in)
{
    return in->error;
}

int64_t ct_insert_timestamp(const ct_insert *in)
{
    return in->timestamp_ms;
}

uint64_t ct_insert_seq(const ct_insert *in)
{
    return in->seq;
}

int ct_insert_sync(ct_ctx *c, ct_store *s, const char *room, const char *username,
                   const char *content, const char *id, char id_out[PARLEY_ID_LEN + 1])
{
    ct_insert *in = ct_insert_start(c, s, room, username, content, strlen(content), id);

    if (in == NULL)
        return CT_TIMEOUT;
    if (id_out != NULL)
        memcpy(id_out, in->id, PARLEY_ID_LEN + 1);
    if (ct_wait_inserts(c, &in, 1) != 0)
        return CT_TIMEOUT;
    return in->status;
}

int ct_fill(ct_ctx *c, ct_store *s, const char *room, size_t n, const char *tag,
            char (*ids)[PARLEY_ID_LEN + 1])
{
    ct_insert **ins = calloc(n, sizeof *ins);
    char content[128];
    size_t i;
    int rc = 0;

    if (ins == NULL)
        return ct_fail(c, "runner: out of memory");
    for (i = 0; i < n && rc == 0; i++) {
        snprintf(content, sizeof content, "%s #%zu", tag, i);
        ins[i] = ct_insert_start(c, s, room, "contract", content, strlen(content), NULL);
        if (ins[i] == NULL)
            rc = -1;
    }
    if (rc == 0)
        rc = ct_wait_inserts(c, ins, n);
    for (i = 0; i < n && rc == 0; i++) {
        if (ins[i]->status != PARLEY_OK)
            rc = ct_fail(c, "insert %zu of %zu (%s) into %s answered %s: %s", i + 1, n,
                         ins[i]->id, room, parley_status_name(ins[i]->status), ins[i]->error);
        else if (ids != NULL)
            memcpy(ids[i], ins[i]->id, PARLEY_ID_LEN + 1);
    }
    free(ins);
    return rc;
}

/* ---- history ---- */

static char *copy_str(const char *s, size_t len)
{
    char *p;

    if (s == NULL)
        return NULL;
    p = malloc(len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

static void history_done(void *cb_arg, int status, const parley_message *msgs, size_t n,
                         int has_more, const parley_error *err)
{
    struct ct_hist *h = cb_arg;
    size_t i;

    pthread_mutex_lock(&g_lock);
    if (++h->calls > 1) {
        violation("the completion of a history query on room %s was called %d times", h->room,
                  h->calls);
        goto out;
    }
    h->page.status = status;
    h->page.has_more = has_more;
    if (err != NULL)
        snprintf(h->page.error, sizeof h->page.error, "%s", err->message);
    if (status != PARLEY_OK)
        goto out;
    if (n > 0 && msgs == NULL) {
        h->page.status = PARLEY_EINTERNAL;
        snprintf(h->page.error, sizeof h->page.error,
                 "the plugin returned %zu messages but a NULL array", n);
        goto out;
    }
    h->page.msgs = calloc(n ? n : 1, sizeof *h->page.msgs);
    if (h->page.msgs == NULL) {
        h->page.status = PARLEY_ENOMEM;
        goto out;
    }
    h->page.n = n;
    for (i = 0; i < n; i++) {
        const parley_message *m = &msgs[i];
        ct_msg *o = &h->page.msgs[i];

        if ((m->room != NULL && m->room[m->room_len] != '\0') ||
            (m->username != NULL && m->username[m->username_len] != '\0') ||
            (m->content != NULL && m->content[m->content_len] != '\0'))
            violation("history message %.24s: a string is not NUL-terminated at its length", m->id);

        o->struct_size = m->struct_size;
        memcpy(o->id, m->id, PARLEY_ID_LEN);
        o->id[PARLEY_ID_LEN] = '\0';
        o->room = copy_str(m->room, m->room_len);
        o->room_len = m->room_len;
        o->username = copy_str(m->username, m->username_len);
        o->username_len = m->username_len;
        o->content = copy_str(m->content, m->content_len);
        o->content_len = m->content_len;
        o->timestamp_ms = m->timestamp_ms;
    }
out:
    pthread_mutex_unlock(&g_lock);
    wake();
}

ct_hist *ct_history_start(ct_ctx *c, ct_store *s, const char *room, const char *before_id,
                          uint32_t limit)
{
    struct ct_hist *h = calloc(1, sizeof *h);
    parley_history_query q;

    if (h == NULL) {
        ct_fail(c, "runner: out of memory");
        return NULL;
    }
    snprintf(h->room, sizeof h->room, "%s", room);
    h->next_all = g_hists;
    g_hists = h;
    memset(&q, 0, sizeof q);
    q.struct_size = sizeof q;
    q.room = room;
    q.room_len = strlen(room);
    q.before_id = before_id;
    q.limit = limit;
    s->vt->history(s->instance, &q, history_done, h);
    return h;
}

static int hist_ready(const void *arg)
{
    return ((const struct ct_hist *)arg)->calls > 0;
}

int ct_history_wait(ct_ctx *c, ct_hist *h, ct_page *page)
{
    memset(page, 0, sizeof *page);
    if (h == NULL)
        return CT_TIMEOUT;
    if (await(c, hist_ready, h, "a history page") != 0)
        return CT_TIMEOUT;
    pthread_mutex_lock(&g_lock);
    *page = h->page;
    memset(&h->page, 0, sizeof h->page); /* ownership moves to the caller */
    pthread_mutex_unlock(&g_lock);
    return page->status;
}

int ct_history(ct_ctx *c, ct_store *s, const char *room, const char *before_id,
               uint32_t limit, ct_page *page)
{
    return ct_history_wait(c, ct_history_start(c, s, room, before_id, limit), page);
}

void ct_page_free(ct_page *page)
{
    size_t i;

    for (i = 0; i < page->n; i++) {
        free(page->msgs[i].room);
        free(page->msgs[i].username);
        free(page->msgs[i].content);
    }
    free(page->msgs);
    memset(page, 0, sizeof *page);
}

/* ---- health ---- */

static void health_done(void *cb_arg, int state, const parley_error *err)
{
    ct_probe *pr = cb_arg;

    pthread_mutex_lock(&g_lock);
    if (++pr->calls == 1) {
        pr->state = state;
        if (err != NULL)
            snprintf(pr->error, sizeof pr->error, "%s", err->message);
    } else {
        violation("the completion of a health probe was called %d times", pr->calls);
    }
    pthread_mutex_unlock(&g_lock);
    wake();
}

static int probe_ready(const void *arg)
{
    return ((const ct_probe *)arg)->calls > 0;
}

int ct_health(ct_ctx *c, ct_store *s, char *msg, size_t msg_size)
{
    ct_probe *pr = calloc(1, sizeof *pr);

    if (pr == NULL)
        return ct_fail(c, "runner: out of memory");
    pr->next_all = g_probes;
    g_probes = pr;
    s->vt->health(s->instance, health_done, pr);
    if (await(c, probe_ready, pr, "a health probe") != 0)
        return CT_TIMEOUT;
    if (msg != NULL && msg_size > 0)
        snprintf(msg, msg_size, "%s", pr->error);
    return pr->state;
}

/* ---- instances ---- */

ct_store *ct_store_open(ct_ctx *c)
{
    parley_error err = PARLEY_ERROR_INIT;
    struct ct_store *s = calloc(1, sizeof *s);
    int rc;

    if (s == NULL) {
        ct_fail(c, "runner: out of memory");
        return NULL;
    }
    rc = parley__plugin_load(&g_entry, g_plugin_dir, &s->plugin, &err);
    if (rc == 0)
        rc = parley__plugin_create(s->plugin, &err);
    if (rc == 0)
        rc = parley__plugin_start(s->plugin, &err);
    if (rc == 0 && s->plugin->storage == NULL) {
        rc = PARLEY_EINVAL;
        parley_error_set(&err, rc, "%s is not a storage plugin", g_entry.path);
    }
    if (rc != 0) {
        ct_fail(c, "cannot start the plugin (%s): %s", parley_status_name(rc), err.message);
        parley__plugin_destroy(s->plugin);
        free(s);
        return NULL;
    }
    s->vt = s->plugin->storage;
    s->instance = s->plugin->instance;
    s->next_all = g_stores;
    g_stores = s;
    return s;
}

static void stop_done(void *arg)
{
    struct ct_store *s = arg;

    pthread_mutex_lock(&g_lock);
    if (++s->stop_calls == 1)
        s->stop_seq = ++g_seq;
    else
        violation("the plugin called stop's done %d times", s->stop_calls);
    pthread_mutex_unlock(&g_lock);
    wake();
}

void ct_store_stop(ct_ctx *c, ct_store *s)
{
    (void)c;
    if (s->stop_called)
        return;
    s->stop_called = 1;
    parley__plugin_stop(s->plugin, stop_done, s);
}

int ct_store_stopped(const ct_store *s)
{
    int r;

    pthread_mutex_lock(&g_lock);
    r = s->stop_calls > 0;
    pthread_mutex_unlock(&g_lock);
    return r;
}

uint64_t ct_store_stop_seq(const ct_store *s)
{
    return s->stop_seq;
}

static int stopped_ready(const void *arg)
{
    return ((const struct ct_store *)arg)->stop_calls > 0;
}

int ct_store_wait_stopped(ct_ctx *c, ct_store *s)
{
    ct_store_stop(c, s);
    return await(c, stopped_ready, s, "stop to call done");
}

int ct_store_close(ct_ctx *c, ct_store *s)
{
    if (s == NULL || s->destroyed)
        return 0;
    if (ct_store_wait_stopped(c, s) != 0)
        return -1; /* never destroy an instance that has not stopped */
    parley__plugin_destroy(s->plugin);
    s->plugin = NULL;
    s->destroyed = 1;
    return 0;
}

/* ---- the config block ---- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 256) + n;
        char *p = realloc(b->p, cap);

        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* A YAML double-quoted scalar. */
static void sb_quoted(sbuf *b, const char *s, size_t n)
{
    size_t i;
    char esc[8];

    sb_str(b, "\"");
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            sb_add(b, esc, 2);
        } else if (ch < 0x20 || ch == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", ch);
            sb_str(b, esc);
        } else {
            sb_add(b, (const char *)&s[i], 1);
        }
    }
    sb_str(b, "\"");
}

/* A config node back into YAML (flow style), for merging with --set. */
static void sb_node(sbuf *b, const parley__node *n)
{
    size_t i;

    switch (n->type) {
    case PARLEY__NODE_SCALAR:
        if (n->is_null)
            sb_str(b, "null");
        else
            sb_quoted(b, n->scalar, n->scalar_len);
        break;
    case PARLEY__NODE_SEQ:
        sb_str(b, "[");
        for (i = 0; i < n->n; i++) {
            if (i > 0)
                sb_str(b, ", ");
            sb_node(b, n->items[i]);
        }
        sb_str(b, "]");
        break;
    case PARLEY__NODE_MAP:
        sb_str(b, "{");
        for (i = 0; i < n->n; i++) {
            if (i > 0)
                sb_str(b, ", ");
            sb_node(b, n->keys[i]);
            sb_str(b, ": ");
            sb_node(b, n->items[i]);
        }
        sb_str(b, "}");
        break;
    }
}

static int set_overrides(char **sets, size_t n_sets, const char *key, size_t key_len)
{
    size_t i;

    for (i = 0; i < n_sets; i++) {
        const char *eq = strchr(sets[i], '=');

        if ((size_t)(eq - sets[i]) == key_len && memcmp(sets[i], key, key_len) == 0)
            return 1;
    }
    return 0;
}

/*
 * The plugin's config block: the --config file as it is (so messages point
 * into it), or, with --set, the file's keys and the --set pairs written out
 * again as one YAML mapping ("--set" stands for the file in messages).
 */
static int build_config(const char *config_file, char **sets, size_t n_sets, parley_error *err)
{
    const parley__node *root = NULL;
    parley__config_doc *file_doc = NULL;
    sbuf b = { 0 };
    size_t i;
    int rc;

    if (config_file != NULL) {
        rc = parley__config_load_file(config_file, &file_doc, err);
        if (rc != 0)
            return rc;
        root = parley__config_root(file_doc);
    }
    if (n_sets == 0) {
        g_doc = file_doc;
        g_entry.config = root;
        g_entry.where = config_file != NULL ? config_file : "command line";
        return 0;
    }
    for (i = 0; root != NULL && i < root->n; i++) {
        const parley__node *k = root->keys[i];

        if (set_overrides(sets, n_sets, k->scalar, k->scalar_len))
            continue;
        sb_node(&b, k);
        sb_str(&b, ": ");
        sb_node(&b, root->items[i]);
        sb_str(&b, "\n");
    }
    for (i = 0; i < n_sets; i++) {
        const char *eq = strchr(sets[i], '=');
        const char *v = eq + 1;

        sb_quoted(&b, sets[i], (size_t)(eq - sets[i]));
        sb_str(&b, ": ");
        /* A flow sequence or mapping is taken as YAML; anything else is text. */
        if (v[0] == '[' || v[0] == '{')
            sb_str(&b, v);
        else
            sb_quoted(&b, v, strlen(v));
        sb_str(&b, "\n");
    }
    parley__config_free(file_doc);
    if (b.oom) {
        free(b.p);
        return parley_error_set(err, PARLEY_ENOMEM, "out of memory");
    }
    /* Values from the file were substituted once already. */
    rc = parley__config_parse(b.p, b.len, "--set", NULL, PARLEY__CONFIG_NO_SUBST, &g_doc, err);
    free(b.p);
    if (rc != 0)
        return rc;
    g_entry.config = parley__config_root(g_doc);
    g_entry.where = "--set";
    return 0;
}

/* ---- main ---- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: parley-storage-contract --plugin PATH.so [options]\n"
            "Run the Parley storage contract suite against a storage plugin.\n\n"
            "  --plugin PATH     the plugin's .so (required unless --list)\n"
            "  --name NAME       the name the plugin is loaded by (default: the file name\n"
            "                    without .so); must match the plugin's descriptor\n"
            "  --config FILE     a YAML file holding the plugin's config: mapping\n"
            "  --set KEY=VALUE   set one config key (repeatable; overrides --config);\n"
            "                    VALUE is text, or a YAML flow list [a, b]\n"
            "  --case GLOB       run only the cases whose name matches (repeatable)\n"
            "  --persistent      the plugin's data outlives an instance: also run the\n"
            "                    cases that restart it on the same config\n"
            "  --timeout SECS    per-case deadline (default 10)\n"
            "  --workers N       worker threads (default 4)\n"
            "  --log-level LVL   the host's and plugin's log level (default warn)\n"
            "  --metrics         print the metrics the plugin registered (as # lines)\n"
            "  --list            list the cases and exit\n"
            "  --help            this text\n\n"
            "Output: one line per case, \"ok N - name\" or \"not ok N - name: why\", then\n"
            "\"P passed, F failed\". Exit status 0 only when every selected case passed;\n"
            "1 when one failed or the plugin could not be loaded, configured or started;\n"
            "2 on a bad command line or an unreadable --config file.\n");
}

static int takes_value(const char *arg)
{
    static const char *const opts[] = { "--plugin", "--name", "--config", "--set",
                                        "--case", "--timeout", "--workers", "--log-level" };
    size_t i;

    for (i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (strcmp(arg, opts[i]) == 0)
            return 1;
    return 0;
}

static int selected(const char *name, char **globs, size_t n_globs)
{
    size_t i;

    if (n_globs == 0)
        return 1;
    for (i = 0; i < n_globs; i++)
        if (fnmatch(globs[i], name, 0) == 0)
            return 1;
    return 0;
}

static void free_records(void)
{
    while (g_inserts != NULL) {
        struct ct_insert *in = g_inserts;
        g_inserts = in->next_all;
        free(in->msg);
        free(in);
    }
    while (g_hists != NULL) {
        struct ct_hist *h = g_hists;
        g_hists = h->next_all;
        ct_page_free(&h->page);
        free(h);
    }
    while (g_probes != NULL) {
        ct_probe *pr = g_probes;
        g_probes = pr->next_all;
        free(pr);
    }
    while (g_stores != NULL) {
        struct ct_store *s = g_stores;
        g_stores = s->next_all;
        free(s);
    }
}

/* The metrics the plugin registered, as comment lines. */
static void print_metrics(void)
{
    size_t len = parley__metrics_format(NULL, NULL, 0);
    char *buf = malloc(len + 1), *line, *save = NULL;

    if (buf == NULL)
        return;
    parley__metrics_format(NULL, buf, len + 1);
    for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
        printf("# %s\n", line);
    free(buf);
}

static void ctx_begin(ct_ctx *c, const char *name)
{
    c->case_name = name;
    c->failed = 0;
    c->failure[0] = '\0';
    c->deadline_ns = uv_hrtime() + (uint64_t)c->timeout_s * 1000000000u;
}

static void ctx_end(ct_ctx *c)
{
    size_t i;

    for (i = 0; i < c->n_rooms; i++)
        free(c->rooms[i]);
    c->n_rooms = 0;
}

/* A rule broken since the last check fails the running case. */
static void check_violations(ct_ctx *c)
{
    char v[sizeof g_violation];

    pthread_mutex_lock(&g_lock);
    memcpy(v, g_violation, sizeof v);
    g_violation[0] = '\0';
    pthread_mutex_unlock(&g_lock);
    if (v[0] != '\0')
        ct_fail(c, "%s", v);
}

int main(int argc, char **argv)
{
    const char *plugin = NULL, *name = NULL, *config_file = NULL, *log_level = "warn";
    char **sets = calloc((size_t)argc, sizeof *sets);
    char **globs = calloc((size_t)argc, sizeof *globs);
    size_t n_sets = 0, n_globs = 0, i;
    unsigned timeout_s = 10, workers = 4, passed = 0, failed = 0, number = 0;
    int list = 0, persistent = 0, metrics = 0, level, rc, status = EXIT_USAGE;
    parley_error err = PARLEY_ERROR_INIT;
    unsigned char rnd[4];
    char *name_buf = NULL, *dir_buf = NULL;
    ct_ctx ctx;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (sets == NULL || globs == NULL)
        return EXIT_USAGE;
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        const char *val = a + 1 < argc ? argv[a + 1] : NULL;
        int takes = 1;

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            status = EXIT_PASS;
            goto out;
        } else if (strcmp(arg, "--list") == 0) {
            list = 1;
            takes = 0;
        } else if (strcmp(arg, "--persistent") == 0) {
            persistent = 1;
            takes = 0;
        } else if (strcmp(arg, "--metrics") == 0) {
            metrics = 1;
            takes = 0;
        } else if (!takes_value(arg)) {
            fprintf(stderr, "parley-storage-contract: %s: unknown option\n", arg);
            usage(stderr);
            goto out;
        } else if (val == NULL) {
            fprintf(stderr, "parley-storage-contract: %s needs a value\n", arg);
            usage(stderr);
            goto out;
        } else if (strcmp(arg, "--plugin") == 0) {
            plugin = val;
        } else if (strcmp(arg, "--name") == 0) {
            name = val;
        } else if (strcmp(arg, "--config") == 0) {
            config_file = val;
        } else if (strcmp(arg, "--set") == 0) {
            if (strchr(val, '=') == NULL || val[0] == '=') {
                fprintf(stderr, "parley-storage-contract: --set %s: expected KEY=VALUE\n", val);
                goto out;
            }
            sets[n_sets++] = (char *)val;
        } else if (strcmp(arg, "--case") == 0) {
            globs[n_globs++] = (char *)val;
        } else if (strcmp(arg, "--timeout") == 0) {
            char *end;
            unsigned long t = strtoul(val, &end, 10);
            if (*end != '\0' || t == 0 || t > 3600) {
                fprintf(stderr, "parley-storage-contract: --timeout %s: expected 1..3600 seconds\n", val);
                goto out;
            }
            timeout_s = (unsigned)t;
        } else if (strcmp(arg, "--workers") == 0) {
            char *end;
            unsigned long w = strtoul(val, &end, 10);
            if (*end != '\0' || w == 0 || w > 64) {
                fprintf(stderr, "parley-storage-contract: --workers %s: expected 1..64\n", val);
                goto out;
            }
            workers = (unsigned)w;
        } else {
            log_level = val; /* --log-level */
        }
        a += takes;
    }

    if (list) {
        for (i = 0; i < ct_n_cases; i++)
            if (selected(ct_cases[i].name, globs, n_globs))
                printf("%-26s %s%s\n", ct_cases[i].name, ct_cases[i].help,
                       ct_cases[i].persistent_only ? " (--persistent)" : "");
        status = EXIT_PASS;
        goto out;
    }
    if (plugin == NULL) {
        fprintf(stderr, "parley-storage-contract: --plugin PATH.so is required\n");
        usage(stderr);
        goto out;
    }
    level = parley__log_level_parse(log_level);
    if (level < 0) {
        fprintf(stderr, "parley-storage-contract: --log-level %s: expected error, warn, info, "
                        "debug or trace\n", log_level);
        goto out;
    }
    parley__log_configure(level, PARLEY__LOG_TEXT);

    if (name == NULL) {
        const char *base = strrchr(plugin, '/');
        size_t len;

        base = base != NULL ? base + 1 : plugin;
        len = strlen(base);
        if (len > 3 && strcmp(base + len - 3, ".so") == 0)
            len -= 3;
        name_buf = strndup(base, len);
        name = name_buf;
    }
    dir_buf = strdup(plugin);
    if (name == NULL || dir_buf == NULL)
        goto out;
    g_plugin_dir = dirname(dir_buf);
    g_entry.name = (char *)name;
    g_entry.path = (char *)plugin;
    g_entry.kind = PARLEY_PLUGIN_STORAGE;
    rc = build_config(config_file, sets, n_sets, &err);
    if (rc != 0) {
        fprintf(stderr, "parley-storage-contract: %s\n", err.message);
        goto out;
    }

    rc = parley__loop_init(workers, &err);
    if (rc != 0) {
        fprintf(stderr, "parley-storage-contract: %s\n", err.message);
        goto out;
    }
    g_loop_thread = pthread_self();
    uv_timer_init(parley__loop(), &g_timer);
    parley__msgid_init();

    memset(&ctx, 0, sizeof ctx);
    ctx.timeout_s = timeout_s;
    parley__random_bytes(NULL, rnd, sizeof rnd);
    snprintf(ctx.run, sizeof ctx.run, "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);

    printf("# parley-storage-contract: plugin %s (%s), run %s\n", name, plugin, ctx.run);
    ctx_begin(&ctx, "start");
    ctx.shared = ct_store_open(&ctx);
    if (ctx.shared == NULL) {
        printf("Bail out! %s\n", ctx.failure);
        printf("0 passed, 1 failed\n");
        status = EXIT_FAIL;
        goto close;
    }

    for (i = 0; i < ct_n_cases; i++) {
        const ct_case *k = &ct_cases[i];

        if (!selected(k->name, globs, n_globs))
            continue;
        number++;
        if (k->persistent_only && !persistent) {
            printf("ok %u - %s # SKIP needs --persistent\n", number, k->name);
            continue;
        }
        ctx_begin(&ctx, k->name);
        rc = k->run(&ctx);
        check_violations(&ctx);
        if (rc != 0 && !ctx.failed)
            ct_fail(&ctx, "failed (no reason given)");
        if (ctx.failed) {
            printf("not ok %u - %s: %s\n", number, k->name, ctx.failure);
            failed++;
        } else {
            printf("ok %u - %s\n", number, k->name);
            passed++;
        }
        ctx_end(&ctx);
    }

    /* The shared instance must stop cleanly too. */
    ctx_begin(&ctx, "stop");
    if (ct_store_close(&ctx, ctx.shared) != 0 || (check_violations(&ctx), ctx.failed)) {
        printf("not ok %u - stop: %s\n", ++number, ctx.failure);
        failed++;
    }
    if (number == 0)
        printf("# no case matches\n");
    if (metrics)
        print_metrics();
    printf("%u passed, %u failed\n", passed, failed);
    /* Selecting nothing is a mistake (a mistyped --case), not a pass. */
    status = failed == 0 && number > 0 ? EXIT_PASS : EXIT_FAIL;

close:
    /* Destroy what a failed case left running, if it has stopped. */
    for (struct ct_store *s = g_stores; s != NULL; s = s->next_all) {
        if (s->destroyed)
            continue;
        ctx_begin(&ctx, "cleanup");
        if (ct_store_close(&ctx, s) != 0) {
            /* An instance that never stopped: its records may still be in
             * use, so leave everything and exit. */
            fprintf(stderr, "parley-storage-contract: an instance did not stop; exiting\n");
            _exit(EXIT_FAIL);
        }
    }
    uv_close((uv_handle_t *)&g_timer, NULL);
    parley__loop_close();
    free_records();
    parley__metrics_free();
out:
    parley__config_free(g_doc);
    free(name_buf);
    free(dir_buf);
    free(sets);
    free(globs);
    return status;
}
