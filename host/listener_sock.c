/*
 * One accepted TCP connection on the shared port: input, output, closing
 * and time limits. What the bytes mean is listener_http.c's and
 * listener_ws.c's business; this file only moves them.
 *
 * Input. Every connection reads into the listener's one 64 KiB buffer;
 * only what a protocol handler leaves unconsumed (a partial head, frame or
 * a pipelined request) is copied into a buffer of the connection's own. An
 * idle connection therefore holds no input buffer at all, which is most
 * of what makes a connected client cost a few hundred bytes.
 *
 * Output. Each connection queues pieces (shared frames by reference, or
 * buffers it owns) and is put on the flush list; the flush runs once per
 * loop turn, after the callbacks that queued, and hands each connection's
 * queue to the kernel in one writev (uv_try_write). Only when the socket
 * does not take everything does libuv get a uv_write for the rest and
 * watch for POLLOUT; the usual delivery is one syscall and no epoll_ctl.
 *
 * Closing. A graceful close shuts down our side once the queue is out and
 * reads on for a while, dropping what arrives: closing a socket with
 * unread input makes the kernel send a reset, and a reset can destroy the
 * response we just sent before the client reads it.
 */
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "list.h"
#include "listener_int.h"
#include "log.h"
#include "loop.h"

#define L parley__L

/* Input kept while a request is being answered (pipelining); past it the
 * connection stops being read until the answer is out. */
#define IN_PAUSE_AT (64 * 1024)

static void flush_sock(struct parley__sock *s);
static void start_linger(struct parley__sock *s);
static void write_stats(void);

/* ------------------------------------------------------------------ */
/* Closing                                                             */

static void unlist(struct parley__sock *s);

/* Rings of pieces given back once empty (see OUT_KEEP), kept for reuse:
 * one free list per size, linked through the rings themselves, each
 * holding at most RING_POOL_BYTES of them. The ring taken is the one given
 * back last, its lines likely still in the cache. */
#define RING_CLASSES 7          /* 4 .. 256 slots; bigger ones go to free() */
#define RING_POOL_BYTES (1u << 20)

struct ring_free {
    struct ring_free *next;
};

static struct {
    struct ring_free *head;
    size_t n;
} pool[RING_CLASSES];

static int ring_class(uint32_t cap)
{
    for (int c = 0; c < RING_CLASSES; c++)
        if (cap == 4u << c)
            return c;
    return -1;
}

static struct parley__out *ring_get(uint32_t cap)
{
    int c = ring_class(cap);
    struct ring_free *r;

    if (c < 0 || pool[c].head == NULL)
        return malloc(cap * sizeof(struct parley__out));
    r = pool[c].head;
    pool[c].head = r->next;
    pool[c].n--;
    return (struct parley__out *)r;
}

static void ring_put(struct parley__out *ring, uint32_t cap)
{
    int c = ring_class(cap);
    struct ring_free *r = (struct ring_free *)ring;

    if (ring == NULL)
        return;
    if (c < 0 || pool[c].n >= RING_POOL_BYTES / (cap * sizeof(struct parley__out))) {
        free(ring);
        return;
    }
    r->next = pool[c].head;
    pool[c].head = r;
    pool[c].n++;
}

void parley__sock_rings_free(void)
{
    for (int c = 0; c < RING_CLASSES; c++) {
        while (pool[c].head != NULL) {
            struct ring_free *r = pool[c].head;

            pool[c].head = r->next;
            free(r);
        }
        pool[c].n = 0;
    }
}

static void on_closed(uv_handle_t *h)
{
    struct parley__sock *s = (struct parley__sock *)h;

    if (s->flush_pending)
        unlist(s);
    PARLEY__LIST_REMOVE(L.socks, s);
    parley__ip_release(s);
    if (!s->refused && L.connections > 0)
        L.connections--;
    parley__metric_set(L.m.connections, L.connections);
    free(s->in);
    ring_put(s->out, s->out_cap);
    free(s);
}

/* The protocol handlers hear it once, whichever way the connection ends. */
static void tell_gone(struct parley__sock *s)
{
    if (s->req != NULL)
        parley__http_sock_gone(s);
    if (s->conn != NULL)
        parley__ws_sock_gone(s);
}

