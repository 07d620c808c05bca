/*
 * sr_session.c — handshake, inbound records and dispatch for one connection (see sr_session.h).
 *
 * DESIGN: a connection's state lives in its row (design.md: any worker may serve any request),
 * so a POST loads the row FOR UPDATE, which also serialises the POSTs of one connection as
 * ASP.NET's per-connection pipe does (protocol.md §3), processes the records in order, stores any
 * incomplete trailing record for the next POST, and commits. Records for the client are
 * appended to the message log in the same transaction, so the handshake answer, everything a
 * method sends and the method's Completion become visible together and in this order.
 * Limits: a record larger than the maximum message size, complete or not, ends the connection
 * with the Close error of protocol.md §6.5; an oversized handshake is "Handshake was canceled."
 */
#include "config.h"

#include "sr_session.h"

#include <string.h>

#include <stdlib.h>

#include "sr_buf.h"
#include "sr_conf.h"
#include "sr_context.h"
#include "sr_hub.h"
#include "sr_log.h"
#include "sr_proto.h"

#define CLOSE_ERROR_TEXT "Connection closed with an error."

int sr_session_activate(PGconn *db, const sr_hub *hub, sr_conn_row *row,
                        const sr_http_request *req, const char *transport, const char *holder)
{
    char user[256];
    json_t *doc = sr_context_from_request(req);
    int identified = sr_context_identify(hub, doc, user, sizeof user);
    int rc = sr_store_conn_activate(db, row->id, transport, holder, doc,
                                    identified ? user : NULL);
    if (rc == 0 && identified) {
        free(row->user_id);
        row->user_id = strdup(user);
    }
    json_decref(doc);
    return rc ? SR_ERR_DB : 0;
}

/* Ends the session of @p row, keeping the row for its last poll; the hook runs only when
 * @p run_hook and the session had completed its handshake. */
static int end_row(PGconn *db, const sr_hub *hub, const sr_conn_row *row, int run_hook,
                   const char *close_record, const char *error)
{
    sr_ending who = sr_ending_of(row);
    who.run_hook = run_hook && who.run_hook;
    return sr_session_end(db, hub, &who, close_record, error, SR_END_KEEP_FOR_LAST_POLL);
}

static int publish_to(PGconn *db, const sr_hub *hub, sr_kind kind, const char *conn_id,
                      const sr_buf *record)
{
    const char *targets[] = {conn_id};
    return sr_store_publish(db, hub->path, kind, targets, 1, NULL, 0, record->ptr, record->len);
}

sr_ending sr_ending_of(const sr_conn_row *row)
{
    sr_ending who = {row->id,      row->user_id, row->transport, row->handshake_done && !row->ended,
                     row->request, row->items};
    return who;
}

int sr_session_end(PGconn *db, const sr_hub *hub, const sr_ending *who,
                   const char *close_record, const char *error, sr_end_mode mode)
{
    const char *conn_id = who->conn_id;
    const char *targets[] = {conn_id};
    int rc = mode == SR_END_DISPOSE ? sr_store_conn_delete(db, conn_id)
                                    : sr_store_conn_mark_ended(db, conn_id);
    if (rc < 0)
        return SR_ERR_DB;
    if (close_record &&
        sr_store_publish(db, hub->path, SR_KIND_CONNECTION, targets, 1, NULL, 0, close_record,
                         strlen(close_record)) != 0)
        return SR_ERR_DB;
    if (sr_store_publish(db, hub->path, SR_KIND_CONTROL, targets, 1, NULL, 0, "close", 5) != 0)
        return SR_ERR_DB;
    if (who->run_hook) {
        sr_call call;
        sr_call_init(&call, hub, db, conn_id, who->user_id, who->transport);
        call.request = who->request;
        call.items = who->items;
        sr_hub_disconnected(&call, error);
        int failed = call.send_failed;
        sr_call_fini(&call);
        if (failed)
            return SR_ERR_DB;
    }
    return 0;
}

