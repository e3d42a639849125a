/*
 * YAML into a located, immutable tree (see config.h).
 *
 * libyaml's event API rather than its document API: the document API
 * expands aliases and builds the whole tree before we can look at it, so a
 * billion-laughs file or a 1e6-node file would cost its full size before
 * being refused. With events every limit is checked as the node arrives.
 *
 * All nodes and strings of a doc live in one arena freed at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "config.h"

#include "array.h"

/* ---- arena ---------------------------------------------------------- */

struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
};

struct arena {
    struct chunk *head;
};

static void *arena_alloc(struct arena *a, size_t size)
{
    const size_t align = sizeof(max_align_t);
    struct chunk *c = a->head;

    size = (size + align - 1) / align * align;
    if (c == NULL || c->cap - c->used < size) {
        size_t cap = size > 32768 ? size : 32768;

        c = malloc(sizeof *c + cap);
        if (c == NULL)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    c->used += size;
    return (char *)c->data + c->used - size;
}

static char *arena_strndup(struct arena *a, const char *s, size_t len)
{
    char *p = arena_alloc(a, len + 1);

    if (p == NULL)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

static void arena_free(struct arena *a)
{
    struct chunk *c = a->head;

    while (c != NULL) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

/* ---- the doc -------------------------------------------------------- */

struct parley__config_doc {
    struct arena arena;
    char *path;          /* as given */
    const char *name;    /* the file part of locations: path, shortened when very long */
    parley__node *root;
};

/* A 4 KiB path in each of 100000 locations would be 400 MB: locations keep
 * the last NAME_KEEP bytes of a very long path. */
#define NAME_KEEP 200

const parley__node *parley__config_root(const parley__config_doc *doc)
{
    return doc != NULL ? doc->root : NULL;
}

const char *parley__config_path(const parley__config_doc *doc)
{
    return doc != NULL ? doc->path : NULL;
}

void parley__config_free(parley__config_doc *doc)
{
    if (doc == NULL)
        return;
    arena_free(&doc->arena);
    free(doc->path);
    free(doc);
}

const parley__node *parley__node_get(const parley__node *map, const char *key)
{
    size_t len, i;

    if (map == NULL || map->type != PARLEY__NODE_MAP || key == NULL)
        return NULL;
    len = strlen(key);
    for (i = 0; i < map->n; i++) {
        const parley__node *k = map->keys[i];

        if (k->scalar_len == len && memcmp(k->scalar, key, len) == 0)
            return map->items[i];
    }
    return NULL;
}

const char *parley__node_type_name(const parley__node *node)
{
    if (node == NULL)
        return "nothing";
    switch (node->type) {
    case PARLEY__NODE_SCALAR: return node->is_null ? "no value" : "a scalar";
    case PARLEY__NODE_MAP: return "a mapping";
    case PARLEY__NODE_SEQ: return "a sequence";
    default: return "an unknown node";
    }
}

static size_t escape_one(unsigned char c, char tmp[5])
{
    if (c == '\n')
        return (size_t)snprintf(tmp, 5, "\\n");
    if (c == '\t')
        return (size_t)snprintf(tmp, 5, "\\t");
    if (c < 0x20 || c == 0x7f)
        return (size_t)snprintf(tmp, 5, "\\x%02x", c);
    tmp[0] = (char)c;
    return 1;
}

const char *parley__excerpt(const char *s, size_t len, char *buf, size_t cap)
{
    static const char dots[] = "...";
    size_t o = 0, i, need = 0, room;
    char tmp[5];

    if (cap == 0)
        return buf;
    if (cap < sizeof dots + 1) {
        buf[0] = '\0';
        return buf;
    }
    for (i = 0; i < len && need < cap; i++)
        need += escape_one((unsigned char)s[i], tmp);
    /* All of it when it fits, else as much as fits before "...". */
    room = need < cap ? cap - 1 : cap - sizeof dots;
    for (i = 0; i < len; i++) {
        size_t n = escape_one((unsigned char)s[i], tmp);

        if (o + n > room)
            break;
        memcpy(buf + o, tmp, n);
        o += n;
    }
    if (i < len) {
        /* Cut before a UTF-8 continuation so the text stays valid. */
        while (o > 0 && ((unsigned char)buf[o - 1] & 0xc0) == 0x80)
            o--;
        if (o > 0 && ((unsigned char)buf[o - 1] & 0xc0) == 0xc0)
            o--;
        memcpy(buf + o, dots, sizeof dots);
        return buf;
    }
    buf[o] = '\0';
    return buf;
}

/* ---- key paths ------------------------------------------------------ */

struct sbuf {
    char *buf;
    size_t cap, len;
    int full;
};

static void sbuf_add(struct sbuf *sb, const char *s, size_t n)
{
    if (sb->full)
        return;
    if (sb->len + n + 1 > sb->cap) {
        sb->full = 1;
        return;
    }
    memcpy(sb->buf + sb->len, s, n);
    sb->len += n;
    sb->buf[sb->len] = '\0';
}

static void sbuf_key(struct sbuf *sb, const parley__node *key)
{
    char ex[96];

    if (sb->len > 0)
        sbuf_add(sb, ".", 1);
    parley__excerpt(key->scalar, key->scalar_len, ex, sizeof ex);
    sbuf_add(sb, ex, strlen(ex));
}

static void path_rec(const parley__node *n, struct sbuf *sb)
{
    if (n == NULL || n->parent == NULL)
        return;
    path_rec(n->parent, sb);
    if (n->is_key) {
        sbuf_key(sb, n);
    } else if (n->key != NULL) {
        sbuf_key(sb, n->key);
    } else {
        char idx[32];
        int k = snprintf(idx, sizeof idx, "[%zu]", n->index);
        sbuf_add(sb, idx, (size_t)k);
    }
}

const char *parley__node_path(const parley__node *node, char *buf, size_t cap)
{
    struct sbuf sb = { buf, cap, 0, 0 };

    if (cap == 0)
        return buf;
    buf[0] = '\0';
    if (cap < 8)
        return buf;
    sb.cap = cap - 3;   /* room for "..." */
    path_rec(node, &sb);
    if (sb.full)
        memcpy(buf + sb.len, "...", 4);
    return buf;
}

/* ---- the builder ---------------------------------------------------- */

struct vec {
    parley__node **v;
    size_t n, cap;
};

struct frame {
    parley__node *node;
    struct vec keys, items;
};

struct builder {
    parley__config_doc *doc;
    const char *text;
    size_t len;
    struct parley__config_limits lim;
    unsigned flags;
    struct frame *stack;
    size_t depth;
    size_t nodes;
    size_t expanded;
    int docs;
    parley_error *err;
};

static int fail_at(struct builder *b, int line, int col, int code, const char *fmt, ...)
    PARLEY_PRINTF(5, 6);

static int fail_at(struct builder *b, int line, int col, int code, const char *fmt, ...)
{
    char what[PARLEY_ERROR_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return parley_error_set(b->err, code, "%s:%d:%d: %s", b->doc->name, line, col, what);
}

static int oom(struct builder *b)
{
    return parley_error_set(b->err, PARLEY_ENOMEM, "%s: out of memory while loading", b->doc->name);
}

static int vec_push(struct vec *v, parley__node *n)
{
    if (parley__array_grow((void **)&v->v, &v->cap, v->n + 1, sizeof *v->v) != 0)
        return -1;
    v->v[v->n++] = n;
    return 0;
}

static const char *make_where(struct builder *b, int line, int col)
{
    char tmp[NAME_KEEP + 64];
    int k = snprintf(tmp, sizeof tmp, "%s:%d:%d", b->doc->name, line, col);

    return arena_strndup(&b->doc->arena, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

static int is_null_text(const char *s, size_t len)
{
    return len == 0 || (len == 1 && s[0] == '~') ||
           (len == 4 && (memcmp(s, "null", 4) == 0 || memcmp(s, "Null", 4) == 0 ||
                         memcmp(s, "NULL", 4) == 0));
}

/* The YAML 1.1/1.2 core tags; anything else (local "!foo", "!", other
 * globals) would ask for a type the schema does not know. */
static int tag_allowed(const char *tag)
{
    static const char *const core[] = { "str", "int", "bool", "float", "null", "map", "seq" };
    static const char prefix[] = "tag:yaml.org,2002:";
    size_t i;

    if (tag == NULL)
        return 1;
    if (strncmp(tag, prefix, sizeof prefix - 1) != 0)
        return 0;
    for (i = 0; i < sizeof core / sizeof core[0]; i++)
        if (strcmp(tag + sizeof prefix - 1, core[i]) == 0)
            return 1;
    return 0;
}

/* ---- ${VAR} substitution ------------------------------------------ */

struct obuf {
    char *p;
    size_t len, cap, max;
};

static int obuf_add(struct obuf *o, const char *s, size_t n)
{
    if (n > o->max - o->len)
        return -1;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 64;
        char *p;

        while (cap < o->len + n + 1)
            cap *= 2;
        p = realloc(o->p, cap);
        if (p == NULL)
            return -2;
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
    return 0;
}

static int is_name_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

#define VAR_NAME_MAX 255

/*
 * `$$` → `$`; `${NAME}` → the variable (unset: an error); `${NAME:-text}`
 * → the variable, or text when it is unset or empty; a `$` followed by
 * anything else stays a `$`. `text` is literal up to the first `}`.
 */
static int substitute(struct builder *b, const char *in, size_t len, int line, int col,
                      char **out, size_t *out_len)
{
    struct obuf o = { NULL, 0, 0, b->lim.max_value };
    char ex[80];
    size_t i = 0;
    int rc;

    while (i < len) {
        const char *dollar = memchr(in + i, '$', len - i);
        size_t lit = dollar ? (size_t)(dollar - (in + i)) : len - i;

        if ((rc = obuf_add(&o, in + i, lit)) != 0)
            goto overflow;
        i += lit;
        if (i >= len)
            break;
        /* in[i] == '$' */
        if (i + 1 < len && in[i + 1] == '$') {
            if ((rc = obuf_add(&o, "$", 1)) != 0)
                goto overflow;
            i += 2;
            continue;
        }
        if (i + 1 >= len || in[i + 1] != '{') {
            if ((rc = obuf_add(&o, "$", 1)) != 0)
                goto overflow;
            i += 1;
            continue;
        }
        {
            const char *close = memchr(in + i, '}', len - i);
            size_t start = i, name_at = i + 2, j = i + 2, expr_len;
            char name[VAR_NAME_MAX + 1];
            const char *val, *def = NULL;
            size_t def_len = 0;

            if (close == NULL) {
                free(o.p);
                return fail_at(b, line, col, PARLEY_EINVAL, "malformed ${...} in '%s': missing '}'",
                               parley__excerpt(in + start, len - start, ex, sizeof ex));
            }
            expr_len = (size_t)(close - (in + start)) + 1;
            parley__excerpt(in + start, expr_len, ex, sizeof ex);
            if (j < len && !is_name_start(in[j])) {
                free(o.p);
                return fail_at(b, line, col, PARLEY_EINVAL,
                               "malformed %s: a variable name starts with a letter or '_'", ex);
            }
            while (j < len && is_name_char(in[j]))
                j++;
            if (j - name_at > VAR_NAME_MAX) {
                free(o.p);
                return fail_at(b, line, col, PARLEY_EINVAL,
                               "malformed %s: variable name longer than %d characters", ex,
                               VAR_NAME_MAX);
            }
            if (in + j == close) {
                /* ${NAME} */
            } else if (j + 1 < len && in[j] == ':' && in[j + 1] == '-') {
                def = in + j + 2;
                def_len = (size_t)(close - def);
                /* The default is literal text up to the first '}': a nested
                 * ${...} would be cut in two, so say so rather than guess. */
                if (def_len >= 2 && memmem(def, def_len, "${", 2) != NULL) {
                    free(o.p);
                    return fail_at(b, line, col, PARLEY_EINVAL,
                                   "malformed %s: a default cannot contain ${...}", ex);
                }
            } else {
                free(o.p);
                return fail_at(b, line, col, PARLEY_EINVAL,
                               "malformed %s: expected '}' or ':-default' after the variable name", ex);
            }
            memcpy(name, in + name_at, j - name_at);
            name[j - name_at] = '\0';
            val = getenv(name);
            if (def != NULL && (val == NULL || val[0] == '\0')) {
                if ((rc = obuf_add(&o, def, def_len)) != 0)
                    goto overflow;
            } else if (val == NULL) {
                free(o.p);
                return fail_at(b, line, col, PARLEY_EINVAL,
                               "environment variable '%s' is not set (used as ${%s}; write ${%s:-default} to give a default)",
                               name, name, name);
            } else {
                size_t vl = strlen(val);

                if (vl > b->lim.max_expansion - b->expanded) {
                    free(o.p);
                    return fail_at(b, line, col, PARLEY_ETOOBIG,
                                   "${} substitution adds more than %zu bytes to the document (at ${%s})",
                                   b->lim.max_expansion, name);
                }
                b->expanded += vl;
                if ((rc = obuf_add(&o, val, vl)) != 0)
                    goto overflow;
            }
            i = start + expr_len;
        }
    }
    *out = arena_strndup(&b->doc->arena, o.p ? o.p : "", o.len);
    *out_len = o.len;
    free(o.p);
    return *out ? 0 : oom(b);

overflow:
    free(o.p);
    if (rc == -2)
        return oom(b);
    return fail_at(b, line, col, PARLEY_ETOOBIG,
                   "value longer than %zu bytes after ${} substitution", b->lim.max_value);
}

/* ---- events ------------------------------------------------------- */

static int check_dups(struct builder *b, const parley__node *map, parley__node **keys, size_t n);

static int node_start(struct builder *b, const yaml_event_t *ev, int type)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    struct frame *parent = b->depth > 0 ? &b->stack[b->depth - 1] : NULL;
    const yaml_char_t *anchor = NULL, *tag = NULL;
    parley__node *node;
    int is_key;

    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        anchor = ev->data.scalar.anchor;
        tag = ev->data.scalar.tag;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
        break;
    default:
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
        break;
    }
    if (anchor != NULL)
        return fail_at(b, line, col, PARLEY_EINVAL,
                       "anchors and aliases are not allowed (found anchor '&%s')", (const char *)anchor);
    if (!tag_allowed((const char *)tag))
        return fail_at(b, line, col, PARLEY_EINVAL,
                       "tag '%s' is not allowed (only the core tags !!str, !!int, !!bool, !!float, !!null, !!map, !!seq)",
                       (const char *)tag);
    if (++b->nodes > b->lim.max_nodes)
        return fail_at(b, line, col, PARLEY_ETOOBIG, "more than %zu nodes in the document",
                       b->lim.max_nodes);

    is_key = parent != NULL && parent->node->type == PARLEY__NODE_MAP &&
             parent->keys.n == parent->items.n;
    if (is_key && type != PARLEY__NODE_SCALAR)
        return fail_at(b, line, col, PARLEY_EINVAL, "a mapping key must be a scalar, not %s",
                       type == PARLEY__NODE_MAP ? "a mapping" : "a sequence");

    node = arena_alloc(&b->doc->arena, sizeof *node);
    if (node == NULL)
        return oom(b);
    memset(node, 0, sizeof *node);
    node->type = type;
    node->line = line;
    node->col = col;
    node->is_key = is_key;
    node->parent = parent ? parent->node : NULL;
    if ((node->where = make_where(b, line, col)) == NULL)
        return oom(b);

    if (type == PARLEY__NODE_SCALAR) {
        const char *v = (const char *)ev->data.scalar.value;
        size_t vl = ev->data.scalar.length;
        int style = ev->data.scalar.style;
        int rc;

        node->quoted = style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                       style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        node->is_null = style == YAML_PLAIN_SCALAR_STYLE && is_null_text(v, vl);
        if (is_key || (b->flags & PARLEY__CONFIG_NO_SUBST) || memchr(v, '$', vl) == NULL) {
            node->scalar = arena_strndup(&b->doc->arena, v, vl);
            node->scalar_len = vl;
            if (node->scalar == NULL)
                return oom(b);
        } else if ((rc = substitute(b, v, vl, line, col, &node->scalar, &node->scalar_len)) != 0) {
            return rc;
        }
    }

    if (parent == NULL) {
        if (!(b->flags & PARLEY__CONFIG_ANY_ROOT) && type != PARLEY__NODE_MAP) {
            if (node->is_null)
                return fail_at(b, line, col, PARLEY_EINVAL, "is empty (the document has no content)");
            return fail_at(b, line, col, PARLEY_EINVAL,
                           "the document's root is %s, not a mapping of sections",
                           type == PARLEY__NODE_SCALAR ? "a scalar" : "a sequence");
        }
        b->doc->root = node;
    } else if (parent->node->type == PARLEY__NODE_MAP) {
        if (is_key) {
            if (vec_push(&parent->keys, node) != 0)
                return oom(b);
        } else {
            node->key = parent->keys.v[parent->items.n];
            if (vec_push(&parent->items, node) != 0)
                return oom(b);
        }
    } else {
        node->index = parent->items.n;
        if (vec_push(&parent->items, node) != 0)
            return oom(b);
    }

    if (type != PARLEY__NODE_SCALAR) {
        struct frame *f;

        if (b->depth >= b->lim.max_depth)
            return fail_at(b, line, col, PARLEY_ETOOBIG, "nesting deeper than %u levels",
                           b->lim.max_depth);
        f = &b->stack[b->depth++];
        memset(f, 0, sizeof *f);
        f->node = node;
    }
    return 0;
}

static parley__node **vec_to_arena(struct builder *b, const struct vec *v)
{
    parley__node **p;

    if (v->n == 0)
        return NULL;
    p = arena_alloc(&b->doc->arena, v->n * sizeof *p);
    if (p != NULL)
        memcpy(p, v->v, v->n * sizeof *p);
    return p;
}

static void frame_release(struct frame *f)
{
    free(f->keys.v);
    free(f->items.v);
    memset(f, 0, sizeof *f);
}

static int node_end(struct builder *b)
{
    struct frame *f = &b->stack[b->depth - 1];
    parley__node *node = f->node;
    int rc = 0;

    node->n = f->items.n;
    if (node->n > 0) {
        node->items = vec_to_arena(b, &f->items);
        if (node->items == NULL)
            rc = oom(b);
        if (rc == 0 && node->type == PARLEY__NODE_MAP) {
            node->keys = vec_to_arena(b, &f->keys);
            if (node->keys == NULL)
                rc = oom(b);
            else
                rc = check_dups(b, node, node->keys, node->n);
        }
    }
    frame_release(f);
    b->depth--;
    return rc;
}

/* ---- duplicate keys ----------------------------------------------- */

static int key_cmp(const parley__node *a, const parley__node *b)
{
    size_t n = a->scalar_len < b->scalar_len ? a->scalar_len : b->scalar_len;
    int c = memcmp(a->scalar, b->scalar, n);

    if (c != 0)
        return c;
    return a->scalar_len < b->scalar_len ? -1 : a->scalar_len > b->scalar_len;
}

struct keyref {
    const parley__node *key;
    size_t index;
};

static int keyref_cmp(const void *pa, const void *pb)
{
    const struct keyref *a = pa, *b = pb;
    int c = key_cmp(a->key, b->key);

    if (c != 0)
        return c;
    return a->index < b->index ? -1 : a->index > b->index;
}

static int dup_error(struct builder *b, const parley__node *map, const parley__node *first,
                     const parley__node *again)
{
    char ex[96], path[160];

    parley__excerpt(again->scalar, again->scalar_len, ex, sizeof ex);
    parley__node_path(map, path, sizeof path);
    if (path[0] == '\0')
        return fail_at(b, again->line, again->col, PARLEY_EINVAL,
                       "duplicate key '%s' (first at %s)", ex, first->where);
    return fail_at(b, again->line, again->col, PARLEY_EINVAL,
                   "duplicate key '%s' in %s (first at %s)", ex, path, first->where);
}

/* Report the duplicate that comes first in the file. Small maps: pairwise;
 * large ones: sort, so a 100000-key map costs n log n, not n². */
static int check_dups(struct builder *b, const parley__node *map, parley__node **keys, size_t n)
{
    const parley__node *best_first = NULL, *best_again = NULL;
    size_t best = (size_t)-1, i, j;
    struct keyref *refs;

    if (n < 2)
        return 0;
    if (n <= 32) {
        for (j = 1; j < n; j++)
            for (i = 0; i < j; i++)
                if (key_cmp(keys[i], keys[j]) == 0)
                    return dup_error(b, map, keys[i], keys[j]);
        return 0;
    }
    refs = malloc(n * sizeof *refs);
    if (refs == NULL)
        return oom(b);
    for (i = 0; i < n; i++) {
        refs[i].key = keys[i];
        refs[i].index = i;
    }
    qsort(refs, n, sizeof *refs, keyref_cmp);
    for (i = 0; i + 1 < n; i = j) {
        for (j = i + 1; j < n && key_cmp(refs[i].key, refs[j].key) == 0; j++)
            ;
        if (j > i + 1 && refs[i + 1].index < best) {
            best = refs[i + 1].index;
            best_first = refs[i].key;
            best_again = refs[i + 1].key;
        }
    }
    free(refs);
    if (best_again != NULL)
        return dup_error(b, map, best_first, best_again);
    return 0;
}

/* ---- libyaml errors ----------------------------------------------- */

static void offset_to_mark(const char *text, size_t len, size_t offset, int *line, int *col)
{
    size_t i;

    *line = 1;
    *col = 1;
    if (offset > len)
        offset = len;
    for (i = 0; i < offset; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
            (*col)++;
        }
    }
}

static int parser_error(struct builder *b, const yaml_parser_t *p)
{
    int line, col;

    switch (p->error) {
    case YAML_MEMORY_ERROR:
        return oom(b);
    case YAML_READER_ERROR:
        offset_to_mark(b->text, b->len, p->problem_offset, &line, &col);
        if (p->problem_value != -1)
            return fail_at(b, line, col, PARLEY_EINVAL, "%s (byte 0x%02x at offset %zu)",
                           p->problem, (unsigned)p->problem_value & 0xffu, p->problem_offset);
        return fail_at(b, line, col, PARLEY_EINVAL, "%s (at offset %zu)", p->problem,
                       p->problem_offset);
    default:
        line = (int)p->problem_mark.line + 1;
        col = (int)p->problem_mark.column + 1;
        if (p->context != NULL)
            return fail_at(b, line, col, PARLEY_EINVAL, "%s (%s at line %d column %d)",
                           p->problem ? p->problem : "YAML syntax error", p->context,
                           (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
        return fail_at(b, line, col, PARLEY_EINVAL, "%s",
                       p->problem ? p->problem : "YAML syntax error");
    }
}

static int run(struct builder *b)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    int rc = 0, done = 0;

    if (!yaml_parser_initialize(&parser))
        return oom(b);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    yaml_parser_set_input_string(&parser, (const unsigned char *)b->text, b->len);

    while (!done && rc == 0) {
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = parser_error(b, &parser);
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (b->docs++ > 0)
                rc = fail_at(b, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                             PARLEY_EINVAL, "more than one YAML document (a config file holds exactly one)");
            break;
        case YAML_ALIAS_EVENT:
            rc = fail_at(b, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                         PARLEY_EINVAL, "anchors and aliases are not allowed (found alias '*%s')",
                         (const char *)ev.data.alias.anchor);
            break;
        case YAML_SCALAR_EVENT:
            rc = node_start(b, &ev, PARLEY__NODE_SCALAR);
            break;
        case YAML_MAPPING_START_EVENT:
            rc = node_start(b, &ev, PARLEY__NODE_MAP);
            break;
        case YAML_SEQUENCE_START_EVENT:
            rc = node_start(b, &ev, PARLEY__NODE_SEQ);
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            rc = node_end(b);
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    while (b->depth > 0)
        frame_release(&b->stack[--b->depth]);
    if (rc == 0 && b->doc->root == NULL)
        rc = fail_at(b, 1, 1, PARLEY_EINVAL, "is empty (no YAML document)");
    return rc;
}

/* ---- entry points ------------------------------------------------- */

static void limits_fill(struct parley__config_limits *l, const struct parley__config_limits *in)
{
    memset(l, 0, sizeof *l);
    if (in != NULL)
        *l = *in;
    if (l->max_bytes == 0)
        l->max_bytes = PARLEY__CONFIG_MAX_BYTES;
    if (l->max_depth == 0)
        l->max_depth = PARLEY__CONFIG_MAX_DEPTH;
    if (l->max_nodes == 0)
        l->max_nodes = PARLEY__CONFIG_MAX_NODES;
    if (l->max_value == 0)
        l->max_value = PARLEY__CONFIG_MAX_VALUE;
    if (l->max_expansion == 0)
        l->max_expansion = PARLEY__CONFIG_MAX_EXPANSION;
}

static parley__config_doc *doc_new(const char *name)
{
    parley__config_doc *doc = calloc(1, sizeof *doc);
    size_t len;

    if (doc == NULL)
        return NULL;
    doc->path = strdup(name);
    if (doc->path == NULL) {
        free(doc);
        return NULL;
    }
    len = strlen(doc->path);
    doc->name = doc->path;
    if (len > NAME_KEEP) {
        /* "...tail": keep a valid UTF-8 start. */
        const char *tail = doc->path + len - NAME_KEEP;

        while (((unsigned char)*tail & 0xc0) == 0x80)
            tail++;
        doc->name = tail;
    }
    return doc;
}

int parley__config_parse(const char *text, size_t len, const char *name,
                         const struct parley__config_limits *limits, unsigned flags,
                         parley__config_doc **out, parley_error *err)
{
    struct builder b;
    int rc;

    *out = NULL;
    if (name == NULL)
        name = "<string>";
    memset(&b, 0, sizeof b);
    limits_fill(&b.lim, limits);
    b.doc = doc_new(name);
    if (b.doc == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "%s: out of memory while loading", name);
    b.err = err;
    b.flags = flags;
    b.text = text;
    b.len = len;
    if (len > b.lim.max_bytes) {
        rc = parley_error_set(err, PARLEY_ETOOBIG, "%s: is %zu bytes, over the %zu-byte limit",
                              b.doc->name, len, b.lim.max_bytes);
        parley__config_free(b.doc);
        return rc;
    }
    if (len == 0) {
        rc = fail_at(&b, 1, 1, PARLEY_EINVAL, "is empty");
        parley__config_free(b.doc);
        return rc;
    }
    b.stack = calloc(b.lim.max_depth, sizeof *b.stack);
    if (b.stack == NULL) {
        parley__config_free(b.doc);
        return parley_error_set(err, PARLEY_ENOMEM, "%s: out of memory while loading", name);
    }
    rc = run(&b);
    free(b.stack);
    if (rc != 0) {
        parley__config_free(b.doc);
        return rc;
    }
    *out = b.doc;
    return 0;
}

int parley__config_load_string_ex(const char *text, size_t len, const char *name,
                                  const struct parley__config_limits *limits,
                                  parley__config_doc **out, parley_error *err)
{
    return parley__config_parse(text, len, name, limits, 0, out, err);
}

int parley__config_load_string(const char *text, size_t len, const char *name,
                               parley__config_doc **out, parley_error *err)
{
    return parley__config_parse(text, len, name, NULL, 0, out, err);
}

int parley__config_load_file_ex(const char *path, const struct parley__config_limits *limits,
                                parley__config_doc **out, parley_error *err)
{
    struct parley__config_limits lim;
    struct stat st;
    char *buf;
    size_t len = 0;
    int fd, rc;

    *out = NULL;
    limits_fill(&lim, limits);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return parley_error_set(err, errno == ENOENT ? PARLEY_ENOTFOUND : PARLEY_EIO,
                                "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0) {
        rc = parley_error_set(err, PARLEY_EIO, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return parley_error_set(err, PARLEY_EINVAL, "%s: is a directory, not a config file", path);
    }
    if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > lim.max_bytes) {
        close(fd);
        return parley_error_set(err, PARLEY_ETOOBIG, "%s: is %jd bytes, over the %zu-byte limit",
                                path, (intmax_t)st.st_size, lim.max_bytes);
    }
    /* Read at most max_bytes + 1 whatever fstat said (pipes, growing files). */
    buf = malloc(lim.max_bytes + 1);
    if (buf == NULL) {
        close(fd);
        return parley_error_set(err, PARLEY_ENOMEM, "%s: out of memory while loading", path);
    }
    for (;;) {
        ssize_t k = read(fd, buf + len, lim.max_bytes + 1 - len);

        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = parley_error_set(err, PARLEY_EIO, "%s: cannot read: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return rc;
        }
        if (k == 0)
            break;
        len += (size_t)k;
        if (len > lim.max_bytes) {
            free(buf);
            close(fd);
            return parley_error_set(err, PARLEY_ETOOBIG, "%s: is over the %zu-byte limit", path,
                                    lim.max_bytes);
        }
    }
    close(fd);
    rc = parley__config_parse(buf, len, path, &lim, 0, out, err);
    free(buf);
    return rc;
}

int parley__config_load_file(const char *path, parley__config_doc **out, parley_error *err)
{
    return parley__config_load_file_ex(path, NULL, out, err);
}

int parley__node_error(parley_error *err, const parley__node *node, const char *fmt, ...)
{
    char what[PARLEY_ERROR_MESSAGE_MAX], path[192];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    parley__node_path(node, path, sizeof path);
    return parley_error_set(err, PARLEY_EINVAL, "%s: %s: %s", node->where, path, what);
}
