/*
 * sr_park.h — requests parked on the event loop, waiting for records of their connection.
 *
 * A parked request (a waiter) belongs to one connection. The feed offers every new record of
 * the log to the waiters it concerns; a waiter collects the matching hub records in commit order
 * and its transport (long polling now, Server-Sent Events later) decides when and how to write
 * them. Transports plug in through sr_waiter_ops, as nchan's subscribers do.
 *
 * Loop thread only, except sr_park_submit(), which any thread may call.
 */
#ifndef SR_PARK_H
#define SR_PARK_H

#include <stdint.h>

#include "sr_buf.h"
#include "sr_exchange.h"
#include "sr_feed.h"
#include "sr_token.h"

typedef struct sr_waiter sr_waiter;

typedef struct sr_waiter_ops {
    const char *transport;
    /** Collected bytes at which a waiter stops collecting (one long-poll answer); 0 = no cap
     *  (a stream writes as it goes). */
    size_t max_frames;
    /** Optional: the waiter was just parked (a stream writes its head here). */
    void (*parked)(sr_waiter *w);
    /** The waiter collected records in the current batch (w->frames is not empty). */
    void (*ready)(sr_waiter *w);
    /** A control record for the waiter's connection ("close", "poll <gen>"). */
    void (*control)(sr_waiter *w, const char *verb);
    /** The web server closed the request (client gone). The waiter is already unparked. */
    void (*hangup)(sr_waiter *w);
    /** Once per tick, with the loop's clock. */
    void (*tick)(sr_waiter *w, double now);
    /** After each batch in which ready() was called for a waiter of this transport. */
    void (*batch_end)(void);
    /** The worker is stopping. */
    void (*shutdown)(sr_waiter *w);
} sr_waiter_ops;

struct sr_waiter {
    const sr_waiter_ops *ops;
    sr_exchange *ex;
    char conn_id[SR_ID_LEN + 1];
    const char *hub;      /* registered hub path (static storage) */
    char *user_id;        /* owned, NULL for anonymous */
    char **groups;        /* owned: the connection's groups, kept current by control records */
    size_t n_groups;
    long long poll_gen;
    sr_pos cursor;        /* records at or before this position are not for this request */
    sr_pos db_cursor;     /* the connection's stored cursor when the request was parked */
    int handshaken;       /* the handshake answer is at or before the cursor, or collected */
    int handshake_collected;
    int binary;           /* the connection speaks MessagePack: records become frames */
    int full;             /* frames reached the response cap; stop collecting */
    sr_pos last_collected;
    sr_pos last_offered;  /* a record naming the connection twice is still offered once */
    sr_buf frames;        /* collected hub records not yet written */
    double parked_at;
    double deadline;
    double last_ping;     /* streams: when the last keep-alive went out */
    int watching_out;     /* EPOLLOUT is armed: the socket was full */
    int buried;
    sr_waiter *grave_next;
    int parked;           /* in the table */
    int queued;           /* on the transport's ready list */
    int closing;          /* the connection ended: answer with what was collected, then stop */
    sr_waiter *hash_next;
    sr_waiter *prev, *next;
    sr_waiter *ready_next; /* transport's list */
};

/** Allocates a waiter for @p ex (taken). */
sr_waiter *sr_waiter_new(const sr_waiter_ops *ops, sr_exchange *ex);

/**
 * Ends a waiter: unparks it and frees it (and its exchange, if it still has one) once the loop
 * has finished what it is doing. Transport hooks run while the feed or a replay is walking the
 * waiters, so a waiter is never freed under their feet; it merely stops receiving records.
 */
void sr_park_bury(sr_waiter *w);

/** Gives the waiter its connection's groups, from an sr_store_groups_of() result (borrowed). */
void sr_park_set_groups(sr_waiter *w, PGresult *groups);
/** Adds one group to the waiter's memberships (a name seen twice is kept once). */
void sr_park_add_group(sr_waiter *w, const char *name);

/** Hands a waiter to the loop thread, which parks it and catches it up. Thread-safe. */
void sr_park_submit(sr_waiter *w);

/** Removes a waiter from the table (and stops watching its socket). */
void sr_park_remove(sr_waiter *w);

/** Finds the parked waiter of a connection, or NULL. */
sr_waiter *sr_park_find(const char *conn_id);

/** The position up to which @p w has seen the log (for storing as the connection's cursor). */
sr_pos sr_park_seen(const sr_waiter *w);

/** Called by the feed around each batch of new records. */
void sr_park_batch_begin(void);
void sr_park_offer(const sr_rec *rec);
void sr_park_batch_end(void);

/** Calls every waiter's tick. */
void sr_park_tick(double now);
/** Calls every waiter's shutdown (the worker is stopping). */
void sr_park_shutdown(void);
/** Number of parked waiters. */
size_t sr_park_count(void);

/**
 * Writes what the waiter's exchange has queued without blocking; when the socket is full, keeps
 * writing as it drains. Returns 0, or -1 when the client is gone or more than @p max_pending
 * bytes are waiting (a reader that cannot keep up): the caller ends the waiter.
 */
int sr_park_write(sr_waiter *w, size_t max_pending);

/**
 * Writes @p res on @p ex without blocking and frees it when done (watching for EPOLLOUT if the
 * socket is full). The exchange's fd must already be non-blocking. Loop thread only.
 */
void sr_park_finish_exchange(sr_exchange *ex, const void *response, size_t len);

/** Number of answers still being written by sr_park_finish_exchange(). */
size_t sr_park_finishing(void);

/** Largest response body a waiter collects before it stops (LongPolling: one response). */
#define SR_PARK_MAX_FRAMES (1024 * 1024)

#endif
