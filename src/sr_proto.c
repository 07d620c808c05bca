/*
 * sr_proto.c — the SignalR JSON hub protocol: record framing, handshake, message parsing and
 * encoding (see sr_proto.h).
 *
 * DESIGN. Every record is one UTF-8 JSON object followed by RS (protocol.md §7.2). Parsing loads
 * the whole payload with jansson and then validates it the way ASP.NET's JsonHubProtocol binds
 * messages (§7.3): required properties per type, "Missing required property 'x'." and "Expected
 * 'x' to be of type T." texts, Completion's result/error exclusivity, unknown properties skipped
 * and unknown types ignored. Properties that do not belong to a message's type are treated as
 * unknown, and JSON null stands for "absent" in optional properties. The parser is stricter than
 * ASP.NET where a lax answer would let two readers see different messages: duplicate keys are
 * rejected, and so are NULs (\u0000) in the strings exposed as C strings (ids, target, error,
 * headers), because the C side would silently truncate them; NULs inside arguments and results
 * stay allowed, as they are legal JSON. Nesting is capped at 64 levels (System.Text.Json's
 * default MaxDepth) by a byte scan before jansson runs, so hostile depth never reaches its
 * recursive descent. Integers beyond 64 bits and reals beyond double range are rejected by
 * jansson itself, which is acceptable for a chat-style protocol.
 *
 * Encoders build a jansson object in ASP.NET's property order ("type" first) and dump it compact,
 * without ASCII escaping, straight into the caller's sr_buf. jansson escapes control characters,
 * so a record never contains a raw LF and is safe inside an SSE "data:" line. C strings handed to
 * the encoders that are not valid UTF-8 (e.g. an error text truncated inside a multibyte
 * character) get U+FFFD for each bad byte, as .NET's encoder does, instead of failing. A json_t
 * that jansson cannot encode (a reference cycle, or a *_nocheck string with bad UTF-8) is a bug
 * in the caller and aborts.
 *
 * Pure: no I/O, no global state; safe from any thread (jansson's refcounts are atomic).
 */
#include "config.h"

#include "sr_proto.h"

#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sr_mem.h"

/* System.Text.Json's default MaxDepth, which ASP.NET's hub protocol uses. */
#define MAX_DEPTH 64

#define LOAD_FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)
#define DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

/* JsonHubProtocol's version; IsVersionSupported accepts anything up to it. */
#define JSON_PROTOCOL_VERSION 2

/* ---------------------------------------------------------------------------------------------
 * Framing
 */

size_t sr_proto_next_record(const char *buf, size_t len, size_t *payload_len)
{
    const char *rs = len ? memchr(buf, SR_RS, len) : NULL;
    if (!rs)
        return 0;
    *payload_len = (size_t)(rs - buf);
    return *payload_len + 1;
}

/* ---------------------------------------------------------------------------------------------
 * Parsing helpers
 */

static void set_error(char *error, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *error, size_t cap, const char *fmt, ...)
{
    if (!error || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error, cap, fmt, ap);
    va_end(ap);
}

/*
 * jansson quotes the offending input in its messages ("near '...'"); the text ends up in logs
 * and possibly in a Close message, so keep only printable ASCII.
 */
static void copy_printable(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    dst[i] = '\0';
}

/*
 * Returns nonzero when the containers in p[0..len) nest deeper than MAX_DEPTH. Only brackets
 * outside strings count; malformed JSON is left for jansson to reject.
 */
static int is_too_deep(const char *p, size_t len)
{
    int depth = 0;
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > MAX_DEPTH)
                return 1;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 0;
}

