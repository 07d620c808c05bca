/*
 * sr_feed.h — the worker's view of the message log: follows signalr.messages in commit order,
 * woken by LISTEN/NOTIFY (or by a timer in CGI mode and as a safety net), and keeps the recent
 * records in memory so that a poll or stream parked on this worker is served without a query.
 *
 * Loop thread only. The feed owns the loop thread's database connection (also used by the
 * long-polling and reaping code that runs on the loop) and reconnects it when it breaks.
 */
#ifndef SR_FEED_H
#define SR_FEED_H

#include <libpq-fe.h>
#include <stddef.h>

#include "sr_store.h"

typedef struct sr_rec {
    sr_pos pos;
    sr_kind kind;
    char *hub;
    char **targets;
    size_t n_targets;
    char **excluded;
    size_t n_excluded;
    char *body;
    size_t body_len;
    double fetched_at;
} sr_rec;

/** Parses row @p row of an sr_store_fetch() result. Returns 0, or -1 for a malformed row. */
int sr_rec_from_row(PGresult *r, int row, sr_rec *rec);
void sr_rec_fini(sr_rec *rec);
/** True when @p id is among the record's targets / excluded ids. */
int sr_rec_targets(const sr_rec *rec, const char *id);
int sr_rec_excludes(const sr_rec *rec, const char *id);

/**
 * Starts following the log from its current end. With @p listen, LISTENs for wake-ups; without
 * (CGI mode) the log is read every @p poll_ms milliseconds instead. Returns 0 even when the
 * database is down (the feed keeps trying), -1 only on local failures.
 */
int sr_feed_start(int listen, int poll_ms);
void sr_feed_stop(void);

/** The loop thread's database connection, or NULL while the database is unreachable. */
PGconn *sr_feed_db(void);
/** When the loop's database session was last (re)established (sr_now()), or 0 while it is
 *  down. After an outage, checks that depend on other workers' writes wait for them. */
double sr_feed_connected_since(void);

/** Marks the loop connection as failed (after a statement error that broke it). */
void sr_feed_db_failed(void);

/** Everything up to this position has been fetched and offered to the parked requests. */
sr_pos sr_feed_position(void);

/**
 * Visits, in order, the records held in memory that come after @p after. Returns 0 when memory
 * covers everything after @p after, or -1 when records between @p after and the oldest record
 * in memory are missing (nothing is visited: read them from the database first, up to
 * sr_feed_window_start()).
 */
int sr_feed_replay(sr_pos after, void (*visit)(const sr_rec *rec, void *arg), void *arg);
sr_pos sr_feed_window_start(void);

/** Periodic work: reconnect, read the log, trim memory. Called from the loop's tick. */
void sr_feed_tick(void);

#endif
