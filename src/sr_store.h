/*
 * sr_store.h — every SQL statement the worker runs against the signalr schema.
 *
 * The rest of the worker speaks in connections, positions and records; only this module knows
 * table and column names. Functions take the PGconn of the calling thread, never open or close
 * transactions implicitly (callers use sr_store_begin/commit/rollback around a unit of work),
 * and return 0 / a positive count on success and SR_ERR_DB on any database failure (already
 * logged by sr_db).
 */
#ifndef SR_STORE_H
#define SR_STORE_H

#include <stddef.h>
#include <libpq-fe.h>
#include <jansson.h>

#include "sr_buf.h"
#include "sr_token.h"

/** A position in the message log: (commit sequence, message id). (seq, SR_POS_ID_END) is the
 *  position after every record of commit seq. */
typedef struct sr_pos {
    long long seq;
    long long id;
} sr_pos;

#define SR_POS_ID_END 9223372036854775807LL

static inline int sr_pos_cmp(sr_pos a, sr_pos b)
{
    if (a.seq != b.seq)
        return a.seq < b.seq ? -1 : 1;
    return a.id < b.id ? -1 : a.id > b.id;
}

typedef enum sr_kind {
    SR_KIND_ALL,
    SR_KIND_CONNECTION,
    SR_KIND_GROUP,
    SR_KIND_USER,
    SR_KIND_HANDSHAKE,
    SR_KIND_CONTROL,
} sr_kind;

/** The kind's name in the messages table ("all", "connection", ...). */
const char *sr_kind_name(sr_kind kind);

/** A connection row, as loaded by sr_store_conn_lock(). Strings are owned by the row. */
typedef struct sr_conn_row {
    char id[SR_ID_LEN + 1];
    char *hub;
    char *transport;      /* NULL before the first transport request */
    char *user_id;        /* NULL for anonymous */
    int negotiate_version;
    int handshake_done;
    int handshake_delivered;
    int has_holder;       /* a poll or stream is held by some worker */
    int ended;            /* the hub session is over; only the last records remain to fetch */
    int close_delivered;  /* ...and a poll has fetched them: nothing is left */
    long long poll_gen;
    sr_pos cursor;
    sr_buf inbound;       /* incomplete record carried between POSTs */
    json_t *request;      /* the context document (sr_context.h), owned */
    json_t *items;        /* Context.Items, an object, owned */
    int items_changed;    /* set by the session when a method changed items */
    char *subject;        /* the user the negotiate authenticated as, NULL if anonymous */
    json_t *claims;       /* the token's claims at activation, an object, owned */
    int binary;           /* the handshake chose the MessagePack hub protocol */
} sr_conn_row;

void sr_conn_row_fini(sr_conn_row *row);

int sr_store_begin(PGconn *db);
int sr_store_commit(PGconn *db);
/** Never fails from the caller's point of view (a broken connection is simply reset). */
void sr_store_rollback(PGconn *db);

/** Inserts a negotiated connection whose cursor is the current end of the log; @p subject is
 *  the authenticated user (NULL when anonymous). */
int sr_store_conn_create(PGconn *db, const char *id, const unsigned char *token_hash,
                         const char *hub, int negotiate_version, const char *subject);

/** Open connections negotiated by @p subject. */
int sr_store_subject_connections(PGconn *db, const char *subject);

/** Takes, without waiting, the transaction-scoped lock that makes one send at a time of the
 *  connection with this token hash (an advisory lock: the row lock is also taken by polls and
 *  streams, which must keep queueing). Returns 1 when taken, 0 when another transaction holds
 *  it, or SR_ERR_DB. */
int sr_store_try_send_lock(PGconn *db, const unsigned char *token_hash);

/** Records, in the caller's transaction, that a server-to-client stream of a connection is
 *  open on @p worker (it outlived its method: sr_stream_keep). */
int sr_store_stream_opened(PGconn *db, const char *conn_id, const char *invocation_id,
                           const char *worker);
/** Forgets an open stream (it ended). */
int sr_store_stream_closed(PGconn *db, const char *conn_id, const char *invocation_id);
/** 1 when the connection has an open stream with this invocation id, on any worker; 0 when
 *  not; SR_ERR_DB. */
int sr_store_stream_is_open(PGconn *db, const char *conn_id, const char *invocation_id);

/** Takes one of @p slots invocation slots of the connection with this token hash for the rest
 *  of the caller's transaction (MaximumParallelInvocationsPerClient across every worker):
 *  a free one at once, else waits up to 30 s for a taken one. Returns 0 or SR_ERR_DB (which
 *  includes the wait timing out). */
