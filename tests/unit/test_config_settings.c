/*
 * host/settings.c: the shipped configs/parley.yaml (with and without the
 * operator's environment variables), every default, path resolution,
 * transports, and the section-level refusals with their exact messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "schema.h"
#include "settings.h"

#define SHIPPED PARLEY_TEST_SOURCE_DIR "/configs/parley.yaml"

static void clear_env(void)
{
    unsetenv("PARLEY_HOST");
    unsetenv("PARLEY_PORT");
    unsetenv("PARLEY_DATA");
    unsetenv("PARLEY_LOG_LEVEL");
}

static struct parley__settings *from(const char *name, const char *text)
{
    parley_error err = PARLEY_ERROR_INIT;
    struct parley__settings *s;

    if (parley__settings_from_string(text, strlen(text), name, &s, &err) != 0)
        fail_msg("refused: %s", err.message);
    return s;
}

static void refused(const char *text, const char *expect)
{
    parley_error err = PARLEY_ERROR_INIT;
    struct parley__settings *s;
    int rc = parley__settings_from_string(text, strlen(text), "p.yaml", &s, &err);

    if (rc == 0) {
        parley__settings_free(s);
        fail_msg("accepted, expected: %s", expect);
    }
    assert_null(s);
    assert_string_equal(err.message, expect);
}

static const parley__node *cfg(const struct parley__plugin_entry *e, const char *key)
{
    return parley__node_get(e->config, key);
}

static void test_shipped_defaults(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    struct parley__settings *s;
    const parley__node *origins;

    (void)state;
    clear_env();
    assert_int_equal(parley__settings_load(SHIPPED, &s, &err), 0);
    assert_string_equal(s->config_path, SHIPPED);
    assert_string_equal(s->server.host, "0.0.0.0");
    assert_int_equal(s->server.port, 3001);
    assert_int_equal(s->server.workers, 4);
    assert_int_equal(s->server.shutdown_timeout_ms, 5000);
    assert_int_equal(s->log.level, PARLEY_LOG_INFO);
    assert_int_equal(s->log.format, PARLEY__LOG_AUTO);
    assert_int_equal(s->listener.max_body, 1048576);
    assert_int_equal(s->listener.max_message, 1048576);
    assert_int_equal(s->listener.send_queue_max, 1048576);
    assert_int_equal(s->listener.max_header, 8192);
    assert_int_equal(s->listener.max_connections, 10000);
    assert_int_equal(s->listener.header_timeout_ms, 10000);
    assert_int_equal(s->listener.idle_timeout_ms, 60000);
    assert_string_equal(s->chat.default_room, "chat-room");
    assert_int_equal(s->chat.history_limit, 50);
    assert_int_equal(s->chat.history_max, 200);
    assert_int_equal(s->chat.max_content_length, 2000);
    assert_int_equal(s->chat.max_username_length, 32);
    assert_int_equal(s->chat.max_room_length, 64);
    assert_int_equal(s->chat.max_rooms_per_session, 16);
    assert_string_equal(s->storage.plugin.name, "sqlite");
    assert_null(s->storage.plugin.path);
    assert_int_equal(s->storage.plugin.kind, PARLEY_PLUGIN_STORAGE);
    assert_int_equal(s->storage.timeout_ms, 5000);
    assert_int_equal(s->storage.health_interval_ms, 2000);
    assert_string_equal(cfg(&s->storage.plugin, "path")->scalar, "./data/parley.db");
    assert_non_null(strstr(s->storage.plugin.where, "/configs/parley.yaml:"));
    assert_int_equal(s->n_transports, 2);
    assert_string_equal(s->transports[0].name, "rest");
    assert_string_equal(s->transports[1].name, "socketio");
    assert_int_equal(s->transports[1].kind, PARLEY_PLUGIN_TRANSPORT);
    assert_int_equal(s->transports[0].kind, PARLEY_PLUGIN_TRANSPORT);
    assert_null(s->transports[0].path);
    origins = cfg(&s->transports[0], "cors_origins");
    assert_int_equal(origins->type, PARLEY__NODE_SEQ);
    assert_int_equal(origins->n, 2);
    assert_string_equal(origins->items[0]->scalar, "http://localhost:5173");
    assert_string_equal(origins->items[1]->scalar, "http://localhost:3000");
    assert_null(s->plugins.dir);
    parley__settings_free(s);
}

static void test_shipped_with_env(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    struct parley__settings *s;

    (void)state;
    clear_env();
    setenv("PARLEY_PORT", "4000", 1);
    setenv("PARLEY_HOST", "127.0.0.1", 1);
    setenv("PARLEY_DATA", "/var/lib/parley", 1);
    setenv("PARLEY_LOG_LEVEL", "debug", 1);
    assert_int_equal(parley__settings_load(SHIPPED, &s, &err), 0);
    assert_int_equal(s->server.port, 4000);
    assert_string_equal(s->server.host, "127.0.0.1");
    assert_string_equal(cfg(&s->storage.plugin, "path")->scalar, "/var/lib/parley/parley.db");
    assert_int_equal(s->log.level, PARLEY_LOG_DEBUG);
    parley__settings_free(s);

    /* Empty is the same as unset for ${VAR:-default}. */
    setenv("PARLEY_PORT", "", 1);
    setenv("PARLEY_HOST", "", 1);
    assert_int_equal(parley__settings_load(SHIPPED, &s, &err), 0);
    assert_int_equal(s->server.port, 3001);
    assert_string_equal(s->server.host, "0.0.0.0");
    parley__settings_free(s);

    /* A bad value from the environment is refused at its place in the file. */
    setenv("PARLEY_PORT", "99999", 1);
    assert_int_equal(parley__settings_load(SHIPPED, &s, &err), PARLEY_EINVAL);
    assert_null(s);
    assert_non_null(strstr(err.message, "/configs/parley.yaml:7:9: server.port: 99999 is out of range (1..65535)"));
    setenv("PARLEY_PORT", "abc", 1);
    assert_int_equal(parley__settings_load(SHIPPED, &s, &err), PARLEY_EINVAL);
    assert_non_null(strstr(err.message, "/configs/parley.yaml:7:9: server.port: 'abc' is not an integer"));
    setenv("PARLEY_LOG_LEVEL", "loud", 1);
    unsetenv("PARLEY_PORT");
    assert_int_equal(parley__settings_load(SHIPPED, &s, &err), PARLEY_EINVAL);
    assert_non_null(strstr(err.message, "/configs/parley.yaml:12:10: log.level: 'loud' is not a log "
                                        "level (error, warn, info, debug, trace)"));
    clear_env();
}

