/*
 * One Engine.IO connection's Socket.IO state: the packet decoder, the
 * namespaces it joined, the connect timeout, and the state rules the codec
 * leaves to us (socket.io client.ts ondecoded): a packet for a namespace
 * not joined, a repeated CONNECT, and every decode error close the whole
 * connection; so does no CONNECT within connect_timeout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socketio.h"

struct sio_pending {
    struct sio_pending *next;
    parley_frame *frame;         /* a text packet, or NULL for binary */
    size_t len;
    uint8_t bytes[];             /* binary attachment */
};

void sio_conn_ref(struct sio_conn *c)
{
    c->refs++;
}

void sio_conn_unref(struct sio_conn *c)
{
    if (--c->refs > 0)
        return;
    sio_decoder_reset(&c->dec);
    sio_chat_drop_held(c);
    free(c->room);
    free(c);
}

static void connect_timeout(void *arg)
{
    struct sio_conn *c = arg;
    parley_timer *t = c->connect_timer;

    c->connect_timer = NULL;
    c->pl->api->timer_stop(t);
    if (c->n_ns == 0)
        sio_conn_fail(c, "connect_timeout", "no CONNECT packet within connect_timeout");
}

struct sio_conn *sio_conn_new(struct sio_plugin *pl, struct eio_socket *s)
{
    struct sio_conn *c = calloc(1, sizeof *c);

    if (c == NULL)
        return NULL;
    c->pl = pl;
    c->s = s;
    c->refs = 1;
    sio_decoder_init(&c->dec, &pl->lim);
    c->tokens_milli = (uint64_t)pl->event_burst * 1000;
    c->tokens_at_ms = pl->api->now_ms(pl->host);
    c->connect_timer = pl->api->timer_start(pl->host, pl->connect_timeout_ms, 0,
                                            connect_timeout, c);
    return c;
}

void sio_conn_fail(struct sio_conn *c, const char *reason, const char *detail)
{
    if (c->closed || c->failing)
        return;
    c->failing = 1;
    sio_count_error(c->pl, reason);
    c->pl->api->log(c->pl->host, PARLEY_LOG_DEBUG, "%s: closing: %s (%s)",
                    eio_sid(c->s), reason, detail != NULL ? detail : "");
    /* The engine may call on_close from inside eio_close; callers return
     * right after this and touch nothing but the (referenced) conn. */
    eio_close(c->s, reason);
}

struct sio_ns *sio_conn_find_ns(struct sio_conn *c, const char *nsp, size_t len)
{
    for (struct sio_ns *ns = c->nss; ns != NULL; ns = ns->next)
        if (ns->nsp_len == len && memcmp(ns->nsp, nsp, len) == 0)
            return ns;
    return NULL;
}

/* ---- sending ---------------------------------------------------------- */

static parley_frame *encode_frame(struct sio_plugin *pl, const sio_out *o, parley_error *err)
{
    sio_out eo = *o;
    size_t need, written = 0;
    parley_frame *f;
    char *data;

    eo.eio_message = 1;
    need = sio_encoded_size(&eo);
    f = pl->api->frame_alloc(pl->host, need, 0, &data);
    if (f == NULL) {
        parley_error_set(err, PARLEY_ENOMEM, "out of memory for a %zu-byte packet", need);
        return NULL;
    }
    if (sio_encode(&eo, data, need, &written, err) < 0) {
        pl->api->frame_release(f);
        return NULL;
    }
    pl->api->frame_truncate(f, written);
    return f;
}

static int pend_add(struct sio_ns *ns, parley_frame *f, const void *bytes, size_t len)
{
    struct sio_pending *p;

    if (ns->pend_bytes + len > ns->conn->pl->pending_max)
        return PARLEY_ELIMIT;
    p = malloc(sizeof *p + (f == NULL ? len : 0));
    if (p == NULL)
        return PARLEY_ENOMEM;
    p->next = NULL;
    p->frame = f;
    p->len = len;
    if (f == NULL && len > 0)
        memcpy(p->bytes, bytes, len);
    *ns->pend_tail = p;
    ns->pend_tail = &p->next;
    ns->pend_bytes += len;
    return 0;
}

/* Send what handlers emitted while the namespace was connecting, after
 * the CONNECT answer. */
void sio_ns_flush(struct sio_ns *ns)
{
    struct sio_conn *c = ns->conn;
    struct sio_pending *p = ns->pend;

    ns->pend = NULL;
    ns->pend_tail = &ns->pend;
    ns->pend_bytes = 0;
    while (p != NULL) {
        struct sio_pending *next = p->next;

        if (!c->closed && !c->failing) {
            if (p->frame != NULL)
                eio_send_frame(c->s, p->frame);
            else
                eio_send_binary(c->s, p->bytes, p->len);
        }
        if (p->frame != NULL)
            c->pl->api->frame_release(p->frame);
        free(p);
        p = next;
    }
}

