/*
 * sqlite — Parley's embedded default storage plugin.
 *
 * Threads. Every entry point runs on the loop thread and only does queue
 * bookkeeping there; SQLite runs in host worker-pool jobs (api->work) and
 * every completion is delivered from the job's done_fn, back on the loop.
 * So the queues need no lock: they are touched on the loop only, and a
 * connection is handed to exactly one job at a time.
 *
 * Writes: one write job in flight. Inserts that arrive while it runs wait
 * in `pending`; when it finishes, the next job takes up to batch_max of
 * them and commits them in ONE transaction (group commit): under load the
 * cost of a commit's fsync is shared by everyone who arrived during the
 * previous one. An insert that finds the writer idle starts a job at once:
 * waiting (a post, a timer) to gather more would add latency at low load
 * and buys nothing at high load, where the writer is always busy.
 *
 * Reads (history, health) use read-only connections of their own (WAL lets
 * them run beside the writer), read_connections of them, one job each. A
 * job answers every read waiting when its connection freed up (up to
 * read_batch_max), and reads asking for the same page share one query
 * (plugins/common/reads.h): a join storm into a room, every member asking
 * for the newest page, costs one worker round trip, not one per member.
 *
 * start() opens the database synchronously. That blocks the loop, but only
 * once, before the server serves anything, and for milliseconds (open,
 * WAL, schema check): what it buys is that a database that cannot be used
 * stops the server at startup with the reason, instead of a server that
 * listens and then fails every message.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <parley/parley.h>

#include "fifo.h"
#include "reads.h"

#include "sqlite_db.h"

#define SQ_NAME "sqlite"
#define SQ_VERSION "0.1.0"

/* ---- config schema ---- */

static const parley_config_key sq_keys[] = {
    { "path", PARLEY_CONFIG_STRING, 0, "./data/parley.db", 0, 0,
      "the database file; its directory is created if missing (relative to the working directory)" },
    { "busy_timeout", PARLEY_CONFIG_DURATION, 0, "5s", 0, 600000,
      "how long a write or read waits for a lock held by another connection before failing (EBUSY)" },
    { "synchronous", PARLEY_CONFIG_STRING, 0, "full", 0, 0,
      "full: every confirmed message survives a crash or a power loss; normal: survives a "
      "process crash, a power loss may lose the last commits" },
    { "batch_max", PARLEY_CONFIG_INT, 0, "256", 1, 65536,
      "the most inserts committed in one transaction (group commit)" },
    { "read_connections", PARLEY_CONFIG_INT, 0, "1", 1, 16,
      "read-only connections for history and health, each serving one read job at a time" },
    { "read_batch_max", PARLEY_CONFIG_INT, 0, "64", 1, 4096,
      "the most history and health calls one read job answers; calls of one job asking for the "
      "same page share one query" },
    { "journal_size_limit", PARLEY_CONFIG_SIZE, 0, "64MiB", 0, 0,
      "the size the -wal file is truncated to after a checkpoint" },
    { "queue_max", PARLEY_CONFIG_INT, 0, "100000", 1, 10000000,
      "inserts that may wait for the writer; past it an insert fails at once (EUNAVAIL)" },
};

static const parley_config_schema sq_schema = PARLEY_CONFIG_SCHEMA(sq_keys);

/* ---- state ---- */

enum sq_state { SQ_CREATED, SQ_RUNNING, SQ_STOPPING, SQ_CLOSING, SQ_STOPPED };

typedef struct sq_insert {
    const parley_message *msg;
    parley_insert_done done;
    void *cb_arg;
} sq_insert;

typedef struct sq_plugin sq_plugin;

/* One read job: a batch of reads answered on one read connection. */
typedef struct sq_read_job {
    sq_plugin *p;
    sq_reader *reader;
    struct plugin_read *reads;
} sq_read_job;

struct sq_plugin {
    const parley_host_api *api;
    parley_host *host;
    int state;

    char *path;
    sq_options opt;
    size_t batch_max;
    size_t queue_max;
    size_t n_readers;

