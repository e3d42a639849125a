/*
 * parley_rest_requests_total{route,status} and
 * parley_rest_request_duration_seconds{route}. A counter is registered the
 * first time its (route, status) pair is seen, so /metrics lists only
 * statuses that happened; the common ones are registered at start so
 * they read 0 rather than being absent.
 */
#include <stdio.h>
#include <stdlib.h>

#include "rest.h"

#define REST_STATUS_SLOTS 24

static const char *const route_names[REST_ROUTE_COUNT] = { "messages", "health", "metrics",
                                                           "not_found" };

static const double latency_buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                          0.05,   0.1,   0.25,   0.5,   1,    2.5,
                                          5,      10 };

struct rest_metrics {
    struct {
        int status;
        parley_metric *metric;
    } counters[REST_ROUTE_COUNT][REST_STATUS_SLOTS];
    parley_metric *latency[REST_ROUTE_COUNT];
    int warned;
};

static parley_metric *counter_for(rest *r, int route, int status)
{
    rest_metrics *m = r->metrics;
    parley_metric_desc d = { sizeof d, PARLEY_METRIC_COUNTER, "parley_rest_requests_total",
                             "REST requests answered, by route and HTTP status", NULL, NULL, 0 };
    parley_error err = PARLEY_ERROR_INIT;
    char labels[64];
    size_t i;

    for (i = 0; i < REST_STATUS_SLOTS; i++) {
        if (m->counters[route][i].status == status)
            return m->counters[route][i].metric;
        if (m->counters[route][i].status == 0)
            break;
    }
    if (i == REST_STATUS_SLOTS)
        return NULL;
    snprintf(labels, sizeof labels, "route=\"%s\",status=\"%d\"", route_names[route], status);
    d.labels = labels;
    m->counters[route][i].status = status;
    m->counters[route][i].metric = r->api->metric_register(r->host, &d, &err);
    if (m->counters[route][i].metric == NULL && !m->warned) {
        m->warned = 1;
        r->api->log(r->host, PARLEY_LOG_WARN, "cannot register a request counter: %s",
                    err.message);
    }
    return m->counters[route][i].metric;
}

int rest_metrics_create(rest *r, parley_error *err)
{
    static const struct { int route, status; } warm[] = {
        { REST_ROUTE_MESSAGES, 200 }, { REST_ROUTE_MESSAGES, 201 }, { REST_ROUTE_MESSAGES, 400 },
        { REST_ROUTE_MESSAGES, 503 }, { REST_ROUTE_HEALTH, 200 },   { REST_ROUTE_METRICS, 200 },
        { REST_ROUTE_NOT_FOUND, 404 },
    };
    parley_metric_desc d = { sizeof d, PARLEY_METRIC_HISTOGRAM,
                             "parley_rest_request_duration_seconds",
                             "REST request latency from arrival to answer, by route", NULL,
                             latency_buckets, sizeof latency_buckets / sizeof latency_buckets[0] };
    char labels[32];
    size_t i;

    r->metrics = calloc(1, sizeof *r->metrics);
    if (r->metrics == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "out of memory for the REST metrics");
    for (i = 0; i < REST_ROUTE_COUNT; i++) {
        snprintf(labels, sizeof labels, "route=\"%s\"", route_names[i]);
        d.labels = labels;
        r->metrics->latency[i] = r->api->metric_register(r->host, &d, err);
        if (r->metrics->latency[i] == NULL)
            return err->code < 0 ? err->code : PARLEY_EINTERNAL;
    }
    for (i = 0; i < sizeof warm / sizeof warm[0]; i++)
        counter_for(r, warm[i].route, warm[i].status);
    return 0;
}

void rest_metrics_destroy(rest *r)
{
    free(r->metrics);
    r->metrics = NULL;
}

void rest_metrics_count(rest *r, int route, int status, uint64_t elapsed_ns)
{
    parley_metric *c;

    if (r->metrics == NULL || route < 0 || route >= REST_ROUTE_COUNT)
        return;
    c = counter_for(r, route, status);
    if (c != NULL)
        r->api->metric_add(c, 1);
    if (r->metrics->latency[route] != NULL)
        r->api->metric_observe(r->metrics->latency[route], (double)elapsed_ns / 1e9);
}
