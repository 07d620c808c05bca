/*
 * signalr-fcgi.h — the public API for writing SignalR hubs in C.
 *
 * A hub is a table of named methods plus optional connect/disconnect hooks, registered before the
 * worker starts. It corresponds to an ASP.NET Core `Hub` class: each method receives the
 * invocation (`sr_call`, the C counterpart of `Hub.Context` + `Hub.Clients`) and the arguments the
 * client passed, and either returns a value, returns nothing, or fails.
 *
 *     #include <signalr-fcgi.h>
 *
 *     static int send_public_message(sr_call *call, json_t *args)
 *     {
 *         const char *message;
 *         if (sr_args(call, args, "s", &message) != 0)
 *             return SR_ERR_ARGS;
 *         return sr_send(call, sr_all(), "ReceivePublicMessage", json_pack("[s]", message));
 *     }
 *
 *     static const sr_method chat_methods[] = {
 *         { .name = "SendPublicMessage", .fn = send_public_message, .arity = 1 },
 *         { .name = NULL }
 *     };
 *     static const sr_hub chat = { .path = "/Hubs/ChatRoom", .methods = chat_methods };
 *
 *     int main(int argc, char **argv)
 *     {
 *         sr_hub_register(&chat);
 *         return sr_main(argc, argv);
 *     }
 *
 * Build with `pkg-config --cflags --libs signalr-fcgi`.
 *
 * Ownership follows jansson: a function that takes a `json_t *` and whose name ends in a sending
 * verb (`sr_send`, `sr_return_new`) *steals* the reference, even when it fails, so
 * `sr_send(call, t, "x", json_pack(...))` never leaks. Every other pointer argument is borrowed
 * for the duration of the call; every pointer returned is borrowed from the `sr_call` and valid
 * until the method returns.
 *
 * Threads: a method runs on one of the worker's request threads, one invocation at a time per
 * connection. Methods of different connections run concurrently, so hub code that keeps global
 * state must lock it. Remember that a SignalR application runs in many worker processes (and
 * machines) at once: process-global state is not shared between connections in general.
 */
#ifndef SIGNALR_FCGI_H
#define SIGNALR_FCGI_H

#include <stddef.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SR_API_WARN_UNUSED __attribute__((warn_unused_result))
#define SR_API_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SR_API_WARN_UNUSED
#define SR_API_PRINTF(f, a)
#endif

/* -------------------------------------------------------------------------------------------- */
/* Status codes returned by hub methods and API functions.                                      */

enum {
    SR_OK = 0,
    /** The arguments did not bind (wrong count or types). The client sees
     *  "Failed to invoke 'X' due to an error on the server." (plus the detail when detailed errors
     *  are on). Return it from a method after a failed sr_args(). */
    SR_ERR_ARGS = -1,
    /** A hub error whose text the client always sees (ASP.NET's HubException). Produced by
     *  sr_hub_error(). */
    SR_ERR_HUB = -2,
    /** An unexpected failure. The client sees "An unexpected error occurred invoking 'X' on the
     *  server." and the detail only with detailed errors on. Produced by sr_fail(). */
    SR_ERR_FAILED = -3,
    /** The database could not be reached or refused the operation. Everything the invocation
     *  sent is discarded (sends are transactional) and the client's POST gets 503. */
    SR_ERR_DB = -4,
    /** An API function was called with invalid arguments (NULL, empty or over-long name). */
    SR_ERR_INVALID = -5,
};

/* -------------------------------------------------------------------------------------------- */
/* Hubs                                                                                         */

/** One invocation of a hub method (or of a lifecycle hook) on one connection. Opaque. */
typedef struct sr_call sr_call;

/** The HTTP request that opened a connection (its first long poll or its stream request), as
 *  seen by sr_hub.identify. Opaque; see sr_request_header() and friends. */
typedef struct sr_request sr_request;

/**
 * A hub method. @p args is the JSON array the client sent (borrowed, valid until return).
 * Return SR_OK (after optionally setting a result with sr_return_new()), or one of the SR_ERR_*
 * codes, normally through sr_hub_error() / sr_fail() / SR_ERR_ARGS.
 */
