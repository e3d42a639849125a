/*
 * The host's own config file (see settings.h and docs/config.md).
 *
 * Each section's scalar keys are a static parley_config_key table run
 * through the same validator as plugin blocks; this file only adds what a
 * schema cannot say: the `config:` blocks and the `transports` sequence,
 * enumerations (log level and format), plugin names, and cross-checks
 * between keys.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "schema.h"
#include "settings.h"

#define KIB 1024
#define MIB (1024 * 1024)
#define GIB (1024 * 1024 * 1024LL)

static const parley_config_key server_keys[] = {
    { "host", PARLEY_CONFIG_STRING, 0, "0.0.0.0", 0, 0, "address to listen on" },
    { "port", PARLEY_CONFIG_INT, 0, "3001", 1, 65535, "TCP port shared by every transport" },
    { "workers", PARLEY_CONFIG_INT, 0, "4", 1, 64, "worker threads for blocking work" },
    { "shutdown_timeout", PARLEY_CONFIG_DURATION, 0, "5s", 100, 5 * 60 * 1000,
      "SIGINT/SIGTERM: exit within this" },
};

static const parley_config_key log_keys[] = {
    { "level", PARLEY_CONFIG_STRING, 0, "info", 0, 0, "error | warn | info | debug | trace" },
    { "format", PARLEY_CONFIG_STRING, 0, "auto", 0, 0, "auto | text | json" },
    { "repeat_limit", PARLEY_CONFIG_INT, 0, "20", 0, 1000000,
      "error and warn lines one log statement writes per repeat_window; 0 = no bound" },
    { "repeat_window", PARLEY_CONFIG_DURATION, 0, "10s", 100, 3600 * 1000,
      "the window repeat_limit counts in" },
};

static const parley_config_key listener_keys[] = {
    { "max_body", PARLEY_CONFIG_SIZE, 0, "1MiB", KIB, GIB, "largest HTTP request body" },
    { "max_message", PARLEY_CONFIG_SIZE, 0, "1MiB", KIB, GIB, "largest WebSocket message" },
    { "send_queue_max", PARLEY_CONFIG_SIZE, 0, "1MiB", KIB, GIB,
      "bytes queued per connection before it is closed as a slow consumer" },
    { "max_header", PARLEY_CONFIG_SIZE, 0, "8KiB", KIB, 64 * KIB, "largest HTTP header block" },
    { "max_connections", PARLEY_CONFIG_INT, 0, "10000", 1, 1000000, "open connections at most" },
    { "header_timeout", PARLEY_CONFIG_DURATION, 0, "10s", 100, 5 * 60 * 1000,
      "time to receive a request's headers" },
    { "idle_timeout", PARLEY_CONFIG_DURATION, 0, "60s", 1000, 60 * 60 * 1000,
      "an idle connection is closed after this" },
    { "max_connections_per_ip", PARLEY_CONFIG_INT, 0, "256", 1, 1000000,
      "open connections of one client address at most" },
    { "connect_rate_per_ip", PARLEY_CONFIG_INT, 0, "1000", 1, 1000000,
      "new connections per second of one client address (token bucket refill)" },
    { "connect_burst_per_ip", PARLEY_CONFIG_INT, 0, "2000", 1, 1000000,
      "new connections one client address may open at once (token bucket depth)" },
    { "client_memory_max", PARLEY_CONFIG_SIZE, 0, "256MiB", KIB, 1024 * GIB,
      "bytes queued for all clients together; past it the biggest queues are closed" },
    { "write_coalesce", PARLEY_CONFIG_DURATION, 0, "50ms", 0, 100,
      "the longest a WebSocket's writes may wait to go out together while the loop is busy "
      "(the window grows from 1 ms only as far as the load needs); 0 never waits" },
};

static const parley_config_key chat_keys[] = {
    { "default_room", PARLEY_CONFIG_STRING, 0, "chat-room", 0, 0, "room joined when none is named" },
    { "history_limit", PARLEY_CONFIG_INT, 0, "50", 1, 1000, "messages sent on join; default page size" },
    { "history_max", PARLEY_CONFIG_INT, 0, "200", 1, 10000, "largest history page" },
    { "max_content_length", PARLEY_CONFIG_INT, 0, "2000", 1, 100000,
      "longest message, in Unicode characters" },
    { "max_username_length", PARLEY_CONFIG_INT, 0, "32", 1, 256, "longest username, in characters" },
    { "max_room_length", PARLEY_CONFIG_INT, 0, "64", 1, 256, "longest room name, in characters" },
    { "max_rooms_per_session", PARLEY_CONFIG_INT, 0, "16", 1, 1024, "rooms one session may join" },
};

static const parley_config_key storage_keys[] = {
    { "plugin", PARLEY_CONFIG_STRING, PARLEY_CONFIG_REQUIRED, NULL, 0, 0, "storage plugin name" },
    { "path", PARLEY_CONFIG_STRING, 0, "", 0, 0, "the plugin's .so, relative to this file" },
    { "timeout", PARLEY_CONFIG_DURATION, 0, "5s", 100, 10 * 60 * 1000,
      "a storage call not finished by then fails" },
    { "health_interval", PARLEY_CONFIG_DURATION, 0, "2s", 100, 60 * 60 * 1000,
      "how often storage health is checked" },
};

static const parley_config_key transport_keys[] = {
    { "plugin", PARLEY_CONFIG_STRING, PARLEY_CONFIG_REQUIRED, NULL, 0, 0, "transport plugin name" },
    { "path", PARLEY_CONFIG_STRING, 0, "", 0, 0, "the plugin's .so, relative to this file" },
};

static const parley_config_key plugins_keys[] = {
    { "dir", PARLEY_CONFIG_STRING, 0, "", 0, 0, "directory plugins are loaded from" },
};

static const parley_config_schema server_schema = PARLEY_CONFIG_SCHEMA(server_keys);
static const parley_config_schema log_schema = PARLEY_CONFIG_SCHEMA(log_keys);
static const parley_config_schema listener_schema = PARLEY_CONFIG_SCHEMA(listener_keys);
static const parley_config_schema chat_schema = PARLEY_CONFIG_SCHEMA(chat_keys);
static const parley_config_schema storage_schema = PARLEY_CONFIG_SCHEMA(storage_keys);
static const parley_config_schema transport_schema = PARLEY_CONFIG_SCHEMA(transport_keys);
static const parley_config_schema plugins_schema = PARLEY_CONFIG_SCHEMA(plugins_keys);

static const char *const entry_extra[] = { "config" };

static const char *const sections[] = {
    "server", "log", "listener", "chat", "storage", "transports", "plugins",
};

#define SECTIONS "server, log, listener, chat, storage, transports, plugins"

/* ---- helpers ------------------------------------------------------- */