/* Every shipped config must load (settings level: plugins are not loaded). */
static void test_all_shipped_configs(void **state)
{
    DIR *d = opendir(PARLEY_TEST_SOURCE_DIR "/configs");
    struct dirent *e;
    size_t n = 0, failures = 0;

    (void)state;
    clear_env();
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        parley_error err = PARLEY_ERROR_INIT;
        struct parley__settings *s;
        char path[1024];
        size_t len = strlen(e->d_name);

        if (len < 5 || strcmp(e->d_name + len - 5, ".yaml") != 0)
            continue;
        snprintf(path, sizeof path, "%s/configs/%s", PARLEY_TEST_SOURCE_DIR, e->d_name);
        n++;
        if (parley__settings_load(path, &s, &err) != 0) {
            print_error("%s\n", err.message);
            failures++;
            continue;
        }
        parley__settings_free(s);
    }
    closedir(d);
    assert_true(n >= 1);
    assert_int_equal(failures, 0);
}

static void test_minimal(void **state)
{
    struct parley__settings *s;

    (void)state;
    s = from("m.yaml", "storage: {plugin: memstore}\n");
    assert_string_equal(s->server.host, "0.0.0.0");
    assert_int_equal(s->server.port, 3001);
    assert_int_equal(s->log.level, PARLEY_LOG_INFO);
    assert_int_equal(s->listener.max_header, 8192);
    assert_string_equal(s->chat.default_room, "chat-room");
    assert_string_equal(s->storage.plugin.name, "memstore");
    assert_null(s->storage.plugin.config);
    assert_string_equal(s->storage.plugin.where, "m.yaml:1:10");
    assert_int_equal(s->n_transports, 0);
    assert_null(s->transports);
    parley__settings_free(s);

    /* empty sections and empty transports are fine */
    s = from("m.yaml", "server:\nlog:\nlistener: {}\nchat:\nstorage:\n  plugin: x\n  config:\n"
                       "transports: []\nplugins:\n");
    assert_int_equal(s->server.port, 3001);
    assert_null(s->storage.plugin.config);
    assert_int_equal(s->n_transports, 0);
    parley__settings_free(s);
    s = from("m.yaml", "storage: {plugin: x}\ntransports:\n");
    assert_int_equal(s->n_transports, 0);
    parley__settings_free(s);
}

