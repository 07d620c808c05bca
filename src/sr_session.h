/*
 * sr_session.h — the hub-protocol side of one connection: the handshake, the records a client
 * sends (possibly several per POST, possibly split across POSTs), their dispatch to the hub, and
 * ending the connection. Everything happens inside the caller's database transaction, on a
 * connection row the caller has locked.
 */
#ifndef SR_SESSION_H
#define SR_SESSION_H

#include <libpq-fe.h>
#include <stddef.h>

#include "signalr-fcgi.h"
#include "sr_http.h"
#include "sr_store.h"

/**
 * Processes the bytes of one POST for the locked connection @p row of hub @p hub.
 * Returns 0 when processed (the connection may have been ended: then it no longer exists when
 * the transaction commits), or SR_ERR_DB (the caller rolls back and answers 503).
 */
int sr_session_receive(PGconn *db, const sr_hub *hub, sr_conn_row *row, const char *body,
                       size_t len);

/** Invocations a POST leaves to run after it has been answered (a hub that allows more than one
 *  invocation at a time per connection): each record is a 4-byte length, then the payload. */
typedef struct sr_deferred {
    sr_buf records;
    size_t count;
} sr_deferred;

/**
 * As sr_session_receive(), except that Invocation and StreamInvocation records (but not those
 * with client-to-server streams, whose items may follow in the same body) are appended to
 * @p later instead of being run, when @p later is not NULL. Everything else (handshake,
 * Completions, stream items, Cancel, Close, protocol errors) is handled at once, in order.
 */
int sr_session_receive_deferring(PGconn *db, const sr_hub *hub, sr_conn_row *row,
                                 const char *body, size_t len, sr_deferred *later);

/**
 * Runs one invocation sr_session_receive_deferring() left for later, in the caller's
 * transaction, for @p row as read without a lock. Its Context.Items changes are merged key by
 * key, so that invocations running side by side keep each other's. Returns 0 or SR_ERR_DB.
 */
int sr_session_run_deferred(PGconn *db, const sr_hub *hub, sr_conn_row *row, const char *payload,
                            size_t len);

/**
 * Activates a connection on its first transport request: stores the transport, the holder
 * (@p holder, NULL for long polling), the request's context and the user the hub identifies
 * from it (also set in @p row). Returns 0 or SR_ERR_DB.
 */
int sr_session_activate(PGconn *db, const sr_hub *hub, sr_conn_row *row,
                        const sr_http_request *req, const char *auth_user,
                        const json_t *auth_claims, const char *transport, const char *holder);

/** True when a request authenticated as @p user may act on the connection in @p row: every
 *  request must carry the user its negotiate did (reliability-security.md §0.2). */
int sr_session_same_user(const sr_conn_row *row, const char *user);

/** How sr_session_end() leaves the connection row. */
typedef enum sr_end_mode {
    /** The client is gone or asked to go (DELETE, reaping): remove the row now. */
    SR_END_DISPOSE,
    /** The server ended the session (Close message, protocol error, failed handshake): keep
     *  the row, marked ended, so the next poll can still fetch the last records (a handshake
     *  error, a Close message); that poll removes it (protocol.md §5.3: 204 once nothing is
     *  left), or the reaper does after DisconnectTimeout. */
    SR_END_KEEP_FOR_LAST_POLL,
} sr_end_mode;

/**
 * Ends a connection inside the caller's transaction: removes or marks the row (@p mode),
 * queues @p close_record (may be NULL) and a "close" control record for whichever worker holds
 * its poll or stream, and runs the hub's disconnect hook when @p who says so (@p error: the
 * reason, NULL for a clean close). Returns 0 or SR_ERR_DB.
 */
typedef struct sr_ending {
    const char *conn_id;
    const char *user_id;   /* NULL for anonymous */
    const char *transport; /* may be NULL */
    int run_hook;          /* the handshake completed and the hook has not run yet */
    const json_t *request; /* context for the hook, may be NULL */
    json_t *items;         /* Context.Items for the hook, may be NULL */
} sr_ending;

/** The ending of the connection in @p row (hook run when its handshake completed). */
sr_ending sr_ending_of(const sr_conn_row *row);

int sr_session_end(PGconn *db, const sr_hub *hub, const sr_ending *who,
                   const char *close_record, const char *error, sr_end_mode mode);

#endif
