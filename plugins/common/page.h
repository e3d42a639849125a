/*
 * History pages as storage backends read them: rows newest first (the
 * order an index on (room, id) descending yields), handed to the host as
 * parley_messages oldest first. Shared by the in-tree storage plugins;
 * not part of the SDK.
 */
#ifndef PARLEY_PLUGIN_PAGE_H
#define PARLEY_PLUGIN_PAGE_H

#include <parley/parley.h>

/* One stored message as read, its strings owned by the row. */
struct plugin_row {
    char id[PARLEY_ID_LEN + 1];
    char *room;
    size_t room_len;
    char *username;
    size_t username_len;
    char *content;
    size_t content_len;
    int64_t timestamp_ms;
};

/* Free n rows and the array. */
void plugin_rows_free(struct plugin_row *rows, size_t n);

/*
 * Complete a history query: with status and err when the read failed,
 * else with `rows` (n of them, newest first) as a page, oldest first.
 * `who` names the plugin in an out-of-memory message.
 */
void plugin_page_deliver(parley_history_done done, void *cb_arg, int status,
                         const parley_error *err, const struct plugin_row *rows, size_t n,
                         int has_more, const char *who);

#endif /* PARLEY_PLUGIN_PAGE_H */
