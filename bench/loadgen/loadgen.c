/* loadgen — a Socket.IO v5 / Engine.IO v4 load generator over WebSocket
 * or HTTP long-polling (--transport polling).
 *
 * One thread, one epoll, thousands of connections. It parses only what it
 * must: the 101, WebSocket frame headers (or a polling response's status,
 * Content-Length and \x1e separators), and the first bytes of each
 * Engine.IO packet; the only JSON it reads is the "content" field of a
 * message-received, which carries "<seq>:<send time in ns>" (CLOCK_MONOTONIC
 * on this host), and the id of an acknowledgement. Client frames are masked
 * with the all-zero key, so masking costs nothing.
 *
 * Modes (one JSON object per line on stdout, bench/run.py reads them):
 *   fanout   N clients in rooms of --room-size, --senders of room 0 send at
 *            each rate of --rates (messages/s) for --step-ms, then drain;
 *            stops after the first step with p99 > --p99-limit-ms or a loss
 *   ramp     connect + join N clients (--concurrency handshakes in flight),
 *            then wait for every presence delivery (n(n-1)/2 per room)
 *   idle     ramp, settle, report the server's RSS per connected client
 *   persist  N senders, each alone in its room, --window send-message with
 *            an ack in flight each, for --duration-ms: confirmed msgs/s, p99
 * --server-pid lets it read the server's CPU (/proc/<pid>/stat) and RSS.
 *
 * A polling client is two keep-alive HTTP/1.1 connections, as a browser's:
 * one always has a GET outstanding (the long poll), the other carries the
 * client's packets, one POST at a time, everything queued meanwhile joined
 * with \x1e into the next one (as engine.io-client does). An idle POST
 * connection the server closes (Node's 5 s keep-alive timeout) is opened
 * again when there is something to send; a POST such a close catches
 * unanswered on a reused connection is sent again, once, as browsers do.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { ST_CONNECTING, ST_HTTP, ST_EIO_OPEN, ST_SIO_CONNECT, ST_JOINING, ST_JOINED, ST_CLOSED };

/* What a socket is: a WebSocket client, or one of a polling client's two. */
enum { K_WS, K_GET, K_POST };

struct poll;

typedef struct conn {
    int fd;
    int state;           /* a K_POST socket: ST_CONNECTING, ST_HTTP (ready) or ST_CLOSED */
    int kind;
    int idx;
    int room;
    struct poll *pl;     /* polling only: the client's shared part */
    char *rb;            /* a partial frame left over from the last read */
    uint32_t rlen, rcap;
    uint64_t skip;       /* payload bytes of an oversized frame still to discard */
    char *wb;            /* bytes the socket did not take */
    uint32_t wlen, wcap;
    int out_armed;
    int inflight;        /* persist: acks outstanding */
} conn;

/* A polling client's other half. The GET socket is the client (its state,
 * counters, conns[i]); the POST socket is pl->post. */
#define SID_MAX 64
#define POST_BATCH_PACKETS 500  /* Parley refuses a payload of more than 1000 */
#define POST_BATCH_BYTES 65536
#define POST_QUEUE_MAX (4u << 20)
struct poll {
    conn post;
    char sid[SID_MAX + 1];
    uint64_t body_left;  /* GET: body bytes of the current response still to come */
    int in_body;
    int posting;         /* a POST is on its way; packets queue meanwhile */
    int retried;         /* the POST on its way is a resend */
    uint32_t answers;    /* responses on the current POST socket */
    char *q;             /* queued packets, \x1e-joined; the POST on its way carries the first posted bytes */
    uint32_t qlen, qcap, posted;
};

/* Latency histogram: 10 µs buckets up to 10 s, then one overflow bucket. */
#define H_STEP_NS 10000ull
#define H_BUCKETS 1000001
typedef struct hist {
    uint32_t *b;
    uint64_t n, max_ns;
} hist;

static struct {
    const char *host;
    int port, clients, room_size, senders, concurrency, window;
    int step_ms, drain_ms, duration_ms, hold_ms, timeout_ms, p99_limit_ms;
    double rates[64];
    int nrates;
    int server_pid;
    int metrics;
    int quiet_ms;
    int per_source;
    int polling;
    const char *room_prefix;
} opt = {
    .host = "127.0.0.1", .port = 3001, .clients = 1000, .room_size = 0, .senders = 10,
    .concurrency = 256, .window = 4, .step_ms = 3000, .drain_ms = 2000, .duration_ms = 5000,
    .hold_ms = 2000, .timeout_ms = 60000, .quiet_ms = 5000, .per_source = 100, .p99_limit_ms = 100, .room_prefix = "bench",
};

static int ep;
static conn *conns;
static struct poll *polls;
static char *rbuf;
#define RBUF_SIZE (1u << 20)

