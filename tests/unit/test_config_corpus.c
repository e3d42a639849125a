/*
 * The broken-YAML corpus: every tests/fixtures/config/bad/NAME.yaml must be
 * refused by the full settings load with a message containing the text of
 * NAME.expect (file:line:col included); every good/NAME.yaml must load.
 *
 * Files are loaded by their bare name from inside their directory, so the
 * messages (and the .expect files) hold "NAME.yaml:line:col". The corpus
 * runs with PARLEY_CORPUS_UNSET unset and PARLEY_CORPUS_EMPTY set to "".
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "settings.h"

#define CORPUS PARLEY_TEST_CORPUS_DIR

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in `dir` ending in `suffix`; *n set. */
static char **list(const char *dir, const char *suffix, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;

    *n = 0;
    if (d == NULL)
        fail_msg("cannot open %s", dir);
    while ((e = readdir(d)) != NULL) {
        if (!ends_with(e->d_name, suffix))
            continue;
        names = realloc(names, (*n + 1) * sizeof *names);
        names[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, *n, sizeof *names, name_cmp);
    return names;
}

static void free_list(char **names, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The .expect file's text without its trailing newlines. */
static char *read_expect(const char *name)
{
    FILE *f = fopen(name, "rb");
    char *buf = calloc(1, 1024);
    size_t len;

    if (f == NULL) {
        free(buf);
        return NULL;
    }
    len = fread(buf, 1, 1023, f);
    fclose(f);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    return buf;
}

static void enter(const char *sub, char *old, size_t cap)
{
    char dir[1024];

    assert_non_null(getcwd(old, cap));
    snprintf(dir, sizeof dir, "%s/%s", CORPUS, sub);
    assert_int_equal(chdir(dir), 0);
}

static void test_bad(void **state)
{
    char old[1024];
    size_t n, n_expect, i, failures = 0;
    char **names, **expects;

    (void)state;
    unsetenv("PARLEY_CORPUS_UNSET");
    setenv("PARLEY_CORPUS_EMPTY", "", 1);
    enter("bad", old, sizeof old);
    names = list(".", ".yaml", &n);
    expects = list(".", ".expect", &n_expect);
    /* The corpus is the point: keep it large, and keep pairs complete. */
    assert_true(n >= 30);
    assert_int_equal(n, n_expect);

    for (i = 0; i < n; i++) {
        parley_error err = PARLEY_ERROR_INIT;
        struct parley__settings *s = NULL;
        char expect_name[300];
        char *expect;
        int rc;

        snprintf(expect_name, sizeof expect_name, "%.*s.expect", (int)(strlen(names[i]) - 5),
                 names[i]);
        expect = read_expect(expect_name);
        if (expect == NULL || expect[0] == '\0') {
            print_error("%s: no (or an empty) %s\n", names[i], expect_name);
            failures++;
            free(expect);
            continue;
        }
        rc = parley__settings_load(names[i], &s, &err);
        if (rc == 0) {
            print_error("%s: loaded, expected a refusal containing: %s\n", names[i], expect);
            parley__settings_free(s);
            failures++;
        } else if (s != NULL || rc > 0) {
            print_error("%s: failed with %d but *out was not NULL\n", names[i], rc);
            failures++;
        } else if (strstr(err.message, expect) == NULL) {
            print_error("%s:\n   got: %s\n  want: %s\n", names[i], err.message, expect);
            failures++;
        }
        free(expect);
    }
    free_list(names, n);
    free_list(expects, n_expect);
    assert_int_equal(chdir(old), 0);
    assert_int_equal(failures, 0);
}

static void test_good(void **state)
{
    char old[1024];
    size_t n, i, failures = 0;
    char **names;

    (void)state;
    unsetenv("PARLEY_CORPUS_UNSET");
    enter("good", old, sizeof old);
    names = list(".", ".yaml", &n);
    assert_true(n >= 5);
    for (i = 0; i < n; i++) {
        parley_error err = PARLEY_ERROR_INIT;
        struct parley__settings *s = NULL;

        if (parley__settings_load(names[i], &s, &err) != 0) {
            print_error("%s: refused: %s\n", names[i], err.message);
            failures++;
            continue;
        }
        parley__settings_free(s);
    }
    free_list(names, n);
    assert_int_equal(chdir(old), 0);
    assert_int_equal(failures, 0);
}

static struct parley__settings *good(const char *name)
{
    parley_error err = PARLEY_ERROR_INIT;
    struct parley__settings *s;
    char path[1024];

    snprintf(path, sizeof path, "%s/good/%s", CORPUS, name);
    if (parley__settings_load(path, &s, &err) != 0)
        fail_msg("%s", err.message);
    return s;
}

static void test_good_values(void **state)
{
    struct parley__settings *s;

    (void)state;
    unsetenv("PARLEY_CORPUS_UNSET");
    s = good("substitution.yaml");
    assert_string_equal(s->server.host, "127.0.0.1");
    assert_int_equal(s->server.port, 3005);
    assert_string_equal(s->chat.default_room, "room$1");
    assert_string_equal(parley__node_get(s->storage.plugin.config, "path")->scalar, "./data/parley.db");
    assert_string_equal(parley__node_get(s->storage.plugin.config, "password")->scalar, "pa$word");
    parley__settings_free(s);

    s = good("every_key.yaml");
    assert_int_equal(s->server.port, 4000);
    assert_int_equal(s->server.shutdown_timeout_ms, 10000);
    assert_int_equal(s->listener.max_message, 512 * 1024);
    assert_int_equal(s->listener.send_queue_max, 4 * 1024 * 1024);
    assert_int_equal(s->storage.health_interval_ms, 500);
    assert_non_null(strstr(s->storage.plugin.path, "/good/../plugins/sqlite.so"));
    assert_string_equal(s->transports[1].path, "/opt/parley/echo.so");
    assert_non_null(strstr(s->plugins.dir, "/good/../lib/parley/plugins"));
    parley__settings_free(s);

    s = good("utf8_bom.yaml");
    assert_string_equal(s->chat.default_room, "café-ünïcode");
    parley__settings_free(s);

    s = good("flow_style.yaml");
    assert_string_equal(s->server.host, "::");
    assert_string_equal(s->storage.plugin.name, "memstore");
    assert_string_equal(s->transports[0].name, "rest");
    parley__settings_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_good_values),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