static void test_every_key(void **state)
{
    struct parley__settings *s;

    (void)state;
    s = from("conf/every.yaml",
             "server: {host: '::1', port: 1, workers: 64, shutdown_timeout: 5m}\n"
             "log: {level: TRACE, format: json}\n"
             "listener:\n"
             "  max_body: 64KiB\n"
             "  max_message: 2MB\n"
             "  send_queue_max: 1GiB\n"
             "  max_header: 1KiB\n"
             "  max_connections: 1\n"
             "  header_timeout: 100ms\n"
             "  idle_timeout: 1h\n"
             "chat:\n"
             "  default_room: lobby\n"
             "  history_limit: 1000\n"
             "  history_max: 1000\n"
             "  max_content_length: 100000\n"
             "  max_username_length: 256\n"
             "  max_room_length: 5\n"
             "  max_rooms_per_session: 1024\n"
             "storage:\n"
             "  plugin: sqlite\n"
             "  path: ../build/sqlite.so\n"
             "  timeout: 250\n"
             "  health_interval: 1h\n"
             "  config: {path: x.db}\n"
             "transports:\n"
             "  - plugin: rest\n"
             "    path: /opt/parley/rest.so\n"
             "  - plugin: socketio\n"
             "    config:\n"
             "      ping_interval: 25s\n"
             "plugins:\n"
             "  dir: plugins\n");
    assert_string_equal(s->server.host, "::1");
    assert_int_equal(s->server.port, 1);
    assert_int_equal(s->server.workers, 64);
    assert_int_equal(s->server.shutdown_timeout_ms, 300000);
    assert_int_equal(s->log.level, PARLEY_LOG_TRACE);
    assert_int_equal(s->log.format, PARLEY__LOG_JSON);
    assert_int_equal(s->listener.max_body, 65536);
    assert_int_equal(s->listener.max_message, 2000000);
    assert_int_equal(s->listener.send_queue_max, 1073741824);
    assert_int_equal(s->listener.max_header, 1024);
    assert_int_equal(s->listener.max_connections, 1);
    assert_int_equal(s->listener.header_timeout_ms, 100);
    assert_int_equal(s->listener.idle_timeout_ms, 3600000);
    assert_string_equal(s->chat.default_room, "lobby");
    assert_int_equal(s->chat.history_limit, 1000);
    assert_int_equal(s->chat.history_max, 1000);
    assert_int_equal(s->chat.max_content_length, 100000);
    assert_int_equal(s->chat.max_username_length, 256);
    assert_int_equal(s->chat.max_room_length, 5);
    assert_int_equal(s->chat.max_rooms_per_session, 1024);
    /* paths are relative to the config file's directory */
    assert_string_equal(s->storage.plugin.path, "conf/../build/sqlite.so");
    assert_int_equal(s->storage.timeout_ms, 250);
    assert_int_equal(s->storage.health_interval_ms, 3600000);
    assert_string_equal(cfg(&s->storage.plugin, "path")->scalar, "x.db");
    assert_int_equal(s->n_transports, 2);
    assert_string_equal(s->transports[0].path, "/opt/parley/rest.so");
    assert_null(s->transports[0].config);
    assert_string_equal(s->transports[0].where, "conf/every.yaml:26:5");
    assert_string_equal(s->transports[1].name, "socketio");
    assert_null(s->transports[1].path);
    assert_string_equal(cfg(&s->transports[1], "ping_interval")->scalar, "25s");
    assert_string_equal(s->plugins.dir, "conf/plugins");
    parley__settings_free(s);

    /* A file name without a directory: paths stay as written. */
    s = from("flat.yaml", "storage: {plugin: a, path: lib/a.so}\nplugins: {dir: /abs}\n");
    assert_string_equal(s->storage.plugin.path, "lib/a.so");
    assert_string_equal(s->plugins.dir, "/abs");
    parley__settings_free(s);
}

