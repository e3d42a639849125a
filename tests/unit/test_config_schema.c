/*
 * host/schema.c: every type's syntax with its edge values, the schema
 * sanity check, and validation of blocks with the exact messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "schema.h"

/* ---- value syntax ------------------------------------------------- */

static void int_ok(const char *s, int64_t expect)
{
    int64_t v = 12345;

    if (parley__parse_int(s, &v) != 0)
        fail_msg("'%s' refused", s);
    assert_int_equal(v, expect);
}

static void int_bad(const char *s, int code)
{
    int64_t v;

    assert_int_equal(parley__parse_int(s, &v), code);
}

static void test_parse_int(void **state)
{
    (void)state;
    int_ok("0", 0);
    int_ok("-0", 0);
    int_ok("+5", 5);
    int_ok("007", 7);
    int_ok("-42", -42);
    int_ok("9223372036854775807", INT64_MAX);
    int_ok("-9223372036854775808", INT64_MIN);
    int_bad("9223372036854775808", PARLEY_ETOOBIG);
    int_bad("-9223372036854775809", PARLEY_ETOOBIG);
    int_bad("99999999999999999999999999", PARLEY_ETOOBIG);
    int_bad("", PARLEY_EINVAL);
    int_bad("-", PARLEY_EINVAL);
    int_bad("+", PARLEY_EINVAL);
    int_bad("1.0", PARLEY_EINVAL);
    int_bad(" 1", PARLEY_EINVAL);
    int_bad("1 ", PARLEY_EINVAL);
    int_bad("0x10", PARLEY_EINVAL);
    int_bad("1_000", PARLEY_EINVAL);
    int_bad("1e3", PARLEY_EINVAL);
    int_bad("abc", PARLEY_EINVAL);
    int_bad("99999999999999999999x", PARLEY_EINVAL);
}

static void test_parse_bool(void **state)
{
    static const char *const yes[] = { "true", "TRUE", "True", "yes", "YES", "on", "On" };
    static const char *const no[] = { "false", "FALSE", "no", "No", "off", "OFF" };
    static const char *const bad[] = { "1", "0", "y", "n", "", "truee", " true", "enabled" };
    size_t i;
    int v;

    (void)state;
    for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        v = -1;
        assert_int_equal(parley__parse_bool(yes[i], &v), 0);
        assert_int_equal(v, 1);
    }
    for (i = 0; i < sizeof no / sizeof no[0]; i++) {
        v = -1;
        assert_int_equal(parley__parse_bool(no[i], &v), 0);
        assert_int_equal(v, 0);
    }
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(parley__parse_bool(bad[i], &v), PARLEY_EINVAL);
}

static void test_parse_double(void **state)
{
    double d;

    (void)state;
    assert_int_equal(parley__parse_double("1.5", &d), 0);
    assert_true(d == 1.5);
    assert_int_equal(parley__parse_double("-2e3", &d), 0);
    assert_true(d == -2000.0);
    assert_int_equal(parley__parse_double(".5", &d), 0);
    assert_true(d == 0.5);
    assert_int_equal(parley__parse_double("5.", &d), 0);
    assert_true(d == 5.0);
    assert_int_equal(parley__parse_double("7", &d), 0);
    assert_true(d == 7.0);
    assert_int_equal(parley__parse_double("1E+2", &d), 0);
    assert_true(d == 100.0);
    assert_int_equal(parley__parse_double("1e-999", &d), 0);   /* underflow: finite */
    assert_int_equal(parley__parse_double("1e999", &d), PARLEY_ETOOBIG);
    assert_int_equal(parley__parse_double("-1e999", &d), PARLEY_ETOOBIG);
    assert_int_equal(parley__parse_double("nan", &d), PARLEY_EINVAL);
    assert_int_equal(parley__parse_double("inf", &d), PARLEY_EINVAL);
    assert_int_equal(parley__parse_double("-infinity", &d), PARLEY_EINVAL);
    assert_int_equal(parley__parse_double("0x1p3", &d), PARLEY_EINVAL);
    assert_int_equal(parley__parse_double("1e", &d), PARLEY_EINVAL);
    assert_int_equal(parley__parse_double(".", &d), PARLEY_EINVAL);
    assert_int_equal(parley__parse_double("", &d), PARLEY_EINVAL);
    assert_int_equal(parley__parse_double(" 1", &d), PARLEY_EINVAL);
    assert_int_equal(parley__parse_double("1,5", &d), PARLEY_EINVAL);
}

static void dur_ok(const char *s, int64_t expect)
{
    int64_t v = -1;

    if (parley__parse_duration(s, &v) != 0)
        fail_msg("'%s' refused", s);
    assert_int_equal(v, expect);
}

