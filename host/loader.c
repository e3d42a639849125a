/*
 * The plugin loader. The order of the checks matters: nothing from a
 * plugin runs before its file has passed the filesystem checks (dlopen
 * runs constructors), and nothing past the frozen descriptor header is read
 * before magic, major and struct_size say the rest is laid out as this host
 * expects. See docs/abi-policy.md for every message.
 */
#include "loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "schema.h"

#ifndef PARLEY_PLUGIN_RELDIR
#define PARLEY_PLUGIN_RELDIR "../lib/parley/plugins"
#endif

#define SLOT_END(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/* The sizes of the 1.0 structs: a plugin of any 1.x declares at least
 * these. They are constants of ABI 1.0, not of whatever the host was
 * built with, so they stay right when 1.1 appends fields. */
#define DESCRIPTOR_SIZE_1_0 SLOT_END(parley_plugin_descriptor, reconfigure)
#define STORAGE_VTABLE_SIZE_1_0 SLOT_END(parley_storage_vtable, health)
#define TRANSPORT_VTABLE_SIZE_1_0 SLOT_END(parley_transport_vtable, client_ack)

/* What a refusal needs to name: the YAML entry and the file. */
struct ctx {
    const char *name;
    const char *where;   /* may be NULL */
    const char *path;    /* as configured or derived */
};

PARLEY_PRINTF(4, 5)
static int refuse(const struct ctx *c, parley_error *err, int code, const char *fmt, ...)
{
    char body[PARLEY_ERROR_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    if (c->where != NULL)
        return parley_error_set(err, code, "%.160s: plugin '%.64s': %s", c->where, c->name, body);
    return parley_error_set(err, code, "plugin '%.64s': %s", c->name, body);
}

const char *parley__plugin_kind_name(int kind)
{
    switch (kind) {
    case PARLEY_PLUGIN_TRANSPORT: return "transport";
    case PARLEY_PLUGIN_STORAGE: return "storage";
    default: return "unknown";
    }
}

/* The YAML section a kind is configured under. */
static const char *kind_section(int kind)
{
    return kind == PARLEY_PLUGIN_STORAGE ? "storage:" : "transports:";
}

static const char *file_type(mode_t mode)
{
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISLNK(mode)) return "a symlink";
    return "not a regular file";
}

char *parley__plugin_dir_default(void)
{
    char exe[PATH_MAX];
    char *dir, *real, *slash;
    ssize_t n;

    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (slash == NULL)
        return NULL;
    *slash = '\0';
    if (asprintf(&dir, "%s/%s", exe, PARLEY_PLUGIN_RELDIR) < 0)
        return NULL;
    /* "/x/bin/../lib/parley/plugins" reads badly in messages. */
    real = realpath(dir, NULL);
    if (real == NULL)
        return dir;
    free(dir);
    return real;
}

/* A malloc'd copy of the directory part of `path` ("." for a bare name). */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static int is_inside(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    if (n == 1 && dir[0] == '/')
        return 1;
    return strncmp(path, dir, n) == 0 && path[n] == '/';
}

/* Writable by anyone, and without the sticky bit that would stop others
 * from renaming or deleting our files in it. */
static int check_dir(const struct ctx *c, const char *dir, parley_error *err)
{
    struct stat st;

    if (stat(dir, &st) < 0)
        return refuse(c, err, PARLEY_EINVAL, "cannot stat the directory %s of %s (%s)", dir,
                      c->path, strerror(errno));
    if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))
        return refuse(c, err, PARLEY_EINVAL,
                      "%s is in the world-writable directory %s (mode %04o): anyone could swap "
                      "the file; refused (chmod o-w %s)",
                      c->path, dir, (unsigned)(st.st_mode & 07777), dir);
    return 0;
}

/*
 * Everything that can be said about the file before running any of its
 * code. On success *real is the canonical path to dlopen (so a symlink
 * swapped after the check is not followed).
 */
