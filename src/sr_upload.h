/*
 * sr_upload.h — client-to-server streams (protocol.md §7.4: streamIds, StreamItem, Completion
 * from the client). The invocation waits, as a row of signalr.uploads, for items that may come
 * in later POSTs on other workers.
 */
#ifndef SR_UPLOAD_H
#define SR_UPLOAD_H

#include "sr_buf.h"
#include "sr_hub.h"
#include "sr_proto.h"

/** An Invocation with streamIds for upload method @p m (already checked). Appends a
 *  Completion to @p out when the invocation fails at once. Returns 0 or SR_ERR_DB. */
int sr_upload_start(sr_call *call, const sr_method *m, const sr_msg *msg, int detailed_errors,
                    sr_buf *out);

/** A StreamItem or Completion from the client. Returns 1 when it belonged to a waiting
 *  invocation (and appends the invocation's Completion to @p out once all its streams ended),
 *  0 when no invocation waits for that stream id, SR_ERR_DB on failure. */
int sr_upload_receive(sr_call *call, const sr_msg *msg, int detailed_errors, sr_buf *out);

#endif
