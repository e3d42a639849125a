/*
 * The host's one libuv loop, and the two ways across threads: post (any
 * thread → loop) and work (loop → worker pool → loop). Timers for plugins.
 */
#ifndef PARLEY__LOOP_H
#define PARLEY__LOOP_H

#include <stdint.h>

#include <uv.h>

#include <parley/parley.h>

/* Create the loop and the post queue; `workers` sizes the worker pool. */
int parley__loop_init(unsigned workers, parley_error *err);
uv_loop_t *parley__loop(void);
/* Run until parley__loop_stop; returns once every handle is closed. */
int parley__loop_run(void);
/* Make parley__loop_run return after this iteration (shutdown is done). */
void parley__loop_stop(void);
/* Close the post queue (later posts fail with PARLEY_ESHUTDOWN), close
 * every remaining handle and free the loop. After run has returned. */
void parley__loop_close(void);

/* SDK signatures (host.h). */
uint64_t parley__now_ms(parley_host *host);
int64_t parley__wall_ms(parley_host *host);
uint64_t parley__uptime_ms(parley_host *host);
int parley__random_bytes(parley_host *host, void *buf, size_t len);
parley_timer *parley__timer_start(parley_host *host, uint64_t timeout_ms, uint64_t repeat_ms,
                                  void (*cb)(void *arg), void *arg);
void parley__timer_stop(parley_timer *timer);
int parley__post(parley_host *host, void (*fn)(void *arg), void *arg);
int parley__work(parley_host *host, void (*work_fn)(void *arg),
                 void (*done_fn)(void *arg, int status), void *arg);

/* Number of worker-pool jobs queued or running (for drain). */
unsigned parley__work_pending(void);

#endif /* PARLEY__LOOP_H */
