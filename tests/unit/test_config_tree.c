/*
 * host/config.c: the located tree, ${VAR} substitution, every refusal and
 * every limit (the big inputs are generated here, never committed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

/* Load `text` as "t.yaml"; NULL on failure with the message in `msg`. */
static parley__config_doc *load(const char *text, char *msg, int *code)
{
    parley_error err = PARLEY_ERROR_INIT;
    parley__config_doc *doc = NULL;
    int rc = parley__config_load_string(text, strlen(text), "t.yaml", &doc, &err);

    if (code != NULL)
        *code = rc;
    if (msg != NULL)
        snprintf(msg, PARLEY_ERROR_MESSAGE_MAX, "%s", rc ? err.message : "");
    if (rc != 0)
        assert_null(doc);
    return doc;
}

/* Assert `text` is refused with exactly `expect`. */
static void refused(const char *text, const char *expect)
{
    char msg[PARLEY_ERROR_MESSAGE_MAX];
    parley__config_doc *doc = load(text, msg, NULL);

    if (doc != NULL) {
        parley__config_free(doc);
        fail_msg("loaded, expected: %s", expect);
    }
    assert_string_equal(msg, expect);
}

/* The value of `key` in `text` (a one-level map), substituted. */
static char *value_of(const char *text, const char *key)
{
    char msg[PARLEY_ERROR_MESSAGE_MAX];
    parley__config_doc *doc = load(text, msg, NULL);
    const parley__node *n;
    char *v;

    if (doc == NULL)
        fail_msg("refused: %s", msg);
    n = parley__node_get(parley__config_root(doc), key);
    assert_non_null(n);
    assert_int_equal(n->type, PARLEY__NODE_SCALAR);
    v = strdup(n->scalar);
    parley__config_free(doc);
    return v;
}

