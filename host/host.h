/*
 * Host-internal types shared by the host's modules. Nothing here crosses
 * the plugin boundary: plugins see only sdk/include/parley/.
 *
 * Naming: parley_* is public SDK, parley__* is host-internal (as uv_ / uv__).
 */
#ifndef PARLEY__HOST_H
#define PARLEY__HOST_H

#include <parley/parley.h>

#define PARLEY_VERSION "0.1.0"

struct parley__plugin;   /* loader.h */

/*
 * The per-plugin handle a plugin receives as `parley_host *`. The host
 * knows which plugin is calling from it: logs are tagged with its name,
 * routes and endpoints it registers are owned by it, and chat sessions it
 * opens are delivered through its transport vtable.
 */
struct parley_host {
    const char *name;                  /* plugin name, for log tags */
    struct parley__plugin *plugin;     /* NULL for the host's own handle */
    void *instance;                    /* the plugin's instance once created */
    const parley_transport_vtable *transport; /* NULL unless a transport with encode/deliver */
};

/* The host's own handle, for host modules that log or register metrics. */
extern parley_host parley__self;

/* The table handed to every plugin (host_api.c). */
extern const parley_host_api parley__api;

#endif /* PARLEY__HOST_H */
