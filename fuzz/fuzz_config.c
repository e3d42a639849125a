/*
 * The YAML config loader and the schema walk (host/config.c, host/schema.c,
 * host/settings.c): the whole text through parley__settings_from_string,
 * which builds the located tree and validates every host section; then each
 * plugin `config:` block (storage and every transport) through
 * parley__schema_apply against a schema with one key of every type, the way
 * the loader validates a plugin's block, and every key read back.
 *
 * Input: the YAML text (not NUL-terminated). Two environment variables are
 * set for ${VAR} / ${VAR:-default}: PARLEY_FUZZ_PORT=3001, PARLEY_FUZZ_EMPTY="".
 * Oracle:
 *   - a refusal carries a matching parley_error (the message names the
 *     location: it starts with the file name);
 *   - accepted settings are within their documented ranges;
 *   - an applied block equals itself (parley__config_equal) and every key
 *     reads back with its type.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "schema.h"
#include "settings.h"

#define FUZZ_FILE "fuzz.yaml"

static const parley_config_key keys[] = {
    { "path", PARLEY_CONFIG_STRING, 0, "./data/parley.db", 0, 0, "a path" },
    { "busy_timeout", PARLEY_CONFIG_DURATION, 0, "5s", 0, 3600000, "a duration" },
    { "max_body", PARLEY_CONFIG_SIZE, 0, "64KiB", 1, 0, "a size" },
    { "json_max_depth", PARLEY_CONFIG_INT, 0, "32", 1, 1000, "an int" },
    { "metrics", PARLEY_CONFIG_BOOL, 0, "true", 0, 0, "a bool" },
    { "ratio", PARLEY_CONFIG_DOUBLE, 0, "0.5", 0, 0, "a double" },
    { "cors_origins", PARLEY_CONFIG_STRING_LIST, 0, "[http://localhost:5173]", 0, 0, "a list" },
    { "token", PARLEY_CONFIG_STRING, PARLEY_CONFIG_SECRET, "", 0, 0, "a secret" },
};
static const parley_config_schema schema = PARLEY_CONFIG_SCHEMA(keys);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    parley_error err = PARLEY_ERROR_INIT;

    setenv("PARLEY_FUZZ_PORT", "3001", 1);
    setenv("PARLEY_FUZZ_EMPTY", "", 1);
    FUZZ_CHECK(parley__schema_check(&schema, "plugin 'fuzz'", &err) == 0, "schema: %s",
               err.message);
    return 0;
}

static void apply_block(const struct parley__plugin_entry *e)
{
    parley_error err = PARLEY_ERROR_INIT;
    parley_config *c = NULL;
    size_t i, n;
    int rc;

    rc = parley__schema_apply(&schema, e->config, "plugin 'fuzz'", e->where, &c, &err);
    if (rc < 0) {
        fuzz_check_refusal(rc, &err, "parley__schema_apply");
        FUZZ_CHECK(c == NULL, "a refused block left a config");
        /* A secret's value never appears in a message. */
        return;
    }
    FUZZ_CHECK(c != NULL, "accepted without a config");
    FUZZ_CHECK(parley__config_equal(c, c) == 1, "a config differs from itself");
    FUZZ_CHECK(parley__config_string(c, "path") != NULL, "path unset");
    FUZZ_CHECK(parley__config_int(c, "busy_timeout") >= 0 &&
                   parley__config_int(c, "busy_timeout") <= 3600000,
               "busy_timeout %lld", (long long)parley__config_int(c, "busy_timeout"));
    FUZZ_CHECK(parley__config_int(c, "max_body") >= 1, "max_body %lld",
               (long long)parley__config_int(c, "max_body"));
    FUZZ_CHECK(parley__config_int(c, "json_max_depth") >= 1 &&
                   parley__config_int(c, "json_max_depth") <= 1000,
               "json_max_depth %lld", (long long)parley__config_int(c, "json_max_depth"));
    (void)parley__config_bool(c, "metrics");
    (void)parley__config_double(c, "ratio");
    n = parley__config_list_size(c, "cors_origins");
    for (i = 0; i < n; i++)
        FUZZ_CHECK(parley__config_list_item(c, "cors_origins", i) != NULL, "list item %zu", i);
    FUZZ_CHECK(parley__config_list_item(c, "cors_origins", n) == NULL, "list item past the end");
    FUZZ_CHECK(parley__config_string(c, "nope") == NULL, "an undeclared key reads");
    (void)parley__config_location(c, "path");
    parley__config_destroy(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parley_error err = PARLEY_ERROR_INIT;
    struct parley__settings *s = NULL;
    size_t i;
    int rc;

    rc = parley__settings_from_string((const char *)data, size, FUZZ_FILE, &s, &err);
    if (rc < 0) {
        fuzz_check_refusal(rc, &err, "parley__settings_from_string");
        FUZZ_CHECK(s == NULL, "a refused config left settings");
        FUZZ_CHECK(strncmp(err.message, FUZZ_FILE, strlen(FUZZ_FILE)) == 0,
                   "the message does not name the file: %s", err.message);
        return 0;
    }
    FUZZ_CHECK(rc == 0 && s != NULL, "returned %d", rc);
    FUZZ_CHECK(s->server.host != NULL, "no server.host");
    FUZZ_CHECK(s->server.port >= 1 && s->server.port <= 65535, "port %d", s->server.port);
    FUZZ_CHECK(s->server.workers >= 1 && s->server.workers <= 64, "workers %u", s->server.workers);
    FUZZ_CHECK(s->server.shutdown_timeout_ms >= 100 && s->server.shutdown_timeout_ms <= 300000,
               "shutdown_timeout %llu", (unsigned long long)s->server.shutdown_timeout_ms);
    FUZZ_CHECK(s->chat.default_room != NULL, "no default room");
    FUZZ_CHECK(s->chat.history_limit <= s->chat.history_max, "history_limit %u > history_max %u",
               s->chat.history_limit, s->chat.history_max);
    FUZZ_CHECK(s->storage.plugin.name != NULL, "no storage plugin");
    FUZZ_CHECK(s->n_transports <= PARLEY__MAX_TRANSPORTS, "%zu transports", s->n_transports);
    apply_block(&s->storage.plugin);
    for (i = 0; i < s->n_transports; i++) {
        FUZZ_CHECK(s->transports[i].name != NULL, "transport %zu has no name", i);
        apply_block(&s->transports[i]);
    }
    parley__settings_free(s);
    return 0;
}
