/*
 * Typed validation of a config block against a parley_config_schema
 * (sdk plugin.h), for plugin `config:` blocks and the host's own sections
 * alike, so both get the same value syntax and the same messages.
 *
 * Messages name the location, the key path (taken from the tree: the
 * block's own path plus the key, e.g. "storage.config.busy_timeout") and
 * the value, except for SECRET keys whose value never appears:
 *   x.yaml:4:9: server.port: 70000 is out of range (1..65535)
 *   x.yaml:7:3: storage.config: unknown key 'busy_timout' for storage plugin 'sqlite'; allowed keys: path, busy_timeout, synchronous
 *   x.yaml:2:1: section 'server': missing required key 'port'
 */
#ifndef PARLEY__SCHEMA_H
#define PARLEY__SCHEMA_H

#include <stdint.h>

#include <parley/parley.h>

#include "config.h"

/* struct parley_config (the validated, typed block) is defined in schema.c;
 * plugins and other host modules only see it through the accessors. */

/*
 * Is the schema itself sane: struct_size/key_size at least the 1.0 sizes,
 * at most 256 keys, names non-empty ([A-Za-z0-9_-]) and unique, types
 * known, min <= max, REQUIRED keys have no default, other keys have one
 * (a STRING_LIST may have none: the empty list), every default parses and
 * is in range. `owner` names the schema in messages, e.g. "plugin 'sqlite'":
 *   plugin 'sqlite': config schema key 'busy_timeout': default '5x' is not a duration
 * NULL schema is sane (no keys). 0 or PARLEY_EINVAL.
 */
int parley__schema_check(const parley_config_schema *schema, const char *owner, parley_error *err);

/* How a block is named in messages. */
typedef struct parley__schema_scope {
    const char *context;      /* "storage plugin 'sqlite'", "section 'server'" */
    const char *block_where;  /* where the block's parent key is; for "missing" errors when
                                 the block is absent (NULL: the block's own location) */
    const char *const *extra_keys; /* keys the caller validates itself (e.g. "config"):
                                      accepted, ignored, listed among the allowed keys */
    size_t n_extra;
} parley__schema_scope;

/*
 * Validate `block` (a MAP, NULL or a null scalar = empty) against `schema`
 * (NULL = no keys) and build the typed config. Unknown keys, wrong types,
 * out-of-range values and missing required keys are refused (PARLEY_EINVAL);
 * the schema is assumed to have passed parley__schema_check (a default that
 * does not parse is still refused, as PARLEY_EINTERNAL). The result copies
 * everything it needs: it outlives the doc.
 */
int parley__schema_apply(const parley_config_schema *schema, const parley__node *block,
                         const char *context, const char *block_where,
                         parley_config **out, parley_error *err);
int parley__schema_apply_ex(const parley_config_schema *schema, const parley__node *block,
                            const parley__schema_scope *scope, parley_config **out,
                            parley_error *err);

void parley__config_destroy(parley_config *config);

/* 1 when both hold the same keys with the same types and values
 * (locations are ignored: moving a key in the file is not a change). */
int parley__config_equal(const parley_config *a, const parley_config *b);

/* SDK accessors (parley_host_api in host.h). An undeclared key, or a key
 * of another type, reads as NULL / 0. config_int serves INT, DURATION (ms)
 * and SIZE (bytes). */
const char *parley__config_string(const parley_config *c, const char *key);
int64_t parley__config_int(const parley_config *c, const char *key);
int parley__config_bool(const parley_config *c, const char *key);
double parley__config_double(const parley_config *c, const char *key);
size_t parley__config_list_size(const parley_config *c, const char *key);
const char *parley__config_list_item(const parley_config *c, const char *key, size_t i);
const char *parley__config_location(const parley_config *c, const char *key);

/*
 * The value syntax, one function per type (also used by the host's own
 * settings). 0, PARLEY_EINVAL (not of the type) or PARLEY_ETOOBIG (does
 * not fit an int64 / a finite double). See docs/config.md.
 */
int parley__parse_int(const char *s, int64_t *out);        /* [+-]digits */
int parley__parse_bool(const char *s, int *out);           /* true/false/yes/no/on/off */
int parley__parse_double(const char *s, double *out);      /* [+-]d[.d][e[+-]d], finite */
int parley__parse_duration(const char *s, int64_t *ms);    /* N, Nms, Ns, Nm, Nh */
int parley__parse_size(const char *s, int64_t *bytes);     /* N, NB, NK/k/KiB, NKB/kB, ... */

/* Write a duration in ms / a size in bytes in the largest exact unit
 * ("5m", "250ms", "64KiB", "1000"); returns buf. */
const char *parley__format_duration(int64_t ms, char *buf, size_t cap);
const char *parley__format_size(int64_t bytes, char *buf, size_t cap);

#endif /* PARLEY__SCHEMA_H */
