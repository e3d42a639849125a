/* sink — a trivial Socket.IO "server" for measuring the load generator's own
 * ceiling. It answers just enough of the handshake for bench/loadgen (a 101
 * without checking the key, the Engine.IO open packet, 40, join-confirmed)
 * and broadcasts each send-message's content as a message-received frame to
 * everyone who joined (one room). Frames are appended to each member's
 * buffer and every dirty buffer is flushed once per epoll turn, so under
 * load it writes many frames per send and costs far less than a real
 * server: whatever stops the run is the generator.
 *
 *   sink --port P        (listens on 127.0.0.1)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct sconn {
    int fd, upgraded, joined, dirty;
    char *in;
    size_t inlen, incap;
    char *out;
    size_t outlen, outcap;
} sconn;

static sconn **members;
static int nmembers, capmembers;
static sconn **dirty;
static int ndirty, capdirty;
static int ep;

static void append(sconn *c, const void *p, size_t n)
{
    if (c->outlen + n > c->outcap) {
        c->outcap = (c->outlen + n) * 2 + 1024;
        c->out = realloc(c->out, c->outcap);
    }
    memcpy(c->out + c->outlen, p, n);
    c->outlen += n;
    if (!c->dirty) {
        c->dirty = 1;
        if (ndirty == capdirty) {
            capdirty = capdirty ? capdirty * 2 : 1024;
            dirty = realloc(dirty, sizeof *dirty * (size_t)capdirty);
        }
        dirty[ndirty++] = c;
    }
}

static size_t frame_header(unsigned char *h, size_t len)
{
    h[0] = 0x81;
    if (len < 126) {
        h[1] = (unsigned char)len;
        return 2;
    }
    if (len < 65536) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        return 4;
    }
    h[1] = 127;
    for (int i = 0; i < 8; i++)
        h[2 + i] = (unsigned char)(len >> (56 - 8 * i));
    return 10;
}

static void send_text(sconn *c, const char *s, size_t len)
{
    unsigned char h[10];
    append(c, h, frame_header(h, len));
    append(c, s, len);
}

static void drop(sconn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    for (int i = 0; i < nmembers; i++)
        if (members[i] == c) {
            members[i] = members[--nmembers];
            break;
        }
    /* freed lazily: a dirty entry may still point here */
}

static void broadcast(const char *content, size_t clen)
{
    char msg[512];
    int n = snprintf(msg, sizeof msg,
                     "42[\"message-received\",{\"_id\":\"000000000000000000000000\",\"username\":\"u\","
                     "\"content\":\"%.*s\",\"room\":\"r\",\"timestamp\":\"2026-01-01T00:00:00.000Z\"}]",
                     (int)clen, content);
    unsigned char frame[600];
    size_t hl = frame_header(frame, (size_t)n);
    memcpy(frame + hl, msg, (size_t)n);
    for (int i = 0; i < nmembers; i++)
        append(members[i], frame, hl + (size_t)n);
}

static void on_text(sconn *c, const char *p, size_t n)
{
    if (n == 2 && !memcmp(p, "40", 2)) {
        send_text(c, "40{\"sid\":\"sink\"}", 16);
    } else if (n > 14 && !memcmp(p, "42[\"join-chat\"", 14)) {
        static const char jc[] = "42[\"join-confirmed\",{\"username\":\"u\",\"room\":\"r\",\"history\":[]}]";
        send_text(c, jc, sizeof jc - 1);
        if (!c->joined) {
            c->joined = 1;
            if (nmembers == capmembers) {
                capmembers = capmembers ? capmembers * 2 : 1024;
                members = realloc(members, sizeof *members * (size_t)capmembers);
            }
            members[nmembers++] = c;
        }
    } else if (n > 17 && !memcmp(p, "42[\"send-message\"", 17)) {
        const char *k = memmem(p, n, "\"content\":\"", 11);
        if (!k)
            return;
        k += 11;
        const char *e = memchr(k, '"', (size_t)(p + n - k));
        if (e && e - k < 256)
            broadcast(k, (size_t)(e - k));
    }
}