    sq_writer writer;
    int writer_open;
    sq_reader *readers;
    size_t n_open_readers;
    sq_reader **free_readers;   /* stack of idle readers */
    size_t n_free;

    /* inserts waiting for the next write job: a ring, grown as needed */
    struct plugin_fifo pending;

    /* the one write job */
    int writing;
    sq_insert *batch;
    sq_item *items;
    size_t batch_n;
    int batch_status;
    parley_error batch_err;

    /* reads waiting for a connection, and read jobs running */
    struct plugin_reads reads;
    size_t read_batch_max;
    size_t reads_running;

    parley_stop_done stop_done;
    void *stop_arg;

    parley_metric *m_batch;
    parley_metric *m_commit;
    parley_metric *m_ok, *m_exists, *m_failed;
    parley_metric *m_queue;
};

static void write_kick(sq_plugin *p);
static void maybe_stopped(sq_plugin *p);

/* ---- config ---- */

static int sq_create(const parley_host_api *api, parley_host *host, const parley_config *config,
                     void **instance, parley_error *err)
{
    const char *path = api->config_string(config, "path");
    const char *sync = api->config_string(config, "synchronous");
    sq_plugin *p;

    if (path == NULL || path[0] == '\0')
        return parley_error_set(err, PARLEY_EINVAL, "sqlite: path is empty (%s); set it to a file",
                                api->config_location(config, "path"));
    if (strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0)
        return parley_error_set(err, PARLEY_EINVAL,
                                "sqlite: path \"%s\" (%s) is not a file name; in-memory databases "
                                "and URIs are not supported (WAL needs a file)",
                                path, api->config_location(config, "path"));
    if (sync == NULL || (strcasecmp(sync, "full") != 0 && strcasecmp(sync, "normal") != 0))
        return parley_error_set(err, PARLEY_EINVAL,
                                "sqlite: synchronous is \"%s\" (%s); expected full or normal",
                                sync != NULL ? sync : "", api->config_location(config, "synchronous"));

    p = calloc(1, sizeof *p);
    if (p == NULL || (p->path = strdup(path)) == NULL) {
        free(p);
        return parley_error_set(err, PARLEY_ENOMEM, "sqlite: out of memory");
    }
    p->api = api;
    p->host = host;
    p->state = SQ_CREATED;
    p->opt.path = p->path;
    p->opt.busy_timeout_ms = api->config_int(config, "busy_timeout");
    p->opt.synchronous = strcasecmp(sync, "normal") == 0 ? SQ_SYNC_NORMAL : SQ_SYNC_FULL;
    p->opt.journal_size_limit = api->config_int(config, "journal_size_limit");
    p->batch_max = (size_t)api->config_int(config, "batch_max");
    p->n_readers = (size_t)api->config_int(config, "read_connections");
    p->queue_max = (size_t)api->config_int(config, "queue_max");
    p->read_batch_max = (size_t)api->config_int(config, "read_batch_max");
    if (p->read_batch_max < 1)
        p->read_batch_max = 1;
    if (p->batch_max < 1)
        p->batch_max = 1;
    if (p->n_readers < 1)
        p->n_readers = 1;
    *instance = p;
    return PARLEY_OK;
}

/* ---- metrics ---- */

static parley_metric *metric(sq_plugin *p, int kind, const char *name, const char *help,
                             const char *labels, const double *buckets, size_t n_buckets)
{
    parley_metric_desc d = { sizeof d, (uint32_t)kind, name, help, labels, buckets, n_buckets };
    parley_error err = PARLEY_ERROR_INIT;
    parley_metric *m = p->api->metric_register(p->host, &d, &err);

    if (m == NULL)
        p->api->log(p->host, PARLEY_LOG_WARN, "metric %s not registered: %s", name, err.message);
    return m;
}

