/*
 * mongo — Parley's MongoDB storage plugin (mongo-c-driver 1.23).
 *
 * Threads. The driver blocks, so it never runs on the loop: every entry
 * point only does queue bookkeeping there, and the driver runs in host
 * worker-pool jobs (api->work) that each pop a client from one
 * mongoc_client_pool_t and push it back. Completions are delivered from the
 * jobs' done_fn, on the loop, so the queues need no lock. At most pool_size
 * jobs run at once (one writer, pool_size - 1 readers), so popping a client
 * never waits for another job.
 *
 * Start. start() only parses and queues: the first write job creates the
 * pool (an SRV URI resolves there) and the {room: 1, _id: -1} index. A
 * database that is down at start does not stop the server: it reports
 * "disconnected" and every write job tries the index again until it exists.
 *
 * Writes: one write job in flight. Inserts that arrive while it runs wait
 * in `pending`; the next job takes up to batch_max of them as ONE ordered
 * bulk write (group commit). When a batch fails because no server can be
 * reached, the inserts waiting behind it fail with it at once: they would
 * wait out the same timeouts, and an outage should be reported within the
 * configured timeout, not a multiple of it.
 *
 * Reads: history and health jobs, up to pool_size - 1 at once. A job
 * answers the reads waiting when it starts (up to read_batch_max, shared
 * evenly among the idle clients), and reads asking for the same page share
 * one query (plugins/common/reads.h). Health probes that arrive while one
 * is running share its answer.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <parley/parley.h>

#include "fifo.h"
#include "reads.h"

#include "mongo_db.h"

#define MG_NAME "mongo"
#define MG_VERSION "0.1.0"
#define MG_LIMIT_MAX 100000u
#define MG_FALLBACK_ROOM "chat-room"

/* ---- config schema ---- */

static const parley_config_key mg_keys[] = {
    { "uri", PARLEY_CONFIG_STRING, PARLEY_CONFIG_SECRET, "mongodb://127.0.0.1:27017/parley", 0, 0,
      "the MongoDB connection string (mongodb:// or mongodb+srv://); an option it spells out "
      "(socketTimeoutMS, w, ...) wins over the key below" },
    { "database", PARLEY_CONFIG_STRING, 0, "", 0, 0,
      "the database; empty: the one named in uri, else parley" },
    { "collection", PARLEY_CONFIG_STRING, 0, "messages", 0, 0,
      "the collection (the Node backend's Mongoose model Message uses messages)" },
    { "server_selection_timeout", PARLEY_CONFIG_DURATION, 0, "2s", 100, 600000,
      "how long an operation waits for a usable server before it fails (EUNAVAIL)" },
    { "connect_timeout", PARLEY_CONFIG_DURATION, 0, "2s", 100, 600000,
      "how long opening a connection (and a monitor's hello) may take" },
    { "socket_timeout", PARLEY_CONFIG_DURATION, 0, "3s", 100, 600000,
      "how long one operation waits for the server's reply (a hung server fails after this)" },
    { "heartbeat_interval", PARLEY_CONFIG_DURATION, 0, "10s", 500, 600000,
      "how often the driver's monitor checks each server while nothing fails" },
    { "pool_size", PARLEY_CONFIG_INT, 0, "3", 2, 256,
      "connections (and concurrent jobs): one for writes, the rest for history and health" },
    { "write_concern", PARLEY_CONFIG_STRING, 0, "majority", 0, 0,
      "w of every insert: majority, or a number of members (1..50); 0 is refused" },
    { "journal", PARLEY_CONFIG_BOOL, 0, "true", 0, 0,
      "j of every insert: confirmed only once the write is in the on-disk journal" },
    { "wtimeout", PARLEY_CONFIG_DURATION, 0, "2s", 0, 600000,
      "how long the server waits for the write concern before answering with an error (0: no "
      "limit)" },
    { "batch_max", PARLEY_CONFIG_INT, 0, "256", 1, 100000,
      "the most inserts sent in one ordered bulk write (group commit)" },
    { "queue_max", PARLEY_CONFIG_INT, 0, "100000", 1, 10000000,
      "inserts that may wait for the writer; past it an insert fails at once (EUNAVAIL)" },
    { "read_batch_max", PARLEY_CONFIG_INT, 0, "64", 1, 4096,
      "the most history and health calls one read job answers; calls of one job asking for the "
      "same page share one query" },
};