/* Loads a payload that must be a JSON object; NULL and an explanation otherwise. */
static json_t *load_object(const char *payload, size_t len, char *error, size_t cap)
{
    if (is_too_deep(payload, len)) {
        set_error(error, cap, "Error reading JSON: nesting deeper than %d levels.", MAX_DEPTH);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(payload, len, LOAD_FLAGS, &jerr);
    if (!root) {
        char text[JSON_ERROR_TEXT_LENGTH];
        copy_printable(text, sizeof text, jerr.text);
        set_error(error, cap, "Error reading JSON: %s (byte %d).", text, jerr.position);
        return NULL;
    }
    if (!json_is_object(root)) {
        /* Scalars never get here: without JSON_DECODE_ANY jansson only accepts containers. */
        set_error(error, cap, "Unexpected JSON Token Type 'Array'. Expected a JSON Object.");
        json_decref(root);
        return NULL;
    }
    return root;
}

static int has_nul(const json_t *s)
{
    return strlen(json_string_value(s)) != json_string_length(s);
}

/*
 * Reads string property @p key of @p obj into *out. Returns 1 when present, 0 when absent or
 * null, -1 (with an explanation) when it is not a string or holds a NUL.
 */
static int get_string(json_t *obj, const char *key, const char **out, char *error, size_t cap)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        set_error(error, cap, "Expected '%s' to be of type String.", key);
        return -1;
    }
    if (has_nul(v)) {
        set_error(error, cap, "Property '%s' must not contain a NUL character.", key);
        return -1;
    }
    *out = json_string_value(v);
    return 1;
}

/*
 * A required string property: absent, null and "" are all "missing", as ASP.NET's binders test
 * string.IsNullOrEmpty.
 */
static int get_required_string(json_t *obj, const char *key, const char **out, char *error,
                               size_t cap)
{
    int rc = get_string(obj, key, out, error, cap);
    if (rc < 0)
        return -1;
    if (rc == 0 || (*out)[0] == '\0') {
        *out = NULL;
        set_error(error, cap, "Missing required property '%s'.", key);
        return -1;
    }
    return 0;
}

static int get_arguments(sr_msg *msg, char *error, size_t cap)
{
    json_t *v = json_object_get(msg->root, "arguments");
    if (!v) {
        set_error(error, cap, "Missing required property 'arguments'.");
        return -1;
    }
    if (!json_is_array(v)) {
        set_error(error, cap, "Expected 'arguments' to be of type Array.");
        return -1;
    }
    msg->arguments = v;
    return 0;
}

static int get_stream_ids(sr_msg *msg, char *error, size_t cap)
{
    json_t *v = json_object_get(msg->root, "streamIds");
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v)) {
        set_error(error, cap, "Expected 'streamIds' to be of type Array.");
        return -1;
    }
    size_t i;
    json_t *id;
    json_array_foreach(v, i, id) {
        if (!json_is_string(id) || has_nul(id) || json_string_length(id) == 0) {
            set_error(error, cap, "Expected 'streamIds' to contain non-empty strings.");
            return -1;
        }
    }
    msg->stream_ids = v;
    return 0;
}

static int get_headers(sr_msg *msg, char *error, size_t cap)
{
    json_t *v = json_object_get(msg->root, "headers");
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v)) {
        set_error(error, cap, "Expected 'headers' to be of type Object.");
        return -1;
    }
    const char *key;
    json_t *value;
    json_object_foreach(v, key, value) {
        if (!json_is_string(value) || has_nul(value)) {
            /* Keys can hold NULs too; %s stops at the first one, which is all a log needs. */
            set_error(error, cap, "Expected header '%s' to be of type String.", key);
            return -1;
        }
    }
    msg->headers = v;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Per-type binding, in the order ASP.NET's Bind*Message checks
 */

static int bind_invocation(sr_msg *msg, char *error, size_t cap)
{
    if (get_string(msg->root, "invocationId", &msg->invocation_id, error, cap) < 0)
        return -1;
    /* ASP.NET never writes an empty id and treats one as absent: a non-blocking call. */
    if (msg->invocation_id && msg->invocation_id[0] == '\0')
        msg->invocation_id = NULL;
    if (get_required_string(msg->root, "target", &msg->target, error, cap) < 0)
        return -1;
    if (get_arguments(msg, error, cap) < 0)
        return -1;
    if (get_stream_ids(msg, error, cap) < 0)
        return -1;
    return get_headers(msg, error, cap);
}

