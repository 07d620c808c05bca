/*
 * sr_hub.h — the worker's side of hubs: the registry, the invocation of methods and lifecycle
 * hooks, and the sr_call context that the public API (signalr-fcgi.h) operates on.
 */
#ifndef SR_HUB_H
#define SR_HUB_H

#include <libpq-fe.h>
#include <stddef.h>

#include "signalr-fcgi.h"
#include "sr_buf.h"
#include "sr_proto.h"

/** The context of one method call or hook. Lives on the caller's stack. */
struct sr_call {
    const sr_hub *hub;
    PGconn *db;                /* the transaction every send joins */
    const char *connection_id;
    const char *user_id;
    const char *transport;
    const char *method;        /* NULL in hooks */
    json_t *result;            /* owned */
    sr_buf error;              /* hub error text, or failure detail */
    int send_failed;           /* a send hit a database error */
    const json_t *request;     /* context document (sr_context.h), borrowed; may be NULL */
    const json_t *claims;      /* the token's claims, borrowed; may be NULL */
    json_t *items;             /* Context.Items, borrowed from the connection row; may be NULL */
    int items_changed;
    int aborted;               /* sr_abort() was called */
    size_t filter_depth;       /* how many filters the current call has passed */
    int (*method_fn)(sr_call *call, json_t *args); /* the method a filter chain ends in */
    sr_stream *stream;         /* a streaming method's stream */
    sr_stream_fn stream_method;
    const sr_upload_fns *upload; /* a method with client-to-server streams */
    json_t *upload_state;
};

/** Runs @p fn(call, args) through the hub's filters. Returns what the chain returns. */
int sr_hub_call_method(sr_call *call, sr_method_fn fn, json_t *args);

/** Appends the client-facing error text for a method @p name that returned @p status (one of
 *  SR_ERR_ARGS, SR_ERR_HUB, SR_ERR_FAILED...) per protocol.md §7.5. */
void sr_hub_error_text(sr_call *call, int status, const char *name, int detailed_errors,
                       sr_buf *out);

/** Checks an invocation against its method before it runs (existence, streaming or not, stream
 *  count, argument count); on failure appends the error text and returns -1. */
int sr_hub_check(const sr_call *call, const sr_method *m, const sr_msg *msg,
                 int detailed_errors, sr_buf *text);

/** The method registered under @p name (case-insensitively), or NULL. */
const sr_method *sr_hub_method(const sr_hub *hub, const char *name);

/** Initialises a call context for a connection; strings are borrowed. */
void sr_call_init(sr_call *call, const sr_hub *hub, PGconn *db, const char *connection_id,
                  const char *user_id, const char *transport);
void sr_call_fini(sr_call *call);

/** The hub registered for @p path (exact match), or NULL. */
const sr_hub *sr_hub_find(const char *path, size_t len);

/** Number of registered hubs, and the i-th (for listing). */
size_t sr_hub_count(void);
const sr_hub *sr_hub_at(size_t i);

/**
 * Runs an Invocation message on @p call's connection. When the invocation has an id, appends
 * the Completion record (result or the error text of protocol.md §7.5) to @p completion.
 * Returns 0, or SR_ERR_DB when the database failed (the caller rolls back and answers 503).
 */
int sr_hub_invoke(sr_call *call, const sr_msg *msg, int detailed_errors, sr_buf *completion);

/** Runs the hub's on_connected hook (0 when it has none or it succeeded). */
int sr_hub_connected(sr_call *call);
/** Runs the hub's on_disconnected hook once. */
void sr_hub_disconnected(sr_call *call, const char *error);

#endif