/* Ends the connection because of a protocol error, with a Close message carrying the error. */
static int close_with_error(PGconn *db, const sr_hub *hub, sr_conn_row *row, const char *reason,
                            int allow_reconnect)
{
    sr_buf close = SR_BUF_INIT;
    sr_proto_write_close(&close, CLOSE_ERROR_TEXT, allow_reconnect);
    sr_log_info("connection %s closed: %s", row->id, reason);
    int rc = end_row(db, hub, row, 1, close.ptr, reason);
    sr_buf_fini(&close);
    return rc;
}

/* Answers a handshake; returns 1 when the handshake succeeded, 0 when the connection was ended,
 * SR_ERR_DB on database failure. */
static int handshake(PGconn *db, const sr_hub *hub, sr_conn_row *row, const char *payload,
                     size_t len)
{
    char protocol[64], detail[256], error[sizeof SR_HANDSHAKE_ERR_GENERIC + 256];
    long long version = 0;
    sr_buf answer = SR_BUF_INIT;
    int rc;
    detail[0] = '\0';
    if (sr_proto_parse_handshake(payload, len, protocol, sizeof protocol, &version, detail,
                                 sizeof detail) != 0) {
        if (sr_config->detailed_errors && detail[0])
            snprintf(error, sizeof error, "%s %s", SR_HANDSHAKE_ERR_GENERIC, detail);
        else
            snprintf(error, sizeof error, "%s", SR_HANDSHAKE_ERR_GENERIC);
    } else if (sr_proto_handshake_check(protocol, version, error, sizeof error) == 0) {
        sr_proto_write_handshake_ok(&answer);
        rc = publish_to(db, hub, SR_KIND_HANDSHAKE, row->id, &answer);
        if (rc == 0)
            rc = sr_store_conn_handshake(db, row->id, protocol);
        sr_buf_fini(&answer);
        if (rc != 0)
            return SR_ERR_DB;
        row->handshake_done = 1;
        sr_call call;
        sr_call_init(&call, hub, db, row->id, row->user_id, row->transport);
        call.request = row->request;
        call.items = row->items;
        rc = sr_hub_connected(&call);
        if (call.items_changed)
            row->items_changed = 1;
        sr_call_fini(&call);
        if (rc == SR_ERR_DB)
            return SR_ERR_DB;
        if (rc != 0) {
            /* OnConnectedAsync threw: Close with an error and no reconnect (protocol.md §6.6). */
            rc = close_with_error(db, hub, row, "the hub's connect hook failed", 0);
            return rc ? rc : 0;
        }
        return 1;
    }
    sr_proto_write_handshake_error(&answer, error);
    rc = publish_to(db, hub, SR_KIND_HANDSHAKE, row->id, &answer);
    sr_buf_fini(&answer);
    if (rc != 0)
        return SR_ERR_DB;
    rc = end_row(db, hub, row, 0, NULL, NULL);
    return rc ? rc : 0;
}

