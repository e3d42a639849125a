/*
 * Parley plugin SDK — the one header a plugin includes.
 *
 *     #include <parley/parley.h>
 *
 * abi.h        ABI identity, status codes, parley_error
 * plugin.h     the descriptor, its config schema and lifecycle
 * host.h       the host services table
 * transport.h  HTTP routes, WebSocket endpoints, frames, chat events
 * storage.h    messages and the storage vtable
 */
#ifndef PARLEY_PARLEY_H
#define PARLEY_PARLEY_H

#include "abi.h"
#include "plugin.h"
#include "storage.h"
#include "transport.h"
#include "host.h"

#endif /* PARLEY_PARLEY_H */
