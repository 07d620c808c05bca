/*
 * sr_sse.h — the ServerSentEvents transport (protocol.md §4): the stream GET on a request
 * thread, and the open stream on the event loop.
 */
#ifndef SR_SSE_H
#define SR_SSE_H

#include <stddef.h>

#include "signalr-fcgi.h"
#include "sr_buf.h"
#include "sr_exchange.h"

/** GET <hub>?id=<token> with Accept: text/event-stream. Takes @p ex. */
void sr_sse_get(sr_exchange *ex, const sr_hub *hub, const char *token);

/**
 * Appends one unnamed event carrying @p n bytes (protocol.md §4.3): one "data: " line per LF-
 * separated line of the payload, a CR dropped from the end of a line longer than one byte,
 * CRLF line ends, and a blank line to finish. An empty payload is a lone CRLF.
 */
void sr_sse_format_event(sr_buf *out, const char *p, size_t n);

/** Loop thread: client timeouts, heartbeats and retried releases (called every tick). */
void sr_sse_tick(double now);

/** Loop thread, at shutdown after the streams were ended: withdraws this worker. */
void sr_sse_shutdown(void);

#endif
