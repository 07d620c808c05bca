/*
 * fuzz_msgpack.c — libFuzzer target for the MessagePack hub protocol: VarInt framing
 * (sr_msgpack_frame_next), the value decoder and encoder (sr_msgpack), and the translation of
 * messages to and from JSON records (sr_mpproto).
 *
 * DESIGN. The input is treated as the bytes a MessagePack client POSTs after its handshake: a
 * sequence of length-prefixed frames, an incomplete tail left alone as the server keeps it for
 * the next request. Each payload goes the way the server sends it — to a JSON record, through
 * the JSON parser, and back out as a frame for a MessagePack connection and as JSON for a JSON
 * one — and separately through decode/encode, where one invariant is checked: the encoding of a
 * decoded value decodes again and encodes to the same bytes (so the server never writes a frame
 * it could not read back). The whole input is also delivered as if it were a log record body, as
 * records from outside producers (SQL, REST) are arbitrary text. Sanitizers decide the rest. Built
 * with clang -fsanitize=fuzzer, or linked with standalone.c so `make check` replays the corpus.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sr_mpproto.h"
#include "sr_msgpack.h"
#include "sr_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* Our limit for a message, as the server's default maximum message size. */
#define MAX_PAYLOAD 32768

static void check_value_round_trip(const char *payload, size_t len)
{
    json_t *v = sr_msgpack_decode(payload, len, NULL, 0);
    if (!v)
        return;
    sr_buf first = SR_BUF_INIT, second = SR_BUF_INIT;
    sr_msgpack_encode(&first, v);
    json_t *again = sr_msgpack_decode(first.ptr, first.len, NULL, 0);
    CHECK(again != NULL);
    sr_msgpack_encode(&second, again);
    CHECK(first.len == second.len && memcmp(first.ptr, second.ptr, first.len) == 0);
    json_decref(again);
    json_decref(v);
    sr_buf_fini(&first);
    sr_buf_fini(&second);
}

static void check_message(const char *payload, size_t len)
{
    sr_buf json = SR_BUF_INIT;
    char error[128];
    if (sr_mpproto_to_json(payload, len, &json, error, sizeof error) != 0) {
        CHECK(error[0] != '\0'); /* the Close error names a reason */
        sr_buf_fini(&json);
        return;
    }
    sr_msg msg;
    int parsed = sr_proto_parse_message(json.ptr, json.len, &msg, error, sizeof error);
    sr_msg_fini(&msg);
    if (parsed == 0) {
        /* What the server would send back to either kind of client. */
        sr_buf_appendc(&json, SR_RS);
        sr_buf frames = SR_BUF_INIT, text = SR_BUF_INIT;
        sr_mpproto_deliver(1, json.ptr, json.len, &frames);
        sr_mpproto_deliver(0, json.ptr, json.len, &text);
        size_t prefix, plen;
        for (size_t off = 0, used; off < frames.len; off += used) {
            used = sr_msgpack_frame_next(frames.ptr + off, frames.len - off, &prefix, &plen);
            CHECK(used > 0 && plen != SIZE_MAX);
        }
        sr_buf_fini(&frames);
        sr_buf_fini(&text);
    }
    sr_buf_fini(&json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    size_t off = 0, prefix, payload_len, used;
    while ((used = sr_msgpack_frame_next(p + off, size - off, &prefix, &payload_len)) > 0) {
        if (payload_len <= MAX_PAYLOAD) {
            check_value_round_trip(p + off + prefix, payload_len);
            check_message(p + off + prefix, payload_len);
        }
        off += used;
    }
    sr_buf out = SR_BUF_INIT;
    sr_mpproto_deliver(1, p, size, &out);
    sr_buf_reset(&out);
    sr_mpproto_deliver(0, p, size, &out);
    sr_buf_fini(&out);
    return 0;
}