static const parley_config_schema mg_schema = PARLEY_CONFIG_SCHEMA(mg_keys);

/* ---- state ---- */

enum mg_state { MG_CREATED, MG_RUNNING, MG_STOPPING, MG_CLOSING, MG_STOPPED };

typedef struct mg_insert {
    const parley_message *msg;
    parley_insert_done done;
    void *cb_arg;
} mg_insert;

typedef struct mg_plugin mg_plugin;

/* One read job: a batch of reads, answered with one pooled client at a time. */
typedef struct mg_read_job {
    mg_plugin *p;
    struct plugin_read *reads;
} mg_read_job;

typedef struct mg_waiter {
    parley_health_done done;
    void *cb_arg;
} mg_waiter;

struct mg_plugin {
    const parley_host_api *api;
    parley_host *host;
    int state;
    int log_attached;

    mg_db db;
    size_t batch_max;
    size_t queue_max;
    size_t max_reads;

    /* the pool: created by a write job, known on the loop once it is done */
    int need_open;
    int opened;
    int open_status;
    parley_error open_err;
    int index_warned;

    struct plugin_fifo pending;

    int writing;
    mg_insert *batch;
    mg_item *items;
    size_t batch_n;
    int batch_status;
    parley_error batch_err;
    int index_status;
    parley_error index_err;

    /* reads waiting for a pooled client, and read jobs running */
    struct plugin_reads reads;
    size_t read_batch_max;
    size_t reads_running;

    /* health probes waiting for the one in flight */
    mg_waiter *waiters;
    size_t n_waiters, waiters_cap;
    int probing;

    parley_stop_done stop_done;
    void *stop_arg;

    parley_metric *m_batch;
    parley_metric *m_commit;
    parley_metric *m_ok, *m_exists, *m_failed;
    parley_metric *m_queue;
};

static void write_kick(mg_plugin *p);
static void read_kick(mg_plugin *p);
static void fail_waiting_reads(mg_plugin *p);
static void maybe_stopped(mg_plugin *p);

/* ---- config ---- */

static int mg_create(const parley_host_api *api, parley_host *host, const parley_config *config,
                     void **instance, parley_error *err)
{
    mg_options o;
    mg_plugin *p;
    int rc;

    memset(&o, 0, sizeof o);
    o.uri = api->config_string(config, "uri");
    o.database = api->config_string(config, "database");
    o.collection = api->config_string(config, "collection");
    o.server_selection_timeout_ms = api->config_int(config, "server_selection_timeout");
    o.connect_timeout_ms = api->config_int(config, "connect_timeout");
    o.socket_timeout_ms = api->config_int(config, "socket_timeout");
    o.heartbeat_ms = api->config_int(config, "heartbeat_interval");
    o.write_concern = api->config_string(config, "write_concern");
    o.journal = api->config_bool(config, "journal");
    o.wtimeout_ms = api->config_int(config, "wtimeout");
    o.pool_size = api->config_int(config, "pool_size");
    if (o.uri == NULL || o.uri[0] == '\0')
        return parley_error_set(err, PARLEY_EINVAL, "mongo: uri is empty (%s)",
                                api->config_location(config, "uri"));
    if (o.database == NULL)
        o.database = "";
    if (o.collection == NULL)
        o.collection = "";
    if (o.write_concern == NULL)
        o.write_concern = "majority";
    if (o.pool_size < 2)
        o.pool_size = 2;

    p = calloc(1, sizeof *p);
    if (p == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "mongo: out of memory");
    /* Parsing the URI needs the driver initialised; it does no I/O. */
    mg_log_attach(api, host);
    p->log_attached = 1;
    rc = mg_db_init(&p->db, &o, MG_FALLBACK_ROOM, err);
    if (rc != PARLEY_OK) {
        mg_db_free(&p->db);
        mg_log_detach(host);
        free(p);
        return rc;
    }
    p->api = api;
    p->host = host;
    p->state = MG_CREATED;
    p->batch_max = (size_t)api->config_int(config, "batch_max");
    p->queue_max = (size_t)api->config_int(config, "queue_max");
    p->max_reads = (size_t)o.pool_size - 1;
    p->read_batch_max = (size_t)api->config_int(config, "read_batch_max");
    if (p->read_batch_max < 1)
        p->read_batch_max = 1;
    if (p->batch_max < 1)
        p->batch_max = 1;
    *instance = p;
    return PARLEY_OK;
}

