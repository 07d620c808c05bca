/*
 * test_token.c — unit tests for sr_token: random id shape and uniqueness, base64url against the
 * RFC 4648 §10 vectors (in their URL-safe, unpadded form), every class of input the strict
 * decoder must refuse, and BLAKE2b-256 known answers.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sr_token.h"
#include "tap.h"

#define DRAWS 4000

static int compare_ids(const void *a, const void *b) { return memcmp(a, b, SR_ID_LEN + 1); }

static int is_alphabet(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static void test_random_id(void)
{
    static char ids[DRAWS][SR_ID_LEN + 1];
    unsigned char raw[SR_ID_BYTES + 4];
    char again[SR_ID_LEN + 1];
    int seen[256] = {0};
    int bad_shape = 0, bad_tail = 0, bad_roundtrip = 0, dups = 0, distinct = 0;
    size_t i, j;
    long n;

    for (i = 0; i < DRAWS; i++) {
        memset(ids[i], '#', sizeof(ids[i]));
        sr_token_random_id(ids[i]);
        if (strlen(ids[i]) != SR_ID_LEN || !sr_token_is_id(ids[i], SR_ID_LEN))
            bad_shape++;
        for (j = 0; j < SR_ID_LEN; j++) {
            if (!is_alphabet(ids[i][j]))
                bad_shape++;
            seen[(unsigned char)ids[i][j]]++;
        }
        /* 22 characters carry 132 bits for 128: the last one has its low 4 bits clear. */
        if (!strchr("AQgw", ids[i][SR_ID_LEN - 1]))
            bad_tail++;
        n = sr_base64url_decode(ids[i], SR_ID_LEN, raw, sizeof(raw));
        if (n != SR_ID_BYTES || sr_base64url_encode(raw, SR_ID_BYTES, again) != SR_ID_LEN ||
            strcmp(again, ids[i]) != 0)
            bad_roundtrip++;
    }
    is_int(bad_shape, 0, "every id is 22 base64url characters");
    is_int(bad_tail, 0, "every id ends in a canonical character");
    is_int(bad_roundtrip, 0, "every id decodes to 16 bytes and re-encodes to itself");

    for (i = 0; i < 256; i++)
        distinct += seen[i] > 0;
    is_int(distinct, 64, "all 64 alphabet characters occur over %d ids", DRAWS);

    qsort(ids, DRAWS, sizeof(ids[0]), compare_ids);
    for (i = 1; i < DRAWS; i++)
        dups += strcmp(ids[i - 1], ids[i]) == 0;
    is_int(dups, 0, "%d ids are distinct", DRAWS);
}

static void test_is_id(void)
{
    ok(sr_token_is_id("Zq4W2mZC9sV0Qy0b0X3r7g", 22), "an id");
    ok(sr_token_is_id("AAAAAAAAAAAAAAAAAAAA-_", 22), "'-' and '_' are allowed");
    ok(!sr_token_is_id("Zq4W2mZC9sV0Qy0b0X3r7", 21), "21 characters");
    ok(!sr_token_is_id("Zq4W2mZC9sV0Qy0b0X3r7gA", 23), "23 characters");
    ok(sr_token_is_id("Zq4W2mZC9sV0Qy0b0X3r7gA", 22), "length is taken from len");
    ok(!sr_token_is_id("Zq4W2mZC9sV0Qy0b0X3r+g", 22), "'+'");
    ok(!sr_token_is_id("Zq4W2mZC9sV0Qy0b0X3r/g", 22), "'/'");
    ok(!sr_token_is_id("Zq4W2mZC9sV0Qy0b0X3r7=", 22), "'='");
    ok(!sr_token_is_id("Zq4W2mZC9sV0Qy0b0X3r g", 22), "space");
    ok(!sr_token_is_id("Zq4W2mZC9sV0Qy0b0X3r\0g", 22), "NUL");
    ok(!sr_token_is_id("Zq4W2mZC9sV0Qy0b0X3r\xc3\xa9", 22), "non-ASCII");
    ok(!sr_token_is_id("", 0), "empty");
    ok(!sr_token_is_id(NULL, 22), "NULL");
}

static void test_encode(void)
{
    /* RFC 4648 §10, plus inputs whose standard encoding uses '+' and '/'. */
    static const struct {
        const char *bin;
        size_t len;
        const char *b64;
    } v[] = {
        {"", 0, ""},
        {"f", 1, "Zg"},
        {"fo", 2, "Zm8"},
        {"foo", 3, "Zm9v"},
        {"foob", 4, "Zm9vYg"},
        {"fooba", 5, "Zm9vYmE"},
        {"foobar", 6, "Zm9vYmFy"},
        {"\xfb\xff", 2, "-_8"},
        {"\xfb\xef\xbe", 3, "----"},
        {"\xff\xff\xff", 3, "____"},
        {"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f", 16,
         "AAECAwQFBgcICQoLDA0ODw"},
    };
    char out[32];
    unsigned char bin[32];
    size_t i, n;
    long d;

    is_int((long long)sr_base64url_encoded_len(0), 0, "encoded_len(0)");
    is_int((long long)sr_base64url_encoded_len(1), 2, "encoded_len(1)");
    is_int((long long)sr_base64url_encoded_len(2), 3, "encoded_len(2)");
    is_int((long long)sr_base64url_encoded_len(3), 4, "encoded_len(3)");
    is_int((long long)sr_base64url_encoded_len(16), SR_ID_LEN, "encoded_len(16)");
    is_int((long long)sr_base64url_encoded_len(32), 43, "encoded_len(32)");

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        memset(out, '#', sizeof(out));
        n = sr_base64url_encode((const unsigned char *)v[i].bin, v[i].len, out);
        is_int((long long)n, (long long)strlen(v[i].b64), "encode length, vector %zu", i);
        is_str(out, v[i].b64, "encode, vector %zu", i);
        is_int(out[n + 1], '#', "encode writes len + 1 bytes, vector %zu", i);

        memset(bin, 0xA5, sizeof(bin));
        d = sr_base64url_decode(v[i].b64, strlen(v[i].b64), bin, sizeof(bin));
        is_int(d, (long long)v[i].len, "decode length, vector %zu", i);
        is_mem(bin, d > 0 ? (size_t)d : 0, v[i].bin, v[i].len, "decode, vector %zu", i);
    }
}

