/*
 * sr_http.c — the request view over CGI meta-variables, query lookup, and the CGI response form.
 *
 * DESIGN: a request is a bag of "NAME=value" strings plus a body, owned by the sr_http_request
 * from init to fini; every lookup borrows from it, so nothing here allocates per lookup. The
 * only allocation is the request path, which may have to be assembled (SCRIPT_NAME + PATH_INFO)
 * or cut (REQUEST_URI up to '?'), so it is always kept as an owned copy in path_owned.
 * Query and header values are client data and are parsed defensively: every loop is bounded by
 * the NUL of a C string, nothing is written past the caller's out_cap, and malformed input is a
 * return code, never an abort. Asserts are reserved for programming errors (a NULL argument, a
 * CR/LF in a header the server itself writes).
 * Spec: protocol.md §1.2 (case-insensitive NegotiateVersion), §2 (routing on Accept
 * text/event-stream, `id` query key), §5.3 (no-cache headers). Thread-safe: no shared state.
 */
#include "config.h"

#include "sr_http.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "sr_mem.h"

/* ---------------------------------------------------------------------------------------------
 * Small character helpers. The C library's tolower/isxdigit depend on the locale and take int
 * arguments that must be representable as unsigned char; these are ASCII-only by design, so a
 * byte >= 0x80 never compares equal to anything but itself.
 */

static unsigned char lower_ascii(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

static unsigned char upper_ascii(unsigned char c)
{
    return (c >= 'a' && c <= 'z') ? (unsigned char)(c - 'a' + 'A') : c;
}

/* The value of a hex digit, or -1. */
static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int is_ows(char c) { return c == ' ' || c == '\t'; }

/* Compares p[0..n) with the C string s, ignoring ASCII case; s must be exactly n long. */
static int equal_nocase_n(const char *p, size_t n, const char *s)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (s[i] == '\0' || lower_ascii((unsigned char)p[i]) != lower_ascii((unsigned char)s[i]))
            return 0;
    }
    return s[n] == '\0';
}

/* ---------------------------------------------------------------------------------------------
 * Request
 */

/* The value of env entry @p entry when its name is exactly @p name, else NULL. */
static const char *match_env_name(const char *entry, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(entry, name, n) == 0 && entry[n] == '=')
        return entry + n + 1;
    return NULL;
}

/*
 * Builds the request path. The front ends disagree on where it lives: nginx and lighttpd
 * (depending on configuration) pass DOCUMENT_URI, Apache and plain CGI split it into
 * SCRIPT_NAME + PATH_INFO, and REQUEST_URI is the raw request target as a last resort. No
 * percent-decoding: hub paths are plain ASCII and are compared raw.
 */
static char *build_path(const sr_http_request *req)
{
    const char *doc = sr_http_env(req, "DOCUMENT_URI");
    const char *script = sr_http_env(req, "SCRIPT_NAME");
    const char *info = sr_http_env(req, "PATH_INFO");
    const char *uri = sr_http_env(req, "REQUEST_URI");
    sr_buf b = SR_BUF_INIT;

    if (doc) {
        /* DOCUMENT_URI should not carry a query, but some configurations set it from the
         * request target; cutting at '?' costs nothing and keeps routing exact. */
        sr_buf_append(&b, doc, strcspn(doc, "?"));
    } else if (script || info) {
        sr_buf_appends(&b, script ? script : "");
        sr_buf_appends(&b, info ? info : "");
    } else if (uri) {
        sr_buf_append(&b, uri, strcspn(uri, "?"));
    }
    return sr_buf_take(&b);
}

void sr_http_request_init(sr_http_request *req, char **env, char *body, size_t body_len,
                          int body_too_large)
{
    const char *v;

    assert(req);
    req->env = env;
    req->body = body;
    req->body_len = body ? body_len : 0;
    req->body_too_large = body_too_large;

    v = sr_http_env(req, "REQUEST_METHOD");
    req->method = v ? v : "";
    v = sr_http_env(req, "QUERY_STRING");
    req->query = v ? v : "";
    req->path_owned = build_path(req);
    req->path = req->path_owned;
}