static int oom(parley_error *err)
{
    return parley_error_set(err, PARLEY_ENOMEM, "out of memory while reading the config");
}

int parley__settings_log_level(const char *name)
{
    static const char *const names[] = { "error", "warn", "info", "debug", "trace" };
    int i;

    for (i = 0; i < 5; i++)
        if (strcasecmp(name, names[i]) == 0)
            return PARLEY_LOG_ERROR + i;
    return -1;
}

int parley__settings_log_format(const char *name)
{
    if (strcasecmp(name, "auto") == 0)
        return PARLEY__LOG_AUTO;
    if (strcasecmp(name, "text") == 0)
        return PARLEY__LOG_TEXT;
    if (strcasecmp(name, "json") == 0)
        return PARLEY__LOG_JSON;
    return -1;
}

/* The key node of a top-level section, for "missing" locations. */
static const parley__node *section_key(const parley__node *root, const char *name)
{
    size_t i;

    for (i = 0; i < root->n; i++)
        if (strcmp(root->keys[i]->scalar, name) == 0 && root->keys[i]->scalar_len == strlen(name))
            return root->keys[i];
    return NULL;
}

static int section(const parley__node *root, const char *name, const parley_config_schema *schema,
                   const char *const *extra, size_t n_extra, const parley__node **block_out,
                   parley_config **out, parley_error *err)
{
    const parley__node *key = section_key(root, name);
    const parley__node *block = parley__node_get(root, name);
    char context[64];
    parley__schema_scope scope;

    snprintf(context, sizeof context, "section '%s'", name);
    scope.context = context;
    scope.block_where = key ? key->where : root->where;
    scope.extra_keys = extra;
    scope.n_extra = n_extra;
    if (block != NULL && block->type == PARLEY__NODE_SCALAR && block->is_null)
        block = NULL;
    if (block_out != NULL)
        *block_out = block;
    return parley__schema_apply_ex(schema, block, &scope, out, err);
}

