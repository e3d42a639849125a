/*
 * The server's life cycle.
 *
 * Start-up order follows the data: storage first (a transport may take a
 * message as soon as it starts), then transports (they register routes),
 * then the listening socket, so no request can arrive before every route
 * exists. Shutdown runs the other way: stop taking messages, tell clients,
 * wait for in-flight storage writes, stop transports, stop storage, close
 * the listener, and let the loop end.
 */
#include "runtime.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "chat.h"
#include "events.h"
#include "host.h"
#include "listener.h"
#include "loader.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "msgid.h"
#include "schema.h"
#include "settings.h"
#include "storage_queue.h"

#define SHUTDOWN_REASON "server shutting down"

static struct {
    struct parley__settings *settings;
    struct parley__plugin *storage;
    struct parley__plugin **transports;
    size_t n_transports;
    uv_signal_t sig_int, sig_term, sig_hup;
    uv_timer_t deadline;
    uv_timer_t settle;
    int shutting_down;
    int queue_ready;          /* storage queue initialised: drain it */
    int exit_code;
    size_t transports_stopping;
    parley_timer *flush_timer;   /* shutdown: waiting for WebSocket close frames */
    uint64_t flush_until;
    parley_metric *reloads_ok;
    parley_metric *reloads_failed;
} rt;

static void fatal(const char *what, const parley_error *err)
{
    fprintf(stderr, "parley: %s%s%s\n", what ? what : "", what ? ": " : "", err->message);
}

/* ---- plugins ---------------------------------------------------------- */

static int load_plugins(const struct parley__settings *s, parley_error *err)
{
    char *dir = NULL;
    const char *plugin_dir = s->plugins.dir;
    int rc;

    if (plugin_dir == NULL || plugin_dir[0] == '\0') {
        dir = parley__plugin_dir_default();
        plugin_dir = dir;
    }
    rc = parley__plugin_load(&s->storage.plugin, plugin_dir, &rt.storage, err);
    if (rc == 0 && s->n_transports > 0) {
        rt.transports = calloc(s->n_transports, sizeof *rt.transports);
        if (rt.transports == NULL)
            rc = parley_error_set(err, PARLEY_ENOMEM, "out of memory loading transports");
    }
    for (size_t i = 0; rc == 0 && i < s->n_transports; i++) {
        rc = parley__plugin_load(&s->transports[i], plugin_dir, &rt.transports[i], err);
        if (rc == 0)
            rt.n_transports = i + 1;
    }
    free(dir);
    return rc;
}

static int create_plugins(parley_error *err)
{
    int rc = parley__plugin_create(rt.storage, err);

    for (size_t i = 0; rc == 0 && i < rt.n_transports; i++)
        rc = parley__plugin_create(rt.transports[i], err);
    return rc;
}

static void destroy_plugins(void)
{
    for (size_t i = rt.n_transports; i > 0; i--)
        parley__plugin_destroy(rt.transports[i - 1]);
    free(rt.transports);
    rt.transports = NULL;
    rt.n_transports = 0;
    if (rt.storage != NULL)
        parley__plugin_destroy(rt.storage);
    rt.storage = NULL;
}

/* ---- options derived from settings ------------------------------------ */

static void listener_options(const struct parley__settings *s, struct parley__listener_options *o)
{
    memset(o, 0, sizeof *o);
    o->host = s->server.host;
    o->port = s->server.port;
    o->max_body = s->listener.max_body;
    o->max_message = s->listener.max_message;
    o->send_queue_max = s->listener.send_queue_max;
    o->max_header = s->listener.max_header;
    o->max_connections = s->listener.max_connections;
    o->header_timeout_ms = s->listener.header_timeout_ms;
    o->idle_timeout_ms = s->listener.idle_timeout_ms;
    o->max_connections_per_ip = s->listener.max_connections_per_ip;
    o->connect_rate_per_ip = s->listener.connect_rate_per_ip;
    o->connect_burst_per_ip = s->listener.connect_burst_per_ip;
    o->client_memory_max = s->listener.client_memory_max;
    o->write_coalesce_ms = s->listener.write_coalesce_ms;
}

static void chat_options(const struct parley__settings *s, struct parley__chat_options *o)
{
    memset(o, 0, sizeof *o);
    o->default_room = s->chat.default_room;
    o->history_limit = s->chat.history_limit;
    o->history_max = s->chat.history_max;
    o->max_rooms_per_session = s->chat.max_rooms_per_session;
    o->limits.max_content_length = s->chat.max_content_length;
    o->limits.max_username_length = s->chat.max_username_length;
    o->limits.max_room_length = s->chat.max_room_length;
}

/* ---- shutdown ----------------------------------------------------------- */

