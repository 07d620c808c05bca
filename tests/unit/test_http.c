/*
 * test_http.c — unit tests for sr_http: CGI variable and header lookup, path selection, Accept
 * matching, query-string lookup (decoding, malformed input, limits) and the exact bytes of the
 * CGI response head.
 */
#include "config.h"

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* fork, waitpid, dup2 for the assert tests */
#endif

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sr_http.h"
#include "sr_mem.h"
#include "tap.h"

/* A malloc'ed NULL-terminated array of malloc'ed copies of the arguments (NULL ends the list),
 * as sr_http_request_init takes it. */
static char **make_env(const char *first, ...)
{
    va_list ap;
    const char *s;
    size_t n = 0, i = 0;
    char **env;

    va_start(ap, first);
    for (s = first; s; s = va_arg(ap, const char *))
        n++;
    va_end(ap);
    env = sr_xmalloc((n + 1) * sizeof(*env));
    va_start(ap, first);
    for (s = first; s; s = va_arg(ap, const char *))
        env[i++] = sr_xstrdup(s);
    va_end(ap);
    env[n] = NULL;
    return env;
}

static void init_req(sr_http_request *req, char **env)
{
    sr_http_request_init(req, env, NULL, 0, 0);
}

/* ---------------------------------------------------------------------------------------------
 * Request views
 */

static void test_env_and_views(void)
{
    sr_http_request req;

    init_req(&req, make_env("REQUEST_METHOD=POST", "QUERY_STRING=id=abc", "NOEQUALS",
                            "HTTP_ACCEPT_LANGUAGE=en", "HTTP_ACCEPT=text/event-stream",
                            "EMPTY=", "X=1=2", NULL));
    is_str(req.method, "POST", "method view");
    is_str(req.query, "id=abc", "query view");
    is_str(req.path, "", "path is empty when no path variable is set");
    is_str(sr_http_env(&req, "HTTP_ACCEPT"), "text/event-stream",
           "exact name, not the earlier entry it is a prefix of");
    is_str(sr_http_env(&req, "EMPTY"), "", "empty value is present");
    is_str(sr_http_env(&req, "X"), "1=2", "value split at the first '='");
    ok(sr_http_env(&req, "HTTP_ACCEPT_") == NULL, "a prefix of a name does not match");
    ok(sr_http_env(&req, "NOEQUALS") == NULL, "an entry without '=' is not a variable");
    ok(sr_http_env(&req, "request_method") == NULL, "env names are case-sensitive");
    ok(sr_http_env(&req, "") == NULL, "empty name");
    sr_http_request_fini(&req);
    ok(req.env == NULL && req.path == NULL, "fini clears the request");
    sr_http_request_fini(&req); /* a second fini is harmless */
    sr_http_request_fini(NULL);

    init_req(&req, make_env(NULL));
    is_str(req.method, "", "method defaults to empty");
    is_str(req.query, "", "query defaults to empty");
    is_str(req.path, "", "path defaults to empty");
    sr_http_request_fini(&req);

    sr_http_request_init(&req, NULL, NULL, 5, 1);
    ok(sr_http_env(&req, "REQUEST_METHOD") == NULL, "NULL env has no variables");
    is_int((long long)req.body_len, 0, "no body, no length");
    is_int(req.body_too_large, 1, "body_too_large is kept");
    sr_http_request_fini(&req);

    sr_http_request_init(&req, make_env("REQUEST_METHOD=POST", NULL), sr_xstrndup("a\0b", 3), 3, 0);
    is_mem(req.body, req.body_len, "a\0b", 3, "body with a NUL is kept whole");
    sr_http_request_fini(&req);
}

static void check_path(char **env, const char *want, const char *name)
{
    sr_http_request req;
    init_req(&req, env);
    is_str(req.path, want, "path: %s", name);
    sr_http_request_fini(&req);
}

