/*
 * test_proto.c — unit tests for sr_proto: record splitting, handshake parsing and checking, hub
 * message parsing (every type, every rejection) and the encoders' exact bytes (protocol.md §7).
 *
 * Error texts are compared exactly where the server or client shows them (handshake check,
 * Completion/Close encodings); parser explanations are compared exactly too, so a change in
 * wording is a deliberate test update rather than a silent drift.
 */
#include "config.h"

#include "sr_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sr_mem.h"
#include "tap.h"

#define RS "\x1e"

/* is_mem against a literal (SR_STRLIT cannot be used as two macro arguments). */
#define IS_MEM_LIT(got, got_len, lit, ...)                                                         \
    is_mem((got), (got_len), (lit), sizeof(lit) - 1, __VA_ARGS__)

/* Input as a one-line test name: TAP breaks on raw newlines, terminals on raw bytes. */
static const char *show(const char *s)
{
    static char out[512];
    size_t n = 0;
    for (; *s && n + 5 < sizeof out; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c < 0x7f)
            out[n++] = (char)c;
        else
            n += (size_t)snprintf(out + n, sizeof out - n, "\\x%02x", c);
    }
    out[n] = '\0';
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * Framing
 */

static void test_records(void)
{
    size_t plen = 99;
    is_int(sr_proto_next_record("", 0, &plen), 0, "empty buffer: no record");
    is_int(plen, 99, "payload_len untouched without a record");
    is_int(sr_proto_next_record(SR_STRLIT("{\"type\":6}"), &plen), 0, "no RS yet: incomplete");

    is_int(sr_proto_next_record(SR_STRLIT("{}" RS), &plen), 3, "one record consumes payload+RS");
    is_int(plen, 2, "payload length excludes RS");

    is_int(sr_proto_next_record(SR_STRLIT(RS), &plen), 1, "empty payload consumes the RS");
    is_int(plen, 0, "empty payload has length 0");

    /* Several records, the last one incomplete, split by repeated calls. */
    const char stream[] = "{\"type\":6}" RS "{}" RS RS "{\"type\"";
    const char *p = stream;
    size_t left = sizeof stream - 1;
    size_t lens[8];
    int n = 0;
    size_t used;
    while (n < 8 && (used = sr_proto_next_record(p, left, &plen)) > 0) {
        lens[n++] = plen;
        p += used;
        left -= used;
    }
    is_int(n, 3, "three complete records");
    is_int(lens[0], 10, "first payload");
    is_int(lens[1], 2, "second payload");
    is_int(lens[2], 0, "third payload is empty");
    IS_MEM_LIT(p, left, "{\"type\"", "the partial record stays unconsumed");

    /* The length bounds the search: an RS beyond it is not seen. */
    is_int(sr_proto_next_record(SR_STRLIT("ab" RS), &plen), 3, "RS at the end found");
    is_int(sr_proto_next_record("ab" RS, 2, &plen), 0, "RS beyond len not found");
}

/* ---------------------------------------------------------------------------------------------
 * Handshake
 */

static int handshake(const char *json, char *proto, size_t cap, long long *version, char *detail)
{
    return sr_proto_parse_handshake(json, strlen(json), proto, cap, version, detail, 256);
}

static void test_handshake_parse_valid(void)
{
    char proto[32];
    char detail[256];
    long long version = -7;

    is_int(
        handshake("{\"protocol\":\"json\",\"version\":1}", proto, sizeof proto, &version, detail),
        0, "canonical handshake parses");
    is_str(proto, "json", "protocol name");
    is_int(version, 1, "version");

    is_int(handshake("{\"version\":2,\"protocol\":\"messagepack\"}", proto, sizeof proto, &version,
                     detail),
           0, "property order does not matter");
    is_str(proto, "messagepack", "protocol name as sent");
    is_int(version, 2, "version 2");

    is_int(handshake(" {\"protocol\":\"json\",\"extra\":{\"a\":[1,2]},\"version\":1,\"x\":null} ",
                     proto, sizeof proto, &version, detail),
           0, "unknown properties and surrounding whitespace ignored");

    is_int(
        handshake("{\"protocol\":\"json\",\"version\":-3}", proto, sizeof proto, &version, detail),
        0, "negative version parses (the check decides)");
    is_int(version, -3, "negative version value");

    is_int(handshake("{\"protocol\":\"\\u006Aso\\u006e\",\"version\":1}", proto, sizeof proto,
                     &version, detail),
           0, "escaped protocol name");
    is_str(proto, "json", "escapes decoded");

    /* A name of exactly cap-1 bytes fits; cap bytes does not. */
    char small[5];
    is_int(
        handshake("{\"protocol\":\"json\",\"version\":1}", small, sizeof small, &version, detail),
        0, "name of cap-1 bytes fits");
    is_int(
        handshake("{\"protocol\":\"jsonx\",\"version\":1}", small, sizeof small, &version, detail),
        -1, "name of cap bytes is too long");
    is_str(detail, "Property 'protocol' is too long.", "too-long detail");
    is_str(small, "", "protocol left empty on failure");

    /* Not NUL-terminated input: only len bytes are read. */
    const char buf[] = "{\"protocol\":\"json\",\"version\":1}garbage";
    is_int(
        sr_proto_parse_handshake(buf, sizeof buf - 1 - 7, proto, sizeof proto, &version, NULL, 0),
        0, "parses exactly len bytes, NULL detail allowed");
}

