/*
 * sr_longpoll.c — the LongPolling transport (protocol.md §5).
 *
 * DESIGN: the first GET of a connection activates it and is answered at once (200, empty), as
 * the client waits for exactly that before it sends its handshake. Every later GET makes itself
 * the connection's newest poll (poll_gen + 1, holder = this worker) and is parked on the event
 * loop; if an older poll was held anywhere, a "poll <gen>" control record tells its worker to
 * end it with 204 ("the newest poll wins", §5.4). A parked poll is answered when records for it
 * arrive, when the poll timeout passes (200, empty), or when the connection ends (204).
 * Delivery is exactly-once per connection: before a poll's answer is written, its cursor is
 * stored with the condition that the poll is still the newest (one UPDATE for every poll
 * answered in the same pass of the loop); a poll that lost that race answers 204 and its
 * records are sent by the newer poll instead. If the database is unreachable, answers with data
 * wait (the records are re-read later); empty answers go out without it.
 */
#include "config.h"

#include "sr_longpoll.h"

#include <stdio.h>
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
#include "sr_route.h"
#include "sr_session.h"
#include "sr_store.h"
#include "sr_worker.h"

/* ------------------------------------------------------------------------------------------ */
/* Request threads                                                                            */

static void respond_empty(sr_exchange *ex, int status, const char *type)
{
    sr_http_response res;
    sr_http_response_init(&res, status);
    sr_http_response_header(&res, "Content-Type", type);
    sr_http_response_no_cache(&res);
    sr_exchange_respond(ex, &res);
    sr_http_response_fini(&res);
}

static const sr_waiter_ops longpoll_ops;

/* Parks the poll of connection @p conn_id, generation @p gen, reading from @p cursor. Takes
 * @p user_id. */
static void park_poll(sr_exchange *ex, const sr_hub *hub, const char *conn_id, char *user_id,
                      long long gen, sr_pos cursor, int handshake_delivered, int binary,
                      PGresult *groups, int group_column)
{
    sr_waiter *w = sr_waiter_new(&longpoll_ops, ex);
    snprintf(w->conn_id, sizeof w->conn_id, "%s", conn_id);
    w->hub = hub->path;
    w->user_id = user_id;
    w->poll_gen = gen;
    w->cursor = w->db_cursor = cursor;
    w->binary = binary;
    w->handshaken = handshake_delivered || hub->on_data != NULL; /* raw: no handshake */
    w->deadline = sr_now() + sr_config->poll_timeout;
    for (int i = 0; groups && i < PQntuples(groups); i++)
        if (!PQgetisnull(groups, i, group_column))
            sr_park_add_group(w, PQgetvalue(groups, i, group_column));
    sr_park_submit(w);
}

/* A poll of a connection whose previous poll has been answered, the case that repeats for as
 * long as a client stays: one statement instead of the full path's transaction of six (see
 * sr_store_poll_take_fast). Returns 1 when the poll is parked, 0 when the full path must run. */
static int fast_poll(sr_exchange *ex, const sr_hub *hub, const char *token)
{
    PGconn *db = sr_db_thread();
    if (!db)
        return 0;
    unsigned char hash[SR_TOKEN_HASH_BYTES];
    sr_token_hash(token, strlen(token), hash);
    PGresult *rows = NULL;
    int taken = sr_store_poll_take_fast(db, hash, hub->path, ex->user, sr_worker_id(), &rows);
    if (taken <= 0) {
        if (taken < 0 && sr_db_broken(db))
            sr_db_thread_reset(); /* the full path reconnects, patiently */
        return 0;
    }
    sr_pos cursor = {atoll(PQgetvalue(rows, 0, 2)), atoll(PQgetvalue(rows, 0, 3))};
    park_poll(ex, hub, PQgetvalue(rows, 0, 0),
              PQgetisnull(rows, 0, 4) ? NULL : sr_xstrdup(PQgetvalue(rows, 0, 4)),
              atoll(PQgetvalue(rows, 0, 1)), cursor, PQgetvalue(rows, 0, 5)[0] == 't',
              PQgetvalue(rows, 0, 7)[0] == 't', rows, 6);
    PQclear(rows);
    return 1;
}