static void test_path(void)
{
    check_path(make_env("DOCUMENT_URI=/chat/negotiate", "SCRIPT_NAME=/x", "PATH_INFO=/y",
                        "REQUEST_URI=/z?a=1", NULL),
               "/chat/negotiate", "DOCUMENT_URI wins");
    check_path(make_env("DOCUMENT_URI=/chat?id=1", NULL), "/chat", "DOCUMENT_URI cut at '?'");
    check_path(make_env("DOCUMENT_URI=", "SCRIPT_NAME=/x", NULL), "",
               "an empty DOCUMENT_URI is still present");
    check_path(make_env("SCRIPT_NAME=/hubs", "PATH_INFO=/chat/negotiate", "REQUEST_URI=/z", NULL),
               "/hubs/chat/negotiate", "SCRIPT_NAME + PATH_INFO");
    check_path(make_env("SCRIPT_NAME=/chat", NULL), "/chat", "SCRIPT_NAME alone");
    check_path(make_env("PATH_INFO=/chat", "REQUEST_URI=/other", NULL), "/chat", "PATH_INFO alone");
    check_path(make_env("PATH_INFO=/a?b", NULL), "/a?b",
               "PATH_INFO is decoded by the server, so a '?' in it is part of the path");
    check_path(make_env("REQUEST_URI=/chat?id=x&y=?", NULL), "/chat", "REQUEST_URI up to '?'");
    check_path(make_env("REQUEST_URI=/chat", NULL), "/chat", "REQUEST_URI without query");
    check_path(make_env("REQUEST_URI=?id=1", NULL), "", "REQUEST_URI that is only a query");
    check_path(make_env("REQUEST_URI=/a%20b", NULL), "/a%20b", "no percent-decoding");
}

static void test_header(void)
{
    sr_http_request req;

    init_req(&req, make_env("HTTP_X_REQUESTED_WITH=XMLHttpRequest", "CONTENT_TYPE=text/plain",
                            "CONTENT_LENGTH=12", "HTTP_ACCEPT_ENCODING=gzip",
                            "HTTP_AUTHORIZATION=Bearer t", "HTTP_=weird", NULL));
    is_str(sr_http_header(&req, "X-Requested-With"), "XMLHttpRequest", "X-Requested-With");
    is_str(sr_http_header(&req, "x-requested-with"), "XMLHttpRequest", "header names ignore case");
    is_str(sr_http_header(&req, "X_Requested_With"), "XMLHttpRequest",
           "'_' maps to itself (CGI cannot tell them apart)");
    is_str(sr_http_header(&req, "Content-Type"), "text/plain", "Content-Type -> CONTENT_TYPE");
    is_str(sr_http_header(&req, "content-length"), "12", "Content-Length -> CONTENT_LENGTH");
    is_str(sr_http_header(&req, "Authorization"), "Bearer t", "Authorization");
    ok(sr_http_header(&req, "Accept") == NULL, "Accept is not Accept-Encoding");
    ok(sr_http_header(&req, "Accept-Encoding-X") == NULL, "longer name than any entry");
    ok(sr_http_header(&req, "") == NULL, "empty header name");
    ok(sr_http_header(&req, "X-Requested-With=XMLHttpRequest") == NULL, "'=' in a name");
    sr_http_request_fini(&req);

    init_req(&req, make_env("HTTP_CONTENT_TYPE=nope", NULL));
    ok(sr_http_header(&req, "Content-Type") == NULL, "Content-Type is not read as HTTP_");
    sr_http_request_fini(&req);
}

static int accepts(const char *accept, const char *type)
{
    sr_http_request req;
    char *var = NULL;
    int r;

    if (accept) {
        var = sr_xmalloc(strlen(accept) + sizeof("HTTP_ACCEPT="));
        strcpy(var, "HTTP_ACCEPT=");
        strcat(var, accept);
    }
    init_req(&req, make_env("REQUEST_METHOD=GET", var, NULL));
    free(var);
    r = sr_http_accepts(&req, type);
    sr_http_request_fini(&req);
    return r;
}

static void test_accepts(void)
{
    const char *sse = "text/event-stream";

    is_int(accepts("text/event-stream", sse), 1, "accept: exact");
    is_int(accepts("TEXT/Event-Stream", sse), 1, "accept: case-insensitive");
    is_int(accepts(" text/event-stream ; charset=utf-8", sse), 1, "accept: params and spaces");
    is_int(accepts("text/html,\ttext/event-stream;q=0.5", sse), 1, "accept: second element");
    is_int(accepts(",, ,text/event-stream", sse), 1, "accept: empty elements");
    is_int(accepts("text/plain;x=\"a\", text/event-stream", sse), 1,
           "accept: after a quoted parameter");
    is_int(accepts("text/plain;x=\"a, text/event-stream\"", sse), 0,
           "accept: a comma inside quotes does not split");
    is_int(accepts("text/plain;x=\"a\\\", text/event-stream\"", sse), 0,
           "accept: an escaped quote does not end the quoted-string");
    is_int(accepts("text/plain;x=\"a, text/event-stream", sse), 0,
           "accept: unterminated quote runs to the end");
    is_int(accepts("*/*", sse), 0, "accept: wildcard does not count");
    is_int(accepts("text/*", sse), 0, "accept: type wildcard does not count");
    is_int(accepts("text/event-streams", sse), 0, "accept: longer type");
    is_int(accepts("text/event-strea", sse), 0, "accept: shorter type");
    is_int(accepts("text/ event-stream", sse), 0, "accept: inner whitespace is not ignored");
    is_int(accepts("", sse), 0, "accept: empty header");
    is_int(accepts(";;;,;", sse), 0, "accept: only separators");
    is_int(accepts(NULL, sse), 0, "accept: no header");
    is_int(accepts("application/json, text/plain", "text/plain"), 1, "accept: other type");
}