static void test_parse_duration(void **state)
{
    int64_t v;

    (void)state;
    dur_ok("250ms", 250);
    dur_ok("5s", 5000);
    dur_ok("2m", 120000);
    dur_ok("1h", 3600000);
    dur_ok("1500", 1500);
    dur_ok("0", 0);
    dur_ok("0s", 0);
    dur_ok("9223372036854775807", INT64_MAX);
    dur_ok("9223372036854775807ms", INT64_MAX);
    dur_ok("2562047788015h", 2562047788015LL * 3600000);
    assert_int_equal(parley__parse_duration("2562047788016h", &v), PARLEY_ETOOBIG);
    assert_int_equal(parley__parse_duration("9223372036854775807s", &v), PARLEY_ETOOBIG);
    assert_int_equal(parley__parse_duration("9223372036854775808", &v), PARLEY_ETOOBIG);
    assert_int_equal(parley__parse_duration("-1s", &v), PARLEY_EINVAL);
    assert_int_equal(parley__parse_duration("-1", &v), PARLEY_EINVAL);
    assert_int_equal(parley__parse_duration("1.5s", &v), PARLEY_EINVAL);
    assert_int_equal(parley__parse_duration("5S", &v), PARLEY_EINVAL);
    assert_int_equal(parley__parse_duration("5 s", &v), PARLEY_EINVAL);
    assert_int_equal(parley__parse_duration("5sec", &v), PARLEY_EINVAL);
    assert_int_equal(parley__parse_duration("1d", &v), PARLEY_EINVAL);
    assert_int_equal(parley__parse_duration("1h30m", &v), PARLEY_EINVAL);
    assert_int_equal(parley__parse_duration("s", &v), PARLEY_EINVAL);
    assert_int_equal(parley__parse_duration("", &v), PARLEY_EINVAL);
    assert_int_equal(parley__parse_duration("5x", &v), PARLEY_EINVAL);
}

static void size_ok(const char *s, int64_t expect)
{
    int64_t v = -1;

    if (parley__parse_size(s, &v) != 0)
        fail_msg("'%s' refused", s);
    assert_int_equal(v, expect);
}

static void test_parse_size(void **state)
{
    int64_t v;

    (void)state;
    size_ok("0", 0);
    size_ok("512", 512);
    size_ok("512B", 512);
    size_ok("64KiB", 65536);
    size_ok("1MiB", 1048576);
    size_ok("2GiB", 2147483648LL);
    size_ok("1TiB", 1099511627776LL);
    size_ok("1MB", 1000000);
    size_ok("1KB", 1000);
    size_ok("1kB", 1000);
    size_ok("3GB", 3000000000LL);
    size_ok("1TB", 1000000000000LL);
    size_ok("1k", 1024);
    size_ok("1K", 1024);
    size_ok("1m", 1048576);
    size_ok("1M", 1048576);
    size_ok("1g", 1073741824);
    size_ok("1G", 1073741824);
    size_ok("1T", 1099511627776LL);
    size_ok("8388607TiB", 8388607LL << 40);
    assert_int_equal(parley__parse_size("8388608TiB", &v), PARLEY_ETOOBIG);
    assert_int_equal(parley__parse_size("9223372036854775808", &v), PARLEY_ETOOBIG);
    assert_int_equal(parley__parse_size("9999999999999999999999", &v), PARLEY_ETOOBIG);
    assert_int_equal(parley__parse_size("-1", &v), PARLEY_EINVAL);
    assert_int_equal(parley__parse_size("1.5MiB", &v), PARLEY_EINVAL);
    assert_int_equal(parley__parse_size("1mib", &v), PARLEY_EINVAL);
    assert_int_equal(parley__parse_size("1 MiB", &v), PARLEY_EINVAL);
    assert_int_equal(parley__parse_size("1Kb", &v), PARLEY_EINVAL);
    assert_int_equal(parley__parse_size("1e3", &v), PARLEY_EINVAL);
    assert_int_equal(parley__parse_size("1EiB", &v), PARLEY_EINVAL);
    assert_int_equal(parley__parse_size("MiB", &v), PARLEY_EINVAL);
    assert_int_equal(parley__parse_size("", &v), PARLEY_EINVAL);
}

