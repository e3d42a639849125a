/*
 * The host's one libuv loop and the two ways across threads.
 *
 * post: any thread appends to a mutex-protected FIFO and wakes the loop
 * with uv_async_send (which coalesces, so one wake-up drains everything
 * queued so far). work: uv_queue_work on libuv's pool, sized by
 * server.workers through UV_THREADPOOL_SIZE before the pool first starts.
 */
#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "log.h"

struct post_item {
    struct post_item *next;
    void (*fn)(void *arg);
    void *arg;
};

struct parley_timer {
    uv_timer_t handle;
    void (*cb)(void *arg);
    void *arg;
};

struct work_item {
    uv_work_t req;
    void (*work_fn)(void *arg);
    void (*done_fn)(void *arg, int status);
    void *arg;
};

static uv_loop_t loop;
static int loop_ready;
static uv_async_t post_async;
static pthread_mutex_t post_lock = PTHREAD_MUTEX_INITIALIZER;
static struct post_item *post_head;
static struct post_item *post_tail;
static int post_closed;          /* under post_lock */
static uint64_t start_hrtime;
static atomic_uint work_pending;

static void post_drain(uv_async_t *handle)
{
    struct post_item *item;

    (void)handle;
    pthread_mutex_lock(&post_lock);
    item = post_head;
    post_head = post_tail = NULL;
    pthread_mutex_unlock(&post_lock);

    while (item != NULL) {
        struct post_item *next = item->next;
        item->fn(item->arg);
        free(item);
        item = next;
    }
}

int parley__loop_init(unsigned workers, parley_error *err)
{
    char size[16];
    int rc;

    /* libuv reads this once, when the first job is queued. */
    snprintf(size, sizeof size, "%u", workers ? workers : 4);
    setenv("UV_THREADPOOL_SIZE", size, 1);

    rc = uv_loop_init(&loop);
    /* The listener reads how busy the loop is (listener.write_coalesce). */
    if (rc == 0)
        (void)uv_loop_configure(&loop, UV_METRICS_IDLE_TIME);
    if (rc != 0)
        return parley_error_set(err, PARLEY_EIO, "cannot create the event loop: %s", uv_strerror(rc));
    rc = uv_async_init(&loop, &post_async, post_drain);
    if (rc != 0) {
        uv_loop_close(&loop);
        return parley_error_set(err, PARLEY_EIO, "cannot create the post queue: %s", uv_strerror(rc));
    }
    /* The queue alone must not keep the loop alive: the loop ends when the
     * listener, signals and timers are gone. */
    uv_unref((uv_handle_t *)&post_async);
    pthread_mutex_lock(&post_lock);
    post_closed = 0;
    pthread_mutex_unlock(&post_lock);
    start_hrtime = uv_hrtime();
    loop_ready = 1;
    return 0;
}

uv_loop_t *parley__loop(void)
{
    return loop_ready ? &loop : NULL;
}

int parley__loop_run(void)
{
    return uv_run(&loop, UV_RUN_DEFAULT);
}

void parley__loop_stop(void)
{
    uv_stop(&loop);
}

static void close_any(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

void parley__loop_close(void)
{
    if (!loop_ready)
        return;
    pthread_mutex_lock(&post_lock);
    post_closed = 1;
    pthread_mutex_unlock(&post_lock);
    /* Run what was posted before the queue closed: completions of work that
     * finished during shutdown still deserve their callbacks. */
    post_drain(&post_async);
    uv_close((uv_handle_t *)&post_async, NULL);
    /* Anything still open at this point is closed without callbacks of its
     * own; uv_walk reaches handles owned by plugins and the host alike. */
    uv_walk(&loop, close_any, NULL);
    while (uv_run(&loop, UV_RUN_DEFAULT) != 0)
        ;
    if (uv_loop_close(&loop) != 0)
        parley__warn("event loop closed with handles still open");
    loop_ready = 0;
}

uint64_t parley__now_ms(parley_host *host)
{
    (void)host;
    return uv_now(&loop);
}

int64_t parley__wall_ms(parley_host *host)
{
    struct timespec ts;

    (void)host;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t parley__uptime_ms(parley_host *host)
{
    (void)host;
    return (uv_hrtime() - start_hrtime) / 1000000u;
}

int parley__random_bytes(parley_host *host, void *buf, size_t len)
{
    unsigned char *p = buf;

    (void)host;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return PARLEY_EIO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void timer_closed(uv_handle_t *handle)
{
    free(handle->data);
}

static void timer_fire(uv_timer_t *handle)
{
    struct parley_timer *t = handle->data;
    t->cb(t->arg);
}

parley_timer *parley__timer_start(parley_host *host, uint64_t timeout_ms, uint64_t repeat_ms,
                                  void (*cb)(void *arg), void *arg)
{
    struct parley_timer *t;

    (void)host;
    if (cb == NULL || !loop_ready)
        return NULL;
    t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->cb = cb;
    t->arg = arg;
    uv_timer_init(&loop, &t->handle);
    t->handle.data = t;
    if (uv_timer_start(&t->handle, timer_fire, timeout_ms, repeat_ms) != 0) {
        uv_close((uv_handle_t *)&t->handle, timer_closed);
        return NULL;
    }
    return t;
}

void parley__timer_stop(parley_timer *timer)
{
    if (timer == NULL)
        return;
    uv_timer_stop(&timer->handle);
    uv_close((uv_handle_t *)&timer->handle, timer_closed);
}

int parley__post(parley_host *host, void (*fn)(void *arg), void *arg)
{
    struct post_item *item;

    (void)host;
    if (fn == NULL)
        return PARLEY_EINVAL;
    item = malloc(sizeof *item);
    if (item == NULL)
        return PARLEY_ENOMEM;
    item->next = NULL;
    item->fn = fn;
    item->arg = arg;

    pthread_mutex_lock(&post_lock);
    if (post_closed || !loop_ready) {
        pthread_mutex_unlock(&post_lock);
        free(item);
        return PARLEY_ESHUTDOWN;
    }
    if (post_tail != NULL)
        post_tail->next = item;
    else
        post_head = item;
    post_tail = item;
    /* Sent under the lock so loop_close cannot close the handle between
     * the append and the wake-up. */
    uv_async_send(&post_async);
    pthread_mutex_unlock(&post_lock);
    return 0;
}

static void work_run(uv_work_t *req)
{
    struct work_item *w = req->data;
    w->work_fn(w->arg);
}

static void work_after(uv_work_t *req, int status)
{
    struct work_item *w = req->data;

    atomic_fetch_sub(&work_pending, 1);
    if (w->done_fn != NULL)
        w->done_fn(w->arg, status == UV_ECANCELED ? PARLEY_ESHUTDOWN : 0);
    free(w);
}

int parley__work(parley_host *host, void (*work_fn)(void *arg),
                 void (*done_fn)(void *arg, int status), void *arg)
{
    struct work_item *w;
    int rc;

    (void)host;
    if (work_fn == NULL)
        return PARLEY_EINVAL;
    if (!loop_ready)
        return PARLEY_ESHUTDOWN;
    w = malloc(sizeof *w);
    if (w == NULL)
        return PARLEY_ENOMEM;
    w->work_fn = work_fn;
    w->done_fn = done_fn;
    w->arg = arg;
    w->req.data = w;
    rc = uv_queue_work(&loop, &w->req, work_run, work_after);
    if (rc != 0) {
        free(w);
        return PARLEY_EIO;
    }
    atomic_fetch_add(&work_pending, 1);
    return 0;
}

unsigned parley__work_pending(void)
{
    return atomic_load(&work_pending);
}
