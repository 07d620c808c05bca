/*
 * sr_route.c — request routing to the SignalR endpoints (see sr_route.h).
 *
 * DESIGN: a hub registered at P owns exactly two paths, P/negotiate and P (protocol.md §1, §2).
 * The connection token arrives as ?id=; a missing or empty one is 400 "Connection ID required"
 * and one that cannot exist (too long) is 404 like any unknown token, so the answer does not
 * reveal anything about the token's shape. Methods other than GET, POST and DELETE are 405.
 */
#include "config.h"

#include "sr_route.h"

#include <string.h>
#include <time.h>

#include <strings.h>

#include "sr_auth.h"
#include "sr_conf.h"
#include "sr_db.h"
#include "sr_session.h"
#include "sr_token.h"
#include "sr_metrics.h"
#include "sr_endpoint.h"
#include "sr_http.h"
#include "sr_log.h"
#include "sr_mem.h"
#include "sr_longpoll.h"
#include "sr_negotiate.h"
#include "sr_post.h"
#include "sr_sse.h"

#define NEGOTIATE_SUFFIX "/negotiate"

void sr_route_unavailable(sr_exchange *ex)
{
    sr_metrics_add(SR_M_RESPONSES_5XX, 1);
    sr_http_response res;
    sr_http_response_init(&res, 503);
    sr_http_response_header(&res, "Content-Type", "text/plain");
    sr_http_response_header(&res, "Retry-After", "5");
    sr_http_response_body(&res, SR_STRLIT("Service Unavailable"));
    sr_exchange_respond(ex, &res);
    sr_http_response_fini(&res);
}

void sr_route_rollback_unavailable(sr_exchange *ex, PGconn *db)
{
    if (sr_db_broken(db))
        sr_db_thread_reset();
    else
        sr_store_rollback(db);
    sr_route_unavailable(ex);
}

/* How long a poll or stream GET waits for the database to come back. A restart takes a few
 * hundred milliseconds; a 503 for a poll makes the official long-polling client drop the
 * connection (its transport fails), whereas a send's 503 only fails that send. */
#define PATIENCE_MS 5000
#define PATIENCE_STEP_MS 100

/* The thread's database session with a transaction begun, or NULL. */
static PGconn *begin_transaction(int patient)
{
    for (int waited = 0;; waited += PATIENCE_STEP_MS) {
        PGconn *db = sr_db_thread();
        if (db && sr_store_begin(db) == 0)
            return db;
        sr_db_thread_reset();
        if (!patient || waited >= PATIENCE_MS)
            return NULL;
        struct timespec step = {0, PATIENCE_STEP_MS * 1000000L};
        nanosleep(&step, NULL);
    }
}

int sr_route_open(sr_exchange *ex, const sr_hub *hub, const char *token, int flags,
                  PGconn **db_out, sr_conn_row *row)
{
    int ended_is_gone = flags & SR_OPEN_ENDED_IS_GONE;
    unsigned char hash[SR_TOKEN_HASH_BYTES];
    sr_token_hash(token, strlen(token), hash);
    PGconn *db = begin_transaction(flags & SR_OPEN_PATIENT);
    *db_out = db;
    if (!db) {
        sr_route_unavailable(ex);
        return 0;
    }
    if (flags & SR_OPEN_SOLE_SEND) {
        /* A second POST while one is outstanding is refused, not queued behind the row lock
         * (reliability-security.md I-07): the official client never overlaps its sends, so
         * only a misbehaving client sees this, and it cannot pile up request threads. */
        int got = sr_store_try_send_lock(db, hash);
        if (got <= 0) {
            if (got < 0) {
                sr_route_rollback_unavailable(ex, db);
            } else {
                sr_store_rollback(db);
                sr_exchange_respond_text(ex, 409, "Another send is in progress");
            }
            return 0;
        }
    }
    int found = sr_store_conn_lock(db, hash, row);
    if (found < 0) {
        sr_route_rollback_unavailable(ex, db);
        return 0;
    }
    if (found == 0 || strcmp(row->hub, hub->path) != 0 || (ended_is_gone && row->ended)) {
        if (found)
            sr_conn_row_fini(row);
        sr_store_rollback(db);
        sr_exchange_respond_text(ex, 404, "No Connection with that ID");
        return 0;
    }
    if (!sr_session_same_user(row, ex->user)) {
        /* Another user's token (or none) on this connection: refused, connection untouched. */
        sr_conn_row_fini(row);
        sr_store_rollback(db);
        sr_exchange_respond_text(ex, 403, NULL);
        return 0;
    }
    return 1;
}

/* 401 for a hub that requires a user (JwtBearer's challenge: empty body). */
static void count_id(const char *key, const char *value, void *arg)
{
    (void)value;
    if (!strcmp(key, "id"))
        ++*(int *)arg;
}

static int count_ids(const char *query)
{
    int n = 0;
    sr_http_query_foreach(query, count_id, &n);
    return n;
}

/* True when the query as the client sent it has a '%' not followed by two hex digits. lighttpd
 * re-encodes such a '%' as "%25" in QUERY_STRING ("%zz" arrives as "%25zz", a well-formed
 * unknown id), so the verdict is taken on REQUEST_URI, which keeps the original bytes. */
static int raw_query_malformed(const sr_http_request *req)
{
    const char *uri = sr_http_env(req, "REQUEST_URI");
    const char *q = uri ? strchr(uri, '?') : NULL;
    return q && !sr_http_escapes_valid(q);
}

