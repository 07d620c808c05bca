/*
 * sr_buf.c — growable byte buffer (see sr_buf.h).
 *
 * Growth doubles the capacity so appending n bytes one at a time costs O(n); the buffer keeps a
 * NUL after the contents so callers can hand it to C string functions without copying.
 */
#include "config.h"

#include "sr_buf.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sr_mem.h"

void sr_buf_init(sr_buf *b)
{
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
}

void sr_buf_fini(sr_buf *b)
{
    free(b->ptr);
    sr_buf_init(b);
}

void sr_buf_reset(sr_buf *b)
{
    b->len = 0;
    if (b->ptr)
        b->ptr[0] = '\0';
}

void sr_buf_reserve(sr_buf *b, size_t n)
{
    size_t need = b->len + n + 1;
    if (need < b->len) /* overflow: no size that large can come from a checked input */
        abort();
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap * 2 > cap ? cap * 2 : need;
    b->ptr = sr_xrealloc(b->ptr, cap);
    b->cap = cap;
}

void sr_buf_append(sr_buf *b, const void *p, size_t n)
{
    sr_buf_reserve(b, n);
    if (n)
        memcpy(b->ptr + b->len, p, n);
    b->len += n;
    b->ptr[b->len] = '\0';
}

void sr_buf_appends(sr_buf *b, const char *s)
{
    sr_buf_append(b, s, strlen(s));
}

void sr_buf_appendc(sr_buf *b, char c)
{
    sr_buf_append(b, &c, 1);
}

void sr_buf_vprintf(sr_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    assert(n >= 0);
    sr_buf_reserve(b, (size_t)n);
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void sr_buf_printf(sr_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sr_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void sr_buf_consume(sr_buf *b, size_t n)
{
    assert(n <= b->len);
    if (n == 0)
        return;
    memmove(b->ptr, b->ptr + n, b->len - n);
    b->len -= n;
    b->ptr[b->len] = '\0';
}

char *sr_buf_take(sr_buf *b)
{
    char *p = b->ptr ? b->ptr : sr_xstrdup("");
    sr_buf_init(b);
    return p;
}
