/*
 * sr_mpproto.c — the MessagePack hub protocol as a translation of JSON records (see
 * sr_mpproto.h).
 *
 * DESIGN: the array layouts are those of ASP.NET's MessagePackHubProtocol and of the JS client's
 * MessagePackHubProtocol.ts (protocol.md §7.7):
 *   [1, headers, invocationId|nil, target, [args], [streamIds]]     Invocation
 *   [2, headers, invocationId, item]                                StreamItem
 *   [3, headers, invocationId, 1, error] / [.., 2] / [.., 3, result] Completion
 *   [4, headers, invocationId, target, [args], [streamIds]]         StreamInvocation
 *   [5, headers, invocationId]                                      CancelInvocation
 *   [6]                                                             Ping
 *   [7, error|nil, allowReconnect]                                  Close
 *   [8, sequenceId] / [9, sequenceId]                               Ack / Sequence
 * Inbound, only the layout is checked here (array, enough elements, result kind); everything
 * else is put into the JSON record positionally and sr_proto_parse_message() judges it, so a
 * MessagePack client gets exactly the Close error a JSON client would for the same mistake.
 * Outbound, the server writes what ASP.NET writes: headers always present (the JS client
 * requires a map), an Invocation's streamIds always present, a Close always with three elements.
 * Delivery to JSON connections parses a record only when its bytes contain the wrapper prefix,
 * so the ordinary record costs one memmem.
 */
#include "config.h"

#include "sr_mpproto.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "signalr-fcgi.h"
#include "sr_log.h"
#include "sr_msgpack.h"
#include "sr_proto.h"

#define WRAPPER_PREFIX "\"$sr:"

int sr_mpproto_is_messagepack(const char *protocol)
{
    return protocol && !strcasecmp(protocol, "messagepack");
}

int sr_mpproto_transport_check(const char *protocol, const char *transport, char *error,
                               size_t error_cap)
{
    /* Only long polling carries binary. A handshake POSTed before any transport request (no
     * official client does that) is refused too: an SSE request could still come and take the
     * connection. */
    if (!sr_mpproto_is_messagepack(protocol) || (transport && !strcmp(transport, "LongPolling")))
        return 0;
    /* ASP.NET quotes its protocol object's name here, not the client's spelling. */
    snprintf(error, error_cap,
             "Cannot use the 'messagepack' protocol on the current transport. The transport "
             "does not support 'Binary' transfer format.");
    return -1;
}

/* ---------------------------------------------------------------------------------------------
 * Inbound: MessagePack message -> JSON record
 */

static int set_error(char *error, size_t cap, const char *why)
{
    if (error && cap)
        snprintf(error, cap, "%s", why);
    return -1;
}

/* Puts element @p i of @p a under @p key, unless it is nil or missing. */
static void put_from(json_t *record, const char *key, json_t *a, size_t i)
{
    json_t *v = json_array_get(a, i);
    if (v && !json_is_null(v))
        json_object_set(record, key, v);
}

/* The headers map: kept only when it has entries (an empty map is what clients send). */
static void put_headers(json_t *record, json_t *a)
{
    json_t *h = json_array_get(a, 1);
    if (!json_is_object(h) || json_object_size(h) > 0)
        put_from(record, "headers", a, 1);
}

/* The smallest element count of each message type's array (index = type). */
static const size_t min_elements[] = {1, 5, 4, 4, 5, 3, 1, 1, 2, 2};

