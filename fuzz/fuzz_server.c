/*
 * The whole server fed over a socket: the real runtime
 * (parley__runtime_main: listener, lws, the storage queue, the SQLite
 * storage and the REST and Socket.IO transports, loaded as plugins from the
 * build tree) runs on its own thread in this process, listening on
 * 127.0.0.1; every input is written to one fresh TCP connection, the write
 * side is shut, and the answer is read until the server closes or a short
 * deadline passes. A sanitizer report or a crash anywhere in the server
 * stops the process and is blamed on the input in flight.
 *
 * Input: the bytes a client sends (HTTP requests, a WebSocket upgrade and
 * masked frames, Engine.IO polling, ...). One connection per input. When
 * the input contains "{SID}", a polling handshake runs first on its own
 * connection and every "{SID}" becomes that session's sid, so one input can
 * drive a session over long-polling (POST packets, GET polls) or upgrade it.
 * Oracle: every 64 inputs, and after the last one in a replay, a canary
 * GET /health on a new connection must be answered with 200 within 5 s,
 * and the runtime must still be running.
 * At the end of a replay the server gets SIGTERM and is joined (a clean
 * shutdown, so LeakSanitizer sees what it would for the real binary).
 * Needs the plugins built (rest, sqlite, socketio if present): run from the
 * build tree's bin/.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "runtime.h"

#define READ_DEADLINE_MS 200
#define HALF_CLOSE_AFTER_MS 30
#define CANARY_EVERY 64

static pthread_t server_thread;
static volatile int server_done;
static int server_rc;
static int port;
static char dir[64];
static char config_path[128];

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void *server_main(void *arg)
{
    struct parley__runtime_options opts = { 0 };

    opts.config_path = config_path;
    server_rc = parley__runtime_main(&opts);
    server_done = 1;
    return NULL;
}

static int free_port(void)
{
    struct sockaddr_in a = { 0 };
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), p;

    FUZZ_CHECK(fd >= 0, "socket: %s", strerror(errno));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    FUZZ_CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0, "bind: %s", strerror(errno));
    FUZZ_CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0, "getsockname");
    p = ntohs(a.sin_port);
    close(fd);
    return p;
}

static int dial(void)
{
    struct sockaddr_in a = { 0 };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Send everything (as far as the server reads it before the deadline),
 * half-close, read until EOF or the deadline. Returns the bytes read into
 * buf (at most cap, the rest discarded). */
static size_t exchange(int fd, const uint8_t *data, size_t size, char *buf, size_t cap,
                       int deadline_ms)
{
    uint64_t end = now_ms() + (uint64_t)deadline_ms, sent_at = 0;
    size_t sent = 0, got = 0;
    int wr_open = 1, got_any = 0;

    while (now_ms() < end) {
        struct pollfd p = { fd, POLLIN, 0 };
        char scratch[4096];
        ssize_t n;

        if (wr_open && sent < size)
            p.events |= POLLOUT;
        if (poll(&p, 1, wr_open && sent == size ? 5 : (int)(end - now_ms())) < 0)
            break;
        if (p.revents & POLLOUT) {
            n = send(fd, data + sent, size - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0)
                sent += (size_t)n;
            else if (n < 0 && errno != EAGAIN)
                wr_open = 0;
        }
        /* Half-close once everything is out and the server has begun to
         * answer (or had HALF_CLOSE_AFTER_MS to): lws drops a connection
         * on EOF, and a request held for storage would never be answered. */
        if (wr_open && sent == size) {
            if (sent_at == 0)
                sent_at = now_ms();
            if (got_any || now_ms() - sent_at >= HALF_CLOSE_AFTER_MS) {
                shutdown(fd, SHUT_WR);
                wr_open = 0;
            }
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            n = recv(fd, scratch, sizeof scratch, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN))
                break;
            if (n > 0)
                got_any = 1;
            if (n > 0 && buf != NULL && got < cap) {
                size_t k = (size_t)n < cap - got ? (size_t)n : cap - got;

                memcpy(buf + got, scratch, k);
                got += k;
            }
        }
    }
    return got;
}

/* GET /health on a new connection: the status line (or "") into answer,
 * the milliseconds it took into *ms. */
