/*
 * The host services table handed to every plugin. Each slot is the
 * module's parley__* implementation with the SDK's exact signature; the
 * table is append-only, in the order of sdk/include/parley/host.h.
 */
#include "host.h"

#include <stdarg.h>

#include "chat.h"
#include "events.h"
#include "frame.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "schema.h"

parley_host parley__self = { .name = "host" };

static const char *api_version(parley_host *host)
{
    (void)host;
    return PARLEY_VERSION;
}

static void api_log(parley_host *host, int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    parley__logv(level, host != NULL && host->name != NULL ? host->name : "plugin", fmt, ap);
    va_end(ap);
}

static int api_log_enabled(parley_host *host, int level)
{
    (void)host;
    return parley__log_enabled(level);
}

const parley_host_api parley__api = {
    .struct_size = sizeof(parley_host_api),
    .abi_major = PARLEY_ABI_MAJOR,
    .abi_minor = PARLEY_ABI_MINOR,

    .version = api_version,
    .now_ms = parley__now_ms,
    .wall_ms = parley__wall_ms,
    .uptime_ms = parley__uptime_ms,
    .random_bytes = parley__random_bytes,

    .log = api_log,
    .log_enabled = api_log_enabled,

    .config_string = parley__config_string,
    .config_int = parley__config_int,
    .config_bool = parley__config_bool,
    .config_double = parley__config_double,
    .config_list_size = parley__config_list_size,
    .config_list_item = parley__config_list_item,
    .config_location = parley__config_location,

    .timer_start = parley__timer_start,
    .timer_stop = parley__timer_stop,
    .post = parley__post,
    .work = parley__work,

    .metric_register = parley__metric_register,
    .metric_add = parley__metric_add,
    .metric_set = parley__metric_set,
    .metric_observe = parley__metric_observe,
    .metrics_format = parley__metrics_format,

    .http_route_add = parley__http_route_add,
    .http_method = parley__http_method,
    .http_path = parley__http_path,
    .http_query = parley__http_query,
    .http_query_param = parley__http_query_param,
    .http_header = parley__http_header,
    .http_body = parley__http_body,
    .http_remote_addr = parley__http_remote_addr,
    .http_respond = parley__http_respond,
    .http_hold = parley__http_hold,

    .ws_endpoint_add = parley__ws_endpoint_add,
    .frame_alloc = parley__frame_alloc,
    .frame_truncate = parley__frame_truncate,
    .frame_retain = parley__frame_retain,
    .frame_release = parley__frame_release,
    .frame_data = parley__frame_data,
    .conn_send = parley__conn_send,
    .conn_close = parley__conn_close,
    .conn_remote_addr = parley__conn_remote_addr,

    .chat_default_room = parley__chat_default_room,
    .chat_history_limit = parley__chat_history_limit,
    .chat_storage_state = parley__chat_storage_state,
    .chat_post = parley__chat_post,
    .chat_history = parley__chat_history,
    .session_open = parley__session_open,
    .session_close = parley__session_close,
    .session_join = parley__session_join,
    .session_leave = parley__session_leave,
    .session_typing = parley__session_typing,
    .session_username = parley__session_username,

    .event_handler_add = parley__event_handler_add,
    .client_open = parley__client_open,
    .client_close = parley__client_close,
    .client_event = parley__client_event,
    .client_emit = parley__client_emit,
    .client_ack = parley__client_ack,
    .client_namespace = parley__client_namespace,
    .client_emit_ack = parley__client_emit_ack,
    .client_ack_reply = parley__client_ack_reply,

    .frame_binary = parley__frame_is_binary,

    .memory_open = parley__memory_open,
    .memory_set = parley__memory_set,
    .memory_close = parley__memory_close,
};
