/*
 * sr_proto.h — the SignalR JSON hub protocol: record framing, handshake, message parsing and
 * encoding (protocol.md §7; HubProtocol.md). Pure: no I/O, no global state, thread-safe.
 *
 * Framing follows the picohttpparser contract: the caller owns the bytes, the parser reports
 * how much it consumed, and "incomplete" is a normal answer, not an error.
 */
#ifndef SR_PROTO_H
#define SR_PROTO_H

#include <stddef.h>
#include <jansson.h>

#include "sr_buf.h"

#define SR_RS '\x1e'

/** Longest invocation or stream id a client may send, bytes (reliability-security.md §4.3: the
 *  official client numbers its invocations, so real ids are a few digits; a long one is only
 *  a way to make every Completion and log line carry the attacker's payload). */
#define SR_MAX_INVOCATION_ID 64

/** Error texts of the handshake (protocol.md §7.1), exact. */
#define SR_HANDSHAKE_ERR_GENERIC "An unexpected error occurred during connection handshake."
#define SR_HANDSHAKE_ERR_CANCELED "Handshake was canceled."

/**
 * Finds the next record in buf[0..len). On success returns the number of bytes consumed
 * (payload + the RS) and stores the payload length (without RS) in *payload_len. Returns 0 when
 * no RS is present yet (the bytes are an incomplete record: keep them and wait for more).
 */
size_t sr_proto_next_record(const char *buf, size_t len, size_t *payload_len);

/**
 * Parses a handshake request payload (without RS), e.g. {"protocol":"json","version":1}.
 * On success returns 0 and copies the protocol name (NUL-terminated, truncated names are an
 * error) into @p protocol and the version into *version.
 * Returns -1 when the request is malformed (not JSON, not an object, duplicate keys, missing or
 * non-string "protocol", missing or non-integer "version" or one outside the Int32 range,
 * protocol name longer than the buffer); the client must then see SR_HANDSHAKE_ERR_GENERIC, and
 * @p detail (may be NULL) receives a short explanation for detailed errors. Unknown properties
 * are ignored. Whether the protocol and version are acceptable is decided by
 * sr_proto_handshake_check().
 */
int sr_proto_parse_handshake(const char *payload, size_t len, char *protocol, size_t protocol_cap,
                             long long *version, char *detail, size_t detail_cap)
    __attribute__((warn_unused_result));

/**
 * Decides whether a parsed handshake is acceptable for this server: protocol "json" or
 * "messagepack" (ASCII case-insensitive, as ASP.NET's resolver) with a version <= 2 (both
 * protocols' IsVersionSupported, so 0 and negative versions pass too). Returns 0 when it is;
 * otherwise -1 and writes the error text the client must see (protocol.md §7.1) into @p error,
 * truncated to @p error_cap: "The protocol 'X' is not supported." or "The server does not
 * support version N of the 'X' protocol.", X as the client spelled it. Whether the transport
 * can carry the protocol is sr_mpproto_transport_check()'s question.
 */
int sr_proto_handshake_check(const char *protocol, long long version, char *error,
                             size_t error_cap) __attribute__((warn_unused_result));

typedef enum sr_msg_type {
    SR_MSG_UNKNOWN = 0, /* a type this server does not know: ignore it (JsonHubProtocol does) */
    SR_MSG_INVOCATION = 1,
    SR_MSG_STREAM_ITEM = 2,
    SR_MSG_COMPLETION = 3,
    SR_MSG_STREAM_INVOCATION = 4,
    SR_MSG_CANCEL_INVOCATION = 5,
    SR_MSG_PING = 6,
    SR_MSG_CLOSE = 7,
    SR_MSG_ACK = 8,
    SR_MSG_SEQUENCE = 9,
} sr_msg_type;

/**
 * A parsed hub message. Every pointer borrows from @c root, which the message owns: release it
 * with sr_msg_fini(). Strings exposed as C strings never contain a NUL (such input is rejected).
 */
typedef struct sr_msg {
    sr_msg_type type;
    json_t *root;              /* owned */
    const char *invocation_id; /* NULL when absent; never "" (an Invocation's "" reads as absent,
                                  the other types require a non-empty id) */
    const char *target;        /* Invocation/StreamInvocation */
    json_t *arguments;         /* array (an empty array when absent is NOT allowed: required) */
    json_t *stream_ids;        /* array of non-empty strings or NULL */
    json_t *headers;           /* object of string values or NULL */
    json_t *item;              /* StreamItem (may be JSON null) */
    json_t *result;            /* Completion, NULL when absent */
    const char *error;         /* Completion/Close, NULL when absent */
    int allow_reconnect;       /* Close */
    long long sequence_id;     /* Ack/Sequence */
} sr_msg;

/**
 * Parses one message payload (without RS). Returns 0 and fills @p msg, or -1 for input that is
 * not a valid hub message (not JSON or not UTF-8, not an object, duplicate keys, nesting deeper
 * than 64, missing or mistyped required fields, both "result" and "error" in a Completion...),
 * writing a one-line explanation to @p error (may be NULL). Unknown properties, and properties
 * that do not belong to the message's type, are ignored; JSON null in an optional property
 * means absent. An unknown integer "type" yields SR_MSG_UNKNOWN (not an error; @c root is still
 * set). @p msg is overwritten, not freed: fini a previous message first.
 * After -1, @p msg holds nothing that needs freeing (sr_msg_fini() is still safe).
 */
int sr_proto_parse_message(const char *payload, size_t len, sr_msg *msg, char *error,
                           size_t error_cap) __attribute__((warn_unused_result));

void sr_msg_fini(sr_msg *msg);

/* Encoders. Each appends one complete record (compact JSON + RS) to @p out. JSON arguments are
 * borrowed. Property order is the one ASP.NET writes ("type" first). C strings that are not
 * valid UTF-8 are written with U+FFFD in place of the bad bytes. A json_t jansson cannot encode
 * (a reference cycle, or a *_nocheck string with bad UTF-8) is a programming error: abort. */
void sr_proto_write_handshake_ok(sr_buf *out);
void sr_proto_write_handshake_error(sr_buf *out, const char *error);
/** Invocation; @p invocation_id NULL (or "") for a fire-and-forget call; @p args NULL = []. */
void sr_proto_write_invocation(sr_buf *out, const char *invocation_id, const char *target,
                               json_t *args);
/** Completion with "result" (NULL @p result writes "result":null). */
void sr_proto_write_completion_result(sr_buf *out, const char *invocation_id, json_t *result);
/** Completion with "error". */
void sr_proto_write_completion_error(sr_buf *out, const char *invocation_id, const char *error);
/** Completion with neither result nor error (end of a stream). */
void sr_proto_write_completion_empty(sr_buf *out, const char *invocation_id);
void sr_proto_write_stream_item(sr_buf *out, const char *invocation_id, json_t *item);
void sr_proto_write_ping(sr_buf *out);
/** Close; @p error NULL for none; allowReconnect written only when true. */
void sr_proto_write_close(sr_buf *out, const char *error, int allow_reconnect);

#endif
