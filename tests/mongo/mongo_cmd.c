/*
 * parley-mongo-cmd: run one database command and print the reply, for the
 * tests to reach MongoDB without the plugin (inserting documents in the
 * Node backend's shape, reading what the plugin wrote, buildInfo).
 *
 *   parley-mongo-cmd URI DATABASE 'COMMAND as extended JSON'
 *
 * The reply is printed as canonical extended JSON on one line ({"$oid":
 * ...}, {"$date": {"$numberLong": ...}}, {"$numberInt": ...}), so a test
 * sees the exact BSON types. Exit 0 when the command succeeded, 1 when it
 * failed (the error is printed as {"ok": 0, "errmsg": ..., "code": ...,
 * "domain": ...}), 2 on a bad command line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

static void print_error(const bson_error_t *e, const bson_t *reply)
{
    bson_t out = BSON_INITIALIZER;
    char *json;

    BSON_APPEND_INT32(&out, "ok", 0);
    BSON_APPEND_UTF8(&out, "errmsg", e->message);
    BSON_APPEND_INT32(&out, "code", (int32_t)e->code);
    BSON_APPEND_INT32(&out, "domain", (int32_t)e->domain);
    if (reply != NULL && !bson_empty(reply))
        BSON_APPEND_DOCUMENT(&out, "reply", reply);
    json = bson_as_canonical_extended_json(&out, NULL);
    printf("%s\n", json);
    bson_free(json);
    bson_destroy(&out);
}

int main(int argc, char **argv)
{
    mongoc_uri_t *uri;
    mongoc_client_t *client;
    bson_t *cmd, reply;
    bson_error_t e;
    char *json;
    int ok;

    if (argc != 4) {
        fprintf(stderr, "usage: parley-mongo-cmd URI DATABASE 'COMMAND as extended JSON'\n");
        return 2;
    }
    mongoc_init();
    uri = mongoc_uri_new_with_error(argv[1], &e);
    if (uri == NULL) {
        fprintf(stderr, "parley-mongo-cmd: bad URI: %s\n", e.message);
        return 2;
    }
    cmd = bson_new_from_json((const uint8_t *)argv[3], -1, &e);
    if (cmd == NULL) {
        fprintf(stderr, "parley-mongo-cmd: bad command JSON: %s\n", e.message);
        mongoc_uri_destroy(uri);
        return 2;
    }
    if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 3000);
    if (!mongoc_uri_has_option(uri, MONGOC_URI_SOCKETTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, 5000);
    client = mongoc_client_new_from_uri(uri);
    mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
    ok = mongoc_client_command_simple(client, argv[2], cmd, NULL, &reply, &e);
    if (ok) {
        json = bson_as_canonical_extended_json(&reply, NULL);
        printf("%s\n", json);
        bson_free(json);
    } else {
        print_error(&e, &reply);
    }
    bson_destroy(&reply);
    bson_destroy(cmd);
    mongoc_client_destroy(client);
    mongoc_uri_destroy(uri);
    mongoc_cleanup();
    return ok ? 0 : 1;
}
