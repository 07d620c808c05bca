/*
 * sr_endpoint.h — plain HTTP endpoints registered beside the hubs (sr_endpoint_register in
 * signalr-fcgi.h): the registry and the dispatch of a request to one.
 */
#ifndef SR_ENDPOINT_H
#define SR_ENDPOINT_H

#include "sr_exchange.h"

/** Answers @p ex with the endpoint whose prefix matches its path and returns 1 (the exchange
 *  is taken), or returns 0 when none matches. */
int sr_endpoint_handle(sr_exchange *ex);

#endif
