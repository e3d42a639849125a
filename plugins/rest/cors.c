/*
 * CORS: an exact allowlist of origins. An allowed origin gets
 * Access-Control-Allow-Origin echoed back; any other gets no CORS headers
 * (the browser then withholds the answer) and its preflights get 403.
 * "*" in the list allows every origin.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rest.h"

#define REST_ACRH_MAX 512   /* bytes of Access-Control-Request-Headers we echo */
#define REST_ACRH_ITEMS 16  /* header names in it */

/*
 * scheme "://" host [":" port], nothing else: that is all a browser ever
 * sends in Origin (no path, no userinfo, no query).
 */
static int origin_valid(const char *s)
{
    const char *p = s, *host;

    if (!isalpha((unsigned char)*p))
        return 0;
    while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
        p++;
    if (strncmp(p, "://", 3) != 0)
        return 0;
    host = p += 3;
    while (isalnum((unsigned char)*p) || *p == '-' || *p == '.' || *p == '[' || *p == ']' ||
           *p == ':' || *p == '_')
        p++;
    return *p == '\0' && p > host;
}

static int add_origin(rest_cors *cors, const char *value, size_t i, const char *where,
                      parley_error *err)
{
    size_t len = strlen(value);
    char *o;
    size_t k;

    if (strcmp(value, "*") == 0) {
        cors->any = 1;
        return 0;
    }
    if (len >= REST_ORIGIN_MAX)
        return parley_error_set(err, PARLEY_EINVAL,
                                "%s: cors_origins[%zu] is %zu bytes long; the most is %d", where,
                                i, len, REST_ORIGIN_MAX - 1);
    if (cors->n_origins == REST_MAX_ORIGINS)
        return parley_error_set(err, PARLEY_ELIMIT, "%s: cors_origins has more than %d entries",
                                where, REST_MAX_ORIGINS);
    o = strdup(value);
    if (o == NULL)
        return parley_error_set(err, PARLEY_ENOMEM, "out of memory reading cors_origins");
    if (len > 0 && o[len - 1] == '/')
        o[--len] = '\0';
    for (k = 0; k < len; k++)
        o[k] = (char)tolower((unsigned char)o[k]);
    if (!origin_valid(o)) {
        free(o);
        return parley_error_set(err, PARLEY_EINVAL,
                                "%s: cors_origins[%zu] \"%.64s\" is not an origin; expected "
                                "scheme://host[:port] (e.g. http://localhost:5173) or \"*\"",
                                where, i, value);
    }
    cors->origins[cors->n_origins++] = o;
    return 0;
}

int rest_cors_load(rest_cors *cors, const parley_host_api *api, const parley_config *config,
                   parley_error *err)
{
    const char *where = api->config_location(config, "cors_origins");
    size_t n = api->config_list_size(config, "cors_origins"), i;
    int64_t max_age_ms = api->config_int(config, "cors_max_age");
    int rc;

    memset(cors, 0, sizeof *cors);
    if (where == NULL)
        where = "cors_origins";
    snprintf(cors->max_age, sizeof cors->max_age, "%lld", (long long)(max_age_ms / 1000));

    for (i = 0; i < n; i++) {
        const char *v = api->config_list_item(config, "cors_origins", i);

        if (v == NULL)
            break;
        if ((rc = add_origin(cors, v, i, where, err)) < 0)
            goto fail;
    }
    return 0;

fail:
    rest_cors_free(cors);
    return rc;
}

void rest_cors_free(rest_cors *cors)
{
    size_t i;

    for (i = 0; i < cors->n_origins; i++)
        free(cors->origins[i]);
    memset(cors, 0, sizeof *cors);
}

int rest_cors_check(const rest_cors *cors, const char *origin)
{
    size_t i, len;

    if (origin[0] == '\0')
        return REST_ORIGIN_NONE;
    if (cors->any)
        return REST_ORIGIN_ALLOWED;
    len = strlen(origin);
    for (i = 0; i < cors->n_origins; i++)
        if (strcasecmp(cors->origins[i], origin) == 0 ||
            (len > 1 && origin[len - 1] == '/' && strlen(cors->origins[i]) == len - 1 &&
             strncasecmp(cors->origins[i], origin, len - 1) == 0))
            return REST_ORIGIN_ALLOWED;
    return REST_ORIGIN_FORBIDDEN;
}

/* RFC 9110 tchar. */
static int tchar(unsigned char c)
{
    return isalnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/*
 * Echo the requested header names only when the value is a plain list of
 * tokens (no way to smuggle CR/LF or anything else into our answer);
 * otherwise offer Content-Type, the one header the API needs.
 */
static int requested_headers_safe(const char *v)
{
    size_t items = 0;
    const char *p = v;

    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!tchar((unsigned char)*p))
            return 0;
        while (tchar((unsigned char)*p))
            p++;
        if (++items > REST_ACRH_ITEMS)
            return 0;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            return 1;
        if (*p != ',')
            return 0;
        p++;
    }
}

int rest_cors_options(rest_req *rq, const char *allow, const char *cors_methods)
{
    const parley_host_api *api = rq->r->api;
    char method[32], acrh[REST_ACRH_MAX];
    parley_http_header h[4];
    int is_preflight;

    is_preflight = rq->origin_state != REST_ORIGIN_NONE &&
                   api->http_header(rq->req, "Access-Control-Request-Method", method,
                                    sizeof method) >= 0;
    if (!is_preflight) {
        h[0] = (parley_http_header){ "Allow", allow };
        return rest_respond(rq, 204, NULL, h, 1, NULL, 0);
    }
    if (rq->origin_state == REST_ORIGIN_FORBIDDEN) {
        char q[REST_QUOTE_MAX + 8];

        rest_quote(q, sizeof q, rq->origin, strlen(rq->origin));
        return rest_error(rq, 403, "origin_not_allowed",
                          "origin %s is not allowed; allowed origins are set by cors_origins", q);
    }
    h[0] = (parley_http_header){ "Access-Control-Allow-Methods", cors_methods };
    h[1] = (parley_http_header){ "Access-Control-Allow-Headers", "Content-Type" };
    if (api->http_header(rq->req, "Access-Control-Request-Headers", acrh, sizeof acrh) > 0 &&
        requested_headers_safe(acrh))
        h[1].value = acrh;
    h[2] = (parley_http_header){ "Access-Control-Max-Age", rq->r->cors.max_age };
    return rest_respond(rq, 204, NULL, h, 3, NULL, 0);
}