/* Counters, reset per step where that matters. */
static uint64_t n_connected, n_joined, n_closed, n_failed, n_presence, n_left, n_errors;
static uint64_t n_delivered, n_late, n_acks, n_ack_errors, n_pings;
static uint64_t seq_base, seq_next;
static uint64_t t_last_delivery, t_last_presence;
static hist lat;
static uint64_t *ack_sent_ns;
#define ACK_RING 65536
static char first_error[256];

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void hist_add(hist *h, uint64_t ns)
{
    uint64_t i = ns / H_STEP_NS;
    h->b[i < H_BUCKETS - 1 ? i : H_BUCKETS - 1]++;
    h->n++;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

static void hist_reset(hist *h)
{
    memset(h->b, 0, sizeof(uint32_t) * H_BUCKETS);
    h->n = h->max_ns = 0;
}

/* The q-quantile in µs (upper edge of its bucket); 0 when empty. */
static double hist_q(const hist *h, double q)
{
    if (!h->n)
        return 0;
    uint64_t want = (uint64_t)(q * (double)h->n + 0.5), acc = 0;
    if (want < 1)
        want = 1;
    for (uint64_t i = 0; i < H_BUCKETS; i++) {
        acc += h->b[i];
        if (acc >= want)
            return (double)((i + 1) * H_STEP_NS) / 1000.0;
    }
    return (double)h->max_ns / 1000.0;
}

/* /proc/<pid>/stat utime + stime of the whole process, in µs. */
static uint64_t server_cpu_us(void)
{
    if (!opt.server_pid)
        return 0;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", opt.server_pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p)
        return 0;
    unsigned long ut = 0, st = 0;
    /* after ")": state(3) ... utime is field 14, stime 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (uint64_t)(ut + st) * 1000000ull / (uint64_t)sysconf(_SC_CLK_TCK);
}

static long server_rss_kb(void)
{
    if (!opt.server_pid)
        return 0;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", opt.server_pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    long kb = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = atol(line + 6);
    fclose(f);
    return kb;
}

/* Parley's batching counters from GET /metrics (blocking; only between
 * steps): WebSocket writes and frames. Zero for a server without them. */
static void server_ws_counters(uint64_t *writes, uint64_t *frames)
{
    *writes = *frames = 0;
    if (!opt.metrics)
        return;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    inet_pton(AF_INET, opt.host, &a.sin_addr);
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return;
    }
    static const char req[] = "GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n";
    send(fd, req, sizeof req - 1, MSG_NOSIGNAL);
    static char buf[1 << 20];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1 && (n = recv(fd, buf + len, sizeof buf - 1 - len, 0)) > 0)
        len += (size_t)n;
    close(fd);
    buf[len] = 0;
    const char *w = strstr(buf, "\nparley_listener_ws_writes_total ");
    const char *f = strstr(buf, "\nparley_listener_ws_frames_total ");
    if (w)
        *writes = strtoull(w + sizeof "\nparley_listener_ws_writes_total " - 1, NULL, 10);
    if (f)
        *frames = strtoull(f + sizeof "\nparley_listener_ws_frames_total " - 1, NULL, 10);
}

/* Busy CPU time of the whole machine (all cores, /proc/stat), in µs: what
 * neither the server nor the generator used was a neighbour's. */
static uint64_t machine_busy_us(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return 0;
    unsigned long long v[10] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                   &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
    fclose(f);
    if (n < 8)
        return 0;
    /* user nice system [idle iowait] irq softirq steal */
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    return (uint64_t)busy * 1000000ull / (uint64_t)sysconf(_SC_CLK_TCK);
}

static uint64_t self_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000ull +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void note_error(const char *what, const char *p, size_t n)
{
    if (!first_error[0])
        snprintf(first_error, sizeof first_error, "%s%.*s", what, (int)(n < 200 ? n : 200), p);
}

static void note(const char *what)
{
    note_error(what, "", 0);
}

/* One socket and its buffers; counts nothing. */
static void sock_release(conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->state = ST_CLOSED;
    c->out_armed = 0;
    free(c->rb);
    free(c->wb);
    c->rb = c->wb = NULL;
    c->rlen = c->rcap = c->wlen = c->wcap = 0;
}

/* Close a client: a polling client's POST socket closes it as a whole. */
static void conn_close(conn *c)
{
    if (c->kind == K_POST)
        c = &conns[c->idx];
    if (c->state == ST_CLOSED)
        return;
    if (c->state != ST_JOINED)
        n_failed++;
    n_closed++;
    sock_release(c);
    if (c->pl) {
        sock_release(&c->pl->post);
        free(c->pl->q);
        c->pl->q = NULL;
        c->pl->qlen = c->pl->qcap = 0;
    }
}

static void arm_out(conn *c, int on)
{
    if (c->out_armed == on)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->out_armed = on;
}

static void flush_out(conn *c)
{
    while (c->wlen) {
        ssize_t n = send(c->fd, c->wb, c->wlen, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN)
                break;
            conn_close(c);
            return;
        }
        memmove(c->wb, c->wb + n, c->wlen - (size_t)n);
        c->wlen -= (uint32_t)n;
    }
    arm_out(c, c->wlen > 0);
}

static void put_raw(conn *c, const void *p, size_t len)
{
    if (c->state == ST_CLOSED)
        return;
    if (!c->wlen) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n == (ssize_t)len)
            return;
        if (n < 0) {
            if (errno != EAGAIN) {
                conn_close(c);
                return;
            }
            n = 0;
        }
        p = (const char *)p + n;
        len -= (size_t)n;
    }
    if (c->wlen + len > c->wcap) {
        c->wcap = (uint32_t)((c->wlen + len) * 2 + 256);
        c->wb = realloc(c->wb, c->wcap);
        if (!c->wb)
            die("realloc");
    }
    memcpy(c->wb + c->wlen, p, len);
    c->wlen += (uint32_t)len;
    arm_out(c, 1);
}

/* One masked client frame; the mask key is zero, so the payload goes as is. */
static void put_frame(conn *c, int opcode, const char *p, size_t len)
{
    char f[16 + 512];
    size_t h = 0;
    f[h++] = (char)(0x80 | opcode);
    if (len < 126) {
        f[h++] = (char)(0x80 | len);
    } else {
        f[h++] = (char)(0x80 | 126);
        f[h++] = (char)(len >> 8);
        f[h++] = (char)len;
    }
    memset(f + h, 0, 4);
    h += 4;
    if (len <= 512) {
        memcpy(f + h, p, len);
        put_raw(c, f, h + len);
    } else {
        put_raw(c, f, h);
        put_raw(c, p, len);
    }
}

static void post_flush(conn *c);

/* Polling: queue one packet for the next POST. */
static void poll_put(conn *c, const char *s, size_t len)
{
    struct poll *pl = c->pl;
    if (c->state == ST_CLOSED)
        return;
    if (pl->qlen + len + 1 > POST_QUEUE_MAX) {
        note("polling: POST queue full (the server does not keep up)");
        conn_close(c);
        return;
    }
    if (pl->qlen + len + 1 > pl->qcap) {
        pl->qcap = (uint32_t)((pl->qlen + len + 1) * 2 + 256);
        pl->q = realloc(pl->q, pl->qcap);
        if (!pl->q)
            die("realloc");
    }
    if (pl->qlen)
        pl->q[pl->qlen++] = 0x1e;
    memcpy(pl->q + pl->qlen, s, len);
    pl->qlen += (uint32_t)len;
    post_flush(c);
}

static void put_text(conn *c, const char *s)
{
    if (c->pl)
        poll_put(c, s, strlen(s));
    else
        put_frame(c, 1, s, strlen(s));
}