static int bind_stream_invocation(sr_msg *msg, char *error, size_t cap)
{
    if (get_required_string(msg->root, "invocationId", &msg->invocation_id, error, cap) < 0)
        return -1;
    if (get_arguments(msg, error, cap) < 0)
        return -1;
    if (get_required_string(msg->root, "target", &msg->target, error, cap) < 0)
        return -1;
    if (get_stream_ids(msg, error, cap) < 0)
        return -1;
    return get_headers(msg, error, cap);
}

static int bind_stream_item(sr_msg *msg, char *error, size_t cap)
{
    if (get_required_string(msg->root, "invocationId", &msg->invocation_id, error, cap) < 0)
        return -1;
    msg->item = json_object_get(msg->root, "item");
    if (!msg->item) {
        set_error(error, cap, "Missing required property 'item'.");
        return -1;
    }
    return get_headers(msg, error, cap);
}

static int bind_completion(sr_msg *msg, char *error, size_t cap)
{
    if (get_required_string(msg->root, "invocationId", &msg->invocation_id, error, cap) < 0)
        return -1;
    if (get_string(msg->root, "error", &msg->error, error, cap) < 0)
        return -1;
    msg->result = json_object_get(msg->root, "result");
    if (msg->error && msg->result) {
        set_error(error, cap, "The 'error' and 'result' properties are mutually exclusive.");
        return -1;
    }
    return get_headers(msg, error, cap);
}

static int bind_cancel_invocation(sr_msg *msg, char *error, size_t cap)
{
    if (get_required_string(msg->root, "invocationId", &msg->invocation_id, error, cap) < 0)
        return -1;
    return get_headers(msg, error, cap);
}

static int bind_close(sr_msg *msg, char *error, size_t cap)
{
    if (get_string(msg->root, "error", &msg->error, error, cap) < 0)
        return -1;
    json_t *v = json_object_get(msg->root, "allowReconnect");
    if (v) {
        if (!json_is_boolean(v)) {
            set_error(error, cap, "Expected 'allowReconnect' to be true or false.");
            return -1;
        }
        msg->allow_reconnect = json_is_true(v);
    }
    return 0;
}

static int bind_sequence_id(sr_msg *msg, char *error, size_t cap)
{
    json_t *v = json_object_get(msg->root, "sequenceId");
    if (!v || json_is_null(v)) {
        set_error(error, cap, "Missing required property 'sequenceId'.");
        return -1;
    }
    if (!json_is_integer(v)) {
        set_error(error, cap, "Expected 'sequenceId' to be of type Number.");
        return -1;
    }
    msg->sequence_id = json_integer_value(v);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Handshake
 */

static int read_handshake(json_t *root, char *protocol, size_t protocol_cap, long long *version,
                          char *detail, size_t detail_cap)
{
    const char *name;
    int present = get_string(root, "protocol", &name, detail, detail_cap);
    if (present < 0)
        return -1;
    if (present == 0) {
        set_error(detail, detail_cap, "Missing required property 'protocol'.");
        return -1;
    }
    size_t name_len = strlen(name);
    if (name_len >= protocol_cap) {
        set_error(detail, detail_cap, "Property 'protocol' is too long.");
        return -1;
    }

    json_t *v = json_object_get(root, "version");
    if (!v || json_is_null(v)) {
        set_error(detail, detail_cap, "Missing required property 'version'.");
        return -1;
    }
    /* An Int32 in ASP.NET, where a real such as 1.0 is refused too. */
    if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN ||
        json_integer_value(v) > INT32_MAX) {
        set_error(detail, detail_cap, "Expected 'version' to be of type Number.");
        return -1;
    }

    memcpy(protocol, name, name_len + 1);
    *version = json_integer_value(v);
    return 0;
}

int sr_proto_parse_handshake(const char *payload, size_t len, char *protocol, size_t protocol_cap,
                             long long *version, char *detail, size_t detail_cap)
{
    assert(protocol && protocol_cap > 0 && version);
    protocol[0] = '\0';
    *version = 0;

    json_t *root = load_object(payload, len, detail, detail_cap);
    if (!root)
        return -1;
    int rc = read_handshake(root, protocol, protocol_cap, version, detail, detail_cap);
    json_decref(root);
    return rc;
}