void parley__sock_abort(struct parley__sock *s)
{
    if (s->closed)
        return;
    s->closed = 1;
    tell_gone(s);
    parley__sock_queue_drop(s);
    /* A write libuv still holds is cancelled by the close (its callback
     * runs with UV_ECANCELED before on_closed). */
    uv_close((uv_handle_t *)&s->tcp, on_closed);
}

void parley__sock_finish(struct parley__sock *s)
{
    if (s->closed || s->mode == PARLEY__SOCK_LINGER)
        return;
    s->close_when_flushed = 1;
    if (s->out_count == 0 && s->wreq == NULL)
        start_linger(s);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct parley__sock *s = req->data;

    (void)status;
    free(req);
    if (s != NULL)
        s->sreq = NULL;
}

static void start_linger(struct parley__sock *s)
{
    s->mode = PARLEY__SOCK_LINGER;
    tell_gone(s);
    s->in_len = 0;
    if (!s->processing) {       /* else the input loop is reading it: trimmed later */
        free(s->in);
        s->in = NULL;
        s->in_cap = 0;
    }
    s->deadline_ms = parley__now_ms(NULL) +
                     (s->refused ? PARLEY__REFUSED_LINGER_MS : PARLEY__LINGER_MS);
    s->sreq = malloc(sizeof *s->sreq);
    if (s->sreq == NULL || uv_shutdown(s->sreq, (uv_stream_t *)&s->tcp, on_shutdown) != 0) {
        free(s->sreq);
        s->sreq = NULL;
        parley__sock_abort(s);
        return;
    }
    s->sreq->data = s;
    s->shut = 1;
    parley__sock_resume(s);
}

/* ------------------------------------------------------------------ */
/* Output                                                              */

static void account(size_t add, size_t sub)
{
    L.queued_total = L.queued_total + add - sub;
    parley__metric_set(L.m.client_memory, (double)L.queued_total);
}

/* The ring's capacity is a power of two (4, doubling), so a slot is a
 * mask, not a division: this runs for every piece queued, batched and
 * popped, 50 times per write at saturation. */
static uint32_t slot(const struct parley__sock *s, uint32_t i)
{
    return (s->out_head + i) & (s->out_cap - 1);
}

static void piece_free(struct parley__out *o)
{
    if (o->frame != NULL)
        parley__frame_drop(o->frame);
    free(o->owned);
    memset(o, 0, sizeof *o);
}

static void pop(struct parley__sock *s)
{
    struct parley__out *o = &s->out[s->out_head];

    s->out_bytes -= o->len;
    account(0, o->len);
    piece_free(o);
    s->out_head = slot(s, 1);
    s->out_count--;
    s->out_off = 0;
}

static void enqueue(struct parley__sock_queue *q, struct parley__sock *s)
{
    s->flush_next = NULL;
    s->flush_prev = q->tail;
    if (q->tail != NULL)
        q->tail->flush_next = s;
    else
        q->head = s;
    q->tail = s;
}

static void push(struct parley__sock_queue *q, struct parley__sock *s)
{
    s->flush_prev = NULL;
    s->flush_next = q->head;
    if (q->head != NULL)
        q->head->flush_prev = s;
    else
        q->tail = s;
    q->head = s;
}

/* Take s out of q, wherever it is. */
static void unlink_from(struct parley__sock_queue *q, struct parley__sock *s)
{
    if (s->flush_prev != NULL)
        s->flush_prev->flush_next = s->flush_next;
    else
        q->head = s->flush_next;
    if (s->flush_next != NULL)
        s->flush_next->flush_prev = s->flush_prev;
    else
        q->tail = s->flush_prev;
    s->flush_next = s->flush_prev = NULL;
}

static struct parley__sock *dequeue(struct parley__sock_queue *q)
{
    struct parley__sock *s = q->head;

    if (s != NULL)
        unlink_from(q, s);
    return s;
}

/* The check runs right after this turn's I/O callbacks; the idle keeps
 * the next poll from blocking, so output queued from a timer, or the
 * rest of a flush that ran out of its budget, goes out next turn. */
