/*
 * Typed config blocks (see schema.h). One set of value parsers serves the
 * YAML values, the schema defaults and the host's own sections, so a value
 * means the same thing wherever it is written.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "schema.h"

#define SCHEMA_MAX_KEYS 256

struct cvalue {
    char *name;
    uint32_t type;
    uint32_t flags;
    int64_t i;          /* INT, DURATION (ms), SIZE (bytes) */
    int b;              /* BOOL */
    double d;           /* DOUBLE */
    char *s;            /* STRING */
    char **list;        /* STRING_LIST */
    size_t n_list;
    char *location;     /* "file:line:col" or "default" */
};

struct parley_config {
    size_t n;
    struct cvalue *v;
};

/* ---- value syntax ------------------------------------------------- */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Leading decimal digits as uint64; *end past them; *overflow when they do
 * not fit. Returns the number of digits. */
static size_t scan_digits(const char *s, const char **end, uint64_t *v, int *overflow)
{
    size_t n = 0;

    *v = 0;
    *overflow = 0;
    while (is_digit(s[n])) {
        unsigned d = (unsigned)(s[n] - '0');

        if (*v > (UINT64_MAX - d) / 10)
            *overflow = 1;
        else
            *v = *v * 10 + d;
        n++;
    }
    *end = s + n;
    return n;
}