static int check_file(const struct ctx *c, char **real, parley_error *err)
{
    struct stat st;
    char *target, *linkdir, *dir;
    int rc;

    if (lstat(c->path, &st) < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return refuse(c, err, PARLEY_ENOTFOUND, "not found: %s (%s)", c->path,
                          strerror(errno));
        return refuse(c, err, PARLEY_EINVAL, "cannot stat %s (%s)", c->path, strerror(errno));
    }

    target = realpath(c->path, NULL);
    if (target == NULL) {
        if (S_ISLNK(st.st_mode))
            return refuse(c, err, PARLEY_ENOTFOUND, "not found: %s is a symlink to a missing file (%s)",
                          c->path, strerror(errno));
        return refuse(c, err, PARLEY_EINVAL, "cannot resolve %s (%s)", c->path, strerror(errno));
    }

    linkdir = dir_of(c->path);
    if (linkdir == NULL) {
        free(target);
        return refuse(c, err, PARLEY_ENOMEM, "out of memory");
    }

    if (S_ISLNK(st.st_mode)) {
        char *reallinkdir = realpath(linkdir, NULL);
        int inside = reallinkdir != NULL && is_inside(target, reallinkdir);
        const char *allow = getenv("PARLEY_UNSAFE_ALLOW_SYMLINKS");

        if (!inside && !(allow != NULL && strcmp(allow, "1") == 0)) {
            rc = refuse(c, err, PARLEY_EINVAL,
                        "%s is a symlink to %s, outside the plugin directory %s; refused "
                        "(set PARLEY_UNSAFE_ALLOW_SYMLINKS=1 to allow it)",
                        c->path, target, reallinkdir != NULL ? reallinkdir : linkdir);
            free(reallinkdir);
            goto fail;
        }
        if (!inside)
            parley__log(PARLEY_LOG_WARN, "loader",
                        "plugin '%s': %s is a symlink to %s, outside %s; loading it because "
                        "PARLEY_UNSAFE_ALLOW_SYMLINKS=1",
                        c->name, c->path, target, reallinkdir != NULL ? reallinkdir : linkdir);
        free(reallinkdir);
        if ((rc = check_dir(c, linkdir, err)) < 0)
            goto fail;
    }

    if (stat(target, &st) < 0) {
        rc = refuse(c, err, PARLEY_EINVAL, "cannot stat %s (%s)", target, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = refuse(c, err, PARLEY_EINVAL, "%s is not a regular file (it is %s)", c->path,
                    file_type(st.st_mode));
        goto fail;
    }
    if (st.st_mode & S_IWOTH) {
        rc = refuse(c, err, PARLEY_EINVAL,
                    "%s is world-writable (mode %04o): anyone could replace the code the server "
                    "runs; refused (chmod o-w %s)",
                    c->path, (unsigned)(st.st_mode & 07777), c->path);
        goto fail;
    }
    dir = dir_of(target);
    if (dir == NULL) {
        rc = refuse(c, err, PARLEY_ENOMEM, "out of memory");
        goto fail;
    }
    rc = check_dir(c, dir, err);
    free(dir);
    if (rc < 0)
        goto fail;

    free(linkdir);
    *real = target;
    return 0;

fail:
    free(linkdir);
    free(target);
    return rc;
}

static int open_plugin(const struct ctx *c, const char *real, void **dl,
                       const parley_plugin_descriptor **out, parley_error *err)
{
    parley_plugin_entry_fn entry;
    const char *msg;
    void *sym;

    *dl = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (*dl == NULL) {
        msg = dlerror();
        if (msg == NULL)
            msg = "unknown error";
        /* dlerror() usually names the file itself. */
        if (strstr(msg, real) != NULL || strstr(msg, c->path) != NULL)
            return refuse(c, err, PARLEY_EINVAL, "dlopen failed: %s", msg);
        return refuse(c, err, PARLEY_EINVAL, "dlopen failed: %s: %s", c->path, msg);
    }

    dlerror();
    sym = dlsym(*dl, PARLEY_ENTRY_SYMBOL);
    if (sym == NULL)
        return refuse(c, err, PARLEY_EINVAL,
                      "%s has no %s symbol: not a Parley plugin, or its entry is not exported "
                      "(declare it with PARLEY_PLUGIN_ENTRY(descriptor); check with "
                      "nm -D --defined-only)",
                      c->path, PARLEY_ENTRY_SYMBOL);
    /* POSIX guarantees object and function pointers convert through dlsym. */
    memcpy(&entry, &sym, sizeof entry);

    *out = entry();
    if (*out == NULL)
        return refuse(c, err, PARLEY_EINVAL, "%s: %s() returned NULL instead of a descriptor",
                      c->path, PARLEY_ENTRY_SYMBOL);
    return 0;
}

/* The frozen header: the only part any host may read of any plugin. */
static int check_header(const struct ctx *c, const parley_plugin_descriptor *d, parley_error *err)
{
    if (d->magic != PARLEY_ABI_MAGIC)
        return refuse(c, err, PARLEY_EINVAL,
                      "%s: bad magic 0x%08x in its descriptor, expected 0x%08x (\"PRLY\"): "
                      "not a Parley plugin descriptor",
                      c->path, (unsigned)d->magic, (unsigned)PARLEY_ABI_MAGIC);
    if (d->abi_major != PARLEY_ABI_MAJOR)
        return refuse(c, err, PARLEY_EVERSION,
                      "%s: ABI major mismatch: plugin %u (built for ABI %u.%u), host %u "
                      "(ABI %u.%u); rebuild the plugin against the host's SDK",
                      c->path, (unsigned)d->abi_major, (unsigned)d->abi_major,
                      (unsigned)d->abi_minor, (unsigned)PARLEY_ABI_MAJOR,
                      (unsigned)PARLEY_ABI_MAJOR, (unsigned)PARLEY_ABI_MINOR);
    if (d->struct_size < DESCRIPTOR_SIZE_1_0)
        return refuse(c, err, PARLEY_EINVAL,
                      "%s: descriptor struct_size %u is smaller than the ABI %u.0 descriptor "
                      "(%zu bytes)",
                      c->path, (unsigned)d->struct_size, (unsigned)PARLEY_ABI_MAJOR,
                      (size_t)DESCRIPTOR_SIZE_1_0);
    if (d->min_host_minor > PARLEY_ABI_MINOR)
        return refuse(c, err, PARLEY_EVERSION,
                      "%s: host too old: the plugin needs host ABI minor %u (%u.%u or newer), "
                      "this host has minor %u (ABI %u.%u)",
                      c->path, (unsigned)d->min_host_minor, (unsigned)PARLEY_ABI_MAJOR,
                      (unsigned)d->min_host_minor, (unsigned)PARLEY_ABI_MINOR,
                      (unsigned)PARLEY_ABI_MAJOR, (unsigned)PARLEY_ABI_MINOR);
    return 0;
}

static int check_identity(const struct ctx *c, const parley_plugin_descriptor *d, int kind,
                          parley_error *err)
{
    if (d->kind != PARLEY_PLUGIN_TRANSPORT && d->kind != PARLEY_PLUGIN_STORAGE)
        return refuse(c, err, PARLEY_EINVAL,
                      "%s: unknown plugin kind %u in its descriptor (transport is %d, storage "
                      "is %d)",
                      c->path, (unsigned)d->kind, PARLEY_PLUGIN_TRANSPORT, PARLEY_PLUGIN_STORAGE);
    if (d->kind != kind)
        return refuse(c, err, PARLEY_EINVAL, "%s is a %s plugin but is configured under %s",
                      c->path, parley__plugin_kind_name(d->kind), kind_section(kind));
    if (d->name == NULL)
        return refuse(c, err, PARLEY_EINVAL, "%s: its descriptor has no name (expected '%s')",
                      c->path, c->name);
    if (strcmp(d->name, c->name) != 0)
        return refuse(c, err, PARLEY_EINVAL,
                      "%s calls itself '%.64s' (descriptor name) but the config loads it as "
                      "'%s'",
                      c->path, d->name, c->name);
    return 0;
}

#define REQUIRE_SLOT(c, err, holder, what, slot)                                          \
    do {                                                                                  \
        if ((holder)->slot == NULL)                                                       \
            return refuse((c), (err), PARLEY_EINVAL, "%s: required %s slot '%s' is NULL", \
                          (c)->path, (what), #slot);                                      \
    } while (0)

static int check_slots(const struct ctx *c, const parley_plugin_descriptor *d, parley_error *err)
{
    REQUIRE_SLOT(c, err, d, "descriptor", create);
    REQUIRE_SLOT(c, err, d, "descriptor", start);
    REQUIRE_SLOT(c, err, d, "descriptor", stop);
    REQUIRE_SLOT(c, err, d, "descriptor", destroy);
    REQUIRE_SLOT(c, err, d, "descriptor", vtable);

    if (d->kind == PARLEY_PLUGIN_STORAGE) {
        const parley_storage_vtable *vt = d->vtable;

        if (vt->struct_size < STORAGE_VTABLE_SIZE_1_0)
            return refuse(c, err, PARLEY_EINVAL,
                          "%s: storage vtable struct_size %u is smaller than the ABI %u.0 "
                          "storage vtable (%zu bytes)",
                          c->path, (unsigned)vt->struct_size, (unsigned)PARLEY_ABI_MAJOR,
                          (size_t)STORAGE_VTABLE_SIZE_1_0);
        REQUIRE_SLOT(c, err, vt, "storage vtable", insert);
        REQUIRE_SLOT(c, err, vt, "storage vtable", history);
        REQUIRE_SLOT(c, err, vt, "storage vtable", health);
        return 0;
    }

    const parley_transport_vtable *vt = d->vtable;

    if (vt->struct_size < TRANSPORT_VTABLE_SIZE_1_0)
        return refuse(c, err, PARLEY_EINVAL,
                      "%s: transport vtable struct_size %u is smaller than the ABI %u.0 "
                      "transport vtable (%zu bytes)",
                      c->path, (unsigned)vt->struct_size, (unsigned)PARLEY_ABI_MAJOR,
                      (size_t)TRANSPORT_VTABLE_SIZE_1_0);
    if ((vt->encode == NULL) != (vt->deliver == NULL))
        return refuse(c, err, PARLEY_EINVAL,
                      "%s: transport vtable has %s but no %s (a transport with chat sessions "
                      "needs both, one without sets neither)",
                      c->path, vt->encode != NULL ? "encode" : "deliver",
                      vt->encode != NULL ? "deliver" : "encode");
    return 0;
}

static int check_schema(const struct ctx *c, const parley_plugin_descriptor *d, parley_error *err)
{
    parley_error serr = PARLEY_ERROR_INIT;
    int rc;

    /* Its messages start with the owner: the file. */
    rc = parley__schema_check(d->config_schema, c->path, &serr);
    if (rc < 0)
        return refuse(c, err, rc, "%s (a bug in the plugin's config schema, not in the config)",
                      serr.message);
    return 0;
}

static char *make_path(const struct parley__plugin_entry *entry, const char *plugin_dir)
{
    char *dir = NULL, *path = NULL;

    if (entry->path != NULL)
        return strdup(entry->path);
    if (plugin_dir == NULL) {
        dir = parley__plugin_dir_default();
        if (dir == NULL)
            return NULL;
        plugin_dir = dir;
    }
    if (asprintf(&path, "%s/%s.so", plugin_dir, entry->name) < 0)
        path = NULL;
    free(dir);
    return path;
}

int parley__plugin_load(const struct parley__plugin_entry *entry, const char *plugin_dir,
                        struct parley__plugin **out, parley_error *err)
{
    const parley_plugin_descriptor *d = NULL;
    struct parley__plugin *p;
    char *path, *real = NULL;
    struct ctx c;
    void *dl = NULL;
    int rc;

    *out = NULL;
    c.name = entry->name != NULL ? entry->name : "";
    c.where = entry->where;
    c.path = "";

    if (c.name[0] == '\0' || strchr(c.name, '/') != NULL)
        return refuse(&c, err, PARLEY_EINVAL, "invalid plugin name (it becomes a file name)");
    if (entry->kind != PARLEY_PLUGIN_TRANSPORT && entry->kind != PARLEY_PLUGIN_STORAGE)
        return refuse(&c, err, PARLEY_EINTERNAL, "configured with unknown kind %d", entry->kind);

    path = make_path(entry, plugin_dir);
    if (path == NULL)
        return refuse(&c, err, PARLEY_ENOMEM,
                      "cannot build the path of %s.so (no plugin directory: /proc/self/exe "
                      "unreadable, or out of memory)",
                      c.name);
    c.path = path;

    if ((rc = check_file(&c, &real, err)) < 0 ||
        (rc = open_plugin(&c, real, &dl, &d, err)) < 0 ||
        (rc = check_header(&c, d, err)) < 0 ||
        (rc = check_identity(&c, d, entry->kind, err)) < 0 ||
        (rc = check_slots(&c, d, err)) < 0 ||
        (rc = check_schema(&c, d, err)) < 0)
        goto fail;   /* a refused plugin stays mapped: its constructors may have run */

    p = calloc(1, sizeof *p);
    if (p == NULL) {
        rc = refuse(&c, err, PARLEY_ENOMEM, "out of memory");
        goto fail;
    }
    p->name = strdup(c.name);
    p->where = entry->where != NULL ? strdup(entry->where) : NULL;
    if (asprintf(&p->context, "%s plugin '%s'", parley__plugin_kind_name(entry->kind), c.name) < 0)
        p->context = NULL;
    if (p->name == NULL || p->context == NULL || (entry->where != NULL && p->where == NULL)) {
        parley__plugin_destroy(p);
        rc = refuse(&c, err, PARLEY_ENOMEM, "out of memory");
        goto fail;
    }
    p->path = real;
    real = NULL;
    p->kind = entry->kind;
    p->dl = dl;
    p->desc = d;
    p->state = PARLEY__PLUGIN_LOADED;
    p->host.name = p->name;
    p->host.plugin = p;
    if (p->kind == PARLEY_PLUGIN_STORAGE)
        p->storage = d->vtable;
    else
        p->transport = d->vtable;

    /* The operator's mistakes, in the schema's own words (with file:line:col). */
    rc = parley__schema_apply(d->config_schema, entry->config, p->context, entry->where,
                              &p->config, err);
    if (rc < 0) {
        parley__plugin_destroy(p);
        goto fail;
    }

    parley__log(PARLEY_LOG_INFO, "loader",
                "loaded %s plugin '%s' %s from %s (built for ABI %u.%u, needs host ABI %u.%u+, "
                "host ABI %u.%u)",
                parley__plugin_kind_name(p->kind), p->name,
                d->version != NULL ? d->version : "(no version)", p->path,
                (unsigned)d->abi_major, (unsigned)d->abi_minor, (unsigned)PARLEY_ABI_MAJOR,
                (unsigned)d->min_host_minor, (unsigned)PARLEY_ABI_MAJOR,
                (unsigned)PARLEY_ABI_MINOR);
    free(path);
    *out = p;
    return 0;

fail:
    free(real);
    free(path);
    return rc;
}

/* A plugin's own failure message, kept whole, with the status it chose. */
static int plugin_failed(struct parley__plugin *p, const char *what, int rc,
                         const parley_error *perr, parley_error *err)
{
    struct ctx c = { p->name, p->where, p->path };
    const char *msg = perr->message[0] != '\0' ? perr->message : "(the plugin gave no message)";

    if (rc > 0)
        return refuse(&c, err, PARLEY_EINTERNAL, "%s of %s failed: returned %d, not a status: %s",
                      what, p->path, rc, msg);
    return refuse(&c, err, rc, "%s of %s failed: %s (%s)", what, p->path, msg,
                  parley_status_name(rc));
}

int parley__plugin_create(struct parley__plugin *p, parley_error *err)
{
    parley_error perr = PARLEY_ERROR_INIT;
    void *instance = NULL;
    int rc;

    if (p->state != PARLEY__PLUGIN_LOADED) {
        struct ctx c = { p->name, p->where, p->path };
        return refuse(&c, err, PARLEY_EINTERNAL, "create called in state %d", p->state);
    }
    rc = p->desc->create(&parley__api, &p->host, p->config, &instance, &perr);
    if (rc != 0) {
        /* A positive return is a plugin bug; if it also made an instance, free it. */
        if (rc > 0 && instance != NULL)
            p->desc->destroy(instance);
        return plugin_failed(p, "create", rc, &perr, err);
    }
    p->instance = instance;
    p->host.instance = instance;
    if (p->transport != NULL && p->transport->encode != NULL && p->transport->deliver != NULL)
        p->host.transport = p->transport;
    p->state = PARLEY__PLUGIN_CREATED;
    return 0;
}

int parley__plugin_start(struct parley__plugin *p, parley_error *err)
{
    parley_error perr = PARLEY_ERROR_INIT;
    int rc;

    if (p->state != PARLEY__PLUGIN_CREATED) {
        struct ctx c = { p->name, p->where, p->path };
        return refuse(&c, err, PARLEY_EINTERNAL, "start called in state %d", p->state);
    }
    rc = p->desc->start(p->instance, &perr);
    if (rc != 0)
        return plugin_failed(p, "start", rc, &perr, err);
    p->state = PARLEY__PLUGIN_STARTED;
    return 0;
}

static void stop_done(void *arg)
{
    struct parley__plugin *p = arg;
    void (*done)(void *) = p->stop_done;

    if (p->state != PARLEY__PLUGIN_STOPPING) {
        parley__log(PARLEY_LOG_WARN, "loader",
                    "plugin '%s' called its stop done callback more than once; ignored", p->name);
        return;
    }
    p->state = PARLEY__PLUGIN_STOPPED;
    p->stop_done = NULL;
    if (done != NULL)
        done(p->stop_arg);
}

void parley__plugin_stop(struct parley__plugin *p, void (*done)(void *arg), void *arg)
{
    if (p->state == PARLEY__PLUGIN_STOPPING) {
        parley__log(PARLEY_LOG_WARN, "loader", "plugin '%s' is already stopping", p->name);
        return;
    }
    if (p->state != PARLEY__PLUGIN_STARTED) {
        /* Never started (or already stopped): nothing in flight. */
        if (done != NULL)
            done(arg);
        return;
    }
    p->stop_done = done;
    p->stop_arg = arg;
    p->state = PARLEY__PLUGIN_STOPPING;
    p->desc->stop(p->instance, stop_done, p);
}

void parley__plugin_destroy(struct parley__plugin *p)
{
    if (p == NULL)
        return;
    if (p->state == PARLEY__PLUGIN_STARTED || p->state == PARLEY__PLUGIN_STOPPING)
        parley__log(PARLEY_LOG_WARN, "loader",
                    "plugin '%s' destroyed before its stop finished", p->name);
    if (p->state >= PARLEY__PLUGIN_CREATED)
        p->desc->destroy(p->instance);
    /* p->dl stays open on purpose: see loader.h. */
    parley__config_destroy(p->config);
    free(p->name);
    free(p->path);
    free(p->where);
    free(p->context);
    free(p);
}

int parley__plugin_reconfigure(struct parley__plugin *p, const parley__node *block,
                               parley_error *err)
{
    struct ctx c = { p->name, p->where, p->path };
    parley_error perr = PARLEY_ERROR_INIT;
    parley_config *config = NULL;
    int rc;

    rc = parley__schema_apply(p->desc->config_schema, block, p->context,
                              block != NULL ? NULL : p->where, &config, err);
    if (rc < 0)
        return rc;
    if (parley__config_equal(p->config, config)) {
        parley__config_destroy(config);
        return 0;
    }
    if (p->state == PARLEY__PLUGIN_LOADED) {
        /* No instance has seen the old block yet. */
        parley__config_destroy(p->config);
        p->config = config;
        return 0;
    }
    if (p->desc->reconfigure == NULL ||
        (p->state != PARLEY__PLUGIN_CREATED && p->state != PARLEY__PLUGIN_STARTED)) {
        parley__config_destroy(config);
        return refuse(&c, err, PARLEY_EBUSY,
                      "its config block changed but %s cannot apply a new one while running "
                      "(no reconfigure): restart needed; keeping the old config",
                      p->path);
    }
    rc = p->desc->reconfigure(p->instance, config, &perr);
    if (rc != 0) {
        parley__config_destroy(config);
        return plugin_failed(p, "reconfigure (keeping the old config)", rc < 0 ? rc : PARLEY_EINTERNAL,
                             &perr, err);
    }
    parley__config_destroy(p->config);
    p->config = config;
    parley__log(PARLEY_LOG_INFO, "loader", "plugin '%s' applied its new config block", p->name);
    return 0;
}