static void send_join(conn *c)
{
    char m[256];
    snprintf(m, sizeof m, "42[\"join-chat\",{\"username\":\"u%d\",\"room\":\"%s-%d\"}]", c->idx,
             opt.room_prefix, c->room);
    put_text(c, m);
    c->state = ST_JOINING;
}

static void send_message(conn *c, int with_ack)
{
    char m[128];
    uint64_t seq = seq_next++;
    uint64_t t = now_ns();
    if (with_ack) {
        ack_sent_ns[seq % ACK_RING] = t;
        snprintf(m, sizeof m, "42%llu[\"send-message\",{\"content\":\"%llu:%llu\"}]",
                 (unsigned long long)seq, (unsigned long long)seq, (unsigned long long)t);
        c->inflight++;
    } else {
        snprintf(m, sizeof m, "42[\"send-message\",{\"content\":\"%llu:%llu\"}]",
                 (unsigned long long)seq, (unsigned long long)t);
    }
    put_text(c, m);
}

static uint64_t parse_u64(const char **pp, const char *end)
{
    uint64_t v = 0;
    const char *p = *pp;
    while (p < end && *p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    *pp = p;
    return v;
}

#define STARTS(p, n, lit) ((n) >= sizeof(lit) - 1 && !memcmp((p), (lit), sizeof(lit) - 1))

static void on_delivery(const char *p, size_t n, uint64_t t)
{
    static const char key[] = "\"content\":\"";
    const char *end = p + n;
    const char *k = memmem(p, n, key, sizeof key - 1);
    if (!k)
        return;
    k += sizeof key - 1;
    uint64_t seq = parse_u64(&k, end);
    if (k >= end || *k != ':')
        return;
    k++;
    uint64_t sent = parse_u64(&k, end);
    if (seq < seq_base) {
        n_late++;
        return;
    }
    n_delivered++;
    t_last_delivery = t;
    hist_add(&lat, t > sent ? t - sent : 0);
}

static void on_persist_ack(conn *c, const char *p, size_t n, uint64_t t);

/* The sid of an open packet 0{"sid":"...",...}; 0 when there is none. */
static int parse_sid(struct poll *pl, const char *p, size_t n)
{
    static const char key[] = "\"sid\":\"";
    const char *k = memmem(p, n, key, sizeof key - 1);
    if (!k)
        return 0;
    k += sizeof key - 1;
    const char *q = memchr(k, '"', (size_t)(p + n - k));
    if (!q || q == k || q - k > SID_MAX)
        return 0;
    memcpy(pl->sid, k, (size_t)(q - k));
    pl->sid[q - k] = 0;
    return 1;
}

/* One Engine.IO packet (a text message, or the first piece of one). */
static void on_packet(conn *c, const char *p, size_t n)
{
    if (!n)
        return;
    if (p[0] == '2' && n == 1) { /* ping */
        n_pings++;
        put_text(c, "3");
        return;
    }
    if (p[0] == '1' && n == 1 && c->pl) { /* the server closed the session */
        note("polling: a close packet from the server");
        conn_close(c);
        return;
    }
    if (p[0] == '0' && c->state == ST_EIO_OPEN) {
        if (c->pl && !parse_sid(c->pl, p, n)) {
            note_error("polling: no sid in ", p, n);
            conn_close(c);
            return;
        }
        put_text(c, "40");
        c->state = ST_SIO_CONNECT;
        return;
    }
    if (p[0] != '4' || n < 2)
        return;
    switch (p[1]) {
    case '0':
        if (c->state == ST_SIO_CONNECT) {
            n_connected++;
            send_join(c);
        }
        return;
    case '1':
    case '4':
        if (!first_error[0])
            snprintf(first_error, sizeof first_error, "%.*s", (int)(n < 200 ? n : 200), p);
        conn_close(c);
        return;
    case '3':
        on_persist_ack(c, p + 2, n - 2, now_ns());
        return;
    case '2':
        break;
    default:
        return;
    }
    p += 2;
    n -= 2;
    if (STARTS(p, n, "[\"message-received\"")) {
        on_delivery(p, n, now_ns());
    } else if (STARTS(p, n, "[\"user-joined\"")) {
        n_presence++;
        t_last_presence = now_ns();
    } else if (STARTS(p, n, "[\"user-left\"")) {
        n_left++;
    } else if (STARTS(p, n, "[\"join-confirmed\"")) {
        if (c->state == ST_JOINING) {
            c->state = ST_JOINED;
            n_joined++;
        }
    } else if (STARTS(p, n, "[\"error\"")) {
        n_errors++;
        if (!first_error[0])
            snprintf(first_error, sizeof first_error, "%.*s", (int)(n < 200 ? n : 200), p);
    }
}

/* Parse the WebSocket frames in buf; returns the bytes consumed. */
static size_t on_frames(conn *c, char *buf, size_t len)
{
    size_t off = 0;
    if (c->skip) {
        size_t k = len < c->skip ? len : (size_t)c->skip;
        c->skip -= k;
        off = k;
    }
    while (off + 2 <= len && c->state != ST_CLOSED) {
        unsigned char *h = (unsigned char *)buf + off;
        int opcode = h[0] & 0x0f;
        uint64_t plen = h[1] & 0x7f;
        size_t hl = 2;
        if (plen == 126) {
            if (off + 4 > len)
                break;
            plen = ((uint64_t)h[2] << 8) | h[3];
            hl = 4;
        } else if (plen == 127) {
            if (off + 10 > len)
                break;
            plen = 0;
            for (int i = 0; i < 8; i++)
                plen = (plen << 8) | h[2 + i];
            hl = 10;
        }
        if (h[1] & 0x80)
            hl += 4; /* a masked server frame is a protocol error; skip the key */
        size_t avail = len - off - hl;
        if (off + hl > len)
            break;
        if (plen > avail) {
            /* Too big to wait for: look at what is here, discard the rest. */
            if (hl + plen > RBUF_SIZE / 2 && avail >= 64) {
                if (opcode == 1)
                    on_packet(c, buf + off + hl, avail);
                c->skip = plen - avail;
                return len;
            }
            break;
        }
        char *pl = buf + off + hl;
        switch (opcode) {
        case 1: /* text */
            on_packet(c, pl, (size_t)plen);
            break;
        case 8: /* close */
            conn_close(c);
            return len;
        case 9: /* ping → pong with the same payload */
            put_frame(c, 10, pl, (size_t)plen);
            break;
        default: /* binary, continuation, pong: nothing the chat uses */
            break;
        }
        off += hl + (size_t)plen;
    }
    return off;
}

static void on_http(conn *c, char *buf, size_t len, size_t *used)
{
    char *e = memmem(buf, len, "\r\n\r\n", 4);
    *used = 0;
    if (!e) {
        if (len > 8192)
            conn_close(c);
        return;
    }
    if (len < 12 || memcmp(buf + 9, "101", 3)) {
        if (!first_error[0])
            snprintf(first_error, sizeof first_error, "handshake: %.*s", (int)(len < 120 ? len : 120), buf);
        conn_close(c);
        return;
    }
    c->state = ST_EIO_OPEN;
    *used = (size_t)(e + 4 - buf);
}

/* An HTTP/1.1 response head at buf: its status, Content-Length and whether
 * the server closes after it. Returns the head's length, 0 while it is
 * incomplete, -1 when it cannot be used (too long, chunked, no length). */
static long http_head(const char *buf, size_t len, int *status, uint64_t *clen, int *closes)
{
    const char *e = memmem(buf, len, "\r\n\r\n", 4);
    if (!e)
        return len > 8192 ? -1 : 0;
    if (e - buf < 12 || memcmp(buf, "HTTP/1.", 7))
        return -1;
    *status = atoi(buf + 9);
    *clen = UINT64_MAX;
    *closes = 0;
    for (const char *l = memchr(buf, '\n', (size_t)(e - buf)); l && l < e; l = memchr(l, '\n', (size_t)(e - l))) {
        l++;
        size_t ll = (size_t)(e - l);
        if (ll >= 15 && !strncasecmp(l, "content-length:", 15)) {
            const char *v = l + 15;
            while (*v == ' ')
                v++;
            *clen = parse_u64(&v, e);
        } else if (ll >= 18 && !strncasecmp(l, "transfer-encoding:", 18)) {
            return -1;
        } else if (ll >= 11 && !strncasecmp(l, "connection:", 11)) {
            const char *eol = memchr(l, '\r', (size_t)(e - l) + 1);
            *closes = memmem(l, (size_t)(eol - l), "close", 5) != NULL;
        }
    }
    if (*clen == UINT64_MAX)
        return -1;
    return (long)(e + 4 - buf);
}

/* The next long poll (the handshake while there is no sid yet). */
static void get_next(conn *c)
{
    char req[256 + SID_MAX];
    int n = snprintf(req, sizeof req, "GET /socket.io/?EIO=4&transport=polling%s%s HTTP/1.1\r\nHost: %s:%d\r\n\r\n",
                     c->pl->sid[0] ? "&sid=" : "", c->pl->sid, opt.host, opt.port);
    put_raw(c, req, (size_t)n);
}

/* Bytes on a polling client's GET socket: response heads, and the body's
 * packets as each is complete (a packet ends at \x1e or at the body's end),
 * so a long body never has to fit in the buffer. Returns the bytes used. */
static size_t on_get_bytes(conn *c, char *buf, size_t len)
{
    struct poll *pl = c->pl;
    size_t off = 0;
    while (off < len && c->state != ST_CLOSED) {
        if (!pl->in_body) {
            int status, closes;
            uint64_t clen;
            long h = http_head(buf + off, len - off, &status, &clen, &closes);
            if (h == 0)
                break;
            if (h < 0 || status != 200 || closes) {
                note_error("polling GET: ", buf + off, len - off);
                conn_close(c);
                return len;
            }
            off += (size_t)h;
            pl->body_left = clen;
            pl->in_body = 1;
        }
        char *b = buf + off;
        size_t avail = len - off < pl->body_left ? len - off : (size_t)pl->body_left, used = 0;
        while (used < avail && c->state != ST_CLOSED) {
            char *sep = memchr(b + used, 0x1e, avail - used);
            if (!sep && avail < pl->body_left)
                break; /* the rest of this packet is still to come */
            size_t end = sep ? (size_t)(sep - b) : avail;
            on_packet(c, b + used, end - used);
            used = sep ? end + 1 : avail;
        }
        if (c->state == ST_CLOSED)
            return len;
        off += used;
        pl->body_left -= used;
        if (pl->body_left) {
            if (!used && len - off > RBUF_SIZE / 2) {
                note("polling: a packet over half a MiB");
                conn_close(c);
                return len;
            }
            break;
        }
        pl->in_body = 0;
        get_next(c);
    }
    return off;
}

static void post_open(conn *c);

/* Send what is queued, whole packets, as one POST, when none is on its way. */
static void post_flush(conn *c)
{
    static char req[POST_BATCH_BYTES + 1024];
    struct poll *pl = c->pl;
    conn *p = &pl->post;
    if (pl->posting || !pl->qlen || !pl->sid[0] || c->state == ST_CLOSED)
        return;
    if (p->state == ST_CLOSED) {
        post_open(c);
        return;
    }
    if (p->state != ST_HTTP)
        return; /* connecting: on_connected comes back here */
    size_t body = 0, next = 0;
    int n = 0;
    while (next < pl->qlen && n < POST_BATCH_PACKETS) {
        const char *sep = memchr(pl->q + next, 0x1e, pl->qlen - next);
        size_t end = sep ? (size_t)(sep - pl->q) : pl->qlen;
        if (n && end > POST_BATCH_BYTES)
            break;
        if (end > POST_BATCH_BYTES)
            die("a packet over the POST batch size");
        body = end;
        n++;
        next = sep ? end + 1 : pl->qlen;
    }
    int h = snprintf(req, 1024,
                     "POST /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: %s:%d\r\n"
                     "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %zu\r\n\r\n",
                     pl->sid, opt.host, opt.port, body);
    memcpy(req + h, pl->q, body);
    pl->posted = (uint32_t)body;
    pl->posting = 1;
    put_raw(p, req, (size_t)h + body);
}

/* The POST on its way was answered: its packets leave the queue. */
static void post_done(struct poll *pl)
{
    uint32_t k = pl->posted;
    if (k < pl->qlen && pl->q[k] == 0x1e)
        k++;
    memmove(pl->q, pl->q + k, pl->qlen - k);
    pl->qlen -= k;
    pl->posted = 0;
    pl->posting = pl->retried = 0;
    pl->answers++;
}

/* Bytes on a POST socket: "200 ok" answers, one per POST. */
static size_t on_post_bytes(conn *p, char *buf, size_t len)
{
    conn *c = &conns[p->idx];
    size_t off = 0;
    while (off < len) {
        int status, closes;
        uint64_t clen;
        long h = http_head(buf + off, len - off, &status, &clen, &closes);
        if (h == 0)
            break;
        if (h < 0 || status != 200 || !c->pl->posting) {
            note_error("polling POST: ", buf + off, len - off);
            conn_close(c);
            return len;
        }
        if (len - off - (size_t)h < clen)
            break;
        off += (size_t)h + (size_t)clen;
        post_done(c->pl);
        if (closes) {
            sock_release(p);
            c->pl->answers = 0;
            post_flush(c);
            return len;
        }
        post_flush(c);
        if (p->state != ST_HTTP)
            return len;
    }
    return off;
}

static void on_readable(conn *c)
{
    size_t have = c->rlen;
    if (have)
        memcpy(rbuf, c->rb, have);
    ssize_t n = recv(c->fd, rbuf + have, RBUF_SIZE - have, 0);
    if (n <= 0) {
        if (n < 0 && errno == EAGAIN)
            return;
        if (c->kind == K_POST && !c->pl->posting) {
            /* An idle keep-alive connection the server let go: open
             * another one when there is something to send. */
            sock_release(c);
            c->pl->answers = 0;
            return;
        }
        if (c->kind == K_POST && c->pl->answers && !have && !c->pl->retried) {
            /* Closed under a POST it had not begun to answer, on a reused
             * connection: the server's keep-alive timer raced the request
             * (Node, stalled past its 5 s). Send it again on a new one, once,
             * as browsers do. */
            sock_release(c);
            c->pl->answers = 0;
            c->pl->posting = 0;
            c->pl->retried = 1;
            post_flush(&conns[c->idx]);
            return;
        }
        if (c->kind != K_WS)
            note(c->kind == K_GET ? "polling: the server closed a GET connection"
                                  : "polling: the server closed a POST connection mid-request");
        conn_close(c);
        return;
    }
    size_t len = have + (size_t)n, off = 0;
    if (c->kind != K_WS) {
        off = c->kind == K_GET ? on_get_bytes(c, rbuf, len) : on_post_bytes(c, rbuf, len);
        if (c->state == ST_CLOSED || c->state == ST_CONNECTING)
            return;
        goto keep;
    }
    if (c->state == ST_HTTP) {
        size_t used;
        on_http(c, rbuf, len, &used);
        if (c->state == ST_CLOSED)
            return;
        if (c->state == ST_HTTP) {
            off = 0; /* keep all */
            goto keep;
        }
        off = used;
    }
    off += on_frames(c, rbuf + off, len - off);
    if (c->state == ST_CLOSED)
        return;
keep:
    c->rlen = (uint32_t)(len - off);
    if (c->rlen > c->rcap) {
        c->rcap = c->rlen * 2;
        c->rb = realloc(c->rb, c->rcap);
        if (!c->rb)
            die("realloc");
    }
    if (c->rlen)
        memcpy(c->rb, rbuf + off, c->rlen);
}

static void on_connected(conn *c)
{
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) {
        if (!first_error[0])
            snprintf(first_error, sizeof first_error, "connect: %s", strerror(err));
        conn_close(c);
        return;
    }
    if (c->kind != K_WS) {
        struct sockaddr_in peer;
        socklen_t pl = sizeof peer;
        /* A reopened POST socket can see an event of the one before it. */
        if (getpeername(c->fd, (struct sockaddr *)&peer, &pl) < 0)
            return;
        c->out_armed = 1;
        arm_out(c, 0);
        if (c->kind == K_POST) {
            c->state = ST_HTTP;
            post_flush(&conns[c->idx]);
            return;
        }
        c->state = ST_EIO_OPEN;
        get_next(c);
        return;
    }
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                     "Host: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     opt.host, opt.port);
    c->state = ST_HTTP;
    c->out_armed = 1; /* registered with EPOLLOUT for the connect */
    arm_out(c, 0);
    put_raw(c, req, (size_t)n);
}

