/*
 * sr_jwt.c — JWT verification and signing (see sr_jwt.h).
 *
 * DESIGN: RFC 8725's advice, in the order the checks run: a size cap before any work; exactly
 * three dot-separated parts of strict base64url (sr_token's decoder rejects padding, '+', '/',
 * whitespace and non-canonical tails); a header that is a JSON object whose alg is the one the
 * key is for (HS256 here: "none", other algorithms and a missing alg are refused, so a token
 * cannot pick its own verification), whose typ, if any, says "access token" (an ID token or a
 * DPoP proof signed with the same key is another kind of token), and whose kid, if any, is the
 * configured one (never used to look anything up); a constant-time signature check; then the
 * claims: exp required, an integer NumericDate, in the future (minus leeway); nbf reached and
 * iat not in the future (plus leeway); iss and aud equal to the configured values when set (aud
 * may be a string or an array containing it). Times are compared as doubles so that no claim
 * value, however extreme, reaches an integer conversion that could overflow. Both parts are
 * refused when nested deeper than SR_JWT_MAX_DEPTH: a token is a flat set of claims, and the
 * depth of what hub code later walks should not be the attacker's choice.
 */
#include "config.h"

#include "sr_jwt.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sr_buf.h"
#include "sr_mem.h"
#include "sr_token.h"

static int deeper_than(const json_t *v, int limit)
{
    if (!json_is_object(v) && !json_is_array(v))
        return 0;
    if (limit == 0)
        return 1;
    size_t i;
    const char *key;
    json_t *e;
    if (json_is_array(v)) {
        json_array_foreach((json_t *)v, i, e)
        {
            if (deeper_than(e, limit - 1))
                return 1;
        }
        return 0;
    }
    json_object_foreach((json_t *)v, key, e)
    {
        if (deeper_than(e, limit - 1))
            return 1;
    }
    return 0;
}

static json_t *decode_json_part(const char *p, size_t n)
{
    unsigned char buf[SR_JWT_MAX];
    long len = sr_base64url_decode(p, n, buf, sizeof buf);
    if (len < 0)
        return NULL;
    json_t *v = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(v) || deeper_than(v, SR_JWT_MAX_DEPTH)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* RFC 9068 names access tokens "at+jwt"; "JWT" is what most issuers write; the media-type forms
 * are allowed by RFC 7515 §4.1.9. Anything else (e.g. "dpop+jwt", "id_token+jwt") is a token
 * of another kind. */
static int typ_accepted(const json_t *typ)
{
    if (!typ)
        return 1;
    if (!json_is_string(typ))
        return 0;
    const char *t = json_string_value(typ);
    if (!strncasecmp(t, "application/", 12))
        t += 12;
    return !strcasecmp(t, "JWT") || !strcasecmp(t, "at+jwt");
}

static int kid_accepted(const json_t *kid, const sr_jwt_config *cfg)
{
    if (!kid || cfg->any_key_id)
        return 1;
    return json_is_string(kid) && cfg->key_id && !strcmp(json_string_value(kid), cfg->key_id) &&
           strlen(cfg->key_id) == json_string_length(kid);
}

/* NULL when the claims' times admit the token at @p now, else the reason. */
static const char *times_refusal(const json_t *c, const sr_jwt_config *cfg, long long now)
{
    json_t *exp = json_object_get(c, "exp"), *nbf = json_object_get(c, "nbf"),
           *iat = json_object_get(c, "iat");
    double t = (double)now;
    if (!exp)
        return "no expiry";
    if (!json_is_integer(exp)) /* a string, a float, 1e300: not the integer NumericDate we take */
        return "expiry not an integer";
    if ((double)json_integer_value(exp) + cfg->leeway <= t)
        return "expired";
    if (nbf && (!json_is_number(nbf) || json_number_value(nbf) - cfg->leeway > t))
        return "not yet valid";
    if (iat && (!json_is_number(iat) || json_number_value(iat) - cfg->leeway > t))
        return "issued in the future";
    return NULL;
}

static int aud_matches(json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return !strcmp(json_string_value(aud), want);
    size_t i;
    json_t *v;
    json_array_foreach(aud, i, v)
    {
        if (json_is_string(v) && !strcmp(json_string_value(v), want))
            return 1;
    }
    return 0;
}

int sr_jwt_verify(const char *token, size_t len, const sr_jwt_config *cfg, long long now,
                  json_t **claims, const char **why)
{
    *claims = NULL;
    *why = "malformed token";
    if (!token || len == 0 || len > SR_JWT_MAX)
        return -1;
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot1 || !dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
        return -1;
    int eddsa = cfg->ed25519_public_key != NULL;
    if (!eddsa && !cfg->hs256_key) {
        *why = "no key configured";
        return -1;
    }
    json_t *header = decode_json_part(token, (size_t)(dot1 - token));
    if (!header)
        return -1;
    json_t *alg = json_object_get(header, "alg");
    int alg_ok = json_is_string(alg) &&
                 !strcmp(json_string_value(alg), eddsa ? "EdDSA" : "HS256") &&
                 !json_object_get(header, "crit");
    int typ_ok = typ_accepted(json_object_get(header, "typ"));
    int kid_ok = kid_accepted(json_object_get(header, "kid"), cfg);
    json_decref(header);
    if (!alg_ok || !typ_ok || !kid_ok) {
        *why = !alg_ok ? "algorithm not accepted" : !typ_ok ? "not an access token (typ)"
                                                            : "unknown key id (kid)";
        return -1;
    }
    unsigned char sig[crypto_sign_ed25519_BYTES]; /* the larger of the two signatures */
    size_t sig_len = eddsa ? crypto_sign_ed25519_BYTES : crypto_auth_hmacsha256_BYTES;
    if (sr_base64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), sig, sizeof sig) !=
        (long)sig_len) {
        *why = "bad signature encoding";
        return -1;
    }
    if (eddsa) {
        if (crypto_sign_ed25519_verify_detached(sig, (const unsigned char *)token,
                                                (size_t)(dot2 - token),
                                                cfg->ed25519_public_key) != 0) {
            *why = "bad signature";
            return -1;
        }
    } else {
        unsigned char mac[crypto_auth_hmacsha256_BYTES];
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, cfg->hs256_key, cfg->hs256_key_len);
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)token, (size_t)(dot2 - token));
        crypto_auth_hmacsha256_final(&st, mac);
        if (sodium_memcmp(mac, sig, sizeof mac) != 0) {
            *why = "bad signature";
            return -1;
        }
    }
    json_t *c = decode_json_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (!c)
        return -1;
    const char *time_why = times_refusal(c, cfg, now);
    if (time_why) {
        *why = time_why;
    } else if (cfg->issuer && (!json_is_string(json_object_get(c, "iss")) ||
                               strcmp(json_string_value(json_object_get(c, "iss")), cfg->issuer))) {
        *why = "wrong issuer";
    } else if (cfg->audience && !aud_matches(json_object_get(c, "aud"), cfg->audience)) {
        *why = "wrong audience";
    } else {
        *claims = c;
        *why = NULL;
        return 0;
    }
    json_decref(c);
    return -1;
}