static void start_flushing(void)
{
    uv_check_start(&L.flush_check, (uv_check_cb)parley__sock_flush_all);
    uv_idle_start(&L.flush_idle, (uv_idle_cb)parley__sock_flush_all);
}

/* Oldest first, so that the clients of a room written in slices are all
 * written before any of them is written again; but an answer to what a
 * client said this very turn (a handshake step, an ack) goes first: it is
 * awaited, and the connection is still warm in the cache. */
static void want_flush(struct parley__sock *s)
{
    if (s->flush_pending)
        return;
    s->flush_pending = 1;
    if (L.ready.head == NULL)
        start_flushing();
    if (s->last_rx_ms == parley__now_ms(NULL))
        push(&L.ready, s);
    else
        enqueue(&L.ready, s);
}

static int queue_piece(struct parley__sock *s, const unsigned char *data, size_t len,
                       parley_frame *frame, void *owned)
{
    struct parley__out *o;

    if (s->closed || s->mode == PARLEY__SOCK_LINGER)
        return PARLEY_ECLOSED;
    if (s->out_count == s->out_cap) {
        uint32_t cap = s->out_cap ? s->out_cap * 2 : s->out_last_cap ? s->out_last_cap : 4;
        struct parley__out *r = ring_get(cap);

        if (r == NULL || cap < s->out_cap) {
            free(r);
            return PARLEY_ENOMEM;
        }
        for (uint32_t i = 0; i < s->out_count; i++)
            r[i] = s->out[slot(s, i)];
        ring_put(s->out, s->out_cap);
        s->out = r;
        s->out_cap = cap;
        s->out_head = 0;
    }
    o = &s->out[slot(s, s->out_count)];
    o->data = data;
    o->len = len;
    o->frame = frame;
    o->owned = owned;
    s->out_count++;
    s->out_bytes += len;
    account(len, 0);
    want_flush(s);
    return 0;
}

int parley__sock_queue_frame(struct parley__sock *s, parley_frame *frame)
{
    size_t len;
    const unsigned char *wire = parley__frame_wire(frame, &len);
    int rc = queue_piece(s, wire, len, frame, NULL);

    if (rc == 0)
        parley__frame_hold(frame);
    return rc;
}

int parley__sock_queue_owned(struct parley__sock *s, void *buf, size_t len)
{
    int rc = queue_piece(s, buf, len, NULL, buf);

    if (rc < 0)
        free(buf);
    return rc;
}

int parley__sock_queue_copy(struct parley__sock *s, const void *data, size_t len)
{
    void *b = malloc(len ? len : 1);

    if (b == NULL)
        return PARLEY_ENOMEM;
    memcpy(b, data, len);
    return parley__sock_queue_owned(s, b, len);
}

void parley__sock_queue_drop(struct parley__sock *s)
{
    /* Pieces in a pending uv_write stay until its callback. */
    uint32_t keep = s->wreq != NULL ? s->wreq_pieces : 0;

    while (s->out_count > keep) {
        uint32_t last = slot(s, s->out_count - 1);
        struct parley__out *o = &s->out[last];

        s->out_bytes -= o->len;
        account(0, o->len);
        piece_free(o);
        s->out_count--;
    }
    if (s->out_count == 0)
        s->out_off = 0;
}

int parley__sock_flushed(const struct parley__sock *s)
{
    return s->out_count == 0 && s->wreq == NULL;
}

/* A ring bigger than this is given back once empty: a burst (a join
 * storm, coalesced writes) must not leave every idle client holding its
 * high-water mark (at 10 000 clients that was 1.5 kB each). Its size is
 * remembered (up to OUT_REMEMBER slots), and the next ring is taken at
 * that size from the pool: a client of a busy room fills the same size
 * between every two writes, and growing it again by doubling from 4 slots,
 * each step a fresh allocation and a copy, was about a tenth of the server
 * at saturation. */
#define OUT_KEEP 8
#define OUT_REMEMBER 256

