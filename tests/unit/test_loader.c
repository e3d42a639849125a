/*
 * The plugin loader against its fixture plugins (tests/fixtures/plugins):
 * the positive path, then every refusal, each asserting that the message
 * names the file and what was wrong (both values where there are two).
 *
 * Usage: test_loader [load|refuse|files|config|lifecycle]  (no argument: all)
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "loader.h"
#include "log.h"
#include "schema.h"

#ifndef PARLEY_TEST_PLUGIN_DIR
#error "PARLEY_TEST_PLUGIN_DIR must name the fixture plugin directory"
#endif

#define DIR PARLEY_TEST_PLUGIN_DIR
#define WHERE "test.yaml:3:5"

/* ---- helpers ---------------------------------------------------------- */

struct loaded {
    parley__config_doc *doc;
    struct parley__plugin *p;
    parley_error err;
    int rc;
};

/*
 * Load plugin `name` as `kind`, from `path` (NULL: DIR/<name>.so), with the
 * YAML text `config` as its block (NULL: none).
 */
static struct loaded load(const char *name, int kind, const char *path, const char *config)
{
    struct loaded l = { NULL, NULL, PARLEY_ERROR_INIT, 0 };
    struct parley__plugin_entry entry = { 0 };

    entry.name = (char *)name;
    entry.path = (char *)path;
    entry.kind = kind;
    entry.where = WHERE;
    if (config != NULL) {
        parley_error err = PARLEY_ERROR_INIT;
        int rc = parley__config_load_string(config, strlen(config), "test.yaml", &l.doc, &err);

        if (rc < 0)
            fail_msg("test YAML does not load: %s", err.message);
        entry.config = parley__node_get(parley__config_root(l.doc), "config");
    }
    l.rc = parley__plugin_load(&entry, DIR, &l.p, &l.err);
    if (l.rc < 0)
        assert_null(l.p);
    if (l.rc < 0 && getenv("PARLEY_TEST_VERBOSE") != NULL)
        fprintf(stderr, "refused: %s\n", l.err.message);
    return l;
}

static void unload(struct loaded *l)
{
    parley__plugin_destroy(l->p);
    parley__config_free(l->doc);
    l->p = NULL;
    l->doc = NULL;
}

#define assert_contains(haystack, needle)                                              \
    do {                                                                               \
        const char *h_ = (haystack), *n_ = (needle);                                   \
        if (strstr(h_, n_) == NULL)                                                    \
            fail_msg("message\n  \"%s\"\ndoes not contain\n  \"%s\"", h_, n_);         \
    } while (0)

/* Load, expect refusal `code`, and expect the message to start at the
 * YAML entry, name the plugin and the file, and hold each of `needles`. */
static void expect_refusal(const char *name, int kind, const char *path, const char *config,
                           int code, const char *const *needles)
{
    struct loaded l = load(name, kind, path, config);
    char prefix[256], file[PATH_MAX];

    if (l.rc >= 0)
        fail_msg("plugin '%s' loaded; expected %s", name, parley_status_name(code));
    assert_int_equal(l.rc, code);
    assert_int_equal(l.err.code, code);
    snprintf(prefix, sizeof prefix, WHERE ": plugin '%s': ", name);
    if (strncmp(l.err.message, prefix, strlen(prefix)) != 0)
        fail_msg("message \"%s\" does not start with \"%s\"", l.err.message, prefix);
    if (path == NULL)
        snprintf(file, sizeof file, "%s/%s.so", DIR, name);
    else
        snprintf(file, sizeof file, "%s", path);
    assert_contains(l.err.message, file);
    for (; needles != NULL && *needles != NULL; needles++)
        assert_contains(l.err.message, *needles);
    unload(&l);
}

#define EXPECT(name, kind, code, ...)                                                  \
    do {                                                                               \
        const char *const needles_[] = { __VA_ARGS__, NULL };                          \
        expect_refusal((name), (kind), NULL, NULL, (code), needles_);                  \
    } while (0)

#define T PARLEY_PLUGIN_TRANSPORT
#define S PARLEY_PLUGIN_STORAGE

static int stopped;
static void on_stopped(void *arg)
{
    stopped++;
    assert_ptr_equal(arg, &stopped);
}