/* ---------------------------------------------------------------------------------------------
 * Query strings
 */

static void check_query(const char *query, const char *key, int ignore_case, size_t cap,
                        int want_rc, const char *want, const char *name)
{
    char out[64];
    int rc;

    memset(out, 'Z', sizeof(out));
    rc = sr_http_query_get(query, key, ignore_case, cap ? out : NULL, cap);
    is_int(rc, want_rc, "query %s: rc", name);
    if (cap)
        is_str(out, want, "query %s: value", name);
}

static void test_query(void)
{
    char big[300];
    char out[300];
    char tiny[1];
    int rc;

    check_query("id=abc&_=1700000000000", "id", 0, 64, 1, "abc", "first key");
    check_query("id=abc&_=1700000000000", "_", 0, 64, 1, "1700000000000", "cache buster");
    check_query("negotiateVersion=1", "NegotiateVersion", 1, 64, 1, "1", "ignore case");
    check_query("negotiateVersion=1", "NegotiateVersion", 0, 64, 0, "", "case matters");
    check_query("id=abc", "ID", 1, 64, 1, "abc", "ignore case, upper key");
    check_query("ID=1&id=2", "id", 1, 64, 1, "1", "first occurrence wins (ignore case)");
    check_query("ID=1&id=2", "id", 0, 64, 1, "2", "exact case skips the first");
    check_query("id=1&id=2", "id", 0, 64, 1, "1", "first of duplicates");
    check_query("a=1&&b=2", "b", 0, 64, 1, "2", "empty pair");
    check_query("&&&a=1&", "a", 0, 64, 1, "1", "leading and trailing '&'");
    check_query("flag&x=1", "flag", 0, 64, 1, "", "key without '='");
    check_query("x=1&flag", "flag", 0, 64, 1, "", "last key without '='");
    check_query("flag=", "flag", 0, 64, 1, "", "empty value");
    check_query("a=b=c", "a", 0, 64, 1, "b=c", "value keeps later '='");
    check_query("x=a+b%20c", "x", 0, 64, 1, "a b c", "'+' and %20 are spaces");
    check_query("x=%2b%2B", "x", 0, 64, 1, "++", "%2b either case");
    check_query("x=%e2%82%AC", "x", 0, 64, 1, "\xe2\x82\xac", "multi-byte escape");
    check_query("x=a%26b&y=1", "x", 0, 64, 1, "a&b", "escaped '&' stays in the value");
    check_query("x=%3D", "x", 0, 64, 1, "=", "escaped '='");
    check_query("n%61me=v", "name", 0, 64, 1, "v", "escaped key");
    check_query("my+key=v", "my key", 0, 64, 1, "v", "'+' in key");
    check_query("my%20key=v", "my key", 0, 64, 1, "v", "%20 in key");
    check_query("id%3D=1", "id=", 0, 64, 1, "1", "escaped '=' in key");
    check_query("N%41ME=v", "name", 1, 64, 1, "v", "escaped key, ignore case");
    check_query("idx=1&i=2&id=3", "id", 0, 64, 1, "3", "prefix and longer keys differ");
    check_query("i=1", "id", 0, 64, 0, "", "shorter key");
    check_query("?id=1", "id", 0, 64, 0, "", "a leading '?' belongs to the key");
    check_query("?id=1", "?id", 0, 64, 1, "1", "key with '?'");
    check_query("", "id", 0, 64, 0, "", "empty query");
    check_query("=v&a=1", "", 0, 64, 1, "v", "empty key");
    check_query("a=1&&b", "", 0, 64, 0, "", "empty pairs are not the empty key");
    check_query("\xc3\x89=1", "\xc3\xa9", 1, 64, 0, "", "ignore case is ASCII-only");
    check_query("\xc3\x89=1", "\xc3\x89", 1, 64, 1, "1", "non-ASCII keys compare raw");
    check_query("%C3%89=1", "\xc3\x89", 0, 64, 1, "1", "escaped non-ASCII key");

    /* Malformed escapes and NULs. */
    check_query("x=%zz", "x", 0, 64, -1, "", "malformed escape");
    check_query("x=%4", "x", 0, 64, -1, "", "truncated escape");
    check_query("x=%", "x", 0, 64, -1, "", "lone '%'");
    check_query("x=abc%", "x", 0, 64, -1, "", "'%' at the end");
    check_query("x=%4&y=1", "x", 0, 64, -1, "", "escape cut by '&'");
    check_query("x=%4&y=1", "y", 0, 64, 1, "1", "other pair's malformed value is ignored");
    check_query("a=%zz&id=ok", "id", 0, 64, 1, "ok", "malformed value before");
    check_query("id=ok&a=%zz", "id", 0, 64, 1, "ok", "malformed value after");
    check_query("%zz=1&id=ok", "id", 0, 64, 1, "ok", "malformed key before");
    check_query("%=1&id=2", "id", 0, 64, 1, "2", "lone '%' key before");
    check_query("a%4=1&b=2", "b", 0, 64, 1, "2", "escape in key cut by '='");
    check_query("%zz=1", "%zz", 0, 64, 0, "", "a malformed key matches nothing");
    check_query("id=%zz&id=2", "id", 0, 64, -1, "", "first occurrence wins even when malformed");
    check_query("x=a%00b", "x", 0, 64, -1, "", "decoded NUL in value");
    check_query("%00=1&x=2", "x", 0, 64, 1, "2", "decoded NUL in another key");
    check_query("%00=1", "", 0, 64, 0, "", "a key decoding to NUL is not the empty key");
    check_query("a%00=1", "a", 0, 64, 0, "", "a key with a NUL is not its prefix");

    /* Capacity. */
    check_query("x=abcd", "x", 0, 5, 1, "abcd", "value exactly fits");
    check_query("x=abcd", "x", 0, 4, -1, "", "value one byte too long");
    check_query("x=%41%42%43", "x", 0, 4, 1, "ABC", "capacity counts decoded bytes");
    check_query("x=", "x", 0, 1, 1, "", "empty value in a 1-byte buffer");
    check_query("x=a", "x", 0, 1, -1, "", "one byte in a 1-byte buffer");
    check_query("x=", "x", 0, 0, -1, "", "no room for the NUL");
    check_query("y=1", "x", 0, 0, 0, "", "absent with no buffer");

    memset(big, 'a', sizeof(big) - 1);
    memcpy(big, "tok=", 4);
    big[sizeof(big) - 1] = '\0';
    rc = sr_http_query_get(big, "tok", 0, out, sizeof(out));
    is_int(rc, 1, "long value fits a large buffer");
    is_int((long long)strlen(out), (long long)sizeof(big) - 5, "long value length");
    tiny[0] = 'Z';
    rc = sr_http_query_get(big, "tok", 0, tiny, sizeof(tiny));
    is_int(rc, -1, "long value, tiny buffer");
    is_int(tiny[0], 0, "failure leaves an empty string");
}

