/*
 * rooms.c — chat rooms with private messages (/Hubs/Rooms): the example of groups and users.
 *
 * A client joins and leaves rooms (groups), talks to a room, and sends private messages to a
 * user (every connection of that user receives them). Everyone in a room hears "X joined" /
 * "X left", including when a connection just goes away.
 *
 * Who is the user? With authentication on, the token's user. Without it, this example takes
 * the name the page asks for (?name=... on the hub URL): fine for a demo, but anyone can claim
 * any name, so a real application identifies users by authentication instead.
 *
 * Client methods: RoomMessage(room, user, text), PrivateMessage(from, text),
 * UserJoined(room, user), UserLeft(room, user).
 */
#include "hubs.h"

#include <stdio.h>
#include <string.h>

static const char *who(const sr_call *call)
{
    const char *user = sr_user_id(call);
    return user ? user : sr_connection_id(call);
}

/* The rooms a connection is in, kept in Context.Items so that the disconnect hook can tell
 * those rooms that the user left. */
static json_t *rooms_of(sr_call *call)
{
    json_t *rooms = sr_item(call, "rooms");
    if (!json_is_array(rooms)) {
        sr_item_set_new(call, "rooms", json_array());
        rooms = sr_item(call, "rooms");
    }
    return rooms;
}

static size_t room_index(json_t *rooms, const char *room)
{
    size_t i;
    json_t *v;
    json_array_foreach(rooms, i, v)
    {
        if (json_is_string(v) && !strcmp(json_string_value(v), room))
            return i;
    }
    return (size_t)-1;
}

static int join_room(sr_call *call, json_t *args)
{
    const char *room;
    if (sr_args(call, args, "s", &room) != SR_OK)
        return SR_ERR_ARGS;
    int rc = sr_group_add(call, sr_connection_id(call), room);
    if (rc == SR_ERR_INVALID)
        return sr_hub_error(call, "'%s' is not a valid room name.", room);
    if (rc != SR_OK)
        return rc;
    json_t *rooms = rooms_of(call);
    if (room_index(rooms, room) == (size_t)-1)
        json_array_append_new(rooms, json_string(room));
    sr_item_set_new(call, "rooms", json_incref(rooms)); /* marks the items as changed */
    return sr_send(call, sr_group(room), "UserJoined", json_pack("[ss]", room, who(call)));
}

static int leave_room(sr_call *call, json_t *args)
{
    const char *room;
    if (sr_args(call, args, "s", &room) != SR_OK)
        return SR_ERR_ARGS;
    int rc = sr_group_remove(call, sr_connection_id(call), room);
    if (rc == SR_ERR_INVALID)
        return sr_hub_error(call, "'%s' is not a valid room name.", room);
    if (rc != SR_OK)
        return rc;
    json_t *rooms = rooms_of(call);
    size_t i = room_index(rooms, room);
    if (i != (size_t)-1)
        json_array_remove(rooms, i);
    sr_item_set_new(call, "rooms", json_incref(rooms));
    /* Sent to the room after leaving it: the others hear it, the leaver does not. */
    rc = sr_send(call, sr_group(room), "UserLeft", json_pack("[ss]", room, who(call)));
    if (rc == SR_OK)
        rc = sr_send(call, sr_caller(call), "UserLeft", json_pack("[ss]", room, who(call)));
    return rc;
}

static int send_to_room(sr_call *call, json_t *args)
{
    const char *room, *text;
    if (sr_args(call, args, "ss", &room, &text) != SR_OK)
        return SR_ERR_ARGS;
    if (room_index(rooms_of(call), room) == (size_t)-1)
        return sr_hub_error(call, "Join '%s' before talking to it.", room);
    return sr_send(call, sr_group(room), "RoomMessage", json_pack("[sss]", room, who(call), text));
}

static int send_private(sr_call *call, json_t *args)
{
    const char *to, *text;
    if (sr_args(call, args, "ss", &to, &text) != SR_OK)
        return SR_ERR_ARGS;
    /* To every connection of the user, and a copy to the sender's own connections. */
    const char *users[] = {to, who(call)};
    size_t n = strcmp(to, who(call)) != 0 ? 2 : 1;
    if (!sr_user_id(call))
        return sr_hub_error(call, "Give yourself a name to send private messages.");
    return sr_send(call, sr_users(users, n), "PrivateMessage",
                   json_pack("[sss]", who(call), to, text));
}

static void on_disconnected(sr_call *call, const char *error)
{
    (void)error;
    json_t *rooms = sr_item(call, "rooms");
    size_t i;
    json_t *room;
    json_array_foreach(rooms, i, room)
    {
        if (json_is_string(room) &&
            sr_send(call, sr_group(json_string_value(room)), "UserLeft",
                    json_pack("[ss]", json_string_value(room), who(call))) != SR_OK)
            return; /* the database failed; the reaper's transaction will try again */
    }
}

static int identify(const sr_request *req, char *user_id, size_t cap)
{
    const char *user = sr_request_user(req); /* authenticated: that is who it is */
    if (user && strlen(user) < cap) {
        snprintf(user_id, cap, "%s", user);
        return 1;
    }
    const char *name = sr_request_query(req, "name");
    if (!name || !*name || strlen(name) >= cap || strlen(name) > 64)
        return 0;
    snprintf(user_id, cap, "%s", name);
    return 1;
}

static const sr_method rooms_methods[] = {
    {.name = "JoinRoom", .fn = join_room, .arity = 1},
    {.name = "LeaveRoom", .fn = leave_room, .arity = 1},
    {.name = "SendToRoom", .fn = send_to_room, .arity = 2},
    {.name = "SendPrivate", .fn = send_private, .arity = 2},
    {.name = NULL},
};

const sr_hub rooms_hub = {
    .path = "/Hubs/Rooms",
    .methods = rooms_methods,
    .on_disconnected = on_disconnected,
    .identify = identify,
};