static void after_output(struct parley__sock *s)
{
    if (s->closed)
        return;
    if (s->out_count == 0 && s->wreq == NULL && s->out_cap > OUT_KEEP) {
        s->out_last_cap = s->out_cap < OUT_REMEMBER ? s->out_cap : OUT_REMEMBER;
        ring_put(s->out, s->out_cap);
        s->out = NULL;
        s->out_cap = 0;
        s->out_head = 0;
    }
    if (s->out_count == 0 && s->wreq == NULL && s->close_when_flushed &&
        s->mode != PARLEY__SOCK_LINGER)
        start_linger(s);
}

static void on_written(uv_write_t *req, int status)
{
    struct parley__sock *s = req->data;
    uint32_t n = s->wreq_pieces;

    free(req);
    s->wreq = NULL;
    s->wreq_pieces = 0;
    while (n-- > 0 && s->out_count > 0) {
        const struct parley__out *o = &s->out[s->out_head];

        if (s->conn != NULL && status == 0) {
            L.ws_frames += o->frame != NULL;
            L.ws_bytes += o->len - s->out_off;
        }
        pop(s);
    }
    if (s->conn != NULL && status == 0)
        L.ws_writes++;
    if (s->closed)
        return;
    if (status < 0) {
        L_DEBUG("write to %s failed: %s", s->remote, uv_strerror(status));
        parley__sock_abort(s);
        return;
    }
    if (s->out_count > 0)
        flush_sock(s);
    else
        after_output(s);
    write_stats();
}

/* The rest of a batch the socket did not take: libuv writes it when the
 * socket is writable again. The pieces stay queued until then. */
static int write_rest(struct parley__sock *s, uv_buf_t *bufs, unsigned n, uint32_t pieces)
{
    uv_write_t *w = malloc(sizeof *w);
    int rc;

    if (w == NULL)
        return UV_ENOMEM;
    w->data = s;
    rc = uv_write(w, (uv_stream_t *)&s->tcp, bufs, n, on_written);
    if (rc < 0) {
        free(w);
        return rc;
    }
    s->wreq = w;
    s->wreq_pieces = pieces;
    return 0;
}

/* Several small pieces are copied into the listener's one write buffer
 * and go to the kernel as one: the kernel pays per iovec segment (import,
 * usercopy checks, a copy loop each), which at 50 frames of 150 bytes per
 * write cost more than copying the 7.5 kB here. What the kernel does not
 * take stays in the ring as it was; only the count of bytes matters. */
static int try_write(struct parley__sock *s, uv_buf_t *bufs, unsigned n, size_t total)
{
    uv_buf_t one;
    size_t off = 0;

    if (n < 2 || total > PARLEY__WRITE_GATHER)
        return uv_try_write((uv_stream_t *)&s->tcp, bufs, n);
    for (unsigned i = 0; i < n; i++) {
        memcpy(L.wbuf + off, bufs[i].base, bufs[i].len);
        off += bufs[i].len;
    }
    one = uv_buf_init((char *)L.wbuf, (unsigned)total);
    return uv_try_write((uv_stream_t *)&s->tcp, &one, 1);
}

static void flush_sock(struct parley__sock *s)
{
    uv_buf_t bufs[PARLEY__WRITE_IOV];

    while (!s->closed && s->wreq == NULL && s->out_count > 0) {
        unsigned n = 0;
        size_t total = 0, done;
        int r;

        for (uint32_t i = 0; i < s->out_count && n < PARLEY__WRITE_IOV; i++) {
            const struct parley__out *o = &s->out[slot(s, i)];
            size_t skip = i == 0 ? s->out_off : 0;

            bufs[n++] = uv_buf_init((char *)o->data + skip, (unsigned)(o->len - skip));
            total += o->len - skip;
        }
        r = try_write(s, bufs, n, total);
        if (r == UV_EAGAIN)
            r = 0;
        if (r < 0) {
            L_DEBUG("write to %s failed: %s", s->remote, uv_strerror(r));
            parley__sock_abort(s);
            return;
        }
        if (s->conn != NULL) {
            L.ws_writes++;
            L.ws_bytes += (uint64_t)r;
        }
        done = (size_t)r;
        /* Pop what went out whole; note how far into the next it got. */
        while (s->out_count > 0 && done > 0) {
            struct parley__out *o = &s->out[s->out_head];
            size_t left = o->len - s->out_off;

            if (done < left) {
                s->out_off += done;
                break;
            }
            done -= left;
            if (o->frame != NULL && s->conn != NULL)
                L.ws_frames++;
            pop(s);
        }
        if ((size_t)r == total)
            continue;
        /* The kernel's buffer is full: hand libuv the unwritten part of
         * this batch, starting where the kernel stopped. */
        {
            unsigned k = 0;
            uint32_t pieces = 0;

            for (uint32_t i = 0; i < s->out_count && k < PARLEY__WRITE_IOV; i++) {
                const struct parley__out *o = &s->out[slot(s, i)];
                size_t skip = i == 0 ? s->out_off : 0;

                bufs[k++] = uv_buf_init((char *)o->data + skip, (unsigned)(o->len - skip));
                pieces++;
            }
            if (write_rest(s, bufs, k, pieces) < 0)
                parley__sock_abort(s);
            return;
        }
    }
    after_output(s);
}

