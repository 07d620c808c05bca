/*
 * sr_negotiate.h — POST <hub>/negotiate (protocol.md §1).
 */
#ifndef SR_NEGOTIATE_H
#define SR_NEGOTIATE_H

#include "signalr-fcgi.h"
#include "sr_exchange.h"

/** Answers a negotiate request for @p hub (takes @p ex). */
void sr_negotiate_handle(sr_exchange *ex, const sr_hub *hub);

/**
 * Chooses the negotiate version from the query string (absent = 0, as ASP.NET reads it).
 * Returns the version (0 or 1), or -1 and writes the error text the client must see into
 * @p error: for a malformed value, or one below @p min_version (ASP.NET's
 * MinimumProtocolVersion; we default to 1, see the "min-negotiate-version" option).
 */
int sr_negotiate_version(const char *query, int min_version, char *error, size_t error_cap);

/**
 * The JSON body of a successful negotiate (protocol.md §1.3): negotiateVersion, connectionId,
 * connectionToken (version 1 only) and availableTransports (ServerSentEvents, then LongPolling). Returns a malloc'ed string.
 */
char *sr_negotiate_body(int version, const char *connection_id, const char *connection_token);

#endif
