/*
 * testhub.c — the hub the integration tests drive (/Hubs/Test). Each method exercises one path
 * of the dispatcher: results of any JSON type, hub errors, unexpected failures, sends to
 * everyone, and the disconnect hook, plus WorkerPid() so that tests can see requests of one
 * connection landing on different worker processes.
 */
#include "hubs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int echo(sr_call *call, json_t *args)
{
    json_t *value;
    if (sr_args(call, args, "o", &value) != SR_OK)
        return SR_ERR_ARGS;
    sr_return_new(call, json_incref(value));
    return SR_OK;
}

static int add(sr_call *call, json_t *args)
{
    json_int_t a, b;
    if (sr_args(call, args, "II", &a, &b) != SR_OK)
        return SR_ERR_ARGS;
    sr_return_new(call, json_integer(a + b));
    return SR_OK;
}

static int fail(sr_call *call, json_t *args)
{
    const char *message;
    if (sr_args(call, args, "s", &message) != SR_OK)
        return SR_ERR_ARGS;
    return sr_hub_error(call, "%s", message);
}

static int crash(sr_call *call, json_t *args)
{
    (void)args;
    return sr_fail(call, "the test hub failed on purpose");
}

static int worker_pid(sr_call *call, json_t *args)
{
    (void)args;
    sr_return_new(call, json_integer((json_int_t)getpid()));
    return SR_OK;
}

static int broadcast(sr_call *call, json_t *args)
{
    const char *text;
    if (sr_args(call, args, "s", &text) != SR_OK)
        return SR_ERR_ARGS;
    return sr_send(call, sr_all(), "Broadcast", json_pack("[ss]", text, sr_connection_id(call)));
}

static int join_group(sr_call *call, json_t *args)
{
    const char *group;
    if (sr_args(call, args, "s", &group) != SR_OK)
        return SR_ERR_ARGS;
    return sr_group_add(call, sr_connection_id(call), group) == SR_ERR_INVALID
               ? sr_hub_error(call, "invalid group name")
               : SR_OK;
}

static int leave_group(sr_call *call, json_t *args)
{
    const char *group;
    if (sr_args(call, args, "s", &group) != SR_OK)
        return SR_ERR_ARGS;
    return sr_group_remove(call, sr_connection_id(call), group) == SR_ERR_INVALID
               ? sr_hub_error(call, "invalid group name")
               : SR_OK;
}

/* Adds or removes any connection by id (not only the caller). */
static int add_to_group(sr_call *call, json_t *args)
{
    const char *id, *group;
    if (sr_args(call, args, "ss", &id, &group) != SR_OK)
        return SR_ERR_ARGS;
    int rc = sr_group_add(call, id, group);
    return rc == SR_ERR_INVALID ? sr_hub_error(call, "invalid group name or connection id") : rc;
}

static int remove_from_group(sr_call *call, json_t *args)
{
    const char *id, *group;
    if (sr_args(call, args, "ss", &id, &group) != SR_OK)
        return SR_ERR_ARGS;
    int rc = sr_group_remove(call, id, group);
    return rc == SR_ERR_INVALID ? sr_hub_error(call, "invalid group name or connection id") : rc;
}

static const char **strings_of(json_t *array, size_t *n)
{
    *n = json_array_size(array);
    const char **out = calloc(*n + 1, sizeof *out);
    for (size_t i = 0; out && i < *n; i++)
        out[i] = json_string_value(json_array_get(array, i));
    return out;
}

/* SendTo(target, names, except, text): sends Target(target, text) to the named target kind,
 * so that one method exercises every IHubCallerClients member. */
static int send_to(sr_call *call, json_t *args)
{
    const char *kind, *text;
    json_t *names_json, *except_json;
    if (sr_args(call, args, "soos", &kind, &names_json, &except_json, &text) != SR_OK ||
        !json_is_array(names_json) || !json_is_array(except_json))
        return SR_ERR_ARGS;
    size_t n, x;
    const char **names = strings_of(names_json, &n), **except = strings_of(except_json, &x);
    const char *first = n ? names[0] : NULL;
    sr_target t;
    int known = 1;
    if (!strcmp(kind, "All"))
        t = sr_all();
    else if (!strcmp(kind, "AllExcept"))
        t = sr_all_except(except, x);
    else if (!strcmp(kind, "Caller"))
        t = sr_caller(call);
    else if (!strcmp(kind, "Others"))
        t = sr_others(call);
    else if (!strcmp(kind, "Client"))
        t = sr_client(first);
    else if (!strcmp(kind, "Clients"))
        t = sr_clients(names, n);
    else if (!strcmp(kind, "Group"))
        t = sr_group(first);
    else if (!strcmp(kind, "Groups"))
        t = sr_groups(names, n);
    else if (!strcmp(kind, "GroupExcept"))
        t = sr_group_except(first, except, x);
    else if (!strcmp(kind, "OthersInGroup"))
        t = sr_others_in_group(call, first);
    else if (!strcmp(kind, "User"))
        t = sr_user(first);
    else if (!strcmp(kind, "Users"))
        t = sr_users(names, n);
    else
        known = 0;
    int rc = known ? sr_send(call, t, "Target", json_pack("[ss]", kind, text))
                   : sr_hub_error(call, "unknown target kind '%s'", kind);
    free(names);
    free(except);
    return rc;
}