typedef int (*sr_method_fn)(sr_call *call, json_t *args);

/** A stream of results sent to the client (a method returning ChannelReader<T> or
 *  IAsyncEnumerable<T>). Opaque; see sr_stream_item() and friends. */
typedef struct sr_stream sr_stream;

/**
 * A streaming method: called for the client's stream() (a StreamInvocation). It writes items
 * with sr_stream_item(); when it returns SR_OK the stream completes, unless it called
 * sr_stream_keep() to go on producing after returning. A non-zero return before any item is
 * the stream's error, reported as for an ordinary method.
 */
typedef int (*sr_stream_fn)(sr_call *call, json_t *args, sr_stream *stream);

/**
 * The receiving side of a client-to-server stream (a ChannelReader<T> parameter; the client
 * passes a Subject). The method's ordinary arguments come first to @p start; the streams'
 * items then arrive one call of @p item at a time, and @p end runs when a stream ends
 * (@p error: the client's error text, or NULL). The items may arrive in different requests on
 * different workers, so anything the method accumulates lives in @p state, a JSON object kept
 * with the invocation (borrowed; modify it in place). When every stream has ended, the
 * invocation completes with what the last @p end returned and set with sr_return_new().
 */
typedef struct sr_upload_fns {
    int (*start)(sr_call *call, json_t *args, json_t *state);
    int (*item)(sr_call *call, size_t stream, json_t *item, json_t *state);
    int (*end)(sr_call *call, size_t stream, const char *error, json_t *state);
} sr_upload_fns;

/**
 * An authorization policy ([Authorize(Roles = ..., Policy = ...)]): every condition that is set
 * must hold. Roles come from the token's "role" or "roles" claim (a string or an array).
 */
typedef struct sr_policy {
    int authenticated;       /**< a user is required */
    const char *role;        /**< the user must have this role, or NULL */
    const char *claim_type;  /**< a claim that must be present, or NULL ... */
    const char *claim_value; /**< ... with this value (NULL: any value) */
} sr_policy;

typedef struct sr_method {
    /** Method name; clients' names are matched without regard to ASCII case, as ASP.NET does. */
    const char *name;
    sr_method_fn fn;
    /** Number of (non-stream) arguments the method takes, or -1 to accept any number. A
     *  mismatch is answered with the protocol's argument-count error before the method runs. */
    int arity;
    /** Set instead of @c fn for a streaming method. */
    sr_stream_fn stream;
    /** Set instead of @c fn for a method with client-to-server stream parameters. */
    const sr_upload_fns *upload;
    /** With @c upload: how many stream parameters the method takes. */
    int streams;
    /** Optional: who may call the method. A caller that fails it gets the error completion
     *  "Failed to invoke 'X' because user is unauthorized". */
    const sr_policy *policy;
} sr_method;

/**
 * A hub filter (ASP.NET's IHubFilter): code that runs around every method call and lifecycle
 * hook of a hub, for logging, validation or authorization. Each member is optional; a filter
 * must call @p next to continue (or not, to stop the call: return an SR_ERR_* code then, e.g.
 * through sr_hub_error()). Filters run in the order of sr_hub.filters, the first outermost.
 */
typedef struct sr_filter {
    int (*invoke)(sr_call *call, json_t *args, sr_method_fn next);
    int (*connected)(sr_call *call, int (*next)(sr_call *call));
    void (*disconnected)(sr_call *call, const char *error,
                         void (*next)(sr_call *call, const char *error));
} sr_filter;

