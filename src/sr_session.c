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

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sr_buf.h"
#include "sr_conf.h"
#include "sr_context.h"
#include "sr_hub.h"
#include "sr_log.h"
#include "sr_metrics.h"
#include "sr_mpproto.h"
#include "sr_msgpack.h"
#include "sr_proto.h"
#include "sr_results.h"
#include "sr_streams.h"
#include "sr_upload.h"

#define CLOSE_ERROR_TEXT "Connection closed with an error."

int sr_session_same_user(const sr_conn_row *row, const char *user)
{
    if (!row->subject || !user)
        return !row->subject && !user;
    return !strcmp(row->subject, user);
}

int sr_session_activate(PGconn *db, const sr_hub *hub, sr_conn_row *row,
                        const sr_http_request *req, const char *auth_user,
                        const json_t *auth_claims, const char *transport, const char *holder)
{
    char user[256];
    json_t *doc = sr_context_from_request(req);
    int identified = sr_context_identify(hub, doc, auth_user, user, sizeof user);
    int rc = sr_store_conn_activate(db, row->id, transport, holder, doc,
                                    identified ? user : NULL, auth_claims);
    if (rc == 0 && auth_claims) {
        json_decref(row->claims);
        row->claims = json_deep_copy(auth_claims);
    }
    if (rc == 0 && identified) {
        free(row->user_id);
        row->user_id = strdup(user);
        rc = sr_store_apply_user_groups(db, row->id, hub->path, user);
    }
    if (rc == 0 && hub->on_data) {
        /* A raw endpoint has no handshake: the connection is ready as soon as it is active. */
        rc = sr_store_conn_handshake(db, row->id, "raw");
        row->handshake_done = 1;
        if (rc == 0) {
            sr_call call;
            sr_call_init(&call, hub, db, row->id, row->user_id, transport);
            call.request = doc;
            call.items = row->items;
            if (sr_hub_connected(&call) == SR_ERR_DB)
                rc = SR_ERR_DB;
            sr_call_fini(&call);
        }
    }
    json_decref(doc);
    return rc ? SR_ERR_DB : 0;
}

