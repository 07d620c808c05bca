/*
 * sr_sse.c — the ServerSentEvents transport (protocol.md §4).
 *
 * DESIGN: a stream GET activates its connection with this worker as the holder and is parked
 * on the event loop, which writes the response head and the ":\r\n" comment at once (the client
 * counts the connection as open only when they arrive, §4.2). From then on each batch of
 * records the feed collects for the connection is written as one unnamed event, and a Ping
 * event goes out every KeepAliveInterval once the handshake answer has been written (nothing may
 * precede it, §7.1). The stream is exclusive (a second GET is 409), so its position in the log
 * lives in memory only; the connection row exists for as long as the stream does and is deleted
 * the moment the stream ends, whoever ended it (§4.4), with the hub's disconnect hook run in
 * the same transaction. A worker that dies cannot do that, so streams are vouched for by the
 * worker's heartbeat row and the reaper takes over when it goes stale (sr_reaper.c).
 * Client timeout: POSTs stamp the connection's last_received; every few seconds one query finds
 * the streams of this worker whose client armed the timeout with a Ping and then went silent
 * for ClientTimeoutInterval; they get a Close with allowReconnect and end (§6.3).
 * A reader that cannot keep up (more than MAX_PENDING bytes queued) is ended rather than
 * allowed to grow the worker's memory without bound.
 */
#include "config.h"

#include "sr_sse.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "sr_conf.h"
#include "sr_db.h"
#include "sr_feed.h"
#include "sr_http.h"
#include "sr_log.h"
#include "sr_loop.h"
#include "sr_mem.h"
#include "sr_metrics.h"
#include "sr_park.h"
#include "sr_proto.h"
#include "sr_reaper.h"
#include "sr_route.h"
#include "sr_session.h"
#include "sr_store.h"
#include "sr_worker.h"

#define MAX_PENDING (4u * 1024 * 1024)
#define HEARTBEAT_INTERVAL 5.0
#define SILENCE_CHECK_INTERVAL 2.0
#define CLIENT_TIMEOUT_TEXT                                                                        \
    "Client hasn't sent a message/ping within the configured ClientTimeoutInterval."

static atomic_int announced; /* this worker's heartbeat row exists */

/* ------------------------------------------------------------------------------------------ */
/* Framing                                                                                    */

void sr_sse_format_event(sr_buf *out, const char *p, size_t n)
{
    if (n == 0) {
        sr_buf_append(out, "\r\n", 2);
        return;
    }
    size_t start = 0;
    for (;;) {
        const char *lf = memchr(p + start, '\n', n - start);
        size_t end = lf ? (size_t)(lf - p) : n;
        size_t len = end - start;
        if (lf && len > 1 && p[end - 1] == '\r')
            len--;
        sr_buf_append(out, "data: ", 6);
        sr_buf_append(out, p + start, len);
        sr_buf_append(out, "\r\n", 2);
        if (!lf)
            break;
        start = end + 1;
    }
    sr_buf_append(out, "\r\n", 2);
}

/* ------------------------------------------------------------------------------------------ */
/* Request thread                                                                             */

static const sr_waiter_ops sse_ops;

void sr_sse_get(sr_exchange *ex, const sr_hub *hub, const char *token)
{
    PGconn *db;
    sr_conn_row row;
    if (!sr_route_open(ex, hub, token, SR_OPEN_ENDED_IS_GONE | SR_OPEN_PATIENT, &db, &row))
        return; /* answered: 404, 403 or 503 */
    if (row.transport) {
        int same = !strcmp(row.transport, "ServerSentEvents");
        sr_conn_row_fini(&row);
        sr_store_rollback(db);
        if (same)
            sr_exchange_respond_text(ex, 409, NULL); /* one stream per connection */
        else
            sr_exchange_respond_text(ex, 400, "Cannot change transports mid-connection");
        return;
    }
    /* The reaper treats a stream whose holder has no heartbeat row as orphaned: make sure the
     * row exists before the first stream names this worker. */
    if ((!atomic_load(&announced) && sr_store_worker_beat(db, sr_worker_id()) != 0) ||
        sr_session_activate(db, hub, &row, &ex->req, ex->user, ex->claims,
                            "ServerSentEvents", sr_worker_id()) != 0 ||
        sr_store_commit(db) != 0) {
        sr_conn_row_fini(&row);
        goto rollback_unavailable;
    }
    /* A connection can be put in groups before its stream opens (by id, from another one). */
    PGresult *groups = sr_store_groups_of(db, row.id);
    sr_waiter *w = sr_waiter_new(&sse_ops, ex);
    sr_park_set_groups(w, groups);
    PQclear(groups);
    memcpy(w->conn_id, row.id, sizeof w->conn_id);
    w->hub = hub->path;
    w->user_id = row.user_id;
    row.user_id = NULL;
    w->cursor = w->db_cursor = row.cursor;
    w->handshaken = hub->on_data != NULL; /* a raw endpoint has no handshake */
    sr_conn_row_fini(&row);
    sr_park_submit(w);
    return;

rollback_unavailable:
    sr_route_rollback_unavailable(ex, db);
}