static int build_record(json_t *a, json_t *record, char *error, size_t error_cap)
{
    json_t *type = json_array_get(a, 0);
    if (!json_is_integer(type))
        return set_error(error, error_cap, "the message type is not an integer");
    json_int_t t = json_integer_value(type);
    json_object_set_new(record, "type", json_integer(t));
    if (t < 1 || t > 9)
        return 0; /* unknown: the dispatcher ignores it, as ASP.NET does */
    if (json_array_size(a) < min_elements[t])
        return set_error(error, error_cap, "too few elements for the message type");
    switch (t) {
    case SR_MSG_INVOCATION:
    case SR_MSG_STREAM_INVOCATION:
        put_headers(record, a);
        put_from(record, "invocationId", a, 2);
        put_from(record, "target", a, 3);
        put_from(record, "arguments", a, 4);
        put_from(record, "streamIds", a, 5);
        return 0;
    case SR_MSG_STREAM_ITEM:
        put_headers(record, a);
        put_from(record, "invocationId", a, 2);
        json_object_set(record, "item", json_array_get(a, 3));
        return 0;
    case SR_MSG_COMPLETION: {
        put_headers(record, a);
        put_from(record, "invocationId", a, 2);
        json_t *kind = json_array_get(a, 3);
        json_int_t k = json_is_integer(kind) ? json_integer_value(kind) : 0;
        if (k == 2)
            return 0;
        if ((k != 1 && k != 3) || json_array_size(a) < 5)
            return set_error(error, error_cap, "invalid invocation result kind");
        json_object_set(record, k == 1 ? "error" : "result", json_array_get(a, 4));
        return 0;
    }
    case SR_MSG_CANCEL_INVOCATION:
        put_headers(record, a);
        put_from(record, "invocationId", a, 2);
        return 0;
    case SR_MSG_CLOSE:
        put_from(record, "error", a, 1);
        put_from(record, "allowReconnect", a, 2);
        return 0;
    case SR_MSG_ACK:
    case SR_MSG_SEQUENCE:
        put_from(record, "sequenceId", a, 1);
        return 0;
    default: /* Ping */
        return 0;
    }
}