static void unauthorized(sr_exchange *ex)
{
    sr_http_response res;
    sr_http_response_init(&res, 401);
    sr_http_response_header(&res, "WWW-Authenticate", "Bearer");
    sr_exchange_respond(ex, &res);
    sr_http_response_fini(&res);
}

/* True when @p origin is on the configured list (exact match). */
static int origin_allowed(const char *origin)
{
    const char *list = sr_config->cors_origins;
    size_t olen = strlen(origin);
    while (list && *list) {
        while (*list == ' ' || *list == ',')
            list++;
        size_t n = strcspn(list, ", ");
        if (n && n == olen && !memcmp(list, origin, n))
            return 1;
        list += n;
    }
    return 0;
}

/* A header list from Access-Control-Request-Headers is reflected only when it is made of
 * header-name characters, so nothing a page sends can inject a response line. */
static int is_header_list(const char *s)
{
    for (; *s; s++)
        if (!(((*s | 0x20) >= 'a' && (*s | 0x20) <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == ',' || *s == ' '))
            return 0;
    return 1;
}

/* CORS (protocol.md §9): an allowed origin is echoed exactly, with credentials, on every
 * response of the request; others get no CORS headers at all. Returns 1 when it answered a
 * preflight (the exchange is taken). */
static int cors(sr_exchange *ex)
{
    const char *origin = sr_http_header(&ex->req, "Origin");
    int allowed = origin && origin_allowed(origin);
    if (allowed)
        sr_buf_printf(&ex->extra_headers,
                      "Access-Control-Allow-Origin: %s\r\nAccess-Control-Allow-Credentials: "
                      "true\r\nVary: Origin\r\n",
                      origin);
    if (strcmp(ex->req.method, "OPTIONS") != 0)
        return 0;
    sr_http_response res;
    sr_http_response_init(&res, 204);
    if (allowed) {
        const char *asked = sr_http_header(&ex->req, "Access-Control-Request-Headers");
        sr_http_response_header(&res, "Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
        sr_http_response_header(&res, "Access-Control-Allow-Headers",
                                asked && is_header_list(asked) && strlen(asked) < 1024
                                    ? asked
                                    : "x-requested-with, x-signalr-user-agent, authorization, "
                                      "content-type");
        sr_http_response_header(&res, "Access-Control-Max-Age", "600");
    }
    sr_exchange_respond(ex, &res);
    sr_http_response_fini(&res);
    return 1;
}

void sr_route_handle(sr_exchange *ex)
{
    const char *path = ex->req.path;
    size_t len = strlen(path);
    size_t slen = sizeof NEGOTIATE_SUFFIX - 1;
    if (cors(ex))
        return;
    int authenticated = sr_auth_request(&ex->req, &ex->user, &ex->claims);
    if (sr_endpoint_handle(ex))
        return;
    const sr_hub *hub;
    int negotiate = 0;
    if (len > slen && !strcasecmp(path + len - slen, NEGOTIATE_SUFFIX) &&
        (hub = sr_hub_find(path, len - slen)) != NULL)
        negotiate = 1;
    else
        hub = sr_hub_find(path, len);
    if (!hub) {
        sr_exchange_respond_text(ex, 404, "Not Found");
        return;
    }
    const sr_policy *policy = hub->policy;
    int need_user = hub->require_authentication || sr_config->require_auth ||
                    (policy && (policy->authenticated || policy->role || policy->claim_type));
    if (need_user && authenticated != 1) {
        unauthorized(ex);
        return;
    }
    if (!sr_auth_allows(policy, ex->user, ex->claims)) {
        sr_exchange_respond_text(ex, 403, NULL);
        return;
    }
    if (negotiate) {
        sr_negotiate_handle(ex, hub);
        return;
    }
    const char *method = ex->req.method;
    int is_get = !strcmp(method, "GET"), is_post = !strcmp(method, "POST"),
        is_delete = !strcmp(method, "DELETE");
    if (!is_get && !is_post && !is_delete) {
        sr_exchange_respond_text(ex, 405, NULL);
        return;
    }
    /* Decoded into a buffer far larger than any token, so that -1 means a malformed escape or
     * a %00 (400: the request is broken) and a long but well-formed id is simply unknown. */
    char token[SR_HTTP_QUERY_PART_MAX];
    int found = sr_http_query_get(ex->req.query, "id", 0, token, sizeof token);
    if (found < 0 || count_ids(ex->req.query) > 1 || raw_query_malformed(&ex->req)) {
        /* Two ids would let a front end and this server pick different connections. */
        sr_exchange_respond_text(ex, 400, "Malformed connection ID");
        return;
    }
    if (found == 0 || token[0] == '\0') {
        sr_exchange_respond_text(ex, 400, "Connection ID required");
        return;
    }
    if (strlen(token) > SR_TOKEN_MAX) {
        sr_exchange_respond_text(ex, 404, "No Connection with that ID");
        return;
    }
    if (is_post)
        sr_post_handle(ex, hub, token);
    else if (is_delete)
        sr_longpoll_delete(ex, hub, token);
    else if (sr_http_accepts(&ex->req, "text/event-stream"))
        sr_sse_get(ex, hub, token);
    else
        sr_longpoll_get(ex, hub, token);
}