static void append_b64(sr_buf *out, const unsigned char *p, size_t n)
{
    char *enc = sr_xmalloc(sr_base64url_encoded_len(n) + 1);
    sr_base64url_encode(p, n, enc);
    sr_buf_appends(out, enc);
    free(enc);
}

static void signing_input(sr_buf *out, const char *header, const json_t *claims)
{
    char *payload = json_dumps(claims, JSON_COMPACT);
    append_b64(out, (const unsigned char *)header, strlen(header));
    sr_buf_appendc(out, '.');
    append_b64(out, (const unsigned char *)payload, strlen(payload));
    free(payload);
}

char *sr_jwt_sign_ed25519(const json_t *claims, const unsigned char *secret_key)
{
    sr_buf out = SR_BUF_INIT;
    signing_input(&out, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}", claims);
    unsigned char sig[crypto_sign_ed25519_BYTES];
    crypto_sign_ed25519_detached(sig, NULL, (const unsigned char *)out.ptr, out.len, secret_key);
    sr_buf_appendc(&out, '.');
    append_b64(&out, sig, sizeof sig);
    return sr_buf_take(&out);
}

char *sr_jwt_sign_hs256(const json_t *claims, const unsigned char *key, size_t key_len)
{
    sr_buf out = SR_BUF_INIT;
    signing_input(&out, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, key_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)out.ptr, out.len);
    crypto_auth_hmacsha256_final(&st, mac);
    sr_buf_appendc(&out, '.');
    append_b64(&out, mac, sizeof mac);
    return sr_buf_take(&out);
}

const char *sr_jwt_user(const json_t *claims, const char *user_claims)
{
    const char *p = user_claims ? user_claims : "nameid,sub";
    while (*p) {
        size_t n = strcspn(p, ",");
        char name[128];
        if (n > 0 && n < sizeof name) {
            memcpy(name, p, n);
            name[n] = '\0';
            json_t *v = json_object_get(claims, name);
            if (json_is_string(v) && *json_string_value(v))
                return json_string_value(v);
        }
        p += n + (p[n] == ',');
    }
    return NULL;
}