static void on_frames(sconn *c)
{
    size_t off = 0;
    while (c->inlen - off >= 2) {
        unsigned char *h = (unsigned char *)c->in + off;
        uint64_t len = h[1] & 0x7f;
        size_t hl = 2;
        if (len == 126) {
            if (c->inlen - off < 4)
                break;
            len = ((uint64_t)h[2] << 8) | h[3];
            hl = 4;
        } else if (len == 127) {
            if (c->inlen - off < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = (len << 8) | h[2 + i];
            hl = 10;
        }
        unsigned char *mask = NULL;
        if (h[1] & 0x80) {
            mask = h + hl;
            hl += 4;
        }
        if (c->inlen - off < hl + len)
            break;
        char *pl = c->in + off + hl;
        if (mask && (mask[0] | mask[1] | mask[2] | mask[3]))
            for (uint64_t i = 0; i < len; i++)
                pl[i] ^= (char)mask[i & 3];
        int op = h[0] & 0x0f;
        if (op == 8) {
            drop(c);
            return;
        }
        if (op == 1)
            on_text(c, pl, (size_t)len);
        off += hl + (size_t)len;
    }
    memmove(c->in, c->in + off, c->inlen - off);
    c->inlen -= off;
}

static void on_readable(sconn *c)
{
    if (c->incap - c->inlen < 65536) {
        c->incap = c->incap * 2 + 65536;
        c->in = realloc(c->in, c->incap);
    }
    ssize_t r = recv(c->fd, c->in + c->inlen, c->incap - c->inlen, 0);
    if (r <= 0) {
        if (r < 0 && errno == EAGAIN)
            return;
        drop(c);
        return;
    }
    c->inlen += (size_t)r;
    if (!c->upgraded) {
        char *e = memmem(c->in, c->inlen, "\r\n\r\n", 4);
        if (!e)
            return;
        static const char ok[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                 "Connection: Upgrade\r\nSec-WebSocket-Accept: sink\r\n\r\n";
        append(c, ok, sizeof ok - 1);
        static const char open[] = "0{\"sid\":\"sink\",\"upgrades\":[],\"pingInterval\":25000,"
                                   "\"pingTimeout\":20000,\"maxPayload\":1000000}";
        send_text(c, open, sizeof open - 1);
        c->upgraded = 1;
        size_t used = (size_t)(e + 4 - c->in);
        memmove(c->in, c->in + used, c->inlen - used);
        c->inlen -= used;
    }
    on_frames(c);
}

static void flush_dirty(void)
{
    for (int i = 0; i < ndirty; i++) {
        sconn *c = dirty[i];
        c->dirty = 0;
        if (c->fd < 0)
            continue;
        size_t off = 0;
        while (off < c->outlen) {
            ssize_t w = send(c->fd, c->out + off, c->outlen - off, MSG_NOSIGNAL);
            if (w <= 0)
                break; /* a full socket: the frames are dropped, the generator counts a loss */
            off += (size_t)w;
        }
        c->outlen = 0;
    }
    ndirty = 0;
}

int main(int argc, char **argv)
{
    int port = 0;
    for (int i = 1; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
    if (!port) {
        fprintf(stderr, "usage: sink --port P\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 4096)) {
        perror("sink: listen");
        return 2;
    }
    ep = epoll_create1(0);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev);
    struct epoll_event evs[1024];
    for (;;) {
        int k = epoll_wait(ep, evs, 1024, -1);
        for (int i = 0; i < k; i++) {
            if (!evs[i].data.ptr) {
                int fd;
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    sconn *c = calloc(1, sizeof *c);
                    c->fd = fd;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            sconn *c = evs[i].data.ptr;
            if (c->fd >= 0)
                on_readable(c);
        }
        flush_dirty();
    }
}