static long decode(const char *s, size_t n)
{
    unsigned char out[64];
    return sr_base64url_decode(s, n, out, sizeof(out));
}

#define DECODE(lit) decode((lit), sizeof(lit) - 1)

static void test_decode_strict(void)
{
    unsigned char out[8];
    long d;

    is_int(DECODE("Zg=="), -1, "padding");
    is_int(DECODE("Zg="), -1, "partial padding");
    is_int(DECODE("Zm9v===="), -1, "padding after a full group");
    is_int(DECODE("Zm9v\n"), -1, "trailing newline");
    is_int(DECODE(" Zm9v"), -1, "leading space");
    is_int(DECODE("Zm 9v"), -1, "inner space");
    is_int(DECODE("Zm\t9v"), -1, "tab");
    is_int(DECODE("Zm\r\n9v"), -1, "CRLF");
    is_int(DECODE("+/8"), -1, "standard alphabet '+' and '/'");
    is_int(DECODE("Zm+v"), -1, "'+'");
    is_int(DECODE("Zm/v"), -1, "'/'");
    is_int(DECODE("Zm9v\0Yg"), -1, "embedded NUL");
    is_int(DECODE("Zm9v\xc3\xa9"), -1, "non-ASCII");
    is_int(DECODE("Z"), -1, "length 1 mod 4 (1)");
    is_int(DECODE("Zm9vY"), -1, "length 1 mod 4 (5)");
    is_int(DECODE("Zh"), -1, "non-canonical: 'h' leaves bits in the last character");
    is_int(DECODE("QR"), -1, "non-canonical: QR");
    is_int(DECODE("Zm9"), -1, "non-canonical: Zm9");
    is_int(DECODE("Zq4W2mZC9sV0Qy0b0X3r7h"), -1, "non-canonical 22-character id");
    is_int(DECODE("Zg"), 1, "canonical Zg");
    is_int(DECODE("QQ"), 1, "canonical QQ");
    is_int(DECODE("Zm8"), 2, "canonical Zm8");
    is_int(sr_base64url_decode("", 0, NULL, 0), 0, "empty input");
    is_int(sr_base64url_decode(NULL, 0, out, sizeof(out)), 0, "NULL, 0");

    is_int(sr_base64url_decode("Zm9vYmFy", 8, out, 6), 6, "output exactly fits");
    is_mem(out, 6, "foobar", 6, "output exactly fits: bytes");
    is_int(sr_base64url_decode("Zm9vYmFy", 8, out, 5), -1, "output one byte too small");
    is_int(sr_base64url_decode("Zg", 2, out, 0), -1, "no output space");
    d = sr_base64url_decode("Zm9vYmFy", 4, out, sizeof(out));
    is_int(d, 3, "length is taken from n");
    is_mem(out, 3, "foo", 3, "length is taken from n: bytes");
}

static void is_hash(const char *s, size_t n, const char *want_hex, const char *name)
{
    unsigned char h[SR_TOKEN_HASH_BYTES];
    char hex[2 * SR_TOKEN_HASH_BYTES + 1];

    sr_token_hash(s, n, h);
    sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
    is_str(hex, want_hex, "hash: %s", name);
}

static void test_hash(void)
{
    unsigned char a[SR_TOKEN_HASH_BYTES], b[SR_TOKEN_HASH_BYTES];

    /* Expected values: Python hashlib.blake2b(data, digest_size=32).hexdigest(). */
    is_hash("", 0, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8", "empty");
    is_hash("abc", 3, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319", "abc");
    is_hash("abcdef", 3, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319",
            "length is taken from len");
    is_hash("n2Cw6m1oR0m8kq3fJ7cX0A", 22,
            "e3c1077387cb33c0ede07a8b9a1ddf02eccc526b1b2f10f0e304de3c50f137ca", "a token");

    sr_token_hash("n2Cw6m1oR0m8kq3fJ7cX0A", 22, a);
    sr_token_hash("n2Cw6m1oR0m8kq3fJ7cX0A", 22, b);
    ok(memcmp(a, b, sizeof(a)) == 0, "hash is deterministic");
    sr_token_hash("n2Cw6m1oR0m8kq3fJ7cX0B", 22, b);
    ok(memcmp(a, b, sizeof(a)) != 0, "one character changes the hash");
}

int main(void)
{
    if (sodium_init() < 0) {
        diag("sodium_init failed");
        return 99; /* automake's hard error: the environment, not the code, is broken */
    }
    test_random_id();
    test_is_id();
    test_encode();
    test_decode_strict();
    test_hash();
    return done_testing();
}