static void test_handshake_parse_invalid(void)
{
    static const struct {
        const char *json;
        const char *detail;
    } cases[] = {
        {"{\"version\":1}", "Missing required property 'protocol'."},
        {"{\"protocol\":null,\"version\":1}", "Missing required property 'protocol'."},
        {"{\"protocol\":1,\"version\":1}", "Expected 'protocol' to be of type String."},
        {"{\"protocol\":[\"json\"],\"version\":1}", "Expected 'protocol' to be of type String."},
        {"{\"protocol\":\"json\"}", "Missing required property 'version'."},
        {"{\"protocol\":\"json\",\"version\":null}", "Missing required property 'version'."},
        {"{\"protocol\":\"json\",\"version\":\"1\"}", "Expected 'version' to be of type Number."},
        {"{\"protocol\":\"json\",\"version\":1.0}", "Expected 'version' to be of type Number."},
        {"{\"protocol\":\"json\",\"version\":true}", "Expected 'version' to be of type Number."},
        {"{\"protocol\":\"json\",\"version\":2147483648}",
         "Expected 'version' to be of type Number."},
        {"{\"protocol\":\"json\",\"version\":-2147483649}",
         "Expected 'version' to be of type Number."},
        {"{\"protocol\":\"js\\u0000on\",\"version\":1}",
         "Property 'protocol' must not contain a NUL character."},
        {"[\"json\",1]", "Unexpected JSON Token Type 'Array'. Expected a JSON Object."},
        {"1", NULL},
        {"\"json\"", NULL},
        {"", NULL},
        {"garbage", NULL},
        {"{\"protocol\":\"json\",\"version\":1", NULL},
        {"{\"protocol\":\"json\",\"version\":1}}", NULL},
        {"{\"protocol\":\"json\",\"protocol\":\"json\",\"version\":1}", NULL},
        {"{\"protocol\":\"j\xff\",\"version\":1}", NULL},
        {"{\"protocol\":\"json\",\"version\":99999999999999999999}", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char proto[32] = "unchanged";
        char detail[256] = "";
        long long version = 42;
        int rc = handshake(cases[i].json, proto, sizeof proto, &version, detail);
        is_int(rc, -1, "handshake rejected: %s", show(cases[i].json));
        if (cases[i].detail)
            is_str(detail, cases[i].detail, "detail for %s", show(cases[i].json));
        else
            ok(strncmp(detail, "Error reading JSON: ", 20) == 0, "JSON error detail: %s",
               show(detail));
        is_str(proto, "", "no protocol on failure");
    }

    char proto[32];
    long long version;
    char tiny[8];
    is_int(sr_proto_parse_handshake(SR_STRLIT("{\"version\":1}"), proto, sizeof proto, &version,
                                    tiny, sizeof tiny),
           -1, "short detail buffer");
    is_str(tiny, "Missing", "detail truncated to its buffer");
}

static void test_handshake_check(void)
{
    char err[256];
    is_int(sr_proto_handshake_check("json", 1, err, sizeof err), 0, "json v1 accepted");
    is_int(sr_proto_handshake_check("json", 2, err, sizeof err), 0, "json v2 accepted");
    is_int(sr_proto_handshake_check("json", 0, err, sizeof err), 0, "json v0 accepted (<= 2)");
    is_int(sr_proto_handshake_check("JSON", 1, err, sizeof err), 0, "name is case-insensitive");
    is_int(sr_proto_handshake_check("Json", 2, err, sizeof err), 0, "mixed case");

    is_int(sr_proto_handshake_check("json", 3, err, sizeof err), -1, "json v3 rejected");
    is_str(err, "The server does not support version 3 of the 'json' protocol.", "version text");
    is_int(sr_proto_handshake_check("JSON", 2147483647, err, sizeof err), -1, "huge version");
    is_str(err, "The server does not support version 2147483647 of the 'JSON' protocol.",
           "version text quotes the name as sent");

    is_int(sr_proto_handshake_check("messagepack", 1, err, sizeof err), 0, "messagepack v1 accepted");
    is_int(sr_proto_handshake_check("MessagePack", 2, err, sizeof err), 0, "messagepack v2, any case");
    is_int(sr_proto_handshake_check("messagepack", 3, err, sizeof err), -1, "messagepack v3 rejected");
    is_str(err, "The server does not support version 3 of the 'messagepack' protocol.",
           "messagepack version text");
    is_int(sr_proto_handshake_check("msgpack", 1, err, sizeof err), -1, "other names rejected");
    is_str(err, "The protocol 'msgpack' is not supported.", "unknown protocol text");
    is_int(sr_proto_handshake_check("", 1, err, sizeof err), -1, "empty name rejected");
    is_str(err, "The protocol '' is not supported.", "empty name text");
    is_int(sr_proto_handshake_check("jsonx", 1, err, sizeof err), -1, "prefix match rejected");
    is_int(sr_proto_handshake_check("jso", 1, err, sizeof err), -1, "short name rejected");

    char small[16];
    is_int(sr_proto_handshake_check("xml", 1, small, sizeof small), -1, "small error buffer");
    is_str(small, "The protocol 'x", "error truncated to its buffer");
}

/* ---------------------------------------------------------------------------------------------
 * Messages
 */

static int parse(const char *json, sr_msg *msg, char *err)
{
    return sr_proto_parse_message(json, strlen(json), msg, err, 256);
}

static void test_invocation(void)
{
    sr_msg m;
    char err[256] = "";

    /* As the JS client writes it: "type" last. */
    is_int(parse("{\"target\":\"Send\",\"arguments\":[\"a\",1],\"invocationId\":\"0\",\"type\":1}",
                 &m, err),
           0, "invocation, type last");
    is_int(m.type, SR_MSG_INVOCATION, "type");
    is_str(m.target, "Send", "target");
    is_str(m.invocation_id, "0", "invocationId");
    ok(json_is_array(m.arguments) && json_array_size(m.arguments) == 2, "two arguments");
    is_str(json_string_value(json_array_get(m.arguments, 0)), "a", "first argument");
    is_int(json_integer_value(json_array_get(m.arguments, 1)), 1, "second argument");
    ok(m.stream_ids == NULL && m.headers == NULL && m.item == NULL && m.result == NULL &&
           m.error == NULL,
       "absent fields are NULL");
    ok(m.root != NULL, "root owned by the message");
    sr_msg_fini(&m);
    ok(m.root == NULL && m.target == NULL, "fini clears the message");
    sr_msg_fini(&m);
    ok(1, "fini twice is harmless");

    is_int(parse("{\"type\":1,\"target\":\"Broadcast\",\"arguments\":[]}", &m, err), 0,
           "non-blocking invocation");
    ok(m.invocation_id == NULL, "no invocationId");
    is_int(json_array_size(m.arguments), 0, "empty arguments");
    sr_msg_fini(&m);

    is_int(parse("{\"type\":1,\"invocationId\":\"\",\"target\":\"x\",\"arguments\":[]}", &m, err),
           0, "empty invocationId accepted");
    ok(m.invocation_id == NULL, "empty invocationId reads as absent");
    sr_msg_fini(&m);

    is_int(parse("{\"type\":1,\"invocationId\":null,\"target\":\"x\",\"arguments\":[]}", &m, err),
           0, "null invocationId accepted");
    ok(m.invocation_id == NULL, "null invocationId reads as absent");
    sr_msg_fini(&m);

    is_int(parse("{\"type\":1,\"invocationId\":\"2\",\"target\":\"Upload\",\"arguments\":[5],"
                 "\"streamIds\":[\"0\",\"1\"],\"headers\":{\"k\":\"v\"},\"unknown\":{\"x\":[]}}",
                 &m, err),
           0, "invocation with streamIds, headers, unknown property");
    is_int(json_array_size(m.stream_ids), 2, "two stream ids");
    is_str(json_string_value(json_array_get(m.stream_ids, 1)), "1", "second stream id");
    is_str(json_string_value(json_object_get(m.headers, "k")), "v", "header value");
    sr_msg_fini(&m);

    is_int(parse("{\"type\":1,\"target\":\"x\",\"arguments\":[],\"streamIds\":null,"
                 "\"headers\":null}",
                 &m, err),
           0, "null streamIds/headers mean absent");
    ok(m.stream_ids == NULL && m.headers == NULL, "absent after null");
    sr_msg_fini(&m);

    /* Payloads keep what JSON allows, including NULs and non-ASCII. */
    is_int(parse("{\"type\":1,\"target\":\"Send\",\"arguments\":[\"a\\u0000b\",\"\xc3\xa9\\u00e9\","
                 "{\"n\":[null,true,1.5,-0]}]}",
                 &m, err),
           0, "NUL and UTF-8 inside arguments");
    is_int(json_string_length(json_array_get(m.arguments, 0)), 3, "NUL kept in argument");
    is_str(json_string_value(json_array_get(m.arguments, 1)), "\xc3\xa9\xc3\xa9", "UTF-8 decoded");
    sr_msg_fini(&m);

    /* Properties that belong to other types are ignored, not validated. */
    is_int(parse("{\"type\":1,\"target\":\"x\",\"arguments\":[],\"item\":5,\"result\":1,"
                 "\"error\":7,\"allowReconnect\":\"no\",\"sequenceId\":\"x\"}",
                 &m, err),
           0, "foreign properties ignored");
    ok(m.item == NULL && m.result == NULL && m.error == NULL, "foreign properties not exposed");
    sr_msg_fini(&m);

    /* Only len bytes are read. */
    const char buf[] = "{\"type\":1,\"target\":\"x\",\"arguments\":[]}" RS "trailing";
    is_int(sr_proto_parse_message(buf, sizeof buf - 1 - 9, &m, NULL, 0), 0,
           "parses exactly len bytes, NULL error allowed");
    sr_msg_fini(&m);
}

static void test_other_types(void)
{
    sr_msg m;
    char err[256] = "";

    is_int(parse("{\"item\":{\"a\":1},\"invocationId\":\"3\",\"type\":2}", &m, err), 0,
           "stream item, type last");
    is_int(m.type, SR_MSG_STREAM_ITEM, "type 2");
    is_str(m.invocation_id, "3", "stream item id");
    is_int(json_integer_value(json_object_get(m.item, "a")), 1, "item value");
    sr_msg_fini(&m);

    is_int(parse("{\"type\":2,\"invocationId\":\"3\",\"item\":null}", &m, err), 0,
           "null item is an item");
    ok(m.item != NULL && json_is_null(m.item), "item is JSON null, not absent");
    sr_msg_fini(&m);

    is_int(parse("{\"type\":3,\"invocationId\":\"0\",\"result\":42}", &m, err), 0,
           "completion with result");
    is_int(m.type, SR_MSG_COMPLETION, "type 3");
    is_int(json_integer_value(m.result), 42, "result");
    ok(m.error == NULL, "no error");
    sr_msg_fini(&m);

    is_int(parse("{\"result\":null,\"invocationId\":\"0\",\"type\":3}", &m, err), 0,
           "completion with null result");
    ok(m.result && json_is_null(m.result), "null result present");
    sr_msg_fini(&m);

    is_int(parse("{\"type\":3,\"invocationId\":\"1\",\"error\":\"boom\"}", &m, err), 0,
           "completion with error");
    is_str(m.error, "boom", "error text");
    ok(m.result == NULL, "no result");
    sr_msg_fini(&m);

    is_int(parse("{\"type\":3,\"invocationId\":\"1\"}", &m, err), 0, "empty completion");
    ok(m.result == NULL && m.error == NULL, "neither result nor error");
    sr_msg_fini(&m);

    is_int(parse("{\"type\":3,\"invocationId\":\"1\",\"error\":null,\"result\":\"r\"}", &m, err), 0,
           "null error with result is a result");
    is_str(json_string_value(m.result), "r", "result kept");
    ok(m.error == NULL, "null error absent");
    sr_msg_fini(&m);

    is_int(parse("{\"type\":4,\"invocationId\":\"5\",\"target\":\"Counter\",\"arguments\":[10,500],"
                 "\"streamIds\":[]}",
                 &m, err),
           0, "stream invocation");
    is_int(m.type, SR_MSG_STREAM_INVOCATION, "type 4");
    is_str(m.target, "Counter", "stream target");
    is_int(json_array_size(m.arguments), 2, "stream arguments");
    is_int(json_array_size(m.stream_ids), 0, "empty streamIds array");
    sr_msg_fini(&m);

    is_int(parse("{\"invocationId\":\"5\",\"type\":5}", &m, err), 0, "cancel invocation");
    is_int(m.type, SR_MSG_CANCEL_INVOCATION, "type 5");
    is_str(m.invocation_id, "5", "cancel id");
    sr_msg_fini(&m);

    is_int(parse("{\"type\":6}", &m, err), 0, "ping");
    is_int(m.type, SR_MSG_PING, "type 6");
    sr_msg_fini(&m);

    is_int(parse("{\"type\":6,\"target\":7,\"invocationId\":[]}", &m, err), 0,
           "ping ignores foreign properties");
    ok(m.invocation_id == NULL && m.target == NULL, "nothing exposed for a ping");
    sr_msg_fini(&m);

    is_int(parse("{\"type\":7}", &m, err), 0, "bare close");
    is_int(m.type, SR_MSG_CLOSE, "type 7");
    ok(m.error == NULL && m.allow_reconnect == 0, "no error, no reconnect");
    sr_msg_fini(&m);

    is_int(parse("{\"allowReconnect\":true,\"error\":\"bye\",\"type\":7}", &m, err), 0,
           "close with error and allowReconnect");
    is_str(m.error, "bye", "close error");
    is_int(m.allow_reconnect, 1, "allowReconnect true");
    sr_msg_fini(&m);

    is_int(parse("{\"type\":7,\"error\":null,\"allowReconnect\":false}", &m, err), 0,
           "close with null error and false");
    ok(m.error == NULL && m.allow_reconnect == 0, "null error absent, reconnect false");
    sr_msg_fini(&m);

    is_int(parse("{\"type\":8,\"sequenceId\":1394}", &m, err), 0, "ack");
    is_int(m.type, SR_MSG_ACK, "type 8");
    is_int(m.sequence_id, 1394, "ack sequenceId");
    sr_msg_fini(&m);

    is_int(parse("{\"sequenceId\":9007199254740993,\"type\":9}", &m, err), 0, "sequence");
    is_int(m.type, SR_MSG_SEQUENCE, "type 9");
    is_int(m.sequence_id, 9007199254740993LL, "64-bit sequenceId exact");
    sr_msg_fini(&m);
}

static void test_unknown_types(void)
{
    static const char *const inputs[] = {
        "{\"type\":10}",          "{\"type\":0,\"target\":5}",
        "{\"type\":-1}",          "{\"type\":2147483647,\"anything\":[1,{\"a\":null}]}",
        "{\"type\":-2147483648}", "{\"x\":1,\"type\":99}",
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        sr_msg m;
        char err[256] = "";
        is_int(parse(inputs[i], &m, err), 0, "unknown type is not an error: %s", inputs[i]);
        is_int(m.type, SR_MSG_UNKNOWN, "SR_MSG_UNKNOWN for %s", inputs[i]);
        ok(m.root != NULL, "root kept for an unknown type");
        sr_msg_fini(&m);
    }
}

static void test_malformed(void)
{
    static const struct {
        const char *json;
        const char *error; /* NULL: a JSON syntax error, checked by prefix */
    } cases[] = {
        /* not an object / not JSON */
        {"[1,2]", "Unexpected JSON Token Type 'Array'. Expected a JSON Object."},
        {"[]", "Unexpected JSON Token Type 'Array'. Expected a JSON Object."},
        {"6", NULL},
        {"null", NULL},
        {"\"type\"", NULL},
        {"", NULL},
        {"   ", NULL},
        {"{", NULL},
        {"{\"type\":1,", NULL},
        {"{\"type\":6}}", NULL},
        {"{\"type\":6} {}", NULL},
        {"{\"type\":6,}", NULL},
        {"{'type':6}", NULL},
        {"{\"type\":06}", NULL},
        {"{\"type\":6}" RS, NULL},
        {"{\"type\":6,\"type\":1}", NULL},
        {"{\"type\":1,\"target\":\"x\",\"arguments\":[{\"a\":1,\"a\":2}]}", NULL},
        {"{\"type\":1,\"target\":\"\xff\",\"arguments\":[]}", NULL},
        {"{\"type\":1,\"target\":\"x\",\"arguments\":[\"\xc0\xaf\"]}", NULL},
        {"{\"type\":1,\"target\":\"x\",\"arguments\":[\"\xed\xa0\x80\"]}", NULL},
        {"{\"type\":1,\"target\":\"x\",\"arguments\":[\"\\ud800\"]}", NULL},
        {"{\"type\":1,\"target\":\"x\",\"arguments\":[\"a\nb\"]}", NULL},
        {"{\"type\":1,\"target\":\"x\",\"arguments\":[99999999999999999999]}", NULL},
        {"{\"type\":1,\"target\":\"x\",\"arguments\":[1e400]}", NULL},
        {"{\"type\":1,\"target\":\"x\",\"arguments\":[NaN]}", NULL},
        /* type */
        {"{}", "Missing required property 'type'."},
        {"{\"type\":null}", "Missing required property 'type'."},
        {"{\"target\":\"x\",\"arguments\":[]}", "Missing required property 'type'."},
        {"{\"type\":\"1\"}", "Expected 'type' to be of type Number."},
        {"{\"type\":1.0}", "Expected 'type' to be of type Number."},
        {"{\"type\":true}", "Expected 'type' to be of type Number."},
        {"{\"type\":[1]}", "Expected 'type' to be of type Number."},
        {"{\"type\":2147483648}", "Expected 'type' to be of type Number."},
        {"{\"type\":-2147483649}", "Expected 'type' to be of type Number."},
        /* Invocation */
        {"{\"type\":1,\"arguments\":[]}", "Missing required property 'target'."},
        {"{\"type\":1,\"target\":\"\",\"arguments\":[]}", "Missing required property 'target'."},
        {"{\"type\":1,\"target\":null,\"arguments\":[]}", "Missing required property 'target'."},
        {"{\"type\":1,\"target\":5,\"arguments\":[]}", "Expected 'target' to be of type String."},
        {"{\"type\":1,\"target\":\"a\\u0000b\",\"arguments\":[]}",
         "Property 'target' must not contain a NUL character."},
        {"{\"type\":1,\"target\":\"x\"}", "Missing required property 'arguments'."},
        {"{\"type\":1,\"target\":\"x\",\"arguments\":null}",
         "Expected 'arguments' to be of type Array."},
        {"{\"type\":1,\"target\":\"x\",\"arguments\":{}}",
         "Expected 'arguments' to be of type Array."},
        {"{\"type\":1,\"target\":\"x\",\"arguments\":\"a\"}",
         "Expected 'arguments' to be of type Array."},
        {"{\"type\":1,\"invocationId\":1,\"target\":\"x\",\"arguments\":[]}",
         "Expected 'invocationId' to be of type String."},
        {"{\"type\":1,\"invocationId\":\"1\\u0000\",\"target\":\"x\",\"arguments\":[]}",
         "Property 'invocationId' must not contain a NUL character."},
        {"{\"type\":1,\"target\":\"x\",\"arguments\":[],\"streamIds\":\"0\"}",
         "Expected 'streamIds' to be of type Array."},
        {"{\"type\":1,\"target\":\"x\",\"arguments\":[],\"streamIds\":[0]}",
         "Expected 'streamIds' to contain non-empty strings."},
        {"{\"type\":1,\"target\":\"x\",\"arguments\":[],\"streamIds\":[null]}",
         "Expected 'streamIds' to contain non-empty strings."},
        {"{\"type\":1,\"target\":\"x\",\"arguments\":[],\"streamIds\":[\"\"]}",
         "Expected 'streamIds' to contain non-empty strings."},
        {"{\"type\":1,\"target\":\"x\",\"arguments\":[],\"headers\":[]}",
         "Expected 'headers' to be of type Object."},
        {"{\"type\":1,\"target\":\"x\",\"arguments\":[],\"headers\":{\"k\":1}}",
         "Expected header 'k' to be of type String."},
        {"{\"type\":1,\"target\":\"x\",\"arguments\":[],\"headers\":{\"k\":null}}",
         "Expected header 'k' to be of type String."},
        /* StreamItem */
        {"{\"type\":2,\"item\":1}", "Missing required property 'invocationId'."},
        {"{\"type\":2,\"invocationId\":\"\",\"item\":1}",
         "Missing required property 'invocationId'."},
        {"{\"type\":2,\"invocationId\":\"1\"}", "Missing required property 'item'."},
        {"{\"type\":2,\"invocationId\":7,\"item\":1}",
         "Expected 'invocationId' to be of type String."},
        /* Completion */
        {"{\"type\":3,\"result\":1}", "Missing required property 'invocationId'."},
        {"{\"type\":3,\"invocationId\":null}", "Missing required property 'invocationId'."},
        {"{\"type\":3,\"invocationId\":\"1\",\"result\":1,\"error\":\"e\"}",
         "The 'error' and 'result' properties are mutually exclusive."},
        {"{\"type\":3,\"invocationId\":\"1\",\"error\":\"e\",\"result\":null}",
         "The 'error' and 'result' properties are mutually exclusive."},
        {"{\"type\":3,\"invocationId\":\"1\",\"error\":5}",
         "Expected 'error' to be of type String."},
        {"{\"type\":3,\"invocationId\":\"1\",\"error\":{\"message\":\"e\"}}",
         "Expected 'error' to be of type String."},
        /* StreamInvocation */
        {"{\"type\":4,\"target\":\"x\",\"arguments\":[]}",
         "Missing required property 'invocationId'."},
        {"{\"type\":4,\"invocationId\":\"1\",\"target\":\"x\"}",
         "Missing required property 'arguments'."},
        {"{\"type\":4,\"invocationId\":\"1\",\"arguments\":[]}",
         "Missing required property 'target'."},
        {"{\"type\":4,\"invocationId\":\"1\",\"target\":\"x\",\"arguments\":[],\"streamIds\":{}}",
         "Expected 'streamIds' to be of type Array."},
        /* CancelInvocation */
        {"{\"type\":5}", "Missing required property 'invocationId'."},
        {"{\"type\":5,\"invocationId\":true}", "Expected 'invocationId' to be of type String."},
        {"{\"type\":5,\"invocationId\":\"1\",\"headers\":\"h\"}",
         "Expected 'headers' to be of type Object."},
        /* Close */
        {"{\"type\":7,\"error\":1}", "Expected 'error' to be of type String."},
        {"{\"type\":7,\"allowReconnect\":\"true\"}",
         "Expected 'allowReconnect' to be true or false."},
        {"{\"type\":7,\"allowReconnect\":1}", "Expected 'allowReconnect' to be true or false."},
        {"{\"type\":7,\"allowReconnect\":null}", "Expected 'allowReconnect' to be true or false."},
        /* Ack / Sequence */
        {"{\"type\":8}", "Missing required property 'sequenceId'."},
        {"{\"type\":9,\"sequenceId\":null}", "Missing required property 'sequenceId'."},
        {"{\"type\":8,\"sequenceId\":\"1\"}", "Expected 'sequenceId' to be of type Number."},
        {"{\"type\":9,\"sequenceId\":1.5}", "Expected 'sequenceId' to be of type Number."},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sr_msg m;
        char err[256] = "";
        memset(&m, 0x5a, sizeof m); /* garbage in: parse must not trust it */
        int rc = parse(cases[i].json, &m, err);
        is_int(rc, -1, "rejected: %s", show(cases[i].json));
        if (cases[i].error)
            is_str(err, cases[i].error, "error for %s", show(cases[i].json));
        else
            ok(strncmp(err, "Error reading JSON: ", 20) == 0, "JSON error: %s", show(err));
        ok(m.root == NULL && m.type == SR_MSG_UNKNOWN && m.target == NULL &&
               m.invocation_id == NULL && m.arguments == NULL,
           "message empty after failure");
        sr_msg_fini(&m);
    }

    /* A message with a raw NUL byte: the length, not strlen, counts. */
    sr_msg m;
    char err[256] = "";
    is_int(sr_proto_parse_message(SR_STRLIT("{\"type\":6}\0"), &m, err, sizeof err), -1,
           "raw NUL after the object rejected");
    is_int(sr_proto_parse_message(SR_STRLIT("{\"type\":6,\"x\":\"a\0b\"}"), &m, err, sizeof err),
           -1, "raw NUL inside a string rejected");
}

static void append_nested(char *buf, size_t cap, int depth, const char *inner)
{
    /* {"type":1,"target":"x","arguments":[ ... ]} where the arguments array adds one level. */
    size_t n = (size_t)snprintf(buf, cap, "{\"type\":1,\"target\":\"x\",\"arguments\":");
    for (int i = 0; i < depth; i++)
        buf[n++] = '[';
    n += (size_t)snprintf(buf + n, cap - n, "%s", inner);
    for (int i = 0; i < depth; i++)
        buf[n++] = ']';
    buf[n++] = '}';
    buf[n] = '\0';
}

static void test_depth(void)
{
    char buf[16384];
    sr_msg m;
    char err[256] = "";

    /* The object is level 1, so 63 brackets reach the cap of 64 exactly. */
    append_nested(buf, sizeof buf, 63, "1");
    is_int(parse(buf, &m, err), 0, "64 levels accepted");
    sr_msg_fini(&m);

    append_nested(buf, sizeof buf, 64, "1");
    is_int(parse(buf, &m, err), -1, "65 levels rejected");
    is_str(err, "Error reading JSON: nesting deeper than 64 levels.", "depth error text");

    append_nested(buf, sizeof buf, 5000, "");
    is_int(parse(buf, &m, err), -1, "5000 levels rejected without recursion");

    /* Brackets inside strings, including after escaped quotes, do not count. */
    char s[2048];
    size_t n = (size_t)snprintf(s, sizeof s, "\"\\\"");
    for (int i = 0; i < 200; i++)
        s[n++] = '[';
    s[n++] = '"';
    s[n] = '\0';
    append_nested(buf, sizeof buf, 1, s);
    is_int(parse(buf, &m, err), 0, "brackets inside a string are text");
    is_int(json_string_length(json_array_get(m.arguments, 0)), 201, "string kept whole");
    sr_msg_fini(&m);

    /* Unbalanced closers must not let a later opener run past the cap unnoticed. */
    is_int(parse("{\"type\":6}]]]]", &m, err), -1, "trailing closers are a syntax error");
}

/* ---------------------------------------------------------------------------------------------
 * Encoders
 */

#define IS_OUT(buf, want, ...) IS_MEM_LIT((buf).ptr, (buf).len, want, __VA_ARGS__)

static void test_encoders(void)
{
    sr_buf b = SR_BUF_INIT;

    sr_proto_write_handshake_ok(&b);
    IS_OUT(b, "{}" RS, "handshake ok");
    sr_buf_reset(&b);

    sr_proto_write_handshake_error(&b, "The protocol 'messagepack' is not supported.");
    IS_OUT(b, "{\"error\":\"The protocol 'messagepack' is not supported.\"}" RS, "handshake error");
    sr_buf_reset(&b);

    sr_proto_write_completion_result(&b, "0", NULL);
    IS_OUT(b, "{\"type\":3,\"invocationId\":\"0\",\"result\":null}" RS, "void result");
    sr_buf_reset(&b);

    json_t *v = json_pack("{s:i,s:[s,b]}", "n", 1, "l", "x", 1);
    sr_proto_write_completion_result(&b, "4", v);
    IS_OUT(b, "{\"type\":3,\"invocationId\":\"4\",\"result\":{\"n\":1,\"l\":[\"x\",true]}}" RS,
           "object result in insertion order");
    is_int((long long)v->refcount, 1, "result borrowed, not stolen");
    json_decref(v);
    sr_buf_reset(&b);

    json_t *str = json_string("hi");
    sr_proto_write_completion_result(&b, "5", str);
    IS_OUT(b, "{\"type\":3,\"invocationId\":\"5\",\"result\":\"hi\"}" RS, "string result");
    json_decref(str);
    sr_buf_reset(&b);

    sr_proto_write_completion_error(&b, "0",
                                    "An unexpected error occurred invoking 'X' on the "
                                    "server.");
    IS_OUT(b,
           "{\"type\":3,\"invocationId\":\"0\",\"error\":\"An unexpected error occurred invoking "
           "'X' on the server.\"}" RS,
           "error completion");
    sr_buf_reset(&b);

    sr_proto_write_completion_empty(&b, "1");
    IS_OUT(b, "{\"type\":3,\"invocationId\":\"1\"}" RS, "empty completion");
    sr_buf_reset(&b);

    json_t *five = json_integer(5);
    sr_proto_write_stream_item(&b, "1", five);
    IS_OUT(b, "{\"type\":2,\"invocationId\":\"1\",\"item\":5}" RS, "stream item");
    json_decref(five);
    sr_buf_reset(&b);

    sr_proto_write_stream_item(&b, "1", NULL);
    IS_OUT(b, "{\"type\":2,\"invocationId\":\"1\",\"item\":null}" RS, "null stream item");
    sr_buf_reset(&b);

    json_t *args = json_pack("[s,i]", "bob", 2);
    sr_proto_write_invocation(&b, NULL, "receive", args);
    IS_OUT(b, "{\"type\":1,\"target\":\"receive\",\"arguments\":[\"bob\",2]}" RS, "invocation");
    sr_buf_reset(&b);
    sr_proto_write_invocation(&b, "7", "x", args);
    IS_OUT(b, "{\"type\":1,\"invocationId\":\"7\",\"target\":\"x\",\"arguments\":[\"bob\",2]}" RS,
           "invocation with id right after type");
    sr_buf_reset(&b);
    sr_proto_write_invocation(&b, "", "x", NULL);
    IS_OUT(b, "{\"type\":1,\"target\":\"x\",\"arguments\":[]}" RS,
           "empty id omitted, NULL args written as []");
    is_int((long long)args->refcount, 1, "args borrowed");
    json_decref(args);
    sr_buf_reset(&b);

    sr_proto_write_ping(&b);
    IS_OUT(b, "{\"type\":6}" RS, "ping");
    sr_buf_reset(&b);

    sr_proto_write_close(&b, NULL, 0);
    IS_OUT(b, "{\"type\":7}" RS, "close");
    sr_buf_reset(&b);
    sr_proto_write_close(&b, NULL, 1);
    IS_OUT(b, "{\"type\":7,\"allowReconnect\":true}" RS, "close with reconnect");
    sr_buf_reset(&b);
    sr_proto_write_close(&b, "Connection closed with an error.", 1);
    IS_OUT(b,
           "{\"type\":7,\"error\":\"Connection closed with an error.\",\"allowReconnect\":true}" RS,
           "close with error and reconnect");
    sr_buf_reset(&b);
    sr_proto_write_close(&b, "e", 0);
    IS_OUT(b, "{\"type\":7,\"error\":\"e\"}" RS, "close with error only");
    sr_buf_reset(&b);

    /* Records append: several in one buffer, as a poll response carries them. */
    sr_proto_write_handshake_ok(&b);
    sr_proto_write_ping(&b);
    sr_proto_write_completion_empty(&b, "9");
    IS_OUT(b, "{}" RS "{\"type\":6}" RS "{\"type\":3,\"invocationId\":\"9\"}" RS,
           "records accumulate");
    sr_buf_reset(&b);

    /* Escaping: control characters escaped (no raw LF for SSE), UTF-8 kept as is. */
    sr_proto_write_completion_error(&b, "1", "line1\nline2\r\t\"q\" \\ \x01 \xc3\xa9 \xe2\x80\xa8");
    IS_OUT(b,
           "{\"type\":3,\"invocationId\":\"1\",\"error\":\"line1\\nline2\\r\\t\\\"q\\\" \\\\ "
           "\\u0001 \xc3\xa9 \xe2\x80\xa8\"}" RS,
           "escapes and raw UTF-8");
    ok(memchr(b.ptr, '\n', b.len) == NULL && memchr(b.ptr, '\r', b.len) == NULL,
       "no raw CR/LF in a record");
    sr_buf_reset(&b);

    /* Bad UTF-8 in a C string: each bad byte becomes U+FFFD instead of a failure. */
    sr_proto_write_completion_error(&b, "1", "ab\xc3");
    IS_OUT(b, "{\"type\":3,\"invocationId\":\"1\",\"error\":\"ab\xef\xbf\xbd\"}" RS,
           "truncated sequence replaced");
    sr_buf_reset(&b);
    sr_proto_write_handshake_error(&b, "\xff\xc0\xaf\xed\xa0\x80x\xf4\x90\x80\x80\xe2\x82\xac");
    IS_OUT(b,
           "{\"error\":\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
           "x\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xe2\x82\xac\"}" RS,
           "invalid bytes, overlong, surrogate, >U+10FFFF replaced; valid kept");
    sr_buf_reset(&b);
    sr_proto_write_invocation(&b, "\x80", "t\xfe", NULL);
    IS_OUT(b,
           "{\"type\":1,\"invocationId\":\"\xef\xbf\xbd\",\"target\":\"t\xef\xbf\xbd\","
           "\"arguments\":[]}" RS,
           "ids and targets sanitized too");
    sr_buf_reset(&b);

    /* Reals: jansson writes them losslessly. */
    json_t *real = json_real(1.5);
    sr_proto_write_stream_item(&b, "1", real);
    IS_OUT(b, "{\"type\":2,\"invocationId\":\"1\",\"item\":1.5}" RS, "real item");
    json_decref(real);

    sr_buf_fini(&b);
}

static void test_round_trip(void)
{
    sr_buf b = SR_BUF_INIT;
    json_t *args = json_pack("[s,{s:[i,n]}]", "\xc3\xa9t\xc3\xa9\n", "k", -12, NULL);
    sr_proto_write_invocation(&b, "42", "Echo", args);

    size_t plen;
    size_t used = sr_proto_next_record(b.ptr, b.len, &plen);
    is_int(used, b.len, "encoded invocation is one record");

    sr_msg m;
    char err[256] = "";
    is_int(sr_proto_parse_message(b.ptr, plen, &m, err, sizeof err), 0, "re-parses");
    is_int(m.type, SR_MSG_INVOCATION, "type survives");
    is_str(m.invocation_id, "42", "id survives");
    is_str(m.target, "Echo", "target survives");
    ok(json_equal(m.arguments, args), "arguments survive");
    sr_msg_fini(&m);
    json_decref(args);

    sr_buf_reset(&b);
    sr_proto_write_close(&b, "bye", 1);
    used = sr_proto_next_record(b.ptr, b.len, &plen);
    is_int(sr_proto_parse_message(b.ptr, plen, &m, err, sizeof err), 0, "close re-parses");
    is_str(m.error, "bye", "close error survives");
    is_int(m.allow_reconnect, 1, "allowReconnect survives");
    sr_msg_fini(&m);

    sr_buf_fini(&b);
}

int main(void)
{
    test_records();
    test_handshake_parse_valid();
    test_handshake_parse_invalid();
    test_handshake_check();
    test_invocation();
    test_other_types();
    test_unknown_types();
    test_malformed();
    test_depth();
    test_encoders();
    test_round_trip();
    return done_testing();
}
