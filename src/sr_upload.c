/*
 * sr_upload.c — client-to-server streams (see sr_upload.h).
 *
 * DESIGN: ASP.NET hands a method a ChannelReader and the method awaits items. Here the items of
 * one invocation arrive as separate records, possibly in POSTs served by different workers, so
 * the method is written as callbacks (sr_upload_fns) over a JSON state that is stored between
 * records. The row is found by stream id under the connection's row lock (held by the POST), so
 * records of one connection are applied one at a time and in order. When the last stream ends,
 * the invocation completes exactly as an ordinary method would, with the same error texts.
 * A stream id no invocation waits for (its method failed at start, or it never existed) is
 * ignored, as ASP.NET ignores items for unknown streams.
 */
#include "config.h"

#include "sr_upload.h"

#include <string.h>

#include "sr_store.h"

static int run_start(sr_call *call, json_t *args)
{
    return call->upload->start ? call->upload->start(call, args, call->upload_state) : SR_OK;
}

/* Appends the invocation's completion for @p status. */
static void complete(sr_call *call, const char *invocation_id, const char *name, int status,
                     int detailed_errors, sr_buf *out)
{
    if (!invocation_id)
        return;
    if (status == SR_OK) {
        sr_proto_write_completion_result(out, invocation_id, call->result);
        return;
    }
    sr_buf text = SR_BUF_INIT;
    sr_hub_error_text(call, status, name, detailed_errors, &text);
    sr_proto_write_completion_error(out, invocation_id, text.ptr);
    sr_buf_fini(&text);
}

int sr_upload_start(sr_call *call, const sr_method *m, const sr_msg *msg, int detailed_errors,
                    sr_buf *out)
{
    json_t *state = json_object();
    call->method = m->name;
    call->upload = m->upload;
    call->upload_state = state;
    int status = sr_hub_call_method(call, run_start, msg->arguments);
    int rc = 0;
    if (call->send_failed || status == SR_ERR_DB)
        rc = SR_ERR_DB;
    else if (status != SR_OK)
        complete(call, msg->invocation_id, m->name, status, detailed_errors, out);
    else if (sr_store_upload_create(call->db, call->connection_id, msg->invocation_id, m->name,
                                    msg->stream_ids, state) != 0)
        rc = SR_ERR_DB;
    json_decref(state);
    call->upload_state = NULL;
    call->method = NULL;
    return rc;
}

static size_t index_of(json_t *ids, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        if (json_is_string(v) && !strcmp(json_string_value(v), id))
            return i;
    }
    return (size_t)-1;
}

int sr_upload_receive(sr_call *call, const sr_msg *msg, int detailed_errors, sr_buf *out)
{
    sr_upload_row u;
    int found = sr_store_upload_find(call->db, call->connection_id, msg->invocation_id, &u);
    if (found <= 0)
        return found;
    const sr_method *m = sr_hub_method(call->hub, u.method);
    size_t stream = index_of(u.streams, msg->invocation_id);
    int status = SR_OK, finished = 0;
    call->method = u.method;
    if (!m || !m->upload) {
        finished = 1; /* the method went away (a new build): end the invocation */
        status = SR_ERR_FAILED;
    } else if (msg->type == SR_MSG_STREAM_ITEM) {
        if (m->upload->item)
            status = m->upload->item(call, stream, msg->item, u.state);
        finished = status != SR_OK; /* a failing item handler ends the invocation */
    } else {
        json_array_remove(u.open, index_of(u.open, msg->invocation_id));
        if (m->upload->end)
            status = m->upload->end(call, stream, msg->error, u.state);
        finished = status != SR_OK || json_array_size(u.open) == 0;
    }
    int rc = 1;
    if (call->send_failed || status == SR_ERR_DB)
        rc = SR_ERR_DB;
    else if (finished) {
        complete(call, u.invocation_id, u.method, status, detailed_errors, out);
        if (sr_store_upload_delete(call->db, call->connection_id, u.invocation_key) != 0)
            rc = SR_ERR_DB;
    } else if (sr_store_upload_save(call->db, call->connection_id, &u) != 0) {
        rc = SR_ERR_DB;
    }
    call->method = NULL;
    sr_upload_row_fini(&u);
    return rc;
}
