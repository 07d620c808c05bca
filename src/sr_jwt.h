/*
 * sr_jwt.h — bearer tokens: compact JWS verification (and signing, for tools and tests) with
 * libsodium. The algorithm is fixed by the configured key, never chosen by the token.
 */
#ifndef SR_JWT_H
#define SR_JWT_H

#include <jansson.h>
#include <stddef.h>

#define SR_JWT_MAX 4096 /* longest token accepted, bytes (reliability-security.md §0.5) */
#define SR_JWT_MAX_DEPTH 16 /* deepest nesting of arrays/objects in a header or claims set */

typedef struct sr_jwt_config {
    /* Exactly one key: the key decides the algorithm (HS256 or EdDSA), never the token. */
    const unsigned char *hs256_key; /* HMAC-SHA256 secret, or NULL */
    size_t hs256_key_len;
    const unsigned char *ed25519_public_key; /* 32 bytes, or NULL */
    int leeway;                     /* seconds of clock skew allowed for exp/nbf */
    const char *issuer;             /* required iss, or NULL */
    const char *audience;           /* required aud, or NULL */
    const char *key_id;             /* the kid a token may name; NULL: a token naming a kid is
                                       refused (one key, so any kid is an unknown one) */
    int any_key_id;                 /* accept whatever kid a token names (the REST API: Azure's
                                       SDKs name their access key, which we never look up) */
    const char *user_claims;        /* comma-separated claims naming the user, tried in order
                                       (sr_jwt_user); NULL = "nameid,sub" */
} sr_jwt_config;

/**
 * Verifies @p token (compact form, base64url without padding) at time @p now (Unix seconds):
 * header alg must be the configured algorithm, typ (when present) must name a JWT access token
 * ("JWT", "at+jwt", or their application/ forms, any case), kid (when present) must be the
 * configured key id, the signature must verify, exp is required, an integer, and must not have
 * passed (beyond leeway), nbf must have been reached and iat must not lie in the future (beyond
 * leeway), iss/aud must match when configured, and neither part may nest deeper than
 * SR_JWT_MAX_DEPTH. On success returns 0 and the claims (new reference) in *claims. Otherwise -1 and
 * a short reason in *why (static text; for logs, never for clients).
 */
int sr_jwt_verify(const char *token, size_t len, const sr_jwt_config *cfg, long long now,
                  json_t **claims, const char **why) __attribute__((warn_unused_result));

/** Signs @p claims with HS256. Returns a malloc'ed compact token. */
char *sr_jwt_sign_hs256(const json_t *claims, const unsigned char *key, size_t key_len);

/** Signs @p claims with EdDSA (Ed25519, 64-byte libsodium secret key). Returns a malloc'ed
 *  compact token. */
char *sr_jwt_sign_ed25519(const json_t *claims, const unsigned char *secret_key);

/** The user a verified token names: the first of @p user_claims (comma-separated claim names;
 *  NULL = "nameid,sub": ASP.NET's NameIdentifier in its short JWT form, then sub) that is a
 *  non-empty string. Borrowed from @p claims; NULL when none is. */
const char *sr_jwt_user(const json_t *claims, const char *user_claims);

#endif