int sr_store_invocation_slot(PGconn *db, const unsigned char *token_hash, int slots);

/**
 * The steady-state poll in one statement outside any transaction: for the long-polling
 * connection with this token hash, of hub @p hub and negotiated by @p subject (NULL:
 * anonymous), that is active, not past its last delivery and whose previous poll is no longer
 * held, takes the next poll generation with @p worker as holder. On success returns 1 and
 * *rows: one row per group of the connection (one with a NULL group when it has none), columns
 * id, poll_gen, cursor_seq, cursor_id, user_id, handshake_delivered, group, binary (the
 * connection speaks MessagePack). Returns 0 when
 * any of those conditions does not hold (nothing changed: the caller takes the full path), or
 * SR_ERR_DB.
 */
int sr_store_poll_take_fast(PGconn *db, const unsigned char *token_hash, const char *hub,
                            const char *subject, const char *worker, PGresult **rows);

/** Loads the connection with this token hash without locking its row (an invocation running
 *  beside others of its connection). Returns 1 when found, 0 when not, or SR_ERR_DB. */
int sr_store_conn_read(PGconn *db, const unsigned char *token_hash, sr_conn_row *row);

/** Applies one invocation's Context.Items changes: sets the keys of @p changed (an object),
 *  removes those named in @p removed (an array of strings), leaves the others. */
int sr_store_conn_merge_items(PGconn *db, const char *id, const json_t *changed,
                              const json_t *removed);

/** Loads and row-locks (FOR UPDATE) the connection with this token hash, within the caller's
 *  transaction. Returns 1 when found (row filled), 0 when there is no such connection. */
int sr_store_conn_lock(PGconn *db, const unsigned char *token_hash, sr_conn_row *row);

/** Records the first transport request: transport, activation time, for a stream the worker
 *  that holds it (@p holder NULL for long polling), the request's context document and the
 *  user (NULL for anonymous). */
int sr_store_conn_activate(PGconn *db, const char *id, const char *transport, const char *holder,
                           const json_t *request, const char *user_id, const json_t *claims);

/** Makes a newly identified connection a member of the groups its user was put in (with
 *  signalr.add_user_to_group) that have not expired. */
int sr_store_apply_user_groups(PGconn *db, const char *conn_id, const char *hub,
                               const char *user_id);

/** Stores Context.Items. */
int sr_store_conn_set_items(PGconn *db, const char *id, const json_t *items);

/** Adds a connection of @p hub to a group unless it is in @p max groups already. Returns 1
 *  when the connection exists and is (now) a member, 0 when it does not exist, -2 when it is in
 *  too many groups. */
int sr_store_group_add(PGconn *db, const char *hub, const char *conn_id, const char *name,
                       int max);
/** Removes a connection from a group. Returns 1 when it was a member. */
int sr_store_group_remove(PGconn *db, const char *conn_id, const char *name);
/** The groups of a connection. Column 0: name. */
PGresult *sr_store_groups_of(PGconn *db, const char *conn_id);

/** Notes that records arrived from the client (the client-timeout clock), and whether one of
 *  them was a Ping (which arms the client timeout). */
int sr_store_conn_received(PGconn *db, const char *id, int pinged);

/** Streams held by @p worker whose client armed the timeout and then sent nothing for
 *  @p timeout seconds. Column 0: id. */
PGresult *sr_store_silent_streams(PGconn *db, const char *worker, int timeout);

/** Deletes a connection this worker holds (its stream ended). Result columns as for
 *  sr_store_reap_idle(); no row when it was already gone. */
PGresult *sr_store_conn_release(PGconn *db, const char *id, const char *holder);

/** Records the paths of the hubs this worker serves (for SQL callers naming hubs by name). */
int sr_store_hubs_seen(PGconn *db, const char *const *paths, size_t n);

/** Announces or refreshes this worker (its liveness vouches for the streams it holds). */
int sr_store_worker_beat(PGconn *db, const char *worker);
/** Removes this worker's row (clean shutdown). */
int sr_store_worker_remove(PGconn *db, const char *worker);

/** Makes @p worker the holder of a new poll; stores the new generation in *gen. */
int sr_store_poll_take(PGconn *db, const char *id, const char *worker, long long *gen);

/** Marks the handshake as done with @p protocol. */
int sr_store_conn_handshake(PGconn *db, const char *id, const char *protocol);

/** Stores the bytes of an incomplete record carried to the next POST. */
int sr_store_conn_set_inbound(PGconn *db, const char *id, const char *p, size_t n);

