/*
 * tap.h — a minimal TAP producer for the unit tests (run by automake's tap-driver.sh).
 *
 * Each check prints "ok N - name" or "not ok N - name" with a diagnostic that shows both
 * operands; done_testing() prints the plan and returns the exit status. Checks never abort,
 * so one run reports every failure.
 */
#ifndef SR_TAP_H
#define SR_TAP_H

#include <stddef.h>

int tap_ok(int cond, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int tap_is_int(long long got, long long want, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int tap_is_str(const char *got, const char *want, const char *file, int line, const char *fmt,
               ...) __attribute__((format(printf, 5, 6)));
/** Compares byte strings; shows them escaped on failure. */
int tap_is_mem(const void *got, size_t got_len, const void *want, size_t want_len,
               const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** Prints the plan; returns 0 when every check passed, 1 otherwise (use as main's result). */
int tap_done(void);

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...) tap_is_int((got), (want), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, want, ...) tap_is_str((got), (want), __FILE__, __LINE__, __VA_ARGS__)
#define is_mem(got, gl, want, wl, ...) tap_is_mem((got), (gl), (want), (wl), __FILE__, __LINE__, __VA_ARGS__)
#define diag(...) tap_diag(__VA_ARGS__)
#define done_testing() tap_done()

#endif