static void test_format(void **state)
{
    char b[32];

    (void)state;
    assert_string_equal(parley__format_duration(0, b, sizeof b), "0ms");
    assert_string_equal(parley__format_duration(250, b, sizeof b), "250ms");
    assert_string_equal(parley__format_duration(1500, b, sizeof b), "1500ms");
    assert_string_equal(parley__format_duration(5000, b, sizeof b), "5s");
    assert_string_equal(parley__format_duration(300000, b, sizeof b), "5m");
    assert_string_equal(parley__format_duration(7200000, b, sizeof b), "2h");
    assert_string_equal(parley__format_size(0, b, sizeof b), "0");
    assert_string_equal(parley__format_size(1000, b, sizeof b), "1000");
    assert_string_equal(parley__format_size(1024, b, sizeof b), "1KiB");
    assert_string_equal(parley__format_size(1536, b, sizeof b), "1536");
    assert_string_equal(parley__format_size(65536, b, sizeof b), "64KiB");
    assert_string_equal(parley__format_size(1048576, b, sizeof b), "1MiB");
    assert_string_equal(parley__format_size(3LL << 30, b, sizeof b), "3GiB");
    assert_string_equal(parley__format_size(1LL << 40, b, sizeof b), "1TiB");
}

/* ---- a plugin-like schema ----------------------------------------- */

static const parley_config_key sqlite_keys[] = {
    { "path", PARLEY_CONFIG_STRING, 0, "./data/parley.db", 0, 0, "database file" },
    { "busy_timeout", PARLEY_CONFIG_DURATION, 0, "5s", 0, 60000, "SQLITE_BUSY wait" },
    { "synchronous", PARLEY_CONFIG_STRING, 0, "normal", 0, 0, "PRAGMA synchronous" },
};
static const parley_config_schema sqlite_schema = PARLEY_CONFIG_SCHEMA(sqlite_keys);

static const parley_config_key all_keys[] = {
    { "name", PARLEY_CONFIG_STRING, PARLEY_CONFIG_REQUIRED, NULL, 0, 0, "a string" },
    { "count", PARLEY_CONFIG_INT, 0, "10", -5, 100, "an int" },
    { "free", PARLEY_CONFIG_INT, 0, "-7", 0, 0, "an unbounded int" },
    { "flag", PARLEY_CONFIG_BOOL, 0, "off", 0, 0, "a bool" },
    { "ratio", PARLEY_CONFIG_DOUBLE, 0, "0.25", 0, 0, "a double" },
    { "wait", PARLEY_CONFIG_DURATION, 0, "250ms", 100, 60000, "a duration" },
    { "cache", PARLEY_CONFIG_SIZE, 0, "2MiB", 1024, 1 << 30, "a size" },
    { "origins", PARLEY_CONFIG_STRING_LIST, 0, "[http://a:1, 'http://b:2']", 0, 0, "a list" },
    { "tags", PARLEY_CONFIG_STRING_LIST, 0, NULL, 0, 0, "an empty list" },
    { "password", PARLEY_CONFIG_STRING, PARLEY_CONFIG_SECRET, "", 0, 0, "a secret" },
    { "pin", PARLEY_CONFIG_INT, PARLEY_CONFIG_SECRET, "1234", 1000, 9999, "a secret int" },
};
static const parley_config_schema all_schema = PARLEY_CONFIG_SCHEMA(all_keys);

struct fixture {
    parley__config_doc *doc;
    parley_config *config;
    char msg[PARLEY_ERROR_MESSAGE_MAX];
    int rc;
};

/* Load `text` (as "x.yaml"), take `block_key`'s value (a path of one or
 * two keys "a" or "a.b") and apply `schema`. */
static void apply(struct fixture *f, const char *text, const char *block_path,
                  const parley_config_schema *schema, const char *context)
{
    parley_error err = PARLEY_ERROR_INIT;
    const parley__node *block, *parent;
    char first[64];
    const char *dot;

    memset(f, 0, sizeof *f);
    if (parley__config_load_string(text, strlen(text), "x.yaml", &f->doc, &err) != 0)
        fail_msg("load: %s", err.message);
    parent = parley__config_root(f->doc);
    dot = strchr(block_path, '.');
    if (dot != NULL) {
        snprintf(first, sizeof first, "%.*s", (int)(dot - block_path), block_path);
        parent = parley__node_get(parent, first);
        block_path = dot + 1;
    }
    block = parley__node_get(parent, block_path);
    f->rc = parley__schema_apply(schema, block, context, parent->where, &f->config, &err);
    if (f->rc != 0) {
        assert_null(f->config);
        snprintf(f->msg, sizeof f->msg, "%s", err.message);
    }
}

static void fixture_done(struct fixture *f)
{
    parley__config_destroy(f->config);
    parley__config_free(f->doc);
    memset(f, 0, sizeof *f);
}

static void apply_refused(const char *text, const char *block_path,
                          const parley_config_schema *schema, const char *context,
                          const char *expect)
{
    struct fixture f;

    apply(&f, text, block_path, schema, context);
    if (f.rc == 0) {
        fixture_done(&f);
        fail_msg("accepted, expected: %s", expect);
    }
    assert_string_equal(f.msg, expect);
    fixture_done(&f);
}

