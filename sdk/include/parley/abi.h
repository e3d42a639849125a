/*
 * Parley plugin SDK — ABI identity, status codes and the error struct.
 *
 * Everything under include/parley/ is public ABI. Structs are append-only:
 * every struct that crosses the host/plugin boundary starts with its
 * struct_size, and a reader never touches a field that lies beyond the
 * struct_size its writer declared. See docs/abi-policy.md.
 *
 * Pure C11: no third-party type appears in these headers.
 */
#ifndef PARLEY_ABI_H
#define PARLEY_ABI_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "PRLY" read as a little-endian uint32. Frozen forever. */
#define PARLEY_ABI_MAGIC 0x594c5250u

/* A plugin built against major M loads only into a host of major M. */
#define PARLEY_ABI_MAJOR 1
/* Minor versions only add: new host functions at the end of the table,
 * new fields at the end of structs. Since 1.0; 1.1 added the client
 * memory accounts (host.h, memory_open). */
#define PARLEY_ABI_MINOR 1

/* The one symbol a plugin exports (see PARLEY_PLUGIN_ENTRY in plugin.h). */
#define PARLEY_ENTRY_SYMBOL "parley_plugin_entry"

#if defined(__GNUC__) || defined(__clang__)
#define PARLEY_EXPORT __attribute__((visibility("default")))
#define PARLEY_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define PARLEY_EXPORT
#define PARLEY_PRINTF(fmt, args)
#endif

/* True when a struct whose writer declared `size` bytes contains `field`.
 * Use it before reading any field added after 1.0. */
#define PARLEY_HAS_FIELD(ptr, type, field)                                   \
    ((ptr)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/*
 * Status codes. Zero is success; every failure is negative. Values are
 * frozen; new codes are only added (since 1.0).
 */
enum parley_status {
    PARLEY_OK = 0,
    PARLEY_EINVAL = -1,      /* an argument or input is invalid */
    PARLEY_ENOMEM = -2,      /* out of memory */
    PARLEY_ENOTFOUND = -3,   /* no such object (room, route, key, ...) */
    PARLEY_EEXIST = -4,      /* already exists; for storage inserts: already stored */
    PARLEY_EUNAVAIL = -5,    /* a backend (storage) is unavailable */
    PARLEY_ETIMEDOUT = -6,   /* an operation did not finish in time */
    PARLEY_ETOOBIG = -7,     /* input over a configured size limit */
    PARLEY_ESHUTDOWN = -8,   /* the host is shutting down */
    PARLEY_EIO = -9,         /* an I/O or backend error */
    PARLEY_EVERSION = -10,   /* ABI version mismatch */
    PARLEY_ELIMIT = -11,     /* a count or rate limit was reached */
    PARLEY_EBUSY = -12,      /* the object is busy; retry later */
    PARLEY_EPROTO = -13,     /* a peer broke a protocol */
    PARLEY_EINTERNAL = -14,  /* a bug: an invariant did not hold */
    PARLEY_ECLOSED = -15     /* the connection or session is gone */
};

/* The short symbolic name of a status code ("EINVAL"), "EUNKNOWN" if none. */
static inline const char *parley_status_name(int status)
{
    switch (status) {
    case PARLEY_OK: return "OK";
    case PARLEY_EINVAL: return "EINVAL";
    case PARLEY_ENOMEM: return "ENOMEM";
    case PARLEY_ENOTFOUND: return "ENOTFOUND";
    case PARLEY_EEXIST: return "EEXIST";
    case PARLEY_EUNAVAIL: return "EUNAVAIL";
    case PARLEY_ETIMEDOUT: return "ETIMEDOUT";
    case PARLEY_ETOOBIG: return "ETOOBIG";
    case PARLEY_ESHUTDOWN: return "ESHUTDOWN";
    case PARLEY_EIO: return "EIO";
    case PARLEY_EVERSION: return "EVERSION";
    case PARLEY_ELIMIT: return "ELIMIT";
    case PARLEY_EBUSY: return "EBUSY";
    case PARLEY_EPROTO: return "EPROTO";
    case PARLEY_EINTERNAL: return "EINTERNAL";
    case PARLEY_ECLOSED: return "ECLOSED";
    default: return "EUNKNOWN";
    }
}

/* A human-readable description of a status code. */
static inline const char *parley_strerror(int status)
{
    switch (status) {
    case PARLEY_OK: return "success";
    case PARLEY_EINVAL: return "invalid argument";
    case PARLEY_ENOMEM: return "out of memory";
    case PARLEY_ENOTFOUND: return "not found";
    case PARLEY_EEXIST: return "already exists";
    case PARLEY_EUNAVAIL: return "storage unavailable";
    case PARLEY_ETIMEDOUT: return "timed out";
    case PARLEY_ETOOBIG: return "too large";
    case PARLEY_ESHUTDOWN: return "shutting down";
    case PARLEY_EIO: return "I/O error";
    case PARLEY_EVERSION: return "ABI version mismatch";
    case PARLEY_ELIMIT: return "limit reached";
    case PARLEY_EBUSY: return "busy";
    case PARLEY_EPROTO: return "protocol error";
    case PARLEY_EINTERNAL: return "internal error";
    case PARLEY_ECLOSED: return "closed";
    default: return "unknown error";
    }
}

#define PARLEY_ERROR_MESSAGE_MAX 512

/*
 * Error detail handed to every call that can fail. The caller owns it
 * (usually on its stack) and initialises it with PARLEY_ERROR_INIT; the
 * callee fills it in when it returns a negative status. `message` says what
 * was wrong in words an operator can act on. Since 1.0.
 */
typedef struct parley_error {
    uint32_t struct_size;                  /* sizeof(parley_error), since 1.0 */
    int code;                              /* the negative status, since 1.0 */
    char message[PARLEY_ERROR_MESSAGE_MAX]; /* NUL-terminated, since 1.0 */
} parley_error;

#define PARLEY_ERROR_INIT { sizeof(parley_error), 0, { 0 } }

/* Fill `err` (which may be NULL) and return `code`, so a callee can write
 * `return parley_error_set(err, PARLEY_EINVAL, "port %d out of range", p);` */
static inline int parley_error_setv(parley_error *err, int code, const char *fmt, va_list ap)
{
    if (err == NULL)
        return code;
    err->code = code;
    if (fmt == NULL) {
        snprintf(err->message, sizeof err->message, "%s", parley_strerror(code));
        return code;
    }
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    return code;
}

static inline int parley_error_set(parley_error *err, int code, const char *fmt, ...)
    PARLEY_PRINTF(3, 4);

static inline int parley_error_set(parley_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = parley_error_setv(err, code, fmt, ap);
    va_end(ap);
    return rc;
}

#ifdef __cplusplus
}
#endif

#endif /* PARLEY_ABI_H */