static void handle_closed(uv_handle_t *handle)
{
    (void)handle;
}

static void settle_done(uv_timer_t *timer)
{
    (void)timer;
    parley__loop_stop();
}

/* Everything is stopped: close what the runtime owns and let the loop end.
 * The listener's connections need a few loop iterations to finish closing
 * before uv_run may return. */
static void finish(void)
{
    parley__timer_stop(rt.flush_timer);
    rt.flush_timer = NULL;
    uv_timer_stop(&rt.deadline);
    uv_close((uv_handle_t *)&rt.deadline, handle_closed);
    uv_close((uv_handle_t *)&rt.sig_int, handle_closed);
    uv_close((uv_handle_t *)&rt.sig_term, handle_closed);
    uv_close((uv_handle_t *)&rt.sig_hup, handle_closed);
    parley__listener_close();
    uv_timer_init(parley__loop(), &rt.settle);
    uv_timer_start(&rt.settle, settle_done, 100, 0);
    uv_unref((uv_handle_t *)&rt.settle);
}

static void storage_stopped(void *arg)
{
    (void)arg;
    parley__info("stopped");
    finish();
}

static void stop_storage(void)
{
    if (rt.storage->state != PARLEY__PLUGIN_STARTED) {
        storage_stopped(NULL);
        return;
    }
    parley__plugin_stop(rt.storage, storage_stopped, NULL);
}

static void transport_stopped(void *arg)
{
    (void)arg;
    if (--rt.transports_stopping == 0)
        stop_storage();
}

/* Only plugins that started are stopped: after a start-up failure the rest
 * were never running. */
static void stop_transports(void)
{
    rt.transports_stopping = 1; /* held until every stop has been issued */
    for (size_t i = 0; i < rt.n_transports; i++) {
        if (rt.transports[i]->state != PARLEY__PLUGIN_STARTED)
            continue;
        rt.transports_stopping++;
        parley__plugin_stop(rt.transports[i], transport_stopped, rt.transports[i]);
    }
    transport_stopped(NULL);
}

/*
 * Clients with a backlog get their last frames and the close frame only as
 * fast as they read; stopping at once would cut them off (the listener's
 * close ends every connection). So wait until every WebSocket has finished
 * its close handshake, for at most half of the shutdown timeout (a client
 * that does not read at all is cut off after that).
 */
static void flush_check(void *arg)
{
    unsigned left = parley__listener_unflushed();

    (void)arg;
    if (left > 0 && parley__now_ms(NULL) < rt.flush_until)
        return;
    if (left > 0)
        parley__warn("shutdown: %u WebSocket clients did not take their close frame in time", left);
    parley__timer_stop(rt.flush_timer);
    rt.flush_timer = NULL;
    stop_transports();
}

static void storage_drained(void *arg)
{
    (void)arg;
    parley__debug("in-flight storage writes finished");
    rt.flush_until = parley__now_ms(NULL) + rt.settings->server.shutdown_timeout_ms / 2;
    rt.flush_timer = parley__timer_start(NULL, 10, 10, flush_check, NULL);
    if (rt.flush_timer == NULL)
        stop_transports();
}

static void deadline_passed(uv_timer_t *timer)
{
    (void)timer;
    parley__log(PARLEY_LOG_ERROR, "host",
                "shutdown deadline of %llu ms passed with %u storage writes in flight and %zu transports "
                "still stopping; exiting anyway",
                (unsigned long long)rt.settings->server.shutdown_timeout_ms, parley__storage_inflight(),
                rt.transports_stopping);
    rt.exit_code = PARLEY__EXIT_RUNTIME;
    finish();
}

static void begin_shutdown(const char *why)
{
    if (rt.shutting_down) {
        parley__warn("%s during shutdown: exiting now", why);
        exit(PARLEY__EXIT_RUNTIME);
    }
    rt.shutting_down = 1;
    parley__info("%s: shutting down (deadline %llu ms)", why,
                 (unsigned long long)rt.settings->server.shutdown_timeout_ms);
    uv_timer_start(&rt.deadline, deadline_passed, rt.settings->server.shutdown_timeout_ms, 0);

    parley__chat_shutdown();
    for (size_t i = 0; i < rt.n_transports; i++) {
        const parley_transport_vtable *vt = rt.transports[i]->desc->vtable;
        if (vt->drain != NULL)
            vt->drain(rt.transports[i]->instance, SHUTDOWN_REASON);
    }
    parley__listener_drain(SHUTDOWN_REASON);
    if (rt.queue_ready)
        parley__storage_drain(storage_drained, NULL);
    else
        storage_drained(NULL);
}

/* ---- reload ------------------------------------------------------------- */

