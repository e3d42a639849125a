/*
 * The bridge between Socket.IO namespaces and the host's custom events
 * (sdk transport.h): a CONNECT opens a host client on that namespace, every
 * event the chat does not handle goes to client_event, and what handlers
 * emit or ack comes back through the vtable slots here.
 *
 * The CONNECT answer must precede whatever on_connect handlers emit (the
 * official suite expects 40{"sid"} and then 42["auth",...]), but the host
 * runs those handlers inside client_open, before we know whether the
 * namespace exists. So a namespace is "connecting" during client_open and
 * its emits are buffered (bounded), then sent after the 40, or dropped with
 * the 44 when the namespace does not exist.
 */
#include <stdlib.h>
#include <string.h>

#include "socketio.h"

static const parley_event_args no_args = { sizeof(parley_event_args), "[]", 2, NULL, 0 };

static struct sio_ns *ns_new(struct sio_conn *c, const char *nsp, size_t len)
{
    struct sio_ns *ns = calloc(1, sizeof *ns + len + 1);

    if (ns == NULL)
        return NULL;
    ns->conn = c;
    ns->nsp_len = len;
    memcpy(ns->nsp, nsp, len);
    ns->pend_tail = &ns->pend;
    return ns;
}

static void ns_unlink(struct sio_conn *c, struct sio_ns *ns)
{
    for (struct sio_ns **pp = &c->nss; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == ns) {
            *pp = ns->next;
            c->n_ns--;
            return;
        }
    }
}

static void send_connect_error(struct sio_ns *tmp, const char *message)
{
    parley_error err = PARLEY_ERROR_INIT;
    cJSON *o = cJSON_CreateObject();
    char *json;

    if (o == NULL)
        return;
    cJSON_AddStringToObject(o, "message", message);
    json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (json == NULL)
        return;
    sio_out out = { .type = SIO_CONNECT_ERROR, .nsp = tmp->nsp, .nsp_len = tmp->nsp_len,
                    .json = json, .json_len = strlen(json) };
    sio_ns_send(tmp, &out, NULL, 0, &err);
    cJSON_free(json);
}

/* A Socket.IO socket id: 20 characters of the base64url alphabet from the
 * host's CSPRNG, like Node's base64id. */
static void new_sid(struct sio_plugin *pl, char out[21])
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char r[20];

    if (pl->api->random_bytes(pl->host, r, sizeof r) < 0)
        memset(r, 0, sizeof r);
    for (size_t i = 0; i < sizeof r; i++)
        out[i] = abc[r[i] & 63];
    out[20] = '\0';
}