/* A non-blocking connect for client c->idx, from its source address. */
static void sock_open(conn *c)
{
    int i = c->idx;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket (is ulimit -n high enough?)");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* Spread the clients over source addresses of 127.0.0.0/8 (all of it
     * is loopback on Linux), --per-source each, so a server's per-address
     * limits (Parley's max_connections_per_ip, connect_rate_per_ip) see as
     * many clients per address as real users behind one address would. */
    if (opt.per_source > 0) {
        uint32_t k = (uint32_t)(i / opt.per_source);
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000000u | (((k / 250) + 1) << 8) | ((k % 250) + 2));
        if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0)
            die("bind to a loopback source address");
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    inet_pton(AF_INET, opt.host, &a.sin_addr);
    c->state = ST_CONNECTING;
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS)
        die("connect");
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void post_open(conn *c)
{
    conn *p = &c->pl->post;
    p->kind = K_POST;
    p->idx = c->idx;
    p->pl = c->pl;
    p->out_armed = 0;
    sock_open(p);
}

static void conn_open(int i)
{
    conn *c = &conns[i];
    memset(c, 0, sizeof *c);
    c->idx = i;
    c->room = opt.room_size ? i / opt.room_size : 0;
    c->kind = K_WS;
    if (opt.polling) {
        c->kind = K_GET;
        c->pl = &polls[i];
        memset(c->pl, 0, sizeof *c->pl);
        c->pl->post.fd = -1;
    }
    sock_open(c);
    /* Both of a polling client's sockets at once: its "40" need not wait. */
    if (c->pl)
        post_open(c);
}

