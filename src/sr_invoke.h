/*
 * sr_invoke.h — the invocations a POST left to run after its answer, for hubs that allow more
 * than one invocation at a time per connection (MaximumParallelInvocationsPerClient).
 */
#ifndef SR_INVOKE_H
#define SR_INVOKE_H

#include "signalr-fcgi.h"
#include "sr_session.h"

/** How many invocations of one connection of @p hub may run at once: the hub's own setting,
 *  else the configured default. */
int sr_invoke_parallelism(const sr_hub *hub);

/**
 * Runs, in order on the calling thread, the invocations in @p later of the connection whose
 * token is @p token, each in a transaction of its own that holds one of @p slots invocation
 * slots of the connection. An invocation whose connection has ended by then is dropped; one
 * that cannot run (the database failed, or no slot freed up within the wait) is logged.
 */
void sr_invoke_deferred(const sr_hub *hub, const char *token, const sr_deferred *later, int slots);

#endif