static void assert_value(const char *text, const char *key, const char *expect)
{
    char *v = value_of(text, key);

    assert_string_equal(v, expect);
    free(v);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the tree ----------------------------------------------------- */

static void test_locations(void **state)
{
    const char *text = "# comment\n"
                       "server:\n"
                       "  port: 3001\n"
                       "  name: 'quoted'\n"
                       "  list:\n"
                       "    - a\n"
                       "    - \"b\"\n"
                       "  flow: {x: 1, y: [2, 3]}\n"
                       "empty:\n"
                       "tilde: ~\n"
                       "qempty: ''\n";
    parley__config_doc *doc = load(text, NULL, NULL);
    const parley__node *root, *server, *port, *list, *flow, *y;
    char path[64];

    (void)state;
    assert_non_null(doc);
    assert_string_equal(parley__config_path(doc), "t.yaml");
    root = parley__config_root(doc);
    assert_int_equal(root->type, PARLEY__NODE_MAP);
    assert_int_equal(root->line, 2);
    assert_int_equal(root->col, 1);
    assert_null(root->parent);
    assert_int_equal(root->n, 4);
    assert_string_equal(root->keys[0]->scalar, "server");
    assert_string_equal(root->keys[0]->where, "t.yaml:2:1");
    assert_true(root->keys[0]->is_key);

    server = parley__node_get(root, "server");
    assert_non_null(server);
    assert_int_equal(server->type, PARLEY__NODE_MAP);
    assert_int_equal(server->n, 4);
    assert_ptr_equal(server->parent, root);

    port = parley__node_get(server, "port");
    assert_non_null(port);
    assert_int_equal(port->type, PARLEY__NODE_SCALAR);
    assert_string_equal(port->scalar, "3001");
    assert_int_equal(port->scalar_len, 4);
    assert_int_equal(port->line, 3);
    assert_int_equal(port->col, 9);
    assert_string_equal(port->where, "t.yaml:3:9");
    assert_false(port->quoted);
    assert_false(port->is_key);
    assert_ptr_equal(port->key, server->keys[0]);
    assert_string_equal(parley__node_path(port, path, sizeof path), "server.port");

    assert_true(parley__node_get(server, "name")->quoted);
    assert_string_equal(parley__node_get(server, "name")->scalar, "quoted");
    assert_string_equal(parley__node_get(server, "name")->where, "t.yaml:4:9");

    list = parley__node_get(server, "list");
    assert_int_equal(list->type, PARLEY__NODE_SEQ);
    assert_int_equal(list->n, 2);
    assert_string_equal(list->items[1]->scalar, "b");
    assert_true(list->items[1]->quoted);
    assert_int_equal(list->items[1]->index, 1);
    assert_string_equal(list->items[1]->where, "t.yaml:7:7");
    assert_string_equal(parley__node_path(list->items[1], path, sizeof path), "server.list[1]");

    flow = parley__node_get(server, "flow");
    assert_int_equal(flow->type, PARLEY__NODE_MAP);
    y = parley__node_get(flow, "y");
    assert_int_equal(y->type, PARLEY__NODE_SEQ);
    assert_string_equal(y->items[0]->where, "t.yaml:8:20");
    assert_string_equal(parley__node_path(y->items[0], path, sizeof path), "server.flow.y[0]");
    assert_string_equal(parley__node_path(flow->keys[1], path, sizeof path), "server.flow.y");
    assert_string_equal(parley__node_path(root, path, sizeof path), "");

    assert_true(parley__node_get(root, "empty")->is_null);
    assert_string_equal(parley__node_get(root, "empty")->scalar, "");
    assert_true(parley__node_get(root, "tilde")->is_null);
    assert_false(parley__node_get(root, "qempty")->is_null);
    assert_true(parley__node_get(root, "qempty")->quoted);

    /* node_get: absent key, not a map, NULL. */
    assert_null(parley__node_get(root, "nope"));
    assert_null(parley__node_get(port, "x"));
    assert_null(parley__node_get(list, "x"));
    assert_null(parley__node_get(NULL, "x"));

    assert_string_equal(parley__node_type_name(list), "a sequence");
    assert_string_equal(parley__node_type_name(server), "a mapping");
    assert_string_equal(parley__node_type_name(port), "a scalar");
    parley__config_free(doc);
    parley__config_free(NULL);
}

static void test_utf8_columns_and_escapes(void **state)
{
    parley__config_doc *doc = load("k: \"é\\0x\"\nl: ünï x\n", NULL, NULL);
    const parley__node *k;

    (void)state;
    assert_non_null(doc);
    k = parley__node_get(parley__config_root(doc), "k");
    /* A "\0" escape is kept: scalar_len tells the truth, strlen does not. */
    assert_int_equal(k->scalar_len, 4);
    assert_int_equal(strlen(k->scalar), 2);
    assert_string_equal(parley__node_get(parley__config_root(doc), "l")->scalar, "ünï x");
    parley__config_free(doc);
}

static void test_path_truncation_and_excerpt(void **state)
{
    char buf[16], ex[12];
    parley__config_doc *doc = load("averyveryverylongkey:\n  another_long_key: 1\n", NULL, NULL);
    const parley__node *root = parley__config_root(doc);
    const parley__node *v = parley__node_get(parley__node_get(root, "averyveryverylongkey"),
                                             "another_long_key");

    (void)state;
    parley__node_path(v, buf, sizeof buf);
    assert_string_equal(buf, "...");
    parley__config_free(doc);

    assert_string_equal(parley__excerpt("a\nb\tc\x01", 6, ex, sizeof ex), "a\\nb\\tc\\x01");
    assert_string_equal(parley__excerpt("abcdefghijklmnop", 16, ex, sizeof ex), "abcdefgh...");
    /* Never cut inside a UTF-8 sequence. */
    assert_string_equal(parley__excerpt("abcdefgé12345", 14, ex, sizeof ex), "abcdefg...");
}

/* ---- substitution -------------------------------------------------- */

static void test_subst(void **state)
{
    (void)state;
    setenv("PT_A", "alpha", 1);
    setenv("PT_EMPTY", "", 1);
    unsetenv("PT_UNSET");

    assert_value("k: ${PT_A}\n", "k", "alpha");
    assert_value("k: x-${PT_A}-${PT_A}-y\n", "k", "x-alpha-alpha-y");
    assert_value("k: \"${PT_A}\"\n", "k", "alpha");
    assert_value("k: '${PT_A}'\n", "k", "alpha");
    /* set but empty: ${V} gives "", ${V:-d} gives the default */
    assert_value("k: a${PT_EMPTY}b\n", "k", "ab");
    assert_value("k: ${PT_EMPTY:-dflt}\n", "k", "dflt");
    assert_value("k: ${PT_UNSET:-dflt}\n", "k", "dflt");
    assert_value("k: ${PT_A:-dflt}\n", "k", "alpha");
    assert_value("k: ${PT_UNSET:-}\n", "k", "");
    assert_value("k: ${PT_UNSET:-a b:c-d$e}\n", "k", "a b:c-d$e");
    assert_value("k: ${PT_UNSET:-./data}/parley.db\n", "k", "./data/parley.db");
    /* $$ is a literal $; a lone $ stays */
    assert_value("k: $$\n", "k", "$");
    assert_value("k: $${PT_A}\n", "k", "${PT_A}");
    assert_value("k: $$$$${PT_A}\n", "k", "$$alpha");
    assert_value("k: $$$${PT_A}\n", "k", "$${PT_A}");
    assert_value("k: pa$word\n", "k", "pa$word");
    assert_value("k: cost $5\n", "k", "cost $5");
    assert_value("k: end$\n", "k", "end$");
    /* keys are not substituted */
    assert_value("${PT_A}: v\n", "${PT_A}", "v");
}

static void test_subst_errors(void **state)
{
    (void)state;
    unsetenv("PT_UNSET");
    refused("a: 1\nk: ${PT_UNSET}\n",
            "t.yaml:2:4: environment variable 'PT_UNSET' is not set (used as ${PT_UNSET}; "
            "write ${PT_UNSET:-default} to give a default)");
    refused("k: ${PT_A\n", "t.yaml:1:4: malformed ${...} in '${PT_A': missing '}'");
    refused("k: ${\n", "t.yaml:1:4: malformed ${...} in '${': missing '}'");
    refused("k: ${}\n", "t.yaml:1:4: malformed ${}: a variable name starts with a letter or '_'");
    refused("k: ${1A}\n", "t.yaml:1:4: malformed ${1A}: a variable name starts with a letter or '_'");
    refused("k: ${ A}\n", "t.yaml:1:4: malformed ${ A}: a variable name starts with a letter or '_'");
    refused("k: ${A-b}\n",
            "t.yaml:1:4: malformed ${A-b}: expected '}' or ':-default' after the variable name");
    refused("k: ${A:b}\n",
            "t.yaml:1:4: malformed ${A:b}: expected '}' or ':-default' after the variable name");
    refused("k: ${A:-${B}}\n", "t.yaml:1:4: malformed ${A:-${B}: a default cannot contain ${...}");
    refused("k: ${A B}\n",
            "t.yaml:1:4: malformed ${A B}: expected '}' or ':-default' after the variable name");
}

static void test_subst_bounds(void **state)
{
    char msg[PARLEY_ERROR_MESSAGE_MAX], *big, *text;
    parley__config_doc *doc;
    size_t i, o = 0;
    int code;

    (void)state;
    big = malloc(70001);
    memset(big, 'x', 70000);
    big[70000] = '\0';
    setenv("PT_BIG", big, 1);
    doc = load("k: ${PT_BIG}\n", msg, &code);
    assert_null(doc);
    assert_int_equal(code, PARLEY_ETOOBIG);
    assert_string_equal(msg, "t.yaml:1:4: value longer than 65536 bytes after ${} substitution");

    /* 50000 bytes fits a value; 21 of them pass the 1 MiB document budget. */
    big[50000] = '\0';
    setenv("PT_BIG", big, 1);
    free(big);
    text = malloc(64 * 32);
    for (i = 0; i < 30; i++)
        o += (size_t)sprintf(text + o, "k%zu: ${PT_BIG}\n", i);
    doc = load(text, msg, &code);
    free(text);
    assert_null(doc);
    assert_int_equal(code, PARLEY_ETOOBIG);
    assert_string_equal(msg, "t.yaml:21:6: ${} substitution adds more than 1048576 bytes to the "
                             "document (at ${PT_BIG})");
    doc = load("a: ${PT_BIG}\nb: ${PT_BIG}\n", msg, &code);
    assert_non_null(doc);
    assert_int_equal(parley__node_get(parley__config_root(doc), "b")->scalar_len, 50000);
    parley__config_free(doc);
    unsetenv("PT_BIG");
}

/* ---- refusals ------------------------------------------------------ */

static void test_refusals(void **state)
{
    (void)state;
    refused("", "t.yaml:1:1: is empty");
    refused("# only a comment\n\n", "t.yaml:1:1: is empty (no YAML document)");
    refused("---\n", "t.yaml:2:1: is empty (the document has no content)");
    refused("a: 1\na: 2\n", "t.yaml:2:1: duplicate key 'a' (first at t.yaml:1:1)");
    refused("s:\n  x: {k: 1, k: 2}\n",
            "t.yaml:2:13: duplicate key 'k' in s.x (first at t.yaml:2:7)");
    refused("a: &x 1\n", "t.yaml:1:4: anchors and aliases are not allowed (found anchor '&x')");
    refused("a: *x\n", "t.yaml:1:4: anchors and aliases are not allowed (found alias '*x')");
    refused("a: !custom 1\n",
            "t.yaml:1:4: tag '!custom' is not allowed (only the core tags !!str, !!int, !!bool, "
            "!!float, !!null, !!map, !!seq)");
    refused("a: !!binary aGVsbG8=\n",
            "t.yaml:1:4: tag 'tag:yaml.org,2002:binary' is not allowed (only the core tags "
            "!!str, !!int, !!bool, !!float, !!null, !!map, !!seq)");
    refused("a: 1\n---\nb: 2\n",
            "t.yaml:2:1: more than one YAML document (a config file holds exactly one)");
    refused("- a\n", "t.yaml:1:1: the document's root is a sequence, not a mapping of sections");
    refused("hello\n", "t.yaml:1:1: the document's root is a scalar, not a mapping of sections");
    refused("? [a]\n: b\n", "t.yaml:1:3: a mapping key must be a scalar, not a sequence");
    refused("{a: 1}: b\n", "t.yaml:1:1: a mapping key must be a scalar, not a mapping");
    refused("a:\n\tb: 1\n",
            "t.yaml:2:1: found character that cannot start any token (while scanning for the "
            "next token at line 2 column 1)");
    refused("a: [1, 2\n",
            "t.yaml:2:1: did not find expected ',' or ']' (while parsing a flow sequence at line "
            "1 column 4)");
    refused("a: \"open\n",
            "t.yaml:2:1: found unexpected end of stream (while scanning a quoted scalar at line 1 "
            "column 4)");
    refused("a: b: c\n", "t.yaml:1:5: mapping values are not allowed in this context");
    refused("a: \xc3\x28\n", "t.yaml:1:5: invalid trailing UTF-8 octet (byte 0x28 at offset 4)");
    refused("a: \xff\n", "t.yaml:1:4: invalid leading UTF-8 octet (byte 0xff at offset 3)");
    refused("a: 1\nb: x\x01y\n",
            "t.yaml:2:5: control characters are not allowed (byte 0x01 at offset 9)");
    /* Core tags are accepted (and type nothing: the schema decides). */
    {
        parley__config_doc *doc = load("a: !!str 1\nb: !!int 2\nc: !!map {}\n", NULL, NULL);

        assert_non_null(doc);
        parley__config_free(doc);
    }
}

static void test_dups_large_map(void **state)
{
    char msg[PARLEY_ERROR_MESSAGE_MAX];
    size_t n = 40000, i, o = 0;
    char *text = malloc(n * 16 + 64);
    parley__config_doc *doc;

    (void)state;
    for (i = 0; i < n; i++)
        o += (size_t)sprintf(text + o, "k%zu: %zu\n", i, i);
    doc = load(text, msg, NULL);
    assert_non_null(doc);
    assert_int_equal(parley__config_root(doc)->n, n);
    assert_string_equal(parley__node_get(parley__config_root(doc), "k39999")->scalar, "39999");
    parley__config_free(doc);
    /* Two duplicates: the one that comes first in the file is reported. */
    o += (size_t)sprintf(text + o, "k7: x\nk3: y\n");
    doc = load(text, msg, NULL);
    assert_null(doc);
    assert_string_equal(msg, "t.yaml:40001:1: duplicate key 'k7' (first at t.yaml:8:1)");
    free(text);
}

static void test_depth(void **state)
{
    char text[256], msg[PARLEY_ERROR_MESSAGE_MAX];
    parley__config_doc *doc;
    int code, i, o;

    (void)state;
    /* the root map plus 31 sequences: 32 levels, fine */
    o = sprintf(text, "a: ");
    for (i = 0; i < 31; i++)
        text[o++] = '[';
    for (i = 0; i < 31; i++)
        text[o++] = ']';
    text[o++] = '\n';
    text[o] = '\0';
    doc = load(text, msg, &code);
    assert_non_null(doc);
    parley__config_free(doc);
    /* 33 levels */
    o = sprintf(text, "a: ");
    for (i = 0; i < 32; i++)
        text[o++] = '[';
    for (i = 0; i < 32; i++)
        text[o++] = ']';
    text[o++] = '\n';
    text[o] = '\0';
    doc = load(text, msg, &code);
    assert_null(doc);
    assert_int_equal(code, PARLEY_ETOOBIG);
    assert_string_equal(msg, "t.yaml:1:35: nesting deeper than 32 levels");
}

static void test_node_limit(void **state)
{
    char msg[PARLEY_ERROR_MESSAGE_MAX];
    size_t n = 150000, i, o;
    char *text = malloc(n * 2 + 16);
    parley__config_doc *doc;
    double t0;
    int code;

    (void)state;
    o = (size_t)sprintf(text, "a: [");
    for (i = 0; i < n; i++) {
        text[o++] = '1';
        text[o++] = ',';
    }
    text[o - 1] = ']';
    text[o++] = '\n';
    text[o] = '\0';
    t0 = now_s();
    doc = load(text, msg, &code);
    assert_true(now_s() - t0 < 1.0);
    free(text);
    assert_null(doc);
    assert_int_equal(code, PARLEY_ETOOBIG);
    /* root, key a, the sequence, then items: item 99997 is node 100001 */
    assert_string_equal(msg, "t.yaml:1:199999: more than 100000 nodes in the document");
}

static char *gen_keys(size_t n, size_t *len)
{
    char *text = malloc(n * 16 + 16);
    size_t i, o = 0;

    for (i = 0; i < n; i++)
        o += (size_t)sprintf(text + o, "k%zu: 1\n", i);
    *len = o;
    return text;
}

static char *write_temp(const char *data, size_t len)
{
    char *path = strdup("/tmp/parley-config-test-XXXXXX");
    int fd = mkstemp(path);
    size_t done = 0;

    assert_true(fd >= 0);
    while (done < len) {
        ssize_t k = write(fd, data + done, len - done);
        assert_true(k > 0);
        done += (size_t)k;
    }
    close(fd);
    return path;
}

static void test_big_inputs_fail_fast(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    struct parley__config_limits lim = { 0 };
    parley__config_doc *doc;
    char expect[256], *text, *path;
    size_t len;
    double t0;
    int rc;

    (void)state;
    /* 10 MiB file: refused on its size, before reading. */
    len = 10u * 1024 * 1024;
    text = malloc(len);
    memset(text, '#', len);
    path = write_temp(text, len);
    t0 = now_s();
    rc = parley__config_load_file(path, &doc, &err);
    assert_true(now_s() - t0 < 1.0);
    assert_int_equal(rc, PARLEY_ETOOBIG);
    snprintf(expect, sizeof expect, "%s: is 10485760 bytes, over the 1048576-byte limit", path);
    assert_string_equal(err.message, expect);
    unlink(path);
    free(path);

    /* The same as a string. */
    t0 = now_s();
    rc = parley__config_load_string(text, len, "big.yaml", &doc, &err);
    assert_true(now_s() - t0 < 1.0);
    assert_int_equal(rc, PARLEY_ETOOBIG);
    assert_string_equal(err.message, "big.yaml: is 10485760 bytes, over the 1048576-byte limit");
    free(text);

    /* 1 000 000 keys: over the size limit as a file... */
    text = gen_keys(1000000, &len);
    path = write_temp(text, len);
    t0 = now_s();
    rc = parley__config_load_file(path, &doc, &err);
    assert_true(now_s() - t0 < 1.0);
    assert_int_equal(rc, PARLEY_ETOOBIG);
    unlink(path);
    free(path);
    /* ...and, with the size limit lifted, stopped by the node limit long
     * before the end. */
    lim.max_bytes = 64u * 1024 * 1024;
    t0 = now_s();
    rc = parley__config_load_string_ex(text, len, "keys.yaml", &lim, &doc, &err);
    assert_true(now_s() - t0 < 1.0);
    assert_int_equal(rc, PARLEY_ETOOBIG);
    assert_string_equal(err.message, "keys.yaml:50000:9: more than 100000 nodes in the document");
    free(text);
}

static void test_files(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    parley__config_doc *doc;
    char *path;
    int rc;

    (void)state;
    rc = parley__config_load_file("/nonexistent/parley.yaml", &doc, &err);
    assert_int_equal(rc, PARLEY_ENOTFOUND);
    assert_null(doc);
    assert_string_equal(err.message, "/nonexistent/parley.yaml: cannot open: No such file or directory");

    rc = parley__config_load_file("/tmp", &doc, &err);
    assert_int_equal(rc, PARLEY_EINVAL);
    assert_string_equal(err.message, "/tmp: is a directory, not a config file");

    path = write_temp("a: 1\nb:\n  - c\n", 14);
    rc = parley__config_load_file(path, &doc, &err);
    assert_int_equal(rc, 0);
    assert_string_equal(parley__config_path(doc), path);
    assert_string_equal(parley__node_get(parley__config_root(doc), "b")->items[0]->scalar, "c");
    parley__config_free(doc);
    unlink(path);
    free(path);

    path = write_temp("", 0);
    rc = parley__config_load_file(path, &doc, &err);
    assert_int_equal(rc, PARLEY_EINVAL);
    assert_non_null(strstr(err.message, ":1:1: is empty"));
    unlink(path);
    free(path);
}

static void test_limits_configurable(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    struct parley__config_limits lim = { 0 };
    parley__config_doc *doc;
    int rc;

    (void)state;
    lim.max_depth = 2;
    rc = parley__config_load_string_ex("a: {b: {c: 1}}\n", 15, "l.yaml", &lim, &doc, &err);
    assert_int_equal(rc, PARLEY_ETOOBIG);
    assert_string_equal(err.message, "l.yaml:1:8: nesting deeper than 2 levels");
    lim.max_depth = 0;
    lim.max_nodes = 3;
    rc = parley__config_load_string_ex("a: 1\nb: 2\n", 10, "l.yaml", &lim, &doc, &err);
    assert_int_equal(rc, PARLEY_ETOOBIG);
    assert_string_equal(err.message, "l.yaml:2:1: more than 3 nodes in the document");
    lim.max_nodes = 0;
    lim.max_bytes = 4;
    rc = parley__config_load_string_ex("a: 1\n", 5, "l.yaml", &lim, &doc, &err);
    assert_int_equal(rc, PARLEY_ETOOBIG);
    assert_string_equal(err.message, "l.yaml: is 5 bytes, over the 4-byte limit");
}

static void test_any_root(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    parley__config_doc *doc;
    int rc;

    (void)state;
    rc = parley__config_parse("[a, '${X}']", 11, "d", NULL,
                              PARLEY__CONFIG_ANY_ROOT | PARLEY__CONFIG_NO_SUBST, &doc, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(parley__config_root(doc)->type, PARLEY__NODE_SEQ);
    assert_string_equal(parley__config_root(doc)->items[1]->scalar, "${X}");
    parley__config_free(doc);
}

static void test_long_name(void **state)
{
    char name[400], msg[PARLEY_ERROR_MESSAGE_MAX];
    parley_error err = PARLEY_ERROR_INIT;
    parley__config_doc *doc;

    (void)state;
    memset(name, 'd', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    assert_int_equal(parley__config_load_string("a: 1\na: 2\n", 10, name, &doc, &err), PARLEY_EINVAL);
    snprintf(msg, sizeof msg, "%s", err.message);
    /* locations keep the last 200 bytes of a very long name */
    assert_int_equal(strspn(msg, "d"), 200);
    {
        char expect[PARLEY_ERROR_MESSAGE_MAX];

        snprintf(expect, sizeof expect, ":2:1: duplicate key 'a' (first at %s:1:1)",
                 name + sizeof name - 1 - 200);
        assert_string_equal(msg + 200, expect);
    }
    assert_int_equal(parley__config_load_string("a: 1\n", 5, name, &doc, &err), 0);
    assert_string_equal(parley__config_path(doc), name);
    parley__config_free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_locations),
        cmocka_unit_test(test_utf8_columns_and_escapes),
        cmocka_unit_test(test_path_truncation_and_excerpt),
        cmocka_unit_test(test_subst),
        cmocka_unit_test(test_subst_errors),
        cmocka_unit_test(test_subst_bounds),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_dups_large_map),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_node_limit),
        cmocka_unit_test(test_big_inputs_fail_fast),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_limits_configurable),
        cmocka_unit_test(test_any_root),
        cmocka_unit_test(test_long_name),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