/* ---- the positive path ------------------------------------------------ */

static void load_good_transport(void **state)
{
    struct loaded l = load("good_transport", T, NULL, "config:\n  greeting: hi\n  count: 3\n");
    struct parley__plugin *p = l.p;
    parley_error err = PARLEY_ERROR_INIT;
    char real[PATH_MAX];

    assert_int_equal(l.rc, 0);
    assert_non_null(p);
    assert_string_equal(p->name, "good_transport");
    assert_non_null(realpath(DIR "/good_transport.so", real));
    assert_string_equal(p->path, real);
    assert_int_equal(p->kind, T);
    assert_int_equal(p->state, PARLEY__PLUGIN_LOADED);
    assert_non_null(p->dl);
    assert_string_equal(p->desc->name, "good_transport");
    assert_string_equal(p->desc->version, "1.2.3");
    assert_ptr_equal(p->transport, p->desc->vtable);
    assert_null(p->storage);
    assert_string_equal(p->host.name, "good_transport");
    assert_ptr_equal(p->host.plugin, p);
    assert_string_equal(parley__config_string(p->config, "greeting"), "hi");
    assert_int_equal(parley__config_int(p->config, "count"), 3);
    assert_string_equal(parley__config_location(p->config, "greeting"), "test.yaml:2:13");
    assert_string_equal(parley__config_location(p->config, "token"), "default");

    /* create reads its block back through the host table. */
    assert_int_equal(parley__plugin_create(p, &err), 0);
    assert_int_equal(p->state, PARLEY__PLUGIN_CREATED);
    assert_non_null(p->instance);
    assert_ptr_equal(p->host.instance, p->instance);
    assert_ptr_equal(p->host.transport, p->transport);   /* encode + deliver */

    assert_int_equal(parley__plugin_start(p, &err), 0);
    assert_int_equal(p->state, PARLEY__PLUGIN_STARTED);

    stopped = 0;
    parley__plugin_stop(p, on_stopped, &stopped);
    assert_int_equal(stopped, 1);
    assert_int_equal(p->state, PARLEY__PLUGIN_STOPPED);
    unload(&l);
}

static void load_good_storage(void **state)
{
    struct loaded l = load("good_storage", S, NULL, "config:\n  path: /tmp/x\n");
    parley_error err = PARLEY_ERROR_INIT;

    assert_int_equal(l.rc, 0);
    assert_ptr_equal(l.p->storage, l.p->desc->vtable);
    assert_null(l.p->transport);
    assert_int_equal(parley__config_int(l.p->config, "timeout"), 1000);
    assert_int_equal(parley__plugin_create(l.p, &err), 0);
    assert_null(l.p->host.transport);
    unload(&l);   /* destroy a created, never started plugin */
}

/* By `path:`, from anywhere, under the YAML's name. */
static void load_by_path(void **state)
{
    struct loaded l = load("good_transport", T, DIR "/good_transport.so", NULL);

    assert_int_equal(l.rc, 0);
    assert_string_equal(parley__config_string(l.p->config, "greeting"), "hello");
    unload(&l);
}

/* Built against 1.3 with a larger descriptor, needing only 1.0: loads. */
static void load_newer_minor(void **state)
{
    struct loaded l = load("minor_newer", T, NULL, NULL);

    assert_int_equal(l.rc, 0);
    assert_int_equal(l.p->desc->abi_minor, PARLEY_ABI_MINOR + 3);
    assert_true(l.p->desc->struct_size > sizeof(parley_plugin_descriptor));
    unload(&l);
}

/* A transport without encode/deliver (REST-like) has no session path. */
static void load_session_less(void **state)
{
    struct loaded l = load("session_less", T, NULL, NULL);
    parley_error err = PARLEY_ERROR_INIT;

    assert_int_equal(l.rc, 0);
    assert_int_equal(parley__plugin_create(l.p, &err), 0);
    assert_non_null(l.p->transport);
    assert_null(l.p->host.transport);
    unload(&l);
}

