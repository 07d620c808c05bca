/*
 * testhub.c — the hub the integration tests drive (/Hubs/Test). Each method exercises one path
 * of the dispatcher: results of any JSON type, hub errors, unexpected failures, sends to
 * everyone, and the disconnect hook, plus WorkerPid() so that tests can see requests of one
 * connection landing on different worker processes.
 */
#include "hubs.h"

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

static void on_disconnected(sr_call *call, const char *error)
{
    (void)error;
    /* Failure here means the database failed; the reaper's transaction then retries. */
    if (sr_send(call, sr_others(call), "Disconnected", json_pack("[s]", sr_connection_id(call))))
        return;
}

static const sr_method test_methods[] = {
    {"Echo", echo, 1},
    {"Add", add, 2},
    {"Fail", fail, 1},
    {"Crash", crash, 0},
    {"WorkerPid", worker_pid, 0},
    {"Broadcast", broadcast, 1},
    {NULL, NULL, 0},
};

const sr_hub test_hub = {
    .path = "/Hubs/Test",
    .methods = test_methods,
    .on_disconnected = on_disconnected,
};
