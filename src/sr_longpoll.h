/*
 * sr_longpoll.h — the LongPolling transport (protocol.md §5): the poll GET and DELETE on a
 * request thread, and the parked poll on the event loop.
 */
#ifndef SR_LONGPOLL_H
#define SR_LONGPOLL_H

#include "signalr-fcgi.h"
#include "sr_exchange.h"

/** GET <hub>?id=<token> without text/event-stream in Accept. Takes @p ex. */
void sr_longpoll_get(sr_exchange *ex, const sr_hub *hub, const char *token);
/** DELETE <hub>?id=<token>. Takes @p ex. */
void sr_longpoll_delete(sr_exchange *ex, const sr_hub *hub, const char *token);

/** Loop thread: answers the polls that became due (data, timeout, superseded, gone). */
void sr_longpoll_flush(void);

#endif
