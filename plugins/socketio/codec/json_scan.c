#include "json_scan.h"

#include <string.h>

/* True when s[i..] (inside a string, just after a backslash) is "u0000". */
static int is_nul_escape(const char *s, size_t n, size_t i)
{
    return n - i >= 5 && memcmp(s + i, "u0000", 5) == 0;
}

int sio_json_prescan(const char *s, size_t n, uint32_t max_depth, size_t max_nodes,
                     sio_json_scan *out)
{
    uint32_t depth = 0;
    int in_string = 0;
    /* Every value but the first in a container follows a comma, and every
     * container opens with a bracket: 1 + commas + opens bounds the values. */
    size_t nodes = 1;

    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if ((unsigned char)c < 0x20 &&
            (in_string || (c != ' ' && c != '\t' && c != '\n' && c != '\r'))) {
            out->at = i;
            return SIO_JSON_SCAN_CTRL;
        }
        if (in_string) {
            if (c == '\\') {
                if (i + 1 < n && s[i + 1] == 'u' && is_nul_escape(s, n, i + 1)) {
                    out->at = i;
                    return SIO_JSON_SCAN_NUL;
                }
                i++; /* skip the escaped character, a quote included */
            } else if (c == '"') {
                in_string = 0;
            }
            continue;
        }
        switch (c) {
        case '"':
            in_string = 1;
            break;
        case '[':
        case '{':
            if (++depth > max_depth) {
                out->at = i;
                out->depth = depth;
                return SIO_JSON_SCAN_TOO_DEEP;
            }
            if (depth > out->depth)
                out->depth = depth;
            /* An open bracket starts a value too. */
            /* fall through */
        case ',':
            if (++nodes > max_nodes) {
                out->at = i;
                out->nodes = nodes;
                return SIO_JSON_SCAN_TOO_MANY;
            }
            break;
        case ']':
        case '}':
            if (depth > 0)
                depth--;
            break;
        default:
            break;
        }
    }
    out->nodes = nodes;
    return SIO_JSON_SCAN_OK;
}