static void health(char *answer, size_t cap, uint64_t *ms)
{
    static const char req[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    uint64_t t0 = now_ms();
    size_t n = 0;
    int fd = dial();

    if (fd >= 0) {
        n = exchange(fd, (const uint8_t *)req, sizeof req - 1, answer, cap - 1, 5000);
        close(fd);
    }
    answer[n] = '\0';
    answer[strcspn(answer, "\r\n")] = '\0';
    *ms = now_ms() - t0;
}

static void canary(void)
{
    char answer[64], again[64];
    uint64_t ms, ms2;

    FUZZ_CHECK(!server_done, "the server stopped (runtime returned %d)", server_rc);
    health(answer, sizeof answer, &ms);
    if (strncmp(answer, "HTTP/1.1 200", 12) == 0)
        return;
    /* Say whether the server is wedged or was only slow, then fail. */
    sleep(2);
    health(again, sizeof again, &ms2);
    FUZZ_CHECK(0, "canary GET /health answered \"%s\" after %llu ms (within 5 s expected); "
                  "2 s later: \"%s\" after %llu ms",
               answer, (unsigned long long)ms, again, (unsigned long long)ms2);
}

static void remove_files(void)
{
    {
        char path[192];

        snprintf(path, sizeof path, "%s/fuzz.db", dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/fuzz.db-wal", dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/fuzz.db-shm", dir);
        unlink(path);
        unlink(config_path);
        rmdir(dir);
    }
}

static void stop_server(void)
{
    if (!server_done) {
        canary();
        kill(getpid(), SIGTERM);
        pthread_join(server_thread, NULL);
    }
    remove_files();
}

static int socketio_built(void)
{
    char exe[512], path[600];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    struct stat st;
    char *slash;

    if (n <= 0)
        return 0;
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (slash == NULL)
        return 0;
    *slash = '\0';
    snprintf(path, sizeof path, "%s/../lib/parley/plugins/socketio.so", exe);
    return stat(path, &st) == 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    FILE *f;
    int i;

    snprintf(dir, sizeof dir, "/tmp/parley-fuzz-server-XXXXXX");
    FUZZ_CHECK(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(config_path, sizeof config_path, "%s/fuzz.yaml", dir);
    port = free_port();
    f = fopen(config_path, "w");
    FUZZ_CHECK(f != NULL, "%s: %s", config_path, strerror(errno));
    fprintf(f,
            "server:\n  host: 127.0.0.1\n  port: %d\n  workers: 1\n  shutdown_timeout: 2s\n"
            "log:\n  level: error\n  format: text\n"
            "listener:\n  max_body: 64KiB\n  max_message: 64KiB\n  max_connections: 256\n"
            "  header_timeout: 1s\n  idle_timeout: 5s\n"
            "storage:\n  plugin: sqlite\n  config:\n    path: %s/fuzz.db\n"
            "transports:\n  - plugin: rest\n",
            port, dir);
    if (socketio_built())
        fprintf(f, "  - plugin: socketio\n    config:\n      ping_interval: 1s\n"
                   "      ping_timeout: 1s\n      connect_timeout: 1s\n");
    fclose(f);

    FUZZ_CHECK(pthread_create(&server_thread, NULL, server_main, NULL) == 0, "pthread_create");
    /* Listening within 10 s, or the config / plugins are broken. */
    for (i = 0; i < 1000; i++) {
        int fd = dial();

        if (fd >= 0) {
            close(fd);
            break;
        }
        FUZZ_CHECK(!server_done, "the server did not start (exit %d); config %s", server_rc,
                   config_path);
        usleep(10000);
    }
    FUZZ_CHECK(i < 1000, "the server is not listening on 127.0.0.1:%d after 10 s", port);
    /* The replay stops the server cleanly at exit (LeakSanitizer then sees
     * the real shutdown). Under libFuzzer, whose signal handlers and exit
     * paths would race with a drain, the process just ends. */
    if (*argc > 0 && strstr((*argv)[0], "fuzz_replay_") != NULL)
        atexit(stop_server);
    else
        atexit(remove_files); /* a crash (abort) leaves the directory behind */
    return 0;
}

/* A fresh Engine.IO session: the sid of a polling handshake, or -1. */
static int handshake_sid(char *sid, size_t cap)
{
    static const char req[] = "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n"
                              "Host: 127.0.0.1\r\nConnection: close\r\n\r\n";
    char answer[2048];
    const char *at, *end;
    size_t n;
    int fd = dial();

    if (fd < 0)
        return -1;
    n = exchange(fd, (const uint8_t *)req, sizeof req - 1, answer, sizeof answer - 1, 2000);
    close(fd);
    answer[n] = '\0';
    at = strstr(answer, "\"sid\":\"");
    if (at == NULL)
        return -1;
    at += 7;
    end = strchr(at, '"');
    if (end == NULL || (size_t)(end - at) >= cap)
        return -1;
    memcpy(sid, at, (size_t)(end - at));
    sid[end - at] = '\0';
    return 0;
}

/* The input with every SID_TOKEN replaced by a live sid (so an input can
 * drive one session over polling, or upgrade it), or NULL when it has none. */
#define SID_TOKEN "{SID}"

static uint8_t *with_sid(const uint8_t *data, size_t size, size_t *out_len)
{
    const size_t tl = sizeof SID_TOKEN - 1;
    char sid[128];
    size_t i, o = 0, sl, count = 0;
    uint8_t *out;

    for (i = 0; i + tl <= size; i++)
        if (memcmp(data + i, SID_TOKEN, tl) == 0)
            count++;
    if (count == 0 || handshake_sid(sid, sizeof sid) < 0)
        return NULL;
    sl = strlen(sid);
    out = malloc(size + count * sl + 1);
    FUZZ_CHECK(out != NULL, "out of memory");
    for (i = 0; i < size;) {
        if (i + tl <= size && memcmp(data + i, SID_TOKEN, tl) == 0) {
            memcpy(out + o, sid, sl);
            o += sl;
            i += tl;
        } else {
            out[o++] = data[i++];
        }
    }
    *out_len = o;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long runs;
    uint8_t *live;
    size_t live_len = 0;
    int fd;

    FUZZ_CHECK(!server_done, "the server stopped (runtime returned %d)", server_rc);
    live = with_sid(data, size, &live_len);
    if (live != NULL) {
        data = live;
        size = live_len;
    }
    fd = dial();
    FUZZ_CHECK(fd >= 0, "cannot connect to 127.0.0.1:%d: %s", port, strerror(errno));
    if (getenv("PARLEY_FUZZ_VERBOSE") != NULL) {
        char answer[256];
        size_t n = exchange(fd, data, size, answer, sizeof answer - 1, READ_DEADLINE_MS);

        answer[n] = '\0';
        fprintf(stderr, "fuzz_server: %zu bytes in, answer: %.*s\n", size,
                (int)strcspn(answer, "\r\n"), answer);
    } else {
        exchange(fd, data, size, NULL, 0, READ_DEADLINE_MS);
    }
    close(fd);
    free(live);
    if (++runs % CANARY_EVERY == 0)
        canary();
    return 0;
}
