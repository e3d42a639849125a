/*
 * Custom events and namespaces (sdk transport.h, host.h): the registry of
 * parley_event_handler by (namespace, event), and the clients transports
 * open on those namespaces.
 *
 * A namespace exists when "/" or when some handler names it. A client is
 * one connection's membership of one namespace; it belongs to the transport
 * whose parley_host opened it, and what handlers emit or ack goes back
 * through that transport's client_emit / client_ack slots with the
 * client_ctx it passed to client_open.
 *
 * Re-entrancy: any handler may cause its transport to close the client
 * (an emit that overflows a send queue, say); the transport then calls
 * client_close while a handler of that client is still running. The close
 * runs the on_disconnect handlers at once and frees the handle once the
 * outermost handler call has returned; until then emits and acks answer
 * PARLEY_ECLOSED and no further handler runs. The host never touches a
 * client_ctx after the transport's client_emit / client_ack returned, so a
 * transport may close the client (and free that ctx) from inside them.
 *
 * Handlers are copied at registration (their strings must stay valid, as
 * host.h says); handlers registered while a callback runs apply to later
 * events. Loop thread only.
 */
#ifndef PARLEY__EVENTS_H
#define PARLEY__EVENTS_H

#include <parley/parley.h>

/* Longest namespace or event name the registry takes (bytes, NUL excluded). */
#define PARLEY__EVENTS_NAME_MAX 256

/* SDK functions (host.h). */
int parley__event_handler_add(parley_host *host, const parley_event_handler *handler,
                              parley_error *err);
parley_client *parley__client_open(parley_host *host, const char *namespace_name,
                                   void *client_ctx, const parley_event_args *auth,
                                   parley_error *err);
void parley__client_close(parley_client *client);
int parley__client_event(parley_client *client, const char *event,
                         const parley_event_args *args, int64_t ack_id);
int parley__client_emit(parley_client *client, const char *event,
                        const parley_event_args *args);
int parley__client_ack(parley_client *client, int64_t ack_id, const parley_event_args *args);
const char *parley__client_namespace(const parley_client *client);
int parley__client_emit_ack(parley_client *client, const char *event,
                            const parley_event_args *args, uint64_t timeout_ms,
                            parley_ack_done done, void *arg);
int parley__client_ack_reply(parley_client *client, int64_t ack_id,
                             const parley_event_args *reply);

/* Non-zero when `namespace_name` exists ("/" always does). */
int parley__events_namespace_exists(const char *namespace_name);
/* Registered handlers and open clients, for tests and metrics. */
size_t parley__events_handler_count(void);
size_t parley__events_client_count(void);
/* Forget every handler (shutdown, tests). Open clients keep working but
 * find no handlers any more. */
void parley__events_free(void);

#endif /* PARLEY__EVENTS_H */
