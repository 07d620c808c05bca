/*
 * sr_reaper.c — connection reaping and log pruning (see sr_reaper.h).
 *
 * DESIGN: a long-polling connection is alive while it polls: each poll stamps last_active, and
 * a connection with no poll held and none for DisconnectTimeout (15 s) is removed, as ASP.NET's
 * connection manager does (protocol.md §5.5). A connection whose poll has been "held" for longer
 * than any poll can last belongs to a worker that died; it is removed too. Removal is a DELETE
 * ... RETURNING in a transaction that also runs the hub's disconnect hooks and commits what
 * they send, so each hook runs exactly once: two workers reaping at the same time skip each
 * other's rows (SKIP LOCKED), and a worker that dies mid-reap rolls back and leaves the rows to
 * the next reaper. Connections that were activated but never sent a handshake within
 * HandshakeTimeout get "Handshake was canceled." and are removed.
 */
#include "config.h"

#include "sr_reaper.h"

#include <stdlib.h>
#include <string.h>

#include "sr_buf.h"
#include "sr_conf.h"
#include "sr_db.h"
#include "sr_feed.h"
#include "sr_hub.h"
#include "sr_log.h"
#include "sr_loop.h"
#include "sr_metrics.h"
#include "sr_proto.h"
#include "sr_session.h"
#include "sr_store.h"

#define REAP_BATCH 200
#define PRUNE_INTERVAL 30.0

static double next_reap;
static double next_prune;

int sr_reaper_end_rows(PGconn *db, PGresult *r, const char *why)
{
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        const char *id = PQgetvalue(r, i, 0), *path = PQgetvalue(r, i, 1);
        const sr_hub *hub = sr_hub_find(path, strlen(path));
        if (!hub)
            continue; /* a hub this worker does not serve (e.g. removed from the build) */
        const char *user = PQgetisnull(r, i, 2) ? NULL : PQgetvalue(r, i, 2);
        const char *transport = PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3);
        /* An ended session already ran its disconnect hook. */
        json_t *request = json_loads(PQgetvalue(r, i, 6), 0, NULL);
        json_t *items = json_loads(PQgetvalue(r, i, 7), 0, NULL);
        sr_ending who = {id, user, transport,
                         PQgetvalue(r, i, 4)[0] == 't' && PQgetvalue(r, i, 5)[0] != 't',
                         request, json_is_object(items) ? items : NULL};
        int rc = sr_session_end(db, hub, &who, NULL, NULL, SR_END_DISPOSE);
        json_decref(request);
        json_decref(items);
        if (rc != 0)
            return SR_ERR_DB;
        sr_log_info("connection %s on %s removed: %s", id, path, why);
    }
    return 0;
}

static int reap_idle(PGconn *db)
{
    if (sr_store_begin(db) != 0)
        return -1;
    const char *hubs[64];
    size_t n = 0;
    for (size_t i = 0; i < sr_hub_count() && n < 64; i++)
        hubs[n++] = sr_hub_at(i)->path;
    /* After an outage every worker's heartbeat is stale; streams are judged by heartbeats only
     * once this worker has been connected long enough for every live worker to have beaten. */
    int worker_timeout = sr_now() - sr_feed_connected_since() >= SR_WORKER_TIMEOUT
                             ? SR_WORKER_TIMEOUT
                             : 1000000000;
    PGresult *r = sr_store_reap_idle(db, sr_config->disconnect_timeout,
                                     sr_config->poll_timeout, worker_timeout, hubs, n,
                                     REAP_BATCH);
    if (!r) {
        sr_store_rollback(db);
        return -1;
    }
    int rc = sr_reaper_end_rows(db, r, "its client or its worker is gone");
    if (rc == 0)
        sr_metrics_add(SR_M_REAPED, PQntuples(r));
    PQclear(r);
    if (rc != 0) {
        sr_store_rollback(db);
        return -1;
    }
    return sr_store_commit(db) == 0 ? 0 : -1;
}

static int reap_handshakes(PGconn *db)
{
    if (sr_store_begin(db) != 0)
        return -1;
    PGresult *r = sr_store_reap_handshake(db, sr_config->handshake_timeout, REAP_BATCH);
    if (!r) {
        sr_store_rollback(db);
        return -1;
    }
    int n = PQntuples(r), rc = 0;
    sr_buf answer = SR_BUF_INIT;
    sr_proto_write_handshake_error(&answer, SR_HANDSHAKE_ERR_CANCELED);
    for (int i = 0; i < n && rc == 0; i++) {
        const char *targets[] = {PQgetvalue(r, i, 0)};
        const char *path = PQgetvalue(r, i, 1);
        rc = sr_store_publish(db, path, SR_KIND_HANDSHAKE, targets, 1, NULL, 0, answer.ptr,
                              answer.len);
        if (rc == 0)
            rc = sr_store_publish(db, path, SR_KIND_CONTROL, targets, 1, NULL, 0, "close", 5);
    }
    sr_buf_fini(&answer);
    PQclear(r);
    if (rc != 0) {
        sr_store_rollback(db);
        return -1;
    }
    return sr_store_commit(db) == 0 ? 0 : -1;
}

void sr_reaper_tick(double now)
{
    if (now < next_reap)
        return;
    next_reap = now + 1.0;
    PGconn *db = sr_feed_db();
    if (!db)
        return;
    int rc = reap_idle(db);
    if (rc == 0)
        rc = reap_handshakes(db);
    if (rc == 0 && now >= next_prune) {
        next_prune = now + PRUNE_INTERVAL;
        rc = sr_store_prune(db, sr_config->retention);
    }
    if (rc != 0 && sr_db_broken(db))
        sr_feed_db_failed();
}
