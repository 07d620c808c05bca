/*
 * sr_reaper.h — removes connections whose client is gone and runs their disconnect hooks, and
 * prunes old records from the message log. Runs on the loop thread of every worker; the SQL
 * makes each removal happen exactly once whichever worker gets there first.
 */
#ifndef SR_REAPER_H
#define SR_REAPER_H

#include <libpq-fe.h>

/** Does whatever is due (at most one pass per second). */
void sr_reaper_tick(double now);

/**
 * Ends the connections of a result whose rows were just deleted (columns: 0 id, 1 hub,
 * 2 user_id, 3 transport, 4 handshake_done, 5 ended, 6 request, 7 items): queues a "close" control record for each
 * and runs the disconnect hook of each that completed its handshake and had not ended already.
 * Runs inside the caller's transaction. Returns 0 or SR_ERR_DB.
 */
int sr_reaper_end_rows(PGconn *db, PGresult *rows, const char *why);

/** Seconds without a heartbeat after which a worker's streams are considered orphaned. */
#define SR_WORKER_TIMEOUT 20

#endif
