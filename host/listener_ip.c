/*
 * Per-address limits: how many connections one client address may hold
 * open (listener.max_connections_per_ip) and how fast it may open new ones
 * (a token bucket, listener.connect_rate_per_ip per second, as deep as
 * listener.connect_burst_per_ip). Both are checked when the socket is
 * accepted, before a byte of HTTP is read, so a refused client never
 * reaches the WebSocket upgrade or a polling handshake.
 *
 * An address is its raw bytes (IPv4, or the 16 bytes of IPv6), so
 * "::ffff:1.2.3.4" and "1.2.3.4" are different addresses. Loopback is not
 * exempt. Entries live in a chained hash table; one with no open
 * connection is freed once its bucket would be full again, so the table
 * holds the addresses with connections plus the recently refused ones.
 */
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "listener_int.h"
#include "log.h"
#include "loop.h"

#define L parley__L

#define IP_BUCKETS 4096u

struct ip_entry {
    struct ip_entry *next;
    unsigned char addr[16];
    unsigned char len;          /* 4 or 16 */
    unsigned open;              /* connections holding this entry */
    uint64_t tokens_milli;      /* connect tokens, in thousandths */
    uint64_t tokens_at_ms;
};

static struct ip_entry *table[IP_BUCKETS];
static size_t n_entries;
static unsigned sweep_at;

static int addr_of(struct parley__sock *s, unsigned char out[16], unsigned char *len)
{
    struct sockaddr_storage ss;
    int sl = sizeof ss;

    if (uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    if (ss.ss_family == AF_INET) {
        memcpy(out, &((struct sockaddr_in *)&ss)->sin_addr, 4);
        *len = 4;
        return 0;
    }
    if (ss.ss_family == AF_INET6) {
        memcpy(out, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
        *len = 16;
        return 0;
    }
    return -1;
}

static unsigned hash(const unsigned char *a, unsigned char len)
{
    uint32_t h = 2166136261u;   /* FNV-1a */

    for (unsigned i = 0; i < len; i++)
        h = (h ^ a[i]) * 16777619u;
    return h % IP_BUCKETS;
}

static uint64_t bucket_cap(void)
{
    return (uint64_t)L.opts.connect_burst_per_ip * 1000;
}

static void refill(struct ip_entry *e, uint64_t now)
{
    uint64_t cap = bucket_cap();

    if (now > e->tokens_at_ms) {
        uint64_t add = (now - e->tokens_at_ms) * L.opts.connect_rate_per_ip;

        e->tokens_milli = e->tokens_milli + add > cap ? cap : e->tokens_milli + add;
        e->tokens_at_ms = now;
    }
}

/* Free the idle entries of one chain (or of all when `all`). */
static void sweep(uint64_t now, int all)
{
    unsigned from = all ? 0 : sweep_at, to = all ? IP_BUCKETS : sweep_at + 1;

    sweep_at = (sweep_at + 1) % IP_BUCKETS;
    for (unsigned b = from; b < to; b++) {
        struct ip_entry **pp = &table[b];

        while (*pp != NULL) {
            struct ip_entry *e = *pp;

            refill(e, now);
            if (e->open == 0 && e->tokens_milli >= bucket_cap()) {
                *pp = e->next;
                free(e);
                n_entries--;
                continue;
            }
            pp = &e->next;
        }
    }
}

static struct ip_entry *find(const unsigned char *a, unsigned char len, int create, uint64_t now)
{
    unsigned b = hash(a, len);
    struct ip_entry *e;

    for (e = table[b]; e != NULL; e = e->next)
        if (e->len == len && memcmp(e->addr, a, len) == 0)
            return e;
    if (!create)
        return NULL;
    /* Every entry is an open connection or a recent refusal; past this many
     * the idle ones go first. */
    if (n_entries >= (size_t)L.opts.max_connections * 2 + IP_BUCKETS)
        sweep(now, 1);
    e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    memcpy(e->addr, a, len);
    e->len = len;
    e->tokens_milli = bucket_cap();
    e->tokens_at_ms = now;
    e->next = table[b];
    table[b] = e;
    n_entries++;
    return e;
}

int parley__ip_admit(struct parley__sock *s, const char **code, const char **message)
{
    unsigned char a[16], len;
    uint64_t now = parley__now_ms(NULL);
    struct ip_entry *e;

    sweep(now, 0);
    if (addr_of(s, a, &len) != 0)
        return 0;               /* no address: nothing to count */
    e = find(a, len, 1, now);
    if (e == NULL)
        return 0;               /* out of memory: do not refuse for our own failure */
    if (e->open >= L.opts.max_connections_per_ip) {
        PARLEY__COUNT(refused_per_ip);
        *code = "too_many_connections_per_ip";
        *message = "this address is at listener.max_connections_per_ip";
        return 503;
    }
    if (L.opts.connect_rate_per_ip > 0) {
        refill(e, now);
        if (e->tokens_milli < 1000) {
            PARLEY__COUNT(refused_rate);
            *code = "connect_rate_limited";
            *message = "this address opens connections faster than "
                       "listener.connect_rate_per_ip";
            return 429;
        }
        e->tokens_milli -= 1000;
    }
    s->ip = e;
    e->open++;
    return 0;
}

void parley__ip_release(struct parley__sock *s)
{
    if (s->ip != NULL && s->ip->open > 0)
        s->ip->open--;
    s->ip = NULL;
}

void parley__ip_free(void)
{
    for (unsigned b = 0; b < IP_BUCKETS; b++) {
        while (table[b] != NULL) {
            struct ip_entry *e = table[b];

            table[b] = e->next;
            free(e);
        }
    }
    n_entries = 0;
}
