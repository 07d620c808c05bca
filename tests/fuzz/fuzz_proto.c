/*
 * fuzz_proto.c — libFuzzer target for the JSON hub protocol (sr_proto): 0x1E framing, the
 * handshake and every message type.
 *
 * DESIGN. The input is treated as the bytes a client POSTs over a connection's lifetime: the
 * first record is the handshake, every later one a hub message, and an unterminated tail is left
 * alone as the server would keep it for the next request (protocol.md §7.1-7.3). Parsed
 * messages are pushed back through the encoders the server uses to answer them, so the fuzzer
 * also exercises encoding of attacker-shaped values (ids, targets, arbitrary JSON arguments).
 * Sanitizers decide: the target has no expectations of its own beyond invariants the server
 * relies on (a parsed message's fields are consistent with its type; every encoded record is
 * itself one parseable record). Built with clang -fsanitize=fuzzer for real fuzzing, or linked
 * with standalone.c so `make check` replays the corpus under gcc.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sr_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Breaks loudly (the sanitizers and libFuzzer report an abort) when an invariant is false. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* Every record an encoder appends must split back into exactly one record that parses. */
static void check_records(const sr_buf *out, int expect_message)
{
    size_t plen;
    size_t used = sr_proto_next_record(out->ptr, out->len, &plen);
    CHECK(used == out->len);
    CHECK(memchr(out->ptr, '\n', out->len) == NULL);
    if (expect_message) {
        sr_msg back;
        char error[128];
        CHECK(sr_proto_parse_message(out->ptr, plen, &back, error, sizeof error) == 0);
        sr_msg_fini(&back);
    }
}

static void check_consistent(const sr_msg *m)
{
    switch (m->type) {
    case SR_MSG_INVOCATION:
        CHECK(m->target && m->target[0] && json_is_array(m->arguments));
        CHECK(!m->invocation_id || m->invocation_id[0]);
        break;
    case SR_MSG_STREAM_INVOCATION:
        CHECK(m->target && m->target[0] && json_is_array(m->arguments));
        CHECK(m->invocation_id && m->invocation_id[0]);
        break;
    case SR_MSG_STREAM_ITEM:
        CHECK(m->invocation_id && m->item);
        break;
    case SR_MSG_COMPLETION:
        CHECK(m->invocation_id && !(m->result && m->error));
        break;
    case SR_MSG_CANCEL_INVOCATION:
        CHECK(m->invocation_id);
        break;
    default:
        break;
    }
}

static void answer(const sr_msg *m)
{
    sr_buf out = SR_BUF_INIT;
    switch (m->type) {
    case SR_MSG_INVOCATION:
    case SR_MSG_STREAM_INVOCATION:
        /* Echo the call back to the client, as a broadcast hub would. */
        sr_proto_write_invocation(&out, m->invocation_id, m->target, m->arguments);
        check_records(&out, 1);
        sr_buf_reset(&out);
        if (m->invocation_id) {
            sr_proto_write_stream_item(&out, m->invocation_id, json_array_get(m->arguments, 0));
            check_records(&out, 1);
            sr_buf_reset(&out);
            sr_proto_write_completion_result(&out, m->invocation_id, m->arguments);
            check_records(&out, 1);
            sr_buf_reset(&out);
            sr_proto_write_completion_error(&out, m->invocation_id, m->target);
            check_records(&out, 1);
            sr_buf_reset(&out);
            sr_proto_write_completion_empty(&out, m->invocation_id);
            check_records(&out, 1);
        }
        break;
    case SR_MSG_COMPLETION:
    case SR_MSG_CLOSE:
        sr_proto_write_close(&out, m->error, m->allow_reconnect);
        check_records(&out, 1);
        break;
    default:
        break;
    }
    sr_buf_fini(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    size_t left = size;
    size_t plen;
    size_t used;
    int first = 1;

    while ((used = sr_proto_next_record(p, left, &plen)) > 0) {
        CHECK(used == plen + 1 && used <= left && p[plen] == SR_RS);
        if (first) {
            char protocol[64];
            char detail[256];
            long long version;
            sr_buf out = SR_BUF_INIT;
            if (sr_proto_parse_handshake(p, plen, protocol, sizeof protocol, &version, detail,
                                         sizeof detail) == 0) {
                char error[256];
                if (sr_proto_handshake_check(protocol, version, error, sizeof error) == 0)
                    sr_proto_write_handshake_ok(&out);
                else
                    sr_proto_write_handshake_error(&out, error);
            } else {
                sr_proto_write_handshake_error(&out, detail);
            }
            check_records(&out, 0);
            sr_buf_fini(&out);
            first = 0;
        } else {
            sr_msg m;
            char error[256];
            if (sr_proto_parse_message(p, plen, &m, error, sizeof error) == 0) {
                check_consistent(&m);
                answer(&m);
            } else {
                CHECK(m.root == NULL);
                /* A protocol error closes the connection with the explanation. */
                sr_buf out = SR_BUF_INIT;
                sr_proto_write_close(&out, error, 0);
                check_records(&out, 1);
                sr_buf_fini(&out);
            }
            sr_msg_fini(&m);
        }
        p += used;
        left -= used;
    }
    return 0;
}
