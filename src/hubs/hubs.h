/*
 * hubs.h — the example hubs built into the stock signalr-fcgi binary.
 */
#ifndef SR_EXAMPLE_HUBS_H
#define SR_EXAMPLE_HUBS_H

#include <signalr-fcgi.h>

/** /Hubs/ChatRoom: the ChatRoomHub of the seed. */
extern const sr_hub chat_room_hub;
/** /Hubs/Rooms: chat rooms (groups) and private messages (users). */
extern const sr_hub rooms_hub;
/** /Hubs/Test: methods the integration tests call (served only with SIGNALR_TEST_HUBS=1). */
extern const sr_hub test_hub;
/** /Hubs/Policy: method-level policies; /Hubs/Members: a hub-level role policy (tests only). */
extern const sr_hub policy_hub;
extern const sr_hub members_hub;
/** /Hubs/Parallel: two invocations at a time per connection (tests only). */
extern const sr_hub parallel_hub;

/** Registers the demo's token endpoint (GET /signalr/demo-token?name=...). */
int demo_register(void);

#endif
