/*
 * parallelhub.c — /Hubs/Parallel, the hub the parallel-invocation tests drive (served only with
 * SIGNALR_TEST_HUBS=1). It allows two invocations at a time per connection, so a method can
 * await a client result from its own caller (AskCaller), and reports when each Delay ran, as
 * wall-clock milliseconds, so a test can count how many overlapped without timing anything.
 */
#include "hubs.h"

#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long long now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Blocks the calling thread for @p ms milliseconds, signals or not. */
static void sleep_ms(json_int_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Delay(ms): sleeps, then returns [start, end] in milliseconds since the epoch. */
static int delay(sr_call *call, json_t *args)
{
    json_int_t ms;
    if (sr_args(call, args, "I", &ms) != SR_OK)
        return SR_ERR_ARGS;
    if (ms < 0 || ms > 10000)
        return sr_hub_error(call, "a delay is 0 to 10000 ms");
    long long start = now_ms();
    sleep_ms(ms);
    sr_return_new(call, json_pack("[II]", (json_int_t)start, (json_int_t)now_ms()));
    return SR_OK;
}

/* AskCaller(value): the caller's "Question" handler's answer to value. */
static int ask_caller(sr_call *call, json_t *args)
{
    json_t *value;
    if (sr_args(call, args, "o", &value) != SR_OK)
        return SR_ERR_ARGS;
    json_t *result = NULL;
    char *error = NULL;
    int rc = sr_invoke_client("/Hubs/Parallel", sr_connection_id(call), "Question",
                              json_pack("[O]", value), 10000, &result, &error);
    if (rc == SR_ERR_HUB) {
        rc = sr_hub_error(call, "the caller answered with an error: %s", error);
        free(error);
        return rc;
    }
    if (rc != SR_OK)
        return rc == SR_ERR_TIMEOUT ? sr_hub_error(call, "the caller did not answer") : rc;
    sr_return_new(call, result);
    return SR_OK;
}

/* SetItemAfter(key, value, ms): waits, then sets Context.Items[key]. */
static int set_item_after(sr_call *call, json_t *args)
{
    const char *key;
    json_t *value;
    json_int_t ms;
    if (sr_args(call, args, "soI", &key, &value, &ms) != SR_OK)
        return SR_ERR_ARGS;
    if (ms < 0 || ms > 10000)
        return sr_hub_error(call, "a delay is 0 to 10000 ms");
    sleep_ms(ms);
    return sr_item_set_new(call, key, json_incref(value));
}

static int get_items(sr_call *call, json_t *args)
{
    (void)args;
    json_t *items = json_object();
    for (const char *const *k = (const char *const[]){"a", "b", "c", NULL}; *k; k++) {
        json_t *v = sr_item(call, *k);
        if (v)
            json_object_set(items, *k, v);
    }
    sr_return_new(call, items);
    return SR_OK;
}

static const sr_method parallel_methods[] = {
    {.name = "Delay", .fn = delay, .arity = 1},
    {.name = "AskCaller", .fn = ask_caller, .arity = 1},
    {.name = "SetItemAfter", .fn = set_item_after, .arity = 3},
    {.name = "GetItems", .fn = get_items, .arity = 0},
    {.name = NULL},
};

const sr_hub parallel_hub = {
    .path = "/Hubs/Parallel",
    .methods = parallel_methods,
    .max_parallel_invocations = 2,
};
