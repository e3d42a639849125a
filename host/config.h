/*
 * YAML configuration files into an immutable tree of located nodes.
 *
 * libyaml's event API feeds a small builder that keeps file:line:col for
 * every node, substitutes ${VAR} / ${VAR:-default} in scalar values and
 * refuses what a config file has no business containing: duplicate keys,
 * non-scalar keys, anchors and aliases, unknown tags, more than one
 * document, a root that is not a mapping, and anything over the limits
 * below. Every refusal reads "file:line:col: what was wrong".
 *
 * The tree does no typing: every scalar is text. Typing is schema.h's job.
 */
#ifndef PARLEY__CONFIG_H
#define PARLEY__CONFIG_H

#include <stddef.h>

#include <parley/abi.h>

enum parley__node_type {
    PARLEY__NODE_SCALAR = 1,
    PARLEY__NODE_MAP = 2,
    PARLEY__NODE_SEQ = 3
};

typedef struct parley__node parley__node;

struct parley__node {
    int type;                      /* enum parley__node_type */
    int line, col;                 /* 1-based */
    const char *where;             /* "path/to/file.yaml:12:7", owned by the doc */
    char *scalar;                  /* SCALAR: value after ${} substitution, NUL-terminated */
    size_t scalar_len;             /* (a scalar may hold a NUL from a "\0" escape) */
    int quoted;                    /* SCALAR was single- or double-quoted */
    size_t n;                      /* MAP: pairs; SEQ: items */
    parley__node **keys;           /* MAP: scalar key nodes */
    parley__node **items;          /* MAP: values (items[i] belongs to keys[i]); SEQ: items */

    /* Additions beyond the brief, used for key paths in messages. */
    const parley__node *parent;    /* the enclosing MAP or SEQ, NULL for the root */
    const parley__node *key;       /* a MAP value: its key node; else NULL */
    size_t index;                  /* a SEQ item: its 0-based index */
    int is_key;                    /* this node is a MAP key */
    int is_null;                   /* SCALAR: plain empty, "~" or "null" (no value written) */
};

typedef struct parley__config_doc parley__config_doc;   /* owns every node and string */

/* Limits of one load. Every field 0 takes the default. */
struct parley__config_limits {
    size_t max_bytes;      /* file / text size: 1 MiB */
    unsigned max_depth;    /* nested mappings and sequences: 32 */
    size_t max_nodes;      /* scalars + mappings + sequences, keys included: 100000 */
    size_t max_value;      /* one scalar after ${} substitution: 64 KiB */
    size_t max_expansion;  /* bytes all ${} substitutions may add to a document: 1 MiB */
};

#define PARLEY__CONFIG_MAX_BYTES     (1024u * 1024u)
#define PARLEY__CONFIG_MAX_DEPTH     32u
#define PARLEY__CONFIG_MAX_NODES     100000u
#define PARLEY__CONFIG_MAX_VALUE     (64u * 1024u)
#define PARLEY__CONFIG_MAX_EXPANSION (1024u * 1024u)

/*
 * Load a file (read whole, refused before reading when it is over
 * max_bytes). `path` is kept as given and is the file part of every
 * location. 0, or a negative status with err:
 *   PARLEY_ENOTFOUND / PARLEY_EIO  the file cannot be opened or read
 *   PARLEY_ETOOBIG                 over a limit
 *   PARLEY_EINVAL                  anything else refused
 */
int parley__config_load_file(const char *path, parley__config_doc **out, parley_error *err);
int parley__config_load_file_ex(const char *path, const struct parley__config_limits *limits,
                                parley__config_doc **out, parley_error *err);

/* Load YAML text; `name` stands for the file in locations ("<string>" if NULL). */
int parley__config_load_string(const char *text, size_t len, const char *name,
                               parley__config_doc **out, parley_error *err);
int parley__config_load_string_ex(const char *text, size_t len, const char *name,
                                  const struct parley__config_limits *limits,
                                  parley__config_doc **out, parley_error *err);

/* The root mapping (never NULL for a loaded doc). */
const parley__node *parley__config_root(const parley__config_doc *doc);
/* The path or name the doc was loaded from, as given. */
const char *parley__config_path(const parley__config_doc *doc);
void parley__config_free(parley__config_doc *doc);

/* The value of `key` in `map`; NULL if absent or `map` is not a MAP (or NULL). */
const parley__node *parley__node_get(const parley__node *map, const char *key);

/*
 * The key path of a node, for messages: "server.port", "transports[0].config",
 * "" for the root. Written into buf (NUL-terminated, truncated with "..."
 * when it does not fit); returns buf.
 */
const char *parley__node_path(const parley__node *node, char *buf, size_t cap);
/* Fill err with "file:line:col: key.path: <what>" for `node`; returns PARLEY_EINVAL. */
int parley__node_error(parley_error *err, const parley__node *node, const char *fmt, ...)
    PARLEY_PRINTF(3, 4);

/*
 * Text for a message: at most cap-1 bytes of s[0..len), control characters
 * written as \n, \t or \xNN, cut at a UTF-8 boundary with "..." when long.
 * Returns buf.
 */
const char *parley__excerpt(const char *s, size_t len, char *buf, size_t cap);

/* "a scalar", "a mapping", "a sequence": for "expected X, got Y" messages. */
const char *parley__node_type_name(const parley__node *node);

/*
 * Internal: load with these flags (the schema parses STRING_LIST defaults
 * with it). Not for config files.
 */
#define PARLEY__CONFIG_NO_SUBST 0x1u  /* leave ${...} alone */
#define PARLEY__CONFIG_ANY_ROOT 0x2u  /* the root may be a scalar or a sequence */
int parley__config_parse(const char *text, size_t len, const char *name,
                         const struct parley__config_limits *limits, unsigned flags,
                         parley__config_doc **out, parley_error *err);

#endif /* PARLEY__CONFIG_H */