void sr_longpoll_get(sr_exchange *ex, const sr_hub *hub, const char *token)
{
    if (strlen(token) <= SR_TOKEN_MAX && fast_poll(ex, hub, token))
        return;
    PGconn *db;
    sr_conn_row row;
    if (!sr_route_open(ex, hub, token, SR_OPEN_PATIENT, &db, &row))
        return; /* answered: 404, 403 or 503 */
    if (row.transport && strcmp(row.transport, "LongPolling") != 0) {
        sr_conn_row_fini(&row);
        sr_store_rollback(db);
        sr_exchange_respond_text(ex, 400, "Cannot change transports mid-connection");
        return;
    }
    if (row.close_delivered) {
        /* The session is over and its last records were delivered (protocol.md §5.3). */
        sr_conn_row_fini(&row);
        sr_store_rollback(db);
        respond_empty(ex, 204, "text/plain");
        return;
    }
    if (!row.transport) {
        /* First poll: start the connection and answer at once (protocol.md §5.2). */
        if (sr_session_activate(db, hub, &row, &ex->req, ex->user, ex->claims, "LongPolling",
                                NULL) != 0 ||
            sr_store_commit(db) != 0) {
            sr_conn_row_fini(&row);
            goto rollback_unavailable;
        }
        sr_conn_row_fini(&row);
        respond_empty(ex, 200, "application/octet-stream");
        return;
    }
    long long gen;
    if (sr_store_poll_take(db, row.id, sr_worker_id(), &gen) != 0) {
        sr_conn_row_fini(&row);
        goto rollback_unavailable;
    }
    if (row.has_holder) {
        char verb[40];
        const char *targets[] = {row.id};
        snprintf(verb, sizeof verb, "poll %lld", gen);
        if (sr_store_publish(db, hub->path, SR_KIND_CONTROL, targets, 1, NULL, 0, verb,
                             strlen(verb)) != 0) {
            sr_conn_row_fini(&row);
            goto rollback_unavailable;
        }
    }
    PGresult *groups = sr_store_groups_of(db, row.id);
    if (!groups || sr_store_commit(db) != 0) {
        PQclear(groups);
        sr_conn_row_fini(&row);
        goto rollback_unavailable;
    }
    park_poll(ex, hub, row.id, row.user_id, gen, row.cursor, row.handshake_delivered, row.binary,
              groups, 0);
    row.user_id = NULL;
    PQclear(groups);
    sr_conn_row_fini(&row);
    return;

rollback_unavailable:
    sr_route_rollback_unavailable(ex, db);
}

void sr_longpoll_delete(sr_exchange *ex, const sr_hub *hub, const char *token)
{
    PGconn *db;
    sr_conn_row row;
    if (!sr_route_open(ex, hub, token, 0, &db, &row))
        return; /* answered: 404, 403 or 503 */
    if (row.transport && strcmp(row.transport, "LongPolling") != 0) {
        sr_conn_row_fini(&row);
        sr_store_rollback(db);
        sr_exchange_respond_text(ex, 400,
                                 "Cannot terminate this connection using the DELETE endpoint.");
        return;
    }
    sr_ending who = sr_ending_of(&row);
    int rc = sr_session_end(db, hub, &who, NULL, NULL, SR_END_DISPOSE);
    sr_conn_row_fini(&row);
    if (rc != 0 || sr_store_commit(db) != 0)
        goto rollback_unavailable;
    sr_exchange_respond_text(ex, 202, NULL);
    return;

rollback_unavailable:
    sr_route_rollback_unavailable(ex, db);
}

/* ------------------------------------------------------------------------------------------ */
/* Event loop                                                                                 */

/* Polls to answer in the next flush. A waiter is on at most one list (w->queued). */
static sr_waiter *due_head;
/* Polls whose client went away: only their holder mark needs clearing. */
static sr_waiter *gone_head;

static void enqueue(sr_waiter **head, sr_waiter *w)
{
    if (w->queued)
        return;
    w->queued = 1;
    w->ready_next = *head;
    *head = w;
}

static void unqueue(sr_waiter **head, sr_waiter *w)
{
    if (!w->queued)
        return;
    for (sr_waiter **pp = head; *pp; pp = &(*pp)->ready_next) {
        if (*pp == w) {
            *pp = w->ready_next;
            break;
        }
    }
    w->queued = 0;
    w->ready_next = NULL;
}

static void answer(sr_waiter *w, int status, const char *type, const sr_buf *body)
{
    sr_http_response res;
    sr_buf out = SR_BUF_INIT;
    sr_http_response_init(&res, status);
    sr_http_response_header(&res, "Content-Type", type);
    sr_http_response_no_cache(&res);
    if (body && body->len)
        sr_http_response_body(&res, body->ptr, body->len);
    sr_exchange_decorate(w->ex, &res);
    sr_http_response_serialize(&res, &out);
    sr_http_response_fini(&res);
    sr_exchange *ex = w->ex;
    w->ex = NULL;
    sr_metrics_add(SR_M_POLLS_ANSWERED, 1);
    sr_park_finish_exchange(ex, out.ptr, out.len);
    sr_buf_fini(&out);
    sr_park_bury(w);
}

static void lp_ready(sr_waiter *w)
{
    enqueue(&due_head, w);
}

