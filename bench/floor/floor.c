/* floor — what the kernel charges to send one WebSocket-sized frame to each
 * of N loopback TCP connections: the physical floor under any fan-out.
 *
 * The parent opens N connections to itself, forks a reader (pinned by the
 * caller to another core, or left to the scheduler) that drains them all
 * with epoll, and then sends ROUNDS broadcasts: for each connection, one
 * send() carrying K frames of SIZE bytes. Its own CPU time (getrusage;
 * loopback delivery runs in the sender's context, so this includes the
 * receive-side softirq) divided by the frames sent is the cost per frame.
 *
 *   floor [--conns N] [--size BYTES] [--per-send K[,K...]] [--frames TOTAL]
 *         [--reader-cpu C]
 * One JSON line per K on stdout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
    fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
    exit(2);
}

static uint64_t cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000ull +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void reader(int *fds, int n)
{
    int ep = epoll_create1(0);
    for (int i = 0; i < n; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fds[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    }
    static char buf[1 << 18];
    struct epoll_event evs[512];
    int open = n;
    while (open > 0) {
        int k = epoll_wait(ep, evs, 512, -1);
        for (int i = 0; i < k; i++) {
            ssize_t r = recv(evs[i].data.fd, buf, sizeof buf, 0);
            if (r == 0) {
                epoll_ctl(ep, EPOLL_CTL_DEL, evs[i].data.fd, NULL);
                open--;
            }
        }
    }
    _exit(0);
}

int main(int argc, char **argv)
{
    int n = 1000, size = 150, reader_cpu = -1;
    long total = 2000000;
    int per[16] = {1, 2, 4, 8}, nper = 4;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--conns")) n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--size")) size = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--frames")) total = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--reader-cpu")) reader_cpu = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--per-send")) {
            nper = 0;
            char *s = strdup(argv[i + 1]), *save = NULL;
            for (char *t = strtok_r(s, ",", &save); t && nper < 16; t = strtok_r(NULL, ",", &save))
                per[nper++] = atoi(t);
        } else {
            fprintf(stderr, "usage: floor [--conns N] [--size B] [--per-send K,..] [--frames T] [--reader-cpu C]\n");
            return 2;
        }
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t al = sizeof a;
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 4096) ||
        getsockname(ls, (struct sockaddr *)&a, &al))
        die("listen");
    int *snd = calloc((size_t)n, sizeof(int)), *rcv = calloc((size_t)n, sizeof(int));
    for (int i = 0; i < n; i++) {
        rcv[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (rcv[i] < 0 || connect(rcv[i], (struct sockaddr *)&a, sizeof a))
            die("connect");
        snd[i] = accept(ls, NULL, NULL);
        if (snd[i] < 0)
            die("accept");
        int one = 1;
        setsockopt(snd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    close(ls);
    pid_t child = fork();
    if (child == 0) {
        if (reader_cpu >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(reader_cpu, &set);
            sched_setaffinity(0, sizeof set, &set);
        }
        for (int i = 0; i < n; i++)
            close(snd[i]);
        reader(rcv, n);
    }
    for (int i = 0; i < n; i++)
        close(rcv[i]);

    /* A frame as a server sends it: 2-byte header, then the payload. */
    int maxk = 1;
    for (int j = 0; j < nper; j++)
        if (per[j] > maxk)
            maxk = per[j];
    char *frames = malloc((size_t)size * (size_t)maxk);
    for (int k = 0; k < maxk; k++) {
        char *f = frames + (size_t)k * (size_t)size;
        memset(f, 'x', (size_t)size);
        f[0] = (char)0x81;
        f[1] = (char)(size - 2 < 126 ? size - 2 : 125);
    }
    for (int j = 0; j < nper; j++) {
        int k = per[j];
        long rounds = total / ((long)n * k);
        if (rounds < 1)
            rounds = 1;
        size_t len = (size_t)size * (size_t)k;
        uint64_t c0 = cpu_us();
        double t0 = now_s();
        for (long r = 0; r < rounds; r++)
            for (int i = 0; i < n; i++)
                if (send(snd[i], frames, len, 0) != (ssize_t)len)
                    die("send");
        double wall = now_s() - t0;
        uint64_t cpu = cpu_us() - c0;
        double nf = (double)rounds * n * k;
        printf("{\"conns\":%d,\"frame_bytes\":%d,\"frames_per_send\":%d,\"frames\":%.0f,"
               "\"us_per_frame\":%.3f,\"us_per_send\":%.3f,\"frames_per_s_cpu\":%.0f,\"wall_frames_per_s\":%.0f}\n",
               n, size, k, nf, (double)cpu / nf, (double)cpu / (nf / k), nf / ((double)cpu / 1e6), nf / wall);
        fflush(stdout);
    }
    for (int i = 0; i < n; i++)
        close(snd[i]);
    int st;
    waitpid(child, &st, 0);
    return 0;
}
