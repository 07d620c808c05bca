/*
 * sr_route.h — maps a request to its endpoint: <hub>/negotiate, or <hub> with POST (send),
 * GET (long poll; Server-Sent Events when the Accept header asks for text/event-stream) and
 * DELETE (end a long-polling connection). This is where the endpoint-level HTTP errors of
 * protocol.md §2 are produced.
 */
#ifndef SR_ROUTE_H
#define SR_ROUTE_H

#include "signalr-fcgi.h"
#include <libpq-fe.h>

#include "sr_exchange.h"
#include "sr_store.h"
#include "sr_hub.h"
#include "sr_token.h"

/** Handles (and takes) one exchange. Runs on a request thread. */
void sr_route_handle(sr_exchange *ex);

/** Longest connection token accepted in ?id= (longer ones cannot exist: 404). */
#define SR_TOKEN_MAX 64

/** Answers 503 with Retry-After: the database is unavailable right now. */
void sr_route_unavailable(sr_exchange *ex);

/** Ends a request whose transaction failed: rolls back (or drops a connection that broke)
 *  and answers 503. */
void sr_route_rollback_unavailable(sr_exchange *ex, PGconn *db);

/** Flags of sr_route_open(). */
enum {
    SR_OPEN_ENDED_IS_GONE = 1, /* a connection whose session ended is answered 404 */
    SR_OPEN_SOLE_SEND = 2,     /* a send: 409 while another send of the connection is running */
    SR_OPEN_PATIENT = 4,       /* a poll or stream GET: waits out a database restart (a few
                                  seconds) instead of answering 503 at once */
};

/**
 * Opens the connection a transport request names (?id=<token>): begins a transaction on the
 * thread's database connection and locks the connection's row. Returns 1 with *db and @p row
 * set (the caller commits or rolls back, and finis the row). Returns 0 when it has answered
 * the request itself: 404 "No Connection with that ID" (no such connection of this hub, or
 * with SR_OPEN_ENDED_IS_GONE in @p flags one whose session ended), 409 (SR_OPEN_SOLE_SEND and
 * another send on the connection is still being processed), 403 (the request's user is not
 * the one the connection was negotiated by: the connection is left untouched), or 503 (with
 * SR_OPEN_PATIENT only once the database has stayed unreachable for PATIENCE_MS).
 */
int sr_route_open(sr_exchange *ex, const sr_hub *hub, const char *token, int flags,
                  PGconn **db, sr_conn_row *row);

#endif
