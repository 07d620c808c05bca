/*
 * chat.c — the chat room hub of the seed, in C (/Hubs/ChatRoom).
 *
 * The ASP.NET original:
 *     public Task SendPublicMessage(string message) =>
 *         Clients.All.SendAsync("ReceivePublicMessage",
 *                               $"{Context.ConnectionId}:{DateTime.Now}:{message}");
 * DateTime.Now formats with the invariant culture in a default container as
 * "MM/dd/yyyy HH:mm:ss"; the time is the server's local time.
 */
#include "hubs.h"

#include <stdio.h>
#include <time.h>

static int send_public_message(sr_call *call, json_t *args)
{
    const char *message;
    if (sr_args(call, args, "s", &message) != SR_OK)
        return SR_ERR_ARGS;
    char now[32];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(now, sizeof now, "%m/%d/%Y %H:%M:%S", &tm);
    return sr_send(call, sr_all(), "ReceivePublicMessage",
                   json_pack("[s++++]", sr_connection_id(call), ":", now, ":", message));
}

static const sr_method chat_methods[] = {
    {.name = "SendPublicMessage", .fn = send_public_message, .arity = 1},
    {.name = NULL},
};

const sr_hub chat_room_hub = {
    .path = "/Hubs/ChatRoom",
    .methods = chat_methods,
};
