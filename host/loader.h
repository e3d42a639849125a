/*
 * The plugin loader: find a plugin's .so, check it before trusting it,
 * dlopen it (RTLD_NOW | RTLD_LOCAL), check its descriptor against this
 * host's ABI and against the YAML that named it, validate its config block,
 * then drive its lifecycle: create → start → stop(done) → destroy.
 *
 * Every refusal is a negative status with a parley_error whose message
 * reads "<file:line:col of the YAML entry>: plugin '<name>': <what>" and
 * names the .so, the check and both sides' values; the exact messages are
 * listed in docs/abi-policy.md. Refusals are fatal by default: the caller
 * logs err and exits.
 *
 * A plugin is never dlclose()d: its code may still be referenced by
 * threads, atexit handlers or library callbacks it registered.
 *
 * Everything here runs on the loop thread (or before the loop exists).
 */
#ifndef PARLEY__LOADER_H
#define PARLEY__LOADER_H

#include <parley/parley.h>

#include "config.h"
#include "host.h"
#include "settings.h"

enum parley__plugin_state {
    PARLEY__PLUGIN_LOADED = 1,   /* descriptor checked, config validated */
    PARLEY__PLUGIN_CREATED,      /* create succeeded */
    PARLEY__PLUGIN_STARTED,      /* start succeeded */
    PARLEY__PLUGIN_STOPPING,     /* stop called, done not yet */
    PARLEY__PLUGIN_STOPPED       /* done called */
};

struct parley__plugin {
    char *name;                  /* as the YAML names it */
    char *path;                  /* the resolved .so path */
    int kind;                    /* enum parley_plugin_kind */
    void *dl;                    /* dlopen handle; never dlclose()d */
    const parley_plugin_descriptor *desc;
    parley_config *config;       /* validated block (schema.h) */
    parley_host host;            /* handed to the plugin as its parley_host * */
    void *instance;
    int state;                   /* enum parley__plugin_state */
    const parley_storage_vtable *storage;     /* kind STORAGE */
    const parley_transport_vtable *transport; /* kind TRANSPORT */

    /* Private to loader.c. */
    char *where;                 /* the YAML entry's file:line:col, for messages */
    char *context;               /* "storage plugin 'sqlite'", for schema messages */
    void (*stop_done)(void *arg);
    void *stop_arg;
};

/*
 * The directory plugins are loaded from by default:
 * dirname(readlink /proc/self/exe) + "/" PARLEY_PLUGIN_RELDIR, so the build
 * tree and an installed tree both work unconfigured. malloc'd; NULL when
 * /proc/self/exe cannot be read.
 */
char *parley__plugin_dir_default(void);

/*
 * Find, check and dlopen the plugin `entry` names (entry->path, or
 * <plugin_dir>/<name>.so), check its descriptor and validate its config
 * block. On success *out is a LOADED plugin (free with
 * parley__plugin_destroy). Logs one info line per loaded plugin.
 * Set PARLEY_UNSAFE_ALLOW_SYMLINKS=1 to accept a symlink whose target lies
 * outside the link's directory.
 *   PARLEY_ENOTFOUND  no such file
 *   PARLEY_EINVAL     unsafe file, not a plugin, bad descriptor, bad config
 *   PARLEY_EVERSION   ABI major mismatch or host too old
 *   PARLEY_ENOMEM
 */
int parley__plugin_load(const struct parley__plugin_entry *entry, const char *plugin_dir,
                        struct parley__plugin **out, parley_error *err);

/* desc->create(&parley__api, &p->host, p->config, &p->instance, err); the
 * plugin's own message is kept, prefixed with the plugin's name. LOADED →
 * CREATED. Sets p->host.instance, and p->host.transport when the transport
 * vtable has encode and deliver. */
int parley__plugin_create(struct parley__plugin *p, parley_error *err);

/* desc->start. CREATED → STARTED. On failure the plugin stays CREATED and
 * the caller destroys it. */
int parley__plugin_start(struct parley__plugin *p, parley_error *err);

/* desc->stop; done(arg) runs once the plugin reports it has stopped
 * (possibly before this returns). A plugin that is not started is
 * "stopped" at once. */
void parley__plugin_stop(struct parley__plugin *p, void (*done)(void *arg), void *arg);

/* Destroy the instance if one was created, free the config and the
 * struct. Never dlclose()s. NULL is a no-op. */
void parley__plugin_destroy(struct parley__plugin *p);

/*
 * SIGHUP: validate `block` (the plugin's new `config:` node, NULL = empty)
 * against the plugin's schema. An equal block is a no-op (0). A changed one
 * goes to desc->reconfigure, which adopts it on 0; without reconfigure
 * the answer is PARLEY_EBUSY "... restart needed". On any failure the old
 * config stays in force.
 */
int parley__plugin_reconfigure(struct parley__plugin *p, const parley__node *block,
                               parley_error *err);

/* "transport" / "storage" / "unknown". */
const char *parley__plugin_kind_name(int kind);

#endif /* PARLEY__LOADER_H */