static void write_stats(void)
{
    if (L.ws_writes == 0)
        return;
    parley__metric_add(L.m.ws_writes, (double)L.ws_writes);
    parley__metric_add(L.m.ws_frames, (double)L.ws_frames);
    parley__metric_add(L.m.ws_bytes, (double)L.ws_bytes);
    L.ws_writes = L.ws_frames = L.ws_bytes = 0;
}

/* The longest an answer to a client waits for coalescing. */
#define REPLY_WAIT_MS 5

/* listener.write_coalesce: while the loop is busy (listener.c,
 * measure_busy, sets the window L.coalesce_ms), a WebSocket written less
 * than the window ago waits for the coalescing timer, so that a client
 * receiving many frames a second gets them several per write: a write
 * costs the kernel about as much as dozens of small frames' bytes, and a
 * saturated loop spends most of its time in writes. A client receiving
 * less often than that, a client that is waiting for an answer, or any
 * client of a server with time to spare, is written at once. */
static int coalesce(struct parley__sock *s, uint64_t now)
{
    uint64_t wait = L.coalesce_ms;
    struct parley__hold *h = &L.hold[PARLEY__HOLD_QUIET];

    if (wait == 0 || s->conn == NULL || s->waited || s->last_write_ms == 0)
        return 0;
    /* The client said something since its last write: what it gets now is
     * its answer (a handshake step, an ack, its join history with what the
     * room sent meanwhile), which it waits for before it says more. Holding
     * it would add the wait to every round trip of a join, and a join is
     * four of them. */
    if (s->spoke)
        return 0;
    /* The client spoke within the window, and was answered: what it gets
     * now may still be a late part of an answer, so it waits less. */
    if (now - s->last_rx_ms < wait) {
        h = &L.hold[PARLEY__HOLD_REPLY];
        if (wait > REPLY_WAIT_MS)
            wait = REPLY_WAIT_MS;
    }
    if (now - s->last_write_ms >= wait)
        return 0;
    enqueue(&h->queue, s);
    if (!uv_is_active((uv_handle_t *)&h->timer))
        uv_timer_start(&h->timer, parley__sock_hold_over, wait - (now - s->last_write_ms), 0);
    return 1;
}

/* How long one flush may write before the loop reads again. A room of
 * 5 000 is 5 000 writes, 25 ms or more of kernel time: written in one go,
 * every client's input (and the messages that would have joined this
 * very round of writes) waits behind it. In slices, what arrives during
 * the round still rides it to the clients not written yet. */
#define FLUSH_BUDGET_NS 1000000
/* How many connections are written between two looks at the clock. */
#define FLUSH_CLOCK_EVERY 32

void parley__sock_flush_all(void)
{
    uint64_t now = parley__now_ms(NULL), start = uv_hrtime();
    unsigned n = 0;
    struct parley__sock *s;

    while ((s = dequeue(&L.ready)) != NULL) {
        s->flush_pending = 0;
        if (s->closed)
            continue;
        if (coalesce(s, now)) {
            s->flush_pending = 1;
            continue;
        }
        s->waited = 0;
        s->spoke = 0;
        s->last_write_ms = now;
        flush_sock(s);
        if (++n % FLUSH_CLOCK_EVERY == 0 && uv_hrtime() - start >= FLUSH_BUDGET_NS)
            break;
    }
    if (L.ready.head == NULL) {
        uv_check_stop(&L.flush_check);
        uv_idle_stop(&L.flush_idle);
    }
    write_stats();
}