/* ---- metrics ---- */

static parley_metric *metric(mg_plugin *p, int kind, const char *name, const char *help,
                             const char *labels, const double *buckets, size_t n_buckets)
{
    parley_metric_desc d = { sizeof d, (uint32_t)kind, name, help, labels, buckets, n_buckets };
    parley_error err = PARLEY_ERROR_INIT;
    parley_metric *m = p->api->metric_register(p->host, &d, &err);

    if (m == NULL)
        p->api->log(p->host, PARLEY_LOG_WARN, "metric %s not registered: %s", name, err.message);
    return m;
}

static void register_metrics(mg_plugin *p)
{
    static const double batch_buckets[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024 };
    static const double commit_buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
    const char *inserts_help = "Inserts completed by the mongo storage, by result";

    p->m_batch = metric(p, PARLEY_METRIC_HISTOGRAM, "parley_mongo_batch_size",
                        "Messages per MongoDB bulk write (group commit)", NULL, batch_buckets,
                        sizeof batch_buckets / sizeof batch_buckets[0]);
    p->m_commit = metric(p, PARLEY_METRIC_HISTOGRAM, "parley_mongo_commit_seconds",
                         "Time to write one batch to MongoDB, write concern included", NULL,
                         commit_buckets, sizeof commit_buckets / sizeof commit_buckets[0]);
    p->m_ok = metric(p, PARLEY_METRIC_COUNTER, "parley_mongo_inserts_total", inserts_help,
                     "result=\"ok\"", NULL, 0);
    p->m_exists = metric(p, PARLEY_METRIC_COUNTER, "parley_mongo_inserts_total", inserts_help,
                         "result=\"exists\"", NULL, 0);
    p->m_failed = metric(p, PARLEY_METRIC_COUNTER, "parley_mongo_inserts_total", inserts_help,
                         "result=\"error\"", NULL, 0);
    p->m_queue = metric(p, PARLEY_METRIC_GAUGE, "parley_mongo_write_queue",
                        "Inserts waiting for the next MongoDB bulk write", NULL, NULL, 0);
}

static void metric_add(mg_plugin *p, parley_metric *m, double v)
{
    if (m != NULL && v != 0)
        p->api->metric_add(m, v);
}

/* ---- lifecycle ---- */

static int mg_start(void *instance, parley_error *err)
{
    mg_plugin *p = instance;
    const char *room = p->api->chat_default_room(p->host);
    int rc;

    if (p->state != MG_CREATED)
        return parley_error_set(err, PARLEY_EINVAL, "mongo: start called twice");
    rc = mg_db_set_default_room(&p->db, room != NULL && room[0] != '\0' ? room : MG_FALLBACK_ROOM,
                                err);
    if (rc != PARLEY_OK)
        return rc;
    p->batch = calloc(p->batch_max, sizeof *p->batch);
    p->items = calloc(p->batch_max, sizeof *p->items);
    plugin_fifo_init(&p->pending, sizeof(mg_insert), 64);
    if (p->batch == NULL || p->items == NULL || p->pending.buf == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "mongo: out of memory");
    register_metrics(p);
    p->state = MG_RUNNING;
    p->api->log(p->host, PARLEY_LOG_INFO,
                "storage %s.%s on %s (mongo-c-driver %s, server selection %lld ms, batch_max %zu, "
                "pool_size %zu)", p->db.database, p->db.collection, p->db.hosts,
                mongoc_get_version(), (long long)p->db.selection_ms, p->batch_max,
                p->max_reads + 1);
    /* The first write job, with no messages, creates the pool and the index. */
    p->need_open = 1;
    write_kick(p);
    return PARLEY_OK;
}

static void close_work(void *arg)
{
    mg_plugin *p = arg;

    mg_db_close(&p->db);
}

static void close_done(void *arg, int status)
{
    mg_plugin *p = arg;

    (void)status;
    mg_db_close(&p->db); /* a no-op unless the job was cancelled */
    p->state = MG_STOPPED;
    if (p->stop_done != NULL)
        p->stop_done(p->stop_arg);
}

static void close_posted(void *arg)
{
    close_done(arg, 0);
}

/* Once everything accepted has completed: destroy the pool (it joins the
 * monitor threads and says goodbye to the servers) on a worker, then report. */
