/*
 * sr_msgpack.h — MessagePack values <-> jansson values, and the VarInt length prefix that frames
 * MessagePack hub messages (protocol.md §7.7). Pure: no I/O, no global state, thread-safe.
 *
 * Value mapping (the rest of the server only ever sees json_t):
 *   nil/bool/str/array        <-> null/true,false/string/array
 *   map with string keys      <-> object (non-string or duplicate keys are an error)
 *   int (any width)           <-> integer; a uint64 above INT64_MAX becomes a real
 *   float32/float64           <-> real (non-finite values are an error: JSON cannot carry them)
 *   bin                       <-> {"$sr:binary":"<base64>"}   (SR_JSON_BINARY_KEY)
 *   timestamp ext (type -1)   <-> {"$sr:timestamp":"<ISO-8601 UTC>"} (SR_JSON_TIMESTAMP_KEY)
 *   any other ext type        ->  error
 * The two wrapper objects keep the MessagePack type through the JSON message log, so a value a
 * MessagePack client sent reaches other MessagePack clients with its type; JSON clients see the
 * wrapped string (base64, as System.Text.Json writes byte[]; ISO-8601 as it writes DateTime).
 * A wrapper whose string is not valid base64 / ISO-8601 is encoded as the plain map it is.
 */
#ifndef SR_MSGPACK_H
#define SR_MSGPACK_H

#include <stddef.h>
#include <jansson.h>

#include "signalr-fcgi.h"
#include "sr_buf.h"

/** Deepest container nesting the decoder accepts (as the JSON parser's limit). */
#define SR_MSGPACK_MAX_DEPTH 64

/**
 * Decodes exactly one MessagePack value from p[0..len). Returns a new reference, or NULL with a
 * one-line explanation in @p error (may be NULL) for malformed, truncated or unmappable input
 * and for bytes left over after the value. Never allocates more than a small multiple of @p len.
 */
json_t *sr_msgpack_decode(const void *p, size_t len, char *error, size_t error_cap)
    __attribute__((warn_unused_result));

/** Appends the MessagePack encoding of @p value (borrowed) to @p out, wrappers unwrapped. */
void sr_msgpack_encode(sr_buf *out, const json_t *value);

/** Appends a MessagePack array header for @p n elements. */
void sr_msgpack_encode_array_header(sr_buf *out, size_t n);

/**
 * Finds the next VarInt-length-prefixed frame in buf[0..len). Returns the bytes the frame takes
 * (prefix + payload) and sets *prefix_len and *payload_len; returns 0 when the frame is not
 * complete yet. A prefix longer than 5 bytes or a length of 2 GiB or more (ASP.NET: "Messages
 * over 2GB in size are not supported") returns @p len with *payload_len = SIZE_MAX, so a caller
 * that checks the payload length against its limit rejects it.
 */
size_t sr_msgpack_frame_next(const char *buf, size_t len, size_t *prefix_len, size_t *payload_len);

/** Appends the VarInt length prefix of a @p payload_len byte frame. */
void sr_msgpack_frame_prefix(sr_buf *out, size_t payload_len);

/**
 * If @p value is a wrapper object (SR_JSON_BINARY_KEY / SR_JSON_TIMESTAMP_KEY with a string),
 * returns that string (borrowed), else NULL.
 */
const char *sr_msgpack_wrapped_text(const json_t *value);

/** Parses an ISO-8601 date-time "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)" into Unix
 *  seconds and nanoseconds. Returns 0, or -1 when @p text is not such a date. */
int sr_msgpack_parse_iso8601(const char *text, long long *seconds, long *nanoseconds)
    __attribute__((warn_unused_result));

/** Writes Unix time as "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (fraction only when non-zero, no
 *  trailing zeros). Returns 0, or -1 when the year is outside 0001..9999 (DateTime's range). */
int sr_msgpack_format_iso8601(long long seconds, long nanoseconds, char *out, size_t cap)
    __attribute__((warn_unused_result));

#endif