static void test_apply_values(void **state)
{
    struct fixture f;

    (void)state;
    apply(&f,
          "storage:\n"
          "  plugin: sqlite\n"
          "  config:\n"
          "    name: hello\n"
          "    count: -5\n"
          "    flag: Yes\n"
          "    ratio: 1e3\n"
          "    wait: 1m\n"
          "    cache: 64KiB\n"
          "    origins: http://only\n"
          "    tags: [a, '', \"c\"]\n"
          "    password: hunter2\n",
          "storage.config", &all_schema, "storage plugin 'test'");
    if (f.rc != 0) fail_msg("%s", f.msg);
    assert_string_equal(parley__config_string(f.config, "name"), "hello");
    assert_int_equal(parley__config_int(f.config, "count"), -5);
    assert_int_equal(parley__config_int(f.config, "free"), -7);
    assert_int_equal(parley__config_bool(f.config, "flag"), 1);
    assert_true(parley__config_double(f.config, "ratio") == 1000.0);
    assert_int_equal(parley__config_int(f.config, "wait"), 60000);
    assert_int_equal(parley__config_int(f.config, "cache"), 65536);
    assert_int_equal(parley__config_list_size(f.config, "origins"), 1);
    assert_string_equal(parley__config_list_item(f.config, "origins", 0), "http://only");
    assert_null(parley__config_list_item(f.config, "origins", 1));
    assert_int_equal(parley__config_list_size(f.config, "tags"), 3);
    assert_string_equal(parley__config_list_item(f.config, "tags", 1), "");
    assert_string_equal(parley__config_list_item(f.config, "tags", 2), "c");
    assert_string_equal(parley__config_string(f.config, "password"), "hunter2");
    assert_int_equal(parley__config_int(f.config, "pin"), 1234);
    assert_string_equal(parley__config_location(f.config, "name"), "x.yaml:4:11");
    assert_string_equal(parley__config_location(f.config, "tags"), "x.yaml:11:11");
    assert_string_equal(parley__config_location(f.config, "pin"), "default");
    /* undeclared keys and other types read as NULL / 0 */
    assert_null(parley__config_string(f.config, "nope"));
    assert_null(parley__config_string(f.config, "count"));
    assert_int_equal(parley__config_int(f.config, "name"), 0);
    assert_int_equal(parley__config_int(f.config, "nope"), 0);
    assert_int_equal(parley__config_bool(f.config, "count"), 0);
    assert_true(parley__config_double(f.config, "count") == 0.0);
    assert_int_equal(parley__config_list_size(f.config, "name"), 0);
    assert_null(parley__config_list_item(f.config, "nope", 0));
    assert_null(parley__config_location(f.config, "nope"));
    assert_null(parley__config_string(NULL, "name"));
    fixture_done(&f);
}

static void test_apply_defaults(void **state)
{
    struct fixture f;

    (void)state;
    /* No `config:` at all: every default. */
    apply(&f, "storage:\n  plugin: sqlite\n", "storage.config", &sqlite_schema,
          "storage plugin 'sqlite'");
    assert_int_equal(f.rc, 0);
    assert_string_equal(parley__config_string(f.config, "path"), "./data/parley.db");
    assert_int_equal(parley__config_int(f.config, "busy_timeout"), 5000);
    assert_string_equal(parley__config_location(f.config, "busy_timeout"), "default");
    fixture_done(&f);
    /* `config:` with no value is empty too. */
    apply(&f, "storage:\n  plugin: sqlite\n  config:\n", "storage.config", &sqlite_schema,
          "storage plugin 'sqlite'");
    assert_int_equal(f.rc, 0);
    fixture_done(&f);
    /* List defaults: a flow sequence, or nothing = empty. */
    apply(&f, "p:\n  name: n\n", "p", &all_schema, "plugin 'all'");
    assert_int_equal(f.rc, 0);
    assert_int_equal(parley__config_list_size(f.config, "origins"), 2);
    assert_string_equal(parley__config_list_item(f.config, "origins", 0), "http://a:1");
    assert_string_equal(parley__config_list_item(f.config, "origins", 1), "http://b:2");
    assert_int_equal(parley__config_list_size(f.config, "tags"), 0);
    assert_int_equal(parley__config_bool(f.config, "flag"), 0);
    assert_true(parley__config_double(f.config, "ratio") == 0.25);
    assert_int_equal(parley__config_int(f.config, "cache"), 2 * 1024 * 1024);
    fixture_done(&f);
}

