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

#include <strings.h>

#include "sr_auth.h"
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
    sr_http_response res;
    sr_http_response_init(&res, 503);
    sr_http_response_header(&res, "Content-Type", "text/plain");
    sr_http_response_header(&res, "Retry-After", "5");
    sr_http_response_body(&res, SR_STRLIT("Service Unavailable"));
    sr_exchange_respond(ex, &res);
    sr_http_response_fini(&res);
}

/* 401 for a hub that requires a user (JwtBearer's challenge: empty body). */
static void unauthorized(sr_exchange *ex)
{
    sr_http_response res;
    sr_http_response_init(&res, 401);
    sr_http_response_header(&res, "WWW-Authenticate", "Bearer");
    sr_exchange_respond(ex, &res);
    sr_http_response_fini(&res);
}

void sr_route_handle(sr_exchange *ex)
{
    const char *path = ex->req.path;
    size_t len = strlen(path);
    size_t slen = sizeof NEGOTIATE_SUFFIX - 1;
    int authenticated = sr_auth_request(&ex->req, &ex->user);
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
    if (hub->require_authentication && authenticated != 1) {
        unauthorized(ex);
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
    char token[SR_TOKEN_MAX + 1];
    int found = sr_http_query_get(ex->req.query, "id", 0, token, sizeof token);
    if (found == 0 || (found > 0 && token[0] == '\0')) {
        sr_exchange_respond_text(ex, 400, "Connection ID required");
        return;
    }
    if (found < 0) {
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
