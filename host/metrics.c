/*
 * The metrics registry (see metrics.h).
 */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "log.h"
#include "validate.h"

#define NAME_MAX_LEN 200
#define LABELS_MAX_LEN 1024
#define LABELS_MAX_PAIRS 16
#define BUCKETS_MAX 32

struct family {
    char *name;
    char *help;
    int kind;
    size_t n_buckets;
    double buckets[BUCKETS_MAX];
    parley_metric **series;   /* sorted by labels */
    size_t n_series, cap_series;
};

struct parley_metric {
    struct family *fam;
    char *labels;             /* canonical, "" when none */
    _Atomic uint64_t value;   /* bits of a double: the value, or a histogram's sum */
    _Atomic uint64_t counts[]; /* histogram: n_buckets + 1 (the last is +Inf) */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct family **families;   /* sorted by name */
static size_t n_families, cap_families;

static const double default_buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };

static inline uint64_t dbits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static inline double bitsd(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static const char *kind_name(int kind)
{
    switch (kind) {
    case PARLEY_METRIC_COUNTER: return "counter";
    case PARLEY_METRIC_GAUGE: return "gauge";
    case PARLEY_METRIC_HISTOGRAM: return "histogram";
    default: return "unknown";
    }
}

static int check_name(const char *name, parley_error *err)
{
    size_t len;

    if (name == NULL || name[0] == '\0')
        return parley_error_set(err, PARLEY_EINVAL, "metric name is empty");
    len = strlen(name);
    if (len > NAME_MAX_LEN)
        return parley_error_set(err, PARLEY_EINVAL, "metric name is %zu bytes long; the limit is %d",
                                len, NAME_MAX_LEN);
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                 (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return parley_error_set(err, PARLEY_EINVAL,
                                    "metric name \"%s\" has a bad character at offset %zu; "
                                    "names match [a-zA-Z_:][a-zA-Z0-9_:]*", name, i);
    }
    return 0;
}

struct label_pair {
    const char *key;
    size_t key_len;
    const char *value;   /* escaped, as written */
    size_t value_len;
};

static int pair_cmp(const void *a, const void *b)
{
    const struct label_pair *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);

    if (c != 0)
        return c;
    return (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* Parse `k="v",k2="v2"` into a canonical (key-sorted) copy in *out. */
static int parse_labels(const char *name, const char *labels, int kind, char **out,
                        parley_error *err)
{
    struct label_pair pairs[LABELS_MAX_PAIRS];
    size_t n = 0, len, i = 0, bad;
    char *canon, *w;

    *out = NULL;
    if (labels == NULL)
        labels = "";
    len = strlen(labels);
    if (len > LABELS_MAX_LEN)
        return parley_error_set(err, PARLEY_EINVAL, "labels of metric %s are %zu bytes long; the limit is %d",
                                name, len, LABELS_MAX_LEN);
    if (!parley__utf8_valid(labels, len, &bad))
        return parley_error_set(err, PARLEY_EINVAL, "labels of metric %s are not valid UTF-8 (offset %zu)",
                                name, bad);

    while (i < len) {
        struct label_pair *p;
        size_t k0 = i;

        if (n == LABELS_MAX_PAIRS)
            return parley_error_set(err, PARLEY_EINVAL, "metric %s has more than %d labels",
                                    name, LABELS_MAX_PAIRS);
        while (i < len && ((labels[i] >= 'a' && labels[i] <= 'z') || (labels[i] >= 'A' && labels[i] <= 'Z') ||
                           labels[i] == '_' || (i > k0 && labels[i] >= '0' && labels[i] <= '9')))
            i++;
        if (i == k0 || i >= len || labels[i] != '=')
            return parley_error_set(err, PARLEY_EINVAL,
                                    "labels of metric %s are malformed at offset %zu: expected key=\"value\" "
                                    "with key [a-zA-Z_][a-zA-Z0-9_]* (\"%s\")", name, i, labels);
        p = &pairs[n++];
        p->key = labels + k0;
        p->key_len = i - k0;
        if (p->key_len >= 2 && p->key[0] == '_' && p->key[1] == '_')
            return parley_error_set(err, PARLEY_EINVAL, "label %.*s of metric %s is reserved (starts with __)",
                                    (int)p->key_len, p->key, name);
        if (kind == PARLEY_METRIC_HISTOGRAM && p->key_len == 2 && memcmp(p->key, "le", 2) == 0)
            return parley_error_set(err, PARLEY_EINVAL, "label le of histogram %s is reserved", name);
        i++;
        if (i >= len || labels[i] != '"')
            return parley_error_set(err, PARLEY_EINVAL,
                                    "labels of metric %s are malformed at offset %zu: the value must be quoted (\"%s\")",
                                    name, i, labels);
        i++;
        p->value = labels + i;
        for (;;) {
            if (i >= len)
                return parley_error_set(err, PARLEY_EINVAL, "labels of metric %s: unterminated value (\"%s\")",
                                        name, labels);
            if (labels[i] == '"')
                break;
            if (labels[i] == '\n')
                return parley_error_set(err, PARLEY_EINVAL,
                                        "labels of metric %s: a raw newline in a value (write \\n)", name);
            if (labels[i] == '\\') {
                if (i + 1 >= len || (labels[i + 1] != '\\' && labels[i + 1] != '"' && labels[i + 1] != 'n'))
                    return parley_error_set(err, PARLEY_EINVAL,
                                            "labels of metric %s: bad escape at offset %zu (only \\\\, \\\" and \\n)",
                                            name, i);
                i++;
            }
            i++;
        }
        p->value_len = (size_t)(labels + i - p->value);
        i++;
        if (i < len) {
            if (labels[i] != ',')
                return parley_error_set(err, PARLEY_EINVAL,
                                        "labels of metric %s are malformed at offset %zu: expected ',' (\"%s\")",
                                        name, i, labels);
            i++;
            if (i == len)
                return parley_error_set(err, PARLEY_EINVAL, "labels of metric %s end with ','", name);
        }
    }

    qsort(pairs, n, sizeof pairs[0], pair_cmp);
    for (size_t j = 1; j < n; j++)
        if (pair_cmp(&pairs[j - 1], &pairs[j]) == 0)
            return parley_error_set(err, PARLEY_EINVAL, "label %.*s of metric %s appears twice",
                                    (int)pairs[j].key_len, pairs[j].key, name);

    canon = w = malloc(len + 1);
    if (canon == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "out of memory registering metric %s", name);
    for (size_t j = 0; j < n; j++) {
        if (j > 0)
            *w++ = ',';
        memcpy(w, pairs[j].key, pairs[j].key_len);
        w += pairs[j].key_len;
        *w++ = '=';
        *w++ = '"';
        memcpy(w, pairs[j].value, pairs[j].value_len);
        w += pairs[j].value_len;
        *w++ = '"';
    }
    *w = '\0';
    *out = canon;
    return 0;
}

static int check_buckets(const char *name, const double *b, size_t n, parley_error *err)
{
    if (n > BUCKETS_MAX)
        return parley_error_set(err, PARLEY_EINVAL, "histogram %s has %zu buckets; the limit is %d",
                                name, n, BUCKETS_MAX);
    if (n > 0 && b == NULL)
        return parley_error_set(err, PARLEY_EINVAL, "histogram %s: n_buckets is %zu but buckets is NULL",
                                name, n);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(b[i]))
            return parley_error_set(err, PARLEY_EINVAL, "histogram %s: bucket %zu is not finite", name, i);
        if (i > 0 && !(b[i] > b[i - 1]))
            return parley_error_set(err, PARLEY_EINVAL,
                                    "histogram %s: buckets must ascend, but bucket %zu (%g) <= bucket %zu (%g)",
                                    name, i, b[i], i - 1, b[i - 1]);
    }
    return 0;
}