void sr_http_request_fini(sr_http_request *req)
{
    char **e;

    if (!req)
        return;
    if (req->env) {
        for (e = req->env; *e; e++)
            free(*e);
        free(req->env);
    }
    free(req->body);
    free(req->path_owned);
    memset(req, 0, sizeof(*req));
}

const char *sr_http_env(const sr_http_request *req, const char *name)
{
    char *const *e;
    const char *v;

    assert(req && name);
    if (!req->env)
        return NULL;
    for (e = req->env; *e; e++) {
        v = match_env_name(*e, name);
        if (v)
            return v;
    }
    return NULL;
}

/*
 * The CGI name of a header is "HTTP_" + the name upper-cased with '-' turned into '_'
 * (RFC 3875 §4.1.18). Matching is done in place against each env entry rather than by building
 * the CGI name, so there is no buffer whose size could be exceeded.
 */
static const char *match_header_entry(const char *entry, const char *name)
{
    const char *p = entry;
    const char *n;
    unsigned char want;

    if (strncmp(p, "HTTP_", 5) != 0)
        return NULL;
    p += 5;
    for (n = name; *n; n++, p++) {
        want = *n == '-' ? '_' : upper_ascii((unsigned char)*n);
        if ((unsigned char)*p != want)
            return NULL; /* also stops at the entry's NUL */
    }
    return *p == '=' ? p + 1 : NULL;
}

const char *sr_http_header(const sr_http_request *req, const char *name)
{
    char *const *e;
    const char *v;

    assert(req && name);
    /* RFC 3875 §4.1.2/§4.1.3: these two are not passed as HTTP_ variables. */
    if (equal_nocase_n("Content-Type", 12, name))
        return sr_http_env(req, "CONTENT_TYPE");
    if (equal_nocase_n("Content-Length", 14, name))
        return sr_http_env(req, "CONTENT_LENGTH");
    /* An '=' in the name would let the separator match part of the name. */
    if (*name == '\0' || strchr(name, '='))
        return NULL;
    if (!req->env)
        return NULL;
    for (e = req->env; *e; e++) {
        v = match_header_entry(*e, name);
        if (v)
            return v;
    }
    return NULL;
}

/*
 * Accept = #( media-range [ weight ] ) (RFC 9110 §12.5.1). Each element's type/subtype is
 * compared exactly; parameters (including q) are skipped, honouring quoted-strings so that a comma
 * inside quotes does not start a new element. Wildcard media ranges do not count: ASP.NET
 * selects SSE only when the media type is listed (protocol.md §2), and so do we. A q=0 is not
 * treated as a refusal either, again as ASP.NET.
 */