/** Deletes a connection. Returns 1 when it existed. */
int sr_store_conn_delete(PGconn *db, const char *id);

/** Marks a connection's hub session as over (the row stays for its last poll). */
int sr_store_conn_mark_ended(PGconn *db, const char *id);

/** Records that the poll @p gen carried an ended session's last records (up to @p cursor), if
 *  it is still the newest poll. Returns 1 when it was, 0 when a newer poll exists or the row is
 *  gone. */
int sr_store_poll_close(PGconn *db, const char *id, long long gen, sr_pos cursor);

/**
 * Appends a record to the log. @p targets / @p excluded may be NULL/0. The record becomes
 * visible, in commit order, when the caller's transaction commits.
 */
int sr_store_publish(PGconn *db, const char *hub, sr_kind kind, const char *const *targets,
                     size_t n_targets, const char *const *excluded, size_t n_excluded,
                     const char *body, size_t body_len);

/** The position just past the newest committed record. */
int sr_store_log_end(PGconn *db, sr_pos *end);

/**
 * Fetches up to @p limit records after @p after, in log order. Columns of the result:
 * 0 seq, 1 id, 2 hub, 3 kind, 4 targets (JSON array text or NULL), 5 excluded (same), 6 body,
 * 7 seconds since the record's commit.
 * Returns NULL on failure. Caller PQclears.
 */
PGresult *sr_store_fetch(PGconn *db, sr_pos after, int limit);

/** One long poll that ended on this worker, for sr_store_polls_finish(). */
typedef struct sr_poll_end {
    const char *id;
    long long gen;
    sr_pos cursor;           /* new cursor (unchanged when nothing was delivered) */
    int handshake_delivered; /* the answer carries the handshake record */
    int still_current;       /* out: the poll was still the newest (its answer may be sent) */
} sr_poll_end;

/**
 * Ends @p n polls in one statement: for each poll that is still the connection's newest,
 * stores the cursor, clears the holder and stamps last_active; sets still_current accordingly.
 */
int sr_store_polls_finish(PGconn *db, sr_poll_end *polls, size_t n);

/**
 * Deletes up to @p limit connections that are gone: no poll for @p disconnect_timeout seconds,
 * a held poll older than poll + disconnect timeout + a margin (its worker died), or a stream
 * whose worker stopped sending heartbeats for @p worker_timeout seconds. Columns of
 * the result: 0 id, 1 hub, 2 user_id, 3 transport, 4 handshake_done, 5 ended ('t'/'f'),
 * 6 request, 7 items (JSON text).
 * Must run inside a transaction so hooks run by the caller commit together with the delete.
 */
PGresult *sr_store_reap_idle(PGconn *db, int disconnect_timeout, int poll_timeout,
                             int worker_timeout, const char *const *hubs, size_t n_hubs,
                             int limit);

/** Marks up to @p limit activated connections whose handshake did not arrive in time as
 *  ended. Columns: 0 id, 1 hub. */
PGresult *sr_store_reap_handshake(PGconn *db, int handshake_timeout, int limit);

/** Deletes log records older than @p retention seconds. */
int sr_store_prune(PGconn *db, int retention);

/** A pending client-to-server stream invocation, as loaded by sr_store_upload_find(). */
typedef struct sr_upload_row {
    char *invocation_key;
    char *invocation_id; /* NULL for a send() */
    char *method;
    json_t *streams;     /* array of stream ids, owned */
    json_t *open;        /* array of stream ids still open, owned */
    json_t *state;       /* object, owned */
} sr_upload_row;

void sr_upload_row_fini(sr_upload_row *u);

/** Records an invocation waiting for its streams. */
int sr_store_upload_create(PGconn *db, const char *conn_id, const char *invocation_id,
                           const char *method, const json_t *stream_ids, const json_t *state);
/** Finds the invocation that stream @p stream_id of the connection belongs to (row-locked).
 *  Returns 1 when found, 0 when not. */
int sr_store_upload_find(PGconn *db, const char *conn_id, const char *stream_id,
                         sr_upload_row *u);
/** Stores an invocation's open streams and state. */
int sr_store_upload_save(PGconn *db, const char *conn_id, const sr_upload_row *u);
/** Removes a finished invocation. */
int sr_store_upload_delete(PGconn *db, const char *conn_id, const char *invocation_key);

/** Encodes strings as a PostgreSQL text-array literal ({"a","b"}) into @p out. */
void sr_store_array_literal(sr_buf *out, const char *const *items, size_t n);

#endif