static void test_apply_refusals(void **state)
{
    const char *ctx = "storage plugin 'sqlite'";

    (void)state;
    apply_refused("storage:\n  plugin: sqlite\n  config:\n    path: a.db\n    busy_timout: 5s\n",
                  "storage.config", &sqlite_schema, ctx,
                  "x.yaml:5:5: storage.config: unknown key 'busy_timout' for storage plugin "
                  "'sqlite'; allowed keys: path, busy_timeout, synchronous");
    apply_refused("storage:\n  config:\n    busy_timeout: 5x\n", "storage.config", &sqlite_schema,
                  ctx,
                  "x.yaml:3:19: storage.config.busy_timeout: '5x' is not a duration (e.g. 250ms, "
                  "5s, 2m, 1h; a bare integer is ms)");
    apply_refused("storage:\n  config:\n    busy_timeout: 2m\n", "storage.config", &sqlite_schema,
                  ctx, "x.yaml:3:19: storage.config.busy_timeout: 2m is out of range (0ms..1m)");
    apply_refused("storage:\n  config:\n    busy_timeout: [1]\n", "storage.config", &sqlite_schema,
                  ctx,
                  "x.yaml:3:19: storage.config.busy_timeout: expected a duration (e.g. 250ms, 5s, "
                  "2m, 1h; a bare integer is ms), got a sequence");
    apply_refused("storage:\n  config:\n    path:\n", "storage.config", &sqlite_schema, ctx,
                  "x.yaml:3:10: storage.config.path: has no value (expected a string)");
    apply_refused("storage:\n  config:\n    path: {a: b}\n", "storage.config", &sqlite_schema, ctx,
                  "x.yaml:3:11: storage.config.path: expected a string, got a mapping");
    apply_refused("storage:\n  config:\n    path: \"a\\0b\"\n", "storage.config", &sqlite_schema,
                  ctx, "x.yaml:3:11: storage.config.path: 'a\\x00b' contains a NUL character");
    apply_refused("storage:\n  config: [a]\n", "storage.config", &sqlite_schema, ctx,
                  "x.yaml:2:11: storage.config: expected a mapping of keys for storage plugin "
                  "'sqlite', got a sequence");
    apply_refused("storage:\n  config: text\n", "storage.config", &sqlite_schema, ctx,
                  "x.yaml:2:11: storage.config: expected a mapping of keys for storage plugin "
                  "'sqlite', got a scalar");
    /* a plugin that declares no keys */
    apply_refused("storage:\n  config:\n    a: 1\n", "storage.config", NULL, "storage plugin 'nokeys'",
                  "x.yaml:3:5: storage.config: unknown key 'a' for storage plugin 'nokeys', which "
                  "takes no keys");

    /* every type's refusal */
    ctx = "transport plugin 'all'";
    apply_refused("t:\n  count: 1\n", "t", &all_schema, ctx,
                  "x.yaml:1:1: transport plugin 'all': missing required key 'name'");
    apply_refused("t:\n  name: n\n  count: abc\n", "t", &all_schema, ctx,
                  "x.yaml:3:10: t.count: 'abc' is not an integer");
    apply_refused("t:\n  name: n\n  count: 101\n", "t", &all_schema, ctx,
                  "x.yaml:3:10: t.count: 101 is out of range (-5..100)");
    apply_refused("t:\n  name: n\n  count: -6\n", "t", &all_schema, ctx,
                  "x.yaml:3:10: t.count: -6 is out of range (-5..100)");
    apply_refused("t:\n  name: n\n  free: 9223372036854775808\n", "t", &all_schema, ctx,
                  "x.yaml:3:9: t.free: '9223372036854775808' is too large (it must fit in a signed "
                  "64-bit integer)");
    apply_refused("t:\n  name: n\n  flag: maybe\n", "t", &all_schema, ctx,
                  "x.yaml:3:9: t.flag: 'maybe' is not a boolean (true/false, yes/no, on/off)");
    apply_refused("t:\n  name: n\n  ratio: 1e999\n", "t", &all_schema, ctx,
                  "x.yaml:3:10: t.ratio: '1e999' is not a finite number");
    apply_refused("t:\n  name: n\n  ratio: nan\n", "t", &all_schema, ctx,
                  "x.yaml:3:10: t.ratio: 'nan' is not a number");
    apply_refused("t:\n  name: n\n  wait: 99ms\n", "t", &all_schema, ctx,
                  "x.yaml:3:9: t.wait: 99ms is out of range (100ms..1m)");
    apply_refused("t:\n  name: n\n  wait: 9223372036854775807s\n", "t", &all_schema, ctx,
                  "x.yaml:3:9: t.wait: '9223372036854775807s' is too large (it must fit in a "
                  "signed 64-bit integer of ms)");
    apply_refused("t:\n  name: n\n  cache: 2GiB\n", "t", &all_schema, ctx,
                  "x.yaml:3:10: t.cache: 2GiB is out of range (1KiB..1GiB)");
    apply_refused("t:\n  name: n\n  cache: -1\n", "t", &all_schema, ctx,
                  "x.yaml:3:10: t.cache: '-1' is not a size (e.g. 512, 64KiB, 1MiB, 1MB)");
    apply_refused("t:\n  name: n\n  origins: {a: 1}\n", "t", &all_schema, ctx,
                  "x.yaml:3:12: t.origins: expected a list of strings, got a mapping");
    apply_refused("t:\n  name: n\n  origins: [a, [b]]\n", "t", &all_schema, ctx,
                  "x.yaml:3:16: t.origins[1]: expected a string, got a sequence");
    apply_refused("t:\n  name: n\n  origins:\n    - a\n    -\n", "t", &all_schema, ctx,
                  "x.yaml:5:6: t.origins[1]: has no value (expected a string)");
    apply_refused("t:\n  name: n\n  origins:\n", "t", &all_schema, ctx,
                  "x.yaml:3:11: t.origins: has no value (expected a list of strings)");
}

