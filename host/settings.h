/*
 * The host's own config file (configs/parley.yaml): its sections, their
 * keys and defaults, validated through schema.h with static key tables so
 * the host's sections and plugin blocks obey the same rules and read the
 * same in messages. Plugin `config:` blocks are kept as tree nodes here;
 * the loader validates them against each plugin's schema.
 *
 * Every key is documented in docs/config.md.
 */
#ifndef PARLEY__SETTINGS_H
#define PARLEY__SETTINGS_H

#include <stddef.h>
#include <stdint.h>

#include <parley/parley.h>

#include "config.h"

#define PARLEY__MAX_TRANSPORTS 32

struct parley__plugin_entry {
    char *name;                 /* the `plugin:` value ([A-Za-z0-9_.-]+) */
    char *path;                 /* optional `path:`, resolved relative to the config file's
                                   directory; NULL if absent */
    int kind;                   /* PARLEY_PLUGIN_STORAGE or PARLEY_PLUGIN_TRANSPORT (from the section) */
    const parley__node *config; /* the `config:` map, or NULL (absent or empty) */
    const char *where;          /* file:line:col of the entry (owned by doc) */
};

struct parley__settings {
    parley__config_doc *doc;    /* owns every node and `where` above */
    char *config_path;
    struct {
        char *host;                   /* "0.0.0.0" */
        int port;                     /* 3001, 1..65535 */
        unsigned workers;             /* 4, 1..64 */
        uint64_t shutdown_timeout_ms; /* 5s, 100ms..5m */
    } server;
    struct {
        int level;                    /* enum parley_log_level, info */
        int format;                   /* enum parley__log_format (log.h), auto */
        unsigned repeat_limit;        /* lines per statement per window, 20; 0 = no bound */
        unsigned repeat_window_ms;    /* 10 s */
    } log;
    struct {
        size_t max_body, max_message, send_queue_max, max_header;
        unsigned max_connections;
        uint64_t header_timeout_ms, idle_timeout_ms;
        unsigned max_connections_per_ip, connect_rate_per_ip, connect_burst_per_ip;
        size_t client_memory_max;
        uint64_t write_coalesce_ms;
    } listener;
    struct {
        char *default_room;
        unsigned history_limit, history_max, max_content_length, max_username_length,
            max_room_length, max_rooms_per_session;
    } chat;
    struct {
        struct parley__plugin_entry plugin;
        uint64_t timeout_ms, health_interval_ms;
    } storage;
    struct parley__plugin_entry *transports;
    size_t n_transports;
    struct {
        char *dir;                    /* NULL = the default directory; resolved like `path` */
    } plugins;
};

/* Load and validate the whole file. 0 or a negative status with err
 * ("file:line:col: what"); *out is NULL on failure. */
int parley__settings_load(const char *path, struct parley__settings **out, parley_error *err);
int parley__settings_from_string(const char *text, size_t len, const char *name,
                                 struct parley__settings **out, parley_error *err);
/* Validate an already loaded doc; takes ownership of it (freed on failure). */
int parley__settings_from_doc(parley__config_doc *doc, struct parley__settings **out,
                              parley_error *err);
void parley__settings_free(struct parley__settings *s);

/* "error".."trace" → PARLEY_LOG_*; "auto|text|json" → PARLEY__LOG_*; -1 if unknown. */
int parley__settings_log_level(const char *name);
int parley__settings_log_format(const char *name);

#endif /* PARLEY__SETTINGS_H */