/* One turn of the loop: wait at most timeout_ms, handle what is ready. */
static void poll_once(int timeout_ms)
{
    static struct epoll_event evs[1024];
    int n = epoll_wait(ep, evs, 1024, timeout_ms);
    if (n < 0 && errno != EINTR)
        die("epoll_wait");
    for (int i = 0; i < n; i++) {
        conn *c = evs[i].data.ptr;
        if (c->state == ST_CLOSED)
            continue;
        if (c->state == ST_CONNECTING) {
            on_connected(c);
            continue;
        }
        if (evs[i].events & EPOLLOUT)
            flush_out(c);
        if (c->state != ST_CLOSED && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
            on_readable(c);
    }
}

static double secs(uint64_t ns)
{
    return (double)ns / 1e9;
}

/* Connect and join clients [0, n) with opt.concurrency handshakes in flight.
 * Returns 0 when all joined before the deadline. */
static int ramp(int n, uint64_t *t_connected, uint64_t *t_joined)
{
    uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)opt.timeout_ms * 1000000ull;
    int opened = 0;
    *t_connected = *t_joined = 0;
    while (now_ns() < deadline) {
        while (opened < n && (int)(opened - (int)n_joined - (int)n_failed) < opt.concurrency)
            conn_open(opened++);
        poll_once(5);
        if (!*t_connected && n_connected + n_failed >= (uint64_t)n)
            *t_connected = now_ns();
        if (n_joined + n_failed >= (uint64_t)n) {
            *t_joined = now_ns();
            if (!*t_connected)
                *t_connected = *t_joined;
            break;
        }
    }
    return n_joined == (uint64_t)n ? 0 : -1;
}