/* ------------------------------------------------------------------------------------------ */
/* Event loop                                                                                 */

/* Connections whose stream ended while the database was away: released on a later tick. */
static char **unreleased;
static size_t n_unreleased;

static int release_now(const char *conn_id, const char *why)
{
    PGconn *db = sr_feed_db();
    if (!db || sr_store_begin(db) != 0)
        return -1;
    PGresult *r = sr_store_conn_release(db, conn_id, sr_worker_id());
    int rc = r ? sr_reaper_end_rows(db, r, why) : -1;
    PQclear(r);
    if (rc == 0 && sr_store_commit(db) == 0)
        return 0;
    if (sr_db_broken(db))
        sr_feed_db_failed();
    else
        sr_store_rollback(db);
    return -1;
}

static void release(const char *conn_id, const char *why)
{
    if (release_now(conn_id, why) == 0)
        return;
    unreleased = sr_xrealloc(unreleased, (n_unreleased + 1) * sizeof *unreleased);
    unreleased[n_unreleased++] = sr_xstrdup(conn_id);
}

/* Ends the stream: writes what was collected and @p close_record (may be NULL), ends the
 * response, and removes the connection. */
static void end_stream(sr_waiter *w, const char *close_record, const char *why)
{
    sr_park_remove(w);
    sr_buf event = SR_BUF_INIT;
    if (w->frames.len || close_record) {
        sr_buf_append(&w->frames, close_record ? close_record : "",
                      close_record ? strlen(close_record) : 0);
        sr_sse_format_event(&event, w->frames.ptr, w->frames.len);
    }
    sr_exchange *ex = w->ex;
    w->ex = NULL;
    sr_park_finish_exchange(ex, event.ptr, event.len);
    sr_buf_fini(&event);
    release(w->conn_id, why);
    sr_park_bury(w);
}

static void write_event(sr_waiter *w, const char *p, size_t n)
{
    sr_buf event = SR_BUF_INIT;
    sr_sse_format_event(&event, p, n);
    sr_exchange_queue(w->ex, event.ptr, event.len);
    sr_metrics_add(SR_M_STREAM_EVENTS, 1);
    sr_buf_fini(&event);
    if (sr_park_write(w, MAX_PENDING) != 0) {
        sr_log_info("stream of connection %s ended: client gone or not reading", w->conn_id);
        sr_buf_reset(&w->frames);
        end_stream(w, NULL, "the client stopped reading");
    }
}

static void sse_parked(sr_waiter *w)
{
    sr_http_response res;
    sr_buf head = SR_BUF_INIT;
    sr_http_response_init(&res, 200);
    sr_http_response_header(&res, "Content-Type", "text/event-stream");
    /* ASP.NET also sends Pragma: no-cache and Content-Encoding: identity. Neither changes what
     * a client or a proxy does with an event stream (identity is the default encoding, Pragma
     * an HTTP/1.0 relic next to Cache-Control), and lighttpd keeps every header of a held
     * response for the life of the stream: about 0.23 KiB each (bench/README.md). */
    sr_http_response_header(&res, "Cache-Control", "no-cache, no-store, no-transform");
    /* Asks buffering proxies (nginx and those that copy it) to pass events through at once. */
    sr_http_response_header(&res, "X-Accel-Buffering", "no");
    sr_exchange_decorate(w->ex, &res);
    sr_http_response_head(&res, 0, &head);
    sr_http_response_fini(&res);
    sr_buf_append(&head, ":\r\n", 3);
    sr_exchange_queue(w->ex, head.ptr, head.len);
    sr_buf_fini(&head);
    w->last_ping = sr_now();
    if (sr_park_write(w, MAX_PENDING) != 0) {
        release(w->conn_id, "the stream could not be opened");
        sr_park_bury(w);
    }
}

