/*
 * sr_jwt.c — JWT verification and signing (see sr_jwt.h).
 *
 * DESIGN: RFC 8725's advice, in the order the checks run: a size cap before any work; exactly
 * three dot-separated parts of strict base64url (sr_token's decoder rejects padding, '+', '/',
 * whitespace and non-canonical tails); a header that is a JSON object whose alg is the one the
 * key is for (HS256 here: "none", other algorithms and a missing alg are refused, so a token
 * cannot pick its own verification); a constant-time signature check; then the claims: exp
 * required and in the future (minus leeway), nbf reached, iss and aud equal to the configured
 * values when set (aud may be a string or an array containing it).
 */
#include "config.h"

#include "sr_jwt.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "sr_buf.h"
#include "sr_mem.h"
#include "sr_token.h"

static json_t *decode_json_part(const char *p, size_t n)
{
    unsigned char buf[SR_JWT_MAX];
    long len = sr_base64url_decode(p, n, buf, sizeof buf);
    if (len < 0)
        return NULL;
    json_t *v = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
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
    json_decref(header);
    if (!alg_ok) {
        *why = "algorithm not accepted";
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
    json_t *exp = json_object_get(c, "exp"), *nbf = json_object_get(c, "nbf");
    if (!json_is_number(exp)) {
        *why = "no expiry";
    } else if (json_number_value(exp) > 9223372036854775807.0) {
        /* Not a NumericDate a clock can reach (1e300): a malformed token, not an eternal one. */
        *why = "expiry out of range";
    } else if (json_number_value(exp) + cfg->leeway <= (double)now) {
        /* In double arithmetic: a casted 1e300 or -1e300 would be undefined behaviour. */
        *why = "expired";
    } else if (nbf && (!json_is_number(nbf) ||
                       json_number_value(nbf) - cfg->leeway > (double)now)) {
        *why = "not yet valid";
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

const char *sr_jwt_user(const json_t *claims)
{
    const char *keys[] = {"nameid", "sub"};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(claims, keys[i]);
        if (json_is_string(v) && *json_string_value(v))
            return json_string_value(v);
    }
    return NULL;
}