typedef struct sr_hub {
    /** URL path the hub is served at, e.g. "/Hubs/ChatRoom" (no trailing slash). Negotiate is
     *  served at path + "/negotiate". */
    const char *path;
    /** Methods, terminated by an entry whose name is NULL. */
    const sr_method *methods;
    /** Optional. Runs once the connection's handshake has completed (OnConnectedAsync). A
     *  non-zero return closes the connection with an error. */
    int (*on_connected)(sr_call *call);
    /** Optional. Runs exactly once when a connection that completed its handshake ends, whatever
     *  ended it (OnDisconnectedAsync). @p error is NULL for a clean close, else a short reason. */
    void (*on_disconnected)(sr_call *call, const char *error);
    /** Optional. Decides the user a new connection belongs to (ASP.NET's IUserIdProvider), from
     *  the request that opens it. Write the user id (NUL-terminated, at most @p cap bytes with
     *  the NUL) and return 1, or return 0 for an anonymous connection. Without this hook the
     *  user is the one the request authenticated as, if any. */
    int (*identify)(const sr_request *req, char *user_id, size_t cap);
    /** Optional. NULL-terminated list of filters (see sr_filter). */
    const sr_filter *const *filters;
    /** Set to make this a raw connection endpoint instead of a hub (ASP.NET's
     *  MapConnectionHandler): no handshake and no hub protocol; every chunk of bytes a client
     *  sends is handed to this function as it came, and sr_send_raw() sends bytes back.
     *  @c methods may then be an empty table. */
    int (*on_data)(sr_call *call, const char *data, size_t len);
    /** Optional. Extra headers for every negotiate answer: name, value, name, value, ...,
     *  NULL (e.g. Set-Cookie lines). */
    const char *const *negotiate_headers;
    /** Set to require an authenticated user ([Authorize] on the hub class): every request of
     *  the hub without a valid bearer token is answered 401. */
    int require_authentication;
    /** Optional policy for every request of the hub: without a valid token 401, with a token
     *  whose user fails the policy 403. */
    const sr_policy *policy;
    /** How many invocations of one connection may run at the same time
     *  (MaximumParallelInvocationsPerClient); 0 takes the configured default
     *  (max-parallel-invocations, itself 1). With 1, a connection's invocations run one at a
     *  time in arrival order, each inside the request that carried it. Above 1, a request is
     *  answered once its records are accepted and its invocations run afterwards, each in its
     *  own transaction, up to this many at once across every worker: a method may then await
     *  a client result from its own caller (sr_invoke_client), and a slow method no longer
     *  holds up the next. Invocations with client-to-server streams always run in order. */
    int max_parallel_invocations;
} sr_hub;

/**
 * Registers a hub. Call before sr_main(); @p hub must stay valid for the life of the process
 * (a static const object is the normal case). Returns SR_OK, or SR_ERR_INVALID for a missing
 * path, a path already registered, or a method table without a NULL terminator within 4096
 * entries.
 */
int sr_hub_register(const sr_hub *hub) SR_API_WARN_UNUSED;

/**
 * Runs the worker: parses the command line (`--help` lists the options), then serves requests
 * until told to stop. Returns the process exit status.
 */
int sr_main(int argc, char **argv);

/* -------------------------------------------------------------------------------------------- */
/* Arguments and results                                                                        */

/**
 * Unpacks the argument array with a jansson json_unpack() format for the *elements*, e.g. "si"
 * for (string, integer). The array must have exactly as many elements as the format asks for.
 * Strings and objects are borrowed from @p args. Returns SR_OK, or SR_ERR_ARGS (and records a
 * detail for detailed errors) when the arguments do not bind.
 */
int sr_args(sr_call *call, json_t *args, const char *fmt, ...) SR_API_WARN_UNUSED;

/** Sets the method's return value. Steals @p value (NULL means JSON null). A second call
 *  replaces the first value. */
void sr_return_new(sr_call *call, json_t *value);

/** Sets a hub error (HubException): the client sees the formatted text after
 *  "An unexpected error occurred invoking 'X' on the server. HubException: ". Returns SR_ERR_HUB
 *  so a method can `return sr_hub_error(call, "...")`. */
int sr_hub_error(sr_call *call, const char *fmt, ...) SR_API_PRINTF(2, 3);

/** Records an unexpected failure. The text reaches the client only when detailed errors are on
 *  (appended after "An unexpected error occurred invoking 'X' on the server. ", so a text of the
 *  form "InvalidOperationException: what happened" reads as ASP.NET's would); it is always
 *  logged. Returns SR_ERR_FAILED. */