/* Binary search; returns the index where `key` is or would go. */
static size_t find_family(const char *name, int *found)
{
    size_t lo = 0, hi = n_families;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(families[mid]->name, name);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static size_t find_series(const struct family *f, const char *labels, int *found)
{
    size_t lo = 0, hi = f->n_series;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->series[mid]->labels, labels);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static void family_free(struct family *f)
{
    for (size_t i = 0; i < f->n_series; i++) {
        free(f->series[i]->labels);
        free(f->series[i]);
    }
    free(f->series);
    free(f->name);
    free(f->help);
    free(f);
}

static parley_metric *register_locked(const parley_metric_desc *desc, const double *buckets,
                                      size_t n_buckets, char *labels, parley_error *err)
{
    struct family *f;
    parley_metric *m;
    size_t at, sat;
    int found;

    at = find_family(desc->name, &found);
    if (found) {
        f = families[at];
        if (f->kind != (int)desc->kind) {
            parley_error_set(err, PARLEY_EEXIST, "metric %s is already registered as a %s; cannot register it as a %s",
                             desc->name, kind_name(f->kind), kind_name((int)desc->kind));
            free(labels);
            return NULL;
        }
        if (f->kind == PARLEY_METRIC_HISTOGRAM &&
            (f->n_buckets != n_buckets || memcmp(f->buckets, buckets, n_buckets * sizeof *buckets) != 0)) {
            parley_error_set(err, PARLEY_EEXIST, "histogram %s is already registered with other buckets",
                             desc->name);
            free(labels);
            return NULL;
        }
    } else {
        if (parley__array_grow((void **)&families, &cap_families, n_families + 1, sizeof *families) != 0)
            goto oom;
        f = calloc(1, sizeof *f);
        if (f == NULL)
            goto oom;
        f->name = strdup(desc->name);
        f->help = strdup(desc->help ? desc->help : "");
        if (f->name == NULL || f->help == NULL) {
            free(f->name);
            free(f->help);
            free(f);
            goto oom;
        }
        f->kind = (int)desc->kind;
        f->n_buckets = n_buckets;
        if (n_buckets > 0)
            memcpy(f->buckets, buckets, n_buckets * sizeof *buckets);
        memmove(families + at + 1, families + at, (n_families - at) * sizeof *families);
        families[at] = f;
        n_families++;
    }

    sat = find_series(f, labels, &found);
    if (found) {
        free(labels);
        return f->series[sat];
    }
    if (parley__array_grow((void **)&f->series, &f->cap_series, f->n_series + 1, sizeof *f->series) != 0)
        goto oom;
    m = calloc(1, sizeof *m + (f->kind == PARLEY_METRIC_HISTOGRAM ? (f->n_buckets + 1) * sizeof m->counts[0] : 0));
    if (m == NULL)
        goto oom;
    m->fam = f;
    m->labels = labels;
    atomic_init(&m->value, dbits(0.0));
    if (f->kind == PARLEY_METRIC_HISTOGRAM)
        for (size_t i = 0; i <= f->n_buckets; i++)
            atomic_init(&m->counts[i], 0);
    memmove(f->series + sat + 1, f->series + sat, (f->n_series - sat) * sizeof *f->series);
    f->series[sat] = m;
    f->n_series++;
    return m;

oom:
    free(labels);
    parley_error_set(err, PARLEY_ENOMEM, "out of memory registering metric %s", desc->name);
    return NULL;
}

parley_metric *parley__metric_register(parley_host *host, const parley_metric_desc *desc,
                                       parley_error *err)
{
    const double *buckets = NULL;
    size_t n_buckets = 0;
    char *labels;
    parley_metric *m;

    (void)host;
    if (desc == NULL || desc->struct_size < offsetof(parley_metric_desc, labels) + sizeof desc->labels) {
        parley_error_set(err, PARLEY_EINVAL, "metric descriptor is NULL or too small (struct_size %u)",
                         desc ? (unsigned)desc->struct_size : 0u);
        return NULL;
    }
    if (check_name(desc->name, err) != 0)
        return NULL;
    if (desc->kind != PARLEY_METRIC_COUNTER && desc->kind != PARLEY_METRIC_GAUGE &&
        desc->kind != PARLEY_METRIC_HISTOGRAM) {
        parley_error_set(err, PARLEY_EINVAL, "metric %s has unknown kind %u", desc->name, (unsigned)desc->kind);
        return NULL;
    }
    if (desc->kind == PARLEY_METRIC_HISTOGRAM) {
        if (PARLEY_HAS_FIELD(desc, parley_metric_desc, n_buckets)) {
            buckets = desc->buckets;
            n_buckets = desc->n_buckets;
        }
        if (check_buckets(desc->name, buckets, n_buckets, err) != 0)
            return NULL;
        if (n_buckets == 0) {
            buckets = default_buckets;
            n_buckets = sizeof default_buckets / sizeof default_buckets[0];
        }
    }
    if (parse_labels(desc->name, desc->labels, (int)desc->kind, &labels, err) != 0)
        return NULL;

    pthread_mutex_lock(&registry_lock);
    m = register_locked(desc, buckets, n_buckets, labels, err);
    pthread_mutex_unlock(&registry_lock);
    return m;
}

parley_metric *parley__metric_simple(int kind, const char *name, const char *help, const char *labels)
{
    parley_metric_desc d = { sizeof d, (uint32_t)kind, name, help, labels, NULL, 0 };
    parley_error err = PARLEY_ERROR_INIT;
    parley_metric *m = parley__metric_register(NULL, &d, &err);

    if (m == NULL)
        parley__warn("metric %s not registered: %s", name, err.message);
    return m;
}

static void atomic_add_double(_Atomic uint64_t *slot, double v)
{
    uint64_t old = atomic_load_explicit(slot, memory_order_relaxed);

    while (!atomic_compare_exchange_weak_explicit(slot, &old, dbits(bitsd(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

void parley__metric_add(parley_metric *m, double v)
{
    if (m == NULL || isnan(v))
        return;
    if (m->fam->kind == PARLEY_METRIC_COUNTER && v < 0)
        return;   /* counters only go up */
    if (m->fam->kind == PARLEY_METRIC_HISTOGRAM)
        return;
    atomic_add_double(&m->value, v);
}

void parley__metric_set(parley_metric *m, double v)
{
    if (m == NULL || m->fam->kind != PARLEY_METRIC_GAUGE)
        return;
    atomic_store_explicit(&m->value, dbits(v), memory_order_relaxed);
}

void parley__metric_observe(parley_metric *m, double v)
{
    const struct family *f;
    size_t i = 0;

    if (m == NULL || isnan(v) || m->fam->kind != PARLEY_METRIC_HISTOGRAM)
        return;
    f = m->fam;
    while (i < f->n_buckets && v > f->buckets[i])
        i++;
    atomic_fetch_add_explicit(&m->counts[i], 1, memory_order_relaxed);
    atomic_add_double(&m->value, v);
}

double parley__metric_value(const parley_metric *m)
{
    uint64_t total = 0;

    if (m == NULL)
        return 0;
    if (m->fam->kind != PARLEY_METRIC_HISTOGRAM)
        return bitsd(atomic_load_explicit(&m->value, memory_order_relaxed));
    for (size_t i = 0; i <= m->fam->n_buckets; i++)
        total += atomic_load_explicit(&m->counts[i], memory_order_relaxed);
    return (double)total;
}

/* ---- exposition ---- */

struct sb {
    char *buf;
    size_t cap, len;
};

static void sb_printf(struct sb *b, const char *fmt, ...) PARLEY_PRINTF(2, 3);

static void sb_printf(struct sb *b, const char *fmt, ...)
{
    size_t room = b->len < b->cap ? b->cap - b->len : 0;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(room ? b->buf + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->len += (size_t)n;
}

static void sb_putc(struct sb *b, char c)
{
    if (b->len + 1 < b->cap) {
        b->buf[b->len] = c;
        b->buf[b->len + 1] = '\0';
    }
    b->len++;
}

/* Shortest text that reads back as the same double; integers without ".0". */
static void fmt_double(char out[40], double v)
{
    if (isnan(v)) {
        strcpy(out, "NaN");
        return;
    }
    if (isinf(v)) {
        strcpy(out, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(out, 40, "%.0f", v);
        return;
    }
    snprintf(out, 40, "%.15g", v);
    if (strtod(out, NULL) != v)
        snprintf(out, 40, "%.17g", v);
}

static void write_series_name(struct sb *b, const char *name, const char *suffix,
                              const char *labels, const char *le)
{
    sb_printf(b, "%s%s", name, suffix);
    if (labels[0] == '\0' && le == NULL)
        return;
    sb_putc(b, '{');
    sb_printf(b, "%s", labels);
    if (le != NULL)
        sb_printf(b, "%sle=\"%s\"", labels[0] ? "," : "", le);
    sb_putc(b, '}');
}

static void write_family(struct sb *b, const struct family *f)
{
    char num[40], le[40];

    sb_printf(b, "# HELP %s ", f->name);
    for (const char *h = f->help; *h; h++) {
        if (*h == '\\')
            sb_printf(b, "\\\\");
        else if (*h == '\n')
            sb_printf(b, "\\n");
        else
            sb_putc(b, *h);
    }
    sb_printf(b, "\n# TYPE %s %s\n", f->name, kind_name(f->kind));

    for (size_t s = 0; s < f->n_series; s++) {
        const parley_metric *m = f->series[s];
        double value = bitsd(atomic_load_explicit(&m->value, memory_order_relaxed));

        if (f->kind != PARLEY_METRIC_HISTOGRAM) {
            fmt_double(num, value);
            write_series_name(b, f->name, "", m->labels, NULL);
            sb_printf(b, " %s\n", num);
            continue;
        }
        uint64_t cumulative = 0;
        for (size_t i = 0; i <= f->n_buckets; i++) {
            cumulative += atomic_load_explicit(&m->counts[i], memory_order_relaxed);
            if (i < f->n_buckets)
                fmt_double(le, f->buckets[i]);
            else
                strcpy(le, "+Inf");
            write_series_name(b, f->name, "_bucket", m->labels, le);
            sb_printf(b, " %llu\n", (unsigned long long)cumulative);
        }
        fmt_double(num, value);
        write_series_name(b, f->name, "_sum", m->labels, NULL);
        sb_printf(b, " %s\n", num);
        write_series_name(b, f->name, "_count", m->labels, NULL);
        sb_printf(b, " %llu\n", (unsigned long long)cumulative);
    }
}

size_t parley__metrics_format(parley_host *host, char *buf, size_t cap)
{
    struct sb b = { buf, cap, 0 };

    (void)host;
    if (cap > 0)
        buf[0] = '\0';
    pthread_mutex_lock(&registry_lock);
    for (size_t i = 0; i < n_families; i++)
        write_family(&b, families[i]);
    pthread_mutex_unlock(&registry_lock);
    return b.len;
}

void parley__metrics_free(void)
{
    pthread_mutex_lock(&registry_lock);
    for (size_t i = 0; i < n_families; i++)
        family_free(families[i]);
    free(families);
    families = NULL;
    n_families = cap_families = 0;
    pthread_mutex_unlock(&registry_lock);
}
