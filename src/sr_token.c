/*
 * sr_token.c — random identifiers, token hashing and strict base64url (see sr_token.h).
 *
 * DESIGN: everything is delegated to libsodium, so the code that handles secrets is the
 * library's constant-time code: randombytes_buf for ids (the same 16 random bytes, base64url
 * without padding, as ASP.NET's connection ids and tokens; protocol.md §1.2),
 * sodium_bin2base64/sodium_base642bin with the URL-safe unpadded variant for the encoding, and
 * unkeyed 32-byte BLAKE2b (crypto_generichash) for the stored hash of a token. A keyed hash is
 * not needed: tokens carry 128 bits of entropy, so an unkeyed hash cannot be inverted by search.
 * Decoding is strict, so every token has exactly one spelling: libsodium rejects padding, any
 * character outside A-Z a-z 0-9 '-' '_' (whitespace, '+', '/'), a length of 1 mod 4 and
 * non-zero unused bits in the last character (tests/unit/test_token.c pins each case).
 * No state: safe from any thread once sodium_init() has run.
 */
#include "config.h"

#include "sr_token.h"

#include <assert.h>
#include <limits.h>
#include <stdint.h>

#include <sodium.h>

void sr_token_random_id(char out[SR_ID_LEN + 1])
{
    unsigned char raw[SR_ID_BYTES];
    size_t n;

    assert(out);
    randombytes_buf(raw, sizeof(raw));
    n = sr_base64url_encode(raw, sizeof(raw), out);
    assert(n == SR_ID_LEN);
    (void)n;
    /* The raw bytes of a token are as secret as the token; do not leave them on the stack. */
    sodium_memzero(raw, sizeof(raw));
}

void sr_token_hash(const char *token, size_t len, unsigned char out[SR_TOKEN_HASH_BYTES])
{
    assert((token || len == 0) && out);
    crypto_generichash(out, SR_TOKEN_HASH_BYTES, (const unsigned char *)token, len, NULL, 0);
}

static int is_base64url_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

int sr_token_is_id(const char *s, size_t len)
{
    size_t i;

    if (!s || len != SR_ID_LEN)
        return 0;
    for (i = 0; i < len; i++) {
        if (!is_base64url_char((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

size_t sr_base64url_encoded_len(size_t n)
{
    /* Every 3 bytes give 4 characters; a tail of 1 or 2 bytes gives 2 or 3 (no padding). */
    static const size_t tail[3] = {0, 2, 3};

    assert(n / 3 <= (SIZE_MAX - 4) / 4);
    return n / 3 * 4 + tail[n % 3];
}

size_t sr_base64url_encode(const unsigned char *in, size_t n, char *out)
{
    size_t len = sr_base64url_encoded_len(n);

    assert((in || n == 0) && out);
    sodium_bin2base64(out, len + 1, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return len;
}

long sr_base64url_decode(const char *in, size_t n, unsigned char *out, size_t out_cap)
{
    size_t bin_len = 0;

    assert((in || n == 0) && (out || out_cap == 0));
    if (n == 0)
        return 0;
    /* ignore = NULL and b64_end = NULL: any character outside the alphabet, anywhere, fails the
     * whole decode instead of ending it early. */
    if (sodium_base642bin(out, out_cap, in, n, NULL, &bin_len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return -1;
    if (bin_len > LONG_MAX)
        return -1;
    return (long)bin_len;
}
