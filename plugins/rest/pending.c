/*
 * Requests held open while the host works on them (chat_post,
 * chat_history): one allocation each, on a list so stop can wait for the
 * last answer and destroy can free what the host never completed.
 */
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "rest.h"

rest_pending *rest_pending_new(const rest_req *rq, const char *room)
{
    size_t room_len = room != NULL ? strlen(room) + 1 : 0;
    rest *r = rq->r;
    rest_pending *p = calloc(1, sizeof *p + room_len);

    if (p == NULL)
        return NULL;
    p->rq = *rq;
    if (room != NULL) {
        p->room = (char *)(p + 1);
        memcpy(p->room, room, room_len);
    }
    p->next = r->pending;
    if (r->pending != NULL)
        r->pending->prev = p;
    r->pending = p;
    r->n_pending++;
    return p;
}

static void pending_free(rest_pending *p)
{
    cJSON_Delete(p->json); /* NULL is a no-op */
    free(p);
}

void rest_pending_finish(rest_pending *p)
{
    rest *r = p->rq.r;

    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        r->pending = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    r->n_pending--;
    pending_free(p);

    if (r->n_pending == 0 && r->stop_done != NULL) {
        parley_stop_done done = r->stop_done;

        r->stop_done = NULL;
        done(r->stop_done_arg);
    }
}

int rest_pending_hold(rest_pending *p)
{
    rest *r = p->rq.r;
    int rc = r->api->http_hold(p->rq.req, r->request_timeout_ms, p);

    if (rc < 0) {
        /* nothing can answer later: the host answers 500 for our return,
         * and the completion only frees `p` */
        r->api->log(r->host, PARLEY_LOG_WARN, "cannot hold a request open: %s",
                    parley_strerror(rc));
        p->aborted = 1;
        p->rq.req = NULL;
        return rc;
    }
    p->held = 1;
    return 0;
}

void rest_on_abort(void *arg, parley_http_request *req, void *req_ctx)
{
    rest_pending *p = req_ctx;

    (void)arg;
    (void)req;
    if (p == NULL)
        return;
    /* The host's completion still comes (exactly once) and frees `p`. */
    p->aborted = 1;
    p->rq.req = NULL;
}

/* Free what the host never completed (destroy after a stop that timed out). */
void rest_pending_free_all(rest *r)
{
    while (r->pending != NULL) {
        rest_pending *p = r->pending;

        r->pending = p->next;
        pending_free(p);
    }
    r->n_pending = 0;
}
