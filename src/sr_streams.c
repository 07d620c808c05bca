/*
 * sr_streams.c — server-to-client streams (see sr_streams.h).
 *
 * DESIGN: a streaming method runs inside the POST that carried the StreamInvocation, and what it
 * writes before returning joins that transaction, in order, like any send. A method may keep the
 * stream open (sr_stream_keep) and go on writing from its own threads; such a stream is
 * registered with this worker so that cancellation can find it: a CancelInvocation (which may
 * arrive on any worker) and the end of the connection both become control records in the log,
 * and every worker's feed passes control records here. Items written after the method returned
 * but before its POST committed are held back until the commit, so the client never sees an
 * item ahead of the ones written inside the transaction.
 * Lifetime: a stream is shared by its owner (the hub code, until sr_stream_complete) and the
 * registry (while a cancel callback may still run); a reference count under one mutex decides
 * who frees it. Cancel callbacks run on the loop thread without the mutex held.
 */
#include "config.h"

#include "sr_streams.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sr_db.h"
#include "sr_log.h"
#include "sr_mem.h"
#include "sr_proto.h"
#include "sr_store.h"
#include "sr_worker.h"

typedef enum phase { IN_METHOD, PENDING_COMMIT, LIVE, DONE } phase;

struct sr_stream {
    const sr_hub *hub;
    char conn_id[SR_ID_LEN + 1];
    char *invocation_id;
    sr_call *call;          /* while the method runs */
    phase phase;
    int items;              /* items written so far */
    int kept, cancelled;
    void (*on_cancel)(sr_stream *s, void *arg);
    void *arg;
    json_t *queued;         /* items written while PENDING_COMMIT */
    int ended_early;        /* completed while PENDING_COMMIT */
    char *end_error;        /* ...with this error (owned), or NULL */
    int refs;
    int registered;
    sr_stream *next;        /* registry */
    sr_stream *pending_next; /* this thread's streams waiting for their POST to commit */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static sr_stream *registry;
static _Thread_local sr_stream *pending;

static void release(sr_stream *s)
{
    pthread_mutex_lock(&lock);
    int last = --s->refs == 0;
    pthread_mutex_unlock(&lock);
    if (last) {
        free(s->invocation_id);
        free(s->end_error);
        json_decref(s->queued);
        free(s);
    }
}

static void unregister_locked(sr_stream *s)
{
    if (!s->registered)
        return;
    for (sr_stream **pp = &registry; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    s->registered = 0;
    s->refs--;
}

int sr_streams_exists(const char *conn_id, const char *invocation_id)
{
    int found = 0;
    pthread_mutex_lock(&lock);
    for (sr_stream *s = registry; s && !found; s = s->next)
        found = !strcmp(s->conn_id, conn_id) && !strcmp(s->invocation_id, invocation_id);
    pthread_mutex_unlock(&lock);
    return found;
}

/* Publishes one record for the stream's connection: inside the method with its transaction,
 * afterwards on this thread's own connection. */
static int publish(sr_stream *s, const sr_buf *record, PGconn *db)
{
    const char *targets[] = {s->conn_id};
    return sr_store_publish(db, s->hub->path, SR_KIND_CONNECTION, targets, 1, NULL, 0,
                            record->ptr, record->len);
}

static PGconn *own_db(void)
{
    PGconn *db = sr_db_thread();
    return db && PQtransactionStatus(db) == PQTRANS_IDLE ? db : NULL;
}

int sr_stream_item(sr_stream *s, json_t *item)
{
    int rc = SR_OK;
    sr_buf record = SR_BUF_INIT;
    pthread_mutex_lock(&lock);
    phase ph = s->phase;
    int cancelled = s->cancelled;
    if (!cancelled && ph == PENDING_COMMIT) {
        json_array_append(s->queued, item ? item : json_null());
        s->items++;
    }
    pthread_mutex_unlock(&lock);
    if (cancelled || ph == DONE) {
        rc = SR_ERR_INVALID;
    } else if (ph == IN_METHOD || ph == LIVE) {
        sr_proto_write_stream_item(&record, s->invocation_id, item ? item : json_null());
        PGconn *db = ph == IN_METHOD ? s->call->db : own_db();
        rc = db && publish(s, &record, db) == 0 ? SR_OK : SR_ERR_DB;
        if (rc == SR_ERR_DB && ph == IN_METHOD)
            s->call->send_failed = 1;
        if (rc == SR_OK)
            s->items++;
    }
    sr_buf_fini(&record);
    json_decref(item);
    return rc;
}

void sr_stream_keep(sr_stream *s, void (*on_cancel)(sr_stream *, void *), void *arg)
{
    s->kept = 1;
    s->on_cancel = on_cancel;
    s->arg = arg;
}

int sr_stream_complete(sr_stream *s, const char *error)
{
    int rc = SR_OK;
    pthread_mutex_lock(&lock);
    int send = !s->cancelled && (s->phase == LIVE);
    if (s->phase == PENDING_COMMIT && !s->cancelled) {
        /* Completed before its POST committed: the end goes out after the queue, then. */
        s->ended_early = 1;
        s->end_error = error ? sr_xstrdup(error) : NULL;
    }
    int was_live = s->phase == LIVE; /* else after_commit forgets it, once committed */
    s->phase = DONE;
    unregister_locked(s);
    pthread_mutex_unlock(&lock);
    PGconn *db = was_live ? own_db() : NULL;
    if (db && sr_store_stream_closed(db, s->conn_id, s->invocation_id) != 0)
        rc = SR_ERR_DB;
    if (send) {
        sr_buf record = SR_BUF_INIT;
        if (error)
            sr_proto_write_completion_error(&record, s->invocation_id, error);
        else
            sr_proto_write_completion_empty(&record, s->invocation_id);
        rc = db && publish(s, &record, db) == 0 ? rc : SR_ERR_DB;
        sr_buf_fini(&record);
    }
    release(s);
    return rc;
}

const char *sr_stream_hub(const sr_stream *s)
{
    return s->hub->path;
}

const char *sr_stream_connection_id(const sr_stream *s)
{
    return s->conn_id;
}

/* ------------------------------------------------------------------------------------------ */
/* Running a streaming method                                                                 */

static int run_stream_fn(sr_call *call, json_t *args)
{
    return call->stream_method(call, args, call->stream);
}

int sr_streams_run(sr_call *call, const sr_method *m, const sr_msg *msg, int detailed_errors)
{
    sr_stream *s = sr_xcalloc(1, sizeof *s);
    s->hub = call->hub;
    snprintf(s->conn_id, sizeof s->conn_id, "%s", call->connection_id);
    s->invocation_id = sr_xstrdup(msg->invocation_id);
    s->call = call;
    s->phase = IN_METHOD;
    s->refs = 1; /* the owner's */
    call->stream = s;
    call->stream_method = m->stream;
    int status = sr_hub_call_method(call, run_stream_fn, msg->arguments);
    s->call = NULL;
    call->stream = NULL;
    if (call->send_failed || status == SR_ERR_DB) {
        s->phase = DONE;
        release(s);
        return SR_ERR_DB;
    }
    sr_buf out = SR_BUF_INIT;
    if (status != SR_OK) {
        sr_buf text = SR_BUF_INIT;
        if (s->items == 0)
            sr_hub_error_text(call, status, msg->target, detailed_errors, &text);
        else {
            sr_buf_appends(&text, "An error occurred on the server while streaming results.");
            if (detailed_errors && call->error.len)
                sr_buf_printf(&text, " %s", call->error.ptr);
        }
        sr_proto_write_completion_error(&out, s->invocation_id, text.ptr);
        sr_buf_fini(&text);
    } else if (!s->kept) {
        sr_proto_write_completion_empty(&out, s->invocation_id);
    }
    int rc = 0;
    if (out.len && publish(s, &out, call->db) != 0)
        rc = SR_ERR_DB;
    sr_buf_fini(&out);
    if (status == SR_OK && s->kept && rc == 0 &&
        sr_store_stream_opened(call->db, s->conn_id, s->invocation_id, sr_worker_id()) != 0)
        rc = SR_ERR_DB;
    if (status == SR_OK && s->kept && rc == 0) {
        /* Goes live when the POST commits (sr_streams_after_commit). */
        s->queued = json_array();
        pthread_mutex_lock(&lock);
        s->phase = PENDING_COMMIT;
        s->refs += 2; /* the registry's and the pending list's */
        s->registered = 1;
        s->next = registry;
        registry = s;
        pthread_mutex_unlock(&lock);
        s->pending_next = pending;
        pending = s;
        return 0;
    }
    s->phase = DONE;
    release(s);
    return rc;
}

void sr_streams_after_commit(void)
{
    while (pending) {
        sr_stream *s = pending;
        pending = s->pending_next;
        pthread_mutex_lock(&lock);
        json_t *queued = s->queued;
        s->queued = NULL;
        int done = s->ended_early, cancelled = s->cancelled;
        if (s->phase == PENDING_COMMIT)
            s->phase = LIVE;
        pthread_mutex_unlock(&lock);
        size_t i;
        json_t *item;
        PGconn *db = own_db();
        json_array_foreach(queued, i, item)
        {
            sr_buf record = SR_BUF_INIT;
            sr_proto_write_stream_item(&record, s->invocation_id, item);
            if (!cancelled && db)
                publish(s, &record, db);
            sr_buf_fini(&record);
        }
        if (done && db)
            sr_store_stream_closed(db, s->conn_id, s->invocation_id);
        if (done && !cancelled && db) {
            /* Completed while waiting for the commit: send the end now. */
            sr_buf record = SR_BUF_INIT;
            if (s->end_error)
                sr_proto_write_completion_error(&record, s->invocation_id, s->end_error);
            else
                sr_proto_write_completion_empty(&record, s->invocation_id);
            publish(s, &record, db);
            sr_buf_fini(&record);
        }
        json_decref(queued);
        release(s);
    }
}

static void cancel(sr_stream *s)
{
    /* Called with a reference held and the lock released. */
    if (s->on_cancel)
        s->on_cancel(s, s->arg);
}

void sr_streams_after_rollback(void)
{
    while (pending) {
        sr_stream *s = pending;
        pending = s->pending_next;
        pthread_mutex_lock(&lock);
        int first = !s->cancelled;
        s->cancelled = 1;
        unregister_locked(s);
        pthread_mutex_unlock(&lock);
        if (first)
            cancel(s);
        release(s);
    }
}

void sr_streams_offer(const sr_rec *rec)
{
    if (rec->kind != SR_KIND_CONTROL || rec->n_targets == 0)
        return;
    const char *conn = rec->targets[0];
    int all = !strcmp(rec->body, "close");
    const char *id = !strncmp(rec->body, "cancel ", 7) ? rec->body + 7 : NULL;
    if (!all && !id)
        return;
    for (;;) {
        sr_stream *victim = NULL;
        pthread_mutex_lock(&lock);
        for (sr_stream *s = registry; s; s = s->next) {
            if (!s->cancelled && !strcmp(s->conn_id, conn) &&
                !strcmp(s->hub->path, rec->hub) && (all || !strcmp(s->invocation_id, id))) {
                victim = s;
                break;
            }
        }
        if (victim) {
            victim->cancelled = 1;
            unregister_locked(victim);
            victim->refs++;
        }
        pthread_mutex_unlock(&lock);
        if (!victim)
            return;
        cancel(victim);
        release(victim);
    }
}
