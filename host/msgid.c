/*
 * Message ids (see msgid.h for the layout and the ordering rules).
 */
#include "msgid.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "log.h"

#define COUNTER_LIMIT (1u << 24)

static struct {
    int ready;
    unsigned char rnd[5];
    uint32_t start;     /* counter value of each new second */
    uint32_t secs;      /* seconds field of the last id */
    uint32_t counter;   /* counter field of the last id */
    int issued;         /* an id was issued: secs/counter are meaningful */
} g;

static void fill_random(void *buf, size_t len)
{
    unsigned char *p = buf;

    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* Uniqueness across processes degrades, ordering does not. */
            parley__warn("msgid: getrandom failed (%s); using the clock as the random part",
                         strerror(errno));
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            for (size_t i = 0; i < len; i++)
                p[i] = (unsigned char)((uint64_t)ts.tv_nsec >> (8 * (i % 4)));
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

void parley__msgid_init(void)
{
    unsigned char c[3];

    /* Once per process: new random bytes in the middle of a second would
     * break the order of the ids already handed out. */
    if (g.ready)
        return;
    fill_random(g.rnd, sizeof g.rnd);
    fill_random(c, sizeof c);
    g.start = ((uint32_t)c[0] << 16 | (uint32_t)c[1] << 8 | c[2]) & (COUNTER_LIMIT / 2 - 1);
    g.issued = 0;
    g.ready = 1;
}

void parley__msgid_seed(const unsigned char rnd[5], uint32_t counter_start)
{
    if (rnd == NULL) {
        memset(&g, 0, sizeof g);
        return;
    }
    memcpy(g.rnd, rnd, sizeof g.rnd);
    g.start = counter_start & (COUNTER_LIMIT - 1);
    g.issued = 0;
    g.ready = 1;
}

static void put_hex(char *out, uint32_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";

    for (int i = digits - 1; i >= 0; i--) {
        out[i] = hex[v & 0xf];
        v >>= 4;
    }
}

void parley__msgid_next(char out[PARLEY_ID_LEN + 1], int64_t wall_ms)
{
    uint32_t now;

    if (!g.ready)
        parley__msgid_init();

    if (wall_ms < 0)
        now = 0;
    else if (wall_ms / 1000 > UINT32_MAX)
        now = UINT32_MAX;
    else
        now = (uint32_t)(wall_ms / 1000);

    if (!g.issued || now > g.secs) {
        g.secs = now;
        g.counter = g.start;
        g.issued = 1;
    } else if (++g.counter >= COUNTER_LIMIT) {
        /* Never wrap within a second: that would go backwards. */
        g.secs++;
        g.counter = g.start;
    }

    put_hex(out, g.secs, 8);
    for (int i = 0; i < 5; i++)
        put_hex(out + 8 + 2 * i, g.rnd[i], 2);
    put_hex(out + 18, g.counter, 6);
    out[PARLEY_ID_LEN] = '\0';
}

int parley__msgid_valid(const char *s, size_t len)
{
    if (s == NULL || len != PARLEY_ID_LEN)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return 1;
}

int parley__msgid_normalize(const char *s, size_t len, char out[PARLEY_ID_LEN + 1])
{
    if (s == NULL || len != PARLEY_ID_LEN)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return -1;
        out[i] = c;
    }
    out[PARLEY_ID_LEN] = '\0';
    return 0;
}

int64_t parley__msgid_seconds(const char *id)
{
    uint32_t v = 0;

    for (int i = 0; i < 8; i++) {
        char c = id[i];
        v = v << 4 | (uint32_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return (int64_t)v;
}