static void default_dir(void **state)
{
    char *dir = parley__plugin_dir_default();
    const char *tail = "/lib/parley/plugins";

    assert_non_null(dir);
    assert_true(dir[0] == '/');
    assert_true(strlen(dir) > strlen(tail));
    assert_string_equal(dir + strlen(dir) - strlen(tail), tail);
    free(dir);
}

/* ---- refusals of the descriptor and the .so ---------------------------- */

static void refuse_not_found(void **state)
{
    struct loaded l = load("nosuch", T, NULL, NULL);

    assert_int_equal(l.rc, PARLEY_ENOTFOUND);
    assert_string_equal(l.err.message,
                        WHERE ": plugin 'nosuch': not found: " DIR "/nosuch.so (No such file or directory)");
}

static void refuse_not_elf(void **state)
{
    EXPECT("not_elf", T, PARLEY_EINVAL, "dlopen failed: ", "invalid ELF header");
}

/* RTLD_NOW: an unresolved symbol is refused at load, not at first call. */
static void refuse_undefined_symbol(void **state)
{
    EXPECT("undefined_symbol", T, PARLEY_EINVAL, "dlopen failed: ",
           "undefined symbol: parley_fixture_no_such_function");
}

static void refuse_bad_name(void **state)
{
    struct loaded l = load("../etc/x", T, NULL, NULL);

    assert_int_equal(l.rc, PARLEY_EINVAL);
    assert_string_equal(l.err.message,
                        WHERE ": plugin '../etc/x': invalid plugin name (it becomes a file name)");
}

static void refuse_no_entry(void **state)
{
    EXPECT("no_entry", T, PARLEY_EINVAL, "has no parley_plugin_entry symbol");
}

static void refuse_entry_null(void **state)
{
    EXPECT("entry_null", T, PARLEY_EINVAL, "parley_plugin_entry() returned NULL");
}

static void refuse_bad_magic(void **state)
{
    EXPECT("bad_magic", T, PARLEY_EINVAL, "bad magic 0xdeadbeef", "expected 0x594c5250");
}

static void refuse_abi_major(void **state)
{
    EXPECT("abi_major", T, PARLEY_EVERSION, "ABI major mismatch: plugin 2 (built for ABI 2.0), host 1 (ABI 1.1)");
}

static void refuse_host_too_old(void **state)
{
    EXPECT("host_too_old", T, PARLEY_EVERSION,
           "host too old: the plugin needs host ABI minor 8 (1.8 or newer), this host has minor 1 (ABI 1.1)");
}

static void refuse_small_descriptor(void **state)
{
    char needle[128];

    snprintf(needle, sizeof needle,
             "descriptor struct_size 16 is smaller than the ABI 1.0 descriptor (%zu bytes)",
             sizeof(parley_plugin_descriptor));
    EXPECT("small_descriptor", T, PARLEY_EINVAL, needle);
}

static void refuse_wrong_kind(void **state)
{
    EXPECT("good_transport", S, PARLEY_EINVAL, "is a transport plugin but is configured under storage:");
    EXPECT("good_storage", T, PARLEY_EINVAL, "is a storage plugin but is configured under transports:");
}

static void refuse_bad_kind(void **state)
{
    EXPECT("bad_kind", T, PARLEY_EINVAL, "unknown plugin kind 7 in its descriptor");
}

static void refuse_wrong_name(void **state)
{
    EXPECT("misnamed", T, PARLEY_EINVAL,
           "calls itself 'somebody_else' (descriptor name) but the config loads it as 'misnamed'");
    /* The same check for a plugin named by path under another name. */
    {
        const char *const needles[] = { "calls itself 'good_transport'", "loads it as 'other'", NULL };
        expect_refusal("other", T, DIR "/good_transport.so", NULL, PARLEY_EINVAL, needles);
    }
}

