/*
 * Parley plugin SDK — the host services table.
 *
 * The host hands every plugin a `const parley_host_api *` and its own
 * `parley_host *` at create time; a plugin reaches the host only through
 * them (the host binary exports no symbols). The table is append-only:
 * functions added in minor N sit after those of minor N-1, so a plugin that
 * declared min_host_minor = N may call every function up to minor N, and
 * checks PARLEY_HAS_FIELD(api, parley_host_api, fn) before calling a newer
 * one.
 *
 * Threading, stated once and everywhere: every function here must be called
 * on the loop thread, and every callback it takes runs on the loop thread,
 * unless its doc says otherwise. Exactly two ways cross threads: `post`
 * (any thread → loop) and `work` (loop → worker pool → completion on the
 * loop). Logging, metric updates, frame retain/release and the storage
 * completion callbacks of storage.h are safe from any thread.
 */
#ifndef PARLEY_HOST_H
#define PARLEY_HOST_H

#include "abi.h"
#include "plugin.h"
#include "storage.h"
#include "transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Log levels, most severe first. Since 1.0. */
enum parley_log_level {
    PARLEY_LOG_ERROR = 1,
    PARLEY_LOG_WARN = 2,
    PARLEY_LOG_INFO = 3,
    PARLEY_LOG_DEBUG = 4,
    PARLEY_LOG_TRACE = 5
};

/* Metric kinds. Since 1.0. */
enum parley_metric_kind {
    PARLEY_METRIC_COUNTER = 1,
    PARLEY_METRIC_GAUGE = 2,
    PARLEY_METRIC_HISTOGRAM = 3
};

typedef struct parley_timer parley_timer;
typedef struct parley_metric parley_metric;

/*
 * A metric to register. Names follow Prometheus rules
 * ([a-zA-Z_:][a-zA-Z0-9_:]*) and should start with "parley_". `labels` is
 * a fixed label set in exposition syntax, e.g. `transport="rest",code="400"`,
 * or NULL; the same name with other labels is another series of the same
 * family. Histograms take ascending upper bounds (+Inf is implied).
 * Since 1.0.
 */
typedef struct parley_metric_desc {
    uint32_t struct_size;     /* sizeof(parley_metric_desc), since 1.0 */
    uint32_t kind;            /* enum parley_metric_kind, since 1.0 */
    const char *name;         /* since 1.0 */
    const char *help;         /* since 1.0 */
    const char *labels;       /* since 1.0 */
    const double *buckets;    /* HISTOGRAM only, since 1.0 */
    size_t n_buckets;         /* at most 32, since 1.0 */
} parley_metric_desc;

/* A message to post: content from `username` to `room`. Since 1.0. */
typedef struct parley_post {
    uint32_t struct_size;     /* sizeof(parley_post), since 1.0 */
    const char *room;         /* NULL: the configured default room, since 1.0 */
    size_t room_len;
    const char *username;     /* ignored when `session` is set (its joined name is used), since 1.0 */
    size_t username_len;
    const char *content;      /* since 1.0 */
    size_t content_len;
    parley_session *session;  /* the posting session, or NULL (REST); it must have joined `room`, since 1.0 */
} parley_post;

/*
 * Completion of chat_post, on the loop thread: status PARLEY_OK with the
 * stored message (valid only during the call; it has been broadcast to the
 * room by then), or a failure (PARLEY_EUNAVAIL, PARLEY_ETIMEDOUT, ...) with
 * `err` saying why; nothing was broadcast then.
 */
typedef void (*parley_post_done)(void *arg, int status, const parley_message *msg,
                                 const parley_error *err);

/* Completion of chat_history, on the loop thread; see storage.h for the
 * page's shape. `next_before` is the cursor of the next older page (the id
 * of msgs[0]) when has_more, else NULL. */
typedef void (*parley_page_done)(void *arg, int status, const parley_message *msgs, size_t n,
                                 const char *next_before, const parley_error *err);