static void test_log_names(void **state)
{
    (void)state;
    assert_int_equal(parley__settings_log_level("error"), PARLEY_LOG_ERROR);
    assert_int_equal(parley__settings_log_level("Warn"), PARLEY_LOG_WARN);
    assert_int_equal(parley__settings_log_level("info"), PARLEY_LOG_INFO);
    assert_int_equal(parley__settings_log_level("debug"), PARLEY_LOG_DEBUG);
    assert_int_equal(parley__settings_log_level("trace"), PARLEY_LOG_TRACE);
    assert_int_equal(parley__settings_log_level("warning"), -1);
    assert_int_equal(parley__settings_log_level(""), -1);
    assert_int_equal(parley__settings_log_format("auto"), PARLEY__LOG_AUTO);
    assert_int_equal(parley__settings_log_format("TEXT"), PARLEY__LOG_TEXT);
    assert_int_equal(parley__settings_log_format("json"), PARLEY__LOG_JSON);
    assert_int_equal(parley__settings_log_format("xml"), -1);
}

static void test_refusals(void **state)
{
    (void)state;
    refused("server: {}\n",
            "p.yaml:1:1: missing required section 'storage' (it names the storage plugin, e.g. "
            "storage: {plugin: sqlite})");
    refused("server: {}\nstorage:\n", "p.yaml:2:1: section 'storage': missing required key 'plugin'");
    refused("storage:\n  path: x.so\n", "p.yaml:1:1: section 'storage': missing required key 'plugin'");
    refused("storage: {plugin: s}\nsever: {}\n",
            "p.yaml:2:1: unknown section 'sever'; allowed sections: server, log, listener, chat, "
            "storage, transports, plugins");
    refused("storage: {plugin: s}\nserver:\n  prot: 1\n",
            "p.yaml:3:3: server: unknown key 'prot' for section 'server'; allowed keys: host, port, "
            "workers, shutdown_timeout");
    refused("storage: {plugin: s, timeout: 5s, conf: {}}\n",
            "p.yaml:1:35: storage: unknown key 'conf' for section 'storage'; allowed keys: plugin, "
            "path, timeout, health_interval, config");
    refused("storage: {plugin: s}\nserver: [1]\n",
            "p.yaml:2:9: server: expected a mapping of keys for section 'server', got a sequence");
    refused("storage: {plugin: s}\nserver:\n  host: ''\n",
            "p.yaml:3:9: server.host: is empty (write an address such as 0.0.0.0 or 127.0.0.1)");
    refused("storage: {plugin: s}\nserver:\n  port: 0\n",
            "p.yaml:3:9: server.port: 0 is out of range (1..65535)");
    refused("storage: {plugin: s}\nserver:\n  workers: 65\n",
            "p.yaml:3:12: server.workers: 65 is out of range (1..64)");
    refused("storage: {plugin: s}\nserver:\n  shutdown_timeout: 50ms\n",
            "p.yaml:3:21: server.shutdown_timeout: 50ms is out of range (100ms..5m)");
    refused("storage: {plugin: s}\nlog: {format: xml}\n",
            "p.yaml:2:15: log.format: 'xml' is not a log format (auto, text, json)");
    refused("storage: {plugin: s}\nlistener: {max_header: 65KiB}\n",
            "p.yaml:2:24: listener.max_header: 65KiB is out of range (1KiB..64KiB)");
    refused("storage: {plugin: s}\nlistener: {max_body: 1e999}\n",
            "p.yaml:2:22: listener.max_body: '1e999' is not a size (e.g. 512, 64KiB, 1MiB, 1MB)");
    refused("storage: {plugin: s}\nlistener: {idle_timeout: 0}\n",
            "p.yaml:2:26: listener.idle_timeout: 0 is out of range (1s..1h)");
    refused("storage: {plugin: s}\nchat:\n  history_limit: 100\n  history_max: 99\n",
            "p.yaml:4:16: chat.history_max: 99 is less than chat.history_limit (100, at p.yaml:3:18)");
    refused("storage: {plugin: s}\nchat:\n  history_max: 10\n",
            "p.yaml:3:16: chat.history_max: 10 is less than chat.history_limit (50, the default)");
    refused("storage: {plugin: s}\nchat:\n  history_limit: 300\n",
            "p.yaml:3:18: chat.history_limit: 300 is greater than chat.history_max (200, the default)");
    refused("storage: {plugin: s}\nchat:\n  default_room: ''\n",
            "p.yaml:3:17: chat.default_room: the default room name is empty");
    refused("storage: {plugin: s}\nchat:\n  default_room: ròòòòm\n  max_room_length: 5\n",
            "p.yaml:3:17: chat.default_room: 'ròòòòm' is longer than chat.max_room_length (5 characters)");
    refused("storage: {plugin: s}\nchat:\n  max_room_length: 8\n",
            "p.yaml:3:20: chat.max_room_length: 'chat-room' is longer than chat.max_room_length (8 characters)");
    refused("storage: {plugin: ../evil}\n",
            "p.yaml:1:19: storage.plugin: '../evil' is not a plugin name (1 to 64 of A-Z a-z 0-9 _ - "
            "., not starting with . or -)");
    refused("storage: {plugin: ''}\n",
            "p.yaml:1:19: storage.plugin: '' is not a plugin name (1 to 64 of A-Z a-z 0-9 _ - ., "
            "not starting with . or -)");
    refused("storage: {plugin: s, config: [a]}\n",
            "p.yaml:1:30: storage.config: expected a mapping of the plugin's own keys, got a sequence");
    refused("storage: {plugin: s}\ntransports: {plugin: rest}\n",
            "p.yaml:2:13: transports: expected a sequence of transport entries (- plugin: NAME), got a "
            "mapping");
    refused("storage: {plugin: s}\ntransports: rest\n",
            "p.yaml:2:13: transports: expected a sequence of transport entries (- plugin: NAME), got a "
            "scalar");
    refused("storage: {plugin: s}\ntransports:\n  - rest\n",
            "p.yaml:3:5: transports[0]: expected a transport entry (a mapping with plugin, path, "
            "config), got a scalar");
    refused("storage: {plugin: s}\ntransports:\n  - plugin: rest\n  - path: x.so\n",
            "p.yaml:4:5: transport #2: missing required key 'plugin'");
    refused("storage: {plugin: s}\ntransports:\n  - plugin: rest\n    plugn: x\n",
            "p.yaml:4:5: transports[0]: unknown key 'plugn' for transport #1; allowed keys: plugin, "
            "path, config");
    refused("storage: {plugin: s}\ntransports:\n  - plugin: rest\n  - plugin: sio\n  - plugin: rest\n",
            "p.yaml:5:13: transports[2].plugin: transport 'rest' is listed twice (first at p.yaml:3:13)");
    refused("storage: {plugin: s}\ntransports:\n  - {plugin: rest, config: 1}\n",
            "p.yaml:3:28: transports[0].config: expected a mapping of the plugin's own keys, got a scalar");
    refused("storage: {plugin: s}\nplugins: {dir: [a]}\n",
            "p.yaml:2:16: plugins.dir: expected a string, got a sequence");
}