static uint64_t presence_expected(void)
{
    uint64_t total = 0;
    int rs = opt.room_size ? opt.room_size : opt.clients;
    for (int left = opt.clients; left > 0; left -= rs) {
        uint64_t m = (uint64_t)(left < rs ? left : rs);
        total += m * (m - 1) / 2;
    }
    return total;
}

/* CPU of the server (--server-pid) and of the generator over a ramp. */
struct ramp_cpu {
    uint64_t server0, self0, server_us, self_us;
};

static void ramp_cpu_start(struct ramp_cpu *c)
{
    c->server0 = server_cpu_us();
    c->self0 = self_cpu_us();
}

static void ramp_cpu_stop(struct ramp_cpu *c)
{
    c->server_us = server_cpu_us() - c->server0;
    c->self_us = self_cpu_us() - c->self0;
}

static void print_ramp(const char *mode, uint64_t t0, uint64_t tc, uint64_t tj,
                       const struct ramp_cpu *cpu)
{
    uint64_t want = presence_expected();
    uint64_t until = now_ns() + (uint64_t)opt.drain_ms * 1000000ull * 5;
    while (n_presence < want && now_ns() < until && n_failed == 0)
        poll_once(5);
    uint64_t tp = t_last_presence > t0 ? t_last_presence : now_ns();
    printf("{\"mode\":\"%s\",\"clients\":%d,\"room_size\":%d,\"joined\":%llu,\"failed\":%llu,"
           "\"connect_s\":%.4f,\"connects_per_s\":%.1f,\"join_s\":%.4f,\"joins_per_s\":%.1f,"
           "\"presence\":%llu,\"presence_expected\":%llu,\"presence_s\":%.4f,\"presence_per_s\":%.1f,"
           "\"server_cpu_s\":%.3f,\"server_cpu_pct\":%.1f,\"server_us_per_join\":%.1f,"
           "\"gen_cpu_s\":%.3f,\"gen_cpu_pct\":%.1f,\"error\":\"%s\"}\n",
           mode, opt.clients, opt.room_size ? opt.room_size : opt.clients,
           (unsigned long long)n_joined, (unsigned long long)n_failed, secs(tc - t0),
           (double)opt.clients / secs(tc - t0), secs(tj - t0), (double)n_joined / secs(tj - t0),
           (unsigned long long)n_presence, (unsigned long long)want, secs(tp - t0),
           (double)n_presence / secs(tp - t0), cpu->server_us / 1e6,
           100.0 * (double)cpu->server_us / 1e3 / ((double)(tj - t0) / 1e6),
           n_joined ? (double)cpu->server_us / (double)n_joined : 0.0, cpu->self_us / 1e6,
           100.0 * (double)cpu->self_us / 1e3 / ((double)(tj - t0) / 1e6),
           first_error[0] ? "see stderr" : "");
    fflush(stdout);
}

/* Ramp, and the CPU both sides used until the last join. */
static int measured_ramp(uint64_t *t0, uint64_t *tc, uint64_t *tj, struct ramp_cpu *cpu)
{
    int rc;

    ramp_cpu_start(cpu);
    *t0 = now_ns();
    rc = ramp(opt.clients, tc, tj);
    ramp_cpu_stop(cpu);
    if (!*tj)
        *tj = *tc = now_ns();
    return rc;
}

static int mode_ramp(void)
{
    uint64_t tc, tj, t0;
    struct ramp_cpu cpu;
    int rc = measured_ramp(&t0, &tc, &tj, &cpu);

    print_ramp("ramp", t0, tc, tj, &cpu);
    return rc;
}

static int mode_idle(void)
{
    long rss0 = server_rss_kb();
    uint64_t tc, tj, t0;
    struct ramp_cpu cpu;
    int rc = measured_ramp(&t0, &tc, &tj, &cpu);

    print_ramp("ramp", t0, tc, tj, &cpu);
    uint64_t until = now_ns() + (uint64_t)opt.hold_ms * 1000000ull;
    while (now_ns() < until)
        poll_once(20);
    long rss = server_rss_kb();
    printf("{\"mode\":\"idle\",\"clients\":%d,\"joined\":%llu,\"failed\":%llu,\"closed\":%llu,"
           "\"pings\":%llu,\"join_s\":%.3f,\"rss0_kb\":%ld,\"rss_kb\":%ld,\"bytes_per_client\":%.0f}\n",
           opt.clients, (unsigned long long)n_joined, (unsigned long long)n_failed,
           (unsigned long long)n_closed, (unsigned long long)n_pings,
           tj ? secs(tj - t0) : 0.0, rss0, rss,
           n_joined ? (double)(rss - rss0) * 1024.0 / (double)n_joined : 0.0);
    fflush(stdout);
    return rc;
}