/* The coalescing window is over: everything that waited goes out in the
 * next flush, all together, so that the clients of a big room keep one
 * rhythm of writes rather than one timer each. */
void parley__sock_hold_over(uv_timer_t *t)
{
    struct parley__hold *h = t->data;
    struct parley__sock *s;

    if (h->queue.head == NULL)
        return;
    if (L.ready.head == NULL)
        start_flushing();
    while ((s = dequeue(&h->queue)) != NULL) {
        s->waited = 1;
        enqueue(&L.ready, s);
    }
}

/* The queues a connection with flush_pending is in exactly one of. */
#define N_FLUSH_QUEUES 3

static struct parley__sock_queue *flush_queue(size_t i)
{
    return i == 0 ? &L.ready : &L.hold[i - 1].queue;
}

void parley__sock_queues_clear(void)
{
    struct parley__sock *s;

    for (size_t i = 0; i < N_FLUSH_QUEUES; i++)
        while ((s = dequeue(flush_queue(i))) != NULL)
            s->flush_pending = 0;
}

/* A connection closing while it waits on a flush queue must leave it
 * before it is freed. A whole room may be waiting in a hold when it
 * closes, so this does not scan: only a connection at one end of its
 * queue needs to know which queue that is (unlink_from touches q only
 * then). */
static void unlist(struct parley__sock *s)
{
    struct parley__sock_queue *q = NULL;

    for (size_t i = 0; i < N_FLUSH_QUEUES && q == NULL; i++)
        if (flush_queue(i)->head == s || flush_queue(i)->tail == s)
            q = flush_queue(i);
    unlink_from(q, s);
}

/* ------------------------------------------------------------------ */
/* Input                                                               */

void parley__sock_consume(struct parley__sock *s, size_t n)
{
    if (n >= s->in_len) {
        s->in_len = 0;
        return;
    }
    memmove(s->in, s->in + n, s->in_len - n);
    s->in_len -= n;
}

static long handle(struct parley__sock *s, unsigned char *data, size_t len)
{
    if (s->close_when_flushed)
        return (long)len;       /* the last answer is queued: nothing more is read */
    switch (s->mode) {
    case PARLEY__SOCK_HTTP:
        return parley__http_input(s, data, len);
    case PARLEY__SOCK_WS:
        return parley__ws_input(s, data, len);
    default:
        return (long)len;       /* lingering: dropped */
    }
}

/* Hand data[0..len) to the protocol until it stops taking any; return
 * how much it took, or -1 when the connection went away meanwhile. */
static long run(struct parley__sock *s, unsigned char *data, size_t len)
{
    size_t off = 0;

    s->processing = 1;
    while (off < len && !s->closed) {
        long n = handle(s, data + off, len - off);

        if (n < 0) {
            s->processing = 0;
            return -1;
        }
        if (n == 0)
            break;
        off += (size_t)n;
    }
    s->processing = 0;
    return s->closed ? -1 : (long)off;
}

static int keep_input(struct parley__sock *s, const unsigned char *data, size_t len)
{
    if (s->in_len + len > s->in_cap) {
        size_t cap = s->in_cap ? s->in_cap : 256;
        unsigned char *b;

        while (cap < s->in_len + len)
            cap *= 2;
        b = realloc(s->in, cap);
        if (b == NULL)
            return -1;
        s->in = b;
        s->in_cap = cap;
    }
    memcpy(s->in + s->in_len, data, len);
    s->in_len += len;
    return 0;
}

/* Shrink the kept buffer once it is small again: a big pipelined burst
 * should not pin its high-water mark for the connection's life. */
static void trim_input(struct parley__sock *s)
{
    if (s->in_len == 0 && s->in_cap > 0) {
        free(s->in);
        s->in = NULL;
        s->in_cap = 0;
    }
}

