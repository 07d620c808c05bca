/*
 * sr_streams.h — streams of results to the client (StreamInvocation, protocol.md §7.4): running
 * a streaming method, and the worker's registry of streams that outlive their request, which is
 * how a CancelInvocation or the end of the connection reaches the worker producing the stream.
 */
#ifndef SR_STREAMS_H
#define SR_STREAMS_H

#include <stddef.h>

#include "sr_buf.h"
#include "sr_feed.h"
#include "sr_hub.h"

/**
 * Runs streaming method @p m for a StreamInvocation in @p msg inside the POST's transaction.
 * Appends whatever records the invocation produces right away (items and, unless the method
 * kept the stream open, the Completion) to the log through call->db. Returns 0 or SR_ERR_DB.
 */
int sr_streams_run(sr_call *call, const sr_method *m, const sr_msg *msg, int detailed_errors);

/** True when this worker has an open stream with this invocation id on this connection. */
int sr_streams_exists(const char *conn_id, const char *invocation_id);

/** After the POST's transaction: streams kept open by its methods go live (their queued items
 *  are sent) — or, when it rolled back, are cancelled. Request thread. */
void sr_streams_after_commit(void);
void sr_streams_after_rollback(void);

/** Feed hook (loop thread): "cancel <id>" and "close" control records end streams. */
void sr_streams_offer(const sr_rec *rec);

#endif