static void maybe_stopped(mg_plugin *p)
{
    if (p->state != MG_STOPPING)
        return;
    if (p->pending.len > 0 || p->writing || p->reads_running > 0 || p->reads.head != NULL ||
        p->probing)
        return;
    p->state = MG_CLOSING;
    if (p->api->work(p->host, close_work, close_done, p) == 0)
        return;
    mg_db_close(&p->db);
    if (p->api->post(p->host, close_posted, p) != 0)
        close_done(p, 0);
}

static void mg_stop(void *instance, parley_stop_done done, void *done_arg)
{
    mg_plugin *p = instance;

    if (p->state != MG_RUNNING) {
        if (p->state != MG_STOPPING && p->state != MG_CLOSING)
            done(done_arg);
        return;
    }
    p->stop_done = done;
    p->stop_arg = done_arg;
    p->state = MG_STOPPING;
    write_kick(p);
    maybe_stopped(p);
}

static void mg_destroy(void *instance)
{
    mg_plugin *p = instance;

    if (p == NULL)
        return;
    /* After stop the pool is gone already (destroyed on a worker); only a
     * host that destroys a started instance without stopping it makes this
     * destroy the pool here, on the loop. */
    mg_db_free(&p->db);
    plugin_reads_free(p->reads.head);
    /* After the pool is gone: nothing of the driver logs through us any more. */
    if (p->log_attached)
        mg_log_detach(p->host);
    free(p->batch);
    free(p->items);
    plugin_fifo_free(&p->pending);
    free(p->waiters);
    free(p);
}

/* ---- inserts ---- */

