/*
 * Shared by the fuzz targets: an oracle check that aborts (so libFuzzer
 * records a crash and the replay build fails), and the refusal contract
 * every decoder promises: a negative status comes with a parley_error whose
 * code is that status and whose message names what was wrong.
 */
#ifndef PARLEY_FUZZ_COMMON_H
#define PARLEY_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <parley/abi.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                                   \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "%s:%d: fuzz oracle: CHECK(%s) failed: ", __FILE__, \
                    __LINE__, #cond);                                           \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
            abort();                                                            \
        }                                                                       \
    } while (0)

/* Known findings are tolerated so a run goes on past them, unless the
 * environment sets PARLEY_FUZZ_STRICT (to check a fix: the regression file
 * then fails until the code is fixed). */
static inline int fuzz_strict(void)
{
    static int strict = -1;

    if (strict < 0)
        strict = getenv("PARLEY_FUZZ_STRICT") != NULL;
    return strict;
}

/* A refusal: rc < 0, err->code == rc, a non-empty NUL-terminated message. */
static inline void fuzz_check_refusal(int rc, const parley_error *err, const char *what)
{
    FUZZ_CHECK(err->code == rc, "%s: returned %d but err.code is %d (\"%.*s\")", what, rc,
               err->code, (int)sizeof err->message, err->message);
    FUZZ_CHECK(memchr(err->message, '\0', sizeof err->message) != NULL,
               "%s: err.message is not NUL-terminated", what);
    FUZZ_CHECK(err->message[0] != '\0', "%s: refused (%d) without a message", what, rc);
}

/* A copy of data[0..size) with a NUL after it, for APIs that take C strings
 * (the NUL is not part of the input the API is told about). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s == NULL)
        return NULL;
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif /* PARLEY_FUZZ_COMMON_H */