static void refuse_missing_slots(void **state)
{
    EXPECT("missing_create", T, PARLEY_EINVAL, "required descriptor slot 'create' is NULL");
    EXPECT("missing_start", T, PARLEY_EINVAL, "required descriptor slot 'start' is NULL");
    EXPECT("missing_stop", T, PARLEY_EINVAL, "required descriptor slot 'stop' is NULL");
    EXPECT("missing_destroy", T, PARLEY_EINVAL, "required descriptor slot 'destroy' is NULL");
    EXPECT("missing_vtable", T, PARLEY_EINVAL, "required descriptor slot 'vtable' is NULL");
    EXPECT("storage_no_insert", S, PARLEY_EINVAL, "required storage vtable slot 'insert' is NULL");
    EXPECT("storage_no_history", S, PARLEY_EINVAL, "required storage vtable slot 'history' is NULL");
    EXPECT("storage_no_health", S, PARLEY_EINVAL, "required storage vtable slot 'health' is NULL");
    EXPECT("encode_only", T, PARLEY_EINVAL, "transport vtable has encode but no deliver");
    EXPECT("deliver_only", T, PARLEY_EINVAL, "transport vtable has deliver but no encode");
}

static void refuse_small_vtables(void **state)
{
    char s[160], t[160];

    snprintf(s, sizeof s,
             "storage vtable struct_size 4 is smaller than the ABI 1.0 storage vtable (%zu bytes)",
             sizeof(parley_storage_vtable));
    snprintf(t, sizeof t,
             "transport vtable struct_size 4 is smaller than the ABI 1.0 transport vtable (%zu bytes)",
             sizeof(parley_transport_vtable));
    EXPECT("storage_vtable_small", S, PARLEY_EINVAL, s);
    EXPECT("transport_vtable_small", T, PARLEY_EINVAL, t);
}

static void refuse_bad_schema(void **state)
{
    EXPECT("bad_schema", T, PARLEY_EINVAL,
           "bad_schema.so: config schema key 'retries': default 'lots' is not an integer",
           "a bug in the plugin's config schema");
}

/* ---- create / start failures -------------------------------------------- */

static void refuse_create(void **state)
{
    struct loaded l = load("create_fails", T, NULL, NULL);
    parley_error err = PARLEY_ERROR_INIT;
    char real[PATH_MAX], want[2 * PATH_MAX];

    assert_int_equal(l.rc, 0);
    assert_int_equal(parley__plugin_create(l.p, &err), PARLEY_EIO);
    assert_non_null(realpath(DIR "/create_fails.so", real));
    snprintf(want, sizeof want,
             WHERE ": plugin 'create_fails': create of %s failed: cannot open /nonexistent/db: "
                   "No such file or directory (EIO)", real);
    assert_string_equal(err.message, want);
    assert_int_equal(l.p->state, PARLEY__PLUGIN_LOADED);
    unload(&l);
}

static void refuse_start(void **state)
{
    struct loaded l = load("start_fails", T, NULL, NULL);
    parley_error err = PARLEY_ERROR_INIT;

    assert_int_equal(l.rc, 0);
    assert_int_equal(parley__plugin_create(l.p, &err), 0);
    assert_int_equal(parley__plugin_start(l.p, &err), PARLEY_EEXIST);
    assert_contains(err.message, WHERE ": plugin 'start_fails': start of ");
    assert_contains(err.message, "start_fails.so failed: route prefix '/api/' is already taken (EEXIST)");
    assert_int_equal(l.p->state, PARLEY__PLUGIN_CREATED);

    /* Never started: stop is immediate; destroy frees the instance (LSan). */
    stopped = 0;
    parley__plugin_stop(l.p, on_stopped, &stopped);
    assert_int_equal(stopped, 1);
    unload(&l);
}

/* ---- filesystem refusals ------------------------------------------------ */

static char tmp[PATH_MAX];

static int make_tmp(void **state)
{
    snprintf(tmp, sizeof tmp, "%s/loader-test-XXXXXX", DIR "/..");
    if (mkdtemp(tmp) == NULL)
        return -1;
    /* realpath, so messages and "inside" checks compare canonical paths. */
    char *r = realpath(tmp, NULL);
    if (r == NULL)
        return -1;
    snprintf(tmp, sizeof tmp, "%s", r);
    free(r);
    return 0;
}

