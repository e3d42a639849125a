#include "page.h"

#include <stdlib.h>
#include <string.h>

void plugin_rows_free(struct plugin_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].room);
        free(rows[i].username);
        free(rows[i].content);
    }
    free(rows);
}

void plugin_page_deliver(parley_history_done done, void *cb_arg, int status,
                         const parley_error *err, const struct plugin_row *rows, size_t n,
                         int has_more, const char *who)
{
    parley_message *msgs = NULL;
    parley_error oom = PARLEY_ERROR_INIT;

    if (status == PARLEY_OK && n > 0) {
        msgs = calloc(n, sizeof *msgs);
        if (msgs == NULL) {
            status = parley_error_set(&oom, PARLEY_ENOMEM, "%s: out of memory building a "
                                      "history page", who);
            err = &oom;
        }
    }
    if (status != PARLEY_OK) {
        done(cb_arg, status, NULL, 0, 0, err);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct plugin_row *row = &rows[n - 1 - i];
        parley_message *m = &msgs[i];

        m->struct_size = sizeof *m;
        memcpy(m->id, row->id, sizeof m->id);
        m->room = row->room;
        m->room_len = row->room_len;
        m->username = row->username;
        m->username_len = row->username_len;
        m->content = row->content;
        m->content_len = row->content_len;
        m->timestamp_ms = row->timestamp_ms;
    }
    done(cb_arg, PARLEY_OK, msgs, n, has_more, NULL);
    free(msgs);
}
