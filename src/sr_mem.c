/*
 * sr_mem.c — allocators that abort on exhaustion (see sr_mem.h for why).
 */
#include "config.h"

#include "sr_mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void out_of_memory(size_t n, const char *file, int line)
{
    fprintf(stderr, "signalr-fcgi: out of memory allocating %zu bytes at %s:%d\n", n, file, line);
    abort();
}

void *sr_xmalloc_at(size_t n, const char *file, int line)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory(n, file, line);
    return p;
}

void *sr_xcalloc_at(size_t n, size_t size, const char *file, int line)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        out_of_memory(n * size, file, line);
    return p;
}

void *sr_xrealloc_at(void *p, size_t n, const char *file, int line)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        out_of_memory(n, file, line);
    return q;
}

char *sr_xstrdup_at(const char *s, const char *file, int line)
{
    return sr_xstrndup_at(s, strlen(s), file, line);
}

char *sr_xstrndup_at(const char *s, size_t n, const char *file, int line)
{
    char *p = sr_xmalloc_at(n + 1, file, line);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
