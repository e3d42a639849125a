/*
 * The storage queue: every call to the storage plugin leaves the loop
 * through here, and every completion comes back on the loop.
 *
 * The plugin may complete from any thread, even synchronously inside the
 * call; each call is wrapped in a request record, and the plugin's
 * completion only copies its results into the record and hands it to the
 * loop with parley__post. Each call has a deadline (timeout_ms, a host
 * timer): one not completed by then completes for the caller with
 * PARLEY_ETIMEDOUT, and the plugin's late completion is dropped when it
 * arrives (the record lives until both the caller and the plugin are done
 * with it).
 *
 * State: CONNECTED until something says otherwise. A failed insert or
 * history call with PARLEY_EUNAVAIL, PARLEY_EIO or PARLEY_ETIMEDOUT (ours
 * included) marks it DISCONNECTED; a later successful call or a health
 * probe that answers CONNECTED marks it CONNECTED again.
 *
 * Metrics: parley_storage_insert_seconds (histogram, as the caller saw
 * it), parley_storage_errors_total (failed inserts and history calls),
 * parley_storage_up (gauge, 1 when CONNECTED).
 *
 * Loop thread only.
 */
#ifndef PARLEY__STORAGE_QUEUE_H
#define PARLEY__STORAGE_QUEUE_H

#include <stdint.h>

#include <parley/parley.h>

struct parley__storage_options {
    uint64_t timeout_ms;          /* per call; 0 = no deadline */
    uint64_t health_interval_ms;  /* probe period; 0 = probe once at health_start */
};

int parley__storage_queue_init(const parley_storage_vtable *vt, void *instance,
                               const struct parley__storage_options *o, parley_error *err);

/* Change the timeout and the probe period (SIGHUP); applies to new calls. */
void parley__storage_queue_reconfigure(const struct parley__storage_options *o);

/*
 * Store `msg`. The message is copied: it need only be valid during this
 * call. done(arg, status, err) runs on the loop exactly once, never before
 * this returns: status 0 when stored (the plugin's PARLEY_EEXIST counts
 * as stored), else the failure with err (valid during the call). Returns
 * 0, or a negative status (done is not called then): PARLEY_ESHUTDOWN when
 * the queue is not initialised, PARLEY_ENOMEM.
 */
int parley__storage_insert(const parley_message *msg,
                           void (*done)(void *arg, int status, const parley_error *err), void *arg);

/*
 * Fetch a page; `q` need only be valid during this call. done runs on the
 * loop exactly once, never before this returns; its messages are valid
 * during the call only. Same returns as insert.
 */
int parley__storage_history(const parley_history_query *q, parley_history_done done, void *arg);

/* The cached enum parley_storage_state. */
int parley__storage_state(void);

/* Probe now and then every health_interval_ms (a host timer). */
void parley__storage_health_start(void);

/* Inserts whose caller has not been answered yet. */
unsigned parley__storage_inflight(void);

/* Stop the health timer; done(arg) on the loop once no insert is in flight
 * (at once, before this returns, when none is). */
void parley__storage_drain(void (*done)(void *arg), void *arg);

/*
 * Free the queue. Call after the storage plugin has been stopped and
 * destroyed, and before parley__chat_free: callers still waiting (only
 * when the shutdown deadline passed) are NOT called, since the plugins
 * that made those calls are gone; records of completions already posted
 * to the loop are freed when the loop runs them (parley__loop_close does).
 */
void parley__storage_queue_free(void);

#endif /* PARLEY__STORAGE_QUEUE_H */
