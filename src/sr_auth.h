/*
 * sr_auth.h — who a request is: the bearer token of the Authorization header, or of the
 * access_token query value (the only place an EventSource can put it, protocol.md §8).
 */
#ifndef SR_AUTH_H
#define SR_AUTH_H

#include <jansson.h>

#include "sr_http.h"

/** Call once at start-up, after the configuration is loaded. */
void sr_auth_init(void);

/**
 * Authenticates @p req. Returns 1 and a malloc'ed user id in *user when it carries a valid
 * token naming a user, 0 when it carries no token, -1 when it carries one that does not verify
 * (the reason is logged at debug level, never the token).
 */
int sr_auth_request(const sr_http_request *req, char **user);

#endif
