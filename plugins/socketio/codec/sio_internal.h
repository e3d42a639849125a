/* Shared between sio.c and sio_binary.c; not for the plugin. */
#ifndef PARLEY_SIO_INTERNAL_H
#define PARLEY_SIO_INTERNAL_H

#include <stdarg.h>

#include "sio.h"

/* Placeholder slots kept on the stack when max_attachments allows. */
#define SIO_STACK_REFS 16

/* "socket.io packet: <fmt…>" into err; returns code. */
int sio__fail(parley_error *err, int code, const char *fmt, ...) PARLEY_PRINTF(3, 4);
const char *sio__type_name(int type);

/* sio_decode with caller-provided placeholder slots: refs has at least
 * lim->max_attachments entries, all NULL. On success refs[k] is the
 * placeholder object for attachment k. */
int sio__decode(const char *buf, size_t len, const sio_limits *lim, sio_packet *out,
                cJSON **refs, parley_error *err);

#endif
