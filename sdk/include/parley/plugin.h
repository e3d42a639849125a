/*
 * Parley plugin SDK — the plugin descriptor, its typed config schema and
 * its lifecycle.
 *
 * A plugin is a shared object that exports exactly one symbol,
 * parley_plugin_entry(), returning a pointer to a static descriptor. The
 * host reads the descriptor's first four fields (magic, abi_major,
 * abi_minor, struct_size) before anything else; their layout never changes,
 * so any future host can diagnose any plugin.
 *
 * Lifecycle, all on the loop thread:
 *   create  → start → (running) → stop(done) → destroy
 * create may fail with a message; start may fail with a message; stop is
 * asynchronous and the plugin calls `done` once its in-flight work is
 * finished (storage: every accepted insert has completed). The host never
 * dlclose()s a plugin.
 */
#ifndef PARLEY_PLUGIN_H
#define PARLEY_PLUGIN_H

#include "abi.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct parley_host parley_host;           /* one per loaded plugin */
typedef struct parley_host_api parley_host_api;   /* host.h */
typedef struct parley_config parley_config;       /* a validated config block */

/* What a plugin is; the YAML section that names it must agree. Since 1.0. */
enum parley_plugin_kind {
    PARLEY_PLUGIN_TRANSPORT = 1,
    PARLEY_PLUGIN_STORAGE = 2
};

/* ---------------------------------------------------------------------
 * Typed config schema (in the manner of Fluent Bit's config maps).
 *
 * The plugin declares every key of its YAML `config:` block. The host
 * validates the block before create(): an unknown key is refused with the
 * allowed keys listed, a wrong type or an out-of-range value with its
 * file:line:col, a missing required key by name. Defaults are written as
 * text and parsed by the same rules as YAML values, so `--check-config`
 * catches a bad default in a plugin too.
 * ------------------------------------------------------------------- */

enum parley_config_type {
    PARLEY_CONFIG_STRING = 1,     /* any scalar, taken as text */
    PARLEY_CONFIG_INT = 2,        /* decimal integer, int64 range, within [min, max] */
    PARLEY_CONFIG_BOOL = 3,       /* true/false, yes/no, on/off (case-insensitive) */
    PARLEY_CONFIG_DOUBLE = 4,     /* finite decimal number */
    PARLEY_CONFIG_DURATION = 5,   /* "250ms", "5s", "2m", "1h" or an integer of ms; read as ms */
    PARLEY_CONFIG_SIZE = 6,       /* "512", "64KiB", "1MiB", "1MB", "2GiB"; read as bytes */
    PARLEY_CONFIG_STRING_LIST = 7 /* a YAML sequence of scalars (a lone scalar is a list of one) */
};
/* The config_* accessors of host.h return NULL/0 for a key the schema does
 * not declare: declare every key you read. */

/* Flags of a config key. Since 1.0. */
#define PARLEY_CONFIG_REQUIRED 0x1u  /* no default: the YAML must set it */
#define PARLEY_CONFIG_SECRET   0x2u  /* never logged or echoed in errors */

typedef struct parley_config_key {
    const char *name;          /* the YAML key, e.g. "busy_timeout", since 1.0 */
    uint32_t type;             /* enum parley_config_type, since 1.0 */
    uint32_t flags;            /* PARLEY_CONFIG_* flags, since 1.0 */
    const char *default_value; /* as YAML text ("5s", "64KiB"; a STRING_LIST as a flow
                                  sequence "[a, b]"); NULL only with REQUIRED or for an empty
                                  list; an optional STRING without default uses "", since 1.0 */
    int64_t min;               /* INT/DURATION/SIZE: inclusive bounds; both 0 = unbounded;
                                  max 0 with min > 0 = no upper bound, since 1.0 */
    int64_t max;
    const char *help;          /* one line for docs and --help-plugin, since 1.0 */
} parley_config_key;

typedef struct parley_config_schema {
    uint32_t struct_size;         /* sizeof(parley_config_schema), since 1.0 */
    uint32_t key_size;            /* sizeof(parley_config_key): the stride of `keys`, since 1.0 */
    size_t n_keys;                /* since 1.0 */
    const parley_config_key *keys;/* since 1.0 */
} parley_config_schema;