/* Wait (at most --quiet-ms) until the rest of the machine has been nearly
 * idle for 300 ms: on a shared machine a neighbour's build or test run
 * would otherwise land in the middle of a step. */
static void quiet_gate(void)
{
    uint64_t until = now_ns() + (uint64_t)opt.quiet_ms * 1000000ull;
    while (now_ns() < until) {
        uint64_t b0 = machine_busy_us(), s0 = server_cpu_us(), g0 = self_cpu_us(), t0 = now_ns();
        uint64_t end = t0 + 300000000ull;
        while (now_ns() < end)
            poll_once(10);
        double wall = (double)(now_ns() - t0) / 1e3;
        double others = (double)(machine_busy_us() - b0) - (double)(server_cpu_us() - s0) -
                        (double)(self_cpu_us() - g0);
        if (others < 0.25 * wall)
            return;
    }
}

static int mode_fanout(void)
{
    uint64_t tc, tj;
    if (ramp(opt.clients, &tc, &tj) < 0) {
        printf("{\"mode\":\"fanout\",\"error\":\"only %llu of %d joined\"}\n",
               (unsigned long long)n_joined, opt.clients);
        return 1;
    }
    /* Let the presence storm of the joins pass before measuring. */
    uint64_t want = presence_expected(), until = now_ns() + (uint64_t)opt.timeout_ms * 1000000ull;
    while (n_presence < want && now_ns() < until)
        poll_once(5);
    for (int q = 0; q < 50; q++)
        poll_once(10);

    int members = opt.room_size && opt.room_size < opt.clients ? opt.room_size : opt.clients;
    int rc = 0, retried = 0, failed_rates = 0;
    for (int s = 0; s < opt.nrates; s++) {
        double rate = opt.rates[s];
        quiet_gate();
        hist_reset(&lat);
        n_delivered = n_late = 0;
        seq_base = seq_next;
        uint64_t closed0 = n_closed, errors0 = n_errors;
        uint64_t w0, f0, w1, f1;
        server_ws_counters(&w0, &f0);
        uint64_t cpu0 = server_cpu_us(), self0 = self_cpu_us(), busy0 = machine_busy_us();
        uint64_t t0 = now_ns(), t_end = t0 + (uint64_t)opt.step_ms * 1000000ull;
        uint64_t sent = 0;
        t_last_delivery = t0;
        for (;;) {
            uint64_t t = now_ns();
            if (t >= t_end)
                break;
            uint64_t due = (uint64_t)(rate * secs(t - t0)) + 1;
            while (sent < due) {
                send_message(&conns[sent % (uint64_t)opt.senders], 0);
                sent++;
            }
            poll_once(1);
        }
        uint64_t expected = sent * (uint64_t)members;
        uint64_t dl = now_ns() + (uint64_t)opt.drain_ms * 1000000ull;
        while (n_delivered < expected && now_ns() < dl)
            poll_once(2);
        uint64_t t1 = now_ns();
        uint64_t cpu = server_cpu_us() - cpu0, self = self_cpu_us() - self0;
        uint64_t busy = machine_busy_us() - busy0;
        double others = (double)busy - (double)cpu - (double)self;
        server_ws_counters(&w1, &f1);
        if (getenv("LOADGEN_DEBUG"))
            fprintf(stderr, "ws counters: writes %llu..%llu frames %llu..%llu\n", (unsigned long long)w0, (unsigned long long)w1, (unsigned long long)f0, (unsigned long long)f1);
        double span = secs((t_last_delivery > t0 ? t_last_delivery : t1) - t0);
        double wall = secs(t1 - t0);
        double p50 = hist_q(&lat, 0.50), p99 = hist_q(&lat, 0.99);
        uint64_t lost = expected > n_delivered ? expected - n_delivered : 0;
        uint64_t closed = n_closed - closed0;
        printf("{\"mode\":\"fanout\",\"retry\":%d,\"members\":%d,\"senders\":%d,\"rate\":%.0f,\"sent\":%llu,"
               "\"expected\":%llu,\"delivered\":%llu,\"lost\":%llu,\"closed\":%llu,\"errors\":%llu,"
               "\"deliveries_per_s\":%.0f,\"p50_us\":%.0f,\"p99_us\":%.0f,\"max_us\":%.0f,"
               "\"server_cpu_us\":%llu,\"server_cpu_pct\":%.1f,\"server_us_per_delivery\":%.3f,"
               "\"gen_cpu_pct\":%.1f,\"gen_us_per_delivery\":%.3f,\"frames_per_write\":%.2f,\"others_cpu_pct\":%.1f}\n",
               retried, members, opt.senders, rate, (unsigned long long)sent, (unsigned long long)expected,
               (unsigned long long)n_delivered, (unsigned long long)lost, (unsigned long long)closed,
               (unsigned long long)(n_errors - errors0), (double)n_delivered / span, p50, p99,
               (double)lat.max_ns / 1000.0, (unsigned long long)cpu, 100.0 * (double)cpu / 1e6 / wall,
               n_delivered ? (double)cpu / (double)n_delivered : 0.0,
               100.0 * (double)self / 1e6 / wall, n_delivered ? (double)self / (double)n_delivered : 0.0,
               w1 > w0 ? (double)(f1 - f0) / (double)(w1 - w0) : 0.0,
               others > 0 ? 100.0 * others / 1e6 / wall : 0.0);
        fflush(stdout);
        /* A failed step is run once more (a neighbour on a shared machine can
         * stall one step); a rate fails when both attempts did, and the
         * ladder ends after two failed rates in a row, or a closed client. */
        if (lost || closed || p99 > opt.p99_limit_ms * 1000.0) {
            if (closed)
                break;
            if (!retried) {
                retried = 1;
                s--;
                continue;
            }
            retried = 0;
            if (++failed_rates >= 2)
                break;
            continue;
        }
        retried = 0;
        failed_rates = 0;
    }
    return rc;
}