int sr_mpproto_to_json(const char *payload, size_t len, sr_buf *json, char *error,
                       size_t error_cap)
{
    json_t *a = sr_msgpack_decode(payload, len, error, error_cap);
    if (!a)
        return -1;
    if (!json_is_array(a) || json_array_size(a) == 0) {
        json_decref(a);
        return set_error(error, error_cap, "a MessagePack message must be a non-empty array");
    }
    json_t *record = json_object();
    int rc = build_record(a, record, error, error_cap);
    if (rc == 0) {
        char *text = json_dumps(record, JSON_COMPACT);
        sr_buf_appends(json, text);
        free(text);
    }
    json_decref(record);
    json_decref(a);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Outbound: JSON record -> MessagePack frame
 */

static void put_field(sr_buf *out, json_t *record, const char *key)
{
    json_t *v = json_object_get(record, key);
    sr_msgpack_encode(out, v ? v : json_null());
}

/* The headers map, {} when the record has none. */
static void put_header_map(sr_buf *out, json_t *record)
{
    json_t *h = json_object_get(record, "headers");
    if (json_is_object(h))
        sr_msgpack_encode(out, h);
    else
        sr_buf_appendc(out, (char)0x80);
}

/* An array field, [] when the record has none (arguments, streamIds). */
static void put_array_field(sr_buf *out, json_t *record, const char *key)
{
    json_t *a = json_object_get(record, key);
    if (json_is_array(a))
        sr_msgpack_encode(out, a);
    else
        sr_msgpack_encode_array_header(out, 0);
}

/* The message array of one record into @p m; 0 when the record has no type we write. */
static int encode_record(json_t *record, sr_buf *m)
{
    /* a number, not an integer: a record read with JSON_DECODE_INT_AS_REAL has type 2.0 */
    double type = json_number_value(json_object_get(record, "type"));
    json_int_t t = type >= 1 && type <= 9 && type == (json_int_t)type ? (json_int_t)type : 0;
    switch (t) {
    case SR_MSG_INVOCATION:
    case SR_MSG_STREAM_INVOCATION:
        sr_msgpack_encode_array_header(m, 6);
        sr_buf_appendc(m, (char)t);
        put_header_map(m, record);
        put_field(m, record, "invocationId");
        put_field(m, record, "target");
        put_array_field(m, record, "arguments");
        put_array_field(m, record, "streamIds");
        return 1;
    case SR_MSG_STREAM_ITEM:
        sr_msgpack_encode_array_header(m, 4);
        sr_buf_appendc(m, SR_MSG_STREAM_ITEM);
        put_header_map(m, record);
        put_field(m, record, "invocationId");
        put_field(m, record, "item");
        return 1;
    case SR_MSG_COMPLETION: {
        json_t *error = json_object_get(record, "error");
        json_t *result = json_object_get(record, "result");
        sr_msgpack_encode_array_header(m, error || result ? 5 : 4);
        sr_buf_appendc(m, SR_MSG_COMPLETION);
        put_header_map(m, record);
        put_field(m, record, "invocationId");
        sr_buf_appendc(m, error ? 1 : result ? 3 : 2);
        if (error || result)
            sr_msgpack_encode(m, error ? error : result);
        return 1;
    }
    case SR_MSG_CANCEL_INVOCATION:
        sr_msgpack_encode_array_header(m, 3);
        sr_buf_appendc(m, SR_MSG_CANCEL_INVOCATION);
        put_header_map(m, record);
        put_field(m, record, "invocationId");
        return 1;
    case SR_MSG_PING:
        sr_msgpack_encode_array_header(m, 1);
        sr_buf_appendc(m, SR_MSG_PING);
        return 1;
    case SR_MSG_CLOSE:
        sr_msgpack_encode_array_header(m, 3);
        sr_buf_appendc(m, SR_MSG_CLOSE);
        put_field(m, record, "error");
        sr_msgpack_encode(m, json_boolean(json_is_true(json_object_get(record, "allowReconnect"))));
        return 1;
    case SR_MSG_ACK:
    case SR_MSG_SEQUENCE:
        sr_msgpack_encode_array_header(m, 2);
        sr_buf_appendc(m, (char)t);
        put_field(m, record, "sequenceId");
        return 1;
    default:
        return 0;
    }
}

/* Replaces every wrapper in @p v by its string, in place; returns the (possibly new) value. */
static json_t *unwrap(json_t *v)
{
    const char *text = sr_msgpack_wrapped_text(v);
    if (text) {
        json_t *s = json_string(text);
        json_decref(v);
        return s;
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            json_array_set_new(v, i, unwrap(json_incref(json_array_get(v, i))));
    } else if (json_is_object(v)) {
        const char *key;
        json_t *child;
        json_object_foreach(v, key, child) {
            json_object_set_new(v, key, unwrap(json_incref(child)));
        }
    }
    return v;
}

static void deliver_record(int binary, const char *p, size_t n, sr_buf *out)
{
    /* U+0000 inside a string is valid JSON and a valid MessagePack str. */
    const size_t flags = JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL;
    json_error_t jerr;
    json_t *record = json_loadb(p, n, flags, &jerr);
    if (!record) /* a number beyond int64 from an outside producer: keep it as a real */
        record = json_loadb(p, n, flags | JSON_DECODE_INT_AS_REAL, &jerr);
    if (!json_is_object(record)) {
        sr_log_warn("a log record that is not a JSON object was not delivered: %s", jerr.text);
        json_decref(record);
        return;
    }
    if (!binary) {
        record = unwrap(record);
        char *text = json_dumps(record, JSON_COMPACT);
        sr_buf_appends(out, text);
        sr_buf_appendc(out, SR_RS);
        free(text);
        json_decref(record);
        return;
    }
    sr_buf m = SR_BUF_INIT;
    if (encode_record(record, &m)) {
        sr_msgpack_frame_prefix(out, m.len);
        sr_buf_append(out, m.ptr, m.len);
    } else {
        sr_log_debug("a record of unknown type was not delivered to a MessagePack client");
    }
    sr_buf_fini(&m);
    json_decref(record);
}

void sr_mpproto_deliver(int binary, const char *body, size_t len, sr_buf *out)
{
    if (!binary && !memmem(body, len, WRAPPER_PREFIX, sizeof WRAPPER_PREFIX - 1)) {
        sr_buf_append(out, body, len);
        return;
    }
    size_t off = 0, payload_len, used;
    while ((used = sr_proto_next_record(body + off, len - off, &payload_len)) > 0) {
        deliver_record(binary, body + off, payload_len, out);
        off += used;
    }
}
