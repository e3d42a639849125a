/*
 * Logging: levels, human-readable lines on a terminal, JSON lines
 * otherwise (or as configured). Safe from any thread: each line is written
 * with one write(2) so lines from different threads never interleave.
 */
#ifndef PARLEY__LOG_H
#define PARLEY__LOG_H

#include <stdarg.h>

#include <parley/parley.h>

enum parley__log_format {
    PARLEY__LOG_AUTO = 0,  /* text when stderr is a terminal, JSON otherwise */
    PARLEY__LOG_TEXT = 1,
    PARLEY__LOG_JSON = 2
};

/* Configure the threshold (enum parley_log_level) and the format. */
void parley__log_configure(int level, int format);
/*
 * Bound repetition: one log statement (its format string) writes at most
 * `limit` error and warn lines per `window_ms`; past that its lines are
 * counted, and its next line written says how many were left out. 0 = no
 * bound. Info lines (what the operator did: a reload, a drain) and debug
 * and trace lines (asked for) are never bounded.
 */
void parley__log_configure_repeat(unsigned limit, unsigned window_ms);
int parley__log_level(void);
/* Parse "error|warn|info|debug|trace"; returns the level or -1. */
int parley__log_level_parse(const char *name);
int parley__log_enabled(int level);

/* One line from `component` ("host", "loader", a plugin name). */
void parley__log(int level, const char *component, const char *fmt, ...) PARLEY_PRINTF(3, 4);
void parley__logv(int level, const char *component, const char *fmt, va_list ap);

#define parley__error(...) parley__log(PARLEY_LOG_ERROR, "host", __VA_ARGS__)
#define parley__warn(...)  parley__log(PARLEY_LOG_WARN, "host", __VA_ARGS__)
#define parley__info(...)  parley__log(PARLEY_LOG_INFO, "host", __VA_ARGS__)
#define parley__debug(...) parley__log(PARLEY_LOG_DEBUG, "host", __VA_ARGS__)

#endif /* PARLEY__LOG_H */