/* ASP.NET resolves protocol names with OrdinalIgnoreCase; "json" is plain ASCII. */
static int equals_ascii_nocase(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char ca = (*a >= 'A' && *a <= 'Z') ? (char)(*a - 'A' + 'a') : *a;
        char cb = (*b >= 'A' && *b <= 'Z') ? (char)(*b - 'A' + 'a') : *b;
        if (ca != cb)
            return 0;
    }
    return *a == *b;
}

int sr_proto_handshake_check(const char *protocol, long long version, char *error, size_t error_cap)
{
    assert(protocol);
    /* Both texts quote the name as the client sent it, as HubConnectionContext does. */
    if (!equals_ascii_nocase(protocol, "json") && !equals_ascii_nocase(protocol, "messagepack")) {
        set_error(error, error_cap, "The protocol '%s' is not supported.", protocol);
        return -1;
    }
    if (version > JSON_PROTOCOL_VERSION) {
        set_error(error, error_cap,
                  "The server does not support version %lld of the '%s' protocol.", version,
                  protocol);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Messages
 */

int sr_proto_parse_message(const char *payload, size_t len, sr_msg *msg, char *error,
                           size_t error_cap)
{
    memset(msg, 0, sizeof *msg);

    json_t *root = load_object(payload, len, error, error_cap);
    if (!root)
        return -1;

    json_t *type = json_object_get(root, "type");
    if (!type || json_is_null(type)) {
        set_error(error, error_cap, "Missing required property 'type'.");
        json_decref(root);
        return -1;
    }
    /* An Int32 in ASP.NET; out-of-range values fail there instead of counting as unknown. */
    if (!json_is_integer(type) || json_integer_value(type) < INT32_MIN ||
        json_integer_value(type) > INT32_MAX) {
        set_error(error, error_cap, "Expected 'type' to be of type Number.");
        json_decref(root);
        return -1;
    }

    msg->root = root;
    int rc = 0;
    json_int_t t = json_integer_value(type);
    switch (t) {
    case SR_MSG_INVOCATION:
        rc = bind_invocation(msg, error, error_cap);
        break;
    case SR_MSG_STREAM_ITEM:
        rc = bind_stream_item(msg, error, error_cap);
        break;
    case SR_MSG_COMPLETION:
        rc = bind_completion(msg, error, error_cap);
        break;
    case SR_MSG_STREAM_INVOCATION:
        rc = bind_stream_invocation(msg, error, error_cap);
        break;
    case SR_MSG_CANCEL_INVOCATION:
        rc = bind_cancel_invocation(msg, error, error_cap);
        break;
    case SR_MSG_PING:
        break;
    case SR_MSG_CLOSE:
        rc = bind_close(msg, error, error_cap);
        break;
    case SR_MSG_ACK:
    case SR_MSG_SEQUENCE:
        rc = bind_sequence_id(msg, error, error_cap);
        break;
    default:
        /* Newer peers may add types; JsonHubProtocol skips them, and so do we. */
        msg->type = SR_MSG_UNKNOWN;
        return 0;
    }
    if (rc < 0) {
        sr_msg_fini(msg);
        return -1;
    }
    msg->type = (sr_msg_type)t;
    return 0;
}

void sr_msg_fini(sr_msg *msg)
{
    if (!msg)
        return;
    json_decref(msg->root);
    memset(msg, 0, sizeof *msg);
}

/* ---------------------------------------------------------------------------------------------
 * Encoding
 */

static void fail_encoding(const char *what)
{
    fprintf(stderr, "signalr-fcgi: sr_proto: %s\n", what);
    abort();
}

/*
 * Length of the well-formed UTF-8 sequence at p[0..n), or 0 when the bytes there are not one
 * (overlong forms, surrogates and code points above U+10FFFF included).
 */
static size_t utf8_sequence_length(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return len;
}

/* A JSON string for a caller's C string; bad UTF-8 bytes become U+FFFD rather than a failure. */
static json_t *make_string(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    sr_buf fixed = SR_BUF_INIT;
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t len = utf8_sequence_length(p + i, n - i);
        if (len) {
            sr_buf_append(&fixed, p + i, len);
            i += len;
        } else {
            sr_buf_append(&fixed, SR_STRLIT("\xef\xbf\xbd"));
            i++;
        }
    }
    j = json_stringn(fixed.ptr ? fixed.ptr : "", fixed.len);
    sr_buf_fini(&fixed);
    if (!j)
        fail_encoding("out of memory building a JSON string");
    return j;
}

static json_t *new_message(sr_msg_type type)
{
    json_t *obj = json_object();
    json_t *t = json_integer(type);
    if (!obj || !t || json_object_set_new(obj, "type", t) != 0)
        fail_encoding("out of memory building a message");
    return obj;
}

/* Adds @p value (taken, even on failure, as json_object_set_new does) to @p obj. */
static void put(json_t *obj, const char *key, json_t *value)
{
    if (!value || json_object_set_new(obj, key, value) != 0)
        fail_encoding("out of memory building a message");
}

/* Borrowed value, or JSON null for NULL. */
static json_t *ref_or_null(json_t *value)
{
    return value ? json_incref(value) : json_null();
}

static int append_to_buf(const char *buffer, size_t size, void *data)
{
    sr_buf_append(data, buffer, size);
    return 0;
}

/* Appends @p obj (taken) as one record. */
static void write_record(sr_buf *out, json_t *obj)
{
    if (json_dump_callback(obj, append_to_buf, out, DUMP_FLAGS) != 0)
        fail_encoding("a JSON value cannot be encoded (reference cycle or invalid UTF-8 in a "
                      "string built with a *_nocheck function)");
    json_decref(obj);
    sr_buf_appendc(out, SR_RS);
}

void sr_proto_write_handshake_ok(sr_buf *out)
{
    sr_buf_append(out, SR_STRLIT("{}\x1e"));
}

void sr_proto_write_handshake_error(sr_buf *out, const char *error)
{
    assert(error);
    json_t *obj = json_object();
    if (!obj)
        fail_encoding("out of memory building a message");
    put(obj, "error", make_string(error));
    write_record(out, obj);
}

void sr_proto_write_invocation(sr_buf *out, const char *invocation_id, const char *target,
                               json_t *args)
{
    assert(target);
    json_t *obj = new_message(SR_MSG_INVOCATION);
    if (invocation_id && invocation_id[0])
        put(obj, "invocationId", make_string(invocation_id));
    put(obj, "target", make_string(target));
    put(obj, "arguments", args ? json_incref(args) : json_array());
    write_record(out, obj);
}

static json_t *new_completion(const char *invocation_id)
{
    assert(invocation_id);
    json_t *obj = new_message(SR_MSG_COMPLETION);
    put(obj, "invocationId", make_string(invocation_id));
    return obj;
}

void sr_proto_write_completion_result(sr_buf *out, const char *invocation_id, json_t *result)
{
    json_t *obj = new_completion(invocation_id);
    put(obj, "result", ref_or_null(result));
    write_record(out, obj);
}

void sr_proto_write_completion_error(sr_buf *out, const char *invocation_id, const char *error)
{
    assert(error);
    json_t *obj = new_completion(invocation_id);
    put(obj, "error", make_string(error));
    write_record(out, obj);
}

void sr_proto_write_completion_empty(sr_buf *out, const char *invocation_id)
{
    write_record(out, new_completion(invocation_id));
}

void sr_proto_write_stream_item(sr_buf *out, const char *invocation_id, json_t *item)
{
    assert(invocation_id);
    json_t *obj = new_message(SR_MSG_STREAM_ITEM);
    put(obj, "invocationId", make_string(invocation_id));
    put(obj, "item", ref_or_null(item));
    write_record(out, obj);
}

void sr_proto_write_ping(sr_buf *out)
{
    /* Sent every 15 s to every connection: skip jansson for a constant. */
    sr_buf_append(out, SR_STRLIT("{\"type\":6}\x1e"));
}

void sr_proto_write_close(sr_buf *out, const char *error, int allow_reconnect)
{
    json_t *obj = new_message(SR_MSG_CLOSE);
    if (error)
        put(obj, "error", make_string(error));
    if (allow_reconnect)
        put(obj, "allowReconnect", json_true());
    write_record(out, obj);
}
