/*
 * sr_mpproto.h — the MessagePack hub protocol (protocol.md §7.7), as a translation to and from
 * the JSON hub protocol that the rest of the server speaks.
 *
 * Every producer (hub methods, streams, client-result requests, SQL functions, the REST API)
 * writes JSON records to the message log, and the log stays JSON: one row per broadcast serves
 * JSON and MessagePack connections alike. A MessagePack connection's poll turns each record into
 * a frame as it collects it (sr_mpproto_deliver); a MessagePack client's frame is turned into the
 * JSON record the JSON client would have sent (sr_mpproto_to_json), which the JSON parser then
 * validates and the hub dispatches unchanged. Pure: no I/O, no global state, thread-safe.
 */
#ifndef SR_MPPROTO_H
#define SR_MPPROTO_H

#include <stddef.h>

#include "sr_buf.h"

/** The control record that tells a connection's held poll, before the handshake answer, that
 *  the connection speaks MessagePack from then on. */
#define SR_MPPROTO_CONTROL_VERB "protocol messagepack"

/** True when @p protocol names the MessagePack hub protocol (ASCII case-insensitive, as
 *  ASP.NET's protocol resolver compares names). */
int sr_mpproto_is_messagepack(const char *protocol);

/**
 * The transfer-format check of the handshake (HubConnectionContext): Server-Sent Events carry
 * text only. Returns 0 when @p protocol may run on @p transport (NULL = no transport request
 * yet, which only long polling may follow for MessagePack, so it is refused), else -1 with "Cannot use the 'messagepack' protocol on the current transport. The transport does not
 * support 'Binary' transfer format." in @p error.
 */
int sr_mpproto_transport_check(const char *protocol, const char *transport, char *error,
                               size_t error_cap) __attribute__((warn_unused_result));

/**
 * Translates one MessagePack message (a frame's payload, without its length prefix) into the
 * equivalent JSON record (without RS), appended to @p json. Returns 0, or -1 with a one-line
 * explanation in @p error for input that is not a MessagePack hub message (undecodable, not an
 * array, too few elements for its type, an unknown Completion result kind). Field types are
 * left for sr_proto_parse_message() to check, so both protocols reject the same things.
 */
int sr_mpproto_to_json(const char *payload, size_t len, sr_buf *json, char *error,
                       size_t error_cap) __attribute__((warn_unused_result));

/**
 * Appends one log record body (one or more JSON records, each ending in RS) in the protocol of
 * the receiving connection: as MessagePack frames when @p binary, else as JSON with the typed
 * value wrappers of signalr-fcgi.h replaced by their strings (the bytes are copied unchanged
 * when they hold no wrapper, the common case). A record that cannot be translated (not JSON,
 * no known type) is left out and logged: a client must never receive a frame it cannot parse.
 */
void sr_mpproto_deliver(int binary, const char *body, size_t len, sr_buf *out);

#endif