void sio_events_connect(struct sio_conn *c, sio_message *m)
{
    struct sio_plugin *pl = c->pl;
    parley_error err = PARLEY_ERROR_INIT;
    parley_event_args auth = no_args;
    struct sio_ns *ns;
    char *auth_json = NULL;
    char sid[21], reply[40];
    parley_client *client;
    int is_main = m->pkt.nsp_len == 1;

    ns = ns_new(c, m->pkt.nsp, m->pkt.nsp_len);
    if (ns == NULL) {
        sio_conn_fail(c, "out_of_memory", "namespace state");
        return;
    }
    if (m->pkt.data != NULL) {
        auth_json = sio_args_json(&m->pkt, &auth.json_len);
        if (auth_json == NULL) {
            free(ns);
            sio_conn_fail(c, "out_of_memory", "auth payload");
            return;
        }
        auth.json = auth_json;
    }
    if (is_main && c->session == NULL) {
        c->session = pl->api->session_open(pl->host, c, &err);
        if (c->session == NULL) {
            pl->api->log(pl->host, PARLEY_LOG_WARN, "chat session refused: %s", err.message);
            send_connect_error(ns, err.message);
            free(ns);
            cJSON_free(auth_json);
            return;
        }
    }

    /* Linked before client_open, so the conn's teardown finds it should
     * a handler's emit close the connection. */
    ns->connecting = 1;
    ns->next = c->nss;
    c->nss = ns;
    c->n_ns++;
    sio_conn_ref(c);
    client = pl->api->client_open(pl->host, ns->nsp, ns, &auth, &err);
    cJSON_free(auth_json);
    if (c->closed) {
        /* Torn down meanwhile: ns is gone (freed by the teardown). */
        pl->api->client_close(client);
        sio_conn_unref(c);
        return;
    }
    sio_conn_unref(c);
    ns->connecting = 0;
    if (client == NULL) {
        ns_unlink(c, ns);
        sio_ns_drop_pending(ns);
        send_connect_error(ns, err.message);
        if (is_main && c->session != NULL) {
            parley_session *s = c->session;

            c->session = NULL;
            pl->api->session_close(s);
        }
        free(ns);
        return;
    }
    ns->client = client;
    if (c->connect_timer != NULL) {
        pl->api->timer_stop(c->connect_timer);
        c->connect_timer = NULL;
    }
    new_sid(pl, sid);
    snprintf(reply, sizeof reply, "{\"sid\":\"%s\"}", sid);
    sio_out out = { .type = SIO_CONNECT, .nsp = ns->nsp, .nsp_len = ns->nsp_len,
                    .json = reply, .json_len = strlen(reply) };
    sio_ns_send(ns, &out, NULL, 0, &err);
    /* A send can close the connection (on_close runs inside it, freeing
     * ns); the caller's reference keeps c. */
    if (!c->closed)
        sio_ns_flush(ns);
}

void sio_events_leave(struct sio_conn *c, struct sio_ns *ns)
{
    struct sio_plugin *pl = c->pl;
    parley_client *client = ns->client;
    int is_main = ns->nsp_len == 1;

    ns_unlink(c, ns);
    ns->client = NULL;
    sio_ns_drop_pending(ns);
    /* on_disconnect handlers run inside client_close while ns still
     * exists; the host refuses their emits (the client is closed). */
    if (client != NULL)
        pl->api->client_close(client);
    free(ns);
    if (is_main && c->session != NULL) {
        parley_session *s = c->session;

        c->session = NULL;
        free(c->room);
        c->room = NULL;
        pl->api->session_close(s);
    }
}

/* The decoded packet's arguments as parley_event_args: the JSON array
 * (cJSON_free it) and the attachments (in `blobs` when they fit, else
 * malloc'd: free it when it is not `blobs`). NULL json when out of memory. */
struct event_args {
    parley_event_args args;
    char *json;
    parley_blob *att;
    parley_blob blobs[16];
};

static int event_args_build(struct event_args *ea, sio_message *m)
{
    size_t n = m->pkt.attachments;

    ea->args = no_args;
    ea->att = ea->blobs;
    ea->json = sio_args_json(&m->pkt, &ea->args.json_len);
    if (ea->json == NULL)
        return PARLEY_ENOMEM;
    ea->args.json = ea->json;
    if (n > sizeof ea->blobs / sizeof ea->blobs[0]) {
        ea->att = malloc(n * sizeof *ea->att);
        if (ea->att == NULL) {
            cJSON_free(ea->json);
            return PARLEY_ENOMEM;
        }
    }
    for (size_t i = 0; i < n; i++) {
        ea->att[i].data = m->att[i].bytes;
        ea->att[i].len = m->att[i].len;
    }
    ea->args.attachments = n > 0 ? ea->att : NULL;
    ea->args.n_attachments = n;
    return 0;
}

static void event_args_free(struct event_args *ea)
{
    if (ea->att != ea->blobs)
        free(ea->att);
    cJSON_free(ea->json);
}

