/*
 * sr_route.h — maps a request to its endpoint: <hub>/negotiate, or <hub> with POST (send),
 * GET (long poll; Server-Sent Events when the Accept header asks for text/event-stream) and
 * DELETE (end a long-polling connection). This is where the endpoint-level HTTP errors of
 * protocol.md §2 are produced.
 */
#ifndef SR_ROUTE_H
#define SR_ROUTE_H

#include "signalr-fcgi.h"
#include "sr_exchange.h"
#include "sr_hub.h"
#include "sr_token.h"

/** Handles (and takes) one exchange. Runs on a request thread. */
void sr_route_handle(sr_exchange *ex);

/** Longest connection token accepted in ?id= (longer ones cannot exist: 404). */
#define SR_TOKEN_MAX 64

/** Answers 503 with Retry-After: the database is unavailable right now. */
void sr_route_unavailable(sr_exchange *ex);

#endif
