/*
 * The metrics registry: counters, gauges and histograms for the host and
 * its plugins, written out in the Prometheus text format 0.0.4.
 *
 * Registration and formatting take a mutex (they are rare); updates are
 * lock-free C11 atomics and safe from any thread. A value is a double kept
 * as its bit pattern in an atomic uint64 and updated with compare-and-swap;
 * a histogram keeps one atomic count per bucket, and its _count is derived
 * from the buckets so the exposition is always self-consistent.
 *
 * Names follow [a-zA-Z_:][a-zA-Z0-9_:]* (at most 200 bytes). Labels are
 * `key="value"` pairs separated by commas, keys [a-zA-Z_][a-zA-Z0-9_]*
 * (not starting with "__", and not "le" on a histogram), values escaped
 * as \\, \" and \n; they are stored sorted by key, so the same set in
 * another order is the same series. A family (one name) has one kind,
 * one help text (the first registration's) and, for histograms, one set
 * of buckets: a clash is refused. Histograms with n_buckets == 0 get the
 * default buckets 0.005 .. 10 seconds. Families are written sorted by
 * name, series within a family sorted by their label text.
 */
#ifndef PARLEY__METRICS_H
#define PARLEY__METRICS_H

#include <stddef.h>

#include <parley/parley.h>

/* SDK signatures (host.h). */
parley_metric *parley__metric_register(parley_host *host, const parley_metric_desc *desc,
                                       parley_error *err);
void parley__metric_add(parley_metric *metric, double v);
void parley__metric_set(parley_metric *metric, double v);
void parley__metric_observe(parley_metric *metric, double v);
size_t parley__metrics_format(parley_host *host, char *buf, size_t cap);

/* Host convenience: register or die quietly (NULL on error, logged). A
 * NULL metric is accepted by add/set/observe as a no-op. */
parley_metric *parley__metric_simple(int kind, const char *name, const char *help,
                                     const char *labels);

/* The current value of a counter or gauge; a histogram's observation count.
 * For tests and /health. */
double parley__metric_value(const parley_metric *metric);

/* Free every metric. Pointers handed out before are invalid afterwards. */
void parley__metrics_free(void);

#endif /* PARLEY__METRICS_H */