/* ---------------------------------------------------------------------------------------------
 * Responses
 */

static void is_head(const sr_http_response *res, int with_length, const char *want,
                    const char *name)
{
    sr_buf out = SR_BUF_INIT;
    sr_http_response_head(res, with_length, &out);
    is_mem(out.ptr, out.len, want, strlen(want), "head: %s", name);
    sr_buf_fini(&out);
}

static void test_response(void)
{
    sr_http_response res;
    sr_buf out = SR_BUF_INIT;
    static const char body[] = "a\0b";
    static const char want404[] = "Status: 404 Not Found\r\nX-Content-Type-Options: nosniff\r\nContent-Length: 3\r\n\r\na\0b";

    sr_http_response_init(&res, 200);
    sr_http_response_header(&res, "Content-Type", "text/plain");
    sr_http_response_body(&res, "hi", 2);
    is_head(&res, 1, "Status: 200 OK\r\nX-Content-Type-Options: nosniff\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n",
            "with length");
    is_head(&res, 0, "Status: 200 OK\r\nX-Content-Type-Options: nosniff\r\nContent-Type: text/plain\r\n\r\n", "without length");
    sr_buf_appends(&out, "prefix|");
    sr_http_response_serialize(&res, &out);
    is_str(out.ptr,
           "prefix|Status: 200 OK\r\nX-Content-Type-Options: nosniff\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi",
           "serialize appends head and body");
    sr_http_response_fini(&res);
    sr_buf_fini(&out);

    sr_http_response_init(&res, 204);
    sr_http_response_no_cache(&res);
    is_head(&res, 1,
            "Status: 204 No Content\r\nX-Content-Type-Options: nosniff\r\n"
            "Cache-Control: no-cache, no-store\r\n"
            "Pragma: no-cache\r\n"
            "Expires: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
            "Content-Length: 0\r\n\r\n",
            "no-cache headers");
    sr_http_response_fini(&res);

    sr_http_response_init(&res, 404);
    sr_http_response_body(&res, body, 3);
    sr_http_response_body(&res, NULL, 0);
    sr_http_response_serialize(&res, &out);
    is_mem(out.ptr, out.len, want404, sizeof(want404) - 1, "body with a NUL, no other headers");
    sr_http_response_fini(&res);
    sr_http_response_fini(NULL);
    sr_buf_fini(&out);

    sr_http_response_init(&res, 299);
    is_head(&res, 0, "Status: 299 Unknown\r\nX-Content-Type-Options: nosniff\r\n\r\n", "unknown status");
    sr_http_response_fini(&res);
}