static void test_transport_limit(void **state)
{
    char text[4096];
    struct parley__settings *s;
    size_t o, i;

    (void)state;
    o = (size_t)sprintf(text, "storage: {plugin: s}\ntransports:\n");
    for (i = 0; i < 32; i++)
        o += (size_t)sprintf(text + o, "  - plugin: t%zu\n", i);
    s = from("t.yaml", text);
    assert_int_equal(s->n_transports, 32);
    assert_string_equal(s->transports[31].name, "t31");
    parley__settings_free(s);
    sprintf(text + o, "  - plugin: t32\n");
    refused(text, "p.yaml:35:5: transports[32]: more than 32 transports");
}

static void test_load_errors(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    struct parley__settings *s;

    (void)state;
    assert_int_equal(parley__settings_load("no/such/parley.yaml", &s, &err), PARLEY_ENOTFOUND);
    assert_null(s);
    assert_string_equal(err.message, "no/such/parley.yaml: cannot open: No such file or directory");
    assert_int_equal(parley__settings_from_string("a: [", 4, "p.yaml", &s, &err), PARLEY_EINVAL);
    assert_null(s);
    parley__settings_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_defaults),
        cmocka_unit_test(test_shipped_with_env),
        cmocka_unit_test(test_all_shipped_configs),
        cmocka_unit_test(test_minimal),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_log_names),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_transport_limit),
        cmocka_unit_test(test_load_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
