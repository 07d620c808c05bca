/*
 * sr_results.h — client results (protocol.md §7.4): the server invokes a client method with an
 * invocation id and waits for the client's Completion, which may be POSTed to any worker.
 */
#ifndef SR_RESULTS_H
#define SR_RESULTS_H

#include <libpq-fe.h>

#include "sr_feed.h"
#include "sr_proto.h"

/** A Completion from the client that no upload claimed: passes it, through the log, to the
 *  worker waiting for it. Runs in the POST's transaction. Returns 0 or SR_ERR_DB. */
int sr_results_forward(PGconn *db, const char *hub, const char *conn_id, const char *payload,
                       size_t len, const sr_msg *msg);

/** Feed hook (loop thread): "result <id> <completion>" control records wake the waiter. */
void sr_results_offer(const sr_rec *rec);

#endif