int sr_fail(sr_call *call, const char *fmt, ...) SR_API_PRINTF(2, 3);

/* -------------------------------------------------------------------------------------------- */
/* Context (Hub.Context)                                                                        */

/** The public connection id (never the secret connection token). */
const char *sr_connection_id(const sr_call *call);

/** The authenticated user's id, or NULL for an anonymous connection. */
const char *sr_user_id(const sr_call *call);

/** The first value of a claim of the connection's token (a string, or a number as text), or
 *  NULL when the token has no such claim or there was no token. */
const char *sr_claim(const sr_call *call, const char *type);

/** "ServerSentEvents" or "LongPolling". */
const char *sr_transport(const sr_call *call);

/** The name of the method being invoked, or NULL inside a lifecycle hook. */
const char *sr_method_name(const sr_call *call);

/** A header of the request that opened the connection (name matched without regard to case),
 *  or NULL when it had none. Authorization is not kept. */
const char *sr_header(const sr_call *call, const char *name);
/** A query value of the request that opened the connection, or NULL when absent. The value of
 *  access_token (the bearer token of a stream request) is not kept. */
const char *sr_query(const sr_call *call, const char *key);
/** A cookie of the request that opened the connection, or NULL when absent. */
const char *sr_cookie(const sr_call *call, const char *name);

/** The same lookups on the request given to sr_hub.identify or an endpoint. */
const char *sr_request_header(const sr_request *req, const char *name);
const char *sr_request_query(const sr_request *req, const char *key);
const char *sr_request_cookie(const sr_request *req, const char *name);
/** The user the request's bearer token authenticates, or NULL. */
const char *sr_request_user(const sr_request *req);

/**
 * Mints a bearer token for @p user_id valid for @p seconds, signed with the configured HS256
 * key (SIGNALR_JWT_KEY), as a login endpoint of the application would (claims: nameid, sub,
 * iat, exp, and iss/aud when configured). Returns a malloc'ed token (caller frees), or NULL when
 * no HS256 key is configured or the arguments are invalid.
 */
char *sr_token_mint(const char *user_id, int seconds);

/* -------------------------------------------------------------------------------------------- */
/* Plain HTTP endpoints beside the hubs                                                         */

/** A response being built by an endpoint. Opaque. */
typedef struct sr_response sr_response;

/**
 * Handles one request whose path starts with the registered prefix. Runs on a request thread
 * (it may block, e.g. in sr_invoke_client). Set the status (default 200), headers and body.
 */
typedef void (*sr_endpoint_fn)(const sr_request *req, sr_response *res);

/** Registers an endpoint for every path starting with @p prefix (matched without regard to
 *  case, longest registered prefix first, before hubs). Call before sr_main(). */
int sr_endpoint_register(const char *prefix, sr_endpoint_fn fn) SR_API_WARN_UNUSED;

/** Request line and body of an endpoint's request. */
const char *sr_request_method(const sr_request *req);
const char *sr_request_path(const sr_request *req);
const char *sr_request_query_string(const sr_request *req);
const char *sr_request_body(const sr_request *req, size_t *len);

void sr_response_status(sr_response *res, int status);
/** Adds a header; names and values must not contain CR or LF. */
void sr_response_header(sr_response *res, const char *name, const char *value);
void sr_response_body(sr_response *res, const void *data, size_t len);

/** Context.Items: a value kept for the connection between invocations (borrowed; NULL when
 *  absent). */
json_t *sr_item(const sr_call *call, const char *key);
/** Sets (steals @p value) or, with NULL, removes an item. Saved when the invocation commits.
 *  Returns SR_OK or SR_ERR_INVALID. */
int sr_item_set_new(sr_call *call, const char *key, json_t *value);

/** Context.Abort(): ends the calling connection once the current invocation has completed; the
 *  client receives a Close message and does not reconnect. */
void sr_abort(sr_call *call);

/* -------------------------------------------------------------------------------------------- */
/* Sending (Hub.Clients)                                                                        */