static void register_metrics(sq_plugin *p)
{
    static const double batch_buckets[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024 };
    static const double commit_buckets[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                             0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5 };
    const char *inserts_help = "Inserts completed by the sqlite storage, by result";

    p->m_batch = metric(p, PARLEY_METRIC_HISTOGRAM, "parley_sqlite_batch_size",
                        "Messages committed per sqlite transaction (group commit)", NULL,
                        batch_buckets, sizeof batch_buckets / sizeof batch_buckets[0]);
    p->m_commit = metric(p, PARLEY_METRIC_HISTOGRAM, "parley_sqlite_commit_seconds",
                         "Time to insert and commit one sqlite batch, fsync included", NULL,
                         commit_buckets, sizeof commit_buckets / sizeof commit_buckets[0]);
    p->m_ok = metric(p, PARLEY_METRIC_COUNTER, "parley_sqlite_inserts_total", inserts_help,
                     "result=\"ok\"", NULL, 0);
    p->m_exists = metric(p, PARLEY_METRIC_COUNTER, "parley_sqlite_inserts_total", inserts_help,
                         "result=\"exists\"", NULL, 0);
    p->m_failed = metric(p, PARLEY_METRIC_COUNTER, "parley_sqlite_inserts_total", inserts_help,
                         "result=\"error\"", NULL, 0);
    p->m_queue = metric(p, PARLEY_METRIC_GAUGE, "parley_sqlite_write_queue",
                        "Inserts waiting for the next sqlite transaction", NULL, NULL, 0);
}

static void metric_add(sq_plugin *p, parley_metric *m, double v)
{
    if (m != NULL && v != 0)
        p->api->metric_add(m, v);
}

/* ---- lifecycle ---- */

static void close_all(sq_plugin *p)
{
    size_t i;

    /* Readers first: the writer, closing last, checkpoints the WAL and
     * removes the -wal and -shm files. */
    for (i = 0; i < p->n_open_readers; i++)
        sq_reader_close(&p->readers[i]);
    p->n_open_readers = 0;
    if (p->writer_open)
        sq_writer_close(&p->writer);
    p->writer_open = 0;
}

static int sq_start(void *instance, parley_error *err)
{
    sq_plugin *p = instance;
    size_t i;
    int rc;

    if (p->state != SQ_CREATED)
        return parley_error_set(err, PARLEY_EINVAL, "sqlite: start called twice");
    p->readers = calloc(p->n_readers, sizeof *p->readers);
    p->free_readers = calloc(p->n_readers, sizeof *p->free_readers);
    p->batch = calloc(p->batch_max, sizeof *p->batch);
    p->items = calloc(p->batch_max, sizeof *p->items);
    plugin_fifo_init(&p->pending, sizeof(sq_insert), 64);
    if (p->readers == NULL || p->free_readers == NULL || p->batch == NULL || p->items == NULL ||
        p->pending.buf == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "sqlite: out of memory");

    rc = sq_writer_open(&p->writer, &p->opt, err);
    if (rc != PARLEY_OK)
        return rc;
    p->writer_open = 1;
    for (i = 0; i < p->n_readers; i++) {
        rc = sq_reader_open(&p->readers[i], &p->opt, err);
        if (rc != PARLEY_OK) {
            close_all(p);
            return rc;
        }
        p->n_open_readers++;
        p->free_readers[p->n_free++] = &p->readers[i];
    }
    register_metrics(p);
    p->state = SQ_RUNNING;
    p->api->log(p->host, PARLEY_LOG_INFO,
                "database %s open (SQLite %s, WAL, synchronous=%s, batch_max=%zu)", p->path,
                sqlite3_libversion(), p->opt.synchronous == SQ_SYNC_NORMAL ? "normal" : "full",
                p->batch_max);
    return PARLEY_OK;
}

static void close_work(void *arg)
{
    close_all(arg);
}

static void close_done(void *arg, int status)
{
    sq_plugin *p = arg;

    close_all(p); /* a no-op unless the job was cancelled */
    p->state = SQ_STOPPED;
    if (p->stop_done != NULL)
        p->stop_done(p->stop_arg);
}

static void close_posted(void *arg)
{
    close_done(arg, 0);
}

/* Once everything accepted has completed: close the connections (the last
 * close checkpoints, which writes and fsyncs) on a worker, then report. */