static void test_secrets(void **state)
{
    struct fixture f;

    (void)state;
    apply(&f, "t:\n  name: n\n  pin: s3cr3t-value\n", "t", &all_schema, "plugin 'all'");
    assert_int_not_equal(f.rc, 0);
    assert_string_equal(f.msg, "x.yaml:3:8: t.pin: the value is not an integer (secret, not shown)");
    assert_null(strstr(f.msg, "s3cr3t"));
    fixture_done(&f);
    apply(&f, "t:\n  name: n\n  pin: 31337\n", "t", &all_schema, "plugin 'all'");
    assert_string_equal(f.msg,
                        "x.yaml:3:8: t.pin: the value is out of range (1000..9999) (secret, not shown)");
    assert_null(strstr(f.msg, "31337"));
    fixture_done(&f);
    apply(&f, "t:\n  name: n\n  password: [hunter2]\n", "t", &all_schema, "plugin 'all'");
    assert_string_equal(f.msg, "x.yaml:3:13: t.password: expected a string, got a sequence");
    assert_null(strstr(f.msg, "hunter2"));
    fixture_done(&f);
}

static void test_context_block_where(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    parley_config *c = NULL;

    (void)state;
    /* block absent: the "missing" error is located at block_where */
    assert_int_equal(parley__schema_apply(&all_schema, NULL, "section 'server'", "x.yaml:2:1", &c, &err),
                     PARLEY_EINVAL);
    assert_null(c);
    assert_string_equal(err.message, "x.yaml:2:1: section 'server': missing required key 'name'");
    assert_int_equal(parley__schema_apply(&all_schema, NULL, "section 'server'", NULL, &c, &err),
                     PARLEY_EINVAL);
    assert_string_equal(err.message, "section 'server': missing required key 'name'");
    /* NULL schema, NULL block: an empty config */
    assert_int_equal(parley__schema_apply(NULL, NULL, "plugin 'x'", NULL, &c, &err), 0);
    assert_non_null(c);
    assert_null(parley__config_string(c, "a"));
    parley__config_destroy(c);
}

static void test_extra_keys(void **state)
{
    static const char *const extra[] = { "config" };
    parley__schema_scope scope = { "section 'storage'", NULL, extra, 1 };
    parley_error err = PARLEY_ERROR_INIT;
    parley__config_doc *doc;
    parley_config *c;
    const char *text = "storage:\n  path: p\n  config: {a: 1}\n  other: 1\n";

    (void)state;
    assert_int_equal(parley__config_load_string(text, strlen(text), "x.yaml", &doc, &err), 0);
    assert_int_equal(parley__schema_apply_ex(&sqlite_schema,
                                             parley__node_get(parley__config_root(doc), "storage"),
                                             &scope, &c, &err),
                     PARLEY_EINVAL);
    assert_string_equal(err.message, "x.yaml:4:3: storage: unknown key 'other' for section 'storage'; "
                                     "allowed keys: path, busy_timeout, synchronous, config");
    parley__config_free(doc);
}

