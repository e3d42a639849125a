/*
 * Logging. Each line is formatted into one buffer and written with one
 * write(2), so lines from the loop and from worker threads never
 * interleave. Text on a terminal, JSON lines otherwise (log collectors
 * parse those without guessing).
 */
#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static atomic_int log_threshold = PARLEY_LOG_INFO;
static atomic_int log_format = PARLEY__LOG_AUTO;

static const char *const level_names[] = { "", "error", "warn", "info", "debug", "trace" };

void parley__log_configure(int level, int format)
{
    if (level >= PARLEY_LOG_ERROR && level <= PARLEY_LOG_TRACE)
        atomic_store(&log_threshold, level);
    if (format == PARLEY__LOG_AUTO)
        format = isatty(STDERR_FILENO) ? PARLEY__LOG_TEXT : PARLEY__LOG_JSON;
    atomic_store(&log_format, format);
}

int parley__log_level(void)
{
    return atomic_load(&log_threshold);
}

int parley__log_level_parse(const char *name)
{
    for (int i = PARLEY_LOG_ERROR; i <= PARLEY_LOG_TRACE; i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

int parley__log_enabled(int level)
{
    return level <= atomic_load(&log_threshold);
}

static size_t format_time(char *out, size_t cap)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    int m = snprintf(out + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
    return n + (m > 0 ? (size_t)m : 0);
}

/* Append `s` to out[*pos..cap) as the inside of a JSON string. Bytes >= 0x80
 * pass through (the log carries UTF-8); controls are escaped. */
static void json_escape(char *out, size_t cap, size_t *pos, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    for (; *s != '\0' && *pos + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[(*pos)++] = '\\';
            out[(*pos)++] = (char)c;
        } else if (c == '\n') {
            out[(*pos)++] = '\\';
            out[(*pos)++] = 'n';
        } else if (c < 0x20) {
            memcpy(out + *pos, "\\u00", 4);
            out[*pos + 4] = hex[c >> 4];
            out[*pos + 5] = hex[c & 15];
            *pos += 6;
        } else {
            out[(*pos)++] = (char)c;
        }
    }
}

static void write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, buf, len);
        if (n <= 0)
            return; /* nowhere left to report a logging failure */
        buf += n;
        len -= (size_t)n;
    }
}

void parley__logv(int level, const char *component, const char *fmt, va_list ap)
{
    char msg[LOG_LINE_MAX];
    char line[LOG_LINE_MAX * 2];
    char ts[40];
    size_t pos = 0;

    if (!parley__log_enabled(level))
        return;
    if (level < PARLEY_LOG_ERROR || level > PARLEY_LOG_TRACE)
        level = PARLEY_LOG_ERROR;
    vsnprintf(msg, sizeof msg, fmt, ap);
    format_time(ts, sizeof ts);

    if (atomic_load(&log_format) == PARLEY__LOG_JSON) {
        int n = snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"",
                         ts, level_names[level]);
        pos = (size_t)n;
        json_escape(line, sizeof line, &pos, component ? component : "host");
        memcpy(line + pos, "\",\"msg\":\"", 9);
        pos += 9;
        json_escape(line, sizeof line, &pos, msg);
        memcpy(line + pos, "\"}\n", 3);
        pos += 3;
    } else {
        int n = snprintf(line, sizeof line, "%s %-5s [%s] %s\n", ts, level_names[level],
                         component ? component : "host", msg);
        pos = n < 0 ? 0 : (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
        if (pos > 0 && line[pos - 1] != '\n')
            line[pos - 1] = '\n';
    }
    write_all(line, pos);
}

void parley__log(int level, const char *component, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    parley__logv(level, component, fmt, ap);
    va_end(ap);
}
