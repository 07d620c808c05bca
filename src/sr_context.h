/*
 * sr_context.h — the request context a connection keeps: the headers, query values and cookies
 * of the request that opened it, as one JSON document stored with the connection (so a method
 * running on any worker sees the same context), and the sr_request view hubs identify users by.
 */
#ifndef SR_CONTEXT_H
#define SR_CONTEXT_H

#include <jansson.h>

#include "signalr-fcgi.h"
#include "sr_http.h"

struct sr_request {
    json_t *doc; /* {"headers":{lower-case name: value}, "query":{...}, "cookies":{...}} */
    const sr_http_request *http; /* the live request (endpoints), or NULL */
    const char *user;            /* the authenticated user, or NULL */
};

/** Largest context document kept, in bytes of JSON; beyond it the largest parts are dropped. */
#define SR_CONTEXT_MAX 16384

/** Builds the context document of @p req (new reference). The Authorization header and the
 *  access_token query value are left out: secrets do not go into the database. */
json_t *sr_context_from_request(const sr_http_request *req);

/** Looks a value up in a context document (@p section "headers", "query" or "cookies";
 *  headers are matched without regard to case). Borrowed; NULL when absent. */
const char *sr_context_get(const json_t *doc, const char *section, const char *name);

/**
 * Runs the hub's identify hook (if any) on the context; writes the user id into @p user_id and
 * returns 1, or returns 0 for anonymous.
 */
int sr_context_identify(const sr_hub *hub, json_t *doc, const char *auth_user, char *user_id,
                        size_t cap);

#endif
