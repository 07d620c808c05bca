/*
 * sr_auth.c — request authentication (see sr_auth.h).
 *
 * DESIGN: the token is looked for where the official client puts it: "Authorization: Bearer"
 * on negotiate, polls, sends and DELETE, and ?access_token= on the stream GET. The header wins
 * when both are present. Verification is sr_jwt's; the key and claim rules come from the
 * configuration, fixed at start-up. Tokens are never logged, whatever the level.
 */
#include "config.h"

#include "sr_auth.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sr_conf.h"
#include "sr_jwt.h"
#include "sr_log.h"
#include "sr_mem.h"

static sr_jwt_config jwt;

void sr_auth_init(void)
{
    memset(&jwt, 0, sizeof jwt);
    if (sr_config->jwt_key && *sr_config->jwt_key) {
        jwt.hs256_key = (const unsigned char *)sr_config->jwt_key;
        jwt.hs256_key_len = strlen(sr_config->jwt_key);
        if (jwt.hs256_key_len < 32)
            sr_log_warn("the JWT key is shorter than 32 bytes: tokens are easier to forge");
    }
    jwt.leeway = sr_config->jwt_leeway;
    jwt.issuer = sr_config->jwt_issuer;
    jwt.audience = sr_config->jwt_audience;
}

int sr_auth_request(const sr_http_request *req, char **user)
{
    *user = NULL;
    char query_token[SR_JWT_MAX + 1];
    const char *token = NULL;
    const char *auth = sr_http_header(req, "Authorization");
    if (auth && !strncasecmp(auth, "Bearer ", 7)) {
        token = auth + 7;
        while (*token == ' ')
            token++;
    } else if (auth) {
        return -1; /* another scheme: not something this server can verify */
    } else {
        int found = sr_http_query_get(req->query ? req->query : "", "access_token", 0,
                                      query_token, sizeof query_token);
        if (found < 0)
            return -1;
        if (found > 0)
            token = query_token;
    }
    if (!token)
        return 0;
    json_t *claims;
    const char *why;
    if (sr_jwt_verify(token, strlen(token), &jwt, (long long)time(NULL), &claims, &why) != 0) {
        sr_log_debug("bearer token refused: %s", why);
        return -1;
    }
    const char *id = sr_jwt_user(claims);
    int rc = id ? 1 : -1;
    if (id)
        *user = sr_xstrdup(id);
    else
        sr_log_debug("bearer token refused: it names no user (nameid or sub)");
    json_decref(claims);
    return rc;
}