static double elapsed_s(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Worker thread. The only job that touches p->db's pool pointer and its
 * index flag while the pool is being created. */
static void write_work(void *arg)
{
    mg_plugin *p = arg;
    struct timespec t0;

    p->batch_err = (parley_error)PARLEY_ERROR_INIT;
    p->batch_status = PARLEY_OK;
    p->index_status = PARLEY_OK;
    if (p->db.pool == NULL) {
        p->open_err = (parley_error)PARLEY_ERROR_INIT;
        p->open_status = mg_db_open(&p->db, &p->open_err);
        if (p->open_status != PARLEY_OK) {
            for (size_t i = 0; i < p->batch_n; i++)
                p->items[i].status = p->open_status;
            p->batch_status = p->open_status;
            p->batch_err = p->open_err;
            return;
        }
    }
    if (!p->db.indexed) {
        p->index_err = (parley_error)PARLEY_ERROR_INIT;
        p->index_status = mg_ensure_index(&p->db, &p->index_err);
        if (p->index_status == PARLEY_EUNAVAIL) {
            /* No server: the batch would only wait out the same timeouts. */
            for (size_t i = 0; i < p->batch_n; i++) {
                p->items[i].status = PARLEY_EUNAVAIL;
                p->items[i].unavailable = 1;
            }
            p->batch_status = PARLEY_EUNAVAIL;
            p->batch_err = p->index_err;
            return;
        }
    }
    if (p->batch_n == 0)
        return;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    p->batch_status = mg_commit(&p->db, p->items, p->batch_n, &p->batch_err);
    if (p->m_batch != NULL)
        p->api->metric_observe(p->m_batch, (double)p->batch_n);
    if (p->m_commit != NULL)
        p->api->metric_observe(p->m_commit, elapsed_s(&t0));
}

static void complete_one(mg_plugin *p, const mg_insert *ins, int st, const parley_error *e,
                         size_t *ok, size_t *exists, size_t *failed)
{
    (void)p;
    if (st == PARLEY_OK) {
        (*ok)++;
        ins->done(ins->cb_arg, st, NULL);
    } else if (st == PARLEY_EEXIST) {
        (*exists)++;
        ins->done(ins->cb_arg, st, NULL);
    } else {
        (*failed)++;
        ins->done(ins->cb_arg, st, e);
    }
}

static void complete_batch(mg_plugin *p, int cancelled)
{
    size_t i, n = p->batch_n, ok = 0, exists = 0, failed = 0;
    int unavailable = 0;

    if (!cancelled && n > 0 && p->batch_status != PARLEY_OK)
        p->api->log(p->host, PARLEY_LOG_ERROR, "%zu insert(s) failed: %s", n,
                    p->batch_err.message);
    for (i = 0; i < n; i++) {
        mg_insert ins = p->batch[i];
        int st = cancelled ? cancelled : p->items[i].status;
        parley_error e = PARLEY_ERROR_INIT;

        if (p->items[i].unavailable)
            unavailable = 1;
        if (cancelled) {
            parley_error_set(&e, st, "mongo: insert of %s not run: %s", ins.msg->id,
                             parley_strerror(st));
        } else if (st != PARLEY_OK && st != PARLEY_EEXIST) {
            e = p->batch_err;
            e.code = st;
        }
        /* The message belongs to the host again once done is called. */
        complete_one(p, &ins, st, &e, &ok, &exists, &failed);
    }
    p->batch_n = 0;
    /* No server: those waiting behind this batch would only wait out the
     * same timeouts. Tell them now. */
    if (!cancelled && (unavailable || p->open_status != PARLEY_OK)) {
        parley_error e = p->batch_err;

        while (p->pending.len > 0) {
            mg_insert ins;

            plugin_fifo_pop(&p->pending, &ins);
            e.code = p->batch_status != PARLEY_OK ? p->batch_status : PARLEY_EUNAVAIL;
            complete_one(p, &ins, e.code, &e, &ok, &exists, &failed);
        }
    }
    metric_add(p, p->m_ok, (double)ok);
    metric_add(p, p->m_exists, (double)exists);
    metric_add(p, p->m_failed, (double)failed);
}

/* Loop thread, after write_work. */
static void write_done(void *arg, int status)
{
    mg_plugin *p = arg;
    int was_open = p->opened;

    if (status == 0 && p->db.pool != NULL)
        p->opened = 1;
    if (status == 0 && p->open_status != PARLEY_OK && !was_open)
        p->api->log(p->host, PARLEY_LOG_ERROR, "%s", p->open_err.message);
    if (status == 0 && p->index_status == PARLEY_EIO) {
        p->index_warned = 2;
        p->api->log(p->host, PARLEY_LOG_WARN, "%s; working without it (history pages scan "
                    "the collection)", p->index_err.message);
    } else if (status == 0 && p->index_status != PARLEY_OK && !p->index_warned) {
        p->index_warned = 1;
        p->api->log(p->host, PARLEY_LOG_WARN, "%s; retrying with the next write",
                    p->index_err.message);
    } else if (status == 0 && p->db.indexed && p->index_warned == 1) {
        p->index_warned = 2;
        p->api->log(p->host, PARLEY_LOG_INFO, "index {room: 1, _id: -1} created");
    }
    complete_batch(p, status == 0 ? 0 : PARLEY_ESHUTDOWN);
    p->writing = 0;
    if (!p->opened)
        fail_waiting_reads(p);   /* the pool could not be created: say why */
    p->open_status = PARLEY_OK;
    if (!was_open && p->opened)
        read_kick(p);
    write_kick(p);
    maybe_stopped(p);
}

/* Start the next write job with up to batch_max pending inserts (none for
 * the first job, which only opens the pool). */
static void write_kick(mg_plugin *p)
{
    int rc;

    while (!p->writing && (p->pending.len > 0 || p->need_open)) {
        size_t n = 0;

        p->need_open = 0;

        while (n < p->batch_max && p->pending.len > 0) {
            plugin_fifo_pop(&p->pending, &p->batch[n]);
            p->items[n].msg = p->batch[n].msg;
            p->items[n].status = PARLEY_EINTERNAL;
            p->items[n].unavailable = 0;
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
        p->writing = 0;
        complete_batch(p, rc);
        if (n == 0)
            return;
    }
}

static void mg_insert_msg(void *instance, const parley_message *msg, parley_insert_done done,
                          void *cb_arg)
{
    mg_plugin *p = instance;
    mg_insert ins = { msg, done, cb_arg };
    parley_error e = PARLEY_ERROR_INIT;

    if (p->state != MG_RUNNING) {
        int st = p->state == MG_CREATED ? PARLEY_EUNAVAIL : PARLEY_ESHUTDOWN;

        parley_error_set(&e, st, "mongo: insert of %s refused: the storage is %s", msg->id,
                         st == PARLEY_EUNAVAIL ? "not started" : "stopping");
        done(cb_arg, st, &e);
        return;
    }
    if (p->pending.len >= p->queue_max) {
        parley_error_set(&e, PARLEY_EUNAVAIL,
                         "mongo: insert of %s refused: %zu inserts are already waiting for %s "
                         "(queue_max)", msg->id, p->pending.len, p->db.hosts);
        metric_add(p, p->m_failed, 1);
        done(cb_arg, PARLEY_EUNAVAIL, &e);
        return;
    }
    if (plugin_fifo_push(&p->pending, &ins) != PARLEY_OK) {
        parley_error_set(&e, PARLEY_ENOMEM, "mongo: out of memory queueing insert of %s", msg->id);
        done(cb_arg, PARLEY_ENOMEM, &e);
        return;
    }
    write_kick(p);
}

/* ---- reads: history and health ---- */

/* Worker thread: each read of the batch in turn, one query per page. */
static void read_work(void *arg)
{
    mg_read_job *job = arg;
    mg_db *db = &job->p->db;

    for (struct plugin_read *r = job->reads; r != NULL; r = r->next) {
        r->err = (parley_error)PARLEY_ERROR_INIT;
        if (r->kind == PLUGIN_READ_HEALTH)
            r->status = mg_ping(db, &r->err);
        else if (r->same == NULL)
            r->status = mg_history(db, r->room, r->room_len, r->has_before ? r->before : NULL,
                                   r->limit, &r->rows, &r->n_rows, &r->has_more, &r->err);
    }
}

static void health_deliver(mg_plugin *p, int status, const parley_error *err)
{
    mg_waiter *w = p->waiters;
    size_t n = p->n_waiters, i;

    /* Detach first: a callback may ask for another probe. */
    p->waiters = NULL;
    p->n_waiters = p->waiters_cap = 0;
    p->probing = 0;
    for (i = 0; i < n; i++) {
        if (status == PARLEY_OK)
            w[i].done(w[i].cb_arg, PARLEY_STORAGE_CONNECTED, NULL);
        else
            w[i].done(w[i].cb_arg, PARLEY_STORAGE_DISCONNECTED, err);
    }
    free(w);
}

static void deliver_batch(mg_plugin *p, struct plugin_read *batch)
{
    for (struct plugin_read *r = batch; r != NULL; r = r->next) {
        if (r->kind == PLUGIN_READ_HEALTH)
            health_deliver(p, r->status, &r->err);
        else
            plugin_read_deliver_history(r, "mongo");
    }
    plugin_reads_free(batch);
}

/* Every read of the batch fails with status: its job did not run. */
static void not_run(struct plugin_read *batch, int status, const char *why)
{
    parley_error e = PARLEY_ERROR_INIT;

    parley_error_set(&e, status, "mongo: read not run: %s", why);
    plugin_reads_fail(batch, status, &e);
}

/* Loop thread, after read_work. */
static void read_done(void *arg, int status)
{
    mg_read_job *job = arg;
    mg_plugin *p = job->p;
    struct plugin_read *batch = job->reads;

    p->reads_running--;
    free(job);
    if (status != 0)
        not_run(batch, PARLEY_ESHUTDOWN, "the host is shutting down");
    read_kick(p);
    deliver_batch(p, batch);
    maybe_stopped(p);
}

/* The write job that was to create the pool could not: fail the reads
 * waiting for it with its reason (the next insert or read tries again). */
static void fail_waiting_reads(mg_plugin *p)
{
    struct plugin_read *waiting = p->reads.head;
    parley_error e = p->open_err;
    int status = p->open_status != PARLEY_OK ? p->open_status : PARLEY_EUNAVAIL;

    if (waiting == NULL)
        return;
    p->reads = (struct plugin_reads){ 0 };
    if (e.message[0] == '\0')
        parley_error_set(&e, status, "mongo: the client pool was not created");
    e.code = status;
    plugin_reads_fail(waiting, status, &e);
    deliver_batch(p, waiting);
}

static void read_kick(mg_plugin *p)
{
    while (p->reads.head != NULL && p->reads_running < p->max_reads) {
        struct plugin_read *batch;
        mg_read_job *job;
        int rc;

        /* Until a write job has created the pool, reads wait for it (and
         * start one if none is running). */
        if (!p->opened) {
            if (!p->writing) {
                p->need_open = 1;
                write_kick(p);
            }
            return;
        }
        batch = plugin_reads_take(&p->reads, p->read_batch_max, p->max_reads - p->reads_running);
        job = malloc(sizeof *job);
        if (job == NULL) {
            not_run(batch, PARLEY_ENOMEM, "out of memory");
            deliver_batch(p, batch);
            continue;
        }
        job->p = p;
        job->reads = batch;
        p->reads_running++;
        rc = p->api->work(p->host, read_work, read_done, job);
        if (rc == 0)
            continue;
        p->reads_running--;
        free(job);
        not_run(batch, rc, parley_strerror(rc));
        deliver_batch(p, batch);
    }
}

static void read_enqueue(mg_plugin *p, struct plugin_read *r)
{
    plugin_reads_push(&p->reads, r);
    read_kick(p);
}

static void mg_history_page(void *instance, const parley_history_query *q,
                            parley_history_done done, void *cb_arg)
{
    mg_plugin *p = instance;
    parley_error e = PARLEY_ERROR_INIT;
    struct plugin_read *r;

    if (p->state != MG_RUNNING) {
        int st = p->state == MG_CREATED ? PARLEY_EUNAVAIL : PARLEY_ESHUTDOWN;

        parley_error_set(&e, st, "mongo: history refused: the storage is %s",
                         st == PARLEY_EUNAVAIL ? "not started" : "stopping");
        done(cb_arg, st, NULL, 0, 0, &e);
        return;
    }
    if (q->limit == 0 || q->limit > MG_LIMIT_MAX || q->room == NULL ||
        (q->before_id != NULL && strlen(q->before_id) != PARLEY_ID_LEN)) {
        parley_error_set(&e, PARLEY_EINVAL, "mongo: bad history query (limit %u, before_id %s)",
                         q->limit, q->before_id != NULL ? q->before_id : "none");
        done(cb_arg, PARLEY_EINVAL, NULL, 0, 0, &e);
        return;
    }
    r = plugin_read_history(q, done, cb_arg);
    if (r == NULL) {
        parley_error_set(&e, PARLEY_ENOMEM, "mongo: out of memory queueing a history query");
        done(cb_arg, PARLEY_ENOMEM, NULL, 0, 0, &e);
        return;
    }
    read_enqueue(p, r);
}

static void mg_health(void *instance, parley_health_done done, void *cb_arg)
{
    mg_plugin *p = instance;
    parley_error e = PARLEY_ERROR_INIT;
    struct plugin_read *r;

    if (p->state != MG_RUNNING) {
        parley_error_set(&e, PARLEY_EUNAVAIL, "mongo: the storage is %s",
                         p->state == MG_CREATED ? "not started" : "stopping");
        done(cb_arg, PARLEY_STORAGE_DISCONNECTED, &e);
        return;
    }
    if (p->n_waiters == p->waiters_cap) {
        size_t cap = p->waiters_cap ? p->waiters_cap * 2 : 4;
        mg_waiter *grown = realloc(p->waiters, cap * sizeof *grown);

        if (grown == NULL) {
            parley_error_set(&e, PARLEY_ENOMEM, "mongo: out of memory queueing a health probe");
            done(cb_arg, PARLEY_STORAGE_DISCONNECTED, &e);
            return;
        }
        p->waiters = grown;
        p->waiters_cap = cap;
    }
    p->waiters[p->n_waiters].done = done;
    p->waiters[p->n_waiters].cb_arg = cb_arg;
    p->n_waiters++;
    if (p->probing)
        return;   /* answered with the probe in flight */
    /* The waiters are answered together (health_deliver), not through r. */
    r = plugin_read_health(NULL, NULL);
    if (r == NULL) {
        parley_error_set(&e, PARLEY_ENOMEM, "mongo: out of memory queueing a health probe");
        health_deliver(p, PARLEY_ENOMEM, &e);
        return;
    }
    p->probing = 1;
    read_enqueue(p, r);
}

/* ---- descriptor ---- */

static const parley_storage_vtable mg_vtable = {
    .struct_size = sizeof(parley_storage_vtable),
    .insert = mg_insert_msg,
    .history = mg_history_page,
    .health = mg_health,
};

static const parley_plugin_descriptor mg_descriptor = {
    PARLEY_DESCRIPTOR_HEADER,
    .min_host_minor = 0,
    .kind = PARLEY_PLUGIN_STORAGE,
    .name = MG_NAME,
    .version = MG_VERSION,
    .description = "MongoDB storage (mongo-c-driver, group commit, Node backend schema)",
    .config_schema = &mg_schema,
    .create = mg_create,
    .start = mg_start,
    .stop = mg_stop,
    .destroy = mg_destroy,
    .vtable = &mg_vtable,
    .reconfigure = NULL,
};

PARLEY_PLUGIN_ENTRY(mg_descriptor)