static void test_escapes_valid(void)
{
    ok(sr_http_escapes_valid(""), "escapes: empty");
    ok(sr_http_escapes_valid("id=abc&x=%41%2f%00"), "escapes: well formed (NUL too)");
    ok(!sr_http_escapes_valid("id=%zz"), "escapes: %%zz");
    ok(!sr_http_escapes_valid("id=%4"), "escapes: %%4 at the end");
    ok(!sr_http_escapes_valid("id=abc%"), "escapes: lone %% at the end");
    ok(!sr_http_escapes_valid("x=%g1&id=abc"), "escapes: bad one in another pair");
}

static void test_reason(void)
{
    static const struct {
        int status;
        const char *reason;
    } cases[] = {
        {200, "OK"},
        {202, "Accepted"},
        {204, "No Content"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {409, "Conflict"},
        {413, "Content Too Large"},
        {415, "Unsupported Media Type"},
        {429, "Too Many Requests"},
        {500, "Internal Server Error"},
        {503, "Service Unavailable"},
        {0, "Unknown"},
        {-1, "Unknown"},
        {418, "Unknown"},
        {600, "Unknown"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        is_str(sr_http_reason(cases[i].status), cases[i].reason, "reason %d", cases[i].status);
}

/* Runs fn in a child and reports whether it died of SIGABRT (an assert). */
static int aborts(void (*fn)(void))
{
    pid_t pid = fork();
    int st = 0;
    int devnull;

    if (pid < 0)
        return -1;
    if (pid == 0) {
        devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, STDERR_FILENO); /* keep the assert message out of the TAP stream */
        fn();
        _exit(0);
    }
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

static void header_with(const char *name, const char *value)
{
    sr_http_response res;
    sr_http_response_init(&res, 200);
    sr_http_response_header(&res, name, value);
    sr_http_response_fini(&res);
}

static void crlf_in_value(void) { header_with("X-A", "a\r\nSet-Cookie: x=1"); }
static void lf_in_value(void) { header_with("X-A", "a\nb"); }
static void cr_in_name(void) { header_with("X\r-A", "a"); }
static void good_header(void) { header_with("X-A", "a b"); }

static void test_header_asserts(void)
{
#ifdef NDEBUG
    ok(1, "# SKIP asserts are compiled out");
#else
    is_int(aborts(crlf_in_value), 1, "CRLF in a header value asserts");
    is_int(aborts(lf_in_value), 1, "LF in a header value asserts");
    is_int(aborts(cr_in_name), 1, "CR in a header name asserts");
    is_int(aborts(good_header), 0, "a clean header does not");
#endif
}

int main(void)
{
    test_env_and_views();
    test_escapes_valid();
    test_path();
    test_header();
    test_accepts();
    test_query();
    test_response();
    test_reason();
    test_header_asserts();
    return done_testing();
}