/* Declare a schema from a static array of keys. */
#define PARLEY_CONFIG_SCHEMA(keys_array)                                       \
    { sizeof(parley_config_schema), sizeof(parley_config_key),                 \
      sizeof(keys_array) / sizeof((keys_array)[0]), (keys_array) }

/* ---------------------------------------------------------------------
 * The descriptor.
 * ------------------------------------------------------------------- */

/* Called by a plugin, on the loop thread, when its stop has finished. */
typedef void (*parley_stop_done)(void *done_arg);

typedef struct parley_plugin_descriptor {
    /* Frozen: these four fields keep their offsets in every ABI major. */
    uint32_t magic;        /* PARLEY_ABI_MAGIC */
    uint16_t abi_major;    /* PARLEY_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor;    /* PARLEY_ABI_MINOR the plugin was built with */
    uint32_t struct_size;  /* sizeof(parley_plugin_descriptor) as the plugin saw it */

    /* Since 1.0. */
    uint16_t min_host_minor;  /* the oldest host minor whose table has every function this plugin calls */
    uint16_t kind;            /* enum parley_plugin_kind */
    const char *name;         /* must equal the name the YAML loads it by, e.g. "sqlite" */
    const char *version;      /* the plugin's own version, free text */
    const char *description;  /* one line */
    const parley_config_schema *config_schema; /* NULL: the plugin takes no keys */

    /*
     * Create an instance. `api` and `host` stay valid until destroy returns.
     * `config` is the validated block; it stays valid until destroy (or
     * until a successful reconfigure replaced it). Must not block for long
     * nor start listening or connecting: --check-config calls create and
     * then destroy. Required. Loop thread.
     */
    int (*create)(const parley_host_api *api, parley_host *host,
                  const parley_config *config, void **instance, parley_error *err);

    /* Start serving: open files, connect, register routes. Required. Loop thread. */
    int (*start)(void *instance, parley_error *err);

    /*
     * Begin stopping. The plugin finishes in-flight work (a storage plugin
     * completes every insert it accepted), then calls done(done_arg) on the
     * loop thread, possibly before stop returns. The host waits for `done`
     * up to its shutdown deadline. Required. Loop thread.
     */
    void (*stop)(void *instance, parley_stop_done done, void *done_arg);

    /* Free the instance. Called after stop finished, or after create succeeded
     * and start failed or was never called. Required. Loop thread. */
    void (*destroy)(void *instance);

    /* Kind-specific operations: a parley_transport_vtable (transport.h) or
     * a parley_storage_vtable (storage.h). Required. */
    const void *vtable;

    /*
     * Apply a changed config block on SIGHUP. Optional (NULL: a changed
     * block needs a restart, and the host says so). Return 0 to accept
     * `config`, which then replaces the old one; on a negative return the
     * host keeps the old config for this plugin and logs err. Loop thread.
     */
    int (*reconfigure)(void *instance, const parley_config *config, parley_error *err);
} parley_plugin_descriptor;

/* Declare the plugin's one exported symbol. Use once per plugin:
 *     PARLEY_PLUGIN_ENTRY(my_descriptor)
 */
#define PARLEY_PLUGIN_ENTRY(descriptor)                                        \
    PARLEY_EXPORT const parley_plugin_descriptor *parley_plugin_entry(void);   \
    PARLEY_EXPORT const parley_plugin_descriptor *parley_plugin_entry(void)    \
    {                                                                          \
        return &(descriptor);                                                  \
    }

/* The entry point's type, as the host looks it up with dlsym. */
typedef const parley_plugin_descriptor *(*parley_plugin_entry_fn)(void);

/* Fill the frozen header of a descriptor. */
#define PARLEY_DESCRIPTOR_HEADER                                               \
    .magic = PARLEY_ABI_MAGIC, .abi_major = PARLEY_ABI_MAJOR,                  \
    .abi_minor = PARLEY_ABI_MINOR, .struct_size = sizeof(parley_plugin_descriptor)

#ifdef __cplusplus
}
#endif

#endif /* PARLEY_PLUGIN_H */
