/*
 * Custom events and namespaces: the handler registry and the clients.
 * See events.h for the rules; loop thread only.
 */
#include "events.h"

#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "host.h"
#include "loader.h"
#include "log.h"
#include "loop.h"

/* R04 of the bad-input corpus: a client that never acknowledges must not
 * grow the table without bound, nor keep entries forever. */
#define ACKS_MAX 1024
#define ACK_TIMEOUT_DEFAULT_MS 30000

struct pending_ack {
    struct pending_ack *next;
    parley_client *client;
    int64_t id;
    parley_ack_done done;
    void *arg;
    parley_timer *timer;
};

struct parley_client {
    parley_host *host;          /* the transport that opened it */
    void *ctx;                  /* its client_ctx */
    char *nsp;
    unsigned depth;             /* handler calls in progress */
    int closed;                 /* client_close was called */
    struct pending_ack *acks;   /* acknowledgements the client owes */
    size_t n_acks;
    uint32_t next_ack_id;
};

static struct {
    parley_event_handler *v;
    size_t n, cap;
    size_t clients;
} reg;

static int name_ok(const char *s)
{
    return s != NULL && s[0] != '\0' && strlen(s) <= PARLEY__EVENTS_NAME_MAX;
}

static int same_event(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static const parley_event_handler *find(const char *nsp, const char *event)
{
    for (size_t i = 0; i < reg.n; i++)
        if (strcmp(reg.v[i].namespace_name, nsp) == 0 && same_event(reg.v[i].event, event))
            return &reg.v[i];
    return NULL;
}

int parley__events_namespace_exists(const char *nsp)
{
    if (nsp == NULL)
        return 0;
    if (strcmp(nsp, "/") == 0)
        return 1;
    for (size_t i = 0; i < reg.n; i++)
        if (strcmp(reg.v[i].namespace_name, nsp) == 0)
            return 1;
    return 0;
}

int parley__event_handler_add(parley_host *host, const parley_event_handler *h,
                              parley_error *err)
{
    parley_event_handler copy;
    const char *who = host != NULL && host->name != NULL ? host->name : "?";

    if (h == NULL || h->struct_size < offsetof(parley_event_handler, arg) + sizeof h->arg)
        return parley_error_set(err, PARLEY_EINVAL,
                                "event handler from '%s': struct_size %u, need at least %zu",
                                who, h != NULL ? (unsigned)h->struct_size : 0u,
                                offsetof(parley_event_handler, arg) + sizeof h->arg);
    if (!name_ok(h->namespace_name) || h->namespace_name[0] != '/')
        return parley_error_set(err, PARLEY_EINVAL,
                                "event handler from '%s': namespace '%s' must start with '/' "
                                "and be at most %d bytes", who,
                                h->namespace_name != NULL ? h->namespace_name : "(null)",
                                PARLEY__EVENTS_NAME_MAX);
    if (h->event != NULL && !name_ok(h->event))
        return parley_error_set(err, PARLEY_EINVAL,
                                "event handler from '%s' on '%s': the event name must be 1..%d "
                                "bytes", who, h->namespace_name, PARLEY__EVENTS_NAME_MAX);
    if (h->event != NULL && h->on_event == NULL)
        return parley_error_set(err, PARLEY_EINVAL,
                                "event handler from '%s' on '%s' for '%s': on_event is required "
                                "when event is set", who, h->namespace_name, h->event);
    if (find(h->namespace_name, h->event) != NULL)
        return parley_error_set(err, PARLEY_EEXIST,
                                "event handler from '%s': namespace '%s' event '%s' already "
                                "has a handler", who, h->namespace_name,
                                h->event != NULL ? h->event : "(connect/disconnect)");
    if (parley__array_grow((void **)&reg.v, &reg.cap, reg.n + 1, sizeof *reg.v) != 0)
        return parley_error_set(err, PARLEY_ENOMEM, "event handler: out of memory");
    memset(&copy, 0, sizeof copy);
    memcpy(&copy, h, h->struct_size < sizeof copy ? h->struct_size : sizeof copy);
    copy.struct_size = sizeof copy;
    reg.v[reg.n++] = copy;
    parley__log(PARLEY_LOG_DEBUG, "events", "%s: handler on '%s' for %s", who,
                h->namespace_name, h->event != NULL ? h->event : "connect/disconnect");
    return 0;
}

static void client_free(parley_client *c)
{
    free(c->nsp);
    free(c);
    reg.clients--;
}

/* After a handler call: free a client closed meanwhile, once the
 * outermost call is over. Returns non-zero when it was freed. */
static int client_leave(parley_client *c)
{
    if (--c->depth == 0 && c->closed) {
        client_free(c);
        return 1;
    }
    return 0;
}

static void run_disconnect(parley_client *c)
{
    /* Index loop: a handler may register more handlers (realloc). */
    for (size_t i = 0; i < reg.n; i++) {
        parley_event_handler h = reg.v[i];

        if (h.on_disconnect == NULL || strcmp(h.namespace_name, c->nsp) != 0)
            continue;
        h.on_disconnect(h.arg, c);
    }
}

parley_client *parley__client_open(parley_host *host, const char *nsp, void *client_ctx,
                                   const parley_event_args *auth, parley_error *err)
{
    static const parley_event_args no_auth = { sizeof(parley_event_args), "[]", 2, NULL, 0 };
    parley_client *c;

    if (host == NULL || nsp == NULL) {
        parley_error_set(err, PARLEY_EINVAL, "client_open: no host or namespace");
        return NULL;
    }
    if (!parley__events_namespace_exists(nsp)) {
        parley_error_set(err, PARLEY_ENOTFOUND, "Invalid namespace");
        return NULL;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL || (c->nsp = strdup(nsp)) == NULL) {
        free(c);
        parley_error_set(err, PARLEY_ENOMEM, "client_open: out of memory");
        return NULL;
    }
    c->host = host;
    c->ctx = client_ctx;
    reg.clients++;
    if (auth == NULL)
        auth = &no_auth;

    c->depth++;
    for (size_t i = 0; i < reg.n && !c->closed; i++) {
        parley_event_handler h = reg.v[i];

        if (h.on_connect == NULL || strcmp(h.namespace_name, nsp) != 0)
            continue;
        h.on_connect(h.arg, c, auth);
    }
    /* The transport has no handle yet, so nothing can have closed it but a
     * bug; still, never hand out a freed client. */
    if (client_leave(c)) {
        parley_error_set(err, PARLEY_ECLOSED, "client closed while connecting");
        return NULL;
    }
    return c;
}

static void ack_finish(struct pending_ack *pa, int status, const parley_event_args *reply)
{
    parley__timer_stop(pa->timer);
    pa->done(pa->arg, status, reply);
    free(pa);
}

/* Unlink the pending acknowledgement `id` of c, or NULL. */
static struct pending_ack *ack_take(parley_client *c, int64_t id)
{
    for (struct pending_ack **pp = &c->acks; *pp != NULL; pp = &(*pp)->next) {
        struct pending_ack *pa = *pp;

        if (pa->id != id)
            continue;
        *pp = pa->next;
        c->n_acks--;
        return pa;
    }
    return NULL;
}

static void fail_pending_acks(parley_client *c)
{
    while (c->acks != NULL) {
        struct pending_ack *pa = c->acks;

        c->acks = pa->next;
        c->n_acks--;
        ack_finish(pa, PARLEY_ECLOSED, NULL);
    }
}

void parley__client_close(parley_client *c)
{
    if (c == NULL || c->closed)
        return;
    c->closed = 1;
    c->depth++;
    fail_pending_acks(c);
    run_disconnect(c);
    client_leave(c);
}

int parley__client_event(parley_client *c, const char *event, const parley_event_args *args,
                         int64_t ack_id)
{
    static const parley_event_args no_args = { sizeof(parley_event_args), "[]", 2, NULL, 0 };
    const parley_event_handler *found;
    parley_event_handler h;

    if (c == NULL || event == NULL)
        return PARLEY_EINVAL;
    if (c->closed)
        return PARLEY_ECLOSED;
    found = find(c->nsp, event);
    if (found == NULL)
        return PARLEY_ENOTFOUND;
    h = *found;
    c->depth++;
    h.on_event(h.arg, c, event, args != NULL ? args : &no_args, ack_id);
    client_leave(c);
    return 0;
}

static const parley_transport_vtable *vtable_of(const parley_host *host)
{
    if (host->transport != NULL)
        return host->transport;
    if (host->plugin != NULL)
        return host->plugin->transport;
    return NULL;
}

static const parley_transport_vtable *emitter_of(const parley_client *c)
{
    const parley_transport_vtable *vt = vtable_of(c->host);

    if (vt == NULL || !PARLEY_HAS_FIELD(vt, parley_transport_vtable, client_emit) ||
        vt->client_emit == NULL)
        return NULL;
    return vt;
}

int parley__client_emit(parley_client *c, const char *event, const parley_event_args *args)
{
    const parley_transport_vtable *vt;
    static const parley_event_args no_args = { sizeof(parley_event_args), "[]", 2, NULL, 0 };

    if (c == NULL || event == NULL || event[0] == '\0')
        return PARLEY_EINVAL;
    if (c->closed)
        return PARLEY_ECLOSED;
    vt = emitter_of(c);
    if (vt == NULL)
        return PARLEY_ENOTFOUND;
    return vt->client_emit(c->host->instance, c->ctx, event, args != NULL ? args : &no_args,
                           PARLEY_NO_ACK);
}

static void ack_timed_out(void *arg)
{
    struct pending_ack *pa = arg;
    parley_client *c = pa->client;

    ack_take(c, pa->id);
    ack_finish(pa, PARLEY_ETIMEDOUT, NULL);
}

int parley__client_emit_ack(parley_client *c, const char *event, const parley_event_args *args,
                            uint64_t timeout_ms, parley_ack_done done, void *arg)
{
    static const parley_event_args no_args = { sizeof(parley_event_args), "[]", 2, NULL, 0 };
    const parley_transport_vtable *vt;
    struct pending_ack *pa;
    int rc;

    if (c == NULL || event == NULL || event[0] == '\0' || done == NULL)
        return PARLEY_EINVAL;
    if (c->closed)
        return PARLEY_ECLOSED;
    if (c->n_acks >= ACKS_MAX)
        return PARLEY_ELIMIT;
    vt = emitter_of(c);
    if (vt == NULL)
        return PARLEY_ENOTFOUND;
    pa = calloc(1, sizeof *pa);
    if (pa == NULL)
        return PARLEY_ENOMEM;
    pa->client = c;
    pa->id = c->next_ack_id++;
    pa->done = done;
    pa->arg = arg;
    pa->timer = parley__timer_start(c->host, timeout_ms ? timeout_ms : ACK_TIMEOUT_DEFAULT_MS, 0,
                                    ack_timed_out, pa);
    if (pa->timer == NULL) {
        free(pa);
        return PARLEY_ENOMEM;
    }
    /* Held across the emit: the transport may close the client inside it. */
    c->depth++;
    rc = vt->client_emit(c->host->instance, c->ctx, event, args != NULL ? args : &no_args, pa->id);
    if (rc == 0 && !c->closed) {
        pa->next = c->acks;
        c->acks = pa;
        c->n_acks++;
    } else {
        parley__timer_stop(pa->timer);
        free(pa);
        if (rc == 0)
            rc = PARLEY_ECLOSED;
    }
    client_leave(c);
    return rc;
}

int parley__client_ack_reply(parley_client *c, int64_t ack_id, const parley_event_args *reply)
{
    static const parley_event_args no_args = { sizeof(parley_event_args), "[]", 2, NULL, 0 };
    struct pending_ack *pa;

    if (c == NULL)
        return PARLEY_EINVAL;
    if (c->closed)
        return PARLEY_ECLOSED;
    pa = ack_take(c, ack_id);
    if (pa == NULL)
        return PARLEY_ENOTFOUND;
    c->depth++;
    ack_finish(pa, 0, reply != NULL ? reply : &no_args);
    client_leave(c);
    return 0;
}

int parley__client_ack(parley_client *c, int64_t ack_id, const parley_event_args *args)
{
    const parley_transport_vtable *vt;
    static const parley_event_args no_args = { sizeof(parley_event_args), "[]", 2, NULL, 0 };

    if (c == NULL || ack_id < 0)
        return PARLEY_EINVAL;
    if (c->closed)
        return PARLEY_ECLOSED;
    vt = vtable_of(c->host);
    if (vt == NULL || !PARLEY_HAS_FIELD(vt, parley_transport_vtable, client_ack) ||
        vt->client_ack == NULL)
        return PARLEY_ENOTFOUND;
    return vt->client_ack(c->host->instance, c->ctx, ack_id, args != NULL ? args : &no_args);
}

const char *parley__client_namespace(const parley_client *c)
{
    return c != NULL ? c->nsp : NULL;
}

size_t parley__events_handler_count(void)
{
    return reg.n;
}

size_t parley__events_client_count(void)
{
    return reg.clients;
}

void parley__events_free(void)
{
    free(reg.v);
    reg.v = NULL;
    reg.n = reg.cap = 0;
}
