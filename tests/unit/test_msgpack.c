/*
 * test_msgpack.c — the MessagePack codec (sr_msgpack) and the MessagePack hub protocol
 * translation (sr_mpproto): byte-exact encodings from the MessagePack spec and ASP.NET's
 * MessagePackHubProtocol layouts (protocol.md §7.7), the value mapping of sr_msgpack.h, and the
 * malformed inputs a client may send.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sr_mpproto.h"
#include "sr_msgpack.h"
#include "tap.h"

/* Bytes from a hex string ("91 06"); spaces are ignored. Returns the length. */
static size_t unhex(const char *hex, unsigned char *out)
{
    size_t n = 0;
    for (const char *p = hex; *p; p++) {
        if (*p == ' ')
            continue;
        unsigned v;
        sscanf(p, "%2x", &v);
        out[n++] = (unsigned char)v;
        p++;
    }
    return n;
}

static void encodes(const char *json, const char *hex, const char *name)
{
    unsigned char want[256];
    size_t n = unhex(hex, want);
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    sr_buf out = SR_BUF_INIT;
    sr_msgpack_encode(&out, v);
    is_mem(out.ptr, out.len, want, n, "encode %s", name);
    json_t *back = sr_msgpack_decode(out.ptr, out.len, NULL, 0);
    ok(json_equal(back, v), "decode(encode(%s)) is the value again", name);
    json_decref(back);
    json_decref(v);
    sr_buf_fini(&out);
}

static void decodes(const char *hex, const char *json, const char *name)
{
    unsigned char in[256];
    size_t n = unhex(hex, in);
    char err[128];
    json_t *v = sr_msgpack_decode(in, n, err, sizeof err);
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    is_str(text ? text : err, json, "decode %s", name);
    free(text);
    json_decref(v);
}

static void rejects(const char *hex, const char *why, const char *name)
{
    unsigned char in[256];
    size_t n = unhex(hex, in);
    char err[128];
    json_t *v = sr_msgpack_decode(in, n, err, sizeof err);
    ok(v == NULL, "reject %s", name);
    is_str(err, why, "reason for %s", name);
    json_decref(v);
}