int parley__parse_int(const char *s, int64_t *out)
{
    const char *p = s, *end;
    uint64_t v;
    int neg = 0, overflow;

    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    if (scan_digits(p, &end, &v, &overflow) == 0 || *end != '\0')
        return PARLEY_EINVAL;
    if (overflow || v > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
        return PARLEY_ETOOBIG;
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return 0;
}

int parley__parse_bool(const char *s, int *out)
{
    static const char *const yes[] = { "true", "yes", "on" };
    static const char *const no[] = { "false", "no", "off" };
    size_t i;

    for (i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return PARLEY_EINVAL;
}

int parley__parse_double(const char *s, double *out)
{
    const char *p = s;
    size_t int_digits = 0, frac_digits = 0;
    char *end;
    double d;

    /* Our own syntax check first: strtod would also take "inf", "nan",
     * hex floats and leading spaces. */
    if (*p == '+' || *p == '-')
        p++;
    while (is_digit(*p))
        p++, int_digits++;
    if (*p == '.') {
        p++;
        while (is_digit(*p))
            p++, frac_digits++;
    }
    if (int_digits + frac_digits == 0)
        return PARLEY_EINVAL;
    if (*p == 'e' || *p == 'E') {
        size_t exp_digits = 0;

        p++;
        if (*p == '+' || *p == '-')
            p++;
        while (is_digit(*p))
            p++, exp_digits++;
        if (exp_digits == 0)
            return PARLEY_EINVAL;
    }
    if (*p != '\0')
        return PARLEY_EINVAL;
    errno = 0;
    d = strtod(s, &end);
    if (*end != '\0')
        return PARLEY_EINVAL;
    if (!isfinite(d))
        return PARLEY_ETOOBIG;
    /* Underflow (1e-999) reads as 0 or a denormal: finite, accepted. */
    *out = d;
    return 0;
}

struct unit {
    const char *name;
    uint64_t mult;
};

static int parse_with_units(const char *s, const struct unit *units, size_t n_units, int64_t *out)
{
    const char *end;
    uint64_t v;
    int overflow;
    size_t i;

    if (scan_digits(s, &end, &v, &overflow) == 0)
        return PARLEY_EINVAL;
    for (i = 0; i < n_units; i++)
        if (strcmp(end, units[i].name) == 0)
            break;
    if (i == n_units)
        return PARLEY_EINVAL;
    if (overflow || (v != 0 && units[i].mult > (uint64_t)INT64_MAX / v))
        return PARLEY_ETOOBIG;
    *out = (int64_t)(v * units[i].mult);
    return 0;
}

int parley__parse_duration(const char *s, int64_t *ms)
{
    static const struct unit units[] = {
        { "", 1 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
    };

    return parse_with_units(s, units, sizeof units / sizeof units[0], ms);
}

#define KI 1024ull
#define KD 1000ull

int parley__parse_size(const char *s, int64_t *bytes)
{
    /* Single letters are binary, as in nginx and most server configs;
     * "KB", "MB" are decimal, "KiB", "MiB" binary, as their SI/IEC names say. */
    static const struct unit units[] = {
        { "", 1 }, { "B", 1 },
        { "K", KI }, { "k", KI }, { "KiB", KI }, { "KB", KD }, { "kB", KD },
        { "M", KI * KI }, { "m", KI * KI }, { "MiB", KI * KI }, { "MB", KD * KD },
        { "G", KI * KI * KI }, { "g", KI * KI * KI }, { "GiB", KI * KI * KI }, { "GB", KD * KD * KD },
        { "T", KI * KI * KI * KI }, { "t", KI * KI * KI * KI }, { "TiB", KI * KI * KI * KI },
        { "TB", KD * KD * KD * KD },
    };

    return parse_with_units(s, units, sizeof units / sizeof units[0], bytes);
}

const char *parley__format_duration(int64_t ms, char *buf, size_t cap)
{
    if (ms != 0 && ms % 3600000 == 0)
        snprintf(buf, cap, "%" PRId64 "h", ms / 3600000);
    else if (ms != 0 && ms % 60000 == 0)
        snprintf(buf, cap, "%" PRId64 "m", ms / 60000);
    else if (ms != 0 && ms % 1000 == 0)
        snprintf(buf, cap, "%" PRId64 "s", ms / 1000);
    else
        snprintf(buf, cap, "%" PRId64 "ms", ms);
    return buf;
}

const char *parley__format_size(int64_t bytes, char *buf, size_t cap)
{
    static const char *const names[] = { "TiB", "GiB", "MiB", "KiB" };
    static const int shifts[] = { 40, 30, 20, 10 };
    size_t i;

    for (i = 0; i < 4 && bytes > 0; i++) {
        int64_t unit = (int64_t)1 << shifts[i];

        if (bytes % unit == 0) {
            snprintf(buf, cap, "%" PRId64 "%s", bytes / unit, names[i]);
            return buf;
        }
    }
    snprintf(buf, cap, "%" PRId64, bytes);
    return buf;
}

/* ---- typed values -------------------------------------------------- */

static const char *type_noun(uint32_t type)
{
    switch (type) {
    case PARLEY_CONFIG_STRING: return "a string";
    case PARLEY_CONFIG_INT: return "an integer";
    case PARLEY_CONFIG_BOOL: return "a boolean (true/false, yes/no, on/off)";
    case PARLEY_CONFIG_DOUBLE: return "a number";
    case PARLEY_CONFIG_DURATION: return "a duration (e.g. 250ms, 5s, 2m, 1h; a bare integer is ms)";
    case PARLEY_CONFIG_SIZE: return "a size (e.g. 512, 64KiB, 1MiB, 1MB)";
    case PARLEY_CONFIG_STRING_LIST: return "a list of strings";
    default: return "a value of an unknown type";
    }
}

static int type_known(uint32_t type)
{
    return type >= PARLEY_CONFIG_STRING && type <= PARLEY_CONFIG_STRING_LIST;
}

static int type_ranged(uint32_t type)
{
    return type == PARLEY_CONFIG_INT || type == PARLEY_CONFIG_DURATION || type == PARLEY_CONFIG_SIZE;
}

/* plugin.h: both bounds 0 means unbounded; max 0 above a positive min means
 * "at least min". */
static int64_t key_min(const parley_config_key *k)
{
    return k->min == 0 && k->max == 0 ? INT64_MIN : k->min;
}

static int64_t key_max(const parley_config_key *k)
{
    return k->max == 0 && k->min >= 0 ? INT64_MAX : k->max;
}

static const char *format_bound(uint32_t type, int64_t v, char *buf, size_t cap)
{
    if (type == PARLEY_CONFIG_DURATION)
        return parley__format_duration(v, buf, cap);
    if (type == PARLEY_CONFIG_SIZE)
        return parley__format_size(v, buf, cap);
    snprintf(buf, cap, "%" PRId64, v);
    return buf;
}

enum { T_OK = 0, T_SYNTAX, T_TOOBIG, T_RANGE, T_NUL, T_OOM };

/* Convert the text of a scalar for a non-list key into *v. */
static int convert_text(const parley_config_key *k, const char *s, size_t len, struct cvalue *v)
{
    int rc = 0;

    if (strlen(s) != len)
        return T_NUL;
    switch (k->type) {
    case PARLEY_CONFIG_STRING:
        v->s = strdup(s);
        return v->s ? T_OK : T_OOM;
    case PARLEY_CONFIG_INT:
        rc = parley__parse_int(s, &v->i);
        break;
    case PARLEY_CONFIG_BOOL:
        rc = parley__parse_bool(s, &v->b);
        break;
    case PARLEY_CONFIG_DOUBLE:
        rc = parley__parse_double(s, &v->d);
        break;
    case PARLEY_CONFIG_DURATION:
        rc = parley__parse_duration(s, &v->i);
        break;
    case PARLEY_CONFIG_SIZE:
        rc = parley__parse_size(s, &v->i);
        break;
    default:
        return T_SYNTAX;
    }
    if (rc == PARLEY_EINVAL)
        return T_SYNTAX;
    if (rc == PARLEY_ETOOBIG)
        return T_TOOBIG;
    if (type_ranged(k->type) && (v->i < key_min(k) || v->i > key_max(k)))
        return T_RANGE;
    return T_OK;
}

/* "'abc' is not an integer", "70000 is out of range (1..65535)", for a
 * value shown as `shown` (already an excerpt, or "the value" for secrets). */
static void describe(char *buf, size_t cap, const parley_config_key *k, int why, const char *shown,
                     int secret)
{
    char lo[32], hi[32];
    const char *q = secret ? "" : "'";

    switch (why) {
    case T_SYNTAX:
        snprintf(buf, cap, "%s%s%s is not %s", q, shown, q, type_noun(k->type));
        break;
    case T_TOOBIG:
        if (k->type == PARLEY_CONFIG_DOUBLE)
            snprintf(buf, cap, "%s%s%s is not a finite number", q, shown, q);
        else
            snprintf(buf, cap, "%s%s%s is too large (it must fit in a signed 64-bit integer%s)", q,
                     shown, q,
                     k->type == PARLEY_CONFIG_DURATION ? " of ms" :
                     k->type == PARLEY_CONFIG_SIZE ? " of bytes" : "");
        break;
    case T_RANGE:
        snprintf(buf, cap, "%s is out of range (%s..%s)", shown,
                 format_bound(k->type, k->min, lo, sizeof lo),
                 k->max == 0 && k->min > 0 ? "" : format_bound(k->type, k->max, hi, sizeof hi));
        break;
    case T_NUL:
        snprintf(buf, cap, "%s%s%s contains a NUL character", q, shown, q);
        break;
    default:
        snprintf(buf, cap, "out of memory");
        break;
    }
    if (secret)
        snprintf(buf + strlen(buf), cap - strlen(buf), " (secret, not shown)");
}

static void cvalue_clear(struct cvalue *v)
{
    size_t i;

    free(v->name);
    free(v->s);
    for (i = 0; i < v->n_list; i++)
        free(v->list[i]);
    free(v->list);
    free(v->location);
    memset(v, 0, sizeof *v);
}

static int list_add(struct cvalue *v, const char *s, size_t len)
{
    char **p = realloc(v->list, (v->n_list + 1) * sizeof *p);

    if (p == NULL)
        return -1;
    v->list = p;
    if ((p[v->n_list] = strndup(s, len)) == NULL)
        return -1;
    v->n_list++;
    return 0;
}

/* Parse a STRING_LIST default: "" = empty list, "[a, b]" a YAML flow
 * sequence, anything else a list of one. */
static int list_default(const char *text, struct cvalue *v, char *why, size_t why_cap)
{
    parley__config_doc *doc;
    parley_error e = PARLEY_ERROR_INIT;
    const parley__node *root;
    size_t i;

    if (text == NULL || text[0] == '\0')
        return 0;
    if (parley__config_parse(text, strlen(text), "default", NULL,
                             PARLEY__CONFIG_NO_SUBST | PARLEY__CONFIG_ANY_ROOT, &doc, &e) != 0) {
        snprintf(why, why_cap, "is not valid YAML: %s", e.message);
        return -1;
    }
    root = parley__config_root(doc);
    if (root->type == PARLEY__NODE_SCALAR) {
        if (!root->is_null && list_add(v, root->scalar, root->scalar_len) != 0)
            goto oom;
    } else if (root->type == PARLEY__NODE_SEQ) {
        for (i = 0; i < root->n; i++) {
            if (root->items[i]->type != PARLEY__NODE_SCALAR || root->items[i]->is_null) {
                snprintf(why, why_cap, "item %zu is %s, not a string", i + 1,
                         parley__node_type_name(root->items[i]));
                parley__config_free(doc);
                return -1;
            }
            if (list_add(v, root->items[i]->scalar, root->items[i]->scalar_len) != 0)
                goto oom;
        }
    } else {
        snprintf(why, why_cap, "is a mapping, not a list of strings (write it as [a, b])");
        parley__config_free(doc);
        return -1;
    }
    parley__config_free(doc);
    return 0;
oom:
    snprintf(why, why_cap, "out of memory");
    parley__config_free(doc);
    return -1;
}

/* ---- schema check -------------------------------------------------- */

static const parley_config_key *key_at(const parley_config_schema *s, size_t i)
{
    return (const parley_config_key *)(const void *)((const char *)s->keys + i * s->key_size);
}

static int name_ok(const char *name)
{
    const char *p;

    if (name == NULL || name[0] == '\0')
        return 0;
    for (p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || is_digit(*p) || *p == '_' ||
              *p == '-'))
            return 0;
    return (size_t)(p - name) <= 64;
}

int parley__schema_check(const parley_config_schema *schema, const char *owner, parley_error *err)
{
    size_t i, j;

    if (owner == NULL)
        owner = "plugin";
    if (schema == NULL)
        return 0;
    if (schema->struct_size < sizeof(parley_config_schema))
        return parley_error_set(err, PARLEY_EINVAL,
                                "%s: config schema struct_size is %" PRIu32 ", smaller than the 1.0 size %zu",
                                owner, schema->struct_size, sizeof(parley_config_schema));
    if (schema->key_size < sizeof(parley_config_key))
        return parley_error_set(err, PARLEY_EINVAL,
                                "%s: config schema key_size is %" PRIu32 ", smaller than the 1.0 size %zu",
                                owner, schema->key_size, sizeof(parley_config_key));
    if (schema->n_keys > SCHEMA_MAX_KEYS)
        return parley_error_set(err, PARLEY_EINVAL, "%s: config schema has %zu keys, more than %d",
                                owner, schema->n_keys, SCHEMA_MAX_KEYS);
    if (schema->n_keys > 0 && schema->keys == NULL)
        return parley_error_set(err, PARLEY_EINVAL, "%s: config schema has %zu keys but keys is NULL",
                                owner, schema->n_keys);
    for (i = 0; i < schema->n_keys; i++) {
        const parley_config_key *k = key_at(schema, i);
        int secret = (k->flags & PARLEY_CONFIG_SECRET) != 0;
        struct cvalue v;
        char why[256], ex[80];
        int rc;

        if (!name_ok(k->name))
            return parley_error_set(err, PARLEY_EINVAL,
                                    "%s: config schema key #%zu has %s name (1 to 64 of A-Z a-z 0-9 _ -)",
                                    owner, i + 1, k->name == NULL || k->name[0] == '\0' ? "no" : "an invalid");
        for (j = 0; j < i; j++)
            if (strcmp(key_at(schema, j)->name, k->name) == 0)
                return parley_error_set(err, PARLEY_EINVAL,
                                        "%s: config schema key '%s' is declared twice (#%zu and #%zu)",
                                        owner, k->name, j + 1, i + 1);
        if (!type_known(k->type))
            return parley_error_set(err, PARLEY_EINVAL,
                                    "%s: config schema key '%s': unknown type %" PRIu32, owner, k->name,
                                    k->type);
        if ((k->flags & PARLEY_CONFIG_REQUIRED) && k->default_value != NULL)
            return parley_error_set(err, PARLEY_EINVAL,
                                    "%s: config schema key '%s': is REQUIRED but has a default", owner,
                                    k->name);
        if (!(k->flags & PARLEY_CONFIG_REQUIRED) && k->default_value == NULL &&
            k->type != PARLEY_CONFIG_STRING_LIST)
            return parley_error_set(err, PARLEY_EINVAL,
                                    "%s: config schema key '%s': has no default and is not REQUIRED",
                                    owner, k->name);
        if (type_ranged(k->type) && key_min(k) > key_max(k))
            return parley_error_set(err, PARLEY_EINVAL,
                                    "%s: config schema key '%s': min %" PRId64 " is greater than max %" PRId64,
                                    owner, k->name, k->min, k->max);
        if (k->default_value == NULL)
            continue;
        memset(&v, 0, sizeof v);
        if (k->type == PARLEY_CONFIG_STRING_LIST) {
            rc = list_default(k->default_value, &v, why, sizeof why);
            cvalue_clear(&v);
            if (rc != 0)
                return parley_error_set(err, PARLEY_EINVAL, "%s: config schema key '%s': default %s",
                                        owner, k->name, why);
            continue;
        }
        rc = convert_text(k, k->default_value, strlen(k->default_value), &v);
        cvalue_clear(&v);
        if (rc == T_OOM)
            return parley_error_set(err, PARLEY_ENOMEM, "%s: out of memory", owner);
        if (rc != T_OK) {
            if (secret) {
                describe(why, sizeof why, k, rc, "the value", 1);
            } else {
                parley__excerpt(k->default_value, strlen(k->default_value), ex, sizeof ex);
                describe(why, sizeof why, k, rc, ex, 0);
            }
            return parley_error_set(err, PARLEY_EINVAL, "%s: config schema key '%s': default %s",
                                    owner, k->name, why);
        }
    }
    return 0;
}

/* ---- apply --------------------------------------------------------- */

static int convert_node(const parley_config_key *k, const parley__node *node, struct cvalue *v,
                        parley_error *err)
{
    int secret = (k->flags & PARLEY_CONFIG_SECRET) != 0;
    char why[PARLEY_ERROR_MESSAGE_MAX], ex[80];
    size_t i;
    int rc;

    if (k->type == PARLEY_CONFIG_STRING_LIST) {
        if (node->type == PARLEY__NODE_MAP)
            return parley__node_error(err, node, "expected a list of strings, got a mapping");
        if (node->type == PARLEY__NODE_SCALAR) {
            if (node->is_null)
                return parley__node_error(err, node, "has no value (expected a list of strings)");
            if (strlen(node->scalar) != node->scalar_len)
                return parley__node_error(err, node, "contains a NUL character");
            return list_add(v, node->scalar, node->scalar_len) == 0
                       ? 0
                       : parley_error_set(err, PARLEY_ENOMEM, "out of memory");
        }
        for (i = 0; i < node->n; i++) {
            const parley__node *it = node->items[i];

            if (it->type != PARLEY__NODE_SCALAR)
                return parley__node_error(err, it, "expected a string, got %s", parley__node_type_name(it));
            if (it->is_null)
                return parley__node_error(err, it, "has no value (expected a string)");
            if (strlen(it->scalar) != it->scalar_len)
                return parley__node_error(err, it, "contains a NUL character");
            if (list_add(v, it->scalar, it->scalar_len) != 0)
                return parley_error_set(err, PARLEY_ENOMEM, "out of memory");
        }
        return 0;
    }
    if (node->type != PARLEY__NODE_SCALAR)
        return parley__node_error(err, node, "expected %s, got %s", type_noun(k->type),
                           parley__node_type_name(node));
    if (node->is_null)
        return parley__node_error(err, node, "has no value (expected %s)", type_noun(k->type));
    rc = convert_text(k, node->scalar, node->scalar_len, v);
    if (rc == T_OK)
        return 0;
    if (rc == T_OOM)
        return parley_error_set(err, PARLEY_ENOMEM, "out of memory");
    if (secret)
        describe(why, sizeof why, k, rc, "the value", 1);
    else
        describe(why, sizeof why, k, rc,
                 parley__excerpt(node->scalar, node->scalar_len, ex, sizeof ex), 0);
    return parley__node_error(err, node, "%s", why);
}

static int convert_default(const parley_config_key *k, struct cvalue *v, const char *context,
                           parley_error *err)
{
    char why[256];

    if (k->type == PARLEY_CONFIG_STRING_LIST) {
        if (list_default(k->default_value, v, why, sizeof why) != 0)
            return parley_error_set(err, PARLEY_EINTERNAL, "%s: default of key '%s' %s", context,
                                    k->name, why);
        return 0;
    }
    if (k->default_value == NULL ||
        convert_text(k, k->default_value, strlen(k->default_value), v) != T_OK)
        return parley_error_set(err, PARLEY_EINTERNAL,
                                "%s: the default of key '%s' is not valid %s (the schema was not checked)",
                                context, k->name, type_noun(k->type));
    return 0;
}

/* "a, b, c" into buf, "..." when it does not fit. */
static void allowed_list(const parley_config_schema *schema, const parley__schema_scope *scope,
                         char *buf, size_t cap)
{
    size_t i, o = 0, total = (schema ? schema->n_keys : 0) + scope->n_extra;

    buf[0] = '\0';
    for (i = 0; i < total; i++) {
        const char *name = schema && i < schema->n_keys ? key_at(schema, i)->name
                                                        : scope->extra_keys[i - (schema ? schema->n_keys : 0)];
        size_t need = strlen(name) + (i ? 2 : 0);

        if (o + need + 4 >= cap) {
            snprintf(buf + o, cap - o, ", ...");
            return;
        }
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", name);
    }
}

static int find_key(const parley_config_schema *schema, const parley__node *key)
{
    size_t i;

    if (schema == NULL)
        return -1;
    for (i = 0; i < schema->n_keys; i++) {
        const char *name = key_at(schema, i)->name;

        if (strlen(name) == key->scalar_len && memcmp(name, key->scalar, key->scalar_len) == 0)
            return (int)i;
    }
    return -1;
}

static int is_extra(const parley__schema_scope *scope, const parley__node *key)
{
    size_t i;

    for (i = 0; i < scope->n_extra; i++)
        if (strlen(scope->extra_keys[i]) == key->scalar_len &&
            memcmp(scope->extra_keys[i], key->scalar, key->scalar_len) == 0)
            return 1;
    return 0;
}

int parley__schema_apply_ex(const parley_config_schema *schema, const parley__node *block,
                            const parley__schema_scope *scope, parley_config **out,
                            parley_error *err)
{
    const char *context = scope->context ? scope->context : "config block";
    size_t n = schema ? schema->n_keys : 0, i;
    struct parley_config *c;
    unsigned char *seen = NULL;
    int rc = 0;

    *out = NULL;
    if (block != NULL && block->type == PARLEY__NODE_SCALAR && block->is_null)
        block = NULL;
    if (block != NULL && block->type != PARLEY__NODE_MAP)
        return parley__node_error(err, block, "expected a mapping of keys for %s, got %s", context,
                           parley__node_type_name(block));
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "out of memory");
    if (n > 0) {
        c->v = calloc(n, sizeof *c->v);
        seen = calloc(n, 1);
        if (c->v == NULL || seen == NULL) {
            free(seen);
            parley__config_destroy(c);
            return parley_error_set(err, PARLEY_ENOMEM, "out of memory");
        }
    }
    c->n = n;
    for (i = 0; i < n; i++) {
        const parley_config_key *k = key_at(schema, i);

        c->v[i].type = k->type;
        c->v[i].flags = k->flags;
        if ((c->v[i].name = strdup(k->name)) == NULL) {
            rc = parley_error_set(err, PARLEY_ENOMEM, "out of memory");
            goto done;
        }
    }

    /* Keys in the order they are written, so the first mistake in the file
     * is the one reported. */
    for (i = 0; block != NULL && i < block->n; i++) {
        const parley__node *key = block->keys[i];
        int j = find_key(schema, key);

        if (j < 0) {
            char allowed[320], ex[96], path[160];

            if (is_extra(scope, key))
                continue;
            parley__excerpt(key->scalar, key->scalar_len, ex, sizeof ex);
            parley__node_path(block, path, sizeof path);
            allowed_list(schema, scope, allowed, sizeof allowed);
            if (allowed[0] == '\0')
                rc = parley_error_set(err, PARLEY_EINVAL, "%s: %s%sunknown key '%s' for %s, which takes no keys",
                                      key->where, path, path[0] ? ": " : "", ex, context);
            else
                rc = parley_error_set(err, PARLEY_EINVAL,
                                      "%s: %s%sunknown key '%s' for %s; allowed keys: %s", key->where,
                                      path, path[0] ? ": " : "", ex, context, allowed);
            goto done;
        }
        rc = convert_node(key_at(schema, (size_t)j), block->items[i], &c->v[j], err);
        if (rc != 0)
            goto done;
        seen[j] = 1;
        if ((c->v[j].location = strdup(block->items[i]->where)) == NULL) {
            rc = parley_error_set(err, PARLEY_ENOMEM, "out of memory");
            goto done;
        }
    }

    for (i = 0; i < n; i++) {
        const parley_config_key *k = key_at(schema, i);

        if (seen[i])
            continue;
        if (k->flags & PARLEY_CONFIG_REQUIRED) {
            const char *where = scope->block_where ? scope->block_where : block ? block->where : NULL;

            if (where != NULL)
                rc = parley_error_set(err, PARLEY_EINVAL, "%s: %s: missing required key '%s'", where,
                                      context, k->name);
            else
                rc = parley_error_set(err, PARLEY_EINVAL, "%s: missing required key '%s'", context,
                                      k->name);
            goto done;
        }
        if ((rc = convert_default(k, &c->v[i], context, err)) != 0)
            goto done;
        if ((c->v[i].location = strdup("default")) == NULL) {
            rc = parley_error_set(err, PARLEY_ENOMEM, "out of memory");
            goto done;
        }
    }

done:
    free(seen);
    if (rc != 0) {
        parley__config_destroy(c);
        return rc;
    }
    *out = c;
    return 0;
}

int parley__schema_apply(const parley_config_schema *schema, const parley__node *block,
                         const char *context, const char *block_where, parley_config **out,
                         parley_error *err)
{
    parley__schema_scope scope = { context, block_where, NULL, 0 };

    return parley__schema_apply_ex(schema, block, &scope, out, err);
}

void parley__config_destroy(parley_config *config)
{
    size_t i;

    if (config == NULL)
        return;
    for (i = 0; i < config->n; i++)
        cvalue_clear(&config->v[i]);
    free(config->v);
    free(config);
}

static int cvalue_equal(const struct cvalue *a, const struct cvalue *b)
{
    size_t i;

    if (strcmp(a->name, b->name) != 0 || a->type != b->type)
        return 0;
    switch (a->type) {
    case PARLEY_CONFIG_STRING:
        return strcmp(a->s, b->s) == 0;
    case PARLEY_CONFIG_BOOL:
        return a->b == b->b;
    case PARLEY_CONFIG_DOUBLE:
        return a->d == b->d;
    case PARLEY_CONFIG_STRING_LIST:
        if (a->n_list != b->n_list)
            return 0;
        for (i = 0; i < a->n_list; i++)
            if (strcmp(a->list[i], b->list[i]) != 0)
                return 0;
        return 1;
    default:
        return a->i == b->i;
    }
}

int parley__config_equal(const parley_config *a, const parley_config *b)
{
    size_t i;

    if (a == NULL || b == NULL)
        return a == b;
    if (a->n != b->n)
        return 0;
    for (i = 0; i < a->n; i++)
        if (!cvalue_equal(&a->v[i], &b->v[i]))
            return 0;
    return 1;
}

/* ---- accessors ----------------------------------------------------- */

static const struct cvalue *lookup(const parley_config *c, const char *key)
{
    size_t i;

    if (c == NULL || key == NULL)
        return NULL;
    for (i = 0; i < c->n; i++)
        if (strcmp(c->v[i].name, key) == 0)
            return &c->v[i];
    return NULL;
}

const char *parley__config_string(const parley_config *c, const char *key)
{
    const struct cvalue *v = lookup(c, key);

    return v != NULL && v->type == PARLEY_CONFIG_STRING ? v->s : NULL;
}

int64_t parley__config_int(const parley_config *c, const char *key)
{
    const struct cvalue *v = lookup(c, key);

    return v != NULL && type_ranged(v->type) ? v->i : 0;
}

int parley__config_bool(const parley_config *c, const char *key)
{
    const struct cvalue *v = lookup(c, key);

    return v != NULL && v->type == PARLEY_CONFIG_BOOL ? v->b : 0;
}

double parley__config_double(const parley_config *c, const char *key)
{
    const struct cvalue *v = lookup(c, key);

    return v != NULL && v->type == PARLEY_CONFIG_DOUBLE ? v->d : 0.0;
}

size_t parley__config_list_size(const parley_config *c, const char *key)
{
    const struct cvalue *v = lookup(c, key);

    return v != NULL && v->type == PARLEY_CONFIG_STRING_LIST ? v->n_list : 0;
}

const char *parley__config_list_item(const parley_config *c, const char *key, size_t i)
{
    const struct cvalue *v = lookup(c, key);

    return v != NULL && v->type == PARLEY_CONFIG_STRING_LIST && i < v->n_list ? v->list[i] : NULL;
}

const char *parley__config_location(const parley_config *c, const char *key)
{
    const struct cvalue *v = lookup(c, key);

    return v != NULL ? v->location : NULL;
}