static void maybe_stopped(sq_plugin *p)
{
    if (p->state != SQ_STOPPING)
        return;
    if (p->pending.len > 0 || p->writing || p->reads_running > 0 || p->reads.head != NULL)
        return;
    p->state = SQ_CLOSING;
    if (p->api->work(p->host, close_work, close_done, p) == 0)
        return;
    /* No worker pool any more: close here, but still report after this
     * call returns, never from inside a completion we are delivering. */
    close_all(p);
    if (p->api->post(p->host, close_posted, p) != 0)
        close_done(p, 0);
}

static void sq_stop(void *instance, parley_stop_done done, void *done_arg)
{
    sq_plugin *p = instance;

    if (p->state != SQ_RUNNING) {
        if (p->state != SQ_STOPPING && p->state != SQ_CLOSING)
            done(done_arg);
        return;
    }
    p->stop_done = done;
    p->stop_arg = done_arg;
    p->state = SQ_STOPPING;
    write_kick(p);
    maybe_stopped(p);
}

static void sq_destroy(void *instance)
{
    sq_plugin *p = instance;

    if (p == NULL)
        return;
    close_all(p);
    /* Only reachable with work left if the host destroys a running
     * instance; do not leak it. */
    plugin_reads_free(p->reads.head);
    free(p->readers);
    free(p->free_readers);
    free(p->batch);
    free(p->items);
    plugin_fifo_free(&p->pending);
    free(p->path);
    free(p);
}

/* ---- inserts ---- */