static void test_equal(void **state)
{
    struct fixture a, b;
    int eq;

    (void)state;
    apply(&a, "s:\n  config:\n    path: a.db\n", "s.config", &sqlite_schema, "p");
    /* same values, other positions, a default written out: equal */
    apply(&b, "# moved\ns:\n  config:\n\n    busy_timeout: 5000\n    path: a.db\n", "s.config",
          &sqlite_schema, "p");
    eq = parley__config_equal(a.config, b.config);
    assert_int_equal(eq, 1);
    fixture_done(&b);
    apply(&b, "s:\n  config:\n    path: b.db\n", "s.config", &sqlite_schema, "p");
    assert_int_equal(parley__config_equal(a.config, b.config), 0);
    fixture_done(&b);
    apply(&b, "s:\n  config:\n    path: a.db\n    busy_timeout: 4s\n", "s.config", &sqlite_schema, "p");
    assert_int_equal(parley__config_equal(a.config, b.config), 0);
    fixture_done(&b);
    assert_int_equal(parley__config_equal(a.config, a.config), 1);
    assert_int_equal(parley__config_equal(a.config, NULL), 0);
    assert_int_equal(parley__config_equal(NULL, NULL), 1);
    fixture_done(&a);

    apply(&a, "t:\n  name: n\n  origins: [x, y]\n", "t", &all_schema, "p");
    apply(&b, "t:\n  name: n\n  origins: [x, z]\n", "t", &all_schema, "p");
    assert_int_equal(parley__config_equal(a.config, b.config), 0);
    fixture_done(&b);
    apply(&b, "t:\n  origins:\n    - x\n    - y\n  name: n\n", "t", &all_schema, "p");
    assert_int_equal(parley__config_equal(a.config, b.config), 1);
    fixture_done(&b);
    fixture_done(&a);
}

/* ---- schema check -------------------------------------------------- */

static void check_refused(const parley_config_key *keys, size_t n, const char *expect)
{
    parley_config_schema s = { sizeof(parley_config_schema), sizeof(parley_config_key), n, keys };
    parley_error err = PARLEY_ERROR_INIT;

    assert_int_equal(parley__schema_check(&s, "plugin 'sqlite'", &err), PARLEY_EINVAL);
    assert_string_equal(err.message, expect);
}