static void test_values(void)
{
    encodes("null", "c0", "nil");
    encodes("[true,false]", "92 c3 c2", "booleans");
    encodes("127", "7f", "largest positive fixint");
    encodes("128", "cc 80", "uint8");
    encodes("65535", "cd ff ff", "uint16");
    encodes("4294967296", "cf 00 00 00 01 00 00 00 00", "uint64");
    encodes("-32", "e0", "smallest negative fixint");
    encodes("-33", "d0 df", "int8");
    encodes("-32769", "d2 ff ff 7f ff", "int32");
    encodes("1.5", "cb 3f f8 00 00 00 00 00 00", "float64");
    encodes("\"a\"", "a1 61", "fixstr");
    encodes("{\"a\":[]}", "81 a1 61 90", "map with an array");
    encodes("{\"$sr:binary\":\"AQID\"}", "c4 03 01 02 03", "binary wrapper is bin");
    encodes("{\"$sr:timestamp\":\"2000-01-01T00:00:00Z\"}", "d6 ff 38 6d 43 80",
            "timestamp wrapper, 32-bit form");
    encodes("{\"$sr:timestamp\":\"2002-04-01T10:20:15.5Z\"}", "d7 ff 77 35 94 00 3c a8 34 5f",
            "timestamp wrapper with a fraction, 64-bit form");
    encodes("{\"$sr:timestamp\":\"1969-12-31T23:59:59Z\"}",
            "c7 0c ff 00 00 00 00 ff ff ff ff ff ff ff ff", "timestamp before 1970, 96-bit form");
    encodes("{\"$sr:binary\":\"not base64!\"}",
            "81 aa 24 73 72 3a 62 69 6e 61 72 79 ab 6e 6f 74 20 62 61 73 65 36 34 21",
            "a wrapper that is not base64 stays a map");

    decodes("ca 3f c0 00 00", "1.5", "float32");
    decodes("cf ff ff ff ff ff ff ff ff", "1.8446744073709552e19",
            "uint64 above int64 becomes a real");
    decodes("d3 80 00 00 00 00 00 00 00", "-9223372036854775808", "int64 minimum");
    decodes("d1 80 00", "-32768", "int16 sign extension");
    decodes("c5 00 01 ff", "{\"$sr:binary\":\"/w==\"}", "bin16");
    decodes("d9 00", "\"\"", "empty str8");
    decodes("de 00 01 a1 6b c0", "{\"k\":null}", "map16");
    decodes("d6 ff 00 00 00 00", "{\"$sr:timestamp\":\"1970-01-01T00:00:00Z\"}", "epoch");
    decodes("d7 ff 00 00 00 04 00 00 00 00", "{\"$sr:timestamp\":\"1970-01-01T00:00:00.000000001Z\"}",
            "one nanosecond");

    rejects("c1", "invalid MessagePack type byte", "the never-used byte");
    rejects("92 01", "array longer than the input", "an array cut short");
    rejects("91 a2 61", "truncated string", "a string cut short");
    rejects("dd ff ff ff ff", "array longer than the input", "a 4G-element array header");
    rejects("df ff ff ff ff", "map longer than the input", "a 4G-entry map header");
    rejects("db ff ff ff ff 61", "truncated string", "a string longer than the input");
    rejects("81 01 02", "map keys must be distinct strings without NUL", "an integer map key");
    rejects("82 a1 61 01 a1 61 02", "map keys must be distinct strings without NUL",
            "a duplicate map key");
    rejects("d4 05 00", "unsupported MessagePack extension type", "ext type 5");
    rejects("d7 ff ff ff ff ff 00 00 00 00", "timestamp out of range",
            "nanoseconds above 999999999");
    rejects("a2 c3 28", "string is not valid UTF-8", "invalid UTF-8");
    rejects("cb 7f f8 00 00 00 00 00 00", "non-finite float", "NaN");
    rejects("01 02", "bytes after the MessagePack value", "two values");
    rejects("", "truncated value", "no bytes");

    unsigned char deep[80];
    memset(deep, 0x91, sizeof deep);
    deep[sizeof deep - 1] = 0xc0;
    json_t *v = sr_msgpack_decode(deep, sizeof deep, NULL, 0);
    ok(v == NULL, "nesting deeper than %d is refused", SR_MSGPACK_MAX_DEPTH);
    v = sr_msgpack_decode(deep + sizeof deep - SR_MSGPACK_MAX_DEPTH - 1, SR_MSGPACK_MAX_DEPTH + 1,
                          NULL, 0);
    ok(v != NULL, "nesting of exactly %d is accepted", SR_MSGPACK_MAX_DEPTH);
    json_decref(v);
}

static void test_framing(void)
{
    static const struct {
        size_t len;
        const char *hex;
    } vectors[] = {{0, "00"}, {127, "7f"}, {128, "80 01"}, {16384, "80 80 01"},
                   {2147483647, "ff ff ff ff 07"}};
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        unsigned char want[8];
        size_t n = unhex(vectors[i].hex, want);
        sr_buf out = SR_BUF_INIT;
        sr_msgpack_frame_prefix(&out, vectors[i].len);
        is_mem(out.ptr, out.len, want, n, "prefix of %zu", vectors[i].len);
        size_t prefix = 0, payload = 0;
        is_int(sr_msgpack_frame_next(out.ptr, out.len, &prefix, &payload),
               vectors[i].len ? 0 : 1, "a frame of %zu without its payload is %s", vectors[i].len,
               vectors[i].len ? "incomplete" : "complete");
        sr_buf_fini(&out);
    }
    size_t prefix, payload;
    is_int(sr_msgpack_frame_next("\x02\x91\x06\x01", 4, &prefix, &payload), 3, "one ping frame");
    is_int(prefix, 1, "its prefix");
    is_int(payload, 2, "its payload");
    is_int(sr_msgpack_frame_next("\x80", 1, &prefix, &payload), 0, "a prefix cut short");
    is_int(sr_msgpack_frame_next("\xff\xff\xff\xff\x0f\x00", 6, &prefix, &payload), 6,
           "a length of 2 GiB or more takes the rest");
    ok(payload == SIZE_MAX, "...and reads as too large");
    is_int(sr_msgpack_frame_next("\x80\x80\x80\x80\x80\x01", 6, &prefix, &payload), 6,
           "a sixth prefix byte takes the rest");
    ok(payload == SIZE_MAX, "...and reads as too large");
}

