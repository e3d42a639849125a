/*
 * GET /health   liveness plus the host's cached storage state
 * GET /metrics  the host's metrics registry in the Prometheus text format
 *
 * /health answers 200 even when storage is down (status "degraded"), as
 * the Node backend did: the process is alive and serving; load balancers
 * that should drain on storage loss read the `storage` field.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rest.h"

int rest_health_get(rest_req *rq)
{
    const parley_host_api *api = rq->r->api;
    parley_host *host = rq->r->host;
    int connected = api->chat_storage_state(host) == PARLEY_STORAGE_CONNECTED;
    uint64_t up = api->uptime_ms(host);
    const char *version = api->version(host);
    char ts[40], uptime[32];
    rest_buf b;
    int rc;

    rest_iso8601(ts, sizeof ts, api->wall_ms(host));
    snprintf(uptime, sizeof uptime, "%llu.%03u", (unsigned long long)(up / 1000),
             (unsigned)(up % 1000));
    rest_buf_init(&b);
    rest_buf_puts(&b, connected ? "{\"status\":\"ok\",\"storage\":\"connected\""
                                : "{\"status\":\"degraded\",\"storage\":\"disconnected\"");
    rest_buf_printf(&b, ",\"uptime_s\":%s,\"uptime\":%s,\"version\":", uptime, uptime);
    rest_json_string(&b, version != NULL ? version : "", version != NULL ? strlen(version) : 0);
    rest_buf_printf(&b, ",\"timestamp\":\"%s\"}", ts);
    rc = rest_respond_json(rq, 200, &b, NULL, 0);
    rest_buf_free(&b);
    return rc;
}

/*
 * One call into a stack buffer covers the usual registry; a bigger one is
 * measured by that first call and formatted again into the heap (metrics
 * may grow between the two calls, hence the slack and the retry).
 */
int rest_metrics_get(rest_req *rq)
{
    static const char ctype[] = "text/plain; version=0.0.4; charset=utf-8";
    const parley_host_api *api = rq->r->api;
    char stack[16384];
    size_t need, cap;
    char *heap = NULL;
    int tries, rc;

    need = api->metrics_format(rq->r->host, stack, sizeof stack);
    if (need < sizeof stack)
        return rest_respond(rq, 200, ctype, NULL, 0, stack, need);

    for (tries = 0; tries < 4; tries++) {
        char *p;

        cap = need + 4096;
        p = realloc(heap, cap);
        if (p == NULL)
            break;
        heap = p;
        need = api->metrics_format(rq->r->host, heap, cap);
        if (need < cap) {
            rc = rest_respond(rq, 200, ctype, NULL, 0, heap, need);
            free(heap);
            return rc;
        }
    }
    free(heap);
    return rest_error_status(rq, PARLEY_ENOMEM, "out of memory formatting the metrics");
}
