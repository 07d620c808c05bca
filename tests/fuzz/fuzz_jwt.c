/*
 * fuzz_jwt.c — libFuzzer target for bearer-token verification: the input is a token verified
 * against an HS256 key and against an Ed25519 key (strict base64url, JSON header and claims,
 * signatures). Any input must be rejected or accepted cleanly; an accepted token must have
 * come with the key's signature, which random input cannot forge, so acceptance is a bug.
 */
#include "config.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sr_jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char pk[32], sk[64];
    static int ready;
    if (!ready) {
        if (sodium_init() < 0)
            abort();
        /* A fixed seed keeps runs reproducible. */
        unsigned char seed[32] = {1};
        crypto_sign_ed25519_seed_keypair(pk, sk, seed);
        ready = 1;
    }
    static const char secret[] = "fuzzing-secret-0123456789abcdef0123456789";
    sr_jwt_config hs = {.hs256_key = (const unsigned char *)secret,
                        .hs256_key_len = sizeof secret - 1,
                        .leeway = 60,
                        .issuer = "iss",
                        .audience = "aud"};
    sr_jwt_config ed = {.ed25519_public_key = pk, .leeway = 0};
    json_t *claims = NULL;
    const char *why = NULL;
    if (sr_jwt_verify((const char *)data, size, &hs, 1700000000, &claims, &why) == 0)
        abort(); /* forged */
    json_decref(claims);
    if (sr_jwt_verify((const char *)data, size, &ed, 1700000000, &claims, &why) == 0)
        abort();
    json_decref(claims);
    /* Round trip: a token we sign over the input as a claim must verify. (Claims with U+0000 are
     * refused by design, as everywhere else a C string is taken from client JSON.) */
    if (size < 256 && !memchr(data, 0, size)) {
        json_t *c = json_pack("{s:s%,s:i,s:s,s:s}", "sub", (const char *)data, size, "exp",
                              2000000000, "iss", "iss", "aud", "aud");
        if (c) {
            char *t = sr_jwt_sign_hs256(c, (const unsigned char *)secret, sizeof secret - 1);
            if (sr_jwt_verify(t, strlen(t), &hs, 1700000000, &claims, &why) != 0)
                abort();
            json_decref(claims);
            free(t);
            t = sr_jwt_sign_ed25519(c, sk);
            if (sr_jwt_verify(t, strlen(t), &ed, 1700000000, &claims, &why) != 0)
                abort();
            json_decref(claims);
            free(t);
            json_decref(c);
        }
    }
    return 0;
}
