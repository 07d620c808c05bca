/*
 * sr_buf.h — growable byte buffer, the project's only string builder.
 *
 * Invariant: when ptr is not NULL, ptr[len] == '\0', so the contents can be used as a C string
 * when they contain no NUL. A zeroed sr_buf is a valid empty buffer (SR_BUF_INIT).
 */
#ifndef SR_BUF_H
#define SR_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct sr_buf {
    char *ptr;
    size_t len;
    size_t cap;
} sr_buf;

#define SR_BUF_INIT {NULL, 0, 0}

void sr_buf_init(sr_buf *b);
/** Frees the storage; the buffer is empty and reusable afterwards. */
void sr_buf_fini(sr_buf *b);
/** Empties the buffer, keeping its storage. */
void sr_buf_reset(sr_buf *b);
/** Makes room for @p n more bytes. */
void sr_buf_reserve(sr_buf *b, size_t n);
void sr_buf_append(sr_buf *b, const void *p, size_t n);
void sr_buf_appends(sr_buf *b, const char *s);
void sr_buf_appendc(sr_buf *b, char c);
void sr_buf_printf(sr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sr_buf_vprintf(sr_buf *b, const char *fmt, va_list ap);
/** Drops the first @p n bytes (n <= len). */
void sr_buf_consume(sr_buf *b, size_t n);
/** Returns the contents as a malloc'ed NUL-terminated string (caller frees) and empties the
 *  buffer. Never NULL. */
char *sr_buf_take(sr_buf *b);

#endif
