/*
 * sr_endpoint.c — plain HTTP endpoints (see sr_endpoint.h).
 *
 * DESIGN: a fixed table filled before the worker starts (so lookups need no lock), searched
 * longest prefix first. The endpoint sees the request through the same sr_request view as a
 * hub's identify hook, plus the request line and body, and builds its answer in an
 * sr_http_response; the exchange is written here, so endpoints never touch FastCGI.
 */
#include "config.h"

#include "sr_endpoint.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "signalr-fcgi.h"
#include "sr_context.h"
#include "sr_http.h"

#define MAX_ENDPOINTS 32

struct sr_response {
    sr_http_response http;
};

static struct {
    const char *prefix;
    sr_endpoint_fn fn;
} endpoints[MAX_ENDPOINTS];
static size_t n_endpoints;

int sr_endpoint_register(const char *prefix, sr_endpoint_fn fn)
{
    if (!prefix || prefix[0] != '/' || !fn || n_endpoints == MAX_ENDPOINTS)
        return SR_ERR_INVALID;
    endpoints[n_endpoints].prefix = prefix;
    endpoints[n_endpoints].fn = fn;
    n_endpoints++;
    return SR_OK;
}

void sr_response_status(sr_response *res, int status)
{
    res->http.status = status;
}

void sr_response_header(sr_response *res, const char *name, const char *value)
{
    sr_http_response_header(&res->http, name, value);
}

void sr_response_body(sr_response *res, const void *data, size_t len)
{
    sr_http_response_body(&res->http, data, len);
}

int sr_endpoint_handle(sr_exchange *ex)
{
    size_t best = 0, best_len = 0;
    for (size_t i = 0; i < n_endpoints; i++) {
        size_t len = strlen(endpoints[i].prefix);
        if (len > best_len && !strncasecmp(ex->req.path, endpoints[i].prefix, len)) {
            best = i;
            best_len = len;
        }
    }
    if (!best_len)
        return 0;
    sr_request req = {sr_context_from_request(&ex->req), &ex->req, ex->user};
    sr_response res;
    sr_http_response_init(&res.http, 200);
    endpoints[best].fn(&req, &res);
    json_decref(req.doc);
    sr_exchange_respond(ex, &res.http);
    sr_http_response_fini(&res.http);
    return 1;
}
