/*
 * Bounded JSON input. cJSON recurses once per nesting level and treats
 * every byte <= 0x20 as whitespace, and it silently cuts strings at a
 * decoded \u0000; so a linear pre-scan refuses what cJSON would get wrong
 * (too deep, raw control bytes, NUL escapes) before cJSON runs, and the
 * parse end is checked so nothing may follow the value. The pre-scan also
 * caps the number of values (as the Socket.IO decoder does): cJSON makes a
 * node per value, so a 1 MiB body of `0,0,...` would cost ~500000 nodes.
 */
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include "rest.h"

/* Values (array elements and object members) one body may hold. */
#define REST_JSON_MAX_VALUES 10000

static int json_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* \u0000 starting at s (just after the backslash), in any hex case. */
static int is_nul_escape(const char *s, size_t left)
{
    return left >= 5 && s[0] == 'u' && s[1] == '0' && s[2] == '0' && s[3] == '0' && s[4] == '0';
}

/* Only the fields the API reads are named back (never arbitrary input). */
static int known_field(const char *key)
{
    return strcmp(key, "username") == 0 || strcmp(key, "content") == 0 || strcmp(key, "room") == 0;
}

/*
 * One linear pass over the raw text. It also remembers the top-level key
 * whose value is being read, so a NUL escape is refused naming its field
 * (as the host's validation would, had cJSON been able to hand it over).
 */
static int prescan(const char *s, size_t len, int max_depth, const char **code, char *why,
                   size_t why_size)
{
    int depth = 0, in_string = 0, expect_key = 0, string_is_key = 0;
    size_t i, key_start = 0, values = 0;
    char key[40] = "";

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (in_string) {
            if (c == '"') {
                in_string = 0;
                if (string_is_key) {
                    size_t n = i - key_start;

                    if (n >= sizeof key)
                        n = sizeof key - 1;
                    memcpy(key, s + key_start, n);
                    key[n] = '\0';
                    string_is_key = 0;
                }
            } else if (c == '\\') {
                if (is_nul_escape(s + i + 1, len - i - 1)) {
                    *code = "validation_failed";
                    if (depth == 1 && !string_is_key && known_field(key))
                        snprintf(why, why_size,
                                 "%s contains a control character (U+0000 written as \\u0000)",
                                 key);
                    else
                        snprintf(why, why_size,
                                 "a JSON string contains a control character (U+0000 written as "
                                 "\\u0000 at byte %zu)",
                                 i);
                    return -1;
                }
                i++; /* skip the escaped byte; cJSON checks the escape itself */
            } else if (c < 0x20) {
                *code = "invalid_json";
                snprintf(why, why_size,
                         "invalid JSON: raw control character 0x%02x inside a string at byte %zu",
                         c, i);
                return -1;
            }
            continue;
        }
        switch (c) {
        case '"':
            in_string = 1;
            if (depth == 1 && expect_key) {
                string_is_key = 1;
                key_start = i + 1;
                expect_key = 0;
            }
            break;
        case '[':
        case '{':
            if (++depth > max_depth) {
                *code = "invalid_json";
                snprintf(why, why_size, "invalid JSON: nested deeper than %d levels at byte %zu",
                         max_depth, i);
                return -1;
            }
            expect_key = depth == 1 && c == '{';
            break;
        case ']':
        case '}':
            depth--;
            break;
        case ',':
            if (++values >= REST_JSON_MAX_VALUES) {
                *code = "invalid_json";
                snprintf(why, why_size,
                         "invalid JSON: more than %d values at byte %zu", REST_JSON_MAX_VALUES,
                         i);
                return -1;
            }
            expect_key = depth == 1;
            break;
        default:
            if (c < 0x20 && !json_ws(c)) {
                *code = "invalid_json";
                snprintf(why, why_size, "invalid JSON: control character 0x%02x at byte %zu", c, i);
                return -1;
            }
            break;
        }
    }
    return 0;
}

cJSON *rest_json_parse_object(const char *body, size_t len, int max_depth, const char **code,
                              char *why, size_t why_size)
{
    const char *end = NULL;
    cJSON *root;
    size_t off;

    *code = "invalid_json";
    /* RFC 8259 lets a parser ignore a BOM and Express's body-parser strips
     * it; cJSON skips one itself, so only the emptiness test looks past it
     * (and byte offsets stay those of the body as sent). */
    off = len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    while (off < len && json_ws((unsigned char)body[off]))
        off++;
    if (off == len) {
        snprintf(why, why_size, "request body is empty: expected a JSON object");
        return NULL;
    }
    if (prescan(body, len, max_depth, code, why, why_size) < 0)
        return NULL;

    root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (root == NULL) {
        off = end != NULL && end >= body && end <= body + len ? (size_t)(end - body) : 0;
        snprintf(why, why_size, "invalid JSON at byte %zu", off);
        return NULL;
    }
    off = (size_t)(end - body);
    while (off < len && json_ws((unsigned char)body[off]))
        off++;
    if (off != len) {
        cJSON_Delete(root);
        snprintf(why, why_size, "invalid JSON: unexpected data after the value at byte %zu", off);
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        *code = "invalid_body";
        snprintf(why, why_size, "request body must be a JSON object, got %s",
                 rest_json_type_name(root));
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

cJSON *rest_json_member(const cJSON *object, const char *name)
{
    cJSON *item, *found = NULL;

    for (item = object->child; item != NULL; item = item->next)
        if (item->string != NULL && strcmp(item->string, name) == 0)
            found = item;
    return found;
}

const char *rest_json_type_name(const cJSON *item)
{
    if (cJSON_IsString(item))
        return "a string";
    if (cJSON_IsNumber(item))
        return "a number";
    if (cJSON_IsBool(item))
        return "a boolean";
    if (cJSON_IsNull(item))
        return "null";
    if (cJSON_IsArray(item))
        return "an array";
    if (cJSON_IsObject(item))
        return "an object";
    return "an invalid value";
}