typedef enum sr_target_kind {
    SR_TARGET_ALL,
    SR_TARGET_CONNECTIONS,
    SR_TARGET_GROUPS,
    SR_TARGET_USERS,
} sr_target_kind;

/**
 * A set of recipients, built by the sr_all()... constructors below and passed by value to
 * sr_send(). It only borrows the strings it names: build it in the expression that sends.
 * Recipients are always connections of the calling hub.
 */
typedef struct sr_target {
    sr_target_kind kind;
    const char *one;                 /**< a single name, or NULL to use names[] */
    const char *const *names;        /**< borrowed */
    size_t n_names;
    const char *except_one;          /**< a single excluded connection id, or NULL */
    const char *const *except;       /**< excluded connection ids, borrowed */
    size_t n_except;
} sr_target;

/** Every connection of the hub (Clients.All). */
sr_target sr_all(void);
/** Every connection of the hub but those listed (Clients.AllExcept). */
sr_target sr_all_except(const char *const *connection_ids, size_t n);
/** The calling connection (Clients.Caller). */
sr_target sr_caller(const sr_call *call);
/** Every connection of the hub but the caller (Clients.Others). */
sr_target sr_others(const sr_call *call);
/** One connection by id (Clients.Client). */
sr_target sr_client(const char *connection_id);
/** Several connections by id (Clients.Clients). */
sr_target sr_clients(const char *const *connection_ids, size_t n);
/** Every connection in a group (Clients.Group). */
sr_target sr_group(const char *name);
/** Every connection in any of the groups (Clients.Groups). */
sr_target sr_groups(const char *const *names, size_t n);
/** A group but the listed connections (Clients.GroupExcept). */
sr_target sr_group_except(const char *name, const char *const *connection_ids, size_t n);
/** A group but the caller (Clients.OthersInGroup). */
sr_target sr_others_in_group(const sr_call *call, const char *name);
/** Every connection of a user (Clients.User). */
sr_target sr_user(const char *user_id);
/** Every connection of any of the users (Clients.Users). */
sr_target sr_users(const char *const *user_ids, size_t n);

/**
 * Sends an invocation of client method @p method with the argument array @p args (stolen; NULL
 * means no arguments) to @p target. The send is part of the invocation's transaction: it is
 * delivered only if the invocation completes, in the order the method sent it, before the
 * invocation's completion, and it reaches connections on every worker process and machine.
 * Returns SR_OK, SR_ERR_INVALID (bad method name, args not an array) or SR_ERR_DB.
 */
int sr_send(sr_call *call, sr_target target, const char *method, json_t *args);

/** Sends bytes as they are to connections of a raw endpoint (see sr_hub.on_data). */
int sr_send_raw(sr_call *call, sr_target target, const char *data, size_t len);

/**
 * Sends from outside any hub method (IHubContext<THub>.Clients): from a thread of your own, a
 * stream's cancel callback, a timer. Takes the hub by path; its own database transaction.
 * Steals @p args. Returns SR_OK, SR_ERR_INVALID or SR_ERR_DB. Not for use inside a hub method
 * (use sr_send there, which joins the method's transaction).
 */
int sr_hub_send(const char *hub_path, sr_target target, const char *method, json_t *args);

/* -------------------------------------------------------------------------------------------- */
/* Streams to the client                                                                        */

/** Writes one item to the stream (steals @p item). Inside the method the item is part of the
 *  invocation's transaction; after sr_stream_keep() it is sent at once. Returns SR_OK,
 *  SR_ERR_INVALID when the stream was cancelled or completed, or SR_ERR_DB. */
int sr_stream_item(sr_stream *stream, json_t *item);

/** Keeps the stream open after the method returns. @p on_cancel (may be NULL) runs once, on a
 *  worker thread, if the client cancels the stream or the connection ends first; the stream
 *  then accepts no more items. Either way the stream remains yours until
 *  sr_stream_complete(). */
void sr_stream_keep(sr_stream *stream, void (*on_cancel)(sr_stream *stream, void *arg), void *arg);

