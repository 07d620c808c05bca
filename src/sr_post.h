/*
 * sr_post.h — POST <hub>?id=<token>: the client's records (protocol.md §3), for both
 * transports.
 */
#ifndef SR_POST_H
#define SR_POST_H

#include "signalr-fcgi.h"
#include "sr_exchange.h"

/** Takes @p ex. */
void sr_post_handle(sr_exchange *ex, const sr_hub *hub, const char *token);

#endif