static void test_schema_check(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    parley_config_schema s = all_schema;

    (void)state;
    assert_int_equal(parley__schema_check(&all_schema, "plugin 'all'", &err), 0);
    assert_int_equal(parley__schema_check(&sqlite_schema, "plugin 'sqlite'", &err), 0);
    assert_int_equal(parley__schema_check(NULL, "plugin 'none'", &err), 0);

    s.struct_size = 8;
    assert_int_equal(parley__schema_check(&s, "plugin 'old'", &err), PARLEY_EINVAL);
    assert_string_equal(err.message, "plugin 'old': config schema struct_size is 8, smaller than the 1.0 size 24");
    s = all_schema;
    s.key_size = 16;
    assert_int_equal(parley__schema_check(&s, "plugin 'old'", &err), PARLEY_EINVAL);
    assert_string_equal(err.message, "plugin 'old': config schema key_size is 16, smaller than the 1.0 size 48");
    s = all_schema;
    s.keys = NULL;
    assert_int_equal(parley__schema_check(&s, "plugin 'x'", &err), PARLEY_EINVAL);
    assert_string_equal(err.message, "plugin 'x': config schema has 11 keys but keys is NULL");
    s = all_schema;
    s.n_keys = 257;
    assert_int_equal(parley__schema_check(&s, "plugin 'x'", &err), PARLEY_EINVAL);
    assert_string_equal(err.message, "plugin 'x': config schema has 257 keys, more than 256");

    {
        const parley_config_key k[] = {
            { "busy_timeout", PARLEY_CONFIG_DURATION, 0, "5x", 0, 0, "" },
        };
        check_refused(k, 1, "plugin 'sqlite': config schema key 'busy_timeout': default '5x' is not a "
                            "duration (e.g. 250ms, 5s, 2m, 1h; a bare integer is ms)");
    }
    {
        const parley_config_key k[] = { { "port", PARLEY_CONFIG_INT, 0, "70000", 1, 65535, "" } };
        check_refused(k, 1, "plugin 'sqlite': config schema key 'port': default 70000 is out of range (1..65535)");
    }
    {
        const parley_config_key k[] = { { "pin", PARLEY_CONFIG_INT, PARLEY_CONFIG_SECRET, "x", 0, 0, "" } };
        check_refused(k, 1, "plugin 'sqlite': config schema key 'pin': default the value is not an "
                            "integer (secret, not shown)");
    }
    {
        const parley_config_key k[] = { { "", PARLEY_CONFIG_INT, 0, "1", 0, 0, "" } };
        check_refused(k, 1, "plugin 'sqlite': config schema key #1 has no name (1 to 64 of A-Z a-z 0-9 _ -)");
    }
    {
        const parley_config_key k[] = { { "a", PARLEY_CONFIG_INT, 0, "1", 0, 0, "" },
                                        { "a.b", PARLEY_CONFIG_INT, 0, "1", 0, 0, "" } };
        check_refused(k, 2, "plugin 'sqlite': config schema key #2 has an invalid name (1 to 64 of A-Z a-z 0-9 _ -)");
    }
    {
        const parley_config_key k[] = { { NULL, PARLEY_CONFIG_INT, 0, "1", 0, 0, "" } };
        check_refused(k, 1, "plugin 'sqlite': config schema key #1 has no name (1 to 64 of A-Z a-z 0-9 _ -)");
    }
    {
        const parley_config_key k[] = { { "a", PARLEY_CONFIG_INT, 0, "1", 0, 0, "" },
                                        { "b", PARLEY_CONFIG_INT, 0, "1", 0, 0, "" },
                                        { "a", PARLEY_CONFIG_BOOL, 0, "on", 0, 0, "" } };
        check_refused(k, 3, "plugin 'sqlite': config schema key 'a' is declared twice (#1 and #3)");
    }
    {
        const parley_config_key k[] = { { "a", 99, 0, "1", 0, 0, "" } };
        check_refused(k, 1, "plugin 'sqlite': config schema key 'a': unknown type 99");
    }
    {
        const parley_config_key k[] = { { "a", PARLEY_CONFIG_STRING, PARLEY_CONFIG_REQUIRED, "x", 0, 0, "" } };
        check_refused(k, 1, "plugin 'sqlite': config schema key 'a': is REQUIRED but has a default");
    }
    {
        const parley_config_key k[] = { { "a", PARLEY_CONFIG_STRING, 0, NULL, 0, 0, "" } };
        check_refused(k, 1, "plugin 'sqlite': config schema key 'a': has no default and is not REQUIRED");
    }
    {
        const parley_config_key k[] = { { "a", PARLEY_CONFIG_SIZE, 0, "1", 10, 5, "" } };
        check_refused(k, 1, "plugin 'sqlite': config schema key 'a': min 10 is greater than max 5");
    }
    {
        const parley_config_key k[] = { { "a", PARLEY_CONFIG_STRING_LIST, 0, "{a: 1}", 0, 0, "" } };
        check_refused(k, 1, "plugin 'sqlite': config schema key 'a': default is a mapping, not a list "
                            "of strings (write it as [a, b])");
    }
    {
        const parley_config_key k[] = { { "a", PARLEY_CONFIG_STRING_LIST, 0, "[a, [b]]", 0, 0, "" } };
        check_refused(k, 1, "plugin 'sqlite': config schema key 'a': default item 2 is a sequence, not a string");
    }
    {
        const parley_config_key k[] = { { "a", PARLEY_CONFIG_STRING_LIST, 0, "[a", 0, 0, "" } };
        check_refused(k, 1, "plugin 'sqlite': config schema key 'a': default is not valid YAML: "
                            "default:2:1: did not find expected ',' or ']' (while parsing a flow "
                            "sequence at line 1 column 1)");
    }
    {
        const parley_config_key k[] = { { "a", PARLEY_CONFIG_DOUBLE, 0, "inf", 0, 0, "" } };
        check_refused(k, 1, "plugin 'sqlite': config schema key 'a': default 'inf' is not a number");
    }
}

/* A plugin built against a later minor may declare a larger key struct:
 * the host walks the array with key_size as the stride. */
struct key_v2 {
    parley_config_key k;
    uint64_t added_later;
};

static void test_key_stride(void **state)
{
    static const struct key_v2 keys[] = {
        { { "alpha", PARLEY_CONFIG_INT, 0, "1", 0, 0, "" }, 7 },
        { { "beta", PARLEY_CONFIG_BOOL, 0, "yes", 0, 0, "" }, 8 },
    };
    parley_config_schema s = { sizeof(parley_config_schema), sizeof(struct key_v2), 2,
                               &keys[0].k };
    parley_error err = PARLEY_ERROR_INIT;
    parley_config *c;

    (void)state;
    assert_int_equal(parley__schema_check(&s, "plugin 'v2'", &err), 0);
    assert_int_equal(parley__schema_apply(&s, NULL, "plugin 'v2'", NULL, &c, &err), 0);
    assert_int_equal(parley__config_int(c, "alpha"), 1);
    assert_int_equal(parley__config_bool(c, "beta"), 1);
    parley__config_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_int),
        cmocka_unit_test(test_parse_bool),
        cmocka_unit_test(test_parse_double),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_apply_values),
        cmocka_unit_test(test_apply_defaults),
        cmocka_unit_test(test_apply_refusals),
        cmocka_unit_test(test_secrets),
        cmocka_unit_test(test_context_block_where),
        cmocka_unit_test(test_extra_keys),
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_schema_check),
        cmocka_unit_test(test_key_stride),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
