/*
 * sr_results.c — client results (see sr_results.h and sr_invoke_client in signalr-fcgi.h).
 *
 * DESIGN: the waiting side registers the invocation id it is about to send, publishes the
 * Invocation to the connection in a transaction of its own (it must be visible before anyone
 * can answer it, so it cannot join a hub method's still-open transaction), and sleeps on a
 * condition variable with the caller's timeout. The client's Completion arrives in a POST on
 * whichever worker; the POST turns it into a "result" control record, and every worker's feed
 * offers control records here, so the worker that waits finds its id and wakes up. Ids are
 * random, so a client cannot answer an invocation it was not sent.
 */
#include "config.h"

#include "sr_results.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "signalr-fcgi.h"
#include "sr_buf.h"
#include "sr_db.h"
#include "sr_hub.h"
#include "sr_log.h"
#include "sr_mem.h"
#include "sr_store.h"
#include "sr_token.h"

typedef struct pending {
    char id[SR_ID_LEN + 2];
    int done;
    json_t *result;
    char *error;
    pthread_cond_t cond;
    struct pending *next;
} pending;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pending *waiting;

int sr_results_forward(PGconn *db, const char *hub, const char *conn_id, const char *payload,
                       size_t len, const sr_msg *msg)
{
    if (!msg->invocation_id || strchr(msg->invocation_id, ' '))
        return 0; /* not one of ours */
    sr_buf body = SR_BUF_INIT;
    sr_buf_printf(&body, "result %s ", msg->invocation_id);
    sr_buf_append(&body, payload, len);
    const char *targets[] = {conn_id};
    int rc = sr_store_publish(db, hub, SR_KIND_CONTROL, targets, 1, NULL, 0, body.ptr, body.len);
    sr_buf_fini(&body);
    return rc;
}

void sr_results_offer(const sr_rec *rec)
{
    if (rec->kind != SR_KIND_CONTROL || strncmp(rec->body, "result ", 7) != 0)
        return;
    const char *id = rec->body + 7;
    const char *sp = strchr(id, ' ');
    if (!sp)
        return;
    size_t id_len = (size_t)(sp - id);
    pthread_mutex_lock(&lock);
    pending *p = waiting;
    while (p && !(strlen(p->id) == id_len && !memcmp(p->id, id, id_len)))
        p = p->next;
    if (p && !p->done) {
        sr_msg msg;
        char err[128];
        if (sr_proto_parse_message(sp + 1, strlen(sp + 1), &msg, err, sizeof err) == 0 &&
            msg.type == SR_MSG_COMPLETION) {
            if (msg.error)
                p->error = sr_xstrdup(msg.error);
            else
                p->result = json_incref(msg.result ? msg.result : json_null());
        } else {
            p->error = sr_xstrdup("The client sent an invalid completion.");
        }
        sr_msg_fini(&msg);
        p->done = 1;
        pthread_cond_signal(&p->cond);
    }
    pthread_mutex_unlock(&lock);
}

static void unlink_pending(pending *p)
{
    for (pending **pp = &waiting; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            return;
        }
    }
}

int sr_invoke_client(const char *hub_path, const char *connection_id, const char *method,
                     json_t *args, int timeout_ms, json_t **result, char **error)
{
    *result = NULL;
    *error = NULL;
    const sr_hub *hub = hub_path ? sr_hub_find(hub_path, strlen(hub_path)) : NULL;
    if (!hub || !connection_id || !sr_token_is_id(connection_id, strlen(connection_id)) ||
        !method || !*method || (args && !json_is_array(args)) || timeout_ms <= 0) {
        json_decref(args);
        return SR_ERR_INVALID;
    }
    pending p;
    memset(&p, 0, sizeof p);
    p.id[0] = 's'; /* server-made ids never collide with the client's decimal ones */
    sr_token_random_id(p.id + 1);
    pthread_cond_init(&p.cond, NULL);

    /* The invocation must commit on its own: inside a hub method the thread's connection is in
     * the method's transaction, which commits only after the method returns. */
    PGconn *own = sr_db_thread(), *temp = NULL;
    if (own && PQtransactionStatus(own) != PQTRANS_IDLE)
        own = temp = sr_db_connect("client-result");
    int rc = SR_OK;
    sr_buf record = SR_BUF_INIT;
    sr_proto_write_invocation(&record, p.id, method, args);
    json_decref(args);

    pthread_mutex_lock(&lock);
    p.next = waiting;
    waiting = &p;
    pthread_mutex_unlock(&lock);

    const char *params[] = {connection_id, hub->path};
    PGresult *r = own ? sr_db_query(own,
                                    "SELECT 1 FROM signalr.connections WHERE id = $1 AND hub = $2 "
                                    "AND NOT ended",
                                    2, params, NULL, NULL)
                      : NULL;
    const char *targets[] = {connection_id};
    if (!r)
        rc = SR_ERR_DB;
    else if (PQntuples(r) == 0)
        rc = SR_ERR_INVALID;
    else if (sr_store_publish(own, hub->path, SR_KIND_CONNECTION, targets, 1, NULL, 0,
                              record.ptr, record.len) != 0)
        rc = SR_ERR_DB;
    PQclear(r);
    if (temp)
        PQfinish(temp);
    else if (rc == SR_ERR_DB && own && sr_db_broken(own))
        sr_db_thread_reset();
    sr_buf_fini(&record);

    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&lock);
    while (rc == SR_OK && !p.done)
        if (pthread_cond_timedwait(&p.cond, &lock, &deadline) == ETIMEDOUT && !p.done)
            rc = SR_ERR_TIMEOUT;
    unlink_pending(&p);
    pthread_mutex_unlock(&lock);
    pthread_cond_destroy(&p.cond);
    if (rc == SR_OK && p.error) {
        *error = p.error;
        p.error = NULL;
        rc = SR_ERR_HUB;
    } else if (rc == SR_OK) {
        *result = p.result;
        p.result = NULL;
    }
    json_decref(p.result);
    free(p.error);
    return rc;
}
