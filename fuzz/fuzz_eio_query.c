/*
 * The Engine.IO handshake query (eio_parse_query in
 * plugins/socketio/codec/eio_query.c) and the error answer built from it.
 *
 * Input: the raw query string (not NUL-terminated: the parser is told the
 * length and must not read past it).
 * Oracle:
 *   - accepted: a known transport, no error code, and a sid that is absent
 *     or a valid sid lying inside the input;
 *   - refused: PARLEY_EPROTO with an error code 0..5 and a matching
 *     parley_error, and that code's JSON body (eio_error_body) is valid JSON
 *     carrying the same code and message, with status 400 or 403.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "eio.h"
#include "fuzz_common.h"

static void check_error_answer(int code)
{
    char body[256];
    size_t written = 0;
    cJSON *json;
    int status = eio_error_http_status(code);

    FUZZ_CHECK(status == (code == EIO_ERR_FORBIDDEN ? 403 : 400), "code %d status %d", code,
               status);
    FUZZ_CHECK(eio_error_body(code, body, sizeof body, &written) == 0, "code %d: no body", code);
    FUZZ_CHECK(written == strlen(body), "body length %zu, text %zu", written, strlen(body));
    json = cJSON_Parse(body);
    FUZZ_CHECK(json != NULL, "error body is not JSON: %s", body);
    FUZZ_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(json, "code")) == code &&
                   strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(json, "message")),
                          eio_error_message(code)) == 0,
               "error body %s does not carry code %d", body, code);
    cJSON_Delete(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parley_error err = PARLEY_ERROR_INIT;
    const char *q = (const char *)data;
    eio_query out;
    int rc;

    memset(&out, 0xa5, sizeof out);
    rc = eio_parse_query(q, size, &out, &err);
    if (rc == 0) {
        FUZZ_CHECK(out.transport == EIO_TRANSPORT_POLLING ||
                       out.transport == EIO_TRANSPORT_WEBSOCKET,
                   "accepted with transport %d", out.transport);
        FUZZ_CHECK(out.error_code == -1, "accepted with error code %d", out.error_code);
        if (out.sid != NULL) {
            FUZZ_CHECK(out.sid >= q && out.sid + out.sid_len <= q + size,
                       "sid points outside the query");
            FUZZ_CHECK(eio_sid_valid(out.sid, out.sid_len), "accepted an invalid sid (%zu bytes)",
                       out.sid_len);
        }
        /* Every accepted query names EIO=4 and the transport literally. */
        FUZZ_CHECK(memmem(q, size, "EIO=4", 5) != NULL, "accepted without EIO=4");
        FUZZ_CHECK(memmem(q, size, "transport=", 10) != NULL, "accepted without transport=");
    } else {
        FUZZ_CHECK(rc == PARLEY_EPROTO, "eio_parse_query returned %d", rc);
        fuzz_check_refusal(rc, &err, "eio_parse_query");
        FUZZ_CHECK(out.error_code >= EIO_ERR_TRANSPORT_UNKNOWN &&
                       out.error_code <= EIO_ERR_UNSUPPORTED_VERSION,
                   "refused with error code %d", out.error_code);
        check_error_answer(out.error_code);
    }
    return 0;
}
