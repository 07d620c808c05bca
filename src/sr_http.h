/*
 * sr_http.h — the HTTP request as the worker sees it, and the response it writes.
 *
 * FastCGI and CGI hand a request over as CGI meta-variables (REQUEST_METHOD, QUERY_STRING,
 * HTTP_ACCEPT, ...) plus a body; both front ends (sr_fcgi.c) turn that into an sr_http_request,
 * so everything above this layer is the same for the three ways the worker runs.
 * A response is built in memory (status, headers, body) and serialised in the CGI response form
 * ("Status: 200 OK\r\n" + headers + blank line + body) that FastCGI and CGI both use.
 */
#ifndef SR_HTTP_H
#define SR_HTTP_H

#include <stddef.h>

#include "sr_buf.h"

typedef struct sr_http_request {
    char **env;       /* owned: NULL-terminated "NAME=value" strings */
    char *body;       /* owned, NUL-terminated for convenience; may contain NULs */
    size_t body_len;
    int body_too_large; /* the body exceeded the cap it was read with (it was not kept) */
    /* Views filled by sr_http_request_init(), valid until fini; the struct may be moved by
     * value (every view points into heap storage, none into the struct): */
    const char *method; /* REQUEST_METHOD, "" when absent */
    const char *path;   /* request path without query string (see below; in path_owned), "" */
    const char *query;  /* QUERY_STRING, "" when absent */
    char *path_owned;   /* private: the storage behind path (it may have to be assembled) */
} sr_http_request;

/**
 * Takes ownership of @p env (a malloc'ed NULL-terminated array of malloc'ed strings, or NULL)
 * and @p body (malloc'ed, or NULL) and fills the views. The path is taken from DOCUMENT_URI when
 * present (lighttpd, nginx; cut at '?'), else SCRIPT_NAME + PATH_INFO (Apache, CGI), else
 * REQUEST_URI up to '?'. It is not percent-decoded.
 */
void sr_http_request_init(sr_http_request *req, char **env, char *body, size_t body_len,
                          int body_too_large);
/** Frees everything the request owns; NULL is a no-op. */
void sr_http_request_fini(sr_http_request *req);

/** A CGI meta-variable by its exact name (borrowed from req), or NULL when absent. */
const char *sr_http_env(const sr_http_request *req, const char *name);

/** A request header by its HTTP name ("Accept", "X-Requested-With"; case-insensitive), looked
 *  up as the CGI variable HTTP_ACCEPT etc. ("Content-Type"/"Content-Length" map to
 *  CONTENT_TYPE/CONTENT_LENGTH). NULL when absent. */
const char *sr_http_header(const sr_http_request *req, const char *name);

/** True when the Accept header lists the media type @p type (e.g. "text/event-stream"),
 *  ignoring parameters, case and whitespace. Wildcard media ranges do not count. */
int sr_http_accepts(const sr_http_request *req, const char *type);

/**
 * Looks up @p key in a query string ("a=1&b=x%20y"). Keys are compared after percent-decoding,
 * without regard to ASCII case when @p ignore_case. The first occurrence wins. The decoded value
 * ('+' becomes a space) is written NUL-terminated to @p out.
 * Returns 1 when found, 0 when absent, -1 when the value does not fit in @p out_cap (including
 * the NUL) or contains a malformed percent escape or a decoded NUL byte. Unless 1 is returned,
 * @p out holds "" (when out_cap > 0). Pairs are split on '&' only; empty pairs are skipped; a
 * pair without '=' has the value "". A pair whose key is malformed (bad escape, decoded NUL)
 * matches no key, and malformed data in pairs other than the one found never affects the result.
 */
int sr_http_query_get(const char *query, const char *key, int ignore_case, char *out,
                      size_t out_cap) __attribute__((warn_unused_result));

/** True when every '%' in @p s is followed by two hex digits (whether a decoded byte is
 *  acceptable, e.g. %00, is the decoder's business). */
int sr_http_escapes_valid(const char *s);

/** Longest decoded key or value sr_http_query_foreach() passes on, including the NUL. */
#define SR_HTTP_QUERY_PART_MAX 4096

/**
 * Calls @p visit for every pair of a query string with a non-empty key, in order, with the key
 * and value percent-decoded ('+' as space). Pairs that are malformed (bad escape, decoded NUL)
 * or longer than SR_HTTP_QUERY_PART_MAX are skipped. Returns the number of pairs visited.
 */
int sr_http_query_foreach(const char *query,
                          void (*visit)(const char *key, const char *value, void *arg), void *arg);

typedef struct sr_http_response {
    int status;
    sr_buf headers; /* "Name: value\r\n" lines */
    sr_buf body;
} sr_http_response;

void sr_http_response_init(sr_http_response *res, int status);
void sr_http_response_fini(sr_http_response *res);
/** Adds a header line. Names and values must not contain CR or LF (asserted). */
void sr_http_response_header(sr_http_response *res, const char *name, const char *value);
void sr_http_response_body(sr_http_response *res, const void *p, size_t n);
/** Adds the no-cache headers of protocol.md §5.3 (Cache-Control, Pragma, Expires). */
void sr_http_response_no_cache(sr_http_response *res);
/** Appends the CGI form of the response head (Status line, headers, Content-Length when
 *  @p with_length, blank line) to @p out. The body is not included. */
void sr_http_response_head(const sr_http_response *res, int with_length, sr_buf *out);
/** Appends head (with Content-Length) and body to @p out. */
void sr_http_response_serialize(const sr_http_response *res, sr_buf *out);

/** The reason phrase for a status code ("OK", "Not Found", ...). */
const char *sr_http_reason(int status);

#endif