typedef struct parley_host_api {
    uint32_t struct_size;   /* sizeof(parley_host_api) as the host built it, since 1.0 */
    uint16_t abi_major;     /* the host's PARLEY_ABI_MAJOR, since 1.0 */
    uint16_t abi_minor;     /* the host's PARLEY_ABI_MINOR, since 1.0 */

    /* ---- host identity and clocks (1.0) ---- */

    /* The host's version string, e.g. "0.1.0". Any thread. */
    const char *(*version)(parley_host *host);
    /* Monotonic milliseconds (loop time, updated each loop iteration). */
    uint64_t (*now_ms)(parley_host *host);
    /* Wall-clock Unix time in milliseconds. Any thread. */
    int64_t (*wall_ms)(parley_host *host);
    /* Milliseconds since the host started. Any thread. */
    uint64_t (*uptime_ms)(parley_host *host);
    /* Fill `buf` with `len` bytes from the kernel CSPRNG. 0 or PARLEY_EIO. Any thread. */
    int (*random_bytes)(parley_host *host, void *buf, size_t len);

    /* ---- logging (1.0) ---- */

    /* Log one line at `level`, tagged with the plugin's name. Any thread. */
    void (*log)(parley_host *host, int level, const char *fmt, ...) PARLEY_PRINTF(3, 4);
    /* Non-zero when a line at `level` would be written; skip costly
     * formatting otherwise. Any thread. */
    int (*log_enabled)(parley_host *host, int level);

    /* ---- config access (1.0): keys of the plugin's own schema ---- */

    /* A STRING key's value; NULL for a key the schema does not declare. */
    const char *(*config_string)(const parley_config *config, const char *key);
    /* An INT, DURATION (ms) or SIZE (bytes) key's value; 0 for an undeclared key. */
    int64_t (*config_int)(const parley_config *config, const char *key);
    /* A BOOL key's value (0 or 1). */
    int (*config_bool)(const parley_config *config, const char *key);
    /* A DOUBLE key's value. */
    double (*config_double)(const parley_config *config, const char *key);
    /* The number of items of a STRING_LIST key. */
    size_t (*config_list_size)(const parley_config *config, const char *key);
    /* Item `i` of a STRING_LIST key, NULL past the end. */
    const char *(*config_list_item)(const parley_config *config, const char *key, size_t i);
    /* Where the key's value came from: "configs/parley.yaml:12:7", or
     * "default" when the schema's default applied. For error messages. */
    const char *(*config_location)(const parley_config *config, const char *key);

    /* ---- loop: timers, post, work (1.0) ---- */

    /*
     * Call cb(arg) after `timeout_ms`, then every `repeat_ms` if non-zero.
     * Returns NULL on failure. The timer lives until timer_stop.
     */
    parley_timer *(*timer_start)(parley_host *host, uint64_t timeout_ms, uint64_t repeat_ms,
                                 void (*cb)(void *arg), void *arg);
    /* Stop and free a timer; its callback will not run again. NULL is a no-op. */
    void (*timer_stop)(parley_timer *timer);

    /*
     * Run fn(arg) on the loop thread soon. Safe from any thread, including
     * from inside worker-pool jobs. 0, or PARLEY_ESHUTDOWN once the loop
     * has stopped (fn is then not called) or PARLEY_ENOMEM. A pending post
     * does not by itself keep the loop running: during stop, the host keeps
     * the loop alive until every plugin has called its stop `done`.
     */
    int (*post)(parley_host *host, void (*fn)(void *arg), void *arg);

    /*
     * Run work_fn(arg) on a host worker thread (server.workers of them),
     * then done_fn(arg, status) on the loop thread: status 0, or
     * PARLEY_ESHUTDOWN if the job was cancelled before it ran. work_fn may
     * block; it must not call host functions other than the any-thread ones.
     */
    int (*work)(parley_host *host, void (*work_fn)(void *arg),
                void (*done_fn)(void *arg, int status), void *arg);

    /* ---- metrics (1.0): registration on the loop, updates any thread ---- */

    /* Register (or find, for the same name and labels) a metric. NULL and
     * err on a bad name or a kind clash. Metrics live as long as the host. */
    parley_metric *(*metric_register)(parley_host *host, const parley_metric_desc *desc,
                                      parley_error *err);
    /* Counter or gauge: add `v` (a counter takes v >= 0). Any thread. */
    void (*metric_add)(parley_metric *metric, double v);
    /* Gauge: set to `v`. Any thread. */
    void (*metric_set)(parley_metric *metric, double v);
    /* Histogram: record one observation. Any thread. */
    void (*metric_observe)(parley_metric *metric, double v);
    /* Write every metric in the Prometheus text format (0.0.4) into buf
     * (NUL-terminated when cap > 0); returns the length the whole text
     * needs, as snprintf does. */
    size_t (*metrics_format)(parley_host *host, char *buf, size_t cap);

    /* ---- HTTP (1.0) ---- */

    /* Register an HTTP route (transport.h). Refused (PARLEY_EEXIST) when the
     * prefix is taken. The route struct is copied; strings must stay valid. */
    int (*http_route_add)(parley_host *host, const parley_http_route *route, parley_error *err);
    /* "GET", "POST", ... */
    const char *(*http_method)(const parley_http_request *req);
    /* The path, without the query, as the client sent it: percent-escapes
     * are checked (two hex digits, never %00) but not decoded, and dot
     * segments are not resolved, so no spelling of a path reaches another
     * route's prefix (the listener's behaviour since 1.0 with its own HTTP
     * layer; 1.0 hosts built on libwebsockets decoded and re-encoded it). */
    const char *(*http_path)(const parley_http_request *req);
    /* The raw query string after '?', "" when there is none. */
    const char *(*http_query)(const parley_http_request *req);
    /*
     * Copy the percent-decoded value of the first query parameter `key`
     * into out (NUL-terminated). Returns its length, PARLEY_ENOTFOUND,
     * PARLEY_ETOOBIG (did not fit) or PARLEY_EINVAL (bad %-escape, or a NUL).
     */
    int (*http_query_param)(const parley_http_request *req, const char *key,
                            char *out, size_t out_size);
    /*
     * Copy header `name` (case-insensitive) into out (NUL-terminated).
     * Returns its length, PARLEY_ENOTFOUND or PARLEY_ETOOBIG. Valid during
     * on_request / on_upgrade only, not after http_hold.
     */
    int (*http_header)(const parley_http_request *req, const char *name,
                       char *out, size_t out_size);
    /* The request body (NULL with *len 0 when there is none). */
    const void *(*http_body)(const parley_http_request *req, size_t *len);
    /* The peer's address, e.g. "127.0.0.1". */
    const char *(*http_remote_addr)(const parley_http_request *req);
    /*
     * Send the whole response and finish the request; `req` is invalid
     * afterwards. Content-Length is added by the host; pass Content-Type
     * among `headers`. Allowed during on_request, with or without http_hold
     * before it. Returns 0; PARLEY_ECLOSED if the peer is gone or on_abort
     * already ran; PARLEY_EINVAL for a status outside 100..599 or a header
     * with CR/LF (the host then answers 500 itself).
     */
    int (*http_respond)(parley_http_request *req, int status, const parley_http_header *headers,
                        size_t n_headers, const void *body, size_t len);
    /*
     * Keep the request open past on_request (long-polling). The host keeps
     * the connection alive for up to `timeout_ms`; then it calls on_abort
     * and answers 504 itself. `req_ctx` is handed to on_abort. Respond
     * later with http_respond.
     */
    int (*http_hold)(parley_http_request *req, uint64_t timeout_ms, void *req_ctx);

    /* ---- WebSocket and frames (1.0) ---- */

    /* Register a WebSocket endpoint (transport.h). Refused (PARLEY_EEXIST)
     * when the prefix is taken. */
    int (*ws_endpoint_add)(parley_host *host, const parley_ws_endpoint *endpoint,
                           parley_error *err);
    /*
     * Allocate a frame of `len` bytes to fill in through *data before it is
     * first sent or shared. Refcount 1. NULL when out of memory.
     */
    parley_frame *(*frame_alloc)(parley_host *host, size_t len, int binary, char **data);
    /* Shorten a frame that was allocated larger than needed (before first use). */
    void (*frame_truncate)(parley_frame *frame, size_t len);
    /* Take one more reference. Any thread. */
    parley_frame *(*frame_retain)(parley_frame *frame);
    /* Drop one reference; the last frees it. NULL is a no-op. Any thread. */
    void (*frame_release)(parley_frame *frame);
    /* The frame's bytes and length. */
    const void *(*frame_data)(const parley_frame *frame, size_t *len);
    /*
     * Queue a frame on a WebSocket connection (the host retains it). All
     * queued frames go out in one write. One frame may always be queued
     * whatever its size; past listener.send_queue_max bytes of backlog
     * behind it the connection is closed as a slow consumer (1008 "slow
     * consumer") and PARLEY_ELIMIT is returned.
     */
    int (*conn_send)(parley_conn *conn, parley_frame *frame);
    /* Close with a status code and a short reason (both sent in the close frame). */
    void (*conn_close)(parley_conn *conn, int code, const char *reason);
    /* The peer's address. */
    const char *(*conn_remote_addr)(const parley_conn *conn);

    /* ---- chat core (1.0) ---- */

    /* The default room (chat.default_room, "chat-room" unless configured). */
    const char *(*chat_default_room)(parley_host *host);
    /* How many messages a history request returns when it names no limit. */
    uint32_t (*chat_history_limit)(parley_host *host);
    /* The cached storage state (enum parley_storage_state). */
    int (*chat_storage_state)(parley_host *host);

    /*
     * Validate, assign an id and a timestamp, store, then broadcast to the
     * room. Returns 0 when accepted (done runs later, exactly once), or a
     * negative status with err when refused at once (validation: the
     * message says which field and why); done is not called then.
     */
    int (*chat_post)(parley_host *host, const parley_post *post, parley_post_done done,
                     void *arg, parley_error *err);
    /*
     * Fetch a page of `room`'s history (NULL room: the default room): up to
     * `limit` (0: chat_history_limit; capped at chat.history_max) messages
     * older than `before_id` (NULL: the newest). Returns 0 when accepted, or
     * a negative status with err (bad room, bad cursor).
     */
    int (*chat_history)(parley_host *host, const char *room, const char *before_id,
                        uint32_t limit, parley_page_done done, void *arg, parley_error *err);

    /*
     * Open a chat session for one client of this transport. `session_ctx`
     * is handed back to the transport's deliver(). NULL on failure.
     */
    parley_session *(*session_open)(parley_host *host, void *session_ctx, parley_error *err);
    /* Leave every room (each gets user-left) and free the session. */
    void (*session_close)(parley_session *session);
    /*
     * Join `room` (NULL: the default room) as `username` (validated, then
     * remembered for the session). The others in the room get user-joined.
     * Joining a room again only updates the name. 0 or a negative status
     * with err (bad name, too many rooms: chat.max_rooms_per_session).
     */
    int (*session_join)(parley_session *session, const char *room, const char *username,
                        parley_error *err);
    /* Leave `room`; the others get user-left. PARLEY_ENOTFOUND if not joined. */
    int (*session_leave)(parley_session *session, const char *room, parley_error *err);
    /* Tell the others in `room` that this session's user is (not) typing. */
    int (*session_typing)(parley_session *session, const char *room, int is_typing,
                          parley_error *err);
    /* The username the session joined `room` with, NULL if not joined. */
    const char *(*session_username)(const parley_session *session, const char *room);

    /* ---- custom events and namespaces (1.0; transport.h) ---- */

    /* Register handlers for a namespace (the struct is copied; its strings
     * must stay valid). PARLEY_EEXIST when that namespace+event is taken. */
    int (*event_handler_add)(parley_host *host, const parley_event_handler *handler,
                             parley_error *err);
    /*
     * Transports: a client asks to join `namespace_name` with `auth`. Returns
     * its handle (on_connect handlers have run), or NULL with
     * PARLEY_ENOTFOUND and "Invalid namespace" when it does not exist.
     * `client_ctx` is handed back to the transport's client_emit/client_ack.
     */
    parley_client *(*client_open)(parley_host *host, const char *namespace_name, void *client_ctx,
                                  const parley_event_args *auth, parley_error *err);
    /* Transports: the client left its namespace; on_disconnect handlers run,
     * the handle is freed. NULL is a no-op. */
    void (*client_close)(parley_client *client);
    /* Transports: hand an event the transport does not handle itself to its
     * handler. PARLEY_ENOTFOUND when none is registered (the transport then
     * drops the event, as a Socket.IO server without a listener does). */
    int (*client_event)(parley_client *client, const char *event, const parley_event_args *args,
                        int64_t ack_id);
    /* Handlers: send `event` with `args` to the client. */
    int (*client_emit)(parley_client *client, const char *event, const parley_event_args *args);
    /* Handlers: answer acknowledgement `ack_id` of the client, once. */
    int (*client_ack)(parley_client *client, int64_t ack_id, const parley_event_args *args);
    /* The namespace the client is on. */
    const char *(*client_namespace)(const parley_client *client);
    /*
     * Handlers: send `event` and ask the client to acknowledge it. done
     * runs exactly once, later (transport.h parley_ack_done): with the
     * reply, after `timeout_ms` (0: 30 s) with PARLEY_ETIMEDOUT, or with
     * PARLEY_ECLOSED when the client leaves first. Returns 0, or a negative
     * status and done is not called: PARLEY_ECLOSED, PARLEY_ELIMIT (1024
     * acknowledgements already pending on this client), PARLEY_ENOTFOUND
     * (the transport cannot emit).
     */
    int (*client_emit_ack)(parley_client *client, const char *event, const parley_event_args *args,
                           uint64_t timeout_ms, parley_ack_done done, void *arg);
    /* Transports: the client acknowledged `ack_id` (from client_emit's
     * ack_id). PARLEY_ENOTFOUND when nothing waits for it (unknown, or
     * already timed out): drop the packet. */
    int (*client_ack_reply)(parley_client *client, int64_t ack_id, const parley_event_args *reply);

    /* ---- frames, continued (1.0) ---- */

    /* Non-zero when the frame was allocated as binary (frame_alloc). Any thread. */
    int (*frame_binary)(const parley_frame *frame);

    /* ---- client memory (1.1) ---- */

    /*
     * Open an account for bytes a transport holds for one client outside
     * the listener (a long-polling session's queue, say), so that they count
     * in listener.client_memory_max together with the host's own WebSocket
     * buffers. When the total passes the cap, the host sheds the biggest
     * holders first, WebSockets and accounts alike: for an account it calls
     * `shed(arg)`, which must free the bytes (typically by closing that
     * client) and say so with memory_set or memory_close before returning.
     * NULL when out of memory (the bytes then go uncounted). Loop thread.
     * Check PARLEY_HAS_FIELD(api, memory_close) before use. Since 1.1.
     */
    parley_memory *(*memory_open)(parley_host *host, void (*shed)(void *arg), void *arg);
    /* The account now holds `bytes`. Over the cap, shed callbacks (this
     * account's included) may run before it returns. Loop thread. Since 1.1. */
    void (*memory_set)(parley_memory *mem, size_t bytes);
    /* Close the account; its bytes stop counting. NULL is a no-op. Loop
     * thread. Since 1.1. */
    void (*memory_close)(parley_memory *mem);
} parley_host_api;

#ifdef __cplusplus
}
#endif

#endif /* PARLEY_HOST_H */
