/*
 * sr_log.h — leveled logging to stderr.
 *
 * One line per event: "<time> <level> [<pid>] <file>:<line>: <message>". Web servers that spawn
 * the worker (lighttpd bin-path, mod_fcgid) pass their error log as stderr, so stderr is the log.
 * Never log tokens, keys or message payloads above debug level.
 */
#ifndef SR_LOG_H
#define SR_LOG_H

typedef enum sr_log_level {
    SR_LOG_ERROR = 0,
    SR_LOG_WARN = 1,
    SR_LOG_INFO = 2,
    SR_LOG_DEBUG = 3,
} sr_log_level;

void sr_log_set_level(sr_log_level level);
/** Parses "error", "warn", "info" or "debug"; returns -1 for anything else. */
int sr_log_parse_level(const char *name);
int sr_log_enabled(sr_log_level level);
void sr_log_at(sr_log_level level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define sr_log_error(...) sr_log_at(SR_LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define sr_log_warn(...) sr_log_at(SR_LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define sr_log_info(...) sr_log_at(SR_LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define sr_log_debug(...)                                                                          \
    do {                                                                                           \
        if (sr_log_enabled(SR_LOG_DEBUG))                                                          \
            sr_log_at(SR_LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__);                              \
    } while (0)

#endif