static void test_dates(void)
{
    long long s;
    long ns;
    is_int(sr_msgpack_parse_iso8601("2002-04-01T10:20:15Z", &s, &ns), 0, "plain UTC date");
    is_int(s, 1017656415, "its seconds");
    is_int(sr_msgpack_parse_iso8601("2002-04-01T12:20:15.25+02:00", &s, &ns), 0, "with offset");
    is_int(s, 1017656415, "offset applied");
    is_int(ns, 250000000, "fraction");
    is_int(sr_msgpack_parse_iso8601("2002-02-29T00:00:00Z", &s, &ns), -1, "no 29 February 2002");
    is_int(sr_msgpack_parse_iso8601("2002-04-01 10:20:15Z", &s, &ns), -1, "a space for T");
    is_int(sr_msgpack_parse_iso8601("2002-04-01T10:20:15", &s, &ns), -1, "no zone");
    is_int(sr_msgpack_parse_iso8601("2002-04-01T10:20:15.Z", &s, &ns), -1, "empty fraction");
    char text[64];
    is_int(sr_msgpack_format_iso8601(-62135596800LL, 0, text, sizeof text), 0, "year 1");
    is_str(text, "0001-01-01T00:00:00Z", "year 1 text");
    is_int(sr_msgpack_format_iso8601(-62135596801LL, 0, text, sizeof text), -1, "year 0 refused");
    is_int(sr_msgpack_format_iso8601(951782400, 120000000, text, sizeof text), 0, "leap day");
    is_str(text, "2000-02-29T00:00:00.12Z", "trailing zeros of the fraction dropped");
    json_t *w = sr_json_timestamp(253402300800LL, 0);
    ok(w == NULL, "sr_json_timestamp refuses year 10000");
    w = sr_json_binary(NULL, 0);
    is_str(sr_msgpack_wrapped_text(w), "", "sr_json_binary of nothing");
    json_decref(w);
}

/* A MessagePack message (hex) becomes this JSON record, or fails with @p want as reason. */
static void to_json(const char *hex, const char *want, const char *name)
{
    unsigned char in[256];
    size_t n = unhex(hex, in);
    sr_buf json = SR_BUF_INIT;
    char err[128];
    int rc = sr_mpproto_to_json((const char *)in, n, &json, err, sizeof err);
    is_str(rc == 0 ? json.ptr : err, want, "inbound %s", name);
    sr_buf_fini(&json);
}

static void test_inbound(void)
{
    /* [1,{},"0","Echo",["a"]] as the JS client writes an invoke() without streams */
    to_json("95 01 80 a1 30 a4 45 63 68 6f 91 a1 61",
            "{\"type\":1,\"invocationId\":\"0\",\"target\":\"Echo\",\"arguments\":[\"a\"]}",
            "invocation");
    to_json("96 01 80 c0 a1 46 90 91 a1 31",
            "{\"type\":1,\"target\":\"F\",\"arguments\":[],\"streamIds\":[\"1\"]}",
            "send() with a stream id");
    to_json("95 01 81 a1 6b a1 76 c0 a1 46 90",
            "{\"type\":1,\"headers\":{\"k\":\"v\"},\"target\":\"F\",\"arguments\":[]}", "headers");
    to_json("94 02 80 a1 31 c0", "{\"type\":2,\"invocationId\":\"1\",\"item\":null}",
            "stream item null");
    to_json("94 03 80 a1 31 02", "{\"type\":3,\"invocationId\":\"1\"}", "void completion");
    to_json("95 03 80 a1 31 03 0a", "{\"type\":3,\"invocationId\":\"1\",\"result\":10}",
            "completion with a result");
    to_json("95 03 80 a1 31 01 a1 78", "{\"type\":3,\"invocationId\":\"1\",\"error\":\"x\"}",
            "completion with an error");
    to_json("95 03 80 a1 31 04 00", "invalid invocation result kind", "result kind 4");
    to_json("94 03 80 a1 31 03", "invalid invocation result kind", "kind 3 without a result");
    to_json("93 05 80 a1 31", "{\"type\":5,\"invocationId\":\"1\"}", "cancel");
    to_json("91 06", "{\"type\":6}", "ping");
    to_json("92 07 c0", "{\"type\":7}", "close as the JS client writes it");
    to_json("91 0f", "{\"type\":15}", "an unknown type is passed on (and ignored later)");
    to_json("93 01 80 c0", "too few elements for the message type", "short invocation");
    to_json("90", "a MessagePack message must be a non-empty array", "empty array");
    to_json("a1 61", "a MessagePack message must be a non-empty array", "not an array");
    to_json("91 a1 31", "the message type is not an integer", "string type");
}

