/*
 * A linear pre-scan of JSON text, run before cJSON parses it. cJSON recurses
 * once per nesting level (up to its compile-time limit of 1000) and
 * allocates one node per value; the scan bounds both from the raw text so an
 * attacker's 100 000 × "[" or 500 000-element array costs one pass and no
 * allocation.
 *
 * The scan is not a validator: it only tracks strings (so brackets inside
 * strings do not count), refuses a "\u0000" escape, because cJSON stores
 * strings NUL-terminated and would silently cut such a string short, and
 * refuses raw control bytes (0x00..0x1f) other than JSON whitespace outside
 * strings, which JSON forbids but cJSON accepts (it skips every byte up to
 * 0x20 as whitespace, and keeps them inside strings).
 */
#ifndef PARLEY_SIO_JSON_SCAN_H
#define PARLEY_SIO_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

enum sio_json_scan_result {
    SIO_JSON_SCAN_OK = 0,
    SIO_JSON_SCAN_TOO_DEEP = 1,   /* nesting above max_depth */
    SIO_JSON_SCAN_TOO_MANY = 2,   /* more than max_nodes values */
    SIO_JSON_SCAN_NUL = 3,        /* a \u0000 escape inside a string */
    SIO_JSON_SCAN_CTRL = 4        /* a raw control byte: JSON forbids them in
                                     strings, cJSON would take them anywhere */
};

typedef struct sio_json_scan {
    size_t at;           /* offset of the offending byte (when not OK) */
    uint32_t depth;      /* deepest nesting seen (up to the refusal) */
    size_t nodes;        /* upper bound on the number of values seen */
} sio_json_scan;

int sio_json_prescan(const char *s, size_t n, uint32_t max_depth, size_t max_nodes,
                     sio_json_scan *out);

#endif