/* Handles one hub message; returns 1 to continue, 0 when the connection ended, or SR_ERR_DB. */
static int message(PGconn *db, const sr_hub *hub, sr_conn_row *row, const char *payload,
                   size_t len, int *saw_ping)
{
    sr_msg msg;
    char error[256];
    if (sr_proto_parse_message(payload, len, &msg, error, sizeof error) != 0) {
        sr_msg_fini(&msg);
        int rc = close_with_error(db, hub, row, error, 1);
        return rc ? rc : 0;
    }
    int rc = 1;
    sr_buf out = SR_BUF_INIT;
    switch (msg.type) {
    case SR_MSG_INVOCATION: {
        sr_call call;
        sr_call_init(&call, hub, db, row->id, row->user_id, row->transport);
        call.request = row->request;
        call.items = row->items;
        if (sr_hub_invoke(&call, &msg, sr_config->detailed_errors, &out) != 0)
            rc = SR_ERR_DB;
        int aborted = call.aborted;
        if (call.items_changed)
            row->items_changed = 1;
        sr_call_fini(&call);
        if (rc == 1 && out.len && publish_to(db, hub, SR_KIND_CONNECTION, row->id, &out) != 0)
            rc = SR_ERR_DB;
        if (rc == 1 && aborted) {
            /* Context.Abort(): a Close without allowReconnect after the completion. */
            sr_buf close = SR_BUF_INIT;
            sr_proto_write_close(&close, NULL, 0);
            int end = end_row(db, hub, row, 1, close.ptr, NULL);
            sr_buf_fini(&close);
            rc = end ? end : 0;
        }
        break;
    }
    case SR_MSG_STREAM_INVOCATION: {
        /* Server-to-client streaming is not implemented yet: answer as for a method that does
         * not exist as a streaming method, so the client's stream() fails cleanly. */
        snprintf(error, sizeof error,
                 "The client attempted to invoke the non-streaming '%.100s' method with a "
                 "streaming invocation.",
                 msg.target);
        sr_proto_write_completion_error(&out, msg.invocation_id, error);
        if (publish_to(db, hub, SR_KIND_CONNECTION, row->id, &out) != 0)
            rc = SR_ERR_DB;
        break;
    }
    case SR_MSG_CLOSE: {
        /* The client is leaving; answer with a Close as ASP.NET does. */
        sr_buf close = SR_BUF_INIT;
        sr_proto_write_close(&close, NULL, 0);
        int end = end_row(db, hub, row, 1, close.ptr, NULL);
        sr_buf_fini(&close);
        rc = end ? end : 0;
        break;
    }
    case SR_MSG_PING:
        *saw_ping = 1; /* arms the client timeout of a stream (protocol.md §6.3) */
        break;
    default:
        /* Ping needs no answer (the client timeout arrives with Server-Sent Events); stream
         * items, completions and cancellations arrive with streaming; unknown types are
         * ignored as JsonHubProtocol does. */
        break;
    }
    sr_buf_fini(&out);
    sr_msg_fini(&msg);
    return rc;
}

int sr_session_receive(PGconn *db, const sr_hub *hub, sr_conn_row *row, const char *body,
                       size_t len)
{
    sr_buf data = SR_BUF_INIT;
    size_t inbound_before = row->inbound.len;
    size_t max = (size_t)sr_config->max_message_size;
    int rc = 0, alive = 1;
    sr_buf_append(&data, row->inbound.ptr, row->inbound.len);
    sr_buf_append(&data, body, len);
    size_t off = 0;
    int saw_ping = 0;
    while (alive) {
        size_t payload_len;
        size_t used = sr_proto_next_record(data.ptr + off, data.len - off, &payload_len);
        if (used == 0)
            break;
        const char *payload = data.ptr + off;
        off += used;
        int step;
        if (payload_len > max) {
            if (!row->handshake_done) {
                sr_buf answer = SR_BUF_INIT;
                sr_proto_write_handshake_error(&answer, SR_HANDSHAKE_ERR_CANCELED);
                step = publish_to(db, hub, SR_KIND_HANDSHAKE, row->id, &answer);
                sr_buf_fini(&answer);
                if (step == 0)
                    step = end_row(db, hub, row, 0, NULL, NULL);
            } else {
                step = close_with_error(db, hub, row, "message larger than the maximum size", 1);
            }
        } else if (!row->handshake_done) {
            step = handshake(db, hub, row, payload, payload_len);
        } else {
            step = message(db, hub, row, payload, payload_len, &saw_ping);
        }
        if (step < 0) {
            rc = step;
            break;
        }
        alive = step == 1;
    }
    if (rc == 0 && alive && row->items_changed)
        rc = sr_store_conn_set_items(db, row->id, row->items);
    if (rc == 0 && alive && row->transport && !strcmp(row->transport, "ServerSentEvents"))
        rc = sr_store_conn_received(db, row->id, saw_ping); /* the client-timeout clock */
    if (rc == 0 && alive) {
        size_t rest = data.len - off;
        if (rest > max) {
            rc = close_with_error(db, hub, row, "message larger than the maximum size", 1);
        } else if (rest != inbound_before || (rest && memcmp(data.ptr + off, row->inbound.ptr, rest))) {
            rc = sr_store_conn_set_inbound(db, row->id, data.ptr + off, rest);
        }
    }
    sr_buf_fini(&data);
    return rc;
}