static void sse_ready(sr_waiter *w)
{
    if (!w->frames.len)
        return;
    sr_buf frames = w->frames;
    sr_buf_init(&w->frames);
    write_event(w, frames.ptr, frames.len);
    sr_buf_fini(&frames);
}

static void sse_control(sr_waiter *w, const char *verb)
{
    if (!strcmp(verb, "close"))
        end_stream(w, NULL, "the session ended");
}

static void sse_hangup(sr_waiter *w)
{
    release(w->conn_id, "the stream ended");
    sr_park_bury(w);
}

static void sse_tick(sr_waiter *w, double now)
{
    if (!w->handshaken || now - w->last_ping < sr_config->keepalive_interval)
        return;
    w->last_ping = now;
    sr_buf ping = SR_BUF_INIT;
    sr_proto_write_ping(&ping);
    write_event(w, ping.ptr, ping.len);
    sr_buf_fini(&ping);
}

static void sse_shutdown(sr_waiter *w)
{
    /* The client reconnects, and another worker serves it. */
    sr_buf close = SR_BUF_INIT;
    if (w->handshaken)
        sr_proto_write_close(&close, NULL, 1);
    end_stream(w, close.len ? close.ptr : NULL, "the worker stopped");
    sr_buf_fini(&close);
}

static const sr_waiter_ops sse_ops = {
    .transport = "ServerSentEvents",
    .max_frames = 0,
    .parked = sse_parked,
    .ready = sse_ready,
    .control = sse_control,
    .hangup = sse_hangup,
    .tick = sse_tick,
    .batch_end = NULL,
    .shutdown = sse_shutdown,
};

static void end_silent_streams(PGconn *db)
{
    PGresult *r = sr_store_silent_streams(db, sr_worker_id(), sr_config->client_timeout);
    if (!r) {
        if (sr_db_broken(db))
            sr_feed_db_failed();
        return;
    }
    sr_buf close = SR_BUF_INIT;
    sr_proto_write_close(&close, "Connection closed with an error.", 1);
    for (int i = 0; i < PQntuples(r); i++) {
        sr_waiter *w = sr_park_find(PQgetvalue(r, i, 0));
        if (w && w->ops == &sse_ops) {
            sr_log_info("connection %s: %s", w->conn_id, CLIENT_TIMEOUT_TEXT);
            end_stream(w, close.ptr, CLIENT_TIMEOUT_TEXT);
        }
    }
    sr_buf_fini(&close);
    PQclear(r);
}

void sr_sse_tick(double now)
{
    static double next_beat, next_silence_check, beat_session;
    PGconn *db = sr_feed_db();
    if (!db)
        return;
    double since = sr_feed_connected_since();
    if (since != beat_session) { /* a new session: announce ourselves at once */
        beat_session = since;
        next_beat = 0;
    }
    if (now >= next_beat) {
        if (sr_store_worker_beat(db, sr_worker_id()) == 0) {
            atomic_store(&announced, 1);
            next_beat = now + HEARTBEAT_INTERVAL;
        } else if (sr_db_broken(db)) {
            sr_feed_db_failed();
            return;
        }
    }
    /* While the database was away clients' Pings were refused (503), so last_received says
     * nothing about them: judge silence only once a full client timeout has passed since. */
    if (now >= next_silence_check && now - since >= sr_config->client_timeout) {
        next_silence_check = now + SILENCE_CHECK_INTERVAL;
        end_silent_streams(db);
    }
    size_t kept = 0;
    for (size_t i = 0; i < n_unreleased; i++) {
        if (release_now(unreleased[i], "the stream ended") == 0)
            free(unreleased[i]);
        else
            unreleased[kept++] = unreleased[i];
    }
    n_unreleased = kept;
}

void sr_sse_shutdown(void)
{
    PGconn *db = sr_feed_db();
    if (db)
        sr_store_worker_remove(db, sr_worker_id());
}