static void on_persist_ack(conn *c, const char *p, size_t n, uint64_t t)
{
    const char *end = p + n;
    uint64_t id = parse_u64(&p, end);
    if (c->inflight > 0)
        c->inflight--;
    if (id < seq_base) {
        n_late++;
        return;
    }
    if (memmem(p, (size_t)(end - p), "\"ok\":true", 9)) {
        n_acks++;
        hist_add(&lat, t - ack_sent_ns[id % ACK_RING]);
    } else {
        n_ack_errors++;
        if (!first_error[0])
            snprintf(first_error, sizeof first_error, "ack: %.*s", (int)(n < 200 ? n : 200), p);
    }
}

static int mode_persist(void)
{
    uint64_t tc, tj;
    opt.room_size = 1;
    if (ramp(opt.clients, &tc, &tj) < 0) {
        printf("{\"mode\":\"persist\",\"error\":\"only %llu of %d joined\"}\n",
               (unsigned long long)n_joined, opt.clients);
        return 1;
    }
    hist_reset(&lat);
    seq_base = seq_next;
    uint64_t cpu0 = server_cpu_us();
    uint64_t t0 = now_ns(), t_end = t0 + (uint64_t)opt.duration_ms * 1000000ull;
    while (now_ns() < t_end) {
        for (int i = 0; i < opt.clients; i++)
            while (conns[i].state == ST_JOINED && conns[i].inflight < opt.window)
                send_message(&conns[i], 1);
        poll_once(1);
    }
    uint64_t t1 = now_ns(), cpu = server_cpu_us() - cpu0;
    printf("{\"mode\":\"persist\",\"senders\":%d,\"window\":%d,\"confirmed\":%llu,\"failed\":%llu,"
           "\"msgs_per_s\":%.0f,\"p50_us\":%.0f,\"p99_us\":%.0f,\"max_us\":%.0f,"
           "\"server_cpu_pct\":%.1f,\"server_us_per_msg\":%.2f,\"closed\":%llu}\n",
           opt.clients, opt.window, (unsigned long long)n_acks, (unsigned long long)n_ack_errors,
           (double)n_acks / secs(t1 - t0), hist_q(&lat, 0.5), hist_q(&lat, 0.99),
           (double)lat.max_ns / 1000.0, 100.0 * (double)cpu / 1e6 / secs(t1 - t0),
           n_acks ? (double)cpu / (double)n_acks : 0.0, (unsigned long long)n_closed);
    fflush(stdout);
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen MODE [options]   MODE: fanout | ramp | idle | persist\n"
            "  --host H --port P --clients N --room-size M --senders S --concurrency C\n"
            "  --rates R1,R2,... (messages/s) --step-ms T --drain-ms T --p99-limit-ms T\n"
            "  --window W --duration-ms T --hold-ms T --timeout-ms T --server-pid PID --room-prefix S\n"
            "  --metrics 1 (read Parley's ws write/frame counters from GET /metrics between steps)\n"
            "  --quiet-ms T (before each step, wait up to T for the rest of the machine to be idle)\n"
            "  --per-source N (clients per loopback source address 127.0.x.y; 0: the kernel's choice)\n"
            "  --transport websocket | polling (Engine.IO long-polling: a GET and a POST connection per client)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    const char *mode = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        i++;
        if (!strcmp(k, "--host")) opt.host = v;
        else if (!strcmp(k, "--port")) opt.port = atoi(v);
        else if (!strcmp(k, "--clients")) opt.clients = atoi(v);
        else if (!strcmp(k, "--room-size")) opt.room_size = atoi(v);
        else if (!strcmp(k, "--senders")) opt.senders = atoi(v);
        else if (!strcmp(k, "--concurrency")) opt.concurrency = atoi(v);
        else if (!strcmp(k, "--window")) opt.window = atoi(v);
        else if (!strcmp(k, "--step-ms")) opt.step_ms = atoi(v);
        else if (!strcmp(k, "--drain-ms")) opt.drain_ms = atoi(v);
        else if (!strcmp(k, "--duration-ms")) opt.duration_ms = atoi(v);
        else if (!strcmp(k, "--hold-ms")) opt.hold_ms = atoi(v);
        else if (!strcmp(k, "--timeout-ms")) opt.timeout_ms = atoi(v);
        else if (!strcmp(k, "--p99-limit-ms")) opt.p99_limit_ms = atoi(v);
        else if (!strcmp(k, "--server-pid")) opt.server_pid = atoi(v);
        else if (!strcmp(k, "--room-prefix")) opt.room_prefix = v;
        else if (!strcmp(k, "--metrics")) opt.metrics = atoi(v);
        else if (!strcmp(k, "--quiet-ms")) opt.quiet_ms = atoi(v);
        else if (!strcmp(k, "--per-source")) opt.per_source = atoi(v);
        else if (!strcmp(k, "--transport")) {
            if (strcmp(v, "polling") && strcmp(v, "websocket"))
                usage();
            opt.polling = !strcmp(v, "polling");
        }
        else if (!strcmp(k, "--rates")) {
            char *s = strdup(v), *save = NULL;
            for (char *t = strtok_r(s, ",", &save); t && opt.nrates < 64; t = strtok_r(NULL, ",", &save))
                opt.rates[opt.nrates++] = atof(t);
            free(s);
        } else
            usage();
    }
    if (opt.clients < 1 || opt.senders < 1 || opt.senders > opt.clients || opt.concurrency < 1)
        usage();
    if (!opt.nrates)
        opt.rates[opt.nrates++] = 100;

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)opt.clients * (opt.polling ? 2 : 1) + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    conns = calloc((size_t)opt.clients, sizeof *conns);
    rbuf = malloc(RBUF_SIZE);
    lat.b = calloc(H_BUCKETS, sizeof(uint32_t));
    ack_sent_ns = calloc(ACK_RING, sizeof(uint64_t));
    polls = opt.polling ? calloc((size_t)opt.clients, sizeof *polls) : NULL;
    if (ep < 0 || !conns || !rbuf || !lat.b || !ack_sent_ns || (opt.polling && !polls))
        die("setup");

    int rc;
    if (!strcmp(mode, "fanout")) rc = mode_fanout();
    else if (!strcmp(mode, "ramp")) rc = mode_ramp();
    else if (!strcmp(mode, "idle")) rc = mode_idle();
    else if (!strcmp(mode, "persist")) rc = mode_persist();
    else usage(), rc = 2;
    if (first_error[0])
        fprintf(stderr, "loadgen: first error: %s\n", first_error);
    return rc;
}