static char *resolve(const char *config_path, const char *path)
{
    const char *slash;
    size_t dir_len;
    char *out;

    if (path[0] == '/' || (slash = strrchr(config_path, '/')) == NULL)
        return strdup(path);
    dir_len = (size_t)(slash - config_path);
    out = malloc(dir_len + 1 + strlen(path) + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, config_path, dir_len);
    out[dir_len] = '/';
    strcpy(out + dir_len + 1, path);
    return out;
}

static int plugin_name_ok(const char *s)
{
    const char *p;

    if (s[0] == '\0' || s[0] == '.' || s[0] == '-')
        return 0;
    for (p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.'))
            return 0;
    return p - s <= 64;
}

/* Fill an entry from a validated {plugin, path, config} block. */
static int plugin_entry(const struct parley__settings *s, const parley__node *block,
                        const parley_config *c, int kind, struct parley__plugin_entry *e,
                        parley_error *err)
{
    const char *name = parley__config_string(c, "plugin");
    const char *path = parley__config_string(c, "path");
    const parley__node *cfg = parley__node_get(block, "config");

    e->kind = kind;
    e->where = block->where;
    if (!plugin_name_ok(name)) {
        char ex[80];

        return parley__node_error(err, parley__node_get(block, "plugin"),
                          "'%s' is not a plugin name (1 to 64 of A-Z a-z 0-9 _ - ., not starting with . or -)",
                          parley__excerpt(name, strlen(name), ex, sizeof ex));
    }
    if (cfg != NULL && cfg->type == PARLEY__NODE_SCALAR && cfg->is_null)
        cfg = NULL;
    if (cfg != NULL && cfg->type != PARLEY__NODE_MAP)
        return parley__node_error(err, cfg, "expected a mapping of the plugin's own keys, got %s",
                          parley__node_type_name(cfg));
    e->config = cfg;
    if ((e->name = strdup(name)) == NULL)
        return oom(err);
    if (path[0] != '\0' && (e->path = resolve(s->config_path, path)) == NULL)
        return oom(err);
    return 0;
}

static void entry_free(struct parley__plugin_entry *e)
{
    free(e->name);
    free(e->path);
    memset(e, 0, sizeof *e);
}

/* UTF-8 characters in s (continuation bytes are not counted). */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

/* ---- sections ------------------------------------------------------ */

static int read_server(struct parley__settings *s, const parley__node *root, parley_error *err)
{
    const parley__node *block;
    parley_config *c;
    int rc = section(root, "server", &server_schema, NULL, 0, &block, &c, err);

    if (rc != 0)
        return rc;
    if (parley__config_string(c, "host")[0] == '\0') {
        /* Most likely ${PARLEY_HOST} set to "": say so here, not at bind(). */
        parley__config_destroy(c);
        return parley__node_error(err, parley__node_get(block, "host"),
                          "is empty (write an address such as 0.0.0.0 or 127.0.0.1)");
    }
    s->server.host = strdup(parley__config_string(c, "host"));
    s->server.port = (int)parley__config_int(c, "port");
    s->server.workers = (unsigned)parley__config_int(c, "workers");
    s->server.shutdown_timeout_ms = (uint64_t)parley__config_int(c, "shutdown_timeout");
    parley__config_destroy(c);
    return s->server.host ? 0 : oom(err);
}

static int read_log(struct parley__settings *s, const parley__node *root, parley_error *err)
{
    const parley__node *block;
    parley_config *c;
    int rc = section(root, "log", &log_schema, NULL, 0, &block, &c, err);
    const char *v;
    char ex[80];

    if (rc != 0)
        return rc;
    v = parley__config_string(c, "level");
    if ((s->log.level = parley__settings_log_level(v)) < 0) {
        rc = parley__node_error(err, parley__node_get(block, "level"),
                        "'%s' is not a log level (error, warn, info, debug, trace)",
                        parley__excerpt(v, strlen(v), ex, sizeof ex));
        goto out;
    }
    s->log.repeat_limit = (unsigned)parley__config_int(c, "repeat_limit");
    s->log.repeat_window_ms = (unsigned)parley__config_int(c, "repeat_window");
    v = parley__config_string(c, "format");
    if ((s->log.format = parley__settings_log_format(v)) < 0)
        rc = parley__node_error(err, parley__node_get(block, "format"),
                        "'%s' is not a log format (auto, text, json)",
                        parley__excerpt(v, strlen(v), ex, sizeof ex));
out:
    parley__config_destroy(c);
    return rc;
}

static int read_listener(struct parley__settings *s, const parley__node *root, parley_error *err)
{
    parley_config *c;
    int rc = section(root, "listener", &listener_schema, NULL, 0, NULL, &c, err);

    if (rc != 0)
        return rc;
    s->listener.max_body = (size_t)parley__config_int(c, "max_body");
    s->listener.max_message = (size_t)parley__config_int(c, "max_message");
    s->listener.send_queue_max = (size_t)parley__config_int(c, "send_queue_max");
    s->listener.max_header = (size_t)parley__config_int(c, "max_header");
    s->listener.max_connections = (unsigned)parley__config_int(c, "max_connections");
    s->listener.header_timeout_ms = (uint64_t)parley__config_int(c, "header_timeout");
    s->listener.idle_timeout_ms = (uint64_t)parley__config_int(c, "idle_timeout");
    s->listener.max_connections_per_ip = (unsigned)parley__config_int(c, "max_connections_per_ip");
    s->listener.connect_rate_per_ip = (unsigned)parley__config_int(c, "connect_rate_per_ip");
    s->listener.connect_burst_per_ip = (unsigned)parley__config_int(c, "connect_burst_per_ip");
    s->listener.client_memory_max = (size_t)parley__config_int(c, "client_memory_max");
    s->listener.write_coalesce_ms = (uint64_t)parley__config_int(c, "write_coalesce");
    parley__config_destroy(c);
    return 0;
}

static int read_chat(struct parley__settings *s, const parley__node *root, parley_error *err)
{
    const parley__node *block;
    parley_config *c;
    int rc = section(root, "chat", &chat_schema, NULL, 0, &block, &c, err);
    const char *room;

    if (rc != 0)
        return rc;
    s->chat.history_limit = (unsigned)parley__config_int(c, "history_limit");
    s->chat.history_max = (unsigned)parley__config_int(c, "history_max");
    s->chat.max_content_length = (unsigned)parley__config_int(c, "max_content_length");
    s->chat.max_username_length = (unsigned)parley__config_int(c, "max_username_length");
    s->chat.max_room_length = (unsigned)parley__config_int(c, "max_room_length");
    s->chat.max_rooms_per_session = (unsigned)parley__config_int(c, "max_rooms_per_session");
    room = parley__config_string(c, "default_room");

    if (s->chat.history_max < s->chat.history_limit) {
        const char *max_at = parley__config_location(c, "history_max");
        const char *limit_at = parley__config_location(c, "history_limit");

        if (strcmp(max_at, "default") != 0 && strcmp(limit_at, "default") == 0)
            rc = parley__node_error(err, parley__node_get(block, "history_max"),
                            "%u is less than chat.history_limit (%u, the default)",
                            s->chat.history_max, s->chat.history_limit);
        else if (strcmp(max_at, "default") != 0)
            rc = parley__node_error(err, parley__node_get(block, "history_max"),
                            "%u is less than chat.history_limit (%u, at %s)", s->chat.history_max,
                            s->chat.history_limit, limit_at);
        else
            rc = parley__node_error(err, parley__node_get(block, "history_limit"),
                            "%u is greater than chat.history_max (%u, the default)",
                            s->chat.history_limit, s->chat.history_max);
        goto out;
    }
    if (room[0] == '\0' || utf8_chars(room) > s->chat.max_room_length) {
        const parley__node *at = parley__node_get(block, "default_room");
        char ex[80];

        if (at == NULL)
            at = parley__node_get(block, "max_room_length");
        parley__excerpt(room, strlen(room), ex, sizeof ex);
        if (room[0] == '\0')
            rc = parley__node_error(err, at, "the default room name is empty");
        else
            rc = parley__node_error(err, at, "'%s' is longer than chat.max_room_length (%u characters)", ex,
                            s->chat.max_room_length);
        goto out;
    }
    if ((s->chat.default_room = strdup(room)) == NULL)
        rc = oom(err);
out:
    parley__config_destroy(c);
    return rc;
}

static int read_storage(struct parley__settings *s, const parley__node *root, parley_error *err)
{
    const parley__node *block;
    parley_config *c;
    int rc;

    if (section_key(root, "storage") == NULL)
        return parley_error_set(err, PARLEY_EINVAL,
                                "%s: missing required section 'storage' (it names the storage plugin, e.g. storage: {plugin: sqlite})",
                                root->where);
    rc = section(root, "storage", &storage_schema, entry_extra, 1, &block, &c, err);
    if (rc != 0)
        return rc;
    s->storage.timeout_ms = (uint64_t)parley__config_int(c, "timeout");
    s->storage.health_interval_ms = (uint64_t)parley__config_int(c, "health_interval");
    rc = plugin_entry(s, block, c, PARLEY_PLUGIN_STORAGE, &s->storage.plugin, err);
    parley__config_destroy(c);
    return rc;
}

static int read_transports(struct parley__settings *s, const parley__node *root, parley_error *err)
{
    const parley__node *seq = parley__node_get(root, "transports");
    size_t i, j;

    if (seq == NULL || (seq->type == PARLEY__NODE_SCALAR && seq->is_null))
        return 0;
    if (seq->type != PARLEY__NODE_SEQ)
        return parley__node_error(err, seq, "expected a sequence of transport entries (- plugin: NAME), got %s",
                          parley__node_type_name(seq));
    if (seq->n > PARLEY__MAX_TRANSPORTS)
        return parley__node_error(err, seq->items[PARLEY__MAX_TRANSPORTS], "more than %d transports",
                          PARLEY__MAX_TRANSPORTS);
    if (seq->n == 0)
        return 0;
    s->transports = calloc(seq->n, sizeof *s->transports);
    if (s->transports == NULL)
        return oom(err);
    for (i = 0; i < seq->n; i++) {
        const parley__node *item = seq->items[i];
        char context[48];
        parley__schema_scope scope;
        parley_config *c;
        int rc;

        if (item->type != PARLEY__NODE_MAP)
            return parley__node_error(err, item, "expected a transport entry (a mapping with plugin, path, config), got %s",
                              parley__node_type_name(item));
        snprintf(context, sizeof context, "transport #%zu", i + 1);
        scope.context = context;
        scope.block_where = item->where;
        scope.extra_keys = entry_extra;
        scope.n_extra = 1;
        if ((rc = parley__schema_apply_ex(&transport_schema, item, &scope, &c, err)) != 0)
            return rc;
        rc = plugin_entry(s, item, c, PARLEY_PLUGIN_TRANSPORT, &s->transports[i], err);
        parley__config_destroy(c);
        s->n_transports = i + 1;   /* so settings_free frees this entry too */
        if (rc != 0)
            return rc;
        for (j = 0; j < i; j++)
            if (strcmp(s->transports[j].name, s->transports[i].name) == 0)
                return parley__node_error(err, parley__node_get(item, "plugin"),
                                  "transport '%s' is listed twice (first at %s)",
                                  s->transports[i].name,
                                  parley__node_get(seq->items[j], "plugin")->where);
    }
    return 0;
}

static int read_plugins(struct parley__settings *s, const parley__node *root, parley_error *err)
{
    parley_config *c;
    int rc = section(root, "plugins", &plugins_schema, NULL, 0, NULL, &c, err);
    const char *dir;

    if (rc != 0)
        return rc;
    dir = parley__config_string(c, "dir");
    if (dir[0] != '\0' && (s->plugins.dir = resolve(s->config_path, dir)) == NULL)
        rc = oom(err);
    parley__config_destroy(c);
    return rc;
}

/* ---- entry points ------------------------------------------------- */

static int check_sections(const parley__node *root, parley_error *err)
{
    size_t i, j;

    for (i = 0; i < root->n; i++) {
        const parley__node *key = root->keys[i];
        char ex[80];

        for (j = 0; j < sizeof sections / sizeof sections[0]; j++)
            if (key->scalar_len == strlen(sections[j]) && strcmp(key->scalar, sections[j]) == 0)
                break;
        if (j == sizeof sections / sizeof sections[0])
            return parley_error_set(err, PARLEY_EINVAL, "%s: unknown section '%s'; allowed sections: %s",
                                    key->where, parley__excerpt(key->scalar, key->scalar_len, ex, sizeof ex),
                                    SECTIONS);
    }
    return 0;
}

int parley__settings_from_doc(parley__config_doc *doc, struct parley__settings **out,
                              parley_error *err)
{
    const parley__node *root = parley__config_root(doc);
    struct parley__settings *s;
    int rc;

    *out = NULL;
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        parley__config_free(doc);
        return oom(err);
    }
    s->doc = doc;
    if ((s->config_path = strdup(parley__config_path(doc))) == NULL) {
        parley__settings_free(s);
        return oom(err);
    }
    if ((rc = check_sections(root, err)) != 0 || (rc = read_server(s, root, err)) != 0 ||
        (rc = read_log(s, root, err)) != 0 || (rc = read_listener(s, root, err)) != 0 ||
        (rc = read_chat(s, root, err)) != 0 || (rc = read_storage(s, root, err)) != 0 ||
        (rc = read_transports(s, root, err)) != 0 || (rc = read_plugins(s, root, err)) != 0) {
        parley__settings_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int parley__settings_load(const char *path, struct parley__settings **out, parley_error *err)
{
    parley__config_doc *doc;
    int rc;

    *out = NULL;
    if ((rc = parley__config_load_file(path, &doc, err)) != 0)
        return rc;
    return parley__settings_from_doc(doc, out, err);
}

int parley__settings_from_string(const char *text, size_t len, const char *name,
                                 struct parley__settings **out, parley_error *err)
{
    parley__config_doc *doc;
    int rc;

    *out = NULL;
    if ((rc = parley__config_load_string(text, len, name, &doc, err)) != 0)
        return rc;
    return parley__settings_from_doc(doc, out, err);
}

void parley__settings_free(struct parley__settings *s)
{
    size_t i;

    if (s == NULL)
        return;
    free(s->server.host);
    free(s->chat.default_room);
    entry_free(&s->storage.plugin);
    for (i = 0; i < s->n_transports; i++)
        entry_free(&s->transports[i]);
    free(s->transports);
    free(s->plugins.dir);
    free(s->config_path);
    parley__config_free(s->doc);
    free(s);
}