static json_t *string_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static int get_context(sr_call *call, json_t *args)
{
    (void)args;
    sr_return_new(call, json_pack("{s:s,s:o,s:s,s:o,s:o,s:o,s:o,s:o}", "connectionId",
                                  sr_connection_id(call), "userId",
                                  string_or_null(sr_user_id(call)), "transport",
                                  sr_transport(call), "header", string_or_null(sr_header(call, "X-Test")),
                                  "query", string_or_null(sr_query(call, "q")), "cookie",
                                  string_or_null(sr_cookie(call, "c")), "missing",
                                  string_or_null(sr_header(call, "X-Absent")), "accessToken",
                                  string_or_null(sr_query(call, "access_token"))));
    return SR_OK;
}

/* Count(): a counter in Context.Items, so that a test sees the items survive invocations that
 * may run on different workers. */
static int count(sr_call *call, json_t *args)
{
    (void)args;
    json_int_t n = json_integer_value(sr_item(call, "count")) + 1;
    sr_item_set_new(call, "count", json_integer(n));
    sr_return_new(call, json_integer(n));
    return SR_OK;
}

static int abort_connection(sr_call *call, json_t *args)
{
    (void)args;
    sr_abort(call);
    return SR_OK;
}

static int filtered_out(sr_call *call, json_t *args)
{
    (void)args;
    sr_return_new(call, json_string("the filter did not stop this"));
    return SR_OK;
}

/* A filter that stops one method, as an authorization filter would. */
static int guard(sr_call *call, json_t *args, sr_method_fn next)
{
    if (!strcmp(sr_method_name(call), "FilteredOut"))
        return sr_hub_error(call, "blocked by a filter");
    return next(call, args);
}

static const sr_filter guard_filter = {.invoke = guard};
static const sr_filter *const test_filters[] = {&guard_filter, NULL};

static int on_connected(sr_call *call)
{
    /* ?failconnect=1 makes the connect hook fail, to test what the client sees then. */
    const char *fail = sr_query(call, "failconnect");
    if (fail && !strcmp(fail, "1"))
        return sr_fail(call, "the connect hook failed on purpose");
    return SR_OK;
}

/* Tests name their user with ?user=... (a stand-in for authentication, test hub only). */
static int identify(const sr_request *req, char *user_id, size_t cap)
{
    const char *user = sr_request_query(req, "user");
    if (!user || !*user || strlen(user) >= cap)
        return 0;
    snprintf(user_id, cap, "%s", user);
    return 1;
}

static void on_disconnected(sr_call *call, const char *error)
{
    (void)error;
    /* Failure here means the database failed; the reaper's transaction then retries. */
    if (sr_send(call, sr_others(call), "Disconnected", json_pack("[s]", sr_connection_id(call))))
        return;
}

/* Held(): a stream that stays open, yielding nothing, until the client cancels it (or the
 * connection ends); then it completes. */
static void held_canceled(sr_stream *stream, void *arg)
{
    (void)arg;
    sr_stream_complete(stream, NULL);
}

static int held(sr_call *call, json_t *args, sr_stream *stream)
{
    (void)call;
    (void)args;
    sr_stream_keep(stream, held_canceled, NULL);
    return SR_OK;
}

/* Relay(value): everyone gets Relay(value, caller id), the value untouched — so a value a
 * MessagePack client sent (bin, timestamp) reaches each receiver in its own protocol. */
static int relay(sr_call *call, json_t *args)
{
    return sr_send(call, sr_all(), "Relay",
                   json_pack("[Os]", json_array_get(args, 0), sr_connection_id(call)));
}

static const sr_method test_methods[] = {
    {.name = "Echo", .fn = echo, .arity = 1},
    {.name = "Add", .fn = add, .arity = 2},
    {.name = "Fail", .fn = fail, .arity = 1},
    {.name = "Crash", .fn = crash, .arity = 0},
    {.name = "WorkerPid", .fn = worker_pid, .arity = 0},
    {.name = "Broadcast", .fn = broadcast, .arity = 1},
    {.name = "Relay", .fn = relay, .arity = 1},
    {.name = "JoinGroup", .fn = join_group, .arity = 1},
    {.name = "LeaveGroup", .fn = leave_group, .arity = 1},
    {.name = "AddToGroup", .fn = add_to_group, .arity = 2},
    {.name = "RemoveFromGroup", .fn = remove_from_group, .arity = 2},
    {.name = "SendTo", .fn = send_to, .arity = 4},
    {.name = "GetContext", .fn = get_context, .arity = 0},
    {.name = "Count", .fn = count, .arity = 0},
    {.name = "Abort", .fn = abort_connection, .arity = 0},
    {.name = "FilteredOut", .fn = filtered_out, .arity = 0},
    {.name = "Held", .stream = held, .arity = 0},
    {.name = NULL},
};

const sr_hub test_hub = {
    .path = "/Hubs/Test",
    .methods = test_methods,
    .on_connected = on_connected,
    .on_disconnected = on_disconnected,
    .identify = identify,
    .filters = test_filters,
};