/** Ends a kept stream, with @p error (an error completion; NULL for a clean end), and frees
 *  it. Safe after cancellation (then nothing is sent). */
int sr_stream_complete(sr_stream *stream, const char *error);

/** The hub path and connection id of a stream (for sr_hub_send from a cancel callback). */
const char *sr_stream_hub(const sr_stream *stream);
const char *sr_stream_connection_id(const sr_stream *stream);

/* -------------------------------------------------------------------------------------------- */
/* Client results                                                                               */

enum {
    /** The client did not answer within the timeout. */
    SR_ERR_TIMEOUT = -6,
};

/**
 * Invokes client method @p method on one connection and waits up to @p timeout_ms for its
 * result (Clients.Client(id).InvokeAsync<T>). Steals @p args. On success returns SR_OK and a
 * new reference in *result (JSON null when the client returned nothing). When the client
 * answers with an error (its handler threw, or it has no handler: "Client didn't provide a
 * result.") returns SR_ERR_HUB and a malloc'ed text in *error. Other returns: SR_ERR_TIMEOUT,
 * SR_ERR_INVALID (no such connection), SR_ERR_DB. Blocks the calling thread. Inside a hub
 * method it may target the caller's own connection only when the hub allows parallel
 * invocations (sr_hub.max_parallel_invocations > 1, as ASP.NET requires): with one at a time
 * the caller's answer could only be read after the method ends, so the call would time out.
 */
int sr_invoke_client(const char *hub_path, const char *connection_id, const char *method,
                     json_t *args, int timeout_ms, json_t **result, char **error);

/* -------------------------------------------------------------------------------------------- */
/* Groups (Hub.Groups)                                                                          */

/** Longest group name, in bytes. Names are non-empty UTF-8 without control characters. */
#define SR_GROUP_NAME_MAX 256

/**
 * Adds connection @p connection_id (any connection of the hub, not only the caller) to group
 * @p name. Part of the invocation's transaction like a send: records sent to the group after
 * this call (in commit order) reach the connection. Membership ends with the connection.
 * Adding a connection that does not exist (or is not of this hub) does nothing.
 * Returns SR_OK, SR_ERR_INVALID (bad name or id: the method's error text says why) or SR_ERR_DB.
 */
int sr_group_add(sr_call *call, const char *connection_id, const char *name);
/** Removes a connection from a group (nothing happens when it was not a member). */
int sr_group_remove(sr_call *call, const char *connection_id, const char *name);

/* -------------------------------------------------------------------------------------------- */
/* Typed values for the MessagePack hub protocol                                                */

/*
 * JSON has no binary or date type; MessagePack has bin and the timestamp extension (what
 * ASP.NET writes for byte[] and DateTime). A hub marks such a value with a one-key wrapper
 * object, and each client receives it in its own protocol: a MessagePack client gets bin /
 * timestamp, a JSON client gets the bare string (base64 as System.Text.Json writes byte[];
 * ISO-8601 as it writes a UTC DateTime). Values a MessagePack client sends arrive in the same
 * wrappers, so returning or relaying them keeps their type. The two keys are reserved: an
 * object with exactly one of them and a string value is always read as such a wrapper.
 *
 *     {"$sr:binary": "AQID"}                      bytes 01 02 03
 *     {"$sr:timestamp": "2000-01-01T00:00:00Z"}   a UTC instant (fraction up to nanoseconds)
 */
#define SR_JSON_BINARY_KEY "$sr:binary"
#define SR_JSON_TIMESTAMP_KEY "$sr:timestamp"

/** A new binary wrapper holding @p len bytes at @p data (copied; NULL allowed when len is 0). */
json_t *sr_json_binary(const void *data, size_t len);

/** A new timestamp wrapper for Unix time @p seconds + @p nanoseconds (0..999999999) in UTC;
 *  NULL when the instant is outside years 0001..9999 or nanoseconds is out of range. */
json_t *sr_json_timestamp(long long seconds, long nanoseconds);

#ifdef __cplusplus
}
#endif
#endif