int sr_http_accepts(const sr_http_request *req, const char *type)
{
    const char *p = sr_http_header(req, "Accept");
    const char *start, *end;
    int quoted;

    assert(type);
    if (!p)
        return 0;
    while (*p) {
        while (*p == ',' || is_ows(*p))
            p++;
        if (!*p)
            break;
        start = p;
        while (*p && *p != ',' && *p != ';')
            p++;
        end = p;
        while (end > start && is_ows(end[-1]))
            end--;
        if (equal_nocase_n(start, (size_t)(end - start), type))
            return 1;
        if (*p == ';') {
            quoted = 0;
            while (*p && (quoted || *p != ',')) {
                if (quoted && *p == '\\' && p[1])
                    p++; /* quoted-pair: the next char is literal */
                else if (*p == '"')
                    quoted = !quoted;
                p++;
            }
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Query strings
 *
 * Pairs are separated by '&' only (as ASP.NET's QueryStringEnumerable; ';' is not a separator),
 * a pair splits at its first '=', a pair without '=' has the value "", and empty pairs are
 * skipped. Both key and value are form-decoded: '+' is a space and %XX is a byte (either hex
 * case). We are stricter than ASP.NET, which passes a malformed escape through literally:
 *  - a malformed escape in the value that is returned makes the lookup fail (-1), so a
 *    garbled token is never used as if it were valid;
 *  - a pair whose key is malformed, or decodes to a NUL, matches no key at all, and is otherwise
 *    ignored. Malformed data in pairs other than the one returned never affects the result, so
 *    one bad parameter cannot hide a well-formed `id`.
 */

/*
 * Decodes one byte of a form-encoded component starting at *pp (which must not be at the end
 * of the component) and advances *pp. Returns the byte (0..255), or -1 for a malformed escape.
 * Never reads past a NUL: the hex check on p[1] fails on NUL before p[2] is looked at.
 */
static int decode_one(const char **pp)
{
    const char *p = *pp;
    int hi, lo;

    if (*p == '+') {
        *pp = p + 1;
        return ' ';
    }
    if (*p != '%') {
        *pp = p + 1;
        return (unsigned char)*p;
    }
    hi = hex_value((unsigned char)p[1]);
    if (hi < 0)
        return -1;
    lo = hex_value((unsigned char)p[2]);
    if (lo < 0)
        return -1;
    *pp = p + 3;
    return hi * 16 + lo;
}

/* True when the encoded key [p, end) decodes to exactly @p key. */
static int key_matches(const char *p, const char *end, const char *key, int ignore_case)
{
    const unsigned char *k = (const unsigned char *)key;
    int c;

    while (p < end) {
        /* An escape cut by the '=' or '&' that ends the key is malformed, not a match. */
        if (*p == '%' && end - p < 3)
            return 0;
        c = decode_one(&p);
        if (c <= 0 || *k == '\0')
            return 0; /* malformed, decoded NUL, or longer than key */
        if (ignore_case ? lower_ascii((unsigned char)c) != lower_ascii(*k) : c != *k)
            return 0;
        k++;
    }
    return *k == '\0';
}

/* Decodes the value [p, end) into out; see sr_http_query_get for the result. */
static int decode_value(const char *p, const char *end, char *out, size_t out_cap)
{
    size_t n = 0;
    int c;

    while (p < end) {
        if (*p == '%' && end - p < 3)
            return -1;
        c = decode_one(&p);
        if (c <= 0)
            return -1;
        if (n + 1 >= out_cap)
            return -1; /* no room for this byte and the NUL */
        out[n++] = (char)c;
    }
    if (out_cap == 0)
        return -1;
    out[n] = '\0';
    return 1;
}

int sr_http_escapes_valid(const char *s)
{
    for (const char *p = s; (p = strchr(p, '%')) != NULL; p += 3) {
        if (hex_value((unsigned char)p[1]) < 0 || hex_value((unsigned char)p[2]) < 0)
            return 0;
    }
    return 1;
}

int sr_http_query_get(const char *query, const char *key, int ignore_case, char *out,
                      size_t out_cap)
{
    const char *p = query;
    const char *pair_end, *eq;
    int rc;

    assert(query && key && (out || out_cap == 0));
    if (out_cap > 0)
        out[0] = '\0';
    while (*p) {
        pair_end = p + strcspn(p, "&");
        if (pair_end > p) {
            eq = memchr(p, '=', (size_t)(pair_end - p));
            if (key_matches(p, eq ? eq : pair_end, key, ignore_case)) {
                rc = decode_value(eq ? eq + 1 : pair_end, pair_end, out, out_cap);
                if (rc < 0 && out_cap > 0)
                    out[0] = '\0'; /* never hand back half a value */
                return rc;
            }
        }
        p = *pair_end ? pair_end + 1 : pair_end;
    }
    return 0;
}

int sr_http_query_foreach(const char *query,
                          void (*visit)(const char *key, const char *value, void *arg), void *arg)
{
    char key[SR_HTTP_QUERY_PART_MAX], value[SR_HTTP_QUERY_PART_MAX];
    const char *p = query;
    int n = 0;

    while (*p) {
        const char *pair_end = p + strcspn(p, "&");
        if (pair_end > p) {
            const char *eq = memchr(p, '=', (size_t)(pair_end - p));
            if (decode_value(p, eq ? eq : pair_end, key, sizeof key) > 0 && key[0] &&
                decode_value(eq ? eq + 1 : pair_end, pair_end, value, sizeof value) > 0) {
                visit(key, value, arg);
                n++;
            }
        }
        p = *pair_end ? pair_end + 1 : pair_end;
    }
    return n;
}

/* ---------------------------------------------------------------------------------------------
 * Response
 */

void sr_http_response_init(sr_http_response *res, int status)
{
    assert(res);
    assert(status >= 100 && status <= 999);
    res->status = status;
    sr_buf_init(&res->headers);
    sr_buf_init(&res->body);
}

void sr_http_response_fini(sr_http_response *res)
{
    if (!res)
        return;
    sr_buf_fini(&res->headers);
    sr_buf_fini(&res->body);
}

void sr_http_response_header(sr_http_response *res, const char *name, const char *value)
{
    assert(res && name && value);
    /* A CR or LF would let the rest of the string become another header or the body (response
     * splitting). Header names are constants and values from clients are validated before they
     * get here, so reaching this is a bug, not bad input. */
    assert(*name != '\0' && strpbrk(name, "\r\n:") == NULL);
    assert(strpbrk(value, "\r\n") == NULL);
    sr_buf_printf(&res->headers, "%s: %s\r\n", name, value);
}

void sr_http_response_body(sr_http_response *res, const void *p, size_t n)
{
    assert(res && (p || n == 0));
    sr_buf_append(&res->body, p, n);
}

void sr_http_response_no_cache(sr_http_response *res)
{
    /* The exact set ASP.NET's AddNoCacheHeaders sends on long polls (protocol.md §5.3). */
    sr_http_response_header(res, "Cache-Control", "no-cache, no-store");
    sr_http_response_header(res, "Pragma", "no-cache");
    sr_http_response_header(res, "Expires", "Thu, 01 Jan 1970 00:00:00 GMT");
}

void sr_http_response_head(const sr_http_response *res, int with_length, sr_buf *out)
{
    assert(res && out);
    assert(res->status >= 100 && res->status <= 999);
    sr_buf_printf(out, "Status: %d %s\r\n", res->status, sr_http_reason(res->status));
    /* On every answer: a browser must never sniff a poll body or an error text into HTML
     * (reliability-security.md B-04). */
    sr_buf_appends(out, "X-Content-Type-Options: nosniff\r\n");
    sr_buf_append(out, res->headers.ptr, res->headers.len);
    if (with_length)
        sr_buf_printf(out, "Content-Length: %zu\r\n", res->body.len);
    sr_buf_append(out, "\r\n", 2);
}

void sr_http_response_serialize(const sr_http_response *res, sr_buf *out)
{
    sr_http_response_head(res, 1, out);
    sr_buf_append(out, res->body.ptr, res->body.len);
}

const char *sr_http_reason(int status)
{
    /* RFC 9110 §15 phrases. Clients ignore them, except that the JS client puts statusText in
     * the error it raises, so they should read well. */
    static const struct {
        int status;
        const char *reason;
    } reasons[] = {
        {100, "Continue"},
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {204, "No Content"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {304, "Not Modified"},
        {307, "Temporary Redirect"},
        {308, "Permanent Redirect"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {406, "Not Acceptable"},
        {408, "Request Timeout"},
        {409, "Conflict"},
        {410, "Gone"},
        {411, "Length Required"},
        {413, "Content Too Large"},
        {414, "URI Too Long"},
        {415, "Unsupported Media Type"},
        {422, "Unprocessable Content"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
    };
    size_t i;

    for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (reasons[i].status == status)
            return reasons[i].reason;
    }
    return "Unknown";
}
