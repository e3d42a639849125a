/*
 * Strict parsing of what arrives in the URL and the headers: no strtol
 * leniency (leading spaces, signs, exponents, trailing junk all refused).
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "rest.h"

int rest_parse_limit(const char *s, uint32_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (s[0] == '\0')
        return -1;
    for (i = 0; s[i] != '\0'; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > UINT32_MAX)
            return -1;
    }
    if (v == 0)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int rest_parse_id(const char *s, char *out)
{
    size_t i;

    for (i = 0; i < PARLEY_ID_LEN; i++) {
        if (!isxdigit((unsigned char)s[i]))
            return -1;
        out[i] = (char)tolower((unsigned char)s[i]);
    }
    if (s[PARLEY_ID_LEN] != '\0')
        return -1;
    out[PARLEY_ID_LEN] = '\0';
    return 0;
}

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Compare the token at p (up to a delimiter) with `word`, case-insensitively. */
static int token_is(const char *p, size_t n, const char *word)
{
    return n == strlen(word) && strncasecmp(p, word, n) == 0;
}

int rest_check_json_content_type(const char *value)
{
    const char *p = skip_ows(value);
    size_t n = strcspn(p, " \t;");

    if (!token_is(p, n, "application/json"))
        return -1;
    p = skip_ows(p + n);
    while (*p == ';') {
        const char *name, *val;
        size_t name_len, val_len;

        p = skip_ows(p + 1);
        name = p;
        name_len = strcspn(p, "= \t;");
        p = skip_ows(p + name_len);
        if (*p != '=')
            return name_len == 0 && *p == '\0' ? 0 : -1;
        p = skip_ows(p + 1);
        if (*p == '"') {
            val = ++p;
            val_len = strcspn(p, "\"");
            if (p[val_len] != '"')
                return -1;
            p += val_len + 1;
        } else {
            val = p;
            val_len = strcspn(p, " \t;");
            p += val_len;
        }
        if (token_is(name, name_len, "charset") && !token_is(val, val_len, "utf-8") &&
            !token_is(val, val_len, "utf8"))
            return -2;
        p = skip_ows(p);
        if (*p != ';' && *p != '\0')
            return -1;
    }
    return *p == '\0' ? 0 : -1;
}