static int remove_tmp(void **state)
{
    char cmd[PATH_MAX + 16];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
    char buf[65536];
    ssize_t n;
    int in = open(from, O_RDONLY), out;

    assert_true(in >= 0);
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(out >= 0);
    while ((n = read(in, buf, sizeof buf)) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
    assert_int_equal(chmod(to, mode), 0);
}

static const char *tpath(const char *rel)
{
    static char bufs[4][PATH_MAX];
    static int i;
    char *b = bufs[i++ % 4];

    if ((size_t)snprintf(b, PATH_MAX, "%s/%s", tmp, rel) >= PATH_MAX)
        fail_msg("path too long");
    return b;
}

static void refuse_world_writable_file(void **state)
{
    const char *const needles[] = { "is world-writable (mode 0666)", NULL };

    copy_file(DIR "/good_transport.so", tpath("good_transport.so"), 0666);
    expect_refusal("good_transport", T, tpath("good_transport.so"), NULL, PARLEY_EINVAL, needles);
}

static void refuse_world_writable_dir(void **state)
{
    const char *const needles[] = { "is in the world-writable directory", "(mode 0777)", NULL };
    struct loaded l;

    assert_int_equal(mkdir(tpath("ww"), 0755), 0);
    copy_file(DIR "/good_transport.so", tpath("ww/good_transport.so"), 0644);
    assert_int_equal(chmod(tpath("ww"), 0777), 0);
    expect_refusal("good_transport", T, tpath("ww/good_transport.so"), NULL, PARLEY_EINVAL, needles);
    {
        const char *const dir_needle[] = { tpath("ww"), NULL };
        expect_refusal("good_transport", T, tpath("ww/good_transport.so"), NULL, PARLEY_EINVAL, dir_needle);
    }

    /* With the sticky bit (as /tmp), others cannot rename our file: allowed. */
    assert_int_equal(chmod(tpath("ww"), 01777), 0);
    l = load("good_transport", T, tpath("ww/good_transport.so"), NULL);
    assert_int_equal(l.rc, 0);
    unload(&l);
    assert_int_equal(chmod(tpath("ww"), 0755), 0);
}

static void refuse_not_regular(void **state)
{
    const char *const needles[] = { "is not a regular file (it is a directory)", NULL };

    assert_int_equal(mkdir(tpath("dir.so"), 0755), 0);
    expect_refusal("dir", T, tpath("dir.so"), NULL, PARLEY_EINVAL, needles);
}

static void refuse_symlink_outside(void **state)
{
    char real[PATH_MAX], want[3 * PATH_MAX];
    const char *link = tpath("good_transport.so");
    struct loaded l;

    assert_non_null(realpath(DIR "/good_transport.so", real));
    unlink(link);
    assert_int_equal(symlink(real, link), 0);
    snprintf(want, sizeof want, "is a symlink to %s, outside the plugin directory %s", real, tmp);
    {
        const char *const needles[] = { want, "PARLEY_UNSAFE_ALLOW_SYMLINKS=1", NULL };

        unsetenv("PARLEY_UNSAFE_ALLOW_SYMLINKS");
        expect_refusal("good_transport", T, link, NULL, PARLEY_EINVAL, needles);
        setenv("PARLEY_UNSAFE_ALLOW_SYMLINKS", "0", 1);
        expect_refusal("good_transport", T, link, NULL, PARLEY_EINVAL, needles);
    }
    setenv("PARLEY_UNSAFE_ALLOW_SYMLINKS", "1", 1);
    l = load("good_transport", T, link, NULL);
    unsetenv("PARLEY_UNSAFE_ALLOW_SYMLINKS");
    assert_int_equal(l.rc, 0);
    assert_string_equal(l.p->path, real);
    unload(&l);
    unlink(link);
}

static void symlink_inside_loads(void **state)
{
    struct loaded l;

    assert_int_equal(mkdir(tpath("in"), 0755), 0);
    assert_int_equal(mkdir(tpath("in/v1"), 0755), 0);
    copy_file(DIR "/good_transport.so", tpath("in/v1/good_transport.so"), 0644);
    assert_int_equal(symlink("v1/good_transport.so", tpath("in/good_transport.so")), 0);
    l = load("good_transport", T, NULL, NULL);   /* sanity: the fixture itself */
    assert_int_equal(l.rc, 0);
    unload(&l);
    {
        struct parley__plugin_entry e = { .name = "good_transport", .kind = T, .where = WHERE };
        struct parley__plugin *p = NULL;
        parley_error err = PARLEY_ERROR_INIT;

        assert_int_equal(parley__plugin_load(&e, tpath("in"), &p, &err), 0);
        assert_string_equal(p->path, tpath("in/v1/good_transport.so"));
        parley__plugin_destroy(p);
    }
}

static void refuse_dangling_symlink(void **state)
{
    const char *const needles[] = { "not found: ", "is a symlink to a missing file", NULL };

    assert_int_equal(symlink("nowhere.so", tpath("dangling.so")), 0);
    expect_refusal("dangling", T, tpath("dangling.so"), NULL, PARLEY_ENOTFOUND, needles);
}

/* ---- config blocks and reconfigure -------------------------------------- */

static void refuse_config_unknown_key(void **state)
{
    struct loaded l = load("good_transport", T, NULL, "config:\n  greting: hi\n");

    assert_int_equal(l.rc, PARLEY_EINVAL);
    assert_contains(l.err.message, "test.yaml:2:3");
    assert_contains(l.err.message, "'greting'");
    assert_contains(l.err.message, "transport plugin 'good_transport'");
    assert_contains(l.err.message, "greeting, count, token");
    unload(&l);
}

static void refuse_config_range(void **state)
{
    struct loaded l = load("good_transport", T, NULL, "config:\n  count: 11\n");

    assert_int_equal(l.rc, PARLEY_EINVAL);
    assert_contains(l.err.message, "test.yaml:2:10");
    assert_contains(l.err.message, "count");
    assert_contains(l.err.message, "11");
    assert_contains(l.err.message, "1..10");
    unload(&l);
}

static void refuse_config_missing_required(void **state)
{
    struct loaded l = load("good_storage", S, NULL, NULL);

    assert_int_equal(l.rc, PARLEY_EINVAL);
    assert_contains(l.err.message, WHERE);
    assert_contains(l.err.message, "storage plugin 'good_storage'");
    assert_contains(l.err.message, "missing required key 'path'");
    unload(&l);
}

static void reconfigure(void **state)
{
    struct loaded l = load("good_transport", T, NULL, "config:\n  greeting: hi\n");
    parley_error err = PARLEY_ERROR_INIT;
    parley__config_doc *doc = NULL;
    const char *same = "config:\n\n\n  greeting: hi\n";  /* moved, not changed */
    const char *changed = "config:\n  greeting: bye\n";
    const char *bad = "config:\n  count: 0\n";

    assert_int_equal(l.rc, 0);
    assert_int_equal(parley__plugin_create(l.p, &err), 0);
    assert_int_equal(parley__plugin_start(l.p, &err), 0);

    assert_int_equal(parley__config_load_string(same, strlen(same), "new.yaml", &doc, &err), 0);
    assert_int_equal(parley__plugin_reconfigure(l.p, parley__node_get(parley__config_root(doc), "config"), &err), 0);
    assert_string_equal(parley__config_location(l.p->config, "greeting"), "test.yaml:2:13");
    parley__config_free(doc);

    assert_int_equal(parley__config_load_string(bad, strlen(bad), "new.yaml", &doc, &err), 0);
    assert_int_equal(parley__plugin_reconfigure(l.p, parley__node_get(parley__config_root(doc), "config"), &err),
                     PARLEY_EINVAL);
    assert_contains(err.message, "new.yaml:2:10");
    assert_string_equal(parley__config_string(l.p->config, "greeting"), "hi");
    parley__config_free(doc);

    assert_int_equal(parley__config_load_string(changed, strlen(changed), "new.yaml", &doc, &err), 0);
    assert_int_equal(parley__plugin_reconfigure(l.p, parley__node_get(parley__config_root(doc), "config"), &err), 0);
    parley__config_free(doc);   /* the new config copies what it needs */
    assert_string_equal(parley__config_string(l.p->config, "greeting"), "bye");

    stopped = 0;
    parley__plugin_stop(l.p, on_stopped, &stopped);
    assert_int_equal(stopped, 1);
    unload(&l);
}

static void reconfigure_needs_restart(void **state)
{
    struct loaded l = load("good_storage", S, NULL, "config:\n  path: /a\n");
    parley_error err = PARLEY_ERROR_INIT;
    parley__config_doc *doc = NULL;
    const char *changed = "config:\n  path: /b\n";

    assert_int_equal(l.rc, 0);
    assert_int_equal(parley__plugin_create(l.p, &err), 0);
    assert_int_equal(parley__config_load_string(changed, strlen(changed), "new.yaml", &doc, &err), 0);
    assert_int_equal(parley__plugin_reconfigure(l.p, parley__node_get(parley__config_root(doc), "config"), &err),
                     PARLEY_EBUSY);
    assert_contains(err.message, WHERE ": plugin 'good_storage': its config block changed");
    assert_contains(err.message, "good_storage.so");
    assert_contains(err.message, "restart needed");
    assert_string_equal(parley__config_string(l.p->config, "path"), "/a");
    parley__config_free(doc);
    unload(&l);
}

/* ---- main ---------------------------------------------------------------- */

int main(int argc, char **argv)
{
    const struct CMUnitTest load_tests[] = {
        cmocka_unit_test(load_good_transport),
        cmocka_unit_test(load_good_storage),
        cmocka_unit_test(load_by_path),
        cmocka_unit_test(load_newer_minor),
        cmocka_unit_test(load_session_less),
        cmocka_unit_test(default_dir),
    };
    const struct CMUnitTest refuse_tests[] = {
        cmocka_unit_test(refuse_not_found),
        cmocka_unit_test(refuse_not_elf),
        cmocka_unit_test(refuse_undefined_symbol),
        cmocka_unit_test(refuse_bad_name),
        cmocka_unit_test(refuse_no_entry),
        cmocka_unit_test(refuse_entry_null),
        cmocka_unit_test(refuse_bad_magic),
        cmocka_unit_test(refuse_abi_major),
        cmocka_unit_test(refuse_host_too_old),
        cmocka_unit_test(refuse_small_descriptor),
        cmocka_unit_test(refuse_wrong_kind),
        cmocka_unit_test(refuse_bad_kind),
        cmocka_unit_test(refuse_wrong_name),
        cmocka_unit_test(refuse_missing_slots),
        cmocka_unit_test(refuse_small_vtables),
        cmocka_unit_test(refuse_bad_schema),
    };
    const struct CMUnitTest file_tests[] = {
        cmocka_unit_test(refuse_world_writable_file),
        cmocka_unit_test(refuse_world_writable_dir),
        cmocka_unit_test(refuse_not_regular),
        cmocka_unit_test(refuse_symlink_outside),
        cmocka_unit_test(symlink_inside_loads),
        cmocka_unit_test(refuse_dangling_symlink),
    };
    const struct CMUnitTest config_tests[] = {
        cmocka_unit_test(refuse_config_unknown_key),
        cmocka_unit_test(refuse_config_range),
        cmocka_unit_test(refuse_config_missing_required),
        cmocka_unit_test(reconfigure),
        cmocka_unit_test(reconfigure_needs_restart),
    };
    const struct CMUnitTest lifecycle_tests[] = {
        cmocka_unit_test(refuse_create),
        cmocka_unit_test(refuse_start),
    };
    const char *only = argc > 1 ? argv[1] : NULL;
    int failed = 0;

    parley__log_configure(PARLEY_LOG_WARN, PARLEY__LOG_TEXT);
    if (only == NULL || strcmp(only, "load") == 0)
        failed += cmocka_run_group_tests_name("load", load_tests, NULL, NULL);
    if (only == NULL || strcmp(only, "refuse") == 0)
        failed += cmocka_run_group_tests_name("refuse", refuse_tests, NULL, NULL);
    if (only == NULL || strcmp(only, "files") == 0)
        failed += cmocka_run_group_tests_name("files", file_tests, make_tmp, remove_tmp);
    if (only == NULL || strcmp(only, "config") == 0)
        failed += cmocka_run_group_tests_name("config", config_tests, NULL, NULL);
    if (only == NULL || strcmp(only, "lifecycle") == 0)
        failed += cmocka_run_group_tests_name("lifecycle", lifecycle_tests, NULL, NULL);
    return failed != 0;
}
