/*
 * sr_auth.h — who a request is: the bearer token of the Authorization header, or of the
 * access_token query value (the only place an EventSource can put it, protocol.md §8).
 */
#ifndef SR_AUTH_H
#define SR_AUTH_H

#include <jansson.h>

#include "signalr-fcgi.h"
#include "sr_http.h"

/** Call once at start-up, after the configuration is loaded. Returns 0, or -1 (logged) for a
 *  key configuration that cannot work. */
int sr_auth_init(void);

/**
 * Authenticates @p req. Returns 1, a malloc'ed user id in *user and the token's claims (new
 * reference) in *claims when it carries a valid token naming a user; 0 when it carries no
 * token; -1 when it carries one that does not verify (the reason is logged at debug level,
 * never the token). *user and *claims are NULL unless 1 is returned.
 */
int sr_auth_request(const sr_http_request *req, char **user, json_t **claims);

/** True when a user with @p claims (NULL: anonymous) satisfies @p policy (NULL: anyone). */
int sr_auth_allows(const sr_policy *policy, const char *user, const json_t *claims);

/** The first value of claim @p type as text (strings, numbers), borrowed or from @p buf. */
const char *sr_auth_claim(const json_t *claims, const char *type, char *buf, size_t cap);

#endif
