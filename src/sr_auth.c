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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sr_conf.h"
#include "sr_jwt.h"
#include "sr_log.h"
#include "sr_mem.h"
#include "sr_token.h"

static sr_jwt_config jwt;
static unsigned char ed25519_key[32];

int sr_auth_init(void)
{
    memset(&jwt, 0, sizeof jwt);
    int hs = sr_config->jwt_key && *sr_config->jwt_key;
    int ed = sr_config->jwt_ed25519_key && *sr_config->jwt_ed25519_key;
    if (hs && ed) {
        sr_log_error("configure either a JWT key (HS256) or an Ed25519 public key, not both: "
                     "the key decides the algorithm");
        return -1;
    }
    if (hs) {
        jwt.hs256_key = (const unsigned char *)sr_config->jwt_key;
        jwt.hs256_key_len = strlen(sr_config->jwt_key);
        if (jwt.hs256_key_len < 32) {
            /* RFC 7518 §3.2: an HS256 key must be at least as long as the hash (256 bits). */
            sr_log_error("the JWT key must be at least 32 bytes (it has %zu): a shorter HS256 "
                         "key makes tokens forgeable by guessing it",
                         jwt.hs256_key_len);
            return -1;
        }
    }
    if (ed) {
        const char *k = sr_config->jwt_ed25519_key;
        if (sr_base64url_decode(k, strlen(k), ed25519_key, sizeof ed25519_key) !=
            (long)sizeof ed25519_key) {
            sr_log_error("the Ed25519 public key must be 32 bytes in base64url");
            return -1;
        }
        jwt.ed25519_public_key = ed25519_key;
    }
    jwt.leeway = sr_config->jwt_leeway;
    jwt.issuer = sr_config->jwt_issuer;
    jwt.audience = sr_config->jwt_audience;
    jwt.key_id = sr_config->jwt_key_id;
    jwt.user_claims = sr_config->jwt_user_claim;
    return 0;
}

static int has_value(json_t *v, const char *want)
{
    if (json_is_string(v))
        return !strcmp(json_string_value(v), want);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        if (json_is_string(e) && !strcmp(json_string_value(e), want))
            return 1;
    }
    return 0;
}

char *sr_token_mint(const char *user_id, int seconds)
{
    if (!jwt.hs256_key || !user_id || !*user_id || strlen(user_id) > 256 || seconds <= 0)
        return NULL;
    long long now = (long long)time(NULL);
    json_t *claims = json_pack("{s:s,s:s,s:I,s:I}", "nameid", user_id, "sub", user_id, "iat",
                               (json_int_t)now, "exp", (json_int_t)(now + seconds));
    if (!claims)
        return NULL; /* not UTF-8 */
    if (jwt.issuer)
        json_object_set_new(claims, "iss", json_string(jwt.issuer));
    if (jwt.audience)
        json_object_set_new(claims, "aud", json_string(jwt.audience));
    char *token = sr_jwt_sign_hs256(claims, jwt.hs256_key, jwt.hs256_key_len);
    json_decref(claims);
    return token;
}

int sr_auth_allows(const sr_policy *p, const char *user, const json_t *claims)
{
    if (!p)
        return 1;
    if ((p->authenticated || p->role || p->claim_type) && !user)
        return 0;
    if (p->role && !has_value(json_object_get(claims, "role"), p->role) &&
        !has_value(json_object_get(claims, "roles"), p->role))
        return 0;
    if (p->claim_type) {
        json_t *v = json_object_get(claims, p->claim_type);
        if (!v || (p->claim_value && !has_value(v, p->claim_value)))
            return 0;
    }
    return 1;
}

const char *sr_auth_claim(const json_t *claims, const char *type, char *buf, size_t cap)
{
    json_t *v = json_object_get(claims, type);
    if (json_is_array(v))
        v = json_array_get(v, 0);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    return NULL;
}

int sr_auth_request(const sr_http_request *req, char **user, json_t **claims_out)
{
    *user = NULL;
    *claims_out = NULL;
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
        /* The query is only for what an EventSource cannot do otherwise: open its stream (and,
         * alike, a poll). Negotiate, sends and DELETE come from fetch/XHR, which carry the
         * header; a token in their URL would only end up in more access logs, so it is refused
         * rather than ignored (reliability-security.md A-05). */
        if (found > 0 && strcmp(req->method, "GET") != 0) {
            sr_log_debug("bearer token refused: access_token in the query of a %s", req->method);
            return -1;
        }
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
    const char *id = sr_jwt_user(claims, jwt.user_claims);
    if (!id) {
        sr_log_debug("bearer token refused: it names no user (none of the user claims)");
        json_decref(claims);
        return -1;
    }
    *user = sr_xstrdup(id);
    *claims_out = claims;
    return 1;
}
