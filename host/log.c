/*
 * Logging. Each line is formatted into one buffer and written with one
 * write(2), so lines from the loop and from worker threads never
 * interleave. Text on a terminal, JSON lines otherwise (log collectors
 * parse those without guessing).
 */
#include "log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static atomic_int log_threshold = PARLEY_LOG_INFO;
static atomic_int log_format = PARLEY__LOG_AUTO;

static const char *const level_names[] = { "", "error", "warn", "info", "debug", "trace" };

/*
 * Repetition. A peer can make some lines repeat as fast as it can connect
 * or send (a refused connection, a bad frame, a slow consumer), and a
 * log that grows at that rate fills the disk and buries everything else.
 * Each statement is known by its format string; SITE_SLOTS of them are
 * tracked at once (a statement that finds every slot of its probe taken
 * evicts the one whose window is oldest, losing that one's count).
 */
#define SITE_SLOTS 256
#define SITE_PROBE 4

struct log_site {
    const char *fmt;
    uint64_t window_start_ms;
    unsigned lines;             /* written in this window */
    unsigned dropped;           /* left out since the last line written */
};

static struct log_site sites[SITE_SLOTS];
static pthread_mutex_t sites_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint repeat_limit = 20;
static atomic_uint repeat_window_ms = 10000;

void parley__log_configure_repeat(unsigned limit, unsigned window_ms)
{
    atomic_store(&repeat_limit, limit);
    atomic_store(&repeat_window_ms, window_ms > 0 ? window_ms : 1);
}

static uint64_t monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct log_site *site_for(const char *fmt)
{
    size_t h = (size_t)(((uintptr_t)fmt >> 3) * UINT64_C(0x9E3779B97F4A7C15) >> 32) % SITE_SLOTS;
    struct log_site *oldest = &sites[h];

    for (size_t i = 0; i < SITE_PROBE; i++) {
        struct log_site *st = &sites[(h + i) % SITE_SLOTS];

        if (st->fmt == fmt)
            return st;
        if (st->fmt == NULL || st->window_start_ms < oldest->window_start_ms)
            oldest = st;
    }
    memset(oldest, 0, sizeof *oldest);
    oldest->fmt = fmt;
    return oldest;
}

/* 1 when the line may be written; *dropped then holds how many lines of
 * its statement were left out before it. */
static int repeat_allows(const char *fmt, unsigned *dropped)
{
    unsigned limit = atomic_load(&repeat_limit);
    uint64_t now = monotonic_ms();
    struct log_site *st;
    int ok;

    *dropped = 0;
    if (limit == 0)
        return 1;
    pthread_mutex_lock(&sites_lock);
    st = site_for(fmt);
    if (st->lines == 0 || now - st->window_start_ms >= atomic_load(&repeat_window_ms)) {
        st->window_start_ms = now;
        st->lines = 0;
    }
    ok = st->lines < limit;
    if (ok) {
        st->lines++;
        *dropped = st->dropped;
        st->dropped = 0;
    } else if (st->dropped < UINT32_MAX) {
        st->dropped++;
    }
    pthread_mutex_unlock(&sites_lock);
    return ok;
}

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
    unsigned dropped = 0;

    if (!parley__log_enabled(level))
        return;
    if (level < PARLEY_LOG_ERROR || level > PARLEY_LOG_TRACE)
        level = PARLEY_LOG_ERROR;
    if (level <= PARLEY_LOG_WARN && !repeat_allows(fmt, &dropped))
        return;
    pos = (size_t)vsnprintf(msg, sizeof msg, fmt, ap);
    if (dropped > 0 && pos < sizeof msg)
        snprintf(msg + pos, sizeof msg - pos,
                 " [%u more line%s of this kind not logged: over log.repeat_limit]", dropped,
                 dropped == 1 ? "" : "s");
    pos = 0;
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