void sio_ns_drop_pending(struct sio_ns *ns)
{
    while (ns->pend != NULL) {
        struct sio_pending *p = ns->pend;

        ns->pend = p->next;
        if (p->frame != NULL)
            ns->conn->pl->api->frame_release(p->frame);
        free(p);
    }
    ns->pend_tail = &ns->pend;
    ns->pend_bytes = 0;
}

int sio_ns_send(struct sio_ns *ns, const sio_out *o, const parley_blob *att, size_t n_att,
                parley_error *err)
{
    struct sio_conn *c = ns->conn;
    parley_frame *f;
    size_t flen;
    int rc;

    if (c->closed || c->failing)
        return PARLEY_ECLOSED;
    f = encode_frame(c->pl, o, err);
    if (f == NULL)
        return err != NULL && err->code < 0 ? err->code : PARLEY_ENOMEM;
    if (ns->connecting) {
        c->pl->api->frame_data(f, &flen);
        rc = pend_add(ns, f, NULL, flen);
        if (rc < 0) {
            c->pl->api->frame_release(f);
            return rc;
        }
        for (size_t i = 0; i < n_att; i++) {
            rc = pend_add(ns, NULL, att[i].data, att[i].len);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    rc = eio_send_frame(c->s, f);
    c->pl->api->frame_release(f);
    for (size_t i = 0; rc >= 0 && i < n_att && !c->closed; i++)
        rc = eio_send_binary(c->s, att[i].data, att[i].len);
    return rc < 0 ? rc : 0;
}

static struct sio_ns *main_ns(struct sio_conn *c)
{
    return sio_conn_find_ns(c, "/", 1);
}

int sio_conn_emit(struct sio_conn *c, const char *event, const char *json, size_t len)
{
    struct sio_ns *ns = main_ns(c);
    parley_error err = PARLEY_ERROR_INIT;
    size_t elen = strlen(event), plen;
    char *payload;
    int rc;

    if (ns == NULL)
        return PARLEY_ECLOSED;
    /* ["<event>",<json>] */
    plen = elen + len + 5;
    payload = malloc(plen + 1);
    if (payload == NULL)
        return PARLEY_ENOMEM;
    plen = (size_t)snprintf(payload, plen + 1, "[\"%s\",%.*s]", event, (int)len, json);
    sio_out o = { .type = SIO_EVENT, .json = payload, .json_len = plen };
    rc = sio_ns_send(ns, &o, NULL, 0, &err);
    free(payload);
    return rc;
}

int sio_conn_ack(struct sio_conn *c, uint32_t id, const char *json, size_t len)
{
    struct sio_ns *ns = main_ns(c);
    parley_error err = PARLEY_ERROR_INIT;

    if (ns == NULL)
        return PARLEY_ECLOSED;
    sio_out o = { .type = SIO_ACK, .has_ack = 1, .ack_id = id, .json = json, .json_len = len };
    return sio_ns_send(ns, &o, NULL, 0, &err);
}

/* ---- receiving -------------------------------------------------------- */

/* The token bucket (event_rate per second, event_burst deep): 1 when the
 * event may go on. Tokens are kept in thousandths so that rates below one
 * per millisecond still refill between two events. */
static int rate_take(struct sio_conn *c)
{
    struct sio_plugin *pl = c->pl;
    uint64_t now = pl->api->now_ms(pl->host), cap = (uint64_t)pl->event_burst * 1000;

    if (pl->event_rate == 0)
        return 1;
    if (now > c->tokens_at_ms) {
        uint64_t add = (now - c->tokens_at_ms) * pl->event_rate;

        c->tokens_milli = c->tokens_milli + add > cap ? cap : c->tokens_milli + add;
        c->tokens_at_ms = now;
    }
    if (c->tokens_milli < 1000)
        return 0;
    c->tokens_milli -= 1000;
    return 1;
}

/* An event over the rate: the client is told (its ack, else an `error`
 * event); event_burst refusals in a row end the connection ("too many
 * requests", after a DISCONNECT so socket.io-client reports "io server
 * disconnect" and does not reconnect at once). */
static void rate_refuse(struct sio_conn *c, struct sio_ns *ns, sio_message *m)
{
    static const char body[] =
        "[{\"ok\":false,\"error\":\"too many requests\",\"code\":\"rate_limited\"}]";
    static const char event[] = "{\"message\":\"too many requests\",\"code\":\"rate_limited\"}";
    struct sio_plugin *pl = c->pl;
    parley_error err = PARLEY_ERROR_INIT;

    pl->api->metric_add(pl->m_rate_limited, 1);
    if (++c->refused_in_a_row >= pl->event_burst) {
        sio_out o = { .type = SIO_DISCONNECT, .nsp = ns->nsp, .nsp_len = ns->nsp_len };

        (void)sio_ns_send(ns, &o, NULL, 0, &err);
        sio_conn_fail(c, "rate_limited", "too many requests: event_burst events refused in a row");
        return;
    }
    if (m->pkt.has_ack) {
        sio_out o = { .type = SIO_ACK, .nsp = ns->nsp, .nsp_len = ns->nsp_len, .has_ack = 1,
                      .ack_id = m->pkt.ack_id, .json = body, .json_len = sizeof body - 1 };

        (void)sio_ns_send(ns, &o, NULL, 0, &err);
        return;
    }
    if (ns->nsp_len == 1)
        (void)sio_conn_emit(c, "error", event, sizeof event - 1);
}

static void on_event(struct sio_conn *c, struct sio_ns *ns, sio_message *m)
{
    c->pl->api->metric_add(c->pl->m_events, 1);
    if (!rate_take(c)) {
        rate_refuse(c, ns, m);
        return;
    }
    c->refused_in_a_row = 0;
    if (ns->nsp_len == 1 && sio_chat_is_event(m->pkt.event)) {
        sio_chat_event(c, m);
        return;
    }
    sio_events_dispatch(ns, m);
}

static void handle(struct sio_conn *c, sio_message *m)
{
    sio_packet *p = &m->pkt;
    struct sio_ns *ns = sio_conn_find_ns(c, p->nsp, p->nsp_len);

    switch (p->type) {
    case SIO_CONNECT:
        if (ns != NULL) {
            sio_conn_fail(c, "invalid_state", "CONNECT to a namespace already joined");
            return;
        }
        if (c->n_ns >= c->pl->max_namespaces) {
            sio_conn_fail(c, "too_many_namespaces", "max namespaces per connection reached");
            return;
        }
        sio_events_connect(c, m);
        return;
    case SIO_DISCONNECT:
        if (ns == NULL) {
            sio_conn_fail(c, "invalid_state", "DISCONNECT from a namespace not joined");
            return;
        }
        sio_events_leave(c, ns);
        return;
    case SIO_EVENT:
    case SIO_BINARY_EVENT:
        if (ns == NULL || ns->connecting) {
            sio_conn_fail(c, "invalid_state", "EVENT for a namespace not joined");
            return;
        }
        on_event(c, ns, m);
        return;
    case SIO_ACK:
    case SIO_BINARY_ACK:
        if (ns == NULL) {
            sio_conn_fail(c, "invalid_state", "ACK for a namespace not joined");
            return;
        }
        sio_events_ack_reply(ns, m);
        return;
    default:
        sio_conn_fail(c, "invalid_packet", "packet type not accepted from a client");
        return;
    }
}

void sio_conn_on_message(struct sio_conn *c, const void *data, size_t len, int binary)
{
    parley_error err = PARLEY_ERROR_INIT;
    sio_message m;
    int rc;

    if (c->closed || c->failing)
        return;
    /* Before a CONNECT nothing is authenticated: such a client gets no more
     * than max_connect_bytes per message (bad-inputs.md R01). */
    if (c->n_ns == 0 && len > c->pl->max_connect_bytes) {
        char why[96];

        snprintf(why, sizeof why, "a %zu-byte message before CONNECT (max_connect_bytes %zu)",
                 len, c->pl->max_connect_bytes);
        sio_conn_fail(c, "limit", why);
        return;
    }
    memset(&m, 0, sizeof m);
    if (binary)
        rc = sio_decoder_binary(&c->dec, data, len, &m, &err);
    else
        rc = sio_decoder_text(&c->dec, data, len, &m, &err);
    if (rc < 0) {
        sio_conn_fail(c, rc == PARLEY_ELIMIT || rc == PARLEY_ETOOBIG ? "limit" : "decode",
                      err.message);
        return;
    }
    if (rc == SIO_PENDING)
        return;
    sio_conn_ref(c);
    handle(c, &m);
    sio_message_clear(&m);
    sio_conn_unref(c);
}

void sio_conn_on_close(struct sio_conn *c, const char *reason)
{
    struct sio_plugin *pl = c->pl;

    (void)reason;
    if (c->closed)
        return;
    c->closed = 1;
    if (c->connect_timer != NULL) {
        pl->api->timer_stop(c->connect_timer);
        c->connect_timer = NULL;
    }
    /* Presence first (user-left to the room), then the namespaces. */
    while (c->nss != NULL)
        sio_events_leave(c, c->nss);
    if (c->session != NULL) {
        parley_session *s = c->session;

        c->session = NULL;
        pl->api->session_close(s);
    }
    c->s = NULL;
    sio_conn_unref(c);
}