/* A call context for a method, hook or stream of the connection in @p row. */
static void call_for_row(sr_call *call, const sr_hub *hub, PGconn *db, sr_conn_row *row)
{
    sr_call_init(call, hub, db, row->id, row->user_id, row->transport);
    call->request = row->request;
    call->items = row->items;
    call->claims = row->claims;
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

/* Tells the connection's held poll, ahead of the handshake answer, to write MessagePack frames
 * from then on (a poll parked before the handshake did not know the protocol). */
static int announce_messagepack(PGconn *db, const sr_hub *hub, const char *conn_id)
{
    const char *targets[] = {conn_id};
    return sr_store_publish(db, hub->path, SR_KIND_CONTROL, targets, 1, NULL, 0,
                            SR_MPPROTO_CONTROL_VERB, strlen(SR_MPPROTO_CONTROL_VERB));
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
    } else if (sr_proto_handshake_check(protocol, version, error, sizeof error) == 0 &&
               sr_mpproto_transport_check(protocol, row->transport, error, sizeof error) == 0) {
        row->binary = sr_mpproto_is_messagepack(protocol);
        sr_proto_write_handshake_ok(&answer);
        rc = row->binary ? announce_messagepack(db, hub, row->id) : 0;
        if (rc == 0)
            rc = publish_to(db, hub, SR_KIND_HANDSHAKE, row->id, &answer);
        if (rc == 0)
            rc = sr_store_conn_handshake(db, row->id, protocol);
        sr_buf_fini(&answer);
        if (rc != 0)
            return SR_ERR_DB;
        row->handshake_done = 1;
        sr_call call;
        call_for_row(&call, hub, db, row);
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

/* The invocation id and stream ids of @p msg are at most SR_MAX_INVOCATION_ID bytes. */
static int ids_within_limit(const sr_msg *msg, char *error, size_t cap)
{
    int ok = !msg->invocation_id || strlen(msg->invocation_id) <= SR_MAX_INVOCATION_ID;
    size_t i;
    json_t *id;
    json_array_foreach(msg->stream_ids, i, id)
    {
        if (json_string_length(id) > SR_MAX_INVOCATION_ID)
            ok = 0;
    }
    if (!ok)
        snprintf(error, cap, "An invocation or stream id is longer than %d bytes.",
                 SR_MAX_INVOCATION_ID);
    return ok;
}

/* Handles one hub message; returns 1 to continue, 0 when the connection ended, or SR_ERR_DB. */
static int message(PGconn *db, const sr_hub *hub, sr_conn_row *row, const char *payload,
                   size_t len, int *saw_ping, sr_deferred *later)
{
    sr_msg msg;
    char error[256];
    if (sr_proto_parse_message(payload, len, &msg, error, sizeof error) != 0 ||
        !ids_within_limit(&msg, error, sizeof error)) {
        sr_msg_fini(&msg);
        int rc = close_with_error(db, hub, row, error, 1);
        return rc ? rc : 0;
    }
    if (later && (msg.type == SR_MSG_INVOCATION || msg.type == SR_MSG_STREAM_INVOCATION) &&
        json_array_size(msg.stream_ids) == 0) {
        uint32_t n = (uint32_t)len; /* a record is at most max-message-size */
        sr_buf_append(&later->records, &n, sizeof n);
        sr_buf_append(&later->records, payload, len);
        later->count++;
        sr_msg_fini(&msg);
        return 1;
    }
    int rc = 1;
    sr_buf out = SR_BUF_INIT;
    switch (msg.type) {
    case SR_MSG_INVOCATION: {
        sr_call call;
        call_for_row(&call, hub, db, row);
        const sr_method *m = sr_hub_method(hub, msg.target);
        sr_buf text = SR_BUF_INIT;
        if (m && m->upload && sr_hub_check(&call, m, &msg, sr_config->detailed_errors, &text) == 0) {
            if (sr_upload_start(&call, m, &msg, sr_config->detailed_errors, &out) != 0)
                rc = SR_ERR_DB;
        } else if (m && m->upload) {
            if (msg.invocation_id)
                sr_proto_write_completion_error(&out, msg.invocation_id, text.ptr);
        } else if (sr_hub_invoke(&call, &msg, sr_config->detailed_errors, &out) != 0) {
            rc = SR_ERR_DB;
        }
        sr_buf_fini(&text);
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
        const sr_method *m = sr_hub_method(hub, msg.target);
        sr_buf text = SR_BUF_INIT;
        int in_use = sr_streams_exists(row->id, msg.invocation_id);
        if (!in_use)
            in_use = sr_store_stream_is_open(db, row->id, msg.invocation_id);
        if (in_use < 0)
            rc = SR_ERR_DB;
        else if (in_use)
            sr_buf_printf(&text, "Invocation ID '%s' is already in use.", msg.invocation_id);
        else {
            sr_call probe;
            call_for_row(&probe, hub, db, row);
            sr_hub_check(&probe, m, &msg, sr_config->detailed_errors, &text);
            sr_call_fini(&probe);
        }
        if (rc < 0) {
            /* the database failed: the caller rolls back */
        } else if (text.len) {
            sr_proto_write_completion_error(&out, msg.invocation_id, text.ptr);
            if (publish_to(db, hub, SR_KIND_CONNECTION, row->id, &out) != 0)
                rc = SR_ERR_DB;
        } else {
            sr_call call;
            call_for_row(&call, hub, db, row);
            call.method = m->name;
            if (sr_streams_run(&call, m, &msg, sr_config->detailed_errors) != 0)
                rc = SR_ERR_DB;
            if (call.items_changed)
                row->items_changed = 1;
            sr_call_fini(&call);
        }
        sr_buf_fini(&text);
        break;
    }
    case SR_MSG_CANCEL_INVOCATION: {
        /* The stream runs on whichever worker received its StreamInvocation: tell it. */
        sr_buf verb = SR_BUF_INIT;
        const char *targets[] = {row->id};
        sr_buf_printf(&verb, "cancel %s", msg.invocation_id);
        if (sr_store_publish(db, hub->path, SR_KIND_CONTROL, targets, 1, NULL, 0, verb.ptr,
                             verb.len) != 0)
            rc = SR_ERR_DB;
        sr_buf_fini(&verb);
        break;
    }
    case SR_MSG_STREAM_ITEM:
    case SR_MSG_COMPLETION: {
        sr_call call;
        call_for_row(&call, hub, db, row);
        int claimed = sr_upload_receive(&call, &msg, sr_config->detailed_errors, &out);
        if (call.items_changed)
            row->items_changed = 1;
        sr_call_fini(&call);
        if (claimed < 0)
            rc = SR_ERR_DB;
        else if (claimed == 0 && msg.type == SR_MSG_COMPLETION &&
                 sr_results_forward(db, hub->path, row->id, payload, len, &msg) != 0)
            rc = SR_ERR_DB;
        else if (out.len && publish_to(db, hub, SR_KIND_CONNECTION, row->id, &out) != 0)
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
        /* Unknown types (and Ack/Sequence, which only stateful reconnect over WebSockets
         * uses) are ignored as JsonHubProtocol does. */
        break;
    }
    sr_buf_fini(&out);
    sr_msg_fini(&msg);
    return rc;
}

/* A MessagePack message: translated into the JSON record it stands for, then handled as one. */
static int binary_message(PGconn *db, const sr_hub *hub, sr_conn_row *row, const char *payload,
                          size_t len, int *saw_ping, sr_deferred *later)
{
    sr_buf json = SR_BUF_INIT;
    char error[256];
    int rc = sr_mpproto_to_json(payload, len, &json, error, sizeof error) == 0
                 ? message(db, hub, row, json.ptr, json.len, saw_ping, later)
                 : close_with_error(db, hub, row, error, 1);
    sr_buf_fini(&json);
    return rc;
}

/* Ends the connection over a record larger than the maximum message size, complete or not: an
 * oversized handshake is "Handshake was canceled." (HCC), a later record a Close with an error.
 * Returns 0 (ended) or SR_ERR_DB. */
static int end_oversized(PGconn *db, const sr_hub *hub, sr_conn_row *row)
{
    if (row->handshake_done)
        return close_with_error(db, hub, row, "message larger than the maximum size", 1);
    sr_buf answer = SR_BUF_INIT;
    sr_proto_write_handshake_error(&answer, SR_HANDSHAKE_ERR_CANCELED);
    int rc = publish_to(db, hub, SR_KIND_HANDSHAKE, row->id, &answer);
    sr_buf_fini(&answer);
    return rc ? rc : end_row(db, hub, row, 0, NULL, NULL);
}

/* A raw endpoint: the bytes go to the endpoint as they came, with no protocol in between. */
static int receive_raw(PGconn *db, const sr_hub *hub, sr_conn_row *row, const char *body,
                       size_t len)
{
    sr_call call;
    call_for_row(&call, hub, db, row);
    int status = hub->on_data(&call, body, len);
    int rc = call.send_failed || status == SR_ERR_DB ? SR_ERR_DB : 0;
    if (rc == 0 && call.items_changed)
        rc = sr_store_conn_set_items(db, row->id, row->items);
    sr_call_fini(&call);
    return rc;
}

/* The keys of @p after that differ from @p before, and the keys @p before had that @p after
 * lacks, written to the row. */
static int merge_items(PGconn *db, const sr_conn_row *row, json_t *before, json_t *after)
{
    json_t *changed = json_object(), *removed = json_array();
    const char *key;
    json_t *value;
    json_object_foreach(after, key, value)
    {
        if (!json_equal(value, json_object_get(before, key)))
            json_object_set(changed, key, value);
    }
    json_object_foreach(before, key, value)
    {
        if (!json_object_get(after, key))
            json_array_append_new(removed, json_string(key));
    }
    int rc = sr_store_conn_merge_items(db, row->id, changed, removed);
    json_decref(changed);
    json_decref(removed);
    return rc;
}

int sr_session_run_deferred(PGconn *db, const sr_hub *hub, sr_conn_row *row, const char *payload,
                            size_t len)
{
    json_t *before = json_deep_copy(row->items);
    int saw_ping = 0;
    int rc = message(db, hub, row, payload, len, &saw_ping, NULL);
    if (rc == 1 && row->items_changed)
        rc = merge_items(db, row, before, row->items);
    json_decref(before);
    return rc < 0 ? rc : 0;
}

int sr_session_receive(PGconn *db, const sr_hub *hub, sr_conn_row *row, const char *body,
                       size_t len)
{
    return sr_session_receive_deferring(db, hub, row, body, len, NULL);
}

int sr_session_receive_deferring(PGconn *db, const sr_hub *hub, sr_conn_row *row,
                                 const char *body, size_t len, sr_deferred *later)
{
    if (hub->on_data)
        return receive_raw(db, hub, row, body, len);
    sr_buf data = SR_BUF_INIT;
    size_t inbound_before = row->inbound.len;
    size_t max = (size_t)sr_config->max_message_size;
    int rc = 0, alive = 1;
    sr_buf_append(&data, row->inbound.ptr, row->inbound.len);
    sr_buf_append(&data, body, len);
    size_t off = 0;
    int saw_ping = 0;
    while (alive) {
        size_t payload_len, prefix_len = 0;
        /* After a MessagePack handshake, frames are VarInt-length-prefixed (protocol.md §7.7). */
        size_t used = row->binary ? sr_msgpack_frame_next(data.ptr + off, data.len - off,
                                                          &prefix_len, &payload_len)
                                  : sr_proto_next_record(data.ptr + off, data.len - off,
                                                         &payload_len);
        if (used == 0)
            break;
        const char *payload = data.ptr + off + prefix_len;
        off += used;
        sr_metrics_add(SR_M_RECORDS_IN, 1);
        int step;
        if (payload_len > max) {
            step = end_oversized(db, hub, row);
        } else if (!row->handshake_done) {
            step = handshake(db, hub, row, payload, payload_len);
        } else {
            step = (row->binary ? binary_message : message)(db, hub, row, payload, payload_len,
                                                           &saw_ping, later);
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
            rc = end_oversized(db, hub, row);
        } else if (rest != inbound_before || (rest && memcmp(data.ptr + off, row->inbound.ptr, rest))) {
            rc = sr_store_conn_set_inbound(db, row->id, data.ptr + off, rest);
        }
    }
    sr_buf_fini(&data);
    return rc;
}
