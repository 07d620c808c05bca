/*
 * tap.c — implementation of the TAP helper (see tap.h). Output goes to stdout, diagnostics to
 * stdout as "# " lines so the TAP driver keeps them next to the failing check.
 */
#include "tap.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_count;
static int tap_failed;

static int report(int cond, const char *file, int line, const char *fmt, va_list ap)
{
    tap_count++;
    printf("%sok %d - ", cond ? "" : "not ", tap_count);
    vprintf(fmt, ap);
    printf("\n");
    if (!cond) {
        tap_failed++;
        printf("#   Failed at %s:%d\n", file, line);
    }
    fflush(stdout);
    return cond;
}

int tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(cond, file, line, fmt, ap);
    va_end(ap);
    return cond;
}

int tap_is_int(long long got, long long want, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    int cond = got == want;
    va_start(ap, fmt);
    report(cond, file, line, fmt, ap);
    va_end(ap);
    if (!cond)
        printf("#        got: %lld\n#   expected: %lld\n", got, want);
    return cond;
}

static void print_escaped(const char *label, const void *p, size_t n)
{
    const unsigned char *s = p;
    printf("#   %s: ", label);
    if (!p) {
        printf("(null)\n");
        return;
    }
    printf("\"");
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\' && s[i] != '"')
            putchar(s[i]);
        else
            printf("\\x%02x", s[i]);
    }
    printf("\"\n");
}

int tap_is_str(const char *got, const char *want, const char *file, int line, const char *fmt,
               ...)
{
    va_list ap;
    int cond = (got == NULL && want == NULL) || (got && want && strcmp(got, want) == 0);
    va_start(ap, fmt);
    report(cond, file, line, fmt, ap);
    va_end(ap);
    if (!cond) {
        print_escaped("     got", got, got ? strlen(got) : 0);
        print_escaped("expected", want, want ? strlen(want) : 0);
    }
    return cond;
}

int tap_is_mem(const void *got, size_t got_len, const void *want, size_t want_len,
               const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    int cond = got_len == want_len && (got_len == 0 || (got && want && memcmp(got, want, got_len) == 0));
    va_start(ap, fmt);
    report(cond, file, line, fmt, ap);
    va_end(ap);
    if (!cond) {
        print_escaped("     got", got, got_len);
        print_escaped("expected", want, want_len);
    }
    return cond;
}

void tap_diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("# ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

int tap_done(void)
{
    printf("1..%d\n", tap_count);
    if (tap_count == 0) {
        printf("# no checks ran\n");
        return 1;
    }
    return tap_failed ? 1 : 0;
}
