/*
 * sr_log.c — leveled logging to stderr (see sr_log.h).
 *
 * Each event is formatted into one buffer and written with a single write(2), so lines from
 * concurrent threads and processes sharing the web server's error log do not interleave.
 */
#include "config.h"

#include "sr_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static volatile int log_level = SR_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void sr_log_set_level(sr_log_level level)
{
    log_level = (int)level;
}

int sr_log_parse_level(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return i;
    if (strcasecmp(name, "warning") == 0)
        return SR_LOG_WARN;
    return -1;
}

int sr_log_enabled(sr_log_level level)
{
    return (int)level <= log_level;
}

void sr_log_at(sr_log_level level, const char *file, int line, const char *fmt, ...)
{
    if (!sr_log_enabled(level))
        return;
    char msg[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    int n = snprintf(msg, sizeof msg, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s [%ld] %s:%d: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], (long)getpid(), base,
                     line);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(msg + n, sizeof msg - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof msg - 2)
        len = sizeof msg - 2;
    msg[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, msg, len);
    (void)w;
}