static double elapsed_s(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Worker thread. */
static void write_work(void *arg)
{
    sq_plugin *p = arg;
    struct timespec t0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    p->batch_err = (parley_error)PARLEY_ERROR_INIT;
    p->batch_status = sq_commit(&p->writer, p->items, p->batch_n, &p->batch_err);
    if (p->m_batch != NULL)
        p->api->metric_observe(p->m_batch, (double)p->batch_n);
    if (p->m_commit != NULL)
        p->api->metric_observe(p->m_commit, elapsed_s(&t0));
}

static void complete_batch(sq_plugin *p, int cancelled)
{
    size_t i, n = p->batch_n, ok = 0, exists = 0, failed = 0;

    if (!cancelled && p->batch_status != PARLEY_OK)
        p->api->log(p->host, PARLEY_LOG_ERROR, "%zu insert(s) failed: %s", n,
                    p->batch_err.message);
    for (i = 0; i < n; i++) {
        sq_insert ins = p->batch[i];
        int st = cancelled ? cancelled : p->items[i].status;

        /* The message belongs to the host again once done is called. */
        if (st == PARLEY_OK) {
            ok++;
            ins.done(ins.cb_arg, st, NULL);
        } else if (st == PARLEY_EEXIST) {
            exists++;
            ins.done(ins.cb_arg, st, NULL);
        } else if (cancelled) {
            parley_error e = PARLEY_ERROR_INIT;

            failed++;
            parley_error_set(&e, st, "sqlite: insert of %s not run: %s", ins.msg->id,
                             parley_strerror(st));
            ins.done(ins.cb_arg, st, &e);
        } else {
            failed++;
            p->batch_err.code = st;
            ins.done(ins.cb_arg, st, &p->batch_err);
        }
    }
    metric_add(p, p->m_ok, (double)ok);
    metric_add(p, p->m_exists, (double)exists);
    metric_add(p, p->m_failed, (double)failed);
    p->batch_n = 0;
}

/* Loop thread, after write_work. */
static void write_done(void *arg, int status)
{
    sq_plugin *p = arg;

    complete_batch(p, status == 0 ? 0 : PARLEY_ESHUTDOWN);
    p->writing = 0;
    write_kick(p);
    maybe_stopped(p);
}

/* Start the next write job with up to batch_max pending inserts. */
static void write_kick(sq_plugin *p)
{
    int rc;

    while (!p->writing && p->pending.len > 0) {
        size_t n = 0;

        while (n < p->batch_max && p->pending.len > 0) {
            plugin_fifo_pop(&p->pending, &p->batch[n]);
            p->items[n].msg = p->batch[n].msg;
            p->items[n].status = PARLEY_EINTERNAL;
            n++;
        }
        p->batch_n = n;
        p->batch_status = PARLEY_OK;
        p->writing = 1;
        if (p->m_queue != NULL)
            p->api->metric_set(p->m_queue, (double)p->pending.len);
        rc = p->api->work(p->host, write_work, write_done, p);
        if (rc == 0)
            return;
        /* No worker pool: fail this batch and try the next. */
        p->batch_status = rc;
        complete_batch(p, rc);
        p->writing = 0;
    }
}

static void sq_insert_msg(void *instance, const parley_message *msg, parley_insert_done done,
                          void *cb_arg)
{
    sq_plugin *p = instance;
    sq_insert ins = { msg, done, cb_arg };
    parley_error e = PARLEY_ERROR_INIT;

    if (p->state != SQ_RUNNING) {
        int st = p->state == SQ_CREATED ? PARLEY_EUNAVAIL : PARLEY_ESHUTDOWN;

        parley_error_set(&e, st, "sqlite: insert of %s refused: the storage is %s", msg->id,
                         st == PARLEY_EUNAVAIL ? "not started" : "stopping");
        done(cb_arg, st, &e);
        return;
    }
    if (p->pending.len >= p->queue_max) {
        /* The disk is not keeping up at all: say so now rather than hold
         * the message until the host's deadline. */
        parley_error_set(&e, PARLEY_EUNAVAIL,
                         "sqlite: insert of %s refused: %zu inserts are already waiting for %s "
                         "(queue_max)", msg->id, p->pending.len, p->path);
        metric_add(p, p->m_failed, 1);
        done(cb_arg, PARLEY_EUNAVAIL, &e);
        return;
    }
    if (plugin_fifo_push(&p->pending, &ins) != PARLEY_OK) {
        parley_error_set(&e, PARLEY_ENOMEM, "sqlite: out of memory queueing insert of %s", msg->id);
        done(cb_arg, PARLEY_ENOMEM, &e);
        return;
    }
    write_kick(p);
}

/* ---- reads: history and health ---- */

static void read_kick(sq_plugin *p);

/* Worker thread: each read of the batch in turn, one query per page. */
static void read_work(void *arg)
{
    sq_read_job *job = arg;

    for (struct plugin_read *r = job->reads; r != NULL; r = r->next) {
        r->err = (parley_error)PARLEY_ERROR_INIT;
        if (r->kind == PLUGIN_READ_HEALTH)
            r->status = sq_probe(job->reader, &job->p->writer, &r->err);
        else if (r->same == NULL)
            r->status = sq_history(job->reader, r->room, r->room_len,
                                   r->has_before ? r->before : NULL, r->limit, &r->rows,
                                   &r->n_rows, &r->has_more, &r->err);
    }
}

static void read_deliver(struct plugin_read *r)
{
    if (r->kind == PLUGIN_READ_HISTORY) {
        plugin_read_deliver_history(r, "sqlite");
        return;
    }
    if (r->status == PARLEY_OK)
        r->health_done(r->cb_arg, PARLEY_STORAGE_CONNECTED, NULL);
    else
        r->health_done(r->cb_arg, PARLEY_STORAGE_DISCONNECTED, &r->err);
}

static void deliver_batch(struct plugin_read *batch)
{
    for (struct plugin_read *r = batch; r != NULL; r = r->next)
        read_deliver(r);
    plugin_reads_free(batch);
}

/* Every read of the batch fails with status: its job did not run. */
static void not_run(struct plugin_read *batch, int status, const char *why)
{
    parley_error e = PARLEY_ERROR_INIT;

    parley_error_set(&e, status, "sqlite: read not run: %s", why);
    plugin_reads_fail(batch, status, &e);
}

/* Loop thread, after read_work. */
static void read_done(void *arg, int status)
{
    sq_read_job *job = arg;
    sq_plugin *p = job->p;
    struct plugin_read *batch = job->reads;

    p->free_readers[p->n_free++] = job->reader;
    p->reads_running--;
    free(job);
    if (status != 0)
        not_run(batch, PARLEY_ESHUTDOWN, "the host is shutting down");
    read_kick(p);
    deliver_batch(batch);
    maybe_stopped(p);
}

static void read_kick(sq_plugin *p)
{
    while (p->reads.head != NULL && p->n_free > 0) {
        struct plugin_read *batch = plugin_reads_take(&p->reads, p->read_batch_max, p->n_free);
        sq_read_job *job = malloc(sizeof *job);
        int rc;

        if (job == NULL) {
            not_run(batch, PARLEY_ENOMEM, "out of memory");
            deliver_batch(batch);
            continue;
        }
        job->p = p;
        job->reads = batch;
        job->reader = p->free_readers[--p->n_free];
        p->reads_running++;
        rc = p->api->work(p->host, read_work, read_done, job);
        if (rc == 0)
            continue;
        p->free_readers[p->n_free++] = job->reader;
        p->reads_running--;
        free(job);
        not_run(batch, rc, parley_strerror(rc));
        deliver_batch(batch);
    }
}

static void read_enqueue(sq_plugin *p, struct plugin_read *r)
{
    plugin_reads_push(&p->reads, r);
    read_kick(p);
}

static void sq_history_page(void *instance, const parley_history_query *q,
                            parley_history_done done, void *cb_arg)
{
    sq_plugin *p = instance;
    parley_error e = PARLEY_ERROR_INIT;
    struct plugin_read *r;

    if (p->state != SQ_RUNNING) {
        int st = p->state == SQ_CREATED ? PARLEY_EUNAVAIL : PARLEY_ESHUTDOWN;

        parley_error_set(&e, st, "sqlite: history refused: the storage is %s",
                         st == PARLEY_EUNAVAIL ? "not started" : "stopping");
        done(cb_arg, st, NULL, 0, 0, &e);
        return;
    }
    if (q->limit == 0 || q->room == NULL ||
        (q->before_id != NULL && strlen(q->before_id) > PARLEY_ID_LEN)) {
        parley_error_set(&e, PARLEY_EINVAL, "sqlite: bad history query (limit %u, before_id %s)",
                         q->limit, q->before_id != NULL ? q->before_id : "none");
        done(cb_arg, PARLEY_EINVAL, NULL, 0, 0, &e);
        return;
    }
    r = plugin_read_history(q, done, cb_arg);
    if (r == NULL) {
        parley_error_set(&e, PARLEY_ENOMEM, "sqlite: out of memory queueing a history query");
        done(cb_arg, PARLEY_ENOMEM, NULL, 0, 0, &e);
        return;
    }
    read_enqueue(p, r);
}

static void sq_health(void *instance, parley_health_done done, void *cb_arg)
{
    sq_plugin *p = instance;
    parley_error e = PARLEY_ERROR_INIT;
    struct plugin_read *r;

    if (p->state != SQ_RUNNING) {
        parley_error_set(&e, PARLEY_EUNAVAIL, "sqlite: the storage is %s",
                         p->state == SQ_CREATED ? "not started" : "stopping");
        done(cb_arg, PARLEY_STORAGE_DISCONNECTED, &e);
        return;
    }
    r = plugin_read_health(done, cb_arg);
    if (r == NULL) {
        parley_error_set(&e, PARLEY_ENOMEM, "sqlite: out of memory queueing a health probe");
        done(cb_arg, PARLEY_STORAGE_DISCONNECTED, &e);
        return;
    }
    read_enqueue(p, r);
}

/* ---- descriptor ---- */

static const parley_storage_vtable sq_vtable = {
    .struct_size = sizeof(parley_storage_vtable),
    .insert = sq_insert_msg,
    .history = sq_history_page,
    .health = sq_health,
};

static const parley_plugin_descriptor sq_descriptor = {
    PARLEY_DESCRIPTOR_HEADER,
    .min_host_minor = 0,
    .kind = PARLEY_PLUGIN_STORAGE,
    .name = SQ_NAME,
    .version = SQ_VERSION,
    .description = "embedded SQLite storage (WAL, group commit)",
    .config_schema = &sq_schema,
    .create = sq_create,
    .start = sq_start,
    .stop = sq_stop,
    .destroy = sq_destroy,
    .vtable = &sq_vtable,
    .reconfigure = NULL,
};

PARLEY_PLUGIN_ENTRY(sq_descriptor)