static int same_string(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static int same_entry(const struct parley__plugin_entry *a, const struct parley__plugin_entry *b)
{
    return same_string(a->name, b->name) && same_string(a->path, b->path);
}

/* The parts of a config that only a restart can change. */
static void note_restart_only(const struct parley__settings *old, const struct parley__settings *next)
{
    if (!same_string(old->server.host, next->server.host) || old->server.port != next->server.port)
        parley__warn("reload: server.host/server.port changed; restart to apply");
    if (old->server.workers != next->server.workers)
        parley__warn("reload: server.workers changed; restart to apply");
    if (memcmp(&old->listener, &next->listener, sizeof old->listener) != 0)
        parley__warn("reload: listener.* changed; restart to apply");
    if (!same_string(old->plugins.dir, next->plugins.dir))
        parley__warn("reload: plugins.dir changed; restart to apply");
}

/* Validate every plugin block of `next` against the running plugins'
 * schemas before anything is applied. */
static int validate_plugin_blocks(const struct parley__settings *next, parley_error *err)
{
    const struct parley__plugin_entry *entries[1 + 32];
    struct parley__plugin *plugins[1 + 32];
    size_t n = 0;

    if (!same_entry(&rt.settings->storage.plugin, &next->storage.plugin))
        return parley_error_set(err, PARLEY_EBUSY, "%s: storage.plugin changed; restart to switch backends",
                                next->storage.plugin.where);
    if (next->n_transports != rt.n_transports)
        return parley_error_set(err, PARLEY_EBUSY, "the list of transports changed; restart to apply");
    entries[n] = &next->storage.plugin;
    plugins[n++] = rt.storage;
    for (size_t i = 0; i < rt.n_transports && n < 33; i++) {
        if (!same_entry(&rt.settings->transports[i], &next->transports[i]))
            return parley_error_set(err, PARLEY_EBUSY, "%s: transport '%s' changed; restart to apply",
                                    next->transports[i].where, next->transports[i].name);
        entries[n] = &next->transports[i];
        plugins[n++] = rt.transports[i];
    }
    for (size_t i = 0; i < n; i++) {
        char context[128];
        parley_config *cfg = NULL;
        snprintf(context, sizeof context, "%s plugin '%s'",
                 plugins[i]->kind == PARLEY_PLUGIN_STORAGE ? "storage" : "transport", plugins[i]->name);
        int rc = parley__schema_apply(plugins[i]->desc->config_schema, entries[i]->config, context,
                                      entries[i]->where, &cfg, err);
        if (rc < 0)
            return rc;
        parley__config_destroy(cfg);
    }
    return 0;
}

static void apply_plugin_blocks(const struct parley__settings *next)
{
    parley_error err = PARLEY_ERROR_INIT;

    if (parley__plugin_reconfigure(rt.storage, next->storage.plugin.config, &err) < 0)
        parley__warn("reload: %s", err.message);
    for (size_t i = 0; i < rt.n_transports; i++) {
        err.message[0] = '\0';
        if (parley__plugin_reconfigure(rt.transports[i], next->transports[i].config, &err) < 0)
            parley__warn("reload: %s", err.message);
    }
}

static void reload(void)
{
    struct parley__settings *next = NULL;
    struct parley__chat_options chat;
    parley_error err = PARLEY_ERROR_INIT;

    parley__info("SIGHUP: reloading %s", rt.settings->config_path);
    if (parley__settings_load(rt.settings->config_path, &next, &err) < 0
        || validate_plugin_blocks(next, &err) < 0) {
        parley__warn("reload refused, still running on the previous configuration: %s", err.message);
        parley__metric_add(rt.reloads_failed, 1);
        parley__settings_free(next);
        return;
    }
    chat_options(next, &chat);
    if (parley__chat_reconfigure(&chat, &err) < 0) {
        parley__warn("reload refused, still running on the previous configuration: %s", err.message);
        parley__metric_add(rt.reloads_failed, 1);
        parley__settings_free(next);
        return;
    }
    note_restart_only(rt.settings, next);
    parley__log_configure(next->log.level, next->log.format);
    parley__log_configure_repeat(next->log.repeat_limit, next->log.repeat_window_ms);
    struct parley__storage_options so = { next->storage.timeout_ms, next->storage.health_interval_ms };
    parley__storage_queue_reconfigure(&so);
    apply_plugin_blocks(next);
    parley__settings_free(rt.settings);
    rt.settings = next;
    parley__metric_add(rt.reloads_ok, 1);
    parley__info("configuration reloaded");
}

/* ---- signals -------------------------------------------------------------- */

static void on_signal(uv_signal_t *handle, int signum)
{
    (void)handle;
    if (signum == SIGHUP) {
        if (!rt.shutting_down)
            reload();
        return;
    }
    begin_shutdown(signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static int watch_signals(parley_error *err)
{
    uv_loop_t *loop = parley__loop();
    int rc = 0;

    signal(SIGPIPE, SIG_IGN);
    rc |= uv_signal_init(loop, &rt.sig_int);
    rc |= uv_signal_init(loop, &rt.sig_term);
    rc |= uv_signal_init(loop, &rt.sig_hup);
    rc |= uv_signal_start(&rt.sig_int, on_signal, SIGINT);
    rc |= uv_signal_start(&rt.sig_term, on_signal, SIGTERM);
    rc |= uv_signal_start(&rt.sig_hup, on_signal, SIGHUP);
    rc |= uv_timer_init(loop, &rt.deadline);
    if (rc != 0)
        return parley_error_set(err, PARLEY_EIO, "cannot watch signals");
    return 0;
}

static void register_metrics(void)
{
    parley_metric_desc d = { sizeof d, PARLEY_METRIC_COUNTER, "parley_reloads_total",
                             "Configuration reloads (SIGHUP) by outcome.", "result=\"ok\"", NULL, 0 };

    rt.reloads_ok = parley__metric_register(&parley__self, &d, NULL);
    d.labels = "result=\"refused\"";
    rt.reloads_failed = parley__metric_register(&parley__self, &d, NULL);
}

/* ---- start ------------------------------------------------------------------ */

static int start_serving(parley_error *err)
{
    const struct parley__settings *s = rt.settings;
    struct parley__listener_options lo;
    struct parley__chat_options co;
    struct parley__storage_options so = { s->storage.timeout_ms, s->storage.health_interval_ms };

    listener_options(s, &lo);
    chat_options(s, &co);
    if (watch_signals(err) < 0)
        return -1;
    if (parley__listener_init(&lo, err) < 0 || parley__chat_init(&co, err) < 0)
        return -1;
    if (parley__plugin_start(rt.storage, err) < 0)
        return -1;
    if (parley__storage_queue_init(rt.storage->storage, rt.storage->instance, &so, err) < 0)
        return -1;
    rt.queue_ready = 1;
    parley__storage_health_start();
    for (size_t i = 0; i < rt.n_transports; i++)
        if (parley__plugin_start(rt.transports[i], err) < 0)
            return -1;
    if (parley__listener_listen(err) < 0)
        return -1;
    parley__info("parley %s listening on %s:%d (storage %s, %zu transport%s)", PARLEY_VERSION,
                 s->server.host, parley__listener_port(), rt.storage->name, rt.n_transports,
                 rt.n_transports == 1 ? "" : "s");
    return 0;
}

static void print_check_ok(void)
{
    printf("parley: configuration OK: %s\n", rt.settings->config_path);
    printf("  storage   %s %s (%s)\n", rt.storage->name, rt.storage->desc->version, rt.storage->path);
    for (size_t i = 0; i < rt.n_transports; i++)
        printf("  transport %s %s (%s)\n", rt.transports[i]->name, rt.transports[i]->desc->version,
               rt.transports[i]->path);
}

static void teardown(void)
{
    parley__listener_finalize();
    destroy_plugins();
    parley__events_free();
    parley__storage_queue_free();
    parley__chat_free();
    parley__loop_close();
    parley__metrics_free();
    parley__settings_free(rt.settings);
    rt.settings = NULL;
}

int parley__runtime_main(const struct parley__runtime_options *opts)
{
    parley_error err = PARLEY_ERROR_INIT;

    memset(&rt, 0, sizeof rt);
    if (parley__settings_load(opts->config_path, &rt.settings, &err) < 0) {
        fatal(NULL, &err);
        return PARLEY__EXIT_CONFIG;
    }
    parley__log_configure(opts->log_level > 0 ? opts->log_level : rt.settings->log.level,
                          rt.settings->log.format);
    parley__log_configure_repeat(rt.settings->log.repeat_limit, rt.settings->log.repeat_window_ms);
    if (parley__loop_init(rt.settings->server.workers, &err) < 0) {
        fatal(NULL, &err);
        parley__settings_free(rt.settings);
        return PARLEY__EXIT_RUNTIME;
    }
    parley__msgid_init();
    register_metrics();

    if (load_plugins(rt.settings, &err) < 0 || create_plugins(&err) < 0) {
        fatal(NULL, &err);
        teardown();
        return PARLEY__EXIT_CONFIG;
    }
    if (opts->check_only) {
        print_check_ok();
        teardown();
        return PARLEY__EXIT_OK;
    }
    if (start_serving(&err) < 0) {
        fatal("cannot start", &err);
        rt.exit_code = PARLEY__EXIT_RUNTIME;
        begin_shutdown("start-up failure");
    }
    parley__loop_run();
    teardown();
    return rt.exit_code;
}
