/*
 * fuzz_query.c — libFuzzer target for the client-facing parsers of sr_http.
 *
 * DESIGN: the input is used twice. First as a query string: the keys the server really looks up
 * (id, negotiateVersion without case, access_token), the empty key and a key cut from the input
 * itself (so matches happen, not only misses) are looked up with out buffers of several sizes,
 * and the results are checked against each other: a bigger buffer can only turn -1 into 1, the
 * value always fits, and a failed lookup leaves "". Second as a CGI environment, one
 * "NAME=value" per line, handed to sr_http_request_init with the same ownership the front ends
 * use, then queried for headers, Accept and the query. Any violated invariant aborts, which
 * libFuzzer reports as a crash. Replayed under gcc by tests/fuzz/standalone.c.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sr_http.h"
#include "sr_mem.h"

#define MAX_LINES 64
#define KEY_MAX 64

/* One lookup with a small, a large, an exact-size and no buffer, cross-checked. */
static void check_lookup(const char *query, const char *key, int ignore_case)
{
    char small[8];
    char large[4096];
    int r_small, r_large, r_zero;
    size_t n;

    r_large = sr_http_query_get(query, key, ignore_case, large, sizeof(large));
    r_small = sr_http_query_get(query, key, ignore_case, small, sizeof(small));
    r_zero = sr_http_query_get(query, key, ignore_case, NULL, 0);
    if (r_large < -1 || r_large > 1 || r_small < -1 || r_small > 1)
        abort();
    /* With no room for the NUL a present key always fails, an absent one is still absent. */
    if (r_zero != (r_large == 0 ? 0 : -1))
        abort();
    if (r_large != 1 && large[0] != '\0')
        abort();
    if (r_small != 1 && small[0] != '\0')
        abort();
    if (r_large == 1) {
        n = strlen(large);
        if (n >= sizeof(large))
            abort();
        if (n < sizeof(small)) {
            if (r_small != 1 || strcmp(small, large) != 0)
                abort();
        } else if (r_small != -1) {
            abort();
        }
        /* A buffer of exactly the value's size plus the NUL is enough... */
        {
            char *exact = sr_xmalloc(n + 1);
            if (sr_http_query_get(query, key, ignore_case, exact, n + 1) != 1 ||
                memcmp(exact, large, n + 1) != 0)
                abort();
            /* ...and one byte less is not. */
            if (n > 0 && sr_http_query_get(query, key, ignore_case, exact, n) != -1)
                abort();
            free(exact);
        }
    } else if (r_small != r_large && !(r_large == -1 && r_small == -1)) {
        abort();
    }
}

/* The raw text of the input's first key (up to '=' or '&'), as a lookup key. */
static void key_from_input(const char *q, char key[KEY_MAX])
{
    size_t n = strcspn(q, "=&");
    if (n >= KEY_MAX)
        n = KEY_MAX - 1;
    memcpy(key, q, n);
    key[n] = '\0';
}

static void count_pair(const char *key, const char *value, void *arg)
{
    (void)key;
    (void)value;
    (void)arg;
}

/* Pairs with a non-empty key, as sr_http_query_foreach counts them. */
static int expected_pairs(const char *q)
{
    int n = 0;
    for (const char *p = q; *p;) {
        size_t len = strcspn(p, "&");
        size_t key_len = strcspn(p, "=&");
        if (len > 0 && key_len > 0)
            n++;
        p += len + (p[len] == '&');
    }
    return n;
}

static void fuzz_query(const char *q)
{
    char key[KEY_MAX];

    /* A string whose escapes are all well formed decodes in every pair, unless it holds a
     * %00 or a part longer than the decoder's buffer. */
    if (sr_http_escapes_valid(q) && !strstr(q, "%00") && strlen(q) < SR_HTTP_QUERY_PART_MAX &&
        sr_http_query_foreach(q, count_pair, NULL) != expected_pairs(q))
        abort();
    check_lookup(q, "id", 0);
    check_lookup(q, "negotiateVersion", 1);
    check_lookup(q, "access_token", 0);
    check_lookup(q, "", 0);
    key_from_input(q, key);
    check_lookup(q, key, 0);
    check_lookup(q, key, 1);
}

/* Splits the input into lines and hands them over exactly as a front end would: a malloc'ed
 * NULL-terminated array of malloc'ed strings, plus a malloc'ed body. */
static void fuzz_request(const char *q, const uint8_t *data, size_t size)
{
    sr_http_request req;
    char **env = sr_xcalloc(MAX_LINES + 1, sizeof(*env));
    char *body = sr_xmalloc(size + 1);
    const char *p = q;
    const char *v;
    size_t n, lines = 0;
    char id[64];

    while (lines < MAX_LINES) {
        n = strcspn(p, "\n");
        env[lines++] = sr_xstrndup(p, n);
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    if (size)
        memcpy(body, data, size);
    body[size] = '\0';
    sr_http_request_init(&req, env, body, size, 0);

    if (!req.method || !req.path || !req.query)
        abort();
    if (strlen(req.method) + strlen(req.path) + strlen(req.query) > 3 * (size + 1))
        abort();
    /* Only SCRIPT_NAME/PATH_INFO (already decoded by the server) may bring a '?' into the path;
     * from DOCUMENT_URI and REQUEST_URI the query must have been cut. */
    v = sr_http_env(&req, "DOCUMENT_URI");
    if ((v || (!sr_http_env(&req, "SCRIPT_NAME") && !sr_http_env(&req, "PATH_INFO"))) &&
        strchr(req.path, '?'))
        abort();
    (void)sr_http_header(&req, "Accept");
    (void)sr_http_header(&req, "X-Requested-With");
    (void)sr_http_header(&req, "content-type");
    (void)sr_http_header(&req, "Content-Length");
    (void)sr_http_header(&req, "Authorization");
    (void)sr_http_accepts(&req, "text/event-stream");
    (void)sr_http_accepts(&req, "");
    if (sr_http_query_get(req.query, "id", 0, id, sizeof(id)) == 1 && strlen(id) >= sizeof(id))
        abort();
    sr_http_request_fini(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *q = sr_xmalloc(size + 1);

    if (size)
        memcpy(q, data, size);
    q[size] = '\0';
    fuzz_query(q);
    fuzz_request(q, data, size);
    free(q);
    return 0;
}