void parley__sock_process(struct parley__sock *s)
{
    long n;

    if (s->processing) {
        s->reprocess = 1;
        return;
    }
    do {
        s->reprocess = 0;
        if (s->closed || s->in_len == 0)
            break;
        n = run(s, s->in, s->in_len);
        if (n < 0)
            return;
        parley__sock_consume(s, (size_t)n);
    } while (s->reprocess);
    if (!s->closed) {
        trim_input(s);
        if (s->in_len < IN_PAUSE_AT)
            parley__sock_resume(s);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init((char *)L.rbuf, 64 * 1024);
}

static void on_eof(struct parley__sock *s, ssize_t nread)
{
    if (nread != UV_EOF)
        L_DEBUG("read from %s: %s", s->remote, uv_strerror((int)nread));
    parley__sock_abort(s);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct parley__sock *s = (struct parley__sock *)stream;
    long n;

    (void)buf;
    if (nread == 0 || s->closed)
        return;
    if (nread < 0) {
        on_eof(s, nread);
        return;
    }
    s->last_rx_ms = parley__now_ms(NULL);
    s->spoke = 1;
    if (s->mode == PARLEY__SOCK_LINGER) {
        s->lingered += (uint64_t)nread;
        return;
    }
    if (s->in_len > 0) {
        /* Something was left over: the new bytes go after it. */
        if (keep_input(s, L.rbuf, (size_t)nread) < 0) {
            parley__sock_abort(s);
            return;
        }
        parley__sock_process(s);
        goto check;
    }
    n = run(s, L.rbuf, (size_t)nread);
    if (n < 0)
        return;
    if ((size_t)n < (size_t)nread && keep_input(s, L.rbuf + n, (size_t)nread - (size_t)n) < 0) {
        parley__sock_abort(s);
        return;
    }
check:
    if (!s->closed && s->in_len >= IN_PAUSE_AT)
        parley__sock_pause(s);
}

void parley__sock_pause(struct parley__sock *s)
{
    if (s->closed || !s->reading)
        return;
    uv_read_stop((uv_stream_t *)&s->tcp);
    s->reading = 0;
}

void parley__sock_resume(struct parley__sock *s)
{
    if (s->closed || s->reading)
        return;
    if (s->mode != PARLEY__SOCK_LINGER && s->in_len >= IN_PAUSE_AT)
        return;
    if (uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read) == 0)
        s->reading = 1;
}

/* ------------------------------------------------------------------ */
/* Accept, refuse, time limits                                         */

static void peer_name(struct parley__sock *s)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;

    snprintf(s->remote, sizeof s->remote, "unknown");
    if (uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET)
        uv_ip4_name((struct sockaddr_in *)&ss, s->remote, sizeof s->remote);
    else if (ss.ss_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)&ss, s->remote, sizeof s->remote);
}

void parley__sock_accepted(struct parley__sock *s)
{
    uint64_t now = parley__now_ms(NULL);

    peer_name(s);
    s->mode = PARLEY__SOCK_HTTP;
    s->last_rx_ms = now;
    s->deadline_ms = now + L.opts.header_timeout_ms;
    uv_tcp_nodelay(&s->tcp, 1);
    parley__sock_resume(s);
    if (!s->reading)
        parley__sock_abort(s);
}

void parley__sock_refuse(struct parley__sock *s, int status, const char *code,
                         const char *message)
{
    char *resp;
    size_t len;

    if (parley__http_error_response(status, code, message, 1, &resp, &len) == 0)
        (void)parley__sock_queue_owned(s, resp, len);
    parley__sock_finish(s);
}

void parley__sock_sweep(uint64_t now)
{
    struct parley__sock *s, *next;

    for (s = L.socks; s != NULL; s = next) {
        next = s->next;
        if (s->closed)
            continue;
        if (s->mode == PARLEY__SOCK_WS) {
            parley__ws_check(s, now);
            continue;
        }
        if (s->deadline_ms == 0 || now < s->deadline_ms)
            continue;
        if (s->mode == PARLEY__SOCK_LINGER)
            parley__sock_abort(s);
        else
            parley__http_timeout(s);
    }
}
