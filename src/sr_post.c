/*
 * sr_post.c — POST <hub>?id=<token>: receive the client's records.
 *
 * DESIGN: the body is handed to the connection's session inside one transaction on the
 * connection's locked row (sr_session.c). 200 means "accepted and processed"; hub errors travel
 * back as protocol records, never as HTTP statuses (protocol.md §3). A body over the configured
 * cap is refused with 413 before anything is parsed; an unknown token is 404; a database that
 * cannot be reached is 503 with Retry-After, which the client reports as a failed send without
 * closing the connection.
 */
#include "config.h"

#include "sr_post.h"

#include <string.h>

#include "sr_db.h"
#include "sr_invoke.h"
#include "sr_metrics.h"
#include "sr_route.h"
#include "sr_session.h"
#include "sr_store.h"
#include "sr_streams.h"
#include "sr_token.h"

void sr_post_handle(sr_exchange *ex, const sr_hub *hub, const char *token)
{
    if (ex->req.body_too_large) {
        sr_exchange_respond_text(ex, 413, "Request body too large");
        return;
    }
    PGconn *db;
    sr_conn_row row;
    if (!sr_route_open(ex, hub, token, SR_OPEN_ENDED_IS_GONE | SR_OPEN_SOLE_SEND, &db, &row))
        return; /* answered: 404, 403 or 503 */
    int parallel = sr_invoke_parallelism(hub);
    sr_deferred later = {SR_BUF_INIT, 0};
    int rc = sr_session_receive_deferring(db, hub, &row, ex->req.body, ex->req.body_len,
                                          parallel > 1 ? &later : NULL);
    sr_conn_row_fini(&row);
    if (rc != 0 || sr_store_commit(db) != 0) {
        sr_buf_fini(&later.records);
        goto rollback_unavailable;
    }
    sr_streams_after_commit(); /* streams its methods kept open go live */
    sr_metrics_add(SR_M_POSTS, 1);
    sr_exchange_respond_text(ex, 200, NULL);
    /* Answered: the client may send again (e.g. the result a deferred method waits for). */
    if (later.count)
        sr_invoke_deferred(hub, token, &later, parallel);
    sr_buf_fini(&later.records);
    return;

rollback_unavailable:
    sr_streams_after_rollback();
    sr_route_rollback_unavailable(ex, db);
}