static void lp_control(sr_waiter *w, const char *verb)
{
    if (!strcmp(verb, "close")) {
        /* The session ended (DELETE, Close message, failed handshake). What was collected before
         * the end is this poll's to deliver; nothing after it is. */
        w->closing = 1;
        w->full = 1;
        enqueue(&due_head, w);
        return;
    }
    long long gen;
    if (sscanf(verb, "poll %lld", &gen) == 1 && gen > w->poll_gen) {
        unqueue(&due_head, w);
        sr_park_remove(w);
        answer(w, 204, "text/plain", NULL);
    }
}

static void lp_hangup(sr_waiter *w)
{
    unqueue(&due_head, w);
    enqueue(&gone_head, w);
}

static void lp_tick(sr_waiter *w, double now)
{
    if (now >= w->deadline)
        enqueue(&due_head, w);
}

static void lp_shutdown(sr_waiter *w)
{
    /* An empty 200 makes the client poll again, and another worker takes the poll over. */
    unqueue(&due_head, w);
    sr_park_remove(w);
    answer(w, 200, "text/plain", NULL);
}

/* Answers a poll whose connection ended: with the last records if the poll is still the
 * newest (the row then records that nothing is left, so later polls get 204; it stays for the
 * client's DELETE, which the official client sends right after its Close message), else 204. */
static void answer_closing(PGconn *db, sr_waiter *w)
{
    int current = 1;
    if (db) {
        current = sr_store_poll_close(db, w->conn_id, w->poll_gen,
                                      w->frames.len ? w->last_collected : w->db_cursor);
        if (current < 0 && sr_db_broken(db))
            sr_feed_db_failed();
        /* On a database error the connection is over anyway: deliver rather than lose. */
        current = current != 0;
    }
    sr_park_remove(w);
    if (current && w->frames.len)
        answer(w, 200, "application/octet-stream", &w->frames);
    else
        answer(w, 204, "text/plain", NULL);
}

void sr_longpoll_flush(void)
{
    sr_waiter *due = NULL, *gone = gone_head;
    gone_head = NULL;
    for (sr_waiter *w = due_head, *next; w; w = next) {
        next = w->ready_next;
        if (w->closing) {
            w->queued = 0;
            answer_closing(sr_feed_db(), w);
        } else {
            w->ready_next = due;
            due = w;
        }
    }
    due_head = NULL;
    size_t n = 0;
    for (sr_waiter *w = due; w; w = w->ready_next)
        n++;
    for (sr_waiter *w = gone; w; w = w->ready_next)
        n++;
    if (n == 0)
        return;
    sr_poll_end *ends = sr_xcalloc(n, sizeof *ends);
    size_t k = 0;
    for (sr_waiter *w = due; w; w = w->ready_next, k++) {
        ends[k].id = w->conn_id;
        ends[k].gen = w->poll_gen;
        ends[k].cursor = sr_park_seen(w);
        ends[k].handshake_delivered = w->handshake_collected;
    }
    for (sr_waiter *w = gone; w; w = w->ready_next, k++) {
        ends[k].id = w->conn_id;
        ends[k].gen = w->poll_gen;
        ends[k].cursor = w->db_cursor;
    }
    PGconn *db = sr_feed_db();
    int stored = db && sr_store_polls_finish(db, ends, n) == 0;
    if (!stored && db && sr_db_broken(db))
        sr_feed_db_failed();
    double now = sr_now();
    k = 0;
    for (sr_waiter *w = due, *next; w; w = next, k++) {
        next = w->ready_next;
        w->queued = 0;
        w->ready_next = NULL;
        if (!stored) {
            if (now < w->deadline && w->frames.len) {
                enqueue(&due_head, w); /* keep it parked; try again on the next tick */
                continue;
            }
            /* Out of time and no way to store a cursor: answer empty; the records are still
             * after the stored cursor, so the next poll delivers them. */
            sr_park_remove(w);
            answer(w, 200, "text/plain", NULL);
            continue;
        }
        sr_park_remove(w);
        if (!ends[k].still_current)
            answer(w, 204, "text/plain", NULL);
        else if (w->frames.len)
            answer(w, 200, "application/octet-stream", &w->frames);
        else
            answer(w, 200, "text/plain", NULL);
    }
    for (sr_waiter *w = gone, *next; w; w = next) {
        next = w->ready_next;
        sr_park_bury(w);
    }
    free(ends);
}

static const sr_waiter_ops longpoll_ops = {
    .transport = "LongPolling",
    .ready = lp_ready,
    .control = lp_control,
    .hangup = lp_hangup,
    .tick = lp_tick,
    .batch_end = sr_longpoll_flush,
    .shutdown = lp_shutdown,
};
