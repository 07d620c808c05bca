/*
 * sr_token.h — random identifiers, token hashing and base64url.
 *
 * Connection ids and connection tokens are 16 bytes from libsodium's CSPRNG, base64url without
 * padding (22 characters, URL-safe: the JS client does not URL-encode the token). Tokens are
 * stored only as a BLAKE2b hash, so a database dump does not let anyone take over a
 * connection. sodium_init() must have been called.
 */
#ifndef SR_TOKEN_H
#define SR_TOKEN_H

#include <stddef.h>

#define SR_ID_BYTES 16
#define SR_ID_LEN 22 /* base64url of 16 bytes, no padding */
#define SR_TOKEN_HASH_BYTES 32

/** Writes a fresh random id (SR_ID_LEN characters + NUL) into @p out. */
void sr_token_random_id(char out[SR_ID_LEN + 1]);

/** Hashes a connection token for storage and lookup. */
void sr_token_hash(const char *token, size_t len, unsigned char out[SR_TOKEN_HASH_BYTES]);

/** True when @p s[0..len) has the shape of an id: exactly SR_ID_LEN base64url characters. */
int sr_token_is_id(const char *s, size_t len);

/** Base64url without padding. @p out must hold sr_base64url_encoded_len(n) + 1 bytes; the
 *  result is NUL-terminated. Returns the length written. */
size_t sr_base64url_encoded_len(size_t n);
size_t sr_base64url_encode(const unsigned char *in, size_t n, char *out);

/** Strict base64url decoding (no padding, no whitespace, no '+' or '/', canonical trailing
 *  bits). Returns the decoded length, or -1 for invalid input or when @p out_cap is too small. */
long sr_base64url_decode(const char *in, size_t n, unsigned char *out, size_t out_cap)
    __attribute__((warn_unused_result));

#endif