void sio_events_dispatch(struct sio_ns *ns, sio_message *m)
{
    struct sio_conn *c = ns->conn;
    struct sio_plugin *pl = c->pl;
    struct event_args ea;
    int rc;

    if (ns->client == NULL)
        return;
    if (event_args_build(&ea, m) < 0) {
        sio_conn_fail(c, "out_of_memory", "event arguments");
        return;
    }
    /* ns may be freed by what the handler does; do not touch it after. */
    rc = pl->api->client_event(ns->client, m->pkt.event, &ea.args,
                               m->pkt.has_ack ? (int64_t)m->pkt.ack_id : PARLEY_NO_ACK);
    if (rc == PARLEY_ENOTFOUND)
        pl->api->log(pl->host, PARLEY_LOG_DEBUG, "no handler for event '%s'", m->pkt.event);
    event_args_free(&ea);
}

void sio_events_ack_reply(struct sio_ns *ns, sio_message *m)
{
    struct sio_conn *c = ns->conn;
    struct sio_plugin *pl = c->pl;
    struct event_args ea;

    if (ns->client == NULL) {
        sio_count_error(pl, "unknown_ack");
        return;
    }
    if (event_args_build(&ea, m) < 0) {
        sio_conn_fail(c, "out_of_memory", "acknowledgement arguments");
        return;
    }
    /* An ACK for nothing we asked (or one that timed out) is dropped and
     * counted: bad-inputs S24. */
    if (pl->api->client_ack_reply(ns->client, (int64_t)m->pkt.ack_id, &ea.args) < 0)
        sio_count_error(pl, "unknown_ack");
    event_args_free(&ea);
}

/* ---- vtable slots: handlers → client ---------------------------------- */

int sio_events_client_emit(void *instance, void *client_ctx, const char *event,
                           const parley_event_args *args, int64_t ack_id)
{
    struct sio_ns *ns = client_ctx;
    parley_error err = PARLEY_ERROR_INIT;
    size_t elen = strlen(event), need, written;
    char *payload;
    int rc;

    (void)instance;
    if (args == NULL)
        args = &no_args;
    need = sio_event_payload_size(event, elen, args->json, args->json_len);
    if (need == 0)
        return PARLEY_EINVAL;
    payload = malloc(need);
    if (payload == NULL)
        return PARLEY_ENOMEM;
    rc = sio_event_payload(event, elen, args->json, args->json_len, payload, need, &written,
                           &err);
    if (rc < 0) {
        free(payload);
        return rc;
    }
    if (ack_id != PARLEY_NO_ACK && (ack_id < 0 || ack_id > (int64_t)UINT32_MAX)) {
        free(payload);
        return PARLEY_EINVAL;
    }
    sio_out o = { .type = args->n_attachments > 0 ? SIO_BINARY_EVENT : SIO_EVENT,
                  .nsp = ns->nsp, .nsp_len = ns->nsp_len,
                  .has_ack = ack_id != PARLEY_NO_ACK, .ack_id = (uint32_t)ack_id,
                  .attachments = (uint32_t)args->n_attachments,
                  .json = payload, .json_len = written };
    rc = sio_ns_send(ns, &o, args->attachments, args->n_attachments, &err);
    free(payload);
    return rc;
}

int sio_events_client_ack(void *instance, void *client_ctx, int64_t ack_id,
                          const parley_event_args *args)
{
    struct sio_ns *ns = client_ctx;
    parley_error err = PARLEY_ERROR_INIT;

    (void)instance;
    if (ack_id < 0 || ack_id > (int64_t)UINT32_MAX)
        return PARLEY_EINVAL;
    if (args == NULL)
        args = &no_args;
    sio_out o = { .type = args->n_attachments > 0 ? SIO_BINARY_ACK : SIO_ACK,
                  .nsp = ns->nsp, .nsp_len = ns->nsp_len, .has_ack = 1,
                  .ack_id = (uint32_t)ack_id, .attachments = (uint32_t)args->n_attachments,
                  .json = args->json, .json_len = args->json_len };
    return sio_ns_send(ns, &o, args->attachments, args->n_attachments, &err);
}