/* A log record body delivered to a @p binary connection gives these bytes. */
static void delivers(int binary, const char *body, const char *want_hex, const char *want_text,
                     const char *name)
{
    unsigned char want[256];
    size_t n = want_hex ? unhex(want_hex, want) : strlen(want_text);
    sr_buf out = SR_BUF_INIT;
    sr_mpproto_deliver(binary, body, strlen(body), &out);
    is_mem(out.ptr, out.len, want_hex ? (const void *)want : want_text, n, "deliver %s", name);
    sr_buf_fini(&out);
}

static void test_outbound(void)
{
    delivers(1, "{\"type\":3,\"invocationId\":\"0\",\"result\":null}\x1e",
             "07 95 03 80 a1 30 03 c0", NULL, "completion with null result");
    delivers(1, "{\"type\":3,\"invocationId\":\"1\"}\x1e", "06 94 03 80 a1 31 02", NULL,
             "stream end");
    delivers(1, "{\"type\":3,\"invocationId\":\"0\",\"error\":\"e\"}\x1e",
             "08 95 03 80 a1 30 01 a1 65", NULL, "error completion");
    delivers(1, "{\"type\":1,\"target\":\"m\",\"arguments\":[1]}\x1e",
             "09 96 01 80 c0 a1 6d 91 01 90", NULL, "invocation without id");
    delivers(1, "{\"type\":2,\"invocationId\":\"1\",\"item\":5}\x1e", "06 94 02 80 a1 31 05",
             NULL, "stream item");
    delivers(1, "{\"type\":6}\x1e", "02 91 06", NULL, "ping");
    delivers(1, "{\"type\":7,\"error\":\"x\",\"allowReconnect\":true}\x1e", "05 93 07 a1 78 c3",
             NULL, "close with error");
    delivers(1, "{\"type\":7}\x1e{\"type\":6}\x1e", "04 93 07 c0 c2 02 91 06", NULL,
             "two records, two frames");
    delivers(1, "{\"type\":99}\x1e{\"nope\x1e{\"type\":6}\x1e", "02 91 06", NULL,
             "unknown and broken records are left out");
    delivers(1, "{\"type\":3,\"invocationId\":\"0\",\"result\":\"a\\u0000b\"}\x1e",
             "0a 95 03 80 a1 30 03 a3 61 00 62", NULL, "a string with U+0000");
    delivers(1, "{\"type\":2,\"invocationId\":\"1\",\"item\":18446744073709551616}\x1e",
             "0e 94 02 80 a1 31 cb 43 f0 00 00 00 00 00 00", NULL,
             "an integer beyond int64 from outside becomes a float64");
    delivers(0, "{\"type\":6}\x1e", NULL, "{\"type\":6}\x1e", "JSON without wrappers unchanged");
    delivers(0,
             "{\"type\":3,\"invocationId\":\"0\",\"result\":{\"b\":{\"$sr:binary\":\"AQID\"},"
             "\"d\":[{\"$sr:timestamp\":\"2000-01-01T00:00:00Z\"}]}}\x1e",
             NULL,
             "{\"type\":3,\"invocationId\":\"0\",\"result\":{\"b\":\"AQID\","
             "\"d\":[\"2000-01-01T00:00:00Z\"]}}\x1e",
             "JSON gets the wrapped strings");
}

static void test_handshake(void)
{
    char err[256] = "";
    ok(sr_mpproto_is_messagepack("MessagePack"), "the name is case-insensitive");
    ok(!sr_mpproto_is_messagepack("json"), "json is not messagepack");
    is_int(sr_mpproto_transport_check("messagepack", "LongPolling", err, sizeof err), 0,
           "messagepack over long polling");
    is_int(sr_mpproto_transport_check("json", "ServerSentEvents", err, sizeof err), 0,
           "json over SSE");
    is_int(sr_mpproto_transport_check("json", NULL, err, sizeof err), 0,
           "json before any transport request");
    is_int(sr_mpproto_transport_check("messagepack", NULL, err, sizeof err), -1,
           "messagepack before any transport request refused");
    is_int(sr_mpproto_transport_check("messagepack", "ServerSentEvents", err, sizeof err), -1,
           "messagepack over SSE refused");
    is_str(err,
           "Cannot use the 'messagepack' protocol on the current transport. The transport does "
           "not support 'Binary' transfer format.",
           "ASP.NET's text");
}

int main(void)
{
    test_values();
    test_framing();
    test_dates();
    test_inbound();
    test_outbound();
    test_handshake();
    return done_testing();
}
