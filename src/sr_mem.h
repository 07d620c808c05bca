/*
 * sr_mem.h — allocation that cannot fail.
 *
 * Out of memory is not a condition this server can recover from in a useful way, so the
 * allocators abort with file:line (as lighttpd's ck_malloc). Client input never reaches an
 * abort: every size that comes from a client is checked against a limit before it is allocated.
 */
#ifndef SR_MEM_H
#define SR_MEM_H

#include <stddef.h>

void *sr_xmalloc_at(size_t n, const char *file, int line);
void *sr_xcalloc_at(size_t n, size_t size, const char *file, int line);
void *sr_xrealloc_at(void *p, size_t n, const char *file, int line);
char *sr_xstrdup_at(const char *s, const char *file, int line);
char *sr_xstrndup_at(const char *s, size_t n, const char *file, int line);

#define sr_xmalloc(n) sr_xmalloc_at((n), __FILE__, __LINE__)
#define sr_xcalloc(n, s) sr_xcalloc_at((n), (s), __FILE__, __LINE__)
#define sr_xrealloc(p, n) sr_xrealloc_at((p), (n), __FILE__, __LINE__)
#define sr_xstrdup(s) sr_xstrdup_at((s), __FILE__, __LINE__)
#define sr_xstrndup(s, n) sr_xstrndup_at((s), (n), __FILE__, __LINE__)

/* A literal as a (pointer, length) pair. */
#define SR_STRLIT(s) (s), (sizeof(s) - 1)

#endif
